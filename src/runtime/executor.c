/* executor.c: executor threads, in groups with one ready queue each, that take ready tasks in
 * batches and hand back completions in batches. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/executor.h"
#include "runtime/signals.h"

/* Taking several jobs per lock keeps the queue off the hot path for tiny tasks; the cap keeps
 * one thread from hoarding work that others could start. */
#define DAGR__EXEC_TAKE_MAX 64
#define DAGR__EXEC_BATCH_NS 20000.0

struct dagr__exec_group {
  /* Aligned to a cache line so that groups on different domains never share one: each group's
   * lock is hammered only by its own threads and the comm thread. */
  _Alignas(64) pthread_mutex_t mu;
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
  double avg_ns; /* moving average of a job's run time in this group */
  int stop;
  int nthreads;
};

struct dagr__exec_thread {
  dagr__exec *e;
  struct dagr__exec_group *g;
  int index, group;
};

typedef struct dagr__exec_group group_t;

static void heap_push(group_t *g, dagr__job *j) {
  size_t i = g->nheap++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (g->heap[parent]->prio <= j->prio) break;
    g->heap[i] = g->heap[parent];
    i = parent;
  }
  g->heap[i] = j;
}

static dagr__job *heap_pop(group_t *g) {
  dagr__job *top = g->heap[0], *last = g->heap[--g->nheap];
  size_t i = 0, n = g->nheap;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && g->heap[c + 1]->prio < g->heap[c]->prio) c++;
    if (last->prio <= g->heap[c]->prio) break;
    g->heap[i] = g->heap[c];
    i = c;
  }
  if (n) g->heap[i] = last;
  return top;
}

/* The most urgent queued job (caller holds mu and knows one exists). */
static dagr__job *take_one(group_t *g) {
  if (g->head && (!g->nheap || g->head->prio <= g->heap[0]->prio)) {
    dagr__job *j = g->head;
    g->head = j->next;
    if (!g->head) g->tail = NULL;
    return j;
  }
  return heap_pop(g);
}

static void *exec_main(void *arg) {
  struct dagr__exec_thread *t = arg;
  dagr__exec *e = t->e;
  group_t *g = t->g;
  if (e->init) e->init(t->index, t->group, e->init_arg);
  /* Kernels run here: a stack overflow in one must still print its crash line (signals.c). */
  void *altstack = dagr__signals_altstack();
  pthread_mutex_lock(&g->mu);
  for (;;) {
    while (!g->queued && !g->stop) pthread_cond_wait(&g->cv, &g->mu);
    if (g->stop) break;
    size_t want = g->queued / (size_t)g->nthreads;
    if (want < 1) want = 1;
    if (want > DAGR__EXEC_TAKE_MAX) want = DAGR__EXEC_TAKE_MAX;
    /* Batch only tasks short enough that holding them back from other threads, and from more
     * urgent arrivals, costs little: about DAGR__EXEC_BATCH_NS of work per take. */
    size_t by_time = g->avg_ns > 0 ? (size_t)(DAGR__EXEC_BATCH_NS / g->avg_ns) : 1;
    if (want > by_time) want = by_time ? by_time : 1;
    dagr__job *first = take_one(g), *last = first;
    size_t n = 1;
    while (n < want) {
      last->next = take_one(g);
      last = last->next;
      n++;
    }
    last->next = NULL;
    g->queued -= n;
    g->running += n;
    /* Leave work for the others if there is more. */
    if (g->queued) pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);

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

    pthread_mutex_lock(&g->mu);
    g->running -= n;
    g->avg_ns = 0.8 * g->avg_ns + 0.2 * per;
  }
  pthread_mutex_unlock(&g->mu);
  dagr__signals_altstack_free(altstack);
  return NULL;
}

/* Frees what start_groups set up (the threads are already joined or were never created). */
static void exec_free(dagr__exec *e) {
  for (int i = 0; i < e->ngroups; i++) {
    free(e->groups[i].heap);
    pthread_mutex_destroy(&e->groups[i].mu);
    pthread_cond_destroy(&e->groups[i].cv);
  }
  free(e->groups);
  free(e->threads);
  free(e->tinfo);
  pthread_mutex_destroy(&e->done_mu);
  pthread_cond_destroy(&e->done_cv);
  /* Leaves threads NULL, so that a later dagr__exec_stop does nothing. */
  *e = (dagr__exec){0};
}

