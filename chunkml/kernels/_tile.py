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

What keeps the loops vectorised on x86 (numba 0.68; the first two points measured on an
AVX2 EPYC, the last four on an AVX-512 Xeon, not yet on AMD):

- The running minimum is double-buffered: each sweep over the tile reads (best, label)
  from one pair of buffers and writes both to the other. Updated in place, the compiler
  turns ``best[i] = s if s < best[i] else best[i]`` into a masked store, which is
  microcoded on AMD CPUs (3-4x slower per row and candidate).
- Both operands of every select are loaded before it, so no load is conditional.
- A sweep compares the tile with four candidates at a time (`_sweep`), their
  coordinates loop constants and each row's running minimum in registers: one load and
  store of (best, label) per four candidates.
- The scores are exact squared distances, so that best[i] is the row's distance, which
  callers need, without a loop that gathers each row's center again.
- `load_tile` indexes with unsigned integers: numba wraps negative indices around, and
  where the compiler cannot rule them out the transposing loop becomes gathers.
- Reductions over a tile are sums and counts, never a running max: a max stops the
  compiler from vectorising the loop that holds it (see `lloyd._lloyd_tiled`).

A Lloyd block of 100k x 2 float64 rows (in L2) at k=3 on one thread of a 2-core Xeon
(Emerald Rapids): 5.1 ns a row before the last four points, 2.8 after them (BENCHMARKS.md).
"""

import numpy as np

from ._config import helper


@helper()
def load_tile(flat, start, m, n_features, shift, scale, out_tile):
    """Rows start:start+m of a C-ordered (n, n_features) array, given flattened, into
    out_tile[:, :m] (n_features, TILE_ROWS) float64, transposed, in the frame (shift, a
    (d,) float64 array or tuple, and scale): x' = (x - shift) * scale (see _rowwise.py)."""
    # Unsigned indices: with signed ones numba wraps negative indices around, which the
    # compiler cannot rule out here, and the loop becomes gathers (0.96 against 0.59 ns
    # a row at 2 features, on Intel AVX-512: the latter is a plain read's speed).
    width = np.uint64(n_features)
    base = np.uint64(start) * width
    for i in range(np.uint64(m)):
        for f in range(n_features):
            out_tile[f, i] = (flat[base + i * width + np.uint64(f)] - shift[f]) * scale


@helper()
def _coordinates(centers, j, n_features):
    """Center j's coordinates as four scalars, 0.0 past the tile's n_features."""
    return (centers[j, 0], centers[j, 1] if n_features > 1 else 0.0,
            centers[j, 2] if n_features > 2 else 0.0,
            centers[j, 3] if n_features > 3 else 0.0)


@helper()
def _closer(x0, x1, x2, x3, c0, c1, c2, c3, n_features, label, best, best_label):
    """(best, best_label) lowered to candidate c's squared distance and label where it
    is strictly smaller (an earlier candidate wins a tie)."""
    diff = x0 - c0
    score = diff * diff
    if n_features > 1:
        diff = x1 - c1
        score += diff * diff
    if n_features > 2:
        diff = x2 - c2
        score += diff * diff
    if n_features > 3:
        diff = x3 - c3
        score += diff * diff
    better = score < best
    return (score if better else best), (label if better else best_label)


@helper()
def _sweep(tile, m, width, centers, j, n_valid, label, src_best, src_label, dst_best,
           dst_label):
    """(best, label) of rows :m, from src_* into dst_*, lowered by candidates
    j..j+n_valid-1 (labels label, label + 1, ...; n_valid 1 to 4) in one loop over the
    rows: each row's running minimum stays in registers across them, and their
    coordinates are loop constants (width: the frame's shift as a tuple, whose length,
    the tile's feature count, is a compile-time constant).

    Fewer than four candidates: the last one fills the free places, with its own label,
    so that every sweep is the same loop (one loop to compile; four candidates in one
    sweep cost less than two in two sweeps). A copy never changes a row's label: it
    ties with the candidate it copies, and an equal distance does not move a row.
    """
    n_features = len(width)
    last = j + n_valid - 1
    jb = min(j + 1, last)
    jc = min(j + 2, last)
    jd = min(j + 3, last)
    la = label
    lb = label + (jb - j)
    lc = label + (jc - j)
    ld = label + (jd - j)
    a0, a1, a2, a3 = _coordinates(centers, j, n_features)
    b0, b1, b2, b3 = _coordinates(centers, jb, n_features)
    c0, c1, c2, c3 = _coordinates(centers, jc, n_features)
    d0, d1, d2, d3 = _coordinates(centers, jd, n_features)
    for i in range(m):
        x0 = tile[0, i]
        x1 = tile[1, i] if n_features > 1 else 0.0
        x2 = tile[2, i] if n_features > 2 else 0.0
        x3 = tile[3, i] if n_features > 3 else 0.0
        best, best_label = _closer(x0, x1, x2, x3, a0, a1, a2, a3, n_features, la,
                                   src_best[i], src_label[i])
        best, best_label = _closer(x0, x1, x2, x3, b0, b1, b2, b3, n_features, lb, best,
                                   best_label)
        best, best_label = _closer(x0, x1, x2, x3, c0, c1, c2, c3, n_features, lc, best,
                                   best_label)
        best, best_label = _closer(x0, x1, x2, x3, d0, d1, d2, d3, n_features, ld, best,
                                   best_label)
        dst_best[i] = best
        dst_label[i] = best_label


@helper()
def nearest_in_tile(tile, m, width, centers, first_label, best, label, spare_best,
                    spare_label):
    """Lower best[:m]/label[:m] to the squared distance and label of the nearest of
    `centers` where it is strictly closer.

    tile (n_features, >=m) float64 IN; width: the frame's shift as a tuple of
    n_features floats (only its length is read: see `_sweep`); centers (c, n_features)
    float64 IN; candidate j gets label first_label+j; best (>=m,) float64 and label
    (>=m,) int64 INOUT; spare_best, spare_label: scratch of the same sizes. On equal
    distances the earlier candidate (or the incoming label) wins.
    """
    n_candidates = centers.shape[0]
    n_sweeps = 0
    for j in range(0, n_candidates, 4):
        n_valid = min(4, n_candidates - j)
        # Alternate the buffers: updated in place, the compiler turns the store of a
        # select into a masked store, microcoded on AMD CPUs (see above).
        if n_sweeps % 2 == 0:
            _sweep(tile, m, width, centers, j, n_valid, first_label + j, best, label,
                   spare_best, spare_label)
        else:
            _sweep(tile, m, width, centers, j, n_valid, first_label + j, spare_best,
                   spare_label, best, label)
        n_sweeps += 1
    if n_sweeps % 2 == 1:
        for i in range(m):
            best[i] = spare_best[i]
            label[i] = spare_label[i]
