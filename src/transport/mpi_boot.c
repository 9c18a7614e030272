/* mpi_boot.c: MPI start-up and shutdown, store windows, and the send/RMA primitives both roles use.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/registry.h"
#include "runtime/slurm.h"
#include "transport/mpi_impl.h"

int dagr__mpi_launched(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK",       "PMI_RANK", "PMI_SIZE",
                               "MV2_COMM_WORLD_SIZE",  "MPI_LOCALNRANKS", NULL};
  for (int i = 0; vars[i]; i++)
    if (getenv(vars[i])) return 1;
  return 0;
}

int dagr__default_threads(const dagr_config_t *cfg, int sharing) {
  if (cfg->worker_threads > 0) return cfg->worker_threads;
  cpu_set_t set;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  int cpus = (int)(online > 0 ? online : 1);
  int bound = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0 && n < cpus) {
      cpus = n;
      bound = 1;
    }
  }
  /* A launcher binding already is this rank's share; otherwise ranks on a node split it. */
  int t = bound || sharing < 1 ? cpus : cpus / sharing;
  return t < 1 ? 1 : t;
}

size_t dagr__default_store(const dagr_config_t *cfg, int sharing) {
  if (cfg->store_bytes) return cfg->store_bytes;
  long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
  double mem = pages > 0 && psize > 0 ? (double)pages * (double)psize : 4e9;
  double share = 0.6 * mem / (sharing > 0 ? sharing : 1);
  return (size_t)share & ~(size_t)(DAGR__STORE_ALIGN - 1);
}

