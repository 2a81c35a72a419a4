"""Calls every kernel on edge shapes; run by test_bounds.py with NUMBA_BOUNDSCHECK=1.

The dispatched kernels are read from the registry (`kernels.variants`): each variant (a
method, and for tiles a width, serial or parallel) is one compiled loop; the tile widths
checked are those of CHECKED_WIDTHS (why: beside it). Prints one line per call that raised IndexError (an
out-of-bounds access: without bounds checking numba reads or writes past the buffer
silently), then "done".
"""

import itertools

import numpy as np
import scipy.sparse as sp

from chunkml import kernels
from chunkml.kernels import (
    KmeansppState,
    N_STATS,
    merge_moments,
    sample_rows,
    sparse_assign_labels,
    sparse_block_stats,
    sparse_euclidean_distances,
    sparse_gather_rows,
    sparse_has_duplicates,
    sparse_lloyd_partial_sums,
    sparse_minibatch_step,
    sparse_update_mindist_sample,
    update_mindist_sample,
)
from chunkml.kernels._chunks import merge_chunk_partials
from chunkml.kernels._dispatch import MAX_TILE_FEATURES, gemm_rows
from tests.kernels._util import topk_finish, topk_push

# (n_samples, extra clusters): 0 rows, 1 row, n < k, k at the variant's smallest
EDGES = [(0, 1), (1, 0), (3, 4), (6, 0)]


def _variant_calls(v):
    """The registry variant v on the edge shapes of its width and smallest n_clusters."""
    d, k_min = v.shape()
    for (n, extra), m in itertools.product(EDGES, [0, 1, 10]):
        k = k_min + extra
        X = (np.arange(n * d, dtype=np.float64).reshape(n, d) % 5).astype(v.dtype)
        C = np.linspace(0.0, 4.0, k * d).reshape(k, d)
        # A frame that is not the identity, so that shift and scale are indexed too.
        f = (np.full(d, 0.5), 0.25)
        tag = f"{v} n={n} k={k} m={m}"

        def run(*args, C=C, f=f):
            return v(*args, *v.method_args(f[0], C))

        if v.op == "assign_labels":
            yield tag, run, (X, *f, C, np.empty(n, np.int32), np.empty(n))
            yield f"{tag} labels only", run, (X, *f, C, np.empty(n, np.int32), np.empty(0))
        elif v.op == "euclidean_distances":
            yield tag, run, (X, *f, C, np.empty((n, k), v.dtype))
        elif v.op == "lloyd_partial_sums":
            for w, mom in itertools.product([np.empty(0), np.ones(n)], [2, 0]):
                yield (f"{tag} weights={w.size} moments={mom}", run,
                       (X, *f, C, w, np.zeros((k, d)), np.zeros(k), np.zeros((mom, d)),
                        np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64)))
        elif v.op == "bounded_lloyd_partial_sums":
            yield from _bounded_calls(v, X, f, C, m, tag)
        elif v.op == "update_mindist_sample":
            for mindist, new in itertools.product([np.full(n, np.inf), np.ones(n)],
                                                  [C, C[:0]]):
                yield (f"{tag} new={new.shape[0]}", lambda *a, new=new, f=f: v(
                    *a, *v.method_args(f[0], new)),
                    (X, *f, new, 0, mindist.copy(), np.full(n, -1, np.int64)))
            for mindist, new, exp in itertools.product([np.empty(0), np.ones(n)],
                                                       [C, C[:0]], [False, True]):
                yield (f"update_mindist_sample {tag} mindist={mindist.size} "
                       f"new={new.shape[0]} exponential={exp}", update_mindist_sample,
                       (X, *f, new, 0, mindist, np.zeros(mindist.size, np.int64),
                        np.empty(0), 1, 2, 3, exp, np.empty(n), np.empty(n, np.int64),
                        np.empty(m), np.empty(m, np.int64)))


