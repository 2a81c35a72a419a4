"""Sparse X: the CSR side of the block functions (_blocks.py) and of the rows (_rows.py,
_dask_rows.py).

A block of a sparse X (in memory, or a dask array whose blocks are scipy.sparse
matrices or arrays) is read as CSR and handed to the ``kernels.sparse_*`` kernels as
its (data, indices, indptr) arrays: it is never densified. Only the few rows a pass
returns (sampled candidates, far rows for empty clusters) are copied out dense.

The frame of sparse X has no shift (`Frame.unshifted`): x' = (x - shift) * scale would
turn every implicit zero into a nonzero. Only the power-of-two scale is kept, which keeps
the squared norms of very large or very small data within float64, as scikit-learn's
sparse Lloyd (which does not center sparse X either) computes them.
"""

import numpy as np
import scipy.sparse as sp

from .. import kernels


def is_sparse(X):
    return sp.issparse(X)


def is_sparse_dask(X):
    """Whether a dask array's blocks are scipy.sparse (by its meta)."""
    return sp.issparse(getattr(X, "_meta", None))


def as_csr(X):
    """A float32/float64 CSR block whose rows store each column at most once (one
    conversion of a CSC or COO block; a CSR float block without duplicates, sorted or
    not, is returned as it is)."""
    if X.format != "csr":
        X = X.tocsr()
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if not X.has_canonical_format and kernels.sparse_has_duplicates(
            *csr_args(X)[1:], X.shape[1]):
        X = X.copy()
        X.sum_duplicates()
    return X


def csr_args(X):
    """(data, indices, indptr) of a CSR block, as read-only views: numba compiles one
    signature per writeable flag, and a block may be either (a memory map, joblib's
    shared arrays), so every kernel reads them through read-only views."""
    return tuple(kernels.read_only(a) for a in (X.data, X.indices, X.indptr))


def check_unshifted(shift):
    if np.any(shift):
        raise TypeError(
            "X has scipy.sparse blocks but its dask meta is dense, so it was read as "
            "dense; give the meta when building it, e.g. X.map_blocks(..., "
            "meta=scipy.sparse.csr_matrix((0, 0))).")


def take_rows(X, rows, scale=1.0):
    """(len(rows), d) float64 dense copies of rows of a CSR block, times scale."""
    out = np.empty((len(rows), X.shape[1]))
    kernels.sparse_gather_rows(*csr_args(X), np.asarray(rows, dtype=np.int64), scale, out)
    return out


# `parallel`: the in-memory variants (see _rows.use_parallel).
def lloyd_partial_sums(X, shift, scale, *args, parallel=False):
    check_unshifted(shift)
    return kernels.sparse_lloyd_partial_sums(*csr_args(X), scale, *args, parallel=parallel)


def assign_labels(X, shift, scale, *args, parallel=False):
    check_unshifted(shift)
    kernels.sparse_assign_labels(*csr_args(X), scale, *args, parallel=parallel)


def euclidean_distances(X, shift, scale, centers, out, parallel=False):
    check_unshifted(shift)
    kernels.sparse_euclidean_distances(*csr_args(X), scale, centers, out, parallel=parallel)


def stats(X, out_stats):
    kernels.sparse_block_stats(*csr_args(X), out_stats)


def update_mindist_sample(X, shift, scale, *args):
    check_unshifted(shift)
    return kernels.sparse_update_mindist_sample(*csr_args(X), scale, *args)


def stored_values(X):
    return X.data


class UnshiftedFrame:
    """Mixin for a rows class over sparse X: whatever frame is set, the rows keep its
    unshifted version, so every pass (and the centers handed to it) uses shift 0."""

    @property
    def frame(self):
        return self._frame

    @frame.setter
    def frame(self, frame):
        self._frame = frame.unshifted()
