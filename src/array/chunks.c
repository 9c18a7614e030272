/* chunks.c: chunk layouts and plans (normalize, auto, unify, slice, rechunk, reshape), pure C. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array/chunks.h"

/* ---------------------------------------------------------------------------------------------
 * Small helpers.
 * ------------------------------------------------------------------------------------------- */

/* Formats a shape as "(5,1,3)" (or "()") for messages. */
static const char *fmt_shape(char *buf, size_t len, int ndim, const int64_t *shape) {
  size_t used = 0;
  int w = snprintf(buf, len, "(");
  if (w > 0) used = (size_t)w;
  for (int a = 0; a < ndim && used < len; a++) {
    w = snprintf(buf + used, len - used, "%s%lld", a ? "," : "", (long long)shape[a]);
    if (w > 0) used += (size_t)w;
  }
  if (used < len) snprintf(buf + used, len - used, ")");
  return buf;
}

/* Floor and ceiling division for a signed numerator and a positive divisor (C truncates). */
static int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
static int64_t ceildiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a > 0) ? q + 1 : q;
}

/* a*b into *r unless it overflows int64 (a, b >= 0). */
static int mul_ok(int64_t a, int64_t b, int64_t *r) {
  if (a != 0 && b > INT64_MAX / a) return 0;
  *r = a * b;
  return 1;
}

static int null_arg(char *err, size_t errlen, const char *what) {
  return dagr__errf(err, errlen, DAGR_EINVAL, "%s is NULL", what);
}

/* Allocates axis a for n blocks: one buffer holds the n extents then the n+1 offsets, so freeing
 * chunks[a] frees both. */
static int axis_alloc(dagr__ch_layout_t *l, int a, int64_t n, char *err, size_t errlen) {
  if (n < 1 || (uint64_t)n > (SIZE_MAX / sizeof(int64_t) - 1) / 2)
    return dagr__errf(err, errlen, DAGR_ENOMEM, "axis %d: %lld blocks is too many", a,
                      (long long)n);
  int64_t *buf = malloc((size_t)(2 * n + 1) * sizeof(int64_t));
  if (!buf) return dagr__errf(err, errlen, DAGR_ENOMEM, "axis %d: out of memory", a);
  l->chunks[a] = buf;
  l->offsets[a] = buf + n;
  l->nblocks[a] = n;
  return DAGR_OK;
}

/* Recomputes offsets of axis a from its extents. */
static void axis_offsets(dagr__ch_layout_t *l, int a) {
  int64_t s = 0;
  for (int64_t b = 0; b < l->nblocks[a]; b++) {
    l->offsets[a][b] = s;
    s += l->chunks[a][b];
  }
  l->offsets[a][l->nblocks[a]] = s;
}

/* Axis a as n copies of size with a ragged last block (size > 0), or one empty block when the
 * axis has length 0. */
static int axis_uniform(dagr__ch_layout_t *l, int a, int64_t size, char *err, size_t errlen) {
  int64_t len = l->shape[a];
  if (len == 0) {
    int st = axis_alloc(l, a, 1, err, errlen);
    if (st) return st;
    l->chunks[a][0] = 0;
  } else {
    if (size > len) size = len;
    int64_t n = len / size + (len % size != 0);
    int st = axis_alloc(l, a, n, err, errlen);
    if (st) return st;
    for (int64_t b = 0; b < n; b++) l->chunks[a][b] = size;
    if (len % size) l->chunks[a][n - 1] = len % size;
  }
  axis_offsets(l, a);
  return DAGR_OK;
}

static int axis_list(dagr__ch_layout_t *l, int a, const int64_t *list, int64_t n, char *err,
                     size_t errlen) {
  int64_t len = l->shape[a];
  if (n < 0 || (n > 0 && !list))
    return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d: chunk list is NULL or has %lld entries",
                      a, (long long)n);
  /* A length-0 axis takes () or (0) and becomes the single empty block dask uses. */
  if (len == 0 && (n == 0 || (n == 1 && list[0] == 0))) return axis_uniform(l, a, 1, err, errlen);
  if (n == 0)
    return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d: empty chunk list for length %lld", a,
                      (long long)len);
  int64_t sum = 0;
  for (int64_t b = 0; b < n; b++) {
    if (list[b] <= 0)
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "axis %d: chunk %lld has size %lld; chunk sizes must be positive", a,
                        (long long)b, (long long)list[b]);
    if (list[b] > INT64_MAX - sum)
      return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d: chunk sizes overflow 64 bits", a);
    sum += list[b];
  }
  if (sum != len)
    return dagr__errf(err, errlen, DAGR_EINVAL,
                      "axis %d: chunks sum to %lld but the axis length is %lld", a, (long long)sum,
                      (long long)len);
  int st = axis_alloc(l, a, n, err, errlen);
  if (st) return st;
  memcpy(l->chunks[a], list, (size_t)n * sizeof(int64_t));
  axis_offsets(l, a);
  return DAGR_OK;
}

static int check_ndim(int ndim, const int64_t *shape, const char *what, char *err, size_t errlen) {
  if (ndim < 0 || ndim > DAGR_MAX_NDIM)
    return dagr__errf(err, errlen, DAGR_EINVAL, "%s: ndim %d is outside 0..%d", what, ndim,
                      DAGR_MAX_NDIM);
  if (ndim > 0 && !shape) return dagr__errf(err, errlen, DAGR_EINVAL, "%s: shape is NULL", what);
  for (int a = 0; a < ndim; a++)
    if (shape[a] < 0)
      return dagr__errf(err, errlen, DAGR_EINVAL, "%s: axis %d has negative length %lld", what, a,
                        (long long)shape[a]);
  return DAGR_OK;
}

/* Checks that elements and blocks both count within int64, so the helpers never overflow. */
static int check_totals(const dagr__ch_layout_t *l, char *err, size_t errlen) {
  int64_t e = 1, b = 1;
  for (int a = 0; a < l->ndim; a++)
    if (!mul_ok(e, l->shape[a], &e) || !mul_ok(b, l->nblocks[a], &b))
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "shape or block count overflows 64 bits at axis %d", a);
  return DAGR_OK;
}

static void layout_begin(dagr__ch_layout_t *l, int ndim, const int64_t *shape) {
  memset(l, 0, sizeof *l);
  l->ndim = ndim;
  for (int a = 0; a < ndim; a++) l->shape[a] = shape[a];
}

