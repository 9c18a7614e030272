/* spill_mpi.c: a graph whose live intermediates are 4x the stores completes by spilling, correctly.
 */
/*
 * usage: spill_mpi [EXPECT]   EXPECT "spill": the stores are small (DAGR_STORE_BYTES set by the
 *                             caller) and the run must spill; "any": small stores, spilling
 *                             optional (one worker may order the work so it need not);
 *                             "nospill": large stores, it must not spill.
 * 64 sources of 4 MiB each; consumer i reads sources i and (i + 32) % 64 and returns a checksum,
 * so after the first 32 consumers the other 32 sources (128 MiB) are still needed: with 2 workers
 * of 32 MiB stores the live data is 4x the stores. Checks every checksum against a serial
 * computation, that spilling happened (or not), the scheduler's peak store count against the
 * capacity, and each worker's peak resident memory (VmHWM) against its store plus a margin.
 * Prints ok/FAIL lines and "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dagr.h"

#define NSRC      64
#define SRC_WORDS (512 * 1024) /* 4 MiB of int64 */
/* Worker memory beyond its store: MPI, libraries, stacks, message buffers (measured about 60 MiB
 * here); the README documents this margin. */
#define RSS_MARGIN_MIB 160

static int passed, failed;

static void check(int ok, const char *name, const char *fmt, long long a, long long b) {
  if (ok) {
    printf("ok %s\n", name);
    passed++;
  } else {
    printf("FAIL %s: ", name);
    printf(fmt, a, b);
    printf("\n");
    failed++;
  }
}

static int64_t word(int64_t src, int64_t j) {
  return (src * 1000003 + j * 7919) % 1000000007;
}

DAGR_KERNEL(spill_src) {
  int64_t id, words = SRC_WORDS;
  if (dagr_kernel_param_int(k, "id", &id)) return dagr_kernel_fail(k, "spill_src: no id");
  (void)dagr_kernel_param_int(k, "words", &words);
  int64_t shape[1] = {words}, *o;
  if (dagr_kernel_output(k, (size_t)words * sizeof(int64_t), DAGR_DTYPE_INT64, 1, shape,
                         (void **)&o))
    return dagr_kernel_fail(k, "spill_src: no room");
  for (int64_t j = 0; j < words; j++) o[j] = word(id, j);
  return DAGR_OK;
}

DAGR_KERNEL(spill_use) {
  int64_t sum = 0;
  for (int i = 0; i < dagr_kernel_ninputs(k); i++) {
    dagr_view_t v;
    if (dagr_kernel_input(k, i, &v) || v.nbytes % sizeof(int64_t))
      return dagr_kernel_fail(k, "spill_use: bad input %d", i);
    const int64_t *x = v.data;
    int64_t n = (int64_t)(v.nbytes / sizeof(int64_t));
    for (int64_t j = 0; j < n; j += 97) sum = (sum * 31 + x[j] * (i + 1)) % 1000000007;
  }
  return dagr_kernel_output_int64(k, sum);
}

DAGR_KERNEL(spill_rss) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return dagr_kernel_fail(k, "cannot read /proc/self/status");
  char line[256];
  long long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
  fclose(f);
  return dagr_kernel_output_int64(k, kib * 1024);
}

static int64_t expected(int i) {
  int64_t sum = 0;
  int src[2] = {i, (i + NSRC / 2) % NSRC};
  for (int q = 0; q < 2; q++)
    for (int64_t j = 0; j < SRC_WORDS; j += 97)
      sum = (sum * 31 + word(src[q], j) * (q + 1)) % 1000000007;
  return sum;
}

