/* observe_mpi.c: observability seen from a program, for observe.sh: driver and worker callbacks,
 * the run summary and the Chrome trace of a known graph.
 *
 * Usage: observe_mpi MODE DIR [TRACE]   (alone or under mpirun; DIR: a directory the test owns)
 *   callbacks  worker callbacks (registered before dagr_init on every rank) append their pretask
 *              and posttask calls to DIR/wcb.RANK (RANK from OMPI_COMM_WORLD_RANK, 0 alone);
 *              driver callbacks record every call on rank 0, which checks them for three runs:
 *              the known graph, a small graph after a dagr_callbacks_remove, and a graph whose
 *              task fails twice (retries 1). Calls back into dagr from inside the callbacks must
 *              fail with DAGR_ESTATE. Rank 0 writes DIR/expect_wcb.txt (what the worker files must
 *              hold: key prefix, kernel, output bytes, least seconds, attempts, pinned rank),
 *              DIR/driver.txt (the rank each key ran on, from the driver's posttask) and
 *              DIR/threads.txt (executor threads per worker rank) for observe.sh to compare.
 *   info       dagr_info_print from inside a driver callback: refused, the run completes.
 *   summary    dagr_last_summary and dagr_summary_print: refused before any dagr_get; after a
 *              run with a chain of three 40 ms sleeps, consistent sums, sorted kernels, busy
 *              fractions in [0, 1], the critical path; a second run replaces it.
 *   trace      dagr_set_trace(TRACE) (unless TRACE is "-": then DAGR_TRACE decides), two
 *              dagr_get calls (the known graph, then a small one); rank 0 writes DIR/tasks.txt
 *              (run, key, kernel, input bytes, output bytes, pinned rank, sleep ms per task) and
 *              DIR/facts.txt for observe.sh, which parses the trace.
 * Every mode prints "ok NAME" / "FAIL NAME: why", then "N passed, N failed", and exits 0 only
 * when every check passed.
 *
 * The known graph (267 tasks, 7 kernels): 96 consts, 95 adds of neighbouring consts, 16 fills of
 * 16 KiB to 256 KiB each read by a checksum together with the next fill, 40 sleeps of 2 to 6 ms,
 * a 1 MiB fill made on worker 1 and checksummed on worker 2, a noop with a 300-byte key, and a
 * checksum of all the scalars. Under MPI some tasks are pinned (opts.worker) so that data moves
 * between workers when there are two or more.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagr.h"

static int passed, failed;
static const char *dir = ".";

static void check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(int ok, const char *name, const char *fmt, ...) {
  if (ok) {
    printf("ok %s\n", name);
    passed++;
  } else {
    char why[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    printf("FAIL %s: %s\n", name, why);
    failed++;
  }
  fflush(stdout);
}

/* FNV-1a 64 over the `fill` kernel's bytes (docs/graph-format.md). */
static uint64_t fill_hash(int64_t bytes, int64_t seed) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int64_t i = 0; i < bytes; i++) {
    h ^= (uint64_t)((i * 131 + seed * 7) & 0xff);
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ---------------------------------------------------------------------------------------------
 * Graphs with what is known about each task.
 * ------------------------------------------------------------------------------------------- */
typedef struct spec {
  char *key;
  const char *kernel;
  uint64_t in_bytes, out_bytes;
  int ms;       /* sleep: milliseconds */
  int worker;   /* pinned worker rank, -1 when free */
  int attempts; /* expected runs of its kernel (a failing task with retries: 1 + retries) */
  int run;      /* the dagr_get (0-based) it belongs to */
  int fails;    /* its kernel always fails */
} spec;

typedef struct gb {
  dagr_graph_t *g;
  spec *t;
  size_t n, cap;
  int run;
} gb;

static spec *find(const gb *b, const char *key) {
  for (size_t i = 0; i < b->n; i++)
    if (!strcmp(b->t[i].key, key)) return &b->t[i];
  return NULL;
}

static void gb_init(gb *b, int run) {
  memset(b, 0, sizeof *b);
  b->run = run;
  if (dagr_graph_create(&b->g)) {
    fprintf(stderr, "observe_mpi: dagr_graph_create failed\n");
    exit(1);
  }
}

static void gb_free(gb *b) {
  for (size_t i = 0; i < b->n; i++) free(b->t[i].key);
  free(b->t);
  dagr_graph_free(b->g);
  memset(b, 0, sizeof *b);
}

/* Adds a task; its input bytes are the sum of its dependencies' output bytes. */
static void add(gb *b, const char *key, const char *kernel, dagr_params_t *p, const char **deps,
                size_t ndeps, int worker, uint64_t out_bytes, int ms, int retries) {
  dagr_task_opts_t o;
  dagr_task_opts_init(&o);
  o.worker = worker;
  o.retries = retries;
  int rc = dagr_graph_add(b->g, key, kernel, p, deps, ndeps, &o);
  if (rc) {
    fprintf(stderr, "observe_mpi: adding %s: %s\n", key, dagr_strerror(rc));
    exit(1);
  }
  if (p) dagr_params_free(p);
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 256;
    b->t = realloc(b->t, b->cap * sizeof *b->t);
    if (!b->t) exit(1);
  }
  spec *s = &b->t[b->n];
  memset(s, 0, sizeof *s);
  s->key = strdup(key);
  s->kernel = kernel;
  s->out_bytes = out_bytes;
  s->ms = ms;
  s->worker = worker;
  s->attempts = 1 + retries;
  s->run = b->run;
  s->fails = !strcmp(kernel, "fail");
  for (size_t i = 0; i < ndeps; i++) {
    spec *d = find(b, deps[i]);
    if (d) s->in_bytes += d->out_bytes;
  }
  b->n++;
}

static dagr_params_t *params_int(const char *n1, int64_t v1, const char *n2, int64_t v2) {
  dagr_params_t *p;
  if (dagr_params_create(&p)) exit(1);
  if (n1) dagr_params_set_int(p, n1, v1);
  if (n2) dagr_params_set_int(p, n2, v2);
  return p;
}

#define N_CONST  96
#define N_ADD    95
#define N_FILL   16
#define N_SLEEP  40
#define BIG      (1 << 20)
#define LONG_KEY 300

/* The worker rank for "the i-th of the workers" under MPI; -1 (free) in a single process. */
static int pin(int mpi, int nw, int i) {
  return mpi ? 1 + i % nw : -1;
}

