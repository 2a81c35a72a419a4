"""The fused Lloyd step: assign and accumulate in one read of a block."""

import numpy as np
from numba import njit, prange

from ._chunks import chunk_partials, merge_chunk_partials
from ._config import CACHE, FASTMATH, MASKED_MAX_CLUSTERS, TILE_ROWS
from ._moments import accumulate_moments, finish_moments
from ._tile import MAX_TILE_FEATURES, load_tile, nearest_in_tile, tile_case
from ._topk import decode_far, topk_finish, topk_push
from .assign import chunk_bounds, load_rows, nearest_center


def lloyd_partial_sums(X, shift, scale, centers, centers_sqnorm, sample_weight,
                       out_sums, out_weight, out_moments, out_far_dist, out_far_idx,
                       out_far_label):
    """Fused assign + accumulate for one block; returns the block's weighted inertia.

    Runs the numba kernel compiled for X's width (see `_tile.tile_case`). Every row x is
    read as x' = (x - shift) * scale (see assign.py), and every output is in those units.

    Parameters
    ----------
    X : (n, d) float32|float64, IN. May have 0 rows.
    shift : (d,) float64, IN; scale : float, a power of two. The frame.
    centers : (k, d) float64, IN, in the frame.
    centers_sqnorm : (k,) float64, IN. Squared norms of `centers`.
    sample_weight : (n,) float64, IN; or (0,) meaning unit weights.
    out_sums : (k, d) float64, INOUT (added to): weighted sum of the rows x' of each
        cluster.
    out_weight : (k,) float64, INOUT (added to): total weight of each cluster.
    out_moments : (2, d) float64, OUT (overwritten): per-feature unweighted mean and sum of
        squared deviations (M2) of the block, for scikit-learn's variance-scaled tol; or
        (0, d) to skip them.
    out_far_dist, out_far_idx, out_far_label : (m,) float64 / int64 / int64, OUT
        (overwritten): the m rows farthest from their nearest center (squared distance,
        row index in the block, the label the row was summed under), largest first not
        guaranteed; unused slots hold -1. Empty clusters are relocated to these rows
        without another pass.

    Returns
    -------
    inertia : float
        Sum over rows of weight * squared distance to the nearest center (clamped at 0).
        NaN or inf in X makes it non-finite, which is how callers detect such input.
    """
    return _KERNELS[tile_case(X.shape[1])][0](
        X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums, out_weight,
        out_moments, out_far_dist, out_far_idx, out_far_label)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _finish(X, shift, scale, n_clusters, out_moments, out_far_dist, out_far_idx,
            out_far_label):
    """Complete a block's far-row heap (codes to rows and labels) and moments."""
    # Every row is offered while the heap has room, so it holds min(m, n) rows.
    topk_finish(out_far_dist, out_far_idx, min(out_far_dist.shape[0], X.shape[0]))
    decode_far(out_far_idx, out_far_label, n_clusters)
    if out_moments.shape[0] == 2:
        finish_moments(X, shift, scale, out_moments)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_tiled(X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums,
                 out_weight, out_moments, out_far_dist, out_far_idx, n_features):
    """`lloyd_partial_sums` for few features, a transposed tile of rows at a time (see
    _tile.py); n_features is a literal. Leaves the far-row heap unfinished and the
    moments as shifted sums."""
    n_samples = X.shape[0]
    n_clusters = centers.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    flat = X.ravel()
    local_centers = centers.copy()
    local_sqnorm = centers_sqnorm.copy()
    tile = np.empty((n_features, TILE_ROWS))
    best = np.empty(TILE_ROWS)
    labels = np.empty(TILE_ROWS, dtype=np.int64)
    spare_best = np.empty(TILE_ROWS)
    spare_labels = np.empty(TILE_ROWS, dtype=np.int64)
    dist = np.empty(TILE_ROWS)
    w = np.ones(TILE_ROWS)
    sums = np.zeros((n_clusters, n_features))
    weight = np.zeros(n_clusters)
    # Few clusters: per-cluster masked sums over the tile vectorise; many: scatter rows.
    masked = n_clusters <= MASKED_MAX_CLUSTERS
    inertia = 0.0
    far_size = 0
    n_far = out_far_dist.shape[0]
    for start in range(0, n_samples, TILE_ROWS):
        m = min(TILE_ROWS, n_samples - start)
        load_tile(flat, start, m, n_features, shift, scale, tile)
        if not unit_weight:
            for i in range(m):
                w[i] = sample_weight[start + i]
        for i in range(m):
            best[i] = np.inf
            labels[i] = 0
        nearest_in_tile(tile, m, n_features, local_centers, local_sqnorm, False, 0, best,
                        labels, spare_best, spare_labels)
        farthest = 0.0
        for i in range(m):
            j = labels[i]
            d2 = 0.0
            for f in range(n_features):
                diff = tile[f, i] - local_centers[j, f]
                d2 += diff * diff
            dist[i] = d2
            inertia += w[i] * d2
            farthest = max(farthest, d2)
        if masked:
            # Loads outside the selects: a conditional load becomes a slower masked one.
            for j in range(n_clusters):
                total = 0.0
                for i in range(m):
                    wi = w[i]
                    total += wi if labels[i] == j else 0.0
                weight[j] += total
                for f in range(n_features):
                    total = 0.0
                    for i in range(m):
                        x = w[i] * tile[f, i]
                        total += x if labels[i] == j else 0.0
                    sums[j, f] += total
        else:
            for i in range(m):
                j = labels[i]
                weight[j] += w[i]
                for f in range(n_features):
                    sums[j, f] += w[i] * tile[f, i]
        if n_far > 0 and (far_size < n_far or farthest >= out_far_dist[0]):
            for i in range(m):
                if far_size < n_far or dist[i] >= out_far_dist[0]:
                    far_size = topk_push(out_far_dist, out_far_idx, far_size, dist[i],
                                         (start + i) * n_clusters + labels[i])
        if with_moments:
            accumulate_moments(X, start, start + m, shift, scale, out_moments)
    out_sums += sums
    out_weight += weight
    return inertia


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_rows(X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums,
                out_weight, out_moments, out_far_dist, out_far_idx):
    """`lloyd_partial_sums` row by row, for many features (the feature loop vectorises).
    Leaves the far-row heap unfinished and the moments as shifted sums."""
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    # Private copies: the compiler may keep them in registers and cache, because no store
    # into an output buffer can alias them (3x faster at small n_features).
    local_centers = centers.copy()
    local_sqnorm = centers_sqnorm.copy()
    sums = np.zeros((n_clusters, n_features))
    weight = np.zeros(n_clusters)
    labels = np.empty(TILE_ROWS, dtype=np.int64)
    # The tile's rows in the frame, read from X once (in L1 while both loops use them).
    rows = np.empty((TILE_ROWS, n_features))
    inertia = 0.0
    far_size = 0
    n_far = out_far_dist.shape[0]
    for start in range(0, n_samples, TILE_ROWS):
        stop = min(start + TILE_ROWS, n_samples)
        load_rows(X, start, stop, shift, scale, rows)
        # Assign a tile first, then accumulate it: two short loops with no dependency
        # through memory schedule better than one long one.
        for i in range(start, stop):
            labels[i - start] = nearest_center(rows, i - start, local_centers, local_sqnorm)
        for i in range(start, stop):
            j = labels[i - start]
            w = 1.0 if unit_weight else sample_weight[i]
            dist = 0.0
            for f in range(n_features):
                x = rows[i - start, f]
                diff = x - local_centers[j, f]
                dist += diff * diff
                sums[j, f] += w * x
            weight[j] += w
            inertia += w * dist
            if n_far > 0 and (far_size < n_far or dist >= out_far_dist[0]):
                far_size = topk_push(out_far_dist, out_far_idx, far_size, dist,
                                     i * n_clusters + j)
        if with_moments:
            accumulate_moments(X, start, stop, shift, scale, out_moments)
    out_sums += sums
    out_weight += weight
    return inertia