/* ---------------------------------------------------------------------------------------------
 * Layouts.
 * ------------------------------------------------------------------------------------------- */

void dagr__ch_layout_free(dagr__ch_layout_t *l) {
  if (!l) return;
  for (int a = 0; a < DAGR_MAX_NDIM; a++) free(l->chunks[a]);
  memset(l, 0, sizeof *l);
}

int dagr__ch_layout_copy(const dagr__ch_layout_t *src, dagr__ch_layout_t *out, char *err,
                         size_t errlen) {
  if (!out) return null_arg(err, errlen, "layout copy output");
  memset(out, 0, sizeof *out);
  if (!src) return null_arg(err, errlen, "layout copy source");
  layout_begin(out, src->ndim, src->shape);
  for (int a = 0; a < src->ndim; a++) {
    int st = axis_alloc(out, a, src->nblocks[a], err, errlen);
    if (st) {
      dagr__ch_layout_free(out);
      return st;
    }
    memcpy(out->chunks[a], src->chunks[a], (size_t)src->nblocks[a] * sizeof(int64_t));
    axis_offsets(out, a);
  }
  return DAGR_OK;
}

int dagr__ch_layout_equal(const dagr__ch_layout_t *a, const dagr__ch_layout_t *b, int *equal) {
  if (!a || !b || !equal) return DAGR_EINVAL;
  *equal = 0;
  if (a->ndim != b->ndim) return DAGR_OK;
  for (int d = 0; d < a->ndim; d++) {
    if (a->shape[d] != b->shape[d] || a->nblocks[d] != b->nblocks[d]) return DAGR_OK;
    if (memcmp(a->chunks[d], b->chunks[d], (size_t)a->nblocks[d] * sizeof(int64_t)) != 0)
      return DAGR_OK;
  }
  *equal = 1;
  return DAGR_OK;
}

int dagr__ch_total_blocks(const dagr__ch_layout_t *l, int64_t *n) {
  if (!l || !n) return DAGR_EINVAL;
  int64_t t = 1;
  for (int a = 0; a < l->ndim; a++) t *= l->nblocks[a];
  *n = t;
  return DAGR_OK;
}

int dagr__ch_total_elems(const dagr__ch_layout_t *l, int64_t *n) {
  if (!l || !n) return DAGR_EINVAL;
  int64_t t = 1;
  for (int a = 0; a < l->ndim; a++) t *= l->shape[a];
  *n = t;
  return DAGR_OK;
}

static int check_idx(const dagr__ch_layout_t *l, const int64_t *idx, char *err, size_t errlen) {
  if (!l) return null_arg(err, errlen, "layout");
  if (l->ndim > 0 && !idx) return null_arg(err, errlen, "block index");
  for (int a = 0; a < l->ndim; a++)
    if (idx[a] < 0 || idx[a] >= l->nblocks[a])
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "block index %lld is out of range for axis %d with %lld blocks",
                        (long long)idx[a], a, (long long)l->nblocks[a]);
  return DAGR_OK;
}

int dagr__ch_block_id(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *id, char *err,
                      size_t errlen) {
  int st = check_idx(l, idx, err, errlen);
  if (st) return st;
  if (!id) return null_arg(err, errlen, "block id output");
  int64_t r = 0;
  for (int a = 0; a < l->ndim; a++) r = r * l->nblocks[a] + idx[a];
  *id = r;
  return DAGR_OK;
}

int dagr__ch_block_index(const dagr__ch_layout_t *l, int64_t id, int64_t *idx, char *err,
                         size_t errlen) {
  if (!l) return null_arg(err, errlen, "layout");
  if (l->ndim > 0 && !idx) return null_arg(err, errlen, "block index output");
  int64_t total;
  dagr__ch_total_blocks(l, &total);
  if (id < 0 || id >= total)
    return dagr__errf(err, errlen, DAGR_EINVAL, "block id %lld is out of range (%lld blocks)",
                      (long long)id, (long long)total);
  for (int a = l->ndim - 1; a >= 0; a--) {
    idx[a] = id % l->nblocks[a];
    id /= l->nblocks[a];
  }
  return DAGR_OK;
}

int dagr__ch_block_box(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *offset,
                       int64_t *count, char *err, size_t errlen) {
  int st = check_idx(l, idx, err, errlen);
  if (st) return st;
  for (int a = 0; a < l->ndim; a++) {
    if (offset) offset[a] = l->offsets[a][idx[a]];
    if (count) count[a] = l->chunks[a][idx[a]];
  }
  return DAGR_OK;
}

int dagr__ch_block_nelems(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *n, char *err,
                          size_t errlen) {
  int st = check_idx(l, idx, err, errlen);
  if (st) return st;
  if (!n) return null_arg(err, errlen, "element count output");
  int64_t t = 1;
  for (int a = 0; a < l->ndim; a++) t *= l->chunks[a][idx[a]];
  *n = t;
  return DAGR_OK;
}

