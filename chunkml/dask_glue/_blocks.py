"""Module-level wrappers that run one kernel on one block and return its partial
(_partials.py) or its row-aligned results.

dask ships these functions to workers by reference (they are importable), not by value.
Every wrapper accepts blocks of 0 rows, read-only blocks and non-contiguous blocks, and
scipy.sparse blocks (read as CSR by the sparse kernels, see _sparse.py). Every wrapper
that calls a kernel runs with one BLAS thread (`one_blas_thread`).
"""

import numpy as np

from .. import kernels
from . import _sparse
from ._frame import Stats
from ._limits import one_blas_thread
from ._partials import LloydPartial, SamplePartial, best_rows

UNIT_WEIGHT = np.empty(0)

def as_weight(sample_weight):
    """float64 contiguous weights, or the 0-length array that means unit weights."""
    if sample_weight is None:
        return UNIT_WEIGHT
    return np.ascontiguousarray(sample_weight, dtype=np.float64).reshape(-1)


def min_weight(w, n_samples):
    """Smallest weight of a block (+inf for 0 rows), so passes can reject negative weights."""
    if n_samples == 0:
        return np.inf
    return 1.0 if w.shape[0] == 0 else float(w.min())


def as_block(X):
    if _sparse.is_sparse(X):
        return _sparse.as_csr(X)
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return np.ascontiguousarray(X)


def _first(row_offset):
    """A block's first global row index, from a scalar or the block's (1,) offsets
    block (`DaskRows.offsets`)."""
    offsets = np.asarray(row_offset)
    return int(offsets.flat[0]) if offsets.size else 0


def _kept(key, idx, m):
    """Positions of a kernel's heap of m rows (key, block row; -1 in unused slots) in
    rank order, real rows only."""
    real = np.flatnonzero(idx >= 0)
    return real[best_rows(key[real], idx[real], m)]


def _lloyd_outputs(centers, n_far, with_moments):
    """The zeroed and empty output buffers of a Lloyd kernel: (sums, weight, moments,
    far_dist, far_idx, far_label)."""
    n_clusters, n_features = centers.shape
    return (np.zeros((n_clusters, n_features)), np.zeros(n_clusters),
            np.zeros((2 if with_moments else 0, n_features)), np.empty(n_far),
            np.empty(n_far, dtype=np.int64), np.empty(n_far, dtype=np.int64))


def _lloyd_partial(X, w, row_offset, shift, scale, inertia, outputs, n_far, with_moments,
                   n_compared=-1):
    """A block's LloydPartial from its kernel's inertia and `_lloyd_outputs`."""
    sums, weight, moments, far_dist, far_idx, far_label = outputs
    sparse = _sparse.is_sparse(X)
    keep = _kept(far_dist, far_idx, n_far)
    rows = far_idx[keep]
    far_X = (_sparse.take_rows(X, rows, scale) if sparse
             else (X[rows].astype(np.float64) - shift) * scale)
    return LloydPartial(
        n_samples=X.shape[0], n_far=n_far, inertia=float(inertia), sums=sums,
        weight=weight, moments=moments if with_moments else None,
        far_dist=far_dist[keep], far_row=rows + _first(row_offset),
        far_label=far_label[keep],
        far_weight=np.ones(rows.shape[0]) if w.shape[0] == 0 else w[rows],
        far_X=far_X,
        min_weight=min_weight(w, X.shape[0]), n_compared=n_compared)


@one_blas_thread
def lloyd_block(X, sample_weight, row_offset, shift, scale, centers, n_far, with_moments,
                parallel=False):
    """Fused Lloyd pass over one block -> its LloydPartial, in the frame (shift, scale)
    (see _frame.py), far rows included; row_offset: the global id of its first row."""
    X = as_block(X)
    w = as_weight(sample_weight)
    outputs = _lloyd_outputs(centers, n_far, with_moments)
    lloyd = (_sparse.lloyd_partial_sums if _sparse.is_sparse(X)
             else kernels.lloyd_partial_sums)
    inertia = lloyd(X, shift, scale, centers, w, *outputs, parallel=parallel)
    return _lloyd_partial(X, w, row_offset, shift, scale, inertia, outputs, n_far,
                          with_moments)


def new_bounds(n_samples, n_clusters):
    """The bounds state of rows that have none yet: (candidates (n, m) int32, lower (n,)
    float64 -inf), m from `kernels.bounds_shape`."""
    m, _ = kernels.bounds_shape(n_clusters)
    return np.zeros((n_samples, m), dtype=np.int32), np.full(n_samples, -np.inf)


