/* sched.c: the rank-0 scheduler loop: ready set, placement, batched assignment, completion,
 * release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/obs.h"
#include "obs/progress.h"
#include "runtime/registry.h"
#include "runtime/signals.h"
#include "scheduler/readyq.h"
#include "scheduler/sched.h"
#include "store/spill.h"

/* Task states. */
enum { T_WAITING = 0, T_READY = 1, T_ASSIGNED = 2, T_DONE = 3 };
/* Where a finished task's object is. */
enum { O_NONE = 0, O_SCALAR = 1, O_INLINE = 2, O_STORE = 3 };
/* Where a store object's bytes are: in its owner's store, spilled to the owner's spill
 * directory, or being read back (the owner announces the new offset with RESTORED). */
enum { S_IN = 0, S_SPILLED = 1, S_RESTORING = 2, S_FILE = 3 };
/* S_FILE: larger than the owner's whole store, it was written straight to a spill file and
 * stays there: its readers run on the owner (which maps the file); rank 0 reads the file for a
 * requested result. */
/* Reruns of a task whose output did not fit, each after spilling on that worker. */
#define SFULL_MAX 8

#define TARGET_BIT  0x80u /* in state[]: a requested key */
#define STATE(s, i) ((s)->state[i] & 0x7fu)

/* How much queued work (microseconds) a worker should hold so it never waits for the next
 * batch, and the bounds on its queue. Short tasks get deep queues (throughput), long tasks get
 * about two per thread (balance). */
#define QUEUE_TARGET_US 2000.0
#define QUEUE_MAX       8192u
#define BATCH_BYTES     (1u << 20)

static int grow(void **p, size_t n, size_t size) {
  void *q = realloc(*p, n * size);
  if (!q) return DAGR_ENOMEM;
  *p = q;
  return DAGR_OK;
}

static int ensure_cap(dagr__sched *s, size_t n) {
  if (n <= s->cap) return DAGR_OK;
  size_t c = n;
  if (grow((void **)&s->deps_left, c, 4) || grow((void **)&s->unassigned, c, 4) ||
      grow((void **)&s->cons_left, c, 4) || grow((void **)&s->state, c, 1) ||
      grow((void **)&s->where, c, 4) || grow((void **)&s->tries_left, c, 4) ||
      grow((void **)&s->okind, c, 1) || grow((void **)&s->odtype, c, 1) ||
      grow((void **)&s->ondim, c, 1) || grow((void **)&s->oval, c, 8) ||
      grow((void **)&s->onbytes, c, 8) || grow((void **)&s->oshape, c, sizeof(int64_t *)) ||
      grow((void **)&s->holders, c, 4) || grow((void **)&s->spec, c, 4) ||
      grow((void **)&s->grp, c, 1) || grow((void **)&s->ostore, c, 1) ||
      grow((void **)&s->readers, c, 4) || grow((void **)&s->sfull, c, 1) ||
      grow((void **)&s->tresv, c, 8) || grow((void **)&s->tunk, c, 1) ||
      grow((void **)&s->cpf, c, sizeof(float)))
    return DAGR_ENOMEM;
  s->cap = c;
  return DAGR_OK;
}

int dagr__sched_init(dagr__sched *s, dagr__slink *link, const int *threads,
                     const dagr__worker_desc *workers, size_t inline_bytes, uint32_t batch_tasks,
                     uint32_t queue_tasks, int pin_ranks) {
  memset(s, 0, sizeof *s);
  s->link = link;
  s->nworkers = link->nworkers;
  s->inline_bytes = inline_bytes;
  s->batch_tasks = batch_tasks ? batch_tasks : 1024;
  s->queue_tasks = queue_tasks;
  s->pin_ranks = pin_ranks;
  s->spill_on = 1;
  s->high = 0.8;
  s->pause = 0.9;
  s->w = calloc((size_t)s->nworkers, sizeof *s->w);
  s->wbytes = calloc((size_t)s->nworkers, sizeof *s->wbytes);
  s->touched = calloc((size_t)s->nworkers, sizeof *s->touched);
  if (!s->w || !s->wbytes || !s->touched) return DAGR_ENOMEM;
  for (int i = 0; i < s->nworkers; i++) {
    dagr__sched_worker *sw = &s->w[i];
    sw->rank = pin_ranks ? i + 1 : 0;
    sw->threads = threads[i] > 0 ? threads[i] : 1;
    sw->ngroups = workers && workers[i].ngroups > 1 && workers[i].ngroups <= DAGR__MAX_GROUPS
                      ? workers[i].ngroups
                      : 1;
    for (int g = 0; g < sw->ngroups; g++)
      sw->gthreads[g] = sw->ngroups == 1                  ? sw->threads
                        : workers[i].group_threads[g] > 0 ? workers[i].group_threads[g]
                                                          : 1;
    sw->dom_base = s->ndom;
    s->ndom += sw->ngroups;
    sw->cap = workers ? workers[i].store_bytes : 0;
  }
  s->dom = calloc((size_t)(s->ndom > 0 ? s->ndom : 1), sizeof *s->dom);
  s->kest = malloc(((size_t)1 << 16) * sizeof *s->kest); /* kernel ids are 16-bit */
  if (!s->dom || !s->kest) return DAGR_ENOMEM;
  for (size_t k = 0; k < (size_t)1 << 16; k++) s->kest[k] = -1; /* not known yet */
  /* Hosts: dense ids in order of first appearance. */
  uint64_t *hosts = calloc((size_t)(s->nworkers > 0 ? s->nworkers : 1), sizeof *hosts);
  if (!hosts) return DAGR_ENOMEM;
  for (int i = 0; i < s->nworkers; i++) {
    uint64_t h = workers ? workers[i].host : 0;
    int id = 0;
    while (id < s->nhosts && hosts[id] != h) id++;
    if (id == s->nhosts) hosts[s->nhosts++] = h;
    for (int g = 0; g < s->w[i].ngroups; g++) {
      s->dom[s->w[i].dom_base + g].worker = i;
      s->dom[s->w[i].dom_base + g].host = id;
    }
  }
  free(hosts);
  if (s->nhosts < 1) s->nhosts = 1;
  if (dagr__sched_sums_init(s, dagr__registry_count())) return DAGR_ENOMEM;
  return dagr__place_scratch_init(&s->pscratch, (size_t)s->ndom, (size_t)s->nworkers,
                                  (size_t)s->nhosts);
}

int dagr__sched_sums_init(dagr__sched *s, int nkernels) {
  free(s->ktasks);
  free(s->kus);
  s->nkernels = nkernels > 0 ? nkernels : 1;
  s->ktasks = calloc((size_t)s->nkernels, sizeof *s->ktasks);
  s->kus = calloc((size_t)s->nkernels, sizeof *s->kus);
  return s->ktasks && s->kus ? DAGR_OK : DAGR_ENOMEM;
}

static void free_run_arrays(dagr__sched *s) {
  free(s->deps_left);
  free(s->unassigned);
  free(s->cons_left);
  free(s->state);
  free(s->where);
  free(s->tries_left);
  free(s->okind);
  free(s->odtype);
  free(s->ondim);
  free(s->oval);
  free(s->onbytes);
  free(s->oshape);
  free(s->holders);
  free(s->spec);
  free(s->grp);
  free(s->ostore);
  free(s->readers);
  free(s->sfull);
  free(s->tresv);
  free(s->tunk);
  free(s->cpf);
  free(s->hnodes);
  for (size_t i = 0; i < s->nshape_chunks; i++) free(s->shape_chunks[i]);
  free(s->shape_chunks);
}

