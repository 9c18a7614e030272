/* k_reduce.c: tree-reduction kernels: per-chunk partials, combining partials, and the final values.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_impl.h"

/* A partial is an array of 8-byte words: one cell per output element (the chunk's shape with
 * reduced axes of length 1) times NCOMP components:
 *   SUM, PROD, ANY, ALL: 1 word (int64, or double for float inputs);
 *   MIN, MAX: 2 words (value, 1 once a value was seen, -1 before);
 *   MEAN, VAR, STD: 3 doubles (count, mean, M2): merging these moments (Chan et al.) is
 *     numerically stable, unlike summing squares;
 *   ARGMIN, ARGMAX: 2 words (value, global index). */
static int ncomp(int red) {
  switch (red) {
  case DAGR_RED_MEAN:
  case DAGR_RED_VAR:
  case DAGR_RED_STD:
    return 3;
  case DAGR_RED_ARGMIN:
  case DAGR_RED_ARGMAX:
  case DAGR_RED_MIN:
  case DAGR_RED_MAX:
    return 2;
  default:
    return 1;
  }
}

typedef union {
  int64_t i;
  double f;
} word;

static void init_cell(int red, int fl, word *c) {
  switch (red) {
  case DAGR_RED_SUM:
  case DAGR_RED_ANY:
    if (fl && red == DAGR_RED_SUM)
      c[0].f = 0;
    else
      c[0].i = 0;
    break;
  case DAGR_RED_PROD:
    if (fl)
      c[0].f = 1;
    else
      c[0].i = 1;
    break;
  case DAGR_RED_ALL:
    c[0].i = 1;
    break;
  case DAGR_RED_MEAN:
  case DAGR_RED_VAR:
  case DAGR_RED_STD:
    c[0].f = c[1].f = c[2].f = 0;
    break;
  default: /* min, max, arg*: empty until the first value */
    c[0].i = 0;
    c[1].i = -1;
    break;
  }
}

/* Is value a "better" than b for min/max (NaN wins: NumPy propagates it)? */
static int better(int red, int fl, word a, word b) {
  int want_min = red == DAGR_RED_MIN || red == DAGR_RED_ARGMIN;
  if (fl) {
    if (isnan(b.f)) return 0;
    if (isnan(a.f)) return 1;
    return want_min ? a.f < b.f : a.f > b.f;
  }
  return want_min ? a.i < b.i : a.i > b.i;
}

/* Merges cell src into dst (min/max/arg cells carry a "has a value" word). */
static void merge(int red, int fl, word *dst, const word *src) {
  switch (red) {
  case DAGR_RED_SUM:
    if (fl)
      dst[0].f += src[0].f;
    else
      dst[0].i = (int64_t)((uint64_t)dst[0].i + (uint64_t)src[0].i);
    break;
  case DAGR_RED_PROD:
    if (fl)
      dst[0].f *= src[0].f;
    else
      dst[0].i = (int64_t)((uint64_t)dst[0].i * (uint64_t)src[0].i);
    break;
  case DAGR_RED_ANY:
    dst[0].i = dst[0].i || src[0].i;
    break;
  case DAGR_RED_ALL:
    dst[0].i = dst[0].i && src[0].i;
    break;
  case DAGR_RED_MEAN:
  case DAGR_RED_VAR:
  case DAGR_RED_STD: {
    double na = dst[0].f, nb = src[0].f;
    if (nb == 0) break;
    if (na == 0) {
      dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
      break;
    }
    double n = na + nb, delta = src[1].f - dst[1].f;
    dst[1].f += delta * nb / n;
    dst[2].f += src[2].f + delta * delta * na * nb / n;
    dst[0].f = n;
    break;
  }
  case DAGR_RED_ARGMIN:
  case DAGR_RED_ARGMAX:
    if (src[1].i < 0) break;
    /* Ties keep the smaller index: the first occurrence, as NumPy. */
    if (dst[1].i < 0 || better(red, fl, src[0], dst[0]) ||
        (!better(red, fl, dst[0], src[0]) && src[1].i < dst[1].i &&
         !(fl && isnan(dst[0].f) && !isnan(src[0].f))))
      dst[0] = src[0], dst[1] = src[1];
    break;
  default: /* min, max */
    if (src[1].i < 0) break;
    if (dst[1].i < 0 || better(red, fl, src[0], dst[0])) dst[0] = src[0], dst[1] = src[1];
    break;
  }
}

