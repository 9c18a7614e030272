/* ofile.h: output files that appear under their final name only when complete (temporary name, then
 * rename). */
#ifndef DAGR_OBS_OFILE_H
#define DAGR_OBS_OFILE_H
#ifndef DAGR_BUILDING
#error "src/obs/ofile.h is private to libdagr"
#endif

#include <stdio.h>

#include "internal/common.h"

typedef struct dagr__ofile {
  FILE *f;
  char path[4096];
  char tmp[4200];
} dagr__ofile;

/* Opens "PATH.tmp-PID" for writing (buffered). Errors: DAGR_EIO (err names the file and the
 * reason), DAGR_EINVAL (path too long). */
int dagr__ofile_open(dagr__ofile *of, const char *path, char *err, size_t errlen);
/* Flushes and renames the temporary file to its final name; removes it if anything failed
 * (write_ok 0, or a write error). Errors: DAGR_EIO (err names the file). */
int dagr__ofile_commit(dagr__ofile *of, int write_ok, char *err, size_t errlen);

#endif
