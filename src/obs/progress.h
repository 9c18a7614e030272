/* progress.h: the one-line progress bar rank 0 draws on stderr while a dagr_get runs. */
#ifndef DAGR_OBS_PROGRESS_H
#define DAGR_OBS_PROGRESS_H
#ifndef DAGR_BUILDING
#error "src/obs/progress.h is private to libdagr"
#endif

#include <stdio.h>

#include "internal/common.h"

/* mode: -1 off (DAGR_PROGRESS=0), 0 automatic, 1 on from the start of every run
 * (DAGR_PROGRESS=1). On a terminal the line is redrawn in place at most 10 times a second, from
 * 0.5 s into a run (automatic); otherwise (batch logs) a plain line is written every `interval`
 * seconds of a run, and a last one when it ends if any was written. */
typedef struct dagr__progress {
  int mode;
  int tty;
  double interval; /* seconds between plain lines */
  FILE *out;
  /* the current run */
  uint64_t total;
  double t0, next;
  int lines; /* lines written for this run (plain) or redraws (terminal) */
  int width; /* visible length of the last terminal line */
} dagr__progress;

void dagr__progress_init(dagr__progress *p, int mode, double interval, FILE *out, int tty);
void dagr__progress_start(dagr__progress *p, uint64_t total);
/* Draws when it is time: cheap to call often (one clock read). */
static inline void dagr__progress_tick(dagr__progress *p, uint64_t done, uint64_t moved,
                                       uint64_t spilled);
void dagr__progress_draw(dagr__progress *p, double now, uint64_t done, uint64_t moved,
                         uint64_t spilled, int final);
/* Ends the run's display: a last line when anything was shown. */
void dagr__progress_end(dagr__progress *p, uint64_t done, uint64_t moved, uint64_t spilled);

static inline void dagr__progress_tick(dagr__progress *p, uint64_t done, uint64_t moved,
                                       uint64_t spilled) {
  double now = dagr__now();
  if (now >= p->next) dagr__progress_draw(p, now, done, moved, spilled, 0);
}

#endif
