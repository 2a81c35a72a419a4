"""The CSR kernels (chunkml/kernels/sparse.py) against the numpy references on the
densified blocks (densifying is fine in tests; the kernels never do)."""

import numpy as np
import pytest
import scipy.sparse as sp

from chunkml.kernels import (
    N_STATS,
    STAT_EXP,
    STAT_M2,
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    block_stats,
    sparse_assign_labels,
    sparse_block_stats,
    sparse_euclidean_distances,
    sparse_gather_rows,
    sparse_has_duplicates,
    sparse_lloyd_partial_sums,
    sparse_update_mindist_sample,
)
from tests import _reference as ref
from chunkml.kernels._config import CHUNK_ROWS
from tests.kernels._util import (
    DTYPES,
    RTOL,
    assert_close,
    assert_moments_close,
    assert_nearest,
    assert_top,
    blocks,
    make_weight,
    public,
)

# The frame's scale: a power of two, not 1, so that it is applied everywhere.
SCALE = 0.25
N_SAMPLES, N_FEATURES, N_CLUSTERS = 120, 9, 4


def make_sparse(dtype, seed=0):
    """(CSR X, centers in the frame): about a third of the values stored, some negative;
    feature 0 never stored, feature 1 stored in every row."""
    rng = np.random.default_rng(seed)
    X = sp.random(N_SAMPLES, N_FEATURES, density=0.3, random_state=seed,
                  data_rvs=lambda n: rng.normal(1.0, 3.0, size=n)).tolil()
    X[:, 0] = 0.0
    X[:, 1] = rng.uniform(1.0, 2.0, size=(N_SAMPLES, 1))
    X = sp.csr_matrix(X, dtype=dtype)
    centers = rng.normal(scale=0.5, size=(N_CLUSTERS, N_FEATURES))
    return X, centers


def csr(X):
    return X.data, X.indices, X.indptr


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_lloyd_partial_sums_matches_reference(dtype, weighted):
    X, centers = make_sparse(dtype)
    w_all = make_weight(N_SAMPLES) if weighted else None
    m = 3
    for start, stop in blocks(N_SAMPLES):
        block = X[start:stop]
        dense = block.toarray().astype(np.float64) * SCALE
        w = np.empty(0) if w_all is None else w_all[start:stop]
        base = np.arange(N_CLUSTERS * N_FEATURES, dtype=np.float64).reshape(N_CLUSTERS, -1)
        sums, weight = base.copy(), np.ones(N_CLUSTERS)
        moments = np.full((2, N_FEATURES), np.nan)
        far_dist, far_idx, far_label = (np.full(m, 9.0), np.full(m, 9, np.int64),
                                        np.full(m, 9, np.int64))
        inertia = sparse_lloyd_partial_sums(*csr(block), SCALE, centers, w, sums, weight,
                                            moments, far_dist, far_idx, far_label)
        want = ref.lloyd_partial(dense, centers, w, m)
        assert_close(sums - base, want.sums, dtype)
        assert_close(weight - 1.0, want.weight, dtype)
        assert_close(inertia, want.inertia, dtype)
        assert_moments_close(moments, want.moments, dtype)
        n = stop - start
        assert (far_idx[min(m, n):] == -1).all() and (far_label[min(m, n):] == -1).all()
        kept = far_idx[:min(m, n)]
        assert sorted(kept) == sorted(want.far_idx)
        np.testing.assert_array_equal(far_label[:min(m, n)], want.labels[kept])
        assert_close(far_dist[:min(m, n)], want.mindist[kept], dtype)


