"""Kernels on CSR blocks: the (data, indices, indptr) arrays of a scipy.sparse CSR matrix.

They compute what scikit-learn's sparse Lloyd computes (`_k_means_lloyd.pyx`,
``lloyd_iter_chunked_sparse``, and `_k_means_common.pyx`): a row's nearest center by
``||c||^2 - 2 x.c`` (first center on ties), its squared distance as
``||c||^2 + sum over the row's nonzeros of ((x - c)^2 - c^2)``, clamped at 0, and the
weighted sums of each cluster's rows, in one read of the block. X is never densified.

Their frame (see _rowwise.py) has no shift: subtracting one would make every zero of X a
nonzero. Each stored value x is read as ``x * scale`` (scale a power of two, so exact),
which keeps squared norms of very large or very small data within float64.

The ``*_parallel`` variants, for in-memory X only, assign row ranges in parallel on
threads (_threads.py; labels and distances only: no shared sums); the parallel Lloyd
step then accumulates the sums serially, in row order, so its results equal the serial
kernel's bit for bit.
The public entry points (`kernels.sparse_lloyd_partial_sums`, `sparse_assign_labels`,
`sparse_euclidean_distances`, each with ``parallel=``, in _ops.py) pick the variant
through `_dispatch.py` and compute the centers' squared norms.

``data`` is float32|float64, ``indices`` and ``indptr`` int32|int64 (scipy's), all
C-contiguous; a block may have 0 rows (indptr of length 1). Indices within a row need
not be sorted, but must not repeat (scipy's canonical format; `sum_duplicates`).
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH, helper
from ._moments import STAT_M2, STAT_MAX, STAT_MEAN, STAT_MIN, stat_units
from ._threads import over_rows
from ._topk import decode_far, topk_finish, topk_push
from .sampling import key_rows, start_round


@helper()
def _scores(data, indices, start, stop, scale, centers_t, centers_sqnorm, out_dot):
    """Index of the nearest center of one row, by ||c||^2 - 2 x.c (x.c into out_dot).

    centers_t (d, k) float64: the centers transposed, so each nonzero reads k contiguous
    values."""
    n_clusters = centers_t.shape[1]
    for j in range(n_clusters):
        out_dot[j] = 0.0
    for p in range(start, stop):
        x = np.float64(data[p]) * scale
        f = indices[p]
        for j in range(n_clusters):
            out_dot[j] += x * centers_t[f, j]
    best = np.inf
    best_j = 0
    for j in range(n_clusters):
        score = centers_sqnorm[j] - 2.0 * out_dot[j]
        better = score < best
        best = score if better else best
        best_j = j if better else best_j
    return best_j


@helper()
def _sq_dist(data, indices, start, stop, scale, centers, j, c_sqnorm):
    """scikit-learn's `_euclidean_sparse_dense`, squared: ||c||^2 + sum((x-c)^2 - c^2)."""
    dist = 0.0
    for p in range(start, stop):
        c = centers[j, indices[p]]
        diff = np.float64(data[p]) * scale - c
        dist += diff * diff - c * c
    dist += c_sqnorm
    return max(dist, 0.0)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sparse_lloyd_block(data, indices, indptr, scale, centers, centers_sqnorm,
                      sample_weight, out_sums, out_weight, out_moments, out_far_dist,
                      out_far_idx, out_far_label):
    """Fused assign + accumulate for one CSR block; returns the block's weighted inertia.

    As `kernels.lloyd_partial_sums` (same outputs, same meaning), for sparse rows read as
    x' = x * scale. out_moments (2, d) OUT: per-feature mean and M2 of x' counting the
    implicit zeros, or (0, d) to skip; out_sums (k, d) and out_weight (k,) INOUT (added
    to); the far-row heap OUT as there. NaN or inf in X makes the inertia non-finite.
    """
    n_samples = indptr.shape[0] - 1
    n_clusters, n_features = centers.shape
    unit_weight = sample_weight.shape[0] == 0
    with_moments = out_moments.shape[0] == 2
    centers_t = np.ascontiguousarray(centers.T)
    local_sqnorm = centers_sqnorm.copy()
    dot = np.empty(n_clusters)
    weight = np.zeros(n_clusters)
    # sparse_lloyd_parallel's _accumulate repeats this start and the row loop's
    # accumulation on purpose (see there).
    if with_moments:
        out_moments[:] = 0.0
    n_far = out_far_dist.shape[0]
    far_size = 0
    inertia = 0.0
    for i in range(n_samples):
        start = indptr[i]
        stop = indptr[i + 1]
        j = _scores(data, indices, start, stop, scale, centers_t, local_sqnorm, dot)
        w = 1.0 if unit_weight else sample_weight[i]
        dist = _sq_dist(data, indices, start, stop, scale, centers, j, local_sqnorm[j])
        for p in range(start, stop):
            x = np.float64(data[p]) * scale
            out_sums[j, indices[p]] += w * x
            if with_moments:
                out_moments[0, indices[p]] += x
                out_moments[1, indices[p]] += x * x
        weight[j] += w
        inertia += w * dist
        if n_far > 0 and (far_size < n_far or dist >= out_far_dist[0]):
            far_size = topk_push(out_far_dist, out_far_idx, far_size, dist,
                                 i * n_clusters + j)
    for j in range(n_clusters):  # a loop, not an array expression (lloyd._add_sums)
        out_weight[j] += weight[j]
    _finish(n_samples, n_clusters, out_moments, out_far_dist, out_far_idx, out_far_label)
    return inertia


