/* kctx.c: the kernel-facing API (inputs, parameters, outputs, failure) over one invocation. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/params.h"
#include "runtime/kctx.h"
#include "store/spill.h"
#include "runtime/signals.h"

int dagr_kernel_ninputs(const dagr_kctx_t *k) {
  return k ? k->ninputs : 0;
}

int dagr_kernel_input(const dagr_kctx_t *k, int i, dagr_view_t *view) {
  if (!k || !view) return DAGR_EINVAL;
  if (i < 0 || i >= k->ninputs) return DAGR_ENOENT;
  *view = k->inputs[i];
  return DAGR_OK;
}

int dagr_kernel_rank(const dagr_kctx_t *k) {
  return k ? k->rank : -1;
}

static int find(const dagr_kctx_t *k, const char *name, int *type, const void **payload,
                size_t *len) {
  if (!k || !name) return DAGR_EINVAL;
  return dagr__params_find(k->params, k->params_len, name, type, payload, len);
}

int dagr_kernel_param_int(const dagr_kctx_t *k, const char *name, int64_t *value) {
  int type;
  const void *p;
  size_t len;
  if (!value) return DAGR_EINVAL;
  int rc = find(k, name, &type, &p, &len);
  if (rc) return rc;
  if (type != DAGR__PARAM_INT) return DAGR_ETYPE;
  memcpy(value, p, 8);
  return DAGR_OK;
}

int dagr_kernel_param_double(const dagr_kctx_t *k, const char *name, double *value) {
  int type;
  const void *p;
  size_t len;
  if (!value) return DAGR_EINVAL;
  int rc = find(k, name, &type, &p, &len);
  if (rc) return rc;
  if (type == DAGR__PARAM_DOUBLE) {
    memcpy(value, p, 8);
  } else if (type == DAGR__PARAM_INT) {
    int64_t v;
    memcpy(&v, p, 8);
    *value = (double)v;
  } else {
    return DAGR_ETYPE;
  }
  return DAGR_OK;
}

int dagr_kernel_param_string(const dagr_kctx_t *k, const char *name, const char **value,
                             size_t *len) {
  int type;
  const void *p;
  size_t n;
  if (!value) return DAGR_EINVAL;
  int rc = find(k, name, &type, &p, &n);
  if (rc) return rc;
  if (type != DAGR__PARAM_STRING) return DAGR_ETYPE;
  *value = p;
  if (len) *len = n - 1;
  return DAGR_OK;
}

static int array_param(const dagr_kctx_t *k, const char *name, int want, const void **values,
                       size_t *n) {
  int type;
  size_t len;
  if (!values || !n) return DAGR_EINVAL;
  int rc = find(k, name, &type, values, &len);
  if (rc) return rc;
  if (type != want) return DAGR_ETYPE;
  *n = len / 8;
  return DAGR_OK;
}

int dagr_kernel_param_int_array(const dagr_kctx_t *k, const char *name, const int64_t **values,
                                size_t *n) {
  return array_param(k, name, DAGR__PARAM_INT_ARRAY, (const void **)values, n);
}

int dagr_kernel_param_double_array(const dagr_kctx_t *k, const char *name, const double **values,
                                   size_t *n) {
  return array_param(k, name, DAGR__PARAM_DOUBLE_ARRAY, (const void **)values, n);
}

static int set_meta(dagr_kctx_t *k, int dtype, int ndim, const int64_t *shape) {
  if (k->out_kind != DAGR__OUT_NONE) return DAGR_EINVAL;
  if (dagr_dtype_size(dtype) == 0 || ndim < 0 || ndim > DAGR_MAX_NDIM || (ndim > 0 && !shape))
    return DAGR_EINVAL;
  k->out_dtype = dtype;
  k->out_ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return DAGR_EINVAL;
    k->out_shape[i] = shape[i];
  }
  return DAGR_OK;
}

int dagr_kernel_output(dagr_kctx_t *k, size_t nbytes, int dtype, int ndim, const int64_t *shape,
                       void **data) {
  if (!k || !data) return DAGR_EINVAL;
  int rc = set_meta(k, dtype, ndim, shape);
  if (rc) return rc;
  uint64_t off;
  rc = dagr__store_alloc_in(k->store, k->group, nbytes, &off, NULL);
  if (rc == DAGR_ESTORE_FULL && k->spill && nbytes > k->store->size) {
    /* Larger than the whole store: it could never fit, so it goes straight to the spill
     * directory (a mapped file); its consumers run on this worker. */
    void *p = NULL;
    rc = dagr__spill_map(k->spill, k->run, k->task, nbytes, &p, k->errmsg, DAGR__ERRLEN);
    if (rc) return rc;
    k->out_kind = DAGR__OUT_FILE;
    k->out_offset = (uint64_t)(uintptr_t)p;
    k->out_nbytes = nbytes;
    *data = p;
    return DAGR_OK;
  }
  if (rc) {
    snprintf(k->errmsg, DAGR__ERRLEN, "cannot allocate a %zu-byte output in the object store (%s)",
             nbytes, dagr_strerror(rc));
    if (rc == DAGR_ESTORE_FULL) k->store_full = 1;
    return rc;
  }
  k->out_kind = DAGR__OUT_STORE;
  k->out_offset = off;
  k->out_nbytes = nbytes;
  *data = k->store->base + off;
  return DAGR_OK;
}

