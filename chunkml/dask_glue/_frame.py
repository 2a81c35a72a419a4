"""The frame of a fit: the units every kernel measures distances in.

The kernels read each row x as x' = (x - shift) * scale (kernels/_rowwise.py). With shift
the middle of the data's range and scale the power of two that brings its half range
into [0.5, 1), every distance, sum, inertia and the tol comparison are taken of values
of about unit size: data far from the origin (x = 1e154 + small spread) neither
overflows ||c||^2 nor cancels in ||c||^2 - 2 x.c, and tiny data (1e-200) does not
underflow. A power of two is exact, so the frame changes nothing but the rounding.

A fit chooses its frame before it measures any distance, from the exact per-feature
min and max of its first pass (the same whatever the chunking), or, when there is no
such pass (an init array, a fitted model), from the centers.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..kernels import N_STATS, STAT_EXP, STAT_M2, STAT_MAX, STAT_MEAN, STAT_MIN

# Widest exponent of a scale: 2**-1000 .. 2**1000 stay normal float64 values.
_MAX_EXPONENT = 1000
# What `Frame.suits` allows: X's middle within 2**10 of its spread from the shift, and
# that spread within 2**-64 .. 2**64 units.
_MAX_OFFSET = 2.0 ** 10
_MAX_UNIT_EXPONENT = 64


def _exponent(value):
    """e with value < 2**e for finite value > 0, else 0."""
    if not (0.0 < value < np.inf):
        return 0
    return min(max(math.frexp(value)[1], -_MAX_EXPONENT), _MAX_EXPONENT)


@dataclass(frozen=True)
class Frame:
    """x' = (x - shift) * scale, scale = 2**-exponent."""

    shift: np.ndarray  # (n_features,) float64
    exponent: int

    @property
    def scale(self):
        return math.ldexp(1.0, -self.exponent)

    @property
    def args(self):
        """(shift, scale) as the kernels take them."""
        return self.shift, self.scale

    @classmethod
    def identity(cls, n_features):
        return cls(np.zeros(n_features), 0)

    @classmethod
    def from_bounds(cls, lo, hi):
        """The frame centred on the box [lo, hi] that brings its half width below 1."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        shift = 0.5 * lo + 0.5 * hi
        half = np.max(0.5 * hi - 0.5 * lo, initial=0.0)
        if not np.all(np.isfinite(shift)):
            return cls.identity(lo.shape[0])
        return cls(np.ascontiguousarray(shift), _exponent(float(half)))

    @classmethod
    def from_points(cls, points):
        """The frame of a set of centers. Equal centers (n_clusters=1) have no width:
        their magnitude sets the scale then, which suits data not far from the origin
        relative to its spread (and leaves any other within float64's range)."""
        points = np.asarray(points, dtype=np.float64)
        frame = cls.from_bounds(points.min(axis=0), points.max(axis=0))
        if np.ptp(points, axis=0).max(initial=0.0) == 0.0:
            magnitude = float(np.abs(frame.shift).max(initial=0.0))
            frame = cls(frame.shift, _exponent(magnitude))
        return frame

    def unshifted(self):
        """This frame without its shift, for sparse X (whose zeros a shift would make
        nonzero): the scale brings the largest magnitude of the box it was chosen for,
        at most |shift| + 2**exponent, below 1. Itself when the shift is 0 already."""
        if not np.any(self.shift):
            return self
        magnitude = float(np.abs(self.shift).max()) + math.ldexp(1.0, self.exponent)
        return Frame(np.zeros_like(self.shift), _exponent(magnitude))

    def suits(self, n_samples, moments):
        """Whether X, measured in this frame by a Lloyd pass ((mean, M2) rows in its
        units), is represented well in it: X's middle at most _MAX_OFFSET of its spread
        from the shift (so rounding x' loses at most ~10 bits of X's detail) and that
        spread within 2**+-_MAX_UNIT_EXPONENT units (its squares neither underflow nor
        overflow). A frame chosen from initial centers far from X (or much narrower or
        wider than it) does not; nor does one whose pass found anything non-finite."""
        if n_samples == 0:
            return True
        if not np.all(np.isfinite(moments)):
            return False
        mean = float(np.abs(moments[0]).max(initial=0.0))
        spread = math.sqrt(float(np.max(moments[1], initial=0.0)) / n_samples)
        if spread == 0.0:
            return mean == 0.0
        return (mean <= _MAX_OFFSET * spread
                and 2.0 ** -_MAX_UNIT_EXPONENT <= spread <= 2.0 ** _MAX_UNIT_EXPONENT)

    def apply(self, x):
        """Points of X's units in this frame (float64)."""
        return np.ascontiguousarray((np.asarray(x, dtype=np.float64) - self.shift)
                                    * self.scale)

    def restore(self, x):
        """Points of this frame in X's units."""
        return x / self.scale + self.shift

    def restore_squared(self, value):
        """A squared distance (inertia) of this frame in X's units."""
        return value / self.scale / self.scale


# Below every exponent a scale can have.
_NO_EXPONENT = -100_000


def merge_stat_rows(counts, stats):
    """Merge per-part first-pass statistics (kernels.block_stats rows).

    counts (s,), stats (s, N_STATS, d) -> (n_total, (N_STATS, d)). min and max merge
    exactly; (mean, M2) by Chan et al., M2 in the larger part's scale (or that of the
    means' difference), so that nothing overflows.
    """
    n_features = stats.shape[2]
    out = np.zeros((N_STATS, n_features))
    out[STAT_MIN] = np.inf
    out[STAT_MAX] = -np.inf
    n_total = 0
    for count, part in zip(counts, stats):
        count = int(count)
        if count == 0:
            continue
        out[STAT_MIN] = np.minimum(out[STAT_MIN], part[STAT_MIN])
        out[STAT_MAX] = np.maximum(out[STAT_MAX], part[STAT_MAX])
        if n_total == 0:
            out[STAT_MEAN:] = part[STAT_MEAN:]
            n_total = count
            continue
        n = n_total + count
        delta = part[STAT_MEAN] - out[STAT_MEAN]
        old_e = out[STAT_EXP].astype(np.int64)
        part_e = part[STAT_EXP].astype(np.int64)
        # The scale of the merged M2: the largest of the parts' (where their M2 is not
        # 0: a one-row block's scale says nothing) and of the means' difference.
        with np.errstate(invalid="ignore"):
            e = np.maximum.reduce([
                np.where(out[STAT_M2] != 0, old_e, _NO_EXPONENT),
                np.where(part[STAT_M2] != 0, part_e, _NO_EXPONENT),
                np.where(delta != 0, np.frexp(np.abs(delta))[1], _NO_EXPONENT)])
        e[(e == _NO_EXPONENT) | ~np.isfinite(delta)] = 0
        scaled_delta = np.ldexp(delta, -e)
        out[STAT_M2] = (np.ldexp(out[STAT_M2], 2 * (old_e - e))
                        + np.ldexp(part[STAT_M2], 2 * (part_e - e))
                        + scaled_delta * scaled_delta * (n_total * count / n))
        out[STAT_MEAN] = out[STAT_MEAN] + delta * (count / n)
        out[STAT_EXP] = e
        n_total = n
    return n_total, out


@dataclass(frozen=True)
class Stats:
    """X's per-feature statistics from the first pass: what the frame and tol need."""

    n_samples: int
    stats: np.ndarray  # (N_STATS, n_features), kernels.block_stats rows

    @property
    def moments(self):
        """(mean, M2 scaled) rows: non-finite exactly when X holds NaN or inf."""
        return self.stats[[STAT_MEAN, STAT_M2]]

    def frame(self):
        return Frame.from_bounds(self.stats[STAT_MIN], self.stats[STAT_MAX])

    def mean_variance(self, frame):
        """Mean over features of the variance of X, in the frame's units."""
        if self.n_samples == 0:
            return 0.0
        e = self.stats[STAT_EXP].astype(np.int64)
        var = np.ldexp(self.stats[STAT_M2], 2 * (e - frame.exponent)) / self.n_samples
        return float(np.mean(var))
