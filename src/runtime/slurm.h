/* slurm.h: what dagr takes from a Slurm job's environment (thread count, node-local storage, job
 * id). */
#ifndef DAGR_RUNTIME_SLURM_H
#define DAGR_RUNTIME_SLURM_H
#ifndef DAGR_BUILDING
#error "src/runtime/slurm.h is private to libdagr"
#endif

#include <stddef.h>

/* SLURM_CPUS_PER_TASK as a thread count (1..4096), or 0 when unset or malformed (Slurm sets it
 * only with --cpus-per-task; a value dagr cannot read is not the user's error to fix). */
int dagr__slurm_cpus_per_task(void);

/* " slurm_job=ID slurm_step=S slurm_procid=P slurm_cpus_per_task=N" ('-' for what is unset, and
 * step and procid '-' outside an srun step) when SLURM_JOB_ID is set, "" otherwise; for
 * `dagr info`. */
void dagr__slurm_describe(char *buf, size_t len);

/* Writes the token that names this job's files (spill directories; traces and reports with
 * "%j" when there is no Slurm job): "JOB.STEP-PID" in a Slurm job (STEP "batch" outside an srun
 * step), so a job's files are told apart across nodes and steps, else "PID-TIME". */
void dagr__job_token(char *buf, size_t len);

/* Copies name to out, replacing each "%j" by the Slurm job id (SLURM_JOB_ID; else `fallback`,
 * such as the job token) and "%%" by "%", so one DAGR_TRACE setting names a file per job.
 * Returns 0, or -1 when out is too small. */
int dagr__expand_job_name(const char *name, const char *fallback, char *out, size_t len);

#endif