/* Stops and joins the first n threads. */
static void exec_join(dagr__exec *e, int n) {
  for (int i = 0; i < e->ngroups; i++) {
    group_t *g = &e->groups[i];
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
  }
  for (int i = 0; i < n; i++) pthread_join(e->threads[i], NULL);
}

int dagr__exec_start_groups(dagr__exec *e, int ngroups, const int *group_threads, dagr__job_fn fn,
                            void *arg, dagr__exec_thread_init init, void *init_arg) {
  if (!e) return DAGR_EINVAL;
  /* Zeroed first, so that dagr__exec_stop after a failed start is harmless. */
  *e = (dagr__exec){0};
  if (ngroups < 1 || ngroups > DAGR__EXEC_MAX_GROUPS || !group_threads || !fn) return DAGR_EINVAL;
  long long total = 0;
  for (int i = 0; i < ngroups; i++) {
    if (group_threads[i] < 1) return DAGR_EINVAL;
    total += group_threads[i];
  }
  if (total > INT_MAX) return DAGR_EINVAL;
  int nthreads = (int)total;

  /* One allocation of cache-line-aligned groups (the size is a multiple of the alignment, as
   * aligned_alloc wants, because the struct's alignment pads it). */
  group_t *groups = aligned_alloc(_Alignof(group_t), (size_t)ngroups * sizeof *groups);
  pthread_t *threads = calloc((size_t)nthreads, sizeof *threads);
  struct dagr__exec_thread *tinfo = calloc((size_t)nthreads, sizeof *tinfo);
  if (!groups || !threads || !tinfo) {
    free(groups);
    free(threads);
    free(tinfo);
    return DAGR_ENOMEM;
  }
  memset(groups, 0, (size_t)ngroups * sizeof *groups);
  e->groups = groups;
  e->ngroups = ngroups;
  e->threads = threads;
  e->tinfo = tinfo;
  e->fn = fn;
  e->arg = arg;
  e->init = init;
  e->init_arg = init_arg;
  pthread_mutex_init(&e->done_mu, NULL);
  pthread_cond_init(&e->done_cv, NULL);
  for (int i = 0, k = 0; i < ngroups; i++) {
    pthread_mutex_init(&groups[i].mu, NULL);
    pthread_cond_init(&groups[i].cv, NULL);
    groups[i].nthreads = group_threads[i];
    for (int j = 0; j < group_threads[i]; j++, k++)
      tinfo[k] = (struct dagr__exec_thread){e, &groups[i], k, i};
  }
  for (int i = 0; i < nthreads; i++) {
    if (pthread_create(&threads[i], NULL, exec_main, &tinfo[i]) != 0) {
      exec_join(e, i);
      exec_free(e);
      return DAGR_ESTATE;
    }
  }
  e->nthreads = nthreads;
  return DAGR_OK;
}

int dagr__exec_start(dagr__exec *e, int nthreads, dagr__job_fn fn, void *arg) {
  return dagr__exec_start_groups(e, 1, &nthreads, fn, arg, NULL, NULL);
}

void dagr__exec_stop(dagr__exec *e) {
  if (!e->threads || e->abandoned) return;
  exec_join(e, e->nthreads);
  exec_free(e);
}

void dagr__exec_abandon(dagr__exec *e) {
  if (!e->threads || e->abandoned) return;
  for (int i = 0; i < e->ngroups; i++) {
    group_t *g = &e->groups[i];
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
  }
  for (int i = 0; i < e->nthreads; i++) pthread_detach(e->threads[i]);
  /* Everything stays allocated: a kernel that returns late still takes the locks and queues its
   * completion. */
  e->abandoned = 1;
}

/* Queues one group's list (NULL-terminated, in arrival order) and wakes that group's threads.
 * On DAGR_ENOMEM the jobs from the first that did not fit on are left linked in *rejected. */
