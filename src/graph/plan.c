/* plan.c: validating a graph and turning the part some keys need into an ordered, dense plan. */

/* Ordering rule (the plan id of a task is its priority: among ready tasks the scheduler runs the
 * lowest plan id first).
 *
 *  1. Depth-first post-order from the requested keys, in request order, visiting each task's
 *     dependencies in argument order. A task's position is the moment the walk finishes it, so
 *     every dependency precedes its consumers and, more to the point, a branch is finished
 *     before the next one starts. This is the core of dask.order: in a tree reduction the leaves
 *     of the first group come first, then their reducer, then the next group's leaves, so
 *     intermediates are consumed (and freed) soon after they are made and memory stays bounded
 *     by the tree's depth rather than its width. Linear chains come out in chain order.
 *  2. User priorities override that: if any needed task has a non-zero priority, positions are
 *     stably re-sorted by (-priority, depth-first position), so higher priority runs first and
 *     ties keep the depth-first order. Priority only ranks ready tasks: a dependency still
 *     runs before its consumer even when its plan id is larger.
 *
 * The walk is iterative with an explicit stack, because chains of a million tasks are normal and
 * would overflow the C stack. It also colours tasks (white, grey on the path, done), so a grey
 * dependency is a cycle and the path on the stack names it. A second walk from every task the
 * keys do not need finds cycles there too: an invalid graph never runs, whatever is asked of it.
 * Everything is O(V + E) over dense arrays with a fixed number of allocations. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

/* Walk colours live in the same per-id array as positions; the graph keeps ids well below. */
#define WHITE         UINT32_MAX
#define GRAY          (UINT32_MAX - 1u)
#define DONE_UNNEEDED (UINT32_MAX - 2u)

/* Keys named in a cycle message before it is cut short. */
#define CYCLE_SHOW 8

typedef struct {
  const dagr_graph_t *g;
  uint32_t *mark;  /* per graph id: a colour, or the post-order position once finished */
  uint32_t *stk;   /* graph ids on the current path */
  uint32_t *cur;   /* per stack entry, the next argument to visit */
  uint32_t *order; /* position -> graph id */
  uint32_t n;
  char *err;
  size_t errlen;
} walk_t;

