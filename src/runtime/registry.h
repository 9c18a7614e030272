/* registry.h: the process-wide table of kernels, frozen and sorted by name at dagr_init. */
#ifndef DAGR_RUNTIME_REGISTRY_H
#define DAGR_RUNTIME_REGISTRY_H
#ifndef DAGR_BUILDING
#error "src/runtime/registry.h is private to libdagr"
#endif

#include "internal/common.h"

/* Sorts the table so every rank numbers kernels alike, and refuses later registrations.
 * Registers the built-in kernels first. Errors: DAGR_ENOMEM. */
int dagr__registry_freeze(void);
/* Undoes one successful freeze; registration is allowed again when none is left. */
void dagr__registry_thaw(void);
int dagr__registry_count(void);
/* Id of name, or -1. Usable as a dagr__kernel_lookup_fn. */
int dagr__registry_lookup(const char *name, void *unused);
dagr_kernel_fn dagr__registry_fn(int id);
const char *dagr__registry_name(int id);
/* FNV-1a over the sorted names, to check that all ranks agree. */
uint64_t dagr__registry_hash(void);

/* Registers the built-in kernels (const, add, sub, mul, noop, sleep, fail, fill, checksum). */
int dagr__builtin_register(void);
/* Registers the array collection's kernels (src/array). */
int dagr__array_kernels_register(void);

#endif
