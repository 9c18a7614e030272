/* timeout.c: a worker's watch list of running tasks with a time limit (DAGR_TASK_TIMEOUT,
 * timeout_s), scanned by the comm thread. */
#include <pthread.h>
#include <stdlib.h>

#include "runtime/timeout.h"

#define SCAN_EVERY_NS 10000000ull

int dagr__watch_add(dagr__watch *w, dagr__watch_item *it) {
  if (it->slot) return DAGR_OK;
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    dagr__watch_item **p = realloc(w->items, cap * sizeof *p);
    if (!p) return DAGR_ENOMEM;
    w->items = p;
    w->cap = cap;
  }
  w->items[w->n++] = it;
  it->slot = (uint32_t)w->n;
  return DAGR_OK;
}

void dagr__watch_remove(dagr__watch *w, dagr__watch_item *it) {
  if (!it->slot || it->slot > w->n || w->items[it->slot - 1] != it) {
    it->slot = 0;
    return;
  }
  /* Swap with the last: order does not matter, removal stays O(1). */
  size_t i = it->slot - 1;
  w->items[i] = w->items[--w->n];
  w->items[i]->slot = (uint32_t)(i + 1);
  it->slot = 0;
}

dagr__watch_item *dagr__watch_expired(dagr__watch *w, uint64_t now_ns) {
  if (w->n == 0 || now_ns < w->next_check_ns) return NULL;
  for (size_t i = 0; i < w->n; i++) {
    dagr__watch_item *it = w->items[i];
    uint64_t start = __atomic_load_n(&it->start_ns, __ATOMIC_ACQUIRE);
    if (start && now_ns > start && now_ns - start > (uint64_t)it->limit_ms * 1000000ull) {
      dagr__watch_remove(w, it);
      return it;
    }
  }
  w->next_check_ns = now_ns + SCAN_EVERY_NS;
  return NULL;
}

void dagr__watch_clear(dagr__watch *w) {
  for (size_t i = 0; i < w->n; i++) w->items[i]->slot = 0;
  w->n = 0;
}

void dagr__watch_free(dagr__watch *w) {
  free(w->items);
  *w = (dagr__watch){0};
}

/* A handful at most: one per worker (or local pool) with an abandoned kernel, in a process that
 * is ending. Past the bound the memory is simply not tracked. */
static void *kept[16];
static size_t nkept;
static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;

void dagr__keep_alive(void *p) {
  pthread_mutex_lock(&kept_mu);
  if (p && nkept < sizeof kept / sizeof *kept) kept[nkept++] = p;
  pthread_mutex_unlock(&kept_mu);
}
