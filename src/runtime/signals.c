/* signals.c: stop requests (SIGTERM, SIGINT), their watchdog, and crash reports (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL) that name the rank, host, task and kernel. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/cleanup.h"
#include "runtime/kctx.h"
#include "runtime/registry.h"
#include "runtime/signals.h"

volatile sig_atomic_t dagr__stop_signo;

static const int stop_sigs[2] = {SIGTERM, SIGINT};
static const int crash_sigs[4] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};

/* Everything the handlers read is written before they are installed (or is a sig_atomic_t). */
static struct {
  int installed;
  char rank_name[32]; /* "rank 2" */
  char who[320];      /* "worker rank 2 on node7" */
  struct sigaction old_stop[2];
  int have_stop[2];
  struct sigaction old_crash[4];
  sem_t sem; /* posted by the stop handler (sem_post is async-signal-safe) */
  int sem_ok;
  pthread_t watchdog;
  int watchdog_ok;
  volatile sig_atomic_t quit; /* the watchdog should return */
} S;

/* Set once by whichever path starts ending the process, so the cleanup hooks run once there. */
static int stopping;

/* The kernel invocation the calling thread runs, for the crash message. initial-exec keeps the
 * access a plain load (safe in a signal handler): libdagr is linked at start, not dlopen'ed. */
static __thread const dagr_kctx_t *cur_kernel __attribute__((tls_model("initial-exec")));

void dagr__signals_set_kernel(const dagr_kctx_t *k) {
  cur_kernel = k;
}

/* ---- async-signal-safe text --------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
  for (size_t i = 0; i < len && b->n + 1 < b->cap; i++) b->p[b->n++] = s[i];
}

static void sb_str(sbuf *b, const char *s) {
  sb_put(b, s, strlen(s));
}

static void sb_uint(sbuf *b, unsigned long v) {
  char d[24];
  size_t n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && n < sizeof d);
  while (n) sb_put(b, &d[--n], 1);
}

static const char *known_name(int sig) {
  switch (sig) {
  case SIGTERM:
    return "SIGTERM";
  case SIGINT:
    return "SIGINT";
  case SIGSEGV:
    return "SIGSEGV";
  case SIGBUS:
    return "SIGBUS";
  case SIGFPE:
    return "SIGFPE";
  case SIGILL:
    return "SIGILL";
  case SIGKILL:
    return "SIGKILL";
  case SIGABRT:
    return "SIGABRT";
  default:
    return NULL;
  }
}

const char *dagr__signal_name(int sig) {
  static char buf[32];
  const char *n = known_name(sig);
  if (n) return n;
  snprintf(buf, sizeof buf, "signal %d", sig);
  return buf;
}

static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(STDERR_FILENO, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;
    p += k;
    n -= (size_t)k;
  }
}

/* Ends the process by sig with its default action. */
static void die_by(int sig) __attribute__((noreturn));
static void die_by(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  _exit(128 + sig); /* not reached: the default action of every stop signal terminates */
}

/* ---- handlers ------------------------------------------------------------------------------ */

static void on_stop(int sig) {
  int saved = errno;
  char line[256];
  sbuf b = {line, 0, sizeof line};
  sb_str(&b, "dagr: ");
  sb_str(&b, S.rank_name);
  sb_str(&b, " received ");
  sb_str(&b, known_name(sig) ? known_name(sig) : "a stop signal");
  if (dagr__stop_signo) {
    /* A second one: whoever sends it wants the process gone now. */
    sb_str(&b, " again; exiting now\n");
    write_all(line, b.n);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    raise(sig); /* blocked while this handler runs: delivered, with the default action, on return */
    errno = saved;
    return;
  }
  dagr__stop_signo = sig;
  sb_str(&b, "; stopping\n");
  write_all(line, b.n);
  if (S.sem_ok) sem_post(&S.sem);
  errno = saved;
}

static void on_crash(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  int saved = errno;
  char line[768];
  sbuf b = {line, 0, sizeof line};
  sb_str(&b, "dagr: ");
  sb_str(&b, S.who);
  sb_str(&b, " crashed with signal ");
  sb_str(&b, known_name(sig) ? known_name(sig) : "?");
  const dagr_kctx_t *k = cur_kernel;
  if (k) {
    sb_str(&b, " while running task ");
    if (k->key) {
      /* Keys are arbitrary bytes: show at most 200, control characters as '?'. */
      sb_str(&b, "'");
      size_t n = k->keylen < 200 ? k->keylen : 200;
      for (size_t i = 0; i < n; i++) {
        char c = k->key[i];
        sb_put(&b, (unsigned char)c < 0x20 || c == 0x7f ? "?" : &c, 1);
      }
      sb_str(&b, k->keylen > 200 ? "...'" : "'");
    } else {
      sb_str(&b, "#");
      sb_uint(&b, k->task);
    }
    sb_str(&b, " (kernel ");
    sb_str(&b, dagr__registry_name(k->kernel));
    sb_str(&b, ")");
  } else {
    sb_str(&b, " outside any task");
  }
  sb_str(&b, "\n");
  write_all(line, b.n);
  /* Hand the signal to what was there before (Open MPI's backtrace printer, or the default
   * action): a fault comes back when the faulting instruction runs again on return, a signal
   * sent with kill(2) is sent again. */
  for (int i = 0; i < 4; i++)
    if (crash_sigs[i] == sig) sigaction(sig, &S.old_crash[i], NULL);
  if (!si || si->si_code <= 0) raise(sig);
  errno = saved;
}

