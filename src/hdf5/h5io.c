/* h5io.c: HDF5 I/O for dagr arrays: inspect, cached hyperslab reads, part files joined by a VDS. */

/* Design
 * ------
 * Reading: every worker reads its own chunks' hyperslabs straight from the file with the serial
 * (sec2) driver, so compressed datasets decompress in parallel across ranks. Open file+dataset
 * handles are kept in a small LRU cache per process; each lookup stat()s the file and reopens it
 * if it was replaced or modified (device, inode, size or mtime differ).
 *
 * Writing (`store`): each worker process writes the blocks its tasks computed into its own part
 * file FINAL.parts/rank-N.h5 (a directory next to the output named "<final basename>.parts"),
 * into a dataset of the FULL output shape, chunked, optionally shuffle+gzip, allocated
 * incrementally (so a part file holds only the chunks that worker wrote). Once every worker has
 * closed its part file, one rank creates FINAL as a small file holding an HDF5 virtual dataset
 * (VDS) that maps each block to the same region of the same dataset in the part file that holds
 * it, with one mapping per part file selecting the union of its blocks (sources named by paths
 * relative to FINAL's directory, so the directory can be moved). The VDS file is written under a
 * temporary name in the same directory, fsync'ed and renamed over FINAL, so the output appears
 * under its final name only once every chunk is written. Adding a dataset to an existing HDF5 file
 * copies that file to the temporary name first, adds the VDS there and renames the copy over the
 * original (O(size of that file), but atomic).
 *
 * Why not parallel HDF5 (MPI-IO): its dataset writes and every metadata change are collective
 * over the file's communicator, while dagr's workers write from executor threads at different
 * times as their tasks finish; and Debian's parallel HDF5 1.10 is not thread-safe. Part files
 * need no coordination between ranks and keep gzip compression parallel.
 *
 * Trade-off: the output is the VDS file PLUS the part files: FINAL.parts/ must be kept, moved
 * and copied with FINAL (reading a VDS whose source file is missing would silently give fill
 * values, so dagr__h5_inspect and dagr__h5_read check the sources exist). Users who need one
 * self-contained file run (hdf5-tools; checked with HDF5 1.10.8, it writes the data itself
 * into an ordinary contiguous dataset, with relative sources found from any working directory):
 *     h5repack -l CONTI FINAL single.h5
 * or with chunking and compression, e.g. `h5repack -l /x:CHUNK=1024x1024 -f GZIP=4 FINAL one.h5`
 * (h5repack WITHOUT -l keeps the dataset virtual: the copy still needs the part files).
 * Part files of a later store to the same FINAL are rewritten in place, so a run that fails
 * after writing parts can change the data an existing FINAL shows; callers that must keep an
 * old output intact choose other part paths (dagr__h5_assemble takes any part path per block).
 *
 * Locking: Debian's HDF5 is not thread-safe, so every HDF5 call below runs under g_mu. HDF5's
 * own file locks (1.10) also mean a part file open for writing in one process cannot be opened
 * by another: workers must dagr__h5_part_close before the assembling rank checks the parts. */

#define _GNU_SOURCE /* copy_file_range */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "hdf5/h5io.h"
#include "runtime/cleanup.h"

#define H5IO_CACHE    16
#define H5IO_NAMEMAX  1024
#define H5IO_REASONSZ 256

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_initialized;
static hid_t g_bool_type = -1; /* h5py's bool: enum (int8) {FALSE = 0, TRUE = 1} */
static uint64_t g_tick;

void dagr__h5_lock(void) {
  pthread_mutex_lock(&g_mu);
}
void dagr__h5_unlock(void) {
  pthread_mutex_unlock(&g_mu);
}

/* Takes the mutex and makes sure HDF5 is initialized with its error printing off. */
static void lock_init(void) {
  pthread_mutex_lock(&g_mu);
  if (!g_initialized) {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    g_initialized = 1;
  }
}

/* "/x" for "x" or "/x", for messages. */
#define DSLASH(d) ((d)[0] == '/' ? "" : "/")

/* ---------------------------------------------------------------------------------------------
 * HDF5 error stack -> one short reason.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  char *buf;
  size_t len;
  int got;
} reason_walk;

static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *data) {
  (void)n;
  reason_walk *w = (reason_walk *)data;
  if (!w->got && e && e->desc && e->desc[0]) {
    snprintf(w->buf, w->len, "%s", e->desc);
    w->got = 1;
  }
  return 0;
}

/* The innermost message of HDF5's error stack (then clears it). */
static const char *h5_reason(char *buf, size_t len) {
  reason_walk w = {buf, len, 0};
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  if (!buf[0]) snprintf(buf, len, "HDF5 error");
  return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Types.
 * ------------------------------------------------------------------------------------------- */
static hid_t bool_type(void) {
  if (g_bool_type < 0) {
    hid_t t = H5Tenum_create(H5T_STD_I8LE);
    if (t < 0) return -1;
    int8_t v = 0;
    H5Tenum_insert(t, "FALSE", &v);
    v = 1;
    H5Tenum_insert(t, "TRUE", &v);
    g_bool_type = t;
  }
  return g_bool_type;
}

static int dtype_supported(int dtype) {
  return dtype == DAGR_DTYPE_FLOAT64 || dtype == DAGR_DTYPE_FLOAT32 || dtype == DAGR_DTYPE_INT64 ||
         dtype == DAGR_DTYPE_INT32 || dtype == DAGR_DTYPE_UINT8 || dtype == DAGR_DTYPE_BOOL;
}

static size_t dtype_size(int dtype) {
  switch (dtype) {
  case DAGR_DTYPE_FLOAT64:
  case DAGR_DTYPE_INT64:
    return 8;
  case DAGR_DTYPE_FLOAT32:
  case DAGR_DTYPE_INT32:
    return 4;
  case DAGR_DTYPE_UINT8:
  case DAGR_DTYPE_BOOL:
    return 1;
  default:
    return 0;
  }
}

static const char *dtype_str(int dtype) {
  switch (dtype) {
  case DAGR_DTYPE_FLOAT64:
    return "float64";
  case DAGR_DTYPE_FLOAT32:
    return "float32";
  case DAGR_DTYPE_INT64:
    return "int64";
  case DAGR_DTYPE_INT32:
    return "int32";
  case DAGR_DTYPE_UINT8:
    return "uint8";
  case DAGR_DTYPE_BOOL:
    return "bool";
  default:
    return "unknown";
  }
}

/* The in-memory HDF5 type of a dagr dtype (not to be closed), or -1. */
static hid_t mem_type(int dtype) {
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
  case DAGR_DTYPE_BOOL:
    return bool_type();
  default:
    return -1;
  }
}

/* The file type written for a dagr dtype (little-endian, as NumPy/h5py on x86), or -1. */
static hid_t file_type(int dtype) {
  switch (dtype) {
  case DAGR_DTYPE_FLOAT64:
    return H5T_IEEE_F64LE;
  case DAGR_DTYPE_FLOAT32:
    return H5T_IEEE_F32LE;
  case DAGR_DTYPE_INT64:
    return H5T_STD_I64LE;
  case DAGR_DTYPE_INT32:
    return H5T_STD_I32LE;
  case DAGR_DTYPE_UINT8:
    return H5T_STD_U8LE;
  case DAGR_DTYPE_BOOL:
    return bool_type();
  default:
    return -1;
  }
}

/* Is t an 8-bit enum {FALSE = 0, TRUE = 1} (h5py's bool)? */
static int is_bool_enum(hid_t t) {
  if (H5Tget_size(t) != 1 || H5Tget_nmembers(t) != 2) return 0;
  int ok = 1;
  for (unsigned i = 0; i < 2 && ok; i++) {
    char *name = H5Tget_member_name(t, i);
    int8_t v = -1;
    if (!name || H5Tget_member_value(t, i, &v) < 0)
      ok = 0;
    else if (!((strcmp(name, "FALSE") == 0 && v == 0) || (strcmp(name, "TRUE") == 0 && v == 1)))
      ok = 0;
    if (name) H5free_memory(name);
  }
  return ok;
}

