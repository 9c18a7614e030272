/* test_topo.c: unit tests of topology loading, binding variables, worker/scheduler plans. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_util.h"
#include "topo/topo.h"

/* --- helpers -------------------------------------------------------------------------------- */

#define GiB (1024ull * 1024 * 1024)

/* The synthetic machines: 1 NUMA node of 4 cores; 2 nodes of 4 two-PU cores (PUs 0-7, 8-15); 2
 * packages of 2 nodes of 4 cores (PUs 0-3, 4-7, 8-11, 12-15). */
#define SYN1 "numa:1(memory=8GiB) core:4 pu:1"
#define SYN2 "numa:2(memory=16GiB) core:4 pu:2"
#define SYN4 "pack:2 numa:2(memory=4GiB) core:4 pu:1"

#define EXPECT_STR(actual, expected)                                                               \
  do {                                                                                             \
    const char *a__ = (actual), *e__ = (expected);                                                 \
    int ok__ = a__ && strcmp(a__, e__) == 0;                                                       \
    if (!ok__)                                                                                     \
      fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #actual,     \
              a__ ? a__ : "(null)", e__);                                                          \
    CU_ASSERT(ok__);                                                                               \
  } while (0)

static char errbuf[DAGR__ERRLEN];

/* A bitmap as an hwloc list ("0-3,8"), in one of a few rotating buffers. */
static const char *L(hwloc_const_bitmap_t b) {
  static char bufs[8][1024];
  static int k;
  char *s = bufs[k++ % 8];
  if (!b) return "(null)";
  hwloc_bitmap_list_snprintf(s, 1024, b);
  return s;
}

/* Every thread's cpuset, space-separated. */
static const char *thread_sets(const dagr__topo_plan *p) {
  static char buf[16384];
  size_t pos = 0;
  buf[0] = '\0';
  for (int i = 0; i < p->nthreads; i++)
    pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%s%s", i ? " " : "",
                            L(p->threads[i].cpuset));
  return buf;
}

/* Thread count of each group, comma-separated. */
static const char *group_threads(const dagr__topo_plan *p) {
  static char buf[1024];
  size_t pos = 0;
  buf[0] = '\0';
  for (int g = 0; g < p->ngroups; g++)
    pos +=
        (size_t)snprintf(buf + pos, sizeof buf - pos, "%s%d", g ? "," : "", p->groups[g].nthreads);
  return buf;
}

static dagr__topo *load_ok(const char *source) {
  dagr__topo *t = NULL;
  int rc = dagr__topo_load(source, &t, errbuf, sizeof errbuf);
  if (rc) fprintf(stderr, "  load %s: %s\n", source ? source : "(machine)", errbuf);
  CU_EXPECT_INT(rc, DAGR_OK);
  return t;
}

static hwloc_bitmap_t bm(const char *list) {
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  CU_ASSERT_FATAL(b != NULL);
  CU_ASSERT_FATAL(hwloc_bitmap_list_sscanf(b, list) == 0);
  return b;
}

/* Plans worker idx of W; bind and doms are lists or NULL. */
static int plan(const dagr__topo *t, int policy, int idx, int W, const char *bind, const char *doms,
                int threads, dagr__topo_plan *p) {
  hwloc_bitmap_t b = bind ? bm(bind) : NULL, d = doms ? bm(doms) : NULL;
  dagr__topo_req req = {policy, idx, W, b, d, threads};
  int rc = dagr__topo_plan_worker(t, &req, p, errbuf, sizeof errbuf);
  hwloc_bitmap_free(b);
  hwloc_bitmap_free(d);
  return rc;
}

/* plan() expected to succeed; prints the message when it does not. */
#define PLAN_OK(...)                                                                               \
  do {                                                                                             \
    int rc__ = plan(__VA_ARGS__);                                                                  \
    if (rc__) fprintf(stderr, "  %s:%d: plan failed: %s\n", __FILE__, __LINE__, errbuf);           \
    CU_EXPECT_INT(rc__, DAGR_OK);                                                                  \
  } while (0)

/* Checks the worker-level fields of a successful plan. */
#define EXPECT_PLAN(p, cpus, nodes, ngroups_, nthreads_)                                           \
  do {                                                                                             \
    EXPECT_STR(L((p)->cpuset), cpus);                                                              \
    EXPECT_STR(L((p)->nodeset), nodes);                                                            \
    CU_EXPECT_INT((p)->ngroups, ngroups_);                                                         \
    CU_EXPECT_INT((p)->nthreads, nthreads_);                                                       \
  } while (0)

static const char *describe(const dagr__topo_plan *p) {
  static char buf[4096];
  CU_EXPECT_INT(dagr__topo_plan_describe(p, buf, sizeof buf), DAGR_OK);
  return buf;
}

static const char *srcdir_path(const char *rel) {
  static char buf[4096];
  const char *dir = getenv("srcdir");
  snprintf(buf, sizeof buf, "%s/%s", dir && *dir ? dir : ".", rel);
  return buf;
}

/* --- loading -------------------------------------------------------------------------------- */

static void test_load_synthetic(void) {
  static const struct {
    const char *src;
    int domains, cores;
  } cases[] = {{SYN1, 1, 4}, {SYN2, 2, 8}, {SYN4, 4, 16}, {"numa:2 pu:3", 2, 6}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dagr__topo *t = load_ok(cases[i].src);
    if (!t) continue;
    int n = -1, yes = -1;
    CU_EXPECT_INT(dagr__topo_ndomains(t, &n), DAGR_OK);
    CU_EXPECT_INT(n, cases[i].domains);
    CU_EXPECT_INT(dagr__topo_ncores(t, &n), DAGR_OK);
    CU_EXPECT_INT(n, cases[i].cores);
    CU_EXPECT_INT(dagr__topo_is_thissystem(t, &yes), DAGR_OK);
    CU_EXPECT_INT(yes, 0);
    hwloc_topology_t h = NULL;
    CU_EXPECT_INT(dagr__topo_hwloc(t, &h), DAGR_OK);
    CU_EXPECT_INT(hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PU), cases[i].cores * (i == 1 ? 2 : 1));
    dagr__topo_free(t);
  }
  CU_EXPECT_INT(dagr__topo_ndomains(NULL, &(int){0}), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_ncores(NULL, &(int){0}), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_is_thissystem(NULL, &(int){0}), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_hwloc(NULL, &(hwloc_topology_t){0}), DAGR_EINVAL);
  dagr__topo_free(NULL);
}

