/* spill.h: a worker's spill directory: objects written out of the store and read back. */
#ifndef DAGR_STORE_SPILL_H
#define DAGR_STORE_SPILL_H
#ifndef DAGR_BUILDING
#error "src/store/spill.h is private to libdagr"
#endif

#include "internal/common.h"

/* Files live in DIR/dagr-spill-TOKEN-rankR/ (TOKEN: the job's, so concurrent jobs on a node
 * never share files), one per object: RUN-OBJ. The directory is made at the first spill and
 * removed with its files at the end of each run and by dagr__spill_destroy. */
typedef struct dagr__spill {
  char dir[4096];
  int made;
  uint64_t bytes, files; /* written so far (statistics) */
} dagr__spill;

/* base: the directory to use (NULL or "": dagr__spill_base()). Errors: DAGR_EINVAL (path too long).
 */
/* The directory spill files go under: DAGR_SPILL_DIR, else SLURM_TMPDIR (node-local storage
 * some sites give each job), else TMPDIR, else /tmp. */
const char *dagr__spill_base(void);

int dagr__spill_init(dagr__spill *sp, const char *base, const char *token, int rank);
/* Writes n bytes of object obj of run to its file (made anew). Errors: DAGR_EIO, with a message
 * naming the directory and the reason (a full disk: "No space left on device"); nothing is left
 * behind on failure. */
int dagr__spill_write(dagr__spill *sp, uint32_t run, uint32_t obj, const void *data, size_t n,
                      char *err, size_t errlen);
/* For an object larger than the whole store: makes its file (n bytes reserved on disk, so a
 * full disk is reported now, not as a fault later) and maps it writable at *addr. Errors:
 * DAGR_EIO naming the directory. */
int dagr__spill_map(dagr__spill *sp, uint32_t run, uint32_t obj, size_t n, void **addr, char *err,
                    size_t errlen);
/* Unmaps such an object (its file stays until dagr__spill_remove / clear). */
void dagr__spill_unmap(void *addr, size_t n);
/* Reads it back into dst. Errors: DAGR_EIO (missing, short, unreadable: named). */
int dagr__spill_read(dagr__spill *sp, uint32_t run, uint32_t obj, void *dst, size_t n, char *err,
                     size_t errlen);
void dagr__spill_remove(dagr__spill *sp, uint32_t run, uint32_t obj);
/* Removes every spill file (end of a run; the directory stays until destroy). */
void dagr__spill_clear(dagr__spill *sp);
/* Removes the files and the directory. */
void dagr__spill_destroy(dagr__spill *sp);

#endif