void dagr__sched_destroy(dagr__sched *s) {
  if (!s) return;
  for (int i = 0; s->w && i < s->nworkers; i++) {
    dagr__buf_free(&s->w[i].out);
    dagr__buf_free(&s->w[i].rel);
    free(s->w[i].lru);
    free(s->w[i].defer);
  }
  free(s->w);
  free(s->wbytes);
  free(s->touched);
  free(s->dom);
  free(s->kest);
  free(s->ktasks);
  free(s->kus);
  free(s->pin);
  dagr__place_scratch_free(&s->pscratch);
  free_run_arrays(s);
  memset(s, 0, sizeof *s);
}

#define SHAPE_CHUNK 8192

static int64_t *shape_copy(dagr__sched *s, const int64_t *shape, int ndim) {
  if (ndim == 0) return NULL;
  if (s->nshape_chunks == 0 || s->shape_used + (size_t)ndim > SHAPE_CHUNK) {
    if (grow((void **)&s->shape_chunks, s->nshape_chunks + 1, sizeof(int64_t *))) return NULL;
    s->shape_chunks[s->nshape_chunks] = malloc(SHAPE_CHUNK * sizeof(int64_t));
    if (!s->shape_chunks[s->nshape_chunks]) return NULL;
    s->nshape_chunks++;
    s->shape_used = 0;
  }
  int64_t *p = s->shape_chunks[s->nshape_chunks - 1] + s->shape_used;
  memcpy(p, shape, (size_t)ndim * 8);
  s->shape_used += (size_t)ndim;
  return p;
}

/* ---------------------------------------------------------------------------------------------
 * One run.
 * ------------------------------------------------------------------------------------------- */

typedef struct run {
  dagr__sched *s;
  const dagr_graph_t *g;
  const dagr__plan *p;
  dagr__readyq rq;
  size_t targets_left;
  int status;
  char *err;
  size_t errlen;
  dagr_stats_t *st;
} run;

/* Driver callbacks (pretask at assignment, posttask at completion), on this thread. */
static void call_task_cbs(const run *r, uint32_t i, int w, const dagr__done_view *d) {
  const dagr__sched *s = r->s;
  dagr_task_info_t info = {0};
  info.key = dagr__graph_key(r->g, r->p->gid[i]);
  info.kernel = dagr__registry_name(r->p->kernel[i]);
  info.rank = s->w[w].rank;
  info.thread = -1;
  info.status = DAGR_OK;
  if (d) {
    info.seconds = 1e-6 * (double)d->exec_us;
    info.nbytes = d->status == DAGR_OK ? d->nbytes : 0;
    info.status = d->status;
  }
  for (int k = 0; k < s->ncbs; k++) {
    void (*fn)(const dagr_task_info_t *, void *) = d ? s->cbs[k].posttask : s->cbs[k].pretask;
    if (fn) fn(&info, s->cbs[k].arg);
  }
}

static int send_to(dagr__sched *s, int w, dagr__buf *b, uint32_t *n) {
  if (dagr__msg_finish(b, *n)) return DAGR_ENOMEM;
  size_t len;
  void *msg = dagr__buf_take(b, &len);
  *n = 0;
  return s->link->send(s->link->impl, w, msg, len);
}

static int flush_worker(run *r, int w) {
  dagr__sched *s = r->s;
  dagr__sched_worker *sw = &s->w[w];
  int rc = DAGR_OK;
  if (sw->rel_n) rc = send_to(s, w, &sw->rel, &sw->rel_n);
  if (!rc && sw->out_n) {
    rc = send_to(s, w, &sw->out, &sw->out_n);
    r->st->messages_sent++;
  }
  return rc;
}

static int holds(const dagr__sched *s, uint32_t obj, int w) {
  if (s->where[obj] == w) return 1;
  for (uint32_t h = s->holders[obj]; h; h = s->hnodes[h - 1].next)
    if (s->hnodes[h - 1].worker == w) return 1;
  return 0;
}

static int add_holder(dagr__sched *s, uint32_t obj, int w) {
  if (s->nhnodes == s->cap_hnodes) {
    size_t c = s->cap_hnodes ? s->cap_hnodes * 2 : 256;
    if (grow((void **)&s->hnodes, c, sizeof *s->hnodes)) return DAGR_ENOMEM;
    s->cap_hnodes = c;
  }
  s->hnodes[s->nhnodes].worker = w;
  s->hnodes[s->nhnodes].next = s->holders[obj];
  s->holders[obj] = (uint32_t)++s->nhnodes;
  return DAGR_OK;
}

/* A domain's share of its worker's queue, by its threads. */
static void set_dom_caps(dagr__sched *s, const dagr__sched_worker *sw) {
  for (int g = 0; g < sw->ngroups; g++) {
    uint64_t c = (uint64_t)sw->limit * (uint64_t)sw->gthreads[g] / (uint64_t)sw->threads;
    s->dom[sw->dom_base + g].cap = c > 0 ? (uint32_t)c : 1;
  }
}

static void update_limit(dagr__sched *s, dagr__sched_worker *sw) {
  if (s->queue_tasks) {
    sw->limit = s->queue_tasks;
    set_dom_caps(s, sw);
    return;
  }
  double per = sw->avg_us > 0.05 ? sw->avg_us : 0.05;
  double lim = sw->threads * (2.0 + QUEUE_TARGET_US / per);
  uint32_t min = 2u * (uint32_t)sw->threads;
  sw->limit = lim > QUEUE_MAX ? QUEUE_MAX : (lim < min ? min : (uint32_t)lim);
  set_dom_caps(s, sw);
}

/* ---- memory: store use, spilling, backpressure ----------------------------------------------
 *
 * The scheduler counts each worker's store bytes (results, pulled copies, objects read back) and
 * decides what to spill, because only it knows which objects a task may still read: an object
 * is written out only when no assigned task reads it (readers == 0) and no one asked for it as a
 * result, so no pull of it can be in flight. Above DAGR_STORE_HIGH of a store, the oldest such
 * objects of that worker go to its spill directory (SPILL); a task that reads a spilled object
 * runs on its owner, which reads it back first, and a spilled object another worker must pull is
 * first read back on request (RESTORE -> RESTORED with its new offset). Above DAGR_STORE_PAUSE a
 * worker gets no tasks that only create data (its own inputs' consumers still go there: they
 * free memory), unless nothing at all is running. A task whose output did not fit is rerun (up
 * to SFULL_MAX times) after spilling deeper on its worker. */

static void mem_add(dagr__sched *s, int w, uint64_t n) {
  dagr__sched_worker *sw = &s->w[w];
  sw->used += n;
  if (sw->used > sw->peak) sw->peak = sw->used;
}

static void mem_sub(dagr__sched *s, int w, uint64_t n) {
  dagr__sched_worker *sw = &s->w[w];
  sw->used = sw->used > n ? sw->used - n : 0;
}

static int lru_push(dagr__sched_worker *sw, uint32_t obj) {
  if (sw->lru_n == sw->lru_cap && sw->lru_head > 0) {
    memmove(sw->lru, sw->lru + sw->lru_head, (sw->lru_n - sw->lru_head) * sizeof *sw->lru);
    sw->lru_n -= sw->lru_head;
    sw->lru_head = 0;
  }
  if (sw->lru_n == sw->lru_cap) {
    size_t c = sw->lru_cap ? sw->lru_cap * 2 : 256;
    if (grow((void **)&sw->lru, c, sizeof *sw->lru)) return DAGR_ENOMEM;
    sw->lru_cap = c;
  }
  sw->lru[sw->lru_n++] = obj;
  return DAGR_OK;
}

static int spillable(const dagr__sched *s, uint32_t d, int w) {
  return STATE(s, d) == T_DONE && s->okind[d] == O_STORE && s->where[d] == w &&
         s->ostore[d] == S_IN && s->readers[d] == 0 && !(s->state[d] & TARGET_BIT);
}