/* The known graph. Outputs: "all", "big-ck", "('add', 5)". */
static void build_main(gb *b, int mpi, int nw) {
  char key[64], d0[64], d1[64];
  for (int i = 0; i < N_CONST; i++) {
    snprintf(key, sizeof key, "('c', %d)", i);
    add(b, key, "const", params_int("value", i, NULL, 0), NULL, 0, -1, 8, 0, 0);
  }
  for (int i = 0; i < N_ADD; i++) {
    snprintf(key, sizeof key, "('add', %d)", i);
    snprintf(d0, sizeof d0, "('c', %d)", i);
    snprintf(d1, sizeof d1, "('c', %d)", i + 1);
    const char *d[2] = {d0, d1};
    add(b, key, "add", NULL, d, 2, i % 7 == 0 ? pin(mpi, nw, i) : -1, 8, 0, 0);
  }
  for (int j = 0; j < N_FILL; j++) {
    snprintf(key, sizeof key, "('fill', %d)", j);
    add(b, key, "fill", params_int("bytes", 16384 * (j + 1), "seed", j), NULL, 0, pin(mpi, nw, j),
        (uint64_t)16384 * (uint64_t)(j + 1), 0, 0);
  }
  for (int j = 0; j < N_FILL; j++) {
    snprintf(key, sizeof key, "('ck', %d)", j);
    snprintf(d0, sizeof d0, "('fill', %d)", j);
    snprintf(d1, sizeof d1, "('fill', %d)", (j + 1) % N_FILL);
    const char *d[2] = {d0, d1};
    add(b, key, "checksum", NULL, d, 2, pin(mpi, nw, j + 1), 8, 0, 0);
  }
  for (int i = 0; i < N_SLEEP; i++) {
    snprintf(key, sizeof key, "sleep-%d", i);
    snprintf(d0, sizeof d0, "('add', %d)", i);
    const char *d[1] = {d0};
    add(b, key, "sleep", params_int("ms", 2 + i % 5, NULL, 0), d, 1, -1, 8, 2 + i % 5, 0);
  }
  add(b, "big", "fill", params_int("bytes", BIG, "seed", 5), NULL, 0, mpi ? 1 : -1, BIG, 0, 0);
  const char *bd[1] = {"big"};
  add(b, "big-ck", "checksum", NULL, bd, 1, mpi ? (nw >= 2 ? 2 : 1) : -1, 8, 0, 0);
  char longkey[LONG_KEY + 1];
  memset(longkey, 'k', LONG_KEY);
  memcpy(longkey, "long-", 5);
  longkey[LONG_KEY] = '\0';
  const char *c0[1] = {"('c', 0)"};
  add(b, longkey, "noop", NULL, c0, 1, -1, 8, 0, 0);
  /* The sink: every scalar but the consts. */
  size_t nd = 0;
  const char **deps = calloc(b->n, sizeof *deps);
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->t[i].kernel, "const") && strcmp(b->t[i].kernel, "fill")) deps[nd++] = b->t[i].key;
  add(b, "all", "checksum", NULL, deps, nd, -1, 8, 0, 0);
  free(deps);
}

static int run_main(dagr_ctx_t *ctx, gb *b, const char *what) {
  const char *keys[3] = {"all", "big-ck", "('add', 5)"};
  dagr_result_t r[3];
  int rc = dagr_get(ctx, b->g, keys, 3, r);
  char name[160];
  snprintf(name, sizeof name, "%s: the known graph runs", what);
  check(rc == DAGR_OK, name, "%s: %s", dagr_strerror(rc), dagr_last_error(ctx));
  if (rc) return rc;
  int64_t sum = -1;
  uint64_t ck = 0;
  dagr_result_int64(&r[2], &sum);
  if (r[1].nbytes == 8) memcpy(&ck, r[1].data, 8);
  uint64_t want = fill_hash(BIG, 5);
  snprintf(name, sizeof name, "%s: its results are right", what);
  check(sum == 11 && ck == want && r[0].nbytes == 8, name,
        "('add', 5) = %lld (11), big-ck = 0x%016llx (0x%016llx), all: %zu bytes", (long long)sum,
        (unsigned long long)ck, (unsigned long long)want, r[0].nbytes);
  for (int i = 0; i < 3; i++) dagr_result_release(&r[i]);
  return rc;
}

/* A small graph for a later run: five consts, their sum and a 30 ms sleep after it. */
static void build_small(gb *b, const char *prefix) {
  char key[64];
  const char *d[5];
  char dk[5][64];
  for (int i = 0; i < 5; i++) {
    snprintf(dk[i], sizeof dk[i], "%s-c%d", prefix, i);
    add(b, dk[i], "const", params_int("value", 10 * i, NULL, 0), NULL, 0, -1, 8, 0, 0);
    d[i] = dk[i];
  }
  snprintf(key, sizeof key, "%s-sum", prefix);
  add(b, key, "add", NULL, d, 5, -1, 8, 0, 0);
  char sk[64];
  snprintf(sk, sizeof sk, "%s-sleep", prefix);
  const char *s[1] = {key};
  add(b, sk, "sleep", params_int("ms", 30, NULL, 0), s, 1, -1, 8, 30, 0);
}