@helper()
def _finish(n_samples, n_clusters, out_moments, out_far_dist, out_far_idx, out_far_label):
    """Complete the far-row heap and turn the moments' sums into (mean, M2)."""
    topk_finish(out_far_dist, out_far_idx, min(out_far_dist.shape[0], n_samples))
    decode_far(out_far_idx, out_far_label, n_clusters)
    if out_moments.shape[0] == 2 and n_samples > 0:
        for f in range(out_moments.shape[1]):
            s1 = out_moments[0, f]
            s2 = out_moments[1, f]
            out_moments[0, f] = s1 / n_samples
            out_moments[1, f] = max(s2 - s1 * s1 / n_samples, 0.0)


def sparse_lloyd_parallel(data, indices, indptr, scale, centers, centers_sqnorm,
                          sample_weight, out_sums, out_weight, out_moments, out_far_dist,
                          out_far_idx, out_far_label):
    """In-memory variant of `sparse_lloyd_block` (same arguments, same results
    bit for bit): rows assigned in parallel (`sparse_assign_parallel`), then accumulated
    serially in row order (`_accumulate`: a second, cheaper sweep over the stored values,
    O(nnz), the assignment O(nnz * k))."""
    n_samples = indptr.shape[0] - 1
    labels = np.empty(n_samples, dtype=np.int32)
    dist = np.empty(n_samples)
    sparse_assign_parallel(data, indices, indptr, scale, centers, centers_sqnorm, labels,
                           dist)
    return _accumulate(data, indices, indptr, scale, labels, dist, sample_weight, out_sums,
                       out_weight, out_moments, out_far_dist, out_far_idx, out_far_label)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _accumulate(data, indices, indptr, scale, labels, dist, sample_weight, out_sums,
                out_weight, out_moments, out_far_dist, out_far_idx, out_far_label):
    """The rest of `sparse_lloyd_parallel`, given each row's label and distance."""
    # sparse_lloyd_block's start and accumulation again, on purpose: there fused with each
    # row's assignment, here a serial sweep after the parallel one, in row order, so that
    # both add the same values in the same order (results equal bit for bit). Written out
    # in both kernels, as lloyd.py's are, rather than through a shared helper.
    n_samples = indptr.shape[0] - 1
    n_clusters = out_sums.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    n_far = out_far_dist.shape[0]
    far_size = 0
    inertia = 0.0
    for i in range(n_samples):
        j = labels[i]
        w = 1.0 if unit_weight else sample_weight[i]
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p]) * scale
            out_sums[j, indices[p]] += w * x
            if with_moments:
                out_moments[0, indices[p]] += x
                out_moments[1, indices[p]] += x * x
        out_weight[j] += w
        inertia += w * dist[i]
        if n_far > 0 and (far_size < n_far or dist[i] >= out_far_dist[0]):
            far_size = topk_push(out_far_dist, out_far_idx, far_size, dist[i],
                                 i * n_clusters + j)
    _finish(n_samples, n_clusters, out_moments, out_far_dist, out_far_idx, out_far_label)
    return inertia


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sparse_assign_block(data, indices, indptr, scale, centers, centers_sqnorm, out_labels,
                        out_mindist):
    """Nearest center of every CSR row and its squared distance (in the frame's units).

    out_labels (n,) int32|int64 OUT, out_mindist (n,) float64 OUT (overwritten)."""
    _assign(data, indices, indptr, scale, centers, np.ascontiguousarray(centers.T),
            centers_sqnorm, out_labels, out_mindist)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _assign(data, indices, indptr, scale, centers, centers_t, centers_sqnorm, out_labels,
            out_mindist):
    """`sparse_assign_block` with the transposed centers given."""
    dot = np.empty(centers.shape[0])
    for i in range(indptr.shape[0] - 1):
        start = indptr[i]
        stop = indptr[i + 1]
        j = _scores(data, indices, start, stop, scale, centers_t, centers_sqnorm, dot)
        out_labels[i] = j
        out_mindist[i] = _sq_dist(data, indices, start, stop, scale, centers, j,
                                  centers_sqnorm[j])


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sparse_distances_block(data, indices, indptr, scale, centers, centers_sqnorm, out):
    """Euclidean distance from every CSR row to every center, in X's units.

    centers (k, d) float64 IN, in the frame; out (n, k) float32|float64 OUT
    (overwritten): sqrt(max(||x'||^2 - 2 x'.c + ||c||^2, 0)) / scale, as scikit-learn's
    euclidean_distances computes it for sparse X."""
    _distances(data, indices, indptr, scale, np.ascontiguousarray(centers.T),
               centers_sqnorm, out)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _distances(data, indices, indptr, scale, centers_t, centers_sqnorm, out):
    """`sparse_distances_block` with the transposed centers given."""
    n_clusters = centers_t.shape[1]
    dot = np.empty(n_clusters)
    for i in range(indptr.shape[0] - 1):
        start = indptr[i]
        stop = indptr[i + 1]
        _scores(data, indices, start, stop, scale, centers_t, centers_sqnorm, dot)
        xx = 0.0
        for p in range(start, stop):
            x = np.float64(data[p]) * scale
            xx += x * x
        for j in range(n_clusters):
            out[i, j] = np.sqrt(max(xx - 2.0 * dot[j] + centers_sqnorm[j], 0.0)) / scale


