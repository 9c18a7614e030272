/* test_place.c: unit tests of NUMA-domain placement: locality order, weighted inputs, load, room.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_util.h"
#include "scheduler/place.h"

/* --- helpers -------------------------------------------------------------------------------- */

/* Two hosts shaped like tests/topologies/2pack-8numa-128core.xml, four workers per host, each
 * worker bound to one package half (two NUMA domains): domain g is on worker g/2, host g/8. */
#define NDOM 16
static dagr__place_domain two_hosts[NDOM];

static void reset_two_hosts(uint32_t cap) {
  for (int g = 0; g < NDOM; g++)
    two_hosts[g] = (dagr__place_domain){.worker = g / 2, .host = g / 8, .load = 0, .cap = cap};
}

static dagr__place_scratch scratch;

static int32_t choose(const dagr__place_domain *d, size_t nd, const dagr__place_input *in,
                      size_t ni, uint64_t small) {
  int32_t c = -2;
  CU_EXPECT_INT(dagr__place_choose(d, nd, in, ni, small, &scratch, &c), DAGR_OK);
  return c;
}

#define IN(...)                                                                                    \
  (const dagr__place_input[]) {                                                                    \
    __VA_ARGS__                                                                                    \
  }
#define NIN(...)                  (sizeof((const dagr__place_input[]){__VA_ARGS__}) / sizeof(dagr__place_input))
#define CHOOSE(d, nd, small, ...) choose(d, nd, IN(__VA_ARGS__), NIN(__VA_ARGS__), small)

static int scratch_is_zero(const dagr__place_scratch *s) {
  for (size_t i = 0; i < s->ndomains; i++)
    if (s->domain_bytes[i]) return 0;
  for (size_t i = 0; i < s->nworkers; i++)
    if (s->worker_bytes[i]) return 0;
  for (size_t i = 0; i < s->nhosts; i++)
    if (s->host_bytes[i]) return 0;
  return 1;
}

/* The rule of place.h evaluated literally, input by input, for comparison. */
static int32_t brute_force(const dagr__place_domain *d, size_t nd, const dagr__place_input *in,
                           size_t ni, uint64_t small) {
  uint64_t total = 0;
  for (size_t i = 0; i < ni; i++) total += in[i].bytes;
  int32_t best = -1;
  uint64_t best_cost = 0;
  for (size_t c = 0; c < nd; c++) {
    if (d[c].load >= d[c].cap) continue;
    uint64_t cost = 0;
    if (ni > 0 && total >= small)
      for (size_t i = 0; i < ni; i++) {
        const dagr__place_domain *src = &d[in[i].domain];
        uint64_t dist = (size_t)in[i].domain == c    ? 0
                        : src->worker == d[c].worker ? 1
                        : src->host == d[c].host     ? 2
                                                     : 4;
        cost += in[i].bytes * dist;
      }
    double load = (double)d[c].load / d[c].cap;
    if (best < 0 || cost < best_cost ||
        (cost == best_cost && load < (double)d[best].load / d[best].cap)) {
      best = (int32_t)c;
      best_cost = cost;
    }
  }
  return best;
}

/* --- tests ---------------------------------------------------------------------------------- */

static void test_scratch(void) {
  dagr__place_scratch s;
  CU_EXPECT_INT(dagr__place_scratch_init(&s, 4, 2, 1), DAGR_OK);
  CU_EXPECT_INT(s.ndomains, 4);
  CU_EXPECT_INT(s.nworkers, 2);
  CU_EXPECT_INT(s.nhosts, 1);
  CU_ASSERT(scratch_is_zero(&s));
  dagr__place_scratch_free(&s);
  CU_ASSERT(s.domain_bytes == NULL && s.ndomains == 0);
  dagr__place_scratch_free(&s);
  dagr__place_scratch_free(NULL);
  CU_EXPECT_INT(dagr__place_scratch_init(NULL, 4, 2, 1), DAGR_EINVAL);
  /* Empty sizes are valid: nothing can be placed, but nothing fails. */
  CU_EXPECT_INT(dagr__place_scratch_init(&s, 0, 0, 0), DAGR_OK);
  int32_t c = 5;
  CU_EXPECT_INT(dagr__place_choose(NULL, 0, NULL, 0, 0, &s, &c), DAGR_OK);
  CU_EXPECT_INT(c, -1);
  dagr__place_scratch_free(&s);
}

