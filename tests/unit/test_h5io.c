/* test_h5io.c: unit tests of the HDF5 I/O module: inspect, hyperslab reads, part files + VDS. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "cu_util.h"
#include "hdf5/h5io.h"

static char g_dir[512]; /* mkdtemp directory holding every file of these tests */
static char g_in[600];  /* the fixture file written with the HDF5 C API */
static char g_err[DAGR__ERRLEN];

/* F8 fixture: 50 x 37 float64, chunks 16 x 10, shuffle + gzip. */
#define F8_R 50
#define F8_C 37
static double f8_val(int64_t i, int64_t j) {
  return (double)(i * 100 + j) + 0.25;
}
static float f4_val(int64_t i, int64_t j, int64_t k) {
  return (float)(i * 100 + j * 10 + k) + 0.5f;
}
static int32_t i4_val(int64_t i) {
  return (int32_t)(i * 3 - 50);
}

static void path_in_dir(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", g_dir, name);
}

/* Writes dataset name (dims, file type ftype, memory type mtype, data) into an open file. */
static void write_ds(hid_t fid, const char *name, int ndim, const hsize_t *dims,
                     const hsize_t *chunk, int gzip, hid_t ftype, hid_t mtype, const void *data) {
  hid_t sp = H5Screate_simple(ndim, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  if (chunk) {
    H5Pset_chunk(dcpl, ndim, chunk);
    if (gzip) {
      H5Pset_shuffle(dcpl);
      H5Pset_deflate(dcpl, 4);
    }
  }
  hid_t d = H5Dcreate2(fid, name, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
  CU_ASSERT(d >= 0);
  CU_ASSERT(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(d);
  H5Pclose(lcpl);
  H5Pclose(dcpl);
  H5Sclose(sp);
}

/* A small file holding /x: n float64 values, all equal to v. */
static void write_const_file(const char *path, double v, int n) {
  double *buf = malloc((size_t)n * sizeof *buf);
  for (int i = 0; i < n; i++) buf[i] = v;
  dagr__h5_lock();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[1] = {(hsize_t)n};
  write_ds(f, "x", 1, dims, NULL, 0, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, buf);
  H5Fclose(f);
  dagr__h5_unlock();
  free(buf);
}

static void make_fixture(void) {
  dagr__h5_lock();
  hid_t f = H5Fcreate(g_in, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  {
    static double a[F8_R * F8_C];
    for (int i = 0; i < F8_R; i++)
      for (int j = 0; j < F8_C; j++) a[i * F8_C + j] = f8_val(i, j);
    hsize_t dims[2] = {F8_R, F8_C}, ch[2] = {16, 10};
    write_ds(f, "f8", 2, dims, ch, 1, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a);
  }
  {
    float a[4 * 5 * 6];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 5; j++)
        for (int k = 0; k < 6; k++) a[(i * 5 + j) * 6 + k] = f4_val(i, j, k);
    hsize_t dims[3] = {4, 5, 6}, ch[3] = {2, 5, 3};
    write_ds(f, "grp/f4", 3, dims, ch, 0, H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, a);
  }
  {
    int32_t a[100];
    for (int i = 0; i < 100; i++) a[i] = i4_val(i);
    hsize_t dims[1] = {100};
    write_ds(f, "i4", 1, dims, NULL, 0, H5T_STD_I32LE, H5T_NATIVE_INT32, a);
  }
  {
    uint8_t a[100];
    for (int i = 0; i < 100; i++) a[i] = (uint8_t)(i * 7);
    hsize_t dims[2] = {10, 10};
    write_ds(f, "u8", 2, dims, NULL, 0, H5T_STD_U8LE, H5T_NATIVE_UINT8, a);
  }
  {
    hid_t bt = H5Tenum_create(H5T_STD_I8LE); /* exactly what h5py writes for numpy bool */
    int8_t v = 0;
    H5Tenum_insert(bt, "FALSE", &v);
    v = 1;
    H5Tenum_insert(bt, "TRUE", &v);
    int8_t a[7];
    for (int i = 0; i < 7; i++) a[i] = i % 3 == 0;
    hsize_t dims[1] = {7};
    write_ds(f, "b", 1, dims, NULL, 0, bt, bt, a);
    H5Tclose(bt);
  }
  {
    typedef struct {
      int32_t a;
      double b;
    } rec;
    hid_t ct = H5Tcreate(H5T_COMPOUND, sizeof(rec));
    H5Tinsert(ct, "a", HOFFSET(rec, a), H5T_NATIVE_INT32);
    H5Tinsert(ct, "b", HOFFSET(rec, b), H5T_NATIVE_DOUBLE);
    rec r[3] = {{1, 1.5}, {2, 2.5}, {3, 3.5}};
    hsize_t dims[1] = {3};
    write_ds(f, "cmp", 1, dims, NULL, 0, ct, ct, r);
    H5Tclose(ct);
  }
  {
    int16_t a[4] = {1, 2, 3, 4};
    hsize_t dims[1] = {4};
    write_ds(f, "i2", 1, dims, NULL, 0, H5T_STD_I16LE, H5T_NATIVE_INT16, a);
  }
  H5Fclose(f);
  dagr__h5_unlock();
}

static int count_tmp_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, ".tmp-")) n++;
  closedir(d);
  return n;
}

static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* ------------------------------------------------------------------------------------------- */

