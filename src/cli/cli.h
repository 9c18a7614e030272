/* cli.h: the dagr command's subcommands (public API only: this is a client of libdagr). */
#ifndef DAGR_CLI_H
#define DAGR_CLI_H

#include <stdio.h>

#include "dagr.h"

/* Each returns the process exit status; ctx is initialized on every rank, and only the driver
 * calls these. */
int dagr_cli_run(dagr_ctx_t *ctx, int argc, char **argv);
int dagr_cli_bench(dagr_ctx_t *ctx, int argc, char **argv);
int dagr_cli_demo(dagr_ctx_t *ctx, int argc, char **argv);
int dagr_cli_eval(dagr_ctx_t *ctx, int argc, char **argv);

/* Takes `--trace FILE` / `--report FILE` (or `--trace=FILE`) at argv[*i] (advancing *i past a
 * separate value) and turns the output on: 1 if taken, 0 if argv[*i] is another argument, -1
 * after printing an error (a missing or unusable name). */
int dagr_cli_obs_option(dagr_ctx_t *ctx, const char *cmd, int argc, char **argv, int *i);

/* Writes a JSON string literal (quoted, escaped). */
void dagr_cli_json_string(FILE *out, const char *s);
/* Writes a computed value as JSON: numbers as numbers, uint64 scalars (checksums) as
 * "0x%016x", buffers as {"nbytes": N, "fnv1a64": "0x..."}. */
void dagr_cli_json_value(FILE *out, const dagr_result_t *r);
/* FNV-1a 64 of a buffer. */
uint64_t dagr_cli_fnv1a(const void *data, size_t n);
/* Continues an FNV-1a 64 hash over more bytes. */
uint64_t dagr_cli_fnv1a_update(uint64_t h, const void *data, size_t n);

#endif
