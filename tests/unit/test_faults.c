/* test_faults.c: unit tests of the fault handling pieces: time limits (watch list, options,
 * DAGR_TASK_TIMEOUT, "timeout_s"), cleanup hooks, stop and crash signal handlers. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu_util.h"
#include "graph/graph.h"
#include "runtime/cleanup.h"
#include "runtime/kctx.h"
#include "runtime/registry.h"
#include "runtime/signals.h"
#include "runtime/timeout.h"

/* ---- time limits ---------------------------------------------------------------------------- */

static void test_timeout_ms(void) {
  CU_EXPECT_INT(dagr__timeout_ms(0), 0);
  CU_EXPECT_INT(dagr__timeout_ms(1), 1000);
  CU_EXPECT_INT(dagr__timeout_ms(2.5), 2500);
  CU_EXPECT_INT(dagr__timeout_ms(1e-9), 1); /* positive never becomes "none" */
  CU_EXPECT_INT(dagr__timeout_ms(0.0015), 2);
  CU_EXPECT_INT(dagr__timeout_ms(DAGR__TIMEOUT_MAX_S), 4294967000u);
  CU_ASSERT(dagr__timeout_valid(0));
  CU_ASSERT(dagr__timeout_valid(DAGR__TIMEOUT_MAX_S));
  CU_ASSERT(!dagr__timeout_valid(-1));
  CU_ASSERT(!dagr__timeout_valid(DAGR__TIMEOUT_MAX_S + 1));
  CU_ASSERT(!dagr__timeout_valid(NAN));
  CU_ASSERT(!dagr__timeout_valid(INFINITY));
}

static void test_watch_list(void) {
  dagr__watch w = {0};
  dagr__watch_item it[4];
  memset(it, 0, sizeof it);
  for (int i = 0; i < 4; i++) {
    it[i].limit_ms = (uint32_t)(100 * (i + 1));
    CU_EXPECT_INT(dagr__watch_add(&w, &it[i]), DAGR_OK);
  }
  CU_EXPECT_INT(w.n, 4);
  CU_EXPECT_INT(dagr__watch_add(&w, &it[1]), DAGR_OK); /* already listed: no second entry */
  CU_EXPECT_INT(w.n, 4);
  uint64_t t0 = 1000000000ull;
  /* Not started: never expires. */
  CU_ASSERT_PTR_NULL(dagr__watch_expired(&w, t0 + 10000000000ull));
  w.next_check_ns = 0;
  it[0].start_ns = t0;
  it[2].start_ns = t0;
  it[3].start_ns = t0;
  /* 250 ms after the start: it[0] (100 ms) is past its limit, it[2] (300 ms) is not. */
  CU_ASSERT_PTR_EQUAL(dagr__watch_expired(&w, t0 + 250000000ull), &it[0]);
  CU_EXPECT_INT(it[0].slot, 0);
  CU_ASSERT_PTR_NULL(dagr__watch_expired(&w, t0 + 250000000ull));
  CU_EXPECT_INT(w.next_check_ns, t0 + 260000000ull); /* scans are spaced 10 ms apart */
  /* Before the next scan is due nothing is reported, though it[2] (300 ms) is past its limit. */
  w.next_check_ns = t0 + 400000000ull;
  CU_ASSERT_PTR_NULL(dagr__watch_expired(&w, t0 + 350000000ull));
  CU_EXPECT_INT(w.n, 3);
  w.next_check_ns = 0;
  dagr__watch_remove(&w, &it[2]);
  dagr__watch_remove(&w, &it[2]); /* twice: harmless */
  CU_EXPECT_INT(w.n, 2);
  CU_ASSERT_PTR_NULL(dagr__watch_expired(&w, t0 + 350000000ull)); /* it[3] has 400 ms */
  w.next_check_ns = 0;
  CU_ASSERT_PTR_EQUAL(dagr__watch_expired(&w, t0 + 450000000ull), &it[3]);
  CU_EXPECT_INT(w.n, 1); /* it[1], never started */
  CU_EXPECT_INT(w.items[0]->slot, 1);
  dagr__watch_clear(&w);
  CU_EXPECT_INT(w.n, 0);
  CU_EXPECT_INT(it[1].slot, 0);
  dagr__watch_free(&w);
  /* The executor side: starting a watched item stamps it, an unwatched one stays 0. */
  dagr__watch_item a = {0, 5, 0}, b = {0, 0, 0};
  dagr__watch_started(&a);
  dagr__watch_started(&b);
  CU_ASSERT(a.start_ns > 0);
  CU_EXPECT_INT(b.start_ns, 0);
}

