/* k_misc.c: array kernels that create chunks (full, arange, random, buffer) and move elements
 * (transpose, slice). */
#include <math.h>
#include <string.h>

#include "array/array_impl.h"

/* Common prologue: the block shape from params and an output of dtype. */
static int block_out(dagr_kctx_t *k, int dtype, const int64_t **shape, size_t *ndim, int64_t *n,
                     void **out) {
  if (dagr_kernel_param_int_array(k, "shape", shape, ndim) || *ndim > DAGR_MAX_NDIM)
    return dagr_kernel_fail(k, "array kernel: missing or bad 'shape'");
  *n = 1;
  for (size_t a = 0; a < *ndim; a++) *n *= (*shape)[a];
  int rc =
      dagr_kernel_output(k, (size_t)*n * dagr_dtype_size(dtype), dtype, (int)*ndim, *shape, out);
  if (rc) return dagr_kernel_fail(k, "no room for a %lld-element chunk", (long long)*n);
  return DAGR_OK;
}

static void put(void *out, int dt, int64_t i, double f, int64_t iv, int use_int) {
  switch (dt) {
  case DAGR_DTYPE_FLOAT64:
    ((double *)out)[i] = use_int ? (double)iv : f;
    break;
  case DAGR_DTYPE_FLOAT32:
    ((float *)out)[i] = (float)(use_int ? (double)iv : f);
    break;
  case DAGR_DTYPE_INT64:
    ((int64_t *)out)[i] = use_int ? iv : (int64_t)f;
    break;
  case DAGR_DTYPE_INT32:
    ((int32_t *)out)[i] = (int32_t)(use_int ? iv : (int64_t)f);
    break;
  case DAGR_DTYPE_BOOL:
    ((uint8_t *)out)[i] = use_int ? iv != 0 : f != 0;
    break;
  default:
    ((uint8_t *)out)[i] = (uint8_t)(use_int ? iv : (int64_t)f);
    break;
  }
}

static int k_full(dagr_kctx_t *k) {
  int64_t dt, n;
  double v;
  const int64_t *shape;
  size_t nd;
  void *out;
  if (dagr_kernel_param_int(k, "dtype", &dt) || dagr_kernel_param_double(k, "value", &v))
    return dagr_kernel_fail(k, "array.full: missing parameters");
  int rc = block_out(k, (int)dt, &shape, &nd, &n, &out);
  if (rc) return rc;
  if (n > 0) put(out, (int)dt, 0, v, 0, 0);
  size_t es = dagr_dtype_size((int)dt);
  /* Doubling copies fill at memory speed. */
  for (int64_t done = 1; done < n;) {
    int64_t c = done < n - done ? done : n - done;
    memcpy((char *)out + (size_t)done * es, out, (size_t)c * es);
    done += c;
  }
  return DAGR_OK;
}

static int k_arange(dagr_kctx_t *k) {
  int64_t dt, n, offset;
  double start, step;
  const int64_t *shape;
  size_t nd;
  void *out;
  if (dagr_kernel_param_int(k, "dtype", &dt) || dagr_kernel_param_double(k, "start", &start) ||
      dagr_kernel_param_double(k, "step", &step) || dagr_kernel_param_int(k, "offset", &offset))
    return dagr_kernel_fail(k, "array.arange: missing parameters");
  int rc = block_out(k, (int)dt, &shape, &nd, &n, &out);
  if (rc) return rc;
  /* Integral starts and steps stay exact in integer arithmetic, as NumPy's int arange. */
  int integral = start == floor(start) && step == floor(step) && fabs(start) < 9e15 &&
                 fabs(step) < 9e15 && dt != DAGR_DTYPE_FLOAT64 && dt != DAGR_DTYPE_FLOAT32;
  for (int64_t i = 0; i < n; i++) {
    if (integral)
      put(out, (int)dt, i, 0, (int64_t)start + (offset + i) * (int64_t)step, 1);
    else
      put(out, (int)dt, i, start + (double)(offset + i) * step, 0, 0);
  }
  return DAGR_OK;
}

