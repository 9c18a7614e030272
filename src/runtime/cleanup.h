/* cleanup.h: process-wide hooks that remove a rank's temporary files (spill directories) when
 * the job stops, by dagr_finalize or by SIGTERM/SIGINT. */
#ifndef DAGR_RUNTIME_CLEANUP_H
#define DAGR_RUNTIME_CLEANUP_H
#ifndef DAGR_BUILDING
#error "src/runtime/cleanup.h is private to libdagr"
#endif

#include "internal/common.h"

/* Adds fn(arg) to the hooks. They run once each, newest first, from dagr__cleanup_run: at
 * dagr_finalize, and when a stop signal ends the rank (never inside a signal handler, so a hook
 * may call anything; it should be quick and must not wait for executor threads, which may be
 * stuck in a kernel). A hook may unregister hooks, its own included. Errors: DAGR_EINVAL (fn
 * NULL), DAGR_ENOMEM. */
int dagr__cleanup_register(void (*fn)(void *), void *arg);
/* Removes the hook registered with this fn and arg (the newest such one), without running it.
 * Errors: DAGR_ENOENT (no such hook, e.g. it already ran). */
int dagr__cleanup_unregister(void (*fn)(void *), void *arg);
/* Runs every registered hook once and forgets it. Safe from several threads at once: each hook
 * runs in exactly one of them. */
void dagr__cleanup_run(void);
/* Number of registered hooks (tests). */
size_t dagr__cleanup_count(void);

#endif