static int run_small(dagr_ctx_t *ctx, gb *b, const char *prefix, const char *what) {
  char k0[64], k1[64];
  snprintf(k0, sizeof k0, "%s-sum", prefix);
  snprintf(k1, sizeof k1, "%s-sleep", prefix);
  const char *keys[2] = {k0, k1};
  dagr_result_t r[2];
  int rc = dagr_get(ctx, b->g, keys, 2, r);
  int64_t v = -1;
  if (rc == DAGR_OK) {
    dagr_result_int64(&r[0], &v);
    dagr_result_release(&r[0]);
    dagr_result_release(&r[1]);
  }
  char name[160];
  snprintf(name, sizeof name, "%s: the small graph runs", what);
  check(rc == DAGR_OK && v == 100, name, "%s (%s), sum %lld (100)", dagr_strerror(rc),
        dagr_last_error(ctx), (long long)v);
  return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Worker callbacks: every rank appends to DIR/wcb.RANK (tab-separated, flushed per line).
 * ------------------------------------------------------------------------------------------- */
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static FILE *wfile;
static int env_rank;

static void wlog(const char *what, const dagr_task_info_t *t) {
  pthread_mutex_lock(&wmu);
  if (!wfile) {
    char path[4200];
    snprintf(path, sizeof path, "%s/wcb.%d", dir, env_rank);
    wfile = fopen(path, "a");
  }
  if (wfile) {
    size_t len = t->key ? strlen(t->key) : 0;
    fprintf(wfile, "%s\t%s\t%s\t%d\t%d\t%.9f\t%llu\t%d\t%zu\n", what, t->key ? t->key : "(null)",
            t->kernel ? t->kernel : "(null)", t->rank, t->thread, t->seconds,
            (unsigned long long)t->nbytes, t->status, len);
    fflush(wfile);
  }
  pthread_mutex_unlock(&wmu);
}

static void w_pre(const dagr_task_info_t *t, void *arg) {
  (void)arg;
  wlog("pre", t);
}
static void w_post(const dagr_task_info_t *t, void *arg) {
  (void)arg;
  wlog("post", t);
}

/* start/finish of a worker-callback registration: on rank 0 only. */
typedef struct wrun {
  int starts, finishes;
  int bad_rank; /* called on a rank other than 0 */
} wrun;
static wrun wr;
static void w_start(const dagr_run_info_t *r, void *arg) {
  (void)r;
  wrun *w = arg;
  w->starts++;
  if (env_rank != 0) w->bad_rank++;
}
static void w_finish(const dagr_run_info_t *r, void *arg) {
  (void)r;
  wrun *w = arg;
  w->finishes++;
  if (env_rank != 0) w->bad_rank++;
}

/* ---------------------------------------------------------------------------------------------
 * Driver callbacks: a recorder that keeps every call and probes calls back into dagr.
 * ------------------------------------------------------------------------------------------- */
enum { EV_START, EV_PRE, EV_POST, EV_FINISH };

typedef struct event {
  int type;
  char *key, *kernel;
  int rank, thread, status;
  double seconds;
  uint64_t nbytes, ntasks;
  int nworkers;
} event;

typedef struct recorder {
  dagr_ctx_t *ctx;
  event *ev;
  size_t n, cap;
  int probe;                 /* call back into dagr from the callbacks */
  const char *probe_key;     /* ... in this key's pretask and posttask too */
  dagr_graph_t *probe_graph; /* for the nested dagr_get */
  int probes, probe_bad;     /* calls made, calls not refused with DAGR_ESTATE */
  char probe_why[512];
  int id_b;               /* a registration to try to remove from inside */
  int bad_query;          /* dagr_rank/dagr_nworkers/dagr_last_error misbehaved inside */
  const char *others_key; /* probe_others in this key's pretask */
  int others, others_bad; /* the other status-returning calls (probe_others) */
  char others_why[512];
} recorder;

static void probe_one(recorder *r, const char *call, int rc) {
  r->probes++;
  if (rc != DAGR_ESTATE) {
    if (!r->probe_bad)
      snprintf(r->probe_why, sizeof r->probe_why, "%s returned %s", call, dagr_strerror(rc));
    r->probe_bad++;
  }
}

/* What the header promises from inside a driver callback: the status-returning dagr_* calls on
 * ctx are refused with DAGR_ESTATE; dagr_rank, dagr_nworkers and dagr_last_error work. */
static void probe(recorder *r) {
  dagr_ctx_t *ctx = r->ctx;
  if (dagr_rank(ctx) != 0 || dagr_nworkers(ctx) < 1 || dagr_last_error(ctx) == NULL) r->bad_query++;
  const char *k[1] = {"probe"};
  dagr_result_t res;
  probe_one(r, "dagr_get", dagr_get(ctx, r->probe_graph, k, 1, &res));
  probe_one(r, "dagr_finalize", dagr_finalize(ctx));
  dagr_callbacks_t cb = {0};
  probe_one(r, "dagr_callbacks_add", dagr_callbacks_add(ctx, &cb, NULL));
  probe_one(r, "dagr_callbacks_remove", dagr_callbacks_remove(ctx, r->id_b));
  char path[4200];
  snprintf(path, sizeof path, "%s/probe-trace.json", dir);
  probe_one(r, "dagr_set_trace", dagr_set_trace(ctx, path));
}

/* The other status-returning dagr_* calls on ctx, which dagr.h also says fail with DAGR_ESTATE
 * inside a driver callback. */
static void other_one(recorder *r, const char *call, int rc) {
  r->others++;
  if (rc != DAGR_ESTATE) {
    size_t l = strlen(r->others_why);
    snprintf(r->others_why + l, sizeof r->others_why - l, "%s%s: %s", l ? ", " : "", call,
             dagr_strerror(rc));
    r->others_bad++;
  }
}

static void probe_others(recorder *r) {
  dagr_ctx_t *ctx = r->ctx;
  dagr_stats_t st;
  dagr_summary_t sm;
  char path[4200];
  snprintf(path, sizeof path, "%s/probe-report.html", dir);
  FILE *devnull = fopen("/dev/null", "w");
  other_one(r, "dagr_last_stats", dagr_last_stats(ctx, &st));
  other_one(r, "dagr_last_summary", dagr_last_summary(ctx, &sm));
  other_one(r, "dagr_summary_print", devnull ? dagr_summary_print(ctx, devnull) : DAGR_ESTATE);
  other_one(r, "dagr_set_report", dagr_set_report(ctx, path));
  other_one(r, "dagr_set_numa_placement", dagr_set_numa_placement(ctx, 1));
  other_one(r, "dagr_set_exit_status", dagr_set_exit_status(ctx, 0));
  if (devnull) fclose(devnull);
}

static void rec(recorder *r, int type, const dagr_task_info_t *t, const dagr_run_info_t *ri) {
  if (r->n == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 1024;
    r->ev = realloc(r->ev, r->cap * sizeof *r->ev);
    if (!r->ev) exit(1);
  }
  event *e = &r->ev[r->n++];
  memset(e, 0, sizeof *e);
  e->type = type;
  if (t) {
    e->key = strdup(t->key ? t->key : "(null)");
    e->kernel = strdup(t->kernel ? t->kernel : "(null)");
    e->rank = t->rank;
    e->thread = t->thread;
    e->status = t->status;
    e->seconds = t->seconds;
    e->nbytes = t->nbytes;
  }
  if (ri) {
    e->ntasks = ri->ntasks;
    e->nworkers = ri->nworkers;
    e->status = ri->status;
    e->seconds = ri->seconds;
  }
}

static void rec_reset(recorder *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->ev[i].key);
    free(r->ev[i].kernel);
  }
  r->n = 0;
  r->probes = r->probe_bad = r->bad_query = 0;
  r->probe_why[0] = '\0';
  r->others = r->others_bad = 0;
  r->others_why[0] = '\0';
}

static void d_start(const dagr_run_info_t *ri, void *arg) {
  recorder *r = arg;
  rec(r, EV_START, NULL, ri);
  if (r->probe) probe(r);
}
static void d_pre(const dagr_task_info_t *t, void *arg) {
  recorder *r = arg;
  rec(r, EV_PRE, t, NULL);
  if (r->probe && r->probe_key && t->key && !strcmp(t->key, r->probe_key)) probe(r);
  if (r->others_key && t->key && !strcmp(t->key, r->others_key)) probe_others(r);
}
static void d_post(const dagr_task_info_t *t, void *arg) {
  recorder *r = arg;
  rec(r, EV_POST, t, NULL);
  if (r->probe && r->probe_key && t->key && !strcmp(t->key, r->probe_key)) probe(r);
}
static void d_finish(const dagr_run_info_t *ri, void *arg) {
  recorder *r = arg;
  rec(r, EV_FINISH, NULL, ri);
  if (r->probe) probe(r);
}

