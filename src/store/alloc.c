/* alloc.c: TLSF-style good-fit allocator for the object-store arena; bookkeeping stays outside. */
#include "store/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Test hook. While >= 0 it counts bookkeeping allocations down: the one made when it is 0 fails
 * (and the hook resets to -1), so a test can drive every DAGR_ENOMEM path in turn. Production code
 * never sets it; -1 leaves allocation alone. Tests declare it themselves, keeping alloc.h clean. */
extern int dagr__alloc_fail_after;
int dagr__alloc_fail_after = -1;

/* Bookkeeping works in units of the alignment: sizes and offsets are multiples of it. */
#define ALIGN_LOG2 6
_Static_assert((1u << ALIGN_LOG2) == DAGR__STORE_ALIGN, "ALIGN_LOG2 must match DAGR__STORE_ALIGN");

/* Two-level size classes: a power-of-two first level split into SL_COUNT linear second-level
 * bins, so a bin's sizes differ by at most 1/SL_COUNT and finding a fit is two bit scans. Sizes
 * below SL_COUNT units get one exact bin each (first level 0). */
#define SL_LOG2  5
#define SL_COUNT (1u << SL_LOG2)
#define FL_COUNT (64 - ALIGN_LOG2 - SL_LOG2 + 1)

#define NIL       UINT32_MAX
#define EMPTY_KEY UINT64_MAX /* never an offset: offsets are aligned */
#define NOT_FOUND SIZE_MAX

enum { NODE_USED = 0, NODE_FREE = 1, NODE_SPARE = 2 };

/* One range of the arena. Ranges tile the arena and are chained in offset order (prev/next), so
 * a freed range finds its neighbours in O(1) without boundary tags in the arena. Nodes live in
 * one array and refer to each other by index, so growing the array keeps links valid. */
typedef struct {
  uint64_t off, size;    /* bytes */
  uint32_t prev, next;   /* neighbours in offset order; next links the spare list for spares */
  uint32_t fprev, fnext; /* bin list, valid while free */
  uint32_t state;        /* NODE_* */
} node;

/* Live allocations: offset -> node, open addressing with linear probing. The key is kept in the
 * slot so probing does not touch the node array. */
typedef struct {
  uint64_t key;
  uint32_t idx;
} slot;

struct dagr__alloc {
  uint64_t capacity, used;
  size_t live;
  uint32_t first; /* node at offset 0; it is never merged away, but keep it explicit */

  node *nodes;
  uint32_t ncap;   /* nodes allocated */
  uint32_t spare;  /* head of the unused-node list */
  uint32_t nspare; /* its length, for the checker */

  slot *slots;
  size_t nslots; /* power of two */
  unsigned sbits;
  size_t scount;

  uint64_t fl_map;
  uint32_t sl_map[FL_COUNT];
  uint32_t heads[FL_COUNT][SL_COUNT];
};

/* --- bookkeeping memory ------------------------------------------------------------------- */

static void *bk_realloc(void *p, size_t n) {
  if (DAGR__UNLIKELY(dagr__alloc_fail_after >= 0)) {
    if (dagr__alloc_fail_after == 0) {
      dagr__alloc_fail_after = -1;
      return NULL;
    }
    dagr__alloc_fail_after--;
  }
  return realloc(p, n);
}

/* Doubles the node array and puts the new nodes on the spare list. */
static int nodes_grow(dagr__alloc *a) {
  uint64_t ncap = a->ncap ? (uint64_t)a->ncap * 2 : 64;
  if (ncap > NIL) ncap = NIL; /* NIL itself must stay unused as an index */
  if (ncap <= a->ncap || ncap > SIZE_MAX / sizeof(node)) return DAGR_ENOMEM;
  node *n = bk_realloc(a->nodes, (size_t)ncap * sizeof(node));
  if (!n) return DAGR_ENOMEM;
  a->nodes = n;
  for (uint64_t i = ncap; i-- > a->ncap;) {
    n[i].state = NODE_SPARE;
    n[i].next = a->spare;
    a->spare = (uint32_t)i;
  }
  a->nspare += (uint32_t)(ncap - a->ncap);
  a->ncap = (uint32_t)ncap;
  return DAGR_OK;
}

