/* dagr.h: the public API of dagr, a runtime that runs Dask-style task graphs on MPI. */
#ifndef DAGR_H
#define DAGR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DAGR_VERSION_MAJOR 0
#define DAGR_VERSION_MINOR 1
#define DAGR_VERSION_PATCH 0

/* Most dimensions an object's shape metadata carries. */
#define DAGR_MAX_NDIM 8
/* Default bound (bytes) under which an object travels inside scheduler messages. */
#define DAGR_INLINE_BYTES_DEFAULT 65536

/* ---------------------------------------------------------------------------------------------
 * Status codes. Every public function that can fail returns one of these (DAGR_OK is 0, errors
 * are negative). dagr_strerror() names a code; dagr_last_error() gives the message of the most
 * recent failure on a context, which names the key, kernel, rank or variable at fault.
 * ------------------------------------------------------------------------------------------- */
typedef enum dagr_status {
  DAGR_OK = 0,
  DAGR_EINVAL = -1,          /* an argument is invalid (NULL, out of range, wrong type) */
  DAGR_ENOMEM = -2,          /* memory allocation failed */
  DAGR_EMISSING = -3,        /* a task depends on a key that the graph does not define */
  DAGR_ECYCLE = -4,          /* the graph has a dependency cycle */
  DAGR_EDUPKEY = -5,         /* a key is defined twice */
  DAGR_EUNKNOWN_KERNEL = -6, /* a task names a kernel that is not registered */
  DAGR_ENOKEY = -7,          /* a requested key is not in the graph */
  DAGR_EKERNEL = -8,         /* a kernel failed (after its retries) */
  DAGR_EMPI = -9,            /* an MPI call failed */
  DAGR_EIO = -10,            /* reading or writing a file failed */
  DAGR_EPARSE = -11,         /* a graph file is malformed */
  DAGR_ESTATE = -12,         /* the call is not valid in this role or state */
  DAGR_ESTORE_FULL = -13,    /* the object store has no room for an object */
  DAGR_ECONFIG = -14,        /* a configuration value or DAGR_* variable is invalid */
  DAGR_EPROTO = -15,         /* a malformed internal message was received */
  DAGR_ENOENT = -16,         /* a named item (parameter, input) does not exist */
  DAGR_ETYPE = -17,          /* a value has the wrong type */
  DAGR_EKERNEL_TABLE = -18,  /* ranks registered different kernel tables */
  DAGR_EINTERRUPTED = -19,   /* SIGTERM or SIGINT arrived: the job is stopping */
  DAGR_ETIMEOUT = -20        /* a task ran past its timeout (timeout_s, DAGR_TASK_TIMEOUT) */
} dagr_status_t;

/* The name and meaning of a status code ("DAGR_ECYCLE: the graph has a dependency cycle").
 * Never NULL; unknown codes give "unknown dagr status". */
const char *dagr_strerror(int status);

/* ---------------------------------------------------------------------------------------------
 * Object metadata.
 * ------------------------------------------------------------------------------------------- */
typedef enum dagr_dtype {
  DAGR_DTYPE_BYTES = 0, /* raw bytes, no element type */
  DAGR_DTYPE_INT64 = 1,
  DAGR_DTYPE_FLOAT64 = 2,
  DAGR_DTYPE_FLOAT32 = 3,
  DAGR_DTYPE_INT32 = 4,
  DAGR_DTYPE_UINT8 = 5,
  DAGR_DTYPE_BOOL = 6,
  DAGR_DTYPE_UINT64 = 7 /* checksums and hashes; `dagr run` prints them as "0x%016x" */
} dagr_dtype_t;

/* Size in bytes of one element of dtype (1 for DAGR_DTYPE_BYTES), or 0 for an unknown dtype. */
size_t dagr_dtype_size(int dtype);
/* Name of a dtype ("int64", "float64", "bytes", ...), or "unknown". */
const char *dagr_dtype_name(int dtype);

