/* array_compute.c: matmul, map_blocks and map_overlap checked against serial C on the same data. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagr.h"
#include "dagr/array.h"

static int passed, failed;
static dagr_ctx_t *ctx;

static void check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
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

/* ---- user kernels ---------------------------------------------------------------------- */

/* 2*x+1 on a float64 block. */
DAGR_KERNEL(test_affine) {
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || v.dtype != DAGR_DTYPE_FLOAT64)
    return dagr_kernel_fail(k, "test_affine needs a float64 block");
  double *o;
  if (dagr_kernel_output(k, v.nbytes, v.dtype, v.ndim, v.shape, (void **)&o))
    return dagr_kernel_fail(k, "no room");
  const double *x = v.data;
  for (size_t i = 0; i < v.nbytes / 8; i++) o[i] = 2 * x[i] + 1;
  return DAGR_OK;
}

/* x * y (float64) of two blocks, output int64 floor: checks n inputs and a dtype change. */
DAGR_KERNEL(test_mulfloor) {
  dagr_view_t a, b;
  if (dagr_kernel_ninputs(k) != 2 || dagr_kernel_input(k, 0, &a) || dagr_kernel_input(k, 1, &b))
    return dagr_kernel_fail(k, "test_mulfloor needs 2 inputs");
  int64_t *o;
  if (dagr_kernel_output(k, a.nbytes, DAGR_DTYPE_INT64, a.ndim, a.shape, (void **)&o))
    return dagr_kernel_fail(k, "no room");
  const double *x = a.data, *y = b.data;
  for (size_t i = 0; i < a.nbytes / 8; i++) o[i] = (int64_t)floor(100 * x[i] * y[i]);
  return DAGR_OK;
}

/* Returns a block one element shorter along axis 0: a wrong shape. */
DAGR_KERNEL(test_badshape) {
  dagr_view_t v;
  dagr_kernel_input(k, 0, &v);
  int64_t shape[DAGR_MAX_NDIM];
  memcpy(shape, v.shape, sizeof shape);
  if (v.ndim > 0 && shape[0] > 0) shape[0]--;
  void *o;
  if (dagr_kernel_output(k, 0, v.dtype, v.ndim, shape, &o)) return dagr_kernel_fail(k, "no room");
  return DAGR_OK;
}

/* n-d float64 smoothing: cells whose +-1 neighbours along every axis exist in the block get the
 * mean of themselves and those 2*ndim neighbours; the block's outermost cells are copied. Used
 * both as a map_overlap kernel and, on the whole padded array, as the serial reference. */
static void avg_nd(const double *x, double *o, int nd, const int64_t *shape) {
  int64_t n = 1, st[DAGR_MAX_NDIM];
  for (int d = nd - 1; d >= 0; d--) {
    st[d] = n;
    n *= shape[d];
  }
  int64_t j[DAGR_MAX_NDIM] = {0};
  for (int64_t e = 0; e < n; e++) {
    int inner = 1;
    for (int d = 0; d < nd; d++) inner &= j[d] > 0 && j[d] < shape[d] - 1;
    if (inner) {
      double s = x[e];
      for (int d = 0; d < nd; d++) s += x[e - st[d]] + x[e + st[d]];
      o[e] = s / (2 * nd + 1);
    } else {
      o[e] = x[e];
    }
    for (int d = nd - 1; d >= 0; d--) {
      if (++j[d] < shape[d]) break;
      j[d] = 0;
    }
  }
}

DAGR_KERNEL(test_avg) {
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || v.dtype != DAGR_DTYPE_FLOAT64)
    return dagr_kernel_fail(k, "test_avg needs a float64 block");
  double *o;
  if (dagr_kernel_output(k, v.nbytes, v.dtype, v.ndim, v.shape, (void **)&o))
    return dagr_kernel_fail(k, "no room");
  avg_nd(v.data, o, v.ndim, v.shape);
  return DAGR_OK;
}

/* 2-D (2r+1)^2 box mean with r = 2 (reads the corner ghost cells too); the outermost r cells
 * are copied. */
static void box2d(const double *x, double *o, const int64_t *shape) {
  const int r = 2;
  for (int64_t i = 0; i < shape[0]; i++)
    for (int64_t j = 0; j < shape[1]; j++) {
      if (i < r || j < r || i >= shape[0] - r || j >= shape[1] - r) {
        o[i * shape[1] + j] = x[i * shape[1] + j];
        continue;
      }
      double s = 0;
      for (int a = -r; a <= r; a++)
        for (int b = -r; b <= r; b++) s += x[(i + a) * shape[1] + j + b];
      o[i * shape[1] + j] = s / 25;
    }
}

DAGR_KERNEL(test_box) {
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || v.dtype != DAGR_DTYPE_FLOAT64 || v.ndim != 2)
    return dagr_kernel_fail(k, "test_box needs a 2-D float64 block");
  double *o;
  if (dagr_kernel_output(k, v.nbytes, v.dtype, v.ndim, v.shape, (void **)&o))
    return dagr_kernel_fail(k, "no room");
  box2d(v.data, o, v.shape);
  return DAGR_OK;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static double *rand_f64(int64_t n) {
  double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) v[i] = urand();
  return v;
}