static uint32_t node_take(dagr__alloc *a) {
  uint32_t i = a->spare;
  a->spare = a->nodes[i].next;
  a->nspare--;
  return i;
}

/* Removes node i from the offset chain and returns it to the spare list. */
static void node_drop(dagr__alloc *a, uint32_t i) {
  node *n = &a->nodes[i];
  if (n->prev != NIL) a->nodes[n->prev].next = n->next;
  if (n->next != NIL) a->nodes[n->next].prev = n->prev;
  n->state = NODE_SPARE;
  n->next = a->spare;
  a->spare = i;
  a->nspare++;
}

/* --- live-allocation hash -------------------------------------------------------------- */

static inline size_t hash_home(unsigned sbits, uint64_t key) {
  /* Fibonacci hashing spreads the sequential, aligned offsets the allocator hands out. */
  return (size_t)(((key >> ALIGN_LOG2) * 0x9E3779B97F4A7C15ull) >> (64 - sbits));
}

static slot *slots_new(size_t n) {
  if (n > SIZE_MAX / sizeof(slot)) return NULL;
  slot *s = bk_realloc(NULL, n * sizeof(slot));
  if (s) memset(s, 0xff, n * sizeof(slot)); /* every key EMPTY_KEY */
  return s;
}

static void hash_put(slot *s, size_t mask, unsigned sbits, uint64_t key, uint32_t idx) {
  size_t i = hash_home(sbits, key);
  while (s[i].key != EMPTY_KEY) i = (i + 1) & mask;
  s[i].key = key;
  s[i].idx = idx;
}

/* Makes room for one more entry, so the insert that follows cannot fail. Load stays <= 1/2. */
static int hash_reserve(dagr__alloc *a) {
  if ((a->scount + 1) * 2 <= a->nslots) return DAGR_OK;
  if (a->nslots > SIZE_MAX / 4) return DAGR_ENOMEM;
  size_t n = a->nslots * 2;
  slot *s = slots_new(n);
  if (!s) return DAGR_ENOMEM;
  for (size_t i = 0; i < a->nslots; i++)
    if (a->slots[i].key != EMPTY_KEY)
      hash_put(s, n - 1, a->sbits + 1, a->slots[i].key, a->slots[i].idx);
  free(a->slots);
  a->slots = s;
  a->nslots = n;
  a->sbits++;
  return DAGR_OK;
}

static size_t hash_find(const dagr__alloc *a, uint64_t key) {
  if (key & (DAGR__STORE_ALIGN - 1)) return NOT_FOUND;
  size_t mask = a->nslots - 1;
  for (size_t i = hash_home(a->sbits, key);; i = (i + 1) & mask) {
    if (a->slots[i].key == key) return i;
    if (a->slots[i].key == EMPTY_KEY) return NOT_FOUND;
  }
}

/* Backward-shift deletion keeps probe chains intact without tombstones, so lookups of absent
 * offsets (bad frees) stay short however long the allocator runs. */
static void hash_erase(dagr__alloc *a, size_t i) {
  size_t mask = a->nslots - 1;
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    if (a->slots[j].key == EMPTY_KEY) break;
    size_t k = hash_home(a->sbits, a->slots[j].key);
    /* The entry at j may fill the hole at i only if its home is not cyclically in (i, j]. */
    int stays = i <= j ? (k > i && k <= j) : (k > i || k <= j);
    if (!stays) {
      a->slots[i] = a->slots[j];
      i = j;
    }
  }
  a->slots[i].key = EMPTY_KEY;
  a->scount--;
}

/* --- size classes -------------------------------------------------------------------------- */

static inline unsigned log2_u64(uint64_t x) {
  return 63u - (unsigned)__builtin_clzll(x);
}

/* The bin holding free ranges of u units (u >= 1). */
static inline void bin_of(uint64_t u, unsigned *fl, unsigned *sl) {
  if (u < SL_COUNT) {
    *fl = 0;
    *sl = (unsigned)u;
  } else {
    unsigned l = log2_u64(u);
    *fl = l - SL_LOG2 + 1;
    *sl = (unsigned)(u >> (l - SL_LOG2)) ^ SL_COUNT;
  }
}

