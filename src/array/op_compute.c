/* op_compute.c: matmul (blocked, CBLAS), map_blocks and map_overlap (ghost cells, fused stencils).
 */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_impl.h"
#include "array/stencil.h"
#include "runtime/kctx.h"
#include "runtime/registry.h"

/* Design notes.
 *
 * matmul: output block (i, j) is sum_k A_ik @ B_kj. Up to MM_GROUP pairs are fused into ONE task
 * that takes all A_ik and B_kj as inputs and accumulates with gemm's beta = 1 (no product blocks
 * in the store, one pass of writes to C). With more pairs along the inner axis, each group of
 * MM_GROUP pairs is one such task and the group results are summed by a tree (split_every 8), so
 * a task never holds more than 2 * MM_GROUP input blocks. float32 @ float32 uses sgemm; every
 * other combination is computed in float64 with dgemm (integers and bools are converted in the
 * kernel: unlike NumPy, integer matmul gives float64, exact only while sums stay below 2^53).
 * OpenBLAS is set to one thread per process at the first gemm (executor threads run gemms
 * concurrently) unless OPENBLAS_NUM_THREADS is set.
 *
 * map_blocks: one task per block running the wrapper kernel "array.map_blocks", which calls the
 * user's kernel on the task's own context and then checks the output's dtype and shape.
 *
 * map_overlap: per block, one "array.overlap_apply" task reads the block and the neighbours its
 * ghost cells come from, assembles the padded block in scratch memory, runs the user's kernel on
 * it (the user kernel sees that padded block as its only input), and checks its output; an
 * "array.trim" task then drops the ghost cells: 2 tasks per block (dask uses 3 and stores the
 * padded block). With a built-in stencil kernel (array.star_stencil, array.smooth5) and depth at
 * least the stencil's radius, ONE task per block ("array.overlap_stencil") reads the block and
 * only its face neighbours and writes the trimmed result directly: no padded copy at all. */

#define MM_GROUP 8
#define MM_SPLIT 8

#define K_MATMUL    "array.matmul_block"
#define K_BLOCKSUM  "array.block_sum"
#define K_MAPBLOCKS "array.map_blocks"
#define K_OVAPPLY   "array.overlap_apply"
#define K_TRIM      "array.trim"
#define K_OVSTENCIL "array.overlap_stencil"
#define K_STAR      DAGR__K_STAR
#define K_SMOOTH5   DAGR__K_SMOOTH5

/* Ghost sources per side of an axis. */
enum { GH_NONE = 0, GH_NB, GH_REFLECT, GH_WRAP, GH_CONST };

typedef dagr__stencil_def stencil_def;

typedef struct mm_ext {
  int adim, bdim;
} mm_ext;

typedef struct mo_ext {
  char kernel[64];
  int64_t depth[DAGR_MAX_NDIM];
  int boundary;
  double constant;
  int stencil; /* index in dagr__stencils[] when fused, else -1 */
} mo_ext;

static int is_float_dt(int dt) {
  return dt == DAGR_DTYPE_FLOAT32 || dt == DAGR_DTYPE_FLOAT64;
}
static int valid_dt(int dt) {
  return is_float_dt(dt) || dt == DAGR_DTYPE_INT64 || dt == DAGR_DTYPE_INT32 ||
         dt == DAGR_DTYPE_UINT8 || dt == DAGR_DTYPE_BOOL;
}

static double get_el(const void *p, int dt, int64_t i) {
  switch (dt) {
  case DAGR_DTYPE_FLOAT64:
    return ((const double *)p)[i];
  case DAGR_DTYPE_FLOAT32:
    return ((const float *)p)[i];
  case DAGR_DTYPE_INT64:
    return (double)((const int64_t *)p)[i];
  case DAGR_DTYPE_INT32:
    return ((const int32_t *)p)[i];
  default:
    return ((const uint8_t *)p)[i];
  }
}

static void put_el(void *p, int dt, int64_t i, double v) {
  switch (dt) {
  case DAGR_DTYPE_FLOAT64:
    ((double *)p)[i] = v;
    break;
  case DAGR_DTYPE_FLOAT32:
    ((float *)p)[i] = (float)v;
    break;
  case DAGR_DTYPE_INT64:
    ((int64_t *)p)[i] = (int64_t)v;
    break;
  case DAGR_DTYPE_INT32:
    ((int32_t *)p)[i] = (int32_t)v;
    break;
  case DAGR_DTYPE_BOOL:
    ((uint8_t *)p)[i] = v != 0;
    break;
  default:
    ((uint8_t *)p)[i] = (uint8_t)v;
    break;
  }
}

static int64_t prod(int n, const int64_t *v) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) p *= v[i];
  return p;
}

static void ext_free(void *p) {
  free(p);
}

/* A new DAGR__AN_EXT node over inputs, with a layout from per-axis chunk lists. */
static int new_ext(dagr_ctx_t *ctx, const char *name, int dtype, int n, dagr_array_t *const *in,
                   int ndim, const int64_t *shape, const int64_t *const *lists,
                   const int64_t *counts, int (*lowerfn)(dagr__lower *, dagr_array_t *), void *ext,
                   dagr_array_t **out) {
  dagr_array_t *a;
  int rc = dagr__array_new(ctx, DAGR__AN_EXT, dtype, &a);
  if (rc) {
    free(ext);
    return rc;
  }
  a->ext_name = name;
  a->ext_lower = lowerfn;
  a->ext = ext;
  a->ext_free = ext_free;
  char err[DAGR__ERRLEN];
  rc = dagr__ch_from_lists(ndim, shape, lists, counts, &a->layout, err, sizeof err);
  if (rc) {
    dagr_array_release(a);
    return dagr__array_err(ctx, rc, "%s", err);
  }
  rc = dagr__array_set_inputs(a, n, in);
  if (rc) {
    dagr_array_release(a);
    return rc;
  }
  *out = a;
  return DAGR_OK;
}

/* ---- matmul ------------------------------------------------------------------------------ */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_init(void) {
  if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
}

/* Inputs A0, B0, A1, B1, ...: output = sum_p Ap @ Bp (m x n). Params: shape (output block
 * shape), m, n, dtype (float32: sgemm, else dgemm). */
