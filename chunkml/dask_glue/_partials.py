"""Fixed-size partial results of one pass over a block, and how to merge them.

A block's partials travel as one flat float64 vector so that dask can tree-reduce them
with `da.reduction` (concatenate, merge, repeat). Merging is associative, so the result
does not depend on how the tree is cut, except for floating-point summation order.
"""

from dataclasses import dataclass

import numpy as np

from ..kernels import N_STATS, merge_moments
from ._frame import Stats, merge_stat_rows


def merge_moment_rows(counts, moments):
    """Merge per-part (mean, M2) rows. counts (s,), moments (s, 2, d) -> (n, (2, d))."""
    n_total = np.int64(0)  # not the literal 0: one compiled signature, not two
    merged = np.zeros(moments.shape[1:])
    for count, part in zip(counts, moments):
        n_total = merge_moments(n_total, merged, np.int64(count),
                                np.ascontiguousarray(part))
    return n_total, merged


def top_rows(keys, order_key, m):
    """Indices of the m largest `keys` (ties: smallest `order_key` first), valid (>= 0) only."""
    valid = np.flatnonzero(keys >= 0)
    if valid.size > m:
        # Sort only the rows that can make the cut (all ties at the m-th key included).
        cut = np.partition(keys[valid], valid.size - m)[valid.size - m] if m else np.inf
        valid = valid[keys[valid] >= cut]
    order = np.lexsort((order_key[valid], -keys[valid]))
    return valid[order[:m]]


@dataclass(frozen=True)
class LloydLayout:
    """Layout of a Lloyd partial: row count, inertia, sums, weights, moments, far rows."""

    n_clusters: int
    n_features: int
    n_far: int

    @property
    def size(self):
        k, d, m = self.n_clusters, self.n_features, self.n_far
        return 3 + k * d + k + 2 * d + m * (3 + d)

    def _slices(self):
        k, d, m = self.n_clusters, self.n_features, self.n_far
        bounds = np.cumsum([0, 1, 1, k * d, k, 2 * d, m, m, m, m * d, 1])
        names = ("n", "inertia", "sums", "weight", "moments", "far_dist", "far_weight",
                 "far_label", "far_X", "min_weight")
        return {name: slice(a, b) for name, a, b in zip(names, bounds[:-1], bounds[1:])}

    def pack(self, n, inertia, sums, weight, moments, far_dist, far_weight, far_label,
             far_X, min_weight):
        vec = np.empty(self.size)
        parts = (n, inertia, sums, weight, moments, far_dist, far_weight, far_label, far_X,
                 min_weight)
        for sl, value in zip(self._slices().values(), parts):
            vec[sl] = np.ravel(value)
        return vec

    def unpack(self, vec):
        k, d, m = self.n_clusters, self.n_features, self.n_far
        s = self._slices()
        return LloydPartial(
            n_samples=int(vec[s["n"]][0]),
            inertia=float(vec[s["inertia"]][0]),
            sums=vec[s["sums"]].reshape(k, d),
            weight=vec[s["weight"]].copy(),
            moments=vec[s["moments"]].reshape(2, d),
            far_dist=vec[s["far_dist"]].copy(),
            far_weight=vec[s["far_weight"]].copy(),
            far_label=vec[s["far_label"]].astype(np.int64),
            far_X=vec[s["far_X"]].reshape(m, d),
            min_weight=float(vec[s["min_weight"]][0]),
        )

    def merge(self, parts, axis=None, keepdims=True):
        """Merge stacked partials (s, size) into one (1, size); usable by da.reduction."""
        parts = np.asarray(parts).reshape(-1, self.size)
        s = self._slices()
        out = parts.sum(axis=0)
        out[s["min_weight"]] = parts[:, s["min_weight"]].min()
        counts = parts[:, s["n"]][:, 0]
        _, moments = merge_moment_rows(counts, parts[:, s["moments"]].reshape(-1, 2,
                                                                         self.n_features))
        out[s["moments"]] = moments.ravel()
        far_dist = parts[:, s["far_dist"]].ravel()
        keep = top_rows(far_dist, np.arange(far_dist.size), self.n_far)
        far_dist_out = np.full(self.n_far, -1.0)
        far_w = np.zeros(self.n_far)
        far_label = np.full(self.n_far, -1.0)
        far_X = np.zeros((self.n_far, self.n_features))
        far_dist_out[:keep.size] = far_dist[keep]
        far_w[:keep.size] = parts[:, s["far_weight"]].ravel()[keep]
        far_label[:keep.size] = parts[:, s["far_label"]].ravel()[keep]
        far_X[:keep.size] = parts[:, s["far_X"]].reshape(-1, self.n_features)[keep]
        for name, value in (("far_dist", far_dist_out), ("far_weight", far_w),
                            ("far_label", far_label), ("far_X", far_X)):
            out[s[name]] = value.ravel()
        return out[None, :]


