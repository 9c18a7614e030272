/* config.c: dagr_config_t defaults and the DAGR_* environment variables that override them. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/config.h"
#include "runtime/slurm.h"
#include "runtime/timeout.h"

int dagr_parse_bytes(const char *s, uint64_t *out) {
  /* Digits first: strtoull would accept leading blanks and signs. */
  if (!s || !isdigit((unsigned char)*s)) return DAGR_EINVAL;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return DAGR_EINVAL;
  unsigned shift = 0;
  if (*end) {
    switch (toupper((unsigned char)*end)) {
    case 'K':
      shift = 10;
      break;
    case 'M':
      shift = 20;
      break;
    case 'G':
      shift = 30;
      break;
    case 'T':
      shift = 40;
      break;
    default:
      return DAGR_EINVAL;
    }
    end++;
    if (toupper((unsigned char)*end) == 'I') end++;
    if (toupper((unsigned char)*end) == 'B') end++;
    if (*end) return DAGR_EINVAL;
  }
  if (shift && v > (ULLONG_MAX >> shift)) return DAGR_EINVAL;
  *out = (uint64_t)v << shift;
  return DAGR_OK;
}

static int env_int(const char *name, long lo, long hi, int *out) {
  const char *s = getenv(name);
  if (!s) return DAGR_OK;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    dagr__set_global_error("%s='%s' is invalid: expected an integer from %ld to %ld", name, s, lo,
                           hi);
    return DAGR_ECONFIG;
  }
  *out = (int)v;
  return DAGR_OK;
}

static int env_bytes(const char *name, uint64_t lo, uint64_t hi, size_t *out) {
  const char *s = getenv(name);
  if (!s) return DAGR_OK;
  uint64_t v;
  if (dagr_parse_bytes(s, &v) || v < lo || v > hi) {
    dagr__set_global_error("%s='%s' is invalid: expected a byte count from %llu to %llu "
                           "(suffixes K, M, G, T allowed)",
                           name, s, (unsigned long long)lo, (unsigned long long)hi);
    return DAGR_ECONFIG;
  }
  *out = (size_t)v;
  return DAGR_OK;
}

/* Reads seconds (a non-negative decimal number; 0: none) from variable name into *out. The
 * bound keeps the limit within the u32 milliseconds the scheduler sends. */
static int env_seconds(const char *name, double hi, double *out) {
  const char *s = getenv(name);
  if (!s) return DAGR_OK;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  /* Digits or a point first: strtod would also take blanks, signs, "inf" and "nan". */
  int lead = isdigit((unsigned char)s[0]) || (s[0] == '.' && isdigit((unsigned char)s[1]));
  if (!lead || errno || end == s || *end || !(v >= 0 && v <= hi)) {
    dagr__set_global_error("%s='%s' is invalid: expected seconds from 0 (no limit) to %.0f, "
                           "such as 30 or 2.5",
                           name, s, hi);
    return DAGR_ECONFIG;
  }
  *out = v;
  return DAGR_OK;
}

/* A file name from the environment: unset is NULL, set it must name something. */
static int env_path(const char *name, const char **out) {
  const char *s = getenv(name);
  if (!s) return DAGR_OK;
  if (!*s) {
    dagr__set_global_error("%s is set but empty: give it a file name, or unset it", name);
    return DAGR_ECONFIG;
  }
  *out = s;
  return DAGR_OK;
}

/* DAGR_TRACE, DAGR_REPORT, DAGR_SUMMARY, DAGR_PROGRESS, DAGR_PROGRESS_INTERVAL. */
static int config_observe(dagr_config_t *cfg) {
  int rc, progress = -2;
  if ((rc = env_path("DAGR_TRACE", &cfg->trace))) return rc;
  if ((rc = env_path("DAGR_REPORT", &cfg->report))) return rc;
  if ((rc = env_int("DAGR_SUMMARY", 0, 1, &cfg->summary))) return rc;
  if ((rc = env_int("DAGR_PROGRESS", 0, 1, &progress))) return rc;
  if (progress != -2) cfg->progress = progress ? 1 : -1;
  if ((rc = env_seconds("DAGR_PROGRESS_INTERVAL", 86400, &cfg->progress_interval_s))) return rc;
  if (getenv("DAGR_PROGRESS_INTERVAL") && !(cfg->progress_interval_s > 0)) {
    dagr__set_global_error("DAGR_PROGRESS_INTERVAL='%s' is invalid: expected seconds above 0, "
                           "such as 10 or 0.5",
                           getenv("DAGR_PROGRESS_INTERVAL"));
    return DAGR_ECONFIG;
  }
  return DAGR_OK;
}

