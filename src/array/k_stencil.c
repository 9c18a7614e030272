/* k_stencil.c: several sweeps of a built-in star stencil on one block in one pass (temporal
 * blocking). */
#include <stdlib.h>
#include <string.h>

#include "array/array_impl.h"
#include "array/stencil.h"

/* Why: each map_overlap sweep of a stencil reads and writes the whole array once, so K sweeps
 * cost K round trips through memory while the arithmetic per point is tiny. The lowering turns
 * a chain of K map_overlap sweeps of the same built-in stencil (boundary none) into ONE task per
 * block: it reads the block plus K*radius ghost rows and columns from its 8 neighbours and runs
 * the K sweeps as a pipeline over rows. Sweep s keeps only the last 2*radius+1 rows it produced
 * in a ring buffer (a few KiB per row), and produces row q as soon as sweep s-1 has produced row
 * q + radius; rows stream through all K sweeps while they are in cache, and the block's memory is
 * read once and written once. The ghost region is recomputed by both neighbouring blocks (about
 * 2*K*radius/chunk extra work per axis), the price for needing no exchange between sweeps.
 *
 * Semantics are exactly those of K separate sweeps: each sweep is the stencil on the whole array
 * with the outermost `radius` rows and columns set to 0 (dask's map_overlap with boundary "none"
 * and a kernel that zeroes what it cannot compute), and every point is computed by the same
 * arithmetic in the same order, so results are bit-identical to sweeping K times.
 *
 * Params: stencil (index in dagr__stencils), sweeps K, goff (the block's global offset), gshape
 * (the array's shape), inmap (9 entries: for neighbour position (dy+1)*3 + (dx+1), dy,dx in
 * -1..1, the input holding that neighbour block, or -1 when no ghost cells come from there). */

#define K_SWEEPS "array.stencil_sweeps"

/* The sweeps are compute-bound once they stay in cache, so they are built for several vector
 * widths and the loader picks the widest the CPU has (GCC/clang function multi-versioning on
 * x86-64; elsewhere one generic version). */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define DAGR__SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef DAGR__SIMD_CLONES
#define DAGR__SIMD_CLONES
#endif

typedef struct sw_geom {
  int r, K;
  int64_t h, w;   /* centre block shape */
  int64_t gy, gx; /* its global offset */
  int64_t H, W;   /* array shape */
  int64_t y0, y1; /* rows of the tile read (global) */
  int64_t x0, x1; /* columns of the tile read (global) */
} sw_geom;

