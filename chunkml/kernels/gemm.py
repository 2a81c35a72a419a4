"""Nearest centers by blocked matrix products, for many features and clusters.

The rows, read in the caller's frame (x' = (x - shift) * scale, see assign.py), are
shifted by the mean of the centers, a tile at a time, rounded to float32 and multiplied
with the shifted float32 centers by BLAS (numba's ``np.dot`` calls scipy's sgemm: 3x
faster than dgemm at 32 features and 16 clusters). Each row's best float32 score
``||c - s||^2 - 2 (x - s).(c - s)`` is then certified against a forward-error bound:
when the runner-up is within the bound (a near-tie, or non-finite input), the row is
assigned again from exact float64 squared distances. So the labels are those of the
exact float64 argmin except at ties within float64 rounding, whatever X's dtype, and
distances and inertia are the exact ``sum((x - c)^2)``, as in the row-by-row kernels.

The kernels call BLAS from the calling thread, dask's or numba's: tiles are small enough
(GEMM_MAX_PRODUCT) that OpenBLAS computes each product on that thread alone. Other
vendors (MKL, BLIS) may split even a small product over their pool, so the glue runs
every block under a one-thread BLAS limit (dask_glue/_limits.py, `one_blas_thread`).
"""

import numpy as np
from numba import njit, prange

from ._chunks import chunk_partials, merge_chunk_partials
from ._config import (
    CACHE,
    FASTMATH,
    GEMM_MAX_PRODUCT,
    GEMM_MIN_CLUSTERS,
    GEMM_MIN_FEATURES,
    GEMM_TILE_ROWS,
)
from ._moments import accumulate_moments, finish_moments
from ._topk import decode_far, topk_finish, topk_push
from .assign import chunk_bounds, squared_distance


def use_gemm(n_features, n_clusters):
    """Whether distances to n_clusters centers go through the matrix-product kernels
    (see GEMM_MIN_FEATURES and GEMM_MIN_CLUSTERS in _config.py)."""
    return n_features >= GEMM_MIN_FEATURES and n_clusters >= GEMM_MIN_CLUSTERS


_EPS32 = np.finfo(np.float32).eps / 2  # unit roundoff of float32
_TINY32 = np.finfo(np.float32).tiny  # below it float32 loses relative accuracy


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def shifted_centers(centers):
    """The centers as the float32 product sees them.

    Returns (shift, centers_t, sqnorm, radius): shift (d,) float64, the mean of the
    centers (shifting rows and centers alike leaves every distance unchanged and keeps
    the product's rounding error small for data far from the origin); centers_t (d, k)
    float32 C-contiguous, the shifted centers transposed; sqnorm (k,) float32, their
    squared norms; radius (float), the largest of their norms.
    """
    n_clusters, n_features = centers.shape
    shift = np.zeros(n_features)
    for j in range(n_clusters):
        for f in range(n_features):
            shift[f] += centers[j, f]
    shift /= max(n_clusters, 1)
    centers_t = np.empty((n_features, n_clusters), dtype=np.float32)
    sqnorm = np.empty(n_clusters, dtype=np.float32)
    radius = 0.0
    for j in range(n_clusters):
        sq = 0.0
        for f in range(n_features):
            c = centers[j, f] - shift[f]
            centers_t[f, j] = c
            sq += c * c
        sqnorm[j] = sq
        radius = max(radius, np.sqrt(sq))
    return shift, centers_t, sqnorm, radius


