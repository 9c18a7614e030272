/* op_shape.c: rechunk, concatenate, stack and reshape of lazy arrays: nodes, lowering, kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_impl.h"

/* All four operations are DAGR__AN_EXT nodes with their own lowering hook; the generic code in
 * array.c/lower.c knows nothing of them.
 *
 *  - rechunk: one task per output block whose dependencies are the input blocks it overlaps
 *    (dagr__ch_rechunk's plan); its parameters carry every piece's hyperslab (offset in the
 *    input block, offset in the output block, extent), and the kernel copies each piece row by
 *    row along the last axis. A rechunk of a rechunk plans straight from the first one's input
 *    (the intermediate is never materialized), and a rechunk to the same layout is the input
 *    itself. A single-stage plan can give a task many dependencies (e.g. merging thousands of
 *    tiny chunks into one); dask's multi-stage rechunk is not done.
 *  - concatenate: output blocks map 1:1 to input blocks (the output's chunks along the axis are
 *    the inputs' chunks in sequence; other axes take the first operand's chunks, and later
 *    operands chunked otherwise are rechunked to them). Each output block is still a task, a
 *    copy (converting dtype where the operand's differs): a node's blocks are named by the
 *    node's own keys ('concatenate-ID', i, j), which compute/store and downstream nodes ask
 *    for, and a graph key names exactly one task, so an output block cannot just be another
 *    node's key; kernels cannot alias their inputs either. The copy is one memcpy per block.
 *  - stack: each operand gets a length-1 axis by reshape (always block by block), then they are
 *    concatenated along it, so the new axis has chunks of 1 as in dask.
 *  - reshape: dagr__ch_reshape decides the output chunks so that every output block is the
 *    C-order reinterpretation of exactly one input block (a memcpy task). Where the chunks do
 *    not allow that, the input is first rechunked automatically (dask's reshape_rechunk,
 *    simplified): merged axes after the first become whole (the first axis' chunks shrink to
 *    keep the chunk size), a split axis gets chunks that are multiples of the trailing new axes,
 *    and many-to-many groups become whole axes. So reshape refuses only shapes (element count,
 *    more than one -1, negative lengths), never chunkings. */

#define K_RECHUNK "array.rechunk"
#define K_CONCAT  "array.concat_copy"
#define K_RESHAPE "array.reshape"

static int lower_rechunk(dagr__lower *L, dagr_array_t *r);
static int lower_concat(dagr__lower *L, dagr_array_t *c);
static int lower_reshape(dagr__lower *L, dagr_array_t *s);

/* ---- dtype conversion and box copies (kernels) ---------------------------------------------- */

static int is_float_dt(int dt) {
  return dt == DAGR_DTYPE_FLOAT64 || dt == DAGR_DTYPE_FLOAT32;
}

/* n elements from src (dtype dti) to dst (dtype dto), as NumPy's astype does for the widening
 * conversions concatenate's promotion produces. */
static void convert(void *dst, int dto, const void *src, int dti, int64_t n) {
  if (n <= 0) return;
  if (dto == dti) {
    memcpy(dst, src, (size_t)n * dagr_dtype_size(dti));
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double f = 0;
    int64_t v = 0;
    switch (dti) {
    case DAGR_DTYPE_FLOAT64:
      f = ((const double *)src)[i];
      break;
    case DAGR_DTYPE_FLOAT32:
      f = ((const float *)src)[i];
      break;
    case DAGR_DTYPE_INT64:
      v = ((const int64_t *)src)[i];
      break;
    case DAGR_DTYPE_INT32:
      v = ((const int32_t *)src)[i];
      break;
    default: /* uint8, bool */
      v = ((const uint8_t *)src)[i];
      break;
    }
    int fl = is_float_dt(dti);
    switch (dto) {
    case DAGR_DTYPE_FLOAT64:
      ((double *)dst)[i] = fl ? f : (double)v;
      break;
    case DAGR_DTYPE_FLOAT32:
      ((float *)dst)[i] = (float)(fl ? f : (double)v);
      break;
    case DAGR_DTYPE_INT64:
      ((int64_t *)dst)[i] = fl ? (int64_t)f : v;
      break;
    case DAGR_DTYPE_INT32:
      ((int32_t *)dst)[i] = (int32_t)(fl ? (int64_t)f : v);
      break;
    case DAGR_DTYPE_BOOL:
      ((uint8_t *)dst)[i] = fl ? f != 0 : v != 0;
      break;
    default:
      ((uint8_t *)dst)[i] = (uint8_t)(fl ? (int64_t)f : v);
      break;
    }
  }
}

static void c_strides(int nd, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int a = nd - 1; a >= 0; a--) {
    stride[a] = s;
    s *= shape[a];
  }
}

/* Copies the box count[] at soff[] of src (strides sstride) to doff[] of dst, one row along the
 * last axis at a time (memcpy when the dtypes agree). */