static void test_locality_order(void) {
  reset_two_hosts(4);
  /* 1 KiB on domain 5 (worker 2, host 0). */
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {5, 1024}), 5);
  /* Full there: the other domain of the same worker. */
  two_hosts[5].load = 4;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {5, 1024}), 4);
  /* Both full: another worker of the host; among equals the least loaded, then lowest index. */
  two_hosts[4].load = 4;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {5, 1024}), 0);
  for (int g = 0; g < 8; g++)
    if (g != 4 && g != 5) two_hosts[g].load = 1;
  two_hosts[6].load = 0;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {5, 1024}), 6);
  /* The whole host full: the other host, even though it is busier than host 0 was. */
  for (int g = 0; g < 8; g++) two_hosts[g].load = 4;
  for (int g = 8; g < NDOM; g++) two_hosts[g].load = 3;
  two_hosts[13].load = 2;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {5, 1024}), 13);
  /* Locality wins over load while there is room: domain 5 at 3/4 beats idle domains. */
  reset_two_hosts(4);
  two_hosts[5].load = 3;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {5, 1024}), 5);
  /* Same worker beats same host: equal bytes on domains 2 and 4; the 60 bytes on 5, beside 4 on
   * worker 2, tip it to 4 (cost 260 against 320 for domain 2 and 300 for domain 5). */
  reset_two_hosts(4);
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {2, 100}, {4, 100}, {5, 60}), 4);
  CU_ASSERT(scratch_is_zero(&scratch));
}

static void test_weighted_inputs(void) {
  reset_two_hosts(4);
  /* Domain 10 holds 350 bytes (twice), domain 3 on the other host 100: 10 costs 400, 3 costs
   * 1400, 11 (same worker as 10) 750. */
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {3, 100}, {10, 300}, {10, 50}), 10);
  /* The biggest single input is not enough: 500 on worker 0, 800 on worker 1 (domains 2, 3).
   * Costs: d0 1600, d2 1400, d3 1400: the tie goes to the lower index... */
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {0, 500}, {2, 400}, {3, 400}), 2);
  /* ...or to the lower load. */
  two_hosts[2].load = 1;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {0, 500}, {2, 400}, {3, 400}), 3);
  /* Load is relative to capacity: 1/8 is lighter than 1/4. */
  two_hosts[3].load = 1;
  two_hosts[2].cap = 8;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {0, 500}, {2, 400}, {3, 400}), 2);
  /* A repeated input counts every time. */
  reset_two_hosts(4);
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {7, 100}, {6, 150}, {7, 100}), 7);
  /* Inputs on both hosts: 600 bytes on domain 9 hold against 750 spread over three workers of
   * host 0 (cost 3000 against 3400), but not against 1000 over four (4000 against 3900). */
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {9, 600}, {0, 250}, {2, 250}, {4, 250}), 9);
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {9, 600}, {0, 250}, {2, 250}, {4, 250}, {6, 250}), 0);
  CU_ASSERT(scratch_is_zero(&scratch));
}

static void test_one_host_eight_workers(void) {
  /* Shaped like tests/topologies/8numa-64core-smt2.xml with one worker per NUMA node. */
  dagr__place_domain d[8];
  for (int g = 0; g < 8; g++) d[g] = (dagr__place_domain){g, 0, 0, 2};
  CU_EXPECT_INT(CHOOSE(d, 8, 0, {0, 100}, {1, 100}, {2, 300}), 2);
  d[2].load = 2;
  CU_EXPECT_INT(CHOOSE(d, 8, 0, {0, 100}, {1, 100}, {2, 300}), 0);
  d[0].load = 1;
  CU_EXPECT_INT(CHOOSE(d, 8, 0, {0, 100}, {1, 100}, {2, 300}), 1);
}

