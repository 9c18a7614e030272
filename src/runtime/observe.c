/* observe.c: the driver's observability: trace and report files, progress bar, run summary,
 * callbacks. */
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "obs/ofile.h"
#include "runtime/ctx.h"
#include "runtime/registry.h"
#include "runtime/slurm.h"
#include "runtime/wcb.h"

static int summary_print(const dagr_ctx_t *ctx, FILE *out);

/* The file made in a directory given as the trace or report name. */
#define TRACE_FILE  "dagr-trace-%j.json"
#define REPORT_FILE "dagr-report-%j.html"

/* Whether a file can be made at path: tried now (and removed) so that a wrong directory shows
 * before the job runs, not after it. */
static int try_create(dagr_ctx_t *ctx, const char *path, const char *what) {
  dagr__ofile of;
  char err[DAGR__ERRLEN];
  int rc = dagr__ofile_open(&of, path, err, sizeof err);
  if (rc) return dagr__errf(ctx->err, sizeof ctx->err, rc, "%s: %s", what, err);
  fclose(of.f);
  unlink(of.tmp);
  return DAGR_OK;
}

/* Sets *slot to name with "%j" expanded (NULL name: off). */
static int set_path(dagr_ctx_t *ctx, char **slot, const char *name, const char *what,
                    const char *dir_file) {
  char *copy = NULL;
  if (name) {
    char buf[4096];
    if (!*name || dagr__expand_job_name(name, ctx->boot.job_token, buf, sizeof buf) != 0)
      return dagr__errf(ctx->err, sizeof ctx->err, DAGR_EINVAL,
                        "the %s file name '%.200s' is empty or too long", what, name);
    /* A directory (an existing one, or a name ending in '/') gets a file named after the job. */
    struct stat st;
    size_t n = strlen(buf);
    if (buf[n - 1] == '/' || (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))) {
      char file[256];
      if (dagr__expand_job_name(dir_file, ctx->boot.job_token, file, sizeof file) != 0 ||
          n + 1 + strlen(file) >= sizeof buf)
        return dagr__errf(ctx->err, sizeof ctx->err, DAGR_EINVAL,
                          "the %s file name '%.200s' is too long", what, name);
      snprintf(buf + n, sizeof buf - n, "%s%s", buf[n - 1] == '/' ? "" : "/", file);
    }
    int rc = try_create(ctx, buf, what);
    if (rc) return rc;
    copy = strdup(buf);
    if (!copy) return DAGR_ENOMEM;
  }
  free(*slot);
  *slot = copy;
  return DAGR_OK;
}

/* The task stream and its companions are recorded only while a trace or report is wanted. */
static void update_detail(dagr_ctx_t *ctx) {
  dagr__observe *ob = &ctx->ob;
  int detail = ob->obs_ok && (ob->trace_path || ob->report_path);
  if (detail) ob->obs.detail = 1;
  ctx->sched.obs = detail ? &ob->obs : NULL;
}

int dagr__observe_init(dagr_ctx_t *ctx) {
  dagr__observe *ob = &ctx->ob;
  int nk = dagr__registry_count();
  ob->kernel_names = calloc((size_t)(nk > 0 ? nk : 1), sizeof *ob->kernel_names);
  if (!ob->kernel_names) return DAGR_ENOMEM;
  for (int k = 0; k < nk; k++) ob->kernel_names[k] = dagr__registry_name(k);
  /* A bad DAGR_TRACE or DAGR_REPORT cannot fail dagr_init here (the workers already serve): it
   * is reported now and makes dagr_finalize fail. */
  if (set_path(ctx, &ob->trace_path, ctx->cfg.trace, "DAGR_TRACE", TRACE_FILE) ||
      set_path(ctx, &ob->report_path, ctx->cfg.report, "DAGR_REPORT", REPORT_FILE)) {
    fprintf(stderr, "dagr: %s; it will not be written\n", ctx->err);
    ob->write_failed = 1;
  }
  int rc = dagr__obs_init(&ob->obs, 0, ctx->boot.nranks, ctx->boot.host, dagr_nworkers(ctx),
                          ctx->boot.workers, ctx->local != NULL, nk, ob->kernel_names);
  if (rc) return rc;
  ob->obs_ok = 1;
  dagr__progress_init(&ob->progress, ctx->cfg.progress, ctx->cfg.progress_interval_s, stderr,
                      isatty(STDERR_FILENO));
  ctx->sched.clock_offset_ns = ctx->boot.clock_offset_ns;
  ctx->sched.progress = ctx->cfg.progress < 0 ? NULL : &ob->progress;
  update_detail(ctx);
  return DAGR_OK;
}

