/* test_graph.c: unit tests of the graph layer: interning, validation, culling, ordering, CSR. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_util.h"
#include "graph/graph.h"
#include "graph/params.h"

/* --- helpers -------------------------------------------------------------------------------- */

/* Kernel registry stand-in: the index in this table, -1 for anything else, and an id past 16
 * bits for "huge" to exercise the plan's kernel-id range check. */
static const char *const fake_kernels[] = {"load", "inc", "add", "sum", "leaf", NULL};

static int fake_lookup(const char *name, void *arg) {
  int *calls = arg;
  if (calls) (*calls)++;
  if (strcmp(name, "huge") == 0) return 70000;
  for (int i = 0; fake_kernels[i]; i++)
    if (strcmp(name, fake_kernels[i]) == 0) return i;
  return -1;
}

#define DEPS(...)                                                                                  \
  (const char *[]){__VA_ARGS__}, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)

static int add0(dagr_graph_t *g, const char *key, const char *kernel) {
  return dagr_graph_add(g, key, kernel, NULL, NULL, 0, NULL);
}

static int addn(dagr_graph_t *g, const char *key, const char *kernel, const char **deps, size_t n) {
  return dagr_graph_add(g, key, kernel, NULL, (const char *const *)deps, n, NULL);
}

static dagr_graph_t *new_graph(void) {
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(dagr_graph_create(&g), DAGR_OK);
  return g;
}

static char errbuf[DAGR__ERRLEN];

static int plan1(const dagr_graph_t *g, const char *key, dagr__plan *p) {
  const char *keys[] = {key};
  return dagr__plan_build(g, keys, 1, fake_lookup, NULL, p, errbuf, sizeof errbuf);
}

/* Plan id of key, or UINT32_MAX when the plan does not hold it. */
static uint32_t pid_of(const dagr_graph_t *g, const dagr__plan *p, const char *key) {
  uint32_t id;
  if (dagr__graph_find(g, key, &id) != DAGR_OK) return UINT32_MAX;
  for (uint32_t i = 0; i < p->n; i++)
    if (p->gid[i] == id) return i;
  return UINT32_MAX;
}

static int plan_is_zero(const dagr__plan *p) {
  return p->n == 0 && !p->gid && !p->kernel && !p->dep_off && !p->deps && !p->cons_off &&
         !p->cons && !p->targets && p->ntargets == 0 && p->nedges == 0;
}

/* --- construction --------------------------------------------------------------------------- */

