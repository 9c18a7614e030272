/* link.h: the transport interface between the scheduler and workers (MPI or in-process). */
#ifndef DAGR_TRANSPORT_LINK_H
#define DAGR_TRANSPORT_LINK_H
#ifndef DAGR_BUILDING
#error "src/transport/link.h is private to libdagr"
#endif

#include "internal/common.h"

/* Returned by poll functions when nothing is pending (not an error). */
#define DAGR__AGAIN 1

/* What the scheduler (rank 0) sees of its workers. Workers are numbered 0..nworkers-1 (MPI rank
 * w + 1). Messages are malloc'd buffers; send takes ownership and frees them once sent, poll
 * hands ownership of a received message to the caller. */
typedef struct dagr__slink {
  void *impl;
  int nworkers;
  int (*send)(void *impl, int worker, void *msg, size_t len);
  int (*poll)(void *impl, int *worker, void **msg, size_t *len);
  /* Copies n bytes at offset of a worker's store into dst (blocking). */
  int (*read)(void *impl, int worker, uint64_t offset, void *dst, size_t n);
  /* Waits a little when there is nothing to do: idle counts consecutive empty polls. */
  void (*idle)(void *impl, unsigned idle);
  char *err; /* message buffer of DAGR__ERRLEN for transport failures */
} dagr__slink;

/* What a worker sees: its scheduler, and the other workers' stores. */
typedef struct dagr__wlink {
  void *impl;
  int (*send)(void *impl, void *msg, size_t len);
  int (*poll)(void *impl, void **msg, size_t *len);
  /* Starts pulling n bytes at offset of worker owner's store into dst; *handle identifies it. */
  int (*fetch_start)(void *impl, uint32_t owner, uint64_t offset, void *dst, size_t n,
                     void **handle);
  /* Sets *done when the pull has completed (and frees the handle then). */
  int (*fetch_test)(void *impl, void *handle, int *done);
  /* Drives outstanding sends; returns 1 if something completed. */
  int (*progress)(void *impl);
} dagr__wlink;

#endif