static word read_word(const void *p, int dt, int64_t k, int fl) {
  word w;
  const unsigned char *b = p;
  switch (dt) {
  case DAGR_DTYPE_FLOAT64:
    memcpy(&w.f, b + 8 * k, 8);
    break;
  case DAGR_DTYPE_FLOAT32: {
    float f;
    memcpy(&f, b + 4 * k, 4);
    w.f = f;
    break;
  }
  case DAGR_DTYPE_INT64:
    memcpy(&w.i, b + 8 * k, 8);
    break;
  case DAGR_DTYPE_INT32: {
    int32_t i;
    memcpy(&i, b + 4 * k, 4);
    w.i = i;
    break;
  }
  default:
    w.i = b[k];
    break;
  }
  if (fl && dt != DAGR_DTYPE_FLOAT64 && dt != DAGR_DTYPE_FLOAT32) {
    int64_t iv = w.i;
    w.f = (double)iv;
  }
  return w;
}

/* Folds one input element x (with its global index gidx) into a cell. */
static inline void fold(int red, int fl, word *c, word x, int64_t gidx) {
  switch (red) {
  case DAGR_RED_MEAN:
  case DAGR_RED_VAR:
  case DAGR_RED_STD: {
    double n = c[0].f + 1, delta = x.f - c[1].f;
    c[0].f = n;
    c[1].f += delta / n;
    c[2].f += delta * (x.f - c[1].f);
    break;
  }
  case DAGR_RED_ARGMIN:
  case DAGR_RED_ARGMAX:
  case DAGR_RED_MIN:
  case DAGR_RED_MAX: {
    word s[2] = {x, {.i = red == DAGR_RED_MIN || red == DAGR_RED_MAX ? 1 : gidx}};
    merge(red, fl, c, s);
    break;
  }
  case DAGR_RED_ANY:
  case DAGR_RED_ALL: {
    word s = {.i = fl ? x.f != 0 : x.i != 0};
    merge(red, fl, c, &s);
    break;
  }
  default:
    merge(red, fl, c, &x);
    break;
  }
}

static int params(dagr_kctx_t *k, int64_t *red, int64_t *fl) {
  if (dagr_kernel_param_int(k, "red", red) || dagr_kernel_param_int(k, "float", fl) ||
      *red < DAGR_RED_SUM || *red > DAGR_RED_ALL)
    return dagr_kernel_fail(k, "array.reduce: bad parameters");
  return DAGR_OK;
}

/* Walks the chunk in C order, calling fn(cell, x) for each element. */
#define WALK(v, nd, ostride, BODY)                                                                 \
  do {                                                                                             \
    int64_t idx_[DAGR_MAX_NDIM] = {0}, o = 0, n_ = 1;                                              \
    for (int a_ = 0; a_ < (nd); a_++) n_ *= (v)->shape[a_];                                        \
    for (int64_t i = 0; i < n_; i++) {                                                             \
      double x = read_word((v)->data, (v)->dtype, i, 1).f;                                         \
      BODY;                                                                                        \
      for (int a_ = (nd)-1; a_ >= 0; a_--) {                                                       \
        idx_[a_]++;                                                                                \
        o += (ostride)[a_];                                                                        \
        if (idx_[a_] < (v)->shape[a_]) break;                                                      \
        o -= idx_[a_] * (ostride)[a_];                                                             \
        idx_[a_] = 0;                                                                              \
      }                                                                                            \
    }                                                                                              \
  } while (0)

/* Fast paths for float chunks, row by row along the last axis (contiguous in memory): a row
 * either folds into one cell (last axis reduced: a tight sum with several accumulators the
 * compiler vectorizes) or spreads over consecutive cells (last axis kept). Generic element
 * walking costs a dtype switch and a call per element; these loops run at memory speed. */
