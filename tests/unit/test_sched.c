/* test_sched.c: unit tests for the scheduler's ready set and for single-process scheduling end to
 * end. */
#include <stdlib.h>
#include <string.h>

#include "cu_util.h"
#include "dagr.h"
#include "scheduler/readyq.h"

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static int64_t model_next(const unsigned char *m, size_t n, int64_t from) {
  for (size_t i = (size_t)(from + 1); i < n; i++)
    if (m[i]) return (int64_t)i;
  return -1;
}

static void check_against_model(size_t n, int ops) {
  dagr__readyq q;
  CU_ASSERT_FATAL(dagr__rq_init(&q, n) == DAGR_OK);
  unsigned char *m = calloc(n, 1);
  size_t count = 0;
  for (int k = 0; k < ops; k++) {
    size_t i = (size_t)(rng() % n);
    if (m[i]) {
      dagr__rq_clear(&q, i);
      m[i] = 0;
      count--;
    } else {
      dagr__rq_set(&q, i);
      m[i] = 1;
      count++;
    }
    if (k % 97 == 0) {
      CU_EXPECT_INT(dagr__rq_first(&q), model_next(m, n, -1));
      size_t probe = (size_t)(rng() % n);
      CU_EXPECT_INT(dagr__rq_next(&q, probe), model_next(m, n, (int64_t)probe));
      CU_EXPECT_INT(q.count, count);
    }
  }
  /* Walking with next visits exactly the set bits, in order. */
  size_t seen = 0;
  int64_t prev = -1;
  for (int64_t i = dagr__rq_first(&q); i >= 0; i = dagr__rq_next(&q, (size_t)i)) {
    CU_ASSERT(i > prev);
    CU_ASSERT(m[i]);
    prev = i;
    seen++;
  }
  CU_EXPECT_INT(seen, count);
  free(m);
  dagr__rq_free(&q);
}

static void test_readyq_small(void) {
  dagr__readyq q;
  CU_ASSERT_FATAL(dagr__rq_init(&q, 1) == DAGR_OK);
  CU_EXPECT_INT(dagr__rq_first(&q), -1);
  dagr__rq_set(&q, 0);
  CU_EXPECT_INT(dagr__rq_first(&q), 0);
  CU_EXPECT_INT(dagr__rq_next(&q, 0), -1);
  dagr__rq_clear(&q, 0);
  CU_EXPECT_INT(dagr__rq_first(&q), -1);
  dagr__rq_free(&q);
}

static void test_readyq_boundaries(void) {
  /* Sizes around the 64-ary level boundaries. */
  size_t sizes[] = {63, 64, 65, 4095, 4096, 4097, 262145};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    dagr__readyq q;
    size_t n = sizes[s];
    CU_ASSERT_FATAL(dagr__rq_init(&q, n) == DAGR_OK);
    dagr__rq_set(&q, n - 1);
    CU_EXPECT_INT(dagr__rq_first(&q), (int64_t)(n - 1));
    dagr__rq_set(&q, 0);
    CU_EXPECT_INT(dagr__rq_first(&q), 0);
    CU_EXPECT_INT(dagr__rq_next(&q, 0), (int64_t)(n - 1));
    CU_EXPECT_INT(dagr__rq_next(&q, n - 1), -1);
    dagr__rq_free(&q);
  }
}

static void test_readyq_random(void) {
  check_against_model(1000, 20000);
  check_against_model(70000, 200000);
}

/* End to end in one process: the scheduler and the in-process worker pool. */
static dagr_ctx_t *ctx;

