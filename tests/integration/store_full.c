/* store_full.c: a full object store fails the task cleanly (with and without retries) and the
 * context stays usable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagr.h"

static int passed, failed;

static void check(int ok, const char *name, const char *detail) {
  if (ok) {
    printf("ok %s\n", name);
    passed++;
  } else {
    printf("FAIL %s: %s\n", name, detail);
    failed++;
  }
}

/* A (rank 1) and B (rank 2) of `bytes` each, i = checksum(A, B) pinned to rank 2 with `retries`,
 * c = checksum(i). With 16 MiB stores and 10 MiB buffers, rank 2 cannot pull A. */
static int run(dagr_ctx_t *ctx, long long bytes, int retries, uint64_t *out) {
  dagr_graph_t *g;
  dagr_params_t *p;
  dagr_graph_create(&g);
  dagr_params_create(&p);
  dagr_params_set_int(p, "bytes", bytes);
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.worker = 1;
  dagr_graph_add(g, "A", "fill", p, NULL, 0, &o);
  o.worker = 2;
  dagr_graph_add(g, "B", "fill", p, NULL, 0, &o);
  const char *ab[] = {"A", "B"};
  o.retries = retries;
  dagr_graph_add(g, "i", "checksum", NULL, ab, 2, &o);
  const char *ii[] = {"i"};
  dagr_graph_add(g, "c", "checksum", NULL, ii, 1, NULL);
  const char *keys[] = {"c"};
  dagr_result_t r;
  int rc = dagr_get(ctx, g, keys, 1, &r);
  if (rc == DAGR_OK) {
    memcpy(out, r.data, 8);
    dagr_result_release(&r);
  }
  dagr_params_free(p);
  dagr_graph_free(g);
  return rc;
}

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "store_full: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  if (dagr_nworkers(ctx) < 2) {
    printf("store_full needs 2 workers (mpirun -np 3)\n0 passed, 1 failed\n");
    dagr_set_exit_status(ctx, 1);
    dagr_finalize(ctx);
    return 1;
  }
  char detail[1200];
  uint64_t h1 = 0, h2 = 0;
  for (int retries = 0; retries <= 2; retries += 2) {
    int rc = run(ctx, 10 << 20, retries, &h1);
    snprintf(detail, sizeof detail, "status %d (%s), message: %s", rc, dagr_strerror(rc),
             dagr_last_error(ctx));
    char name[64];
    snprintf(name, sizeof name, "pull into a full store, retries=%d", retries);
    check(rc == DAGR_ESTORE_FULL && strstr(dagr_last_error(ctx), "'i'") &&
              strstr(dagr_last_error(ctx), "no room in the object store"),
          name, detail);
    /* Same context, data that fits: must compute, twice, the same value. */
    int a = run(ctx, 1 << 20, 0, &h1), b = run(ctx, 1 << 20, 0, &h2);
    snprintf(detail, sizeof detail, "status %d then %d, values 0x%016llx 0x%016llx: %s", a, b,
             (unsigned long long)h1, (unsigned long long)h2, dagr_last_error(ctx));
    snprintf(name, sizeof name, "context usable after it, retries=%d", retries);
    check(a == DAGR_OK && b == DAGR_OK && h1 == h2 && h1 != 0, name, detail);
  }
  printf("%d passed, %d failed\n", passed, failed);
  dagr_set_exit_status(ctx, failed ? 1 : 0);
  int frc = dagr_finalize(ctx);
  return failed || frc ? 1 : 0;
}
