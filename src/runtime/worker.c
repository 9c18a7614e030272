/* worker.c: a worker's comm thread: decodes assignments, tracks local objects, fetches, reports. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "runtime/backoff.h"
#include "runtime/executor.h"
#include "runtime/kctx.h"
#include "runtime/registry.h"
#include "runtime/signals.h"
#include "runtime/timeout.h"
#include "runtime/worker.h"
#include "runtime/cleanup.h"
#include "runtime/slurm.h"
#include "runtime/wcb.h"
#include "store/spill.h"

/* Only the comm thread touches the object table, the task pool and the message references;
 * executor threads read object entries that are READY (immutable until released) and write only
 * their own task's result fields. The executor queue's mutex orders the two. */

/* SPILLED: written to the spill directory on the scheduler's SPILL order (it sends one only
 * for objects no assigned task reads), out of the store; read back when a local task needs it or
 * on RESTORE, and then announced with RESTORED so remote readers get its new offset. */
enum { OBJ_ABSENT = 0, OBJ_PENDING = 1, OBJ_FETCHING = 2, OBJ_READY = 3, OBJ_SPILLED = 4 };

typedef struct waiter {
  struct wtask *task;
  struct waiter *next;
} waiter;

typedef struct wobj {
  uint8_t state;
  uint8_t kind; /* DAGR__OUT_SCALAR or DAGR__OUT_STORE */
  uint8_t dtype;
  uint8_t ndim;
  uint8_t release_pending;
  uint8_t need_pull; /* store room reserved, pull not started yet */
  uint8_t pad[2];
  uint32_t refs; /* assigned local consumers not yet finished */
  uint64_t nbytes;
  uint64_t value; /* scalar bits, or store offset */
  int64_t *shape;
  waiter *waiters;
} wobj;

typedef struct msgref {
  void *buf;
  size_t len;
  uint32_t refs;
  struct msgref *next;
} msgref;

typedef struct wtask {
  dagr__job job; /* first: executors see tasks as jobs */
  struct wtask *next_free;
  msgref *msg;
  dagr__task_view tv;
  uint32_t missing;
  uint8_t registered; /* refs were taken on its dependencies */
  uint8_t queued;     /* handed to the executors */
  /* outcome, written by the executor */
  int status;
  uint32_t exec_us;
  int out_kind, dtype, ndim;
  int64_t shape[DAGR_MAX_NDIM];
  uint64_t value, offset, nbytes;
  char *errmsg;
  /* fetches done for it */
  uint64_t fetch_ns, fetch_bytes;
  uint32_t nfetch, fetch_max_us;
  /* faults: its time limit, watched by the comm thread, and whether it was given up on */
  dagr__watch_item watch;
  uint8_t abandoned;
  /* observability: when its kernel ran (worker clock) and on which executor thread */
  uint64_t start_ns, end_ns;
  uint64_t in_bytes;
  uint16_t thread;
} wtask;

typedef struct fetch {
  uint32_t obj;
  uint32_t owner; /* worker index it is pulled from */
  void *handle;
  uint64_t start_ns;
  wtask *first; /* task the time is charged to */
} fetch;

#define SLAB 1024

struct dagr__worker {
  dagr__worker_cfg cfg;
  dagr__wlink *link;
  dagr__store *store;
  dagr__exec exec;
  int exec_started;
  int ngroups; /* executor groups (NUMA domains) */

  uint32_t run;
  int in_run;
  int ending; /* RUN_END received: draining */
  uint32_t ntasks;
  wobj *obj;

  /* pools, reset at the end of each run */
  wtask **task_slabs;
  size_t ntask_slabs;
  wtask *free_tasks;
  waiter **waiter_slabs;
  size_t nwaiter_slabs;
  waiter *free_waiters;
  int64_t **shape_chunks;
  size_t nshape_chunks, shape_used; /* int64 slots used in the last chunk */
  msgref *msgs;

  fetch *fetches;
  size_t nfetches, cap_fetches;

  dagr__buf out;
  uint32_t out_n;
  dagr__buf restored; /* pending RESTORED notices */
  uint32_t restored_n;
  dagr__spill spill;
  int shutdown;
  int exit_status;
  /* faults: tasks with a time limit, and kernels still running past theirs (their threads are
   * stuck: the worker keeps that run's memory and takes no further run, `zombie`) */
  dagr__watch watch;
  uint32_t nabandoned;
  int zombie;
  /* observability: the scheduler asked (TRACE_ON) for this run's events, which the comm thread
   * gathers here and sends (TRACE) before RUN_ENDED. */
  uint32_t trace_run;
  int trace_on;
  dagr__buf tev;
  uint32_t tev_n;
  struct kept_msg {
    void *msg;
    size_t len;
  } * kept; /* finished TRACE messages, until TRACE_REQ */
  size_t nkept, cap_kept;
  uint64_t mem_last_ns, mem_last;
  char err[DAGR__ERRLEN];
};

/* The executor thread's index, for trace events and worker callbacks (set in thread_init). */
static _Thread_local uint16_t tls_thread;

static int tracing(const dagr__worker *w) {
  return w->trace_on && w->trace_run == w->run && w->in_run;
}

/* Appends one trace event; a failed allocation drops the event (tracing never fails a run). */
static int tev_flush(dagr__worker *w);

static inline void tev_add(dagr__worker *w, int type, uint32_t id, uint16_t arg, uint64_t t0,
                           uint64_t t1, uint64_t bytes, uint64_t in_bytes, int failed) {
  if (w->tev.len == 0) {
    /* A whole batch at once: no regrowth on the way. */
    if (dagr__buf_reserve(&w->tev, sizeof(dagr__msg_hdr) + DAGR__TEV_BATCH * sizeof(dagr__tev)) ||
        dagr__msg_begin(&w->tev, DAGR__MSG_TRACE, w->run, 0))
      return;
  }
  dagr__tev e = {
      t0, t1 < t0 ? t0 : t1, bytes, in_bytes, id, arg, (uint8_t)type, (uint8_t)(failed != 0)};
  if (dagr__enc_tev(&w->tev, &e) == DAGR_OK) w->tev_n++;
  /* Sent in batches while the run goes on, so its end does not wait for one big message. */
  if (w->tev_n >= DAGR__TEV_BATCH) (void)tev_flush(w);
}

/* Samples the store's use at most once a millisecond, and only when it changed. */
static void tev_mem(dagr__worker *w, int force) {
  uint64_t now = dagr__now_ns();
  if (!force && now - w->mem_last_ns < 1000000) return;
  uint64_t used = dagr__store_used(w->store);
  if (!force && used == w->mem_last) return;
  w->mem_last_ns = now;
  w->mem_last = used;
  tev_add(w, DAGR__TEV_MEM, 0, 0, now, now, used, 0, 0);
}