/* A read-only view of an object: its bytes and typed metadata. A scalar has ndim 0. */
typedef struct dagr_view {
  const void *data;
  size_t nbytes;
  int dtype;
  int ndim;
  int64_t shape[DAGR_MAX_NDIM];
} dagr_view_t;

/* ---------------------------------------------------------------------------------------------
 * Kernels: C functions registered by name on every rank before dagr_init (the program is SPMD,
 * so every rank builds the same table; only names travel, never function pointers).
 * ------------------------------------------------------------------------------------------- */
typedef struct dagr_kctx dagr_kctx_t; /* one kernel invocation */
typedef int (*dagr_kernel_fn)(dagr_kctx_t *k);

/* Registers fn under name. Errors: DAGR_EINVAL (NULL or empty name, name longer than 63 bytes,
 * NULL fn), DAGR_EDUPKEY (name already registered with another function), DAGR_ESTATE (called
 * after dagr_init), DAGR_ENOMEM. */
int dagr_kernel_register(const char *name, dagr_kernel_fn fn);

/* DAGR_KERNEL(name) { ... } defines and registers a kernel at program load. */
#define DAGR_KERNEL(name)                                                                          \
  static int dagr_kernel_fn_##name(dagr_kctx_t *k);                                                \
  __attribute__((constructor)) static void dagr_kernel_reg_##name(void) {                          \
    (void)dagr_kernel_register(#name, dagr_kernel_fn_##name);                                      \
  }                                                                                                \
  static int dagr_kernel_fn_##name(dagr_kctx_t *k)

/* Number of inputs (dependency objects), in argument order. */
int dagr_kernel_ninputs(const dagr_kctx_t *k);
/* View of input i. Errors: DAGR_EINVAL (k or view NULL), DAGR_ENOENT (i out of range). The view
 * stays valid until the kernel returns; the data must not be written. */
int dagr_kernel_input(const dagr_kctx_t *k, int i, dagr_view_t *view);

/* Literal parameters by name. Errors: DAGR_EINVAL (NULL argument), DAGR_ENOENT (no such
 * parameter), DAGR_ETYPE (the parameter has another type; an integer is accepted as a double). */
int dagr_kernel_param_int(const dagr_kctx_t *k, const char *name, int64_t *value);
int dagr_kernel_param_double(const dagr_kctx_t *k, const char *name, double *value);
/* The string stays valid until the kernel returns; it is NUL-terminated. */
int dagr_kernel_param_string(const dagr_kctx_t *k, const char *name, const char **value,
                             size_t *len);
int dagr_kernel_param_int_array(const dagr_kctx_t *k, const char *name, const int64_t **values,
                                size_t *n);
int dagr_kernel_param_double_array(const dagr_kctx_t *k, const char *name, const double **values,
                                   size_t *n);

/* Allocates the kernel's output straight in the object store and returns where to write it.
 * shape may be NULL when ndim is 0. Called at most once per invocation. Errors: DAGR_EINVAL
 * (bad dtype or ndim, or a second output), DAGR_ESTORE_FULL (no room in the store). */
int dagr_kernel_output(dagr_kctx_t *k, size_t nbytes, int dtype, int ndim, const int64_t *shape,
                       void **data);
/* Scalar outputs (ndim 0, 8 bytes), kept without a store allocation. */
int dagr_kernel_output_int64(dagr_kctx_t *k, int64_t value);
int dagr_kernel_output_float64(dagr_kctx_t *k, double value);
int dagr_kernel_output_uint64(dagr_kctx_t *k, uint64_t value);
/* Records a failure message (printf format) and returns DAGR_EKERNEL, for `return
 * dagr_kernel_fail(k, "...")`. */
