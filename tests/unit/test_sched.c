/* test_sched.c: unit tests for the scheduler's ready set and for single-process scheduling end to
 * end. */
#include <stdlib.h>
#include <string.h>

#include "cu_util.h"
#include "dagr.h"
#include "scheduler/readyq.h"
#include "runtime/executor.h"

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

/* Direct executor tests: thread groups (one per NUMA domain), each with its own queue. */
typedef struct {
  dagr__job job; /* first: the executor hands back the dagr__job pointer */
  int id;
  int block;     /* waits for the gate to open, so the queue behind it fills */
  int ran_group; /* the group and index of the thread that ran it (-1: not run) */
  int ran_index;
} tjob;

static __thread int tls_group = -1, tls_index = -1;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int init_calls[80], init_group[80], ninit;
  int order[256], norder; /* ids in run order */
  int started;            /* blockers running */
  int open;
  int alive;   /* executor threads that ran init and have not exited */
  int bad_arg; /* callbacks that got the wrong argument (CUnit asserts only on the main thread) */
} xs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static pthread_key_t xs_key;

static void xs_reset(void) {
  pthread_mutex_lock(&xs.mu);
  memset(xs.init_calls, 0, sizeof xs.init_calls);
  memset(xs.init_group, 0xff, sizeof xs.init_group);
  xs.ninit = xs.norder = xs.started = xs.open = xs.bad_arg = 0;
  pthread_mutex_unlock(&xs.mu);
}

/* Runs at each executor thread's exit, so a joined thread has always passed through here. */
static void xs_thread_exit(void *p) {
  (void)p;
  pthread_mutex_lock(&xs.mu);
  xs.alive--;
  pthread_mutex_unlock(&xs.mu);
}

static void xs_init(int index, int group, void *arg) {
  tls_group = group;
  tls_index = index;
  pthread_setspecific(xs_key, &xs);
  pthread_mutex_lock(&xs.mu);
  if (arg != &xs) xs.bad_arg++;
  if (index >= 0 && index < 80) {
    xs.init_calls[index]++;
    xs.init_group[index] = group;
  }
  xs.ninit++;
  xs.alive++;
  pthread_cond_broadcast(&xs.cv);
  pthread_mutex_unlock(&xs.mu);
}

static void xs_run(dagr__job *job, void *arg) {
  tjob *t = (tjob *)job;
  t->ran_group = tls_group;
  t->ran_index = tls_index;
  pthread_mutex_lock(&xs.mu);
  if (arg != &xs) xs.bad_arg++;
  if (t->block) {
    xs.started++;
    pthread_cond_broadcast(&xs.cv);
    while (!xs.open) pthread_cond_wait(&xs.cv, &xs.mu);
  }
  if (xs.norder < 256) xs.order[xs.norder++] = t->id;
  pthread_mutex_unlock(&xs.mu);
}

/* Waits (up to 10 s) until *counter reaches want; returns the value seen. */
static int xs_wait_for(int *counter, int want) {
  double end = dagr__now() + 10;
  pthread_mutex_lock(&xs.mu);
  while (*counter < want && dagr__now() < end) {
    pthread_mutex_unlock(&xs.mu);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&xs.mu);
  }
  int v = *counter;
  pthread_mutex_unlock(&xs.mu);
  return v;
}

static void xs_open_gate(void) {
  pthread_mutex_lock(&xs.mu);
  xs.open = 1;
  pthread_cond_broadcast(&xs.cv);
  pthread_mutex_unlock(&xs.mu);
}

/* Takes completions (up to 10 s) until want jobs came back; returns how many did. */
static size_t xs_collect(dagr__exec *e, size_t want) {
  size_t got = 0;
  double end = dagr__now() + 10;
  while (got < want && dagr__now() < end) {
    for (dagr__job *j = dagr__exec_take_done(e); j; j = j->next) got++;
    if (got < want) dagr__exec_wait(e, 1000000);
  }
  return got;
}

/* Waits (up to 10 s) for nothing to be queued or running. A job is on the done list before its
 * thread stops counting it as running, so this can lag xs_collect briefly. */
