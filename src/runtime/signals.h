/* signals.h: SIGTERM/SIGINT stop requests and crash reports (SIGSEGV, SIGBUS, SIGFPE, SIGILL)
 * for every rank: handlers installed at dagr_init, the previous ones restored at dagr_finalize.
 */
#ifndef DAGR_RUNTIME_SIGNALS_H
#define DAGR_RUNTIME_SIGNALS_H
#ifndef DAGR_BUILDING
#error "src/runtime/signals.h is private to libdagr"
#endif

#include <signal.h>

#include "internal/common.h"

/* Seconds a rank may take to stop by itself after a stop signal before the watchdog thread
 * ends it (the bound is 5 s for the whole job; Open MPI's mpirun itself sends SIGKILL
 * 1 s after its SIGTERM). */
#define DAGR__STOP_GRACE_S 3

/* The first stop signal received (SIGTERM or SIGINT), 0 if none. Written by the handler only. */
extern volatile sig_atomic_t dagr__stop_signo;

static inline int dagr__stop_signal(void) {
  return dagr__stop_signo;
}

/* For a call that gives up because of a stop signal: writes "interrupted by SIGTERM on rank R;
 * the job is stopping" into err (may be NULL) and returns DAGR_EINTERRUPTED. */
int dagr__stop_error(char *err, size_t errlen);

/* Installs the handlers in this process, saving the previous dispositions; rank and host name
 * it in messages ("worker rank 2 on node7"). SIGTERM or SIGINT that was ignored stays ignored
 * (the Unix convention for background jobs). Starts the stop watchdog thread (if it cannot be
 * created, stopping still works wherever dagr checks the flag). A second call before
 * dagr__signals_restore only updates rank and host. */
void dagr__signals_install(int rank, const char *host);
/* Puts the saved dispositions back and stops the watchdog thread. The stop flag stays. */
void dagr__signals_restore(void);

/* "SIGTERM", "SIGSEGV", ... ("signal N" from a static buffer for others). */
const char *dagr__signal_name(int sig);

/* Ends the process after a stop signal: runs the cleanup hooks, flushes stdio and dies by the
 * signal with its default action (exit status 128 + signo in a shell; mpirun and srun report
 * the signal). Does not wait for executor threads. Never returns. */
void dagr__signals_stop_now(void) __attribute__((noreturn));

/* The calling thread is running kernel invocation k (NULL: none), for the crash message. k
 * stays owned by the caller and must outlive the call with NULL that follows. */
void dagr__signals_set_kernel(const dagr_kctx_t *k);

/* Gives the calling thread (an executor) an alternate signal stack, so that a kernel's stack
 * overflow is still reported; returns the memory for dagr__signals_altstack_free, or NULL when
 * none could be set up (crashes are then reported except for stack overflows). */
void *dagr__signals_altstack(void);
/* Turns the calling thread's alternate stack off and frees mem (NULL: nothing to do). */
void dagr__signals_altstack_free(void *mem);

#endif