static int mpierr(dagr__mpi *m, int code, const char *what, char *err, size_t errlen) {
  char s[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(code, s, &n);
  (void)m;
  return dagr__errf(err, errlen, DAGR_EMPI, "%s failed: %s", what, s);
}

typedef struct winfo {
  int threads;
  int ngroups;
  uint64_t store;
  uint64_t host;
  int group_threads[DAGR__MAX_GROUPS];
  char hostname[64];
} winfo;

static void clock_sync(dagr__mpi *m);

int dagr__mpi_boot(int *argc, char ***argv, const dagr_config_t *cfg, dagr__boot *b,
                   dagr__mpi **out, char *err, size_t errlen) {
  /* Single-node windows then use osc/sm (about 20x faster MPI_Get than osc/rdma here); the
   * user's own setting wins. See PLATFORM-NOTES. */
  setenv("OMPI_MCA_osc_rdma_priority", "10", 0);
  int provided = 0, rc;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return dagr__errf(err, errlen, DAGR_EMPI, "MPI_Init_thread failed");
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_FUNNELED)
    return dagr__errf(err, errlen, DAGR_EMPI,
                      "MPI grants thread level %d, dagr needs MPI_THREAD_FUNNELED", provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  dagr__mpi *m = calloc(1, sizeof *m);
  if (!m) return DAGR_ENOMEM;
  MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &m->size);
  b->rank = m->rank;
  b->nranks = m->size;
  if (gethostname(b->host, sizeof b->host) != 0) strcpy(b->host, "unknown");
  b->host[sizeof b->host - 1] = '\0';

  /* Same kernels everywhere: the same binary gives the same table, but a rank that loaded a
   * different plugin would silently run the wrong function. */
  uint64_t h = dagr__registry_hash(), hmin = 0, hmax = 0;
  MPI_Allreduce(&h, &hmin, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&h, &hmax, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  if (hmin != hmax) {
    free(m);
    MPI_Finalize();
    return dagr__errf(err, errlen, DAGR_EKERNEL_TABLE,
                      "ranks registered different kernel tables (rank %d has %d kernels)", b->rank,
                      dagr__registry_count());
  }

  /* A token naming this job's files (spill directories) on every rank: rank 0's, or Slurm's
   * job and step ids, which also tell a job's files apart across nodes. */
  if (m->rank == 0) dagr__job_token(b->job_token, sizeof b->job_token);
  MPI_Bcast(b->job_token, (int)sizeof b->job_token, MPI_CHAR, 0, MPI_COMM_WORLD);
  b->job_token[sizeof b->job_token - 1] = '\0';

  /* Workers on this node share its cores and memory: each finds its index among them. */
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL, &node);
  int is_worker = m->rank > 0, local_workers = 0, local_index = 0;
  MPI_Allreduce(&is_worker, &local_workers, 1, MPI_INT, MPI_SUM, node);
  MPI_Exscan(&is_worker, &local_index, 1, MPI_INT, MPI_SUM, node);
  int node_rank = 0;
  MPI_Comm_rank(node, &node_rank);
  if (node_rank == 0) local_index = 0; /* MPI_Exscan leaves rank 0's result undefined */
  MPI_Comm_free(&node);

  /* Every rank plans and binds itself; a bad DAGR_BIND must stop all of them alike. */
  char perr[DAGR__ERRLEN] = "";
  /* Alone (-np 1) rank 0 also runs the local worker pool: plan it as a worker. */
  int plan_worker = is_worker || m->size == 1;
  int prc = dagr__placement_init(b->placement, plan_worker, local_index,
                                 local_workers > 0 ? local_workers : 1, cfg->worker_threads, perr,
                                 sizeof perr);
  int pok = prc == DAGR_OK, all_pok = 0;
  MPI_Allreduce(&pok, &all_pok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_pok) {
    if (pok) dagr__placement_free(b->placement);
    free(m);
    MPI_Finalize();
    if (!pok) return dagr__errf(err, errlen, prc, "rank %d: %s", b->rank, perr);
    return dagr__errf(err, errlen, DAGR_ECONFIG, "another rank could not plan its placement");
  }

  winfo mine;
  memset(&mine, 0, sizeof mine);
  mine.host = dagr__fnv1a(DAGR__FNV_INIT, b->host, strlen(b->host));
  memcpy(mine.hostname, b->host, sizeof mine.hostname - 1); /* truncated: for reports */
  if (is_worker) {
    const dagr__placement *pl = b->placement;
    mine.ngroups = pl->ngroups;
    for (int g = 0; g < pl->ngroups; g++) {
      mine.group_threads[g] = pl->group_threads[g];
      mine.threads += pl->group_threads[g];
    }
    if (mine.threads < 1) mine.threads = dagr__default_threads(cfg, local_workers);
    /* 60% of the worker's share of its NUMA domains' memory (issue: store capacity), else of
     * the node's memory divided among its workers. */
    size_t numa = cfg->store_bytes ? 0 : dagr__placement_store_default(b->placement),
           node_rule = dagr__default_store(cfg, local_workers);
    /* Never more than the node rule: a topology file may describe more memory than exists. */
    mine.store = numa >= DAGR__STORE_ALIGN && numa < node_rule ? numa : node_rule;
  }
  b->threads = mine.threads;
  b->store_bytes = (size_t)mine.store;

  MPI_Info info;
  MPI_Info_create(&info);
  /* Stores need not be contiguous across ranks; no accumulate ordering is used. */
  MPI_Info_set(info, "alloc_shared_noncontig", "true");
  MPI_Info_set(info, "accumulate_ordering", "none");
  rc = MPI_Win_allocate((MPI_Aint)mine.store, 1, info, MPI_COMM_WORLD, &m->base, &m->win);
  MPI_Info_free(&info);
  int ok = rc == MPI_SUCCESS, all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_ok) {
    char msg[DAGR__ERRLEN];
    if (!ok)
      mpierr(m, rc, "MPI_Win_allocate", msg, sizeof msg);
    else
      snprintf(msg, sizeof msg, "another rank could not allocate its store window");
    if (ok) MPI_Win_free(&m->win);
    free(m);
    MPI_Finalize();
    return dagr__errf(err, errlen, DAGR_ESTORE_FULL,
                      "creating the object store (%llu bytes on rank %d) failed: %s (if memory "
                      "is short, set DAGR_STORE_BYTES lower; if the network has no RDMA "
                      "transport, give Open MPI a one-sided component, e.g. --mca osc pt2pt)",
                      (unsigned long long)mine.store, b->rank, msg);
  }
  m->win_ok = 1;
  MPI_Win_lock_all(MPI_MODE_NOCHECK, m->win);
  b->store_base = m->base;

  winfo *all = NULL;
  if (m->rank == 0) {
    all = calloc((size_t)m->size, sizeof *all);
    m->worker_threads = calloc((size_t)m->size, sizeof(int));
    m->workers = calloc((size_t)m->size, sizeof *m->workers);
    if (!all || !m->worker_threads || !m->workers) {
      free(all);
      return DAGR_ENOMEM; /* rank 0 ends the job: nothing else can be reported */
    }
  }
  MPI_Gather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, 0, MPI_COMM_WORLD);
  if (m->rank == 0) {
    m->clock_offset_ns = calloc((size_t)m->size, sizeof *m->clock_offset_ns);
    if (!m->clock_offset_ns) {
      free(all);
      return DAGR_ENOMEM;
    }
  }
  clock_sync(m);
  if (m->rank == 0) {
    for (int r = 1; r < m->size; r++) {
      dagr__worker_desc *d = &m->workers[r - 1];
      m->worker_threads[r - 1] = all[r].threads;
      d->threads = all[r].threads;
      d->ngroups = all[r].ngroups >= 1 && all[r].ngroups <= DAGR__MAX_GROUPS ? all[r].ngroups : 1;
      d->host = all[r].host;
      d->store_bytes = all[r].store;
      memcpy(d->hostname, all[r].hostname, sizeof d->hostname);
      d->hostname[sizeof d->hostname - 1] = '\0';
      for (int g = 0; g < d->ngroups; g++) d->group_threads[g] = all[r].group_threads[g];
      if (d->ngroups == 1) d->group_threads[0] = d->threads;
    }
    free(all);
    b->worker_threads = m->worker_threads;
    b->workers = m->workers;
    b->clock_offset_ns = m->clock_offset_ns;
    dagr__mpi_sched_link_init(m);
  } else {
    dagr__mpi_worker_link_init(m);
  }
  *out = m;
  return DAGR_OK;
}

