/* faults_mpi.c: jobs that fail on purpose for faults.sh: kernels that crash or never return,
 * task timeouts, and an array store cut short by a crash.
 *
 * Usage: faults_mpi MODE DIR   (alone or under mpirun; DIR: a directory the test owns)
 *   segv          a kernel dereferences a bad pointer on the last worker rank, while the others
 *                 run kernels that never return: the job dies
 *   hang          a kernel that never returns on every worker rank; each writes
 *                 $DAGR_FAULTS_DIR/running.R (its pid) first, and the driver its pid in
 *                 $DAGR_FAULTS_DIR/driver, so faults.sh can signal or kill one rank; a dagr_get
 * that returns is reported on stderr ("dagr_get returned DAGR_E...: message") timeout timeout_s = 1
 * on a kernel that never returns: DAGR_ETIMEOUT naming key, kernel and limit, within a bound; the
 * next dagr_get is refused with DAGR_ESTATE timeout_env   the same limit from DAGR_TASK_TIMEOUT=1
 * (set by the caller), with retries = 3 (a timeout is not retried) and a kernel that returns late
 * (after 3 s) store         stores DIR/good.h5:/x, then DIR/bad.h5:/x through a kernel that crashes
 * on one block after the others were written: the job dies store_check   reads DIR/good.h5:/x back
 * and checks every value The checking modes print "ok NAME" / "FAIL NAME: why" and "N passed, N
 * failed", and exit 0 only when every case passed. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dagr.h"
#include "dagr/array.h"

#define N_CHUNK  65536
#define N_BLOCKS 8
#define CRASH_AT 5 /* the block of bad.h5 whose kernel crashes */

static const char *dir = ".";
static int passed, failed;

/* Where the crash comes from: a pointer the compiler cannot see through (a constant NULL would
 * let it emit a trap instruction, SIGILL, instead of a memory access). */
static int *volatile bad_pointer = (int *)16;

static void check(int ok, const char *name, const char *detail) {
  if (ok) {
    printf("ok %s\n", name);
    passed++;
  } else {
    printf("FAIL %s: %s\n", name, detail);
    failed++;
  }
  fflush(stdout);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

DAGR_KERNEL(fault_segv) {
  *bad_pointer = 1;
  return dagr_kernel_output_int64(k, 0);
}

/* Never returns, unless given "ms": then returns after that long. Announces itself first in
 * $DAGR_FAULTS_DIR/running.RANK (written under a temporary name, then renamed). */
DAGR_KERNEL(fault_hang) {
  const char *d = getenv("DAGR_FAULTS_DIR");
  if (d) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/running.%d", d, dagr_kernel_rank(k));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f) {
      fprintf(f, "%d\n", (int)getpid());
      fclose(f);
      rename(tmp, path);
    }
  }
  int64_t ms = -1;
  if (dagr_kernel_param_int(k, "ms", &ms) == DAGR_OK && ms >= 0) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return dagr_kernel_output_int64(k, 0);
  }
  for (;;) sleep(1);
}

/* map_blocks kernel: copies its block, except that block CRASH_AT (of an arange) crashes after
 * the others had time to be written. */
DAGR_KERNEL(fault_block) {
  dagr_view_t in;
  int rc = dagr_kernel_input(k, 0, &in);
  if (rc) return rc;
  const double *x = in.data;
  if (in.nbytes >= sizeof(double) && x[0] == (double)CRASH_AT * N_CHUNK) {
    usleep(500 * 1000);
    *bad_pointer = 1;
  }
  void *out;
  rc = dagr_kernel_output(k, in.nbytes, in.dtype, in.ndim, in.shape, &out);
  if (rc) return rc;
  memcpy(out, in.data, in.nbytes);
  return DAGR_OK;
}

/* One task of kernel `kernel` per worker rank (pinned under MPI; only the last worker rank with
 * last_only), each depending on a const; the other ranks get a task that never returns. */