/* Maps a file type to a dagr dtype; on failure returns -1 and describes the type in name. */
static int classify_type(hid_t t, char *name, size_t nlen) {
  size_t size = H5Tget_size(t);
  switch (H5Tget_class(t)) {
  case H5T_FLOAT:
    if (size == 8) return DAGR_DTYPE_FLOAT64;
    if (size == 4) return DAGR_DTYPE_FLOAT32;
    snprintf(name, nlen, "float%zu", size * 8);
    return -1;
  case H5T_INTEGER: {
    int is_signed = H5Tget_sign(t) == H5T_SGN_2;
    if (is_signed && size == 8) return DAGR_DTYPE_INT64;
    if (is_signed && size == 4) return DAGR_DTYPE_INT32;
    if (!is_signed && size == 1) return DAGR_DTYPE_UINT8;
    snprintf(name, nlen, "%sint%zu", is_signed ? "" : "u", size * 8);
    return -1;
  }
  case H5T_ENUM:
    if (is_bool_enum(t)) return DAGR_DTYPE_BOOL;
    snprintf(name, nlen, "enum (other than h5py's bool FALSE/TRUE)");
    return -1;
  case H5T_COMPOUND:
    snprintf(name, nlen, "compound");
    return -1;
  case H5T_STRING:
    snprintf(name, nlen, "string");
    return -1;
  case H5T_BITFIELD:
    snprintf(name, nlen, "bitfield");
    return -1;
  case H5T_OPAQUE:
    snprintf(name, nlen, "opaque");
    return -1;
  case H5T_REFERENCE:
    snprintf(name, nlen, "reference");
    return -1;
  case H5T_VLEN:
    snprintf(name, nlen, "variable-length");
    return -1;
  case H5T_ARRAY:
    snprintf(name, nlen, "array");
    return -1;
  default:
    snprintf(name, nlen, "HDF5 type class %d", (int)H5Tget_class(t));
    return -1;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Files and datasets.
 * ------------------------------------------------------------------------------------------- */

/* Opens path read-only (or read-write) with a clear error: missing, unreadable, not HDF5,
 * truncated or corrupt. Fills st when not NULL. */
static int open_file(const char *path, int rdwr, hid_t *fid, struct stat *st, char *err,
                     size_t errlen) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot open '%s': %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode))
    return dagr__errf(err, errlen, DAGR_EIO, "cannot open '%s': is a directory", path);
  int fd = open(path, rdwr ? O_RDWR : O_RDONLY);
  if (fd < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot open '%s': %s", path, strerror(errno));
  close(fd);
  hid_t f = H5Fopen(path, rdwr ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    char why[H5IO_REASONSZ];
    h5_reason(why, sizeof why);
    htri_t is = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    if (is == 0)
      return dagr__errf(err, errlen, DAGR_EIO, "cannot open '%s': not an HDF5 file", path);
    return dagr__errf(err, errlen, DAGR_EIO,
                      "cannot open '%s': truncated, corrupt or locked HDF5 file (%s)", path, why);
  }
  *fid = f;
  if (st) *st = sb;
  return DAGR_OK;
}

/* Checks that every group on the way to dataset exists and that dataset is a dataset. */
static int find_dataset(hid_t fid, const char *path, const char *dataset, char *err,
                        size_t errlen) {
  size_t n = strlen(dataset);
  if (n >= H5IO_NAMEMAX)
    return dagr__errf(err, errlen, DAGR_EINVAL, "dataset name longer than %d bytes in '%s'",
                      H5IO_NAMEMAX - 1, path);
  char buf[H5IO_NAMEMAX];
  memcpy(buf, dataset, n + 1);
  if (strspn(dataset, "/") == n)
    return dagr__errf(err, errlen, DAGR_EINVAL, "empty dataset name for '%s'", path);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    if (buf[i - 1] == '/') continue; /* empty component */
    char saved = buf[i];
    buf[i] = '\0';
    htri_t ex = H5Lexists(fid, buf, H5P_DEFAULT);
    H5Eclear2(H5E_DEFAULT);
    int last = saved == '\0' || buf[i + 1] == '\0';
    if (ex <= 0) {
      if (last)
        return dagr__errf(err, errlen, DAGR_ENOENT, "no dataset '%s%s' in '%s'", DSLASH(dataset),
                          dataset, path);
      return dagr__errf(err, errlen, DAGR_ENOENT, "no dataset '%s%s' in '%s' (no group '%s%s')",
                        DSLASH(dataset), dataset, path, DSLASH(buf), buf);
    }
    buf[i] = saved;
  }
  hid_t obj = H5Oopen(fid, dataset, H5P_DEFAULT);
  if (obj < 0) {
    H5Eclear2(H5E_DEFAULT);
    return dagr__errf(err, errlen, DAGR_ENOENT, "no dataset '%s%s' in '%s' (dangling link)",
                      DSLASH(dataset), dataset, path);
  }
  H5I_type_t it = H5Iget_type(obj);
  H5Oclose(obj);
  if (it != H5I_DATASET)
    return dagr__errf(err, errlen, DAGR_ETYPE, "'%s:%s%s' is a %s, not a dataset", path,
                      DSLASH(dataset), dataset, it == H5I_GROUP ? "group" : "named datatype");
  return DAGR_OK;
}

/* Does the source file named in a VDS mapping exist (relative to the VDS file, then to the
 * working directory, as HDF5 looks for it)? */
static int vds_source_exists(const char *vds_path, const char *raw) {
  char name[PATH_MAX], full[2 * PATH_MAX + 2];
  size_t j = 0;
  for (size_t i = 0; raw[i] && j + 1 < sizeof name; i++) {
    if (raw[i] == '%' && raw[i + 1] == '%') i++;
    name[j++] = raw[i];
  }
  name[j] = '\0';
  if (strcmp(name, ".") == 0) return 1;
  struct stat sb;
  if (name[0] == '/') return stat(name, &sb) == 0;
  char dirbuf[PATH_MAX];
  snprintf(dirbuf, sizeof dirbuf, "%s", vds_path);
  snprintf(full, sizeof full, "%s/%s", dirname(dirbuf), name);
  if (stat(full, &sb) == 0) return 1;
  return stat(name, &sb) == 0;
}