/* Finishes the events gathered so far as one TRACE message of the run, kept until TRACE_REQ. */
static int tev_flush(dagr__worker *w) {
  if (w->tev.len == 0) return DAGR_OK;
  if (w->nkept == w->cap_kept) {
    size_t c = w->cap_kept ? w->cap_kept * 2 : 16;
    struct kept_msg *k = realloc(w->kept, c * sizeof *k);
    if (!k) {
      dagr__buf_free(&w->tev);
      w->tev_n = 0;
      return DAGR_ENOMEM;
    }
    w->kept = k;
    w->cap_kept = c;
  }
  if (dagr__msg_finish(&w->tev, w->tev_n)) {
    dagr__buf_free(&w->tev);
    w->tev_n = 0;
    return DAGR_ENOMEM;
  }
  size_t len;
  void *msg = dagr__buf_take(&w->tev, &len);
  w->tev_n = 0;
  w->kept[w->nkept++] = (struct kept_msg){msg, len};
  return DAGR_OK;
}

/* The run's last events (losing them for lack of memory loses events, not the run). */
static void tev_end_run(dagr__worker *w) {
  if (!w->trace_on || w->trace_run != w->run) return;
  w->trace_on = 0;
  (void)tev_flush(w);
}

static int send_ctrl(dagr__worker *w, int type, uint32_t run);

/* TRACE_REQ: every kept TRACE message, then TRACE_END. */
static int tev_send_all(dagr__worker *w) {
  int rc = DAGR_OK;
  for (size_t i = 0; i < w->nkept; i++) {
    if (rc == DAGR_OK)
      rc = w->link->send(w->link->impl, w->kept[i].msg, w->kept[i].len); /* takes it */
    else
      free(w->kept[i].msg);
  }
  w->nkept = 0;
  return rc ? rc : send_ctrl(w, DAGR__MSG_TRACE_END, 0);
}

#define SHAPE_CHUNK 8192

static int64_t *shape_copy(dagr__worker *w, const int64_t *shape, int ndim) {
  if (ndim == 0) return NULL;
  if (w->nshape_chunks == 0 || w->shape_used + (size_t)ndim > SHAPE_CHUNK) {
    int64_t **c = realloc(w->shape_chunks, (w->nshape_chunks + 1) * sizeof *c);
    if (!c) return NULL;
    w->shape_chunks = c;
    c[w->nshape_chunks] = malloc(SHAPE_CHUNK * sizeof(int64_t));
    if (!c[w->nshape_chunks]) return NULL;
    w->nshape_chunks++;
    w->shape_used = 0;
  }
  int64_t *s = w->shape_chunks[w->nshape_chunks - 1] + w->shape_used;
  memcpy(s, shape, (size_t)ndim * sizeof *s);
  w->shape_used += (size_t)ndim;
  return s;
}

static wtask *task_get(dagr__worker *w) {
  if (!w->free_tasks) {
    wtask **s = realloc(w->task_slabs, (w->ntask_slabs + 1) * sizeof *s);
    if (!s) return NULL;
    w->task_slabs = s;
    wtask *slab = calloc(SLAB, sizeof *slab);
    if (!slab) return NULL;
    s[w->ntask_slabs++] = slab;
    for (size_t i = 0; i < SLAB; i++) {
      slab[i].next_free = w->free_tasks;
      w->free_tasks = &slab[i];
    }
  }
  wtask *t = w->free_tasks;
  w->free_tasks = t->next_free;
  memset(t, 0, sizeof *t);
  return t;
}

static void msg_unref(dagr__worker *w, msgref *m) {
  (void)w;
  if (--m->refs == 0) {
    free(m->buf);
    m->buf = NULL;
  }
}

static void task_put(dagr__worker *w, wtask *t) {
  dagr__watch_remove(&w->watch, &t->watch);
  free(t->errmsg);
  t->errmsg = NULL;
  if (t->msg) msg_unref(w, t->msg);
  t->msg = NULL;
  t->next_free = w->free_tasks;
  w->free_tasks = t;
}

static waiter *waiter_get(dagr__worker *w) {
  if (!w->free_waiters) {
    waiter **s = realloc(w->waiter_slabs, (w->nwaiter_slabs + 1) * sizeof *s);
    if (!s) return NULL;
    w->waiter_slabs = s;
    waiter *slab = malloc(SLAB * sizeof *slab);
    if (!slab) return NULL;
    s[w->nwaiter_slabs++] = slab;
    for (size_t i = 0; i < SLAB; i++) {
      slab[i].next = w->free_waiters;
      w->free_waiters = &slab[i];
    }
  }
  waiter *x = w->free_waiters;
  w->free_waiters = x->next;
  return x;
}

/* ---------------------------------------------------------------------------------------------
 * Executor side: run one task.
 * ------------------------------------------------------------------------------------------- */

static void view_of_obj(const dagr__worker *w, const wobj *o, dagr_view_t *v) {
  v->data = o->kind == DAGR__OUT_SCALAR ? (const void *)&o->value
            : o->kind == DAGR__OUT_FILE ? (const void *)(uintptr_t)o->value
                                        : w->store->base + o->value;
  v->nbytes = o->nbytes;
  v->dtype = o->dtype;
  v->ndim = o->ndim;
  for (int i = 0; i < o->ndim; i++) v->shape[i] = o->shape[i];
}

static void run_task(dagr__job *job, void *arg) {
  dagr__worker *w = arg;
  wtask *t = (wtask *)job;
  dagr_view_t local[16], *views = local;
  char errmsg[DAGR__ERRLEN];
  uint32_t n = t->tv.ndeps;
  if (n > 16) {
    views = malloc(n * sizeof *views);
    if (!views) {
      t->status = DAGR_ENOMEM;
      t->errmsg = strdup("out of memory building the kernel's input views");
      return;
    }
  }
  const unsigned char *p = t->tv.deps;
  uint64_t in_bytes = 0;
  for (uint32_t i = 0; i < n; i++) {
    dagr__dep d;
    (void)dagr__dec_dep_next(&p, t->tv.end, &d); /* validated on arrival */
    dagr_view_t *v = &views[i];
    if (d.kind == DAGR__DEP_SCALAR || d.kind == DAGR__DEP_INLINE) {
      v->data = d.data;
      v->nbytes = d.nbytes;
      v->dtype = d.dtype;
      v->ndim = d.ndim;
      for (int j = 0; j < d.ndim; j++) memcpy(&v->shape[j], &d.shape[j], 8);
    } else {
      view_of_obj(w, &w->obj[d.obj], v);
    }
    in_bytes += v->nbytes;
  }
  t->in_bytes = in_bytes;
  dagr_kctx_t k = {0};
  k.rank = w->cfg.rank;
  k.ninputs = (int)n;
  k.inputs = views;
  k.params = t->tv.params;
  k.params_len = t->tv.params_len;
  k.store = w->store;
  k.spill = &w->spill;
  k.run = w->run;
  k.group = t->job.group;
  k.errmsg = errmsg;
  k.key = t->tv.key;
  k.keylen = t->tv.keylen;
  k.task = t->tv.task;
  k.kernel = t->tv.kernel;
  dagr__watch_started(&t->watch);
  t->thread = tls_thread;
  dagr__wcb_task wcb = {0};
  if (dagr__wcb_any()) {
    dagr__wcb_begin(&wcb, t->tv.key, t->tv.keylen, t->tv.kernel, w->cfg.rank, tls_thread);
    dagr__wcb_pretask(&wcb);
  }
  uint64_t t0 = dagr__now_ns();
  int rc = dagr__kctx_invoke(&k, dagr__registry_fn(t->tv.kernel));
  uint64_t t1 = dagr__now_ns(), dt = t1 - t0;
  t->start_ns = t0;
  t->end_ns = t1;
  if (dagr__wcb_any())
    dagr__wcb_posttask(&wcb, 1e-9 * (double)dt, rc == DAGR_OK ? k.out_nbytes : 0, rc);
  t->exec_us = dt / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(dt / 1000);
  t->status = rc;
  if (rc == DAGR_OK) {
    t->out_kind = k.out_kind;
    t->dtype = k.out_dtype;
    t->ndim = k.out_ndim;
    memcpy(t->shape, k.out_shape, sizeof t->shape);
    t->value = k.out_value;
    t->offset = k.out_offset;
    t->nbytes = k.out_nbytes;
  } else {
    t->errmsg = strdup(errmsg);
  }
  if (views != local) free(views);
}

