/* bench.c: `dagr bench throughput|chain|transfer|h5sum|xxt_mean|matmul|h5write|stencil`: timed
 * runs of standard graphs and array workloads, one result line each. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "dagr/array.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct opts {
  long long tasks;
  int width;
  uint64_t bytes;
  int reps;
  /* array benchmarks */
  long long n;        /* --n: side of the square array (0: the workload's default) */
  long long chunk;    /* --chunk: square chunk side */
  int iters;          /* --iters: stencil sweeps */
  const char *out;    /* --out: h5write's output file (kept), default a temporary one */
  const char *target; /* positional FILE:/dataset (h5sum) */
} opts;

static int parse(int argc, char **argv, opts *o) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--tasks") && v) {
      o->tasks = atoll(v);
      i++;
    } else if (!strcmp(a, "--width") && v) {
      o->width = atoi(v);
      i++;
    } else if (!strcmp(a, "--reps") && v) {
      o->reps = atoi(v);
      i++;
    } else if (!strcmp(a, "--n") && v) {
      o->n = atoll(v);
      i++;
    } else if (!strcmp(a, "--chunk") && v) {
      o->chunk = atoll(v);
      i++;
    } else if (!strcmp(a, "--iters") && v) {
      o->iters = atoi(v);
      i++;
    } else if (!strcmp(a, "--out") && v) {
      o->out = v;
      i++;
    } else if (a[0] != '-' && !o->target) {
      o->target = a;
    } else if (!strcmp(a, "--bytes") && v) {
      if (dagr_parse_bytes(v, &o->bytes) != DAGR_OK) {
        fprintf(stderr, "dagr bench: --bytes '%s' is not a size (e.g. 1M, 64M, 1G)\n", v);
        return -1;
      }
      i++;
    } else {
      fprintf(stderr, "dagr bench: unknown or incomplete option '%s'\n", a);
      return -1;
    }
  }
  if (o->tasks < 1 || o->width < 2 || o->reps < 1 || o->n < 0 || o->chunk < 1 || o->iters < 1) {
    fprintf(stderr, "dagr bench: --tasks must be >= 1, --width >= 2, --reps >= 1, --n >= 1, "
                    "--chunk >= 1, --iters >= 1\n");
    return -1;
  }
  return 0;
}

static int add(dagr_graph_t *g, const char *key, const char *kernel, const dagr_params_t *p,
               const char *const *deps, size_t n, int worker) {
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.worker = worker;
  int rc = dagr_graph_add(g, key, kernel, p, deps, n, &o);
  if (rc) fprintf(stderr, "dagr bench: building the graph failed: %s\n", dagr_graph_error(g));
  return rc;
}

/* N independent noop leaves, then a tree reduction with fan-in W (the Dask anchor's graph). */
static int build_throughput(dagr_graph_t *g, long long n, int width, char *root, size_t rootlen) {
  char key[64];
  char **level = calloc((size_t)n, sizeof *level);
  if (!level) return DAGR_ENOMEM;
  for (long long i = 0; i < n; i++) {
    snprintf(key, sizeof key, "leaf-%lld", i);
    level[i] = strdup(key);
    if (!level[i] || add(g, key, "noop", NULL, NULL, 0, -1)) {
      for (long long k = 0; k <= i; k++) free(level[k]);
      free(level);
      return DAGR_ENOMEM;
    }
  }
  long long count = n;
  int depth = 0;
  while (count > 1) {
    long long next = 0;
    for (long long j = 0; j < count; j += width) {
      long long m = count - j < width ? count - j : width;
      snprintf(key, sizeof key, "red%d-%lld", depth, j / width);
      if (add(g, key, "noop", NULL, (const char *const *)&level[j], (size_t)m, -1)) {
        for (long long k = 0; k < count; k++) free(level[k]);
        free(level);
        return DAGR_ENOMEM;
      }
      for (long long k = j; k < j + m; k++) {
        free(level[k]);
        level[k] = NULL;
      }
      level[next++] = strdup(key);
    }
    count = next;
    depth++;
  }
  snprintf(root, rootlen, "%s", level[0]);
  free(level[0]);
  free(level);
  return DAGR_OK;
}

static int build_chain(dagr_graph_t *g, long long n, char *root, size_t rootlen) {
  char key[64], prev[64] = "";
  for (long long i = 0; i < n; i++) {
    snprintf(key, sizeof key, "c-%lld", i);
    const char *dep = prev;
    if (add(g, key, "noop", NULL, i ? &dep : NULL, i ? 1 : 0, -1)) return DAGR_ENOMEM;
    memcpy(prev, key, sizeof key);
  }
  snprintf(root, rootlen, "%s", prev);
  return DAGR_OK;
}