static void test_load_errors(void) {
  dagr__topo *t = (dagr__topo *)&t;
  CU_EXPECT_INT(dagr__topo_load("/nonexistent/dir/machine.xml", &t, errbuf, sizeof errbuf),
                DAGR_EIO);
  CU_ASSERT(t == NULL);
  CU_EXPECT_STR_CONTAINS(errbuf, "XML file '/nonexistent/dir/machine.xml'");
  CU_EXPECT_STR_CONTAINS(errbuf, strerror(ENOENT));
  /* A relative path is an XML file by its suffix. */
  CU_EXPECT_INT(dagr__topo_load("no-such-machine.xml", &t, errbuf, sizeof errbuf), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(errbuf, "'no-such-machine.xml'");
  /* A file that is not XML. */
  char path[] = "/tmp/dagr-test-topo-XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT(write(fd, "not xml at all\n", 15) == 15);
  close(fd);
  CU_EXPECT_INT(dagr__topo_load(path, &t, errbuf, sizeof errbuf), DAGR_EIO);
  CU_EXPECT_STR_CONTAINS(errbuf, path);
  CU_EXPECT_STR_CONTAINS(errbuf, "not an hwloc XML topology");
  unlink(path);
  /* Synthetic descriptions: an unknown level, and no pu level at the end. */
  CU_EXPECT_INT(dagr__topo_load("numa:2 bogus:3", &t, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_ASSERT(t == NULL);
  CU_EXPECT_STR_CONTAINS(errbuf, "synthetic topology 'numa:2 bogus:3'");
  CU_EXPECT_INT(dagr__topo_load("numa:2 core:2", &t, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "'numa:2 core:2'");
  CU_EXPECT_STR_CONTAINS(errbuf, "ending with pu");
  CU_EXPECT_INT(dagr__topo_load("", &t, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "synthetic topology ''");
  CU_EXPECT_INT(dagr__topo_load(SYN1, NULL, errbuf, sizeof errbuf), DAGR_EINVAL);
}

/* --- variables ------------------------------------------------------------------------------ */

static void test_parse_policy(void) {
  int pol = -1;
  CU_EXPECT_INT(dagr__topo_parse_policy(NULL, &pol, errbuf, sizeof errbuf), DAGR_OK);
  CU_EXPECT_INT(pol, DAGR__BIND_NUMA);
  pol = -1;
  CU_EXPECT_INT(dagr__topo_parse_policy("", &pol, errbuf, sizeof errbuf), DAGR_OK);
  CU_EXPECT_INT(pol, DAGR__BIND_NUMA);
  CU_EXPECT_INT(dagr__topo_parse_policy("core", &pol, errbuf, sizeof errbuf), DAGR_OK);
  CU_EXPECT_INT(pol, DAGR__BIND_CORE);
  CU_EXPECT_INT(dagr__topo_parse_policy("none", &pol, errbuf, sizeof errbuf), DAGR_OK);
  CU_EXPECT_INT(pol, DAGR__BIND_NONE);
  CU_EXPECT_INT(dagr__topo_parse_policy("numa", &pol, errbuf, sizeof errbuf), DAGR_OK);
  CU_EXPECT_INT(pol, DAGR__BIND_NUMA);
  static const char *const bad[] = {"NUMA", "socket", "core ", "numa,core"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pol = 99;
    CU_EXPECT_INT(dagr__topo_parse_policy(bad[i], &pol, errbuf, sizeof errbuf), DAGR_ECONFIG);
    CU_EXPECT_INT(pol, 99);
    char want[64];
    snprintf(want, sizeof want, "DAGR_BIND='%s'", bad[i]);
    CU_EXPECT_STR_CONTAINS(errbuf, want);
    CU_EXPECT_STR_CONTAINS(errbuf, "none, numa or core");
  }
  CU_EXPECT_INT(dagr__topo_parse_policy("numa", NULL, errbuf, sizeof errbuf), DAGR_EINVAL);
}

static void test_parse_domains(void) {
  dagr__topo *t = load_ok(SYN4);
  if (!t) return;
  hwloc_nodeset_t d = (hwloc_nodeset_t)&d;
  CU_EXPECT_INT(dagr__topo_parse_domains(t, NULL, &d, errbuf, sizeof errbuf), DAGR_OK);
  CU_ASSERT(d == NULL);
  d = (hwloc_nodeset_t)&d;
  CU_EXPECT_INT(dagr__topo_parse_domains(t, "", &d, errbuf, sizeof errbuf), DAGR_OK);
  CU_ASSERT(d == NULL);
  static const struct {
    const char *in, *out;
  } good[] = {{"0,2-3", "0,2-3"}, {"3,1", "1,3"}, {"1-1", "1"}, {"0-3", "0-3"}, {"2,2", "2"}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    CU_EXPECT_INT(dagr__topo_parse_domains(t, good[i].in, &d, errbuf, sizeof errbuf), DAGR_OK);
    EXPECT_STR(L(d), good[i].out);
    hwloc_bitmap_free(d);
  }
  static const struct {
    const char *in, *part;
  } bad[] = {{"0,,1", "''"},
             {"a", "'a'"},
             {"1-", "'1-'"},
             {"0 ,1", "'0 '"},
             {"0,", "''"},
             {"-1", "'-1'"},
             {"1:2", "'1:2'"},
             {"3-1", "range '3-1'"},
             {"0,4", "'4'"},
             {"2-9", "'2-9'"},
             {"99999999999", "'99999999999'"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    d = (hwloc_nodeset_t)&d;
    CU_EXPECT_INT(dagr__topo_parse_domains(t, bad[i].in, &d, errbuf, sizeof errbuf), DAGR_ECONFIG);
    CU_ASSERT(d == NULL);
    char want[128];
    snprintf(want, sizeof want, "DAGR_NUMA_DOMAINS='%s'", bad[i].in);
    CU_EXPECT_STR_CONTAINS(errbuf, want);
    CU_EXPECT_STR_CONTAINS(errbuf, bad[i].part);
  }
  /* Indices that are not domains name the node and list the ones there are. */
  CU_EXPECT_INT(dagr__topo_parse_domains(t, "2-9", &d, errbuf, sizeof errbuf), DAGR_ECONFIG);
  CU_EXPECT_STR_CONTAINS(errbuf, "NUMA node 4 is not");
  CU_EXPECT_STR_CONTAINS(errbuf, "those are 0,1,2,3");
  CU_EXPECT_INT(dagr__topo_parse_domains(NULL, "0", &d, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_parse_domains(t, "0", NULL, errbuf, sizeof errbuf), DAGR_EINVAL);
  dagr__topo_free(t);
}

/* --- worker plans, no launcher binding ------------------------------------------------------ */

static void test_plan_one_domain(void) {
  dagr__topo *t = load_ok(SYN1);
  if (!t) return;
  dagr__topo_plan p;
  /* One worker: the whole node. */
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "0-3", "0", 1, 4);
  CU_EXPECT_INT(p.bind, 1);
  CU_EXPECT_INT(p.launcher_bound, 0);
  CU_EXPECT_INT(p.groups[0].numa_os, 0);
  CU_EXPECT_INT(p.groups[0].numa_logical, 0);
  CU_EXPECT_INT(p.groups[0].ncores, 4);
  CU_EXPECT_INT(p.groups[0].local_memory, 8 * GiB);
  CU_EXPECT_INT(p.groups[0].memory_share, 8 * GiB);
  EXPECT_STR(thread_sets(&p), "0-3 0-3 0-3 0-3");
  dagr__topo_plan_free(&p);
  PLAN_OK(t, DAGR__BIND_CORE, 0, 1, NULL, NULL, 0, &p);
  EXPECT_STR(thread_sets(&p), "0 1 2 3");
  dagr__topo_plan_free(&p);
  /* Two workers split the cores in halves, and the memory. */
  static const char *const halves[] = {"0-1", "2-3"};
  for (int w = 0; w < 2; w++) {
    PLAN_OK(t, DAGR__BIND_CORE, w, 2, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, halves[w], "0", 1, 2);
    EXPECT_STR(thread_sets(&p), w ? "2 3" : "0 1");
    CU_EXPECT_INT(p.groups[0].memory_share, 4 * GiB);
    dagr__topo_plan_free(&p);
  }
  /* Eight workers on four cores: cores dealt round-robin, two workers per core. */
  for (int w = 0; w < 8; w++) {
    char want[8];
    snprintf(want, sizeof want, "%d", w % 4);
    PLAN_OK(t, DAGR__BIND_NUMA, w, 8, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, want, "0", 1, 1);
    EXPECT_STR(thread_sets(&p), want);
    CU_EXPECT_INT(p.groups[0].memory_share, 1 * GiB);
    dagr__topo_plan_free(&p);
  }
  dagr__topo_free(t);
}

static void test_plan_two_domains(void) {
  dagr__topo *t = load_ok(SYN2);
  if (!t) return;
  dagr__topo_plan p;
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "0-15", "0-1", 2, 8);
  EXPECT_STR(thread_sets(&p), "0-7 0-7 0-7 0-7 8-15 8-15 8-15 8-15");
  EXPECT_STR(group_threads(&p), "4,4");
  CU_EXPECT_INT(p.groups[1].numa_os, 1);
  CU_EXPECT_INT(p.groups[1].first_thread, 4);
  CU_EXPECT_INT(p.groups[1].ncores, 4);
  CU_EXPECT_INT(p.groups[1].core_pu[0], 8);
  CU_EXPECT_INT(p.groups[1].core_pu[3], 14);
  CU_EXPECT_INT(p.threads[5].group, 1);
  dagr__topo_plan_free(&p);
  /* Core policy binds each thread to its core's first PU, not the SMT sibling. */
  PLAN_OK(t, DAGR__BIND_CORE, 0, 1, NULL, NULL, 0, &p);
  EXPECT_STR(thread_sets(&p), "0 2 4 6 8 10 12 14");
  dagr__topo_plan_free(&p);
  PLAN_OK(t, DAGR__BIND_CORE, 1, 2, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "8-15", "1", 1, 4);
  EXPECT_STR(thread_sets(&p), "8 10 12 14");
  CU_EXPECT_INT(p.groups[0].memory_share, 16 * GiB);
  dagr__topo_plan_free(&p);
  /* Eight workers: four per node, one core (both PUs) each, a quarter of the memory. */
  static const char *const eight[] = {"0-1", "8-9", "2-3", "10-11", "4-5", "12-13", "6-7", "14-15"};
  for (int w = 0; w < 8; w++) {
    PLAN_OK(t, DAGR__BIND_CORE, w, 8, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, eight[w], w % 2 ? "1" : "0", 1, 1);
    CU_EXPECT_INT(hwloc_bitmap_first(p.threads[0].cpuset), hwloc_bitmap_first(p.cpuset));
    CU_EXPECT_INT(hwloc_bitmap_weight(p.threads[0].cpuset), 1);
    CU_EXPECT_INT(p.groups[0].memory_share, 4 * GiB);
    dagr__topo_plan_free(&p);
  }
  /* Three workers on two nodes: workers 0 and 2 share node 0, worker 1 has node 1 alone. */
  static const char *const three[] = {"0-3", "8-15", "4-7"};
  static const uint64_t share3[] = {8 * GiB, 16 * GiB, 8 * GiB};
  for (int w = 0; w < 3; w++) {
    PLAN_OK(t, DAGR__BIND_NUMA, w, 3, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, three[w], w == 1 ? "1" : "0", 1, w == 1 ? 4 : 2);
    CU_EXPECT_INT(p.groups[0].memory_share, share3[w]);
    dagr__topo_plan_free(&p);
  }
  dagr__topo_free(t);
}

static void test_plan_four_domains(void) {
  dagr__topo *t = load_ok(SYN4);
  if (!t) return;
  dagr__topo_plan p;
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "0-15", "0-3", 4, 16);
  EXPECT_STR(group_threads(&p), "4,4,4,4");
  for (int g = 0; g < 4; g++) {
    CU_EXPECT_INT(p.groups[g].numa_os, g);
    CU_EXPECT_INT(p.groups[g].local_memory, 4 * GiB);
    CU_EXPECT_INT(p.groups[g].first_thread, 4 * g);
  }
  dagr__topo_plan_free(&p);
  static const char *const two[][2] = {{"0-7", "0-1"}, {"8-15", "2-3"}};
  for (int w = 0; w < 2; w++) {
    PLAN_OK(t, DAGR__BIND_NUMA, w, 2, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, two[w][0], two[w][1], 2, 8);
    EXPECT_STR(thread_sets(&p), w ? "8-11 8-11 8-11 8-11 12-15 12-15 12-15 12-15"
                                  : "0-3 0-3 0-3 0-3 4-7 4-7 4-7 4-7");
    CU_EXPECT_INT(p.groups[1].memory_share, 4 * GiB);
    dagr__topo_plan_free(&p);
  }
  /* Three workers on four nodes: ranges [0,1), [1,2), [2,4). */
  static const char *const three[][2] = {{"0-3", "0"}, {"4-7", "1"}, {"8-15", "2-3"}};
  for (int w = 0; w < 3; w++) {
    PLAN_OK(t, DAGR__BIND_CORE, w, 3, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, three[w][0], three[w][1], w == 2 ? 2 : 1, w == 2 ? 8 : 4);
    dagr__topo_plan_free(&p);
  }
  /* Eight workers: two per node, each half of its node. */
  static const char *const eight[] = {"0-1", "4-5", "8-9", "12-13", "2-3", "6-7", "10-11", "14-15"};
  for (int w = 0; w < 8; w++) {
    char node[4];
    snprintf(node, sizeof node, "%d", w % 4);
    PLAN_OK(t, DAGR__BIND_CORE, w, 8, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, eight[w], node, 1, 2);
    CU_EXPECT_INT(p.groups[0].memory_share, 2 * GiB);
    dagr__topo_plan_free(&p);
  }
  PLAN_OK(t, DAGR__BIND_CORE, 6, 8, NULL, NULL, 0, &p);
  EXPECT_STR(thread_sets(&p), "10 11");
  dagr__topo_plan_free(&p);
  dagr__topo_free(t);
}

static void test_plan_domain_restriction(void) {
  dagr__topo *t = load_ok(SYN4);
  if (!t) return;
  dagr__topo_plan p;
  hwloc_nodeset_t d = NULL;
  CU_EXPECT_INT(dagr__topo_parse_domains(t, "1,3", &d, errbuf, sizeof errbuf), DAGR_OK);
  dagr__topo_req req = {DAGR__BIND_NUMA, 0, 1, NULL, d, 0};
  CU_EXPECT_INT(dagr__topo_plan_worker(t, &req, &p, errbuf, sizeof errbuf), DAGR_OK);
  EXPECT_PLAN(&p, "4-7,12-15", "1,3", 2, 8);
  CU_EXPECT_INT(p.groups[0].numa_os, 1);
  CU_EXPECT_INT(p.groups[1].numa_os, 3);
  dagr__topo_plan_free(&p);
  req.local_index = 1;
  req.local_workers = 2;
  CU_EXPECT_INT(dagr__topo_plan_worker(t, &req, &p, errbuf, sizeof errbuf), DAGR_OK);
  EXPECT_PLAN(&p, "12-15", "3", 1, 4);
  dagr__topo_plan_free(&p);
  /* Four workers on the two allowed nodes: worker 3 has the second half of node 3. */
  req.local_index = 3;
  req.local_workers = 4;
  CU_EXPECT_INT(dagr__topo_plan_worker(t, &req, &p, errbuf, sizeof errbuf), DAGR_OK);
  EXPECT_PLAN(&p, "14-15", "3", 1, 2);
  CU_EXPECT_INT(p.groups[0].memory_share, 2 * GiB);
  dagr__topo_plan_free(&p);
  /* A launcher binding decides by itself: the restriction does not apply. */
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, "0-1", "1,3", 0, &p);
  EXPECT_PLAN(&p, "0-1", "0", 1, 2);
  dagr__topo_plan_free(&p);
  /* Restrictions that name no domain of the topology. */
  CU_EXPECT_INT(plan(t, DAGR__BIND_NUMA, 0, 1, NULL, "1,7", 0, &p), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "DAGR_NUMA_DOMAINS");
  CU_EXPECT_STR_CONTAINS(errbuf, "NUMA node 7");
  CU_ASSERT(p.cpuset == NULL && p.groups == NULL && p.ngroups == 0);
  hwloc_bitmap_zero(d);
  CU_EXPECT_INT(dagr__topo_plan_worker(t, &req, &p, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "restriction is empty");
  hwloc_bitmap_free(d);
  dagr__topo_free(t);
}

static void test_plan_unbound(void) {
  dagr__topo *t = load_ok(SYN4);
  if (!t) return;
  dagr__topo_plan p;
  PLAN_OK(t, DAGR__BIND_NONE, 1, 2, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "0-15", "0-3", 1, 16);
  CU_EXPECT_INT(p.bind, 0);
  CU_EXPECT_INT(p.groups[0].numa_os, -1);
  CU_EXPECT_INT(p.groups[0].numa_logical, -1);
  CU_EXPECT_INT(p.groups[0].ncores, 16);
  CU_EXPECT_INT(p.groups[0].local_memory, 16 * GiB);
  CU_EXPECT_INT(p.groups[0].memory_share, 8 * GiB);
  CU_EXPECT_INT(p.threads[15].group, 0);
  EXPECT_STR(L(p.threads[15].cpuset), "0-15");
  dagr__topo_plan_free(&p);
  /* Unbound inside a launcher binding: the binding's PUs and their share of memory. */
  PLAN_OK(t, DAGR__BIND_NONE, 0, 1, "2-5", NULL, 3, &p);
  EXPECT_PLAN(&p, "2-5", "0-1", 1, 3);
  CU_EXPECT_INT(p.bind, 0);
  CU_EXPECT_INT(p.launcher_bound, 1);
  CU_EXPECT_INT(p.groups[0].local_memory, 8 * GiB);
  CU_EXPECT_INT(p.groups[0].memory_share, 4 * GiB);
  dagr__topo_plan_free(&p);
  dagr__topo_free(t);
}

/* --- worker plans under a launcher binding -------------------------------------------------- */

static void test_plan_launcher_bound(void) {
  dagr__topo *t = load_ok(SYN4);
  if (!t) return;
  dagr__topo_plan p;
  /* Straddling nodes 0 and 1; the worker index does not matter. */
  PLAN_OK(t, DAGR__BIND_CORE, 3, 8, "2-5", NULL, 0, &p);
  EXPECT_PLAN(&p, "2-5", "0-1", 2, 4);
  CU_EXPECT_INT(p.launcher_bound, 1);
  CU_EXPECT_INT(p.bind, 1);
  EXPECT_STR(L(p.groups[0].cpuset), "2-3");
  EXPECT_STR(L(p.groups[1].cpuset), "4-5");
  CU_EXPECT_INT(p.groups[0].ncores, 2);
  CU_EXPECT_INT(p.groups[0].local_memory, 4 * GiB);
  CU_EXPECT_INT(p.groups[0].memory_share, 2 * GiB);
  EXPECT_STR(thread_sets(&p), "2 3 4 5");
  dagr__topo_plan_free(&p);
  /* Three threads over two equal groups: the first group gets the extra one. */
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, "2-5", NULL, 3, &p);
  EXPECT_STR(group_threads(&p), "2,1");
  EXPECT_STR(thread_sets(&p), "2-3 2-3 4-5");
  dagr__topo_plan_free(&p);
  /* Never widened: PUs outside the machine are dropped. */
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, "14-20", NULL, 0, &p);
  EXPECT_PLAN(&p, "14-15", "3", 1, 2);
  CU_EXPECT_INT(p.groups[0].memory_share, 2 * GiB);
  dagr__topo_plan_free(&p);
  CU_EXPECT_INT(plan(t, DAGR__BIND_NUMA, 0, 1, "100-101", NULL, 0, &p), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "launcher binding (CPUs 100-101)");
  CU_ASSERT(p.cpuset == NULL && p.threads == NULL);
  dagr__topo_free(t);

  /* SMT: a binding to one PU of a core; and unequal groups get threads in proportion. */
  t = load_ok(SYN2);
  if (!t) return;
  PLAN_OK(t, DAGR__BIND_CORE, 0, 1, "3", NULL, 0, &p);
  EXPECT_PLAN(&p, "3", "0", 1, 1);
  EXPECT_STR(thread_sets(&p), "3");
  CU_EXPECT_INT(p.groups[0].core_pu[0], 3);
  /* One PU of 8 on the node: an eighth of the memory. */
  CU_EXPECT_INT(p.groups[0].memory_share, 2 * GiB);
  dagr__topo_plan_free(&p);
  PLAN_OK(t, DAGR__BIND_CORE, 0, 1, "0-9", NULL, 0, &p);
  EXPECT_PLAN(&p, "0-9", "0-1", 2, 5);
  EXPECT_STR(group_threads(&p), "4,1");
  CU_EXPECT_INT(p.groups[1].memory_share, 4 * GiB);
  dagr__topo_plan_free(&p);
  PLAN_OK(t, DAGR__BIND_CORE, 0, 1, "0-9", NULL, 10, &p);
  EXPECT_STR(group_threads(&p), "8,2");
  EXPECT_STR(thread_sets(&p), "0 2 4 6 0 2 4 6 8 8");
  dagr__topo_plan_free(&p);
  /* Fewer threads than groups: the group with more cores gets the one thread. */
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, "6-15", NULL, 1, &p);
  EXPECT_STR(group_threads(&p), "0,1");
  EXPECT_STR(thread_sets(&p), "8-15");
  CU_EXPECT_INT(p.threads[0].group, 1);
  dagr__topo_plan_free(&p);
  dagr__topo_free(t);
}

static void test_plan_bad_requests(void) {
  dagr__topo *t = load_ok(SYN2);
  if (!t) return;
  dagr__topo_plan p;
  CU_EXPECT_INT(plan(t, 7, 0, 1, NULL, NULL, 0, &p), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "policy 7");
  CU_EXPECT_INT(plan(t, DAGR__BIND_NUMA, 2, 2, NULL, NULL, 0, &p), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "worker 2 of 2");
  CU_EXPECT_INT(plan(t, DAGR__BIND_NUMA, 0, 0, NULL, NULL, 0, &p), DAGR_EINVAL);
  CU_EXPECT_INT(plan(t, DAGR__BIND_NUMA, -1, 2, NULL, NULL, 0, &p), DAGR_EINVAL);
  CU_EXPECT_INT(plan(t, DAGR__BIND_NUMA, 0, 1, NULL, NULL, -1, &p), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "thread count -1");
  CU_EXPECT_INT(plan(t, DAGR__BIND_NUMA, 0, 1, NULL, NULL, DAGR__TOPO_MAX_THREADS + 1, &p),
                DAGR_EINVAL);
  dagr__topo_req req = {DAGR__BIND_NUMA, 0, 1, NULL, NULL, 0};
  CU_EXPECT_INT(dagr__topo_plan_worker(NULL, &req, &p, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_plan_worker(t, NULL, &p, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_plan_worker(t, &req, NULL, errbuf, sizeof errbuf), DAGR_EINVAL);
  /* Many threads on few cores are dealt round-robin. */
  PLAN_OK(t, DAGR__BIND_CORE, 0, 8, NULL, NULL, 3, &p);
  EXPECT_STR(thread_sets(&p), "0 0 0");
  dagr__topo_plan_free(&p);
  dagr__topo_plan_free(&p);
  dagr__topo_plan_free(NULL);
  dagr__topo_free(t);
}

/* --- XML machines --------------------------------------------------------------------------- */

static void test_xml_2pack_8numa(void) {
  dagr__topo *t = load_ok(srcdir_path("tests/topologies/2pack-8numa-128core.xml"));
  if (!t) return;
  int n = 0, yes = -1;
  CU_EXPECT_INT(dagr__topo_ndomains(t, &n), DAGR_OK);
  CU_EXPECT_INT(n, 8);
  CU_EXPECT_INT(dagr__topo_ncores(t, &n), DAGR_OK);
  CU_EXPECT_INT(n, 128);
  CU_EXPECT_INT(dagr__topo_is_thissystem(t, &yes), DAGR_OK);
  CU_EXPECT_INT(yes, 0);
  dagr__topo_plan p;
  PLAN_OK(t, DAGR__BIND_NUMA, 1, 4, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "32-63", "2-3", 2, 32);
  CU_EXPECT_INT(p.groups[0].local_memory, 32 * GiB);
  CU_EXPECT_INT(p.groups[1].memory_share, 32 * GiB);
  CU_EXPECT_STR_CONTAINS(describe(&p), "store_per_domain=2:32.0GiB,3:32.0GiB bind=numa");
  dagr__topo_plan_free(&p);
  /* Sixteen workers: two per node. */
  PLAN_OK(t, DAGR__BIND_CORE, 9, 16, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "24-31", "1", 1, 8);
  EXPECT_STR(thread_sets(&p), "24 25 26 27 28 29 30 31");
  CU_EXPECT_INT(p.groups[0].memory_share, 16 * GiB);
  dagr__topo_plan_free(&p);
  /* mpirun --bind-to socket: the second package. */
  PLAN_OK(t, DAGR__BIND_NUMA, 1, 2, "64-127", NULL, 0, &p);
  EXPECT_PLAN(&p, "64-127", "4-7", 4, 64);
  CU_EXPECT_INT(p.groups[3].memory_share, 32 * GiB);
  dagr__topo_plan_free(&p);
  hwloc_cpuset_t s = NULL;
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_NUMA, NULL, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  EXPECT_STR(L(s), "15");
  hwloc_bitmap_free(s);
  dagr__topo_free(t);
}

static void test_xml_8numa_smt(void) {
  dagr__topo *t = load_ok(srcdir_path("tests/topologies/8numa-64core-smt2.xml"));
  if (!t) return;
  int n = 0;
  CU_EXPECT_INT(dagr__topo_ndomains(t, &n), DAGR_OK);
  CU_EXPECT_INT(n, 8);
  CU_EXPECT_INT(dagr__topo_ncores(t, &n), DAGR_OK);
  CU_EXPECT_INT(n, 64);
  dagr__topo_plan p;
  PLAN_OK(t, DAGR__BIND_CORE, 7, 8, NULL, NULL, 0, &p);
  EXPECT_PLAN(&p, "112-127", "7", 1, 8);
  EXPECT_STR(thread_sets(&p), "112 114 116 118 120 122 124 126");
  CU_EXPECT_INT(p.groups[0].memory_share, 16 * GiB);
  dagr__topo_plan_free(&p);
  /* 24 workers: three per node, node 2's eight cores split 2/3/3. */
  static const char *const parts[] = {"32-35", "36-41", "42-47"};
  for (int k = 0; k < 3; k++) {
    PLAN_OK(t, DAGR__BIND_NUMA, 2 + 8 * k, 24, NULL, NULL, 0, &p);
    EXPECT_PLAN(&p, parts[k], "2", 1, k ? 3 : 2);
    CU_EXPECT_INT(p.groups[0].memory_share, 16 * GiB / 3);
    dagr__topo_plan_free(&p);
  }
  /* Four threads over eight equal nodes: one each on the first four. */
  PLAN_OK(t, DAGR__BIND_CORE, 0, 1, NULL, NULL, 4, &p);
  EXPECT_PLAN(&p, "0-127", "0-7", 8, 4);
  EXPECT_STR(group_threads(&p), "1,1,1,1,0,0,0,0");
  EXPECT_STR(thread_sets(&p), "0 16 32 48");
  dagr__topo_plan_free(&p);
  hwloc_cpuset_t s = NULL;
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_CORE, NULL, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  EXPECT_STR(L(s), "14");
  hwloc_bitmap_free(s);
  dagr__topo_free(t);
}

/* --- scheduler plan and describe ------------------------------------------------------------ */

static void test_plan_scheduler(void) {
  dagr__topo *t = load_ok(SYN4);
  if (!t) return;
  hwloc_cpuset_t s = (hwloc_cpuset_t)&s;
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_NUMA, NULL, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  EXPECT_STR(L(s), "3");
  hwloc_bitmap_free(s);
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_CORE, NULL, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  EXPECT_STR(L(s), "3");
  hwloc_bitmap_free(s);
  s = (hwloc_cpuset_t)&s;
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_NONE, NULL, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  CU_ASSERT(s == NULL);
  hwloc_bitmap_t b = bm("5-6,40");
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_NUMA, b, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  EXPECT_STR(L(s), "5-6");
  hwloc_bitmap_free(s);
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_NONE, b, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  EXPECT_STR(L(s), "5-6");
  hwloc_bitmap_free(s);
  hwloc_bitmap_only(b, 40);
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_NUMA, b, &s, errbuf, sizeof errbuf),
                DAGR_EINVAL);
  CU_ASSERT(s == NULL);
  CU_EXPECT_STR_CONTAINS(errbuf, "CPUs 40");
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, 9, NULL, &s, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_plan_scheduler(NULL, 0, NULL, &s, errbuf, sizeof errbuf), DAGR_EINVAL);
  hwloc_bitmap_free(b);
  dagr__topo_free(t);
  /* SMT: the last core's first PU. */
  t = load_ok(SYN2);
  if (!t) return;
  CU_EXPECT_INT(dagr__topo_plan_scheduler(t, DAGR__BIND_NUMA, NULL, &s, errbuf, sizeof errbuf),
                DAGR_OK);
  EXPECT_STR(L(s), "6");
  hwloc_bitmap_free(s);
  dagr__topo_free(t);
}