/* ---------------------------------------------------------------------------------------------
 * Comm thread.
 * ------------------------------------------------------------------------------------------- */

static void report(dagr__worker *w, const dagr__done_view *d) {
  if (w->out_n == 0 && dagr__msg_begin(&w->out, DAGR__MSG_DONE, w->run, 0)) goto oom;
  if (dagr__enc_done(&w->out, d)) goto oom;
  w->out_n++;
  return;
oom:
  fprintf(stderr, "dagr worker rank %d: out of memory encoding a completion\n", w->cfg.rank);
}

/* Finishes a batch of *n records in b and sends it (nothing when empty). */
static int send_batch(dagr__worker *w, dagr__buf *b, uint32_t *n) {
  if (*n == 0) return DAGR_OK;
  if (dagr__msg_finish(b, *n)) return DAGR_ENOMEM;
  size_t len;
  void *msg = dagr__buf_take(b, &len);
  *n = 0;
  return w->link->send(w->link->impl, msg, len);
}

static int flush(dagr__worker *w) {
  return send_batch(w, &w->out, &w->out_n);
}

static void push_ready(dagr__worker *w, wtask **head, wtask **tail, size_t *n, wtask *t) {
  (void)w;
  if (t->queued) return;
  t->queued = 1;
  t->job.next = NULL;
  if (*tail)
    (*tail)->job.next = &t->job;
  else
    *head = t;
  *tail = t;
  (*n)++;
}

/* Hands ready tasks to the executors. */
static int push_jobs(dagr__worker *w, wtask *head) {
  dagr__job *rejected;
  int rc = dagr__exec_push(&w->exec, &head->job, &rejected);
  if (rc) fprintf(stderr, "dagr worker rank %d: out of memory queueing tasks\n", w->cfg.rank);
  return rc;
}

static void report_failure(dagr__worker *w, uint32_t task, int status, const char *msg);

/* faults: fails every running task past its time limit. Its kernel cannot be stopped: the
 * thread stays in it (abandoned) and the task's completion, if it ever comes, is ignored. */
static void check_timeouts(dagr__worker *w) {
  uint64_t now = dagr__now_ns();
  dagr__watch_item *it;
  while ((it = dagr__watch_expired(&w->watch, now)) != NULL) {
    wtask *t = (wtask *)(void *)((char *)it - offsetof(wtask, watch));
    uint64_t start = __atomic_load_n(&it->start_ns, __ATOMIC_ACQUIRE);
    char msg[200];
    snprintf(msg, sizeof msg,
             "its kernel was still running after %.2f s; the thread running it is abandoned",
             (double)(now - start) / 1e9);
    t->abandoned = 1;
    w->nabandoned++;
    report_failure(w, t->tv.task, DAGR_ETIMEOUT, msg);
  }
}

static void report_failure(dagr__worker *w, uint32_t task, int status, const char *msg) {
  dagr__done_view d = {0};
  d.task = task;
  d.status = status;
  d.flags = DAGR__DONE_ERROR;
  d.errmsg = msg;
  report(w, &d);
}

/* An object larger than the store lives in a mapped spill file: unmap and remove it. */
static void drop_file(dagr__worker *w, wobj *o, uint32_t id) {
  dagr__spill_unmap((void *)(uintptr_t)o->value, o->nbytes);
  dagr__spill_remove(&w->spill, w->run, id);
  o->value = 0;
}

/* Drops a dependency reference taken at assignment; frees a released object when unused. */
static void unref(dagr__worker *w, wobj *o) {
  if (o->refs > 0) o->refs--;
  if (o->refs == 0 && o->release_pending && o->state == OBJ_READY) {
    if (o->kind == DAGR__OUT_STORE) dagr__store_free(w->store, o->value);
    if (o->kind == DAGR__OUT_FILE) drop_file(w, o, (uint32_t)(o - w->obj));
    o->state = OBJ_ABSENT;
    o->release_pending = 0;
  }
}