/* Fills info from an open dataset; checks the dtype, rank, filters and VDS sources. */
static int describe(hid_t did, const char *path, const char *dataset, dagr__h5_info *info,
                    char *err, size_t errlen) {
  memset(info, 0, sizeof *info);
  char why[H5IO_REASONSZ];
  hid_t t = H5Dget_type(did);
  if (t < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot read the type of '%s:%s%s': %s", path,
                      DSLASH(dataset), dataset, h5_reason(why, sizeof why));
  char tname[128];
  int dtype = classify_type(t, tname, sizeof tname);
  H5Tclose(t);
  if (dtype < 0)
    return dagr__errf(err, errlen, DAGR_ETYPE,
                      "unsupported dtype %s in %s:%s%s (dagr supports float64, float32, int64, "
                      "int32, uint8 and bool)",
                      tname, path, DSLASH(dataset), dataset);
  info->dtype = dtype;
  hid_t sp = H5Dget_space(did);
  if (sp < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot read the shape of '%s:%s%s': %s", path,
                      DSLASH(dataset), dataset, h5_reason(why, sizeof why));
  H5S_class_t sc = H5Sget_simple_extent_type(sp);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t dims[H5S_MAX_RANK];
  if (nd > 0 && nd <= H5S_MAX_RANK) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  if (sc == H5S_NULL)
    return dagr__errf(err, errlen, DAGR_ETYPE, "'%s:%s%s' has a null dataspace (no data)", path,
                      DSLASH(dataset), dataset);
  if (nd < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot read the shape of '%s:%s%s': %s", path,
                      DSLASH(dataset), dataset, h5_reason(why, sizeof why));
  if (nd > DAGR_MAX_NDIM)
    return dagr__errf(err, errlen, DAGR_ETYPE,
                      "'%s:%s%s' has %d dimensions; dagr supports at most %d", path,
                      DSLASH(dataset), dataset, nd, DAGR_MAX_NDIM);
  info->ndim = nd;
  for (int i = 0; i < nd; i++) info->shape[i] = (int64_t)dims[i];

  hid_t dcpl = H5Dget_create_plist(did);
  if (dcpl < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot read the layout of '%s:%s%s': %s", path,
                      DSLASH(dataset), dataset, h5_reason(why, sizeof why));
  int rc = DAGR_OK;
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_CHUNKED && nd > 0) {
    hsize_t ch[H5S_MAX_RANK];
    if (H5Pget_chunk(dcpl, nd, ch) == nd)
      for (int i = 0; i < nd; i++) info->chunk[i] = (int64_t)ch[i];
  }
  info->is_virtual = layout == H5D_VIRTUAL;
  int nf = H5Pget_nfilters(dcpl);
  for (int i = 0; i < nf && rc == DAGR_OK; i++) {
    unsigned flags = 0, conf = 0, cd[8];
    size_t ncd = 8;
    char fname[64] = "";
    H5Z_filter_t id =
        H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, &conf);
    if (id == H5Z_FILTER_DEFLATE)
      info->gzip = 1;
    else if (id == H5Z_FILTER_SHUFFLE)
      info->shuffle = 1;
    if (id >= 0 && H5Zfilter_avail(id) <= 0 && !(flags & H5Z_FLAG_OPTIONAL))
      rc = dagr__errf(err, errlen, DAGR_EIO,
                      "'%s:%s%s' uses HDF5 filter %d (%s), which this HDF5 library lacks", path,
                      DSLASH(dataset), dataset, (int)id, fname[0] ? fname : "unnamed");
  }
  if (rc == DAGR_OK && info->is_virtual) {
    size_t nmap = 0;
    H5Pget_virtual_count(dcpl, &nmap);
    char prev[PATH_MAX] = "", cur[PATH_MAX];
    for (size_t i = 0; i < nmap && rc == DAGR_OK; i++) {
      ssize_t len = H5Pget_virtual_filename(dcpl, i, cur, sizeof cur);
      if (len < 0 || (size_t)len >= sizeof cur || strcmp(cur, prev) == 0) continue;
      if (!vds_source_exists(path, cur))
        rc = dagr__errf(err, errlen, DAGR_EIO,
                        "source file '%s' of virtual dataset '%s:%s%s' is missing (keep the "
                        "part files next to the output)",
                        cur, path, DSLASH(dataset), dataset);
      memcpy(prev, cur, (size_t)len + 1);
    }
  }
  H5Pclose(dcpl);
  H5Eclear2(H5E_DEFAULT);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Read cache.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  char *path, *dset;
  hid_t fid, did;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  uint64_t used;
  dagr__h5_info info;
} rentry;

static rentry g_rc[H5IO_CACHE];

static void rentry_close(rentry *e) {
  if (!e->path) return;
  if (e->did >= 0) H5Dclose(e->did);
  if (e->fid >= 0) H5Fclose(e->fid);
  H5Eclear2(H5E_DEFAULT);
  free(e->path);
  free(e->dset);
  memset(e, 0, sizeof *e);
}

static void rcache_close_all(void) {
  for (int i = 0; i < H5IO_CACHE; i++) rentry_close(&g_rc[i]);
}

static void rcache_close_path(const char *path) {
  for (int i = 0; i < H5IO_CACHE; i++)
    if (g_rc[i].path && strcmp(g_rc[i].path, path) == 0) rentry_close(&g_rc[i]);
}

/* Closes the entries that may hold path open: the file itself, and every virtual dataset. */
static void rcache_close_for_write(const char *path) {
  struct stat st;
  int have = stat(path, &st) == 0;
  for (int i = 0; i < H5IO_CACHE; i++) {
    rentry *e = &g_rc[i];
    if (!e->path) continue;
    if (e->info.is_virtual || strcmp(e->path, path) == 0 ||
        (have && e->dev == st.st_dev && e->ino == st.st_ino))
      rentry_close(e);
  }
}

static int same_file(const rentry *e, const struct stat *st) {
  return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
         e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Opens (or finds) path:dataset in the read cache. */
static int rcache_get(const char *path, const char *dataset, rentry **out, char *err,
                      size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    rcache_close_path(path);
    return dagr__errf(err, errlen, DAGR_EIO, "cannot open '%s': %s", path, strerror(errno));
  }
  for (int i = 0; i < H5IO_CACHE; i++) {
    rentry *e = &g_rc[i];
    if (!e->path || strcmp(e->path, path) != 0) continue;
    if (!same_file(e, &st)) {
      /* Replaced or modified: HDF5 would hand back its stale shared file struct while any
       * handle on the old one stays open, so drop every entry of this path. */
      rcache_close_path(path);
      break;
    }
    if (strcmp(e->dset, dataset) == 0) {
      e->used = ++g_tick;
      *out = e;
      return DAGR_OK;
    }
  }
  hid_t fid = -1;
  int rc = open_file(path, 0, &fid, &st, err, errlen);
  if (rc != DAGR_OK) return rc;
  rc = find_dataset(fid, path, dataset, err, errlen);
  hid_t did = -1;
  dagr__h5_info info;
  if (rc == DAGR_OK) {
    did = H5Dopen2(fid, dataset, H5P_DEFAULT);
    if (did < 0) {
      char why[H5IO_REASONSZ];
      rc = dagr__errf(err, errlen, DAGR_EIO, "cannot open dataset '%s:%s%s': %s", path,
                      DSLASH(dataset), dataset, h5_reason(why, sizeof why));
    }
  }
  if (rc == DAGR_OK) rc = describe(did, path, dataset, &info, err, errlen);
  char *pcopy = rc == DAGR_OK ? strdup(path) : NULL;
  char *dcopy = rc == DAGR_OK ? strdup(dataset) : NULL;
  if (rc == DAGR_OK && (!pcopy || !dcopy))
    rc = dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory opening '%s'", path);
  if (rc != DAGR_OK) {
    free(pcopy);
    free(dcopy);
    if (did >= 0) H5Dclose(did);
    H5Fclose(fid);
    H5Eclear2(H5E_DEFAULT);
    return rc;
  }
  rentry *slot = &g_rc[0];
  for (int i = 0; i < H5IO_CACHE; i++) {
    if (!g_rc[i].path) {
      slot = &g_rc[i];
      break;
    }
    if (g_rc[i].used < slot->used) slot = &g_rc[i];
  }
  rentry_close(slot);
  slot->path = pcopy;
  slot->dset = dcopy;
  slot->fid = fid;
  slot->did = did;
  slot->dev = st.st_dev;
  slot->ino = st.st_ino;
  slot->size = st.st_size;
  slot->mtime = st.st_mtim;
  slot->used = ++g_tick;
  slot->info = info;
  *out = slot;
  return DAGR_OK;
}

int dagr__h5_inspect(const char *path, const char *dataset, dagr__h5_info *info, char *err,
                     size_t errlen) {
  if (!path || !path[0] || !dataset || !info)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 inspect: NULL or empty argument");
  lock_init();
  rentry *e = NULL;
  int rc = rcache_get(path, dataset, &e, err, errlen);
  if (rc == DAGR_OK) *info = e->info;
  pthread_mutex_unlock(&g_mu);
  return rc;
}

