/* test_json.c: unit tests of the JSON graph-file loader (dagr_graph_load_json / _load_file). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cu_util.h"
#include "graph/graph.h"
#include "graph/params.h"

static char err[DAGR__ERRLEN];

/* --- helpers -------------------------------------------------------------------------------- */

static int load(const char *text, dagr_graph_t **g) {
  memset(err, 'X', sizeof err);
  err[sizeof err - 1] = '\0';
  return dagr_graph_load_json(text, strlen(text), g, err, sizeof err);
}

static const char *srcdir(void) {
  const char *d = getenv("DAGR_TOP_SRCDIR");
  return d && *d ? d : ".";
}

static void fixture_path(const char *name, char *out, size_t len) {
  snprintf(out, len, "%s/tests/data/%s", srcdir(), name);
}

/* Reads tests/data/NAME.expect (first line, without the newline) into out. */
static int read_expect(const char *name, char *out, size_t len) {
  char path[4096];
  fixture_path(name, path, sizeof path);
  char *dot = strrchr(path, '.');
  if (!dot) return -1;
  snprintf(dot, sizeof path - (size_t)(dot - path), ".expect");
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  if (!fgets(out, (int)len, f)) out[0] = '\0';
  fclose(f);
  out[strcspn(out, "\n")] = '\0';
  return 0;
}

static int load_fixture(const char *name, dagr_graph_t **g) {
  char path[4096];
  fixture_path(name, path, sizeof path);
  memset(err, 'X', sizeof err);
  err[sizeof err - 1] = '\0';
  return dagr_graph_load_file(path, g, err, sizeof err);
}

/* The task record of a defined key, or NULL. */
static const dagr__gtask *task(const dagr_graph_t *g, const char *key) {
  uint32_t id;
  if (dagr__graph_find(g, key, &id) != DAGR_OK) return NULL;
  return &g->tasks[id];
}

static const char *kernel_of(const dagr_graph_t *g, const char *key) {
  const dagr__gtask *t = task(g, key);
  return t ? g->knames[t->kname] : "(none)";
}

static const char *dep_of(const dagr_graph_t *g, const char *key, uint32_t i) {
  const dagr__gtask *t = task(g, key);
  if (!t || i >= t->ndeps) return "(none)";
  return dagr__graph_key(g, g->deps[t->dep_off + i]);
}

/* Finds a parameter: its type (0 if absent), payload and length. */
static int param_of(const dagr_graph_t *g, const char *key, const char *name, const void **payload,
                    size_t *plen) {
  const dagr__gtask *t = task(g, key);
  if (!t) return 0;
  int type = 0;
  const void *pl = NULL;
  size_t n = 0;
  if (dagr__params_find(g->params + t->param_off, t->param_len, name, &type, &pl, &n) != DAGR_OK)
    return 0;
  if (payload) *payload = pl;
  if (plen) *plen = n;
  return type;
}

static int64_t param_int(const dagr_graph_t *g, const char *key, const char *name) {
  const void *p;
  size_t n;
  if (param_of(g, key, name, &p, &n) != DAGR__PARAM_INT || n != 8) return INT64_MIN;
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}

static double param_double(const dagr_graph_t *g, const char *key, const char *name) {
  const void *p;
  size_t n;
  if (param_of(g, key, name, &p, &n) != DAGR__PARAM_DOUBLE || n != 8) return -12345.0;
  double v;
  memcpy(&v, p, 8);
  return v;
}

/* Expects load(text) to fail with status and a message containing needle. */
static void expect_fail(const char *text, int status, const char *needle) {
  dagr_graph_t *g = (dagr_graph_t *)&g; /* must be reset to NULL */
  int rc = load(text, &g);
  if (rc != status) fprintf(stderr, "  input: %.200s\n  message: %s\n", text, err);
  CU_EXPECT_INT(rc, status);
  CU_ASSERT_PTR_NULL(g);
  CU_EXPECT_STR_CONTAINS(err, needle);
  CU_ASSERT(strlen(err) < sizeof err - 1);
  dagr_graph_free(rc == DAGR_OK ? g : NULL);
}

static char *xmalloc(size_t n) {
  char *p = malloc(n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  return p;
}

/* --- valid graphs --------------------------------------------------------------------------- */

static void test_issue_example(void) {
  dagr_graph_t *g = NULL;
  int rc = load("{\"graph\": {\"a\": {\"kernel\": \"const\", \"params\": {\"value\": 2}}, \"b\": "
                "{\"kernel\": \"add\", \"args\": [\"a\", \"a\"]}}, \"outputs\": [\"b\"]}",
                &g);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_STR_CONTAINS(err, "");
  CU_EXPECT_INT(err[0], 0);
  CU_EXPECT_INT(dagr_graph_size(g), 2);
  CU_EXPECT_INT(dagr_graph_noutputs(g), 1);
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 0), "b");
  CU_ASSERT_PTR_NULL(dagr_graph_output(g, 1));
  CU_ASSERT_STRING_EQUAL(kernel_of(g, "a"), "const");
  CU_ASSERT_STRING_EQUAL(kernel_of(g, "b"), "add");
  CU_EXPECT_INT(param_int(g, "a", "value"), 2);
  CU_EXPECT_INT(task(g, "a")->ndeps, 0);
  CU_EXPECT_INT(task(g, "b")->ndeps, 2);
  CU_ASSERT_STRING_EQUAL(dep_of(g, "b", 0), "a");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "b", 1), "a");
  CU_EXPECT_INT(task(g, "b")->param_len, 0);
  CU_EXPECT_INT(task(g, "b")->retries, 0);
  CU_EXPECT_INT(task(g, "b")->priority, 0);
  CU_EXPECT_INT(task(g, "b")->worker, -1);
  CU_EXPECT_STR_CONTAINS(dagr_graph_error(g), "");
  dagr_graph_free(g);
}

static void test_diamond_file(void) {
  dagr_graph_t *g = NULL;
  int rc = load_fixture("diamond.json", &g);
  if (rc != DAGR_OK) fprintf(stderr, "  %s\n", err);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(dagr_graph_size(g), 4);
  CU_EXPECT_INT(dagr_graph_noutputs(g), 2);
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 0), "d");
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 1), "b");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "d", 0), "c");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "d", 1), "b");
  CU_ASSERT_STRING_EQUAL(kernel_of(g, "c"), "mul");
  CU_EXPECT_INT(task(g, "c")->priority, 10);
  CU_EXPECT_INT(task(g, "d")->retries, 1);
  CU_EXPECT_INT(param_int(g, "a", "value"), 5);
  dagr_graph_free(g);
}

