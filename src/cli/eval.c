/* eval.c: `dagr eval 'EXPR' NAME=FILE.h5:/dataset ... [--out FILE.h5:/dataset] [--chunks ...]
 * [--gzip]`. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/expr.h"
#include "dagr/array.h"

#define MAX_BINDINGS 64
#define PRINT_LIMIT  10000

typedef struct binding {
  char name[128];
  char *file;
  char *dataset;
  dagr_array_t *array; /* opened on first use */
} binding;

typedef struct ev {
  dagr_ctx_t *ctx;
  binding b[MAX_BINDINGS];
  int nb;
  int64_t chunks[DAGR_MAX_NDIM];
  int nchunks; /* 0: auto */
  const char *text;
  char err[2048];
} ev;

/* A value: a number (from literals only) or an array. */
typedef struct value {
  dagr_array_t *a;
  int is_int;
  double v;
} value;

static int fail(ev *e, const dagr_expr_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(ev *e, const dagr_expr_node *n, const char *fmt, ...) {
  char msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n)
    snprintf(e->err, sizeof e->err, "column %zu: %s", n->op_column, msg);
  else
    snprintf(e->err, sizeof e->err, "%s", msg);
  return -1;
}

static int api_fail(ev *e, const dagr_expr_node *n) {
  return fail(e, n, "%s", dagr_last_error(e->ctx));
}

/* Splits FILE.h5:/dataset at the last ':' followed by '/'. */
static int split_target(const char *s, char **file, char **dset) {
  const char *c = NULL;
  for (const char *p = s; *p; p++)
    if (p[0] == ':' && p[1] == '/') c = p;
  if (!c || c == s) return -1;
  *file = strndup(s, (size_t)(c - s));
  *dset = strdup(c + 1);
  return *file && *dset ? 0 : -1;
}

static int to_array(ev *e, const dagr_expr_node *n, value *v) {
  if (v->a) return 0;
  if (dagr_array_scalar(e->ctx, v->is_int ? DAGR_DTYPE_INT64 : DAGR_DTYPE_FLOAT64, v->v, &v->a))
    return api_fail(e, n);
  return 0;
}

static void drop(value *v) {
  dagr_array_release(v->a);
  v->a = NULL;
}

static int eval(ev *e, const dagr_expr_node *n, value *out);

static int map_binop(int op) {
  switch (op) {
  case DAGR_EXPR_ADD:
    return DAGR_OP_ADD;
  case DAGR_EXPR_SUB:
    return DAGR_OP_SUB;
  case DAGR_EXPR_MUL:
    return DAGR_OP_MUL;
  case DAGR_EXPR_DIV:
    return DAGR_OP_DIV;
  case DAGR_EXPR_POW:
    return DAGR_OP_POW;
  case DAGR_EXPR_LT:
    return DAGR_OP_LT;
  case DAGR_EXPR_LE:
    return DAGR_OP_LE;
  case DAGR_EXPR_GT:
    return DAGR_OP_GT;
  case DAGR_EXPR_GE:
    return DAGR_OP_GE;
  case DAGR_EXPR_EQ:
    return DAGR_OP_EQ;
  case DAGR_EXPR_NE:
    return DAGR_OP_NE;
  default:
    return -1;
  }
}

static int eval_binary(ev *e, const dagr_expr_node *n, value *out) {
  value x = {0}, y = {0};
  if (eval(e, n->args[0], &x) || eval(e, n->args[1], &y)) {
    drop(&x);
    drop(&y);
    return -1;
  }
  if (n->u.binop == DAGR_EXPR_MATMUL) {
    int rc = 0;
    if (!x.a || !y.a)
      rc = fail(e, n, "matmul: both operands of @ must be arrays, not numbers");
    else if (dagr_array_matmul(x.a, y.a, &out->a))
      rc = api_fail(e, n);
    drop(&x);
    drop(&y);
    return rc;
  }
  int op = map_binop((int)n->u.binop), rc = 0;
  if (!x.a && !y.a) {
    /* Two numbers: Python arithmetic on them becomes a 0-d array computed with the rest. */
    if (to_array(e, n, &x) || to_array(e, n, &y)) rc = -1;
  }
  if (rc == 0) {
    int r;
    if (x.a && y.a)
      r = dagr_array_binary(op, x.a, y.a, &out->a);
    else if (x.a)
      r = dagr_array_binary_scalar(op, x.a, y.v, 0, &out->a);
    else
      r = dagr_array_binary_scalar(op, y.a, x.v, 1, &out->a);
    if (r) rc = api_fail(e, n);
  }
  drop(&x);
  drop(&y);
  return rc;
}

