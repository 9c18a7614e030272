/* test_alloc.c: unit tests of the arena allocator (fit, merging, errors, stress, speed, ENOMEM) and
 * of the object store split into per-NUMA-domain parts. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/alloc.h"
#include "store/store.h"
#include "cu_util.h"

/* Test hook defined in alloc.c: when >= 0, the bookkeeping allocation made when it reaches 0
 * fails. */
extern int dagr__alloc_fail_after;

#define ALIGN    ((uint64_t)DAGR__STORE_ALIGN)
#define KIB      ((uint64_t)1 << 10)
#define MIB      ((uint64_t)1 << 20)
#define GIB      ((uint64_t)1 << 30)
#define ROUND(n) ((((uint64_t)(n) == 0 ? 1 : (uint64_t)(n)) + ALIGN - 1) & ~(ALIGN - 1))

/* splitmix64: a fixed seed makes every failure reproducible. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Op counts come from the environment so a valgrind run can shrink them. */
static size_t env_count(const char *name, size_t dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  return *end || n == 0 ? dflt : (size_t)n;
}

static void shuffle(uint64_t *v, size_t n, uint64_t *seed) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(rng_next(seed) % i);
    uint64_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

static dagr__alloc *make(size_t cap) {
  dagr__alloc *a = NULL;
  CU_EXPECT_INT(dagr__alloc_create(cap, &a), DAGR_OK);
  return a;
}

static void test_create_args(void) {
  dagr__alloc *a = (dagr__alloc *)1;
  CU_EXPECT_INT(dagr__alloc_create(1024, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__alloc_create(0, &a), DAGR_EINVAL);
  CU_ASSERT_PTR_NULL(a);
  CU_EXPECT_INT(dagr__alloc_create(DAGR__STORE_ALIGN - 1, &a), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__alloc_create(DAGR__STORE_ALIGN, &a), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_capacity(a), DAGR__STORE_ALIGN);
  uint64_t off = 1;
  CU_EXPECT_INT(dagr__alloc_alloc(a, 1, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__alloc_alloc(NULL, 1, &off), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__alloc_free(NULL, 0), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__alloc_alloc(a, DAGR__STORE_ALIGN, &off), DAGR_OK);
  CU_EXPECT_INT(off, 0);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);
  dagr__alloc_destroy(NULL);
  CU_EXPECT_INT(dagr__alloc_capacity(NULL), 0);
  CU_EXPECT_INT(dagr__alloc_size(NULL, 0), 0);
}

static void test_capacity_rounding(void) {
  size_t sizes[] = {64, 65, 127, 128, 1000, 4096 + 63, 10 * MIB + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    dagr__alloc *a = make(sizes[i]);
    if (!a) return;
    CU_EXPECT_INT(dagr__alloc_capacity(a), sizes[i] / ALIGN * ALIGN);
    CU_EXPECT_INT(dagr__alloc_largest_free(a), sizes[i] / ALIGN * ALIGN);
    CU_EXPECT_INT(dagr__alloc_used(a), 0);
    CU_EXPECT_INT(dagr__alloc_live(a), 0);
    CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
    dagr__alloc_destroy(a);
  }
}

static void test_alignment(void) {
  dagr__alloc *a = make(64 * MIB);
  if (!a) return;
  uint64_t seed = 1;
  for (int i = 0; i < 5000; i++) {
    size_t n = (size_t)(rng_next(&seed) % 5000);
    uint64_t off = 1;
    CU_EXPECT_INT(dagr__alloc_alloc(a, n, &off), DAGR_OK);
    CU_EXPECT_INT(off % ALIGN, 0);
    CU_EXPECT_INT(dagr__alloc_size(a, off), ROUND(n));
    if (i % 3 == 0) CU_EXPECT_INT(dagr__alloc_free(a, off), DAGR_OK);
  }
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);
}

static void test_zero_size(void) {
  dagr__alloc *a = make(4 * ALIGN);
  if (!a) return;
  uint64_t o[4];
  for (int i = 0; i < 4; i++) {
    CU_EXPECT_INT(dagr__alloc_alloc(a, 0, &o[i]), DAGR_OK);
    CU_EXPECT_INT(dagr__alloc_size(a, o[i]), ALIGN);
    for (int j = 0; j < i; j++) CU_ASSERT(o[i] != o[j]);
  }
  uint64_t x;
  CU_EXPECT_INT(dagr__alloc_alloc(a, 0, &x), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__alloc_live(a), 4);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);
}

static void test_exact_fill(void) {
  /* Many aligned blocks fill the arena to the byte. */
  dagr__alloc *a = make(100 * ALIGN + 17);
  if (!a) return;
  uint64_t off;
  for (uint64_t i = 0; i < 100; i++) {
    CU_EXPECT_INT(dagr__alloc_alloc(a, ALIGN - (i % 7), &off), DAGR_OK);
    CU_EXPECT_INT(off, i * ALIGN);
  }
  CU_EXPECT_INT(dagr__alloc_alloc(a, 1, &off), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__alloc_used(a), dagr__alloc_capacity(a));
  CU_EXPECT_INT(dagr__alloc_largest_free(a), 0);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);

  /* One allocation of the whole arena, for capacities that do not start a size class: the only
   * free range sits in the allocation's own class and must still be found. */
  uint64_t caps[] = {64, 1000 * ALIGN, 1037 * ALIGN, 12345 * ALIGN, 3 * MIB - ALIGN};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    a = make(caps[i]);
    if (!a) return;
    CU_EXPECT_INT(dagr__alloc_alloc(a, caps[i] + 1, &off), DAGR_ESTORE_FULL);
    CU_EXPECT_INT(dagr__alloc_alloc(a, caps[i], &off), DAGR_OK);
    CU_EXPECT_INT(off, 0);
    CU_EXPECT_INT(dagr__alloc_alloc(a, 1, &off), DAGR_ESTORE_FULL);
    CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
    dagr__alloc_destroy(a);
  }

  /* Several ranges of the request's size class that are too small sit ahead of the one that
   * fits, and no larger class has a range: the allocator must look past them. Ranges freed last
   * are tried first, so the fitting one is freed first. */
  enum { HOLES = 8 };
  const uint64_t small = 100 * ALIGN, fits = 101 * ALIGN; /* one size class */
  a = make(fits + ALIGN + HOLES * (small + ALIGN));
  if (!a) return;
  uint64_t hole[HOLES + 1], guard;
  CU_EXPECT_INT(dagr__alloc_alloc(a, fits, &hole[0]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, ALIGN, &guard), DAGR_OK);
  for (int i = 1; i <= HOLES; i++) {
    CU_EXPECT_INT(dagr__alloc_alloc(a, small, &hole[i]), DAGR_OK);
    CU_EXPECT_INT(dagr__alloc_alloc(a, ALIGN, &guard), DAGR_OK);
  }
  for (int i = 0; i <= HOLES; i++) CU_EXPECT_INT(dagr__alloc_free(a, hole[i]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_largest_free(a), fits);
  off = 1;
  CU_EXPECT_INT(dagr__alloc_alloc(a, fits, &off), DAGR_OK);
  CU_EXPECT_INT(off, hole[0]);
  CU_EXPECT_INT(dagr__alloc_alloc(a, fits, &off), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);

  /* Mixed sizes that sum to the capacity exactly; the last is whatever is left. */
  a = make(10 * MIB);
  if (!a) return;
  uint64_t seed = 7, left = 10 * MIB;
  while (left > 0) {
    uint64_t n = ROUND(1 + rng_next(&seed) % (256 * KIB));
    if (n > left) n = left;
    CU_EXPECT_INT(dagr__alloc_alloc(a, (size_t)n, &off), DAGR_OK);
    left -= n;
  }
  CU_EXPECT_INT(dagr__alloc_alloc(a, 1, &off), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__alloc_used(a), 10 * MIB);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);
}

