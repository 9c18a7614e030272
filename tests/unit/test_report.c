/* test_report.c: unit tests of the HTML performance report (sections, escaping, budgets). */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cu_util.h"
#include "obs/obs.h"

/* --- helpers -------------------------------------------------------------------------------- */

static char g_dir[512]; /* mkdtemp directory holding every report of these tests */

static const char *const knames[] = {"const", "add", "mul", "sleep", "noop"};

/* A record with nw workers of nt threads and room for the given numbers of events. */
static dagr__obs *obs_new(int nw, int nt, size_t nsl, size_t nx, size_t nio, size_t nmem,
                          size_t nruns) {
  dagr__obs *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->detail = 1;
  o->nranks = nw + 1;
  snprintf(o->host0, sizeof o->host0, "head");
  o->nworkers = nw;
  o->workers = calloc((size_t)nw + 1, sizeof *o->workers);
  o->nkernels = 5;
  o->kernel_names = knames;
  o->kernels = calloc(5, sizeof *o->kernels);
  o->matrix = calloc((size_t)nw * nw + 1, sizeof *o->matrix);
  o->slices = calloc(nsl + 1, sizeof *o->slices);
  o->cap_slices = nsl;
  o->xfers = calloc(nx + 1, sizeof *o->xfers);
  o->cap_xfers = nx;
  o->ios = calloc(nio + 1, sizeof *o->ios);
  o->cap_ios = nio;
  o->mems = calloc(nmem + 1, sizeof *o->mems);
  o->cap_mems = nmem;
  o->runs = calloc(nruns + 1, sizeof *o->runs);
  o->cap_runs = nruns;
  o->strings_cap = 1 << 16;
  o->strings = calloc(o->strings_cap, 1);
  if (!o->workers || !o->kernels || !o->matrix || !o->slices || !o->xfers || !o->ios || !o->mems ||
      !o->runs || !o->strings)
    return NULL;
  for (int w = 0; w < nw; w++) {
    o->workers[w].rank = w + 1;
    o->workers[w].threads = nt;
    snprintf(o->workers[w].host, sizeof o->workers[w].host, "node%d", w / 2);
    o->workers[w].store_bytes = 64u << 20;
  }
  return o;
}

static void obs_free(dagr__obs *o) {
  if (!o) return;
  free(o->workers);
  free(o->kernels);
  free(o->matrix);
  free(o->slices);
  free(o->xfers);
  free(o->ios);
  free(o->mems);
  free(o->runs);
  free(o->strings);
  free(o);
}

static uint32_t add_str(dagr__obs *o, const char *s) {
  size_t n = strlen(s) + 1;
  while (o->strings_len + n > o->strings_cap) {
    o->strings_cap *= 2;
    o->strings = realloc(o->strings, o->strings_cap);
    CU_ASSERT_FATAL(o->strings != NULL);
  }
  memcpy(o->strings + o->strings_len, s, n);
  o->strings_len += n;
  return (uint32_t)(o->strings_len - n);
}

/* Appends a slice and keeps the per-kernel and per-worker sums as the runtime would. */
static void add_slice(dagr__obs *o, const char *key, int w, int t, int k, double ts, double dur,
                      uint32_t run) {
  CU_ASSERT_FATAL(o->nslices < o->cap_slices);
  dagr__obs_slice *s = &o->slices[o->nslices++];
  *s = (dagr__obs_slice){.ts = ts,
                         .dur = dur,
                         .in_bytes = 8,
                         .out_bytes = 8,
                         .key = add_str(o, key),
                         .run = run,
                         .worker = w,
                         .thread = (uint16_t)t,
                         .kernel = (uint16_t)k,
                         .status = DAGR_OK};
  o->kernels[k].tasks++;
  o->kernels[k].seconds += dur / 1e6;
  o->workers[w].tasks++;
  o->workers[w].busy_us += dur;
}

