/* gen_proto_seeds.c: writes valid messages, made by the real encoder, as fuzz_proto seeds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/params.h"
#include "proto/proto.h"

static const char *outdir;
static int failures;

/* Finishes the message in b and writes it to OUTDIR/NAME. */
static void emit(dagr__buf *b, uint32_t count, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", outdir, name);
  char err[256];
  FILE *f = NULL;
  if (dagr__msg_finish(b, count) != DAGR_OK ||
      dagr__msg_validate(b->p, b->len, err, sizeof err) != DAGR_OK || !(f = fopen(path, "wb")) ||
      fwrite(b->p, 1, b->len, f) != b->len) {
    fprintf(stderr, "gen_proto_seeds: cannot make %s\n", path);
    failures++;
  }
  if (f && fclose(f) != 0) failures++;
  dagr__buf_free(b);
}

/* A message is only as good as its encoder calls: count a failed one. */
static void ok(int rc) {
  if (rc != DAGR_OK) failures++;
}

static void assign_seeds(void) {
  dagr_params_t *p = NULL;
  ok(dagr_params_create(&p));
  ok(dagr_params_set_int(p, "value", 42));
  ok(dagr_params_set_double(p, "scale", 2.5));
  ok(dagr_params_set_string(p, "message", "boom"));
  int64_t iv[3] = {1, 2, 3};
  double dv[2] = {0.5, -1.0};
  ok(dagr_params_set_int_array(p, "axes", iv, 3));
  ok(dagr_params_set_double_array(p, "weights", dv, 2));

  /* Every dependency kind in one task, then a task with none. */
  dagr__buf b = {0};
  int64_t shape2[2] = {2, 3}, shape3[3] = {4, 5, 6};
  double inline_data[6] = {1, 2, 3, 4, 5, 6};
  ok(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 7, 16));
  ok(dagr__enc_task_group(&b, 3, 1, 0, p->buf, (uint32_t)p->len, 4));
  ok(dagr__enc_dep_scalar(&b, 0, DAGR_DTYPE_INT64, 5));
  ok(dagr__enc_dep_inline(&b, 1, DAGR_DTYPE_FLOAT64, 2, shape2, inline_data, sizeof inline_data));
  ok(dagr__enc_dep_local(&b, 2));
  ok(dagr__enc_dep_remote(&b, 4, DAGR_DTYPE_FLOAT32, 3, shape3, 1, 4096, 480));
  ok(dagr__enc_task(&b, 5, 2, NULL, 0, 0));
  emit(&b, 2, "assign_all_kinds.bin");

  /* Inline bytes whose length is not a multiple of 8 (padding), in a second executor group. */
  ok(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 1, 4));
  ok(dagr__enc_task_group(&b, 1, 0, 1, NULL, 0, 2));
  ok(dagr__enc_dep_inline(&b, 0, DAGR_DTYPE_BYTES, 1, (int64_t[]){5}, "hello", 5));
  ok(dagr__enc_dep_local(&b, 2));
  emit(&b, 1, "assign_inline_pad.bin");

  /* A chain of small tasks, as the scheduler batches them. */
  dagr_params_t *q = NULL;
  ok(dagr_params_create(&q));
  ok(dagr_params_set_int(q, "ms", 0));
  ok(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 2, 8));
  for (uint32_t t = 0; t < 6; t++) {
    ok(dagr__enc_task(&b, t, 3, q->buf, (uint32_t)q->len, t ? 1 : 0));
    if (t) ok(dagr__enc_dep_local(&b, t - 1));
  }
  emit(&b, 6, "assign_chain.bin");

  /* The optional parts: a time limit and the task's key, with and without params. */
  static const char key[] = "('sum-abc', 0, 1)";
  ok(dagr__msg_begin(&b, DAGR__MSG_ASSIGN, 3, 8));
  ok(dagr__enc_task_ext(&b, 0, 1, 0, 2500, key, sizeof key - 1, q->buf, (uint32_t)q->len, 1));
  ok(dagr__enc_dep_scalar(&b, 1, DAGR_DTYPE_FLOAT64, 0x4004000000000000ull));
  ok(dagr__enc_task_ext(&b, 2, 0, 1, 0, "k", 1, NULL, 0, 0));
  ok(dagr__enc_task_ext(&b, 3, 0, 0, 1, NULL, 0, NULL, 0, 0));
  emit(&b, 3, "assign_timeout_key.bin");
  dagr_params_free(q);
  dagr_params_free(p);
}

