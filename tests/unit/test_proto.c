/* test_proto.c: unit tests of the message codec: round trips, validation, hostile input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_util.h"
#include "graph/params.h"
#include "proto/proto.h"

#define HDR      sizeof(dagr__msg_hdr)
#define NTASKS   16 /* the plan size the ASSIGN tests put in the header */
#define MAX_DEPS 16
#define MAX_DONE 32

/* ---------------------------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------------------------- */

/* xorshift64*: a seeded PRNG, so every run corrupts the same bytes. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static void rng_fill(uint64_t *s, unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(rng_next(s) >> 56);
}

/* An exactly-sized heap copy, so valgrind and ASan flag any read past the end. */
static unsigned char *exact_copy(const void *src, size_t n) {
  unsigned char *c = malloc(n ? n : 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  if (n) memcpy(c, src, n);
  return c;
}

/* Finishes the message in b, frees b and returns the bytes in an exactly-sized block. */
static unsigned char *finish_exact(dagr__buf *b, uint32_t count, size_t *len) {
  CU_EXPECT_INT(dagr__msg_finish(b, count), DAGR_OK);
  unsigned char *c = exact_copy(b->p, b->len);
  *len = b->len;
  dagr__buf_free(b);
  return c;
}

/* Writes an integer of the given width (1, 2, 4 or 8 bytes) at msg + at, host byte order. */
static void poke(unsigned char *msg, size_t at, uint64_t v, int width) {
  uint8_t v8 = (uint8_t)v;
  uint16_t v16 = (uint16_t)v;
  uint32_t v32 = (uint32_t)v;
  switch (width) {
  case 1:
    memcpy(msg + at, &v8, 1);
    break;
  case 2:
    memcpy(msg + at, &v16, 2);
    break;
  case 4:
    memcpy(msg + at, &v32, 4);
    break;
  default:
    memcpy(msg + at, &v, 8);
    break;
  }
}

/* Validates an exactly-sized copy of msg with one field overwritten. */
static int validate_poked(const unsigned char *msg, size_t len, size_t at, uint64_t v, int width,
                          char *err, size_t errlen) {
  unsigned char *c = exact_copy(msg, len);
  poke(c, at, v, width);
  err[0] = '\0';
  int rc = dagr__msg_validate(c, len, err, errlen);
  free(c);
  return rc;
}

/* A copy of msg with `extra` zero bytes appended and the header's len fixed up. */
static unsigned char *with_trailing(const unsigned char *msg, size_t len, size_t extra,
                                    size_t *newlen) {
  unsigned char *c = calloc(1, len + extra);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  memcpy(c, msg, len);
  *newlen = len + extra;
  poke(c, offsetof(dagr__msg_hdr, len), *newlen, 8);
  return c;
}

static int inside(const void *ptr, uint64_t n, const unsigned char *lo, const unsigned char *hi) {
  const unsigned char *p = ptr;
  return p != NULL && p >= lo && p <= hi && n <= (uint64_t)(hi - p);
}

static uint64_t sum_bytes(const void *p, size_t n) {
  const unsigned char *q = p;
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++) s += q[i];
  return s;
}

static volatile uint64_t g_sink; /* keeps the byte sums of recheck() from being optimised away */

/* For a message that validated: decodes every record again, as the receivers do, checks that
 * every decode succeeds and that everything the views point at lies inside the message, and
 * reads those bytes (so valgrind sees any overread). Returns the number of problems. */
static int recheck(const unsigned char *msg, size_t size) {
  dagr__msg_hdr h;
  if (dagr__msg_check(msg, size, &h, NULL, 0) != DAGR_OK) return 1;
  const unsigned char *end = msg + size;
  unsigned type = h.magic_type & 0xffu;
  size_t pos = HDR;
  uint64_t sum = 0;
  int bad = 0;
  for (uint32_t i = 0; i < h.count; i++) {
    if (type == DAGR__MSG_ASSIGN) {
      dagr__task_view t;
      if (dagr__dec_task(msg, size, &pos, &t) != DAGR_OK) return bad + 1;
      if (h.ntasks && t.task >= h.ntasks) bad++;
      if (!inside(t.params, t.params_len, msg, end)) bad++;
      if (t.flags & ~DAGR__TASK_GROUP_MASK) bad++;
      if (t.keylen > DAGR__TASK_KEY_MAX || (t.keylen && !inside(t.key, t.keylen, msg, end))) bad++;
      sum += sum_bytes(t.key, t.keylen);
      if (t.end != msg + pos || t.deps > t.end) bad++;
      sum += sum_bytes(t.params, t.params_len);
      const unsigned char *p = t.deps;
      for (uint32_t k = 0; k < t.ndeps; k++) {
        dagr__dep d;
        if (dagr__dec_dep_next(&p, t.end, &d) != DAGR_OK) {
          bad++;
          break;
        }
        if (d.kind < DAGR__DEP_SCALAR || d.kind > DAGR__DEP_REMOTE || d.ndim > DAGR_MAX_NDIM) bad++;
        if (d.kind == DAGR__DEP_INLINE || d.kind == DAGR__DEP_REMOTE) {
          if (!inside(d.shape, 8 * (uint64_t)d.ndim, msg, t.end))
            bad++;
          else
            sum += sum_bytes(d.shape, 8 * (size_t)d.ndim);
        }
        if (d.kind == DAGR__DEP_INLINE || d.kind == DAGR__DEP_SCALAR) {
          if (!inside(d.data, d.nbytes, msg, t.end))
            bad++;
          else
            sum += sum_bytes(d.data, (size_t)d.nbytes);
        }
      }
      if (p != t.end) bad++;
    } else if (type == DAGR__MSG_DONE) {
      dagr__done_view d;
      const unsigned char *rec_end;
      if (dagr__dec_done(msg, size, &pos, &d) != DAGR_OK) return bad + 1;
      rec_end = msg + pos;
      if (d.ndim > DAGR_MAX_NDIM || (d.flags & ~63)) bad++;
      if (!inside(d.shape, 8 * (uint64_t)d.ndim, msg, rec_end))
        bad++;
      else
        sum += sum_bytes(d.shape, 8 * (size_t)d.ndim);
      if (d.flags & DAGR__DONE_INLINE) {
        if (!inside(d.data, d.nbytes, msg, rec_end))
          bad++;
        else
          sum += sum_bytes(d.data, (size_t)d.nbytes);
      }
      if (d.flags & DAGR__DONE_ERROR) {
        if (!inside(d.errmsg, 1, msg, rec_end) ||
            !memchr(d.errmsg, 0, (size_t)(rec_end - (const unsigned char *)d.errmsg)))
          bad++;
        else
          sum += strlen(d.errmsg);
      }
      int carriers = !!(d.flags & DAGR__DONE_STORE) + !!(d.flags & DAGR__DONE_SCALAR) +
                     !!(d.flags & DAGR__DONE_INLINE) + !!(d.flags & DAGR__DONE_FILE);
      if (d.status == DAGR_OK ? carriers != 1 : !(d.flags & DAGR__DONE_ERROR)) bad++;
      if ((d.flags & DAGR__DONE_SCALAR) && d.nbytes != 8) bad++;
    } else if (type == DAGR__MSG_RELEASE) {
      uint32_t v;
      if (dagr__dec_u32(msg, size, &pos, &v) != DAGR_OK) return bad + 1;
      sum += v;
    } else {
      return bad + 1; /* control messages carry no records */
    }
  }
  if ((type == DAGR__MSG_ASSIGN || type == DAGR__MSG_DONE) && pos != size) bad++;
  g_sink += sum;
  return bad;
}

/* ---------------------------------------------------------------------------------------------
 * ASSIGN specifications: what the tests encode, and compare the decoded views against.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
  uint32_t obj;
  int kind, dtype, ndim;
  int64_t shape[DAGR_MAX_NDIM];
  uint64_t value, nbytes, offset;
  uint32_t owner;
  unsigned char *data; /* INLINE (malloc'd) */
} dep_spec;

typedef struct {
  uint32_t task;
  uint16_t kernel;
  dagr_params_t *params; /* NULL: no params */
  size_t ndeps;
  dep_spec deps[MAX_DEPS];
} task_spec;

typedef struct {
  size_t ntasks;
  task_spec t[8];
} assign_spec;

static dep_spec *add_dep(task_spec *t, int kind, uint32_t obj, int dtype) {
  CU_ASSERT_FATAL(t->ndeps < MAX_DEPS);
  dep_spec *d = &t->deps[t->ndeps++];
  memset(d, 0, sizeof *d);
  d->kind = kind;
  d->obj = obj;
  d->dtype = dtype;
  return d;
}

static void random_shape(dep_spec *d, int ndim, uint64_t *seed) {
  d->ndim = ndim;
  for (int i = 0; i < ndim; i++) d->shape[i] = (int64_t)rng_next(seed);
  if (ndim == DAGR_MAX_NDIM) { /* the extremes travel unchanged */
    d->shape[0] = INT64_MIN;
    d->shape[1] = INT64_MAX;
  }
}

static void add_scalar(task_spec *t, uint32_t obj, int dtype, uint64_t value) {
  add_dep(t, DAGR__DEP_SCALAR, obj, dtype)->value = value;
}

static void add_inline(task_spec *t, uint32_t obj, int dtype, int ndim, uint64_t nbytes,
                       uint64_t *seed) {
  dep_spec *d = add_dep(t, DAGR__DEP_INLINE, obj, dtype);
  random_shape(d, ndim, seed);
  d->nbytes = nbytes;
  d->data = malloc(nbytes ? (size_t)nbytes : 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d->data);
  rng_fill(seed, d->data, (size_t)nbytes);
}

static void add_local(task_spec *t, uint32_t obj) {
  add_dep(t, DAGR__DEP_LOCAL, obj, 0);
}

static void add_remote(task_spec *t, uint32_t obj, int dtype, int ndim, uint32_t owner,
                       uint64_t offset, uint64_t nbytes, uint64_t *seed) {
  dep_spec *d = add_dep(t, DAGR__DEP_REMOTE, obj, dtype);
  random_shape(d, ndim, seed);
  d->owner = owner;
  d->offset = offset;
  d->nbytes = nbytes;
}