static void bin_insert(dagr__alloc *a, uint32_t i) {
  node *n = &a->nodes[i];
  unsigned fl, sl;
  bin_of(n->size >> ALIGN_LOG2, &fl, &sl);
  uint32_t h = a->heads[fl][sl];
  n->fprev = NIL;
  n->fnext = h;
  if (h != NIL) a->nodes[h].fprev = i;
  a->heads[fl][sl] = i;
  a->sl_map[fl] |= 1u << sl;
  a->fl_map |= 1ull << fl;
}

static void bin_remove(dagr__alloc *a, uint32_t i) {
  node *n = &a->nodes[i];
  unsigned fl, sl;
  bin_of(n->size >> ALIGN_LOG2, &fl, &sl);
  if (n->fprev != NIL)
    a->nodes[n->fprev].fnext = n->fnext;
  else
    a->heads[fl][sl] = n->fnext;
  if (n->fnext != NIL) a->nodes[n->fnext].fprev = n->fprev;
  if (a->heads[fl][sl] == NIL) {
    a->sl_map[fl] &= ~(1u << sl);
    if (!a->sl_map[fl]) a->fl_map &= ~(1ull << fl);
  }
}

/* How many ranges of the request's own size class are tried before moving up a class. */
#define OWN_BIN_PROBES 4

/* A free range of at least u units, or NIL. The request's own class is tried first (a few heads
 * only, so it stays O(1)): its ranges are the closest fits, and taking them keeps holes that were
 * freed at just this size from being passed over for a split of something larger. Failing that,
 * any range in a higher class fits, found by two bit scans. Only when nothing there fits is the
 * rest of the own class scanned, so that an exact fill of the arena still succeeds. */
static uint32_t find_fit(const dagr__alloc *a, uint64_t u) {
  const uint64_t need = u << ALIGN_LOG2;
  unsigned fl, sl;
  bin_of(u, &fl, &sl);
  uint32_t i = a->heads[fl][sl];
  for (int k = 0; k < OWN_BIN_PROBES && i != NIL; k++, i = a->nodes[i].fnext)
    if (a->nodes[i].size >= need) return i;
  uint32_t slm = sl + 1 < SL_COUNT ? a->sl_map[fl] & (~0u << (sl + 1)) : 0;
  if (!slm && fl + 1 < FL_COUNT) {
    uint64_t flm = a->fl_map & (~0ull << (fl + 1));
    if (flm) slm = a->sl_map[fl = (unsigned)__builtin_ctzll(flm)];
  }
  if (slm) return a->heads[fl][__builtin_ctz(slm)];
  for (; i != NIL; i = a->nodes[i].fnext)
    if (a->nodes[i].size >= need) return i;
  return NIL;
}

/* --- interface ------------------------------------------------------------------------------- */

int dagr__alloc_create(size_t size, dagr__alloc **out) {
  if (!out) return DAGR_EINVAL;
  *out = NULL;
  uint64_t cap = (uint64_t)size & ~(uint64_t)(DAGR__STORE_ALIGN - 1);
  if (cap == 0) return DAGR_EINVAL;
  dagr__alloc *a = bk_realloc(NULL, sizeof *a);
  if (!a) return DAGR_ENOMEM;
  memset(a, 0, sizeof *a);
  memset(a->heads, 0xff, sizeof a->heads); /* every head NIL */
  a->capacity = cap;
  a->spare = NIL;
  a->sbits = 7;
  a->nslots = (size_t)1 << a->sbits;
  a->slots = slots_new(a->nslots);
  if (!a->slots) goto nomem;
  if (nodes_grow(a) != DAGR_OK) goto nomem;
  a->first = node_take(a);
  node *n = &a->nodes[a->first];
  n->off = 0;
  n->size = cap;
  n->prev = n->next = NIL;
  n->state = NODE_FREE;
  bin_insert(a, a->first);
  *out = a;
  return DAGR_OK;
nomem:
  free(a->slots);
  free(a);
  return DAGR_ENOMEM;
}

void dagr__alloc_destroy(dagr__alloc *a) {
  if (!a) return;
  free(a->nodes);
  free(a->slots);
  free(a);
}