static void test_create_and_invalid_args(void) {
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(dagr_graph_create(NULL), DAGR_EINVAL);
  g = new_graph();
  CU_EXPECT_INT(dagr_graph_size(g), 0);
  CU_ASSERT_STRING_EQUAL(dagr_graph_error(g), "");
  dagr_task_opts_t bad;
  dagr_task_opts_init(&bad);
  bad.retries = -1;
  CU_EXPECT_INT(dagr_graph_add(NULL, "a", "inc", NULL, NULL, 0, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_add(g, NULL, "inc", NULL, NULL, 0, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_add(g, "a", NULL, NULL, NULL, 0, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_add(g, "", "inc", NULL, NULL, 0, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_add(g, "a", "inc", NULL, NULL, 2, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_add(g, "a", "inc", NULL, NULL, 0, &bad), DAGR_EINVAL);
  const char *nulldep[] = {"x", NULL};
  CU_EXPECT_INT(addn(g, "a", "inc", nulldep, 2), DAGR_EINVAL);
  const char *emptydep[] = {""};
  CU_EXPECT_INT(addn(g, "a", "inc", emptydep, 1), DAGR_EINVAL);
  /* Nothing was added or interned by the failed calls. */
  CU_EXPECT_INT(dagr_graph_size(g), 0);
  CU_EXPECT_INT(g->nids, 0);
  CU_ASSERT_STRING_EQUAL(dagr_graph_error(g), "");
  CU_EXPECT_INT(dagr_graph_size(NULL), 0);
  dagr_graph_free(g);
  dagr_graph_free(NULL);
}

static void test_interning_forward_refs(void) {
  dagr_graph_t *g = new_graph();
  uint32_t id = 99;
  CU_EXPECT_INT(addn(g, "b", "inc", DEPS("a")), DAGR_OK);
  /* "a" got an id at its first mention but is not a task yet. */
  CU_EXPECT_INT(g->nids, 2);
  CU_EXPECT_INT(dagr_graph_size(g), 1);
  CU_EXPECT_INT(dagr__graph_find(g, "a", &id), DAGR_ENOKEY);
  CU_EXPECT_INT(dagr__graph_find(g, "b", &id), DAGR_OK);
  CU_EXPECT_INT(id, 0);
  CU_EXPECT_INT(add0(g, "a", "load"), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_find(g, "a", &id), DAGR_OK);
  CU_EXPECT_INT(id, 1);
  CU_ASSERT_STRING_EQUAL(dagr__graph_key(g, 1), "a");
  CU_EXPECT_INT(g->nids, 2);
  CU_EXPECT_INT(dagr_graph_size(g), 2);
  /* Dependencies are stored as ids in argument order, repeats kept. */
  CU_EXPECT_INT(addn(g, "c", "add", DEPS("a", "b", "a")), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_find(g, "c", &id), DAGR_OK);
  const dagr__gtask *t = &g->tasks[id];
  CU_EXPECT_INT(t->ndeps, 3);
  CU_EXPECT_INT(g->deps[t->dep_off + 0], 1);
  CU_EXPECT_INT(g->deps[t->dep_off + 1], 0);
  CU_EXPECT_INT(g->deps[t->dep_off + 2], 1);
  CU_EXPECT_INT(dagr__graph_find(g, "zzz", &id), DAGR_ENOKEY);
  CU_EXPECT_INT(dagr__graph_find(g, NULL, &id), DAGR_EINVAL);
  /* Dask tuple keys are ordinary strings. */
  CU_EXPECT_INT(add0(g, "('sum-abc', 0, 1)", "sum"), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_find(g, "('sum-abc', 0, 1)", &id), DAGR_OK);
  CU_ASSERT_STRING_EQUAL(dagr__graph_key(g, id), "('sum-abc', 0, 1)");
  dagr_graph_free(g);
}

static void test_interning_many_keys(void) {
  /* Enough keys to grow every table several times; every key must still resolve to itself. */
  dagr_graph_t *g = new_graph();
  char key[64], dep[64];
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "k-%d-some-longer-suffix", i);
    snprintf(dep, sizeof dep, "k-%d-some-longer-suffix", i + 1);
    const char *deps[] = {dep};
    CU_ASSERT(addn(g, key, "inc", deps, i + 1 < n ? 1 : 0) == DAGR_OK);
  }
  CU_EXPECT_INT(dagr_graph_size(g), n);
  CU_EXPECT_INT(g->nids, n);
  CU_EXPECT_INT(g->nknames, 1);
  int bad = 0;
  for (int i = 0; i < n; i++) {
    uint32_t id;
    snprintf(key, sizeof key, "k-%d-some-longer-suffix", i);
    if (dagr__graph_find(g, key, &id) != DAGR_OK || strcmp(dagr__graph_key(g, id), key) != 0) bad++;
  }
  CU_EXPECT_INT(bad, 0);
  dagr_graph_free(g);
}

static void test_duplicate_key(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(addn(g, "x", "inc", DEPS("y")), DAGR_OK);
  CU_EXPECT_INT(add0(g, "y", "load"), DAGR_OK);
  size_t nids = g->nids, ndeps = g->ndeps;
  CU_EXPECT_INT(addn(g, "x", "sum", DEPS("y", "new")), DAGR_EDUPKEY);
  CU_EXPECT_STR_CONTAINS(dagr_graph_error(g), "duplicate key 'x'");
  CU_EXPECT_INT(g->err, DAGR_EDUPKEY);
  /* Otherwise unchanged: the first definition stands and "new" was not interned. */
  CU_EXPECT_INT(dagr_graph_size(g), 2);
  CU_EXPECT_INT(g->nids, nids);
  CU_EXPECT_INT(g->ndeps, ndeps);
  uint32_t id;
  CU_EXPECT_INT(dagr__graph_find(g, "x", &id), DAGR_OK);
  CU_ASSERT_STRING_EQUAL(g->knames[g->tasks[id].kname], "inc");
  CU_EXPECT_INT(g->tasks[id].ndeps, 1);
  /* The first error is the one kept. */
  CU_EXPECT_INT(add0(g, "y", "load"), DAGR_EDUPKEY);
  CU_EXPECT_STR_CONTAINS(dagr_graph_error(g), "'x'");
  /* Other tasks can still be added, but the graph never plans. */
  CU_EXPECT_INT(add0(g, "z", "load"), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "z", &p), DAGR_EDUPKEY);
  CU_EXPECT_STR_CONTAINS(errbuf, "duplicate key 'x'");
  CU_ASSERT(plan_is_zero(&p));
  dagr_graph_free(g);
}

static void test_options_stored(void) {
  dagr_graph_t *g = new_graph();
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  CU_EXPECT_INT(o.retries, 0);
  CU_EXPECT_INT(o.priority, 0);
  CU_EXPECT_INT(o.worker, -1);
  o.retries = 3;
  o.priority = -7;
  o.worker = 2;
  CU_EXPECT_INT(dagr_graph_add(g, "a", "inc", NULL, NULL, 0, &o), DAGR_OK);
  CU_EXPECT_INT(add0(g, "b", "inc"), DAGR_OK);
  uint32_t a, b;
  CU_EXPECT_INT(dagr__graph_find(g, "a", &a), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_find(g, "b", &b), DAGR_OK);
  CU_EXPECT_INT(g->tasks[a].retries, 3);
  CU_EXPECT_INT(g->tasks[a].priority, -7);
  CU_EXPECT_INT(g->tasks[a].worker, 2);
  CU_EXPECT_INT(g->tasks[a].defined, 1);
  CU_EXPECT_INT(g->tasks[b].retries, 0);
  CU_EXPECT_INT(g->tasks[b].priority, 0);
  CU_EXPECT_INT(g->tasks[b].worker, -1);
  /* Same kernel name, one interned entry. */
  CU_EXPECT_INT(g->nknames, 1);
  CU_EXPECT_INT(g->tasks[a].kname, g->tasks[b].kname);
  dagr_graph_free(g);
}

static void test_params_copied(void) {
  dagr_graph_t *g = new_graph();
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_string(p, "s", "abc"), DAGR_OK);
  CU_EXPECT_INT(dagr_graph_add(g, "a", "load", p, NULL, 0, NULL), DAGR_OK);
  CU_EXPECT_INT(add0(g, "none", "load"), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_int(p, "n", 9), DAGR_OK);
  CU_EXPECT_INT(dagr_graph_add(g, "b", "load", p, NULL, 0, NULL), DAGR_OK);
  /* The graph holds copies: the caller's params can go. */
  dagr_params_free(p);
  uint32_t a, b, none;
  CU_EXPECT_INT(dagr__graph_find(g, "a", &a), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_find(g, "b", &b), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_find(g, "none", &none), DAGR_OK);
  CU_EXPECT_INT(g->tasks[none].param_len, 0);
  const dagr__gtask *ta = &g->tasks[a], *tb = &g->tasks[b];
  CU_EXPECT_INT(ta->param_off % 8, 0);
  CU_EXPECT_INT(tb->param_off % 8, 0);
  CU_EXPECT_INT(((uintptr_t)(g->params + tb->param_off)) % 8, 0);
  const void *pl;
  CU_EXPECT_INT(dagr__params_find(g->params + ta->param_off, ta->param_len, "n", NULL, &pl, NULL),
                DAGR_ENOENT);
  CU_EXPECT_INT(dagr__params_find(g->params + ta->param_off, ta->param_len, "s", NULL, &pl, NULL),
                DAGR_OK);
  CU_ASSERT_STRING_EQUAL((const char *)pl, "abc");
  CU_EXPECT_INT(dagr__params_find(g->params + tb->param_off, tb->param_len, "n", NULL, &pl, NULL),
                DAGR_OK);
  CU_EXPECT_INT(*(const int64_t *)pl, 9);
  CU_EXPECT_INT(dagr__params_validate(g->params + tb->param_off, tb->param_len), DAGR_OK);
  dagr_graph_free(g);
}

static void test_outputs(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(dagr_graph_noutputs(g), 0);
  CU_ASSERT_PTR_NULL(dagr_graph_output(g, 0));
  CU_EXPECT_INT(dagr__graph_add_output(g, "later"), DAGR_OK);
  CU_EXPECT_INT(add0(g, "a", "load"), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_add_output(g, "a"), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_add_output(g, ""), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__graph_add_output(g, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_noutputs(g), 2);
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 0), "later");
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 1), "a");
  CU_ASSERT_PTR_NULL(dagr_graph_output(g, 2));
  /* An output interns its key, so a later definition reuses the id. */
  uint32_t id;
  CU_EXPECT_INT(add0(g, "later", "load"), DAGR_OK);
  CU_EXPECT_INT(dagr__graph_find(g, "later", &id), DAGR_OK);
  CU_EXPECT_INT(id, g->outputs[0]);
  dagr_graph_free(g);
}

