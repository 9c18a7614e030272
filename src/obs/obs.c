/* obs.c: rank 0's record of a session (task stream, transfers, spills, store use) from the workers'
 * trace events. */
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "obs/obs.h"
#include "proto/proto.h"

/* Grows an array of `size`-byte items to hold one more. */
static int grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return DAGR_OK;
  size_t c = *cap ? *cap * 2 : 1024;
  void *q = realloc(*p, c * size);
  if (!q) return DAGR_ENOMEM;
  *p = q;
  *cap = c;
  return DAGR_OK;
}

int dagr__obs_init(dagr__obs *o, int detail, int nranks, const char *host0, int nworkers,
                   const dagr__worker_desc *workers, int rank0_is_worker, int nkernels,
                   const char *const *kernel_names) {
  memset(o, 0, sizeof *o);
  o->detail = detail;
  o->t0_ns = dagr__now_ns();
  o->nranks = nranks;
  snprintf(o->host0, sizeof o->host0, "%s", host0 ? host0 : "");
  o->nworkers = nworkers;
  o->nkernels = nkernels;
  o->kernel_names = kernel_names;
  o->workers = calloc((size_t)(nworkers > 0 ? nworkers : 1), sizeof *o->workers);
  o->kernels = calloc((size_t)(nkernels > 0 ? nkernels : 1), sizeof *o->kernels);
  o->matrix = calloc((size_t)(nworkers > 0 ? nworkers * nworkers : 1), sizeof *o->matrix);
  if (!o->workers || !o->kernels || !o->matrix) {
    dagr__obs_free(o);
    return DAGR_ENOMEM;
  }
  for (int w = 0; w < nworkers; w++) {
    dagr__obs_worker *ow = &o->workers[w];
    ow->rank = rank0_is_worker ? 0 : w + 1;
    if (workers) {
      ow->threads = workers[w].threads;
      ow->store_bytes = workers[w].store_bytes;
      snprintf(ow->host, sizeof ow->host, "%s", workers[w].hostname);
    }
  }
  return DAGR_OK;
}

static void snap_free(dagr__obs_snap *sn) {
  free(sn->gid);
  free(sn->kernel);
  memset(sn, 0, sizeof *sn);
}

static void capture_all(dagr__obs *o);

void dagr__obs_free(dagr__obs *o) {
  for (size_t i = 0; i < o->npend; i++) free(o->pend[i].msg);
  free(o->pend);
  capture_all(o); /* no graph may call back into a freed record */
  for (size_t i = 0; o->snaps && i < o->cap_snaps; i++) snap_free(&o->snaps[i]);
  for (size_t i = 0; i < o->ngraphs; i++) free(o->graphs[i].keyoff);
  free(o->graphs);
  free(o->snaps);
  free(o->workers);
  free(o->kernels);
  free(o->matrix);
  free(o->slices);
  free(o->xfers);
  free(o->ios);
  free(o->mems);
  free(o->runs);
  free(o->strings);
  memset(o, 0, sizeof *o);
}

double dagr__obs_now_us(const dagr__obs *o) {
  return 1e-3 * (double)(int64_t)(dagr__now_ns() - o->t0_ns);
}

int dagr__obs_run_begin(dagr__obs *o, uint32_t *index) {
  if (grow((void **)&o->runs, &o->cap_runs, o->nruns, sizeof *o->runs)) return DAGR_ENOMEM;
  dagr__obs_run *r = &o->runs[o->nruns];
  memset(r, 0, sizeof *r);
  r->ts = dagr__obs_now_us(o);
  r->critical_path_s = -1;
  *index = (uint32_t)o->nruns++;
  return DAGR_OK;
}

/* Makes room for n more bytes in the string arena. */
static int strings_reserve(dagr__obs *o, size_t n) {
  if (o->strings_len + n > UINT32_MAX) return DAGR_ENOMEM; /* offsets are 32-bit */
  if (o->strings_len + n <= o->strings_cap) return DAGR_OK;
  size_t c = o->strings_cap ? o->strings_cap * 2 : 1 << 16;
  while (c < o->strings_len + n) c *= 2;
  char *p = realloc(o->strings, c);
  if (!p) return DAGR_ENOMEM;
  o->strings = p;
  o->strings_cap = c;
  return DAGR_OK;
}

/* A worker time (ns on its clock) as microseconds since the session began on rank 0's clock. */
static double on_rank0(const dagr__obs *o, uint64_t t, int64_t offset_ns) {
  return 1e-3 * (double)((int64_t)(t - o->t0_ns) - offset_ns);
}