@njit(nogil=True, cache=CACHE)
def tile_rows(n_features, n_clusters):
    """Rows per tile: GEMM_TILE_ROWS, fewer where a product would exceed GEMM_MAX_PRODUCT
    multiply-adds (but at least 8)."""
    return max(8, min(GEMM_TILE_ROWS, GEMM_MAX_PRODUCT // max(n_features * n_clusters, 1)))


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def tile_work(n_features, n_clusters):
    """Scratch for `nearest_tile`: (rows per tile, flat float32 tile, flat float32 scores
    and their transpose, the rows' norms (float64), and two sets of (best, second best
    score (float32), label (int32)) for `best_two`)."""
    rows = tile_rows(n_features, n_clusters)
    return (rows, np.empty(rows * n_features, dtype=np.float32),
            np.empty(rows * n_clusters, dtype=np.float32),
            np.empty(rows * n_clusters, dtype=np.float32), np.empty(rows),
            (np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.float32),
             np.empty(rows, dtype=np.int32), np.empty(rows, dtype=np.float32),
             np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.int32)))


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def exact_argmin(X, i, shift, scale, centers):
    """Index of the center nearest to row i of X (in the frame) by exact float64 squared
    distances; the first on ties, and 0 when every distance is NaN."""
    best = np.inf
    best_j = 0
    for j in range(centers.shape[0]):
        dist = squared_distance(X, i, shift, scale, centers, j)
        better = dist < best
        best = dist if better else best
        best_j = j if better else best_j
    return best_j


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def transpose(a, out):
    """out[j, i] = a[i, j]; a (m, k) IN, out (k, m) OUT. Eight rows of `a` at a time:
    writing one row of `out` after the other strides k times over the same few cache
    sets (3x slower at k=64)."""
    m, k = a.shape
    head = m - m % 8
    for i0 in range(0, head, 8):
        for j in range(k):
            for i in range(i0, i0 + 8):
                out[j, i] = a[i, j]
    for j in range(k):
        for i in range(head, m):
            out[j, i] = a[i, j]


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def best_two(scores_t, sqnorm, buffers):
    """Smallest and second smallest score ``sqnorm[j] - 2 scores_t[j, i]`` of each row i,
    and the index of the smallest (the first on ties).

    scores_t (k, m) float32 IN; sqnorm (k,) float32 IN; buffers, scratch: two sets of
    (best, second, label), (>= m,) float32, float32, int32. Returns the set holding the
    result (views valid until the next call).

    Rows innermost, in float32, so that the loop runs on 8 SIMD lanes (5x faster than a
    loop over each row's centers, which is one chain of dependent selects). Each center
    reads one set and writes the other: updated in place, the label select becomes a
    masked store, microcoded on AMD CPUs (2.3x slower, as in _tile.py).
    """
    n_clusters, m = scores_t.shape
    best, second, labels, next_best, next_second, next_labels = buffers
    best[:m] = np.inf
    second[:m] = np.inf
    labels[:m] = 0
    for j in range(n_clusters):
        sq = sqnorm[j]
        for i in range(m):
            score = sq - np.float32(2.0) * scores_t[j, i]
            current_best = best[i]
            current_second = second[i]
            current_label = labels[i]
            next_second[i] = min(current_second, max(score, current_best))
            next_best[i] = min(score, current_best)
            next_labels[i] = j if score < current_best else current_label
        best, next_best = next_best, best
        second, next_second = next_second, second
        labels, next_labels = next_labels, labels
    return best[:m], second[:m], labels[:m]


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def nearest_tile(X, start, stop, frame_shift, frame_scale, centers, gemm_centers, work):
    """Nearest center of each of the rows start:stop of X (at most one tile of rows).

    Parameters
    ----------
    X : (n, d) float32|float64, IN.
    frame_shift : (d,) float64, frame_scale : float, IN. The frame (see assign.py).
    centers : (k, d) float64, IN, in the frame.
    gemm_centers : IN, `shifted_centers(centers)`.
    work : scratch, `tile_work(d, k)`.

    Returns
    -------
    labels : (stop - start,) int32, a view into `work`: the label of row start + i at
        position i (0 for a row holding NaN), valid until the next call.
    """
    n_features = X.shape[1]
    n_clusters = centers.shape[0]
    shift, centers_t, sqnorm, radius = gemm_centers
    _, tile_buf, scores_buf, scores_t_buf, norm, buffers = work
    m = stop - start
    tile = tile_buf[:m * n_features].reshape((m, n_features))
    scores = scores_buf[:m * n_clusters].reshape((m, n_clusters))
    scores_t = scores_t_buf[:m * n_clusters].reshape((n_clusters, m))
    for i in range(m):
        sq = 0.0
        for f in range(n_features):
            v = (X[start + i, f] - frame_shift[f]) * frame_scale - shift[f]
            tile[i, f] = v
            sq += v * v
        norm[i] = np.sqrt(sq)
    np.dot(tile, centers_t, scores)
    transpose(scores, scores_t)
    best, second, labels = best_two(scores_t, sqnorm, buffers)
    # A float32 dot product of length d, of inputs rounded to float32, is off by at most
    # (d + 3) u |x| |c| (u: unit roundoff); a float32 score sq - 2 x.c then by at most
    # e = u (2 R^2 + 2 (d + 4) |x| R), R = radius, plus a few float32 `tiny` where values
    # underflow. The best score is the exact argmin's whenever the runner-up is more than
    # 2e above it; the bound below is twice that.
    rel = 8.0 * _EPS32
    absolute = 8.0 * (n_features + 2) * _TINY32
    for i in range(m):
        bound = (rel * (radius * radius + (n_features + 4) * norm[i] * radius)
                 + absolute * (1.0 + radius + norm[i]))
        margin = np.float64(second[i]) - np.float64(best[i])
        if not (best[i] > -np.inf and margin > bound):
            labels[i] = exact_argmin(X, start + i, frame_shift, frame_scale, centers)
    return labels


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def lloyd_partial_sums_gemm(X, shift, scale, centers, centers_sqnorm, sample_weight,
                            out_sums, out_weight, out_moments, out_far_dist, out_far_idx,
                            out_far_label):
    """`lloyd_partial_sums` by matrix products: same arguments, outputs and meaning.

    Parameters
    ----------
    X : (n, d) float32|float64, IN. May have 0 rows.
    shift : (d,) float64, scale : float, IN. The frame (see assign.py): every output is
        in its units.
    centers : (k, d) float64, IN, in the frame.
    centers_sqnorm : (k,) float64, IN. Accepted for the common signature; the product
        uses the norms of the shifted centers instead.
    sample_weight : (n,) float64, IN; or (0,) meaning unit weights.
    out_sums : (k, d) float64, INOUT (added to): weighted sum of the rows of each cluster.
    out_weight : (k,) float64, INOUT (added to): total weight of each cluster.
    out_moments : (2, d) float64, OUT (overwritten): per-feature unweighted mean and M2 of
        the block; or (0, d) to skip them.
    out_far_dist, out_far_idx, out_far_label : (m,) float64 / int64 / int64, OUT
        (overwritten): the m rows farthest from their nearest center (squared distance,
        row index in the block, label, the label the row was summed under); unused slots
        hold -1.

    Returns
    -------
    inertia : float
        Sum over rows of weight * exact squared distance to the nearest center;
        non-finite when X holds NaN or inf.
    """
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    local_centers = centers.copy()  # private: no output store can alias it
    gemm_centers = shifted_centers(local_centers)
    work = tile_work(n_features, n_clusters)
    sums = np.zeros((n_clusters, n_features))
    weight = np.zeros(n_clusters)
    inertia = 0.0
    far_size = 0
    n_far = out_far_dist.shape[0]
    rows = work[0]
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        labels = nearest_tile(X, start, stop, shift, scale, local_centers, gemm_centers,
                              work)
        for i in range(start, stop):
            j = labels[i - start]
            w = 1.0 if unit_weight else sample_weight[i]
            dist = 0.0
            for f in range(n_features):
                x = (X[i, f] - shift[f]) * scale
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
    topk_finish(out_far_dist, out_far_idx, far_size)
    decode_far(out_far_idx, out_far_label, n_clusters)
    if with_moments:
        finish_moments(X, shift, scale, out_moments)
    return inertia


