"""Spherical (cosine) k-means: X read as unit rows, block by block, by the Euclidean passes.

With metric="cosine" every row x is read as x / ||x||; the centers are kept at unit
length (Dhillon and Modha 2001; faiss's ``spherical=True``, Spark's
``distanceMeasure="cosine"``). For unit vectors ||x - c||^2 = 2 (1 - cos(x, c)), so the
Euclidean kernels, fed unit rows and unit centers, assign each row to the center of
largest cosine similarity, and their inertia is twice the cosine cost.

X itself is never copied as a whole: a dask X gets a lazy ``map_blocks`` that normalises
each block when a pass reads it (`unit_view`), and in-memory X is read in slabs of at most
`SLAB_BYTES` (`UnitNumpyRows`, the `Passes` of passes.py over the normalised slabs).
A zero row has no direction: it is a `ZeroRowError` (a ValueError that names the row),
raised in the first pass that reads it. Sparse X (CSR) is read by the sparse Euclidean
passes as its unit rows (`unit_input`): in memory a copy of its stored values, scaled
(the sparsity pattern is shared), on dask each block when a pass reads it;
MiniBatchKMeans's steps normalise each batch (`unit_rows` of a CSR batch).
"""

import dask.array as da
import numpy as np

from ._blocks import (
    bounded_lloyd_block,
    as_block,
    candidate_weight_block,
    check_finite_block,
    labels_block,
    lloyd_block,
    mindist_block,
    sample_block,
)
from ._partials import merge_lloyd, merge_sample
from ._rows import (
    final_of,
    room_for_bounds,
    set_rows,
    unbounded_lloyd,
    use_parallel,
    weights_or_ones,
)
from ._sparse import is_sparse
from .kmeanspp import kmeans_plusplus

METRICS = ("euclidean", "cosine")
# Bytes of X normalised at once in memory: bounds the slab copy, and keeps enough rows
# per slab for the parallel kernels to share out.
SLAB_BYTES = 32 * 2**20
MIN_SLAB_ROWS = 4096


class ZeroRowError(ValueError):
    """X has a row of zeros, whose cosine similarity to anything is undefined."""


def check_metric(metric):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")


def unit_input(X):
    """X as the Euclidean passes read it for cosine: a dask X (dense or sparse blocks)
    lazily normalised block by block (`unit_view`), an in-memory CSR X its unit rows
    (`unit_rows`: a scaled copy of its stored values). Dense in-memory X is read by
    UnitNumpyRows, a slab at a time, instead."""
    if isinstance(X, da.Array):
        return unit_view(X)
    return unit_rows(X)


def _zero_row_error(where):
    return ZeroRowError(
        f"X has a zero row ({where}): its cosine similarity to any center is undefined "
        "(metric='cosine' reads every row as x / ||x||). Drop zero rows first, or use "
        "metric='euclidean'.")


def _zero_row(peak, first_row, block):
    zero = np.flatnonzero(peak == 0)
    if zero.size:
        i = int(zero[0])
        raise _zero_row_error(f"row {first_row + i}" if first_row is not None
                              else f"row {i} of block {block}" if block is not None
                              else f"row {i} of the block")