static void test_coalesce_orders(void) {
  /* Blocks of assorted sizes that tile the arena, freed in many orders: whatever the order,
   * every free range merges back into one. */
  const uint64_t sizes[] = {64, 128, 192, 4096, 64, 65536, 640, 1 * MIB, 64, 3 * KIB};
  enum { N = sizeof sizes / sizeof sizes[0] };
  uint64_t cap = 0;
  for (int i = 0; i < N; i++) cap += sizes[i];
  uint64_t seed = 3;
  for (int round = 0; round < 60; round++) {
    dagr__alloc *a = make(cap);
    if (!a) return;
    uint64_t offs[N];
    for (int i = 0; i < N; i++) CU_EXPECT_INT(dagr__alloc_alloc(a, sizes[i], &offs[i]), DAGR_OK);
    CU_EXPECT_INT(dagr__alloc_largest_free(a), 0);
    if (round == 0) {
      /* forward */
    } else if (round == 1) {
      for (int i = 0; i < N / 2; i++) {
        uint64_t t = offs[i];
        offs[i] = offs[N - 1 - i];
        offs[N - 1 - i] = t;
      }
    } else if (round == 2) {
      /* odd positions first, then even: every second free merges on both sides */
      uint64_t o2[N];
      int k = 0;
      for (int i = 1; i < N; i += 2) o2[k++] = offs[i];
      for (int i = 0; i < N; i += 2) o2[k++] = offs[i];
      memcpy(offs, o2, sizeof offs);
    } else {
      shuffle(offs, N, &seed);
    }
    for (int i = 0; i < N; i++) {
      CU_EXPECT_INT(dagr__alloc_free(a, offs[i]), DAGR_OK);
      CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
    }
    CU_EXPECT_INT(dagr__alloc_largest_free(a), cap);
    CU_EXPECT_INT(dagr__alloc_used(a), 0);
    CU_EXPECT_INT(dagr__alloc_live(a), 0);
    uint64_t off = 1;
    CU_EXPECT_INT(dagr__alloc_alloc(a, cap, &off), DAGR_OK);
    CU_EXPECT_INT(off, 0);
    dagr__alloc_destroy(a);
  }
}

static void test_coalesce_middle(void) {
  dagr__alloc *a = make(1 * MIB);
  if (!a) return;
  uint64_t A, B, C, D;
  CU_EXPECT_INT(dagr__alloc_alloc(a, 1000, &A), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 3000, &B), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 200, &C), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 64, &D), DAGR_OK); /* guard: keeps C from the tail */
  uint64_t abc = ROUND(1000) + ROUND(3000) + ROUND(200);
  CU_EXPECT_INT(dagr__alloc_free(a, A), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, C), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, B), DAGR_OK); /* merges with both neighbours */
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  uint64_t off = 1;
  CU_EXPECT_INT(dagr__alloc_alloc(a, abc, &off), DAGR_OK);
  CU_EXPECT_INT(off, A);
  CU_EXPECT_INT(dagr__alloc_size(a, D), ALIGN);
  CU_EXPECT_INT(dagr__alloc_live(a), 2);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);
}

static void test_good_fit(void) {
  /* Holes of 128 B and 1 KiB separated by live guards, then the tail: each request lands in the
   * smallest hole that holds it, not the first or the tail. */
  dagr__alloc *a = make(64 * KIB);
  if (!a) return;
  uint64_t h1, g1, h2, g2, h3, g3;
  CU_EXPECT_INT(dagr__alloc_alloc(a, 1024, &h2), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 64, &g2), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 128, &h1), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 64, &g1), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 8192, &h3), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 64, &g3), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, h1), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, h2), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, h3), DAGR_OK);
  uint64_t off = 1;
  CU_EXPECT_INT(dagr__alloc_alloc(a, 100, &off), DAGR_OK);
  CU_EXPECT_INT(off, h1);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 1000, &off), DAGR_OK);
  CU_EXPECT_INT(off, h2);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 5000, &off), DAGR_OK);
  CU_EXPECT_INT(off, h3);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  (void)g1, (void)g2, (void)g3;
  dagr__alloc_destroy(a);
}

static void test_bad_free(void) {
  dagr__alloc *a = make(1 * MIB);
  if (!a) return;
  uint64_t x, y;
  CU_EXPECT_INT(dagr__alloc_alloc(a, 500, &x), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 500, &y), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, x + 1), DAGR_EINVAL);      /* unaligned */
  CU_EXPECT_INT(dagr__alloc_free(a, x + ALIGN), DAGR_EINVAL);  /* inside an allocation */
  CU_EXPECT_INT(dagr__alloc_free(a, 512 * KIB), DAGR_EINVAL);  /* in free space */
  CU_EXPECT_INT(dagr__alloc_free(a, 1 * MIB), DAGR_EINVAL);    /* at capacity */
  CU_EXPECT_INT(dagr__alloc_free(a, UINT64_MAX), DAGR_EINVAL); /* far outside */
  CU_EXPECT_INT(dagr__alloc_size(a, x + ALIGN), 0);
  CU_EXPECT_INT(dagr__alloc_free(a, x), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_size(a, x), 0);
  CU_EXPECT_INT(dagr__alloc_free(a, x), DAGR_EINVAL); /* double free */
  CU_EXPECT_INT(dagr__alloc_live(a), 1);
  CU_EXPECT_INT(dagr__alloc_used(a), ROUND(500));
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, y), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, y), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__alloc_largest_free(a), 1 * MIB);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  dagr__alloc_destroy(a);
}

/* Shadow of the arena in 64-byte granules: marking a granule twice means two live allocations
 * overlap, clearing an unmarked one means a free released memory it did not own. */
static int shadow_mark(uint64_t *bits, uint64_t first, uint64_t count, int set) {
  int conflict = 0;
  for (uint64_t g = first; g < first + count;) {
    uint64_t w = g >> 6, b = g & 63, n = 64 - b;
    if (n > first + count - g) n = first + count - g;
    uint64_t m = (n == 64 ? ~0ull : ((1ull << n) - 1)) << b;
    if (set) {
      conflict |= (bits[w] & m) != 0;
      bits[w] |= m;
    } else {
      conflict |= (bits[w] & m) != m;
      bits[w] &= ~m;
    }
    g += n;
  }
  return conflict;
}

