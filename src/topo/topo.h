/* topo.h: the host's hwloc topology and the per-rank CPU and memory binding plans made from it. */
#ifndef DAGR_TOPO_TOPO_H
#define DAGR_TOPO_TOPO_H
#ifndef DAGR_BUILDING
#error "src/topo/topo.h is private to libdagr"
#endif

#include <hwloc.h>

#include "internal/common.h"

/* Everything here is computed from one host's topology alone (no MPI): the runtime learns how
 * many workers share the host and which one this rank is, and passes that in. The plans are
 * plain data so that they can be tested on synthetic and XML topologies, where hwloc's binding
 * calls succeed without doing anything.
 *
 * A "domain" is a NUMA node that has CPUs in the topology's allowed cpuset; memory-only NUMA
 * nodes are not domains. Several NUMA nodes that share one locality (HBM beside DDR under one
 * package) count as separate domains. Cpusets hold PU OS indices and nodesets NUMA OS indices,
 * as everywhere in hwloc. Where a machine reports no Core objects, each PU counts as a core.
 * A loaded topology is only read afterwards, so plans and binding calls may run from several
 * threads at once (hwloc allows concurrent queries and binding calls on one topology). */

typedef struct dagr__topo dagr__topo;

/* Loads a topology. source NULL: this machine (hwloc itself honours HWLOC_XMLFILE and
 * HWLOC_SYNTHETIC then); a source starting with '/' or ending in ".xml": an XML file written by
 * lstopo; anything else: a synthetic description such as "pack:2 numa:2 core:4 pu:1" (the last
 * level must be pu). Only a topology of this machine (is_thissystem) binds for real. Errors, each
 * message naming the source: DAGR_EINVAL (NULL out, malformed synthetic description, no NUMA
 * node with CPUs), DAGR_EIO (XML file missing, unreadable or not an hwloc topology; discovery of
 * this machine failed), DAGR_ENOMEM. */
int dagr__topo_load(const char *source, dagr__topo **out, char *err, size_t errlen);
void dagr__topo_free(dagr__topo *t);

/* Accessors. Each errors with DAGR_EINVAL only (NULL argument). */
/* Number of domains (NUMA nodes with allowed CPUs). */
int dagr__topo_ndomains(const dagr__topo *t, int *n);
/* 1 if the topology describes the machine this process runs on (binding calls act), else 0. */
int dagr__topo_is_thissystem(const dagr__topo *t, int *yes);
/* Cores of the host that have allowed PUs. */
int dagr__topo_ncores(const dagr__topo *t, int *n);
/* The underlying hwloc topology, owned by t (for hwloc calls this module does not wrap). */
int dagr__topo_hwloc(const dagr__topo *t, hwloc_topology_t *h);

/* ---------------------------------------------------------------------------------------------
 * Policies and the variables that choose them.
 * ------------------------------------------------------------------------------------------- */
enum {
  DAGR__BIND_NUMA = 0, /* default: threads bound to their domain's cores, memory to its node */
  DAGR__BIND_CORE = 1, /* like NUMA, and each thread bound to one core (its first PU) */
  DAGR__BIND_NONE = 2  /* nothing bound */
};

/* Parses DAGR_BIND: "none", "numa" or "core"; NULL or "" gives DAGR__BIND_NUMA. Errors:
 * DAGR_EINVAL (NULL policy), DAGR_ECONFIG (anything else: the message names DAGR_BIND and the
 * value, like the other DAGR_* variables). */
int dagr__topo_parse_policy(const char *s, int *policy, char *err, size_t errlen);

/* Parses DAGR_NUMA_DOMAINS, the NUMA nodes (OS indices) whose cores are divided among the host's
 * workers: a comma-separated list of indices and inclusive ranges ("0,2-3"), no spaces. NULL or
 * "" means every domain and gives *domains = NULL. Otherwise *domains is a new nodeset, freed with
 * hwloc_bitmap_free. Errors: DAGR_EINVAL (NULL t or domains), DAGR_ECONFIG (syntax, decreasing
 * range, or an index that is not a domain of t: the message names DAGR_NUMA_DOMAINS, the
 * offending item and the domains there are), DAGR_ENOMEM. */
int dagr__topo_parse_domains(const dagr__topo *t, const char *s, hwloc_nodeset_t *domains,
                             char *err, size_t errlen);

