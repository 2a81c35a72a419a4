"""The parallel Lloyd steps' chunk partials (kernels/_chunks.py): past
MAX_CHUNK_SUMS_BYTES the chunks share a ring of cluster sums, folded in chunk order, and
every output equals the one-row-per-chunk path's bit for bit, whatever the threads."""

import numba
import numpy as np
import pytest

from chunkml import kernels
from chunkml.kernels import _chunks, _config
from chunkml.kernels._config import CHUNK_ROWS

N_FAR = 5


@pytest.fixture
def threads(monkeypatch):
    """Set the number of threads the parallel steps use (numba's, per calling thread)."""
    def use(n):
        monkeypatch.setattr(numba, "get_num_threads", lambda: n)
    return use


def _blobs(n, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(max(k // 2, 1), d))
    X = means[rng.integers(0, means.shape[0], n)] + rng.normal(size=(n, d))
    return np.ascontiguousarray(X, dtype=dtype), X[rng.choice(n, k, replace=False)]


def _outputs(k, d):
    # Sums and weights from a non-zero base: they are added to.
    return (np.full((k, d), 0.5), np.full(k, 2.0), np.zeros((2, d)), np.empty(N_FAR),
            np.empty(N_FAR, np.int64), np.empty(N_FAR, np.int64))


def _plain(X, centers, w, frame):
    out = _outputs(*centers.shape)
    inertia = kernels.lloyd_partial_sums(X, *frame, centers, w, *out, parallel=True)
    return inertia, out


def _with_ring(monkeypatch, ring):
    monkeypatch.setattr(_config, "MAX_CHUNK_SUMS_BYTES", 0 if ring else 1 << 62)


def _assert_same(a, b):
    assert a[0] == b[0]
    for x, y in zip(a[1], b[1], strict=True):
        np.testing.assert_array_equal(x, y)


def test_the_ring_is_two_rows_per_thread_only_past_the_memory_cap(threads, monkeypatch):
    threads(3)
    # 64 chunks of k x d = 1024 x 768 float64: 402 MB of sums one per chunk.
    assert _chunks.sum_ring(64, 1024, 768) == 6
    assert _chunks.sum_ring(64, 3, 2) == 64
    # No fewer rows than chunks to gain: one per chunk.
    assert _chunks.sum_ring(6, 1024, 768) == 6
    monkeypatch.setattr(_config, "MAX_CHUNK_SUMS_BYTES", 0)
    assert _chunks.sum_ring(7, 3, 2) == 6


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d, k", [(2, 3), (6, 3), (8, 16)])  # tiles, rows, products
def test_lloyd_with_a_ring_equals_one_sum_per_chunk(threads, monkeypatch, n_threads,
                                                    dtype, d, k):
    threads(n_threads)
    X, centers = _blobs(9 * CHUNK_ROWS + 123, d, k, dtype)
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    frame = (np.full(d, 0.5), 0.25)
    n_chunks = _chunks.chunk_bounds(X.shape[0])[0]
    _with_ring(monkeypatch, False)
    full = _plain(X, centers, w, frame)
    _with_ring(monkeypatch, True)
    assert _chunks.sum_ring(n_chunks, k, d) < n_chunks
    _assert_same(_plain(X, centers, w, frame), full)
    # And with one thread and no ring at all: the result depends on neither.
    threads(1)
    _with_ring(monkeypatch, False)
    _assert_same(_plain(X, centers, w, frame), full)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bounded_lloyd_with_a_ring_equals_one_sum_per_chunk(threads, monkeypatch, dtype):
    threads(2)
    d, k = 10, 40
    X, centers = _blobs(7 * CHUNK_ROWS + 5, d, k, dtype, seed=2)
    frame = (np.zeros(d), 1.0)
    n_cand, _ = kernels.bounds_shape(k)
    no_drift = (np.empty(0, np.int64), np.empty(0), 0.0)
    runs = {}
    for ring in (False, True):
        _with_ring(monkeypatch, ring)
        candidates = np.zeros((X.shape[0], n_cand), np.int32)
        lower = np.full(X.shape[0], -np.inf)
        passes = []
        moved = centers.copy()
        for drift in (no_drift, None):
            if drift is None:  # every center moved a little: some rows keep labels
                moved = moved + 0.01
                step = 0.01 * np.sqrt(d) * (1 + 1e-6)
                drift = (np.arange(4, dtype=np.int64), np.full(4, step), step)
            out = _outputs(k, d)
            passes.append(kernels.bounded_lloyd_partial_sums(
                X, *frame, moved, np.empty(0), *drift, candidates, lower, *out,
                parallel=True) + out)
        runs[ring] = passes, candidates, lower
    (full, cand_full, lower_full), (ringed, cand_ring, lower_ring) = runs[False], runs[True]
    for a, b in zip(ringed, full, strict=True):
        assert a[:2] == b[:2]  # inertia, rows compared with every center
        for x, y in zip(a[2:], b[2:], strict=True):
            np.testing.assert_array_equal(x, y)
    assert full[1][1] < X.shape[0]  # the second pass did skip rows
    np.testing.assert_array_equal(cand_ring, cand_full)
    np.testing.assert_array_equal(lower_ring, lower_full)
