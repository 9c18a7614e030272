/* json_load.c: reads the JSON graph-file format (docs/graph-format.md) into a dagr_graph_t. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "graph/graph.h"
#include "runtime/timeout.h"

#define JL_MAX_FILE       ((size_t)1 << 30) /* bytes of a graph file or text */
#define JL_MAX_STR        ((size_t)1 << 20) /* bytes of any key or string */
#define JL_MAX_PARAM_NAME 255               /* bytes of a parameter name (dagr_params_set_*) */
#define JL_MAX_PARAMS     256 /* parameters per task (dagr_params_set_* is linear in the count) */
#define JL_SHOW_BYTES     96  /* most bytes of a key quoted in a message */
#define JL_SHOW_LEN       (JL_SHOW_BYTES * 4 + 8)

/* A growable byte buffer. */
typedef struct jl_buf {
  char *p;
  size_t len, cap;
} jl_buf;

static int jl_buf_reserve(jl_buf *b, size_t extra) {
  if (extra > SIZE_MAX / 2 - b->len) return DAGR_ENOMEM;
  size_t need = b->len + extra;
  if (need <= b->cap) return DAGR_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return DAGR_ENOMEM;
  b->p = p;
  b->cap = cap;
  return DAGR_OK;
}

static int jl_buf_put(jl_buf *b, const void *data, size_t n) {
  if (jl_buf_reserve(b, n) != DAGR_OK) return DAGR_ENOMEM;
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  return DAGR_OK;
}

static int jl_buf_putc(jl_buf *b, char c) {
  return jl_buf_put(b, &c, 1);
}

/* Writes s (n bytes) into out in single quotes for an error message (as graph.c and plan.c name
 * keys), control characters escaped as \xNN, cut after JL_SHOW_BYTES bytes (at a UTF-8
 * character boundary) with "..." appended. out holds JL_SHOW_LEN bytes. */
static const char *jl_show(const char *s, size_t n, char *out) {
  size_t lim = n, o = 0;
  int cut = 0;
  if (lim > JL_SHOW_BYTES) {
    lim = JL_SHOW_BYTES;
    while (lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80) lim--;
    cut = 1;
  }
  out[o++] = '\'';
  for (size_t i = 0; i < lim; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(out + o, JL_SHOW_LEN - o, "\\x%02x", c);
    else
      out[o++] = (char)c;
  }
  out[o++] = '\'';
  if (cut) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return out;
}

static const char *jl_show_str(const char *s, char *out) {
  return jl_show(s, strlen(s), out);
}

/* State of one load. */
typedef struct jl_ctx {
  char *err;
  size_t errlen;
  dagr_graph_t *g;
  jl_buf keys;      /* tuple keys converted for the current task, NUL-separated */
  size_t *dep_off;  /* per argument: offset into keys + 1, or 0 when dep_ptr is a JSON string */
  const char **dep; /* per argument */
  size_t cap_deps;
  void *nums; /* scratch for numeric array parameters */
  size_t cap_nums;
} jl_ctx;

/* Converts a JSON array key (["sum-abc", 0, 1]) to its Python repr ("('sum-abc', 0, 1)"),
 * appended with a NUL to c->keys. what names the place for messages ("task "x" args entry 2"). */