int main(int argc, char **argv) {
  dagr_ctx_t *ctx;
  if (dagr_init(&argc, &argv, NULL, &ctx)) {
    printf("FAIL init: %s\n0 passed, 1 failed\n", dagr_last_error(NULL));
    return 1;
  }
  if (!dagr_is_driver(ctx)) {
    int st = dagr_exit_status(ctx);
    dagr_finalize(ctx);
    return st;
  }
  const char *expect = argc > 1 ? argv[1] : "spill";
  if (!strcmp(expect, "huge")) {
    /* One object larger than a whole store: it goes straight to the spill directory; its reader
     * runs beside it and the driver reads it as a result from the file. */
    dagr_graph_t *h;
    dagr_graph_create(&h);
    dagr_params_t *p;
    dagr_params_create(&p);
    dagr_params_set_int(p, "id", 7);
    dagr_params_set_int(p, "words", 6 * SRC_WORDS); /* 24 MiB */
    dagr_graph_add(h, "big", "spill_src", p, NULL, 0, NULL);
    dagr_params_free(p);
    const char *bd[1] = {"big"};
    dagr_graph_add(h, "use-big", "spill_use", NULL, bd, 1, NULL);
    const char *hk[2] = {"use-big", "big"};
    dagr_result_t hr[2];
    int hrc = dagr_get(ctx, h, hk, 2, hr);
    check(hrc == DAGR_OK, "an object larger than the store is spilled straight to a file",
          "status %lld (%lld)", hrc, 0);
    if (hrc) printf("# %s\n", dagr_last_error(ctx));
    if (hrc == DAGR_OK) {
      dagr_stats_t hs;
      dagr_last_stats(ctx, &hs);
      int64_t v = -1, want = 0;
      for (int64_t j = 0; j < 6 * SRC_WORDS; j += 97) want = (want * 31 + word(7, j)) % 1000000007;
      dagr_result_int64(&hr[0], &v);
      check(v == want, "its reader ran on it", "checksum %lld vs %lld", (long long)v,
            (long long)want);
      const int64_t *b = hr[1].data;
      int64_t bad = -1;
      for (int64_t j = 0; j < 6 * SRC_WORDS && hr[1].nbytes == 6 * SRC_WORDS * 8; j++)
        if (b[j] != word(7, j)) {
          bad = j;
          break;
        }
      check(hr[1].nbytes == 6 * SRC_WORDS * 8 && bad < 0, "the driver reads it as a result",
            "%lld bytes, first bad word %lld", (long long)hr[1].nbytes, (long long)bad);
      check(hs.bytes_spilled >= 6 * SRC_WORDS * 8, "counted as spilled", "%lld (%lld)",
            (long long)hs.bytes_spilled, 0);
      dagr_result_release(&hr[0]);
      dagr_result_release(&hr[1]);
    }
    dagr_graph_free(h);
    printf("%d passed, %d failed\n", passed, failed);
    dagr_set_exit_status(ctx, failed ? 1 : 0);
    int hst = dagr_exit_status(ctx);
    dagr_finalize(ctx);
    return hst;
  }
  dagr_graph_t *g;
  dagr_graph_create(&g);
  char skeys[NSRC][32], ckeys[NSRC][32];
  const char *kp[NSRC];
  for (int i = 0; i < NSRC; i++) {
    dagr_params_t *p;
    dagr_params_create(&p);
    dagr_params_set_int(p, "id", i);
    snprintf(skeys[i], sizeof skeys[i], "src-%d", i);
    dagr_graph_add(g, skeys[i], "spill_src", p, NULL, 0, NULL);
    dagr_params_free(p);
  }
  for (int i = 0; i < NSRC; i++) {
    snprintf(ckeys[i], sizeof ckeys[i], "use-%d", i);
    const char *deps[2] = {skeys[i], skeys[(i + NSRC / 2) % NSRC]};
    dagr_graph_add(g, ckeys[i], "spill_use", NULL, deps, 2, NULL);
    kp[i] = ckeys[i];
  }
  dagr_result_t res[NSRC];
  int rc = dagr_get(ctx, g, kp, NSRC, res);
  check(rc == DAGR_OK, "graph with intermediates 4x the stores completes", "status %lld (%lld)", rc,
        0);
  if (rc) printf("# %s\n", dagr_last_error(ctx));
  dagr_stats_t st;
  dagr_last_stats(ctx, &st);
  if (rc == DAGR_OK) {
    int bad = -1;
    for (int i = 0; i < NSRC; i++) {
      int64_t v = -1;
      dagr_result_int64(&res[i], &v);
      if (v != expected(i) && bad < 0) bad = i;
      dagr_result_release(&res[i]);
    }
    check(bad < 0, "every result equals the serial computation", "result %lld differs (%lld)", bad,
          0);
    printf("# bytes_spilled=%llu store_peak=%llu tasks=%llu\n",
           (unsigned long long)st.bytes_spilled, (unsigned long long)st.store_peak,
           (unsigned long long)st.tasks);
    if (!strcmp(expect, "spill"))
      check(st.bytes_spilled > 0, "the run spilled", "bytes_spilled %lld (%lld)",
            (long long)st.bytes_spilled, 0);
    else if (!strcmp(expect, "nospill"))
      check(st.bytes_spilled == 0, "nothing spilled with large stores", "bytes_spilled %lld (%lld)",
            (long long)st.bytes_spilled, 0);
  }
  /* Peak resident memory of each worker, from a task pinned to it. */
  const char *sb = getenv("DAGR_STORE_BYTES");
  uint64_t store = 0;
  if (sb) dagr_parse_bytes(sb, &store);
  int nw = dagr_nworkers(ctx), mpi = dagr_nranks(ctx) > 1;
  if (store && strcmp(expect, "nospill") != 0) {
    /* store_peak is the scheduler's running estimate (objects in transit count early); the
     * stores themselves cannot exceed their capacity: the resident memory below shows it. */
    check(st.store_peak > 0, "the scheduler reports a peak store use", "peak %lld (%lld)",
          (long long)st.store_peak, 0);
    dagr_graph_t *g2;
    dagr_graph_create(&g2);
    char rk[16][32];
    const char *rp[16];
    for (int w = 0; w < nw && w < 16; w++) {
      dagr_task_opts_t o;
      dagr_task_opts_init(&o);
      o.worker = mpi ? w + 1 : -1;
      snprintf(rk[w], sizeof rk[w], "rss-%d", w);
      rp[w] = rk[w];
      dagr_graph_add(g2, rk[w], "spill_rss", NULL, NULL, 0, &o);
    }
    dagr_result_t rr[16];
    if (dagr_get(ctx, g2, rp, (size_t)(nw < 16 ? nw : 16), rr) == DAGR_OK) {
      for (int w = 0; w < nw && w < 16; w++) {
        int64_t b = 0;
        dagr_result_int64(&rr[w], &b);
        long long mib = b >> 20, lim = (long long)(store >> 20) + RSS_MARGIN_MIB;
        char name[96];
        snprintf(name, sizeof name, "worker %d peak RSS within its store + %d MiB", w + 1,
                 RSS_MARGIN_MIB);
        check(mib <= lim, name, "%lld MiB > %lld MiB", mib, lim);
        printf("# worker %d VmHWM %lld MiB (store %llu MiB)\n", w + 1, mib,
               (unsigned long long)(store >> 20));
        dagr_result_release(&rr[w]);
      }
    } else {
      check(0, "peak RSS probe", "the probe graph failed (%lld %lld)", 0, 0);
    }
    dagr_graph_free(g2);
  }
  dagr_graph_free(g);
  printf("%d passed, %d failed\n", passed, failed);
  dagr_set_exit_status(ctx, failed ? 1 : 0);
  int es = dagr_exit_status(ctx);
  dagr_finalize(ctx);
  return es;
}
