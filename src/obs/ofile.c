/* ofile.c: output files that appear under their final name only when complete (temporary name, then
 * rename). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "obs/ofile.h"

int dagr__ofile_open(dagr__ofile *of, const char *path, char *err, size_t errlen) {
  memset(of, 0, sizeof *of);
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof of->path)
    return dagr__errf(err, errlen, DAGR_EINVAL, "output file name '%.200s' is empty or too long",
                      path);
  memcpy(of->path, path, n + 1);
  snprintf(of->tmp, sizeof of->tmp, "%s.tmp-%d", path, (int)getpid());
  of->f = fopen(of->tmp, "w");
  if (!of->f)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot write '%s': %s", path, strerror(errno));
  return DAGR_OK;
}

int dagr__ofile_commit(dagr__ofile *of, int write_ok, char *err, size_t errlen) {
  if (!of->f) return DAGR_EIO;
  int bad = !write_ok || ferror(of->f);
  int saved = errno;
  if (fclose(of->f) != 0 && !bad) {
    bad = 1;
    saved = errno;
  }
  of->f = NULL;
  if (!bad && rename(of->tmp, of->path) != 0) {
    bad = 1;
    saved = errno;
  }
  if (bad) {
    unlink(of->tmp);
    return dagr__errf(err, errlen, DAGR_EIO, "writing '%s' failed: %s", of->path,
                      saved ? strerror(saved) : "incomplete output");
  }
  return DAGR_OK;
}