static dagr_array_t *mk(const void *data, int dt, int nd, const int64_t *shape,
                        const int64_t *chunks) {
  dagr_array_t *a = NULL;
  if (dagr_array_from_buffer(ctx, data, dt, nd, shape, chunks, &a))
    fprintf(stderr, "from_buffer: %s\n", dagr_last_error(ctx));
  return a;
}

/* Computes a and compares it as doubles with want (relative tolerance, absolute near 0). */
static void expect(dagr_array_t *a, const char *name, int dtype, const double *want, int64_t n,
                   double tol) {
  if (!a) {
    check(0, name, "no array: %s", dagr_last_error(ctx));
    return;
  }
  dagr_result_t r;
  int rc = dagr_array_compute(a, &r);
  if (rc) {
    check(0, name, "compute failed: %s", dagr_last_error(ctx));
    return;
  }
  size_t es = dagr_dtype_size(dtype);
  if (r.dtype != dtype || r.nbytes != (size_t)n * es) {
    check(0, name, "got %zu bytes of %s, expected %lld of %s", r.nbytes, dagr_dtype_name(r.dtype),
          (long long)n, dagr_dtype_name(dtype));
    dagr_result_release(&r);
    return;
  }
  int64_t bad = -1;
  double got = 0;
  for (int64_t i = 0; i < n && bad < 0; i++) {
    double g = dtype == DAGR_DTYPE_FLOAT32 ? ((float *)r.data)[i]
               : dtype == DAGR_DTYPE_INT64 ? (double)((int64_t *)r.data)[i]
                                           : ((double *)r.data)[i];
    double m = fabs(want[i]) > 1 ? fabs(want[i]) : 1;
    if (!(fabs(g - want[i]) <= tol * m)) bad = i, got = g;
  }
  check(bad < 0, name, "element %lld: %.17g vs expected %.17g", (long long)bad, got,
        bad >= 0 ? want[bad] : 0);
  dagr_result_release(&r);
}

static void expect_error(int rc, int want, const char *name, const char *needle1,
                         const char *needle2) {
  const char *msg = dagr_last_error(ctx);
  check(rc == want && strstr(msg, needle1) && (!needle2 || strstr(msg, needle2)), name,
        "status %d (wanted %d), message '%s'", rc, want, msg);
}

/* ---- matmul ------------------------------------------------------------------------------ */

static void naive(const double *a, const double *b, double *c, int64_t m, int64_t k, int64_t n) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t q = 0; q < k; q++) s += a[i * k + q] * b[q * n + j];
      c[i * n + j] = s;
    }
}

static void test_matmul_case(const char *label, int64_t m, int64_t k, int64_t n, int64_t cm,
                             int64_t ck, int64_t cn) {
  double *a = rand_f64(m * k), *b = rand_f64(k * n), *c = malloc(sizeof(double) * (size_t)(m * n));
  naive(a, b, c, m, k, n);
  int64_t sa[2] = {m, k}, sb[2] = {k, n}, ca[2] = {cm, ck}, cb[2] = {ck, cn};
  dagr_array_t *A = mk(a, DAGR_DTYPE_FLOAT64, 2, sa, ca), *B = mk(b, DAGR_DTYPE_FLOAT64, 2, sb, cb),
               *C = NULL;
  char name[128];
  snprintf(name, sizeof name, "matmul float64 %s", label);
  int rc = dagr_array_matmul(A, B, &C);
  if (rc)
    check(0, name, "%s", dagr_last_error(ctx));
  else
    expect(C, name, DAGR_DTYPE_FLOAT64, c, m * n, 1e-12);
  /* float32 of the same values. */
  float *af = malloc(sizeof(float) * (size_t)(m * k)),
        *bf = malloc(sizeof(float) * (size_t)(k * n));
  double *bo = malloc(sizeof(double) * (size_t)(k * n > 0 ? k * n : 1));
  memcpy(bo, b, sizeof(double) * (size_t)(k * n));
  for (int64_t i = 0; i < m * k; i++) af[i] = (float)a[i], a[i] = af[i];
  for (int64_t i = 0; i < k * n; i++) bf[i] = (float)b[i], b[i] = bf[i];
  naive(a, b, c, m, k, n);
  dagr_array_t *Af = mk(af, DAGR_DTYPE_FLOAT32, 2, sa, ca),
               *Bf = mk(bf, DAGR_DTYPE_FLOAT32, 2, sb, cb), *Cf = NULL, *Cm = NULL;
  snprintf(name, sizeof name, "matmul float32 %s", label);
  if (dagr_array_matmul(Af, Bf, &Cf))
    check(0, name, "%s", dagr_last_error(ctx));
  else
    expect(Cf, name, DAGR_DTYPE_FLOAT32, c, m * n, 1e-5);
  /* float32 @ float64 promotes to float64. */
  snprintf(name, sizeof name, "matmul float32@float64 %s", label);
  if (dagr_array_matmul(Af, B, &Cm))
    check(0, name, "%s", dagr_last_error(ctx));
  else {
    naive(a, bo, c, m, k, n); /* a holds af's values, bo the original float64 b */
    expect(Cm, name, DAGR_DTYPE_FLOAT64, c, m * n, 1e-12);
  }
  free(bo);
  dagr_array_release(A);
  dagr_array_release(B);
  dagr_array_release(C);
  dagr_array_release(Af);
  dagr_array_release(Bf);
  dagr_array_release(Cf);
  dagr_array_release(Cm);
  free(a);
  free(b);
  free(c);
  free(af);
  free(bf);
}

