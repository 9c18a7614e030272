/* topo.c: loads hwloc topologies, computes per-rank binding plans, and applies them. */
#include "topo/topo.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dagr__topo {
  hwloc_topology_t h;
  int thissystem;
  int core_depth;       /* depth of Core objects, or of PUs where the machine reports no cores */
  int ndomains;         /* NUMA nodes with allowed CPUs */
  hwloc_obj_t *domains; /* those nodes, in logical order */
  int ncores;
};

/* Room for a cpuset or nodeset list in a message; longer lists are cut, which is harmless there. */
#define LISTLEN 256

/* hwloc reports failures through errno; only ENOMEM has a status of its own, the rest (EINVAL,
 * EXDEV, EPERM, ENOSYS) all mean the system would not do what was asked. */
static int sys_status(int e) {
  return e == ENOMEM ? DAGR_ENOMEM : DAGR_EINVAL;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static hwloc_const_cpuset_t allowed(const dagr__topo *t) {
  return hwloc_topology_get_allowed_cpuset(t->h);
}

/* Number of core-like objects with PUs in set. */
static int count_cores(const dagr__topo *t, hwloc_const_cpuset_t set) {
  int total = hwloc_get_nbobjs_by_depth(t->h, (unsigned)t->core_depth), n = 0;
  for (int i = 0; i < total; i++)
    if (hwloc_bitmap_intersects(
            hwloc_get_obj_by_depth(t->h, (unsigned)t->core_depth, (unsigned)i)->cpuset, set))
      n++;
  return n;
}

/* The core-like objects with PUs in set, in logical order, as a new array. */
static int cores_in(const dagr__topo *t, hwloc_const_cpuset_t set, hwloc_obj_t **cores, int *n) {
  int total = hwloc_get_nbobjs_by_depth(t->h, (unsigned)t->core_depth), k = 0;
  hwloc_obj_t *v = malloc(sizeof *v * (size_t)(total > 0 ? total : 1));
  if (!v) return DAGR_ENOMEM;
  for (int i = 0; i < total; i++) {
    hwloc_obj_t c = hwloc_get_obj_by_depth(t->h, (unsigned)t->core_depth, (unsigned)i);
    if (hwloc_bitmap_intersects(c->cpuset, set)) v[k++] = c;
  }
  *cores = v;
  *n = k;
  return DAGR_OK;
}

/* First PU of a that is also in b, or -1. */
static int first_common(hwloc_const_bitmap_t a, hwloc_const_bitmap_t b) {
  for (int i = hwloc_bitmap_first(a); i >= 0; i = hwloc_bitmap_next(a, i))
    if (hwloc_bitmap_isset(b, (unsigned)i)) return i;
  return -1;
}

/* a * b / c without overflowing for b <= c (b, c are PU counts). */
static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c) {
  return c ? a / c * b + a % c * b / c : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Loading.
 * ------------------------------------------------------------------------------------------- */

static int topo_init(dagr__topo *t, const char *what, char *err, size_t errlen) {
  t->thissystem = hwloc_topology_is_thissystem(t->h);
  int d = hwloc_get_type_depth(t->h, HWLOC_OBJ_CORE);
  t->core_depth = d >= 0 ? d : hwloc_get_type_depth(t->h, HWLOC_OBJ_PU);
  int nnuma = hwloc_get_nbobjs_by_type(t->h, HWLOC_OBJ_NUMANODE);
  t->domains = malloc(sizeof *t->domains * (size_t)(nnuma > 0 ? nnuma : 1));
  if (!t->domains) return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory loading %s", what);
  for (int i = 0; i < nnuma; i++) {
    hwloc_obj_t node = hwloc_get_obj_by_type(t->h, HWLOC_OBJ_NUMANODE, (unsigned)i);
    if (hwloc_bitmap_intersects(node->cpuset, allowed(t))) t->domains[t->ndomains++] = node;
  }
  if (t->ndomains == 0)
    return dagr__errf(err, errlen, DAGR_EINVAL, "topology of %s has no NUMA node with CPUs", what);
  t->ncores = count_cores(t, allowed(t));
  return DAGR_OK;
}

int dagr__topo_load(const char *source, dagr__topo **out, char *err, size_t errlen) {
  if (!out) return dagr__errf(err, errlen, DAGR_EINVAL, "dagr__topo_load: NULL output");
  *out = NULL;
  char what[512];
  int xml = source && (source[0] == '/' || ends_with(source, ".xml"));
  if (!source)
    snprintf(what, sizeof what, "this machine");
  else
    snprintf(what, sizeof what, "%s '%s'", xml ? "XML file" : "synthetic topology", source);
  dagr__topo *t = calloc(1, sizeof *t);
  if (!t) return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory loading %s", what);
  if (hwloc_topology_init(&t->h) < 0) {
    free(t);
    return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory loading %s", what);
  }
  int rc;
  /* A failed set_* must stop here: loading anyway would silently describe this machine. */
  if (xml && hwloc_topology_set_xml(t->h, source) < 0) {
    int e = errno;
    rc = dagr__errf(err, errlen, e == ENOMEM ? DAGR_ENOMEM : DAGR_EIO, "cannot load %s: %s", what,
                    e == EINVAL ? "not an hwloc XML topology" : strerror(e));
    goto fail;
  }
  if (source && !xml && hwloc_topology_set_synthetic(t->h, source) < 0) {
    int e = errno;
    rc = dagr__errf(err, errlen, sys_status(e),
                    "cannot load %s: %s (expected levels like \"pack:2 numa:2 core:4 pu:1\", "
                    "ending with pu)",
                    what, e == EINVAL ? "malformed description" : strerror(e));
    goto fail;
  }
  if (hwloc_topology_load(t->h) < 0) {
    int e = errno;
    rc = dagr__errf(err, errlen, e == ENOMEM ? DAGR_ENOMEM : DAGR_EIO, "cannot load %s: %s", what,
                    strerror(e));
    goto fail;
  }
  if ((rc = topo_init(t, what, err, errlen))) goto fail;
  *out = t;
  return DAGR_OK;
fail:
  dagr__topo_free(t);
  return rc;
}

void dagr__topo_free(dagr__topo *t) {
  if (!t) return;
  hwloc_topology_destroy(t->h);
  free(t->domains);
  free(t);
}

int dagr__topo_ndomains(const dagr__topo *t, int *n) {
  if (!t || !n) return DAGR_EINVAL;
  *n = t->ndomains;
  return DAGR_OK;
}

int dagr__topo_is_thissystem(const dagr__topo *t, int *yes) {
  if (!t || !yes) return DAGR_EINVAL;
  *yes = t->thissystem;
  return DAGR_OK;
}

int dagr__topo_ncores(const dagr__topo *t, int *n) {
  if (!t || !n) return DAGR_EINVAL;
  *n = t->ncores;
  return DAGR_OK;
}

int dagr__topo_hwloc(const dagr__topo *t, hwloc_topology_t *h) {
  if (!t || !h) return DAGR_EINVAL;
  *h = t->h;
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Variables.
 * ------------------------------------------------------------------------------------------- */

int dagr__topo_parse_policy(const char *s, int *policy, char *err, size_t errlen) {
  if (!policy) return dagr__errf(err, errlen, DAGR_EINVAL, "dagr__topo_parse_policy: NULL output");
  if (!s || !*s || strcmp(s, "numa") == 0)
    *policy = DAGR__BIND_NUMA;
  else if (strcmp(s, "core") == 0)
    *policy = DAGR__BIND_CORE;
  else if (strcmp(s, "none") == 0)
    *policy = DAGR__BIND_NONE;
  else
    return dagr__errf(err, errlen, DAGR_ECONFIG,
                      "DAGR_BIND='%s' is invalid: expected none, numa or core", s);
  return DAGR_OK;
}

static hwloc_obj_t domain_by_os(const dagr__topo *t, unsigned os) {
  for (int i = 0; i < t->ndomains; i++)
    if (t->domains[i]->os_index == os) return t->domains[i];
  return NULL;
}

/* The domains' OS indices as a list, for messages. */
static void domain_list(const dagr__topo *t, char *buf, size_t len) {
  size_t pos = 0;
  buf[0] = '\0';
  for (int i = 0; i < t->ndomains && pos < len; i++) {
    int n = snprintf(buf + pos, len - pos, "%s%u", i ? "," : "", t->domains[i]->os_index);
    if (n < 0) break;
    pos += (size_t)n;
  }
}

/* Reads decimal digits at *p; a value past max reads as max + 1 so that it fails the lookup
 * instead of wrapping around onto a real index. */
static int read_index(const char **p, unsigned max, unsigned *v) {
  const char *s = *p;
  unsigned long x = 0;
  if (*s < '0' || *s > '9') return 0;
  for (; *s >= '0' && *s <= '9'; s++)
    if (x <= max) x = x * 10 + (unsigned long)(*s - '0');
  *v = x > max ? max + 1 : (unsigned)x;
  *p = s;
  return 1;
}

int dagr__topo_parse_domains(const dagr__topo *t, const char *s, hwloc_nodeset_t *domains,
                             char *err, size_t errlen) {
  if (!t || !domains)
    return dagr__errf(err, errlen, DAGR_EINVAL, "dagr__topo_parse_domains: NULL argument");
  *domains = NULL;
  if (!s || !*s) return DAGR_OK;
  hwloc_nodeset_t set = hwloc_bitmap_alloc();
  if (!set) return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory parsing DAGR_NUMA_DOMAINS");
  char have[LISTLEN];
  domain_list(t, have, sizeof have);
  const unsigned max = 1u << 24;
  const char *p = s;
  int rc = DAGR_OK;
  for (;;) {
    const char *item = p;
    int itemlen = (int)strcspn(item, ",");
    unsigned lo, hi;
    int ok = read_index(&p, max, &lo);
    hi = lo;
    if (ok && *p == '-') {
      p++;
      ok = read_index(&p, max, &hi);
    }
    if (!ok || (*p != ',' && *p != '\0')) {
      rc = dagr__errf(err, errlen, DAGR_ECONFIG,
                      "DAGR_NUMA_DOMAINS='%s' is invalid: '%.*s' is not a NUMA node index or "
                      "range (expected a list like 0,2-3)",
                      s, itemlen, item);
      break;
    }
    if (hi < lo) {
      rc = dagr__errf(err, errlen, DAGR_ECONFIG,
                      "DAGR_NUMA_DOMAINS='%s' is invalid: range '%.*s' is decreasing", s, itemlen,
                      item);
      break;
    }
    /* A range past the last domain fails at its first missing index, so this loop is short. */
    for (unsigned i = lo; i <= hi && rc == DAGR_OK; i++) {
      if (!domain_by_os(t, i))
        rc = dagr__errf(err, errlen, DAGR_ECONFIG,
                        "DAGR_NUMA_DOMAINS='%s' is invalid: '%.*s': NUMA node %u is not a NUMA "
                        "node with CPUs in this topology (those are %s)",
                        s, itemlen, item, i, have);
      else if (hwloc_bitmap_set(set, i) < 0)
        rc = dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory parsing DAGR_NUMA_DOMAINS");
    }
    if (rc || *p == '\0') break;
    p++;
  }
  if (rc) {
    hwloc_bitmap_free(set);
    return rc;
  }
  *domains = set;
  return DAGR_OK;
}

int dagr__topo_launcher_binding(const dagr__topo *t, hwloc_cpuset_t *binding, char *err,
                                size_t errlen) {
  if (!t || !binding)
    return dagr__errf(err, errlen, DAGR_EINVAL, "dagr__topo_launcher_binding: NULL argument");
  *binding = NULL;
  if (!t->thissystem) return DAGR_OK;
  hwloc_cpuset_t set = hwloc_bitmap_alloc();
  if (!set) return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory reading the CPU binding");
  if (hwloc_get_cpubind(t->h, set, HWLOC_CPUBIND_PROCESS) < 0) {
    int e = errno;
    hwloc_bitmap_free(set);
    if (e == ENOSYS) return DAGR_OK;
    return dagr__errf(err, errlen, sys_status(e), "cannot read this process's CPU binding: %s",
                      strerror(e));
  }
  /* A binding to every allowed CPU is what an unbound process reports: nothing to keep. */
  if (hwloc_bitmap_iszero(set) || !hwloc_bitmap_isincluded(set, allowed(t)) ||
      hwloc_bitmap_isequal(set, allowed(t))) {
    hwloc_bitmap_free(set);
    return DAGR_OK;
  }
  *binding = set;
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Worker plans.
 * ------------------------------------------------------------------------------------------- */

void dagr__topo_plan_free(dagr__topo_plan *p) {
  if (!p) return;
  for (int i = 0; i < p->ngroups && p->groups; i++) {
    hwloc_bitmap_free(p->groups[i].cpuset);
    free(p->groups[i].core_pu);
  }
  free(p->groups);
  for (int i = 0; i < p->nthreads && p->threads; i++) hwloc_bitmap_free(p->threads[i].cpuset);
  free(p->threads);
  hwloc_bitmap_free(p->cpuset);
  hwloc_bitmap_free(p->nodeset);
  memset(p, 0, sizeof *p);
}

/* Fills group g with node's part (node NULL: a group over several nodes) restricted to set. */
static int fill_group(const dagr__topo *t, dagr__topo_group *g, hwloc_obj_t node,
                      hwloc_const_cpuset_t set, uint64_t local_memory, uint64_t share) {
  g->numa_os = node ? (int)node->os_index : -1;
  g->numa_logical = node ? (int)node->logical_index : -1;
  g->local_memory = local_memory;
  g->memory_share = share;
  if (!(g->cpuset = hwloc_bitmap_dup(set))) return DAGR_ENOMEM;
  hwloc_obj_t *cores;
  int n, rc = cores_in(t, set, &cores, &n);
  if (rc) return rc;
  g->core_pu = malloc(sizeof *g->core_pu * (size_t)(n > 0 ? n : 1));
  if (!g->core_pu) {
    free(cores);
    return DAGR_ENOMEM;
  }
  for (int i = 0; i < n; i++) g->core_pu[i] = (unsigned)first_common(cores[i]->cpuset, set);
  g->ncores = n;
  free(cores);
  return DAGR_OK;
}

static int alloc_groups(dagr__topo_plan *p, int n) {
  if (!(p->groups = calloc((size_t)n, sizeof *p->groups))) return DAGR_ENOMEM;
  p->ngroups = n;
  return DAGR_OK;
}

/* Node's memory in proportion to the node's allowed PUs that set holds: the share of a worker
 * bound to set when the binding came from outside and the other sharers are unknown. */
static uint64_t pu_share(const dagr__topo *t, hwloc_obj_t node, hwloc_const_cpuset_t set,
                         hwloc_bitmap_t tmp) {
  hwloc_bitmap_and(tmp, node->cpuset, allowed(t));
  int all = hwloc_bitmap_weight(tmp);
  hwloc_bitmap_and(tmp, tmp, set);
  return mul_div(node->attr->numanode.local_memory, (uint64_t)hwloc_bitmap_weight(tmp),
                 (uint64_t)all);
}

/* Policy none: one group over ws, for information and for one store arena. */
static int plan_unbound(const dagr__topo *t, const dagr__topo_req *req, hwloc_const_cpuset_t ws,
                        dagr__topo_plan *p) {
  hwloc_bitmap_t tmp = hwloc_bitmap_alloc();
  if (!tmp) return DAGR_ENOMEM;
  uint64_t mem = 0, share = 0;
  for (int i = 0; i < t->ndomains; i++) {
    hwloc_obj_t node = t->domains[i];
    if (!hwloc_bitmap_intersects(node->cpuset, ws)) continue;
    mem += node->attr->numanode.local_memory;
    share += pu_share(t, node, ws, tmp);
  }
  hwloc_bitmap_free(tmp);
  if (!req->launcher_binding) share = mem / (uint64_t)req->local_workers;
  int rc = alloc_groups(p, 1);
  return rc ? rc : fill_group(t, &p->groups[0], NULL, ws, mem, share);
}

/* Launcher-bound: the domains the binding meets, each cut to the binding. */
static int plan_launcher(const dagr__topo *t, hwloc_const_cpuset_t ws, dagr__topo_plan *p) {
  int n = 0, rc = DAGR_OK;
  for (int i = 0; i < t->ndomains; i++) n += hwloc_bitmap_intersects(t->domains[i]->cpuset, ws);
  if ((rc = alloc_groups(p, n))) return rc;
  hwloc_bitmap_t set = hwloc_bitmap_alloc(), tmp = hwloc_bitmap_alloc();
  if (!set || !tmp) rc = DAGR_ENOMEM;
  for (int i = 0, g = 0; i < t->ndomains && !rc; i++) {
    hwloc_obj_t node = t->domains[i];
    if (!hwloc_bitmap_intersects(node->cpuset, ws)) continue;
    hwloc_bitmap_and(set, node->cpuset, ws);
    rc = fill_group(t, &p->groups[g++], node, set, node->attr->numanode.local_memory,
                    pu_share(t, node, set, tmp));
  }
  hwloc_bitmap_free(set);
  hwloc_bitmap_free(tmp);
  return rc;
}

/* W <= D: worker w takes whole domains [w*D/W, (w+1)*D/W), each with all its memory. */
static int divide_whole(const dagr__topo *t, hwloc_obj_t *cand, int D, int W, int w,
                        dagr__topo_plan *p) {
  int lo = (int)((long)w * D / W), hi = (int)((long)(w + 1) * D / W);
  int rc = alloc_groups(p, hi - lo);
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (!set) rc = DAGR_ENOMEM;
  for (int d = lo; d < hi && !rc; d++) {
    hwloc_bitmap_and(set, cand[d]->cpuset, allowed(t));
    uint64_t mem = cand[d]->attr->numanode.local_memory;
    rc = fill_group(t, &p->groups[d - lo], cand[d], set, mem, mem);
  }
  hwloc_bitmap_free(set);
  return rc;
}

/* W > D: worker w shares domain w mod D with the k workers of the same residue and takes the
 * (w / D)-th of k contiguous parts of its cores, and 1/k of its memory. */
static int divide_shared(const dagr__topo *t, hwloc_obj_t *cand, int D, int W, int w,
                         dagr__topo_plan *p) {
  int d = w % D, part = w / D, k = W / D + (d < W % D), nc = 0, rc;
  hwloc_obj_t *cores = NULL;
  hwloc_bitmap_t set = hwloc_bitmap_alloc(), mine = hwloc_bitmap_alloc();
  if (!set || !mine) {
    rc = DAGR_ENOMEM;
    goto out;
  }
  hwloc_bitmap_and(set, cand[d]->cpuset, allowed(t));
  if ((rc = cores_in(t, set, &cores, &nc))) goto out;
  if (nc >= k) {
    for (int c = (int)((long)part * nc / k); c < (int)((long)(part + 1) * nc / k); c++)
      hwloc_bitmap_or(mine, mine, cores[c]->cpuset);
  } else {
    hwloc_bitmap_copy(mine, cores[part % nc]->cpuset);
  }
  hwloc_bitmap_and(mine, mine, set);
  uint64_t mem = cand[d]->attr->numanode.local_memory;
  if (!(rc = alloc_groups(p, 1)))
    rc = fill_group(t, &p->groups[0], cand[d], mine, mem, mem / (uint64_t)k);
out:
  free(cores);
  hwloc_bitmap_free(set);
  hwloc_bitmap_free(mine);
  return rc;
}

/* Not bound by the launcher: divide the host's (restricted) domains among its workers. */
static int plan_divide(const dagr__topo *t, const dagr__topo_req *req, dagr__topo_plan *p,
                       char *err, size_t errlen) {
  if (req->domains) {
    if (hwloc_bitmap_iszero(req->domains))
      return dagr__errf(err, errlen, DAGR_EINVAL, "the NUMA domain restriction is empty");
    for (int i = hwloc_bitmap_first(req->domains); i >= 0; i = hwloc_bitmap_next(req->domains, i))
      if (!domain_by_os(t, (unsigned)i)) {
        char have[LISTLEN];
        domain_list(t, have, sizeof have);
        return dagr__errf(err, errlen, DAGR_EINVAL,
                          "the NUMA domain restriction (DAGR_NUMA_DOMAINS) names NUMA node %d, "
                          "which is not a NUMA node with CPUs in this topology (those are %s)",
                          i, have);
      }
  }
  hwloc_obj_t *cand = malloc(sizeof *cand * (size_t)t->ndomains);
  if (!cand) return DAGR_ENOMEM;
  int D = 0;
  for (int i = 0; i < t->ndomains; i++)
    if (!req->domains || hwloc_bitmap_isset(req->domains, t->domains[i]->os_index))
      cand[D++] = t->domains[i];
  int W = req->local_workers, w = req->local_index;
  int rc = W <= D ? divide_whole(t, cand, D, W, w, p) : divide_shared(t, cand, D, W, w, p);
  free(cand);
  return rc;
}

/* Spreads n threads over the groups in proportion to their cores: each group starts with one and
 * every further thread goes to the group with the most cores per thread so far, which gives
 * exactly one thread per core when n is the number of cores. */
static int spread_threads(dagr__topo_plan *p, int requested) {
  int G = p->ngroups, n = requested, rc = DAGR_OK;
  if (n == 0)
    for (int g = 0; g < G; g++) n += p->groups[g].ncores;
  if (n < 1) n = 1;
  for (int g = 0; g < G; g++) p->groups[g].nthreads = 0;
  if (n >= G) {
    for (int g = 0; g < G; g++) p->groups[g].nthreads = 1;
    for (int left = n - G; left > 0; left--) {
      int best = 0;
      for (int g = 1; g < G; g++)
        if ((long)p->groups[g].ncores * p->groups[best].nthreads >
            (long)p->groups[best].ncores * p->groups[g].nthreads)
          best = g;
      p->groups[best].nthreads++;
    }
  } else {
    for (int j = 0; j < n; j++) {
      int best = -1;
      for (int g = 0; g < G; g++)
        if (!p->groups[g].nthreads && (best < 0 || p->groups[g].ncores > p->groups[best].ncores))
          best = g;
      p->groups[best].nthreads = 1;
    }
  }
  if (!(p->threads = calloc((size_t)n, sizeof *p->threads))) return DAGR_ENOMEM;
  p->nthreads = n;
  int th = 0;
  for (int g = 0; g < G && !rc; g++) {
    dagr__topo_group *grp = &p->groups[g];
    grp->first_thread = th;
    for (int j = 0; j < grp->nthreads && !rc; j++, th++) {
      p->threads[th].group = g;
      if (p->policy == DAGR__BIND_CORE && grp->ncores > 0) {
        if (!(p->threads[th].cpuset = hwloc_bitmap_alloc()) ||
            hwloc_bitmap_only(p->threads[th].cpuset, grp->core_pu[j % grp->ncores]) < 0)
          rc = DAGR_ENOMEM;
      } else if (!(p->threads[th].cpuset = hwloc_bitmap_dup(grp->cpuset))) {
        rc = DAGR_ENOMEM;
      }
    }
  }
  return rc;
}

int dagr__topo_plan_worker(const dagr__topo *t, const dagr__topo_req *req, dagr__topo_plan *out,
                           char *err, size_t errlen) {
  if (!out) return dagr__errf(err, errlen, DAGR_EINVAL, "dagr__topo_plan_worker: NULL output");
  memset(out, 0, sizeof *out);
  if (!t || !req)
    return dagr__errf(err, errlen, DAGR_EINVAL, "dagr__topo_plan_worker: NULL argument");
  if (req->policy != DAGR__BIND_NUMA && req->policy != DAGR__BIND_CORE &&
      req->policy != DAGR__BIND_NONE)
    return dagr__errf(err, errlen, DAGR_EINVAL, "unknown binding policy %d", req->policy);
  if (req->local_workers < 1 || req->local_index < 0 || req->local_index >= req->local_workers)
    return dagr__errf(err, errlen, DAGR_EINVAL,
                      "invalid worker %d of %d on this host (expected 0 <= index < workers)",
                      req->local_index, req->local_workers);
  if (req->threads < 0 || req->threads > DAGR__TOPO_MAX_THREADS)
    return dagr__errf(err, errlen, DAGR_EINVAL, "invalid thread count %d (expected 0 to %d)",
                      req->threads, DAGR__TOPO_MAX_THREADS);
  int rc = DAGR_OK;
  hwloc_bitmap_t ws = NULL;
  out->policy = req->policy;
  out->bind = req->policy != DAGR__BIND_NONE;
  out->launcher_bound = req->launcher_binding != NULL;
  if (req->launcher_binding) {
    if (!(ws = hwloc_bitmap_alloc())) goto nomem;
    hwloc_bitmap_and(ws, req->launcher_binding, allowed(t));
    if (hwloc_bitmap_iszero(ws)) {
      char b[LISTLEN], a[LISTLEN];
      hwloc_bitmap_list_snprintf(b, sizeof b, req->launcher_binding);
      hwloc_bitmap_list_snprintf(a, sizeof a, allowed(t));
      rc = dagr__errf(err, errlen, DAGR_EINVAL,
                      "the launcher binding (CPUs %s) has no CPU of this machine (allowed: %s)", b,
                      a);
      goto fail;
    }
  }
  if (req->policy == DAGR__BIND_NONE)
    rc = plan_unbound(t, req, ws ? ws : allowed(t), out);
  else if (ws)
    rc = plan_launcher(t, ws, out);
  else
    rc = plan_divide(t, req, out, err, errlen);
  if (rc == DAGR_ENOMEM) goto nomem;
  if (rc) goto fail;
  if (!(out->cpuset = hwloc_bitmap_alloc()) || !(out->nodeset = hwloc_bitmap_alloc())) goto nomem;
  for (int g = 0; g < out->ngroups; g++)
    hwloc_bitmap_or(out->cpuset, out->cpuset, out->groups[g].cpuset);
  for (int i = 0; i < t->ndomains; i++)
    if (hwloc_bitmap_intersects(t->domains[i]->cpuset, out->cpuset))
      hwloc_bitmap_set(out->nodeset, t->domains[i]->os_index);
  if ((rc = spread_threads(out, req->threads))) goto nomem;
  hwloc_bitmap_free(ws);
  return DAGR_OK;
nomem:
  rc = dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory planning worker %d of %d",
                  req->local_index, req->local_workers);
fail:
  hwloc_bitmap_free(ws);
  dagr__topo_plan_free(out);
  return rc;
}

int dagr__topo_plan_scheduler(const dagr__topo *t, int policy,
                              hwloc_const_cpuset_t launcher_binding, hwloc_cpuset_t *cpuset,
                              char *err, size_t errlen) {
  if (!t || !cpuset)
    return dagr__errf(err, errlen, DAGR_EINVAL, "dagr__topo_plan_scheduler: NULL argument");
  *cpuset = NULL;
  if (policy != DAGR__BIND_NUMA && policy != DAGR__BIND_CORE && policy != DAGR__BIND_NONE)
    return dagr__errf(err, errlen, DAGR_EINVAL, "unknown binding policy %d", policy);
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (!set) return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory planning the scheduler");
  if (launcher_binding) {
    hwloc_bitmap_and(set, launcher_binding, allowed(t));
    if (hwloc_bitmap_iszero(set)) {
      char b[LISTLEN];
      hwloc_bitmap_list_snprintf(b, sizeof b, launcher_binding);
      hwloc_bitmap_free(set);
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "the launcher binding (CPUs %s) has no CPU of this machine", b);
    }
    *cpuset = set;
    return DAGR_OK;
  }
  if (policy == DAGR__BIND_NONE) {
    hwloc_bitmap_free(set);
    return DAGR_OK;
  }
  int first = hwloc_bitmap_first(allowed(t));
  hwloc_obj_t node = t->domains[0];
  for (int i = 0; i < t->ndomains; i++)
    if (hwloc_bitmap_isset(t->domains[i]->cpuset, (unsigned)first)) {
      node = t->domains[i];
      break;
    }
  hwloc_bitmap_and(set, node->cpuset, allowed(t));
  hwloc_obj_t *cores;
  int n, rc = cores_in(t, set, &cores, &n);
  if (rc) {
    hwloc_bitmap_free(set);
    return dagr__errf(err, errlen, rc, "out of memory planning the scheduler");
  }
  /* n >= 1: node was kept as a domain because it has allowed PUs, and every PU is in a core. */
  hwloc_bitmap_only(set, (unsigned)first_common(cores[n - 1]->cpuset, set));
  free(cores);
  *cpuset = set;
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Describing.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, pos;
  int cut;
} line;

static void put(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line *l, const char *fmt, ...) {
  if (l->cut) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(l->buf + l->pos, l->len - l->pos, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= l->len - l->pos) {
    l->cut = 1;
    l->pos = l->len - 1;
  } else {
    l->pos += (size_t)n;
  }
}

static void put_list(line *l, hwloc_const_bitmap_t set) {
  if (l->cut) return;
  int n = hwloc_bitmap_list_snprintf(l->buf + l->pos, l->len - l->pos, set);
  if (n < 0 || (size_t)n >= l->len - l->pos) {
    l->cut = 1;
    l->pos = l->len - 1;
  } else {
    l->pos += (size_t)n;
  }
}

static void put_bytes(line *l, uint64_t bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    u++;
  }
  put(l, "%.1f%s", v, units[u]);
}

