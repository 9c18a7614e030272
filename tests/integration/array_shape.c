/* array_shape.c: rechunk, concatenate, stack and reshape checked against serial C references. */
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

static int64_t nelems(int nd, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  return n;
}

static void unravel(int64_t lin, int nd, const int64_t *shape, int64_t *idx) {
  for (int d = nd - 1; d >= 0; d--) {
    idx[d] = shape[d] ? lin % shape[d] : 0;
    lin = shape[d] ? lin / shape[d] : 0;
  }
}

static int64_t ravel(int nd, const int64_t *shape, const int64_t *idx) {
  int64_t lin = 0;
  for (int d = 0; d < nd; d++) lin = lin * shape[d] + idx[d];
  return lin;
}

/* A float64 array from a buffer whose element i is base + i (exact in doubles); *data receives a
 * malloc'd copy of the values (caller frees). */
static dagr_array_t *seq_f64(int nd, const int64_t *shape, const int64_t *chunks, double base,
                             double **data) {
  int64_t n = nelems(nd, shape);
  double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) v[i] = base + (double)i;
  dagr_array_t *a = NULL;
  int rc = dagr_array_from_buffer(ctx, v, DAGR_DTYPE_FLOAT64, nd, shape, chunks, &a);
  if (rc) {
    fprintf(stderr, "from_buffer: %s\n", dagr_last_error(ctx));
    exit(2);
  }
  *data = v;
  return a;
}

/* Computes a and checks dtype, shape and bytes exactly against want. */
static void expect_exact(dagr_array_t *a, const char *name, int dtype, int nd, const int64_t *shape,
                         const void *want) {
  dagr_result_t r;
  int rc = dagr_array_compute(a, &r);
  if (rc) {
    check(0, name, "compute failed: %s", dagr_last_error(ctx));
    return;
  }
  int ok = r.dtype == dtype && r.ndim == nd;
  for (int d = 0; ok && d < nd; d++) ok = r.shape[d] == shape[d];
  size_t bytes = (size_t)nelems(nd, shape) * dagr_dtype_size(dtype);
  ok = ok && r.nbytes == bytes;
  int64_t bad = -1;
  if (ok && memcmp(r.data, want, bytes) != 0) {
    size_t es = dagr_dtype_size(dtype);
    for (size_t i = 0; i * es < bytes && bad < 0; i++)
      if (memcmp((char *)r.data + i * es, (const char *)want + i * es, es)) bad = (int64_t)i;
  }
  check(ok && bad < 0, name, "dtype %d/%d ndim %d/%d nbytes %zu/%zu, first bad element %lld",
        r.dtype, dtype, r.ndim, nd, r.nbytes, bytes, (long long)bad);
  dagr_result_release(&r);
}

/* Chunks of a along axis equal list[0..n). */
static int chunks_are(dagr_array_t *a, int axis, const int64_t *list, int64_t n) {
  int64_t got[4096], m = 0;
  if (dagr_array_chunks(a, axis, NULL, &m) || m != n || m > 4096) return 0;
  dagr_array_chunks(a, axis, got, &m);
  return memcmp(got, list, (size_t)n * sizeof *list) == 0;
}

/* Uniform chunk list of size s over len (ragged last); returns the count. */
static int64_t uniform(int64_t len, int64_t s, int64_t *list) {
  if (len == 0) {
    list[0] = 0;
    return 1;
  }
  if (s <= 0 || s > len) s = len;
  int64_t n = 0;
  for (int64_t o = 0; o < len; o += s) list[n++] = len - o < s ? len - o : s;
  return n;
}

static size_t tasks(dagr_array_t *a) {
  size_t n = 0;
  if (dagr_array_task_count(a, &n)) return (size_t)-1;
  return n;
}

static int64_t blocks(dagr_array_t *a) {
  int nd;
  dagr_array_info(a, NULL, &nd, NULL);
  int64_t t = 1, n;
  for (int d = 0; d < nd; d++) {
    dagr_array_chunks(a, d, NULL, &n);
    t *= n;
  }
  return t;
}

/* ---- rechunk ----------------------------------------------------------------------------------
 */