static void test_local_diamond_and_reuse(void) {
  dagr_graph_t *g;
  dagr_params_t *p;
  CU_ASSERT_FATAL(dagr_graph_create(&g) == DAGR_OK);
  dagr_params_create(&p);
  dagr_params_set_int(p, "value", 5);
  dagr_graph_add(g, "a", "const", p, NULL, 0, NULL);
  dagr_params_free(p);
  const char *a[2] = {"a", "a"};
  dagr_graph_add(g, "b", "add", NULL, a, 2, NULL);
  dagr_graph_add(g, "c", "mul", NULL, a, 2, NULL);
  const char *bc[2] = {"b", "c"};
  dagr_graph_add(g, "d", "sub", NULL, bc, 2, NULL);
  const char *keys[3] = {"d", "b", "d"};
  dagr_result_t r[3];
  for (int round = 0; round < 3; round++) {
    CU_ASSERT_FATAL(dagr_get(ctx, g, keys, 3, r) == DAGR_OK);
    int64_t v[3];
    for (int i = 0; i < 3; i++) {
      dagr_result_int64(&r[i], &v[i]);
      dagr_result_release(&r[i]);
    }
    CU_EXPECT_INT(v[0], 10 - 25);
    CU_EXPECT_INT(v[1], 10);
    CU_EXPECT_INT(v[2], 10 - 25);
  }
  dagr_graph_free(g);
}

static void test_local_failure_then_success(void) {
  dagr_graph_t *g;
  dagr_params_t *p;
  dagr_graph_create(&g);
  dagr_params_create(&p);
  dagr_params_set_string(p, "message", "boom");
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.retries = 2;
  dagr_graph_add(g, "bad", "fail", p, NULL, 0, &o);
  dagr_params_free(p);
  dagr_graph_add(g, "good", "noop", NULL, NULL, 0, NULL);
  const char *bad[1] = {"bad"}, *good[1] = {"good"};
  dagr_result_t r;
  CU_EXPECT_INT(dagr_get(ctx, g, bad, 1, &r), DAGR_EKERNEL);
  CU_EXPECT_STR_CONTAINS(dagr_last_error(ctx), "'bad'");
  CU_EXPECT_STR_CONTAINS(dagr_last_error(ctx), "'fail'");
  CU_EXPECT_STR_CONTAINS(dagr_last_error(ctx), "3 attempts");
  CU_EXPECT_STR_CONTAINS(dagr_last_error(ctx), "boom");
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  CU_EXPECT_INT(st.retries, 2);
  CU_EXPECT_INT(dagr_get(ctx, g, good, 1, &r), DAGR_OK);
  dagr_result_release(&r);
  dagr_graph_free(g);
}

static void test_local_large_objects_released(void) {
  /* 256 buffers of 1 MiB through a 32 MiB store: only works if each buffer is released once its
   * checksum ran. DAGR_QUEUE=4 (set in main) bounds the tasks in flight, so at most a few
   * buffers exist at once and the ordering puts each checksum before the next fills. */
  dagr_graph_t *g;
  dagr_graph_create(&g);
  char keys[256][32], cks[256][32];
  const char *ck[256];
  for (int i = 0; i < 256; i++) {
    dagr_params_t *p;
    dagr_params_create(&p);
    dagr_params_set_int(p, "bytes", 1 << 20);
    dagr_params_set_int(p, "seed", i);
    snprintf(keys[i], sizeof keys[i], "fill-%d", i);
    snprintf(cks[i], sizeof cks[i], "ck-%d", i);
    dagr_graph_add(g, keys[i], "fill", p, NULL, 0, NULL);
    dagr_params_free(p);
    const char *d = keys[i];
    dagr_graph_add(g, cks[i], "checksum", NULL, &d, 1, NULL);
    ck[i] = cks[i];
  }
  dagr_graph_add(g, "all", "checksum", NULL, ck, 256, NULL);
  const char *want[1] = {"all"};
  dagr_result_t r;
  int rc = dagr_get(ctx, g, want, 1, &r);
  CU_EXPECT_INT(rc, DAGR_OK);
  if (rc)
    fprintf(stderr, "  %s\n", dagr_last_error(ctx));
  else
    dagr_result_release(&r);
  dagr_graph_free(g);
}