static int task_bench(dagr_ctx_t *ctx, const char *name, const opts *o) {
  dagr_graph_t *g;
  char root[64];
  if (dagr_graph_create(&g)) return 1;
  double t0 = now();
  int rc = !strcmp(name, "chain") ? build_chain(g, o->tasks, root, sizeof root)
                                  : build_throughput(g, o->tasks, o->width, root, sizeof root);
  double build = now() - t0;
  if (rc) {
    dagr_graph_free(g);
    return 1;
  }
  double *secs = calloc((size_t)o->reps, sizeof *secs);
  double plan = 0;
  if (!secs) {
    dagr_graph_free(g);
    return 1;
  }
  const char *keys[1] = {root};
  for (int r = 0; r < o->reps; r++) {
    dagr_result_t res;
    double s = now();
    rc = dagr_get(ctx, g, keys, 1, &res);
    secs[r] = now() - s;
    if (rc) {
      fprintf(stderr, "dagr bench %s: %s\n", name, dagr_last_error(ctx));
      free(secs);
      dagr_graph_free(g);
      return 1;
    }
    int64_t v = -1;
    dagr_result_int64(&res, &v);
    dagr_result_release(&res);
    if (v != 0) {
      fprintf(stderr, "dagr bench %s: wrong result %lld\n", name, (long long)v);
      free(secs);
      dagr_graph_free(g);
      return 1;
    }
    dagr_stats_t st;
    dagr_last_stats(ctx, &st);
    plan += st.plan_seconds;
  }
  size_t ntasks = dagr_graph_size(g);
  double best = secs[0];
  for (int r = 1; r < o->reps; r++)
    if (secs[r] < best) best = secs[r];
  double med = median(secs, o->reps);
  printf("bench=%s tasks=%zu leaves=%lld width=%d ranks=%d workers=%d reps=%d "
         "build_seconds=%.4f plan_seconds=%.4f seconds=%.4f min_seconds=%.4f tasks_per_s=%.0f\n",
         name, ntasks, o->tasks, o->width, dagr_nranks(ctx), dagr_nworkers(ctx), o->reps, build,
         plan / o->reps, med, best, (double)ntasks / med);
  free(secs);
  dagr_graph_free(g);
  return 0;
}

/* The throughput graph run with tracing off and on alternately in one process (the order
 * flips every repetition, so drift on a shared machine hits both alike): what the Chrome trace
 * costs a scheduler-bound run. The trace file goes to a temporary name and is discarded (tracing
 * is turned off again before the end, so nothing is written). */
static int tracing_bench(dagr_ctx_t *ctx, const opts *o) {
  dagr_graph_t *g;
  char root[64], path[4096];
  const char *tmp = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/dagr-bench-trace-%d.json", tmp && *tmp ? tmp : "/tmp",
           (int)getpid());
  if (dagr_graph_create(&g)) return 1;
  if (build_throughput(g, o->tasks, o->width, root, sizeof root)) {
    dagr_graph_free(g);
    return 1;
  }
  double *off = calloc((size_t)o->reps, sizeof *off), *on = calloc((size_t)o->reps, sizeof *on);
  const char *keys[1] = {root};
  int rc = off && on ? 0 : 1;
  for (int r = 0; r < o->reps && !rc; r++) {
    for (int k = 0; k < 2 && !rc; k++) {
      int traced = (r + k) % 2;
      rc = dagr_set_trace(ctx, traced ? path : NULL);
      dagr_result_t res;
      double t = now();
      if (!rc) rc = dagr_get(ctx, g, keys, 1, &res);
      (traced ? on : off)[r] = now() - t;
      if (rc) {
        fprintf(stderr, "dagr bench tracing: %s\n", dagr_last_error(ctx));
        break;
      }
      int64_t v = -1;
      dagr_result_int64(&res, &v);
      dagr_result_release(&res);
      if (v != 0) {
        fprintf(stderr, "dagr bench tracing: wrong result %lld\n", (long long)v);
        rc = 1;
      }
    }
  }
  (void)dagr_set_trace(ctx, NULL);
  if (!rc) {
    size_t ntasks = dagr_graph_size(g);
    double m_off = median(off, o->reps), m_on = median(on, o->reps);
    printf("bench=tracing tasks=%zu ranks=%d workers=%d reps=%d seconds_off=%.4f "
           "seconds_on=%.4f tasks_per_s_off=%.0f tasks_per_s_on=%.0f overhead_pct=%.1f\n",
           ntasks, dagr_nranks(ctx), dagr_nworkers(ctx), o->reps, m_off, m_on,
           (double)ntasks / m_off, (double)ntasks / m_on, 100.0 * (m_on - m_off) / m_off);
  }
  free(off);
  free(on);
  dagr_graph_free(g);
  return rc ? 1 : 0;
}

