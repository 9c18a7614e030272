/* dagr/array.h: chunked n-d arrays with dask.array semantics, built lazily as dagr task graphs. */
#ifndef DAGR_ARRAY_H
#define DAGR_ARRAY_H

#include "dagr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An array is a lazy, immutable expression: operations return new arrays and build no tasks
 * until dagr_array_compute or dagr_array_store. Arrays are reference counted: every array a
 * function returns must be released with dagr_array_release (operations keep their own
 * references to their inputs). Arrays belong to the context they were created with and are
 * used on the driver (rank 0) only. Every function returns a dagr status; failures leave a
 * message naming the operand in dagr_last_error(ctx). */
typedef struct dagr_array dagr_array_t;

/* Chunk specification: per axis a positive chunk length, -1 for the whole axis, or 0 for
 * "auto" (about DAGR_ARRAY_CHUNK_BYTES per chunk, following an HDF5 dataset's own chunking when
 * there is one, like dask's array.chunk-size). chunks NULL means auto on every axis. */
#define DAGR_ARRAY_CHUNK_BYTES ((int64_t)128 * 1024 * 1024)

void dagr_array_release(dagr_array_t *a);
/* Takes one more reference to a (released with dagr_array_release); returns a. */
dagr_array_t *dagr_array_retain(dagr_array_t *a);
/* dtype, ndim and shape (shape may be NULL; it needs room for DAGR_MAX_NDIM). */
int dagr_array_info(const dagr_array_t *a, int *dtype, int *ndim, int64_t *shape);
/* Chunk lengths along axis (n receives the number of chunks; lengths may be NULL to ask). */
int dagr_array_chunks(const dagr_array_t *a, int axis, int64_t *lengths, int64_t *n);

/* ---- creation ------------------------------------------------------------------------- */
/* Errors: DAGR_EINVAL (bad dtype, ndim > DAGR_MAX_NDIM, negative shape, bad chunks). */
int dagr_array_full(dagr_ctx_t *ctx, int dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, double value, dagr_array_t **out);
int dagr_array_zeros(dagr_ctx_t *ctx, int dtype, int ndim, const int64_t *shape,
                     const int64_t *chunks, dagr_array_t **out);
int dagr_array_ones(dagr_ctx_t *ctx, int dtype, int ndim, const int64_t *shape,
                    const int64_t *chunks, dagr_array_t **out);
/* 1-D [start, stop) by step (NumPy arange: length ceil((stop - start) / step)). */
int dagr_array_arange(dagr_ctx_t *ctx, double start, double stop, double step, int dtype,
                      int64_t chunk, dagr_array_t **out);
/* 1-D, num points from start to stop inclusive (float64). */
int dagr_array_linspace(dagr_ctx_t *ctx, double start, double stop, int64_t num, int64_t chunk,
                        dagr_array_t **out);
/* Random float64 arrays: each chunk's values depend only on seed and the chunk's position, so
 * results are the same whatever the number of ranks. */
int dagr_array_random_uniform(dagr_ctx_t *ctx, uint64_t seed, int ndim, const int64_t *shape,
                              const int64_t *chunks, double low, double high, dagr_array_t **out);
int dagr_array_random_normal(dagr_ctx_t *ctx, uint64_t seed, int ndim, const int64_t *shape,
                             const int64_t *chunks, double mean, double stddev, dagr_array_t **out);
/* From a C-ordered buffer on the driver (copied at this call). */
int dagr_array_from_buffer(dagr_ctx_t *ctx, const void *data, int dtype, int ndim,
                           const int64_t *shape, const int64_t *chunks, dagr_array_t **out);

/* A dataset of an HDF5 file, read by the workers chunk by chunk (each worker reads its own
 * chunks' hyperslabs, so compressed datasets decompress in parallel). chunks as above: auto
 * groups the dataset's own HDF5 chunks. Errors: DAGR_EIO (missing, unreadable or corrupt file),
 * DAGR_ENOENT (no such dataset), DAGR_ETYPE (unsupported dtype or more than 8 dimensions),
 * DAGR_EINVAL (bad chunks). */
