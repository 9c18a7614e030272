/* c_arrays.c: single-process C baselines (HDF5 C API, OpenMP, CBLAS) for dagr's array benchmarks.
 */
/*
 * usage: bench/c_arrays WORKLOAD [--n N] [--chunk C] [--iters I] [--reps R] [--out FILE.h5]
 *   h5sum FILE.h5:/x  read the 2-D dataset chunk by chunk (C x C hyperslabs, HDF5 is not
 *                     thread-safe: one thread) and sum it
 *   xxt_mean          (x + x.T).mean(axis=0), x random n x n (default 8192): one pass over x
 *                     summing rows and columns, OpenMP
 *   matmul            (x @ x).sum(), x random n x n (default 4096): one cblas_dgemm on all of
 *                     OpenBLAS's threads, then an OpenMP sum
 *   h5write           x * 2 + 1, x random n x n (default 8192), written to a C x C chunked HDF5
 *                     dataset /y under a temporary name renamed at the end (no fsync)
 *   stencil           the star stencil (radius 2, float32, boundary none) --iters (10) sweeps as
 *                     one OpenMP loop each, then the sum (like shared/anchors/stencil_limit.c)
 * The random arrays are dagr's random_uniform(seed 0) values: per C x C chunk (C-order chunk
 * index b) a xoshiro256** stream seeded by splitmix64 from (seed, b), so r0, r and sums match
 * `dagr bench` up to summation order. Where dagr's and Dask's timings include the random
 * generation (xxt_mean, matmul, h5write), so does seconds here; gen_seconds shows that part.
 * Prints one name=value line per run set: seconds (median of --reps, default 3), min_seconds.
 */
#include <cblas.h>
#include <hdf5.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median (sorts v) and minimum of n values. */
static double median(double *v, int n, double *best) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  *best = v[0];
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- dagr's random_uniform(0, 1) ------------------------------------------------------------ */
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

/* Fills chunk (bi, bj) of an n x n row-major array x (leading dimension ld, rows/cols offset by
 * row0) with scale * u + shift, u dagr's uniform values of that chunk. */
static void gen_chunk(double *x, long ld, long row0, long n, long c, long bi, long bj, double scale,
                      double shift) {
  long nb = (n + c - 1) / c, h = (bi + 1) * c <= n ? c : n - bi * c,
       w = (bj + 1) * c <= n ? c : n - bj * c;
  uint64_t block = (uint64_t)(bi * nb + bj);
  uint64_t v = 0 * 0x9e3779b97f4a7c15ull ^ (block + 0x632be59bd9b4e019ull); /* seed 0 */
  uint64_t s[4] = {splitmix(&v), splitmix(&v), splitmix(&v), splitmix(&v)};
  for (long i = 0; i < h; i++) {
    double *row = x + (bi * c + i - row0) * ld + bj * c;
    for (long j = 0; j < w; j++) row[j] = scale * ((double)(xoshiro(s) >> 11) * 0x1.0p-53) + shift;
  }
}

/* The whole n x n random array, chunks generated in parallel. */
static void gen_all(double *x, long n, long c) {
  long nb = (n + c - 1) / c;
#pragma omp parallel for schedule(dynamic)
  for (long b = 0; b < nb * nb; b++) gen_chunk(x, n, 0, n, c, b / nb, b % nb, 1.0, 0.0);
}

typedef struct opts {
  long n, chunk;
  int iters, reps;
  const char *out, *target;
} opts;

static void line_end(const char *name, double *secs, int reps) {
  double best, med = median(secs, reps, &best);
  printf(" reps=%d threads=%d seconds=%.4f min_seconds=%.4f", reps, omp_get_max_threads(), med,
         best);
  (void)name;
}

/* ---- h5sum ------------------------------------------------------------------------------------
 */