int dagr__topo_plan_describe(const dagr__topo_plan *p, char *buf, size_t len) {
  if (!p || !buf || len == 0) return DAGR_EINVAL;
  line l = {buf, len, 0, 0};
  buf[0] = '\0';
  put(&l, "cpuset=");
  if (p->cpuset) put_list(&l, p->cpuset);
  put(&l, " numa=");
  if (p->nodeset) put_list(&l, p->nodeset);
  put(&l, " threads=");
  for (int i = 0; i < p->nthreads; i++) {
    const dagr__topo_thread *th = &p->threads[i];
    const dagr__topo_group *g = &p->groups[th->group];
    put(&l, "%s%d:", i ? "," : "", i);
    if (!p->bind)
      put(&l, "-");
    else if (p->policy == DAGR__BIND_CORE)
      put(&l, "pu%d", hwloc_bitmap_first(th->cpuset));
    else
      put(&l, "numa%d", g->numa_os);
  }
  put(&l, " store_per_domain=");
  for (int g = 0; g < p->ngroups; g++) {
    if (p->groups[g].numa_os >= 0)
      put(&l, "%s%d:", g ? "," : "", p->groups[g].numa_os);
    else
      put(&l, "%sall:", g ? "," : "");
    put_bytes(&l, p->groups[g].memory_share);
  }
  put(&l, " bind=%s", !p->bind ? "none" : p->policy == DAGR__BIND_CORE ? "core" : "numa");
  return l.cut ? DAGR_EINVAL : DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Applying.
 * ------------------------------------------------------------------------------------------- */

static int bind_cpus(const dagr__topo *t, hwloc_const_cpuset_t cpuset, int flags, const char *who,
                     char *err, size_t errlen) {
  if (!t || !cpuset)
    return dagr__errf(err, errlen, DAGR_EINVAL, "cannot bind %s: NULL argument", who);
  if (hwloc_set_cpubind(t->h, cpuset, flags) < 0) {
    int e = errno;
    char list[LISTLEN];
    hwloc_bitmap_list_snprintf(list, sizeof list, cpuset);
    return dagr__errf(err, errlen, sys_status(e), "cannot bind %s to CPUs %s: %s", who, list,
                      strerror(e));
  }
  return DAGR_OK;
}

int dagr__topo_bind_process(const dagr__topo *t, hwloc_const_cpuset_t cpuset, char *err,
                            size_t errlen) {
  return bind_cpus(t, cpuset, HWLOC_CPUBIND_PROCESS, "the process", err, errlen);
}

int dagr__topo_bind_thread(const dagr__topo *t, hwloc_const_cpuset_t cpuset, char *err,
                           size_t errlen) {
  return bind_cpus(t, cpuset, HWLOC_CPUBIND_THREAD, "the thread", err, errlen);
}

int dagr__topo_membind_area(const dagr__topo *t, const void *addr, size_t len,
                            hwloc_const_nodeset_t nodeset, char *err, size_t errlen) {
  if (!t || !nodeset || (!addr && len))
    return dagr__errf(err, errlen, DAGR_EINVAL, "cannot bind memory: NULL argument");
  if (hwloc_set_area_membind(t->h, addr, len, nodeset, HWLOC_MEMBIND_BIND,
                             HWLOC_MEMBIND_BYNODESET) < 0) {
    int e = errno;
    char list[LISTLEN];
    hwloc_bitmap_list_snprintf(list, sizeof list, nodeset);
    return dagr__errf(err, errlen, sys_status(e),
                      "cannot bind %zu bytes of memory to NUMA nodes %s: %s", len, list,
                      strerror(e));
  }
  return DAGR_OK;
}

void dagr__topo_warn_once(const char *what, const char *why) {
  static atomic_int warned;
  if (atomic_exchange(&warned, 1)) return;
  fprintf(stderr, "dagr: warning: %s: %s; continuing unbound\n", what ? what : "binding",
          why ? why : "unknown reason");
}
