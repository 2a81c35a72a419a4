"""Module-level wrappers that run one kernel on one block and pack its partials.

dask ships these functions to workers by reference (they are importable), not by value.
Every wrapper accepts blocks of 0 rows, read-only blocks and non-contiguous blocks, and
scipy.sparse blocks (read as CSR by the sparse kernels, see _sparse.py).
"""

import numpy as np

from .. import kernels
from ..kernels.gemm import use_gemm
from . import _sparse
from ._partials import LloydLayout, SampleLayout

UNIT_WEIGHT = np.empty(0)

# The kernel for (in-memory parallel variant, matrix products); see use_gemm.
_LLOYD_KERNELS = {
    (False, False): kernels.lloyd_partial_sums,
    (True, False): kernels.lloyd_partial_sums_parallel,
    (False, True): kernels.lloyd_partial_sums_gemm,
    (True, True): kernels.lloyd_partial_sums_gemm_parallel,
}
_ASSIGN_KERNELS = {
    (False, False): kernels.assign_labels,
    (True, False): kernels.assign_labels_parallel,
    (False, True): kernels.assign_labels_gemm,
    (True, True): kernels.assign_labels_gemm_parallel,
}


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


def lloyd_block(X, sample_weight, shift, scale, centers, centers_sqnorm, n_far,
                with_moments, parallel=False):
    """Fused Lloyd pass over one block -> (1, LloydLayout.size) packed partial, in the
    frame (shift, scale) (see _frame.py), far rows included."""
    X = as_block(X)
    w = as_weight(sample_weight)
    n_clusters, n_features = centers.shape
    sums = np.zeros((n_clusters, n_features))
    weight = np.zeros(n_clusters)
    moments = np.zeros((2 if with_moments else 0, n_features))
    far_dist = np.empty(n_far)
    far_idx = np.empty(n_far, dtype=np.int64)
    far_label = np.empty(n_far, dtype=np.int64)
    sparse = _sparse.is_sparse(X)
    kernel = (_sparse.lloyd_kernel(parallel) if sparse
              else _LLOYD_KERNELS[parallel, use_gemm(n_features, n_clusters)])
    inertia = kernel(X, shift, scale, centers, centers_sqnorm, w, sums, weight, moments,
                     far_dist, far_idx, far_label)
    valid = far_idx >= 0
    far_X = np.zeros((n_far, n_features))
    far_X[valid] = (_sparse.take_rows(X, far_idx[valid], scale) if sparse
                    else (X[far_idx[valid]].astype(np.float64) - shift) * scale)
    far_weight = np.zeros(n_far)
    far_weight[valid] = 1.0 if w.shape[0] == 0 else w[far_idx[valid]]
    layout = LloydLayout(n_clusters, n_features, n_far)
    if not with_moments:
        moments = np.zeros((2, n_features))
    smallest = min_weight(w, X.shape[0])
    return layout.pack(X.shape[0], inertia, sums, weight, moments, far_dist, far_weight,
                       far_label, far_X, smallest)[None, :]


def _pack_sample(X, w, total, stats, top_key, top_idx, row_offset):
    valid = top_idx >= 0
    top_X = np.zeros((top_idx.shape[0], X.shape[1]))
    top_X[valid] = (_sparse.take_rows(X, top_idx[valid]) if _sparse.is_sparse(X)
                    else X[top_idx[valid]])
    index = np.where(valid, top_idx + row_offset, -1)
    layout = SampleLayout(X.shape[1], top_idx.shape[0])
    smallest = min_weight(w, X.shape[0])
    return layout.pack(X.shape[0], total, stats, top_key, index, top_X, smallest)


def _first(row_offset):
    """A block's first global row index, from a scalar or a broadcast offsets block."""
    return int(np.ravel(row_offset)[0]) if np.size(row_offset) else 0