/* Scalars live in the object table, not the store: no allocation on the hot path. */
static int output_scalar(dagr_kctx_t *k, int dtype, const void *bits) {
  if (!k) return DAGR_EINVAL;
  int rc = set_meta(k, dtype, 0, NULL);
  if (rc) return rc;
  k->out_kind = DAGR__OUT_SCALAR;
  memcpy(&k->out_value, bits, 8);
  k->out_nbytes = 8;
  return DAGR_OK;
}

int dagr_kernel_output_int64(dagr_kctx_t *k, int64_t value) {
  return output_scalar(k, DAGR_DTYPE_INT64, &value);
}

int dagr_kernel_output_float64(dagr_kctx_t *k, double value) {
  return output_scalar(k, DAGR_DTYPE_FLOAT64, &value);
}

int dagr_kernel_output_uint64(dagr_kctx_t *k, uint64_t value) {
  return output_scalar(k, DAGR_DTYPE_UINT64, &value);
}

int dagr_kernel_fail(dagr_kctx_t *k, const char *fmt, ...) {
  if (!k) return DAGR_EKERNEL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(k->errmsg, DAGR__ERRLEN, fmt, ap);
  va_end(ap);
  k->failed = 1;
  return DAGR_EKERNEL;
}

int dagr__kctx_invoke(dagr_kctx_t *k, dagr_kernel_fn fn) {
  k->errmsg[0] = '\0';
  dagr__signals_set_kernel(k);
  int rc = fn(k);
  dagr__signals_set_kernel(NULL);
  if (rc == DAGR_OK && k->out_kind == DAGR__OUT_NONE) {
    snprintf(k->errmsg, DAGR__ERRLEN, "kernel returned success without producing an output");
    rc = DAGR_EKERNEL;
  }
  if (rc != DAGR_OK) {
    /* However the kernel reported it, a full store is the runtime's condition, not the
     * kernel's: keep one status for it. */
    if (k->store_full) rc = DAGR_ESTORE_FULL;
    if (!k->errmsg[0]) snprintf(k->errmsg, DAGR__ERRLEN, "kernel returned %s", dagr_strerror(rc));
    if (k->out_kind == DAGR__OUT_STORE) dagr__store_free(k->store, k->out_offset);
    if (k->out_kind == DAGR__OUT_FILE) {
      dagr__spill_unmap((void *)(uintptr_t)k->out_offset, k->out_nbytes);
      dagr__spill_remove(k->spill, k->run, k->task);
    }
    k->out_kind = DAGR__OUT_NONE;
  }
  return rc;
}

size_t dagr_dtype_size(int dtype) {
  switch (dtype) {
  case DAGR_DTYPE_BYTES:
    return 1;
  case DAGR_DTYPE_INT64:
    return 8;
  case DAGR_DTYPE_FLOAT64:
    return 8;
  case DAGR_DTYPE_FLOAT32:
    return 4;
  case DAGR_DTYPE_INT32:
    return 4;
  case DAGR_DTYPE_UINT8:
    return 1;
  case DAGR_DTYPE_BOOL:
    return 1;
  case DAGR_DTYPE_UINT64:
    return 8;
  default:
    return 0;
  }
}

const char *dagr_dtype_name(int dtype) {
  switch (dtype) {
  case DAGR_DTYPE_BYTES:
    return "bytes";
  case DAGR_DTYPE_INT64:
    return "int64";
  case DAGR_DTYPE_FLOAT64:
    return "float64";
  case DAGR_DTYPE_FLOAT32:
    return "float32";
  case DAGR_DTYPE_INT32:
    return "int32";
  case DAGR_DTYPE_UINT8:
    return "uint8";
  case DAGR_DTYPE_BOOL:
    return "bool";
  case DAGR_DTYPE_UINT64:
    return "uint64";
  default:
    return "unknown";
  }
}