static void add_xfer(dagr__obs *o, const char *key, int dst, int src, double ts, double dur,
                     uint64_t bytes) {
  CU_ASSERT_FATAL(o->nxfers < o->cap_xfers);
  o->xfers[o->nxfers++] = (dagr__obs_xfer){
      .ts = ts, .dur = dur, .bytes = bytes, .key = add_str(o, key), .dst = dst, .src = src};
  o->matrix[(size_t)dst * o->nworkers + src] += bytes;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
    free(p);
    p = NULL;
  }
  fclose(f);
  if (p) p[n] = 0;
  if (len) *len = (size_t)n;
  return p;
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

static int valid_utf8(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    size_t len = c < 0x80             ? 1
                 : (c & 0xe0) == 0xc0 ? 2
                 : (c & 0xf0) == 0xe0 ? 3
                 : (c & 0xf8) == 0xf0 ? 4
                                      : 0;
    if (!len || i + len > n || (len == 2 && c < 0xc2)) return 0;
    for (size_t k = 1; k < len; k++)
      if ((p[i + k] & 0xc0) != 0x80) return 0;
    i += len;
  }
  return 1;
}

static int tmp_files_left(void) {
  DIR *d = opendir(g_dir);
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strstr(e->d_name, ".tmp-")) n++;
  closedir(d);
  return n;
}

/* Writes o to g_dir/name, checks what every report must satisfy, returns the text (or NULL). */
static char *write_and_read(const dagr__obs *o, const char *name, size_t *len) {
  char path[700], err[1024] = "";
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  int rc = dagr__obs_write_report(o, path, err, sizeof err);
  if (rc != DAGR_OK) fprintf(stderr, "  write_report(%s): %d %s\n", name, rc, err);
  CU_EXPECT_INT(rc, DAGR_OK);
  size_t n = 0;
  char *html = slurp(path, &n);
  CU_ASSERT_FATAL(html != NULL);
  if (len) *len = n;
  CU_ASSERT(strncmp(html, "<!DOCTYPE html>", 15) == 0);
  CU_ASSERT(strstr(html, "</html>\n") != NULL);
  static const char *const ids[] = {"id=\"facts\"",  "id=\"task-stream\"", "id=\"utilisation\"",
                                    "id=\"memory\"", "id=\"transfers\"",   "id=\"kernels\"",
                                    "id=\"runs\""};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) CU_EXPECT_STR_CONTAINS(html, ids[i]);
  /* Self-contained: nothing fetched, nothing run. */
  static const char *const banned[] = {"http://", "https://", "src=",       "@import",
                                       "url(",    "<script",  "@font-face", "<link"};
  for (size_t i = 0; i < sizeof banned / sizeof *banned; i++) {
    if (strstr(html, banned[i])) fprintf(stderr, "  %s contains %s\n", name, banned[i]);
    CU_ASSERT(strstr(html, banned[i]) == NULL);
  }
  CU_ASSERT(valid_utf8((const unsigned char *)html, n));
  /* Balanced main elements. */
  static const char *const tags[][2] = {{"<svg", "</svg>"},         {"<table", "</table>"},
                                        {"<section", "</section>"}, {"<tr>", "</tr>"},
                                        {"<title>", "</title>"},    {"<div", "</div>"}};
  for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
    size_t a = count(html, tags[i][0]), b = count(html, tags[i][1]);
    if (a != b) fprintf(stderr, "  %s: %zu %s but %zu %s\n", name, a, tags[i][0], b, tags[i][1]);
    CU_EXPECT_INT(a, b);
  }
  CU_EXPECT_INT(tmp_files_left(), 0);
  return html;
}

/* The value of data-value in the facts row labelled th. */
static unsigned long long fact(const char *html, const char *th) {
  char pat[128];
  snprintf(pat, sizeof pat, "<th>%s</th><td data-value=\"", th);
  const char *p = strstr(html, pat);
  if (!p) return (unsigned long long)-1;
  return strtoull(p + strlen(pat), NULL, 10);
}