static void run_cbs(dagr_ctx_t *ctx, const dagr_run_info_t *info, int finish) {
  dagr__observe *ob = &ctx->ob;
  for (int i = 0; i < dagr__wcb_count(); i++) {
    const dagr_callbacks_t *cb = dagr__wcb_get(i);
    void (*fn)(const dagr_run_info_t *, void *) = finish ? cb->finish : cb->start;
    if (fn) fn(info, cb->arg);
  }
  for (int i = 0; i < ob->ncbs; i++) {
    void (*fn)(const dagr_run_info_t *, void *) = finish ? ob->cbs[i].finish : ob->cbs[i].start;
    if (fn) fn(info, ob->cbs[i].arg);
  }
}

void dagr__observe_run_begin(dagr_ctx_t *ctx, uint64_t ntasks) {
  dagr__observe *ob = &ctx->ob;
  ctx->sched.cbs = ob->cbs;
  ctx->sched.ncbs = ob->ncbs;
  if (ctx->sched.obs && dagr__obs_run_begin(&ob->obs, &ctx->sched.obs_run) != DAGR_OK)
    ctx->sched.obs = NULL; /* no room to record this run: run it unrecorded */
  dagr_run_info_t info = {ntasks, dagr_nworkers(ctx), DAGR_OK, 0};
  run_cbs(ctx, &info, 0);
}

void dagr__observe_snapshot(dagr_ctx_t *ctx, dagr__plan *plan, dagr_graph_t *graph) {
  if (ctx->sched.obs)
    (void)dagr__obs_snapshot(ctx->sched.obs, ctx->sched.obs_run, plan, graph); /* else unnamed */
}