static void complete(dagr__worker *w, wtask *t, wtask **rh, wtask **rt, size_t *rn) {
  if (t->registered) {
    const unsigned char *p = t->tv.deps;
    for (uint32_t i = 0; i < t->tv.ndeps; i++) {
      dagr__dep d;
      (void)dagr__dec_dep_next(&p, t->tv.end, &d);
      if (d.kind == DAGR__DEP_LOCAL || d.kind == DAGR__DEP_REMOTE) unref(w, &w->obj[d.obj]);
    }
  }
  if (tracing(w)) {
    tev_add(w, DAGR__TEV_TASK, t->tv.task, t->thread, t->start_ns, t->end_ns,
            t->status == DAGR_OK ? t->nbytes : 0, t->in_bytes, t->status != DAGR_OK);
    /* An output larger than the store was written to its spill file by the kernel itself. */
    if (t->status == DAGR_OK && t->out_kind == DAGR__OUT_FILE)
      tev_add(w, DAGR__TEV_SPILL, t->tv.task, 0, t->start_ns, t->end_ns, t->nbytes, 0, 0);
  }
  dagr__done_view d = {0};
  d.task = t->tv.task;
  d.status = t->status;
  d.exec_us = t->exec_us;
  if (t->nfetch) {
    d.flags |= DAGR__DONE_FETCH;
    d.fetch_ns = t->fetch_ns;
    d.fetch_bytes = t->fetch_bytes;
    d.nfetch = t->nfetch;
    d.fetch_max_us = t->fetch_max_us;
  }
  if (t->status != DAGR_OK) {
    d.flags |= DAGR__DONE_ERROR;
    d.errmsg = t->errmsg ? t->errmsg : "kernel failed";
    report(w, &d);
    return; /* the object stays PENDING: a retry will produce it */
  }
  wobj *o = &w->obj[t->tv.task];
  o->kind = (uint8_t)t->out_kind;
  o->dtype = (uint8_t)t->dtype;
  o->ndim = (uint8_t)t->ndim;
  o->nbytes = t->nbytes;
  o->value = t->out_kind == DAGR__OUT_SCALAR ? t->value : t->offset;
  o->shape = shape_copy(w, t->shape, t->ndim);
  o->state = OBJ_READY;
  d.dtype = t->dtype;
  d.ndim = t->ndim;
  d.shape = t->shape;
  d.nbytes = t->nbytes;
  if (t->out_kind == DAGR__OUT_SCALAR) {
    d.flags |= DAGR__DONE_SCALAR;
    d.value = t->value;
  } else if (t->out_kind == DAGR__OUT_FILE) {
    d.flags |= DAGR__DONE_FILE;
  } else if (t->nbytes <= w->cfg.inline_bytes) {
    d.flags |= DAGR__DONE_INLINE;
    d.data = w->store->base + t->offset;
  } else {
    d.flags |= DAGR__DONE_STORE;
    d.offset = t->offset;
  }
  report(w, &d);
  for (waiter *x = o->waiters, *next; x; x = next) {
    next = x->next;
    if (--x->task->missing == 0) push_ready(w, rh, rt, rn, x->task);
    x->next = w->free_waiters;
    w->free_waiters = x;
  }
  o->waiters = NULL;
}

static int add_waiter(dagr__worker *w, wobj *o, wtask *t) {
  waiter *x = waiter_get(w);
  if (!x) return DAGR_ENOMEM;
  x->task = t;
  x->next = o->waiters;
  o->waiters = x;
  t->missing++;
  return DAGR_OK;
}

static int start_fetch(dagr__worker *w, uint32_t id, const dagr__dep *d, wtask *t) {
  if (w->nfetches == w->cap_fetches) {
    size_t cap = w->cap_fetches ? w->cap_fetches * 2 : 16;
    fetch *f = realloc(w->fetches, cap * sizeof *f);
    if (!f) return DAGR_ENOMEM;
    w->fetches = f;
    w->cap_fetches = cap;
  }
  wobj *o = &w->obj[id];
  fetch *f = &w->fetches[w->nfetches];
  f->obj = id;
  f->owner = d->owner;
  f->first = t;
  f->start_ns = dagr__now_ns();
  int rc = w->link->fetch_start(w->link->impl, d->owner, d->offset, w->store->base + o->value,
                                d->nbytes, &f->handle);
  if (rc) return rc;
  w->nfetches++;
  o->state = OBJ_FETCHING;
  return DAGR_OK;
}

/* Marks pull i finished: charges its time, wakes the tasks waiting for the object. */
static void fetch_done(dagr__worker *w, size_t i, wtask **rh, wtask **rt, size_t *rn) {
  fetch *f = &w->fetches[i];
  uint64_t now = dagr__now_ns(), dt = now - f->start_ns;
  wobj *o = &w->obj[f->obj];
  if (tracing(w))
    tev_add(w, DAGR__TEV_XFER, f->obj, (uint16_t)f->owner, f->start_ns, now, o->nbytes, 0, 0);
  if (!w->ending) {
    f->first->fetch_ns += dt;
    f->first->fetch_bytes += o->nbytes;
    f->first->nfetch++;
    uint64_t us = dt / 1000;
    if (us > f->first->fetch_max_us) f->first->fetch_max_us = us > UINT32_MAX ? UINT32_MAX : us;
    o->state = OBJ_READY;
    for (waiter *x = o->waiters, *next; x; x = next) {
      next = x->next;
      if (--x->task->missing == 0) push_ready(w, rh, rt, rn, x->task);
      x->next = w->free_waiters;
      w->free_waiters = x;
    }
    o->waiters = NULL;
  }
  w->fetches[i] = w->fetches[--w->nfetches];
}

static int poll_fetches(dagr__worker *w, wtask **rh, wtask **rt, size_t *rn) {
  int progressed = 0;
  for (size_t i = 0; i < w->nfetches;) {
    int done = 0;
    int rc = w->link->fetch_test(w->link->impl, w->fetches[i].handle, &done);
    if (rc) return rc;
    if (!done) {
      i++;
      continue;
    }
    progressed = 1;
    fetch_done(w, i, rh, rt, rn);
  }
  return progressed;
}

static int restore_obj(dagr__worker *w, uint32_t id, int group);
static int send_text(dagr__worker *w, int type, const char *text);

