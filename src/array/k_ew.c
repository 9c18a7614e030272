/* k_ew.c: the fused elementwise kernel: a small register program run over each chunk in cache-sized
 * blocks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "array/array_impl.h"

/* One pass over memory: every instruction runs over a block of BLK elements held in registers
 * (BLK * 8 bytes each, all in L1/L2), so a chain of operations reads each input once and writes
 * the output once, with no temporary array per operation. Registers hold int64 for integer and
 * bool dtypes and double for float dtypes; after each operation the value is narrowed to the
 * operation's dtype (int32 wraps, float32 rounds) so results match NumPy's. */
#define BLK 1024

typedef union {
  int64_t i;
  double f;
} val;

static int is_f(int dt) {
  return dt == DAGR_DTYPE_FLOAT32 || dt == DAGR_DTYPE_FLOAT64;
}

static inline int64_t get_i(const void *p, int dt, int64_t k) {
  switch (dt) {
  case DAGR_DTYPE_INT64:
    return ((const int64_t *)p)[k];
  case DAGR_DTYPE_INT32:
    return ((const int32_t *)p)[k];
  case DAGR_DTYPE_UINT8:
  case DAGR_DTYPE_BOOL:
    return ((const uint8_t *)p)[k];
  case DAGR_DTYPE_FLOAT64:
    return (int64_t)((const double *)p)[k];
  case DAGR_DTYPE_FLOAT32:
    return (int64_t)((const float *)p)[k];
  default:
    return 0;
  }
}

static inline double get_f(const void *p, int dt, int64_t k) {
  switch (dt) {
  case DAGR_DTYPE_FLOAT64:
    return ((const double *)p)[k];
  case DAGR_DTYPE_FLOAT32:
    return ((const float *)p)[k];
  default:
    return (double)get_i(p, dt, k);
  }
}

/* Narrows register values to dtype in place. */
static void narrow(val *r, int m, int dt) {
  switch (dt) {
  case DAGR_DTYPE_INT32:
    for (int k = 0; k < m; k++) r[k].i = (int32_t)(uint32_t)(uint64_t)r[k].i;
    break;
  case DAGR_DTYPE_UINT8:
    for (int k = 0; k < m; k++) r[k].i = (uint8_t)(uint64_t)r[k].i;
    break;
  case DAGR_DTYPE_BOOL:
    for (int k = 0; k < m; k++) r[k].i = r[k].i != 0;
    break;
  case DAGR_DTYPE_FLOAT32:
    for (int k = 0; k < m; k++) r[k].f = (float)r[k].f;
    break;
  default:
    break;
  }
}

typedef struct loader {
  const unsigned char *data;
  int dtype;
  int64_t n;                     /* elements in the view */
  int contiguous;                /* same shape as the output block */
  int64_t stride[DAGR_MAX_NDIM]; /* per output axis, in elements; 0 where broadcast */
} loader;

static void load(const loader *L, int ndim, const int64_t *shape, int64_t base, int m, int dt,
                 val *r) {
  int f = is_f(dt);
  if (L->contiguous) {
    if (f && L->dtype == DAGR_DTYPE_FLOAT64) {
      memcpy(r, L->data + 8 * base, (size_t)m * 8);
    } else if (!f && L->dtype == DAGR_DTYPE_INT64) {
      memcpy(r, L->data + 8 * base, (size_t)m * 8);
    } else if (f) {
      for (int k = 0; k < m; k++) r[k].f = get_f(L->data, L->dtype, base + k);
    } else {
      for (int k = 0; k < m; k++) r[k].i = get_i(L->data, L->dtype, base + k);
    }
    return;
  }
  if (L->n == 1) {
    if (f) {
      double v = get_f(L->data, L->dtype, 0);
      for (int k = 0; k < m; k++) r[k].f = v;
    } else {
      int64_t v = get_i(L->data, L->dtype, 0);
      for (int k = 0; k < m; k++) r[k].i = v;
    }
    return;
  }
  /* General broadcast: walk an odometer over the output index from base. */
  int64_t idx[DAGR_MAX_NDIM], off = 0, rem = base;
  for (int a = ndim - 1; a >= 0; a--) {
    idx[a] = shape[a] ? rem % shape[a] : 0;
    rem = shape[a] ? rem / shape[a] : 0;
    off += idx[a] * L->stride[a];
  }
  for (int k = 0; k < m; k++) {
    if (f)
      r[k].f = get_f(L->data, L->dtype, off);
    else
      r[k].i = get_i(L->data, L->dtype, off);
    for (int a = ndim - 1; a >= 0; a--) {
      idx[a]++;
      off += L->stride[a];
      if (idx[a] < shape[a]) break;
      off -= idx[a] * L->stride[a];
      idx[a] = 0;
    }
  }
}