static int group_push(group_t *g, dagr__job *head, dagr__job **rejected) {
  int rc = DAGR_OK;
  size_t n = 0;
  pthread_mutex_lock(&g->mu);
  for (dagr__job *j = head, *next; j; j = next) {
    next = j->next;
    if (!g->tail || j->prio >= g->tail->prio) {
      j->next = NULL;
      if (g->tail)
        g->tail->next = j;
      else
        g->head = j;
      g->tail = j;
    } else {
      if (g->nheap == g->cap_heap) {
        size_t cap = g->cap_heap ? g->cap_heap * 2 : 256;
        dagr__job **h = realloc(g->heap, cap * sizeof *h);
        if (!h) {
          *rejected = j;
          rc = DAGR_ENOMEM;
          break;
        }
        g->heap = h;
        g->cap_heap = cap;
      }
      heap_push(g, j);
    }
    n++;
  }
  g->queued += n;
  if (n > 1)
    pthread_cond_broadcast(&g->cv);
  else if (n == 1)
    pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
  return rc;
}

int dagr__exec_push(dagr__exec *e, dagr__job *head, dagr__job **rejected) {
  *rejected = NULL;
  if (!head) return DAGR_OK;
  /* One group (the common case, and the hot path for tiny tasks): no routing at all. */
  if (e->ngroups == 1) return group_push(&e->groups[0], head, rejected);

  /* Split the list by group first (keeping each group's arrival order, which keeps its FIFO
   * sorted), so that each group's lock is taken once per push. */
  dagr__job *sub_head[DAGR__EXEC_MAX_GROUPS], *sub_tail[DAGR__EXEC_MAX_GROUPS];
  uint64_t used = 0;
  for (dagr__job *j = head, *next; j; j = next) {
    next = j->next;
    int gi = j->group < e->ngroups ? j->group : 0;
    if ((used >> gi) & 1)
      sub_tail[gi]->next = j;
    else
      sub_head[gi] = j;
    sub_tail[gi] = j;
    used |= 1ull << gi;
  }
  int rc = DAGR_OK;
  dagr__job *rej_tail = NULL;
  for (int gi = 0; gi < e->ngroups; gi++) {
    if (!((used >> gi) & 1)) continue;
    sub_tail[gi]->next = NULL;
    dagr__job *rej = NULL;
    if (group_push(&e->groups[gi], sub_head[gi], &rej) != DAGR_OK) {
      /* The rest of this group's list stays linked and ends at its tail: chain it on. */
      rc = DAGR_ENOMEM;
      if (rej_tail)
        rej_tail->next = rej;
      else
        *rejected = rej;
      rej_tail = sub_tail[gi];
    }
  }
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
  dagr__job *out = NULL;
  /* Built by prepending, from the last group down, so group 0's jobs come first. */
  for (int gi = e->ngroups - 1; gi >= 0; gi--) {
    group_t *g = &e->groups[gi];
    pthread_mutex_lock(&g->mu);
    if (g->tail) {
      g->tail->next = out;
      out = g->head;
    }
    for (size_t i = 0; i < g->nheap; i++) {
      g->heap[i]->next = out;
      out = g->heap[i];
    }
    g->nheap = 0;
    g->head = g->tail = NULL;
    g->queued = 0;
    pthread_mutex_unlock(&g->mu);
  }
  return out;
}

size_t dagr__exec_pending(dagr__exec *e) {
  /* Not one snapshot across groups, but no job moves between groups and only the comm thread
   * (the caller) adds jobs, so a zero here still means every pushed job is on the done list. */
  size_t n = 0;
  for (int gi = 0; gi < e->ngroups; gi++) {
    group_t *g = &e->groups[gi];
    pthread_mutex_lock(&g->mu);
    n += g->queued + g->running;
    pthread_mutex_unlock(&g->mu);
  }
  return n;
}

size_t dagr__exec_group_pending(dagr__exec *e, int group) {
  if (group < 0 || group >= e->ngroups) return 0;
  group_t *g = &e->groups[group];
  pthread_mutex_lock(&g->mu);
  size_t n = g->queued + g->running;
  pthread_mutex_unlock(&g->mu);
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