static int h5sum(const opts *o) {
  if (!o->target || !strchr(o->target, ':')) {
    fprintf(stderr, "c_arrays h5sum: needs FILE.h5:/dataset\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s", o->target);
  char *colon = strrchr(path, ':');
  *colon = '\0';
  const char *dset = colon + 1;
  double *secs = calloc((size_t)o->reps, sizeof *secs), sum = 0;
  long c = o->chunk;
  double *buf = malloc(sizeof(double) * (size_t)(c * c));
  hsize_t dims[2] = {0, 0};
  if (!secs || !buf) return 1;
  for (int r = 0; r < o->reps; r++) {
    double t = now();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t fs = d < 0 ? -1 : H5Dget_space(d);
    if (fs < 0 || H5Sget_simple_extent_ndims(fs) != 2) {
      fprintf(stderr, "c_arrays h5sum: cannot open 2-D dataset %s in %s\n", dset, path);
      return 1;
    }
    H5Sget_simple_extent_dims(fs, dims, NULL);
    sum = 0;
    for (hsize_t i = 0; i < dims[0]; i += (hsize_t)c)
      for (hsize_t j = 0; j < dims[1]; j += (hsize_t)c) {
        hsize_t start[2] = {i, j};
        hsize_t cnt[2] = {dims[0] - i < (hsize_t)c ? dims[0] - i : (hsize_t)c,
                          dims[1] - j < (hsize_t)c ? dims[1] - j : (hsize_t)c};
        hid_t ms = H5Screate_simple(2, cnt, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
        if (H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, buf) < 0) {
          fprintf(stderr, "c_arrays h5sum: read failed\n");
          return 1;
        }
        H5Sclose(ms);
        double s = 0;
        size_t m = (size_t)(cnt[0] * cnt[1]);
        for (size_t e = 0; e < m; e++) s += buf[e];
        sum += s;
      }
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f);
    secs[r] = now() - t;
  }
  printf("c_arrays=h5sum file=%s dataset=%s shape=%llux%llu chunk=%ld", path, dset,
         (unsigned long long)dims[0], (unsigned long long)dims[1], c);
  line_end("h5sum", secs, o->reps);
  printf(" result=%.6f timed=open+read+sum(1 thread)\n", sum);
  free(buf);
  free(secs);
  return 0;
}

/* ---- xxt_mean ---------------------------------------------------------------------------------
 */
static int xxt_mean(const opts *o) {
  long n = o->n ? o->n : 8192, c = o->chunk < n ? o->chunk : n;
  double *x = malloc(sizeof(double) * (size_t)(n * n)), *res = malloc(sizeof(double) * (size_t)n);
  double *secs = calloc((size_t)o->reps, sizeof *secs), *gens = calloc((size_t)o->reps, 8);
  if (!x || !res || !secs || !gens) return 1;
  int nt = omp_get_max_threads();
  double *colp = calloc((size_t)(nt * n), sizeof(double));
  if (!colp) return 1;
  for (int r = 0; r < o->reps; r++) {
    double t = now();
    gen_all(x, n, c);
    gens[r] = now() - t;
    memset(colp, 0, sizeof(double) * (size_t)(nt * n));
    /* res[i] = row sum i (x.T's column i); colp[t] per-thread column sums. */
#pragma omp parallel
    {
      double *cs = colp + (long)omp_get_thread_num() * n;
#pragma omp for schedule(static)
      for (long i = 0; i < n; i++) {
        const double *row = x + i * n;
        double s = 0;
        for (long j = 0; j < n; j++) {
          s += row[j];
          cs[j] += row[j];
        }
        res[i] = s;
      }
#pragma omp for schedule(static)
      for (long j = 0; j < n; j++) {
        double s = res[j];
        for (int q = 0; q < nt; q++) s += colp[(long)q * n + j];
        res[j] = s / (double)n;
      }
    }
    secs[r] = now() - t;
  }
  double gbest, gmed = median(gens, o->reps, &gbest);
  printf("c_arrays=xxt_mean n=%ld chunk=%ld gen_seconds=%.4f", n, c, gmed);
  line_end("xxt_mean", secs, o->reps);
  printf(" r0=%.6f timed=random(dagr's generator)+one_pass_row_and_column_sums\n", res[0]);
  free(x);
  free(res);
  free(colp);
  free(secs);
  free(gens);
  return 0;
}

/* ---- matmul -----------------------------------------------------------------------------------
 */