/* A counter of calls. */
typedef struct counter {
  int start, pre, post, finish;
} counter;
static void c_start(const dagr_run_info_t *ri, void *arg) {
  (void)ri;
  ((counter *)arg)->start++;
}
static void c_pre(const dagr_task_info_t *t, void *arg) {
  (void)t;
  ((counter *)arg)->pre++;
}
static void c_post(const dagr_task_info_t *t, void *arg) {
  (void)t;
  ((counter *)arg)->post++;
}
static void c_finish(const dagr_run_info_t *ri, void *arg) {
  (void)ri;
  ((counter *)arg)->finish++;
}

/* Checks one run's recorded driver callbacks against the graph's specs. */
static void check_events(const char *what, const recorder *r, const gb *b, int mpi, int nw,
                         int want_status) {
  char name[200];
  size_t n = r->n;
  int starts = 0, finishes = 0;
  size_t first_start = n, last_finish = 0, first_task = n, last_task = 0;
  for (size_t i = 0; i < n; i++) {
    const event *e = &r->ev[i];
    if (e->type == EV_START) {
      starts++;
      if (first_start == n) first_start = i;
    } else if (e->type == EV_FINISH) {
      finishes++;
      last_finish = i;
    } else {
      if (first_task == n) first_task = i;
      last_task = i;
    }
  }
  snprintf(name, sizeof name, "%s: start called once, before any pretask", what);
  check(starts == 1 && first_start < first_task && r->ev[0].type == EV_START, name,
        "%d start calls, first at event %zu, first task event at %zu", starts, first_start,
        first_task);
  snprintf(name, sizeof name, "%s: finish called once, after every posttask", what);
  check(finishes == 1 && last_finish > last_task && r->ev[n - 1].type == EV_FINISH, name,
        "%d finish calls, last at event %zu, last task event at %zu of %zu", finishes, last_finish,
        last_task, n);
  if (starts >= 1) {
    const event *s = &r->ev[first_start];
    snprintf(name, sizeof name, "%s: start's info (ntasks, nworkers, status, seconds)", what);
    check(s->ntasks == b->n && s->nworkers == nw && s->status == DAGR_OK && s->seconds == 0, name,
          "ntasks %llu (%zu), nworkers %d (%d), status %d, seconds %g",
          (unsigned long long)s->ntasks, b->n, s->nworkers, nw, s->status, s->seconds);
  }
  if (finishes >= 1) {
    const event *f = &r->ev[last_finish];
    dagr_stats_t st;
    dagr_last_stats(r->ctx, &st);
    int ok = f->status == want_status && f->nworkers == nw && f->seconds > 0;
    if (want_status == DAGR_OK) ok = ok && f->ntasks == b->n;
    snprintf(name, sizeof name, "%s: finish's info (status %s, ntasks, seconds)", what,
             dagr_strerror(want_status));
    check(ok, name, "status %s, ntasks %llu (%zu), nworkers %d, seconds %g (dagr_get %g)",
          dagr_strerror(f->status), (unsigned long long)f->ntasks, b->n, f->nworkers, f->seconds,
          st.seconds);
  }
  /* Per key: its pretask/posttask calls, in order, with the right facts. */
  int bad_count = 0, bad_order = 0, bad_rank = 0, bad_thread = 0, bad_secs = 0, bad_bytes = 0,
      bad_kernel = 0, bad_status = 0, bad_pin = 0, bad_pre = 0;
  char why_count[300] = "", why_rank[300] = "", why_secs[300] = "", why_bytes[300] = "",
       why_other[300] = "";
  for (size_t k = 0; k < b->n; k++) {
    const spec *s = &b->t[k];
    int pre = 0, post = 0, open = 0, pre_rank = -100;
    for (size_t i = 0; i < n; i++) {
      const event *e = &r->ev[i];
      if ((e->type != EV_PRE && e->type != EV_POST) || strcmp(e->key, s->key)) continue;
      if (strcmp(e->kernel, s->kernel)) {
        if (!bad_kernel++)
          snprintf(why_other, sizeof why_other, "%.60s: kernel %s (%s)", s->key, e->kernel,
                   s->kernel);
      }
      if (e->thread != -1) bad_thread++;
      if (e->type == EV_PRE) {
        pre++;
        if (open) bad_order++;
        open = 1;
        pre_rank = e->rank;
        if (e->seconds != 0 || e->nbytes != 0 || e->status != DAGR_OK) bad_pre++;
      } else {
        post++;
        if (!open) bad_order++;
        open = 0;
        int ok_rank = mpi ? e->rank >= 1 && e->rank <= nw : e->rank == 0;
        if (!ok_rank || e->rank != pre_rank) {
          if (!bad_rank++)
            snprintf(why_rank, sizeof why_rank, "%.60s: posttask rank %d, pretask rank %d", s->key,
                     e->rank, pre_rank);
        }
        if (s->worker > 0 && e->rank != s->worker) bad_pin++;
        if (s->fails) {
          if (e->status == DAGR_OK || e->nbytes != 0) bad_status++;
        } else {
          if (e->status != DAGR_OK) bad_status++;
          if (e->nbytes != s->out_bytes) {
            if (!bad_bytes++)
              snprintf(why_bytes, sizeof why_bytes, "%.60s (%s): nbytes %llu (%llu)", s->key,
                       s->kernel, (unsigned long long)e->nbytes, (unsigned long long)s->out_bytes);
          }
        }
        if (e->seconds < 0 || e->seconds < s->ms * 1e-3 - 2e-6) {
          if (!bad_secs++)
            snprintf(why_secs, sizeof why_secs, "%.60s: %.6f s for a %d ms sleep", s->key,
                     e->seconds, s->ms);
        }
      }
    }
    if (pre != s->attempts || post != s->attempts) {
      if (!bad_count++)
        snprintf(why_count, sizeof why_count, "%.60s: %d pretask, %d posttask (%d each)", s->key,
                 pre, post, s->attempts);
    }
  }
  /* No call for a key outside the graph. */
  size_t stray = 0;
  for (size_t i = 0; i < n; i++)
    if ((r->ev[i].type == EV_PRE || r->ev[i].type == EV_POST) && !find(b, r->ev[i].key)) stray++;
  snprintf(name, sizeof name, "%s: every key has one pretask and one posttask per attempt", what);
  check(!bad_count && !stray, name, "%d keys wrong, e.g. %s; %zu calls for unknown keys", bad_count,
        why_count, stray);
  snprintf(name, sizeof name, "%s: pretask comes before posttask for each key", what);
  check(!bad_order, name, "%d out of order", bad_order);
  snprintf(name, sizeof name, "%s: posttask rank is a worker rank, the pretask's", what);
  check(!bad_rank, name, "%d wrong, e.g. %s", bad_rank, why_rank);
  snprintf(name, sizeof name, "%s: pinned tasks ran on their worker", what);
  check(!bad_pin, name, "%d pinned tasks elsewhere", bad_pin);
  snprintf(name, sizeof name, "%s: driver callbacks see thread -1", what);
  check(!bad_thread, name, "%d calls with another thread", bad_thread);
  snprintf(name, sizeof name, "%s: kernel names", what);
  check(!bad_kernel, name, "%d wrong, e.g. %s", bad_kernel, why_other);
  snprintf(name, sizeof name, "%s: pretask has seconds 0, nbytes 0, status DAGR_OK", what);
  check(!bad_pre, name, "%d pretask calls with other values", bad_pre);
  snprintf(name, sizeof name, "%s: posttask seconds >= the kernel's sleep", what);
  check(!bad_secs, name, "%d too short, e.g. %s", bad_secs, why_secs);
  snprintf(name, sizeof name, "%s: posttask nbytes is the output's size", what);
  check(!bad_bytes, name, "%d wrong, e.g. %s", bad_bytes, why_bytes);
  snprintf(name, sizeof name, "%s: posttask status (DAGR_OK, the failure for fail)", what);
  check(!bad_status, name, "%d wrong", bad_status);
}

