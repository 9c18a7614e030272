/* graph.h: the graph layer (keys interned to dense ids; validate, cull and order into a plan). No
 * MPI. */
#ifndef DAGR_GRAPH_GRAPH_H
#define DAGR_GRAPH_GRAPH_H
#ifndef DAGR_BUILDING
#error "src/graph/graph.h is private to libdagr"
#endif

#include "internal/common.h"

/* One key of a graph. Ids are dense and assigned at the first mention of a key, as a defined
 * task or as a dependency, so tasks may name dependencies that are defined later. */
typedef struct dagr__gtask {
  uint64_t dep_off;   /* index of the first dependency id in graph->deps */
  uint64_t param_off; /* offset of the encoded params in graph->params */
  uint32_t key_off;   /* offset of the NUL-terminated key in graph->keys */
  uint32_t ndeps;
  uint32_t param_len;
  uint32_t kname; /* index into graph->knames */
  int32_t retries;
  int32_t priority;
  int32_t worker;      /* -1: any */
  uint32_t timeout_ms; /* time limit; 0: the run's default (DAGR_TASK_TIMEOUT) */
  uint8_t defined;     /* 0: only referenced so far */
  uint8_t pad[3];
} dagr__gtask;

struct dagr_graph {
  dagr__gtask *tasks; /* indexed by id */
  uint32_t nids, cap_ids;
  size_t ndefined;

  char *keys; /* key string pool */
  size_t keys_len, keys_cap;

  uint32_t *htab;  /* open addressing, value id + 1, 0 = empty; size hcap (power of two) */
  uint64_t *hhash; /* hash of each id's key, for rehashing without rereading the strings */
  size_t hcap;

  uint32_t *deps; /* dependency ids of all tasks */
  size_t ndeps, cap_deps;

  unsigned char *params; /* encoded params of all tasks, each 8-byte aligned */
  size_t params_len, params_cap;

  char **knames; /* distinct kernel names */
  uint32_t nknames, cap_knames;

  uint32_t *outputs; /* ids listed as "outputs" by a graph file */
  size_t noutputs, cap_outputs;

  int err; /* first construction error (duplicate key), DAGR_OK if none */
  char errmsg[DAGR__ERRLEN];

  /* An observer of its keys (a trace recorder, obs.c), called before the graph is freed: the
   * recorder names a run's events from the graph it ran, copying the keys only then. */
  void (*on_free)(void *arg, const dagr_graph_t *g);
  void *on_free_arg;
};

/* Looks a key up: DAGR_OK and *id, or DAGR_ENOKEY. */
int dagr__graph_find(const dagr_graph_t *g, const char *key, uint32_t *id);
/* The key string of id. */
static inline const char *dagr__graph_key(const dagr_graph_t *g, uint32_t id) {
  return g->keys + g->tasks[id].key_off;
}
/* Appends key to the graph's outputs (interning it if new). DAGR_OK, DAGR_EINVAL, DAGR_ENOMEM. */
int dagr__graph_add_output(dagr_graph_t *g, const char *key);

/* Resolves a kernel name to a registry id, or returns -1 if unknown. */
typedef int (*dagr__kernel_lookup_fn)(const char *name, void *arg);

/* The executable form of the part of a graph that some keys need. Plan ids are dense, in
 * execution-priority order: plan id 0 is the task to run first when it is ready (see the
 * ordering rule in plan.c). */
typedef struct dagr__plan {
  uint32_t n;         /* tasks */
  uint32_t *gid;      /* plan id -> graph id */
  uint16_t *kernel;   /* registry kernel id */
  uint32_t *dep_off;  /* n + 1 offsets into deps (CSR) */
  uint32_t *deps;     /* dependency plan ids, argument order */
  uint32_t *cons_off; /* n + 1 offsets into cons (CSR) */
  uint32_t *cons;     /* consumer plan ids (a consumer appears once per argument naming it) */
  uint32_t *targets;  /* plan id of each requested key, in request order */
  size_t ntargets;
  uint64_t nedges; /* total dependency edges */
} dagr__plan;

/* Validates the whole graph and builds the plan for keys:
 *  - DAGR_EDUPKEY: the graph recorded a duplicate key (message names it);
 *  - DAGR_ENOKEY: a requested key is not defined (names it);
 *  - DAGR_EMISSING: a task depends on an undefined key (names both keys);
 *  - DAGR_EUNKNOWN_KERNEL: a task names an unregistered kernel (names key and kernel);
 *  - DAGR_ECYCLE: the graph has a cycle (names the keys on it, up to a few);
 *  - DAGR_EINVAL, DAGR_ENOMEM.
 * Checks cover the whole graph, not only the culled part, so an invalid graph never runs.
 * On error *plan is zeroed and err (may be NULL) holds the message. */
int dagr__plan_build(const dagr_graph_t *g, const char *const *keys, size_t nkeys,
                     dagr__kernel_lookup_fn lookup, void *lookup_arg, dagr__plan *plan, char *err,
                     size_t errlen);
void dagr__plan_free(dagr__plan *plan);

#endif