static int eval_call(ev *e, const dagr_expr_node *n, value *out) {
  value args[3] = {{0}};
  int rc = 0;
  for (int i = 0; i < n->nargs && rc == 0; i++) {
    rc = eval(e, n->args[i], &args[i]);
    if (rc == 0) rc = to_array(e, n->args[i], &args[i]);
  }
  if (rc == 0) {
    int r;
    switch (n->u.func) {
    case DAGR_EXPR_FN_WHERE:
      r = dagr_array_where(args[0].a, args[1].a, args[2].a, &out->a);
      break;
    case DAGR_EXPR_FN_MINIMUM:
      r = dagr_array_binary(DAGR_OP_MINIMUM, args[0].a, args[1].a, &out->a);
      break;
    case DAGR_EXPR_FN_MAXIMUM:
      r = dagr_array_binary(DAGR_OP_MAXIMUM, args[0].a, args[1].a, &out->a);
      break;
    default: {
      static const int ops[] = {DAGR_OP_SQRT, DAGR_OP_EXP, DAGR_OP_LOG, DAGR_OP_ABS,
                                DAGR_OP_SIN,  DAGR_OP_COS, DAGR_OP_TANH};
      r = dagr_array_unary(ops[n->u.func], args[0].a, &out->a);
    }
    }
    if (r) rc = api_fail(e, n);
  }
  for (int i = 0; i < 3; i++) drop(&args[i]);
  return rc;
}

static int eval(ev *e, const dagr_expr_node *n, value *out) {
  memset(out, 0, sizeof *out);
  switch (n->kind) {
  case DAGR_EXPR_NUM_INT:
    out->is_int = 1;
    out->v = (double)n->u.ival;
    return 0;
  case DAGR_EXPR_NUM_FLOAT:
    out->v = n->u.fval;
    return 0;
  case DAGR_EXPR_NAME:
    for (int i = 0; i < e->nb; i++) {
      binding *b = &e->b[i];
      if (strcmp(b->name, n->u.name) != 0) continue;
      if (!b->array) {
        int r = dagr_array_from_hdf5(e->ctx, b->file, b->dataset, e->nchunks ? e->chunks : NULL,
                                     &b->array);
        if (r == DAGR_OK && e->nchunks) {
          int nd;
          dagr_array_info(b->array, NULL, &nd, NULL);
          if (nd != e->nchunks) {
            dagr_array_release(b->array);
            b->array = NULL;
            return fail(e, n, "--chunks gives %d size(s) but '%s' (%s:%s) has %d dimension(s)",
                        e->nchunks, b->name, b->file, b->dataset, nd);
          }
        }
        if (r) return fail(e, n, "operand '%s': %s", b->name, dagr_last_error(e->ctx));
      }
      /* The binding keeps its reference; the value takes one of its own. */
      out->a = dagr_array_retain(b->array);
      return 0;
    }
    return fail(e, n, "name '%s' is not bound to a dataset (give %s=FILE.h5:/dataset)", n->u.name,
                n->u.name);
  case DAGR_EXPR_UNARY: {
    value x;
    if (eval(e, n->args[0], &x)) return -1;
    if (n->u.unop == DAGR_EXPR_POS) {
      *out = x;
      return 0;
    }
    if (!x.a) {
      *out = x;
      out->v = -x.v;
      return 0;
    }
    int r = dagr_array_unary(DAGR_OP_NEG, x.a, &out->a);
    drop(&x);
    return r ? api_fail(e, n) : 0;
  }
  case DAGR_EXPR_BINARY:
    return eval_binary(e, n, out);
  case DAGR_EXPR_CALL:
    return eval_call(e, n, out);
  case DAGR_EXPR_REDUCE: {
    value x;
    if (eval(e, n->args[0], &x) || to_array(e, n->args[0], &x)) return -1;
    static const int reds[] = {DAGR_RED_SUM,    DAGR_RED_MEAN, DAGR_RED_MIN, DAGR_RED_MAX,
                               DAGR_RED_PROD,   DAGR_RED_VAR,  DAGR_RED_STD, DAGR_RED_ARGMIN,
                               DAGR_RED_ARGMAX, DAGR_RED_ANY,  DAGR_RED_ALL};
    const dagr_expr_reduce *rd = n->u.reduce;
    int axes[DAGR_MAX_NDIM];
    for (int i = 0; i < rd->naxes; i++) axes[i] = (int)rd->axes[i];
    int r = dagr_array_reduce(reds[rd->op], x.a, rd->all_axes ? 0 : rd->naxes, axes, 0, 0,
                              (int)rd->ddof, &out->a);
    drop(&x);
    return r ? api_fail(e, n) : 0;
  }
  case DAGR_EXPR_TRANSPOSE: {
    value x;
    if (eval(e, n->args[0], &x) || to_array(e, n->args[0], &x)) return -1;
    int r = dagr_array_transpose(x.a, NULL, &out->a);
    drop(&x);
    return r ? api_fail(e, n) : 0;
  }
  case DAGR_EXPR_INDEX: {
    value x;
    if (eval(e, n->args[0], &x)) return -1;
    if (!x.a) return fail(e, n, "a number cannot be indexed");
    dagr_index_t idx[DAGR_MAX_NDIM];
    const dagr_expr_index *ix = n->u.index;
    for (int i = 0; i < ix->nitems; i++) {
      const dagr_expr_index_item *it = &ix->items[i];
      idx[i] = (dagr_index_t){!it->is_slice, it->index, it->has_start, it->has_stop,
                              it->has_step,  it->start, it->stop,      it->step};
    }
    int r = dagr_array_index(x.a, ix->nitems, idx, &out->a);
    drop(&x);
    return r ? api_fail(e, n) : 0;
  }
  }
  return fail(e, n, "unsupported expression");
}

