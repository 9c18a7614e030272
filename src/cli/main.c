/* main.c: the `dagr` command: starts the runtime on every rank and dispatches to a subcommand. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: dagr COMMAND [ARGS]   (alone, or under mpirun/srun: rank 0 schedules, the\n"
      "                              other ranks are workers)\n"
      "  run GRAPH.json [--trace FILE.json] [--report FILE.html]\n"
      "                             compute the graph's outputs, print them as JSON\n"
      "  info                       describe every rank (host, role, threads, store)\n"
      "  demo                       the main job: a sample HDF5 field, column statistics,\n"
      "                             normalization and stencil smoothing, written to HDF5\n"
      "  demo graph                 the built-in task-graph demo (no files)\n"
      "  eval 'EXPR' NAME=FILE.h5:/dataset ... [--out FILE.h5:/dataset] [--chunks auto|N,N,..]\n"
      "       [--gzip] [--trace FILE.json] [--report FILE.html]\n"
      "                             evaluate a NumPy-like expression over HDF5 datasets\n"
      "  bench throughput [--tasks N] [--width W] [--reps R]\n"
      "  bench chain [--tasks N] [--reps R]\n"
      "  bench tracing [--tasks N] [--reps R]  throughput with the trace off and on\n"
      "  bench transfer [--bytes B] [--reps R]\n"
      "  bench h5sum FILE:/x | xxt_mean | matmul | h5write | stencil | numa [--n N] [--chunk C]\n"
      "        [--iters I] [--reps R]  array workloads (see README)\n"
      "  version                    print the version\n"
      "--trace writes a Chrome trace (Perfetto), --report an HTML performance report, at the end\n"
      "(also DAGR_TRACE / DAGR_REPORT for any command; %%j in a name is the Slurm job id).\n");
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* `dagr demo graph`: a wide map over generated buffers, checksums, and an arithmetic tree, with
 * results checked against values computed here (the core runtime without arrays or files). */