static void test_small_and_no_inputs(void) {
  reset_two_hosts(4);
  for (int g = 0; g < NDOM; g++) two_hosts[g].load = 2;
  two_hosts[11].load = 1;
  /* No inputs: least loaded. */
  CU_EXPECT_INT(choose(two_hosts, NDOM, NULL, 0, 0), 11);
  /* Inputs under small_bytes: least loaded, wherever the inputs are. */
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 4096, {0, 1000}, {1, 3000}), 11);
  /* At the threshold they count again. */
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 4000, {0, 1000}, {1, 3000}), 1);
  /* Relative load: 3 of 8 is busier than 1 of 4, 1 of 8 is lighter. */
  two_hosts[4].cap = 8;
  two_hosts[4].load = 3;
  CU_EXPECT_INT(choose(two_hosts, NDOM, NULL, 0, 0), 11);
  two_hosts[4].load = 1;
  CU_EXPECT_INT(choose(two_hosts, NDOM, NULL, 0, 0), 4);
  /* Ties: the lowest index. */
  reset_two_hosts(4);
  CU_EXPECT_INT(choose(two_hosts, NDOM, NULL, 0, 0), 0);
  two_hosts[0].load = 1;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 100, {0, 10}), 1);
  /* Zero-byte inputs are small for any positive threshold. */
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 1, {0, 0}, {0, 0}), 1);
  CU_ASSERT(scratch_is_zero(&scratch));
}

static void test_full_domains(void) {
  reset_two_hosts(2);
  for (int g = 0; g < NDOM; g++) two_hosts[g].load = 2;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {3, 1 << 20}), -1);
  CU_EXPECT_INT(choose(two_hosts, NDOM, NULL, 0, 0), -1);
  /* Over capacity counts as full; capacity 0 is always full. */
  two_hosts[3].load = 9;
  two_hosts[15].load = 0;
  two_hosts[15].cap = 0;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {3, 1 << 20}), -1);
  two_hosts[14].load = 1;
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 0, {3, 1 << 20}), 14);
  CU_EXPECT_INT(CHOOSE(two_hosts, NDOM, 1 << 30, {3, 1 << 20}), 14);
  CU_ASSERT(scratch_is_zero(&scratch));
}

