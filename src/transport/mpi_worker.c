/* mpi_worker.c: the worker side of the MPI transport: messages to/from rank 0 and pulls from peers.
 */
#include <stdlib.h>

#include "transport/mpi_impl.h"

static int w_send(void *impl, void *msg, size_t len) {
  return dagr__mpi_isend(impl, 0, msg, len);
}

static int w_poll(void *impl, void **msg, size_t *len) {
  (void)impl;
  int flag = 0;
  MPI_Status st;
  int rc = MPI_Iprobe(0, DAGR__TAG_PROTO, MPI_COMM_WORLD, &flag, &st);
  if (rc != MPI_SUCCESS) return DAGR_EMPI;
  if (!flag) return DAGR__AGAIN;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  void *buf = malloc(count > 0 ? (size_t)count : 1);
  if (!buf) return DAGR_ENOMEM;
  rc = MPI_Recv(buf, count, MPI_BYTE, 0, DAGR__TAG_PROTO, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) {
    free(buf);
    return DAGR_EMPI;
  }
  *msg = buf;
  *len = (size_t)count;
  return DAGR_OK;
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
