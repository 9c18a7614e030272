/* executor.h: a worker's pool of executor threads, fed and drained in batches by its comm thread.
 */
#ifndef DAGR_RUNTIME_EXECUTOR_H
#define DAGR_RUNTIME_EXECUTOR_H
#ifndef DAGR_BUILDING
#error "src/runtime/executor.h is private to libdagr"
#endif

#include <pthread.h>

#include "internal/common.h"

/* A worker spanning several NUMA domains keeps one group of threads per domain; 64 is more
 * domains than any one host has. */
#define DAGR__EXEC_MAX_GROUPS 64

typedef struct dagr__job {
  struct dagr__job *next;
  uint32_t prio;  /* lower runs first (the plan id: the scheduler's priority order) */
  uint16_t group; /* the thread group that must run it; one >= the number of groups runs in 0 */
} dagr__job;

typedef void (*dagr__job_fn)(dagr__job *job, void *arg);
/* Called once by each executor thread before it takes jobs (the runtime binds the thread to its
 * domain's cores here). thread_index is global, 0..nthreads-1, numbered in group order. */
typedef void (*dagr__exec_thread_init)(int thread_index, int group, void *arg);

/* One group's ready queue and threads (private to executor.c). */
struct dagr__exec_group;
struct dagr__exec_thread;

typedef struct dagr__exec {
  /* Each group has its own lock, ready queue and condition variable, and its threads take only
   * from that queue: there is no stealing between groups. The scheduler already places each task
   * on a domain and balances load per domain, so stealing would only move a task away from the
   * memory it was placed next to (and put a cross-domain lock on the hot path). */
  struct dagr__exec_group *groups;
  int ngroups;

  pthread_mutex_t done_mu; /* completions, and the comm thread's sleep */
  pthread_cond_t done_cv;
  dagr__job *done_head, *done_tail;
  int sleeper; /* the comm thread is waiting on done_cv */
  int wake;    /* a wake-up arrived while nobody slept */

  int nthreads; /* in all groups */
  pthread_t *threads;
  struct dagr__exec_thread *tinfo;
  dagr__job_fn fn;
  void *arg;
  dagr__exec_thread_init init;
  void *init_arg;
  int abandoned; /* dagr__exec_abandon ran: the threads are detached, nothing may be freed */
} dagr__exec;

/* Starts nthreads executor threads (one group) running fn(job, arg) for each pushed job. Errors:
 * DAGR_EINVAL, DAGR_ENOMEM, DAGR_ESTATE (threads could not be created). */
int dagr__exec_start(dagr__exec *e, int nthreads, dagr__job_fn fn, void *arg);
/* Starts ngroups groups (1..DAGR__EXEC_MAX_GROUPS) of group_threads[g] >= 1 threads each; every
 * thread first calls init(thread_index, group, init_arg) when init is non-NULL. Errors:
 * DAGR_EINVAL, DAGR_ENOMEM, DAGR_ESTATE (threads could not be created; those already started
 * have been stopped and joined). After any error dagr__exec_stop is a no-op. */
int dagr__exec_start_groups(dagr__exec *e, int ngroups, const int *group_threads, dagr__job_fn fn,
                            void *arg, dagr__exec_thread_init init, void *init_arg);
/* Stops and joins the threads (queued jobs are not run: drop them first). */
void dagr__exec_stop(dagr__exec *e);
/* Stops the threads without joining them, for a pool with a thread stuck in a kernel (a task
 * past its timeout): idle threads exit, busy ones are detached and exit when their job returns.
 * Nothing is freed, since a late job still uses the queues: e may only be leaked afterwards
 * (dagr__exec_stop on it does nothing). */
void dagr__exec_abandon(dagr__exec *e);
/* Queues a list of jobs linked through next (NULL-terminated), each on its group's queue, waking
 * only that group's threads. Errors: DAGR_ENOMEM (the jobs that did not fit are returned through
 * *rejected, linked; the others are queued). */
int dagr__exec_push(dagr__exec *e, dagr__job *head, dagr__job **rejected);
/* Takes every finished job (in completion order). */
dagr__job *dagr__exec_take_done(dagr__exec *e);
/* Takes every job still queued (not started), in all groups. */
dagr__job *dagr__exec_drop_queued(dagr__exec *e);
/* Jobs queued or running, in all groups. */
size_t dagr__exec_pending(dagr__exec *e);
/* Jobs queued or running in one group (0 for a group that does not exist). */
size_t dagr__exec_group_pending(dagr__exec *e, int group);
/* Comm thread: sleeps up to ns nanoseconds unless a job finishes or dagr__exec_wake is called. */
void dagr__exec_wait(dagr__exec *e, long ns);
void dagr__exec_wake(dagr__exec *e);

#endif