def sample_block(X, sample_weight, row_offset, seed, stream, n_top):
    """Weighted sample of rows + statistics of one block -> (1, SampleLayout.size).

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
    return _pack_sample(X, w, total, stats, top_key, top_idx, offset)[None, :]


def _round(X, mindist, nearest, sample_weight, row_offset, shift, scale, new_centers,
           first_id, seed, stream, n_top, exponential, out_mindist, out_nearest):
    """Run the k-means|| round kernel on a block; returns (phi, top keys, top rows, w)."""
    top_key = np.empty(n_top)
    top_idx = np.empty(n_top, dtype=np.int64)
    w = as_weight(sample_weight)
    mindist = np.empty(0) if mindist is None else np.ascontiguousarray(mindist)
    nearest = (np.empty(0, dtype=np.int64) if nearest is None
               else np.ascontiguousarray(nearest, dtype=np.int64))
    step = (_sparse.update_mindist_sample if _sparse.is_sparse(X)
            else kernels.update_mindist_sample)
    phi = step(
        X, shift, scale, new_centers, first_id, mindist, nearest, w, seed, stream,
        _first(row_offset), exponential, out_mindist, out_nearest, top_key, top_idx)
    return phi, top_key, top_idx, w


def mindist_block(X, mindist, nearest, sample_weight, row_offset, shift, scale, new_centers,
                  first_id, seed, stream, n_top, exponential):
    """One k-means|| / k-means++ round over a block, in the frame (shift, scale); the
    sampled rows are packed in X's units.

    Returns a 1-D float64 vector: the updated squared distances of the block's rows,
    the bits of their int64 nearest candidate ids, then the packed SampleLayout partial.
    `mindist_part` and `nearest_part` read the first two back as views, without copies.
    """
    X = as_block(X)
    n_samples = X.shape[0]
    layout = SampleLayout(X.shape[1], n_top)
    out = np.empty(2 * n_samples + layout.size)
    phi, top_key, top_idx, w = _round(X, mindist, nearest, sample_weight, row_offset,
                                      shift, scale, new_centers, first_id, seed, stream,
                                      n_top, exponential, out[:n_samples],
                                      out[n_samples:2 * n_samples].view(np.int64))
    out[2 * n_samples:] = _pack_sample(X, w, phi, np.zeros((kernels.N_STATS, X.shape[1])),
                                       top_key, top_idx, _first(row_offset))
    return out


def candidate_weight_block(X, mindist, nearest, sample_weight, shift, scale, new_centers,
                           first_id, n_candidates):
    """(1, n_candidates) total weight of the block's rows nearest to each candidate.

    Only the candidates not yet in `mindist`/`nearest` are measured.
    """
    X = as_block(X)
    n_samples = X.shape[0]
    ids = np.empty(n_samples, dtype=np.int64)
    _, _, _, w = _round(X, mindist, nearest, sample_weight, 0, shift, scale, new_centers,
                        first_id, 0, 0, 0, False, np.empty(n_samples), ids)
    weights = None if w.shape[0] == 0 else w
    return np.bincount(ids, weights=weights, minlength=n_candidates)[None, :].astype(
        np.float64)


def mindist_part(packed, n_tail):
    return packed[:(packed.shape[0] - n_tail) // 2]


def nearest_part(packed, n_tail):
    n_samples = (packed.shape[0] - n_tail) // 2
    return packed[n_samples:2 * n_samples].view(np.int64)


def tail(packed, n_tail):
    return packed[packed.shape[0] - n_tail:][None, :]


def row_offsets_block(block_info=None):
    """A broadcast (zero-copy) block holding the global index of the block's first row."""
    start, stop = block_info[None]["array-location"][0]
    return np.broadcast_to(np.int64(start), (stop - start,))


def pseudo_offsets_block(block_id=None):
    """Stand-in first-row index while block sizes are unknown: block number * 2**40."""
    return np.array([np.int64(block_id[0]) << 40])


def block_rows(X):
    """(1,) number of rows of a block, to learn unknown chunk sizes within a pass."""
    return np.array([X.shape[0]], dtype=np.int64)


def labels_block(X, shift, scale, centers, centers_sqnorm, parallel=False):
    """(labels int32, squared distances in the frame's units) of one block."""
    X = as_block(X)
    labels = np.empty(X.shape[0], dtype=np.int32)
    mindist = np.empty(X.shape[0])
    n_clusters, n_features = centers.shape
    kernel = (_sparse.assign(parallel) if _sparse.is_sparse(X)
              else _ASSIGN_KERNELS[parallel, use_gemm(n_features, n_clusters)])
    kernel(X, shift, scale, centers, centers_sqnorm, labels, mindist)
    return labels, mindist


def check_finite_block(X, values):
    """Raise as scikit-learn's check_array when X holds NaN or inf.

    A lazy predict/transform/score finds it in the block's own results: a non-finite row
    makes its distances non-finite, so X itself is only inspected when some value is.
    Finite X whose distances overflow is not an error here (the distance is inf).
    """
    if np.isfinite(values).all():
        return
    X = _sparse.stored_values(X) if _sparse.is_sparse(X) else np.asarray(X)
    if np.isnan(X).any():
        raise ValueError("Input X contains NaN.")
    if not np.isfinite(X).all():
        raise ValueError(f"Input X contains infinity or a value too large for {X.dtype!r}.")


def labels_only_block(X, shift, scale, centers, centers_sqnorm):
    labels, mindist = labels_block(X, shift, scale, centers, centers_sqnorm)
    check_finite_block(X, mindist)
    return labels


def inertia_block(X, sample_weight, shift, scale, centers, centers_sqnorm):
    """(1, 1) weighted inertia of one block, in the frame's units."""
    _, mindist = labels_block(X, shift, scale, centers, centers_sqnorm)
    check_finite_block(X, mindist)
    w = as_weight(sample_weight)
    if not np.isfinite(w).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    total = mindist.sum() if w.shape[0] == 0 else np.dot(w, mindist)
    return np.array([[total]])


def transform_block(X, shift, scale, centers, parallel=False):
    """Distances (in X's units) of one block's rows to centers given in the frame."""
    X = as_block(X)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
    if _sparse.is_sparse(X):
        kernel = _sparse.distances(parallel)
    else:
        kernel = (kernels.euclidean_distances_parallel if parallel
                  else kernels.euclidean_distances)
    kernel(X, shift, scale, centers, out)
    check_finite_block(X, out)
    return out