def lloyd_partial_sums_parallel(X, shift, scale, centers, centers_sqnorm, sample_weight,
                                out_sums, out_weight, out_moments, out_far_dist,
                                out_far_idx, out_far_label):
    """In-memory variant of `lloyd_partial_sums` (same arguments and meaning).

    Parallel over fixed row chunks, each writing its own partial buffers, then merged
    serially, so no two threads ever add into the same cluster sum.
    """
    return _KERNELS[tile_case(X.shape[1])][1](
        X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums, out_weight,
        out_moments, out_far_dist, out_far_idx, out_far_label)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_block(X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums,
                 out_weight, out_moments, out_far_dist, out_far_idx, out_far_label, case):
    """`lloyd_partial_sums` for a tile case, called with a constant `case` (so numba
    compiles it for that literal): 0 row by row, else tiled with that width."""
    if case == 0:
        inertia = _lloyd_rows(X, shift, scale, centers, centers_sqnorm, sample_weight,
                              out_sums, out_weight, out_moments, out_far_dist, out_far_idx)
    else:
        inertia = _lloyd_tiled(X, shift, scale, centers, centers_sqnorm, sample_weight,
                               out_sums, out_weight, out_moments, out_far_dist,
                               out_far_idx, case)
    _finish(X, shift, scale, centers.shape[0], out_moments, out_far_dist, out_far_idx,
            out_far_label)
    return inertia


def _specialise(case):
    """(serial, parallel) Lloyd kernels for one tile case, compiled (or loaded) on their
    first call. The closures hold nothing but the integer `case`: numba's cache keys a
    closure by its cells, and a cell holding a dispatcher would differ in every process."""

    @njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
    def serial(X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums,
               out_weight, out_moments, out_far_dist, out_far_idx, out_far_label):
        return _lloyd_block(X, shift, scale, centers, centers_sqnorm, sample_weight,
                            out_sums, out_weight, out_moments, out_far_dist, out_far_idx,
                            out_far_label, case)

    @njit(nogil=True, parallel=True, cache=CACHE, fastmath=FASTMATH)
    def parallel(X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums,
                 out_weight, out_moments, out_far_dist, out_far_idx, out_far_label):
        n_samples, n_features = X.shape
        n_clusters = centers.shape[0]
        n_chunks, rows = chunk_bounds(n_samples)
        sums, weight, moments, inertia, far_dist, far_idx, far_label = chunk_partials(
            n_chunks, n_clusters, n_features, out_moments.shape[0], out_far_dist.shape[0])
        unit_weight = sample_weight.shape[0] == 0
        out_moments[:] = 0.0
        for c in prange(n_chunks):
            start = c * rows
            stop = min(start + rows, n_samples)
            w = sample_weight if unit_weight else sample_weight[start:stop]
            inertia[c] = _lloyd_block(
                X[start:stop], shift, scale, centers, centers_sqnorm, w, sums[c],
                weight[c], moments[c], far_dist[c], far_idx[c], far_label[c], case)
        total, far_size = merge_chunk_partials(
            sums, weight, moments, inertia, far_dist, far_idx, far_label, rows, n_samples,
            n_clusters, out_sums, out_weight, out_moments, out_far_dist, out_far_idx)
        topk_finish(out_far_dist, out_far_idx, far_size)
        decode_far(out_far_idx, out_far_label, n_clusters)
        return total

    return serial, parallel


_KERNELS = {case: _specialise(case) for case in range(MAX_TILE_FEATURES + 1)}
