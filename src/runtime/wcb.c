/* wcb.c: worker callbacks (dagr_worker_callbacks_register): pretask/posttask around kernels on
 * executor threads. */
#include <string.h>

#include "runtime/registry.h"
#include "runtime/wcb.h"

/* Written only before dagr_init starts any thread; read-only afterwards, so executor threads
 * read it without locks. */
static dagr_callbacks_t table[DAGR__WCB_MAX];
static int count, frozen, any_task;

int dagr_worker_callbacks_register(const dagr_callbacks_t *cb) {
  if (!cb) return DAGR_EINVAL;
  if (frozen) return DAGR_ESTATE;
  if (count == DAGR__WCB_MAX) return DAGR_ENOMEM;
  table[count++] = *cb;
  if (cb->pretask || cb->posttask) any_task = 1;
  return DAGR_OK;
}

int dagr__wcb_any(void) {
  return any_task;
}

void dagr__wcb_begin(dagr__wcb_task *t, const char *key, uint32_t keylen, int kernel, int rank,
                     int thread) {
  size_t n = keylen < sizeof t->key - 1 ? keylen : sizeof t->key - 1;
  if (key && n) memcpy(t->key, key, n);
  t->key[n] = '\0';
  t->info.key = t->key;
  t->info.kernel = dagr__registry_name(kernel);
  t->info.rank = rank;
  t->info.thread = thread;
  t->info.seconds = 0;
  t->info.nbytes = 0;
  t->info.status = DAGR_OK;
}

void dagr__wcb_pretask(dagr__wcb_task *t) {
  for (int i = 0; i < count; i++)
    if (table[i].pretask) table[i].pretask(&t->info, table[i].arg);
}

void dagr__wcb_posttask(dagr__wcb_task *t, double seconds, uint64_t nbytes, int status) {
  t->info.seconds = seconds;
  t->info.nbytes = nbytes;
  t->info.status = status;
  for (int i = 0; i < count; i++)
    if (table[i].posttask) table[i].posttask(&t->info, table[i].arg);
}

void dagr__wcb_freeze(void) {
  frozen = 1;
}

void dagr__wcb_thaw(void) {
  frozen = 0;
}

int dagr__wcb_count(void) {
  return count;
}

const dagr_callbacks_t *dagr__wcb_get(int i) {
  return i >= 0 && i < count ? &table[i] : NULL;
}