/* --- validation ----------------------------------------------------------------------------- */

static void test_missing_dep(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(addn(g, "A", "inc", DEPS("ok", "B")), DAGR_OK);
  CU_EXPECT_INT(add0(g, "ok", "load"), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "A", &p), DAGR_EMISSING);
  CU_EXPECT_STR_CONTAINS(errbuf, "task 'A' depends on missing key 'B'");
  CU_ASSERT(plan_is_zero(&p));
  /* Whole-graph check: asking only for a valid key still fails. */
  CU_EXPECT_INT(plan1(g, "ok", &p), DAGR_EMISSING);
  CU_EXPECT_STR_CONTAINS(errbuf, "'B'");
  dagr_graph_free(g);
}

static void test_unknown_kernel(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "good", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "A", "foo", DEPS("good")), DAGR_OK);
  dagr__plan p;
  int calls = 0;
  const char *keys[] = {"good"};
  CU_EXPECT_INT(dagr__plan_build(g, keys, 1, fake_lookup, &calls, &p, errbuf, sizeof errbuf),
                DAGR_EUNKNOWN_KERNEL);
  CU_EXPECT_STR_CONTAINS(errbuf, "task 'A' uses unknown kernel 'foo'");
  /* One lookup per distinct kernel name, not per task. */
  CU_EXPECT_INT(calls, 2);
  CU_ASSERT(plan_is_zero(&p));
  dagr_graph_free(g);

  g = new_graph();
  CU_EXPECT_INT(add0(g, "big", "huge"), DAGR_OK);
  CU_EXPECT_INT(plan1(g, "big", &p), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "'huge'");
  dagr_graph_free(g);
}

static void test_cycle_two(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(addn(g, "a", "inc", DEPS("b")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "b", "inc", DEPS("a")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "a", &p), DAGR_ECYCLE);
  CU_EXPECT_STR_CONTAINS(errbuf, "dependency cycle: 'a' -> 'b' -> 'a'");
  CU_ASSERT(plan_is_zero(&p));
  dagr_graph_free(g);
}

static void test_cycle_three(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(addn(g, "top", "inc", DEPS("a")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "a", "inc", DEPS("b")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "b", "inc", DEPS("c")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "c", "inc", DEPS("a")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "top", &p), DAGR_ECYCLE);
  /* Only the keys on the cycle, not the path into it. */
  CU_EXPECT_STR_CONTAINS(errbuf, "'a' -> 'b' -> 'c' -> 'a'");
  CU_ASSERT(strstr(errbuf, "top") == NULL);
  dagr_graph_free(g);
}

