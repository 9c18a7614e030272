/* graph.c: building task graphs: keys interned to dense ids, kernel names, params and options. */
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/params.h"
#include "runtime/timeout.h"

/* Id limit: htab stores id + 1 in a uint32_t, and the planner reserves the top few values of a
 * uint32_t as DFS colours. */
#define MAX_IDS (UINT32_MAX - 8u)

/* A multiply-xorshift hash over 8-byte words: several times faster than byte-wise FNV-1a on the
 * short keys Dask produces ("('sum-abc', 0, 1)"), and the final avalanche makes the low bits
 * (which index the power-of-two tables) depend on every input byte. The value only lives in this
 * process, so reading words in host byte order is fine. */
static uint64_t key_hash(const char *s, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  if (i < n) {
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 32;
  return h;
}

/* Geometric growth target for a capacity that must hold `need` elements of `elem` bytes.
 * Returns 0 when that would overflow size_t. */
static size_t grown_cap(size_t cap, size_t need, size_t min, size_t elem) {
  size_t c = cap ? cap : min;
  while (c < need) {
    if (c > SIZE_MAX / 2) return 0;
    c *= 2;
  }
  if (c > SIZE_MAX / elem) return 0;
  return c;
}

/* Grows *p to hold need elements. The capacity is only updated once realloc succeeded, so a
 * failure leaves the graph consistent. */
static int reserve(void **p, size_t *cap, size_t need, size_t min, size_t elem) {
  if (need <= *cap) return DAGR_OK;
  size_t c = grown_cap(*cap, need, min, elem);
  if (!c) return DAGR_ENOMEM;
  void *np = realloc(*p, c * elem);
  if (!np) return DAGR_ENOMEM;
  *p = np;
  *cap = c;
  return DAGR_OK;
}

int dagr_graph_create(dagr_graph_t **graph) {
  if (!graph) return DAGR_EINVAL;
  *graph = calloc(1, sizeof **graph);
  return *graph ? DAGR_OK : DAGR_ENOMEM;
}

void dagr_graph_free(dagr_graph_t *graph) {
  if (!graph) return;
  if (graph->on_free) graph->on_free(graph->on_free_arg, graph);
  for (uint32_t i = 0; i < graph->nknames; i++) free(graph->knames[i]);
  free(graph->knames);
  free(graph->tasks);
  free(graph->keys);
  free(graph->htab);
  free(graph->hhash);
  free(graph->deps);
  free(graph->params);
  free(graph->outputs);
  free(graph);
}

void dagr_task_opts_init(dagr_task_opts_t *opts) {
  if (!opts) return;
  opts->retries = 0;
  opts->priority = 0;
  opts->worker = -1;
  opts->timeout_s = 0;
}

/* --- key table ------------------------------------------------------------------------------ */

/* Returns id + 1, or 0 when absent. */
static uint32_t htab_lookup(const dagr_graph_t *g, const char *key, uint64_t h) {
  if (!g->hcap) return 0;
  size_t mask = g->hcap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    uint32_t v = g->htab[i];
    if (!v) return 0;
    if (g->hhash[v - 1] == h && strcmp(g->keys + g->tasks[v - 1].key_off, key) == 0) return v;
  }
}

/* Rebuilds the table, larger, from the stored hashes: key strings are never reread. */
static int htab_grow(dagr_graph_t *g, size_t nkeys_needed) {
  /* Load factor at most 1/2 keeps linear-probe chains short. */
  size_t cap = g->hcap ? g->hcap : 1024;
  while (cap / 2 < nkeys_needed) {
    if (cap > SIZE_MAX / 2 / sizeof(uint32_t)) return DAGR_ENOMEM;
    cap *= 2;
  }
  if (cap == g->hcap) return DAGR_OK;
  uint32_t *t = calloc(cap, sizeof *t);
  if (!t) return DAGR_ENOMEM;
  size_t mask = cap - 1;
  for (uint32_t id = 0; id < g->nids; id++) {
    size_t i = (size_t)g->hhash[id] & mask;
    while (t[i]) i = (i + 1) & mask;
    t[i] = id + 1;
  }
  free(g->htab);
  g->htab = t;
  g->hcap = cap;
  return DAGR_OK;
}

/* Makes room for `nkeys` more ids and `bytes` more key bytes, so the interning that follows
 * cannot fail halfway through a task. */
