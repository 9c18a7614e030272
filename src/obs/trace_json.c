/* trace_json.c: writes a session record as a Chrome trace-event file (Perfetto, chrome://tracing).
 */
#include <math.h>
#include <string.h>

#include "obs/obs.h"
#include "obs/ofile.h"

/* Track ids within a rank's process: executor threads keep their index; these sit after them. */
enum { TID_XFER = 10000, TID_IO = 10001, TID_RUNS = 20000 };

/* Writes s as a JSON string. Keys are arbitrary bytes: invalid UTF-8 becomes U+FFFD, so the file
 * stays valid JSON for strict parsers. */
static void put_str(FILE *f, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  putc_unlocked('"', f);
  while (*p) {
    /* Plain printable ASCII in one write (most keys are only that). */
    const unsigned char *q = p;
    while (*q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
    if (q > p) {
      fwrite_unlocked(p, 1, (size_t)(q - p), f);
      p = q;
      continue;
    }
    unsigned c = *p;
    if (c == '"' || c == '\\') {
      putc('\\', f);
      putc((int)c, f);
      p++;
    } else if (c < 0x20) {
      fprintf(f, "\\u%04x", c);
      p++;
    } else if (c < 0x80) {
      putc((int)c, f);
      p++;
    } else {
      /* Length of a well-formed sequence starting here, 0 if it is not one. */
      int n = c >= 0xc2 && c <= 0xdf   ? 2
              : c >= 0xe0 && c <= 0xef ? 3
              : c >= 0xf0 && c <= 0xf4 ? 4
                                       : 0;
      for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) n = 0;
      if (n == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))) n = 0;
      if (n == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))) n = 0;
      if (n) {
        fwrite(p, 1, (size_t)n, f);
        p += n;
      } else {
        fputs("\\ufffd", f);
        p++;
      }
    }
  }
  putc_unlocked('"', f);
}

/* Microseconds with nanosecond digits, without printf's cost per number (a trace can hold
 * millions of events). */
static void put_us(FILE *f, double us) {
  if (!isfinite(us)) us = 0;
  long long ns = llround(us * 1000.0);
  if (ns < 0) {
    putc('-', f);
    ns = -ns;
  }
  char buf[32];
  int k = (int)sizeof buf;
  buf[--k] = '\0';
  for (int i = 0; i < 3; i++) {
    buf[--k] = (char)('0' + ns % 10);
    ns /= 10;
  }
  buf[--k] = '.';
  do {
    buf[--k] = (char)('0' + ns % 10);
    ns /= 10;
  } while (ns);
  fputs(buf + k, f);
}

static void put_u64(FILE *f, uint64_t v) {
  char buf[24];
  int k = (int)sizeof buf;
  buf[--k] = '\0';
  do {
    buf[--k] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  fputs(buf + k, f);
}

static const char *key_of(const dagr__obs *o, uint32_t off) {
  return o->strings && off < o->strings_len ? o->strings + off : "?";
}

static const char *kernel_of(const dagr__obs *o, int k) {
  return k >= 0 && k < o->nkernels && o->kernel_names && o->kernel_names[k] ? o->kernel_names[k]
                                                                            : "?";
}

static int rank_of(const dagr__obs *o, int w) {
  return w >= 0 && w < o->nworkers ? o->workers[w].rank : 0;
}

/* A metadata event naming a process (rank) or a thread (track). */
static void meta(FILE *f, const char *what, int pid, int tid, const char *name, int sort) {
  fprintf(f, ",\n{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":", what,
          pid, tid);
  put_str(f, name);
  fputs("}}", f);
  fprintf(f,
          ",\n{\"name\":\"%s_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
          "\"args\":{\"sort_index\":%d}}",
          strcmp(what, "process_name") ? "thread" : "process", pid, tid, sort);
}

static void names(FILE *f, const dagr__obs *o) {
  char name[160];
  int local = o->nworkers == 1 && o->workers[0].rank == 0;
  snprintf(name, sizeof name, "rank 0 (%s) %s", local ? "scheduler + local workers" : "scheduler",
           o->host0);
  /* The first event has no leading comma: a process name for rank 0, always present. */
  fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"tid\":0,\"args\":{\"name\":", f);
  put_str(f, name);
  fputs("}}", f);
  meta(f, "thread_name", 0, TID_RUNS, "dagr_get runs", -1);
  for (int w = 0; w < o->nworkers; w++) {
    const dagr__obs_worker *ow = &o->workers[w];
    if (ow->rank != 0) {
      snprintf(name, sizeof name, "rank %d (worker) %s", ow->rank, ow->host);
      meta(f, "process_name", ow->rank, 0, name, ow->rank);
    }
    for (int t = 0; t < ow->threads; t++) {
      snprintf(name, sizeof name, "thread %d", t);
      meta(f, "thread_name", ow->rank, t, name, t);
    }
    meta(f, "thread_name", ow->rank, TID_XFER, "transfers (pulls into this worker)", TID_XFER);
    meta(f, "thread_name", ow->rank, TID_IO, "spill and restore", TID_IO);
  }
}

