/* ctx.h: the runtime context behind dagr_ctx_t. */
#ifndef DAGR_RUNTIME_CTX_H
#define DAGR_RUNTIME_CTX_H
#ifndef DAGR_BUILDING
#error "src/runtime/ctx.h is private to libdagr"
#endif

#include "obs/obs.h"
#include "obs/progress.h"
#include "scheduler/sched.h"
#include "transport/boot.h"

/* Observability on the driver (observe.c): the session record, progress bar, callbacks and the
 * last run's summary. */
typedef struct dagr__observe {
  dagr__obs obs;
  int obs_ok;
  char *trace_path, *report_path; /* with %j expanded; NULL: off */
  dagr__progress progress;
  dagr_callbacks_t *cbs; /* driver callbacks, in registration order */
  int *cb_ids;
  int ncbs, cap_cbs, next_id;
  const char **kernel_names; /* registry id -> name */
  int write_failed;          /* a trace or report that was asked for cannot be written */
  /* the last dagr_get's summary */
  int have_summary;
  double critical_path_s;
  dagr_kernel_summary_t *ksum;
  size_t nksum;
  dagr_worker_summary_t *wsum;
  size_t nwsum;
} dagr__observe;

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
  dagr__observe ob;
  int in_get; /* a dagr_get is running: a driver callback must not re-enter dagr */
  char err[DAGR__ERRLEN];
};

/* observe.c: called by ctx.c on the driver. */
int dagr__observe_init(dagr_ctx_t *ctx);
void dagr__observe_run_begin(dagr_ctx_t *ctx, uint64_t ntasks);
void dagr__observe_run_end(dagr_ctx_t *ctx, int status, double seconds);
/* Keeps what names the run's trace events (takes arrays from plan). */
void dagr__observe_snapshot(dagr_ctx_t *ctx, dagr__plan *plan, dagr_graph_t *graph);
/* Gathers the workers' kept trace events (before they are shut down). */
int dagr__observe_collect(dagr_ctx_t *ctx);
/* Writes the trace and report (messages on stderr) and frees everything. DAGR_EIO when one of
 * them could not be written. */
int dagr__observe_finalize(dagr_ctx_t *ctx);

#endif