static void done_seeds(void) {
  dagr__buf b = {0};
  int64_t shape[2] = {3, 1};
  double vals[3] = {1, 2, 3};
  ok(dagr__msg_begin(&b, DAGR__MSG_DONE, 7, 0));
  dagr__done_view d;
  memset(&d, 0, sizeof d);
  d.task = 0;
  d.dtype = DAGR_DTYPE_INT64;
  d.flags = DAGR__DONE_SCALAR;
  d.nbytes = 8;
  d.value = 9;
  ok(dagr__enc_done(&b, &d));
  memset(&d, 0, sizeof d);
  d.task = 1;
  d.dtype = DAGR_DTYPE_FLOAT64;
  d.ndim = 2;
  d.shape = shape;
  d.flags = DAGR__DONE_INLINE | DAGR__DONE_FETCH;
  d.nbytes = sizeof vals;
  d.data = vals;
  d.fetch_ns = 1000;
  d.fetch_bytes = 24;
  d.nfetch = 1;
  d.fetch_max_us = 3;
  ok(dagr__enc_done(&b, &d));
  memset(&d, 0, sizeof d);
  d.task = 2;
  d.dtype = DAGR_DTYPE_BYTES;
  d.ndim = 1;
  d.shape = (int64_t[]){1 << 20};
  d.flags = DAGR__DONE_STORE;
  d.nbytes = 1 << 20;
  d.offset = 65536;
  ok(dagr__enc_done(&b, &d));
  emit(&b, 3, "done_ok.bin");

  ok(dagr__msg_begin(&b, DAGR__MSG_DONE, 7, 0));
  memset(&d, 0, sizeof d);
  d.task = 4;
  d.status = DAGR_EKERNEL;
  d.flags = DAGR__DONE_ERROR;
  d.errmsg = "kernel 'fail' failed: boom";
  ok(dagr__enc_done(&b, &d));
  emit(&b, 1, "done_error.bin");
}

static void other_seeds(void) {
  dagr__buf b = {0};
  static const struct {
    int type;
    const char *name;
  } u32msg[] = {{DAGR__MSG_RELEASE, "release.bin"},
                {DAGR__MSG_SPILL, "spill.bin"},
                {DAGR__MSG_RESTORE, "restore.bin"}};
  for (size_t i = 0; i < sizeof u32msg / sizeof u32msg[0]; i++) {
    ok(dagr__msg_begin(&b, u32msg[i].type, 7, 0));
    for (uint32_t id = 1; id <= 3; id++) ok(dagr__enc_u32(&b, id));
    emit(&b, 3, u32msg[i].name);
  }

  ok(dagr__msg_begin(&b, DAGR__MSG_RESTORED, 7, 0));
  ok(dagr__enc_restored(&b, 2, 4096));
  ok(dagr__enc_restored(&b, 5, UINT64_MAX)); /* could not be read back */
  emit(&b, 2, "restored.bin");

  ok(dagr__msg_begin(&b, DAGR__MSG_TRACE, 7, 0));
  static const dagr__tev tev[] = {{100, 250, 64, 128, 3, 1, DAGR__TEV_TASK, 0},
                                  {120, 180, 1048576, 0, 2, 0, DAGR__TEV_XFER, 0},
                                  {300, 400, 4096, 0, 5, 0, DAGR__TEV_SPILL, 0},
                                  {500, 520, 4096, 0, 5, 0, DAGR__TEV_RESTORE, 0},
                                  {600, 600, 8192, 0, 0, 0, DAGR__TEV_MEM, 0}};
  for (size_t i = 0; i < sizeof tev / sizeof tev[0]; i++) ok(dagr__enc_tev(&b, &tev[i]));
  emit(&b, 5, "trace.bin");

  static const char fault[] = "rank 2: cannot write spill file /tmp/x: No space left on device";
  ok(dagr__msg_begin(&b, DAGR__MSG_FAULT, 7, 0));
  ok(dagr__buf_reserve(&b, sizeof fault));
  memcpy(b.p + b.len, fault, sizeof fault);
  b.len += sizeof fault;
  emit(&b, 0, "fault.bin");

  static const char text[] = "host=node1 role=worker threads=2 store_bytes=1048576 groups=1";
  ok(dagr__msg_begin(&b, DAGR__MSG_INFO, 0, 0));
  ok(dagr__buf_reserve(&b, sizeof text));
  memcpy(b.p + b.len, text, sizeof text);
  b.len += sizeof text;
  emit(&b, 0, "info.bin");

  static const struct {
    int type;
    const char *name;
  } ctl[] = {{DAGR__MSG_RUN_END, "run_end.bin"},    {DAGR__MSG_SHUTDOWN, "shutdown.bin"},
             {DAGR__MSG_INFO_REQ, "info_req.bin"},  {DAGR__MSG_RUN_ENDED, "run_ended.bin"},
             {DAGR__MSG_TRACE_ON, "trace_on.bin"},  {DAGR__MSG_TRACE_REQ, "trace_req.bin"},
             {DAGR__MSG_TRACE_END, "trace_end.bin"}};
  for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
    ok(dagr__msg_begin(&b, ctl[i].type, 7, 0));
    emit(&b, 0, ctl[i].name);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: gen_proto_seeds OUTDIR\n");
    return 2;
  }
  outdir = argv[1];
  assign_seeds();
  done_seeds();
  other_seeds();
  return failures ? 1 : 0;
}