def test_lloyd_partial_sums_skips_moments_and_far_rows():
    X, centers = make_sparse(np.float64)
    sums, weight = np.zeros((N_CLUSTERS, N_FEATURES)), np.zeros(N_CLUSTERS)
    empty = np.empty(0)
    inertia = sparse_lloyd_partial_sums(*csr(X), 1.0, centers, empty,
                                        sums, weight, np.empty((0, N_FEATURES)), empty,
                                        np.empty(0, np.int64), np.empty(0, np.int64))
    want = ref.lloyd_partial(X.toarray(), centers)
    assert_close(sums, want.sums, np.float64)
    assert_close(inertia, want.inertia, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_assign_and_distances_match_reference(dtype):
    X, centers = make_sparse(dtype)
    for start, stop in blocks(N_SAMPLES):
        block = X[start:stop]
        dense = block.toarray().astype(np.float64) * SCALE
        n = stop - start
        labels, mindist = np.full(n, 7, np.int32), np.full(n, np.nan)
        sparse_assign_labels(*csr(block), SCALE, centers, labels, mindist)
        assert_nearest(dense, centers, labels, RTOL[dtype])
        d2 = ref.squared_distances(dense, centers)
        assert_close(mindist, d2[np.arange(n), labels], dtype)
        out = np.full((n, N_CLUSTERS), np.nan, dtype=dtype)
        sparse_euclidean_distances(*csr(block), SCALE, centers, out)
        # In X's units: the frame's distances divided by the scale.
        assert_close(out, ref.euclidean_distances(dense, centers) / SCALE, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_block_stats_count_implicit_zeros(dtype):
    X, _ = make_sparse(dtype)
    X = X * 1e10  # far from unit size: M2 is kept in the feature's own scale
    for start, stop in blocks(N_SAMPLES):
        block = sp.csr_matrix(X[start:stop], dtype=dtype)
        got = np.full((N_STATS, N_FEATURES), np.nan)
        sparse_block_stats(*csr(block), got)
        want = np.full((N_STATS, N_FEATURES), np.nan)
        block_stats(block.toarray(), want)
        np.testing.assert_array_equal(got[[STAT_MIN, STAT_MAX, STAT_EXP]],
                                      want[[STAT_MIN, STAT_MAX, STAT_EXP]])
        dense = block.toarray().astype(np.float64)
        if stop > start:
            np.testing.assert_allclose(got[STAT_MEAN], dense.mean(axis=0), rtol=1e-12,
                                       atol=1e-3)
            m2 = np.ldexp(got[STAT_M2], 2 * got[STAT_EXP].astype(np.int64))
            np.testing.assert_allclose(m2, ref.moments(dense)[1], rtol=1e-9,
                                       atol=1e-9 * ref.moments(dense)[1].max())


@pytest.mark.parametrize("exponential", [False, True])
def test_update_mindist_sample_matches_reference(exponential):
    X, centers = make_sparse(np.float64)
    w_all = make_weight(N_SAMPLES)
    seed, stream, m = 11, 3, 5
    for start, stop in blocks(N_SAMPLES):
        block = X[start:stop]
        dense = block.toarray() * SCALE
        n = stop - start
        w = w_all[start:stop]
        first = ref.kmeans_parallel_round(dense, centers[:1], None, w, seed, stream,
                                          start, exponential, m)
        want = ref.kmeans_parallel_round(dense, centers[1:], first.mindist, w, seed,
                                         stream, start, exponential, m,
                                         nearest=first.nearest, first_id=1)
        out_mindist, out_nearest = np.full(n, np.nan), np.full(n, 9, np.int64)
        key, idx = np.full(m, np.nan), np.full(m, 9, np.int64)
        phi = sparse_update_mindist_sample(
            *csr(block), SCALE, centers[1:], 1, first.mindist, first.nearest, w, seed,
            stream, start, exponential, out_mindist, out_nearest, key, idx)
        assert_close(out_mindist, want.mindist, np.float64)
        np.testing.assert_array_equal(out_nearest, want.nearest)
        assert_close(phi, want.phi, np.float64)
        assert_top(key, idx, want.keys, m, 1e-7)


def test_gather_rows():
    X, _ = make_sparse(np.float32)
    rows = np.array([5, 0, 119, 5], dtype=np.int64)
    out = np.full((4, N_FEATURES), np.nan)
    sparse_gather_rows(*csr(X), rows, SCALE, out)
    np.testing.assert_array_equal(out, X.toarray()[rows].astype(np.float64) * SCALE)


def _lloyd_outputs(kernel, X, centers, w, m):
    out = (np.zeros((N_CLUSTERS, N_FEATURES)), np.zeros(N_CLUSTERS),
           np.empty((2, N_FEATURES)), np.empty(m), np.empty(m, np.int64),
           np.empty(m, np.int64))
    inertia = kernel(*csr(X), SCALE, centers, w, *out)
    return (inertia, *out)


@pytest.mark.parametrize("weighted", [False, True])
def test_parallel_variants_equal_the_serial_kernels(weighted):
    # Several row chunks; the results are the serial kernels' bit for bit.
    n = 2 * CHUNK_ROWS + 123
    X = sp.random(n, N_FEATURES, density=0.3, random_state=3, format="csr")
    centers = np.random.default_rng(3).uniform(size=(N_CLUSTERS, N_FEATURES))
    w = make_weight(n) if weighted else np.empty(0)
    serial = _lloyd_outputs(sparse_lloyd_partial_sums, X, centers, w, 5)
    parallel = _lloyd_outputs(public(sparse_lloyd_partial_sums, True), X, centers, w, 5)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
    assert_close(serial[0], ref.lloyd_partial(X.toarray() * SCALE, centers, w).inertia,
                 np.float64)
    outs = []
    for assign, distances in [(sparse_assign_labels, sparse_euclidean_distances),
                              (public(sparse_assign_labels, True),
                               public(sparse_euclidean_distances, True))]:
        labels, mindist = np.empty(n, np.int32), np.empty(n)
        dist = np.empty((n, N_CLUSTERS))
        assign(*csr(X), SCALE, centers, labels, mindist)
        distances(*csr(X), SCALE, centers, dist)
        outs.append((labels, mindist, dist))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_has_duplicates():
    indptr = np.array([0, 2, 2, 5], dtype=np.int32)
    unsorted = np.array([3, 1, 2, 0, 1], dtype=np.int32)
    assert not sparse_has_duplicates(unsorted, indptr, 4)
    repeated = np.array([3, 1, 2, 0, 2], dtype=np.int32)
    assert sparse_has_duplicates(repeated, indptr, 4)
    # The same column in different rows is no duplicate.
    assert not sparse_has_duplicates(np.array([1, 2, 1, 2, 3], dtype=np.int32), indptr, 4)
