/* obs.h: rank 0's record of a session for observability: task stream, transfers, spills, store use,
 * run facts. */
#ifndef DAGR_OBS_OBS_H
#define DAGR_OBS_OBS_H
#ifndef DAGR_BUILDING
#error "src/obs/obs.h is private to libdagr"
#endif

#include <stdio.h>

#include "internal/common.h"

/* Everything here lives on rank 0 and has no MPI in it: the scheduler feeds it (run begin and
 * end, completions, the workers' event batches at the end of each run) and the writers
 * (trace_json.c, report_html.c) read it at dagr_finalize. Times are microseconds since the
 * session began (dagr_init on rank 0), on rank 0's clock: worker times are moved onto it with
 * the offsets estimated at start (dagr__boot.clock_offset_ns). */

/* One task execution (a slice on its worker thread's track). */
typedef struct dagr__obs_slice {
  double ts, dur;     /* start and duration, us */
  uint64_t in_bytes;  /* bytes of its inputs */
  uint64_t out_bytes; /* bytes of its output */
  uint32_t key;       /* offset of its key in dagr__obs.strings (NUL-terminated) */
  uint32_t run;       /* run index (0-based, in dagr__obs.runs) */
  int32_t worker;     /* worker index (0-based; its rank is workers[worker].rank) */
  uint16_t thread;    /* executor thread within the worker, 0-based */
  uint16_t kernel;    /* registry kernel id (name in dagr__obs.kernel_names) */
  int32_t status;     /* DAGR_OK or the failure */
  uint32_t pad;
} dagr__obs_slice;

/* One object pulled by a worker from another worker's store (a slice on the receiving worker's
 * transfer track). */
typedef struct dagr__obs_xfer {
  double ts, dur;
  uint64_t bytes;
  uint32_t key; /* the object's key (strings offset) */
  int32_t dst;  /* receiving worker index */
  int32_t src;  /* owning worker index */
  uint32_t run;
} dagr__obs_xfer;

enum { DAGR__OBS_SPILL = 1, DAGR__OBS_RESTORE = 2 };

/* One object written to (SPILL) or read back from (RESTORE) a worker's spill directory. */
typedef struct dagr__obs_io {
  double ts, dur;
  uint64_t bytes;
  uint32_t key;
  int32_t worker;
  int32_t kind; /* DAGR__OBS_SPILL or DAGR__OBS_RESTORE */
  uint32_t run;
} dagr__obs_io;

/* A sample of one worker's store use (bytes allocated in its object store). */
typedef struct dagr__obs_mem {
  double ts;
  uint64_t bytes;
  int32_t worker;
  uint32_t pad;
} dagr__obs_mem;

/* One dagr_get. */
typedef struct dagr__obs_run {
  double ts, dur;         /* whole run (plan and execution), us */
  uint64_t tasks;         /* completions, retries included */
  uint64_t bytes_moved;   /* pulled between workers */
  uint64_t bytes_spilled; /* written to spill files */
  double critical_path_s; /* longest dependency chain, by task run times */
  int status;             /* the dagr_get's status */
  uint32_t sched_run;     /* the scheduler's run id (in the workers' messages) */
} dagr__obs_run;

typedef struct dagr__obs_worker {
  int rank;
  int threads;
  char host[64];
  uint64_t store_bytes; /* store capacity */
  double busy_us;       /* sum of its task run times over the session */
  uint64_t tasks;
} dagr__obs_worker;

/* Per kernel, over the session. */
typedef struct dagr__obs_kernel {
  uint64_t tasks;
  double seconds; /* sum of run times */
} dagr__obs_kernel;

