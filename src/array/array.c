/* array.c: building lazy array expressions: creation, elementwise ops, reductions, transpose,
 * indexing. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_impl.h"
#include "hdf5/h5io.h"
#include "runtime/ctx.h"

static uint64_t next_id = 1;

int dagr__array_err(dagr_ctx_t *ctx, int status, const char *fmt, ...) {
  if (ctx) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
  }
  return status;
}

void dagr__shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
  size_t n = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < ndim && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < len) snprintf(buf + n, len - n, ndim == 1 ? ",)" : ")");
}

int dagr__array_new(dagr_ctx_t *ctx, int kind, int dtype, dagr_array_t **out) {
  dagr_array_t *a = calloc(1, sizeof *a);
  if (!a) return dagr__array_err(ctx, DAGR_ENOMEM, "out of memory creating an array");
  a->refs = 1;
  a->ctx = ctx;
  a->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
  a->kind = kind;
  a->dtype = dtype;
  a->in = a->in_small;
  *out = a;
  return DAGR_OK;
}

int dagr__array_set_inputs(dagr_array_t *a, int n, dagr_array_t *const *in) {
  if (n > 3) {
    a->in = calloc((size_t)n, sizeof *a->in);
    if (!a->in) {
      a->in = a->in_small;
      return dagr__array_err(a->ctx, DAGR_ENOMEM, "out of memory");
    }
  }
  for (int i = 0; i < n; i++) {
    a->in[i] = in[i];
    in[i]->refs++;
  }
  a->nin = n;
  return DAGR_OK;
}

static void retain(dagr_array_t *a) {
  a->refs++;
}

dagr_array_t *dagr_array_retain(dagr_array_t *a) {
  if (a) retain(a);
  return a;
}

void dagr_array_release(dagr_array_t *a) {
  while (a && --a->refs == 0) {
    for (int i = 1; i < a->nin; i++) dagr_array_release(a->in[i]);
    dagr_array_t *first = a->nin > 0 ? a->in[0] : NULL;
    if (a->in != a->in_small) free(a->in);
    if (a->kind == DAGR__AN_BUFFER) free(a->u.buffer.data);
    if (a->kind == DAGR__AN_INDEX) dagr__ch_slice_plan_free(&a->u.index.plan);
    if (a->kind == DAGR__AN_H5) {
      free(a->u.h5.path);
      free(a->u.h5.dataset);
    }
    if (a->ext_free) a->ext_free(a->ext);
    dagr__ch_layout_free(&a->layout);
    free(a);
    a = first; /* iterative on the first input: long chains do not recurse deeply */
  }
}

int dagr_array_info(const dagr_array_t *a, int *dtype, int *ndim, int64_t *shape) {
  if (!a) return DAGR_EINVAL;
  if (dtype) *dtype = a->dtype;
  if (ndim) *ndim = a->layout.ndim;
  if (shape)
    for (int i = 0; i < a->layout.ndim; i++) shape[i] = a->layout.shape[i];
  return DAGR_OK;
}

int dagr_array_chunks(const dagr_array_t *a, int axis, int64_t *lengths, int64_t *n) {
  if (!a || !n || axis < 0 || axis >= a->layout.ndim) return DAGR_EINVAL;
  *n = a->layout.nblocks[axis];
  if (lengths) memcpy(lengths, a->layout.chunks[axis], (size_t)*n * sizeof *lengths);
  return DAGR_OK;
}

/* ---- dtype rules ---------------------------------------------------------------------- */

static int is_float(int dt) {
  return dt == DAGR_DTYPE_FLOAT32 || dt == DAGR_DTYPE_FLOAT64;
}
static int valid_dtype(int dt) {
  return dt == DAGR_DTYPE_FLOAT64 || dt == DAGR_DTYPE_FLOAT32 || dt == DAGR_DTYPE_INT64 ||
         dt == DAGR_DTYPE_INT32 || dt == DAGR_DTYPE_UINT8 || dt == DAGR_DTYPE_BOOL;
}