/* The small session: 2 workers x 2 threads, 3 kernels, 2 runs, transfers, spills, samples. */
static dagr__obs *small_session(void) {
  dagr__obs *o = obs_new(2, 2, 64, 8, 8, 64, 4);
  CU_ASSERT_FATAL(o != NULL);
  o->runs[0] = (dagr__obs_run){.ts = 1000,
                               .dur = 9000,
                               .tasks = 12,
                               .bytes_moved = 3000,
                               .bytes_spilled = 4096,
                               .critical_path_s = 0.004,
                               .status = DAGR_OK};
  o->runs[1] = (dagr__obs_run){.ts = 12000,
                               .dur = 6000,
                               .tasks = 8,
                               .bytes_moved = 1000,
                               .critical_path_s = 0.002,
                               .status = DAGR_EKERNEL};
  o->nruns = 2;
  char key[64];
  for (int i = 0; i < 12; i++) {
    snprintf(key, sizeof key, "('x', %d)", i);
    add_slice(o, key, i % 2, (i / 2) % 2, i % 3, 1500 + 600.0 * (i / 4), 500, 0);
  }
  for (int i = 0; i < 8; i++) {
    snprintf(key, sizeof key, "('y', %d)", i);
    add_slice(o, key, i % 2, (i / 2) % 2, 1 + i % 2, 12500 + 900.0 * (i / 4), 800, 1);
  }
  add_xfer(o, "('x', 0)", 1, 0, 2100, 50, 1000);
  add_xfer(o, "('x', 1)", 0, 1, 2200, 60, 2000);
  add_xfer(o, "('y', 1)", 1, 0, 13000, 40, 1000);
  o->ios[o->nios++] = (dagr__obs_io){.ts = 3000,
                                     .dur = 100,
                                     .bytes = 4096,
                                     .key = add_str(o, "('x', 2)"),
                                     .worker = 0,
                                     .kind = DAGR__OBS_SPILL};
  o->ios[o->nios++] = (dagr__obs_io){.ts = 4000,
                                     .dur = 80,
                                     .bytes = 4096,
                                     .key = add_str(o, "('x', 2)"),
                                     .worker = 0,
                                     .kind = DAGR__OBS_RESTORE};
  for (int i = 0; i < 40; i++)
    o->mems[o->nmems++] = (dagr__obs_mem){.ts = 1000 + 450.0 * (i / 2),
                                          .bytes = (uint64_t)(i / 2 % 7) * 100000 + 50000,
                                          .worker = i % 2};
  return o;
}

/* --- tests ---------------------------------------------------------------------------------- */

static void test_small(void) {
  dagr__obs *o = small_session();
  size_t n;
  char *html = write_and_read(o, "small.html", &n);
  if (!html) return;
  /* Every task drawn, with its tooltip. */
  CU_EXPECT_INT(count(html, "<rect class=\"t "), 20);
  CU_EXPECT_INT(count(html, "<rect class=\"x "), 3);
  CU_EXPECT_INT(count(html, "<rect class=\"s "), 2);
  CU_EXPECT_STR_CONTAINS(html, "(&#39;x&#39;, 3)");
  CU_EXPECT_STR_CONTAINS(html, "rank 1 thread 0");
  CU_EXPECT_STR_CONTAINS(html, "rank 2 thread 1");
  CU_EXPECT_STR_CONTAINS(html, "rank 1 transfers");
  CU_EXPECT_STR_CONTAINS(html, ">run 1</text>");
  /* Kernel legend and table: the three kernels that ran, none of those that did not. */
  CU_EXPECT_STR_CONTAINS(html, "id=\"kernel-legend\"");
  const char *kt = strstr(html, "id=\"kernels\"");
  CU_ASSERT_FATAL(kt != NULL);
  for (int k = 0; k < 3; k++) CU_EXPECT_STR_CONTAINS(kt, knames[k]);
  CU_ASSERT(strstr(html, ">sleep<") == NULL && strstr(html, ">noop<") == NULL);
  CU_EXPECT_STR_CONTAINS(html, "class=\"sw\" style=\"background:#4e79a7\"");
  /* Facts: sums over the runs. */
  CU_EXPECT_INT(fact(html, "tasks"), 20);
  CU_EXPECT_INT(fact(html, "bytes moved"), 4000);
  CU_EXPECT_INT(fact(html, "spilled"), 4096);
  CU_EXPECT_INT(fact(html, "ranks"), 3);
  CU_EXPECT_INT(fact(html, "hosts"), 2);
  CU_EXPECT_INT(fact(html, "threads"), 4);
  CU_EXPECT_INT(fact(html, "runs"), 2);
  CU_EXPECT_STR_CONTAINS(html, "<td data-value=\"0.015000\">15.00 ms (sum of the runs)");
  CU_EXPECT_STR_CONTAINS(html, "<td data-value=\"0.004000\">4.00 ms (longest, run 0)");
  CU_EXPECT_STR_CONTAINS(html, "(1 failed)");
  CU_EXPECT_STR_CONTAINS(html, dagr_strerror(DAGR_EKERNEL));
  /* Transfer matrix: rank 2 pulled 2000 bytes from rank 1, rank 1 2000 from rank 2. */
  const char *mx = strstr(html, "id=\"transfers\"");
  CU_ASSERT_FATAL(mx != NULL);
  CU_EXPECT_INT(count(mx, "data-bytes=\"2000\""), 2);
  CU_EXPECT_INT(count(mx, "data-bytes=\"0\""), 2);
  /* Store memory: one line per worker. */
  const char *mem = strstr(html, "id=\"memory\"");
  CU_ASSERT_FATAL(mem != NULL);
  CU_EXPECT_STR_CONTAINS(mem, "rank 1: peak 635 KiB of 64.0 MiB");
  CU_ASSERT(strstr(html, "Aggregated") == NULL);
  CU_ASSERT(strstr(html, "Nothing was recorded") == NULL);
  free(html);
  obs_free(o);
}