static int reserve_keys(dagr_graph_t *g, size_t nkeys, size_t bytes) {
  if (nkeys > MAX_IDS - g->nids) return DAGR_ENOMEM;
  /* key_off is 32-bit. */
  if (bytes > (size_t)UINT32_MAX - g->keys_len) return DAGR_ENOMEM;
  size_t need = (size_t)g->nids + nkeys;
  if (need > g->cap_ids) {
    size_t cap = g->cap_ids, cap2 = g->cap_ids;
    void *t = g->tasks, *hh = g->hhash;
    int rc = reserve(&t, &cap, need, 1024, sizeof *g->tasks);
    g->tasks = t;
    if (rc) return rc;
    rc = reserve(&hh, &cap2, need, 1024, sizeof *g->hhash);
    g->hhash = hh;
    if (rc) return rc;
    /* Both arrays now hold at least min(cap, cap2) >= need; MAX_IDS caps it below 2^32. */
    size_t c = cap < cap2 ? cap : cap2;
    g->cap_ids = (uint32_t)(c > MAX_IDS ? MAX_IDS : c);
  }
  if (need > g->hcap / 2) {
    int rc = htab_grow(g, need);
    if (rc) return rc;
  }
  void *k = g->keys;
  int rc = reserve(&k, &g->keys_cap, g->keys_len + bytes, 4096, 1);
  g->keys = k;
  return rc;
}

/* Interns key (length n, hash h) into reserved space and returns its id. */
static uint32_t intern_reserved(dagr_graph_t *g, const char *key, size_t n, uint64_t h) {
  size_t mask = g->hcap - 1;
  size_t i = (size_t)h & mask;
  for (;; i = (i + 1) & mask) {
    uint32_t v = g->htab[i];
    if (!v) break;
    if (g->hhash[v - 1] == h && strcmp(g->keys + g->tasks[v - 1].key_off, key) == 0) return v - 1;
  }
  uint32_t id = g->nids++;
  g->htab[i] = id + 1;
  g->hhash[id] = h;
  dagr__gtask *t = &g->tasks[id];
  memset(t, 0, sizeof *t);
  t->key_off = (uint32_t)g->keys_len;
  t->param_off = g->params_len;
  t->worker = -1;
  memcpy(g->keys + g->keys_len, key, n + 1);
  g->keys_len += n + 1;
  return id;
}

int dagr__graph_find(const dagr_graph_t *g, const char *key, uint32_t *id) {
  if (!g || !key || !id) return DAGR_EINVAL;
  uint32_t v = htab_lookup(g, key, key_hash(key, strlen(key)));
  /* A key that is only referenced as a dependency is not a task of the graph. */
  if (!v || !g->tasks[v - 1].defined) return DAGR_ENOKEY;
  *id = v - 1;
  return DAGR_OK;
}

int dagr__graph_add_output(dagr_graph_t *g, const char *key) {
  if (!g || !key || !key[0]) return DAGR_EINVAL;
  size_t n = strlen(key);
  int rc = reserve_keys(g, 1, n + 1);
  if (rc) return rc;
  size_t cap = g->cap_outputs;
  void *o = g->outputs;
  rc = reserve(&o, &cap, g->noutputs + 1, 16, sizeof *g->outputs);
  g->outputs = o;
  g->cap_outputs = cap;
  if (rc) return rc;
  g->outputs[g->noutputs++] = intern_reserved(g, key, n, key_hash(key, n));
  return DAGR_OK;
}

size_t dagr_graph_noutputs(const dagr_graph_t *graph) {
  return graph ? graph->noutputs : 0;
}

const char *dagr_graph_output(const dagr_graph_t *graph, size_t i) {
  if (!graph || i >= graph->noutputs) return NULL;
  return dagr__graph_key(graph, graph->outputs[i]);
}

size_t dagr_graph_size(const dagr_graph_t *graph) {
  return graph ? graph->ndefined : 0;
}

const char *dagr_graph_error(const dagr_graph_t *graph) {
  return graph ? graph->errmsg : "";
}

/* --- kernel names --------------------------------------------------------------------------- */

/* graph->knames is one allocation: cap_knames name pointers followed by an open-addressing table
 * of 2 * cap_knames slots (index + 1, 0 = empty). Graphs usually name a handful of kernels, but a
 * malformed one may give every task its own, and a linear search would then be quadratic. The
 * table rides in the same block so the graph struct keeps its documented shape. */
static uint32_t *kname_table(const dagr_graph_t *g) {
  return (uint32_t *)(void *)(g->knames + g->cap_knames);
}

static int kname_grow(dagr_graph_t *g) {
  size_t cap = g->cap_knames ? (size_t)g->cap_knames * 2 : 16;
  if (cap > UINT32_MAX / 2) return DAGR_ENOMEM;
  size_t bytes = cap * sizeof(char *) + 2 * cap * sizeof(uint32_t);
  char **nk = malloc(bytes);
  if (!nk) return DAGR_ENOMEM;
  if (g->nknames) memcpy(nk, g->knames, g->nknames * sizeof(char *));
  uint32_t *tab = (uint32_t *)(void *)(nk + cap);
  memset(tab, 0, 2 * cap * sizeof(uint32_t));
  size_t mask = 2 * cap - 1;
  for (uint32_t k = 0; k < g->nknames; k++) {
    size_t i = (size_t)key_hash(nk[k], strlen(nk[k])) & mask;
    while (tab[i]) i = (i + 1) & mask;
    tab[i] = k + 1;
  }
  free(g->knames);
  g->knames = nk;
  g->cap_knames = (uint32_t)cap;
  return DAGR_OK;
}

