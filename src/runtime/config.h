/* config.h: defaults and DAGR_* environment parsing for dagr_config_t. */
#ifndef DAGR_RUNTIME_CONFIG_H
#define DAGR_RUNTIME_CONFIG_H
#ifndef DAGR_BUILDING
#error "src/runtime/config.h is private to libdagr"
#endif

#include "internal/common.h"

#define DAGR__BATCH_DEFAULT 1024
#define DAGR__MIN_STORE     (16u << 20)

/* DAGR_SPILL (0|1), DAGR_STORE_HIGH and DAGR_STORE_PAUSE (fractions of a store), over the
 * defaults already in the arguments. Errors: DAGR_ECONFIG (named, in the global error). */
int dagr__config_memory(int *spill, double *high, double *pause);

/* Fills unset (zero) fields of cfg from another config. */
void dagr__config_merge(dagr_config_t *cfg, const dagr_config_t *user);

#endif
