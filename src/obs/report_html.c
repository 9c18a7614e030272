/* report_html.c: the self-contained HTML performance report of a session (DAGR_REPORT). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/obs.h"
#include "obs/ofile.h"

/* The page must stay small and quick to write whatever the session held (millions of 1 us
 * tasks): past these budgets the task stream, the store samples and the tables are drawn
 * aggregated or cut, and a note says so. */
#define EXACT_MAX       20000  /* stream items (tasks, transfers, spill I/O) drawn one by one */
#define AGG_CELLS       120000 /* rows x time columns of the aggregated stream */
#define AGG_MAX_BINS    1500
#define AGG_MIN_BINS    64
#define MAX_THREAD_ROWS 256     /* more and the stream has one row per worker */
#define MAX_ROWS        512     /* more and the stream has no transfer rows */
#define EXACT_BYTES     4000000 /* estimated size of the stream drawn one by one */
#define UTIL_BINS       300
#define MEM_CELLS       300000 /* workers x time columns of the store-use chart */
#define MEM_MAX_BINS    1500
#define KEY_SHOW        160 /* bytes of a key shown in a tooltip (keys may be 1 MiB) */
#define NAME_SHOW       80
#define TOP_KERNELS     20
#define LEGEND_MAX      30
#define MAX_RUN_ROWS    50
#define MAX_MATRIX      32
#define MAX_WORKER_ROWS 32
#define MAX_LINES       10 /* workers drawn as their own line; more are summarised by a band */
#define MAX_RUN_MARKS   500

/* SVG geometry, in viewBox units (the SVGs scale to the page width). */
#define SVG_W  1240
#define PLOT_L 150
#define PLOT_W 1070
#define AXIS_H 34

typedef struct kstat {
  uint64_t tasks;
  double sec;
} kstat;

typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

/* Everything derived from the record before writing; one per call. */
typedef struct rep {
  FILE *f;
  const dagr__obs *o;
  int oom;
  /* the time axis: microseconds since dagr_init, covering every run and event */
  double t_lo, t_hi, span, xs;
  int has_time;
  /* kernels: stats by kernel id, colour index by id (-1 unused), used ids by time */
  size_t nk;
  kstat *ks;
  int *kcol;
  int *korder;
  int nkused;
  char (*colors)[8];
  /* workers and stream rows */
  int nw;
  int *wthreads; /* threads of worker w: declared, or more if events name more */
  int *row0;     /* its first stream row */
  int *iorow;    /* its transfer / spill row, -1 if it has none */
  int nrows, merged, rh, top, io_hidden;
  size_t nslices_ok, nxfers_ok, nios_ok, nmems_ok;
  int has_xfer, has_spill, has_restore;
  /* totals */
  uint64_t tasks, moved, spilled, restored, xfer_bytes;
  double wall_us, cp_s, busy_us, ksec;
  int cp_run, runs_failed, threads_total;
  uint64_t peak_mem;
} rep;

/* --- output helpers ------------------------------------------------------------------------ */

static void P(rep *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void P(rep *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(r->f, fmt, ap);
  va_end(ap);
}

static void S(rep *r, const char *s) {
  fputs(s, r->f);
}

static void sb_printf(rep *r, sbuf *b, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sb_printf(rep *r, sbuf *b, const char *fmt, ...) {
  if (r->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->n;
    int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if (b->p && (size_t)k < room) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap - b->n <= (size_t)k) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      r->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if it is not valid or is a C1
 * control (U+0080..U+009F: an HTML parse error). */
static size_t utf8_len(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t len;
  unsigned lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4;
  else
    return 0;
  if (c == 0xc2) lo = 0xa0;
  if (c == 0xe0) lo = 0xa0;
  if (c == 0xed) hi = 0x9f;
  if (c == 0xf0) lo = 0x90;
  if (c == 0xf4) hi = 0x8f;
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (p[i] < 0x80 || p[i] > 0xbf) return 0;
  return len;
}

/* Writes n bytes of arbitrary text as HTML text or attribute content: markup characters become
 * entities, control characters "\xNN", invalid UTF-8 U+FFFD; more than max bytes end in an
 * ellipsis (cut at a character boundary). */
static void put_esc(rep *r, const char *s, size_t n, size_t max) {
  FILE *f = r->f;
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (i >= max) {
      fputs("\xe2\x80\xa6", f);
      return;
    }
    unsigned c = p[i];
    if (c < 0x80) {
      switch (c) {
      case '&':
        fputs("&amp;", f);
        break;
      case '<':
        fputs("&lt;", f);
        break;
      case '>':
        fputs("&gt;", f);
        break;
      case '"':
        fputs("&quot;", f);
        break;
      case '\'':
        fputs("&#39;", f);
        break;
      default:
        if (c < 0x20 || c == 0x7f)
          fprintf(f, "\\x%02x", c);
        else
          fputc((int)c, f);
      }
      i++;
      continue;
    }
    size_t len = utf8_len(p + i, n - i);
    if (!len) {
      fputs("\xef\xbf\xbd", f);
      i++;
      continue;
    }
    fwrite(p + i, 1, len, f);
    i += len;
  }
}

static void put_escz(rep *r, const char *s, size_t max) {
  put_esc(r, s, strlen(s), max);
}

/* The key at a string-arena offset, bounded by the arena (the record may be inconsistent). */
static const char *key_at(const dagr__obs *o, uint32_t off, size_t *len) {
  if (!o->strings || off >= o->strings_len) {
    *len = 1;
    return "?";
  }
  *len = strnlen(o->strings + off, o->strings_len - off);
  return o->strings + off;
}

static void put_key(rep *r, uint32_t off) {
  size_t n;
  const char *k = key_at(r->o, off, &n);
  put_esc(r, k, n, KEY_SHOW);
}

static void put_kname(rep *r, size_t id) {
  const dagr__obs *o = r->o;
  if (id < (size_t)(o->nkernels > 0 ? o->nkernels : 0) && o->kernel_names && o->kernel_names[id])
    put_escz(r, o->kernel_names[id], NAME_SHOW);
  else
    P(r, "kernel #%zu", id);
}

static void put_host(rep *r, const char *h) {
  put_esc(r, h, strnlen(h, 64), 64);
}

/* "1,234,567" */
static const char *fmt_count(char *buf, uint64_t v) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  int o = 0;
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = 0;
  return buf;
}

static const char *fmt_bytes(char *buf, double b) {
  static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int i = 0;
  if (!(b >= 0)) b = 0;
  while (b >= 1024 && i < 5) {
    b /= 1024;
    i++;
  }
  if (i == 0)
    snprintf(buf, 32, "%.0f B", b);
  else
    snprintf(buf, 32, b < 10 ? "%.2f %s" : b < 100 ? "%.1f %s" : "%.0f %s", b, u[i]);
  return buf;
}

static const char *fmt_dur(char *buf, double us) {
  if (!(us >= 0) || !isfinite(us)) us = 0;
  if (us < 1)
    snprintf(buf, 32, "%.2f us", us);
  else if (us < 1e3)
    snprintf(buf, 32, "%.1f us", us);
  else if (us < 1e6)
    snprintf(buf, 32, "%.2f ms", us / 1e3);
  else if (us < 1e9)
    snprintf(buf, 32, "%.2f s", us / 1e6);
  else
    snprintf(buf, 32, "%.0f s", us / 1e6);
  return buf;
}

static double clampd(double v, double lo, double hi) {
  return v < lo ? lo : v > hi ? hi : v;
}
static double pct(double a, double b) {
  return b > 0 ? clampd(100.0 * a / b, 0, 1e9) : 0;
}

/* --- colours ------------------------------------------------------------------------------- */

/* Tableau 20: distinct, print-safe; the most expensive kernels get the strongest colours. */
static const char *const palette[20] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
                                        "#a0cbe8", "#ffbe7d", "#8cd17d", "#b6992d", "#499894",
                                        "#86bcb6", "#f1ce63", "#d37295", "#fabfd2", "#d4a6c8"};
/* Transfer, spill and restore slices: outside the kernel palette. */
static const char *const io_colors[3] = {"#c0392b", "#52606d", "#7b3fa0"};
static const char *const io_names[3] = {"transfer", "spill", "restore"};
static const char *const worker_palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                               "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                               "#bcbd22", "#17becf"};

/* Colour i of an unbounded sequence: the palette, then hues spaced by the golden angle. */
static void color_of(int i, char out[8]) {
  if (i < 20) {
    memcpy(out, palette[i], 8);
    return;
  }
  double h = fmod((double)i * 137.508, 360.0) / 60.0, s = 0.55, l = 0.52;
  double c = (1 - fabs(2 * l - 1)) * s, x = c * (1 - fabs(fmod(h, 2) - 1)), m = l - c / 2;
  double rgb[3] = {0, 0, 0};
  int sector = (int)h % 6;
  static const int pick[6][3] = {{0, 1, 2}, {1, 0, 2}, {2, 0, 1}, {2, 1, 0}, {1, 2, 0}, {0, 2, 1}};
  double vals[3] = {c, x, 0};
  for (int k = 0; k < 3; k++) rgb[k] = vals[pick[sector][k]];
  snprintf(out, 8, "#%02x%02x%02x", (unsigned)lround((rgb[0] + m) * 255),
           (unsigned)lround((rgb[1] + m) * 255), (unsigned)lround((rgb[2] + m) * 255));
}

static const char *wcolor(int w) {
  return worker_palette[w % 10];
}

/* --- validity of records (the writer must survive any input) ------------------------------- */

/* A usable time: finite and within 30 years of dagr_init, so that differences of times stay
 * finite and convert to pixel columns without overflow. */
static int tok(double t) {
  return isfinite(t) && fabs(t) < 1e15;
}

static int slice_ok(const rep *r, const dagr__obs_slice *s) {
  return s->worker >= 0 && s->worker < r->nw && tok(s->ts);
}
static double dur_of(double d) {
  return isfinite(d) && d > 0 ? (d < 1e15 ? d : 1e15) : 0;
}
static int wk_ok(const rep *r, int32_t w) {
  return w >= 0 && w < r->nw;
}