static void test_self_loop(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "x", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "s", "add", DEPS("x", "s")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "s", &p), DAGR_ECYCLE);
  CU_EXPECT_STR_CONTAINS(errbuf, "'s' -> 's'");
  dagr_graph_free(g);
}

static void test_cycle_in_unneeded_part(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "fine", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "p", "inc", DEPS("q")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "q", "inc", DEPS("r")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "r", "inc", DEPS("p")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "fine", &p), DAGR_ECYCLE);
  CU_EXPECT_STR_CONTAINS(errbuf, "dependency cycle");
  CU_EXPECT_STR_CONTAINS(errbuf, "'p'");
  CU_EXPECT_STR_CONTAINS(errbuf, "'q'");
  CU_EXPECT_STR_CONTAINS(errbuf, "'r'");
  CU_ASSERT(plan_is_zero(&p));
  dagr_graph_free(g);
}

static void test_long_cycle_truncated(void) {
  /* A 20-key cycle behind a 200,000-task chain: the walk must not recurse, and the message
   * names the first keys and then stops. */
  dagr_graph_t *g = new_graph();
  char key[32], dep[32];
  const int chain = 200000, cyc = 20;
  for (int i = 0; i < chain; i++) {
    snprintf(key, sizeof key, "c%d", i);
    snprintf(dep, sizeof dep, "c%d", i + 1);
    const char *deps[] = {dep};
    CU_ASSERT(addn(g, key, "inc", deps, 1) == DAGR_OK);
  }
  for (int i = 0; i < cyc; i++) {
    snprintf(key, sizeof key, "c%d", chain + i);
    snprintf(dep, sizeof dep, "c%d", chain + (i + 1) % cyc);
    const char *deps[] = {dep};
    CU_ASSERT(addn(g, key, "inc", deps, 1) == DAGR_OK);
  }
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "c0", &p), DAGR_ECYCLE);
  CU_EXPECT_STR_CONTAINS(errbuf, "dependency cycle: 'c200000' -> 'c200001'");
  CU_EXPECT_STR_CONTAINS(errbuf, "...");
  CU_ASSERT(strstr(errbuf, "'c200010'") == NULL);
  CU_ASSERT(strstr(errbuf, "'c199999'") == NULL);
  dagr_graph_free(g);
}

static void test_requested_key_errors(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(addn(g, "a", "inc", DEPS("b")), DAGR_OK);
  CU_EXPECT_INT(add0(g, "b", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "c", "inc", DEPS("only-ref")), DAGR_OK);
  dagr__plan p;
  const char *keys[] = {"a", "nope"};
  CU_EXPECT_INT(dagr__plan_build(g, keys, 2, fake_lookup, NULL, &p, errbuf, sizeof errbuf),
                DAGR_ENOKEY);
  CU_EXPECT_STR_CONTAINS(errbuf, "'nope'");
  CU_ASSERT(plan_is_zero(&p));
  /* Referenced but never defined: not in the graph either (checked before EMISSING). */
  CU_EXPECT_INT(plan1(g, "only-ref", &p), DAGR_ENOKEY);
  CU_EXPECT_STR_CONTAINS(errbuf, "'only-ref'");
  CU_EXPECT_INT(dagr__plan_build(g, keys, 0, fake_lookup, NULL, &p, errbuf, sizeof errbuf),
                DAGR_EINVAL);
  CU_EXPECT_INT(dagr__plan_build(g, NULL, 1, fake_lookup, NULL, &p, errbuf, sizeof errbuf),
                DAGR_EINVAL);
  const char *nullkey[] = {NULL};
  CU_EXPECT_INT(dagr__plan_build(g, nullkey, 1, fake_lookup, NULL, &p, errbuf, sizeof errbuf),
                DAGR_EINVAL);
  CU_EXPECT_INT(dagr__plan_build(g, keys, 1, NULL, NULL, &p, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__plan_build(g, keys, 1, fake_lookup, NULL, NULL, errbuf, sizeof errbuf),
                DAGR_EINVAL);
  /* A NULL error buffer is allowed. */
  CU_EXPECT_INT(dagr__plan_build(g, keys + 1, 1, fake_lookup, NULL, &p, NULL, 0), DAGR_ENOKEY);
  CU_ASSERT(plan_is_zero(&p));
  dagr_graph_free(g);
}

static void test_error_precedence(void) {
  /* A graph with every fault reports the missing key before the kernel and the cycle. */
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(addn(g, "a", "inc", DEPS("b")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "b", "bogus", DEPS("a")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "m", "inc", DEPS("gone")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "a", &p), DAGR_EMISSING);
  CU_EXPECT_INT(add0(g, "gone", "load"), DAGR_OK);
  CU_EXPECT_INT(plan1(g, "a", &p), DAGR_EUNKNOWN_KERNEL);
  CU_EXPECT_STR_CONTAINS(errbuf, "task 'b' uses unknown kernel 'bogus'");
  dagr_graph_free(g);
}

/* --- culling and ordering ------------------------------------------------------------------- */

static void test_cull(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "x", "load"), DAGR_OK);
  CU_EXPECT_INT(add0(g, "y", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "fx", "inc", DEPS("x")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "fy", "inc", DEPS("y")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "both", "add", DEPS("fx", "fy")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "fx", &p), DAGR_OK);
  CU_EXPECT_INT(p.n, 2);
  CU_EXPECT_INT(p.nedges, 1);
  CU_EXPECT_INT(pid_of(g, &p, "x"), 0);
  CU_EXPECT_INT(pid_of(g, &p, "fx"), 1);
  CU_EXPECT_INT(pid_of(g, &p, "y"), UINT32_MAX);
  CU_EXPECT_INT(pid_of(g, &p, "both"), UINT32_MAX);
  CU_EXPECT_INT(p.ntargets, 1);
  CU_EXPECT_INT(p.targets[0], 1);
  /* The consumer outside the plan is not listed. */
  CU_EXPECT_INT(p.cons_off[1] - p.cons_off[0], 1);
  CU_EXPECT_INT(p.cons_off[2] - p.cons_off[1], 0);
  dagr__plan_free(&p);
  CU_ASSERT(plan_is_zero(&p));
  CU_EXPECT_INT(plan1(g, "both", &p), DAGR_OK);
  CU_EXPECT_INT(p.n, 5);
  CU_EXPECT_INT(p.nedges, 4);
  dagr__plan_free(&p);
  dagr__plan_free(NULL);
  dagr_graph_free(g);
}

