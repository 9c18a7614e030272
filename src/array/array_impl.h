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
  DAGR__AN_H5, /* a dataset read chunk by chunk by the workers */
  DAGR__AN_EXT /* an operation with its own lowering hook (see struct dagr_array) */
};

/* Elementwise node operations beyond the public ones. */
enum {
  DAGR__EW_CAST = 64, /* convert the input to the node's dtype */
  DAGR__EW_WHERE = 65,
  DAGR__EW_CONST = 66 /* a broadcast scalar (no inputs) */
};

struct dagr__lower;

struct dagr_array {
  int refs;
  /* Set while a graph is built: how many edges of the expression being lowered lead here (a
   * fusion may absorb a node only when nothing else needs it), and the build that counted. */
  int uses;
  uint64_t visit;
  dagr_ctx_t *ctx;
  uint64_t id; /* unique per process: names the node's tasks */
  int kind;
  int dtype;
  dagr__ch_layout_t layout;
  int nin;
  dagr_array_t **in; /* in_small, or malloc'd when an op has more than 3 inputs */
  dagr_array_t *in_small[3];
  /* Operations defined outside array.c/lower.c (kind DAGR__AN_EXT) bring their own data, key
   * name and lowering; the generic code only calls these. */
  const char *ext_name;
  int (*ext_lower)(struct dagr__lower *L, dagr_array_t *a);
  void *ext;
  void (*ext_free)(void *ext);
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

/* Lowering state: the graph being built and the nodes already lowered into it. */
typedef struct dagr__lower {
  dagr_ctx_t *ctx;
  dagr_graph_t *g;
  uint64_t *done;
  size_t ndone, cap;
} dagr__lower;

/* Lowering helpers for operations in other files. */
int dagr__lower_node(dagr__lower *L, dagr_array_t *a);
/* Adds a task (takes ownership of p, which may be NULL). */
int dagr__lower_add_task(dagr__lower *L, const char *key, const char *kernel, dagr_params_t *p,
                         const char *const *deps, size_t ndeps);
/* The Dask-style key of a's block idx: ('name-ID', i, j). */
void dagr__lower_block_key(const dagr_array_t *a, const int64_t *idx, char *buf, size_t len);
/* Key of an intermediate: ('NAME-ID' SUFFIX, idx...). */
void dagr__lower_key(char *buf, size_t len, const char *name, uint64_t id, const char *suffix,
                     int n, const int64_t *idx);
/* Next block index of a layout in C order; 0 when done. */
int dagr__lower_next_index(const dagr__ch_layout_t *l, int64_t *idx);
/* Shape of block idx; returns ndim. */
int dagr__lower_block_shape(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *shape);
/* Gives node a n inputs (retained); more than 3 are allocated. */
int dagr__array_set_inputs(dagr_array_t *a, int n, dagr_array_t *const *in);

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
