/* ctx.h: the runtime context behind dagr_ctx_t. */
#ifndef DAGR_RUNTIME_CTX_H
#define DAGR_RUNTIME_CTX_H
#ifndef DAGR_BUILDING
#error "src/runtime/ctx.h is private to libdagr"
#endif

#include "scheduler/sched.h"
#include "transport/boot.h"

struct dagr_ctx {
  dagr_config_t cfg;
  dagr__boot boot;
  dagr__placement placement; /* this rank's hwloc plan (boot.placement points here) */
  int driver;
  dagr__mpi *mpi;     /* MPI runs */
  dagr__local *local; /* single-process runs */
  dagr__sched sched;  /* driver */
  int sched_ok;
  dagr_stats_t last;
  int exit_status;
  int timed_out; /* a task ran past its time limit: no more runs (see dagr_get) */
  char timeout_msg[DAGR__ERRLEN];
  char err[DAGR__ERRLEN];
};

#endif