static void test_matmul(void) {
  test_matmul_case("37x29 @ 29x23 ragged chunks", 37, 29, 23, 10, 7, 6);
  test_matmul_case("20x50 @ 50x13 (10 inner blocks: tree)", 20, 50, 13, 7, 5, 4);
  test_matmul_case("one block", 9, 8, 7, -1, -1, -1);
  test_matmul_case("inner length 0", 4, 0, 3, 2, 1, 2);
  /* int32 @ int64: float64 results, exact here. */
  {
    int64_t m = 11, k = 13, n = 9;
    int32_t *a = malloc(sizeof(int32_t) * (size_t)(m * k));
    int64_t *b = malloc(sizeof(int64_t) * (size_t)(k * n));
    double *ad = malloc(sizeof(double) * (size_t)(m * k)),
           *bd = malloc(sizeof(double) * (size_t)(k * n)),
           *c = malloc(sizeof(double) * (size_t)(m * n));
    for (int64_t i = 0; i < m * k; i++) a[i] = (int32_t)(urand() * 1000), ad[i] = a[i];
    for (int64_t i = 0; i < k * n; i++) b[i] = (int64_t)(urand() * 100000), bd[i] = (double)b[i];
    naive(ad, bd, c, m, k, n);
    int64_t sa[2] = {m, k}, sb[2] = {k, n}, ca[2] = {4, 5}, cb[2] = {5, 3};
    dagr_array_t *A = mk(a, DAGR_DTYPE_INT32, 2, sa, ca), *B = mk(b, DAGR_DTYPE_INT64, 2, sb, cb),
                 *C = NULL;
    if (dagr_array_matmul(A, B, &C))
      check(0, "matmul int32@int64", "%s", dagr_last_error(ctx));
    else
      expect(C, "matmul int32@int64 -> float64 (exact)", DAGR_DTYPE_FLOAT64, c, m * n, 0);
    /* Vector cases: v @ B, A @ v, v @ v. */
    int64_t sv[1] = {k}, cv[1] = {5};
    double *v = rand_f64(k), *r = malloc(sizeof(double) * (size_t)(m > n ? m : n));
    dagr_array_t *V = mk(v, DAGR_DTYPE_FLOAT64, 1, sv, cv),
                 *Ad = mk(ad, DAGR_DTYPE_FLOAT64, 2, sa, ca),
                 *Bd = mk(bd, DAGR_DTYPE_FLOAT64, 2, sb, cb), *vb = NULL, *av = NULL, *vv = NULL;
    naive(v, bd, r, 1, k, n);
    if (dagr_array_matmul(V, Bd, &vb) == DAGR_OK) {
      int nd = -1;
      int64_t sh[DAGR_MAX_NDIM];
      dagr_array_info(vb, NULL, &nd, sh);
      check(nd == 1 && sh[0] == n, "matmul vector @ matrix shape", "ndim %d", nd);
      expect(vb, "matmul vector @ matrix", DAGR_DTYPE_FLOAT64, r, n, 1e-12);
    } else {
      check(0, "matmul vector @ matrix", "%s", dagr_last_error(ctx));
    }
    naive(ad, v, r, m, k, 1);
    if (dagr_array_matmul(Ad, V, &av) == DAGR_OK)
      expect(av, "matmul matrix @ vector", DAGR_DTYPE_FLOAT64, r, m, 1e-12);
    else
      check(0, "matmul matrix @ vector", "%s", dagr_last_error(ctx));
    naive(v, v, r, 1, k, 1);
    if (dagr_array_matmul(V, V, &vv) == DAGR_OK) {
      int nd = -1;
      dagr_array_info(vv, NULL, &nd, NULL);
      check(nd == 0, "matmul vector @ vector is 0-d", "ndim %d", nd);
      expect(vv, "matmul vector @ vector (dot)", DAGR_DTYPE_FLOAT64, r, 1, 1e-12);
    } else {
      check(0, "matmul vector @ vector", "%s", dagr_last_error(ctx));
    }
    /* Errors. */
    dagr_array_t *bad = NULL, *X = NULL;
    int64_t sx[2] = {12, 9}, cx[2] = {5, 3};
    double *xd = rand_f64(12 * 9);
    X = mk(xd, DAGR_DTYPE_FLOAT64, 2, sx, cx);
    expect_error(dagr_array_matmul(Ad, X, &bad), DAGR_EINVAL, "matmul inner mismatch names shapes",
                 "(11, 13)", "(12, 9)");
    int64_t cb2[2] = {4, 3};
    dagr_array_t *B2 = mk(bd, DAGR_DTYPE_FLOAT64, 2, sb, cb2);
    expect_error(dagr_array_matmul(Ad, B2, &bad), DAGR_EINVAL, "matmul chunk mismatch asks rechunk",
                 "rechunk", NULL);
    int64_t s3[3] = {2, 3, 4};
    dagr_array_t *T3 = NULL;
    dagr_array_zeros(ctx, DAGR_DTYPE_FLOAT64, 3, s3, NULL, &T3);
    expect_error(dagr_array_matmul(T3, Ad, &bad), DAGR_EINVAL, "matmul 3-D operand refused", "1-D",
                 NULL);
    size_t nt = 0;
    dagr_array_task_count(C, &nt);
    /* A: 3x3 blocks, B: 3x3 blocks, C: 3x3 fused tasks. */
    check(nt == 9 + 9 + 9, "matmul task count (one task per output block)", "%zu tasks", nt);
    dagr_array_release(T3);
    dagr_array_release(B2);
    dagr_array_release(X);
    free(xd);
    dagr_array_release(V);
    dagr_array_release(Ad);
    dagr_array_release(Bd);
    dagr_array_release(vb);
    dagr_array_release(av);
    dagr_array_release(vv);
    dagr_array_release(A);
    dagr_array_release(B);
    dagr_array_release(C);
    free(v);
    free(r);
    free(a);
    free(b);
    free(ad);
    free(bd);
    free(c);
  }
}