static void unary(int op, int dt, const val *x, val *r, int m) {
  if (is_f(dt)) {
    switch (op) {
    case DAGR_OP_NEG:
      for (int k = 0; k < m; k++) r[k].f = -x[k].f;
      break;
    case DAGR_OP_ABS:
      for (int k = 0; k < m; k++) r[k].f = fabs(x[k].f);
      break;
    case DAGR_OP_SQRT:
      for (int k = 0; k < m; k++) r[k].f = sqrt(x[k].f);
      break;
    case DAGR_OP_EXP:
      for (int k = 0; k < m; k++) r[k].f = exp(x[k].f);
      break;
    case DAGR_OP_LOG:
      for (int k = 0; k < m; k++) r[k].f = log(x[k].f);
      break;
    case DAGR_OP_SIN:
      for (int k = 0; k < m; k++) r[k].f = sin(x[k].f);
      break;
    case DAGR_OP_COS:
      for (int k = 0; k < m; k++) r[k].f = cos(x[k].f);
      break;
    case DAGR_OP_TANH:
      for (int k = 0; k < m; k++) r[k].f = tanh(x[k].f);
      break;
    default:
      break;
    }
  } else {
    switch (op) {
    case DAGR_OP_NEG:
      for (int k = 0; k < m; k++) r[k].i = (int64_t)(0u - (uint64_t)x[k].i);
      break;
    case DAGR_OP_ABS:
      for (int k = 0; k < m; k++) r[k].i = x[k].i < 0 ? (int64_t)(0u - (uint64_t)x[k].i) : x[k].i;
      break;
    default:
      break;
    }
  }
}

static int64_t ipow(int64_t b, int64_t e) {
  if (e < 0) return b == 1 ? 1 : (b == -1 ? (e % 2 ? -1 : 1) : 0);
  uint64_t r = 1, x = (uint64_t)b;
  while (e) {
    if (e & 1) r *= x;
    x *= x;
    e >>= 1;
  }
  return (int64_t)r;
}

/* NumPy integer division by zero gives 0 for // and inf for /; dagr's DIV is true division,
 * done in float, so only the comparisons and +,-,*,** reach here for integers. */
static void binary(int op, int dt, const val *x, const val *y, val *r, int m) {
  if (is_f(dt)) {
    switch (op) {
    case DAGR_OP_ADD:
      for (int k = 0; k < m; k++) r[k].f = x[k].f + y[k].f;
      break;
    case DAGR_OP_SUB:
      for (int k = 0; k < m; k++) r[k].f = x[k].f - y[k].f;
      break;
    case DAGR_OP_MUL:
      for (int k = 0; k < m; k++) r[k].f = x[k].f * y[k].f;
      break;
    case DAGR_OP_DIV:
      for (int k = 0; k < m; k++) r[k].f = x[k].f / y[k].f;
      break;
    case DAGR_OP_POW:
      for (int k = 0; k < m; k++) r[k].f = pow(x[k].f, y[k].f);
      break;
    case DAGR_OP_LT:
      for (int k = 0; k < m; k++) r[k].i = x[k].f < y[k].f;
      break;
    case DAGR_OP_LE:
      for (int k = 0; k < m; k++) r[k].i = x[k].f <= y[k].f;
      break;
    case DAGR_OP_GT:
      for (int k = 0; k < m; k++) r[k].i = x[k].f > y[k].f;
      break;
    case DAGR_OP_GE:
      for (int k = 0; k < m; k++) r[k].i = x[k].f >= y[k].f;
      break;
    case DAGR_OP_EQ:
      for (int k = 0; k < m; k++) r[k].i = x[k].f == y[k].f;
      break;
    case DAGR_OP_NE:
      for (int k = 0; k < m; k++) r[k].i = x[k].f != y[k].f;
      break;
    /* NumPy's minimum/maximum propagate NaN. */
    case DAGR_OP_MINIMUM:
      for (int k = 0; k < m; k++)
        r[k].f = isnan(x[k].f) || isnan(y[k].f) ? NAN : (x[k].f < y[k].f ? x[k].f : y[k].f);
      break;
    case DAGR_OP_MAXIMUM:
      for (int k = 0; k < m; k++)
        r[k].f = isnan(x[k].f) || isnan(y[k].f) ? NAN : (x[k].f > y[k].f ? x[k].f : y[k].f);
      break;
    default:
      break;
    }
  } else {
    switch (op) {
    case DAGR_OP_ADD:
      for (int k = 0; k < m; k++) r[k].i = (int64_t)((uint64_t)x[k].i + (uint64_t)y[k].i);
      break;
    case DAGR_OP_SUB:
      for (int k = 0; k < m; k++) r[k].i = (int64_t)((uint64_t)x[k].i - (uint64_t)y[k].i);
      break;
    case DAGR_OP_MUL:
      for (int k = 0; k < m; k++) r[k].i = (int64_t)((uint64_t)x[k].i * (uint64_t)y[k].i);
      break;
    case DAGR_OP_POW:
      for (int k = 0; k < m; k++) r[k].i = ipow(x[k].i, y[k].i);
      break;
    case DAGR_OP_LT:
      for (int k = 0; k < m; k++) r[k].i = x[k].i < y[k].i;
      break;
    case DAGR_OP_LE:
      for (int k = 0; k < m; k++) r[k].i = x[k].i <= y[k].i;
      break;
    case DAGR_OP_GT:
      for (int k = 0; k < m; k++) r[k].i = x[k].i > y[k].i;
      break;
    case DAGR_OP_GE:
      for (int k = 0; k < m; k++) r[k].i = x[k].i >= y[k].i;
      break;
    case DAGR_OP_EQ:
      for (int k = 0; k < m; k++) r[k].i = x[k].i == y[k].i;
      break;
    case DAGR_OP_NE:
      for (int k = 0; k < m; k++) r[k].i = x[k].i != y[k].i;
      break;
    case DAGR_OP_MINIMUM:
      for (int k = 0; k < m; k++) r[k].i = x[k].i < y[k].i ? x[k].i : y[k].i;
      break;
    case DAGR_OP_MAXIMUM:
      for (int k = 0; k < m; k++) r[k].i = x[k].i > y[k].i ? x[k].i : y[k].i;
      break;
    default:
      break;
    }
  }
}

