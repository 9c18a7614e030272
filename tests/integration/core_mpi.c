/* core_mpi.c: end-to-end test of the dagr public API, run alone or under mpirun -np N. */
/*
 * Every rank calls dagr_init; workers serve until the driver finalizes. The driver (rank 0) runs
 * the cases below against one context, printing "ok NAME" or "FAIL NAME: detail (actual vs
 * expected)" for each, informational lines starting with "# ", and finally exactly
 * "N passed, N failed". The exit status is non-zero on any failure, on every rank (the driver
 * passes it to the workers with dagr_set_exit_status).
 *
 * Environment: DAGR_TEST_SKIP_1G=1 skips the 1 GiB transfer; DAGR_TEST_CASE_TIMEOUT (seconds,
 * default 120) bounds each case: past it the driver prints a FAIL line and exits, which makes
 * mpirun stop the whole job. DAGR_TEST_CASES=name,name,... runs only those cases, and
 * DAGR_TEST_FORCE_FAIL=1 adds a case that always fails (mpi_core.sh uses both to check that a
 * failure reaches every rank's exit status; a worker that exits non-zero says so on stderr).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dagr.h>

/* ---------------------------------------------------------------------------------------------
 * Deterministic helpers shared by kernels and reference evaluation.
 * ------------------------------------------------------------------------------------------- */

#define FNV_INIT  0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define MIB       ((int64_t)1 << 20)

/* poly: a deterministic, well-mixed int64 function of a parameter and any number of inputs,
 * with results in [-2^23, 2^23) so that sums and products of them stay interesting. */
static int64_t poly_eval(int64_t a, const int64_t *x, int n) {
  uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ull + 0x7f4a7c15ull;
  for (int i = 0; i < n; i++) {
    h ^= (uint64_t)x[i] + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
  }
  h ^= h >> 33;
  return (int64_t)(h >> 40) - ((int64_t)1 << 23);
}

/* xorshift64*: the random DAGs are the same on every run and every rank count. */
typedef struct rng {
  uint64_t s;
} rng;

static void rng_seed(rng *r, uint64_t seed) {
  r->s = seed * 0x9e3779b97f4a7c15ull + 1;
}

static uint64_t rng_next(rng *r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(rng *r, uint32_t n) {
  return (uint32_t)((rng_next(r) >> 32) % n);
}

/* One 256-byte period of the `fill` kernel's pattern: byte i = (i*131 + seed*7) mod 256. */
static void fill_period(unsigned char period[256], int64_t seed) {
  for (unsigned i = 0; i < 256; i++)
    period[i] = (unsigned char)((i * 131u + (uint64_t)seed * 7u) & 0xffu);
}

/* FNV-1a 64 of `bytes` bytes of the fill pattern, one period at a time (the loop the compiler
 * keeps in registers, about one byte per nanosecond). */
static uint64_t fnv_fill(uint64_t h, int64_t bytes, int64_t seed) {
  unsigned char p[256];
  fill_period(p, seed);
  int64_t full = bytes / 256;
  for (int64_t b = 0; b < full; b++) {
    for (int j = 0; j < 256; j += 8) {
      h = (h ^ p[j]) * FNV_PRIME;
      h = (h ^ p[j + 1]) * FNV_PRIME;
      h = (h ^ p[j + 2]) * FNV_PRIME;
      h = (h ^ p[j + 3]) * FNV_PRIME;
      h = (h ^ p[j + 4]) * FNV_PRIME;
      h = (h ^ p[j + 5]) * FNV_PRIME;
      h = (h ^ p[j + 6]) * FNV_PRIME;
      h = (h ^ p[j + 7]) * FNV_PRIME;
    }
  }
  for (int64_t j = 0; j < bytes % 256; j++) h = (h ^ p[j]) * FNV_PRIME;
  return h;
}

/* FNV-1a 64 of a byte array. */
static uint64_t fnv_u8(const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = FNV_INIT;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
  return h;
}

/* FNV-1a 64 over the little-endian bytes of 64-bit values (what `checksum` does with scalars). */
static uint64_t fnv_u64s(uint64_t h, const uint64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 8; b++) h = (h ^ ((v[i] >> (8 * b)) & 0xffu)) * FNV_PRIME;
  return h;
}

/* ---------------------------------------------------------------------------------------------
 * Test kernels (registered on every rank at load, like the built-in ones).
 * ------------------------------------------------------------------------------------------- */

#define POLY_MAX_INPUTS 64

/* poly: params.a (int), inputs int64 scalars; poly_eval(a, inputs). */
DAGR_KERNEL(poly) {
  int64_t a = 0, x[POLY_MAX_INPUTS];
  if (dagr_kernel_param_int(k, "a", &a)) return dagr_kernel_fail(k, "poly needs params.a");
  int n = dagr_kernel_ninputs(k);
  if (n > POLY_MAX_INPUTS) return dagr_kernel_fail(k, "poly takes at most %d inputs", n);
  for (int i = 0; i < n; i++) {
    dagr_view_t v;
    if (dagr_kernel_input(k, i, &v)) return dagr_kernel_fail(k, "poly: no input %d", i);
    if (v.dtype != DAGR_DTYPE_INT64 || v.ndim != 0 || v.nbytes != 8)
      return dagr_kernel_fail(k, "poly: input %d is %s, ndim %d, %zu bytes; wanted an int64", i,
                              dagr_dtype_name(v.dtype), v.ndim, v.nbytes);
    memcpy(&x[i], v.data, 8);
  }
  return dagr_kernel_output_int64(k, poly_eval(a, x, n));
}

/* flaky: fails on the first params.fails attempts made in this process for params.id, then
 * returns params.value. Retries go to the same worker, so a per-process counter suffices. */
#define FLAKY_IDS 64
static atomic_int flaky_attempts[FLAKY_IDS];

DAGR_KERNEL(flaky) {
  int64_t id = -1, fails = 0, value = 0;
  if (dagr_kernel_param_int(k, "id", &id) || id < 0 || id >= FLAKY_IDS)
    return dagr_kernel_fail(k, "flaky needs params.id in 0..%d", FLAKY_IDS - 1);
  (void)dagr_kernel_param_int(k, "fails", &fails);
  (void)dagr_kernel_param_int(k, "value", &value);
  int attempt = atomic_fetch_add(&flaky_attempts[id], 1) + 1;
  if (attempt <= fails)
    return dagr_kernel_fail(k, "flaky id %lld: deliberate failure on attempt %d on rank %d",
                            (long long)id, attempt, dagr_kernel_rank(k));
  return dagr_kernel_output_int64(k, value);
}

/* bigsum: a buffer of params.n int64 values, element j = (sum of the int64 scalar inputs) + j. */
DAGR_KERNEL(bigsum) {
  int64_t n = 0;
  if (dagr_kernel_param_int(k, "n", &n) || n < 0) return dagr_kernel_fail(k, "bigsum needs n");
  uint64_t s = 0;
  for (int i = 0; i < dagr_kernel_ninputs(k); i++) {
    dagr_view_t v;
    if (dagr_kernel_input(k, i, &v) || v.dtype != DAGR_DTYPE_INT64 || v.nbytes != 8)
      return dagr_kernel_fail(k, "bigsum: input %d is not an int64 scalar", i);
    int64_t x;
    memcpy(&x, v.data, 8);
    s += (uint64_t)x;
  }
  void *out;
  int64_t shape[1] = {n};
  int rc = dagr_kernel_output(k, (size_t)n * 8, DAGR_DTYPE_INT64, 1, shape, &out);
  if (rc) return dagr_kernel_fail(k, "bigsum: no room for %lld values", (long long)n);
  int64_t *o = out;
  for (int64_t j = 0; j < n; j++) o[j] = (int64_t)(s + (uint64_t)j);
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reporting, timing and the per-case watchdog.
 * ------------------------------------------------------------------------------------------- */

static int g_passed, g_failed;
static const char *volatile g_case = "setup";
static unsigned g_case_timeout = 120;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t put_str(char *buf, size_t pos, size_t cap, const char *s) {
  while (*s && pos + 1 < cap) buf[pos++] = *s++;
  return pos;
}

static size_t put_uint(char *buf, size_t pos, size_t cap, unsigned long v) {
  char d[24];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n && pos + 1 < cap) buf[pos++] = d[--n];
  return pos;
}

