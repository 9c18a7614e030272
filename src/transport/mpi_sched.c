/* mpi_sched.c: the scheduler (rank 0) side of the MPI transport: batched messages and result reads.
 */
#include <stdlib.h>

#include "runtime/backoff.h"
#include "transport/mpi_impl.h"

static int s_send(void *impl, int worker, void *msg, size_t len) {
  dagr__mpi *m = impl;
  int rc = dagr__mpi_isend(m, worker + 1, msg, len);
  if (rc == DAGR_OK && m->nsends > 256) rc = dagr__mpi_progress_sends(m) < 0 ? DAGR_EMPI : DAGR_OK;
  return rc;
}

static int s_poll(void *impl, int *worker, void **msg, size_t *len) {
  dagr__mpi *m = impl;
  if (m->nsends && dagr__mpi_progress_sends(m) < 0) return DAGR_EMPI;
  int from = 0;
  int rc = dagr__mpi_recv(m, MPI_ANY_SOURCE, &from, msg, len);
  if (rc == DAGR_OK) *worker = from - 1;
  return rc;
}

static int s_read(void *impl, int worker, uint64_t offset, void *dst, size_t n) {
  dagr__mpi *m = impl;
  void *h;
  int rc = dagr__mpi_rget(m, worker + 1, offset, dst, n, &h);
  if (rc) return rc;
  unsigned idle = 0;
  for (;;) {
    int done = 0;
    rc = dagr__mpi_rget_test(m, h, &done);
    if (rc || done) return rc;
    dagr__backoff(++idle);
  }
}

static void s_idle(void *impl, unsigned idle) {
  (void)impl;
  dagr__backoff(idle);
}

void dagr__mpi_sched_link_init(dagr__mpi *m) {
  m->slink.impl = m;
  m->slink.nworkers = m->size - 1;
  m->slink.send = s_send;
  m->slink.poll = s_poll;
  m->slink.read = s_read;
  m->slink.idle = s_idle;
  m->slink.err = m->err;
}
