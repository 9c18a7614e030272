/* fuzz_proto.c: libFuzzer harness for every scheduler/worker message decoder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/params.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

/* Reads n bytes at p one by one: a view that points past the message is then an ASan report at
 * the decoder's call site instead of a silently wrong value. */
static uint64_t touch(const void *p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++) s += ((const unsigned char *)p)[i];
  return s;
}

/* The parameter names the built-in kernels look up, as a kernel would on the worker. */
static uint64_t touch_params(const void *blob, size_t len) {
  static const char *const names[] = {"value", "ms", "message", "bytes", "seed"};
  uint64_t s = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    int type;
    const void *payload;
    size_t plen;
    if (dagr__params_find(blob, len, names[i], &type, &payload, &plen) == DAGR_OK)
      s += touch(payload, plen) + (uint64_t)type;
  }
  return s;
}

/* One dependency as the worker uses it: shape read as int64s in place (the format keeps them
 * 8-aligned, so UBSan's alignment check holds the decoder to that), inline bytes read. A LOCAL
 * dependency's metadata comes from the worker's object table, not the message, so only the
 * other kinds' shapes are read. */
static uint64_t touch_dep(const dagr__dep *d) {
  uint64_t s = d->obj + d->value + d->owner + d->offset;
  if (d->kind != DAGR__DEP_LOCAL)
    for (int i = 0; i < d->ndim; i++) s += (uint64_t)d->shape[i];
  if (d->kind == DAGR__DEP_INLINE || d->kind == DAGR__DEP_SCALAR) s += touch(d->data, d->nbytes);
  return s;
}

/* ASSIGN records from *pos, the way the worker walks them after validation: the task, then each
 * dependency with dagr__dec_dep_next up to the task's end. Stops at the first malformed record. */
static uint64_t walk_assign(const unsigned char *msg, size_t size, size_t pos, uint32_t count,
                            uint32_t *decoded) {
  uint64_t s = 0;
  *decoded = 0;
  for (uint32_t i = 0; i < count; i++, ++*decoded) {
    dagr__task_view t;
    if (dagr__dec_task(msg, size, &pos, &t) != DAGR_OK) break;
    s += touch(t.params, t.params_len) + touch_params(t.params, t.params_len);
    s += touch(t.key, t.keylen) + t.timeout_ms + t.flags;
    const unsigned char *p = t.deps;
    for (uint32_t j = 0; j < t.ndeps; j++) {
      dagr__dep d;
      if (dagr__dec_dep_next(&p, t.end, &d) != DAGR_OK) abort(); /* dec_task accepted them */
      s += touch_dep(&d);
    }
    if (p != t.end) abort();
  }
  return s;
}

/* DONE records from *pos, the way the scheduler reads completions. */
static uint64_t walk_done(const unsigned char *msg, size_t size, size_t pos, uint32_t count,
                          uint32_t *decoded) {
  uint64_t s = 0;
  *decoded = 0;
  for (uint32_t i = 0; i < count; i++, ++*decoded) {
    dagr__done_view d;
    if (dagr__dec_done(msg, size, &pos, &d) != DAGR_OK) break;
    for (int k = 0; k < d.ndim; k++) s += (uint64_t)d.shape[k];
    if (d.flags & DAGR__DONE_INLINE) s += touch(d.data, d.nbytes);
    if (d.flags & DAGR__DONE_ERROR) s += strlen(d.errmsg);
    s += d.value + d.offset + d.fetch_ns + d.nfetch;
  }
  return s;
}

/* RESTORED records, as the scheduler reads them. */
static uint64_t walk_restored(const unsigned char *msg, size_t size, size_t pos, uint32_t count,
                              uint32_t *decoded) {
  uint64_t s = 0;
  *decoded = 0;
  for (uint32_t i = 0; i < count; i++, ++*decoded) {
    dagr__restored_rec r;
    if (dagr__dec_restored(msg, size, &pos, &r) != DAGR_OK) break;
    s += r.obj + r.offset;
  }
  return s;
}