/* splitmix64 seeds a xoshiro256** stream per chunk: the values depend on (seed, chunk) only. */
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

static inline uint64_t xoshiro(uint64_t s[4]) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

static int k_random(dagr_kctx_t *k) {
  int64_t seed, block, normal, n;
  double a, b;
  const int64_t *shape;
  size_t nd;
  void *outp;
  if (dagr_kernel_param_int(k, "seed", &seed) || dagr_kernel_param_int(k, "block", &block) ||
      dagr_kernel_param_int(k, "normal", &normal) || dagr_kernel_param_double(k, "a", &a) ||
      dagr_kernel_param_double(k, "b", &b))
    return dagr_kernel_fail(k, "array.random: missing parameters");
  int rc = block_out(k, DAGR_DTYPE_FLOAT64, &shape, &nd, &n, &outp);
  if (rc) return rc;
  double *out = outp;
  uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)block + 0x632be59bd9b4e019ull);
  uint64_t s[4] = {splitmix(&x), splitmix(&x), splitmix(&x), splitmix(&x)};
  for (int64_t i = 0; i < n; i++) {
    double u = (double)(xoshiro(s) >> 11) * 0x1.0p-53;
    if (!normal) {
      out[i] = a + (b - a) * u;
    } else {
      /* Box-Muller; u1 in (0, 1] so log is finite. */
      double u1 = 1.0 - u, u2 = (double)(xoshiro(s) >> 11) * 0x1.0p-53;
      out[i] = a + b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    }
  }
  return DAGR_OK;
}

static int k_buffer(dagr_kctx_t *k) {
  int64_t dt, n;
  const int64_t *words, *shape;
  size_t nwords, nd;
  void *out;
  if (dagr_kernel_param_int(k, "dtype", &dt) ||
      dagr_kernel_param_int_array(k, "data", &words, &nwords))
    return dagr_kernel_fail(k, "array.buffer: missing parameters");
  int rc = block_out(k, (int)dt, &shape, &nd, &n, &out);
  if (rc) return rc;
  size_t bytes = (size_t)n * dagr_dtype_size((int)dt);
  if (bytes > nwords * 8) return dagr_kernel_fail(k, "array.buffer: data shorter than the chunk");
  memcpy(out, words, bytes);
  return DAGR_OK;
}

/* out[perm-ordered index] = in[index]: walks the output in C order with an odometer over the
 * input strides. */
static int k_transpose(dagr_kctx_t *k) {
  const int64_t *perm;
  size_t np;
  dagr_view_t v;
  if (dagr_kernel_param_int_array(k, "perm", &perm, &np) || dagr_kernel_input(k, 0, &v) ||
      (int)np != v.ndim)
    return dagr_kernel_fail(k, "array.transpose: bad parameters");
  int nd = v.ndim;
  int64_t oshape[DAGR_MAX_NDIM], istride[DAGR_MAX_NDIM], ostr[DAGR_MAX_NDIM], n = 1;
  int64_t st = 1;
  for (int a = nd - 1; a >= 0; a--) {
    istride[a] = st;
    st *= v.shape[a];
  }
  for (int a = 0; a < nd; a++) {
    if (perm[a] < 0 || perm[a] >= nd) return dagr_kernel_fail(k, "array.transpose: bad perm");
    oshape[a] = v.shape[perm[a]];
    ostr[a] = istride[perm[a]];
    n *= oshape[a];
  }
  void *out;
  size_t es = dagr_dtype_size(v.dtype);
  if (dagr_kernel_output(k, (size_t)n * es, v.dtype, nd, oshape, &out))
    return dagr_kernel_fail(k, "array.transpose: no room for the output");
  const unsigned char *in = v.data;
  unsigned char *o = out;
  int64_t idx[DAGR_MAX_NDIM] = {0}, off = 0;
  for (int64_t i = 0; i < n; i++) {
    memcpy(o + (size_t)i * es, in + (size_t)off * es, es);
    for (int a = nd - 1; a >= 0; a--) {
      idx[a]++;
      off += ostr[a];
      if (idx[a] < oshape[a]) break;
      off -= idx[a] * ostr[a];
      idx[a] = 0;
    }
  }
  return DAGR_OK;
}

