/* test_expr.c: unit tests of the `dagr eval` parser: precedence, forms, errors and limits. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/expr.h"
#include "cu_util.h"

/* Parses TEXT, expecting success and the canonical form WANT. */
static void expect_print_at(const char *text, const char *want, int line) {
  dagr_expr_node *n = NULL;
  char err[256] = "", buf[1024] = "";
  int rc = dagr_expr_parse(text, &n, err, sizeof err);
  if (rc != 0) fprintf(stderr, "  line %d: parse of \"%s\" failed: %s\n", line, text, err);
  CU_EXPECT_INT(rc, 0);
  if (!n) return;
  int len = dagr_expr_print(n, buf, sizeof buf);
  CU_EXPECT_INT(len, strlen(want));
  if (strcmp(buf, want) != 0)
    fprintf(stderr, "  line %d: \"%s\" printed \"%s\", expected \"%s\"\n", line, text, buf, want);
  CU_ASSERT_STRING_EQUAL(buf, want);
  dagr_expr_free(n);
}
#define EXPECT_PRINT(text, want) expect_print_at(text, want, __LINE__)

/* Parses TEXT, expecting failure at COLUMN with a message containing WANT. */
static void expect_error_at(const char *text, size_t column, const char *want, int line) {
  dagr_expr_node *n = (dagr_expr_node *)&n; /* must be reset to NULL */
  char err[512] = "", prefix[32];
  size_t col = 0;
  int rc = dagr_expr_parse_ex(text, &n, err, sizeof err, &col);
  if (rc == 0) fprintf(stderr, "  line %d: \"%s\" parsed but should fail\n", line, text);
  CU_EXPECT_INT(rc, -1);
  CU_ASSERT_PTR_NULL(n);
  if (rc == 0) dagr_expr_free(n);
  if (col != column) fprintf(stderr, "  line %d: \"%s\": %s\n", line, text, err);
  CU_EXPECT_INT(col, column);
  snprintf(prefix, sizeof prefix, "column %zu: ", column);
  CU_ASSERT(strncmp(err, prefix, strlen(prefix)) == 0);
  CU_EXPECT_STR_CONTAINS(err, want);
}
#define EXPECT_ERROR(text, column, want) expect_error_at(text, column, want, __LINE__)

static dagr_expr_node *parse_ok(const char *text) {
  dagr_expr_node *n = NULL;
  char err[256] = "";
  int rc = dagr_expr_parse(text, &n, err, sizeof err);
  if (rc != 0) fprintf(stderr, "  parse of \"%s\" failed: %s\n", text, err);
  CU_EXPECT_INT(rc, 0);
  return n;
}

static void test_literals(void) {
  EXPECT_PRINT("42", "42");
  EXPECT_PRINT("9223372036854775807", "9223372036854775807");
  EXPECT_PRINT("1.5", "1.5");
  EXPECT_PRINT("2.", "2.0");
  EXPECT_PRINT(".25", "0.25");
  EXPECT_PRINT("1e3", "1000.0");
  EXPECT_PRINT("1.5E-3", "0.0015");
  EXPECT_PRINT("0.1", "0.1");
  EXPECT_PRINT("inf", "inf");
  EXPECT_PRINT("nan", "nan");
  EXPECT_PRINT("  x_1\t", "x_1");
  dagr_expr_node *n = parse_ok("7");
  if (n) {
    CU_EXPECT_INT(n->kind, DAGR_EXPR_NUM_INT);
    CU_EXPECT_INT(n->u.ival, 7);
    CU_EXPECT_INT(n->column, 1);
    CU_EXPECT_INT(n->end_column, 2);
  }
  dagr_expr_free(n);
  n = parse_ok("inf");
  if (n) {
    CU_EXPECT_INT(n->kind, DAGR_EXPR_NUM_FLOAT);
    CU_ASSERT(isinf(n->u.fval) && n->u.fval > 0);
  }
  dagr_expr_free(n);
  n = parse_ok("nan");
  if (n) CU_ASSERT(isnan(n->u.fval));
  dagr_expr_free(n);
  n = parse_ok("1e-400"); /* underflow is fine: 0 as in Python */
  if (n) CU_EXPECT_INT(n->kind, DAGR_EXPR_NUM_FLOAT);
  dagr_expr_free(n);
}

static void test_precedence(void) {
  EXPECT_PRINT("a+b*c", "(a + (b * c))");
  EXPECT_PRINT("a*b+c", "((a * b) + c)");
  EXPECT_PRINT("a-b-c", "((a - b) - c)");
  EXPECT_PRINT("a/b/c", "((a / b) / c)");
  EXPECT_PRINT("a @ b + 1", "((a @ b) + 1)");
  EXPECT_PRINT("a * b @ c", "((a * b) @ c)");
  EXPECT_PRINT("a + b < c * d", "((a + b) < (c * d))");
  EXPECT_PRINT("(a + b) * c", "((a + b) * c)");
  EXPECT_PRINT("((a))", "a");
  EXPECT_PRINT("a == b", "(a == b)");
  EXPECT_PRINT("a != b", "(a != b)");
  EXPECT_PRINT("a<=b", "(a <= b)");
  EXPECT_PRINT("a>=-b", "(a >= (-b))");
  EXPECT_PRINT("a > b", "(a > b)");
  EXPECT_PRINT("(a < b) < c", "((a < b) < c)");
  EXPECT_PRINT("(x - mean(x, axis=0)) / std(x, axis=0)",
               "((x - mean(x, axis=0)) / std(x, axis=0))");
}