static void test_describe(void) {
  dagr__topo *t = load_ok(SYN2);
  if (!t) return;
  dagr__topo_plan p;
  PLAN_OK(t, DAGR__BIND_NUMA, 0, 1, NULL, NULL, 0, &p);
  EXPECT_STR(describe(&p), "cpuset=0-15 numa=0-1 "
                           "threads=0:numa0,1:numa0,2:numa0,3:numa0,4:numa1,5:numa1,6:numa1,7:numa1"
                           " store_per_domain=0:16.0GiB,1:16.0GiB bind=numa");
  /* Too short a buffer: cut, terminated, and reported. */
  char small[10];
  CU_EXPECT_INT(dagr__topo_plan_describe(&p, small, sizeof small), DAGR_EINVAL);
  EXPECT_STR(small, "cpuset=0-");
  dagr__topo_plan_free(&p);
  PLAN_OK(t, DAGR__BIND_CORE, 1, 2, NULL, NULL, 0, &p);
  EXPECT_STR(describe(&p), "cpuset=8-15 numa=1 threads=0:pu8,1:pu10,2:pu12,3:pu14 "
                           "store_per_domain=1:16.0GiB bind=core");
  dagr__topo_plan_free(&p);
  PLAN_OK(t, DAGR__BIND_NONE, 0, 3, NULL, NULL, 2, &p);
  EXPECT_STR(describe(&p), "cpuset=0-15 numa=0-1 threads=0:-,1:- store_per_domain=all:10.7GiB "
                           "bind=none");
  dagr__topo_plan_free(&p);
  /* Small shares use smaller units. */
  dagr__topo_free(t);
  t = load_ok("numa:1(memory=3MiB) core:2 pu:1");
  if (!t) return;
  PLAN_OK(t, DAGR__BIND_CORE, 1, 2, NULL, NULL, 0, &p);
  EXPECT_STR(describe(&p), "cpuset=1 numa=0 threads=0:pu1 store_per_domain=0:1.5MiB bind=core");
  CU_EXPECT_INT(dagr__topo_plan_describe(NULL, small, sizeof small), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_plan_describe(&p, NULL, 10), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_plan_describe(&p, small, 0), DAGR_EINVAL);
  dagr__topo_plan_free(&p);
  dagr__topo_free(t);
}