/* ---- map_blocks -------------------------------------------------------------------------- */

static void test_map_blocks(void) {
  int64_t shape[2] = {31, 17}, chunks[2] = {8, 5}, n = 31 * 17;
  double *x = rand_f64(n), *y = rand_f64(n), *w = malloc(sizeof(double) * (size_t)n);
  dagr_array_t *X = mk(x, DAGR_DTYPE_FLOAT64, 2, shape, chunks),
               *Y = mk(y, DAGR_DTYPE_FLOAT64, 2, shape, chunks), *R = NULL, *M = NULL, *B = NULL;
  for (int64_t i = 0; i < n; i++) w[i] = 2 * x[i] + 1;
  if (dagr_array_map_blocks("test_affine", 1, &X, DAGR_DTYPE_FLOAT64, &R) == DAGR_OK)
    expect(R, "map_blocks 2*x+1", DAGR_DTYPE_FLOAT64, w, n, 0);
  else
    check(0, "map_blocks 2*x+1", "%s", dagr_last_error(ctx));
  dagr_array_t *two[2] = {X, Y};
  for (int64_t i = 0; i < n; i++) w[i] = floor(100 * x[i] * y[i]);
  if (dagr_array_map_blocks("test_mulfloor", 2, two, DAGR_DTYPE_INT64, &M) == DAGR_OK)
    expect(M, "map_blocks two inputs, int64 output", DAGR_DTYPE_INT64, w, n, 0);
  else
    check(0, "map_blocks two inputs", "%s", dagr_last_error(ctx));
  dagr_array_t *bad = NULL;
  expect_error(dagr_array_map_blocks("no_such_kernel", 1, &X, DAGR_DTYPE_FLOAT64, &bad),
               DAGR_EUNKNOWN_KERNEL, "map_blocks unknown kernel named", "no_such_kernel", NULL);
  int64_t c2[2] = {8, 4};
  dagr_array_t *Z = mk(y, DAGR_DTYPE_FLOAT64, 2, shape, c2);
  dagr_array_t *xz[2] = {X, Z};
  expect_error(dagr_array_map_blocks("test_mulfloor", 2, xz, DAGR_DTYPE_INT64, &bad), DAGR_EINVAL,
               "map_blocks differently chunked operands", "operand 1", NULL);
  if (dagr_array_map_blocks("test_badshape", 1, &X, DAGR_DTYPE_FLOAT64, &B) == DAGR_OK) {
    dagr_result_t r;
    int rc = dagr_array_compute(B, &r);
    expect_error(rc, DAGR_EKERNEL, "map_blocks wrong output shape fails at compute",
                 "test_badshape", "must return");
    if (rc == DAGR_OK) dagr_result_release(&r);
  } else {
    check(0, "map_blocks wrong shape", "%s", dagr_last_error(ctx));
  }
  dagr_array_release(X);
  dagr_array_release(Y);
  dagr_array_release(Z);
  dagr_array_release(R);
  dagr_array_release(M);
  dagr_array_release(B);
  free(x);
  free(y);
  free(w);
}

/* ---- map_overlap ------------------------------------------------------------------------- */

static const char *bname[] = {"none", "constant", "periodic", "reflect"};