static int graph_demo(dagr_ctx_t *ctx) {
  const int nbuf = 64;
  const long long bytes = 4 << 20;
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return 1;
  char key[64], dep[64];
  double t0 = now();
  for (int i = 0; i < nbuf; i++) {
    dagr_params_t *p;
    dagr_params_create(&p);
    dagr_params_set_int(p, "bytes", bytes);
    dagr_params_set_int(p, "seed", i);
    snprintf(key, sizeof key, "('fill', %d)", i);
    dagr_graph_add(g, key, "fill", p, NULL, 0, NULL);
    dagr_params_free(p);
  }
  /* Each checksum reads two neighbouring buffers, which the scheduler usually made on different
   * workers: one of them is pulled with MPI_Rget. */
  for (int i = 0; i < nbuf; i++) {
    char dep2[64];
    snprintf(dep, sizeof dep, "('fill', %d)", i);
    snprintf(dep2, sizeof dep2, "('fill', %d)", (i + 1) % nbuf);
    snprintf(key, sizeof key, "('checksum', %d)", i);
    const char *d[2] = {dep, dep2};
    dagr_graph_add(g, key, "checksum", NULL, d, 2, NULL);
  }
  /* sum of squares 1..1000 as an arithmetic tree */
  for (int i = 1; i <= 1000; i++) {
    dagr_params_t *p;
    dagr_params_create(&p);
    dagr_params_set_int(p, "value", i);
    snprintf(key, sizeof key, "('n', %d)", i);
    dagr_graph_add(g, key, "const", p, NULL, 0, NULL);
    dagr_params_free(p);
    snprintf(dep, sizeof dep, "('n', %d)", i);
    const char *deps[2] = {dep, dep};
    snprintf(key, sizeof key, "('sq', %d)", i);
    dagr_graph_add(g, key, "mul", NULL, deps, 2, NULL);
  }
  const char *sq[1000];
  char sqkeys[1000][32];
  for (int i = 0; i < 1000; i++) {
    snprintf(sqkeys[i], sizeof sqkeys[i], "('sq', %d)", i + 1);
    sq[i] = sqkeys[i];
  }
  dagr_graph_add(g, "sumsq", "add", NULL, sq, 1000, NULL);
  const char *cks[64];
  char ckkeys[64][32];
  for (int i = 0; i < nbuf; i++) {
    snprintf(ckkeys[i], sizeof ckkeys[i], "('checksum', %d)", i);
    cks[i] = ckkeys[i];
  }
  dagr_graph_add(g, "all-checksums", "checksum", NULL, cks, (size_t)nbuf, NULL);
  double built = now() - t0;
  const char *keys[2] = {"sumsq", "all-checksums"};
  dagr_result_t res[2];
  t0 = now();
  int rc = dagr_get(ctx, g, keys, 2, res);
  double ran = now() - t0;
  if (rc) {
    fprintf(stderr, "dagr demo: %s\n", dagr_last_error(ctx));
    dagr_graph_free(g);
    return 1;
  }
  /* Reference values computed serially here. */
  int64_t expect_sum = 1000LL * 1001 * 2001 / 6, got_sum = 0;
  dagr_result_int64(&res[0], &got_sum);
  uint64_t *per = malloc(sizeof(uint64_t) * (size_t)nbuf);
  unsigned char *buf = malloc((size_t)bytes);
  for (int i = 0; i < nbuf && per && buf; i++) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int j = i; j <= i + 1; j++) {
      for (long long b = 0; b < bytes; b++)
        buf[b] = (unsigned char)((b * 131 + (long long)(j % nbuf) * 7) & 0xff);
      h = dagr_cli_fnv1a_update(h, buf, (size_t)bytes);
    }
    per[i] = h;
  }
  uint64_t expect_all = per ? dagr_cli_fnv1a(per, sizeof(uint64_t) * (size_t)nbuf) : 0, got_all;
  memcpy(&got_all, res[1].data, 8);
  free(per);
  free(buf);
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  int ok = got_sum == expect_sum && got_all == expect_all;
  printf("dagr demo: %zu tasks on %d rank(s), %d worker pool(s)\n", dagr_graph_size(g),
         dagr_nranks(ctx), dagr_nworkers(ctx));
  printf(
      "  %d buffers of %lld MiB filled, checksummed in neighbouring pairs; 1000 squares summed\n",
      nbuf, bytes >> 20);
  printf("  sumsq = %lld (expected %lld)\n", (long long)got_sum, (long long)expect_sum);
  printf("  checksum of checksums = 0x%016llx (expected 0x%016llx)\n", (unsigned long long)got_all,
         (unsigned long long)expect_all);
  printf("  graph built in %.3f s, computed in %.3f s (plan %.3f s), %llu bytes pulled between "
         "workers\n",
         built, ran, st.plan_seconds, (unsigned long long)st.bytes_fetched);
  printf("  result: %s\n", ok ? "OK" : "MISMATCH");
  dagr_result_release(&res[0]);
  dagr_result_release(&res[1]);
  dagr_graph_free(g);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("dagr %d.%d.%d\n", DAGR_VERSION_MAJOR, DAGR_VERSION_MINOR, DAGR_VERSION_PATCH);
    return 0;
  }
  if (strcmp(cmd, "run") != 0 && strcmp(cmd, "info") != 0 && strcmp(cmd, "bench") != 0 &&
      strcmp(cmd, "demo") != 0 && strcmp(cmd, "eval") != 0) {
    fprintf(stderr, "dagr: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
  }
  dagr_ctx_t *ctx;
  int rc = dagr_init(&argc, &argv, NULL, &ctx);
  if (rc) {
    fprintf(stderr, "dagr: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  int status;
  if (!strcmp(cmd, "run")) {
    status = dagr_cli_run(ctx, argc - 2, argv + 2);
  } else if (!strcmp(cmd, "bench")) {
    status = dagr_cli_bench(ctx, argc - 2, argv + 2);
  } else if (!strcmp(cmd, "eval")) {
    status = dagr_cli_eval(ctx, argc - 2, argv + 2);
  } else if (!strcmp(cmd, "demo")) {
    if (argc == 3 && !strcmp(argv[2], "graph"))
      status = graph_demo(ctx);
    else
      status = dagr_cli_demo(ctx, argc - 2, argv + 2);
  } else {
    status = dagr_info_print(ctx, stdout) == DAGR_OK ? 0 : 1;
    if (status) fprintf(stderr, "dagr info: %s\n", dagr_last_error(ctx));
  }
  fflush(stdout);
  dagr_set_exit_status(ctx, status);
  rc = dagr_finalize(ctx);
  if (rc) fprintf(stderr, "dagr: finalize failed: %s\n", dagr_strerror(rc));
  return status ? status : (rc ? 1 : 0);
}
