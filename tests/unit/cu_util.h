/* cu_util.h: CUnit helpers shared by the unit tests: assertions that print both values, and a main. */
#ifndef DAGR_TESTS_CU_UTIL_H
#define DAGR_TESTS_CU_UTIL_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Like CU_ASSERT_EQUAL but prints both sides when they differ. */
#define CU_EXPECT_INT(actual, expected)                                                            \
  do {                                                                                             \
    long long a__ = (long long)(actual), e__ = (long long)(expected);                              \
    if (a__ != e__)                                                                                \
      fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #actual,   \
              a__, #expected, e__);                                                                \
    CU_ASSERT(a__ == e__);                                                                         \
  } while (0)

#define CU_EXPECT_STR_CONTAINS(haystack, needle)                                                   \
  do {                                                                                             \
    const char *h__ = (haystack), *n__ = (needle);                                                 \
    int ok__ = h__ != NULL && strstr(h__, n__) != NULL;                                            \
    if (!ok__)                                                                                     \
      fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,             \
              h__ ? h__ : "(null)", n__);                                                          \
    CU_ASSERT(ok__);                                                                               \
  } while (0)

typedef struct {
  const char *name;
  void (*fn)(void);
} cu_test_def;

/* Registers one suite of tests and runs it verbosely; returns non-zero if anything failed. */
static inline int cu_run_suite(const char *suite, const cu_test_def *tests) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  if (!s) return 2;
  for (const cu_test_def *t = tests; t->name; t++)
    if (!CU_add_test(s, t->name, t->fn)) return 2;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  return failed ? 1 : 0;
}

#endif