static void test_task_option(void) {
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  CU_ASSERT(o.timeout_s == 0);
  dagr_graph_t *g;
  CU_EXPECT_INT(dagr_graph_create(&g), DAGR_OK);
  o.timeout_s = -1;
  CU_EXPECT_INT(dagr_graph_add(g, "a", "noop", NULL, NULL, 0, &o), DAGR_EINVAL);
  o.timeout_s = NAN;
  CU_EXPECT_INT(dagr_graph_add(g, "a", "noop", NULL, NULL, 0, &o), DAGR_EINVAL);
  o.timeout_s = 5e6;
  CU_EXPECT_INT(dagr_graph_add(g, "a", "noop", NULL, NULL, 0, &o), DAGR_EINVAL);
  o.timeout_s = 0.25;
  CU_EXPECT_INT(dagr_graph_add(g, "a", "noop", NULL, NULL, 0, &o), DAGR_OK);
  o.timeout_s = 0;
  CU_EXPECT_INT(dagr_graph_add(g, "b", "noop", NULL, NULL, 0, &o), DAGR_OK);
  CU_EXPECT_INT(dagr_graph_add(g, "c", "noop", NULL, NULL, 0, NULL), DAGR_OK);
  uint32_t id;
  CU_EXPECT_INT(dagr__graph_find(g, "a", &id), DAGR_OK);
  CU_EXPECT_INT(g->tasks[id].timeout_ms, 250);
  CU_EXPECT_INT(dagr__graph_find(g, "b", &id), DAGR_OK);
  CU_EXPECT_INT(g->tasks[id].timeout_ms, 0);
  CU_EXPECT_INT(dagr__graph_find(g, "c", &id), DAGR_OK);
  CU_EXPECT_INT(g->tasks[id].timeout_ms, 0);
  dagr_graph_free(g);
}

static int load(const char *text, dagr_graph_t **g, char *err, size_t errlen) {
  return dagr_graph_load_json(text, strlen(text), g, err, errlen);
}

static void test_json_field(void) {
  char err[1024];
  dagr_graph_t *g = NULL;
  CU_EXPECT_INT(load("{\"graph\": {\"a\": {\"kernel\": \"noop\", \"timeout_s\": 1.5},"
                     " \"b\": {\"kernel\": \"noop\", \"timeout_s\": 2}}, \"outputs\": [\"a\"]}",
                     &g, err, sizeof err),
                DAGR_OK);
  uint32_t id;
  CU_EXPECT_INT(dagr__graph_find(g, "a", &id), DAGR_OK);
  CU_EXPECT_INT(g->tasks[id].timeout_ms, 1500);
  CU_EXPECT_INT(dagr__graph_find(g, "b", &id), DAGR_OK);
  CU_EXPECT_INT(g->tasks[id].timeout_ms, 2000);
  dagr_graph_free(g);
  static const struct {
    const char *value, *message;
  } bad[] = {
      {"-1", "\"timeout_s\" is out of range (got -1; allowed 0, meaning no limit, to 4294967)"},
      {"1e7", "\"timeout_s\" is out of range"},
      {"\"2\"", "\"timeout_s\" must be a number of seconds, not a string"},
      {"true", "\"timeout_s\" must be a number of seconds"},
      {"null", "\"timeout_s\" must be a number of seconds"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[256];
    snprintf(
        text, sizeof text,
        "{\"graph\": {\"a\": {\"kernel\": \"noop\", \"timeout_s\": %s}}, \"outputs\": [\"a\"]}",
        bad[i].value);
    g = NULL;
    CU_EXPECT_INT(load(text, &g, err, sizeof err), DAGR_EPARSE);
    CU_ASSERT_PTR_NULL(g);
    CU_EXPECT_STR_CONTAINS(err, "task 'a': ");
    CU_EXPECT_STR_CONTAINS(err, bad[i].message);
  }
}

static void test_env_variable(void) {
  dagr_config_t cfg;
  static const struct {
    const char *text;
    double seconds;
  } good[] = {{"1", 1}, {"2.5", 2.5}, {"0", 0}, {".5", 0.5}, {"4294967", 4294967}};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    setenv("DAGR_TASK_TIMEOUT", good[i].text, 1);
    CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_OK);
    CU_ASSERT(cfg.task_timeout_s == good[i].seconds);
  }
  static const char *const bad[] = {"-1", "abc", " 1", "1s", "inf", "nan", "1e9", "", "+3"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    setenv("DAGR_TASK_TIMEOUT", bad[i], 1);
    CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_ECONFIG);
    CU_EXPECT_STR_CONTAINS(dagr_last_error(NULL), "DAGR_TASK_TIMEOUT=");
    CU_EXPECT_STR_CONTAINS(dagr_last_error(NULL), "is invalid: expected seconds");
  }
  unsetenv("DAGR_TASK_TIMEOUT");
  CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_OK);
  CU_ASSERT(cfg.task_timeout_s == 0);
}

