/* local.c: the in-process transport: a single-process run's worker pool on threads, joined by
 * queues. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/backoff.h"
#include "runtime/slurm.h"
#include "runtime/timeout.h"
#include "transport/boot.h"

typedef struct lmsg {
  struct lmsg *next;
  void *buf;
  size_t len;
} lmsg;

typedef struct queue {
  lmsg *head, *tail;
} queue;

struct dagr__local {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* the scheduler's sleep */
  int sched_sleeping;
  queue to_worker, to_sched;
  dagr__store store;
  void *arena;
  size_t arena_bytes;
  dagr__worker *worker;
  dagr__worker_cfg wcfg;
  pthread_t thread;
  int thread_ok;
  int serve_rc;
  int exited; /* the worker thread returned (read atomically by the scheduler) */
  int threads;
  dagr__worker_desc desc;
  dagr__slink slink;
  dagr__wlink wlink;
  char err[DAGR__ERRLEN];
};

static int push(dagr__local *l, queue *q, void *buf, size_t len) {
  lmsg *m = malloc(sizeof *m);
  if (!m) {
    free(buf);
    return DAGR_ENOMEM;
  }
  m->next = NULL;
  m->buf = buf;
  m->len = len;
  pthread_mutex_lock(&l->mu);
  if (q->tail)
    q->tail->next = m;
  else
    __atomic_store_n(&q->head, m, __ATOMIC_RELEASE);
  q->tail = m;
  if (q == &l->to_sched && l->sched_sleeping) pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  return DAGR_OK;
}

static int pop(dagr__local *l, queue *q, void **buf, size_t *len) {
  /* Unlocked peek: a message missed here is seen on the next poll. */
  if (!__atomic_load_n(&q->head, __ATOMIC_ACQUIRE)) return DAGR__AGAIN;
  pthread_mutex_lock(&l->mu);
  lmsg *m = q->head;
  if (m) {
    __atomic_store_n(&q->head, m->next, __ATOMIC_RELEASE);
    if (!q->head) q->tail = NULL;
  }
  pthread_mutex_unlock(&l->mu);
  if (!m) return DAGR__AGAIN;
  *buf = m->buf;
  *len = m->len;
  free(m);
  return DAGR_OK;
}

static int s_send(void *impl, int worker, void *msg, size_t len) {
  dagr__local *l = impl;
  (void)worker;
  int rc = push(l, &l->to_worker, msg, len);
  if (rc == DAGR_OK) dagr__worker_wake(l->worker);
  return rc;
}

static int s_poll(void *impl, int *worker, void **msg, size_t *len) {
  dagr__local *l = impl;
  *worker = 0;
  int rc = pop(l, &l->to_sched, msg, len);
  /* A pool that stopped on an error will never answer: fail instead of waiting forever. */
  if (rc == DAGR__AGAIN && __atomic_load_n(&l->exited, __ATOMIC_ACQUIRE) && l->serve_rc) {
    snprintf(l->err, sizeof l->err, "the local worker pool stopped: %s",
             dagr_strerror(l->serve_rc));
    return l->serve_rc;
  }
  return rc;
}

static int s_read(void *impl, int worker, uint64_t offset, void *dst, size_t n) {
  dagr__local *l = impl;
  if (worker != 0 || offset > l->arena_bytes || n > l->arena_bytes - offset) return DAGR_EPROTO;
  memcpy(dst, (char *)l->arena + offset, n);
  return DAGR_OK;
}

static void s_idle(void *impl, unsigned idle) {
  dagr__local *l = impl;
  long ns = dagr__backoff_ns(idle);
  if (ns == 0) {
    sched_yield();
    return;
  }
  /* The worker signals when it queues a message, so a long sleep costs no latency. */
  pthread_mutex_lock(&l->mu);
  if (!l->to_sched.head) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    l->sched_sleeping = 1;
    int rc = 0;
    while (!l->to_sched.head && !l->exited && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    l->sched_sleeping = 0;
  }
  pthread_mutex_unlock(&l->mu);
}

static int w_send(void *impl, void *msg, size_t len) {
  dagr__local *l = impl;
  return push(l, &l->to_sched, msg, len);
}

static int w_poll(void *impl, void **msg, size_t *len) {
  dagr__local *l = impl;
  return pop(l, &l->to_worker, msg, len);
}

static int w_fetch_start(void *impl, uint32_t owner, uint64_t offset, void *dst, size_t n,
                         void **handle) {
  (void)impl, (void)owner, (void)offset, (void)dst, (void)n, (void)handle;
  return DAGR_EPROTO; /* one worker: nothing is ever remote */
}

static int w_fetch_test(void *impl, void *handle, int *done) {
  (void)impl, (void)handle;
  *done = 1;
  return DAGR_OK;
}