static void test_rechunk(void) {
  int64_t shape[2] = {37, 23}, chunks[2] = {5, 7};
  double *v;
  dagr_array_t *x = seq_f64(2, shape, chunks, 0.25, &v);
  static const int64_t specs[][2] = {{10, 4}, {-1, 3},  {1, -1}, {0, 5}, {37, 23},
                                     {6, 23}, {13, 11}, {8, 5},  {0, 0}, {100, 1}};
  for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
    char name[128];
    snprintf(name, sizeof name, "rechunk (37, 23) (5, 7) -> (%lld, %lld)", (long long)specs[s][0],
             (long long)specs[s][1]);
    dagr_array_t *y = NULL;
    int rc = dagr_array_rechunk(x, specs[s], &y);
    if (rc) {
      check(0, name, "%s", dagr_last_error(ctx));
      continue;
    }
    expect_exact(y, name, DAGR_DTYPE_FLOAT64, 2, shape, v);
    int64_t l0[64], l1[64];
    int64_t n0 = uniform(37, specs[s][0], l0), n1 = uniform(23, specs[s][1], l1);
    char cname[160];
    snprintf(cname, sizeof cname, "%s chunks and tasks", name);
    size_t nt = tasks(y);
    check(chunks_are(y, 0, l0, n0) && chunks_are(y, 1, l1, n1) && nt == (size_t)(8 * 4 + n0 * n1),
          cname, "%lld x %lld blocks expected, %zu tasks (expected %lld)", (long long)n0,
          (long long)n1, nt, (long long)(32 + n0 * n1));
    dagr_array_release(y);
  }
  /* Same layout: the input itself; a rechunk of a rechunk plans from the original. */
  {
    dagr_array_t *same = NULL, *y = NULL, *back = NULL, *z = NULL;
    dagr_array_rechunk(x, chunks, &same);
    check(same == x, "rechunk to the same chunks returns the input", "%p vs %p", (void *)same,
          (void *)x);
    int64_t c1[2] = {10, 4}, c2[2] = {3, 3};
    dagr_array_rechunk(x, c1, &y);
    dagr_array_rechunk(y, chunks, &back);
    check(back == x, "rechunk back to the source chunks returns the source", "%p vs %p",
          (void *)back, (void *)x);
    dagr_array_rechunk(y, c2, &z);
    size_t nt = tasks(z);
    check(nt == 32 + 13 * 8, "rechunk of a rechunk plans from the original",
          "%zu tasks, expected %d", nt, 32 + 13 * 8);
    expect_exact(z, "rechunk of a rechunk values", DAGR_DTYPE_FLOAT64, 2, shape, v);
    dagr_array_release(same);
    dagr_array_release(y);
    dagr_array_release(back);
    dagr_array_release(z);
  }
  /* Errors. */
  {
    dagr_array_t *y = NULL;
    int64_t bad[2] = {5, -2};
    int rc = dagr_array_rechunk(x, bad, &y);
    check(rc == DAGR_EINVAL && strstr(dagr_last_error(ctx), "axis 1") && !y,
          "rechunk chunk -2 is an error naming the axis", "rc %d: %s", rc, dagr_last_error(ctx));
    rc = dagr_array_rechunk(x, chunks, NULL);
    check(rc == DAGR_EINVAL, "rechunk with NULL out is an error", "rc %d", rc);
    rc = dagr_array_rechunk(NULL, chunks, &y);
    check(rc == DAGR_EINVAL, "rechunk of NULL is an error", "rc %d", rc);
  }
  dagr_array_release(x);
  free(v);
  /* 1-D int64 arange. */
  {
    dagr_array_t *ar;
    dagr_array_arange(ctx, 0, 100, 1, DAGR_DTYPE_INT64, 7, &ar);
    int64_t want[100], sh[1] = {100};
    for (int i = 0; i < 100; i++) want[i] = i;
    static const int64_t cs[] = {10, -1, 33, 1, 0, 7, 99};
    for (size_t s = 0; s < sizeof cs / sizeof cs[0]; s++) {
      dagr_array_t *y;
      char name[96];
      snprintf(name, sizeof name, "rechunk int64 arange(100) 7 -> %lld", (long long)cs[s]);
      dagr_array_rechunk(ar, &cs[s], &y);
      expect_exact(y, name, DAGR_DTYPE_INT64, 1, sh, want);
      int64_t l[128], n = uniform(100, cs[s] == 0 ? -1 : cs[s], l);
      size_t nt = tasks(y);
      size_t expect = (size_t)(cs[s] == 7 ? 15 : 15 + n);
      snprintf(name, sizeof name, "rechunk int64 arange(100) 7 -> %lld chunks and tasks",
               (long long)cs[s]);
      check(chunks_are(y, 0, l, n) && nt == expect, name, "%zu tasks, expected %zu", nt, expect);
      dagr_array_release(y);
    }
    dagr_array_release(ar);
  }
  /* 3-D random data. */
  {
    int64_t sh[3] = {6, 10, 9}, ch[3] = {4, 3, 5};
    dagr_array_t *r;
    dagr_array_random_uniform(ctx, 7, 3, sh, ch, -1, 1, &r);
    dagr_result_t ref;
    if (dagr_array_compute(r, &ref) == DAGR_OK) {
      static const int64_t cs[][3] = {{-1, 4, 2}, {1, 10, 9}, {5, 5, 5}, {2, 1, -1}};
      for (size_t s = 0; s < sizeof cs / sizeof cs[0]; s++) {
        dagr_array_t *y;
        char name[128];
        snprintf(name, sizeof name, "rechunk 3-D (6, 10, 9) (4, 3, 5) -> (%lld, %lld, %lld)",
                 (long long)cs[s][0], (long long)cs[s][1], (long long)cs[s][2]);
        dagr_array_rechunk(r, cs[s], &y);
        expect_exact(y, name, DAGR_DTYPE_FLOAT64, 3, sh, ref.data);
        dagr_array_release(y);
      }
      dagr_result_release(&ref);
    } else {
      check(0, "3-D random", "%s", dagr_last_error(ctx));
    }
    dagr_array_release(r);
  }
  /* Other dtypes keep theirs; empty and 0-d arrays. */
  {
    int32_t iv[30];
    uint8_t bv[30];
    for (int i = 0; i < 30; i++) iv[i] = i * 1000003 - 7, bv[i] = (uint8_t)(i % 3 == 0);
    int64_t sh[2] = {5, 6}, ch[2] = {2, 4}, to[2] = {3, 5};
    dagr_array_t *a, *b, *ya, *yb;
    dagr_array_from_buffer(ctx, iv, DAGR_DTYPE_INT32, 2, sh, ch, &a);
    dagr_array_from_buffer(ctx, bv, DAGR_DTYPE_BOOL, 2, sh, ch, &b);
    dagr_array_rechunk(a, to, &ya);
    dagr_array_rechunk(b, to, &yb);
    expect_exact(ya, "rechunk int32 keeps dtype and values", DAGR_DTYPE_INT32, 2, sh, iv);
    expect_exact(yb, "rechunk bool keeps dtype and values", DAGR_DTYPE_BOOL, 2, sh, bv);
    dagr_array_release(a);
    dagr_array_release(b);
    dagr_array_release(ya);
    dagr_array_release(yb);
    int64_t es[2] = {0, 5}, ec[2] = {1, 2}, eto[2] = {-1, 3};
    dagr_array_t *e, *ye, *s0, *y0;
    dagr_array_zeros(ctx, DAGR_DTYPE_FLOAT64, 2, es, ec, &e);
    int rc = dagr_array_rechunk(e, eto, &ye);
    double dummy = 0;
    if (rc == DAGR_OK)
      expect_exact(ye, "rechunk of an empty (0, 5) array", DAGR_DTYPE_FLOAT64, 2, es, &dummy);
    else
      check(0, "rechunk of an empty (0, 5) array", "%s", dagr_last_error(ctx));
    dagr_array_scalar(ctx, DAGR_DTYPE_INT64, 3, &s0);
    rc = dagr_array_rechunk(s0, NULL, &y0);
    check(rc == DAGR_OK && y0 == s0, "rechunk of a 0-d array is the array", "rc %d", rc);
    dagr_array_release(e);
    dagr_array_release(ye);
    dagr_array_release(s0);
    if (rc == DAGR_OK) dagr_array_release(y0);
  }
}

