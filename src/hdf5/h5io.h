/* h5io.h: HDF5 I/O for dagr arrays: inspect, hyperslab reads, per-worker part files and the VDS. */
#ifndef DAGR_HDF5_H5IO_H
#define DAGR_HDF5_H5IO_H
#ifndef DAGR_BUILDING
#error "src/hdf5/h5io.h is private to libdagr"
/* Writes a whole (small) array held in memory as an ordinary contiguous dataset of final_path,
 * ndim 0 giving a scalar dataset (HDF5's scalar dataspace, as h5py writes a 0-d array), with
 * the same temporary-name, fsync and rename protocol as dagr__h5_assemble: final_path appears
 * or changes only once the dataset is complete, its other objects are kept, an object named
 * dataset is replaced. Errors: DAGR_EINVAL (bad arguments, unsupported dtype), DAGR_EIO
 * (final_path exists and is not HDF5, a write/fsync/rename failed). */
int dagr__h5_write_small(const char *final_path, const char *dataset, int dtype, int ndim,
                         const int64_t *shape, const void *data, char *err, size_t errlen);

#endif

#include <stddef.h>
#include <stdint.h>

#include "internal/common.h"

/* Every function returns a dagr status (DAGR_OK, DAGR_EINVAL for bad arguments, DAGR_EIO for
 * files that cannot be opened, read or written, DAGR_ENOENT for a missing dataset, DAGR_ETYPE
 * for an unsupported element type, DAGR_ENOMEM) and, on failure, writes a message naming the
 * file and dataset into err (may be NULL; truncated to errlen).
 *
 * Thread safety: Debian's HDF5 is not built thread-safe, so every HDF5 call in this module runs
 * under one process-wide mutex; all functions may be called from any thread. Other modules that
 * call HDF5 directly must hold the same mutex (dagr__h5_lock / dagr__h5_unlock).
 *
 * Dataset names may be given with or without the leading '/'; intermediate groups are created
 * when writing. Shapes are C order (last axis fastest); buffers are dense in that order. */

typedef struct dagr__h5_info {
  int dtype; /* DAGR_DTYPE_{FLOAT64,FLOAT32,INT64,INT32,UINT8,BOOL} */
  int ndim;  /* 0..DAGR_MAX_NDIM */
  int64_t shape[DAGR_MAX_NDIM];
  int64_t chunk[DAGR_MAX_NDIM]; /* the dataset's HDF5 chunk shape; all 0 if not chunked */
  int gzip;                     /* deflate filter present */
  int shuffle;                  /* shuffle filter present */
  int is_virtual;               /* the dataset is an HDF5 virtual dataset (VDS) */
} dagr__h5_info;

/* Serializes HDF5 use with this module (the mutex is not recursive: never call a dagr__h5_*
 * function while holding it). */
void dagr__h5_lock(void);
void dagr__h5_unlock(void);

/* Describes a dataset. Errors: DAGR_EIO (file missing, unreadable, not HDF5, truncated or
 * corrupt), DAGR_ENOENT (no such dataset), DAGR_ETYPE (the object is not a dataset, its element
 * type is not one dagr supports, or it has more than DAGR_MAX_NDIM dimensions). */
int dagr__h5_inspect(const char *path, const char *dataset, dagr__h5_info *info, char *err,
                     size_t errlen);

/* Reads the hyperslab start[i] + k*stride[i], k < count[i], of each axis into dst (dense,
 * prod(count) elements of dtype), converting from the file's type (HDF5 converts; a bool enum
 * reads only as DAGR_DTYPE_BOOL or integer types). stride may be NULL (all 1). ndim must equal
 * the dataset's rank. Errors as dagr__h5_inspect, plus DAGR_EINVAL for a hyperslab outside the
 * dataset or a rank mismatch. Open files and datasets are kept in a small per-process LRU cache
 * (16 entries, keyed by path and dataset) that reopens a file replaced or modified on disk
 * (device, inode, size or mtime changed). */
int dagr__h5_read(const char *path, const char *dataset, int ndim, const int64_t *start,
                  const int64_t *count, const int64_t *stride, int dtype, void *dst, char *err,
                  size_t errlen);

/* Closes every file this module holds open: the read cache and the part files (which are
 * flushed first). Call at finalize, and before another process must write a file read here. */
void dagr__h5_close_all(void);

