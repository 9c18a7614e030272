/* slurm.c: what dagr takes from a Slurm job's environment (thread count, node-local storage, job
 * id). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/common.h"
#include "runtime/slurm.h"

int dagr__slurm_cpus_per_task(void) {
  const char *s = getenv("SLURM_CPUS_PER_TASK");
  if (!s || !*s) return 0;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  return errno || *end || v < 1 || v > 4096 ? 0 : (int)v;
}

static const char *or_dash(const char *s) {
  return s && *s ? s : "-";
}

void dagr__slurm_describe(char *buf, size_t len) {
  const char *job = getenv("SLURM_JOB_ID");
  if (!len) return;
  buf[0] = '\0';
  if (!job || !*job) return;
  /* Outside an srun step (mpirun inside an allocation) SLURM_PROCID is the batch script's own,
   * not this rank's: shown only with a step. */
  const char *step = getenv("SLURM_STEP_ID");
  int in_step = step && *step;
  snprintf(buf, len, " slurm_job=%s slurm_step=%s slurm_procid=%s slurm_cpus_per_task=%s", job,
           in_step ? step : "-", in_step ? or_dash(getenv("SLURM_PROCID")) : "-",
           or_dash(getenv("SLURM_CPUS_PER_TASK")));
}

int dagr__expand_job_name(const char *name, const char *fallback, char *out, size_t len) {
  const char *job = getenv("SLURM_JOB_ID");
  if (!job || !*job) job = fallback && *fallback ? fallback : "0";
  size_t k = 0;
  for (const char *p = name; *p; p++) {
    const char *piece = NULL;
    char one[2] = {*p, '\0'};
    if (p[0] == '%' && p[1] == 'j') {
      piece = job;
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      piece = "%";
      p++;
    } else {
      piece = one;
    }
    size_t n = strlen(piece);
    if (k + n >= len) return -1;
    memcpy(out + k, piece, n);
    k += n;
  }
  if (k >= len) return -1;
  out[k] = '\0';
  return 0;
}

void dagr__job_token(char *buf, size_t len) {
  const char *job = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
  if (job && *job)
    snprintf(buf, len, "%s.%s-%d", job, step && *step ? step : "batch", (int)getpid());
  else
    snprintf(buf, len, "%d-%lx", (int)getpid(), (long)time(NULL));
}