static int k_matmul(dagr_kctx_t *k) {
  int64_t m, n, dt;
  const int64_t *shape;
  size_t nd;
  if (dagr_kernel_param_int(k, "m", &m) || dagr_kernel_param_int(k, "n", &n) ||
      dagr_kernel_param_int(k, "dtype", &dt) ||
      dagr_kernel_param_int_array(k, "shape", &shape, &nd) || nd > 2)
    return dagr_kernel_fail(k, K_MATMUL ": bad parameters");
  int np = dagr_kernel_ninputs(k) / 2;
  if (np < 1 || np * 2 != dagr_kernel_ninputs(k))
    return dagr_kernel_fail(k, K_MATMUL ": needs pairs of input blocks");
  size_t es = dagr_dtype_size((int)dt);
  void *c;
  if (dagr_kernel_output(k, (size_t)(m * n) * es, (int)dt, (int)nd, shape, &c))
    return dagr_kernel_fail(k, K_MATMUL ": no room for a %lldx%lld block", (long long)m,
                            (long long)n);
  if (m * n == 0) return DAGR_OK;
  pthread_once(&blas_once, blas_init);
  memset(c, 0, (size_t)(m * n) * es);
  double *conv[2] = {NULL, NULL};
  size_t convn[2] = {0, 0};
  int rc = DAGR_OK;
  for (int p = 0; p < np && rc == DAGR_OK; p++) {
    dagr_view_t av, bv;
    dagr_kernel_input(k, 2 * p, &av);
    dagr_kernel_input(k, 2 * p + 1, &bv);
    int64_t kk = av.ndim ? av.shape[av.ndim - 1] : 1;
    int64_t kb = bv.ndim ? bv.shape[0] : 1;
    int64_t an = av.ndim == 2 ? av.shape[0] : 1, bn = bv.ndim == 2 ? bv.shape[1] : 1;
    if (kk != kb || an != m || bn != n) {
      rc = dagr_kernel_fail(k,
                            K_MATMUL ": block shapes do not fit (%lldx%lld @ %lldx%lld for a "
                                     "%lldx%lld block)",
                            (long long)an, (long long)kk, (long long)kb, (long long)bn,
                            (long long)m, (long long)n);
      break;
    }
    if (kk == 0) continue;
    if (dt == DAGR_DTYPE_FLOAT32) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)kk, 1.0f, av.data,
                  (int)kk, bv.data, (int)n, 1.0f, c, (int)n);
      continue;
    }
    const double *ops[2];
    const dagr_view_t *vs[2] = {&av, &bv};
    for (int s = 0; s < 2; s++) {
      int64_t cnt = (int64_t)(vs[s]->nbytes / dagr_dtype_size(vs[s]->dtype));
      if (vs[s]->dtype == DAGR_DTYPE_FLOAT64) {
        ops[s] = vs[s]->data;
        continue;
      }
      if ((size_t)cnt > convn[s]) {
        free(conv[s]);
        conv[s] = malloc((size_t)cnt * sizeof(double));
        convn[s] = conv[s] ? (size_t)cnt : 0;
        if (!conv[s]) {
          rc = dagr_kernel_fail(k, K_MATMUL ": out of memory converting a block");
          break;
        }
      }
      for (int64_t e = 0; e < cnt; e++) conv[s][e] = get_el(vs[s]->data, vs[s]->dtype, e);
      ops[s] = conv[s];
    }
    if (rc) break;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)kk, 1.0, ops[0],
                (int)kk, ops[1], (int)n, 1.0, c, (int)n);
  }
  free(conv[0]);
  free(conv[1]);
  return rc;
}

/* Elementwise sum of same-shaped float32/float64 blocks. Params: shape, dtype. */
static int k_block_sum(dagr_kctx_t *k) {
  int64_t dt;
  const int64_t *shape;
  size_t nd;
  if (dagr_kernel_param_int(k, "dtype", &dt) ||
      dagr_kernel_param_int_array(k, "shape", &shape, &nd) || nd > DAGR_MAX_NDIM)
    return dagr_kernel_fail(k, K_BLOCKSUM ": bad parameters");
  int64_t n = prod((int)nd, shape);
  size_t es = dagr_dtype_size((int)dt);
  void *out;
  if (dagr_kernel_output(k, (size_t)n * es, (int)dt, (int)nd, shape, &out))
    return dagr_kernel_fail(k, K_BLOCKSUM ": no room for a %lld-element block", (long long)n);
  for (int i = 0; i < dagr_kernel_ninputs(k); i++) {
    dagr_view_t v;
    dagr_kernel_input(k, i, &v);
    if (v.nbytes != (size_t)n * es || v.dtype != (int)dt)
      return dagr_kernel_fail(k, K_BLOCKSUM ": input %d has %zu bytes of %s, not %zu of %s", i,
                              v.nbytes, dagr_dtype_name(v.dtype), (size_t)n * es,
                              dagr_dtype_name((int)dt));
    if (i == 0) {
      memcpy(out, v.data, (size_t)n * es);
    } else if (dt == DAGR_DTYPE_FLOAT32) {
      float *o = out;
      const float *s = v.data;
      for (int64_t e = 0; e < n; e++) o[e] += s[e];
    } else {
      double *o = out;
      const double *s = v.data;
      for (int64_t e = 0; e < n; e++) o[e] += s[e];
    }
  }
  return DAGR_OK;
}

static int lower_matmul(dagr__lower *L, dagr_array_t *r) {
  const mm_ext *x = r->ext;
  dagr_array_t *a = r->in[0], *b = r->in[1];
  int rc = dagr__lower_node(L, a);
  if (rc == DAGR_OK) rc = dagr__lower_node(L, b);
  if (rc) return rc;
  int64_t K = a->layout.nblocks[a->layout.ndim - 1];
  int64_t ngroups = (K + MM_GROUP - 1) / MM_GROUP;
  int64_t nkeys = ngroups > 2 * MM_GROUP ? ngroups : 2 * MM_GROUP;
  char(*keys)[256] = malloc(sizeof *keys * (size_t)(nkeys + 2 * MM_GROUP));
  const char **deps = malloc(sizeof *deps * (size_t)nkeys);
  if (!keys || !deps) {
    free(keys);
    free(deps);
    return dagr__array_err(L->ctx, DAGR_ENOMEM, "out of memory lowering matmul");
  }
  char(*dk)[256] = keys + nkeys; /* 2 * MM_GROUP input keys */
  int64_t idx[DAGR_MAX_NDIM] = {0}, shape[DAGR_MAX_NDIM];
  int ond = r->layout.ndim;
  do {
    int64_t i = x->adim == 2 ? idx[0] : 0, j = x->bdim == 2 ? idx[ond - 1] : 0;
    int64_t m = x->adim == 2 ? a->layout.chunks[0][i] : 1;
    int64_t n = x->bdim == 2 ? b->layout.chunks[1][j] : 1;
    dagr__lower_block_shape(&r->layout, idx, shape);
    char key[256];
    dagr__lower_block_key(r, idx, key, sizeof key);
    for (int64_t g = 0; g < ngroups && rc == DAGR_OK; g++) {
      int64_t k0 = g * MM_GROUP, k1 = k0 + MM_GROUP < K ? k0 + MM_GROUP : K;
      const char *gdeps[2 * MM_GROUP];
      for (int64_t kk = k0; kk < k1; kk++) {
        int64_t ai[2] = {i, kk}, bi[2] = {kk, j};
        dagr__lower_block_key(a, x->adim == 2 ? ai : &ai[1], dk[2 * (kk - k0)], 256);
        dagr__lower_block_key(b, bi, dk[2 * (kk - k0) + 1], 256);
        gdeps[2 * (kk - k0)] = dk[2 * (kk - k0)];
        gdeps[2 * (kk - k0) + 1] = dk[2 * (kk - k0) + 1];
      }
      if (ngroups == 1) {
        memcpy(keys[0], key, sizeof key);
      } else {
        char suffix[48];
        snprintf(suffix, sizeof suffix, "-g%lld", (long long)g);
        dagr__lower_key(keys[g], 256, r->ext_name, r->id, suffix, ond, idx);
      }
      dagr_params_t *p;
      if (dagr_params_create(&p)) {
        rc = DAGR_ENOMEM;
        break;
      }
      int prc = dagr_params_set_int(p, "m", m);
      prc |= dagr_params_set_int(p, "n", n);
      prc |= dagr_params_set_int(p, "dtype", r->dtype);
      prc |= dagr_params_set_int_array(p, "shape", shape, (size_t)ond);
      if (prc) {
        dagr_params_free(p);
        rc = DAGR_ENOMEM;
        break;
      }
      rc = dagr__lower_add_task(L, keys[g], K_MATMUL, p, gdeps, (size_t)(2 * (k1 - k0)));
    }
    /* Tree sum of the group results. */
    int64_t count = ngroups;
    int level = 0;
    while (count > 1 && rc == DAGR_OK) {
      int64_t next = 0;
      for (int64_t s = 0; s < count && rc == DAGR_OK; s += MM_SPLIT) {
        int64_t mcount = count - s < MM_SPLIT ? count - s : MM_SPLIT;
        for (int64_t q = 0; q < mcount; q++) deps[q] = keys[s + q];
        char nk[256];
        if (count <= MM_SPLIT) {
          memcpy(nk, key, sizeof nk);
        } else {
          char suffix[48];
          snprintf(suffix, sizeof suffix, "-s%d-%lld", level, (long long)(s / MM_SPLIT));
          dagr__lower_key(nk, sizeof nk, r->ext_name, r->id, suffix, ond, idx);
        }
        dagr_params_t *p;
        if (dagr_params_create(&p)) {
          rc = DAGR_ENOMEM;
          break;
        }
        if (dagr_params_set_int(p, "dtype", r->dtype) ||
            dagr_params_set_int_array(p, "shape", shape, (size_t)ond)) {
          dagr_params_free(p);
          rc = DAGR_ENOMEM;
          break;
        }
        rc = dagr__lower_add_task(L, nk, K_BLOCKSUM, p, deps, (size_t)mcount);
        memcpy(keys[next++], nk, sizeof nk);
      }
      count = next;
      level++;
    }
  } while (rc == DAGR_OK && dagr__lower_next_index(&r->layout, idx));
  free(keys);
  free(deps);
  return rc;
}

