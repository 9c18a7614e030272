/* place.c: NUMA-domain placement of a task by input locality and load. */
#include "scheduler/place.h"

#include <stdlib.h>
#include <string.h>

int dagr__place_scratch_init(dagr__place_scratch *s, size_t ndomains, size_t nworkers,
                             size_t nhosts) {
  if (!s) return DAGR_EINVAL;
  memset(s, 0, sizeof *s);
  /* calloc(0) may return NULL: keep one entry so that NULL always means out of memory. */
  s->domain_bytes = calloc(ndomains ? ndomains : 1, sizeof *s->domain_bytes);
  s->worker_bytes = calloc(nworkers ? nworkers : 1, sizeof *s->worker_bytes);
  s->host_bytes = calloc(nhosts ? nhosts : 1, sizeof *s->host_bytes);
  if (!s->domain_bytes || !s->worker_bytes || !s->host_bytes) {
    dagr__place_scratch_free(s);
    return DAGR_ENOMEM;
  }
  s->ndomains = ndomains;
  s->nworkers = nworkers;
  s->nhosts = nhosts;
  return DAGR_OK;
}

void dagr__place_scratch_free(dagr__place_scratch *s) {
  if (!s) return;
  free(s->domain_bytes);
  free(s->worker_bytes);
  free(s->host_bytes);
  memset(s, 0, sizeof *s);
}

/* load_a/cap_a < load_b/cap_b, exactly (32-bit operands cannot overflow the products). */
static int less_loaded(const dagr__place_domain *a, const dagr__place_domain *b) {
  return (uint64_t)a->load * b->cap < (uint64_t)b->load * a->cap;
}

static int has_room(const dagr__place_domain *d) {
  return d->load < d->cap;
}

int dagr__place_choose(const dagr__place_domain *domains, size_t ndomains,
                       const dagr__place_input *inputs, size_t ninputs, uint64_t small_bytes,
                       dagr__place_scratch *s, int32_t *chosen) {
  if (!chosen || !s || (!domains && ndomains) || (!inputs && ninputs) || ndomains > s->ndomains ||
      ndomains > INT32_MAX)
    return DAGR_EINVAL;
  *chosen = -1;
  for (size_t d = 0; d < ndomains; d++)
    if (domains[d].worker < 0 || (size_t)domains[d].worker >= s->nworkers || domains[d].host < 0 ||
        (size_t)domains[d].host >= s->nhosts)
      return DAGR_EINVAL;
  uint64_t total = 0;
  for (size_t i = 0; i < ninputs; i++) {
    if (inputs[i].domain < 0 || (size_t)inputs[i].domain >= ndomains) return DAGR_EINVAL;
    total += inputs[i].bytes;
  }

  int32_t best = -1;
  if (ninputs == 0 || total < small_bytes) {
    for (size_t d = 0; d < ndomains; d++)
      if (has_room(&domains[d]) && (best < 0 || less_loaded(&domains[d], &domains[best])))
        best = (int32_t)d;
    *chosen = best;
    return DAGR_OK;
  }

  for (size_t i = 0; i < ninputs; i++) {
    const dagr__place_domain *src = &domains[inputs[i].domain];
    s->domain_bytes[inputs[i].domain] += inputs[i].bytes;
    s->worker_bytes[src->worker] += inputs[i].bytes;
    s->host_bytes[src->host] += inputs[i].bytes;
  }
  /* Least cost is most local bytes: maximize 2*B_host + B_worker + B_domain (see place.h). */
  uint64_t best_local = 0;
  for (size_t d = 0; d < ndomains; d++) {
    const dagr__place_domain *c = &domains[d];
    if (!has_room(c)) continue;
    uint64_t local = 2 * s->host_bytes[c->host] + s->worker_bytes[c->worker] + s->domain_bytes[d];
    if (best < 0 || local > best_local || (local == best_local && less_loaded(c, &domains[best]))) {
      best = (int32_t)d;
      best_local = local;
    }
  }
  for (size_t i = 0; i < ninputs; i++) {
    const dagr__place_domain *src = &domains[inputs[i].domain];
    s->domain_bytes[inputs[i].domain] = 0;
    s->worker_bytes[src->worker] = 0;
    s->host_bytes[src->host] = 0;
  }
  *chosen = best;
  return DAGR_OK;
}