/* One worker produces a B-byte object, another consumes it: the consumer's pull time. */
static int transfer_bench(dagr_ctx_t *ctx, const opts *o) {
  if (dagr_nworkers(ctx) < 2) {
    fprintf(stderr,
            "dagr bench transfer: needs two worker ranks (mpirun -np 3 or more), this run "
            "has %d\n",
            dagr_nworkers(ctx));
    return 1;
  }
  dagr_graph_t *g;
  dagr_params_t *p;
  if (dagr_graph_create(&g) || dagr_params_create(&p)) return 1;
  dagr_params_set_int(p, "bytes", (int64_t)o->bytes);
  dagr_params_set_int(p, "seed", 3);
  const char *prod = "produce";
  if (add(g, "produce", "fill", p, NULL, 0, 1) || add(g, "consume", "checksum", NULL, &prod, 1, 2))
    return 1;
  dagr_params_free(p);
  /* The expected checksum, computed here from the fill pattern. */
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t i = 0; i < o->bytes; i++) {
    h ^= (unsigned char)((i * 131u + 21u) & 0xffu); /* seed 3: 3 * 7 */
    h *= 0x100000001b3ull;
  }
  double *fetch = calloc((size_t)o->reps, sizeof *fetch), *whole = calloc((size_t)o->reps, 8);
  const char *keys[1] = {"consume"};
  int ok = 1;
  for (int r = 0; r < o->reps && fetch && whole; r++) {
    dagr_result_t res;
    double s = now();
    if (dagr_get(ctx, g, keys, 1, &res)) {
      fprintf(stderr, "dagr bench transfer: %s\n", dagr_last_error(ctx));
      ok = 0;
      break;
    }
    whole[r] = now() - s;
    uint64_t got;
    memcpy(&got, res.data, 8);
    dagr_result_release(&res);
    dagr_stats_t st;
    dagr_last_stats(ctx, &st);
    fetch[r] = st.fetch_seconds;
    if (got != h || st.bytes_fetched != o->bytes) {
      fprintf(stderr,
              "dagr bench transfer: checksum 0x%016llx (expected 0x%016llx), %llu bytes pulled\n",
              (unsigned long long)got, (unsigned long long)h, (unsigned long long)st.bytes_fetched);
      ok = 0;
      break;
    }
  }
  if (ok) {
    double mf = median(fetch, o->reps), mw = median(whole, o->reps);
    double best = fetch[0];
    printf("bench=transfer bytes=%llu reps=%d ranks=%d seconds=%.6f min_seconds=%.6f "
           "get_seconds=%.6f bytes_per_s=%.0f ok=1\n",
           (unsigned long long)o->bytes, o->reps, dagr_nranks(ctx), mf, best, mw,
           (double)o->bytes / mf);
  }
  free(fetch);
  free(whole);
  dagr_graph_free(g);
  return ok ? 0 : 1;
}

/* ---- array benchmarks ---------------------------------------------------------------------- */
/* Each times dagr_array_compute (or dagr_array_store) from its call until the result is on rank 0
 * (h5write: until the file exists under its final name). The lazy array expression is built once
 * before the timed runs (build_seconds); lowering it to a task graph happens inside every compute
 * and is shown apart as lower_seconds (one dagr_array_task_count); plan_seconds and run_seconds
 * are dagr_get's own split, averaged over the runs. */

#define F32_KERNEL "bench.to_float32"

/* float64 block -> float32 block of the same shape (dagr has no astype; the stencil needs f4). */
static int k_to_float32(dagr_kctx_t *k) {
  dagr_view_t v;
  if (dagr_kernel_input(k, 0, &v) || v.dtype != DAGR_DTYPE_FLOAT64)
    return dagr_kernel_fail(k, F32_KERNEL ": needs one float64 block");
  size_t n = v.nbytes / sizeof(double);
  void *p;
  if (dagr_kernel_output(k, n * sizeof(float), DAGR_DTYPE_FLOAT32, v.ndim, v.shape, &p))
    return dagr_kernel_fail(k, F32_KERNEL ": no room for %zu floats", n);
  float *o = p;
  const double *d = v.data;
  for (size_t i = 0; i < n; i++) o[i] = (float)d[i];
  return DAGR_OK;
}

#define RSS_KERNEL "bench.peak_rss"

/* This process's peak resident set size (VmHWM in /proc/self/status), in bytes. */
static int k_peak_rss(dagr_kctx_t *k) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return dagr_kernel_fail(k, RSS_KERNEL ": cannot open /proc/self/status");
  char line[256];
  long long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
  fclose(f);
  if (kib < 0) return dagr_kernel_fail(k, RSS_KERNEL ": no VmHWM line");
  return dagr_kernel_output_int64(k, (int64_t)kib * 1024);
}

/* Registered on every rank at load time (the program is SPMD). */
__attribute__((constructor)) static void bench_register(void) {
  (void)dagr_kernel_register(F32_KERNEL, k_to_float32);
  (void)dagr_kernel_register(RSS_KERNEL, k_peak_rss);
}

/* The largest peak RSS (MiB) among the worker processes, from one task pinned to each worker
 * (in a single-process run: this process), or -1 if that fails. It shows the memory a run needed
 * per rank against the array's size: the store holds a few chunks per thread at a time. */
static double worker_peak_rss_mib(dagr_ctx_t *ctx) {
  int nw = dagr_nworkers(ctx), mpi = dagr_nranks(ctx) > 1;
  dagr_graph_t *g;
  if (nw < 1 || dagr_graph_create(&g)) return -1;
  char(*keys)[32] = calloc((size_t)nw, sizeof *keys);
  const char **kp = calloc((size_t)nw, sizeof *kp);
  dagr_result_t *res = calloc((size_t)nw, sizeof *res);
  double mib = -1;
  int rc = !keys || !kp || !res;
  for (int w = 0; w < nw && !rc; w++) {
    dagr_task_opts_t to;
    dagr_task_opts_init(&to);
    to.worker = mpi ? w + 1 : -1;
    snprintf(keys[w], sizeof keys[w], "peak-rss-%d", w);
    kp[w] = keys[w];
    rc = dagr_graph_add(g, keys[w], RSS_KERNEL, NULL, NULL, 0, &to);
  }
  if (!rc && dagr_get(ctx, g, kp, (size_t)nw, res) == DAGR_OK) {
    for (int w = 0; w < nw; w++) {
      int64_t b = 0;
      if (dagr_result_int64(&res[w], &b) == DAGR_OK && (double)b / 1048576.0 > mib)
        mib = (double)b / 1048576.0;
      dagr_result_release(&res[w]);
    }
  }
  free(keys);
  free(kp);
  free(res);
  dagr_graph_free(g);
  return mib;
}