static int check_pair(dagr_array_t *a, dagr_array_t *b, dagr_array_t **out) {
  if (!a) return DAGR_EINVAL;
  if (!b || !out) return dagr__array_err(a->ctx, DAGR_EINVAL, "matmul: NULL operand or out");
  if (a->ctx != b->ctx)
    return dagr__array_err(a->ctx, DAGR_EINVAL, "matmul: operands belong to different contexts");
  return DAGR_OK;
}

int dagr_array_matmul(dagr_array_t *a, dagr_array_t *b, dagr_array_t **out) {
  int rc = check_pair(a, b, out);
  if (rc) return rc;
  dagr_ctx_t *ctx = a->ctx;
  const dagr__ch_layout_t *la = &a->layout, *lb = &b->layout;
  char sa[160], sb[160];
  dagr__shape_str(la->ndim, la->shape, sa, sizeof sa);
  dagr__shape_str(lb->ndim, lb->shape, sb, sizeof sb);
  if (la->ndim < 1 || la->ndim > 2 || lb->ndim < 1 || lb->ndim > 2)
    return dagr__array_err(ctx, DAGR_EINVAL,
                           "matmul: operands must be 1-D or 2-D, not shapes %s and %s", sa, sb);
  int ax = la->ndim - 1;
  if (la->shape[ax] != lb->shape[0])
    return dagr__array_err(ctx, DAGR_EINVAL,
                           "matmul: inner dimensions do not match: %s @ %s (%lld != %lld)", sa, sb,
                           (long long)la->shape[ax], (long long)lb->shape[0]);
  if (la->nblocks[ax] != lb->nblocks[0] ||
      memcmp(la->chunks[ax], lb->chunks[0], (size_t)lb->nblocks[0] * sizeof(int64_t)) != 0)
    return dagr__array_err(ctx, DAGR_EINVAL,
                           "matmul: the first operand's chunks along its last axis differ from "
                           "the second operand's chunks along its first axis (%s @ %s); rechunk "
                           "one of them to the other's chunks first",
                           sa, sb);
  int dt = a->dtype == DAGR_DTYPE_FLOAT32 && b->dtype == DAGR_DTYPE_FLOAT32 ? DAGR_DTYPE_FLOAT32
                                                                            : DAGR_DTYPE_FLOAT64;
  mm_ext *x = calloc(1, sizeof *x);
  if (!x) return dagr__array_err(ctx, DAGR_ENOMEM, "out of memory");
  x->adim = la->ndim;
  x->bdim = lb->ndim;
  int64_t shape[2], counts[2];
  const int64_t *lists[2];
  int ond = 0;
  if (la->ndim == 2) {
    shape[ond] = la->shape[0];
    lists[ond] = la->chunks[0];
    counts[ond++] = la->nblocks[0];
  }
  if (lb->ndim == 2) {
    shape[ond] = lb->shape[1];
    lists[ond] = lb->chunks[1];
    counts[ond++] = lb->nblocks[1];
  }
  dagr_array_t *in[2] = {a, b};
  return new_ext(ctx, "matmul", dt, 2, in, ond, shape, lists, counts, lower_matmul, x, out);
}

/* ---- map_blocks -------------------------------------------------------------------------- */

static int is_wrapper(const char *name) {
  return !strcmp(name, K_MAPBLOCKS) || !strcmp(name, K_OVAPPLY);
}

/* Checks that a user kernel is usable (registered, not one of the wrappers). */
static int check_kernel(dagr_ctx_t *ctx, const char *op, const char *name) {
  if (!name || !*name || strlen(name) > 63)
    return dagr__array_err(ctx, DAGR_EINVAL, "%s: bad kernel name", op);
  if (is_wrapper(name))
    return dagr__array_err(ctx, DAGR_EINVAL, "%s: kernel '%s' cannot be mapped", op, name);
  if (dagr__registry_lookup(name, NULL) < 0)
    return dagr__array_err(ctx, DAGR_EUNKNOWN_KERNEL,
                           "%s: kernel '%s' is not registered (register it on every rank with "
                           "DAGR_KERNEL or dagr_kernel_register before dagr_init)",
                           op, name);
  return DAGR_OK;
}

/* Runs the user kernel `name` on k and checks it produced a block of dtype and shape. */
static int run_user(dagr_kctx_t *k, const char *op, const char *name, int dtype, int nd,
                    const int64_t *shape) {
  int id = dagr__registry_lookup(name, NULL);
  dagr_kernel_fn fn = dagr__registry_fn(id);
  if (id < 0 || !fn || is_wrapper(name))
    return dagr_kernel_fail(k, "%s: kernel '%s' is not registered", op, name);
  /* A crash inside names the user's kernel, not this wrapper (the crash line reads k). */
  int wrapper = k->kernel;
  k->kernel = id;
  int rc = fn(k);
  k->kernel = wrapper;
  if (rc) {
    if (!k->failed && !k->errmsg[0]) return dagr_kernel_fail(k, "%s: kernel '%s' failed", op, name);
    return rc;
  }
  if (k->out_kind == DAGR__OUT_NONE)
    return dagr_kernel_fail(k, "%s: kernel '%s' produced no output", op, name);
  int same = k->out_ndim == nd && k->out_dtype == dtype;
  for (int d = 0; same && d < nd; d++) same = k->out_shape[d] == shape[d];
  if (!same) {
    char want[160], got[160];
    dagr__shape_str(nd, shape, want, sizeof want);
    dagr__shape_str(k->out_ndim, k->out_shape, got, sizeof got);
    return dagr_kernel_fail(k,
                            "%s: kernel '%s' returned a %s block of shape %s; it must return a "
                            "%s block of shape %s",
                            op, name, dagr_dtype_name(k->out_dtype), got, dagr_dtype_name(dtype),
                            want);
  }
  return DAGR_OK;
}

static int k_map_blocks(dagr_kctx_t *k) {
  const char *name;
  const int64_t *shape;
  size_t nd;
  int64_t dt;
  if (dagr_kernel_param_string(k, "kernel", &name, NULL) ||
      dagr_kernel_param_int(k, "dtype", &dt) ||
      dagr_kernel_param_int_array(k, "shape", &shape, &nd) || nd > DAGR_MAX_NDIM)
    return dagr_kernel_fail(k, K_MAPBLOCKS ": bad parameters");
  return run_user(k, "map_blocks", name, (int)dt, (int)nd, shape);
}