def sparse_assign_parallel(data, indices, indptr, scale, centers, centers_sqnorm,
                           out_labels, out_mindist):
    """In-memory variant of `sparse_assign_block` (the same results), parallel over row
    ranges (`_threads.over_rows`)."""
    over_rows(lambda start, stop: sparse_assign_block(
        data, indices, indptr[start:stop + 1], scale, centers, centers_sqnorm,
        out_labels[start:stop], out_mindist[start:stop]), indptr.shape[0] - 1, 1)


def sparse_distances_parallel(data, indices, indptr, scale, centers, centers_sqnorm,
                              out):
    """In-memory variant of `sparse_distances_block` (the same results), parallel over
    row ranges."""
    over_rows(lambda start, stop: sparse_distances_block(
        data, indices, indptr[start:stop + 1], scale, centers, centers_sqnorm,
        out[start:stop]), indptr.shape[0] - 1, 1)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sparse_block_stats(data, indices, indptr, out_stats):
    """`_moments.block_stats` of a CSR block, the implicit zeros counted.

    out_stats (N_STATS, d) float64 OUT (overwritten), rows STAT_*: min, max (exact; +inf
    / -inf for 0 rows), mean, M2 / 4**e and e (e the exponent of the feature's half
    range). Reads the stored values twice.
    """
    n_samples = indptr.shape[0] - 1
    n_features = out_stats.shape[1]
    count = np.zeros(n_features, dtype=np.int64)
    for f in range(n_features):
        out_stats[STAT_MIN, f] = np.inf
        out_stats[STAT_MAX, f] = -np.inf
    nnz = indptr[n_samples] - indptr[0]
    for p in range(indptr[0], indptr[0] + nnz):
        f = indices[p]
        x = np.float64(data[p])
        count[f] += 1
        out_stats[STAT_MIN, f] = min(out_stats[STAT_MIN, f], x)
        out_stats[STAT_MAX, f] = max(out_stats[STAT_MAX, f], x)
    for f in range(n_features):
        # A feature with fewer stored values than rows also holds zeros.
        if count[f] < n_samples:
            out_stats[STAT_MIN, f] = min(out_stats[STAT_MIN, f], 0.0)
            out_stats[STAT_MAX, f] = max(out_stats[STAT_MAX, f], 0.0)
    mid, unit = stat_units(out_stats, n_samples)
    for p in range(indptr[0], indptr[0] + nnz):
        f = indices[p]
        t = (np.float64(data[p]) - mid[f]) * unit[f]
        out_stats[STAT_MEAN, f] += t
        out_stats[STAT_M2, f] += t * t
    if n_samples == 0:
        return
    for f in range(n_features):
        zeros = n_samples - count[f]
        t0 = -mid[f] * unit[f]
        s1 = out_stats[STAT_MEAN, f] + zeros * t0
        s2 = out_stats[STAT_M2, f] + zeros * t0 * t0
        out_stats[STAT_MEAN, f] = mid[f] + (s1 / n_samples) / unit[f]
        out_stats[STAT_M2, f] = max(s2 - s1 * s1 / n_samples, 0.0)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sparse_nearest_new(data, indices, indptr, scale, candidates, first_id, inout_mindist,
                       inout_nearest):
    """Lower each CSR row's squared distance / id to the nearest of `candidates` (in the
    frame, ids from first_id) where closer; distances as `_sq_dist`."""
    n_candidates = candidates.shape[0]
    sqnorm = np.empty(n_candidates)
    for j in range(n_candidates):
        s = 0.0
        for f in range(candidates.shape[1]):
            s += candidates[j, f] * candidates[j, f]
        sqnorm[j] = s
    for i in range(indptr.shape[0] - 1):
        best = inout_mindist[i]
        best_id = inout_nearest[i]
        for j in range(n_candidates):
            dist = _sq_dist(data, indices, indptr[i], indptr[i + 1], scale, candidates, j,
                            sqnorm[j])
            closer = dist < best
            best = dist if closer else best
            best_id = first_id + j if closer else best_id
        inout_mindist[i] = best
        inout_nearest[i] = best_id


