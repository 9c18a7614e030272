/* k_h5.c: the array kernels that read chunks from HDF5 and write them to per-worker part files. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "array/array_impl.h"
#include "hdf5/h5io.h"

/* Reads one hyperslab (start, count, stride per dataset axis) as the chunk; axes with drop=1
 * have count 1 and are left out of the chunk's shape (an integer index pushed into the read). */
static int k_h5read(dagr_kctx_t *k) {
  const char *path, *dset;
  const int64_t *start, *count, *stride, *shape;
  size_t n1, n2, n3, nd;
  int64_t dt;
  if (dagr_kernel_param_string(k, "path", &path, NULL) ||
      dagr_kernel_param_string(k, "dataset", &dset, NULL) ||
      dagr_kernel_param_int(k, "dtype", &dt) ||
      dagr_kernel_param_int_array(k, "start", &start, &n1) ||
      dagr_kernel_param_int_array(k, "count", &count, &n2) ||
      dagr_kernel_param_int_array(k, "stride", &stride, &n3) ||
      dagr_kernel_param_int_array(k, "shape", &shape, &nd) || n1 != n2 || n1 != n3 ||
      n1 > DAGR_MAX_NDIM || nd > DAGR_MAX_NDIM)
    return dagr_kernel_fail(k, "array.h5read: bad parameters");
  int64_t n = 1;
  for (size_t a = 0; a < nd; a++) n *= shape[a];
  void *out;
  if (dagr_kernel_output(k, (size_t)n * dagr_dtype_size((int)dt), (int)dt, (int)nd, shape, &out))
    return dagr_kernel_fail(k, "array.h5read: no room for a %lld-element chunk", (long long)n);
  char err[DAGR__ERRLEN];
  if (n > 0 &&
      dagr__h5_read(path, dset, (int)n1, start, count, stride, (int)dt, out, err, sizeof err))
    return dagr_kernel_fail(k, "%s", err);
  return DAGR_OK;
}

/* Writes the input chunk into this rank's part file for the store identified by `token`, and
 * returns the rank, so the driver knows which part file holds the block. */
static int k_h5store(dagr_kctx_t *k) {
  const char *parts, *dset, *token;
  const int64_t *start, *gshape, *cshape;
  size_t n1, n2, n3;
  int64_t gzip;
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || dagr_kernel_param_string(k, "parts", &parts, NULL) ||
      dagr_kernel_param_string(k, "dataset", &dset, NULL) ||
      dagr_kernel_param_string(k, "token", &token, NULL) ||
      dagr_kernel_param_int(k, "gzip", &gzip) ||
      dagr_kernel_param_int_array(k, "start", &start, &n1) ||
      dagr_kernel_param_int_array(k, "gshape", &gshape, &n2) ||
      dagr_kernel_param_int_array(k, "chunk", &cshape, &n3) || (int)n1 != v.ndim || n2 != n1 ||
      n3 != n1)
    return dagr_kernel_fail(k, "array.h5store: bad parameters");
  char part[4096], err[DAGR__ERRLEN];
  int rank = dagr_kernel_rank(k);
  if (snprintf(part, sizeof part, "%s/%s-rank%d.h5", parts, token, rank) >= (int)sizeof part)
    return dagr_kernel_fail(k, "array.h5store: part file path too long");
  /* The driver made the directory; on another node with the same shared filesystem it is
   * already there, so EEXIST is the normal case. */
  if (mkdir(parts, 0777) != 0 && errno != EEXIST)
    return dagr_kernel_fail(k, "cannot create '%s': %s", parts, strerror(errno));
  int64_t count[DAGR_MAX_NDIM];
  for (int a = 0; a < v.ndim; a++) count[a] = v.shape[a];
  int rc = dagr__h5_part_write(part, dset, v.dtype, v.ndim, gshape, cshape, (int)gzip, start, count,
                               v.data, err, sizeof err);
  if (rc == DAGR_OK) rc = dagr__h5_part_close(part, err, sizeof err);
  if (rc) return dagr_kernel_fail(k, "%s", err);
  return dagr_kernel_output_int64(k, rank);
}

int dagr__kernel_h5read(dagr_kctx_t *k);
int dagr__kernel_h5read(dagr_kctx_t *k) {
  return k_h5read(k);
}
int dagr__kernel_h5store(dagr_kctx_t *k);
int dagr__kernel_h5store(dagr_kctx_t *k) {
  return k_h5store(k);
}