static int lower_map_blocks(dagr__lower *L, dagr_array_t *r) {
  const char *name = r->ext;
  int rc = DAGR_OK;
  for (int i = 0; i < r->nin && rc == DAGR_OK; i++) rc = dagr__lower_node(L, r->in[i]);
  if (rc) return rc;
  char(*keys)[256] = malloc(sizeof *keys * (size_t)r->nin);
  const char **deps = malloc(sizeof *deps * (size_t)r->nin);
  if (!keys || !deps) rc = DAGR_ENOMEM;
  int64_t idx[DAGR_MAX_NDIM] = {0}, shape[DAGR_MAX_NDIM];
  while (rc == DAGR_OK) {
    int nd = dagr__lower_block_shape(&r->layout, idx, shape);
    for (int i = 0; i < r->nin; i++) {
      dagr__lower_block_key(r->in[i], idx, keys[i], sizeof keys[i]);
      deps[i] = keys[i];
    }
    dagr_params_t *p;
    if (dagr_params_create(&p)) {
      rc = DAGR_ENOMEM;
      break;
    }
    if (dagr_params_set_string(p, "kernel", name) || dagr_params_set_int(p, "dtype", r->dtype) ||
        dagr_params_set_int_array(p, "shape", shape, (size_t)nd)) {
      dagr_params_free(p);
      rc = DAGR_ENOMEM;
      break;
    }
    char key[256];
    dagr__lower_block_key(r, idx, key, sizeof key);
    rc = dagr__lower_add_task(L, key, K_MAPBLOCKS, p, deps, (size_t)r->nin);
    if (!dagr__lower_next_index(&r->layout, idx)) break;
  }
  free(keys);
  free(deps);
  return rc;
}

int dagr_array_map_blocks(const char *kernel, int n, dagr_array_t *const *arrays, int dtype,
                          dagr_array_t **out) {
  if (n < 1 || !arrays || !arrays[0]) return DAGR_EINVAL;
  dagr_array_t *a = arrays[0];
  dagr_ctx_t *ctx = a->ctx;
  if (!out) return dagr__array_err(ctx, DAGR_EINVAL, "map_blocks: out is NULL");
  if (!valid_dt(dtype))
    return dagr__array_err(ctx, DAGR_EINVAL, "map_blocks: unsupported output dtype %d (%s)", dtype,
                           dagr_dtype_name(dtype));
  int rc = check_kernel(ctx, "map_blocks", kernel);
  if (rc) return rc;
  for (int i = 1; i < n; i++) {
    if (!arrays[i]) return dagr__array_err(ctx, DAGR_EINVAL, "map_blocks: operand %d is NULL", i);
    if (arrays[i]->ctx != ctx)
      return dagr__array_err(ctx, DAGR_EINVAL, "map_blocks: operands belong to other contexts");
    int eq = 0;
    dagr__ch_layout_equal(&a->layout, &arrays[i]->layout, &eq);
    if (!eq) {
      char s0[160], s1[160];
      dagr__shape_str(a->layout.ndim, a->layout.shape, s0, sizeof s0);
      dagr__shape_str(arrays[i]->layout.ndim, arrays[i]->layout.shape, s1, sizeof s1);
      return dagr__array_err(ctx, DAGR_EINVAL,
                             "map_blocks: operand %d (shape %s) is not chunked like operand 0 "
                             "(shape %s); rechunk it to the same chunks first",
                             i, s1, s0);
    }
  }
  char *name = strdup(kernel);
  if (!name) return dagr__array_err(ctx, DAGR_ENOMEM, "out of memory");
  const int64_t *lists[DAGR_MAX_NDIM];
  for (int d = 0; d < a->layout.ndim; d++) lists[d] = a->layout.chunks[d];
  return new_ext(ctx, "map_blocks", dtype, n, arrays, a->layout.ndim, a->layout.shape, lists,
                 a->layout.nblocks, lower_map_blocks, name, out);
}

/* ---- map_overlap: ghost-cell assembly ------------------------------------------------------ */

/* Parameters shared by the overlap kernels: per axis lo/hi ghost widths, the ghost source on
 * each side (GH_*), the neighbour blocks' lengths, and inmap: for each of the 3^nd neighbour
 * positions (C order, offset -1/0/+1 per axis as 0/1/2) the input index holding it, or -1. */
typedef struct ov_params {
  int nd;
  const int64_t *lo, *hi, *lmode, *hmode, *lnlen, *inmap;
  double cval;
} ov_params;

static int ov_read(dagr_kctx_t *k, const char *who, ov_params *o) {
  size_t n[6], ninmap;
  if (dagr_kernel_param_int_array(k, "lo", &o->lo, &n[0]) ||
      dagr_kernel_param_int_array(k, "hi", &o->hi, &n[1]) ||
      dagr_kernel_param_int_array(k, "lmode", &o->lmode, &n[2]) ||
      dagr_kernel_param_int_array(k, "hmode", &o->hmode, &n[3]) ||
      dagr_kernel_param_int_array(k, "lnlen", &o->lnlen, &n[4]) ||
      dagr_kernel_param_int_array(k, "inmap", &o->inmap, &ninmap) ||
      dagr_kernel_param_double(k, "constant", &o->cval) || n[0] > DAGR_MAX_NDIM)
    return dagr_kernel_fail(k, "%s: bad parameters", who);
  o->nd = (int)n[0];
  size_t want = 1;
  for (int d = 0; d < o->nd; d++) want *= 3;
  for (int i = 1; i < 5; i++)
    if (n[i] != n[0]) return dagr_kernel_fail(k, "%s: bad parameters", who);
  if (ninmap != want) return dagr_kernel_fail(k, "%s: bad neighbour map", who);
  for (size_t i = 0; i < ninmap; i++)
    if (o->inmap[i] >= dagr_kernel_ninputs(k))
      return dagr_kernel_fail(k, "%s: neighbour map names a missing input", who);
  return DAGR_OK;
}

/* Source of padded position p along an axis of a block of length c: slot (0/1/2) and index in
 * that block, or slot -1 for the constant. */
static void ghost_src(const ov_params *o, int a, int64_t c, int64_t p, int *slot, int64_t *idx) {
  int64_t q = p - o->lo[a];
  if (q >= 0 && q < c) {
    *slot = 1;
    *idx = q;
    return;
  }
  int mode = (int)(q < 0 ? o->lmode[a] : o->hmode[a]);
  switch (mode) {
  case GH_NB:
    *slot = q < 0 ? 0 : 2;
    *idx = q < 0 ? o->lnlen[a] + q : q - c;
    return;
  case GH_REFLECT:
    *slot = 1;
    *idx = q < 0 ? -1 - q : 2 * c - 1 - q;
    return;
  case GH_WRAP:
    *slot = 1;
    *idx = q < 0 ? c + q : q - c;
    return;
  default:
    *slot = -1;
    *idx = 0;
    return;
  }
}

