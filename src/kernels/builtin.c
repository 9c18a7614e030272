/* builtin.c: the built-in kernels usable from graph files and C (const, add, sub, mul, noop, sleep,
 * fail, fill, checksum). */
#include <string.h>
#include <time.h>

#include "internal/common.h"
#include "runtime/registry.h"

/* Kernels only use the public kernel API, like user kernels. */

static int k_const(dagr_kctx_t *k) {
  int64_t i;
  double d;
  if (dagr_kernel_param_int(k, "value", &i) == DAGR_OK) return dagr_kernel_output_int64(k, i);
  if (dagr_kernel_param_double(k, "value", &d) == DAGR_OK) return dagr_kernel_output_float64(k, d);
  return dagr_kernel_fail(k, "const needs an integer or float parameter 'value'");
}

/* Reads input i as a scalar number; *is_float says which member is set. */
static int scalar_input(dagr_kctx_t *k, int i, int64_t *iv, double *dv, int *is_float) {
  dagr_view_t v;
  if (dagr_kernel_input(k, i, &v)) return dagr_kernel_fail(k, "missing input %d", i);
  if (v.ndim != 0 || v.nbytes != 8)
    return dagr_kernel_fail(k, "input %d is not a scalar (%s, %zu bytes)", i,
                            dagr_dtype_name(v.dtype), v.nbytes);
  if (v.dtype == DAGR_DTYPE_INT64) {
    memcpy(iv, v.data, 8);
    *dv = (double)*iv;
    *is_float = 0;
  } else if (v.dtype == DAGR_DTYPE_FLOAT64) {
    memcpy(dv, v.data, 8);
    *is_float = 1;
  } else {
    return dagr_kernel_fail(k, "input %d has dtype %s, not a number", i, dagr_dtype_name(v.dtype));
  }
  return DAGR_OK;
}

enum { OP_ADD, OP_SUB, OP_MUL };

/* n-ary arithmetic: integers stay int64 (wrapping like NumPy's int64), any float gives float64. */
static int arith(dagr_kctx_t *k, int op) {
  int n = dagr_kernel_ninputs(k);
  if (n < 1) return dagr_kernel_fail(k, "needs at least one input");
  int64_t iacc = 0;
  double dacc = 0;
  int any_float = 0;
  for (int i = 0; i < n; i++) {
    int64_t iv = 0;
    double dv = 0;
    int f = 0;
    int rc = scalar_input(k, i, &iv, &dv, &f);
    if (rc) return rc;
    if (f && !any_float) {
      any_float = 1;
      dacc = (double)iacc;
    }
    if (i == 0) {
      iacc = iv;
      dacc = dv;
      continue;
    }
    uint64_t a = (uint64_t)iacc, b = (uint64_t)iv;
    switch (op) {
    case OP_ADD:
      iacc = (int64_t)(a + b);
      dacc += dv;
      break;
    case OP_SUB:
      iacc = (int64_t)(a - b);
      dacc -= dv;
      break;
    default:
      iacc = (int64_t)(a * b);
      dacc *= dv;
      break;
    }
  }
  return any_float ? dagr_kernel_output_float64(k, dacc) : dagr_kernel_output_int64(k, iacc);
}

static int k_add(dagr_kctx_t *k) {
  return arith(k, OP_ADD);
}
static int k_sub(dagr_kctx_t *k) {
  return arith(k, OP_SUB);
}
static int k_mul(dagr_kctx_t *k) {
  return arith(k, OP_MUL);
}

static int k_noop(dagr_kctx_t *k) {
  return dagr_kernel_output_int64(k, 0);
}

static int k_sleep(dagr_kctx_t *k) {
  int64_t ms = 0;
  double dms;
  if (dagr_kernel_param_double(k, "ms", &dms) == DAGR_OK) ms = (int64_t)dms;
  if (ms < 0) return dagr_kernel_fail(k, "sleep needs params.ms >= 0");
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return dagr_kernel_output_int64(k, 0);
}

static int k_fail(dagr_kctx_t *k) {
  const char *msg = "fail kernel called";
  (void)dagr_kernel_param_string(k, "message", &msg, NULL);
  return dagr_kernel_fail(k, "%s", msg);
}

static int k_fill(dagr_kctx_t *k) {
  int64_t bytes, seed = 0;
  if (dagr_kernel_param_int(k, "bytes", &bytes) || bytes < 0)
    return dagr_kernel_fail(k, "fill needs an integer params.bytes >= 0");
  (void)dagr_kernel_param_int(k, "seed", &seed);
  void *out;
  int64_t shape[1] = {bytes};
  int rc = dagr_kernel_output(k, (size_t)bytes, DAGR_DTYPE_UINT8, 1, shape, &out);
  if (rc)
    return dagr_kernel_fail(k, "cannot allocate %lld bytes: %s", (long long)bytes,
                            dagr_strerror(rc));
  unsigned char *p = out;
  /* byte i = (i*131 + seed*7) mod 256: the pattern repeats every 256 bytes, so fill one period
   * and copy it, which runs at memory speed. */
  unsigned char period[256];
  for (unsigned i = 0; i < 256; i++)
    period[i] = (unsigned char)(((uint64_t)i * 131u + (uint64_t)seed * 7u) & 0xffu);
  size_t n = (size_t)bytes, off = 0;
  while (off < n) {
    size_t c = n - off < 256 ? n - off : 256;
    memcpy(p + off, period, c);
    off += c;
  }
  return DAGR_OK;
}

static int k_checksum(dagr_kctx_t *k) {
  uint64_t h = DAGR__FNV_INIT;
  int n = dagr_kernel_ninputs(k);
  for (int i = 0; i < n; i++) {
    dagr_view_t v;
    (void)dagr_kernel_input(k, i, &v);
    h = dagr__fnv1a(h, v.data, v.nbytes);
  }
  return dagr_kernel_output_uint64(k, h);
}

int dagr__builtin_register(void) {
  static const struct {
    const char *name;
    dagr_kernel_fn fn;
  } table[] = {{"const", k_const}, {"add", k_add},   {"sub", k_sub},
               {"mul", k_mul},     {"noop", k_noop}, {"sleep", k_sleep},
               {"fail", k_fail},   {"fill", k_fill}, {"checksum", k_checksum}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    int rc = dagr_kernel_register(table[i].name, table[i].fn);
    if (rc) return rc;
  }
  return DAGR_OK;
}
