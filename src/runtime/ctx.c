/* ctx.c: dagr_init / dagr_finalize / dagr_get: roles, the driver's scheduler and worker serving. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "hdf5/h5io.h"
#include "runtime/config.h"
#include "runtime/ctx.h"
#include "runtime/slurm.h"
#include "runtime/cleanup.h"
#include "runtime/registry.h"
#include "runtime/signals.h"
#include "runtime/timeout.h"
#include "runtime/wcb.h"

static int serve_as_worker(dagr_ctx_t *ctx) {
  /* Static: a kernel abandoned past its time limit may still use the store after this returns
   * (a worker rank serves once per process). */
  static dagr__store store;
  int abandoned = 0;
  const dagr__placement *pl = &ctx->placement;
  /* One store part per executor group, each bound to its NUMA node before first touch. */
  int rc = dagr__store_init_parts(&store, ctx->boot.store_base, ctx->boot.store_bytes, pl->ngroups,
                                  pl->group_weight);
  if (rc) return rc;
  dagr__placement_bind_store(pl, &store);
  dagr__worker_cfg wc = {ctx->boot.rank,     ctx->boot.threads, ctx->cfg.inline_bytes,
                         1000000L,           ctx->boot.host,    pl,
                         ctx->boot.job_token};
  dagr__worker *w;
  rc = dagr__worker_create(&wc, dagr__mpi_wlink(ctx->mpi), &store, &w);
  if (rc == DAGR_OK) {
    rc = dagr__worker_serve(w, &ctx->exit_status);
    abandoned = dagr__worker_abandoned(w);
    dagr__worker_destroy(w);
  }
  if (!abandoned) dagr__store_destroy(&store);
  return rc;
}

int dagr_init(int *argc, char ***argv, const dagr_config_t *user, dagr_ctx_t **out) {
  if (!out) return DAGR_EINVAL;
  *out = NULL;
  dagr__set_global_error("%s", "");
  dagr_ctx_t *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return DAGR_ENOMEM;
  int rc = dagr_config_init(&ctx->cfg);
  if (rc) {
    free(ctx);
    return rc;
  }
  if (user) dagr__config_merge(&ctx->cfg, user);
  dagr__wcb_freeze();
  rc = dagr__registry_freeze();
  if (rc) {
    dagr__set_global_error("cannot build the kernel table: %s", dagr_strerror(rc));
    free(ctx);
    return rc;
  }
  /* Checked on every rank before any starts: all fail alike on a bad value. */
  int spill = 1;
  double high = 0.8, pause = 0.9;
  rc = dagr__config_memory(&spill, &high, &pause);
  if (rc) goto fail;
  ctx->boot.placement = &ctx->placement;
  int use_mpi = ctx->cfg.mpi >= 0 ? ctx->cfg.mpi : dagr__mpi_launched();
  if (use_mpi) {
    rc = dagr__mpi_boot(argc, argv, &ctx->cfg, &ctx->boot, &ctx->mpi, ctx->err, sizeof ctx->err);
    if (rc) {
      dagr__set_global_error("%s", ctx->err);
      goto fail;
    }
    if (ctx->boot.nranks == 1) {
      /* -np 1: MPI is up but there are no worker ranks; run a local pool beside it. */
      rc = dagr__local_start(&ctx->cfg, &ctx->local, &(dagr__slink *){NULL}, &ctx->boot, ctx->err,
                             sizeof ctx->err);
    }
  } else {
    rc = dagr__local_start(&ctx->cfg, &ctx->local, &(dagr__slink *){NULL}, &ctx->boot, ctx->err,
                           sizeof ctx->err);
  }
  if (rc) {
    dagr__set_global_error("%s", ctx->err);
    if (ctx->mpi) dagr__mpi_finalize(ctx->mpi);
    goto fail;
  }
  /* faults: stop and crash handlers on every rank, before any task can run. */
  dagr__signals_install(ctx->boot.rank, ctx->boot.host);
  if (ctx->boot.rank == 0) {
    ctx->driver = 1;
    dagr__slink *link;
    link = ctx->local ? dagr__local_slink(ctx->local) : dagr__mpi_slink(ctx->mpi);
    rc = dagr__sched_init(&ctx->sched, link, ctx->boot.worker_threads, ctx->boot.workers,
                          ctx->cfg.inline_bytes, (uint32_t)ctx->cfg.batch_tasks,
                          (uint32_t)ctx->cfg.queue_tasks, ctx->local == NULL);
    if (rc) {
      dagr__set_global_error("out of memory starting the scheduler");
      goto fail;
    }
    ctx->sched_ok = 1;
    ctx->sched.timeout_ms = dagr__timeout_ms(ctx->cfg.task_timeout_s);
    ctx->sched.spill_on = spill;
    ctx->sched.job_token = ctx->boot.job_token;
    ctx->sched.high = high;
    ctx->sched.pause = pause;
    rc = dagr__observe_init(ctx);
    if (rc) {
      dagr__set_global_error("%s",
                             rc == DAGR_ENOMEM ? "out of memory starting the scheduler" : ctx->err);
      goto fail;
    }
  } else {
    rc = serve_as_worker(ctx);
    if (rc) {
      /* The scheduler would wait for this rank forever: end the job, loudly. */
      fprintf(stderr, "dagr: worker rank %d on %s stopped serving: %s; ending the job\n",
              ctx->boot.rank, ctx->boot.host, dagr_strerror(rc));
      dagr__mpi_abort(ctx->mpi, 1);
    }
  }
  *out = ctx;
  return rc;
fail:
  dagr__signals_restore();
  dagr__placement_free(&ctx->placement);
  dagr__registry_thaw();
  dagr__wcb_thaw();
  free(ctx);
  return rc;
}

