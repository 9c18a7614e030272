/* common.h: definitions shared by every internal module (error helpers, timing, small utilities).
 */
#ifndef DAGR_INTERNAL_COMMON_H
#define DAGR_INTERNAL_COMMON_H
#ifndef DAGR_BUILDING
#error "src/internal/common.h is private to libdagr; include <dagr.h> instead"
#endif

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dagr.h"

#define DAGR__ERRLEN 1024

#define DAGR__LIKELY(x)   __builtin_expect(!!(x), 1)
#define DAGR__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Writes a formatted message into buf (truncating) and returns status, for
 * `return dagr__errf(buf, len, DAGR_EINVAL, "...")`. buf may be NULL. */
int dagr__errf(char *buf, size_t len, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the process-wide message returned by dagr_last_error(NULL). */
void dagr__set_global_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *dagr__global_error(void);

/* Most executor groups (NUMA domains) one worker keeps; the scheduler and the messages size
 * their per-worker tables by it. */
#define DAGR__MAX_GROUPS 16

/* What the scheduler knows of each worker: its threads per executor group and its host. */
typedef struct dagr__worker_desc {
  int threads;
  int ngroups; /* executor groups (NUMA domains), 1..DAGR__MAX_GROUPS */
  int group_threads[DAGR__MAX_GROUPS];
  uint64_t host;        /* hash of the host name: equal for workers on one host */
  uint64_t store_bytes; /* its object store's capacity */
  char hostname[64];    /* for reports (truncated) */
} dagr__worker_desc;

/* Monotonic seconds. */
static inline double dagr__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static inline uint64_t dagr__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* FNV-1a 64-bit, streaming: start from DAGR__FNV_INIT. */
#define DAGR__FNV_INIT 0xcbf29ce484222325ull
static inline uint64_t dagr__fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = (const unsigned char *)data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

#endif