/* ---- concatenate and stack --------------------------------------------------------------------
 */

/* Serial concatenation of n float64 C arrays of nd axes along ax into out (oshape filled). */
static void ref_concat(int n, double *const *data, const int64_t (*shapes)[8], int nd, int ax,
                       double *out, int64_t *oshape) {
  for (int d = 0; d < nd; d++) oshape[d] = shapes[0][d];
  oshape[ax] = 0;
  for (int k = 0; k < n; k++) oshape[ax] += shapes[k][ax];
  int64_t total = nelems(nd, oshape), idx[8];
  for (int64_t e = 0; e < total; e++) {
    unravel(e, nd, oshape, idx);
    int k = 0;
    while (idx[ax] >= shapes[k][ax]) idx[ax] -= shapes[k++][ax];
    out[e] = data[k][ravel(nd, shapes[k], idx)];
  }
}

static void test_concatenate(void) {
  /* Each ndim, each axis (and its negative form): three operands of differing lengths and
   * chunks along the axis; operand 1 is chunked differently on the other axes too. */
  static const int64_t base[3] = {6, 5, 4}, lens[3] = {7, 3, 10}, along[3] = {3, 2, 4},
                       other0[3] = {4, 2, 3}, other1[3] = {5, 1, 2};
  for (int nd = 1; nd <= 3; nd++) {
    for (int ax = -nd; ax < nd; ax++) {
      int a = ax < 0 ? ax + nd : ax;
      int64_t shapes[3][8];
      int64_t ch[3][8];
      double *data[3];
      dagr_array_t *in[3];
      for (int k = 0; k < 3; k++) {
        for (int d = 0; d < nd; d++) {
          shapes[k][d] = d == a ? lens[k] : base[d];
          ch[k][d] = d == a ? along[k] : (k == 1 ? other1[d] : other0[d]);
        }
        in[k] = seq_f64(nd, shapes[k], ch[k], 1000.0 * (k + 1), &data[k]);
      }
      int64_t oshape[8];
      double *want = malloc(sizeof(double) * 2000);
      ref_concat(3, data, (const int64_t(*)[8])shapes, nd, a, want, oshape);
      char name[128];
      snprintf(name, sizeof name, "concatenate %d-D along axis %d", nd, ax);
      dagr_array_t *c = NULL;
      int rc = dagr_array_concatenate(3, in, ax, &c);
      if (rc) {
        check(0, name, "%s", dagr_last_error(ctx));
      } else {
        expect_exact(c, name, DAGR_DTYPE_FLOAT64, nd, oshape, want);
        int ok = 1;
        for (int d = 0; d < nd; d++) {
          int64_t l[64], m = 0;
          if (d == a) {
            for (int k = 0; k < 3; k++) m += uniform(lens[k], along[k], l + m);
          } else {
            m = uniform(base[d], other0[d], l);
          }
          ok &= chunks_are(c, d, l, m);
        }
        /* Tasks: the sources, operand 1 rechunked on the other axes when its chunks there
         * differ (always, except for 1-D), then one copy per output block. */
        int64_t src = blocks(in[0]) + blocks(in[1]) + blocks(in[2]);
        int64_t rech = 0;
        if (nd > 1) {
          int64_t b1 = 1;
          for (int d = 0; d < nd; d++) {
            int64_t l[64];
            b1 *= d == a ? uniform(lens[1], along[1], l) : uniform(base[d], other0[d], l);
          }
          rech = b1;
        }
        size_t nt = tasks(c), expect = (size_t)(src + rech + blocks(c));
        snprintf(name, sizeof name, "concatenate %d-D along axis %d: chunks and tasks", nd, ax);
        check(ok && nt == expect, name, "chunks %s, %zu tasks, expected %zu",
              ok ? "right" : "wrong", nt, expect);
      }
      dagr_array_release(c);
      for (int k = 0; k < 3; k++) {
        dagr_array_release(in[k]);
        free(data[k]);
      }
      free(want);
    }
  }
  /* Mixed dtypes: int32 + float64 -> float64; uint8 + bool -> uint8; float32 + int32 ->
   * float64; int32 + int64 -> int64 (large values exact). */
  {
    int32_t i32[12];
    double f64[6];
    float f32[6];
    uint8_t u8[5], b8[3];
    int64_t i64[4];
    for (int i = 0; i < 12; i++) i32[i] = (i - 5) * 100000007;
    for (int i = 0; i < 6; i++) f64[i] = 0.5 + i, f32[i] = 0.25f * (float)i;
    for (int i = 0; i < 5; i++) u8[i] = (uint8_t)(250 + i);
    for (int i = 0; i < 3; i++) b8[i] = (uint8_t)(i != 1);
    for (int i = 0; i < 4; i++) i64[i] = (int64_t)1 << (40 + i);
    int64_t sa[2] = {4, 3}, ca[2] = {3, 2}, sb[2] = {2, 3}, cb[2] = {1, 3};
    dagr_array_t *a, *b, *c, *in[2];
    dagr_array_from_buffer(ctx, i32, DAGR_DTYPE_INT32, 2, sa, ca, &a);
    dagr_array_from_buffer(ctx, f64, DAGR_DTYPE_FLOAT64, 2, sb, cb, &b);
    in[0] = a, in[1] = b;
    int rc = dagr_array_concatenate(2, in, 0, &c);
    double want[18];
    for (int i = 0; i < 12; i++) want[i] = i32[i];
    for (int i = 0; i < 6; i++) want[12 + i] = f64[i];
    if (rc == DAGR_OK) {
      int64_t so[2] = {6, 3};
      expect_exact(c, "concatenate int32 + float64 -> float64", DAGR_DTYPE_FLOAT64, 2, so, want);
    } else
      check(0, "concatenate int32 + float64 -> float64", "%s", dagr_last_error(ctx));
    dagr_array_release(c);
    dagr_array_release(b);
    /* float32 (6,) + int32 (12,) -> float64 */
    int64_t s6[1] = {6}, s12[1] = {12}, c4[1] = {4}, c5[1] = {5};
    dagr_array_t *f, *i1;
    dagr_array_from_buffer(ctx, f32, DAGR_DTYPE_FLOAT32, 1, s6, c4, &f);
    dagr_array_from_buffer(ctx, i32, DAGR_DTYPE_INT32, 1, s12, c5, &i1);
    in[0] = f, in[1] = i1;
    rc = dagr_array_concatenate(2, in, -1, &c);
    double w2[18];
    for (int i = 0; i < 6; i++) w2[i] = f32[i];
    for (int i = 0; i < 12; i++) w2[6 + i] = i32[i];
    if (rc == DAGR_OK) {
      int64_t s18[1] = {18};
      expect_exact(c, "concatenate float32 + int32 -> float64", DAGR_DTYPE_FLOAT64, 1, s18, w2);
    } else
      check(0, "concatenate float32 + int32 -> float64", "%s", dagr_last_error(ctx));
    dagr_array_release(c);
    /* uint8 + bool -> uint8 */
    int64_t s5[1] = {5}, s3[1] = {3}, c2[1] = {2};
    dagr_array_t *u, *bb;
    dagr_array_from_buffer(ctx, u8, DAGR_DTYPE_UINT8, 1, s5, c2, &u);
    dagr_array_from_buffer(ctx, b8, DAGR_DTYPE_BOOL, 1, s3, c2, &bb);
    in[0] = u, in[1] = bb;
    rc = dagr_array_concatenate(2, in, 0, &c);
    uint8_t w3[8];
    memcpy(w3, u8, 5);
    memcpy(w3 + 5, b8, 3);
    if (rc == DAGR_OK) {
      int64_t s8[1] = {8};
      expect_exact(c, "concatenate uint8 + bool -> uint8", DAGR_DTYPE_UINT8, 1, s8, w3);
    } else
      check(0, "concatenate uint8 + bool -> uint8", "%s", dagr_last_error(ctx));
    dagr_array_release(c);
    /* int64 + int32 -> int64 */
    int64_t s4[1] = {4};
    dagr_array_t *l;
    dagr_array_from_buffer(ctx, i64, DAGR_DTYPE_INT64, 1, s4, c2, &l);
    in[0] = l, in[1] = i1;
    rc = dagr_array_concatenate(2, in, 0, &c);
    int64_t w4[16];
    for (int i = 0; i < 4; i++) w4[i] = i64[i];
    for (int i = 0; i < 12; i++) w4[4 + i] = i32[i];
    if (rc == DAGR_OK) {
      int64_t s16[1] = {16};
      expect_exact(c, "concatenate int64 + int32 -> int64 exact", DAGR_DTYPE_INT64, 1, s16, w4);
    } else
      check(0, "concatenate int64 + int32 -> int64 exact", "%s", dagr_last_error(ctx));
    dagr_array_release(c);
    /* An operand of length 0 along the axis contributes nothing. */
    int64_t s0[1] = {0}, c1[1] = {1};
    dagr_array_t *z, *in3[3];
    dagr_array_zeros(ctx, DAGR_DTYPE_INT64, 1, s0, c1, &z);
    in3[0] = z, in3[1] = l, in3[2] = z;
    rc = dagr_array_concatenate(3, in3, 0, &c);
    if (rc == DAGR_OK) {
      expect_exact(c, "concatenate with empty operands", DAGR_DTYPE_INT64, 1, s4, i64);
      int64_t two[2] = {2, 2};
      check(chunks_are(c, 0, two, 2), "concatenate with empty operands: chunks", "wrong chunks");
    } else {
      check(0, "concatenate with empty operands", "%s", dagr_last_error(ctx));
    }
    dagr_array_release(c);
    /* Errors. */
    dagr_array_t *v1, *bad = NULL, *s;
    int64_t sv[1] = {3}, sbad[2] = {2, 5}, cbad[2] = {2, 2};
    dagr_array_zeros(ctx, DAGR_DTYPE_FLOAT64, 1, sv, c2, &v1);
    dagr_array_zeros(ctx, DAGR_DTYPE_FLOAT64, 2, sbad, cbad, &bad);
    in[0] = a, in[1] = v1;
    c = NULL;
    rc = dagr_array_concatenate(2, in, 0, &c);
    const char *msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && !c && strstr(msg, "index 1") && strstr(msg, "(3,)") &&
              strstr(msg, "dimension"),
          "concatenate ndim mismatch names operand and shapes", "rc %d: %s", rc, msg);
    in3[0] = a, in3[1] = a, in3[2] = bad;
    rc = dagr_array_concatenate(3, in3, 0, &c);
    msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && strstr(msg, "index 2") && strstr(msg, "(4, 3)") &&
              strstr(msg, "(2, 5)") && strstr(msg, "dimension 1"),
          "concatenate shape mismatch names operand index, axis and shapes", "rc %d: %s", rc, msg);
    in[0] = a, in[1] = a;
    rc = dagr_array_concatenate(2, in, 2, &c);
    msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && strstr(msg, "axis 2 is out of bounds"),
          "concatenate axis 2 of 2-D is an error", "rc %d: %s", rc, msg);
    rc = dagr_array_concatenate(2, in, -3, &c);
    msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && strstr(msg, "axis -3 is out of bounds"),
          "concatenate axis -3 of 2-D is an error", "rc %d: %s", rc, msg);
    rc = dagr_array_concatenate(0, in, 0, &c);
    check(rc == DAGR_EINVAL, "concatenate of nothing is an error", "rc %d", rc);
    in[1] = NULL;
    rc = dagr_array_concatenate(2, in, 0, &c);
    msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && strstr(msg, "operand 1 is NULL"),
          "concatenate with a NULL operand is an error", "rc %d: %s", rc, msg);
    dagr_array_scalar(ctx, DAGR_DTYPE_FLOAT64, 1, &s);
    in[0] = s, in[1] = s;
    rc = dagr_array_concatenate(2, in, 0, &c);
    msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && strstr(msg, "zero-dimensional"),
          "concatenate of 0-d arrays is an error", "rc %d: %s", rc, msg);
    in[0] = a;
    rc = dagr_array_concatenate(1, in, 0, &c);
    check(rc == DAGR_OK && c == a, "concatenate of one array is the array", "rc %d", rc);
    if (rc == DAGR_OK) dagr_array_release(c);
    dagr_array_release(s);
    dagr_array_release(v1);
    dagr_array_release(bad);
    dagr_array_release(a);
    dagr_array_release(f);
    dagr_array_release(i1);
    dagr_array_release(u);
    dagr_array_release(bb);
    dagr_array_release(l);
    dagr_array_release(z);
  }
}