/* NumPy's promotion table restricted to dagr's dtypes. */
int dagr__dtype_promote(int a, int b) {
  if (a == b) return a;
  if (a == DAGR_DTYPE_BOOL) return b;
  if (b == DAGR_DTYPE_BOOL) return a;
  if (is_float(a) && is_float(b)) return DAGR_DTYPE_FLOAT64;
  if (is_float(a) || is_float(b)) {
    int f = is_float(a) ? a : b, i = is_float(a) ? b : a;
    /* float32 holds uint8 exactly; wider integers need float64. */
    if (f == DAGR_DTYPE_FLOAT32 && i != DAGR_DTYPE_UINT8) return DAGR_DTYPE_FLOAT64;
    return f;
  }
  /* integers: uint8 < int32 < int64 */
  if (a == DAGR_DTYPE_INT64 || b == DAGR_DTYPE_INT64) return DAGR_DTYPE_INT64;
  return DAGR_DTYPE_INT32;
}

static int is_compare(int op) {
  return op >= DAGR_OP_LT && op <= DAGR_OP_NE;
}

/* ---- creation --------------------------------------------------------------------------- */

static int check_ctx(dagr_ctx_t *ctx) {
  if (!ctx) return DAGR_EINVAL;
  if (!dagr_is_driver(ctx))
    return dagr__array_err(ctx, DAGR_ESTATE, "arrays are built and computed on rank 0");
  return DAGR_OK;
}

/* Chunks from the public convention (NULL: auto; 0 auto, -1 whole, n > 0). */
static int make_layout(dagr_ctx_t *ctx, int dtype, int ndim, const int64_t *shape,
                       const int64_t *chunks, dagr__ch_layout_t *out) {
  if (ndim < 0 || ndim > DAGR_MAX_NDIM)
    return dagr__array_err(ctx, DAGR_EINVAL, "an array has at most %d dimensions, not %d",
                           DAGR_MAX_NDIM, ndim);
  if (ndim > 0 && !shape) return dagr__array_err(ctx, DAGR_EINVAL, "shape is NULL");
  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  spec.itemsize = dagr_dtype_size(dtype);
  spec.target_bytes = DAGR_ARRAY_CHUNK_BYTES;
  for (int i = 0; i < ndim; i++) {
    int64_t c = chunks ? chunks[i] : 0;
    if (c == 0)
      spec.axis[i].kind = DAGR__CH_AUTO;
    else if (c == -1)
      spec.axis[i].kind = DAGR__CH_WHOLE;
    else {
      spec.axis[i].kind = DAGR__CH_SIZE;
      spec.axis[i].size = c;
    }
  }
  char err[DAGR__ERRLEN];
  int rc = dagr__ch_normalize(ndim, shape, &spec, out, err, sizeof err);
  if (rc) return dagr__array_err(ctx, rc, "%s", err);
  return DAGR_OK;
}

static int new_source(dagr_ctx_t *ctx, int kind, int dtype, int ndim, const int64_t *shape,
                      const int64_t *chunks, dagr_array_t **out) {
  int rc = check_ctx(ctx);
  if (rc) return rc;
  if (!out) return dagr__array_err(ctx, DAGR_EINVAL, "out is NULL");
  if (!valid_dtype(dtype))
    return dagr__array_err(ctx, DAGR_EINVAL, "unsupported array dtype %d (%s)", dtype,
                           dagr_dtype_name(dtype));
  dagr_array_t *a;
  rc = dagr__array_new(ctx, kind, dtype, &a);
  if (rc) return rc;
  rc = make_layout(ctx, dtype, ndim, shape, chunks, &a->layout);
  if (rc) {
    dagr_array_release(a);
    return rc;
  }
  *out = a;
  return DAGR_OK;
}

int dagr_array_full(dagr_ctx_t *ctx, int dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, double value, dagr_array_t **out) {
  int rc = new_source(ctx, DAGR__AN_FULL, dtype, ndim, shape, chunks, out);
  if (rc == DAGR_OK) (*out)->u.full.value = value;
  return rc;
}

int dagr_array_zeros(dagr_ctx_t *ctx, int dtype, int ndim, const int64_t *shape,
                     const int64_t *chunks, dagr_array_t **out) {
  return dagr_array_full(ctx, dtype, ndim, shape, chunks, 0.0, out);
}

int dagr_array_ones(dagr_ctx_t *ctx, int dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, dagr_array_t **out) {
  return dagr_array_full(ctx, dtype, ndim, shape, chunks, 1.0, out);
}

int dagr_array_scalar(dagr_ctx_t *ctx, int dtype, double value, dagr_array_t **out) {
  return dagr_array_full(ctx, dtype, 0, NULL, NULL, value, out);
}