static void test_errors(void) {
  reset_two_hosts(4);
  int32_t c = 7;
  dagr__place_input in[] = {{16, 10}};
  CU_EXPECT_INT(dagr__place_choose(two_hosts, NDOM, in, 1, 0, &scratch, &c), DAGR_EINVAL);
  in[0].domain = -1;
  CU_EXPECT_INT(dagr__place_choose(two_hosts, NDOM, in, 1, 0, &scratch, &c), DAGR_EINVAL);
  in[0].domain = 3;
  /* Fewer domains passed than an input names. */
  CU_EXPECT_INT(dagr__place_choose(two_hosts, 3, in, 1, 0, &scratch, &c), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__place_choose(two_hosts, NDOM, in, 1, 0, &scratch, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__place_choose(two_hosts, NDOM, in, 1, 0, NULL, &c), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__place_choose(NULL, NDOM, in, 1, 0, &scratch, &c), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__place_choose(two_hosts, NDOM, NULL, 1, 0, &scratch, &c), DAGR_EINVAL);
  /* Ids past what the scratch was sized for. */
  dagr__place_scratch small;
  CU_EXPECT_INT(dagr__place_scratch_init(&small, NDOM, 8, 1), DAGR_OK);
  CU_EXPECT_INT(dagr__place_choose(two_hosts, NDOM, in, 1, 0, &small, &c), DAGR_EINVAL);
  two_hosts[2].worker = 8;
  CU_EXPECT_INT(dagr__place_choose(two_hosts, 8, in, 1, 0, &small, &c), DAGR_EINVAL);
  two_hosts[2].worker = -1;
  CU_EXPECT_INT(dagr__place_choose(two_hosts, 8, in, 1, 0, &small, &c), DAGR_EINVAL);
  two_hosts[2].worker = 1;
  CU_EXPECT_INT(dagr__place_choose(two_hosts, 8, in, 1, 0, &small, &c), DAGR_OK);
  CU_EXPECT_INT(c, 3);
  dagr__place_scratch_free(&small);
  CU_EXPECT_INT(dagr__place_scratch_init(&small, 4, 8, 2), DAGR_OK);
  CU_EXPECT_INT(dagr__place_choose(two_hosts, 8, in, 1, 0, &small, &c), DAGR_EINVAL);
  dagr__place_scratch_free(&small);
  CU_ASSERT(scratch_is_zero(&scratch));
}

static void test_matches_brute_force(void) {
  /* Random machines and tasks against the literal rule; also checks the scratch stays clean
   * between calls, since every call reuses it. */
  enum { ND = 64, NW = 24, NH = 4, MAXIN = 40 };
  dagr__place_scratch s;
  CU_EXPECT_INT(dagr__place_scratch_init(&s, ND, NW, NH), DAGR_OK);
  dagr__place_domain d[ND];
  dagr__place_input in[MAXIN];
  unsigned seed = 12345;
  int mismatches = 0, placed = 0, none = 0;
  for (int round = 0; round < 20000; round++) {
    size_t nd = 1 + (size_t)(rand_r(&seed) % ND);
    int per_worker = 1 + rand_r(&seed) % 3;
    for (size_t g = 0; g < nd; g++) {
      int w = (int)g / per_worker % NW;
      d[g] = (dagr__place_domain){w, w % NH, (uint32_t)(rand_r(&seed) % 5),
                                  (uint32_t)(rand_r(&seed) % 5)};
    }
    size_t ni = (size_t)(rand_r(&seed) % MAXIN);
    for (size_t i = 0; i < ni; i++)
      in[i] = (dagr__place_input){(int32_t)(rand_r(&seed) % nd),
                                  (uint64_t)(rand_r(&seed) % 4) * (uint64_t)(rand_r(&seed) % 1000)};
    uint64_t small = (uint64_t)(rand_r(&seed) % 4) * 2000;
    int32_t c = -2;
    CU_EXPECT_INT(dagr__place_choose(d, nd, in, ni, small, &s, &c), DAGR_OK);
    int32_t want = brute_force(d, nd, in, ni, small);
    if (c != want) {
      if (mismatches++ < 5) fprintf(stderr, "  round %d: chose %d, expected %d\n", round, c, want);
    }
    placed += c >= 0;
    none += c < 0;
  }
  CU_EXPECT_INT(mismatches, 0);
  CU_ASSERT(scratch_is_zero(&s));
  /* The random cases exercised both outcomes. */
  CU_ASSERT(placed > 1000 && none > 100);
  dagr__place_scratch_free(&s);
}

int main(void) {
  if (dagr__place_scratch_init(&scratch, NDOM, NDOM / 2, 2) != DAGR_OK) return 2;
  static const cu_test_def tests[] = {
      {"scratch", test_scratch},
      {"same domain > same worker > same host > elsewhere", test_locality_order},
      {"inputs weighted by bytes", test_weighted_inputs},
      {"one host, eight workers", test_one_host_eight_workers},
      {"small and no inputs go to the least loaded", test_small_and_no_inputs},
      {"full domains are skipped", test_full_domains},
      {"errors", test_errors},
      {"matches the rule evaluated literally", test_matches_brute_force},
      {NULL, NULL},
  };
  int rc = cu_run_suite("place", tests);
  dagr__place_scratch_free(&scratch);
  return rc;
}
