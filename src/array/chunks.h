/* chunks.h: chunk arithmetic for n-d arrays: layouts, auto chunks, broadcast, slice, rechunk. */
#ifndef DAGR_ARRAY_CHUNKS_H
#define DAGR_ARRAY_CHUNKS_H
#ifndef DAGR_BUILDING
#error "src/array/chunks.h is private to libdagr"
#endif

#include "internal/common.h"

/* This module knows nothing of MPI, HDF5 or the runtime: it only turns shapes and chunk specs
 * into layouts and plans, so graph builders can decide, before any task runs, which block of
 * which input every task reads. Every function returns a dagr status (DAGR_OK, DAGR_EINVAL for
 * bad arguments with a message naming the operand and axis, DAGR_ENOMEM) and writes results
 * through out-parameters. `err` may be NULL; messages are truncated to errlen.
 *
 * Conventions (NumPy/dask): shapes are int64 per axis, C order (last axis fastest) for linear
 * block ids. Every axis has at least one block: an axis of length 0 has one block of extent 0
 * (dask gives chunks ((0,),) there), and a 0-d array has exactly one block of one element. */

/* Default byte target of "auto" chunks, dask's array.chunk-size. */
#define DAGR__CH_DEFAULT_TARGET ((int64_t)128 * 1024 * 1024)

/* ---------------------------------------------------------------------------------------------
 * Layouts.
 *
 * Per-axis chunk extents are malloc'd (their number is data-dependent and may be large: one
 * block per element is legal), so a layout owns memory: every function that produces one writes
 * a fresh layout into its out-parameter WITHOUT freeing what was there, and on failure leaves the
 * out-parameter empty (all zero, safe to free). Release with dagr__ch_layout_free. A zeroed
 * struct (= {0}) is a valid empty layout that may be freed.
 * ------------------------------------------------------------------------------------------- */
typedef struct dagr__ch_layout {
  int ndim;                        /* 0..DAGR_MAX_NDIM */
  int64_t shape[DAGR_MAX_NDIM];    /* elements per axis, >= 0 */
  int64_t nblocks[DAGR_MAX_NDIM];  /* blocks per axis, >= 1 */
  int64_t *chunks[DAGR_MAX_NDIM];  /* nblocks[a] extents; sum == shape[a] */
  int64_t *offsets[DAGR_MAX_NDIM]; /* nblocks[a]+1 starts; offsets[a][nblocks[a]] == shape */
} dagr__ch_layout_t;

/* Frees the per-axis arrays and zeroes the struct. NULL and zeroed layouts are fine. */
void dagr__ch_layout_free(dagr__ch_layout_t *l);
/* Deep copy. Errors: DAGR_EINVAL (NULL), DAGR_ENOMEM. */
int dagr__ch_layout_copy(const dagr__ch_layout_t *src, dagr__ch_layout_t *out, char *err,
                         size_t errlen);
/* *equal = 1 when shapes and every chunk extent agree. */
int dagr__ch_layout_equal(const dagr__ch_layout_t *a, const dagr__ch_layout_t *b, int *equal);

/* Product of nblocks (1 for 0-d). Construction guarantees it fits in int64. */
int dagr__ch_total_blocks(const dagr__ch_layout_t *l, int64_t *n);
/* Product of shape (1 for 0-d). */
int dagr__ch_total_elems(const dagr__ch_layout_t *l, int64_t *n);
/* Block index (one entry per axis) -> C-order linear id, and back. Errors: index or id out of
 * range (the message names the axis). */
int dagr__ch_block_id(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *id, char *err,
                      size_t errlen);
int dagr__ch_block_index(const dagr__ch_layout_t *l, int64_t id, int64_t *idx, char *err,
                         size_t errlen);
/* Where block idx sits: per-axis element offset and extent (either output may be NULL). */
int dagr__ch_block_box(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *offset,
                       int64_t *count, char *err, size_t errlen);
/* Elements in block idx (product of its extents). */
int dagr__ch_block_nelems(const dagr__ch_layout_t *l, const int64_t *idx, int64_t *n, char *err,
                          size_t errlen);
