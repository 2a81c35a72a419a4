"""The certified float32 nearest-center tile of the matrix-product ("gemm") kernels.

The rows, read in the caller's frame (x' = (x - shift) * scale, see _rowwise.py), are
shifted by the mean of the centers, a tile at a time, rounded to float32 and multiplied
with the shifted float32 centers by BLAS (numba's ``np.dot`` calls scipy's sgemm: 3x
faster than dgemm at 32 features and 16 clusters). Each row's best float32 score
``||c - s||^2 - 2 (x - s).(c - s)`` is then certified against a forward-error bound:
when the runner-up is within the bound (a near-tie, or non-finite input), the row is
assigned again from exact float64 squared distances to the centers whose float32 score
is within the bound of the best. So the labels are those of the
exact float64 argmin except at ties within float64 rounding, whatever X's dtype, and
the kernels built on it (lloyd.py, distances.py, sampling.py) compute distances and
inertia as the exact ``sum((x - c)^2)``, as the row-by-row kernels do.

The kernels call BLAS from the calling thread, a dask thread or one of the parallel
variants' threads (_threads.py), with whatever BLAS thread count the caller set: the glue
runs every block under a one-thread BLAS limit (dask_glue/_limits.py,
`one_blas_thread`), as a caller of the kernels beside other threads must.
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH, GEMM_TRANSPOSED_MIN_CLUSTERS, helper
from ._rowwise import squared_distance

_EPS32 = np.finfo(np.float32).eps / 2  # unit roundoff of float32
_TINY32 = np.finfo(np.float32).tiny  # below it float32 loses relative accuracy
_CONTIGUOUS = np.empty(0, dtype=np.int64)  # `recheck`'s x_rows for a tile of rows start..


@helper()
def shifted_centers(centers):
    """The centers as the float32 product sees them.

    Returns (shift, centers32, sqnorm, radius): shift (d,) float64, the mean of the
    centers (shifting rows and centers alike leaves every distance unchanged and keeps
    the product's rounding error small for data far from the origin); centers32 (k, d)
    float32 C-contiguous, the shifted centers; sqnorm (k,) float32, their squared norms;
    radius (float), the largest of their norms.
    """
    n_clusters, n_features = centers.shape
    shift = np.zeros(n_features)
    for j in range(n_clusters):
        for f in range(n_features):
            shift[f] += centers[j, f]
    for f in range(n_features):  # a loop, not an array expression (lloyd._add_sums)
        shift[f] /= max(n_clusters, 1)
    centers32 = np.empty((n_clusters, n_features), dtype=np.float32)
    sqnorm = np.empty(n_clusters, dtype=np.float32)
    radius = 0.0
    for j in range(n_clusters):
        sq = 0.0
        for f in range(n_features):
            c = centers[j, f] - shift[f]
            centers32[j, f] = c
            sq += c * c
        sqnorm[j] = sq
        radius = max(radius, np.sqrt(sq))
    return shift, centers32, sqnorm, radius


@helper()
def tile_work(n_features, n_clusters, rows):
    """Scratch for `nearest_tile` on tiles of `rows` rows (`_dispatch.gemm_rows`): (rows,
    flat float32 tile, flat float32 scores (centers x rows) and, below
    GEMM_TRANSPOSED_MIN_CLUSTERS clusters, their transpose, the rows' norms (float64),
    the rows to recheck (int64) and their limits (float64), `recheck`'s buffers, and two
    sets of (best, second best score (float32), label (int32)) for `best_two`)."""
    transposed = n_clusters < GEMM_TRANSPOSED_MIN_CLUSTERS
    return (rows, np.empty(rows * n_features, dtype=np.float32),
            np.empty(rows * n_clusters, dtype=np.float32),
            np.empty(rows * n_clusters if transposed else 0, dtype=np.float32),
            np.empty(rows),
            np.empty(rows, dtype=np.int64), np.empty(rows),
            (np.empty(rows), np.empty(rows, dtype=np.int64)),
            (np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.float32),
             np.empty(rows, dtype=np.int32), np.empty(rows, dtype=np.float32),
             np.empty(rows, dtype=np.float32), np.empty(rows, dtype=np.int32)))


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH, inline="always")
def score_bound(norm, radius, n_features):
    """4e, where e bounds the error of each float32 score of a row of norm `norm`
    against centers within `radius` of their mean, at n_features features: twice the
    margin 2e that certifies a best score (see `nearest_tile`)."""
    rel = 8.0 * _EPS32
    absolute = 8.0 * (n_features + 2) * _TINY32
    return (rel * (radius * radius + (n_features + 4) * norm * radius)
            + absolute * (1.0 + radius + norm))


@helper()
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


@helper()
def recheck(X, start, x_rows, frame_shift, frame_scale, centers, scores_t, sqnorm, rows,
            limit, recheck_buffers, labels):
    """Labels of the tile's rows rows[t] by exact float64 squared distances, comparing
    only the centers j whose float32 score ``sqnorm[j] - 2 scores_t[j, rows[t]]`` is not
    above limit[t] (the row's best float32 score plus its bound, see `nearest_tile`): the
    others are certified farther. The same label as `exact_argmin`, first on ties, for
    k + (a few) * d operations per row instead of k * d; `exact_argmin` where no
    candidate has a finite distance. Writes labels[rows[t]].

    Tile row c is row start + c of X, or row x_rows[c] when x_rows is not empty (a tile
    gathered from scattered rows).

    Centers outermost, rows innermost: the scores are read along their rows, not one
    column per row (1,024 cache lines a row at k=1024). recheck_buffers: (>= len(rows),)
    float64 and int64 scratch.
    """
    n_rows = rows.shape[0]
    best_dist, best_j = recheck_buffers
    best_dist[:n_rows] = np.inf
    best_j[:n_rows] = -1
    gathered = x_rows.shape[0] > 0
    for j in range(centers.shape[0]):
        sq = sqnorm[j]
        for t in range(n_rows):
            score = sq - np.float32(2.0) * scores_t[j, rows[t]]
            if not (np.float64(score) > limit[t]):  # NaN scores are compared exactly
                i = x_rows[rows[t]] if gathered else start + rows[t]
                dist = squared_distance(X, i, frame_shift, frame_scale, centers, j)
                if dist < best_dist[t]:
                    best_dist[t] = dist
                    best_j[t] = j
    for t in range(n_rows):
        label = best_j[t]
        if label < 0:
            i = x_rows[rows[t]] if gathered else start + rows[t]
            label = exact_argmin(X, i, frame_shift, frame_scale, centers)
        labels[rows[t]] = label


@helper()
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


@helper()
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


@helper()
def nearest_tile(X, start, stop, frame_shift, frame_scale, centers, gemm_centers, work):
    """Nearest center of each of the rows start:stop of X (at most one tile of rows).

    Parameters
    ----------
    X : (n, d) float32|float64, IN.
    frame_shift : (d,) float64, frame_scale : float, IN. The frame (see _rowwise.py).
    centers : (k, d) float64, IN, in the frame.
    gemm_centers : IN, `shifted_centers(centers)`.
    work : scratch, `tile_work(d, k, rows)`, rows >= stop - start.

    Returns
    -------
    labels : (stop - start,) int32, a view into `work`: the label of row start + i at
        position i (0 for a row holding NaN), valid until the next call.
    """
    n_features = X.shape[1]
    n_clusters = centers.shape[0]
    shift, centers32, sqnorm, radius = gemm_centers
    _, tile_buf, scores_buf, rows_buf, norm, to_check, limit, recheck_buffers, buffers = work
    m = stop - start
    tile = tile_buf[:m * n_features].reshape((m, n_features))
    scores_t = scores_buf[:m * n_clusters].reshape((n_clusters, m))
    for i in range(m):
        sq = 0.0
        for f in range(n_features):
            v = (X[start + i, f] - frame_shift[f]) * frame_scale - shift[f]
            tile[i, f] = v
            sq += v * v
        norm[i] = np.sqrt(sq)
    # `best_two` reads the scores centers x rows. From GEMM_TRANSPOSED_MIN_CLUSTERS
    # clusters on, BLAS writes them so (reading the tile transposed, at no cost);
    # below, a product rows x centers and a transpose are faster (see _config.py).
    if n_clusters >= GEMM_TRANSPOSED_MIN_CLUSTERS:
        np.dot(centers32, tile.T, scores_t)
    else:
        scores = rows_buf[:m * n_clusters].reshape((m, n_clusters))
        np.dot(tile, centers32.T, scores)
        transpose(scores, scores_t)
    best, second, labels = best_two(scores_t, sqnorm, buffers)
    # A float32 dot product of length d, of inputs rounded to float32, is off by at most
    # (d + 3) u |x| |c| (u: unit roundoff); a float32 score sq - 2 x.c then by at most
    # e = u (2 R^2 + 2 (d + 4) |x| R), R = radius, plus a few float32 `tiny` where values
    # underflow. The best score is the exact argmin's whenever the runner-up is more than
    # 2e above it; the bound below is twice that.
    # A row that fails the certificate is compared exactly with the centers its float32
    # scores cannot rule out (at 1024 clusters 8% of the rows of clustered data fail it
    # at 128 features, 60% at 768: comparing those with every center took 40% of the
    # tile's time at 128 features).
    n_check = 0
    for i in range(m):
        bound = score_bound(norm[i], radius, n_features)
        row_best = np.float64(best[i])
        margin = np.float64(second[i]) - row_best
        if best[i] > -np.inf and margin > bound:
            continue
        if np.isfinite(row_best) and np.isfinite(bound):
            to_check[n_check] = i
            limit[n_check] = row_best + bound
            n_check += 1
        else:
            labels[i] = exact_argmin(X, start + i, frame_shift, frame_scale, centers)
    if n_check:
        recheck(X, start, _CONTIGUOUS, frame_shift, frame_scale, centers, scores_t, sqnorm,
                to_check[:n_check], limit[:n_check], recheck_buffers, labels)
    return labels
