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

from ._config import (
    CACHE,
    FASTMATH,
    STATS_BY_FEATURE_MAX_FEATURES,
    STATS_CHUNK_VALUES,
    helper,
)

# Rows of a block's first-pass statistics (`block_stats`).
STAT_MIN, STAT_MAX, STAT_MEAN, STAT_M2, STAT_EXP = range(5)
N_STATS = 5


@helper()
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


@helper()
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
        for f in range(moments_a.shape[1]):  # a loop: see _chunks.merge_chunk_partials
            moments_a[0, f] = moments_b[0, f]
            moments_a[1, f] = moments_b[1, f]
        return n
    for f in range(moments_a.shape[1]):
        delta = moments_b[0, f] - moments_a[0, f]
        moments_a[0, f] += delta * n_b / n
        moments_a[1, f] += moments_b[1, f] + delta * delta * (n_a * n_b / n)
    return n


@helper()
def _exponent(half_range):
    """e with half_range < 2**e (0 for 0 or a non-finite value), within float64's range."""
    if not (half_range > 0.0 and half_range < np.inf):
        return 0
    return min(max(math.frexp(half_range)[1], -1000), 1000)


@helper()
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


@helper()
def _feature_range(X, start, stop, f, lo, hi):
    """(min, max) of lo, hi and X[start:stop, f] as float64: four running pairs, so that
    each compare waits on the one four rows before it, not the last."""
    lo1, hi1, lo2, hi2, lo3, hi3 = lo, hi, lo, hi, lo, hi
    i = start
    while i + 4 <= stop:
        a = np.float64(X[i, f])
        b = np.float64(X[i + 1, f])
        c = np.float64(X[i + 2, f])
        e = np.float64(X[i + 3, f])
        lo, hi = min(lo, a), max(hi, a)
        lo1, hi1 = min(lo1, b), max(hi1, b)
        lo2, hi2 = min(lo2, c), max(hi2, c)
        lo3, hi3 = min(lo3, e), max(hi3, e)
        i += 4
    for j in range(i, stop):
        a = np.float64(X[j, f])
        lo, hi = min(lo, a), max(hi, a)
    return min(min(lo, lo1), min(lo2, lo3)), max(max(hi, hi1), max(hi2, hi3))


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def block_stats(X, out_stats):
    """Per-feature min, max, mean and M2 of a block, M2 in a scale of the block's own.

    out_stats (N_STATS, d) float64 OUT (overwritten), rows STAT_*: min and max (exact,
    so they merge to X's whatever the chunking; +inf / -inf for 0 rows), mean (in X's
    units), M2 / 4**e and e. e is the exponent of the feature's half range, so the sums
    behind M2 are taken of values in [-1, 1] and can neither overflow nor underflow.
    NaN or inf in a feature makes its mean and M2 non-finite. Reads the block twice:
    up to STATS_BY_FEATURE_MAX_FEATURES features a feature at a time over chunks of rows
    held in cache (the running values then stay in registers), wider blocks row by row.
    """
    n_samples, n_features = X.shape
    for f in range(n_features):
        out_stats[STAT_MIN, f] = np.inf
        out_stats[STAT_MAX, f] = -np.inf
    by_row = n_features > STATS_BY_FEATURE_MAX_FEATURES
    rows = STATS_CHUNK_VALUES // max(n_features, 1)
    if by_row:
        for i in range(n_samples):
            for f in range(n_features):
                x = np.float64(X[i, f])
                out_stats[STAT_MIN, f] = min(out_stats[STAT_MIN, f], x)
                out_stats[STAT_MAX, f] = max(out_stats[STAT_MAX, f], x)
    else:
        for start in range(0, n_samples, rows):
            stop = min(start + rows, n_samples)
            for f in range(n_features):
                out_stats[STAT_MIN, f], out_stats[STAT_MAX, f] = _feature_range(
                    X, start, stop, f, out_stats[STAT_MIN, f], out_stats[STAT_MAX, f])
    mid, unit = stat_units(out_stats, n_samples)
    if by_row:
        for i in range(n_samples):
            for f in range(n_features):
                t = (np.float64(X[i, f]) - mid[f]) * unit[f]
                out_stats[STAT_MEAN, f] += t
                out_stats[STAT_M2, f] += t * t
    else:
        for start in range(0, n_samples, rows):
            stop = min(start + rows, n_samples)
            for f in range(n_features):
                m, u = mid[f], unit[f]
                s1 = 0.0
                s2 = 0.0
                for i in range(start, stop):
                    t = (np.float64(X[i, f]) - m) * u
                    s1 += t
                    s2 += t * t
                out_stats[STAT_MEAN, f] += s1
                out_stats[STAT_M2, f] += s2
    if n_samples == 0:
        return
    for f in range(n_features):
        s1 = out_stats[STAT_MEAN, f]
        s2 = out_stats[STAT_M2, f]
        out_stats[STAT_MEAN, f] = mid[f] + (s1 / n_samples) / unit[f]
        out_stats[STAT_M2, f] = max(s2 - s1 * s1 / n_samples, 0.0)