/* The whole array padded by depth per the boundary mode (none: not padded). */
static double *pad_global(const double *x, int nd, const int64_t *shape, const int64_t *depth,
                          int boundary, double cval, int64_t *pshape) {
  int64_t n = 1, st[DAGR_MAX_NDIM] = {0}, s = 1;
  for (int d = nd - 1; d >= 0; d--) {
    st[d] = s;
    s *= shape[d];
  }
  for (int d = 0; d < nd; d++) {
    pshape[d] = shape[d] + (boundary == DAGR_BOUNDARY_NONE ? 0 : 2 * depth[d]);
    n *= pshape[d];
  }
  double *p = malloc(sizeof(double) * (size_t)n);
  int64_t j[DAGR_MAX_NDIM] = {0};
  for (int64_t e = 0; e < n; e++) {
    int64_t off = 0;
    int konst = 0;
    for (int d = 0; d < nd; d++) {
      int64_t q = boundary == DAGR_BOUNDARY_NONE ? j[d] : j[d] - depth[d], L = shape[d];
      if (q < 0 || q >= L) {
        if (boundary == DAGR_BOUNDARY_CONSTANT)
          konst = 1;
        else if (boundary == DAGR_BOUNDARY_PERIODIC)
          q = (q + L) % L;
        else
          q = q < 0 ? -1 - q : 2 * L - 1 - q;
      }
      off += q * st[d];
    }
    p[e] = konst ? cval : x[off];
    for (int d = nd - 1; d >= 0; d--) {
      if (++j[d] < pshape[d]) break;
      j[d] = 0;
    }
  }
  return p;
}

/* Reference: avg_nd (or box2d) on the padded whole array, then the padding trimmed. */
static void ref_avg(const double *x, int nd, const int64_t *shape, const int64_t *depth,
                    int boundary, double cval, double *out, int box) {
  int64_t ps[DAGR_MAX_NDIM], n = 1;
  double *p = pad_global(x, nd, shape, depth, boundary, cval, ps);
  for (int d = 0; d < nd; d++) n *= ps[d];
  double *o = malloc(sizeof(double) * (size_t)n);
  if (box)
    box2d(p, o, ps);
  else
    avg_nd(p, o, nd, ps);
  int64_t j[DAGR_MAX_NDIM] = {0}, m = 1;
  for (int d = 0; d < nd; d++) m *= shape[d];
  for (int64_t e = 0; e < m; e++) {
    int64_t off = 0;
    for (int d = 0; d < nd; d++)
      off = off * ps[d] + j[d] + (boundary == DAGR_BOUNDARY_NONE ? 0 : depth[d]);
    out[e] = o[off];
    for (int d = nd - 1; d >= 0; d--) {
      if (++j[d] < shape[d]) break;
      j[d] = 0;
    }
  }
  free(p);
  free(o);
}

static void overlap_case(const char *label, int nd, const int64_t *shape, const int64_t *chunks,
                         const int64_t *depth, int box) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  double *x = rand_f64(n), *w = malloc(sizeof(double) * (size_t)n);
  dagr_array_t *X = mk(x, DAGR_DTYPE_FLOAT64, nd, shape, chunks);
  for (int b = DAGR_BOUNDARY_NONE; b <= DAGR_BOUNDARY_REFLECT; b++) {
    char name[160];
    snprintf(name, sizeof name, "map_overlap %s %s boundary=%s", box ? "box" : "avg", label,
             bname[b]);
    ref_avg(x, nd, shape, depth, b, 0.75, w, box);
    dagr_array_t *R = NULL;
    if (dagr_array_map_overlap(box ? "test_box" : "test_avg", X, depth, b, 0.75, DAGR_DTYPE_FLOAT64,
                               &R) == DAGR_OK)
      expect(R, name, DAGR_DTYPE_FLOAT64, w, n, 1e-15);
    else
      check(0, name, "%s", dagr_last_error(ctx));
    dagr_array_release(R);
  }
  dagr_array_release(X);
  free(x);
  free(w);
}

/* One sweep of a star stencil on the padded whole array p (ps), dask style: the interior of p
 * computed, the outermost r cells 0. T is float or double by `f32`. */
static void star_sweep(const void *pin, void *pout, const int64_t *ps, int r, double w0, double w1,
                       double w2, int f32) {
  int64_t h = ps[0], wd = ps[1];
  for (int64_t i = 0; i < h; i++)
    for (int64_t j = 0; j < wd; j++) {
      int inner = i >= r && i < h - r && j >= r && j < wd - r;
      if (f32) {
        const float *c = (const float *)pin + i * wd + j;
        float v = 0;
        if (inner) {
          v = (float)w1 * (c[1] + c[-1] + c[wd] + c[-wd]);
          if (r == 2) v = v + (float)w2 * (c[2] + c[-2] + c[2 * wd] + c[-2 * wd]);
          v = v + (float)w0 * c[0];
        }
        ((float *)pout)[i * wd + j] = v;
      } else {
        const double *c = (const double *)pin + i * wd + j;
        double v = 0;
        if (inner) {
          v = w1 * (c[1] + c[-1] + c[wd] + c[-wd]);
          if (r == 2) v = v + w2 * (c[2] + c[-2] + c[2 * wd] + c[-2 * wd]);
          v = v + w0 * c[0];
        }
        ((double *)pout)[i * wd + j] = v;
      }
    }
}

/* Temporal blocking: K sweeps of a built-in stencil (boundary none) run as one task per block.
 * Checked element by element against K serial sweeps (bit-identical arithmetic: tolerance 0),
 * with ragged chunks, axes with one block, both stencils and both float dtypes, plus the task
 * counts that show how the chain was split. */