/* Assembles the padded block of the centre input (its shape cshape) into out (pshape). */
static int assemble(dagr_kctx_t *k, const ov_params *o, const int64_t *cshape,
                    const int64_t *pshape, int dtype, void *out) {
  int nd = o->nd;
  size_t es = dagr_dtype_size(dtype);
  unsigned char cbytes[8];
  put_el(cbytes, dtype, 0, o->cval);
  if (nd == 0) {
    dagr_view_t v;
    dagr_kernel_input(k, (int)o->inmap[0], &v);
    memcpy(out, v.data, es);
    return DAGR_OK;
  }
  int64_t total = prod(nd, pshape);
  if (total == 0) return DAGR_OK;
  int64_t plen = 0;
  for (int a = 0; a < nd; a++) plen += pshape[a];
  int *slot = malloc(sizeof *slot * (size_t)plen);
  int64_t *sidx = malloc(sizeof *sidx * (size_t)plen);
  dagr_view_t *views = calloc((size_t)dagr_kernel_ninputs(k) + 1, sizeof *views);
  if (!slot || !sidx || !views) {
    free(slot);
    free(sidx);
    free(views);
    return dagr_kernel_fail(k, "overlap: out of memory");
  }
  int64_t base[DAGR_MAX_NDIM], pos = 0;
  for (int a = 0; a < nd; a++) {
    base[a] = pos;
    for (int64_t p = 0; p < pshape[a]; p++)
      ghost_src(o, a, cshape[a], p, &slot[pos + p], &sidx[pos + p]);
    pos += pshape[a];
  }
  for (int i = 0; i < dagr_kernel_ninputs(k); i++) dagr_kernel_input(k, i, &views[i]);
  int rc = DAGR_OK;
  int64_t row = pshape[nd - 1], nrows = total / row;
  int64_t j[DAGR_MAX_NDIM] = {0};
  unsigned char *dst = out;
  for (int64_t r = 0; r < nrows && rc == DAGR_OK; r++, dst += (size_t)row * es) {
    int konst = 0, combo = 0;
    for (int a = 0; a < nd - 1; a++) {
      int s = slot[base[a] + j[a]];
      if (s < 0) konst = 1;
      combo = combo * 3 + (s < 0 ? 1 : s);
    }
    if (konst) {
      for (int64_t e = 0; e < row; e++) memcpy(dst + (size_t)e * es, cbytes, es);
    } else {
      /* Along the last axis: runs of the same slot with consecutive indices are memcpy'd. */
      int64_t p = 0;
      const int64_t *ls2 = sidx + base[nd - 1];
      const int *lsl = slot + base[nd - 1];
      while (p < row) {
        int s = lsl[p];
        if (s < 0) {
          memcpy(dst + (size_t)p * es, cbytes, es);
          p++;
          continue;
        }
        int64_t in = o->inmap[combo * 3 + s];
        if (in < 0) {
          rc = dagr_kernel_fail(k, "overlap: a needed neighbour block is missing");
          break;
        }
        const dagr_view_t *v = &views[in];
        if (v->ndim != nd) {
          rc = dagr_kernel_fail(k, "overlap: neighbour block has %d dimensions, not %d", v->ndim,
                                nd);
          break;
        }
        int64_t off = 0;
        for (int a = 0; a < nd - 1; a++) off = off * v->shape[a] + sidx[base[a] + j[a]];
        off *= v->shape[nd - 1];
        int64_t q = p + 1;
        while (q < row && lsl[q] == s && ls2[q] == ls2[q - 1] + 1) q++;
        if ((size_t)(off + ls2[q - 1] + 1) * es > v->nbytes || ls2[p] < 0) {
          rc = dagr_kernel_fail(k, "overlap: neighbour block is smaller than the ghost cells");
          break;
        }
        memcpy(dst + (size_t)p * es, (const unsigned char *)v->data + (size_t)(off + ls2[p]) * es,
               (size_t)(q - p) * es);
        p = q;
      }
    }
    for (int a = nd - 2; a >= 0; a--) {
      if (++j[a] < pshape[a]) break;
      j[a] = 0;
    }
  }
  free(slot);
  free(sidx);
  free(views);
  return rc;
}

/* The padded block, then the user's kernel on it. Params as ov_params plus kernel, dtype
 * (output), cshape (centre block shape), centre (the centre's input index). */
static int k_overlap_apply(dagr_kctx_t *k) {
  ov_params o;
  int rc = ov_read(k, K_OVAPPLY, &o);
  if (rc) return rc;
  const char *name;
  int64_t dt;
  const int64_t *cshape;
  size_t ncs;
  if (dagr_kernel_param_string(k, "kernel", &name, NULL) ||
      dagr_kernel_param_int(k, "dtype", &dt) ||
      dagr_kernel_param_int_array(k, "cshape", &cshape, &ncs) || (int)ncs != o.nd)
    return dagr_kernel_fail(k, K_OVAPPLY ": bad parameters");
  dagr_view_t cv;
  /* The centre is neighbour position (1, 1, ..., 1). */
  int64_t cpos = 0;
  for (int d = 0; d < o.nd; d++) cpos = cpos * 3 + 1;
  if (o.inmap[cpos] < 0) return dagr_kernel_fail(k, K_OVAPPLY ": no centre block");
  dagr_kernel_input(k, (int)o.inmap[cpos], &cv);
  int64_t pshape[DAGR_MAX_NDIM];
  for (int d = 0; d < o.nd; d++) pshape[d] = o.lo[d] + cshape[d] + o.hi[d];
  size_t es = dagr_dtype_size(cv.dtype);
  int64_t total = prod(o.nd, pshape);
  void *pad = malloc(total ? (size_t)total * es : 1);
  if (!pad) return dagr_kernel_fail(k, K_OVAPPLY ": out of memory for the padded block");
  rc = assemble(k, &o, cshape, pshape, cv.dtype, pad);
  if (rc == DAGR_OK) {
    dagr_view_t pv = cv;
    pv.data = pad;
    pv.nbytes = (size_t)total * es;
    for (int d = 0; d < o.nd; d++) pv.shape[d] = pshape[d];
    const dagr_view_t *saved = k->inputs;
    int savedn = k->ninputs;
    k->inputs = &pv;
    k->ninputs = 1;
    rc = run_user(k, "map_overlap", name, (int)dt, o.nd, pshape);
    k->inputs = saved;
    k->ninputs = savedn;
  }
  free(pad);
  return rc;
}

/* Drops lo/hi cells per axis. Params: lo, hi. */
static int k_trim(dagr_kctx_t *k) {
  const int64_t *lo, *hi;
  size_t n1, n2;
  if (dagr_kernel_param_int_array(k, "lo", &lo, &n1) ||
      dagr_kernel_param_int_array(k, "hi", &hi, &n2) || n1 != n2)
    return dagr_kernel_fail(k, K_TRIM ": bad parameters");
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || v.ndim != (int)n1)
    return dagr_kernel_fail(k, K_TRIM ": input has %d dimensions, not %zu", v.ndim, n1);
  int nd = v.ndim;
  int64_t shape[DAGR_MAX_NDIM];
  for (int d = 0; d < nd; d++) {
    shape[d] = v.shape[d] - lo[d] - hi[d];
    if (shape[d] < 0) return dagr_kernel_fail(k, K_TRIM ": block smaller than its ghost cells");
  }
  size_t es = dagr_dtype_size(v.dtype);
  int64_t total = prod(nd, shape);
  void *out;
  if (dagr_kernel_output(k, (size_t)total * es, v.dtype, nd, shape, &out))
    return dagr_kernel_fail(k, K_TRIM ": no room for a %lld-element block", (long long)total);
  if (total == 0) return DAGR_OK;
  if (nd == 0) {
    memcpy(out, v.data, es);
    return DAGR_OK;
  }
  int64_t row = shape[nd - 1], nrows = total / row, j[DAGR_MAX_NDIM] = {0};
  unsigned char *dst = out;
  for (int64_t r = 0; r < nrows; r++, dst += (size_t)row * es) {
    int64_t off = 0;
    for (int a = 0; a < nd - 1; a++) off = off * v.shape[a] + j[a] + lo[a];
    off = off * v.shape[nd - 1] + lo[nd - 1];
    memcpy(dst, (const unsigned char *)v.data + (size_t)off * es, (size_t)row * es);
    for (int a = nd - 2; a >= 0; a--) {
      if (++j[a] < shape[a]) break;
      j[a] = 0;
    }
  }
  return DAGR_OK;
}

/* ---- built-in star stencils ----------------------------------------------------------------- */

static const stencil_def *find_stencil(const char *name) {
  for (int i = 0; i < DAGR__NSTENCILS; i++)
    if (!strcmp(dagr__stencils[i].name, name)) return &dagr__stencils[i];
  return NULL;
}

/* The stencil as an ordinary kernel on a (padded) 2-D block: the interior is computed, the
 * outermost `radius` rows and columns are zero (like dask's star function with np.zeros_like). */