def _unit_csr(X, first_row, block):
    """`unit_rows` of a CSR block: its stored values scaled (a copy), its indices and
    row pointers shared."""
    data = X.data.astype(np.float64)
    counts = np.diff(X.indptr)
    rows = np.repeat(np.arange(X.shape[0]), counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        # NaN (and, through inf / inf, inf) propagates into the row's values.
        peak = np.zeros(X.shape[0])
        np.maximum.at(peak, rows, np.abs(data))
        _zero_row(peak, first_row, block)
        y = data / peak[rows]
        norm = peak * np.sqrt(np.bincount(rows, weights=y * y, minlength=X.shape[0]))
        out = data / norm[rows]
    return type(X)((out.astype(X.dtype, copy=False), X.indices, X.indptr), shape=X.shape)


def unit_rows(X, first_row=0, block=None):
    """Rows of a dense or CSR block scaled to unit Euclidean length, in X's float dtype
    (a copy; of a CSR block, of its stored values).

    The norm is taken of the row divided by its largest magnitude, so that no finite
    float64 row overflows (or underflows) its sum of squares. Rows holding NaN or inf
    come out NaN, for the first pass's NaN check to find. A row of zeros is a
    ZeroRowError naming it: its global index (`first_row` + its index in the block), or,
    where that is unknown (`first_row` None), its index in block number `block`.
    """
    X = as_block(X)
    if is_sparse(X):
        return _unit_csr(X, first_row, block)
    x = X.astype(np.float64, copy=False)
    if x.shape[0] == 0:
        return X.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        peak = np.abs(x).max(axis=1)
        _zero_row(peak, first_row, block)
        y = x / peak[:, None]
        norm = peak * np.sqrt(np.einsum("ij,ij->i", y, y))
        out = x / norm[:, None]
    return out.astype(X.dtype, copy=False)


def check_nonzero_rows(X):
    """ZeroRowError naming the block's first zero row (dense or CSR block), if any."""
    values = abs(X).max(axis=1)
    values = values.toarray().ravel() if hasattr(values, "toarray") else values
    zero = np.flatnonzero(values == 0)
    if zero.size:
        raise _zero_row_error(f"row {int(zero[0])} of the block")


def unit_vectors(centers, name="init"):
    """(k, d) float64 copies of centers scaled to unit length; a zero row is a ValueError
    naming `name`."""
    centers = np.asarray(centers, dtype=np.float64)
    try:
        return unit_rows(centers).astype(np.float64)
    except ZeroRowError as exc:
        raise ValueError(f"{name} has a zero row, which has no direction: metric='cosine' "
                         f"needs nonzero centers ({exc}).") from None


def unit_centers_in(frame):
    """The projection of Lloyd's updated centers (in `frame`) onto the unit sphere of X's
    units: `lloyd(..., project=...)`. A center whose rows sum to zero keeps its old one."""

    def project(new, old):
        x = frame.restore(new)
        norm = np.sqrt(np.einsum("ij,ij->i", x, x))
        keep = ~(norm > 0)
        norm[keep] = 1.0
        out = frame.apply(x / norm[:, None])
        out[keep] = old[keep]
        return out

    return project


def _unit_block(X, block_info=None):
    info = (block_info or {}).get(0, {})
    location = info.get("array-location")
    start = location[0][0] if location else None
    known = start is not None and not np.isnan(start)
    block = info.get("chunk-location", (None,))[0]
    return unit_rows(X, int(start) if known else None, block)


def unit_view(X):
    """A dask X (one column chunk) read as unit rows: lazy, each block normalised when a
    pass reads it."""
    return X.map_blocks(_unit_block, dtype=X.dtype, meta=X._meta,
                        token="chunkml-unit-rows")


def slab_rows(X):
    row_bytes = max(X.shape[1] * X.dtype.itemsize, 1)
    return max(MIN_SLAB_ROWS, SLAB_BYTES // row_bytes)


class _UnitSlabs:
    """An in-memory X seen as unit rows, by index: what kmeans_plusplus reads
    (``X.shape``, ``X[slice]``, ``X[rows]``)."""

    def __init__(self, X):
        self.X = X
        self.shape = X.shape
        self.dtype = X.dtype

    def __getitem__(self, key):
        first = key.start or 0 if isinstance(key, slice) else None
        return unit_rows(self.X[key], first)


class UnitNumpyRows:
    """The passes (passes.py) over an in-memory dense X read as unit rows, a slab at a
    time; each pass merges the slabs' partials as a dask pass merges its blocks'."""

    in_memory = True

    def __init__(self, X, sample_weight=None, frame=None):
        set_rows(self, np.ascontiguousarray(X), sample_weight, frame)
        # The whole of X decides, as for NumpyRows: slabs are an implementation detail.
        self._parallel = use_parallel(self.X)
        step = slab_rows(self.X)
        n = self.X.shape[0]
        self._slabs = [slice(s, min(s + step, n)) for s in range(0, max(n, 1), step)]

    def _unit(self, sl):
        return unit_rows(self.X[sl], sl.start)

    def _weight(self, sl):
        return None if self.sample_weight is None else self.sample_weight[sl]

    def lloyd(self, centers, n_far, with_moments):
        return merge_lloyd([
            lloyd_block(self._unit(sl), self._weight(sl), sl.start, *self.frame.args,
                        centers, n_far, with_moments, parallel=self._parallel)
            for sl in self._slabs])

    def bounded_lloyd(self, state, centers, drift, n_far, with_moments):
        """`lloyd` carrying per-row bounds: one state per slab, updated in place (a plain
        pass and no state without `room_for_bounds`)."""
        if state is None and not room_for_bounds(self.X.shape[0], centers.shape[0]):
            return unbounded_lloyd(self, state, centers, drift, n_far, with_moments)
        states, parts = [], []
        for s, sl in enumerate(self._slabs):
            new, part = bounded_lloyd_block(
                self._unit(sl), None if state is None else state[s], self._weight(sl),
                sl.start, *self.frame.args, centers, drift, n_far, with_moments,
                parallel=self._parallel, in_place=True)
            states.append(new)
            parts.append(part)
        return states, merge_lloyd(parts)

    def sample(self, seed, stream, n_top, *, split_every=None):
        return merge_sample([sample_block(self._unit(sl), self._weight(sl), sl.start, seed,
                                          stream, n_top) for sl in self._slabs])

    def mindist_round(self, state, new_centers, first_id, seed, stream, n_top, exponential):
        mindist, nearest, parts = [], [], []
        for sl in self._slabs:
            old = (None, None) if state is None else (state[0][sl], state[1][sl])
            d, i, part = mindist_block(self._unit(sl), *old, self._weight(sl), sl.start,
                                       *self.frame.args, new_centers, first_id, seed,
                                       stream, n_top, exponential, parallel=self._parallel)
            mindist.append(d)
            nearest.append(i)
            parts.append(part)
        return (np.concatenate(mindist), np.concatenate(nearest)), merge_sample(parts)

    def candidate_weights(self, state, new_centers, first_id, n_candidates):
        return sum(candidate_weight_block(self._unit(sl), state[0][sl], state[1][sl],
                                          self._weight(sl), *self.frame.args, new_centers,
                                          first_id, n_candidates,
                                          parallel=self._parallel)[0]
                   for sl in self._slabs)

    def labels_mindist(self, centers):
        """(labels int32, squared distances in the frame) of every row, in one pass."""
        results = [labels_block(self._unit(sl), *self.frame.args, centers,
                                parallel=self._parallel) for sl in self._slabs]
        return (np.concatenate([r[0] for r in results]),
                np.concatenate([r[1] for r in results]))

    def final(self, centers, last_partial=None):
        return final_of(*self.labels_mindist(centers), self.sample_weight)

    def kmeanspp(self, part, n_clusters, *, seed, rng):
        """scikit-learn's greedy k-means++ on all of X's unit rows, drawing from rng."""
        weight = weights_or_ones(self.sample_weight, self.X.shape[0])
        centers, _ = kmeans_plusplus(_UnitSlabs(self.X), n_clusters, weight, rng,
                                     frame=self.frame)
        return centers

    def compute(self, *results):
        return results


def _cosine_transform_block(X, centers, dtype, block_info=None):
    unit = _unit_block(X, block_info)
    out = 1.0 - unit.astype(np.float64) @ centers.T
    np.clip(out, 0.0, 2.0, out=out)
    check_finite_block(X, out)
    return out.astype(dtype, copy=False)


def cosine_distances(X, centers):
    """1 - cos(x, c) for every row and (unit) center; lazy for dask X. The dtype is X's."""
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    if isinstance(X, da.Array):
        return X.map_blocks(_cosine_transform_block, centers, X.dtype,
                            chunks=(X.chunks[0], (centers.shape[0],)), dtype=X.dtype,
                            meta=np.empty((0, 0), dtype=X.dtype),
                            token="chunkml-cosine-transform")
    step = slab_rows(X)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
    for s in range(0, X.shape[0], step):
        out[s:s + step] = _cosine_transform_block(
            X[s:s + step], centers, X.dtype,
            {0: {"array-location": [(s, min(s + step, X.shape[0]))]}})
    return out