static int jl_tuple_key(jl_ctx *c, const json_t *arr, const char *what) {
  size_t n = json_array_size(arr), start = c->keys.len;
  if (n == 0)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "%s: a tuple key must not be empty", what);
  int rc = jl_buf_putc(&c->keys, '(');
  for (size_t i = 0; i < n && rc == DAGR_OK; i++) {
    const json_t *e = json_array_get(arr, i);
    if (i > 0) rc = jl_buf_put(&c->keys, ", ", 2);
    if (rc != DAGR_OK) break;
    if (json_is_integer(e)) {
      char num[32];
      int len = snprintf(num, sizeof num, "%lld", (long long)json_integer_value(e));
      rc = jl_buf_put(&c->keys, num, (size_t)len);
    } else if (json_is_string(e)) {
      const char *s = json_string_value(e);
      size_t sl = json_string_length(e);
      if (sl > JL_MAX_STR)
        return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                          "%s: key too long (a tuple element has %zu bytes; the limit is %zu)",
                          what, sl, JL_MAX_STR);
      /* Python's repr: single quotes unless the string holds ' and no ". */
      char q = (memchr(s, '\'', sl) && !memchr(s, '"', sl)) ? '"' : '\'';
      rc = jl_buf_putc(&c->keys, q);
      for (size_t k = 0; k < sl && rc == DAGR_OK; k++) {
        unsigned char ch = (unsigned char)s[k];
        char esc[8];
        if (ch == (unsigned char)q || ch == '\\') {
          esc[0] = '\\';
          esc[1] = (char)ch;
          rc = jl_buf_put(&c->keys, esc, 2);
        } else if (ch == '\n') {
          rc = jl_buf_put(&c->keys, "\\n", 2);
        } else if (ch == '\r') {
          rc = jl_buf_put(&c->keys, "\\r", 2);
        } else if (ch == '\t') {
          rc = jl_buf_put(&c->keys, "\\t", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
          snprintf(esc, sizeof esc, "\\x%02x", ch);
          rc = jl_buf_put(&c->keys, esc, 4);
        } else {
          rc = jl_buf_putc(&c->keys, (char)ch);
        }
      }
      if (rc == DAGR_OK) rc = jl_buf_putc(&c->keys, q);
    } else {
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "%s: tuple key element %zu must be a string or an integer", what, i);
    }
  }
  if (rc == DAGR_OK && n == 1) rc = jl_buf_putc(&c->keys, ',');
  if (rc == DAGR_OK) rc = jl_buf_put(&c->keys, ")", 2); /* with the NUL */
  if (rc != DAGR_OK)
    return dagr__errf(c->err, c->errlen, DAGR_ENOMEM, "%s: out of memory converting a tuple key",
                      what);
  if (c->keys.len - start - 1 > JL_MAX_STR)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "%s: key too long (%zu bytes as a string; the limit is %zu)", what,
                      c->keys.len - start - 1, JL_MAX_STR);
  return DAGR_OK;
}

/* Checks a key given as a JSON string: not empty, not over JL_MAX_STR bytes. */
static int jl_check_key_string(jl_ctx *c, const json_t *s, const char *what) {
  size_t n = json_string_length(s);
  if (n == 0) return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "%s: empty key", what);
  if (n > JL_MAX_STR)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "%s: key too long (%zu bytes; the limit is %zu)", what, n, JL_MAX_STR);
  return DAGR_OK;
}

/* Resolves a key written as a string or a tuple array into *key (valid until c->keys is reset
 * or grows: callers resolve offsets after all conversions of a task). Sets *off to the offset
 * + 1 of a converted key in c->keys, or 0 when *key is the JSON string itself. */
static int jl_key(jl_ctx *c, const json_t *v, const char *what, const char **key, size_t *off) {
  if (json_is_string(v)) {
    int rc = jl_check_key_string(c, v, what);
    if (rc != DAGR_OK) return rc;
    *key = json_string_value(v);
    *off = 0;
    return DAGR_OK;
  }
  if (json_is_array(v)) {
    size_t start = c->keys.len;
    int rc = jl_tuple_key(c, v, what);
    if (rc != DAGR_OK) return rc;
    *key = NULL;
    *off = start + 1;
    return DAGR_OK;
  }
  return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                    "%s: must be a key string or a tuple key array, not %s", what,
                    json_is_object(v)    ? "an object"
                    : json_is_number(v)  ? "a number"
                    : json_is_boolean(v) ? "a boolean"
                                         : "null");
}