int dagr__obs_stash(dagr__obs *o, uint32_t sched_run, int w, int64_t offset_ns, void *msg,
                    size_t len) {
  if (grow((void **)&o->pend, &o->cap_pend, o->npend, sizeof *o->pend)) {
    free(msg);
    return DAGR_ENOMEM;
  }
  o->pend[o->npend++] = (dagr__obs_pending){msg, len, sched_run, w, offset_ns};
  return DAGR_OK;
}

/* Copies graph record i's keys into strings (one copy of the key pool) and stops watching it. */
static void capture(dagr__obs *o, size_t i) {
  dagr__obs_graph *gr = &o->graphs[i];
  if (!gr->alive) return;
  dagr_graph_t *g = (dagr_graph_t *)(uintptr_t)gr->g;
  gr->alive = 0;
  gr->g = NULL;
  if (g->on_free_arg == o) {
    g->on_free = NULL;
    g->on_free_arg = NULL;
  }
  gr->keyoff = malloc((g->nids ? g->nids : 1) * sizeof *gr->keyoff);
  if (!gr->keyoff || strings_reserve(o, g->keys_len) != DAGR_OK) {
    free(gr->keyoff);
    gr->keyoff = NULL; /* out of memory: its events go unnamed */
    return;
  }
  memcpy(o->strings + o->strings_len, g->keys, g->keys_len);
  uint32_t base = (uint32_t)o->strings_len;
  o->strings_len += g->keys_len;
  for (uint32_t k = 0; k < g->nids; k++) gr->keyoff[k] = base + g->tasks[k].key_off;
  gr->ngids = g->nids;
}

static void capture_all(dagr__obs *o) {
  for (size_t i = 0; i < o->ngraphs; i++) capture(o, i);
}

/* The graph is being freed: copy its keys now. */
static void on_graph_free(void *arg, const dagr_graph_t *g) {
  dagr__obs *o = arg;
  for (size_t i = 0; i < o->ngraphs; i++)
    if (o->graphs[i].alive && o->graphs[i].g == g) capture(o, i);
}

/* The record watching g (made on first use). -1 when out of memory. */
static int32_t graph_record(dagr__obs *o, dagr_graph_t *g) {
  for (size_t i = o->ngraphs; i-- > 0;)
    if (o->graphs[i].alive && o->graphs[i].g == g) return (int32_t)i;
  if (o->ngraphs >= INT32_MAX ||
      grow((void **)&o->graphs, &o->cap_graphs, o->ngraphs, sizeof *o->graphs))
    return -1;
  size_t i = o->ngraphs++;
  o->graphs[i] = (dagr__obs_graph){g, 1, 0, NULL};
  if (!g->on_free) {
    g->on_free = on_graph_free;
    g->on_free_arg = o;
  } else if (g->on_free_arg != o) {
    capture(o, i); /* someone else watches it: copy the keys now */
  }
  return (int32_t)i;
}

int dagr__obs_snapshot(dagr__obs *o, uint32_t run, dagr__plan *p, dagr_graph_t *g) {
  if (run >= o->cap_snaps) {
    size_t c = o->cap_runs > run ? o->cap_runs : (size_t)run + 1;
    dagr__obs_snap *sn = realloc(o->snaps, c * sizeof *sn);
    if (!sn) return DAGR_ENOMEM;
    memset(sn + o->cap_snaps, 0, (c - o->cap_snaps) * sizeof *sn);
    o->snaps = sn;
    o->cap_snaps = c;
  }
  dagr__obs_snap *sn = &o->snaps[run];
  snap_free(sn);
  int32_t gi = graph_record(o, g);
  if (gi < 0) return DAGR_ENOMEM;
  /* The plan's own arrays, taken over rather than copied: the run's end is on the clock. */
  sn->gid = p->gid;
  sn->kernel = p->kernel;
  p->gid = NULL;
  p->kernel = NULL;
  sn->n = p->n;
  sn->graph = gi;
  return DAGR_OK;
}

/* Task id's key (offset in strings), UINT32_MAX if unknown. */
static uint32_t snap_key(const dagr__obs *o, const dagr__obs_snap *sn, uint32_t id) {
  const dagr__obs_graph *gr = &o->graphs[sn->graph];
  uint32_t gid = sn->gid[id];
  return gr->keyoff && gid < gr->ngids ? gr->keyoff[gid] : UINT32_MAX;
}