/* SIGALRM: a case ran past its bound. Async-signal-safe: formats by hand, write(2), _exit. The
 * driver's exit without dagr_finalize makes mpirun stop the other ranks. */
static void on_alarm(int sig) {
  (void)sig;
  char buf[512];
  size_t p = 0;
  p = put_str(buf, p, sizeof buf, "FAIL ");
  p = put_str(buf, p, sizeof buf, g_case);
  p = put_str(buf, p, sizeof buf, ": did not finish within ");
  p = put_uint(buf, p, sizeof buf, g_case_timeout);
  p = put_str(buf, p, sizeof buf, " s (watchdog)\n");
  p = put_uint(buf, p, sizeof buf, (unsigned long)g_passed);
  p = put_str(buf, p, sizeof buf, " passed, ");
  p = put_uint(buf, p, sizeof buf, (unsigned long)g_failed + 1);
  p = put_str(buf, p, sizeof buf, " failed\n");
  ssize_t w = write(STDOUT_FILENO, buf, p);
  (void)w;
  _exit(3);
}

/* A case returns 0 on success, or non-zero after writing why into its buffer. */
typedef int (*case_fn)(dagr_ctx_t *ctx, char *why, size_t len);

/* DAGR_TEST_CASES: a comma-separated list of the cases to run (all when unset or empty). */
static int selected(const char *name) {
  const char *list = getenv("DAGR_TEST_CASES");
  if (!list || !*list || !strcmp(name, "forced-failure")) return 1;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == n && !strncmp(p, name, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

static void run_case(dagr_ctx_t *ctx, const char *name, case_fn fn) {
  if (!selected(name)) return;
  char why[2048] = "";
  g_case = name;
  alarm(g_case_timeout);
  double t0 = now();
  int bad = fn(ctx, why, sizeof why);
  double dt = now() - t0;
  alarm(0);
  if (bad) {
    printf("FAIL %s: %s\n", name, why[0] ? why : "(no detail)");
    g_failed++;
  } else {
    printf("ok %s\n", name);
    g_passed++;
  }
  printf("# %s: %.3f s\n", name, dt);
  fflush(stdout);
}

/* Writes a failure reason and returns 1: `return why_f(why, len, "...", ...)`. */
static int why_f(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_f(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
  va_end(ap);
  return 1;
}

#define WHY(...) why_f(why, len, __VA_ARGS__)

/* ---------------------------------------------------------------------------------------------
 * Graph-building helpers.
 * ------------------------------------------------------------------------------------------- */

/* Adds a task with optional int parameters (name/value pairs, NULL-terminated list of names). */
static int add_task(dagr_graph_t *g, const char *key, const char *kernel, const char *const *deps,
                    size_t ndeps, const dagr_task_opts_t *opts, const char *pname1, int64_t pval1,
                    const char *pname2, int64_t pval2) {
  dagr_params_t *p = NULL;
  if (pname1 || pname2) {
    if (dagr_params_create(&p)) return DAGR_ENOMEM;
    if (pname1 && dagr_params_set_int(p, pname1, pval1)) return DAGR_EINVAL;
    if (pname2 && dagr_params_set_int(p, pname2, pval2)) return DAGR_EINVAL;
  }
  int rc = dagr_graph_add(g, key, kernel, p, deps, ndeps, opts);
  dagr_params_free(p);
  return rc;
}

static int add_const(dagr_graph_t *g, const char *key, int64_t v) {
  return add_task(g, key, "const", NULL, 0, NULL, "value", v, NULL, 0);
}

static const char *status_name(int rc) {
  switch (rc) {
  case DAGR_OK:
    return "DAGR_OK";
  case DAGR_EINVAL:
    return "DAGR_EINVAL";
  case DAGR_ENOMEM:
    return "DAGR_ENOMEM";
  case DAGR_EMISSING:
    return "DAGR_EMISSING";
  case DAGR_ECYCLE:
    return "DAGR_ECYCLE";
  case DAGR_EDUPKEY:
    return "DAGR_EDUPKEY";
  case DAGR_EUNKNOWN_KERNEL:
    return "DAGR_EUNKNOWN_KERNEL";
  case DAGR_ENOKEY:
    return "DAGR_ENOKEY";
  case DAGR_EKERNEL:
    return "DAGR_EKERNEL";
  case DAGR_EMPI:
    return "DAGR_EMPI";
  case DAGR_ESTATE:
    return "DAGR_ESTATE";
  case DAGR_ESTORE_FULL:
    return "DAGR_ESTORE_FULL";
  case DAGR_EPROTO:
    return "DAGR_EPROTO";
  default:
    return "other status";
  }
}

/* Gets one int64 scalar; returns 0 and sets *v, or 1 with why filled. */
static int get_int64(dagr_ctx_t *ctx, dagr_graph_t *g, const char *key, int64_t *v, char *why,
                     size_t len) {
  dagr_result_t r;
  const char *keys[1] = {key};
  int rc = dagr_get(ctx, g, keys, 1, &r);
  if (rc)
    return WHY("dagr_get('%s') returned %s (%d) vs expected DAGR_OK: %s", key, status_name(rc), rc,
               dagr_last_error(ctx));
  if (r.dtype != DAGR_DTYPE_INT64 || r.ndim != 0 || r.nbytes != 8) {
    WHY("'%s' has dtype %s, ndim %d, %zu bytes vs expected an int64 scalar", key,
        dagr_dtype_name(r.dtype), r.ndim, r.nbytes);
    dagr_result_release(&r);
    return 1;
  }
  memcpy(v, r.data, 8);
  dagr_result_release(&r);
  return 0;
}

/* The diamond a=5, b=a+a, c=a*a, d=c-b (= 15), optionally with priorities. */
static int build_diamond(dagr_graph_t *g, const char *prefix, int with_prio) {
  char a[64], b[64], c[64], d[64];
  snprintf(a, sizeof a, "%sa", prefix);
  snprintf(b, sizeof b, "%sb", prefix);
  snprintf(c, sizeof c, "%sc", prefix);
  snprintf(d, sizeof d, "%sd", prefix);
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  const char *aa[2] = {a, a}, *cb[2] = {c, b};
  int rc = add_const(g, a, 5);
  if (with_prio) o.priority = -7;
  if (!rc) rc = add_task(g, b, "add", aa, 2, &o, NULL, 0, NULL, 0);
  if (with_prio) o.priority = 10;
  if (!rc) rc = add_task(g, c, "mul", aa, 2, &o, NULL, 0, NULL, 0);
  if (with_prio) o.priority = 3;
  if (!rc) rc = add_task(g, d, "sub", cb, 2, &o, NULL, 0, NULL, 0);
  return rc;
}

/* After an error: the same context must still compute a fresh graph correctly. */
static int still_usable(dagr_ctx_t *ctx, const char *after, char *why, size_t len) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g) || build_diamond(g, "reuse-", 0)) return WHY("building reuse graph");
  int64_t v = 0;
  char inner[1024] = "";
  int bad = get_int64(ctx, g, "reuse-d", &v, inner, sizeof inner);
  dagr_graph_free(g);
  if (bad) return WHY("after %s, a valid get failed: %s", after, inner);
  if (v != 15) return WHY("after %s, a valid get gave %lld vs expected 15", after, (long long)v);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Random DAGs with a serial reference evaluation.
 * ------------------------------------------------------------------------------------------- */

enum { K_CONST, K_POLY, K_ADD, K_MUL, K_SUB };
static const char *const kind_kernel[] = {"const", "poly", "add", "mul", "sub"};

typedef struct rdag {
  int n;
  char (*key)[40];
  int64_t *val; /* reference value of each task */
} rdag;

static void rdag_free(rdag *d) {
  free(d->key);
  free(d->val);
  d->key = NULL;
  d->val = NULL;
}

/* Builds n tasks into g; task i depends on 0..4 earlier tasks (half of them near i, so chains get
 * deep). With prio, tasks get random priorities, extremes included. */
static int rdag_build(dagr_graph_t *g, rdag *d, const char *name, uint64_t seed, int n, int prio) {
  rng r;
  rng_seed(&r, seed);
  d->n = n;
  d->key = malloc((size_t)n * sizeof *d->key);
  d->val = malloc((size_t)n * sizeof *d->val);
  if (!d->key || !d->val) return DAGR_ENOMEM;
  for (int i = 0; i < n; i++) {
    snprintf(d->key[i], sizeof d->key[i], "('%s-%llu', %d)", name, (unsigned long long)seed, i);
    int nd = i == 0 ? 0 : (int)rng_below(&r, 5);
    int dep[4];
    const char *deps[4];
    int64_t x[4];
    for (int j = 0; j < nd; j++) {
      int near = rng_below(&r, 2) == 0;
      if (near && i > 1) {
        int w = i < 64 ? i : 64;
        dep[j] = i - 1 - (int)rng_below(&r, (uint32_t)w);
      } else {
        dep[j] = (int)rng_below(&r, (uint32_t)i);
      }
      deps[j] = d->key[dep[j]];
      x[j] = d->val[dep[j]];
    }
    int kind;
    if (nd == 0)
      kind = rng_below(&r, 2) ? K_POLY : K_CONST;
    else
      kind = (int)(K_POLY + rng_below(&r, 4));
    int64_t a = (int64_t)(rng_next(&r) >> 1) - ((int64_t)1 << 62);
    dagr_task_opts_t o;
    dagr_task_opts_init(&o);
    if (prio) {
      uint32_t c = rng_below(&r, 12);
      o.priority = c == 0 ? INT32_MIN : c == 1 ? INT32_MAX : (int)c - 6;
    }
    int rc;
    uint64_t acc;
    switch (kind) {
    case K_CONST:
      d->val[i] = a;
      rc = add_task(g, d->key[i], "const", NULL, 0, &o, "value", a, NULL, 0);
      break;
    case K_POLY:
      d->val[i] = poly_eval(a, x, nd);
      rc = add_task(g, d->key[i], "poly", deps, (size_t)nd, &o, "a", a, NULL, 0);
      break;
    default:
      acc = (uint64_t)x[0];
      for (int j = 1; j < nd; j++) {
        if (kind == K_ADD)
          acc += (uint64_t)x[j];
        else if (kind == K_MUL)
          acc *= (uint64_t)x[j];
        else
          acc -= (uint64_t)x[j];
      }
      d->val[i] = (int64_t)acc;
      rc = add_task(g, d->key[i], kind_kernel[kind], deps, (size_t)nd, &o, NULL, 0, NULL, 0);
    }
    if (rc) return rc;
  }
  return DAGR_OK;
}

/* Requests idx[0..nk) of d and compares each value with the reference. */
static int rdag_check(dagr_ctx_t *ctx, dagr_graph_t *g, const rdag *d, const int *idx, int nk,
                      char *why, size_t len) {
  if (nk <= 0) return WHY("no keys to check");
  const char **keys = calloc((size_t)nk, sizeof *keys);
  dagr_result_t *res = calloc((size_t)nk, sizeof *res);
  if (!keys || !res) return WHY("out of memory");
  for (int i = 0; i < nk; i++) keys[i] = d->key[idx[i]];
  int rc = dagr_get(ctx, g, keys, (size_t)nk, res);
  int bad = 0;
  if (rc) {
    bad = WHY("dagr_get of %d keys returned %s (%d) vs expected DAGR_OK: %s", nk, status_name(rc),
              rc, dagr_last_error(ctx));
  } else {
    for (int i = 0; i < nk && !bad; i++) {
      int64_t v = 0;
      if (dagr_result_int64(&res[i], &v) || res[i].dtype != DAGR_DTYPE_INT64)
        bad = WHY("result %d ('%s') is not an int64 scalar (dtype %s, %zu bytes)", i, keys[i],
                  dagr_dtype_name(res[i].dtype), res[i].nbytes);
      else if (v != d->val[idx[i]])
        bad = WHY("result %d ('%s') = %lld vs expected %lld", i, keys[i], (long long)v,
                  (long long)d->val[idx[i]]);
    }
    for (int i = 0; i < nk; i++) dagr_result_release(&res[i]);
  }
  free(keys);
  free(res);
  return bad;
}

/* ---------------------------------------------------------------------------------------------
 * Cases.
 * ------------------------------------------------------------------------------------------- */

static int case_diamond(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g) || build_diamond(g, "", 0)) return WHY("building the graph");
  const char *keys[4] = {"d", "b", "c", "a"};
  dagr_result_t r[4];
  int rc = dagr_get(ctx, g, keys, 4, r);
  dagr_graph_free(g);
  if (rc) return WHY("dagr_get returned %s: %s", status_name(rc), dagr_last_error(ctx));
  const int64_t expect[4] = {15, 10, 25, 5};
  int bad = 0;
  for (int i = 0; i < 4; i++) {
    int64_t v = 0;
    if (!bad && (dagr_result_int64(&r[i], &v) || r[i].dtype != DAGR_DTYPE_INT64))
      bad = WHY("'%s' is not an int64 scalar (dtype %s)", keys[i], dagr_dtype_name(r[i].dtype));
    else if (!bad && v != expect[i])
      bad = WHY("'%s' = %lld vs expected %lld", keys[i], (long long)v, (long long)expect[i]);
    dagr_result_release(&r[i]);
  }
  if (bad) return 1;
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  if (st.tasks != 4) return WHY("stats.tasks = %llu vs expected 4", (unsigned long long)st.tasks);
  return 0;
}