static int jl_reserve_deps(jl_ctx *c, size_t n) {
  if (n <= c->cap_deps) return DAGR_OK;
  size_t cap = c->cap_deps ? c->cap_deps : 16;
  while (cap < n) cap *= 2;
  size_t *off = realloc(c->dep_off, cap * sizeof *off);
  if (!off) return DAGR_ENOMEM;
  c->dep_off = off;
  const char **dep = realloc(c->dep, cap * sizeof *dep);
  if (!dep) return DAGR_ENOMEM;
  c->dep = dep;
  c->cap_deps = cap;
  return DAGR_OK;
}

static int jl_reserve_nums(jl_ctx *c, size_t n) {
  if (n <= c->cap_nums) return DAGR_OK;
  size_t cap = c->cap_nums ? c->cap_nums : 16;
  while (cap < n) cap *= 2;
  void *p = realloc(c->nums, cap * 8);
  if (!p) return DAGR_ENOMEM;
  c->nums = p;
  c->cap_nums = cap;
  return DAGR_OK;
}

static const char *jl_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a real number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "an unknown JSON value";
}

/* Adds one parameter of task tkey (shown form) to p. */
static int jl_param(jl_ctx *c, dagr_params_t *p, const char *tkey, const char *name,
                    const json_t *v) {
  char sn[JL_SHOW_LEN];
  size_t nlen = strlen(name);
  if (nlen == 0)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "task %s: empty parameter name", tkey);
  if (nlen > JL_MAX_PARAM_NAME)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "task %s: parameter name %s too long (%zu bytes; the limit is %d)", tkey,
                      jl_show(name, nlen, sn), nlen, JL_MAX_PARAM_NAME);
  int rc;
  switch (json_typeof(v)) {
  case JSON_INTEGER:
    rc = dagr_params_set_int(p, name, (int64_t)json_integer_value(v));
    break;
  case JSON_REAL:
    rc = dagr_params_set_double(p, name, json_real_value(v));
    break;
  case JSON_TRUE:
    rc = dagr_params_set_int(p, name, 1);
    break;
  case JSON_FALSE:
    rc = dagr_params_set_int(p, name, 0);
    break;
  case JSON_STRING:
    if (json_string_length(v) > JL_MAX_STR)
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "task %s: parameter %s: string too long (%zu bytes; the limit is %zu)",
                        tkey, jl_show(name, nlen, sn), json_string_length(v), JL_MAX_STR);
    rc = dagr_params_set_string(p, name, json_string_value(v));
    break;
  case JSON_ARRAY: {
    size_t n = json_array_size(v);
    int any_real = 0;
    for (size_t i = 0; i < n; i++) {
      const json_t *e = json_array_get(v, i);
      if (json_is_real(e)) {
        any_real = 1;
      } else if (!json_is_integer(e)) {
        return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                          "task %s: parameter %s: array element %zu is %s (arrays must hold only "
                          "numbers)",
                          tkey, jl_show(name, nlen, sn), i, jl_type_name(e));
      }
    }
    if (jl_reserve_nums(c, n) != DAGR_OK) {
      rc = DAGR_ENOMEM;
      break;
    }
    if (any_real) {
      double *d = c->nums;
      for (size_t i = 0; i < n; i++) d[i] = json_number_value(json_array_get(v, i));
      rc = dagr_params_set_double_array(p, name, d, n);
    } else {
      int64_t *d = c->nums;
      for (size_t i = 0; i < n; i++) d[i] = (int64_t)json_integer_value(json_array_get(v, i));
      rc = dagr_params_set_int_array(p, name, d, n);
    }
    break;
  }
  default:
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "task %s: parameter %s is %s (expected a number, string, boolean or array "
                      "of numbers)",
                      tkey, jl_show(name, nlen, sn), jl_type_name(v));
  }
  if (rc != DAGR_OK) {
    if (rc == DAGR_EINVAL) rc = DAGR_EPARSE;
    return dagr__errf(c->err, c->errlen, rc, "task %s: cannot set parameter %s: %s", tkey,
                      jl_show(name, nlen, sn), dagr_strerror(rc));
  }
  return DAGR_OK;
}