/* --- preparation --------------------------------------------------------------------------- */

static void extend(rep *r, double t0, double t1) {
  if (!tok(t0)) return;
  if (!(t1 >= t0)) t1 = t0;
  if (!r->has_time) {
    r->t_lo = t0;
    r->t_hi = t1;
    r->has_time = 1;
    return;
  }
  if (t0 < r->t_lo) r->t_lo = t0;
  if (t1 > r->t_hi) r->t_hi = t1;
}

typedef struct kord {
  double sec;
  uint64_t tasks;
  int id;
} kord;

/* Most time first, then most tasks, then kernel id: a stable colour for each kernel. */
static int by_kernel_time(const void *a, const void *b) {
  const kord *x = a, *y = b;
  if (x->sec != y->sec) return x->sec > y->sec ? -1 : 1;
  if (x->tasks != y->tasks) return x->tasks > y->tasks ? -1 : 1;
  return x->id - y->id;
}

static int prepare(rep *r) {
  const dagr__obs *o = r->o;
  r->nw = o->nworkers > 0 && o->workers ? o->nworkers : 0;
  size_t nsl = o->slices ? o->nslices : 0;
  size_t nw = (size_t)r->nw;

  /* Time bounds over everything recorded. */
  for (size_t i = 0; o->runs && i < o->nruns; i++)
    extend(r, o->runs[i].ts, o->runs[i].ts + dur_of(o->runs[i].dur));
  for (size_t i = 0; i < nsl; i++)
    if (slice_ok(r, &o->slices[i])) {
      extend(r, o->slices[i].ts, o->slices[i].ts + dur_of(o->slices[i].dur));
      r->nslices_ok++;
    }
  for (size_t i = 0; o->xfers && i < o->nxfers; i++)
    if (wk_ok(r, o->xfers[i].dst) && tok(o->xfers[i].ts)) {
      extend(r, o->xfers[i].ts, o->xfers[i].ts + dur_of(o->xfers[i].dur));
      r->nxfers_ok++;
      r->has_xfer = 1;
      r->xfer_bytes += o->xfers[i].bytes;
    }
  for (size_t i = 0; o->ios && i < o->nios; i++)
    if (wk_ok(r, o->ios[i].worker) && tok(o->ios[i].ts)) {
      extend(r, o->ios[i].ts, o->ios[i].ts + dur_of(o->ios[i].dur));
      r->nios_ok++;
      if (o->ios[i].kind == DAGR__OBS_RESTORE) {
        r->has_restore = 1;
        r->restored += o->ios[i].bytes;
      } else
        r->has_spill = 1;
    }
  for (size_t i = 0; o->mems && i < o->nmems; i++)
    if (wk_ok(r, o->mems[i].worker) && tok(o->mems[i].ts)) {
      extend(r, o->mems[i].ts, o->mems[i].ts);
      r->nmems_ok++;
      if (o->mems[i].bytes > r->peak_mem) r->peak_mem = o->mems[i].bytes;
    }
  if (r->has_time) {
    r->span = r->t_hi - r->t_lo;
    if (!(r->span >= 1)) r->span = 1; /* one microsecond at least: no division by zero */
    r->t_hi = r->t_lo + r->span;
    r->xs = PLOT_W / r->span;
  }

  /* Kernels: the per-kernel sums if kept, else from the slices. */
  size_t nk = o->nkernels > 0 ? (size_t)o->nkernels : 0;
  for (size_t i = 0; i < nsl; i++)
    if (o->slices[i].kernel >= nk) nk = (size_t)o->slices[i].kernel + 1;
  r->nk = nk;
  r->ks = calloc(nk ? nk : 1, sizeof *r->ks);
  r->kcol = malloc((nk ? nk : 1) * sizeof *r->kcol);
  r->korder = malloc((nk ? nk : 1) * sizeof *r->korder);
  if (!r->ks || !r->kcol || !r->korder) return DAGR_ENOMEM;
  int have_sums = 0;
  for (int i = 0; o->kernels && i < o->nkernels; i++) {
    r->ks[i].tasks = o->kernels[i].tasks;
    r->ks[i].sec = isfinite(o->kernels[i].seconds) ? o->kernels[i].seconds : 0;
    if (r->ks[i].tasks) have_sums = 1;
  }
  unsigned char *seen = calloc(nk ? nk : 1, 1);
  if (!seen) return DAGR_ENOMEM;
  for (size_t i = 0; i < nsl; i++) {
    const dagr__obs_slice *s = &o->slices[i];
    seen[s->kernel] = 1;
    if (!have_sums && slice_ok(r, s)) {
      r->ks[s->kernel].tasks++;
      r->ks[s->kernel].sec += dur_of(s->dur) / 1e6;
    }
  }
  for (size_t k = 0; k < nk; k++) {
    r->kcol[k] = -1;
    if (r->ks[k].tasks || seen[k]) r->korder[r->nkused++] = (int)k;
    r->ksec += r->ks[k].sec;
  }
  free(seen);
  kord *ko = malloc(((size_t)r->nkused + 1) * sizeof *ko);
  if (!ko) return DAGR_ENOMEM;
  for (int i = 0; i < r->nkused; i++)
    ko[i] = (kord){r->ks[r->korder[i]].sec, r->ks[r->korder[i]].tasks, r->korder[i]};
  qsort(ko, (size_t)r->nkused, sizeof *ko, by_kernel_time);
  for (int i = 0; i < r->nkused; i++) r->korder[i] = ko[i].id;
  free(ko);
  r->colors = malloc(((size_t)r->nkused + 3) * sizeof *r->colors);
  if (!r->colors) return DAGR_ENOMEM;
  for (int i = 0; i < r->nkused; i++) {
    r->kcol[r->korder[i]] = i;
    color_of(i, r->colors[i]);
  }
  for (int c = 0; c < 3; c++) memcpy(r->colors[r->nkused + c], io_colors[c], 8);

  /* Workers: thread rows (more than declared if events name more), then a transfer/spill row. */
  r->wthreads = calloc(nw ? nw : 1, sizeof *r->wthreads);
  r->row0 = calloc(nw ? nw : 1, sizeof *r->row0);
  r->iorow = calloc(nw ? nw : 1, sizeof *r->iorow);
  if (!r->wthreads || !r->row0 || !r->iorow) return DAGR_ENOMEM;
  for (size_t w = 0; w < nw; w++) {
    int t = o->workers[w].threads;
    r->wthreads[w] = t > 0 && t < 65536 ? t : 1;
    r->iorow[w] = -1;
  }
  for (size_t i = 0; i < nsl; i++) {
    const dagr__obs_slice *s = &o->slices[i];
    if (slice_ok(r, s) && s->thread >= r->wthreads[s->worker])
      r->wthreads[s->worker] = s->thread + 1;
  }
  for (size_t i = 0; o->xfers && i < o->nxfers; i++)
    if (wk_ok(r, o->xfers[i].dst)) r->iorow[o->xfers[i].dst] = 1;
  for (size_t i = 0; o->ios && i < o->nios; i++)
    if (wk_ok(r, o->ios[i].worker)) r->iorow[o->ios[i].worker] = 1;
  long long thread_rows = 0;
  for (size_t w = 0; w < nw; w++) {
    thread_rows += r->wthreads[w];
    r->threads_total += o->workers[w].threads > 0 ? o->workers[w].threads : 0;
  }
  r->merged = thread_rows > MAX_THREAD_ROWS;
  /* Transfer rows too, unless there are so many rows that they would crowd out the tasks. */
  long long rows = r->merged ? (long long)nw : thread_rows;
  for (size_t w = 0; w < nw; w++) rows += r->iorow[w] >= 0;
  if (rows > MAX_ROWS) {
    for (size_t w = 0; w < nw; w++)
      if (r->iorow[w] >= 0) r->io_hidden = 1, r->iorow[w] = -1;
  }
  int row = 0;
  for (size_t w = 0; w < nw; w++) {
    r->row0[w] = row;
    row += r->merged ? 1 : r->wthreads[w];
    if (r->iorow[w] >= 0) r->iorow[w] = row++;
  }
  r->nrows = row;
  int rh = row ? 640 / row : 20;
  r->rh = rh < 1 ? 1 : rh > 20 ? 20 : rh;
  r->top = 22;

  /* Run facts: sums over the runs; the critical path of the session is the longest run's. */
  r->cp_run = -1;
  for (size_t i = 0; o->runs && i < o->nruns; i++) {
    const dagr__obs_run *u = &o->runs[i];
    r->tasks += u->tasks;
    r->moved += u->bytes_moved;
    r->spilled += u->bytes_spilled;
    r->wall_us += dur_of(u->dur);
    if (isfinite(u->critical_path_s) && u->critical_path_s > r->cp_s) {
      r->cp_s = u->critical_path_s;
      r->cp_run = (int)i;
    }
    if (u->status != DAGR_OK) r->runs_failed++;
  }
  if (!o->runs || !o->nruns) {
    for (size_t k = 0; k < nk; k++) r->tasks += r->ks[k].tasks;
    r->moved = r->xfer_bytes;
  }
  /* Busy time: the workers' sums if kept, else the slices'. */
  for (size_t w = 0; w < nw; w++)
    if (isfinite(o->workers[w].busy_us) && o->workers[w].busy_us > 0)
      r->busy_us += o->workers[w].busy_us;
  if (r->busy_us <= 0)
    for (size_t i = 0; i < nsl; i++)
      if (slice_ok(r, &o->slices[i])) r->busy_us += dur_of(o->slices[i].dur);
  if (r->threads_total == 0)
    for (size_t w = 0; w < nw; w++) r->threads_total += r->wthreads[w];
  return DAGR_OK;
}

/* Wall time used for busy fractions: the runs' total, or the recorded span without runs. */
static double busy_wall(const rep *r) {
  return r->wall_us > 0 ? r->wall_us : r->span;
}

