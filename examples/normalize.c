/* normalize.c: example: (x - mean(x, 0)) / std(x, 0) of an HDF5 dataset written back to HDF5,
 * checked against a serial loop. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dagr.h"
#include "dagr/array.h"

#define ROWS 3000
#define COLS 400

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "normalize: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  const char *tmp = getenv("TMPDIR");
  char in[4096], out[4096];
  snprintf(in, sizeof in, "%s/normalize-in-%ld.h5", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  snprintf(out, sizeof out, "%s/normalize-out-%ld.h5", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  int64_t shape[2] = {ROWS, COLS}, chunks[2] = {750, 200};
  int status = 1, ax0[1] = {0};
  dagr_array_t *gen = NULL, *x = NULL, *mu = NULL, *sd = NULL, *d = NULL, *z = NULL, *back = NULL;
  dagr_result_t rx = {0}, rz = {0};
  /* Embedded data: a seeded random table (the same whatever the rank count). */
  if (dagr_array_random_normal(ctx, 7, 2, shape, chunks, 10.0, 3.0, &gen) ||
      dagr_array_store(gen, in, "/x", 4) || dagr_array_from_hdf5(ctx, in, "/x", NULL, &x) ||
      dagr_array_reduce(DAGR_RED_MEAN, x, 1, ax0, 0, 0, 0, &mu) ||
      dagr_array_reduce(DAGR_RED_STD, x, 1, ax0, 0, 0, 0, &sd) ||
      dagr_array_binary(DAGR_OP_SUB, x, mu, &d) || dagr_array_binary(DAGR_OP_DIV, d, sd, &z) ||
      dagr_array_store(z, out, "/z", 0) || dagr_array_from_hdf5(ctx, out, "/z", NULL, &back) ||
      dagr_array_compute(x, &rx) || dagr_array_compute(back, &rz)) {
    fprintf(stderr, "normalize: %s\n", dagr_last_error(ctx));
    goto out;
  }
  const double *xv = rx.data, *zv = rz.data;
  double worst = 0;
  for (int j = 0; j < COLS; j++) {
    double m = 0, v = 0;
    for (int i = 0; i < ROWS; i++) m += xv[i * COLS + j];
    m /= ROWS;
    for (int i = 0; i < ROWS; i++) v += (xv[i * COLS + j] - m) * (xv[i * COLS + j] - m);
    double s = sqrt(v / ROWS);
    for (int i = 0; i < ROWS; i++)
      worst = fmax(worst, fabs(zv[i * COLS + j] - (xv[i * COLS + j] - m) / s));
  }
  printf("normalize: %s:/x -> %s:/z (%d x %d) on %d rank(s); z[0][0] = %.6f; largest difference "
         "from a serial loop %.1e: %s\n",
         in, out, ROWS, COLS, dagr_nranks(ctx), zv[0], worst, worst < 1e-10 ? "OK" : "MISMATCH");
  status = worst < 1e-10 ? 0 : 1;
out:
  dagr_result_release(&rx);
  dagr_result_release(&rz);
  dagr_array_t *all[] = {gen, x, mu, sd, d, z, back};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dagr_array_release(all[i]);
  dagr_set_exit_status(ctx, status);
  return dagr_finalize(ctx) == DAGR_OK ? status : 1;
}
