/* store.c: the thread-safe object store: the arena split into per-NUMA-domain parts, one arena
 * allocator and one lock per part. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store.h"

#define CACHE_LINE 64

struct dagr__store_part {
  /* Read-mostly, so lookups by other domains do not miss: fixed at init except alloc, which only
   * dagr__store_reset replaces, under mu. cap is 0 when the part has no allocator. */
  dagr__alloc *alloc;
  uint64_t off; /* from base */
  size_t size;
  size_t cap; /* allocator capacity */
  /* Written by every alloc and free in this part: a cache line of its own. used is written under
   * mu but read without it (fallback order, dagr__store_part_used), hence the atomic accesses. */
  _Alignas(CACHE_LINE) pthread_mutex_t mu;
  size_t used, peak;
};

struct dagr__store_parts {
  /* Bytes in use in all parts. Every alloc and free on every domain writes it, so it gets a line
   * of its own rather than sharing one with the fields in dagr__store that they all read. */
  _Alignas(CACHE_LINE) size_t used;
  struct dagr__store_part p[];
};

/* --- splitting the arena ------------------------------------------------------------------ */

/* The offset nearest x at which base + offset is a multiple of g (a power of two). Offset 0, the
 * arena start, also counts, so a boundary never goes negative. */
static uint64_t round_near(uint64_t x, uint64_t g, uintptr_t base) {
  uint64_t first = (g - (uint64_t)(base & (g - 1))) & (g - 1);
  if (x <= first) return x <= first - x ? 0 : first;
  uint64_t down = first + (x - first) / g * g;
  if (down == x) return x;
  uint64_t up = down + g;
  if (up < down) return down; /* wrapped: only for sizes near 2^64 */
  return x - down <= up - x ? down : up;
}

static uint64_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  /* Only a power of two between the two other alignments is useful as a middle step. */
  if (p <= DAGR__STORE_ALIGN || (uint64_t)p >= DAGR__STORE_PART_ALIGN || (p & (p - 1))) return 0;
  return (uint64_t)p;
}

/* Fills b[0..n] with the part boundaries of [0, size) for weights w (>= 0, not all 0). */
static void split(uint64_t size, uintptr_t base, int n, const double *w, uint64_t *b) {
  /* Ideal boundaries, in long double so that arenas past 2^53 bytes keep byte precision. */
  uint64_t x[DAGR__STORE_MAX_PARTS + 1];
  long double total = 0, cum = 0;
  for (int i = 0; i < n; i++) total += w[i];
  x[0] = 0;
  for (int i = 1; i < n; i++) {
    cum += w[i - 1];
    long double v = (long double)size * (cum / total);
    x[i] = v >= (long double)size ? size : (uint64_t)v;
    if (x[i] < x[i - 1]) x[i] = x[i - 1];
  }
  x[n] = size;

  /* Page and huge-page alignment are about addresses; they only agree with the allocator's
   * offset alignment when base itself is aligned. Otherwise offsets just stay multiples of the
   * allocator's alignment, as they always have. */
  int by_address = ((uintptr_t)base & (DAGR__STORE_ALIGN - 1)) == 0;
  uint64_t page = page_size();
  uint64_t limit = size & ~(uint64_t)(DAGR__STORE_ALIGN - 1);
  b[0] = 0;
  b[n] = size;
  for (int i = 1; i < n; i++) {
    /* The smaller share on either side, skipping empty (weight 0) parts: boundaries that
     * coincide around an empty part then see the same shares and round alike, so the part stays
     * empty and its neighbours keep a coarse alignment. */
    uint64_t m = UINT64_MAX;
    int l = i - 1, r = i;
    while (l >= 0 && w[l] == 0) l--;
    while (r < n && w[r] == 0) r++;
    if (l >= 0 && x[l + 1] - x[l] < m) m = x[l + 1] - x[l];
    if (r < n && x[r + 1] - x[r] < m) m = x[r + 1] - x[r];
    /* Rounding to g moves the boundary by at most g/2, so g <= m/8 keeps each neighbour within
     * 1/16 of its share per boundary. */
    uint64_t g = DAGR__STORE_ALIGN;
    if (by_address && DAGR__STORE_PART_ALIGN <= m / 8)
      g = DAGR__STORE_PART_ALIGN;
    else if (by_address && page && page <= m / 8)
      g = page;
    uint64_t v;
    if (l < 0)
      v = 0; /* only empty parts before: they stay empty */
    else if (r == n)
      v = size; /* only empty parts after: they stay empty, the tail goes to part l */
    else
      v = round_near(x[i], g, by_address ? (uintptr_t)base : 0);
    if (v > limit && r < n) v = limit; /* keeps every start aligned; the tail goes to the end */
    if (v < b[i - 1]) v = b[i - 1];
    b[i] = v;
  }
}

/* --- init and teardown -------------------------------------------------------------------- */

static void parts_free(dagr__store_parts *ps, int n) {
  for (int i = 0; i < n; i++) {
    if (ps->p[i].alloc) dagr__alloc_destroy(ps->p[i].alloc);
    pthread_mutex_destroy(&ps->p[i].mu);
  }
  free(ps);
}