static size_t xs_wait_idle(dagr__exec *e) {
  double end = dagr__now() + 10;
  size_t n;
  while ((n = dagr__exec_pending(e)) != 0 && dagr__now() < end) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  return n;
}

static void tjob_init(tjob *t, int id, uint32_t prio, int group) {
  memset(t, 0, sizeof *t);
  t->id = id;
  t->job.prio = prio;
  t->job.group = (uint16_t)group;
  t->ran_group = t->ran_index = -1;
}

/* Pushes one job on its own. */
static void push1(dagr__exec *e, tjob *t) {
  dagr__job *rej;
  t->job.next = NULL;
  CU_EXPECT_INT(dagr__exec_push(e, &t->job, &rej), DAGR_OK);
  CU_ASSERT(rej == NULL);
}

/* Pushes jobs t[0..n) as one list, in that order. */
static void push_list(dagr__exec *e, tjob *t, int n) {
  for (int i = 0; i < n; i++) t[i].job.next = i + 1 < n ? &t[i + 1].job : NULL;
  dagr__job *rej;
  CU_EXPECT_INT(dagr__exec_push(e, &t[0].job, &rej), DAGR_OK);
  CU_ASSERT(rej == NULL);
}

static const int three_groups[3] = {1, 2, 1};
/* Global thread indices of each group of three_groups: [first, last]. */
static const int three_first[3] = {0, 1, 3}, three_last[3] = {0, 2, 3};

static void test_exec_groups_init_and_placement(void) {
  xs_reset();
  dagr__exec e;
  CU_ASSERT_FATAL(dagr__exec_start_groups(&e, 3, three_groups, xs_run, &xs, xs_init, &xs) ==
                  DAGR_OK);
  CU_EXPECT_INT(e.nthreads, 4);
  /* Pushed at once, so a thread that took a job before its init would record group -1. Mixed groups
   * in one list, single pushes, and groups past the last (run in group 0). */
  enum { N = 200 };
  static tjob t[N];
  int expect[N];
  for (int i = 0; i < N; i++) {
    int g = i % 3;
    if (i % 17 == 0) g = 3 + i % 5;
    if (i % 29 == 0) g = 65535;
    tjob_init(&t[i], i, (uint32_t)(rng() % 50), g);
    expect[i] = g < 3 ? g : 0;
  }
  push_list(&e, t, 150);
  for (int i = 150; i < N; i++) push1(&e, &t[i]);
  CU_EXPECT_INT(xs_collect(&e, N), N);
  for (int i = 0; i < N; i++) {
    CU_EXPECT_INT(t[i].ran_group, expect[i]);
    CU_ASSERT(t[i].ran_index >= three_first[expect[i]] && t[i].ran_index <= three_last[expect[i]]);
  }
  CU_EXPECT_INT(xs_wait_idle(&e), 0);
  for (int g = -1; g <= 3; g++) CU_EXPECT_INT(dagr__exec_group_pending(&e, g), 0);
  dagr__exec_stop(&e);
  /* Every thread called init exactly once, with its global index and its group; stop joined
   * them all (each passed its exit hook). */
  CU_EXPECT_INT(xs.alive, 0);
  CU_EXPECT_INT(xs.bad_arg, 0);
  CU_EXPECT_INT(xs.ninit, 4);
  static const int want_group[4] = {0, 1, 1, 2};
  for (int i = 0; i < 4; i++) {
    CU_EXPECT_INT(xs.init_calls[i], 1);
    CU_EXPECT_INT(xs.init_group[i], want_group[i]);
  }
  dagr__exec_stop(&e); /* a second stop does nothing */
}

