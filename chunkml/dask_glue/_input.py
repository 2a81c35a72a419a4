"""X and weights as every pass reads them, and the rows (passes.py) over them.

`prepare_input` once per entry point; `make_rows` is the one place that chooses the
rows' implementation from X's type and the metric.
"""

import dask
import dask.array as da
import numpy as np

from ._dask_rows import DaskRows, SparseDaskRows
from ._rows import NumpyRows, SparseNumpyRows
from ._sparse import as_csr, is_sparse, is_sparse_dask
from ._unit import UnitNumpyRows, unit_input
from .persist import fit_in_memory, persist_for_fit


def is_dask_collection(X):
    return isinstance(X, da.Array)


def _unknown(chunks):
    return any(np.isnan(c) for c in chunks)


def prepare_dask(X, sample_weight=None):
    """One column chunk, and weights chunked like the rows of X.

    Unknown row chunk sizes stay unknown (the first pass learns them), except when numpy
    weights must be split like X's rows, or dask weights are chunked differently from X.
    """
    if X.numblocks[1] != 1:
        if is_sparse_dask(X):
            raise ValueError(
                f"A dask array of sparse blocks must have one block across its columns; "
                f"got {X.numblocks[1]} column blocks (chunks {X.chunks[1]}). Chunk it "
                f"by rows only, e.g. da.from_array(X, chunks=(rows, {X.shape[1]})).")
        X = X.rechunk({1: -1})
    if sample_weight is None:
        return X, None
    if not isinstance(sample_weight, da.Array):
        if _unknown(X.chunks[0]):
            X = X.compute_chunk_sizes()
        sample_weight = da.from_array(np.asarray(sample_weight, dtype=np.float64),
                                      chunks=(X.chunks[0],))
    elif sample_weight.chunks[0] != X.chunks[0]:
        if _unknown(X.chunks[0]):
            X = X.compute_chunk_sizes()
        if _unknown(sample_weight.chunks[0]):
            sample_weight = sample_weight.compute_chunk_sizes()
        sample_weight = sample_weight.rechunk((X.chunks[0],))
    return X, sample_weight


def prepare_input(X, sample_weight=None):
    """(X, sample_weight) as every pass reads them: `prepare_dask` for dask X; numpy and
    scipy.sparse X as they are."""
    if is_dask_collection(X):
        return prepare_dask(X, sample_weight)
    return X, sample_weight


def make_rows(X, sample_weight=None, metric="euclidean"):
    """The rows (passes.py) over X and weights as `prepare_input` returns them: the one
    place that chooses the implementation from X's type and the metric (cosine: X read
    as unit rows, see _unit.py)."""
    if metric == "cosine":
        if not (is_dask_collection(X) or is_sparse(X)):
            return UnitNumpyRows(X, sample_weight)
        X = unit_input(X)  # then the Euclidean rows of its kind, below
    if is_dask_collection(X):
        rows = SparseDaskRows if is_sparse_dask(X) else DaskRows
    else:
        rows = SparseNumpyRows if is_sparse(X) else NumpyRows
    return rows(X, sample_weight)


def prepare_fit_input(X, sample_weight=None):
    """X and weights, as `prepare_input` returns them, as the runs of one fit should
    read them: a small dense dask X under a local scheduler as numpy arrays (`fit_in_memory`),
    a lazy dask X that fits in memory persisted once for all of them (see persist.py),
    else streamed; scipy.sparse X converted to CSR once for all runs."""
    if is_dask_collection(X):
        if fit_in_memory(X, sample_weight):
            X, sample_weight = dask.compute(X, sample_weight)
            return np.ascontiguousarray(X), sample_weight
        return persist_for_fit(X, sample_weight)
    return (as_csr(X) if is_sparse(X) else X), sample_weight

