/* run.c: `dagr run GRAPH.json [--trace F] [--report F]`: load, compute the outputs, print them as
 * one JSON object. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int dagr_cli_run(dagr_ctx_t *ctx, int argc, char **argv) {
  const char *path = NULL;
  for (int i = 0; i < argc; i++) {
    int taken = dagr_cli_obs_option(ctx, "run", argc, argv, &i);
    if (taken < 0) return 2;
    if (taken) continue;
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "dagr run: unknown option '%s'\n", argv[i]);
      return 2;
    }
    if (path) {
      fprintf(stderr, "dagr run: more than one graph file given ('%s' and '%s')\n", path, argv[i]);
      return 2;
    }
    path = argv[i];
  }
  if (!path) {
    fprintf(stderr, "usage: dagr run GRAPH.json [--trace FILE.json] [--report FILE.html]\n");
    return 2;
  }
  char err[1024] = "";
  dagr_graph_t *g = NULL;
  int rc = dagr_graph_load_file(path, &g, err, sizeof err);
  if (rc) {
    fprintf(stderr, "dagr run: %s: %s\n", path, err[0] ? err : dagr_strerror(rc));
    return 1;
  }
  size_t n = dagr_graph_noutputs(g);
  const char **keys = calloc(n ? n : 1, sizeof *keys);
  dagr_result_t *res = calloc(n ? n : 1, sizeof *res);
  if (!keys || !res) {
    fprintf(stderr, "dagr run: out of memory\n");
    free(keys);
    free(res);
    dagr_graph_free(g);
    return 1;
  }
  for (size_t i = 0; i < n; i++) keys[i] = dagr_graph_output(g, i);
  rc = dagr_get(ctx, g, keys, n, res);
  int status = 0;
  if (rc) {
    fprintf(stderr, "dagr run: %s: %s\n", path, dagr_last_error(ctx));
    status = 1;
  } else {
    fputc('{', stdout);
    for (size_t i = 0; i < n; i++) {
      if (i) fputs(", ", stdout);
      dagr_cli_json_string(stdout, keys[i]);
      fputs(": ", stdout);
      dagr_cli_json_value(stdout, &res[i]);
      dagr_result_release(&res[i]);
    }
    fputs("}\n", stdout);
    fflush(stdout);
  }
  free(keys);
  free(res);
  dagr_graph_free(g);
  return status;
}