typedef struct atime {
  double *secs;   /* per run */
  double plan;    /* mean plan_seconds */
  double run;     /* mean run_seconds */
  double lower;   /* one dagr_array_task_count */
  size_t tasks;   /* tasks after the optimizations */
  double result;  /* the last run's scalar (or first element) */
  double fetched; /* mean bytes pulled between workers per run */
  double fetch;   /* mean seconds workers spent pulling them (summed over workers) */
  double spilled; /* mean bytes spilled per run */
  double speak;   /* the largest store use of one worker in any run (scheduler's count) */
} atime;

static void atime_free(atime *t) {
  free(t->secs);
  t->secs = NULL;
}

static double min_of(const double *v, int n) {
  double m = v[0];
  for (int i = 1; i < n; i++)
    if (v[i] < m) m = v[i];
  return m;
}

/* Median and minimum of t's runs (sorts a copy). */
static void summary(const atime *t, int reps, double *med, double *best) {
  double *c = malloc((size_t)reps * sizeof *c);
  if (!c) {
    *med = *best = t->secs[0];
    return;
  }
  memcpy(c, t->secs, (size_t)reps * sizeof *c);
  *best = min_of(c, reps);
  *med = median(c, reps);
  free(c);
}

static int arr_fail(dagr_ctx_t *ctx, const char *name, const char *what) {
  fprintf(stderr, "dagr bench %s: %s: %s\n", name, what, dagr_last_error(ctx));
  return 1;
}

/* Lowers a once (lower_seconds, tasks), then computes it reps times; keeps the last result's
 * element 0 as a double. */
static int time_compute(dagr_ctx_t *ctx, const char *name, dagr_array_t *a, int reps, atime *t) {
  memset(t, 0, sizeof *t);
  t->secs = calloc((size_t)reps, sizeof *t->secs);
  if (!t->secs) return 1;
  double s = now();
  if (dagr_array_task_count(a, &t->tasks)) return arr_fail(ctx, name, "lowering");
  t->lower = now() - s;
  for (int r = 0; r < reps; r++) {
    dagr_result_t res;
    s = now();
    int rc = dagr_array_compute(a, &res);
    t->secs[r] = now() - s;
    if (rc) return arr_fail(ctx, name, "compute");
    dagr_stats_t st;
    dagr_last_stats(ctx, &st);
    t->plan += st.plan_seconds / reps;
    t->run += st.run_seconds / reps;
    t->fetched += (double)st.bytes_fetched / reps;
    t->fetch += st.fetch_seconds / reps;
    t->spilled += (double)st.bytes_spilled / reps;
    if ((double)st.store_peak > t->speak) t->speak = (double)st.store_peak;
    if (res.dtype == DAGR_DTYPE_FLOAT32 && res.nbytes >= sizeof(float))
      t->result = ((const float *)res.data)[0];
    else if (res.dtype == DAGR_DTYPE_FLOAT64 && res.nbytes >= sizeof(double))
      t->result = ((const double *)res.data)[0];
    else
      t->result = 0.0 / 0.0;
    dagr_result_release(&res);
  }
  return 0;
}

/* Removes PATH and the part files of PATH.parts/ that dagr_array_store leaves beside it. */
static void remove_store(const char *path) {
  char parts[4200];
  unlink(path);
  snprintf(parts, sizeof parts, "%s.parts", path);
  DIR *d = opendir(parts);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char f[4500];
    snprintf(f, sizeof f, "%s/%s", parts, e->d_name);
    unlink(f);
  }
  closedir(d);
  rmdir(parts);
}