static void store(unsigned char *out, int dt, int64_t base, const val *r, int m) {
  switch (dt) {
  case DAGR_DTYPE_FLOAT64:
    memcpy(out + 8 * base, r, (size_t)m * 8);
    break;
  case DAGR_DTYPE_INT64:
    memcpy(out + 8 * base, r, (size_t)m * 8);
    break;
  case DAGR_DTYPE_FLOAT32:
    for (int k = 0; k < m; k++) ((float *)(void *)out)[base + k] = (float)r[k].f;
    break;
  case DAGR_DTYPE_INT32:
    for (int k = 0; k < m; k++) ((int32_t *)(void *)out)[base + k] = (int32_t)r[k].i;
    break;
  default:
    for (int k = 0; k < m; k++) out[base + k] = (uint8_t)r[k].i;
    break;
  }
}

static int k_ew(dagr_kctx_t *k) {
  const int64_t *prog, *shape;
  const double *consts = NULL;
  size_t nprog, ndim, nconsts = 0;
  int64_t nreg, out_dtype, result;
  if (dagr_kernel_param_int_array(k, "prog", &prog, &nprog) ||
      dagr_kernel_param_int_array(k, "shape", &shape, &ndim) ||
      dagr_kernel_param_int(k, "nreg", &nreg) || dagr_kernel_param_int(k, "dtype", &out_dtype) ||
      dagr_kernel_param_int(k, "result", &result) || nprog % DAGR__EW_INSN != 0 || nreg < 1 ||
      nreg > 4096 || result < 0 || result >= nreg || ndim > DAGR_MAX_NDIM)
    return dagr_kernel_fail(k, "array.ew: malformed program parameters");
  (void)dagr_kernel_param_double_array(k, "consts", &consts, &nconsts);
  int nin = dagr_kernel_ninputs(k);
  if (nin > 64) return dagr_kernel_fail(k, "array.ew: too many inputs (%d)", nin);
  loader L[64];
  int64_t n = 1;
  for (size_t a = 0; a < ndim; a++) n *= shape[a];
  for (int i = 0; i < nin; i++) {
    dagr_view_t v;
    dagr_kernel_input(k, i, &v);
    L[i].data = v.data;
    L[i].dtype = v.dtype;
    L[i].n = 1;
    for (int a = 0; a < v.ndim; a++) L[i].n *= v.shape[a];
    if (v.ndim > (int)ndim || v.nbytes < (size_t)L[i].n * dagr_dtype_size(v.dtype))
      return dagr_kernel_fail(k, "array.ew: input %d does not fit the block", i);
    int same = v.ndim == (int)ndim;
    int64_t st = 1;
    for (int a = (int)ndim - 1; a >= 0; a--) {
      int va = a - ((int)ndim - v.ndim);
      int64_t d = va >= 0 ? v.shape[va] : 1;
      if (d != shape[a] && d != 1)
        return dagr_kernel_fail(k, "array.ew: input %d shape does not broadcast to the block", i);
      if (d != shape[a]) same = 0;
      L[i].stride[a] = d == 1 && shape[a] != 1 ? 0 : st;
      st *= d;
    }
    L[i].contiguous = same;
  }
  void *outp;
  int rc = dagr_kernel_output(k, (size_t)n * dagr_dtype_size((int)out_dtype), (int)out_dtype,
                              (int)ndim, shape, &outp);
  if (rc) return dagr_kernel_fail(k, "array.ew: no room for a %lld-element output", (long long)n);
  val *regs = malloc((size_t)nreg * BLK * sizeof(val));
  if (!regs) return dagr_kernel_fail(k, "array.ew: out of memory for registers");
  size_t ninsn = nprog / DAGR__EW_INSN;
  for (int64_t base = 0; base < n; base += BLK) {
    int m = (int)(n - base < BLK ? n - base : BLK);
    for (size_t s = 0; s < ninsn; s++) {
      const int64_t *I = prog + s * DAGR__EW_INSN;
      int code = (int)I[0], dt = (int)I[1];
      val *dst = regs + (size_t)I[2] * BLK;
      if (I[2] < 0 || I[2] >= nreg) goto bad;
      switch (code) {
      case DAGR__VM_LOAD:
        if (I[3] < 0 || I[3] >= nin) goto bad;
        load(&L[I[3]], (int)ndim, shape, base, m, dt, dst);
        break;
      case DAGR__VM_CONST:
        if (I[3] < 0 || (size_t)I[3] >= nconsts) goto bad;
        if (is_f(dt)) {
          for (int q = 0; q < m; q++) dst[q].f = consts[I[3]];
        } else {
          for (int q = 0; q < m; q++) dst[q].i = (int64_t)consts[I[3]];
        }
        break;
      case DAGR__VM_UNARY:
        if (I[3] < 0 || I[3] >= nreg) goto bad;
        unary((int)I[5], dt, regs + (size_t)I[3] * BLK, dst, m);
        narrow(dst, m, dt);
        break;
      case DAGR__VM_BINARY: {
        if (I[3] < 0 || I[3] >= nreg || I[4] < 0 || I[4] >= nreg) goto bad;
        int op = (int)I[5];
        binary(op, dt, regs + (size_t)I[3] * BLK, regs + (size_t)I[4] * BLK, dst, m);
        if (op < DAGR_OP_LT || op > DAGR_OP_NE) narrow(dst, m, dt);
        break;
      }
      case DAGR__VM_WHERE: {
        if (I[3] < 0 || I[3] >= nreg || I[4] < 0 || I[4] >= nreg || I[5] < 0 || I[5] >= nreg)
          goto bad;
        const val *a = regs + (size_t)I[3] * BLK, *b = regs + (size_t)I[4] * BLK,
                  *c = regs + (size_t)I[5] * BLK;
        for (int q = 0; q < m; q++) dst[q] = c[q].i ? a[q] : b[q];
        break;
      }
      case DAGR__VM_CAST: {
        if (I[3] < 0 || I[3] >= nreg) goto bad;
        const val *a = regs + (size_t)I[3] * BLK;
        int from = (int)I[4];
        if (is_f(from) && !is_f(dt)) {
          if (dt == DAGR_DTYPE_BOOL)
            for (int q = 0; q < m; q++) dst[q].i = a[q].f != 0;
          else
            for (int q = 0; q < m; q++) dst[q].i = (int64_t)a[q].f;
        } else if (!is_f(from) && is_f(dt)) {
          for (int q = 0; q < m; q++) dst[q].f = (double)a[q].i;
        } else if (dst != a) {
          memcpy(dst, a, (size_t)m * sizeof *dst);
        }
        narrow(dst, m, dt);
        break;
      }
      default:
        goto bad;
      }
    }
    store(outp, (int)out_dtype, base, regs + (size_t)result * BLK, m);
  }
  free(regs);
  return DAGR_OK;
bad:
  free(regs);
  return dagr_kernel_fail(k, "array.ew: malformed instruction in the program");
}

int dagr__kernel_ew(dagr_kctx_t *k);
int dagr__kernel_ew(dagr_kctx_t *k) {
  return k_ew(k);
}