/* Reads an int annotation of task tkey into *out, within [lo, INT_MAX]. */
static int jl_int_field(jl_ctx *c, const char *tkey, const char *field, const json_t *v,
                        long long lo, int *out) {
  if (!json_is_integer(v))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "task %s: \"%s\" must be an integer, not %s",
                      tkey, field, jl_type_name(v));
  long long x = (long long)json_integer_value(v);
  if (x < lo || x > INT_MAX) {
    if (lo == 0 && x < 0)
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "task %s: \"%s\" must not be negative (got %lld)", tkey, field, x);
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "task %s: \"%s\" is out of range (got %lld; allowed %lld to %d)", tkey, field,
                      x, lo, INT_MAX);
  }
  *out = (int)x;
  return DAGR_OK;
}

/* Reads the "timeout_s" annotation of task tkey: a number of seconds, 0 (none) to
 * DAGR__TIMEOUT_MAX_S. */
static int jl_timeout_field(jl_ctx *c, const char *tkey, const json_t *v, double *out) {
  if (!json_is_number(v))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "task %s: \"timeout_s\" must be a number of seconds, not %s", tkey,
                      jl_type_name(v));
  double x = json_number_value(v);
  if (!dagr__timeout_valid(x))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "task %s: \"timeout_s\" is out of range (got %g; allowed 0, meaning no "
                      "limit, to %.0f)",
                      tkey, x, DAGR__TIMEOUT_MAX_S);
  *out = x;
  return DAGR_OK;
}

/* Adds the task key -> obj to the graph. */
static int jl_task(jl_ctx *c, const char *key, const json_t *obj) {
  char sk[JL_SHOW_LEN], sf[JL_SHOW_LEN], what[JL_SHOW_LEN + 64];
  size_t klen = strlen(key);
  if (klen == 0) return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "\"graph\": empty task key");
  if (klen > JL_MAX_STR)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "\"graph\": key too long (%zu bytes; the limit is %zu): task %s", klen,
                      JL_MAX_STR, jl_show(key, klen, sk));
  const char *tk = jl_show(key, klen, sk);
  if (!json_is_object(obj))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "task %s must be an object, not %s", tk,
                      jl_type_name(obj));

  const json_t *kernel = NULL, *args = NULL, *params = NULL;
  dagr_task_opts_t opts;
  dagr_task_opts_init(&opts);
  const char *field;
  const json_t *v;
  int rc;
  json_object_foreach((json_t *)obj, field, v) {
    if (!strcmp(field, "kernel")) {
      kernel = v;
    } else if (!strcmp(field, "args")) {
      args = v;
    } else if (!strcmp(field, "params")) {
      params = v;
    } else if (!strcmp(field, "retries")) {
      if ((rc = jl_int_field(c, tk, "retries", v, 0, &opts.retries)) != DAGR_OK) return rc;
    } else if (!strcmp(field, "priority")) {
      if ((rc = jl_int_field(c, tk, "priority", v, INT_MIN, &opts.priority)) != DAGR_OK) return rc;
    } else if (!strcmp(field, "worker")) {
      if ((rc = jl_int_field(c, tk, "worker", v, -1, &opts.worker)) != DAGR_OK) return rc;
    } else if (!strcmp(field, "timeout_s")) {
      if ((rc = jl_timeout_field(c, tk, v, &opts.timeout_s)) != DAGR_OK) return rc;
    } else {
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "task %s: unknown field %s (allowed: kernel, args, params, retries, "
                        "priority, worker, timeout_s)",
                        tk, jl_show_str(field, sf));
    }
  }
  if (!kernel) return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "task %s: missing \"kernel\"", tk);
  if (!json_is_string(kernel))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "task %s: \"kernel\" must be a string, not %s", tk, jl_type_name(kernel));
  if (json_string_length(kernel) == 0)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "task %s: \"kernel\" is empty", tk);
  if (json_string_length(kernel) > JL_MAX_STR)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "task %s: \"kernel\" name too long", tk);

  /* Dependencies. */
  size_t ndeps = 0;
  c->keys.len = 0;
  if (args) {
    if (!json_is_array(args))
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "task %s: \"args\" must be an array of keys, not %s", tk,
                        jl_type_name(args));
    ndeps = json_array_size(args);
    if (jl_reserve_deps(c, ndeps) != DAGR_OK)
      return dagr__errf(c->err, c->errlen, DAGR_ENOMEM, "task %s: out of memory", tk);
    for (size_t i = 0; i < ndeps; i++) {
      snprintf(what, sizeof what, "task %s: \"args\" entry %zu", tk, i);
      rc = jl_key(c, json_array_get(args, i), what, &c->dep[i], &c->dep_off[i]);
      if (rc != DAGR_OK) return rc;
    }
    for (size_t i = 0; i < ndeps; i++)
      if (c->dep_off[i]) c->dep[i] = c->keys.p + c->dep_off[i] - 1;
  }

  /* Parameters. */
  dagr_params_t *p = NULL;
  if (params) {
    if (!json_is_object(params))
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "task %s: \"params\" must be an object, not %s", tk, jl_type_name(params));
    if (json_object_size(params) > JL_MAX_PARAMS)
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "task %s: too many parameters (%zu; the limit is %d)", tk,
                        json_object_size(params), JL_MAX_PARAMS);
    if (json_object_size(params) > 0) {
      if (dagr_params_create(&p) != DAGR_OK)
        return dagr__errf(c->err, c->errlen, DAGR_ENOMEM, "task %s: out of memory", tk);
      const char *name;
      json_object_foreach((json_t *)params, name, v) {
        rc = jl_param(c, p, tk, name, v);
        if (rc != DAGR_OK) {
          dagr_params_free(p);
          return rc;
        }
      }
    }
  }

  rc = dagr_graph_add(c->g, key, json_string_value(kernel), p, ndeps ? c->dep : NULL, ndeps, &opts);
  dagr_params_free(p);
  if (rc != DAGR_OK) {
    const char *gm = dagr_graph_error(c->g);
    if (rc == DAGR_EDUPKEY && gm && *gm) return dagr__errf(c->err, c->errlen, rc, "%s", gm);
    if (rc == DAGR_EINVAL) rc = DAGR_EPARSE;
    return dagr__errf(c->err, c->errlen, rc, "task %s: cannot add the task: %s", tk,
                      dagr_strerror(rc));
  }
  return DAGR_OK;
}