static void test_stress(void) {
  const uint64_t cap = 256 * MIB;
  size_t ops = env_count("DAGR_TEST_ALLOC_OPS", 200000);
  dagr__alloc *a = make(cap);
  if (!a) return;
  uint64_t *bits = calloc(cap / ALIGN / 64, sizeof *bits);
  uint64_t *offs = malloc(ops * sizeof *offs), *szs = malloc(ops * sizeof *szs);
  CU_ASSERT_FATAL(bits && offs && szs);
  uint64_t seed = 42, used = 0;
  size_t nlive = 0, fails = 0, full = 0;
  for (size_t op = 0; op < ops && fails < 20; op++) {
    if (nlive == 0 || rng_next(&seed) % 100 < 55) {
      /* log-uniform sizes from 1 B to 1 MiB */
      uint64_t bits_of_size = rng_next(&seed) % 21; /* own statement: fixes the draw order */
      uint64_t n = 1 + rng_next(&seed) % (1ull << bits_of_size);
      uint64_t off = UINT64_MAX;
      int rc = dagr__alloc_alloc(a, (size_t)n, &off);
      if (rc == DAGR_ESTORE_FULL) {
        full++;
        /* Full must mean full: no free range can hold the request. */
        if (dagr__alloc_largest_free(a) >= ROUND(n)) {
          fails++;
          CU_FAIL("ESTORE_FULL with a large enough free range");
        }
        continue;
      }
      CU_EXPECT_INT(rc, DAGR_OK);
      if (rc != DAGR_OK) {
        fails++;
        continue;
      }
      int ok = off % ALIGN == 0 && off + ROUND(n) <= cap && dagr__alloc_size(a, off) == ROUND(n) &&
               !shadow_mark(bits, off / ALIGN, ROUND(n) / ALIGN, 1);
      if (!ok) {
        fails++;
        CU_FAIL("allocation misaligned, out of range, mis-sized or overlapping");
      }
      offs[nlive] = off;
      szs[nlive++] = ROUND(n);
      used += ROUND(n);
    } else {
      size_t i = (size_t)(rng_next(&seed) % nlive);
      int rc = dagr__alloc_free(a, offs[i]);
      if (rc != DAGR_OK || shadow_mark(bits, offs[i] / ALIGN, szs[i] / ALIGN, 0)) {
        fails++;
        CU_FAIL("free failed or released memory it did not own");
      }
      if (op % 97 == 0) CU_EXPECT_INT(dagr__alloc_free(a, offs[i]), DAGR_EINVAL);
      used -= szs[i];
      offs[i] = offs[--nlive];
      szs[i] = szs[nlive];
    }
    if (op % 1000 == 0) {
      CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
      CU_EXPECT_INT(dagr__alloc_used(a), used);
      CU_EXPECT_INT(dagr__alloc_live(a), nlive);
    }
  }
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_used(a), used);
  CU_ASSERT(full > 0); /* the run must have reached the full-arena paths */
  printf("\n    stress: %zu ops, %zu ESTORE_FULL, arena %.0f%% used at the end  ", ops, full,
         100.0 * (double)used / (double)cap);
  shuffle(offs, nlive, &seed);
  for (size_t i = 0; i < nlive; i++) CU_EXPECT_INT(dagr__alloc_free(a, offs[i]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_largest_free(a), cap);
  CU_EXPECT_INT(dagr__alloc_used(a), 0);
  free(bits);
  free(offs);
  free(szs);
  dagr__alloc_destroy(a);
}

static void test_huge_arena(void) {
  if (sizeof(size_t) < 8) return; /* a 64 GiB arena needs 64-bit sizes */
  const uint64_t cap = 64 * GIB;
  dagr__alloc *a = make((size_t)cap);
  if (!a) return;
  CU_EXPECT_INT(dagr__alloc_capacity(a), cap);
  uint64_t offs[64], off;
  for (uint64_t i = 0; i < 64; i++) {
    CU_EXPECT_INT(dagr__alloc_alloc(a, (size_t)GIB, &offs[i]), DAGR_OK);
    CU_EXPECT_INT(offs[i], i * GIB);
  }
  CU_EXPECT_INT(dagr__alloc_alloc(a, 1, &off), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__alloc_size(a, 63 * GIB), GIB);
  /* A 2 GiB hole above 4 GiB, then one 3 GiB hole straddling nothing but > 32-bit offsets. */
  CU_EXPECT_INT(dagr__alloc_free(a, offs[5]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, offs[6]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, (size_t)(2 * GIB), &off), DAGR_OK);
  CU_EXPECT_INT(off, 5 * GIB);
  CU_EXPECT_INT(dagr__alloc_size(a, off), 2 * GIB);
  CU_EXPECT_INT(dagr__alloc_free(a, 5 * GIB), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_alloc(a, 100, &off), DAGR_OK);
  CU_EXPECT_INT(off, 5 * GIB);
  uint64_t off2;
  CU_EXPECT_INT(dagr__alloc_alloc(a, 100, &off2), DAGR_OK);
  CU_EXPECT_INT(off2, 5 * GIB + ROUND(100));
  CU_EXPECT_INT(dagr__alloc_free(a, off), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, off2), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  for (int i = 0; i < 64; i++)
    if (i != 5 && i != 6) CU_EXPECT_INT(dagr__alloc_free(a, offs[i]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_largest_free(a), cap);
  /* Several-GiB objects of odd sizes fill it exactly. */
  uint64_t big = 5 * GIB + 1;
  CU_EXPECT_INT(dagr__alloc_alloc(a, (size_t)big, &off), DAGR_OK);
  CU_EXPECT_INT(off, 0);
  CU_EXPECT_INT(dagr__alloc_size(a, 0), ROUND(big));
  CU_EXPECT_INT(dagr__alloc_alloc(a, (size_t)(cap - ROUND(big)), &off), DAGR_OK);
  CU_EXPECT_INT(off, ROUND(big));
  CU_EXPECT_INT(dagr__alloc_used(a), cap);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_free(a, ROUND(big)), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_largest_free(a), cap);
  dagr__alloc_destroy(a);
}

static void test_timing(void) {
  size_t pairs = env_count("DAGR_TEST_ALLOC_PAIRS", 1000000);
  dagr__alloc *a = make(1 * GIB);
  if (!a) return;
  uint64_t off, sink = 0;
  int rc = DAGR_OK;
  /* Pattern 1: alloc then free at once (the arena stays empty). */
  uint64_t t0 = dagr__now_ns();
  for (size_t i = 0; i < pairs; i++) {
    rc |= dagr__alloc_alloc(a, 8 + (i & 1023), &off);
    sink += off;
    rc |= dagr__alloc_free(a, off);
  }
  uint64_t t1 = dagr__now_ns();
  CU_EXPECT_INT(rc, DAGR_OK);
  /* Pattern 2: a FIFO of 4096 live objects of mixed small sizes, so frees merge and split in a
   * fragmented arena. */
  enum { RING = 4096 };
  static uint64_t ring[RING];
  uint64_t seed = 9;
  for (int i = 0; i < RING; i++) rc |= dagr__alloc_alloc(a, 8 + rng_next(&seed) % 4096, &ring[i]);
  uint64_t t2 = dagr__now_ns();
  for (size_t i = 0; i < pairs; i++) {
    rc |= dagr__alloc_free(a, ring[i % RING]);
    rc |= dagr__alloc_alloc(a, 8 + rng_next(&seed) % 4096, &ring[i % RING]);
  }
  uint64_t t3 = dagr__now_ns();
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  printf(
      "\n    %zu alloc+free pairs: %.1f ns/pair (empty arena), %.1f ns/pair (4096 live, mixed)  ",
      pairs, (double)(t1 - t0) / (double)pairs, (double)(t3 - t2) / (double)pairs);
  (void)sink;
  dagr__alloc_destroy(a);
}

