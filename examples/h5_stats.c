/* h5_stats.c: example: column statistics (mean, std, min, max) of an HDF5 dataset, checked against
 * a serial loop. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dagr.h"
#include "dagr/array.h"

#define ROWS 2000
#define COLS 300

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "h5_stats: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  /* Embedded data: a deterministic table written to an HDF5 file first. */
  double *data = malloc(sizeof(double) * ROWS * COLS);
  for (int i = 0; i < ROWS; i++)
    for (int j = 0; j < COLS; j++)
      data[i * COLS + j] = j + sin(0.001 * i * (j + 1)) + 0.01 * ((i * 7919 + j * 104729) % 1000);
  const char *tmp = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/h5_stats-%ld.h5", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  int64_t shape[2] = {ROWS, COLS}, chunks[2] = {500, 100};
  dagr_array_t *src, *x, *st[4];
  int status = 1, ax0[1] = {0};
  if (dagr_array_from_buffer(ctx, data, DAGR_DTYPE_FLOAT64, 2, shape, chunks, &src) ||
      dagr_array_store(src, path, "/table", 4) ||
      dagr_array_from_hdf5(ctx, path, "/table", chunks, &x)) {
    fprintf(stderr, "h5_stats: %s\n", dagr_last_error(ctx));
    goto out;
  }
  static const int reds[4] = {DAGR_RED_MEAN, DAGR_RED_STD, DAGR_RED_MIN, DAGR_RED_MAX};
  static const char *names[4] = {"mean", "std", "min", "max"};
  double worst = 0;
  for (int k = 0; k < 4; k++) {
    dagr_result_t r;
    if (dagr_array_reduce(reds[k], x, 1, ax0, 0, 0, 0, &st[k]) || dagr_array_compute(st[k], &r)) {
      fprintf(stderr, "h5_stats: %s\n", dagr_last_error(ctx));
      goto out;
    }
    const double *v = r.data;
    for (int j = 0; j < COLS; j++) {
      double s = 0, mn = INFINITY, mx = -INFINITY, m2 = 0;
      for (int i = 0; i < ROWS; i++) {
        double e = data[i * COLS + j];
        s += e, mn = fmin(mn, e), mx = fmax(mx, e);
      }
      double mean = s / ROWS;
      for (int i = 0; i < ROWS; i++)
        m2 += (data[i * COLS + j] - mean) * (data[i * COLS + j] - mean);
      double want = k == 0 ? mean : k == 1 ? sqrt(m2 / ROWS) : k == 2 ? mn : mx;
      worst = fmax(worst, fabs(v[j] - want) / fmax(1, fabs(want)));
    }
    printf("h5_stats: column %-4s: col0 %.6f  col%d %.6f\n", names[k], v[0], COLS - 1, v[COLS - 1]);
    dagr_result_release(&r);
    dagr_array_release(st[k]);
  }
  printf("h5_stats: %s:/table (%d x %d) on %d rank(s); largest difference from a serial loop "
         "%.1e: %s\n",
         path, ROWS, COLS, dagr_nranks(ctx), worst, worst < 1e-12 ? "OK" : "MISMATCH");
  status = worst < 1e-12 ? 0 : 1;
  dagr_array_release(x);
out:
  dagr_array_release(src);
  free(data);
  dagr_set_exit_status(ctx, status);
  return dagr_finalize(ctx) == DAGR_OK ? status : 1;
}