#define FAN_WIDTH 10000
#define FAN_IN    16

static int case_fan(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  char(*level)[32] = malloc(FAN_WIDTH * sizeof *level);
  if (!level) return WHY("out of memory");
  const char *x = "fan-x";
  int rc = add_const(g, x, 3);
  uint64_t expect = 0;
  int64_t three = 3;
  for (int i = 0; i < FAN_WIDTH && !rc; i++) {
    snprintf(level[i], sizeof level[i], "('fan', %d)", i);
    rc = add_task(g, level[i], "poly", &x, 1, NULL, "a", i, NULL, 0);
    expect += (uint64_t)poly_eval(i, &three, 1);
  }
  int count = FAN_WIDTH, depth = 0;
  while (count > 1 && !rc) {
    int next = 0;
    for (int j = 0; j < count && !rc; j += FAN_IN) {
      int m = count - j < FAN_IN ? count - j : FAN_IN;
      const char *deps[FAN_IN];
      for (int q = 0; q < m; q++) deps[q] = level[j + q];
      char key[32];
      snprintf(key, sizeof key, "('fan-sum', %d, %d)", depth, j / FAN_IN);
      rc = add_task(g, key, "add", deps, (size_t)m, NULL, NULL, 0, NULL, 0);
      snprintf(level[next++], sizeof level[0], "%s", key);
    }
    count = next;
    depth++;
  }
  if (rc) {
    free(level);
    dagr_graph_free(g);
    return WHY("building the graph: %s", status_name(rc));
  }
  int64_t v = 0;
  int bad = get_int64(ctx, g, level[0], &v, why, len);
  size_t ntasks = dagr_graph_size(g);
  free(level);
  dagr_graph_free(g);
  if (bad) return 1;
  if (v != (int64_t)expect)
    return WHY("sum over %d fan-out tasks = %lld vs expected %lld", FAN_WIDTH, (long long)v,
               (long long)expect);
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  if (st.tasks != ntasks)
    return WHY("stats.tasks = %llu vs expected %zu", (unsigned long long)st.tasks, ntasks);
  printf("# fan: %zu tasks in %.3f s\n", ntasks, st.seconds);
  return 0;
}

#define CHAIN_LEN 100000

