/* matmul.c: example: blocked C = A @ B of random matrices, checked against a serial loop. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dagr.h"
#include "dagr/array.h"

#define M 600
#define K 400
#define N 500

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "matmul: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  /* Embedded data: seeded random matrices (the same whatever the rank count), 4 x 4 blocks
   * each; A's column chunks match B's row chunks, as matmul requires. */
  int64_t ashape[2] = {M, K}, achunks[2] = {150, 100};
  int64_t bshape[2] = {K, N}, bchunks[2] = {100, 125};
  int status = 1;
  size_t ntasks = 0;
  dagr_array_t *a = NULL, *b = NULL, *c = NULL, *sum = NULL;
  dagr_result_t ra = {0}, rb = {0}, rc = {0}, rs = {0};
  double *ref = calloc((size_t)M * N, sizeof(double));
  double dsum = 0;
  if (dagr_array_random_uniform(ctx, 11, 2, ashape, achunks, 0.0, 1.0, &a) ||
      dagr_array_random_uniform(ctx, 12, 2, bshape, bchunks, -0.5, 1.5, &b) ||
      dagr_array_matmul(a, b, &c) || dagr_array_task_count(c, &ntasks) ||
      dagr_array_reduce(DAGR_RED_SUM, c, 0, NULL, 0, 0, 0, &sum) || dagr_array_compute(c, &rc) ||
      dagr_array_compute(sum, &rs) || dagr_result_float64(&rs, &dsum) ||
      dagr_array_compute(a, &ra) || dagr_array_compute(b, &rb)) {
    fprintf(stderr, "matmul: %s\n", dagr_last_error(ctx));
    goto out;
  }
  /* The serial reference: a naive triple loop (i, k, j order) on the computed A and B. */
  const double *av = ra.data, *bv = rb.data, *cv = rc.data;
  for (int i = 0; i < M; i++)
    for (int p = 0; p < K; p++) {
      double aip = av[i * K + p];
      for (int j = 0; j < N; j++) ref[i * N + j] += aip * bv[p * N + j];
    }
  /* Relative differences, scaled by sum_k |a_ik b_kj| (the size of the terms summed), so
   * entries that cancel to near 0 are judged fairly. */
  double worst = 0, trace = 0, rtrace = 0, rsum = 0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double scale = 0;
      for (int p = 0; p < K; p++) scale += fabs(av[i * K + p] * bv[p * N + j]);
      worst = fmax(worst, fabs(cv[i * N + j] - ref[i * N + j]) / fmax(scale, 1e-300));
      rsum += ref[i * N + j];
      if (i == j) trace += cv[i * N + j], rtrace += ref[i * N + j];
    }
  worst = fmax(worst, fabs(dsum - rsum) / fabs(rsum));
  int64_t nc[2];
  dagr_array_chunks(c, 0, NULL, &nc[0]);
  dagr_array_chunks(c, 1, NULL, &nc[1]);
  printf("matmul: C = A (%d x %d) @ B (%d x %d) on %d rank(s): C is %lld x %lld in %lld x %lld "
         "blocks, %zu tasks\n",
         M, K, K, N, dagr_nranks(ctx), (long long)rc.shape[0], (long long)rc.shape[1],
         (long long)nc[0], (long long)nc[1], ntasks);
  printf("matmul: C[0][0] = %.6f, C[%d][%d] = %.6f, trace %.6f (serial %.6f), sum %.6f (serial "
         "%.6f)\n",
         cv[0], M - 1, N - 1, cv[(M - 1) * N + N - 1], trace, rtrace, dsum, rsum);
  int ok = rc.ndim == 2 && rc.shape[0] == M && rc.shape[1] == N && worst <= 1e-12;
  printf("matmul: largest relative difference from a serial triple loop %.1e: %s\n", worst,
         ok ? "OK" : "MISMATCH");
  status = ok ? 0 : 1;
out:
  dagr_result_release(&ra);
  dagr_result_release(&rb);
  dagr_result_release(&rc);
  dagr_result_release(&rs);
  dagr_array_t *all[] = {a, b, c, sum};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dagr_array_release(all[i]);
  free(ref);
  dagr_set_exit_status(ctx, status);
  return dagr_finalize(ctx) == DAGR_OK ? status : 1;
}