static int matmul(const opts *o) {
  long n = o->n ? o->n : 4096, c = o->chunk < n ? o->chunk : n;
  double *x = malloc(sizeof(double) * (size_t)(n * n)),
         *y = malloc(sizeof(double) * (size_t)(n * n));
  double *secs = calloc((size_t)o->reps, sizeof *secs), *gens = calloc((size_t)o->reps, 8), sum = 0;
  if (!x || !y || !secs || !gens) return 1;
  for (int r = 0; r < o->reps; r++) {
    double t = now();
    gen_all(x, n, c);
    gens[r] = now() - t;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, x, (int)n,
                x, (int)n, 0.0, y, (int)n);
    sum = 0;
#pragma omp parallel for reduction(+ : sum)
    for (long i = 0; i < n * n; i++) sum += y[i];
    secs[r] = now() - t;
  }
  double gbest, gmed = median(gens, o->reps, &gbest);
  printf("c_arrays=matmul n=%ld chunk=%ld gen_seconds=%.4f", n, c, gmed);
  line_end("matmul", secs, o->reps);
  printf(" r=%.6e timed=random(dagr's generator)+cblas_dgemm(all threads)+sum\n", sum);
  free(x);
  free(y);
  free(secs);
  free(gens);
  return 0;
}

/* ---- h5write ----------------------------------------------------------------------------------
 */
static int h5write(const opts *o) {
  long n = o->n ? o->n : 8192, c = o->chunk < n ? o->chunk : n, nb = (n + c - 1) / c;
  char path[4096], tmp[4200];
  const char *td = getenv("TMPDIR");
  if (o->out)
    snprintf(path, sizeof path, "%s", o->out);
  else
    snprintf(path, sizeof path, "%s/c-arrays-h5write-%ld-%d.h5", td && *td ? td : "/tmp", n,
             (int)getpid());
  snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
  double *band = malloc(sizeof(double) * (size_t)(c * n));
  double *secs = calloc((size_t)o->reps, sizeof *secs), *gens = calloc((size_t)o->reps, 8);
  if (!band || !secs || !gens) return 1;
  for (int r = 0; r < o->reps; r++) {
    unlink(path);
    double t = now(), g = 0;
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)n}, cd[2] = {(hsize_t)c, (hsize_t)c};
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t fs = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, cd);
    hid_t d = f < 0 ? -1 : H5Dcreate2(f, "y", H5T_IEEE_F64LE, fs, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) {
      fprintf(stderr, "c_arrays h5write: cannot create %s\n", tmp);
      return 1;
    }
    for (long bi = 0; bi < nb; bi++) { /* one band of chunks: generate in parallel, then write */
      long h = (bi + 1) * c <= n ? c : n - bi * c;
      double g0 = now();
#pragma omp parallel for schedule(dynamic)
      for (long bj = 0; bj < nb; bj++) gen_chunk(band, n, bi * c, n, c, bi, bj, 2.0, 1.0);
      g += now() - g0;
      hsize_t start[2] = {(hsize_t)(bi * c), 0}, cnt[2] = {(hsize_t)h, (hsize_t)n};
      hid_t ms = H5Screate_simple(2, cnt, NULL);
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
      if (H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, band) < 0) {
        fprintf(stderr, "c_arrays h5write: write failed\n");
        return 1;
      }
      H5Sclose(ms);
    }
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(fs);
    H5Fclose(f);
    if (rename(tmp, path) != 0) {
      perror("c_arrays h5write: rename");
      return 1;
    }
    secs[r] = now() - t;
    gens[r] = g;
  }
  double gbest, gmed = median(gens, o->reps, &gbest);
  printf("c_arrays=h5write n=%ld chunk=%ld out=%s%s gen_seconds=%.4f", n, c, path,
         o->out ? "" : "(removed)", gmed);
  line_end("h5write", secs, o->reps);
  printf(" timed=random*2+1(dagr's generator)+H5Dwrite(1 thread)+rename\n");
  if (!o->out) unlink(path);
  free(band);
  free(secs);
  free(gens);
  return 0;
}

/* ---- stencil ----------------------------------------------------------------------------------
 */