static int case_chain(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  char key[32], prev[32];
  int rc = add_const(g, "chain-one", 1);
  if (!rc) rc = add_const(g, "('chain', 0)", 0);
  snprintf(prev, sizeof prev, "('chain', 0)");
  for (int i = 1; i <= CHAIN_LEN && !rc; i++) {
    snprintf(key, sizeof key, "('chain', %d)", i);
    const char *deps[2] = {prev, "chain-one"};
    rc = add_task(g, key, "add", deps, 2, NULL, NULL, 0, NULL, 0);
    memcpy(prev, key, sizeof key);
  }
  if (rc) {
    dagr_graph_free(g);
    return WHY("building the graph: %s", status_name(rc));
  }
  int64_t v = 0;
  double t0 = now();
  int bad = get_int64(ctx, g, prev, &v, why, len);
  double dt = now() - t0;
  size_t ntasks = dagr_graph_size(g);
  dagr_graph_free(g);
  if (bad) return 1;
  if (v != CHAIN_LEN) return WHY("'%s' = %lld vs expected %d", prev, (long long)v, CHAIN_LEN);
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  printf("# chain: %zu tasks in %.3f s (plan %.3f s, %.0f tasks/s, %llu messages)\n", ntasks, dt,
         st.plan_seconds, (double)ntasks / dt, (unsigned long long)st.messages_sent);
  if (st.tasks != ntasks)
    return WHY("stats.tasks = %llu vs expected %zu", (unsigned long long)st.tasks, ntasks);
  return 0;
}

#define RAND_SEEDS 5
#define RAND_TASKS 10000
#define RAND_KEYS  20

static int case_random(dagr_ctx_t *ctx, char *why, size_t len) {
  for (int s = 1; s <= RAND_SEEDS; s++) {
    dagr_graph_t *g;
    rdag d = {0};
    if (dagr_graph_create(&g)) return WHY("graph_create");
    int rc = rdag_build(g, &d, "rand", (uint64_t)s, RAND_TASKS, 0);
    if (rc) return WHY("seed %d: building the graph: %s", s, status_name(rc));
    int idx[RAND_KEYS + 1];
    rng r;
    rng_seed(&r, 1000u + (uint64_t)s);
    for (int i = 0; i < RAND_KEYS; i++) idx[i] = (int)rng_below(&r, RAND_TASKS);
    idx[RAND_KEYS] = RAND_TASKS - 1;
    char inner[1536] = "";
    int bad = rdag_check(ctx, g, &d, idx, RAND_KEYS + 1, inner, sizeof inner);
    dagr_stats_t st;
    dagr_last_stats(ctx, &st);
    if (!bad)
      printf("# random seed %d: %llu of %d tasks needed, %.3f s, %llu bytes pulled\n", s,
             (unsigned long long)st.tasks, RAND_TASKS, st.seconds,
             (unsigned long long)st.bytes_fetched);
    rdag_free(&d);
    dagr_graph_free(g);
    if (bad) return WHY("seed %d: %s", s, inner);
  }
  return 0;
}

/* One fill -> checksum pair; pinned to workers 1 and 2 when there are two workers. */
static int big_pair(dagr_ctx_t *ctx, int64_t bytes, int64_t seed, int want_buffer, char *why,
                    size_t len) {
  int pinned = dagr_nworkers(ctx) >= 2 && dagr_nranks(ctx) >= 3;
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  if (pinned) o.worker = 1;
  const char *buf = "big-buf";
  int rc = add_task(g, buf, "fill", NULL, 0, &o, "bytes", bytes, "seed", seed);
  if (pinned) o.worker = 2;
  if (!rc) rc = add_task(g, "big-sum", "checksum", &buf, 1, &o, NULL, 0, NULL, 0);
  if (rc) {
    dagr_graph_free(g);
    return WHY("building the graph: %s", status_name(rc));
  }
  uint64_t expect = fnv_fill(FNV_INIT, bytes, seed);
  const char *keys[2] = {"big-sum", buf};
  dagr_result_t r[2];
  double t0 = now();
  rc = dagr_get(ctx, g, keys, want_buffer ? 2 : 1, r);
  double dt = now() - t0;
  dagr_graph_free(g);
  if (rc)
    return WHY("dagr_get returned %s (%d) vs expected DAGR_OK: %s", status_name(rc), rc,
               dagr_last_error(ctx));
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  int bad = 0;
  uint64_t got = 0;
  if (r[0].dtype != DAGR_DTYPE_UINT64 || r[0].ndim != 0 || r[0].nbytes != 8)
    bad = WHY("checksum result has dtype %s, ndim %d, %zu bytes vs expected a uint64 scalar",
              dagr_dtype_name(r[0].dtype), r[0].ndim, r[0].nbytes);
  else
    memcpy(&got, r[0].data, 8);
  if (!bad && got != expect)
    bad = WHY("checksum of %lld bytes = 0x%016llx vs expected 0x%016llx", (long long)bytes,
              (unsigned long long)got, (unsigned long long)expect);
  uint64_t want_fetch = pinned ? (uint64_t)bytes : 0;
  if (!bad && dagr_nworkers(ctx) == 1 && st.bytes_fetched != 0)
    bad = WHY("bytes_fetched = %llu vs expected 0 with one worker",
              (unsigned long long)st.bytes_fetched);
  if (!bad && pinned && st.bytes_fetched != want_fetch)
    bad = WHY("bytes_fetched = %llu vs expected %llu (fill on rank 1, checksum on rank 2)",
              (unsigned long long)st.bytes_fetched, (unsigned long long)want_fetch);
  if (want_buffer) {
    if (!bad && (r[1].nbytes != (size_t)bytes || r[1].dtype != DAGR_DTYPE_UINT8 || r[1].ndim != 1 ||
                 r[1].shape[0] != bytes))
      bad = WHY("buffer result: %zu bytes, dtype %s, ndim %d, shape[0] %lld vs expected %lld "
                "bytes, uint8, ndim 1",
                r[1].nbytes, dagr_dtype_name(r[1].dtype), r[1].ndim, (long long)r[1].shape[0],
                (long long)bytes);
    unsigned char period[256];
    fill_period(period, seed);
    const unsigned char *p = r[1].data;
    for (int64_t off = 0; !bad && off < bytes; off += 256) {
      size_t c = bytes - off < 256 ? (size_t)(bytes - off) : 256;
      if (memcmp(p + off, period, c) != 0) {
        int64_t i = off;
        while (p[i] == period[i - off]) i++;
        bad = WHY("buffer byte %lld = %u vs expected %u", (long long)i, p[i], period[i - off]);
      }
    }
    dagr_result_release(&r[1]);
  }
  dagr_result_release(&r[0]);
  printf("# big %lld MiB%s: get %.3f s, %s, pulled %llu bytes in %.3f s\n",
         (long long)(bytes / MIB), want_buffer ? " (buffer gathered to rank 0)" : "", dt,
         pinned ? "fill on rank 1, checksum on rank 2" : "unpinned",
         (unsigned long long)st.bytes_fetched, st.fetch_seconds);
  return bad;
}

static int case_big_64m(dagr_ctx_t *ctx, char *why, size_t len) {
  return big_pair(ctx, 64 * MIB, 5, 0, why, len);
}

static int case_big_1g(dagr_ctx_t *ctx, char *why, size_t len) {
  return big_pair(ctx, 1024 * MIB, 9, 0, why, len);
}

static int case_big_64m_result(dagr_ctx_t *ctx, char *why, size_t len) {
  return big_pair(ctx, 64 * MIB, 11, 1, why, len);
}

/* The rank a task pinned to the last worker runs on: the last rank under MPI, 0 when alone. */
static int last_worker_rank(dagr_ctx_t *ctx) {
  return dagr_nranks(ctx) > 1 ? dagr_nranks(ctx) - 1 : 0;
}

static int case_fail_no_retry(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  dagr_params_t *p;
  dagr_params_create(&p);
  dagr_params_set_string(p, "message", "deliberate failure 4711");
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  int rank = last_worker_rank(ctx);
  if (dagr_nranks(ctx) > 1) o.worker = rank;
  const char *a = "boom-input";
  int rc = add_const(g, a, 1);
  if (!rc) rc = dagr_graph_add(g, "boom-key", "fail", p, &a, 1, &o);
  dagr_params_free(p);
  if (rc) return WHY("building the graph: %s", status_name(rc));
  const char *keys[2] = {"boom-input", "boom-key"};
  dagr_result_t r[2];
  memset(r, 0x5a, sizeof r);
  rc = dagr_get(ctx, g, keys, 2, r);
  const char *msg = dagr_last_error(ctx);
  char rank_s[32];
  snprintf(rank_s, sizeof rank_s, "rank %d", rank);
  int bad = 0;
  if (rc != DAGR_EKERNEL)
    bad = WHY("dagr_get returned %s (%d) vs expected DAGR_EKERNEL; message: %s", status_name(rc),
              rc, msg);
  else if (!strstr(msg, "boom-key") || !strstr(msg, "'fail'") || !strstr(msg, rank_s) ||
           !strstr(msg, "deliberate failure 4711"))
    bad = WHY("message '%s' vs expected one naming 'boom-key', kernel 'fail', '%s' and "
              "'deliberate failure 4711'",
              msg, rank_s);
  else if (r[0].data || r[1].data)
    bad = WHY("results hold data after a failed get vs expected none");
  dagr_graph_free(g);
  if (bad) return 1;
  return still_usable(ctx, "a kernel failure", why, len);
}