int dagr__alloc_alloc(dagr__alloc *a, size_t nbytes, uint64_t *offset) {
  if (!a || !offset) return DAGR_EINVAL;
  if (nbytes == 0) nbytes = 1;
  if ((uint64_t)nbytes > a->capacity) return DAGR_ESTORE_FULL;
  /* No overflow: capacity is aligned, so nbytes + ALIGN - 1 stays below 2^64. */
  uint64_t need = ((uint64_t)nbytes + DAGR__STORE_ALIGN - 1) & ~(uint64_t)(DAGR__STORE_ALIGN - 1);
  uint32_t b = find_fit(a, need >> ALIGN_LOG2);
  if (b == NIL) return DAGR_ESTORE_FULL;
  /* Acquire every piece of bookkeeping memory before changing anything, so a failure leaves the
   * allocator exactly as it was. */
  int split = a->nodes[b].size > need;
  if (hash_reserve(a) != DAGR_OK) return DAGR_ENOMEM;
  if (split && a->spare == NIL && nodes_grow(a) != DAGR_OK) return DAGR_ENOMEM;

  bin_remove(a, b);
  if (split) {
    uint32_t r = node_take(a);
    node *n = &a->nodes[b], *rn = &a->nodes[r];
    rn->off = n->off + need;
    rn->size = n->size - need;
    rn->prev = b;
    rn->next = n->next;
    rn->state = NODE_FREE;
    if (n->next != NIL) a->nodes[n->next].prev = r;
    n->next = r;
    n->size = need;
    bin_insert(a, r);
  }
  node *n = &a->nodes[b];
  n->state = NODE_USED;
  hash_put(a->slots, a->nslots - 1, a->sbits, n->off, b);
  a->scount++;
  a->used += need;
  a->live++;
  *offset = n->off;
  return DAGR_OK;
}

int dagr__alloc_free(dagr__alloc *a, uint64_t offset) {
  if (!a) return DAGR_EINVAL;
  size_t s = hash_find(a, offset);
  if (s == NOT_FOUND) return DAGR_EINVAL;
  uint32_t b = a->slots[s].idx;
  hash_erase(a, s);
  node *n = &a->nodes[b];
  a->used -= n->size;
  a->live--;
  if (n->prev != NIL && a->nodes[n->prev].state == NODE_FREE) {
    uint32_t p = n->prev;
    bin_remove(a, p);
    a->nodes[p].size += n->size;
    node_drop(a, b);
    b = p;
    n = &a->nodes[b];
  }
  if (n->next != NIL && a->nodes[n->next].state == NODE_FREE) {
    uint32_t q = n->next;
    bin_remove(a, q);
    n->size += a->nodes[q].size;
    node_drop(a, q);
  }
  n->state = NODE_FREE;
  bin_insert(a, b);
  return DAGR_OK;
}

size_t dagr__alloc_size(const dagr__alloc *a, uint64_t offset) {
  if (!a) return 0;
  size_t s = hash_find(a, offset);
  return s == NOT_FOUND ? 0 : (size_t)a->nodes[a->slots[s].idx].size;
}

size_t dagr__alloc_capacity(const dagr__alloc *a) {
  return a ? (size_t)a->capacity : 0;
}
size_t dagr__alloc_used(const dagr__alloc *a) {
  return a ? (size_t)a->used : 0;
}
size_t dagr__alloc_live(const dagr__alloc *a) {
  return a ? a->live : 0;
}

size_t dagr__alloc_largest_free(const dagr__alloc *a) {
  if (!a || !a->fl_map) return 0;
  /* The largest range is in the highest non-empty bin; only that bin's list needs scanning. */
  unsigned fl = log2_u64(a->fl_map);
  unsigned sl = 31u - (unsigned)__builtin_clz(a->sl_map[fl]);
  uint64_t best = 0;
  for (uint32_t i = a->heads[fl][sl]; i != NIL; i = a->nodes[i].fnext)
    if (a->nodes[i].size > best) best = a->nodes[i].size;
  return (size_t)best;
}

/* --- invariants -------------------------------------------------------------------------- */

static int bad(const char *what) {
  dagr__set_global_error("dagr__alloc_check: %s", what);
  return DAGR_EPROTO;
}