#define ROWS_BEGIN(v, nd, ostride)                                                                 \
  int64_t last_ = (nd) ? (v)->shape[(nd)-1] : 1, n_ = 1;                                           \
  for (int a_ = 0; a_ < (nd); a_++) n_ *= (v)->shape[a_];                                          \
  int64_t rows_ = last_ ? n_ / last_ : 0, idx_[DAGR_MAX_NDIM] = {0}, o = 0;                        \
  int folds_ = (nd) == 0 || (ostride)[(nd)-1] == 0;                                                \
  for (int64_t r_ = 0; r_ < rows_; r_++) {
#define ROWS_END(v, nd, ostride)                                                                   \
  for (int a_ = (nd)-2; a_ >= 0; a_--) {                                                           \
    idx_[a_]++;                                                                                    \
    o += (ostride)[a_];                                                                            \
    if (idx_[a_] < (v)->shape[a_]) break;                                                          \
    o -= idx_[a_] * (ostride)[a_];                                                                 \
    idx_[a_] = 0;                                                                                  \
  }                                                                                                \
  }

#define DEF_ROW_SUM(NAME, T)                                                                       \
  static void NAME(const dagr_view_t *v, int nd, const int64_t *ostride, word *cells, int st,      \
                   int comp, int count) {                                                          \
    const T *d = v->data;                                                                          \
    ROWS_BEGIN(v, nd, ostride)                                                                     \
    const T *row = d + r_ * last_;                                                                 \
    if (folds_) {                                                                                  \
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                       \
      int64_t j = 0;                                                                               \
      for (; j + 4 <= last_; j += 4) {                                                             \
        s0 += row[j];                                                                              \
        s1 += row[j + 1];                                                                          \
        s2 += row[j + 2];                                                                          \
        s3 += row[j + 3];                                                                          \
      }                                                                                            \
      for (; j < last_; j++) s0 += row[j];                                                         \
      cells[o * st + comp].f += (s0 + s1) + (s2 + s3);                                             \
      if (count >= 0) cells[o * st + count].f += (double)last_;                                    \
    } else if (st == 1 && count < 0) {                                                             \
      /* A plain sum keeping the last axis: one vectorizable add per element. */                   \
      double *restrict acc = &cells[o].f;                                                          \
      for (int64_t j = 0; j < last_; j++) acc[j] += row[j];                                        \
    } else {                                                                                       \
      for (int64_t j = 0; j < last_; j++) {                                                        \
        cells[(o + j) * st + comp].f += row[j];                                                    \
        if (count >= 0) cells[(o + j) * st + count].f += 1;                                        \
      }                                                                                            \
    }                                                                                              \
    ROWS_END(v, nd, ostride)                                                                       \
  }
DEF_ROW_SUM(row_sum_f64, double)
DEF_ROW_SUM(row_sum_f32, float)

/* Squared deviations from each cell's mean (component 1), and their plain sum for the
 * correction term, row by row. */
#define DEF_ROW_DEV(NAME, T)                                                                       \
  static void NAME(const dagr_view_t *v, int nd, const int64_t *ostride, word *cells,              \
                   double *comp) {                                                                 \
    const T *d = v->data;                                                                          \
    ROWS_BEGIN(v, nd, ostride)                                                                     \
    const T *row = d + r_ * last_;                                                                 \
    if (folds_) {                                                                                  \
      double m = cells[o * 3 + 1].f, q0 = 0, q1 = 0, c0 = 0, c1 = 0;                               \
      int64_t j = 0;                                                                               \
      for (; j + 2 <= last_; j += 2) {                                                             \
        double a = row[j] - m, b = row[j + 1] - m;                                                 \
        q0 += a * a;                                                                               \
        q1 += b * b;                                                                               \
        c0 += a;                                                                                   \
        c1 += b;                                                                                   \
      }                                                                                            \
      for (; j < last_; j++) {                                                                     \
        double a = row[j] - m;                                                                     \
        q0 += a * a;                                                                               \
        c0 += a;                                                                                   \
      }                                                                                            \
      cells[o * 3 + 2].f += q0 + q1;                                                               \
      comp[o] += c0 + c1;                                                                          \
    } else {                                                                                       \
      for (int64_t j = 0; j < last_; j++) {                                                        \
        double a = row[j] - cells[(o + j) * 3 + 1].f;                                              \
        cells[(o + j) * 3 + 2].f += a * a;                                                         \
        comp[o + j] += a;                                                                          \
      }                                                                                            \
    }                                                                                              \
    ROWS_END(v, nd, ostride)                                                                       \
  }
