/* proto.h: the binary messages between the rank-0 scheduler and the workers, and their codec. */
#ifndef DAGR_PROTO_PROTO_H
#define DAGR_PROTO_PROTO_H
#ifndef DAGR_BUILDING
#error "src/proto/proto.h is private to libdagr"
#endif

#include <string.h>

#include "internal/common.h"

/* Every message is a header followed by `count` records; everything is 8-byte aligned and in the
 * host's byte order (dagr assumes a homogeneous cluster). Records are variable-sized; decoders
 * check every length against the received size, so a malformed message is DAGR_EPROTO, never a
 * crash. Objects and tasks are named by their plan id within a run (one dagr_get). */
#define DAGR__MSG_MAGIC 0x64610000u /* "da" in the high half, the type in the low byte */

enum {
  /* scheduler -> worker */
  DAGR__MSG_ASSIGN = 1,  /* records: tasks to run */
  DAGR__MSG_RELEASE = 2, /* records: u32 object ids to drop */
  DAGR__MSG_RUN_END = 3, /* no records: drop everything of the run, then answer RUN_ENDED */
  DAGR__MSG_SHUTDOWN = 4,
  DAGR__MSG_INFO_REQ = 5,
  DAGR__MSG_SPILL = 6,     /* records: u32 object ids to write to the spill directory */
  DAGR__MSG_RESTORE = 7,   /* records: u32 object ids to read back into the store */
  DAGR__MSG_TRACE_ON = 8,  /* no records: record trace events for this run (dagr__tev) */
  DAGR__MSG_TRACE_REQ = 9, /* no records: send every kept TRACE message, then TRACE_END */
  /* worker -> scheduler */
  DAGR__MSG_DONE = 16, /* records: task completions */
  DAGR__MSG_RUN_ENDED = 17,
  DAGR__MSG_INFO = 18,     /* payload: text */
  DAGR__MSG_RESTORED = 19, /* records: dagr__restored_rec: an object is (again) in the store */
  DAGR__MSG_FAULT = 20,    /* payload: text: the worker cannot go on with the run */
  DAGR__MSG_TRACE = 21,    /* records: dagr__tev: events of the run in the header */
  DAGR__MSG_TRACE_END = 22 /* no records: every kept TRACE message was sent */
};

/* RESTORED record: the object is in the store at offset (restored, or never spilled); offset
 * UINT64_MAX: it could not be read back for lack of room and is still spilled. */
typedef struct dagr__restored_rec {
  uint32_t obj;
  uint32_t pad;
  uint64_t offset;
} dagr__restored_rec;

/* TRACE record: one event on the worker's monotonic clock (ns). */
enum {
  DAGR__TEV_TASK = 1,    /* id: task; arg: executor thread; bytes: output; pad 1: it failed */
  DAGR__TEV_XFER = 2,    /* id: object pulled; arg: owning worker index; bytes: its size */
  DAGR__TEV_SPILL = 3,   /* id: object written to the spill directory; bytes: its size */
  DAGR__TEV_RESTORE = 4, /* id: object read back; bytes: its size */
  DAGR__TEV_MEM = 5      /* t0 = t1: sample time; bytes: store bytes in use */
};
/* Events per TRACE message. A worker keeps its TRACE messages until rank 0 asks for them
 * (TRACE_REQ, at dagr_finalize): receiving them during runs would take scheduler time. */
#define DAGR__TEV_BATCH 4096
typedef struct dagr__tev {
  uint64_t t0, t1;
  uint64_t bytes;
  uint64_t in_bytes; /* TASK: bytes of its inputs; otherwise 0 */
  uint32_t id;
  uint16_t arg;
  uint8_t type;
  uint8_t pad;
} dagr__tev;

typedef struct dagr__msg_hdr {
  uint32_t magic_type;
  uint32_t count;  /* records */
  uint32_t run;    /* run id */
  uint32_t ntasks; /* ASSIGN: tasks in the run's plan (sizes the worker's object table) */
  uint64_t len;    /* whole message in bytes */
} dagr__msg_hdr;

/* ASSIGN record: header, the optional parts its flags announce, params blob (padded to 8), then
 * ndeps dependency records. */
typedef struct dagr__assign_rec {
  uint32_t task;
  uint16_t kernel;
  uint16_t flags; /* low byte: the executor group (NUMA domain of the worker) to run in; above
                   * it, DAGR__TASK_* bits */
  uint32_t params_len;
  uint32_t ndeps;
} dagr__assign_rec;

