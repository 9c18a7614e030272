/* readyq.h: the ready set as a hierarchical bitmap over plan ids, popping the lowest (= highest
 * priority) id. */
#ifndef DAGR_SCHEDULER_READYQ_H
#define DAGR_SCHEDULER_READYQ_H
#ifndef DAGR_BUILDING
#error "src/scheduler/readyq.h is private to libdagr"
#endif

#include <stdlib.h>
#include <string.h>

#include "internal/common.h"

/* Plan ids are already in priority order, so "the most urgent ready task" is the smallest set
 * bit. A 64-ary summary tree finds it in a few count-trailing-zeros steps: O(log64 n) per
 * operation, no comparisons and no allocation on the hot path. */
#define DAGR__RQ_LEVELS 6

typedef struct dagr__readyq {
  uint64_t *lvl[DAGR__RQ_LEVELS]; /* lvl[0] has one bit per task */
  size_t words[DAGR__RQ_LEVELS];
  int nlevels;
  size_t count;
} dagr__readyq;

static inline int dagr__rq_init(dagr__readyq *q, size_t n) {
  memset(q, 0, sizeof *q);
  size_t bits = n ? n : 1;
  do {
    size_t w = (bits + 63) / 64;
    q->lvl[q->nlevels] = calloc(w, 8);
    if (!q->lvl[q->nlevels]) return DAGR_ENOMEM;
    q->words[q->nlevels] = w;
    q->nlevels++;
    bits = w;
  } while (bits > 1 && q->nlevels < DAGR__RQ_LEVELS);
  return bits > 1 ? DAGR_EINVAL : DAGR_OK;
}

static inline void dagr__rq_free(dagr__readyq *q) {
  for (int i = 0; i < q->nlevels; i++) free(q->lvl[i]);
  memset(q, 0, sizeof *q);
}

static inline void dagr__rq_set(dagr__readyq *q, size_t i) {
  q->count++;
  for (int l = 0; l < q->nlevels; l++) {
    uint64_t *w = &q->lvl[l][i / 64];
    int was_empty = *w == 0;
    *w |= 1ull << (i % 64);
    if (!was_empty) return;
    i /= 64;
  }
}

static inline void dagr__rq_clear(dagr__readyq *q, size_t i) {
  q->count--;
  for (int l = 0; l < q->nlevels; l++) {
    uint64_t *w = &q->lvl[l][i / 64];
    *w &= ~(1ull << (i % 64));
    if (*w != 0) return;
    i /= 64;
  }
}

/* Smallest set index, or -1 when empty. */
static inline int64_t dagr__rq_first(const dagr__readyq *q) {
  if (q->count == 0) return -1;
  size_t i = 0;
  for (int l = q->nlevels - 1; l >= 0; l--) i = i * 64 + (size_t)__builtin_ctzll(q->lvl[l][i]);
  return (int64_t)i;
}

/* Smallest set index greater than i, or -1. */
static inline int64_t dagr__rq_next(const dagr__readyq *q, size_t i) {
  size_t pos = i + 1;
  int l = 0;
  /* Climb while the rest of the current word is empty. */
  for (;;) {
    if (pos / 64 >= q->words[l]) return -1;
    uint64_t rest = q->lvl[l][pos / 64] & (~0ull << (pos % 64));
    if (rest) {
      pos = (pos / 64) * 64 + (size_t)__builtin_ctzll(rest);
      break;
    }
    if (l == q->nlevels - 1) return -1;
    pos = pos / 64 + 1;
    l++;
  }
  /* Descend to the first set bit below. */
  for (; l > 0; l--) pos = pos * 64 + (size_t)__builtin_ctzll(q->lvl[l - 1][pos]);
  return (int64_t)pos;
}

#endif