static int queue_release(dagr__sched *s, int w, uint32_t d);

/* Drops w's pulled copy of d (no task reads d now; a later reader pulls it again). */
static int drop_copy(dagr__sched *s, int w, uint32_t d) {
  uint32_t *link = &s->holders[d];
  while (*link && s->hnodes[*link - 1].worker != w) link = &s->hnodes[*link - 1].next;
  if (!*link) return DAGR_OK;
  *link = s->hnodes[*link - 1].next;
  mem_sub(s, w, s->onbytes[d]);
  return queue_release(s, w, d);
}

/* Orders worker w to spill its oldest spillable objects until its count is at most target;
 * copies it pulled of other workers' objects that no task reads are simply dropped first. */
static int spill_to(run *r, int w, uint64_t target) {
  dagr__sched *s = r->s;
  dagr__sched_worker *sw = &s->w[w];
  if (!s->spill_on || !sw->cap || sw->used <= target) return DAGR_OK;
  /* Entries released or spilled since are gone for good (a restored object is pushed again). */
  while (sw->lru_head < sw->lru_n) {
    uint32_t d = sw->lru[sw->lru_head];
    if (s->okind[d] == O_STORE &&
        ((s->where[d] == w && s->ostore[d] == S_IN) || (s->where[d] != w && holds(s, d, w))))
      break;
    sw->lru_head++;
  }
  for (size_t k = sw->lru_head; k < sw->lru_n && sw->used > target; k++) {
    uint32_t d = sw->lru[k];
    if (s->okind[d] == O_STORE && s->where[d] != w && s->readers[d] == 0 && holds(s, d, w)) {
      int rc = drop_copy(s, w, d);
      if (rc) return rc;
    }
  }
  dagr__buf b = {0};
  uint32_t n = 0;
  for (size_t k = sw->lru_head; k < sw->lru_n && sw->used > target; k++) {
    uint32_t d = sw->lru[k];
    if (!spillable(s, d, w)) continue;
    if ((n == 0 && dagr__msg_begin(&b, DAGR__MSG_SPILL, s->run, 0)) || dagr__enc_u32(&b, d)) {
      dagr__buf_free(&b);
      return DAGR_ENOMEM;
    }
    n++;
    s->ostore[d] = S_SPILLED;
    s->any_spilled = 1;
    mem_sub(s, w, s->onbytes[d]);
    r->st->bytes_spilled += s->onbytes[d];
  }
  if (n == 0) return DAGR_OK;
  int rc = send_to(s, w, &b, &n);
  dagr__buf_free(&b);
  return rc;
}

/* Asks the owner of spilled object d to read it back (a task elsewhere will pull it). */
static int request_restore(run *r, uint32_t d) {
  dagr__sched *s = r->s;
  int w = s->where[d];
  dagr__buf b = {0};
  uint32_t n = 1;
  if (dagr__msg_begin(&b, DAGR__MSG_RESTORE, s->run, 0) || dagr__enc_u32(&b, d)) {
    dagr__buf_free(&b);
    return DAGR_ENOMEM;
  }
  s->ostore[d] = S_RESTORING;
  mem_add(s, w, s->onbytes[d]);
  int rc = send_to(s, w, &b, &n);
  dagr__buf_free(&b);
  return rc;
}

/* Too full for tasks that only create data (see above). */
static int paused(const dagr__sched *s, int w) {
  const dagr__sched_worker *sw = &s->w[w];
  return s->spill_on && sw->cap && (double)(sw->used + sw->resv) > s->pause * (double)sw->cap &&
         s->inflight_total > 0;
}

/* Room for task i on worker w: its inputs not yet in w's store (pulled copies, spilled ones read
 * back) plus a typical output. Spills to make it; 0 (wait) if it still does not fit while other
 * tasks run there (their completions free memory). */
static int admit(run *r, uint32_t i, int w) {
  dagr__sched *s = r->s;
  dagr__sched_worker *sw = &s->w[w];
  if (!s->spill_on || !sw->cap) return 1;
  const dagr__plan *p = r->p;
  float est = s->kest[p->kernel[i]];
  /* Until one of a kernel's tasks has finished, its output size is unknown: one such task per
   * thread at a time, so a first wave of big outputs cannot overrun the store. */
  if (est < 0 && sw->nunknown >= (uint32_t)sw->threads) return 0;
  uint64_t need = est > 0 ? (uint64_t)est : 0;
  for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++) {
    uint32_t d = p->deps[e];
    if (STATE(s, d) != T_DONE || s->okind[d] != O_STORE) continue;
    if (s->where[d] == w ? s->ostore[d] == S_SPILLED : !holds(s, d, w)) need += s->onbytes[d];
  }
  double limit = s->high * (double)sw->cap;
  if ((double)(sw->used + sw->resv + need) > limit) {
    double t = limit - (double)(need + sw->resv);
    int rc = spill_to(r, w, t > 0 ? (uint64_t)t : 0);
    if (rc) return 0;
  }
  /* The high mark, not the capacity: the allocator's alignment and fragmentation, and objects
   * freed on the worker a little later than counted here, need the slack. */
  int ok = (double)(sw->used + sw->resv + need) <= limit || sw->inflight == 0;
  return ok;
}

/* Encodes task i for worker w. */
static int encode(run *r, uint32_t i, int w) {
  dagr__sched *s = r->s;
  const dagr__plan *p = r->p;
  dagr__sched_worker *sw = &s->w[w];
  const dagr__gtask *gt = &r->g->tasks[p->gid[i]];
  if (sw->out_n == 0 && dagr__msg_begin(&sw->out, DAGR__MSG_ASSIGN, s->run, p->n))
    return DAGR_ENOMEM;
  uint32_t nd = p->dep_off[i + 1] - p->dep_off[i];
  /* faults: the time limit, and the key for the worker's crash message (a prefix: keys may be
   * up to 1 MiB; about 5% of the noop throughput benchmark, nothing for real kernels). */
  const char *key = dagr__graph_key(r->g, p->gid[i]);
  uint32_t limit = gt->timeout_ms ? gt->timeout_ms : s->timeout_ms;
  if (s->ncbs) call_task_cbs(r, i, w, NULL);
  if (dagr__enc_task_ext(&sw->out, i, p->kernel[i], s->grp[i], limit, key,
                         strnlen(key, DAGR__TASK_KEY_MAX), r->g->params + gt->param_off,
                         gt->param_len, nd))
    return DAGR_ENOMEM;
  for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++) {
    uint32_t d = p->deps[e];
    int rc;
    s->readers[d]++;
    if (STATE(s, d) == T_DONE && s->okind[d] == O_STORE && s->ostore[d] == S_SPILLED &&
        s->where[d] == w) {
      /* The owner reads it back before the task runs, and says where (RESTORED). */
      s->ostore[d] = S_RESTORING;
      mem_add(s, w, s->onbytes[d]);
    }
    if (STATE(s, d) == T_DONE && s->okind[d] == O_SCALAR) {
      rc = dagr__enc_dep_scalar(&sw->out, d, s->odtype[d], s->oval[d]);
    } else if (STATE(s, d) != T_DONE || s->where[d] == w) {
      /* Produced on w (or to be, ahead of this task): the producer keeps it until released. */
      rc = dagr__enc_dep_local(&sw->out, d);
    } else if (s->okind[d] == O_INLINE) {
      rc = dagr__enc_dep_inline(&sw->out, d, s->odtype[d], s->ondim[d], s->oshape[d],
                                (const void *)(uintptr_t)s->oval[d], s->onbytes[d]);
    } else {
      /* Always the full location, even if w pulled it before: w uses its copy when it has one
       * and pulls again if an earlier pull never happened (a task refused before running). */
      rc = dagr__enc_dep_remote(&sw->out, d, s->odtype[d], s->ondim[d], s->oshape[d],
                                (uint32_t)s->where[d], s->oval[d], s->onbytes[d]);
      if (!rc && !holds(s, d, w)) {
        rc = add_holder(s, d, w);
        mem_add(s, w, s->onbytes[d]); /* the pulled copy */
        if (!rc && s->spill_on && sw->cap) rc = lru_push(sw, d);
      }
    }
    if (rc) return rc;
  }
  sw->out_n++;
  sw->inflight++;
  s->inflight_total++;
  float est = s->kest[p->kernel[i]];
  s->tresv[i] = est > 0 ? (uint64_t)est : 0;
  s->tunk[i] = est < 0;
  sw->nunknown += s->tunk[i];
  sw->resv += s->tresv[i];
  s->dom[sw->dom_base + s->grp[i]].load++;
  if (sw->out_n >= s->batch_tasks || sw->out.len >= BATCH_BYTES) return flush_worker(r, w);
  return DAGR_OK;
}

