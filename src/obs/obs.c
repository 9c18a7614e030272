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

void dagr__obs_free(dagr__obs *o) {
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

/* Copies a task's key into the string arena; returns its offset, or UINT32_MAX when the arena
 * is full (4 GiB) or out of memory: the event then shows no key. */
static uint32_t intern(dagr__obs *o, const char *key) {
  size_t n = strlen(key) + 1;
  if (o->strings_len + n > UINT32_MAX) return UINT32_MAX;
  if (o->strings_len + n > o->strings_cap) {
    size_t c = o->strings_cap ? o->strings_cap * 2 : 1 << 16;
    while (c < o->strings_len + n) c *= 2;
    char *p = realloc(o->strings, c);
    if (!p) return UINT32_MAX;
    o->strings = p;
    o->strings_cap = c;
  }
  memcpy(o->strings + o->strings_len, key, n);
  uint32_t off = (uint32_t)o->strings_len;
  o->strings_len += n;
  return off;
}

/* A worker time (ns on its clock) as microseconds since the session began on rank 0's clock. */
static double on_rank0(const dagr__obs *o, uint64_t t, int64_t offset_ns) {
  return 1e-3 * (double)((int64_t)(t - o->t0_ns) - offset_ns);
}

int dagr__obs_add_events(dagr__obs *o, const dagr__obs_runview *rv, int w, int64_t offset_ns,
                         const void *msg, size_t len) {
  dagr__msg_hdr h;
  if (dagr__msg_check(msg, len, &h, NULL, 0) != DAGR_OK || w < 0 || w >= o->nworkers)
    return DAGR_OK;
  const dagr__plan *p = rv->plan;
  size_t pos = sizeof h;
  for (uint32_t k = 0; k < h.count; k++) {
    dagr__tev e;
    if (dagr__dec_tev(msg, len, &pos, &e) != DAGR_OK) break;
    double ts = on_rank0(o, e.t0, offset_ns), dur = 1e-3 * (double)(e.t1 - e.t0);
    int known = e.id < p->n;
    const char *key = known ? dagr__graph_key(rv->graph, p->gid[e.id]) : "?";
    switch (e.type) {
    case DAGR__TEV_TASK: {
      if (!known) break;
      if (grow((void **)&o->slices, &o->cap_slices, o->nslices, sizeof *o->slices))
        return DAGR_ENOMEM;
      dagr__obs_slice *sl = &o->slices[o->nslices++];
      memset(sl, 0, sizeof *sl);
      sl->ts = ts;
      sl->dur = dur;
      for (uint32_t d = p->dep_off[e.id]; d < p->dep_off[e.id + 1]; d++)
        sl->in_bytes += rv->onbytes[p->deps[d]];
      sl->out_bytes = e.bytes;
      sl->key = intern(o, key);
      sl->run = rv->run;
      sl->worker = w;
      sl->thread = e.arg;
      sl->kernel = p->kernel[e.id];
      sl->status = e.pad ? DAGR_EKERNEL : DAGR_OK;
      break;
    }
    case DAGR__TEV_XFER: {
      if (grow((void **)&o->xfers, &o->cap_xfers, o->nxfers, sizeof *o->xfers)) return DAGR_ENOMEM;
      dagr__obs_xfer *x = &o->xfers[o->nxfers++];
      x->ts = ts;
      x->dur = dur;
      x->bytes = e.bytes;
      x->key = intern(o, key);
      x->dst = w;
      x->src = e.arg < o->nworkers ? e.arg : -1;
      x->run = rv->run;
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
      io->key = intern(o, key);
      io->worker = w;
      io->kind = e.type == DAGR__TEV_SPILL ? DAGR__OBS_SPILL : DAGR__OBS_RESTORE;
      io->run = rv->run;
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
