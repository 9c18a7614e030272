/* store.h: a worker's object store: the arena (an MPI window or plain memory), split into one
 * allocator per NUMA domain. */
#ifndef DAGR_STORE_STORE_H
#define DAGR_STORE_STORE_H
#ifndef DAGR_BUILDING
#error "src/store/store.h is private to libdagr"
#endif

#include <pthread.h>

#include "store/alloc.h"

/* A worker whose cores span several NUMA domains splits its one arena (one contiguous MPI window,
 * so remote readers keep a single displacement space) into contiguous parts, one per domain. Each
 * part has its own allocator over its sub-range; the caller binds each part's range to its
 * domain's memory (hwloc_set_area_membind) before first touch. Every object lives inside one
 * part, and every offset the store hands out is relative to `base`, whichever part holds it.
 *
 * Locking: each part has its own mutex, taken only for the few operations on that part's
 * allocator, so executors allocating on different domains do not contend. No call holds two part
 * locks at once. The total in use and peak_used are kept with atomic operations (one atomic add
 * per alloc and free on a cache line of its own, plus a compare-and-swap when the total reaches a
 * new peak), not under a lock. The part ranges never change after init and are read without
 * locks. */
#define DAGR__STORE_MAX_PARTS 64
/* Interior part boundaries prefer this alignment (huge pages, page-granular binding). */
#define DAGR__STORE_PART_ALIGN ((size_t)2 << 20)

/* Private to store.c: the parts (each on cache lines of its own) and the shared total. */
typedef struct dagr__store_parts dagr__store_parts;

typedef struct dagr__store {
  dagr__store_parts *parts;
  int nparts;
  unsigned char *base; /* arena start; objects live at base + offset */
  size_t size;
  size_t peak_used; /* peak of dagr__store_used since init (a reset does not lower it) */
} dagr__store;

/* One part over the whole arena: dagr__store_init_parts(s, base, size, 1, NULL). */
int dagr__store_init(dagr__store *s, void *base, size_t size);
/* Splits [0, size) into nparts contiguous ranges proportional to weights (NULL: equal weights).
 * Each interior boundary is rounded to the nearest 2 MiB-aligned address, or failing that the
 * nearest page-aligned one, or the nearest multiple of DAGR__STORE_ALIGN: the coarsest alignment
 * whose rounding moves the boundary by at most 1/16 of the smaller share beside it (parts of
 * weight 0 aside), so a part's size is within 1/8 of its share plus 128 bytes (rounding to a
 * multiple of DAGR__STORE_ALIGN, and the arena's unaligned tail). The page and 2 MiB alignments
 * refer to the address base + offset and apply only when base is DAGR__STORE_ALIGN-aligned; a
 * non-empty part always starts at a multiple of DAGR__STORE_ALIGN. Parts of weight 0 are empty. A
 * part smaller than DAGR__STORE_ALIGN (a weight of 0, or a tiny share) gets no allocator:
 * allocations asked of it go to the other parts. On failure s holds nothing and dagr__store_destroy
 * on it is harmless. Errors: DAGR_EINVAL (NULL s, nparts < 1 or > DAGR__STORE_MAX_PARTS, a
 * negative, NaN or infinite weight, all weights 0, NULL base with size > 0), DAGR_ENOMEM. */
int dagr__store_init_parts(dagr__store *s, void *base, size_t size, int nparts,
                           const double *weights);
/* Frees the bookkeeping (not the arena). Safe on a store whose init failed, and twice. */
void dagr__store_destroy(dagr__store *s);

int dagr__store_nparts(const dagr__store *s);
/* The range of part `part` as an offset from base and a length in bytes (0 for an empty part).
 * The ranges tile [0, size) in part order. Errors: DAGR_EINVAL (NULL argument, part out of
 * range). */
int dagr__store_part_range(const dagr__store *s, int part, uint64_t *offset, size_t *size);
/* The part whose range holds offset, or -1 (offset >= size, or NULL s). */
int dagr__store_part_of(const dagr__store *s, uint64_t offset);

/* Allocates n bytes in `part` if it can hold them; otherwise in another part, trying them in
 * decreasing order of free bytes (an object on a neighbouring domain is slower to reach, but
 * better than no object at all). *offset is relative to base; *got_part (if got_part is not
 * NULL) says which part holds it. An object never spans parts. Errors: DAGR_EINVAL (NULL s or
 * offset, part out of range), DAGR_ESTORE_FULL (no part can hold n bytes), DAGR_ENOMEM
 * (bookkeeping; the store is unchanged). */
int dagr__store_alloc_in(dagr__store *s, int part, size_t n, uint64_t *offset, int *got_part);
/* dagr__store_alloc_in(s, 0, n, offset, NULL). Errors: DAGR_ESTORE_FULL, DAGR_ENOMEM. */
int dagr__store_alloc(dagr__store *s, size_t n, uint64_t *offset);
/* Frees the object at offset in whichever part holds it; an offset that is not a live object is
 * ignored. */
void dagr__store_free(dagr__store *s, uint64_t offset);
/* Drops every object in every part (end of a run). On failure the store is unchanged. Errors:
 * DAGR_ENOMEM. */
int dagr__store_reset(dagr__store *s);
/* Bytes reserved for live objects in all parts together (allocator rounding included). */
size_t dagr__store_used(dagr__store *s);
/* Bytes reserved in one part, and that part's peak since init; 0 for a part out of range. */
size_t dagr__store_part_used(dagr__store *s, int part);
size_t dagr__store_part_peak(dagr__store *s, int part);

#endif