/* Last block whose offset is <= pos (empty blocks never win over the one after them). */
static int64_t locate(const dagr__ch_layout_t *l, int a, int64_t pos) {
  int64_t lo = 0, hi = l->nblocks[a] - 1;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (l->offsets[a][mid] <= pos)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

int dagr__ch_locate(const dagr__ch_layout_t *l, int axis, int64_t pos, int64_t *block, char *err,
                    size_t errlen) {
  if (!l || !block) return null_arg(err, errlen, "layout or block output");
  if (axis < 0 || axis >= l->ndim)
    return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d is out of range for ndim %d", axis,
                      l->ndim);
  if (pos < 0 || pos >= l->shape[axis])
    return dagr__errf(err, errlen, DAGR_EINVAL,
                      "position %lld is out of bounds for axis %d with size %lld", (long long)pos,
                      axis, (long long)l->shape[axis]);
  *block = locate(l, axis, pos);
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Normalize and auto.
 * ------------------------------------------------------------------------------------------- */

void dagr__ch_spec_init(dagr__ch_spec_t *spec) {
  if (spec) memset(spec, 0, sizeof *spec); /* DAGR__CH_AUTO is 0 */
}

/* Roots such as 64^(1/3) land just under the integer in doubles; snap those so power-of-two
 * shapes give the chunk sizes a person would compute by hand. */
static double nudge(double x) {
  double r = nearbyint(x);
  return fabs(x - r) <= 1e-9 * fmax(1.0, fabs(r)) ? r : x;
}

/* dask's round_to: for c <= s the largest divisor of s in [c/2, c] (so the axis splits evenly),
 * else floor(c); for c > s the largest multiple of s not above c. The divisor search costs
 * min(c/2, sqrt(s)) steps and is skipped (floor(c)) beyond 1e7, which only very large targets
 * reach. */
static int64_t round_to(double c, int64_t s) {
  if (c > (double)s) return (int64_t)(c / (double)s) * s;
  int64_t hi = (int64_t)c, lo = (int64_t)ceil(c / 2);
  if (lo < 1) lo = 1;
  if (hi >= lo) {
    int64_t span = hi - lo + 1;
    int64_t root = (int64_t)sqrt((double)s) + 1;
    if (span <= root && span <= 10000000) {
      for (int64_t f = hi; f >= lo; f--)
        if (s % f == 0) return f;
    } else if (root <= 10000000) {
      int64_t best = 0;
      for (int64_t d = 1; d <= root && d * d <= s; d++) {
        if (s % d) continue;
        int64_t e = s / d;
        if (d >= lo && d <= hi && d > best) best = d;
        if (e >= lo && e <= hi && e > best) best = e;
      }
      if (best) return best;
    }
  }
  return hi > 1 ? hi : 1;
}

/* Chooses sizes for the axes marked in `autos` (cleared as they are decided). `largest` is the
 * element count of the largest block over the fixed axes. */
static void auto_sizes(int ndim, const int64_t *shape, int *autos, double limit, double largest,
                       const int64_t *storage, int64_t *size) {
  int nauto = 0;
  for (int a = 0; a < ndim; a++) nauto += autos[a];
  if (!nauto) return;
  if (!storage) {
    /* Equal sizes for every auto axis; axes shorter than that are taken whole and the rest
     * re-solved with the budget they leave. */
    for (;;) {
      double sz = nudge(pow(limit / largest, 1.0 / nauto));
      int small = 0;
      for (int a = 0; a < ndim; a++)
        if (autos[a] && (double)shape[a] < sz) {
          size[a] = shape[a];
          autos[a] = 0;
          largest *= (double)shape[a];
          nauto--;
          small = 1;
        }
      if (!small) {
        for (int a = 0; a < ndim; a++)
          if (autos[a]) size[a] = round_to(sz, shape[a]);
        return;
      }
      if (!nauto) return;
    }
  }
  /* Grow every auto axis from its storage chunk by the same factor (dask's aspect-preserving
   * loop), snapping to multiples of the storage chunk, until nothing changes. */
  double result[DAGR_MAX_NDIM];
  int64_t ideal[DAGR_MAX_NDIM];
  for (int a = 0; a < ndim; a++) {
    if (!autos[a]) continue;
    if (storage[a] >= shape[a]) { /* one storage chunk already spans the axis */
      size[a] = shape[a];
      autos[a] = 0;
      largest *= (double)shape[a];
      nauto--;
      continue;
    }
    result[a] = (double)storage[a];
    ideal[a] = storage[a] > 1 ? storage[a] : shape[a];
  }
  double prod = 1;
  for (int a = 0; a < ndim; a++)
    if (autos[a]) prod *= result[a];
  double mult = limit / largest / prod;
  for (int iter = 0; iter < 100 && nauto > 0; iter++) {
    double last_mult = mult;
    int changed = 0;
    for (int a = 0; a < ndim; a++) {
      if (!autos[a]) continue;
      double proposed = nudge(result[a] * pow(mult, 1.0 / nauto));
      if (proposed > (double)shape[a]) {
        size[a] = shape[a];
        autos[a] = 0;
        largest *= (double)shape[a];
        nauto--;
        changed = 1;
      } else {
        int64_t r = round_to(proposed, ideal[a]);
        if (r < storage[a]) r = storage[a]; /* never split a storage chunk */
        result[a] = (double)r;
      }
    }
    prod = 1;
    for (int a = 0; a < ndim; a++)
      if (autos[a]) prod *= result[a];
    mult = limit / largest / prod;
    if (!changed && mult == last_mult) break;
  }
  for (int a = 0; a < ndim; a++)
    if (autos[a]) size[a] = (int64_t)result[a];
}

int dagr__ch_normalize(int ndim, const int64_t *shape, const dagr__ch_spec_t *spec,
                       dagr__ch_layout_t *out, char *err, size_t errlen) {
  if (!out) return null_arg(err, errlen, "layout output");
  memset(out, 0, sizeof *out);
  if (!spec) return null_arg(err, errlen, "chunk spec");
  int st = check_ndim(ndim, shape, "chunks", err, errlen);
  if (st) return st;
  layout_begin(out, ndim, shape);

  int autos[DAGR_MAX_NDIM] = {0}, nauto = 0;
  int64_t size[DAGR_MAX_NDIM] = {0};
  double largest = 1; /* elements in the largest block over the fixed axes */
  for (int a = 0; a < ndim; a++) {
    const dagr__ch_axis_spec_t *s = &spec->axis[a];
    switch (s->kind) {
    case DAGR__CH_AUTO:
      if (shape[a] == 0) { /* nothing to size: one empty block */
        size[a] = 1;
      } else {
        autos[a] = 1;
        nauto++;
      }
      break;
    case DAGR__CH_WHOLE:
      size[a] = shape[a] ? shape[a] : 1;
      largest *= (double)size[a];
      break;
    case DAGR__CH_SIZE:
      if (s->size == -1) {
        size[a] = shape[a] ? shape[a] : 1;
      } else if (s->size <= 0) {
        return dagr__errf(err, errlen, DAGR_EINVAL,
                          "axis %d: chunk size %lld is invalid (positive, or -1 for the whole "
                          "axis)",
                          a, (long long)s->size);
      } else {
        size[a] = s->size < shape[a] ? s->size : (shape[a] ? shape[a] : 1);
      }
      largest *= (double)size[a];
      break;
    case DAGR__CH_LIST: {
      int64_t mx = 1;
      for (int64_t b = 0; s->list && b < s->n; b++)
        if (s->list[b] > mx) mx = s->list[b];
      largest *= (double)mx;
      break;
    }
    default:
      return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d: unknown chunk spec kind %d", a,
                        s->kind);
    }
  }
  if (nauto) {
    if (spec->itemsize == 0)
      return dagr__errf(err, errlen, DAGR_EINVAL, "auto chunks need the element size (itemsize 0)");
    if (spec->storage_chunks)
      for (int a = 0; a < ndim; a++)
        if (spec->storage_chunks[a] <= 0)
          return dagr__errf(err, errlen, DAGR_EINVAL,
                            "axis %d: storage (HDF5) chunk size %lld must be positive", a,
                            (long long)spec->storage_chunks[a]);
    int64_t target = spec->target_bytes > 0 ? spec->target_bytes : DAGR__CH_DEFAULT_TARGET;
    double limit = (double)target / (double)spec->itemsize;
    if (largest < 1) largest = 1;
    auto_sizes(ndim, shape, autos, limit, largest, spec->storage_chunks, size);
  }
  for (int a = 0; a < ndim; a++) {
    const dagr__ch_axis_spec_t *s = &spec->axis[a];
    st = s->kind == DAGR__CH_LIST ? axis_list(out, a, s->list, s->n, err, errlen)
                                  : axis_uniform(out, a, size[a] > 0 ? size[a] : 1, err, errlen);
    if (st) {
      dagr__ch_layout_free(out);
      return st;
    }
  }
  st = check_totals(out, err, errlen);
  if (st) dagr__ch_layout_free(out);
  return st;
}