/* ---- output ------------------------------------------------------------------------------ */

static void print_elem(const dagr_result_t *r, int64_t i) {
  const void *d = r->data;
  switch (r->dtype) {
  case DAGR_DTYPE_FLOAT64:
  case DAGR_DTYPE_FLOAT32: {
    double v = r->dtype == DAGR_DTYPE_FLOAT64 ? ((const double *)d)[i] : ((const float *)d)[i];
    if (isnan(v))
      fputs("NaN", stdout);
    else if (isinf(v))
      fputs(v > 0 ? "Infinity" : "-Infinity", stdout);
    else {
      char buf[64];
      snprintf(buf, sizeof buf, r->dtype == DAGR_DTYPE_FLOAT64 ? "%.17g" : "%.9g", v);
      if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
      fputs(buf, stdout);
    }
    break;
  }
  case DAGR_DTYPE_INT64:
    printf("%lld", (long long)((const int64_t *)d)[i]);
    break;
  case DAGR_DTYPE_INT32:
    printf("%d", ((const int32_t *)d)[i]);
    break;
  case DAGR_DTYPE_BOOL:
    fputs(((const uint8_t *)d)[i] ? "true" : "false", stdout);
    break;
  default:
    printf("%u", ((const uint8_t *)d)[i]);
    break;
  }
}

static void print_nested(const dagr_result_t *r, int axis, int64_t *pos) {
  if (axis == r->ndim) {
    print_elem(r, (*pos)++);
    return;
  }
  putchar('[');
  for (int64_t i = 0; i < r->shape[axis]; i++) {
    if (i) fputs(", ", stdout);
    print_nested(r, axis + 1, pos);
  }
  putchar(']');
}

static void print_shape(int ndim, const int64_t *shape) {
  putchar('[');
  for (int i = 0; i < ndim; i++) printf("%s%lld", i ? ", " : "", (long long)shape[i]);
  putchar(']');
}

static int summary(ev *e, dagr_array_t *a, int ndim, const int64_t *shape, int dtype) {
  static const int reds[3] = {DAGR_RED_MIN, DAGR_RED_MAX, DAGR_RED_MEAN};
  static const char *names[3] = {"min", "max", "mean"};
  printf("{\"shape\": ");
  print_shape(ndim, shape);
  printf(", \"dtype\": \"%s\"", dagr_dtype_name(dtype));
  for (int k = 0; k < 3; k++) {
    dagr_array_t *r;
    dagr_result_t res;
    if (dagr_array_reduce(reds[k], a, 0, NULL, 0, 0, 0, &r) || dagr_array_compute(r, &res)) {
      putchar('\n');
      return fail(e, NULL, "%s", dagr_last_error(e->ctx));
    }
    printf(", \"%s\": ", names[k]);
    print_elem(&res, 0);
    dagr_result_release(&res);
    dagr_array_release(r);
  }
  printf("}\n");
  return 0;
}