static void test_order_tree_reduction(void) {
  /* Nine leaves, fan-in 3. Added root-first so ids run against the expected order. */
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(addn(g, "r", "sum", DEPS("s0", "s1", "s2")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "s0", "sum", DEPS("l0", "l1", "l2")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "s1", "sum", DEPS("l3", "l4", "l5")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "s2", "sum", DEPS("l6", "l7", "l8")), DAGR_OK);
  char k[16];
  for (int i = 8; i >= 0; i--) {
    snprintf(k, sizeof k, "l%d", i);
    CU_EXPECT_INT(add0(g, k, "leaf"), DAGR_OK);
  }
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "r", &p), DAGR_OK);
  static const char *const want[] = {"l0", "l1", "l2", "s0", "l3", "l4", "l5",
                                     "s1", "l6", "l7", "l8", "s2", "r"};
  CU_EXPECT_INT(p.n, 13);
  for (uint32_t i = 0; i < 13; i++) {
    if (strcmp(dagr__graph_key(g, p.gid[i]), want[i]) != 0)
      fprintf(stderr, "  position %u: %s, expected %s\n", i, dagr__graph_key(g, p.gid[i]), want[i]);
    CU_ASSERT_STRING_EQUAL(dagr__graph_key(g, p.gid[i]), want[i]);
  }
  CU_EXPECT_INT(p.targets[0], 12);
  /* Kernel ids come from the lookup. */
  CU_EXPECT_INT(p.kernel[0], 4); /* leaf */
  CU_EXPECT_INT(p.kernel[3], 3); /* sum */
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_order_chain(void) {
  dagr_graph_t *g = new_graph();
  char key[16], dep[16];
  /* Added from the top of the chain down: forward references all the way. */
  for (int i = 9; i >= 0; i--) {
    snprintf(key, sizeof key, "c%d", i);
    snprintf(dep, sizeof dep, "c%d", i - 1);
    const char *deps[] = {dep};
    CU_EXPECT_INT(addn(g, key, i ? "inc" : "load", deps, i ? 1 : 0), DAGR_OK);
  }
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "c9", &p), DAGR_OK);
  CU_EXPECT_INT(p.n, 10);
  int bad = 0;
  for (uint32_t i = 0; i < 10; i++) {
    snprintf(key, sizeof key, "c%u", i);
    if (strcmp(dagr__graph_key(g, p.gid[i]), key) != 0) bad++;
    if (i > 0 && (p.dep_off[i + 1] - p.dep_off[i] != 1 || p.deps[p.dep_off[i]] != i - 1)) bad++;
  }
  CU_EXPECT_INT(bad, 0);
  dagr__plan_free(&p);
  /* Asking for the middle culls the rest. */
  CU_EXPECT_INT(plan1(g, "c4", &p), DAGR_OK);
  CU_EXPECT_INT(p.n, 5);
  CU_EXPECT_INT(p.targets[0], 4);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_order_argument_order(void) {
  /* Dependencies are visited in argument order, not in id or insertion order. */
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "a", "load"), DAGR_OK);
  CU_EXPECT_INT(add0(g, "b0", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "b", "inc", DEPS("b0")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "t", "add", DEPS("b", "a")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "t", &p), DAGR_OK);
  CU_EXPECT_INT(pid_of(g, &p, "b0"), 0);
  CU_EXPECT_INT(pid_of(g, &p, "b"), 1);
  CU_EXPECT_INT(pid_of(g, &p, "a"), 2);
  CU_EXPECT_INT(pid_of(g, &p, "t"), 3);
  /* Deps in argument order, in plan ids. */
  CU_EXPECT_INT(p.deps[p.dep_off[3]], 1);
  CU_EXPECT_INT(p.deps[p.dep_off[3] + 1], 2);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_priority_reorders(void) {
  dagr_graph_t *g = new_graph();
  dagr_task_opts_t hi;
  dagr_task_opts_init(&hi);
  hi.priority = 10;
  CU_EXPECT_INT(add0(g, "a", "load"), DAGR_OK);
  CU_EXPECT_INT(add0(g, "b", "load"), DAGR_OK);
  CU_EXPECT_INT(add0(g, "c", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "t", "sum", DEPS("a", "b", "c")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "t", &p), DAGR_OK);
  CU_EXPECT_INT(pid_of(g, &p, "a"), 0);
  CU_EXPECT_INT(pid_of(g, &p, "c"), 2);
  dagr__plan_free(&p);
  dagr_graph_free(g);

  /* Same graph with "c" at priority 10 and "a" at -1: c first, then b, t by depth-first
   * position, and a last. */
  g = new_graph();
  dagr_task_opts_t lo;
  dagr_task_opts_init(&lo);
  lo.priority = -1;
  CU_EXPECT_INT(dagr_graph_add(g, "a", "load", NULL, NULL, 0, &lo), DAGR_OK);
  CU_EXPECT_INT(add0(g, "b", "load"), DAGR_OK);
  CU_EXPECT_INT(dagr_graph_add(g, "c", "load", NULL, NULL, 0, &hi), DAGR_OK);
  CU_EXPECT_INT(addn(g, "t", "sum", DEPS("a", "b", "c")), DAGR_OK);
  CU_EXPECT_INT(plan1(g, "t", &p), DAGR_OK);
  CU_EXPECT_INT(pid_of(g, &p, "c"), 0);
  CU_EXPECT_INT(pid_of(g, &p, "b"), 1);
  CU_EXPECT_INT(pid_of(g, &p, "t"), 2);
  CU_EXPECT_INT(pid_of(g, &p, "a"), 3);
  /* The CSR follows the new ids: t's deps are a, b, c in argument order. */
  CU_EXPECT_INT(p.dep_off[3] - p.dep_off[2], 3);
  CU_EXPECT_INT(p.deps[p.dep_off[2]], 3);
  CU_EXPECT_INT(p.deps[p.dep_off[2] + 1], 1);
  CU_EXPECT_INT(p.deps[p.dep_off[2] + 2], 0);
  CU_EXPECT_INT(p.targets[0], 2);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_priority_large_values(void) {
  /* Extremes of int32 sort correctly, and ties keep depth-first order. */
  dagr_graph_t *g = new_graph();
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  static const int prios[] = {0, INT32_MIN, 5, INT32_MAX, 5, -300, 70000};
  static const char *const names[] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6"};
  for (int i = 0; i < 7; i++) {
    o.priority = prios[i];
    CU_EXPECT_INT(dagr_graph_add(g, names[i], "load", NULL, NULL, 0, &o), DAGR_OK);
  }
  CU_EXPECT_INT(addn(g, "t", "sum", DEPS("p0", "p1", "p2", "p3", "p4", "p5", "p6")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "t", &p), DAGR_OK);
  static const char *const want[] = {"p3", "p6", "p2", "p4", "p0", "t", "p5", "p1"};
  for (uint32_t i = 0; i < 8; i++) CU_ASSERT_STRING_EQUAL(dagr__graph_key(g, p.gid[i]), want[i]);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_multiple_targets(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "x", "load"), DAGR_OK);
  CU_EXPECT_INT(add0(g, "y", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "fx", "inc", DEPS("x")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "fy", "inc", DEPS("y")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "both", "add", DEPS("fx", "fy")), DAGR_OK);
  CU_EXPECT_INT(add0(g, "unused", "load"), DAGR_OK);
  dagr__plan p;
  /* Request order drives the walk: fy's branch first. Duplicates and already-covered keys
   * are fine. */
  const char *keys[] = {"fy", "both", "fy", "x"};
  CU_EXPECT_INT(dagr__plan_build(g, keys, 4, fake_lookup, NULL, &p, errbuf, sizeof errbuf),
                DAGR_OK);
  CU_EXPECT_INT(p.n, 5);
  CU_EXPECT_INT(pid_of(g, &p, "y"), 0);
  CU_EXPECT_INT(pid_of(g, &p, "fy"), 1);
  CU_EXPECT_INT(pid_of(g, &p, "x"), 2);
  CU_EXPECT_INT(pid_of(g, &p, "fx"), 3);
  CU_EXPECT_INT(pid_of(g, &p, "both"), 4);
  CU_EXPECT_INT(p.ntargets, 4);
  CU_EXPECT_INT(p.targets[0], 1);
  CU_EXPECT_INT(p.targets[1], 4);
  CU_EXPECT_INT(p.targets[2], 1);
  CU_EXPECT_INT(p.targets[3], 2);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

/* --- dependency and consumer CSR ------------------------------------------------------------ */

static void test_dep_counts(void) {
  /* Diamond with a repeated argument: d = add(b, c, b), b = inc(a), c = inc(a). */
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "a", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "b", "inc", DEPS("a")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "c", "inc", DEPS("a")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "d", "add", DEPS("b", "c", "b")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "d", &p), DAGR_OK);
  CU_EXPECT_INT(p.n, 4);
  uint32_t a = pid_of(g, &p, "a"), b = pid_of(g, &p, "b"), c = pid_of(g, &p, "c"),
           d = pid_of(g, &p, "d");
  CU_EXPECT_INT(a, 0);
  CU_EXPECT_INT(b, 1);
  CU_EXPECT_INT(c, 2);
  CU_EXPECT_INT(d, 3);
  CU_EXPECT_INT(p.nedges, 5);
  CU_EXPECT_INT(p.dep_off[0], 0);
  CU_EXPECT_INT(p.dep_off[4], 5);
  CU_EXPECT_INT(p.dep_off[a + 1] - p.dep_off[a], 0);
  CU_EXPECT_INT(p.dep_off[b + 1] - p.dep_off[b], 1);
  CU_EXPECT_INT(p.dep_off[c + 1] - p.dep_off[c], 1);
  CU_EXPECT_INT(p.dep_off[d + 1] - p.dep_off[d], 3);
  CU_EXPECT_INT(p.deps[p.dep_off[d] + 0], b);
  CU_EXPECT_INT(p.deps[p.dep_off[d] + 1], c);
  CU_EXPECT_INT(p.deps[p.dep_off[d] + 2], b);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_consumer_counts(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "a", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "b", "inc", DEPS("a")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "c", "inc", DEPS("a")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "d", "add", DEPS("b", "c", "b")), DAGR_OK);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "d", &p), DAGR_OK);
  /* a feeds b and c; b feeds d twice (once per listing); d feeds nothing. */
  CU_EXPECT_INT(p.cons_off[0], 0);
  CU_EXPECT_INT(p.cons_off[4], 5);
  CU_EXPECT_INT(p.cons_off[1] - p.cons_off[0], 2);
  CU_EXPECT_INT(p.cons_off[2] - p.cons_off[1], 2);
  CU_EXPECT_INT(p.cons_off[3] - p.cons_off[2], 1);
  CU_EXPECT_INT(p.cons_off[4] - p.cons_off[3], 0);
  CU_EXPECT_INT(p.cons[p.cons_off[0]], 1);
  CU_EXPECT_INT(p.cons[p.cons_off[0] + 1], 2);
  CU_EXPECT_INT(p.cons[p.cons_off[1]], 3);
  CU_EXPECT_INT(p.cons[p.cons_off[1] + 1], 3);
  CU_EXPECT_INT(p.cons[p.cons_off[2]], 3);
  /* Every edge appears once in each direction. */
  uint64_t fwd = 0, back = 0;
  for (uint32_t t = 0; t < p.n; t++) {
    fwd += p.dep_off[t + 1] - p.dep_off[t];
    back += p.cons_off[t + 1] - p.cons_off[t];
  }
  CU_EXPECT_INT(fwd, p.nedges);
  CU_EXPECT_INT(back, p.nedges);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_kernel_ids(void) {
  dagr_graph_t *g = new_graph();
  CU_EXPECT_INT(add0(g, "a", "load"), DAGR_OK);
  CU_EXPECT_INT(addn(g, "b", "inc", DEPS("a")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "c", "add", DEPS("a", "b")), DAGR_OK);
  CU_EXPECT_INT(addn(g, "d", "inc", DEPS("c")), DAGR_OK);
  CU_EXPECT_INT(g->nknames, 3);
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "d", &p), DAGR_OK);
  CU_EXPECT_INT(p.kernel[pid_of(g, &p, "a")], 0);
  CU_EXPECT_INT(p.kernel[pid_of(g, &p, "b")], 1);
  CU_EXPECT_INT(p.kernel[pid_of(g, &p, "c")], 2);
  CU_EXPECT_INT(p.kernel[pid_of(g, &p, "d")], 1);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void test_many_kernel_names(void) {
  /* Every task its own kernel name: the name table must scale (and lookups stay per name). */
  dagr_graph_t *g = new_graph();
  char key[32], kn[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(key, sizeof key, "t%d", i);
    snprintf(kn, sizeof kn, "kern%d", i % 5000);
    CU_ASSERT(add0(g, key, kn) == DAGR_OK);
  }
  CU_EXPECT_INT(g->nknames, 5000);
  uint32_t id;
  CU_EXPECT_INT(dagr__graph_find(g, "t7777", &id), DAGR_OK);
  CU_ASSERT_STRING_EQUAL(g->knames[g->tasks[id].kname], "kern2777");
  dagr__plan p;
  CU_EXPECT_INT(plan1(g, "t0", &p), DAGR_EUNKNOWN_KERNEL);
  CU_EXPECT_STR_CONTAINS(errbuf, "'kern0'");
  dagr_graph_free(g);
}

