/* executor.c: executor threads that take ready tasks in batches and hand back completions in
 * batches. */
#include <errno.h>
#include <stdlib.h>

#include "runtime/executor.h"

/* Taking several jobs per lock keeps the queue off the hot path for tiny tasks; the cap keeps
 * one thread from hoarding work that others could start. */
#define DAGR__EXEC_TAKE_MAX 64
#define DAGR__EXEC_BATCH_NS 20000.0

static void heap_push(dagr__exec *e, dagr__job *j) {
  size_t i = e->nheap++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (e->heap[parent]->prio <= j->prio) break;
    e->heap[i] = e->heap[parent];
    i = parent;
  }
  e->heap[i] = j;
}

static dagr__job *heap_pop(dagr__exec *e) {
  dagr__job *top = e->heap[0], *last = e->heap[--e->nheap];
  size_t i = 0, n = e->nheap;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && e->heap[c + 1]->prio < e->heap[c]->prio) c++;
    if (last->prio <= e->heap[c]->prio) break;
    e->heap[i] = e->heap[c];
    i = c;
  }
  if (n) e->heap[i] = last;
  return top;
}

/* The most urgent queued job (caller holds mu and knows one exists). */
static dagr__job *take_one(dagr__exec *e) {
  if (e->head && (!e->nheap || e->head->prio <= e->heap[0]->prio)) {
    dagr__job *j = e->head;
    e->head = j->next;
    if (!e->head) e->tail = NULL;
    return j;
  }
  return heap_pop(e);
}

static void *exec_main(void *arg) {
  dagr__exec *e = arg;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    while (!e->queued && !e->stop) pthread_cond_wait(&e->cv, &e->mu);
    if (e->stop) break;
    size_t want = e->queued / (size_t)e->nthreads;
    if (want < 1) want = 1;
    if (want > DAGR__EXEC_TAKE_MAX) want = DAGR__EXEC_TAKE_MAX;
    /* Batch only tasks short enough that holding them back from other threads, and from more
     * urgent arrivals, costs little: about DAGR__EXEC_BATCH_NS of work per take. */
    size_t by_time = e->avg_ns > 0 ? (size_t)(DAGR__EXEC_BATCH_NS / e->avg_ns) : 1;
    if (want > by_time) want = by_time ? by_time : 1;
    dagr__job *first = take_one(e), *last = first;
    size_t n = 1;
    while (n < want) {
      last->next = take_one(e);
      last = last->next;
      n++;
    }
    last->next = NULL;
    e->queued -= n;
    e->running += n;
    /* Leave work for the others if there is more. */
    if (e->queued) pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);

    uint64_t t0 = dagr__now_ns();
    for (dagr__job *j = first; j; j = j->next) e->fn(j, e->arg);
    double per = (double)(dagr__now_ns() - t0) / (double)n;

    pthread_mutex_lock(&e->done_mu);
    if (e->done_tail)
      e->done_tail->next = first;
    else
      e->done_head = first;
    e->done_tail = last;
    if (e->sleeper) pthread_cond_signal(&e->done_cv);
    pthread_mutex_unlock(&e->done_mu);

    pthread_mutex_lock(&e->mu);
    e->running -= n;
    e->avg_ns = 0.8 * e->avg_ns + 0.2 * per;
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

int dagr__exec_start(dagr__exec *e, int nthreads, dagr__job_fn fn, void *arg) {
  if (!e || nthreads < 1 || !fn) return DAGR_EINVAL;
  *e = (dagr__exec){0};
  e->nthreads = nthreads;
  e->fn = fn;
  e->arg = arg;
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  pthread_mutex_init(&e->done_mu, NULL);
  pthread_cond_init(&e->done_cv, NULL);
  e->threads = calloc((size_t)nthreads, sizeof *e->threads);
  if (!e->threads) return DAGR_ENOMEM;
  for (int i = 0; i < nthreads; i++) {
    if (pthread_create(&e->threads[i], NULL, exec_main, e) != 0) {
      e->nthreads = i;
      dagr__exec_stop(e);
      return DAGR_ESTATE;
    }
  }
  return DAGR_OK;
}

void dagr__exec_stop(dagr__exec *e) {
  if (!e->threads) return;
  pthread_mutex_lock(&e->mu);
  e->stop = 1;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  for (int i = 0; i < e->nthreads; i++) pthread_join(e->threads[i], NULL);
  free(e->threads);
  e->threads = NULL;
  free(e->heap);
  e->heap = NULL;
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
  pthread_mutex_destroy(&e->done_mu);
  pthread_cond_destroy(&e->done_cv);
}

int dagr__exec_push(dagr__exec *e, dagr__job *head, dagr__job **rejected) {
  *rejected = NULL;
  if (!head) return DAGR_OK;
  int rc = DAGR_OK;
  size_t n = 0;
  pthread_mutex_lock(&e->mu);
  for (dagr__job *j = head, *next; j; j = next) {
    next = j->next;
    if (!e->tail || j->prio >= e->tail->prio) {
      j->next = NULL;
      if (e->tail)
        e->tail->next = j;
      else
        e->head = j;
      e->tail = j;
    } else {
      if (e->nheap == e->cap_heap) {
        size_t cap = e->cap_heap ? e->cap_heap * 2 : 256;
        dagr__job **h = realloc(e->heap, cap * sizeof *h);
        if (!h) {
          *rejected = j;
          rc = DAGR_ENOMEM;
          break;
        }
        e->heap = h;
        e->cap_heap = cap;
      }
      heap_push(e, j);
    }
    n++;
  }
  e->queued += n;
  if (n > 1)
    pthread_cond_broadcast(&e->cv);
  else if (n == 1)
    pthread_cond_signal(&e->cv);
  pthread_mutex_unlock(&e->mu);
  return rc;
}

dagr__job *dagr__exec_take_done(dagr__exec *e) {
  pthread_mutex_lock(&e->done_mu);
  dagr__job *j = e->done_head;
  e->done_head = e->done_tail = NULL;
  pthread_mutex_unlock(&e->done_mu);
  return j;
}

dagr__job *dagr__exec_drop_queued(dagr__exec *e) {
  pthread_mutex_lock(&e->mu);
  dagr__job *j = e->head;
  for (size_t i = 0; i < e->nheap; i++) {
    e->heap[i]->next = j;
    j = e->heap[i];
  }
  e->nheap = 0;
  e->head = e->tail = NULL;
  e->queued = 0;
  pthread_mutex_unlock(&e->mu);
  return j;
}

size_t dagr__exec_pending(dagr__exec *e) {
  pthread_mutex_lock(&e->mu);
  size_t n = e->queued + e->running;
  pthread_mutex_unlock(&e->mu);
  return n;
}

void dagr__exec_wait(dagr__exec *e, long ns) {
  pthread_mutex_lock(&e->done_mu);
  if (!e->done_head && !e->wake) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ns;
    while (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    e->sleeper = 1;
    int rc = 0;
    while (!e->done_head && !e->wake && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&e->done_cv, &e->done_mu, &ts);
    e->sleeper = 0;
  }
  e->wake = 0;
  pthread_mutex_unlock(&e->done_mu);
}

void dagr__exec_wake(dagr__exec *e) {
  pthread_mutex_lock(&e->done_mu);
  e->wake = 1;
  if (e->sleeper) pthread_cond_signal(&e->done_cv);
  pthread_mutex_unlock(&e->done_mu);
}