/* ASSIGN record flags above the group byte. A record without them reads as before they
 * existed; the other bits must be 0. Optional parts follow the header in this order:
 *   TIMEOUT: u64 limit in milliseconds, 1 to UINT32_MAX
 *   KEY:     u64 length in bytes, 1 to DAGR__TASK_KEY_MAX (no NUL), then the bytes padded to 8 */
#define DAGR__TASK_GROUP_MASK 0x00ffu
#define DAGR__TASK_TIMEOUT    0x0100u /* the worker fails the task past this limit */
#define DAGR__TASK_KEY        0x0200u /* the task's key (its start), for crash messages */
/* Longest key prefix sent: crash messages show at most 200 bytes of it. */
#define DAGR__TASK_KEY_MAX 256u

/* How a dependency reaches the worker. */
enum {
  DAGR__DEP_SCALAR = 1, /* 8-byte value in the record */
  DAGR__DEP_INLINE = 2, /* bytes in the record */
  DAGR__DEP_LOCAL = 3,  /* in this worker's object table (ready, or to be produced here) */
  DAGR__DEP_REMOTE = 4  /* in another worker's store: pull with RMA */
};

typedef struct dagr__dep_rec {
  uint32_t obj;
  uint8_t kind;
  uint8_t dtype;
  uint8_t ndim;
  uint8_t pad;
} dagr__dep_rec;
/* followed by, per kind:
 *   SCALAR: u64 value
 *   INLINE: u64 nbytes, i64 shape[ndim], data padded to 8
 *   LOCAL:  nothing
 *   REMOTE: u32 owner (worker index), u32 0, u64 offset, u64 nbytes, i64 shape[ndim] */

/* DONE record. */
enum {
  DAGR__DONE_FETCH = 1,  /* u64 fetch_ns, u64 fetch_bytes, u32 nfetch, u32 fetch_max_us follow */
  DAGR__DONE_STORE = 2,  /* u64 offset follows: the object stays in the worker's store */
  DAGR__DONE_SCALAR = 4, /* u64 value follows */
  DAGR__DONE_INLINE = 8, /* nbytes of data follow, padded */
  DAGR__DONE_ERROR = 16, /* u32 len, u32 0, message (NUL-terminated), padded */
  DAGR__DONE_FILE = 32   /* no payload: larger than the store, the object is a spill file */
};

typedef struct dagr__done_rec {
  uint32_t task;
  int32_t status;
  uint32_t exec_us;
  uint8_t dtype;
  uint8_t ndim;
  uint8_t flags;
  uint8_t pad;
  uint64_t nbytes;
} dagr__done_rec;
/* then in this order: FETCH part, STORE offset, i64 shape[ndim], SCALAR value, INLINE data,
 * ERROR message. */

/* A decoded dependency (pointers into the message). */
typedef struct dagr__dep {
  uint32_t obj;
  int kind;
  int dtype;
  int ndim;
  const int64_t *shape; /* ndim entries, may be unaligned-safe (8-aligned in practice) */
  uint64_t value;       /* SCALAR */
  uint64_t nbytes;
  const void *data; /* INLINE; SCALAR: points at value inside the message */
  uint32_t owner;   /* REMOTE */
  uint64_t offset;  /* REMOTE */
} dagr__dep;

/* A decoded task (pointers into the message). */
typedef struct dagr__task_view {
  uint32_t task;
  uint16_t kernel;
  uint16_t flags;      /* the executor group only (DAGR__TASK_GROUP_MASK) */
  uint32_t timeout_ms; /* 0: none */
  uint32_t keylen;     /* 0: no key sent */
  const char *key;     /* keylen bytes, not NUL-terminated */
  const void *params;
  uint32_t params_len;
  uint32_t ndeps;
  const unsigned char *deps; /* first dependency record */
  const unsigned char *end;  /* end of this task record */
} dagr__task_view;

/* A decoded completion. */
typedef struct dagr__done_view {
  uint32_t task;
  int32_t status;
  uint32_t exec_us;
  int dtype;
  int ndim;
  int flags;
  uint64_t nbytes;
  uint64_t fetch_ns, fetch_bytes;
  uint32_t nfetch, fetch_max_us;
  uint64_t offset;
  const int64_t *shape;
  uint64_t value;
  const void *data;
  const char *errmsg;
} dagr__done_view;

/* A growable, 8-byte aligned output buffer. */
typedef struct dagr__buf {
  unsigned char *p;
  size_t len, cap;
} dagr__buf;