static int k_stencil_common(dagr_kctx_t *k, const stencil_def *s) {
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || v.ndim != 2 || !is_float_dt(v.dtype))
    return dagr_kernel_fail(k, "%s: needs one 2-D float32 or float64 block", s->name);
  int64_t h = v.shape[0], w = v.shape[1];
  size_t es = dagr_dtype_size(v.dtype);
  void *out;
  if (dagr_kernel_output(k, (size_t)(h * w) * es, v.dtype, 2, v.shape, &out))
    return dagr_kernel_fail(k, "%s: no room for the output", s->name);
  memset(out, 0, (size_t)(h * w) * es);
  int r = s->radius;
  for (int64_t i = r; i < h - r; i++) {
    if (v.dtype == DAGR_DTYPE_FLOAT32) {
      const float *c = (const float *)v.data + i * w, *up[2], *dn[2];
      for (int q = 0; q < r; q++) up[q] = c - (q + 1) * w, dn[q] = c + (q + 1) * w;
      star_row_float((float *)out + i * w, c, up, dn, r, (float)s->w0, (float)s->w1, (float)s->w2,
                     r, w - r);
    } else {
      const double *c = (const double *)v.data + i * w, *up[2], *dn[2];
      for (int q = 0; q < r; q++) up[q] = c - (q + 1) * w, dn[q] = c + (q + 1) * w;
      star_row_double((double *)out + i * w, c, up, dn, r, s->w0, s->w1, s->w2, r, w - r);
    }
  }
  return DAGR_OK;
}

static int k_star(dagr_kctx_t *k) {
  return k_stencil_common(k, &dagr__stencils[0]);
}
static int k_smooth5(dagr_kctx_t *k) {
  return k_stencil_common(k, &dagr__stencils[1]);
}

/* Fused map_overlap of a built-in stencil: one output block straight from the centre block and
 * its face neighbours (inputs per inmap). Params: ov_params, stencil (index), cshape. */
#define OV_STENCIL(T)                                                                              \
  static int ov_stencil_##T(dagr_kctx_t *k, const ov_params *o, const stencil_def *s,              \
                            const dagr_view_t *views, int64_t h, int64_t w, T *out) {              \
    int r = s->radius;                                                                             \
    T w0 = (T)s->w0, w1 = (T)s->w1, w2 = (T)s->w2, cval = (T)o->cval;                              \
    const T *cen = views[o->inmap[4]].data;                                                        \
    const T *upb = o->inmap[1] >= 0 ? views[o->inmap[1]].data : NULL;                              \
    const T *dnb = o->inmap[7] >= 0 ? views[o->inmap[7]].data : NULL;                              \
    const T *lfb = o->inmap[3] >= 0 ? views[o->inmap[3]].data : NULL;                              \
    const T *rtb = o->inmap[5] >= 0 ? views[o->inmap[5]].data : NULL;                              \
    int64_t hu = o->lnlen[0], wl = o->lnlen[1];                                                    \
    if ((upb && (views[o->inmap[1]].shape[1] != w || hu < r)) ||                                   \
        (dnb && (views[o->inmap[7]].shape[1] != w || views[o->inmap[7]].shape[0] < r)) ||          \
        (lfb && (views[o->inmap[3]].shape[0] != h || wl < r)) ||                                   \
        (rtb && (views[o->inmap[5]].shape[0] != h || views[o->inmap[5]].shape[1] < r)))            \
      return dagr_kernel_fail(k, K_OVSTENCIL ": neighbour blocks do not fit");                     \
    int64_t wr = rtb ? views[o->inmap[5]].shape[1] : 0;                                            \
    T *crow = malloc(sizeof(T) * (size_t)(w > 0 ? w : 1));                                         \
    if (!crow) return dagr_kernel_fail(k, K_OVSTENCIL ": out of memory");                          \
    for (int64_t j = 0; j < w; j++) crow[j] = cval;                                                \
    int zt = o->lmode[0] == GH_NONE && o->lo[0] == 0,                                              \
        zb = o->hmode[0] == GH_NONE && o->hi[0] == 0;                                              \
    int zl = o->lmode[1] == GH_NONE && o->lo[1] == 0,                                              \
        zr = o->hmode[1] == GH_NONE && o->hi[1] == 0;                                              \
    int64_t j0 = zl ? r : 0, j1 = zr ? w - r : w;                                                  \
    if (j1 < j0) j1 = j0;                                                                          \
    for (int64_t i = 0; i < h; i++) {                                                              \
      T *orow = out + i * w;                                                                       \
      if ((zt && i < r) || (zb && i >= h - r)) {                                                   \
        memset(orow, 0, sizeof(T) * (size_t)w);                                                    \
        continue;                                                                                  \
      }                                                                                            \
      const T *up[2] = {NULL, NULL}, *dn[2] = {NULL, NULL};                                        \
      for (int q = 1; q <= r; q++) {                                                               \
        int64_t a = i - q, b = i + q;                                                              \
        const T *pa, *pb;                                                                          \
        if (a >= 0)                                                                                \
          pa = cen + a * w;                                                                        \
        else if (o->lmode[0] == GH_NB)                                                             \
          pa = upb + (hu + a) * w;                                                                 \
        else if (o->lmode[0] == GH_REFLECT)                                                        \
          pa = cen + (-1 - a) * w;                                                                 \
        else if (o->lmode[0] == GH_WRAP)                                                           \
          pa = cen + (h + a) * w;                                                                  \
        else                                                                                       \
          pa = crow;                                                                               \
        if (b < h)                                                                                 \
          pb = cen + b * w;                                                                        \
        else if (o->hmode[0] == GH_NB)                                                             \
          pb = dnb + (b - h) * w;                                                                  \
        else if (o->hmode[0] == GH_REFLECT)                                                        \
          pb = cen + (2 * h - 1 - b) * w;                                                          \
        else if (o->hmode[0] == GH_WRAP)                                                           \
          pb = cen + (b - h) * w;                                                                  \
        else                                                                                       \
          pb = crow;                                                                               \
        up[q - 1] = pa;                                                                            \
        dn[q - 1] = pb;                                                                            \
      }                                                                                            \
      const T *c = cen + i * w;                                                                    \
      int64_t m0 = j0 > r ? j0 : r, m1 = j1 < w - r ? j1 : w - r;                                  \
      if (m1 > m0)                                                                                 \
        star_row_##T(orow, c, up, dn, r, w0, w1, w2, m0, m1);                                      \
      else                                                                                         \
        m0 = m1 = j0;                                                                              \
      for (int64_t j = 0; j < w; j++) {                                                            \
        if (j >= m0 && j < m1) {                                                                   \
          j = m1 - 1;                                                                              \
          continue;                                                                                \
        }                                                                                          \
        if (j < j0 || j >= j1) {                                                                   \
          orow[j] = 0;                                                                             \
          continue;                                                                                \
        }                                                                                          \
        T hv[5] = {0};                                                                             \
        for (int q = -r; q <= r; q++) {                                                            \
          int64_t x = j + q;                                                                       \
          T val;                                                                                   \
          if (x >= 0 && x < w)                                                                     \
            val = c[x];                                                                            \
          else if (x < 0) {                                                                        \
            if (o->lmode[1] == GH_NB)                                                              \
              val = lfb[i * wl + wl + x];                                                          \
            else if (o->lmode[1] == GH_REFLECT)                                                    \
              val = c[-1 - x];                                                                     \
            else if (o->lmode[1] == GH_WRAP)                                                       \
              val = c[w + x];                                                                      \
            else                                                                                   \
              val = cval;                                                                          \
          } else {                                                                                 \
            if (o->hmode[1] == GH_NB)                                                              \
              val = rtb[i * wr + x - w];                                                           \
            else if (o->hmode[1] == GH_REFLECT)                                                    \
              val = c[2 * w - 1 - x];                                                              \
            else if (o->hmode[1] == GH_WRAP)                                                       \
              val = c[x - w];                                                                      \
            else                                                                                   \
              val = cval;                                                                          \
          }                                                                                        \
          hv[q + r] = val;                                                                         \
        }                                                                                          \
        orow[j] = star_one_##T(hv, up, dn, j, r, w0, w1, w2);                                      \
      }                                                                                            \
    }                                                                                              \
    free(crow);                                                                                    \
    return DAGR_OK;                                                                                \
  }
OV_STENCIL(float)
OV_STENCIL(double)

