/* test_chunks.c: unit tests of the chunk arithmetic against values from NumPy/dask semantics. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_util.h"
#include "array/chunks.h"

static char err[DAGR__ERRLEN];

/* Checks axis a of l has exactly the n extents in want, and consistent offsets. */
static void expect_axis(const dagr__ch_layout_t *l, int a, int64_t n, const int64_t *want,
                        int line) {
  if (l->nblocks[a] != n) {
    fprintf(stderr, "  line %d: axis %d has %lld blocks, expected %lld\n", line, a,
            (long long)l->nblocks[a], (long long)n);
    CU_FAIL("block count");
    return;
  }
  int64_t off = 0;
  for (int64_t b = 0; b < n; b++) {
    if (l->chunks[a][b] != want[b] || l->offsets[a][b] != off) {
      fprintf(stderr,
              "  line %d: axis %d block %lld: extent %lld offset %lld, expected %lld %lld\n", line,
              a, (long long)b, (long long)l->chunks[a][b], (long long)l->offsets[a][b],
              (long long)want[b], (long long)off);
      CU_FAIL("chunk extent");
      return;
    }
    off += want[b];
  }
  CU_EXPECT_INT(l->offsets[a][n], off);
  CU_EXPECT_INT(l->shape[a], off);
}
#define EXPECT_AXIS(l, a, ...)                                                                     \
  do {                                                                                             \
    static const int64_t w__[] = {__VA_ARGS__};                                                    \
    expect_axis((l), (a), (int64_t)(sizeof w__ / sizeof w__[0]), w__, __LINE__);                   \
  } while (0)

/* An axis of `count` blocks all of `size` (for auto results with many blocks). */
static void expect_uniform_axis(const dagr__ch_layout_t *l, int a, int64_t count, int64_t size,
                                int64_t last) {
  CU_EXPECT_INT(l->nblocks[a], count);
  if (l->nblocks[a] != count) return;
  int bad = 0;
  for (int64_t b = 0; b + 1 < count; b++) bad += l->chunks[a][b] != size;
  CU_EXPECT_INT(bad, 0);
  CU_EXPECT_INT(l->chunks[a][count - 1], last);
}

/* ---------------------------------------------------------------------------------------------
 * Normalize.
 * ------------------------------------------------------------------------------------------- */

static void test_uniform_ragged(void) {
  dagr__ch_layout_t l;
  int64_t shape[] = {2500}, sizes[] = {1000};
  CU_EXPECT_INT(dagr__ch_uniform(1, shape, sizes, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 1000, 1000, 500);
  CU_EXPECT_INT(l.offsets[0][2], 2000);
  dagr__ch_layout_free(&l);

  int64_t shape2[] = {10, 7}, sizes2[] = {4, 3};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape2, sizes2, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 4, 4, 2);
  EXPECT_AXIS(&l, 1, 3, 3, 1);
  int64_t n;
  CU_EXPECT_INT(dagr__ch_total_blocks(&l, &n), DAGR_OK);
  CU_EXPECT_INT(n, 9);
  CU_EXPECT_INT(dagr__ch_total_elems(&l, &n), DAGR_OK);
  CU_EXPECT_INT(n, 70);
  dagr__ch_layout_free(&l);
  dagr__ch_layout_free(&l); /* freeing twice is harmless: free zeroes */
}

static void test_whole_axis_and_oversized(void) {
  dagr__ch_layout_t l;
  int64_t shape[] = {10, 7}, sizes[] = {-1, 100};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, sizes, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 10);
  EXPECT_AXIS(&l, 1, 7); /* a chunk larger than the axis is clamped, as dask does */
  dagr__ch_layout_free(&l);

  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  spec.axis[0].kind = DAGR__CH_WHOLE;
  spec.axis[1].kind = DAGR__CH_SIZE;
  spec.axis[1].size = 2;
  CU_EXPECT_INT(dagr__ch_normalize(2, shape, &spec, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 10);
  EXPECT_AXIS(&l, 1, 2, 2, 2, 1);
  dagr__ch_layout_free(&l);
}