/* ---------------------------------------------------------------------------------------------
 * Parallel store: per-worker part files joined by a virtual dataset (see the comment at the top
 * of h5io.c for the design and its trade-off).
 *
 *   worker rank r, for each of its blocks:  dagr__h5_part_write(part_path(FINAL, r), ...)
 *   every worker, once its blocks are done:  dagr__h5_part_close(part_path(FINAL, r))
 *   one rank, after all workers closed:      dagr__h5_assemble(FINAL, ...)
 *
 * The output FINAL is a small file holding a virtual dataset whose data live in the part files
 * FINAL.parts/rank-N.h5 (referenced by relative path): they must be kept, moved or copied with
 * FINAL. `h5repack -l CONTI FINAL single.h5` (hdf5-tools) writes a self-contained copy.
 * ------------------------------------------------------------------------------------------- */

/* One block of the output and the part file holding it (the same region of the same dataset
 * name, in a dataset of the full shape). */
typedef struct dagr__h5_block {
  int64_t start[DAGR_MAX_NDIM];
  int64_t count[DAGR_MAX_NDIM];
  const char *part_path;
} dagr__h5_block;

/* Writes "<final_path>.parts/rank-<rank>.h5" into buf. Errors: DAGR_EINVAL (NULL argument,
 * empty final_path, rank < 0, buf too small). */
int dagr__h5_part_path(const char *final_path, int rank, char *buf, size_t len);

/* Writes a fresh temporary name "<final_path>.tmp-<pid>-<16 hex random>" (same directory, so
 * rename() is atomic) into buf. Errors: DAGR_EINVAL (NULL, buf too small). */
int dagr__h5_temp_path(const char *final_path, char *buf, size_t len);

/* Writes the block start/count (dense src of prod(count) elements of dtype) into dataset of the
 * part file, creating the part file (and its directory, one level) and the dataset if missing:
 * full_shape, chunked with chunk_shape (clamped to the shape), shuffle + deflate gzip_level when
 * gzip_level is 1..9, fill value 0, incremental allocation. An existing dataset must have the
 * same dtype and shape. The part file stays open in a per-process cache until
 * dagr__h5_part_close, so many blocks append cheaply. Errors: DAGR_EINVAL, DAGR_EIO, DAGR_ETYPE
 * (existing dataset of another dtype or shape). */
int dagr__h5_part_write(const char *part_path, const char *dataset, int dtype, int ndim,
                        const int64_t *full_shape, const int64_t *chunk_shape, int gzip_level,
                        const int64_t *start, const int64_t *count, const void *src, char *err,
                        size_t errlen);

/* Flushes and closes the part file (no-op if this process has not opened it). The file stays
 * locked by HDF5 while open: close it before another process reads the output. */
int dagr__h5_part_close(const char *part_path, char *err, size_t errlen);

/* Creates final_path:dataset as a virtual dataset of dtype and shape that maps each block to the
 * same region of `dataset` in block.part_path. Every part file is checked first (exists, holds
 * the dataset with this dtype and shape) and fsync'ed. The VDS is written under a temporary
 * name in the same directory, fsync'ed and renamed over final_path, so final_path appears (or
 * changes) only once complete. If final_path is already an HDF5 file, it is copied to the
 * temporary name first and its other objects are kept; an existing object named `dataset` is
 * replaced. On any error the temporary file is removed and final_path is left untouched.
 * Blocks with a zero count are skipped; regions not covered by any block read as 0.
 * Errors: DAGR_EINVAL (bad arguments, a block outside the shape), DAGR_EIO (a part file missing
 * or unreadable, final_path exists and is not HDF5, a write/fsync/rename failed), DAGR_ENOENT
 * (a part file lacks the dataset), DAGR_ETYPE (a part dataset of another dtype or shape). */
int dagr__h5_assemble(const char *final_path, const char *dataset, int dtype, int ndim,
                      const int64_t *shape, size_t nblocks, const dagr__h5_block *blocks, char *err,
                      size_t errlen);

/* Writes a whole (small) array held in memory as an ordinary contiguous dataset of final_path,
 * ndim 0 giving a scalar dataset (HDF5's scalar dataspace, as h5py writes a 0-d array), with
 * the same temporary-name, fsync and rename protocol as dagr__h5_assemble: final_path appears
 * or changes only once the dataset is complete, its other objects are kept, an object named
 * dataset is replaced. Errors: DAGR_EINVAL (bad arguments, unsupported dtype), DAGR_EIO
 * (final_path exists and is not HDF5, a write/fsync/rename failed). */
int dagr__h5_write_small(const char *final_path, const char *dataset, int dtype, int ndim,
                         const int64_t *shape, const void *data, char *err, size_t errlen);

#endif
