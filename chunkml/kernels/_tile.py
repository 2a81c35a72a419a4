"""Building blocks for kernels that work a tile of rows at a time, rows innermost.

For few features a row is too short to vectorise over, so these functions hold a tile of
TILE_ROWS rows transposed, (n_features, rows), and loop over its rows innermost, where the
compiler can use SIMD lanes. The kernels take the frame's shift as a tuple (``tile_shift``),
whose length numba knows at compile time: n_features = len(tile_shift) from 1 to 4 (see
`_dispatch.tile_case`) is then a constant, each width an ordinary signature compiled (or
loaded from the cache) the first time a block of that width comes, and the compiler
unrolls the feature loop. With a run-time row length the same loops are slower than the
row-by-row kernels (measured at 5, 6 and 8 features), so kernels use tiles only up to 4
features.

Two details keep the loops vectorised on x86 (measured on AVX2 EPYC, numba 0.68):

- The running minimum is double-buffered: each candidate reads (best, label) from one
  pair of buffers and writes both to the other. Updated in place, the compiler turns
  ``best[i] = s if s < best[i] else best[i]`` into a masked store, which is microcoded on
  AMD CPUs (3-4x slower per row and candidate).
- Both operands of every select are loaded before it, so no load is conditional.
"""

from numba import njit

from ._config import CACHE, FASTMATH


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def load_tile(flat, start, m, n_features, shift, scale, out_tile):
    """Rows start:start+m of a C-ordered (n, n_features) array, given flattened, into
    out_tile[:, :m] (n_features, TILE_ROWS) float64, transposed, in the frame (shift, a
    (d,) float64 array or tuple, and scale): x' = (x - shift) * scale (see _rowwise.py)."""
    base = start * n_features
    for i in range(m):
        for f in range(n_features):
            out_tile[f, i] = (flat[base + i * n_features + f] - shift[f]) * scale


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _candidate_step(tile, m, n_features, centers, offset, exact, j, label, src_best,
                    src_label, dst_best, dst_label):
    """(best, label) of rows :m updated with candidate j, from src_* into dst_*.

    exact: the score is the squared distance sum((x - c)^2); otherwise it is
    offset[j] - 2 x.c with offset = ||c||^2, which ranks centers the same way.
    """
    base = 0.0 if exact else offset[j]
    for i in range(m):
        score = base
        for f in range(n_features):
            if exact:
                diff = tile[f, i] - centers[j, f]
                score += diff * diff
            else:
                score -= 2.0 * centers[j, f] * tile[f, i]
        best = src_best[i]
        current = src_label[i]
        better = score < best
        dst_best[i] = score if better else best
        dst_label[i] = label if better else current


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def nearest_in_tile(tile, m, n_features, centers, offset, exact, first_label, best, label,
                    spare_best, spare_label):
    """Lower best[:m]/label[:m] to the nearest of `centers` where it is closer.

    tile (n_features, >=m) float64 IN; centers (c, n_features) float64 IN; offset (c,)
    float64 IN (||c||^2, read only when not exact); candidate j gets label first_label+j;
    best (>=m,) float64 and label (>=m,) int64 INOUT; spare_best, spare_label: scratch of
    the same sizes. On equal scores the earlier candidate (or the incoming label) wins.
    """
    n_candidates = centers.shape[0]
    for j in range(0, n_candidates - 1, 2):
        _candidate_step(tile, m, n_features, centers, offset, exact, j, first_label + j,
                        best, label, spare_best, spare_label)
        _candidate_step(tile, m, n_features, centers, offset, exact, j + 1,
                        first_label + j + 1, spare_best, spare_label, best, label)
    if n_candidates % 2 == 1:
        j = n_candidates - 1
        _candidate_step(tile, m, n_features, centers, offset, exact, j, first_label + j,
                        best, label, spare_best, spare_label)
        for i in range(m):
            best[i] = spare_best[i]
            label[i] = spare_label[i]