int dagr__store_init(dagr__store *s, void *base, size_t size) {
  return dagr__store_init_parts(s, base, size, 1, NULL);
}

int dagr__store_init_parts(dagr__store *s, void *base, size_t size, int nparts,
                           const double *weights) {
  if (!s) return DAGR_EINVAL;
  s->parts = NULL;
  s->nparts = 0;
  s->base = base;
  s->size = size;
  s->peak_used = 0;
  if ((!base && size > 0) || nparts < 1 || nparts > DAGR__STORE_MAX_PARTS) return DAGR_EINVAL;

  /* Scaled by the largest weight, so that huge weights cannot overflow the sum. */
  double w[DAGR__STORE_MAX_PARTS], wmax = 0;
  for (int i = 0; i < nparts; i++) {
    w[i] = weights ? weights[i] : 1.0;
    if (!(w[i] >= 0) || isinf(w[i])) return DAGR_EINVAL; /* !(>= 0) also catches NaN */
    if (w[i] > wmax) wmax = w[i];
  }
  if (wmax == 0) return DAGR_EINVAL;
  for (int i = 0; i < nparts; i++) w[i] /= wmax;
  uint64_t b[DAGR__STORE_MAX_PARTS + 1];
  split(size, (uintptr_t)base, nparts, w, b);

  dagr__store_parts *ps = NULL;
  size_t bytes = sizeof *ps + (size_t)nparts * sizeof ps->p[0];
  if (posix_memalign((void **)&ps, CACHE_LINE, bytes)) return DAGR_ENOMEM;
  ps->used = 0;
  for (int i = 0; i < nparts; i++) {
    struct dagr__store_part *pt = &ps->p[i];
    pt->alloc = NULL;
    pt->off = b[i];
    pt->size = (size_t)(b[i + 1] - b[i]);
    pt->cap = 0;
    pt->used = pt->peak = 0;
    int rc = pthread_mutex_init(&pt->mu, NULL) ? DAGR_ENOMEM : DAGR_OK;
    /* A part too small for one aligned block has no allocator; requests go elsewhere. */
    if (rc == DAGR_OK && pt->size >= DAGR__STORE_ALIGN) {
      rc = dagr__alloc_create(pt->size, &pt->alloc);
      if (rc != DAGR_OK) pthread_mutex_destroy(&pt->mu);
    }
    if (rc != DAGR_OK) {
      parts_free(ps, i);
      return rc;
    }
    if (pt->alloc) pt->cap = dagr__alloc_capacity(pt->alloc);
  }
  s->parts = ps;
  s->nparts = nparts;
  return DAGR_OK;
}

void dagr__store_destroy(dagr__store *s) {
  if (!s || !s->parts) return;
  parts_free(s->parts, s->nparts);
  s->parts = NULL;
  s->nparts = 0;
}

/* --- queries ------------------------------------------------------------------------------ */

int dagr__store_nparts(const dagr__store *s) {
  return s ? s->nparts : 0;
}

int dagr__store_part_range(const dagr__store *s, int part, uint64_t *offset, size_t *size) {
  if (!s || !offset || !size || part < 0 || part >= s->nparts) return DAGR_EINVAL;
  *offset = s->parts->p[part].off;
  *size = s->parts->p[part].size;
  return DAGR_OK;
}

int dagr__store_part_of(const dagr__store *s, uint64_t offset) {
  if (!s || !s->parts || offset >= s->size) return -1;
  /* The last part starting at or before offset; empty parts share their start with the next
   * part, so this skips them unless they sit at the end, past every byte. */
  int lo = 0, hi = s->nparts - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (s->parts->p[mid].off <= offset)
      lo = mid;
    else
      hi = mid - 1;
  }
  const struct dagr__store_part *pt = &s->parts->p[lo];
  return offset - pt->off < pt->size ? lo : -1;
}

size_t dagr__store_used(dagr__store *s) {
  return s && s->parts ? __atomic_load_n(&s->parts->used, __ATOMIC_RELAXED) : 0;
}

size_t dagr__store_part_used(dagr__store *s, int part) {
  if (!s || part < 0 || part >= s->nparts) return 0;
  return __atomic_load_n(&s->parts->p[part].used, __ATOMIC_RELAXED);
}

size_t dagr__store_part_peak(dagr__store *s, int part) {
  if (!s || part < 0 || part >= s->nparts) return 0;
  return __atomic_load_n(&s->parts->p[part].peak, __ATOMIC_RELAXED);
}

/* --- allocation --------------------------------------------------------------------------- */

/* Brings the part's byte count to used_now (the allocator's, after an alloc when grew, else after
 * a free or reset), moves the store's total by the same amount and raises the peaks. Caller holds
 * pt->mu. */
