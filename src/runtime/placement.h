/* placement.h: where this rank runs: its hwloc plan, applied to the process, its threads and its
 * store. */
#ifndef DAGR_RUNTIME_PLACEMENT_H
#define DAGR_RUNTIME_PLACEMENT_H
#ifndef DAGR_BUILDING
#error "src/runtime/placement.h is private to libdagr"
#endif

#include "internal/common.h"
#include "store/store.h"
#include "topo/topo.h"

typedef struct dagr__placement {
  dagr__topo *topo;
  int policy; /* DAGR__BIND_* from DAGR_BIND */
  int worker; /* 1: a worker plan below; 0: the scheduler rank */
  dagr__topo_plan plan;
  int has_plan;
  hwloc_cpuset_t sched_cpuset; /* the scheduler rank's binding, NULL when unbound */
  int ngroups;                 /* executor groups (1 when the plan has none) */
  int group_threads[DAGR__MAX_GROUPS];
  double group_weight[DAGR__MAX_GROUPS]; /* share of the store per group */
  char desc[1024];                       /* one line for dagr info */
} dagr__placement;

/* Loads the topology (the machine, or what HWLOC_XMLFILE / HWLOC_SYNTHETIC describe), reads
 * DAGR_BIND and DAGR_NUMA_DOMAINS, computes this rank's plan and binds the process to it: a
 * worker (local_index of local_workers workers on its host, `threads` executor threads or 0
 * for one per core of its share) or the scheduler rank (worker 0). A launcher's binding is
 * respected and never widened. A binding the system refuses is reported once on stderr as a
 * warning and the rank continues unbound. More NUMA domains than DAGR__MAX_GROUPS in one worker
 * are merged into its last group. Errors: DAGR_ECONFIG (a bad DAGR_BIND or DAGR_NUMA_DOMAINS,
 * named), DAGR_EIO / DAGR_EINVAL (the topology cannot be loaded), DAGR_ENOMEM. */
int dagr__placement_init(dagr__placement *pl, int worker, int local_index, int local_workers,
                         int threads, char *err, size_t errlen);
/* Binds the calling executor thread (index in the plan's thread order) to its cores. */
void dagr__placement_bind_thread(const dagr__placement *pl, int thread_index);
/* Binds each part of the store (one per group) to its NUMA node's memory, before first touch. */
void dagr__placement_bind_store(const dagr__placement *pl, dagr__store *s);
/* The default store size of a worker: 60% of its share of its NUMA domains' memory (the plan's
 * memory_share per group), or 0 when there is no plan or hwloc reports no memory. */
size_t dagr__placement_store_default(const dagr__placement *pl);
/* The executor group of thread thread_index. */
int dagr__placement_thread_group(const dagr__placement *pl, int thread_index);
void dagr__placement_free(dagr__placement *pl);

#endif