int dagr_array_arange(dagr_ctx_t *ctx, double start, double stop, double step, int dtype,
                      int64_t chunk, dagr_array_t **out) {
  if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step))
    return dagr__array_err(ctx, DAGR_EINVAL, "arange needs finite bounds and a non-zero step");
  double len = ceil((stop - start) / step);
  int64_t n = len > 0 ? (int64_t)len : 0;
  int64_t shape[1] = {n}, chunks[1] = {chunk};
  int rc = new_source(ctx, DAGR__AN_ARANGE, dtype, 1, shape, &chunks[0], out);
  if (rc == DAGR_OK) {
    (*out)->u.arange.start = start;
    (*out)->u.arange.step = step;
  }
  return rc;
}

int dagr_array_linspace(dagr_ctx_t *ctx, double start, double stop, int64_t num, int64_t chunk,
                        dagr_array_t **out) {
  if (num < 0)
    return dagr__array_err(ctx, DAGR_EINVAL, "linspace needs num >= 0, not %lld", (long long)num);
  int64_t shape[1] = {num}, chunks[1] = {chunk};
  int rc = new_source(ctx, DAGR__AN_ARANGE, DAGR_DTYPE_FLOAT64, 1, shape, chunks, out);
  if (rc == DAGR_OK) {
    (*out)->u.arange.start = start;
    (*out)->u.arange.step = num > 1 ? (stop - start) / (double)(num - 1) : 0.0;
  }
  return rc;
}

static int random_array(dagr_ctx_t *ctx, uint64_t seed, int normal, int ndim, const int64_t *shape,
                        const int64_t *chunks, double a, double b, dagr_array_t **out) {
  int rc = new_source(ctx, DAGR__AN_RANDOM, DAGR_DTYPE_FLOAT64, ndim, shape, chunks, out);
  if (rc == DAGR_OK) {
    (*out)->u.random.seed = seed;
    (*out)->u.random.normal = normal;
    (*out)->u.random.a = a;
    (*out)->u.random.b = b;
  }
  return rc;
}

int dagr_array_random_uniform(dagr_ctx_t *ctx, uint64_t seed, int ndim, const int64_t *shape,
                              const int64_t *chunks, double low, double high, dagr_array_t **out) {
  return random_array(ctx, seed, 0, ndim, shape, chunks, low, high, out);
}

int dagr_array_random_normal(dagr_ctx_t *ctx, uint64_t seed, int ndim, const int64_t *shape,
                             const int64_t *chunks, double mean, double stddev,
                             dagr_array_t **out) {
  if (!(stddev >= 0)) return dagr__array_err(ctx, DAGR_EINVAL, "random_normal needs stddev >= 0");
  return random_array(ctx, seed, 1, ndim, shape, chunks, mean, stddev, out);
}

int dagr_array_from_buffer(dagr_ctx_t *ctx, const void *data, int dtype, int ndim,
                           const int64_t *shape, const int64_t *chunks, dagr_array_t **out) {
  if (!data) return dagr__array_err(ctx, DAGR_EINVAL, "from_buffer: data is NULL");
  int rc = new_source(ctx, DAGR__AN_BUFFER, dtype, ndim, shape, chunks, out);
  if (rc) return rc;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  size_t bytes = (size_t)n * dagr_dtype_size(dtype);
  (*out)->u.buffer.data = malloc(bytes ? bytes : 1);
  if (!(*out)->u.buffer.data) {
    dagr_array_release(*out);
    *out = NULL;
    return dagr__array_err(ctx, DAGR_ENOMEM, "from_buffer: cannot copy %zu bytes", bytes);
  }
  memcpy((*out)->u.buffer.data, data, bytes);
  return DAGR_OK;
}