static void copy_box(unsigned char *dst, int dto, const int64_t *dstride, const int64_t *doff,
                     const unsigned char *src, int dti, const int64_t *sstride, const int64_t *soff,
                     const int64_t *count, int nd) {
  size_t eo = dagr_dtype_size(dto), ei = dagr_dtype_size(dti);
  if (nd == 0) {
    convert(dst, dto, src, dti, 1);
    return;
  }
  for (int a = 0; a < nd; a++)
    if (count[a] <= 0) return;
  int64_t j[DAGR_MAX_NDIM] = {0}, row = count[nd - 1];
  for (;;) {
    int64_t so = soff[nd - 1], dof = doff[nd - 1];
    for (int a = 0; a < nd - 1; a++) {
      so += (soff[a] + j[a]) * sstride[a];
      dof += (doff[a] + j[a]) * dstride[a];
    }
    convert(dst + (size_t)dof * eo, dto, src + (size_t)so * ei, dti, row);
    int a = nd - 2;
    for (; a >= 0; a--) {
      if (++j[a] < count[a]) break;
      j[a] = 0;
    }
    if (a < 0) break;
  }
}

static int valid_dt(int64_t dt) {
  return dt == DAGR_DTYPE_FLOAT64 || dt == DAGR_DTYPE_FLOAT32 || dt == DAGR_DTYPE_INT64 ||
         dt == DAGR_DTYPE_INT32 || dt == DAGR_DTYPE_UINT8 || dt == DAGR_DTYPE_BOOL;
}

/* Checks that a view holds its shape's elements; returns the element count or -1. */
static int64_t view_elems(const dagr_view_t *v) {
  if (v->ndim < 0 || v->ndim > DAGR_MAX_NDIM || !valid_dt(v->dtype)) return -1;
  int64_t n = 1;
  for (int a = 0; a < v->ndim; a++) {
    if (v->shape[a] < 0) return -1;
    n *= v->shape[a];
  }
  if (v->nbytes < (size_t)n * dagr_dtype_size(v->dtype)) return -1;
  return n;
}

/* Output block `shape` of dtype `dtype` assembled from the pieces of its inputs: piece p (input
 * p) copies extent count[p*nd..] from in_off[p*nd..] of input p to out_off[p*nd..]. */
static int k_rechunk(dagr_kctx_t *k) {
  const int64_t *shape, *ioff, *ooff, *cnt;
  size_t nd, n1, n2, n3;
  int64_t dt;
  if (dagr_kernel_param_int_array(k, "shape", &shape, &nd) ||
      dagr_kernel_param_int(k, "dtype", &dt) ||
      dagr_kernel_param_int_array(k, "in_off", &ioff, &n1) ||
      dagr_kernel_param_int_array(k, "out_off", &ooff, &n2) ||
      dagr_kernel_param_int_array(k, "count", &cnt, &n3) || nd > DAGR_MAX_NDIM || !valid_dt(dt))
    return dagr_kernel_fail(k, K_RECHUNK ": missing or bad parameters");
  int np = dagr_kernel_ninputs(k);
  if (np < 0 || n1 != (size_t)np * nd || n2 != n1 || n3 != n1)
    return dagr_kernel_fail(k, K_RECHUNK ": %d inputs but %zu piece offsets", np, n1);
  int64_t n = 1, ost[DAGR_MAX_NDIM], ist[DAGR_MAX_NDIM];
  for (size_t a = 0; a < nd; a++) n *= shape[a];
  void *out;
  if (dagr_kernel_output(k, (size_t)n * dagr_dtype_size((int)dt), (int)dt, (int)nd, shape, &out))
    return dagr_kernel_fail(k, K_RECHUNK ": no room for a %lld-element block", (long long)n);
  c_strides((int)nd, shape, ost);
  for (int p = 0; p < np; p++) {
    dagr_view_t v;
    if (dagr_kernel_input(k, p, &v) || view_elems(&v) < 0 || v.ndim != (int)nd)
      return dagr_kernel_fail(k, K_RECHUNK ": input %d is not a %zu-d block", p, nd);
    const int64_t *io = ioff + (size_t)p * nd, *oo = ooff + (size_t)p * nd,
                  *c = cnt + (size_t)p * nd;
    for (size_t a = 0; a < nd; a++)
      if (c[a] < 0 || io[a] < 0 || oo[a] < 0 || io[a] + c[a] > v.shape[a] ||
          oo[a] + c[a] > shape[a])
        return dagr_kernel_fail(k, K_RECHUNK ": piece %d leaves its blocks on axis %zu", p, a);
    c_strides((int)nd, v.shape, ist);
    copy_box(out, (int)dt, ost, oo, v.data, v.dtype, ist, io, c, (int)nd);
  }
  return DAGR_OK;
}