/* Estimates each worker's clock offset from rank 0's (Cristian's method: of a few round trips,
 * the shortest bounds the error by half its time), so that trace events of all ranks share one
 * time line. Ranks on one host share the clock and come out near 0. */
static void clock_sync(dagr__mpi *m) {
  enum { ROUNDS = 8 };
  if (m->rank != 0) {
    for (int k = 0; k < ROUNDS; k++) {
      uint64_t t;
      MPI_Recv(&t, 1, MPI_UINT64_T, 0, DAGR__TAG_CLOCK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      t = dagr__now_ns();
      MPI_Send(&t, 1, MPI_UINT64_T, 0, DAGR__TAG_CLOCK, MPI_COMM_WORLD);
    }
    return;
  }
  for (int r = 1; r < m->size; r++) {
    uint64_t best = UINT64_MAX;
    for (int k = 0; k < ROUNDS; k++) {
      uint64_t t0 = dagr__now_ns(), tw;
      MPI_Send(&t0, 1, MPI_UINT64_T, r, DAGR__TAG_CLOCK, MPI_COMM_WORLD);
      MPI_Recv(&tw, 1, MPI_UINT64_T, r, DAGR__TAG_CLOCK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      uint64_t t1 = dagr__now_ns();
      if (t1 - t0 < best) {
        best = t1 - t0;
        m->clock_offset_ns[r - 1] = (int64_t)tw - (int64_t)(t0 + (t1 - t0) / 2);
      }
    }
  }
}

dagr__slink *dagr__mpi_slink(dagr__mpi *m) {
  return &m->slink;
}
dagr__wlink *dagr__mpi_wlink(dagr__mpi *m) {
  return &m->wlink;
}

int dagr__mpi_isend(dagr__mpi *m, int dest, void *msg, size_t len) {
  if (m->nsends == m->cap_sends) {
    size_t cap = m->cap_sends ? m->cap_sends * 2 : 64;
    dagr__pending_send *s = realloc(m->sends, cap * sizeof *s);
    if (!s) {
      free(msg);
      return DAGR_ENOMEM;
    }
    m->sends = s;
    m->cap_sends = cap;
  }
  if (len > INT32_MAX) {
    free(msg);
    return dagr__errf(m->err, sizeof m->err, DAGR_EINVAL, "a %zu-byte message is too large", len);
  }
  dagr__pending_send *p = &m->sends[m->nsends];
  int rc = MPI_Isend(msg, (int)len, MPI_BYTE, dest, DAGR__TAG_PROTO, MPI_COMM_WORLD, &p->req);
  if (rc != MPI_SUCCESS) {
    free(msg);
    return mpierr(m, rc, "MPI_Isend", m->err, sizeof m->err);
  }
  p->buf = msg;
  m->nsends++;
  return DAGR_OK;
}

int dagr__mpi_progress_sends(dagr__mpi *m) {
  int any = 0;
  for (size_t i = 0; i < m->nsends;) {
    int flag = 0;
    int rc = MPI_Test(&m->sends[i].req, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mpierr(m, rc, "MPI_Test", m->err, sizeof m->err);
    if (!flag) {
      i++;
      continue;
    }
    free(m->sends[i].buf);
    m->sends[i] = m->sends[--m->nsends];
    any = 1;
  }
  return any;
}

int dagr__mpi_recv(dagr__mpi *m, int source, int *from, void **msg, size_t *len) {
  (void)m;
  int flag = 0;
  MPI_Status st;
  int rc = MPI_Iprobe(source, DAGR__TAG_PROTO, MPI_COMM_WORLD, &flag, &st);
  if (rc != MPI_SUCCESS) return DAGR_EMPI;
  if (!flag) return DAGR__AGAIN;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  void *buf = malloc(count > 0 ? (size_t)count : 1);
  if (!buf) return DAGR_ENOMEM;
  rc = MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, DAGR__TAG_PROTO, MPI_COMM_WORLD,
                MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) {
    free(buf);
    return DAGR_EMPI;
  }
  *from = st.MPI_SOURCE;
  *msg = buf;
  *len = (size_t)count;
  return DAGR_OK;
}

typedef struct rget {
  int n;
  MPI_Request req[];
} rget;

int dagr__mpi_rget(dagr__mpi *m, int rank, uint64_t offset, void *dst, size_t n, void **handle) {
  size_t pieces = n == 0 ? 0 : (n + DAGR__RMA_PIECE - 1) / DAGR__RMA_PIECE;
  rget *g = malloc(sizeof *g + (pieces ? pieces : 1) * sizeof(MPI_Request));
  if (!g) return DAGR_ENOMEM;
  g->n = 0;
  for (size_t k = 0; k < pieces; k++) {
    size_t off = k * DAGR__RMA_PIECE, len = n - off < DAGR__RMA_PIECE ? n - off : DAGR__RMA_PIECE;
    int rc = MPI_Rget((char *)dst + off, (int)len, MPI_BYTE, rank, (MPI_Aint)(offset + off),
                      (int)len, MPI_BYTE, m->win, &g->req[g->n]);
    if (rc != MPI_SUCCESS) {
      MPI_Waitall(g->n, g->req, MPI_STATUSES_IGNORE);
      free(g);
      return mpierr(m, rc, "MPI_Rget", m->err, sizeof m->err);
    }
    g->n++;
  }
  *handle = g;
  return DAGR_OK;
}

int dagr__mpi_rget_test(dagr__mpi *m, void *handle, int *done) {
  rget *g = handle;
  int flag = 1;
  if (g->n) {
    int rc = MPI_Testall(g->n, g->req, &flag, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return mpierr(m, rc, "MPI_Testall", m->err, sizeof m->err);
  }
  *done = flag;
  if (flag) free(g);
  return DAGR_OK;
}

void dagr__mpi_abort(dagr__mpi *m, int code) {
  (void)m;
  MPI_Abort(MPI_COMM_WORLD, code);
}

int dagr__mpi_finalize(dagr__mpi *m) {
  if (!m) return DAGR_OK;
  while (m->nsends) {
    if (dagr__mpi_progress_sends(m) < 0) break;
  }
  /* Every rank must stop reading others' stores before any window goes away. */
  MPI_Barrier(MPI_COMM_WORLD);
  if (m->win_ok) {
    MPI_Win_unlock_all(m->win);
    MPI_Win_free(&m->win);
  }
  free(m->sends);
  free(m->worker_threads);
  free(m->clock_offset_ns);
  free(m->workers);
  free(m);
  int rc = MPI_Finalize();
  return rc == MPI_SUCCESS ? DAGR_OK : DAGR_EMPI;
}