static int jl_outputs(jl_ctx *c, const json_t *outs) {
  char sk[JL_SHOW_LEN], what[64];
  size_t n = json_array_size(outs);
  for (size_t i = 0; i < n; i++) {
    const char *key;
    size_t off = 0;
    c->keys.len = 0;
    snprintf(what, sizeof what, "\"outputs\" entry %zu", i);
    int rc = jl_key(c, json_array_get(outs, i), what, &key, &off);
    if (rc != DAGR_OK) return rc;
    if (off) key = c->keys.p + off - 1;
    rc = dagr__graph_add_output(c->g, key);
    if (rc != DAGR_OK) {
      if (rc == DAGR_EINVAL) rc = DAGR_EPARSE;
      return dagr__errf(c->err, c->errlen, rc, "\"outputs\": cannot add key %s: %s",
                        jl_show_str(key, sk), dagr_strerror(rc));
    }
  }
  /* Each output must be listed once (the results are reported as one JSON object). */
  unsigned char *seen = calloc(c->g->nids ? c->g->nids : 1, 1);
  if (!seen) return dagr__errf(c->err, c->errlen, DAGR_ENOMEM, "\"outputs\": out of memory");
  for (size_t j = 0; j < c->g->noutputs; j++) {
    uint32_t id = c->g->outputs[j];
    if (id < c->g->nids && seen[id]) {
      free(seen);
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "\"outputs\": key %s is listed twice",
                        jl_show_str(dagr__graph_key(c->g, id), sk));
    }
    if (id < c->g->nids) seen[id] = 1;
  }
  free(seen);
  return DAGR_OK;
}

