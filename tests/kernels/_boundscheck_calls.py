"""Calls every kernel on edge shapes; run by test_bounds.py with NUMBA_BOUNDSCHECK=1.

Prints one line per call that raised IndexError (an out-of-bounds access: without bounds
checking numba reads or writes past the buffer silently), then "done".
"""

import itertools

import numpy as np
import scipy.sparse as sp

from chunkml.kernels import (
    assign_labels,
    assign_labels_gemm,
    assign_labels_gemm_parallel,
    assign_labels_parallel,
    euclidean_distances,
    euclidean_distances_parallel,
    lloyd_partial_sums,
    lloyd_partial_sums_gemm,
    lloyd_partial_sums_gemm_parallel,
    lloyd_partial_sums_parallel,
    N_STATS,
    merge_moments,
    nearest_new_gemm,
    sample_rows,
    sparse_assign_labels,
    sparse_assign_labels_parallel,
    sparse_block_stats,
    sparse_euclidean_distances,
    sparse_euclidean_distances_parallel,
    sparse_gather_rows,
    sparse_has_duplicates,
    sparse_lloyd_partial_sums,
    sparse_lloyd_partial_sums_parallel,
    sparse_minibatch_step,
    sparse_update_mindist_sample,
    update_mindist_sample,
)
from chunkml.kernels._topk import topk_finish, topk_push

SHAPES = [(0, 3, 2), (1, 1, 1), (3, 2, 5), (6, 2, 1)]  # (n_samples, n_features, n_clusters)


def _calls():
    for (n, d, k), m in itertools.product(SHAPES, [0, 1, 10]):
        X = np.arange(n * d, dtype=np.float64).reshape(n, d) % 5
        C = np.linspace(0.0, 4.0, k * d).reshape(k, d)
        c2 = (C * C).sum(axis=1)
        # A frame that is not the identity, so that shift and scale are indexed too.
        f = (np.full(d, 0.5), 0.25)
        tag = f"n={n} d={d} k={k} m={m}"
        for name, kernel in [("assign_labels", assign_labels),
                             ("assign_labels_parallel", assign_labels_parallel),
                             ("assign_labels_gemm", assign_labels_gemm),
                             ("assign_labels_gemm_parallel", assign_labels_gemm_parallel)]:
            yield f"{name} {tag}", kernel, (X, *f, C, c2, np.empty(n, np.int64), np.empty(n))
        for name, kernel in [("euclidean_distances", euclidean_distances),
                             ("euclidean_distances_parallel", euclidean_distances_parallel)]:
            yield f"{name} {tag}", kernel, (X, *f, C, np.empty((n, k)))
        for (name, kernel), w, mom in itertools.product(
                [("lloyd_partial_sums", lloyd_partial_sums),
                 ("lloyd_partial_sums_parallel", lloyd_partial_sums_parallel),
                 ("lloyd_partial_sums_gemm", lloyd_partial_sums_gemm),
                 ("lloyd_partial_sums_gemm_parallel", lloyd_partial_sums_gemm_parallel)],
                [np.empty(0), np.ones(n)], [2, 0]):
            yield (f"{name} {tag} weights={w.size} moments={mom}", kernel,
                   (X, *f, C, c2, w, np.zeros((k, d)), np.zeros(k), np.zeros((mom, d)),
                    np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64)))
        for w, mom in itertools.product([np.empty(0), np.ones(n)], [N_STATS, 0]):
            yield (f"sample_rows {tag} weights={w.size} moments={mom}", sample_rows,
                   (X, w, 1, 2, 3, np.zeros((mom, d)), np.empty(m), np.empty(m, np.int64)))
        for mindist, new, exp in itertools.product([np.empty(0), np.ones(n)], [C, C[:0]],
                                                   [False, True]):
            yield (f"update_mindist_sample {tag} mindist={mindist.size} new={new.shape[0]}"
                   f" exponential={exp}", update_mindist_sample,
                   (X, *f, new, 0, mindist, np.zeros(mindist.size, np.int64), np.empty(0), 1, 2,
                    3, exp, np.empty(n), np.empty(n, np.int64), np.empty(m),
                    np.empty(m, np.int64)))
        for mindist, new in itertools.product([np.full(n, np.inf), np.ones(n)], [C, C[:0]]):
            yield (f"nearest_new_gemm {tag} new={new.shape[0]}", nearest_new_gemm,
                   (X, *f, new, 0, mindist.copy(), np.full(n, -1, np.int64)))
        yield from _sparse_calls(X, C, c2, m, tag)
    for n_a, n_b in [(0, 0), (0, 2), (2, 0), (2, 3)]:
        yield (f"merge_moments n_a={n_a} n_b={n_b}", merge_moments,
               (n_a, np.zeros((2, 3)), n_b, np.ones((2, 3))))


