/* sched.h: the rank-0 scheduler: runs a plan on the workers through a transport link. */
#ifndef DAGR_SCHEDULER_SCHED_H
#define DAGR_SCHEDULER_SCHED_H
#ifndef DAGR_BUILDING
#error "src/scheduler/sched.h is private to libdagr"
#endif

#include "graph/graph.h"
#include "proto/proto.h"
#include "scheduler/place.h"
#include "transport/link.h"

typedef struct dagr__sched_worker {
  int rank;
  int threads;
  int ngroups;  /* executor groups (NUMA domains) */
  int dom_base; /* index of its first domain in dagr__sched.dom */
  int gthreads[DAGR__MAX_GROUPS];
  uint64_t cap;  /* store capacity */
  uint64_t used; /* store bytes in use (results, pulled copies, restored objects) */
  uint64_t peak;
  uint64_t resv;     /* expected outputs of its tasks in flight */
  uint32_t nunknown; /* its tasks in flight whose kernels' output sizes are not known yet */
  uint32_t *defer;   /* tasks whose output or inputs did not fit, rerun after its next completion */
  size_t ndefer, cap_defer;
  uint32_t *lru; /* its store objects in completion order, from lru_head */
  size_t lru_head, lru_n, lru_cap;
  uint32_t inflight; /* assigned, not yet reported */
  uint32_t limit;
  double avg_us;  /* moving average of task run time */
  double busy_us; /* this run: sum of its tasks' run times */
  uint64_t ndone; /* this run: completions on it */
  dagr__buf out;  /* pending ASSIGN batch */
  uint32_t out_n;
  dagr__buf rel; /* pending RELEASE batch */
  uint32_t rel_n;
} dagr__sched_worker;

typedef struct dagr__sched {
  dagr__slink *link;
  int nworkers;
  int pin_ranks; /* honour the `worker` annotation (MPI runs); 0 in a single process */
  int numa_off;  /* place by worker only; the domain is the worker's least loaded one */
  /* faults: the limit (DAGR_TASK_TIMEOUT, ms; 0: none) of tasks without their own timeout_s */
  uint32_t timeout_ms;
  dagr__sched_worker *w;
  /* NUMA domains of all workers (a worker's groups are dom[dom_base .. dom_base + ngroups)),
   * with their hosts, loads (tasks in flight) and capacities, for dagr__place_choose. */
  dagr__place_domain *dom;
  int ndom, nhosts;
  dagr__place_scratch pscratch;
  dagr__place_input *pin; /* scratch: one task's inputs */
  size_t cap_pin;
  uint8_t *grp; /* per task: the group (domain within its worker) it was assigned to */
  /* Memory: per object, where its bytes are (S_* in sched.c) and how many assigned, unfinished
   * tasks read it; per worker (in dagr__sched_worker) the store bytes in use as the scheduler
   * counts them, and its objects in completion order (the spill candidates, oldest first). */
  uint8_t *ostore;
  uint32_t *readers;
  uint8_t *sfull;        /* per task: reruns after its output did not fit in the store */
  int spill_on;          /* DAGR_SPILL */
  const char *job_token; /* names the workers' spill directories (boot) */
  int any_spilled;       /* this run spilled something (spilled inputs need looking at) */
  uint32_t inflight_total;
  float *kest;        /* per kernel id: moving average of its outputs' store bytes */
  uint64_t *tresv;    /* per task: bytes reserved on its worker for its output */
  uint8_t *tunk;      /* per task: in flight before its kernel's output size was known */
  double high, pause; /* DAGR_STORE_HIGH, DAGR_STORE_PAUSE: fractions of a store */
  uint64_t *wbytes;   /* scratch: input bytes per worker while placing one task */
  uint32_t *touched;  /* scratch: workers with non-zero wbytes */
  size_t inline_bytes;
  uint32_t batch_tasks;
  uint32_t queue_tasks; /* fixed per-worker limit, or 0 for adaptive */
  uint32_t run;
  /* per-run state, sized to the plan */
  size_t cap;
  uint32_t *deps_left;  /* dependencies not done */
  uint32_t *unassigned; /* dependencies not yet assigned anywhere */
  uint32_t *cons_left;  /* consumers not done (+1 for a requested key) */
  uint8_t *state;
  int32_t *where; /* worker running or holding the task's object */
  int32_t *tries_left;
  uint8_t *okind, *odtype, *ondim;
  uint64_t *oval; /* scalar bits, store offset, or pointer to rank 0's inline copy */
  uint64_t *onbytes;
  int64_t **oshape;
  uint32_t *holders; /* head of the extra-holders list (index + 1 into hnodes) */
  struct {
    int32_t worker;
    uint32_t next;
  } * hnodes;
  size_t nhnodes, cap_hnodes;
  int64_t **shape_chunks;
  size_t nshape_chunks, shape_used;
  uint32_t *spec; /* worklist for assigning dependents ahead of their inputs */

  /* Observability, set by the runtime (observe.c); everything off when NULL/0. */
  struct dagr__obs *obs; /* detail record: the workers' trace events are asked for and filed */
  uint32_t obs_run;      /* this run's index in obs->runs */
  const int64_t *clock_offset_ns;  /* per worker, or NULL (one clock) */
  struct dagr__progress *progress; /* the progress bar */
  const dagr_callbacks_t *cbs;     /* driver callbacks: pretask/posttask are called here */
  int ncbs;
  /* This run's sums (dagr_summary_t): per kernel id, and the critical path. */
  int nkernels;
  uint64_t *ktasks;
  double *kus;
  float *cpf;     /* per task: run time (us) of the longest chain ending with it */
  double cp_us;   /* the longest of them */
  uint64_t ndone; /* tasks done */
} dagr__sched;

/* Sets up the scheduler for a link. Errors: DAGR_ENOMEM. */
/* workers (may be NULL: one group per worker, one host) gives each worker's executor groups
 * (NUMA domains) and host. */
int dagr__sched_init(dagr__sched *s, dagr__slink *link, const int *threads,
                     const dagr__worker_desc *workers, size_t inline_bytes, uint32_t batch_tasks,
                     uint32_t queue_tasks, int pin_ranks);
void dagr__sched_destroy(dagr__sched *s);
/* Sizes the per-kernel sums for the registered kernels. Errors: DAGR_ENOMEM. */
int dagr__sched_sums_init(dagr__sched *s, int nkernels);

/* Runs plan (validated, culled, ordered) of graph g and fills results for plan->targets.
 * Errors: DAGR_EKERNEL (message names key, kernel, rank, kernel message), DAGR_EINVAL (a task
 * restricted to a worker that does not exist), DAGR_EPROTO, DAGR_EMPI, DAGR_ENOMEM. Workers are
 * left clean (RUN_END acknowledged) in every case the transport still works. */
int dagr__sched_run(dagr__sched *s, const dagr_graph_t *g, const dagr__plan *plan,
                    dagr_result_t *results, dagr_stats_t *stats, char *err, size_t errlen);

/* Asks every worker for its description line; calls fn(rank, text, arg) for each. */
int dagr__sched_info(dagr__sched *s, void (*fn)(int rank, const char *text, void *arg), void *arg,
                     char *err, size_t errlen);
/* Asks every worker for the trace events it kept (TRACE_REQ) and hands each TRACE message to o
 * (dagr__obs_stash). Errors: DAGR_EMPI, DAGR_ENOMEM, DAGR_EINTERRUPTED. */
int dagr__sched_collect_traces(dagr__sched *s, struct dagr__obs *o);
/* Tells every worker to stop serving. */
int dagr__sched_shutdown(dagr__sched *s, int exit_status);

#endif