def _bounded_calls(v, X, f, C, m, tag):
    """The bounded Lloyd pass without state, then with the state it left (rows kept and
    rows compared again: movers measured, one moved too far), k below and above the
    candidates per row."""
    n, d = X.shape
    k = C.shape[0]
    rows = gemm_rows(k)
    n_cand, n_movers = kernels.bounds_shape(k)
    candidates = np.zeros((n, n_cand), np.int32)
    lower = np.full(n, -np.inf)
    movers = np.arange(n_movers, dtype=np.int64)
    drifts = [(movers[:0], np.empty(0), 0.0),
              (movers, np.linspace(1e-3, 0.0, n_movers), 0.0),
              (movers, np.full(n_movers, 50.0), 1e-6)]
    for w, mom in itertools.product([np.empty(0), np.ones(n)], [2, 0]):
        for s, drift in enumerate(drifts):
            yield (f"{tag} weights={w.size} moments={mom} drift={s}", v,
                   (X, *f, C, w, *drift, candidates, lower, np.zeros((k, d)),
                    np.zeros(k), np.zeros((mom, d)), np.empty(m), np.empty(m, np.int64),
                    np.empty(m, np.int64), rows))


# The tile kernels are one source for every width (no branch on it: the width is only the
# length of the shift tuple, a compile-time constant), so the smallest and the largest
# width check their indexing. The dense parallel variants (_threads.py) are Python: they
# slice rows and call the serial block kernels checked here, or, for Lloyd,
# `lloyd.lloyd_chunks` (the same block kernel per chunk, into per-chunk buffers) and
# `lloyd.lloyd_merge`, checked here for rows and matrix products (one source for every
# method); the merge's own loop, `_chunks.merge_chunk_partials`, is called on its own
# below. Each compile under NUMBA_BOUNDSCHECK is what this test spends its time on.
CHECKED_WIDTHS = {False: (1, MAX_TILE_FEATURES), True: ()}


def _checked_width(v):
    return v.method != "tiles" or v.width in CHECKED_WIDTHS[v.parallel]


def _calls():
    # float64 only, as before the registry: the dtype changes the loads, not the indexing.
    for v in kernels.variants(dtypes=(np.float64,)):
        if not v.op.startswith("sparse_") and _checked_width(v):
            yield from _variant_calls(v)
    for (n, d, k), m in itertools.product([(0, 3, 2), (1, 1, 1), (3, 2, 5), (6, 2, 1)],
                                          [0, 1, 10]):
        X = np.arange(n * d, dtype=np.float64).reshape(n, d) % 5
        C = np.linspace(0.0, 4.0, k * d).reshape(k, d)
        tag = f"n={n} d={d} k={k} m={m}"
        for w, mom in itertools.product([np.empty(0), np.ones(n)], [N_STATS, 0]):
            yield (f"sample_rows {tag} weights={w.size} moments={mom}", sample_rows,
                   (X, w, 1, 2, 3, np.zeros((mom, d)), np.empty(m), np.empty(m, np.int64)))
        yield from _sparse_calls(X, C, (C * C).sum(axis=1), m, tag)
    yield from _merge_calls()
    for n_a, n_b in [(0, 0), (0, 2), (2, 0), (2, 3)]:
        yield (f"merge_moments n_a={n_a} n_b={n_b}", merge_moments,
               (n_a, np.zeros((2, 3)), n_b, np.ones((2, 3))))


def _merge_calls():
    """The parallel drivers' merge of per-chunk partials: chunks of `rows` rows, the last
    short or empty, far heaps of m slots (some unused) merged into heaps of m_out."""
    d, k = 2, 3
    for (n_chunks, rows, n), m, m_out, mom, key_k in itertools.product(
            [(1, 4, 0), (1, 4, 3), (3, 4, 9), (3, 4, 8)], [0, 1, 3], [0, 1, 10], [2, 0],
            [0, k]):
        far_idx = np.tile(np.arange(m, dtype=np.int64), (n_chunks, 1))
        far_idx[:, ::2] = -1
        yield (f"merge_chunk_partials chunks={n_chunks} rows={rows} n={n} m={m} "
               f"m_out={m_out} moments={mom} key_clusters={key_k}", merge_chunk_partials,
               (np.ones((n_chunks, k, d)), np.ones((n_chunks, k)), np.ones((n_chunks, mom, d)),
                np.ones(n_chunks), np.ones((n_chunks, m)), far_idx,
                np.zeros((n_chunks, m), np.int64), rows, n, key_k, np.zeros((k, d)),
                np.zeros(k), np.zeros((mom, d)), np.empty(m_out),
                np.empty(m_out, np.int64)))