@dataclass
class LloydPartial:
    """One Lloyd pass over X, reduced: what the driver needs to update the centers."""

    n_samples: int
    inertia: float
    sums: np.ndarray
    weight: np.ndarray
    moments: np.ndarray
    far_dist: np.ndarray
    far_weight: np.ndarray
    far_label: np.ndarray
    far_X: np.ndarray
    min_weight: float


@dataclass(frozen=True)
class SampleLayout:
    """Layout of a sampling partial: row count, total, statistics (kernels.block_stats),
    the top rows by key."""

    n_features: int
    n_top: int

    @property
    def size(self):
        d, t = self.n_features, self.n_top
        return 3 + N_STATS * d + t * (2 + d)

    def _slices(self):
        d, t = self.n_features, self.n_top
        bounds = np.cumsum([0, 1, 1, N_STATS * d, t, t, t * d, 1])
        names = ("n", "total", "stats", "key", "index", "X", "min_weight")
        return {name: slice(a, b) for name, a, b in zip(names, bounds[:-1], bounds[1:])}

    def pack(self, n, total, stats, key, index, X_top, min_weight):
        vec = np.empty(self.size)
        values = (n, total, stats, key, index, X_top, min_weight)
        for sl, value in zip(self._slices().values(), values):
            vec[sl] = np.ravel(value)
        return vec

    def unpack(self, vec):
        s = self._slices()
        key = vec[s["key"]]
        index = vec[s["index"]]
        keep = top_rows(key, index, self.n_top)
        return SamplePartial(
            n_samples=int(vec[s["n"]][0]),
            total=float(vec[s["total"]][0]),
            stats=Stats(int(vec[s["n"]][0]),
                        vec[s["stats"]].reshape(N_STATS, self.n_features).copy()),
            key=key[keep],
            index=index[keep].astype(np.int64),
            X=vec[s["X"]].reshape(self.n_top, self.n_features)[keep],
            min_weight=float(vec[s["min_weight"]][0]),
        )

    def merge(self, parts, axis=None, keepdims=True):
        """Merge stacked partials (s, size) into one (1, size); usable by da.reduction."""
        parts = np.asarray(parts).reshape(-1, self.size)
        s = self._slices()
        out = np.empty(self.size)
        out[s["n"]] = parts[:, s["n"]].sum()
        out[s["total"]] = parts[:, s["total"]].sum()
        out[s["min_weight"]] = parts[:, s["min_weight"]].min()
        _, stats = merge_stat_rows(parts[:, s["n"]][:, 0],
                                   parts[:, s["stats"]].reshape(-1, N_STATS,
                                                                self.n_features))
        out[s["stats"]] = stats.ravel()
        key = parts[:, s["key"]].ravel()
        index = parts[:, s["index"]].ravel()
        keep = top_rows(key, index, self.n_top)
        top_key = np.full(self.n_top, -1.0)
        top_index = np.full(self.n_top, -1.0)
        top_X = np.zeros((self.n_top, self.n_features))
        top_key[:keep.size] = key[keep]
        top_index[:keep.size] = index[keep]
        top_X[:keep.size] = parts[:, s["X"]].reshape(-1, self.n_features)[keep]
        out[s["key"]] = top_key
        out[s["index"]] = top_index
        out[s["X"]] = top_X.ravel()
        return out[None, :]


@dataclass
class SamplePartial:
    """One sampling pass over X, reduced: the kept rows, largest key first, and totals."""

    n_samples: int
    total: float
    stats: Stats
    key: np.ndarray
    index: np.ndarray
    X: np.ndarray
    min_weight: float
