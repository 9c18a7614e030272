/* test_params.c: unit tests of task parameter blobs: setters, lookups and hostile-blob checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cu_util.h"
#include "graph/params.h"

/* A blob holding one entry of every type, for the lookup and corruption tests. */
static dagr_params_t *make_all(void) {
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  if (!p) return NULL;
  static const int64_t iv[] = {1, -2, 3};
  static const double dv[] = {0.5, -1.25};
  CU_EXPECT_INT(dagr_params_set_int(p, "n", -42), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_double(p, "scale", 2.5), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_string(p, "path", "data/x.h5"), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_int_array(p, "shape", iv, 3), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_double_array(p, "weights_of_a_rather_long_name", dv, 2), DAGR_OK);
  return p;
}

static void test_create_free(void) {
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  CU_ASSERT_PTR_NOT_NULL(p);
  CU_EXPECT_INT(p->len, 0);
  dagr_params_free(p);
  dagr_params_free(NULL);
}

static void test_int_roundtrip(void) {
  dagr_params_t *p = make_all();
  int type = 0;
  const void *pl = NULL;
  size_t len = 0;
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "n", &type, &pl, &len), DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_INT);
  CU_EXPECT_INT(len, 8);
  CU_EXPECT_INT(((uintptr_t)pl) % 8, 0);
  CU_EXPECT_INT(*(const int64_t *)pl, -42);
  dagr_params_free(p);
}

static void test_double_roundtrip(void) {
  dagr_params_t *p = make_all();
  int type = 0;
  const void *pl = NULL;
  size_t len = 0;
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "scale", &type, &pl, &len), DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_DOUBLE);
  CU_EXPECT_INT(len, 8);
  CU_EXPECT_INT(((uintptr_t)pl) % 8, 0);
  CU_ASSERT_DOUBLE_EQUAL(*(const double *)pl, 2.5, 0.0);
  dagr_params_free(p);
}

static void test_string_roundtrip(void) {
  dagr_params_t *p = make_all();
  int type = 0;
  const void *pl = NULL;
  size_t len = 0;
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "path", &type, &pl, &len), DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_STRING);
  CU_EXPECT_INT(len, strlen("data/x.h5") + 1);
  CU_ASSERT_STRING_EQUAL((const char *)pl, "data/x.h5");

  /* The empty string is a valid value: one NUL byte of payload. */
  CU_EXPECT_INT(dagr_params_set_string(p, "empty", ""), DAGR_OK);
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "empty", &type, &pl, &len), DAGR_OK);
  CU_EXPECT_INT(len, 1);
  CU_ASSERT_STRING_EQUAL((const char *)pl, "");
  dagr_params_free(p);
}

static void test_arrays_roundtrip(void) {
  dagr_params_t *p = make_all();
  int type = 0;
  const void *pl = NULL;
  size_t len = 0;
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "shape", &type, &pl, &len), DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_INT_ARRAY);
  CU_EXPECT_INT(len, 24);
  CU_EXPECT_INT(((uintptr_t)pl) % 8, 0);
  const int64_t *iv = pl;
  CU_EXPECT_INT(iv[0], 1);
  CU_EXPECT_INT(iv[1], -2);
  CU_EXPECT_INT(iv[2], 3);

  CU_EXPECT_INT(
      dagr__params_find(p->buf, p->len, "weights_of_a_rather_long_name", &type, &pl, &len),
      DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_DOUBLE_ARRAY);
  CU_EXPECT_INT(len, 16);
  CU_EXPECT_INT(((uintptr_t)pl) % 8, 0);
  CU_ASSERT_DOUBLE_EQUAL(((const double *)pl)[0], 0.5, 0.0);
  CU_ASSERT_DOUBLE_EQUAL(((const double *)pl)[1], -1.25, 0.0);

  /* Empty arrays (NULL data allowed with n == 0). */
  CU_EXPECT_INT(dagr_params_set_int_array(p, "none", NULL, 0), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_double_array(p, "none_d", NULL, 0), DAGR_OK);
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "none", &type, &pl, &len), DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_INT_ARRAY);
  CU_EXPECT_INT(len, 0);
  CU_EXPECT_INT(dagr__params_validate(p->buf, p->len), DAGR_OK);
  dagr_params_free(p);
}