typedef struct dagr__obs {
  /* What to record. detail: task stream, transfers, spills, store samples (a trace or report is
   * wanted); without it only the per-kernel and per-worker sums and the run facts are kept. */
  int detail;
  uint64_t t0_ns; /* session start, rank 0's dagr__now_ns() */
  int nranks;
  char host0[64]; /* rank 0's host */

  dagr__obs_worker *workers;
  int nworkers;
  int nkernels;
  const char *const *kernel_names; /* nkernels entries, owned by the registry */
  dagr__obs_kernel *kernels;       /* nkernels entries */
  /* matrix[dst * nworkers + src]: bytes worker dst pulled from worker src */
  uint64_t *matrix;

  dagr__obs_slice *slices;
  size_t nslices, cap_slices;
  dagr__obs_xfer *xfers;
  size_t nxfers, cap_xfers;
  dagr__obs_io *ios;
  size_t nios, cap_ios;
  dagr__obs_mem *mems;
  size_t nmems, cap_mems;
  dagr__obs_run *runs;
  size_t nruns, cap_runs;

  char *strings; /* NUL-terminated keys, referenced by offset */
  size_t strings_len, strings_cap;

  /* Workers' TRACE messages as received, filed into the arrays above by dagr__obs_flush: filing
   * costs rank 0 time that a run short of scheduler time cannot spare, so it waits for the end
   * of the session. Each run leaves what its events need to be named (its snapshot). */
  struct dagr__obs_pending *pend;
  size_t npend, cap_pend;
  struct dagr__obs_snap *snaps; /* per run index; cap_snaps entries */
  size_t cap_snaps;
  struct dagr__obs_graph *graphs;
  size_t ngraphs, cap_graphs;
} dagr__obs;

typedef struct dagr__obs_pending {
  void *msg;
  size_t len;
  uint32_t run; /* the scheduler's run id */
  int32_t worker;
  int64_t offset_ns; /* the worker's clock minus rank 0's */
} dagr__obs_pending;

/* What names a run's plan ids: each one's graph id and kernel (taken over from its plan) and the
 * graph it ran (an index in graphs). */
typedef struct dagr__obs_snap {
  uint32_t n;
  uint32_t *gid;
  uint16_t *kernel;
  int32_t graph;
} dagr__obs_snap;

/* A graph some run came from. Its keys are copied into strings only when it is freed (or at the
 * end of the session): a graph run many times is copied once, and never during a run. */
typedef struct dagr__obs_graph {
  const dagr_graph_t *g; /* while alive */
  int alive;
  uint32_t ngids;
  uint32_t *keyoff; /* per graph id once captured */
} dagr__obs_graph;

struct dagr__plan;

/* Sets up an empty record for a session: nworkers workers described by workers[] (ranks 1..n
 * in an MPI run, or rank 0 alone: rank0_is_worker), nkernels registered kernels. Errors:
 * DAGR_ENOMEM (o is then empty and safe to free). */
int dagr__obs_init(dagr__obs *o, int detail, int nranks, const char *host0, int nworkers,
                   const dagr__worker_desc *workers, int rank0_is_worker, int nkernels,
                   const char *const *kernel_names);
void dagr__obs_free(dagr__obs *o);
/* Microseconds since the session began, on rank 0's clock. */
double dagr__obs_now_us(const dagr__obs *o);
/* Starts a run record; *index receives its index. Errors: DAGR_ENOMEM. */
int dagr__obs_run_begin(dagr__obs *o, uint32_t *index);
/* Keeps one TRACE message of worker w for the scheduler's run sched_run (taking msg: it is freed
 * here on failure). Errors: DAGR_ENOMEM. */
int dagr__obs_stash(dagr__obs *o, uint32_t sched_run, int w, int64_t offset_ns, void *msg,
                    size_t len);
/* Records what run's events need to be named later: takes plan's gid and kernel arrays (the
 * plan is freed as usual afterwards) and watches graph until it is freed. Call at the end of the
 * run. Errors: DAGR_ENOMEM (the run's events will be unnamed). */
int dagr__obs_snapshot(dagr__obs *o, uint32_t run, struct dagr__plan *plan, dagr_graph_t *graph);
/* Files every kept message into the arrays (slices, transfers, spills, store samples) and frees
 * them; malformed records are skipped. Errors: DAGR_ENOMEM (what was filed stays). */
int dagr__obs_flush(dagr__obs *o);

/* Writes o as a Chrome trace-event JSON file (trace_json.c). Errors: DAGR_EIO (the message,
 * naming the file, is in err). The file appears under its name only when complete. */
int dagr__obs_write_trace(const dagr__obs *o, const char *path, char *err, size_t errlen);

/* Writes o as one self-contained HTML performance report (report_html.c): task stream per worker
 * thread coloured by kernel, worker utilisation, store use per worker over time, transfer matrix,
 * top kernels by total time, run facts. Errors: DAGR_EIO (message in err), DAGR_ENOMEM. The file
 * appears under its name only when complete. */
int dagr__obs_write_report(const dagr__obs *o, const char *path, char *err, size_t errlen);

#endif