int dagr__ch_uniform(int ndim, const int64_t *shape, const int64_t *sizes, dagr__ch_layout_t *out,
                     char *err, size_t errlen) {
  if (out) memset(out, 0, sizeof *out);
  if (ndim > 0 && !sizes) return null_arg(err, errlen, "chunk sizes");
  if (ndim < 0 || ndim > DAGR_MAX_NDIM) return check_ndim(ndim, shape, "chunks", err, errlen);
  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  for (int a = 0; a < ndim; a++) {
    spec.axis[a].kind = DAGR__CH_SIZE;
    spec.axis[a].size = sizes[a];
  }
  return dagr__ch_normalize(ndim, shape, &spec, out, err, errlen);
}

int dagr__ch_from_lists(int ndim, const int64_t *shape, const int64_t *const *lists,
                        const int64_t *n, dagr__ch_layout_t *out, char *err, size_t errlen) {
  if (out) memset(out, 0, sizeof *out);
  if (ndim > 0 && (!lists || !n)) return null_arg(err, errlen, "chunk lists");
  if (ndim < 0 || ndim > DAGR_MAX_NDIM) return check_ndim(ndim, shape, "chunks", err, errlen);
  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  for (int a = 0; a < ndim; a++) {
    spec.axis[a].kind = DAGR__CH_LIST;
    spec.axis[a].list = lists[a];
    spec.axis[a].n = n[a];
  }
  return dagr__ch_normalize(ndim, shape, &spec, out, err, errlen);
}

int dagr__ch_auto(int ndim, const int64_t *shape, size_t itemsize, int64_t target_bytes,
                  const int64_t *storage_chunks, dagr__ch_layout_t *out, char *err, size_t errlen) {
  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  spec.itemsize = itemsize;
  spec.target_bytes = target_bytes;
  spec.storage_chunks = storage_chunks;
  return dagr__ch_normalize(ndim, shape, &spec, out, err, errlen);
}

/* ---------------------------------------------------------------------------------------------
 * Broadcasting and unification.
 * ------------------------------------------------------------------------------------------- */

static const char *op_name(char *buf, size_t len, const char *const *names, int i) {
  if (names && names[i]) return names[i];
  snprintf(buf, len, "operand %d", i);
  return buf;
}

int dagr__ch_broadcast_shapes(int n, const int *ndims, const int64_t *const *shapes,
                              const char *const *names, int *out_ndim, int64_t *out_shape,
                              char *err, size_t errlen) {
  if (n < 1 || !ndims || !shapes || !out_ndim || !out_shape)
    return dagr__errf(err, errlen, DAGR_EINVAL, "broadcast needs at least one operand and outputs");
  int nd = 0;
  char nb[32];
  for (int i = 0; i < n; i++) {
    int st = check_ndim(ndims[i], shapes[i], op_name(nb, sizeof nb, names, i), err, errlen);
    if (st) return st;
    if (ndims[i] > nd) nd = ndims[i];
  }
  /* who[r]: the operand that set result axis r to a length other than 1, for the message. */
  int who[DAGR_MAX_NDIM];
  for (int r = 0; r < nd; r++) {
    out_shape[r] = 1;
    who[r] = -1;
  }
  for (int i = 0; i < n; i++) {
    int lead = nd - ndims[i];
    for (int a = 0; a < ndims[i]; a++) {
      int r = a + lead;
      int64_t v = shapes[i][a];
      if (v == 1) continue;
      if (out_shape[r] == 1) {
        out_shape[r] = v;
        who[r] = i;
      } else if (out_shape[r] != v) {
        char n1[32], n2[32], s1[200], s2[200];
        int j = who[r];
        return dagr__errf(
            err, errlen, DAGR_EINVAL,
            "cannot broadcast %s with shape %s against %s with shape %s: result "
            "axis %d has length %lld in one and %lld in the other",
            op_name(n1, sizeof n1, names, j), fmt_shape(s1, sizeof s1, ndims[j], shapes[j]),
            op_name(n2, sizeof n2, names, i), fmt_shape(s2, sizeof s2, ndims[i], shapes[i]), r,
            (long long)out_shape[r], (long long)v);
      }
    }
  }
  *out_ndim = nd;
  return DAGR_OK;
}

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

