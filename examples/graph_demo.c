/* graph_demo.c: example driver: a user kernel integrates 4/(1+x^2) in chunks, a tree of adds sums
 * them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dagr.h"

/* A user kernel: registered at load on every rank, found by name in the graph. */
DAGR_KERNEL(pi_part) {
  int64_t lo, hi, n;
  if (dagr_kernel_param_int(k, "lo", &lo) || dagr_kernel_param_int(k, "hi", &hi) ||
      dagr_kernel_param_int(k, "n", &n))
    return dagr_kernel_fail(k, "pi_part needs integer params lo, hi, n");
  double s = 0, h = 1.0 / (double)n;
  for (int64_t i = lo; i < hi; i++) {
    double x = ((double)i + 0.5) * h;
    s += 4.0 / (1.0 + x * x);
  }
  return dagr_kernel_output_float64(k, s * h);
}

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "graph_demo: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  const int64_t n = 20000000, chunks = 256;
  dagr_graph_t *g;
  dagr_graph_create(&g);
  char key[64];
  char keys[256][32];
  const char *parts[256];
  for (int64_t c = 0; c < chunks; c++) {
    dagr_params_t *p;
    dagr_params_create(&p);
    dagr_params_set_int(p, "lo", c * n / chunks);
    dagr_params_set_int(p, "hi", (c + 1) * n / chunks);
    dagr_params_set_int(p, "n", n);
    snprintf(keys[c], sizeof keys[c], "('pi_part', %lld)", (long long)c);
    parts[c] = keys[c];
    dagr_graph_add(g, keys[c], "pi_part", p, NULL, 0, NULL);
    dagr_params_free(p);
  }
  /* Sum in groups of 16, then the groups: a two-level tree like dask's split_every. */
  const char *groups[16];
  char gkeys[16][32];
  for (int j = 0; j < 16; j++) {
    snprintf(gkeys[j], sizeof gkeys[j], "('sum', %d)", j);
    groups[j] = gkeys[j];
    dagr_graph_add(g, gkeys[j], "add", NULL, parts + 16 * j, 16, NULL);
  }
  snprintf(key, sizeof key, "pi");
  dagr_graph_add(g, key, "add", NULL, groups, 16, NULL);

  const char *want[1] = {"pi"};
  dagr_result_t res;
  int rc = dagr_get(ctx, g, want, 1, &res);
  int status = 0;
  if (rc) {
    fprintf(stderr, "graph_demo: %s\n", dagr_last_error(ctx));
    status = 1;
  } else {
    double pi = 0, serial = 0, h = 1.0 / (double)n;
    dagr_result_float64(&res, &pi);
    for (int64_t c = 0; c < chunks; c++) {
      double s = 0;
      for (int64_t i = c * n / chunks; i < (c + 1) * n / chunks; i++) {
        double x = ((double)i + 0.5) * h;
        s += 4.0 / (1.0 + x * x);
      }
      serial += s * h;
    }
    double rel = fabs(pi - serial) / serial;
    printf("graph_demo: pi ~= %.15f on %d rank(s); serial %.15f; relative difference %.1e; "
           "error vs M_PI %.1e: %s\n",
           pi, dagr_nranks(ctx), serial, rel, fabs(pi - M_PI), rel < 1e-12 ? "OK" : "MISMATCH");
    status = rel < 1e-12 ? 0 : 1;
    dagr_result_release(&res);
  }
  dagr_graph_free(g);
  dagr_set_exit_status(ctx, status);
  return dagr_finalize(ctx) == DAGR_OK ? status : 1;
}