static void test_hostile_keys(void) {
  dagr__obs *o = obs_new(1, 1, 16, 2, 0, 0, 1);
  CU_ASSERT_FATAL(o != NULL);
  static const char *const names[] = {"<b>k&amp;</b>", "add"};
  o->kernel_names = names;
  o->nkernels = 2;
  o->runs[o->nruns++] = (dagr__obs_run){.ts = 0, .dur = 100, .tasks = 6};
  snprintf(o->workers[0].host, sizeof o->workers[0].host, "<i>host</i>");
  add_slice(o, "<script>alert(1)</script>", 0, 0, 0, 0, 10, 0);
  add_slice(o, "a&b \"q\" 'p'", 0, 0, 1, 10, 10, 0);
  add_slice(o, "bad \xff\xfe utf8 \xc3", 0, 0, 1, 20, 10, 0);
  add_slice(o, "ctl \x01\x1b end", 0, 0, 1, 30, 10, 0);
  add_slice(o, "caf\xc3\xa9 \xe2\x9c\x93", 0, 0, 1, 40, 10, 0);
  char *big = malloc(20001);
  CU_ASSERT_FATAL(big != NULL);
  memset(big, 'z', 20000);
  big[20000] = 0;
  add_slice(o, big, 0, 0, 1, 50, 10, 0);
  char *html = write_and_read(o, "hostile.html", NULL);
  if (html) {
    CU_ASSERT(strstr(html, "<script") == NULL);
    CU_EXPECT_STR_CONTAINS(html, "&lt;script&gt;alert(1)&lt;/script&gt;");
    CU_EXPECT_STR_CONTAINS(html, "a&amp;b &quot;q&quot; &#39;p&#39;");
    CU_EXPECT_STR_CONTAINS(html, "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd");
    CU_EXPECT_STR_CONTAINS(html, "ctl \\x01\\x1b end");
    CU_EXPECT_STR_CONTAINS(html, "caf\xc3\xa9 \xe2\x9c\x93");
    CU_EXPECT_STR_CONTAINS(html, "&lt;b&gt;k&amp;amp;&lt;/b&gt;");
    CU_EXPECT_STR_CONTAINS(html, "&lt;i&gt;host&lt;/i&gt;");
    CU_ASSERT(strstr(html, "<b>k") == NULL && strstr(html, "<i>host") == NULL);
    /* Long keys are cut in tooltips. */
    memset(big + 1000, 0, 1);
    CU_ASSERT(strstr(html, big) == NULL);
    CU_EXPECT_STR_CONTAINS(html, "zzz\xe2\x80\xa6");
    CU_EXPECT_INT(count(html, "<rect class=\"t "), 6);
  }
  free(big);
  free(html);
  obs_free(o);
}