/* Can consumer c run on w ahead of its inputs (all of them done or queued on w)? */
static int can_follow(run *r, uint32_t c, int w, uint32_t reserved) {
  dagr__sched *s = r->s;
  const dagr__plan *p = r->p;
  if (STATE(s, c) != T_WAITING || s->unassigned[c] != 0) return 0;
  /* Tasks reserved but not yet encoded count against the queue too. */
  if (s->w[w].inflight + reserved >= s->w[w].limit) return 0;
  /* Under memory pressure every task goes through admission: one sent ahead could not be
   * moved if its producer's output did not fit. */
  if (s->any_spilled) return 0;
  if (s->pin_ranks) {
    int32_t pin = r->g->tasks[p->gid[c]].worker;
    if (pin >= 0 && pin != s->w[w].rank) return 0;
  }
  for (uint32_t e = p->dep_off[c]; e < p->dep_off[c + 1]; e++) {
    uint32_t d = p->deps[e];
    if (STATE(s, d) != T_DONE && s->where[d] != w) return 0;
    /* An input that must be pulled or read back needs room: such a task goes through
     * admission (dispatch) instead. */
    if (s->spill_on && s->w[w].cap && STATE(s, d) == T_DONE && s->okind[d] == O_STORE &&
        (s->ostore[d] != S_IN || (s->where[d] != w && !holds(s, d, w))))
      return 0;
  }
  return 1;
}

/* Assigns task i to worker w, then every dependent that can follow it there. Chains and
 * single-worker subtrees thus reach a worker in one message and run there without a round trip
 * through rank 0 per task. */
static int assign(run *r, uint32_t i, int w, int group) {
  dagr__sched *s = r->s;
  const dagr__plan *p = r->p;
  uint32_t top = 0;
  s->grp[i] = (uint8_t)group;
  s->spec[top++] = i;
  while (top) {
    uint32_t t = s->spec[--top];
    s->state[t] = (uint8_t)((s->state[t] & TARGET_BIT) | T_ASSIGNED);
    s->where[t] = w;
    int rc = encode(r, t, w);
    if (rc) return rc;
    for (uint32_t e = p->cons_off[t]; e < p->cons_off[t + 1]; e++) {
      uint32_t c = p->cons[e];
      if (--s->unassigned[c] == 0 && s->deps_left[c] > 0 && can_follow(r, c, w, top)) {
        s->state[c] = (uint8_t)((s->state[c] & TARGET_BIT) | T_ASSIGNED); /* reserve */
        s->grp[c] = s->grp[t]; /* beside its input, in the same domain */
        s->spec[top++] = c;
      }
    }
  }
  return DAGR_OK;
}

/* Inputs smaller than this in all do not decide where a task runs: load does. */
#define SMALL_INPUT_BYTES (256u << 10)

/* The least loaded group of worker w (relative to its threads). */
static int least_group(const dagr__sched *s, int w) {
  const dagr__sched_worker *sw = &s->w[w];
  int best = 0;
  double bl = 0;
  for (int g = 0; g < sw->ngroups; g++) {
    double l = (double)s->dom[sw->dom_base + g].load / sw->gthreads[g];
    if (g == 0 || l < bl) bl = l, best = g;
  }
  return best;
}

/* With NUMA domains or several hosts: the domain by where the input bytes are (same domain >
 * same worker > same host > elsewhere) or by load (place.c). -1 if every domain is full. */
static int place_domain(run *r, uint32_t i, int *group) {
  dagr__sched *s = r->s;
  const dagr__plan *p = r->p;
  size_t n = 0, nd = p->dep_off[i + 1] - p->dep_off[i];
  if (nd > s->cap_pin) {
    dagr__place_input *q = realloc(s->pin, nd * sizeof *q);
    if (!q) return -1; /* retried on the next dispatch */
    s->pin = q;
    s->cap_pin = nd;
  }
  for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++) {
    uint32_t d = p->deps[e];
    if (s->okind[d] != O_STORE) continue;
    s->pin[n].domain = s->w[s->where[d]].dom_base + s->grp[d];
    s->pin[n].bytes = s->onbytes[d];
    n++;
  }
  int32_t dom = -1;
  if (dagr__place_choose(s->dom, (size_t)s->ndom, s->pin, n, SMALL_INPUT_BYTES, &s->pscratch,
                         &dom) != DAGR_OK ||
      dom < 0)
    return -1;
  int w = s->dom[dom].worker;
  *group = dom - s->w[w].dom_base;
  return w;
}

/* Chooses a worker (and its group: *group) for ready task i, or -1 if every suitable worker is
 * full. */
