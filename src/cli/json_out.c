/* json_out.c: JSON printing of keys and computed values for `dagr run`. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void dagr_cli_json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", out);
      break;
    case '\\':
      fputs("\\\\", out);
      break;
    case '\n':
      fputs("\\n", out);
      break;
    case '\t':
      fputs("\\t", out);
      break;
    case '\r':
      fputs("\\r", out);
      break;
    default:
      if (*p < 0x20)
        fprintf(out, "\\u%04x", *p);
      else
        fputc(*p, out);
    }
  }
  fputc('"', out);
}

uint64_t dagr_cli_fnv1a(const void *data, size_t n) {
  return dagr_cli_fnv1a_update(0xcbf29ce484222325ull, data, n);
}

uint64_t dagr_cli_fnv1a_update(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static void print_double(FILE *out, double d) {
  if (!isfinite(d)) {
    /* JSON has no NaN or infinity; null keeps the output parseable. */
    fputs("null", out);
    return;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "%.17g", d);
  /* Keep floats recognisable as floats, as Python's json does (2.0, not 2). */
  if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
  fputs(buf, out);
}

void dagr_cli_json_value(FILE *out, const dagr_result_t *r) {
  if (r->ndim == 0 && r->nbytes == 8) {
    if (r->dtype == DAGR_DTYPE_INT64) {
      int64_t v;
      memcpy(&v, r->data, 8);
      fprintf(out, "%" PRId64, v);
      return;
    }
    if (r->dtype == DAGR_DTYPE_FLOAT64) {
      double d;
      memcpy(&d, r->data, 8);
      print_double(out, d);
      return;
    }
    if (r->dtype == DAGR_DTYPE_UINT64) {
      uint64_t v;
      memcpy(&v, r->data, 8);
      fprintf(out, "\"0x%016" PRIx64 "\"", v);
      return;
    }
  }
  fprintf(out, "{\"nbytes\": %zu, \"fnv1a64\": \"0x%016" PRIx64 "\"}", r->nbytes,
          dagr_cli_fnv1a(r->data, r->nbytes));
}