static void test_explicit_lists(void) {
  dagr__ch_layout_t l;
  int64_t shape[] = {10, 5};
  static const int64_t c0[] = {3, 3, 4}, c1[] = {5};
  const int64_t *lists[] = {c0, c1};
  int64_t n[] = {3, 1};
  CU_EXPECT_INT(dagr__ch_from_lists(2, shape, lists, n, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 3, 3, 4);
  EXPECT_AXIS(&l, 1, 5);
  dagr__ch_layout_free(&l);

  static const int64_t short0[] = {3, 3};
  const int64_t *bad1[] = {c0, short0};
  int64_t nb1[] = {3, 2};
  CU_EXPECT_INT(dagr__ch_from_lists(2, shape, bad1, nb1, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1");
  CU_EXPECT_STR_CONTAINS(err, "sum to 6");
  CU_EXPECT_STR_CONTAINS(err, "length is 5");
  CU_EXPECT_INT(l.ndim, 0); /* failure leaves the output empty */
  dagr__ch_layout_free(&l);

  static const int64_t zero0[] = {3, 0, 7};
  const int64_t *bad2[] = {zero0, c1};
  CU_EXPECT_INT(dagr__ch_from_lists(2, shape, bad2, n, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 0");
  CU_EXPECT_STR_CONTAINS(err, "positive");

  static const int64_t neg0[] = {12, -2};
  const int64_t *bad3[] = {neg0, c1};
  int64_t nb3[] = {2, 1};
  CU_EXPECT_INT(dagr__ch_from_lists(2, shape, bad3, nb3, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 0");
}

static void test_normalize_errors(void) {
  dagr__ch_layout_t l;
  int64_t shape9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, sizes9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CU_EXPECT_INT(dagr__ch_uniform(9, shape9, sizes9, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "ndim 9");

  int64_t neg[] = {4, -3}, s2[] = {2, 2};
  CU_EXPECT_INT(dagr__ch_uniform(2, neg, s2, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1 has negative length -3");

  int64_t shape[] = {4, 6}, zero[] = {2, 0}, minus2[] = {-2, 2};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, zero, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1: chunk size 0");
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, minus2, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 0: chunk size -2");

  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  spec.axis[1].kind = 42;
  CU_EXPECT_INT(dagr__ch_normalize(2, shape, &spec, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1: unknown");

  /* Auto needs an element size, and storage chunks must be positive. */
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 0, 0, NULL, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "itemsize");
  int64_t st[] = {2, 0};
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 8, 0, st, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1: storage");

  /* Element counts that overflow int64 are refused up front. */
  int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40}, whole[] = {-1, -1};
  CU_EXPECT_INT(dagr__ch_uniform(2, huge, whole, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "overflows");
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, NULL, &l, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, s2, NULL, err, sizeof err), DAGR_EINVAL);
}

static void test_zero_length_axis(void) {
  dagr__ch_layout_t l;
  int64_t shape[] = {0, 5}, sizes[] = {2, 2};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, sizes, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 0); /* dask: ((0,), (2, 2, 1)) */
  EXPECT_AXIS(&l, 1, 2, 2, 1);
  int64_t n;
  dagr__ch_total_blocks(&l, &n);
  CU_EXPECT_INT(n, 3);
  dagr__ch_total_elems(&l, &n);
  CU_EXPECT_INT(n, 0);
  dagr__ch_layout_free(&l);

  /* Auto on an empty axis, and a (0) list, both give the single empty block. */
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 8, 0, NULL, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 0);
  EXPECT_AXIS(&l, 1, 5);
  dagr__ch_layout_free(&l);
  static const int64_t z[] = {0}, f[] = {5};
  const int64_t *lists[] = {z, f};
  int64_t nl[] = {1, 1};
  CU_EXPECT_INT(dagr__ch_from_lists(2, shape, lists, nl, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 0);
  dagr__ch_layout_free(&l);
}

static void test_zero_d(void) {
  dagr__ch_layout_t l;
  CU_EXPECT_INT(dagr__ch_uniform(0, NULL, NULL, &l, err, sizeof err), DAGR_OK);
  int64_t n = -1, id = -1;
  dagr__ch_total_blocks(&l, &n);
  CU_EXPECT_INT(n, 1);
  dagr__ch_total_elems(&l, &n);
  CU_EXPECT_INT(n, 1);
  CU_EXPECT_INT(dagr__ch_block_id(&l, NULL, &id, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(id, 0);
  CU_EXPECT_INT(dagr__ch_block_nelems(&l, NULL, &n, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(n, 1);
  CU_EXPECT_INT(dagr__ch_block_index(&l, 1, NULL, err, sizeof err), DAGR_EINVAL);
  dagr__ch_layout_free(&l);
  CU_EXPECT_INT(dagr__ch_auto(0, NULL, 8, 0, NULL, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(l.ndim, 0);
  dagr__ch_layout_free(&l);
}

static void test_block_ids_3d(void) {
  dagr__ch_layout_t l;
  int64_t shape[] = {5, 7, 3}, sizes[] = {2, 3, 2};
  CU_EXPECT_INT(dagr__ch_uniform(3, shape, sizes, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(l.nblocks[0], 3);
  CU_EXPECT_INT(l.nblocks[1], 3);
  CU_EXPECT_INT(l.nblocks[2], 2);
  int64_t idx[] = {1, 2, 1}, id = -1, back[3];
  CU_EXPECT_INT(dagr__ch_block_id(&l, idx, &id, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(id, 11); /* (1*3 + 2)*2 + 1, C order as np.ravel_multi_index */
  int bad = 0;
  for (int64_t k = 0; k < 18; k++) {
    int64_t r;
    if (dagr__ch_block_index(&l, k, back, err, sizeof err) ||
        dagr__ch_block_id(&l, back, &r, err, sizeof err) || r != k)
      bad++;
  }
  CU_EXPECT_INT(bad, 0);
  dagr__ch_block_index(&l, 17, back, err, sizeof err);
  CU_EXPECT_INT(back[0], 2);
  CU_EXPECT_INT(back[1], 2);
  CU_EXPECT_INT(back[2], 1);

  int64_t last[] = {2, 2, 1}, off[3], cnt[3], n;
  CU_EXPECT_INT(dagr__ch_block_box(&l, last, off, cnt, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(off[0], 4);
  CU_EXPECT_INT(off[1], 6);
  CU_EXPECT_INT(off[2], 2);
  CU_EXPECT_INT(cnt[0], 1);
  CU_EXPECT_INT(cnt[1], 1);
  CU_EXPECT_INT(cnt[2], 1);
  int64_t first[] = {0, 0, 0};
  CU_EXPECT_INT(dagr__ch_block_nelems(&l, first, &n, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(n, 12);

  int64_t oob[] = {0, 3, 0};
  CU_EXPECT_INT(dagr__ch_block_id(&l, oob, &id, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1 with 3 blocks");
  CU_EXPECT_INT(dagr__ch_block_index(&l, 18, back, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "18 blocks");
  CU_EXPECT_INT(dagr__ch_block_index(&l, -1, back, err, sizeof err), DAGR_EINVAL);
  dagr__ch_layout_free(&l);
}

static void test_locate_and_copy(void) {
  dagr__ch_layout_t l, c;
  int64_t shape[] = {10};
  static const int64_t c0[] = {1, 4, 5};
  const int64_t *lists[] = {c0};
  int64_t n[] = {3};
  CU_EXPECT_INT(dagr__ch_from_lists(1, shape, lists, n, &l, err, sizeof err), DAGR_OK);
  static const int64_t want[] = {0, 1, 1, 1, 1, 2, 2, 2, 2, 2};
  int bad = 0;
  for (int64_t p = 0; p < 10; p++) {
    int64_t b;
    if (dagr__ch_locate(&l, 0, p, &b, err, sizeof err) || b != want[p]) bad++;
  }
  CU_EXPECT_INT(bad, 0);
  int64_t b;
  CU_EXPECT_INT(dagr__ch_locate(&l, 0, 10, &b, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 0 with size 10");
  CU_EXPECT_INT(dagr__ch_locate(&l, 1, 0, &b, err, sizeof err), DAGR_EINVAL);

  int eq = 0;
  CU_EXPECT_INT(dagr__ch_layout_copy(&l, &c, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_layout_equal(&l, &c, &eq), DAGR_OK);
  CU_EXPECT_INT(eq, 1);
  c.chunks[0][0] = 2; /* the copy is deep: changing it leaves the original */
  c.chunks[0][1] = 3;
  CU_EXPECT_INT(dagr__ch_layout_equal(&l, &c, &eq), DAGR_OK);
  CU_EXPECT_INT(eq, 0);
  CU_EXPECT_INT(l.chunks[0][0], 1);
  dagr__ch_layout_free(&c);
  dagr__ch_layout_free(&l);
}

/* ---------------------------------------------------------------------------------------------
 * Auto chunks. Expected values follow dask's auto_chunks with array.chunk-size = 128 MiB.
 * ------------------------------------------------------------------------------------------- */

static void test_auto_hdf5_f8(void) {
  dagr__ch_layout_t l;
  /* 1024x1024 f8 storage chunks are 8 MiB: 16 of them (4x4) make the 128 MiB target. */
  int64_t shape[] = {8192, 8192}, st[] = {1024, 1024};
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 8, 0, st, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 4096, 4096);
  EXPECT_AXIS(&l, 1, 4096, 4096);
  dagr__ch_layout_free(&l);

  /* Not divisible: axis 1 is shorter than the proposal and is taken whole; axis 0 then grows
   * into the remaining budget, snapped to multiples of 1000 (dask: (5000, 3000)). */
  int64_t shape2[] = {10000, 3000}, st2[] = {1000, 1000};
  CU_EXPECT_INT(dagr__ch_auto(2, shape2, 8, 0, st2, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 5000, 5000);
  EXPECT_AXIS(&l, 1, 3000);
  dagr__ch_layout_free(&l);

  /* float32 with small storage chunks: dask gives (6700, 5000). */
  int64_t shape3[] = {20000, 5000}, st3[] = {100, 100};
  CU_EXPECT_INT(dagr__ch_auto(2, shape3, 4, 0, st3, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 6700, 6700, 6600);
  EXPECT_AXIS(&l, 1, 5000);
  dagr__ch_layout_free(&l);
}

static void test_auto_hdf5_u8_and_3d(void) {
  dagr__ch_layout_t l;
  /* uint8: the whole 64 MiB array is under the target. */
  int64_t shape[] = {8192, 8192}, st[] = {1024, 1024};
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 1, 0, st, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 8192);
  EXPECT_AXIS(&l, 1, 8192);
  dagr__ch_layout_free(&l);

  /* uint8 32768^2: sqrt(128) * 1024 = 11585 -> 11 storage chunks (dask: 11264). */
  int64_t shape2[] = {32768, 32768};
  CU_EXPECT_INT(dagr__ch_auto(2, shape2, 1, 0, st, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 11264, 11264, 10240);
  EXPECT_AXIS(&l, 1, 11264, 11264, 10240);
  dagr__ch_layout_free(&l);

  /* 3-D: 64^3 f8 chunks are 2 MiB, 4x4x4 of them make 128 MiB. */
  int64_t shape3[] = {512, 512, 512}, st3[] = {64, 64, 64};
  CU_EXPECT_INT(dagr__ch_auto(3, shape3, 8, 0, st3, &l, err, sizeof err), DAGR_OK);
  for (int a = 0; a < 3; a++) EXPECT_AXIS(&l, a, 256, 256);
  dagr__ch_layout_free(&l);
}

static void test_auto_hdf5_edge_cases(void) {
  dagr__ch_layout_t l;
  /* Storage chunks larger than the target are never split (dask would give 4096). */
  int64_t shape[] = {100000, 100000}, st[] = {8192, 8192};
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 8, 0, st, &l, err, sizeof err), DAGR_OK);
  expect_uniform_axis(&l, 0, 13, 8192, 100000 - 12 * 8192);
  expect_uniform_axis(&l, 1, 13, 8192, 100000 - 12 * 8192);
  dagr__ch_layout_free(&l);

  /* Storage chunk 1 carries no preference; both axes end up whole (dask agrees). */
  int64_t shape2[] = {100, 100000}, st2[] = {1, 1000};
  CU_EXPECT_INT(dagr__ch_auto(2, shape2, 8, 0, st2, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 100);
  EXPECT_AXIS(&l, 1, 100000);
  dagr__ch_layout_free(&l);

  /* A storage chunk spanning the axis (extendable datasets allow larger) means the whole axis;
   * the other axis fills the (smaller) target in multiples of its storage chunk. */
  int64_t shape3[] = {50, 4000}, st3[] = {64, 100};
  CU_EXPECT_INT(dagr__ch_auto(2, shape3, 8, 50 * 1000 * 8, st3, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 50);
  EXPECT_AXIS(&l, 1, 1000, 1000, 1000, 1000);
  dagr__ch_layout_free(&l);
}

static void test_auto_no_storage(void) {
  dagr__ch_layout_t l;
  int64_t shape[] = {8192, 8192};
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 8, 0, NULL, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 4096, 4096);
  EXPECT_AXIS(&l, 1, 4096, 4096);
  dagr__ch_layout_free(&l);

  /* 4096 rounds to the largest divisor of 10000 in [2048, 4096]: 2500 (no ragged edge). */
  int64_t shape2[] = {10000, 10000};
  CU_EXPECT_INT(dagr__ch_auto(2, shape2, 8, 0, NULL, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 2500, 2500, 2500, 2500);
  dagr__ch_layout_free(&l);

  /* uint8 8192^2 fits whole (64 MiB), and the small axis is taken whole first. */
  CU_EXPECT_INT(dagr__ch_auto(2, shape, 1, 0, NULL, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 8192);
  EXPECT_AXIS(&l, 1, 8192);
  dagr__ch_layout_free(&l);

  /* 1-D: 2^24 elements rounds to the divisor 12500000 of 10^8. */
  int64_t shape3[] = {100000000};
  CU_EXPECT_INT(dagr__ch_auto(1, shape3, 8, 0, NULL, &l, err, sizeof err), DAGR_OK);
  expect_uniform_axis(&l, 0, 8, 12500000, 12500000);
  dagr__ch_layout_free(&l);

  /* 10007 is prime: no divisor in [500, 1000], so 1000 with a ragged 7. */
  int64_t shape4[] = {10007};
  CU_EXPECT_INT(dagr__ch_auto(1, shape4, 8, 8000, NULL, &l, err, sizeof err), DAGR_OK);
  expect_uniform_axis(&l, 0, 11, 1000, 7);
  dagr__ch_layout_free(&l);

  /* 3-D 1000^3 f8: 2^24^(1/3) = 256 -> divisor 250 (dask: (250, 250, 250)). */
  int64_t shape5[] = {1000, 1000, 1000};
  CU_EXPECT_INT(dagr__ch_auto(3, shape5, 8, 0, NULL, &l, err, sizeof err), DAGR_OK);
  for (int a = 0; a < 3; a++) expect_uniform_axis(&l, a, 4, 250, 250);
  dagr__ch_layout_free(&l);
}

static void test_auto_mixed_with_fixed(void) {
  dagr__ch_layout_t l;
  /* A fixed axis of 1000 leaves 16777 elements for the auto axis: divisor 15625 of 10^6
   * (dask: (1000, 15625)). */
  int64_t shape[] = {1000, 1000000};
  dagr__ch_spec_t spec;
  dagr__ch_spec_init(&spec);
  spec.axis[0].kind = DAGR__CH_SIZE;
  spec.axis[0].size = 1000;
  spec.itemsize = 8;
  CU_EXPECT_INT(dagr__ch_normalize(2, shape, &spec, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 1000);
  expect_uniform_axis(&l, 1, 64, 15625, 15625);
  dagr__ch_layout_free(&l);

  /* Fixed list + auto with storage chunks: the list's largest chunk (600) fixes the budget. */
  static const int64_t c0[] = {400, 600};
  int64_t shape2[] = {1000, 100000}, st2[] = {100, 1000};
  dagr__ch_spec_init(&spec);
  spec.axis[0].kind = DAGR__CH_LIST;
  spec.axis[0].list = c0;
  spec.axis[0].n = 2;
  spec.itemsize = 8;
  spec.target_bytes = 600 * 8000 * 8;
  spec.storage_chunks = st2;
  CU_EXPECT_INT(dagr__ch_normalize(2, shape2, &spec, &l, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&l, 0, 400, 600);
  expect_uniform_axis(&l, 1, 13, 8000, 4000);
  dagr__ch_layout_free(&l);
}

/* ---------------------------------------------------------------------------------------------
 * Broadcasting and unification.
 * ------------------------------------------------------------------------------------------- */

static void test_broadcast_shapes(void) {
  int64_t a[] = {5, 1, 3}, b[] = {4, 3}, out[DAGR_MAX_NDIM];
  const int64_t *shapes[] = {a, b};
  int nd[] = {3, 2}, ond = -1;
  CU_EXPECT_INT(dagr__ch_broadcast_shapes(2, nd, shapes, NULL, &ond, out, err, sizeof err),
                DAGR_OK);
  CU_EXPECT_INT(ond, 3);
  CU_EXPECT_INT(out[0], 5);
  CU_EXPECT_INT(out[1], 4);
  CU_EXPECT_INT(out[2], 3);

  int64_t c[] = {1}, d[] = {2, 1}, e[] = {3, 1, 1};
  const int64_t *three[] = {c, d, e};
  int nd3[] = {1, 2, 3};
  CU_EXPECT_INT(dagr__ch_broadcast_shapes(3, nd3, three, NULL, &ond, out, err, sizeof err),
                DAGR_OK);
  CU_EXPECT_INT(ond, 3);
  CU_EXPECT_INT(out[0], 3);
  CU_EXPECT_INT(out[1], 2);
  CU_EXPECT_INT(out[2], 1);

  /* A 0-d scalar broadcasts against anything; length 0 wins over length 1. */
  int64_t f[] = {2, 3};
  const int64_t *sc[] = {NULL, f};
  int ndsc[] = {0, 2};
  CU_EXPECT_INT(dagr__ch_broadcast_shapes(2, ndsc, sc, NULL, &ond, out, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(ond, 2);
  CU_EXPECT_INT(out[1], 3);
  int64_t z[] = {0}, one[] = {1};
  const int64_t *zs[] = {z, one};
  int ndz[] = {1, 1};
  CU_EXPECT_INT(dagr__ch_broadcast_shapes(2, ndz, zs, NULL, &ond, out, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(out[0], 0);
}

static void test_broadcast_mismatch(void) {
  int64_t a[] = {5, 2, 3}, b[] = {4, 3}, out[DAGR_MAX_NDIM];
  const int64_t *shapes[] = {a, b};
  const char *names[] = {"x", "y"};
  int nd[] = {3, 2}, ond;
  CU_EXPECT_INT(dagr__ch_broadcast_shapes(2, nd, shapes, names, &ond, out, err, sizeof err),
                DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "x with shape (5,2,3)");
  CU_EXPECT_STR_CONTAINS(err, "y with shape (4,3)");
  CU_EXPECT_STR_CONTAINS(err, "axis 1");
  CU_EXPECT_STR_CONTAINS(err, "length 2");

  /* Unnamed operands are numbered; the first operand that set the length is named. */
  int64_t c[] = {3}, d[] = {1, 3}, e[] = {2, 4};
  const int64_t *three[] = {c, d, e};
  int nd3[] = {1, 2, 2};
  CU_EXPECT_INT(dagr__ch_broadcast_shapes(3, nd3, three, NULL, &ond, out, err, sizeof err),
                DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "operand 0 with shape (3)");
  CU_EXPECT_STR_CONTAINS(err, "operand 2 with shape (2,4)");
  CU_EXPECT_STR_CONTAINS(err, "axis 1");
  int64_t zero[] = {0}, five[] = {5};
  const int64_t *zs[] = {zero, five};
  int ndz[] = {1, 1};
  CU_EXPECT_INT(dagr__ch_broadcast_shapes(2, ndz, zs, NULL, &ond, out, err, sizeof err),
                DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 0");
}

static void test_unify(void) {
  dagr__ch_layout_t A, B, C, U, opB, opC;
  static const int64_t a0[] = {4, 4, 2}, a1[] = {3, 3}, b0[] = {1}, b1[] = {2, 2, 2}, c0[] = {5, 5},
                       c1[] = {1};
  int64_t sa[] = {10, 6}, sb[] = {1, 6}, sc[] = {10, 1};
  const int64_t *la[] = {a0, a1}, *lb[] = {b0, b1}, *lc[] = {c0, c1};
  int64_t na[] = {3, 2}, nb[] = {1, 3}, nc[] = {2, 1};
  CU_EXPECT_INT(dagr__ch_from_lists(2, sa, la, na, &A, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_from_lists(2, sb, lb, nb, &B, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_from_lists(2, sc, lc, nc, &C, err, sizeof err), DAGR_OK);
  const dagr__ch_layout_t *ops[] = {&A, &B, &C};
  CU_EXPECT_INT(dagr__ch_unify(3, ops, NULL, &U, err, sizeof err), DAGR_OK);
  /* boundaries {0,4,8,10} U {0,5,10} and {0,3,6} U {0,2,4,6} */
  EXPECT_AXIS(&U, 0, 4, 1, 3, 2);
  EXPECT_AXIS(&U, 1, 2, 1, 1, 2);

  CU_EXPECT_INT(dagr__ch_unify_operand(&U, &B, &opB, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&opB, 0, 1);
  EXPECT_AXIS(&opB, 1, 2, 1, 1, 2);
  CU_EXPECT_INT(dagr__ch_unify_operand(&U, &C, &opC, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&opC, 0, 4, 1, 3, 2);
  EXPECT_AXIS(&opC, 1, 1);

  int64_t out_idx[] = {2, 3}, op_idx[2] = {-1, -1};
  CU_EXPECT_INT(dagr__ch_broadcast_block(&U, &opC, out_idx, op_idx, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(op_idx[0], 2);
  CU_EXPECT_INT(op_idx[1], 0);
  CU_EXPECT_INT(dagr__ch_broadcast_block(&U, &opB, out_idx, op_idx, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(op_idx[0], 0);
  CU_EXPECT_INT(op_idx[1], 3);
  /* The operand's original chunks are not the unified ones: refused. */
  CU_EXPECT_INT(dagr__ch_broadcast_block(&U, &A, out_idx, op_idx, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "not unified");

  /* Lower-rank operand: trailing axes line up. */
  dagr__ch_layout_t D, opD;
  int64_t sd[] = {6}, szd[] = {3};
  CU_EXPECT_INT(dagr__ch_uniform(1, sd, szd, &D, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_unify_operand(&U, &D, &opD, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&opD, 0, 2, 1, 1, 2);
  int64_t d_idx[1];
  CU_EXPECT_INT(dagr__ch_broadcast_block(&U, &opD, out_idx, d_idx, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(d_idx[0], 3);

  dagr__ch_layout_t *all[] = {&A, &B, &C, &U, &opB, &opC, &D, &opD};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dagr__ch_layout_free(all[i]);
}

static void test_unify_ones_and_errors(void) {
  dagr__ch_layout_t A, B, U;
  int64_t s[] = {1, 4}, ca[] = {1, 2}, cb[] = {1, 4};
  CU_EXPECT_INT(dagr__ch_uniform(2, s, ca, &A, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_uniform(2, s, cb, &B, err, sizeof err), DAGR_OK);
  const dagr__ch_layout_t *ops[] = {&A, &B};
  CU_EXPECT_INT(dagr__ch_unify(2, ops, NULL, &U, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&U, 0, 1);
  EXPECT_AXIS(&U, 1, 2, 2);
  dagr__ch_layout_free(&U);
  dagr__ch_layout_free(&B);

  int64_t s2[] = {3, 4};
  CU_EXPECT_INT(dagr__ch_uniform(2, s2, cb, &B, err, sizeof err), DAGR_OK);
  int64_t s3[] = {5};
  dagr__ch_layout_t C;
  CU_EXPECT_INT(dagr__ch_uniform(1, s3, cb, &C, err, sizeof err), DAGR_OK);
  const dagr__ch_layout_t *bad[] = {&B, &C};
  const char *names[] = {"a", "b"};
  CU_EXPECT_INT(dagr__ch_unify(2, bad, names, &U, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "a with shape (3,4)");
  CU_EXPECT_STR_CONTAINS(err, "b with shape (5)");
  CU_EXPECT_INT(U.ndim, 0);
  dagr__ch_layout_free(&A);
  dagr__ch_layout_free(&B);
  dagr__ch_layout_free(&C);
}

/* ---------------------------------------------------------------------------------------------
 * Slicing.
 * ------------------------------------------------------------------------------------------- */

static dagr__ch_index_t S(int hs, int64_t s, int he, int64_t e, int hp, int64_t p) {
  dagr__ch_index_t ix = {0};
  ix.kind = DAGR__CH_IDX_SLICE;
  ix.has_start = hs;
  ix.start = s;
  ix.has_stop = he;
  ix.stop = e;
  ix.has_step = hp;
  ix.step = p;
  return ix;
}
static dagr__ch_index_t I(int64_t v) {
  dagr__ch_index_t ix = {0};
  ix.kind = DAGR__CH_IDX_INT;
  ix.value = v;
  return ix;
}
#define ALL S(0, 0, 0, 0, 0, 0)

static void expect_run(const dagr__ch_run_t *r, int64_t block, int64_t start, int64_t step,
                       int64_t count, int line) {
  if (r->block != block || r->start != start || r->step != step || r->count != count) {
    fprintf(stderr, "  line %d: run {%lld,%lld,%lld,%lld}, expected {%lld,%lld,%lld,%lld}\n", line,
            (long long)r->block, (long long)r->start, (long long)r->step, (long long)r->count,
            (long long)block, (long long)start, (long long)step, (long long)count);
    CU_FAIL("slice run");
  }
}
#define EXPECT_RUN(r, ...) expect_run((r), __VA_ARGS__, __LINE__)

/* 10 elements in chunks (4, 4, 2). */
static void make_1d(dagr__ch_layout_t *l) {
  int64_t shape[] = {10}, size[] = {4};
  CU_EXPECT_INT(dagr__ch_uniform(1, shape, size, l, err, sizeof err), DAGR_OK);
}

static void test_slice_positive_step(void) {
  dagr__ch_layout_t l;
  dagr__ch_slice_plan_t p;
  make_1d(&l);
  dagr__ch_index_t ix = S(1, 1, 1, 9, 1, 2); /* x[1:9:2] -> 1,3,5,7 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.ndim, 1);
  EXPECT_AXIS(&p.out, 0, 2, 2);
  EXPECT_RUN(&p.runs[0][0], 0, 1, 2, 2);
  EXPECT_RUN(&p.runs[0][1], 1, 1, 2, 2);
  dagr__ch_slice_plan_free(&p);

  ix = S(1, -3, 0, 0, 0, 0); /* x[-3:] -> 7,8,9 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 1, 2);
  EXPECT_RUN(&p.runs[0][0], 1, 3, 1, 1);
  EXPECT_RUN(&p.runs[0][1], 2, 0, 1, 2);
  dagr__ch_slice_plan_free(&p);

  ix = S(1, -100, 1, 100, 0, 0); /* clamped to the whole axis, chunks kept */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 4, 4, 2);
  dagr__ch_slice_plan_free(&p);

  ix = S(0, 0, 0, 0, 1, 5); /* x[::5] -> 0,5: one element in each of two blocks */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 1, 1);
  EXPECT_RUN(&p.runs[0][1], 1, 1, 5, 1);
  dagr__ch_slice_plan_free(&p);
  dagr__ch_layout_free(&l);
}

static void test_slice_negative_step(void) {
  dagr__ch_layout_t l;
  dagr__ch_slice_plan_t p;
  make_1d(&l);
  dagr__ch_index_t ix = S(0, 0, 0, 0, 1, -1); /* x[::-1] */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 2, 4, 4);
  EXPECT_RUN(&p.runs[0][0], 2, 1, -1, 2);
  EXPECT_RUN(&p.runs[0][1], 1, 3, -1, 4);
  EXPECT_RUN(&p.runs[0][2], 0, 3, -1, 4);
  CU_EXPECT_INT(p.start[0], 9);
  CU_EXPECT_INT(p.count[0], 10);
  dagr__ch_slice_plan_free(&p);

  ix = S(1, 8, 1, 1, 1, -3); /* x[8:1:-3] -> 8,5,2 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 1, 1, 1);
  EXPECT_RUN(&p.runs[0][0], 2, 0, -3, 1);
  EXPECT_RUN(&p.runs[0][1], 1, 1, -3, 1);
  EXPECT_RUN(&p.runs[0][2], 0, 2, -3, 1);
  dagr__ch_slice_plan_free(&p);

  ix = S(0, 0, 0, 0, 1, -2); /* x[::-2] -> 9,7,5,3,1 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 1, 2, 2);
  EXPECT_RUN(&p.runs[0][0], 2, 1, -2, 1);
  EXPECT_RUN(&p.runs[0][1], 1, 3, -2, 2);
  EXPECT_RUN(&p.runs[0][2], 0, 3, -2, 2);
  dagr__ch_slice_plan_free(&p);

  ix = S(1, -2, 1, -8, 1, -1); /* x[-2:-8:-1] -> 8,7,6,5,4,3 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 1, 4, 1);
  EXPECT_RUN(&p.runs[0][2], 0, 3, -1, 1);
  dagr__ch_slice_plan_free(&p);

  ix = S(1, 100, 1, -100, 1, -4); /* x[100:-100:-4] -> 9,5,1 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.shape[0], 3);
  CU_EXPECT_INT(p.start[0], 9);
  dagr__ch_slice_plan_free(&p);
  dagr__ch_layout_free(&l);
}

static void test_slice_empty(void) {
  dagr__ch_layout_t l;
  dagr__ch_slice_plan_t p;
  make_1d(&l);
  const dagr__ch_index_t cases[] = {
      S(1, 5, 1, 2, 0, 0),   /* x[5:2] */
      S(1, 2, 1, 5, 1, -1),  /* x[2:5:-1] */
      S(1, 10, 0, 0, 0, 0),  /* x[10:] */
      S(0, 0, 1, -10, 0, 0), /* x[:-10] */
      S(1, -1, 1, -1, 0, 0), /* x[-1:-1] */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    CU_EXPECT_INT(dagr__ch_slice(&l, &cases[k], 1, &p, err, sizeof err), DAGR_OK);
    CU_EXPECT_INT(p.out.shape[0], 0);
    EXPECT_AXIS(&p.out, 0, 0); /* one empty block, as dask's (0,) */
    int64_t oi[] = {0}, ii[1] = {-1}, cnt[1] = {-1};
    CU_EXPECT_INT(dagr__ch_slice_block(&p, oi, ii, NULL, NULL, cnt, err, sizeof err), DAGR_OK);
    CU_EXPECT_INT(ii[0], 0);
    CU_EXPECT_INT(cnt[0], 0);
    dagr__ch_slice_plan_free(&p);
  }
  /* Reversed bounds with a negative step are not empty: x[5:2:-1] keeps 5,4 | 3. */
  dagr__ch_index_t ix = S(1, 5, 1, 2, 1, -1);
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 2, 1);
  EXPECT_RUN(&p.runs[0][0], 1, 1, -1, 2);
  EXPECT_RUN(&p.runs[0][1], 0, 3, -1, 1);
  dagr__ch_slice_plan_free(&p);
  dagr__ch_layout_free(&l);
}

static void test_slice_int_drops_axis(void) {
  dagr__ch_layout_t l;
  dagr__ch_slice_plan_t p;
  int64_t shape[] = {10, 6}, sizes[] = {4, 3};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, sizes, &l, err, sizeof err), DAGR_OK);
  dagr__ch_index_t ix[] = {I(-1), S(1, 1, 1, 5, 0, 0)}; /* x[-1, 1:5] */
  CU_EXPECT_INT(dagr__ch_slice(&l, ix, 2, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.ndim, 1);
  CU_EXPECT_INT(p.out_axis[0], -1);
  CU_EXPECT_INT(p.out_axis[1], 0);
  CU_EXPECT_INT(p.is_int[0], 1);
  EXPECT_AXIS(&p.out, 0, 2, 2);
  int64_t oi[] = {1}, ii[2], st[2], sp[2], cn[2];
  CU_EXPECT_INT(dagr__ch_slice_block(&p, oi, ii, st, sp, cn, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(ii[0], 2); /* element 9 lives in block 2 at local 1 */
  CU_EXPECT_INT(st[0], 1);
  CU_EXPECT_INT(cn[0], 1);
  CU_EXPECT_INT(ii[1], 1); /* elements 3,4 are block 1's first two */
  CU_EXPECT_INT(st[1], 0);
  CU_EXPECT_INT(sp[1], 1);
  CU_EXPECT_INT(cn[1], 2);
  int64_t bad_oi[] = {2};
  CU_EXPECT_INT(dagr__ch_slice_block(&p, bad_oi, ii, st, sp, cn, err, sizeof err), DAGR_EINVAL);
  dagr__ch_slice_plan_free(&p);

  /* Both axes indexed: a 0-d result with one block. */
  dagr__ch_index_t both[] = {I(3), I(-6)};
  CU_EXPECT_INT(dagr__ch_slice(&l, both, 2, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.ndim, 0);
  CU_EXPECT_INT(dagr__ch_slice_block(&p, NULL, ii, st, NULL, NULL, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(ii[0], 0);
  CU_EXPECT_INT(st[0], 3);
  CU_EXPECT_INT(ii[1], 0);
  CU_EXPECT_INT(st[1], 0);
  dagr__ch_slice_plan_free(&p);

  /* Fewer indices than axes: the rest are ':'. */
  dagr__ch_index_t one[] = {I(4)};
  CU_EXPECT_INT(dagr__ch_slice(&l, one, 1, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.ndim, 1);
  EXPECT_AXIS(&p.out, 0, 3, 3);
  dagr__ch_slice_plan_free(&p);
  dagr__ch_layout_free(&l);
}

static void test_slice_3d(void) {
  dagr__ch_layout_t l;
  dagr__ch_slice_plan_t p;
  int64_t shape[] = {5, 7, 3}, sizes[] = {2, 3, 2};
  CU_EXPECT_INT(dagr__ch_uniform(3, shape, sizes, &l, err, sizeof err), DAGR_OK);
  dagr__ch_index_t ix[] = {S(1, 1, 0, 0, 0, 0), S(0, 0, 0, 0, 1, -2), I(1)}; /* x[1:, ::-2, 1] */
  CU_EXPECT_INT(dagr__ch_slice(&l, ix, 3, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.ndim, 2);
  CU_EXPECT_INT(p.out.shape[0], 4);
  CU_EXPECT_INT(p.out.shape[1], 4);
  EXPECT_AXIS(&p.out, 0, 1, 2, 1);
  EXPECT_AXIS(&p.out, 1, 1, 1, 2); /* 6 | 4 | 2,0 */
  int64_t oi[] = {1, 2}, ii[3], st[3], sp[3], cn[3];
  CU_EXPECT_INT(dagr__ch_slice_block(&p, oi, ii, st, sp, cn, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(ii[0], 1);
  CU_EXPECT_INT(st[0], 0);
  CU_EXPECT_INT(cn[0], 2);
  CU_EXPECT_INT(ii[1], 0);
  CU_EXPECT_INT(st[1], 2);
  CU_EXPECT_INT(sp[1], -2);
  CU_EXPECT_INT(cn[1], 2);
  CU_EXPECT_INT(ii[2], 0);
  CU_EXPECT_INT(st[2], 1);
  dagr__ch_slice_plan_free(&p);

  /* 0-d array, empty index. */
  dagr__ch_layout_t z;
  CU_EXPECT_INT(dagr__ch_uniform(0, NULL, NULL, &z, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_slice(&z, NULL, 0, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.ndim, 0);
  int64_t nb;
  dagr__ch_total_blocks(&p.out, &nb);
  CU_EXPECT_INT(nb, 1);
  dagr__ch_slice_plan_free(&p);
  dagr__ch_layout_free(&z);
  dagr__ch_layout_free(&l);
}

static void test_slice_errors(void) {
  dagr__ch_layout_t l;
  dagr__ch_slice_plan_t p;
  int64_t shape[] = {10, 6}, sizes[] = {4, 3};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, sizes, &l, err, sizeof err), DAGR_OK);
  dagr__ch_index_t a[] = {I(10)};
  CU_EXPECT_INT(dagr__ch_slice(&l, a, 1, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "index 10 is out of bounds for axis 0 with size 10");
  dagr__ch_index_t b[] = {ALL, I(-7)};
  CU_EXPECT_INT(dagr__ch_slice(&l, b, 2, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "index -7 is out of bounds for axis 1 with size 6");
  dagr__ch_index_t c[] = {ALL, S(0, 0, 0, 0, 1, 0)};
  CU_EXPECT_INT(dagr__ch_slice(&l, c, 2, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1: slice step cannot be zero");
  dagr__ch_index_t d[] = {ALL, ALL, I(0)};
  CU_EXPECT_INT(dagr__ch_slice(&l, d, 3, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "too many indices");
  dagr__ch_index_t e[] = {ALL};
  e[0].kind = 7;
  CU_EXPECT_INT(dagr__ch_slice(&l, e, 1, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_INT(p.out.ndim, 0);
  dagr__ch_slice_plan_free(&p);
  dagr__ch_layout_free(&l);
}

/* Extreme int64 bounds and steps must clamp like Python, never overflow. */
static void test_slice_extremes(void) {
  dagr__ch_layout_t l;
  dagr__ch_slice_plan_t p;
  make_1d(&l);
  dagr__ch_index_t ix = S(1, INT64_MIN, 1, INT64_MAX, 1, INT64_MAX); /* -> 0 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.shape[0], 1);
  EXPECT_RUN(&p.runs[0][0], 0, 0, 10, 1);
  dagr__ch_slice_plan_free(&p);
  ix = S(0, 0, 0, 0, 1, INT64_MIN); /* x[::-huge] -> 9 */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.shape[0], 1);
  CU_EXPECT_INT(p.start[0], 9);
  dagr__ch_slice_plan_free(&p);
  ix = S(1, INT64_MAX, 1, INT64_MIN, 1, -1); /* the whole axis reversed */
  CU_EXPECT_INT(dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.shape[0], 10);
  dagr__ch_slice_plan_free(&p);
  dagr__ch_index_t bad = I(INT64_MIN);
  CU_EXPECT_INT(dagr__ch_slice(&l, &bad, 1, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "out of bounds for axis 0 with size 10");
  dagr__ch_layout_free(&l);
}

/* Every start/stop/step combination on small ragged layouts: the runs, read in order, must list
 * exactly start, start+step, ... (count of them), each inside its block. The normalized triple
 * itself is checked against a direct Python-style enumeration of range(start, stop, step). */
static void test_slice_exhaustive_1d(void) {
  static const int64_t steps[] = {1, 2, 3, 5, 11, -1, -2, -3, -7, -11};
  int failures = 0;
  for (int64_t n = 0; n <= 9 && failures < 5; n++) {
    for (int64_t csz = 1; csz <= 4; csz++) {
      dagr__ch_layout_t l;
      int64_t shape[] = {n}, size[] = {csz};
      CU_EXPECT_INT(dagr__ch_uniform(1, shape, size, &l, err, sizeof err), DAGR_OK);
      for (int64_t s = -12; s <= 12; s++)
        for (int64_t e = -12; e <= 13; e++) /* e == 13: stop omitted */
          for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
            int64_t step = steps[k];
            int hs = s != 12, he = e != 13;
            dagr__ch_index_t ix = S(hs, s, he, e, 1, step);
            /* Reference: resolve like CPython's PySlice_AdjustIndices, then enumerate. */
            int64_t rs = hs ? s : (step > 0 ? 0 : n - 1), re = he ? e : (step > 0 ? n : -1);
            if (hs && rs < 0) rs = rs + n < (step > 0 ? 0 : -1) ? (step > 0 ? 0 : -1) : rs + n;
            if (hs && rs >= n) rs = step > 0 ? n : n - 1;
            if (he && re < 0) re = re + n < (step > 0 ? 0 : -1) ? (step > 0 ? 0 : -1) : re + n;
            if (he && re >= n) re = step > 0 ? n : n - 1;
            int64_t want[64], nw = 0;
            for (int64_t i = rs; step > 0 ? i < re : i > re; i += step) want[nw++] = i;
            dagr__ch_slice_plan_t p;
            if (dagr__ch_slice(&l, &ix, 1, &p, err, sizeof err) != DAGR_OK) {
              failures++;
              continue;
            }
            int64_t got = 0;
            int ok = p.out.shape[0] == nw;
            for (int64_t j = 0; ok && j < p.out.nblocks[0]; j++) {
              const dagr__ch_run_t *r = &p.runs[0][j];
              ok = r->count == p.out.chunks[0][j] && (r->count > 0 || nw == 0);
              for (int64_t q = 0; ok && q < r->count; q++) {
                int64_t local = r->start + q * r->step;
                ok = local >= 0 && local < l.chunks[0][r->block] && got < nw &&
                     l.offsets[0][r->block] + local == want[got];
                got++;
              }
            }
            ok = ok && got == nw;
            if (!ok && failures++ < 5)
              fprintf(stderr, "  n=%lld chunk=%lld slice %lld:%lld:%lld (has %d,%d) wrong\n",
                      (long long)n, (long long)csz, (long long)s, (long long)e, (long long)step, hs,
                      he);
            dagr__ch_slice_plan_free(&p);
          }
      dagr__ch_layout_free(&l);
    }
  }
  CU_EXPECT_INT(failures, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Rechunk plans.
 * ------------------------------------------------------------------------------------------- */

static void test_rechunk_1d_pieces(void) {
  dagr__ch_layout_t a, b;
  dagr__ch_rechunk_plan_t p;
  int64_t shape[] = {10}, sa[] = {4}, sb[] = {3};
  CU_EXPECT_INT(dagr__ch_uniform(1, shape, sa, &a, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_uniform(1, shape, sb, &b, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_rechunk(&a, &b, &p, err, sizeof err), DAGR_OK);
  /* out [3,6) = in0[3:4] + in1[0:2]; out [6,9) = in1[2:4] + in2[0:1] */
  static const int64_t want_n[] = {1, 2, 2, 1};
  static const int64_t want[][4] = {{0, 0, 0, 3}, {0, 3, 0, 1}, {1, 0, 1, 2},
                                    {1, 2, 0, 2}, {2, 0, 2, 1}, {2, 1, 0, 1}};
  int w = 0;
  for (int64_t j = 0; j < 4; j++) {
    int64_t n, oi[] = {j};
    CU_EXPECT_INT(dagr__ch_rechunk_npieces(&p, oi, &n, err, sizeof err), DAGR_OK);
    CU_EXPECT_INT(n, want_n[j]);
    for (int64_t k = 0; k < n && w < 6; k++, w++) {
      int64_t ib, io, oo, c;
      CU_EXPECT_INT(dagr__ch_rechunk_piece(&p, oi, k, &ib, &io, &oo, &c, err, sizeof err), DAGR_OK);
      CU_EXPECT_INT(ib, want[w][0]);
      CU_EXPECT_INT(io, want[w][1]);
      CU_EXPECT_INT(oo, want[w][2]);
      CU_EXPECT_INT(c, want[w][3]);
    }
  }
  CU_EXPECT_INT(w, 6);
  int64_t oi[] = {0}, ib;
  CU_EXPECT_INT(dagr__ch_rechunk_piece(&p, oi, 1, &ib, NULL, NULL, NULL, err, sizeof err),
                DAGR_EINVAL);
  dagr__ch_rechunk_plan_free(&p);

  /* Identity: one piece per block, the block itself. */
  CU_EXPECT_INT(dagr__ch_rechunk(&a, &a, &p, err, sizeof err), DAGR_OK);
  int64_t n, o2[] = {2};
  dagr__ch_rechunk_npieces(&p, o2, &n, err, sizeof err);
  CU_EXPECT_INT(n, 1);
  dagr__ch_rechunk_plan_free(&p);
  dagr__ch_layout_free(&a);
  dagr__ch_layout_free(&b);
}

/* Checks the plan's pieces tile every output block exactly once and agree on global position. */
static int check_tiling(const dagr__ch_layout_t *a, const dagr__ch_layout_t *b) {
  dagr__ch_rechunk_plan_t p;
  if (dagr__ch_rechunk(a, b, &p, err, sizeof err) != DAGR_OK) return 1;
  int64_t total, nb;
  dagr__ch_total_elems(b, &total);
  dagr__ch_total_blocks(b, &nb);
  unsigned char *seen = calloc((size_t)total + 1, 1);
  int bad = 0;
  int nd = b->ndim;
  for (int64_t id = 0; id < nb; id++) {
    int64_t oi[DAGR_MAX_NDIM], ooff[DAGR_MAX_NDIM], ocnt[DAGR_MAX_NDIM], np;
    dagr__ch_block_index(b, id, oi, err, sizeof err);
    dagr__ch_block_box(b, oi, ooff, ocnt, err, sizeof err);
    dagr__ch_rechunk_npieces(&p, oi, &np, err, sizeof err);
    for (int64_t k = 0; k < np; k++) {
      int64_t ii[DAGR_MAX_NDIM], io[DAGR_MAX_NDIM], oo[DAGR_MAX_NDIM], c[DAGR_MAX_NDIM];
      int64_t ioff[DAGR_MAX_NDIM], icnt[DAGR_MAX_NDIM];
      dagr__ch_rechunk_piece(&p, oi, k, ii, io, oo, c, err, sizeof err);
      dagr__ch_block_box(a, ii, ioff, icnt, err, sizeof err);
      int64_t cells = 1;
      for (int d = 0; d < nd; d++) {
        cells *= c[d];
        if (c[d] <= 0 || io[d] < 0 || io[d] + c[d] > icnt[d] || oo[d] < 0 ||
            oo[d] + c[d] > ocnt[d] || ioff[d] + io[d] != ooff[d] + oo[d])
          bad++;
      }
      if (bad) break;
      for (int64_t e = 0; e < cells; e++) { /* walk the hyperslab, mark global positions */
        int64_t rem = e, lin = 0;
        int64_t pos[DAGR_MAX_NDIM];
        for (int d = nd - 1; d >= 0; d--) {
          pos[d] = ooff[d] + oo[d] + rem % c[d];
          rem /= c[d];
        }
        for (int d = 0; d < nd; d++) lin = lin * b->shape[d] + pos[d];
        seen[lin]++;
      }
    }
  }
  for (int64_t e = 0; e < total; e++) bad += seen[e] != 1;
  free(seen);
  dagr__ch_rechunk_plan_free(&p);
  return bad;
}

static void test_rechunk_tiling_exhaustive(void) {
  int bad = 0, cases = 0;
  /* 2-D: every pair of uniform chunkings of a 7x5 array. */
  for (int64_t a0 = 1; a0 <= 7; a0++)
    for (int64_t a1 = 1; a1 <= 5; a1++)
      for (int64_t b0 = 1; b0 <= 7; b0 += 2)
        for (int64_t b1 = 1; b1 <= 5; b1 += 2) {
          dagr__ch_layout_t a, b;
          int64_t shape[] = {7, 5}, sa[] = {a0, a1}, sb[] = {b0, b1};
          dagr__ch_uniform(2, shape, sa, &a, err, sizeof err);
          dagr__ch_uniform(2, shape, sb, &b, err, sizeof err);
          bad += check_tiling(&a, &b);
          bad += check_tiling(&b, &a);
          cases += 2;
          dagr__ch_layout_free(&a);
          dagr__ch_layout_free(&b);
        }
  /* 3-D with irregular lists. */
  static const int64_t x0[] = {1, 4, 1}, x1[] = {2, 3}, x2[] = {4}, y0[] = {3, 3}, y1[] = {1, 1, 3},
                       y2[] = {1, 2, 1};
  const int64_t *lx[] = {x0, x1, x2}, *ly[] = {y0, y1, y2};
  int64_t nx[] = {3, 2, 1}, ny[] = {2, 3, 3}, shape3[] = {6, 5, 4};
  dagr__ch_layout_t a, b;
  CU_EXPECT_INT(dagr__ch_from_lists(3, shape3, lx, nx, &a, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_from_lists(3, shape3, ly, ny, &b, err, sizeof err), DAGR_OK);
  bad += check_tiling(&a, &b) + check_tiling(&b, &a);
  cases += 2;
  /* Output block (1,2,0) = rows 3..5 x cols 2..4 x depth 0: rows from x blocks 1 (3..4) and 2
   * (5), cols from x block 1, depth from x block 0: 2 pieces. */
  dagr__ch_rechunk_plan_t p;
  CU_EXPECT_INT(dagr__ch_rechunk(&a, &b, &p, err, sizeof err), DAGR_OK);
  int64_t oi[] = {1, 2, 0}, n, ii[3], io[3], oo[3], c[3];
  dagr__ch_rechunk_npieces(&p, oi, &n, err, sizeof err);
  CU_EXPECT_INT(n, 2);
  dagr__ch_rechunk_piece(&p, oi, 1, ii, io, oo, c, err, sizeof err);
  CU_EXPECT_INT(ii[0], 2);
  CU_EXPECT_INT(io[0], 0);
  CU_EXPECT_INT(oo[0], 2);
  CU_EXPECT_INT(c[0], 1);
  CU_EXPECT_INT(ii[1], 1);
  CU_EXPECT_INT(io[1], 0);
  CU_EXPECT_INT(c[1], 3);
  dagr__ch_rechunk_plan_free(&p);
  dagr__ch_layout_free(&a);
  dagr__ch_layout_free(&b);
  CU_EXPECT_INT(cases, 842);
  CU_EXPECT_INT(bad, 0);
}

static void test_rechunk_errors_and_empty(void) {
  dagr__ch_layout_t a, b;
  dagr__ch_rechunk_plan_t p;
  int64_t s1[] = {6, 4}, s2[] = {6, 5}, c[] = {2, 2};
  dagr__ch_uniform(2, s1, c, &a, err, sizeof err);
  dagr__ch_uniform(2, s2, c, &b, err, sizeof err);
  CU_EXPECT_INT(dagr__ch_rechunk(&a, &b, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 1 has length 4 in the source and 5");
  dagr__ch_layout_free(&b);
  int64_t s3[] = {6};
  dagr__ch_uniform(1, s3, c, &b, err, sizeof err);
  CU_EXPECT_INT(dagr__ch_rechunk(&a, &b, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "2 axes");
  dagr__ch_layout_free(&a);
  dagr__ch_layout_free(&b);

  /* An empty axis: the one empty output block needs no piece. */
  int64_t z[] = {0, 4}, ca[] = {1, 1}, cb[] = {1, 4};
  dagr__ch_uniform(2, z, ca, &a, err, sizeof err);
  dagr__ch_uniform(2, z, cb, &b, err, sizeof err);
  CU_EXPECT_INT(dagr__ch_rechunk(&a, &b, &p, err, sizeof err), DAGR_OK);
  int64_t oi[] = {0, 0}, n = -1;
  CU_EXPECT_INT(dagr__ch_rechunk_npieces(&p, oi, &n, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(n, 0);
  dagr__ch_rechunk_plan_free(&p);
  dagr__ch_layout_free(&a);
  dagr__ch_layout_free(&b);
}

/* ---------------------------------------------------------------------------------------------
 * Reshape.
 * ------------------------------------------------------------------------------------------- */

static void test_reshape_merge_split(void) {
  dagr__ch_layout_t l;
  dagr__ch_reshape_plan_t p;
  int64_t shape[] = {6, 4}, sizes[] = {3, -1};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, sizes, &l, err, sizeof err), DAGR_OK);
  int64_t flat[] = {24};
  CU_EXPECT_INT(dagr__ch_reshape(&l, 1, flat, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 12, 12); /* dask: ((12, 12),) */
  int64_t oi[] = {1}, ii[2] = {-1, -1};
  CU_EXPECT_INT(dagr__ch_reshape_block(&p, oi, ii, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(ii[0], 1);
  CU_EXPECT_INT(ii[1], 0);
  dagr__ch_reshape_plan_free(&p);
  dagr__ch_layout_free(&l);

  /* Split (24,) in (12, 12) into (6, 4): 12 is a multiple of 4 -> ((3, 3), (4,)). */
  int64_t s1[] = {24}, c1[] = {12}, to[] = {6, 4};
  CU_EXPECT_INT(dagr__ch_uniform(1, s1, c1, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, to, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 3, 3);
  EXPECT_AXIS(&p.out, 1, 4);
  int64_t o2[] = {1, 0}, i1[1];
  CU_EXPECT_INT(dagr__ch_reshape_block(&p, o2, i1, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(i1[0], 1);
  dagr__ch_reshape_plan_free(&p);
  dagr__ch_layout_free(&l);

  /* 3-D merge of the trailing axes, leading axis kept: (4, 3, 5) -> (4, 15). */
  int64_t s3[] = {4, 3, 5}, c3[] = {2, -1, -1}, to3[] = {4, 15};
  CU_EXPECT_INT(dagr__ch_uniform(3, s3, c3, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, to3, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 2, 2);
  EXPECT_AXIS(&p.out, 1, 15);
  dagr__ch_reshape_plan_free(&p);
  dagr__ch_layout_free(&l);
}

static void test_reshape_refused(void) {
  dagr__ch_layout_t l;
  dagr__ch_reshape_plan_t p;
  int64_t shape[] = {6, 4}, sizes[] = {3, 2}, flat[] = {24};
  CU_EXPECT_INT(dagr__ch_uniform(2, shape, sizes, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_reshape(&l, 1, flat, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "(6,4) to (24)");
  CU_EXPECT_STR_CONTAINS(err, "axis 1 has 2 chunks");
  CU_EXPECT_STR_CONTAINS(err, "rechunk axis 1 to -1");
  CU_EXPECT_INT(p.out.ndim, 0);
  dagr__ch_layout_free(&l);

  int64_t s1[] = {24}, c1[] = {10}, to[] = {6, 4};
  CU_EXPECT_INT(dagr__ch_uniform(1, s1, c1, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, to, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "splitting input axis 0");
  CU_EXPECT_STR_CONTAINS(err, "multiples of 4");
  dagr__ch_layout_free(&l);

  /* Regrouping (4, 6) as (3, 8) needs both axes whole. */
  int64_t s2[] = {4, 6}, c2[] = {2, -1}, whole[] = {-1, -1}, to2[] = {3, 8};
  CU_EXPECT_INT(dagr__ch_uniform(2, s2, c2, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, to2, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "axis 0 has 2 chunks");
  dagr__ch_layout_free(&l);
  CU_EXPECT_INT(dagr__ch_uniform(2, s2, whole, &l, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, to2, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 3);
  EXPECT_AXIS(&p.out, 1, 8);
  dagr__ch_reshape_plan_free(&p);

  /* Size mismatch and -1 misuse, as NumPy words them. */
  int64_t five[] = {5, 5}, two_unknown[] = {-1, -1}, neg[] = {-2, 12};
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, five, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "cannot reshape array of size 24 into shape (5,5)");
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, two_unknown, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "one unknown");
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, neg, &p, err, sizeof err), DAGR_EINVAL);
  int64_t infer_bad[] = {5, -1};
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, infer_bad, &p, err, sizeof err), DAGR_EINVAL);
  CU_EXPECT_STR_CONTAINS(err, "size 24 into shape (5,-1)");
  dagr__ch_layout_free(&l);
}

static void test_reshape_unit_axes(void) {
  dagr__ch_layout_t l;
  dagr__ch_reshape_plan_t p;
  int64_t shape[] = {4, 1, 6}, sizes[] = {2, 1, 3};
  CU_EXPECT_INT(dagr__ch_uniform(3, shape, sizes, &l, err, sizeof err), DAGR_OK);
  /* Removing the length-1 axis keeps both chunked axes as they are. */
  int64_t to[] = {4, 6};
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, to, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 2, 2);
  EXPECT_AXIS(&p.out, 1, 3, 3);
  CU_EXPECT_INT(p.src_out_axis[0], 0);
  CU_EXPECT_INT(p.src_out_axis[1], -1);
  CU_EXPECT_INT(p.src_out_axis[2], 1);
  int64_t oi[] = {1, 1}, ii[3];
  CU_EXPECT_INT(dagr__ch_reshape_block(&p, oi, ii, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(ii[0], 1);
  CU_EXPECT_INT(ii[1], 0);
  CU_EXPECT_INT(ii[2], 1);
  dagr__ch_reshape_plan_free(&p);

  /* Adding length-1 axes at both ends and moving the middle one, with -1 inferred. */
  int64_t to2[] = {1, 4, -1, 1, 1};
  CU_EXPECT_INT(dagr__ch_reshape(&l, 5, to2, &p, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(p.out.ndim, 5);
  CU_EXPECT_INT(p.out.shape[2], 6);
  EXPECT_AXIS(&p.out, 0, 1);
  EXPECT_AXIS(&p.out, 1, 2, 2);
  EXPECT_AXIS(&p.out, 2, 3, 3);
  EXPECT_AXIS(&p.out, 4, 1);
  int64_t oi5[] = {0, 1, 0, 0, 0};
  CU_EXPECT_INT(dagr__ch_reshape_block(&p, oi5, ii, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(ii[0], 1);
  CU_EXPECT_INT(ii[2], 0);
  dagr__ch_reshape_plan_free(&p);
  dagr__ch_layout_free(&l);

  /* Empty arrays reshape freely (nothing moves); 0-d <-> (1, 1). */
  int64_t z[] = {0, 4}, zc[] = {1, 2}, to3[] = {4, 0, 3}, to4[] = {-1, 0};
  CU_EXPECT_INT(dagr__ch_uniform(2, z, zc, &l, err, sizeof err), DAGR_OK);
  to3[2] = 1;
  CU_EXPECT_INT(dagr__ch_reshape(&l, 3, to3, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 0, 4);
  EXPECT_AXIS(&p.out, 1, 0);
  dagr__ch_reshape_plan_free(&p);
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, to4, &p, err, sizeof err), DAGR_EINVAL);
  dagr__ch_layout_free(&l);
  CU_EXPECT_INT(dagr__ch_uniform(0, NULL, NULL, &l, err, sizeof err), DAGR_OK);
  int64_t ones[] = {1, 1};
  CU_EXPECT_INT(dagr__ch_reshape(&l, 2, ones, &p, err, sizeof err), DAGR_OK);
  EXPECT_AXIS(&p.out, 1, 1);
  dagr__ch_reshape_plan_free(&p);
  dagr__ch_layout_free(&l);
}

int main(void) {
  static const cu_test_def tests[] = {
      {"uniform chunks with ragged edge", test_uniform_ragged},
      {"-1 whole axis and oversized chunks", test_whole_axis_and_oversized},
      {"explicit chunk lists", test_explicit_lists},
      {"normalize errors", test_normalize_errors},
      {"zero-length axis", test_zero_length_axis},
      {"0-d layout", test_zero_d},
      {"block ids 3-D", test_block_ids_3d},
      {"locate and copy", test_locate_and_copy},
      {"auto f8 with HDF5 chunks", test_auto_hdf5_f8},
      {"auto u8 and 3-D with HDF5 chunks", test_auto_hdf5_u8_and_3d},
      {"auto HDF5 edge cases", test_auto_hdf5_edge_cases},
      {"auto without storage chunks", test_auto_no_storage},
      {"auto mixed with fixed axes", test_auto_mixed_with_fixed},
      {"broadcast shapes", test_broadcast_shapes},
      {"broadcast mismatch messages", test_broadcast_mismatch},
      {"unify chunks", test_unify},
      {"unify length-1 axes and errors", test_unify_ones_and_errors},
      {"slice positive step", test_slice_positive_step},
      {"slice negative step", test_slice_negative_step},
      {"slice empty results", test_slice_empty},
      {"slice integer drops axis", test_slice_int_drops_axis},
      {"slice 3-D and 0-D", test_slice_3d},
      {"slice errors", test_slice_errors},
      {"slice extreme bounds", test_slice_extremes},
      {"slice exhaustive 1-D", test_slice_exhaustive_1d},
      {"rechunk 1-D pieces", test_rechunk_1d_pieces},
      {"rechunk tiling exhaustive", test_rechunk_tiling_exhaustive},
      {"rechunk errors and empty axis", test_rechunk_errors_and_empty},
      {"reshape merge and split", test_reshape_merge_split},
      {"reshape refused", test_reshape_refused},
      {"reshape length-1 axes and empty", test_reshape_unit_axes},
      {NULL, NULL},
  };
  return cu_run_suite("chunks", tests);
}
