"""Plain-numpy reference implementations of the chunkml kernels (stumpy's ``tests/naive.py``).

Written from the documented semantics, independent of chunkml's code: everything is
computed in float64 (float32 input is upcast first), with the exact ``sum((x - c)**2)``
distance rather than the kernels' ``||c||^2 - 2 x.c`` shortcut, and with sorting where the
kernels keep a heap, so that a test compares two different computations.
"""

from typing import NamedTuple

import numpy as np

# SplitMix64 (Steele, Lea and Flood 2014), as documented in chunkml/kernels/_random.py.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _weights(sample_weight, n_samples):
    """Per-row weights; None or an empty array means unit weights, as in the kernels."""
    if sample_weight is None or len(sample_weight) == 0:
        return np.ones(n_samples)
    return _f64(sample_weight)


def squared_distances(X, centers):
    """ndarray of shape (n_samples, n_clusters): exact squared euclidean distances."""
    X, centers = _f64(X), _f64(centers)
    diff = X[:, None, :] - centers[None, :, :]
    return (diff * diff).sum(axis=2)


def euclidean_distances(X, centers):
    """ndarray of shape (n_samples, n_clusters): euclidean distances."""
    return np.sqrt(squared_distances(X, centers))


def nearest_centers(X, centers):
    """(labels, mindist): index of the nearest center (first on ties) and its squared distance."""
    d2 = squared_distances(X, centers)
    labels = np.argmin(d2, axis=1) if d2.shape[0] else np.zeros(0, dtype=np.int64)
    return labels, d2[np.arange(d2.shape[0]), labels]


def moments(X):
    """ndarray of shape (2, n_features): per-feature mean and M2 (sum of squared deviations).

    Zero for zero rows.
    """
    X = _f64(X)
    if X.shape[0] == 0:
        return np.zeros((2, X.shape[1]))
    mean = X.mean(axis=0)
    return np.stack([mean, ((X - mean) ** 2).sum(axis=0)])


def top_m(keys, m):
    """Indices of the m largest keys, largest first; on ties the lower index comes first."""
    keys = _f64(keys)
    order = np.lexsort((np.arange(keys.shape[0]), -keys))
    return order[:m]


class LloydPartial(NamedTuple):
    sums: np.ndarray  # (k, d) weighted sum of each cluster's rows
    weight: np.ndarray  # (k,) total weight of each cluster
    inertia: float
    labels: np.ndarray  # (n,)
    mindist: np.ndarray  # (n,) squared distance to the nearest center
    far_idx: np.ndarray  # (min(m, n),) rows farthest from their nearest center
    moments: np.ndarray  # (2, d) unweighted mean and M2


def lloyd_partial(X, centers, sample_weight=None, m=0):
    """One weighted Lloyd partial of a block, by the definition."""
    X, centers = _f64(X), _f64(centers)
    n_clusters, n_features = centers.shape
    w = _weights(sample_weight, X.shape[0])
    labels, mindist = nearest_centers(X, centers)
    sums = np.zeros((n_clusters, n_features))
    weight = np.zeros(n_clusters)
    for j in range(n_clusters):
        mask = labels == j
        sums[j] = (w[mask, None] * X[mask]).sum(axis=0)
        weight[j] = w[mask].sum()
    return LloydPartial(sums, weight, float((w * mindist).sum()), labels, mindist,
                        top_m(mindist, m), moments(X))


def splitmix64(x):
    """SplitMix64 finaliser of uint64 values, wrapping modulo 2**64."""
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def counter_uniform(seed, stream, index):
    """Uniform float64 in (0, 1] of (seed, stream, index); index may be an array."""
    index = np.atleast_1d(np.asarray(index, dtype=np.uint64))
    with np.errstate(over="ignore"):
        key = splitmix64(splitmix64(np.uint64(seed)) ^ np.uint64(stream))
        h = splitmix64(key + index * _GOLDEN)
    return ((h >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53


class Sample(NamedTuple):
    keys: np.ndarray  # (n,) key of each row, 0 where the row may not be drawn
    top_idx: np.ndarray  # (<= m,) rows with the largest positive keys, largest first
    weight_sum: float
    moments: np.ndarray


def weighted_sample(X, sample_weight, seed, stream, row_offset, m):
    """Efraimidis-Spirakis sampling: key w / -log(u); the m largest keys are the sample."""
    n_samples = np.shape(X)[0]
    w = _weights(sample_weight, n_samples)
    u = counter_uniform(seed, stream, row_offset + np.arange(n_samples))
    keys = np.zeros(n_samples)
    positive = w > 0
    with np.errstate(divide="ignore"):
        keys[positive] = w[positive] / -np.log(u[positive])
    top = top_m(keys, m)
    return Sample(keys, top[keys[top] > 0], float(w.sum()), moments(X))


class Round(NamedTuple):
    mindist: np.ndarray  # (n,) updated squared distance to the candidate set
    nearest: np.ndarray  # (n,) id of the nearest candidate, -1 while there is none
    phi: float
    keys: np.ndarray  # (n,) key of each row, 0 where p == 0
    top_idx: np.ndarray  # (<= m,) rows with the largest positive keys, largest first


def kmeans_parallel_round(X, new_centers, mindist, sample_weight, seed, stream,
                          row_offset, exponential, m, nearest=None, first_id=0):
    """One k-means|| round: min distance vs the new candidates, phi, keys p/u or p/-log(u).

    Ties keep the earlier candidate (the one already in `nearest`, else the lowest id).
    """
    n_samples = np.shape(X)[0]
    if mindist is None or len(mindist) == 0:
        mindist = np.full(n_samples, np.inf)
        nearest = np.full(n_samples, -1)
    new_mindist = _f64(mindist).copy()
    new_nearest = (np.full(n_samples, -1) if nearest is None
                   else np.asarray(nearest, dtype=np.int64).copy())
    if len(new_centers):
        dist = squared_distances(X, new_centers)
        closer = dist.min(axis=1) < new_mindist
        new_nearest[closer] = first_id + dist.argmin(axis=1)[closer]
        new_mindist = np.minimum(new_mindist, dist.min(axis=1))
    p = _weights(sample_weight, n_samples) * new_mindist
    u = counter_uniform(seed, stream, row_offset + np.arange(n_samples))
    keys = np.zeros(n_samples)
    positive = p > 0
    with np.errstate(divide="ignore"):
        denom = -np.log(u[positive]) if exponential else u[positive]
        keys[positive] = p[positive] / denom
    top = top_m(keys, m)
    return Round(new_mindist, new_nearest, float(p.sum()), keys, top[keys[top] > 0])