DEF_ROW_DEV(row_dev_f64, double)
DEF_ROW_DEV(row_dev_f32, float)

/* Count, mean and M2 of each cell in two passes over the chunk (mean first, then squared
 * deviations from it, corrected by the deviations' sum): one rounding of a large mean instead
 * of one per element as in a running update, so var/std stay within about 1e-13 even when the
 * mean is large against the spread. Partials are then merged pairwise (Chan et al.). */
static int moments(dagr_kctx_t *k, const dagr_view_t *v, int nd, const int64_t *ostride,
                   word *cells, int64_t ncell, int need_m2) {
  double *comp = calloc((size_t)ncell, sizeof *comp);
  if (!comp) return dagr_kernel_fail(k, "array.reduce_partial: out of memory");
  int f64 = v->dtype == DAGR_DTYPE_FLOAT64, f32 = v->dtype == DAGR_DTYPE_FLOAT32;
  if (f64)
    row_sum_f64(v, nd, ostride, cells, 3, 1, 0);
  else if (f32)
    row_sum_f32(v, nd, ostride, cells, 3, 1, 0);
  else
    WALK(v, nd, ostride, {
      cells[o * 3].f += 1;
      cells[o * 3 + 1].f += x;
    });
  for (int64_t c = 0; c < ncell; c++)
    if (cells[c * 3].f > 0) cells[c * 3 + 1].f /= cells[c * 3].f;
  /* A mean needs no second moment: skip the second pass. */
  if (!need_m2) {
    free(comp);
    return DAGR_OK;
  }
  if (f64)
    row_dev_f64(v, nd, ostride, cells, comp);
  else if (f32)
    row_dev_f32(v, nd, ostride, cells, comp);
  else
    WALK(v, nd, ostride, {
      double d = x - cells[o * 3 + 1].f;
      cells[o * 3 + 2].f += d * d;
      comp[o] += d;
    });
  for (int64_t c = 0; c < ncell; c++) {
    double n = cells[c * 3].f;
    if (n > 0) {
      cells[c * 3 + 2].f -= comp[c] * comp[c] / n;
      cells[c * 3 + 1].f += comp[c] / n;
    }
  }
  free(comp);
  return DAGR_OK;
}

