/* lower.c: turns an array expression into a dagr task graph (one task per chunk, elementwise chains
 * fused) and computes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "array/array_impl.h"
#include "hdf5/h5io.h"
#include "runtime/ctx.h"

/* Optimizations done here, at the expression level, before any task exists:
 *  - culling: only the nodes the requested array reaches are lowered (and dagr_get culls the
 *    task graph again);
 *  - blockwise fusion: a connected region of elementwise nodes becomes ONE task per output
 *    chunk running a register program (k_ew.c) that makes one pass over memory, instead of one
 *    task and one temporary chunk per operation; linear chains of elementwise operations are
 *    the common case of such a region;
 *  - slicing pushed into HDF5 reads: indexing a dataset with positive steps reads only the
 *    selected hyperslab of each chunk (no read-then-slice task pair, no unneeded bytes). */

typedef dagr__lower lower;

static int lowered(lower *L, uint64_t id) {
  for (size_t i = 0; i < L->ndone; i++)
    if (L->done[i] == id) return 1;
  return 0;
}

static int mark(lower *L, uint64_t id) {
  if (L->ndone == L->cap) {
    size_t c = L->cap ? L->cap * 2 : 32;
    uint64_t *d = realloc(L->done, c * sizeof *d);
    if (!d) return DAGR_ENOMEM;
    L->done = d;
    L->cap = c;
  }
  L->done[L->ndone++] = id;
  return DAGR_OK;
}

static const char *prefix_of(const dagr_array_t *a) {
  switch (a->kind) {
  case DAGR__AN_FULL:
    return "full";
  case DAGR__AN_ARANGE:
    return "arange";
  case DAGR__AN_RANDOM:
    return "random";
  case DAGR__AN_BUFFER:
    return "array";
  case DAGR__AN_EW:
    return "ew";
  case DAGR__AN_REDUCE:
    return "reduce";
  case DAGR__AN_TRANSPOSE:
    return "transpose";
  case DAGR__AN_H5:
    return "from-hdf5";
  case DAGR__AN_EXT:
    return a->ext_name ? a->ext_name : "op";
  default:
    return "getitem";
  }
}

/* Dask-style tuple key of a block: ('name-ID', i, j). */
static void key_of(char *buf, size_t len, const char *name, uint64_t id, const char *suffix, int n,
                   const int64_t *idx) {
  size_t k = (size_t)snprintf(buf, len, "('%s-%llu%s'", name, (unsigned long long)id, suffix);
  for (int i = 0; i < n && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, ", %lld", (long long)idx[i]);
  if (k < len) snprintf(buf + k, len - k, n == 0 ? ",)" : ")");
}

static void block_key(const dagr_array_t *a, const int64_t *idx, char *buf, size_t len) {
  key_of(buf, len, prefix_of(a), a->id, "", a->layout.ndim, idx);
}

/* Iterates block indices of a layout in C order: returns 0 when done. */
static int next_index(const dagr__ch_layout_t *l, int64_t *idx) {
  for (int a = l->ndim - 1; a >= 0; a--) {
    if (++idx[a] < l->nblocks[a]) return 1;
    idx[a] = 0;
  }
  return 0;
}

static int add_task_prio(lower *L, const char *key, const char *kernel, dagr_params_t *p,
                         const char *const *deps, size_t ndeps, int priority) {
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.priority = priority;
  int rc = dagr_graph_add(L->g, key, kernel, p, deps, ndeps, &o);
  dagr_params_free(p);
  if (rc) return dagr__array_err(L->ctx, rc, "building the task graph: %s", dagr_graph_error(L->g));
  return DAGR_OK;
}

static int add_task(lower *L, const char *key, const char *kernel, dagr_params_t *p,
                    const char *const *deps, size_t ndeps) {
  int rc = dagr_graph_add(L->g, key, kernel, p, deps, ndeps, NULL);
  dagr_params_free(p);
  if (rc) return dagr__array_err(L->ctx, rc, "building the task graph: %s", dagr_graph_error(L->g));
  return DAGR_OK;
}

static int block_shape(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *shape) {
  for (int a = 0; a < l->ndim; a++) shape[a] = l->chunks[a][idx[a]];
  return l->ndim;
}

static int lower_node(lower *L, dagr_array_t *a);

/* ---- sources ---------------------------------------------------------------------------- */