/* The input block, converted to `dtype`. */
static int k_concat_copy(dagr_kctx_t *k) {
  int64_t dt, n;
  dagr_view_t v;
  if (dagr_kernel_param_int(k, "dtype", &dt) || !valid_dt(dt) || dagr_kernel_input(k, 0, &v) ||
      (n = view_elems(&v)) < 0)
    return dagr_kernel_fail(k, K_CONCAT ": missing or bad parameters or input");
  void *out;
  if (dagr_kernel_output(k, (size_t)n * dagr_dtype_size((int)dt), (int)dt, v.ndim, v.shape, &out))
    return dagr_kernel_fail(k, K_CONCAT ": no room for a %lld-element block", (long long)n);
  convert(out, (int)dt, v.data, v.dtype, n);
  return DAGR_OK;
}

/* The input block's elements in C order under the new block shape. */
static int k_reshape(dagr_kctx_t *k) {
  const int64_t *shape;
  size_t nd;
  int64_t n, m = 1;
  dagr_view_t v;
  if (dagr_kernel_param_int_array(k, "shape", &shape, &nd) || nd > DAGR_MAX_NDIM ||
      dagr_kernel_input(k, 0, &v) || (n = view_elems(&v)) < 0)
    return dagr_kernel_fail(k, K_RESHAPE ": missing or bad parameters or input");
  for (size_t a = 0; a < nd; a++) m *= shape[a];
  if (m != n)
    return dagr_kernel_fail(k, K_RESHAPE ": a %lld-element block cannot hold %lld elements",
                            (long long)m, (long long)n);
  void *out;
  size_t bytes = (size_t)n * dagr_dtype_size(v.dtype);
  if (dagr_kernel_output(k, bytes, v.dtype, (int)nd, shape, &out))
    return dagr_kernel_fail(k, K_RESHAPE ": no room for a %lld-element block", (long long)n);
  if (bytes) memcpy(out, v.data, bytes);
  return DAGR_OK;
}

/* Every rank registers the same names at load time (the program is SPMD). */
__attribute__((constructor)) static void op_shape_register(void) {
  (void)dagr_kernel_register(K_RECHUNK, k_rechunk);
  (void)dagr_kernel_register(K_CONCAT, k_concat_copy);
  (void)dagr_kernel_register(K_RESHAPE, k_reshape);
}

/* ---- node construction ---------------------------------------------------------------------- */

/* A new extension node of dtype with layout `layout` (copied) and inputs in. */
static int new_node(dagr_ctx_t *ctx, const char *name, int (*lower)(dagr__lower *, dagr_array_t *),
                    int dtype, const dagr__ch_layout_t *layout, int nin, dagr_array_t *const *in,
                    dagr_array_t **out) {
  dagr_array_t *a;
  int rc = dagr__array_new(ctx, DAGR__AN_EXT, dtype, &a);
  if (rc) return rc;
  a->ext_name = name;
  a->ext_lower = lower;
  char err[DAGR__ERRLEN];
  rc = dagr__ch_layout_copy(layout, &a->layout, err, sizeof err);
  if (rc) {
    dagr_array_release(a);
    return dagr__array_err(ctx, rc, "%s: %s", name, err);
  }
  rc = dagr__array_set_inputs(a, nin, in);
  if (rc) {
    dagr_array_release(a);
    return rc;
  }
  *out = a;
  return DAGR_OK;
}

static int is_rechunk(const dagr_array_t *a) {
  return a->kind == DAGR__AN_EXT && a->ext_lower == lower_rechunk;
}

/* a rechunked to `to` (same shape): a itself when the layout is already `to`, and planned from
 * the source of a when a is itself a rechunk. */
static int make_rechunk(dagr_array_t *a, const dagr__ch_layout_t *to, dagr_array_t **out) {
  int eq = 0;
  dagr__ch_layout_equal(&a->layout, to, &eq);
  if (eq) {
    *out = dagr_array_retain(a);
    return DAGR_OK;
  }
  dagr_array_t *src = is_rechunk(a) ? a->in[0] : a;
  dagr__ch_layout_equal(&src->layout, to, &eq);
  if (eq) {
    *out = dagr_array_retain(src);
    return DAGR_OK;
  }
  return new_node(a->ctx, "rechunk", lower_rechunk, a->dtype, to, 1, &src, out);
}

