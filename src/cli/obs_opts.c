/* obs_opts.c: the --trace FILE and --report FILE options shared by `dagr run` and `dagr eval`. */
#include <string.h>

#include "cli/cli.h"

int dagr_cli_obs_option(dagr_ctx_t *ctx, const char *cmd, int argc, char **argv, int *i) {
  const char *a = argv[*i], *val = NULL;
  int trace = 0;
  if (!strcmp(a, "--trace") || !strcmp(a, "--report")) {
    trace = a[2] == 't';
    if (*i + 1 >= argc) {
      fprintf(stderr, "dagr %s: %s needs a file name\n", cmd, a);
      return -1;
    }
    val = argv[++*i];
  } else if (!strncmp(a, "--trace=", 8) || !strncmp(a, "--report=", 9)) {
    trace = a[2] == 't';
    val = strchr(a, '=') + 1;
  } else {
    return 0;
  }
  int rc = trace ? dagr_set_trace(ctx, val) : dagr_set_report(ctx, val);
  if (rc) {
    fprintf(stderr, "dagr %s: %s\n", cmd, dagr_last_error(ctx));
    return -1;
  }
  return 1;
}
