"""Load (or compile) the kernels in this process before the first real pass."""

import numpy as np

from . import sparse as csr
from ._dispatch import GEMM_MIN_FEATURES, MAX_TILE_FEATURES, read_only, variant, variants
from ._moments import N_STATS, merge_moments
from ._dispatch import bounds_shape
from ._ops import assign_labels, bounded_lloyd_partial_sums, euclidean_distances
from ._ops import lloyd_partial_sums, update_mindist_sample
from ._ops import minibatch_step, sample_rows
from ._ops import sparse_assign_labels, sparse_euclidean_distances, sparse_lloyd_partial_sums
from .kmeanspp import KmeansppState


def _used(v, widths):
    """Whether blocks of some width in `widths` run variant v."""
    if v.method == "tiles":
        return v.width in widths
    if v.method == "gemm":
        return any(w >= GEMM_MIN_FEATURES for w in widths)
    if variant(v.op, 1, 1).method != "tiles":
        return True  # one method for every width (euclidean_distances)
    return any(w > MAX_TILE_FEATURES for w in widths)


def warm_up(dtypes=(np.float64, np.float32), widths=range(1, MAX_TILE_FEATURES + 2),
            sparse=True, parallel=False):
    """Call every serial dense kernel variant (`kernels.variants`) once on a 1-row block
    of each dtype, for the blocks of `widths` features; with `parallel`, the in-memory
    parallel variants too (what they compile beyond the serial kernels: the Lloyd steps'
    loop over row chunks and merge of the chunks, about 1.5 s per tile width and dtype
    cold; dask tasks never run them).

    Each tile width up to MAX_TILE_FEATURES is a variant of its own; wider blocks run the
    row-by-row and matrix-product variants, so the default widths cover them all. Then,
    with `sparse`, the kernels of a fit on CSR blocks (``sparse_*``: one variant per
    dtype, whatever the width), for scipy's int32 indices; the merge of per-block
    moments that the reductions run; and greedy k-means++ (kmeanspp.py), for float64
    (k-means||'s candidates) and each dtype.

    With numba's on-disk cache this loads the machine code (about half a second per
    process); without it, it compiles. ``client.run(chunkml.kernels.warm_up)`` does it on
    every worker of a cluster, so that the first iteration of a fit does not.
    """
    widths = set(widths)
    empty = np.empty(0)
    for v in variants(parallel=(False, True) if parallel else (False,), dtypes=dtypes):
        if v.op not in _CALLS or not _used(v, widths):
            continue
        d, k = v.shape()
        assert variant(v.op, d, k, v.parallel, v.dtype) == v
        X = np.zeros((1, d), dtype=v.dtype)
        _CALLS[v.op](X, (np.zeros(d), 1.0), np.zeros((k, d)), empty, v.parallel)
    for dtype in dtypes:
        for d in sorted(widths):
            X = np.zeros((1, d), dtype=dtype)
            frame = (np.zeros(d), 1.0)
            centers = np.zeros((1, d))
            sample_rows(X, empty, 0, 0, 0, np.zeros((N_STATS, d)), np.empty(1),
                        np.empty(1, dtype=np.int64))
            minibatch_step(X, *frame, empty, centers, np.zeros(1), np.zeros(1),
                           np.empty((1, d)), np.empty(1, dtype=np.int32), np.empty(1))
    for dtype in dtypes if sparse else ():
        for par in (False, True) if parallel else (False,):
            _sparse(dtype, empty, par)
    merge_moments(np.int64(0), np.zeros((2, 1)), np.int64(1), np.zeros((2, 1)))
    # Greedy k-means++ (one compiled loop for every width): on numpy X of each dtype, and
    # on k-means||'s candidates, float64 whatever X's dtype.
    for dtype in {np.dtype(np.float64), *map(np.dtype, dtypes)}:
        state = KmeansppState(np.zeros((2, 1), dtype=dtype), np.zeros(1), 1.0, np.ones(2),
                              2)
        state.start(0)
        state.gains(np.zeros(1, dtype=np.int64))
        state.add(1)