/* The block along `axis` that holds element position pos (0 <= pos < shape), by bisection. */
int dagr__ch_locate(const dagr__ch_layout_t *l, int axis, int64_t pos, int64_t *block, char *err,
                    size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Normalizing chunk specifications (dask normalize_chunks / auto_chunks).
 * ------------------------------------------------------------------------------------------- */
enum {
  DAGR__CH_AUTO = 0,  /* size chosen by the auto rule below */
  DAGR__CH_WHOLE = 1, /* one chunk spanning the axis (dask's -1 / None) */
  DAGR__CH_SIZE = 2,  /* uniform size, ragged last chunk (size -1 means WHOLE) */
  DAGR__CH_LIST = 3   /* explicit extents: positive, summing to the axis length */
};

typedef struct dagr__ch_axis_spec {
  int kind;            /* DAGR__CH_* */
  int64_t size;        /* for SIZE */
  const int64_t *list; /* for LIST: n extents (not copied past the call) */
  int64_t n;
} dagr__ch_axis_spec_t;

typedef struct dagr__ch_spec {
  dagr__ch_axis_spec_t axis[DAGR_MAX_NDIM];
  size_t itemsize;      /* bytes per element; required (> 0) when any axis is AUTO */
  int64_t target_bytes; /* AUTO byte target per chunk; <= 0 means DAGR__CH_DEFAULT_TARGET */
  /* The dataset's own storage chunk shape (HDF5 chunk dims), ndim entries, or NULL when the data
   * is contiguous. AUTO axes then get whole multiples of it (grouping storage chunks), so no
   * storage chunk is split across tasks and decompressed twice. */
  const int64_t *storage_chunks;
} dagr__ch_spec_t;

/* A spec with every axis AUTO, itemsize 0, default target, no storage chunks. */
void dagr__ch_spec_init(dagr__ch_spec_t *spec);

/* Turns spec into a layout for shape. AUTO follows dask's auto_chunks: the non-AUTO axes' largest
 * chunks are fixed; the AUTO axes share what is left of the byte target.
 *  - Without storage chunks, each AUTO axis gets target^(1/n) elements (axes shorter than that
 *    are taken whole and the rest recomputed), rounded like dask's round_to: the largest divisor
 *    of the axis length in [c/2, c] if there is one (no ragged edge), else floor(c).
 *  - With storage chunks, every AUTO axis starts at its storage chunk and all grow by the same
 *    factor, each rounded down to a whole multiple of its storage chunk; an axis whose proposal
 *    passes its length is taken whole; repeated until stable. Deviation from dask: a chunk never
 *    shrinks below one storage chunk (dask would split HDF5 chunks when one already exceeds the
 *    target, forcing repeated decompression). Storage chunk 1 on an axis counts as "no
 *    preference" there (dask's mode > 1 rule): the axis starts whole.
 * Floating roots are nudged to the nearest integer when within 1e-9 (64^(1/3) < 4 in doubles),
 * so powers of two come out exact.
 * Errors (DAGR_EINVAL, message names the axis): ndim outside 0..8, NULL shape with ndim > 0,
 * negative shape, chunk size 0 or < -1, list entry <= 0, list sum != axis length, unknown kind,
 * itemsize 0 with AUTO, storage chunk <= 0, element or block count overflowing int64. */
int dagr__ch_normalize(int ndim, const int64_t *shape, const dagr__ch_spec_t *spec,
                       dagr__ch_layout_t *out, char *err, size_t errlen);
/* Shorthand: uniform sizes per axis (sizes[a] == -1: whole axis). */
int dagr__ch_uniform(int ndim, const int64_t *shape, const int64_t *sizes, dagr__ch_layout_t *out,
                     char *err, size_t errlen);
/* Shorthand: explicit extents per axis (lists[a] has n[a] entries). */
int dagr__ch_from_lists(int ndim, const int64_t *shape, const int64_t *const *lists,
                        const int64_t *n, dagr__ch_layout_t *out, char *err, size_t errlen);
/* Shorthand: every axis AUTO. storage_chunks may be NULL; target_bytes <= 0 means default. */
int dagr__ch_auto(int ndim, const int64_t *shape, size_t itemsize, int64_t target_bytes,
                  const int64_t *storage_chunks, dagr__ch_layout_t *out, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Broadcasting (NumPy rules) and chunk unification (dask unify_chunks).
 * ------------------------------------------------------------------------------------------- */

/* Broadcasts n >= 1 shapes (aligned on the right; each axis equal, or 1 in all but one size).
 * names may be NULL (operands are then called "operand 0", ...). The result has the largest
 * ndim. Errors: DAGR_EINVAL naming both operands, their shapes and the result axis. */
int dagr__ch_broadcast_shapes(int n, const int *ndims, const int64_t *const *shapes,
                              const char *const *names, int *out_ndim, int64_t *out_shape,
                              char *err, size_t errlen);

/* Chunks shared by n >= 1 arrays of an elementwise operation: the broadcast shape, and on each
 * axis the common refinement (union of block boundaries) of the operands that span that axis
 * fully; an axis where every operand has length 1 keeps one chunk. Operands are then rechunked
 * to dagr__ch_unify_operand's layout (a no-op where it equals theirs). */
int dagr__ch_unify(int n, const dagr__ch_layout_t *const *in, const char *const *names,
                   dagr__ch_layout_t *out, char *err, size_t errlen);
/* The layout operand `op` must have for the unified layout `uni`: uni's chunks on the axes where
 * op spans the result, one chunk of 1 where op broadcasts (length 1), op's own ndim. */
int dagr__ch_unify_operand(const dagr__ch_layout_t *uni, const dagr__ch_layout_t *op,
                           dagr__ch_layout_t *out, char *err, size_t errlen);
/* The block of an operand (with layout from dagr__ch_unify_operand) that feeds output block
 * out_idx of uni: leading axes dropped, broadcast axes at block 0. */
int dagr__ch_broadcast_block(const dagr__ch_layout_t *uni, const dagr__ch_layout_t *op,
                             const int64_t *out_idx, int64_t *op_idx, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Basic slicing (NumPy semantics; dask normalize_index + slice_array).
 * ------------------------------------------------------------------------------------------- */
enum { DAGR__CH_IDX_SLICE = 0, DAGR__CH_IDX_INT = 1 };

/* One axis of an index: an integer (negative counts from the end; drops the axis) or
 * start:stop:step where any part may be omitted (has_* = 0) and step may be negative. A zeroed
 * struct is the full slice ':'. */
typedef struct dagr__ch_index {
  int kind;
  int64_t value; /* INT */
  int has_start, has_stop, has_step;
  int64_t start, stop, step;
} dagr__ch_index_t;

/* A contiguous-with-stride run inside one block along one axis: element block-local positions
 * start, start+step, ... (count of them). step may be negative. */
typedef struct dagr__ch_run {
  int64_t block;
  int64_t start;
  int64_t step;
  int64_t count;
} dagr__ch_run_t;

/* Slicing plan. Each output block reads exactly one input block (output chunks follow the input
 * chunk boundaries, as dask's slice_array makes them), so per input axis a run per output chunk
 * suffices and the n-d picture is their product. */
typedef struct dagr__ch_slice_plan {
  int in_ndim;
  /* Normalized index per input axis: first selected position, step, selected count; is_int marks
   * dropped axes (count 1). */
  int64_t start[DAGR_MAX_NDIM], step[DAGR_MAX_NDIM], count[DAGR_MAX_NDIM];
  int is_int[DAGR_MAX_NDIM];
  int out_axis[DAGR_MAX_NDIM]; /* per input axis: its output axis, -1 if dropped */
  dagr__ch_layout_t out;       /* output shape and chunks (out.ndim = in_ndim - #ints) */
  /* Per input axis: runs[a][j] for output chunk j of out_axis[a] (out.nblocks of it), or one run
   * (runs[a][0]) for a dropped axis. */
  dagr__ch_run_t *runs[DAGR_MAX_NDIM];
} dagr__ch_slice_plan_t;

/* Normalizes index (nidx <= in->ndim entries; missing trailing axes are ':') against layout in
 * and plans the per-block reads. An empty selection gives an axis of length 0 with one empty
 * block (its run has count 0). Errors (DAGR_EINVAL): more indices than axes, step 0 (names the
 * axis), integer out of range ("index 5 is out of bounds for axis 1 with size 5"), bad kind. */
int dagr__ch_slice(const dagr__ch_layout_t *in, const dagr__ch_index_t *index, int nidx,
                   dagr__ch_slice_plan_t *plan, char *err, size_t errlen);
/* For output block out_idx: the input block (in_idx, in->ndim entries) and the local run per
 * input axis (start/step/count arrays, in->ndim entries each; any may be NULL). */
int dagr__ch_slice_block(const dagr__ch_slice_plan_t *plan, const int64_t *out_idx, int64_t *in_idx,
                         int64_t *start, int64_t *step, int64_t *count, char *err, size_t errlen);
void dagr__ch_slice_plan_free(dagr__ch_slice_plan_t *plan);

/* ---------------------------------------------------------------------------------------------
 * Rechunk plans.
 * ------------------------------------------------------------------------------------------- */

/* One overlap along one axis between output chunk j and an input block. */
typedef struct dagr__ch_overlap {
  int64_t in_block;
  int64_t in_off;  /* start inside the input block */
  int64_t out_off; /* start inside the output block */
  int64_t count;
} dagr__ch_overlap_t;

/* Per axis, for each output chunk j, the input blocks it overlaps: pieces[a][first[a][j] ..
 * first[a][j+1]). The pieces of an n-d output block are the cartesian product of its per-axis
 * lists (C order, last axis fastest), and they tile it exactly. Memory is O(sum of blocks), not
 * O(product). */
typedef struct dagr__ch_rechunk_plan {
  int ndim;
  dagr__ch_layout_t in, out; /* copies of the two layouts */
  int64_t *first[DAGR_MAX_NDIM];
  dagr__ch_overlap_t *pieces[DAGR_MAX_NDIM];
} dagr__ch_rechunk_plan_t;

/* Plans from -> to. Errors (DAGR_EINVAL): ndim or shape differ (names the axis). */
int dagr__ch_rechunk(const dagr__ch_layout_t *from, const dagr__ch_layout_t *to,
                     dagr__ch_rechunk_plan_t *plan, char *err, size_t errlen);
/* Number of n-d pieces (input blocks) making up output block out_idx. */
int dagr__ch_rechunk_npieces(const dagr__ch_rechunk_plan_t *plan, const int64_t *out_idx,
                             int64_t *n, char *err, size_t errlen);
/* Piece k (0 <= k < npieces) of output block out_idx: input block index, hyperslab offset in the
 * input block, offset in the output block, and extent (arrays of ndim entries). */
int dagr__ch_rechunk_piece(const dagr__ch_rechunk_plan_t *plan, const int64_t *out_idx, int64_t k,
                           int64_t *in_idx, int64_t *in_off, int64_t *out_off, int64_t *count,
                           char *err, size_t errlen);
void dagr__ch_rechunk_plan_free(dagr__ch_rechunk_plan_t *plan);

/* ---------------------------------------------------------------------------------------------
 * Reshape (dask reshape_rechunk, simplified).
 * ------------------------------------------------------------------------------------------- */

typedef struct dagr__ch_reshape_plan {
  int in_ndim;
  dagr__ch_layout_t out;
  /* Per input axis: the output axis whose block index equals this axis' block index, or -1
   * when the input axis is a single chunk (block 0). */
  int src_out_axis[DAGR_MAX_NDIM];
} dagr__ch_reshape_plan_t;

/* Reshapes layout in to new_shape (one entry may be -1: inferred, as NumPy does) block by block:
 * each output block is the reshape of exactly one input block. Axes are matched in groups of
 * equal product, left to right; length-1 axes may be added or removed anywhere. Allowed per
 * group: equal axes (chunks kept); several input axes merged into one when all but the first
 * are single chunks; one axis split into several when its chunks are multiples of the product of
 * the trailing new axes; otherwise only when every input axis of the group is a single chunk.
 * Errors (DAGR_EINVAL): element counts differ, more than one -1, bad lengths, out_ndim > 8, or
 * chunks that do not allow it (the message names the axis and the rechunk that would). */
int dagr__ch_reshape(const dagr__ch_layout_t *in, int out_ndim, const int64_t *new_shape,
                     dagr__ch_reshape_plan_t *plan, char *err, size_t errlen);
/* The input block that output block out_idx is reshaped from. */
int dagr__ch_reshape_block(const dagr__ch_reshape_plan_t *plan, const int64_t *out_idx,
                           int64_t *in_idx, char *err, size_t errlen);
void dagr__ch_reshape_plan_free(dagr__ch_reshape_plan_t *plan);

#endif