@njit(nogil=True, parallel=True, cache=CACHE, fastmath=FASTMATH)
def lloyd_partial_sums_gemm_parallel(X, shift, scale, centers, centers_sqnorm,
                                     sample_weight, out_sums, out_weight, out_moments,
                                     out_far_dist, out_far_idx, out_far_label):
    """In-memory variant of `lloyd_partial_sums_gemm` (same arguments and meaning).

    Parallel over fixed row chunks, each writing its own partial buffers, merged serially.
    """
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
        inertia[c] = lloyd_partial_sums_gemm(
            X[start:stop], shift, scale, centers, centers_sqnorm, w, sums[c], weight[c],
            moments[c], far_dist[c], far_idx[c], far_label[c])
    total, far_size = merge_chunk_partials(
        sums, weight, moments, inertia, far_dist, far_idx, far_label, rows, n_samples,
        n_clusters, out_sums, out_weight, out_moments, out_far_dist, out_far_idx)
    topk_finish(out_far_dist, out_far_idx, far_size)
    decode_far(out_far_idx, out_far_label, n_clusters)
    return total


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def assign_labels_gemm(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist):
    """`assign_labels` by matrix products: same arguments and meaning.

    X (n, d) float32|float64 IN; shift (d,) float64, scale IN: the frame; centers (k, d)
    float64 IN, in the frame; centers_sqnorm (k,) float64 IN,
    accepted for the common signature; out_labels (n,) int32|int64 OUT (overwritten);
    out_mindist (n,) float64 OUT (overwritten), exact squared distances. A row holding
    NaN gets label 0 and a NaN distance.
    """
    n_samples, n_features = X.shape
    local_centers = centers.copy()
    gemm_centers = shifted_centers(local_centers)
    work = tile_work(n_features, centers.shape[0])
    rows = work[0]
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        labels = nearest_tile(X, start, stop, shift, scale, local_centers, gemm_centers,
                              work)
        for i in range(start, stop):
            out_labels[i] = labels[i - start]
            out_mindist[i] = squared_distance(X, i, shift, scale, local_centers,
                                              labels[i - start])