static int lower_source(lower *L, dagr_array_t *a) {
  int64_t idx[DAGR_MAX_NDIM] = {0}, shape[DAGR_MAX_NDIM];
  char key[256];
  int64_t block = 0;
  size_t es = dagr_dtype_size(a->dtype);
  do {
    dagr_params_t *p;
    if (dagr_params_create(&p)) return DAGR_ENOMEM;
    int nd = block_shape(&a->layout, idx, shape);
    int rc = dagr_params_set_int_array(p, "shape", shape, (size_t)nd);
    rc |= dagr_params_set_int(p, "dtype", a->dtype);
    const char *kernel = DAGR__K_FULL;
    switch (a->kind) {
    case DAGR__AN_FULL:
      rc |= dagr_params_set_double(p, "value", a->u.full.value);
      break;
    case DAGR__AN_ARANGE:
      kernel = DAGR__K_ARANGE;
      rc |= dagr_params_set_double(p, "start", a->u.arange.start);
      rc |= dagr_params_set_double(p, "step", a->u.arange.step);
      rc |= dagr_params_set_int(p, "offset", a->layout.offsets[0][idx[0]]);
      break;
    case DAGR__AN_RANDOM:
      kernel = DAGR__K_RANDOM;
      rc |= dagr_params_set_int(p, "seed", (int64_t)a->u.random.seed);
      rc |= dagr_params_set_int(p, "block", block);
      rc |= dagr_params_set_int(p, "normal", a->u.random.normal);
      rc |= dagr_params_set_double(p, "a", a->u.random.a);
      rc |= dagr_params_set_double(p, "b", a->u.random.b);
      break;
    default: { /* buffer: copy the block out of the C-ordered whole */
      kernel = DAGR__K_BUFFER;
      int64_t n = 1, off[DAGR_MAX_NDIM], gst[DAGR_MAX_NDIM], st = 1;
      for (int d = nd - 1; d >= 0; d--) {
        gst[d] = st;
        st *= a->layout.shape[d];
      }
      for (int d = 0; d < nd; d++) {
        n *= shape[d];
        off[d] = a->layout.offsets[d][idx[d]];
      }
      size_t words = ((size_t)n * es + 7) / 8;
      int64_t *buf = calloc(words ? words : 1, 8);
      if (!buf) {
        dagr_params_free(p);
        return DAGR_ENOMEM;
      }
      int64_t j[DAGR_MAX_NDIM] = {0};
      for (int64_t e = 0; e < n; e++) {
        int64_t g = 0;
        for (int d = 0; d < nd; d++) g += (off[d] + j[d]) * gst[d];
        memcpy((char *)buf + (size_t)e * es, (char *)a->u.buffer.data + (size_t)g * es, es);
        for (int d = nd - 1; d >= 0; d--) {
          if (++j[d] < shape[d]) break;
          j[d] = 0;
        }
      }
      rc |= dagr_params_set_int_array(p, "data", buf, words);
      free(buf);
      break;
    }
    }
    if (rc) {
      dagr_params_free(p);
      return DAGR_ENOMEM;
    }
    block_key(a, idx, key, sizeof key);
    rc = add_task(L, key, kernel, p, NULL, 0);
    if (rc) return rc;
    block++;
  } while (next_index(&a->layout, idx));
  return DAGR_OK;
}

/* One read task: hyperslab (start, count, stride) of the dataset, chunk shape `shape`. */
static int add_read(lower *L, const dagr_array_t *h, const char *key, const int64_t *start,
                    const int64_t *count, const int64_t *stride, int nd, const int64_t *shape,
                    int ond) {
  dagr_params_t *p;
  if (dagr_params_create(&p)) return DAGR_ENOMEM;
  int rc = dagr_params_set_string(p, "path", h->u.h5.path);
  rc |= dagr_params_set_string(p, "dataset", h->u.h5.dataset);
  rc |= dagr_params_set_int(p, "dtype", h->dtype);
  rc |= dagr_params_set_int_array(p, "start", start, (size_t)nd);
  rc |= dagr_params_set_int_array(p, "count", count, (size_t)nd);
  rc |= dagr_params_set_int_array(p, "stride", stride, (size_t)nd);
  rc |= dagr_params_set_int_array(p, "shape", shape, (size_t)ond);
  if (rc) {
    dagr_params_free(p);
    return DAGR_ENOMEM;
  }
  return add_task(L, key, DAGR__K_H5READ, p, NULL, 0);
}

static int lower_h5(lower *L, dagr_array_t *a) {
  int64_t idx[DAGR_MAX_NDIM] = {0}, shape[DAGR_MAX_NDIM], start[DAGR_MAX_NDIM], ones[DAGR_MAX_NDIM];
  char key[256];
  int nd = a->layout.ndim;
  for (int d = 0; d < nd; d++) ones[d] = 1;
  do {
    block_shape(&a->layout, idx, shape);
    for (int d = 0; d < nd; d++) start[d] = a->layout.offsets[d][idx[d]];
    block_key(a, idx, key, sizeof key);
    int rc = add_read(L, a, key, start, shape, ones, nd, shape, nd);
    if (rc) return rc;
  } while (next_index(&a->layout, idx));
  return DAGR_OK;
}

/* ---- fused elementwise ------------------------------------------------------------------ */

typedef struct prog {
  int64_t *code;
  size_t ncode, cap;
  double consts[256];
  size_t nconsts;
  int nreg;
  dagr_array_t *leaves[64];
  int nleaves;
  /* node -> register, for nodes shared inside the region */
  dagr_array_t *seen[256];
  int seen_reg[256];
  int nseen;
} prog;

static int emit(prog *P, int64_t op, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t c) {
  if (P->ncode + DAGR__EW_INSN > P->cap) {
    size_t cap = P->cap ? P->cap * 2 : 64;
    int64_t *x = realloc(P->code, cap * sizeof *x);
    if (!x) return -1;
    P->code = x;
    P->cap = cap;
  }
  int64_t insn[DAGR__EW_INSN] = {op, dt, dst, a, b, c};
  memcpy(P->code + P->ncode, insn, sizeof insn);
  P->ncode += DAGR__EW_INSN;
  return 0;
}

/* Converts register r holding dtype from into dtype to (a new register if needed). */
static int cast_to(prog *P, int r, int from, int to) {
  if (from == to) return r;
  int d = P->nreg++;
  if (emit(P, DAGR__VM_CAST, to, d, r, from, 0)) return -1;
  return d;
}

static int is_cmp(int op) {
  return op >= DAGR_OP_LT && op <= DAGR_OP_NE;
}