int dagr__h5_read(const char *path, const char *dataset, int ndim, const int64_t *start,
                  const int64_t *count, const int64_t *stride, int dtype, void *dst, char *err,
                  size_t errlen) {
  if (!path || !path[0] || !dataset || ndim < 0 || ndim > DAGR_MAX_NDIM ||
      (ndim > 0 && (!start || !count)))
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 read: invalid argument");
  if (!dtype_supported(dtype))
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 read of '%s:%s%s': unsupported dtype %d", path,
                      DSLASH(dataset), dataset, dtype);
  int64_t total = 1;
  for (int i = 0; i < ndim; i++) {
    if (count[i] < 0 || start[i] < 0 || (stride && stride[i] < 1))
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "h5 read of '%s:%s%s': negative start/count or stride < 1 on axis %d", path,
                        DSLASH(dataset), dataset, i);
    total *= count[i];
  }
  if (total > 0 && !dst) return dagr__errf(err, errlen, DAGR_EINVAL, "h5 read: NULL destination");

  lock_init();
  rentry *e = NULL;
  int rc = rcache_get(path, dataset, &e, err, errlen);
  if (rc != DAGR_OK) goto out;
  if (ndim != e->info.ndim) {
    rc = dagr__errf(err, errlen, DAGR_EINVAL,
                    "h5 read of '%s:%s%s': hyperslab has %d dimensions, the dataset %d", path,
                    DSLASH(dataset), dataset, ndim, e->info.ndim);
    goto out;
  }
  for (int i = 0; i < ndim; i++) {
    int64_t st = stride ? stride[i] : 1;
    if (count[i] > 0 &&
        (start[i] >= e->info.shape[i] || (count[i] - 1) > (e->info.shape[i] - 1 - start[i]) / st)) {
      rc = dagr__errf(err, errlen, DAGR_EINVAL,
                      "h5 read of '%s:%s%s': hyperslab out of range on axis %d (start %" PRId64
                      ", count %" PRId64 ", stride %" PRId64 ", extent %" PRId64 ")",
                      path, DSLASH(dataset), dataset, i, start[i], count[i], st, e->info.shape[i]);
      goto out;
    }
  }
  if (total == 0) goto out;
  {
    hsize_t hs[DAGR_MAX_NDIM], hc[DAGR_MAX_NDIM], hst[DAGR_MAX_NDIM];
    for (int i = 0; i < ndim; i++) {
      hs[i] = (hsize_t)start[i];
      hc[i] = (hsize_t)count[i];
      hst[i] = stride ? (hsize_t)stride[i] : 1;
    }
    hid_t fs = H5Dget_space(e->did);
    hid_t ms = ndim > 0 ? H5Screate_simple(ndim, hc, NULL) : H5Screate(H5S_SCALAR);
    herr_t hr = fs < 0 || ms < 0 ? -1 : 0;
    if (hr >= 0 && ndim > 0) hr = H5Sselect_hyperslab(fs, H5S_SELECT_SET, hs, hst, hc, NULL);
    if (hr >= 0) hr = H5Dread(e->did, mem_type(dtype), ms, fs, H5P_DEFAULT, dst);
    if (hr < 0) {
      char why[H5IO_REASONSZ];
      h5_reason(why, sizeof why);
      int conv = strstr(why, "conversion") != NULL;
      rc = dagr__errf(err, errlen, conv ? DAGR_ETYPE : DAGR_EIO,
                      "cannot read %s from '%s:%s%s' (%s): %s", dtype_str(dtype), path,
                      DSLASH(dataset), dataset, dtype_str(e->info.dtype), why);
    }
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
  }
out:
  H5Eclear2(H5E_DEFAULT);
  pthread_mutex_unlock(&g_mu);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Part files.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  char *path, *dset;
  hid_t fid, did;
  uint64_t used;
} pentry;

static pentry g_pc[H5IO_CACHE];

static int pentry_close(pentry *e, char *err, size_t errlen) {
  if (!e->path) return DAGR_OK;
  int rc = DAGR_OK;
  char why[H5IO_REASONSZ];
  if (e->did >= 0 && H5Dclose(e->did) < 0)
    rc = dagr__errf(err, errlen, DAGR_EIO, "cannot close '%s:%s%s': %s", e->path, DSLASH(e->dset),
                    e->dset, h5_reason(why, sizeof why));
  if (e->fid >= 0 && H5Fflush(e->fid, H5F_SCOPE_LOCAL) < 0 && rc == DAGR_OK)
    rc = dagr__errf(err, errlen, DAGR_EIO, "cannot flush '%s': %s", e->path,
                    h5_reason(why, sizeof why));
  if (e->fid >= 0 && H5Fclose(e->fid) < 0 && rc == DAGR_OK)
    rc = dagr__errf(err, errlen, DAGR_EIO, "cannot close '%s': %s", e->path,
                    h5_reason(why, sizeof why));
  H5Eclear2(H5E_DEFAULT);
  free(e->path);
  free(e->dset);
  memset(e, 0, sizeof *e);
  return rc;
}

static int pcache_close_path(const char *path, char *err, size_t errlen) {
  int rc = DAGR_OK;
  for (int i = 0; i < H5IO_CACHE; i++)
    if (g_pc[i].path && strcmp(g_pc[i].path, path) == 0) {
      int r = pentry_close(&g_pc[i], err, errlen);
      if (rc == DAGR_OK) rc = r;
    }
  return rc;
}

int dagr__h5_part_path(const char *final_path, int rank, char *buf, size_t len) {
  if (!final_path || !final_path[0] || rank < 0 || !buf || len == 0) return DAGR_EINVAL;
  int n = snprintf(buf, len, "%s.parts/rank-%d.h5", final_path, rank);
  if (n < 0 || (size_t)n >= len) {
    buf[0] = '\0';
    return DAGR_EINVAL;
  }
  return DAGR_OK;
}

int dagr__h5_temp_path(const char *final_path, char *buf, size_t len) {
  if (!final_path || !final_path[0] || !buf || len == 0) return DAGR_EINVAL;
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    static uint64_t ctr;
    r = dagr__fnv1a(DAGR__FNV_INIT, &(uint64_t){dagr__now_ns() ^ ++ctr}, sizeof(uint64_t));
  }
  int n = snprintf(buf, len, "%s.tmp-%ld-%016" PRIx64, final_path, (long)getpid(), r);
  if (n < 0 || (size_t)n >= len) {
    buf[0] = '\0';
    return DAGR_EINVAL;
  }
  return DAGR_OK;
}

/* Creates the directory holding path (one level) if it is missing. */
static int ensure_parent_dir(const char *path, char *err, size_t errlen) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return dagr__errf(err, errlen, DAGR_EINVAL, "path too long: '%s'", path);
  const char *dir = dirname(buf);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot create directory '%s': %s", dir,
                      strerror(errno));
  return DAGR_OK;
}

/* Compares an existing dataset's dtype and shape with what the caller expects. */
static int check_shape_dtype(hid_t did, const char *path, const char *dataset, int dtype, int ndim,
                             const int64_t *shape, char *err, size_t errlen) {
  dagr__h5_info info;
  int rc = describe(did, path, dataset, &info, err, errlen);
  if (rc != DAGR_OK) return rc;
  int same = info.dtype == dtype && info.ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = info.shape[i] == shape[i];
  if (!same) {
    char want[200], have[200];
    int a = snprintf(want, sizeof want, "%s (", dtype_str(dtype));
    for (int i = 0; i < ndim && a < 180; i++)
      a += snprintf(want + a, sizeof want - (size_t)a, "%s%" PRId64, i ? "," : "", shape[i]);
    snprintf(want + a, sizeof want - (size_t)a, ")");
    int b = snprintf(have, sizeof have, "%s (", dtype_str(info.dtype));
    for (int i = 0; i < info.ndim && b < 180; i++)
      b += snprintf(have + b, sizeof have - (size_t)b, "%s%" PRId64, i ? "," : "", info.shape[i]);
    snprintf(have + b, sizeof have - (size_t)b, ")");
    return dagr__errf(err, errlen, DAGR_ETYPE, "'%s:%s%s' is %s, expected %s", path,
                      DSLASH(dataset), dataset, have, want);
  }
  return DAGR_OK;
}

