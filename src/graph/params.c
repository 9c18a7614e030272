/* params.c: building, checking and searching the encoded parameter blobs attached to tasks. */
#include <stdlib.h>
#include <string.h>

#include "graph/params.h"

#define HDR_BYTES    8
#define NAME_MAX_LEN 255

/* One decoded entry; pointers point into the blob. */
typedef struct {
  int type;
  const unsigned char *name;
  size_t name_len;
  const unsigned char *payload;
  size_t payload_len;
} entry_t;

static uint64_t pad8(uint64_t x) {
  return (x + 7u) & ~(uint64_t)7u;
}

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* Decodes the entry at *off and advances *off past it. Every check happens before a byte is
 * read, because blobs come off the wire and may be truncated or hostile; padding must be zero so
 * that a blob has exactly one valid encoding (and stale memory never travels). */
static int parse_entry(const unsigned char *b, size_t len, size_t *off, entry_t *e) {
  size_t rest = len - *off;
  if (rest < HDR_BYTES) return DAGR_EPROTO;
  const unsigned char *h = b + *off;
  uint16_t reserved;
  uint32_t plen;
  memcpy(&reserved, h + 2, sizeof reserved);
  memcpy(&plen, h + 4, sizeof plen);
  e->type = h[0];
  e->name_len = h[1];
  if (e->type < DAGR__PARAM_INT || e->type > DAGR__PARAM_DOUBLE_ARRAY) return DAGR_EPROTO;
  if (e->name_len == 0 || reserved != 0) return DAGR_EPROTO;

  /* 64-bit sums: pad8 of a u32 payload length overflows a 32-bit size_t. */
  uint64_t name_area = pad8((uint64_t)e->name_len + 1);
  uint64_t total = HDR_BYTES + name_area + pad8(plen);
  if (total > rest) return DAGR_EPROTO;

  e->name = h + HDR_BYTES;
  if (memchr(e->name, 0, e->name_len) != NULL) return DAGR_EPROTO;
  if (!all_zero(e->name + e->name_len, (size_t)name_area - e->name_len)) return DAGR_EPROTO;

  e->payload = e->name + name_area;
  e->payload_len = plen;
  if (!all_zero(e->payload + plen, (size_t)(pad8(plen) - plen))) return DAGR_EPROTO;

  switch (e->type) {
  case DAGR__PARAM_INT:
  case DAGR__PARAM_DOUBLE:
    if (plen != 8) return DAGR_EPROTO;
    break;
  case DAGR__PARAM_STRING:
    /* Kernels get the string as a C string, so exactly one NUL, at the end. */
    if (plen == 0 || memchr(e->payload, 0, plen) != e->payload + plen - 1) return DAGR_EPROTO;
    break;
  default:
    if (plen % 8 != 0) return DAGR_EPROTO;
    break;
  }
  *off += (size_t)total;
  return DAGR_OK;
}

/* Duplicate names are not checked here: that is quadratic in the entry count, which a hostile
 * blob controls, and a duplicate is harmless because lookups deterministically take the first. */
int dagr__params_validate(const void *blob, size_t len) {
  if (len == 0) return DAGR_OK;
  if (!blob || len % 8 != 0) return DAGR_EPROTO;
  size_t off = 0;
  entry_t e;
  while (off < len) {
    int rc = parse_entry((const unsigned char *)blob, len, &off, &e);
    if (rc != DAGR_OK) return rc;
  }
  return DAGR_OK;
}

int dagr__params_find(const void *blob, size_t len, const char *name, int *type,
                      const void **payload, size_t *payload_len) {
  if (!name) return DAGR_EINVAL;
  if (len == 0) return DAGR_ENOENT;
  if (!blob || len % 8 != 0) return DAGR_EPROTO;
  size_t nlen = strlen(name);
  size_t off = 0;
  entry_t e;
  while (off < len) {
    int rc = parse_entry((const unsigned char *)blob, len, &off, &e);
    if (rc != DAGR_OK) return rc;
    if (e.name_len == nlen && memcmp(e.name, name, nlen) == 0) {
      if (type) *type = e.type;
      if (payload) *payload = e.payload;
      if (payload_len) *payload_len = e.payload_len;
      return DAGR_OK;
    }
  }
  return DAGR_ENOENT;
}