#define SWEEPS(T)                                                                                  \
  /* Stage-0 row y (global) of the tile: the left ghost columns, the centre block's row and the    \
   * right ghost columns, from the block band (above, same, below) that holds row y. */            \
  static void tile_row_##T(const sw_geom *g, const dagr_view_t *const *nb, int64_t y, T *dst) {    \
    int band = y < g->gy ? 0 : y < g->gy + g->h ? 1 : 2;                                           \
    const dagr_view_t *l = nb[band * 3], *c = nb[band * 3 + 1], *rt = nb[band * 3 + 2];            \
    int64_t row = band == 0   ? c->shape[0] - (g->gy - y)                                          \
                  : band == 1 ? y - g->gy                                                          \
                              : y - g->gy - g->h;                                                  \
    int64_t nl = g->gx - g->x0, nr = g->x1 - g->gx - g->w;                                         \
    if (nl > 0)                                                                                    \
      memcpy(dst, (const T *)l->data + row * l->shape[1] + (l->shape[1] - nl),                     \
             sizeof(T) * (size_t)nl);                                                              \
    memcpy(dst + nl, (const T *)c->data + row * g->w, sizeof(T) * (size_t)g->w);                   \
    if (nr > 0)                                                                                    \
      memcpy(dst + nl + g->w, (const T *)rt->data + row * rt->shape[1], sizeof(T) * (size_t)nr);   \
  }                                                                                                \
                                                                                                   \
  DAGR__SIMD_CLONES static int sweeps_##T(const sw_geom *g, const dagr__stencil_def *s,            \
                                          const dagr_view_t *const *nb, T *out) {                  \
    const int r = g->r, K = g->K, nring = 2 * r + 1;                                               \
    const int64_t pw = g->x1 - g->x0;                                                              \
    const T w0 = (T)s->w0, w1 = (T)s->w1, w2 = (T)s->w2;                                           \
    /* ring[s] holds the last nring rows of sweep s (s = 0: the input), row y at slot y % nring.   \
     */                                                                                            \
    T *ring = calloc((size_t)K * (size_t)nring * (size_t)pw, sizeof(T));                           \
    int64_t *a = malloc(sizeof(int64_t) * 2 * (size_t)(K + 1));                                    \
    if (!ring || !a) {                                                                             \
      free(ring);                                                                                  \
      free(a);                                                                                     \
      return DAGR_ENOMEM;                                                                          \
    }                                                                                              \
    int64_t *b = a + K + 1;                                                                        \
    /* Rows sweep s can produce: each sweep loses `r` rows on a side that has ghost rows, none on  \
     * a side at the array's edge (there the frame rows are 0 whatever the input). */              \
    a[0] = g->y0;                                                                                  \
    b[0] = g->y1;                                                                                  \
    for (int q = 1; q <= K; q++) {                                                                 \
      a[q] = a[q - 1] == 0 ? 0 : a[q - 1] + r;                                                     \
      b[q] = b[q - 1] == g->H ? g->H : b[q - 1] - r;                                               \
    }                                                                                              \
    /* Columns every sweep computes (tile-local); the frame columns at the array's edges are 0. */ \
    const int64_t c0 = (g->x0 + r > r ? g->x0 + r : r) - g->x0;                                    \
    const int64_t c1 = (g->x1 - r < g->W - r ? g->x1 - r : g->W - r) - g->x0;                      \
    const int64_t fl = g->x0 < r ? r - g->x0 : 0;                 /* left frame columns */         \
    const int64_t fr = g->x1 > g->W - r ? g->x1 - (g->W - r) : 0; /* right frame columns */        \
    /* The last sweep writes the block's columns straight into the output. */                      \
    const int64_t off = g->gx - g->x0;                                                             \
    int64_t o0 = (g->gx > r ? g->gx : r) - g->gx;                                                  \
    int64_t o1 = (g->gx + g->w < g->W - r ? g->gx + g->w : g->W - r) - g->gx;                      \
    if (o1 < o0) o1 = o0;                                                                          \
    for (int64_t t = g->y0; t < g->y1 + (int64_t)K * r; t++) {                                     \
      if (t < g->y1) tile_row_##T(g, nb, t, ring + (size_t)(t % nring) * (size_t)pw);              \
      for (int q = 1; q <= K; q++) {                                                               \
        int64_t y = t - (int64_t)q * r;                                                            \
        if (y < a[q] || y >= b[q]) continue;                                                       \
        int last = q == K;                                                                         \
        if (last && (y < g->gy || y >= g->gy + g->h)) continue;                                    \
        T *dst = last ? out + (y - g->gy) * g->w                                                   \
                      : ring + ((size_t)q * (size_t)nring + (size_t)(y % nring)) * (size_t)pw;     \
        if (y < r || y >= g->H - r) {                                                              \
          memset(dst, 0, sizeof(T) * (size_t)(last ? g->w : pw));                                  \
          continue;                                                                                \
        }                                                                                          \
        const T *prev = ring + (size_t)(q - 1) * (size_t)nring * (size_t)pw;                       \
        const T *c = prev + (size_t)(y % nring) * (size_t)pw, *up[2] = {c, c}, *dn[2] = {c, c};    \
        for (int d = 0; d < r; d++) {                                                              \
          up[d] = prev + (size_t)((y - d - 1) % nring) * (size_t)pw;                               \
          dn[d] = prev + (size_t)((y + d + 1) % nring) * (size_t)pw;                               \
        }                                                                                          \
        if (last) {                                                                                \
          const T *cs = c + off, *us[2] = {up[0] + off, up[r - 1] + off},                          \
                  *ds[2] = {dn[0] + off, dn[r - 1] + off};                                         \
          for (int64_t j = 0; j < o0; j++) dst[j] = 0;                                             \
          star_row_##T(dst, cs, us, ds, r, w0, w1, w2, o0, o1);                                    \
          for (int64_t j = o1; j < g->w; j++) dst[j] = 0;                                          \
        } else {                                                                                   \
          for (int64_t j = 0; j < fl; j++) dst[j] = 0;                                             \
          star_row_##T(dst, c, up, dn, r, w0, w1, w2, c0, c1);                                     \
          for (int64_t j = pw - fr; j < pw; j++) dst[j] = 0;                                       \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
    free(ring);                                                                                    \
    free(a);                                                                                       \
    return DAGR_OK;                                                                                \
  }
SWEEPS(float)
SWEEPS(double)

static int k_sweeps(dagr_kctx_t *k) {
  int64_t si, K;
  const int64_t *goff, *gshape, *inmap;
  size_t n1, n2, n3;
  if (dagr_kernel_param_int(k, "stencil", &si) || si < 0 || si >= DAGR__NSTENCILS ||
      dagr_kernel_param_int(k, "sweeps", &K) || K < 1 || K > 1024 ||
      dagr_kernel_param_int_array(k, "goff", &goff, &n1) || n1 != 2 ||
      dagr_kernel_param_int_array(k, "gshape", &gshape, &n2) || n2 != 2 ||
      dagr_kernel_param_int_array(k, "inmap", &inmap, &n3) || n3 != 9)
    return dagr_kernel_fail(k, K_SWEEPS ": bad parameters");
  const dagr__stencil_def *s = &dagr__stencils[si];
  int nin = dagr_kernel_ninputs(k);
  if (nin > 9 || inmap[4] < 0) return dagr_kernel_fail(k, K_SWEEPS ": bad inputs");
  dagr_view_t views[9];
  const dagr_view_t *nb[9] = {NULL};
  for (int i = 0; i < nin; i++)
    if (dagr_kernel_input(k, i, &views[i]) != DAGR_OK)
      return dagr_kernel_fail(k, K_SWEEPS ": cannot read input %d", i);
  for (int p = 0; p < 9; p++) {
    if (inmap[p] >= nin)
      return dagr_kernel_fail(k, K_SWEEPS ": neighbour map names a missing input");
    if (inmap[p] >= 0) nb[p] = &views[inmap[p]];
  }
  const dagr_view_t *cv = nb[4];
  if (cv->ndim != 2 || (cv->dtype != DAGR_DTYPE_FLOAT32 && cv->dtype != DAGR_DTYPE_FLOAT64))
    return dagr_kernel_fail(k, "%s: needs a 2-D float32 or float64 array", s->name);
  sw_geom g = {.r = s->radius,
               .K = (int)K,
               .h = cv->shape[0],
               .w = cv->shape[1],
               .gy = goff[0],
               .gx = goff[1],
               .H = gshape[0],
               .W = gshape[1]};
  int64_t halo = K * s->radius;
  g.y0 = g.gy - halo > 0 ? g.gy - halo : 0;
  g.x0 = g.gx - halo > 0 ? g.gx - halo : 0;
  g.y1 = g.gy + g.h + halo < g.H ? g.gy + g.h + halo : g.H;
  g.x1 = g.gx + g.w + halo < g.W ? g.gx + g.w + halo : g.W;
  if (g.gy < 0 || g.gx < 0 || g.gy + g.h > g.H || g.gx + g.w > g.W)
    return dagr_kernel_fail(k, K_SWEEPS ": block outside the array");
  /* Every neighbour the tile reaches must be present, match the centre's dtype and extent along
   * the shared side, and be deep enough for the ghost cells. */
  int64_t need_r[3] = {g.gy - g.y0, g.h, g.y1 - g.gy - g.h};
  int64_t need_c[3] = {g.gx - g.x0, g.w, g.x1 - g.gx - g.w};
  for (int p = 0; p < 9; p++) {
    int py = p / 3, px = p % 3;
    if (need_r[py] == 0 || need_c[px] == 0) continue;
    const dagr_view_t *v = nb[p];
    if (!v || v->ndim != 2 || v->dtype != cv->dtype ||
        (py == 1 ? v->shape[0] != g.h : v->shape[0] < need_r[py]) ||
        (px == 1 ? v->shape[1] != g.w : v->shape[1] < need_c[px]))
      return dagr_kernel_fail(k, K_SWEEPS ": neighbour block %d does not fit the ghost region", p);
  }
  size_t es = dagr_dtype_size(cv->dtype);
  void *out;
  if (dagr_kernel_output(k, (size_t)(g.h * g.w) * es, cv->dtype, 2, cv->shape, &out))
    return dagr_kernel_fail(k, K_SWEEPS ": no room for the output");
  if (g.h == 0 || g.w == 0) return DAGR_OK;
  int rc = cv->dtype == DAGR_DTYPE_FLOAT32 ? sweeps_float(&g, s, nb, out)
                                           : sweeps_double(&g, s, nb, out);
  if (rc) return dagr_kernel_fail(k, K_SWEEPS ": out of memory for %d row buffers", (int)K);
  return DAGR_OK;
}

__attribute__((constructor)) static void k_stencil_register(void) {
  (void)dagr_kernel_register(K_SWEEPS, k_sweeps);
}