static hid_t create_part_dataset(hid_t fid, const char *dataset, int dtype, int ndim,
                                 const int64_t *shape, const int64_t *chunk, int gzip_level,
                                 const char *path, char *err, size_t errlen, int *rc) {
  hsize_t dims[DAGR_MAX_NDIM], ch[DAGR_MAX_NDIM];
  int any_zero = 0;
  uint64_t chunk_bytes = dtype_size(dtype);
  for (int i = 0; i < ndim; i++) {
    dims[i] = (hsize_t)shape[i];
    if (shape[i] == 0) any_zero = 1;
    int64_t c = chunk[i] < shape[i] ? chunk[i] : shape[i];
    ch[i] = (hsize_t)(c < 1 ? 1 : c);
    chunk_bytes *= ch[i];
  }
  if (!any_zero && chunk_bytes >= ((uint64_t)1 << 32)) {
    *rc = dagr__errf(err, errlen, DAGR_EINVAL,
                     "chunk of '%s:%s%s' is %" PRIu64 " bytes; HDF5 allows under 4 GiB", path,
                     DSLASH(dataset), dataset, chunk_bytes);
    return -1;
  }
  hid_t space = H5Screate_simple(ndim, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  herr_t hr = space < 0 || dcpl < 0 || lcpl < 0 ? -1 : 0;
  if (hr >= 0) hr = H5Pset_create_intermediate_group(lcpl, 1);
  if (hr >= 0 && !any_zero) {
    hr = H5Pset_chunk(dcpl, ndim, ch);
    if (hr >= 0 && gzip_level > 0) hr = H5Pset_shuffle(dcpl);
    if (hr >= 0 && gzip_level > 0) hr = H5Pset_deflate(dcpl, (unsigned)gzip_level);
    if (hr >= 0) hr = H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR);
  }
  uint64_t zero = 0;
  if (hr >= 0) hr = H5Pset_fill_value(dcpl, mem_type(dtype), &zero);
  hid_t did = -1;
  if (hr >= 0) did = H5Dcreate2(fid, dataset, file_type(dtype), space, lcpl, dcpl, H5P_DEFAULT);
  if (did < 0) {
    char why[H5IO_REASONSZ];
    *rc = dagr__errf(err, errlen, DAGR_EIO, "cannot create '%s:%s%s': %s", path, DSLASH(dataset),
                     dataset, h5_reason(why, sizeof why));
  }
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  return did;
}

/* Finds or opens part_path:dataset for writing, creating file and dataset if missing. */
static int pcache_get(const char *path, const char *dataset, int dtype, int ndim,
                      const int64_t *shape, const int64_t *chunk, int gzip_level, pentry **out,
                      char *err, size_t errlen) {
  for (int i = 0; i < H5IO_CACHE; i++) {
    pentry *e = &g_pc[i];
    if (e->path && strcmp(e->path, path) == 0 && strcmp(e->dset, dataset) == 0) {
      e->used = ++g_tick;
      *out = e;
      return check_shape_dtype(e->did, path, dataset, dtype, ndim, shape, err, errlen);
    }
  }
  /* The read cache may hold this file read-only (directly or as a VDS source), and HDF5 will
   * not reopen read-write a file it has open read-only: drop those entries, keep the others
   * (plain input files that tasks on this rank may be reading). */
  rcache_close_for_write(path);
  int rc = ensure_parent_dir(path, err, errlen);
  if (rc != DAGR_OK) return rc;
  hid_t fid = -1, did = -1;
  struct stat sb;
  if (stat(path, &sb) == 0) {
    rc = open_file(path, 1, &fid, NULL, err, errlen);
  } else {
    fid = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (fid < 0) {
      char why[H5IO_REASONSZ];
      rc = dagr__errf(err, errlen, DAGR_EIO, "cannot create part file '%s': %s", path,
                      h5_reason(why, sizeof why));
    }
  }
  if (rc != DAGR_OK) return rc;
  char tmp[8];
  int found = find_dataset(fid, path, dataset, tmp, sizeof tmp);
  if (found == DAGR_OK) {
    did = H5Dopen2(fid, dataset, H5P_DEFAULT);
    if (did < 0) {
      char why[H5IO_REASONSZ];
      rc = dagr__errf(err, errlen, DAGR_EIO, "cannot open '%s:%s%s': %s", path, DSLASH(dataset),
                      dataset, h5_reason(why, sizeof why));
    } else {
      rc = check_shape_dtype(did, path, dataset, dtype, ndim, shape, err, errlen);
    }
  } else if (found == DAGR_ENOENT) {
    did = create_part_dataset(fid, dataset, dtype, ndim, shape, chunk, gzip_level, path, err,
                              errlen, &rc);
  } else {
    rc = find_dataset(fid, path, dataset, err, errlen);
  }
  char *pcopy = rc == DAGR_OK ? strdup(path) : NULL;
  char *dcopy = rc == DAGR_OK ? strdup(dataset) : NULL;
  if (rc == DAGR_OK && (!pcopy || !dcopy))
    rc = dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory opening '%s'", path);
  if (rc != DAGR_OK) {
    free(pcopy);
    free(dcopy);
    if (did >= 0) H5Dclose(did);
    H5Fclose(fid);
    H5Eclear2(H5E_DEFAULT);
    return rc;
  }
  pentry *slot = &g_pc[0];
  for (int i = 0; i < H5IO_CACHE; i++) {
    if (!g_pc[i].path) {
      slot = &g_pc[i];
      break;
    }
    if (g_pc[i].used < slot->used) slot = &g_pc[i];
  }
  if (slot->path) {
    char ignored[8];
    (void)pentry_close(slot, ignored, sizeof ignored);
  }
  slot->path = pcopy;
  slot->dset = dcopy;
  slot->fid = fid;
  slot->did = did;
  slot->used = ++g_tick;
  *out = slot;
  return DAGR_OK;
}

