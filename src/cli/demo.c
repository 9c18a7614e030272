/* demo.c: `dagr demo`, the main job: a sample HDF5 field, column statistics, normalization and a
 * stencil smoothing. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "dagr/array.h"

/* The sample: a smooth 2-D field sin(2 pi i / N) * cos(2 pi j / M) plus uniform noise, float64,
 * stored gzip-compressed (N x M x 8 bytes: 256 MiB by default). */
#define DEMO_ROWS  4096
#define DEMO_COLS  8192
#define DEMO_CHUNK 1024

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(dagr_ctx_t *ctx, const char *what) {
  fprintf(stderr, "dagr demo: %s: %s\n", what, dagr_last_error(ctx));
  return 1;
}

/* Builds the sample field lazily. */
static int sample_field(dagr_ctx_t *ctx, int64_t n, int64_t m, int64_t ch, dagr_array_t **out) {
  dagr_array_t *ri, *rs, *ci, *cs, *zt, *colfield, *field, *noise, *t1, *t2;
  int64_t shape_t[2] = {m, n}, chunks_t[2] = {ch, ch}, shape[2] = {n, m}, chunks[2] = {ch, ch};
  int rc = dagr_array_arange(ctx, 0, (double)n, 1, DAGR_DTYPE_FLOAT64, ch, &ri);
  rc = rc ? rc : dagr_array_binary_scalar(DAGR_OP_MUL, ri, 2 * M_PI / (double)n, 0, &t1);
  rc = rc ? rc : dagr_array_unary(DAGR_OP_SIN, t1, &rs);
  rc = rc ? rc : dagr_array_arange(ctx, 0, (double)m, 1, DAGR_DTYPE_FLOAT64, ch, &ci);
  rc = rc ? rc : dagr_array_binary_scalar(DAGR_OP_MUL, ci, 2 * M_PI / (double)m, 0, &t2);
  rc = rc ? rc : dagr_array_unary(DAGR_OP_COS, t2, &cs);
  /* Row dependence through a transposed broadcast: (M, N) + (N,) varies along N. */
  rc = rc ? rc : dagr_array_zeros(ctx, DAGR_DTYPE_FLOAT64, 2, shape_t, chunks_t, &zt);
  rc = rc ? rc : dagr_array_binary(DAGR_OP_ADD, zt, rs, &colfield);
  dagr_array_t *rowfield = NULL;
  rc = rc ? rc : dagr_array_transpose(colfield, NULL, &rowfield);
  rc = rc ? rc : dagr_array_binary(DAGR_OP_MUL, rowfield, cs, &field);
  rc = rc ? rc : dagr_array_random_uniform(ctx, 2026, 2, shape, chunks, -0.1, 0.1, &noise);
  rc = rc ? rc : dagr_array_binary(DAGR_OP_ADD, field, noise, out);
  dagr_array_t *all[] = {ri, rs, ci, cs, zt, colfield, rowfield, field, noise, t1, t2};
  if (rc == DAGR_OK)
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dagr_array_release(all[i]);
  return rc;
}