static void test_power_and_unary(void) {
  EXPECT_PRINT("-x**2", "(-(x ** 2))");
  EXPECT_PRINT("2**3**2", "(2 ** (3 ** 2))");
  EXPECT_PRINT("2**-1", "(2 ** (-1))");
  EXPECT_PRINT("a**-b**c", "(a ** (-(b ** c)))");
  EXPECT_PRINT("(-x)**2", "((-x) ** 2)");
  EXPECT_PRINT("--x", "(-(-x))");
  EXPECT_PRINT("+x", "(+x)");
  EXPECT_PRINT("-a*b", "((-a) * b)");
  EXPECT_PRINT("a*-b", "(a * (-b))");
  EXPECT_PRINT("a - -b", "(a - (-b))");
  EXPECT_PRINT("x.T**2", "(transpose(x) ** 2)");
  EXPECT_PRINT("-x[0]**2", "(-(x[0] ** 2))");
}

static void test_functions(void) {
  EXPECT_PRINT("sqrt(x)", "sqrt(x)");
  EXPECT_PRINT("exp(log(abs(x)))", "exp(log(abs(x)))");
  EXPECT_PRINT("sin(x) + cos(x) * tanh(x)", "(sin(x) + (cos(x) * tanh(x)))");
  EXPECT_PRINT("where(x > 0, x, 0)", "where((x > 0), x, 0)");
  EXPECT_PRINT("minimum(a, b)", "minimum(a, b)");
  EXPECT_PRINT("maximum(a, 1.5,)", "maximum(a, 1.5)");
  EXPECT_PRINT("transpose(x)", "transpose(x)");
  EXPECT_PRINT("sqrt((x))", "sqrt(x)");
  dagr_expr_node *n = parse_ok("where(c, a, b)");
  if (n) {
    CU_EXPECT_INT(n->kind, DAGR_EXPR_CALL);
    CU_EXPECT_INT(n->u.func, DAGR_EXPR_FN_WHERE);
    CU_EXPECT_INT(n->nargs, 3);
    CU_EXPECT_INT(n->args[2]->column, 13);
  }
  dagr_expr_free(n);
  CU_ASSERT_STRING_EQUAL(dagr_expr_func_name(DAGR_EXPR_FN_MAXIMUM), "maximum");
  CU_ASSERT_STRING_EQUAL(dagr_expr_reduce_name(DAGR_EXPR_RED_ARGMAX), "argmax");
  CU_ASSERT_STRING_EQUAL(dagr_expr_binop_symbol(DAGR_EXPR_MATMUL), "@");
}

static void test_reductions(void) {
  EXPECT_PRINT("sum(x)", "sum(x)");
  EXPECT_PRINT("mean(x, axis=0)", "mean(x, axis=0)");
  EXPECT_PRINT("var(x, axis=(0, 1), ddof=1)", "var(x, axis=(0, 1), ddof=1)");
  EXPECT_PRINT("std(x, ddof=1, axis=-1)", "std(x, axis=-1, ddof=1)");
  EXPECT_PRINT("max(x, axis=None)", "max(x)");
  EXPECT_PRINT("min(x, axis=(1,))", "min(x, axis=(1,))");
  EXPECT_PRINT("min(x, axis=(1))", "min(x, axis=1)");
  EXPECT_PRINT("prod(x, 0)", "prod(x, axis=0)");
  EXPECT_PRINT("any(x > 0)", "any((x > 0))");
  EXPECT_PRINT("all(x, axis=(-1, -2,))", "all(x, axis=(-1, -2))");
  EXPECT_PRINT("argmin(x, axis=-1)", "argmin(x, axis=-1)");
  EXPECT_PRINT("argmax(x)", "argmax(x)");
  EXPECT_PRINT("var(x, ddof=-1)", "var(x, ddof=-1)");
  dagr_expr_node *n = parse_ok("var(x, axis=(0, -2), ddof=3)");
  if (n) {
    CU_EXPECT_INT(n->kind, DAGR_EXPR_REDUCE);
    const dagr_expr_reduce *r = n->u.reduce;
    CU_EXPECT_INT(r->op, DAGR_EXPR_RED_VAR);
    CU_EXPECT_INT(r->all_axes, 0);
    CU_EXPECT_INT(r->naxes, 2);
    CU_EXPECT_INT(r->axes[0], 0);
    CU_EXPECT_INT(r->axes[1], -2);
    CU_EXPECT_INT(r->has_ddof, 1);
    CU_EXPECT_INT(r->ddof, 3);
    CU_EXPECT_INT(r->keepdims, 0);
  }
  dagr_expr_free(n);
  n = parse_ok("sum(x, axis=None)");
  if (n) {
    CU_EXPECT_INT(n->u.reduce->all_axes, 1);
    CU_EXPECT_INT(n->u.reduce->naxes, 0);
    CU_EXPECT_INT(n->u.reduce->has_ddof, 0);
    CU_EXPECT_INT(n->u.reduce->ddof, 0);
  }
  dagr_expr_free(n);
}