int dagr_array_from_hdf5(dagr_ctx_t *ctx, const char *path, const char *dataset,
                         const int64_t *chunks, dagr_array_t **out) {
  int rc = check_ctx(ctx);
  if (rc) return rc;
  if (!path || !*path || !dataset || !*dataset || !out)
    return dagr__array_err(ctx, DAGR_EINVAL, "from_hdf5 needs a file, a dataset and out");
  dagr__h5_info info;
  char err[DAGR__ERRLEN];
  rc = dagr__h5_inspect(path, dataset, &info, err, sizeof err);
  if (rc) return dagr__array_err(ctx, rc, "%s", err);
  dagr_array_t *a;
  rc = dagr__array_new(ctx, DAGR__AN_H5, info.dtype, &a);
  if (rc) return rc;
  /* "auto" groups whole HDF5 chunks toward the chunk-size target, so no HDF5 chunk is read
   * (and decompressed) by two tasks. */
  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  spec.itemsize = dagr_dtype_size(info.dtype);
  spec.target_bytes = DAGR_ARRAY_CHUNK_BYTES;
  int chunked = 0;
  for (int i = 0; i < info.ndim; i++) chunked |= info.chunk[i] > 0;
  spec.storage_chunks = chunked ? info.chunk : NULL;
  for (int i = 0; i < info.ndim; i++) {
    int64_t c = chunks ? chunks[i] : 0;
    if (c == 0)
      spec.axis[i].kind = DAGR__CH_AUTO;
    else if (c == -1)
      spec.axis[i].kind = DAGR__CH_WHOLE;
    else {
      spec.axis[i].kind = DAGR__CH_SIZE;
      spec.axis[i].size = c;
    }
  }
  rc = dagr__ch_normalize(info.ndim, info.shape, &spec, &a->layout, err, sizeof err);
  a->u.h5.path = strdup(path);
  a->u.h5.dataset = strdup(dataset);
  if (rc || !a->u.h5.path || !a->u.h5.dataset) {
    dagr_array_release(a);
    return rc ? dagr__array_err(ctx, rc, "%s:%s: %s", path, dataset, err)
              : dagr__array_err(ctx, DAGR_ENOMEM, "out of memory");
  }
  *out = a;
  return DAGR_OK;
}

/* ---- elementwise ------------------------------------------------------------------------ */

/* Output layout of an elementwise node over inputs (NumPy broadcasting, right-aligned). Each
 * output axis takes the chunks of the operands that are not broadcast along it; operands
 * whose chunks differ there would need a rechunk first. */
static int ew_layout(dagr_ctx_t *ctx, int n, dagr_array_t *const *in, dagr__ch_layout_t *out) {
  int ndim = 0;
  for (int i = 0; i < n; i++)
    if (in[i]->layout.ndim > ndim) ndim = in[i]->layout.ndim;
  int64_t shape[DAGR_MAX_NDIM];
  const dagr__ch_layout_t *src[DAGR_MAX_NDIM];
  int srcax[DAGR_MAX_NDIM];
  for (int ax = 0; ax < ndim; ax++) {
    shape[ax] = 1;
    src[ax] = NULL;
    srcax[ax] = 0;
    for (int i = 0; i < n; i++) {
      const dagr__ch_layout_t *l = &in[i]->layout;
      int a = ax - (ndim - l->ndim);
      if (a < 0) continue;
      int64_t d = l->shape[a];
      if (d == 1 && l->nblocks[a] == 1) continue; /* broadcasts */
      if (shape[ax] != 1 && shape[ax] != d) {
        char s1[128], s2[128];
        dagr__shape_str(src[ax] ? src[ax]->ndim : 0, src[ax] ? src[ax]->shape : shape, s1,
                        sizeof s1);
        dagr__shape_str(l->ndim, l->shape, s2, sizeof s2);
        return dagr__array_err(ctx, DAGR_EINVAL,
                               "operands could not be broadcast together with shapes %s and %s "
                               "(axis %d: %lld vs %lld)",
                               s1, s2, ax, (long long)shape[ax], (long long)d);
      }
      if (src[ax] && (src[ax]->nblocks[srcax[ax]] != l->nblocks[a] ||
                      memcmp(src[ax]->chunks[srcax[ax]], l->chunks[a],
                             (size_t)l->nblocks[a] * sizeof(int64_t)) != 0))
        return dagr__array_err(ctx, DAGR_EINVAL,
                               "operands are chunked differently along axis %d; rechunk one of "
                               "them to the other's chunks first",
                               ax);
      shape[ax] = d;
      src[ax] = l;
      srcax[ax] = a;
    }
  }
  const int64_t *lists[DAGR_MAX_NDIM];
  int64_t ones[DAGR_MAX_NDIM];
  for (int ax = 0; ax < ndim; ax++) {
    ones[ax] = 1;
    lists[ax] = src[ax] ? src[ax]->chunks[srcax[ax]] : &ones[ax];
  }
  int64_t counts[DAGR_MAX_NDIM];
  for (int ax = 0; ax < ndim; ax++) counts[ax] = src[ax] ? src[ax]->nblocks[srcax[ax]] : 1;
  char err[DAGR__ERRLEN];
  int rc = dagr__ch_from_lists(ndim, shape, lists, counts, out, err, sizeof err);
  if (rc) return dagr__array_err(ctx, rc, "%s", err);
  return DAGR_OK;
}