/* Emits the code computing node a; returns its register (holding a->dtype), or -1. */
static int compile(lower *L, prog *P, dagr_array_t *a, dagr_array_t *root) {
  if (a->kind != DAGR__AN_EW || (a != root && P->nseen >= 256)) {
    int slot = -1;
    for (int i = 0; i < P->nleaves; i++)
      if (P->leaves[i] == a) slot = i;
    if (slot < 0) {
      if (P->nleaves == 64) {
        dagr__array_err(L->ctx, DAGR_EINVAL, "an elementwise expression has more than 64 inputs");
        return -1;
      }
      slot = P->nleaves;
      P->leaves[P->nleaves++] = a;
    }
    int r = P->nreg++;
    if (emit(P, DAGR__VM_LOAD, a->dtype, r, slot, 0, 0)) return -1;
    return r;
  }
  for (int i = 0; i < P->nseen; i++)
    if (P->seen[i] == a) return P->seen_reg[i];
  int op = a->u.ew.op, out;
  if (op == DAGR__EW_WHERE) {
    int c = compile(L, P, a->in[0], root), x = compile(L, P, a->in[1], root),
        y = compile(L, P, a->in[2], root);
    if (c < 0 || x < 0 || y < 0) return -1;
    c = cast_to(P, c, a->in[0]->dtype, DAGR_DTYPE_BOOL);
    x = cast_to(P, x, a->in[1]->dtype, a->dtype);
    y = cast_to(P, y, a->in[2]->dtype, a->dtype);
    if (c < 0 || x < 0 || y < 0) return -1;
    out = P->nreg++;
    if (emit(P, DAGR__VM_WHERE, a->dtype, out, x, y, c)) return -1;
  } else if (op >= DAGR_OP_NEG) {
    int x = compile(L, P, a->in[0], root);
    if (x < 0) return -1;
    x = cast_to(P, x, a->in[0]->dtype, a->dtype);
    if (x < 0) return -1;
    out = P->nreg++;
    if (emit(P, DAGR__VM_UNARY, a->dtype, out, x, 0, op)) return -1;
  } else {
    int x, y, dx, dy;
    if (a->u.ew.scalar_pos) {
      int v = compile(L, P, a->in[0], root);
      if (v < 0 || P->nconsts == 256) return -1;
      int k = P->nreg++;
      P->consts[P->nconsts] = a->u.ew.scalar;
      if (emit(P, DAGR__VM_CONST, a->u.ew.scalar_dtype, k, (int64_t)P->nconsts++, 0, 0)) return -1;
      if (a->u.ew.scalar_pos == 1)
        x = v, dx = a->in[0]->dtype, y = k, dy = a->u.ew.scalar_dtype;
      else
        x = k, dx = a->u.ew.scalar_dtype, y = v, dy = a->in[0]->dtype;
    } else {
      x = compile(L, P, a->in[0], root);
      y = compile(L, P, a->in[1], root);
      dx = a->in[0]->dtype;
      dy = a->in[1]->dtype;
    }
    if (x < 0 || y < 0) return -1;
    int opdt = is_cmp(op) ? dagr__dtype_promote(dx, dy) : a->dtype;
    x = cast_to(P, x, dx, opdt);
    y = cast_to(P, y, dy, opdt);
    if (x < 0 || y < 0) return -1;
    out = P->nreg++;
    if (emit(P, DAGR__VM_BINARY, opdt, out, x, y, op)) return -1;
  }
  if (P->nseen < 256) {
    P->seen[P->nseen] = a;
    P->seen_reg[P->nseen++] = out;
  }
  return out;
}

static int lower_ew(lower *L, dagr_array_t *a) {
  prog P;
  memset(&P, 0, sizeof P);
  int result = compile(L, &P, a, a);
  if (result < 0) {
    free(P.code);
    return L->ctx->err[0] ? DAGR_EINVAL : DAGR_ENOMEM;
  }
  int rc = DAGR_OK;
  for (int i = 0; i < P.nleaves && rc == DAGR_OK; i++) rc = lower_node(L, P.leaves[i]);
  int64_t idx[DAGR_MAX_NDIM] = {0}, shape[DAGR_MAX_NDIM], lidx[DAGR_MAX_NDIM];
  char key[256], (*dkeys)[256] = malloc(sizeof *dkeys * 64);
  const char *deps[64];
  if (!dkeys) rc = DAGR_ENOMEM;
  while (rc == DAGR_OK) {
    int nd = block_shape(&a->layout, idx, shape);
    /* Each input's block: same index, or 0 along the axes it broadcasts. */
    for (int i = 0; i < P.nleaves; i++) {
      const dagr__ch_layout_t *ll = &P.leaves[i]->layout;
      for (int d = 0; d < ll->ndim; d++) {
        int od = d + (nd - ll->ndim);
        lidx[d] = ll->nblocks[d] == 1 ? 0 : idx[od];
      }
      block_key(P.leaves[i], lidx, dkeys[i], sizeof dkeys[i]);
      deps[i] = dkeys[i];
    }
    dagr_params_t *p;
    if (dagr_params_create(&p)) {
      rc = DAGR_ENOMEM;
      break;
    }
    int prc = dagr_params_set_int_array(p, "prog", P.code, P.ncode);
    prc |= dagr_params_set_int_array(p, "shape", shape, (size_t)nd);
    prc |= dagr_params_set_int(p, "nreg", P.nreg);
    prc |= dagr_params_set_int(p, "dtype", a->dtype);
    prc |= dagr_params_set_int(p, "result", result);
    if (P.nconsts) prc |= dagr_params_set_double_array(p, "consts", P.consts, P.nconsts);
    if (prc) {
      dagr_params_free(p);
      rc = DAGR_ENOMEM;
      break;
    }
    block_key(a, idx, key, sizeof key);
    rc = add_task(L, key, DAGR__K_EW, p, deps, (size_t)P.nleaves);
    if (!next_index(&a->layout, idx)) break;
  }
  free(dkeys);
  free(P.code);
  return rc;
}

/* ---- reductions ------------------------------------------------------------------------- */

static int is_f(int dt) {
  return dt == DAGR_DTYPE_FLOAT32 || dt == DAGR_DTYPE_FLOAT64;
}

/* Reductions read their input through "terms": normally one, the input itself. Two rewrites
 * make them read less (each changes only rounding, within NumPy's tolerance for float sums):
 *  - through a transpose: reducing x.T over some axes is reducing x over the permuted axes,
 *    with the cells in the same order when the kept axes keep their order (always so for 2-D);
 *    no transposed copy of x is made. Not for argmin/argmax (their flat index is x.T's);
 *  - through + and -: sum(a + b - c) = sum(a) + sum(b) - sum(c), likewise mean (the partials are
 *    plain sums; the final divides by the count once), for float operands of the result's own
 *    shape, chunks and dtype when nothing else uses the sum: e.g. (x + x.T).mean(axis=0) reads
 *    each block of x twice in place (its column sums and its row sums) instead of moving and
 *    transposing half of x and materializing x + x.T. */