def sparse_update_mindist_sample(data, indices, indptr, scale, new_centers, first_id,
                                 mindist, nearest, sample_weight, seed, stream, row_offset,
                                 exponential, out_mindist, out_nearest, out_top_key,
                                 out_top_idx):
    """`kernels.update_mindist_sample` for a CSR block (the frame's shift is 0); the
    same arguments after the CSR arrays and scale, the same outputs and phi."""
    start_round(mindist, nearest, out_mindist, out_nearest)
    sparse_nearest_new(data, indices, indptr, scale,
                       np.array(new_centers, dtype=np.float64), first_id, out_mindist,
                       out_nearest)
    return key_rows(out_mindist, sample_weight, seed, stream, row_offset, exponential,
                     out_top_key, out_top_idx)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sparse_gather_rows(data, indices, indptr, rows, scale, out):
    """Dense copies of a few CSR rows: out[r] = X[rows[r]] * scale (zeros elsewhere).

    rows (m,) int64 IN; out (m, d) float64 OUT (overwritten). For the handful of rows a
    pass returns (sampled candidates, far rows), never for a whole block."""
    for r in range(rows.shape[0]):
        for f in range(out.shape[1]):
            out[r, f] = 0.0
        i = rows[r]
        for p in range(indptr[i], indptr[i + 1]):
            out[r, indices[p]] = np.float64(data[p]) * scale


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sparse_minibatch_step(data, indices, indptr, scale, sample_weight, centers,
                          centers_sqnorm, weight_sums, out_centers, out_labels,
                          out_mindist):
    """`minibatch.minibatch_step` for a CSR batch (frame without shift): assign, then move
    each center to the weighted mean of its old position and its new rows, as
    scikit-learn's `_minibatch_update_sparse` (old center times its weight sum, plus the
    rows, times 1 / the new total); returns the batch inertia. The same arguments and
    outputs as there after the CSR arrays and scale."""
    n_samples = indptr.shape[0] - 1
    n_clusters, n_features = centers.shape
    sparse_assign_block(data, indices, indptr, scale, centers, centers_sqnorm, out_labels,
                        out_mindist)
    unit_weight = sample_weight.shape[0] == 0
    inertia = 0.0
    batch_weight = np.zeros(n_clusters)
    for i in range(n_samples):
        w = 1.0 if unit_weight else sample_weight[i]
        inertia += w * out_mindist[i]
        batch_weight[out_labels[i]] += w
    for j in range(n_clusters):
        factor = weight_sums[j] if batch_weight[j] > 0 else 1.0
        for f in range(n_features):
            out_centers[j, f] = centers[j, f] * factor
    for i in range(n_samples):
        j = out_labels[i]
        w = 1.0 if unit_weight else sample_weight[i]
        if batch_weight[j] > 0:
            for p in range(indptr[i], indptr[i + 1]):
                out_centers[j, indices[p]] += w * (np.float64(data[p]) * scale)
    for j in range(n_clusters):
        if batch_weight[j] > 0:
            total = weight_sums[j] + batch_weight[j]
            alpha = 1.0 / total
            for f in range(n_features):
                out_centers[j, f] *= alpha
            weight_sums[j] = total
    return inertia


@njit(nogil=True, cache=CACHE)
def sparse_has_duplicates(indices, indptr, n_features):
    """Whether some CSR row stores a column twice (which the kernels above do not allow);
    O(nnz + n_features), without sorting: scipy's has_canonical_format also requires
    sorted indices, which the kernels do not need."""
    last_row = np.full(n_features, -1, dtype=np.int64)
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i], indptr[i + 1]):
            f = indices[p]
            if last_row[f] == i:
                return True
            last_row[f] = i
    return False
