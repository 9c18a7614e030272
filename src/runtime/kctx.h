/* kctx.h: one kernel invocation: its input views, parameters, output and failure message. */
#ifndef DAGR_RUNTIME_KCTX_H
#define DAGR_RUNTIME_KCTX_H
#ifndef DAGR_BUILDING
#error "src/runtime/kctx.h is private to libdagr"
#endif

#include "store/store.h"

/* FILE: an output larger than the whole store, written straight into a mapped spill file. */
enum { DAGR__OUT_NONE = 0, DAGR__OUT_SCALAR = 1, DAGR__OUT_STORE = 2, DAGR__OUT_FILE = 3 };

struct dagr__spill;

struct dagr_kctx {
  int rank;
  int ninputs;
  const dagr_view_t *inputs;
  const void *params;
  size_t params_len;
  dagr__store *store;
  struct dagr__spill *spill; /* where outputs larger than the store go (NULL: nowhere) */
  uint32_t run;
  int group; /* executor group (NUMA domain): outputs go to its store part */
  /* which task this is, for the crash message (signals.c) */
  const char *key; /* keylen bytes, not NUL-terminated; NULL when the scheduler sent none */
  uint32_t keylen;
  uint32_t task; /* plan id */
  int kernel;    /* registry id */
  /* output */
  int out_kind;
  int out_dtype;
  int out_ndim;
  int64_t out_shape[DAGR_MAX_NDIM];
  uint64_t out_value;  /* scalar bits */
  uint64_t out_offset; /* store offset, or the mapping's address (FILE) */
  size_t out_nbytes;
  /* failure */
  char *errmsg; /* DAGR__ERRLEN bytes, owned by the caller */
  int failed;
  int store_full; /* an output allocation failed for lack of room */
};

/* Runs fn on k; afterwards k->out_* and k->errmsg describe the outcome. Returns the kernel's
 * status, forced to DAGR_EKERNEL with a message if the kernel returned OK without an output or
 * returned an error without a message. On failure any store output is freed. */
int dagr__kctx_invoke(dagr_kctx_t *k, dagr_kernel_fn fn);

#endif
