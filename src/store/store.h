/* store.h: a worker's object store: the arena (an MPI window or plain memory) and its allocator. */
#ifndef DAGR_STORE_STORE_H
#define DAGR_STORE_STORE_H
#ifndef DAGR_BUILDING
#error "src/store/store.h is private to libdagr"
#endif

#include <pthread.h>

#include "store/alloc.h"

typedef struct dagr__store {
  pthread_mutex_t mu; /* executors allocate outputs concurrently */
  dagr__alloc *alloc;
  unsigned char *base; /* arena start; objects live at base + offset */
  size_t size;
  size_t peak_used;
} dagr__store;

/* Errors: DAGR_EINVAL (NULL base with size > 0), DAGR_ENOMEM. */
int dagr__store_init(dagr__store *s, void *base, size_t size);
void dagr__store_destroy(dagr__store *s);
/* Errors: DAGR_ESTORE_FULL, DAGR_ENOMEM. */
int dagr__store_alloc(dagr__store *s, size_t n, uint64_t *offset);
void dagr__store_free(dagr__store *s, uint64_t offset);
/* Drops every object (end of a run). Errors: DAGR_ENOMEM. */
int dagr__store_reset(dagr__store *s);
size_t dagr__store_used(dagr__store *s);

#endif