static const char *tmpdir(void) {
  const char *t = getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

/* A random_uniform(0, 1) n x n float64 array with seed 0 and square chunks. */
static int rand_square(dagr_ctx_t *ctx, long long n, long long c, dagr_array_t **x) {
  int64_t shape[2] = {n, n}, chunks[2] = {c < n ? c : n, c < n ? c : n};
  return dagr_array_random_uniform(ctx, 0, 2, shape, chunks, 0.0, 1.0, x);
}

static void release_all(dagr_array_t **v, int n) {
  for (int i = 0; i < n; i++)
    if (v[i]) dagr_array_release(v[i]);
}

/* h5sum FILE:/dataset: x.sum() of an HDF5 dataset read by the workers, chunk C x C. */
static int h5sum_bench(dagr_ctx_t *ctx, const opts *o) {
  if (!o->target || !strchr(o->target, ':')) {
    fprintf(stderr, "dagr bench h5sum: needs FILE.h5:/dataset\n");
    return 2;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s", o->target);
  char *colon = strrchr(path, ':');
  *colon = '\0';
  const char *dset = colon + 1;
  dagr_array_t *v[2] = {NULL, NULL};
  double s = now();
  int64_t ch[2] = {o->chunk, o->chunk};
  if (dagr_array_from_hdf5(ctx, path, dset, ch, &v[0]) ||
      dagr_array_reduce(DAGR_RED_SUM, v[0], 0, NULL, 0, 0, 0, &v[1])) {
    arr_fail(ctx, "h5sum", "building the expression");
    release_all(v, 2);
    return 1;
  }
  double build = now() - s;
  int dt, nd;
  int64_t shape[DAGR_MAX_NDIM];
  dagr_array_info(v[0], &dt, &nd, shape);
  atime t;
  int rc = time_compute(ctx, "h5sum", v[1], o->reps, &t);
  if (!rc) {
    double med, best;
    summary(&t, o->reps, &med, &best);
    char shp[128] = "";
    for (int d = 0; d < nd; d++)
      snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", d ? "x" : "",
               (long long)shape[d]);
    printf("bench=h5sum file=%s dataset=%s shape=%s dtype=%s chunk=%lld ranks=%d workers=%d "
           "reps=%d tasks=%zu build_seconds=%.4f lower_seconds=%.4f plan_seconds=%.4f "
           "run_seconds=%.4f seconds=%.4f min_seconds=%.4f first_seconds=%.4f fetched_mib=%.1f "
           "fetch_seconds=%.4f result=%.6f store_peak_mib=%.1f spilled_mib=%.1f "
           "worker_peak_rss_mib=%.0f timed=read+sum\n",
           path, dset, shp, dagr_dtype_name(dt), o->chunk, dagr_nranks(ctx), dagr_nworkers(ctx),
           o->reps, t.tasks, build, t.lower, t.plan, t.run, med, best, t.secs[0],
           t.fetched / 1048576.0, t.fetch, t.result, t.speak / 1048576.0, t.spilled / 1048576.0,
           worker_peak_rss_mib(ctx));
  }
  atime_free(&t);
  release_all(v, 2);
  return rc;
}

/* xxt_mean: (x + x.T).mean(axis=0) and matmul: (x @ x).sum() on random x, the random generation
 * inside the timed compute as in Dask's script (which times from after creating the lazy random
 * array). */
static int random_bench(dagr_ctx_t *ctx, const char *name, const opts *o) {
  int mm = !strcmp(name, "matmul");
  long long n = o->n ? o->n : mm ? 4096 : 8192;
  dagr_array_t *v[4] = {NULL, NULL, NULL, NULL};
  double s = now();
  int rc = rand_square(ctx, n, o->chunk, &v[0]);
  if (!rc && mm) {
    rc = dagr_array_matmul(v[0], v[0], &v[1]);
    if (!rc) rc = dagr_array_reduce(DAGR_RED_SUM, v[1], 0, NULL, 0, 0, 0, &v[2]);
  } else if (!rc) {
    int ax = 0;
    rc = dagr_array_transpose(v[0], NULL, &v[1]);
    if (!rc) rc = dagr_array_binary(DAGR_OP_ADD, v[0], v[1], &v[2]);
    if (!rc) rc = dagr_array_reduce(DAGR_RED_MEAN, v[2], 1, &ax, 0, 0, 0, &v[3]);
  }
  if (rc) {
    arr_fail(ctx, name, "building the expression");
    release_all(v, 4);
    return 1;
  }
  double build = now() - s;
  atime t;
  rc = time_compute(ctx, name, mm ? v[2] : v[3], o->reps, &t);
  if (!rc) {
    double med, best;
    summary(&t, o->reps, &med, &best);
    printf("bench=%s n=%lld chunk=%lld ranks=%d workers=%d reps=%d tasks=%zu build_seconds=%.4f "
           "lower_seconds=%.4f plan_seconds=%.4f run_seconds=%.4f seconds=%.4f min_seconds=%.4f "
           "first_seconds=%.4f fetched_mib=%.1f fetch_seconds=%.4f store_peak_mib=%.1f "
           "spilled_mib=%.1f worker_peak_rss_mib=%.0f ",
           name, n, o->chunk, dagr_nranks(ctx), dagr_nworkers(ctx), o->reps, t.tasks, build,
           t.lower, t.plan, t.run, med, best, t.secs[0], t.fetched / 1048576.0, t.fetch,
           t.speak / 1048576.0, t.spilled / 1048576.0, worker_peak_rss_mib(ctx));
    if (mm)
      printf("r=%.6e timed=random_uniform+matmul+sum\n", t.result);
    else
      printf("r0=%.6f timed=random_uniform+add_transpose+mean_axis0\n", t.result);
  }
  atime_free(&t);
  release_all(v, 4);
  return rc;
}

/* h5write: x * 2 + 1 (x random, generated inside the timed part as in Dask's script) stored to
 * HDF5; timed until dagr_array_store returns, when the file exists under its final name. */
static int h5write_bench(dagr_ctx_t *ctx, const opts *o) {
  long long n = o->n ? o->n : 8192;
  char path[4096];
  if (o->out)
    snprintf(path, sizeof path, "%s", o->out);
  else
    snprintf(path, sizeof path, "%s/dagr-bench-h5write-%lld-%d.h5", tmpdir(), n, (int)getpid());
  dagr_array_t *v[3] = {NULL, NULL, NULL};
  double s = now();
  int rc = rand_square(ctx, n, o->chunk, &v[0]);
  if (!rc) rc = dagr_array_binary_scalar(DAGR_OP_MUL, v[0], 2.0, 0, &v[1]);
  if (!rc) rc = dagr_array_binary_scalar(DAGR_OP_ADD, v[1], 1.0, 0, &v[2]);
  if (rc) {
    arr_fail(ctx, "h5write", "building the expression");
    release_all(v, 3);
    return 1;
  }
  double build = now() - s;
  double *secs = calloc((size_t)o->reps, sizeof *secs), plan = 0, run = 0, fetched = 0, fetch = 0,
         spilled = 0, speak = 0;
  size_t tasks = 0;
  s = now();
  if (!secs || dagr_array_task_count(v[2], &tasks)) {
    free(secs);
    release_all(v, 3);
    return arr_fail(ctx, "h5write", "lowering");
  }
  double lower = now() - s;
  for (int r = 0; r < o->reps && !rc; r++) {
    remove_store(path); /* outside the timed part: each run writes a new file */
    s = now();
    rc = dagr_array_store(v[2], path, "y", 0);
    struct stat st;
    if (!rc && stat(path, &st) != 0) {
      fprintf(stderr, "dagr bench h5write: '%s' does not exist after store\n", path);
      rc = 1;
    }
    secs[r] = now() - s;
    if (rc) {
      if (rc != 1) arr_fail(ctx, "h5write", "store");
      rc = 1;
      break;
    }
    dagr_stats_t ds;
    dagr_last_stats(ctx, &ds);
    plan += ds.plan_seconds / o->reps;
    run += ds.run_seconds / o->reps;
    fetched += (double)ds.bytes_fetched / o->reps;
    spilled += (double)ds.bytes_spilled / o->reps;
    if ((double)ds.store_peak > speak) speak = (double)ds.store_peak;
    fetch += ds.fetch_seconds / o->reps;
  }
  double check = 0.0 / 0.0;
  if (!rc) { /* read the written file back (not timed): its mean must be about 2 */
    dagr_array_t *w[2] = {NULL, NULL};
    dagr_result_t res;
    if (dagr_array_from_hdf5(ctx, path, "y", NULL, &w[0]) ||
        dagr_array_reduce(DAGR_RED_MEAN, w[0], 0, NULL, 0, 0, 0, &w[1]) ||
        dagr_array_compute(w[1], &res)) {
      rc = arr_fail(ctx, "h5write", "reading the output back");
    } else {
      dagr_result_float64(&res, &check);
      dagr_result_release(&res);
    }
    release_all(w, 2);
  }
  if (!rc) {
    atime t = {secs, plan, run, lower, tasks, check, fetched, fetch, spilled, speak};
    double med, best;
    summary(&t, o->reps, &med, &best);
    int ok = check > 1.99 && check < 2.01;
    printf("bench=h5write n=%lld chunk=%lld ranks=%d workers=%d reps=%d tasks=%zu out=%s%s "
           "build_seconds=%.4f lower_seconds=%.4f plan_seconds=%.4f run_seconds=%.4f "
           "seconds=%.4f min_seconds=%.4f first_seconds=%.4f fetched_mib=%.1f fetch_seconds=%.4f "
           "mean=%.6f ok=%d store_peak_mib=%.1f spilled_mib=%.1f worker_peak_rss_mib=%.0f "
           "timed=random_uniform+x*2+1+store_until_renamed\n",
           n, o->chunk, dagr_nranks(ctx), dagr_nworkers(ctx), o->reps, tasks, path,
           o->out ? "" : "(removed)", build, lower, plan, run, med, best, secs[0],
           fetched / 1048576.0, fetch, check, ok, speak / 1048576.0, spilled / 1048576.0,
           worker_peak_rss_mib(ctx));
    if (!ok) rc = 1;
  }
  if (!o->out) remove_store(path);
  free(secs);
  release_all(v, 3);
  return rc;
}

/* numa: NUMA-aware placement on versus off (dagr_set_numa_placement), run by run interleaved,
 * for an elementwise workload (sqrt(x) * 2 + 1 summed: each chunk of x read by a task that is,
 * with placement on, in the domain holding it) and a reduction (x.sum(axis=0)). x is random n x n
 * generated in the graph, so its chunks are spread over the domains by load. Where every worker
 * spans one NUMA domain the two settings place identically: it says so and compares nothing. */
static int numa_bench(dagr_ctx_t *ctx, const opts *o) {
  int dom = dagr_numa_domains(ctx), nw = dagr_nworkers(ctx);
  long long n = o->n ? o->n : 8192;
  if (dom <= nw) {
    printf("bench=numa numa_domains=%d workers=%d compared=0 note=every worker spans one NUMA "
           "domain here, so placement with and without NUMA knowledge is the same\n",
           dom, nw);
    return 0;
  }
  dagr_array_t *x = NULL, *v[4] = {NULL, NULL, NULL, NULL};
  int rc = rand_square(ctx, n, o->chunk, &x);
  int ax0[1] = {0};
  if (!rc) rc = dagr_array_unary(DAGR_OP_SQRT, x, &v[0]);
  if (!rc) rc = dagr_array_binary_scalar(DAGR_OP_MUL, v[0], 2, 0, &v[1]);
  if (!rc) rc = dagr_array_binary_scalar(DAGR_OP_ADD, v[1], 1, 0, &v[2]);
  dagr_array_t *ew = NULL, *red = NULL;
  if (!rc) rc = dagr_array_reduce(DAGR_RED_SUM, v[2], 0, NULL, 0, 0, 0, &ew);
  if (!rc) rc = dagr_array_reduce(DAGR_RED_SUM, x, 1, ax0, 0, 0, 0, &red);
  if (rc) {
    arr_fail(ctx, "numa", "building the expressions");
  } else {
    dagr_array_t *what[2] = {ew, red};
    const char *names[2] = {"elementwise", "reduction"};
    for (int w = 0; w < 2 && !rc; w++) {
      double *on = calloc((size_t)o->reps, sizeof *on), *off = calloc((size_t)o->reps, sizeof *off);
      rc = !on || !off;
      for (int r = 0; r < o->reps && !rc; r++)
        for (int mode = 1; mode >= 0 && !rc; mode--) {
          atime t;
          dagr_set_numa_placement(ctx, mode);
          rc = time_compute(ctx, "numa", what[w], 1, &t);
          if (!rc) (mode ? on : off)[r] = t.secs[0];
          atime_free(&t);
        }
      dagr_set_numa_placement(ctx, 1);
      if (!rc) {
        double mon, bon, moff, boff;
        atime ta = {.secs = on}, tb = {.secs = off};
        summary(&ta, o->reps, &mon, &bon);
        summary(&tb, o->reps, &moff, &boff);
        printf("bench=numa workload=%s n=%lld chunk=%lld numa_domains=%d workers=%d reps=%d "
               "seconds_on=%.4f seconds_off=%.4f off_over_on=%.3f compared=1\n",
               names[w], n, o->chunk, dom, nw, o->reps, mon, moff, moff / mon);
      }
      free(on);
      free(off);
    }
  }
  if (x) dagr_array_release(x);
  release_all(v, 3);
  if (ew) dagr_array_release(ew);
  if (red) dagr_array_release(red);
  return rc ? 1 : 0;
}

/* Applies iters star-stencil sweeps (map_overlap depth 2, boundary none) to x, then sums: v[0] is
 * x (one more reference), v[1..iters] the sweeps, v[iters + 1] the sum. */
static int stencil_expr(dagr_array_t *x, int iters, dagr_array_t **v) {
  v[0] = dagr_array_retain(x);
  int64_t depth[2] = {2, 2};
  for (int i = 0; i < iters; i++)
    if (dagr_array_map_overlap("array.star_stencil", v[i], depth, DAGR_BOUNDARY_NONE, 0.0,
                               DAGR_DTYPE_FLOAT32, &v[i + 1]))
      return 1;
  return dagr_array_reduce(DAGR_RED_SUM, v[iters], 0, NULL, 0, 0, 0, &v[iters + 1]);
}

/* stencil: the star stencil (radius 2, float32) `iters` times through map_overlap, then the sum.
 * Dask persists x in memory first; dagr has no persist, so x is first written to a float32 HDF5
 * file (not timed) and the timed compute reads it back (from the page cache) before the sweeps:
 * seconds = read + sweeps + sum. Also reported: read_seconds (the read + sum alone) and
 * gen_seconds (the whole thing with x generated in the graph instead: random + to_float32 +
 * sweeps + sum). */
static int stencil_bench(dagr_ctx_t *ctx, const opts *o) {
  long long n = o->n ? o->n : 8192;
  int iters = o->iters;
  char path[4096];
  snprintf(path, sizeof path, "%s/dagr-bench-stencil-%lld-%d.h5", tmpdir(), n, (int)getpid());
  int nv = iters + 2;
  dagr_array_t **va = calloc((size_t)nv, sizeof *va), **vg = calloc((size_t)nv, sizeof *vg);
  dagr_array_t *x64 = NULL, *x32 = NULL, *xr = NULL, *rsum = NULL;
  atime ta = {0}, tg = {0}, tr = {0};
  int rc = !va || !vg;
  double prep = 0, build = 0;
  if (!rc) {
    rc = rand_square(ctx, n, o->chunk, &x64);
    if (!rc) rc = dagr_array_map_blocks(F32_KERNEL, 1, &x64, DAGR_DTYPE_FLOAT32, &x32);
    if (rc) arr_fail(ctx, "stencil", "building the input");
  }
  if (!rc) {
    double s = now();
    remove_store(path);
    if (dagr_array_store(x32, path, "x", 0)) rc = arr_fail(ctx, "stencil", "writing the input");
    prep = now() - s;
  }
  if (!rc) {
    double s = now();
    int64_t ch[2] = {o->chunk < n ? o->chunk : n, o->chunk < n ? o->chunk : n};
    if (dagr_array_from_hdf5(ctx, path, "x", ch, &xr) || stencil_expr(xr, iters, va) ||
        stencil_expr(x32, iters, vg) ||
        dagr_array_reduce(DAGR_RED_SUM, xr, 0, NULL, 0, 0, 0, &rsum))
      rc = arr_fail(ctx, "stencil", "building the expression");
    build = now() - s;
  }
  /* Interleaved, one run of each per round: the machine's noise hits all three alike. */
  if (!rc) {
    atime one;
    ta.secs = calloc((size_t)o->reps, sizeof(double));
    tg.secs = calloc((size_t)o->reps, sizeof(double));
    tr.secs = calloc((size_t)o->reps, sizeof(double));
    rc = !ta.secs || !tg.secs || !tr.secs;
    for (int r = 0; r < o->reps && !rc; r++) {
      dagr_array_t *what[3] = {va[nv - 1], vg[nv - 1], rsum};
      atime *into[3] = {&ta, &tg, &tr};
      for (int w = 0; w < 3 && !rc; w++) {
        rc = time_compute(ctx, "stencil", what[w], 1, &one);
        if (!rc) {
          into[w]->secs[r] = one.secs[0];
          into[w]->plan += one.plan / o->reps;
          into[w]->run += one.run / o->reps;
          into[w]->fetched += one.fetched / o->reps;
          into[w]->fetch += one.fetch / o->reps;
          into[w]->lower = one.lower;
          into[w]->tasks = one.tasks;
          into[w]->result = one.result;
          into[w]->spilled += one.spilled / o->reps;
          if (one.speak > into[w]->speak) into[w]->speak = one.speak;
        }
        atime_free(&one);
      }
    }
  }
  if (!rc) {
    double med, best, gmed, gbest, rmed, rbest;
    summary(&ta, o->reps, &med, &best);
    summary(&tg, o->reps, &gmed, &gbest);
    summary(&tr, o->reps, &rmed, &rbest);
    printf("bench=stencil n=%lld chunk=%lld iters=%d dtype=float32 ranks=%d workers=%d reps=%d "
           "tasks=%zu prep_seconds=%.4f build_seconds=%.4f lower_seconds=%.4f plan_seconds=%.4f "
           "run_seconds=%.4f seconds=%.4f min_seconds=%.4f first_seconds=%.4f read_seconds=%.4f "
           "sweeps_seconds=%.4f gen_seconds=%.4f gen_min_seconds=%.4f fetched_mib=%.1f "
           "fetch_seconds=%.4f r=%.6e gen_r=%.6e store_peak_mib=%.1f spilled_mib=%.1f "
           "worker_peak_rss_mib=%.0f "
           "timed=read_f4_h5+sweeps+sum (gen_: random+to_float32+sweeps+sum; read_: read+sum; "
           "sweeps_: seconds-read_seconds)\n",
           n, o->chunk, iters, dagr_nranks(ctx), dagr_nworkers(ctx), o->reps, ta.tasks, prep, build,
           ta.lower, ta.plan, ta.run, med, best, ta.secs[0], rmed, med - rmed, gmed, gbest,
           ta.fetched / 1048576.0, ta.fetch, ta.result, tg.result, ta.speak / 1048576.0,
           ta.spilled / 1048576.0, worker_peak_rss_mib(ctx));
    if (ta.result != tg.result && !(ta.result - tg.result < 1e-3 * (1 + ta.result) &&
                                    tg.result - ta.result < 1e-3 * (1 + ta.result))) {
      fprintf(stderr, "dagr bench stencil: the two variants disagree (%g vs %g)\n", ta.result,
              tg.result);
      rc = 1;
    }
  }
  atime_free(&ta);
  atime_free(&tg);
  atime_free(&tr);
  if (va) release_all(va, nv);
  if (vg) release_all(vg, nv);
  free(va);
  free(vg);
  if (x64) dagr_array_release(x64);
  if (x32) dagr_array_release(x32);
  if (xr) dagr_array_release(xr);
  if (rsum) dagr_array_release(rsum);
  remove_store(path);
  return rc;
}

int dagr_cli_bench(dagr_ctx_t *ctx, int argc, char **argv) {
  if (argc < 1) {
    fprintf(stderr, "usage: dagr bench throughput|chain|tracing|transfer|h5sum|xxt_mean|matmul|"
                    "h5write|stencil|numa [options]\n");
    return 2;
  }
  const char *name = argv[0];
  opts o = {100000, 32, 1 << 20, 3, 0, 1024, 10, NULL, NULL};
  if (!strcmp(name, "transfer")) o.reps = 10;
  if (parse(argc - 1, argv + 1, &o)) return 2;
  if (o.target && strcmp(name, "h5sum") != 0) {
    fprintf(stderr, "dagr bench %s: unexpected argument '%s'\n", name, o.target);
    return 2;
  }
  if (!strcmp(name, "throughput") || !strcmp(name, "chain")) return task_bench(ctx, name, &o);
  if (!strcmp(name, "transfer")) return transfer_bench(ctx, &o);
  if (!strcmp(name, "tracing")) return tracing_bench(ctx, &o);
  if (!strcmp(name, "h5sum")) return h5sum_bench(ctx, &o);
  if (!strcmp(name, "xxt_mean") || !strcmp(name, "matmul")) return random_bench(ctx, name, &o);
  if (!strcmp(name, "h5write")) return h5write_bench(ctx, &o);
  if (!strcmp(name, "stencil")) return stencil_bench(ctx, &o);
  if (!strcmp(name, "numa")) return numa_bench(ctx, &o);
  fprintf(stderr,
          "dagr bench: unknown benchmark '%s' (throughput, chain, tracing, transfer, h5sum, "
          "xxt_mean, matmul, h5write, stencil, numa)\n",
          name);
  return 2;
}