static void write_expect_wcb(FILE *f, const gb *b) {
  for (size_t i = 0; i < b->n; i++) {
    const spec *s = &b->t[i];
    fprintf(f, "%.256s\t%s\t%llu\t%.6f\t%d\t%d\t%d\n", s->key, s->kernel,
            (unsigned long long)(s->fails ? 0 : s->out_bytes), s->ms * 1e-3, s->attempts, s->worker,
            s->fails);
  }
}

static FILE *open_in_dir(const char *name) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "observe_mpi: cannot write %s: %s\n", path, strerror(errno));
    exit(1);
  }
  return f;
}

static void write_threads(dagr_ctx_t *ctx) {
  dagr_summary_t s;
  FILE *f = open_in_dir("threads.txt");
  if (dagr_last_summary(ctx, &s) == DAGR_OK)
    for (size_t w = 0; w < s.nworkers; w++)
      fprintf(f, "%d\t%d\n", s.workers[w].rank, s.workers[w].threads);
  fclose(f);
}

static void mode_callbacks(dagr_ctx_t *ctx) {
  int mpi = dagr_nranks(ctx) > 1, nw = dagr_nworkers(ctx);
  dagr_callbacks_t late = {0};
  late.pretask = w_pre;
  int rc = dagr_worker_callbacks_register(&late);
  check(rc == DAGR_ESTATE, "dagr_worker_callbacks_register after dagr_init: DAGR_ESTATE", "%s",
        dagr_strerror(rc));
  rc = dagr_callbacks_add(ctx, NULL, NULL);
  check(rc == DAGR_EINVAL, "dagr_callbacks_add(ctx, NULL): DAGR_EINVAL", "%s", dagr_strerror(rc));
  rc = dagr_callbacks_add(NULL, &late, NULL);
  check(rc == DAGR_EINVAL, "dagr_callbacks_add(NULL, cb): DAGR_EINVAL", "%s", dagr_strerror(rc));
  rc = dagr_callbacks_remove(NULL, 1);
  check(rc == DAGR_EINVAL, "dagr_callbacks_remove(NULL, id): DAGR_EINVAL", "%s", dagr_strerror(rc));

  /* The probe graph: one const (never run: dagr_get from a callback must be refused). */
  dagr_graph_t *pg;
  dagr_graph_create(&pg);
  dagr_params_t *pp = params_int("value", 1, NULL, 0);
  dagr_graph_add(pg, "probe", "const", pp, NULL, 0, NULL);
  dagr_params_free(pp);

  static recorder r;
  memset(&r, 0, sizeof r);
  r.ctx = ctx;
  r.probe_graph = pg;
  static counter cb_b, cb_c;
  dagr_callbacks_t a = {d_start, d_pre, d_post, d_finish, &r};
  dagr_callbacks_t bcb = {c_start, c_pre, c_post, c_finish, &cb_b};
  dagr_callbacks_t ccb = {c_start, c_pre, c_post, c_finish, &cb_c};
  int id_a = -1, id_b = -1, id_c = -1;
  int ra = dagr_callbacks_add(ctx, &a, &id_a), rb = dagr_callbacks_add(ctx, &bcb, &id_b),
      rcc = dagr_callbacks_add(ctx, &ccb, &id_c);
  check(!ra && !rb && !rcc && id_a != id_b && id_b != id_c && id_a != id_c,
        "dagr_callbacks_add gives distinct ids", "%s %s %s, ids %d %d %d", dagr_strerror(ra),
        dagr_strerror(rb), dagr_strerror(rcc), id_a, id_b, id_c);
  r.id_b = id_b;

  /* Run 1: the known graph, with calls back into dagr from start, finish and one task's
   * pretask and posttask. */
  gb g1;
  gb_init(&g1, 0);
  build_main(&g1, mpi, nw);
  r.probe = 1;
  r.probe_key = r.others_key = "('add', 3)";
  rc = run_main(ctx, &g1, "run 1");
  r.probe = 0;
  r.others_key = NULL;
  check_events("run 1", &r, &g1, mpi, nw, DAGR_OK);
  check(r.probes == 4 * 5 && !r.probe_bad,
        "run 1: dagr_get, dagr_finalize, dagr_callbacks_add/remove, dagr_set_trace from inside "
        "callbacks: DAGR_ESTATE",
        "%d calls, %d not refused: %s", r.probes, r.probe_bad, r.probe_why);
  /* dagr.h: "any other dagr_* call on ctx from inside them fails with DAGR_ESTATE". */
  /* dagr_last_stats, dagr_last_summary, dagr_summary_print and the setters too. */
  check(r.others == 6 && !r.others_bad,
        "run 1: the other status-returning dagr_* calls inside a callback: DAGR_ESTATE (dagr.h)",
        "%d of %d not refused: %s", r.others_bad, r.others, r.others_why);
  check(!r.bad_query, "run 1: dagr_rank, dagr_nworkers, dagr_last_error work inside callbacks",
        "%d wrong", r.bad_query);
  check(cb_b.start == 1 && cb_b.finish == 1 && cb_b.pre == (int)g1.n && cb_b.post == (int)g1.n &&
            cb_c.pre == (int)g1.n && cb_c.post == (int)g1.n,
        "run 1: every registration is called", "b: %d/%d/%d/%d, c: %d/%d (%zu tasks)", cb_b.start,
        cb_b.pre, cb_b.post, cb_b.finish, cb_c.pre, cb_c.post, g1.n);

  /* For observe.sh: the rank of each key from the driver's posttask, the thread counts, and
   * what the worker files must hold. */
  FILE *f = open_in_dir("driver.txt");
  for (size_t i = 0; i < r.n; i++)
    if (r.ev[i].type == EV_POST) fprintf(f, "%.256s\t%d\n", r.ev[i].key, r.ev[i].rank);
  fclose(f);
  write_threads(ctx);
  FILE *ew = open_in_dir("expect_wcb.txt");
  write_expect_wcb(ew, &g1);
  rec_reset(&r);

  /* Run 2: registration c removed; a and b still called. */
  rc = dagr_callbacks_remove(ctx, id_c);
  check(rc == DAGR_OK, "dagr_callbacks_remove of a registration", "%s", dagr_strerror(rc));
  rc = dagr_callbacks_remove(ctx, id_c);
  check(rc == DAGR_ENOKEY, "dagr_callbacks_remove of a removed id: DAGR_ENOKEY", "%s",
        dagr_strerror(rc));
  rc = dagr_callbacks_remove(ctx, 987654);
  check(rc == DAGR_ENOKEY && strstr(dagr_last_error(ctx), "987654"),
        "dagr_callbacks_remove of an unknown id: DAGR_ENOKEY naming it", "%s: %s",
        dagr_strerror(rc), dagr_last_error(ctx));
  counter c_before = cb_c, b_before = cb_b;
  gb g2;
  gb_init(&g2, 1);
  build_small(&g2, "r2");
  r.others_key = "r2-sum"; /* now that a summary exists */
  run_small(ctx, &g2, "r2", "run 2");
  r.others_key = NULL;
  check_events("run 2", &r, &g2, mpi, nw, DAGR_OK);
  /* As in run 1, now that an earlier run's summary exists. */
  check(r.others == 6 && !r.others_bad,
        "run 2: the other status-returning dagr_* calls inside a callback: DAGR_ESTATE (dagr.h)",
        "%d of %d not refused: %s", r.others_bad, r.others, r.others_why);
  check(!memcmp(&c_before, &cb_c, sizeof cb_c), "run 2: a removed registration is not called",
        "start %d -> %d, pretask %d -> %d, posttask %d -> %d, finish %d -> %d", c_before.start,
        cb_c.start, c_before.pre, cb_c.pre, c_before.post, cb_c.post, c_before.finish, cb_c.finish);
  check(cb_b.start == b_before.start + 1 && cb_b.finish == b_before.finish + 1 &&
            cb_b.pre == b_before.pre + (int)g2.n && cb_b.post == b_before.post + (int)g2.n,
        "run 2: the other registrations still are", "start %d, pretask %d, posttask %d",
        cb_b.start - b_before.start, cb_b.pre - b_before.pre, cb_b.post - b_before.post);
  write_expect_wcb(ew, &g2);
  rec_reset(&r);

  /* Run 3: a task that fails on both of its attempts (retries 1); the run fails. Calls back
   * into dagr from finish must not replace the failure's message. */
  gb g3;
  gb_init(&g3, 2);
  add(&g3, "f-a", "const", params_int("value", 3, NULL, 0), NULL, 0, -1, 8, 0, 0);
  dagr_params_t *fp;
  dagr_params_create(&fp);
  dagr_params_set_string(fp, "message", "deliberate failure");
  const char *fa[1] = {"f-a"};
  add(&g3, "f-boom", "fail", fp, fa, 1, -1, 0, 0, 1);
  r.probe = 1;
  r.probe_key = NULL;
  const char *fk[1] = {"f-boom"};
  dagr_result_t fr;
  rc = dagr_get(ctx, g3.g, fk, 1, &fr);
  r.probe = 0;
  const char *msg = dagr_last_error(ctx);
  check(rc == DAGR_EKERNEL, "run 3: a failing task fails the run", "%s: %s", dagr_strerror(rc),
        msg);
  /* A refused call inside a callback (here dagr_set_trace in finish) leaves the run's own
   * error message. */
  check(strstr(msg, "f-boom") && strstr(msg, "deliberate failure"),
        "run 3: dagr_last_error still names the failed task after refused calls in finish",
        "dagr_last_error: '%s'", msg);
  check_events("run 3", &r, &g3, mpi, nw, DAGR_EKERNEL);
  check(r.probes == 2 * 5 && !r.probe_bad, "run 3: calls from start and finish: DAGR_ESTATE",
        "%d calls, %d not refused: %s", r.probes, r.probe_bad, r.probe_why);
  write_expect_wcb(ew, &g3);
  fclose(ew);
  rec_reset(&r);

  check(wr.starts == 3 && wr.finishes == 3 && !wr.bad_rank,
        "worker-callback start and finish run on rank 0, once per dagr_get",
        "%d start, %d finish for 3 runs, %d off rank 0", wr.starts, wr.finishes, wr.bad_rank);
  free(r.ev);
  gb_free(&g1);
  gb_free(&g2);
  gb_free(&g3);
  dagr_graph_free(pg);
}