static void test_paths(void) {
  char buf[256];
  CU_EXPECT_INT(dagr__h5_part_path("/d/out.h5", 3, buf, sizeof buf), DAGR_OK);
  CU_ASSERT_STRING_EQUAL(buf, "/d/out.h5.parts/rank-3.h5");
  CU_EXPECT_INT(dagr__h5_part_path("/d/out.h5", -1, buf, sizeof buf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__h5_part_path("/d/out.h5", 3, buf, 10), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__h5_part_path(NULL, 3, buf, sizeof buf), DAGR_EINVAL);
  char t1[256], t2[256];
  CU_EXPECT_INT(dagr__h5_temp_path("/d/out.h5", t1, sizeof t1), DAGR_OK);
  CU_EXPECT_INT(dagr__h5_temp_path("/d/out.h5", t2, sizeof t2), DAGR_OK);
  CU_EXPECT_STR_CONTAINS(t1, "/d/out.h5.tmp-");
  CU_ASSERT(strcmp(t1, t2) != 0);
  CU_EXPECT_INT(dagr__h5_temp_path("/d/out.h5", t1, 12), DAGR_EINVAL);
}

static void test_inspect(void) {
  dagr__h5_info in;
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/f8", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.dtype, DAGR_DTYPE_FLOAT64);
  CU_EXPECT_INT(in.ndim, 2);
  CU_EXPECT_INT(in.shape[0], F8_R);
  CU_EXPECT_INT(in.shape[1], F8_C);
  CU_EXPECT_INT(in.chunk[0], 16);
  CU_EXPECT_INT(in.chunk[1], 10);
  CU_EXPECT_INT(in.gzip, 1);
  CU_EXPECT_INT(in.shuffle, 1);
  CU_EXPECT_INT(in.is_virtual, 0);

  CU_EXPECT_INT(dagr__h5_inspect(g_in, "grp/f4", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.dtype, DAGR_DTYPE_FLOAT32);
  CU_EXPECT_INT(in.ndim, 3);
  CU_EXPECT_INT(in.shape[2], 6);
  CU_EXPECT_INT(in.chunk[0], 2);
  CU_EXPECT_INT(in.chunk[2], 3);
  CU_EXPECT_INT(in.gzip, 0);

  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/i4", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.dtype, DAGR_DTYPE_INT32);
  CU_EXPECT_INT(in.ndim, 1);
  CU_EXPECT_INT(in.shape[0], 100);
  CU_EXPECT_INT(in.chunk[0], 0);

  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/u8", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.dtype, DAGR_DTYPE_UINT8);

  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/b", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.dtype, DAGR_DTYPE_BOOL);
  CU_EXPECT_INT(in.shape[0], 7);
}

static void test_unsupported(void) {
  dagr__h5_info in;
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/cmp", &in, g_err, sizeof g_err), DAGR_ETYPE);
  CU_EXPECT_STR_CONTAINS(g_err, "unsupported dtype compound");
  CU_EXPECT_STR_CONTAINS(g_err, "in.h5:/cmp");
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "i2", &in, g_err, sizeof g_err), DAGR_ETYPE);
  CU_EXPECT_STR_CONTAINS(g_err, "unsupported dtype int16");
  CU_EXPECT_STR_CONTAINS(g_err, "in.h5:/i2");
  double x[4];
  int64_t s = 0, c = 2;
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/cmp", 1, &s, &c, NULL, DAGR_DTYPE_FLOAT64, x, g_err, sizeof g_err),
      DAGR_ETYPE);
}

