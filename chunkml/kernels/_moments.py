"""Per-feature moments of a block, for scikit-learn's variance-scaled tol.

Sums are taken around the block's first row (a shift close to the data keeps
sum((x - x0)^2) - sum(x - x0)^2 / n accurate), in float64 whatever X's dtype.
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def accumulate_moments(X, start, stop, out_sums):
    """Add sum(x - x0) and sum((x - x0)^2) over rows start:stop into out_sums (2, d).

    x0 is the block's first row. A function of its own, so that its stores do not stop
    the compiler from optimising the caller's hot loop (2x slower inline).
    """
    for i in range(start, stop):
        for f in range(X.shape[1]):
            t = np.float64(X[i, f]) - np.float64(X[0, f])
            out_sums[0, f] += t
            out_sums[1, f] += t * t


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def finish_moments(X, out_moments):
    """Turn the shifted sums of all of X's rows in out_moments (2, d) into (mean, M2)."""
    n_samples = X.shape[0]
    if n_samples == 0:
        return
    for f in range(X.shape[1]):
        s1 = out_moments[0, f]
        s2 = out_moments[1, f]
        out_moments[0, f] = X[0, f] + s1 / n_samples
        out_moments[1, f] = max(s2 - s1 * s1 / n_samples, 0.0)


@njit(nogil=True, cache=CACHE)
def merge_moments(n_a, moments_a, n_b, moments_b):
    """Merge (mean, M2) of two row sets into `moments_a` (Chan et al.); returns n_a + n_b.

    moments_a (2, d) float64 INOUT; moments_b (2, d) float64 IN.
    """
    n = n_a + n_b
    if n_b == 0:
        return n
    if n_a == 0:
        moments_a[:] = moments_b
        return n
    for f in range(moments_a.shape[1]):
        delta = moments_b[0, f] - moments_a[0, f]
        moments_a[0, f] += delta * n_b / n
        moments_a[1, f] += moments_b[1, f] + delta * delta * (n_a * n_b / n)
    return n