/* A params blob with one entry of every type. */
static dagr_params_t *make_params(void) {
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  static const int64_t iv[] = {1, -2, 3};
  static const double dv[] = {0.5, -1.25};
  CU_EXPECT_INT(dagr_params_set_int(p, "n", -42), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_double(p, "scale", 2.5), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_string(p, "path", "data/x.h5"), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_int_array(p, "shape", iv, 3), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_double_array(p, "weights", dv, 2), DAGR_OK);
  return p;
}

/* Five tasks covering every dependency kind; INLINE deps with ndim 0..8 and odd byte counts.
 * big: include 64 KiB payloads (the robustness tests use the small form, which they copy often). */
static assign_spec *make_assign_spec(int big) {
  assign_spec *s = calloc(1, sizeof *s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  task_spec *t;

  t = &s->t[s->ntasks++]; /* params of every type, scalars and locals */
  t->task = 5;
  t->kernel = 3;
  t->params = make_params();
  add_scalar(t, 1, DAGR_DTYPE_INT64, 0x8000000000000001ull);
  double d = -2.5;
  uint64_t bits;
  memcpy(&bits, &d, 8);
  add_scalar(t, 2, DAGR_DTYPE_FLOAT64, bits);
  add_local(t, 3);
  add_local(t, 0);

  t = &s->t[s->ntasks++]; /* no params; INLINE with every ndim */
  t->task = 6;
  t->kernel = 0;
  const uint64_t sizes[DAGR_MAX_NDIM + 1] = {1, 7, 9, big ? 65536 : 64, 0, 8, 15, big ? 65537 : 3,
                                             16};
  for (int nd = 0; nd <= DAGR_MAX_NDIM; nd++)
    add_inline(t, (uint32_t)nd, DAGR_DTYPE_UINT8, nd, sizes[nd], &seed);

  t = &s->t[s->ntasks++]; /* a string param; REMOTE with every ndim */
  t->task = 9;
  t->kernel = UINT16_MAX;
  CU_EXPECT_INT(dagr_params_create(&t->params), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_string(t->params, "mode", "fast"), DAGR_OK);
  for (int nd = 0; nd <= DAGR_MAX_NDIM; nd++)
    add_remote(t, 10u + (uint32_t)nd, DAGR_DTYPE_FLOAT32, nd,
               nd == DAGR_MAX_NDIM ? UINT32_MAX : (uint32_t)nd, (1ull << 40) + 8u * (uint64_t)nd,
               (uint64_t)nd * 1000003u, &seed);

  t = &s->t[s->ntasks++]; /* params, no deps */
  t->task = 0;
  t->kernel = 1;
  CU_EXPECT_INT(dagr_params_create(&t->params), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_int(t->params, "k", 7), DAGR_OK);

  t = &s->t[s->ntasks++]; /* the highest task id the plan allows; one dep of each kind */
  t->task = NTASKS - 1;
  t->kernel = 2;
  add_inline(t, 4, DAGR_DTYPE_INT32, 2, 9, &seed);
  add_local(t, 5);
  add_remote(t, 6, DAGR_DTYPE_INT64, 3, 1, 4096, 24, &seed);
  add_scalar(t, 7, DAGR_DTYPE_BOOL, 1);
  return s;
}

static void free_assign_spec(assign_spec *s) {
  for (size_t i = 0; i < s->ntasks; i++) {
    dagr_params_free(s->t[i].params);
    for (size_t k = 0; k < s->t[i].ndeps; k++) free(s->t[i].deps[k].data);
  }
  free(s);
}

static unsigned char *build_assign(const assign_spec *s, uint32_t run, uint32_t ntasks,
                                   size_t *len) {
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, run, ntasks), DAGR_OK);
  for (size_t i = 0; i < s->ntasks; i++) {
    const task_spec *t = &s->t[i];
    const void *pb = t->params ? t->params->buf : NULL;
    uint32_t pl = t->params ? (uint32_t)t->params->len : 0;
    CU_EXPECT_INT(dagr__enc_task(&b, t->task, t->kernel, pb, pl, (uint32_t)t->ndeps), DAGR_OK);
    for (size_t k = 0; k < t->ndeps; k++) {
      const dep_spec *d = &t->deps[k];
      int rc = DAGR_EINVAL;
      switch (d->kind) {
      case DAGR__DEP_SCALAR:
        rc = dagr__enc_dep_scalar(&b, d->obj, d->dtype, d->value);
        break;
      case DAGR__DEP_INLINE:
        rc = dagr__enc_dep_inline(&b, d->obj, d->dtype, d->ndim, d->shape, d->data, d->nbytes);
        break;
      case DAGR__DEP_LOCAL:
        rc = dagr__enc_dep_local(&b, d->obj);
        break;
      case DAGR__DEP_REMOTE:
        rc = dagr__enc_dep_remote(&b, d->obj, d->dtype, d->ndim, d->shape, d->owner, d->offset,
                                  d->nbytes);
        break;
      }
      CU_EXPECT_INT(rc, DAGR_OK);
    }
  }
  return finish_exact(&b, (uint32_t)s->ntasks, len);
}

/* Decodes msg record by record and compares every field with the spec. */
static void compare_assign(const assign_spec *s, const unsigned char *msg, size_t len) {
  dagr__msg_hdr h;
  CU_EXPECT_INT(dagr__msg_check(msg, len, &h, NULL, 0), DAGR_OK);
  CU_EXPECT_INT(h.count, s->ntasks);
  size_t pos = HDR;
  for (size_t i = 0; i < s->ntasks; i++) {
    const task_spec *e = &s->t[i];
    dagr__task_view t;
    memset(&t, 0xcd, sizeof t);
    CU_EXPECT_INT(dagr__dec_task(msg, len, &pos, &t), DAGR_OK);
    CU_EXPECT_INT(t.task, e->task);
    CU_EXPECT_INT(t.kernel, e->kernel);
    CU_EXPECT_INT(t.flags, 0);
    size_t plen = e->params ? e->params->len : 0;
    CU_EXPECT_INT(t.params_len, plen);
    CU_EXPECT_INT((uintptr_t)t.params % 8, 0);
    if (plen) CU_EXPECT_INT(memcmp(t.params, e->params->buf, plen), 0);
    CU_EXPECT_INT(dagr__params_validate(t.params, t.params_len), DAGR_OK);
    CU_EXPECT_INT(t.ndeps, e->ndeps);
    CU_EXPECT_INT(t.end - msg, pos);
    const unsigned char *p = t.deps;
    for (size_t k = 0; k < e->ndeps; k++) {
      const dep_spec *x = &e->deps[k];
      dagr__dep d;
      memset(&d, 0xcd, sizeof d);
      CU_EXPECT_INT(dagr__dec_dep_next(&p, t.end, &d), DAGR_OK);
      CU_EXPECT_INT(d.obj, x->obj);
      CU_EXPECT_INT(d.kind, x->kind);
      switch (x->kind) {
      case DAGR__DEP_SCALAR:
        CU_EXPECT_INT(d.dtype, x->dtype);
        CU_EXPECT_INT(d.ndim, 0);
        CU_EXPECT_INT(d.value, x->value);
        CU_EXPECT_INT(d.nbytes, 8);
        CU_ASSERT_PTR_NOT_NULL(d.data);
        if (d.data) CU_EXPECT_INT(memcmp(d.data, &x->value, 8), 0);
        CU_ASSERT_PTR_NULL(d.shape);
        break;
      case DAGR__DEP_INLINE:
        CU_EXPECT_INT(d.dtype, x->dtype);
        CU_EXPECT_INT(d.ndim, x->ndim);
        CU_EXPECT_INT(d.nbytes, x->nbytes);
        CU_EXPECT_INT((uintptr_t)d.shape % 8, 0);
        CU_EXPECT_INT((uintptr_t)d.data % 8, 0);
        CU_EXPECT_INT(memcmp(d.shape, x->shape, 8 * (size_t)x->ndim), 0);
        CU_EXPECT_INT(memcmp(d.data, x->data, (size_t)x->nbytes), 0);
        CU_EXPECT_INT(d.owner, 0);
        CU_EXPECT_INT(d.offset, 0);
        break;
      case DAGR__DEP_LOCAL:
        CU_EXPECT_INT(d.ndim, 0);
        CU_EXPECT_INT(d.nbytes, 0);
        CU_ASSERT_PTR_NULL(d.shape);
        CU_ASSERT_PTR_NULL(d.data);
        break;
      case DAGR__DEP_REMOTE:
        CU_EXPECT_INT(d.dtype, x->dtype);
        CU_EXPECT_INT(d.ndim, x->ndim);
        CU_EXPECT_INT(d.owner, x->owner);
        CU_EXPECT_INT(d.offset, x->offset);
        CU_EXPECT_INT(d.nbytes, x->nbytes);
        CU_EXPECT_INT(memcmp(d.shape, x->shape, 8 * (size_t)x->ndim), 0);
        CU_ASSERT_PTR_NULL(d.data);
        break;
      }
    }
    CU_ASSERT(p == t.end); /* the deps fill the record exactly */
  }
  CU_EXPECT_INT(pos, len);
}

/* ---------------------------------------------------------------------------------------------
 * DONE specifications.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
  size_t n;
  dagr__done_view d[MAX_DONE];
  int64_t shapes[MAX_DONE][DAGR_MAX_NDIM];
  unsigned char *data[MAX_DONE];
} done_spec;

static dagr__done_view *add_done(done_spec *s, int flags, int ndim, uint64_t *seed) {
  CU_ASSERT_FATAL(s->n < MAX_DONE);
  size_t i = s->n++;
  dagr__done_view *d = &s->d[i];
  memset(d, 0, sizeof *d);
  d->task = (uint32_t)i * 3u;
  d->status = DAGR_OK;
  d->exec_us = (uint32_t)rng_next(seed);
  d->dtype = DAGR_DTYPE_FLOAT64;
  d->flags = flags;
  d->ndim = ndim;
  for (int k = 0; k < ndim; k++) s->shapes[i][k] = (int64_t)(rng_next(seed) % 100000u) - 7;
  d->shape = s->shapes[i];
  if (flags & DAGR__DONE_FETCH) {
    d->fetch_ns = rng_next(seed);
    d->fetch_bytes = rng_next(seed);
    d->nfetch = (uint32_t)rng_next(seed);
    d->fetch_max_us = i % 2 ? UINT32_MAX : (uint32_t)rng_next(seed);
  }
  return d;
}

/* One record of every valid flag combination: SCALAR, INLINE (1, 7, 9 and 65536 or 100 bytes),
 * STORE and ERROR (several message lengths), each without and with FETCH. */