static void test_open_errors(void) {
  dagr__h5_info in;
  char p[700];
  path_in_dir(p, sizeof p, "nope.h5");
  CU_EXPECT_INT(dagr__h5_inspect(p, "/x", &in, g_err, sizeof g_err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "cannot open '");
  CU_EXPECT_STR_CONTAINS(g_err, "nope.h5': No such file");

  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/nope", &in, g_err, sizeof g_err), DAGR_ENOENT);
  CU_EXPECT_STR_CONTAINS(g_err, "no dataset '/nope' in '");
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "nogrp/x", &in, g_err, sizeof g_err), DAGR_ENOENT);
  CU_EXPECT_STR_CONTAINS(g_err, "'/nogrp/x'");
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/f8/x", &in, g_err, sizeof g_err), DAGR_ENOENT);
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/grp", &in, g_err, sizeof g_err), DAGR_ETYPE);
  CU_EXPECT_STR_CONTAINS(g_err, "is a group, not a dataset");
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "/", &in, g_err, sizeof g_err), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__h5_inspect(g_in, "", &in, g_err, sizeof g_err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(g_err, "empty dataset name");

  /* Garbage bytes. */
  path_in_dir(p, sizeof p, "garbage.h5");
  FILE *f = fopen(p, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (int i = 0; i < 4096; i++) fputc((i * 131 + 7) & 0xff, f);
  fclose(f);
  CU_EXPECT_INT(dagr__h5_inspect(p, "/x", &in, g_err, sizeof g_err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "garbage.h5': not an HDF5 file");

  /* Truncated copy of a real file (keeps the superblock, loses the rest). */
  path_in_dir(p, sizeof p, "trunc.h5");
  FILE *src = fopen(g_in, "rb");
  FILE *dst = fopen(p, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  CU_ASSERT_PTR_NOT_NULL_FATAL(dst);
  for (int i = 0; i < 1500; i++) fputc(fgetc(src), dst);
  fclose(src);
  fclose(dst);
  int rc = dagr__h5_inspect(p, "/f8", &in, g_err, sizeof g_err);
  CU_EXPECT_INT(rc, DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "trunc.h5");

  /* Empty file. */
  path_in_dir(p, sizeof p, "empty.h5");
  f = fopen(p, "wb");
  fclose(f);
  CU_EXPECT_INT(dagr__h5_inspect(p, "/x", &in, g_err, sizeof g_err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "not an HDF5 file");

  /* A directory. */
  CU_EXPECT_INT(dagr__h5_inspect(g_dir, "/x", &in, g_err, sizeof g_err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "is a directory");
  CU_EXPECT_INT(dagr__h5_inspect(NULL, "/x", &in, g_err, sizeof g_err), DAGR_EINVAL);
}

static void test_read_block(void) {
  int64_t s[2] = {10, 5}, c[2] = {12, 9};
  double a[12 * 9];
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, s, c, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_OK);
  int bad = 0;
  for (int i = 0; i < 12; i++)
    for (int j = 0; j < 9; j++) bad += a[i * 9 + j] != f8_val(10 + i, 5 + j);
  CU_EXPECT_INT(bad, 0);

  /* The whole dataset, across every chunk including the ragged edges. */
  static double all[F8_R * F8_C];
  int64_t s0[2] = {0, 0}, call[2] = {F8_R, F8_C};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "f8", 2, s0, call, NULL, DAGR_DTYPE_FLOAT64, all, g_err, sizeof g_err),
      DAGR_OK);
  bad = 0;
  for (int i = 0; i < F8_R; i++)
    for (int j = 0; j < F8_C; j++) bad += all[i * F8_C + j] != f8_val(i, j);
  CU_EXPECT_INT(bad, 0);
}

static void test_read_convert(void) {
  /* Big-endian float32 in the file, read as float64. */
  int64_t s3[3] = {1, 2, 1}, c3[3] = {3, 2, 4};
  double d[24];
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/grp/f4", 3, s3, c3, NULL, DAGR_DTYPE_FLOAT64, d, g_err, sizeof g_err),
      DAGR_OK);
  int bad = 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 4; k++)
        bad += d[(i * 2 + j) * 4 + k] != (double)f4_val(1 + i, 2 + j, 1 + k);
  CU_EXPECT_INT(bad, 0);

  /* int32 read as int64 and as float32. */
  int64_t s = 20, c = 50;
  int64_t l[50];
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/i4", 1, &s, &c, NULL, DAGR_DTYPE_INT64, l, g_err, sizeof g_err),
      DAGR_OK);
  bad = 0;
  for (int i = 0; i < 50; i++) bad += l[i] != i4_val(20 + i);
  CU_EXPECT_INT(bad, 0);
  float fl[50];
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/i4", 1, &s, &c, NULL, DAGR_DTYPE_FLOAT32, fl, g_err, sizeof g_err),
      DAGR_OK);
  CU_ASSERT_DOUBLE_EQUAL(fl[3], (double)i4_val(23), 0.0);

  /* uint8 as int32. */
  int64_t s2[2] = {9, 0}, c2[2] = {1, 10};
  int32_t u[10];
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/u8", 2, s2, c2, NULL, DAGR_DTYPE_INT32, u, g_err, sizeof g_err),
      DAGR_OK);
  CU_EXPECT_INT(u[5], (uint8_t)(95 * 7));

  /* h5py bool as bool. */
  s = 0;
  c = 7;
  uint8_t b[7];
  CU_EXPECT_INT(dagr__h5_read(g_in, "/b", 1, &s, &c, NULL, DAGR_DTYPE_BOOL, b, g_err, sizeof g_err),
                DAGR_OK);
  bad = 0;
  for (int i = 0; i < 7; i++) bad += b[i] != (i % 3 == 0);
  CU_EXPECT_INT(bad, 0);
}

static void test_read_stride(void) {
  int64_t s[2] = {1, 2}, c[2] = {5, 4}, st[2] = {3, 7};
  double a[20];
  CU_EXPECT_INT(dagr__h5_read(g_in, "/f8", 2, s, c, st, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
                DAGR_OK);
  int bad = 0;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++) bad += a[i * 4 + j] != f8_val(1 + 3 * i, 2 + 7 * j);
  CU_EXPECT_INT(bad, 0);
  /* The last element reachable exactly: start 36 = 2 + 34, extent 37. */
  int64_t s1[2] = {49, 1}, c1[2] = {1, 2}, st1[2] = {1, 35};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, s1, c1, st1, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_OK);
  CU_ASSERT(a[1] == f8_val(49, 36));
}