static int stencil(const opts *o) {
  long n = o->n ? o->n : 8192, c = o->chunk < n ? o->chunk : n;
  int iters = o->iters;
  double *x = malloc(sizeof(double) * (size_t)(n * n));
  float *a0 = malloc(sizeof(float) * (size_t)(n * n)), *a = malloc(sizeof(float) * (size_t)(n * n));
  float *b = malloc(sizeof(float) * (size_t)(n * n));
  double *secs = calloc((size_t)o->reps, sizeof *secs), sum = 0;
  if (!x || !a0 || !a || !b || !secs) return 1;
  gen_all(x, n, c);
#pragma omp parallel for
  for (long i = 0; i < n * n; i++) a0[i] = (float)x[i];
  free(x);
  for (int r = 0; r < o->reps; r++) {
#pragma omp parallel for
    for (long i = 0; i < n * n; i++) a[i] = a0[i], b[i] = 0;
    float *src = a, *dst = b;
    double t = now();
    for (int it = 0; it < iters; it++) {
#pragma omp parallel for
      for (long i = 2; i < n - 2; i++)
        for (long j = 2; j < n - 2; j++) {
          const float *p = src + i * n + j;
          dst[i * n + j] = 0.25f * (p[1] + p[-1] + p[n] + p[-n]) +
                           0.125f * (p[2] + p[-2] + p[2 * n] + p[-2 * n]) - 1.5f * p[0];
        }
      if (it == 0) { /* boundary none: every sweep's output is 0 within 2 of the edges */
        memset(src, 0, sizeof(float) * (size_t)(2 * n));
        memset(src + (n - 2) * n, 0, sizeof(float) * (size_t)(2 * n));
        for (long i = 2; i < n - 2; i++)
          src[i * n] = src[i * n + 1] = src[i * n + n - 2] = src[i * n + n - 1] = 0;
      }
      float *tmp = src;
      src = dst;
      dst = tmp;
    }
    sum = 0;
#pragma omp parallel for reduction(+ : sum)
    for (long i = 0; i < n * n; i++) sum += src[i];
    secs[r] = now() - t;
  }
  printf("c_arrays=stencil n=%ld iters=%d dtype=float32", n, iters);
  line_end("stencil", secs, o->reps);
  printf(" r=%.6e timed=sweeps+sum(input in memory, like Dask's persisted x)\n", sum);
  free(a0);
  free(a);
  free(b);
  free(secs);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s h5sum FILE.h5:/x|xxt_mean|matmul|h5write|stencil [--n N] "
            "[--chunk C] [--iters I] [--reps R] [--out FILE.h5]\n",
            argv[0]);
    return 2;
  }
  opts o = {0, 1024, 10, 3, NULL, NULL};
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(k, "--n") && v)
      o.n = atol(argv[++i]);
    else if (!strcmp(k, "--chunk") && v)
      o.chunk = atol(argv[++i]);
    else if (!strcmp(k, "--iters") && v)
      o.iters = atoi(argv[++i]);
    else if (!strcmp(k, "--reps") && v)
      o.reps = atoi(argv[++i]);
    else if (!strcmp(k, "--out") && v)
      o.out = argv[++i];
    else if (k[0] != '-' && !o.target)
      o.target = k;
    else {
      fprintf(stderr, "c_arrays: unknown or incomplete option '%s'\n", k);
      return 2;
    }
  }
  if (o.n < 0 || o.chunk < 1 || o.iters < 1 || o.reps < 1) {
    fprintf(stderr, "c_arrays: --n >= 1, --chunk >= 1, --iters >= 1, --reps >= 1\n");
    return 2;
  }
  const char *w = argv[1];
  if (o.target && strcmp(w, "h5sum") != 0) {
    fprintf(stderr, "c_arrays %s: unexpected argument '%s'\n", w, o.target);
    return 2;
  }
  if (!strcmp(w, "h5sum")) return h5sum(&o);
  if (!strcmp(w, "xxt_mean")) return xxt_mean(&o);
  if (!strcmp(w, "matmul")) return matmul(&o);
  if (!strcmp(w, "h5write")) return h5write(&o);
  if (!strcmp(w, "stencil")) return stencil(&o);
  fprintf(stderr, "c_arrays: unknown workload '%s'\n", w);
  return 2;
}