#define MAX_TERMS 16
typedef struct red_term {
  dagr_array_t *src;       /* array whose blocks the partials read */
  int perm[DAGR_MAX_NDIM]; /* reduced array's axis d is src's axis perm[d] */
  int neg;                 /* subtracted */
} red_term;

static int same_layout(const dagr__ch_layout_t *x, const dagr__ch_layout_t *y) {
  if (x->ndim != y->ndim) return 0;
  for (int d = 0; d < x->ndim; d++) {
    if (x->shape[d] != y->shape[d] || x->nblocks[d] != y->nblocks[d]) return 0;
    for (int64_t b = 0; b < x->nblocks[d]; b++)
      if (x->chunks[d][b] != y->chunks[d][b]) return 0;
  }
  return 1;
}

/* Adds term t (sign neg) to the list, seeing through a transpose; 0 when the list is full. */
static int add_term(red_term *t, int *n, dagr_array_t *a, int neg, const int64_t *mask, int red) {
  if (*n == MAX_TERMS) return 0;
  red_term *e = &t[(*n)++];
  e->src = a;
  e->neg = neg;
  int nd = a->layout.ndim;
  for (int d = 0; d < nd; d++) e->perm[d] = d;
  if (a->kind != DAGR__AN_TRANSPOSE || red == DAGR_RED_ARGMIN || red == DAGR_RED_ARGMAX) return 1;
  int last = -1;
  for (int d = 0; d < nd; d++)
    if (!mask[d]) {
      if (a->u.transpose.perm[d] < last) return 1; /* kept axes would change order */
      last = a->u.transpose.perm[d];
    }
  e->src = a->in[0];
  for (int d = 0; d < nd; d++) e->perm[d] = a->u.transpose.perm[d];
  return 1;
}

/* Splits a sum's or mean's input over + and -; 0 when it does not qualify. */
static int split_terms(red_term *t, int *n, dagr_array_t *a, dagr_array_t *top, int neg,
                       const int64_t *mask, int red) {
  if (a->kind == DAGR__AN_EW && a->uses == 1 && a->nin == 2 && !a->u.ew.scalar_pos &&
      (a->u.ew.op == DAGR_OP_ADD || a->u.ew.op == DAGR_OP_SUB)) {
    int ok = 1;
    for (int i = 0; i < 2; i++)
      ok &= a->in[i]->dtype == top->dtype && same_layout(&a->in[i]->layout, &top->layout);
    if (ok)
      return split_terms(t, n, a->in[0], top, neg, mask, red) &&
             split_terms(t, n, a->in[1], top, a->u.ew.op == DAGR_OP_SUB ? !neg : neg, mask, red);
  }
  return add_term(t, n, a, neg, mask, red);
}