/* Buffers moving between workers, a slow branch and many small tasks, with one task failing in
 * the middle; builds the same graph with or without the failing task. */
#define MID_BUFS  6
#define MID_BYTES (4 * MIB)
#define MID_POLY  3000

static int build_midrun(dagr_ctx_t *ctx, dagr_graph_t *g, int with_fail, uint64_t *expect_sum,
                        int64_t *expect_poly) {
  int nw = dagr_nranks(ctx) > 1 ? dagr_nworkers(ctx) : 0;
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  int rc = add_const(g, "mid-k", 7);
  uint64_t sums[MID_BUFS];
  const char *sum_keys[MID_BUFS];
  static char sk[MID_BUFS][32], fk[MID_BUFS][32];
  for (int i = 0; i < MID_BUFS && !rc; i++) {
    snprintf(fk[i], sizeof fk[i], "('mid-fill', %d)", i);
    snprintf(sk[i], sizeof sk[i], "('mid-sum', %d)", i);
    o.worker = nw ? 1 + i % nw : -1;
    rc = add_task(g, fk[i], "fill", NULL, 0, &o, "bytes", MID_BYTES, "seed", 100 + i);
    /* The same buffer twice plus a scalar, on the next worker: one pull serves both args. */
    const char *deps[3] = {fk[i], fk[i], "mid-k"};
    o.worker = nw ? 1 + (i + 1) % nw : -1;
    if (!rc) rc = add_task(g, sk[i], "checksum", deps, 3, &o, NULL, 0, NULL, 0);
    uint64_t h = fnv_fill(FNV_INIT, MID_BYTES, 100 + i);
    h = fnv_fill(h, MID_BYTES, 100 + i);
    uint64_t seven = 7;
    sums[i] = fnv_u64s(h, &seven, 1);
    sum_keys[i] = sk[i];
  }
  if (!rc) rc = add_task(g, "mid-sums", "checksum", sum_keys, MID_BUFS, NULL, NULL, 0, NULL, 0);
  *expect_sum = fnv_u64s(FNV_INIT, sums, MID_BUFS);
  /* A chain of poly tasks, with a slow task and (optionally) the failure hanging off it. */
  char prev[32] = "mid-k", key[32];
  int64_t v = 7;
  for (int i = 0; i < MID_POLY && !rc; i++) {
    snprintf(key, sizeof key, "('mid-poly', %d)", i);
    const char *d = prev;
    rc = add_task(g, key, "poly", &d, 1, NULL, "a", i, NULL, 0);
    v = poly_eval(i, &v, 1);
    memcpy(prev, key, sizeof key);
    if (i == MID_POLY / 2 && !rc) {
      const char *sd = key;
      rc = add_task(g, "mid-slow", "sleep", &sd, 1, NULL, "ms", 30, NULL, 0);
      const char *bd = "mid-slow";
      if (with_fail && !rc) {
        dagr_params_t *p;
        dagr_params_create(&p);
        dagr_params_set_string(p, "message", "mid-run failure");
        rc = dagr_graph_add(g, "mid-boom", "fail", p, &bd, 1, NULL);
        dagr_params_free(p);
      } else if (!rc) {
        rc = add_task(g, "mid-boom", "noop", &bd, 1, NULL, NULL, 0, NULL, 0);
      }
    }
  }
  const char *tail[2] = {prev, "mid-boom"};
  if (!rc) rc = add_task(g, "mid-end", "add", tail, 2, NULL, NULL, 0, NULL, 0);
  *expect_poly = v; /* mid-boom (noop) adds 0 */
  return rc;
}

static int case_fail_in_flight(dagr_ctx_t *ctx, char *why, size_t len) {
  const char *keys[2] = {"mid-sums", "mid-end"};
  for (int with_fail = 1; with_fail >= 0; with_fail--) {
    dagr_graph_t *g;
    uint64_t esum;
    int64_t epoly;
    if (dagr_graph_create(&g)) return WHY("graph_create");
    int rc = build_midrun(ctx, g, with_fail, &esum, &epoly);
    if (rc) return WHY("building the graph: %s", status_name(rc));
    dagr_result_t r[2];
    rc = dagr_get(ctx, g, keys, 2, r);
    dagr_graph_free(g);
    const char *msg = dagr_last_error(ctx);
    if (with_fail) {
      if (rc != DAGR_EKERNEL)
        return WHY("with a failing task: dagr_get returned %s (%d) vs expected DAGR_EKERNEL: %s",
                   status_name(rc), rc, msg);
      if (!strstr(msg, "'mid-boom'") || !strstr(msg, "mid-run failure"))
        return WHY("message '%s' vs expected one naming 'mid-boom' and 'mid-run failure'", msg);
      continue;
    }
    if (rc)
      return WHY("the same graph without the failure, after it: dagr_get returned %s (%d): %s",
                 status_name(rc), rc, msg);
    uint64_t got = 0;
    int64_t pv = 0;
    memcpy(&got, r[0].data, 8);
    dagr_result_int64(&r[1], &pv);
    dagr_result_release(&r[0]);
    dagr_result_release(&r[1]);
    if (got != esum)
      return WHY("after the failed run: checksums = 0x%016llx vs expected 0x%016llx",
                 (unsigned long long)got, (unsigned long long)esum);
    if (pv != epoly)
      return WHY("after the failed run: mid-end = %lld vs expected %lld", (long long)pv,
                 (long long)epoly);
    dagr_stats_t st;
    dagr_last_stats(ctx, &st);
    printf("# fail-in-flight rerun: %.3f s, pulled %llu bytes in %llu pulls\n", st.seconds,
           (unsigned long long)st.bytes_fetched, (unsigned long long)st.fetches);
  }
  return 0;
}

static int flaky_get(dagr_ctx_t *ctx, int id, int fails, int retries, int64_t value,
                     dagr_result_t *r, dagr_stats_t *st) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return DAGR_ENOMEM;
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.retries = retries;
  dagr_params_t *p;
  dagr_params_create(&p);
  dagr_params_set_int(p, "id", id);
  dagr_params_set_int(p, "fails", fails);
  dagr_params_set_int(p, "value", value);
  int rc = add_const(g, "flaky-in", 2);
  const char *in = "flaky-in", *fk = "flaky-key";
  if (!rc) rc = dagr_graph_add(g, fk, "flaky", p, &in, 1, &o);
  /* A consumer downstream of the retried task: it must see the eventual value. */
  const char *deps[2] = {fk, in};
  if (!rc) rc = add_task(g, "flaky-after", "add", deps, 2, NULL, NULL, 0, NULL, 0);
  dagr_params_free(p);
  if (rc) {
    dagr_graph_free(g);
    return rc;
  }
  const char *keys[1] = {"flaky-after"};
  rc = dagr_get(ctx, g, keys, 1, r);
  dagr_last_stats(ctx, st);
  dagr_graph_free(g);
  return rc;
}