int dagr_array_from_hdf5(dagr_ctx_t *ctx, const char *path, const char *dataset,
                         const int64_t *chunks, dagr_array_t **out);

/* ---- elementwise (NumPy broadcasting and dtype promotion) ------------------------------ */
typedef enum dagr_array_op {
  DAGR_OP_ADD = 1,
  DAGR_OP_SUB,
  DAGR_OP_MUL,
  DAGR_OP_DIV, /* true division: integers give float64 */
  DAGR_OP_POW,
  DAGR_OP_LT,
  DAGR_OP_LE,
  DAGR_OP_GT,
  DAGR_OP_GE,
  DAGR_OP_EQ,
  DAGR_OP_NE,
  DAGR_OP_MINIMUM,
  DAGR_OP_MAXIMUM,
  /* unary */
  DAGR_OP_NEG = 32,
  DAGR_OP_ABS,
  DAGR_OP_SQRT,
  DAGR_OP_EXP,
  DAGR_OP_LOG,
  DAGR_OP_SIN,
  DAGR_OP_COS,
  DAGR_OP_TANH
} dagr_array_op_t;

/* Errors: DAGR_EINVAL (unknown op, shapes that do not broadcast: the message names both
 * operands' shapes and the axis). */
int dagr_array_binary(int op, dagr_array_t *a, dagr_array_t *b, dagr_array_t **out);
/* a OP scalar (or scalar OP a when scalar_first). An integral scalar with an integer array
 * keeps the array's dtype, as NumPy does with Python scalars. */
int dagr_array_binary_scalar(int op, dagr_array_t *a, double scalar, int scalar_first,
                             dagr_array_t **out);
int dagr_array_unary(int op, dagr_array_t *a, dagr_array_t **out);
/* where(cond, a, b): cond is converted to bool. */
int dagr_array_where(dagr_array_t *cond, dagr_array_t *a, dagr_array_t *b, dagr_array_t **out);
/* A 0-d array holding a number (for mixing scalars into expressions). */
int dagr_array_scalar(dagr_ctx_t *ctx, int dtype, double value, dagr_array_t **out);

/* ---- reductions (tree reductions) ------------------------------------------------------ */
typedef enum dagr_array_reduction {
  DAGR_RED_SUM = 1,
  DAGR_RED_MEAN,
  DAGR_RED_MIN,
  DAGR_RED_MAX,
  DAGR_RED_PROD,
  DAGR_RED_VAR,
  DAGR_RED_STD,
  DAGR_RED_ARGMIN,
  DAGR_RED_ARGMAX,
  DAGR_RED_ANY,
  DAGR_RED_ALL
} dagr_array_reduction_t;

/* Reduces over naxes axes (naxes 0 or axes NULL: all axes; negative axes count from the end).
 * split_every: partial results combined per tree node (0: 8, like dask's default of about 4-32).
 * ddof: for VAR and STD. ARGMIN/ARGMAX take one axis or all (flattened index). Errors:
 * DAGR_EINVAL (axis out of range or repeated, several axes for an arg-reduction). */
int dagr_array_reduce(int reduction, dagr_array_t *a, int naxes, const int *axes, int keepdims,
                      int split_every, int ddof, dagr_array_t **out);

/* ---- structure -------------------------------------------------------------------------- */
/* perm NULL reverses the axes (x.T). */
int dagr_array_transpose(dagr_array_t *a, const int *perm, dagr_array_t **out);

typedef struct dagr_index {
  int is_int;    /* 1: integer index (drops the axis); 0: slice */
  int64_t value; /* integer index, negative counts from the end */
  int has_start, has_stop, has_step;
  int64_t start, stop, step;
} dagr_index_t;
/* Basic indexing: up to ndim items; missing trailing items take whole axes. Errors:
 * DAGR_EINVAL (index out of range: names axis and size; step 0; too many indices). */
int dagr_array_index(dagr_array_t *a, int nidx, const dagr_index_t *idx, dagr_array_t **out);