static void test_parse_bytes(void) {
  uint64_t v = 0;
  CU_EXPECT_INT(dagr_parse_bytes("123", &v), DAGR_OK);
  CU_EXPECT_INT(v, 123);
  CU_EXPECT_INT(dagr_parse_bytes("64K", &v), DAGR_OK);
  CU_EXPECT_INT(v, 65536);
  CU_EXPECT_INT(dagr_parse_bytes("1MiB", &v), DAGR_OK);
  CU_EXPECT_INT(v, 1 << 20);
  CU_EXPECT_INT(dagr_parse_bytes("2g", &v), DAGR_OK);
  CU_EXPECT_INT(v, 2LL << 30);
  const char *bad[] = {"", "-1", "12Q", "1MX", "K", "99999999999999999999", "16777216T", " 1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CU_EXPECT_INT(dagr_parse_bytes(bad[i], &v), DAGR_EINVAL);
}

/* Each invalid DAGR_* value is refused with a message that names the variable. */
static void test_config_env(void) {
  static const struct {
    const char *var, *value;
  } cases[] = {{"DAGR_INLINE_BYTES", "lots"},
               {"DAGR_STORE_BYTES", "1K"},
               {"DAGR_WORKER_THREADS", "0"},
               {"DAGR_WORKER_THREADS", "2x"},
               {"DAGR_BATCH", "-5"},
               {"DAGR_QUEUE", ""},
               {"DAGR_MPI", "2"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *old = getenv(cases[i].var);
    char *saved = old ? strdup(old) : NULL;
    setenv(cases[i].var, cases[i].value, 1);
    dagr_config_t cfg;
    CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_ECONFIG);
    CU_EXPECT_STR_CONTAINS(dagr_last_error(NULL), cases[i].var);
    dagr_ctx_t *c2 = (dagr_ctx_t *)1;
    CU_EXPECT_INT(dagr_init(NULL, NULL, NULL, &c2), DAGR_ECONFIG);
    CU_ASSERT(c2 == NULL);
    if (saved)
      setenv(cases[i].var, saved, 1);
    else
      unsetenv(cases[i].var);
    free(saved);
  }
  dagr_config_t cfg;
  CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_OK);
  CU_EXPECT_INT(cfg.inline_bytes, DAGR_INLINE_BYTES_DEFAULT);
  CU_EXPECT_INT(cfg.store_bytes, 32 << 20);
  CU_EXPECT_INT(cfg.queue_tasks, 4);
}

static void test_get_argument_errors(void) {
  dagr_graph_t *g;
  dagr_graph_create(&g);
  dagr_graph_add(g, "a", "noop", NULL, NULL, 0, NULL);
  const char *keys[1] = {"a"};
  dagr_result_t r;
  CU_EXPECT_INT(dagr_get(NULL, g, keys, 1, &r), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_get(ctx, NULL, keys, 1, &r), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_get(ctx, g, keys, 0, &r), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_get(ctx, g, keys, 1, NULL), DAGR_EINVAL);
  const char *missing[1] = {"zzz"};
  CU_EXPECT_INT(dagr_get(ctx, g, missing, 1, &r), DAGR_ENOKEY);
  CU_EXPECT_STR_CONTAINS(dagr_last_error(ctx), "zzz");
  CU_EXPECT_INT(dagr_kernel_register("late", (dagr_kernel_fn)1), DAGR_ESTATE);
  CU_EXPECT_INT(dagr_get(ctx, g, keys, 1, &r), DAGR_OK);
  dagr_result_release(&r);
  dagr_graph_free(g);
}

int main(void) {
  setenv("DAGR_MPI", "0", 1);
  setenv("DAGR_STORE_BYTES", "32M", 1);
  setenv("DAGR_QUEUE", "4", 1);
  setenv("DAGR_WORKER_THREADS", "2", 1);
  if (dagr_init(NULL, NULL, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "dagr_init: %s\n", dagr_last_error(NULL));
    return 2;
  }
  static const cu_test_def tests[] = {
      {"readyq_small", test_readyq_small},
      {"readyq_boundaries", test_readyq_boundaries},
      {"readyq_random", test_readyq_random},
      {"local_diamond_and_reuse", test_local_diamond_and_reuse},
      {"local_failure_then_success", test_local_failure_then_success},
      {"local_large_objects_released", test_local_large_objects_released},
      {"parse_bytes", test_parse_bytes},
      {"config_env", test_config_env},
      {"get_argument_errors", test_get_argument_errors},
      {NULL, NULL}};
  int rc = cu_run_suite("sched", tests);
  dagr_finalize(ctx);
  return rc;
}