@one_blas_thread
def bounded_lloyd_block(X, state, sample_weight, row_offset, shift, scale, centers, drift,
                        n_far, with_moments, parallel=False, in_place=False):
    """`lloyd_block` carrying per-row bounds (`kernels.bounded_lloyd_partial_sums`) ->
    (state, partial): the block's new state and its LloydPartial.

    state: (candidates, lower) as the previous pass left them, or None for none (the
    first pass). drift: (movers, mover_drift, rest_drift), how far the centers moved
    since (lloyd.center_drift). The state is updated in a copy unless `in_place`
    (in-memory X, whose state no one else reads; a dask task must not change its
    inputs).
    """
    X = as_block(X)
    w = as_weight(sample_weight)
    if state is None:
        candidates, lower = new_bounds(X.shape[0], centers.shape[0])
    elif in_place:
        candidates, lower = state
    else:
        candidates, lower = (np.array(a) for a in state)
    outputs = _lloyd_outputs(centers, n_far, with_moments)
    inertia, n_compared = kernels.bounded_lloyd_partial_sums(
        X, shift, scale, centers, w, *drift, candidates, lower, *outputs,
        parallel=parallel)
    partial = _lloyd_partial(X, w, row_offset, shift, scale, inertia, outputs, n_far,
                             with_moments, n_compared)
    return (candidates, lower), partial


def _sample_partial(X, w, total, stats, top_key, top_idx, row_offset):
    keep = _kept(top_key, top_idx, top_idx.shape[0])
    rows = top_idx[keep]
    top_X = (_sparse.take_rows(X, rows) if _sparse.is_sparse(X)
             else X[rows].astype(np.float64))
    return SamplePartial(n_samples=X.shape[0], n_top=top_idx.shape[0], total=float(total),
                         stats=stats, key=top_key[keep], index=rows + row_offset,
                         X=top_X, min_weight=min_weight(w, X.shape[0]))


@one_blas_thread
def sample_block(X, sample_weight, row_offset, seed, stream, n_top):
    """Weighted sample of rows + statistics of one block -> its SamplePartial.

    The rows are in X's units: this pass comes before the frame is known."""
    X = as_block(X)
    stats = np.zeros((kernels.N_STATS, X.shape[1]))
    top_key = np.empty(n_top)
    top_idx = np.empty(n_top, dtype=np.int64)
    offset = _first(row_offset)
    w = as_weight(sample_weight)
    if _sparse.is_sparse(X):
        # The draws need only the number of rows: a 0-wide stand-in, stats of the CSR.
        _sparse.stats(X, stats)
        total = kernels.sample_rows(np.empty((X.shape[0], 0)), w, seed, stream, offset,
                                    np.empty((0, 0)), top_key, top_idx)
    else:
        total = kernels.sample_rows(X, w, seed, stream, offset, stats, top_key, top_idx)
    return _sample_partial(X, w, total, Stats(X.shape[0], stats), top_key, top_idx, offset)


def _round(X, mindist, nearest, sample_weight, row_offset, shift, scale, new_centers,
           first_id, seed, stream, n_top, exponential, out_mindist, out_nearest,
           parallel=False):
    """Run the k-means|| round kernel on a block; returns (phi, top keys, top rows, w).
    `parallel`: the distances on threads over fixed row chunks (dense in-memory X; the
    same results)."""
    top_key = np.empty(n_top)
    top_idx = np.empty(n_top, dtype=np.int64)
    w = as_weight(sample_weight)
    mindist = np.empty(0) if mindist is None else np.ascontiguousarray(mindist)
    nearest = (np.empty(0, dtype=np.int64) if nearest is None
               else np.ascontiguousarray(nearest, dtype=np.int64))
    args = (X, shift, scale, new_centers, first_id, mindist, nearest, w, seed, stream,
            _first(row_offset), exponential, out_mindist, out_nearest, top_key, top_idx)
    if _sparse.is_sparse(X):
        phi = _sparse.update_mindist_sample(*args)
    else:
        phi = kernels.update_mindist_sample(*args, parallel=parallel)
    return phi, top_key, top_idx, w


@one_blas_thread
def mindist_block(X, mindist, nearest, sample_weight, row_offset, shift, scale, new_centers,
                  first_id, seed, stream, n_top, exponential, parallel=False):
    """One k-means|| / k-means++ round over a block, in the frame (shift, scale).

    Returns (mindist, nearest, partial): the updated squared distances of the block's
    rows, (n,) float64; the ids of their nearest candidates, (n,) int64; the
    SamplePartial of the rows drawn, in X's units, without stats.
    """
    X = as_block(X)
    out_mindist = np.empty(X.shape[0])
    out_nearest = np.empty(X.shape[0], dtype=np.int64)
    phi, top_key, top_idx, w = _round(X, mindist, nearest, sample_weight, row_offset,
                                      shift, scale, new_centers, first_id, seed, stream,
                                      n_top, exponential, out_mindist, out_nearest,
                                      parallel)
    partial = _sample_partial(X, w, phi, None, top_key, top_idx, _first(row_offset))
    return out_mindist, out_nearest, partial