static int place(run *r, uint32_t i, int *group) {
  dagr__sched *s = r->s;
  const dagr__plan *p = r->p;
  *group = 0;
  if (s->any_spilled) {
    /* A spilled input pins the task to its owner (which reads it back); any other spilled
     * input is read back by its own owner first (the task waits for RESTORED). */
    int owner = -1, wait = 0;
    int32_t pin = s->pin_ranks ? r->g->tasks[p->gid[i]].worker : -1;
    for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++) {
      uint32_t d = p->deps[e];
      if (s->okind[d] != O_STORE || s->ostore[d] == S_IN) continue;
      if (owner < 0 && pin < 0 && (s->ostore[d] == S_SPILLED || s->ostore[d] == S_FILE)) {
        owner = s->where[d];
        *group = s->grp[d];
      }
    }
    if (pin >= 0) owner = pin - 1;
    for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++) {
      uint32_t d = p->deps[e];
      if (s->okind[d] != O_STORE || s->ostore[d] == S_IN || s->where[d] == owner) continue;
      wait = 1;
      if (s->ostore[d] == S_FILE) {
        r->status = DAGR_ESTORE_FULL;
        dagr__errf(r->err, r->errlen, DAGR_ESTORE_FULL,
                   "task '%s' reads '%s' (%llu bytes), larger than the store of worker rank %d, "
                   "together with inputs held elsewhere: only that worker can read it; give the "
                   "workers larger stores (DAGR_STORE_BYTES) or pin the task there",
                   dagr__graph_key(r->g, p->gid[i]), dagr__graph_key(r->g, p->gid[d]),
                   (unsigned long long)s->onbytes[d], s->w[s->where[d]].rank);
        return -1;
      }
      /* Read back only where there is room for it (else later, after completions there). */
      int o = s->where[d];
      dagr__sched_worker *ow = &s->w[o];
      double limit = s->high * (double)ow->cap;
      if (s->ostore[d] == S_SPILLED && (double)(ow->used + ow->resv + s->onbytes[d]) > limit) {
        double t = limit - (double)(ow->resv + s->onbytes[d]);
        if (spill_to(r, o, t > 0 ? (uint64_t)t : 0)) return -1;
        if ((double)(ow->used + ow->resv + s->onbytes[d]) > limit && ow->inflight > 0) continue;
      }
      if (s->ostore[d] == S_SPILLED && request_restore(r, d)) return -1;
    }
    if (wait) return -1;
    if (owner >= 0) {
      if (s->w[owner].inflight >= s->w[owner].limit) return -1;
      if (pin >= 0) *group = least_group(s, owner);
      return owner;
    }
  }
  if (s->pin_ranks) {
    int32_t pin = r->g->tasks[p->gid[i]].worker;
    if (pin >= 0) {
      int w = pin - 1;
      if (s->w[w].inflight >= s->w[w].limit) return -1;
      *group = least_group(s, w);
      return w;
    }
  }
  if ((s->ndom > s->nworkers && !s->numa_off) || s->nhosts > 1) {
    int w = place_domain(r, i, group);
    if (w >= 0 && s->numa_off) *group = least_group(s, w);
    return w;
  }
  /* Most input bytes held (objects in stores; inline ones travel with the task anyway). */
  int best = -1;
  uint64_t best_bytes = 0;
  if (s->nworkers > 1) {
    uint32_t ntouched = 0;
    for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++) {
      uint32_t d = p->deps[e];
      if (s->okind[d] != O_STORE) continue;
      int w = s->where[d];
      if (s->wbytes[w] == 0) s->touched[ntouched++] = (uint32_t)w;
      s->wbytes[w] += s->onbytes[d];
      if (s->wbytes[w] > best_bytes) {
        best_bytes = s->wbytes[w];
        best = w;
      }
    }
    for (uint32_t k = 0; k < ntouched; k++) s->wbytes[s->touched[k]] = 0;
  }
  if (best >= 0) {
    /* Moving large inputs costs more than waiting a little: allow a deeper queue there. */
    if (s->w[best].inflight < 4 * s->w[best].limit) {
      if (s->w[best].ngroups > 1) *group = least_group(s, best);
      return best;
    }
    return -1;
  }
  int least = -1;
  uint32_t least_load = UINT32_MAX;
  for (int w = 0; w < s->nworkers; w++) {
    const dagr__sched_worker *sw = &s->w[w];
    if (sw->inflight >= sw->limit || paused(s, w)) continue;
    /* Load relative to threads, so wide workers get proportionally more. */
    uint32_t load = sw->inflight / (uint32_t)sw->threads;
    if (load < least_load) {
      least_load = load;
      least = w;
    }
  }
  if (least >= 0 && s->w[least].ngroups > 1) *group = least_group(s, least);
  return least;
}

static int any_room(const dagr__sched *s) {
  for (int w = 0; w < s->nworkers; w++)
    if (s->w[w].inflight < s->w[w].limit) return 1;
  return 0;
}

/* Assigns ready tasks in priority order while workers have room. A task that cannot go where it
 * must (a pinned worker, or the holder of its large inputs, being full) is skipped, within a
 * bound, so it does not hold back tasks that can run elsewhere. */
#define SKIP_MAX 1024

static int dispatch(run *r) {
  dagr__sched *s = r->s;
  int64_t i = dagr__rq_first(&r->rq);
  int skipped = 0;
  while (i >= 0) {
    int group = 0;
    int w = place(r, (uint32_t)i, &group);
    if (r->status) return r->status; /* place found the task cannot run anywhere */
    if (w >= 0 && !admit(r, (uint32_t)i, w)) w = -1;
    if (w < 0) {
      if (++skipped > SKIP_MAX || !any_room(s)) break;
      i = dagr__rq_next(&r->rq, (size_t)i);
      continue;
    }
    int64_t next = dagr__rq_next(&r->rq, (size_t)i);
    dagr__rq_clear(&r->rq, (size_t)i);
    int rc = assign(r, (uint32_t)i, w, group);
    if (rc) return rc;
    /* Assigning never readies a task (completions do), so `next` is still the next one. */
    i = next;
  }
  for (int w = 0; w < s->nworkers; w++) {
    int rc = flush_worker(r, w);
    if (rc) return rc;
  }
  return DAGR_OK;
}

static int queue_release(dagr__sched *s, int w, uint32_t d) {
  dagr__sched_worker *sw = &s->w[w];
  if (sw->rel_n == 0 && dagr__msg_begin(&sw->rel, DAGR__MSG_RELEASE, s->run, 0)) return DAGR_ENOMEM;
  if (dagr__enc_u32(&sw->rel, d)) return DAGR_ENOMEM;
  sw->rel_n++;
  return DAGR_OK;
}

static int release(run *r, uint32_t d) {
  dagr__sched *s = r->s;
  if (s->okind[d] == O_SCALAR || s->okind[d] == O_NONE) return DAGR_OK;
  if (s->okind[d] == O_INLINE) {
    free((void *)(uintptr_t)s->oval[d]);
    s->oval[d] = 0;
  }
  if (s->okind[d] == O_STORE) {
    if (s->ostore[d] != S_SPILLED && s->ostore[d] != S_FILE) mem_sub(s, s->where[d], s->onbytes[d]);
    for (uint32_t h = s->holders[d]; h; h = s->hnodes[h - 1].next)
      mem_sub(s, s->hnodes[h - 1].worker, s->onbytes[d]);
  }
  s->okind[d] = O_NONE;
  /* The owner keeps a store copy of inline objects too; pulled copies are on other holders. */
  int rc = queue_release(s, s->where[d], d);
  for (uint32_t h = s->holders[d]; h && rc == DAGR_OK; h = s->hnodes[h - 1].next)
    rc = queue_release(s, s->hnodes[h - 1].worker, d);
  return rc;
}

static int fail_task(run *r, uint32_t i, int w, const dagr__done_view *d) {
  const char *key = dagr__graph_key(r->g, r->p->gid[i]);
  const char *kname = dagr__registry_name(r->p->kernel[i]);
  int attempts = r->g->tasks[r->p->gid[i]].retries + 1;
  if (d->status == DAGR_ETIMEOUT) {
    uint32_t ms = r->g->tasks[r->p->gid[i]].timeout_ms;
    char where[48];
    if (r->s->pin_ranks)
      snprintf(where, sizeof where, "worker rank %d", w + 1);
    else
      snprintf(where, sizeof where, "rank 0");
    r->status = DAGR_ETIMEOUT;
    return dagr__errf(r->err, r->errlen, r->status,
                      "task '%s' (kernel '%s') on %s exceeded its timeout of %g s (%s)", key, kname,
                      where, (ms ? ms : r->s->timeout_ms) / 1000.0,
                      d->errmsg ? d->errmsg : "no message");
  }
  r->status = d->status == DAGR_ESTORE_FULL ? DAGR_ESTORE_FULL : DAGR_EKERNEL;
  dagr__errf(r->err, r->errlen, r->status,
             "task '%s' (kernel '%s') failed on rank %d after %d attempt%s: %s", key, kname,
             r->s->pin_ranks ? w + 1 : 0, attempts, attempts == 1 ? "" : "s",
             d->errmsg ? d->errmsg : "no message");
  return r->status;
}