static void test_layout(void) {
  /* The exact wire layout: [type][name_len][u16 0][u32 len][name][NUL][pad][payload][pad]. */
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_int(p, "abcdefg", 7), DAGR_OK); /* 7 + NUL = 8: no pad */
  CU_EXPECT_INT(p->len, 8 + 8 + 8);
  CU_EXPECT_INT(p->buf[0], DAGR__PARAM_INT);
  CU_EXPECT_INT(p->buf[1], 7);
  CU_EXPECT_INT(p->buf[2] | p->buf[3], 0);
  uint32_t plen;
  memcpy(&plen, p->buf + 4, 4);
  CU_EXPECT_INT(plen, 8);
  CU_EXPECT_INT(memcmp(p->buf + 8, "abcdefg", 8), 0);
  int64_t v;
  memcpy(&v, p->buf + 16, 8);
  CU_EXPECT_INT(v, 7);
  CU_EXPECT_INT(dagr_params_set_string(p, "s", "hello"), DAGR_OK); /* 8 + 8 + pad8(6) */
  CU_EXPECT_INT(p->len, 24 + 8 + 8 + 8);
  CU_EXPECT_INT(p->len % 8, 0);
  dagr_params_free(p);
}

static void test_missing_name(void) {
  dagr_params_t *p = make_all();
  int type = 0;
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "nope", &type, NULL, NULL), DAGR_ENOENT);
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "na", &type, NULL, NULL), DAGR_ENOENT);
  /* A prefix of a name is not a match. */
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "pat", &type, NULL, NULL), DAGR_ENOENT);
  CU_EXPECT_INT(dagr__params_find(NULL, 0, "n", &type, NULL, NULL), DAGR_ENOENT);
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, NULL, &type, NULL, NULL), DAGR_EINVAL);
  dagr_params_free(p);
}

static void test_duplicate_name(void) {
  dagr_params_t *p = make_all();
  size_t len = p->len;
  CU_EXPECT_INT(dagr_params_set_int(p, "n", 1), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_set_double(p, "path", 1.0), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_set_string(p, "shape", "x"), DAGR_EINVAL);
  CU_EXPECT_INT(p->len, len);
  int64_t *vp;
  const void *pl;
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, "n", NULL, &pl, NULL), DAGR_OK);
  vp = (int64_t *)pl;
  CU_EXPECT_INT(*vp, -42);
  dagr_params_free(p);
}

static void test_invalid_args(void) {
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  char long_name[300];
  memset(long_name, 'x', sizeof long_name);
  long_name[256] = '\0';
  CU_EXPECT_INT(dagr_params_set_int(NULL, "a", 1), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_set_int(p, NULL, 1), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_set_int(p, "", 1), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_set_int(p, long_name, 1), DAGR_EINVAL);
  long_name[255] = '\0'; /* 255 bytes is the longest allowed */
  CU_EXPECT_INT(dagr_params_set_int(p, long_name, 1), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_string(p, "s", NULL), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_set_int_array(p, "a", NULL, 3), DAGR_EINVAL);
  CU_EXPECT_INT(dagr_params_set_double_array(p, "d", NULL, 1), DAGR_EINVAL);
  int64_t one = 1;
  CU_EXPECT_INT(dagr_params_set_int_array(p, "huge", &one, (size_t)UINT32_MAX), DAGR_EINVAL);
  CU_EXPECT_INT(dagr__params_validate(p->buf, p->len), DAGR_OK);
  int type = 0;
  CU_EXPECT_INT(dagr__params_find(p->buf, p->len, long_name, &type, NULL, NULL), DAGR_OK);
  CU_EXPECT_INT(type, DAGR__PARAM_INT);
  dagr_params_free(p);
}

