/* progress.c: the one-line progress bar rank 0 draws on stderr while a dagr_get runs. */
#include <math.h>
#include <string.h>

#include "obs/progress.h"

void dagr__progress_init(dagr__progress *p, int mode, double interval, FILE *out, int tty) {
  memset(p, 0, sizeof *p);
  p->mode = mode;
  p->interval = interval > 0 ? interval : 10.0;
  p->out = out;
  p->tty = tty;
}

void dagr__progress_start(dagr__progress *p, uint64_t total) {
  p->total = total;
  p->t0 = dagr__now();
  p->lines = 0;
  p->width = 0;
  /* Automatic: nothing for runs shorter than half a second, and in a batch log nothing before
   * the first interval (a log gets a line per interval, not two lines per short run). */
  double first = p->tty ? 0.5 : p->interval > 0.5 ? p->interval : 0.5;
  p->next = p->mode < 0 ? INFINITY : p->mode > 0 ? p->t0 : p->t0 + first;
}

static void human_bytes(char *buf, size_t len, uint64_t b) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)b;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void human_time(char *buf, size_t len, double s) {
  if (!(s >= 0) || s > 1e7)
    snprintf(buf, len, "?");
  else if (s < 60)
    snprintf(buf, len, "%.1fs", s);
  else if (s < 3600)
    snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
  else
    snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void dagr__progress_draw(dagr__progress *p, double now, uint64_t done, uint64_t moved,
                         uint64_t spilled, int final) {
  if (p->mode < 0 || !p->out) {
    p->next = INFINITY;
    return;
  }
  double el = now - p->t0, frac = p->total ? (double)done / (double)p->total : 1.0;
  if (frac > 1) frac = 1;
  char bar[24], elapsed[16], left[16], mv[24], sp[40] = "";
  int filled = (int)(frac * 20);
  for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
  bar[20] = '\0';
  human_time(elapsed, sizeof elapsed, el);
  if (final)
    snprintf(left, sizeof left, "0s");
  else if (done > 0)
    human_time(left, sizeof left,
               el * (double)(p->total - (done < p->total ? done : p->total)) / (double)done);
  else
    snprintf(left, sizeof left, "?");
  human_bytes(mv, sizeof mv, moved);
  if (spilled) {
    char b[24];
    human_bytes(b, sizeof b, spilled);
    snprintf(sp, sizeof sp, " | %s spilled", b);
  }
  char line[256];
  int n = snprintf(line, sizeof line,
                   "dagr [%s] %3d%% %llu/%llu tasks | %s elapsed | %s left | %s "
                   "moved%s",
                   bar, (int)floor(frac * 100), (unsigned long long)done,
                   (unsigned long long)p->total, elapsed, left, mv, sp);
  if (n < 0) return;
  if (p->tty) {
    /* Redraw in place; pad over a longer previous line instead of relying on escape codes. */
    fprintf(p->out, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
    if (final) fputc('\n', p->out);
    p->width = n;
    p->next = now + 0.1;
  } else {
    fprintf(p->out, "%s\n", line);
    p->next = now + p->interval;
  }
  fflush(p->out);
  p->lines++;
}

void dagr__progress_end(dagr__progress *p, uint64_t done, uint64_t moved, uint64_t spilled) {
  if (p->mode >= 0 && (p->lines > 0 || p->mode > 0))
    dagr__progress_draw(p, dagr__now(), done, moved, spilled, 1);
  p->next = INFINITY;
}
