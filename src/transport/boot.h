/* boot.h: starting and stopping the transports (MPI across ranks, or in-process) for the runtime.
 */
#ifndef DAGR_TRANSPORT_BOOT_H
#define DAGR_TRANSPORT_BOOT_H
#ifndef DAGR_BUILDING
#error "src/transport/boot.h is private to libdagr"
#endif

#include "runtime/placement.h"
#include "runtime/worker.h"
#include "transport/link.h"

/* What a rank learns at start. */
typedef struct dagr__boot {
  int rank, nranks;
  char host[256];
  int threads;      /* this rank's executor threads (workers) */
  void *store_base; /* this rank's store arena (workers) */
  size_t store_bytes;
  int *worker_threads;        /* rank 0: per worker (malloc'd, freed by the transport) */
  dagr__worker_desc *workers; /* rank 0: per worker (malloc'd, freed by the transport) */
  /* rank 0: per worker, its monotonic clock minus rank 0's (ns), estimated at start; NULL in
   * a single process (one clock). Puts the workers' trace events on rank 0's clock. */
  const int64_t *clock_offset_ns;
  /* Set by the caller before booting: where this rank's placement plan goes (the transport
   * computes the rank's index among the workers of its host and asks for the plan). */
  dagr__placement *placement;
  char job_token[48]; /* the same on every rank of the job (rank 0's pid and start time) */
} dagr__boot;

typedef struct dagr__mpi dagr__mpi;

/* Was this process started by an MPI launcher (mpirun, srun --mpi=pmix, ...)? */
int dagr__mpi_launched(void);
/* Initializes MPI (MPI_THREAD_FUNNELED or better), checks that all ranks registered the same
 * kernels, sizes threads and stores, allocates the store windows. Collective. Errors:
 * DAGR_EMPI, DAGR_EKERNEL_TABLE, DAGR_ENOMEM, DAGR_ESTORE_FULL; message in err. */
int dagr__mpi_boot(int *argc, char ***argv, const dagr_config_t *cfg, dagr__boot *b, dagr__mpi **m,
                   char *err, size_t errlen);
dagr__slink *dagr__mpi_slink(dagr__mpi *m);
dagr__wlink *dagr__mpi_wlink(dagr__mpi *m);
/* Ends the whole job (MPI_Abort): for a worker whose transport or state failed, which can no
 * longer answer the scheduler; waiting would hang every rank. */
void dagr__mpi_abort(dagr__mpi *m, int code);
/* Frees the window and finalizes MPI. Collective. */
int dagr__mpi_finalize(dagr__mpi *m);

/* Executor threads for a rank that may use `cpus` cores shared with `sharing` workers. */
int dagr__default_threads(const dagr_config_t *cfg, int sharing);
/* Store size for a worker sharing the node's memory with `sharing` workers. */
size_t dagr__default_store(const dagr_config_t *cfg, int sharing);

/* The in-process transport: one worker pool on threads of this process. */
typedef struct dagr__local dagr__local;
int dagr__local_start(const dagr_config_t *cfg, dagr__local **l, dagr__slink **slink, dagr__boot *b,
                      char *err, size_t errlen);
dagr__slink *dagr__local_slink(dagr__local *l);
/* Joins the worker thread (after the scheduler sent SHUTDOWN) and frees everything. */
int dagr__local_stop(dagr__local *l);

#endif