static void test_tuple_keys(void) {
  dagr_graph_t *g = NULL;
  int rc = load("{\"graph\": {"
                "\"('x', 0)\": {\"kernel\": \"const\", \"params\": {\"value\": 1}},"
                "\"t\": {\"kernel\": \"add\", \"args\": [[\"x\", 0], [\"sum-abc\", 0, 1], [\"x\"], "
                "[\"it's\", -3], [\"a\\\\b\\n\", 9223372036854775807], [\"q\\\"'\"]]}},"
                "\"outputs\": [[\"x\", 0], \"t\", [\"y\", 1, 2]]}",
                &g);
  if (rc != DAGR_OK) fprintf(stderr, "  %s\n", err);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(dagr_graph_size(g), 2);
  CU_ASSERT_STRING_EQUAL(dep_of(g, "t", 0), "('x', 0)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "t", 1), "('sum-abc', 0, 1)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "t", 2), "('x',)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "t", 3), "(\"it's\", -3)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "t", 4), "('a\\\\b\\n', 9223372036854775807)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "t", 5), "('q\"\\'',)");
  CU_EXPECT_INT(dagr_graph_noutputs(g), 3);
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 0), "('x', 0)");
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 1), "t");
  /* An undefined output loads (dagr_get reports it as DAGR_ENOKEY). */
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 2), "('y', 1, 2)");
  /* The converted key and the string key are the same task. */
  uint32_t id1, id2;
  CU_EXPECT_INT(dagr__graph_find(g, "('x', 0)", &id1), DAGR_OK);
  CU_EXPECT_INT(g->deps[task(g, "t")->dep_off], id1);
  CU_EXPECT_INT(dagr__graph_find(g, "t", &id2), DAGR_OK);
  CU_EXPECT_INT(g->outputs[1], id2);
  dagr_graph_free(g);

  rc = load_fixture("tuple_keys.json", &g);
  if (rc != DAGR_OK) fprintf(stderr, "  %s\n", err);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(dagr_graph_size(g), 4);
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 0), "('sum-abc', 0, 1)");
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 2), "('total',)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "('sum-abc', 0, 1)", 0), "('x', 0)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "('sum-abc', 0, 1)", 1), "('x', 1)");
  CU_ASSERT_STRING_EQUAL(dep_of(g, "('total',)", 0), "('sum-abc', 0, 1)");
  CU_ASSERT_DOUBLE_EQUAL(param_double(g, "('x', 1)", "value"), 2.5, 0);
  dagr_graph_free(g);
}