static int k_overlap_stencil(dagr_kctx_t *k) {
  ov_params o;
  int rc = ov_read(k, K_OVSTENCIL, &o);
  if (rc) return rc;
  int64_t si;
  if (dagr_kernel_param_int(k, "stencil", &si) || si < 0 || si >= DAGR__NSTENCILS || o.nd != 2)
    return dagr_kernel_fail(k, K_OVSTENCIL ": bad parameters");
  const stencil_def *s = &dagr__stencils[si];
  int n = dagr_kernel_ninputs(k);
  dagr_view_t views[9];
  if (n > 9 || o.inmap[4] < 0) return dagr_kernel_fail(k, K_OVSTENCIL ": bad inputs");
  for (int i = 0; i < n; i++) dagr_kernel_input(k, i, &views[i]);
  const dagr_view_t *cv = &views[o.inmap[4]];
  if (cv->ndim != 2 || !is_float_dt(cv->dtype))
    return dagr_kernel_fail(k, "%s: needs a 2-D float32 or float64 array", s->name);
  for (int i = 0; i < n; i++)
    if (views[i].dtype != cv->dtype || views[i].ndim != 2)
      return dagr_kernel_fail(k, K_OVSTENCIL ": neighbour blocks differ in dtype");
  int64_t h = cv->shape[0], w = cv->shape[1];
  size_t es = dagr_dtype_size(cv->dtype);
  void *out;
  if (dagr_kernel_output(k, (size_t)(h * w) * es, cv->dtype, 2, cv->shape, &out))
    return dagr_kernel_fail(k, K_OVSTENCIL ": no room for the output");
  if (cv->dtype == DAGR_DTYPE_FLOAT32) return ov_stencil_float(k, &o, s, views, h, w, out);
  return ov_stencil_double(k, &o, s, views, h, w, out);
}

/* ---- map_overlap: graph -------------------------------------------------------------------- */

/* Temporal blocking: a chain of K map_overlap sweeps of the same built-in stencil with boundary
 * none becomes one "array.stencil_sweeps" task per block (k_stencil.c). Its ghost region is
 * K*radius wide, so K is bounded by an eighth of the smallest chunk along each axis that has
 * neighbours (ghost cells come from the adjacent block only, and recomputing the ghost region
 * stays a few percent of the work), and by SWEEPS_MAX (row buffers per sweep). An intermediate
 * sweep that something else also uses ends the chain, so it is still computed once. */
#define SWEEPS_MAX 32
#define K_SWEEPS   "array.stencil_sweeps"

static int lower_map_overlap(dagr__lower *L, dagr_array_t *r);

static int is_sweep(const dagr_array_t *n, int stencil) {
  if (n->kind != DAGR__AN_EXT || n->ext_lower != lower_map_overlap) return 0;
  const mo_ext *x = n->ext;
  return x->stencil == stencil && x->boundary == DAGR_BOUNDARY_NONE;
}

/* Number of sweeps to fuse from r down (1: none), and the array under them. */
static int sweep_chain(dagr_array_t *r, dagr_array_t **base) {
  const mo_ext *x = r->ext;
  *base = r->in[0];
  if (!is_sweep(r, x->stencil)) return 1;
  const dagr__ch_layout_t *l = &r->layout;
  int rad = dagr__stencils[x->stencil].radius;
  int64_t kmax = SWEEPS_MAX;
  for (int d = 0; d < l->ndim; d++) {
    if (l->nblocks[d] < 2) continue;
    int64_t minc = INT64_MAX;
    for (int64_t b = 0; b < l->nblocks[d]; b++)
      if (l->chunks[d][b] < minc) minc = l->chunks[d][b];
    if (minc / 8 / rad < kmax) kmax = minc / 8 / rad;
  }
  int k = 1;
  dagr_array_t *cur = r;
  while (k < kmax && is_sweep(cur->in[0], x->stencil) && cur->in[0]->uses == 1) {
    cur = cur->in[0];
    k++;
  }
  *base = cur->in[0];
  return k;
}

static int lower_sweeps(dagr__lower *L, dagr_array_t *r, dagr_array_t *base, int K) {
  const mo_ext *x = r->ext;
  int rc = dagr__lower_node(L, base);
  if (rc) return rc;
  const dagr__ch_layout_t *l = &r->layout;
  int64_t halo = (int64_t)K * dagr__stencils[x->stencil].radius;
  int64_t idx[DAGR_MAX_NDIM] = {0};
  do {
    int64_t goff[2], inmap[9], nidx[2];
    char keys[9][256];
    const char *deps[9];
    int nin = 0;
    for (int d = 0; d < 2; d++) goff[d] = l->offsets[d][idx[d]];
    for (int p = 0; p < 9; p++) {
      int dy = p / 3 - 1, dx = p % 3 - 1, ok = 1;
      int dd[2] = {dy, dx};
      for (int d = 0; d < 2 && ok; d++) {
        nidx[d] = idx[d] + dd[d];
        /* A side contributes ghost cells when the tile reaches past the block there. */
        if (dd[d] < 0) ok = idx[d] > 0 && goff[d] > 0 && halo > 0;
        if (dd[d] > 0) ok = idx[d] < l->nblocks[d] - 1;
      }
      inmap[p] = ok ? nin : -1;
      if (ok) {
        dagr__lower_block_key(base, nidx, keys[nin], sizeof keys[nin]);
        deps[nin] = keys[nin];
        nin++;
      }
    }
    dagr_params_t *p;
    if (dagr_params_create(&p)) return DAGR_ENOMEM;
    int prc = dagr_params_set_int(p, "stencil", x->stencil);
    prc |= dagr_params_set_int(p, "sweeps", K);
    prc |= dagr_params_set_int_array(p, "goff", goff, 2);
    prc |= dagr_params_set_int_array(p, "gshape", l->shape, 2);
    prc |= dagr_params_set_int_array(p, "inmap", inmap, 9);
    if (prc) {
      dagr_params_free(p);
      return DAGR_ENOMEM;
    }
    char key[256];
    dagr__lower_block_key(r, idx, key, sizeof key);
    rc = dagr__lower_add_task(L, key, K_SWEEPS, p, deps, (size_t)nin);
  } while (rc == DAGR_OK && dagr__lower_next_index(l, idx));
  return rc;
}