static int by_seconds(const void *a, const void *b) {
  double x = ((const dagr_kernel_summary_t *)a)->seconds,
         y = ((const dagr_kernel_summary_t *)b)->seconds;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The last run's summary, from the scheduler's sums. */
static void summarize(dagr_ctx_t *ctx, double run_seconds) {
  dagr__observe *ob = &ctx->ob;
  const dagr__sched *s = &ctx->sched;
  size_t nk = 0;
  for (int k = 0; k < s->nkernels; k++) nk += s->ktasks[k] > 0;
  dagr_kernel_summary_t *ks = realloc(ob->ksum, (nk ? nk : 1) * sizeof *ks);
  dagr_worker_summary_t *ws =
      realloc(ob->wsum, (size_t)(s->nworkers ? s->nworkers : 1) * sizeof *ws);
  if (ks) ob->ksum = ks;
  if (ws) ob->wsum = ws;
  ob->have_summary = 0;
  if (!ks || !ws) return;
  size_t j = 0;
  for (int k = 0; k < s->nkernels; k++)
    if (s->ktasks[k]) {
      ks[j].kernel = dagr__registry_name(k);
      ks[j].tasks = s->ktasks[k];
      ks[j].seconds = 1e-6 * s->kus[k];
      j++;
    }
  qsort(ks, nk, sizeof *ks, by_seconds);
  ob->nksum = nk;
  for (int w = 0; w < s->nworkers; w++) {
    const dagr__sched_worker *sw = &s->w[w];
    ws[w].rank = sw->rank;
    ws[w].threads = sw->threads;
    ws[w].tasks = sw->ndone;
    ws[w].busy_seconds = 1e-6 * sw->busy_us;
    double cap = run_seconds * (double)sw->threads;
    double f = cap > 0 ? ws[w].busy_seconds / cap : 0;
    ws[w].busy_fraction = f > 1 ? 1 : f;
  }
  ob->nwsum = (size_t)s->nworkers;
  ob->critical_path_s = 1e-6 * s->cp_us;
  ob->have_summary = 1;
}

/* Adds the run to the session record (run facts, per-kernel and per-worker sums). */
static void record_run(dagr_ctx_t *ctx, int status, double seconds) {
  dagr__observe *ob = &ctx->ob;
  const dagr__sched *s = &ctx->sched;
  dagr__obs *o = &ob->obs;
  if (!ob->obs_ok) return;
  for (int k = 0; k < s->nkernels && k < o->nkernels; k++) {
    o->kernels[k].tasks += s->ktasks[k];
    o->kernels[k].seconds += 1e-6 * s->kus[k];
  }
  for (int w = 0; w < s->nworkers && w < o->nworkers; w++) {
    o->workers[w].busy_us += s->w[w].busy_us;
    o->workers[w].tasks += s->w[w].ndone;
  }
  if (!ctx->sched.obs || ctx->sched.obs_run >= o->nruns) return;
  dagr__obs_run *r = &o->runs[ctx->sched.obs_run];
  r->dur = dagr__obs_now_us(o) - r->ts;
  r->tasks = ctx->last.tasks;
  r->bytes_moved = ctx->last.bytes_fetched;
  r->bytes_spilled = ctx->last.bytes_spilled;
  r->critical_path_s = 1e-6 * s->cp_us;
  r->status = status;
  (void)seconds;
}

void dagr__observe_run_end(dagr_ctx_t *ctx, int status, double seconds) {
  summarize(ctx, seconds);
  record_run(ctx, status, seconds);
  if (ctx->cfg.summary) (void)summary_print(ctx, stderr);
  dagr_run_info_t info = {ctx->sched.ndone, dagr_nworkers(ctx), status, ctx->last.seconds};
  run_cbs(ctx, &info, 1);
}

int dagr__observe_collect(dagr_ctx_t *ctx) {
  dagr__observe *ob = &ctx->ob;
  if (!ob->obs_ok || !ob->obs.detail || !ctx->sched_ok) return DAGR_OK;
  return dagr__sched_collect_traces(&ctx->sched, &ob->obs);
}

int dagr__observe_finalize(dagr_ctx_t *ctx) {
  dagr__observe *ob = &ctx->ob;
  char err[DAGR__ERRLEN];
  int failed = ob->write_failed;
  if (ob->obs_ok && dagr__obs_flush(&ob->obs) != DAGR_OK)
    fprintf(stderr, "dagr: out of memory filing trace events: the trace and report miss some\n");
  if (ob->obs_ok && ob->trace_path &&
      dagr__obs_write_trace(&ob->obs, ob->trace_path, err, sizeof err) != DAGR_OK) {
    fprintf(stderr, "dagr: no trace written: %s\n", err);
    failed = 1;
  }
  if (ob->obs_ok && ob->report_path &&
      dagr__obs_write_report(&ob->obs, ob->report_path, err, sizeof err) != DAGR_OK) {
    fprintf(stderr, "dagr: no report written: %s\n", err);
    failed = 1;
  }
  if (ob->obs_ok) dagr__obs_free(&ob->obs);
  free(ob->trace_path);
  free(ob->report_path);
  free(ob->cbs);
  free(ob->cb_ids);
  free(ob->kernel_names);
  free(ob->ksum);
  free(ob->wsum);
  memset(ob, 0, sizeof *ob);
  return failed ? DAGR_EIO : DAGR_OK;
}

/* The driver, outside any callback. */
static int driver_call(dagr_ctx_t *ctx, const char *fn) {
  if (!ctx->driver || !ctx->sched_ok)
    return dagr__errf(ctx->err, sizeof ctx->err, DAGR_ESTATE, "%s runs on the driver (rank 0)", fn);
  if (ctx->in_get) return DAGR_ESTATE; /* from a callback: dagr_last_error is the run's */
  return DAGR_OK;
}

int dagr_set_trace(dagr_ctx_t *ctx, const char *path) {
  if (!ctx) return DAGR_EINVAL;
  int rc = driver_call(ctx, "dagr_set_trace");
  if (!rc) rc = set_path(ctx, &ctx->ob.trace_path, path, "trace", TRACE_FILE);
  if (!rc) update_detail(ctx);
  return rc;
}

int dagr_set_report(dagr_ctx_t *ctx, const char *path) {
  if (!ctx) return DAGR_EINVAL;
  int rc = driver_call(ctx, "dagr_set_report");
  if (!rc) rc = set_path(ctx, &ctx->ob.report_path, path, "report", REPORT_FILE);
  if (!rc) update_detail(ctx);
  return rc;
}

static void print_bytes(FILE *f, uint64_t b) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)b;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  fprintf(f, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* The summary as dagr_last_summary gives it, also while the run's finish is being reported. */
static int summary_of(const dagr_ctx_t *ctx, dagr_summary_t *out) {
  if (!ctx || !out) return DAGR_EINVAL;
  if (!ctx->driver || !ctx->ob.have_summary) return DAGR_ESTATE;
  memset(out, 0, sizeof *out);
  out->stats = ctx->last;
  out->critical_path_seconds = ctx->ob.critical_path_s;
  out->nkernels = ctx->ob.nksum;
  out->kernels = ctx->ob.ksum;
  out->nworkers = ctx->ob.nwsum;
  out->workers = ctx->ob.wsum;
  return DAGR_OK;
}

static int summary_print(const dagr_ctx_t *ctx, FILE *out) {
  dagr_summary_t s;
  if (!out) return DAGR_EINVAL;
  int rc = summary_of(ctx, &s);
  if (rc) return rc;
  fprintf(out,
          "dagr summary: %llu tasks in %.3f s (plan %.3f s, run %.3f s), critical path %.3f s, ",
          (unsigned long long)s.stats.tasks, s.stats.seconds, s.stats.plan_seconds,
          s.stats.run_seconds, s.critical_path_seconds);
  print_bytes(out, s.stats.bytes_fetched);
  fputs(" moved between workers, ", out);
  print_bytes(out, s.stats.bytes_spilled);
  fputs(" spilled\n", out);
  fprintf(out, "  %-24s %10s %12s %10s\n", "kernel", "tasks", "seconds", "mean ms");
  for (size_t k = 0; k < s.nkernels; k++)
    fprintf(out, "  %-24s %10llu %12.4f %10.4f\n", s.kernels[k].kernel,
            (unsigned long long)s.kernels[k].tasks, s.kernels[k].seconds,
            s.kernels[k].tasks ? 1e3 * s.kernels[k].seconds / (double)s.kernels[k].tasks : 0.0);
  for (size_t w = 0; w < s.nworkers; w++)
    fprintf(out, "  worker rank %d: %d threads, %llu tasks, busy %.4f s (%.1f%%)\n",
            s.workers[w].rank, s.workers[w].threads, (unsigned long long)s.workers[w].tasks,
            s.workers[w].busy_seconds, 100.0 * s.workers[w].busy_fraction);
  return DAGR_OK;
}

int dagr_callbacks_add(dagr_ctx_t *ctx, const dagr_callbacks_t *cb, int *id) {
  if (!ctx || !cb) return DAGR_EINVAL;
  int rc = driver_call(ctx, "dagr_callbacks_add");
  if (rc) return rc;
  dagr__observe *ob = &ctx->ob;
  if (ob->ncbs == ob->cap_cbs) {
    int cap = ob->cap_cbs ? ob->cap_cbs * 2 : 4;
    dagr_callbacks_t *c = realloc(ob->cbs, (size_t)cap * sizeof *c);
    if (!c) return DAGR_ENOMEM;
    ob->cbs = c;
    int *ids = realloc(ob->cb_ids, (size_t)cap * sizeof *ids);
    if (!ids) return DAGR_ENOMEM;
    ob->cb_ids = ids;
    ob->cap_cbs = cap;
  }
  ob->cbs[ob->ncbs] = *cb;
  ob->cb_ids[ob->ncbs] = ++ob->next_id;
  ob->ncbs++;
  if (id) *id = ob->next_id;
  return DAGR_OK;
}

int dagr_callbacks_remove(dagr_ctx_t *ctx, int id) {
  if (!ctx) return DAGR_EINVAL;
  int rc = driver_call(ctx, "dagr_callbacks_remove");
  if (rc) return rc;
  dagr__observe *ob = &ctx->ob;
  for (int i = 0; i < ob->ncbs; i++)
    if (ob->cb_ids[i] == id) {
      memmove(&ob->cbs[i], &ob->cbs[i + 1], (size_t)(ob->ncbs - i - 1) * sizeof *ob->cbs);
      memmove(&ob->cb_ids[i], &ob->cb_ids[i + 1], (size_t)(ob->ncbs - i - 1) * sizeof *ob->cb_ids);
      ob->ncbs--;
      return DAGR_OK;
    }
  return dagr__errf(ctx->err, sizeof ctx->err, DAGR_ENOKEY, "no callbacks registered as id %d", id);
}

int dagr_last_summary(const dagr_ctx_t *ctx, dagr_summary_t *out) {
  if (ctx && ctx->in_get) return DAGR_ESTATE; /* from a callback: the run is not summed yet */
  return summary_of(ctx, out);
}

int dagr_summary_print(const dagr_ctx_t *ctx, FILE *out) {
  if (ctx && ctx->in_get) return DAGR_ESTATE;
  return summary_print(ctx, out);
}