static void sweeps_case(const char *k, int r, double w0, double w1, double w2, int f32,
                        const int64_t *shape, const int64_t *chunks, int sweeps,
                        size_t want_tasks) {
  int64_t n = shape[0] * shape[1];
  size_t es = f32 ? 4 : 8;
  void *a = calloc((size_t)n, es), *b = calloc((size_t)n, es);
  double *want = calloc((size_t)n, sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    double v = (double)((i * 2654435761u) % 1000) / 1000.0;
    if (f32)
      ((float *)a)[i] = (float)v;
    else
      ((double *)a)[i] = v;
  }
  int dt = f32 ? DAGR_DTYPE_FLOAT32 : DAGR_DTYPE_FLOAT64;
  dagr_array_t *y = mk(a, dt, 2, shape, chunks);
  int64_t depth[2] = {r, r};
  for (int it = 0; it < sweeps && y; it++) {
    star_sweep(a, b, shape, r, w0, w1, w2, f32);
    memcpy(a, b, es * (size_t)n);
    dagr_array_t *t = NULL;
    if (dagr_array_map_overlap(k, y, depth, DAGR_BOUNDARY_NONE, 0, dt, &t)) t = NULL;
    dagr_array_release(y);
    y = t;
  }
  for (int64_t i = 0; i < n; i++) want[i] = f32 ? ((float *)a)[i] : ((double *)a)[i];
  char name[200];
  snprintf(name, sizeof name, "%s %d sweeps %s (%lld,%lld) chunks (%lld,%lld) temporally blocked",
           k, sweeps, f32 ? "float32" : "float64", (long long)shape[0], (long long)shape[1],
           (long long)chunks[0], (long long)chunks[1]);
  expect(y, name, dt, want, n, 0);
  size_t nt = 0;
  if (y) dagr_array_task_count(y, &nt);
  check(nt == want_tasks, name, "%zu tasks, expected %zu", nt, want_tasks);
  dagr_array_release(y);
  free(a);
  free(b);
  free(want);
}

static void test_sweeps(void) {
  /* Ragged chunks: the smallest chunks (38 and 41) allow 2 sweeps per task (K*r <= chunk/8):
   * 10 sweeps = 5 tasks per block; 4x4 blocks: 16 sources + 80. */
  int64_t s1[2] = {230, 185}, c1[2] = {64, 48};
  sweeps_case("array.star_stencil", 2, -1.5, 0.25, 0.125, 1, s1, c1, 10, 16 + 5 * 16);
  sweeps_case("array.star_stencil", 2, -1.5, 0.25, 0.125, 0, s1, c1, 10, 16 + 5 * 16);
  /* smooth5 (radius 1): 4 sweeps per task, 10 = 4 + 4 + 2. */
  sweeps_case("array.smooth5", 1, 0.2, 0.2, 0, 0, s1, c1, 10, 16 + 3 * 16);
  /* Larger chunks: 7 sweeps per task (122/16), 10 = 7 + 3; 2x2 blocks. */
  int64_t s2[2] = {300, 250}, c2[2] = {160, 128};
  sweeps_case("array.star_stencil", 2, -1.5, 0.25, 0.125, 1, s2, c2, 10, 4 + 2 * 4);
  /* One block along axis 0 (no ghost rows at all), 3 along axis 1 (100/16 = 6 per task). */
  int64_t s3[2] = {40, 300}, c3[2] = {40, 100};
  sweeps_case("array.star_stencil", 2, -1.5, 0.25, 0.125, 0, s3, c3, 13, 3 + 3 * 3);
  /* One block in all: every sweep in one task, up to 32. */
  int64_t s4[2] = {50, 45}, c4[2] = {50, 45};
  sweeps_case("array.star_stencil", 2, -1.5, 0.25, 0.125, 1, s4, c4, 12, 1 + 1);

  /* An intermediate sweep used by something else ends the chain there (it is computed once). */
  {
    int64_t n = s2[0] * s2[1], depth[2] = {2, 2};
    double *x = rand_f64(n);
    dagr_array_t *X = mk(x, DAGR_DTYPE_FLOAT64, 2, s2, c2), *y = X, *z = NULL, *w = NULL;
    dagr_array_retain(y);
    dagr_array_t *mid = NULL;
    for (int it = 0; it < 6 && y; it++) {
      dagr_array_t *t = NULL;
      if (dagr_array_map_overlap("array.star_stencil", y, depth, DAGR_BOUNDARY_NONE, 0,
                                 DAGR_DTYPE_FLOAT64, &t))
        t = NULL;
      if (it == 2) {
        mid = t;
        if (t) dagr_array_retain(t);
      }
      dagr_array_release(y);
      y = t;
    }
    size_t nt = 0;
    if (y && mid && dagr_array_binary(DAGR_OP_ADD, y, mid, &z) == DAGR_OK &&
        dagr_array_task_count(z, &nt) == DAGR_OK) {
      /* sources 4, sweeps 1-3 (one chain) 4, sweeps 4-6 (one chain) 4, the add 4. */
      check(nt == 16, "a sweep used twice ends the chain", "%zu tasks, expected 16", nt);
    } else {
      check(0, "a sweep used twice ends the chain", "%s", dagr_last_error(ctx));
    }
    dagr_array_release(w);
    dagr_array_release(z);
    dagr_array_release(mid);
    dagr_array_release(y);
    dagr_array_release(X);
    free(x);
  }
}