static int case_fail_retry(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_result_t r;
  dagr_stats_t st;
  /* Fails twice, two retries: succeeds on the third attempt. */
  int rc = flaky_get(ctx, 1, 2, 2, 40, &r, &st);
  if (rc)
    return WHY("flaky (2 failures, retries=2) returned %s (%d) vs expected DAGR_OK: %s",
               status_name(rc), rc, dagr_last_error(ctx));
  int64_t v = 0;
  dagr_result_int64(&r, &v);
  dagr_result_release(&r);
  if (v != 42) return WHY("flaky-after = %lld vs expected 42", (long long)v);
  if (st.retries != 2)
    return WHY("stats.retries = %llu vs expected 2", (unsigned long long)st.retries);
  if (st.tasks != 5)
    return WHY("stats.tasks = %llu vs expected 5 (3 tasks, 2 retried attempts)",
               (unsigned long long)st.tasks);
  /* Fails twice, one retry: gives up after 2 attempts. */
  rc = flaky_get(ctx, 2, 2, 1, 40, &r, &st);
  const char *msg = dagr_last_error(ctx);
  if (rc != DAGR_EKERNEL)
    return WHY("flaky (2 failures, retries=1) returned %s (%d) vs expected DAGR_EKERNEL: %s",
               status_name(rc), rc, msg);
  if (!strstr(msg, "2 attempts") || !strstr(msg, "flaky-key") || !strstr(msg, "'flaky'") ||
      !strstr(msg, "attempt 2"))
    return WHY("message '%s' vs expected one naming 'flaky-key', kernel 'flaky', '2 attempts' "
               "and the kernel's own message (attempt 2)",
               msg);
  if (st.retries != 1)
    return WHY("stats.retries = %llu vs expected 1", (unsigned long long)st.retries);
  if (still_usable(ctx, "a kernel failure after retries", why, len)) return 1;
  /* A retried task whose input is a buffer pulled from another worker, and whose consumer also
   * reads that buffer: fill on the first worker, flaky and checksum on the last. */
  int pin = dagr_nranks(ctx) > 1;
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.worker = pin ? 1 : -1;
  const char *fb = "flaky-buf";
  rc = add_task(g, fb, "fill", NULL, 0, &o, "bytes", MIB, "seed", 17);
  o.worker = pin ? dagr_nranks(ctx) - 1 : -1;
  o.retries = 2;
  dagr_params_t *p;
  dagr_params_create(&p);
  dagr_params_set_int(p, "id", 3);
  dagr_params_set_int(p, "fails", 2);
  dagr_params_set_int(p, "value", 99);
  if (!rc) rc = dagr_graph_add(g, "flaky-remote", "flaky", p, &fb, 1, &o);
  dagr_params_free(p);
  o.retries = 0;
  const char *cd[2] = {fb, "flaky-remote"};
  if (!rc) rc = add_task(g, "flaky-remote-sum", "checksum", cd, 2, &o, NULL, 0, NULL, 0);
  if (rc) return WHY("building the remote-input graph: %s", status_name(rc));
  const char *keys[1] = {"flaky-remote-sum"};
  rc = dagr_get(ctx, g, keys, 1, &r);
  dagr_graph_free(g);
  if (rc)
    return WHY("flaky with a pulled input (2 failures, retries=2) returned %s (%d) vs expected "
               "DAGR_OK: %s",
               status_name(rc), rc, dagr_last_error(ctx));
  uint64_t got = 0, ninety_nine = 99;
  uint64_t expect = fnv_u64s(fnv_fill(FNV_INIT, MIB, 17), &ninety_nine, 1);
  memcpy(&got, r.data, 8);
  dagr_result_release(&r);
  if (got != expect)
    return WHY("flaky with a pulled input: checksum 0x%016llx vs expected 0x%016llx",
               (unsigned long long)got, (unsigned long long)expect);
  return 0;
}

/* Buffers at the inline bound (DAGR_INLINE_BYTES_DEFAULT) and around it, consumed on another
 * worker and gathered to rank 0: inline and store paths, and the empty buffer. */
static int case_buffer_sizes(dagr_ctx_t *ctx, char *why, size_t len) {
  static const int64_t sizes[] = {0,
                                  1,
                                  255,
                                  DAGR_INLINE_BYTES_DEFAULT - 1,
                                  DAGR_INLINE_BYTES_DEFAULT,
                                  DAGR_INLINE_BYTES_DEFAULT + 1,
                                  3 * MIB + 5};
  enum { NS = sizeof sizes / sizeof sizes[0] };
  int nw = dagr_nranks(ctx) > 1 ? dagr_nworkers(ctx) : 0;
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  char fk[NS][32], ck[NS][32];
  const char *keys[2 * NS];
  int rc = DAGR_OK;
  for (int i = 0; i < NS && !rc; i++) {
    dagr_task_opts_t o;
    dagr_task_opts_init(&o);
    snprintf(fk[i], sizeof fk[i], "('size-fill', %d)", i);
    snprintf(ck[i], sizeof ck[i], "('size-sum', %d)", i);
    o.worker = nw ? 1 + i % nw : -1;
    rc = add_task(g, fk[i], "fill", NULL, 0, &o, "bytes", sizes[i], "seed", 40 + i);
    o.worker = nw ? 1 + (i + 1) % nw : -1;
    const char *d = fk[i];
    if (!rc) rc = add_task(g, ck[i], "checksum", &d, 1, &o, NULL, 0, NULL, 0);
    keys[2 * i] = ck[i];
    keys[2 * i + 1] = fk[i];
  }
  if (rc) {
    dagr_graph_free(g);
    return WHY("building the graph: %s", status_name(rc));
  }
  dagr_result_t r[2 * NS];
  rc = dagr_get(ctx, g, keys, 2 * NS, r);
  dagr_graph_free(g);
  if (rc) return WHY("dagr_get returned %s (%d): %s", status_name(rc), rc, dagr_last_error(ctx));
  int bad = 0;
  for (int i = 0; i < NS && !bad; i++) {
    uint64_t got = 0, expect = fnv_fill(FNV_INIT, sizes[i], 40 + i);
    const dagr_result_t *c = &r[2 * i], *b = &r[2 * i + 1];
    if (c->dtype != DAGR_DTYPE_UINT64 || c->nbytes != 8)
      bad = WHY("checksum of the %lld-byte buffer: dtype %s, %zu bytes vs expected uint64",
                (long long)sizes[i], dagr_dtype_name(c->dtype), c->nbytes);
    else
      memcpy(&got, c->data, 8);
    if (!bad && got != expect)
      bad = WHY("checksum of the %lld-byte buffer (made on one worker, read on another) = "
                "0x%016llx vs expected 0x%016llx",
                (long long)sizes[i], (unsigned long long)got, (unsigned long long)expect);
    if (!bad && (b->nbytes != (size_t)sizes[i] || b->ndim != 1 || b->shape[0] != sizes[i] ||
                 b->dtype != DAGR_DTYPE_UINT8))
      bad = WHY("the %lld-byte buffer came back as %zu bytes, ndim %d, shape[0] %lld, dtype %s",
                (long long)sizes[i], b->nbytes, b->ndim, (long long)b->shape[0],
                dagr_dtype_name(b->dtype));
    if (!bad && fnv_fill(FNV_INIT, sizes[i], 40 + i) != fnv_u8(b->data, b->nbytes))
      bad = WHY("the %lld-byte buffer gathered to rank 0 differs from the fill pattern",
                (long long)sizes[i]);
  }
  for (int i = 0; i < 2 * NS; i++) dagr_result_release(&r[i]);
  return bad;
}

/* Runs one invalid get: expects status `want`, a message containing n1 and n2 (if not NULL),
 * no task run, and a usable context afterwards. */
static int expect_invalid(dagr_ctx_t *ctx, dagr_graph_t *g, const char *what, const char *key,
                          int want, const char *n1, const char *n2, char *why, size_t len) {
  const char *keys[2] = {"valid-x", key};
  dagr_result_t r[2];
  memset(r, 0x5a, sizeof r);
  int rc = dagr_get(ctx, g, keys, 2, r);
  const char *msg = dagr_last_error(ctx);
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  if (rc != want)
    return WHY("%s: dagr_get returned %s (%d) vs expected %s (%d); message: %s", what,
               status_name(rc), rc, status_name(want), want, msg);
  if ((n1 && !strstr(msg, n1)) || (n2 && !strstr(msg, n2)))
    return WHY("%s: message '%s' vs expected one naming %s%s%s", what, msg, n1, n2 ? " and " : "",
               n2 ? n2 : "");
  if (st.tasks != 0 || st.messages_sent != 0)
    return WHY("%s: %llu tasks ran, %llu messages sent vs expected none", what,
               (unsigned long long)st.tasks, (unsigned long long)st.messages_sent);
  if (r[0].data || r[1].data) return WHY("%s: results hold data vs expected none", what);
  return still_usable(ctx, what, why, len);
}

