/* test_alloc.c: unit tests of the arena allocator: fit, merging, errors, stress, speed, ENOMEM. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/alloc.h"
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
      {NULL, NULL},
  };
  return cu_run_suite("alloc", tests);
}