static int lower_reduce(lower *L, dagr_array_t *r) {
  dagr_array_t *a = r->in[0];
  const dagr__ch_layout_t *il = &a->layout;
  int nd = il->ndim, red = r->u.reduce.red;
  int64_t mask[DAGR_MAX_NDIM] = {0};
  for (int k = 0; k < r->u.reduce.naxes; k++) mask[r->u.reduce.axes[k]] = 1;
  red_term terms[MAX_TERMS];
  int nterms = 0, summed = 0;
  if ((red == DAGR_RED_SUM || red == DAGR_RED_MEAN) && is_f(a->dtype) && a->kind == DAGR__AN_EW) {
    summed = split_terms(terms, &nterms, a, a, 0, mask, red) && nterms > 1;
    if (!summed) nterms = 0;
  }
  if (!summed && !add_term(terms, &nterms, a, 0, mask, red)) return DAGR_EINVAL;
  /* A mean of several terms is the sum of their sums over the count. */
  int pred = summed ? DAGR_RED_SUM : red;
  int rc = DAGR_OK;
  for (int t = 0; t < nterms && rc == DAGR_OK; t++) rc = lower_node(L, terms[t].src);
  if (rc) return rc;
  int fl = red == DAGR_RED_MEAN || red == DAGR_RED_VAR || red == DAGR_RED_STD || is_f(a->dtype);
  for (int d = 0; d < nd; d++)
    if (mask[d] && il->shape[d] == 0 &&
        (red == DAGR_RED_MIN || red == DAGR_RED_MAX || red == DAGR_RED_ARGMIN ||
         red == DAGR_RED_ARGMAX))
      return dagr__array_err(L->ctx, DAGR_EINVAL,
                             "zero-size array to reduction operation which has no identity");
  /* Partials, one per block of each term's source, keyed by that block's index. */
  int64_t idx[DAGR_MAX_NDIM] = {0}, shape[DAGR_MAX_NDIM], off[DAGR_MAX_NDIM], smask[DAGR_MAX_NDIM];
  char key[256], tsuf[MAX_TERMS][16];
  for (int t = 0; t < nterms; t++) {
    const red_term *e = &terms[t];
    const dagr__ch_layout_t *sl = &e->src->layout;
    if (nterms > 1 || e->src != a)
      snprintf(tsuf[t], sizeof tsuf[t], "-t%d", t);
    else
      tsuf[t][0] = '\0';
    for (int d = 0; d < nd; d++) smask[e->perm[d]] = mask[d];
    memset(idx, 0, sizeof idx);
    do {
      dagr_params_t *p;
      if (dagr_params_create(&p)) return DAGR_ENOMEM;
      for (int d = 0; d < nd; d++) off[d] = sl->offsets[d][idx[d]];
      int prc = dagr_params_set_int(p, "red", pred);
      prc |= dagr_params_set_int(p, "float", fl);
      prc |= dagr_params_set_int_array(p, "mask", smask, (size_t)nd);
      prc |= dagr_params_set_int_array(p, "offset", off, (size_t)nd);
      prc |= dagr_params_set_int_array(p, "gshape", sl->shape, (size_t)nd);
      if (e->neg) prc |= dagr_params_set_int(p, "negate", 1);
      if (prc) {
        dagr_params_free(p);
        return DAGR_ENOMEM;
      }
      char dep[256];
      block_key(e->src, idx, dep, sizeof dep);
      key_of(key, sizeof key, "partial", r->id, tsuf[t], nd, idx);
      const char *deps[1] = {dep};
      /* A partial turns a chunk into a few cells: run it before ready tasks that make new
       * chunks, so a chunk several partials read (x and x.T) is freed soon after it is made
       * and memory stays bounded by the chunks in flight, not by the array. */
      rc = add_task_prio(L, key, DAGR__K_RED_PARTIAL, p, deps, 1, 1);
      if (rc) return rc;
    } while (next_index(sl, idx));
  }
  /* Per output block: the partials along the reduced axes, combined split_every at a time. */
  int se = r->u.reduce.split_every;
  int64_t ngroup = nterms;
  for (int d = 0; d < nd; d++)
    if (mask[d]) ngroup *= il->nblocks[d];
  char(*keys)[256] = malloc(sizeof *keys * (size_t)ngroup);
  const char **deps = malloc(sizeof *deps * (size_t)(ngroup > se ? ngroup : se));
  if (!keys || !deps) {
    free(keys);
    free(deps);
    return DAGR_ENOMEM;
  }
  int64_t oidx[DAGR_MAX_NDIM] = {0};
  rc = DAGR_OK;
  do {
    /* Input block indices for this output block: non-reduced axes fixed. */
    int64_t in[DAGR_MAX_NDIM], g = 0;
    int od = 0;
    for (int d = 0; d < nd; d++) {
      if (mask[d]) {
        in[d] = 0;
        if (r->u.reduce.keepdims) od++;
      } else {
        in[d] = oidx[od++];
      }
    }
    for (;;) {
      for (int t = 0; t < nterms; t++) {
        int64_t sidx[DAGR_MAX_NDIM];
        for (int d = 0; d < nd; d++) sidx[terms[t].perm[d]] = in[d];
        key_of(keys[g++], sizeof keys[0], "partial", r->id, tsuf[t], nd, sidx);
      }
      int more = 0;
      for (int d = nd - 1; d >= 0; d--) {
        if (!mask[d]) continue;
        if (++in[d] < il->nblocks[d]) {
          more = 1;
          break;
        }
        in[d] = 0;
      }
      if (!more) break;
    }
    /* Tree levels until at most split_every remain. */
    int64_t count = g;
    int level = 0;
    char oname[64];
    key_of(oname, sizeof oname, "", 0, "", 0, NULL);
    while (count > se && rc == DAGR_OK) {
      int64_t next = 0;
      for (int64_t j = 0; j < count; j += se) {
        int64_t m = count - j < se ? count - j : se;
        for (int64_t q = 0; q < m; q++) deps[q] = keys[j + q];
        char suffix[32];
        snprintf(suffix, sizeof suffix, "-c%d-%lld", level, (long long)(j / se));
        char ck[256];
        key_of(ck, sizeof ck, "combine", r->id, suffix, r->layout.ndim, oidx);
        dagr_params_t *p;
        if (dagr_params_create(&p) || dagr_params_set_int(p, "red", pred) ||
            dagr_params_set_int(p, "float", fl)) {
          rc = DAGR_ENOMEM;
          break;
        }
        rc = add_task(L, ck, DAGR__K_RED_COMBINE, p, deps, (size_t)m);
        memcpy(keys[next++], ck, sizeof ck);
      }
      count = next;
      level++;
    }
    if (rc) break;
    for (int64_t q = 0; q < count; q++) deps[q] = keys[q];
    dagr_params_t *p;
    int ond = block_shape(&r->layout, oidx, shape);
    if (dagr_params_create(&p)) {
      rc = DAGR_ENOMEM;
      break;
    }
    int prc = dagr_params_set_int(p, "red", pred);
    prc |= dagr_params_set_int(p, "float", fl);
    prc |= dagr_params_set_int(p, "dtype", r->dtype);
    if (pred != red) { /* a mean of several terms: their summed sums over the count */
      double n = 1;
      for (int d = 0; d < nd; d++)
        if (mask[d]) n *= (double)il->shape[d];
      prc |= dagr_params_set_double(p, "divide", n);
    }
    prc |= dagr_params_set_int(p, "ddof", r->u.reduce.ddof);
    prc |= dagr_params_set_int_array(p, "shape", shape, (size_t)ond);
    if (prc) {
      dagr_params_free(p);
      rc = DAGR_ENOMEM;
      break;
    }
    block_key(r, oidx, key, sizeof key);
    rc = add_task(L, key, DAGR__K_RED_FINAL, p, deps, (size_t)count);
  } while (rc == DAGR_OK && next_index(&r->layout, oidx));
  free(keys);
  free(deps);
  return rc;
}

/* ---- structure -------------------------------------------------------------------------- */

static int lower_transpose(lower *L, dagr_array_t *t) {
  dagr_array_t *a = t->in[0];
  int rc = lower_node(L, a);
  if (rc) return rc;
  int nd = t->layout.ndim;
  int64_t idx[DAGR_MAX_NDIM] = {0}, in[DAGR_MAX_NDIM], perm[DAGR_MAX_NDIM];
  for (int d = 0; d < nd; d++) perm[d] = t->u.transpose.perm[d];
  char key[256], dep[256];
  do {
    for (int d = 0; d < nd; d++) in[perm[d]] = idx[d];
    dagr_params_t *p;
    if (dagr_params_create(&p)) return DAGR_ENOMEM;
    if (dagr_params_set_int_array(p, "perm", perm, (size_t)nd)) {
      dagr_params_free(p);
      return DAGR_ENOMEM;
    }
    block_key(a, in, dep, sizeof dep);
    block_key(t, idx, key, sizeof key);
    const char *deps[1] = {dep};
    rc = add_task(L, key, DAGR__K_TRANSPOSE, p, deps, 1);
    if (rc) return rc;
  } while (next_index(&t->layout, idx));
  return DAGR_OK;
}