static int lower_map_overlap(dagr__lower *L, dagr_array_t *r) {
  const mo_ext *x = r->ext;
  dagr_array_t *a = r->in[0];
  if (x->stencil >= 0) {
    dagr_array_t *base;
    int K = sweep_chain(r, &base);
    if (K > 1) return lower_sweeps(L, r, base, K);
  }
  int rc = dagr__lower_node(L, a);
  if (rc) return rc;
  const dagr__ch_layout_t *l = &a->layout;
  int nd = l->ndim;
  int64_t ncombo = 1;
  for (int d = 0; d < nd; d++) ncombo *= 3;
  int64_t *inmap = malloc(sizeof *inmap * (size_t)ncombo);
  char(*keys)[256] = malloc(sizeof *keys * (size_t)ncombo);
  const char **deps = malloc(sizeof *deps * (size_t)ncombo);
  if (!inmap || !keys || !deps) rc = dagr__array_err(L->ctx, DAGR_ENOMEM, "out of memory");
  int64_t idx[DAGR_MAX_NDIM] = {0};
  int fused = x->stencil >= 0;
  while (rc == DAGR_OK) {
    int64_t lo[DAGR_MAX_NDIM], hi[DAGR_MAX_NDIM], lm[DAGR_MAX_NDIM], hm[DAGR_MAX_NDIM],
        lnlen[DAGR_MAX_NDIM], lnb[DAGR_MAX_NDIM], hnb[DAGR_MAX_NDIM], cshape[DAGR_MAX_NDIM];
    for (int d = 0; d < nd; d++) {
      int64_t nb = l->nblocks[d], i = idx[d], dep = x->depth[d];
      cshape[d] = l->chunks[d][i];
      lo[d] = hi[d] = dep;
      lnb[d] = i > 0 ? i - 1 : nb - 1;
      hnb[d] = i < nb - 1 ? i + 1 : 0;
      int edge_mode = x->boundary == DAGR_BOUNDARY_CONSTANT   ? GH_CONST
                      : x->boundary == DAGR_BOUNDARY_REFLECT  ? GH_REFLECT
                      : x->boundary == DAGR_BOUNDARY_PERIODIC ? (nb > 1 ? GH_NB : GH_WRAP)
                                                              : GH_NONE;
      lm[d] = i > 0 ? GH_NB : edge_mode;
      hm[d] = i < nb - 1 ? GH_NB : edge_mode;
      if (dep == 0) lm[d] = hm[d] = GH_NONE;
      if (lm[d] == GH_NONE) lo[d] = 0;
      if (hm[d] == GH_NONE) hi[d] = 0;
      lnlen[d] = l->chunks[d][lnb[d]];
    }
    /* Inputs: every neighbour position whose slots are all needed (only face neighbours for
     * a fused star stencil). */
    int nin = 0;
    for (int64_t cidx = 0; cidx < ncombo; cidx++) {
      int64_t rem = cidx, bidx[DAGR_MAX_NDIM];
      int ok = 1, off_axes = 0;
      for (int d = nd - 1; d >= 0; d--) {
        int s = (int)(rem % 3);
        rem /= 3;
        if (s == 0) {
          ok &= lm[d] == GH_NB;
          bidx[d] = lnb[d];
        } else if (s == 2) {
          ok &= hm[d] == GH_NB;
          bidx[d] = hnb[d];
        } else {
          bidx[d] = idx[d];
        }
        off_axes += s != 1;
      }
      if (fused && off_axes > 1) ok = 0;
      inmap[cidx] = ok ? nin : -1;
      if (ok) {
        dagr__lower_block_key(a, bidx, keys[nin], sizeof keys[nin]);
        deps[nin] = keys[nin];
        nin++;
      }
    }
    dagr_params_t *p;
    if (dagr_params_create(&p)) {
      rc = DAGR_ENOMEM;
      break;
    }
    int prc = dagr_params_set_int_array(p, "lo", lo, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "hi", hi, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "lmode", lm, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "hmode", hm, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "lnlen", lnlen, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "inmap", inmap, (size_t)ncombo);
    prc |= dagr_params_set_double(p, "constant", x->constant);
    prc |= dagr_params_set_int(p, "dtype", r->dtype);
    prc |= dagr_params_set_int_array(p, "cshape", cshape, (size_t)nd);
    if (fused)
      prc |= dagr_params_set_int(p, "stencil", x->stencil);
    else
      prc |= dagr_params_set_string(p, "kernel", x->kernel);
    if (prc) {
      dagr_params_free(p);
      rc = DAGR_ENOMEM;
      break;
    }
    char key[256];
    dagr__lower_block_key(r, idx, key, sizeof key);
    if (fused) {
      rc = dagr__lower_add_task(L, key, K_OVSTENCIL, p, deps, (size_t)nin);
    } else {
      char ak[256];
      dagr__lower_key(ak, sizeof ak, r->ext_name, r->id, "-apply", nd, idx);
      rc = dagr__lower_add_task(L, ak, K_OVAPPLY, p, deps, (size_t)nin);
      dagr_params_t *t;
      if (rc == DAGR_OK && dagr_params_create(&t)) rc = DAGR_ENOMEM;
      if (rc == DAGR_OK) {
        if (dagr_params_set_int_array(t, "lo", lo, (size_t)nd) ||
            dagr_params_set_int_array(t, "hi", hi, (size_t)nd)) {
          dagr_params_free(t);
          rc = DAGR_ENOMEM;
        } else {
          const char *td[1] = {ak};
          rc = dagr__lower_add_task(L, key, K_TRIM, t, td, 1);
        }
      }
    }
    if (!dagr__lower_next_index(&r->layout, idx)) break;
  }
  free(inmap);
  free(keys);
  free(deps);
  return rc;
}

int dagr_array_map_overlap(const char *kernel, dagr_array_t *a, const int64_t *depth, int boundary,
                           double constant, int dtype, dagr_array_t **out) {
  if (!a) return DAGR_EINVAL;
  dagr_ctx_t *ctx = a->ctx;
  if (!out) return dagr__array_err(ctx, DAGR_EINVAL, "map_overlap: out is NULL");
  if (!valid_dt(dtype))
    return dagr__array_err(ctx, DAGR_EINVAL, "map_overlap: unsupported output dtype %d (%s)", dtype,
                           dagr_dtype_name(dtype));
  if (boundary < DAGR_BOUNDARY_NONE || boundary > DAGR_BOUNDARY_REFLECT)
    return dagr__array_err(ctx, DAGR_EINVAL, "map_overlap: unknown boundary mode %d", boundary);
  int rc = check_kernel(ctx, "map_overlap", kernel);
  if (rc) return rc;
  const dagr__ch_layout_t *l = &a->layout;
  mo_ext *x = calloc(1, sizeof *x);
  if (!x) return dagr__array_err(ctx, DAGR_ENOMEM, "out of memory");
  snprintf(x->kernel, sizeof x->kernel, "%s", kernel);
  x->boundary = boundary;
  x->constant = constant;
  x->stencil = -1;
  int64_t mindepth = INT64_MAX;
  for (int d = 0; d < l->ndim; d++) {
    int64_t dep = depth ? depth[d] : 0;
    if (dep < 0) {
      free(x);
      return dagr__array_err(ctx, DAGR_EINVAL, "map_overlap: depth %lld on axis %d is negative",
                             (long long)dep, d);
    }
    int64_t minc = INT64_MAX;
    for (int64_t b = 0; b < l->nblocks[d]; b++)
      if (l->chunks[d][b] < minc) minc = l->chunks[d][b];
    if (dep > minc) {
      free(x);
      return dagr__array_err(ctx, DAGR_EINVAL,
                             "map_overlap: the depth %lld on axis %d is larger than the smallest "
                             "chunk (%lld) along that axis; rechunk to larger chunks first",
                             (long long)dep, d, (long long)minc);
    }
    x->depth[d] = dep;
    if (dep < mindepth) mindepth = dep;
  }
  const stencil_def *s = find_stencil(kernel);
  if (s) {
    if (l->ndim != 2 || !is_float_dt(a->dtype)) {
      free(x);
      return dagr__array_err(ctx, DAGR_EINVAL,
                             "map_overlap: %s needs a 2-D float32 or float64 array", kernel);
    }
    if (dtype != a->dtype) {
      free(x);
      return dagr__array_err(ctx, DAGR_EINVAL, "map_overlap: %s returns %s, not %s", kernel,
                             dagr_dtype_name(a->dtype), dagr_dtype_name(dtype));
    }
    /* Fused when the ghost cells cover the stencil's reach. */
    if (mindepth >= s->radius) x->stencil = (int)(s - dagr__stencils);
  }
  const int64_t *lists[DAGR_MAX_NDIM];
  for (int d = 0; d < l->ndim; d++) lists[d] = l->chunks[d];
  dagr_array_t *in[1] = {a};
  return new_ext(ctx, "map_overlap", dtype, 1, in, l->ndim, l->shape, lists, l->nblocks,
                 lower_map_overlap, x, out);
}

/* ---- kernel registration ------------------------------------------------------------------- */

__attribute__((constructor)) static void op_compute_register(void) {
  (void)dagr_kernel_register(K_MATMUL, k_matmul);
  (void)dagr_kernel_register(K_BLOCKSUM, k_block_sum);
  (void)dagr_kernel_register(K_MAPBLOCKS, k_map_blocks);
  (void)dagr_kernel_register(K_OVAPPLY, k_overlap_apply);
  (void)dagr_kernel_register(K_TRIM, k_trim);
  (void)dagr_kernel_register(K_OVSTENCIL, k_overlap_stencil);
  (void)dagr_kernel_register(K_STAR, k_star);
  (void)dagr_kernel_register(K_SMOOTH5, k_smooth5);
}
