"""Assignment kernels: nearest center, its squared distance, distances to all centers.

`assign_block` runs the method `_dispatch.py` chose (tiles, row by row, or matrix
products), `assign_parallel` runs it over row ranges on threads (_threads.py);
`distances_block` and `distances_parallel` compute every distance. The public entry
points are `kernels.assign_labels` and `kernels.euclidean_distances` (_ops.py). Every
kernel reads X in the caller's frame (see _rowwise.py).
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH, TILE_ROWS
from ._gemm_tile import nearest_tile, shifted_centers, tile_work
from ._rowwise import load_rows, nearest_center, squared_distance
from ._threads import over_rows
from ._tile import load_tile, nearest_in_tile


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def assign_rows(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist):
    """`kernels.assign_labels` row by row (for many features, and for callers in numba
    code, such as `minibatch.minibatch_step`)."""
    rows = np.empty((TILE_ROWS, X.shape[1]))
    keep = out_mindist.shape[0] > 0
    total = 0.0
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
            total += dist
            if keep:
                out_mindist[i] = dist
    return total


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _assign_tiled(X, scale, centers, out_labels, out_mindist, tile_shift):
    """`kernels.assign_labels` a transposed tile of rows at a time (see _tile.py); the
    frame's shift as a tuple, whose length is a compile-time constant."""
    n_features = len(tile_shift)
    flat = X.ravel()
    local_centers = centers.copy()
    # This tile loop is lloyd._lloyd_tiled's on purpose, not shared: see the comments there.
    tile = np.empty((n_features, TILE_ROWS))
    best = np.empty(TILE_ROWS)
    labels = np.empty(TILE_ROWS, dtype=np.int64)
    spare_best = np.empty(TILE_ROWS)
    spare_labels = np.empty(TILE_ROWS, dtype=np.int64)
    keep = out_mindist.shape[0] > 0
    total = 0.0
    for start in range(0, X.shape[0], TILE_ROWS):
        m = min(TILE_ROWS, X.shape[0] - start)
        load_tile(flat, start, m, n_features, tile_shift, scale, tile)
        for i in range(m):
            best[i] = np.inf
            labels[i] = 0
        nearest_in_tile(tile, m, tile_shift, local_centers, 0, best, labels, spare_best,
                        spare_labels)
        # Loops, not slice assignments (see _chunks.merge_chunk_partials).
        for i in range(m):
            out_labels[start + i] = labels[i]
            total += best[i]
        if keep:
            for i in range(m):
                out_mindist[start + i] = best[i]
    return total


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _assign_gemm(X, shift, scale, centers, out_labels, out_mindist, gemm_rows):
    """`kernels.assign_labels` by matrix products on tiles of gemm_rows rows; exact
    squared distances (see _gemm_tile.py)."""
    n_samples, n_features = X.shape
    local_centers = centers.copy()
    gemm_centers = shifted_centers(local_centers)
    work = tile_work(n_features, centers.shape[0], gemm_rows)
    keep = out_mindist.shape[0] > 0
    total = 0.0
    for start in range(0, n_samples, gemm_rows):
        stop = min(start + gemm_rows, n_samples)
        labels = nearest_tile(X, start, stop, shift, scale, local_centers, gemm_centers,
                              work)
        for i in range(start, stop):
            out_labels[i] = labels[i - start]
            dist = squared_distance(X, i, shift, scale, local_centers, labels[i - start])
            total += dist
            if keep:
                out_mindist[i] = dist
    return total


def assign_block(X, shift, scale, centers, out_labels, out_mindist, centers_sqnorm,
                 tile_shift, gemm_rows):
    """`kernels.assign_labels` on one block by the method `_dispatch.py` chose: tiled
    when tile_shift is given and gemm_rows is None (one signature per width), by matrix
    products when gemm_rows > 0, else row by row. Returns the sum of the squared
    distances; out_mindist of size 0 keeps none of them. Python: each method's numba
    kernel is entered directly (a numba kernel branching between them compiled, for
    every signature, the code it inlined again; the same machine code either way)."""
    if tile_shift is not None:
        return _assign_tiled(X, scale, centers, out_labels, out_mindist, tile_shift)
    if gemm_rows:
        return _assign_gemm(X, shift, scale, centers, out_labels, out_mindist, gemm_rows)
    return assign_rows(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist)


# The numba kernel that holds each method's machine code (`_dispatch.Variant.dispatcher`).
assign_block.dispatchers = {"tiles": _assign_tiled, "gemm": _assign_gemm,
                            "rows": assign_rows}


def assign_parallel(X, shift, scale, centers, out_labels, out_mindist, centers_sqnorm,
                    tile_shift, gemm_rows):
    """In-memory variant of `assign_block` (the same results, bit for bit), parallel
    over row ranges that start on its tiles (`_threads.over_rows`); the sum of the
    distances adds the ranges' sums in row order."""
    keep = out_mindist.shape[0] > 0
    totals = {}

    def part(start, stop):
        totals[start] = assign_block(
            X[start:stop], shift, scale, centers, out_labels[start:stop],
            out_mindist[start:stop] if keep else out_mindist, centers_sqnorm, tile_shift,
            gemm_rows)

    over_rows(part, X.shape[0], gemm_rows or TILE_ROWS)
    return sum(totals[start] for start in sorted(totals))


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def distances_block(X, shift, scale, centers, out):
    """`kernels.euclidean_distances` on one block: the frame's distances divided by
    scale, in X's units."""
    for i in range(X.shape[0]):
        for j in range(centers.shape[0]):
            out[i, j] = np.sqrt(squared_distance(X, i, shift, scale, centers, j)) / scale


def distances_parallel(X, shift, scale, centers, out):
    """In-memory variant of `distances_block` (the same results), parallel over row
    ranges."""
    over_rows(lambda start, stop: distances_block(
        X[start:stop], shift, scale, centers, out[start:stop]), X.shape[0], 1)
