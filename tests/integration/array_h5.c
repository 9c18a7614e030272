/* array_h5.c: dagr arrays read from and stored to HDF5, checked against serial C on the same data.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dagr.h"
#include "dagr/array.h"

static int passed, failed;
static dagr_ctx_t *ctx;
static char tmpdir[1024];

static void check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *name, const char *fmt, ...) {
  if (ok) {
    printf("ok %s\n", name);
    passed++;
    return;
  }
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("FAIL %s: %s\n", name, buf);
  failed++;
}

/* A path inside the temporary directory (a ring of buffers, so a few may be live at once). */
static const char *P(const char *name) {
  static char bufs[16][1400];
  static int k;
  char *b = bufs[k++ & 15];
  snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
  return b;
}

/* ---- deterministic data ------------------------------------------------------------------ */
static uint64_t lcg_state = 12345;
static uint64_t lcg(void) {
  lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return lcg_state >> 11;
}
static double unif(void) {
  return (double)(lcg() >> 1) * 0x1p-52;
}

/* One dataset of the input files: its values as written, as doubles and (integer kinds) as
 * int64. */
typedef struct ds {
  const char *file, *name;
  int dtype, nd;
  int64_t shape[3], n;
  void *raw;
  double *dv;
  int64_t *iv;
} ds_t;

static int is_int_dtype(int dt) {
  return dt != DAGR_DTYPE_FLOAT64 && dt != DAGR_DTYPE_FLOAT32;
}

static void ds_init(ds_t *s, const char *file, const char *name, int dtype, int nd,
                    const int64_t *shape) {
  memset(s, 0, sizeof *s);
  s->file = file, s->name = name, s->dtype = dtype, s->nd = nd, s->n = 1;
  for (int d = 0; d < nd; d++) s->shape[d] = shape[d], s->n *= shape[d];
  s->raw = calloc((size_t)s->n, dagr_dtype_size(dtype));
  s->dv = calloc((size_t)s->n, sizeof(double));
  s->iv = calloc((size_t)s->n, sizeof(int64_t));
}

static void ds_free(ds_t *s) {
  free(s->raw);
  free(s->dv);
  free(s->iv);
}

/* Element i of a typed buffer as double and int64. */
static void elem(const void *data, int dtype, int64_t i, double *d, int64_t *v) {
  switch (dtype) {
  case DAGR_DTYPE_FLOAT64:
    *d = ((const double *)data)[i], *v = (int64_t)*d;
    break;
  case DAGR_DTYPE_FLOAT32:
    *d = ((const float *)data)[i], *v = (int64_t)*d;
    break;
  case DAGR_DTYPE_INT64:
    *v = ((const int64_t *)data)[i], *d = (double)*v;
    break;
  case DAGR_DTYPE_UINT64:
    *v = (int64_t)((const uint64_t *)data)[i], *d = (double)*v;
    break;
  case DAGR_DTYPE_INT32:
    *v = ((const int32_t *)data)[i], *d = (double)*v;
    break;
  default: /* uint8, bool */
    *v = ((const uint8_t *)data)[i], *d = (double)*v;
    break;
  }
}

/* Fills dv/iv from raw. */
static void ds_derive(ds_t *s) {
  for (int64_t i = 0; i < s->n; i++) elem(s->raw, s->dtype, i, &s->dv[i], &s->iv[i]);
}

/* Equal within tol relative to the magnitude (absolute below 1); NaN equals NaN, inf equals the
 * same inf. */
static int close_to(double got, double want, double tol) {
  if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
  if (isinf(want) || isinf(got)) return got == want;
  double m = fabs(want) > 1 ? fabs(want) : 1;
  return fabs(got - want) <= tol * m;
}

/* As close_to, relative to scale (at least |want| and 1). */
static int close_scaled(double got, double want, double scale, double tol) {
  if (isnan(want) || isnan(got) || isinf(want) || isinf(got)) return close_to(got, want, tol);
  double m = fmax(fmax(fabs(want), scale), 1);
  return fabs(got - want) <= tol * m;
}

/* ---- writing the input files with the HDF5 C API ----------------------------------------- */
static hid_t open_or_create(const char *path) {
  if (access(path, F_OK) == 0) return H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  return H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

/* Writes dataset name of path (chunk NULL: contiguous; gzip > 0 adds shuffle + deflate). */
static int write_ds(const char *path, const char *name, hid_t ftype, hid_t mtype, int nd,
                    const int64_t *shape, const int64_t *chunk, int gzip, const void *buf) {
  hsize_t dims[8], cdims[8];
  for (int d = 0; d < nd; d++)
    dims[d] = (hsize_t)shape[d], cdims[d] = chunk ? (hsize_t)chunk[d] : 0;
  hid_t f = open_or_create(path);
  if (f < 0) return -1;
  hid_t sp = H5Screate_simple(nd, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunk) {
    H5Pset_chunk(pl, nd, cdims);
    if (gzip > 0) {
      H5Pset_shuffle(pl);
      H5Pset_deflate(pl, (unsigned)gzip);
    }
  }
  hid_t lc = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lc, 1);
  hid_t d = H5Dcreate2(f, name, ftype, sp, lc, pl, H5P_DEFAULT);
  H5Pclose(lc);
  herr_t rc = d < 0 ? -1 : H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (d >= 0) H5Dclose(d);
  H5Pclose(pl);
  H5Sclose(sp);
  H5Fclose(f);
  return rc < 0 ? -1 : 0;
}

/* h5py's bool: an 8-bit enum {FALSE = 0, TRUE = 1}. */
static hid_t bool_type(void) {
  hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t v = 0;
  H5Tenum_insert(t, "FALSE", &v);
  v = 1;
  H5Tenum_insert(t, "TRUE", &v);
  return t;
}

static hid_t mem_type(int dtype, hid_t booltype) {
  switch (dtype) {
  case DAGR_DTYPE_FLOAT64:
    return H5T_NATIVE_DOUBLE;
  case DAGR_DTYPE_FLOAT32:
    return H5T_NATIVE_FLOAT;
  case DAGR_DTYPE_INT64:
    return H5T_NATIVE_INT64;
  case DAGR_DTYPE_INT32:
    return H5T_NATIVE_INT32;
  case DAGR_DTYPE_UINT8:
    return H5T_NATIVE_UINT8;
  default:
    return booltype;
  }
}

/* Reads a whole dataset back with the HDF5 C API (native type of dtype) into a malloc'd buffer;
 * *virt receives whether its layout is virtual. NULL (with why filled) on failure. */
static void *read_back(const char *path, const char *name, int dtype, int64_t n, int *virt,
                       int *file_class, char *why, size_t wlen) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    snprintf(why, wlen, "H5Fopen('%s') failed", path);
    return NULL;
  }
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) {
    snprintf(why, wlen, "H5Dopen('%s') failed", name);
    H5Fclose(f);
    return NULL;
  }
  hid_t pl = H5Dget_create_plist(d), ft = H5Dget_type(d), sp = H5Dget_space(d);
  *virt = H5Pget_layout(pl) == H5D_VIRTUAL;
  *file_class = (int)H5Tget_class(ft);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  void *buf = NULL;
  if (np != n) {
    snprintf(why, wlen, "%lld elements, expected %lld", (long long)np, (long long)n);
  } else {
    hid_t bt = bool_type();
    buf = malloc((size_t)n * dagr_dtype_size(dtype) + 1);
    if (H5Dread(d, mem_type(dtype, bt), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      snprintf(why, wlen, "H5Dread failed");
      free(buf);
      buf = NULL;
    }
    H5Tclose(bt);
  }
  H5Sclose(sp);
  H5Tclose(ft);
  H5Pclose(pl);
  H5Dclose(d);
  H5Fclose(f);
  return buf;
}

/* Does the file hold an object named name? -1 if the file cannot be opened. */
static int has_object(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return -1;
  htri_t e = H5Lexists(f, name, H5P_DEFAULT);
  H5Fclose(f);
  return e > 0;
}

/* ---- dagr helpers ------------------------------------------------------------------------- */
static dagr_array_t *open_h5(const ds_t *s, const int64_t *chunks, const char *label) {
  dagr_array_t *a = NULL;
  int rc = dagr_array_from_hdf5(ctx, P(s->file), s->name, chunks, &a);
  if (rc) {
    check(0, label, "from_hdf5(%s:%s) failed (%s): %s", s->file, s->name, dagr_strerror(rc),
          dagr_last_error(ctx));
    return NULL;
  }
  return a;
}

static int compute(dagr_array_t *a, const char *name, dagr_result_t *r) {
  memset(r, 0, sizeof *r);
  int rc = a ? dagr_array_compute(a, r) : DAGR_EINVAL;
  if (rc && !a)
    check(0, name, "array not built: %s", dagr_last_error(ctx));
  else if (rc)
    check(0, name, "compute failed (%s): %s", dagr_strerror(rc), dagr_last_error(ctx));
  return rc;
}

static int shape_ok(const dagr_result_t *r, int nd, const int64_t *shape, char *why, size_t wlen) {
  if (r->ndim != nd) {
    snprintf(why, wlen, "ndim %d vs expected %d", r->ndim, nd);
    return 0;
  }
  for (int d = 0; d < nd; d++)
    if (r->shape[d] != shape[d]) {
      snprintf(why, wlen, "shape[%d] %lld vs expected %lld", d, (long long)r->shape[d],
               (long long)shape[d]);
      return 0;
    }
  return 1;
}

/* Computes a and compares it with wi (exact integers) or wd (within tol; 0 = exact, NaN equal
 * to NaN); checks dtype and shape too. */
static void expect_arr(dagr_array_t *a, const char *name, int dtype, int nd, const int64_t *shape,
                       const double *wd, const int64_t *wi, double tol) {
  dagr_result_t r;
  if (compute(a, name, &r)) return;
  char why[256] = "";
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  if (r.dtype != dtype) {
    check(0, name, "dtype %s vs expected %s", dagr_dtype_name(r.dtype), dagr_dtype_name(dtype));
  } else if (!shape_ok(&r, nd, shape, why, sizeof why)) {
    check(0, name, "%s", why);
  } else {
    int64_t bad = -1;
    double gd = 0;
    int64_t gi = 0;
    for (int64_t i = 0; i < n && bad < 0; i++) {
      elem(r.data, r.dtype, i, &gd, &gi);
      if (wi ? gi != wi[i] : !close_to(gd, wd[i], tol)) bad = i;
    }
    if (bad < 0)
      check(1, name, " ");
    else if (wi)
      check(0, name, "element %lld: %lld vs expected %lld", (long long)bad, (long long)gi,
            (long long)wi[bad]);
    else
      check(0, name, "element %lld: %.17g vs expected %.17g", (long long)bad, gd, wd[bad]);
  }
  dagr_result_release(&r);
}

