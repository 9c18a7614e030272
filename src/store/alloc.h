/* alloc.h: the object-store allocator that carves variable-sized objects out of one fixed arena. */
#ifndef DAGR_STORE_ALLOC_H
#define DAGR_STORE_ALLOC_H
#ifndef DAGR_BUILDING
#error "src/store/alloc.h is private to libdagr"
#endif

#include "internal/common.h"

/* The arena is memory the allocator does not own (an MPI window, or malloc'd in tests); objects
 * are identified by their byte offset in it, which is what remote readers use as the window
 * displacement. Bookkeeping lives outside the arena, so a reader can never corrupt it and the
 * arena holds only payload. All offsets are multiples of DAGR__STORE_ALIGN. Not thread-safe:
 * callers serialize (the store wraps it in a lock). */
#define DAGR__STORE_ALIGN 64

typedef struct dagr__alloc dagr__alloc;

/* Creates an allocator for an arena of `size` bytes (rounded down to the alignment).
 * Errors: DAGR_EINVAL (NULL out, size below one aligned block), DAGR_ENOMEM. */
int dagr__alloc_create(size_t size, dagr__alloc **a);
void dagr__alloc_destroy(dagr__alloc *a);

/* Allocates nbytes (0 is treated as 1) and returns its offset. Errors: DAGR_EINVAL (NULL out),
 * DAGR_ESTORE_FULL (no free range large enough), DAGR_ENOMEM (bookkeeping). Good-fit, O(log n)
 * or better; neighbouring free ranges are merged on free so the arena does not fragment under
 * alloc/free churn of mixed sizes. */
int dagr__alloc_alloc(dagr__alloc *a, size_t nbytes, uint64_t *offset);
/* Frees the allocation at offset. Errors: DAGR_EINVAL (offset not a live allocation). */
int dagr__alloc_free(dagr__alloc *a, uint64_t offset);
/* Size reserved for the allocation at offset (rounded up to the alignment), or 0 if none. */
size_t dagr__alloc_size(const dagr__alloc *a, uint64_t offset);

/* Totals, for info and tests. */
size_t dagr__alloc_capacity(const dagr__alloc *a);
size_t dagr__alloc_used(const dagr__alloc *a);
size_t dagr__alloc_largest_free(const dagr__alloc *a);
size_t dagr__alloc_live(const dagr__alloc *a); /* number of live allocations */
/* Checks internal invariants (free ranges sorted, disjoint, merged; totals add up). DAGR_OK or
 * DAGR_EPROTO. For tests. */
int dagr__alloc_check(const dagr__alloc *a);

#endif