/* Method and function spellings give the same tree. */
static void test_method_function_equivalence(void) {
  static const char *const pairs[][2] = {
      {"x.mean(axis=0)", "mean(x, axis=0)"},
      {"x.sum()", "sum(x)"},
      {"x.std(ddof=1)", "std(x, ddof=1)"},
      {"x.var(axis=(0, 1), ddof=1)", "var(x, axis=(0, 1), ddof=1)"},
      {"x.max(1)", "max(x, 1)"},
      {"x.argmin(axis=0)", "argmin(x, axis=0)"},
      {"x.any()", "any(x)"},
      {"x.all(axis=None)", "all(x)"},
      {"x.prod(axis=-1)", "prod(x, axis=-1)"},
      {"x.T", "transpose(x)"},
      {"x.transpose()", "transpose(x)"},
      {"(a + b).min()", "min(a + b)"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    char b1[256], b2[256];
    dagr_expr_node *m = parse_ok(pairs[i][0]), *f = parse_ok(pairs[i][1]);
    if (m && f) {
      dagr_expr_print(m, b1, sizeof b1);
      dagr_expr_print(f, b2, sizeof b2);
      if (strcmp(b1, b2) != 0) fprintf(stderr, "  \"%s\" vs \"%s\"\n", b1, b2);
      CU_ASSERT_STRING_EQUAL(b1, b2);
      CU_EXPECT_INT(m->kind, f->kind);
    }
    dagr_expr_free(m);
    dagr_expr_free(f);
  }
}

static void test_chaining(void) {
  EXPECT_PRINT("x.T[0].sum()", "sum(transpose(x)[0])");
  EXPECT_PRINT("(x + x.T).mean(axis=0)", "mean((x + transpose(x)), axis=0)");
  EXPECT_PRINT("(x @ x).sum()", "sum((x @ x))");
  EXPECT_PRINT("x[0][1:]", "x[0][1:]");
  EXPECT_PRINT("x.T.T", "transpose(transpose(x))");
  EXPECT_PRINT("sqrt(x).mean(axis=1).T", "transpose(mean(sqrt(x), axis=1))");
  EXPECT_PRINT("x . T", "transpose(x)");
  dagr_expr_node *n = parse_ok("(a + b).sum()");
  if (n) {
    CU_EXPECT_INT(n->kind, DAGR_EXPR_REDUCE);
    CU_EXPECT_INT(n->column, 1);
    CU_EXPECT_INT(n->op_column, 9);
    CU_EXPECT_INT(n->end_column, 14);
    CU_EXPECT_INT(n->args[0]->column, 1); /* includes the parentheses */
    CU_EXPECT_INT(n->args[0]->op_column, 4);
  }
  dagr_expr_free(n);
}

static void test_slicing(void) {
  EXPECT_PRINT("x[0:100, ::2]", "x[0:100, ::2]");
  EXPECT_PRINT("x[3]", "x[3]");
  EXPECT_PRINT("x[-1, :]", "x[-1, :]");
  EXPECT_PRINT("x[::-1]", "x[::-1]");
  EXPECT_PRINT("x[1:]", "x[1:]");
  EXPECT_PRINT("x[:5:]", "x[:5]");
  EXPECT_PRINT("x[-3:-1:+2]", "x[-3:-1:2]");
  EXPECT_PRINT("x[0,]", "x[0]");
  EXPECT_PRINT("x[ 1 : 2 , 3 ]", "x[1:2, 3]");
  EXPECT_PRINT("(a + b)[0]", "(a + b)[0]");
  EXPECT_PRINT("x[0,1,2,3,4,5,6,7]", "x[0, 1, 2, 3, 4, 5, 6, 7]");
  dagr_expr_node *n = parse_ok("x[-1, 2:, ::-3]");
  if (n) {
    CU_EXPECT_INT(n->kind, DAGR_EXPR_INDEX);
    CU_EXPECT_INT(n->op_column, 2);
    const dagr_expr_index *ix = n->u.index;
    CU_EXPECT_INT(ix->nitems, 3);
    CU_EXPECT_INT(ix->items[0].is_slice, 0);
    CU_EXPECT_INT(ix->items[0].index, -1);
    CU_EXPECT_INT(ix->items[1].is_slice, 1);
    CU_EXPECT_INT(ix->items[1].has_start, 1);
    CU_EXPECT_INT(ix->items[1].start, 2);
    CU_EXPECT_INT(ix->items[1].has_stop, 0);
    CU_EXPECT_INT(ix->items[1].has_step, 0);
    CU_EXPECT_INT(ix->items[1].column, 7);
    CU_EXPECT_INT(ix->items[2].has_start, 0);
    CU_EXPECT_INT(ix->items[2].has_stop, 0);
    CU_EXPECT_INT(ix->items[2].has_step, 1);
    CU_EXPECT_INT(ix->items[2].step, -3);
  }
  dagr_expr_free(n);
}

static void test_slicing_errors(void) {
  EXPECT_ERROR("x[i]", 3, "must be integer literals");
  EXPECT_ERROR("x[0:n]", 5, "computed bounds are not supported), found name 'n'");
  EXPECT_ERROR("x[::k]", 5, "computed bounds are not supported");
  EXPECT_ERROR("x[0:1 2]", 7, "expected ',' or ']' to close '[' at column 2, found number '2'");
  EXPECT_ERROR("x[::0]", 5, "slice step cannot be zero");
  EXPECT_ERROR("x[]", 3, "empty subscript");
  EXPECT_ERROR("x[0", 4, "expected ']' to close '[' at column 2");
  EXPECT_ERROR("x[0:1", 6, "expected ']' to close '[' at column 2");
  EXPECT_ERROR("x[1.5]", 3, "must be integer literals");
  EXPECT_ERROR("x[...]", 3, "Ellipsis");
  EXPECT_ERROR("x[None]", 3, "newaxis");
  EXPECT_ERROR("x[0 1]", 5, "expected ',' or ']' to close '[' at column 2");
  EXPECT_ERROR("x[0,1,2,3,4,5,6,7,8]", 19, "too many subscript items");
  EXPECT_ERROR("x[--1]", 4, "must be integer literals");
  EXPECT_ERROR("x[99999999999999999999]", 3, "out of range");
}

static void test_axis_forms(void) {
  EXPECT_ERROR("sum(x, axis=(0, 1, 2, 3, 4, 5, 6, 7, 8))", 38, "too many axes");
  EXPECT_ERROR("sum(x, axis=())", 13, "axis=() ");
  EXPECT_ERROR("sum(x, axis=y)", 13, "axis must be an integer, a tuple of integers or None");
  EXPECT_ERROR("sum(x, axis=1.0)", 13, "axis must be an integer");
  EXPECT_ERROR("sum(x, axis=(0, y))", 17, "axis tuple items must be integer literals");
  EXPECT_ERROR("sum(x, axis=(0 1))", 16, "expected ',' or ')' to close '(' at column 13");
  EXPECT_ERROR("argmin(x, axis=(0, 1))", 16, "argmin takes one axis, not a tuple");
  EXPECT_ERROR("x.argmax(axis=(0,))", 15, "argmax takes one axis, not a tuple");
  EXPECT_ERROR("var(x, ddof=1.5)", 13, "ddof must be an integer literal");
  EXPECT_ERROR("var(x, ddof=None)", 13, "ddof must be an integer literal");
  EXPECT_ERROR("mean(x, ddof=1)", 9, "mean() got an unexpected keyword 'ddof'");
  EXPECT_ERROR("var(x, bogus=1)", 8, "var() got an unexpected keyword 'bogus'");
  EXPECT_ERROR("sum(x, keepdims=1)", 8, "sum() got an unexpected keyword 'keepdims'");
  EXPECT_ERROR("sum(x, axis=0, axis=1)", 16, "multiple values for argument 'axis'");
  EXPECT_ERROR("sum(x, 0, axis=1)", 11, "multiple values for argument 'axis'");
  EXPECT_ERROR("std(x, ddof=1, ddof=2)", 16, "multiple values for argument 'ddof'");
  EXPECT_ERROR("sum(axis=0, x)", 13, "positional argument follows keyword argument");
  EXPECT_ERROR("sum(x, 0, 1)", 11, "takes at most 2 positional arguments");
  EXPECT_ERROR("x.sum(0, 1)", 10, "method takes at most 1 positional argument");
  EXPECT_ERROR("sum()", 5, "sum() is missing its array argument");
  EXPECT_ERROR("sum(axis=0)", 11, "sum() is missing its array argument");
  EXPECT_ERROR("sum(x, axis=-9223372036854775809)", 14, "out of range");
  EXPECT_PRINT("sum(x, axis=-9223372036854775808)", "sum(x, axis=-9223372036854775808)");
}

static void test_function_errors(void) {
  EXPECT_ERROR("foo(x)", 1, "unknown function 'foo'");
  EXPECT_ERROR("a + bar(x, y)", 5, "unknown function 'bar'");
  EXPECT_ERROR("sqrt(x, y)", 9, "sqrt() takes exactly 1 argument (2 given)");
  EXPECT_ERROR("sqrt()", 6, "sqrt() takes exactly 1 argument (0 given)");
  EXPECT_ERROR("where(c, a)", 11, "where() takes exactly 3 arguments (2 given)");
  EXPECT_ERROR("minimum(a, b, c, d)", 15, "minimum() takes exactly 2 arguments (4 given)");
  EXPECT_ERROR("transpose(x, y)", 14, "transpose() takes exactly 1 argument (2 given)");
  EXPECT_ERROR("sqrt(x, axis=0)", 9, "sqrt() got an unexpected keyword 'axis'");
  EXPECT_ERROR("sqrt(x y)", 8, "expected ',' or ')' to close '(' at column 5");
  EXPECT_ERROR("sqrt(x", 7, "expected ')' to close '(' at column 5, found end of expression");
  EXPECT_ERROR("x.foo", 3, "'x.foo' is not a supported attribute");
  EXPECT_ERROR("x.foo()", 3, "'x.foo' is not a supported method");
  EXPECT_ERROR("(a+b).shape", 7, "'(a+b).shape' is not a supported attribute");
  EXPECT_ERROR("x.sum", 3, "'x.sum' is a method; call it as 'x.sum()'");
  EXPECT_ERROR("x.transpose", 3, "is a method");
  EXPECT_ERROR("x.T()", 3, "'x.T' is an attribute and cannot be called");
  EXPECT_ERROR("x.sqrt()", 3, "call the function 'sqrt(x)'");
  EXPECT_ERROR("x.transpose(1, 0)", 13, "transpose() method takes no arguments");
  EXPECT_ERROR("x.transpose(", 13, "expected ')' to close '(' at column 12");
  EXPECT_ERROR("x.", 3, "expected an attribute name after '.'");
  EXPECT_ERROR("x.1", 2, "unexpected number '.1'");
  EXPECT_ERROR("x.mean(axis=0", 14, "expected ')' to close '(' at column 7");
  EXPECT_ERROR("sum(x, ddof=1)", 8, "sum() got an unexpected keyword 'ddof'");
}

static void test_syntax_errors(void) {
  EXPECT_ERROR("", 1, "empty expression");
  EXPECT_ERROR("   \t", 1, "empty expression");
  EXPECT_ERROR("a < b < c", 7, "comparisons cannot be chained");
  EXPECT_ERROR("a == b != c", 8, "'a == b != c'");
  EXPECT_ERROR("x + 1 y", 7, "unexpected name 'y' after a complete expression");
  EXPECT_ERROR("x + 1 )", 7, "unmatched ')'");
  EXPECT_ERROR("(x + 1", 7, "expected ')' to close '(' at column 1, found end of expression");
  EXPECT_ERROR("2 * (3 + x", 11, "expected ')' to close '(' at column 5");
  EXPECT_ERROR("(a, b)", 3, "expected ')' to close '(' at column 1, found ','");
  EXPECT_ERROR("x +", 4, "expected an expression, found end of expression");
  EXPECT_ERROR("* x", 1, "expected an expression, found '*'");
  EXPECT_ERROR("()", 2, "expected an expression inside '(' at column 1");
  EXPECT_ERROR("x = 1", 3, "did you mean '=='?");
  EXPECT_ERROR("x // 2", 3, "floor division");
  EXPECT_ERROR("x % 2", 3, "'%' (remainder) is not supported");
  EXPECT_ERROR("x & y", 3, "'&' is not supported");
  EXPECT_ERROR("x $ y", 3, "unexpected character '$'");
  EXPECT_ERROR("x \xc3\xa9", 3, "unexpected byte 0xc3");
  EXPECT_ERROR("x ! y", 3, "unexpected character '!'");
  EXPECT_ERROR("1abc", 1, "invalid number '1abc'");
  EXPECT_ERROR("x + 1e", 5, "invalid number '1e'");
  EXPECT_ERROR("2.T", 1, "invalid number");
  EXPECT_ERROR("1.2.3", 4, "unexpected number '.3'");
  EXPECT_ERROR("None + 1", 1, "None is only allowed as axis=None");
  EXPECT_ERROR("x[0] [", 7, "expected ']' to close '[' at column 6");
}

static void test_number_ranges(void) {
  EXPECT_ERROR("9223372036854775808", 1, "integer literal '9223372036854775808' is out of range");
  EXPECT_ERROR("x + 123456789012345678901234567890", 5, "is out of range");
  EXPECT_ERROR("1e400", 1, "float literal '1e400' is out of range");
  EXPECT_ERROR("x * -1.5e999", 6, "float literal '1.5e999' is out of range");
  EXPECT_PRINT("-9223372036854775807", "(-9223372036854775807)");
  EXPECT_PRINT("1.7976931348623157e308", "1.7976931348623157e+308");
}

static void test_columns(void) {
  dagr_expr_node *n = parse_ok("a + sqrt(b)*-c");
  if (n) {
    CU_EXPECT_INT(n->kind, DAGR_EXPR_BINARY);
    CU_EXPECT_INT(n->u.binop, DAGR_EXPR_ADD);
    CU_EXPECT_INT(n->column, 1);
    CU_EXPECT_INT(n->op_column, 3);
    CU_EXPECT_INT(n->end_column, 15);
    const dagr_expr_node *m = n->args[1];
    CU_EXPECT_INT(m->u.binop, DAGR_EXPR_MUL);
    CU_EXPECT_INT(m->op_column, 12);
    CU_EXPECT_INT(m->args[0]->kind, DAGR_EXPR_CALL);
    CU_EXPECT_INT(m->args[0]->op_column, 5);
    CU_EXPECT_INT(m->args[0]->args[0]->column, 10);
    CU_EXPECT_INT(m->args[1]->kind, DAGR_EXPR_UNARY);
    CU_EXPECT_INT(m->args[1]->u.unop, DAGR_EXPR_NEG);
    CU_EXPECT_INT(m->args[1]->column, 13);
    CU_EXPECT_INT(n->depth, 4);
  }
  dagr_expr_free(n);
}

static void test_names(void) {
  dagr_expr_node *n = parse_ok("(x - y.mean(axis=0)) / where(x > z, y, sum(x)) + inf + nan + sqrt");
  if (n) {
    const dagr_expr_node *names[8];
    int k = dagr_expr_names(n, names, 8);
    CU_EXPECT_INT(k, 4);
    if (k == 4) {
      CU_ASSERT_STRING_EQUAL(names[0]->u.name, "x");
      CU_ASSERT_STRING_EQUAL(names[1]->u.name, "y");
      CU_ASSERT_STRING_EQUAL(names[2]->u.name, "z");
      CU_ASSERT_STRING_EQUAL(names[3]->u.name, "sqrt"); /* a plain name, not a call */
      CU_EXPECT_INT(names[0]->column, 2);
      CU_EXPECT_INT(names[2]->column, 34);
    }
    /* Too small an array: the count is still complete. */
    CU_EXPECT_INT(dagr_expr_names(n, names, 1), 4);
    CU_ASSERT_STRING_EQUAL(names[0]->u.name, "x");
    CU_EXPECT_INT(dagr_expr_names(n, NULL, 0), 4);
  }
  dagr_expr_free(n);
  n = parse_ok("1 + 2.5");
  if (n) CU_EXPECT_INT(dagr_expr_names(n, NULL, 0), 0);
  dagr_expr_free(n);
  CU_EXPECT_INT(dagr_expr_names(NULL, NULL, 0), 0);
}

/* Many distinct names in a balanced tree: the listing stays fast and exact. */
static void test_many_names(void) {
  /* ((n0+n1)+(n2+n3))... built bottom-up: 4096 leaves, 12 levels. */
  enum { LEAVES = 4096 };
  char **level = malloc(LEAVES * sizeof *level);
  CU_ASSERT_PTR_NOT_NULL_FATAL(level);
  for (int i = 0; i < LEAVES; i++) {
    level[i] = malloc(16);
    snprintf(level[i], 16, "n%d", i % 3000);
  }
  for (int w = LEAVES; w > 1; w /= 2) {
    for (int i = 0; i < w / 2; i++) {
      size_t len = strlen(level[2 * i]) + strlen(level[2 * i + 1]) + 4;
      char *s = malloc(len);
      snprintf(s, len, "(%s+%s)", level[2 * i], level[2 * i + 1]);
      free(level[2 * i]);
      free(level[2 * i + 1]);
      level[i] = s;
    }
  }
  dagr_expr_node *n = parse_ok(level[0]);
  if (n) {
    CU_EXPECT_INT(n->depth, 13);
    const dagr_expr_node *names[2];
    CU_EXPECT_INT(dagr_expr_names(n, names, 2), 3000);
    CU_ASSERT_STRING_EQUAL(names[1]->u.name, "n1");
  }
  dagr_expr_free(n);
  free(level[0]);
  free(level);
}

static char *repeat(const char *head, const char *unit, size_t count, const char *tail) {
  size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
  char *s = malloc(hl + ul * count + tl + 1);
  if (!s) return NULL;
  memcpy(s, head, hl);
  for (size_t i = 0; i < count; i++) memcpy(s + hl + i * ul, unit, ul);
  memcpy(s + hl + ul * count, tail, tl + 1);
  return s;
}

static void expect_too_deep(const char *text) {
  dagr_expr_node *n = NULL;
  char err[256] = "";
  size_t col = 0;
  CU_EXPECT_INT(dagr_expr_parse_ex(text, &n, err, sizeof err, &col), -1);
  CU_ASSERT_PTR_NULL(n);
  CU_EXPECT_STR_CONTAINS(err, "nested too deeply");
  CU_ASSERT(col > 1 && col <= strlen(text));
}

/* Hostile nesting gives a clean error, never a stack overflow. */
static void test_deep_nesting(void) {
  char *s = repeat("", "(", 10000, "x");
  if (s) expect_too_deep(s);
  free(s);
  s = repeat("", "(", 10000, "");
  if (s) expect_too_deep(s);
  free(s);
  s = repeat("", "-", 10000, "x");
  if (s) expect_too_deep(s);
  free(s);
  s = repeat("x", "**x", 10000, "");
  if (s) expect_too_deep(s);
  free(s);
  s = repeat("", "sqrt(", 10000, "x");
  if (s) expect_too_deep(s);
  free(s);
  s = repeat("x", "[0]", 10000, "");
  if (s) expect_too_deep(s);
  free(s);
  s = repeat("x", ".T", 10000, "");
  if (s) expect_too_deep(s);
  free(s);
  s = repeat("x", "+1", 10000, "");
  if (s) expect_too_deep(s);
  free(s);
  /* Just inside the limit is fine. */
  s = repeat("", "(", DAGR_EXPR_MAX_DEPTH - 1, "x");
  char *t = s ? repeat(s, ")", DAGR_EXPR_MAX_DEPTH - 1, "") : NULL;
  if (t) dagr_expr_free(parse_ok(t));
  free(s);
  free(t);
  s = repeat("x", "+1", DAGR_EXPR_MAX_DEPTH - 1, "");
  if (s) dagr_expr_free(parse_ok(s));
  free(s);
}

/* Expressions of about 1 MiB: accepted if shallow, a clean error if too deep or too long. */
static void test_huge_input(void) {
  /* 1 MiB of "1+1+...": a left-leaning chain, refused for its depth, quickly. */
  char *s = repeat("1", "+1", (DAGR_EXPR_MAX_LEN - 1) / 2, "");
  if (s) expect_too_deep(s);
  free(s);

  /* A balanced tree of 2**18 leaves, 1048573 bytes: fine. */
  char *cur = malloc(2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(cur);
  strcpy(cur, "a");
  for (int k = 0; k < 18; k++) {
    size_t l = strlen(cur);
    char *next = malloc(2 * l + 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(next);
    next[0] = '(';
    memcpy(next + 1, cur, l);
    next[l + 1] = '+';
    memcpy(next + l + 2, cur, l);
    strcpy(next + 2 * l + 2, ")");
    free(cur);
    cur = next;
  }
  CU_EXPECT_INT(strlen(cur), 4 * (1 << 18) - 3);
  dagr_expr_node *n = parse_ok(cur);
  if (n) {
    CU_EXPECT_INT(n->depth, 19);
    CU_EXPECT_INT(dagr_expr_names(n, NULL, 0), 1);
    char small[8];
    int len = dagr_expr_print(n, small, sizeof small);
    CU_EXPECT_INT(len, (1 << 18) * 4 - 3 + 2 * ((1 << 18) - 1));
    CU_ASSERT_STRING_EQUAL(small, "(((((((");
  }
  dagr_expr_free(n);
  free(cur);

  /* Over 1 MiB: refused before parsing. */
  s = repeat("x", " ", DAGR_EXPR_MAX_LEN, "");
  if (s) {
    char err[128];
    size_t col = 0;
    n = NULL;
    CU_EXPECT_INT(dagr_expr_parse_ex(s, &n, err, sizeof err, &col), -1);
    CU_EXPECT_STR_CONTAINS(err, "longer than 1048576 bytes");
    CU_EXPECT_INT(col, DAGR_EXPR_MAX_LEN + 1);
  }
  free(s);
  /* Exactly 1 MiB with a valid expression: fine. */
  s = repeat("x", " ", DAGR_EXPR_MAX_LEN - 1, "");
  if (s) dagr_expr_free(parse_ok(s));
  free(s);
}

static void test_print_truncation(void) {
  dagr_expr_node *n = parse_ok("a + b");
  if (!n) return;
  char buf[4] = "zzz";
  CU_EXPECT_INT(dagr_expr_print(n, buf, sizeof buf), 7);
  CU_ASSERT_STRING_EQUAL(buf, "(a ");
  CU_EXPECT_INT(dagr_expr_print(n, NULL, 0), 7);
  CU_EXPECT_INT(dagr_expr_print(n, buf, 1), 7);
  CU_ASSERT_STRING_EQUAL(buf, "");
  CU_EXPECT_INT(dagr_expr_print(NULL, buf, sizeof buf), -1);
  CU_EXPECT_INT(dagr_expr_print(n, NULL, 5), -1);
  dagr_expr_free(n);
}

/* The canonical form parses back to itself. */
static void test_print_roundtrip(void) {
  static const char *const exprs[] = {
      "-x**2 + 2**-1 * y.T[0:10, ::-2].sum(axis=(0,), ) @ z",
      "where(a <= b, minimum(a, 3.25e-7), maximum(b, inf)) != nan",
      "var(x[-1], axis=(-1, 0), ddof=2) / std(x, 1) - argmax(x.transpose(), axis=-2)",
      "+a - -b * (c / d) ** e ** -f",
  };
  for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
    char b1[512], b2[512];
    dagr_expr_node *a = parse_ok(exprs[i]);
    if (!a) continue;
    dagr_expr_print(a, b1, sizeof b1);
    dagr_expr_node *b = parse_ok(b1);
    if (b) {
      dagr_expr_print(b, b2, sizeof b2);
      CU_ASSERT_STRING_EQUAL(b1, b2);
    }
    dagr_expr_free(a);
    dagr_expr_free(b);
  }
}

/* All three spellings of a transpose give a TRANSPOSE node. */
static void test_transpose_spellings(void) {
  static const char *const forms[] = {"x.T", "x.transpose()", "transpose(x)", "(x).T"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    dagr_expr_node *n = parse_ok(forms[i]);
    if (!n) continue;
    CU_EXPECT_INT(n->kind, DAGR_EXPR_TRANSPOSE);
    CU_EXPECT_INT(n->nargs, 1);
    CU_EXPECT_INT(n->args[0]->kind, DAGR_EXPR_NAME);
    CU_EXPECT_INT(n->column, 1);
    CU_EXPECT_INT(n->end_column, strlen(forms[i]) + 1);
    dagr_expr_free(n);
  }
  EXPECT_PRINT("2.5 .T", "transpose(2.5)"); /* a scalar's .T is the evaluator's business */
}

/* Function names are only functions when called; otherwise they are operand names. */
static void test_names_vs_functions(void) {
  EXPECT_PRINT("sum + mean * T", "(sum + (mean * T))");
  EXPECT_PRINT("where(where, sqrt, T)", "where(where, sqrt, T)");
  EXPECT_PRINT("axis + ddof", "(axis + ddof)");
  EXPECT_ERROR("inf(x)", 1, "unknown function 'inf'");
  EXPECT_ERROR("x(1)", 1, "unknown function 'x'");
  EXPECT_ERROR("sum(x, axis=0)(1)", 15, "unexpected '('");
}

/* Random token soup: every input parses or fails with a column, without leaks or crashes. */
static void test_token_soup(void) {
  static const char *const toks[] = {"x",  "y", "1",   "2.5",  "-",    "+",    "*",      "/",
                                     "**", "@", "<",   "==",   "(",    ")",    "[",      "]",
                                     ",",  ":", ".",   "T",    "sum(", "axis", "=",      "None",
                                     "1e", "$", "var", "ddof", "sqrt", " ",    "where(", ".mean("};
  enum { NT = sizeof toks / sizeof toks[0] };
  unsigned seed = 12345;
  char buf[256], err[256];
  int ok = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = 0;
    int count = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
    for (int k = 0; k < count; k++) {
      const char *t = toks[((seed = seed * 1103515245u + 12345u) >> 16) % NT];
      size_t tl = strlen(t);
      if (len + tl >= sizeof buf) break;
      memcpy(buf + len, t, tl);
      len += tl;
    }
    buf[len] = '\0';
    dagr_expr_node *n = NULL;
    size_t col = 0;
    if (dagr_expr_parse_ex(buf, &n, err, sizeof err, &col) == 0) {
      char out[1024];
      CU_ASSERT(dagr_expr_print(n, out, sizeof out) > 0);
      dagr_expr_free(n);
      ok++;
    } else {
      CU_ASSERT(strncmp(err, "column ", 7) == 0);
      CU_ASSERT(col >= 1 && col <= len + 1);
      CU_ASSERT_PTR_NULL(n);
    }
  }
  CU_ASSERT(ok > 100);
}

static void test_invalid_args(void) {
  dagr_expr_node *n = NULL;
  char err[64];
  CU_EXPECT_INT(dagr_expr_parse(NULL, &n, err, sizeof err), -1);
  CU_EXPECT_STR_CONTAINS(err, "invalid arguments");
  CU_EXPECT_INT(dagr_expr_parse("x", NULL, err, sizeof err), -1);
  /* No room for the message is fine too. */
  CU_EXPECT_INT(dagr_expr_parse("x +", &n, NULL, 0), -1);
  CU_ASSERT_PTR_NULL(n);
  char tiny[8];
  CU_EXPECT_INT(dagr_expr_parse("x +", &n, tiny, sizeof tiny), -1);
  CU_EXPECT_INT(strlen(tiny), 7);
  dagr_expr_free(NULL);
}

/* Every prefix of a valid expression either parses or fails cleanly (no leaks, no crash). */
static void test_every_prefix(void) {
  static const char text[] =
      "(x - x.mean(axis=(0, -1))) / std(x[1:-1:2, 3], axis=0, ddof=1) ** -2.5e-3 < where(c, a, 1)";
  char buf[sizeof text], err[256];
  int ok = 0;
  for (size_t k = 0; k < sizeof text; k++) {
    memcpy(buf, text, k);
    buf[k] = '\0';
    dagr_expr_node *n = NULL;
    if (dagr_expr_parse(buf, &n, err, sizeof err) == 0) {
      ok++;
      dagr_expr_free(n);
    } else {
      CU_ASSERT(strncmp(err, "column ", 7) == 0);
      CU_ASSERT_PTR_NULL(n);
    }
  }
  CU_ASSERT(ok >= 3);
}

int main(void) {
  static const cu_test_def tests[] = {
      {"literals", test_literals},
      {"precedence and associativity", test_precedence},
      {"power and unary minus", test_power_and_unary},
      {"elementwise functions", test_functions},
      {"reductions", test_reductions},
      {"method and function forms agree", test_method_function_equivalence},
      {"postfix chaining", test_chaining},
      {"slicing forms", test_slicing},
      {"slicing errors", test_slicing_errors},
      {"axis and ddof forms and errors", test_axis_forms},
      {"function and method errors", test_function_errors},
      {"syntax errors", test_syntax_errors},
      {"number ranges", test_number_ranges},
      {"node columns", test_columns},
      {"names listing", test_names},
      {"many distinct names", test_many_names},
      {"deep nesting refused", test_deep_nesting},
      {"1 MiB inputs", test_huge_input},
      {"print truncation", test_print_truncation},
      {"print round trip", test_print_roundtrip},
      {"transpose spellings", test_transpose_spellings},
      {"names versus functions", test_names_vs_functions},
      {"random token soup", test_token_soup},
      {"invalid arguments", test_invalid_args},
      {"every prefix parses or fails cleanly", test_every_prefix},
      {NULL, NULL},
  };
  return cu_run_suite("expr", tests);
}