/* Whole-array compute, bit for bit against the values written. */
static void expect_raw(dagr_array_t *a, const char *name, const ds_t *s) {
  dagr_result_t r;
  if (compute(a, name, &r)) return;
  char why[256] = "";
  size_t nb = (size_t)s->n * dagr_dtype_size(s->dtype);
  if (r.dtype != s->dtype)
    check(0, name, "dtype %s vs expected %s", dagr_dtype_name(r.dtype), dagr_dtype_name(s->dtype));
  else if (!shape_ok(&r, s->nd, s->shape, why, sizeof why))
    check(0, name, "%s", why);
  else if (r.nbytes != nb || memcmp(r.data, s->raw, nb) != 0)
    check(0, name, "data differ (%zu bytes vs expected %zu)", r.nbytes, nb);
  else
    check(1, name, " ");
  dagr_result_release(&r);
}

static const char *chunk_label(int nd, const int64_t *chunks, char *buf, size_t len) {
  if (!chunks) {
    snprintf(buf, len, "auto");
    return buf;
  }
  size_t k = 0;
  for (int d = 0; d < nd && k < len; d++)
    k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? "x" : "", (long long)chunks[d]);
  return buf;
}

/* ---- serial reference reductions ---------------------------------------------------------- */
typedef struct redspec {
  int red, ddof;
  const char *name;
} redspec_t;
enum {
  R_SUM = 1 << 0,
  R_MEAN = 1 << 1,
  R_MIN = 1 << 2,
  R_MAX = 1 << 3,
  R_VAR = 1 << 4,
  R_VAR1 = 1 << 5,
  R_STD = 1 << 6,
  R_STD1 = 1 << 7,
  R_ARGMIN = 1 << 8,
  R_ARGMAX = 1 << 9,
  R_ANY = 1 << 10,
  R_ALL = 1 << 11,
  R_PROD = 1 << 12,
  R_ALLREDS = (1 << 13) - 1
};
static const redspec_t REDS[] = {{DAGR_RED_SUM, 0, "sum"},       {DAGR_RED_MEAN, 0, "mean"},
                                 {DAGR_RED_MIN, 0, "min"},       {DAGR_RED_MAX, 0, "max"},
                                 {DAGR_RED_VAR, 0, "var"},       {DAGR_RED_VAR, 1, "var(ddof=1)"},
                                 {DAGR_RED_STD, 0, "std"},       {DAGR_RED_STD, 1, "std(ddof=1)"},
                                 {DAGR_RED_ARGMIN, 0, "argmin"}, {DAGR_RED_ARGMAX, 0, "argmax"},
                                 {DAGR_RED_ANY, 0, "any"},       {DAGR_RED_ALL, 0, "all"},
                                 {DAGR_RED_PROD, 0, "prod"}};

/* Reduces s over the axes in mask (bit d = axis d) as NumPy does, into od (floating results) and
 * oi (integer results: int sums/products wrap like NumPy's int64, arg indices, any/all); returns
 * the number of output cells. */
static int64_t ref_reduce(const ds_t *s, int red, int ddof, unsigned mask, double *od, int64_t *oi,
                          double *scale) {
  int nd = s->nd, isint = is_int_dtype(s->dtype);
  int64_t nout = 1, nred = 1;
  for (int d = 0; d < nd; d++) {
    if (mask >> d & 1)
      nred *= s->shape[d];
    else
      nout *= s->shape[d];
  }
  char *seen = calloc((size_t)nout, 1);
  long double *acc = calloc((size_t)nout, sizeof(long double)),
              *m2 = calloc((size_t)nout, sizeof(long double)),
              *mag = calloc((size_t)nout, sizeof(long double));
  for (int64_t o = 0; o < nout; o++) {
    od[o] = red == DAGR_RED_PROD ? 1 : 0;
    oi[o] = red == DAGR_RED_PROD || red == DAGR_RED_ALL ? 1 : 0;
  }
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && red != DAGR_RED_VAR && red != DAGR_RED_STD) break;
    for (int64_t i = 0; i < s->n; i++) {
      int64_t rem = i, o = 0, r = 0, om = 1, rm = 1;
      for (int d = nd - 1; d >= 0; d--) {
        int64_t c = rem % s->shape[d];
        rem /= s->shape[d];
        if (mask >> d & 1)
          r += c * rm, rm *= s->shape[d];
        else
          o += c * om, om *= s->shape[d];
      }
      double v = s->dv[i];
      int64_t w = s->iv[i];
      switch (red) {
      case DAGR_RED_SUM:
        if (isint) oi[o] = (int64_t)((uint64_t)oi[o] + (uint64_t)w);
        acc[o] += v, mag[o] += fabs(v);
        break;
      case DAGR_RED_PROD:
        if (isint)
          oi[o] = (int64_t)((uint64_t)oi[o] * (uint64_t)w);
        else
          od[o] *= v;
        break;
      case DAGR_RED_MEAN:
      case DAGR_RED_VAR:
      case DAGR_RED_STD:
        if (pass == 0)
          acc[o] += v, mag[o] += fabs(v);
        else
          m2[o] += ((long double)v - acc[o]) * ((long double)v - acc[o]);
        break;
      case DAGR_RED_MIN:
      case DAGR_RED_MAX:
      case DAGR_RED_ARGMIN:
      case DAGR_RED_ARGMAX: {
        int want_min = red == DAGR_RED_MIN || red == DAGR_RED_ARGMIN;
        double best = od[o];
        if (!seen[o] || (!isnan(best) && (isnan(v) || (want_min ? v < best : v > best)))) {
          seen[o] = 1;
          od[o] = v;
          oi[o] = red == DAGR_RED_MIN || red == DAGR_RED_MAX ? w : r;
        }
        break;
      }
      case DAGR_RED_ANY:
        oi[o] |= isint ? w != 0 : v != 0;
        break;
      case DAGR_RED_ALL:
        oi[o] &= isint ? w != 0 : v != 0;
        break;
      }
    }
    if (pass == 0 && (red == DAGR_RED_MEAN || red == DAGR_RED_VAR || red == DAGR_RED_STD))
      for (int64_t o = 0; o < nout; o++) acc[o] /= (long double)nred, mag[o] /= (long double)nred;
  }
  /* Sums and means are compared relative to the sum (mean) of magnitudes, the scale of their
   * rounding error whatever the summation order; other results relative to themselves. */
  for (int64_t o = 0; o < nout; o++) {
    if (red == DAGR_RED_SUM && !isint) od[o] = (double)acc[o];
    if (red == DAGR_RED_MEAN) od[o] = (double)acc[o];
    if (red == DAGR_RED_VAR) od[o] = (double)(m2[o] / (long double)(nred - ddof));
    if (red == DAGR_RED_STD) od[o] = (double)sqrtl(m2[o] / (long double)(nred - ddof));
    scale[o] = red == DAGR_RED_SUM || red == DAGR_RED_MEAN ? (double)mag[o] : fabs(od[o]);
  }
  free(seen);
  free(acc);
  free(m2);
  free(mag);
  return nout;
}

/* NumPy's result dtype of a reduction (sum/prod of uint8: NumPy gives uint64; int64 accepted). */
static int npy_red_dtype(int red, int dt) {
  switch (red) {
  case DAGR_RED_SUM:
  case DAGR_RED_PROD:
    return is_int_dtype(dt) ? (dt == DAGR_DTYPE_UINT8 ? DAGR_DTYPE_UINT64 : DAGR_DTYPE_INT64) : dt;
  case DAGR_RED_MEAN:
  case DAGR_RED_VAR:
  case DAGR_RED_STD:
    return dt == DAGR_DTYPE_FLOAT32 ? dt : DAGR_DTYPE_FLOAT64;
  case DAGR_RED_ARGMIN:
  case DAGR_RED_ARGMAX:
    return DAGR_DTYPE_INT64;
  case DAGR_RED_ANY:
  case DAGR_RED_ALL:
    return DAGR_DTYPE_BOOL;
  default:
    return dt;
  }
}

/* Runs every reduction in reds over every axis set in masks on a (whose values are s) and
 * compares with the serial reference. */