/* Indexing a dataset with positive steps: each output chunk is one strided hyperslab read. */
static int index_pushdown(lower *L, dagr_array_t *s, int *done) {
  dagr_array_t *a = s->in[0];
  const dagr__ch_slice_plan_t *plan = &s->u.index.plan;
  int nd = a->layout.ndim;
  *done = 0;
  if (a->kind != DAGR__AN_H5) return DAGR_OK;
  for (int d = 0; d < nd; d++)
    if (plan->step[d] <= 0) return DAGR_OK;
  int64_t idx[DAGR_MAX_NDIM] = {0}, in[DAGR_MAX_NDIM], start[DAGR_MAX_NDIM], step[DAGR_MAX_NDIM],
          count[DAGR_MAX_NDIM], shape[DAGR_MAX_NDIM];
  char key[256], err[DAGR__ERRLEN];
  do {
    int rc = dagr__ch_slice_block(plan, idx, in, start, step, count, err, sizeof err);
    if (rc) return dagr__array_err(L->ctx, rc, "%s", err);
    for (int d = 0; d < nd; d++) start[d] += a->layout.offsets[d][in[d]];
    int ond = block_shape(&s->layout, idx, shape);
    block_key(s, idx, key, sizeof key);
    rc = add_read(L, a, key, start, count, step, nd, shape, ond);
    if (rc) return rc;
  } while (next_index(&s->layout, idx));
  *done = 1;
  return DAGR_OK;
}

static int lower_index(lower *L, dagr_array_t *s) {
  dagr_array_t *a = s->in[0];
  int pushed;
  int rc = index_pushdown(L, s, &pushed);
  if (rc || pushed) return rc;
  rc = lower_node(L, a);
  if (rc) return rc;
  const dagr__ch_slice_plan_t *plan = &s->u.index.plan;
  int nd = a->layout.ndim;
  int64_t idx[DAGR_MAX_NDIM] = {0}, in[DAGR_MAX_NDIM], start[DAGR_MAX_NDIM], step[DAGR_MAX_NDIM],
          count[DAGR_MAX_NDIM], drop[DAGR_MAX_NDIM];
  for (int d = 0; d < nd; d++) drop[d] = plan->is_int[d];
  char key[256], dep[256], err[DAGR__ERRLEN];
  do {
    rc = dagr__ch_slice_block(plan, idx, in, start, step, count, err, sizeof err);
    if (rc) return dagr__array_err(L->ctx, rc, "%s", err);
    dagr_params_t *p;
    if (dagr_params_create(&p)) return DAGR_ENOMEM;
    int prc = dagr_params_set_int_array(p, "start", start, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "step", step, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "count", count, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "drop", drop, (size_t)nd);
    if (prc) {
      dagr_params_free(p);
      return DAGR_ENOMEM;
    }
    block_key(a, in, dep, sizeof dep);
    block_key(s, idx, key, sizeof key);
    const char *deps[1] = {dep};
    rc = add_task(L, key, DAGR__K_SLICE, p, deps, 1);
    if (rc) return rc;
  } while (next_index(&s->layout, idx));
  return DAGR_OK;
}

static int lower_node(lower *L, dagr_array_t *a) {
  if (lowered(L, a->id)) return DAGR_OK;
  int rc = mark(L, a->id);
  if (rc) return rc;
  switch (a->kind) {
  case DAGR__AN_EW:
    return lower_ew(L, a);
  case DAGR__AN_REDUCE:
    return lower_reduce(L, a);
  case DAGR__AN_TRANSPOSE:
    return lower_transpose(L, a);
  case DAGR__AN_INDEX:
    return lower_index(L, a);
  case DAGR__AN_H5:
    return lower_h5(L, a);
  case DAGR__AN_EXT:
    return a->ext_lower(L, a);
  default:
    return lower_source(L, a);
  }
}

int dagr__lower_node(dagr__lower *L, dagr_array_t *a) {
  return lower_node(L, a);
}
int dagr__lower_add_task(dagr__lower *L, const char *key, const char *kernel, dagr_params_t *p,
                         const char *const *deps, size_t ndeps) {
  if (!p && dagr_params_create(&p)) return DAGR_ENOMEM;
  return add_task(L, key, kernel, p, deps, ndeps);
}
void dagr__lower_block_key(const dagr_array_t *a, const int64_t *idx, char *buf, size_t len) {
  block_key(a, idx, buf, len);
}
void dagr__lower_key(char *buf, size_t len, const char *name, uint64_t id, const char *suffix,
                     int n, const int64_t *idx) {
  key_of(buf, len, name, id, suffix, n, idx);
}
int dagr__lower_next_index(const dagr__ch_layout_t *l, int64_t *idx) {
  return next_index(l, idx);
}
int dagr__lower_block_shape(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *shape) {
  return block_shape(l, idx, shape);
}

/* Counts the edges of the expression under a that lead to each node (node->uses). */
static void count_uses(dagr_array_t *a, uint64_t epoch) {
  if (a->visit == epoch) return;
  a->visit = epoch;
  a->uses = 0;
  for (int i = 0; i < a->nin; i++) {
    count_uses(a->in[i], epoch);
    a->in[i]->uses++;
  }
}