/* dagr_info_print from inside a pretask callback (it exchanges messages with the workers): must be
 * refused with DAGR_ESTATE, and the run must complete. Its own mode because it hung the run. */
static int info_rc = 1, info_calls;
static dagr_ctx_t *info_ctx;
static void info_pre(const dagr_task_info_t *t, void *arg) {
  (void)arg;
  if (!t->key || strcmp(t->key, "('add', 3)")) return;
  FILE *devnull = fopen("/dev/null", "w");
  if (!devnull) return;
  info_rc = dagr_info_print(info_ctx, devnull);
  info_calls++;
  fclose(devnull);
}

static void mode_info(dagr_ctx_t *ctx) {
  int mpi = dagr_nranks(ctx) > 1, nw = dagr_nworkers(ctx);
  info_ctx = ctx;
  dagr_callbacks_t cb = {0};
  cb.pretask = info_pre;
  dagr_callbacks_add(ctx, &cb, NULL);
  gb b;
  gb_init(&b, 0);
  build_main(&b, mpi, nw);
  /* Asking the workers for their lines from inside a run would take the run's messages. */
  run_main(ctx, &b, "dagr_info_print inside a callback");
  check(info_calls == 1 && info_rc == DAGR_ESTATE, "dagr_info_print inside a callback: DAGR_ESTATE",
        "%d calls, %s", info_calls, dagr_strerror(info_rc));
  gb_free(&b);
}

/* ---------------------------------------------------------------------------------------------
 * summary
 * ------------------------------------------------------------------------------------------- */