static int usage(void) {
  fprintf(stderr, "usage: dagr eval 'EXPR' NAME=FILE.h5:/dataset ... [--out FILE.h5:/dataset] "
                  "[--chunks auto|N,N,...] [--gzip] [--trace FILE.json] [--report FILE.html]\n");
  return 2;
}

int dagr_cli_eval(dagr_ctx_t *ctx, int argc, char **argv) {
  ev e;
  memset(&e, 0, sizeof e);
  e.ctx = ctx;
  const char *out = NULL;
  int gzip = 0, status = 1;
  char *ofile = NULL, *odset = NULL;
  dagr_expr_node *root = NULL;
  value v = {0};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int taken = dagr_cli_obs_option(ctx, "eval", argc, argv, &i);
    if (taken < 0) return 2;
    if (taken) continue;
    if (!strcmp(a, "--out") && i + 1 < argc) {
      out = argv[++i];
    } else if (!strcmp(a, "--gzip")) {
      gzip = 4; /* h5py's default level */
    } else if (!strcmp(a, "--chunks") && i + 1 < argc) {
      const char *c = argv[++i];
      if (strcmp(c, "auto") != 0) {
        char *end;
        for (const char *p = c; *p; p = *end ? end + 1 : end) {
          long long x = strtoll(p, &end, 10);
          if (end == p || (*end && *end != ',') || x < -1 || x == 0 || e.nchunks == DAGR_MAX_NDIM) {
            fprintf(stderr,
                    "dagr eval: --chunks '%s' must be 'auto' or positive sizes "
                    "separated by commas (-1: whole axis)\n",
                    c);
            return 2;
          }
          e.chunks[e.nchunks++] = x;
        }
      }
    } else if (a[0] == '-' && a[1] == '-') {
      fprintf(stderr, "dagr eval: unknown or incomplete option '%s'\n", a);
      return usage();
    } else if (!e.text) {
      e.text = a;
    } else {
      const char *eq = strchr(a, '=');
      binding *b = &e.b[e.nb];
      if (!eq || eq == a || (size_t)(eq - a) >= sizeof b->name || e.nb == MAX_BINDINGS ||
          split_target(eq + 1, &b->file, &b->dataset)) {
        fprintf(stderr, "dagr eval: '%s' is not NAME=FILE.h5:/dataset\n", a);
        goto done;
      }
      memcpy(b->name, a, (size_t)(eq - a));
      b->name[eq - a] = '\0';
      e.nb++;
    }
  }
  if (!e.text) return usage();
  if (out && split_target(out, &ofile, &odset)) {
    fprintf(stderr, "dagr eval: --out '%s' is not FILE.h5:/dataset\n", out);
    goto done;
  }
  size_t col = 0;
  if (dagr_expr_parse_ex(e.text, &root, e.err, sizeof e.err, &col)) {
    fprintf(stderr, "dagr eval: %s\n  %s\n  %*s^\n", e.err, e.text, (int)(col ? col - 1 : 0), "");
    goto done;
  }
  if (eval(&e, root, &v) || to_array(&e, root, &v)) {
    fprintf(stderr, "dagr eval: %s\n", e.err);
    goto done;
  }
  int dtype, ndim;
  int64_t shape[DAGR_MAX_NDIM], n = 1;
  dagr_array_info(v.a, &dtype, &ndim, shape);
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (out) {
    if (dagr_array_store(v.a, ofile, odset, gzip)) {
      fprintf(stderr, "dagr eval: %s\n", dagr_last_error(ctx));
      goto done;
    }
    printf("{\"out\": ");
    dagr_cli_json_string(stdout, out);
    printf(", \"shape\": ");
    print_shape(ndim, shape);
    printf(", \"dtype\": \"%s\"}\n", dagr_dtype_name(dtype));
  } else if (n <= PRINT_LIMIT) {
    dagr_result_t r;
    if (dagr_array_compute(v.a, &r)) {
      fprintf(stderr, "dagr eval: %s\n", dagr_last_error(ctx));
      goto done;
    }
    int64_t pos = 0;
    print_nested(&r, 0, &pos);
    putchar('\n');
    dagr_result_release(&r);
  } else if (summary(&e, v.a, ndim, shape, dtype)) {
    fprintf(stderr, "dagr eval: %s\n", e.err);
    goto done;
  }
  status = 0;
done:
  drop(&v);
  dagr_expr_free(root);
  for (int i = 0; i < e.nb; i++) {
    dagr_array_release(e.b[i].array);
    free(e.b[i].file);
    free(e.b[i].dataset);
  }
  free(ofile);
  free(odset);
  fflush(stdout);
  return status;
}