int dagr__ch_unify(int n, const dagr__ch_layout_t *const *in, const char *const *names,
                   dagr__ch_layout_t *out, char *err, size_t errlen) {
  if (!out) return null_arg(err, errlen, "layout output");
  memset(out, 0, sizeof *out);
  if (n < 1 || !in) return dagr__errf(err, errlen, DAGR_EINVAL, "unify needs at least one operand");
  int ndims[64];
  const int64_t *shapes[64];
  if (n > 64) return dagr__errf(err, errlen, DAGR_EINVAL, "unify takes at most 64 operands");
  for (int i = 0; i < n; i++) {
    if (!in[i]) return null_arg(err, errlen, "unify operand");
    ndims[i] = in[i]->ndim;
    shapes[i] = in[i]->shape;
  }
  int nd;
  int64_t shape[DAGR_MAX_NDIM];
  int st = dagr__ch_broadcast_shapes(n, ndims, shapes, names, &nd, shape, err, errlen);
  if (st) return st;
  layout_begin(out, nd, shape);
  for (int r = 0; r < nd; r++) {
    /* Union of the block boundaries of every operand spanning this axis at full length. */
    int64_t cap = 0;
    for (int i = 0; i < n; i++) {
      int a = r - (nd - in[i]->ndim);
      if (a >= 0 && in[i]->shape[a] == shape[r]) cap += in[i]->nblocks[a] + 1;
    }
    if (cap == 0 || shape[r] <= 1) { /* every operand broadcasts here, or length 0/1 */
      st = axis_uniform(out, r, 1, err, errlen);
      if (st) goto fail;
      continue;
    }
    int64_t *b = malloc((size_t)cap * sizeof(int64_t));
    if (!b) {
      st = dagr__errf(err, errlen, DAGR_ENOMEM, "unify: out of memory at axis %d", r);
      goto fail;
    }
    int64_t m = 0;
    for (int i = 0; i < n; i++) {
      int a = r - (nd - in[i]->ndim);
      if (a >= 0 && in[i]->shape[a] == shape[r])
        for (int64_t k = 0; k <= in[i]->nblocks[a]; k++) b[m++] = in[i]->offsets[a][k];
    }
    qsort(b, (size_t)m, sizeof(int64_t), cmp_i64);
    int64_t u = 0;
    for (int64_t k = 0; k < m; k++)
      if (u == 0 || b[k] != b[u - 1]) b[u++] = b[k];
    /* u boundaries from 0 to shape: u-1 blocks, all positive since shape > 1 and unique. */
    st = axis_alloc(out, r, u - 1, err, errlen);
    if (!st)
      for (int64_t k = 0; k + 1 < u; k++) out->chunks[r][k] = b[k + 1] - b[k];
    free(b);
    if (st) goto fail;
    axis_offsets(out, r);
  }
  st = check_totals(out, err, errlen);
  if (st) goto fail;
  return DAGR_OK;
fail:
  dagr__ch_layout_free(out);
  return st;
}

int dagr__ch_unify_operand(const dagr__ch_layout_t *uni, const dagr__ch_layout_t *op,
                           dagr__ch_layout_t *out, char *err, size_t errlen) {
  if (!out) return null_arg(err, errlen, "layout output");
  memset(out, 0, sizeof *out);
  if (!uni || !op) return null_arg(err, errlen, "layout");
  if (op->ndim > uni->ndim)
    return dagr__errf(err, errlen, DAGR_EINVAL,
                      "operand has %d axes, more than the unified layout's %d", op->ndim,
                      uni->ndim);
  layout_begin(out, op->ndim, op->shape);
  int lead = uni->ndim - op->ndim;
  for (int a = 0; a < op->ndim; a++) {
    int r = a + lead, st;
    if (op->shape[a] == uni->shape[r]) {
      st = axis_alloc(out, a, uni->nblocks[r], err, errlen);
      if (!st) {
        memcpy(out->chunks[a], uni->chunks[r], (size_t)uni->nblocks[r] * sizeof(int64_t));
        axis_offsets(out, a);
      }
    } else if (op->shape[a] == 1) {
      st = axis_uniform(out, a, 1, err, errlen);
    } else {
      st = dagr__errf(err, errlen, DAGR_EINVAL,
                      "operand axis %d (length %lld) does not broadcast to result axis %d "
                      "(length %lld)",
                      a, (long long)op->shape[a], r, (long long)uni->shape[r]);
    }
    if (st) {
      dagr__ch_layout_free(out);
      return st;
    }
  }
  return DAGR_OK;
}

int dagr__ch_broadcast_block(const dagr__ch_layout_t *uni, const dagr__ch_layout_t *op,
                             const int64_t *out_idx, int64_t *op_idx, char *err, size_t errlen) {
  if (!uni || !op) return null_arg(err, errlen, "layout");
  int st = check_idx(uni, out_idx, err, errlen);
  if (st) return st;
  if (op->ndim > uni->ndim || (op->ndim > 0 && !op_idx))
    return dagr__errf(err, errlen, DAGR_EINVAL, "operand has %d axes for a %d-d result", op->ndim,
                      uni->ndim);
  int lead = uni->ndim - op->ndim;
  for (int a = 0; a < op->ndim; a++) {
    int r = a + lead;
    if (op->shape[a] == uni->shape[r] && op->nblocks[a] == uni->nblocks[r])
      op_idx[a] = out_idx[r];
    else if (op->nblocks[a] == 1 && (op->shape[a] == 1 || uni->nblocks[r] == 1))
      op_idx[a] = 0;
    else
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "operand axis %d is not unified with result axis %d (%lld vs %lld "
                        "blocks); rechunk it to dagr__ch_unify_operand's layout",
                        a, r, (long long)op->nblocks[a], (long long)uni->nblocks[r]);
  }
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Slicing.
 * ------------------------------------------------------------------------------------------- */

void dagr__ch_slice_plan_free(dagr__ch_slice_plan_t *plan) {
  if (!plan) return;
  dagr__ch_layout_free(&plan->out);
  for (int a = 0; a < DAGR_MAX_NDIM; a++) free(plan->runs[a]);
  memset(plan, 0, sizeof *plan);
}

/* Python's slice.indices: clamps start/stop into range and counts the selection. */
static int normalize_slice(const dagr__ch_index_t *ix, int a, int64_t n, int64_t *start,
                           int64_t *step, int64_t *count, char *err, size_t errlen) {
  int64_t st = ix->has_step ? ix->step : 1;
  if (st == 0) return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d: slice step cannot be zero", a);
  int64_t lower = st > 0 ? 0 : -1, upper = st > 0 ? n : n - 1;
  int64_t s, e;
  if (ix->has_start) {
    s = ix->start;
    if (s < 0) {
      s = s < -n ? lower : s + n; /* compare before adding: s + n cannot overflow then */
      if (s < lower) s = lower;
    } else if (s > upper) {
      s = upper;
    }
  } else {
    s = st > 0 ? lower : upper;
  }
  if (ix->has_stop) {
    e = ix->stop;
    if (e < 0) {
      e = e < -n ? lower : e + n;
      if (e < lower) e = lower;
    } else if (e > upper) {
      e = upper;
    }
  } else {
    e = st > 0 ? upper : lower;
  }
  /* A stride of at least n picks at most one element; clamping keeps later products small. */
  int64_t lim = n > 0 ? n : 1;
  if (st > lim) st = lim;
  if (st < -lim) st = -lim;
  int64_t c;
  if (st > 0)
    c = e > s ? (e - s - 1) / st + 1 : 0;
  else
    c = s > e ? (s - e - 1) / (-st) + 1 : 0;
  *start = c ? s : 0;
  *step = st;
  *count = c;
  return DAGR_OK;
}

