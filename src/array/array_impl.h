/* array_impl.h: the lazy array expression nodes behind dagr_array_t, shared by the array modules.
 */
#ifndef DAGR_ARRAY_IMPL_H
#define DAGR_ARRAY_IMPL_H
#ifndef DAGR_BUILDING
#error "src/array/array_impl.h is private to libdagr"
#endif

#include "array/chunks.h"
#include "dagr/array.h"
#include "internal/common.h"

/* Node kinds. */
enum {
  DAGR__AN_FULL = 1,
  DAGR__AN_ARANGE,
  DAGR__AN_RANDOM,
  DAGR__AN_BUFFER,
  DAGR__AN_EW, /* elementwise: fused with neighbouring elementwise nodes when lowered */
  DAGR__AN_REDUCE,
  DAGR__AN_TRANSPOSE,
  DAGR__AN_INDEX,
  DAGR__AN_H5 /* a dataset read chunk by chunk by the workers */
};

/* Elementwise node operations beyond the public ones. */
enum {
  DAGR__EW_CAST = 64, /* convert the input to the node's dtype */
  DAGR__EW_WHERE = 65,
  DAGR__EW_CONST = 66 /* a broadcast scalar (no inputs) */
};

struct dagr_array {
  int refs;
  dagr_ctx_t *ctx;
  uint64_t id; /* unique per process: names the node's tasks */
  int kind;
  int dtype;
  dagr__ch_layout_t layout;
  int nin;
  dagr_array_t *in[3];
  union {
    struct {
      double value;
    } full;
    struct {
      double start, step;
    } arange;
    struct {
      uint64_t seed;
      int normal;
      double a, b;
    } random;
    struct {
      void *data; /* C-ordered copy of the whole array */
    } buffer;
    struct {
      int op;
      double scalar;    /* for scalar operands */
      int scalar_pos;   /* 0: none, 1: a OP s, 2: s OP a */
      int scalar_dtype; /* dtype the scalar takes in the computation */
    } ew;
    struct {
      int red;
      int naxes;
      int axes[DAGR_MAX_NDIM]; /* sorted, non-negative */
      int keepdims;
      int split_every;
      int ddof;
    } reduce;
    struct {
      int perm[DAGR_MAX_NDIM];
    } transpose;
    struct {
      dagr__ch_slice_plan_t plan;
    } index;
    struct {
      char *path;
      char *dataset;
    } h5;
  } u;
};

/* Creates a node with one reference, retaining its inputs. */
int dagr__array_new(dagr_ctx_t *ctx, int kind, int dtype, dagr_array_t **out);
/* Sets the context's error message and returns status. */
int dagr__array_err(dagr_ctx_t *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* NumPy's promotion of two dtypes. */
int dagr__dtype_promote(int a, int b);
/* Writes "(2, 3)" style text of a shape. */
void dagr__shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* Registers the array kernels (called when the kernel table is frozen). */
int dagr__array_kernels_register(void);

/* Kernel names. */
#define DAGR__K_FULL        "array.full"
#define DAGR__K_ARANGE      "array.arange"
#define DAGR__K_RANDOM      "array.random"
#define DAGR__K_BUFFER      "array.buffer"
#define DAGR__K_EW          "array.ew"
#define DAGR__K_RED_PARTIAL "array.reduce_partial"
#define DAGR__K_RED_COMBINE "array.reduce_combine"
#define DAGR__K_RED_FINAL   "array.reduce_final"
#define DAGR__K_TRANSPOSE   "array.transpose"
#define DAGR__K_SLICE       "array.slice"
#define DAGR__K_H5READ      "array.h5read"
#define DAGR__K_H5STORE     "array.h5store"

/* The fused elementwise program, as the "prog" parameter of array.ew: DAGR__EW_INSN ints per
 * instruction {opcode, dtype, dst, a, b, c}. Registers hold one block of values each. */
#define DAGR__EW_INSN 6
enum {
  DAGR__VM_LOAD = 1, /* dst <- input a (converted to dtype) */
  DAGR__VM_CONST,    /* dst <- consts[a] */
  DAGR__VM_UNARY,    /* dst <- op(c)(reg a): c holds the public op code */
  DAGR__VM_BINARY,   /* dst <- reg a OP(c) reg b: dtype is the operands' common dtype */
  DAGR__VM_WHERE,    /* dst <- reg c ? reg a : reg b */
  DAGR__VM_CAST      /* dst <- reg a converted from dtype b to dtype */
};

#endif