int dagr_finalize(dagr_ctx_t *ctx) {
  if (!ctx) return DAGR_EINVAL;
  if (ctx->in_get) return DAGR_ESTATE; /* from a callback: dagr_last_error is the run's */
  /* faults: after SIGTERM/SIGINT nothing is waited for (workers may be gone, executor threads
   * stuck): remove the temporary files and end the process with the signal. */
  if (dagr__stop_signal()) dagr__signals_stop_now();
  int rc = DAGR_OK;
  if (ctx->driver && dagr__observe_collect(ctx) != DAGR_OK)
    fprintf(stderr, "dagr: the workers' trace events could not be gathered\n");
  if (ctx->driver && ctx->sched_ok) rc = dagr__sched_shutdown(&ctx->sched, ctx->exit_status);
  if (ctx->local) {
    int lrc = dagr__local_stop(ctx->local);
    if (!rc) rc = lrc;
  }
  /* The workers are released first: writing a large trace need not hold them. */
  if (ctx->driver) {
    int orc = dagr__observe_finalize(ctx);
    if (!rc) rc = orc;
  }
  if (ctx->sched_ok) dagr__sched_destroy(&ctx->sched);
  /* Cached HDF5 handles hold file locks other processes may need after this job. */
  dagr__h5_close_all();
  dagr__cleanup_run();
  dagr__signals_restore();
  if (ctx->mpi) {
    int mrc = dagr__mpi_finalize(ctx->mpi);
    if (!rc) rc = mrc;
  }
  dagr__placement_free(&ctx->placement);
  dagr__registry_thaw();
  dagr__wcb_thaw();
  free(ctx);
  return rc;
}

int dagr_set_exit_status(dagr_ctx_t *ctx, int status) {
  if (!ctx || !ctx->driver || ctx->in_get) return ctx ? DAGR_ESTATE : DAGR_EINVAL;
  ctx->exit_status = status;
  return DAGR_OK;
}

int dagr_exit_status(const dagr_ctx_t *ctx) {
  return ctx ? ctx->exit_status : 0;
}

int dagr_is_driver(const dagr_ctx_t *ctx) {
  return ctx && ctx->driver;
}
int dagr_rank(const dagr_ctx_t *ctx) {
  return ctx ? ctx->boot.rank : -1;
}
int dagr_nranks(const dagr_ctx_t *ctx) {
  return ctx ? ctx->boot.nranks : 0;
}
int dagr_nworkers(const dagr_ctx_t *ctx) {
  if (!ctx) return 0;
  return ctx->local ? 1 : ctx->boot.nranks - 1;
}

int dagr_numa_domains(const dagr_ctx_t *ctx) {
  if (!ctx || !ctx->driver || !ctx->sched_ok) return 0;
  return ctx->sched.ndom;
}