def _sparse_calls(X, C, c2, m, tag):
    """The CSR kernels (kernels/sparse.py) on the same shapes, rows of varying length
    (the zeros of X % 5 are not stored), serial and parallel."""
    n, d = X.shape
    k = C.shape[0]
    csr = sp.csr_matrix(X)
    a = (csr.data, csr.indices, csr.indptr)
    for parallel in (False, True):
        name = "_parallel" if parallel else ""
        p = {"parallel": parallel}
        yield (f"sparse_assign_labels{name} {tag}", lambda *x, p=p: sparse_assign_labels(
            *x, **p), (*a, 0.25, C, np.empty(n, np.int64), np.empty(n)))
        yield (f"sparse_euclidean_distances{name} {tag}",
               lambda *x, p=p: sparse_euclidean_distances(*x, **p),
               (*a, 0.25, C, np.empty((n, k))))
        for w, mom in itertools.product([np.empty(0), np.ones(n)], [2, 0]):
            yield (f"sparse_lloyd_partial_sums{name} {tag} weights={w.size} moments={mom}",
                   lambda *x, p=p: sparse_lloyd_partial_sums(*x, **p),
                   (*a, 0.25, C, w, np.zeros((k, d)), np.zeros(k), np.zeros((mom, d)),
                    np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64)))
    yield f"sparse_block_stats {tag}", sparse_block_stats, (*a, np.empty((N_STATS, d)))
    yield (f"sparse_has_duplicates {tag}", sparse_has_duplicates,
           (csr.indices, csr.indptr, d))
    yield (f"sparse_gather_rows {tag}", sparse_gather_rows,
           (*a, np.arange(n, dtype=np.int64), 0.25, np.empty((n, d))))
    for w in [np.empty(0), np.ones(n)]:
        yield (f"sparse_minibatch_step {tag} weights={w.size}", sparse_minibatch_step,
               (*a, 0.25, w, C, c2, np.ones(k), np.empty((k, d)), np.empty(n, np.int64),
                np.empty(n)))
    for mindist, new in itertools.product([np.empty(0), np.ones(n)], [C, C[:0]]):
        yield (f"sparse_update_mindist_sample {tag} mindist={mindist.size} "
               f"new={new.shape[0]}", sparse_update_mindist_sample,
               (*a, 0.25, new, 0, mindist, np.zeros(mindist.size, np.int64), np.empty(0),
                1, 2, 3, False, np.empty(n), np.empty(n, np.int64), np.empty(m),
                np.empty(m, np.int64)))


def _kmeanspp(n, d, k):
    """Greedy k-means++ to k centers on n rows (duplicates among them), every trial."""
    X = (np.arange(n * d, dtype=np.float64).reshape(n, d) % 3)
    state = KmeansppState(X, np.full(d, 0.5), 0.25, np.ones(n), k)
    state.start(n - 1)
    for c in range(1, k):
        state.gains(np.arange(n, dtype=np.int64))
        state.add(c % n)


def _topk(m, n):
    key, idx = np.empty(m), np.empty(m, np.int64)
    size = 0
    for i in range(n):
        size = topk_push(key, idx, size, float(i % 3), i)
    topk_finish(key, idx, size)


def main():
    calls = list(_calls())
    calls += [(f"topk m={m} n={n}", _topk, (m, n)) for m in [0, 1, 4] for n in [0, 1, 9]]
    calls += [(f"kmeanspp n={n} d={d} k={k}", _kmeanspp, (n, d, k))
              for n, d, k in [(1, 1, 1), (1, 3, 2), (4, 2, 4), (9, 1, 3)]]
    for name, kernel, args in calls:
        try:
            kernel(*args)
        # Inside prange an IndexError surfaces as a SystemError.
        except (IndexError, SystemError) as exc:
            print(f"{name}: {type(exc).__name__}: {exc}")
    print("done")


if __name__ == "__main__":
    main()