@one_blas_thread
def candidate_weight_block(X, mindist, nearest, sample_weight, shift, scale, new_centers,
                           first_id, n_candidates, parallel=False):
    """(1, n_candidates) total weight of the block's rows nearest to each candidate.

    Only the candidates not yet in `mindist`/`nearest` are measured.
    """
    X = as_block(X)
    n_samples = X.shape[0]
    ids = np.empty(n_samples, dtype=np.int64)
    _, _, _, w = _round(X, mindist, nearest, sample_weight, 0, shift, scale, new_centers,
                        first_id, 0, 0, 0, False, np.empty(n_samples), ids, parallel)
    weights = None if w.shape[0] == 0 else w
    return np.bincount(ids, weights=weights, minlength=n_candidates)[None, :].astype(
        np.float64)


def block_rows(X):
    """(1,) number of rows of a block, to learn unknown chunk sizes within a pass."""
    return np.array([X.shape[0]], dtype=np.int64)


@one_blas_thread
def labels_block(X, shift, scale, centers, parallel=False):
    """(labels int32, squared distances in the frame's units) of one block."""
    X = as_block(X)
    labels = np.empty(X.shape[0], dtype=np.int32)
    mindist = np.empty(X.shape[0])
    assign = _sparse.assign_labels if _sparse.is_sparse(X) else kernels.assign_labels
    assign(X, shift, scale, centers, labels, mindist, parallel=parallel)
    return labels, mindist


def check_finite_block(X, values):
    """Raise as scikit-learn's check_array when X holds NaN or inf.

    A lazy predict/transform/score finds it in the block's own results: a non-finite row
    makes its distances non-finite, so X itself is only inspected when some value is.
    Finite X whose distances overflow is not an error here (the distance is inf).
    """
    # Distances are >= 0 or NaN: their sum is finite when all of them are (one read, no
    # boolean array); a finite sum's overflow only costs the inspection of X below.
    check_finite_sum(X, values.sum())


def check_finite_sum(X, total):
    """`check_finite_block` from the sum of the block's distances (`total`)."""
    if np.isfinite(total):
        return
    X = _sparse.stored_values(X) if _sparse.is_sparse(X) else np.asarray(X)
    if np.isnan(X).any():
        raise ValueError("Input X contains NaN.")
    if not np.isfinite(X).all():
        raise ValueError(f"Input X contains infinity or a value too large for {X.dtype!r}.")


@one_blas_thread
def labels_of(X, shift, scale, centers, parallel=False):
    """(labels int32, the sum of the rows' squared distances) of one block: no distance
    is kept (one row-sized write instead of three, and no second read of them)."""
    X = as_block(X)
    if _sparse.is_sparse(X):
        labels, mindist = labels_block(X, shift, scale, centers, parallel)
        return labels, mindist.sum()
    labels = np.empty(X.shape[0], dtype=np.int32)
    total = kernels.assign_labels(X, shift, scale, centers, labels, _NO_DISTANCES,
                                  parallel=parallel)
    return labels, total


_NO_DISTANCES = np.empty(0)


@one_blas_thread
def labels_only_block(X, shift, scale, centers):
    labels, total = labels_of(X, shift, scale, centers)
    check_finite_sum(X, total)
    return labels


@one_blas_thread
def inertia_block(X, sample_weight, shift, scale, centers):
    """(1, 1) weighted inertia of one block, in the frame's units."""
    _, mindist = labels_block(X, shift, scale, centers)
    check_finite_block(X, mindist)
    w = as_weight(sample_weight)
    if not np.isfinite(w).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    total = mindist.sum() if w.shape[0] == 0 else np.dot(w, mindist)
    return np.array([[total]])


@one_blas_thread
def transform_block(X, shift, scale, centers, parallel=False):
    """Distances (in X's units) of one block's rows to centers given in the frame."""
    X = as_block(X)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
    distances = (_sparse.euclidean_distances if _sparse.is_sparse(X)
                 else kernels.euclidean_distances)
    distances(X, shift, scale, centers, out, parallel=parallel)
    check_finite_block(X, out)
    return out