static void test_param_types(void) {
  dagr_graph_t *g = NULL;
  int rc = load("{\"graph\": {\"p\": {\"kernel\": \"k\", \"params\": {"
                "\"i\": -7, \"big\": 9223372036854775807, \"r\": 0.25, \"e\": 1e3, \"s\": \"hi\","
                "\"u\": \"h\\u00e9\", \"es\": \"\", \"ia\": [1, -2, 3], \"da\": [1, 2.5, -3],"
                "\"ea\": [], \"t\": true, \"f\": false, \"neg0\": -0.0}}},"
                "\"outputs\": [\"p\"]}",
                &g);
  if (rc != DAGR_OK) fprintf(stderr, "  %s\n", err);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(param_int(g, "p", "i"), -7);
  CU_EXPECT_INT(param_int(g, "p", "big"), INT64_MAX);
  CU_ASSERT_DOUBLE_EQUAL(param_double(g, "p", "r"), 0.25, 0);
  CU_ASSERT_DOUBLE_EQUAL(param_double(g, "p", "e"), 1000.0, 0);
  CU_EXPECT_INT(param_int(g, "p", "t"), 1);
  CU_EXPECT_INT(param_int(g, "p", "f"), 0);
  CU_EXPECT_INT(param_of(g, "p", "neg0", NULL, NULL), DAGR__PARAM_DOUBLE);

  const void *pl;
  size_t n;
  CU_EXPECT_INT(param_of(g, "p", "s", &pl, &n), DAGR__PARAM_STRING);
  CU_EXPECT_INT(n, 3);
  CU_ASSERT_STRING_EQUAL((const char *)pl, "hi");
  CU_EXPECT_INT(param_of(g, "p", "u", &pl, &n), DAGR__PARAM_STRING);
  CU_ASSERT_STRING_EQUAL((const char *)pl, "h\xc3\xa9");
  CU_EXPECT_INT(param_of(g, "p", "es", &pl, &n), DAGR__PARAM_STRING);
  CU_EXPECT_INT(n, 1);

  CU_EXPECT_INT(param_of(g, "p", "ia", &pl, &n), DAGR__PARAM_INT_ARRAY);
  CU_EXPECT_INT(n, 24);
  int64_t iv[3];
  memcpy(iv, pl, sizeof iv);
  CU_EXPECT_INT(iv[0], 1);
  CU_EXPECT_INT(iv[1], -2);
  CU_EXPECT_INT(iv[2], 3);

  CU_EXPECT_INT(param_of(g, "p", "da", &pl, &n), DAGR__PARAM_DOUBLE_ARRAY);
  CU_EXPECT_INT(n, 24);
  double dv[3];
  memcpy(dv, pl, sizeof dv);
  CU_ASSERT_DOUBLE_EQUAL(dv[0], 1.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(dv[1], 2.5, 0);
  CU_ASSERT_DOUBLE_EQUAL(dv[2], -3.0, 0);

  CU_EXPECT_INT(param_of(g, "p", "ea", &pl, &n), DAGR__PARAM_INT_ARRAY);
  CU_EXPECT_INT(n, 0);
  CU_EXPECT_INT(param_of(g, "p", "missing", NULL, NULL), 0);
  CU_EXPECT_INT(dagr__params_validate(g->params + task(g, "p")->param_off, task(g, "p")->param_len),
                DAGR_OK);
  dagr_graph_free(g);

  /* A task with an empty params object, and one without params, carry no blob. */
  rc = load("{\"graph\": {\"a\": {\"kernel\": \"noop\", \"params\": {}}, \"b\": {\"kernel\": "
            "\"noop\", \"args\": []}}, \"outputs\": [\"a\"]}",
            &g);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(task(g, "a")->param_len, 0);
  CU_EXPECT_INT(task(g, "b")->ndeps, 0);
  dagr_graph_free(g);
}

static void test_task_options(void) {
  dagr_graph_t *g = NULL;
  int rc = load("{\"graph\": {"
                "\"a\": {\"kernel\": \"k\", \"retries\": 3, \"priority\": -5, \"worker\": 2},"
                "\"b\": {\"kernel\": \"k\", \"retries\": 0, \"priority\": 2147483647, "
                "\"worker\": -1},"
                "\"c\": {\"kernel\": \"k\", \"retries\": 2147483647, \"priority\": -2147483648},"
                "\"d\": {\"kernel\": \"k\"}},"
                "\"outputs\": [\"a\", \"b\", \"c\", \"d\"]}",
                &g);
  if (rc != DAGR_OK) fprintf(stderr, "  %s\n", err);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(task(g, "a")->retries, 3);
  CU_EXPECT_INT(task(g, "a")->priority, -5);
  CU_EXPECT_INT(task(g, "a")->worker, 2);
  CU_EXPECT_INT(task(g, "b")->retries, 0);
  CU_EXPECT_INT(task(g, "b")->priority, INT_MAX);
  CU_EXPECT_INT(task(g, "b")->worker, -1);
  CU_EXPECT_INT(task(g, "c")->retries, INT_MAX);
  CU_EXPECT_INT(task(g, "c")->priority, INT_MIN);
  CU_EXPECT_INT(task(g, "c")->worker, -1);
  CU_EXPECT_INT(task(g, "d")->retries, 0);
  CU_EXPECT_INT(task(g, "d")->priority, 0);
  CU_EXPECT_INT(task(g, "d")->worker, -1);
  dagr_graph_free(g);
}

static void test_file_order(void) {
  dagr_graph_t *g = NULL;
  int rc =
      load("{\"outputs\": [\"m\"], \"graph\": {\"z\": {\"kernel\": \"k\"}, \"a\": {\"kernel\": "
           "\"k\"}, \"m\": {\"kernel\": \"k\", \"args\": [\"q\", \"a\"]}, \"q\": {\"kernel\": "
           "\"k\"}}}",
           &g);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  uint32_t id;
  CU_EXPECT_INT(dagr__graph_find(g, "z", &id), DAGR_OK);
  CU_EXPECT_INT(id, 0);
  CU_EXPECT_INT(dagr__graph_find(g, "a", &id), DAGR_OK);
  CU_EXPECT_INT(id, 1);
  CU_EXPECT_INT(dagr__graph_find(g, "m", &id), DAGR_OK);
  CU_EXPECT_INT(id, 2);
  /* q is first mentioned as m's argument, before its own definition. */
  CU_EXPECT_INT(dagr__graph_find(g, "q", &id), DAGR_OK);
  CU_EXPECT_INT(id, 3);
  CU_EXPECT_INT(dagr_graph_size(g), 4);
  dagr_graph_free(g);
}

/* Missing dependencies, cycles, unknown kernels and undefined outputs load: validation before
 * execution reports them. */
static void test_deferred_errors_load(void) {
  const char *files[] = {"bad_missing_dep.json", "bad_cycle.json", "bad_unknown_kernel.json",
                         "bad_output_missing.json", "bad_fail.json"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    dagr_graph_t *g = NULL;
    int rc = load_fixture(files[i], &g);
    if (rc != DAGR_OK) fprintf(stderr, "  %s: %s\n", files[i], err);
    CU_EXPECT_INT(rc, DAGR_OK);
    CU_ASSERT(g != NULL);
    dagr_graph_free(g);
  }
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(load_fixture("bad_fail.json", &g), DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(task(g, "boom")->retries, 2);
  dagr_graph_free(g);
}

/* The built-in kernel names, for planning fixtures as dagr_get would. */
static int builtin_lookup(const char *name, void *arg) {
  static const char *const names[] = {"const", "add",  "sub",  "mul",     "noop",
                                      "sleep", "fail", "fill", "checksum"};
  (void)arg;
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (!strcmp(names[i], name)) return i;
  return -1;
}

/* Every fixture that loads is planned for its outputs: the validation errors the loader leaves
 * to dagr_get come out there, with the .expect text in their message. */
static void test_fixtures_plan(void) {
  static const struct {
    const char *file;
    int status;
  } cases[] = {
      {"diamond.json", DAGR_OK},
      {"tuple_keys.json", DAGR_OK},
      {"fill_checksum.json", DAGR_OK},
      {"bad_fail.json", DAGR_OK},
      {"bad_missing_dep.json", DAGR_EMISSING},
      {"bad_cycle.json", DAGR_ECYCLE},
      {"bad_unknown_kernel.json", DAGR_EUNKNOWN_KERNEL},
      {"bad_output_missing.json", DAGR_ENOKEY},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dagr_graph_t *g = NULL;
    CU_EXPECT_INT(load_fixture(cases[i].file, &g), DAGR_OK);
    CU_ASSERT_FATAL(g != NULL);
    size_t n = dagr_graph_noutputs(g);
    const char *keys[8];
    CU_ASSERT_FATAL(n > 0 && n <= 8);
    for (size_t k = 0; k < n; k++) keys[k] = dagr_graph_output(g, k);
    dagr__plan plan;
    char msg[DAGR__ERRLEN] = "";
    int rc = dagr__plan_build(g, keys, n, builtin_lookup, NULL, &plan, msg, sizeof msg);
    if (rc != cases[i].status) fprintf(stderr, "  %s: %s\n", cases[i].file, msg);
    CU_EXPECT_INT(rc, cases[i].status);
    if (rc == DAGR_OK) {
      CU_EXPECT_INT(plan.n, dagr_graph_size(g));
      dagr__plan_free(&plan);
    } else {
      char expect[4096];
      CU_EXPECT_INT(read_expect(cases[i].file, expect, sizeof expect), 0);
      CU_EXPECT_STR_CONTAINS(msg, expect);
    }
    dagr_graph_free(g);
  }
}

static void test_valid_fixtures(void) {
  const char *files[] = {"diamond.json", "tuple_keys.json", "fill_checksum.json"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    dagr_graph_t *g = NULL;
    int rc = load_fixture(files[i], &g);
    if (rc != DAGR_OK) fprintf(stderr, "  %s: %s\n", files[i], err);
    CU_EXPECT_INT(rc, DAGR_OK);
    CU_ASSERT(g != NULL);
    char expect[4096];
    CU_EXPECT_INT(read_expect(files[i], expect, sizeof expect), 0);
    CU_ASSERT(expect[0] == '{');
    dagr_graph_free(g);
  }
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(load_fixture("fill_checksum.json", &g), DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(param_int(g, "buf", "bytes"), 1000);
  CU_EXPECT_INT(param_int(g, "buf", "seed"), 3);
  CU_ASSERT_STRING_EQUAL(dep_of(g, "sum", 1), "k");
  dagr_graph_free(g);
}

/* --- invalid graphs ------------------------------------------------------------------------- */

static void test_invalid_fixtures(void) {
  static const struct {
    const char *file;
    int status;
  } cases[] = {
      {"bad_syntax.json", DAGR_EPARSE},        {"bad_dupkey.json", DAGR_EDUPKEY},
      {"bad_no_outputs.json", DAGR_EPARSE},    {"bad_args_type.json", DAGR_EPARSE},
      {"bad_params_type.json", DAGR_EPARSE},   {"bad_retries.json", DAGR_EPARSE},
      {"bad_unknown_field.json", DAGR_EPARSE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dagr_graph_t *g = (dagr_graph_t *)&g;
    char expect[4096], path[4096];
    int rc = load_fixture(cases[i].file, &g);
    if (rc != cases[i].status) fprintf(stderr, "  %s: %s\n", cases[i].file, err);
    CU_EXPECT_INT(rc, cases[i].status);
    CU_ASSERT_PTR_NULL(g);
    CU_EXPECT_INT(read_expect(cases[i].file, expect, sizeof expect), 0);
    CU_ASSERT(expect[0] != '\0');
    CU_EXPECT_STR_CONTAINS(err, expect);
    fixture_path(cases[i].file, path, sizeof path);
    CU_EXPECT_STR_CONTAINS(err, path); /* file errors name the file */
  }
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(load_fixture("bad_syntax.json", &g), DAGR_EPARSE);
  CU_EXPECT_STR_CONTAINS(err, "column");
  CU_EXPECT_INT(load_fixture("bad_dupkey.json", &g), DAGR_EDUPKEY);
  CU_EXPECT_STR_CONTAINS(err, "duplicate key 'dup-task' at line 5");
}

static void test_structure_errors(void) {
  expect_fail("[1, 2]", DAGR_EPARSE, "top level must be an object");
  expect_fail("\"graph\"", DAGR_EPARSE, "invalid JSON at line 1"); /* jansson: [ or { */
  expect_fail("{\"outputs\": [\"a\"]}", DAGR_EPARSE, "missing \"graph\"");
  expect_fail("{\"graph\": {}}", DAGR_EPARSE, "missing \"outputs\"");
  expect_fail("{\"graph\": [], \"outputs\": [\"a\"]}", DAGR_EPARSE, "\"graph\" must be an object");
  expect_fail("{\"graph\": {}, \"outputs\": \"a\"}", DAGR_EPARSE, "\"outputs\" must be an array");
  expect_fail("{\"graph\": {}, \"outputs\": []}", DAGR_EPARSE, "\"outputs\" must not be empty");
  expect_fail("{\"graph\": {}, \"outputs\": [1]}", DAGR_EPARSE, "\"outputs\" entry 0");
  expect_fail("{\"graph\": {}, \"outputs\": [\"a\", null]}", DAGR_EPARSE, "\"outputs\" entry 1");
  expect_fail("{\"graph\": {}, \"outputs\": [\"\"]}", DAGR_EPARSE, "empty key");
  expect_fail("{\"graph\": {}, \"outputs\": [[]]}", DAGR_EPARSE, "tuple key must not be empty");
  expect_fail("{\"graph\": {}, \"outputs\": [[\"x\", 1.5]]}", DAGR_EPARSE, "tuple key element 1");
  expect_fail("{\"graph\": {}, \"outputs\": [[[\"x\"]]]}", DAGR_EPARSE, "tuple key element 0");
  expect_fail("{\"graph\": {\"a\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\", [\"a\"], \"a\"]}",
              DAGR_EPARSE, "key 'a' is listed twice");
  expect_fail("{\"graph\": {}, \"outputs\": [\"a\"], \"extra\": 1}", DAGR_EPARSE,
              "unknown top-level field 'extra'");
  expect_fail("{\"graph\": {\"a\": 5}, \"outputs\": [\"a\"]}", DAGR_EPARSE,
              "task 'a' must be an object");
  expect_fail("{\"graph\": {\"\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}", DAGR_EPARSE,
              "empty task key");
}

static void test_task_errors(void) {
  const char *pre = "{\"outputs\": [\"a\"], \"graph\": {\"a\": {";
  static const struct {
    const char *body;
    const char *needle;
  } cases[] = {
      {"}", "task 'a': missing \"kernel\""},
      {"\"args\": []}", "missing \"kernel\""},
      {"\"kernel\": 3}", "\"kernel\" must be a string"},
      {"\"kernel\": null}", "\"kernel\" must be a string"},
      {"\"kernel\": \"\"}", "\"kernel\" is empty"},
      {"\"kernel\": \"k\", \"args\": \"b\"}", "\"args\" must be an array"},
      {"\"kernel\": \"k\", \"args\": {\"b\": 1}}", "\"args\" must be an array"},
      {"\"kernel\": \"k\", \"args\": [\"b\", 1]}", "task 'a': \"args\" entry 1"},
      {"\"kernel\": \"k\", \"args\": [true]}", "\"args\" entry 0: must be a key string"},
      {"\"kernel\": \"k\", \"args\": [{}]}", "\"args\" entry 0"},
      {"\"kernel\": \"k\", \"args\": [\"\"]}", "empty key"},
      {"\"kernel\": \"k\", \"args\": [[\"x\", null]]}", "tuple key element 1"},
      {"\"kernel\": \"k\", \"params\": [1]}", "\"params\" must be an object"},
      {"\"kernel\": \"k\", \"params\": \"v\"}", "\"params\" must be an object"},
      {"\"kernel\": \"k\", \"params\": {\"v\": null}}", "parameter 'v' is null"},
      {"\"kernel\": \"k\", \"params\": {\"v\": {}}}", "task 'a': parameter 'v' is an object"},
      {"\"kernel\": \"k\", \"params\": {\"v\": [[1]]}}", "parameter 'v': array element 0"},
      {"\"kernel\": \"k\", \"params\": {\"v\": [1, \"x\"]}}", "parameter 'v': array element 1"},
      {"\"kernel\": \"k\", \"params\": {\"v\": [\"x\", \"y\"]}}", "parameter 'v'"},
      {"\"kernel\": \"k\", \"params\": {\"v\": [true]}}", "array element 0 is a boolean"},
      {"\"kernel\": \"k\", \"params\": {\"v\": [1, null]}}", "array element 1 is null"},
      {"\"kernel\": \"k\", \"params\": {\"\": 1}}", "empty parameter name"},
      {"\"kernel\": \"k\", \"retries\": -1}", "\"retries\" must not be negative"},
      {"\"kernel\": \"k\", \"retries\": 1.5}", "\"retries\" must be an integer"},
      {"\"kernel\": \"k\", \"retries\": 2.0}", "\"retries\" must be an integer"},
      {"\"kernel\": \"k\", \"retries\": \"2\"}", "\"retries\" must be an integer"},
      {"\"kernel\": \"k\", \"retries\": null}", "\"retries\" must be an integer"},
      {"\"kernel\": \"k\", \"retries\": 2147483648}", "\"retries\" is out of range"},
      {"\"kernel\": \"k\", \"priority\": 2147483648}", "\"priority\" is out of range"},
      {"\"kernel\": \"k\", \"priority\": -2147483649}", "\"priority\" is out of range"},
      {"\"kernel\": \"k\", \"priority\": true}", "\"priority\" must be an integer"},
      {"\"kernel\": \"k\", \"worker\": 1.0}", "\"worker\" must be an integer"},
      {"\"kernel\": \"k\", \"worker\": -2}", "\"worker\" is out of range"},
      {"\"kernel\": \"k\", \"worker\": 4294967296}", "\"worker\" is out of range"},
      {"\"kernel\": \"k\", \"retry\": 2}", "task 'a': unknown field 'retry'"},
      {"\"kernel\": \"k\", \"deps\": []}", "unknown field 'deps'"},
      {"\"kernal\": \"k\"}", "unknown field 'kernal'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[512];
    snprintf(text, sizeof text, "%s%s}}", pre, cases[i].body);
    expect_fail(text, DAGR_EPARSE, cases[i].needle);
  }
  char name[300];
  memset(name, 'n', 256);
  name[256] = '\0';
  char text[1024];
  snprintf(text, sizeof text, "%s\"kernel\": \"k\", \"params\": {\"%s\": 1}}}}", pre, name);
  expect_fail(text, DAGR_EPARSE, "too long");
  name[255] = '\0'; /* 255 bytes is allowed */
  snprintf(text, sizeof text, "%s\"kernel\": \"k\", \"params\": {\"%s\": 1}}}}", pre, name);
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(load(text, &g), DAGR_OK);
  dagr_graph_free(g);
}

static void test_duplicates(void) {
  expect_fail("{\"graph\": {\"a\": {\"kernel\": \"k\"}, \"a\": {\"kernel\": \"k\"}}, "
              "\"outputs\": [\"a\"]}",
              DAGR_EDUPKEY, "duplicate key 'a' at line 1");
  /* Escapes are decoded before comparing and when naming the key. */
  expect_fail("{\"graph\": {\"q\\\"x\": {\"kernel\": \"k\"}, \"q\\u0022x\": {\"kernel\": \"k\"}}, "
              "\"outputs\": [\"a\"]}",
              DAGR_EDUPKEY, "duplicate key 'q\"x'");
  expect_fail("{\"graph\": {\"a-rather-long-task-key-name-0001\": {\"kernel\": \"k\"},\n"
              "\"a-rather-long-task-key-name-0001\"  : {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}",
              DAGR_EDUPKEY, "duplicate key 'a-rather-long-task-key-name-0001' at line 2");
  expect_fail("{\"graph\": {\"a\": {\"kernel\": \"k\", \"params\": {\"v\": 1, \"v\": 2}}}, "
              "\"outputs\": [\"a\"]}",
              DAGR_EDUPKEY, "duplicate key 'v'");
  expect_fail("{\"graph\": {\"a\": {\"kernel\": \"k\", \"kernel\": \"k\"}}, \"outputs\": [\"a\"]}",
              DAGR_EDUPKEY, "duplicate key 'kernel'");
  expect_fail("{\"graph\": {}, \"graph\": {}, \"outputs\": [\"a\"]}", DAGR_EDUPKEY,
              "duplicate key 'graph'");
}

static void test_syntax_errors(void) {
  expect_fail("{\"graph\": {\"a\": ", DAGR_EPARSE, "invalid JSON at line 1, column");
  expect_fail("{\"graph\": {},\n\"outputs\": [\"a\"],}", DAGR_EPARSE, "line 2");
  expect_fail("{\"graph\": {}, \"outputs\": [\"a\"]} trailing", DAGR_EPARSE, "invalid JSON");
  expect_fail("{'graph': {}}", DAGR_EPARSE, "invalid JSON");
  expect_fail("   \n\t ", DAGR_EPARSE, "invalid JSON");
  dagr_graph_t *g = (dagr_graph_t *)&g;
  CU_EXPECT_INT(dagr_graph_load_json("", 0, &g, err, sizeof err), DAGR_EPARSE);
  CU_ASSERT_PTR_NULL(g);
  CU_EXPECT_STR_CONTAINS(err, "empty");
  CU_EXPECT_INT(dagr_graph_load_json(NULL, 0, &g, err, sizeof err), DAGR_EPARSE);
}

/* --- arguments and files -------------------------------------------------------------------- */

static void test_arguments(void) {
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(dagr_graph_load_json("{}", 2, NULL, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_load_json(NULL, 5, &g, err, sizeof err), DAGR_EINVAL);
  CU_ASSERT_PTR_NULL(g);
  CU_EXPECT_INT(dagr_graph_load_file(NULL, &g, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_graph_load_file("x.json", NULL, err, sizeof err), DAGR_EINVAL);
  /* No message buffer, or a tiny one, is fine. */
  CU_EXPECT_INT(dagr_graph_load_json("[", 1, &g, NULL, 0), DAGR_EPARSE);
  CU_EXPECT_INT(dagr_graph_load_json("[", 1, &g, err, 0), DAGR_EPARSE);
  char tiny[8];
  CU_EXPECT_INT(dagr_graph_load_json("[", 1, &g, tiny, sizeof tiny), DAGR_EPARSE);
  CU_EXPECT_INT(strlen(tiny), 7);
  /* The text need not be NUL-terminated: only len bytes are read. */
  const char *text = "{\"graph\": {\"a\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}GARBAGE";
  CU_EXPECT_INT(dagr_graph_load_json(text, strlen(text) - 7, &g, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr_graph_size(g), 1);
  dagr_graph_free(g);
  /* The size limit applies before anything is read. */
  g = NULL;
  CU_EXPECT_INT(dagr_graph_load_json(text, ((size_t)1 << 30) + 1, &g, err, sizeof err),
                DAGR_EPARSE);
  CU_EXPECT_STR_CONTAINS(err, "too large");
  CU_ASSERT_PTR_NULL(g);
}

static void test_files(void) {
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(dagr_graph_load_file("/nonexistent/dir/graph.json", &g, err, sizeof err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(err, "/nonexistent/dir/graph.json");
  CU_EXPECT_STR_CONTAINS(err, strerror(ENOENT));
  CU_ASSERT_PTR_NULL(g);

  CU_EXPECT_INT(dagr_graph_load_file("/tmp", &g, err, sizeof err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(err, "/tmp");

  char path[] = "/tmp/dagr_test_json_XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  /* Empty file. */
  CU_EXPECT_INT(dagr_graph_load_file(path, &g, err, sizeof err), DAGR_EPARSE);
  CU_EXPECT_STR_CONTAINS(err, path);
  CU_EXPECT_STR_CONTAINS(err, "empty");
  /* A valid one. */
  const char *doc = "{\"graph\": {\"a\": {\"kernel\": \"noop\"}}, \"outputs\": [\"a\"]}\n";
  CU_EXPECT_INT(write(fd, doc, strlen(doc)), (long long)strlen(doc));
  CU_EXPECT_INT(dagr_graph_load_file(path, &g, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr_graph_size(g), 1);
  dagr_graph_free(g);
  g = NULL;
  /* Unreadable (skipped as root, who reads anything). */
  if (geteuid() != 0) {
    CU_EXPECT_INT(chmod(path, 0), 0);
    CU_EXPECT_INT(dagr_graph_load_file(path, &g, err, sizeof err), DAGR_EIO);
    CU_EXPECT_STR_CONTAINS(err, strerror(EACCES));
    CU_EXPECT_INT(chmod(path, 0600), 0);
  }
  /* Over 1 GiB (sparse): rejected from its size, without reading. */
  CU_EXPECT_INT(ftruncate(fd, ((off_t)1 << 30) + 1), 0);
  double t0 = (double)clock() / CLOCKS_PER_SEC;
  CU_EXPECT_INT(dagr_graph_load_file(path, &g, err, sizeof err), DAGR_EPARSE);
  CU_ASSERT((double)clock() / CLOCKS_PER_SEC - t0 < 1.0);
  CU_EXPECT_STR_CONTAINS(err, "too large");
  CU_ASSERT_PTR_NULL(g);
  close(fd);
  unlink(path);

  /* Special files without a size are read in chunks: /dev/null is empty. */
  CU_EXPECT_INT(dagr_graph_load_file("/dev/null", &g, err, sizeof err), DAGR_EPARSE);
}

/* --- hostile input -------------------------------------------------------------------------- */

static void test_deep_nesting(void) {
  size_t depth = 100000;
  /* A document that is nothing but nested arrays. */
  char *s = xmalloc(2 * depth + 1);
  memset(s, '[', depth);
  memset(s + depth, ']', depth);
  s[2 * depth] = '\0';
  expect_fail(s, DAGR_EPARSE, "invalid JSON");
  /* Unterminated. */
  s[depth] = '\0';
  expect_fail(s, DAGR_EPARSE, "invalid JSON");
  free(s);
  /* Nested inside a parameter, args and outputs. */
  const char *where[] = {
      "{\"graph\": {\"a\": {\"kernel\": \"k\", \"params\": {\"v\": ",
      "{\"graph\": {\"a\": {\"kernel\": \"k\", \"args\": ", "{\"graph\": {}, \"outputs\": "};
  for (size_t w = 0; w < 3; w++) {
    size_t pl = strlen(where[w]);
    s = xmalloc(pl + 2 * depth + 64);
    memcpy(s, where[w], pl);
    memset(s + pl, '[', depth);
    memset(s + pl + depth, ']', depth);
    strcpy(s + pl + 2 * depth, w < 2 ? "}}, \"outputs\": [\"a\"]}" : "}");
    if (w == 0) strcpy(s + pl + 2 * depth, "}}}, \"outputs\": [\"a\"]}");
    expect_fail(s, DAGR_EPARSE, "maximum parsing depth");
    free(s);
  }
  /* Objects too. */
  s = xmalloc(6 * depth + 8);
  size_t o = 0;
  for (size_t i = 0; i < depth; i++) {
    memcpy(s + o, "{\"a\":", 5);
    o += 5;
  }
  s[o++] = '1';
  memset(s + o, '}', depth);
  s[o + depth] = '\0';
  expect_fail(s, DAGR_EPARSE, "invalid JSON");
  free(s);
  /* Nesting within the limit but in the wrong place is a format error, not a crash. */
  expect_fail("{\"graph\": {\"a\": {\"kernel\": \"k\", \"params\": {\"v\": [[[[[[[[1]]]]]]]]}}}, "
              "\"outputs\": [\"a\"]}",
              DAGR_EPARSE, "parameter 'v'");
}

static void test_huge_strings(void) {
  size_t big = 10u << 20; /* 10 MiB */
  char *s = xmalloc(big + 256);
  /* A 10 MiB task key. */
  int o = sprintf(s, "{\"graph\": {\"");
  memset(s + o, 'k', big);
  strcpy(s + o + big, "\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}");
  expect_fail(s, DAGR_EPARSE, "key too long");
  CU_ASSERT(strlen(err) < 400); /* the message shows a prefix of the key only */
  /* As an argument. */
  o = sprintf(s, "{\"graph\": {\"a\": {\"kernel\": \"k\", \"args\": [\"");
  memset(s + o, 'k', big);
  strcpy(s + o + big, "\"]}}, \"outputs\": [\"a\"]}");
  expect_fail(s, DAGR_EPARSE, "key too long");
  /* As a tuple element. */
  o = sprintf(s, "{\"graph\": {\"a\": {\"kernel\": \"k\", \"args\": [[\"");
  memset(s + o, 'k', big);
  strcpy(s + o + big, "\", 1]]}}, \"outputs\": [\"a\"]}");
  expect_fail(s, DAGR_EPARSE, "key too long");
  /* As an output. */
  o = sprintf(s, "{\"graph\": {}, \"outputs\": [\"");
  memset(s + o, 'k', big);
  strcpy(s + o + big, "\"]}");
  expect_fail(s, DAGR_EPARSE, "key too long");
  /* As a kernel name and a string parameter. */
  o = sprintf(s, "{\"graph\": {\"a\": {\"kernel\": \"");
  memset(s + o, 'k', big);
  strcpy(s + o + big, "\"}}, \"outputs\": [\"a\"]}");
  expect_fail(s, DAGR_EPARSE, "too long");
  o = sprintf(s, "{\"graph\": {\"a\": {\"kernel\": \"k\", \"params\": {\"s\": \"");
  memset(s + o, 'v', big);
  strcpy(s + o + big, "\"}}}, \"outputs\": [\"a\"]}");
  expect_fail(s, DAGR_EPARSE, "string too long");
  /* As a duplicated key: named by its prefix. */
  o = sprintf(s, "{\"graph\": {\"");
  memset(s + o, 'd', 2 << 20);
  o += 2 << 20;
  o += sprintf(s + o, "\": 1, \"");
  memset(s + o, 'd', 2 << 20);
  o += 2 << 20;
  strcpy(s + o, "\": 2}, \"outputs\": [\"a\"]}");
  expect_fail(s, DAGR_EDUPKEY, "duplicate key 'dddddddd");
  CU_EXPECT_STR_CONTAINS(err, "...");
  free(s);

  /* Exactly 1 MiB is allowed; a tuple that becomes longer than 1 MiB is not. */
  size_t mib = 1u << 20;
  s = xmalloc(mib + 256);
  o = sprintf(s, "{\"graph\": {\"a\": {\"kernel\": \"k\", \"args\": [\"");
  memset(s + o, 'k', mib);
  strcpy(s + o + mib, "\"]}}, \"outputs\": [\"a\"]}");
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(load(s, &g), DAGR_OK);
  dagr_graph_free(g);
  o = sprintf(s, "{\"graph\": {\"a\": {\"kernel\": \"k\", \"args\": [[\"");
  memset(s + o, 'k', mib - 4);
  strcpy(s + o + mib - 4, "\", 12345]]}}, \"outputs\": [\"a\"]}");
  expect_fail(s, DAGR_EPARSE, "key too long");
  free(s);
}

static void test_huge_numbers(void) {
  const char *pre = "{\"outputs\": [\"a\"], \"graph\": {\"a\": {\"kernel\": \"k\", ";
  const char *bodies[] = {"\"retries\": 1e999}}}",
                          "\"retries\": 99999999999999999999}}}",
                          "\"retries\": -99999999999999999999}}}",
                          "\"priority\": 1e999}}}",
                          "\"params\": {\"v\": 1e999}}}}",
                          "\"params\": {\"v\": -1e999}}}}",
                          "\"params\": {\"v\": [1, 99999999999999999999]}}}}"};
  for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
    char text[512];
    snprintf(text, sizeof text, "%s%s", pre, bodies[i]);
    expect_fail(text, DAGR_EPARSE, "invalid JSON");
  }
  /* Tiny reals underflow to 0, large ones in range are fine. */
  dagr_graph_t *g = NULL;
  int rc = load("{\"outputs\": [\"a\"], \"graph\": {\"a\": {\"kernel\": \"k\", \"params\": {\"t\": "
                "1e-999, \"h\": 1e308, \"m\": -9223372036854775808}}}}",
                &g);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_ASSERT_DOUBLE_EQUAL(param_double(g, "a", "t"), 0.0, 0);
  CU_ASSERT_DOUBLE_EQUAL(param_double(g, "a", "h"), 1e308, 1e292);
  CU_EXPECT_INT(param_int(g, "a", "m"), INT64_MIN);
  dagr_graph_free(g);
}

static void test_bad_bytes(void) {
  const char doc[] = "{\"graph\": {\"a\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}";
  dagr_graph_t *g = (dagr_graph_t *)&g;
  /* A NUL byte anywhere: inside a string, between tokens, at the end. */
  size_t n = sizeof doc - 1;
  size_t at[] = {3, 9, 13, 30, n};
  for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
    char buf[sizeof doc + 1];
    memcpy(buf, doc, at[i]);
    buf[at[i]] = '\0';
    memcpy(buf + at[i] + 1, doc + at[i], n - at[i]);
    int rc = dagr_graph_load_json(buf, n + 1, &g, err, sizeof err);
    CU_EXPECT_INT(rc, DAGR_EPARSE);
    CU_ASSERT_PTR_NULL(g);
    CU_EXPECT_STR_CONTAINS(err, "invalid JSON");
  }
  /* Escaped NULs are refused in keys, strings and parameters. */
  expect_fail("{\"graph\": {\"a\\u0000b\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}",
              DAGR_EPARSE, "invalid JSON");
  expect_fail("{\"graph\": {\"a\": {\"kernel\": \"k\", \"params\": {\"s\": \"x\\u0000\"}}}, "
              "\"outputs\": [\"a\"]}",
              DAGR_EPARSE, "invalid JSON");
  /* Invalid UTF-8: a stray continuation byte, an overlong form, a truncated sequence, a lone
   * surrogate escape, 0xff. */
  const char *bad[] = {"{\"graph\": {\"a\x80\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}",
                       "{\"graph\": {\"a\xc0\xaf\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}",
                       "{\"graph\": {\"a\xe2\x82\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}",
                       "{\"graph\": {\"a\\ud800\": {\"kernel\": \"k\"}}, \"outputs\": [\"a\"]}",
                       "{\"graph\": {}, \"outputs\": [\"\xff\xfe\"]}",
                       "\xef\xbb\xbf{\"graph\": {}, \"outputs\": [\"a\"]}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    expect_fail(bad[i], DAGR_EPARSE, "invalid JSON");
  /* Control characters in keys are shown escaped in messages. */
  expect_fail("{\"graph\": {\"a\\nb\": 1}, \"outputs\": [\"a\"]}", DAGR_EPARSE,
              "task 'a\\x0ab' must be an object");
  /* Random bytes never crash. */
  unsigned seed = 12345;
  char buf[256];
  for (int round = 0; round < 2000; round++) {
    size_t len = (size_t)(round % 255) + 1;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      buf[i] = (char)(seed >> 16);
    }
    g = NULL;
    int rc = dagr_graph_load_json(buf, len, &g, err, sizeof err);
    CU_ASSERT(rc != DAGR_OK);
    CU_ASSERT_PTR_NULL(g);
  }
}

/* Mutations of a valid document (each byte deleted, or replaced): every result either loads or
 * fails cleanly. */
static void test_mutations(void) {
  const char doc[] = "{\"graph\": {\"a\": {\"kernel\": \"const\", \"params\": {\"value\": [1, "
                     "2.5]}, \"retries\": 2}, \"('b', 0)\": {\"kernel\": \"add\", \"args\": "
                     "[\"a\", [\"x\", 1]], \"priority\": -1, \"worker\": 0}}, \"outputs\": "
                     "[[\"b\", 0], \"a\"]}";
  size_t n = sizeof doc - 1;
  const char repl[] = "{}[]\",:0-1.e\\ atn";
  char buf[sizeof doc];
  int ok = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t r = 0; r <= sizeof repl - 1; r++) {
      size_t len;
      if (r == sizeof repl - 1) { /* deletion */
        memcpy(buf, doc, i);
        memcpy(buf + i, doc + i + 1, n - i - 1);
        len = n - 1;
      } else {
        memcpy(buf, doc, n);
        buf[i] = repl[r];
        len = n;
      }
      dagr_graph_t *g = NULL;
      int rc = dagr_graph_load_json(buf, len, &g, err, sizeof err);
      if (rc == DAGR_OK) {
        ok++;
        CU_ASSERT(g != NULL);
        dagr_graph_free(g);
      } else {
        failed++;
        CU_ASSERT_PTR_NULL(g);
        CU_ASSERT(rc == DAGR_EPARSE || rc == DAGR_EDUPKEY);
        CU_ASSERT(err[0] != '\0');
      }
    }
  }
  CU_ASSERT(ok > 0);
  CU_ASSERT(failed > 0);
}

/* Many parameters, arguments, tasks or outputs load in reasonable time. */
static void test_large_counts(void) {
  size_t n = 20000;
  char *s = xmalloc(n * 48 + 256);
  dagr_graph_t *g = NULL;
  /* Parameters: up to 256 per task (setting them is linear in the count, so a hostile file with
   * thousands would take quadratic time). */
  size_t counts[] = {256, 257, n};
  for (size_t c = 0; c < 3; c++) {
    size_t o = (size_t)sprintf(s, "{\"graph\": {\"a\": {\"kernel\": \"k\", \"params\": {");
    for (size_t i = 0; i < counts[c]; i++)
      o += (size_t)sprintf(s + o, "%s\"p%zu\": %zu", i ? ", " : "", i, i);
    strcpy(s + o, "}}}, \"outputs\": [\"a\"]}");
    if (c == 0) {
      CU_EXPECT_INT(load(s, &g), DAGR_OK);
      CU_ASSERT_FATAL(g != NULL);
      CU_EXPECT_INT(param_int(g, "a", "p255"), 255);
      dagr_graph_free(g);
      g = NULL;
    } else {
      expect_fail(s, DAGR_EPARSE, "task 'a': too many parameters");
    }
  }

  n = 100000;
  size_t o;
  int rc;
  free(s);
  s = xmalloc(n * 64 + 256);
  o = (size_t)sprintf(s, "{\"graph\": {\"sum\": {\"kernel\": \"add\", \"args\": [");
  for (size_t i = 0; i < n; i++) o += (size_t)sprintf(s + o, "%s[\"x\", %zu]", i ? ", " : "", i);
  o += (size_t)sprintf(s + o, "]}");
  for (size_t i = 0; i < n; i++)
    o += (size_t)sprintf(s + o, ", \"('x', %zu)\": {\"kernel\": \"const\"}", i);
  o += (size_t)sprintf(s + o, "}, \"outputs\": [\"sum\"");
  for (size_t i = 0; i < n; i += 10) o += (size_t)sprintf(s + o, ", [\"x\", %zu]", i);
  strcpy(s + o, "]}");
  rc = load(s, &g);
  if (rc != DAGR_OK) fprintf(stderr, "  %s\n", err);
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT_FATAL(g != NULL);
  CU_EXPECT_INT(dagr_graph_size(g), n + 1);
  CU_EXPECT_INT(task(g, "sum")->ndeps, n);
  CU_ASSERT_STRING_EQUAL(dep_of(g, "sum", 99999), "('x', 99999)");
  CU_EXPECT_INT(dagr_graph_noutputs(g), 1 + n / 10);
  CU_ASSERT_STRING_EQUAL(dagr_graph_output(g, 1 + n / 10 - 1), "('x', 99990)");
  dagr_graph_free(g);
  free(s);
}

int main(void) {
  static const cu_test_def tests[] = {
      {"issue example", test_issue_example},
      {"diamond.json", test_diamond_file},
      {"tuple keys", test_tuple_keys},
      {"param types", test_param_types},
      {"task options", test_task_options},
      {"file order", test_file_order},
      {"deferred errors load", test_deferred_errors_load},
      {"valid fixtures", test_valid_fixtures},
      {"fixtures plan", test_fixtures_plan},
      {"invalid fixtures", test_invalid_fixtures},
      {"structure errors", test_structure_errors},
      {"task errors", test_task_errors},
      {"duplicate keys", test_duplicates},
      {"syntax errors", test_syntax_errors},
      {"arguments", test_arguments},
      {"files", test_files},
      {"hostile: deep nesting", test_deep_nesting},
      {"hostile: huge strings", test_huge_strings},
      {"hostile: huge numbers", test_huge_numbers},
      {"hostile: bad bytes", test_bad_bytes},
      {"hostile: mutations", test_mutations},
      {"hostile: large counts", test_large_counts},
      {NULL, NULL},
  };
  return cu_run_suite("json", tests);
}