/* Runs of one sliced axis: the nonempty intersections of the selection with each input block,
 * in output order. */
static int axis_runs(const dagr__ch_layout_t *in, int a, int64_t start, int64_t step, int64_t count,
                     dagr__ch_run_t **runs_out, int64_t *nruns, char *err, size_t errlen) {
  /* normalize_slice already refused step 0; checked again so the divisions below are safe. */
  if (step == 0)
    return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d: slice step cannot be zero", a);
  int64_t cap = count < in->nblocks[a] ? count : in->nblocks[a];
  if (cap < 1) cap = 1;
  dagr__ch_run_t *runs = calloc((size_t)cap, sizeof *runs);
  if (!runs) return dagr__errf(err, errlen, DAGR_ENOMEM, "slice: out of memory at axis %d", a);
  int64_t m = 0;
  if (count == 0) {
    runs[0].step = step;
    m = 1;
  } else {
    const int64_t *o = in->offsets[a];
    int64_t last = start + (count - 1) * step;
    int64_t b0 = locate(in, a, start), b1 = locate(in, a, last);
    int64_t db = step > 0 ? 1 : -1;
    for (int64_t b = b0;; b += db) {
      int64_t klo, khi; /* selection indices k with o[b] <= start + k*step < o[b+1] */
      if (step > 0) {
        klo = ceildiv(o[b] - start, step);
        khi = ceildiv(o[b + 1] - start, step);
      } else {
        klo = floordiv(start - o[b + 1], -step) + 1;
        khi = floordiv(start - o[b], -step) + 1;
      }
      if (klo < 0) klo = 0;
      if (khi > count) khi = count;
      if (khi > klo) {
        runs[m].block = b;
        runs[m].start = start + klo * step - o[b];
        runs[m].step = step;
        runs[m].count = khi - klo;
        m++;
      }
      if (b == b1) break;
    }
  }
  *runs_out = runs;
  *nruns = m;
  return DAGR_OK;
}

int dagr__ch_slice(const dagr__ch_layout_t *in, const dagr__ch_index_t *index, int nidx,
                   dagr__ch_slice_plan_t *plan, char *err, size_t errlen) {
  if (!plan) return null_arg(err, errlen, "slice plan output");
  memset(plan, 0, sizeof *plan);
  if (!in) return null_arg(err, errlen, "layout");
  if (nidx < 0 || (nidx > 0 && !index))
    return dagr__errf(err, errlen, DAGR_EINVAL, "slice: bad index list (%d entries)", nidx);
  if (nidx > in->ndim)
    return dagr__errf(err, errlen, DAGR_EINVAL,
                      "too many indices for array: array is %d-dimensional, but %d were indexed",
                      in->ndim, nidx);
  plan->in_ndim = in->ndim;
  int64_t oshape[DAGR_MAX_NDIM];
  int ond = 0, st;
  for (int a = 0; a < in->ndim; a++) {
    dagr__ch_index_t full = {0};
    const dagr__ch_index_t *ix = a < nidx ? &index[a] : &full;
    int64_t n = in->shape[a];
    if (ix->kind == DAGR__CH_IDX_INT) {
      int64_t v = ix->value;
      if (v < -n || v >= n)
        return dagr__errf(err, errlen, DAGR_EINVAL,
                          "index %lld is out of bounds for axis %d with size %lld", (long long)v, a,
                          (long long)n);
      plan->start[a] = v < 0 ? v + n : v;
      plan->step[a] = 1;
      plan->count[a] = 1;
      plan->is_int[a] = 1;
      plan->out_axis[a] = -1;
    } else if (ix->kind == DAGR__CH_IDX_SLICE) {
      st = normalize_slice(ix, a, n, &plan->start[a], &plan->step[a], &plan->count[a], err, errlen);
      if (st) return st;
      plan->out_axis[a] = ond;
      oshape[ond++] = plan->count[a];
    } else {
      return dagr__errf(err, errlen, DAGR_EINVAL, "axis %d: unknown index kind %d", a, ix->kind);
    }
  }
  layout_begin(&plan->out, ond, oshape);
  for (int a = 0; a < in->ndim; a++) {
    int64_t m;
    st = axis_runs(in, a, plan->start[a], plan->step[a], plan->count[a], &plan->runs[a], &m, err,
                   errlen);
    if (st) goto fail;
    int j = plan->out_axis[a];
    if (j < 0) continue;
    st = axis_alloc(&plan->out, j, m, err, errlen);
    if (st) goto fail;
    for (int64_t k = 0; k < m; k++) plan->out.chunks[j][k] = plan->runs[a][k].count;
    axis_offsets(&plan->out, j);
  }
  st = check_totals(&plan->out, err, errlen);
  if (st) goto fail;
  return DAGR_OK;
fail:
  dagr__ch_slice_plan_free(plan);
  return st;
}

