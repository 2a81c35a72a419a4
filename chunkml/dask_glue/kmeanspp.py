"""k-means++ (Arthur and Vassilvitskii 2007): greedy in memory, D^2 sampling over passes.

`kmeans_plusplus` is scikit-learn's ``_kmeans_plusplus`` on in-memory data: the first
center is drawn with probability proportional to sample_weight; each next one is the
best of ``2 + log(n_clusters)`` candidates drawn proportionally to weight * squared
distance. It is `NumpyRows.kmeanspp`, and the recluster of k-means|| candidates. On a
dense ndarray the kernels skip the distances that the triangle inequality rules out
(kernels/kmeanspp.py), with the same choices; CSR X and cosine's unit rows (read a slab
at a time, never copied whole) are compared with every trial by products.

`sampled_kmeanspp` is `DaskRows.kmeanspp`: plain D^2 sampling, one center per pass over
X, with the passes of the `Passes` interface (passes.py).
"""

import numpy as np

from ..kernels import KmeansppState
from . import progress
from ._sparse import is_sparse, take_rows

# Rows per slab when computing candidate-to-row distances, to bound the temporary memory.
_SLAB_ROWS = 1 << 16
# Up to this many rows x features x clusters (the k-means|| candidates of a few
# clusters: about 60 x 2 x 3 in the seed workload), numpy compares every trial with every
# row: at most 1-1.5 ms more than the kernels (4096 x 2 candidates, k=16: 2.9 against
# 1.6 ms; 2.5-4x more at twice the work), where the kernels' first use compiles for
# 0.7-1.2 s.
NUMPY_MAX_WORK = 1 << 17


def _slab(X, sl, frame):
    if frame is None:
        return X[sl]
    # Sparse X stays sparse: its frame has no shift (see _sparse.py).
    return X[sl] * frame.scale if is_sparse(X) else frame.apply(X[sl])


def _sqnorms(slab):
    if is_sparse(slab):
        return np.asarray(slab.multiply(slab).sum(axis=1), dtype=np.float64).ravel()
    return np.einsum("ij,ij->i", slab, slab)


def _sq_distances(points, X, X_sqnorm, frame):
    """(len(points), n_samples) squared distances, clamped at 0, in the frame's units."""
    out = np.empty((points.shape[0], X.shape[0]))
    p_sqnorm = np.einsum("ij,ij->i", points, points)
    for start in range(0, X.shape[0], _SLAB_ROWS):
        sl = slice(start, start + _SLAB_ROWS)
        block = np.asarray(_slab(X, sl, frame) @ points.T)
        out[:, sl] = (X_sqnorm[sl, None] - 2.0 * block + p_sqnorm[None, :]).T
    return np.maximum(out, 0.0, out=out)


def kmeans_plusplus(X, n_clusters, sample_weight, rng, n_local_trials=None, frame=None):
    """Pick n_clusters rows of X as initial centers.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or scipy.sparse
    n_clusters : int
    sample_weight : ndarray of shape (n_samples,), float64, non-negative, positive sum
    rng : numpy.random.RandomState
    n_local_trials : int, default=2 + int(log(n_clusters))
    frame : Frame or None
        Measure distances in this frame (see _frame.py) and return the centers in it;
        None: X is in the units to measure in.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    indices : ndarray of shape (n_clusters,)
    """
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    if not isinstance(X, np.ndarray):
        return _slab_kmeans_plusplus(X, n_clusters, sample_weight, rng, n_local_trials,
                                     frame)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.shape[0] * X.shape[1] * n_clusters <= NUMPY_MAX_WORK:
        return _small_kmeans_plusplus(X, n_clusters, sample_weight, rng, n_local_trials,
                                      frame)
    X = np.ascontiguousarray(X)
    n_samples = X.shape[0]
    shift, scale = (np.zeros(X.shape[1]), 1.0) if frame is None else frame.args
    # The kernel's state: each row's nearest chosen center, compared with a trial only
    # where the triangle inequality does not rule it out (kernels/kmeanspp.py).
    state = KmeansppState(X, shift, scale, sample_weight, n_clusters)
    indices = np.empty(n_clusters, dtype=np.int64)
    indices[0] = rng.choice(n_samples, p=sample_weight / sample_weight.sum())
    state.start(indices[0])
    for c in range(1, n_clusters):
        candidates = _draw(sample_weight * state.closest, n_local_trials, rng)
        # The lowest potential sum(w * min(closest, d)) is the largest reduction of it;
        # the first on ties, as scikit-learn's argmin.
        indices[c] = candidates[int(np.argmax(state.gains(candidates)))]
        state.add(indices[c])
    return state.centers, indices


