/* placement_mpi.c: where tasks run: core bindings seen from inside kernels, and NUMA groups at
 * work. */
/*
 * usage: placement_mpi cores EXPECT     EXPECT: "single" (each executor thread bound to one CPU,
 *                                       different workers on different CPUs when there are as
 *                                       many CPUs as workers), "any" (no check of the binding)
 *                                       or "unbound" (threads may use every CPU of the machine)
 *        placement_mpi graph            a 2,000-task graph with data moving between tasks,
 *                                       checked against a serial computation
 * Prints "ok NAME" / "FAIL NAME: ..." per check and "N passed, N failed"; exit 1 on failure.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dagr.h"

static int passed, failed;

static void check(int ok, const char *name, const char *why) {
  if (ok) {
    printf("ok %s\n", name);
    passed++;
  } else {
    printf("FAIL %s: %s\n", name, why);
    failed++;
  }
}

/* Where this task runs: rank * 1e6 + the CPU it runs on * 1e3 + the CPU its thread is bound to
 * (999 when bound to several, 998 when bound to every online CPU). */
DAGR_KERNEL(place_where) {
  cpu_set_t set;
  int bound = 999;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n == 1)
      for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) bound = c;
    if (n == online && n > 1) bound = 998;
  }
  /* Long enough that every executor thread gets some of the tasks. */
  volatile double x = 0;
  for (int i = 0; i < 200000; i++) x += i;
  int cpu = sched_getcpu();
  return dagr_kernel_output_int64(k, (int64_t)dagr_kernel_rank(k) * 1000000 + cpu * 1000 + bound);
}

/* a + b + 1 over the integer inputs. */
DAGR_KERNEL(place_add) {
  int64_t s = 1;
  for (int i = 0; i < dagr_kernel_ninputs(k); i++) {
    dagr_view_t v;
    if (dagr_kernel_input(k, i, &v) || v.nbytes != 64 * sizeof(int64_t))
      return dagr_kernel_fail(k, "place_add: bad input %d", i);
    s += ((const int64_t *)v.data)[7];
  }
  int64_t *o;
  int64_t shape[1] = {64};
  if (dagr_kernel_output(k, 64 * sizeof(int64_t), DAGR_DTYPE_INT64, 1, shape, (void **)&o))
    return dagr_kernel_fail(k, "place_add: no room");
  for (int i = 0; i < 64; i++) o[i] = s + i;
  return DAGR_OK;
}

static int cores(dagr_ctx_t *ctx, const char *expect) {
  enum { N = 64 };
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return 1;
  char keys[N][32];
  const char *kp[N];
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "where-%d", i);
    kp[i] = keys[i];
    dagr_graph_add(g, keys[i], "place_where", NULL, NULL, 0, NULL);
  }
  dagr_result_t res[N];
  if (dagr_get(ctx, g, kp, N, res)) {
    check(0, "cores: graph ran", dagr_last_error(ctx));
    dagr_graph_free(g);
    return 1;
  }
  check(1, "cores: tasks ran", "");
  int ok_running = 1, ok_bound = 1, unbound_ok = 1;
  int rank_cpu[64];
  for (int r = 0; r < 64; r++) rank_cpu[r] = -1;
  char why[256] = "";
  for (int i = 0; i < N; i++) {
    int64_t v = 0;
    dagr_result_int64(&res[i], &v);
    int rank = (int)(v / 1000000), cpu = (int)(v / 1000 % 1000), bound = (int)(v % 1000);
    if (!strcmp(expect, "single")) {
      if (bound >= 998) {
        ok_bound = 0;
        snprintf(why, sizeof why, "task %d on rank %d: thread bound to several CPUs", i, rank);
      } else if (cpu != bound) {
        ok_running = 0;
        snprintf(why, sizeof why, "task %d on rank %d ran on CPU %d, bound to CPU %d", i, rank, cpu,
                 bound);
      }
      if (rank < 64) {
        if (rank_cpu[rank] >= 0 && rank_cpu[rank] != bound && dagr_nworkers(ctx) > 1 &&
            sysconf(_SC_NPROCESSORS_ONLN) <= dagr_nworkers(ctx))
          ok_bound = 0; /* one thread per worker here: always the same CPU */
        rank_cpu[rank] = bound;
      }
    } else if (!strcmp(expect, "unbound")) {
      if (bound != 998) {
        unbound_ok = 0;
        snprintf(why, sizeof why, "task %d on rank %d: thread bound (%d)", i, rank, bound);
      }
    }
    dagr_result_release(&res[i]);
  }
  if (!strcmp(expect, "single")) {
    check(ok_bound, "DAGR_BIND=core: each executor thread bound to one CPU", why);
    check(ok_running, "DAGR_BIND=core: tasks ran on the CPU their thread is bound to", why);
    /* Workers sharing a host take different CPUs when there are enough. */
    int distinct = 1;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (dagr_nranks(ctx) > 1 && online >= dagr_nworkers(ctx))
      for (int a = 1; a < 64; a++)
        for (int b = a + 1; b < 64; b++)
          if (rank_cpu[a] >= 0 && rank_cpu[a] == rank_cpu[b]) distinct = 0;
    check(distinct, "DAGR_BIND=core: workers on one host use different CPUs",
          "two workers bound to the same CPU");
  } else if (!strcmp(expect, "unbound")) {
    check(unbound_ok, "DAGR_BIND=none: executor threads not bound", why);
  }
  dagr_graph_free(g);
  return 0;
}