static void test_fragmentation(void) {
  const uint64_t cap = 64 * MIB;
  dagr__alloc *a = make(cap);
  if (!a) return;
  enum { MAXLIVE = 20000 };
  static uint64_t live[MAXLIVE];
  size_t n = 0;
  uint64_t seed = 11;
  for (int op = 0; op < 100000; op++) {
    if (n < MAXLIVE && (n == 0 || rng_next(&seed) % 3 != 0)) {
      uint64_t sz = rng_next(&seed) % 2 ? 1 + rng_next(&seed) % 512 : 1 + rng_next(&seed) % 65536;
      if (dagr__alloc_alloc(a, (size_t)sz, &live[n]) == DAGR_OK) n++;
    } else {
      size_t i = (size_t)(rng_next(&seed) % n);
      CU_EXPECT_INT(dagr__alloc_free(a, live[i]), DAGR_OK);
      live[i] = live[--n];
    }
  }
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  /* Free every second survivor, then the rest: each of the second pass merges on both sides. */
  for (size_t i = 0; i < n; i += 2) CU_EXPECT_INT(dagr__alloc_free(a, live[i]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  for (size_t i = 1; i < n; i += 2) CU_EXPECT_INT(dagr__alloc_free(a, live[i]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_live(a), 0);
  CU_EXPECT_INT(dagr__alloc_largest_free(a), cap);
  uint64_t off = 1;
  CU_EXPECT_INT(dagr__alloc_alloc(a, cap, &off), DAGR_OK);
  CU_EXPECT_INT(off, 0);
  dagr__alloc_destroy(a);
}

/* One scripted workload long enough to grow the node array and the hash several times. Every
 * DAGR_ENOMEM must leave the allocator unchanged and consistent; the call is then retried.
 * Returns the number of DAGR_ENOMEM results seen. */
static int enomem_script(dagr__alloc *a) {
  enum { N = 3000 };
  static uint64_t live[N];
  size_t n = 0;
  int seen = 0;
  uint64_t seed = 5;
  for (int op = 0; op < N; op++) {
    if (n > 0 && op % 3 == 2) {
      size_t i = (size_t)(rng_next(&seed) % n);
      CU_EXPECT_INT(dagr__alloc_free(a, live[i]), DAGR_OK); /* free never needs memory */
      live[i] = live[--n];
      continue;
    }
    size_t used = dagr__alloc_used(a), cnt = dagr__alloc_live(a);
    size_t sz = 1 + (size_t)(rng_next(&seed) % 300);
    int rc = dagr__alloc_alloc(a, sz, &live[n]);
    if (rc == DAGR_ENOMEM) {
      seen++;
      CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
      CU_EXPECT_INT(dagr__alloc_used(a), used);
      CU_EXPECT_INT(dagr__alloc_live(a), cnt);
      rc = dagr__alloc_alloc(a, sz, &live[n]);
    }
    CU_EXPECT_INT(rc, DAGR_OK);
    if (rc == DAGR_OK) n++;
  }
  CU_EXPECT_INT(dagr__alloc_check(a), DAGR_OK);
  for (size_t i = 0; i < n; i++) CU_EXPECT_INT(dagr__alloc_free(a, live[i]), DAGR_OK);
  CU_EXPECT_INT(dagr__alloc_largest_free(a), dagr__alloc_capacity(a));
  return seen;
}

static void test_enomem(void) {
  /* Each k makes the k-th bookkeeping allocation fail; stop once k is past the last one. */
  int injected = 0, k;
  for (k = 0; k < 1000; k++) {
    dagr__alloc *a = NULL;
    dagr__alloc_fail_after = k;
    int rc = dagr__alloc_create(4 * MIB, &a);
    if (rc == DAGR_ENOMEM) {
      CU_ASSERT_PTR_NULL(a);
      injected++;
      CU_EXPECT_INT(dagr__alloc_fail_after, -1);
      continue;
    }
    CU_EXPECT_INT(rc, DAGR_OK);
    if (rc != DAGR_OK) break;
    int seen = enomem_script(a);
    dagr__alloc_destroy(a);
    int untouched = dagr__alloc_fail_after >= 0;
    dagr__alloc_fail_after = -1;
    injected += seen;
    if (untouched) {
      CU_EXPECT_INT(seen, 0);
      break;
    }
    CU_EXPECT_INT(seen, 1);
  }
  dagr__alloc_fail_after = -1;
  CU_ASSERT(k < 1000);
  CU_ASSERT(injected >= 8); /* create's two allocations plus several growths of each table */
  printf("\n    %d injected failures  ", injected);
}

/* --- the object store split into per-NUMA-domain parts ------------------------------------ */

/* An arena at a 2 MiB-aligned address, so partition boundaries can be aligned by address too.
 * The store itself never touches the arena; only the threaded tests write objects into it. */
static unsigned char *arena_new(size_t size) {
  void *p = NULL;
  if (posix_memalign(&p, (size_t)(2 * MIB), size ? size : 1)) p = NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  return p;
}

static uint64_t part_off(const dagr__store *s, int part) {
  uint64_t off = UINT64_MAX;
  size_t size = 0;
  CU_EXPECT_INT(dagr__store_part_range(s, part, &off, &size), DAGR_OK);
  return off;
}

static size_t part_size(const dagr__store *s, int part) {
  uint64_t off = 0;
  size_t size = SIZE_MAX;
  CU_EXPECT_INT(dagr__store_part_range(s, part, &off, &size), DAGR_OK);
  return size;
}

/* Checks the documented layout: the parts tile [0, size) in order, every start is a multiple of
 * the allocator's alignment, each part is within 1/8 of its share plus 128 bytes, part_of agrees
 * with the ranges, and a part has room for objects exactly when it is at least one block long.
 * Returns the number of violations (each also a CUnit failure). */
static int check_layout(dagr__store *s, size_t size, int n, const double *w) {
  int bad = 0;
  long double total = 0;
  for (int i = 0; i < n; i++) total += w ? w[i] : 1.0;
  CU_EXPECT_INT(dagr__store_nparts(s), n);
  uint64_t expect_off = 0;
  for (int i = 0; i < n; i++) {
    uint64_t off = part_off(s, i);
    size_t sz = part_size(s, i);
    long double share = (long double)size * (w ? w[i] : 1.0) / total;
    long double dev = (long double)sz - share;
    if (dev < 0) dev = -dev;
    int ok = off == expect_off && (sz == 0 || off % ALIGN == 0) && dev <= share / 8 + 128 + 1;
    if (w && w[i] == 0) ok &= sz == 0;
    if (sz > 0) {
      ok &= dagr__store_part_of(s, off) == i && dagr__store_part_of(s, off + sz - 1) == i;
      if (off > 0) ok &= dagr__store_part_of(s, off - 1) == i - 1 || part_size(s, i - 1) == 0;
    }
    if (!ok) {
      fprintf(stderr, "  part %d/%d of %zu: [%" PRIu64 ", +%zu), share %.1Lf\n", i, n, size, off,
              sz, share);
      CU_FAIL("partition violates its contract");
      bad++;
    }
    expect_off = off + sz;
  }
  CU_EXPECT_INT(expect_off, size);
  CU_EXPECT_INT(dagr__store_part_of(s, size), -1);
  return bad;
}

static void test_store_partition(void) {
  const size_t big = (size_t)(64 * MIB);
  unsigned char *arena = arena_new(big + 4 * MIB);
  dagr__store s;

  /* Equal halves and 1:3 fall on 2 MiB boundaries exactly. */
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big, 2, NULL), DAGR_OK);
  check_layout(&s, big, 2, NULL);
  CU_EXPECT_INT(part_off(&s, 1), 32 * MIB);
  CU_ASSERT_PTR_EQUAL(s.base, arena);
  CU_EXPECT_INT(s.size, big);
  dagr__store_destroy(&s);
  const double w13[] = {1, 3};
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big, 2, w13), DAGR_OK);
  check_layout(&s, big, 2, w13);
  CU_EXPECT_INT(part_off(&s, 1), 16 * MIB);
  CU_EXPECT_INT(part_size(&s, 1), 48 * MIB);
  dagr__store_destroy(&s);

  /* An unaligned size: the tail goes to the last part, interior starts stay on 2 MiB. */
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big + 100, 4, NULL), DAGR_OK);
  check_layout(&s, big + 100, 4, NULL);
  for (int i = 1; i < 4; i++) CU_EXPECT_INT(part_off(&s, i), (uint64_t)i * 16 * MIB);
  CU_EXPECT_INT(part_size(&s, 3), 16 * MIB + 100);
  dagr__store_destroy(&s);

  /* Thirds of 100 MiB are not 2 MiB multiples: rounded to the nearest ones (34, 66 MiB). */
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)(66 * MIB), 3, NULL), DAGR_OK);
  check_layout(&s, (size_t)(66 * MIB), 3, NULL);
  CU_EXPECT_INT(part_off(&s, 1), 22 * MIB);
  dagr__store_destroy(&s);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)(68 * MIB), 3, NULL), DAGR_OK);
  check_layout(&s, (size_t)(68 * MIB), 3, NULL);
  CU_EXPECT_INT(part_off(&s, 1), 22 * MIB); /* 22.67 MiB: 22 is nearer than 24 */
  CU_EXPECT_INT(part_off(&s, 2), 46 * MIB); /* 45.33 MiB */
  dagr__store_destroy(&s);

  /* A tiny share (about 65 KiB) is too small for 2 MiB rounding but still page-aligned, and it
   * gets its own allocator. */
  const double tiny[] = {1000, 1};
  long pg = sysconf(_SC_PAGESIZE);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big, 2, tiny), DAGR_OK);
  check_layout(&s, big, 2, tiny);
  if (pg > 0 && pg < (long)(2 * MIB)) CU_EXPECT_INT(part_off(&s, 1) % (uint64_t)pg, 0);
  uint64_t off = 0;
  int got = -1;
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, 1000, &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 1);
  CU_EXPECT_INT(dagr__store_part_of(&s, off), 1);
  dagr__store_destroy(&s);

  /* A share below one aligned block: the part is empty, has no allocator, and its requests go
   * to the other part. */
  const double crumb[] = {1, 1e-9};
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, 4096, 2, crumb), DAGR_OK);
  check_layout(&s, 4096, 2, crumb);
  CU_EXPECT_INT(part_size(&s, 1), 0);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, 10, &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 0);
  dagr__store_destroy(&s);

  /* A weight of 0 between two others: an empty part, and the part after it still starts on a
   * 2 MiB boundary. */
  const double hole[] = {1, 0, 1};
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big + 3 * ALIGN, 3, hole), DAGR_OK);
  check_layout(&s, big + 3 * ALIGN, 3, hole);
  CU_EXPECT_INT(part_size(&s, 1), 0);
  CU_EXPECT_INT(part_off(&s, 2), 32 * MIB);
  CU_EXPECT_INT(dagr__store_part_of(&s, 32 * MIB), 2);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, 10, &off, &got), DAGR_OK);
  CU_ASSERT(got == 0 || got == 2);
  dagr__store_destroy(&s);

  /* The largest count: 64 parts of 1 MiB. Huge and tiny weights only matter relative to each
   * other. */
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big, 64, NULL), DAGR_OK);
  check_layout(&s, big, 64, NULL);
  CU_EXPECT_INT(part_off(&s, 63), 63 * MIB);
  dagr__store_destroy(&s);
  const double huge[] = {1e308, 1e308}, small[] = {1e-300, 3e-300};
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big, 2, huge), DAGR_OK);
  CU_EXPECT_INT(part_off(&s, 1), 32 * MIB);
  dagr__store_destroy(&s);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, big, 2, small), DAGR_OK);
  CU_EXPECT_INT(part_off(&s, 1), 16 * MIB);
  dagr__store_destroy(&s);

  /* A base off the allocator's alignment: offsets stay multiples of it, address alignment is
   * not attempted. */
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena + 16, (size_t)(8 * MIB), 3, NULL), DAGR_OK);
  check_layout(&s, (size_t)(8 * MIB), 3, NULL);
  dagr__store_destroy(&s);

  /* Random counts, weights (some 0), sizes and base offsets. */
  uint64_t seed = 77;
  int bad = 0;
  for (int round = 0; round < 400 && bad < 5; round++) {
    int n = 1 + (int)(rng_next(&seed) % 64);
    double w[64];
    int any = 0;
    for (int i = 0; i < n; i++) {
      uint64_t r = rng_next(&seed);
      w[i] = r % 5 == 0 ? 0 : (double)(r % 1000) / 7.0 + (r % 3 == 0 ? 1e-6 : 0);
      any |= w[i] > 0;
    }
    if (!any) w[0] = 1;
    size_t size = (size_t)(rng_next(&seed) % (1ull << (rng_next(&seed) % 27)));
    static const size_t shifts[] = {0, 64, 16, 4096, 3 * 4096 + 64};
    unsigned char *b = arena + shifts[rng_next(&seed) % 5];
    CU_EXPECT_INT(dagr__store_init_parts(&s, b, size, n, w), DAGR_OK);
    bad += check_layout(&s, size, n, w);
    /* Page or 2 MiB alignment where the shares allow it. */
    for (int i = 1; i < n && (uintptr_t)b % ALIGN == 0; i++) {
      uint64_t o = part_off(&s, i);
      if (o % (2 * MIB) != 0 && o > 0 && o < size - size % ALIGN) {
        /* Both neighbouring non-empty shares must then be below 16 MiB. */
        int l = i - 1, r = i;
        while (l >= 0 && w[l] == 0) l--;
        while (r < n && w[r] == 0) r++;
        long double tot = 0;
        for (int j = 0; j < n; j++) tot += w[j];
        long double sl = l >= 0 ? (long double)size * w[l] / tot : 1e30L;
        long double sr = r < n ? (long double)size * w[r] / tot : 1e30L;
        if ((sl < sr ? sl : sr) >= 16.0L * MIB + 1) {
          CU_FAIL("boundary not 2 MiB-aligned between large shares");
          bad++;
        }
      }
    }
    dagr__store_destroy(&s);
  }
  free(arena);
}