def _sparse(dtype, empty, parallel, d=2, k=1):
    """Every CSR kernel as dask_glue/_sparse.py and minibatch_step.py call it, on a
    1-row block of `dtype` with int32 indices (the registry's variants, parallel or
    not)."""
    # Read-only, as dask_glue/_sparse.py's csr_args hands them over.
    block = tuple(read_only(a) for a in (np.ones(1, dtype=dtype),
                                         np.zeros(1, dtype=np.int32),
                                         np.array([0, 1], dtype=np.int32)))
    centers = np.zeros((k, d))
    csr.sparse_has_duplicates(block[1], block[2], d)
    csr.sparse_block_stats(*block, np.zeros((N_STATS, d)))
    csr.sparse_gather_rows(*block, np.zeros(1, dtype=np.int64), 1.0, np.empty((1, d)))
    sparse_lloyd_partial_sums(*block, 1.0, centers, empty, np.zeros((k, d)), np.zeros(k),
                              np.zeros((2, d)), np.empty(1), np.empty(1, dtype=np.int64),
                              np.empty(1, dtype=np.int64), parallel=parallel)
    sparse_assign_labels(*block, 1.0, centers, np.empty(1, dtype=np.int32), np.empty(1),
                         parallel=parallel)
    sparse_euclidean_distances(*block, 1.0, centers, np.empty((1, k), dtype=dtype),
                               parallel=parallel)
    csr.sparse_update_mindist_sample(*block, 1.0, centers, 0, empty,
                                     np.empty(0, dtype=np.int64), empty, 0, 0, 0, False,
                                     np.empty(1), np.empty(1, dtype=np.int64), np.empty(1),
                                     np.empty(1, dtype=np.int64))
    csr.sparse_minibatch_step(*block, 1.0, empty, centers, np.zeros(k), np.zeros(k),
                              np.empty((k, d)), np.empty(1, dtype=np.int32), np.empty(1))


def _lloyd(X, frame, centers, empty, parallel):
    k, d = centers.shape
    lloyd_partial_sums(X, *frame, centers, empty, np.zeros((k, d)), np.zeros(k),
                       np.zeros((2, d)), np.empty(1), np.empty(1, dtype=np.int64),
                       np.empty(1, dtype=np.int64), parallel=parallel)


def _bounded(X, frame, centers, empty, parallel):
    k, d = centers.shape
    m, _ = bounds_shape(k)
    bounded_lloyd_partial_sums(
        X, *frame, centers, empty, np.zeros(1, dtype=np.int64), np.zeros(1), 0.0,
        np.zeros((1, m), dtype=np.int32), np.full(1, -np.inf), np.zeros((k, d)),
        np.zeros(k), np.zeros((2, d)), np.empty(1), np.empty(1, dtype=np.int64),
        np.empty(1, dtype=np.int64), parallel=parallel)


def _assign(X, frame, centers, empty, parallel):
    assign_labels(X, *frame, centers, np.empty(1, dtype=np.int32), np.empty(1),
                  parallel=parallel)


def _distances(X, frame, centers, empty, parallel):
    euclidean_distances(X, *frame, centers, np.empty((1, centers.shape[0]), dtype=X.dtype),
                        parallel=parallel)


def _round(X, frame, centers, empty, parallel):
    update_mindist_sample(X, *frame, centers, 0, empty, np.empty(0, dtype=np.int64), empty,
                          0, 0, 0, False, np.empty(1), np.empty(1, dtype=np.int64),
                          np.empty(1), np.empty(1, dtype=np.int64), parallel=parallel)


# The dense operations, each on a 1-row block as the glue calls it.
_CALLS = {"lloyd_partial_sums": _lloyd, "bounded_lloyd_partial_sums": _bounded,
          "assign_labels": _assign,
          "euclidean_distances": _distances, "update_mindist_sample": _round}
