/* registry.c: kernel registration by name and the frozen, sorted kernel table. */
#include <stdlib.h>
#include <string.h>

#include "runtime/registry.h"

typedef struct kentry {
  char name[64];
  dagr_kernel_fn fn;
} kentry;

static kentry *table;
static int count, cap, frozen;

int dagr_kernel_register(const char *name, dagr_kernel_fn fn) {
  if (!name || !*name || strlen(name) > 63 || !fn) return DAGR_EINVAL;
  if (frozen) return DAGR_ESTATE;
  for (int i = 0; i < count; i++)
    if (strcmp(table[i].name, name) == 0) return table[i].fn == fn ? DAGR_OK : DAGR_EDUPKEY;
  if (count == cap) {
    int ncap = cap ? cap * 2 : 32;
    kentry *t = realloc(table, (size_t)ncap * sizeof *t);
    if (!t) return DAGR_ENOMEM;
    table = t;
    cap = ncap;
  }
  memset(&table[count], 0, sizeof table[count]);
  strcpy(table[count].name, name);
  table[count].fn = fn;
  count++;
  return DAGR_OK;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const kentry *)a)->name, ((const kentry *)b)->name);
}

int dagr__registry_freeze(void) {
  if (frozen) return DAGR_OK;
  int rc = dagr__builtin_register();
  if (rc == DAGR_OK) rc = dagr__array_kernels_register();
  if (rc) return rc;
  qsort(table, (size_t)count, sizeof *table, by_name);
  frozen = 1;
  return DAGR_OK;
}

void dagr__registry_thaw(void) {
  frozen = 0;
}

int dagr__registry_count(void) {
  return count;
}

int dagr__registry_lookup(const char *name, void *unused) {
  (void)unused;
  int lo = 0, hi = count - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2, c = strcmp(table[mid].name, name);
    if (c == 0) return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

dagr_kernel_fn dagr__registry_fn(int id) {
  return id >= 0 && id < count ? table[id].fn : NULL;
}

const char *dagr__registry_name(int id) {
  return id >= 0 && id < count ? table[id].name : "?";
}

uint64_t dagr__registry_hash(void) {
  uint64_t h = DAGR__FNV_INIT;
  for (int i = 0; i < count; i++) h = dagr__fnv1a(h, table[i].name, strlen(table[i].name) + 1);
  return h;
}
