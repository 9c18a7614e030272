/* bench.c: `dagr bench throughput|chain|transfer`: timed runs of standard graphs, one result line
 * each. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

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
  if (o->tasks < 1 || o->width < 2 || o->reps < 1) {
    fprintf(stderr, "dagr bench: --tasks must be >= 1, --width >= 2, --reps >= 1\n");
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

int dagr_cli_bench(dagr_ctx_t *ctx, int argc, char **argv) {
  if (argc < 1) {
    fprintf(stderr, "usage: dagr bench throughput|chain|transfer [options]\n");
    return 2;
  }
  const char *name = argv[0];
  opts o = {100000, 32, 1 << 20, 3};
  if (!strcmp(name, "transfer")) o.reps = 10;
  if (parse(argc - 1, argv + 1, &o)) return 2;
  if (!strcmp(name, "throughput") || !strcmp(name, "chain")) return task_bench(ctx, name, &o);
  if (!strcmp(name, "transfer")) return transfer_bench(ctx, &o);
  fprintf(stderr, "dagr bench: unknown benchmark '%s' (throughput, chain, transfer)\n", name);
  return 2;
}
