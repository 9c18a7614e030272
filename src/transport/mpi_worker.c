/* mpi_worker.c: the worker side of the MPI transport: messages to/from rank 0 and pulls from peers.
 */
#include <stdlib.h>

#include "transport/mpi_impl.h"

static int w_send(void *impl, void *msg, size_t len) {
  return dagr__mpi_isend(impl, 0, msg, len);
}

static int w_poll(void *impl, void **msg, size_t *len) {
  int from;
  return dagr__mpi_recv(impl, 0, &from, msg, len);
}

static int w_fetch_start(void *impl, uint32_t owner, uint64_t offset, void *dst, size_t n,
                         void **handle) {
  dagr__mpi *m = impl;
  if ((int)owner + 1 >= m->size || (int)owner + 1 == m->rank) return DAGR_EPROTO;
  return dagr__mpi_rget(m, (int)owner + 1, offset, dst, n, handle);
}

static int w_fetch_test(void *impl, void *handle, int *done) {
  return dagr__mpi_rget_test(impl, handle, done);
}

static int w_progress(void *impl) {
  dagr__mpi *m = impl;
  if (!m->nsends) return 0;
  int rc = dagr__mpi_progress_sends(m);
  return rc < 0 ? 0 : rc;
}

void dagr__mpi_worker_link_init(dagr__mpi *m) {
  m->wlink.impl = m;
  m->wlink.send = w_send;
  m->wlink.poll = w_poll;
  m->wlink.fetch_start = w_fetch_start;
  m->wlink.fetch_test = w_fetch_test;
  m->wlink.progress = w_progress;
}