static int on_done(run *r, int w, const dagr__done_view *d) {
  dagr__sched *s = r->s;
  const dagr__plan *p = r->p;
  uint32_t i = d->task;
  if (i >= p->n || STATE(s, i) != T_ASSIGNED || s->where[i] != w)
    return dagr__errf(r->err, r->errlen, DAGR_EPROTO,
                      "worker rank %d reported task %u, which it was not running",
                      s->pin_ranks ? w + 1 : 0, i);
  dagr__sched_worker *sw = &s->w[w];
  sw->inflight--;
  if (s->inflight_total) s->inflight_total--;
  sw->resv = sw->resv > s->tresv[i] ? sw->resv - s->tresv[i] : 0;
  s->tresv[i] = 0;
  if (s->tunk[i] && sw->nunknown) sw->nunknown--;
  s->tunk[i] = 0;
  /* Any completion teaches its kernel's output size (0 for scalars and inline results). */
  if (d->status == DAGR_OK && !(d->flags & DAGR__DONE_STORE) && s->kest[p->kernel[i]] < 0)
    s->kest[p->kernel[i]] = 0;
  for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++)
    if (s->readers[p->deps[e]]) s->readers[p->deps[e]]--;
  if (s->dom[sw->dom_base + s->grp[i]].load > 0) s->dom[sw->dom_base + s->grp[i]].load--;
  sw->avg_us = 0.9 * sw->avg_us + 0.1 * (double)d->exec_us;
  r->st->tasks++;
  if (p->kernel[i] < s->nkernels) {
    s->ktasks[p->kernel[i]]++;
    s->kus[p->kernel[i]] += (double)d->exec_us;
  }
  sw->busy_us += (double)d->exec_us;
  sw->ndone++;
  if (s->ncbs) call_task_cbs(r, i, w, d);
  if (d->flags & DAGR__DONE_FETCH) {
    r->st->bytes_fetched += d->fetch_bytes;
    r->st->fetch_seconds += 1e-9 * (double)d->fetch_ns;
    r->st->fetches += d->nfetch;
    double mx = 1e-6 * d->fetch_max_us;
    if (mx > r->st->fetch_seconds_max) r->st->fetch_seconds_max = mx;
  }
  if (d->status != DAGR_OK) {
    if (d->status == DAGR_ESTORE_FULL && s->spill_on && sw->cap && s->sfull[i] < SFULL_MAX) {
      /* Make room by spilling deeper and run it again on w (not counted as a retry) after the
       * next completion anywhere (it frees memory, or the reads that pin w's objects); at once,
       * and counted towards giving up, only when nothing runs at all. */
      int rc = spill_to(r, w, (uint64_t)((double)sw->cap * s->high / 2));
      if (rc) return rc;
      if (s->inflight_total == 0) {
        s->sfull[i]++;
        return encode(r, i, w);
      }
      if (sw->ndefer == sw->cap_defer) {
        size_t c = sw->cap_defer ? sw->cap_defer * 2 : 16;
        if (grow((void **)&sw->defer, c, sizeof *sw->defer)) return DAGR_ENOMEM;
        sw->cap_defer = c;
      }
      sw->defer[sw->ndefer++] = i;
      return DAGR_OK;
    }
    /* A timed-out kernel still holds its thread: a retry there could wait behind it forever. */
    if (s->tries_left[i] > 0 && d->status != DAGR_ETIMEOUT) {
      s->tries_left[i]--;
      r->st->retries++;
      /* Same worker: dependents may already wait there for this object. */
      return encode(r, i, w);
    }
    return fail_task(r, i, w, d);
  }
  s->state[i] = (uint8_t)((s->state[i] & TARGET_BIT) | T_DONE);
  s->odtype[i] = (uint8_t)d->dtype;
  s->ondim[i] = (uint8_t)d->ndim;
  s->onbytes[i] = d->nbytes;
  s->oshape[i] = NULL;
  if (d->ndim) {
    int64_t shape[DAGR_MAX_NDIM];
    memcpy(shape, d->shape, 8 * (size_t)d->ndim);
    s->oshape[i] = shape_copy(s, shape, d->ndim);
    if (!s->oshape[i]) return DAGR_ENOMEM;
  }
  if (d->flags & DAGR__DONE_SCALAR) {
    s->okind[i] = O_SCALAR;
    s->oval[i] = d->value;
  } else if (d->flags & DAGR__DONE_INLINE) {
    void *copy = malloc(d->nbytes ? d->nbytes : 1);
    if (!copy) return DAGR_ENOMEM;
    memcpy(copy, d->data, d->nbytes);
    s->okind[i] = O_INLINE;
    s->oval[i] = (uint64_t)(uintptr_t)copy;
  } else if (d->flags & DAGR__DONE_FILE) {
    s->okind[i] = O_STORE;
    s->oval[i] = 0;
    s->ostore[i] = S_FILE;
    s->any_spilled = 1;
    r->st->bytes_spilled += d->nbytes;
  } else {
    s->okind[i] = O_STORE;
    s->oval[i] = d->offset;
    s->ostore[i] = S_IN;
    mem_add(s, w, d->nbytes);
    float *e = &s->kest[p->kernel[i]];
    *e = *e >= 0 ? 0.75f * *e + 0.25f * (float)d->nbytes : (float)d->nbytes;
    if (s->spill_on && sw->cap && lru_push(sw, i)) return DAGR_ENOMEM;
  }
  for (uint32_t e = p->cons_off[i]; e < p->cons_off[i + 1]; e++) {
    uint32_t c = p->cons[e];
    if (--s->deps_left[c] == 0 && STATE(s, c) == T_WAITING) {
      s->state[c] = (uint8_t)((s->state[c] & TARGET_BIT) | T_READY);
      dagr__rq_set(&r->rq, c);
    }
  }
  /* Completions arrive in a topological order: every input's chain is known by now. */
  float chain = 0;
  for (uint32_t e = p->dep_off[i]; e < p->dep_off[i + 1]; e++) {
    uint32_t dep = p->deps[e];
    if (s->cpf[dep] > chain) chain = s->cpf[dep];
    if (--s->cons_left[dep] == 0) {
      int rc = release(r, dep);
      if (rc) return rc;
    }
  }
  s->cpf[i] = chain + (float)d->exec_us;
  if (s->cpf[i] > s->cp_us) s->cp_us = s->cpf[i];
  s->ndone++;
  if (s->state[i] & TARGET_BIT) r->targets_left--;
  return DAGR_OK;
}

static int handle(run *r, int w, void *msg, size_t len) {
  dagr__msg_hdr h;
  int rc = dagr__msg_validate(msg, len, r->err, r->errlen);
  if (rc) return rc;
  memcpy(&h, msg, sizeof h);
  dagr__sched *s = r->s;
  uint32_t type = h.magic_type & 0xffu;
  if (h.run != s->run) return DAGR_OK;
  size_t pos = sizeof h;
  if (type == DAGR__MSG_FAULT) {
    char text[DAGR__ERRLEN];
    size_t n = len - sizeof h < sizeof text - 1 ? len - sizeof h : sizeof text - 1;
    memcpy(text, (const char *)msg + sizeof h, n);
    text[n] = '\0';
    r->status = DAGR_EIO;
    return dagr__errf(r->err, r->errlen, DAGR_EIO, "%s", text);
  }
  if (type == DAGR__MSG_RESTORED) {
    for (uint32_t k = 0; k < h.count; k++) {
      dagr__restored_rec rr;
      (void)dagr__dec_restored(msg, len, &pos, &rr);
      uint32_t d = rr.obj;
      if (d >= r->p->n || s->okind[d] != O_STORE || s->where[d] != w) continue;
      if (rr.offset == UINT64_MAX) {
        /* No room to read it back: make room; the waiting task asks again. */
        if (s->ostore[d] == S_RESTORING) mem_sub(s, w, s->onbytes[d]);
        s->ostore[d] = S_SPILLED;
        rc = spill_to(r, w, (uint64_t)((double)s->w[w].cap * s->high * 0.5));
        if (rc) return rc;
        continue;
      }
      if (s->ostore[d] == S_SPILLED) mem_add(s, w, s->onbytes[d]); /* it stayed, or came back */
      if (s->ostore[d] != S_IN && s->spill_on && lru_push(&s->w[w], d)) return DAGR_ENOMEM;
      s->ostore[d] = S_IN;
      s->oval[d] = rr.offset;
    }
    return DAGR_OK;
  }
  if (type != DAGR__MSG_DONE) return DAGR_OK;
  for (uint32_t k = 0; k < h.count; k++) {
    dagr__done_view d;
    (void)dagr__dec_done(msg, len, &pos, &d);
    rc = on_done(r, w, &d);
    if (rc) return rc;
  }
  dagr__sched_worker *sw = &s->w[w];
  if (s->spill_on && sw->cap && (double)sw->used > s->high * (double)sw->cap) {
    rc = spill_to(r, w, (uint64_t)((double)sw->cap * s->high * 0.875));
    if (rc) return rc;
  }
  /* Completions freed memory: rerun what did not fit, on every worker. */
  for (int v = 0; v < s->nworkers && rc == DAGR_OK; v++) {
    dagr__sched_worker *sv = &s->w[v];
    size_t nd = sv->ndefer;
    sv->ndefer = 0;
    for (size_t k = 0; k < nd && rc == DAGR_OK; k++) rc = encode(r, sv->defer[k], v);
  }
  return rc;
}