static void test_read_out_of_range(void) {
  double a[64];
  int64_t s[2] = {45, 0}, c[2] = {6, 2};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, s, c, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(g_err, "out of range on axis 0");
  CU_EXPECT_STR_CONTAINS(g_err, "in.h5:/f8");
  int64_t s2[2] = {0, 0}, c2[2] = {2, 3}, st2[2] = {1, 19}; /* last index 2*19 = 38 >= 37 */
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, s2, c2, st2, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(g_err, "axis 1");
  int64_t s3[2] = {50, 0}, c3[2] = {1, 1};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, s3, c3, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_EINVAL);
  int64_t sneg[2] = {-1, 0};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, sneg, c3, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_EINVAL);
  int64_t big[2] = {INT64_MAX, 0}, one[2] = {2, 1};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, big, one, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_EINVAL);
  int64_t zs[1] = {0}, zc[1] = {1};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 1, zs, zc, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(g_err, "1 dimensions, the dataset 2");
  /* Empty hyperslab: fine, nothing read. */
  int64_t s0[2] = {50, 3}, c0[2] = {0, 2};
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/f8", 2, s0, c0, NULL, DAGR_DTYPE_FLOAT64, NULL, g_err, sizeof g_err),
      DAGR_OK);
  /* Missing file and dataset through read. */
  CU_EXPECT_INT(
      dagr__h5_read(g_in, "/zz", 2, s0, c0, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
      DAGR_ENOENT);
  CU_EXPECT_INT(dagr__h5_read("/nonexistent/q.h5", "/f8", 2, s0, c0, NULL, DAGR_DTYPE_FLOAT64, a,
                              g_err, sizeof g_err),
                DAGR_EIO);
}

