/* proto.c: encoding and bounds-checked decoding of scheduler/worker messages. */
#include <stdlib.h>
#include <string.h>

#include "graph/params.h"
#include "proto/proto.h"

int dagr__buf_reserve(dagr__buf *b, size_t n) {
  if (n > SIZE_MAX - b->len) return DAGR_ENOMEM;
  size_t need = b->len + n;
  if (DAGR__LIKELY(need <= b->cap)) return DAGR_OK;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  unsigned char *p = realloc(b->p, cap);
  if (!p) return DAGR_ENOMEM;
  b->p = p;
  b->cap = cap;
  return DAGR_OK;
}

void dagr__buf_free(dagr__buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* Appends n bytes and zero padding up to the next multiple of 8. Caller reserved room. */
static inline void put_padded(dagr__buf *b, const void *src, size_t n) {
  if (n) memcpy(b->p + b->len, src, n);
  size_t padded = dagr__pad8(n);
  if (padded > n) memset(b->p + b->len + n, 0, padded - n);
  b->len += padded;
}

static inline void put64(dagr__buf *b, uint64_t v) {
  memcpy(b->p + b->len, &v, 8);
  b->len += 8;
}

int dagr__msg_begin(dagr__buf *b, int type, uint32_t run, uint32_t ntasks) {
  b->len = 0;
  if (dagr__buf_reserve(b, sizeof(dagr__msg_hdr))) return DAGR_ENOMEM;
  dagr__msg_hdr h = {DAGR__MSG_MAGIC | (uint32_t)type, 0, run, ntasks, 0};
  memcpy(b->p, &h, sizeof h);
  b->len = sizeof h;
  return DAGR_OK;
}

int dagr__msg_finish(dagr__buf *b, uint32_t count) {
  size_t padded = dagr__pad8(b->len);
  if (padded > b->len) {
    if (dagr__buf_reserve(b, padded - b->len)) return DAGR_ENOMEM;
    memset(b->p + b->len, 0, padded - b->len);
    b->len = padded;
  }
  dagr__msg_hdr *h = (dagr__msg_hdr *)b->p;
  h->count = count;
  h->len = b->len;
  return DAGR_OK;
}

int dagr__enc_task(dagr__buf *b, uint32_t task, uint16_t kernel, const void *params,
                   uint32_t params_len, uint32_t ndeps) {
  return dagr__enc_task_group(b, task, kernel, 0, params, params_len, ndeps);
}

int dagr__enc_task_group(dagr__buf *b, uint32_t task, uint16_t kernel, uint16_t group,
                         const void *params, uint32_t params_len, uint32_t ndeps) {
  if (dagr__buf_reserve(b, sizeof(dagr__assign_rec) + dagr__pad8(params_len))) return DAGR_ENOMEM;
  dagr__assign_rec r = {task, kernel, group, params_len, ndeps};
  memcpy(b->p + b->len, &r, sizeof r);
  b->len += sizeof r;
  put_padded(b, params, params_len);
  return DAGR_OK;
}

int dagr__enc_task_ext(dagr__buf *b, uint32_t task, uint16_t kernel, uint16_t group,
                       uint32_t timeout_ms, const char *key, size_t keylen, const void *params,
                       uint32_t params_len, uint32_t ndeps) {
  if (keylen > DAGR__TASK_KEY_MAX) keylen = DAGR__TASK_KEY_MAX;
  if (!key) keylen = 0;
  uint16_t flags = (uint16_t)(group & DAGR__TASK_GROUP_MASK);
  if (timeout_ms) flags |= DAGR__TASK_TIMEOUT;
  if (keylen) flags |= DAGR__TASK_KEY;
  size_t extra = (timeout_ms ? 8 : 0) + (keylen ? 8 + dagr__pad8(keylen) : 0);
  if (dagr__buf_reserve(b, sizeof(dagr__assign_rec) + extra + dagr__pad8(params_len)))
    return DAGR_ENOMEM;
  dagr__assign_rec r = {task, kernel, flags, params_len, ndeps};
  memcpy(b->p + b->len, &r, sizeof r);
  b->len += sizeof r;
  if (timeout_ms) put64(b, timeout_ms);
  if (keylen) {
    put64(b, keylen);
    put_padded(b, key, keylen);
  }
  put_padded(b, params, params_len);
  return DAGR_OK;
}

static inline void put_dep(dagr__buf *b, uint32_t obj, int kind, int dtype, int ndim) {
  dagr__dep_rec r = {obj, (uint8_t)kind, (uint8_t)dtype, (uint8_t)ndim, 0};
  memcpy(b->p + b->len, &r, sizeof r);
  b->len += sizeof r;
}

int dagr__enc_dep_scalar(dagr__buf *b, uint32_t obj, int dtype, uint64_t value) {
  if (dagr__buf_reserve(b, 16)) return DAGR_ENOMEM;
  put_dep(b, obj, DAGR__DEP_SCALAR, dtype, 0);
  put64(b, value);
  return DAGR_OK;
}

int dagr__enc_dep_inline(dagr__buf *b, uint32_t obj, int dtype, int ndim, const int64_t *shape,
                         const void *data, uint64_t nbytes) {
  if (nbytes > SIZE_MAX / 2) return DAGR_ENOMEM;
  if (dagr__buf_reserve(b, 16 + 8 * (size_t)ndim + dagr__pad8(nbytes))) return DAGR_ENOMEM;
  put_dep(b, obj, DAGR__DEP_INLINE, dtype, ndim);
  put64(b, nbytes);
  put_padded(b, shape, 8 * (size_t)ndim);
  put_padded(b, data, nbytes);
  return DAGR_OK;
}

int dagr__enc_dep_local(dagr__buf *b, uint32_t obj) {
  if (dagr__buf_reserve(b, 8)) return DAGR_ENOMEM;
  put_dep(b, obj, DAGR__DEP_LOCAL, 0, 0);
  return DAGR_OK;
}

int dagr__enc_dep_remote(dagr__buf *b, uint32_t obj, int dtype, int ndim, const int64_t *shape,
                         uint32_t owner, uint64_t offset, uint64_t nbytes) {
  if (dagr__buf_reserve(b, 32 + 8 * (size_t)ndim)) return DAGR_ENOMEM;
  put_dep(b, obj, DAGR__DEP_REMOTE, dtype, ndim);
  put64(b, owner);
  put64(b, offset);
  put64(b, nbytes);
  put_padded(b, shape, 8 * (size_t)ndim);
  return DAGR_OK;
}

int dagr__enc_u32(dagr__buf *b, uint32_t v) {
  if (dagr__buf_reserve(b, 4)) return DAGR_ENOMEM;
  memcpy(b->p + b->len, &v, 4);
  b->len += 4;
  return DAGR_OK;
}

int dagr__enc_done(dagr__buf *b, const dagr__done_view *d) {
  if ((d->flags & DAGR__DONE_INLINE) && d->nbytes > SIZE_MAX / 2) return DAGR_ENOMEM;
  size_t msglen = (d->flags & DAGR__DONE_ERROR) ? strlen(d->errmsg) + 1 : 0;
  size_t need = sizeof(dagr__done_rec) + 24 + 8 + 8 * (size_t)d->ndim + 8 +
                ((d->flags & DAGR__DONE_INLINE) ? dagr__pad8(d->nbytes) : 0) + 8 +
                dagr__pad8(msglen);
  if (dagr__buf_reserve(b, need)) return DAGR_ENOMEM;
  dagr__done_rec r = {d->task,          d->status,         d->exec_us, (uint8_t)d->dtype,
                      (uint8_t)d->ndim, (uint8_t)d->flags, 0,          d->nbytes};
  memcpy(b->p + b->len, &r, sizeof r);
  b->len += sizeof r;
  if (d->flags & DAGR__DONE_FETCH) {
    put64(b, d->fetch_ns);
    put64(b, d->fetch_bytes);
    put64(b, (uint64_t)d->nfetch | ((uint64_t)d->fetch_max_us << 32));
  }
  if (d->flags & DAGR__DONE_STORE) put64(b, d->offset);
  put_padded(b, d->shape, 8 * (size_t)d->ndim);
  if (d->flags & DAGR__DONE_SCALAR) put64(b, d->value);
  if (d->flags & DAGR__DONE_INLINE) put_padded(b, d->data, d->nbytes);
  if (d->flags & DAGR__DONE_ERROR) {
    put64(b, (uint64_t)msglen);
    put_padded(b, d->errmsg, msglen);
  }
  return DAGR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Decoding. Every read checks the remaining length first.
 * ------------------------------------------------------------------------------------------- */

static inline int take(const unsigned char **p, const unsigned char *end, size_t n,
                       const unsigned char **out) {
  if ((size_t)(end - *p) < n) return DAGR_EPROTO;
  *out = *p;
  *p += n;
  return DAGR_OK;
}

static inline int take64(const unsigned char **p, const unsigned char *end, uint64_t *v) {
  const unsigned char *q;
  if (take(p, end, 8, &q)) return DAGR_EPROTO;
  memcpy(v, q, 8);
  return DAGR_OK;
}

static int valid_type(uint32_t t) {
  switch (t) {
  case DAGR__MSG_ASSIGN:
  case DAGR__MSG_RELEASE:
  case DAGR__MSG_RUN_END:
  case DAGR__MSG_SHUTDOWN:
  case DAGR__MSG_INFO_REQ:
  case DAGR__MSG_SPILL:
  case DAGR__MSG_RESTORE:
  case DAGR__MSG_TRACE_ON:
  case DAGR__MSG_TRACE_REQ:
  case DAGR__MSG_TRACE:
  case DAGR__MSG_TRACE_END:
  case DAGR__MSG_RESTORED:
  case DAGR__MSG_FAULT:
  case DAGR__MSG_DONE:
  case DAGR__MSG_RUN_ENDED:
  case DAGR__MSG_INFO:
    return 1;
  default:
    return 0;
  }
}

int dagr__msg_check(const void *msg, size_t size, dagr__msg_hdr *hdr, char *err, size_t errlen) {
  if (!msg || size < sizeof(dagr__msg_hdr))
    return dagr__errf(err, errlen, DAGR_EPROTO, "message of %zu bytes is shorter than a header",
                      size);
  memcpy(hdr, msg, sizeof *hdr);
  if ((hdr->magic_type & 0xffffff00u) != DAGR__MSG_MAGIC || !valid_type(hdr->magic_type & 0xffu))
    return dagr__errf(err, errlen, DAGR_EPROTO, "message has bad magic/type 0x%08x",
                      hdr->magic_type);
  if (hdr->len != size)
    return dagr__errf(err, errlen, DAGR_EPROTO,
                      "message header says %llu bytes but %zu were received",
                      (unsigned long long)hdr->len, size);
  if (size % 8 != 0)
    return dagr__errf(err, errlen, DAGR_EPROTO, "message size %zu is not a multiple of 8", size);
  return DAGR_OK;
}

int dagr__dec_task(const void *msg, size_t size, size_t *pos, dagr__task_view *t) {
  const unsigned char *base = msg, *p = base + *pos, *end = base + size, *q;
  if (take(&p, end, sizeof(dagr__assign_rec), &q)) return DAGR_EPROTO;
  dagr__assign_rec r;
  memcpy(&r, q, sizeof r);
  t->task = r.task;
  t->kernel = r.kernel;
  t->flags = r.flags & DAGR__TASK_GROUP_MASK;
  t->params_len = r.params_len;
  t->ndeps = r.ndeps;
  t->timeout_ms = 0;
  t->keylen = 0;
  t->key = NULL;
  if (r.flags & ~(DAGR__TASK_GROUP_MASK | DAGR__TASK_TIMEOUT | DAGR__TASK_KEY)) return DAGR_EPROTO;
  if (r.flags & DAGR__TASK_TIMEOUT) {
    uint64_t v;
    if (take64(&p, end, &v) || v == 0 || v > UINT32_MAX) return DAGR_EPROTO;
    t->timeout_ms = (uint32_t)v;
  }
  if (r.flags & DAGR__TASK_KEY) {
    uint64_t n;
    if (take64(&p, end, &n) || n == 0 || n > DAGR__TASK_KEY_MAX ||
        take(&p, end, dagr__pad8((size_t)n), &q))
      return DAGR_EPROTO;
    t->keylen = (uint32_t)n;
    t->key = (const char *)q;
  }
  if (take(&p, end, dagr__pad8(r.params_len), &q)) return DAGR_EPROTO;
  t->params = q;
  if (dagr__params_validate(q, r.params_len)) return DAGR_EPROTO;
  t->deps = p;
  /* Each dependency is at least 8 bytes: a cheap bound before walking them. */
  if ((uint64_t)r.ndeps * 8 > (uint64_t)(end - p)) return DAGR_EPROTO;
  dagr__dep d;
  for (uint32_t i = 0; i < r.ndeps; i++)
    if (dagr__dec_dep_next(&p, end, &d)) return DAGR_EPROTO;
  t->end = p;
  *pos = (size_t)(p - base);
  return DAGR_OK;
}

int dagr__dec_dep_next(const unsigned char **pp, const unsigned char *end, dagr__dep *d) {
  const unsigned char *p = *pp, *q;
  if (take(&p, end, sizeof(dagr__dep_rec), &q)) return DAGR_EPROTO;
  dagr__dep_rec r;
  memcpy(&r, q, sizeof r);
  d->obj = r.obj;
  d->kind = r.kind;
  d->dtype = r.dtype;
  d->ndim = r.ndim;
  d->shape = NULL;
  d->data = NULL;
  d->value = 0;
  d->nbytes = 0;
  d->owner = 0;
  d->offset = 0;
  if (r.ndim > DAGR_MAX_NDIM) return DAGR_EPROTO;
  switch (r.kind) {
  case DAGR__DEP_SCALAR:
    if (r.ndim != 0 || take(&p, end, 8, &q)) return DAGR_EPROTO;
    memcpy(&d->value, q, 8);
    d->data = q;
    d->nbytes = 8;
    break;
  case DAGR__DEP_INLINE:
    if (take64(&p, end, &d->nbytes)) return DAGR_EPROTO;
    if (take(&p, end, 8 * (size_t)r.ndim, &q)) return DAGR_EPROTO;
    d->shape = (const int64_t *)(const void *)q;
    if (d->nbytes > (uint64_t)(end - p) || take(&p, end, dagr__pad8(d->nbytes), &q))
      return DAGR_EPROTO;
    d->data = q;
    break;
  case DAGR__DEP_LOCAL:
    break;
  case DAGR__DEP_REMOTE: {
    uint64_t owner;
    if (take64(&p, end, &owner) || take64(&p, end, &d->offset) || take64(&p, end, &d->nbytes))
      return DAGR_EPROTO;
    if (owner > UINT32_MAX) return DAGR_EPROTO;
    d->owner = (uint32_t)owner;
    if (take(&p, end, 8 * (size_t)r.ndim, &q)) return DAGR_EPROTO;
    d->shape = (const int64_t *)(const void *)q;
    break;
  }
  default:
    return DAGR_EPROTO;
  }
  *pp = p;
  return DAGR_OK;
}

int dagr__dec_done(const void *msg, size_t size, size_t *pos, dagr__done_view *d) {
  const unsigned char *base = msg, *p = base + *pos, *end = base + size, *q;
  if (take(&p, end, sizeof(dagr__done_rec), &q)) return DAGR_EPROTO;
  dagr__done_rec r;
  memcpy(&r, q, sizeof r);
  memset(d, 0, sizeof *d);
  d->task = r.task;
  d->status = r.status;
  d->exec_us = r.exec_us;
  d->dtype = r.dtype;
  d->ndim = r.ndim;
  d->flags = r.flags;
  d->nbytes = r.nbytes;
  if (r.ndim > DAGR_MAX_NDIM || (r.flags & ~63u)) return DAGR_EPROTO;
  if (r.flags & DAGR__DONE_FETCH) {
    uint64_t packed;
    if (take64(&p, end, &d->fetch_ns) || take64(&p, end, &d->fetch_bytes) ||
        take64(&p, end, &packed))
      return DAGR_EPROTO;
    d->nfetch = (uint32_t)packed;
    d->fetch_max_us = (uint32_t)(packed >> 32);
  }
  if ((r.flags & DAGR__DONE_STORE) && take64(&p, end, &d->offset)) return DAGR_EPROTO;
  if (take(&p, end, 8 * (size_t)r.ndim, &q)) return DAGR_EPROTO;
  d->shape = (const int64_t *)(const void *)q;
  if ((r.flags & DAGR__DONE_SCALAR) && take64(&p, end, &d->value)) return DAGR_EPROTO;
  if (r.flags & DAGR__DONE_INLINE) {
    if (r.nbytes > (uint64_t)(end - p) || take(&p, end, dagr__pad8(r.nbytes), &q))
      return DAGR_EPROTO;
    d->data = q;
  }
  if (r.flags & DAGR__DONE_ERROR) {
    uint64_t len;
    if (take64(&p, end, &len) || len == 0 || len > (uint64_t)(end - p) ||
        take(&p, end, dagr__pad8(len), &q))
      return DAGR_EPROTO;
    if (q[len - 1] != '\0') return DAGR_EPROTO;
    d->errmsg = (const char *)q;
  }
  /* Exactly one way of carrying the value, unless the task failed. */
  int carriers = !!(r.flags & DAGR__DONE_STORE) + !!(r.flags & DAGR__DONE_SCALAR) +
                 !!(r.flags & DAGR__DONE_INLINE) + !!(r.flags & DAGR__DONE_FILE);
  if (r.status == DAGR_OK ? carriers != 1 : !(r.flags & DAGR__DONE_ERROR)) return DAGR_EPROTO;
  if ((r.flags & DAGR__DONE_SCALAR) && r.nbytes != 8) return DAGR_EPROTO;
  *pos = (size_t)(p - base);
  return DAGR_OK;
}

int dagr__dec_u32(const void *msg, size_t size, size_t *pos, uint32_t *v) {
  if (*pos > size || size - *pos < 4) return DAGR_EPROTO;
  memcpy(v, (const unsigned char *)msg + *pos, 4);
  *pos += 4;
  return DAGR_OK;
}

int dagr__enc_restored(dagr__buf *b, uint32_t obj, uint64_t offset) {
  if (dagr__buf_reserve(b, sizeof(dagr__restored_rec))) return DAGR_ENOMEM;
  dagr__restored_rec r = {obj, 0, offset};
  memcpy(b->p + b->len, &r, sizeof r);
  b->len += sizeof r;
  return DAGR_OK;
}

int dagr__dec_restored(const void *msg, size_t size, size_t *pos, dagr__restored_rec *r) {
  if (*pos > size || size - *pos < sizeof *r) return DAGR_EPROTO;
  memcpy(r, (const unsigned char *)msg + *pos, sizeof *r);
  *pos += sizeof *r;
  return DAGR_OK;
}

int dagr__enc_tev(dagr__buf *b, const dagr__tev *e) {
  if (dagr__buf_reserve(b, sizeof *e)) return DAGR_ENOMEM;
  memcpy(b->p + b->len, e, sizeof *e);
  b->len += sizeof *e;
  return DAGR_OK;
}

int dagr__dec_tev(const void *msg, size_t size, size_t *pos, dagr__tev *e) {
  if (*pos > size || size - *pos < sizeof *e) return DAGR_EPROTO;
  memcpy(e, (const unsigned char *)msg + *pos, sizeof *e);
  if (e->type < DAGR__TEV_TASK || e->type > DAGR__TEV_MEM || e->t1 < e->t0) return DAGR_EPROTO;
  *pos += sizeof *e;
  return DAGR_OK;
}

int dagr__msg_validate(const void *msg, size_t size, char *err, size_t errlen) {
  dagr__msg_hdr h;
  int rc = dagr__msg_check(msg, size, &h, err, errlen);
  if (rc) return rc;
  size_t pos = sizeof h;
  uint32_t type = h.magic_type & 0xffu;
  for (uint32_t i = 0; i < h.count; i++) {
    if (type == DAGR__MSG_ASSIGN) {
      dagr__task_view t;
      rc = dagr__dec_task(msg, size, &pos, &t);
      if (!rc && h.ntasks && t.task >= h.ntasks) rc = DAGR_EPROTO;
    } else if (type == DAGR__MSG_DONE) {
      dagr__done_view d;
      rc = dagr__dec_done(msg, size, &pos, &d);
    } else if (type == DAGR__MSG_RELEASE || type == DAGR__MSG_SPILL || type == DAGR__MSG_RESTORE) {
      uint32_t v;
      rc = dagr__dec_u32(msg, size, &pos, &v);
    } else if (type == DAGR__MSG_RESTORED) {
      dagr__restored_rec r;
      rc = dagr__dec_restored(msg, size, &pos, &r);
    } else if (type == DAGR__MSG_TRACE) {
      dagr__tev e;
      rc = dagr__dec_tev(msg, size, &pos, &e);
    } else {
      rc = DAGR_EPROTO; /* control messages have no records */
    }
    if (rc)
      return dagr__errf(err, errlen, DAGR_EPROTO, "record %u of a type-%u message is malformed", i,
                        type);
  }
  if (type == DAGR__MSG_RELEASE || type == DAGR__MSG_SPILL || type == DAGR__MSG_RESTORE)
    pos = dagr__pad8(pos);
  if (type != DAGR__MSG_INFO && type != DAGR__MSG_FAULT && pos != size)
    return dagr__errf(err, errlen, DAGR_EPROTO,
                      "type-%u message has %zu trailing bytes after %u records", type, size - pos,
                      h.count);
  return DAGR_OK;
}