static void test_stack(void) {
  int64_t sh[2] = {4, 5}, ch0[2] = {2, 3}, ch1[2] = {3, 2};
  double *d0, *d1, *d2;
  dagr_array_t *in[3];
  in[0] = seq_f64(2, sh, ch0, 0, &d0);
  in[1] = seq_f64(2, sh, ch1, 100, &d1);
  in[2] = seq_f64(2, sh, ch0, 200, &d2);
  double *data[3] = {d0, d1, d2};
  for (int axis = -3; axis <= 2; axis++) {
    int ax = axis < 0 ? axis + 3 : axis;
    int64_t os[3], idx[3], inner[2] = {0, 0};
    for (int d = 0, s = 0; d < 3; d++) os[d] = d == ax ? 3 : sh[s++];
    double want[60];
    for (int64_t e = 0; e < 60; e++) {
      unravel(e, 3, os, idx);
      for (int d = 0, s = 0; d < 3; d++)
        if (d != ax) inner[s++] = idx[d];
      want[e] = data[idx[ax]][ravel(2, sh, inner)];
    }
    char name[96];
    snprintf(name, sizeof name, "stack three (4, 5) along axis %d", axis);
    dagr_array_t *st = NULL;
    int rc = dagr_array_stack(3, in, axis, &st);
    if (rc) {
      check(0, name, "%s", dagr_last_error(ctx));
      continue;
    }
    expect_exact(st, name, DAGR_DTYPE_FLOAT64, 3, os, want);
    int64_t ones[3] = {1, 1, 1};
    snprintf(name, sizeof name, "stack along axis %d: new axis has chunks of 1", axis);
    check(chunks_are(st, ax, ones, 3), name, "wrong chunks");
    dagr_array_release(st);
  }
  {
    int64_t sb[2] = {5, 4};
    double *db;
    dagr_array_t *b = seq_f64(2, sb, ch0, 0, &db), *st = NULL, *two[2] = {in[0], b};
    int rc = dagr_array_stack(2, two, 0, &st);
    const char *msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && strstr(msg, "index 1") && strstr(msg, "(4, 5)") &&
              strstr(msg, "(5, 4)"),
          "stack shape mismatch names operand and shapes", "rc %d: %s", rc, msg);
    rc = dagr_array_stack(2, in, 3, &st);
    msg = dagr_last_error(ctx);
    check(rc == DAGR_EINVAL && strstr(msg, "out of bounds"), "stack axis 3 of 2-D is an error",
          "rc %d: %s", rc, msg);
    dagr_array_release(b);
    free(db);
  }
  for (int k = 0; k < 3; k++) {
    dagr_array_release(in[k]);
    free(data[k]);
  }
}

