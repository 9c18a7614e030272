/* expr.h: the `dagr eval` expression parser: NumPy-like text to an AST, with precise errors. */
#ifndef DAGR_CLI_EXPR_H
#define DAGR_CLI_EXPR_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted expression, in bytes. */
#define DAGR_EXPR_MAX_LEN (1024 * 1024)
/* Deepest nesting, both in the source (parentheses, unary signs, call arguments, exponents) and
 * in the resulting tree (so `a+b+...` may have at most this many terms).  Every node satisfies
 * node->depth <= DAGR_EXPR_MAX_DEPTH, so recursive walks of the AST are safe. */
#define DAGR_EXPR_MAX_DEPTH 256
/* Most axes in an axis=(...) tuple and most items in one subscript: the array rank limit. */
#define DAGR_EXPR_MAX_AXES 8

typedef enum {
  DAGR_EXPR_NUM_INT,   /* u.ival */
  DAGR_EXPR_NUM_FLOAT, /* u.fval (also `inf`, `nan`) */
  DAGR_EXPR_NAME,      /* u.name: an operand to bind to a dataset */
  DAGR_EXPR_UNARY,     /* u.unop applied to args[0] */
  DAGR_EXPR_BINARY,    /* args[0] u.binop args[1] */
  DAGR_EXPR_CALL,      /* u.func applied to args[0 .. nargs-1] (elementwise, where, min/maximum) */
  DAGR_EXPR_REDUCE,    /* u.reduce->op over args[0]; `x.sum()` and `sum(x)` both give this */
  DAGR_EXPR_TRANSPOSE, /* args[0] reversed axes; `x.T`, `x.transpose()`, `transpose(x)` */
  DAGR_EXPR_INDEX      /* args[0][u.index->items...] (basic indexing only) */
} dagr_expr_kind;

typedef enum { DAGR_EXPR_NEG, DAGR_EXPR_POS } dagr_expr_unop;

typedef enum {
  DAGR_EXPR_ADD,
  DAGR_EXPR_SUB,
  DAGR_EXPR_MUL,
  DAGR_EXPR_DIV,
  DAGR_EXPR_POW,
  DAGR_EXPR_MATMUL,
  DAGR_EXPR_LT,
  DAGR_EXPR_LE,
  DAGR_EXPR_GT,
  DAGR_EXPR_GE,
  DAGR_EXPR_EQ,
  DAGR_EXPR_NE
} dagr_expr_binop;

typedef enum {
  DAGR_EXPR_FN_SQRT, /* 1 argument */
  DAGR_EXPR_FN_EXP,
  DAGR_EXPR_FN_LOG,
  DAGR_EXPR_FN_ABS,
  DAGR_EXPR_FN_SIN,
  DAGR_EXPR_FN_COS,
  DAGR_EXPR_FN_TANH,
  DAGR_EXPR_FN_WHERE,   /* 3 arguments: condition, x, y */
  DAGR_EXPR_FN_MINIMUM, /* 2 arguments */
  DAGR_EXPR_FN_MAXIMUM  /* 2 arguments */
} dagr_expr_func;

typedef enum {
  DAGR_EXPR_RED_SUM,
  DAGR_EXPR_RED_MEAN,
  DAGR_EXPR_RED_MIN,
  DAGR_EXPR_RED_MAX,
  DAGR_EXPR_RED_PROD,
  DAGR_EXPR_RED_VAR,
  DAGR_EXPR_RED_STD,
  DAGR_EXPR_RED_ARGMIN, /* at most one axis (never a tuple) */
  DAGR_EXPR_RED_ARGMAX,
  DAGR_EXPR_RED_ANY,
  DAGR_EXPR_RED_ALL
} dagr_expr_reduce_op;