/* Tells every worker the run is over and waits until all have dropped its objects. */
/* Waits until `waiting` workers have answered with a message of type `answer` (of run `id`). A
 * message `keep` takes (it returns 1) is its own; the others are dropped. Errors: the link's,
 * DAGR_EINTERRUPTED (a stop signal: the workers may be gone). */
static int await_answers(dagr__sched *s, int waiting, uint32_t answer, uint32_t id,
                         int (*keep)(dagr__sched *s, int w, const dagr__msg_hdr *h, void *msg,
                                     size_t len, void *arg),
                         void *arg) {
  unsigned idle = 0;
  while (waiting > 0) {
    int w;
    void *msg;
    size_t len;
    int prc = s->link->poll(s->link->impl, &w, &msg, &len);
    if (prc == DAGR__AGAIN) {
      if (dagr__stop_signal()) return DAGR_EINTERRUPTED;
      s->link->idle(s->link->impl, ++idle);
      continue;
    }
    if (prc) return prc;
    idle = 0;
    dagr__msg_hdr h;
    if (dagr__msg_check(msg, len, &h, NULL, 0) != DAGR_OK) {
      free(msg);
      continue;
    }
    if (keep && keep(s, w, &h, msg, len, arg)) continue;
    if ((h.magic_type & 0xffu) == answer && h.run == id) waiting--;
    free(msg);
  }
  return DAGR_OK;
}

static int end_run(dagr__sched *s) {
  int rc = DAGR_OK;
  int waiting = 0;
  /* Every worker must hear RUN_END, even if telling one of them failed. */
  for (int w = 0; w < s->nworkers; w++) {
    dagr__buf b = {0};
    uint32_t zero = 0;
    s->w[w].out_n = 0;
    s->w[w].rel_n = 0;
    s->w[w].out.len = 0;
    s->w[w].rel.len = 0;
    s->w[w].inflight = 0;
    for (int g = 0; g < s->w[w].ngroups; g++) s->dom[s->w[w].dom_base + g].load = 0;
    int src = dagr__msg_begin(&b, DAGR__MSG_RUN_END, s->run, 0);
    if (!src) src = send_to(s, w, &b, &zero);
    dagr__buf_free(&b);
    if (src)
      rc = src;
    else
      waiting++;
  }
  int arc = await_answers(s, waiting, DAGR__MSG_RUN_ENDED, s->run, NULL, NULL);
  if (arc) return arc;
  return rc;
}

static int gather(run *r, dagr_result_t *results) {
  dagr__sched *s = r->s;
  for (size_t k = 0; k < r->p->ntargets; k++) {
    uint32_t i = r->p->targets[k];
    dagr_result_t *res = &results[k];
    memset(res, 0, sizeof *res);
    res->dtype = s->odtype[i];
    res->ndim = s->ondim[i];
    for (int j = 0; j < res->ndim; j++) res->shape[j] = s->oshape[i][j];
    res->nbytes = s->onbytes[i];
    res->data = malloc(res->nbytes ? res->nbytes : 1);
    if (!res->data) return DAGR_ENOMEM;
    if (s->okind[i] == O_SCALAR) {
      memcpy(res->data, &s->oval[i], 8);
    } else if (s->okind[i] == O_INLINE) {
      memcpy(res->data, (const void *)(uintptr_t)s->oval[i], res->nbytes);
    } else if (s->ostore[i] == S_FILE) {
      /* Larger than its worker's store: read from that worker's spill file (same host, or a
       * spill directory every node sees). */
      dagr__spill sp;
      int rc =
          dagr__spill_init(&sp, NULL, s->job_token ? s->job_token : "0", s->w[s->where[i]].rank);
      if (!rc) rc = dagr__spill_read(&sp, s->run, i, res->data, res->nbytes, r->err, r->errlen);
      if (rc) return rc;
    } else {
      int rc = s->link->read(s->link->impl, s->where[i], s->oval[i], res->data, res->nbytes);
      if (rc)
        return dagr__errf(r->err, r->errlen, rc, "reading result '%s' from worker rank %d: %s",
                          dagr__graph_key(r->g, r->p->gid[i]), s->w[s->where[i]].rank,
                          s->link->err ? s->link->err : dagr_strerror(rc));
    }
  }
  return DAGR_OK;
}

static int check_pins(run *r) {
  dagr__sched *s = r->s;
  if (!s->pin_ranks) return DAGR_OK;
  for (uint32_t i = 0; i < r->p->n; i++) {
    int32_t pin = r->g->tasks[r->p->gid[i]].worker;
    if (pin >= 0 && (pin < 1 || pin > s->nworkers))
      return dagr__errf(r->err, r->errlen, DAGR_EINVAL,
                        "task '%s' is restricted to worker rank %d, but the workers are ranks "
                        "1..%d",
                        dagr__graph_key(r->g, r->p->gid[i]), pin, s->nworkers);
  }
  return DAGR_OK;
}