/* Takes a task assignment: references, waits and fetches for its dependencies. */
static int accept_task(dagr__worker *w, msgref *m, const dagr__task_view *tv, wtask **rh,
                       wtask **rt, size_t *rn) {
  wtask *t = task_get(w);
  if (!t) return DAGR_ENOMEM;
  t->tv = *tv;
  t->job.prio = tv->task;
  /* The scheduler names the executor group (NUMA domain) in the record's flags. */
  t->job.group = tv->flags < w->ngroups ? tv->flags : 0;
  t->msg = m;
  m->refs++;
  if (tv->kernel >= dagr__registry_count() || tv->task >= w->ntasks) {
    report_failure(w, tv->task, DAGR_EPROTO, "assignment names an unknown kernel or task id");
    task_put(w, t);
    return DAGR_OK;
  }
  /* Pass 1: check ids and reserve store room for pulls, so a full store fails only this task. */
  const unsigned char *p = tv->deps;
  dagr__dep d;
  int rc = DAGR_OK;
  for (uint32_t i = 0; i < tv->ndeps && rc == DAGR_OK; i++) {
    (void)dagr__dec_dep_next(&p, tv->end, &d);
    if ((d.kind == DAGR__DEP_LOCAL || d.kind == DAGR__DEP_REMOTE) && d.obj >= w->ntasks) {
      rc = DAGR_EPROTO;
      snprintf(w->err, sizeof w->err, "dependency id %u out of range", d.obj);
    } else if (d.kind == DAGR__DEP_LOCAL && w->obj[d.obj].state == OBJ_SPILLED) {
      rc = restore_obj(w, d.obj, t->job.group);
      if (rc == DAGR_ESTORE_FULL) {
        /* Still spilled: tell the scheduler (it counted it as coming back). */
        if ((w->restored_n == 0 && dagr__msg_begin(&w->restored, DAGR__MSG_RESTORED, w->run, 0)) ||
            dagr__enc_restored(&w->restored, d.obj, UINT64_MAX))
          return DAGR_ENOMEM;
        w->restored_n++;
      }
      if (rc == DAGR_EIO) {
        char text[DAGR__ERRLEN + 64];
        snprintf(text, sizeof text, "worker rank %d: %s", w->cfg.rank, w->err);
        (void)send_text(w, DAGR__MSG_FAULT, text);
      }
    } else if (d.kind == DAGR__DEP_LOCAL && w->obj[d.obj].state == OBJ_ABSENT) {
      rc = DAGR_EPROTO;
      snprintf(w->err, sizeof w->err, "local dependency %u is not on worker rank %d", d.obj,
               w->cfg.rank);
    } else if (d.kind == DAGR__DEP_REMOTE && w->obj[d.obj].state == OBJ_ABSENT) {
      wobj *o = &w->obj[d.obj];
      uint64_t off;
      /* Pulled inputs land in the store part of the domain that will read them. */
      rc = dagr__store_alloc_in(w->store, t->job.group, d.nbytes, &off, NULL);
      if (rc) {
        snprintf(w->err, sizeof w->err,
                 "no room in the object store of worker rank %d (%zu bytes, %zu in use) for a "
                 "%llu-byte input",
                 w->cfg.rank, w->store->size, dagr__store_used(w->store),
                 (unsigned long long)d.nbytes);
        break;
      }
      o->state = OBJ_FETCHING; /* reserved; the pull starts in pass 2 */
      o->kind = DAGR__OUT_STORE;
      o->value = off;
      o->nbytes = d.nbytes;
      o->dtype = (uint8_t)d.dtype;
      o->ndim = (uint8_t)d.ndim;
      int64_t shape[DAGR_MAX_NDIM];
      memcpy(shape, d.shape, 8 * (size_t)d.ndim);
      o->shape = shape_copy(w, shape, d.ndim);
      o->refs = 0;
      o->waiters = NULL;
      o->release_pending = 0;
      o->need_pull = 1;
    }
  }
  if (rc) {
    /* Undo this call's reservations, so a later assignment pulls them afresh, and keep the
     * task's own object pending: a retry, or the end of the run, settles its consumers. */
    p = tv->deps;
    for (uint32_t i = 0; i < tv->ndeps; i++) {
      (void)dagr__dec_dep_next(&p, tv->end, &d);
      if (d.kind != DAGR__DEP_REMOTE || d.obj >= w->ntasks) continue;
      wobj *o = &w->obj[d.obj];
      if (!o->need_pull) continue;
      dagr__store_free(w->store, o->value);
      o->need_pull = 0;
      o->state = OBJ_ABSENT;
    }
    if (tv->task < w->ntasks && w->obj[tv->task].state == OBJ_ABSENT)
      w->obj[tv->task].state = OBJ_PENDING;
    report_failure(w, tv->task, rc, w->err);
    task_put(w, t);
    return rc == DAGR_ENOMEM ? rc : DAGR_OK;
  }
  /* Pass 2: take references, register waits, start pulls. The guard count keeps a pull that
   * finishes at once from queueing the task before its other inputs are accounted for. */
  t->registered = 1;
  t->missing = 1;
  p = tv->deps;
  for (uint32_t i = 0; i < tv->ndeps; i++) {
    (void)dagr__dec_dep_next(&p, tv->end, &d);
    if (d.kind != DAGR__DEP_LOCAL && d.kind != DAGR__DEP_REMOTE) continue;
    wobj *o = &w->obj[d.obj];
    o->refs++;
    if (o->state == OBJ_READY) continue;
    if (add_waiter(w, o, t)) return DAGR_ENOMEM;
    if (d.kind == DAGR__DEP_REMOTE && o->need_pull) {
      o->need_pull = 0;
      rc = start_fetch(w, d.obj, &d, t);
      if (rc) return rc;
      /* Shared-memory windows often complete the pull inside the call: see it at once. */
      int done = 0;
      rc = w->link->fetch_test(w->link->impl, w->fetches[w->nfetches - 1].handle, &done);
      if (rc) return rc;
      if (done) fetch_done(w, w->nfetches - 1, rh, rt, rn);
    }
  }
  /* faults: watched from here until it comes back (task_put); its clock starts with the kernel. */
  t->watch.limit_ms = tv->timeout_ms;
  if (t->watch.limit_ms && dagr__watch_add(&w->watch, &t->watch)) return DAGR_ENOMEM;
  wobj *self = &w->obj[tv->task];
  if (self->state == OBJ_ABSENT) self->state = OBJ_PENDING;
  if (--t->missing == 0) push_ready(w, rh, rt, rn, t);
  return DAGR_OK;
}

static int begin_run(dagr__worker *w, uint32_t run, uint32_t ntasks) {
  w->obj = calloc(ntasks ? ntasks : 1, sizeof *w->obj);
  if (!w->obj) return DAGR_ENOMEM;
  w->run = run;
  w->ntasks = ntasks;
  w->in_run = 1;
  return DAGR_OK;
}

static int handle_assign(dagr__worker *w, void *buf, size_t len, const dagr__msg_hdr *h) {
  if (w->zombie) {
    /* faults: the driver refuses runs after a timeout; one arriving anyway must not hang. */
    fprintf(stderr,
            "dagr worker rank %d: refusing run %u: a kernel that ran past its timeout still "
            "runs here\n",
            w->cfg.rank, h->run);
    free(buf);
    return DAGR_ESTATE;
  }
  if (w->ending && h->run == w->run) {
    free(buf);
    return DAGR_OK;
  }
  if (!w->in_run || h->run != w->run) {
    if (w->in_run) {
      fprintf(stderr, "dagr worker rank %d: run %u started before run %u ended\n", w->cfg.rank,
              h->run, w->run);
      free(buf);
      return DAGR_EPROTO;
    }
    int rc = begin_run(w, h->run, h->ntasks);
    if (rc) {
      free(buf);
      return rc;
    }
  }
  msgref *m = malloc(sizeof *m);
  if (!m) {
    free(buf);
    return DAGR_ENOMEM;
  }
  m->buf = buf;
  m->len = len;
  m->refs = 1; /* held while decoding */
  m->next = w->msgs;
  w->msgs = m;
  wtask *rh = NULL, *rt = NULL;
  size_t rn = 0;
  size_t pos = sizeof(dagr__msg_hdr);
  int rc = DAGR_OK;
  for (uint32_t i = 0; i < h->count && rc == DAGR_OK; i++) {
    dagr__task_view tv;
    (void)dagr__dec_task(buf, len, &pos, &tv); /* validated before */
    rc = accept_task(w, m, &tv, &rh, &rt, &rn);
  }
  msg_unref(w, m);
  if (rn && rc == DAGR_OK) rc = push_jobs(w, rh);
  return rc;
}

/* Queues a RESTORED notice: obj is in the store at its offset. */
static int note_restored(dagr__worker *w, uint32_t id) {
  if (w->restored_n == 0 && dagr__msg_begin(&w->restored, DAGR__MSG_RESTORED, w->run, 0))
    return DAGR_ENOMEM;
  if (dagr__enc_restored(&w->restored, id, w->obj[id].value)) return DAGR_ENOMEM;
  w->restored_n++;
  return DAGR_OK;
}