static void test_cache_replaced_and_lru(void) {
  char p[700], q[700];
  path_in_dir(p, sizeof p, "replace.h5");
  path_in_dir(q, sizeof q, "replace.h5.new");
  write_const_file(p, 1.0, 10);
  int64_t s = 0, c = 10;
  double a[10];
  CU_EXPECT_INT(dagr__h5_read(p, "/x", 1, &s, &c, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
                DAGR_OK);
  CU_ASSERT(a[9] == 1.0);
  write_const_file(q, 2.0, 10);
  CU_EXPECT_INT(rename(q, p), 0);
  CU_EXPECT_INT(dagr__h5_read(p, "/x", 1, &s, &c, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
                DAGR_OK);
  CU_ASSERT(a[9] == 2.0);
  /* Removed: an error, not stale data. */
  unlink(p);
  CU_EXPECT_INT(dagr__h5_read(p, "/x", 1, &s, &c, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err),
                DAGR_EIO);

  /* More files than cache entries, twice around. */
  for (int k = 0; k < 20; k++) {
    snprintf(q, sizeof q, "%s/lru-%d.h5", g_dir, k);
    write_const_file(q, (double)k, 4);
  }
  int bad = 0;
  for (int round = 0; round < 2; round++)
    for (int k = 0; k < 20; k++) {
      snprintf(q, sizeof q, "%s/lru-%d.h5", g_dir, k);
      c = 4;
      if (dagr__h5_read(q, "x", 1, &s, &c, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err) !=
              DAGR_OK ||
          a[3] != (double)k)
        bad++;
    }
  CU_EXPECT_INT(bad, 0);
}

/* ------------------------------------------------------------------------------------------- */
/* Part files and the VDS. */

#define OR 20
#define OC 30
#define CR 8
#define CC 8
static double out_val(int64_t i, int64_t j, double tag) {
  return tag * 1000.0 + i * 31.0 + j;
}

/* Two simulated ranks write the blocks of an OR x OC array (chunks CR x CC) to their part files
 * (block b goes to rank 1 when b % 3 == 0, else rank 0); fills blocks[] (up to 16) and returns how
 * many. */
static size_t write_parts(const char *final, const char *dataset, double tag, char parts[2][700],
                          dagr__h5_block *blocks) {
  int64_t shape[2] = {OR, OC}, chunk[2] = {CR, CC};
  for (int r = 0; r < 2; r++) CU_EXPECT_INT(dagr__h5_part_path(final, r, parts[r], 700), DAGR_OK);
  size_t nb = 0;
  for (int64_t bi = 0; bi < OR; bi += CR)
    for (int64_t bj = 0; bj < OC; bj += CC) {
      int64_t st[2] = {bi, bj};
      int64_t ct[2] = {bi + CR <= OR ? CR : OR - bi, bj + CC <= OC ? CC : OC - bj};
      double buf[CR * CC];
      for (int64_t i = 0; i < ct[0]; i++)
        for (int64_t j = 0; j < ct[1]; j++) buf[i * ct[1] + j] = out_val(bi + i, bj + j, tag);
      int r = nb % 3 == 0; /* an irregular mix of blocks per part file */
      CU_EXPECT_INT(dagr__h5_part_write(parts[r], dataset, DAGR_DTYPE_FLOAT64, 2, shape, chunk, 4,
                                        st, ct, buf, g_err, sizeof g_err),
                    DAGR_OK);
      memcpy(blocks[nb].start, st, sizeof st);
      memcpy(blocks[nb].count, ct, sizeof ct);
      blocks[nb].part_path = parts[r];
      nb++;
    }
  for (int r = 0; r < 2; r++)
    CU_EXPECT_INT(dagr__h5_part_close(parts[r], g_err, sizeof g_err), DAGR_OK);
  return nb;
}

static int check_out(const char *final, const char *dataset, double tag) {
  static double a[OR * OC];
  int64_t s[2] = {0, 0}, c[2] = {OR, OC};
  int rc = dagr__h5_read(final, dataset, 2, s, c, NULL, DAGR_DTYPE_FLOAT64, a, g_err, sizeof g_err);
  if (rc != DAGR_OK) {
    fprintf(stderr, "  read %s: %s\n", final, g_err);
    return -1;
  }
  int bad = 0;
  for (int i = 0; i < OR; i++)
    for (int j = 0; j < OC; j++) bad += a[i * OC + j] != out_val(i, j, tag);
  return bad;
}

static void test_parts_assemble(void) {
  char sub[700], final[800], parts[2][700], moved[700], movedfinal[800];
  path_in_dir(sub, sizeof sub, "mv");
  CU_EXPECT_INT(mkdir(sub, 0777), 0);
  snprintf(final, sizeof final, "%s/out.h5", sub);
  dagr__h5_block blocks[16];
  size_t nb = write_parts(final, "/res/x", 1.0, parts, blocks);
  CU_EXPECT_INT(nb, 12);
  CU_EXPECT_STR_CONTAINS(parts[1], "/mv/out.h5.parts/rank-1.h5");
  CU_ASSERT(file_exists(parts[0]) && file_exists(parts[1]));
  CU_ASSERT(!file_exists(final)); /* nothing under the final name before assemble */

  int64_t shape[2] = {OR, OC};
  CU_EXPECT_INT(dagr__h5_assemble(final, "/res/x", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err,
                                  sizeof g_err),
                DAGR_OK);
  CU_ASSERT(file_exists(final));
  CU_EXPECT_INT(count_tmp_files(sub), 0);
  dagr__h5_info in;
  CU_EXPECT_INT(dagr__h5_inspect(final, "/res/x", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.is_virtual, 1);
  CU_EXPECT_INT(in.dtype, DAGR_DTYPE_FLOAT64);
  CU_EXPECT_INT(in.shape[0], OR);
  CU_EXPECT_INT(in.shape[1], OC);
  CU_EXPECT_INT(check_out(final, "/res/x", 1.0), 0);
  CU_EXPECT_INT(dagr__h5_inspect(parts[0], "/res/x", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.gzip, 1);
  CU_EXPECT_INT(in.chunk[0], CR);

  /* Sources are relative: read from another working directory, then after moving the dir. */
  char cwd[1024];
  CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
  CU_EXPECT_INT(chdir("/"), 0);
  dagr__h5_close_all();
  CU_EXPECT_INT(check_out(final, "/res/x", 1.0), 0);
  path_in_dir(moved, sizeof moved, "moved");
  dagr__h5_close_all();
  CU_EXPECT_INT(rename(sub, moved), 0);
  snprintf(movedfinal, sizeof movedfinal, "%s/out.h5", moved);
  CU_EXPECT_INT(check_out(movedfinal, "/res/x", 1.0), 0);
  CU_EXPECT_INT(chdir(cwd), 0);
  dagr__h5_close_all();
  CU_EXPECT_INT(rename(moved, sub), 0);

  /* A second store to the same output replaces it (new values through the same part files). */
  nb = write_parts(final, "/res/x", 2.0, parts, blocks);
  CU_EXPECT_INT(dagr__h5_assemble(final, "/res/x", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err,
                                  sizeof g_err),
                DAGR_OK);
  CU_EXPECT_INT(check_out(final, "/res/x", 2.0), 0);

  /* A missing source is reported, never read as zeros. */
  char keep[800];
  snprintf(keep, sizeof keep, "%s.keep", parts[1]);
  dagr__h5_close_all();
  CU_EXPECT_INT(rename(parts[1], keep), 0);
  CU_EXPECT_INT(dagr__h5_inspect(final, "/res/x", &in, g_err, sizeof g_err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "rank-1.h5' of virtual dataset");
  CU_EXPECT_INT(rename(keep, parts[1]), 0);
  CU_EXPECT_INT(check_out(final, "/res/x", 2.0), 0);
}

static void test_assemble_bool_int(void) {
  char final[700], part[700];
  path_in_dir(final, sizeof final, "bools.h5");
  CU_EXPECT_INT(dagr__h5_part_path(final, 0, part, sizeof part), DAGR_OK);
  int64_t shape[1] = {10}, chunk[1] = {4};
  uint8_t b[10];
  for (int i = 0; i < 10; i++) b[i] = i % 2;
  dagr__h5_block blocks[3];
  for (int k = 0; k < 3; k++) {
    int64_t s = k * 4, c = k < 2 ? 4 : 2;
    CU_EXPECT_INT(dagr__h5_part_write(part, "flag", DAGR_DTYPE_BOOL, 1, shape, chunk, 0, &s, &c,
                                      b + s, g_err, sizeof g_err),
                  DAGR_OK);
    blocks[k].start[0] = s;
    blocks[k].count[0] = c;
    blocks[k].part_path = part;
  }
  int32_t iv[10];
  for (int i = 0; i < 10; i++) iv[i] = -i * 1000;
  int64_t s0 = 0, c10 = 10;
  CU_EXPECT_INT(dagr__h5_part_write(part, "ints", DAGR_DTYPE_INT32, 1, shape, chunk, 1, &s0, &c10,
                                    iv, g_err, sizeof g_err),
                DAGR_OK);
  /* Same dataset, other dtype: refused. */
  CU_EXPECT_INT(dagr__h5_part_write(part, "ints", DAGR_DTYPE_FLOAT64, 1, shape, chunk, 1, &s0, &c10,
                                    iv, g_err, sizeof g_err),
                DAGR_ETYPE);
  CU_EXPECT_STR_CONTAINS(g_err, "is int32 (10), expected float64 (10)");
  int64_t s9 = 9, c2 = 2;
  CU_EXPECT_INT(dagr__h5_part_write(part, "ints", DAGR_DTYPE_INT32, 1, shape, chunk, 1, &s9, &c2,
                                    iv, g_err, sizeof g_err),
                DAGR_EINVAL);
  CU_EXPECT_INT(dagr__h5_part_close(part, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "flag", DAGR_DTYPE_BOOL, 1, shape, 3, blocks, g_err, sizeof g_err),
      DAGR_OK);
  dagr__h5_block whole = {{0}, {10}, part};
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "ints", DAGR_DTYPE_INT32, 1, shape, 1, &whole, g_err, sizeof g_err),
      DAGR_OK);
  dagr__h5_info in;
  CU_EXPECT_INT(dagr__h5_inspect(final, "/flag", &in, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(in.dtype, DAGR_DTYPE_BOOL);
  uint8_t rb[10];
  CU_EXPECT_INT(
      dagr__h5_read(final, "/flag", 1, &s0, &c10, NULL, DAGR_DTYPE_BOOL, rb, g_err, sizeof g_err),
      DAGR_OK);
  CU_ASSERT(memcmp(rb, b, 10) == 0);
  int64_t rl[10];
  CU_EXPECT_INT(
      dagr__h5_read(final, "/ints", 1, &s0, &c10, NULL, DAGR_DTYPE_INT64, rl, g_err, sizeof g_err),
      DAGR_OK);
  CU_EXPECT_INT(rl[7], -7000);
}

static void test_assemble_existing(void) {
  char final[700], parts[2][700];
  path_in_dir(final, sizeof final, "existing.h5");
  int32_t other[6] = {5, 4, 3, 2, 1, 0};
  dagr__h5_lock();
  hid_t f = H5Fcreate(final, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[1] = {6};
  write_ds(f, "keep/other", 1, dims, NULL, 0, H5T_STD_I32LE, H5T_NATIVE_INT32, other);
  H5Fclose(f);
  dagr__h5_unlock();
  /* Keep it open in the read cache while it is replaced. */
  int64_t s = 0, c = 6;
  int32_t r[6];
  CU_EXPECT_INT(
      dagr__h5_read(final, "keep/other", 1, &s, &c, NULL, DAGR_DTYPE_INT32, r, g_err, sizeof g_err),
      DAGR_OK);
  struct stat before;
  CU_EXPECT_INT(stat(final, &before), 0);
  chmod(final, 0640);

  dagr__h5_block blocks[16];
  size_t nb = write_parts(final, "new", 3.0, parts, blocks);
  int64_t shape[2] = {OR, OC};
  CU_EXPECT_INT(dagr__h5_assemble(final, "new", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err,
                                  sizeof g_err),
                DAGR_OK);
  CU_EXPECT_INT(check_out(final, "/new", 3.0), 0);
  memset(r, 0, sizeof r);
  CU_EXPECT_INT(
      dagr__h5_read(final, "keep/other", 1, &s, &c, NULL, DAGR_DTYPE_INT32, r, g_err, sizeof g_err),
      DAGR_OK);
  CU_ASSERT(memcmp(r, other, sizeof r) == 0);
  struct stat after;
  CU_EXPECT_INT(stat(final, &after), 0);
  CU_EXPECT_INT(after.st_mode & 0777, 0640);
  CU_EXPECT_INT(count_tmp_files(g_dir), 0);

  /* The dataset again: replaced in place of the old one, the other dataset still there. */
  nb = write_parts(final, "new", 4.0, parts, blocks);
  CU_EXPECT_INT(dagr__h5_assemble(final, "new", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err,
                                  sizeof g_err),
                DAGR_OK);
  CU_EXPECT_INT(check_out(final, "/new", 4.0), 0);
  CU_EXPECT_INT(dagr__h5_read(final, "/keep/other", 1, &s, &c, NULL, DAGR_DTYPE_INT32, r, g_err,
                              sizeof g_err),
                DAGR_OK);
  CU_EXPECT_INT(r[0], 5);
}

/* Small whole arrays written directly: a scalar (0-d) dataset reads back with inspect/read, a
 * second dataset joins the file, and a non-HDF5 file under the name is refused and kept. */
static void test_write_small(void) {
  char final[700];
  path_in_dir(final, sizeof final, "small.h5");
  double v = 2.5;
  CU_EXPECT_INT(
      dagr__h5_write_small(final, "/s", DAGR_DTYPE_FLOAT64, 0, NULL, &v, g_err, sizeof g_err),
      DAGR_OK);
  dagr__h5_info info;
  CU_EXPECT_INT(dagr__h5_inspect(final, "/s", &info, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(info.ndim, 0);
  CU_EXPECT_INT(info.dtype, DAGR_DTYPE_FLOAT64);
  double got = 0;
  CU_EXPECT_INT(dagr__h5_read(final, "/s", 0, NULL, NULL, NULL, DAGR_DTYPE_FLOAT64, &got, g_err,
                              sizeof g_err),
                DAGR_OK);
  CU_ASSERT(got == 2.5);
  int64_t shape[1] = {3}, cnt = 3, st = 0, iv[3] = {7, -8, 9}, back[3] = {0};
  CU_EXPECT_INT(
      dagr__h5_write_small(final, "g/v", DAGR_DTYPE_INT64, 1, shape, iv, g_err, sizeof g_err),
      DAGR_OK);
  CU_EXPECT_INT(
      dagr__h5_read(final, "/g/v", 1, &st, &cnt, NULL, DAGR_DTYPE_INT64, back, g_err, sizeof g_err),
      DAGR_OK);
  CU_EXPECT_INT(back[1], -8);
  CU_EXPECT_INT(dagr__h5_inspect(final, "/s", &info, g_err, sizeof g_err), DAGR_OK);
  CU_EXPECT_INT(count_tmp_files(g_dir), 0);
  char text[700];
  path_in_dir(text, sizeof text, "small.txt");
  FILE *f = fopen(text, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("not hdf5\n", f);
  fclose(f);
  CU_EXPECT_INT(
      dagr__h5_write_small(text, "/s", DAGR_DTYPE_FLOAT64, 0, NULL, &v, g_err, sizeof g_err),
      DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "not an HDF5 file");
  struct stat sb;
  CU_EXPECT_INT(stat(text, &sb), 0);
  CU_EXPECT_INT(sb.st_size, 9);
  CU_EXPECT_INT(count_tmp_files(g_dir), 0);
  CU_EXPECT_INT(dagr__h5_write_small(final, "/s", 99, 0, NULL, &v, g_err, sizeof g_err),
                DAGR_EINVAL);
}

static void test_assemble_failures(void) {
  char final[700], parts[2][700];
  path_in_dir(final, sizeof final, "fail.h5");
  dagr__h5_block blocks[16];
  size_t nb = write_parts(final, "x", 5.0, parts, blocks);
  int64_t shape[2] = {OR, OC};

  /* A block whose part file is missing: error, and neither the final nor a temporary file. */
  char ghost[700];
  path_in_dir(ghost, sizeof ghost, "fail.h5.parts/rank-7.h5");
  blocks[3].part_path = ghost;
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "x", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err, sizeof g_err),
      DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "rank-7.h5");
  CU_EXPECT_STR_CONTAINS(g_err, "fail.h5:/x");
  CU_ASSERT(!file_exists(final));
  CU_EXPECT_INT(count_tmp_files(g_dir), 0);
  blocks[3].part_path = parts[1];

  /* A part file without the dataset, or with another shape. */
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "y", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err, sizeof g_err),
      DAGR_ENOENT);
  CU_EXPECT_STR_CONTAINS(g_err, "no dataset '/y'");
  int64_t wrong[2] = {OR, OC + 1};
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "x", DAGR_DTYPE_FLOAT64, 2, wrong, nb, blocks, g_err, sizeof g_err),
      DAGR_ETYPE);
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "x", DAGR_DTYPE_INT32, 2, shape, nb, blocks, g_err, sizeof g_err),
      DAGR_ETYPE);
  CU_ASSERT(!file_exists(final));
  CU_EXPECT_INT(count_tmp_files(g_dir), 0);

  /* A block outside the shape. */
  blocks[0].count[0] = OR + 1;
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "x", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err, sizeof g_err),
      DAGR_EINVAL);
  blocks[0].count[0] = CR;

  /* An existing final file is left untouched by a failed assemble. */
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "x", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err, sizeof g_err),
      DAGR_OK);
  struct stat st1, st2;
  CU_EXPECT_INT(stat(final, &st1), 0);
  blocks[5].part_path = ghost;
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "x", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err, sizeof g_err),
      DAGR_EIO);
  CU_EXPECT_INT(stat(final, &st2), 0);
  CU_ASSERT(st1.st_ino == st2.st_ino && st1.st_size == st2.st_size &&
            st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
  CU_EXPECT_INT(count_tmp_files(g_dir), 0);
  CU_EXPECT_INT(check_out(final, "x", 5.0), 0);

  /* An existing file that is not HDF5 is not overwritten. */
  char notes[700];
  path_in_dir(notes, sizeof notes, "notes.txt");
  FILE *f = fopen(notes, "w");
  fputs("important\n", f);
  fclose(f);
  blocks[5].part_path = parts[1];
  CU_EXPECT_INT(
      dagr__h5_assemble(notes, "x", DAGR_DTYPE_FLOAT64, 2, shape, nb, blocks, g_err, sizeof g_err),
      DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(g_err, "not an HDF5 file");
  struct stat sn;
  CU_EXPECT_INT(stat(notes, &sn), 0);
  CU_EXPECT_INT(sn.st_size, 10);
  CU_EXPECT_INT(count_tmp_files(g_dir), 0);
}

/* ------------------------------------------------------------------------------------------- */

typedef struct {
  int id;
  int bad;
} thr_arg;

static void *reader(void *p) {
  thr_arg *a = (thr_arg *)p;
  unsigned seed = 12345u + (unsigned)a->id;
  double buf[F8_R * F8_C];
  char q[700];
  for (int it = 0; it < 150; it++) {
    int64_t s[2], c[2];
    s[0] = rand_r(&seed) % F8_R;
    s[1] = rand_r(&seed) % F8_C;
    c[0] = 1 + rand_r(&seed) % (F8_R - s[0]);
    c[1] = 1 + rand_r(&seed) % (F8_C - s[1]);
    char err[256];
    if (dagr__h5_read(g_in, "/f8", 2, s, c, NULL, DAGR_DTYPE_FLOAT64, buf, err, sizeof err) !=
        DAGR_OK) {
      a->bad++;
      continue;
    }
    for (int64_t i = 0; i < c[0]; i++)
      for (int64_t j = 0; j < c[1]; j++) a->bad += buf[i * c[1] + j] != f8_val(s[0] + i, s[1] + j);
    int k = rand_r(&seed) % 20; /* more files than cache entries: evictions race with reads */
    snprintf(q, sizeof q, "%s/lru-%d.h5", g_dir, k);
    int64_t s1 = 0, c1 = 4;
    if (dagr__h5_read(q, "/x", 1, &s1, &c1, NULL, DAGR_DTYPE_FLOAT64, buf, err, sizeof err) !=
            DAGR_OK ||
        buf[2] != (double)k)
      a->bad++;
    float f[6];
    int64_t s3[3] = {it % 4, 1, 0}, c3[3] = {1, 1, 6};
    if (dagr__h5_read(g_in, "/grp/f4", 3, s3, c3, NULL, DAGR_DTYPE_FLOAT32, f, err, sizeof err) !=
            DAGR_OK ||
        f[5] != f4_val(it % 4, 1, 5))
      a->bad++;
  }
  return NULL;
}

static void test_concurrent_reads(void) {
  pthread_t t[4];
  thr_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i].id = i;
    a[i].bad = 0;
    CU_EXPECT_INT(pthread_create(&t[i], NULL, reader, &a[i]), 0);
  }
  int bad = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    bad += a[i].bad;
  }
  CU_EXPECT_INT(bad, 0);
}