int dagr__kernel_reduce_partial(dagr_kctx_t *k);
int dagr__kernel_reduce_partial(dagr_kctx_t *k) {
  int64_t red, fl;
  int rc = params(k, &red, &fl);
  if (rc) return rc;
  const int64_t *mask, *offset, *gshape;
  size_t n1, n2, n3;
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || dagr_kernel_param_int_array(k, "mask", &mask, &n1) ||
      dagr_kernel_param_int_array(k, "offset", &offset, &n2) ||
      dagr_kernel_param_int_array(k, "gshape", &gshape, &n3) || (int)n1 != v.ndim || n2 != n1 ||
      n3 != n1)
    return dagr_kernel_fail(k, "array.reduce_partial: bad parameters");
  int nd = v.ndim, nc = ncomp((int)red);
  int64_t cshape[DAGR_MAX_NDIM + 1], ostride[DAGR_MAX_NDIM], gstride[DAGR_MAX_NDIM], ncell = 1,
                                                                                     n = 1;
  for (int a = 0; a < nd; a++) {
    cshape[a] = mask[a] ? 1 : v.shape[a];
    ncell *= cshape[a];
    n *= v.shape[a];
  }
  cshape[nd] = nc;
  int64_t st = 1, gs = 1;
  for (int a = nd - 1; a >= 0; a--) {
    ostride[a] = mask[a] ? 0 : st;
    st *= cshape[a];
    gstride[a] = gs;
    gs *= gshape[a];
  }
  /* The global index an arg-reduction reports: the position along its one reduced axis, or
   * the flat C-order position when every axis is reduced. */
  int nmask = 0, argaxis = -1;
  for (int a = 0; a < nd; a++)
    if (mask[a]) nmask++, argaxis = a;
  int flat = nmask != 1;
  void *outp;
  if (dagr_kernel_output(k, (size_t)(ncell * nc) * 8, fl ? DAGR_DTYPE_FLOAT64 : DAGR_DTYPE_INT64,
                         nd + 1, cshape, &outp))
    return dagr_kernel_fail(k, "array.reduce_partial: no room for the partial");
  word *cells = outp;
  for (int64_t c = 0; c < ncell; c++) init_cell((int)red, (int)fl, cells + c * nc);
  if (red == DAGR_RED_MEAN || red == DAGR_RED_VAR || red == DAGR_RED_STD)
    return moments(k, &v, nd, ostride, cells, ncell, red != DAGR_RED_MEAN);
  /* negate (a subtracted term of a sum, see lower.c): the partial of -x. */
  int64_t negate = 0;
  if (dagr_kernel_param_int(k, "negate", &negate) != DAGR_OK) negate = 0;
  if (negate && (red != DAGR_RED_SUM || !fl))
    return dagr_kernel_fail(k, "array.reduce_partial: negate applies to float sums only");
  if (red == DAGR_RED_SUM && (v.dtype == DAGR_DTYPE_FLOAT64 || v.dtype == DAGR_DTYPE_FLOAT32)) {
    if (v.dtype == DAGR_DTYPE_FLOAT64)
      row_sum_f64(&v, nd, ostride, cells, 1, 0, -1);
    else
      row_sum_f32(&v, nd, ostride, cells, 1, 0, -1);
    if (negate)
      for (int64_t c = 0; c < ncell; c++) cells[c].f = -cells[c].f;
    return DAGR_OK;
  }
  int64_t idx[DAGR_MAX_NDIM] = {0}, o = 0;
  for (int64_t i = 0; i < n; i++) {
    word x = read_word(v.data, v.dtype, i, (int)fl);
    int64_t gidx = 0;
    if (red == DAGR_RED_ARGMIN || red == DAGR_RED_ARGMAX) {
      if (flat)
        for (int a = 0; a < nd; a++) gidx += (offset[a] + idx[a]) * gstride[a];
      else
        gidx = offset[argaxis] + idx[argaxis];
    }
    fold((int)red, (int)fl, cells + o * nc, x, gidx);
    for (int a = nd - 1; a >= 0; a--) {
      idx[a]++;
      o += ostride[a];
      if (idx[a] < v.shape[a]) break;
      o -= idx[a] * ostride[a];
      idx[a] = 0;
    }
  }
  return DAGR_OK;
}

/* Merges every input partial into a copy of the first. */
static int combine_into(dagr_kctx_t *k, int red, int fl, word **cells, int64_t *ncell, int *nd,
                        int64_t *shape, int final) {
  int n = dagr_kernel_ninputs(k), nc = ncomp(red);
  dagr_view_t v0;
  if (n < 1 || dagr_kernel_input(k, 0, &v0) || v0.ndim < 1)
    return dagr_kernel_fail(k, "array.reduce: needs partial inputs");
  *ncell = (int64_t)(v0.nbytes / 8) / nc;
  *nd = v0.ndim;
  memcpy(shape, v0.shape, sizeof(int64_t) * (size_t)v0.ndim);
  if (!final) {
    void *outp;
    if (dagr_kernel_output(k, v0.nbytes, v0.dtype, v0.ndim, v0.shape, &outp))
      return dagr_kernel_fail(k, "array.reduce_combine: no room");
    memcpy(outp, v0.data, v0.nbytes);
    *cells = outp;
  } else {
    *cells = NULL;
  }
  for (int i = 1; i < n; i++) {
    dagr_view_t v;
    dagr_kernel_input(k, i, &v);
    if (v.nbytes != v0.nbytes) return dagr_kernel_fail(k, "array.reduce: partials differ");
  }
  (void)fl;
  return DAGR_OK;
}

int dagr__kernel_reduce_combine(dagr_kctx_t *k);
int dagr__kernel_reduce_combine(dagr_kctx_t *k) {
  int64_t red, fl, ncell, shape[DAGR_MAX_NDIM + 1];
  int nd;
  word *cells;
  int rc = params(k, &red, &fl);
  if (!rc) rc = combine_into(k, (int)red, (int)fl, &cells, &ncell, &nd, shape, 0);
  if (rc) return rc;
  int nc = ncomp((int)red);
  for (int i = 1; i < dagr_kernel_ninputs(k); i++) {
    dagr_view_t v;
    dagr_kernel_input(k, i, &v);
    const word *src = v.data;
    for (int64_t c = 0; c < ncell; c++) merge((int)red, (int)fl, cells + c * nc, src + c * nc);
  }
  return DAGR_OK;
}