static int ew_result_dtype(int op, int dt) {
  if (is_compare(op)) return DAGR_DTYPE_BOOL;
  if (op == DAGR_OP_DIV && !is_float(dt)) return DAGR_DTYPE_FLOAT64;
  switch (op) {
  case DAGR_OP_SQRT:
  case DAGR_OP_EXP:
  case DAGR_OP_LOG:
  case DAGR_OP_SIN:
  case DAGR_OP_COS:
  case DAGR_OP_TANH:
    return is_float(dt) ? dt : DAGR_DTYPE_FLOAT64;
  default:
    return dt;
  }
}

static int new_ew(dagr_ctx_t *ctx, int op, int dtype, int n, dagr_array_t *const *in,
                  dagr_array_t **out) {
  dagr_array_t *a;
  int rc = dagr__array_new(ctx, DAGR__AN_EW, dtype, &a);
  if (rc) return rc;
  rc = ew_layout(ctx, n, in, &a->layout);
  if (rc) {
    dagr_array_release(a);
    return rc;
  }
  a->u.ew.op = op;
  a->nin = n;
  for (int i = 0; i < n; i++) {
    a->in[i] = in[i];
    retain(in[i]);
  }
  *out = a;
  return DAGR_OK;
}

static int check_arrays(int n, dagr_array_t *const *in, dagr_array_t **out) {
  if (!in[0]) return DAGR_EINVAL;
  dagr_ctx_t *ctx = in[0]->ctx;
  if (!out) return dagr__array_err(ctx, DAGR_EINVAL, "out is NULL");
  for (int i = 1; i < n; i++) {
    if (!in[i]) return dagr__array_err(ctx, DAGR_EINVAL, "operand %d is NULL", i);
    if (in[i]->ctx != ctx)
      return dagr__array_err(ctx, DAGR_EINVAL, "operands belong to different contexts");
  }
  return DAGR_OK;
}

int dagr_array_binary(int op, dagr_array_t *a, dagr_array_t *b, dagr_array_t **out) {
  dagr_array_t *in[2] = {a, b};
  int rc = check_arrays(2, in, out);
  if (rc) return rc;
  if (op < DAGR_OP_ADD || op > DAGR_OP_MAXIMUM)
    return dagr__array_err(a->ctx, DAGR_EINVAL, "unknown binary operation %d", op);
  int common = dagr__dtype_promote(a->dtype, b->dtype);
  return new_ew(a->ctx, op, ew_result_dtype(op, common), 2, in, out);
}

int dagr_array_binary_scalar(int op, dagr_array_t *a, double scalar, int scalar_first,
                             dagr_array_t **out) {
  dagr_array_t *in[1] = {a};
  int rc = check_arrays(1, in, out);
  if (rc) return rc;
  if (op < DAGR_OP_ADD || op > DAGR_OP_MAXIMUM)
    return dagr__array_err(a->ctx, DAGR_EINVAL, "unknown binary operation %d", op);
  /* NumPy 1.x value-based casting for Python scalars: an integral scalar keeps the array's
   * dtype, a fractional one makes integer arrays float64 and keeps float32. */
  int integral = scalar == floor(scalar) && fabs(scalar) < 9.2e18;
  int sdt = integral ? (a->dtype == DAGR_DTYPE_BOOL ? DAGR_DTYPE_INT64 : a->dtype)
                     : (is_float(a->dtype) ? a->dtype : DAGR_DTYPE_FLOAT64);
  int common = dagr__dtype_promote(a->dtype, sdt);
  rc = new_ew(a->ctx, op, ew_result_dtype(op, common), 1, in, out);
  if (rc == DAGR_OK) {
    (*out)->u.ew.scalar = scalar;
    (*out)->u.ew.scalar_pos = scalar_first ? 2 : 1;
    (*out)->u.ew.scalar_dtype = sdt;
  }
  return rc;
}

int dagr_array_unary(int op, dagr_array_t *a, dagr_array_t **out) {
  dagr_array_t *in[1] = {a};
  int rc = check_arrays(1, in, out);
  if (rc) return rc;
  if (op < DAGR_OP_NEG || op > DAGR_OP_TANH)
    return dagr__array_err(a->ctx, DAGR_EINVAL, "unknown unary operation %d", op);
  return new_ew(a->ctx, op, ew_result_dtype(op, a->dtype), 1, in, out);
}