/* The binding this process was started with, when it says something: on this machine, the
 * process's CPU binding if it is a non-empty strict subset of the allowed cpuset (mpirun
 * --bind-to, srun --cpu-bind, taskset). *binding is then a new cpuset (hwloc_bitmap_free), else
 * NULL: not bound, or a synthetic/XML topology, or an OS that cannot report bindings (ENOSYS).
 * Errors: DAGR_EINVAL (NULL argument, or the binding could not be read: the message gives the
 * reason), DAGR_ENOMEM. */
int dagr__topo_launcher_binding(const dagr__topo *t, hwloc_cpuset_t *binding, char *err,
                                size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * A worker's plan.
 * ------------------------------------------------------------------------------------------- */

/* Most threads a plan may ask for. */
#define DAGR__TOPO_MAX_THREADS 65536

typedef struct dagr__topo_req {
  int policy;        /* DAGR__BIND_* */
  int local_index;   /* this worker among the workers of its host, 0-based */
  int local_workers; /* workers on the host, >= 1 */
  /* The launcher's binding (dagr__topo_launcher_binding), NULL when not bound. */
  hwloc_const_cpuset_t launcher_binding;
  /* Domains to divide among the host's workers (dagr__topo_parse_domains), NULL for all. Only
   * used when not launcher-bound and the policy binds: a launcher binding already decides. */
  hwloc_const_nodeset_t domains;
  int threads; /* executor threads; 0: one per core of the worker's cpuset */
} dagr__topo_req;

/* The part of one NUMA node that a worker uses. */
typedef struct dagr__topo_group {
  int numa_os;           /* NUMA node OS index; -1 for the single group of an unbound plan */
  int numa_logical;      /* NUMA node logical index; -1 likewise */
  hwloc_cpuset_t cpuset; /* the node's cpuset within the worker's cpuset */
  int ncores;            /* cores with PUs in cpuset */
  unsigned *core_pu;     /* per core, ascending: OS index of its first PU within cpuset */
  uint64_t local_memory; /* bytes of the node (summed over the nodes, for the unbound group) */
  uint64_t memory_share; /* this worker's share of local_memory (see dagr__topo_plan_worker) */
  int first_thread;      /* this group's threads are [first_thread, first_thread + nthreads) */
  int nthreads;
} dagr__topo_group;

typedef struct dagr__topo_thread {
  int group;             /* index into plan->groups */
  hwloc_cpuset_t cpuset; /* where to bind it: one PU (core policy) or its group's cpuset */
} dagr__topo_thread;

typedef struct dagr__topo_plan {
  int policy;              /* the request's */
  int bind;                /* 1: bind threads to their cpusets and group memory to its node */
  int launcher_bound;      /* 1: derived from the launcher's binding (never wider than it) */
  hwloc_cpuset_t cpuset;   /* the worker's PUs: the union of the group cpusets */
  hwloc_nodeset_t nodeset; /* the domains the worker's cpuset meets */
  int ngroups;
  dagr__topo_group *groups; /* in NUMA logical order */
  int nthreads;
  dagr__topo_thread *threads; /* grouped: the threads of group 0 first, and so on */
} dagr__topo_plan;

/* Plans where one worker runs, its threads bind and its memory lives. Rules, in order:
 *  - policy none: bind = 0 and one group (numa_os = -1) spanning the allowed machine, or the
 *    launcher binding if there is one; nodeset: the domains it meets, for information; each
 *    thread's cpuset is the group's; memory_share is local_memory / local_workers (or, when
 *    launcher-bound, the launcher rule's shares summed).
 *  - launcher-bound: never widened. cpuset = launcher binding ∩ allowed machine; one group per
 *    domain it meets. The workers sharing a node are not known here, so memory_share is the
 *    node's memory in proportion to the node's PUs that the binding holds.
 *  - otherwise the host's D domains (those in req->domains if given) are divided among its W
 *    workers: W <= D: worker i takes the contiguous domains [i*D/W, (i+1)*D/W), each with all its
 *    memory; W > D: worker i takes domain i mod D, the k workers sharing a domain split its cores
 *    into k contiguous parts in the order of their local_index (when the domain has fewer cores
 *    than k, cores are dealt round-robin, so some workers share a core) and its memory into k
 *    equal shares.
 * Threads: req->threads, or one per core of the worker's cpuset. They are spread over the groups
 * in proportion to the groups' cores, each group getting at least one (if there are fewer threads
 * than groups, the groups with the most cores get one each, ties to the lower index). Within a
 * group threads are dealt round-robin over its cores. Core policy binds each thread to its
 * core's first PU within the group; numa policy to the group's cpuset.
 * *out is overwritten (zeroed on failure) and owns everything it points to: free it with
 * dagr__topo_plan_free. Errors: DAGR_EINVAL (NULL argument; bad policy, local_index,
 * local_workers or threads; a launcher binding with no allowed CPU; a restriction that is empty
 * or names a NUMA node that is not a domain), DAGR_ENOMEM. */
int dagr__topo_plan_worker(const dagr__topo *t, const dagr__topo_req *req, dagr__topo_plan *out,
                           char *err, size_t errlen);
/* Frees what the plan owns and zeroes it; NULL and zeroed plans are fine. */
void dagr__topo_plan_free(dagr__topo_plan *p);

/* Where the scheduler (rank 0) runs. *cpuset is a new cpuset (hwloc_bitmap_free) or NULL for
 * "do not bind": launcher-bound: a copy of that binding ∩ allowed (binding to it changes
 * nothing); policy none: NULL; otherwise the first PU of the last core of the domain that holds
 * the first allowed PU (the core the divided plans give last to the domain's workers, so the
 * scheduler's polling disturbs the fewest of them). Errors: DAGR_EINVAL (NULL t or cpuset, bad
 * policy, a launcher binding with no allowed CPU), DAGR_ENOMEM. */
int dagr__topo_plan_scheduler(const dagr__topo *t, int policy,
                              hwloc_const_cpuset_t launcher_binding, hwloc_cpuset_t *cpuset,
                              char *err, size_t errlen);

/* Writes the plan on one line, fields separated by one space:
 *   cpuset=<list> numa=<list> threads=<t>:<where>[,<t>:<where>...]
 *   store_per_domain=<node>:<size>[,<node>:<size>...] bind=<numa|core|none>
 * <list>: hwloc's list syntax ("0-3,8"; PU OS indices for cpuset, NUMA OS indices for numa), the
 * syntax of taskset -c and numactl; `hwloc-calc --po -I pu <cpus>` names the same PUs one by one.
 * <t>: thread index. <where>: pu<P> (core policy: bound to PU OS index P), numa<N> (numa policy:
 * bound to the group cpuset of NUMA node N), or - (not bound). <node>: a group's NUMA OS index, or
 * "all" for the unbound plan's one group. <size>: the group's memory_share with one decimal and a
 * binary unit (B, KiB, MiB, GiB, TiB, PiB), e.g. 12.0GiB. bind is "none" whenever plan->bind is 0.
 * Example: cpuset=0-3 numa=0,1 threads=0:numa0,1:numa1 store_per_domain=0:12.0GiB,1:12.0GiB
 * bind=numa Errors: DAGR_EINVAL (NULL p or buf, len 0, or the line did not fit: buf then holds as
 * much as fit, NUL-terminated). */
int dagr__topo_plan_describe(const dagr__topo_plan *p, char *buf, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Applying plans. On topologies that are not this system these succeed and do nothing.
 * ------------------------------------------------------------------------------------------- */

/* Binds the whole process (all its threads) or the calling thread to cpuset. Errors, each with
 * a message naming the CPUs and the system's reason (errno text): DAGR_EINVAL (NULL argument; the
 * system refused: a CPU that does not exist or is not allowed, or binding unsupported),
 * DAGR_ENOMEM. */
int dagr__topo_bind_process(const dagr__topo *t, hwloc_const_cpuset_t cpuset, char *err,
                            size_t errlen);
int dagr__topo_bind_thread(const dagr__topo *t, hwloc_const_cpuset_t cpuset, char *err,
                           size_t errlen);

/* Binds the pages of [addr, addr + len) to the NUMA nodes of nodeset (strict bind). Pages
 * already touched may stay where they are: call it before first touch. Errors as the binding
 * calls above (the message names the nodes). */
int dagr__topo_membind_area(const dagr__topo *t, const void *addr, size_t len,
                            hwloc_const_nodeset_t nodeset, char *err, size_t errlen);

/* Prints "dagr: warning: <what>: <why>; continuing unbound" to stderr the first time it is
 * called in the process and nothing afterwards (thread-safe), so that a binding failure is
 * reported once however many threads hit it and the run goes on. */
void dagr__topo_warn_once(const char *what, const char *why);

#endif