@njit(nogil=True, parallel=True, cache=CACHE, fastmath=FASTMATH)
def assign_labels_gemm_parallel(X, shift, scale, centers, centers_sqnorm, out_labels,
                                out_mindist):
    """In-memory variant of `assign_labels_gemm`, parallel over fixed row chunks."""
    n_chunks, rows = chunk_bounds(X.shape[0])
    for c in prange(n_chunks):
        start = c * rows
        stop = min(start + rows, X.shape[0])
        assign_labels_gemm(X[start:stop], shift, scale, centers, centers_sqnorm,
                           out_labels[start:stop], out_mindist[start:stop])


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def nearest_new_gemm(X, shift, scale, candidates, first_id, inout_mindist, inout_nearest):
    """Lower each row's squared distance / id to the nearest of `candidates` where closer.

    The matrix-product counterpart of `sampling.nearest_new_rows`, same meaning:
    X (n, d) float32|float64 IN; shift (d,) float64, scale IN: the frame, in which
    distances are measured; candidates (c, d) float64 IN, in the frame, with ids first_id,
    first_id + 1, ...; inout_mindist (n,) float64 INOUT, exact squared distances (inf
    where there is no candidate yet); inout_nearest (n,) int64 INOUT. A row moves only to
    a strictly closer candidate; among equally close new ones, the first.
    """
    n_samples, n_features = X.shape
    n_candidates = candidates.shape[0]
    if n_candidates == 0:
        return
    local = candidates.copy()
    gemm_centers = shifted_centers(local)
    work = tile_work(n_features, n_candidates)
    rows = work[0]
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        labels = nearest_tile(X, start, stop, shift, scale, local, gemm_centers, work)
        for i in range(start, stop):
            j = labels[i - start]
            dist = squared_distance(X, i, shift, scale, local, j)
            closer = dist < inout_mindist[i]
            inout_mindist[i] = dist if closer else inout_mindist[i]
            inout_nearest[i] = first_id + j if closer else inout_nearest[i]