/* --- scale ---------------------------------------------------------------------------------- */

static void test_chain_1m(void) {
  const int n = 1000000;
  dagr_graph_t *g = new_graph();
  char key[32], dep[32];
  double t0 = dagr__now();
  int bad = 0;
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "c-%d", i);
    snprintf(dep, sizeof dep, "c-%d", i - 1);
    const char *deps[] = {dep};
    if (addn(g, key, i ? "inc" : "load", deps, i ? 1 : 0) != DAGR_OK) bad++;
  }
  double t1 = dagr__now();
  CU_EXPECT_INT(bad, 0);
  CU_EXPECT_INT(dagr_graph_size(g), n);
  dagr__plan p;
  snprintf(key, sizeof key, "c-%d", n - 1);
  CU_EXPECT_INT(plan1(g, key, &p), DAGR_OK);
  double t2 = dagr__now();
  printf("\n    1e6 chain: build %.1f ms, plan %.1f ms ", (t1 - t0) * 1e3, (t2 - t1) * 1e3);
  CU_EXPECT_INT(p.n, n);
  CU_EXPECT_INT(p.nedges, n - 1);
  CU_EXPECT_INT(p.targets[0], n - 1);
  CU_ASSERT_STRING_EQUAL(dagr__graph_key(g, p.gid[0]), "c-0");
  bad = 0;
  for (uint32_t i = 1; i < (uint32_t)n; i++)
    if (p.deps[p.dep_off[i]] != i - 1 || p.cons[p.cons_off[i - 1]] != i) bad++;
  CU_EXPECT_INT(bad, 0);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