/* Finds or adds a kernel name. Last fallible step of dagr_graph_add, so a failure here leaves
 * nothing half-added. */
static int kname_intern(dagr_graph_t *g, const char *name, uint32_t *out) {
  size_t n = strlen(name);
  uint64_t h = key_hash(name, n);
  if (g->cap_knames) {
    const uint32_t *tab = kname_table(g);
    size_t mask = 2 * (size_t)g->cap_knames - 1;
    for (size_t i = (size_t)h & mask; tab[i]; i = (i + 1) & mask) {
      if (strcmp(g->knames[tab[i] - 1], name) == 0) {
        *out = tab[i] - 1;
        return DAGR_OK;
      }
    }
  }
  char *copy = malloc(n + 1);
  if (!copy) return DAGR_ENOMEM;
  memcpy(copy, name, n + 1);
  if (g->nknames == g->cap_knames && kname_grow(g) != DAGR_OK) {
    free(copy);
    return DAGR_ENOMEM;
  }
  uint32_t *tab = kname_table(g);
  size_t mask = 2 * (size_t)g->cap_knames - 1;
  size_t i = (size_t)h & mask;
  while (tab[i]) i = (i + 1) & mask;
  tab[i] = g->nknames + 1;
  g->knames[g->nknames] = copy;
  *out = g->nknames++;
  return DAGR_OK;
}

/* --- tasks ---------------------------------------------------------------------------------- */

int dagr_graph_add(dagr_graph_t *graph, const char *key, const char *kernel,
                   const dagr_params_t *params, const char *const *deps, size_t ndeps,
                   const dagr_task_opts_t *opts) {
  dagr_graph_t *g = graph;
  if (!g || !key || !kernel || !key[0]) return DAGR_EINVAL;
  if (!deps && ndeps > 0) return DAGR_EINVAL;
  if (ndeps > UINT32_MAX) return DAGR_EINVAL;
  if (opts && opts->retries < 0) return DAGR_EINVAL;
  if (opts && !dagr__timeout_valid(opts->timeout_s)) return DAGR_EINVAL;
  size_t plen = params ? params->len : 0;
  if (plen > UINT32_MAX) return DAGR_EINVAL;

  size_t klen = strlen(key);
  uint64_t kh = key_hash(key, klen);
  uint32_t v = htab_lookup(g, key, kh);
  if (v && g->tasks[v - 1].defined) {
    if (g->err == DAGR_OK) {
      g->err = DAGR_EDUPKEY;
      dagr__errf(g->errmsg, sizeof g->errmsg, DAGR_EDUPKEY, "duplicate key '%s'", key);
    }
    return DAGR_EDUPKEY;
  }

  /* Reserve everything first: once the graph starts changing, nothing may fail. */
  size_t bytes = klen + 1;
  for (size_t i = 0; i < ndeps; i++) {
    if (!deps[i] || !deps[i][0]) return DAGR_EINVAL;
    size_t dl = strlen(deps[i]) + 1;
    if (dl > SIZE_MAX - bytes) return DAGR_ENOMEM;
    bytes += dl;
  }
  int rc = reserve_keys(g, 1 + ndeps, bytes);
  if (rc) return rc;
  void *p = g->deps;
  rc = reserve(&p, &g->cap_deps, g->ndeps + ndeps, 4096, sizeof *g->deps);
  g->deps = p;
  if (rc) return rc;
  if (plen > SIZE_MAX - g->params_len) return DAGR_ENOMEM;
  p = g->params;
  rc = reserve(&p, &g->params_cap, g->params_len + plen, 4096, 1);
  g->params = p;
  if (rc) return rc;
  uint32_t kname;
  rc = kname_intern(g, kernel, &kname);
  if (rc) return rc;

  uint32_t id = v ? v - 1 : intern_reserved(g, key, klen, kh);
  uint64_t dep_off = g->ndeps;
  for (size_t i = 0; i < ndeps; i++) {
    size_t dl = strlen(deps[i]);
    g->deps[g->ndeps++] = intern_reserved(g, deps[i], dl, key_hash(deps[i], dl));
  }
  dagr__gtask *t = &g->tasks[id];
  t->dep_off = dep_off;
  t->ndeps = (uint32_t)ndeps;
  /* Blobs are multiples of 8 bytes, so params_len stays 8-aligned and so does every copy. */
  t->param_off = g->params_len;
  t->param_len = (uint32_t)plen;
  if (plen) {
    memcpy(g->params + g->params_len, params->buf, plen);
    g->params_len += plen;
  }
  t->kname = kname;
  t->retries = opts ? opts->retries : 0;
  t->priority = opts ? opts->priority : 0;
  t->worker = opts ? opts->worker : -1;
  t->timeout_ms = opts ? dagr__timeout_ms(opts->timeout_s) : 0;
  t->defined = 1;
  g->ndefined++;
  return DAGR_OK;
}