int dagr_set_numa_placement(dagr_ctx_t *ctx, int on) {
  if (!ctx) return DAGR_EINVAL;
  if (ctx->in_get) return DAGR_ESTATE; /* from a callback */
  if (!ctx->driver || !ctx->sched_ok)
    return dagr__errf(ctx->err, sizeof ctx->err, DAGR_ESTATE,
                      "dagr_set_numa_placement runs on the driver");
  ctx->sched.numa_off = !on;
  return DAGR_OK;
}

const char *dagr_last_error(const dagr_ctx_t *ctx) {
  return ctx ? ctx->err : dagr__global_error();
}

int dagr_last_stats(const dagr_ctx_t *ctx, dagr_stats_t *stats) {
  if (!ctx || !stats) return DAGR_EINVAL;
  if (ctx->in_get) return DAGR_ESTATE; /* from a callback: the run's facts are not complete */
  *stats = ctx->last;
  return DAGR_OK;
}

int dagr_get(dagr_ctx_t *ctx, dagr_graph_t *graph, const char *const *keys, size_t nkeys,
             dagr_result_t *results) {
  if (!ctx) return DAGR_EINVAL;
  if (ctx->in_get) return DAGR_ESTATE; /* from a callback: dagr_last_error is the run's */
  ctx->err[0] = '\0';
  if (!graph || !keys || !results || nkeys == 0)
    return dagr__errf(ctx->err, sizeof ctx->err, DAGR_EINVAL,
                      "dagr_get needs a graph, at least one key and a results array");
  if (!ctx->driver)
    return dagr__errf(ctx->err, sizeof ctx->err, DAGR_ESTATE,
                      "dagr_get called on worker rank %d; only rank 0 drives", ctx->boot.rank);
  memset(results, 0, nkeys * sizeof *results);
  if (dagr__stop_signal()) return dagr__stop_error(ctx->err, sizeof ctx->err);
  if (ctx->timed_out)
    return dagr__errf(ctx->err, sizeof ctx->err, DAGR_ESTATE,
                      "this context runs no more graphs: an earlier task ran past its time limit "
                      "and its kernel may still be running (%s); call dagr_finalize",
                      ctx->timeout_msg);
  memset(&ctx->last, 0, sizeof ctx->last);
  double t0 = dagr__now();
  dagr__plan plan;
  int rc = dagr__plan_build(graph, keys, nkeys, dagr__registry_lookup, NULL, &plan, ctx->err,
                            sizeof ctx->err);
  double t1 = dagr__now();
  ctx->last.plan_seconds = t1 - t0;
  if (rc) return rc;
  ctx->in_get = 1;
  dagr__observe_run_begin(ctx, plan.n);
  rc = dagr__sched_run(&ctx->sched, graph, &plan, results, &ctx->last, ctx->err, sizeof ctx->err);
  if (rc == DAGR_ETIMEOUT) {
    ctx->timed_out = 1;
    snprintf(ctx->timeout_msg, sizeof ctx->timeout_msg, "%s", ctx->err);
  }
  dagr__observe_snapshot(ctx, &plan, graph);
  dagr__plan_free(&plan);
  double t2 = dagr__now();
  ctx->last.run_seconds = t2 - t1;
  ctx->last.seconds = t2 - t0;
  dagr__observe_run_end(ctx, rc, t2 - t1);
  ctx->in_get = 0;
  return rc;
}

typedef struct info_out {
  FILE *f;
} info_out;

static void print_worker(int rank, const char *text, void *arg) {
  info_out *o = arg;
  fprintf(o->f, "rank %d: %s\n", rank, text);
}

int dagr_info_print(dagr_ctx_t *ctx, FILE *out) {
  if (!ctx || !out) return DAGR_EINVAL;
  /* From a callback: asking the workers now would take the run's messages. */
  if (ctx->in_get) return DAGR_ESTATE;
  if (!ctx->driver)
    return dagr__errf(ctx->err, sizeof ctx->err, DAGR_ESTATE, "dagr_info_print runs on rank 0");
  char slurm[512];
  dagr__slurm_describe(slurm, sizeof slurm);
  fprintf(out, "rank 0: host=%s role=%s threads=1 store_bytes=0 nranks=%d workers=%d %s%s\n",
          ctx->boot.host, ctx->local ? "scheduler+local-workers" : "scheduler", ctx->boot.nranks,
          dagr_nworkers(ctx),
          ctx->local ? "(the local workers' line follows)" : ctx->placement.desc, slurm);
  info_out o = {out};
  return dagr__sched_info(&ctx->sched, print_worker, &o, ctx->err, sizeof ctx->err);
}
