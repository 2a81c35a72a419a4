"""chunkml/datasets/_blocks.py: the row chunks and the graph of one task per block."""

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkml.datasets import _blobs, _classification, make_blobs, make_classification
from chunkml.datasets._blocks import _row_chunks

from ._util import GENERATORS, _compute


# Shapes, dtypes and chunks


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "chunks, expected",
    [
        (300, (300, 300, 300, 100)),
        (1000, (1000,)),
        (1, (1,) * 1000),
        ((400, 0, 599, 1), (400, 0, 599, 1)),
        ([500, 500], (500, 500)),
    ],
)
def test_shapes_dtypes_chunks(make, chunks, expected):
    X, y = make(n_samples=1000, n_features=5, chunks=chunks, random_state=0)
    assert X.shape == (1000, 5) and y.shape == (1000,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.chunks == (expected, (5,))
    assert y.chunks == (expected,)
    Xc, yc = _compute(X, y)
    assert Xc.shape == (1000, 5) and Xc.dtype == np.float64
    assert yc.shape == (1000,) and yc.dtype == np.int64
    assert np.all(np.isfinite(Xc))


@pytest.mark.parametrize("make", GENERATORS)
def test_default_chunks(make):
    X, y = make(n_samples=100, random_state=0)
    assert X.numblocks == (1, 1) and y.numblocks == (1,)

    X, y = make(n_samples=3_000_000, n_features=300, random_state=0)
    assert max(X.chunks[0]) <= 1_000_000
    assert max(X.chunks[0]) * 300 * 8 <= 128 * 2**20
    assert sum(X.chunks[0]) == 3_000_000 and y.chunks == X.chunks[:1]

    X, y = make(n_samples=2_500_000, n_features=5, random_state=0)
    assert X.chunks[0] == (1_000_000, 1_000_000, 500_000)


@pytest.mark.parametrize("make", GENERATORS)
def test_slices_agree_with_full_compute(make):
    X, y = make(n_samples=1000, n_features=6, chunks=137, random_state=3)
    Xc, yc = _compute(X, y)
    Xs, ys = _compute(X[123:456], y[123:456])
    np.testing.assert_array_equal(Xs, Xc[123:456])
    np.testing.assert_array_equal(ys, yc[123:456])


@given(n_samples=st.integers(1, 500), chunk=st.integers(1, 600),
       n_features=st.integers(1, 4))
def test_int_chunks_are_full_blocks_then_the_remainder(n_samples, chunk, n_features):
    expected = []
    start = 0
    while start < n_samples:
        expected.append(min(chunk, n_samples - start))
        start += chunk
    assert _row_chunks(chunk, n_samples, n_features) == tuple(expected)
    assert _row_chunks(np.int64(chunk), n_samples, n_features) == tuple(expected)
    assert _row_chunks(tuple(expected), n_samples, n_features) == tuple(expected)


# Laziness


@pytest.mark.parametrize(
    "make, module, x_block",
    [
        (make_blobs, _blobs, "_blobs_X_block"),
        (make_classification, _classification, "_classification_X_block"),
    ],
)
def test_lazy_graph_one_task_per_block(monkeypatch, make, module, x_block):
    calls = []
    original = getattr(module, x_block)

    def counting(*args, block_id=None):
        calls.append(block_id)
        return original(*args, block_id=block_id)

    monkeypatch.setattr(module, x_block, counting)

    start = time.perf_counter()
    X, y = make(n_samples=10_000_000, chunks=100_000, random_state=0)
    assert time.perf_counter() - start < 2.0
    assert calls == []
    assert X.numblocks == (100, 1) and y.numblocks == (100,)
    assert len(X.__dask_graph__()) == 100
    assert len(y.__dask_graph__()) == 100

    X10, y10 = make(n_samples=10_000_000, chunks=1_000_000, random_state=0)
    assert len(X10.__dask_graph__()) == 10 and len(y10.__dask_graph__()) == 10

    head = X[:5].compute(scheduler="sync")
    assert head.shape == (5, X.shape[1])
    assert calls == [(0, 0)]
    assert y[-5:].compute(scheduler="sync").shape == (5,)
    assert calls == [(0, 0)]


# Validation


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(chunks=0), ValueError, "chunks must be a positive int"),
        (dict(chunks=(50, 40)), ValueError, "chunks must sum to n_samples=100"),
        (dict(chunks=(120, -20)), ValueError, "negative"),
        (dict(chunks=2.5), TypeError, "chunks must be None, an int"),
    ],
)
def test_chunks_validation(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)