int dagr__ch_slice_block(const dagr__ch_slice_plan_t *plan, const int64_t *out_idx, int64_t *in_idx,
                         int64_t *start, int64_t *step, int64_t *count, char *err, size_t errlen) {
  if (!plan) return null_arg(err, errlen, "slice plan");
  int st = check_idx(&plan->out, out_idx, err, errlen);
  if (st) return st;
  for (int a = 0; a < plan->in_ndim; a++) {
    int j = plan->out_axis[a];
    const dagr__ch_run_t *r = &plan->runs[a][j < 0 ? 0 : out_idx[j]];
    if (in_idx) in_idx[a] = r->block;
    if (start) start[a] = r->start;
    if (step) step[a] = r->step;
    if (count) count[a] = r->count;
  }
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Rechunk.
 * ------------------------------------------------------------------------------------------- */

void dagr__ch_rechunk_plan_free(dagr__ch_rechunk_plan_t *plan) {
  if (!plan) return;
  dagr__ch_layout_free(&plan->in);
  dagr__ch_layout_free(&plan->out);
  for (int a = 0; a < DAGR_MAX_NDIM; a++) {
    free(plan->first[a]);
    free(plan->pieces[a]);
  }
  memset(plan, 0, sizeof *plan);
}

int dagr__ch_rechunk(const dagr__ch_layout_t *from, const dagr__ch_layout_t *to,
                     dagr__ch_rechunk_plan_t *plan, char *err, size_t errlen) {
  if (!plan) return null_arg(err, errlen, "rechunk plan output");
  memset(plan, 0, sizeof *plan);
  if (!from || !to) return null_arg(err, errlen, "rechunk layout");
  if (from->ndim != to->ndim)
    return dagr__errf(err, errlen, DAGR_EINVAL, "rechunk: source has %d axes, target has %d",
                      from->ndim, to->ndim);
  for (int a = 0; a < from->ndim; a++)
    if (from->shape[a] != to->shape[a])
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "rechunk: axis %d has length %lld in the source and %lld in the target", a,
                        (long long)from->shape[a], (long long)to->shape[a]);
  plan->ndim = from->ndim;
  int st = dagr__ch_layout_copy(from, &plan->in, err, errlen);
  if (!st) st = dagr__ch_layout_copy(to, &plan->out, err, errlen);
  if (st) goto fail;
  for (int a = 0; a < plan->ndim; a++) {
    int64_t nin = from->nblocks[a], nout = to->nblocks[a];
    /* Each boundary of either layout starts at most one new piece: nin + nout bounds them. */
    plan->first[a] = malloc((size_t)(nout + 1) * sizeof(int64_t));
    plan->pieces[a] = malloc((size_t)(nin + nout) * sizeof(dagr__ch_overlap_t));
    if (!plan->first[a] || !plan->pieces[a]) {
      st = dagr__errf(err, errlen, DAGR_ENOMEM, "rechunk: out of memory at axis %d", a);
      goto fail;
    }
    const int64_t *io = from->offsets[a], *oo = to->offsets[a];
    int64_t m = 0, i = 0;
    for (int64_t j = 0; j < nout; j++) {
      plan->first[a][j] = m;
      int64_t p = oo[j], q = oo[j + 1];
      while (i + 1 < nin && io[i + 1] <= p) i++; /* first input block that can overlap [p,q) */
      for (int64_t k = i; k < nin && io[k] < q; k++) {
        int64_t lo = io[k] > p ? io[k] : p, hi = io[k + 1] < q ? io[k + 1] : q;
        if (hi <= lo) continue;
        plan->pieces[a][m].in_block = k;
        plan->pieces[a][m].in_off = lo - io[k];
        plan->pieces[a][m].out_off = lo - p;
        plan->pieces[a][m].count = hi - lo;
        m++;
      }
    }
    plan->first[a][nout] = m;
  }
  return DAGR_OK;
fail:
  dagr__ch_rechunk_plan_free(plan);
  return st;
}

int dagr__ch_rechunk_npieces(const dagr__ch_rechunk_plan_t *plan, const int64_t *out_idx,
                             int64_t *n, char *err, size_t errlen) {
  if (!plan || !n) return null_arg(err, errlen, "rechunk plan or output");
  int st = check_idx(&plan->out, out_idx, err, errlen);
  if (st) return st;
  int64_t t = 1;
  for (int a = 0; a < plan->ndim; a++)
    t *= plan->first[a][out_idx[a] + 1] - plan->first[a][out_idx[a]];
  *n = t;
  return DAGR_OK;
}