/* TRACE records, as rank 0 files them (obs.c). */
static uint64_t walk_tev(const unsigned char *msg, size_t size, size_t pos, uint32_t count,
                         uint32_t *decoded) {
  uint64_t s = 0;
  *decoded = 0;
  for (uint32_t i = 0; i < count; i++, ++*decoded) {
    dagr__tev e;
    if (dagr__dec_tev(msg, size, &pos, &e) != DAGR_OK) break;
    if (e.t1 < e.t0) abort(); /* the decoder promises durations are not negative */
    s += e.id + e.bytes + e.in_bytes + (e.t1 - e.t0);
  }
  return s;
}

/* u32 records: RELEASE, SPILL and RESTORE. */
static uint64_t walk_u32(const unsigned char *msg, size_t size, size_t pos, uint32_t count,
                         uint32_t *decoded) {
  uint64_t s = 0;
  *decoded = 0;
  for (uint32_t i = 0; i < count; i++, ++*decoded) {
    uint32_t v;
    if (dagr__dec_u32(msg, size, &pos, &v) != DAGR_OK) break;
    s += v;
  }
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Received messages live in exactly-sized, malloc-aligned blocks; so does the copy. */
  unsigned char *msg = malloc(size ? size : 1);
  if (!msg) return 0;
  if (size) memcpy(msg, data, size);
  char err[256];
  err[0] = '\0';
  uint64_t s = 0;

  /* 1. The whole message as a receiver sees it: check, validate, then act on it. */
  dagr__msg_hdr h;
  if (dagr__msg_check(msg, size, &h, err, sizeof err) == DAGR_OK) {
    uint32_t type = h.magic_type & 0xffu;
    int valid = dagr__msg_validate(msg, size, err, sizeof err) == DAGR_OK;
    if (type == DAGR__MSG_FAULT) {
      /* The scheduler copies at most a message's worth of the text and terminates it. */
      char text[DAGR__ERRLEN];
      size_t n = size - sizeof h < sizeof text - 1 ? size - sizeof h : sizeof text - 1;
      memcpy(text, msg + sizeof h, n);
      text[n] = '\0';
      s += strlen(text);
    }
    if (type == DAGR__MSG_INFO && size > sizeof h) {
      /* The scheduler terminates the text in place and prints it. */
      msg[size - 1] = '\0';
      s += strlen((const char *)msg + sizeof h);
    }
    /* Walk even a message that failed validation: the decoders must stop at the bad record. */
    uint32_t n = h.count;
    if (type == DAGR__MSG_ASSIGN) s += walk_assign(msg, size, sizeof h, h.count, &n);
    if (type == DAGR__MSG_DONE) s += walk_done(msg, size, sizeof h, h.count, &n);
    if (type == DAGR__MSG_RELEASE || type == DAGR__MSG_SPILL || type == DAGR__MSG_RESTORE)
      s += walk_u32(msg, size, sizeof h, h.count, &n);
    if (type == DAGR__MSG_RESTORED) s += walk_restored(msg, size, sizeof h, h.count, &n);
    if (type == DAGR__MSG_TRACE) s += walk_tev(msg, size, sizeof h, h.count, &n);
    /* What validation accepted, the receiver's decoders (which skip checks) must accept too. */
    if (valid && n != h.count) abort();
  } else if (err[0] == '\0') {
    abort(); /* a rejected message always says why */
  }

  /* 2. The same bytes as bare records of each kind, so that the fuzzer reaches the record
   * decoders without first having to forge a matching header length. */
  uint32_t n;
  s += walk_assign(msg, size, 0, UINT32_MAX, &n);
  s += walk_done(msg, size, 0, UINT32_MAX, &n);
  s += walk_restored(msg, size, 0, UINT32_MAX, &n);
  s += walk_tev(msg, size, 0, UINT32_MAX, &n);
  s += walk_u32(msg, size, 0, 64, &n);
  if (strnlen(err, sizeof err) == sizeof err) abort();
  sink = s;
  free(msg);
  return 0;
}