/* Builds the graph from a parsed document. */
static int jl_document(jl_ctx *c, const json_t *root) {
  char sf[JL_SHOW_LEN];
  if (!json_is_object(root))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "the top level must be an object with \"graph\" and \"outputs\", not %s",
                      jl_type_name(root));
  const json_t *graph = NULL, *outs = NULL, *v;
  const char *field;
  json_object_foreach((json_t *)root, field, v) {
    if (!strcmp(field, "graph"))
      graph = v;
    else if (!strcmp(field, "outputs"))
      outs = v;
    else
      return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                        "unknown top-level field %s (allowed: graph, outputs)",
                        jl_show_str(field, sf));
  }
  if (!graph) return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "missing \"graph\" object");
  if (!json_is_object(graph))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "\"graph\" must be an object mapping keys to tasks, not %s",
                      jl_type_name(graph));
  if (!outs) return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "missing \"outputs\" array");
  if (!json_is_array(outs))
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE,
                      "\"outputs\" must be an array of keys, not %s", jl_type_name(outs));
  if (json_array_size(outs) == 0)
    return dagr__errf(c->err, c->errlen, DAGR_EPARSE, "\"outputs\" must not be empty");

  const char *key;
  json_object_foreach((json_t *)graph, key, v) {
    int rc = jl_task(c, key, v);
    if (rc != DAGR_OK) return rc;
  }
  return jl_outputs(c, outs);
}

/* Names the duplicated key of a JSON_REJECT_DUPLICATES failure: jansson stops right after the
 * key's closing quote, at byte offset pos. Writes the shown key to out or returns NULL. */
static const char *jl_dup_key(const char *text, size_t len, size_t pos, char *out) {
  if (pos < 2 || pos > len || text[pos - 1] != '"') return NULL;
  size_t i = pos - 1; /* closing quote */
  while (i > 0) {
    i--;
    if (text[i] != '"') continue;
    size_t bs = 0;
    while (bs < i && text[i - 1 - bs] == '\\') bs++;
    if (bs % 2 == 0) break;
  }
  if (text[i] != '"' || i == pos - 1) return NULL;
  /* Decode the token by parsing it as a one-element array. */
  size_t tlen = pos - i;
  char *wrap = malloc(tlen + 2);
  if (!wrap) return NULL;
  wrap[0] = '[';
  memcpy(wrap + 1, text + i, tlen);
  wrap[tlen + 1] = ']';
  json_error_t e;
  json_t *a = json_loadb(wrap, tlen + 2, 0, &e);
  free(wrap);
  const char *r = NULL;
  if (a && json_is_string(json_array_get(a, 0))) {
    const json_t *s = json_array_get(a, 0);
    r = jl_show(json_string_value(s), json_string_length(s), out);
  }
  json_decref(a);
  return r;
}

