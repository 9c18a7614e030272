/* executor.h: a worker's pool of executor threads, fed and drained in batches by its comm thread.
 */
#ifndef DAGR_RUNTIME_EXECUTOR_H
#define DAGR_RUNTIME_EXECUTOR_H
#ifndef DAGR_BUILDING
#error "src/runtime/executor.h is private to libdagr"
#endif

#include <pthread.h>

#include "internal/common.h"

typedef struct dagr__job {
  struct dagr__job *next;
  uint32_t prio; /* lower runs first (the plan id: the scheduler's priority order) */
} dagr__job;

typedef void (*dagr__job_fn)(dagr__job *job, void *arg);

typedef struct dagr__exec {
  pthread_mutex_t mu; /* ready queue */
  pthread_cond_t cv;
  /* Ready jobs: a FIFO that stays sorted because jobs mostly arrive in priority order, plus a
   * heap for the ones that arrive out of order (a consumer that became ready after others
   * were queued). Taking the smaller head of the two keeps the scheduler's order on the
   * worker at O(1) per job in the common case. */
  dagr__job *head, *tail;
  dagr__job **heap;
  size_t nheap, cap_heap;
  size_t queued;
  size_t running;
  double avg_ns; /* moving average of a job's run time */
  int stop;

  pthread_mutex_t done_mu; /* completions, and the comm thread's sleep */
  pthread_cond_t done_cv;
  dagr__job *done_head, *done_tail;
  int sleeper; /* the comm thread is waiting on done_cv */
  int wake;    /* a wake-up arrived while nobody slept */

  int nthreads;
  pthread_t *threads;
  dagr__job_fn fn;
  void *arg;
} dagr__exec;

/* Starts nthreads executor threads running fn(job, arg) for each pushed job. Errors:
 * DAGR_EINVAL, DAGR_ENOMEM, DAGR_ESTATE (threads could not be created). */
int dagr__exec_start(dagr__exec *e, int nthreads, dagr__job_fn fn, void *arg);
/* Stops and joins the threads (queued jobs are not run: drop them first). */
void dagr__exec_stop(dagr__exec *e);
/* Queues a list of n jobs linked through next (NULL-terminated). Errors: DAGR_ENOMEM (the jobs
 * that did not fit are returned through *rejected, linked). */
int dagr__exec_push(dagr__exec *e, dagr__job *head, dagr__job **rejected);
/* Takes every finished job (in completion order). */
dagr__job *dagr__exec_take_done(dagr__exec *e);
/* Takes every job still queued (not started). */
dagr__job *dagr__exec_drop_queued(dagr__exec *e);
/* Jobs queued or running. */
size_t dagr__exec_pending(dagr__exec *e);
/* Comm thread: sleeps up to ns nanoseconds unless a job finishes or dagr__exec_wake is called. */
void dagr__exec_wait(dagr__exec *e, long ns);
void dagr__exec_wake(dagr__exec *e);

#endif