int dagr_array_where(dagr_array_t *cond, dagr_array_t *a, dagr_array_t *b, dagr_array_t **out) {
  dagr_array_t *in[3] = {cond, a, b};
  int rc = check_arrays(3, in, out);
  if (rc) return rc;
  return new_ew(cond->ctx, DAGR__EW_WHERE, dagr__dtype_promote(a->dtype, b->dtype), 3, in, out);
}

/* ---- reductions ------------------------------------------------------------------------- */

static int reduce_dtype(int red, int dt) {
  switch (red) {
  case DAGR_RED_SUM:
  case DAGR_RED_PROD:
    return dt == DAGR_DTYPE_BOOL || dt == DAGR_DTYPE_UINT8 || dt == DAGR_DTYPE_INT32
               ? DAGR_DTYPE_INT64
               : dt;
  case DAGR_RED_MEAN:
  case DAGR_RED_VAR:
  case DAGR_RED_STD:
    return dt == DAGR_DTYPE_FLOAT32 ? DAGR_DTYPE_FLOAT32 : DAGR_DTYPE_FLOAT64;
  case DAGR_RED_ARGMIN:
  case DAGR_RED_ARGMAX:
    return DAGR_DTYPE_INT64;
  case DAGR_RED_ANY:
  case DAGR_RED_ALL:
    return DAGR_DTYPE_BOOL;
  default:
    return dt; /* min, max */
  }
}

int dagr_array_reduce(int red, dagr_array_t *a, int naxes, const int *axes, int keepdims,
                      int split_every, int ddof, dagr_array_t **out) {
  dagr_array_t *in[1] = {a};
  int rc = check_arrays(1, in, out);
  if (rc) return rc;
  dagr_ctx_t *ctx = a->ctx;
  if (red < DAGR_RED_SUM || red > DAGR_RED_ALL)
    return dagr__array_err(ctx, DAGR_EINVAL, "unknown reduction %d", red);
  int nd = a->layout.ndim, mask[DAGR_MAX_NDIM] = {0};
  int all = naxes <= 0 || !axes;
  if (all) {
    for (int i = 0; i < nd; i++) mask[i] = 1;
  } else {
    if ((red == DAGR_RED_ARGMIN || red == DAGR_RED_ARGMAX) && naxes > 1)
      return dagr__array_err(ctx, DAGR_EINVAL, "argmin/argmax take one axis, not %d", naxes);
    for (int k = 0; k < naxes; k++) {
      int ax = axes[k] < 0 ? axes[k] + nd : axes[k];
      if (ax < 0 || ax >= nd)
        return dagr__array_err(ctx, DAGR_EINVAL,
                               "axis %d is out of bounds for array of dimension %d", axes[k], nd);
      if (mask[ax])
        return dagr__array_err(ctx, DAGR_EINVAL, "duplicate value in 'axis': %d", axes[k]);
      mask[ax] = 1;
    }
  }
  if (split_every < 0 || split_every == 1)
    return dagr__array_err(ctx, DAGR_EINVAL, "split_every must be 0 (default) or >= 2");
  if (ddof < 0) return dagr__array_err(ctx, DAGR_EINVAL, "ddof must be >= 0");
  dagr_array_t *r;
  rc = dagr__array_new(ctx, DAGR__AN_REDUCE, reduce_dtype(red, a->dtype), &r);
  if (rc) return rc;
  r->u.reduce.red = red;
  r->u.reduce.keepdims = keepdims;
  r->u.reduce.split_every = split_every ? split_every : 8;
  r->u.reduce.ddof = ddof;
  for (int i = 0; i < nd; i++)
    if (mask[i]) r->u.reduce.axes[r->u.reduce.naxes++] = i;
  /* Output layout: reduced axes vanish (or become length 1), others keep their chunks. */
  int ond = 0;
  int64_t shape[DAGR_MAX_NDIM], counts[DAGR_MAX_NDIM], one = 1;
  const int64_t *lists[DAGR_MAX_NDIM];
  for (int i = 0; i < nd; i++) {
    if (mask[i] && !keepdims) continue;
    shape[ond] = mask[i] ? 1 : a->layout.shape[i];
    lists[ond] = mask[i] ? &one : a->layout.chunks[i];
    counts[ond] = mask[i] ? 1 : a->layout.nblocks[i];
    ond++;
  }
  char err[DAGR__ERRLEN];
  rc = dagr__ch_from_lists(ond, shape, lists, counts, &r->layout, err, sizeof err);
  if (rc) {
    dagr_array_release(r);
    return dagr__array_err(ctx, rc, "%s", err);
  }
  r->nin = 1;
  r->in[0] = a;
  retain(a);
  *out = r;
  return DAGR_OK;
}

