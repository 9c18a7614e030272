/* stencil.h: the built-in star stencils (weights, radius) and their vectorized row loops, shared
 * by the one-sweep and the multi-sweep (temporally blocked) map_overlap kernels. */
#ifndef DAGR_ARRAY_STENCIL_H
#define DAGR_ARRAY_STENCIL_H
#ifndef DAGR_BUILDING
#error "src/array/stencil.h is private to libdagr"
#endif

#include <stdint.h>

#define DAGR__K_STAR    "array.star_stencil"
#define DAGR__K_SMOOTH5 "array.smooth5"

/* A star stencil: o = w0*c + w1*(4 neighbours at distance 1) + w2*(4 at distance 2); radius 1
 * or 2. Outside the array (boundary none) the outermost `radius` rows and columns are 0. */
typedef struct dagr__stencil_def {
  const char *name;
  int radius;
  double w0, w1, w2;
} dagr__stencil_def;

static const dagr__stencil_def dagr__stencils[] = {{DAGR__K_STAR, 2, -1.5, 0.25, 0.125},
                                                   {DAGR__K_SMOOTH5, 1, 0.2, 0.2, 0.0}};
#define DAGR__NSTENCILS ((int)(sizeof dagr__stencils / sizeof dagr__stencils[0]))

/* One output row of a star stencil for columns [j0, j1): c is the centre row, up[k]/dn[k] the
 * rows at distance k+1 above/below (same columns), cm(k)/cp(k) the horizontal neighbours read
 * through the row itself (the caller guarantees j0 - r >= 0 and j1 + r <= w). */
#define STAR_ROW(T)                                                                                \
  static inline void star_row_##T(T *restrict o, const T *restrict c, const T *const *up,          \
                                  const T *const *dn, int r, T w0, T w1, T w2, int64_t j0,         \
                                  int64_t j1) {                                                    \
    if (r == 2) {                                                                                  \
      /* restrict: the rows never alias the output, so the loop vectorizes. */                     \
      const T *restrict u1 = up[0], *restrict u2 = up[1], *restrict d1 = dn[0],                    \
                        *restrict d2 = dn[1];                                                      \
      _Pragma("omp simd") for (int64_t j = j0; j < j1; j++) o[j] =                                 \
          w1 * (c[j + 1] + c[j - 1] + d1[j] + u1[j]) +                                             \
          w2 * (c[j + 2] + c[j - 2] + d2[j] + u2[j]) + w0 * c[j];                                  \
    } else {                                                                                       \
      const T *restrict u1 = up[0], *restrict d1 = dn[0];                                          \
      _Pragma("omp simd") for (int64_t j = j0; j < j1; j++) o[j] =                                 \
          w1 * (c[j + 1] + c[j - 1] + d1[j] + u1[j]) + w0 * c[j];                                  \
    }                                                                                              \
  }
STAR_ROW(float)
STAR_ROW(double)

/* The same for one column j where the horizontal neighbours come from h (h[k] = value at column
 * j - r + k, k in 0..2r). */
#define STAR_ONE(T)                                                                                \
  static inline T star_one_##T(const T *h, const T *const *up, const T *const *dn, int64_t j,      \
                               int r, T w0, T w1, T w2) {                                          \
    T s1 = w1 * (h[r + 1] + h[r - 1] + dn[0][j] + up[0][j]);                                       \
    if (r == 2) return s1 + w2 * (h[r + 2] + h[r - 2] + dn[1][j] + up[1][j]) + w0 * h[r];          \
    return s1 + w0 * h[r];                                                                         \
  }
STAR_ONE(float)
STAR_ONE(double)

#endif
