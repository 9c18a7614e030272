/* error.c: status-code names, formatted error messages and the process-wide last error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal/common.h"

const char *dagr_strerror(int status) {
  switch (status) {
  case DAGR_OK:
    return "DAGR_OK: success";
  case DAGR_EINVAL:
    return "DAGR_EINVAL: invalid argument";
  case DAGR_ENOMEM:
    return "DAGR_ENOMEM: out of memory";
  case DAGR_EMISSING:
    return "DAGR_EMISSING: a task depends on a key the graph does not define";
  case DAGR_ECYCLE:
    return "DAGR_ECYCLE: the graph has a dependency cycle";
  case DAGR_EDUPKEY:
    return "DAGR_EDUPKEY: a key is defined twice";
  case DAGR_EUNKNOWN_KERNEL:
    return "DAGR_EUNKNOWN_KERNEL: a task names an unregistered kernel";
  case DAGR_ENOKEY:
    return "DAGR_ENOKEY: a requested key is not in the graph";
  case DAGR_EKERNEL:
    return "DAGR_EKERNEL: a kernel failed";
  case DAGR_EMPI:
    return "DAGR_EMPI: an MPI call failed";
  case DAGR_EIO:
    return "DAGR_EIO: reading or writing a file failed";
  case DAGR_EPARSE:
    return "DAGR_EPARSE: malformed graph file";
  case DAGR_ESTATE:
    return "DAGR_ESTATE: call not valid in this role or state";
  case DAGR_ESTORE_FULL:
    return "DAGR_ESTORE_FULL: the object store is full";
  case DAGR_ECONFIG:
    return "DAGR_ECONFIG: invalid configuration";
  case DAGR_EPROTO:
    return "DAGR_EPROTO: malformed internal message";
  case DAGR_ENOENT:
    return "DAGR_ENOENT: no such item";
  case DAGR_ETYPE:
    return "DAGR_ETYPE: value has the wrong type";
  case DAGR_EKERNEL_TABLE:
    return "DAGR_EKERNEL_TABLE: ranks registered different kernels";
  case DAGR_EINTERRUPTED:
    return "DAGR_EINTERRUPTED: interrupted by SIGTERM or SIGINT";
  case DAGR_ETIMEOUT:
    return "DAGR_ETIMEOUT: a task ran past its timeout";
  default:
    return "unknown dagr status";
  }
}

int dagr__errf(char *buf, size_t len, int status, const char *fmt, ...) {
  if (buf && len > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
  }
  return status;
}

static char global_error[DAGR__ERRLEN];

void dagr__set_global_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(global_error, sizeof global_error, fmt, ap);
  va_end(ap);
}

const char *dagr__global_error(void) {
  return global_error;
}