/* ---- rechunk, concatenate, stack, reshape (src/array/op_shape.c) ------------------------ */
/* The same values with other chunks: per axis a positive length (ragged last chunk), -1 for the
 * whole axis or 0 for auto (chunks NULL: auto everywhere). A rechunk to the current chunks
 * returns a itself (one more reference); a rechunk of a rechunk plans from the first one's
 * input. Each output chunk is one task reading the input chunks it overlaps. Errors:
 * DAGR_EINVAL (a NULL, out NULL, a chunk length below -1: the message names the axis),
 * DAGR_ENOMEM. */
int dagr_array_rechunk(dagr_array_t *a, const int64_t *chunks, dagr_array_t **out);
/* NumPy concatenate of n >= 1 arrays along axis (negative counts from the end); the dtype is
 * the promotion of theirs (operands of another dtype are converted). The output's chunks along
 * axis are the operands' chunks in sequence; on the other axes it takes operand 0's chunks,
 * rechunking the other operands to them where they differ. Errors: DAGR_EINVAL (n < 1, arrays
 * or out NULL, a NULL operand or one of another context, 0-d operands, axis out of range,
 * operands whose number of dimensions or whose lengths off the axis differ: the message names
 * the operand index, the axis and both shapes), DAGR_ENOMEM. */
int dagr_array_concatenate(int n, dagr_array_t *const *arrays, int axis, dagr_array_t **out);
/* NumPy stack: n >= 1 arrays of one shape joined along a new axis (0..ndim, negative counts
 * from the end), which has chunks of 1. Errors: DAGR_EINVAL (as concatenate; shapes that
 * differ: names the operand index and both shapes; a result over DAGR_MAX_NDIM dimensions),
 * DAGR_ENOMEM. */
int dagr_array_stack(int n, dagr_array_t *const *arrays, int axis, dagr_array_t **out);
/* NumPy reshape (C order) to ndim axes of shape (one entry may be -1: inferred). Every output
 * chunk is one input chunk reinterpreted; where a's chunks do not allow that, a is first
 * rechunked automatically (like dask's reshape_rechunk: merged trailing axes become whole,
 * split axes get multiples of the trailing new lengths). Reshaping to a's own shape returns a.
 * Errors: DAGR_EINVAL (a or out NULL, ndim outside 0..DAGR_MAX_NDIM, shape NULL, more than one
 * -1, a negative length, an element count that differs: "cannot reshape array of size 24 into
 * shape (5, 5)"), DAGR_ENOMEM. */
int dagr_array_reshape(dagr_array_t *a, int ndim, const int64_t *shape, dagr_array_t **out);

/* ---- matmul, map_blocks, map_overlap (src/array/op_compute.c) --------------------------- */
/* NumPy matmul of 1-D or 2-D operands (a 1-D operand is a row vector on the left, a column
 * vector on the right, and its axis is dropped from the result; 1-D @ 1-D is a 0-d dot product),
 * as a blocked algorithm calling CBLAS: output block (i, j) sums A_ik @ B_kj, up to 8 pairs
 * accumulated in one task, longer inner axes in groups summed by a tree. float32 @ float32 gives
 * float32 (sgemm); every other pair of dtypes gives float64 (dgemm), integers and bools
 * included (unlike NumPy, which keeps integers: results are exact only while every partial sum
 * stays below 2^53 in magnitude). OpenBLAS runs one thread per process unless
 * OPENBLAS_NUM_THREADS is set (several executor threads call gemm at once). Errors: DAGR_EINVAL
 * (a NULL operand or out, operands of other contexts, operands that are not 1-D or 2-D, inner
 * dimensions that differ: names both shapes; a's chunks along its last axis that differ from
 * b's chunks along its first axis: rechunk one of them first), DAGR_ENOMEM. */
int dagr_array_matmul(dagr_array_t *a, dagr_array_t *b, dagr_array_t **out);

/* Applies the registered kernel `kernel` to corresponding blocks of the n arrays (which must
 * have the same shape and chunks): one task per block, whose kernel sees the n blocks as its
 * inputs (dagr_kernel_input 0..n-1) and must output ONE block of the same shape as the blocks,
 * of dtype `dtype` (dagr_kernel_output); the result has the first array's chunks. A kernel
 * that outputs another shape or dtype makes the task fail at compute with a message naming the
 * kernel and both shapes. Errors: DAGR_EINVAL (n < 1, NULL arrays or out, operands of other
 * contexts or chunked differently: names the operand; unsupported dtype; bad kernel name),
 * DAGR_EUNKNOWN_KERNEL (no kernel of that name is registered: named in the message; checked
 * here, before any task runs), DAGR_ENOMEM. */
