/* test_slurm.c: CUnit tests of what dagr reads from a Slurm job's environment
 * (src/runtime/slurm.c). */
#include <stdlib.h>
#include <unistd.h>

#include "cu_util.h"
#include "internal/common.h"
#include "runtime/config.h"
#include "runtime/slurm.h"
#include "store/spill.h"

static void clear_env(void) {
  static const char *const vars[] = {"SLURM_JOB_ID", "SLURM_STEP_ID",       "SLURM_PROCID",
                                     "SLURM_TMPDIR", "SLURM_CPUS_PER_TASK", "DAGR_SPILL_DIR",
                                     "TMPDIR",       "DAGR_WORKER_THREADS", NULL};
  for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
}

static void test_cpus_per_task(void) {
  clear_env();
  CU_EXPECT_INT(dagr__slurm_cpus_per_task(), 0);
  setenv("SLURM_CPUS_PER_TASK", "8", 1);
  CU_EXPECT_INT(dagr__slurm_cpus_per_task(), 8);
  static const char *const bad[] = {"", "0", "-2", "8x", "99999", "two", NULL};
  for (int i = 0; bad[i]; i++) {
    setenv("SLURM_CPUS_PER_TASK", bad[i], 1);
    CU_EXPECT_INT(dagr__slurm_cpus_per_task(), 0);
  }
  clear_env();
}

static void test_threads_default(void) {
  clear_env();
  dagr_config_t cfg;
  CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_OK);
  CU_EXPECT_INT(cfg.worker_threads, 0); /* automatic */
  setenv("SLURM_CPUS_PER_TASK", "6", 1);
  CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_OK);
  CU_EXPECT_INT(cfg.worker_threads, 6);
  setenv("DAGR_WORKER_THREADS", "3", 1); /* the explicit setting wins */
  CU_EXPECT_INT(dagr_config_init(&cfg), DAGR_OK);
  CU_EXPECT_INT(cfg.worker_threads, 3);
  clear_env();
}

static void test_spill_base(void) {
  clear_env();
  CU_ASSERT_STRING_EQUAL(dagr__spill_base(), "/tmp");
  setenv("TMPDIR", "/t1", 1);
  CU_ASSERT_STRING_EQUAL(dagr__spill_base(), "/t1");
  setenv("SLURM_TMPDIR", "/local/job", 1);
  CU_ASSERT_STRING_EQUAL(dagr__spill_base(), "/local/job");
  setenv("DAGR_SPILL_DIR", "/scratch/me", 1);
  CU_ASSERT_STRING_EQUAL(dagr__spill_base(), "/scratch/me");
  setenv("DAGR_SPILL_DIR", "", 1); /* empty means unset */
  CU_ASSERT_STRING_EQUAL(dagr__spill_base(), "/local/job");
  clear_env();
}

static void test_describe_and_token(void) {
  clear_env();
  char buf[256], tok[64];
  dagr__slurm_describe(buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, "");
  dagr__job_token(tok, sizeof tok);
  CU_ASSERT(strchr(tok, '-') != NULL && strchr(tok, '.') == NULL);
  /* mpirun inside an allocation: the batch script's SLURM_PROCID is not this rank's. */
  setenv("SLURM_JOB_ID", "4242", 1);
  setenv("SLURM_PROCID", "0", 1);
  dagr__slurm_describe(buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, " slurm_job=4242 slurm_step=- slurm_procid=- slurm_cpus_per_task=-");
  dagr__job_token(tok, sizeof tok);
  char want0[64];
  snprintf(want0, sizeof want0, "4242.batch-%d", (int)getpid());
  CU_ASSERT_STRING_EQUAL(tok, want0);
  unsetenv("SLURM_PROCID");
  setenv("SLURM_JOB_ID", "4242", 1);
  setenv("SLURM_STEP_ID", "3", 1);
  setenv("SLURM_CPUS_PER_TASK", "4", 1);
  dagr__slurm_describe(buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL(buf, " slurm_job=4242 slurm_step=3 slurm_procid=- slurm_cpus_per_task=4");
  dagr__job_token(tok, sizeof tok);
  char want[64];
  snprintf(want, sizeof want, "4242.3-%d", (int)getpid());
  CU_ASSERT_STRING_EQUAL(tok, want);
  clear_env();
}

static void test_expand_job_name(void) {
  clear_env();
  char out[64];
  CU_EXPECT_INT(dagr__expand_job_name("trace-%j.json", "tok", out, sizeof out), 0);
  CU_ASSERT_STRING_EQUAL(out, "trace-tok.json");
  setenv("SLURM_JOB_ID", "991", 1);
  CU_EXPECT_INT(dagr__expand_job_name("/a/%j/r-%j-100%%.html", "tok", out, sizeof out), 0);
  CU_ASSERT_STRING_EQUAL(out, "/a/991/r-991-100%.html");
  CU_EXPECT_INT(dagr__expand_job_name("plain%", NULL, out, sizeof out), 0);
  CU_ASSERT_STRING_EQUAL(out, "plain%");
  CU_EXPECT_INT(dagr__expand_job_name("%j%j%j", NULL, out, 10), 0); /* exactly fits */
  CU_ASSERT_STRING_EQUAL(out, "991991991");
  CU_EXPECT_INT(dagr__expand_job_name("%j%j%j", NULL, out, 9), -1);
  clear_env();
}

int main(void) {
  static const cu_test_def tests[] = {
      {"SLURM_CPUS_PER_TASK parsing", test_cpus_per_task},
      {"worker threads default to SLURM_CPUS_PER_TASK", test_threads_default},
      {"spill directory order", test_spill_base},
      {"dagr info fields and job token", test_describe_and_token},
      {"%j in file names", test_expand_job_name},
      {NULL, NULL},
  };
  return cu_run_suite("slurm", tests);
}