static int flush_restored(dagr__worker *w) {
  return send_batch(w, &w->restored, &w->restored_n);
}

/* Reads a spilled object back into the store part of `group`. Errors: DAGR_ESTORE_FULL,
 * DAGR_EIO (message in w->err). */
static int restore_obj(dagr__worker *w, uint32_t id, int group) {
  wobj *o = &w->obj[id];
  uint64_t off;
  int rc = dagr__store_alloc_in(w->store, group, o->nbytes, &off, NULL);
  if (rc) {
    snprintf(w->err, sizeof w->err,
             "no room in the object store of worker rank %d (%zu bytes, %zu in use) to read "
             "back a %llu-byte spilled object",
             w->cfg.rank, w->store->size, dagr__store_used(w->store),
             (unsigned long long)o->nbytes);
    return rc;
  }
  uint64_t t0 = dagr__now_ns();
  rc = dagr__spill_read(&w->spill, w->run, id, w->store->base + off, o->nbytes, w->err,
                        sizeof w->err);
  if (rc == DAGR_OK && tracing(w))
    tev_add(w, DAGR__TEV_RESTORE, id, 0, t0, dagr__now_ns(), o->nbytes, 0, 0);
  if (rc) {
    dagr__store_free(w->store, off);
    return rc;
  }
  dagr__spill_remove(&w->spill, w->run, id);
  o->value = off;
  o->state = OBJ_READY;
  return note_restored(w, id);
}

/* SPILL: writes each named object to the spill directory and frees its store room. An object a
 * local task still uses stays (and is announced RESTORED, so the scheduler's view agrees). A
 * failed write ends the run with a FAULT naming the directory. */
static int handle_spill(dagr__worker *w, const void *buf, size_t len, const dagr__msg_hdr *h) {
  if (!w->in_run || h->run != w->run) return DAGR_OK;
  size_t pos = sizeof(dagr__msg_hdr);
  for (uint32_t i = 0; i < h->count; i++) {
    uint32_t id;
    if (dagr__dec_u32(buf, len, &pos, &id) || id >= w->ntasks) return DAGR_OK;
    wobj *o = &w->obj[id];
    if (o->state != OBJ_READY || o->kind != DAGR__OUT_STORE) continue;
    if (o->refs > 0 || o->release_pending) {
      int rc = note_restored(w, id);
      if (rc) return rc;
      continue;
    }
    uint64_t t0 = dagr__now_ns();
    int rc = dagr__spill_write(&w->spill, w->run, id, w->store->base + o->value, o->nbytes, w->err,
                               sizeof w->err);
    if (rc == DAGR_OK && tracing(w))
      tev_add(w, DAGR__TEV_SPILL, id, 0, t0, dagr__now_ns(), o->nbytes, 0, 0);
    if (rc) {
      char text[DAGR__ERRLEN + 64];
      snprintf(text, sizeof text, "worker rank %d: %s", w->cfg.rank, w->err);
      (void)note_restored(w, id);
      return send_text(w, DAGR__MSG_FAULT, text);
    }
    dagr__store_free(w->store, o->value);
    o->state = OBJ_SPILLED;
  }
  return DAGR_OK;
}

/* RESTORE: reads the named spilled objects back (a task on another worker will pull them). */
static int handle_restore(dagr__worker *w, const void *buf, size_t len, const dagr__msg_hdr *h) {
  if (!w->in_run || h->run != w->run) return DAGR_OK;
  size_t pos = sizeof(dagr__msg_hdr);
  for (uint32_t i = 0; i < h->count; i++) {
    uint32_t id;
    if (dagr__dec_u32(buf, len, &pos, &id) || id >= w->ntasks) return DAGR_OK;
    wobj *o = &w->obj[id];
    if (o->kind == DAGR__OUT_FILE) {
      char text[DAGR__ERRLEN];
      snprintf(text, sizeof text,
               "worker rank %d: an object of %llu bytes is larger than this worker's store (%zu "
               "bytes), so a task on another worker cannot read it; run its consumers here (or "
               "give the workers larger stores: DAGR_STORE_BYTES)",
               w->cfg.rank, (unsigned long long)o->nbytes, w->store->size);
      return send_text(w, DAGR__MSG_FAULT, text);
    }
    int rc = o->state == OBJ_SPILLED ? restore_obj(w, id, 0)
             : o->state == OBJ_READY ? note_restored(w, id)
                                     : DAGR_OK;
    if (rc == DAGR_ENOMEM) return rc;
    if (rc == DAGR_ESTORE_FULL) {
      /* No room now: say so (offset UINT64_MAX); the scheduler spills more and asks again. */
      if (w->restored_n == 0 && dagr__msg_begin(&w->restored, DAGR__MSG_RESTORED, w->run, 0))
        return DAGR_ENOMEM;
      if (dagr__enc_restored(&w->restored, id, UINT64_MAX)) return DAGR_ENOMEM;
      w->restored_n++;
      continue;
    }
    if (rc) {
      char text[DAGR__ERRLEN + 64];
      snprintf(text, sizeof text, "worker rank %d: %s", w->cfg.rank, w->err);
      return send_text(w, DAGR__MSG_FAULT, text);
    }
  }
  return DAGR_OK;
}

static void handle_release(dagr__worker *w, const void *buf, size_t len, const dagr__msg_hdr *h) {
  if (!w->in_run || h->run != w->run) return;
  size_t pos = sizeof(dagr__msg_hdr);
  for (uint32_t i = 0; i < h->count; i++) {
    uint32_t id;
    if (dagr__dec_u32(buf, len, &pos, &id) || id >= w->ntasks) return;
    wobj *o = &w->obj[id];
    if (o->state == OBJ_SPILLED) {
      dagr__spill_remove(&w->spill, w->run, id);
      o->state = OBJ_ABSENT;
      continue;
    }
    if (o->state != OBJ_READY) continue;
    o->release_pending = 1;
    o->refs++;
    unref(w, o);
  }
}

static int send_ctrl(dagr__worker *w, int type, uint32_t run);