static void slice(FILE *f, const dagr__obs *o, const dagr__obs_slice *s) {
  fputs(",\n{\"name\":", f);
  put_str(f, key_of(o, s->key));
  fputs(",\"cat\":", f);
  put_str(f, kernel_of(o, s->kernel));
  fputs(",\"ph\":\"X\",\"ts\":", f);
  put_us(f, s->ts);
  fputs(",\"dur\":", f);
  put_us(f, s->dur);
  fprintf(f, ",\"pid\":%d,\"tid\":%u,\"args\":{\"key\":", rank_of(o, s->worker), s->thread);
  put_str(f, key_of(o, s->key));
  fputs(",\"kernel\":", f);
  put_str(f, kernel_of(o, s->kernel));
  fputs(",\"input_bytes\":", f);
  put_u64(f, s->in_bytes);
  fputs(",\"output_bytes\":", f);
  put_u64(f, s->out_bytes);
  fprintf(f, ",\"run\":%u%s}}", s->run, s->status ? ",\"failed\":true" : "");
}

static void xfer(FILE *f, const dagr__obs *o, const dagr__obs_xfer *x) {
  fputs(",\n{\"name\":", f);
  put_str(f, key_of(o, x->key));
  fputs(",\"cat\":\"transfer\",\"ph\":\"X\",\"ts\":", f);
  put_us(f, x->ts);
  fputs(",\"dur\":", f);
  put_us(f, x->dur);
  fprintf(f, ",\"pid\":%d,\"tid\":%d,\"args\":{\"key\":", rank_of(o, x->dst), TID_XFER);
  put_str(f, key_of(o, x->key));
  fprintf(f, ",\"from_rank\":%d,\"to_rank\":%d,\"bytes\":", x->src >= 0 ? rank_of(o, x->src) : -1,
          rank_of(o, x->dst));
  put_u64(f, x->bytes);
  fprintf(f, ",\"run\":%u}}", x->run);
}

static void io(FILE *f, const dagr__obs *o, const dagr__obs_io *e) {
  const char *kind = e->kind == DAGR__OBS_SPILL ? "spill" : "restore";
  fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":", kind, kind);
  put_us(f, e->ts);
  fputs(",\"dur\":", f);
  put_us(f, e->dur);
  fprintf(f, ",\"pid\":%d,\"tid\":%d,\"args\":{\"key\":", rank_of(o, e->worker), TID_IO);
  put_str(f, key_of(o, e->key));
  fputs(",\"bytes\":", f);
  put_u64(f, e->bytes);
  fprintf(f, ",\"run\":%u}}", e->run);
}

static void mem(FILE *f, const dagr__obs *o, const dagr__obs_mem *m) {
  fputs(",\n{\"name\":\"store\",\"ph\":\"C\",\"ts\":", f);
  put_us(f, m->ts);
  fprintf(f, ",\"pid\":%d,\"args\":{\"used_bytes\":", rank_of(o, m->worker));
  put_u64(f, m->bytes);
  fputs("}}", f);
}

static void run(FILE *f, const dagr__obs_run *r, size_t i) {
  fprintf(f, ",\n{\"name\":\"dagr_get %zu\",\"cat\":\"run\",\"ph\":\"X\",\"ts\":", i + 1);
  put_us(f, r->ts);
  fputs(",\"dur\":", f);
  put_us(f, r->dur);
  fprintf(f, ",\"pid\":0,\"tid\":%d,\"args\":{\"tasks\":", TID_RUNS);
  put_u64(f, r->tasks);
  fputs(",\"bytes_moved\":", f);
  put_u64(f, r->bytes_moved);
  fputs(",\"bytes_spilled\":", f);
  put_u64(f, r->bytes_spilled);
  fprintf(f, ",\"critical_path_s\":%.6f,\"status\":%d}}", r->critical_path_s, r->status);
}

int dagr__obs_write_trace(const dagr__obs *o, const char *path, char *err, size_t errlen) {
  dagr__ofile of;
  int rc = dagr__ofile_open(&of, path, err, errlen);
  if (rc) return rc;
  FILE *f = of.f;
  static char buf[1 << 20];
  setvbuf(f, buf, _IOFBF, sizeof buf);
  fputs("{\"traceEvents\":[\n", f);
  names(f, o);
  for (size_t i = 0; i < o->nruns; i++) run(f, &o->runs[i], i);
  for (size_t i = 0; i < o->nslices; i++) slice(f, o, &o->slices[i]);
  for (size_t i = 0; i < o->nxfers; i++) xfer(f, o, &o->xfers[i]);
  for (size_t i = 0; i < o->nios; i++) io(f, o, &o->ios[i]);
  for (size_t i = 0; i < o->nmems; i++) mem(f, o, &o->mems[i]);
  fprintf(f,
          "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"dagr\",\"ranks\":%d,"
          "\"workers\":%d,\"runs\":%zu,\"tasks\":%zu}}\n",
          o->nranks, o->nworkers, o->nruns, o->nslices);
  rc = dagr__ofile_commit(&of, 1, err, errlen);
  return rc;
}