static void test_status_names(void) {
  CU_EXPECT_STR_CONTAINS(dagr_strerror(DAGR_EINTERRUPTED), "DAGR_EINTERRUPTED");
  CU_EXPECT_STR_CONTAINS(dagr_strerror(DAGR_ETIMEOUT), "DAGR_ETIMEOUT");
  CU_EXPECT_STR_CONTAINS(dagr__signal_name(SIGTERM), "SIGTERM");
  CU_EXPECT_STR_CONTAINS(dagr__signal_name(SIGSEGV), "SIGSEGV");
  CU_EXPECT_STR_CONTAINS(dagr__signal_name(SIGUSR1), "signal ");
}

/* ---- cleanup hooks -------------------------------------------------------------------------- */

static char order[16];
static size_t norder;

static void hook_note(void *arg) {
  if (norder + 1 < sizeof order) order[norder++] = *(const char *)arg;
}

static const char hook_b = 'b';

static void hook_drops_b(void *arg) {
  hook_note(arg);
  CU_EXPECT_INT(dagr__cleanup_unregister(hook_note, (void *)&hook_b), DAGR_OK);
}

static void test_cleanup_hooks(void) {
  static const char a = 'a', c = 'c', d = 'd';
  norder = 0;
  CU_EXPECT_INT(dagr__cleanup_register(NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__cleanup_register(hook_note, (void *)&a), DAGR_OK);
  CU_EXPECT_INT(dagr__cleanup_register(hook_note, (void *)&hook_b), DAGR_OK);
  CU_EXPECT_INT(dagr__cleanup_register(hook_drops_b, (void *)&c), DAGR_OK);
  CU_EXPECT_INT(dagr__cleanup_register(hook_note, (void *)&d), DAGR_OK);
  CU_EXPECT_INT(dagr__cleanup_count(), 4);
  CU_EXPECT_INT(dagr__cleanup_unregister(hook_note, (void *)&d), DAGR_OK);
  CU_EXPECT_INT(dagr__cleanup_unregister(hook_note, (void *)&d), DAGR_ENOENT);
  dagr__cleanup_run();
  order[norder] = '\0';
  /* Newest first; c removed b before b's turn. */
  CU_ASSERT_STRING_EQUAL(order, "ca");
  CU_EXPECT_INT(dagr__cleanup_count(), 0);
  dagr__cleanup_run(); /* nothing left: runs nothing */
  CU_EXPECT_INT(norder, 2);
}

/* ---- signal handlers ------------------------------------------------------------------------ */

/* Runs fn in a child whose stderr is captured into out; returns its wait status. */
static int in_child(void (*fn)(void), char *out, size_t outlen) {
  int fds[2];
  CU_ASSERT_FATAL(pipe(fds) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    fn();
    _exit(99);
  }
  close(fds[1]);
  size_t n = 0;
  ssize_t k;
  while (n + 1 < outlen && (k = read(fds[0], out + n, outlen - 1 - n)) != 0) {
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) break;
    n += (size_t)k;
  }
  out[n] = '\0';
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

static int *volatile bad_pointer = (int *)16;

/* Did the child die of sig? Under AddressSanitizer the crash line hands the signal to ASan's
 * own handler, which reports and exits non-zero instead. */
static int died_of(int st, int sig) {
#ifdef __SANITIZE_ADDRESS__
  if (WIFEXITED(st) && WEXITSTATUS(st) != 0) return 1;
#endif
  return WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static void child_segv_in_kernel(void) {
  signal(SIGSEGV, SIG_DFL); /* no core file from the test */
  dagr__signals_install(3, "unit-host");
  dagr_kctx_t k;
  memset(&k, 0, sizeof k);
  k.key = "('boom', 7)junk";
  k.keylen = 11;
  k.kernel = dagr__registry_lookup("noop", NULL);
  dagr__signals_set_kernel(&k);
  *bad_pointer = 1;
}

static void child_bus_by_kill(void) {
  dagr__signals_install(0, "unit-host");
  raise(SIGBUS);
}

static void child_term_stops(void) {
  dagr__signals_install(2, "unit-host");
  raise(SIGTERM);
  /* Like a driver busy outside dagr: the watchdog must end it after the grace period. */
  for (int i = 0; i < 100; i++) sleep(1);
}

static void test_crash_messages(void) {
  CU_EXPECT_INT(dagr__registry_freeze(), DAGR_OK);
  char out[4096];
  int st = in_child(child_segv_in_kernel, out, sizeof out);
  CU_ASSERT(died_of(st, SIGSEGV));
  CU_EXPECT_STR_CONTAINS(out, "dagr: worker rank 3 on unit-host crashed with signal SIGSEGV while "
                              "running task '('boom', 7)' (kernel noop)\n");
  st = in_child(child_bus_by_kill, out, sizeof out);
  CU_ASSERT(died_of(st, SIGBUS));
  CU_EXPECT_STR_CONTAINS(out, "dagr: rank 0 on unit-host crashed with signal SIGBUS outside any "
                              "task\n");
  dagr__registry_thaw();
}

static void test_stop_watchdog(void) {
  char out[4096];
  double t0 = dagr__now();
  int st = in_child(child_term_stops, out, sizeof out);
  double dt = dagr__now() - t0;
  CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
  CU_EXPECT_STR_CONTAINS(out, "dagr: rank 2 received SIGTERM; stopping\n");
  CU_EXPECT_STR_CONTAINS(out, "dagr: rank 2 did not stop within 3 s of SIGTERM; ending it now\n");
  CU_ASSERT(dt > 2.5 && dt < 6);
}

static void test_stop_flag_and_restore(void) {
  struct sigaction ign, cur;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  CU_ASSERT(sigaction(SIGINT, &ign, NULL) == 0);
  dagr__signals_install(4, "unit-host");
  /* An ignored SIGINT stays ignored (a background job). */
  CU_ASSERT(sigaction(SIGINT, NULL, &cur) == 0);
  CU_ASSERT(cur.sa_handler == SIG_IGN);
  CU_EXPECT_INT(dagr__stop_signal(), 0);
  raise(SIGTERM);
  CU_EXPECT_INT(dagr__stop_signal(), SIGTERM);
  char err[256];
  CU_EXPECT_INT(dagr__stop_error(err, sizeof err), DAGR_EINTERRUPTED);
  CU_EXPECT_STR_CONTAINS(err, "interrupted by SIGTERM on rank 4; the job is stopping");
  /* Restoring in time stops the watchdog (this process would die otherwise). */
  dagr__signals_restore();
  CU_ASSERT(sigaction(SIGTERM, NULL, &cur) == 0);
  CU_ASSERT(cur.sa_handler == SIG_DFL);
  CU_ASSERT(sigaction(SIGINT, NULL, &cur) == 0);
  CU_ASSERT(cur.sa_handler == SIG_IGN);
  sleep(4);
  CU_PASS("still alive after the grace period");
}

int main(void) {
  static const cu_test_def tests[] = {
      {"seconds to milliseconds", test_timeout_ms},
      {"watch list", test_watch_list},
      {"timeout_s task option", test_task_option},
      {"timeout_s graph-file field", test_json_field},
      {"DAGR_TASK_TIMEOUT", test_env_variable},
      {"status and signal names", test_status_names},
      {"cleanup hooks", test_cleanup_hooks},
      {"crash messages", test_crash_messages},
      {"stop watchdog", test_stop_watchdog},
      {"stop flag, ignored SIGINT, restore (last: the flag stays)", test_stop_flag_and_restore},
      {NULL, NULL},
  };
  return cu_run_suite("faults", tests);
}