static void test_exec_group_priority_order(void) {
  xs_reset();
  dagr__exec e;
  CU_ASSERT_FATAL(dagr__exec_start_groups(&e, 3, three_groups, xs_run, &xs, xs_init, &xs) ==
                  DAGR_OK);
  /* Group 2's only thread blocks in the first job while 60 more arrive out of order, some one by
   * one and some as lists (so both the FIFO and the heap hold jobs). */
  enum { N = 60 };
  static tjob blocker, t[N];
  tjob_init(&blocker, 1000, 0, 2);
  blocker.block = 1;
  push1(&e, &blocker);
  CU_EXPECT_INT(xs_wait_for(&xs.started, 1), 1);
  int perm[N];
  for (int i = 0; i < N; i++) perm[i] = i;
  for (int i = N - 1; i > 0; i--) {
    int k = (int)(rng() % (uint64_t)(i + 1)), tmp = perm[i];
    perm[i] = perm[k];
    perm[k] = tmp;
  }
  for (int i = 0; i < N; i++) tjob_init(&t[i], perm[i], (uint32_t)(perm[i] + 1), 2);
  for (int i = 0; i < 20; i++) push1(&e, &t[i]);
  push_list(&e, t + 20, 25);
  push_list(&e, t + 45, N - 45);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 2), N + 1);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 0), 0);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 1), 0);
  CU_EXPECT_INT(dagr__exec_pending(&e), N + 1);
  xs_open_gate();
  CU_EXPECT_INT(xs_collect(&e, N + 1), N + 1);
  CU_EXPECT_INT(xs.norder, N + 1);
  CU_EXPECT_INT(xs.order[0], 1000);
  for (int i = 1; i <= N && i < xs.norder; i++) CU_EXPECT_INT(xs.order[i], i - 1);
  for (int i = 0; i < N; i++) CU_EXPECT_INT(t[i].ran_group, 2);
  dagr__exec_stop(&e);
  CU_EXPECT_INT(xs.alive, 0);
}

static void test_exec_drop_queued_all_groups(void) {
  xs_reset();
  dagr__exec e;
  CU_ASSERT_FATAL(dagr__exec_start_groups(&e, 3, three_groups, xs_run, &xs, xs_init, &xs) ==
                  DAGR_OK);
  /* Every thread blocks in one job (group 1's two take one each: nothing has a run time yet,
   * so each take is a single job). */
  static tjob blockers[4], t[17];
  for (int i = 0; i < 4; i++) {
    tjob_init(&blockers[i], 100 + i, 0, i == 0 ? 0 : i == 3 ? 2 : 1);
    blockers[i].block = 1;
  }
  push_list(&e, blockers, 4);
  CU_EXPECT_INT(xs_wait_for(&xs.started, 4), 4);
  /* Then 5 queued per group and 2 past the last group (queued in group 0). */
  for (int i = 0; i < 17; i++) tjob_init(&t[i], i, (uint32_t)(17 - i), i < 15 ? i % 3 : 9);
  push_list(&e, t, 10);
  push_list(&e, t + 10, 7);
  CU_EXPECT_INT(dagr__exec_pending(&e), 21);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 0), 1 + 5 + 2);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 1), 2 + 5);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 2), 1 + 5);
  int seen[17] = {0}, n = 0, stray = 0;
  for (dagr__job *j = dagr__exec_drop_queued(&e); j; j = j->next, n++) {
    int id = ((tjob *)j)->id;
    if (id >= 0 && id < 17)
      seen[id]++;
    else
      stray++;
  }
  CU_EXPECT_INT(n, 17);
  CU_EXPECT_INT(stray, 0);
  for (int i = 0; i < 17; i++) CU_EXPECT_INT(seen[i], 1);
  CU_EXPECT_INT(dagr__exec_drop_queued(&e) == NULL, 1);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 0), 1);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 1), 2);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 2), 1);
  xs_open_gate();
  CU_EXPECT_INT(xs_collect(&e, 4), 4);
  CU_EXPECT_INT(xs_wait_idle(&e), 0);
  for (int i = 0; i < 17; i++) CU_EXPECT_INT(t[i].ran_group, -1);
  dagr__exec_stop(&e);
  CU_EXPECT_INT(xs.alive, 0);
}