static double worker_busy(const rep *r, int w) {
  double b = r->o->workers[w].busy_us;
  return isfinite(b) && b > 0 ? b : 0;
}

/* --- axes ---------------------------------------------------------------------------------- */

static double X(const rep *r, double t) {
  return clampd(PLOT_L + (t - r->t_lo) * r->xs, PLOT_L, PLOT_L + PLOT_W);
}

static double nice_step(double range, int target) {
  double raw = range / target;
  if (!(raw > 0)) return 1;
  double p = pow(10, floor(log10(raw))), m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Vertical grid lines and labels of the time axis (time since t_lo), labels below y1. */
static void time_axis(rep *r, int y0, int y1) {
  double step = nice_step(r->span, 10), div = 1;
  const char *unit = "us";
  if (step >= 1e6)
    div = 1e6, unit = "s";
  else if (step >= 1e3)
    div = 1e3, unit = "ms";
  double sd = step / div;
  int dec = sd >= 1 ? 0 : (int)ceil(-log10(sd) - 1e-9);
  if (dec > 6) dec = 6;
  S(r, "<g class=\"ax\">");
  for (int i = 0; i <= 20; i++) {
    double t = i * step;
    if (t > r->span * (1 + 1e-9)) break;
    double x = PLOT_L + t * r->xs;
    P(r, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, y0, x, y1);
    P(r, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f %s</text>", x, y1 + 14, dec,
      t / div, unit);
  }
  P(r, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", PLOT_L, y1,
    PLOT_L + PLOT_W, y1);
  S(r, "</g>");
}

/* Light dashed lines where runs begin, labelled "run i" when there is room. */
static void run_marks(rep *r, int y0, int y1, int labels) {
  const dagr__obs *o = r->o;
  if (!o->runs || o->nruns == 0 || !r->has_time) return;
  S(r, "<g class=\"runs\">");
  long last = -1000000;
  size_t drawn = 0;
  for (size_t i = 0; i < o->nruns && drawn < MAX_RUN_MARKS; i++) {
    const dagr__obs_run *u = &o->runs[i];
    if (!tok(u->ts)) continue;
    double x = X(r, u->ts), x1 = X(r, u->ts + dur_of(u->dur));
    if (lround(x) == last) continue; /* one mark per pixel when runs are dense */
    last = lround(x);
    drawn++;
    P(r, "<line class=\"runline\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, y0 - 4, x, y1);
    if (o->nruns <= 60)
      P(r, "<line class=\"runend\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x1, y0, x1, y1);
    if (labels && o->nruns <= 60 && x1 - x >= 36)
      P(r, "<text class=\"runlbl\" x=\"%.1f\" y=\"%d\">run %zu</text>", x + 3, y0 - 6, i);
  }
  S(r, "</g>");
}

/* --- the page ------------------------------------------------------------------------------ */

static const char css[] =
    ":root{--fg:#1f2933;--mut:#616e7c;--line:#e4e7eb;--bg:#f3f5f8;--acc:#3b5b8f}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"
    "\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,\"Noto Sans\",\"Liberation Sans\",sans-serif}"
    "header{background:linear-gradient(90deg,#1d2b45,#2f4a74);color:#fff;padding:20px 32px}"
    "header h1{margin:0;font-size:22px;font-weight:600;letter-spacing:.01em}"
    "header p{margin:4px 0 0;color:#c9d3e3;font-size:13px}"
    "main{max-width:1320px;margin:0 auto;padding:18px 24px 36px}"
    "section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 20px;"
    "margin:0 0 16px;box-shadow:0 1px 2px rgba(16,24,40,.05);overflow-x:auto}"
    "h2{font-size:16px;margin:0 0 2px;font-weight:600}"
    "h3{font-size:13px;margin:14px 0 6px;color:var(--mut);font-weight:600}"
    ".note{color:var(--mut);font-size:12.5px;margin:2px 0 10px}"
    ".empty{color:var(--mut);font-style:italic;padding:18px 0}"
    ".banner{background:#fff8e1;border:1px solid #f0d98c;border-radius:10px;padding:12px 18px;"
    "margin:0 0 16px}"
    ".cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin:0 0 16px}"
    ".card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:10px 16px;"
    "border-top:3px solid var(--acc)}"
    ".card b{display:block;font-size:21px;font-weight:600;white-space:nowrap}"
    ".card span{color:var(--mut);font-size:11.5px;text-transform:uppercase;letter-spacing:.05em}"
    ".two{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,3fr);gap:16px}"
    ".half{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}"
    ".two>section{margin:0 0 16px}"
    "table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}"
    "th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:right;"
    "white-space:nowrap}"
    "th:first-child,td:first-child{text-align:left}"
    "thead th{color:var(--mut);font-weight:600;font-size:12px;border-bottom:2px solid var(--line)}"
    "table.kv th{text-align:left;color:var(--mut);font-weight:500}"
    "table.kv td{text-align:left;white-space:normal}"
    "td.name{text-align:left;max-width:360px;overflow:hidden;text-overflow:ellipsis}"
    "table.mx td{text-align:center;min-width:64px}table.mx th{text-align:center}"
    "table.mx td.tot,table.mx th.tot{background:#f7f9fc;font-weight:600}"
    ".bar{display:inline-block;height:9px;border-radius:4px;background:#edf0f4;width:120px;"
    "vertical-align:middle;margin-left:8px;overflow:hidden}"
    ".bar i{display:block;height:100%;background:var(--acc);border-radius:4px}"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px;margin:6px 0 10px}"
    ".legend>span{white-space:nowrap}"
    ".sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;"
    "vertical-align:-1px}"
    ".ln{display:inline-block;width:16px;height:3px;margin-right:6px;vertical-align:3px}"
    "svg{display:block;width:100%;height:auto}"
    "svg text{font-family:inherit;font-size:11px;fill:#52606d}"
    "svg .lbl{fill:#323f4b}svg .wlbl{fill:#323f4b;font-weight:600}"
    ".grid{stroke:#e4e7eb;stroke-width:1}.axis{stroke:#9aa5b1;stroke-width:1}"
    ".rowa{fill:#f5f7fa}.rowb{fill:#fff}.rowio{fill:#fcf6ee}"
    ".wsep{stroke:#cbd2d9;stroke-width:1}"
    ".runline{stroke:#7b8794;stroke-dasharray:4 3;stroke-width:1}"
    ".runend{stroke:#bcccdc;stroke-dasharray:2 3;stroke-width:1}"
    "svg .runlbl{fill:#7b8794;font-size:10.5px}"
    ".fail{stroke:#b00020;stroke-width:1.2}"
    ".q1{fill-opacity:.3}.q2{fill-opacity:.55}.q3{fill-opacity:.8}.q4{fill-opacity:1}"
    ".util{fill:#4e79a7;fill-opacity:.25;stroke:#3b5b8f;stroke-width:1.2}"
    ".band{fill:#f28e2b;fill-opacity:.18}"
    ".wl{fill:none;stroke-width:1.4;stroke-linejoin:round}"
    ".cap{stroke-dasharray:6 4;stroke-width:1;fill:none}"
    "footer{color:var(--mut);font-size:12px;text-align:center;padding:6px 0 20px}";

static void w_head(rep *r, int empty) {
  const dagr__obs *o = r->o;
  S(r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       "<title>dagr performance report</title>\n<style>");
  S(r, css);
  S(r, "</style>\n</head>\n<body>\n<header><h1>dagr performance report</h1><p>");
  P(r, "%d rank%s &middot; %d worker%s &middot; %d thread%s &middot; scheduler on ", o->nranks,
    o->nranks == 1 ? "" : "s", r->nw, r->nw == 1 ? "" : "s", r->threads_total,
    r->threads_total == 1 ? "" : "s");
  put_host(r, o->host0[0] ? o->host0 : "?");
  char when[64] = "";
  time_t now = time(NULL);
  struct tm tm;
  if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", &tm);
  P(r, " &middot; written %s by dagr %d.%d.%d</p></header>\n<main>\n", when, DAGR_VERSION_MAJOR,
    DAGR_VERSION_MINOR, DAGR_VERSION_PATCH);
  if (empty)
    S(r, "<div class=\"banner\" id=\"nothing\"><b>Nothing was recorded in this session.</b> "
         "No dagr_get ran, or no task reached a worker; the sections below are empty.</div>\n");
}

static void card(rep *r, const char *label, const char *value) {
  P(r, "<div class=\"card\"><span>%s</span><b>%s</b></div>", label, value);
}

static void w_cards(rep *r) {
  char b[64];
  S(r, "<div class=\"cards\">");
  card(r, "wall time", fmt_dur(b, r->wall_us > 0 ? r->wall_us : r->has_time ? r->span : 0));
  card(r, "tasks", fmt_count(b, r->tasks));
  snprintf(b, sizeof b, "%.1f %%", pct(r->busy_us, busy_wall(r) * r->threads_total));
  card(r, "worker busy", b);
  card(r, "bytes moved", fmt_bytes(b, (double)r->moved));
  card(r, "spilled", fmt_bytes(b, (double)r->spilled));
  card(r, "critical path", fmt_dur(b, r->cp_s * 1e6));
  S(r, "</div>\n");
}

static int cmp_str(const void *a, const void *b) {
  return strncmp(*(const char *const *)a, *(const char *const *)b, 64);
}

static void w_facts(rep *r) {
  const dagr__obs *o = r->o;
  char b[64], c[64], d[64], e[64];
  size_t nruns = o->runs ? o->nruns : 0;
  S(r, "<section id=\"facts\"><h2>Run facts</h2><p class=\"note\">Sums over the session's ");
  P(r, "%zu run%s (dagr_get calls).</p>\n<table class=\"kv\">\n", nruns, nruns == 1 ? "" : "s");

  /* Hosts: distinct names over the scheduler and the workers. */
  size_t nh = (size_t)r->nw + 1;
  const char **hs = malloc(nh * sizeof *hs);
  size_t distinct = 0;
  if (hs) {
    hs[0] = o->host0;
    for (int w = 0; w < r->nw; w++) hs[w + 1] = o->workers[w].host;
    qsort(hs, nh, sizeof *hs, cmp_str);
    for (size_t i = 0; i < nh; i++)
      if (i == 0 || strncmp(hs[i], hs[i - 1], 64) != 0) hs[distinct++] = hs[i];
  } else
    r->oom = 1;
  P(r, "<tr><th>ranks</th><td data-value=\"%d\">%d (scheduler + %d worker%s)</td></tr>\n",
    o->nranks, o->nranks, r->nw, r->nw == 1 ? "" : "s");
  P(r, "<tr><th>hosts</th><td data-value=\"%zu\">%zu", distinct, distinct);
  for (size_t i = 0; i < distinct && i < 6; i++) {
    S(r, i ? ", " : ": ");
    put_host(r, hs[i][0] ? hs[i] : "?");
  }
  if (distinct > 6) S(r, ", &hellip;");
  S(r, "</td></tr>\n");
  free(hs);
  int tmin = 0, tmax = 0;
  for (int w = 0; w < r->nw; w++) {
    int t = o->workers[w].threads;
    if (w == 0 || t < tmin) tmin = t;
    if (w == 0 || t > tmax) tmax = t;
  }
  P(r, "<tr><th>threads</th><td data-value=\"%d\">%d", r->threads_total, r->threads_total);
  if (r->nw > 0 && tmin == tmax)
    P(r, " (%d per worker)", tmin);
  else if (r->nw > 0)
    P(r, " (%d to %d per worker)", tmin, tmax);
  S(r, "</td></tr>\n");
  P(r, "<tr><th>runs</th><td data-value=\"%zu\">%zu", nruns, nruns);
  if (r->runs_failed) P(r, " (%d failed)", r->runs_failed);
  S(r, "</td></tr>\n");
  P(r, "<tr><th>tasks</th><td data-value=\"%llu\">%s</td></tr>\n", (unsigned long long)r->tasks,
    fmt_count(b, r->tasks));
  P(r, "<tr><th>bytes moved</th><td data-value=\"%llu\">%s (%s bytes", (unsigned long long)r->moved,
    fmt_bytes(b, (double)r->moved), fmt_count(c, r->moved));
  if (r->nxfers_ok) P(r, ", %s transfers", fmt_count(b, r->nxfers_ok));
  S(r, ")</td></tr>\n");
  P(r, "<tr><th>spilled</th><td data-value=\"%llu\">%s (%s bytes)</td></tr>\n",
    (unsigned long long)r->spilled, fmt_bytes(b, (double)r->spilled), fmt_count(c, r->spilled));
  if (r->has_restore)
    P(r, "<tr><th>restored</th><td data-value=\"%llu\">%s</td></tr>\n",
      (unsigned long long)r->restored, fmt_bytes(b, (double)r->restored));
  P(r, "<tr><th>wall time</th><td data-value=\"%.6f\">%s", r->wall_us / 1e6,
    fmt_dur(b, r->wall_us));
  if (nruns > 1) S(r, " (sum of the runs)");
  S(r, "</td></tr>\n");
  P(r, "<tr><th>critical path</th><td data-value=\"%.6f\">%s", r->cp_s, fmt_dur(b, r->cp_s * 1e6));
  if (nruns > 1 && r->cp_run >= 0) P(r, " (longest, run %d)", r->cp_run);
  S(r, "</td></tr>\n");
  P(r, "<tr><th>worker busy</th><td data-value=\"%.6f\">%s of thread time (%.1f %%)</td></tr>\n",
    r->busy_us / 1e6, fmt_dur(b, r->busy_us), pct(r->busy_us, busy_wall(r) * r->threads_total));
  if (r->nw > 0) {
    uint64_t smin = o->workers[0].store_bytes, smax = smin;
    for (int w = 1; w < r->nw; w++) {
      if (o->workers[w].store_bytes < smin) smin = o->workers[w].store_bytes;
      if (o->workers[w].store_bytes > smax) smax = o->workers[w].store_bytes;
    }
    P(r, "<tr><th>store size</th><td>%s", fmt_bytes(b, (double)smin));
    if (smax != smin) P(r, " to %s", fmt_bytes(c, (double)smax));
    S(r, " per worker");
    if (r->nmems_ok) P(r, " (peak use %s)", fmt_bytes(b, (double)r->peak_mem));
    S(r, "</td></tr>\n");
  }
  P(r,
    "<tr><th>recorded</th><td>%s task slices, %s transfers, %s spill I/O, %s store samples"
    "</td></tr>\n",
    fmt_count(b, r->nslices_ok), fmt_count(c, r->nxfers_ok), fmt_count(d, r->nios_ok),
    fmt_count(e, r->nmems_ok));
  S(r, "</table>\n</section>\n");
}

static void w_runs(rep *r) {
  const dagr__obs *o = r->o;
  size_t n = o->runs ? o->nruns : 0;
  char a[32], b[32], c[32], d[32], e[32], g[32];
  S(r, "<section id=\"runs\"><h2>Runs</h2>");
  if (!n) {
    S(r, "<p class=\"empty\">No run was recorded.</p></section>\n");
    return;
  }
  S(r, "<p class=\"note\">One row per dagr_get; start is the time since dagr_init");
  if (n > MAX_RUN_ROWS) P(r, " (the first %d of %zu runs)", MAX_RUN_ROWS, n);
  S(r, ".</p>\n");
  S(r, "<table><thead><tr><th>run</th><th>start</th><th>wall</th><th>tasks</th><th>moved</th>"
       "<th>spilled</th><th>critical path</th><th>status</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < n && i < MAX_RUN_ROWS; i++) {
    const dagr__obs_run *u = &o->runs[i];
    P(r, "<tr><td>%zu</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>", i,
      fmt_dur(a, tok(u->ts) ? u->ts : 0), fmt_dur(b, dur_of(u->dur)), fmt_count(c, u->tasks),
      fmt_bytes(d, (double)u->bytes_moved), fmt_bytes(e, (double)u->bytes_spilled),
      fmt_dur(g, isfinite(u->critical_path_s) ? u->critical_path_s * 1e6 : 0));
    /* The code's name in the cell, its description in the tooltip: the table stays narrow. */
    const char *msg = u->status == DAGR_OK ? "ok" : dagr_strerror(u->status);
    if (!msg) msg = "?";
    const char *colon = strchr(msg, ':');
    S(r, "<td title=\"");
    put_escz(r, msg, 200);
    S(r, "\">");
    put_esc(r, msg, colon ? (size_t)(colon - msg) : strlen(msg), 64);
    S(r, "</td></tr>\n");
  }
  S(r, "</tbody></table>\n</section>\n");
}

/* --- the task stream ----------------------------------------------------------------------- */

static void legend_kernels(rep *r) {
  S(r, "<div class=\"legend\" id=\"kernel-legend\">");
  for (int i = 0; i < r->nkused && i < LEGEND_MAX; i++) {
    P(r, "<span><span class=\"sw\" style=\"background:%s\"></span>", r->colors[i]);
    put_kname(r, (size_t)r->korder[i]);
    S(r, "</span>");
  }
  if (r->nkused > LEGEND_MAX) P(r, "<span>+ %d more kernels</span>", r->nkused - LEGEND_MAX);
  int has[3] = {r->has_xfer, r->has_spill, r->has_restore};
  for (int c = 0; c < 3; c++)
    if (has[c])
      P(r, "<span><span class=\"sw\" style=\"background:%s\"></span>%s</span>", io_colors[c],
        io_names[c]);
  S(r, "</div>\n");
}

static int slice_row(const rep *r, const dagr__obs_slice *s) {
  return r->row0[s->worker] + (r->merged ? 0 : s->thread);
}

static double row_y(const rep *r, int row) {
  return r->top + (double)row * r->rh;
}

/* Row backgrounds (alternating by worker, with a summary tooltip), worker separators, labels. */
static void stream_rows(rep *r, const uint64_t *rtasks, const double *rbusy) {
  const dagr__obs *o = r->o;
  char b[32], c[32];
  double wall = busy_wall(r);
  for (int w = 0; w < r->nw; w++) {
    int nt = r->merged ? 1 : r->wthreads[w];
    for (int t = 0; t < nt; t++) {
      int row = r->row0[w] + t;
      P(r, "<rect class=\"%s\" x=\"%d\" y=\"%.0f\" width=\"%d\" height=\"%d\"><title>",
        w % 2 ? "rowb" : "rowa", PLOT_L, row_y(r, row), PLOT_W, r->rh);
      if (r->merged)
        P(r, "rank %d (%d threads)", o->workers[w].rank, r->wthreads[w]);
      else
        P(r, "rank %d thread %d", o->workers[w].rank, t);
      double th = r->merged ? r->wthreads[w] : 1;
      P(r, ": %s tasks, busy %s (%.1f %%)</title></rect>", fmt_count(b, rtasks[row]),
        fmt_dur(c, rbusy[row]), pct(rbusy[row], wall * th));
    }
    if (r->iorow[w] >= 0)
      P(r, "<rect class=\"rowio\" x=\"%d\" y=\"%.0f\" width=\"%d\" height=\"%d\"/>", PLOT_L,
        row_y(r, r->iorow[w]), PLOT_W, r->rh);
  }
  /* Labels: every row when rows are tall enough to read, else one per worker. */
  int font = r->rh - 2 < 11 ? r->rh - 2 : 11;
  double last_label = -1e9;
  for (int w = 0; w < r->nw; w++) {
    int nt = r->merged ? 1 : r->wthreads[w];
    int rank = o->workers[w].rank;
    if (font >= 7) {
      for (int t = 0; t < nt; t++) {
        double y = row_y(r, r->row0[w] + t) + r->rh / 2.0 + font * 0.36;
        P(r, "<text class=\"lbl\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%d\">",
          PLOT_L - 8, y, font);
        if (r->merged)
          P(r, "rank %d (%d thr)</text>", rank, r->wthreads[w]);
        else
          P(r, "rank %d thread %d</text>", rank, t);
      }
      if (r->iorow[w] >= 0)
        P(r,
          "<text class=\"lbl\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%d\">"
          "rank %d transfers</text>",
          PLOT_L - 8, row_y(r, r->iorow[w]) + r->rh / 2.0 + font * 0.36, font, rank);
    } else {
      /* Rows too thin to read: one label per worker, skipping workers whose label would
       * overlap the previous one. */
      int end = r->iorow[w] >= 0 ? r->iorow[w] + 1 : r->row0[w] + nt;
      double h = (end - r->row0[w]) * (double)r->rh, cy = row_y(r, r->row0[w]) + h / 2;
      if (cy - last_label >= 12) {
        P(r,
          "<text class=\"wlbl\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">"
          "rank %d</text>",
          PLOT_L - 8, cy + 3.5, rank);
        last_label = cy;
      }
    }
    /* Separators between workers, unless they would be denser than the rows they separate. */
    if (w > 0 && (double)(r->row0[w] - r->row0[w - 1]) * r->rh >= 6)
      P(r, "<line class=\"wsep\" x1=\"%d\" y1=\"%.0f\" x2=\"%d\" y2=\"%.0f\"/>", 4,
        row_y(r, r->row0[w]), PLOT_L + PLOT_W, row_y(r, r->row0[w]));
  }
}

static void rect_geom(rep *r, int row, double t, double d) {
  double x = X(r, t), w = d * r->xs;
  if (w < 0.8) w = 0.8; /* a task shorter than a pixel still shows */
  if (x + w > PLOT_L + PLOT_W) w = PLOT_L + PLOT_W - x;
  int pad = r->rh >= 6 ? 1 : 0;
  P(r, "x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\"", x, row_y(r, row) + pad, w,
    r->rh - 2 * pad);
}

/* About how many bytes the stream takes drawn one by one: a rectangle and its tooltip, plus
 * the key as escaped (at most KEY_SHOW bytes of it). */
static double exact_bytes(const rep *r) {
  const dagr__obs *o = r->o;
  double n = 0;
  for (size_t i = 0; o->slices && i < o->nslices; i++) {
    size_t len;
    const char *k = key_at(o, o->slices[i].key, &len);
    if (len > KEY_SHOW) len = KEY_SHOW;
    n += 200;
    for (size_t j = 0; j < len; j++)
      n += strchr("<>&\"'", k[j]) || (unsigned char)k[j] < 0x20 ? 6 : 1;
  }
  return n + 300.0 * (double)(r->nxfers_ok + r->nios_ok);
}

/* Every task, transfer and spill as its own rectangle with a tooltip. */
static void stream_exact(rep *r) {
  const dagr__obs *o = r->o;
  char b[32], c[32], d[32];
  for (size_t i = 0; o->slices && i < o->nslices; i++) {
    const dagr__obs_slice *s = &o->slices[i];
    if (!slice_ok(r, s)) continue;
    P(r, "<rect class=\"t k%d%s\" ", r->kcol[s->kernel], s->status != DAGR_OK ? " fail" : "");
    rect_geom(r, slice_row(r, s), s->ts, dur_of(s->dur));
    S(r, "><title>");
    put_key(r, s->key);
    S(r, "\n");
    put_kname(r, s->kernel);
    P(r, " on rank %d thread %d, run %u\n%s, in %s, out %s", o->workers[s->worker].rank, s->thread,
      s->run, fmt_dur(b, dur_of(s->dur)), fmt_bytes(c, (double)s->in_bytes),
      fmt_bytes(d, (double)s->out_bytes));
    if (s->status != DAGR_OK) P(r, "\nfailed: %s", dagr_strerror(s->status));
    S(r, "</title></rect>\n");
  }
  for (size_t i = 0; o->xfers && i < o->nxfers; i++) {
    const dagr__obs_xfer *x = &o->xfers[i];
    if (!wk_ok(r, x->dst) || !tok(x->ts) || r->iorow[x->dst] < 0) continue;
    P(r, "<rect class=\"x k%d\" ", r->nkused);
    rect_geom(r, r->iorow[x->dst], x->ts, dur_of(x->dur));
    S(r, "><title>transfer ");
    put_key(r, x->key);
    P(r, "\nfrom rank %d to rank %d: %s in %s</title></rect>\n",
      wk_ok(r, x->src) ? o->workers[x->src].rank : -1, o->workers[x->dst].rank,
      fmt_bytes(b, (double)x->bytes), fmt_dur(c, dur_of(x->dur)));
  }
  for (size_t i = 0; o->ios && i < o->nios; i++) {
    const dagr__obs_io *x = &o->ios[i];
    if (!wk_ok(r, x->worker) || !tok(x->ts) || r->iorow[x->worker] < 0) continue;
    int cat = x->kind == DAGR__OBS_RESTORE ? 2 : 1;
    P(r, "<rect class=\"s k%d\" ", r->nkused + cat);
    rect_geom(r, r->iorow[x->worker], x->ts, dur_of(x->dur));
    P(r, "><title>%s ", io_names[cat]);
    put_key(r, x->key);
    P(r, "\nrank %d: %s in %s</title></rect>\n", o->workers[x->worker].rank,
      fmt_bytes(b, (double)x->bytes), fmt_dur(c, dur_of(x->dur)));
  }
}

/* One time column of one row in the aggregated stream: how busy it was and its three heaviest
 * colours (a space-saving heavy-hitter summary: exact for up to three colours per column, a
 * close estimate of the dominant one beyond). */
typedef struct cell {
  float occ;
  float a[3];
  uint32_t k[3];
} cell;

static void hh_add(cell *c, uint32_t k, float a) {
  int m = 0;
  for (int i = 0; i < 3; i++) {
    if (c->a[i] > 0 && c->k[i] == k) {
      c->a[i] += a;
      return;
    }
    if (c->a[i] < c->a[m]) m = i;
  }
  if (c->a[m] > 0) a += c->a[m]; /* space-saving: the newcomer inherits the evicted count */
  c->k[m] = k;
  c->a[m] = a;
}

static void add_span(cell *row, int nb, double dtb, double t0, double t1, uint32_t k) {
  t0 = clampd(t0, 0, nb * dtb);
  t1 = clampd(t1, t0, nb * dtb);
  int b0 = (int)(t0 / dtb), b1 = (int)(t1 / dtb);
  if (b0 >= nb) b0 = nb - 1;
  if (b1 >= nb) b1 = nb - 1;
  if (t1 <= t0) { /* an instant still marks its column */
    row[b0].occ += (float)(dtb * 1e-3);
    hh_add(&row[b0], k, (float)(dtb * 1e-3));
    return;
  }
  for (int b = b0; b <= b1; b++) {
    double lo = t0 > b * dtb ? t0 : b * dtb, hi = t1 < (b + 1) * dtb ? t1 : (b + 1) * dtb;
    if (hi > lo) {
      row[b].occ += (float)(hi - lo);
      hh_add(&row[b], k, (float)(hi - lo));
    }
  }
}

/* Time columns per row of the aggregated stream: AGG_CELLS in all, within bounds. */
static int agg_bins(const rep *r) {
  int nb = AGG_CELLS / (r->nrows ? r->nrows : 1);
  return nb < AGG_MIN_BINS ? AGG_MIN_BINS : nb > AGG_MAX_BINS ? AGG_MAX_BINS : nb;
}

/* The stream binned into pixel columns: per row, one rectangle per run of columns with the same
 * dominant colour and occupancy level, gathered into one <path> per colour and level so that the
 * page stays small whatever the number of tasks. */
static void stream_aggregated(rep *r, int nb) {
  const dagr__obs *o = r->o;
  double dtb = r->span / nb, bw = (double)PLOT_W / nb;
  size_t ncells = (size_t)r->nrows * (size_t)nb;
  cell *cells = calloc(ncells ? ncells : 1, sizeof *cells);
  size_t ncls = ((size_t)r->nkused + 3) * 4;
  sbuf *paths = calloc(ncls, sizeof *paths);
  if (!cells || !paths) {
    r->oom = 1;
    free(cells);
    free(paths);
    return;
  }
  for (size_t i = 0; o->slices && i < o->nslices; i++) {
    const dagr__obs_slice *s = &o->slices[i];
    if (!slice_ok(r, s)) continue;
    double t0 = s->ts - r->t_lo;
    add_span(cells + (size_t)slice_row(r, s) * nb, nb, dtb, t0, t0 + dur_of(s->dur),
             (uint32_t)r->kcol[s->kernel]);
  }
  for (size_t i = 0; o->xfers && i < o->nxfers; i++) {
    const dagr__obs_xfer *x = &o->xfers[i];
    if (!wk_ok(r, x->dst) || !tok(x->ts) || r->iorow[x->dst] < 0) continue;
    double t0 = x->ts - r->t_lo;
    add_span(cells + (size_t)r->iorow[x->dst] * nb, nb, dtb, t0, t0 + dur_of(x->dur),
             (uint32_t)r->nkused);
  }
  for (size_t i = 0; o->ios && i < o->nios; i++) {
    const dagr__obs_io *x = &o->ios[i];
    if (!wk_ok(r, x->worker) || !tok(x->ts) || r->iorow[x->worker] < 0) continue;
    double t0 = x->ts - r->t_lo;
    add_span(cells + (size_t)r->iorow[x->worker] * nb, nb, dtb, t0, t0 + dur_of(x->dur),
             (uint32_t)(r->nkused + (x->kind == DAGR__OBS_RESTORE ? 2 : 1)));
  }
  int pad = r->rh >= 6 ? 1 : 0;
  for (int w = 0; w < r->nw; w++) {
    int nt = r->merged ? 1 : r->wthreads[w];
    for (int t = 0; t <= nt; t++) {
      int row = t < nt ? r->row0[w] + t : r->iorow[w];
      if (row < 0) continue;
      /* Occupancy is a fraction of the threads a row stands for (transfers: of one lane). */
      double cap = dtb * (t < nt && r->merged ? r->wthreads[w] : 1);
      cell *c = cells + (size_t)row * nb;
      int b = 0;
      while (b < nb) {
        if (c[b].occ <= 0) {
          b++;
          continue;
        }
        int e = b, col = -1, q = 0;
        while (e < nb && c[e].occ > 0) {
          int m = 0;
          for (int i = 1; i < 3; i++)
            if (c[e].a[i] > c[e].a[m]) m = i;
          int qe = (int)ceil(clampd(c[e].occ / cap, 0, 1) * 4);
          if (qe < 1) qe = 1;
          if (e == b)
            col = (int)c[e].k[m], q = qe;
          else if ((int)c[e].k[m] != col || qe != q)
            break;
          e++;
        }
        if (col >= 0 && col < r->nkused + 3)
          sb_printf(r, &paths[(size_t)col * 4 + (size_t)(q - 1)], "M%.1f %.0fh%.1fv%dh-%.1fz",
                    PLOT_L + b * bw, row_y(r, row) + pad, (e - b) * bw, r->rh - 2 * pad,
                    (e - b) * bw);
        b = e;
      }
    }
  }
  for (size_t i = 0; i < ncls && !r->oom; i++) {
    if (!paths[i].n) continue;
    int col = (int)(i / 4);
    P(r, "<path class=\"a k%d q%d\" d=\"", col, (int)(i % 4) + 1);
    fwrite(paths[i].p, 1, paths[i].n, r->f);
    S(r, "\"><title>");
    if (col < r->nkused)
      put_kname(r, (size_t)r->korder[col]);
    else
      S(r, io_names[col - r->nkused]);
    P(r, " (aggregated, busy up to %d %% of the column)</title></path>\n", (int)(i % 4 + 1) * 25);
  }
  for (size_t i = 0; i < ncls; i++) free(paths[i].p);
  free(paths);
  free(cells);
}

static void w_stream(rep *r) {
  const dagr__obs *o = r->o;
  char b[32], c[32];
  S(r, "<section id=\"task-stream\"><h2>Task stream</h2>\n");
  size_t items = r->nslices_ok + r->nxfers_ok + r->nios_ok;
  if (!items || !r->nrows) {
    P(r, "<p class=\"empty\">No task stream was recorded%s.</p></section>\n",
      o->detail ? "" : " (the session kept only sums)");
    return;
  }
  int exact = items <= EXACT_MAX && exact_bytes(r) <= EXACT_BYTES;
  uint64_t *rtasks = calloc((size_t)r->nrows, sizeof *rtasks);
  double *rbusy = calloc((size_t)r->nrows, sizeof *rbusy);
  if (!rtasks || !rbusy) {
    free(rtasks);
    free(rbusy);
    r->oom = 1;
    return;
  }
  for (size_t i = 0; o->slices && i < o->nslices; i++) {
    const dagr__obs_slice *s = &o->slices[i];
    if (!slice_ok(r, s)) continue;
    rtasks[slice_row(r, s)]++;
    rbusy[slice_row(r, s)] += dur_of(s->dur);
  }
  int nb = agg_bins(r);
  P(r,
    "<p class=\"note\">One row per worker %s, time left to right over the whole session "
    "(%s from %s after dagr_init; dashed lines mark where runs begin). ",
    r->merged ? "(its threads together)" : "thread", fmt_dur(b, r->span), fmt_dur(c, r->t_lo));
  if (exact)
    S(r, "Every task is drawn, coloured by kernel; hover for its key, kernel, duration and bytes."
         "</p>\n");
  else
    P(r,
      "<b>Aggregated:</b> %s items are too many to draw one by one, so each row is cut into "
      "%d columns of %s; a column takes the colour of the kernel that ran longest in it and "
      "its opacity shows how busy the row was in it.</p>\n",
      fmt_count(b, items), nb, fmt_dur(c, r->span / nb));
  if (r->io_hidden)
    S(r, "<p class=\"note\">Transfers and spill I/O have no rows here: there are too many workers "
         "(the transfer matrix below has their volumes).</p>\n");
  legend_kernels(r);
  int h = r->top + r->nrows * r->rh;
  P(r,
    "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
    "aria-label=\"task stream\">\n<style>",
    SVG_W, h + AXIS_H, SVG_W, h + AXIS_H);
  for (int i = 0; i < r->nkused + 3; i++) P(r, ".k%d{fill:%s}", i, r->colors[i]);
  S(r, "</style>\n");
  stream_rows(r, rtasks, rbusy);
  time_axis(r, r->top, h);
  run_marks(r, r->top, h, 1);
  if (exact)
    stream_exact(r);
  else
    stream_aggregated(r, nb);
  S(r, "</svg>\n</section>\n");
  free(rtasks);
  free(rbusy);
}

/* --- utilisation --------------------------------------------------------------------------- */

static void w_util(rep *r) {
  const dagr__obs *o = r->o;
  char b[32], c[32];
  double wall = busy_wall(r);
  S(r, "<section id=\"utilisation\"><h2>Worker utilisation</h2>\n");
  P(r,
    "<p class=\"note\">Busy fraction of the workers' threads: overall <b>%.1f %%</b> of %s "
    "thread time over the runs' wall time.</p>\n",
    pct(r->busy_us, wall * r->threads_total), fmt_dur(b, wall * r->threads_total));
  if (r->nslices_ok && r->has_time && r->nw > 0) {
    int nb = UTIL_BINS;
    double dt = r->span / nb;
    double *u = calloc((size_t)r->nw * nb, sizeof *u);
    if (!u) {
      r->oom = 1;
      S(r, "</section>\n");
      return;
    }
    for (size_t i = 0; i < o->nslices; i++) {
      const dagr__obs_slice *s = &o->slices[i];
      if (!slice_ok(r, s)) continue;
      double t0 = clampd(s->ts - r->t_lo, 0, r->span);
      double t1 = clampd(t0 + dur_of(s->dur), t0, r->span);
      int b0 = (int)(t0 / dt), b1 = (int)(t1 / dt);
      if (b1 >= nb) b1 = nb - 1;
      if (b0 > b1) b0 = b1;
      double *row = u + (size_t)s->worker * nb;
      for (int k = b0; k <= b1; k++) {
        double lo = t0 > k * dt ? t0 : k * dt, hi = t1 < (k + 1) * dt ? t1 : (k + 1) * dt;
        if (hi > lo) row[k] += hi - lo;
      }
    }
    int PH = 180, top = 12;
    S(r, "<div class=\"legend\"><span><span class=\"sw\" style=\"background:#a7bcd3\"></span>"
         "all workers</span>");
    if (r->nw <= MAX_LINES)
      for (int w = 0; w < r->nw; w++)
        P(r, "<span><span class=\"ln\" style=\"background:%s\"></span>rank %d</span>", wcolor(w),
          o->workers[w].rank);
    else
      S(r, "<span><span class=\"sw\" style=\"background:#fbdcc0\"></span>range over workers"
           "</span>");
    S(r, "</div>\n");
    P(r,
      "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
      "aria-label=\"utilisation\">\n",
      SVG_W, top + PH + AXIS_H, SVG_W, top + PH + AXIS_H);
    for (int p = 0; p <= 100; p += 25) {
      double y = top + PH * (1 - p / 100.0);
      P(r, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", PLOT_L, y,
        PLOT_L + PLOT_W, y);
      P(r, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d %%</text>", PLOT_L - 8, y + 4, p);
    }
    time_axis(r, top, top + PH);
    run_marks(r, top, top + PH, 0);
    double bw = (double)PLOT_W / nb;
    if (r->nw > MAX_LINES) { /* min-max band over workers */
      S(r, "<path class=\"band\" d=\"");
      for (int k = 0; k < nb; k++) {
        double mx = 0;
        for (int w = 0; w < r->nw; w++)
          mx = fmax(mx, u[(size_t)w * nb + k] / (dt * r->wthreads[w]));
        P(r, "%c%.1f %.1f", k ? 'L' : 'M', PLOT_L + (k + .5) * bw,
          top + PH * (1 - clampd(mx, 0, 1)));
      }
      for (int k = nb - 1; k >= 0; k--) {
        double mn = 1;
        for (int w = 0; w < r->nw; w++)
          mn = fmin(mn, u[(size_t)w * nb + k] / (dt * r->wthreads[w]));
        P(r, "L%.1f %.1f", PLOT_L + (k + .5) * bw, top + PH * (1 - clampd(mn, 0, 1)));
      }
      S(r, "Z\"/>\n");
    }
    P(r, "<path class=\"util\" d=\"M%d %d", PLOT_L, top + PH);
    int nthr = 0;
    for (int w = 0; w < r->nw; w++) nthr += r->wthreads[w];
    for (int k = 0; k < nb; k++) {
      double tot = 0;
      for (int w = 0; w < r->nw; w++) tot += u[(size_t)w * nb + k];
      double y = top + PH * (1 - clampd(tot / (dt * nthr), 0, 1));
      P(r, "V%.1fH%.1f", y, PLOT_L + (k + 1) * bw);
    }
    P(r, "V%dZ\"><title>all workers</title></path>\n", top + PH);
    if (r->nw <= MAX_LINES)
      for (int w = 0; w < r->nw; w++) {
        P(r, "<path class=\"wl\" stroke=\"%s\" d=\"", wcolor(w));
        for (int k = 0; k < nb; k++)
          P(r, "%c%.1f %.1f", k ? 'L' : 'M', PLOT_L + (k + .5) * bw,
            top + PH * (1 - clampd(u[(size_t)w * nb + k] / (dt * r->wthreads[w]), 0, 1)));
        P(r, "\"><title>rank %d</title></path>\n", o->workers[w].rank);
      }
    S(r, "</svg>\n");
    free(u);
  } else if (r->nw > 0) {
    S(r, "<p class=\"note\">No task stream was recorded, so utilisation over time is not "
         "known; per-worker totals follow.</p>\n");
  }
  if (r->nw == 0) {
    S(r, "<p class=\"empty\">No worker was recorded.</p></section>\n");
    return;
  }
  /* Per-worker totals: the workers' sums, else the slices'. */
  double *wb = calloc((size_t)r->nw, sizeof *wb);
  uint64_t *wt = calloc((size_t)r->nw, sizeof *wt);
  if (!wb || !wt) {
    free(wb);
    free(wt);
    r->oom = 1;
    S(r, "</section>\n");
    return;
  }
  int sums = 0;
  for (int w = 0; w < r->nw; w++) {
    wb[w] = worker_busy(r, w);
    wt[w] = o->workers[w].tasks;
    if (wb[w] > 0 || wt[w]) sums = 1;
  }
  if (!sums)
    for (size_t i = 0; o->slices && i < o->nslices; i++)
      if (slice_ok(r, &o->slices[i])) {
        wb[o->slices[i].worker] += dur_of(o->slices[i].dur);
        wt[o->slices[i].worker]++;
      }
  S(r, "<h3>Per worker</h3><table><thead><tr><th>worker</th><th>host</th><th>threads</th>"
       "<th>tasks</th><th>busy</th><th>busy %</th></tr></thead><tbody>\n");
  for (int w = 0; w < r->nw && w < MAX_WORKER_ROWS; w++) {
    double p = pct(wb[w], wall * (o->workers[w].threads > 0 ? o->workers[w].threads : 1));
    P(r, "<tr><td>rank %d</td><td>", o->workers[w].rank);
    put_host(r, o->workers[w].host);
    P(r,
      "</td><td>%d</td><td>%s</td><td>%s</td><td>%.1f %%<span class=\"bar\"><i "
      "style=\"width:%.1f%%\"></i></span></td></tr>\n",
      o->workers[w].threads, fmt_count(b, wt[w]), fmt_dur(c, wb[w]), p, clampd(p, 0, 100));
  }
  S(r, "</tbody></table>\n");
  if (r->nw > MAX_WORKER_ROWS)
    P(r, "<p class=\"note\">The first %d of %d workers.</p>\n", MAX_WORKER_ROWS, r->nw);
  free(wb);
  free(wt);
  S(r, "</section>\n");
}

/* --- store memory -------------------------------------------------------------------------- */

typedef struct mcell {
  uint64_t v;
  double t;
  int has;
} mcell;

static void w_memory(rep *r) {
  const dagr__obs *o = r->o;
  char b[32], c[32];
  S(r, "<section id=\"memory\"><h2>Store memory</h2>\n");
  if (!r->nmems_ok || !r->has_time) {
    S(r, "<p class=\"empty\">No store-use sample was recorded.</p></section>\n");
    return;
  }
  int nb = MEM_CELLS / r->nw;
  nb = nb < 50 ? 50 : nb > MEM_MAX_BINS ? MEM_MAX_BINS : nb;
  double dt = r->span / nb;
  mcell *m = calloc((size_t)r->nw * nb, sizeof *m);
  uint64_t *peak = calloc((size_t)r->nw, sizeof *peak);
  size_t *cnt = calloc((size_t)r->nw, sizeof *cnt);
  int *line = calloc((size_t)r->nw, sizeof *line);
  if (!m || !peak || !cnt || !line) {
    free(m);
    free(peak);
    free(cnt);
    free(line);
    r->oom = 1;
    S(r, "</section>\n");
    return;
  }
  /* Downsampled: per worker and time column, the largest sample (peaks must not vanish). */
  for (size_t i = 0; i < o->nmems; i++) {
    const dagr__obs_mem *s = &o->mems[i];
    if (!wk_ok(r, s->worker) || !tok(s->ts)) continue;
    int k = (int)(clampd(s->ts - r->t_lo, 0, r->span) / dt);
    if (k >= nb) k = nb - 1;
    mcell *e = &m[(size_t)s->worker * nb + k];
    if (!e->has || s->bytes > e->v || (s->bytes == e->v && s->ts < e->t)) {
      e->v = s->bytes;
      e->t = s->ts;
      e->has = 1;
    }
    if (s->bytes > peak[s->worker]) peak[s->worker] = s->bytes;
    cnt[s->worker]++;
  }
  /* Lines for at most MAX_LINES workers (those with the highest peaks; line[w] is 1 + its colour
   * index, in rank order); with more workers an area shows the largest use of any worker. */
  int nsampled = 0, nlines = 0;
  for (int w = 0; w < r->nw; w++) nsampled += cnt[w] > 0;
  for (int w = 0; w < r->nw; w++) line[w] = cnt[w] > 0 && nsampled <= MAX_LINES;
  for (int i = 0; nsampled > MAX_LINES && i < MAX_LINES; i++) {
    int best = -1;
    for (int w = 0; w < r->nw; w++)
      if (cnt[w] && !line[w] && (best < 0 || peak[w] > peak[best])) best = w;
    if (best >= 0) line[best] = 1;
  }
  for (int w = 0; w < r->nw; w++)
    if (line[w]) line[w] = ++nlines;
  uint64_t ymax_b = r->peak_mem, capmax = 0;
  for (int w = 0; w < r->nw; w++)
    if (line[w] && o->workers[w].store_bytes > capmax) capmax = o->workers[w].store_bytes;
  /* The capacity is drawn only when it is close enough to the use to keep the lines readable. */
  int show_cap = capmax > 0 && (double)capmax <= 1.5 * (double)r->peak_mem;
  if (show_cap) ymax_b = capmax;
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  /* At least 1 KiB of scale, so that an empty store is a flat line at 0, not fractions of a
   * byte; bytes are whole. */
  double ymax = ymax_b > 1024 ? (double)ymax_b : 1024, div = 1;
  int ui = 0;
  while (ymax / div >= 1024 && ui < 5) div *= 1024, ui++;
  double step = nice_step(ymax / div, 5);
  if (ui == 0 && step < 1) step = 1;
  double top_v = ceil(ymax / div / step * (1 + 1e-9)) * step;
  if (top_v <= 0) top_v = step;
  int PH = 200, top = 12;
  P(r,
    "<p class=\"note\">Bytes allocated in each worker's object store (%s samples%s); peak "
    "%s.</p>\n",
    fmt_count(b, r->nmems_ok), nb < (int)r->nmems_ok ? ", largest per time column" : "",
    fmt_bytes(c, (double)r->peak_mem));
  S(r, "<div class=\"legend\">");
  if (nsampled > MAX_LINES)
    P(r,
      "<span><span class=\"sw\" style=\"background:#d9e2ec\"></span>largest of all %d "
      "workers</span>",
      nsampled);
  for (int w = 0; w < r->nw; w++) {
    if (!line[w]) continue;
    P(r, "<span><span class=\"ln\" style=\"background:%s\"></span>rank %d: peak %s of %s</span>",
      wcolor(line[w] - 1), o->workers[w].rank, fmt_bytes(b, (double)peak[w]),
      fmt_bytes(c, (double)o->workers[w].store_bytes));
  }
  S(r, "</div>\n");
  P(r,
    "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
    "aria-label=\"store memory\">\n",
    SVG_W, top + PH + AXIS_H, SVG_W, top + PH + AXIS_H);
  int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  for (int i = 0; i <= 12; i++) {
    double v = i * step;
    if (v > top_v * (1 + 1e-9)) break;
    double y = top + PH * (1 - v / top_v);
    P(r, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", PLOT_L, y,
      PLOT_L + PLOT_W, y);
    P(r, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.*f %s</text>", PLOT_L - 8, y + 4, dec, v,
      units[ui]);
  }
  time_axis(r, top, top + PH);
  run_marks(r, top, top + PH, 0);
  double yscale = PH / (top_v * div);
  if (nsampled > MAX_LINES) { /* the largest use of any worker, held until the next column */
    double bw = (double)PLOT_W / nb;
    P(r, "<path fill=\"#d9e2ec\" d=\"M%d %d", PLOT_L, top + PH);
    double last_x = PLOT_L;
    for (int k = 0; k < nb; k++) {
      uint64_t v = 0;
      int any = 0;
      for (int w = 0; w < r->nw; w++) {
        const mcell *e = &m[(size_t)w * nb + k];
        if (e->has && (!any || e->v > v)) v = e->v, any = 1;
      }
      if (!any) continue;
      last_x = PLOT_L + k * bw;
      P(r, "H%.1fV%.1f", last_x, top + PH - (double)v * yscale);
    }
    P(r, "H%.1fV%dZ\"><title>largest use of any worker</title></path>\n", last_x + bw, top + PH);
  }
  for (int w = 0; w < r->nw; w++) {
    if (!line[w]) continue;
    if (show_cap && o->workers[w].store_bytes) {
      double y = top + PH - (double)o->workers[w].store_bytes * yscale;
      P(r,
        "<line class=\"cap\" stroke=\"%s\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\">"
        "<title>rank %d store size</title></line>\n",
        wcolor(line[w] - 1), PLOT_L, y, PLOT_L + PLOT_W, y, o->workers[w].rank);
    }
    /* A step line: the store holds its size until the next sample. */
    P(r, "<path class=\"wl\" stroke=\"%s\" d=\"", wcolor(line[w] - 1));
    int first = 1;
    for (int k = 0; k < nb; k++) {
      const mcell *e = &m[(size_t)w * nb + k];
      if (!e->has) continue;
      double x = X(r, e->t), y = top + PH - (double)e->v * yscale;
      if (first)
        P(r, "M%.1f %.1f", x, y);
      else
        P(r, "H%.1fV%.1f", x, y);
      first = 0;
    }
    P(r, "\"><title>rank %d</title></path>\n", o->workers[w].rank);
  }
  S(r, "</svg>\n</section>\n");
  free(m);
  free(peak);
  free(cnt);
  free(line);
}

/* --- transfers ----------------------------------------------------------------------------- */

static int by_traffic_sort_desc(const void *a, const void *b) {
  const uint64_t *x = a, *y = b; /* pairs (traffic, worker) */
  if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}
static int by_u64_second(const void *a, const void *b) {
  const uint64_t *x = a, *y = b;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void w_transfers(rep *r) {
  const dagr__obs *o = r->o;
  char b[32], c[32];
  int nw = r->nw;
  S(r, "<section id=\"transfers\"><h2>Transfers between workers</h2>\n");
  if (nw == 0) {
    S(r, "<p class=\"empty\">No worker was recorded.</p></section>\n");
    return;
  }
  /* Traffic per worker (pulled + served), from the matrix if kept, else from the transfers. */
  uint64_t *tr = calloc((size_t)nw * 2, sizeof *tr);
  if (!tr) {
    r->oom = 1;
    S(r, "</section>\n");
    return;
  }
  uint64_t total = 0;
  if (o->matrix) {
    for (int d = 0; d < nw; d++)
      for (int s = 0; s < nw; s++) {
        uint64_t v = o->matrix[(size_t)d * nw + s];
        tr[2 * (size_t)d] += v;
        tr[2 * (size_t)s] += v;
        total += v;
      }
  } else {
    for (size_t i = 0; o->xfers && i < o->nxfers; i++) {
      const dagr__obs_xfer *x = &o->xfers[i];
      if (!wk_ok(r, x->dst) || !wk_ok(r, x->src)) continue;
      tr[2 * (size_t)x->dst] += x->bytes;
      tr[2 * (size_t)x->src] += x->bytes;
      total += x->bytes;
    }
  }
  if (total == 0) {
    S(r, "<p class=\"empty\">No data moved between workers.</p></section>\n");
    free(tr);
    return;
  }
  for (int w = 0; w < nw; w++) tr[2 * w + 1] = (uint64_t)w;
  int k = nw;
  if (nw > MAX_MATRIX) { /* the busiest workers, shown in rank order */
    qsort(tr, (size_t)nw, 2 * sizeof *tr, by_traffic_sort_desc);
    k = MAX_MATRIX;
    qsort(tr, (size_t)k, 2 * sizeof *tr, by_u64_second);
  }
  int *idx = malloc((size_t)(nw > 0 ? nw : 1) * sizeof *idx);
  uint64_t *mx = calloc((size_t)(k > 0 ? k : 1) * (size_t)(k > 0 ? k : 1), sizeof *mx);
  if (!idx || !mx) {
    free(idx);
    free(mx);
    free(tr);
    r->oom = 1;
    S(r, "</section>\n");
    return;
  }
  for (int w = 0; w < nw; w++) idx[w] = -1;
  for (int i = 0; i < k; i++) idx[tr[2 * i + 1]] = i;
  if (o->matrix) {
    for (int d = 0; d < nw; d++)
      for (int s = 0; s < nw; s++)
        if (idx[d] >= 0 && idx[s] >= 0)
          mx[(size_t)idx[d] * k + idx[s]] += o->matrix[(size_t)d * nw + s];
  } else {
    for (size_t i = 0; o->xfers && i < o->nxfers; i++) {
      const dagr__obs_xfer *x = &o->xfers[i];
      if (wk_ok(r, x->dst) && wk_ok(r, x->src) && idx[x->dst] >= 0 && idx[x->src] >= 0)
        mx[(size_t)idx[x->dst] * k + idx[x->src]] += x->bytes;
    }
  }
  uint64_t vmax = 0;
  for (size_t i = 0; i < (size_t)k * k; i++)
    if (mx[i] > vmax) vmax = mx[i];
  P(r,
    "<p class=\"note\">Bytes each worker (row) pulled from each other worker's store "
    "(column): %s in all",
    fmt_bytes(b, (double)total));
  if (r->nxfers_ok) P(r, " over %s transfers", fmt_count(c, r->nxfers_ok));
  if (nw > k) P(r, "; the %d workers with the most traffic of %d", k, nw);
  S(r, ".</p>\n<table class=\"mx\"><thead><tr><th>to \\ from</th>");
  for (int s = 0; s < k; s++) P(r, "<th>rank %d</th>", o->workers[tr[2 * s + 1]].rank);
  S(r, "<th class=\"tot\">pulled</th></tr></thead><tbody>\n");
  uint64_t *col = calloc((size_t)k, sizeof *col);
  if (!col) r->oom = 1;
  for (int d = 0; d < k; d++) {
    uint64_t row = 0;
    P(r, "<tr><th>rank %d</th>", o->workers[tr[2 * d + 1]].rank);
    for (int s = 0; s < k; s++) {
      uint64_t v = mx[(size_t)d * k + s];
      row += v;
      if (col) col[s] += v;
      if (!v) {
        P(r, "<td data-bytes=\"0\" style=\"color:#cbd2d9\">%s</td>", d == s ? "&ndash;" : "0");
        continue;
      }
      /* Shade by the square root so that small flows stay visible next to large ones. */
      double a = 0.12 + 0.83 * sqrt((double)v / (double)vmax);
      P(r,
        "<td data-bytes=\"%llu\" style=\"background:rgba(59,91,143,%.2f)%s\" title=\"%s "
        "bytes\">%s</td>",
        (unsigned long long)v, a, a > 0.55 ? ";color:#fff" : "", fmt_count(c, v),
        fmt_bytes(b, (double)v));
    }
    P(r, "<td class=\"tot\">%s</td></tr>\n", fmt_bytes(b, (double)row));
  }
  S(r, "<tr><th class=\"tot\">served</th>");
  for (int s = 0; s < k; s++) P(r, "<td class=\"tot\">%s</td>", fmt_bytes(b, col ? col[s] : 0.0));
  P(r, "<td class=\"tot\">%s</td></tr>\n</tbody></table>\n</section>\n",
    fmt_bytes(b, (double)total));
  free(col);
  free(idx);
  free(mx);
  free(tr);
}

/* --- kernels ------------------------------------------------------------------------------- */

static void w_kernels(rep *r) {
  char b[32];
  S(r, "<section id=\"kernels\"><h2>Top kernels by total time</h2>\n");
  if (!r->nkused) {
    S(r, "<p class=\"empty\">No task ran.</p></section>\n");
    return;
  }
  P(r, "<p class=\"note\">%d kernel%s ran; %% of the total task time (%s).</p>\n", r->nkused,
    r->nkused == 1 ? "" : "s", fmt_dur(b, r->ksec * 1e6));
  S(r, "<table><thead><tr><th>kernel</th><th>tasks</th><th>total s</th><th>mean ms</th>"
       "<th>% of busy</th></tr></thead><tbody>\n");
  uint64_t otasks = 0;
  double osec = 0;
  for (int i = 0; i < r->nkused; i++) {
    const kstat *k = &r->ks[r->korder[i]];
    if (i >= TOP_KERNELS) {
      otasks += k->tasks;
      osec += k->sec;
      continue;
    }
    double p = pct(k->sec, r->ksec);
    P(r, "<tr><td class=\"name\"><span class=\"sw\" style=\"background:%s\"></span>", r->colors[i]);
    put_kname(r, (size_t)r->korder[i]);
    P(r,
      "</td><td>%s</td><td>%.3f</td><td>%.3f</td><td>%.1f %%<span class=\"bar\"><i "
      "style=\"width:%.1f%%;background:%s\"></i></span></td></tr>\n",
      fmt_count(b, k->tasks), k->sec, k->tasks ? k->sec * 1e3 / k->tasks : 0.0, p,
      clampd(p, 0, 100), r->colors[i]);
  }
  if (r->nkused > TOP_KERNELS)
    P(r,
      "<tr><td class=\"name\">%d others</td><td>%s</td><td>%.3f</td><td>%.3f</td>"
      "<td>%.1f %%</td></tr>\n",
      r->nkused - TOP_KERNELS, fmt_count(b, otasks), osec, otasks ? osec * 1e3 / otasks : 0.0,
      pct(osec, r->ksec));
  S(r, "</tbody></table>\n</section>\n");
}

/* --- entry --------------------------------------------------------------------------------- */

static void rep_free(rep *r) {
  free(r->ks);
  free(r->kcol);
  free(r->korder);
  free(r->colors);
  free(r->wthreads);
  free(r->row0);
  free(r->iorow);
}

int dagr__obs_write_report(const dagr__obs *o, const char *path, char *err, size_t errlen) {
  static const dagr__obs none; /* a missing record writes the empty page */
  if (!path) return dagr__errf(err, errlen, DAGR_EIO, "cannot write report: no file name");
  rep r;
  memset(&r, 0, sizeof r);
  r.o = o ? o : &none;
  int rc = prepare(&r);
  if (rc != DAGR_OK) {
    rep_free(&r);
    return dagr__errf(err, errlen, DAGR_ENOMEM, "writing report '%s': out of memory", path);
  }
  dagr__ofile of;
  rc = dagr__ofile_open(&of, path, err, errlen);
  if (rc != DAGR_OK) {
    rep_free(&r);
    return rc;
  }
  r.f = of.f;
  size_t nruns = r.o->runs ? r.o->nruns : 0;
  int empty = nruns == 0 && r.nslices_ok == 0 && r.nkused == 0;
  w_head(&r, empty);
  w_cards(&r);
  S(&r, "<div class=\"two\">\n");
  w_facts(&r);
  w_runs(&r);
  S(&r, "</div>\n");
  w_stream(&r);
  w_util(&r);
  w_memory(&r);
  /* A small transfer matrix fits beside the kernel table. */
  int side = r.nw > 0 && r.nw <= 6;
  if (side) S(&r, "<div class=\"two half\">\n");
  w_transfers(&r);
  w_kernels(&r);
  if (side) S(&r, "</div>\n");
  S(&r, "</main>\n<footer>dagr performance report &middot; one self-contained file: no scripts, "
        "fonts or network</footer>\n</body>\n</html>\n");
  int oom = r.oom;
  rep_free(&r);
  rc = dagr__ofile_commit(&of, !oom, err, errlen);
  if (oom) return dagr__errf(err, errlen, DAGR_ENOMEM, "writing report '%s': out of memory", path);
  return rc;
}