/* A graph with a valid part ('valid-x' and its inputs) that every invalid graph shares. */
static dagr_graph_t *valid_base(void) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return NULL;
  const char *in = "valid-in";
  if (add_const(g, in, 4) || add_task(g, "valid-x", "add", &in, 1, NULL, NULL, 0, NULL, 0)) {
    dagr_graph_free(g);
    return NULL;
  }
  return g;
}

static int case_validation(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  int bad;
  /* Missing dependency. */
  if (!(g = valid_base())) return WHY("building the graph");
  const char *md[2] = {"valid-in", "missing-dep-key"};
  add_task(g, "needs-missing", "add", md, 2, NULL, NULL, 0, NULL, 0);
  bad = expect_invalid(ctx, g, "missing dependency", "needs-missing", DAGR_EMISSING,
                       "'needs-missing'", "'missing-dep-key'", why, len);
  dagr_graph_free(g);
  if (bad) return 1;
  /* Cycle among tasks the request does not need: the whole graph is checked. */
  if (!(g = valid_base())) return WHY("building the graph");
  const char *ca = "cycle-a", *cb = "cycle-b", *cc = "cycle-c";
  add_task(g, ca, "add", &cb, 1, NULL, NULL, 0, NULL, 0);
  add_task(g, cb, "add", &cc, 1, NULL, NULL, 0, NULL, 0);
  add_task(g, cc, "add", &ca, 1, NULL, NULL, 0, NULL, 0);
  bad = expect_invalid(ctx, g, "cycle (not requested)", "valid-in", DAGR_ECYCLE, "'cycle-a'",
                       "'cycle-b'", why, len);
  if (!bad)
    bad = expect_invalid(ctx, g, "cycle (requested)", "cycle-c", DAGR_ECYCLE, "'cycle-c'",
                         "'cycle-a'", why, len);
  dagr_graph_free(g);
  if (bad) return 1;
  /* Self-dependency. */
  if (!(g = valid_base())) return WHY("building the graph");
  const char *self = "self-loop";
  add_task(g, self, "add", &self, 1, NULL, NULL, 0, NULL, 0);
  bad = expect_invalid(ctx, g, "self cycle", self, DAGR_ECYCLE, "'self-loop'", NULL, why, len);
  dagr_graph_free(g);
  if (bad) return 1;
  /* Duplicate key: refused by dagr_graph_add, then by dagr_get. */
  if (!(g = valid_base())) return WHY("building the graph");
  int rc = add_const(g, "dup-key", 1);
  int rc2 = add_const(g, "dup-key", 2);
  if (rc != DAGR_OK || rc2 != DAGR_EDUPKEY) {
    dagr_graph_free(g);
    return WHY("duplicate key: dagr_graph_add returned %s then %s vs expected DAGR_OK then "
               "DAGR_EDUPKEY",
               status_name(rc), status_name(rc2));
  }
  if (!strstr(dagr_graph_error(g), "'dup-key'")) {
    bad = WHY("duplicate key: dagr_graph_error '%s' vs expected one naming 'dup-key'",
              dagr_graph_error(g));
    dagr_graph_free(g);
    return bad;
  }
  bad = expect_invalid(ctx, g, "duplicate key", "valid-in", DAGR_EDUPKEY, "'dup-key'", NULL, why,
                       len);
  dagr_graph_free(g);
  if (bad) return 1;
  /* Unknown kernel. */
  if (!(g = valid_base())) return WHY("building the graph");
  add_task(g, "unknown-kernel-task", "no_such_kernel_xyz", NULL, 0, NULL, NULL, 0, NULL, 0);
  bad = expect_invalid(ctx, g, "unknown kernel", "valid-in", DAGR_EUNKNOWN_KERNEL,
                       "'unknown-kernel-task'", "'no_such_kernel_xyz'", why, len);
  dagr_graph_free(g);
  if (bad) return 1;
  /* A requested key that no task defines. */
  if (!(g = valid_base())) return WHY("building the graph");
  bad = expect_invalid(ctx, g, "requested key not in graph", "not-in-graph-key", DAGR_ENOKEY,
                       "'not-in-graph-key'", NULL, why, len);
  dagr_graph_free(g);
  return bad;
}

#define REL_BUFS   200
#define REL_GROUP  10
#define REL_ROUNDS 2

static int case_release(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  char(*level)[40] = malloc(REL_BUFS * sizeof *level);
  uint64_t *val = malloc(REL_BUFS * sizeof *val);
  if (!level || !val) return WHY("out of memory");
  int rc = DAGR_OK;
  for (int i = 0; i < REL_BUFS && !rc; i++) {
    char fk[40];
    snprintf(fk, sizeof fk, "('rel-fill', %d)", i);
    rc = add_task(g, fk, "fill", NULL, 0, NULL, "bytes", MIB, "seed", i);
    snprintf(level[i], sizeof level[i], "('rel-sum', %d)", i);
    const char *d = fk;
    if (!rc) rc = add_task(g, level[i], "checksum", &d, 1, NULL, NULL, 0, NULL, 0);
    val[i] = fnv_fill(FNV_INIT, MIB, i);
  }
  int count = REL_BUFS, depth = 0;
  while (count > 1 && !rc) {
    int next = 0;
    for (int j = 0; j < count && !rc; j += REL_GROUP) {
      int m = count - j < REL_GROUP ? count - j : REL_GROUP;
      const char *deps[REL_GROUP];
      for (int q = 0; q < m; q++) deps[q] = level[j + q];
      char key[40];
      snprintf(key, sizeof key, "('rel-tree', %d, %d)", depth, j / REL_GROUP);
      rc = add_task(g, key, "checksum", deps, (size_t)m, NULL, NULL, 0, NULL, 0);
      val[next] = fnv_u64s(FNV_INIT, val + j, (size_t)m);
      snprintf(level[next++], sizeof level[0], "%s", key);
    }
    count = next;
    depth++;
  }
  int bad = 0;
  if (rc) bad = WHY("building the graph: %s", status_name(rc));
  for (int round = 0; round < REL_ROUNDS && !bad; round++) {
    const char *keys[1] = {level[0]};
    dagr_result_t r;
    rc = dagr_get(ctx, g, keys, 1, &r);
    if (rc) {
      bad = WHY("round %d: dagr_get returned %s: %s", round, status_name(rc), dagr_last_error(ctx));
      break;
    }
    uint64_t got = 0;
    if (r.dtype != DAGR_DTYPE_UINT64 || r.nbytes != 8)
      bad = WHY("round %d: result dtype %s vs expected uint64", round, dagr_dtype_name(r.dtype));
    else
      memcpy(&got, r.data, 8);
    dagr_result_release(&r);
    if (!bad && got != val[0])
      bad = WHY("round %d: checksum tree = 0x%016llx vs expected 0x%016llx", round,
                (unsigned long long)got, (unsigned long long)val[0]);
    dagr_stats_t st;
    dagr_last_stats(ctx, &st);
    printf("# release round %d: %zu tasks, %d MiB made, %.3f s, pulled %llu bytes\n", round,
           dagr_graph_size(g), REL_BUFS, st.seconds, (unsigned long long)st.bytes_fetched);
  }
  free(level);
  free(val);
  dagr_graph_free(g);
  if (bad) return 1;
  return still_usable(ctx, "the release graph", why, len);
}

#define MANY_TASKS 2000
#define MANY_KEYS  400