int dagr_cli_demo(dagr_ctx_t *ctx, int argc, char **argv) {
  (void)argv;
  if (argc > 0) {
    fprintf(stderr, "dagr demo: takes no arguments (DAGR_DEMO_ROWS/COLS resize the sample)\n");
    return 2;
  }
  int64_t n = DEMO_ROWS, m = DEMO_COLS, ch = DEMO_CHUNK;
  const char *er = getenv("DAGR_DEMO_ROWS"), *ec = getenv("DAGR_DEMO_COLS");
  if (er) n = atoll(er);
  if (ec) m = atoll(ec);
  if (n < 8 || m < 8) {
    fprintf(stderr, "dagr demo: DAGR_DEMO_ROWS/COLS must be at least 8\n");
    return 2;
  }
  if (ch > n) ch = n;
  if (ch > m) ch = m;
  /* DAGR_DEMO_DIR: a directory every node sees (workers of all nodes write part files there);
   * TMPDIR is often node-local on clusters. */
  const char *tmp = getenv("DAGR_DEMO_DIR");
  if (!tmp || !*tmp) tmp = getenv("TMPDIR");
  char dir[4096], in[4200], out[4200];
  snprintf(dir, sizeof dir, "%s/dagr-demo-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  if (mkdir(dir, 0777) != 0) {
    fprintf(stderr, "dagr demo: cannot create '%s': %s\n", dir, strerror(errno));
    return 1;
  }
  snprintf(in, sizeof in, "%s/field.h5", dir);
  snprintf(out, sizeof out, "%s/results.h5", dir);
  printf("dagr demo on %d rank(s), %d worker pool(s)\n", dagr_nranks(ctx), dagr_nworkers(ctx));

  double t0 = now();
  dagr_array_t *gen;
  if (sample_field(ctx, n, m, ch, &gen)) return fail(ctx, "building the sample");
  if (dagr_array_store(gen, in, "/field", 4)) return fail(ctx, "writing the sample");
  dagr_array_release(gen);
  double t_gen = now() - t0;
  printf("  1. wrote a %lld x %lld float64 field (%.0f MiB, gzip) to %s:/field in %.2f s\n",
         (long long)n, (long long)m, (double)(n * m * 8) / 1048576.0, in, t_gen);

  t0 = now();
  dagr_array_t *x, *mu, *sd, *d, *nrm;
  int ax0[1] = {0};
  if (dagr_array_from_hdf5(ctx, in, "/field", NULL, &x) ||
      dagr_array_reduce(DAGR_RED_MEAN, x, 1, ax0, 0, 0, 0, &mu) ||
      dagr_array_reduce(DAGR_RED_STD, x, 1, ax0, 0, 0, 0, &sd))
    return fail(ctx, "column statistics");
  dagr_result_t rmu, rsd;
  if (dagr_array_compute(mu, &rmu) || dagr_array_compute(sd, &rsd))
    return fail(ctx, "column statistics");
  double t_stats = now() - t0;
  const double *pm = rmu.data, *ps = rsd.data;
  printf("  2. per-column mean and std of %lld columns in %.2f s: column 0 mean %.6f std %.6f, "
         "column %lld mean %.6f std %.6f\n",
         (long long)m, t_stats, pm[0], ps[0], (long long)(m / 2), pm[m / 2], ps[m / 2]);
  dagr_result_release(&rmu);
  dagr_result_release(&rsd);

  t0 = now();
  if (dagr_array_binary(DAGR_OP_SUB, x, mu, &d) || dagr_array_binary(DAGR_OP_DIV, d, sd, &nrm) ||
      dagr_array_store(nrm, out, "/normalized", 0))
    return fail(ctx, "normalizing");
  double t_norm = now() - t0;
  printf("  3. normalized field (x - mean) / std written to %s:/normalized in %.2f s\n", out,
         t_norm);

  t0 = now();
  dagr_array_t *sm, *chk;
  int64_t depth[2] = {1, 1};
  /* array.smooth5 is the built-in 5-point mean; map_overlap runs it fused (ghost cells read
   * straight from the neighbouring chunks, one task per chunk). */
  if (dagr_array_map_overlap("array.smooth5", x, depth, DAGR_BOUNDARY_REFLECT, 0,
                             DAGR_DTYPE_FLOAT64, &sm) ||
      dagr_array_store(sm, out, "/smoothed", 0))
    return fail(ctx, "smoothing");
  double t_smooth = now() - t0;
  printf("  4. 5-point stencil smoothing (map_overlap, depth 1, reflect) written to "
         "%s:/smoothed in %.2f s\n",
         out, t_smooth);

  /* Checks against direct computations on the data read back. */
  dagr_array_t *nm, *back;
  dagr_result_t rn;
  int ok = 1;
  if (dagr_array_from_hdf5(ctx, out, "/normalized", NULL, &back) ||
      dagr_array_reduce(DAGR_RED_MEAN, back, 1, ax0, 0, 0, 0, &nm) || dagr_array_compute(nm, &rn))
    return fail(ctx, "checking");
  double worst = 0;
  for (int64_t j = 0; j < m; j++) worst = fmax(worst, fabs(((const double *)rn.data)[j]));
  ok &= worst < 1e-9;
  printf("  check: every normalized column has mean 0 (largest |mean| %.1e): %s\n", worst,
         worst < 1e-9 ? "OK" : "MISMATCH");
  dagr_result_release(&rn);
  dagr_array_t *s1, *s2, *diff, *mx;
  if (dagr_array_from_hdf5(ctx, out, "/smoothed", NULL, &chk) ||
      dagr_array_binary(DAGR_OP_SUB, chk, x, &diff) || dagr_array_unary(DAGR_OP_ABS, diff, &s1) ||
      dagr_array_reduce(DAGR_RED_MAX, s1, 0, NULL, 0, 0, 0, &mx) || dagr_array_compute(mx, &rn))
    return fail(ctx, "checking");
  double dmax = ((const double *)rn.data)[0];
  /* Smoothing removes most of the +-0.1 noise but stays close to the field. */
  ok &= dmax > 0 && dmax < 0.25;
  printf("  check: smoothing moved values by at most %.3f (noise amplitude 0.1): %s\n", dmax,
         dmax > 0 && dmax < 0.25 ? "OK" : "MISMATCH");
  dagr_result_release(&rn);
  s2 = NULL;
  dagr_array_t *rel[] = {x, mu, sd, d, nrm, sm, chk, nm, back, s1, s2, diff, mx};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) dagr_array_release(rel[i]);
  printf("  total %.2f s; outputs: %s (and %s.parts/, the per-worker data files)\n",
         t_gen + t_stats + t_norm + t_smooth, out, out);
  printf("  result: %s\n", ok ? "OK" : "MISMATCH");
  return ok ? 0 : 1;
}
