/* mpi_impl.h: state shared by the MPI transport modules (boot, scheduler side, worker side). */
#ifndef DAGR_TRANSPORT_MPI_IMPL_H
#define DAGR_TRANSPORT_MPI_IMPL_H
#ifndef DAGR_BUILDING
#error "src/transport/mpi_impl.h is private to libdagr"
#endif

#include <mpi.h>

#include "transport/boot.h"

#define DAGR__TAG_PROTO 7
#define DAGR__TAG_CLOCK 8 /* clock-offset estimation at start */
/* MPI counts are ints: large objects move in pieces of this size. */
#define DAGR__RMA_PIECE ((size_t)1 << 30)

typedef struct dagr__pending_send {
  MPI_Request req;
  void *buf;
} dagr__pending_send;

struct dagr__mpi {
  int rank, size;
  MPI_Win win;
  int win_ok;
  void *base;
  dagr__pending_send *sends;
  size_t nsends, cap_sends;
  dagr__slink slink;
  dagr__wlink wlink;
  int *worker_threads;
  int64_t *clock_offset_ns; /* rank 0: per worker */
  dagr__worker_desc *workers;
  char err[DAGR__ERRLEN];
};

/* Sends msg (taking ownership) to rank dest without blocking. */
int dagr__mpi_isend(dagr__mpi *m, int dest, void *msg, size_t len);
/* Completes finished sends; returns 1 if any completed, or a negative status. */
int dagr__mpi_progress_sends(dagr__mpi *m);
/* Receives one pending protocol message from source (or MPI_ANY_SOURCE) without blocking:
 * DAGR_OK with a malloc'd message, DAGR__AGAIN if none, DAGR_EMPI, DAGR_ENOMEM. */
int dagr__mpi_recv(dagr__mpi *m, int source, int *from, void **msg, size_t *len);
/* Starts an RMA read of n bytes at offset from rank into dst; *handle tracks it. */
int dagr__mpi_rget(dagr__mpi *m, int rank, uint64_t offset, void *dst, size_t n, void **handle);
/* Tests an RMA read; sets *done and frees the handle when complete. */
int dagr__mpi_rget_test(dagr__mpi *m, void *handle, int *done);

void dagr__mpi_sched_link_init(dagr__mpi *m);
void dagr__mpi_worker_link_init(dagr__mpi *m);

#endif