static int build(dagr_array_t *a, dagr_graph_t **g) {
  static uint64_t epochs;
  count_uses(a, __atomic_add_fetch(&epochs, 1, __ATOMIC_RELAXED));
  lower L = {a->ctx, NULL, NULL, 0, 0};
  if (dagr_graph_create(&L.g)) return dagr__array_err(a->ctx, DAGR_ENOMEM, "out of memory");
  a->ctx->err[0] = '\0';
  int rc = lower_node(&L, a);
  free(L.done);
  if (rc) {
    if (!a->ctx->err[0])
      dagr__array_err(a->ctx, rc, "building the task graph failed: %s", dagr_strerror(rc));
    dagr_graph_free(L.g);
    return rc;
  }
  *g = L.g;
  return DAGR_OK;
}

int dagr_array_task_count(dagr_array_t *a, size_t *ntasks) {
  if (!a || !ntasks) return DAGR_EINVAL;
  dagr_graph_t *g;
  int rc = build(a, &g);
  if (rc) return rc;
  *ntasks = dagr_graph_size(g);
  dagr_graph_free(g);
  return DAGR_OK;
}

int dagr_array_compute(dagr_array_t *a, dagr_result_t *result) {
  if (!a || !result) return DAGR_EINVAL;
  memset(result, 0, sizeof *result);
  dagr_ctx_t *ctx = a->ctx;
  dagr_graph_t *g;
  int rc = build(a, &g);
  if (rc) return rc;
  int64_t nblocks = 1, total = 1;
  const dagr__ch_layout_t *l = &a->layout;
  for (int d = 0; d < l->ndim; d++) {
    nblocks *= l->nblocks[d];
    total *= l->shape[d];
  }
  size_t es = dagr_dtype_size(a->dtype);
  char(*keys)[256] = malloc(sizeof *keys * (size_t)nblocks);
  const char **kp = malloc(sizeof *kp * (size_t)nblocks);
  dagr_result_t *parts = calloc((size_t)nblocks, sizeof *parts);
  size_t total_bytes = (size_t)total * es;
  unsigned char *out = malloc(total_bytes > 0 ? total_bytes : 1);
  if (!keys || !kp || !parts || !out) {
    rc = dagr__array_err(ctx, DAGR_ENOMEM, "out of memory for a %lld-element result",
                         (long long)total);
    goto done;
  }
  int64_t idx[DAGR_MAX_NDIM] = {0}, b = 0;
  do {
    block_key(a, idx, keys[b], sizeof keys[b]);
    kp[b] = keys[b];
    b++;
  } while (next_index(l, idx));
  rc = dagr_get(ctx, g, kp, (size_t)nblocks, parts);
  if (rc) goto done;
  /* Copy each block into its place in the C-ordered result. */
  int64_t gst[DAGR_MAX_NDIM] = {0}, st = 1;
  for (int d = l->ndim - 1; d >= 0; d--) {
    gst[d] = st;
    st *= l->shape[d];
  }
  memset(idx, 0, sizeof idx);
  b = 0;
  do {
    int64_t shape[DAGR_MAX_NDIM] = {0}, j[DAGR_MAX_NDIM] = {0}, n = 1, base = 0;
    int nd = block_shape(l, idx, shape);
    for (int d = 0; d < nd; d++) {
      n *= shape[d];
      base += l->offsets[d][idx[d]] * gst[d];
    }
    if (parts[b].nbytes != (size_t)n * es) {
      rc = dagr__array_err(ctx, DAGR_EPROTO, "block %lld came back with %zu bytes, not %zu",
                           (long long)b, parts[b].nbytes, (size_t)n * es);
      goto done;
    }
    /* Rows along the last axis are contiguous in both. */
    int64_t row = nd ? shape[nd - 1] : 1;
    for (int64_t e = 0; e < n; e += row) {
      int64_t off = base;
      for (int d = 0; d < nd - 1; d++) off += j[d] * gst[d];
      memcpy(out + (size_t)off * es, (unsigned char *)parts[b].data + (size_t)e * es,
             (size_t)row * es);
      for (int d = nd - 2; d >= 0; d--) {
        if (++j[d] < shape[d]) break;
        j[d] = 0;
      }
    }
    b++;
  } while (next_index(l, idx));
  result->data = out;
  out = NULL;
  result->nbytes = (size_t)total * es;
  result->dtype = a->dtype;
  result->ndim = l->ndim;
  for (int d = 0; d < l->ndim; d++) result->shape[d] = l->shape[d];
done:
  if (parts)
    for (int64_t i = 0; i < nblocks; i++) dagr_result_release(&parts[i]);
  free(parts);
  free(kp);
  free(keys);
  free(out);
  dagr_graph_free(g);
  return rc;
}

/* ---- store ------------------------------------------------------------------------------ */

/* A file-name-safe, one-to-one form of a dataset path: letters, digits, '.' and '-' stay, every
 * other byte becomes _XX (hex), so "/g/x" and "g_x" never share part files. */
static void sanitize(const char *in, char *out, size_t len) {
  size_t k = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && k + 4 < len; p++) {
    if (*p == '/' && p == (const unsigned char *)in) continue;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '.')
      out[k++] = (char)*p;
    else
      k += (size_t)snprintf(out + k, len - k, "_%02X", *p);
  }
  out[k] = '\0';
}

/* Part files are named DATASET@TOKEN-rankR.h5 ('@' never appears in a sanitized name). With
 * keep set, removes the parts of DATASET from other (older) stores; with keep NULL, removes the
 * parts of store `token` (after a failure: an existing output keeps its own parts). */
static void remove_parts(const char *dir, const char *dname, const char *token, int keep) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  size_t np = strlen(dname), nt = strlen(token);
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, dname, np) != 0 || e->d_name[np] != '@') continue;
    int mine = strncmp(e->d_name, token, nt) == 0 && e->d_name[nt] == '-';
    if (mine == keep) continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
  }
  closedir(d);
}