/* ---- stopping ------------------------------------------------------------------------------ */

static void stop_now(int from_watchdog) __attribute__((noreturn));
static void stop_now(int from_watchdog) {
  int sig = dagr__stop_signo ? dagr__stop_signo : SIGTERM;
  if (!__atomic_exchange_n(&stopping, 1, __ATOMIC_ACQ_REL)) {
    if (from_watchdog) {
      /* A hook that hangs (a dead network file system) must not keep the rank alive. */
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = SIG_DFL;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGALRM, &sa, NULL);
      alarm(DAGR__STOP_GRACE_S);
    }
    dagr__cleanup_run();
  }
  /* The watchdog skips this: the thread it is watching may hold a stdio lock. */
  if (!from_watchdog) fflush(NULL);
  die_by(sig);
}

void dagr__signals_stop_now(void) {
  stop_now(0);
}

static void *watchdog_main(void *arg) {
  (void)arg;
  while (sem_wait(&S.sem) != 0)
    if (errno != EINTR) return NULL;
  if (S.quit) return NULL;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += DAGR__STOP_GRACE_S;
  while (!S.quit) {
    if (sem_timedwait(&S.sem, &until) != 0 && errno == ETIMEDOUT) break;
  }
  if (S.quit) return NULL;
  int sig = dagr__stop_signo ? dagr__stop_signo : SIGTERM;
  char line[256];
  sbuf b = {line, 0, sizeof line};
  sb_str(&b, "dagr: ");
  sb_str(&b, S.rank_name);
  sb_str(&b, " did not stop within ");
  sb_uint(&b, DAGR__STOP_GRACE_S);
  sb_str(&b, " s of ");
  sb_str(&b, known_name(sig) ? known_name(sig) : "the stop signal");
  sb_str(&b, "; ending it now\n");
  write_all(line, b.n);
  stop_now(1);
}

int dagr__stop_error(char *err, size_t errlen) {
  int sig = dagr__stop_signo ? dagr__stop_signo : SIGTERM;
  return dagr__errf(err, errlen, DAGR_EINTERRUPTED, "interrupted by %s on %s; the job is stopping",
                    dagr__signal_name(sig), S.rank_name[0] ? S.rank_name : "this rank");
}

/* ---- install / restore --------------------------------------------------------------------- */

void dagr__signals_install(int rank, const char *host) {
  snprintf(S.rank_name, sizeof S.rank_name, "rank %d", rank);
  if (rank > 0)
    snprintf(S.who, sizeof S.who, "worker rank %d on %s", rank, host ? host : "?");
  else
    snprintf(S.who, sizeof S.who, "rank 0 on %s", host ? host : "?");
  if (S.installed) return;
  struct sigaction sa;
  for (int i = 0; i < 2; i++) {
    struct sigaction cur;
    S.have_stop[i] = 0;
    if (sigaction(stop_sigs[i], NULL, &cur) != 0) continue;
    if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN) continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGINT);
    if (sigaction(stop_sigs[i], &sa, &S.old_stop[i]) == 0) S.have_stop[i] = 1;
  }
  for (int i = 0; i < 4; i++) {
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_crash;
    /* SA_ONSTACK: executor threads have an alternate stack, so a kernel's stack overflow is
     * still reported. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(crash_sigs[i], &sa, &S.old_crash[i]);
  }
  S.quit = 0;
  S.sem_ok = sem_init(&S.sem, 0, 0) == 0;
  if (S.sem_ok) {
    /* The watchdog takes no signals: they must reach threads that act on them. */
    sigset_t all, prev;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &prev);
    S.watchdog_ok = pthread_create(&S.watchdog, NULL, watchdog_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
  }
  S.installed = 1;
}

void dagr__signals_restore(void) {
  if (!S.installed) return;
  for (int i = 0; i < 2; i++)
    if (S.have_stop[i]) sigaction(stop_sigs[i], &S.old_stop[i], NULL);
  for (int i = 0; i < 4; i++) sigaction(crash_sigs[i], &S.old_crash[i], NULL);
  if (S.watchdog_ok) {
    S.quit = 1;
    sem_post(&S.sem);
    pthread_join(S.watchdog, NULL);
    S.watchdog_ok = 0;
  }
  if (S.sem_ok) sem_destroy(&S.sem);
  S.sem_ok = 0;
  S.installed = 0;
}

void *dagr__signals_altstack(void) {
  /* Enough for the crash handler's line and the calls it makes. */
  size_t size = 64 * 1024;
  void *mem = malloc(size);
  if (!mem) return NULL;
  stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) {
    free(mem);
    return NULL;
  }
  return mem;
}

void dagr__signals_altstack_free(void *mem) {
  if (!mem) return;
  stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  free(mem);
}
