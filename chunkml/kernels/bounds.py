"""Lloyd passes that skip the distances that cannot change a row's label.

At many clusters a Lloyd pass is the product of the rows with every center (2 n d k
flops), yet after the first few iterations almost no row changes cluster. These kernels
carry, for each row, the state that proves it (in the spirit of Elkan's and Hamerly's
algorithms, with a candidate list instead of one bound per center, so the state stays
n x m):

- ``candidates`` (n, m) int32: m centers near the row when it was last compared with
  every center (the nearest of each of m groups of consecutive centers: ascending ids);
- ``lower`` (n,) float64: a lower bound on the row's distance to every other center
  (the non-candidates) under the current centers; -inf for a row with no state yet.

A pass gets the drift of the centers since the previous pass as ``movers``, the ids of
the centers that moved most, by decreasing drift, ``mover_drift``, their drifts, and
``rest_drift``, an upper bound on the drift of every other center. For each row:

1. ``lower - drift`` bounds its distance to every non-candidate (triangle inequality):
   ``rest_drift`` for all but the movers; a mover whose own drift leaves its bound too
   low is measured exactly;
2. its exact float64 squared distances to its candidates: when the nearest is below
   the bounds (by a relative margin far above float64 rounding), that candidate is the
   row's nearest center, as the exact argmin over all centers would find it (first on
   ties), at (m + movers) * d operations instead of k * d;
3. else the row is compared with every center, with the other such rows of the block:
   one float32 product per tile (BLAS), labelled as the plain pass labels its rows
   (_gemm_tile.py: the float32 best score where the runner-up is beyond its error
   bound, else exact distances to the centers within it); the centers split into m
   groups, the row's new candidates are the m group winners and its lower bound the
   best score of the others minus its error bound.

Then the block is accumulated in row order by `lloyd._accumulate`, as the plain
matrix-product pass accumulates it: with the same labels, the same sums, weights,
inertia and far rows, bit for bit. The public entry point is
`kernels.bounded_lloyd_partial_sums` (_ops.py).
"""

import numpy as np
from numba import njit

from ._chunks import chunk_bounds, chunk_partials, run_chunks, sum_ring
from ._config import CACHE, FASTMATH, helper
from ._gemm_tile import best_two, exact_argmin, recheck, score_bound, shifted_centers
from ._moments import accumulate_moments
from ._rowwise import load_rows
from .lloyd import _accumulate, _finish, lloyd_merge

# A candidate is certified nearest when its squared distance is below the squared bound
# times this: float64 rounding of a squared distance is ~d * 1.1e-16 relative.
_KEEP = 1.0 - 1e-9


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH, inline="always")
def _distance(row, centers, j):
    """Exact squared distance from row[0] ((1, d) float64, in the frame: `load_rows`'s)
    to center j."""
    dist = 0.0
    for f in range(row.shape[1]):
        diff = row[0, f] - centers[j, f]
        dist += diff * diff
    return dist


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH, inline="always")
def _nearest_of(row, centers, candidates, i):
    """(squared distance, id) of the nearest of the centers candidates[i] to `row`, the
    first of them on ties (their ids ascend: the smallest); (inf, -1) when none has a
    finite distance. Selects, not branches (2x faster), and indexed, not a view of
    candidates[i] per row."""
    best = np.inf
    best_j = -1
    for t in range(candidates.shape[1]):
        j = candidates[i, t]
        dist = _distance(row, centers, j)
        better = dist < best
        best = dist if better else best
        best_j = j if better else best_j
    return best, best_j


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH, inline="always")
def _kept(X, i, shift, scale, centers, movers, mover_drift, rest_drift, candidates, lower,
          row):
    """Steps 1 and 2 for row i: its label when a candidate is certified nearest (and
    lower[i] updated), else -1 (nothing written).

    A mover j is measured only while lower - drift[j] does not certify the candidate
    already; the movers come by decreasing drift, so the first that does certifies
    every later one too."""
    bound = lower[i] - rest_drift
    if not bound > 0.0:
        return -1
    load_rows(X, i, i + 1, shift, scale, row)
    m = candidates.shape[1]
    best, best_j = _nearest_of(row, centers, candidates, i)
    if best_j < 0 or not best < bound * bound * _KEEP:
        return -1
    for b in range(movers.shape[0]):
        mover_bound = lower[i] - mover_drift[b]
        if mover_bound > 0.0 and best < mover_bound * mover_bound * _KEEP:
            bound = min(bound, mover_bound)
            break
        j = movers[b]
        known = False
        for t in range(m):
            known |= candidates[i, t] == j
        if known:
            continue
        dist = _distance(row, centers, j)
        if not best < dist * _KEEP:  # NaN too: the row is compared with every center
            return -1
        bound = min(bound, np.sqrt(dist))
    lower[i] = bound
    return best_j