/* Writers from 4 threads into 2 part files, as executor threads of two ranks would. */
typedef struct {
  char *part;
  int first, step;
  int bad;
} wthr_arg;

static void *writer(void *p) {
  wthr_arg *a = (wthr_arg *)p;
  int64_t shape[2] = {64, 64}, chunk[2] = {8, 8};
  for (int b = a->first; b < 64; b += a->step) {
    int64_t st[2] = {(b / 8) * 8, (b % 8) * 8}, ct[2] = {8, 8};
    double buf[64];
    for (int i = 0; i < 8; i++)
      for (int j = 0; j < 8; j++) buf[i * 8 + j] = (double)((st[0] + i) * 64 + st[1] + j);
    char err[256];
    if (dagr__h5_part_write(a->part, "w", DAGR_DTYPE_FLOAT64, 2, shape, chunk, 1, st, ct, buf, err,
                            sizeof err) != DAGR_OK)
      a->bad++;
  }
  return NULL;
}

static void test_concurrent_writes(void) {
  char final[700], parts[2][700];
  path_in_dir(final, sizeof final, "threads.h5");
  for (int r = 0; r < 2; r++) dagr__h5_part_path(final, r, parts[r], sizeof parts[r]);
  pthread_t t[4];
  wthr_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i].part = parts[i % 2];
    a[i].first = i;
    a[i].step = 4;
    a[i].bad = 0;
    CU_EXPECT_INT(pthread_create(&t[i], NULL, writer, &a[i]), 0);
  }
  int bad = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    bad += a[i].bad;
  }
  CU_EXPECT_INT(bad, 0);
  dagr__h5_block blocks[64];
  for (int b = 0; b < 64; b++) {
    blocks[b].start[0] = (b / 8) * 8;
    blocks[b].start[1] = (b % 8) * 8;
    blocks[b].count[0] = blocks[b].count[1] = 8;
    blocks[b].part_path = parts[(b % 4) % 2];
  }
  int64_t shape[2] = {64, 64};
  CU_EXPECT_INT(
      dagr__h5_assemble(final, "w", DAGR_DTYPE_FLOAT64, 2, shape, 64, blocks, g_err, sizeof g_err),
      DAGR_OK);
  static double all[64 * 64];
  int64_t s[2] = {0, 0}, c[2] = {64, 64};
  CU_EXPECT_INT(
      dagr__h5_read(final, "w", 2, s, c, NULL, DAGR_DTYPE_FLOAT64, all, g_err, sizeof g_err),
      DAGR_OK);
  bad = 0;
  for (int i = 0; i < 64 * 64; i++) bad += all[i] != (double)i;
  CU_EXPECT_INT(bad, 0);
}