int dagr_array_map_blocks(const char *kernel, int n, dagr_array_t *const *arrays, int dtype,
                          dagr_array_t **out);

/* Boundary conditions of map_overlap at the array's outer edges, as dask's: NONE adds no ghost
 * cells there (edge blocks get less), CONSTANT pads with the given value, PERIODIC wraps around
 * to the other edge, REFLECT mirrors the edge including the edge cell itself (dask's 'reflect',
 * which is numpy.pad's 'symmetric': x1 x0 | x0 x1 x2 ...). */
enum {
  DAGR_BOUNDARY_NONE = 0,
  DAGR_BOUNDARY_CONSTANT,
  DAGR_BOUNDARY_PERIODIC,
  DAGR_BOUNDARY_REFLECT
};

/* dask's map_overlap: each block is extended by depth[axis] cells of its neighbours on each side
 * (depth NULL: 0 on every axis; at the outer edges as `boundary` says, `constant` for
 * DAGR_BOUNDARY_CONSTANT), the registered kernel `kernel` runs on the extended block (its only
 * input) and must output a block of the same extended shape and of dtype `dtype`, and the ghost
 * cells are trimmed off again. The result has a's chunks. Two tasks per block (extend + run the
 * kernel, trim). The built-in 2-D stencils "array.star_stencil" (radius 2: 0.25 x the 4
 * neighbours at distance 1 + 0.125 x the 4 at distance 2 - 1.5 x the centre) and
 * "array.smooth5" (radius 1: the mean of the centre and its 4 neighbours), which compute the
 * interior of the extended block and leave its outermost `radius` cells 0 (so with boundary
 * NONE the result is 0 within `radius` of the array's edges, as dask gives), run FUSED when
 * every depth is at least their radius: one task per block reading only the block and its face
 * neighbours, with no extended copy. Errors: DAGR_EINVAL (a or out NULL, unsupported dtype,
 * unknown boundary, a negative depth, a depth larger than the smallest chunk along its axis:
 * names the axis, as dask requires; a built-in stencil on an array that is not 2-D float32 or
 * float64 or with another output dtype; bad kernel name), DAGR_EUNKNOWN_KERNEL (kernel not
 * registered: named in the message, checked here), DAGR_ENOMEM. */
int dagr_array_map_overlap(const char *kernel, dagr_array_t *a, const int64_t *depth, int boundary,
                           double constant, int dtype, dagr_array_t **out);

/* ---- results ---------------------------------------------------------------------------- */
/* Computes a into one C-ordered buffer on the driver (result->data; release with
 * dagr_result_release). */
int dagr_array_compute(dagr_array_t *a, dagr_result_t *result);

/* Writes a to dataset of the HDF5 file path in parallel: each worker writes its chunks into its
 * own part file under PATH.parts/, then the driver creates PATH (or adds the dataset to an
 * existing PATH) as a virtual dataset over the parts, under a temporary name renamed at the end,
 * so PATH never looks complete before it is. Keep PATH.parts/ with PATH (`h5repack -l CONTI`
 * makes a self-contained copy). gzip_level 0 (none) to 9 adds shuffle + gzip. A 0-d array (a
 * full reduction) is computed on the driver and written as a scalar dataset (HDF5's scalar
 * dataspace, what h5py writes for a 0-d NumPy array), straight into PATH with the same
 * temporary-name protocol and no part files. Errors: DAGR_EINVAL (bad arguments), DAGR_EIO
 * (directory missing or not writable, PATH exists and is not HDF5), and those of dagr_get. */
int dagr_array_store(dagr_array_t *a, const char *path, const char *dataset, int gzip_level);

/* Tasks the array's graph has after the optimizations (culling, blockwise fusion, slicing
 * pushed into reads), without running it. */
int dagr_array_task_count(dagr_array_t *a, size_t *ntasks);

#ifdef __cplusplus
}
#endif
#endif /* DAGR_ARRAY_H */