static void red_suite(const char *label, dagr_array_t *a, const ds_t *s, const unsigned *masks,
                      int nmasks, unsigned reds, int split_every) {
  if (!a) return;
  unsigned full = (1u << s->nd) - 1;
  double *od = malloc(sizeof(double) * (size_t)s->n), *sc = malloc(sizeof(double) * (size_t)s->n);
  int64_t *oi = malloc(sizeof(int64_t) * (size_t)s->n);
  for (int m = 0; m < nmasks; m++) {
    unsigned mask = masks[m];
    int axes[3], nax = 0, nbits = 0;
    int64_t oshape[3];
    int ond = 0;
    char axl[32] = "";
    for (int d = 0; d < s->nd; d++) {
      if (mask >> d & 1) {
        nbits++;
        /* The last axis is passed as -1 (NumPy's negative axes). */
        axes[nax++] = d == s->nd - 1 && mask != full ? -1 : d;
      } else {
        oshape[ond++] = s->shape[d];
      }
    }
    if (mask == full)
      snprintf(axl, sizeof axl, "all");
    else if (nax == 1)
      snprintf(axl, sizeof axl, "%d", axes[0]);
    else
      snprintf(axl, sizeof axl, "(%d,%d)", axes[0], axes[1]);
    for (size_t k = 0; k < sizeof REDS / sizeof REDS[0]; k++) {
      if (!(reds >> k & 1)) continue;
      const redspec_t *rs = &REDS[k];
      int arg = rs->red == DAGR_RED_ARGMIN || rs->red == DAGR_RED_ARGMAX;
      if (arg && nbits > 1 && mask != full) continue;
      char name[256];
      snprintf(name, sizeof name, "%s %s axis=%s", label, rs->name, axl);
      dagr_array_t *r = NULL;
      int rc =
          dagr_array_reduce(rs->red, a, mask == full ? 0 : nax, axes, 0, split_every, rs->ddof, &r);
      if (rc) {
        check(0, name, "reduce failed (%s): %s", dagr_strerror(rc), dagr_last_error(ctx));
        continue;
      }
      int64_t nout = ref_reduce(s, rs->red, rs->ddof, mask, od, oi, sc);
      dagr_result_t res;
      if (compute(r, name, &res)) {
        dagr_array_release(r);
        continue;
      }
      int want_dt = npy_red_dtype(rs->red, s->dtype);
      int exact_int =
          arg || rs->red == DAGR_RED_ANY || rs->red == DAGR_RED_ALL ||
          (is_int_dtype(s->dtype) && (rs->red == DAGR_RED_SUM || rs->red == DAGR_RED_PROD ||
                                      rs->red == DAGR_RED_MIN || rs->red == DAGR_RED_MAX));
      double tol = rs->red == DAGR_RED_MIN || rs->red == DAGR_RED_MAX ? 0
                   : s->dtype == DAGR_DTYPE_FLOAT32                   ? 1e-5
                                                                      : 1e-12;
      char why[256];
      if (res.dtype != want_dt &&
          !(want_dt == DAGR_DTYPE_UINT64 && res.dtype == DAGR_DTYPE_INT64)) {
        check(0, name, "dtype %s vs expected %s", dagr_dtype_name(res.dtype),
              dagr_dtype_name(want_dt));
      } else if (!shape_ok(&res, ond, oshape, why, sizeof why)) {
        check(0, name, "%s", why);
      } else {
        int64_t bad = -1, gi = 0;
        double gd = 0;
        for (int64_t o = 0; o < nout && bad < 0; o++) {
          elem(res.data, res.dtype, o, &gd, &gi);
          if (exact_int ? gi != oi[o] : !close_scaled(gd, od[o], sc[o], tol)) bad = o;
        }
        if (bad < 0)
          check(1, name, " ");
        else if (exact_int)
          check(0, name, "cell %lld: %lld vs expected %lld", (long long)bad, (long long)gi,
                (long long)oi[bad]);
        else
          check(0, name, "cell %lld: %.17g vs expected %.17g", (long long)bad, gd, od[bad]);
      }
      dagr_result_release(&res);
      dagr_array_release(r);
    }
  }
  free(od);
  free(oi);
  free(sc);
}

/* ---- files and cleanup -------------------------------------------------------------------- */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

/* Names in dir beginning with prefix, joined by '|' into buf; returns how many. */
static int list_prefix(const char *dir, const char *prefix, char *buf, size_t len) {
  DIR *d = opendir(dir);
  int n = 0;
  size_t k = 0;
  buf[0] = '\0';
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
    n++;
    if (k < len) k += (size_t)snprintf(buf + k, len - k, "|%s", e->d_name);
  }
  closedir(d);
  return n;
}

/* Does any '|'-separated name of a appear in b? */
static int any_common(const char *a, const char *b) {
  char tmp[8192];
  snprintf(tmp, sizeof tmp, "%s", a);
  for (char *tok = strtok(tmp, "|"); tok; tok = strtok(NULL, "|")) {
    char pat[512];
    snprintf(pat, sizeof pat, "|%s", tok);
    const char *p = strstr(b, pat);
    if (p && (p[strlen(pat)] == '|' || p[strlen(pat)] == '\0')) return 1;
  }
  return 0;
}

/* Reads path:name back with the HDF5 C API and compares it bit for bit with want. */
static void expect_file(const char *label, const char *path, const char *name, int dtype, int64_t n,
                        const void *want, int want_class) {
  char why[256] = "";
  int virt = 0, cls = -1;
  void *got = read_back(path, name, dtype, n, &virt, &cls, why, sizeof why);
  if (!got) {
    check(0, label, "%s", why);
    return;
  }
  size_t nb = (size_t)n * dagr_dtype_size(dtype);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++) {
    size_t es = dagr_dtype_size(dtype);
    if (memcmp((const char *)got + i * es, (const char *)want + i * es, es) != 0) bad = i;
  }
  double gd = 0, wd = 0;
  int64_t gi = 0, wi = 0;
  if (bad >= 0) elem(got, dtype, bad, &gd, &gi), elem(want, dtype, bad, &wd, &wi);
  (void)nb;
  check(bad < 0 && virt && cls == want_class, label,
        "virtual %d (expected 1), type class %d (expected %d), element %lld: %.17g vs expected "
        "%.17g",
        virt, cls, want_class, (long long)bad, gd, wd);
  free(got);
}