int dagr_graph_load_json(const char *text, size_t len, dagr_graph_t **graph, char *errbuf,
                         size_t errlen) {
  if (graph) *graph = NULL;
  if (errbuf && errlen) errbuf[0] = '\0';
  if (!graph || (!text && len > 0))
    return dagr__errf(errbuf, errlen, DAGR_EINVAL, "dagr_graph_load_json: %s is NULL",
                      graph ? "text" : "graph");
  if (len > JL_MAX_FILE)
    return dagr__errf(errbuf, errlen, DAGR_EPARSE,
                      "graph text too large (%zu bytes; the limit is %zu)", len, JL_MAX_FILE);
  if (len == 0) return dagr__errf(errbuf, errlen, DAGR_EPARSE, "empty input: no JSON document");

  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    int dup = strstr(je.text, "duplicate object key") != NULL;
#if JANSSON_VERSION_HEX >= 0x020b00
    dup = dup || json_error_code(&je) == json_error_duplicate_key;
#endif
    if (dup) {
      char sk[JL_SHOW_LEN];
      const char *k = je.position >= 0 ? jl_dup_key(text, len, (size_t)je.position, sk) : NULL;
      if (k)
        return dagr__errf(errbuf, errlen, DAGR_EDUPKEY, "duplicate key %s at line %d, column %d", k,
                          je.line, je.column);
      return dagr__errf(errbuf, errlen, DAGR_EDUPKEY, "duplicate key at line %d, column %d: %s",
                        je.line, je.column, je.text);
    }
    return dagr__errf(errbuf, errlen, DAGR_EPARSE, "invalid JSON at line %d, column %d: %s",
                      je.line, je.column, je.text);
  }

  jl_ctx c;
  memset(&c, 0, sizeof c);
  c.err = errbuf;
  c.errlen = errlen;
  int rc = dagr_graph_create(&c.g);
  if (rc != DAGR_OK) {
    rc = dagr__errf(errbuf, errlen, rc, "cannot create a graph: %s", dagr_strerror(rc));
  } else {
    rc = jl_document(&c, root);
  }
  json_decref(root);
  free(c.keys.p);
  free(c.dep_off);
  free(c.dep);
  free(c.nums);
  if (rc != DAGR_OK) {
    dagr_graph_free(c.g);
    return rc;
  }
  *graph = c.g;
  return DAGR_OK;
}

int dagr_graph_load_file(const char *path, dagr_graph_t **graph, char *errbuf, size_t errlen) {
  if (graph) *graph = NULL;
  if (errbuf && errlen) errbuf[0] = '\0';
  if (!path || !graph)
    return dagr__errf(errbuf, errlen, DAGR_EINVAL, "dagr_graph_load_file: %s is NULL",
                      path ? "graph" : "path");
  FILE *f = fopen(path, "rb");
  if (!f)
    return dagr__errf(errbuf, errlen, DAGR_EIO, "cannot open graph file %s: %s", path,
                      strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    int e = errno;
    fclose(f);
    return dagr__errf(errbuf, errlen, DAGR_EIO, "cannot stat graph file %s: %s", path, strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    fclose(f);
    return dagr__errf(errbuf, errlen, DAGR_EIO, "cannot read graph file %s: %s", path,
                      strerror(EISDIR));
  }
  if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > (uint64_t)JL_MAX_FILE) {
    fclose(f);
    return dagr__errf(errbuf, errlen, DAGR_EPARSE,
                      "graph file %s is too large (%lld bytes; the limit is %zu)", path,
                      (long long)st.st_size, JL_MAX_FILE);
  }
  /* Read the whole file (also pipes and other files without a size), at most JL_MAX_FILE. */
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return dagr__errf(errbuf, errlen, DAGR_ENOMEM, "cannot read graph file %s: out of memory",
                      path);
  }
  for (;;) {
    if (len == cap) {
      if (cap > JL_MAX_FILE) break;
      size_t ncap = cap * 2 > JL_MAX_FILE + 1 ? JL_MAX_FILE + 1 : cap * 2;
      char *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        fclose(f);
        return dagr__errf(errbuf, errlen, DAGR_ENOMEM, "cannot read graph file %s: out of memory",
                          path);
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    int e = errno;
    free(buf);
    fclose(f);
    return dagr__errf(errbuf, errlen, DAGR_EIO, "cannot read graph file %s: %s", path,
                      strerror(e ? e : EIO));
  }
  fclose(f);
  if (len > JL_MAX_FILE) {
    free(buf);
    return dagr__errf(errbuf, errlen, DAGR_EPARSE, "graph file %s is too large (over %zu bytes)",
                      path, JL_MAX_FILE);
  }
  char msg[DAGR__ERRLEN];
  int rc = dagr_graph_load_json(buf, len, graph, msg, sizeof msg);
  free(buf);
  if (rc != DAGR_OK) {
    if (len == 0) snprintf(msg, sizeof msg, "the file is empty");
    return dagr__errf(errbuf, errlen, rc, "%s: %s", path, msg);
  }
  return DAGR_OK;
}
