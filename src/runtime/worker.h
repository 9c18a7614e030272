/* worker.h: a worker's comm-thread logic: object table, local dependencies, fetches, reports. */
#ifndef DAGR_RUNTIME_WORKER_H
#define DAGR_RUNTIME_WORKER_H
#ifndef DAGR_BUILDING
#error "src/runtime/worker.h is private to libdagr"
#endif

#include "runtime/placement.h"
#include "store/store.h"
#include "transport/link.h"

typedef struct dagr__worker_cfg {
  int rank;            /* MPI rank (0 for the in-process worker) */
  int threads;         /* executor threads */
  size_t inline_bytes; /* outputs up to this size are reported inline */
  long max_sleep_ns;   /* longest idle sleep between polls */
  const char *host;
  /* Executor groups (one per NUMA domain), their threads and bindings; NULL: one group. */
  const dagr__placement *placement;
  /* The job's token (the same on every rank): names the spill directory
   * ($DAGR_SPILL_DIR or $TMPDIR)/dagr-spill-TOKEN-rankR. */
  const char *job_token;
} dagr__worker_cfg;

typedef struct dagr__worker dagr__worker;

/* Errors: DAGR_EINVAL, DAGR_ENOMEM, DAGR_ESTATE (threads). */
int dagr__worker_create(const dagr__worker_cfg *cfg, dagr__wlink *link, dagr__store *store,
                        dagr__worker **w);
/* Serves the scheduler until SHUTDOWN, whose exit status goes to *exit_status (may be NULL).
 * Errors: DAGR_EMPI (transport failed), DAGR_ENOMEM. */
int dagr__worker_serve(dagr__worker *w, int *exit_status);
/* Interrupts an idle sleep (in-process transport: a message was queued). */
void dagr__worker_wake(dagr__worker *w);
/* Does a kernel that ran past its time limit still run (its thread abandoned)? Then
 * dagr__worker_destroy leaves the worker's memory, and the caller the store's, allocated. */
int dagr__worker_abandoned(const dagr__worker *w);
void dagr__worker_destroy(dagr__worker *w);

#endif