static void test_stencils(void) {
  /* Star stencil, float32, 10 sweeps of map_overlap(depth 2, boundary none), then the sum, as
   * dask_baselines.py's stencil workload: the cells within 2 of the array's edge become 0. */
  int64_t n = 61, shape[2] = {61, 61}, chunks[2] = {16, 16}, depth[2] = {2, 2};
  float *a = malloc(sizeof(float) * (size_t)(n * n)), *b = malloc(sizeof(float) * (size_t)(n * n));
  for (int64_t i = 0; i < n * n; i++) a[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
  dagr_array_t *y = mk(a, DAGR_DTYPE_FLOAT32, 2, shape, chunks);
  for (int it = 0; it < 10; it++) {
    star_sweep(a, b, shape, 2, -1.5, 0.25, 0.125, 1);
    memcpy(a, b, sizeof(float) * (size_t)(n * n));
    dagr_array_t *t = NULL;
    if (dagr_array_map_overlap("array.star_stencil", y, depth, DAGR_BOUNDARY_NONE, 0,
                               DAGR_DTYPE_FLOAT32, &t)) {
      check(0, "star map_overlap", "%s", dagr_last_error(ctx));
      break;
    }
    dagr_array_release(y);
    y = t;
  }
  double *want = malloc(sizeof(double) * (size_t)(n * n)), s = 0;
  for (int64_t i = 0; i < n * n; i++) want[i] = a[i], s += a[i];
  expect(y, "star stencil 10 sweeps boundary=none (fused) elementwise", DAGR_DTYPE_FLOAT32, want,
         n * n, 1e-6);
  size_t nt = 0;
  dagr_array_task_count(y, &nt);
  check(nt == 16 * 11, "star stencil fused: one task per block per sweep", "%zu tasks", nt);
  dagr_array_t *sum = NULL;
  dagr_array_reduce(DAGR_RED_SUM, y, 0, NULL, 0, 0, 0, &sum);
  expect(sum, "star stencil 10 sweeps then sum", DAGR_DTYPE_FLOAT32, &s, 1, 1e-5);
  dagr_array_release(sum);
  dagr_array_release(y);

  /* Fused stencils (float64) with every boundary, ragged chunks, depth above the radius. */
  int64_t sh2[2] = {30, 23}, ch2[2] = {7, 6}, m = 30 * 23;
  double *x = rand_f64(m), *o = malloc(sizeof(double) * (size_t)m);
  dagr_array_t *X = mk(x, DAGR_DTYPE_FLOAT64, 2, sh2, ch2);
  static const struct {
    const char *k;
    int r;
    double w0, w1, w2;
  } st[2] = {{"array.star_stencil", 2, -1.5, 0.25, 0.125}, {"array.smooth5", 1, 0.2, 0.2, 0}};
  for (int q = 0; q < 2; q++)
    for (int bnd = 0; bnd < 4; bnd++) {
      int64_t dep[2] = {st[q].r, st[q].r + 1}, ps[2];
      double *p = pad_global(x, 2, sh2, dep, bnd, -0.5, ps);
      double *po = malloc(sizeof(double) * (size_t)(ps[0] * ps[1]));
      /* The reference pads by the stencil radius where the array is padded at all. */
      int64_t dr[2] = {st[q].r, st[q].r};
      free(p);
      p = pad_global(x, 2, sh2, dr, bnd, -0.5, ps);
      star_sweep(p, po, ps, st[q].r, st[q].w0, st[q].w1, st[q].w2, 0);
      for (int64_t i = 0; i < sh2[0]; i++)
        for (int64_t j = 0; j < sh2[1]; j++) {
          int64_t off = bnd == DAGR_BOUNDARY_NONE ? 0 : st[q].r;
          o[i * sh2[1] + j] = po[(i + off) * ps[1] + j + off];
        }
      char name[160];
      snprintf(name, sizeof name, "%s fused boundary=%s depth=(%lld,%lld)", st[q].k, bname[bnd],
               (long long)dep[0], (long long)dep[1]);
      dagr_array_t *R = NULL;
      if (dagr_array_map_overlap(st[q].k, X, dep, bnd, -0.5, DAGR_DTYPE_FLOAT64, &R) == DAGR_OK)
        expect(R, name, DAGR_DTYPE_FLOAT64, o, m, 1e-14);
      else
        check(0, name, "%s", dagr_last_error(ctx));
      dagr_array_release(R);
      free(p);
      free(po);
    }
  /* Depth below the radius: not fused, dask semantics (zeros at internal block edges too). */
  {
    int64_t dep[2] = {1, 1};
    dagr_array_t *R = NULL;
    int rc = dagr_array_map_overlap("array.star_stencil", X, dep, DAGR_BOUNDARY_NONE, 0,
                                    DAGR_DTYPE_FLOAT64, &R);
    size_t nt2 = 0;
    if (rc == DAGR_OK) dagr_array_task_count(R, &nt2);
    /* 5x4 source blocks + 2 tasks per block. */
    check(rc == DAGR_OK && nt2 == 20 * 3, "star stencil with depth < radius runs unfused",
          "rc %d, %zu tasks", rc, nt2);
    /* Reference: per block, pad by 1 (internal sides), star with zero ring, trim. Checked on
     * one interior cell of each block's edge: cell (7, 8) is row 0 of block row 1, whose padded
     * block has it at padded row 1 < radius: 0. */
    dagr_result_t r;
    if (rc == DAGR_OK && dagr_array_compute(R, &r) == DAGR_OK) {
      const double *v = r.data;
      check(v[7 * 23 + 8] == 0 && v[10 * 23 + 9] != 0, "star depth<radius zeros at block edges",
            "%g %g", v[7 * 23 + 8], v[10 * 23 + 9]);
      dagr_result_release(&r);
    } else {
      check(0, "star depth<radius zeros at block edges", "%s", dagr_last_error(ctx));
    }
    dagr_array_release(R);
  }
  /* The stencil kernel alone (map_blocks) on one block: interior computed, ring 0. */
  {
    int64_t one[2] = {-1, -1}, ps[2] = {30, 23};
    dagr_array_t *X1 = mk(x, DAGR_DTYPE_FLOAT64, 2, sh2, one), *R = NULL;
    star_sweep(x, o, ps, 2, -1.5, 0.25, 0.125, 0);
    if (dagr_array_map_blocks("array.star_stencil", 1, &X1, DAGR_DTYPE_FLOAT64, &R) == DAGR_OK)
      expect(R, "array.star_stencil via map_blocks", DAGR_DTYPE_FLOAT64, o, m, 1e-14);
    else
      check(0, "array.star_stencil via map_blocks", "%s", dagr_last_error(ctx));
    dagr_array_release(R);
    dagr_array_release(X1);
  }
  /* Errors. */
  {
    dagr_array_t *bad = NULL;
    int64_t big[2] = {2, 6};
    expect_error(
        dagr_array_map_overlap("test_avg", X, big, DAGR_BOUNDARY_NONE, 0, DAGR_DTYPE_FLOAT64, &bad),
        DAGR_EINVAL, "map_overlap depth larger than a chunk names the axis", "axis 1",
        "smallest chunk (5)");
    int64_t d1[2] = {1, 1};
    expect_error(dagr_array_map_overlap("nope_kernel", X, d1, DAGR_BOUNDARY_NONE, 0,
                                        DAGR_DTYPE_FLOAT64, &bad),
                 DAGR_EUNKNOWN_KERNEL, "map_overlap unknown kernel named", "nope_kernel", NULL);
    expect_error(dagr_array_map_overlap("test_avg", X, d1, 7, 0, DAGR_DTYPE_FLOAT64, &bad),
                 DAGR_EINVAL, "map_overlap unknown boundary", "boundary", NULL);
    dagr_array_t *B = NULL;
    if (dagr_array_map_overlap("test_badshape", X, d1, DAGR_BOUNDARY_REFLECT, 0, DAGR_DTYPE_FLOAT64,
                               &B) == DAGR_OK) {
      dagr_result_t r;
      int rc = dagr_array_compute(B, &r);
      expect_error(rc, DAGR_EKERNEL, "map_overlap wrong output shape fails at compute",
                   "test_badshape", "must return");
      if (rc == DAGR_OK) dagr_result_release(&r);
    } else {
      check(0, "map_overlap wrong shape", "%s", dagr_last_error(ctx));
    }
    dagr_array_release(B);
  }
  dagr_array_release(X);
  free(x);
  free(o);
  free(a);
  free(b);
  free(want);
}

int main(int argc, char **argv) {
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "array_compute: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  test_matmul();
  test_map_blocks();
  {
    int64_t s1[1] = {23}, c1[1] = {5}, d1[1] = {2};
    overlap_case("1-D 23/5 depth 2", 1, s1, c1, d1, 0);
    int64_t s1b[1] = {10}, c1b[1] = {-1}, d1b[1] = {3};
    overlap_case("1-D one block depth 3", 1, s1b, c1b, d1b, 0);
    int64_t s2[2] = {23, 19}, c2[2] = {5, 4}, d2[2] = {1, 2};
    overlap_case("2-D 23x19/5x4 depth (1,2)", 2, s2, c2, d2, 0);
    int64_t d2b[2] = {2, 2}, c2b[2] = {-1, 4};
    overlap_case("2-D 23x19/5x4 depth (2,2)", 2, s2, c2, d2b, 1);
    overlap_case("2-D 23x19/23x4 depth (2,2)", 2, s2, c2b, d2b, 1);
    int64_t s3[3] = {6, 7, 5}, c3[3] = {3, 4, 5}, d3[3] = {1, 2, 1};
    overlap_case("3-D 6x7x5/3x4x5 depth (1,2,1)", 3, s3, c3, d3, 0);
  }
  test_stencils();
  test_sweeps();
  printf("%d passed, %d failed\n", passed, failed);
  dagr_set_exit_status(ctx, failed ? 1 : 0);
  int frc = dagr_finalize(ctx);
  return failed || frc ? 1 : 0;
}