/* 300,000 1-us tasks on 2 workers x 4 threads: the stream is aggregated, the page small. */
static dagr__obs *large_session(size_t nsl) {
  dagr__obs *o = obs_new(2, 4, nsl, 3000, 100, 100000, 3);
  CU_ASSERT_FATAL(o != NULL);
  /* One key string for all: the arena is not what is measured here. */
  uint32_t key = add_str(o, "('noop-abc', 123456)");
  double span = (double)nsl / 8 * 1.6; /* us: 1 us tasks, 0.6 us gaps, 8 threads */
  for (int r = 0; r < 3; r++)
    o->runs[o->nruns++] = (dagr__obs_run){.ts = r * span / 3,
                                          .dur = span / 3 * 0.95,
                                          .tasks = nsl / 3,
                                          .bytes_moved = 1000000,
                                          .critical_path_s = 0.01 * (r + 1)};
  for (size_t i = 0; i < nsl; i++) {
    int w = (int)(i % 2), t = (int)(i / 2 % 4);
    size_t j = i / 8;
    int k = (int)((j / 5000 + (size_t)t) % 5);
    dagr__obs_slice *s = &o->slices[o->nslices++];
    *s = (dagr__obs_slice){.ts = (double)j * 1.6,
                           .dur = 1.0,
                           .key = key,
                           .run = (uint32_t)(j * 1.6 / (span / 3)),
                           .worker = w,
                           .thread = (uint16_t)t,
                           .kernel = (uint16_t)k};
    o->kernels[k].tasks++;
    o->kernels[k].seconds += 1e-6;
    o->workers[w].tasks++;
    o->workers[w].busy_us += 1.0;
  }
  for (int i = 0; i < 3000; i++)
    o->xfers[o->nxfers++] = (dagr__obs_xfer){.ts = i * span / 3000,
                                             .dur = 20,
                                             .bytes = 1000,
                                             .key = key,
                                             .dst = i % 2,
                                             .src = 1 - i % 2};
  o->matrix[1] = o->matrix[2] = 1500000;
  for (int i = 0; i < 100000; i++)
    o->mems[o->nmems++] = (dagr__obs_mem){
        .ts = i * span / 100000, .bytes = (uint64_t)(i % 1000) * 10000, .worker = i % 2};
  return o;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_large(void) {
  dagr__obs *o = large_session(300000);
  double t0 = now_ms();
  size_t n = 0;
  char *html = write_and_read(o, "large.html", &n);
  double ms = now_ms() - t0;
  printf("\n  # 300,000 slices: %zu bytes in %.1f ms\n", n, ms);
  if (html) {
    CU_ASSERT(n < 5 * 1000 * 1000);
    CU_EXPECT_STR_CONTAINS(html, "<b>Aggregated:</b> 303,000 items");
    CU_EXPECT_INT(count(html, "<rect class=\"t "), 0);
    CU_ASSERT(count(html, "<path class=\"a k") >= 5);
    CU_EXPECT_INT(fact(html, "tasks"), 300000);
    CU_EXPECT_INT(fact(html, "bytes moved"), 3000000);
    for (int k = 0; k < 5; k++) CU_EXPECT_STR_CONTAINS(strstr(html, "id=\"kernels\""), knames[k]);
    CU_EXPECT_STR_CONTAINS(html, "largest per time column");
    /* A 1 us task on a 1.6 us cadence keeps each thread about 60 % busy. */
    CU_EXPECT_STR_CONTAINS(html, "rank 1 thread 3: 37,500 tasks");
  }
  free(html);
  obs_free(o);
}

static void test_empty(void) {
  dagr__obs *o = calloc(1, sizeof *o);
  CU_ASSERT_FATAL(o != NULL);
  char *html = write_and_read(o, "empty.html", NULL);
  if (html) {
    CU_EXPECT_STR_CONTAINS(html, "Nothing was recorded in this session");
    CU_EXPECT_STR_CONTAINS(html, "No task stream was recorded");
    CU_EXPECT_INT(fact(html, "tasks"), 0);
  }
  free(html);
  html = write_and_read(NULL, "null.html", NULL);
  if (html) CU_EXPECT_STR_CONTAINS(html, "Nothing was recorded in this session");
  free(html);
  free(o);

  /* Without detail: sums and runs only. */
  o = obs_new(2, 3, 0, 0, 0, 0, 1);
  CU_ASSERT_FATAL(o != NULL);
  o->detail = 0;
  o->runs[o->nruns++] =
      (dagr__obs_run){.ts = 5, .dur = 2e6, .tasks = 40, .critical_path_s = 0.5, .status = 0};
  o->kernels[3].tasks = 40;
  o->kernels[3].seconds = 3.0;
  o->workers[0].busy_us = 1.5e6;
  o->workers[1].busy_us = 1.5e6;
  html = write_and_read(o, "nodetail.html", NULL);
  if (html) {
    CU_ASSERT(strstr(html, "Nothing was recorded") == NULL);
    CU_EXPECT_STR_CONTAINS(html, "No task stream was recorded (the session kept only sums");
    CU_EXPECT_STR_CONTAINS(strstr(html, "id=\"kernels\""), "sleep");
    CU_EXPECT_STR_CONTAINS(html, "overall <b>25.0 %</b>");
    CU_EXPECT_INT(fact(html, "tasks"), 40);
  }
  free(html);
  obs_free(o);
}

/* Inconsistent records never crash the writer: out-of-range workers, kernels and key offsets,
 * NaN and negative times, a thread beyond the declared count, no kernel names, no matrix. */
static void test_malformed(void) {
  dagr__obs *o = obs_new(2, 1, 24, 4, 2, 4, 1);
  CU_ASSERT_FATAL(o != NULL);
  o->kernel_names = NULL;
  free(o->matrix);
  o->matrix = NULL;
  o->runs[o->nruns++] = (dagr__obs_run){.ts = NAN, .dur = -5, .critical_path_s = INFINITY};
  add_slice(o, "ok", 0, 0, 1, 10, 5, 0);
  add_slice(o, "thread 7", 1, 7, 2, 20, 5, 0);
  add_slice(o, "nan", 0, 0, 1, NAN, 5, 0);
  add_slice(o, "neg", 0, 0, 1, 30, -3, 0);
  add_slice(o, "inf dur", 1, 0, 1, 40, INFINITY, 0);
  add_slice(o, "far future", 1, 0, 1, 9e14, 1e16, 0);
  add_slice(o, "far past", 0, 0, 2, -9e14, 1, 0);
  add_slice(o, "beyond", 0, 0, 2, -1e300, 1, 0);
  o->slices[o->nslices] = o->slices[0];
  o->slices[o->nslices].worker = 9;   /* no such worker */
  o->slices[o->nslices].kernel = 700; /* beyond nkernels */
  o->slices[o->nslices++].key = 1u << 30;
  o->slices[o->nslices] = o->slices[0];
  o->slices[o->nslices].kernel = 300;
  o->slices[o->nslices].status = DAGR_EKERNEL;
  o->slices[o->nslices++].key = 1u << 30; /* key offset beyond the arena */
  o->xfers[o->nxfers++] = (dagr__obs_xfer){.ts = 15, .dur = 2, .bytes = 10, .dst = 0, .src = 5};
  o->xfers[o->nxfers++] = (dagr__obs_xfer){.ts = 16, .dur = 2, .bytes = 20, .dst = 1, .src = 0};
  o->xfers[o->nxfers++] = (dagr__obs_xfer){.ts = 17, .dur = 2, .bytes = 20, .dst = -1, .src = 0};
  o->ios[o->nios++] = (dagr__obs_io){.ts = 1e300, .dur = 1, .worker = 1, .kind = 99};
  o->mems[o->nmems++] = (dagr__obs_mem){.ts = 12, .bytes = UINT64_MAX, .worker = 0};
  o->mems[o->nmems++] = (dagr__obs_mem){.ts = 13, .bytes = 5, .worker = 3};
  o->workers[1].host[63] = 'x'; /* not NUL-terminated */
  memset(o->workers[1].host, 'h', 64);
  char *html = write_and_read(o, "malformed.html", NULL);
  if (html) {
    CU_EXPECT_STR_CONTAINS(html, "kernel #300");
    CU_EXPECT_STR_CONTAINS(html, "rank 2 thread 7");
    CU_EXPECT_STR_CONTAINS(html, "failed: ");
  }
  free(html);
  obs_free(o);
}

/* Many workers: one stream row per worker, the matrix cut to the busiest workers. */
static void test_many_workers(void) {
  int nw = 100;
  dagr__obs *o = obs_new(nw, 8, 4000, 400, 0, 400, 1);
  CU_ASSERT_FATAL(o != NULL);
  o->runs[o->nruns++] = (dagr__obs_run){.ts = 0, .dur = 1000, .tasks = 4000};
  for (int i = 0; i < 4000; i++) add_slice(o, "k", i % nw, i / nw % 8, i % 5, i / 4.0, 2, 0);
  for (int i = 0; i < 400; i++) add_xfer(o, "k", i % nw, (i * 7 + 1) % nw, i * 2.5, 1, 100 + i);
  for (int i = 0; i < 400; i++)
    o->mems[o->nmems++] = (dagr__obs_mem){.ts = i * 2.5, .bytes = 1000u * i, .worker = i % nw};
  size_t n;
  char *html = write_and_read(o, "many.html", &n);
  if (html) {
    CU_EXPECT_STR_CONTAINS(html, "One row per worker (its threads together)");
    CU_EXPECT_STR_CONTAINS(html, "the 32 workers with the most traffic of 100");
    CU_EXPECT_STR_CONTAINS(html, "range over workers");
    CU_EXPECT_INT(count(html, "<rect class=\"t "), 4000);
    CU_ASSERT(n < 5 * 1000 * 1000);
  }
  free(html);
  obs_free(o);
}

static void test_errors(void) {
  dagr__obs *o = small_session();
  char err[1024] = "", path[700];
  const char *bad = "/nonexistent-dagr-dir/sub/report.html";
  CU_EXPECT_INT(dagr__obs_write_report(o, bad, err, sizeof err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(err, bad);
  struct stat st;
  CU_ASSERT(stat(bad, &st) != 0);
  /* A directory in the way of the final name: the rename fails, nothing is left behind. */
  snprintf(path, sizeof path, "%s/adir.html", g_dir);
  CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
  err[0] = 0;
  CU_EXPECT_INT(dagr__obs_write_report(o, path, err, sizeof err), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(err, path);
  CU_ASSERT(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
  CU_EXPECT_INT(tmp_files_left(), 0);
  rmdir(path);
  CU_EXPECT_INT(dagr__obs_write_report(o, NULL, err, sizeof err), DAGR_EIO);
  CU_ASSERT(dagr__obs_write_report(o, "", err, sizeof err) != DAGR_OK);
  obs_free(o);
}

static void remove_dir(void) {
  DIR *d = opendir(g_dir);
  if (!d) return;
  char p[1024];
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
    if (getenv("DAGR_TEST_KEEP")) continue;
    unlink(p);
  }
  closedir(d);
  if (!getenv("DAGR_TEST_KEEP"))
    rmdir(g_dir);
  else
    fprintf(stderr, "reports kept in %s\n", g_dir);
}

int main(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/dagr_report.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) return 2;
  static const cu_test_def tests[] = {
      {"small session: sections, every task, facts, matrix", test_small},
      {"hostile keys, kernel names and hosts are escaped", test_hostile_keys},
      {"300,000 tasks are aggregated, the page stays small", test_large},
      {"empty and sums-only sessions", test_empty},
      {"malformed records", test_malformed},
      {"many workers", test_many_workers},
      {"errors name the file and leave nothing", test_errors},
      {NULL, NULL},
  };
  int rc = cu_run_suite("report", tests);
  remove_dir();
  return rc;
}