static void test_store_alloc_in(void) {
  unsigned char *arena = arena_new((size_t)(6 * MIB));
  dagr__store s;
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)(6 * MIB), 3, NULL), DAGR_OK);
  uint64_t offs[3][10];
  for (int round = 0; round < 10; round++)
    for (int p = 0; p < 3; p++) {
      int got = -1;
      size_t n = 1 + (size_t)round * 1000;
      CU_EXPECT_INT(dagr__store_alloc_in(&s, p, n, &offs[p][round], &got), DAGR_OK);
      CU_EXPECT_INT(got, p);
      CU_EXPECT_INT(dagr__store_part_of(&s, offs[p][round]), p);
      CU_EXPECT_INT(offs[p][round] % ALIGN, 0);
      CU_ASSERT(offs[p][round] + n <= part_off(&s, p) + part_size(&s, p));
    }
  /* The first object of each part sits at the part's start. */
  for (int p = 0; p < 3; p++) CU_EXPECT_INT(offs[p][0], (uint64_t)p * 2 * MIB);
  uint64_t per_part = 0;
  for (int round = 0; round < 10; round++) per_part += ROUND(1 + (size_t)round * 1000);
  for (int p = 0; p < 3; p++) CU_EXPECT_INT(dagr__store_part_used(&s, p), per_part);
  CU_EXPECT_INT(dagr__store_used(&s), 3 * per_part);
  for (int p = 0; p < 3; p++)
    for (int round = 0; round < 10; round++) dagr__store_free(&s, offs[p][round]);
  CU_EXPECT_INT(dagr__store_used(&s), 0);
  dagr__store_destroy(&s);
  free(arena);
}