static void *serve_main(void *arg) {
  dagr__local *l = arg;
  l->serve_rc = dagr__worker_serve(l->worker, NULL);
  if (l->serve_rc)
    fprintf(stderr, "dagr: local worker pool stopped: %s\n", dagr_strerror(l->serve_rc));
  __atomic_store_n(&l->exited, 1, __ATOMIC_RELEASE);
  /* Wake a sleeping scheduler so it notices. */
  pthread_mutex_lock(&l->mu);
  if (l->sched_sleeping) pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

int dagr__local_start(const dagr_config_t *cfg, dagr__local **out, dagr__slink **slink,
                      dagr__boot *b, char *err, size_t errlen) {
  dagr__local *l = calloc(1, sizeof *l);
  if (!l) return DAGR_ENOMEM;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  /* A single process is its own host's only worker (under mpirun -np 1 the MPI boot has
   * planned it already). */
  dagr__placement *pl = b->placement;
  if (pl && !pl->topo) {
    int prc = dagr__placement_init(pl, 1, 0, 1, cfg->worker_threads, err, errlen);
    if (prc) {
      free(l);
      return prc;
    }
  }
  l->threads = 0;
  if (pl && pl->has_plan)
    for (int g = 0; g < pl->ngroups; g++) l->threads += pl->group_threads[g];
  if (l->threads < 1) l->threads = dagr__default_threads(cfg, 1);
  size_t numa = cfg->store_bytes ? 0 : dagr__placement_store_default(pl),
         node = dagr__default_store(cfg, 1);
  /* Never more than the node rule: a topology file may describe more memory than exists. */
  l->arena_bytes = numa >= DAGR__STORE_ALIGN && numa < node ? numa : node;
  /* Pages are only committed when objects touch them. */
  l->arena = mmap(NULL, l->arena_bytes, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (l->arena == MAP_FAILED) {
    int e = errno;
    free(l);
    return dagr__errf(err, errlen, DAGR_ESTORE_FULL,
                      "cannot reserve a %zu-byte object store: %s (set DAGR_STORE_BYTES lower)",
                      dagr__default_store(cfg, 1), strerror(e));
  }
  int rc = pl && pl->has_plan ? dagr__store_init_parts(&l->store, l->arena, l->arena_bytes,
                                                       pl->ngroups, pl->group_weight)
                              : dagr__store_init(&l->store, l->arena, l->arena_bytes);
  if (rc) goto fail;
  if (pl) dagr__placement_bind_store(pl, &l->store);
  l->slink = (dagr__slink){l, 1, s_send, s_poll, s_read, s_idle, l->err};
  l->wlink = (dagr__wlink){l, w_send, w_poll, w_fetch_start, w_fetch_test, NULL};
  if (gethostname(b->host, sizeof b->host) != 0) strcpy(b->host, "unknown");
  b->host[sizeof b->host - 1] = '\0';
  l->wcfg.rank = 0;
  l->wcfg.threads = l->threads;
  l->wcfg.inline_bytes = cfg->inline_bytes;
  l->wcfg.max_sleep_ns = 50 * 1000000L;
  l->wcfg.host = b->host;
  l->wcfg.placement = pl && pl->has_plan ? pl : NULL;
  if (!b->job_token[0]) dagr__job_token(b->job_token, sizeof b->job_token);
  l->wcfg.job_token = b->job_token;
  rc = dagr__worker_create(&l->wcfg, &l->wlink, &l->store, &l->worker);
  if (rc) goto fail_store;
  if (pthread_create(&l->thread, NULL, serve_main, l) != 0) {
    rc = DAGR_ESTATE;
    dagr__worker_destroy(l->worker);
    goto fail_store;
  }
  l->thread_ok = 1;
  b->rank = 0;
  b->nranks = 1;
  b->threads = l->threads;
  b->store_base = l->arena;
  b->store_bytes = l->arena_bytes;
  b->worker_threads = &l->threads;
  l->desc.threads = l->threads;
  l->desc.ngroups = pl && pl->has_plan ? pl->ngroups : 1;
  for (int g = 0; g < l->desc.ngroups; g++)
    l->desc.group_threads[g] = l->desc.ngroups == 1 ? l->threads : pl->group_threads[g];
  l->desc.store_bytes = l->arena_bytes;
  memcpy(l->desc.hostname, b->host, sizeof l->desc.hostname - 1); /* truncated: for reports */
  b->workers = &l->desc;
  *slink = &l->slink;
  *out = l;
  return DAGR_OK;
fail_store:
  dagr__store_destroy(&l->store);
fail:
  munmap(l->arena, l->arena_bytes);
  free(l);
  return dagr__errf(err, errlen, rc, "starting the local worker pool failed: %s",
                    dagr_strerror(rc));
}

int dagr__local_stop(dagr__local *l) {
  if (!l) return DAGR_OK;
  if (l->thread_ok) pthread_join(l->thread, NULL);
  if (dagr__worker_abandoned(l->worker)) {
    /* faults: a kernel past its time limit still runs on a thread of this process and may
     * still use the worker, its store and arena (all inside or under l): leave them allocated.
     */
    dagr__worker_destroy(l->worker);
    dagr__keep_alive(l);
    return l->serve_rc;
  }
  dagr__worker_destroy(l->worker);
  dagr__store_destroy(&l->store);
  munmap(l->arena, l->arena_bytes);
  for (queue *q = &l->to_worker; q; q = q == &l->to_worker ? &l->to_sched : NULL)
    for (lmsg *m = q->head, *next; m; m = next) {
      next = m->next;
      free(m->buf);
      free(m);
    }
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  int rc = l->serve_rc;
  free(l);
  return rc;
}

dagr__slink *dagr__local_slink(dagr__local *l) {
  return &l->slink;
}