static void level_key(char *buf, size_t len, int level, int i) {
  if (level == 0)
    snprintf(buf, len, "leaf-%d", i);
  else
    snprintf(buf, len, "sum-%d-%d", level, i);
}

static void test_tree_1m(void) {
  const int leaves = 1000000, fan = 32;
  dagr_graph_t *g = new_graph();
  char key[32], depbuf[32][32];
  const char *deps[32];
  for (int i = 0; i < fan; i++) deps[i] = depbuf[i];
  double t0 = dagr__now();
  int bad = 0;
  for (int i = 0; i < leaves; i++) {
    level_key(key, sizeof key, 0, i);
    if (add0(g, key, "leaf") != DAGR_OK) bad++;
  }
  double t1 = dagr__now();
  int width = leaves, level = 0;
  long total = leaves;
  while (width > 1) {
    int next = (width + fan - 1) / fan;
    for (int j = 0; j < next; j++) {
      int nd = 0;
      for (int i = j * fan; i < width && i < (j + 1) * fan; i++)
        level_key(depbuf[nd++], sizeof depbuf[0], level, i);
      level_key(key, sizeof key, level + 1, j);
      if (addn(g, key, "sum", deps, (size_t)nd) != DAGR_OK) bad++;
    }
    total += next;
    width = next;
    level++;
  }
  double t2 = dagr__now();
  CU_EXPECT_INT(bad, 0);
  CU_EXPECT_INT(dagr_graph_size(g), total);
  char root[32];
  level_key(root, sizeof root, level, 0);
  dagr__plan p;
  double t3 = dagr__now();
  CU_EXPECT_INT(plan1(g, root, &p), DAGR_OK);
  double t4 = dagr__now();
  printf("\n    1e6-leaf tree (%ld tasks): add leaves %.1f ms, total build %.1f ms, plan %.1f ms ",
         total, (t1 - t0) * 1e3, (t2 - t0) * 1e3, (t4 - t3) * 1e3);
  CU_EXPECT_INT(p.n, total);
  CU_EXPECT_INT(p.nedges, total - 1);
  CU_EXPECT_INT(p.targets[0], total - 1);
  /* The first group's leaves, then their reducer, then the next group. */
  bad = 0;
  for (int i = 0; i < fan; i++) {
    level_key(key, sizeof key, 0, i);
    if (strcmp(dagr__graph_key(g, p.gid[i]), key) != 0) bad++;
  }
  CU_EXPECT_INT(bad, 0);
  CU_ASSERT_STRING_EQUAL(dagr__graph_key(g, p.gid[fan]), "sum-1-0");
  CU_ASSERT_STRING_EQUAL(dagr__graph_key(g, p.gid[fan + 1]), "leaf-32");
  /* Every task's dependencies precede it (no priorities here). */
  bad = 0;
  for (uint32_t t = 0; t < p.n; t++)
    for (uint32_t j = p.dep_off[t]; j < p.dep_off[t + 1]; j++)
      if (p.deps[j] >= t) bad++;
  CU_EXPECT_INT(bad, 0);
  dagr__plan_free(&p);
  dagr_graph_free(g);
}