/* ---- structure -------------------------------------------------------------------------- */

int dagr_array_transpose(dagr_array_t *a, const int *perm, dagr_array_t **out) {
  dagr_array_t *in[1] = {a};
  int rc = check_arrays(1, in, out);
  if (rc) return rc;
  int nd = a->layout.ndim, p[DAGR_MAX_NDIM], seen[DAGR_MAX_NDIM] = {0};
  for (int i = 0; i < nd; i++) {
    p[i] = perm ? (perm[i] < 0 ? perm[i] + nd : perm[i]) : nd - 1 - i;
    if (p[i] < 0 || p[i] >= nd || seen[p[i]]++)
      return dagr__array_err(a->ctx, DAGR_EINVAL,
                             "axes don't match array: transpose needs a "
                             "permutation of 0..%d",
                             nd - 1);
  }
  dagr_array_t *t;
  rc = dagr__array_new(a->ctx, DAGR__AN_TRANSPOSE, a->dtype, &t);
  if (rc) return rc;
  int64_t shape[DAGR_MAX_NDIM], counts[DAGR_MAX_NDIM];
  const int64_t *lists[DAGR_MAX_NDIM];
  for (int i = 0; i < nd; i++) {
    t->u.transpose.perm[i] = p[i];
    shape[i] = a->layout.shape[p[i]];
    lists[i] = a->layout.chunks[p[i]];
    counts[i] = a->layout.nblocks[p[i]];
  }
  char err[DAGR__ERRLEN];
  rc = dagr__ch_from_lists(nd, shape, lists, counts, &t->layout, err, sizeof err);
  if (rc) {
    dagr_array_release(t);
    return dagr__array_err(a->ctx, rc, "%s", err);
  }
  t->nin = 1;
  t->in[0] = a;
  retain(a);
  *out = t;
  return DAGR_OK;
}

int dagr_array_index(dagr_array_t *a, int nidx, const dagr_index_t *idx, dagr_array_t **out) {
  dagr_array_t *in[1] = {a};
  int rc = check_arrays(1, in, out);
  if (rc) return rc;
  if (nidx < 0 || (nidx > 0 && !idx))
    return dagr__array_err(a->ctx, DAGR_EINVAL, "index list is NULL");
  dagr__ch_index_t ci[DAGR_MAX_NDIM];
  if (nidx > a->layout.ndim)
    return dagr__array_err(a->ctx, DAGR_EINVAL,
                           "too many indices for array: array is %d-dimensional, but %d were "
                           "indexed",
                           a->layout.ndim, nidx);
  for (int i = 0; i < nidx; i++) {
    memset(&ci[i], 0, sizeof ci[i]);
    if (idx[i].is_int) {
      ci[i].kind = DAGR__CH_IDX_INT;
      ci[i].value = idx[i].value;
    } else {
      ci[i].kind = DAGR__CH_IDX_SLICE;
      ci[i].has_start = idx[i].has_start;
      ci[i].has_stop = idx[i].has_stop;
      ci[i].has_step = idx[i].has_step;
      ci[i].start = idx[i].start;
      ci[i].stop = idx[i].stop;
      ci[i].step = idx[i].step;
    }
  }
  dagr_array_t *s;
  rc = dagr__array_new(a->ctx, DAGR__AN_INDEX, a->dtype, &s);
  if (rc) return rc;
  char err[DAGR__ERRLEN];
  rc = dagr__ch_slice(&a->layout, ci, nidx, &s->u.index.plan, err, sizeof err);
  if (rc) {
    s->kind = DAGR__AN_FULL; /* nothing to free in the plan */
    dagr_array_release(s);
    return dagr__array_err(a->ctx, rc, "%s", err);
  }
  rc = dagr__ch_layout_copy(&s->u.index.plan.out, &s->layout, err, sizeof err);
  if (rc) {
    dagr_array_release(s);
    return dagr__array_err(a->ctx, rc, "%s", err);
  }
  s->nin = 1;
  s->in[0] = a;
  retain(a);
  *out = s;
  return DAGR_OK;
}