static void mode_summary(dagr_ctx_t *ctx) {
  int mpi = dagr_nranks(ctx) > 1, nw = dagr_nworkers(ctx);
  dagr_summary_t s;
  int rc = dagr_last_summary(ctx, &s);
  check(rc == DAGR_ESTATE, "dagr_last_summary before any dagr_get: DAGR_ESTATE", "%s",
        dagr_strerror(rc));
  rc = dagr_summary_print(ctx, stdout);
  check(rc == DAGR_ESTATE, "dagr_summary_print before any dagr_get: DAGR_ESTATE", "%s",
        dagr_strerror(rc));
  rc = dagr_last_summary(NULL, &s);
  int rc2 = dagr_last_summary(ctx, NULL);
  check(rc == DAGR_EINVAL && rc2 == DAGR_EINVAL, "dagr_last_summary with NULL: DAGR_EINVAL",
        "%s, %s", dagr_strerror(rc), dagr_strerror(rc2));

  /* The known graph plus a chain of three 40 ms sleeps on the side. */
  gb b;
  gb_init(&b, 0);
  build_main(&b, mpi, nw);
  add(&b, "chain-0", "sleep", params_int("ms", 40, NULL, 0), NULL, 0, -1, 8, 40, 0);
  const char *c0[1] = {"chain-0"}, *c1[1] = {"chain-1"};
  add(&b, "chain-1", "sleep", params_int("ms", 40, NULL, 0), c0, 1, -1, 8, 40, 0);
  add(&b, "chain-2", "sleep", params_int("ms", 40, NULL, 0), c1, 1, -1, 8, 40, 0);
  const char *keys[2] = {"all", "chain-2"};
  dagr_result_t res[2];
  rc = dagr_get(ctx, b.g, keys, 2, res);
  check(rc == DAGR_OK, "summary: the graph runs", "%s: %s", dagr_strerror(rc),
        dagr_last_error(ctx));
  if (rc) {
    gb_free(&b);
    return;
  }
  dagr_result_release(&res[0]);
  dagr_result_release(&res[1]);
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  rc = dagr_last_summary(ctx, &s);
  check(rc == DAGR_OK, "dagr_last_summary after a run", "%s", dagr_strerror(rc));
  if (rc) {
    gb_free(&b);
    return;
  }
  check(s.stats.tasks == st.tasks && s.stats.seconds == st.seconds &&
            s.stats.bytes_fetched == st.bytes_fetched,
        "summary: stats equal dagr_last_stats", "tasks %llu/%llu, seconds %g/%g",
        (unsigned long long)s.stats.tasks, (unsigned long long)st.tasks, s.stats.seconds,
        st.seconds);
  uint64_t ktasks = 0, wtasks = 0;
  double ksec = 0, wbusy = 0;
  int sorted = 1, names_ok = 1, dup = 0, kernels_seen = 0;
  double sleep_s = -1;
  uint64_t sleep_tasks = 0;
  static const char *const known[] = {"const", "add", "fill", "checksum", "sleep", "noop"};
  for (size_t k = 0; k < s.nkernels; k++) {
    ktasks += s.kernels[k].tasks;
    ksec += s.kernels[k].seconds;
    if (k && s.kernels[k].seconds > s.kernels[k - 1].seconds) sorted = 0;
    int idx = -1;
    for (int j = 0; j < 6; j++)
      if (s.kernels[k].kernel && !strcmp(s.kernels[k].kernel, known[j])) idx = j;
    if (idx < 0)
      names_ok = 0;
    else if (kernels_seen & (1 << idx))
      dup = 1;
    else
      kernels_seen |= 1 << idx;
    if (idx == 4) {
      sleep_s = s.kernels[k].seconds;
      sleep_tasks = s.kernels[k].tasks;
    }
  }
  /* Expected per-kernel task counts and the least total sleep. */
  uint64_t want_k[6] = {0};
  double want_sleep = 0;
  for (size_t i = 0; i < b.n; i++) {
    for (int j = 0; j < 6; j++)
      if (!strcmp(b.t[i].kernel, known[j])) want_k[j]++;
    want_sleep += b.t[i].ms * 1e-3;
  }
  int counts_ok = 1;
  char why[512] = "";
  for (size_t k = 0; k < s.nkernels; k++)
    for (int j = 0; j < 6; j++)
      if (s.kernels[k].kernel && !strcmp(s.kernels[k].kernel, known[j]) &&
          s.kernels[k].tasks != want_k[j]) {
        counts_ok = 0;
        snprintf(why, sizeof why, "%s: %llu tasks (%llu)", known[j],
                 (unsigned long long)s.kernels[k].tasks, (unsigned long long)want_k[j]);
      }
  check(s.nkernels == 6 && names_ok && !dup && kernels_seen == 63, "summary: one entry per kernel",
        "%zu kernels, names ok %d, duplicates %d", s.nkernels, names_ok, dup);
  check(counts_ok, "summary: tasks per kernel", "%s", why);
  check(ktasks == b.n && s.stats.tasks == b.n, "summary: kernel tasks add up to the tasks run",
        "kernels %llu, stats %llu, graph %zu", (unsigned long long)ktasks,
        (unsigned long long)s.stats.tasks, b.n);
  check(sorted, "summary: kernels sorted by seconds, most first", "not sorted");
  check(sleep_tasks == N_SLEEP + 3 && sleep_s >= want_sleep - 1e-4,
        "summary: sleep's seconds cover its sleeps", "%llu tasks, %.4f s (at least %.4f s)",
        (unsigned long long)sleep_tasks, sleep_s, want_sleep);
  int ranks_ok = s.nworkers == (size_t)nw, fr_ok = 1, threads_ok = 1;
  for (size_t w = 0; w < s.nworkers; w++) {
    wtasks += s.workers[w].tasks;
    wbusy += s.workers[w].busy_seconds;
    if (s.workers[w].rank != (mpi ? (int)w + 1 : 0)) ranks_ok = 0;
    if (!(s.workers[w].busy_fraction >= 0 && s.workers[w].busy_fraction <= 1) ||
        s.workers[w].busy_seconds < 0)
      fr_ok = 0;
    if (s.workers[w].threads < 1) threads_ok = 0;
  }
  check(ranks_ok && threads_ok, "summary: one worker entry per worker rank, by rank",
        "%zu entries for %d workers", s.nworkers, nw);
  check(wtasks == b.n, "summary: worker tasks add up to the tasks run", "%llu (%zu)",
        (unsigned long long)wtasks, b.n);
  check(fr_ok, "summary: busy fractions in [0, 1]", "out of range");
  check(wbusy > ksec - 1e-3 && wbusy < ksec + 1e-3,
        "summary: busy seconds add up to kernel seconds", "workers %.6f s, kernels %.6f s", wbusy,
        ksec);
  /* The busy fraction is busy seconds over threads x the run's execution time. */
  int frac_ok = 1;
  for (size_t w = 0; w < s.nworkers; w++) {
    double cap = st.run_seconds * s.workers[w].threads;
    double f = cap > 0 ? s.workers[w].busy_seconds / cap : 0;
    if (f > 1) f = 1;
    if (s.workers[w].busy_fraction < f - 0.02 || s.workers[w].busy_fraction > f + 0.02) frac_ok = 0;
  }
  check(frac_ok, "summary: busy fraction = busy seconds / (threads x run seconds)", "differs");
  check(s.critical_path_seconds >= 0.12 && s.critical_path_seconds <= st.run_seconds + 0.005,
        "summary: critical path covers the 3 x 40 ms chain, within the run",
        "critical path %.4f s, run %.4f s", s.critical_path_seconds, st.run_seconds);
  /* dagr_summary_print: the first line, the kernels and the workers. */
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  rc = dagr_summary_print(ctx, m);
  fclose(m);
  int has = rc == DAGR_OK && text && !strncmp(text, "dagr summary: ", 14);
  for (int j = 0; j < 6 && has; j++)
    if (!strstr(text, known[j])) has = 0;
  if (has && !strstr(text, "worker rank ")) has = 0;
  check(has, "dagr_summary_print names every kernel and worker", "%s: %.400s", dagr_strerror(rc),
        text ? text : "");
  free(text);
  gb_free(&b);

  /* A second run replaces the summary. */
  gb b2;
  gb_init(&b2, 1);
  build_small(&b2, "s2");
  run_small(ctx, &b2, "s2", "summary run 2");
  rc = dagr_last_summary(ctx, &s);
  uint64_t t2 = 0;
  for (size_t k = 0; rc == DAGR_OK && k < s.nkernels; k++) t2 += s.kernels[k].tasks;
  check(rc == DAGR_OK && s.nkernels == 3 && t2 == b2.n && s.stats.tasks == b2.n &&
            s.critical_path_seconds >= 0.03,
        "summary: a second run replaces the first's", "%zu kernels, %llu tasks (%zu), cp %.4f",
        s.nkernels, (unsigned long long)t2, b2.n, s.critical_path_seconds);
  gb_free(&b2);
}