static void test_store_fallback(void) {
  unsigned char *arena = arena_new((size_t)(3 * MIB));
  dagr__store s;
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)(3 * MIB), 3, NULL), DAGR_OK);
  uint64_t off, full0, x, y;
  int got = -1;
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, (size_t)MIB, &full0, &got), DAGR_OK);
  CU_EXPECT_INT(full0, 0);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, (size_t)(512 * KIB), &x, &got), DAGR_OK);
  CU_EXPECT_INT(got, 1);
  /* Part 0 is full: part 2 has the most free bytes. */
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, 1000, &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 2);
  CU_EXPECT_INT(dagr__store_part_of(&s, off), 2);
  /* Now part 1 does. got_part may be NULL; dagr__store_alloc also falls back from part 0. */
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 2, (size_t)(600 * KIB), &y, NULL), DAGR_OK);
  CU_EXPECT_INT(dagr__store_part_of(&s, y), 2);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, 1000, &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 1);
  CU_EXPECT_INT(dagr__store_alloc(&s, 1000, &off), DAGR_OK);
  CU_EXPECT_INT(dagr__store_part_of(&s, off), 1);
  /* Larger than every part, though smaller than the free bytes together: objects never span
   * parts. */
  size_t used = dagr__store_used(&s);
  got = 99;
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, (size_t)(600 * KIB), &off, &got), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(got, 99);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, (size_t)(2 * MIB), &off, NULL), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__store_used(&s), used);
  dagr__store_destroy(&s);

  /* The part with the most free bytes has them in two holes too small for the request: the next
   * part in the order is tried. */
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)(3 * MIB), 3, NULL), DAGR_OK);
  uint64_t a1, a2, guard;
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, (size_t)MIB, &full0, &got), DAGR_OK);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, (size_t)(300 * KIB), &a1, &got), DAGR_OK);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, (size_t)(424 * KIB), &guard, &got), DAGR_OK);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, (size_t)(300 * KIB), &a2, &got), DAGR_OK);
  CU_EXPECT_INT(got, 1);
  CU_EXPECT_INT(dagr__store_part_used(&s, 1), MIB);
  dagr__store_free(&s, a1);
  dagr__store_free(&s, a2);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 2, (size_t)(624 * KIB), &y, &got), DAGR_OK);
  CU_EXPECT_INT(dagr__store_part_used(&s, 1), 424 * KIB); /* 600 KiB free, in two holes */
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, (size_t)(350 * KIB), &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 2);
  /* Nothing anywhere holds 350 KiB more. */
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, (size_t)(350 * KIB), &off, &got), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 2, (size_t)(350 * KIB), &off, &got), DAGR_ESTORE_FULL);
  /* But 300 KiB fits in a hole of part 1. */
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, (size_t)(300 * KIB), &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 1);
  CU_ASSERT(off == a1 || off == a2);
  dagr__store_destroy(&s);
  free(arena);
}

static void test_store_free_reset_used(void) {
  unsigned char *arena = arena_new((size_t)(2 * MIB));
  dagr__store s;
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)(2 * MIB), 2, NULL), DAGR_OK);
  uint64_t big, small, off;
  int got = -1;
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, (size_t)MIB, &big, &got), DAGR_OK);
  CU_EXPECT_INT(big, MIB);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, 1, &small, &got), DAGR_OK);
  CU_EXPECT_INT(got, 0);
  CU_EXPECT_INT(dagr__store_part_used(&s, 0), ALIGN);
  CU_EXPECT_INT(dagr__store_part_used(&s, 1), MIB);
  CU_EXPECT_INT(dagr__store_used(&s), MIB + ALIGN);
  CU_EXPECT_INT(s.peak_used, MIB + ALIGN);

  /* Offsets that are not live objects change nothing. */
  dagr__store_free(&s, 2 * MIB);
  dagr__store_free(&s, UINT64_MAX);
  dagr__store_free(&s, MIB + ALIGN);
  dagr__store_free(&s, small + 1);
  CU_EXPECT_INT(dagr__store_used(&s), MIB + ALIGN);

  /* Freeing returns the space to its own part: part 1 takes a whole-part object again. */
  dagr__store_free(&s, big);
  dagr__store_free(&s, big); /* a double free is ignored too */
  CU_EXPECT_INT(dagr__store_part_used(&s, 1), 0);
  CU_EXPECT_INT(dagr__store_part_used(&s, 0), ALIGN);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 1, (size_t)MIB, &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 1);
  CU_EXPECT_INT(off, MIB);
  dagr__store_free(&s, small);
  CU_EXPECT_INT(dagr__store_part_used(&s, 0), 0);
  CU_EXPECT_INT(dagr__store_used(&s), MIB);
  CU_EXPECT_INT(s.peak_used, MIB + ALIGN);
  CU_EXPECT_INT(dagr__store_part_peak(&s, 0), ALIGN);
  CU_EXPECT_INT(dagr__store_part_peak(&s, 1), MIB);

  /* Reset drops everything in every part; the peaks stay. */
  for (int i = 0; i < 100; i++) CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, 5000, &off, NULL), 0);
  CU_EXPECT_INT(dagr__store_reset(&s), DAGR_OK);
  CU_EXPECT_INT(dagr__store_used(&s), 0);
  CU_EXPECT_INT(dagr__store_part_used(&s, 0), 0);
  CU_EXPECT_INT(dagr__store_part_used(&s, 1), 0);
  CU_EXPECT_INT(s.peak_used, MIB + 100 * ROUND(5000));
  CU_EXPECT_INT(dagr__store_part_peak(&s, 0), 100 * ROUND(5000));
  for (int p = 0; p < 2; p++) {
    CU_EXPECT_INT(dagr__store_alloc_in(&s, p, (size_t)MIB, &off, &got), DAGR_OK);
    CU_EXPECT_INT(got, p);
    CU_EXPECT_INT(off, (uint64_t)p * MIB);
  }

  /* A reset that runs out of memory leaves the store as it was. */
  dagr__alloc_fail_after = 2; /* the second part's allocator */
  CU_EXPECT_INT(dagr__store_reset(&s), DAGR_ENOMEM);
  dagr__alloc_fail_after = -1;
  CU_EXPECT_INT(dagr__store_used(&s), 2 * MIB);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, 1, &off, NULL), DAGR_ESTORE_FULL);
  dagr__store_free(&s, MIB);
  CU_EXPECT_INT(dagr__store_part_used(&s, 1), 0);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, 1, &off, &got), DAGR_OK);
  CU_EXPECT_INT(got, 1);
  CU_EXPECT_INT(dagr__store_reset(&s), DAGR_OK);
  CU_EXPECT_INT(dagr__store_used(&s), 0);
  dagr__store_destroy(&s);
  dagr__store_destroy(&s); /* twice is harmless */
  free(arena);
}

