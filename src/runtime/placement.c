/* placement.c: computes this rank's hwloc plan at start and applies it (process, threads, store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/placement.h"

/* Why here and not in the transport: the plan depends only on the topology, the DAGR_* policy
 * and this rank's index among the workers of its host; the transport computes that index (it
 * is the only code that talks MPI) and asks for the plan before it sizes threads and stores. */

static int group_of(int g) {
  return g < DAGR__MAX_GROUPS ? g : DAGR__MAX_GROUPS - 1;
}

int dagr__placement_init(dagr__placement *pl, int worker, int local_index, int local_workers,
                         int threads, char *err, size_t errlen) {
  memset(pl, 0, sizeof *pl);
  pl->worker = worker;
  pl->ngroups = 1;
  pl->group_weight[0] = 1;
  int rc = dagr__topo_load(NULL, &pl->topo, err, errlen);
  if (rc) return rc;
  rc = dagr__topo_parse_policy(getenv("DAGR_BIND"), &pl->policy, err, errlen);
  if (rc) goto fail;
  hwloc_nodeset_t domains = NULL;
  rc = dagr__topo_parse_domains(pl->topo, getenv("DAGR_NUMA_DOMAINS"), &domains, err, errlen);
  if (rc) goto fail;
  hwloc_cpuset_t launcher = NULL;
  char why[512];
  if (dagr__topo_launcher_binding(pl->topo, &launcher, why, sizeof why) != DAGR_OK) {
    dagr__topo_warn_once("cannot read this rank's CPU binding", why);
    launcher = NULL;
  }
  if (worker && threads <= 0 && pl->policy == DAGR__BIND_NONE) {
    /* Unbound workers of one host share its cores rather than each taking all of them. */
    int ncores = 1;
    (void)dagr__topo_ncores(pl->topo, &ncores);
    threads = ncores / (local_workers > 0 ? local_workers : 1);
    if (threads < 1) threads = 1;
  }
  if (worker) {
    dagr__topo_req req = {pl->policy, local_index, local_workers > 0 ? local_workers : 1,
                          launcher,   domains,     threads};
    rc = dagr__topo_plan_worker(pl->topo, &req, &pl->plan, err, errlen);
    if (rc == DAGR_OK) {
      pl->has_plan = 1;
      int n = pl->plan.ngroups < DAGR__MAX_GROUPS ? pl->plan.ngroups : DAGR__MAX_GROUPS;
      pl->ngroups = n > 0 ? n : 1;
      memset(pl->group_threads, 0, sizeof pl->group_threads);
      memset(pl->group_weight, 0, sizeof pl->group_weight);
      for (int g = 0; g < pl->plan.ngroups; g++) {
        const dagr__topo_group *gr = &pl->plan.groups[g];
        pl->group_weight[group_of(g)] += (double)(gr->memory_share ? gr->memory_share : 1);
      }
      for (int t = 0; t < pl->plan.nthreads; t++)
        pl->group_threads[group_of(pl->plan.threads[t].group)]++;
      /* A group without threads could never run its tasks: fold it into the others. */
      int used = 0;
      for (int g = 0; g < pl->ngroups; g++)
        if (pl->group_threads[g] > 0) used++;
      if (used < pl->ngroups) {
        pl->ngroups = 1;
        pl->group_threads[0] = pl->plan.nthreads;
        pl->group_weight[0] = 1;
      }
      if (pl->plan.bind && dagr__topo_bind_process(pl->topo, pl->plan.cpuset, why, sizeof why))
        dagr__topo_warn_once("cannot bind this worker to its cores", why);
      dagr__topo_plan_describe(&pl->plan, pl->desc, sizeof pl->desc);
    }
  } else {
    rc = dagr__topo_plan_scheduler(pl->topo, pl->policy, launcher, &pl->sched_cpuset, err, errlen);
    if (rc == DAGR_OK) {
      char cpus[256] = "all";
      if (pl->sched_cpuset) {
        hwloc_bitmap_list_snprintf(cpus, sizeof cpus, pl->sched_cpuset);
        if (dagr__topo_bind_process(pl->topo, pl->sched_cpuset, why, sizeof why))
          dagr__topo_warn_once("cannot bind the scheduler rank to its core", why);
      }
      snprintf(pl->desc, sizeof pl->desc, "cpuset=%s bind=%s%s", cpus,
               pl->policy == DAGR__BIND_NONE   ? "none"
               : pl->policy == DAGR__BIND_CORE ? "core"
                                               : "numa",
               launcher ? " launcher_bound=1" : "");
    }
  }
  if (launcher) hwloc_bitmap_free(launcher);
  if (domains) hwloc_bitmap_free(domains);
  if (rc) goto fail;
  return DAGR_OK;
fail:
  dagr__placement_free(pl);
  return rc;
}

size_t dagr__placement_store_default(const dagr__placement *pl) {
  if (!pl || !pl->has_plan) return 0;
  double m = 0;
  for (int g = 0; g < pl->plan.ngroups; g++) m += (double)pl->plan.groups[g].memory_share;
  return (size_t)(0.6 * m) & ~(size_t)(DAGR__STORE_ALIGN - 1);
}

int dagr__placement_thread_group(const dagr__placement *pl, int thread_index) {
  if (!pl->has_plan || pl->ngroups == 1 || thread_index < 0 || thread_index >= pl->plan.nthreads)
    return 0;
  return group_of(pl->plan.threads[thread_index].group);
}

void dagr__placement_bind_thread(const dagr__placement *pl, int thread_index) {
  if (!pl->has_plan || !pl->plan.bind || thread_index < 0 || thread_index >= pl->plan.nthreads)
    return;
  char why[512];
  if (dagr__topo_bind_thread(pl->topo, pl->plan.threads[thread_index].cpuset, why, sizeof why))
    dagr__topo_warn_once("cannot bind an executor thread to its cores", why);
}

void dagr__placement_bind_store(const dagr__placement *pl, dagr__store *s) {
  if (!pl->has_plan || !pl->plan.bind || !s->base) return;
  int nparts = dagr__store_nparts(s);
  for (int p = 0; p < nparts && p < pl->plan.ngroups; p++) {
    int numa = pl->plan.groups[p].numa_os;
    uint64_t off;
    size_t len;
    if (numa < 0 || dagr__store_part_range(s, p, &off, &len) != DAGR_OK || len == 0) continue;
    hwloc_nodeset_t ns = hwloc_bitmap_alloc();
    if (!ns) return;
    hwloc_bitmap_only(ns, (unsigned)numa);
    char why[512];
    if (dagr__topo_membind_area(pl->topo, s->base + off, len, ns, why, sizeof why))
      dagr__topo_warn_once("cannot bind the object store to its NUMA node", why);
    hwloc_bitmap_free(ns);
  }
}

void dagr__placement_free(dagr__placement *pl) {
  if (!pl) return;
  if (pl->has_plan) dagr__topo_plan_free(&pl->plan);
  pl->has_plan = 0;
  if (pl->sched_cpuset) hwloc_bitmap_free(pl->sched_cpuset);
  pl->sched_cpuset = NULL;
  if (pl->topo) dagr__topo_free(pl->topo);
  pl->topo = NULL;
}