int dagr_config_init(dagr_config_t *cfg) {
  if (!cfg) return DAGR_EINVAL;
  memset(cfg, 0, sizeof *cfg);
  cfg->inline_bytes = DAGR_INLINE_BYTES_DEFAULT;
  cfg->batch_tasks = DAGR__BATCH_DEFAULT;
  cfg->mpi = -1;
  int rc;
  if ((rc = env_bytes("DAGR_INLINE_BYTES", 8, 64u << 20, &cfg->inline_bytes))) return rc;
  if ((rc = env_bytes("DAGR_STORE_BYTES", DAGR__MIN_STORE, (uint64_t)1 << 50, &cfg->store_bytes)))
    return rc;
  /* In a Slurm job, the CPUs each task was given; DAGR_WORKER_THREADS still wins. */
  cfg->worker_threads = dagr__slurm_cpus_per_task();
  if ((rc = env_int("DAGR_WORKER_THREADS", 1, 4096, &cfg->worker_threads))) return rc;
  if ((rc = env_int("DAGR_BATCH", 1, 1 << 20, &cfg->batch_tasks))) return rc;
  if ((rc = env_int("DAGR_QUEUE", 1, 1 << 24, &cfg->queue_tasks))) return rc;
  if ((rc = env_int("DAGR_MPI", 0, 1, &cfg->mpi))) return rc;
  if ((rc = env_seconds("DAGR_TASK_TIMEOUT", DAGR__TIMEOUT_MAX_S, &cfg->task_timeout_s))) return rc;
  return config_observe(cfg);
}

void dagr__config_merge(dagr_config_t *cfg, const dagr_config_t *user) {
  if (user->inline_bytes) cfg->inline_bytes = user->inline_bytes;
  if (user->store_bytes) cfg->store_bytes = user->store_bytes;
  if (user->worker_threads) cfg->worker_threads = user->worker_threads;
  if (user->batch_tasks) cfg->batch_tasks = user->batch_tasks;
  if (user->queue_tasks) cfg->queue_tasks = user->queue_tasks;
  if (user->mpi == 0 || user->mpi == 1) cfg->mpi = user->mpi;
  if (user->task_timeout_s > 0) cfg->task_timeout_s = user->task_timeout_s;
  if (user->trace) cfg->trace = user->trace;
  if (user->report) cfg->report = user->report;
  if (user->summary) cfg->summary = user->summary;
  if (user->progress) cfg->progress = user->progress;
  if (user->progress_interval_s > 0) cfg->progress_interval_s = user->progress_interval_s;
}

/* A fraction in (0, 1] from the environment. */
static int env_fraction(const char *name, double *out) {
  const char *s = getenv(name);
  if (!s) return DAGR_OK;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v > 0) || v > 1) {
    dagr__set_global_error("%s='%s' is invalid: expected a fraction of the store, above 0 and "
                           "at most 1",
                           name, s);
    return DAGR_ECONFIG;
  }
  *out = v;
  return DAGR_OK;
}

int dagr__config_memory(int *spill, double *high, double *pause) {
  int rc = env_int("DAGR_SPILL", 0, 1, spill);
  if (!rc) rc = env_fraction("DAGR_STORE_HIGH", high);
  if (!rc) rc = env_fraction("DAGR_STORE_PAUSE", pause);
  if (!rc && *pause < *high) {
    dagr__set_global_error("DAGR_STORE_PAUSE (%g) is below DAGR_STORE_HIGH (%g): the pause mark "
                           "must be at or above the spill mark",
                           *pause, *high);
    rc = DAGR_ECONFIG;
  }
  return rc;
}