/* A strided sub-block of the input: per input axis start/step/count; axes with drop=1 keep one
 * element and vanish from the output. */
static int k_slice(dagr_kctx_t *k) {
  const int64_t *start, *step, *count, *drop;
  size_t n1, n2, n3, n4;
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || dagr_kernel_param_int_array(k, "start", &start, &n1) ||
      dagr_kernel_param_int_array(k, "step", &step, &n2) ||
      dagr_kernel_param_int_array(k, "count", &count, &n3) ||
      dagr_kernel_param_int_array(k, "drop", &drop, &n4) || (int)n1 != v.ndim || n2 != n1 ||
      n3 != n1 || n4 != n1)
    return dagr_kernel_fail(k, "array.slice: bad parameters");
  int nd = v.ndim, ond = 0;
  int64_t oshape[DAGR_MAX_NDIM], stride[DAGR_MAX_NDIM], n = 1, st = 1, base = 0;
  for (int a = nd - 1; a >= 0; a--) {
    stride[a] = st;
    st *= v.shape[a];
  }
  for (int a = 0; a < nd; a++) {
    int64_t last = start[a] + (count[a] - 1) * step[a];
    if (count[a] < 0 || (count[a] > 0 && (start[a] < 0 || start[a] >= v.shape[a] || last < 0 ||
                                          last >= v.shape[a])))
      return dagr_kernel_fail(k, "array.slice: run outside the block on axis %d", a);
    base += start[a] * stride[a];
    n *= count[a];
    if (!drop[a]) oshape[ond++] = count[a];
  }
  size_t es = dagr_dtype_size(v.dtype);
  void *out;
  if (dagr_kernel_output(k, (size_t)n * es, v.dtype, ond, oshape, &out))
    return dagr_kernel_fail(k, "array.slice: no room for the output");
  const unsigned char *in = v.data;
  unsigned char *o = out;
  int64_t idx[DAGR_MAX_NDIM] = {0}, off = base;
  for (int64_t i = 0; i < n; i++) {
    memcpy(o + (size_t)i * es, in + (size_t)off * es, es);
    for (int a = nd - 1; a >= 0; a--) {
      idx[a]++;
      off += step[a] * stride[a];
      if (idx[a] < count[a]) break;
      off -= idx[a] * step[a] * stride[a];
      idx[a] = 0;
    }
  }
  return DAGR_OK;
}

int dagr__kernel_ew(dagr_kctx_t *k);
int dagr__kernel_reduce_partial(dagr_kctx_t *k);
int dagr__kernel_reduce_combine(dagr_kctx_t *k);
int dagr__kernel_reduce_final(dagr_kctx_t *k);
int dagr__kernel_h5read(dagr_kctx_t *k);
int dagr__kernel_h5store(dagr_kctx_t *k);

int dagr__array_kernels_register(void) {
  static const struct {
    const char *name;
    dagr_kernel_fn fn;
  } t[] = {{DAGR__K_FULL, k_full},
           {DAGR__K_ARANGE, k_arange},
           {DAGR__K_RANDOM, k_random},
           {DAGR__K_BUFFER, k_buffer},
           {DAGR__K_EW, dagr__kernel_ew},
           {DAGR__K_RED_PARTIAL, dagr__kernel_reduce_partial},
           {DAGR__K_RED_COMBINE, dagr__kernel_reduce_combine},
           {DAGR__K_RED_FINAL, dagr__kernel_reduce_final},
           {DAGR__K_TRANSPOSE, k_transpose},
           {DAGR__K_SLICE, k_slice},
           {DAGR__K_H5READ, dagr__kernel_h5read},
           {DAGR__K_H5STORE, dagr__kernel_h5store}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    int rc = dagr_kernel_register(t[i].name, t[i].fn);
    if (rc) return rc;
  }
  return DAGR_OK;
}