static int run_per_worker(dagr_ctx_t *ctx, const char *kernel, const char *prefix, int last_only) {
  dagr_graph_t *g;
  dagr_params_t *p;
  dagr_graph_create(&g);
  dagr_params_create(&p);
  dagr_params_set_int(p, "value", 1);
  dagr_graph_add(g, "one", "const", p, NULL, 0, NULL);
  int nw = dagr_nranks(ctx) > 1 ? dagr_nranks(ctx) - 1 : 1;
  char keys[64][64];
  const char *kp[64];
  const char *dep[] = {"one"};
  for (int w = 0; w < nw && w < 64; w++) {
    dagr_task_opts_t o;
    dagr_task_opts_init(&o);
    if (dagr_nranks(ctx) > 1) o.worker = w + 1;
    int mine = !last_only || w == nw - 1;
    snprintf(keys[w], sizeof keys[w], "%s-%d", mine ? prefix : "hang", w + 1);
    dagr_graph_add(g, keys[w], mine ? kernel : "fault_hang", NULL, dep, 1, &o);
    kp[w] = keys[w];
  }
  dagr_result_t r[64];
  double t0 = now();
  int rc = dagr_get(ctx, g, kp, (size_t)(nw < 64 ? nw : 64), r);
  fprintf(stderr, "faults_mpi: dagr_get returned %s after %.2f s: %s\n", dagr_strerror(rc),
          now() - t0, dagr_last_error(ctx));
  if (rc == DAGR_OK)
    for (int w = 0; w < nw && w < 64; w++) dagr_result_release(&r[w]);
  dagr_params_free(p);
  dagr_graph_free(g);
  return rc;
}

/* A chain a -> slow -> after, where slow never returns (or returns after late_ms). */
static int run_slow(dagr_ctx_t *ctx, double timeout_s, int retries, int64_t late_ms,
                    double *seconds) {
  dagr_graph_t *g;
  dagr_params_t *p, *q;
  dagr_graph_create(&g);
  dagr_params_create(&p);
  dagr_params_create(&q);
  dagr_params_set_int(p, "value", 1);
  dagr_graph_add(g, "a", "const", p, NULL, 0, NULL);
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.timeout_s = timeout_s;
  o.retries = retries;
  if (late_ms >= 0) dagr_params_set_int(q, "ms", late_ms);
  const char *a[] = {"a"}, *s[] = {"('slow', 0)"};
  dagr_graph_add(g, "('slow', 0)", "fault_hang", q, a, 1, &o);
  dagr_graph_add(g, "after", "add", NULL, s, 1, NULL);
  const char *keys[] = {"after"};
  dagr_result_t r;
  double t0 = now();
  int rc = dagr_get(ctx, g, keys, 1, &r);
  *seconds = now() - t0;
  if (rc == DAGR_OK) dagr_result_release(&r);
  dagr_params_free(p);
  dagr_params_free(q);
  dagr_graph_free(g);
  return rc;
}

static void timeout_cases(dagr_ctx_t *ctx, const char *mode) {
  int env = strcmp(mode, "timeout_env") == 0;
  char name[128], detail[2300];
  double secs = 0;
  int rc = env ? run_slow(ctx, 0, 3, 3000, &secs) : run_slow(ctx, 1, 0, -1, &secs);
  const char *msg = dagr_last_error(ctx);
  snprintf(detail, sizeof detail, "status %s after %.2f s: %s", dagr_strerror(rc), secs, msg);
  printf("# %s: %s\n", mode, detail);
  snprintf(name, sizeof name, "%s: DAGR_ETIMEOUT naming key, kernel, rank and limit", mode);
  check(rc == DAGR_ETIMEOUT && strstr(msg, "task '('slow', 0)'") &&
            strstr(msg, "(kernel 'fault_hang')") && strstr(msg, "rank ") &&
            strstr(msg, "exceeded its timeout of 1 s"),
        name, detail);
  snprintf(name, sizeof name, "%s: fails within 1 to 5 s", mode);
  check(secs >= 0.95 && secs < 5, name, detail);
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  snprintf(name, sizeof name, "%s: a timeout is not retried", mode);
  snprintf(detail, sizeof detail, "%llu retries", (unsigned long long)st.retries);
  check(st.retries == 0, name, detail);
  if (env) sleep(3); /* the late kernel returns meanwhile: its completion must be ignored */
  rc = run_slow(ctx, 1, 0, -1, &secs);
  snprintf(detail, sizeof detail, "status %s: %s", dagr_strerror(rc), dagr_last_error(ctx));
  snprintf(name, sizeof name, "%s: the next dagr_get is refused", mode);
  check(rc == DAGR_ESTATE && strstr(dagr_last_error(ctx), "time limit") && secs < 0.5, name,
        detail);
}

