/* cleanup.c: the registry of cleanup hooks run when a rank stops (see cleanup.h). */
#include <pthread.h>
#include <stdlib.h>

#include "runtime/cleanup.h"

typedef struct hook {
  void (*fn)(void *);
  void *arg;
} hook;

/* A plain mutex is enough: hooks never run inside signal handlers (the stop path runs them from
 * the comm loop, dagr_finalize or the stop watchdog thread). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static hook *hooks;
static size_t nhooks, cap;

int dagr__cleanup_register(void (*fn)(void *), void *arg) {
  if (!fn) return DAGR_EINVAL;
  int rc = DAGR_OK;
  pthread_mutex_lock(&mu);
  if (nhooks == cap) {
    size_t c = cap ? cap * 2 : 8;
    hook *h = realloc(hooks, c * sizeof *h);
    if (!h) {
      rc = DAGR_ENOMEM;
    } else {
      hooks = h;
      cap = c;
    }
  }
  if (rc == DAGR_OK) hooks[nhooks++] = (hook){fn, arg};
  pthread_mutex_unlock(&mu);
  return rc;
}

int dagr__cleanup_unregister(void (*fn)(void *), void *arg) {
  int rc = DAGR_ENOENT;
  pthread_mutex_lock(&mu);
  for (size_t i = nhooks; i-- > 0;) {
    if (hooks[i].fn != fn || hooks[i].arg != arg) continue;
    for (size_t j = i + 1; j < nhooks; j++) hooks[j - 1] = hooks[j];
    nhooks--;
    rc = DAGR_OK;
    break;
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

void dagr__cleanup_run(void) {
  for (;;) {
    /* Take one hook at a time and run it unlocked: it may unregister others, and a second
     * thread running the hooks (the stop watchdog) can go on past one that is slow. */
    pthread_mutex_lock(&mu);
    if (nhooks == 0) {
      free(hooks);
      hooks = NULL;
      cap = 0;
      pthread_mutex_unlock(&mu);
      return;
    }
    hook h = hooks[--nhooks];
    pthread_mutex_unlock(&mu);
    h.fn(h.arg);
  }
}

size_t dagr__cleanup_count(void) {
  pthread_mutex_lock(&mu);
  size_t n = nhooks;
  pthread_mutex_unlock(&mu);
  return n;
}