static done_spec *make_done_spec(int big) {
  done_spec *s = calloc(1, sizeof *s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  uint64_t seed = 0x0123456789abcdefull;
  const uint64_t sizes[] = {1, 7, 9, big ? 65536 : 100};
  static const char *const msgs[] = {"", "1234567", "kernel 'sum' failed: input has NaN"};
  for (int fetch = 0; fetch <= DAGR__DONE_FETCH; fetch += DAGR__DONE_FETCH) {
    dagr__done_view *d = add_done(s, DAGR__DONE_SCALAR | fetch, 0, &seed);
    d->dtype = DAGR_DTYPE_INT64;
    d->nbytes = 8;
    d->value = rng_next(&seed);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
      d = add_done(s, DAGR__DONE_INLINE | fetch, (int)(k * 3 % (DAGR_MAX_NDIM + 1)), &seed);
      d->dtype = DAGR_DTYPE_UINT8;
      d->nbytes = sizes[k];
      s->data[s->n - 1] = malloc((size_t)sizes[k]);
      CU_ASSERT_PTR_NOT_NULL_FATAL(s->data[s->n - 1]);
      rng_fill(&seed, s->data[s->n - 1], (size_t)sizes[k]);
      d->data = s->data[s->n - 1];
    }
    d = add_done(s, DAGR__DONE_STORE | fetch, fetch ? DAGR_MAX_NDIM : 2, &seed);
    d->nbytes = 1ull << 33;
    d->offset = rng_next(&seed);
    for (size_t k = 0; k < sizeof msgs / sizeof *msgs; k++) {
      d = add_done(s, DAGR__DONE_ERROR | fetch, 0, &seed);
      d->status = k == 2 ? DAGR_EKERNEL : DAGR_ENOMEM;
      d->errmsg = msgs[k];
    }
  }
  return s;
}

static void free_done_spec(done_spec *s) {
  for (size_t i = 0; i < s->n; i++) free(s->data[i]);
  free(s);
}

static unsigned char *build_done(const done_spec *s, uint32_t run, size_t *len) {
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_DONE, run, 0), DAGR_OK);
  for (size_t i = 0; i < s->n; i++) CU_EXPECT_INT(dagr__enc_done(&b, &s->d[i]), DAGR_OK);
  return finish_exact(&b, (uint32_t)s->n, len);
}

static void compare_done(const done_spec *s, const unsigned char *msg, size_t len) {
  size_t pos = HDR;
  for (size_t i = 0; i < s->n; i++) {
    const dagr__done_view *e = &s->d[i];
    dagr__done_view d;
    memset(&d, 0xcd, sizeof d);
    CU_EXPECT_INT(dagr__dec_done(msg, len, &pos, &d), DAGR_OK);
    CU_EXPECT_INT(d.task, e->task);
    CU_EXPECT_INT(d.status, e->status);
    CU_EXPECT_INT(d.exec_us, e->exec_us);
    CU_EXPECT_INT(d.dtype, e->dtype);
    CU_EXPECT_INT(d.ndim, e->ndim);
    CU_EXPECT_INT(d.flags, e->flags);
    CU_EXPECT_INT(d.nbytes, e->nbytes);
    /* Parts the flags leave out decode as zero. */
    CU_EXPECT_INT(d.fetch_ns, e->fetch_ns);
    CU_EXPECT_INT(d.fetch_bytes, e->fetch_bytes);
    CU_EXPECT_INT(d.nfetch, e->nfetch);
    CU_EXPECT_INT(d.fetch_max_us, e->fetch_max_us);
    CU_EXPECT_INT(d.offset, e->offset);
    CU_EXPECT_INT(d.value, e->value);
    CU_EXPECT_INT((uintptr_t)d.shape % 8, 0);
    CU_EXPECT_INT(memcmp(d.shape, e->shape, 8 * (size_t)e->ndim), 0);
    if (e->flags & DAGR__DONE_INLINE) {
      CU_EXPECT_INT((uintptr_t)d.data % 8, 0);
      CU_EXPECT_INT(memcmp(d.data, e->data, (size_t)e->nbytes), 0);
    } else {
      CU_ASSERT_PTR_NULL(d.data);
    }
    if (e->flags & DAGR__DONE_ERROR) {
      CU_ASSERT_STRING_EQUAL(d.errmsg, e->errmsg);
    } else {
      CU_ASSERT_PTR_NULL(d.errmsg);
    }
  }
  CU_EXPECT_INT(pos, len);
}

/* ---------------------------------------------------------------------------------------------
 * Buffer helpers.
 * ------------------------------------------------------------------------------------------- */

static void test_buf_reserve_growth(void) {
  CU_EXPECT_INT(dagr__pad8(0), 0);
  CU_EXPECT_INT(dagr__pad8(1), 8);
  CU_EXPECT_INT(dagr__pad8(7), 8);
  CU_EXPECT_INT(dagr__pad8(8), 8);
  CU_EXPECT_INT(dagr__pad8(9), 16);

  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__buf_reserve(&b, 0), DAGR_OK); /* nothing needed, nothing allocated */
  CU_ASSERT_PTR_NULL(b.p);
  CU_EXPECT_INT(dagr__buf_reserve(&b, 1), DAGR_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b.p);
  CU_EXPECT_INT(b.cap, 4096);
  CU_EXPECT_INT(b.len, 0);
  CU_EXPECT_INT((uintptr_t)b.p % 8, 0);
  for (size_t i = 0; i < 4096; i++) b.p[i] = (unsigned char)(i * 7);
  b.len = 4096;
  unsigned char *before = b.p;
  CU_EXPECT_INT(dagr__buf_reserve(&b, 0), DAGR_OK); /* exactly full: no growth */
  CU_ASSERT(b.p == before);
  CU_EXPECT_INT(b.cap, 4096);
  CU_EXPECT_INT(dagr__buf_reserve(&b, 1), DAGR_OK); /* doubles */
  CU_EXPECT_INT(b.cap, 8192);
  CU_EXPECT_INT(b.len, 4096);
  int bad = 0;
  for (size_t i = 0; i < 4096; i++) bad += b.p[i] != (unsigned char)(i * 7);
  CU_EXPECT_INT(bad, 0);
  memset(b.p + 4096, 0x5a, 4096);
  b.len = 8192;
  CU_EXPECT_INT(dagr__buf_reserve(&b, 10000), DAGR_OK); /* 18192 needed: doubles twice */
  CU_EXPECT_INT(b.cap, 32768);
  bad = 0;
  for (size_t i = 0; i < 4096; i++) bad += b.p[i] != (unsigned char)(i * 7);
  for (size_t i = 4096; i < 8192; i++) bad += b.p[i] != 0x5a;
  CU_EXPECT_INT(bad, 0);
  memset(b.p + b.len, 0, 10000); /* the reserved room is writable (valgrind/ASan check) */
  before = b.p;
  CU_EXPECT_INT(dagr__buf_reserve(&b, b.cap - b.len), DAGR_OK);
  CU_ASSERT(b.p == before);
  CU_EXPECT_INT(b.cap, 32768);
  dagr__buf_free(&b);
  CU_ASSERT_PTR_NULL(b.p);
  CU_EXPECT_INT(b.len, 0);
  CU_EXPECT_INT(b.cap, 0);
  dagr__buf_free(&b); /* twice is harmless */

  /* The encoders grow the buffer themselves: many small records, then one large one. */
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_RELEASE, 1, 0), DAGR_OK);
  for (uint32_t i = 0; i < 5000; i++) CU_EXPECT_INT(dagr__enc_u32(&b, i), DAGR_OK);
  CU_EXPECT_INT(b.len, HDR + 4 * 5000);
  CU_ASSERT(b.cap >= b.len);
  dagr__buf_free(&b);
}

static void test_buf_take(void) {
  dagr__buf b = {0};
  size_t len = 99;
  void *p = dagr__buf_take(&b, &len); /* an empty buffer hands over nothing */
  CU_ASSERT_PTR_NULL(p);
  CU_EXPECT_INT(len, 0);

  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_RUN_END, 42, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__msg_finish(&b, 0), DAGR_OK);
  unsigned char *orig = b.p;
  p = dagr__buf_take(&b, &len);
  CU_ASSERT(p == orig);
  CU_EXPECT_INT(len, HDR);
  CU_ASSERT_PTR_NULL(b.p);
  CU_EXPECT_INT(b.len, 0);
  CU_EXPECT_INT(b.cap, 0);
  char err[256] = "";
  CU_EXPECT_INT(dagr__msg_validate(p, len, err, sizeof err), DAGR_OK);
  /* The buffer is reusable after a take, and freeing it does not touch the taken bytes. */
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_SHUTDOWN, 0, 3), DAGR_OK);
  CU_EXPECT_INT(dagr__msg_finish(&b, 0), DAGR_OK);
  CU_ASSERT(b.p != p);
  dagr__buf_free(&b);
  dagr__msg_hdr h;
  CU_EXPECT_INT(dagr__msg_check(p, len, &h, NULL, 0), DAGR_OK);
  CU_EXPECT_INT(h.run, 42);
  free(p); /* the caller owns it: valgrind reports a leak or double free otherwise */
}

static void test_msg_finish_pads(void) {
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_count(&b), 0);
  char err[256];
  for (uint32_t n = 0; n <= 17; n++) {
    CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_RELEASE, 7, 0), DAGR_OK);
    for (uint32_t i = 0; i < n; i++) CU_EXPECT_INT(dagr__enc_u32(&b, 1000 + i), DAGR_OK);
    CU_EXPECT_INT(b.len, HDR + 4 * n);
    /* Poison what lies past the end: finish must write zero padding, not leave stale bytes. */
    CU_EXPECT_INT(dagr__buf_reserve(&b, 8), DAGR_OK);
    memset(b.p + b.len, 0xee, 8);
    CU_EXPECT_INT(dagr__msg_finish(&b, n), DAGR_OK);
    CU_EXPECT_INT(b.len, dagr__pad8(HDR + 4 * n));
    CU_EXPECT_INT(b.len % 8, 0);
    if (n % 2) CU_EXPECT_INT(memcmp(b.p + b.len - 4, "\0\0\0\0", 4), 0);
    CU_EXPECT_INT(dagr__msg_count(&b), n);
    dagr__msg_hdr h;
    memcpy(&h, b.p, sizeof h);
    CU_EXPECT_INT(h.len, b.len);
    CU_EXPECT_INT(h.count, n);
    CU_EXPECT_INT(dagr__msg_validate(b.p, b.len, err, sizeof err), DAGR_OK);
    /* Finishing again changes nothing. */
    size_t len = b.len;
    CU_EXPECT_INT(dagr__msg_finish(&b, n), DAGR_OK);
    CU_EXPECT_INT(b.len, len);
  }
  dagr__buf_free(&b);
}