/* Chunks from the public convention (NULL: auto everywhere; per axis n > 0, -1 whole, 0 auto). */
static int spec_layout(dagr_ctx_t *ctx, const dagr_array_t *a, const int64_t *chunks,
                       dagr__ch_layout_t *out) {
  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  spec.itemsize = dagr_dtype_size(a->dtype);
  spec.target_bytes = DAGR_ARRAY_CHUNK_BYTES;
  int nd = a->layout.ndim;
  for (int i = 0; i < nd; i++) {
    int64_t c = chunks ? chunks[i] : 0;
    if (c < -1)
      return dagr__array_err(ctx, DAGR_EINVAL,
                             "rechunk: chunk size %lld on axis %d is invalid (a positive length, "
                             "-1 for the whole axis or 0 for auto)",
                             (long long)c, i);
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
  int rc = dagr__ch_normalize(nd, a->layout.shape, &spec, out, err, sizeof err);
  if (rc) return dagr__array_err(ctx, rc, "rechunk: %s", err);
  return DAGR_OK;
}

int dagr_array_rechunk(dagr_array_t *a, const int64_t *chunks, dagr_array_t **out) {
  if (!a) return DAGR_EINVAL;
  if (!out) return dagr__array_err(a->ctx, DAGR_EINVAL, "rechunk: out is NULL");
  *out = NULL;
  dagr__ch_layout_t to = {0};
  int rc = spec_layout(a->ctx, a, chunks, &to);
  if (rc == DAGR_OK) rc = make_rechunk(a, &to, out);
  dagr__ch_layout_free(&to);
  return rc;
}

/* Checks n operands: non-NULL, one context, out non-NULL. Returns the context in *ctx (NULL when
 * none of the operands can give one). */
static int check_operands(const char *op, int n, dagr_array_t *const *arrays, dagr_array_t **out,
                          dagr_ctx_t **ctx) {
  *ctx = NULL;
  if (n < 1 || !arrays) return DAGR_EINVAL;
  for (int i = 0; i < n && !*ctx; i++)
    if (arrays[i]) *ctx = arrays[i]->ctx;
  if (!*ctx) return DAGR_EINVAL;
  if (!out) return dagr__array_err(*ctx, DAGR_EINVAL, "%s: out is NULL", op);
  for (int i = 0; i < n; i++) {
    if (!arrays[i]) return dagr__array_err(*ctx, DAGR_EINVAL, "%s: operand %d is NULL", op, i);
    if (arrays[i]->ctx != *ctx)
      return dagr__array_err(*ctx, DAGR_EINVAL, "%s: operand %d belongs to another context", op, i);
  }
  return DAGR_OK;
}

int dagr_array_concatenate(int n, dagr_array_t *const *arrays, int axis, dagr_array_t **out) {
  dagr_ctx_t *ctx;
  int rc = check_operands("concatenate", n, arrays, out, &ctx);
  if (rc) return rc;
  *out = NULL;
  const dagr__ch_layout_t *l0 = &arrays[0]->layout;
  int nd = l0->ndim;
  if (nd == 0)
    return dagr__array_err(ctx, DAGR_EINVAL,
                           "concatenate: zero-dimensional arrays cannot be concatenated "
                           "(operand 0 is 0-d)");
  int ax = axis < 0 ? axis + nd : axis;
  if (ax < 0 || ax >= nd)
    return dagr__array_err(ctx, DAGR_EINVAL,
                           "concatenate: axis %d is out of bounds for array of dimension %d", axis,
                           nd);
  char s0[200], si[200];
  dagr__shape_str(nd, l0->shape, s0, sizeof s0);
  int dtype = arrays[0]->dtype, nonempty = 0;
  for (int i = 0; i < n; i++) {
    const dagr__ch_layout_t *li = &arrays[i]->layout;
    dagr__shape_str(li->ndim, li->shape, si, sizeof si);
    if (li->ndim != nd)
      return dagr__array_err(ctx, DAGR_EINVAL,
                             "concatenate: all the input arrays must have the same number of "
                             "dimensions, but the array at index 0 has %d dimension(s) (shape %s) "
                             "and the array at index %d has %d dimension(s) (shape %s)",
                             nd, s0, i, li->ndim, si);
    for (int d = 0; d < nd; d++)
      if (d != ax && li->shape[d] != l0->shape[d])
        return dagr__array_err(ctx, DAGR_EINVAL,
                               "concatenate: all the input array dimensions except for the "
                               "concatenation axis must match exactly, but along dimension %d, "
                               "the array at index 0 has size %lld and the array at index %d has "
                               "size %lld (shapes %s and %s)",
                               d, (long long)l0->shape[d], i, (long long)li->shape[d], s0, si);
    dtype = dagr__dtype_promote(dtype, arrays[i]->dtype);
    nonempty += li->shape[ax] > 0;
  }
  if (n == 1 && dtype == arrays[0]->dtype) {
    *out = dagr_array_retain(arrays[0]);
    return DAGR_OK;
  }
  /* Operands, rechunked to operand 0's chunks on the other axes; those of length 0 along the axis
   * contribute no block (unless all are empty: then operand 0 gives the one empty block). */
  dagr_array_t **ops = calloc(n > 0 ? (size_t)n : 1, sizeof *ops);
  int64_t *alist = NULL, total = 0, nblk = 0;
  if (!ops) return dagr__array_err(ctx, DAGR_ENOMEM, "concatenate: out of memory");
  int nops = 0;
  char err[DAGR__ERRLEN];
  for (int i = 0; i < n && rc == DAGR_OK; i++) {
    dagr_array_t *a = arrays[i];
    if (a->layout.shape[ax] == 0 && (nonempty > 0 || i > 0)) continue;
    const int64_t *lists[DAGR_MAX_NDIM];
    int64_t counts[DAGR_MAX_NDIM];
    for (int d = 0; d < nd; d++) {
      const dagr__ch_layout_t *src = d == ax ? &a->layout : l0;
      lists[d] = src->chunks[d];
      counts[d] = src->nblocks[d];
    }
    dagr__ch_layout_t want = {0};
    rc = dagr__ch_from_lists(nd, a->layout.shape, lists, counts, &want, err, sizeof err);
    if (rc)
      dagr__array_err(ctx, rc, "concatenate: operand %d: %s", i, err);
    else
      rc = make_rechunk(a, &want, &ops[nops]);
    dagr__ch_layout_free(&want);
    if (rc == DAGR_OK) {
      total += a->layout.shape[ax];
      nblk += a->layout.nblocks[ax];
      nops++;
    }
  }
  if (rc == DAGR_OK) {
    alist = malloc((size_t)nblk * sizeof *alist);
    if (!alist) rc = dagr__array_err(ctx, DAGR_ENOMEM, "concatenate: out of memory");
  }
  if (rc == DAGR_OK) {
    int64_t b = 0, shape[DAGR_MAX_NDIM], counts[DAGR_MAX_NDIM];
    const int64_t *lists[DAGR_MAX_NDIM];
    for (int k = 0; k < nops; k++) {
      const dagr__ch_layout_t *lk = &ops[k]->layout;
      memcpy(alist + b, lk->chunks[ax], (size_t)lk->nblocks[ax] * sizeof *alist);
      b += lk->nblocks[ax];
    }
    for (int d = 0; d < nd; d++) {
      shape[d] = d == ax ? total : l0->shape[d];
      lists[d] = d == ax ? alist : l0->chunks[d];
      counts[d] = d == ax ? nblk : l0->nblocks[d];
    }
    dagr__ch_layout_t lay = {0};
    rc = dagr__ch_from_lists(nd, shape, lists, counts, &lay, err, sizeof err);
    if (rc)
      dagr__array_err(ctx, rc, "concatenate: %s", err);
    else
      rc = new_node(ctx, "concatenate", lower_concat, dtype, &lay, nops, ops, out);
    dagr__ch_layout_free(&lay);
  }
  if (rc == DAGR_OK) {
    int *ext = malloc(sizeof *ext);
    if (!ext) {
      dagr_array_release(*out);
      *out = NULL;
      rc = dagr__array_err(ctx, DAGR_ENOMEM, "concatenate: out of memory");
    } else {
      *ext = ax;
      (*out)->ext = ext;
      (*out)->ext_free = free;
    }
  }
  for (int k = 0; k < nops; k++) dagr_array_release(ops[k]);
  free(ops);
  free(alist);
  return rc;
}

/* ---- reshape -------------------------------------------------------------------------------- */

/* The input layout that lets `in` reshape to oshape block by block (see the file comment); walks
 * the axis groups as dagr__ch_reshape does. */
static int reshape_target(const dagr__ch_layout_t *in, int ond, const int64_t *os,
                          dagr__ch_layout_t *out, char *err, size_t errlen) {
  int ind = in->ndim;
  const int64_t *is = in->shape;
  const int64_t *lists[DAGR_MAX_NDIM];
  int64_t counts[DAGR_MAX_NDIM], *own[DAGR_MAX_NDIM] = {0};
  int64_t size[DAGR_MAX_NDIM]; /* per axis 0: keep its chunks; > 0: uniform chunks of size */
  for (int a = 0; a < ind; a++) {
    lists[a] = in->chunks[a];
    counts[a] = in->nblocks[a];
    size[a] = 0;
  }
  int i = 0, o = 0;
  while (i < ind || o < ond) {
    if (i < ind && o < ond && is[i] == os[o]) {
      i++, o++;
      continue;
    }
    if (i < ind && is[i] == 1) {
      i++;
      continue;
    }
    if (o < ond && os[o] == 1) {
      o++;
      continue;
    }
    if (i >= ind || o >= ond) break; /* cannot happen for equal element counts */
    int i0 = i, o0 = o;
    int64_t pi = is[i++], po = os[o++];
    while (pi != po) {
      if (pi < po) {
        if (i >= ind) break;
        pi *= is[i++];
      } else {
        if (o >= ond) break;
        po *= os[o++];
      }
    }
    int ni = i - i0, no = o - o0;
    if (no == 1) { /* merge: the later axes whole; the first shrinks to keep the chunk size */
      double grow = 1;
      for (int k = i0 + 1; k < i; k++) {
        int64_t mx = 1;
        for (int64_t b = 0; b < in->nblocks[k]; b++)
          if (in->chunks[k][b] > mx) mx = in->chunks[k][b];
        grow *= (double)is[k] / (double)mx;
        if (in->nblocks[k] > 1) size[k] = is[k];
      }
      if (grow > 1.0) {
        int64_t mx = 1;
        for (int64_t b = 0; b < in->nblocks[i0]; b++)
          if (in->chunks[i0][b] > mx) mx = in->chunks[i0][b];
        int64_t c = (int64_t)((double)mx / grow);
        size[i0] = c < 1 ? 1 : c;
      }
    } else if (ni == 1) { /* split: chunks in whole multiples of the trailing new axes */
      int64_t trail = po / os[o0], bad = 0, mx = 1;
      for (int64_t b = 0; b < in->nblocks[i0]; b++) {
        bad |= in->chunks[i0][b] % trail != 0;
        if (in->chunks[i0][b] > mx) mx = in->chunks[i0][b];
      }
      if (bad) size[i0] = mx / trail < 1 ? trail : mx / trail * trail;
    } else { /* many to many: whole axes */
      for (int k = i0; k < i; k++)
        if (in->nblocks[k] > 1) size[k] = is[k];
    }
  }
  int rc = DAGR_OK;
  for (int a = 0; a < ind && rc == DAGR_OK; a++) {
    if (size[a] <= 0 || is[a] == 0) continue;
    int64_t s = size[a] > is[a] ? is[a] : size[a], nb = (is[a] + s - 1) / s;
    own[a] = malloc((size_t)nb * sizeof(int64_t));
    if (!own[a]) {
      rc = dagr__errf(err, errlen, DAGR_ENOMEM, "reshape: out of memory");
      break;
    }
    for (int64_t b = 0; b < nb; b++) own[a][b] = b + 1 < nb ? s : is[a] - s * (nb - 1);
    lists[a] = own[a];
    counts[a] = nb;
  }
  if (rc == DAGR_OK) rc = dagr__ch_from_lists(ind, is, lists, counts, out, err, errlen);
  for (int a = 0; a < ind; a++) free(own[a]);
  return rc;
}

int dagr_array_reshape(dagr_array_t *a, int ndim, const int64_t *shape, dagr_array_t **out) {
  if (!a) return DAGR_EINVAL;
  dagr_ctx_t *ctx = a->ctx;
  if (!out) return dagr__array_err(ctx, DAGR_EINVAL, "reshape: out is NULL");
  *out = NULL;
  if (ndim < 0 || ndim > DAGR_MAX_NDIM)
    return dagr__array_err(ctx, DAGR_EINVAL, "reshape: new ndim %d is outside 0..%d", ndim,
                           DAGR_MAX_NDIM);
  if (ndim > 0 && !shape) return dagr__array_err(ctx, DAGR_EINVAL, "reshape: shape is NULL");
  char err[DAGR__ERRLEN];
  dagr__ch_reshape_plan_t plan;
  dagr_array_t *src = dagr_array_retain(a);
  int rc = dagr__ch_reshape(&a->layout, ndim, shape, &plan, err, sizeof err);
  if (rc == DAGR_EINVAL) {
    /* Shape or chunks? The same shape in one chunk per axis always reshapes block by block, so
     * if that fails too the shape is at fault (and err says how). */
    int64_t sizes[DAGR_MAX_NDIM];
    for (int d = 0; d < a->layout.ndim; d++) sizes[d] = -1;
    dagr__ch_layout_t one = {0}, target = {0};
    dagr__ch_reshape_plan_t p1;
    char e1[DAGR__ERRLEN];
    int rc1 = dagr__ch_uniform(a->layout.ndim, a->layout.shape, sizes, &one, e1, sizeof e1);
    if (rc1 == DAGR_OK) rc1 = dagr__ch_reshape(&one, ndim, shape, &p1, e1, sizeof e1);
    if (rc1 == DAGR_OK) {
      /* The chunks: rechunk first (dask's reshape_rechunk), then reshape block by block. */
      rc = reshape_target(&a->layout, p1.out.ndim, p1.out.shape, &target, err, sizeof err);
      dagr__ch_reshape_plan_free(&p1);
      dagr_array_t *r = NULL;
      if (rc == DAGR_OK) {
        rc = make_rechunk(a, &target, &r);
        if (rc) {
          dagr__ch_layout_free(&one);
          dagr__ch_layout_free(&target);
          dagr_array_release(src);
          return rc; /* make_rechunk set the message */
        }
        dagr_array_release(src);
        src = r;
        rc = dagr__ch_reshape(&src->layout, ndim, shape, &plan, err, sizeof err);
      }
    }
    dagr__ch_layout_free(&one);
    dagr__ch_layout_free(&target);
  }
  if (rc) {
    dagr_array_release(src);
    return dagr__array_err(ctx, rc, "%s", err);
  }
  int same = plan.out.ndim == a->layout.ndim;
  for (int d = 0; same && d < a->layout.ndim; d++) same = plan.out.shape[d] == a->layout.shape[d];
  if (same) {
    dagr__ch_reshape_plan_free(&plan);
    *out = dagr_array_retain(a);
    dagr_array_release(src);
    return DAGR_OK;
  }
  rc = new_node(ctx, "reshape", lower_reshape, a->dtype, &plan.out, 1, &src, out);
  dagr__ch_reshape_plan_free(&plan);
  dagr_array_release(src);
  return rc;
}

int dagr_array_stack(int n, dagr_array_t *const *arrays, int axis, dagr_array_t **out) {
  dagr_ctx_t *ctx;
  int rc = check_operands("stack", n, arrays, out, &ctx);
  if (rc) return rc;
  *out = NULL;
  const dagr__ch_layout_t *l0 = &arrays[0]->layout;
  int nd = l0->ndim;
  if (nd + 1 > DAGR_MAX_NDIM)
    return dagr__array_err(ctx, DAGR_EINVAL,
                           "stack: the result would have %d dimensions; at most %d are supported",
                           nd + 1, DAGR_MAX_NDIM);
  int ax = axis < 0 ? axis + nd + 1 : axis;
  if (ax < 0 || ax > nd)
    return dagr__array_err(ctx, DAGR_EINVAL,
                           "stack: axis %d is out of bounds for array of dimension %d", axis,
                           nd + 1);
  char s0[200], si[200];
  dagr__shape_str(nd, l0->shape, s0, sizeof s0);
  for (int i = 1; i < n; i++) {
    const dagr__ch_layout_t *li = &arrays[i]->layout;
    int same = li->ndim == nd;
    for (int d = 0; same && d < nd; d++) same = li->shape[d] == l0->shape[d];
    if (!same) {
      dagr__shape_str(li->ndim, li->shape, si, sizeof si);
      return dagr__array_err(ctx, DAGR_EINVAL,
                             "stack: all input arrays must have the same shape, but the array at "
                             "index 0 has shape %s and the array at index %d has shape %s",
                             s0, i, si);
    }
  }
  int64_t shape[DAGR_MAX_NDIM];
  for (int d = 0, s = 0; d <= nd; d++) shape[d] = d == ax ? 1 : l0->shape[s++];
  dagr_array_t **ex = calloc(n > 0 ? (size_t)n : 1, sizeof *ex);
  if (!ex) return dagr__array_err(ctx, DAGR_ENOMEM, "stack: out of memory");
  for (int i = 0; i < n && rc == DAGR_OK; i++)
    rc = dagr_array_reshape(arrays[i], nd + 1, shape, &ex[i]);
  if (rc == DAGR_OK) rc = dagr_array_concatenate(n, ex, ax, out);
  for (int i = 0; i < n; i++) dagr_array_release(ex[i]);
  free(ex);
  return rc;
}

/* ---- lowering ------------------------------------------------------------------------------- */

static int lower_rechunk(dagr__lower *L, dagr_array_t *r) {
  dagr_array_t *a = r->in[0];
  int rc = dagr__lower_node(L, a);
  if (rc) return rc;
  char err[DAGR__ERRLEN];
  dagr__ch_rechunk_plan_t plan;
  rc = dagr__ch_rechunk(&a->layout, &r->layout, &plan, err, sizeof err);
  if (rc) return dagr__array_err(L->ctx, rc, "rechunk: %s", err);
  int nd = r->layout.ndim;
  int64_t idx[DAGR_MAX_NDIM] = {0}, in_idx[DAGR_MAX_NDIM], shape[DAGR_MAX_NDIM];
  char key[256];
  do {
    int64_t np = 0;
    rc = dagr__ch_rechunk_npieces(&plan, idx, &np, err, sizeof err);
    if (rc) {
      dagr__array_err(L->ctx, rc, "rechunk: %s", err);
      break;
    }
    size_t m = (size_t)np * (size_t)nd;
    int64_t *offs = malloc((3 * m + 1) * sizeof *offs);
    char(*keys)[256] = malloc(((size_t)np + 1) * sizeof *keys);
    const char **deps = malloc(((size_t)np + 1) * sizeof *deps);
    dagr_params_t *p = NULL;
    if (!offs || !keys || !deps || dagr_params_create(&p)) rc = DAGR_ENOMEM;
    for (int64_t k = 0; k < np && rc == DAGR_OK; k++) {
      size_t o = (size_t)k * (size_t)nd;
      rc = dagr__ch_rechunk_piece(&plan, idx, k, in_idx, offs + o, offs + m + o, offs + 2 * m + o,
                                  err, sizeof err);
      if (rc) {
        dagr__array_err(L->ctx, rc, "rechunk: %s", err);
        break;
      }
      dagr__lower_block_key(a, in_idx, keys[k], sizeof keys[k]);
      deps[k] = keys[k];
    }
    if (rc == DAGR_OK) {
      dagr__lower_block_shape(&r->layout, idx, shape);
      int prc = dagr_params_set_int_array(p, "shape", shape, (size_t)nd);
      prc |= dagr_params_set_int(p, "dtype", r->dtype);
      prc |= dagr_params_set_int_array(p, "in_off", offs, m);
      prc |= dagr_params_set_int_array(p, "out_off", offs + m, m);
      prc |= dagr_params_set_int_array(p, "count", offs + 2 * m, m);
      if (prc) rc = DAGR_ENOMEM;
    }
    if (rc == DAGR_OK) {
      dagr__lower_block_key(r, idx, key, sizeof key);
      rc = dagr__lower_add_task(L, key, K_RECHUNK, p, deps, (size_t)np);
      p = NULL;
    }
    dagr_params_free(p);
    free(offs);
    free(keys);
    free(deps);
  } while (rc == DAGR_OK && dagr__lower_next_index(&r->layout, idx));
  dagr__ch_rechunk_plan_free(&plan);
  return rc;
}

static int lower_concat(dagr__lower *L, dagr_array_t *c) {
  int rc = DAGR_OK;
  for (int i = 0; i < c->nin && rc == DAGR_OK; i++) rc = dagr__lower_node(L, c->in[i]);
  if (rc) return rc;
  int ax = *(const int *)c->ext, nd = c->layout.ndim;
  int64_t nb = c->layout.nblocks[ax];
  /* Output block b along the axis: operand opk[b], its block loc[b]. */
  int *opk = malloc((size_t)nb * sizeof *opk);
  int64_t *loc = malloc((size_t)nb * sizeof *loc);
  if (!opk || !loc) rc = DAGR_ENOMEM;
  int64_t b = 0;
  for (int i = 0; i < c->nin && rc == DAGR_OK; i++)
    for (int64_t j = 0; j < c->in[i]->layout.nblocks[ax] && b < nb; j++, b++) {
      opk[b] = i;
      loc[b] = j;
    }
  if (rc == DAGR_OK && b != nb)
    rc = dagr__array_err(L->ctx, DAGR_EINVAL, "concatenate: %lld operand blocks for %lld outputs",
                         (long long)b, (long long)nb);
  int64_t idx[DAGR_MAX_NDIM] = {0}, in_idx[DAGR_MAX_NDIM];
  char key[256], dep[256];
  while (rc == DAGR_OK) {
    memcpy(in_idx, idx, (size_t)nd * sizeof *idx);
    in_idx[ax] = loc[idx[ax]];
    dagr__lower_block_key(c->in[opk[idx[ax]]], in_idx, dep, sizeof dep);
    dagr__lower_block_key(c, idx, key, sizeof key);
    dagr_params_t *p;
    if (dagr_params_create(&p)) {
      rc = DAGR_ENOMEM;
      break;
    }
    if (dagr_params_set_int(p, "dtype", c->dtype)) {
      dagr_params_free(p);
      rc = DAGR_ENOMEM;
      break;
    }
    const char *deps[1] = {dep};
    rc = dagr__lower_add_task(L, key, K_CONCAT, p, deps, 1);
    if (!dagr__lower_next_index(&c->layout, idx)) break;
  }
  free(opk);
  free(loc);
  return rc;
}

static int lower_reshape(dagr__lower *L, dagr_array_t *s) {
  dagr_array_t *a = s->in[0];
  int rc = dagr__lower_node(L, a);
  if (rc) return rc;
  char err[DAGR__ERRLEN];
  dagr__ch_reshape_plan_t plan;
  rc = dagr__ch_reshape(&a->layout, s->layout.ndim, s->layout.shape, &plan, err, sizeof err);
  if (rc) return dagr__array_err(L->ctx, rc, "reshape: %s", err);
  int64_t idx[DAGR_MAX_NDIM] = {0}, in_idx[DAGR_MAX_NDIM], shape[DAGR_MAX_NDIM];
  char key[256], dep[256];
  do {
    rc = dagr__ch_reshape_block(&plan, idx, in_idx, err, sizeof err);
    if (rc) {
      dagr__array_err(L->ctx, rc, "reshape: %s", err);
      break;
    }
    int nd = dagr__lower_block_shape(&s->layout, idx, shape);
    dagr_params_t *p;
    if (dagr_params_create(&p)) {
      rc = DAGR_ENOMEM;
      break;
    }
    if (dagr_params_set_int_array(p, "shape", shape, (size_t)nd)) {
      dagr_params_free(p);
      rc = DAGR_ENOMEM;
      break;
    }
    dagr__lower_block_key(a, in_idx, dep, sizeof dep);
    dagr__lower_block_key(s, idx, key, sizeof key);
    const char *deps[1] = {dep};
    rc = dagr__lower_add_task(L, key, K_RESHAPE, p, deps, 1);
  } while (rc == DAGR_OK && dagr__lower_next_index(&s->layout, idx));
  dagr__ch_reshape_plan_free(&plan);
  return rc;
}
