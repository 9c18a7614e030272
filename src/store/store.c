/* store.c: the thread-safe object store wrapper around the arena allocator. */
#include <stdlib.h>

#include "store/store.h"

int dagr__store_init(dagr__store *s, void *base, size_t size) {
  if (!s || (!base && size > 0)) return DAGR_EINVAL;
  s->base = base;
  s->size = size;
  s->peak_used = 0;
  s->alloc = NULL;
  if (size >= DAGR__STORE_ALIGN) {
    int rc = dagr__alloc_create(size, &s->alloc);
    if (rc) return rc;
  }
  pthread_mutex_init(&s->mu, NULL);
  return DAGR_OK;
}

void dagr__store_destroy(dagr__store *s) {
  if (!s) return;
  if (s->alloc) dagr__alloc_destroy(s->alloc);
  s->alloc = NULL;
  pthread_mutex_destroy(&s->mu);
}

int dagr__store_alloc(dagr__store *s, size_t n, uint64_t *offset) {
  if (!s->alloc) return DAGR_ESTORE_FULL;
  pthread_mutex_lock(&s->mu);
  int rc = dagr__alloc_alloc(s->alloc, n, offset);
  if (rc == DAGR_OK) {
    size_t used = dagr__alloc_used(s->alloc);
    if (used > s->peak_used) s->peak_used = used;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void dagr__store_free(dagr__store *s, uint64_t offset) {
  if (!s->alloc) return;
  pthread_mutex_lock(&s->mu);
  (void)dagr__alloc_free(s->alloc, offset);
  pthread_mutex_unlock(&s->mu);
}

int dagr__store_reset(dagr__store *s) {
  if (!s->alloc) return DAGR_OK;
  pthread_mutex_lock(&s->mu);
  /* Recreating is O(1) in the number of objects, unlike freeing each. */
  dagr__alloc *fresh = NULL;
  int rc = dagr__alloc_create(s->size, &fresh);
  if (rc == DAGR_OK) {
    dagr__alloc_destroy(s->alloc);
    s->alloc = fresh;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

size_t dagr__store_used(dagr__store *s) {
  if (!s->alloc) return 0;
  pthread_mutex_lock(&s->mu);
  size_t u = dagr__alloc_used(s->alloc);
  pthread_mutex_unlock(&s->mu);
  return u;
}