static void test_store_one_part(void) {
  /* dagr__store_init is the single-part store the callers have always used. */
  unsigned char *arena = arena_new((size_t)MIB);
  dagr__store s;
  CU_EXPECT_INT(dagr__store_init(&s, arena, (size_t)MIB), DAGR_OK);
  CU_EXPECT_INT(dagr__store_nparts(&s), 1);
  CU_EXPECT_INT(part_off(&s, 0), 0);
  CU_EXPECT_INT(part_size(&s, 0), MIB);
  CU_ASSERT_PTR_EQUAL(s.base, arena);
  CU_EXPECT_INT(s.size, MIB);
  uint64_t a, b;
  CU_EXPECT_INT(dagr__store_alloc(&s, 100, &a), DAGR_OK);
  CU_EXPECT_INT(dagr__store_alloc(&s, 100, &b), DAGR_OK);
  CU_EXPECT_INT(a, 0);
  CU_EXPECT_INT(b, ROUND(100));
  CU_EXPECT_INT(dagr__store_alloc(&s, (size_t)MIB, &a), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__store_used(&s), 2 * ROUND(100));
  dagr__store_free(&s, 0);
  CU_EXPECT_INT(dagr__store_used(&s), ROUND(100));
  CU_EXPECT_INT(s.peak_used, 2 * ROUND(100));
  CU_EXPECT_INT(dagr__store_reset(&s), DAGR_OK);
  CU_EXPECT_INT(dagr__store_alloc(&s, (size_t)MIB, &a), DAGR_OK);
  dagr__store_destroy(&s);

  /* Below one block: no allocator, every request is full. An empty arena may have no base. */
  CU_EXPECT_INT(dagr__store_init(&s, arena, ALIGN - 1), DAGR_OK);
  CU_EXPECT_INT(dagr__store_alloc(&s, 1, &a), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__store_part_of(&s, 0), 0);
  dagr__store_free(&s, 0);
  CU_EXPECT_INT(dagr__store_reset(&s), DAGR_OK);
  dagr__store_destroy(&s);
  CU_EXPECT_INT(dagr__store_init_parts(&s, NULL, 0, 3, NULL), DAGR_OK);
  CU_EXPECT_INT(dagr__store_nparts(&s), 3);
  for (int p = 0; p < 3; p++) CU_EXPECT_INT(part_size(&s, p), 0);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 2, 1, &a, NULL), DAGR_ESTORE_FULL);
  CU_EXPECT_INT(dagr__store_part_of(&s, 0), -1);
  CU_EXPECT_INT(dagr__store_used(&s), 0);
  CU_EXPECT_INT(dagr__store_reset(&s), DAGR_OK);
  dagr__store_destroy(&s);
  free(arena);
}