int dagr__sched_run(dagr__sched *s, const dagr_graph_t *g, const dagr__plan *p,
                    dagr_result_t *results, dagr_stats_t *st, char *err, size_t errlen) {
  run r = {.s = s, .g = g, .p = p, .status = DAGR_OK, .err = err, .errlen = errlen, .st = st};
  uint32_t n = p->n;
  int rc = check_pins(&r);
  if (rc) return rc;
  if (ensure_cap(s, n) || dagr__rq_init(&r.rq, n)) {
    dagr__rq_free(&r.rq);
    return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory sizing a %u-task run", n);
  }
  s->run++;
  if (s->obs) s->obs->runs[s->obs_run].sched_run = s->run;
  s->nhnodes = 0;
  for (size_t c = 1; c < s->nshape_chunks; c++) free(s->shape_chunks[c]);
  if (s->nshape_chunks > 1) s->nshape_chunks = 1;
  s->shape_used = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t nd = p->dep_off[i + 1] - p->dep_off[i];
    s->deps_left[i] = nd;
    s->unassigned[i] = nd;
    s->cons_left[i] = p->cons_off[i + 1] - p->cons_off[i];
    s->state[i] = T_WAITING;
    s->where[i] = -1;
    s->tries_left[i] = g->tasks[p->gid[i]].retries;
    s->okind[i] = O_NONE;
    s->holders[i] = 0;
    s->ostore[i] = S_IN;
    s->readers[i] = 0;
    s->sfull[i] = 0;
    s->tresv[i] = 0;
    s->tunk[i] = 0;
  }
  for (size_t k = 0; k < p->ntargets; k++) {
    uint32_t t = p->targets[k];
    if (!(s->state[t] & TARGET_BIT)) {
      s->state[t] |= TARGET_BIT;
      s->cons_left[t]++;
      r.targets_left++;
    }
  }
  /* Insert in reverse so that each bitmap word fills from its end: no difference in result,
   * cheaper summary updates. */
  for (uint32_t i = n; i-- > 0;)
    if (s->deps_left[i] == 0) {
      s->state[i] |= T_READY;
      dagr__rq_set(&r.rq, i);
    }
  for (int w = 0; w < s->nworkers; w++) {
    update_limit(s, &s->w[w]);
    s->w[w].used = s->w[w].peak = s->w[w].resv = 0;
    s->w[w].nunknown = 0;
    s->w[w].ndefer = 0;
    s->w[w].lru_head = s->w[w].lru_n = 0;
  }
  s->any_spilled = 0;
  s->inflight_total = 0;
  s->cp_us = 0;
  s->ndone = 0;
  memset(s->cpf, 0, (size_t)n * sizeof *s->cpf);
  for (int k = 0; k < s->nkernels; k++) {
    s->ktasks[k] = 0;
    s->kus[k] = 0;
  }
  for (int w = 0; w < s->nworkers; w++) {
    s->w[w].busy_us = 0;
    s->w[w].ndone = 0;
  }
  /* Trace events: asked for before the first ASSIGN, which the worker sees after this. */
  for (int w = 0; w < s->nworkers && s->obs && rc == DAGR_OK; w++) {
    dagr__buf b = {0};
    uint32_t zero = 0;
    rc = dagr__msg_begin(&b, DAGR__MSG_TRACE_ON, s->run, 0);
    if (!rc) rc = send_to(s, w, &b, &zero);
    dagr__buf_free(&b);
  }
  if (s->progress) dagr__progress_start(s->progress, n);

  unsigned idle = 0;
  while (rc == DAGR_OK && r.targets_left > 0) {
    /* faults: SIGTERM/SIGINT: give up the run (dagr_finalize then ends the process). */
    if (dagr__stop_signal()) {
      rc = dagr__stop_error(err, errlen);
      break;
    }
    rc = dispatch(&r);
    if (rc) break;
    int got = 0;
    for (int k = 0; k < 256 && rc == DAGR_OK; k++) {
      int w;
      void *msg;
      size_t len;
      int prc = s->link->poll(s->link->impl, &w, &msg, &len);
      if (prc == DAGR__AGAIN) break;
      if (prc) {
        rc = prc;
        break;
      }
      got = 1;
      rc = handle(&r, w, msg, len);
      free(msg);
      update_limit(s, &s->w[w]);
    }
    if (got) {
      idle = 0;
    } else if (rc == DAGR_OK) {
      s->link->idle(s->link->impl, ++idle);
    }
    if (s->progress)
      dagr__progress_tick(s->progress, s->ndone, st->bytes_fetched, st->bytes_spilled);
  }
  if (s->progress) dagr__progress_end(s->progress, s->ndone, st->bytes_fetched, st->bytes_spilled);
  if (rc == DAGR_OK) rc = gather(&r, results);
  if (rc == DAGR_ENOMEM && err && !err[0]) dagr__errf(err, errlen, rc, "out of memory in run");
  /* Free rank 0's copies of small objects still held. */
  for (uint32_t i = 0; i < n; i++)
    if (s->okind[i] == O_INLINE) free((void *)(uintptr_t)s->oval[i]);
  dagr__rq_free(&r.rq);
  for (int w = 0; w < s->nworkers; w++)
    if (s->w[w].peak > st->store_peak) st->store_peak = s->w[w].peak;
  /* After a stop signal the workers may be gone already: waiting for them could hang. */
  int erc = dagr__stop_signal() ? DAGR_OK : end_run(s);
  if (rc == DAGR_OK && erc) {
    rc = erc;
    dagr__errf(err, errlen, rc, "ending the run on the workers failed: %s", dagr_strerror(rc));
  }
  if (rc != DAGR_OK)
    for (size_t k = 0; k < p->ntargets; k++) dagr_result_release(&results[k]);
  return rc;
}

int dagr__sched_info(dagr__sched *s, void (*fn)(int rank, const char *text, void *arg), void *arg,
                     char *err, size_t errlen) {
  for (int w = 0; w < s->nworkers; w++) {
    dagr__buf b = {0};
    uint32_t zero = 0;
    if (dagr__msg_begin(&b, DAGR__MSG_INFO_REQ, 0, 0)) return DAGR_ENOMEM;
    int rc = send_to(s, w, &b, &zero);
    dagr__buf_free(&b);
    if (rc) return rc;
    unsigned idle = 0;
    for (;;) {
      int from;
      void *msg;
      size_t len;
      rc = s->link->poll(s->link->impl, &from, &msg, &len);
      if (rc == DAGR__AGAIN) {
        if (dagr__stop_signal()) return dagr__stop_error(err, errlen);
        s->link->idle(s->link->impl, ++idle);
        continue;
      }
      if (rc) return dagr__errf(err, errlen, rc, "waiting for worker info: %s", dagr_strerror(rc));
      dagr__msg_hdr h;
      int ok = dagr__msg_check(msg, len, &h, NULL, 0) == DAGR_OK &&
               (h.magic_type & 0xffu) == DAGR__MSG_INFO && from == w && len > sizeof h;
      if (ok) {
        char *text = (char *)msg + sizeof h;
        ((char *)msg)[len - 1] = '\0';
        fn(s->w[w].rank, text, arg);
      }
      free(msg);
      if (ok) break;
    }
  }
  return DAGR_OK;
}

/* Files a TRACE message with the session record (taking it). */
static int keep_trace(dagr__sched *s, int w, const dagr__msg_hdr *h, void *msg, size_t len,
                      void *arg) {
  if ((h->magic_type & 0xffu) != DAGR__MSG_TRACE) return 0;
  /* Losing events for lack of memory loses events, not the job. */
  (void)dagr__obs_stash(arg, h->run, w, s->clock_offset_ns ? s->clock_offset_ns[w] : 0, msg, len);
  return 1;
}

int dagr__sched_collect_traces(dagr__sched *s, dagr__obs *o) {
  int waiting = 0, rc = DAGR_OK;
  for (int w = 0; w < s->nworkers; w++) {
    dagr__buf b = {0};
    uint32_t zero = 0;
    int src = dagr__msg_begin(&b, DAGR__MSG_TRACE_REQ, 0, 0);
    if (!src) src = send_to(s, w, &b, &zero);
    dagr__buf_free(&b);
    if (src)
      rc = src;
    else
      waiting++;
  }
  int arc = await_answers(s, waiting, DAGR__MSG_TRACE_END, 0, keep_trace, o);
  return arc ? arc : rc;
}

int dagr__sched_shutdown(dagr__sched *s, int exit_status) {
  int rc = DAGR_OK;
  for (int w = 0; w < s->nworkers; w++) {
    dagr__buf b = {0};
    uint32_t zero = 0;
    /* The exit status rides in the header's ntasks field. */
    if (dagr__msg_begin(&b, DAGR__MSG_SHUTDOWN, 0, (uint32_t)exit_status)) return DAGR_ENOMEM;
    int src = send_to(s, w, &b, &zero);
    dagr__buf_free(&b);
    if (src) rc = src;
  }
  return rc;
}