/* A layered graph: 20 layers of 100 tasks, each reading 2 tasks of the layer before. */
static int graph(dagr_ctx_t *ctx) {
  enum { L = 20, W = 100 };
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return 1;
  static char keys[L][W][24];
  int64_t want[L][W];
  for (int l = 0; l < L; l++)
    for (int i = 0; i < W; i++) {
      snprintf(keys[l][i], sizeof keys[l][i], "n-%d-%d", l, i);
      const char *deps[2];
      size_t nd = 0;
      int64_t s = 1;
      if (l > 0) {
        deps[0] = keys[l - 1][i];
        deps[1] = keys[l - 1][(i * 7 + 3) % W];
        nd = 2;
        s += (want[l - 1][i] + 7) + (want[l - 1][(i * 7 + 3) % W] + 7);
      }
      want[l][i] = s;
      dagr_graph_add(g, keys[l][i], "place_add", NULL, deps, nd, NULL);
    }
  const char *kp[W];
  for (int i = 0; i < W; i++) kp[i] = keys[L - 1][i];
  dagr_result_t res[W];
  int rc = dagr_get(ctx, g, kp, W, res);
  check(rc == DAGR_OK, "groups: layered graph ran", dagr_last_error(ctx));
  if (rc == DAGR_OK) {
    int bad = -1;
    for (int i = 0; i < W; i++) {
      const int64_t *v = res[i].data;
      if (res[i].nbytes != 64 * sizeof(int64_t) || v[0] != want[L - 1][i]) bad = i;
      dagr_result_release(&res[i]);
    }
    char why[128];
    snprintf(why, sizeof why, "result %d differs", bad);
    check(bad < 0, "groups: results match the serial computation", why);
  }
  dagr_graph_free(g);
  return 0;
}

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  int rc = dagr_init(&argc, &argv, NULL, &ctx);
  if (rc) {
    printf("FAIL init: %s\n", dagr_last_error(NULL));
    printf("0 passed, 1 failed\n");
    return 1;
  }
  if (dagr_is_driver(ctx)) {
    if (argc >= 3 && !strcmp(argv[1], "cores"))
      cores(ctx, argv[2]);
    else if (argc >= 2 && !strcmp(argv[1], "graph"))
      graph(ctx);
    else
      check(0, "usage", "placement_mpi cores single|any|unbound | graph");
    printf("%d passed, %d failed\n", passed, failed);
    dagr_set_exit_status(ctx, failed ? 1 : 0);
  }
  int st = dagr_exit_status(ctx);
  dagr_finalize(ctx);
  return st;
}
