/* array_ops.c: array expressions computed by dagr checked against serial C loops on the same data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagr.h"
#include "dagr/array.h"

static int passed, failed;
static dagr_ctx_t *ctx;

static void check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void check(int ok, const char *name, const char *fmt, ...) {
  if (ok) {
    printf("ok %s\n", name);
    passed++;
    return;
  }
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("FAIL %s: %s\n", name, buf);
  failed++;
}

/* Computes a and returns its data (caller frees), or NULL after reporting. */
static void *compute(dagr_array_t *a, const char *name, dagr_result_t *r) {
  int rc = dagr_array_compute(a, r);
  if (rc) {
    check(0, name, "compute failed: %s", dagr_last_error(ctx));
    return NULL;
  }
  return r->data;
}

static double rel(double a, double b) {
  if (isnan(a) && isnan(b)) return 0;
  /* Relative to the magnitude, or absolute near zero (cancellation makes relative error there
   * meaningless). */
  double d = fabs(a - b), m = fabs(b) > 1 ? fabs(b) : 1;
  return d / m;
}

/* Compares a computed float64 array with expected values. */
static void expect_f64(dagr_array_t *a, const char *name, const double *want, int64_t n,
                       double tol) {
  dagr_result_t r;
  const double *got = compute(a, name, &r);
  if (!got) return;
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (rel(got[i], want[i]) > tol) bad = i;
  check(r.nbytes == (size_t)n * 8 && bad < 0, name, "element %lld: %.17g vs expected %.17g",
        (long long)bad, bad >= 0 ? got[bad] : 0, bad >= 0 ? want[bad] : 0);
  dagr_result_release(&r);
}

#define R 100
#define C 70