/* ---- reshape ----------------------------------------------------------------------------------
 */

/* Reshapes a seq array of in_shape/in_chunks to out_shape and checks the values (a reshape keeps
 * the C-order sequence), the output chunks on each axis (exp_chunks[d] with exp_n[d] entries; NULL
 * skips) and the task count (0 skips). */
static void reshape_case(const char *name, int ind, const int64_t *ishape, const int64_t *ichunks,
                         int ond, const int64_t *oshape, const int64_t *const *exp_chunks,
                         const int64_t *exp_n, size_t exp_tasks) {
  double *v;
  dagr_array_t *a = seq_f64(ind, ishape, ichunks, 0.5, &v), *r = NULL;
  int rc = dagr_array_reshape(a, ond, oshape, &r);
  if (rc) {
    check(0, name, "%s", dagr_last_error(ctx));
  } else {
    int64_t real[8];
    int nd;
    dagr_array_info(r, NULL, &nd, real);
    expect_exact(r, name, DAGR_DTYPE_FLOAT64, nd, real, v);
    int ok = nd == ond;
    for (int d = 0; ok && d < ond; d++) ok = oshape[d] == -1 || real[d] == oshape[d];
    for (int d = 0; ok && exp_chunks && d < ond; d++)
      ok = chunks_are(r, d, exp_chunks[d], exp_n[d]);
    size_t nt = tasks(r);
    char cname[192];
    snprintf(cname, sizeof cname, "%s: shape, chunks and tasks", name);
    check(ok && (exp_tasks == 0 || nt == exp_tasks), cname, "%s, %zu tasks (expected %zu)",
          ok ? "shape and chunks right" : "shape or chunks wrong", nt, exp_tasks);
  }
  dagr_array_release(r);
  dagr_array_release(a);
  free(v);
}

