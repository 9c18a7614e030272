/* result.c: access to and release of computed values returned by dagr_get. */
#include <stdlib.h>
#include <string.h>

#include "internal/common.h"

void dagr_result_release(dagr_result_t *r) {
  if (!r) return;
  free(r->data);
  memset(r, 0, sizeof *r);
}

int dagr_result_int64(const dagr_result_t *r, int64_t *value) {
  if (!r || !value || !r->data) return DAGR_EINVAL;
  if (r->ndim != 0 || r->nbytes != 8) return DAGR_ETYPE;
  if (r->dtype == DAGR_DTYPE_INT64) {
    memcpy(value, r->data, 8);
  } else if (r->dtype == DAGR_DTYPE_FLOAT64) {
    double d;
    memcpy(&d, r->data, 8);
    *value = (int64_t)d;
  } else {
    return DAGR_ETYPE;
  }
  return DAGR_OK;
}

int dagr_result_float64(const dagr_result_t *r, double *value) {
  if (!r || !value || !r->data) return DAGR_EINVAL;
  if (r->ndim != 0 || r->nbytes != 8) return DAGR_ETYPE;
  if (r->dtype == DAGR_DTYPE_FLOAT64) {
    memcpy(value, r->data, 8);
  } else if (r->dtype == DAGR_DTYPE_INT64) {
    int64_t i;
    memcpy(&i, r->data, 8);
    *value = (double)i;
  } else {
    return DAGR_ETYPE;
  }
  return DAGR_OK;
}