typedef struct {
  dagr_expr_reduce_op op;
  int all_axes;   /* 1: over every axis (no axis given, or axis=None); naxes is then 0 */
  int naxes;      /* otherwise 1..DAGR_EXPR_MAX_AXES entries in axes[] */
  int axis_tuple; /* axis was written as a tuple, e.g. axis=(0,) (only matters for printing) */
  /* As written: negative counts from the end; not yet checked against the rank or for
   * duplicates (that needs the operand's rank, so the evaluator does it). */
  int64_t axes[DAGR_EXPR_MAX_AXES];
  int keepdims; /* always 0: keepdims= is not accepted */
  int has_ddof; /* ddof= was given (var and std only) */
  int64_t ddof; /* 0 unless given */
} dagr_expr_reduce;

typedef struct {
  int is_slice;  /* 0: integer index `index`; 1: slice start:stop:step */
  int64_t index; /* when !is_slice; negative counts from the end */
  int has_start, has_stop, has_step;
  int64_t start, stop, step; /* valid when the matching has_ flag is set; step is never 0 */
  size_t column;             /* where the item starts */
} dagr_expr_index_item;

typedef struct {
  int nitems; /* 1..DAGR_EXPR_MAX_AXES, one per leading axis */
  dagr_expr_index_item items[DAGR_EXPR_MAX_AXES];
} dagr_expr_index;

typedef struct dagr_expr_node dagr_expr_node;
struct dagr_expr_node {
  dagr_expr_kind kind;
  int nargs;               /* children used in args[] (0 to 3) */
  dagr_expr_node *args[3]; /* owned children */
  int depth;               /* 1 for a leaf, else 1 + the deepest child; <= DAGR_EXPR_MAX_DEPTH */
  /* Columns are 1-based byte offsets into the parsed text. */
  size_t column;     /* first character of the node's text (including enclosing parentheses) */
  size_t end_column; /* one past its last character */
  size_t op_column;  /* its operator, function or method name, '[' or `.T`; == column for leaves */
  union {
    int64_t ival;             /* NUM_INT */
    double fval;              /* NUM_FLOAT */
    char *name;               /* NAME (owned, NUL-terminated) */
    dagr_expr_unop unop;      /* UNARY */
    dagr_expr_binop binop;    /* BINARY */
    dagr_expr_func func;      /* CALL */
    dagr_expr_reduce *reduce; /* REDUCE (owned) */
    dagr_expr_index *index;   /* INDEX (owned) */
  } u;
};

/* Parses TEXT into a new tree in *OUT (free it with dagr_expr_free).  Returns 0, or -1 with
 * *OUT = NULL and a message "column N: ..." in ERR (truncated to ERRLEN; ERR may be NULL). */
int dagr_expr_parse(const char *text, dagr_expr_node **out, char *err, size_t errlen);
/* Like dagr_expr_parse, and on failure also stores the error's 1-based column in *ERR_COLUMN
 * (if not NULL), for printing a caret under the expression. */
int dagr_expr_parse_ex(const char *text, dagr_expr_node **out, char *err, size_t errlen,
                       size_t *err_column);

/* Frees a tree from dagr_expr_parse; NULL is allowed. */
void dagr_expr_free(dagr_expr_node *node);

/* Lists the distinct NAME nodes of the tree, each name's first occurrence in source order, into
 * OUT[0 .. MAX-1] (OUT may be NULL when MAX is 0).  Returns how many distinct names there are
 * (possibly more than MAX, like snprintf), or -1 if memory ran out. */
int dagr_expr_names(const dagr_expr_node *root, const dagr_expr_node **out, size_t max);

/* Writes the canonical fully parenthesized form of the tree into BUF (always NUL-terminated when
 * LEN > 0, truncated like snprintf), e.g. "((-(x ** 2)) + mean(y, axis=(0, 1), ddof=1))".
 * Returns the length of the full form (excluding the NUL), or -1 on bad arguments. */
int dagr_expr_print(const dagr_expr_node *node, char *buf, size_t len);

/* Names for messages: "sqrt", "sum", "+", "**", ... */
const char *dagr_expr_func_name(dagr_expr_func f);
const char *dagr_expr_reduce_name(dagr_expr_reduce_op op);
const char *dagr_expr_binop_symbol(dagr_expr_binop op);

#endif
