"""Assignment kernels: nearest center, its squared distance, distances to all centers.

Every kernel that measures distances takes a frame (shift, scale): it reads row x of X as
x' = (x - shift) * scale, in float64, and takes the centers in those units. The caller
picks the frame so that the rows are about unit size around the origin (scale a power of
two, so it is exact): ||c||^2 - 2 x.c then neither overflows nor cancels, however far
from the origin or however large or small the data. The identity frame is (zeros, 1.0).
"""

import numpy as np
from numba import njit, prange

from ._config import CACHE, CHUNK_ROWS, FASTMATH, MAX_CHUNKS, TILE_ROWS
from ._tile import MAX_TILE_FEATURES, load_tile, nearest_in_tile, tile_case


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH, inline="always")
def nearest_center(X, i, centers, centers_sqnorm):
    """Index of the center nearest to row i of X.

    Compares ||c||^2 - 2 x.c: ||x||^2 is the same for every center, so it is not needed.
    """
    n_clusters, n_features = centers.shape
    best = np.inf
    best_j = 0
    for j in range(n_clusters):
        dot = 0.0
        for f in range(n_features):
            dot += X[i, f] * centers[j, f]
        score = centers_sqnorm[j] - 2.0 * dot
        # Selects, not a branch: which center wins is data-dependent and unpredictable,
        # and a mispredicted branch per center costs more than the arithmetic (3x at d=2).
        better = score < best
        best = score if better else best
        best_j = j if better else best_j
    return best_j


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def squared_distance(X, i, shift, scale, centers, j):
    """Exact squared euclidean distance between row i of X, in the frame (shift, scale),
    and center j (float64)."""
    dist = 0.0
    for f in range(X.shape[1]):
        diff = (X[i, f] - shift[f]) * scale - centers[j, f]
        dist += diff * diff
    return dist


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def load_rows(X, start, stop, shift, scale, out_rows):
    """Rows start:stop of X in the frame (shift, scale) into out_rows[:stop - start]
    ((>= stop - start, d) float64 OUT)."""
    for i in range(start, stop):
        for f in range(X.shape[1]):
            out_rows[i - start, f] = (X[i, f] - shift[f]) * scale


def assign_labels(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist):
    """Label every row with its nearest center and that center's squared distance.

    X (n, d) float32|float64 IN; shift (d,) float64 and scale (float) IN, the frame (see
    the module docstring); centers (k, d) float64 IN, in that frame; centers_sqnorm (k,)
    float64 IN; out_labels (n,) int32|int64 OUT (overwritten); out_mindist (n,) float64
    OUT (overwritten), in the frame's units. A row holding NaN gets label 0 and a NaN
    distance. Runs the numba kernel compiled for X's width (see `_tile.tile_case`).
    """
    _KERNELS[tile_case(X.shape[1])][0](X, shift, scale, centers, centers_sqnorm, out_labels,
                                       out_mindist)


def assign_labels_parallel(X, shift, scale, centers, centers_sqnorm, out_labels,
                           out_mindist):
    """In-memory variant of `assign_labels`, parallel over fixed row chunks."""
    _KERNELS[tile_case(X.shape[1])][1](X, shift, scale, centers, centers_sqnorm, out_labels,
                                       out_mindist)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def assign_rows(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist):
    """`assign_labels` row by row (for many features, and for callers in numba code:
    `assign_labels` itself picks a compiled case in Python)."""
    rows = np.empty((TILE_ROWS, X.shape[1]))
    for start in range(0, X.shape[0], TILE_ROWS):
        stop = min(start + TILE_ROWS, X.shape[0])
        load_rows(X, start, stop, shift, scale, rows)
        for i in range(start, stop):
            j = nearest_center(rows, i - start, centers, centers_sqnorm)
            out_labels[i] = j
            dist = 0.0
            for f in range(X.shape[1]):
                diff = rows[i - start, f] - centers[j, f]
                dist += diff * diff
            out_mindist[i] = dist


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _assign_tiled(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist,
                  n_features):
    """`assign_labels` a transposed tile of rows at a time (see _tile.py); n_features is
    a literal."""
    flat = X.ravel()
    local_centers = centers.copy()
    local_sqnorm = centers_sqnorm.copy()
    tile = np.empty((n_features, TILE_ROWS))
    best = np.empty(TILE_ROWS)
    labels = np.empty(TILE_ROWS, dtype=np.int64)
    spare_best = np.empty(TILE_ROWS)
    spare_labels = np.empty(TILE_ROWS, dtype=np.int64)
    for start in range(0, X.shape[0], TILE_ROWS):
        m = min(TILE_ROWS, X.shape[0] - start)
        load_tile(flat, start, m, n_features, shift, scale, tile)
        for i in range(m):
            best[i] = np.inf
            labels[i] = 0
        nearest_in_tile(tile, m, n_features, local_centers, local_sqnorm, False, 0, best,
                        labels, spare_best, spare_labels)
        for i in range(m):
            j = labels[i]
            d2 = 0.0
            for f in range(n_features):
                diff = tile[f, i] - local_centers[j, f]
                d2 += diff * diff
            out_labels[start + i] = j
            out_mindist[start + i] = d2


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def euclidean_distances(X, shift, scale, centers, out):
    """Euclidean distance from every row to every center, in X's units.

    X (n, d) float32|float64 IN; shift (d,) float64, scale (float) IN: the frame;
    centers (k, d) float64 IN, in that frame; out (n, k) float32|float64 OUT
    (overwritten): the frame's distances divided by scale.
    """
    for i in range(X.shape[0]):
        for j in range(centers.shape[0]):
            out[i, j] = np.sqrt(squared_distance(X, i, shift, scale, centers, j)) / scale


@njit(nogil=True, cache=CACHE)
def chunk_bounds(n_samples):
    """Rows per chunk for the in-memory parallel variants; depends on n_samples only."""
    n_chunks = min(max((n_samples + CHUNK_ROWS - 1) // CHUNK_ROWS, 1), MAX_CHUNKS)
    return n_chunks, (n_samples + n_chunks - 1) // n_chunks


@njit(nogil=True, parallel=True, cache=CACHE, fastmath=FASTMATH)
def euclidean_distances_parallel(X, shift, scale, centers, out):
    """In-memory variant of `euclidean_distances`, parallel over fixed row chunks."""
    n_chunks, rows = chunk_bounds(X.shape[0])
    for c in prange(n_chunks):
        start = c * rows
        stop = min(start + rows, X.shape[0])
        euclidean_distances(X[start:stop], shift, scale, centers, out[start:stop])


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _assign_block(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist, case):
    """`assign_labels` for a tile case, called with a constant `case` (so numba compiles
    it for that literal): 0 row by row, else tiled with that width."""
    if case == 0:
        assign_rows(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist)
    else:
        _assign_tiled(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist,
                      case)


def _specialise(case):
    """(serial, parallel) assign kernels for one tile case, compiled (or loaded) on their
    first call; the closures hold only the integer `case` (see lloyd._specialise)."""

    @njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
    def serial(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist):
        _assign_block(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist,
                      case)

    @njit(nogil=True, parallel=True, cache=CACHE, fastmath=FASTMATH)
    def parallel(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist):
        n_chunks, rows = chunk_bounds(X.shape[0])
        for c in prange(n_chunks):
            start = c * rows
            stop = min(start + rows, X.shape[0])
            _assign_block(X[start:stop], shift, scale, centers, centers_sqnorm,
                          out_labels[start:stop], out_mindist[start:stop], case)

    return serial, parallel


_KERNELS = {case: _specialise(case) for case in range(MAX_TILE_FEATURES + 1)}