int dagr_array_store(dagr_array_t *a, const char *path, const char *dataset, int gzip_level) {
  if (!a) return DAGR_EINVAL;
  dagr_ctx_t *ctx = a->ctx;
  if (!path || !*path || !dataset || !*dataset)
    return dagr__array_err(ctx, DAGR_EINVAL, "store needs a file path and a dataset name");
  if (gzip_level < 0 || gzip_level > 9)
    return dagr__array_err(ctx, DAGR_EINVAL, "gzip level %d is not in 0..9", gzip_level);
  /* The directory must exist: say so now rather than from every worker. */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  struct stat st;
  if (stat(dir[0] ? dir : "/", &st) != 0 || !S_ISDIR(st.st_mode) ||
      access(dir[0] ? dir : "/", W_OK) != 0)
    return dagr__array_err(ctx, DAGR_EIO, "cannot write '%s': directory '%s' %s", path, dir,
                           errno == ENOENT ? "does not exist" : "is not writable");
  /* A 0-d array (a full reduction) is one value: computed to rank 0 and written there as a
   * scalar dataset, with the same temporary-name and rename protocol as a stored array. */
  if (a->layout.ndim == 0) {
    dagr_result_t r;
    int rc = dagr_array_compute(a, &r);
    if (rc) return rc;
    char err[DAGR__ERRLEN];
    rc = dagr__h5_write_small(path, dataset, a->dtype, 0, NULL, r.data, err, sizeof err);
    dagr_result_release(&r);
    if (rc) return dagr__array_err(ctx, rc, "%s", err);
    return DAGR_OK;
  }
  char parts[4096], dname[256], token[512];
  if (snprintf(parts, sizeof parts, "%s.parts", path) >= (int)sizeof parts)
    return dagr__array_err(ctx, DAGR_EINVAL, "path too long: '%s'", path);
  if (mkdir(parts, 0777) != 0 && errno != EEXIST)
    return dagr__array_err(ctx, DAGR_EIO, "cannot create '%s': %s", parts, strerror(errno));
  sanitize(dataset, dname, sizeof dname);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(token, sizeof token, "%s@%llx%lx%x", dname, (unsigned long long)ts.tv_sec,
           (unsigned long)ts.tv_nsec, (unsigned)getpid());

  dagr_graph_t *g;
  int rc = build(a, &g);
  if (rc) return rc;
  lower L = {ctx, g, NULL, 0, 0};
  const dagr__ch_layout_t *l = &a->layout;
  int nd = l->ndim;
  int64_t nblocks = 1;
  for (int d = 0; d < nd; d++) nblocks *= l->nblocks[d];
  char(*keys)[256] = malloc(sizeof *keys * (size_t)nblocks);
  const char **kp = malloc(sizeof *kp * (size_t)nblocks);
  dagr_result_t *res = calloc((size_t)nblocks, sizeof *res);
  dagr__h5_block *blocks = calloc((size_t)nblocks, sizeof *blocks);
  char(*ppaths)[4096] = malloc(sizeof *ppaths * (size_t)nblocks);
  if (!keys || !kp || !res || !blocks || !ppaths) {
    rc = dagr__array_err(ctx, DAGR_ENOMEM, "out of memory planning the store");
    goto done;
  }
  int64_t cshape[DAGR_MAX_NDIM], idx[DAGR_MAX_NDIM] = {0}, b = 0;
  for (int d = 0; d < nd; d++) cshape[d] = l->chunks[d][0] > 0 ? l->chunks[d][0] : 1;
  do {
    int64_t start[DAGR_MAX_NDIM];
    for (int d = 0; d < nd; d++) start[d] = l->offsets[d][idx[d]];
    dagr_params_t *p;
    if (dagr_params_create(&p)) {
      rc = DAGR_ENOMEM;
      goto done;
    }
    int prc = dagr_params_set_string(p, "parts", parts);
    prc |= dagr_params_set_string(p, "dataset", dataset);
    prc |= dagr_params_set_string(p, "token", token);
    prc |= dagr_params_set_int(p, "gzip", gzip_level);
    prc |= dagr_params_set_int_array(p, "start", start, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "gshape", l->shape, (size_t)nd);
    prc |= dagr_params_set_int_array(p, "chunk", cshape, (size_t)nd);
    if (prc) {
      dagr_params_free(p);
      rc = DAGR_ENOMEM;
      goto done;
    }
    char dep[256];
    block_key(a, idx, dep, sizeof dep);
    key_of(keys[b], sizeof keys[b], "store", a->id, "", nd, idx);
    kp[b] = keys[b];
    const char *deps[1] = {dep};
    rc = add_task(&L, keys[b], DAGR__K_H5STORE, p, deps, 1);
    if (rc) goto done;
    block_shape(l, idx, blocks[b].count);
    memcpy(blocks[b].start, start, sizeof start);
    b++;
  } while (next_index(l, idx));
  rc = dagr_get(ctx, g, kp, (size_t)nblocks, res);
  if (rc) goto done;
  for (int64_t i = 0; i < nblocks; i++) {
    int64_t rank = 0;
    dagr_result_int64(&res[i], &rank);
    if (snprintf(ppaths[i], sizeof ppaths[i], "%s/%s-rank%lld.h5", parts, token, (long long)rank) >=
        (int)sizeof ppaths[i]) {
      rc = dagr__array_err(ctx, DAGR_EINVAL, "path too long: '%s'", parts);
      goto done;
    }
    blocks[i].part_path = ppaths[i];
  }
  char err[DAGR__ERRLEN];
  rc = dagr__h5_assemble(path, dataset, a->dtype, nd, l->shape, (size_t)nblocks, blocks, err,
                         sizeof err);
  if (rc) {
    dagr__array_err(ctx, rc, "%s", err);
    goto done;
  }
  remove_parts(parts, dname, token, 1); /* earlier stores of this dataset */
done:
  if (rc) remove_parts(parts, dname, token, 0);
  if (res)
    for (int64_t i = 0; i < nblocks; i++) dagr_result_release(&res[i]);
  free(res);
  free(blocks);
  free(ppaths);
  free(kp);
  free(keys);
  dagr_graph_free(g);
  return rc;
}
