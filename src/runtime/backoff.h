/* backoff.h: how a polling thread waits when idle, so idle ranks do not burn a core. */
#ifndef DAGR_RUNTIME_BACKOFF_H
#define DAGR_RUNTIME_BACKOFF_H
#ifndef DAGR_BUILDING
#error "src/runtime/backoff.h is private to libdagr"
#endif

#include <sched.h>
#include <time.h>

/* A few yields keep latency low while messages are flowing; after that the sleep doubles up to
 * 1 ms so an idle rank costs a few percent of a core (PLATFORM-NOTES: a rank blocked in MPI
 * otherwise spins at 100%). Oversubscribed runs need the yields: the peer we wait for may need
 * our core. */
static inline long dagr__backoff_ns(unsigned idle) {
  if (idle < 16) return 0;
  unsigned step = (idle - 16) / 8;
  long ns = 2000L << (step > 9 ? 9 : step);
  return ns > 1000000L ? 1000000L : ns;
}

static inline void dagr__backoff(unsigned idle) {
  long ns = dagr__backoff_ns(idle);
  if (ns == 0) {
    sched_yield();
    return;
  }
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

#endif
