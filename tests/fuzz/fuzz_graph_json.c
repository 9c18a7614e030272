/* fuzz_graph_json.c: libFuzzer harness for the JSON graph-file loader and the planner behind it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph/params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The built-in kernels: a graph naming any other kernel fails planning with
 * DAGR_EUNKNOWN_KERNEL, so both the success and the error path of the planner are reached. */
static int lookup(const char *name, void *arg) {
  static const char *const known[] = {"const", "add",      "sub",  "mul", "noop",
                                      "sleep", "checksum", "fill", "fail"};
  (void)arg;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(name, known[i]) == 0) return (int)i;
  return -1;
}

/* Reads every byte the loaded graph holds, so that a length or offset the loader got wrong is a
 * read past an allocation that ASan reports here rather than an unnoticed wrong value. */
static unsigned touch_graph(const dagr_graph_t *g) {
  unsigned sum = 0;
  for (uint32_t id = 0; id < g->nids; id++) {
    const dagr__gtask *t = &g->tasks[id];
    sum += (unsigned)strlen(dagr__graph_key(g, id));
    if (!t->defined) continue;
    sum += (unsigned)strlen(g->knames[t->kname]);
    for (uint32_t i = 0; i < t->ndeps; i++) sum += g->deps[t->dep_off + i];
    if (t->param_len == 0) continue; /* g->params may still be NULL */
    const unsigned char *blob = g->params + t->param_off;
    /* The loader encodes params; kernels later trust them as a worker would after a message. */
    if (dagr__params_validate(blob, t->param_len) != DAGR_OK) abort();
    int type;
    const void *payload;
    size_t plen;
    if (dagr__params_find(blob, t->param_len, "value", &type, &payload, &plen) == DAGR_OK)
      for (size_t i = 0; i < plen; i++) sum += ((const unsigned char *)payload)[i];
  }
  for (size_t i = 0; i < dagr_graph_noutputs(g); i++)
    sum += (unsigned)strlen(dagr_graph_output(g, i));
  return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exactly-sized copy: the loader is given a length, not a NUL-terminated string, so any read
   * of text[len] must hit ASan's redzone. */
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  if (size) memcpy(text, data, size);
  char err[DAGR__ERRLEN];
  dagr_graph_t *g = NULL;
  int rc = dagr_graph_load_json(text, size, &g, err, sizeof err);
  free(text);
  /* The message must always be a terminated string, and a failure must leave no graph. */
  if (strnlen(err, sizeof err) == sizeof err) abort();
  if (rc != DAGR_OK) {
    if (g != NULL || err[0] == '\0') abort();
    return 0;
  }
  volatile unsigned sink = touch_graph(g);
  (void)sink;

  /* What `dagr run` does next: validate, cull and order the graph for its outputs. */
  size_t n = dagr_graph_noutputs(g);
  const char **keys = malloc((n ? n : 1) * sizeof *keys);
  if (keys) {
    for (size_t i = 0; i < n; i++) keys[i] = dagr_graph_output(g, i);
    dagr__plan plan;
    rc = dagr__plan_build(g, keys, n, lookup, NULL, &plan, err, sizeof err);
    if (rc == DAGR_OK) {
      if (plan.n > g->nids || plan.ntargets != n) abort();
      for (uint32_t i = 0; i < plan.n; i++)
        for (uint32_t j = plan.dep_off[i]; j < plan.dep_off[i + 1]; j++)
          if (plan.deps[j] >= plan.n) abort();
      dagr__plan_free(&plan);
    } else if (strnlen(err, sizeof err) == sizeof err) {
      abort();
    }
    free(keys);
  }
  dagr_graph_free(g);
  return 0;
}
