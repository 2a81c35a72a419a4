"""Assignment kernels: nearest center, its squared distance, distances to all centers."""

import numpy as np
from numba import njit, prange

from ._config import CACHE, CHUNK_ROWS, FASTMATH, MAX_CHUNKS


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
def squared_distance(X, i, centers, j):
    """Exact squared euclidean distance between row i of X and center j (float64)."""
    dist = 0.0
    for f in range(X.shape[1]):
        diff = X[i, f] - centers[j, f]
        dist += diff * diff
    return dist


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def assign_labels(X, centers, centers_sqnorm, out_labels, out_mindist):
    """Label every row with its nearest center and that center's squared distance.

    X (n, d) float32|float64 IN; centers (k, d) float64 IN; centers_sqnorm (k,) float64 IN;
    out_labels (n,) int32|int64 OUT (overwritten); out_mindist (n,) float64 OUT
    (overwritten). A row holding NaN gets label 0 and a NaN distance.
    """
    for i in range(X.shape[0]):
        j = nearest_center(X, i, centers, centers_sqnorm)
        out_labels[i] = j
        out_mindist[i] = squared_distance(X, i, centers, j)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def euclidean_distances(X, centers, out):
    """Euclidean distance from every row to every center.

    X (n, d) float32|float64 IN; centers (k, d) float64 IN; out (n, k) float32|float64 OUT
    (overwritten).
    """
    for i in range(X.shape[0]):
        for j in range(centers.shape[0]):
            out[i, j] = np.sqrt(squared_distance(X, i, centers, j))


@njit(nogil=True, cache=CACHE)
def chunk_bounds(n_samples):
    """Rows per chunk for the in-memory parallel variants; depends on n_samples only."""
    n_chunks = min(max((n_samples + CHUNK_ROWS - 1) // CHUNK_ROWS, 1), MAX_CHUNKS)
    return n_chunks, (n_samples + n_chunks - 1) // n_chunks


@njit(nogil=True, parallel=True, cache=CACHE, fastmath=FASTMATH)
def assign_labels_parallel(X, centers, centers_sqnorm, out_labels, out_mindist):
    """In-memory variant of `assign_labels`, parallel over fixed row chunks."""
    n_chunks, rows = chunk_bounds(X.shape[0])
    for c in prange(n_chunks):
        start = c * rows
        stop = min(start + rows, X.shape[0])
        assign_labels(X[start:stop], centers, centers_sqnorm,
                      out_labels[start:stop], out_mindist[start:stop])


@njit(nogil=True, parallel=True, cache=CACHE, fastmath=FASTMATH)
def euclidean_distances_parallel(X, centers, out):
    """In-memory variant of `euclidean_distances`, parallel over fixed row chunks."""
    n_chunks, rows = chunk_bounds(X.shape[0])
    for c in prange(n_chunks):
        start = c * rows
        stop = min(start + rows, X.shape[0])
        euclidean_distances(X[start:stop], centers, out[start:stop])