static int store_files(dagr_ctx_t *ctx) {
  char good[4096], bad[4096];
  snprintf(good, sizeof good, "%s/good.h5", dir);
  snprintf(bad, sizeof bad, "%s/bad.h5", dir);
  dagr_array_t *a = NULL, *m = NULL;
  int rc =
      dagr_array_arange(ctx, 0, (double)N_BLOCKS * N_CHUNK, 1, DAGR_DTYPE_FLOAT64, N_CHUNK, &a);
  if (!rc) rc = dagr_array_store(a, good, "x", 0);
  fprintf(stderr, "faults_mpi: stored %s: %s %s\n", good, dagr_strerror(rc),
          rc ? dagr_last_error(ctx) : "");
  if (rc) {
    dagr_array_release(a);
    return rc;
  }
  rc = dagr_array_map_blocks("fault_block", 1, &a, DAGR_DTYPE_FLOAT64, &m);
  dagr_array_release(a);
  if (!rc) {
    rc = dagr_array_store(m, bad, "x", 0);
    dagr_array_release(m);
  }
  fprintf(stderr, "faults_mpi: storing %s returned %s: %s\n", bad, dagr_strerror(rc),
          dagr_last_error(ctx));
  return rc;
}

static void store_check(dagr_ctx_t *ctx) {
  char good[4096], detail[1200];
  snprintf(good, sizeof good, "%s/good.h5", dir);
  dagr_array_t *a;
  dagr_result_t r;
  int rc = dagr_array_from_hdf5(ctx, good, "x", NULL, &a);
  if (!rc) {
    rc = dagr_array_compute(a, &r);
    dagr_array_release(a);
  }
  snprintf(detail, sizeof detail, "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
  check(rc == DAGR_OK, "good.h5 reads back", detail);
  if (rc) return;
  const double *x = r.data;
  int64_t n = (int64_t)(r.nbytes / sizeof(double)), bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (x[i] != (double)i) bad = i;
  snprintf(detail, sizeof detail, "%lld values, first wrong at %lld", (long long)n, (long long)bad);
  check(n == (int64_t)N_BLOCKS * N_CHUNK && bad < 0, "good.h5 holds every value", detail);
  dagr_result_release(&r);
}

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    fprintf(stderr, "faults_mpi: %s\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  const char *mode = argc > 1 ? argv[1] : "";
  if (argc > 2) dir = argv[2];
  /* The driver's pid, for signals sent to rank 0 alone. */
  const char *d = getenv("DAGR_FAULTS_DIR");
  if (d) {
    char path[4096];
    snprintf(path, sizeof path, "%s/driver", d);
    FILE *f = fopen(path, "w");
    if (f) {
      fprintf(f, "%d\n", (int)getpid());
      fclose(f);
    }
  }
  int rc = 0;
  if (!strcmp(mode, "segv")) {
    rc = run_per_worker(ctx, "fault_segv", "boom", 1);
  } else if (!strcmp(mode, "hang")) {
    rc = run_per_worker(ctx, "fault_hang", "hang", 0);
  } else if (!strcmp(mode, "timeout") || !strcmp(mode, "timeout_env")) {
    timeout_cases(ctx, mode);
  } else if (!strcmp(mode, "store")) {
    rc = store_files(ctx);
  } else if (!strcmp(mode, "store_check")) {
    store_check(ctx);
  } else {
    fprintf(stderr, "faults_mpi: unknown mode '%s'\n", mode);
    rc = 1;
  }
  int checking = passed + failed > 0;
  if (checking) printf("%d passed, %d failed\n", passed, failed);
  int status = checking ? failed > 0 : rc != 0;
  dagr_set_exit_status(ctx, status);
  int frc = dagr_finalize(ctx);
  return status ? 1 : frc != DAGR_OK;
}