/* The documented record sizes, and zeroed padding even in a reused (dirty) buffer. */
static void test_exact_layout(void) {
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 1, 4), DAGR_OK);
  CU_EXPECT_INT(dagr__buf_reserve(&b, 512), DAGR_OK);
  memset(b.p + b.len, 0xee, b.cap - b.len);
  const int64_t shape[3] = {3, 1, 3};
  const unsigned char nine[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  size_t at = b.len;
  CU_EXPECT_INT(dagr__enc_task(&b, 3, 7, NULL, 0, 4), DAGR_OK);
  CU_EXPECT_INT(b.len - at, sizeof(dagr__assign_rec));
  CU_EXPECT_INT(sizeof(dagr__assign_rec), 16);
  at = b.len;
  CU_EXPECT_INT(dagr__enc_dep_scalar(&b, 1, DAGR_DTYPE_INT64, 77), DAGR_OK);
  CU_EXPECT_INT(b.len - at, 16);
  at = b.len;
  CU_EXPECT_INT(dagr__enc_dep_local(&b, 2), DAGR_OK);
  CU_EXPECT_INT(b.len - at, 8);
  at = b.len;
  CU_EXPECT_INT(dagr__enc_dep_inline(&b, 0, DAGR_DTYPE_UINT8, 3, shape, nine, 9), DAGR_OK);
  CU_EXPECT_INT(b.len - at, 8 + 8 + 24 + 16);
  CU_EXPECT_INT(b.p[at + 4], DAGR__DEP_INLINE);
  CU_EXPECT_INT(b.p[at + 5], DAGR_DTYPE_UINT8);
  CU_EXPECT_INT(b.p[at + 6], 3);
  CU_EXPECT_INT(b.p[at + 7], 0);
  CU_EXPECT_INT(memcmp(b.p + at + 40, nine, 9), 0);
  int nonzero = 0;
  for (size_t i = 9; i < 16; i++) nonzero += b.p[at + 40 + i] != 0;
  CU_EXPECT_INT(nonzero, 0);
  at = b.len;
  CU_EXPECT_INT(dagr__enc_dep_remote(&b, 3, DAGR_DTYPE_INT64, 2, shape, 0xfffffffeu, 64, 48),
                DAGR_OK);
  CU_EXPECT_INT(b.len - at, 8 + 24 + 16);
  uint64_t owner;
  memcpy(&owner, b.p + at + 8, 8); /* u32 owner, u32 0 */
  CU_EXPECT_INT(owner, 0xfffffffeu);
  size_t len;
  unsigned char *msg = finish_exact(&b, 1, &len);
  CU_EXPECT_INT(len, HDR + 16 + 16 + 8 + 56 + 48);
  char err[256];
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  free(msg);

  /* DONE: record 24 bytes, FETCH 24, STORE 8, shape 8 * ndim, ERROR 8 + padded text. */
  CU_EXPECT_INT(sizeof(dagr__done_rec), 24);
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_DONE, 1, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__buf_reserve(&b, 512), DAGR_OK);
  memset(b.p + b.len, 0xee, b.cap - b.len);
  dagr__done_view d = {0};
  d.flags = DAGR__DONE_FETCH | DAGR__DONE_STORE;
  d.ndim = 3;
  d.shape = shape;
  d.nbytes = 72;
  at = b.len;
  CU_EXPECT_INT(dagr__enc_done(&b, &d), DAGR_OK);
  CU_EXPECT_INT(b.len - at, 24 + 24 + 8 + 24);
  memset(&d, 0, sizeof d);
  d.flags = DAGR__DONE_ERROR;
  d.status = DAGR_EKERNEL;
  d.errmsg = "boom"; /* 5 bytes with the NUL, padded to 8 */
  at = b.len;
  CU_EXPECT_INT(dagr__enc_done(&b, &d), DAGR_OK);
  CU_EXPECT_INT(b.len - at, 24 + 8 + 8);
  CU_EXPECT_INT(memcmp(b.p + at + 32, "boom\0\0\0\0", 8), 0);
  msg = finish_exact(&b, 2, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  free(msg);
}

/* ---------------------------------------------------------------------------------------------
 * Round trips.
 * ------------------------------------------------------------------------------------------- */

static void test_assign_roundtrip(void) {
  assign_spec *s = make_assign_spec(1);
  size_t len;
  unsigned char *msg = build_assign(s, 77, NTASKS, &len);
  CU_EXPECT_INT(len % 8, 0);
  CU_ASSERT(len > 2 * 65536);
  char err[256] = "";
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  dagr__msg_hdr h;
  CU_EXPECT_INT(dagr__msg_check(msg, len, &h, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(h.magic_type, DAGR__MSG_MAGIC | DAGR__MSG_ASSIGN);
  CU_EXPECT_INT(h.run, 77);
  CU_EXPECT_INT(h.ntasks, NTASKS);
  CU_EXPECT_INT(h.len, len);
  compare_assign(s, msg, len);
  CU_EXPECT_INT(recheck(msg, len), 0);

  /* The decoded params blob answers lookups like the original. */
  size_t pos = HDR;
  dagr__task_view t;
  CU_EXPECT_INT(dagr__dec_task(msg, len, &pos, &t), DAGR_OK);
  const void *pl = NULL;
  int type = 0;
  CU_EXPECT_INT(dagr__params_find(t.params, t.params_len, "n", &type, &pl, NULL), DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_INT);
  if (pl) CU_EXPECT_INT(*(const int64_t *)pl, -42);
  CU_EXPECT_INT(dagr__params_find(t.params, t.params_len, "path", &type, &pl, NULL), DAGR_OK);
  if (pl) CU_ASSERT_STRING_EQUAL((const char *)pl, "data/x.h5");

  /* ntasks 0 in the header means "not stated": any task id is accepted. */
  free(msg);
  msg = build_assign(s, 77, 0, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  free(msg);

  /* An ASSIGN with no tasks. */
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 1, 1), DAGR_OK);
  msg = finish_exact(&b, 0, &len);
  CU_EXPECT_INT(len, HDR);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  free(msg);
  free_assign_spec(s);
}

static void test_done_roundtrip(void) {
  done_spec *s = make_done_spec(1);
  size_t len;
  unsigned char *msg = build_done(s, 12, &len);
  CU_EXPECT_INT(len % 8, 0);
  char err[256] = "";
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  dagr__msg_hdr h;
  CU_EXPECT_INT(dagr__msg_check(msg, len, &h, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(h.magic_type, DAGR__MSG_MAGIC | DAGR__MSG_DONE);
  CU_EXPECT_INT(h.count, s->n);
  CU_EXPECT_INT(h.run, 12);
  compare_done(s, msg, len);
  CU_EXPECT_INT(recheck(msg, len), 0);
  free(msg);

  /* Each combination alone, as a one-record message. */
  for (size_t i = 0; i < s->n; i++) {
    dagr__buf b = {0};
    CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_DONE, 12, 0), DAGR_OK);
    CU_EXPECT_INT(dagr__enc_done(&b, &s->d[i]), DAGR_OK);
    msg = finish_exact(&b, 1, &len);
    CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
    size_t pos = HDR;
    dagr__done_view d;
    CU_EXPECT_INT(dagr__dec_done(msg, len, &pos, &d), DAGR_OK);
    CU_EXPECT_INT(d.flags, s->d[i].flags);
    CU_EXPECT_INT(pos, len);
    free(msg);
  }
  free_done_spec(s);
}

static void test_release_roundtrip(void) {
  static const uint32_t counts[] = {0, 1, 3, 10000};
  char err[256] = "";
  for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
    uint32_t n = counts[c];
    dagr__buf b = {0};
    CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_RELEASE, 5, 0), DAGR_OK);
    for (uint32_t i = 0; i < n; i++)
      CU_EXPECT_INT(dagr__enc_u32(&b, i == 1 ? UINT32_MAX : i * 2654435761u), DAGR_OK);
    size_t len;
    unsigned char *msg = finish_exact(&b, n, &len);
    CU_EXPECT_INT(len, dagr__pad8(HDR + 4 * (size_t)n));
    CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
    dagr__msg_hdr h;
    CU_EXPECT_INT(dagr__msg_check(msg, len, &h, NULL, 0), DAGR_OK);
    CU_EXPECT_INT(h.count, n);
    size_t pos = HDR;
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t v = 0;
      if (dagr__dec_u32(msg, len, &pos, &v) != DAGR_OK ||
          v != (i == 1 ? UINT32_MAX : i * 2654435761u))
        bad++;
    }
    CU_EXPECT_INT(bad, 0);
    CU_EXPECT_INT(pos, HDR + 4 * (size_t)n);
    if (n % 2 == 0) { /* no padding: reading past the last id fails */
      uint32_t v;
      CU_EXPECT_INT(dagr__dec_u32(msg, len, &pos, &v), DAGR_EPROTO);
    }
    size_t far = len + 1;
    uint32_t v;
    CU_EXPECT_INT(dagr__dec_u32(msg, len, &far, &v), DAGR_EPROTO);
    CU_EXPECT_INT(recheck(msg, len), 0);
    free(msg);
  }
}