def _sparse_calls(X, C, c2, m, tag):
    """The CSR kernels (kernels/sparse.py) on the same shapes, rows of varying length
    (the zeros of X % 5 are not stored)."""
    n, d = X.shape
    k = C.shape[0]
    csr = sp.csr_matrix(X)
    a = (csr.data, csr.indices, csr.indptr)
    for name, assign, distances in [
            ("", sparse_assign_labels, sparse_euclidean_distances),
            ("_parallel", sparse_assign_labels_parallel,
             sparse_euclidean_distances_parallel)]:
        yield (f"sparse_assign_labels{name} {tag}", assign,
               (*a, 0.25, C, c2, np.empty(n, np.int64), np.empty(n)))
        yield (f"sparse_euclidean_distances{name} {tag}", distances,
               (*a, 0.25, C, c2, np.empty((n, k))))
    yield f"sparse_block_stats {tag}", sparse_block_stats, (*a, np.empty((N_STATS, d)))
    yield (f"sparse_has_duplicates {tag}", sparse_has_duplicates,
           (csr.indices, csr.indptr, d))
    yield (f"sparse_gather_rows {tag}", sparse_gather_rows,
           (*a, np.arange(n, dtype=np.int64), 0.25, np.empty((n, d))))
    for w, mom, (name, lloyd) in itertools.product(
            [np.empty(0), np.ones(n)], [2, 0],
            [("", sparse_lloyd_partial_sums),
             ("_parallel", sparse_lloyd_partial_sums_parallel)]):
        yield (f"sparse_lloyd_partial_sums{name} {tag} weights={w.size} moments={mom}",
               lloyd,
               (*a, 0.25, C, c2, w, np.zeros((k, d)), np.zeros(k), np.zeros((mom, d)),
                np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64)))
        yield (f"sparse_minibatch_step {tag} weights={w.size}", sparse_minibatch_step,
               (*a, 0.25, w, C, c2, np.ones(k), np.empty((k, d)), np.empty(n, np.int64),
                np.empty(n)))
    for mindist, new in itertools.product([np.empty(0), np.ones(n)], [C, C[:0]]):
        yield (f"sparse_update_mindist_sample {tag} mindist={mindist.size} "
               f"new={new.shape[0]}", sparse_update_mindist_sample,
               (*a, 0.25, new, 0, mindist, np.zeros(mindist.size, np.int64), np.empty(0),
                1, 2, 3, False, np.empty(n), np.empty(n, np.int64), np.empty(m),
                np.empty(m, np.int64)))


def _topk(m, n):
    key, idx = np.empty(m), np.empty(m, np.int64)
    size = 0
    for i in range(n):
        size = topk_push(key, idx, size, float(i % 3), i)
    topk_finish(key, idx, size)


def main():
    calls = list(_calls())
    calls += [(f"topk m={m} n={n}", _topk, (m, n)) for m in [0, 1, 4] for n in [0, 1, 9]]
    for name, kernel, args in calls:
        try:
            kernel(*args)
        # Inside prange an IndexError surfaces as a SystemError.
        except (IndexError, SystemError) as exc:
            print(f"{name}: {type(exc).__name__}: {exc}")
    print("done")


if __name__ == "__main__":
    main()