/* Frees everything of the current run once no executor or pull still uses it. */
static int finish_run_end(dagr__worker *w) {
  if (tracing(w)) tev_mem(w, 1);
  tev_end_run(w);
  for (uint32_t i = 0; i < w->ntasks; i++)
    if (w->obj[i].kind == DAGR__OUT_FILE && w->obj[i].state == OBJ_READY && w->obj[i].value)
      dagr__spill_unmap((void *)(uintptr_t)w->obj[i].value, w->obj[i].nbytes);
  dagr__watch_clear(&w->watch);
  if (w->nabandoned) {
    /* faults: a kernel past its time limit still runs and may still read its inputs and write
     * its task record and output: keep this run's memory as it is and take no further run
     * (the driver refuses them after a timeout). */
    w->zombie = 1;
    w->in_run = 0;
    w->ending = 0;
    return send_ctrl(w, DAGR__MSG_RUN_ENDED, w->run);
  }
  free(w->obj);
  w->obj = NULL;
  w->ntasks = 0;
  for (msgref *m = w->msgs, *next; m; m = next) {
    next = m->next;
    free(m->buf);
    free(m);
  }
  w->msgs = NULL;
  w->free_tasks = NULL;
  for (size_t s = 0; s < w->ntask_slabs; s++)
    for (size_t i = 0; i < SLAB; i++) {
      wtask *t = &w->task_slabs[s][i];
      t->next_free = w->free_tasks;
      w->free_tasks = t;
    }
  w->free_waiters = NULL;
  for (size_t s = 0; s < w->nwaiter_slabs; s++)
    for (size_t i = 0; i < SLAB; i++) {
      w->waiter_slabs[s][i].next = w->free_waiters;
      w->free_waiters = &w->waiter_slabs[s][i];
    }
  if (w->nshape_chunks > 1) {
    for (size_t i = 1; i < w->nshape_chunks; i++) free(w->shape_chunks[i]);
    w->nshape_chunks = 1;
  }
  w->shape_used = 0;
  dagr__spill_clear(&w->spill);
  w->restored_n = 0;
  w->restored.len = 0;
  int rc = dagr__store_reset(w->store);
  w->in_run = 0;
  w->ending = 0;
  int src = send_ctrl(w, DAGR__MSG_RUN_ENDED, w->run);
  return rc ? rc : src;
}

static void drop_unfinished(dagr__worker *w) {
  /* Queued jobs never start; running ones finish and are discarded as they come back. Tasks
   * still waiting for dependencies are reclaimed with the pools at the end of the run. */
  dagr__job *j = dagr__exec_drop_queued(&w->exec);
  while (j) {
    dagr__job *next = j->next;
    wtask *t = (wtask *)j;
    free(t->errmsg);
    t->errmsg = NULL;
    j = next;
  }
}

static int send_ctrl(dagr__worker *w, int type, uint32_t run) {
  dagr__buf b = {0};
  if (dagr__msg_begin(&b, type, run, 0) || dagr__msg_finish(&b, 0)) {
    dagr__buf_free(&b);
    return DAGR_ENOMEM;
  }
  size_t len;
  void *msg = dagr__buf_take(&b, &len);
  return w->link->send(w->link->impl, msg, len);
}

/* A control message carrying NUL-terminated text (INFO, FAULT). */
static int send_text(dagr__worker *w, int type, const char *text) {
  size_t n = strlen(text);
  dagr__buf b = {0};
  if (dagr__msg_begin(&b, type, w->run, 0) || dagr__buf_reserve(&b, n + 1)) {
    dagr__buf_free(&b);
    return DAGR_ENOMEM;
  }
  memcpy(b.p + b.len, text, n + 1);
  b.len += n + 1;
  if (dagr__msg_finish(&b, 0)) {
    dagr__buf_free(&b);
    return DAGR_ENOMEM;
  }
  size_t len;
  void *msg = dagr__buf_take(&b, &len);
  return w->link->send(w->link->impl, msg, len);
}

static int send_info(dagr__worker *w) {
  char text[6144], parts[512] = "";
  /* store_parts: the store's part per executor group (NUMA domain), in bytes. */
  for (int p = 0, k = 0; p < dagr__store_nparts(w->store) && k < (int)sizeof parts; p++) {
    uint64_t off;
    size_t len = 0;
    (void)dagr__store_part_range(w->store, p, &off, &len);
    k += snprintf(parts + k, sizeof parts - (size_t)k, "%s%d:%zu", p ? "," : "", p, len);
  }
  char slurm[512];
  dagr__slurm_describe(slurm, sizeof slurm);
  int n = snprintf(text, sizeof text,
                   "host=%s role=worker threads=%d store_bytes=%zu store_used=%zu "
                   "store_peak=%zu inline_bytes=%zu groups=%d store_parts=%s %s spill_dir=%s%s",
                   w->cfg.host ? w->cfg.host : "?", w->cfg.threads, w->store->size,
                   dagr__store_used(w->store), w->store->peak_used, w->cfg.inline_bytes, w->ngroups,
                   parts, w->cfg.placement ? w->cfg.placement->desc : "", w->spill.dir, slurm);
  if (n >= (int)sizeof text) n = (int)sizeof text - 1;
  dagr__buf b = {0};
  if (dagr__msg_begin(&b, DAGR__MSG_INFO, 0, 0) || dagr__buf_reserve(&b, (size_t)n + 1)) {
    dagr__buf_free(&b);
    return DAGR_ENOMEM;
  }
  memcpy(b.p + b.len, text, (size_t)n + 1);
  b.len += (size_t)n + 1;
  if (dagr__msg_finish(&b, 0)) {
    dagr__buf_free(&b);
    return DAGR_ENOMEM;
  }
  size_t len;
  void *msg = dagr__buf_take(&b, &len);
  return w->link->send(w->link->impl, msg, len);
}

static int handle_msg(dagr__worker *w, void *buf, size_t len) {
  dagr__msg_hdr h;
  int rc = dagr__msg_validate(buf, len, w->err, sizeof w->err);
  if (rc) {
    fprintf(stderr, "dagr worker rank %d: dropped a malformed message from the scheduler: %s\n",
            w->cfg.rank, w->err);
    free(buf);
    return DAGR_OK;
  }
  memcpy(&h, buf, sizeof h);
  switch (h.magic_type & 0xffu) {
  case DAGR__MSG_ASSIGN:
    return handle_assign(w, buf, len, &h); /* takes buf */
  case DAGR__MSG_RELEASE:
    handle_release(w, buf, len, &h);
    break;
  case DAGR__MSG_SPILL:
    rc = handle_spill(w, buf, len, &h);
    if (!rc) rc = flush_restored(w);
    break;
  case DAGR__MSG_RESTORE:
    rc = handle_restore(w, buf, len, &h);
    if (!rc) rc = flush_restored(w);
    break;
  case DAGR__MSG_RUN_END:
    if (w->in_run && h.run == w->run) {
      w->ending = 1;
      drop_unfinished(w);
    } else {
      rc = send_ctrl(w, DAGR__MSG_RUN_ENDED, h.run); /* nothing of that run here */
    }
    break;
  case DAGR__MSG_SHUTDOWN:
    w->shutdown = 1;
    w->exit_status = (int)h.ntasks;
    break;
  case DAGR__MSG_INFO_REQ:
    rc = send_info(w);
    break;
  case DAGR__MSG_TRACE_REQ:
    rc = tev_send_all(w);
    break;
  case DAGR__MSG_TRACE_ON:
    /* Before the run's first ASSIGN: record its events (see tracing()). */
    w->trace_on = 1;
    w->trace_run = h.run;
    w->mem_last_ns = 0;
    w->mem_last = UINT64_MAX;
    dagr__buf_free(&w->tev);
    w->tev_n = 0;
    break;
  default:
    fprintf(stderr, "dagr worker rank %d: unexpected message type %u\n", w->cfg.rank,
            h.magic_type & 0xffu);
  }
  free(buf);
  return rc;
}