static inline size_t dagr__pad8(size_t n) {
  return (n + 7) & ~(size_t)7;
}

/* Ensures room for n more bytes. DAGR_OK or DAGR_ENOMEM. */
int dagr__buf_reserve(dagr__buf *b, size_t n);
void dagr__buf_free(dagr__buf *b);
/* Hands the bytes over to the caller (who frees them) and empties b. */
static inline void *dagr__buf_take(dagr__buf *b, size_t *len) {
  void *p = b->p;
  *len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}

/* Starts a message of the given type in an empty buffer. */
int dagr__msg_begin(dagr__buf *b, int type, uint32_t run, uint32_t ntasks);
/* Pads to 8 bytes and fills in count and len; call before sending. DAGR_OK or DAGR_ENOMEM. */
int dagr__msg_finish(dagr__buf *b, uint32_t count);
static inline uint32_t dagr__msg_count(const dagr__buf *b) {
  return b->len >= sizeof(dagr__msg_hdr) ? ((const dagr__msg_hdr *)b->p)->count : 0;
}

/* ASSIGN encoding: a task header then its deps. */
/* As dagr__enc_task, naming the executor group (the worker's NUMA domain) the task runs in,
 * carried in the record's flags (0 on a worker with one group). */
int dagr__enc_task_group(dagr__buf *b, uint32_t task, uint16_t kernel, uint16_t group,
                         const void *params, uint32_t params_len, uint32_t ndeps);
int dagr__enc_task(dagr__buf *b, uint32_t task, uint16_t kernel, const void *params,
                   uint32_t params_len, uint32_t ndeps);
/* As dagr__enc_task_group, with a time limit in milliseconds (0: none) and the task's key (NULL:
 * none; only its first DAGR__TASK_KEY_MAX bytes are sent). Errors: DAGR_ENOMEM. */
int dagr__enc_task_ext(dagr__buf *b, uint32_t task, uint16_t kernel, uint16_t group,
                       uint32_t timeout_ms, const char *key, size_t keylen, const void *params,
                       uint32_t params_len, uint32_t ndeps);
int dagr__enc_dep_scalar(dagr__buf *b, uint32_t obj, int dtype, uint64_t value);
int dagr__enc_dep_inline(dagr__buf *b, uint32_t obj, int dtype, int ndim, const int64_t *shape,
                         const void *data, uint64_t nbytes);
int dagr__enc_dep_local(dagr__buf *b, uint32_t obj);
int dagr__enc_dep_remote(dagr__buf *b, uint32_t obj, int dtype, int ndim, const int64_t *shape,
                         uint32_t owner, uint64_t offset, uint64_t nbytes);
/* RELEASE encoding. */
int dagr__enc_u32(dagr__buf *b, uint32_t v);
/* DONE encoding from a filled view (fields selected by flags). */
int dagr__enc_done(dagr__buf *b, const dagr__done_view *d);

/* Checks the header of a received message: magic, type, len equals received size, alignment.
 * DAGR_OK (sets *hdr) or DAGR_EPROTO with a message in err. */
int dagr__msg_check(const void *msg, size_t size, dagr__msg_hdr *hdr, char *err, size_t errlen);

/* Record iteration: *pos starts at sizeof(dagr__msg_hdr) and advances. Each returns DAGR_OK or
 * DAGR_EPROTO (record runs past the end, bad kind, ndim > DAGR_MAX_NDIM, ...). */
int dagr__dec_task(const void *msg, size_t size, size_t *pos, dagr__task_view *t);
/* Decodes dependency i by walking from t->deps; for sequential access use dagr__dec_dep_next. */
int dagr__dec_dep_next(const unsigned char **p, const unsigned char *end, dagr__dep *d);
int dagr__dec_done(const void *msg, size_t size, size_t *pos, dagr__done_view *d);
int dagr__dec_u32(const void *msg, size_t size, size_t *pos, uint32_t *v);
/* RESTORED records. */
int dagr__enc_restored(dagr__buf *b, uint32_t obj, uint64_t offset);
int dagr__dec_restored(const void *msg, size_t size, size_t *pos, dagr__restored_rec *r);

/* TRACE records (whole dagr__tev values; the type must be one of DAGR__TEV_*). */
int dagr__enc_tev(dagr__buf *b, const dagr__tev *e);
int dagr__dec_tev(const void *msg, size_t size, size_t *pos, dagr__tev *e);

/* Validates a whole message of any type (used before acting on it). */
int dagr__msg_validate(const void *msg, size_t size, char *err, size_t errlen);

#endif