/* ------------------------------------------------------------------------------------------- */

static int rm_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return -1;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      rm_tree(sub);
    }
    closedir(d);
    return rmdir(path);
  }
  return unlink(path);
}

static void test_setup(void) {
  const char *t = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/dagr-h5io-XXXXXX", t && t[0] ? t : "/tmp");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(g_dir));
  path_in_dir(g_in, sizeof g_in, "in.h5");
  make_fixture();
}

static void test_teardown(void) {
  dagr__h5_close_all();
  CU_EXPECT_INT(rm_tree(g_dir), 0);
}

int main(void) {
  static const cu_test_def tests[] = {
      {"setup (fixture files)", test_setup},
      {"part and temp paths", test_paths},
      {"inspect dtypes, shapes, chunks, filters", test_inspect},
      {"unsupported dtypes named", test_unsupported},
      {"missing, corrupt, truncated files and datasets", test_open_errors},
      {"read blocks", test_read_block},
      {"read with dtype conversion", test_read_convert},
      {"read with strides", test_read_stride},
      {"out-of-range hyperslabs rejected", test_read_out_of_range},
      {"cache sees replaced files; LRU eviction", test_cache_replaced_and_lru},
      {"part files from 2 ranks + VDS assemble", test_parts_assemble},
      {"assemble bool and int32", test_assemble_bool_int},
      {"assemble into an existing file", test_assemble_existing},
      {"failed assemble leaves nothing", test_assemble_failures},
      {"small and scalar datasets written directly", test_write_small},
      {"concurrent reads from 4 threads", test_concurrent_reads},
      {"concurrent part writes from 4 threads", test_concurrent_writes},
      {"teardown", test_teardown},
      {NULL, NULL},
  };
  return cu_run_suite("h5io", tests);
}