int dagr__kernel_reduce_final(dagr_kctx_t *k);
int dagr__kernel_reduce_final(dagr_kctx_t *k) {
  int64_t red, fl, ncell, pshape[DAGR_MAX_NDIM + 1], dt, ddof;
  int pnd;
  word *unused;
  int rc = params(k, &red, &fl);
  if (!rc) rc = combine_into(k, (int)red, (int)fl, &unused, &ncell, &pnd, pshape, 1);
  if (rc) return rc;
  const int64_t *shape;
  size_t nd;
  if (dagr_kernel_param_int(k, "dtype", &dt) || dagr_kernel_param_int(k, "ddof", &ddof) ||
      dagr_kernel_param_int_array(k, "shape", &shape, &nd))
    return dagr_kernel_fail(k, "array.reduce_final: bad parameters");
  /* divide: a mean computed as a sum of sums (lower.c), the element count (0 gives NaN). */
  double divide = 0;
  int has_divide = dagr_kernel_param_double(k, "divide", &divide) == DAGR_OK;
  if (has_divide && (red != DAGR_RED_SUM || !fl))
    return dagr_kernel_fail(k, "array.reduce_final: divide applies to float sums only");
  int64_t n = 1;
  for (size_t a = 0; a < nd; a++) n *= shape[a];
  if (n != ncell) return dagr_kernel_fail(k, "array.reduce_final: shape does not match partial");
  int nc = ncomp((int)red);
  void *outp;
  if (dagr_kernel_output(k, (size_t)n * dagr_dtype_size((int)dt), (int)dt, (int)nd, shape, &outp))
    return dagr_kernel_fail(k, "array.reduce_final: no room");
  dagr_view_t v0;
  dagr_kernel_input(k, 0, &v0);
  int nin = dagr_kernel_ninputs(k);
  for (int64_t c = 0; c < n; c++) {
    word cell[3];
    memcpy(cell, (const word *)v0.data + c * nc, sizeof(word) * (size_t)nc);
    for (int i = 1; i < nin; i++) {
      dagr_view_t v;
      dagr_kernel_input(k, i, &v);
      merge((int)red, (int)fl, cell, (const word *)v.data + c * nc);
    }
    double f = 0;
    int64_t iv = 0;
    int use_int = 0;
    switch (red) {
    case DAGR_RED_SUM:
      if (has_divide) {
        f = cell[0].f / divide;
        break;
      }
      if (fl)
        f = cell[0].f;
      else
        iv = cell[0].i, use_int = 1;
      break;
    case DAGR_RED_MEAN:
      f = cell[0].f > 0 ? cell[1].f : NAN;
      break;
    case DAGR_RED_VAR:
    case DAGR_RED_STD:
      f = cell[2].f / (cell[0].f - (double)ddof);
      if (cell[0].f - (double)ddof <= 0) f = NAN;
      if (red == DAGR_RED_STD) f = sqrt(f);
      break;
    case DAGR_RED_ARGMIN:
    case DAGR_RED_ARGMAX:
      iv = cell[1].i;
      use_int = 1;
      break;
    case DAGR_RED_ANY:
    case DAGR_RED_ALL: /* cells hold 0/1 as integers whatever the input class */
      iv = cell[0].i;
      use_int = 1;
      break;
    default:
      if (fl)
        f = cell[0].f;
      else
        iv = cell[0].i, use_int = 1;
      break;
    }
    unsigned char *o = outp;
    switch (dt) {
    case DAGR_DTYPE_FLOAT64:
      ((double *)outp)[c] = use_int ? (double)iv : f;
      break;
    case DAGR_DTYPE_FLOAT32:
      ((float *)outp)[c] = (float)(use_int ? (double)iv : f);
      break;
    case DAGR_DTYPE_INT64:
      ((int64_t *)outp)[c] = use_int ? iv : (int64_t)f;
      break;
    case DAGR_DTYPE_INT32:
      ((int32_t *)outp)[c] = (int32_t)(use_int ? iv : (int64_t)f);
      break;
    default:
      o[c] = (uint8_t)(use_int ? iv : (int64_t)f);
      break;
    }
  }
  return DAGR_OK;
}