int dagr__h5_part_write(const char *part_path, const char *dataset, int dtype, int ndim,
                        const int64_t *full_shape, const int64_t *chunk_shape, int gzip_level,
                        const int64_t *start, const int64_t *count, const void *src, char *err,
                        size_t errlen) {
  if (!part_path || !part_path[0] || !dataset || !dataset[0] || !full_shape || !chunk_shape ||
      !start || !count)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 part write: NULL or empty argument");
  if (!dtype_supported(dtype))
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 part write of '%s:%s%s': unsupported dtype %d",
                      part_path, DSLASH(dataset), dataset, dtype);
  if (ndim < 1 || ndim > DAGR_MAX_NDIM)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 part write of '%s:%s%s': ndim %d not in 1..%d",
                      part_path, DSLASH(dataset), dataset, ndim, DAGR_MAX_NDIM);
  if (gzip_level < 0 || gzip_level > 9)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 part write: gzip level %d not in 0..9",
                      gzip_level);
  int64_t total = 1;
  for (int i = 0; i < ndim; i++) {
    if (full_shape[i] < 0 || chunk_shape[i] < 1 || start[i] < 0 || count[i] < 0 ||
        start[i] > full_shape[i] || count[i] > full_shape[i] - start[i])
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "h5 part write of '%s:%s%s': block out of range on axis %d (start %" PRId64
                        ", count %" PRId64 ", extent %" PRId64 ", chunk %" PRId64 ")",
                        part_path, DSLASH(dataset), dataset, i, start[i], count[i], full_shape[i],
                        chunk_shape[i]);
    total *= count[i];
  }
  if (total > 0 && !src) return dagr__errf(err, errlen, DAGR_EINVAL, "h5 part write: NULL src");

  lock_init();
  pentry *e = NULL;
  int rc = pcache_get(part_path, dataset, dtype, ndim, full_shape, chunk_shape, gzip_level, &e, err,
                      errlen);
  if (rc == DAGR_OK && total > 0) {
    hsize_t hs[DAGR_MAX_NDIM], hc[DAGR_MAX_NDIM];
    for (int i = 0; i < ndim; i++) {
      hs[i] = (hsize_t)start[i];
      hc[i] = (hsize_t)count[i];
    }
    /* A block that is exactly one whole chunk of an unfiltered dataset already has the chunk's
     * byte layout (C order, native little-endian types): write it as the chunk directly, which
     * skips HDF5's dataspace selection and its copy through a conversion buffer. */
    int whole = gzip_level == 0 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    for (int i = 0; i < ndim && whole; i++)
      whole = start[i] % chunk_shape[i] == 0 && count[i] == chunk_shape[i];
    hid_t fs = -1, ms = -1;
    herr_t hr;
    if (whole) {
      hr = H5Dwrite_chunk(e->did, H5P_DEFAULT, 0, hs, (size_t)total * dtype_size(dtype), src);
    } else {
      fs = H5Dget_space(e->did);
      ms = H5Screate_simple(ndim, hc, NULL);
      hr = fs < 0 || ms < 0 ? -1 : 0;
      if (hr >= 0) hr = H5Sselect_hyperslab(fs, H5S_SELECT_SET, hs, NULL, hc, NULL);
      if (hr >= 0) hr = H5Dwrite(e->did, mem_type(dtype), ms, fs, H5P_DEFAULT, src);
    }
    if (hr < 0) {
      char why[H5IO_REASONSZ];
      rc = dagr__errf(err, errlen, DAGR_EIO, "cannot write a block to '%s:%s%s': %s", part_path,
                      DSLASH(dataset), dataset, h5_reason(why, sizeof why));
    }
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
  }
  H5Eclear2(H5E_DEFAULT);
  pthread_mutex_unlock(&g_mu);
  return rc;
}

/* Starts the kernel's writeback of a closed part file without waiting for it, so the fsync the
 * assembling rank does at the end finds most pages already on disk: the flushing then overlaps
 * the rest of the computation and happens on every worker's node at once, instead of all at
 * the end on one rank. Best effort: where sync_file_range is unsupported nothing changes. */
static void start_writeback(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  close(fd);
}

int dagr__h5_part_close(const char *part_path, char *err, size_t errlen) {
  if (!part_path) return dagr__errf(err, errlen, DAGR_EINVAL, "h5 part close: NULL path");
  lock_init();
  int rc = pcache_close_path(part_path, err, errlen);
  pthread_mutex_unlock(&g_mu);
  if (rc == DAGR_OK) start_writeback(part_path);
  return rc;
}

void dagr__h5_close_all(void) {
  lock_init();
  rcache_close_all();
  for (int i = 0; i < H5IO_CACHE; i++) {
    char ignored[8];
    (void)pentry_close(&g_pc[i], ignored, sizeof ignored);
  }
  if (g_bool_type >= 0) H5Tclose(g_bool_type);
  g_bool_type = -1;
  H5Eclear2(H5E_DEFAULT);
  pthread_mutex_unlock(&g_mu);
}

/* ---------------------------------------------------------------------------------------------
 * Assemble.
 * ------------------------------------------------------------------------------------------- */

