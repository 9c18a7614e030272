/* expr.c: recursive-descent parser, printer and name lister for `dagr eval` expressions. */
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

/* ------------------------------------------------------------------ tokens */

typedef enum {
  T_END,
  T_INT,
  T_FLOAT,
  T_NAME,
  T_PLUS,
  T_MINUS,
  T_STAR,
  T_SLASH,
  T_POW,
  T_AT,
  T_LT,
  T_LE,
  T_GT,
  T_GE,
  T_EQ,
  T_NE,
  T_ASSIGN,
  T_LPAREN,
  T_RPAREN,
  T_LBRACK,
  T_RBRACK,
  T_COMMA,
  T_DOT,
  T_COLON,
  T_ERR
} tok_type;

typedef struct {
  tok_type type;
  size_t pos, len; /* 0-based offset and length in the text */
} token;

typedef struct {
  const char *text;
  size_t n;
  token tok; /* the current token */
  int nest;  /* active parse_unary frames: the source nesting depth */
  int failed;
  char *err;
  size_t errlen;
  size_t errcol;
} parser;

static void fail(parser *p, size_t col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void fail(parser *p, size_t col, const char *fmt, ...) {
  if (p->failed) return;
  p->failed = 1;
  p->errcol = col;
  if (!p->err || p->errlen == 0) return;
  int k = snprintf(p->err, p->errlen, "column %zu: ", col);
  if (k < 0 || (size_t)k >= p->errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
  va_end(ap);
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}
static int is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static int is_ident(char c) {
  return is_ident_start(c) || is_digit(c);
}
static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Lexes the token at or after POS into *T.  On a lexical error T->type is T_ERR, and the error is
 * recorded if REPORT is set (peeks do not report: the token is reported once it is current). */
static void lex(parser *p, size_t pos, token *t, int report) {
  const char *s = p->text;
  while (pos < p->n && is_space(s[pos])) pos++;
  t->pos = pos;
  t->len = 1;
  if (pos >= p->n) {
    t->type = T_END;
    t->len = 0;
    return;
  }
  char c = s[pos], d = pos + 1 < p->n ? s[pos + 1] : '\0';
  size_t col = pos + 1;
  if (is_digit(c) || (c == '.' && is_digit(d))) {
    size_t i = pos;
    int is_float = 0;
    while (i < p->n && is_digit(s[i])) i++;
    if (i < p->n && s[i] == '.') {
      is_float = 1;
      i++;
      while (i < p->n && is_digit(s[i])) i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
      size_t j = i + 1;
      if (j < p->n && (s[j] == '+' || s[j] == '-')) j++;
      if (j < p->n && is_digit(s[j])) {
        while (j < p->n && is_digit(s[j])) j++;
        i = j;
        is_float = 1;
      }
    }
    if (i < p->n && is_ident(s[i])) {
      while (i < p->n && (is_ident(s[i]) || s[i] == '.')) i++;
      t->type = T_ERR;
      if (report)
        fail(p, col, "invalid number '%.*s'", (int)(i - pos > 40 ? 40 : i - pos), s + pos);
      return;
    }
    t->type = is_float ? T_FLOAT : T_INT;
    t->len = i - pos;
    return;
  }
  if (is_ident_start(c)) {
    size_t i = pos;
    while (i < p->n && is_ident(s[i])) i++;
    t->type = T_NAME;
    t->len = i - pos;
    return;
  }
  switch (c) {
  case '+':
    t->type = T_PLUS;
    return;
  case '-':
    t->type = T_MINUS;
    return;
  case '@':
    t->type = T_AT;
    return;
  case '(':
    t->type = T_LPAREN;
    return;
  case ')':
    t->type = T_RPAREN;
    return;
  case '[':
    t->type = T_LBRACK;
    return;
  case ']':
    t->type = T_RBRACK;
    return;
  case ',':
    t->type = T_COMMA;
    return;
  case '.':
    t->type = T_DOT;
    return;
  case ':':
    t->type = T_COLON;
    return;
  case '*':
    t->type = d == '*' ? T_POW : T_STAR;
    t->len = d == '*' ? 2 : 1;
    return;
  case '/':
    if (d == '/') break;
    t->type = T_SLASH;
    return;
  case '<':
  case '>':
    t->type = c == '<' ? (d == '=' ? T_LE : T_LT) : (d == '=' ? T_GE : T_GT);
    t->len = d == '=' ? 2 : 1;
    return;
  case '=':
    t->type = d == '=' ? T_EQ : T_ASSIGN;
    t->len = d == '=' ? 2 : 1;
    return;
  case '!':
    if (d != '=') break;
    t->type = T_NE;
    t->len = 2;
    return;
  default:
    break;
  }
  t->type = T_ERR;
  if (!report) return;
  if (c == '/')
    fail(p, col, "'//' (floor division) is not supported");
  else if (c == '%')
    fail(p, col, "'%%' (remainder) is not supported");
  else if (c == '&' || c == '|' || c == '~' || c == '^')
    fail(p, col, "'%c' is not supported (no bitwise or logical operators)", c);
  else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
    fail(p, col, "unexpected byte 0x%02x", (unsigned)(unsigned char)c);
  else
    fail(p, col, "unexpected character '%c'", c);
}

static void advance(parser *p) {
  lex(p, p->tok.pos + p->tok.len, &p->tok, 1);
}

static tok_type peek_type(parser *p) {
  token t;
  lex(p, p->tok.pos + p->tok.len, &t, 0);
  return t.type;
}

static size_t tcol(const parser *p) {
  return p->tok.pos + 1;
}

static int tok_is(const parser *p, const char *word) {
  size_t k = strlen(word);
  return p->tok.type == T_NAME && p->tok.len == k && memcmp(p->text + p->tok.pos, word, k) == 0;
}

/* A short description of the current token for messages: "name 'x'", "')'", ... */
static const char *describe(const parser *p, char *buf, size_t len) {
  const token *t = &p->tok;
  int k = t->len > 32 ? 32 : (int)t->len;
  const char *more = t->len > 32 ? "..." : "";
  const char *s = p->text + t->pos;
  switch (t->type) {
  case T_END:
    return "end of expression";
  case T_INT:
  case T_FLOAT:
    snprintf(buf, len, "number '%.*s%s'", k, s, more);
    break;
  case T_NAME:
    snprintf(buf, len, "name '%.*s%s'", k, s, more);
    break;
  default:
    snprintf(buf, len, "'%.*s'", k, s);
    break;
  }
  return buf;
}

/* "WHAT, found <the current token>" at COL, unless the token is a lexical error (already reported).
 */
static void fail_found(parser *p, size_t col, const char *what) {
  if (p->tok.type != T_ERR) {
    char b[64];
    fail(p, col, "%s, found %s", what, describe(p, b, sizeof b));
  }
}

/* ------------------------------------------------------------------ nodes */

void dagr_expr_free(dagr_expr_node *node) {
  if (!node) return;
  for (int i = 0; i < node->nargs; i++) dagr_expr_free(node->args[i]);
  if (node->kind == DAGR_EXPR_NAME) free(node->u.name);
  if (node->kind == DAGR_EXPR_REDUCE) free(node->u.reduce);
  if (node->kind == DAGR_EXPR_INDEX) free(node->u.index);
  free(node);
}

/* A node over NARGS children (consumed even on failure), spanning the children's text at least.
 * Fails when it would make the tree deeper than DAGR_EXPR_MAX_DEPTH. */
static dagr_expr_node *mk(parser *p, dagr_expr_kind kind, size_t col, size_t opcol, size_t end,
                          int nargs, dagr_expr_node *a0, dagr_expr_node *a1, dagr_expr_node *a2) {
  dagr_expr_node *kids[3] = {a0, a1, a2};
  int depth = 1;
  for (int i = 0; i < nargs; i++)
    if (kids[i]->depth + 1 > depth) depth = kids[i]->depth + 1;
  dagr_expr_node *n = NULL;
  if (depth > DAGR_EXPR_MAX_DEPTH)
    fail(p, opcol, "expression is nested too deeply (more than %d levels)", DAGR_EXPR_MAX_DEPTH);
  else if (!(n = calloc(1, sizeof *n)))
    fail(p, opcol, "out of memory");
  if (!n) {
    for (int i = 0; i < nargs; i++) dagr_expr_free(kids[i]);
    return NULL;
  }
  n->kind = kind;
  n->nargs = nargs;
  n->depth = depth;
  n->column = col;
  n->op_column = opcol;
  n->end_column = end;
  for (int i = 0; i < nargs; i++) {
    n->args[i] = kids[i];
    if (kids[i]->column < n->column) n->column = kids[i]->column;
    if (kids[i]->end_column > n->end_column) n->end_column = kids[i]->end_column;
  }
  return n;
}

static dagr_expr_node *mk_binary(parser *p, dagr_expr_binop op, size_t opcol, dagr_expr_node *l,
                                 dagr_expr_node *r) {
  dagr_expr_node *n = mk(p, DAGR_EXPR_BINARY, l->column, opcol, r->end_column, 2, l, r, NULL);
  if (n) n->u.binop = op;
  return n;
}

/* ------------------------------------------------------------------ literals */

/* The value of the integer token T (negated if NEG), or -1 with an error if out of range. */
static int int_value(parser *p, const token *t, int neg, int64_t *out) {
  uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
  for (size_t i = 0; i < t->len; i++) {
    unsigned d = (unsigned)(p->text[t->pos + i] - '0');
    if (v > (lim - d) / 10) {
      int k = t->len > 40 ? 40 : (int)t->len;
      fail(p, t->pos + 1, "integer literal '%s%.*s%s' is out of range (64-bit)", neg ? "-" : "", k,
           p->text + t->pos, t->len > 40 ? "..." : "");
      return -1;
    }
    v = v * 10 + d;
  }
  *out = neg ? (v == lim ? INT64_MIN : -(int64_t)v) : (int64_t)v;
  return 0;
}

static int float_value(parser *p, const token *t, double *out) {
  char *buf = malloc(t->len + 1);
  if (!buf) {
    fail(p, t->pos + 1, "out of memory");
    return -1;
  }
  memcpy(buf, p->text + t->pos, t->len);
  buf[t->len] = '\0';
  /* strtod follows the C locale's decimal point; the expression syntax always uses '.'. */
  const struct lconv *lc = localeconv();
  char dp = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point[0] : '.';
  char *dot = strchr(buf, '.');
  if (dot) *dot = dp;
  char *end = NULL;
  double v = strtod(buf, &end);
  int bad = end != buf + t->len || isinf(v);
  free(buf);
  if (bad) {
    int k = t->len > 40 ? 40 : (int)t->len;
    fail(p, t->pos + 1, "float literal '%.*s%s' is out of range", k, p->text + t->pos,
         t->len > 40 ? "..." : "");
    return -1;
  }
  *out = v;
  return 0;
}

/* An integer literal with an optional sign, as in axis=, ddof= and subscripts.  WHAT starts the
 * message when something else is found ("axis must be an integer literal"). */
static int parse_int_lit(parser *p, const char *what, int64_t *out) {
  int neg = 0;
  if (p->tok.type == T_MINUS || p->tok.type == T_PLUS) {
    neg = p->tok.type == T_MINUS;
    advance(p);
  }
  if (p->tok.type != T_INT) {
    fail_found(p, tcol(p), what);
    return -1;
  }
  if (int_value(p, &p->tok, neg, out) != 0) return -1;
  advance(p);
  return p->failed ? -1 : 0;
}

/* ------------------------------------------------------------------ grammar */

static dagr_expr_node *parse_comparison(parser *p);
static dagr_expr_node *parse_unary(parser *p);

/* "expected ')' to close '(' at column 3, found ..." for an unclosed bracket. */
static void fail_close(parser *p, char close, char open, size_t opencol, int list) {
  char b[64];
  if (p->tok.type == T_ERR) return;
  if (list && p->tok.type != T_END)
    fail(p, tcol(p), "expected ',' or '%c' to close '%c' at column %zu, found %s", close, open,
         opencol, describe(p, b, sizeof b));
  else
    fail(p, tcol(p), "expected '%c' to close '%c' at column %zu, found %s", close, open, opencol,
         describe(p, b, sizeof b));
}

/* The source text of NODE for messages, or "..." if it is long. */
static const char *snippet(const parser *p, const dagr_expr_node *node, char *buf, size_t len) {
  size_t k = node->end_column - node->column;
  if (k > 40) return "...";
  snprintf(buf, len, "%.*s", (int)k, p->text + node->column - 1);
  return buf;
}

static const struct {
  const char *name;
  dagr_expr_func func;
  int nargs;
} k_funcs[] = {
    {"sqrt", DAGR_EXPR_FN_SQRT, 1},       {"exp", DAGR_EXPR_FN_EXP, 1},
    {"log", DAGR_EXPR_FN_LOG, 1},         {"abs", DAGR_EXPR_FN_ABS, 1},
    {"sin", DAGR_EXPR_FN_SIN, 1},         {"cos", DAGR_EXPR_FN_COS, 1},
    {"tanh", DAGR_EXPR_FN_TANH, 1},       {"where", DAGR_EXPR_FN_WHERE, 3},
    {"minimum", DAGR_EXPR_FN_MINIMUM, 2}, {"maximum", DAGR_EXPR_FN_MAXIMUM, 2},
};

static const char *const k_reduces[] = {"sum", "mean",   "min",    "max", "prod", "var",
                                        "std", "argmin", "argmax", "any", "all"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int find_func(const parser *p) {
  for (size_t i = 0; i < NELEM(k_funcs); i++)
    if (tok_is(p, k_funcs[i].name)) return (int)i;
  return -1;
}

static int find_reduce(const parser *p) {
  for (size_t i = 0; i < NELEM(k_reduces); i++)
    if (tok_is(p, k_reduces[i])) return (int)i;
  return -1;
}

const char *dagr_expr_func_name(dagr_expr_func f) {
  for (size_t i = 0; i < NELEM(k_funcs); i++)
    if (k_funcs[i].func == f) return k_funcs[i].name;
  return "?";
}

const char *dagr_expr_reduce_name(dagr_expr_reduce_op op) {
  return (unsigned)op < NELEM(k_reduces) ? k_reduces[op] : "?";
}

const char *dagr_expr_binop_symbol(dagr_expr_binop op) {
  static const char *const sym[] = {"+", "-",  "*", "/",  "**", "@",
                                    "<", "<=", ">", ">=", "==", "!="};
  return (unsigned)op < NELEM(sym) ? sym[op] : "?";
}

/* Positional arguments of an elementwise function: exactly NWANT expressions, no keywords.  The
 * current token is the '('; on success *END is the column after the ')'. */
static int parse_plain_args(parser *p, const char *fname, int nwant, dagr_expr_node **args,
                            size_t *end) {
  size_t opencol = tcol(p), extra_col = 0;
  int n = 0;
  advance(p);
  while (!p->failed && p->tok.type != T_RPAREN) {
    if (p->tok.type == T_NAME && peek_type(p) == T_ASSIGN) {
      fail(p, tcol(p), "%s() got an unexpected keyword '%.*s'", fname,
           (int)(p->tok.len > 40 ? 40 : p->tok.len), p->text + p->tok.pos);
      break;
    }
    size_t acol = tcol(p);
    dagr_expr_node *e = parse_comparison(p);
    if (!e) break;
    if (n < nwant)
      args[n] = e;
    else {
      dagr_expr_free(e);
      if (!extra_col) extra_col = acol;
    }
    n++;
    if (p->tok.type == T_COMMA)
      advance(p);
    else if (p->tok.type != T_RPAREN)
      fail_close(p, ')', '(', opencol, 1);
  }
  if (!p->failed && n != nwant)
    fail(p, n > nwant ? extra_col : tcol(p), "%s() takes exactly %d argument%s (%d given)", fname,
         nwant, nwant == 1 ? "" : "s", n);
  if (p->failed) {
    for (int i = 0; i < n && i < nwant; i++) dagr_expr_free(args[i]);
    return -1;
  }
  *end = tcol(p) + 1;
  advance(p);
  return p->failed ? -1 : 0;
}

/* The value of an axis argument: an integer, a tuple of integers, or None. */
static int parse_axis(parser *p, dagr_expr_reduce *r, const char *fname) {
  static const char what[] = "axis must be an integer, a tuple of integers or None";
  size_t col = tcol(p);
  if (tok_is(p, "None")) {
    advance(p);
    r->all_axes = 1;
    r->naxes = 0;
    r->axis_tuple = 0;
    return p->failed ? -1 : 0;
  }
  int64_t v[DAGR_EXPR_MAX_AXES];
  int n = 0, tuple = 0;
  if (p->tok.type == T_LPAREN) {
    advance(p);
    if (p->tok.type == T_RPAREN) {
      fail(p, col, "axis=() (reducing over no axes) is not supported");
      return -1;
    }
    for (;;) {
      if (n == DAGR_EXPR_MAX_AXES) {
        fail(p, tcol(p), "too many axes (at most %d)", DAGR_EXPR_MAX_AXES);
        return -1;
      }
      if (parse_int_lit(p, "axis tuple items must be integer literals", &v[n]) != 0) return -1;
      n++;
      if (p->tok.type == T_COMMA) {
        tuple = 1;
        advance(p);
        if (p->tok.type == T_RPAREN) break;
      } else if (p->tok.type == T_RPAREN) {
        break;
      } else {
        fail_close(p, ')', '(', col, 1);
        return -1;
      }
    }
    advance(p);
  } else if (p->tok.type == T_INT || p->tok.type == T_MINUS || p->tok.type == T_PLUS) {
    if (parse_int_lit(p, what, &v[0]) != 0) return -1;
    n = 1;
  } else {
    fail_found(p, col, what);
    return -1;
  }
  if (tuple && (r->op == DAGR_EXPR_RED_ARGMIN || r->op == DAGR_EXPR_RED_ARGMAX)) {
    fail(p, col, "%s takes one axis, not a tuple", fname);
    return -1;
  }
  r->all_axes = 0;
  r->naxes = n;
  r->axis_tuple = tuple;
  memcpy(r->axes, v, (size_t)n * sizeof v[0]);
  return p->failed ? -1 : 0;
}

/* Arguments of a reduction; the current token is the '('.  RECV is the receiver of a method call
 * (consumed) or NULL for the function form, whose first positional argument is the array. */
static dagr_expr_node *parse_reduce(parser *p, int ri, dagr_expr_node *recv, size_t namecol) {
  const char *fname = k_reduces[ri];
  size_t opencol = tcol(p);
  dagr_expr_node *arr = recv;
  int npos = recv ? 1 : 0, have_axis = 0, seen_kw = 0;
  dagr_expr_reduce *r = calloc(1, sizeof *r);
  if (!r) {
    fail(p, namecol, "out of memory");
    dagr_expr_free(recv);
    return NULL;
  }
  r->op = (dagr_expr_reduce_op)ri;
  r->all_axes = 1;
  int ddof_ok = r->op == DAGR_EXPR_RED_VAR || r->op == DAGR_EXPR_RED_STD;
  advance(p);
  while (!p->failed && p->tok.type != T_RPAREN) {
    size_t acol = tcol(p);
    if (p->tok.type == T_NAME && peek_type(p) == T_ASSIGN) {
      int is_axis = tok_is(p, "axis"), is_ddof = ddof_ok && tok_is(p, "ddof");
      if (!is_axis && !is_ddof) {
        fail(p, acol, "%s() got an unexpected keyword '%.*s'", fname,
             (int)(p->tok.len > 40 ? 40 : p->tok.len), p->text + p->tok.pos);
        break;
      }
      if ((is_axis && have_axis) || (is_ddof && r->has_ddof)) {
        fail(p, acol, "%s() got multiple values for argument '%s'", fname,
             is_axis ? "axis" : "ddof");
        break;
      }
      advance(p);
      advance(p);
      if (is_axis) {
        if (parse_axis(p, r, fname) != 0) break;
        have_axis = 1;
      } else {
        if (parse_int_lit(p, "ddof must be an integer literal", &r->ddof) != 0) break;
        r->has_ddof = 1;
      }
      seen_kw = 1;
    } else {
      if (seen_kw) {
        fail(p, acol, "positional argument follows keyword argument");
        break;
      }
      if (npos == 0) {
        if (!(arr = parse_comparison(p))) break;
      } else if (npos == 1) {
        if (parse_axis(p, r, fname) != 0) break;
        have_axis = 1;
      } else {
        if (recv)
          fail(p, acol, "%s() method takes at most 1 positional argument (the axis)", fname);
        else
          fail(p, acol, "%s() takes at most 2 positional arguments (the array and the axis)",
               fname);
        break;
      }
      npos++;
    }
    if (p->tok.type == T_COMMA)
      advance(p);
    else if (p->tok.type != T_RPAREN)
      fail_close(p, ')', '(', opencol, 1);
  }
  if (!p->failed && !arr) fail(p, tcol(p), "%s() is missing its array argument", fname);
  if (p->failed) {
    dagr_expr_free(arr);
    free(r);
    return NULL;
  }
  size_t end = tcol(p) + 1;
  advance(p);
  dagr_expr_node *n =
      mk(p, DAGR_EXPR_REDUCE, recv ? recv->column : namecol, namecol, end, 1, arr, NULL, NULL);
  if (!n) {
    free(r);
    return NULL;
  }
  n->u.reduce = r;
  return n;
}

/* A function call; the current token is the function's name, followed by '('. */
static dagr_expr_node *parse_call(parser *p) {
  size_t namecol = tcol(p);
  int fi = find_func(p), ri = find_reduce(p);
  if (fi >= 0) {
    dagr_expr_node *args[3] = {NULL, NULL, NULL};
    size_t end;
    advance(p);
    if (parse_plain_args(p, k_funcs[fi].name, k_funcs[fi].nargs, args, &end) != 0) return NULL;
    dagr_expr_node *n =
        mk(p, DAGR_EXPR_CALL, namecol, namecol, end, k_funcs[fi].nargs, args[0], args[1], args[2]);
    if (n) n->u.func = k_funcs[fi].func;
    return n;
  }
  if (tok_is(p, "transpose")) {
    dagr_expr_node *arg = NULL;
    size_t end;
    advance(p);
    if (parse_plain_args(p, "transpose", 1, &arg, &end) != 0) return NULL;
    return mk(p, DAGR_EXPR_TRANSPOSE, namecol, namecol, end, 1, arg, NULL, NULL);
  }
  if (ri >= 0) {
    advance(p);
    return parse_reduce(p, ri, NULL, namecol);
  }
  fail(p, namecol, "unknown function '%.*s'", (int)(p->tok.len > 40 ? 40 : p->tok.len),
       p->text + p->tok.pos);
  return NULL;
}

static dagr_expr_node *parse_primary(parser *p) {
  char b[64];
  size_t col = tcol(p);
  dagr_expr_node *n;
  switch (p->tok.type) {
  case T_INT: {
    int64_t v;
    if (int_value(p, &p->tok, 0, &v) != 0) return NULL;
    if (!(n = mk(p, DAGR_EXPR_NUM_INT, col, col, col + p->tok.len, 0, NULL, NULL, NULL)))
      return NULL;
    n->u.ival = v;
    advance(p);
    return n;
  }
  case T_FLOAT: {
    double v;
    if (float_value(p, &p->tok, &v) != 0) return NULL;
    if (!(n = mk(p, DAGR_EXPR_NUM_FLOAT, col, col, col + p->tok.len, 0, NULL, NULL, NULL)))
      return NULL;
    n->u.fval = v;
    advance(p);
    return n;
  }
  case T_NAME:
    if (peek_type(p) == T_LPAREN) return parse_call(p);
    if (tok_is(p, "None")) {
      fail(p, col, "None is only allowed as axis=None");
      return NULL;
    }
    if (!(n = mk(p, DAGR_EXPR_NAME, col, col, col + p->tok.len, 0, NULL, NULL, NULL))) return NULL;
    if (tok_is(p, "inf") || tok_is(p, "nan")) {
      n->kind = DAGR_EXPR_NUM_FLOAT;
      n->u.fval = tok_is(p, "inf") ? HUGE_VAL : NAN;
    } else if (!(n->u.name = malloc(p->tok.len + 1))) {
      fail(p, col, "out of memory");
      free(n);
      return NULL;
    } else {
      memcpy(n->u.name, p->text + p->tok.pos, p->tok.len);
      n->u.name[p->tok.len] = '\0';
    }
    advance(p);
    return n;
  case T_LPAREN:
    advance(p);
    if (p->tok.type == T_RPAREN) {
      fail(p, tcol(p), "expected an expression inside '(' at column %zu, found ')'", col);
      return NULL;
    }
    if (!(n = parse_comparison(p))) return NULL;
    if (p->tok.type != T_RPAREN) {
      fail_close(p, ')', '(', col, 0);
      dagr_expr_free(n);
      return NULL;
    }
    n->column = col;
    n->end_column = tcol(p) + 1;
    advance(p);
    return n;
  case T_ERR:
    return NULL;
  case T_RPAREN:
    fail(p, col, "expected an expression, found ')'");
    return NULL;
  default:
    fail(p, col, "expected an expression, found %s", describe(p, b, sizeof b));
    return NULL;
  }
}

/* `.T` or `.method(...)` after RECV (consumed); the current token is the '.'. */
static dagr_expr_node *parse_attr(parser *p, dagr_expr_node *recv) {
  char rb[48];
  advance(p);
  if (p->tok.type != T_NAME) {
    fail_found(p, tcol(p), "expected an attribute name after '.'");
    dagr_expr_free(recv);
    return NULL;
  }
  size_t namecol = tcol(p), nlen = p->tok.len;
  int ri = find_reduce(p), call = peek_type(p) == T_LPAREN;
  const char *rs = snippet(p, recv, rb, sizeof rb);
  int nl = (int)(nlen > 40 ? 40 : nlen);
  const char *name = p->text + p->tok.pos;
  if (tok_is(p, "T") && !call) {
    advance(p);
    return mk(p, DAGR_EXPR_TRANSPOSE, recv->column, namecol, namecol + 1, 1, recv, NULL, NULL);
  }
  if ((tok_is(p, "transpose") || ri >= 0) && call) {
    advance(p);
    if (ri >= 0) return parse_reduce(p, ri, recv, namecol);
    size_t opencol = tcol(p);
    advance(p);
    if (p->tok.type != T_RPAREN) {
      if (p->tok.type == T_END)
        fail_close(p, ')', '(', opencol, 0);
      else if (p->tok.type != T_ERR)
        fail(p, tcol(p), "transpose() method takes no arguments (axis orders are not supported)");
      dagr_expr_free(recv);
      return NULL;
    }
    size_t end = tcol(p) + 1;
    advance(p);
    return mk(p, DAGR_EXPR_TRANSPOSE, recv->column, namecol, end, 1, recv, NULL, NULL);
  }
  if (tok_is(p, "T"))
    fail(p, namecol, "'%s.T' is an attribute and cannot be called", rs);
  else if (tok_is(p, "transpose") || ri >= 0)
    fail(p, namecol, "'%s.%.*s' is a method; call it as '%s.%.*s()'", rs, nl, name, rs, nl, name);
  else if (find_func(p) >= 0)
    fail(p, namecol, "'%s.%.*s' is not a supported method; call the function '%.*s(%s)'", rs, nl,
         name, nl, name, rs);
  else if (call)
    fail(p, namecol, "'%s.%.*s' is not a supported method", rs, nl, name);
  else
    fail(p, namecol, "'%s.%.*s' is not a supported attribute", rs, nl, name);
  dagr_expr_free(recv);
  return NULL;
}

/* One integer literal of a subscript, or 1 when the current token cannot start one.  A slice
 * BOUND may only be followed by ':', ',' or ']' when it is omitted. */
static int sub_int(parser *p, int64_t *v, int bound) {
  static const char what[] = "slice bounds and indices must be integer literals";
  tok_type t = p->tok.type;
  if (t == T_INT || t == T_MINUS || t == T_PLUS) return parse_int_lit(p, what, v) ? -1 : 0;
  if (bound && t != T_COLON && t != T_COMMA && t != T_RBRACK && t != T_END && t != T_ERR) {
    char b[64];
    fail(p, tcol(p), "%s (computed bounds are not supported), found %s", what,
         describe(p, b, sizeof b));
    return -1;
  }
  return 1;
}

/* `[items]` after BASE (consumed); the current token is the '['. */
static dagr_expr_node *parse_subscript(parser *p, dagr_expr_node *base) {
  char b[64];
  size_t opencol = tcol(p);
  dagr_expr_index *ix = calloc(1, sizeof *ix);
  if (!ix) {
    fail(p, opencol, "out of memory");
    dagr_expr_free(base);
    return NULL;
  }
  advance(p);
  if (p->tok.type == T_RBRACK) fail(p, tcol(p), "empty subscript '[]'");
  while (!p->failed && p->tok.type != T_RBRACK) {
    if (ix->nitems == DAGR_EXPR_MAX_AXES) {
      fail(p, tcol(p), "too many subscript items (at most %d)", DAGR_EXPR_MAX_AXES);
      break;
    }
    dagr_expr_index_item *it = &ix->items[ix->nitems];
    it->column = tcol(p);
    int rc = sub_int(p, &it->start, 0);
    if (rc < 0) break;
    if (rc > 0 && p->tok.type != T_COLON) {
      if (p->tok.type == T_DOT)
        fail(p, tcol(p), "'...' (Ellipsis) is not supported in subscripts");
      else if (tok_is(p, "None"))
        fail(p, tcol(p), "None (newaxis) is not supported in subscripts");
      else if (p->tok.type == T_END)
        fail_close(p, ']', '[', opencol, 0);
      else if (p->tok.type != T_ERR)
        fail(p, tcol(p),
             "subscripts must be integer literals or slices of them (computed and array indices "
             "are not supported), found %s",
             describe(p, b, sizeof b));
      break;
    }
    if (p->tok.type == T_COLON) {
      it->is_slice = 1;
      it->has_start = rc == 0;
      advance(p);
      if ((rc = sub_int(p, &it->stop, 1)) < 0) break;
      it->has_stop = rc == 0;
      if (p->tok.type == T_COLON) {
        advance(p);
        size_t stepcol = tcol(p);
        if ((rc = sub_int(p, &it->step, 1)) < 0) break;
        it->has_step = rc == 0;
        if (it->has_step && it->step == 0) {
          fail(p, stepcol, "slice step cannot be zero");
          break;
        }
      }
    } else {
      it->index = it->start;
      it->start = 0;
    }
    ix->nitems++;
    if (p->tok.type == T_COMMA) {
      advance(p);
    } else if (p->tok.type != T_RBRACK) {
      if (p->tok.type == T_END || p->tok.type == T_ERR)
        fail_close(p, ']', '[', opencol, 0);
      else
        fail(p, tcol(p), "expected ',' or ']' to close '[' at column %zu, found %s", opencol,
             describe(p, b, sizeof b));
    }
  }
  if (p->failed) {
    free(ix);
    dagr_expr_free(base);
    return NULL;
  }
  size_t end = tcol(p) + 1;
  advance(p);
  dagr_expr_node *n = mk(p, DAGR_EXPR_INDEX, base->column, opencol, end, 1, base, NULL, NULL);
  if (!n) {
    free(ix);
    return NULL;
  }
  n->u.index = ix;
  return n;
}

static dagr_expr_node *parse_postfix(parser *p) {
  dagr_expr_node *e = parse_primary(p);
  while (e && !p->failed) {
    if (p->tok.type == T_DOT)
      e = parse_attr(p, e);
    else if (p->tok.type == T_LBRACK)
      e = parse_subscript(p, e);
    else
      break;
  }
  if (e && p->failed) {
    dagr_expr_free(e);
    e = NULL;
  }
  return e;
}

/* power: postfix ['**' unary]  (right-associative; the exponent may carry a sign) */
static dagr_expr_node *parse_power(parser *p) {
  dagr_expr_node *base = parse_postfix(p);
  if (!base || p->tok.type != T_POW) return base;
  size_t opcol = tcol(p);
  advance(p);
  dagr_expr_node *ex = parse_unary(p);
  if (!ex) {
    dagr_expr_free(base);
    return NULL;
  }
  return mk_binary(p, DAGR_EXPR_POW, opcol, base, ex);
}

/* unary: ('-' | '+') unary | power */
static dagr_expr_node *parse_unary(parser *p) {
  dagr_expr_node *n;
  if (++p->nest > DAGR_EXPR_MAX_DEPTH) {
    fail(p, tcol(p), "expression is nested too deeply (more than %d levels)", DAGR_EXPR_MAX_DEPTH);
    n = NULL;
  } else if (p->tok.type == T_MINUS || p->tok.type == T_PLUS) {
    size_t col = tcol(p);
    dagr_expr_unop op = p->tok.type == T_MINUS ? DAGR_EXPR_NEG : DAGR_EXPR_POS;
    advance(p);
    dagr_expr_node *e = parse_unary(p);
    n = e ? mk(p, DAGR_EXPR_UNARY, col, col, e->end_column, 1, e, NULL, NULL) : NULL;
    if (n) n->u.unop = op;
  } else {
    n = parse_power(p);
  }
  p->nest--;
  return n;
}

/* multiplicative: unary (('*' | '/' | '@') unary)* */
static dagr_expr_node *parse_mult(parser *p) {
  dagr_expr_node *l = parse_unary(p);
  while (l) {
    dagr_expr_binop op;
    if (p->tok.type == T_STAR)
      op = DAGR_EXPR_MUL;
    else if (p->tok.type == T_SLASH)
      op = DAGR_EXPR_DIV;
    else if (p->tok.type == T_AT)
      op = DAGR_EXPR_MATMUL;
    else
      break;
    size_t opcol = tcol(p);
    advance(p);
    dagr_expr_node *r = parse_unary(p);
    if (!r) {
      dagr_expr_free(l);
      return NULL;
    }
    l = mk_binary(p, op, opcol, l, r);
  }
  return l;
}

/* additive: multiplicative (('+' | '-') multiplicative)* */
static dagr_expr_node *parse_additive(parser *p) {
  dagr_expr_node *l = parse_mult(p);
  while (l && (p->tok.type == T_PLUS || p->tok.type == T_MINUS)) {
    dagr_expr_binop op = p->tok.type == T_PLUS ? DAGR_EXPR_ADD : DAGR_EXPR_SUB;
    size_t opcol = tcol(p);
    advance(p);
    dagr_expr_node *r = parse_mult(p);
    if (!r) {
      dagr_expr_free(l);
      return NULL;
    }
    l = mk_binary(p, op, opcol, l, r);
  }
  return l;
}

static int comparison_op(tok_type t, dagr_expr_binop *op) {
  switch (t) {
  case T_LT:
    *op = DAGR_EXPR_LT;
    return 1;
  case T_LE:
    *op = DAGR_EXPR_LE;
    return 1;
  case T_GT:
    *op = DAGR_EXPR_GT;
    return 1;
  case T_GE:
    *op = DAGR_EXPR_GE;
    return 1;
  case T_EQ:
    *op = DAGR_EXPR_EQ;
    return 1;
  case T_NE:
    *op = DAGR_EXPR_NE;
    return 1;
  default:
    return 0;
  }
}

/* comparison: additive [cmp additive]  (non-associative) */
static dagr_expr_node *parse_comparison(parser *p) {
  dagr_expr_node *l = parse_additive(p);
  dagr_expr_binop op;
  if (!l || !comparison_op(p->tok.type, &op)) return l;
  size_t opcol = tcol(p);
  advance(p);
  dagr_expr_node *r = parse_additive(p);
  if (!r) {
    dagr_expr_free(l);
    return NULL;
  }
  dagr_expr_node *n = mk_binary(p, op, opcol, l, r);
  dagr_expr_binop op2;
  if (n && comparison_op(p->tok.type, &op2)) {
    fail(p, tcol(p),
         "comparisons cannot be chained: 'a %s b %s c' is not supported for arrays; add "
         "parentheses",
         dagr_expr_binop_symbol(op), dagr_expr_binop_symbol(op2));
    dagr_expr_free(n);
    return NULL;
  }
  return n;
}

int dagr_expr_parse_ex(const char *text, dagr_expr_node **out, char *err, size_t errlen,
                       size_t *err_column) {
  parser p;
  memset(&p, 0, sizeof p);
  p.err = err;
  p.errlen = errlen;
  if (err && errlen) err[0] = '\0';
  if (out) *out = NULL;
  if (!text || !out) {
    if (err && errlen) snprintf(err, errlen, "column 1: invalid arguments");
    if (err_column) *err_column = 1;
    return -1;
  }
  size_t n = 0;
  while (n <= DAGR_EXPR_MAX_LEN && text[n]) n++;
  p.text = text;
  p.n = n;
  dagr_expr_node *root = NULL;
  if (n > DAGR_EXPR_MAX_LEN) {
    fail(&p, (size_t)DAGR_EXPR_MAX_LEN + 1, "expression is longer than %d bytes (1 MiB)",
         DAGR_EXPR_MAX_LEN);
  } else {
    lex(&p, 0, &p.tok, 1);
    if (p.tok.type == T_END) {
      fail(&p, 1, "empty expression");
    } else if (!p.failed) {
      root = parse_comparison(&p);
      if (root && p.tok.type != T_END) {
        char b[64];
        if (p.tok.type == T_RPAREN)
          fail(&p, tcol(&p), "unmatched ')'");
        else if (p.tok.type == T_ASSIGN)
          fail(&p, tcol(&p), "unexpected '='; did you mean '=='?");
        else if (p.tok.type != T_ERR)
          fail(&p, tcol(&p), "unexpected %s after a complete expression",
               describe(&p, b, sizeof b));
      }
    }
  }
  if (p.failed) {
    dagr_expr_free(root);
    if (err_column) *err_column = p.errcol;
    return -1;
  }
  *out = root;
  return 0;
}

int dagr_expr_parse(const char *text, dagr_expr_node **out, char *err, size_t errlen) {
  return dagr_expr_parse_ex(text, out, err, errlen, NULL);
}

/* ------------------------------------------------------------------ printing */

typedef struct {
  char *buf;
  size_t cap, n; /* n counts every byte of the full form, written or not */
} wbuf;

static void put(wbuf *w, const char *s, size_t k) {
  if (w->n < w->cap) {
    size_t room = w->cap - w->n;
    memcpy(w->buf + w->n, s, k < room ? k : room);
  }
  w->n += k;
}

static void puts_(wbuf *w, const char *s) {
  put(w, s, strlen(s));
}

static void put_int(wbuf *w, int64_t v) {
  char b[32];
  int k = snprintf(b, sizeof b, "%" PRId64, v);
  put(w, b, (size_t)k);
}

/* The shortest %g form that reads back as V, with '.' as the decimal point and a ".0" on
 * integral values so it still reads as a float. */
static void put_double(wbuf *w, double v) {
  char b[48];
  if (isnan(v)) {
    puts_(w, "nan");
    return;
  }
  if (isinf(v)) {
    puts_(w, v < 0 ? "-inf" : "inf");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(b, sizeof b, "%.*g", prec, v);
    if (strtod(b, NULL) == v) break;
  }
  const struct lconv *lc = localeconv();
  char dp = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point[0] : '.';
  char *q = strchr(b, dp);
  if (q) *q = '.';
  if (!strpbrk(b, ".e")) strcat(b, ".0");
  puts_(w, b);
}

static void print_node(wbuf *w, const dagr_expr_node *n) {
  switch (n->kind) {
  case DAGR_EXPR_NUM_INT:
    put_int(w, n->u.ival);
    break;
  case DAGR_EXPR_NUM_FLOAT:
    put_double(w, n->u.fval);
    break;
  case DAGR_EXPR_NAME:
    puts_(w, n->u.name);
    break;
  case DAGR_EXPR_UNARY:
    puts_(w, n->u.unop == DAGR_EXPR_NEG ? "(-" : "(+");
    print_node(w, n->args[0]);
    puts_(w, ")");
    break;
  case DAGR_EXPR_BINARY:
    puts_(w, "(");
    print_node(w, n->args[0]);
    puts_(w, " ");
    puts_(w, dagr_expr_binop_symbol(n->u.binop));
    puts_(w, " ");
    print_node(w, n->args[1]);
    puts_(w, ")");
    break;
  case DAGR_EXPR_CALL:
    puts_(w, dagr_expr_func_name(n->u.func));
    puts_(w, "(");
    for (int i = 0; i < n->nargs; i++) {
      if (i) puts_(w, ", ");
      print_node(w, n->args[i]);
    }
    puts_(w, ")");
    break;
  case DAGR_EXPR_REDUCE: {
    const dagr_expr_reduce *r = n->u.reduce;
    puts_(w, dagr_expr_reduce_name(r->op));
    puts_(w, "(");
    print_node(w, n->args[0]);
    if (!r->all_axes) {
      puts_(w, ", axis=");
      if (r->axis_tuple) puts_(w, "(");
      for (int i = 0; i < r->naxes; i++) {
        if (i) puts_(w, ", ");
        put_int(w, r->axes[i]);
      }
      if (r->axis_tuple) puts_(w, r->naxes == 1 ? ",)" : ")");
    }
    if (r->has_ddof) {
      puts_(w, ", ddof=");
      put_int(w, r->ddof);
    }
    puts_(w, ")");
    break;
  }
  case DAGR_EXPR_TRANSPOSE:
    puts_(w, "transpose(");
    print_node(w, n->args[0]);
    puts_(w, ")");
    break;
  case DAGR_EXPR_INDEX: {
    const dagr_expr_index *ix = n->u.index;
    print_node(w, n->args[0]);
    puts_(w, "[");
    for (int i = 0; i < ix->nitems; i++) {
      const dagr_expr_index_item *it = &ix->items[i];
      if (i) puts_(w, ", ");
      if (!it->is_slice) {
        put_int(w, it->index);
        continue;
      }
      if (it->has_start) put_int(w, it->start);
      puts_(w, ":");
      if (it->has_stop) put_int(w, it->stop);
      if (it->has_step) {
        puts_(w, ":");
        put_int(w, it->step);
      }
    }
    puts_(w, "]");
    break;
  }
  }
}

int dagr_expr_print(const dagr_expr_node *node, char *buf, size_t len) {
  if (!node || (!buf && len)) return -1;
  wbuf w = {buf, len ? len - 1 : 0, 0};
  print_node(&w, node);
  if (len) buf[w.n < w.cap ? w.n : w.cap] = '\0';
  return w.n > INT_MAX ? -1 : (int)w.n;
}

/* ------------------------------------------------------------------ names */

static size_t count_names(const dagr_expr_node *n) {
  size_t c = n->kind == DAGR_EXPR_NAME;
  for (int i = 0; i < n->nargs; i++) c += count_names(n->args[i]);
  return c;
}

typedef struct {
  const dagr_expr_node **slots; /* open addressing, power-of-two size */
  size_t mask;
  size_t distinct;
  const dagr_expr_node **out;
  size_t max;
} name_set;

static void collect_names(name_set *s, const dagr_expr_node *n) {
  if (n->kind == DAGR_EXPR_NAME) {
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *c = (const unsigned char *)n->u.name; *c; c++)
      h = (h ^ *c) * 1099511628211ULL;
    size_t i = (size_t)h & s->mask;
    while (s->slots[i] && strcmp(s->slots[i]->u.name, n->u.name) != 0) i = (i + 1) & s->mask;
    if (!s->slots[i]) {
      s->slots[i] = n;
      if (s->distinct < s->max) s->out[s->distinct] = n;
      s->distinct++;
    }
  }
  for (int i = 0; i < n->nargs; i++) collect_names(s, n->args[i]);
}

int dagr_expr_names(const dagr_expr_node *root, const dagr_expr_node **out, size_t max) {
  if (!root) return 0;
  if (!out) max = 0;
  size_t total = count_names(root), size = 16;
  while (size < 2 * total) size *= 2;
  name_set s = {calloc(size, sizeof *s.slots), size - 1, 0, out, max};
  if (!s.slots) return -1;
  collect_names(&s, root);
  free(s.slots);
  return s.distinct > INT_MAX ? -1 : (int)s.distinct;
}