int dagr__ch_rechunk_piece(const dagr__ch_rechunk_plan_t *plan, const int64_t *out_idx, int64_t k,
                           int64_t *in_idx, int64_t *in_off, int64_t *out_off, int64_t *count,
                           char *err, size_t errlen) {
  int64_t n;
  int st = dagr__ch_rechunk_npieces(plan, out_idx, &n, err, errlen);
  if (st) return st;
  if (k < 0 || k >= n)
    return dagr__errf(err, errlen, DAGR_EINVAL, "rechunk piece %lld is out of range (%lld pieces)",
                      (long long)k, (long long)n);
  for (int a = plan->ndim - 1; a >= 0; a--) { /* C order over the per-axis lists */
    int64_t f = plan->first[a][out_idx[a]];
    int64_t na = plan->first[a][out_idx[a] + 1] - f;
    const dagr__ch_overlap_t *p = &plan->pieces[a][f + k % na];
    k /= na;
    if (in_idx) in_idx[a] = p->in_block;
    if (in_off) in_off[a] = p->in_off;
    if (out_off) out_off[a] = p->out_off;
    if (count) count[a] = p->count;
  }
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reshape.
 * ------------------------------------------------------------------------------------------- */

void dagr__ch_reshape_plan_free(dagr__ch_reshape_plan_t *plan) {
  if (!plan) return;
  dagr__ch_layout_free(&plan->out);
  memset(plan, 0, sizeof *plan);
}

/* Output axis o as a copy of the extents in `c` scaled by 1/div and mul. */
static int axis_scaled(dagr__ch_layout_t *l, int o, const int64_t *c, int64_t n, int64_t mul,
                       int64_t div, char *err, size_t errlen) {
  int st = axis_alloc(l, o, n, err, errlen);
  if (st) return st;
  for (int64_t b = 0; b < n; b++) l->chunks[o][b] = c[b] / div * mul;
  axis_offsets(l, o);
  return DAGR_OK;
}

int dagr__ch_reshape(const dagr__ch_layout_t *in, int out_ndim, const int64_t *new_shape,
                     dagr__ch_reshape_plan_t *plan, char *err, size_t errlen) {
  if (!plan) return null_arg(err, errlen, "reshape plan output");
  memset(plan, 0, sizeof *plan);
  if (!in) return null_arg(err, errlen, "layout");
  if (out_ndim < 0 || out_ndim > DAGR_MAX_NDIM || (out_ndim > 0 && !new_shape))
    return dagr__errf(err, errlen, DAGR_EINVAL, "reshape: new ndim %d is outside 0..%d", out_ndim,
                      DAGR_MAX_NDIM);
  char s1[200], s2[200];
  int64_t total, known = 1, shape[DAGR_MAX_NDIM] = {0};
  int infer = -1;
  dagr__ch_total_elems(in, &total);
  for (int o = 0; o < out_ndim; o++) {
    shape[o] = new_shape[o];
    if (new_shape[o] == -1) {
      if (infer >= 0)
        return dagr__errf(err, errlen, DAGR_EINVAL,
                          "reshape: can only specify one unknown (-1) "
                          "dimension");
      infer = o;
    } else if (new_shape[o] < 0) {
      return dagr__errf(err, errlen, DAGR_EINVAL, "reshape: new axis %d has negative length %lld",
                        o, (long long)new_shape[o]);
    } else if (!mul_ok(known, new_shape[o], &known)) {
      return dagr__errf(err, errlen, DAGR_EINVAL, "reshape: new shape overflows 64 bits");
    }
  }
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      return dagr__errf(err, errlen, DAGR_EINVAL, "cannot reshape array of size %lld into shape %s",
                        (long long)total, fmt_shape(s2, sizeof s2, out_ndim, new_shape));
    shape[infer] = total / known;
    known = total;
  }
  if (known != total)
    return dagr__errf(err, errlen, DAGR_EINVAL, "cannot reshape array of size %lld into shape %s",
                      (long long)total, fmt_shape(s2, sizeof s2, out_ndim, new_shape));
  fmt_shape(s1, sizeof s1, in->ndim, in->shape);
  fmt_shape(s2, sizeof s2, out_ndim, shape);
  plan->in_ndim = in->ndim;
  layout_begin(&plan->out, out_ndim, shape);
  for (int a = 0; a < in->ndim; a++) plan->src_out_axis[a] = -1;
  int st = DAGR_OK;
  if (total == 0) { /* nothing to move: one (empty) block per axis */
    for (int o = 0; o < out_ndim && !st; o++)
      st = axis_uniform(&plan->out, o, shape[o] ? shape[o] : 1, err, errlen);
    if (st) goto fail;
    return DAGR_OK;
  }
  const int64_t *is = in->shape;
  int i = 0, o = 0;
  while ((i < in->ndim || o < out_ndim) && !st) {
    if (i < in->ndim && o < out_ndim && is[i] == shape[o]) { /* kept axis: same chunks */
      st = axis_scaled(&plan->out, o, in->chunks[i], in->nblocks[i], 1, 1, err, errlen);
      plan->src_out_axis[i++] = o++;
      continue;
    }
    if (i < in->ndim && is[i] == 1) { /* removed length-1 axis */
      i++;
      continue;
    }
    if (o < out_ndim && shape[o] == 1) { /* new length-1 axis */
      st = axis_uniform(&plan->out, o++, 1, err, errlen);
      continue;
    }
    /* A group of axes with equal products (both sides > 1 here, so both have axes left). */
    int i0 = i, o0 = o;
    int64_t pi = is[i++], po = shape[o++];
    while (pi != po) {
      if (pi < po)
        pi *= is[i++];
      else
        po *= shape[o++];
    }
    int ni = i - i0, no = o - o0;
    /* The first input axis with more than one chunk, past `from`. */
    int multi = -1;
    for (int k = i0 + (ni > 1 && no == 1 ? 1 : 0); k < i && multi < 0; k++)
      if (in->nblocks[k] > 1) multi = k;
    if (no == 1) { /* merge: all but the first input axis must be single chunks */
      if (multi >= 0) {
        st = dagr__errf(err, errlen, DAGR_EINVAL,
                        "cannot reshape %s to %s block by block: merging input axes %d..%d into "
                        "axis %d needs axes %d..%d in one chunk each, but axis %d has %lld "
                        "chunks; rechunk axis %d to -1 (whole) first",
                        s1, s2, i0, i - 1, o0, i0 + 1, i - 1, multi, (long long)in->nblocks[multi],
                        multi);
        break;
      }
      st =
          axis_scaled(&plan->out, o0, in->chunks[i0], in->nblocks[i0], pi / is[i0], 1, err, errlen);
      plan->src_out_axis[i0] = o0;
    } else if (ni == 1) { /* split: chunks must be whole multiples of the trailing new axes */
      int64_t trail = po / shape[o0];
      int64_t bad = -1;
      for (int64_t b = 0; b < in->nblocks[i0] && bad < 0; b++)
        if (in->chunks[i0][b] % trail) bad = b;
      if (bad >= 0) {
        st = dagr__errf(err, errlen, DAGR_EINVAL,
                        "cannot reshape %s to %s block by block: splitting input axis %d into "
                        "axes %d..%d needs its chunks to be multiples of %lld, but chunk %lld "
                        "has %lld; rechunk axis %d to a multiple of %lld (or -1) first",
                        s1, s2, i0, o0, o - 1, (long long)trail, (long long)bad,
                        (long long)in->chunks[i0][bad], i0, (long long)trail);
        break;
      }
      st = axis_scaled(&plan->out, o0, in->chunks[i0], in->nblocks[i0], 1, trail, err, errlen);
      for (int k = o0 + 1; k < o && !st; k++)
        st = axis_uniform(&plan->out, k, shape[k], err, errlen);
      plan->src_out_axis[i0] = o0;
    } else { /* many to many: only whole axes can be regrouped */
      if (multi >= 0) {
        st = dagr__errf(err, errlen, DAGR_EINVAL,
                        "cannot reshape %s to %s block by block: input axes %d..%d regroup into "
                        "axes %d..%d, which needs each in one chunk, but axis %d has %lld "
                        "chunks; rechunk axes %d..%d to -1 (whole) first",
                        s1, s2, i0, i - 1, o0, o - 1, multi, (long long)in->nblocks[multi], i0,
                        i - 1);
        break;
      }
      for (int k = o0; k < o && !st; k++) st = axis_uniform(&plan->out, k, shape[k], err, errlen);
    }
  }
  if (!st) st = check_totals(&plan->out, err, errlen);
  if (st) goto fail;
  return DAGR_OK;
fail:
  dagr__ch_reshape_plan_free(plan);
  return st;
}

int dagr__ch_reshape_block(const dagr__ch_reshape_plan_t *plan, const int64_t *out_idx,
                           int64_t *in_idx, char *err, size_t errlen) {
  if (!plan) return null_arg(err, errlen, "reshape plan");
  int st = check_idx(&plan->out, out_idx, err, errlen);
  if (st) return st;
  if (plan->in_ndim > 0 && !in_idx) return null_arg(err, errlen, "input block output");
  for (int a = 0; a < plan->in_ndim; a++)
    in_idx[a] = plan->src_out_axis[a] >= 0 ? out_idx[plan->src_out_axis[a]] : 0;
  return DAGR_OK;
}