int main(void) {
  static const cu_test_def tests[] = {
      {"create and invalid arguments", test_create_and_invalid_args},
      {"interning and forward references", test_interning_forward_refs},
      {"interning many keys", test_interning_many_keys},
      {"duplicate key", test_duplicate_key},
      {"options stored", test_options_stored},
      {"params copied", test_params_copied},
      {"outputs", test_outputs},
      {"missing dependency", test_missing_dep},
      {"unknown kernel", test_unknown_kernel},
      {"cycle of two", test_cycle_two},
      {"cycle of three", test_cycle_three},
      {"self loop", test_self_loop},
      {"cycle in unneeded part", test_cycle_in_unneeded_part},
      {"long cycle message truncated", test_long_cycle_truncated},
      {"requested key errors", test_requested_key_errors},
      {"error precedence", test_error_precedence},
      {"culling", test_cull},
      {"order: tree reduction", test_order_tree_reduction},
      {"order: chain", test_order_chain},
      {"order: argument order", test_order_argument_order},
      {"order: priorities", test_priority_reorders},
      {"order: extreme priorities", test_priority_large_values},
      {"order: multiple targets", test_multiple_targets},
      {"dependency counts", test_dep_counts},
      {"consumer counts", test_consumer_counts},
      {"kernel ids", test_kernel_ids},
      {"many kernel names", test_many_kernel_names},
      {"1e6-task chain", test_chain_1m},
      {"1e6-leaf tree reduction", test_tree_1m},
      {NULL, NULL},
  };
  return cu_run_suite("graph", tests);
}