/* Whether dataset name of a part file has the deflate filter (-1: cannot tell). */
static int part_has_deflate(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return -1;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  int r = -1;
  if (d >= 0) {
    hid_t pl = H5Dget_create_plist(d);
    r = 0;
    int nf = H5Pget_nfilters(pl);
    for (int i = 0; i < nf; i++) {
      unsigned flags = 0, cd[8];
      size_t ncd = 8;
      if (H5Pget_filter2(pl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE)
        r = 1;
    }
    H5Pclose(pl);
    H5Dclose(d);
  }
  H5Fclose(f);
  return r;
}

/* Over the part files of dir whose names start with "PREFIX@" and that hold dataset name: 1 if
 * all have deflate, 0 if none, 2 if mixed, -1 if there is no such part. */
static int parts_deflate(const char *dir, const char *prefix, const char *name) {
  char names[8192], pre[256], pp[2800];
  snprintf(pre, sizeof pre, "%s@", prefix);
  list_prefix(dir, pre, names, sizeof names);
  int yes = 0, no = 0;
  for (char *tok = strtok(names, "|"); tok; tok = strtok(NULL, "|")) {
    snprintf(pp, sizeof pp, "%s/%s", dir, tok);
    int r = part_has_deflate(pp, name);
    yes += r == 1, no += r == 0;
  }
  return yes + no == 0 ? -1 : yes && no ? 2 : yes ? 1 : 0;
}

/* After an error: the context must still compute (sum of the uint8 dataset). */
static dagr_array_t *g_sane;
static int64_t g_sane_sum;
static void still_works(const char *after) {
  char name[256];
  snprintf(name, sizeof name, "compute after %s", after);
  dagr_array_t *s = NULL;
  if (dagr_array_reduce(DAGR_RED_SUM, g_sane, 0, NULL, 0, 0, 0, &s)) {
    check(0, name, "reduce failed: %s", dagr_last_error(ctx));
    return;
  }
  dagr_result_t r;
  if (!compute(s, name, &r)) {
    int64_t v = 0;
    dagr_result_int64(&r, &v);
    check(v == g_sane_sum, name, "%lld vs expected %lld", (long long)v, (long long)g_sane_sum);
    dagr_result_release(&r);
  }
  dagr_array_release(s);
}

static void expect_error(int rc, int want_rc, const char *name, const char *must1,
                         const char *must2) {
  const char *msg = dagr_last_error(ctx);
  check(rc == want_rc && strstr(msg, must1) && (!must2 || strstr(msg, must2)), name,
        "rc %s (expected %s), message \"%s\" (must name '%s'%s%s)", dagr_strerror(rc),
        dagr_strerror(want_rc), msg, must1, must2 ? " and " : "", must2 ? must2 : "");
  still_works(name);
}

static void release_all(dagr_array_t **v, int n) {
  for (int i = 0; i < n; i++) dagr_array_release(v[i]);
}

static int64_t nchunks_of(dagr_array_t *a) {
  int nd = 0;
  int64_t total = 1, n = 0;
  dagr_array_info(a, NULL, &nd, NULL);
  for (int d = 0; d < nd; d++) {
    dagr_array_chunks(a, d, NULL, &n);
    total *= n;
  }
  return total;
}

#define SL(start, stop, step)                                                                      \
  { 0, 0, 1, 1, 1, start, stop, step }
#define ALL_                                                                                       \
  { 0, 0, 0, 0, 0, 0, 0, 0 }
#define STEP(step)                                                                                 \
  { 0, 0, 0, 0, 1, 0, 0, step }
#define INT(v)                                                                                     \
  { 1, v, 0, 0, 0, 0, 0, 0 }

int main(int argc, char **argv) {
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "array_h5: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/dagr-array-h5-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    printf("FAIL setup: mkdtemp(%s): %s\n0 passed, 1 failed\n", tmpdir, strerror(errno));
    dagr_set_exit_status(ctx, 1);
    dagr_finalize(ctx);
    return 1;
  }
  hid_t bt = bool_type();
  dagr_array_t *x300 = NULL, *xauto = NULL, *i999 = NULL, *k6 = NULL, *u128 = NULL, *b64 = NULL;

  /* ---- the input files ---- */
  ds_t X, XN, Y, I, K, U, B;
  {
    int64_t sx[2] = {1000, 700}, cx[2] = {128, 96};
    ds_init(&X, "f64.h5", "x", DAGR_DTYPE_FLOAT64, 2, sx);
    for (int64_t i = 0; i < X.n; i++) ((double *)X.raw)[i] = unif() * 10 - 5;
    ds_derive(&X);
    int ok = write_ds(P(X.file), X.name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, sx, cx, 4, X.raw);
    int64_t sn[2] = {200, 150}, cn[2] = {64, 64};
    ds_init(&XN, "f64.h5", "/grp/xnan", DAGR_DTYPE_FLOAT64, 2, sn);
    for (int64_t i = 0; i < XN.n; i++) ((double *)XN.raw)[i] = unif() - 0.5;
    static const int nanpos[][2] = {{3, 7}, {150, 7}, {10, 20}, {199, 149}, {64, 0}, {100, 100}};
    for (size_t q = 0; q < sizeof nanpos / sizeof nanpos[0]; q++)
      ((double *)XN.raw)[nanpos[q][0] * 150 + nanpos[q][1]] = NAN;
    ds_derive(&XN);
    ok |= write_ds(P(XN.file), XN.name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, sn, cn, 4, XN.raw);
    int64_t sy[2] = {513, 257};
    ds_init(&Y, "f32.h5", "y", DAGR_DTYPE_FLOAT32, 2, sy);
    for (int64_t i = 0; i < Y.n; i++) ((float *)Y.raw)[i] = (float)unif();
    ds_derive(&Y);
    ok |= write_ds(P(Y.file), Y.name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, sy, NULL, 0, Y.raw);
    int64_t si[1] = {10007}, ci[1] = {1000};
    ds_init(&I, "ints.h5", "i", DAGR_DTYPE_INT32, 1, si);
    for (int64_t i = 0; i < I.n; i++) ((int32_t *)I.raw)[i] = (int32_t)(uint32_t)(lcg() >> 10);
    ds_derive(&I);
    ok |= write_ds(P(I.file), I.name, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, si, ci, 0, I.raw);
    int64_t sk[3] = {20, 30, 17}, ck[3] = {7, 8, 5};
    ds_init(&K, "ints.h5", "k", DAGR_DTYPE_INT64, 3, sk);
    for (int64_t i = 0; i < K.n; i++) {
      int64_t v = (int64_t)(lcg() % 8);
      ((int64_t *)K.raw)[i] = v < 4 ? v - 4 : v - 3; /* -4..-1, 1..4 */
    }
    ds_derive(&K);
    ok |= write_ds(P(K.file), K.name, H5T_STD_I64LE, H5T_NATIVE_INT64, 3, sk, ck, 0, K.raw);
    int64_t su[2] = {300, 200}, cu[2] = {64, 50};
    ds_init(&U, "misc.h5", "u", DAGR_DTYPE_UINT8, 2, su);
    for (int64_t i = 0; i < U.n; i++) ((uint8_t *)U.raw)[i] = (uint8_t)(lcg() % 256);
    ds_derive(&U);
    ok |= write_ds(P(U.file), U.name, H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, su, cu, 4, U.raw);
    int64_t cb[2] = {100, 100};
    ds_init(&B, "misc.h5", "b", DAGR_DTYPE_BOOL, 2, su);
    for (int64_t i = 0; i < B.n; i++) ((uint8_t *)B.raw)[i] = lcg() % 10 < 3;
    ds_derive(&B);
    ok |= write_ds(P(B.file), B.name, bt, bt, 2, su, cb, 0, B.raw);
    /* Unsupported element types. */
    int16_t s16[10];
    for (int q = 0; q < 10; q++) s16[q] = (int16_t)(q - 5);
    int64_t s10[1] = {10}, s4[1] = {4};
    ok |= write_ds(P("misc.h5"), "s16", H5T_STD_I16LE, H5T_NATIVE_INT16, 1, s10, NULL, 0, s16);
    hid_t ct = H5Tcreate(H5T_COMPOUND, 12);
    H5Tinsert(ct, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(ct, "b", 4, H5T_NATIVE_DOUBLE);
    char cbuf[48] = {0};
    ok |= write_ds(P("misc.h5"), "cmp", ct, ct, 1, s4, NULL, 0, cbuf);
    H5Tclose(ct);
    /* A garbage file and a truncated copy of a valid one. */
    FILE *g = fopen(P("garbage.h5"), "wb");
    for (int q = 0; g && q < 5000; q++) fputc((int)(lcg() & 0xff), g);
    if (g) fclose(g);
    FILE *src = fopen(P("f64.h5"), "rb"), *dst = fopen(P("trunc.h5"), "wb");
    char blk[3000];
    size_t got = src ? fread(blk, 1, sizeof blk, src) : 0;
    if (dst) fwrite(blk, 1, got, dst);
    if (src) fclose(src);
    if (dst) fclose(dst);
    check(ok == 0 && got == sizeof blk, "input files written", "write_ds %d, %zu bytes copied", ok,
          got);
  }
  /* A dataset whose metadata is sound but whose chunk (1, 1) is garbage: from_hdf5 succeeds,
   * reading that chunk fails. The values compress well, so the deflate filter really applies. */
  int corrupt_ok = 0;
  {
    int64_t sc[2] = {200, 100}, cc[2] = {50, 50};
    double *c = malloc(sizeof(double) * 200 * 100);
    for (int q = 0; q < 200 * 100; q++) c[q] = q % 10;
    if (write_ds(P("corrupt.h5"), "c", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, sc, cc, 4, c) == 0) {
      hid_t f = H5Fopen(P("corrupt.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
      hid_t d = H5Dopen2(f, "c", H5P_DEFAULT);
      hsize_t off[2] = {50, 50};
      unsigned mask = 1;
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      herr_t e = H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size);
      H5Dclose(d);
      H5Fclose(f);
      if (e >= 0 && mask == 0 && addr != HADDR_UNDEF && size > 0) {
        FILE *fp = fopen(P("corrupt.h5"), "r+b");
        if (fp && fseek(fp, (long)addr, SEEK_SET) == 0) {
          for (hsize_t q = 0; q < size; q++) fputc(0xff, fp);
          corrupt_ok = 1;
        }
        if (fp) fclose(fp);
      }
    }
    free(c);
    check(corrupt_ok, "corrupt input written", "could not locate the compressed chunk");
  }

  /* The sanity array used after every error. */
  g_sane = open_h5(&U, NULL, "open misc.h5:u");
  for (int64_t i = 0; i < U.n; i++) g_sane_sum += U.iv[i];
  if (!g_sane) goto done;

  unsigned m2[] = {1, 2, 3};       /* axis 0, axis -1, all */
  unsigned m1[] = {1};             /* the one axis (= all) */
  unsigned m3[] = {1, 4, 5, 6, 7}; /* 0, -1, (0,2), (1,2), all */
  char lab[256], cl[64];

  /* ---- float64 2-D, chunked 128x96 with shuffle + gzip ---- */
  {
    int64_t variants[][2] = {{300, 250}, {0, 0}, {-1, 128}, {137, -1}, {128, 96}};
    for (int v = 0; v < 5; v++) {
      const int64_t *ch = v == 1 ? NULL : variants[v];
      chunk_label(2, ch, cl, sizeof cl);
      snprintf(lab, sizeof lab, "f64 x chunks=%s", cl);
      dagr_array_t *x = open_h5(&X, ch, lab);
      if (!x) continue;
      char name[300];
      snprintf(name, sizeof name, "%s compute", lab);
      expect_raw(x, name, &X);
      if (v < 2) {
        red_suite(lab, x, &X, m2, 3, R_ALLREDS & ~R_PROD, v == 0 ? 2 : 0);
      } else {
        red_suite(lab, x, &X, m2, 2, R_SUM | R_ARGMAX | R_VAR1, 0);
      }
      if (v == 0)
        x300 = x;
      else if (v == 1)
        xauto = x;
      else
        dagr_array_release(x);
    }
  }
  if (xauto) {
    int64_t n = 0;
    dagr_array_chunks(xauto, 0, NULL, &n);
    int64_t n1 = 0;
    dagr_array_chunks(xauto, 1, NULL, &n1);
    /* 5.6 MB is below the auto target: one chunk, made of whole HDF5 chunks. */
    check(n == 1 && n1 == 1, "f64 x auto chunks", "%lld x %lld blocks, expected 1 x 1",
          (long long)n, (long long)n1);
  }
  if (!x300) goto done;

  /* any/all over comparisons, prod over small values. */
  {
    dagr_array_t *gt = NULL, *lt = NULL, *sm = NULL, *sm1 = NULL;
    dagr_array_binary_scalar(DAGR_OP_GT, x300, 4.99, 0, &gt);
    dagr_array_binary_scalar(DAGR_OP_LT, x300, 4.9, 0, &lt);
    dagr_array_binary_scalar(DAGR_OP_DIV, x300, 1000, 0, &sm1);
    dagr_array_binary_scalar(DAGR_OP_ADD, sm1, 1, 0, &sm);
    ds_t G = X, L = X, S = X;
    G.dtype = L.dtype = DAGR_DTYPE_BOOL;
    G.dv = malloc(sizeof(double) * X.n), G.iv = malloc(sizeof(int64_t) * X.n);
    L.dv = malloc(sizeof(double) * X.n), L.iv = malloc(sizeof(int64_t) * X.n);
    S.dv = malloc(sizeof(double) * X.n);
    for (int64_t i = 0; i < X.n; i++) {
      G.iv[i] = X.dv[i] > 4.99, G.dv[i] = (double)G.iv[i];
      L.iv[i] = X.dv[i] < 4.9, L.dv[i] = (double)L.iv[i];
      S.dv[i] = X.dv[i] / 1000 + 1;
    }
    red_suite("f64 (x > 4.99)", gt, &G, m2, 3, R_ANY | R_ALL | R_SUM, 0);
    red_suite("f64 (x < 4.9)", lt, &L, m2, 3, R_ANY | R_ALL, 0);
    red_suite("f64 (1 + x/1000)", sm, &S, m2, 3, R_PROD, 0);
    free(G.dv), free(G.iv), free(L.dv), free(L.iv), free(S.dv);
    dagr_array_t *v[] = {gt, lt, sm, sm1};
    release_all(v, 4);
  }

  /* ---- float64 with NaN ---- */
  {
    int64_t variants[][2] = {{64, 64}, {45, -1}};
    for (int v = 0; v < 2; v++) {
      chunk_label(2, variants[v], cl, sizeof cl);
      snprintf(lab, sizeof lab, "f64 xnan chunks=%s", cl);
      dagr_array_t *x = open_h5(&XN, variants[v], lab);
      if (!x) continue;
      char name[300];
      snprintf(name, sizeof name, "%s compute", lab);
      expect_raw(x, name, &XN);
      red_suite(lab, x, &XN, m2, 3, R_ALLREDS & ~R_PROD & ~R_STD1, 0);
      dagr_array_release(x);
    }
  }

  /* ---- float32 2-D contiguous ---- */
  {
    int64_t variants[][2] = {{0, 0}, {100, 100}, {513, 60}};
    for (int v = 0; v < 3; v++) {
      const int64_t *ch = v == 0 ? NULL : variants[v];
      chunk_label(2, ch, cl, sizeof cl);
      snprintf(lab, sizeof lab, "f32 y chunks=%s", cl);
      dagr_array_t *y = open_h5(&Y, ch, lab);
      if (!y) continue;
      char name[300];
      snprintf(name, sizeof name, "%s compute", lab);
      expect_raw(y, name, &Y);
      red_suite(lab, y, &Y, m2, 3,
                v == 1 ? (R_ALLREDS & ~R_PROD) : (R_SUM | R_MEAN | R_MIN | R_STD), 0);
      dagr_array_release(y);
    }
  }

  /* ---- int32 1-D ---- */
  {
    int64_t variants[][1] = {{0}, {999}, {-1}, {3000}};
    for (int v = 0; v < 4; v++) {
      const int64_t *ch = v == 0 ? NULL : variants[v];
      chunk_label(1, ch, cl, sizeof cl);
      snprintf(lab, sizeof lab, "i32 i chunks=%s", cl);
      dagr_array_t *a = open_h5(&I, ch, lab);
      if (!a) continue;
      char name[300];
      snprintf(name, sizeof name, "%s compute", lab);
      expect_raw(a, name, &I);
      red_suite(lab, a, &I, m1, 1, v == 1 || v == 3 ? (R_ALLREDS & ~R_PROD) : (R_SUM | R_ARGMIN),
                v == 1 ? 3 : 0);
      if (v == 1)
        i999 = a;
      else
        dagr_array_release(a);
    }
  }

  /* ---- int64 3-D ---- */
  {
    int64_t variants[][3] = {{7, 8, 5}, {0, 0, 0}, {6, -1, 4}, {20, 7, 17}};
    for (int v = 0; v < 4; v++) {
      const int64_t *ch = v == 1 ? NULL : variants[v];
      chunk_label(3, ch, cl, sizeof cl);
      snprintf(lab, sizeof lab, "i64 k chunks=%s", cl);
      dagr_array_t *a = open_h5(&K, ch, lab);
      if (!a) continue;
      char name[300];
      snprintf(name, sizeof name, "%s compute", lab);
      expect_raw(a, name, &K);
      red_suite(lab, a, &K, m3, 5,
                v == 2 ? R_ALLREDS : (R_SUM | R_PROD | R_MIN | R_ARGMAX | R_MEAN | R_ALL), 0);
      if (v == 2)
        k6 = a;
      else
        dagr_array_release(a);
    }
  }

  /* ---- uint8 and bool ---- */
  {
    int64_t cu[2] = {128, 77}, cb[2] = {64, 64};
    red_suite("u8 u chunks=auto", g_sane, &U, m2, 3, R_SUM | R_MAX | R_ARGMIN | R_MEAN, 0);
    expect_raw(g_sane, "u8 u chunks=auto compute", &U);
    u128 = open_h5(&U, cu, "u8 u chunks=128x77");
    if (u128) {
      expect_raw(u128, "u8 u chunks=128x77 compute", &U);
      red_suite("u8 u chunks=128x77", u128, &U, m2, 3, R_ALLREDS, 0);
    }
    dagr_array_t *ba = open_h5(&B, NULL, "bool b chunks=auto");
    if (ba) {
      expect_raw(ba, "bool b chunks=auto compute", &B);
      red_suite("bool b chunks=auto", ba, &B, m2, 3, R_ANY | R_ALL | R_SUM | R_ARGMAX, 0);
      dagr_array_release(ba);
    }
    b64 = open_h5(&B, cb, "bool b chunks=64x64");
    if (b64) {
      expect_raw(b64, "bool b chunks=64x64 compute", &B);
      red_suite("bool b chunks=64x64", b64, &B, m2, 3,
                R_ANY | R_ALL | R_SUM | R_MIN | R_MAX | R_ARGMIN | R_MEAN, 0);
    }
  }

  const int64_t R = 1000, C = 700;
  const double *xv = X.dv;
  double *want = malloc(sizeof(double) * (size_t)(R * C));
  int64_t *wanti = malloc(sizeof(int64_t) * (size_t)(R * C));
  int64_t sx[2] = {R, C};

  /* ---- elementwise chains ---- */
  {
    dagr_array_t *mu = NULL, *sd = NULL, *d = NULL, *nrm = NULL;
    int ax0[1] = {0};
    dagr_array_reduce(DAGR_RED_MEAN, x300, 1, ax0, 0, 0, 0, &mu);
    dagr_array_reduce(DAGR_RED_STD, x300, 1, ax0, 0, 0, 0, &sd);
    dagr_array_binary(DAGR_OP_SUB, x300, mu, &d);
    dagr_array_binary(DAGR_OP_DIV, d, sd, &nrm);
    for (int64_t j = 0; j < C; j++) {
      double m = 0, v = 0;
      for (int64_t i = 0; i < R; i++) m += xv[i * C + j];
      m /= (double)R;
      for (int64_t i = 0; i < R; i++) v += (xv[i * C + j] - m) * (xv[i * C + j] - m);
      v = sqrt(v / (double)R);
      for (int64_t i = 0; i < R; i++) want[i * C + j] = (xv[i * C + j] - m) / v;
    }
    expect_arr(nrm, "f64 (x - mean(x, 0)) / std(x, 0)", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL,
               1e-12);
    /* Broadcasting a keepdims row reduction along the other axis. */
    dagr_array_t *rm = NULL, *mx = NULL;
    int ax1[1] = {1};
    dagr_array_reduce(DAGR_RED_MEAN, x300, 1, ax1, 1, 0, 0, &rm);
    dagr_array_binary(DAGR_OP_MAXIMUM, x300, rm, &mx);
    for (int64_t i = 0; i < R; i++) {
      double m = 0;
      for (int64_t j = 0; j < C; j++) m += xv[i * C + j];
      m /= (double)C;
      for (int64_t j = 0; j < C; j++) want[i * C + j] = fmax(xv[i * C + j], m);
    }
    expect_arr(mx, "f64 maximum(x, mean(x, 1, keepdims))", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL,
               1e-12);
    dagr_array_t *v[] = {mu, sd, d, nrm, rm, mx};
    release_all(v, 6);
  }
  {
    dagr_array_t *gt = NULL, *zero = NULL, *wh = NULL, *c03 = NULL, *mn = NULL, *ab = NULL,
                 *sq = NULL, *ex = NULL, *ab1 = NULL, *lg = NULL, *ng = NULL;
    dagr_array_binary_scalar(DAGR_OP_GT, x300, 1.5, 0, &gt);
    dagr_array_scalar(ctx, DAGR_DTYPE_FLOAT64, 0, &zero);
    dagr_array_where(gt, x300, zero, &wh);
    for (int64_t i = 0; i < R * C; i++) want[i] = xv[i] > 1.5 ? xv[i] : 0;
    expect_arr(wh, "f64 where(x > 1.5, x, 0)", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL, 0);
    dagr_array_scalar(ctx, DAGR_DTYPE_FLOAT64, 0.3, &c03);
    dagr_array_binary(DAGR_OP_MINIMUM, x300, c03, &mn);
    for (int64_t i = 0; i < R * C; i++) want[i] = fmin(xv[i], 0.3);
    expect_arr(mn, "f64 minimum(x, 0.3)", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL, 0);
    dagr_array_unary(DAGR_OP_ABS, x300, &ab);
    dagr_array_unary(DAGR_OP_SQRT, ab, &sq);
    for (int64_t i = 0; i < R * C; i++) want[i] = sqrt(fabs(xv[i]));
    expect_arr(sq, "f64 sqrt(abs(x))", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL, 0);
    dagr_array_unary(DAGR_OP_EXP, x300, &ex);
    for (int64_t i = 0; i < R * C; i++) want[i] = exp(xv[i]);
    expect_arr(ex, "f64 exp(x)", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL, 1e-15);
    dagr_array_binary_scalar(DAGR_OP_ADD, ab, 0.5, 0, &ab1);
    dagr_array_unary(DAGR_OP_LOG, ab1, &lg);
    for (int64_t i = 0; i < R * C; i++) want[i] = log(fabs(xv[i]) + 0.5);
    expect_arr(lg, "f64 log(abs(x) + 0.5)", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL, 1e-15);
    dagr_array_unary(DAGR_OP_NEG, x300, &ng);
    for (int64_t i = 0; i < R * C; i++) want[i] = -xv[i];
    expect_arr(ng, "f64 -x", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL, 0);
    dagr_array_t *v[] = {gt, zero, wh, c03, mn, ab, sq, ex, ab1, lg, ng};
    release_all(v, 11);
  }
  /* NaN through elementwise ops: NaN > 0 is false, maximum propagates NaN. */
  {
    dagr_array_t *xn = open_h5(&XN, NULL, "f64 xnan chunks=auto");
    if (xn) {
      dagr_array_t *gt = NULL, *mx = NULL, *c0 = NULL;
      int64_t sn[2] = {200, 150};
      dagr_array_binary_scalar(DAGR_OP_GT, xn, 0, 0, &gt);
      for (int64_t i = 0; i < XN.n; i++) wanti[i] = XN.dv[i] > 0;
      expect_arr(gt, "f64 xnan > 0 (NaN compares false)", DAGR_DTYPE_BOOL, 2, sn, NULL, wanti, 0);
      dagr_array_scalar(ctx, DAGR_DTYPE_FLOAT64, 0, &c0);
      dagr_array_binary(DAGR_OP_MAXIMUM, xn, c0, &mx);
      for (int64_t i = 0; i < XN.n; i++) want[i] = isnan(XN.dv[i]) ? NAN : fmax(XN.dv[i], 0);
      expect_arr(mx, "f64 maximum(xnan, 0) propagates NaN", DAGR_DTYPE_FLOAT64, 2, sn, want, NULL,
                 0);
      dagr_array_t *v[] = {gt, mx, c0, xn};
      release_all(v, 4);
    }
  }
  /* Integer semantics. */
  if (i999) {
    int64_t si[1] = {10007};
    const int32_t *iv = I.raw;
    dagr_array_t *m3x = NULL, *p7 = NULL, *ii = NULL, *rev = NULL, *dv = NULL, *cmp = NULL,
                 *half = NULL;
    dagr_array_binary_scalar(DAGR_OP_MUL, i999, 3, 0, &m3x);
    dagr_array_binary_scalar(DAGR_OP_ADD, m3x, 7, 0, &p7);
    for (int64_t q = 0; q < I.n; q++) wanti[q] = (int32_t)((uint32_t)iv[q] * 3u + 7u);
    expect_arr(p7, "i32 i * 3 + 7 wraps like NumPy", DAGR_DTYPE_INT32, 1, si, NULL, wanti, 0);
    dagr_array_binary(DAGR_OP_ADD, i999, i999, &ii);
    for (int64_t q = 0; q < I.n; q++) wanti[q] = (int32_t)((uint32_t)iv[q] * 2u);
    expect_arr(ii, "i32 i + i wraps", DAGR_DTYPE_INT32, 1, si, NULL, wanti, 0);
    /* Operands of a binary op must share chunks: the whole-axis chunking reverses onto itself. */
    int64_t whole[1] = {-1};
    dagr_array_t *iw = open_h5(&I, whole, "i32 i chunks=-1");
    dagr_index_t rv[1] = {STEP(-1)};
    dagr_array_index(iw, 1, rv, &rev);
    dagr_array_binary(DAGR_OP_DIV, iw, rev, &dv);
    for (int64_t q = 0; q < I.n; q++) want[q] = (double)iv[q] / (double)iv[I.n - 1 - q];
    expect_arr(dv, "i32 i / i[::-1] is float64", DAGR_DTYPE_FLOAT64, 1, si, want, NULL, 0);
    dagr_array_binary_scalar(DAGR_OP_DIV, i999, 2, 0, &half);
    for (int64_t q = 0; q < I.n; q++) want[q] = (double)iv[q] / 2;
    expect_arr(half, "i32 i / 2 is float64", DAGR_DTYPE_FLOAT64, 1, si, want, NULL, 0);
    dagr_array_binary(DAGR_OP_LT, iw, rev, &cmp);
    for (int64_t q = 0; q < I.n; q++) wanti[q] = iv[q] < iv[I.n - 1 - q];
    expect_arr(cmp, "i32 i < i[::-1] is bool", DAGR_DTYPE_BOOL, 1, si, NULL, wanti, 0);
    dagr_array_t *v[] = {m3x, p7, ii, rev, dv, cmp, half, iw};
    release_all(v, 8);
  }
  if (u128 && b64) {
    int64_t su[2] = {300, 200};
    const uint8_t *uv = U.raw, *bv = B.raw;
    dagr_array_t *uu = NULL, *u2 = NULL, *z = NULL, *wh = NULL, *xs = NULL, *xf = NULL, *ys = NULL,
                 *yu = NULL, *y32 = NULL;
    int64_t c64[2] = {64, 64}, cw[2] = {-1, -1};
    dagr_array_t *u64 = open_h5(&U, c64, "u8 u chunks=64x64"),
                 *uw = open_h5(&U, cw, "u8 u chunks=-1x-1");
    dagr_array_binary(DAGR_OP_ADD, u128, u128, &uu);
    for (int64_t q = 0; q < U.n; q++) wanti[q] = (uint8_t)(uv[q] + uv[q]);
    expect_arr(uu, "u8 u + u wraps (uint8)", DAGR_DTYPE_UINT8, 2, su, NULL, wanti, 0);
    dagr_array_binary_scalar(DAGR_OP_MUL, u128, 3, 0, &u2);
    for (int64_t q = 0; q < U.n; q++) wanti[q] = (uint8_t)(uv[q] * 3);
    expect_arr(u2, "u8 u * 3 stays uint8", DAGR_DTYPE_UINT8, 2, su, NULL, wanti, 0);
    dagr_array_scalar(ctx, DAGR_DTYPE_UINT8, 0, &z);
    dagr_array_where(b64, u64, z, &wh);
    for (int64_t q = 0; q < U.n; q++) wanti[q] = bv[q] ? uv[q] : 0;
    expect_arr(wh, "where(b, u, 0)", DAGR_DTYPE_UINT8, 2, su, NULL, wanti, 0);
    /* Mixed dtypes: float64 * uint8 -> float64; float32 + uint8 -> float32. */
    dagr_index_t top[2] = {SL(0, 300, 1), SL(0, 200, 1)};
    dagr_array_index(x300, 2, top, &xs);
    dagr_array_binary(DAGR_OP_MUL, xs, uw, &xf);
    for (int64_t i = 0; i < 300; i++)
      for (int64_t j = 0; j < 200; j++) want[i * 200 + j] = xv[i * C + j] * uv[i * 200 + j];
    expect_arr(xf, "f64 x[:300, :200] * u is float64", DAGR_DTYPE_FLOAT64, 2, su, want, NULL, 0);
    dagr_array_t *yy = open_h5(&Y, NULL, "f32 y chunks=auto");
    if (yy) {
      dagr_array_index(yy, 2, top, &ys);
      dagr_array_binary(DAGR_OP_ADD, ys, uw, &yu);
      const float *yv = Y.raw;
      for (int64_t i = 0; i < 300; i++)
        for (int64_t j = 0; j < 200; j++)
          want[i * 200 + j] = (double)(yv[i * 257 + j] + (float)uv[i * 200 + j]);
      expect_arr(yu, "f32 y[:300, :200] + u is float32", DAGR_DTYPE_FLOAT32, 2, su, want, NULL, 0);
      dagr_array_binary(DAGR_OP_MUL, ys, xs, &y32);
      for (int64_t i = 0; i < 300; i++)
        for (int64_t j = 0; j < 200; j++)
          want[i * 200 + j] = (double)yv[i * 257 + j] * xv[i * C + j];
      expect_arr(y32, "f32 * f64 is float64", DAGR_DTYPE_FLOAT64, 2, su, want, NULL, 0);
      dagr_array_t *v[] = {yy, ys, yu, y32};
      release_all(v, 4);
    }
    dagr_array_t *v[] = {uu, u2, z, wh, xs, xf, u64, uw};
    release_all(v, 8);
  }

  /* ---- transpose and slicing ---- */
  {
    dagr_array_t *t = NULL, *s = NULL;
    dagr_array_transpose(x300, NULL, &t);
    for (int64_t i = 0; i < R; i++)
      for (int64_t j = 0; j < C; j++) want[j * R + i] = xv[i * C + j];
    int64_t st[2] = {C, R};
    expect_arr(t, "f64 x.T", DAGR_DTYPE_FLOAT64, 2, st, want, NULL, 0);
    dagr_array_release(t);
    if (k6) {
      int perm[3] = {2, 0, 1};
      dagr_array_transpose(k6, perm, &t);
      for (int64_t a = 0; a < 20; a++)
        for (int64_t b = 0; b < 30; b++)
          for (int64_t c = 0; c < 17; c++)
            wanti[(c * 20 + a) * 30 + b] = K.iv[(a * 30 + b) * 17 + c];
      int64_t sk[3] = {17, 20, 30};
      expect_arr(t, "i64 k.transpose(2, 0, 1)", DAGR_DTYPE_INT64, 3, sk, NULL, wanti, 0);
      dagr_array_release(t);
    }
    /* x[3:900:7, ::3] */
    dagr_index_t i1[2] = {SL(3, 900, 7), STEP(3)};
    int64_t n = 0;
    for (int64_t i = 3; i < 900; i += 7)
      for (int64_t j = 0; j < C; j += 3) want[n++] = xv[i * C + j];
    int64_t s1[2] = {(900 - 3 + 6) / 7, (C + 2) / 3};
    dagr_array_t *srcs[2] = {x300, xauto};
    const char *names[2] = {"300x250", "auto"};
    for (int v = 0; v < 2; v++) {
      if (!srcs[v]) continue;
      char name[128];
      snprintf(name, sizeof name, "f64 x[3:900:7, ::3] chunks=%s", names[v]);
      if (dagr_array_index(srcs[v], 2, i1, &s) == 0) {
        expect_arr(s, name, DAGR_DTYPE_FLOAT64, 2, s1, want, NULL, 0);
        size_t nt = 0;
        dagr_array_task_count(s, &nt);
        snprintf(name, sizeof name, "f64 x[3:900:7, ::3] chunks=%s only read tasks", names[v]);
        check((int64_t)nt == nchunks_of(s), name, "%zu tasks vs expected %lld (one read per chunk)",
              nt, (long long)nchunks_of(s));
        dagr_array_release(s);
      } else {
        check(0, name, "index failed: %s", dagr_last_error(ctx));
      }
    }
    /* x[-1] */
    dagr_index_t i2[1] = {INT(-1)};
    dagr_array_index(x300, 1, i2, &s);
    int64_t s2[1] = {C};
    expect_arr(s, "f64 x[-1]", DAGR_DTYPE_FLOAT64, 1, s2, xv + (R - 1) * C, NULL, 0);
    dagr_array_release(s);
    /* x[::-1, 5] */
    dagr_index_t i3[2] = {STEP(-1), INT(5)};
    dagr_array_index(x300, 2, i3, &s);
    for (int64_t i = 0; i < R; i++) want[i] = xv[(R - 1 - i) * C + 5];
    int64_t s3[1] = {R};
    expect_arr(s, "f64 x[::-1, 5]", DAGR_DTYPE_FLOAT64, 1, s3, want, NULL, 0);
    size_t nt = 0;
    dagr_array_task_count(s, &nt);
    check((int64_t)nt > nchunks_of(s), "f64 x[::-1, 5] negative step is not pushed into reads",
          "%zu tasks vs more than %lld expected", nt, (long long)nchunks_of(s));
    dagr_array_release(s);
    /* Task counts: positive steps read straight from the file. */
    dagr_index_t i4[2] = {SL(0, 100, 2), SL(10, 20, 1)};
    dagr_array_index(x300, 2, i4, &s);
    dagr_array_task_count(s, &nt);
    check((int64_t)nt == nchunks_of(s), "f64 x[0:100:2, 10:20] task count = output chunks",
          "%zu tasks vs expected %lld", nt, (long long)nchunks_of(s));
    n = 0;
    for (int64_t i = 0; i < 100; i += 2)
      for (int64_t j = 10; j < 20; j++) want[n++] = xv[i * C + j];
    int64_t s4[2] = {50, 10};
    expect_arr(s, "f64 x[0:100:2, 10:20]", DAGR_DTYPE_FLOAT64, 2, s4, want, NULL, 0);
    dagr_array_release(s);
    dagr_index_t i5[1] = {INT(-1)};
    dagr_array_index(x300, 1, i5, &s);
    dagr_array_task_count(s, &nt);
    check((int64_t)nt == nchunks_of(s), "f64 x[-1] task count = output chunks",
          "%zu tasks vs expected %lld", nt, (long long)nchunks_of(s));
    dagr_array_release(s);
    if (k6) {
      /* k[1:19:2, -1, ::-2] and k[2:15:3, :, 4:] */
      dagr_index_t i6[3] = {SL(1, 19, 2), INT(-1), STEP(-2)};
      dagr_array_index(k6, 3, i6, &s);
      n = 0;
      for (int64_t a = 1; a < 19; a += 2)
        for (int64_t c = 16; c >= 0; c -= 2) wanti[n++] = K.iv[(a * 30 + 29) * 17 + c];
      int64_t s6[2] = {9, 9};
      expect_arr(s, "i64 k[1:19:2, -1, ::-2]", DAGR_DTYPE_INT64, 2, s6, NULL, wanti, 0);
      dagr_array_release(s);
      dagr_index_t i7[3] = {SL(2, 15, 3), ALL_, SL(4, 17, 1)};
      dagr_array_index(k6, 3, i7, &s);
      n = 0;
      for (int64_t a = 2; a < 15; a += 3)
        for (int64_t b = 0; b < 30; b++)
          for (int64_t c = 4; c < 17; c++) wanti[n++] = K.iv[(a * 30 + b) * 17 + c];
      int64_t s7[3] = {5, 30, 13};
      expect_arr(s, "i64 k[2:15:3, :, 4:]", DAGR_DTYPE_INT64, 3, s7, NULL, wanti, 0);
      dagr_array_task_count(s, &nt);
      check((int64_t)nt == nchunks_of(s), "i64 k[2:15:3, :, 4:] task count = output chunks",
            "%zu tasks vs expected %lld", nt, (long long)nchunks_of(s));
      dagr_array_release(s);
    }
    if (i999) {
      dagr_index_t i8[1] = {STEP(-7)};
      dagr_array_index(i999, 1, i8, &s);
      n = 0;
      for (int64_t q = I.n - 1; q >= 0; q -= 7) wanti[n++] = I.iv[q];
      int64_t s8[1] = {n};
      expect_arr(s, "i32 i[::-7]", DAGR_DTYPE_INT32, 1, s8, NULL, wanti, 0);
      dagr_array_release(s);
    }
  }

  /* ---- store ---- */
  {
    const char *out = P("out.h5");
    char parts[1400];
    snprintf(parts, sizeof parts, "%s.parts", out);
    dagr_array_t *mu = NULL, *sd = NULL, *d = NULL, *nrm = NULL, *x2 = NULL;
    int ax0[1] = {0};
    dagr_array_reduce(DAGR_RED_MEAN, x300, 1, ax0, 0, 0, 0, &mu);
    dagr_array_reduce(DAGR_RED_STD, x300, 1, ax0, 0, 0, 0, &sd);
    dagr_array_binary(DAGR_OP_SUB, x300, mu, &d);
    dagr_array_binary(DAGR_OP_DIV, d, sd, &nrm);
    dagr_result_t nr;
    if (!compute(nrm, "store: compute norm", &nr)) {
      int rc = dagr_array_store(nrm, out, "norm", 0);
      check(rc == 0, "store norm gzip 0", "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
      expect_file("store norm gzip 0 read back", out, "norm", DAGR_DTYPE_FLOAT64, R * C, nr.data,
                  H5T_FLOAT);
      rc = dagr_array_store(xauto ? xauto : x300, out, "/g/x", 4);
      check(rc == 0, "store /g/x gzip 4 into the same file", "%s: %s", dagr_strerror(rc),
            dagr_last_error(ctx));
      expect_file("store /g/x read back", out, "/g/x", DAGR_DTYPE_FLOAT64, R * C, X.raw, H5T_FLOAT);
      expect_file("store norm still there after /g/x", out, "norm", DAGR_DTYPE_FLOAT64, R * C,
                  nr.data, H5T_FLOAT);
      /* Re-store norm with new data: its old part files go, /g/x keeps its own (part files are
       * named after the dataset with bytes other than [A-Za-z0-9.-] as _XX: "/g/x" -> g_2Fx). */
      char before[8192], after[8192], gx_before[8192], gx_after[8192];
      int nb = list_prefix(parts, "norm@", before, sizeof before);
      list_prefix(parts, "g_2Fx@", gx_before, sizeof gx_before);
      dagr_array_binary_scalar(DAGR_OP_MUL, x300, 2, 0, &x2);
      rc = dagr_array_store(x2, out, "norm", 4);
      check(rc == 0, "re-store norm", "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
      int na = list_prefix(parts, "norm@", after, sizeof after);
      list_prefix(parts, "g_2Fx@", gx_after, sizeof gx_after);
      check(nb > 0 && na > 0 && !any_common(before, after), "re-store removes old part files",
            "%d part files before (%s), %d after (%s)", nb, before, na, after);
      check(strcmp(gx_before, gx_after) == 0 && gx_before[0],
            "re-store keeps other datasets' parts", "g_x parts before %s, after %s", gx_before,
            gx_after);
      for (int64_t i = 0; i < R * C; i++) want[i] = xv[i] * 2;
      expect_file("re-stored norm holds the new data", out, "norm", DAGR_DTYPE_FLOAT64, R * C, want,
                  H5T_FLOAT);
      expect_file("/g/x intact after re-store of norm", out, "/g/x", DAGR_DTYPE_FLOAT64, R * C,
                  X.raw, H5T_FLOAT);
      /* The output read by dagr itself (a virtual dataset over the parts). */
      dagr_array_t *back = NULL;
      int64_t cb[2] = {333, 333};
      rc = dagr_array_from_hdf5(ctx, out, "norm", cb, &back);
      if (rc == 0) {
        expect_arr(back, "from_hdf5 of the stored VDS", DAGR_DTYPE_FLOAT64, 2, sx, want, NULL, 0);
        dagr_array_release(back);
      } else {
        check(0, "from_hdf5 of the stored VDS", "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
      }
      /* "g_x" and "/g/x" are different datasets: storing one must not touch the other. */
      dagr_array_t *gxs = NULL;
      dagr_index_t top[2] = {SL(0, 10, 1), SL(0, 10, 1)};
      dagr_array_index(x300, 2, top, &gxs);
      rc = dagr_array_store(gxs, out, "g_x", 0);
      check(rc == 0, "store g_x next to /g/x", "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
      expect_file("/g/x intact after storing g_x", out, "/g/x", DAGR_DTYPE_FLOAT64, R * C, X.raw,
                  H5T_FLOAT);
      dagr_array_release(gxs);
      int fz = parts_deflate(parts, "g_5Fx", "g_x"), fn = parts_deflate(parts, "norm", "norm");
      check(
          fz == 0 && fn == 1, "part files: deflate with gzip 4, none with gzip 0",
          "g_x (gzip 0) deflate %d, norm (gzip 4) deflate %d (1 all, 0 none, 2 mixed, -1 no part)",
          fz, fn);
      /* Re-storing a name with another dtype and shape replaces the dataset. */
      if (i999) {
        rc = dagr_array_store(i999, out, "norm", 0);
        check(rc == 0, "re-store norm as int32 1-D", "%s: %s", dagr_strerror(rc),
              dagr_last_error(ctx));
        expect_file("re-stored norm is the int32 data", out, "norm", DAGR_DTYPE_INT32, I.n, I.raw,
                    H5T_INTEGER);
      }
      dagr_result_release(&nr);
    }
    dagr_array_t *v[] = {mu, sd, d, nrm, x2};
    release_all(v, 5);

    /* A slice whose chunks do not divide the shape. */
    dagr_index_t i1[2] = {SL(3, 900, 7), STEP(3)};
    dagr_array_t *s = NULL;
    dagr_array_index(x300, 2, i1, &s);
    int64_t n = 0;
    for (int64_t i = 3; i < 900; i += 7)
      for (int64_t j = 0; j < C; j += 3) want[n++] = xv[i * C + j];
    int rc = dagr_array_store(s, P("slice.h5"), "s", 4);
    check(rc == 0, "store x[3:900:7, ::3]", "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
    expect_file("store x[3:900:7, ::3] read back", P("slice.h5"), "s", DAGR_DTYPE_FLOAT64, n, want,
                H5T_FLOAT);
    dagr_array_release(s);

    /* Every dtype. */
    struct {
      dagr_array_t *a;
      const ds_t *s;
      int gzip, cls;
    } all[] = {{i999, &I, 0, H5T_INTEGER},
               {k6, &K, 4, H5T_INTEGER},
               {u128, &U, 4, H5T_INTEGER},
               {b64, &B, 0, H5T_ENUM},
               {NULL, &Y, 4, H5T_FLOAT}};
    dagr_array_t *yy = open_h5(&Y, (const int64_t[]){100, 100}, "f32 y chunks=100x100");
    all[4].a = yy;
    for (int q = 0; q < 5; q++) {
      if (!all[q].a) continue;
      char name[128];
      snprintf(name, sizeof name, "store %s %s gzip %d", dagr_dtype_name(all[q].s->dtype),
               all[q].s->name, all[q].gzip);
      rc = dagr_array_store(all[q].a, P("types.h5"), all[q].s->name, all[q].gzip);
      check(rc == 0, name, "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
      snprintf(name, sizeof name, "store %s read back", dagr_dtype_name(all[q].s->dtype));
      expect_file(name, P("types.h5"), all[q].s->name, all[q].s->dtype, all[q].s->n, all[q].s->raw,
                  all[q].cls);
      snprintf(name, sizeof name, "store %s gzip %d: part files %s", all[q].s->name, all[q].gzip,
               all[q].gzip ? "deflated" : "not deflated");
      int fd = parts_deflate(P("types.h5.parts"), all[q].s->name, all[q].s->name);
      check(fd == (all[q].gzip > 0), name, "deflate %d (1 all, 0 none, 2 mixed, -1 no part)", fd);
    }
    dagr_array_release(yy);
    /* The stored bool dataset reads back through dagr as bool. */
    dagr_array_t *bb = NULL;
    rc = dagr_array_from_hdf5(ctx, P("types.h5"), "b", NULL, &bb);
    if (rc == 0) {
      expect_raw(bb, "stored bool read by dagr", &B);
      dagr_array_release(bb);
    } else {
      check(0, "stored bool read by dagr", "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
    }
  }

  /* ---- edge cases ---- */
  {
    dagr_array_t *e = NULL, *es = NULL, *big = NULL;
    dagr_index_t i0[1] = {SL(5, 5, 1)};
    dagr_array_index(x300, 1, i0, &e);
    int64_t s0[2] = {0, C};
    expect_arr(e, "f64 x[5:5] is empty", DAGR_DTYPE_FLOAT64, 2, s0, want, NULL, 0);
    int ax0[1] = {0};
    dagr_array_reduce(DAGR_RED_SUM, e, 1, ax0, 0, 0, 0, &es);
    for (int64_t j = 0; j < C; j++) want[j] = 0;
    int64_t s1[1] = {C};
    expect_arr(es, "f64 sum(x[5:5], 0) is zeros", DAGR_DTYPE_FLOAT64, 1, s1, want, NULL, 0);
    int64_t cbig[2] = {5000, 800};
    big = open_h5(&X, cbig, "f64 x chunks=5000x800");
    if (big) {
      int64_t n0 = 0, n1 = 0;
      dagr_array_chunks(big, 0, NULL, &n0);
      dagr_array_chunks(big, 1, NULL, &n1);
      check(n0 == 1 && n1 == 1, "f64 x chunks larger than the shape: one block", "%lld x %lld",
            (long long)n0, (long long)n1);
      expect_raw(big, "f64 x chunks=5000x800 compute", &X);
    }
    dagr_array_t *v[] = {e, es, big};
    release_all(v, 3);
    /* An input file replaced between computes is read afresh. */
    int64_t sm[1] = {1000}, cm[1] = {100};
    int32_t *mv = malloc(sizeof(int32_t) * 1000);
    int64_t sum1 = 0, sum2 = 0;
    for (int q = 0; q < 1000; q++) mv[q] = q, sum1 += q;
    write_ds(P("mut.h5"), "m", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, sm, cm, 0, mv);
    dagr_array_t *m = NULL, *ms = NULL;
    dagr_array_from_hdf5(ctx, P("mut.h5"), "m", NULL, &m);
    dagr_array_reduce(DAGR_RED_SUM, m, 0, NULL, 0, 0, 0, &ms);
    dagr_result_t r;
    int64_t got1 = -1, got2 = -1;
    if (!compute(ms, "sum of mut.h5:m", &r)) dagr_result_int64(&r, &got1), dagr_result_release(&r);
    for (int q = 0; q < 1000; q++) mv[q] = 2 * q + 1, sum2 += 2 * q + 1;
    write_ds(P("mut2.h5"), "m", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, sm, cm, 0, mv);
    rename(P("mut2.h5"), P("mut.h5"));
    if (!compute(ms, "sum of replaced mut.h5:m", &r))
      dagr_result_int64(&r, &got2), dagr_result_release(&r);
    check(got1 == sum1 && got2 == sum2, "an input file replaced between computes is reread",
          "sums %lld then %lld, expected %lld then %lld", (long long)got1, (long long)got2,
          (long long)sum1, (long long)sum2);
    free(mv);
    dagr_array_release(m);
    dagr_array_release(ms);
    /* keepdims on a tuple of axes, and split_every 2 on 3-D. */
    if (k6) {
      dagr_array_t *kd = NULL;
      int axes[2] = {0, 2};
      dagr_array_reduce(DAGR_RED_SUM, k6, 2, axes, 1, 2, 0, &kd);
      for (int64_t b = 0; b < 30; b++) {
        int64_t t = 0;
        for (int64_t a = 0; a < 20; a++)
          for (int64_t c = 0; c < 17; c++) t += K.iv[(a * 30 + b) * 17 + c];
        wanti[b] = t;
      }
      int64_t sk[3] = {1, 30, 1};
      expect_arr(kd, "i64 sum(k, (0, 2), keepdims, split_every=2)", DAGR_DTYPE_INT64, 3, sk, NULL,
                 wanti, 0);
      dagr_array_release(kd);
    }
  }

  /* ---- errors: each names the operand, and the context keeps working ---- */
  {
    dagr_array_t *a = NULL;
    int rc = dagr_array_from_hdf5(ctx, P("nope.h5"), "x", NULL, &a);
    expect_error(rc, DAGR_EIO, "missing file is DAGR_EIO", "nope.h5", NULL);
    rc = dagr_array_from_hdf5(ctx, P("f64.h5"), "nothere", NULL, &a);
    expect_error(rc, DAGR_ENOENT, "missing dataset is DAGR_ENOENT", "nothere", "f64.h5");
    rc = dagr_array_from_hdf5(ctx, P("misc.h5"), "s16", NULL, &a);
    expect_error(rc, DAGR_ETYPE, "int16 dataset is DAGR_ETYPE", "s16", "int16");
    rc = dagr_array_from_hdf5(ctx, P("misc.h5"), "cmp", NULL, &a);
    expect_error(rc, DAGR_ETYPE, "compound dataset is DAGR_ETYPE", "cmp", "compound");
    rc = dagr_array_from_hdf5(ctx, P("garbage.h5"), "x", NULL, &a);
    expect_error(rc, DAGR_EIO, "garbage file is DAGR_EIO", "garbage.h5", NULL);
    rc = dagr_array_from_hdf5(ctx, P("trunc.h5"), "x", NULL, &a);
    expect_error(rc, DAGR_EIO, "truncated file is DAGR_EIO", "trunc.h5", NULL);
    rc = dagr_array_from_hdf5(ctx, P("f64.h5"), "grp", NULL, &a);
    expect_error(rc, DAGR_ETYPE, "a group is not a dataset (DAGR_ETYPE)", "grp", NULL);
    int64_t badch[2] = {-2, 5};
    rc = dagr_array_from_hdf5(ctx, P("f64.h5"), "x", badch, &a);
    expect_error(rc, DAGR_EINVAL, "chunks -2 is DAGR_EINVAL", "-2", NULL);
    rc = dagr_array_store(x300, P("nodir/out.h5"), "x", 0);
    expect_error(rc, DAGR_EIO, "store into a missing directory is DAGR_EIO", "nodir", NULL);
    check(access(P("nodir"), F_OK) != 0, "store into a missing directory creates nothing",
          "%s exists", P("nodir"));
    rc = dagr_array_store(x300, P("g9.h5"), "x", 10);
    expect_error(rc, DAGR_EINVAL, "store gzip 10 is DAGR_EINVAL", "10", NULL);
    int axes[2] = {0, 1};
    rc = dagr_array_reduce(DAGR_RED_ARGMAX, x300, 2, axes, 0, 0, 0, &a);
    expect_error(rc, DAGR_EINVAL, "argmax over two axes is DAGR_EINVAL", "arg", NULL);
    /* Storing over a file that is not HDF5 fails and leaves it alone. */
    struct stat before, after;
    stat(P("garbage.h5"), &before);
    rc = dagr_array_store(g_sane, P("garbage.h5"), "u", 0);
    stat(P("garbage.h5"), &after);
    expect_error(rc, DAGR_EIO, "store over a non-HDF5 file is DAGR_EIO", "garbage.h5", NULL);
    check(before.st_size == after.st_size && before.st_ino == after.st_ino,
          "store over a non-HDF5 file leaves it alone", "size %lld -> %lld",
          (long long)before.st_size, (long long)after.st_size);
    char pl[8192];
    int np = list_prefix(P("garbage.h5.parts"), "u@", pl, sizeof pl);
    check(np == 0, "failed store removes its part files", "%d left: %s", np, pl);
  }

  /* ---- a computation that fails while reading: no output appears ---- */
  if (corrupt_ok) {
    dagr_array_t *c = NULL;
    int64_t cc[2] = {50, 50};
    int rc = dagr_array_from_hdf5(ctx, P("corrupt.h5"), "c", cc, &c);
    check(rc == 0, "corrupt chunk: from_hdf5 succeeds (metadata intact)", "%s: %s",
          dagr_strerror(rc), dagr_last_error(ctx));
    if (c) {
      dagr_result_t r;
      memset(&r, 0, sizeof r);
      rc = dagr_array_compute(c, &r);
      const char *msg = dagr_last_error(ctx);
      check(rc != 0 && strstr(msg, "corrupt.h5"), "corrupt chunk: compute fails naming the file",
            "rc %s, message \"%s\"", dagr_strerror(rc), msg);
      if (rc == 0) dagr_result_release(&r);
      still_works("corrupt chunk compute");
      rc = dagr_array_store(c, P("bad.h5"), "c", 0);
      check(rc != 0, "corrupt chunk: store fails", "rc %s", dagr_strerror(rc));
      check(access(P("bad.h5"), F_OK) != 0 && errno == ENOENT,
            "corrupt chunk: failed store leaves no output file", "%s exists", P("bad.h5"));
      char pl[8192], tl[8192];
      int np = list_prefix(P("bad.h5.parts"), "c@", pl, sizeof pl);
      int nt = list_prefix(tmpdir, "bad.h5.tmp", tl, sizeof tl);
      check(np == 0 && nt == 0, "corrupt chunk: failed store leaves no part or temporary files",
            "%d parts (%s), %d temporaries (%s)", np, pl, nt, tl);
      still_works("failed store");
      /* A failed store over an existing output leaves it as it was. */
      rc = dagr_array_store(g_sane, P("keep.h5"), "a", 0);
      check(rc == 0, "store keep.h5:a", "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
      rc = dagr_array_store(c, P("keep.h5"), "a", 0);
      check(rc != 0, "corrupt chunk: store over keep.h5:a fails", "rc %s", dagr_strerror(rc));
      expect_file("failed store leaves keep.h5:a intact", P("keep.h5"), "a", DAGR_DTYPE_UINT8, U.n,
                  U.raw, H5T_INTEGER);
      rc = dagr_array_store(c, P("keep.h5"), "c2", 0);
      check(rc != 0 && has_object(P("keep.h5"), "c2") == 0,
            "failed store of a new dataset adds nothing to keep.h5", "rc %s, has c2 %d",
            dagr_strerror(rc), has_object(P("keep.h5"), "c2"));
      expect_file("keep.h5:a still intact", P("keep.h5"), "a", DAGR_DTYPE_UINT8, U.n, U.raw,
                  H5T_INTEGER);
      dagr_array_release(c);
    }
  }

  free(want);
  free(wanti);
done:;
  dagr_array_t *v[] = {x300, xauto, i999, k6, u128, b64, g_sane};
  release_all(v, 7);
  H5Tclose(bt);
  nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  check(access(tmpdir, F_OK) != 0, "temporary directory removed", "%s remains", tmpdir);
  ds_t *all[] = {&X, &XN, &Y, &I, &K, &U, &B};
  for (int q = 0; q < 7; q++) ds_free(all[q]);
  printf("%d passed, %d failed\n", passed, failed);
  dagr_set_exit_status(ctx, failed ? 1 : 0);
  int frc = dagr_finalize(ctx);
  return failed || frc ? 1 : 0;
}