static void account(dagr__store *s, struct dagr__store_part *pt, size_t used_now, int grew) {
  size_t delta = grew ? used_now - pt->used : pt->used - used_now;
  __atomic_store_n(&pt->used, used_now, __ATOMIC_RELAXED);
  if (!grew) {
    __atomic_sub_fetch(&s->parts->used, delta, __ATOMIC_RELAXED);
    return;
  }
  if (used_now > pt->peak) __atomic_store_n(&pt->peak, used_now, __ATOMIC_RELAXED);
  size_t total = __atomic_add_fetch(&s->parts->used, delta, __ATOMIC_RELAXED);
  size_t peak = __atomic_load_n(&s->peak_used, __ATOMIC_RELAXED);
  while (total > peak && !__atomic_compare_exchange_n(&s->peak_used, &peak, total, 1,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

/* Allocates in one part. DAGR_ESTORE_FULL when it has no allocator or no room. */
static int part_alloc(dagr__store *s, int part, size_t n, uint64_t *offset) {
  struct dagr__store_part *pt = &s->parts->p[part];
  /* Cheap refusals without the lock: the allocator would round n up to the alignment. */
  if (pt->cap == 0 || n > pt->cap) return DAGR_ESTORE_FULL;
  pthread_mutex_lock(&pt->mu);
  uint64_t rel = 0;
  int rc = dagr__alloc_alloc(pt->alloc, n, &rel);
  if (rc == DAGR_OK) account(s, pt, dagr__alloc_used(pt->alloc), 1);
  pthread_mutex_unlock(&pt->mu);
  if (rc == DAGR_OK) *offset = pt->off + rel;
  return rc;
}

int dagr__store_alloc_in(dagr__store *s, int part, size_t n, uint64_t *offset, int *got_part) {
  if (!s || !offset || part < 0 || part >= s->nparts) return DAGR_EINVAL;
  int rc = part_alloc(s, part, n, offset), got = part;
  if (rc == DAGR_ESTORE_FULL && s->nparts > 1) {
    /* The other parts, most free bytes first (ties by index). The counts are read without locks,
     * so the order is a snapshot; each try still takes its part's lock, and every part is tried
     * before giving up, so a stale order costs time, never a wrong DAGR_ESTORE_FULL. */
    int order[DAGR__STORE_MAX_PARTS], k = 0;
    size_t avail[DAGR__STORE_MAX_PARTS] = {0};
    for (int i = 0; i < s->nparts; i++) {
      const struct dagr__store_part *pt = &s->parts->p[i];
      if (i == part || pt->cap == 0) continue;
      size_t used = __atomic_load_n(&pt->used, __ATOMIC_RELAXED);
      size_t a = used < pt->cap ? pt->cap - used : 0;
      int j = k++;
      for (; j > 0 && avail[j - 1] < a; j--) { /* insertion sort: at most 63 entries */
        avail[j] = avail[j - 1];
        order[j] = order[j - 1];
      }
      avail[j] = a;
      order[j] = i;
    }
    for (int j = 0; j < k && rc == DAGR_ESTORE_FULL; j++) {
      rc = part_alloc(s, order[j], n, offset);
      got = order[j];
    }
  }
  if (rc == DAGR_OK && got_part) *got_part = got;
  return rc;
}

int dagr__store_alloc(dagr__store *s, size_t n, uint64_t *offset) {
  return dagr__store_alloc_in(s, 0, n, offset, NULL);
}

void dagr__store_free(dagr__store *s, uint64_t offset) {
  int part = dagr__store_part_of(s, offset);
  if (part < 0) return;
  struct dagr__store_part *pt = &s->parts->p[part];
  if (pt->cap == 0) return;
  pthread_mutex_lock(&pt->mu);
  if (dagr__alloc_free(pt->alloc, offset - pt->off) == DAGR_OK)
    account(s, pt, dagr__alloc_used(pt->alloc), 0);
  pthread_mutex_unlock(&pt->mu);
}

int dagr__store_reset(dagr__store *s) {
  if (!s) return DAGR_EINVAL;
  /* Recreating is O(1) in the number of objects, unlike freeing each. All new allocators are
   * made first, so a DAGR_ENOMEM leaves every part as it was. */
  dagr__alloc *fresh[DAGR__STORE_MAX_PARTS] = {NULL};
  for (int i = 0; i < s->nparts; i++) {
    const struct dagr__store_part *pt = &s->parts->p[i];
    int rc = pt->cap ? dagr__alloc_create(pt->size, &fresh[i]) : DAGR_OK;
    if (rc != DAGR_OK) {
      for (int j = 0; j < i; j++)
        if (fresh[j]) dagr__alloc_destroy(fresh[j]);
      return rc;
    }
  }
  for (int i = 0; i < s->nparts; i++) {
    struct dagr__store_part *pt = &s->parts->p[i];
    if (!pt->cap) continue;
    pthread_mutex_lock(&pt->mu);
    dagr__alloc_destroy(pt->alloc);
    pt->alloc = fresh[i];
    account(s, pt, 0, 0);
    pthread_mutex_unlock(&pt->mu);
  }
  return DAGR_OK;
}
