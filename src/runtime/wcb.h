/* wcb.h: worker callbacks (dagr_worker_callbacks_register): pretask/posttask around kernels on
 * executor threads. */
#ifndef DAGR_RUNTIME_WCB_H
#define DAGR_RUNTIME_WCB_H
#ifndef DAGR_BUILDING
#error "src/runtime/wcb.h is private to libdagr"
#endif

#include "internal/common.h"

#define DAGR__WCB_MAX 16

/* One task's callback arguments, built on the executor thread. */
typedef struct dagr__wcb_task {
  dagr_task_info_t info;
  char key[257]; /* NUL-terminated copy of the key prefix the worker received */
} dagr__wcb_task;

/* Whether any worker callback with pretask or posttask is registered (cheap: one load). */
int dagr__wcb_any(void);
void dagr__wcb_begin(dagr__wcb_task *t, const char *key, uint32_t keylen, int kernel, int rank,
                     int thread);
void dagr__wcb_pretask(dagr__wcb_task *t);
void dagr__wcb_posttask(dagr__wcb_task *t, double seconds, uint64_t nbytes, int status);
/* No more registrations (dagr_init); thaw for a later dagr_init in the same process. */
void dagr__wcb_freeze(void);
void dagr__wcb_thaw(void);
/* The registered callbacks, for rank 0's start/finish calls. */
int dagr__wcb_count(void);
const dagr_callbacks_t *dagr__wcb_get(int i);

#endif
