"""Building blocks for kernels that work row by row: the nearest center of a row by
``||c||^2 - 2 x.c``, its exact squared distance, and rows read into the frame.

Every kernel that measures distances takes a frame (shift, scale): it reads row x of X as
x' = (x - shift) * scale, in float64, and takes the centers in those units. The caller
picks the frame so that the rows are about unit size around the origin (scale a power of
two, so it is exact): ||c||^2 - 2 x.c then neither overflows nor cancels, however far
from the origin or however large or small the data. The identity frame is (zeros, 1.0).
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH, helper


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


@helper()
def squared_distance(X, i, shift, scale, centers, j):
    """Exact squared euclidean distance between row i of X, in the frame (shift, scale),
    and center j (float64)."""
    dist = 0.0
    for f in range(X.shape[1]):
        diff = (X[i, f] - shift[f]) * scale - centers[j, f]
        dist += diff * diff
    return dist


@helper()
def load_rows(X, start, stop, shift, scale, out_rows):
    """Rows start:stop of X in the frame (shift, scale) into out_rows[:stop - start]
    ((>= stop - start, d) float64 OUT)."""
    for i in range(start, stop):
        for f in range(X.shape[1]):
            out_rows[i - start, f] = (X[i, f] - shift[f]) * scale