/* The index of the run the scheduler numbered sched_run (increasing with the index), or -1. */
static long run_index(const dagr__obs *o, uint32_t sched_run) {
  size_t lo = 0, hi = o->nruns;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (o->runs[mid].sched_run < sched_run)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < o->nruns && o->runs[lo].sched_run == sched_run ? (long)lo : -1;
}

/* Files one kept message. */
static int file_one(dagr__obs *o, const dagr__obs_pending *pm) {
  dagr__msg_hdr h;
  int w = pm->worker;
  long ri = run_index(o, pm->run);
  if (dagr__msg_check(pm->msg, pm->len, &h, NULL, 0) != DAGR_OK || w < 0 || w >= o->nworkers ||
      ri < 0 || (size_t)ri >= o->cap_snaps || !o->snaps[ri].kernel ||
      h.count > pm->len / sizeof(dagr__tev))
    return DAGR_OK;
  const dagr__obs_snap *sn = &o->snaps[ri];
  uint32_t run = (uint32_t)ri;
  size_t want = o->nslices + h.count;
  if (want > o->cap_slices) {
    size_t c = o->cap_slices * 2 > want ? o->cap_slices * 2 : want;
    dagr__obs_slice *sl = realloc(o->slices, c * sizeof *sl);
    if (!sl) return DAGR_ENOMEM;
    o->slices = sl;
    o->cap_slices = c;
  }
  size_t pos = sizeof h;
  for (uint32_t k = 0; k < h.count; k++) {
    dagr__tev e;
    if (dagr__dec_tev(pm->msg, pm->len, &pos, &e) != DAGR_OK) break;
    double ts = on_rank0(o, e.t0, pm->offset_ns), dur = 1e-3 * (double)(e.t1 - e.t0);
    if (e.id >= sn->n && e.type != DAGR__TEV_MEM) continue; /* names no task of this run */
    switch (e.type) {
    case DAGR__TEV_TASK: {
      dagr__obs_slice *sl = &o->slices[o->nslices++];
      memset(sl, 0, sizeof *sl);
      sl->ts = ts;
      sl->dur = dur;
      sl->in_bytes = e.in_bytes;
      sl->out_bytes = e.bytes;
      sl->key = snap_key(o, sn, e.id);
      sl->run = run;
      sl->worker = w;
      sl->thread = e.arg;
      sl->kernel = sn->kernel[e.id];
      sl->status = e.pad ? DAGR_EKERNEL : DAGR_OK;
      break;
    }
    case DAGR__TEV_XFER: {
      if (grow((void **)&o->xfers, &o->cap_xfers, o->nxfers, sizeof *o->xfers)) return DAGR_ENOMEM;
      dagr__obs_xfer *x = &o->xfers[o->nxfers++];
      x->ts = ts;
      x->dur = dur;
      x->bytes = e.bytes;
      x->key = snap_key(o, sn, e.id);
      x->dst = w;
      x->src = e.arg < o->nworkers ? e.arg : -1;
      x->run = run;
      if (x->src >= 0) o->matrix[(size_t)w * (size_t)o->nworkers + (size_t)x->src] += e.bytes;
      break;
    }
    case DAGR__TEV_SPILL:
    case DAGR__TEV_RESTORE: {
      if (grow((void **)&o->ios, &o->cap_ios, o->nios, sizeof *o->ios)) return DAGR_ENOMEM;
      dagr__obs_io *io = &o->ios[o->nios++];
      io->ts = ts;
      io->dur = dur;
      io->bytes = e.bytes;
      io->key = snap_key(o, sn, e.id);
      io->worker = w;
      io->kind = e.type == DAGR__TEV_SPILL ? DAGR__OBS_SPILL : DAGR__OBS_RESTORE;
      io->run = run;
      break;
    }
    case DAGR__TEV_MEM: {
      if (grow((void **)&o->mems, &o->cap_mems, o->nmems, sizeof *o->mems)) return DAGR_ENOMEM;
      dagr__obs_mem *m = &o->mems[o->nmems++];
      m->ts = ts;
      m->bytes = e.bytes;
      m->worker = w;
      m->pad = 0;
      break;
    }
    default:
      break;
    }
  }
  return DAGR_OK;
}

int dagr__obs_flush(dagr__obs *o) {
  int rc = DAGR_OK;
  capture_all(o);
  for (size_t i = 0; i < o->npend; i++) {
    if (rc == DAGR_OK) rc = file_one(o, &o->pend[i]);
    free(o->pend[i].msg);
  }
  o->npend = 0;
  return rc;
}
