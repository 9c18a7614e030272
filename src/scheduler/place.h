/* place.h: picks a task's NUMA domain from its inputs' locality and domain load (no hwloc/MPI). */
#ifndef DAGR_SCHEDULER_PLACE_H
#define DAGR_SCHEDULER_PLACE_H
#ifndef DAGR_BUILDING
#error "src/scheduler/place.h is private to libdagr"
#endif

#include "internal/common.h"

/* The scheduler's view of one NUMA domain of one worker. A domain's global index is its position
 * in the array the caller passes. All domains of one worker have that worker's host. */
typedef struct dagr__place_domain {
  int32_t worker; /* worker id, 0 <= worker < scratch's nworkers */
  int32_t host;   /* host id, 0 <= host < scratch's nhosts */
  uint32_t load;  /* tasks in flight there */
  uint32_t cap;   /* most tasks in flight; load >= cap means full (cap 0: always full) */
} dagr__place_domain;

/* One input of a task: the domain holding it and its size. A domain may appear several times. */
typedef struct dagr__place_input {
  int32_t domain;
  uint64_t bytes;
} dagr__place_input;

/* Per-call work space, so that a placement allocates nothing. The arrays are all zero between
 * calls: a call clears only what its inputs touched, keeping each call O(ndomains + ninputs)
 * however many workers and hosts there are. Not thread-safe: one per placing thread. */
typedef struct dagr__place_scratch {
  uint64_t *domain_bytes; /* input bytes held per domain */
  uint64_t *worker_bytes; /* per worker */
  uint64_t *host_bytes;   /* per host */
  size_t ndomains, nworkers, nhosts;
} dagr__place_scratch;

/* Sizes the scratch for domain arrays of up to ndomains entries whose worker and host ids are
 * below nworkers and nhosts. Errors: DAGR_EINVAL (NULL s), DAGR_ENOMEM (s is then zeroed). */
int dagr__place_scratch_init(dagr__place_scratch *s, size_t ndomains, size_t nworkers,
                             size_t nhosts);
/* Frees the arrays and zeroes s; NULL and zeroed scratches are fine. */
void dagr__place_scratch_free(dagr__place_scratch *s);

/* Chooses the domain for a task. Only domains with room (load < cap) are candidates.
 *  - If the task has no inputs, or its inputs total fewer than small_bytes bytes (moving them
 *    costs less than waiting), the least loaded domain relative to its capacity (smallest
 *    load/cap); ties go to the lowest index.
 *  - Otherwise the domain d of least cost, cost(d) = sum over inputs of bytes * distance(input's
 *    domain, d), distance 0 for the same domain, 1 for another domain of the same worker, 2 for
 *    another worker of the same host, 4 for another host; ties go to the smaller load/cap, then
 *    the lowest index. The cost is computed as 4*B - 2*B_host(d) - B_worker(d) - B_domain(d) from
 *    per-domain, per-worker and per-host byte totals (B: all input bytes), hence O(ndomains +
 *    ninputs); input sizes must total below 2^62 bytes.
 * *chosen is the domain's index, or -1 when no domain has room (the task should wait; this is
 * not an error, so the status is DAGR_OK). Errors: DAGR_EINVAL (NULL domains with ndomains > 0,
 * NULL inputs with ninputs > 0, NULL s or chosen, more domains than the scratch was sized for, a
 * worker or host id outside the scratch's range, an input domain outside [0, ndomains)). */
int dagr__place_choose(const dagr__place_domain *domains, size_t ndomains,
                       const dagr__place_input *inputs, size_t ninputs, uint64_t small_bytes,
                       dagr__place_scratch *s, int32_t *chosen);

#endif