int main(int argc, char **argv) {
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "array_ops: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  int64_t shape[2] = {R, C}, chunks[2] = {32, 25};
  dagr_array_t *x;
  dagr_array_random_uniform(ctx, 42, 2, shape, chunks, 0.0, 1.0, &x);
  dagr_result_t xr;
  double *xv = compute(x, "random_uniform", &xr);
  if (!xv) goto out;
  {
    double mn = 1, mx = 0;
    for (int i = 0; i < R * C; i++) mn = fmin(mn, xv[i]), mx = fmax(mx, xv[i]);
    check(mn >= 0 && mx < 1 && mx - mn > 0.9, "random_uniform range", "min %g max %g", mn, mx);
  }
  /* Same seed, other chunking: the values differ by chunk layout but not by rank count, so a
   * second compute of the same array must agree exactly. */
  {
    dagr_result_t again;
    double *v2 = compute(x, "random deterministic", &again);
    if (v2)
      check(memcmp(v2, xv, sizeof(double) * R * C) == 0, "random deterministic",
            "second compute differs");
    dagr_result_release(&again);
  }
  double *want = malloc(sizeof(double) * R * C);
  /* Fused elementwise chain. */
  {
    dagr_array_t *t1, *t2, *t3, *t4, *t5, *y;
    dagr_array_binary_scalar(DAGR_OP_MUL, x, 2, 0, &t1);
    dagr_array_binary_scalar(DAGR_OP_ADD, t1, 1, 0, &t2);
    dagr_array_binary_scalar(DAGR_OP_ADD, x, 3, 0, &t3);
    dagr_array_binary(DAGR_OP_DIV, t2, t3, &t4);
    dagr_array_unary(DAGR_OP_SQRT, x, &t5);
    dagr_array_binary(DAGR_OP_SUB, t4, t5, &y);
    for (int i = 0; i < R * C; i++) want[i] = (xv[i] * 2 + 1) / (xv[i] + 3) - sqrt(xv[i]);
    expect_f64(y, "fused (x*2+1)/(x+3)-sqrt(x)", want, R * C, 1e-15);
    size_t ntasks = 0;
    dagr_array_task_count(y, &ntasks);
    check(ntasks == 2 * 4 * 3, "blockwise fusion task count",
          "%zu tasks, expected %d "
          "(12 random + 12 fused)",
          ntasks, 24);
    dagr_array_release(t1);
    dagr_array_release(t2);
    dagr_array_release(t3);
    dagr_array_release(t4);
    dagr_array_release(t5);
    dagr_array_release(y);
  }
  /* Reductions along each axis and over everything. */
  {
    static const struct {
      int red;
      const char *name;
    } reds[] = {{DAGR_RED_SUM, "sum"},  {DAGR_RED_MEAN, "mean"}, {DAGR_RED_MIN, "min"},
                {DAGR_RED_MAX, "max"},  {DAGR_RED_VAR, "var"},   {DAGR_RED_STD, "std"},
                {DAGR_RED_PROD, "prod"}};
    for (size_t k = 0; k < sizeof reds / sizeof reds[0]; k++) {
      for (int axis = -1; axis < 2; axis++) {
        int ddof = reds[k].red == DAGR_RED_VAR || reds[k].red == DAGR_RED_STD ? 1 : 0;
        int64_t nout = axis < 0 ? 1 : (axis == 0 ? C : R),
                nred = axis < 0 ? R * C : (axis == 0 ? R : C);
        for (int64_t o = 0; o < nout; o++) {
          double s = 0, p = 1, mn = INFINITY, mx = -INFINITY;
          for (int64_t q = 0; q < nred; q++) {
            double v = axis < 0 ? xv[q] : (axis == 0 ? xv[q * C + o] : xv[o * C + q]);
            s += v, p *= v, mn = fmin(mn, v), mx = fmax(mx, v);
          }
          double mean = s / (double)nred, m2 = 0;
          for (int64_t q = 0; q < nred; q++) {
            double v = axis < 0 ? xv[q] : (axis == 0 ? xv[q * C + o] : xv[o * C + q]);
            m2 += (v - mean) * (v - mean);
          }
          double w = 0;
          switch (reds[k].red) {
          case DAGR_RED_SUM:
            w = s;
            break;
          case DAGR_RED_MEAN:
            w = mean;
            break;
          case DAGR_RED_MIN:
            w = mn;
            break;
          case DAGR_RED_MAX:
            w = mx;
            break;
          case DAGR_RED_VAR:
            w = m2 / (double)(nred - ddof);
            break;
          case DAGR_RED_STD:
            w = sqrt(m2 / (double)(nred - ddof));
            break;
          default:
            w = p;
            break;
          }
          want[o] = w;
        }
        dagr_array_t *r;
        int ax[1] = {axis};
        int rc = dagr_array_reduce(reds[k].red, x, axis < 0 ? 0 : 1, ax, 0, 3, ddof, &r);
        char name[64];
        snprintf(name, sizeof name, "%s axis=%d split_every=3", reds[k].name, axis);
        if (rc) {
          check(0, name, "%s", dagr_last_error(ctx));
          continue;
        }
        expect_f64(r, name, want, nout, reds[k].red == DAGR_RED_PROD ? 1e-9 : 1e-12);
        dagr_array_release(r);
      }
    }
  }
  /* argmin / argmax, any / all over a comparison, where. */
  {
    dagr_array_t *am, *gt, *any, *wh, *zero, *ws;
    int ax[1] = {1};
    dagr_array_reduce(DAGR_RED_ARGMAX, x, 1, ax, 0, 0, 0, &am);
    dagr_result_t r;
    const int64_t *got = compute(am, "argmax axis=1", &r);
    if (got) {
      int bad = -1;
      for (int i = 0; i < R && bad < 0; i++) {
        int best = 0;
        for (int j = 1; j < C; j++)
          if (xv[i * C + j] > xv[i * C + best]) best = j;
        if (got[i] != best) bad = i;
      }
      check(bad < 0 && r.dtype == DAGR_DTYPE_INT64, "argmax axis=1", "row %d", bad);
      dagr_result_release(&r);
    }
    dagr_array_t *amin;
    dagr_array_reduce(DAGR_RED_ARGMIN, x, 0, NULL, 0, 0, 0, &amin);
    got = compute(amin, "argmin flat", &r);
    if (got) {
      int best = 0;
      for (int i = 1; i < R * C; i++)
        if (xv[i] < xv[best]) best = i;
      check(got[0] == best, "argmin flat", "%lld vs %d", (long long)got[0], best);
      dagr_result_release(&r);
    }
    dagr_array_binary_scalar(DAGR_OP_GT, x, 0.999, 0, &gt);
    dagr_array_reduce(DAGR_RED_ANY, gt, 0, NULL, 0, 0, 0, &any);
    const uint8_t *b = compute(any, "any(x > 0.999)", &r);
    if (b) {
      int w = 0;
      for (int i = 0; i < R * C; i++) w |= xv[i] > 0.999;
      check(b[0] == w && r.dtype == DAGR_DTYPE_BOOL, "any(x > 0.999)", "%d vs %d", b[0], w);
      dagr_result_release(&r);
    }
    dagr_array_scalar(ctx, DAGR_DTYPE_FLOAT64, 0.0, &zero);
    dagr_array_where(gt, x, zero, &wh);
    dagr_array_reduce(DAGR_RED_SUM, wh, 0, NULL, 0, 0, 0, &ws);
    double s = 0;
    for (int i = 0; i < R * C; i++) s += xv[i] > 0.999 ? xv[i] : 0;
    expect_f64(ws, "sum(where(x > 0.999, x, 0))", &s, 1, 1e-12);
    dagr_array_release(am);
    dagr_array_release(amin);
    dagr_array_release(gt);
    dagr_array_release(any);
    dagr_array_release(zero);
    dagr_array_release(wh);
    dagr_array_release(ws);
  }
  /* Normalization with broadcasting: (x - mean(x, 0)) / std(x, 0). */
  {
    dagr_array_t *mu, *sd, *d, *nrm;
    int ax[1] = {0};
    dagr_array_reduce(DAGR_RED_MEAN, x, 1, ax, 0, 0, 0, &mu);
    dagr_array_reduce(DAGR_RED_STD, x, 1, ax, 0, 0, 0, &sd);
    dagr_array_binary(DAGR_OP_SUB, x, mu, &d);
    dagr_array_binary(DAGR_OP_DIV, d, sd, &nrm);
    for (int j = 0; j < C; j++) {
      double m = 0, v = 0;
      for (int i = 0; i < R; i++) m += xv[i * C + j];
      m /= R;
      for (int i = 0; i < R; i++) v += (xv[i * C + j] - m) * (xv[i * C + j] - m);
      v = sqrt(v / R);
      for (int i = 0; i < R; i++) want[i * C + j] = (xv[i * C + j] - m) / v;
    }
    expect_f64(nrm, "normalize (x - mean(x, 0)) / std(x, 0)", want, R * C, 1e-12);
    dagr_array_release(mu);
    dagr_array_release(sd);
    dagr_array_release(d);
    dagr_array_release(nrm);
  }
  /* Transpose and slicing. */
  {
    dagr_array_t *t, *s;
    dagr_array_transpose(x, NULL, &t);
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) want[j * R + i] = xv[i * C + j];
    expect_f64(t, "transpose x.T", want, R * C, 0);
    dagr_index_t idx[2] = {{0, 0, 1, 1, 1, 3, 90, 4}, {0, 0, 0, 0, 1, 0, 0, -1}};
    dagr_array_index(x, 2, idx, &s);
    int n = 0;
    for (int i = 3; i < 90; i += 4)
      for (int j = C - 1; j >= 0; j--) want[n++] = xv[i * C + j];
    expect_f64(s, "slice x[3:90:4, ::-1]", want, n, 0);
    dagr_array_release(s);
    dagr_index_t one[2] = {{1, -1, 0, 0, 0, 0, 0, 0}, {0, 0, 1, 1, 0, 10, 20, 0}};
    dagr_array_index(x, 2, one, &s);
    for (int j = 10; j < 20; j++) want[j - 10] = xv[(R - 1) * C + j];
    expect_f64(s, "slice x[-1, 10:20]", want, 10, 0);
    dagr_array_release(s);
    dagr_index_t oob[1] = {{1, R, 0, 0, 0, 0, 0, 0}};
    int rc = dagr_array_index(x, 1, oob, &s);
    check(rc == DAGR_EINVAL && strstr(dagr_last_error(ctx), "out of bounds"),
          "index out of range is an error", "rc %d: %s", rc, dagr_last_error(ctx));
    dagr_array_release(t);
  }
  /* Broadcast mismatch names the shapes. */
  {
    dagr_array_t *t, *bad;
    dagr_array_transpose(x, NULL, &t);
    int rc = dagr_array_binary(DAGR_OP_ADD, x, t, &bad);
    check(rc == DAGR_EINVAL && strstr(dagr_last_error(ctx), "(100, 70)") &&
              strstr(dagr_last_error(ctx), "broadcast"),
          "broadcast mismatch error", "rc %d: %s", rc, dagr_last_error(ctx));
    dagr_array_release(t);
  }
  /* Reductions through + / - and transposes: lowered to partial sums of x read in place (no
   * transposed copy, no x + x.T block), checked against serial loops and by task counts. */
  {
    enum { N = 90 };
    int64_t sh[2] = {N, N}, ch[2] = {40, 40};
    double *xs = malloc(sizeof(double) * N * N), *ys = malloc(sizeof(double) * N * N),
           *w = malloc(sizeof(double) * N * N);
    for (int i = 0; i < N * N; i++) {
      xs[i] = sin(0.37 * i) * 3 + 0.01 * i;
      ys[i] = cos(0.11 * i) - 0.002 * i;
    }
    dagr_array_t *X, *Y, *XT, *YT, *S, *M, *D, *E;
    dagr_array_from_buffer(ctx, xs, DAGR_DTYPE_FLOAT64, 2, sh, ch, &X);
    dagr_array_from_buffer(ctx, ys, DAGR_DTYPE_FLOAT64, 2, sh, ch, &Y);
    dagr_array_transpose(X, NULL, &XT);
    dagr_array_transpose(Y, NULL, &YT);
    int ax0[1] = {0}, ax1[1] = {1};
    /* (x + x.T).mean(axis=0) */
    dagr_array_binary(DAGR_OP_ADD, X, XT, &S);
    dagr_array_reduce(DAGR_RED_MEAN, S, 1, ax0, 0, 0, 0, &M);
    for (int j = 0; j < N; j++) {
      double t = 0;
      for (int i = 0; i < N; i++) t += xs[i * N + j] + xs[j * N + i];
      w[j] = t / N;
    }
    expect_f64(M, "(x + x.T).mean(axis=0) through the transpose", w, N, 1e-13);
    size_t nt = 0;
    dagr_array_task_count(M, &nt);
    /* 9 blocks of x, 9 column-sum and 9 row-sum partials, 3 finals (6 partials each). */
    check(nt == 9 + 18 + 3, "(x + x.T).mean(axis=0) reads x in place", "%zu tasks, expected 30",
          nt);
    /* (x - y.T + x).sum(axis=1) */
    dagr_array_binary(DAGR_OP_SUB, X, YT, &D);
    dagr_array_binary(DAGR_OP_ADD, D, X, &E);
    dagr_array_t *Sum1;
    dagr_array_reduce(DAGR_RED_SUM, E, 1, ax1, 0, 0, 0, &Sum1);
    for (int i = 0; i < N; i++) {
      double t = 0;
      for (int j = 0; j < N; j++) t += xs[i * N + j] - ys[j * N + i] + xs[i * N + j];
      w[i] = t;
    }
    expect_f64(Sum1, "(x - y.T + x).sum(axis=1) split into terms", w, N, 1e-13);
    /* x.T alone: sum, var with ddof through the transpose; argmax not rewritten. */
    dagr_array_t *TS, *TV, *TA, *TSk;
    dagr_array_reduce(DAGR_RED_SUM, XT, 1, ax0, 0, 0, 0, &TS);
    for (int j = 0; j < N; j++) {
      double t = 0;
      for (int i = 0; i < N; i++) t += xs[j * N + i];
      w[j] = t;
    }
    expect_f64(TS, "x.T.sum(axis=0) as row sums of x", w, N, 1e-13);
    nt = 0;
    dagr_array_task_count(TS, &nt);
    check(nt == 9 + 9 + 3, "x.T.sum(axis=0) has no transpose tasks", "%zu tasks, expected 21", nt);
    dagr_array_reduce(DAGR_RED_VAR, XT, 1, ax1, 0, 0, 1, &TV);
    for (int i = 0; i < N; i++) {
      double m = 0, q = 0;
      for (int j = 0; j < N; j++) m += xs[j * N + i];
      m /= N;
      for (int j = 0; j < N; j++) q += (xs[j * N + i] - m) * (xs[j * N + i] - m);
      w[i] = q / (N - 1);
    }
    expect_f64(TV, "x.T.var(axis=1, ddof=1) through the transpose", w, N, 1e-12);
    dagr_array_reduce(DAGR_RED_ARGMAX, XT, 1, ax0, 0, 0, 0, &TA);
    dagr_result_t ra;
    const int64_t *am = compute(TA, "x.T.argmax(axis=0)", &ra);
    if (am) {
      int bad = -1;
      for (int j = 0; j < N && bad < 0; j++) {
        int best = 0;
        for (int i = 1; i < N; i++)
          if (xs[j * N + i] > xs[j * N + best]) best = i;
        if (am[j] != best) bad = j;
      }
      check(bad < 0, "x.T.argmax(axis=0) (not rewritten)", "element %d", bad);
      dagr_result_release(&ra);
    }
    /* Keepdims: the kept axes' order decides; a 2-D all-axes sum through the transpose. */
    dagr_array_reduce(DAGR_RED_SUM, XT, 0, NULL, 1, 0, 0, &TSk);
    double tot = 0;
    for (int i = 0; i < N * N; i++) tot += xs[i];
    expect_f64(TSk, "x.T.sum(keepdims) through the transpose", &tot, 1, 1e-13);
    /* 3-D: perm (1,0,2) reducing axis 0 keeps axes in order (rewritten); perm (2,0,1) reducing
     * axis 1 would reorder them (not rewritten): both against loops. */
    {
      enum { A = 7, B = 9, K = 5 };
      int64_t s3[3] = {A, B, K}, c3[3] = {3, 4, 2};
      double *v3 = malloc(sizeof(double) * A * B * K);
      for (int i = 0; i < A * B * K; i++) v3[i] = sin(1.3 * i);
      dagr_array_t *V, *P1, *P2, *R1, *R2;
      dagr_array_from_buffer(ctx, v3, DAGR_DTYPE_FLOAT64, 3, s3, c3, &V);
      int p1[3] = {1, 0, 2}, p2[3] = {2, 0, 1};
      dagr_array_transpose(V, p1, &P1);                          /* shape (B, A, K) */
      dagr_array_transpose(V, p2, &P2);                          /* shape (K, A, B) */
      dagr_array_reduce(DAGR_RED_SUM, P1, 1, ax0, 0, 0, 0, &R1); /* (A, K): sum over b */
      dagr_array_reduce(DAGR_RED_SUM, P2, 1, ax1, 0, 0, 0, &R2); /* (K, B): sum over a */
      double w1[A * K], w2[K * B];
      for (int a = 0; a < A; a++)
        for (int k = 0; k < K; k++) {
          double t = 0;
          for (int b = 0; b < B; b++) t += v3[(a * B + b) * K + k];
          w1[a * K + k] = t;
        }
      for (int k = 0; k < K; k++)
        for (int b = 0; b < B; b++) {
          double t = 0;
          for (int a = 0; a < A; a++) t += v3[(a * B + b) * K + k];
          w2[k * B + b] = t;
        }
      expect_f64(R1, "3-D transpose (1,0,2) then sum(axis=0)", w1, A * K, 1e-13);
      expect_f64(R2, "3-D transpose (2,0,1) then sum(axis=1)", w2, K * B, 1e-13);
      dagr_array_release(R1);
      dagr_array_release(R2);
      dagr_array_release(P1);
      dagr_array_release(P2);
      dagr_array_release(V);
      free(v3);
    }
    dagr_array_release(TSk);
    dagr_array_release(TA);
    dagr_array_release(TV);
    dagr_array_release(TS);
    dagr_array_release(Sum1);
    dagr_array_release(E);
    dagr_array_release(D);
    dagr_array_release(M);
    dagr_array_release(S);
    dagr_array_release(YT);
    dagr_array_release(XT);
    dagr_array_release(Y);
    dagr_array_release(X);
    free(xs);
    free(ys);
    free(w);
  }
  /* Integer semantics: int64 arange sum exact, int32 wraps like NumPy, true division. */
  {
    dagr_array_t *ar, *s, *big, *dbl, *half;
    dagr_array_arange(ctx, 0, 1000001, 1, DAGR_DTYPE_INT64, 65536, &ar);
    dagr_array_reduce(DAGR_RED_SUM, ar, 0, NULL, 0, 0, 0, &s);
    dagr_result_t r;
    const int64_t *v = compute(s, "arange sum", &r);
    if (v) {
      check(v[0] == 500000500000LL && r.dtype == DAGR_DTYPE_INT64, "int64 arange sum exact", "%lld",
            (long long)v[0]);
      dagr_result_release(&r);
    }
    int32_t data[6] = {2000000000, -2000000000, 7, -7, 0, 1};
    int64_t sh[1] = {6}, ch[1] = {4};
    dagr_array_from_buffer(ctx, data, DAGR_DTYPE_INT32, 1, sh, ch, &big);
    dagr_array_binary_scalar(DAGR_OP_MUL, big, 2, 0, &dbl);
    const int32_t *w = compute(dbl, "int32 wraps", &r);
    if (w) {
      int ok = r.dtype == DAGR_DTYPE_INT32;
      for (int i = 0; i < 6; i++) ok &= w[i] == (int32_t)((uint32_t)data[i] * 2u);
      check(ok, "int32 multiply wraps like NumPy", "got %d %d", w[0], w[1]);
      dagr_result_release(&r);
    }
    dagr_array_binary_scalar(DAGR_OP_DIV, big, 2, 0, &half);
    const double *h = compute(half, "int32 / 2 is float64", &r);
    if (h) {
      check(r.dtype == DAGR_DTYPE_FLOAT64 && h[2] == 3.5 && h[3] == -3.5, "int / int is float64",
            "dtype %d, %g", r.dtype, h[2]);
      dagr_result_release(&r);
    }
    dagr_array_release(ar);
    dagr_array_release(s);
    dagr_array_release(big);
    dagr_array_release(dbl);
    dagr_array_release(half);
  }
  /* float32 stays float32; mean of float32 is float32. */
  {
    float f[10];
    for (int i = 0; i < 10; i++) f[i] = (float)i * 0.5f;
    int64_t sh[1] = {10}, ch[1] = {3};
    dagr_array_t *a, *m, *sq;
    dagr_array_from_buffer(ctx, f, DAGR_DTYPE_FLOAT32, 1, sh, ch, &a);
    dagr_array_reduce(DAGR_RED_MEAN, a, 0, NULL, 0, 0, 0, &m);
    dagr_array_unary(DAGR_OP_SQRT, a, &sq);
    dagr_result_t r;
    const float *v = compute(m, "float32 mean", &r);
    if (v) {
      check(r.dtype == DAGR_DTYPE_FLOAT32 && fabsf(v[0] - 2.25f) < 1e-6f, "float32 mean",
            "dtype %d value %g", r.dtype, (double)v[0]);
      dagr_result_release(&r);
    }
    v = compute(sq, "float32 sqrt", &r);
    if (v) {
      int ok = r.dtype == DAGR_DTYPE_FLOAT32;
      for (int i = 0; i < 10; i++) ok &= v[i] == sqrtf(f[i]);
      check(ok, "float32 sqrt rounds like NumPy", "dtype %d", r.dtype);
      dagr_result_release(&r);
    }
    dagr_array_release(a);
    dagr_array_release(m);
    dagr_array_release(sq);
  }
  /* NaN propagates through sum, min and max. */
  {
    double d[5] = {1, NAN, 3, 4, 5};
    int64_t sh[1] = {5}, ch[1] = {2};
    dagr_array_t *a, *s, *mx;
    dagr_array_from_buffer(ctx, d, DAGR_DTYPE_FLOAT64, 1, sh, ch, &a);
    dagr_array_reduce(DAGR_RED_SUM, a, 0, NULL, 0, 0, 0, &s);
    dagr_array_reduce(DAGR_RED_MAX, a, 0, NULL, 0, 0, 0, &mx);
    dagr_result_t r1, r2;
    const double *v1 = compute(s, "nan sum", &r1), *v2 = compute(mx, "nan max", &r2);
    if (v1 && v2) check(isnan(v1[0]) && isnan(v2[0]), "NaN propagates", "%g %g", v1[0], v2[0]);
    dagr_result_release(&r1);
    dagr_result_release(&r2);
    dagr_array_release(a);
    dagr_array_release(s);
    dagr_array_release(mx);
  }
  free(want);
  dagr_result_release(&xr);
out:
  dagr_array_release(x);
  printf("%d passed, %d failed\n", passed, failed);
  dagr_set_exit_status(ctx, failed ? 1 : 0);
  int frc = dagr_finalize(ctx);
  return failed || frc ? 1 : 0;
}