/* --- binding -------------------------------------------------------------------------------- */

static void test_bind_synthetic_is_noop(void) {
  /* PUs 12-13 exist in the synthetic machine, not in this one: success proves nothing happened. */
  dagr__topo *t = load_ok(SYN4);
  if (!t) return;
  hwloc_bitmap_t cpus = bm("12-13"), nodes = bm("3");
  CU_EXPECT_INT(dagr__topo_bind_thread(t, cpus, errbuf, sizeof errbuf), DAGR_OK);
  CU_EXPECT_INT(dagr__topo_bind_process(t, cpus, errbuf, sizeof errbuf), DAGR_OK);
  static char area[8192];
  CU_EXPECT_INT(dagr__topo_membind_area(t, area, sizeof area, nodes, errbuf, sizeof errbuf),
                DAGR_OK);
  hwloc_cpuset_t b = (hwloc_cpuset_t)&b;
  CU_EXPECT_INT(dagr__topo_launcher_binding(t, &b, errbuf, sizeof errbuf), DAGR_OK);
  CU_ASSERT(b == NULL);
  CU_EXPECT_INT(dagr__topo_bind_thread(t, NULL, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_bind_thread(NULL, cpus, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_membind_area(t, NULL, 10, nodes, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__topo_launcher_binding(t, NULL, errbuf, sizeof errbuf), DAGR_EINVAL);
  hwloc_bitmap_free(cpus);
  hwloc_bitmap_free(nodes);
  dagr__topo_free(t);
}

static void test_real_machine_binding(void) {
  dagr__topo *t = load_ok(NULL);
  if (!t) return;
  int yes = 0, n = 0;
  CU_EXPECT_INT(dagr__topo_is_thissystem(t, &yes), DAGR_OK);
  CU_EXPECT_INT(yes, 1);
  CU_EXPECT_INT(dagr__topo_ndomains(t, &n), DAGR_OK);
  CU_ASSERT(n >= 1);
  hwloc_topology_t h;
  CU_EXPECT_INT(dagr__topo_hwloc(t, &h), DAGR_OK);
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(h);

  /* What the process was started with is reported only when narrower than the machine. */
  hwloc_bitmap_t orig = hwloc_bitmap_alloc();
  CU_ASSERT_FATAL(hwloc_get_cpubind(h, orig, HWLOC_CPUBIND_PROCESS) == 0);
  hwloc_cpuset_t lb = NULL;
  CU_EXPECT_INT(dagr__topo_launcher_binding(t, &lb, errbuf, sizeof errbuf), DAGR_OK);
  if (hwloc_bitmap_isequal(orig, allowed)) {
    CU_ASSERT(lb == NULL);
  } else {
    EXPECT_STR(L(lb), L(orig));
  }
  hwloc_bitmap_free(lb);
  if (hwloc_bitmap_weight(allowed) >= 2) {
    hwloc_bitmap_t one = hwloc_bitmap_alloc();
    hwloc_bitmap_only(one, (unsigned)hwloc_bitmap_first(allowed));
    CU_EXPECT_INT(dagr__topo_bind_process(t, one, errbuf, sizeof errbuf), DAGR_OK);
    CU_EXPECT_INT(dagr__topo_launcher_binding(t, &lb, errbuf, sizeof errbuf), DAGR_OK);
    EXPECT_STR(L(lb), L(one));
    hwloc_bitmap_free(lb);
    CU_EXPECT_INT(dagr__topo_bind_process(t, orig, errbuf, sizeof errbuf), DAGR_OK);
    hwloc_bitmap_free(one);
  }
  /* Rebinding the thread where it is works. */
  hwloc_bitmap_t cur = hwloc_bitmap_alloc();
  CU_ASSERT(hwloc_get_cpubind(h, cur, HWLOC_CPUBIND_THREAD) == 0);
  CU_EXPECT_INT(dagr__topo_bind_thread(t, cur, errbuf, sizeof errbuf), DAGR_OK);

  /* A CPU that does not exist: the error names the CPU and the reason. */
  hwloc_bitmap_t bad = bm("4000");
  CU_EXPECT_INT(dagr__topo_bind_thread(t, bad, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "cannot bind the thread to CPUs 4000");
  CU_EXPECT_STR_CONTAINS(errbuf, strerror(EINVAL));
  char why[DAGR__ERRLEN];
  snprintf(why, sizeof why, "%s", errbuf);
  CU_EXPECT_INT(dagr__topo_bind_process(t, bad, errbuf, sizeof errbuf), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "cannot bind the process to CPUs 4000");
  static char area[8192];
  CU_EXPECT_INT(dagr__topo_membind_area(t, area, sizeof area, bad, errbuf, sizeof errbuf),
                DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(errbuf, "to NUMA nodes 4000");
  CU_EXPECT_STR_CONTAINS(errbuf, strerror(EINVAL));
  /* The thread's binding did not change. */
  hwloc_bitmap_t after = hwloc_bitmap_alloc();
  CU_ASSERT(hwloc_get_cpubind(h, after, HWLOC_CPUBIND_THREAD) == 0);
  EXPECT_STR(L(after), L(cur));

  /* The runtime reports the failure once and goes on: capture stderr around two warnings. */
  char path[] = "/tmp/dagr-test-warn-XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  CU_ASSERT_FATAL(saved >= 0 && dup2(fd, 2) == 2);
  dagr__topo_warn_once("binding executor thread 0", why);
  dagr__topo_warn_once("binding executor thread 1", why);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char got[2 * DAGR__ERRLEN] = "";
  ssize_t len = pread(fd, got, sizeof got - 1, 0);
  close(fd);
  unlink(path);
  CU_ASSERT(len > 0);
  got[len > 0 ? len : 0] = '\0';
  char want[2 * DAGR__ERRLEN];
  snprintf(want, sizeof want, "dagr: warning: binding executor thread 0: %s; continuing unbound\n",
           why);
  EXPECT_STR(got, want);

  hwloc_bitmap_free(bad);
  hwloc_bitmap_free(after);
  hwloc_bitmap_free(cur);
  hwloc_bitmap_free(orig);
  dagr__topo_free(t);
}

int main(void) {
  /* The tests name their topologies; hwloc's variables would redirect the real-machine ones. */
  unsetenv("HWLOC_XMLFILE");
  unsetenv("HWLOC_SYNTHETIC");
  unsetenv("HWLOC_THISSYSTEM");
  unsetenv("HWLOC_FSROOT");
  static const cu_test_def tests[] = {
      {"load synthetic", test_load_synthetic},
      {"load errors name the source", test_load_errors},
      {"DAGR_BIND", test_parse_policy},
      {"DAGR_NUMA_DOMAINS", test_parse_domains},
      {"plan: 1 NUMA node, 1/2/8 workers", test_plan_one_domain},
      {"plan: 2 NUMA nodes (SMT), 1/2/3/8 workers", test_plan_two_domains},
      {"plan: 4 NUMA nodes, 1/2/3/8 workers", test_plan_four_domains},
      {"plan: domain restriction", test_plan_domain_restriction},
      {"plan: policy none", test_plan_unbound},
      {"plan: launcher binding", test_plan_launcher_bound},
      {"plan: bad requests", test_plan_bad_requests},
      {"XML 2 packages, 8 NUMA nodes, 128 cores", test_xml_2pack_8numa},
      {"XML 8 NUMA nodes, 64 SMT cores", test_xml_8numa_smt},
      {"scheduler plan", test_plan_scheduler},
      {"describe", test_describe},
      {"binding on synthetic topologies does nothing", test_bind_synthetic_is_noop},
      {"binding on this machine, failure and warning", test_real_machine_binding},
      {NULL, NULL},
  };
  return cu_run_suite("topo", tests);
}