static void test_control_messages(void) {
  char err[256] = "";
  dagr__buf b = {0};
  size_t len;
  dagr__msg_hdr h;
  unsigned char *msg;

  static const int types[] = {DAGR__MSG_RUN_END, DAGR__MSG_SHUTDOWN, DAGR__MSG_INFO_REQ,
                              DAGR__MSG_RUN_ENDED, DAGR__MSG_INFO};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    CU_EXPECT_INT(dagr__msg_begin(&b, types[i], 31, 0), DAGR_OK);
    msg = finish_exact(&b, 0, &len);
    CU_EXPECT_INT(len, HDR);
    CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
    CU_EXPECT_INT(dagr__msg_check(msg, len, &h, err, sizeof err), DAGR_OK);
    CU_EXPECT_INT(h.magic_type & 0xffu, types[i]);
    CU_EXPECT_INT(h.run, 31);
    CU_EXPECT_INT(h.count, 0);
    free(msg);
  }

  /* SHUTDOWN carries the exit status in ntasks, negative ones included. */
  static const int statuses[] = {0, 3, DAGR_EKERNEL};
  for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
    CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_SHUTDOWN, 0, (uint32_t)statuses[i]), DAGR_OK);
    msg = finish_exact(&b, 0, &len);
    CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
    CU_EXPECT_INT(dagr__msg_check(msg, len, &h, NULL, 0), DAGR_OK);
    CU_EXPECT_INT((int)h.ntasks, statuses[i]);
    free(msg);
  }

  /* INFO: text after the header, as the worker sends it (NUL, then padding). */
  static const char *const texts[] = {"host=a role=worker threads=4", "1234567", "x"};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    size_t n = strlen(texts[i]) + 1;
    CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_INFO, 0, 0), DAGR_OK);
    CU_EXPECT_INT(dagr__buf_reserve(&b, n), DAGR_OK);
    memcpy(b.p + b.len, texts[i], n);
    b.len += n;
    msg = finish_exact(&b, 0, &len);
    CU_EXPECT_INT(len, dagr__pad8(HDR + n));
    CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
    CU_EXPECT_INT(dagr__msg_check(msg, len, &h, NULL, 0), DAGR_OK);
    CU_EXPECT_INT(h.magic_type, DAGR__MSG_MAGIC | DAGR__MSG_INFO);
    CU_ASSERT_STRING_EQUAL((const char *)msg + HDR, texts[i]);
    free(msg);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Header checks.
 * ------------------------------------------------------------------------------------------- */