static void test_store_bad_args(void) {
  unsigned char *arena = arena_new((size_t)MIB);
  dagr__store s;
  const double neg[] = {1, -1}, nan_w[] = {NAN, 1}, inf_w[] = {INFINITY, 1}, zero[] = {0, 0};
  CU_EXPECT_INT(dagr__store_init_parts(NULL, arena, (size_t)MIB, 1, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init(NULL, arena, (size_t)MIB), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init(&s, NULL, 1), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, NULL, (size_t)MIB, 2, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, 0, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, -1, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, 65, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, 2, neg), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, 2, nan_w), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, 2, inf_w), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, 2, zero), DAGR_EINVAL);
  /* A failed init leaves nothing to free. */
  CU_EXPECT_INT(dagr__store_nparts(&s), 0);
  uint64_t off = 0;
  size_t size = 0;
  CU_EXPECT_INT(dagr__store_alloc(&s, 1, &off), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_part_of(&s, 0), -1);
  dagr__store_destroy(&s);
  dagr__store_destroy(NULL);

  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, (size_t)MIB, 2, NULL), DAGR_OK);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, -1, 1, &off, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 2, 1, &off, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_alloc_in(&s, 0, 1, NULL, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_alloc_in(NULL, 0, 1, &off, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_part_range(&s, 2, &off, &size), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_part_range(&s, -1, &off, &size), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_part_range(&s, 0, NULL, &size), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_part_range(&s, 0, &off, NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_part_range(NULL, 0, &off, &size), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__store_part_of(&s, MIB), -1);
  CU_EXPECT_INT(dagr__store_part_of(&s, UINT64_MAX), -1);
  CU_EXPECT_INT(dagr__store_part_of(NULL, 0), -1);
  CU_EXPECT_INT(dagr__store_part_used(&s, 2), 0);
  CU_EXPECT_INT(dagr__store_part_used(&s, -1), 0);
  CU_EXPECT_INT(dagr__store_part_peak(&s, 2), 0);
  CU_EXPECT_INT(dagr__store_part_used(NULL, 0), 0);
  CU_EXPECT_INT(dagr__store_used(NULL), 0);
  CU_EXPECT_INT(dagr__store_nparts(NULL), 0);
  CU_EXPECT_INT(dagr__store_reset(NULL), DAGR_EINVAL);
  dagr__store_free(NULL, 0);
  CU_EXPECT_INT(dagr__store_used(&s), 0);
  dagr__store_destroy(&s);
  free(arena);
}

static void test_store_enomem(void) {
  /* Each k fails the k-th bookkeeping allocation of an init of 4 parts; every failure must free
   * what the parts before it made (valgrind checks) and leave an empty store. */
  unsigned char *arena = arena_new((size_t)(4 * MIB));
  dagr__store s;
  int injected = 0, k, rc = DAGR_ENOMEM;
  for (k = 0; k < 100 && rc == DAGR_ENOMEM; k++) {
    dagr__alloc_fail_after = k;
    rc = dagr__store_init_parts(&s, arena, (size_t)(4 * MIB), 4, NULL);
    if (rc == DAGR_ENOMEM) {
      injected++;
      CU_EXPECT_INT(dagr__store_nparts(&s), 0);
      dagr__store_destroy(&s);
    }
  }
  dagr__alloc_fail_after = -1;
  CU_EXPECT_INT(rc, DAGR_OK);
  CU_ASSERT(injected >= 4); /* at least one per part */
  uint64_t off;
  for (int p = 0; p < 4; p++) CU_EXPECT_INT(dagr__store_alloc_in(&s, p, (size_t)MIB, &off, 0), 0);
  dagr__store_destroy(&s);
  free(arena);
}

/* Threads allocate and free in their own part, writing each object's id over all of it and
 * checking it is intact before the free: two live objects that overlapped would overwrite each
 * other. Errors are counted, not asserted, since CUnit is not thread-safe. */
typedef struct {
  uint64_t off, len;
} live_obj;

typedef struct {
  dagr__store *s;
  int part, tid;
  size_t ops, max_live;
  int tight; /* parts too small: fallback and DAGR_ESTORE_FULL expected */
  live_obj *live;
  size_t nlive, fallbacks, full, errors;
} store_thread;

static void obj_fill(unsigned char *base, const live_obj *o, uint64_t id) {
  for (uint64_t i = 0; i + 8 <= o->len; i += 8) memcpy(base + o->off + i, &id, 8);
}

static int obj_intact(const unsigned char *base, const live_obj *o, uint64_t id) {
  for (uint64_t i = 0; i + 8 <= o->len; i += 8)
    if (memcmp(base + o->off + i, &id, 8) != 0) return 0;
  return 1;
}

static void *store_thread_main(void *arg) {
  store_thread *t = arg;
  uint64_t seed = 1000 + (uint64_t)t->tid;
  for (size_t op = 0; op < t->ops; op++) {
    if (t->nlive < t->max_live && (t->nlive == 0 || rng_next(&seed) % 100 < 55)) {
      size_t n = 1 + (size_t)(rng_next(&seed) % 4096);
      live_obj o;
      int got = -1;
      int rc = dagr__store_alloc_in(t->s, t->part, n, &o.off, &got);
      if (rc == DAGR_ESTORE_FULL && t->tight) {
        t->full++;
        continue;
      }
      o.len = ROUND(n);
      uint64_t po = 0;
      size_t ps = 0;
      int ok = rc == DAGR_OK && (got == t->part || t->tight) &&
               dagr__store_part_range(t->s, got, &po, &ps) == DAGR_OK && o.off >= po &&
               o.off + o.len <= po + ps && dagr__store_part_of(t->s, o.off) == got &&
               o.off % ALIGN == 0;
      if (!ok) {
        t->errors++;
        continue;
      }
      t->fallbacks += got != t->part;
      obj_fill(t->s->base, &o, o.off);
      t->live[t->nlive++] = o;
    } else {
      size_t i = (size_t)(rng_next(&seed) % t->nlive);
      if (!obj_intact(t->s->base, &t->live[i], t->live[i].off)) t->errors++;
      dagr__store_free(t->s, t->live[i].off);
      t->live[i] = t->live[--t->nlive];
    }
  }
  return NULL;
}

static int cmp_live(const void *a, const void *b) {
  const live_obj *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

static void store_threads(size_t arena_bytes, int tight) {
  enum { THREADS = 4, PARTS = 2 };
  size_t ops = env_count("DAGR_TEST_STORE_OPS", 20000), max_live = 200;
  unsigned char *arena = arena_new(arena_bytes);
  dagr__store s;
  CU_EXPECT_INT(dagr__store_init_parts(&s, arena, arena_bytes, PARTS, NULL), DAGR_OK);
  store_thread t[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    t[i] = (store_thread){
        .s = &s, .part = i % PARTS, .tid = i, .ops = ops, .max_live = max_live, .tight = tight};
    t[i].live = malloc(max_live * sizeof *t[i].live);
    CU_ASSERT_FATAL(t[i].live != NULL);
  }
  for (int i = 0; i < THREADS; i++)
    CU_ASSERT_FATAL(pthread_create(&th[i], NULL, store_thread_main, &t[i]) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

  /* The survivors of all threads, sorted: no two overlap, every one is intact, and the counts
   * add up per part. */
  live_obj all[THREADS * 200];
  size_t n = 0, fallbacks = 0, full = 0, per_part[PARTS] = {0}, total = 0;
  for (int i = 0; i < THREADS; i++) {
    CU_EXPECT_INT(t[i].errors, 0);
    fallbacks += t[i].fallbacks;
    full += t[i].full;
    for (size_t j = 0; j < t[i].nlive; j++) {
      CU_ASSERT(obj_intact(arena, &t[i].live[j], t[i].live[j].off));
      all[n++] = t[i].live[j];
    }
  }
  qsort(all, n, sizeof all[0], cmp_live);
  int overlaps = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && all[i - 1].off + all[i - 1].len > all[i].off) overlaps++;
    int p = dagr__store_part_of(&s, all[i].off);
    CU_ASSERT(p >= 0 && p < PARTS);
    if (p >= 0 && p < PARTS) per_part[p] += all[i].len;
    total += all[i].len;
  }
  CU_EXPECT_INT(overlaps, 0);
  for (int p = 0; p < PARTS; p++) CU_EXPECT_INT(dagr__store_part_used(&s, p), per_part[p]);
  CU_EXPECT_INT(dagr__store_used(&s), total);
  CU_ASSERT(s.peak_used >= total);
  CU_ASSERT(s.peak_used <= arena_bytes);
  if (tight) {
    CU_ASSERT(fallbacks > 0);
    CU_ASSERT(full > 0);
  } else {
    CU_EXPECT_INT(fallbacks, 0);
  }
  printf("\n    %d threads x %zu ops on %d parts: %zu fallbacks, %zu full, peak %zu KiB  ", THREADS,
         ops, PARTS, fallbacks, full, s.peak_used / 1024);
  for (size_t i = 0; i < n; i++) dagr__store_free(&s, all[i].off);
  CU_EXPECT_INT(dagr__store_used(&s), 0);
  /* Nothing leaked: each part takes one object of its whole size. */
  uint64_t off;
  for (int p = 0; p < PARTS; p++) {
    int got = -1;
    CU_EXPECT_INT(dagr__store_alloc_in(&s, p, part_size(&s, p), &off, &got), DAGR_OK);
    CU_EXPECT_INT(got, p);
  }
  for (int i = 0; i < THREADS; i++) free(t[i].live);
  dagr__store_destroy(&s);
  free(arena);
}

static void test_store_threads(void) {
  store_threads((size_t)(16 * MIB), 0);
}

/* Parts of 256 KiB against up to 200 live objects of up to 4 KiB per thread, two threads a part:
 * requests overflow into the other part and sometimes find no room at all. */
static void test_store_threads_tight(void) {
  store_threads((size_t)(512 * KIB), 1);
}

int main(void) {
  static const cu_test_def tests[] = {
      {"create arguments", test_create_args},
      {"capacity rounding", test_capacity_rounding},
      {"alignment of every offset", test_alignment},
      {"zero-size allocations", test_zero_size},
      {"exact fill then ESTORE_FULL", test_exact_fill},
      {"coalescing in many free orders", test_coalesce_orders},
      {"coalescing on both sides", test_coalesce_middle},
      {"good fit", test_good_fit},
      {"double free and bad offsets", test_bad_free},
      {"randomized stress with shadow model", test_stress},
      {"64 GiB arena, offsets above 4 GiB", test_huge_arena},
      {"timing of small alloc/free pairs", test_timing},
      {"no fragmentation after churn", test_fragmentation},
      {"injected bookkeeping failures", test_enomem},
      {"store: partition sizes and alignment", test_store_partition},
      {"store: alloc_in lands in the requested part", test_store_alloc_in},
      {"store: fallback to other parts, ESTORE_FULL", test_store_fallback},
      {"store: free, reset, used and peaks per part", test_store_free_reset_used},
      {"store: the one-part store of dagr__store_init", test_store_one_part},
      {"store: bad arguments", test_store_bad_args},
      {"store: injected failures during init", test_store_enomem},
      {"store: 4 threads on 2 parts, no overlap", test_store_threads},
      {"store: 4 threads on 2 small parts, fallback", test_store_threads_tight},
      {NULL, NULL},
  };
  return cu_run_suite("alloc", tests);
}