static int fsync_path(const char *path, int is_dir) {
  int fd = open(path, is_dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return -1;
  int r = fsync(fd);
  if (r != 0 && (errno == EINVAL || errno == EROFS)) r = 0; /* not supported there */
  close(fd);
  return r;
}

/* Byte copy of src to a new file dst (O_EXCL) with src's permissions, fsync'ed. Returns 0, -1
 * (failed; dst may exist, partial) or -2 (dst could not be created). */
static int copy_file(const char *src, const char *dst, mode_t mode, char *why, size_t wlen) {
  int in = open(src, O_RDONLY);
  if (in < 0) {
    snprintf(why, wlen, "cannot read '%s': %s", src, strerror(errno));
    return -1;
  }
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (out < 0) {
    snprintf(why, wlen, "cannot create '%s': %s", dst, strerror(errno));
    close(in);
    return -2; /* nothing of ours to remove */
  }
  int ok = fchmod(out, mode & 07777) == 0;
  int use_cfr = 1;
  char buf[1 << 16];
  while (ok) {
    ssize_t n = -1;
    if (use_cfr) {
      n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        use_cfr = 0;
        continue;
      }
    } else {
      n = read(in, buf, sizeof buf);
      for (ssize_t off = 0; n > 0 && off < n;) {
        ssize_t w = write(out, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          n = -1;
          break;
        }
        off += w;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = 0;
    if (n <= 0) break;
  }
  if (ok && fsync(out) != 0) ok = 0;
  if (!ok) snprintf(why, wlen, "cannot copy '%s' to '%s': %s", src, dst, strerror(errno));
  close(out);
  close(in);
  return ok ? 0 : -1;
}

/* The VDS source name of part (escaped for HDF5's printf-like names): relative to final_dir
 * when the part lies in it or below it, else absolute. */
static int source_name(const char *final_dir, const char *part, char *out, size_t len) {
  char dbuf[PATH_MAX], bbuf[PATH_MAX], real[PATH_MAX], name[PATH_MAX];
  snprintf(dbuf, sizeof dbuf, "%s", part);
  snprintf(bbuf, sizeof bbuf, "%s", part);
  if (!realpath(dirname(dbuf), real)) return -1;
  const char *base = basename(bbuf);
  size_t fl = strlen(final_dir);
  int n;
  if (strcmp(real, final_dir) == 0)
    n = snprintf(name, sizeof name, "%s", base);
  else if (strcmp(final_dir, "/") == 0)
    n = snprintf(name, sizeof name, "%s/%s", real + 1, base);
  else if (strncmp(real, final_dir, fl) == 0 && real[fl] == '/')
    n = snprintf(name, sizeof name, "%s/%s", real + fl + 1, base);
  else
    n = snprintf(name, sizeof name, "%s/%s", real, base);
  if (n < 0 || (size_t)n >= sizeof name) return -1;
  size_t j = 0;
  for (size_t i = 0; name[i]; i++) {
    if (j + 3 >= len) return -1;
    if (name[i] == '%') out[j++] = '%';
    out[j++] = name[i];
  }
  out[j] = '\0';
  return 0;
}

/* Checks one part file: present, holds dataset of dtype and shape; then fsyncs it. */
static int check_part(const char *final_path, const char *part, const char *dataset, int dtype,
                      int ndim, const int64_t *shape, char *err, size_t errlen) {
  char inner[DAGR__ERRLEN];
  int rc = pcache_close_path(part, err, errlen);
  if (rc != DAGR_OK) return rc;
  rcache_close_path(part);
  struct stat sb;
  if (stat(part, &sb) != 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot assemble '%s:%s%s': part file '%s': %s",
                      final_path, DSLASH(dataset), dataset, part, strerror(errno));
  hid_t fid = -1;
  rc = open_file(part, 0, &fid, NULL, inner, sizeof inner);
  if (rc == DAGR_OK) {
    rc = find_dataset(fid, part, dataset, inner, sizeof inner);
    if (rc == DAGR_OK) {
      hid_t did = H5Dopen2(fid, dataset, H5P_DEFAULT);
      if (did < 0) {
        char why[H5IO_REASONSZ];
        rc = dagr__errf(inner, sizeof inner, DAGR_EIO, "cannot open '%s:%s%s': %s", part,
                        DSLASH(dataset), dataset, h5_reason(why, sizeof why));
      } else {
        rc = check_shape_dtype(did, part, dataset, dtype, ndim, shape, inner, sizeof inner);
        H5Dclose(did);
      }
    }
    H5Fclose(fid);
    H5Eclear2(H5E_DEFAULT);
  }
  if (rc == DAGR_OK && fsync_path(part, 0) != 0)
    rc = dagr__errf(inner, sizeof inner, DAGR_EIO, "cannot fsync '%s': %s", part, strerror(errno));
  if (rc != DAGR_OK)
    return dagr__errf(err, errlen, rc, "cannot assemble '%s:%s%s': %s", final_path, DSLASH(dataset),
                      dataset, inner);
  return DAGR_OK;
}

/* The temporary file an output is built in (tmp, in final_path's directory): a byte copy of
 * final_path when it exists (so its other objects are kept; an object named dataset is
 * removed), else a new HDF5 file. *created tells the caller to unlink tmp on failure. Called
 * with g_mu held. Errors: DAGR_EIO. */
static int open_output(const char *final_path, const char *dataset, const char *tmp, hid_t *fid,
                       int *created, char *err, size_t errlen) {
  char why[H5IO_REASONSZ];
  struct stat fst;
  *fid = -1;
  *created = 0;
  if (stat(final_path, &fst) == 0) {
    if (!S_ISREG(fst.st_mode) || H5Fis_hdf5(final_path) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return dagr__errf(err, errlen, DAGR_EIO,
                        "cannot add '%s%s' to '%s': it exists and is not an HDF5 file (left as is)",
                        DSLASH(dataset), dataset, final_path);
    }
    char cwhy[PATH_MAX + 128];
    int cr = copy_file(final_path, tmp, fst.st_mode, cwhy, sizeof cwhy);
    *created = cr != -2; /* created by us, maybe partial */
    if (cr != 0)
      return dagr__errf(err, errlen, DAGR_EIO, "cannot add '%s%s' to '%s': %s", DSLASH(dataset),
                        dataset, final_path, cwhy);
    *fid = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    if (*fid < 0)
      return dagr__errf(err, errlen, DAGR_EIO,
                        "cannot add '%s%s' to '%s': cannot open its copy '%s': %s", DSLASH(dataset),
                        dataset, final_path, tmp, h5_reason(why, sizeof why));
    htri_t ex = H5Lexists(*fid, dataset, H5P_DEFAULT);
    H5Eclear2(H5E_DEFAULT);
    if (ex > 0 && H5Ldelete(*fid, dataset, H5P_DEFAULT) < 0)
      return dagr__errf(err, errlen, DAGR_EIO, "cannot replace '%s:%s%s': %s", final_path,
                        DSLASH(dataset), dataset, h5_reason(why, sizeof why));
    return DAGR_OK;
  }
  *fid = H5Fcreate(tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  if (*fid < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot create '%s' (for '%s'): %s", tmp, final_path,
                      h5_reason(why, sizeof why));
  *created = 1;
  return DAGR_OK;
}

/* Cleanup hook (runtime/cleanup.h): a rank stopped by SIGTERM or SIGINT while it builds an
 * output removes the temporary file (the final name never existed or keeps its old content). */
static void unlink_tmp(void *path) {
  unlink((const char *)path);
}

/* Makes the closed temporary file durable, then renames it over final_path (fdir: its
 * directory, fsync'ed after the rename). Errors: DAGR_EIO. */
static int commit_output(const char *tmp, const char *final_path, const char *fdir, char *err,
                         size_t errlen) {
  if (fsync_path(tmp, 0) != 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot fsync '%s': %s", tmp, strerror(errno));
  if (rename(tmp, final_path) != 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot rename '%s' to '%s': %s", tmp, final_path,
                      strerror(errno));
  (void)fsync_path(fdir, 1);
  rcache_close_path(final_path);
  return DAGR_OK;
}

int dagr__h5_write_small(const char *final_path, const char *dataset, int dtype, int ndim,
                         const int64_t *shape, const void *data, char *err, size_t errlen) {
  if (!final_path || !final_path[0] || !dataset || (ndim > 0 && !shape) || !data)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 write: NULL or empty argument");
  const char *p = dataset;
  while (*p == '/') p++;
  if (!*p) return dagr__errf(err, errlen, DAGR_EINVAL, "h5 write: empty dataset name");
  if (!dtype_supported(dtype))
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 write of '%s:%s%s': unsupported dtype %d",
                      final_path, DSLASH(dataset), dataset, dtype);
  if (ndim < 0 || ndim > DAGR_MAX_NDIM)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 write of '%s:%s%s': ndim %d not in 0..%d",
                      final_path, DSLASH(dataset), dataset, ndim, DAGR_MAX_NDIM);
  hsize_t dims[DAGR_MAX_NDIM];
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return dagr__errf(err, errlen, DAGR_EINVAL, "h5 write of '%s:%s%s': negative extent",
                        final_path, DSLASH(dataset), dataset);
    dims[i] = (hsize_t)shape[i];
  }
  char tmp[PATH_MAX], fdir[PATH_MAX], dbuf[PATH_MAX], why[H5IO_REASONSZ];
  if (dagr__h5_temp_path(final_path, tmp, sizeof tmp) != DAGR_OK)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 write: path too long: '%s'", final_path);
  snprintf(dbuf, sizeof dbuf, "%s", final_path);
  if (!realpath(dirname(dbuf), fdir))
    return dagr__errf(err, errlen, DAGR_EIO, "cannot write '%s': directory: %s", final_path,
                      strerror(errno));
  lock_init();
  hid_t fid = -1, space = -1, lcpl = -1, did = -1;
  int created = 0;
  int rc = open_output(final_path, dataset, tmp, &fid, &created, err, errlen);
  if (created) (void)dagr__cleanup_register(unlink_tmp, tmp);
  if (rc == DAGR_OK) {
    /* ndim 0 is HDF5's scalar dataspace, what h5py and NumPy write for a 0-d array. */
    space = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    herr_t hr = space < 0 || lcpl < 0 ? -1 : H5Pset_create_intermediate_group(lcpl, 1);
    if (hr >= 0)
      did = H5Dcreate2(fid, dataset, file_type(dtype), space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (hr < 0 || did < 0 ||
        H5Dwrite(did, mem_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
      rc = dagr__errf(err, errlen, DAGR_EIO, "cannot write '%s:%s%s': %s", final_path,
                      DSLASH(dataset), dataset, h5_reason(why, sizeof why));
  }
  if (did >= 0 && H5Dclose(did) < 0 && rc == DAGR_OK)
    rc =
        dagr__errf(err, errlen, DAGR_EIO, "cannot write '%s': %s", tmp, h5_reason(why, sizeof why));
  if (fid >= 0 && H5Fclose(fid) < 0 && rc == DAGR_OK)
    rc =
        dagr__errf(err, errlen, DAGR_EIO, "cannot write '%s': %s", tmp, h5_reason(why, sizeof why));
  if (lcpl >= 0) H5Pclose(lcpl);
  if (space >= 0) H5Sclose(space);
  if (rc == DAGR_OK) rc = commit_output(tmp, final_path, fdir, err, errlen);
  if (rc != DAGR_OK && created) unlink(tmp);
  (void)dagr__cleanup_unregister(unlink_tmp, tmp);
  H5Eclear2(H5E_DEFAULT);
  pthread_mutex_unlock(&g_mu);
  return rc;
}

int dagr__h5_assemble(const char *final_path, const char *dataset, int dtype, int ndim,
                      const int64_t *shape, size_t nblocks, const dagr__h5_block *blocks, char *err,
                      size_t errlen) {
  if (!final_path || !final_path[0] || !dataset || !shape || (nblocks > 0 && !blocks))
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 assemble: NULL or empty argument");
  const char *p = dataset;
  while (*p == '/') p++;
  if (!*p) return dagr__errf(err, errlen, DAGR_EINVAL, "h5 assemble: empty dataset name");
  if (!dtype_supported(dtype))
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 assemble of '%s:%s%s': unsupported dtype %d",
                      final_path, DSLASH(dataset), dataset, dtype);
  if (ndim < 1 || ndim > DAGR_MAX_NDIM)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 assemble of '%s:%s%s': ndim %d not in 1..%d",
                      final_path, DSLASH(dataset), dataset, ndim, DAGR_MAX_NDIM);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0)
      return dagr__errf(err, errlen, DAGR_EINVAL, "h5 assemble of '%s:%s%s': negative extent",
                        final_path, DSLASH(dataset), dataset);
  for (size_t b = 0; b < nblocks; b++) {
    int empty = 0;
    for (int i = 0; i < ndim; i++) {
      const int64_t s = blocks[b].start[i], c = blocks[b].count[i];
      if (s < 0 || c < 0 || s > shape[i] || c > shape[i] - s)
        return dagr__errf(err, errlen, DAGR_EINVAL,
                          "h5 assemble of '%s:%s%s': block %zu out of range on axis %d (start "
                          "%" PRId64 ", count %" PRId64 ", extent %" PRId64 ")",
                          final_path, DSLASH(dataset), dataset, b, i, s, c, shape[i]);
      if (c == 0) empty = 1;
    }
    if (!empty && (!blocks[b].part_path || !blocks[b].part_path[0]))
      return dagr__errf(err, errlen, DAGR_EINVAL,
                        "h5 assemble of '%s:%s%s': block %zu has no "
                        "part file",
                        final_path, DSLASH(dataset), dataset, b);
  }

  char tmp[PATH_MAX], fdir[PATH_MAX], dbuf[PATH_MAX], why[H5IO_REASONSZ];
  if (dagr__h5_temp_path(final_path, tmp, sizeof tmp) != DAGR_OK)
    return dagr__errf(err, errlen, DAGR_EINVAL, "h5 assemble: path too long: '%s'", final_path);
  snprintf(dbuf, sizeof dbuf, "%s", final_path);
  if (!realpath(dirname(dbuf), fdir))
    return dagr__errf(err, errlen, DAGR_EIO, "cannot assemble '%s': directory: %s", final_path,
                      strerror(errno));

  lock_init();
  int rc = DAGR_OK, tmp_exists = 0;
  hid_t fid = -1, dcpl = -1, space = -1, lcpl = -1, did = -1;
  const char **seen = NULL;
  size_t nseen = 0;

  /* 1. Every part file: ours flushed and closed, present, right dataset, fsync'ed. */
  seen = (const char **)calloc(nblocks ? nblocks : 1, sizeof *seen);
  if (!seen) {
    rc = dagr__errf(err, errlen, DAGR_ENOMEM, "out of memory assembling '%s'", final_path);
    goto fail;
  }
  for (size_t b = 0; b < nblocks && rc == DAGR_OK; b++) {
    const char *part = blocks[b].part_path;
    int empty = 0;
    for (int i = 0; i < ndim; i++) empty |= blocks[b].count[i] == 0;
    if (empty || !part || !part[0]) continue;
    size_t k = 0;
    while (k < nseen && strcmp(seen[k], part) != 0) k++;
    if (k < nseen) continue;
    seen[nseen++] = part;
    rc = check_part(final_path, part, dataset, dtype, ndim, shape, err, errlen);
    if (rc == DAGR_OK) {
      char pd[PATH_MAX];
      snprintf(pd, sizeof pd, "%s", part);
      (void)fsync_path(dirname(pd), 1);
    }
  }
  if (rc != DAGR_OK) goto fail;

  /* 2. The temporary file: a copy of an existing output, or a new file. */
  rc = open_output(final_path, dataset, tmp, &fid, &tmp_exists, err, errlen);
  if (tmp_exists) (void)dagr__cleanup_register(unlink_tmp, tmp);
  if (rc != DAGR_OK) goto fail;

  /* 3. The virtual dataset: one mapping per block, the same region in the source. */
  {
    hsize_t dims[DAGR_MAX_NDIM];
    for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
    space = H5Screate_simple(ndim, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    uint64_t zero = 0;
    herr_t hr = space < 0 || dcpl < 0 || lcpl < 0 ? -1 : 0;
    if (hr >= 0) hr = H5Pset_create_intermediate_group(lcpl, 1);
    if (hr >= 0) hr = H5Pset_fill_value(dcpl, mem_type(dtype), &zero);
    char dsname[2 * H5IO_NAMEMAX + 2], srcname[2 * PATH_MAX];
    size_t j = 0;
    if (dataset[0] != '/') dsname[j++] = '/';
    for (size_t i = 0; dataset[i] && j + 3 < sizeof dsname; i++) {
      if (dataset[i] == '%') dsname[j++] = '%';
      dsname[j++] = dataset[i];
    }
    dsname[j] = '\0';
    /* One mapping per part file, selecting the union of its blocks (in the VDS and, at the same
     * place, in the source): HDF5 1.10 scans every mapping on each read of a VDS, so a mapping
     * per block would make reading a many-chunk output back quadratic. */
    for (size_t k = 0; k < nseen && hr >= 0; k++) {
      if (source_name(fdir, seen[k], srcname, sizeof srcname) != 0) {
        rc = dagr__errf(err, errlen, DAGR_EIO,
                        "cannot assemble '%s': cannot resolve part file '%s'", final_path, seen[k]);
        goto fail;
      }
      hr = H5Sselect_none(space);
      int any = 0;
      for (size_t b = 0; b < nblocks && hr >= 0; b++) {
        if (!blocks[b].part_path || strcmp(blocks[b].part_path, seen[k]) != 0) continue;
        hsize_t hs[DAGR_MAX_NDIM], hc[DAGR_MAX_NDIM];
        int empty = 0;
        for (int i = 0; i < ndim; i++) {
          hs[i] = (hsize_t)blocks[b].start[i];
          hc[i] = (hsize_t)blocks[b].count[i];
          if (hc[i] == 0) empty = 1;
        }
        if (empty) continue;
        hr = H5Sselect_hyperslab(space, any ? H5S_SELECT_OR : H5S_SELECT_SET, hs, NULL, hc, NULL);
        any = 1;
      }
      if (hr >= 0 && any) hr = H5Pset_virtual(dcpl, space, srcname, dsname, space);
    }
    if (hr >= 0) hr = H5Sselect_all(space);
    if (hr >= 0) did = H5Dcreate2(fid, dataset, file_type(dtype), space, lcpl, dcpl, H5P_DEFAULT);
    if (hr < 0 || did < 0) {
      rc = dagr__errf(err, errlen, DAGR_EIO, "cannot create virtual dataset '%s:%s%s': %s",
                      final_path, DSLASH(dataset), dataset, h5_reason(why, sizeof why));
      goto fail;
    }
  }
  {
    herr_t c1 = H5Dclose(did), c2;
    did = -1;
    c2 = H5Fclose(fid);
    fid = -1;
    if (c1 < 0 || c2 < 0) {
      rc = dagr__errf(err, errlen, DAGR_EIO, "cannot write '%s' (for '%s'): %s", tmp, final_path,
                      h5_reason(why, sizeof why));
      goto fail;
    }
  }

  /* 4. Durable, then atomically visible. */
  rc = commit_output(tmp, final_path, fdir, err, errlen);
  if (rc == DAGR_OK) tmp_exists = 0;

fail:
  if (did >= 0) H5Dclose(did);
  if (fid >= 0) H5Fclose(fid);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  if (tmp_exists) unlink(tmp);
  (void)dagr__cleanup_unregister(unlink_tmp, tmp);
  free((void *)seen);
  H5Eclear2(H5E_DEFAULT);
  pthread_mutex_unlock(&g_mu);
  return rc;
}