int dagr_params_create(dagr_params_t **params) {
  if (!params) return DAGR_EINVAL;
  *params = calloc(1, sizeof **params);
  return *params ? DAGR_OK : DAGR_ENOMEM;
}

void dagr_params_free(dagr_params_t *params) {
  if (!params) return;
  free(params->buf);
  free(params);
}

/* Appends one entry. The whole entry is zeroed first so every pad byte is zero, which
 * dagr__params_validate insists on. */
static int params_append(dagr_params_t *p, const char *name, int type, const void *data,
                         size_t nbytes) {
  if (!p || !name || name[0] == '\0') return DAGR_EINVAL;
  size_t nlen = strlen(name);
  if (nlen > NAME_MAX_LEN) return DAGR_EINVAL;
  if (!data && nbytes > 0) return DAGR_EINVAL;
  if (nbytes > UINT32_MAX) return DAGR_EINVAL;
  if (dagr__params_find(p->buf, p->len, name, NULL, NULL, NULL) != DAGR_ENOENT) return DAGR_EINVAL;

  uint64_t name_area = pad8(nlen + 1);
  uint64_t esize64 = HDR_BYTES + name_area + pad8(nbytes);
  if (esize64 > SIZE_MAX - p->len) return DAGR_ENOMEM;
  size_t esize = (size_t)esize64;
  size_t need = p->len + esize;
  if (need > p->cap) {
    size_t cap = p->cap ? p->cap : 64;
    while (cap < need) {
      if (cap > SIZE_MAX / 2) {
        cap = need;
        break;
      }
      cap *= 2;
    }
    /* malloc alignment (at least 8) keeps every payload 8-aligned for in-place reads. */
    unsigned char *nb = realloc(p->buf, cap);
    if (!nb) return DAGR_ENOMEM;
    p->buf = nb;
    p->cap = cap;
  }

  unsigned char *h = p->buf + p->len;
  memset(h, 0, esize);
  uint32_t plen = (uint32_t)nbytes;
  h[0] = (unsigned char)type;
  h[1] = (unsigned char)nlen;
  memcpy(h + 4, &plen, sizeof plen);
  memcpy(h + HDR_BYTES, name, nlen);
  if (nbytes) memcpy(h + HDR_BYTES + name_area, data, nbytes);
  p->len = need;
  return DAGR_OK;
}

int dagr_params_set_int(dagr_params_t *p, const char *name, int64_t value) {
  return params_append(p, name, DAGR__PARAM_INT, &value, sizeof value);
}

int dagr_params_set_double(dagr_params_t *p, const char *name, double value) {
  return params_append(p, name, DAGR__PARAM_DOUBLE, &value, sizeof value);
}

int dagr_params_set_string(dagr_params_t *p, const char *name, const char *value) {
  if (!value) return DAGR_EINVAL;
  return params_append(p, name, DAGR__PARAM_STRING, value, strlen(value) + 1);
}

int dagr_params_set_int_array(dagr_params_t *p, const char *name, const int64_t *v, size_t n) {
  if (n > UINT32_MAX / sizeof *v) return DAGR_EINVAL;
  return params_append(p, name, DAGR__PARAM_INT_ARRAY, v, n * sizeof *v);
}

int dagr_params_set_double_array(dagr_params_t *p, const char *name, const double *v, size_t n) {
  if (n > UINT32_MAX / sizeof *v) return DAGR_EINVAL;
  return params_append(p, name, DAGR__PARAM_DOUBLE_ARRAY, v, n * sizeof *v);
}
