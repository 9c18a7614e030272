/* spill.c: writing store objects to files in a worker's spill directory and reading them back. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/spill.h"

const char *dagr__spill_base(void) {
  static const char *const vars[] = {"DAGR_SPILL_DIR", "SLURM_TMPDIR", "TMPDIR"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *s = getenv(vars[i]);
    if (s && *s) return s;
  }
  return "/tmp";
}

int dagr__spill_init(dagr__spill *sp, const char *base, const char *token, int rank) {
  memset(sp, 0, sizeof *sp);
  if (!base || !*base) base = dagr__spill_base();
  int n = snprintf(sp->dir, sizeof sp->dir, "%s/dagr-spill-%s-rank%d", base, token, rank);
  return n > 0 && (size_t)n < sizeof sp->dir ? DAGR_OK : DAGR_EINVAL;
}

static void path_of(const dagr__spill *sp, uint32_t run, uint32_t obj, char *buf, size_t len) {
  snprintf(buf, len, "%s/%u-%u", sp->dir, run, obj);
}

/* Makes the spill directory on first use and creates object obj's file (mode: O_WRONLY or
 * O_RDWR); its path goes to path. Errors: DAGR_EIO, naming the directory. */
static int create_file(dagr__spill *sp, uint32_t run, uint32_t obj, int mode, char *path,
                       size_t len, int *fd, char *err, size_t errlen) {
  if (!sp->made) {
    if (mkdir(sp->dir, 0700) != 0 && errno != EEXIST)
      return dagr__errf(err, errlen, DAGR_EIO, "cannot create the spill directory '%s': %s",
                        sp->dir, strerror(errno));
    sp->made = 1;
  }
  path_of(sp, run, obj, path, len);
  *fd = open(path, mode | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (*fd < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot spill to '%s': %s", sp->dir, strerror(errno));
  return DAGR_OK;
}

int dagr__spill_write(dagr__spill *sp, uint32_t run, uint32_t obj, const void *data, size_t n,
                      char *err, size_t errlen) {
  char path[4200];
  int fd;
  int rc = create_file(sp, run, obj, O_WRONLY, path, sizeof path, &fd, err, errlen);
  if (rc) return rc;
  const unsigned char *p = data;
  size_t left = n;
  while (left > 0) {
    ssize_t w = write(fd, p, left > (1u << 30) ? (1u << 30) : left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = w < 0 ? errno : ENOSPC;
      close(fd);
      unlink(path);
      return dagr__errf(err, errlen, DAGR_EIO, "cannot spill %zu bytes to '%s': %s", n, sp->dir,
                        strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (close(fd) != 0) {
    int e = errno;
    unlink(path);
    return dagr__errf(err, errlen, DAGR_EIO, "cannot spill %zu bytes to '%s': %s", n, sp->dir,
                      strerror(e));
  }
  sp->bytes += n;
  sp->files++;
  return DAGR_OK;
}

int dagr__spill_map(dagr__spill *sp, uint32_t run, uint32_t obj, size_t n, void **addr, char *err,
                    size_t errlen) {
  char path[4200];
  int fd;
  int rc = create_file(sp, run, obj, O_RDWR, path, sizeof path, &fd, err, errlen);
  if (rc) return rc;
  int e = n ? posix_fallocate(fd, 0, (off_t)n) : 0;
  void *p = MAP_FAILED;
  if (e == 0 && n) {
    p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) e = errno;
  }
  close(fd);
  if (e) {
    unlink(path);
    return dagr__errf(err, errlen, DAGR_EIO, "cannot spill a %zu-byte object to '%s': %s", n,
                      sp->dir, strerror(e));
  }
  sp->bytes += n;
  sp->files++;
  *addr = n ? p : NULL;
  return DAGR_OK;
}

void dagr__spill_unmap(void *addr, size_t n) {
  if (addr && n) (void)munmap(addr, n);
}

int dagr__spill_read(dagr__spill *sp, uint32_t run, uint32_t obj, void *dst, size_t n, char *err,
                     size_t errlen) {
  char path[4200];
  path_of(sp, run, obj, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return dagr__errf(err, errlen, DAGR_EIO, "cannot read spilled object '%s': %s", path,
                      strerror(errno));
  unsigned char *p = dst;
  size_t left = n;
  while (left > 0) {
    ssize_t r = read(fd, p, left > (1u << 30) ? (1u << 30) : left);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = r < 0 ? errno : 0;
      close(fd);
      return dagr__errf(err, errlen, DAGR_EIO, "cannot read spilled object '%s': %s", path,
                        e ? strerror(e) : "file is shorter than the object");
    }
    p += r;
    left -= (size_t)r;
  }
  close(fd);
  return DAGR_OK;
}

void dagr__spill_remove(dagr__spill *sp, uint32_t run, uint32_t obj) {
  char path[4200];
  path_of(sp, run, obj, path, sizeof path);
  (void)unlink(path);
}

void dagr__spill_clear(dagr__spill *sp) {
  if (!sp->made) return;
  DIR *d = opendir(sp->dir);
  if (!d) return;
  struct dirent *e;
  char path[4400];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", sp->dir, e->d_name);
    (void)unlink(path);
  }
  closedir(d);
}

void dagr__spill_destroy(dagr__spill *sp) {
  dagr__spill_clear(sp);
  if (sp->made) (void)rmdir(sp->dir);
  sp->made = 0;
}