/* Appends to a message buffer, truncating quietly. */
static void msg_add(char *buf, size_t cap, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void msg_add(char *buf, size_t cap, size_t *pos, const char *fmt, ...) {
  if (!buf || *pos + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
  va_end(ap);
  if (w < 0) return;
  *pos += (size_t)w < cap - *pos ? (size_t)w : cap - *pos - 1;
}

/* The path from dependency d (already on the stack) to the top of the stack, then back to d,
 * reads as "depends on" arrows. */
static int cycle_error(const walk_t *w, size_t sp, uint32_t d) {
  size_t start = sp - 1;
  while (start > 0 && w->stk[start] != d) start--;
  if (w->err && w->errlen) {
    size_t pos = 0;
    size_t len = sp - start;
    msg_add(w->err, w->errlen, &pos, "dependency cycle: ");
    for (size_t i = 0; i < len && i < CYCLE_SHOW; i++)
      msg_add(w->err, w->errlen, &pos, "'%s' -> ", dagr__graph_key(w->g, w->stk[start + i]));
    if (len > CYCLE_SHOW)
      msg_add(w->err, w->errlen, &pos, "... (%zu keys)", len);
    else
      msg_add(w->err, w->errlen, &pos, "'%s'", dagr__graph_key(w->g, d));
  }
  return DAGR_ECYCLE;
}

/* Depth-first walk from root. With emit, finished tasks get the next post-order position;
 * without, they are only marked done (the cycle check of unneeded tasks). */
static int walk(walk_t *w, uint32_t root, int emit) {
  const dagr_graph_t *g = w->g;
  uint32_t *mark = w->mark, *stk = w->stk, *cur = w->cur;
  size_t sp = 1;
  mark[root] = GRAY;
  stk[0] = root;
  cur[0] = 0;
  while (sp) {
    uint32_t t = stk[sp - 1];
    const dagr__gtask *task = &g->tasks[t];
    if (cur[sp - 1] < task->ndeps) {
      uint32_t d = g->deps[task->dep_off + cur[sp - 1]++];
      uint32_t m = mark[d];
      if (m == WHITE) {
        /* Each id turns grey once, so the stack never holds more than nids entries. */
        mark[d] = GRAY;
        stk[sp] = d;
        cur[sp] = 0;
        sp++;
      } else if (m == GRAY) {
        return cycle_error(w, sp, d);
      }
    } else {
      sp--;
      if (emit) {
        mark[t] = w->n;
        w->order[w->n++] = t;
      } else {
        mark[t] = DONE_UNNEEDED;
      }
    }
  }
  return DAGR_OK;
}

/* Stable LSD radix sort of order[0..n) by descending priority. The input is in post-order, and
 * stability keeps that order among equal priorities. */
static int sort_by_priority(const dagr_graph_t *g, uint32_t *order, uint32_t n) {
  uint32_t *buf = malloc(3 * (size_t)n * sizeof *buf);
  if (!buf) return DAGR_ENOMEM;
  uint32_t *key = buf, *key2 = buf + n, *ord2 = buf + 2 * (size_t)n, *ord = order;
  for (uint32_t p = 0; p < n; p++) {
    /* Flipping the sign bit maps int32 order onto uint32 order; complementing makes the
     * highest priority the smallest key. */
    key[p] = ~((uint32_t)g->tasks[order[p]].priority ^ 0x80000000u);
  }
  for (unsigned shift = 0; shift < 32; shift += 8) {
    size_t count[257] = {0};
    for (uint32_t p = 0; p < n; p++) count[((key[p] >> shift) & 0xffu) + 1]++;
    int trivial = 0;
    for (size_t b = 1; b <= 256; b++)
      if (count[b] == n) trivial = 1;
    if (trivial) continue;
    for (size_t b = 1; b <= 256; b++) count[b] += count[b - 1];
    for (uint32_t p = 0; p < n; p++) {
      size_t dst = count[(key[p] >> shift) & 0xffu]++;
      key2[dst] = key[p];
      ord2[dst] = ord[p];
    }
    uint32_t *tk = key, *to = ord;
    key = key2;
    key2 = tk;
    ord = ord2;
    ord2 = to;
  }
  if (ord != order) memcpy(order, ord, (size_t)n * sizeof *order);
  free(buf);
  return DAGR_OK;
}

void dagr__plan_free(dagr__plan *plan) {
  if (!plan) return;
  free(plan->gid);
  free(plan->kernel);
  free(plan->dep_off);
  free(plan->deps);
  free(plan->cons_off);
  free(plan->cons);
  free(plan->targets);
  memset(plan, 0, sizeof *plan);
}

/* Checks every defined task, needed or not: missing dependencies first (they make the rest of
 * the graph meaningless), then kernels. */
static int validate_tasks(const dagr_graph_t *g, const int *kid, char *err, size_t errlen) {
  for (uint32_t id = 0; id < g->nids; id++) {
    const dagr__gtask *t = &g->tasks[id];
    if (!t->defined || t->ndeps == 0) continue;
    const uint32_t *d = g->deps + t->dep_off; /* g->deps is NULL in a graph without edges */
    for (uint32_t i = 0; i < t->ndeps; i++) {
      if (!g->tasks[d[i]].defined)
        return dagr__errf(err, errlen, DAGR_EMISSING, "task '%s' depends on missing key '%s'",
                          dagr__graph_key(g, id), dagr__graph_key(g, d[i]));
    }
  }
  for (uint32_t id = 0; id < g->nids; id++) {
    const dagr__gtask *t = &g->tasks[id];
    if (!t->defined) continue;
    int k = kid[t->kname];
    if (k < 0)
      return dagr__errf(err, errlen, DAGR_EUNKNOWN_KERNEL, "task '%s' uses unknown kernel '%s'",
                        dagr__graph_key(g, id), g->knames[t->kname]);
    if (k > UINT16_MAX)
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "task '%s' uses kernel '%s' whose registry id %d does not fit 16 bits",
                        dagr__graph_key(g, id), g->knames[t->kname], k);
  }
  return DAGR_OK;
}

/* Fills the dependency and consumer CSR arrays of a plan whose gid[] is final; mark[] maps
 * graph ids to plan ids. */
static int fill_edges(const dagr_graph_t *g, const uint32_t *mark, dagr__plan *plan, char *err,
                      size_t errlen) {
  uint32_t n = plan->n;
  uint64_t e = 0;
  for (uint32_t p = 0; p < n; p++) e += g->tasks[plan->gid[p]].ndeps;
  if (e > UINT32_MAX)
    return dagr__errf(err, errlen, DAGR_ENOMEM, "plan has %llu edges, more than 2^32 - 1",
                      (unsigned long long)e);
  plan->nedges = e;
  plan->dep_off = malloc(((size_t)n + 1) * sizeof *plan->dep_off);
  plan->cons_off = calloc((size_t)n + 1, sizeof *plan->cons_off);
  /* At least one element, so an edgeless plan still has non-NULL arrays. */
  plan->deps = malloc((e ? (size_t)e : 1) * sizeof *plan->deps);
  plan->cons = malloc((e ? (size_t)e : 1) * sizeof *plan->cons);
  if (!plan->dep_off || !plan->cons_off || !plan->deps || !plan->cons)
    return dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory building the plan");

  uint32_t k = 0;
  for (uint32_t p = 0; p < n; p++) {
    const dagr__gtask *t = &g->tasks[plan->gid[p]];
    /* g->deps is NULL in a graph without edges: no pointer arithmetic on it then. */
    const uint32_t *d = t->ndeps ? g->deps + t->dep_off : NULL;
    plan->dep_off[p] = k;
    for (uint32_t i = 0; i < t->ndeps; i++) {
      uint32_t q = mark[d[i]];
      plan->deps[k++] = q;
      plan->cons_off[q + 1]++;
    }
  }
  plan->dep_off[n] = k;

  /* Counts become start offsets; filling then advances each to the next task's start, and a
   * one-slot shift restores the starts. Consumers come out in ascending plan id. */
  for (uint32_t p = 0; p < n; p++) plan->cons_off[p + 1] += plan->cons_off[p];
  for (uint32_t p = 0; p < n; p++)
    for (uint32_t j = plan->dep_off[p]; j < plan->dep_off[p + 1]; j++)
      plan->cons[plan->cons_off[plan->deps[j]]++] = p;
  memmove(plan->cons_off + 1, plan->cons_off, (size_t)n * sizeof *plan->cons_off);
  plan->cons_off[0] = 0;
  return DAGR_OK;
}

int dagr__plan_build(const dagr_graph_t *g, const char *const *keys, size_t nkeys,
                     dagr__kernel_lookup_fn lookup, void *lookup_arg, dagr__plan *plan, char *err,
                     size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (plan) memset(plan, 0, sizeof *plan);
  if (!g || !plan || !lookup)
    return dagr__errf(err, errlen, DAGR_EINVAL, "invalid argument to plan build");
  if (!keys || nkeys == 0) return dagr__errf(err, errlen, DAGR_EINVAL, "no keys requested");
  if (g->err != DAGR_OK) return dagr__errf(err, errlen, g->err, "%s", g->errmsg);
  if (nkeys > SIZE_MAX / sizeof(uint32_t))
    return dagr__errf(err, errlen, DAGR_EINVAL, "too many keys requested");

  int rc = DAGR_OK;
  walk_t w = {.g = g, .err = err, .errlen = errlen};
  int *kid = NULL;
  uint32_t *tgt = malloc(nkeys * sizeof *tgt);
  if (!tgt) goto nomem;
  for (size_t i = 0; i < nkeys; i++) {
    if (!keys[i]) {
      rc = dagr__errf(err, errlen, DAGR_EINVAL, "requested key %zu is NULL", i);
      goto fail;
    }
    if (dagr__graph_find(g, keys[i], &tgt[i]) != DAGR_OK) {
      rc = dagr__errf(err, errlen, DAGR_ENOKEY, "requested key '%s' is not in the graph", keys[i]);
      goto fail;
    }
  }

  kid = malloc((g->nknames ? g->nknames : 1) * sizeof *kid);
  if (!kid) goto nomem;
  for (uint32_t k = 0; k < g->nknames; k++) kid[k] = lookup(g->knames[k], lookup_arg);
  rc = validate_tasks(g, kid, err, errlen);
  if (rc) goto fail;

  size_t nids = g->nids;
  w.mark = malloc(nids * sizeof *w.mark);
  w.stk = malloc(nids * sizeof *w.stk);
  w.cur = malloc(nids * sizeof *w.cur);
  w.order = malloc(nids * sizeof *w.order);
  if (!w.mark || !w.stk || !w.cur || !w.order) goto nomem;
  memset(w.mark, 0xff, nids * sizeof *w.mark); /* all WHITE */

  for (size_t i = 0; i < nkeys; i++) {
    if (w.mark[tgt[i]] != WHITE) continue;
    rc = walk(&w, tgt[i], 1);
    if (rc) goto fail;
  }
  for (uint32_t id = 0; id < g->nids; id++) {
    if (w.mark[id] != WHITE || !g->tasks[id].defined) continue;
    rc = walk(&w, id, 0);
    if (rc) goto fail;
  }

  uint32_t n = w.n;
  int prio = 0;
  for (uint32_t p = 0; p < n && !prio; p++) prio = g->tasks[w.order[p]].priority != 0;
  if (prio) {
    rc = sort_by_priority(g, w.order, n);
    if (rc) goto nomem;
    for (uint32_t p = 0; p < n; p++) w.mark[w.order[p]] = p;
  }

  /* The position array becomes the plan's gid[]; give back the unneeded tail. */
  plan->n = n;
  plan->gid = w.order;
  w.order = NULL;
  if (n < nids) {
    uint32_t *shrunk = realloc(plan->gid, (n ? n : 1) * sizeof *shrunk);
    if (shrunk) plan->gid = shrunk;
  }
  plan->kernel = malloc((n ? n : 1) * sizeof *plan->kernel);
  plan->targets = malloc(nkeys * sizeof *plan->targets);
  if (!plan->kernel || !plan->targets) goto nomem;
  for (uint32_t p = 0; p < n; p++) plan->kernel[p] = (uint16_t)kid[g->tasks[plan->gid[p]].kname];
  for (size_t i = 0; i < nkeys; i++) plan->targets[i] = w.mark[tgt[i]];
  plan->ntargets = nkeys;
  rc = fill_edges(g, w.mark, plan, err, errlen);
  if (rc) goto fail;

  free(tgt);
  free(kid);
  free(w.mark);
  free(w.stk);
  free(w.cur);
  return DAGR_OK;

nomem:
  rc = dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory building the plan");
fail:
  free(tgt);
  free(kid);
  free(w.mark);
  free(w.stk);
  free(w.cur);
  free(w.order);
  dagr__plan_free(plan);
  return rc;
}