int dagr_kernel_fail(dagr_kctx_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The MPI rank running the kernel (0 in a single-process run). */
int dagr_kernel_rank(const dagr_kctx_t *k);

/* ---------------------------------------------------------------------------------------------
 * Parameters: literals attached to a task.
 * ------------------------------------------------------------------------------------------- */
typedef struct dagr_params dagr_params_t;

/* Errors: DAGR_EINVAL (NULL out), DAGR_ENOMEM. */
int dagr_params_create(dagr_params_t **params);
void dagr_params_free(dagr_params_t *params);
/* Each setter errors: DAGR_EINVAL (NULL or empty name, name over 255 bytes, NULL data with
 * n > 0, name already set), DAGR_ENOMEM. */
int dagr_params_set_int(dagr_params_t *p, const char *name, int64_t value);
int dagr_params_set_double(dagr_params_t *p, const char *name, double value);
int dagr_params_set_string(dagr_params_t *p, const char *name, const char *value);
int dagr_params_set_int_array(dagr_params_t *p, const char *name, const int64_t *v, size_t n);
int dagr_params_set_double_array(dagr_params_t *p, const char *name, const double *v, size_t n);

/* ---------------------------------------------------------------------------------------------
 * Graphs: string keys (Dask tuple keys such as "('sum-abc', 0, 1)" are ordinary strings), each
 * task a kernel name, literal parameters, dependency keys in argument order and annotations.
 * ------------------------------------------------------------------------------------------- */
typedef struct dagr_graph dagr_graph_t;

typedef struct dagr_task_opts {
  int retries;  /* extra attempts after a kernel failure (default 0); a timeout is not retried */
  int priority; /* higher runs first among ready tasks (default 0) */
  int worker;   /* restrict the task to this worker rank; -1 (default) lets the scheduler pick */
  /* Seconds the kernel may run (from its start on an executor thread) before the task fails with
   * DAGR_ETIMEOUT; 0 (default): DAGR_TASK_TIMEOUT's value, or no limit when that is unset. At
   * most 4294967 (the limit travels in milliseconds); positive values under 1 ms count as 1 ms.
   * A kernel past its limit cannot be stopped: its thread is abandoned (see dagr_get). */
  double timeout_s;
} dagr_task_opts_t;

/* Fills opts with the defaults above. */
void dagr_task_opts_init(dagr_task_opts_t *opts);

/* Errors: DAGR_EINVAL (NULL out), DAGR_ENOMEM. */
int dagr_graph_create(dagr_graph_t **graph);
void dagr_graph_free(dagr_graph_t *graph);

/* Adds task `key`. Dependencies may name keys added later. params may be NULL (it is copied);
 * opts may be NULL. Errors: DAGR_EINVAL (NULL key/kernel, empty key, NULL deps with ndeps > 0,
 * negative retries, timeout_s negative, not a number or over 4294967), DAGR_EDUPKEY (key already
 * defined: the graph is then marked invalid and dagr_get refuses it with the same message),
 * DAGR_ENOMEM. The message names the key. */
int dagr_graph_add(dagr_graph_t *graph, const char *key, const char *kernel,
                   const dagr_params_t *params, const char *const *deps, size_t ndeps,
                   const dagr_task_opts_t *opts);

/* Number of defined tasks. */
size_t dagr_graph_size(const dagr_graph_t *graph);
/* The message of the graph's first construction error, or "" if none. */
const char *dagr_graph_error(const dagr_graph_t *graph);

/* Reads the JSON graph format (docs/graph-format.md) from a file or from memory. On failure the
 * graph is not created and errbuf (if not NULL) receives a message naming the key or place at
 * fault. Errors: DAGR_EINVAL, DAGR_EIO (cannot read the file), DAGR_EPARSE (not valid JSON or not
 * the format), DAGR_EDUPKEY, DAGR_ENOMEM. */
int dagr_graph_load_file(const char *path, dagr_graph_t **graph, char *errbuf, size_t errlen);
int dagr_graph_load_json(const char *text, size_t len, dagr_graph_t **graph, char *errbuf,
                         size_t errlen);
/* The "outputs" list of a loaded graph file (empty for graphs built in C). */
size_t dagr_graph_noutputs(const dagr_graph_t *graph);
const char *dagr_graph_output(const dagr_graph_t *graph, size_t i);

/* ---------------------------------------------------------------------------------------------
 * Runtime.
 * ------------------------------------------------------------------------------------------- */
typedef struct dagr_ctx dagr_ctx_t;

typedef struct dagr_config {
  size_t inline_bytes; /* DAGR_INLINE_BYTES; objects up to this size travel in messages */
  size_t store_bytes;  /* DAGR_STORE_BYTES; object store arena per worker (0: automatic) */
  int worker_threads;  /* DAGR_WORKER_THREADS; executor threads per worker (0: automatic) */
  int batch_tasks;     /* DAGR_BATCH; most tasks per scheduler message */
  int queue_tasks;     /* DAGR_QUEUE; most tasks in flight per worker (0: adaptive) */
  int mpi;             /* DAGR_MPI; 1: initialize MPI (default), 0: single process */
  /* DAGR_TASK_TIMEOUT; seconds a task may run when it has no timeout_s of its own (0: none) */
  double task_timeout_s;
  /* Observability (rank 0). DAGR_TRACE: Chrome trace-event file and DAGR_REPORT: HTML report,
   * both written at dagr_finalize and covering every dagr_get ("%j" in the name becomes the
   * Slurm job id; NULL: none). */
  const char *trace;
  const char *report;
  int summary;                /* DAGR_SUMMARY; 1: print each dagr_get's summary on stderr */
  int progress;               /* DAGR_PROGRESS; 0: automatic (runs past 0.5 s), 1: always, -1: never
                               * (DAGR_PROGRESS=1 and DAGR_PROGRESS=0 set 1 and -1) */
  double progress_interval_s; /* DAGR_PROGRESS_INTERVAL; seconds between progress lines when
                               * stderr is not a terminal (0: the default, 10) */
} dagr_config_t;

/* Fills cfg with the defaults, then applies the DAGR_* environment variables. Errors:
 * DAGR_EINVAL (NULL), DAGR_ECONFIG (a variable is malformed or out of range: the message, from
 * dagr_last_error(NULL), names it). */
int dagr_config_init(dagr_config_t *cfg);

/* Parses a byte count as the DAGR_* variables take it: digits with an optional K, M, G or T
 * suffix (powers of 1024, "KiB"/"KB" spellings accepted). Errors: DAGR_EINVAL. */
int dagr_parse_bytes(const char *text, uint64_t *bytes);

/* Starts dagr on every rank. cfg may be NULL (defaults and DAGR_* variables). On rank 0 (the
 * driver) it returns at once. On worker ranks it serves tasks until rank 0 calls
 * dagr_finalize, then returns DAGR_OK with dagr_is_driver() false; the program should then
 * call dagr_finalize and exit. argc/argv may be NULL. Errors: DAGR_EINVAL, DAGR_ECONFIG,
 * DAGR_EMPI (MPI could not start or lacks thread support), DAGR_EKERNEL_TABLE (ranks disagree
 * on the registered kernels), DAGR_ENOMEM, DAGR_ESTORE_FULL (the store could not be created).
 * On failure *ctx is NULL and dagr_last_error(NULL) explains.
 *
 * Signals: dagr_init installs handlers on every rank (the previous ones come back at
 * dagr_finalize). SIGTERM and SIGINT (unless ignored when dagr_init ran) print "dagr: rank N
 * received SIGTERM; stopping" and stop the job: a worker rank removes its temporary files (the
 * cleanup hooks) and ends with that signal; on the driver the running dagr_get, and every later
 * one, fails with DAGR_EINTERRUPTED, and dagr_finalize removes the temporary files and ends the
 * process with the signal (exit status 128 + signal number). A rank that has not ended 3 s
 * after the signal (a driver busy outside dagr) is ended the same way; a second SIGTERM or
 * SIGINT ends it at once. SIGSEGV, SIGBUS, SIGFPE and SIGILL print "dagr: worker rank N on HOST
 * crashed with signal SIGSEGV while running task KEY (kernel K)" and then take their previous
 * action (Open MPI's backtrace, or the default: the process dies with the signal). */
int dagr_init(int *argc, char ***argv, const dagr_config_t *cfg, dagr_ctx_t **ctx);

/* Shuts down every rank (called on every rank) and frees ctx; on the driver it first writes the
 * trace and report asked for (DAGR_TRACE, DAGR_REPORT). After SIGTERM or SIGINT (see
 * dagr_init) it does not return: it removes the temporary files and ends the process with the
 * signal, without waiting for the other ranks (no trace or report is written then). Errors:
 * DAGR_EMPI, DAGR_EIO (a trace or report could not be written; the message is on stderr; the
 * rest of the shutdown still happened). */
int dagr_finalize(dagr_ctx_t *ctx);

/* On the driver: the exit status the workers should use, sent to them at dagr_finalize (so a
 * failed job exits non-zero on every rank). On a worker after dagr_init returned: the status
 * the driver set (0 by default). */
int dagr_set_exit_status(dagr_ctx_t *ctx, int status);
int dagr_exit_status(const dagr_ctx_t *ctx);

int dagr_is_driver(const dagr_ctx_t *ctx);
int dagr_rank(const dagr_ctx_t *ctx);
int dagr_nranks(const dagr_ctx_t *ctx);
/* Number of worker pools (worker ranks; 1 in a single-process run). */
int dagr_nworkers(const dagr_ctx_t *ctx);
/* NUMA domains the workers run tasks in, counted over all workers (each worker keeps one
 * executor-thread group and store part per domain it spans; see DAGR_BIND): equal to
 * dagr_nworkers when every worker spans one domain. 0 for NULL or off the driver. */
int dagr_numa_domains(const dagr_ctx_t *ctx);
/* Turns NUMA-aware placement on (the default) or off on the driver: off, a task still goes to
 * the worker its input bytes favour, but to that worker's least loaded domain whatever domain
 * its inputs are in (what placement without NUMA knowledge does; for comparisons such as
 * `dagr bench numa`). Errors: DAGR_EINVAL (NULL), DAGR_ESTATE (not the driver). */
int dagr_set_numa_placement(dagr_ctx_t *ctx, int on);

/* The message of the most recent failure on ctx (or of dagr_init/dagr_config_init with NULL).
 * Never NULL; "" when there was none. */
const char *dagr_last_error(const dagr_ctx_t *ctx);

/* A computed value, owned by the caller until dagr_result_release. */
typedef struct dagr_result {
  void *data;
  size_t nbytes;
  int dtype;
  int ndim;
  int64_t shape[DAGR_MAX_NDIM];
} dagr_result_t;

void dagr_result_release(dagr_result_t *result);
/* Reads a scalar result as int64/double (converting int<->float). Errors: DAGR_EINVAL, DAGR_ETYPE
 * (not a scalar). */
int dagr_result_int64(const dagr_result_t *result, int64_t *value);
int dagr_result_float64(const dagr_result_t *result, double *value);

/* Computes keys of graph (like Dask's get(dsk, keys)) on rank 0, filling results[0..nkeys-1].
 * The graph is validated first (nothing runs if it is invalid), culled to what keys need,
 * ordered, and run on the workers. Errors: DAGR_EINVAL, DAGR_ESTATE (not the driver),
 * DAGR_ENOKEY, DAGR_EMISSING, DAGR_ECYCLE, DAGR_EDUPKEY, DAGR_EUNKNOWN_KERNEL, DAGR_EKERNEL
 * (names key, kernel, rank and the kernel's message), DAGR_ETIMEOUT (a task ran past its
 * timeout: names key, kernel, rank and the limit; not retried), DAGR_EINTERRUPTED (SIGTERM or
 * SIGINT arrived), DAGR_ESTORE_FULL, DAGR_EMPI, DAGR_EPROTO, DAGR_ENOMEM. After an error the
 * context stays usable and results hold nothing, except after DAGR_ETIMEOUT, whose kernel may
 * still be running on an abandoned thread (it cannot be stopped, and its worker must not hand
 * its memory to other tasks), and DAGR_EINTERRUPTED: later calls then fail with DAGR_ESTATE and
 * DAGR_EINTERRUPTED respectively; call dagr_finalize, which does not wait for abandoned
 * threads. */
int dagr_get(dagr_ctx_t *ctx, dagr_graph_t *graph, const char *const *keys, size_t nkeys,
             dagr_result_t *results);

/* Facts about the last dagr_get on this context. */
typedef struct dagr_stats {
  double seconds;           /* whole dagr_get */
  double plan_seconds;      /* validate, cull and order */
  double run_seconds;       /* execution and gathering of results */
  uint64_t tasks;           /* tasks executed (after culling), retries included */
  uint64_t retries;         /* failed attempts that were retried */
  uint64_t messages_sent;   /* scheduler messages sent to workers */
  uint64_t bytes_fetched;   /* bytes pulled by workers from other workers' stores */
  double fetch_seconds;     /* total time workers spent pulling those bytes */
  uint64_t fetches;         /* number of such pulls */
  double fetch_seconds_max; /* longest single pull */
  uint64_t bytes_spilled;   /* store bytes written to spill directories (DAGR_SPILL_DIR) */
  uint64_t store_peak;      /* the most store bytes one worker held at once (scheduler's count) */
} dagr_stats_t;

/* Errors: DAGR_EINVAL, DAGR_ESTATE (from a callback inside dagr_get). */
int dagr_last_stats(const dagr_ctx_t *ctx, dagr_stats_t *stats);

/* ---------------------------------------------------------------------------------------------
 * Run summary: what dagr_get did, per kernel and per worker (also printed at the end of every
 * dagr_get by DAGR_SUMMARY=1).
 * ------------------------------------------------------------------------------------------- */
typedef struct dagr_kernel_summary {
  const char *kernel; /* registered name */
  uint64_t tasks;     /* completions (retries included) */
  double seconds;     /* sum of its tasks' run times */
} dagr_kernel_summary_t;

typedef struct dagr_worker_summary {
  int rank;
  int threads;          /* executor threads */
  uint64_t tasks;       /* completions on it */
  double busy_seconds;  /* sum of its tasks' run times */
  double busy_fraction; /* busy_seconds / (threads x the run's execution time), 0..1 */
} dagr_worker_summary_t;

typedef struct dagr_summary {
  dagr_stats_t stats;           /* as dagr_last_stats */
  double critical_path_seconds; /* longest dependency chain, adding its tasks' run times */
  size_t nkernels;
  const dagr_kernel_summary_t *kernels; /* kernels that ran, most total time first */
  size_t nworkers;
  const dagr_worker_summary_t *workers; /* by rank */
} dagr_summary_t;

/* The summary of the last dagr_get on ctx (on the driver). The arrays belong to ctx and stay
 * valid until the next dagr_get or dagr_finalize. Errors: DAGR_EINVAL (NULL), DAGR_ESTATE (not
 * the driver, no dagr_get has run, or called from a callback inside one). */
int dagr_last_summary(const dagr_ctx_t *ctx, dagr_summary_t *summary);
/* Prints the summary of the last dagr_get as text (what DAGR_SUMMARY=1 prints on stderr).
 * Errors: as dagr_last_summary. */
int dagr_summary_print(const dagr_ctx_t *ctx, FILE *out);

/* ---------------------------------------------------------------------------------------------
 * Callbacks, in the spirit of dask.callbacks.Callback and Ray's: functions called when a run
 * starts, before and after each task, and when the run finishes.
 * ------------------------------------------------------------------------------------------- */
typedef struct dagr_run_info {
  uint64_t ntasks; /* tasks to run, after culling */
  int nworkers;
  int status;     /* finish: the dagr_get's status (DAGR_OK or its error); start: DAGR_OK */
  double seconds; /* finish: the run's wall time; start: 0 */
} dagr_run_info_t;

typedef struct dagr_task_info {
  const char *key;    /* NUL-terminated; in worker callbacks at most its first 256 bytes */
  const char *kernel; /* registered kernel name */
  int rank;           /* the worker rank running it (0 in a single-process run) */
  int thread;         /* worker callbacks: the executor thread (0-based); driver: -1 */
  double seconds;     /* posttask: how long the kernel ran; pretask: 0 */
  uint64_t nbytes;    /* posttask: bytes of its output; pretask: 0 */
  int status;         /* posttask: DAGR_OK, or the kernel's failure; pretask: DAGR_OK */
} dagr_task_info_t;

/* Any member may be NULL. The pointers passed to the callbacks are valid only during the call. */
typedef struct dagr_callbacks {
  void (*start)(const dagr_run_info_t *run, void *arg);
  void (*pretask)(const dagr_task_info_t *task, void *arg);
  void (*posttask)(const dagr_task_info_t *task, void *arg);
  void (*finish)(const dagr_run_info_t *run, void *arg);
  void *arg;
} dagr_callbacks_t;

/* Driver callbacks, on rank 0: all four run on the thread calling dagr_get, inside it: start
 * once the graph is planned, before anything runs; pretask when the task is sent to its worker;
 * posttask when its completion reaches rank 0 (once per attempt: a retried task sees pretask and
 * posttask again); finish just before dagr_get returns (also after an error). They hold up
 * scheduling while they run, so keep them short. They may call dagr_rank, dagr_nranks,
 * dagr_nworkers, dagr_is_driver, dagr_last_error and read their own data; any other dagr_* call
 * on ctx from inside them (dagr_get, dagr_finalize, dagr_info_print, dagr_last_stats,
 * dagr_last_summary, the setters) fails with DAGR_ESTATE and leaves dagr_last_error to the
 * running dagr_get. cb is copied; *id (may be NULL)
 * names the registration for dagr_callbacks_remove. Errors: DAGR_EINVAL, DAGR_ESTATE (not the
 * driver, or called from a callback), DAGR_ENOMEM. */
int dagr_callbacks_add(dagr_ctx_t *ctx, const dagr_callbacks_t *cb, int *id);
/* Errors: DAGR_EINVAL (NULL ctx), DAGR_ENOKEY (no registration id), DAGR_ESTATE. */
int dagr_callbacks_remove(dagr_ctx_t *ctx, int id);

/* Worker callbacks: registered like kernels, on every rank before dagr_init (the program is
 * SPMD). pretask and posttask run on the worker that runs the task, on the executor thread that
 * runs it, just before and just after its kernel (several threads at once: they must be
 * thread-safe); they may use their own data and the C library, but no dagr_* function. start
 * and finish run on rank 0 as for driver callbacks. At most 16 registrations. Errors:
 * DAGR_EINVAL, DAGR_ESTATE (after dagr_init), DAGR_ENOMEM (too many). */
int dagr_worker_callbacks_register(const dagr_callbacks_t *cb);

/* Turns the Chrome trace (path: a file name, "%j" becoming the Slurm job id; a directory, or a
 * name ending in '/', gets dagr-trace-JOB.json / dagr-report-JOB.html in it) or the HTML
 * report on, for every later dagr_get, or off (NULL), on the driver; the file is written at
 * dagr_finalize (also after a failed dagr_get). Same as DAGR_TRACE and DAGR_REPORT, which it
 * overrides. Errors: DAGR_EINVAL (NULL ctx, empty path), DAGR_ESTATE (not the driver, or from a
 * callback), DAGR_ENOMEM. */
int dagr_set_trace(dagr_ctx_t *ctx, const char *path);
int dagr_set_report(dagr_ctx_t *ctx, const char *path);

/* Prints one block per rank (host, role, threads, store size) to out, on the driver. Errors:
 * DAGR_EINVAL, DAGR_ESTATE (not the driver), DAGR_EMPI, DAGR_EINTERRUPTED (a stop signal). */
int dagr_info_print(dagr_ctx_t *ctx, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* DAGR_H */