static void test_reshape(void) {
  {
    int64_t is[1] = {24}, ic[1] = {-1}, os[2] = {4, 6}, c0[1] = {4}, c1[1] = {6}, n[2] = {1, 1};
    const int64_t *ex[2] = {c0, c1};
    reshape_case("reshape (24,) whole -> (4, 6)", 1, is, ic, 2, os, ex, n, 2);
  }
  {
    int64_t is[2] = {4, 6}, ic[2] = {2, -1}, os[1] = {24}, c0[2] = {12, 12}, n[1] = {2};
    const int64_t *ex[1] = {c0};
    reshape_case("reshape (4, 6) (2, 6) -> (24,) merges blocks", 2, is, ic, 1, os, ex, n, 4);
  }
  {
    /* Axis 1 not whole: rechunked to (1, 6) first (the first axis shrinks to keep the size). */
    int64_t is[2] = {4, 6}, ic[2] = {2, 3}, os[1] = {24}, c0[4] = {6, 6, 6, 6}, n[1] = {4};
    const int64_t *ex[1] = {c0};
    reshape_case("reshape (4, 6) (2, 3) -> (24,) auto-rechunks", 2, is, ic, 1, os, ex, n, 12);
  }
  {
    int64_t is[1] = {24}, ic[1] = {6}, os[2] = {4, 6}, c0[4] = {1, 1, 1, 1}, c1[1] = {6},
            n[2] = {4, 1};
    const int64_t *ex[2] = {c0, c1};
    reshape_case("reshape (24,) (6) -> (4, 6) splits blocks", 1, is, ic, 2, os, ex, n, 8);
  }
  {
    int64_t is[1] = {24}, ic[1] = {4}, os[2] = {4, 6}, c0[4] = {1, 1, 1, 1}, c1[1] = {6},
            n[2] = {4, 1};
    const int64_t *ex[2] = {c0, c1};
    reshape_case("reshape (24,) (4) -> (4, 6) auto-rechunks", 1, is, ic, 2, os, ex, n, 6 + 4 + 4);
  }
  {
    int64_t is[1] = {24}, ic[1] = {12}, os[3] = {2, 3, 4}, c0[2] = {1, 1}, c1[1] = {3}, c2[1] = {4},
            n[3] = {2, 1, 1};
    const int64_t *ex[3] = {c0, c1, c2};
    reshape_case("reshape (24,) (12) -> (2, 3, 4)", 1, is, ic, 3, os, ex, n, 4);
  }
  {
    int64_t is[2] = {4, 6}, ic[2] = {2, 3}, os[4] = {1, 4, 1, 6}, c0[1] = {1}, c1[2] = {2, 2},
            c3[2] = {3, 3}, n[4] = {1, 2, 1, 2};
    const int64_t *ex[4] = {c0, c1, c0, c3};
    reshape_case("reshape (4, 6) -> (1, 4, 1, 6) adds length-1 axes", 2, is, ic, 4, os, ex, n, 8);
    int64_t is2[4] = {1, 4, 1, 6}, ic2[4] = {1, 2, 1, 3}, os2[2] = {4, 6};
    const int64_t *ex2[2] = {c1, c3};
    int64_t n2[2] = {2, 2};
    reshape_case("reshape (1, 4, 1, 6) -> (4, 6) removes length-1 axes", 4, is2, ic2, 2, os2, ex2,
                 n2, 8);
  }
  {
    int64_t is[1] = {24}, ic[1] = {8}, os[2] = {-1, 8}, c0[3] = {1, 1, 1}, c1[1] = {8},
            n[2] = {3, 1};
    const int64_t *ex[2] = {c0, c1};
    reshape_case("reshape (24,) -> (-1, 8)", 1, is, ic, 2, os, ex, n, 6);
  }
  {
    int64_t is[2] = {4, 6}, ic[2] = {2, 3}, os[2] = {6, 4}, c0[1] = {6}, c1[1] = {4}, n[2] = {1, 1};
    const int64_t *ex[2] = {c0, c1};
    reshape_case("reshape (4, 6) -> (6, 4) regroups whole axes", 2, is, ic, 2, os, ex, n,
                 4 + 1 + 1);
  }
  {
    int64_t is[3] = {2, 3, 4}, ic[3] = {1, -1, 2}, os[2] = {6, 4}, c0[2] = {3, 3}, c1[2] = {2, 2},
            n[2] = {2, 2};
    const int64_t *ex[2] = {c0, c1};
    reshape_case("reshape (2, 3, 4) (1, 3, 2) -> (6, 4)", 3, is, ic, 2, os, ex, n, 8);
  }
  {
    int64_t is[2] = {100, 70}, ic[2] = {32, 25}, os[3] = {10, 10, 70};
    reshape_case("reshape (100, 70) (32, 25) -> (10, 10, 70)", 2, is, ic, 3, os, NULL, NULL, 0);
    int64_t os2[1] = {7000};
    reshape_case("reshape (100, 70) (32, 25) -> (7000,)", 2, is, ic, 1, os2, NULL, NULL, 0);
    int64_t os3[3] = {5, 20, -1};
    reshape_case("reshape (100, 70) (32, 25) -> (5, 20, -1)", 2, is, ic, 3, os3, NULL, NULL, 0);
    int64_t is4[3] = {4, 5, 6}, ic4[3] = {3, 2, 4}, os4[2] = {20, 6};
    reshape_case("reshape (4, 5, 6) (3, 2, 4) -> (20, 6)", 3, is4, ic4, 2, os4, NULL, NULL, 0);
    int64_t os5[3] = {2, 10, 6};
    reshape_case("reshape (4, 5, 6) (3, 2, 4) -> (2, 10, 6)", 3, is4, ic4, 3, os5, NULL, NULL, 0);
  }
  /* Same shape, 0-d, empty, errors. */
  {
    int64_t sh[2] = {4, 6}, ch[2] = {2, 3};
    double *v;
    dagr_array_t *a = seq_f64(2, sh, ch, 0, &v), *r = NULL;
    int rc = dagr_array_reshape(a, 2, sh, &r);
    check(rc == DAGR_OK && r == a, "reshape to the same shape is the array", "rc %d", rc);
    if (rc == DAGR_OK) dagr_array_release(r);
    int64_t two[2] = {-1, -1}, five[2] = {5, 5}, neg[2] = {-2, -12};
    rc = dagr_array_reshape(a, 2, two, &r);
    check(rc == DAGR_EINVAL && strstr(dagr_last_error(ctx), "one unknown"),
          "reshape with two -1 is an error", "rc %d: %s", rc, dagr_last_error(ctx));
    rc = dagr_array_reshape(a, 2, five, &r);
    check(rc == DAGR_EINVAL &&
              strstr(dagr_last_error(ctx), "cannot reshape array of size 24 into shape (5,5)"),
          "reshape to another size is an error", "rc %d: %s", rc, dagr_last_error(ctx));
    rc = dagr_array_reshape(a, 2, neg, &r);
    check(rc == DAGR_EINVAL && strstr(dagr_last_error(ctx), "negative"),
          "reshape to a negative length is an error", "rc %d: %s", rc, dagr_last_error(ctx));
    rc = dagr_array_reshape(a, 9, sh, &r);
    check(rc == DAGR_EINVAL, "reshape to 9 dimensions is an error", "rc %d", rc);
    rc = dagr_array_reshape(a, 2, NULL, &r);
    check(rc == DAGR_EINVAL, "reshape with a NULL shape is an error", "rc %d", rc);
    dagr_array_release(a);
    free(v);
    dagr_array_t *s, *s11, *back;
    dagr_array_scalar(ctx, DAGR_DTYPE_INT32, 42, &s);
    int64_t one[2] = {1, 1};
    rc = dagr_array_reshape(s, 2, one, &s11);
    int32_t w = 42;
    if (rc == DAGR_OK) {
      expect_exact(s11, "reshape 0-d -> (1, 1)", DAGR_DTYPE_INT32, 2, one, &w);
      rc = dagr_array_reshape(s11, 0, NULL, &back);
      if (rc == DAGR_OK) {
        expect_exact(back, "reshape (1, 1) -> 0-d", DAGR_DTYPE_INT32, 0, NULL, &w);
        dagr_array_release(back);
      } else {
        check(0, "reshape (1, 1) -> 0-d", "%s", dagr_last_error(ctx));
      }
      dagr_array_release(s11);
    } else {
      check(0, "reshape 0-d -> (1, 1)", "%s", dagr_last_error(ctx));
    }
    dagr_array_release(s);
    int64_t es[2] = {0, 6}, ec[2] = {1, 2}, eo[3] = {3, 0, 2};
    dagr_array_t *e, *er;
    dagr_array_zeros(ctx, DAGR_DTYPE_FLOAT64, 2, es, ec, &e);
    rc = dagr_array_reshape(e, 3, eo, &er);
    double dummy = 0;
    if (rc == DAGR_OK) {
      expect_exact(er, "reshape empty (0, 6) -> (3, 0, 2)", DAGR_DTYPE_FLOAT64, 3, eo, &dummy);
      dagr_array_release(er);
    } else {
      check(0, "reshape empty (0, 6) -> (3, 0, 2)", "%s", dagr_last_error(ctx));
    }
    dagr_array_release(e);
  }
}