static int case_many_keys(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  rdag d = {0};
  if (dagr_graph_create(&g)) return WHY("graph_create");
  int rc = rdag_build(g, &d, "many", 77, MANY_TASKS, 0);
  /* Buffers from bigsum: one small enough to travel inline, one kept in a worker store. */
  static const int64_t bs_n[2] = {100, 300000};
  static const char *const bs_key[2] = {"bigsum-small", "bigsum-big"};
  const char *bdeps[2] = {d.key[10], d.key[MANY_TASKS - 1]};
  uint64_t bsum = (uint64_t)d.val[10] + (uint64_t)d.val[MANY_TASKS - 1];
  for (int b = 0; b < 2 && !rc; b++)
    rc = add_task(g, bs_key[b], "bigsum", bdeps, 2, NULL, "n", bs_n[b], NULL, 0);
  if (rc) {
    rdag_free(&d);
    dagr_graph_free(g);
    return WHY("building the graph: %s", status_name(rc));
  }
  /* Key list: random tasks (with repeats), every third slot a repeated fixed key, buffers
   * several times each. Index -1/-2 stand for the two buffers. */
  int idx[MANY_KEYS];
  rng r;
  rng_seed(&r, 4242);
  for (int i = 0; i < MANY_KEYS; i++) {
    if (i % 50 == 7)
      idx[i] = -1;
    else if (i % 50 == 19)
      idx[i] = -2;
    else if (i % 3 == 0)
      idx[i] = MANY_TASKS / 2;
    else
      idx[i] = (int)rng_below(&r, MANY_TASKS);
  }
  const char *keys[MANY_KEYS];
  for (int i = 0; i < MANY_KEYS; i++) keys[i] = idx[i] >= 0 ? d.key[idx[i]] : bs_key[-idx[i] - 1];
  dagr_result_t *res = calloc(MANY_KEYS, sizeof *res);
  if (!res) return WHY("out of memory");
  rc = dagr_get(ctx, g, keys, MANY_KEYS, res);
  int bad = 0;
  if (rc) bad = WHY("dagr_get returned %s: %s", status_name(rc), dagr_last_error(ctx));
  for (int i = 0; i < MANY_KEYS && !bad; i++) {
    if (idx[i] >= 0) {
      int64_t v = 0;
      if (dagr_result_int64(&res[i], &v) || res[i].dtype != DAGR_DTYPE_INT64)
        bad = WHY("result %d ('%s') is not an int64 scalar", i, keys[i]);
      else if (v != d.val[idx[i]])
        bad = WHY("result %d ('%s') = %lld vs expected %lld", i, keys[i], (long long)v,
                  (long long)d.val[idx[i]]);
      continue;
    }
    int b = -idx[i] - 1;
    if (res[i].dtype != DAGR_DTYPE_INT64 || res[i].ndim != 1 || res[i].shape[0] != bs_n[b] ||
        res[i].nbytes != (size_t)bs_n[b] * 8) {
      bad = WHY("result %d ('%s'): dtype %s, ndim %d, shape[0] %lld, %zu bytes vs expected "
                "int64[%lld]",
                i, keys[i], dagr_dtype_name(res[i].dtype), res[i].ndim, (long long)res[i].shape[0],
                res[i].nbytes, (long long)bs_n[b]);
      break;
    }
    const int64_t *p = res[i].data;
    for (int64_t j = 0; j < bs_n[b] && !bad; j++)
      if (p[j] != (int64_t)(bsum + (uint64_t)j))
        bad = WHY("result %d ('%s') element %lld = %lld vs expected %lld", i, keys[i], (long long)j,
                  (long long)p[j], (long long)(int64_t)(bsum + (uint64_t)j));
  }
  /* Each slot owns its data, duplicates included: releasing them one by one must be safe. */
  for (int i = 0; i < MANY_KEYS && !rc; i++)
    for (int j = i + 1; j < MANY_KEYS && !bad; j++)
      if (idx[i] == idx[j] && res[i].data == res[j].data) {
        bad = WHY("results %d and %d share one data pointer", i, j);
        break;
      }
  for (int i = 0; i < MANY_KEYS; i++) dagr_result_release(&res[i]);
  free(res);
  rdag_free(&d);
  dagr_graph_free(g);
  return bad;
}

#define PRIO_TASKS 5000

static int case_priorities(dagr_ctx_t *ctx, char *why, size_t len) {
  dagr_graph_t *g;
  if (dagr_graph_create(&g)) return WHY("graph_create");
  int rc = build_diamond(g, "prio-", 1);
  if (rc) return WHY("building the diamond: %s", status_name(rc));
  int64_t v = 0;
  if (get_int64(ctx, g, "prio-d", &v, why, len)) return 1;
  dagr_graph_free(g);
  if (v != 15) return WHY("prioritized diamond = %lld vs expected 15", (long long)v);
  if (dagr_graph_create(&g)) return WHY("graph_create");
  rdag d = {0};
  rc = rdag_build(g, &d, "prio", 31337, PRIO_TASKS, 1);
  if (rc) return WHY("building the random graph: %s", status_name(rc));
  int idx[RAND_KEYS + 1];
  rng r;
  rng_seed(&r, 99);
  for (int i = 0; i < RAND_KEYS; i++) idx[i] = (int)rng_below(&r, PRIO_TASKS);
  idx[RAND_KEYS] = PRIO_TASKS - 1;
  int bad = rdag_check(ctx, g, &d, idx, RAND_KEYS + 1, why, len);
  rdag_free(&d);
  dagr_graph_free(g);
  return bad;
}

static int case_forced_failure(dagr_ctx_t *ctx, char *why, size_t len) {
  (void)ctx;
  return WHY("deliberate failure requested by DAGR_TEST_FORCE_FAIL=1 (1 vs expected 0)");
}

/* ---------------------------------------------------------------------------------------------
 * main: every rank.
 * ------------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  int rc = dagr_init(&argc, &argv, NULL, &ctx);
  if (rc) {
    printf("FAIL init: dagr_init returned %s (%d): %s\n", status_name(rc), rc,
           dagr_last_error(NULL));
    printf("0 passed, 1 failed\n");
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx), rank = dagr_rank(ctx);
    /* Said before dagr_finalize, while the driver still waits for this rank in it, so the line
     * is out before the driver's exit makes mpirun stop the job. */
    if (st) fprintf(stderr, "core_mpi: worker rank %d exits with status %d\n", rank, st);
    rc = dagr_finalize(ctx);
    if (rc)
      fprintf(stderr, "core_mpi: worker rank %d: dagr_finalize failed: %s\n", rank,
              dagr_strerror(rc));
    return rc ? 1 : st;
  }
  const char *t = getenv("DAGR_TEST_CASE_TIMEOUT");
  if (t && atoi(t) > 0) g_case_timeout = (unsigned)atoi(t);
  signal(SIGALRM, on_alarm);
  int skip_1g = getenv("DAGR_TEST_SKIP_1G") && !strcmp(getenv("DAGR_TEST_SKIP_1G"), "1");
  printf("# core_mpi: %d rank(s), %d worker pool(s)%s\n", dagr_nranks(ctx), dagr_nworkers(ctx),
         skip_1g ? ", 1 GiB case skipped (DAGR_TEST_SKIP_1G=1)" : "");
  fflush(stdout);
  double t0 = now();

  run_case(ctx, "diamond", case_diamond);
  run_case(ctx, "fan-out-fan-in", case_fan);
  run_case(ctx, "chain", case_chain);
  run_case(ctx, "random-dags", case_random);
  run_case(ctx, "big-64M", case_big_64m);
  if (!skip_1g) run_case(ctx, "big-1G", case_big_1g);
  run_case(ctx, "big-64M-result", case_big_64m_result);
  run_case(ctx, "fail-no-retry", case_fail_no_retry);
  run_case(ctx, "fail-retry", case_fail_retry);
  run_case(ctx, "fail-in-flight", case_fail_in_flight);
  run_case(ctx, "validation", case_validation);
  run_case(ctx, "intermediate-release", case_release);
  run_case(ctx, "many-keys", case_many_keys);
  run_case(ctx, "buffer-sizes", case_buffer_sizes);
  run_case(ctx, "priorities", case_priorities);
  const char *force = getenv("DAGR_TEST_FORCE_FAIL");
  if (force && !strcmp(force, "1")) run_case(ctx, "forced-failure", case_forced_failure);

  printf("# total: %.3f s\n", now() - t0);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  fflush(stdout);
  int status = g_failed ? 1 : 0;
  dagr_set_exit_status(ctx, status);
  rc = dagr_finalize(ctx);
  if (rc) fprintf(stderr, "core_mpi: dagr_finalize failed: %s\n", dagr_strerror(rc));
  return status ? status : (rc ? 1 : 0);
}
