"""The partial results of one pass over some rows of X, and the one merge of each kind.

A partial is a dataclass of named, typed fields: counts and row ids are ints, sums and
distances float64. A block function (_blocks.py) makes one from its block's kernel
outputs; on a dask array, `da.reduction(..., concatenate=False)` tree-reduces them with
`merge_lloyd` or `merge_sample` (as dask's own ``mean_chunk``/``mean_combine`` pass dicts),
each of which takes the list of partials of one task of the tree; in-memory passes use the
partial of their one block as it is.

Merging is associative: the result does not depend on how the tree is cut, except for the
floating-point summation order (sums are added in the order of the parts, left to right, as
a stacked sum over parts adds them). Counts, minima and the kept rows are exact: each part
keeps its best rows, ranked by key, largest first, equal keys by global row id (unique
across X), and the best rows of a union are among the best of its parts.
"""

from dataclasses import dataclass, fields

import numpy as np
from dask.sizeof import sizeof

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


def best_rows(key, row, m):
    """Positions of the m rows of largest `key`, in rank order (equal keys: smallest `row`
    first). key (n,) float64 and row (n,) int64 are those of real rows only."""
    candidates = np.arange(key.shape[0])
    if key.shape[0] > m:
        if m == 0:
            return candidates[:0]
        # Sort only the rows that can make the cut (all ties at the m-th key included).
        cut = np.partition(key, key.shape[0] - m)[key.shape[0] - m]
        candidates = np.flatnonzero(key >= cut)
    order = np.lexsort((row[candidates], -key[candidates]))
    return candidates[order[:m]]


def _sum(values):
    """values[0] + values[1] + ..., left to right (numpy's pairwise sum of a 1-D array
    would add them in another order from 8 parts on)."""
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


def _best_of(parts, key, row, columns, m):
    """{field: values} of the m best of the parts' kept rows: the fields `key` and `row`
    that rank them (see best_rows) and the other `columns`, in rank order."""
    values = {name: np.concatenate([getattr(p, name) for p in parts])
              for name in (key, row, *columns)}
    keep = best_rows(values[key], values[row], m)
    return {name: column[keep] for name, column in values.items()}


def _parts(parts, kind):
    """The list of partials a reduction task gets: dask passes one partial alone when a
    node has a single input."""
    return [parts] if isinstance(parts, kind) else list(parts)


@dataclass
class LloydPartial:
    """A Lloyd pass over some rows of X, in the rows' frame: what the driver needs to
    update the centers (see lloyd.update_centers).

    The far rows are the at most n_far rows farthest from their nearest center, largest
    distance first, equal distances by row id.
    """

    n_samples: int
    n_far: int  # far rows kept at most
    inertia: float  # weighted sum of the squared distances to the nearest center
    sums: np.ndarray  # (n_clusters, n_features) float64: weighted sum of each cluster's rows
    weight: np.ndarray  # (n_clusters,) float64: total weight of each cluster
    moments: np.ndarray | None  # (2, n_features) float64 (mean, M2); None: not measured
    far_dist: np.ndarray  # (m,) float64: squared distance to the nearest center
    far_row: np.ndarray  # (m,) int64: global row id (see DaskRows for unknown chunks)
    far_label: np.ndarray  # (m,) int64: the cluster the row was summed into
    far_weight: np.ndarray  # (m,) float64
    far_X: np.ndarray  # (m, n_features) float64: the rows, in the frame
    min_weight: float  # smallest weight of a row (+inf for no rows)
    # Rows compared with every center: all of them, but in the passes that carry bounds
    # (kernels.bounded_lloyd_partial_sums), where the others' bounds settled their label.
    n_compared: int = -1  # -1: every row (a plain pass)


def merge_lloyd(parts, axis=None, keepdims=True):
    """One LloydPartial of a list of them (of consecutive rows, in order); the combine and
    aggregate of a ``da.reduction(..., concatenate=False)``."""
    parts = _parts(parts, LloydPartial)
    if len(parts) == 1:
        return parts[0]
    moments = None
    if parts[0].moments is not None:
        _, moments = merge_moment_rows([p.n_samples for p in parts],
                                       np.stack([p.moments for p in parts]))
    return LloydPartial(
        n_samples=sum(p.n_samples for p in parts),
        n_far=parts[0].n_far,
        inertia=_sum([p.inertia for p in parts]),
        sums=_sum([p.sums for p in parts]),
        weight=_sum([p.weight for p in parts]),
        moments=moments,
        min_weight=min(p.min_weight for p in parts),
        n_compared=(-1 if parts[0].n_compared < 0
                    else sum(p.n_compared for p in parts)),
        **_best_of(parts, "far_dist", "far_row", ("far_label", "far_weight", "far_X"),
                   parts[0].n_far),
    )


@dataclass
class SamplePartial:
    """A sampling pass over some rows of X: the kept rows, largest key first (equal keys
    by row id), and totals.

    The first pass (`sample`) also measures X (`stats`); a k-means|| / k-means++ round
    does not (None), and its `total` is the weighted sum of squared distances (phi).
    """

    n_samples: int
    n_top: int  # rows kept at most
    total: float  # total weight of the rows, or phi for a round
    stats: Stats | None  # kernels.block_stats rows of the rows; None in a round
    key: np.ndarray  # (t,) float64: the rows' keys, all >= 0
    index: np.ndarray  # (t,) int64: their global row ids
    X: np.ndarray  # (t, n_features) float64: the rows, in X's units
    min_weight: float  # smallest weight of a row (+inf for no rows)

    @staticmethod
    def nbytes(n_features, n_top):
        """Bytes of a partial that keeps n_top rows (stats included), at most."""
        return 8 * (3 + N_STATS * n_features + n_top * (2 + n_features))


def merge_stats(parts):
    """One Stats of a list of them (see _frame.merge_stat_rows)."""
    n_samples, stats = merge_stat_rows([p.n_samples for p in parts],
                                       np.stack([p.stats for p in parts]))
    return Stats(int(n_samples), stats)


def merge_sample(parts, axis=None, keepdims=True):
    """One SamplePartial of a list of them (of consecutive rows, in order); the combine
    and aggregate of a ``da.reduction(..., concatenate=False)``."""
    parts = _parts(parts, SamplePartial)
    if len(parts) == 1:
        return parts[0]
    return SamplePartial(
        n_samples=sum(p.n_samples for p in parts),
        n_top=parts[0].n_top,
        # Pairwise (np.sum), as when partials were float vectors: phi decides k-means||'s
        # draws, which so stay those of earlier releases.
        total=float(np.sum([p.total for p in parts])),
        stats=None if parts[0].stats is None else merge_stats([p.stats for p in parts]),
        min_weight=min(p.min_weight for p in parts),
        **_best_of(parts, "key", "index", ("X",), parts[0].n_top),
    )


@sizeof.register(LloydPartial)
@sizeof.register(SamplePartial)
@sizeof.register(Stats)
def _sizeof_fields(partial):
    # What distributed counts in memory and transfers: the arrays, not the object.
    return sum(sizeof(getattr(partial, f.name)) for f in fields(partial))