static void test_msg_check_header(void) {
  char err[256];
  dagr__buf b = {0};
  size_t len;
  dagr__msg_hdr h;
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_RUN_ENDED, 0xdeadbeefu, 0x12345678u), DAGR_OK);
  unsigned char *msg = finish_exact(&b, 0, &len);
  memset(&h, 0, sizeof h);
  CU_EXPECT_INT(dagr__msg_check(msg, len, &h, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(h.magic_type, DAGR__MSG_MAGIC | DAGR__MSG_RUN_ENDED);
  CU_EXPECT_INT(h.count, 0);
  CU_EXPECT_INT(h.run, 0xdeadbeefu);
  CU_EXPECT_INT(h.ntasks, 0x12345678u);
  CU_EXPECT_INT(h.len, HDR);

  /* Shorter than a header, or NULL. */
  for (size_t t = 0; t < HDR; t++) {
    unsigned char *c = exact_copy(msg, t);
    err[0] = '\0';
    CU_EXPECT_INT(dagr__msg_check(c, t, &h, err, sizeof err), DAGR_EPROTO);
    CU_EXPECT_STR_CONTAINS(err, "shorter than a header");
    CU_EXPECT_INT(dagr__msg_validate(c, t, err, sizeof err), DAGR_EPROTO);
    free(c);
  }
  CU_EXPECT_INT(dagr__msg_check(NULL, HDR, &h, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_INT(dagr__msg_validate(NULL, 0, NULL, 0), DAGR_EPROTO);

  /* Every type byte: only the defined types pass. */
  int wrong = 0;
  for (unsigned ty = 0; ty < 256; ty++) {
    int known = (ty >= DAGR__MSG_ASSIGN && ty <= DAGR__MSG_TRACE_REQ) ||
                (ty >= DAGR__MSG_DONE && ty <= DAGR__MSG_TRACE_END);
    unsigned char *c = exact_copy(msg, len);
    poke(c, offsetof(dagr__msg_hdr, magic_type), DAGR__MSG_MAGIC | ty, 4);
    err[0] = '\0';
    int rc = dagr__msg_check(c, len, &h, err, sizeof err);
    if (rc != (known ? DAGR_OK : DAGR_EPROTO)) wrong++;
    if (!known && !strstr(err, "bad magic/type")) wrong++;
    free(c);
  }
  CU_EXPECT_INT(wrong, 0);

  /* Bad magic: any change above the type byte. */
  static const uint32_t magics[] = {0,           0x64620000u, 0x65610000u,
                                    0x64610100u, 0xe4610000u, 0x00006164u};
  for (size_t i = 0; i < sizeof magics / sizeof *magics; i++) {
    CU_EXPECT_INT(validate_poked(msg, len, 0, magics[i] | DAGR__MSG_RUN_ENDED, 4, err, sizeof err),
                  DAGR_EPROTO);
    CU_EXPECT_STR_CONTAINS(err, "bad magic/type");
  }

  /* len must equal the received size. */
  static const uint64_t lens[] = {0, HDR - 8, HDR + 8, UINT64_MAX, 1ull << 63};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    CU_EXPECT_INT(
        validate_poked(msg, len, offsetof(dagr__msg_hdr, len), lens[i], 8, err, sizeof err),
        DAGR_EPROTO);
    CU_EXPECT_STR_CONTAINS(err, "were received");
  }
  /* The right len but a size the caller got wrong. */
  unsigned char *big = calloc(1, HDR + 8);
  memcpy(big, msg, len);
  CU_EXPECT_INT(dagr__msg_check(big, HDR + 8, &h, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_STR_CONTAINS(err, "but 32 were received");
  /* Sizes that are not a multiple of 8, with a header that agrees. */
  for (size_t extra = 1; extra < 8; extra++) {
    poke(big, offsetof(dagr__msg_hdr, len), HDR + extra, 8);
    unsigned char *c = exact_copy(big, HDR + extra);
    err[0] = '\0';
    CU_EXPECT_INT(dagr__msg_check(c, HDR + extra, &h, err, sizeof err), DAGR_EPROTO);
    CU_EXPECT_STR_CONTAINS(err, "not a multiple of 8");
    free(c);
  }
  /* A NULL or zero-length error buffer is allowed. */
  CU_EXPECT_INT(dagr__msg_check(big, 3, &h, NULL, 0), DAGR_EPROTO);
  free(big);
  free(msg);
}

/* ---------------------------------------------------------------------------------------------
 * Robustness: truncation, flips, random corruption.
 * ------------------------------------------------------------------------------------------- */

/* Every proper prefix of msg is rejected: as received (header len no longer matches), with the
 * header len patched to the prefix (so the record decoders meet the short end), and by the record
 * decoders called directly on the short buffer. */
static void check_truncations(const unsigned char *msg, size_t len) {
  dagr__msg_hdr h;
  memcpy(&h, msg, sizeof h);
  unsigned type = h.magic_type & 0xffu;
  char err[256];
  int wrong = 0, wrong_patched = 0, wrong_direct = 0;
  for (size_t t = 0; t < len; t++) {
    unsigned char *c = exact_copy(msg, t);
    if (dagr__msg_validate(c, t, err, sizeof err) != DAGR_EPROTO) wrong++;
    if (t >= HDR) {
      poke(c, offsetof(dagr__msg_hdr, len), t, 8);
      if (dagr__msg_validate(c, t, err, sizeof err) != DAGR_EPROTO) wrong_patched++;
      size_t pos = HDR;
      uint32_t i;
      for (i = 0; i < h.count; i++) {
        int rc;
        if (type == DAGR__MSG_ASSIGN) {
          dagr__task_view tv;
          rc = dagr__dec_task(c, t, &pos, &tv);
        } else {
          dagr__done_view dv;
          rc = dagr__dec_done(c, t, &pos, &dv);
        }
        if (rc != DAGR_OK) break;
        if (pos > t) wrong_direct++;
      }
      if (i == h.count) wrong_direct++;
    }
    free(c);
  }
  CU_EXPECT_INT(wrong, 0);
  CU_EXPECT_INT(wrong_patched, 0);
  CU_EXPECT_INT(wrong_direct, 0);
}

static void test_assign_truncations(void) {
  assign_spec *s = make_assign_spec(0);
  size_t len;
  unsigned char *msg = build_assign(s, 3, NTASKS, &len);
  char err[256];
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  check_truncations(msg, len);
  free(msg);
  free_assign_spec(s);
}

static void test_done_truncations(void) {
  done_spec *s = make_done_spec(0);
  size_t len;
  unsigned char *msg = build_done(s, 3, &len);
  char err[256];
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  check_truncations(msg, len);
  free(msg);
  free_done_spec(s);
}

/* Changes every byte in turn, several ways; validation must answer OK or EPROTO, and a message
 * that passes must decode in full within its bounds. */
static void check_byte_flips(const unsigned char *msg, size_t len) {
  static const unsigned char xors[] = {0x01, 0x80, 0xff, 0x08};
  int ok = 0, proto = 0, other = 0, bad = 0;
  char err[256];
  unsigned char *c = exact_copy(msg, len);
  for (size_t at = 0; at < len; at++) {
    for (size_t k = 0; k < sizeof xors / sizeof *xors; k++) {
      memcpy(c, msg, len);
      c[at] ^= xors[k];
      int rc = dagr__msg_validate(c, len, err, sizeof err);
      if (rc == DAGR_OK) {
        ok++;
        bad += recheck(c, len);
      } else if (rc == DAGR_EPROTO) {
        proto++;
      } else {
        other++;
      }
    }
  }
  printf("\n    flips: %d valid, %d rejected ", ok, proto);
  CU_EXPECT_INT(other, 0);
  CU_EXPECT_INT(bad, 0);
  CU_ASSERT(proto > 0);
  CU_ASSERT(ok > 0); /* payload bytes are free to change */
  free(c);
}

/* ASSIGN records with a time limit and a key (flag bits above the group byte): round trip,
 * old-style records unchanged, malformed parts rejected, truncations and flips handled. */
static void test_assign_ext(void) {
  dagr__buf b = {0};
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_int(p, "ms", 5), DAGR_OK);
  char longkey[400];
  memset(longkey, 'k', sizeof longkey);
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 9, NTASKS), DAGR_OK);
  size_t at = b.len;
  CU_EXPECT_INT(
      dagr__enc_task_ext(&b, 1, 2, 3, 2500, "('slow', 0)", 11, p->buf, (uint32_t)p->len, 1),
      DAGR_OK);
  /* header 16 + limit 8 + key length 8 + key 16 (11 padded) + params */
  CU_EXPECT_INT(b.len - at, 16 + 8 + 8 + 16 + p->len);
  CU_EXPECT_INT(dagr__enc_dep_local(&b, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_task_ext(&b, 2, 2, 1, 0, longkey, sizeof longkey, NULL, 0, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_task_ext(&b, 3, 2, 0, UINT32_MAX, NULL, 5, NULL, 0, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_task_ext(&b, 4, 2, 2, 0, NULL, 0, NULL, 0, 0), DAGR_OK);
  size_t len;
  unsigned char *msg = finish_exact(&b, 4, &len);
  char err[256] = "";
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  CU_EXPECT_INT(recheck(msg, len), 0);
  size_t pos = HDR;
  dagr__task_view t;
  CU_EXPECT_INT(dagr__dec_task(msg, len, &pos, &t), DAGR_OK);
  CU_EXPECT_INT(t.task, 1);
  CU_EXPECT_INT(t.flags, 3); /* the group only */
  CU_EXPECT_INT(t.timeout_ms, 2500);
  CU_EXPECT_INT(t.keylen, 11);
  CU_ASSERT(t.key && memcmp(t.key, "('slow', 0)", 11) == 0);
  CU_EXPECT_INT(t.params_len, p->len);
  CU_EXPECT_INT(t.ndeps, 1);
  int64_t ms = 0;
  const void *pv = NULL;
  int type = 0;
  CU_EXPECT_INT(dagr__params_find(t.params, t.params_len, "ms", &type, &pv, NULL), DAGR_OK);
  if (pv) memcpy(&ms, pv, 8);
  CU_EXPECT_INT(ms, 5);
  CU_EXPECT_INT(dagr__dec_task(msg, len, &pos, &t), DAGR_OK);
  CU_EXPECT_INT(t.timeout_ms, 0);
  CU_EXPECT_INT(t.keylen, DAGR__TASK_KEY_MAX); /* only a prefix travels */
  CU_EXPECT_INT(t.flags, 1);
  CU_EXPECT_INT(dagr__dec_task(msg, len, &pos, &t), DAGR_OK);
  CU_EXPECT_INT(t.timeout_ms, UINT32_MAX);
  CU_EXPECT_INT(t.keylen, 0); /* NULL key: none, whatever the length says */
  CU_ASSERT_PTR_NULL(t.key);
  size_t plain = pos;
  CU_EXPECT_INT(dagr__dec_task(msg, len, &pos, &t), DAGR_OK);
  CU_EXPECT_INT(pos - plain, sizeof(dagr__assign_rec)); /* no parts: the old record exactly */
  CU_EXPECT_INT(t.flags, 2);
  CU_EXPECT_INT(t.timeout_ms, 0);
  CU_EXPECT_INT(t.keylen, 0);
  check_truncations(msg, len);
  check_byte_flips(msg, len);

  /* Reserved flag bits, a zero or huge limit, a zero or too long key length. */
  size_t flags_at = HDR + offsetof(dagr__assign_rec, flags), part = HDR + sizeof(dagr__assign_rec);
  for (unsigned bit = 10; bit < 16; bit++)
    CU_EXPECT_INT(validate_poked(msg, len, flags_at,
                                 3u | DAGR__TASK_TIMEOUT | DAGR__TASK_KEY | (1u << bit), 2, err,
                                 sizeof err),
                  DAGR_EPROTO);
  CU_EXPECT_INT(validate_poked(msg, len, part, 0, 8, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_INT(validate_poked(msg, len, part, (uint64_t)UINT32_MAX + 1, 8, err, sizeof err),
                DAGR_EPROTO);
  CU_EXPECT_INT(validate_poked(msg, len, part + 8, 0, 8, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_INT(validate_poked(msg, len, part + 8, DAGR__TASK_KEY_MAX + 1, 8, err, sizeof err),
                DAGR_EPROTO);
  /* Dropping the TIMEOUT bit makes the limit read as the key length: 2500 is too long a key. */
  CU_EXPECT_INT(validate_poked(msg, len, flags_at, 3u | DAGR__TASK_KEY, 2, err, sizeof err),
                DAGR_EPROTO);
  free(msg);
  dagr_params_free(p);
}

static void test_assign_byte_flips(void) {
  assign_spec *s = make_assign_spec(0);
  size_t len;
  unsigned char *msg = build_assign(s, 3, NTASKS, &len);
  check_byte_flips(msg, len);
  free(msg);
  free_assign_spec(s);
}

static void test_done_byte_flips(void) {
  done_spec *s = make_done_spec(0);
  size_t len;
  unsigned char *msg = build_done(s, 3, &len);
  check_byte_flips(msg, len);
  free(msg);
  free_done_spec(s);
}

/* Seeded random corruption: several bytes or whole 8-byte words changed (to values picked to hit
 * length fields: 0, 1, 8, 9, huge), sometimes also truncated with the header len patched. */
static void fuzz(const unsigned char *msg, size_t len, uint64_t seed, int iters, int *ok,
                 int *proto, int *other, int *bad) {
  static const uint64_t words[] = {
      0, 1, 8, 9, 255, 256, 65, UINT32_MAX, 1ull << 32, 1ull << 63, UINT64_MAX, UINT64_MAX - 6};
  unsigned char *c = exact_copy(msg, len);
  char err[256];
  for (int it = 0; it < iters; it++) {
    memcpy(c, msg, len);
    int changes = 1 + (int)(rng_next(&seed) % 6);
    for (int k = 0; k < changes; k++) {
      uint64_t r = rng_next(&seed);
      size_t at = (size_t)((r >> 8) % len);
      switch (r % 4) {
      case 0:
      case 1:
        c[at] ^= (unsigned char)(1u + (r >> 40) % 255u);
        break;
      case 2:
        c[at] = (unsigned char)(r >> 48);
        break;
      default: {
        size_t w = at & ~(size_t)7;
        uint64_t v = words[(r >> 32) % (sizeof words / sizeof *words)];
        if (w + 8 <= len) {
          if ((r >> 56) & 1) { /* a low half only: u32 fields */
            uint32_t v32 = (uint32_t)v;
            memcpy(c + w + ((r >> 57) & 1) * 4, &v32, 4);
          } else {
            memcpy(c + w, &v, 8);
          }
        }
        break;
      }
      }
    }
    size_t size = len;
    if (rng_next(&seed) % 4 == 0) { /* truncate, keeping the header consistent */
      size = HDR + 8 * (size_t)(rng_next(&seed) % ((len - HDR) / 8 + 1));
      poke(c, offsetof(dagr__msg_hdr, len), size, 8);
    }
    unsigned char *m = size == len ? c : exact_copy(c, size);
    int rc = dagr__msg_validate(m, size, err, sizeof err);
    if (rc == DAGR_OK) {
      (*ok)++;
      *bad += recheck(m, size);
    } else if (rc == DAGR_EPROTO) {
      (*proto)++;
    } else {
      (*other)++;
    }
    if (m != c) free(m);
  }
  free(c);
}

static void test_random_corruption(void) {
  assign_spec *as = make_assign_spec(0);
  done_spec *ds = make_done_spec(0);
  size_t alen, dlen;
  unsigned char *amsg = build_assign(as, 3, NTASKS, &alen);
  unsigned char *dmsg = build_done(ds, 3, &dlen);
  int ok = 0, proto = 0, other = 0, bad = 0;
  fuzz(amsg, alen, 0x1234567887654321ull, 20000, &ok, &proto, &other, &bad);
  printf("\n    ASSIGN: %d valid, %d rejected ", ok, proto);
  CU_EXPECT_INT(other, 0);
  CU_EXPECT_INT(bad, 0);
  CU_ASSERT(ok > 0 && proto > 0);
  ok = proto = other = bad = 0;
  fuzz(dmsg, dlen, 0xfeedfacecafebeefull, 20000, &ok, &proto, &other, &bad);
  printf("\n    DONE: %d valid, %d rejected ", ok, proto);
  CU_EXPECT_INT(other, 0);
  CU_EXPECT_INT(bad, 0);
  CU_ASSERT(ok > 0 && proto > 0);
  free(amsg);
  free(dmsg);
  free_assign_spec(as);
  free_done_spec(ds);
}

/* ---------------------------------------------------------------------------------------------
 * Targeted corruptions.
 * ------------------------------------------------------------------------------------------- */

/* Field offsets of a one-task ASSIGN without params whose first dep starts at A_DEP. */
#define A_REC   HDR
#define A_TASK  (A_REC + offsetof(dagr__assign_rec, task))
#define A_PLEN  (A_REC + offsetof(dagr__assign_rec, params_len))
#define A_NDEPS (A_REC + offsetof(dagr__assign_rec, ndeps))
#define A_DEP   (A_REC + sizeof(dagr__assign_rec))
#define A_KIND  (A_DEP + offsetof(dagr__dep_rec, kind))
#define A_NDIM  (A_DEP + offsetof(dagr__dep_rec, ndim))
#define A_BODY  (A_DEP + sizeof(dagr__dep_rec))
#define H_COUNT offsetof(dagr__msg_hdr, count)

/* A one-task ASSIGN (task id `task`, plan of `ntasks`) with a single dependency of `kind`:
 * INLINE ndim 2 with 9 bytes, REMOTE ndim 1, SCALAR or LOCAL. */
static unsigned char *one_dep_assign(int kind, uint32_t task, uint32_t ntasks,
                                     const dagr_params_t *params, size_t *len) {
  static const int64_t shape[2] = {3, 3};
  static const unsigned char nine[9] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 1, ntasks), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_task(&b, task, 1, params ? params->buf : NULL,
                               params ? (uint32_t)params->len : 0, 1),
                DAGR_OK);
  switch (kind) {
  case DAGR__DEP_INLINE:
    CU_EXPECT_INT(dagr__enc_dep_inline(&b, 2, DAGR_DTYPE_UINT8, 2, shape, nine, 9), DAGR_OK);
    break;
  case DAGR__DEP_REMOTE:
    CU_EXPECT_INT(dagr__enc_dep_remote(&b, 2, DAGR_DTYPE_INT64, 1, shape, 3, 64, 24), DAGR_OK);
    break;
  case DAGR__DEP_SCALAR:
    CU_EXPECT_INT(dagr__enc_dep_scalar(&b, 2, 1, 5), DAGR_OK);
    break;
  default:
    CU_EXPECT_INT(dagr__enc_dep_local(&b, 2), DAGR_OK);
    break;
  }
  return finish_exact(&b, 1, len);
}

#define EXPECT_POKED(msg, len, at, v, width, want)                                                 \
  CU_EXPECT_INT(validate_poked(msg, len, at, v, width, err, sizeof err), want)

static void test_assign_corruptions(void) {
  char err[256];
  size_t len;
  unsigned char *msg = one_dep_assign(DAGR__DEP_INLINE, 3, NTASKS, NULL, &len);
  CU_EXPECT_INT(len, A_BODY + 8 + 16 + 16);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  const size_t nbytes_at = A_BODY;
  /* INLINE nbytes past the end, huge, or wrapping when padded. */
  EXPECT_POKED(msg, len, nbytes_at, 16, 8, DAGR_OK); /* the pad bytes are inside: still sound */
  EXPECT_POKED(msg, len, nbytes_at, 17, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, nbytes_at, 8, 8, DAGR_EPROTO); /* leaves trailing bytes */
  EXPECT_POKED(msg, len, nbytes_at, 1ull << 63, 8, DAGR_EPROTO);
  CU_EXPECT_STR_CONTAINS(err, "record 0");
  EXPECT_POKED(msg, len, nbytes_at, UINT64_MAX, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, nbytes_at, UINT64_MAX - 6, 8, DAGR_EPROTO); /* pad8 wraps to 0 */
  EXPECT_POKED(msg, len, nbytes_at, (uint64_t)SIZE_MAX - 3, 8, DAGR_EPROTO);
  /* ndim above DAGR_MAX_NDIM, or larger than the shape present. */
  EXPECT_POKED(msg, len, A_NDIM, DAGR_MAX_NDIM + 1, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_NDIM, 255, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_NDIM, 5, 1, DAGR_EPROTO);
  /* Unknown kinds; LOCAL leaves the rest as trailing bytes. */
  EXPECT_POKED(msg, len, A_KIND, 0, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_KIND, 5, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_KIND, 255, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_KIND, DAGR__DEP_LOCAL, 1, DAGR_EPROTO);
  /* ndeps and params_len that do not fit. */
  EXPECT_POKED(msg, len, A_NDEPS, 0, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_NDEPS, 2, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_NDEPS, UINT32_MAX, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_PLEN, 4, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_PLEN, UINT32_MAX, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_PLEN, UINT32_MAX - 6, 4, DAGR_EPROTO);
  /* Task ids: the last one of the plan is fine, ntasks and beyond are not. */
  EXPECT_POKED(msg, len, A_TASK, NTASKS - 1, 4, DAGR_OK);
  EXPECT_POKED(msg, len, A_TASK, NTASKS, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_TASK, UINT32_MAX, 4, DAGR_EPROTO);
  free(msg);
  msg = one_dep_assign(DAGR__DEP_LOCAL, 1, 1, NULL, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_STR_CONTAINS(err, "record 0");
  free(msg);
  msg = one_dep_assign(DAGR__DEP_LOCAL, 0, 1, NULL, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  free(msg);

  /* SCALAR deps have no shape. */
  msg = one_dep_assign(DAGR__DEP_SCALAR, 0, 1, NULL, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  EXPECT_POKED(msg, len, A_NDIM, 1, 1, DAGR_EPROTO);
  free(msg);

  /* REMOTE: owner must fit 32 bits; ndim bounded and backed by shape entries. */
  msg = one_dep_assign(DAGR__DEP_REMOTE, 0, 1, NULL, &len);
  CU_EXPECT_INT(len, A_BODY + 24 + 8);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  EXPECT_POKED(msg, len, A_BODY + 4, 1, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_NDIM, 0, 1, DAGR_EPROTO); /* shape left as trailing bytes */
  EXPECT_POKED(msg, len, A_NDIM, 2, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_NDIM, DAGR_MAX_NDIM + 1, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_BODY + 16, UINT64_MAX, 8, DAGR_OK); /* nbytes is not a length here */
  free(msg);

  /* ndim 9 with enough bytes behind it for nine shape entries: only the ndim bound rejects it. */
  static const int64_t shape8[DAGR_MAX_NDIM] = {1, 1, 1, 1, 1, 1, 1, 1};
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 1, 1), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_task(&b, 0, 1, NULL, 0, 1), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_dep_remote(&b, 2, DAGR_DTYPE_INT64, DAGR_MAX_NDIM, shape8, 0, 0, 8),
                DAGR_OK);
  msg = finish_exact(&b, 1, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  size_t tlen;
  unsigned char *t = with_trailing(msg, len, 8, &tlen);
  CU_EXPECT_INT(dagr__msg_validate(t, tlen, err, sizeof err), DAGR_EPROTO); /* trailing */
  EXPECT_POKED(t, tlen, A_NDIM, DAGR_MAX_NDIM + 1, 1, DAGR_EPROTO);
  free(t);
  free(msg);
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 1, 1), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_task(&b, 0, 1, NULL, 0, 1), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_dep_inline(&b, 2, DAGR_DTYPE_UINT8, DAGR_MAX_NDIM, shape8, NULL, 0),
                DAGR_OK);
  msg = finish_exact(&b, 1, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  t = with_trailing(msg, len, 8, &tlen);
  EXPECT_POKED(t, tlen, A_NDIM, DAGR_MAX_NDIM + 1, 1, DAGR_EPROTO);
  free(t);
  /* Empty INLINE data at the very end: a huge nbytes (padding would wrap to 0) must not pass. */
  EXPECT_POKED(msg, len, A_BODY, UINT64_MAX - 6, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_BODY, UINT64_MAX, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_BODY, 1ull << 63, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_BODY, 1, 8, DAGR_EPROTO);
  free(msg);

  /* A corrupt params blob makes the task malformed. */
  dagr_params_t *p = make_params();
  msg = one_dep_assign(DAGR__DEP_LOCAL, 0, 1, p, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  EXPECT_POKED(msg, len, A_DEP, 0, 1, DAGR_EPROTO);        /* entry type 0 */
  EXPECT_POKED(msg, len, A_DEP + 4, 4096, 4, DAGR_EPROTO); /* entry runs past the blob */
  EXPECT_POKED(msg, len, A_PLEN, p->len - 8, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, A_PLEN, p->len + 8, 4, DAGR_EPROTO);
  free(msg);
  dagr_params_free(p);
}

#define D_REC    HDR
#define D_STATUS (D_REC + offsetof(dagr__done_rec, status))
#define D_NDIM   (D_REC + offsetof(dagr__done_rec, ndim))
#define D_FLAGS  (D_REC + offsetof(dagr__done_rec, flags))
#define D_NBYTES (D_REC + offsetof(dagr__done_rec, nbytes))
#define D_BODY   (D_REC + sizeof(dagr__done_rec))

static unsigned char *one_done(const dagr__done_view *d, size_t *len) {
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_DONE, 1, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__enc_done(&b, d), DAGR_OK);
  return finish_exact(&b, 1, len);
}

static void test_done_corruptions(void) {
  char err[256];
  size_t len;
  static const unsigned char nine[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  static const int64_t shape[1] = {9};
  dagr__done_view d = {0};
  d.flags = DAGR__DONE_INLINE;
  d.dtype = DAGR_DTYPE_UINT8;
  d.ndim = 1;
  d.shape = shape;
  d.nbytes = 9;
  d.data = nine;
  unsigned char *msg = one_done(&d, &len);
  CU_EXPECT_INT(len, D_BODY + 8 + 16);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  /* Inline data length. */
  EXPECT_POKED(msg, len, D_NBYTES, 1ull << 63, 8, DAGR_EPROTO);
  CU_EXPECT_STR_CONTAINS(err, "record 0");
  EXPECT_POKED(msg, len, D_NBYTES, UINT64_MAX, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NBYTES, UINT64_MAX - 6, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NBYTES, 17, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NBYTES, 1, 8, DAGR_EPROTO); /* trailing */
  /* ndim. */
  EXPECT_POKED(msg, len, D_NDIM, DAGR_MAX_NDIM + 1, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NDIM, 255, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NDIM, 4, 1, DAGR_EPROTO);
  /* Flags: unknown bits, no carrier, two carriers, failure without a message. */
  EXPECT_POKED(msg, len, D_FLAGS, 32 | DAGR__DONE_INLINE, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_FLAGS, 128 | DAGR__DONE_INLINE, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_FLAGS, 0, 1, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_FLAGS, DAGR__DONE_STORE, 1, DAGR_EPROTO); /* trailing */
  EXPECT_POKED(msg, len, D_STATUS, (uint32_t)DAGR_EKERNEL, 4, DAGR_EPROTO);
  free(msg);

  /* Status OK needs exactly one carrier: encoded that way on purpose. */
  static const int flagsets[] = {0,
                                 DAGR__DONE_FETCH,
                                 DAGR__DONE_STORE | DAGR__DONE_SCALAR,
                                 DAGR__DONE_STORE | DAGR__DONE_INLINE,
                                 DAGR__DONE_SCALAR | DAGR__DONE_INLINE,
                                 DAGR__DONE_STORE | DAGR__DONE_SCALAR | DAGR__DONE_INLINE |
                                     DAGR__DONE_FETCH};
  for (size_t i = 0; i < sizeof flagsets / sizeof *flagsets; i++) {
    memset(&d, 0, sizeof d);
    d.flags = flagsets[i];
    d.nbytes = 8;
    d.data = nine;
    msg = one_done(&d, &len);
    CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_EPROTO);
    size_t pos = HDR;
    dagr__done_view v;
    CU_EXPECT_INT(dagr__dec_done(msg, len, &pos, &v), DAGR_EPROTO);
    free(msg);
  }
  /* A failure must carry a message. */
  memset(&d, 0, sizeof d);
  d.flags = DAGR__DONE_FETCH;
  d.status = DAGR_EKERNEL;
  msg = one_done(&d, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_EPROTO);
  free(msg);
  /* Empty INLINE data at the very end: a huge nbytes (padding would wrap to 0) must not pass. */
  memset(&d, 0, sizeof d);
  d.flags = DAGR__DONE_INLINE;
  msg = one_done(&d, &len);
  CU_EXPECT_INT(len, D_BODY);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  EXPECT_POKED(msg, len, D_NBYTES, UINT64_MAX - 6, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NBYTES, UINT64_MAX, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NBYTES, 1ull << 63, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_NBYTES, 1, 8, DAGR_EPROTO);
  free(msg);
  /* ndim 9 with nine shape entries present: only the ndim bound rejects it. */
  static const int64_t shape8[DAGR_MAX_NDIM] = {2, 2, 2, 2, 2, 2, 2, 2};
  memset(&d, 0, sizeof d);
  d.flags = DAGR__DONE_STORE;
  d.ndim = DAGR_MAX_NDIM;
  d.shape = shape8;
  d.nbytes = 256;
  msg = one_done(&d, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  size_t tlen;
  unsigned char *t = with_trailing(msg, len, 8, &tlen);
  CU_EXPECT_INT(dagr__msg_validate(t, tlen, err, sizeof err), DAGR_EPROTO); /* trailing */
  EXPECT_POKED(t, tlen, D_NDIM, DAGR_MAX_NDIM + 1, 1, DAGR_EPROTO);
  free(t);
  free(msg);
  /* SCALAR values are 8 bytes. */
  memset(&d, 0, sizeof d);
  d.flags = DAGR__DONE_SCALAR;
  d.nbytes = 4;
  msg = one_done(&d, &len);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_EPROTO);
  free(msg);

  /* Error message: 7 characters + NUL fill the 8 bytes exactly. */
  memset(&d, 0, sizeof d);
  d.flags = DAGR__DONE_ERROR;
  d.status = DAGR_EKERNEL;
  d.errmsg = "abcdefg";
  msg = one_done(&d, &len);
  CU_EXPECT_INT(len, D_BODY + 8 + 8);
  CU_EXPECT_INT(dagr__msg_validate(msg, len, err, sizeof err), DAGR_OK);
  EXPECT_POKED(msg, len, D_BODY + 8 + 7, 'x', 1, DAGR_EPROTO); /* no NUL */
  EXPECT_POKED(msg, len, D_BODY, 0, 8, DAGR_EPROTO);           /* empty */
  EXPECT_POKED(msg, len, D_BODY, 4, 8, DAGR_EPROTO);           /* NUL not at len - 1 */
  EXPECT_POKED(msg, len, D_BODY, 9, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_BODY, 1ull << 63, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_BODY, UINT64_MAX - 6, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_BODY, UINT64_MAX, 8, DAGR_EPROTO);
  EXPECT_POKED(msg, len, D_FLAGS, DAGR__DONE_ERROR | DAGR__DONE_FETCH, 1, DAGR_EPROTO);
  free(msg);
}

/* TRACE: events round trip; a bad type, a slice ending before it starts, a truncated record or
 * trailing bytes are rejected. */
static void test_trace_events(void) {
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_TRACE, 7, 0), DAGR_OK);
  dagr__tev in[5] = {{10, 20, 16, 24, 1, 3, DAGR__TEV_TASK, 0},
                     {30, 45, 4096, 0, 2, 1, DAGR__TEV_XFER, 0},
                     {50, 60, 8192, 0, 3, 0, DAGR__TEV_SPILL, 0},
                     {70, 90, 8192, 0, 3, 0, DAGR__TEV_RESTORE, 0},
                     {95, 95, 123456, 0, 0, 0, DAGR__TEV_MEM, 0}};
  for (int i = 0; i < 5; i++) CU_EXPECT_INT(dagr__enc_tev(&b, &in[i]), DAGR_OK);
  CU_EXPECT_INT(dagr__msg_finish(&b, 5), DAGR_OK);
  char err[256];
  CU_EXPECT_INT(dagr__msg_validate(b.p, b.len, err, sizeof err), DAGR_OK);
  size_t pos = sizeof(dagr__msg_hdr);
  for (int i = 0; i < 5; i++) {
    dagr__tev e;
    CU_EXPECT_INT(dagr__dec_tev(b.p, b.len, &pos, &e), DAGR_OK);
    CU_ASSERT(memcmp(&e, &in[i], sizeof e) == 0);
  }
  CU_EXPECT_INT(pos, b.len);
  size_t first = sizeof(dagr__msg_hdr);
  /* A type out of range. */
  unsigned char *c = exact_copy(b.p, b.len);
  c[first + offsetof(dagr__tev, type)] = 9;
  CU_EXPECT_INT(dagr__msg_validate(c, b.len, err, sizeof err), DAGR_EPROTO);
  free(c);
  /* Ends before it starts. */
  c = exact_copy(b.p, b.len);
  uint64_t early = 5;
  memcpy(c + first + offsetof(dagr__tev, t1), &early, 8);
  CU_EXPECT_INT(dagr__msg_validate(c, b.len, err, sizeof err), DAGR_EPROTO);
  free(c);
  /* One record more than there is. */
  c = exact_copy(b.p, b.len);
  uint32_t six = 6;
  memcpy(c + offsetof(dagr__msg_hdr, count), &six, 4);
  CU_EXPECT_INT(dagr__msg_validate(c, b.len, err, sizeof err), DAGR_EPROTO);
  /* One fewer: the last record is trailing bytes. */
  uint32_t four = 4;
  memcpy(c + offsetof(dagr__msg_hdr, count), &four, 4);
  CU_EXPECT_INT(dagr__msg_validate(c, b.len, err, sizeof err), DAGR_EPROTO);
  free(c);
  /* TRACE_ON is a control message without records. */
  dagr__buf on = {0};
  CU_EXPECT_INT(dagr__msg_begin(&on, DAGR__MSG_TRACE_ON, 7, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__msg_finish(&on, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__msg_validate(on.p, on.len, err, sizeof err), DAGR_OK);
  dagr__buf_free(&on);
  dagr__buf_free(&b);
}

static void test_trailing_and_counts(void) {
  char err[256];
  size_t len, tlen;
  unsigned char *msg, *t;

  /* One extra zero word after the records of every record-carrying type. */
  assign_spec *as = make_assign_spec(0);
  msg = build_assign(as, 1, NTASKS, &len);
  t = with_trailing(msg, len, 8, &tlen);
  CU_EXPECT_INT(dagr__msg_validate(t, tlen, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_STR_CONTAINS(err, "trailing");
  free(t);
  EXPECT_POKED(msg, len, H_COUNT, as->ntasks + 1, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, as->ntasks - 1, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, 0, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, UINT32_MAX, 4, DAGR_EPROTO);
  free(msg);
  free_assign_spec(as);

  done_spec *ds = make_done_spec(0);
  msg = build_done(ds, 1, &len);
  t = with_trailing(msg, len, 8, &tlen);
  CU_EXPECT_INT(dagr__msg_validate(t, tlen, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_STR_CONTAINS(err, "trailing");
  free(t);
  EXPECT_POKED(msg, len, H_COUNT, ds->n + 1, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, ds->n - 1, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, UINT32_MAX, 4, DAGR_EPROTO);
  free(msg);
  free_done_spec(ds);

  /* RELEASE: padding is allowed, a further word is not; counts must match the ids. */
  dagr__buf b = {0};
  CU_EXPECT_INT(dagr__msg_begin(&b, DAGR__MSG_RELEASE, 1, 0), DAGR_OK);
  for (uint32_t i = 0; i < 3; i++) CU_EXPECT_INT(dagr__enc_u32(&b, i), DAGR_OK);
  msg = finish_exact(&b, 3, &len);
  CU_EXPECT_INT(len, HDR + 16);
  t = with_trailing(msg, len, 8, &tlen);
  CU_EXPECT_INT(dagr__msg_validate(t, tlen, err, sizeof err), DAGR_EPROTO);
  CU_EXPECT_STR_CONTAINS(err, "trailing");
  free(t);
  EXPECT_POKED(msg, len, H_COUNT, 2, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, 5, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, 0, 4, DAGR_EPROTO);
  EXPECT_POKED(msg, len, H_COUNT, UINT32_MAX, 4, DAGR_EPROTO);
  free(msg);

  /* Control messages: no records, no payload (INFO excepted: its payload is text). */
  static const int ctl[] = {DAGR__MSG_RUN_END, DAGR__MSG_SHUTDOWN, DAGR__MSG_INFO_REQ,
                            DAGR__MSG_RUN_ENDED, DAGR__MSG_INFO};
  for (size_t i = 0; i < sizeof ctl / sizeof *ctl; i++) {
    CU_EXPECT_INT(dagr__msg_begin(&b, ctl[i], 1, 0), DAGR_OK);
    msg = finish_exact(&b, 0, &len);
    EXPECT_POKED(msg, len, H_COUNT, 1, 4, DAGR_EPROTO);
    CU_EXPECT_STR_CONTAINS(err, "record 0");
    t = with_trailing(msg, len, 8, &tlen);
    CU_EXPECT_INT(dagr__msg_validate(t, tlen, err, sizeof err),
                  ctl[i] == DAGR__MSG_INFO ? DAGR_OK : DAGR_EPROTO);
    free(t);
    free(msg);
  }
}

int main(void) {
  static const cu_test_def tests[] = {
      {"buffer reserve grows and keeps contents", test_buf_reserve_growth},
      {"buffer take hands ownership over", test_buf_take},
      {"msg_finish pads to 8 and fills the header", test_msg_finish_pads},
      {"exact record layout and zero padding", test_exact_layout},
      {"ASSIGN round trip, every dependency kind", test_assign_roundtrip},
      {"ASSIGN time limit and key parts", test_assign_ext},
      {"DONE round trip, every valid flag combination", test_done_roundtrip},
      {"RELEASE round trip with 0, 1, 3, 10000 ids", test_release_roundtrip},
      {"control and INFO messages", test_control_messages},
      {"msg_check reports and rejects headers", test_msg_check_header},
      {"every ASSIGN truncation rejected", test_assign_truncations},
      {"every DONE truncation rejected", test_done_truncations},
      {"ASSIGN byte flips never crash", test_assign_byte_flips},
      {"DONE byte flips never crash", test_done_byte_flips},
      {"random multi-byte corruption never crashes", test_random_corruption},
      {"targeted ASSIGN corruptions rejected", test_assign_corruptions},
      {"targeted DONE corruptions rejected", test_done_corruptions},
      {"trailing bytes and wrong counts rejected", test_trailing_and_counts},
      {"TRACE events round trip and bad ones rejected", test_trace_events},
      {NULL, NULL},
  };
  return cu_run_suite("proto", tests);
}