static void test_empty_blob_valid(void) {
  CU_EXPECT_INT(dagr__params_validate(NULL, 0), DAGR_OK);
  unsigned char b[8] = {0};
  CU_EXPECT_INT(dagr__params_validate(b, 0), DAGR_OK);
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  CU_EXPECT_INT(dagr__params_validate(p->buf, p->len), DAGR_OK);
  dagr_params_free(p);
}

/* Entry boundaries of a valid blob, to tell valid truncations from invalid ones. */
static int is_boundary(const dagr_params_t *p, size_t t) {
  size_t off = 0;
  while (off < p->len) {
    if (off == t) return 1;
    uint32_t plen;
    memcpy(&plen, p->buf + off + 4, 4);
    off += 8 + ((p->buf[off + 1] + 1u + 7u) & ~7u) + ((plen + 7u) & ~7u);
  }
  return off == t;
}

static void test_every_truncation(void) {
  dagr_params_t *p = make_all();
  CU_EXPECT_INT(dagr__params_validate(p->buf, p->len), DAGR_OK);
  int bad = 0;
  for (size_t t = 0; t <= p->len; t++) {
    /* An exact-size copy, so valgrind catches any read past the end. */
    unsigned char *c = malloc(t ? t : 1);
    memcpy(c, p->buf, t);
    int rc = dagr__params_validate(c, t);
    int want = is_boundary(p, t) ? DAGR_OK : DAGR_EPROTO;
    if (rc != want) {
      fprintf(stderr, "  truncation %zu: %d, expected %d\n", t, rc, want);
      bad++;
    }
    int frc = dagr__params_find(c, t, "weights_of_a_rather_long_name", NULL, NULL, NULL);
    CU_ASSERT(frc == DAGR_ENOENT || frc == DAGR_EPROTO || (t == p->len && frc == DAGR_OK));
    free(c);
  }
  CU_EXPECT_INT(bad, 0);
  dagr_params_free(p);
}

static void test_random_flips(void) {
  dagr_params_t *p = make_all();
  static const char *names[] = {"n", "scale", "path", "shape", "weights_of_a_rather_long_name"};
  unsigned seed = 12345;
  int ok = 0, proto = 0, other = 0;
  unsigned char *c = malloc(p->len);
  for (int iter = 0; iter < 20000; iter++) {
    memcpy(c, p->buf, p->len);
    int flips = 1 + iter % 4;
    for (int f = 0; f < flips; f++) {
      seed = seed * 1103515245u + 12345u;
      size_t at = (seed >> 8) % p->len;
      seed = seed * 1103515245u + 12345u;
      c[at] ^= (unsigned char)(1u + (seed >> 16) % 255u);
    }
    int rc = dagr__params_validate(c, p->len);
    if (rc == DAGR_OK) {
      ok++;
      /* A blob that validates must be safe to search: every found payload lies inside it. */
      for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const void *pl = NULL;
        size_t plen = 0;
        int type = 0;
        int frc = dagr__params_find(c, p->len, names[i], &type, &pl, &plen);
        CU_ASSERT(frc == DAGR_OK || frc == DAGR_ENOENT);
        if (frc == DAGR_OK) {
          CU_ASSERT((const unsigned char *)pl >= c);
          CU_ASSERT((const unsigned char *)pl + plen <= c + p->len);
        }
      }
    } else if (rc == DAGR_EPROTO) {
      proto++;
    } else {
      other++;
    }
  }
  printf("\n    flips: %d valid, %d rejected ", ok, proto);
  CU_EXPECT_INT(other, 0);
  CU_ASSERT(proto > 0);
  free(c);
  dagr_params_free(p);
}