@helper()
def _group_best_two(scores_t, sqnorm, n_groups, best_two_buffers, winner, group_best,
                    floor):
    """Per group g of the centers (the contiguous ids g * k // n_groups onwards), each
    row's smallest float32 score ``sqnorm[j] - 2 scores_t[j, i]`` (group_best[g, i])
    and its center (winner[g, i], the first on ties); per row, the smallest score of
    any center that won no group (floor[i]: the smallest second-best of the groups).

    `_gemm_tile.best_two` on each group: rows on SIMD lanes, the cost of one best-two
    scan (sorting each row's m best scores instead cost more than the product itself
    at k=1024)."""
    n_clusters, m = scores_t.shape
    floor[:m] = np.inf
    for g in range(n_groups):
        first = g * n_clusters // n_groups
        last = (g + 1) * n_clusters // n_groups
        best, second, labels = best_two(scores_t[first:last], sqnorm[first:last],
                                        best_two_buffers)
        for i in range(m):
            group_best[g, i] = best[i]
            winner[g, i] = labels[i] + first
            floor[i] = min(floor[i], second[i])


@helper()
def bounds_work(n_features, n_clusters, n_candidates, rows):
    """Scratch for `_compare_all` on up to `rows` rows: (float32 tile, float32 scores
    centers x rows, the rows' norms, one row in the frame, `best_two`'s buffers, the
    group winners (n_candidates, rows) int32 and their float32 scores, the rows'
    float32 floors, their labels, and `recheck`'s rows, limits and buffers)."""
    return (np.empty((rows, n_features), dtype=np.float32),
            np.empty(n_clusters * rows, dtype=np.float32), np.empty(rows),
            np.empty((1, n_features)),
            (np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.float32),
             np.empty(rows, dtype=np.int32), np.empty(rows, dtype=np.float32),
             np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.int32)),
            np.empty((n_candidates, rows), dtype=np.int32),
            np.empty((n_candidates, rows), dtype=np.float32),
            np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.int32),
            np.empty(rows, dtype=np.int64), np.empty(rows),
            (np.empty(rows), np.empty(rows, dtype=np.int64)))


@helper()
def _compare_all(X, rows, n_rows, start, shift, scale, centers, gemm_centers, candidates,
                 lower, labels, work):
    """Step 3 for the block rows rows[:n_rows] (at most a tile): labels[rows[t] - start]
    and their state from every center.

    The labels as `_gemm_tile.nearest_tile` finds them (the float32 best score where
    the runner-up is beyond its error bound, else `recheck`), at the same cost; the m
    candidates kept are the winners of m groups of the centers (not the m nearest:
    sorting those costs more than the product), the lower bound from the best score of
    the centers that won no group."""
    n_features = X.shape[1]
    n_clusters = centers.shape[0]
    m = candidates.shape[1]
    center_shift, centers32, sqnorm, radius = gemm_centers
    (tile_buf, scores_buf, norm, _, best_two_buffers, winner, group_best, floor,
     tile_labels, to_check, limit, recheck_buffers) = work
    tile = tile_buf[:n_rows]
    scores_t = scores_buf[:n_clusters * n_rows].reshape((n_clusters, n_rows))
    for t in range(n_rows):
        i = rows[t]
        sq = 0.0
        for f in range(n_features):
            v = (X[i, f] - shift[f]) * scale - center_shift[f]
            tile[t, f] = v
            sq += v * v
        norm[t] = np.sqrt(sq)
    np.dot(centers32, tile.T, scores_t)
    _group_best_two(scores_t, sqnorm, m, best_two_buffers, winner, group_best, floor)
    n_check = 0
    for t in range(n_rows):
        i = rows[t]
        best = np.float32(np.inf)
        best_g = 0
        second = floor[t]
        for g in range(m):
            score = group_best[g, t]
            candidates[i, g] = winner[g, t]
            second = min(second, max(score, best))
            best_g = g if score < best else best_g
            best = min(score, best)
        # As nearest_tile: certified where the runner-up is beyond the bound, else
        # compared exactly with the centers whose scores are within it.
        bound = score_bound(norm[t], radius, n_features)
        row_best = np.float64(best)
        if best > -np.inf and np.float64(second) - row_best > bound:
            tile_labels[t] = winner[best_g, t]
        elif np.isfinite(row_best) and np.isfinite(bound):
            to_check[n_check] = t
            limit[n_check] = row_best + bound
            n_check += 1
        else:
            tile_labels[t] = exact_argmin(X, i, shift, scale, centers)
        # Every center that won no group: exact squared distance at least its float32
        # score plus the row's squared norm (both about the centers' mean) minus the
        # error bound.
        floor_sq = np.float64(floor[t]) + norm[t] * norm[t] - bound
        finite = np.isfinite(norm[t]) and floor_sq == floor_sq
        lower[i] = np.sqrt(max(floor_sq, 0.0)) if finite else -np.inf
    if n_check:
        recheck(X, 0, rows, shift, scale, centers, scores_t, sqnorm, to_check[:n_check],
                limit[:n_check], recheck_buffers, tile_labels)
    for t in range(n_rows):
        labels[rows[t] - start] = tile_labels[t]