int dagr__worker_serve(dagr__worker *w, int *exit_status) {
  unsigned idle = 0;
  int rc = DAGR_OK;
  while (!w->shutdown) {
    /* faults: SIGTERM/SIGINT on a worker rank ends it here, without waiting for its executor
     * threads (in a single process the driver stops instead). */
    if (w->cfg.rank > 0 && dagr__stop_signal()) dagr__signals_stop_now();
    int progressed = 0;
    for (int i = 0; i < 64 && !w->shutdown; i++) {
      void *buf;
      size_t len;
      rc = w->link->poll(w->link->impl, &buf, &len);
      if (rc == DAGR__AGAIN) break;
      if (rc) return rc;
      progressed = 1;
      rc = handle_msg(w, buf, len);
      if (rc) return rc;
    }
    wtask *rh = NULL, *rt = NULL;
    size_t rn = 0;
    if (w->nfetches) {
      int f = poll_fetches(w, &rh, &rt, &rn);
      if (f < 0) return f;
      progressed |= f;
    }
    dagr__job *j = dagr__exec_take_done(&w->exec);
    if (j) progressed = 1;
    while (j) {
      dagr__job *next = j->next;
      wtask *t = (wtask *)j;
      if (t->abandoned) {
        w->nabandoned--; /* back after its timeout was reported: already failed */
        free(t->errmsg);
        t->errmsg = NULL;
      } else {
        if (!w->ending && !w->zombie) complete(w, t, &rh, &rt, &rn);
        task_put(w, t);
      }
      j = next;
    }
    if (w->watch.n && w->in_run && !w->ending) check_timeouts(w);
    if (rn && !w->ending) {
      rc = push_jobs(w, rh);
      if (rc) return rc;
    }
    rc = flush_restored(w);
    if (rc) return rc;
    rc = flush(w);
    if (rc) return rc;
    /* Store use changes only when something happened; idle turns stay cheap. */
    if (progressed && tracing(w)) tev_mem(w, 0);
    if (w->link->progress && w->link->progress(w->link->impl)) progressed = 1;
    /* An abandoned kernel never counts as finished (nor the tasks its thread holds after it). */
    if (w->ending && w->nfetches == 0 && (dagr__exec_pending(&w->exec) == 0 || w->nabandoned) &&
        !w->exec.done_head) {
      rc = finish_run_end(w);
      if (rc) return rc;
      progressed = 1;
    }
    if (progressed) {
      idle = 0;
      continue;
    }
    idle++;
    long ns = dagr__backoff_ns(idle);
    if (ns > w->cfg.max_sleep_ns) ns = w->cfg.max_sleep_ns;
    if (ns == 0)
      sched_yield();
    else
      dagr__exec_wait(&w->exec, ns);
  }
  if (exit_status) *exit_status = w->exit_status;
  return DAGR_OK;
}

/* A stop signal ends the rank without dagr__worker_destroy: its spill files go anyway. */
static void spill_cleanup(void *arg) {
  dagr__spill_destroy(arg);
}

/* Each executor thread binds itself to its cores (placement.c) before it takes a task. */
static void thread_init(int thread_index, int group, void *arg) {
  const dagr__worker *w = arg;
  (void)group;
  tls_thread = (uint16_t)thread_index;
  if (w->cfg.placement) dagr__placement_bind_thread(w->cfg.placement, thread_index);
}

int dagr__worker_create(const dagr__worker_cfg *cfg, dagr__wlink *link, dagr__store *store,
                        dagr__worker **out) {
  if (!cfg || !link || !store || !out || cfg->threads < 1) return DAGR_EINVAL;
  dagr__worker *w = calloc(1, sizeof *w);
  if (!w) return DAGR_ENOMEM;
  w->cfg = *cfg;
  w->link = link;
  w->store = store;
  if (dagr__spill_init(&w->spill, NULL, cfg->job_token ? cfg->job_token : "0", cfg->rank) !=
      DAGR_OK) {
    free(w);
    return DAGR_EINVAL;
  }
  (void)dagr__cleanup_register(spill_cleanup, &w->spill);
  const dagr__placement *pl = cfg->placement;
  int rc;
  if (pl && pl->ngroups > 1) {
    w->ngroups = pl->ngroups;
    rc = dagr__exec_start_groups(&w->exec, pl->ngroups, pl->group_threads, run_task, w, thread_init,
                                 w);
  } else {
    int one[1] = {cfg->threads};
    w->ngroups = 1;
    rc = dagr__exec_start_groups(&w->exec, 1, one, run_task, w, thread_init, w);
  }
  if (rc) {
    (void)dagr__cleanup_unregister(spill_cleanup, &w->spill);
    free(w);
    return rc;
  }
  w->exec_started = 1;
  *out = w;
  return DAGR_OK;
}

void dagr__worker_wake(dagr__worker *w) {
  dagr__exec_wake(&w->exec);
}

int dagr__worker_abandoned(const dagr__worker *w) {
  return w && w->nabandoned > 0;
}

void dagr__worker_destroy(dagr__worker *w) {
  if (!w) return;
  if (w->nabandoned) {
    /* faults: a thread is stuck in a kernel past its time limit: stop the others without
     * joining it, and keep everything it may still use (task records, object table, store):
     * the process is ending. */
    drop_unfinished(w);
    dagr__exec_abandon(&w->exec);
    (void)dagr__cleanup_unregister(spill_cleanup, &w->spill);
    dagr__spill_destroy(&w->spill);
    dagr__keep_alive(w);
    return;
  }
  dagr__watch_free(&w->watch);
  if (w->exec_started) {
    drop_unfinished(w);
    dagr__exec_stop(&w->exec);
  }
  (void)dagr__cleanup_unregister(spill_cleanup, &w->spill);
  dagr__spill_destroy(&w->spill);
  dagr__buf_free(&w->restored);
  dagr__buf_free(&w->tev);
  for (size_t i = 0; i < w->nkept; i++) free(w->kept[i].msg);
  free(w->kept);
  free(w->obj);
  for (msgref *m = w->msgs, *next; m; m = next) {
    next = m->next;
    free(m->buf);
    free(m);
  }
  for (size_t i = 0; i < w->ntask_slabs; i++) {
    for (size_t k = 0; k < SLAB; k++) free(w->task_slabs[i][k].errmsg);
    free(w->task_slabs[i]);
  }
  free(w->task_slabs);
  for (size_t i = 0; i < w->nwaiter_slabs; i++) free(w->waiter_slabs[i]);
  free(w->waiter_slabs);
  for (size_t i = 0; i < w->nshape_chunks; i++) free(w->shape_chunks[i]);
  free(w->shape_chunks);
  free(w->fetches);
  dagr__buf_free(&w->out);
  free(w);
}