static void test_corruptions(void) {
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  CU_EXPECT_INT(dagr_params_set_string(p, "s", "abc"), DAGR_OK); /* 8 + 8 + 8 bytes */
  CU_EXPECT_INT(dagr_params_set_int_array(p, "a", (const int64_t[]){5, 6}, 2), DAGR_OK);
  unsigned char c[64];
  size_t len = p->len;
  CU_EXPECT_INT(len, 24 + 32);
#define CHECK_CORRUPT(mutation)                                                                    \
  do {                                                                                             \
    memcpy(c, p->buf, len);                                                                        \
    mutation;                                                                                      \
    CU_EXPECT_INT(dagr__params_validate(c, len), DAGR_EPROTO);                                     \
  } while (0)
  CHECK_CORRUPT(c[0] = 0);               /* type 0 */
  CHECK_CORRUPT(c[0] = 6);               /* type past the last */
  CHECK_CORRUPT(c[1] = 0);               /* empty name */
  CHECK_CORRUPT(c[2] = 1);               /* reserved field */
  CHECK_CORRUPT(c[9] = 'x');             /* name NUL missing */
  CHECK_CORRUPT(c[12] = 1);              /* name pad not zero */
  CHECK_CORRUPT(c[4] = 0);               /* string payload_len 0 */
  CHECK_CORRUPT(c[4] = 3);               /* string without its NUL */
  CHECK_CORRUPT(c[17] = 0);              /* NUL inside the string */
  CHECK_CORRUPT(c[23] = 1);              /* payload pad not zero */
  CHECK_CORRUPT(c[24 + 4] = 12);         /* array length not a multiple of 8 */
  CHECK_CORRUPT(c[24 + 4] = 40);         /* array runs past the blob */
  CHECK_CORRUPT(c[24 + 7] = 0x80);       /* huge payload_len */
  CHECK_CORRUPT(c[0] = DAGR__PARAM_INT); /* int with a 4-byte payload */
  /* A blob whose length is not a multiple of 8. */
  CU_EXPECT_INT(dagr__params_validate(p->buf, len - 4), DAGR_EPROTO);
  CU_EXPECT_INT(dagr__params_validate(NULL, 8), DAGR_EPROTO);
  /* Lookups report the corruption instead of walking past it. */
  memcpy(c, p->buf, len);
  c[24 + 4] = 12;
  CU_EXPECT_INT(dagr__params_find(c, len, "a", NULL, NULL, NULL), DAGR_EPROTO);
  CU_EXPECT_INT(dagr__params_find(c, len, "s", NULL, NULL, NULL), DAGR_OK);
#undef CHECK_CORRUPT
  dagr_params_free(p);
}

static void test_many_entries(void) {
  dagr_params_t *p = NULL;
  CU_EXPECT_INT(dagr_params_create(&p), DAGR_OK);
  char name[32];
  for (int i = 0; i < 500; i++) {
    snprintf(name, sizeof name, "p%d", i);
    CU_EXPECT_INT(dagr_params_set_int(p, name, i * 3), DAGR_OK);
  }
  CU_EXPECT_INT(dagr__params_validate(p->buf, p->len), DAGR_OK);
  int bad = 0;
  for (int i = 0; i < 500; i++) {
    snprintf(name, sizeof name, "p%d", i);
    const void *pl;
    if (dagr__params_find(p->buf, p->len, name, NULL, &pl, NULL) != DAGR_OK ||
        *(const int64_t *)pl != i * 3)
      bad++;
  }
  CU_EXPECT_INT(bad, 0);
  dagr_params_free(p);
}

int main(void) {
  static const cu_test_def tests[] = {
      {"create and free", test_create_free},
      {"int round trip", test_int_roundtrip},
      {"double round trip", test_double_roundtrip},
      {"string round trip", test_string_roundtrip},
      {"arrays round trip", test_arrays_roundtrip},
      {"exact layout", test_layout},
      {"missing name is ENOENT", test_missing_name},
      {"duplicate name rejected", test_duplicate_name},
      {"invalid arguments", test_invalid_args},
      {"empty blob valid", test_empty_blob_valid},
      {"every truncation rejected or valid", test_every_truncation},
      {"random byte flips never crash", test_random_flips},
      {"targeted corruptions rejected", test_corruptions},
      {"many entries", test_many_entries},
      {NULL, NULL},
  };
  return cu_run_suite("params", tests);
}
