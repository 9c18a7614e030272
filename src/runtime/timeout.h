/* timeout.h: task time limits: how seconds become the milliseconds sent to workers, and a
 * worker's watch list of assigned tasks that have a limit. */
#ifndef DAGR_RUNTIME_TIMEOUT_H
#define DAGR_RUNTIME_TIMEOUT_H
#ifndef DAGR_BUILDING
#error "src/runtime/timeout.h is private to libdagr"
#endif

#include <math.h>

#include "internal/common.h"

/* The largest limit in seconds: it travels to the worker as u32 milliseconds. */
#define DAGR__TIMEOUT_MAX_S 4294967.0

/* Is s a valid limit (0 = none, up to DAGR__TIMEOUT_MAX_S; NaN is not)? */
static inline int dagr__timeout_valid(double s) {
  return s >= 0 && s <= DAGR__TIMEOUT_MAX_S;
}

/* The milliseconds sent for a valid limit of s seconds: 0 for none, and at least 1 for any
 * positive limit (a limit under 1 ms must not turn into "no limit"). */
static inline uint32_t dagr__timeout_ms(double s) {
  if (!(s > 0)) return 0;
  double ms = ceil(s * 1000.0);
  return ms >= 4294967295.0 ? UINT32_MAX : (uint32_t)ms;
}

/* One watched task, embedded in the worker's task record. The executor thread stores start_ns
 * (atomically, never 0) when the kernel starts; only the comm thread touches the rest. */
typedef struct dagr__watch_item {
  uint64_t start_ns; /* 0: not started yet */
  uint32_t limit_ms; /* 0: no limit, not watched */
  uint32_t slot;     /* index + 1 in the watch list, 0 when not listed */
} dagr__watch_item;

/* The comm thread's list of watched tasks. Zero-initialized is empty. */
typedef struct dagr__watch {
  dagr__watch_item **items;
  size_t n, cap;
  uint64_t next_check_ns; /* scans are spaced out: a worker may watch thousands of tasks */
} dagr__watch;

/* Executor thread, before the kernel runs: starts item's clock (does nothing without a limit). */
static inline void dagr__watch_started(dagr__watch_item *it) {
  if (!it->limit_ms) return;
  uint64_t now = dagr__now_ns();
  __atomic_store_n(&it->start_ns, now ? now : 1, __ATOMIC_RELEASE);
}

/* Lists item (its limit_ms set, start_ns 0). Errors: DAGR_ENOMEM. */
int dagr__watch_add(dagr__watch *w, dagr__watch_item *it);
/* Unlists item if listed. */
void dagr__watch_remove(dagr__watch *w, dagr__watch_item *it);
/* An item whose kernel started more than its limit before now_ns, unlisted, or NULL. Scans at
 * most every 10 ms (the precision of limits); call until NULL. */
dagr__watch_item *dagr__watch_expired(dagr__watch *w, uint64_t now_ns);
/* Keeps p (memory left to a kernel abandoned past its limit, which may still use it) reachable
 * from a global until the process ends, so that leak checkers do not report it. */
void dagr__keep_alive(void *p);

/* Unlists everything (the end of a run). */
void dagr__watch_clear(dagr__watch *w);
void dagr__watch_free(dagr__watch *w);

#endif
