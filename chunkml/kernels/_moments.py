"""Per-feature moments of a block, for scikit-learn's variance-scaled tol.

The Lloyd kernels take them in their frame (see _rowwise.py), summed around the block's
first row (a shift close to the data keeps sum((x - x0)^2) - sum(x - x0)^2 / n
accurate), in float64 whatever X's dtype. The first pass over X (`sample_rows`), which
comes before any frame is known, takes them in a frame of the block's own (`block_stats`):
so neither their sums nor M2 overflow or underflow, whatever the magnitude of X.
"""

import math

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH

# Rows of a block's first-pass statistics (`block_stats`).
STAT_MIN, STAT_MAX, STAT_MEAN, STAT_M2, STAT_EXP = range(5)
N_STATS = 5


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def accumulate_moments(X, start, stop, shift, scale, out_sums):
    """Add sum(x' - x0') and sum((x' - x0')^2) over rows start:stop into out_sums (2, d).

    x' = (x - shift) * scale; x0 is the block's first row. A function of its own, so
    that its stores do not stop the compiler from optimising the caller's hot loop (2x
    slower inline).
    """
    for i in range(start, stop):
        for f in range(X.shape[1]):
            t = (np.float64(X[i, f]) - np.float64(X[0, f])) * scale
            out_sums[0, f] += t
            out_sums[1, f] += t * t


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def finish_moments(X, shift, scale, out_moments):
    """Turn the shifted sums of all of X's rows in out_moments (2, d) into (mean, M2) of
    x' = (x - shift) * scale."""
    n_samples = X.shape[0]
    if n_samples == 0:
        return
    for f in range(X.shape[1]):
        s1 = out_moments[0, f]
        s2 = out_moments[1, f]
        out_moments[0, f] = (X[0, f] - shift[f]) * scale + s1 / n_samples
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


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _exponent(half_range):
    """e with half_range < 2**e (0 for 0 or a non-finite value), within float64's range."""
    if not (half_range > 0.0 and half_range < np.inf):
        return 0
    return min(max(math.frexp(half_range)[1], -1000), 1000)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def stat_units(out_stats, n_samples):
    """From the min and max rows of out_stats (N_STATS, d) INOUT: each feature's middle
    and unit 2**-e (e the exponent of its half range, stored in the STAT_EXP row), the
    frame the second read of `block_stats` sums in; zeroes the mean and M2 rows."""
    n_features = out_stats.shape[1]
    mid = np.empty(n_features)
    unit = np.empty(n_features)
    for f in range(n_features):
        lo = out_stats[STAT_MIN, f]
        hi = out_stats[STAT_MAX, f]
        e = _exponent(0.5 * hi - 0.5 * lo) if n_samples else 0
        mid[f] = 0.5 * lo + 0.5 * hi if n_samples else 0.0
        unit[f] = math.ldexp(1.0, -e)
        out_stats[STAT_EXP, f] = e
        out_stats[STAT_MEAN, f] = 0.0
        out_stats[STAT_M2, f] = 0.0
    return mid, unit


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def block_stats(X, out_stats):
    """Per-feature min, max, mean and M2 of a block, M2 in a scale of the block's own.

    out_stats (N_STATS, d) float64 OUT (overwritten), rows STAT_*: min and max (exact,
    so they merge to X's whatever the chunking; +inf / -inf for 0 rows), mean (in X's
    units), M2 / 4**e and e. e is the exponent of the feature's half range, so the sums
    behind M2 are taken of values in [-1, 1] and can neither overflow nor underflow.
    NaN or inf in a feature makes its mean and M2 non-finite. Reads the block twice.
    """
    n_samples, n_features = X.shape
    for f in range(n_features):
        out_stats[STAT_MIN, f] = np.inf
        out_stats[STAT_MAX, f] = -np.inf
    for i in range(n_samples):
        for f in range(n_features):
            x = np.float64(X[i, f])
            out_stats[STAT_MIN, f] = min(out_stats[STAT_MIN, f], x)
            out_stats[STAT_MAX, f] = max(out_stats[STAT_MAX, f], x)
    mid, unit = stat_units(out_stats, n_samples)
    for i in range(n_samples):
        for f in range(n_features):
            t = (np.float64(X[i, f]) - mid[f]) * unit[f]
            out_stats[STAT_MEAN, f] += t
            out_stats[STAT_M2, f] += t * t
    if n_samples == 0:
        return
    for f in range(n_features):
        s1 = out_stats[STAT_MEAN, f]
        s2 = out_stats[STAT_M2, f]
        out_stats[STAT_MEAN, f] = mid[f] + (s1 / n_samples) / unit[f]
        out_stats[STAT_M2, f] = max(s2 - s1 * s1 / n_samples, 0.0)