def _draw(weighted_closest, n_local_trials, rng):
    """n_local_trials rows drawn with probability proportional to w * closest."""
    cumulative = np.cumsum(weighted_closest)
    draws = rng.uniform(size=n_local_trials) * cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, draws), weighted_closest.shape[0] - 1)


def _greedy(n_samples, rows, distances, n_clusters, sample_weight, rng, n_local_trials):
    """`kmeans_plusplus` comparing every trial with every row: rows(idx), the rows idx
    in the frame, (len(idx), n_features) float64; distances(points), their squared
    distances to every row, (len(points), n_samples)."""
    indices = np.empty(n_clusters, dtype=np.int64)
    indices[0] = rng.choice(n_samples, p=sample_weight / sample_weight.sum())
    closest = distances(rows(indices[:1]))[0]
    for c in range(1, n_clusters):
        candidates = _draw(sample_weight * closest, n_local_trials, rng)
        dist = np.minimum(closest, distances(rows(candidates)))
        potentials = dist @ sample_weight
        best = int(np.argmin(potentials))
        closest = dist[best]
        indices[c] = candidates[best]
    return np.ascontiguousarray(rows(indices), dtype=np.float64), indices


def _small_kmeans_plusplus(X, n_clusters, sample_weight, rng, n_local_trials, frame):
    """`kmeans_plusplus` on few dense rows (the k-means|| candidates of few clusters):
    exact squared distances of differences, as the kernels take them, by numpy."""
    X = np.asarray(X, dtype=np.float64) if frame is None else frame.apply(X)

    def distances(points):
        diff = X[None, :, :] - points[:, None, :]
        return np.einsum("tnd,tnd->tn", diff, diff)  # 2-4x .sum(axis=2) at d <= 64

    return _greedy(X.shape[0], X.__getitem__, distances, n_clusters, sample_weight, rng,
                   n_local_trials)


def _slab_kmeans_plusplus(X, n_clusters, sample_weight, rng, n_local_trials, frame):
    """`kmeans_plusplus` on rows read a slab at a time: CSR X, or dense rows made on
    demand (cosine's unit rows, _unit.py): the trials' distances to every row by numpy
    and scipy products, one slab at a time."""
    n_samples = X.shape[0]
    X_sqnorm = np.empty(n_samples)
    for start in range(0, n_samples, _SLAB_ROWS):
        sl = slice(start, start + _SLAB_ROWS)
        X_sqnorm[sl] = _sqnorms(_slab(X, sl, frame))

    def rows(idx):
        if is_sparse(X):
            return take_rows(X, idx, 1.0 if frame is None else frame.scale)
        return X[idx] if frame is None else frame.apply(X[idx])

    def distances(points):
        return _sq_distances(points, X, X_sqnorm, frame)

    return _greedy(n_samples, rows, distances, n_clusters, sample_weight, rng,
                   n_local_trials)


def sampled_kmeanspp(rows, part, n_clusters, seed):
    """k-means++ by D^2 sampling over passes: part.X[0], the row pass 0 drew
    proportionally to weight (in the frame, as init.first_pass returns it), then one
    `rows.mindist_round` per center, each drawing a row with probability proportional to
    weight * squared distance to the centers so far. Returns (n_clusters, n_features)
    centers in the rows' frame."""
    centers = [part.X[0]]
    state = None
    for c in range(1, n_clusters):
        state, part = rows.mindist_round(state, centers[-1][None, :], c - 1, seed, c, 1,
                                         True)
        progress.report("step", "KMeans", "init", c + 1, n_clusters, init="k-means++",
                        detail=f"center {c + 1}")
        # No key means every row sits on a center: fewer distinct rows than clusters.
        centers.append(rows.frame.apply(part.X[0]) if part.key.size
                       else centers[c % len(centers)])
    return np.array(centers)