int dagr__alloc_check(const dagr__alloc *a) {
  if (!a) return DAGR_EINVAL;
  const uint64_t align_mask = DAGR__STORE_ALIGN - 1;
  if (a->capacity == 0 || (a->capacity & align_mask)) return bad("capacity not aligned");
  if (a->ncap == 0 || a->first >= a->ncap) return bad("node array");
  if (a->nslots == 0 || a->nslots != (size_t)1 << a->sbits) return bad("hash size");

  /* The offset chain must tile [0, capacity) with no two free ranges adjacent. */
  uint64_t expect = 0, used = 0;
  size_t nodes = 0, nused = 0, nfree = 0;
  uint32_t prev = NIL;
  int prev_free = 0;
  for (uint32_t i = a->first; i != NIL; i = a->nodes[i].next) {
    if (i >= a->ncap || ++nodes > a->ncap) return bad("offset chain broken or cyclic");
    const node *n = &a->nodes[i];
    if (n->prev != prev) return bad("offset chain back link");
    if (n->off != expect) return bad("ranges not contiguous (gap or overlap)");
    if (n->size == 0 || (n->size & align_mask)) return bad("range size zero or unaligned");
    if (n->size > a->capacity - n->off) return bad("range past capacity");
    if (n->state == NODE_FREE) {
      if (prev_free) return bad("adjacent free ranges not merged");
      nfree++;
    } else if (n->state == NODE_USED) {
      size_t s = hash_find(a, n->off);
      if (s == NOT_FOUND || a->slots[s].idx != i) return bad("live range missing from hash");
      used += n->size;
      nused++;
    } else {
      return bad("spare node in offset chain");
    }
    prev_free = n->state == NODE_FREE;
    expect = n->off + n->size;
    prev = i;
  }
  if (expect != a->capacity) return bad("ranges do not cover capacity");
  if (used != a->used) return bad("used total");
  if (nused != a->live || a->scount != a->live) return bad("live count");

  /* Every free range is in the bin its size maps to, and the bitmaps mirror the lists. */
  size_t binned = 0;
  for (unsigned fl = 0; fl < FL_COUNT; fl++) {
    if (((a->fl_map >> fl) & 1) != (a->sl_map[fl] != 0)) return bad("first-level bitmap");
    for (unsigned sl = 0; sl < SL_COUNT; sl++) {
      uint32_t h = a->heads[fl][sl];
      if (((a->sl_map[fl] >> sl) & 1) != (h != NIL)) return bad("second-level bitmap");
      uint32_t fprev = NIL;
      for (uint32_t i = h; i != NIL; i = a->nodes[i].fnext) {
        if (i >= a->ncap || ++binned > nfree) return bad("bin list broken or holds extra nodes");
        const node *n = &a->nodes[i];
        if (n->state != NODE_FREE) return bad("non-free node in a bin");
        if (n->fprev != fprev) return bad("bin list back link");
        unsigned f, s;
        bin_of(n->size >> ALIGN_LOG2, &f, &s);
        if (f != fl || s != sl) return bad("free range in the wrong bin");
        fprev = i;
      }
    }
  }
  if (binned != nfree) return bad("free range missing from bins");

  size_t spares = 0;
  for (uint32_t i = a->spare; i != NIL; i = a->nodes[i].next) {
    if (i >= a->ncap || ++spares > a->nspare) return bad("spare list broken");
    if (a->nodes[i].state != NODE_SPARE) return bad("spare list holds a live node");
  }
  if (spares != a->nspare || nodes + spares != a->ncap) return bad("node accounting");

  size_t occupied = 0;
  for (size_t i = 0; i < a->nslots; i++) {
    const slot *s = &a->slots[i];
    if (s->key == EMPTY_KEY) continue;
    occupied++;
    if (s->idx >= a->ncap || a->nodes[s->idx].state != NODE_USED || a->nodes[s->idx].off != s->key)
      return bad("hash entry does not name its live range");
    if (hash_find(a, s->key) != i) return bad("hash entry unreachable by probing");
  }
  if (occupied != a->scount) return bad("hash count");
  if (a->scount * 2 > a->nslots) return bad("hash overloaded");
  return DAGR_OK;
}