/* ---------------------------------------------------------------------------------------------
 * trace
 * ------------------------------------------------------------------------------------------- */
static void write_tasks(FILE *f, const gb *b) {
  for (size_t i = 0; i < b->n; i++) {
    const spec *s = &b->t[i];
    fprintf(f, "%d\t%s\t%s\t%llu\t%llu\t%d\t%d\n", s->run, s->key, s->kernel,
            (unsigned long long)s->in_bytes, (unsigned long long)s->out_bytes, s->worker, s->ms);
  }
}

static void mode_trace(dagr_ctx_t *ctx, const char *path) {
  int mpi = dagr_nranks(ctx) > 1, nw = dagr_nworkers(ctx);
  if (path && strcmp(path, "-") != 0) {
    int rc = dagr_set_trace(NULL, path);
    check(rc == DAGR_EINVAL, "dagr_set_trace(NULL, path): DAGR_EINVAL", "%s", dagr_strerror(rc));
    rc = dagr_set_trace(ctx, "");
    check(rc == DAGR_EINVAL, "dagr_set_trace(ctx, \"\"): DAGR_EINVAL", "%s", dagr_strerror(rc));
    rc = dagr_set_trace(ctx, path);
    check(rc == DAGR_OK, "dagr_set_trace(ctx, path)", "%s: %s", dagr_strerror(rc),
          dagr_last_error(ctx));
    /* A path that cannot be written is refused at once, naming it; the previous one stays. */
    rc = dagr_set_trace(ctx, "/nonexistent-dagr-dir/t.json");
    check(rc != DAGR_OK && strstr(dagr_last_error(ctx), "/nonexistent-dagr-dir/t.json"),
          "dagr_set_trace of an unwritable path fails naming it", "%s: %s", dagr_strerror(rc),
          dagr_last_error(ctx));
  }
  gb b1, b2;
  gb_init(&b1, 0);
  build_main(&b1, mpi, nw);
  run_main(ctx, &b1, "trace run 1");
  dagr_stats_t s1, s2;
  dagr_last_stats(ctx, &s1);
  gb_init(&b2, 1);
  build_small(&b2, "t2");
  run_small(ctx, &b2, "t2", "trace run 2");
  dagr_last_stats(ctx, &s2);
  FILE *f = open_in_dir("tasks.txt");
  write_tasks(f, &b1);
  write_tasks(f, &b2);
  fclose(f);
  f = open_in_dir("facts.txt");
  fprintf(f, "nranks\t%d\nnworkers\t%d\nmpi\t%d\n", dagr_nranks(ctx), nw, mpi);
  fprintf(f, "run0_tasks\t%llu\nrun0_bytes_fetched\t%llu\nrun0_seconds\t%.6f\n",
          (unsigned long long)s1.tasks, (unsigned long long)s1.bytes_fetched, s1.seconds);
  fprintf(f, "run1_tasks\t%llu\nrun1_bytes_fetched\t%llu\nrun1_seconds\t%.6f\n",
          (unsigned long long)s2.tasks, (unsigned long long)s2.bytes_fetched, s2.seconds);
  fclose(f);
  gb_free(&b1);
  gb_free(&b2);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (argc > 2) dir = argv[2];
  const char *r = getenv("OMPI_COMM_WORLD_RANK");
  env_rank = r ? atoi(r) : 0;
  if (!strcmp(mode, "callbacks")) {
    dagr_callbacks_t w = {0}, s = {0};
    w.pretask = w_pre;
    w.posttask = w_post;
    s.start = w_start;
    s.finish = w_finish;
    s.arg = &wr;
    int rc1 = dagr_worker_callbacks_register(&w), rc2 = dagr_worker_callbacks_register(&s),
        rc3 = dagr_worker_callbacks_register(NULL);
    if (rc1 || rc2 || rc3 != DAGR_EINVAL) {
      printf("FAIL dagr_worker_callbacks_register: %s, %s, NULL: %s\n0 passed, 1 failed\n",
             dagr_strerror(rc1), dagr_strerror(rc2), dagr_strerror(rc3));
      return 1;
    }
  }
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx) != DAGR_OK) {
    printf("FAIL init: %s\n0 passed, 1 failed\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    return dagr_finalize(ctx) == DAGR_OK ? st : 1;
  }
  if (!strcmp(mode, "callbacks")) {
    check(1, "dagr_worker_callbacks_register before dagr_init (NULL: DAGR_EINVAL)", "%s", "");
    mode_callbacks(ctx);
  } else if (!strcmp(mode, "info")) {
    mode_info(ctx);
  } else if (!strcmp(mode, "summary")) {
    mode_summary(ctx);
  } else if (!strcmp(mode, "trace")) {
    mode_trace(ctx, argc > 3 ? argv[3] : NULL);
  } else {
    check(0, "mode", "unknown mode '%s' (callbacks, info, summary, trace)", mode);
  }
  dagr_set_exit_status(ctx, failed ? 1 : 0);
  int frc = dagr_finalize(ctx);
  check(frc == DAGR_OK, "dagr_finalize", "%s", dagr_strerror(frc));
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