/* ---- chained with elementwise ops and reductions ----------------------------------------------
 */

static double rel(double a, double b) {
  double d = fabs(a - b), m = fabs(b) > 1 ? fabs(b) : 1;
  return d / m;
}

static void expect_close(dagr_array_t *a, const char *name, const double *want, int64_t n) {
  dagr_result_t r;
  if (dagr_array_compute(a, &r)) {
    check(0, name, "compute failed: %s", dagr_last_error(ctx));
    return;
  }
  const double *got = r.data;
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0 && r.nbytes == (size_t)n * 8; i++)
    if (rel(got[i], want[i]) > 1e-12) bad = i;
  check(r.dtype == DAGR_DTYPE_FLOAT64 && r.nbytes == (size_t)n * 8 && bad < 0, name,
        "nbytes %zu, element %lld: %.17g vs %.17g", r.nbytes, (long long)bad,
        bad >= 0 ? got[bad] : 0, bad >= 0 ? want[bad] : 0);
  dagr_result_release(&r);
}

static void test_chained(void) {
  enum { R = 100, C = 70 };
  int64_t shape[2] = {R, C}, chunks[2] = {32, 25};
  dagr_array_t *x, *y;
  dagr_array_random_uniform(ctx, 42, 2, shape, chunks, 0.0, 1.0, &x);
  dagr_array_random_normal(ctx, 43, 2, shape, chunks, 0.0, 1.0, &y);
  dagr_result_t xr, yr;
  if (dagr_array_compute(x, &xr) || dagr_array_compute(y, &yr)) {
    check(0, "chained: inputs", "%s", dagr_last_error(ctx));
    dagr_array_release(x);
    dagr_array_release(y);
    return;
  }
  const double *xv = xr.data, *yv = yr.data;
  double *want = malloc(sizeof(double) * 4 * R * C);
  /* sum(concatenate([x, y * 2]), axis=0) */
  {
    dagr_array_t *y2, *c, *s, *in[2];
    dagr_array_binary_scalar(DAGR_OP_MUL, y, 2, 0, &y2);
    in[0] = x, in[1] = y2;
    dagr_array_concatenate(2, in, 0, &c);
    int ax[1] = {0};
    dagr_array_reduce(DAGR_RED_SUM, c, 1, ax, 0, 3, 0, &s);
    for (int j = 0; j < C; j++) {
      double t = 0;
      for (int i = 0; i < R; i++) t += xv[i * C + j];
      for (int i = 0; i < R; i++) t += 2 * yv[i * C + j];
      want[j] = t;
    }
    expect_close(s, "sum(concatenate([x, y*2]), axis=0)", want, C);
    dagr_array_release(y2);
    dagr_array_release(c);
    dagr_array_release(s);
  }
  /* max(concatenate([x + 1, y], axis=1), axis=1), y rechunked (other axis) automatically */
  {
    dagr_array_t *x1, *yr2, *c, *m, *in[2];
    int64_t ch2[2] = {10, 35};
    dagr_array_binary_scalar(DAGR_OP_ADD, x, 1, 0, &x1);
    dagr_array_rechunk(y, ch2, &yr2);
    in[0] = x1, in[1] = yr2;
    dagr_array_concatenate(2, in, 1, &c);
    int ax[1] = {1};
    dagr_array_reduce(DAGR_RED_MAX, c, 1, ax, 0, 0, 0, &m);
    for (int i = 0; i < R; i++) {
      double t = -INFINITY;
      for (int j = 0; j < C; j++) t = fmax(t, fmax(xv[i * C + j] + 1, yv[i * C + j]));
      want[i] = t;
    }
    expect_close(m, "max(concatenate([x+1, rechunk(y)], axis=1), axis=1)", want, R);
    dagr_array_release(x1);
    dagr_array_release(yr2);
    dagr_array_release(c);
    dagr_array_release(m);
  }
  /* sum(concatenate([x, x], axis=1)): one operand twice */
  {
    dagr_array_t *c, *s, *in[2] = {x, x};
    dagr_array_concatenate(2, in, 1, &c);
    dagr_array_reduce(DAGR_RED_SUM, c, 0, NULL, 0, 0, 0, &s);
    double tot = 0;
    for (int i = 0; i < R * C; i++) tot += xv[i];
    tot *= 2;
    expect_close(s, "sum(concatenate([x, x], axis=1))", &tot, 1);
    dagr_array_release(c);
    dagr_array_release(s);
  }
  /* mean(stack([x, y]), axis=0) == (x + y) / 2 */
  {
    dagr_array_t *st, *m, *in[2] = {x, y};
    dagr_array_stack(2, in, 0, &st);
    int ax[1] = {0};
    dagr_array_reduce(DAGR_RED_MEAN, st, 1, ax, 0, 0, 0, &m);
    for (int i = 0; i < R * C; i++) want[i] = (xv[i] + yv[i]) / 2;
    expect_close(m, "mean(stack([x, y]), axis=0)", want, R * C);
    dagr_array_release(st);
    dagr_array_release(m);
  }
  /* rechunk(x) * 2 + rechunk(y) (same chunks), then sum over all. */
  {
    int64_t ch[2] = {10, -1};
    dagr_array_t *a, *b, *a2, *s, *t;
    dagr_array_rechunk(x, ch, &a);
    dagr_array_rechunk(y, ch, &b);
    dagr_array_binary_scalar(DAGR_OP_MUL, a, 2, 0, &a2);
    dagr_array_binary(DAGR_OP_ADD, a2, b, &s);
    dagr_array_reduce(DAGR_RED_SUM, s, 0, NULL, 0, 0, 0, &t);
    double tot = 0;
    for (int i = 0; i < R * C; i++) tot += xv[i] * 2 + yv[i];
    expect_close(t, "sum(rechunk(x)*2 + rechunk(y))", &tot, 1);
    for (int i = 0; i < R * C; i++) want[i] = xv[i] * 2 + yv[i];
    expect_close(s, "rechunk(x)*2 + rechunk(y)", want, R * C);
    dagr_array_release(a);
    dagr_array_release(b);
    dagr_array_release(a2);
    dagr_array_release(s);
    dagr_array_release(t);
  }
  /* reshape(x.T, (7000,)) and sum(reshape(x, (10, 10, 70)), axis=(1,)) */
  {
    dagr_array_t *t, *f, *r3, *s;
    dagr_array_transpose(x, NULL, &t);
    int64_t flat[1] = {R * C}, s3[3] = {10, 10, C};
    int rc = dagr_array_reshape(t, 1, flat, &f);
    for (int i = 0; i < R; i++)
      for (int j = 0; j < C; j++) want[j * R + i] = xv[i * C + j];
    if (rc == DAGR_OK)
      expect_close(f, "reshape(x.T, (7000,))", want, R * C);
    else
      check(0, "reshape(x.T, (7000,))", "%s", dagr_last_error(ctx));
    dagr_array_reshape(x, 3, s3, &r3);
    int ax[1] = {1};
    dagr_array_reduce(DAGR_RED_SUM, r3, 1, ax, 0, 0, 0, &s);
    for (int a = 0; a < 10; a++)
      for (int j = 0; j < C; j++) {
        double tot = 0;
        for (int b = 0; b < 10; b++) tot += xv[(a * 10 + b) * C + j];
        want[a * C + j] = tot;
      }
    expect_close(s, "sum(reshape(x, (10, 10, 70)), axis=1)", want, 10 * C);
    dagr_array_release(t);
    if (rc == DAGR_OK) dagr_array_release(f);
    dagr_array_release(r3);
    dagr_array_release(s);
  }
  free(want);
  dagr_result_release(&xr);
  dagr_result_release(&yr);
  dagr_array_release(x);
  dagr_array_release(y);
}

int main(int argc, char **argv) {
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "array_shape: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  test_rechunk();
  test_concatenate();
  test_stack();
  test_reshape();
  test_chained();
  printf("%d passed, %d failed\n", passed, failed);
  dagr_set_exit_status(ctx, failed ? 1 : 0);
  int frc = dagr_finalize(ctx);
  return failed || frc ? 1 : 0;
}