@helper()
def _bounded_pass(X, shift, scale, centers, sample_weight, movers, mover_drift, rest_drift,
                  candidates, lower, out_sums, out_weight, out_moments, out_far_dist,
                  out_far_idx, gemm_rows):
    """The pass over a block; returns (inertia, rows compared with every center). Leaves
    the far-row heap unfinished and the moments as shifted sums."""
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    gemm_centers = shifted_centers(centers)
    work = bounds_work(n_features, n_clusters, candidates.shape[1], gemm_rows)
    row = work[3]
    # The rows no bound settles are compared with every center in full tiles (gathered
    # across the block: products of a few rows each run far below BLAS's rate); then
    # the block is accumulated in row order, as the plain pass accumulates it.
    labels = np.empty(n_samples, dtype=np.int32)
    to_compare = np.empty(n_samples, dtype=np.int64)
    n_compared = 0
    for i in range(n_samples):
        label = _kept(X, i, shift, scale, centers, movers, mover_drift, rest_drift,
                      candidates, lower, row)
        if label >= 0:
            labels[i] = label
        else:
            to_compare[n_compared] = i
            n_compared += 1
    for first in range(0, n_compared, gemm_rows):
        stop = min(first + gemm_rows, n_compared)
        _compare_all(X, to_compare[first:stop], stop - first, 0, shift, scale, centers,
                     gemm_centers, candidates, lower, labels, work)
    inertia = 0.0
    far_size = 0
    for start in range(0, n_samples, gemm_rows):
        stop = min(start + gemm_rows, n_samples)
        inertia, far_size = _accumulate(X, start, stop, (shift, scale), centers,
                                        labels[start:stop], sample_weight, out_sums,
                                        out_weight, out_far_dist, out_far_idx, inertia,
                                        far_size)
        if with_moments:
            accumulate_moments(X, start, stop, shift, scale, out_moments)
    return inertia, n_compared


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def bounded_lloyd_block(X, shift, scale, centers, sample_weight, movers, mover_drift,
                        rest_drift, candidates, lower, out_sums, out_weight, out_moments,
                        out_far_dist, out_far_idx, out_far_label, gemm_rows):
    """`kernels.bounded_lloyd_partial_sums` on one block, tiles of gemm_rows rows;
    returns (inertia, rows compared with every center)."""
    inertia, n_compared = _bounded_pass(
        X, shift, scale, centers, sample_weight, movers, mover_drift, rest_drift,
        candidates, lower, out_sums, out_weight, out_moments, out_far_dist, out_far_idx,
        gemm_rows)
    _finish(X, shift, scale, centers.shape[0], out_moments, out_far_dist, out_far_idx,
            out_far_label)
    return inertia, n_compared


def bounded_chunks(X, shift, scale, centers, sample_weight, movers, mover_drift,
                   rest_drift, candidates, lower, sums, weight, moments, inertia, far_dist,
                   far_idx, far_label, compared, gemm_rows, rows, first, stop):
    """`bounded_lloyd_block` on chunks first..stop of `rows` rows each, chunk c into row
    c of the partial buffers (`chunk_partials`; of sums, row c % their rows) and
    compared[c]: a part of `bounded_lloyd_parallel`.

    Python, calling the serial kernel once per chunk (a millisecond or more each from
    128 clusters on): a numba loop over the chunks compiled the whole block kernel
    again into its own module (7 s per dtype, cold), for no measurable gain."""
    n_samples = X.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    for c in range(first, stop):
        start = c * rows
        end = min(start + rows, n_samples)
        w = sample_weight if unit_weight else sample_weight[start:end]
        inertia[c], compared[c] = bounded_lloyd_block(
            X[start:end], shift, scale, centers, w, movers, mover_drift, rest_drift,
            candidates[start:end], lower[start:end], sums[c % sums.shape[0]], weight[c],
            moments[c], far_dist[c], far_idx[c], far_label[c], gemm_rows)


def bounded_lloyd_parallel(X, shift, scale, centers, sample_weight, movers, mover_drift,
                           rest_drift, candidates, lower, out_sums, out_weight, out_moments,
                           out_far_dist, out_far_idx, out_far_label, gemm_rows):
    """In-memory variant of `bounded_lloyd_block` (same arguments and results): fixed
    row chunks, each into partial buffers of its own, on threads, merged in chunk order
    (as `lloyd.lloyd_parallel`); each chunk updates its own rows of the state."""
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    n_chunks, rows = chunk_bounds(n_samples)
    partials = chunk_partials(n_chunks, n_clusters, n_features, out_moments.shape[0],
                              out_far_dist.shape[0],
                              sum_ring(n_chunks, n_clusters, n_features))
    compared = np.zeros(n_chunks, dtype=np.int64)
    sums = run_chunks(lambda first, stop: bounded_chunks(
        X, shift, scale, centers, sample_weight, movers, mover_drift, rest_drift,
        candidates, lower, *partials, compared, gemm_rows, rows, first, stop),
        partials[0], n_chunks, out_sums)
    inertia = lloyd_merge(sums, *partials[1:], rows, n_samples, out_sums, out_weight,
                          out_moments, out_far_dist, out_far_idx, out_far_label)
    return inertia, int(compared.sum())