static void test_exec_bad_arguments(void) {
  dagr__exec e;
  int one[2] = {1, 1}, zero[2] = {1, 0}, neg[2] = {-1, 1};
  CU_EXPECT_INT(dagr__exec_start_groups(NULL, 1, one, xs_run, &xs, NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__exec_start_groups(&e, 0, one, xs_run, &xs, NULL, NULL), DAGR_EINVAL);
  dagr__exec_stop(&e); /* harmless after a failed start */
  CU_EXPECT_INT(dagr__exec_start_groups(&e, -1, one, xs_run, &xs, NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(
      dagr__exec_start_groups(&e, DAGR__EXEC_MAX_GROUPS + 1, one, xs_run, &xs, NULL, NULL),
      DAGR_EINVAL);
  CU_EXPECT_INT(dagr__exec_start_groups(&e, 2, zero, xs_run, &xs, NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__exec_start_groups(&e, 2, neg, xs_run, &xs, NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__exec_start_groups(&e, 2, NULL, xs_run, &xs, NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__exec_start_groups(&e, 2, one, NULL, &xs, NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__exec_start(&e, 0, xs_run, &xs), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__exec_start(&e, 2, NULL, &xs), DAGR_EINVAL);
  dagr__exec_stop(&e);
}

static void test_exec_max_groups_and_single_group(void) {
  /* 64 groups of one thread: a job for the last runs on the last thread. */
  xs_reset();
  int per[DAGR__EXEC_MAX_GROUPS];
  for (int i = 0; i < DAGR__EXEC_MAX_GROUPS; i++) per[i] = 1;
  dagr__exec e;
  CU_ASSERT_FATAL(dagr__exec_start_groups(&e, DAGR__EXEC_MAX_GROUPS, per, xs_run, &xs, xs_init,
                                          &xs) == DAGR_OK);
  static tjob t[3];
  tjob_init(&t[0], 0, 1, DAGR__EXEC_MAX_GROUPS - 1);
  tjob_init(&t[1], 1, 1, 5);
  tjob_init(&t[2], 2, 1, DAGR__EXEC_MAX_GROUPS);
  push_list(&e, t, 3);
  CU_EXPECT_INT(xs_collect(&e, 3), 3);
  CU_EXPECT_INT(t[0].ran_group, DAGR__EXEC_MAX_GROUPS - 1);
  CU_EXPECT_INT(t[0].ran_index, DAGR__EXEC_MAX_GROUPS - 1);
  CU_EXPECT_INT(t[1].ran_group, 5);
  CU_EXPECT_INT(t[2].ran_group, 0);
  dagr__exec_stop(&e);
  CU_EXPECT_INT(xs.ninit, DAGR__EXEC_MAX_GROUPS);
  CU_EXPECT_INT(xs.alive, 0);

  /* The one-group start: any group value runs there, and no init is called. */
  xs_reset();
  tls_group = tls_index = -1;
  CU_ASSERT_FATAL(dagr__exec_start(&e, 2, xs_run, &xs) == DAGR_OK);
  CU_EXPECT_INT(e.ngroups, 1);
  enum { N = 100 };
  static tjob u[N];
  for (int i = 0; i < N; i++) tjob_init(&u[i], i, (uint32_t)i, i % 7);
  push_list(&e, u, N);
  CU_EXPECT_INT(xs_collect(&e, N), N);
  CU_EXPECT_INT(xs.norder, N);
  CU_EXPECT_INT(xs_wait_idle(&e), 0);
  CU_EXPECT_INT(dagr__exec_group_pending(&e, 0), 0);
  dagr__exec_stop(&e);
  CU_EXPECT_INT(xs.ninit, 0);
}

int main(void) {
  setenv("DAGR_MPI", "0", 1);
  setenv("DAGR_STORE_BYTES", "32M", 1);
  setenv("DAGR_QUEUE", "4", 1);
  setenv("DAGR_WORKER_THREADS", "2", 1);
  if (pthread_key_create(&xs_key, xs_thread_exit) != 0) return 2;
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
      {"exec_groups_init_and_placement", test_exec_groups_init_and_placement},
      {"exec_group_priority_order", test_exec_group_priority_order},
      {"exec_drop_queued_all_groups", test_exec_drop_queued_all_groups},
      {"exec_bad_arguments", test_exec_bad_arguments},
      {"exec_max_groups_and_single_group", test_exec_max_groups_and_single_group},
      {NULL, NULL}};
  int rc = cu_run_suite("sched", tests);
  dagr_finalize(ctx);
  return rc;
}
