/* params.h: the encoded form of a task's literal parameters and lookups into it. */
#ifndef DAGR_GRAPH_PARAMS_H
#define DAGR_GRAPH_PARAMS_H
#ifndef DAGR_BUILDING
#error "src/graph/params.h is private to libdagr"
#endif

#include "internal/common.h"

/* Encoded parameter blob (what travels in task messages), a sequence of entries:
 *   u8 name_len, name bytes (no NUL), u8 type, 3 pad bytes of zero... then the payload:
 * Exact layout (all integers little-endian, as the host stores them):
 *   [u8 type][u8 name_len][u16 0][u32 payload_len][name bytes][NUL][payload][zero pad to 8]
 * so every entry starts 8-byte aligned when the blob does. Payloads:
 *   INT: 8-byte int64; DOUBLE: 8-byte double; STRING: bytes then NUL (payload_len counts the
 *   NUL); INT_ARRAY: n int64; DOUBLE_ARRAY: n double (n = payload_len / 8).
 * The payload starts 8-byte aligned (the name area is padded so it does). */
enum {
  DAGR__PARAM_INT = 1,
  DAGR__PARAM_DOUBLE = 2,
  DAGR__PARAM_STRING = 3,
  DAGR__PARAM_INT_ARRAY = 4,
  DAGR__PARAM_DOUBLE_ARRAY = 5
};

struct dagr_params {
  unsigned char *buf; /* encoded blob, capacity cap, used len; 8-byte aligned (malloc) */
  size_t len, cap;
};

/* Finds name in the blob. Returns DAGR_OK and sets *type, *payload, *payload_len; DAGR_ENOENT if
 * absent; DAGR_EPROTO if the blob is malformed (entry runs past len, bad type, missing NUL). */
int dagr__params_find(const void *blob, size_t len, const char *name, int *type,
                      const void **payload, size_t *payload_len);

/* Checks a whole blob (as received from a message). DAGR_OK or DAGR_EPROTO. */
int dagr__params_validate(const void *blob, size_t len);

#endif
