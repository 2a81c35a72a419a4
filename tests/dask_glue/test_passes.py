"""How many times a fit reads X: once per Lloyd iteration, init_max_iter + 2 for k-means||."""

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import make_blobs

import chunkml
from chunkml.dask_glue._rows import DaskRows
from chunkml.dask_glue.kmeans import initial_centers

N_BLOCKS = 6
_lock = threading.Lock()
_reads = {"blocks": 0}


def _count_read(block):
    with _lock:
        _reads["blocks"] += 1
    return block


@pytest.fixture
def counted_X():
    """A non-persisted dask X whose every block computation is counted."""
    X, _ = make_blobs(n_samples=3000, n_features=3, centers=5, cluster_std=2.0,
                      random_state=0)
    base = da.from_array(X, chunks=(500, 3))
    counted = base.map_blocks(_count_read, dtype=X.dtype)
    _reads["blocks"] = 0

    def passes():
        assert _reads["blocks"] % N_BLOCKS == 0, _reads["blocks"]
        return _reads["blocks"] // N_BLOCKS

    # These tests count the passes of a streamed X: a small lazy X would otherwise be
    # persisted once for the whole fit (see test_persist.py).
    with dask.config.set({"scheduler": "threads", "chunkml.persist": False}):
        yield X, counted, passes


@pytest.mark.parametrize("max_iter", [1, 2, 4])
def test_one_read_per_lloyd_iteration(counted_X, max_iter):
    X, Xd, passes = counted_X
    init = X[[0, 1, 2, 3, 4]]
    km = chunkml.KMeans(5, init=init, max_iter=max_iter, tol=0).fit(Xd)
    assert km.n_iter_ == max_iter
    # Centers still moving at max_iter: one more pass measures inertia_ at the final
    # centers (scikit-learn's final E-step). labels_ stays lazy: no read for it.
    assert passes() == max_iter + 1
    km.labels_.compute()
    assert passes() == max_iter + 2


def test_converged_fit_needs_no_extra_pass(counted_X):
    X, Xd, passes = counted_X
    km = chunkml.KMeans(5, init=X[:5], tol=0, max_iter=300).fit(Xd)
    assert km.n_iter_ < 300
    # With tol=0 the loop stops only when no center moved, so the last pass already
    # measured the final centers.
    assert passes() == km.n_iter_


@pytest.mark.parametrize("n_rounds", [1, 2, 5])
def test_kmeans_parallel_reads_x_at_most_rounds_plus_two(counted_X, n_rounds):
    _, Xd, passes = counted_X
    centers, tol_abs = _init(Xd, "k-means||", n_rounds)
    assert centers.shape == (5, 3)
    assert tol_abs > 0
    assert passes() <= n_rounds + 2


def _init(Xd, init, n_rounds=None):
    """The centers of an init (its first pass included) and the tol it measured."""
    return initial_centers(DaskRows(Xd), init, 5, seed=3, rng=np.random.RandomState(0),
                           oversampling_factor=2, init_max_iter=n_rounds, tol=1e-4)


def test_fit_with_kmeans_parallel_total_reads(counted_X):
    _, Xd, passes = counted_X
    km = chunkml.KMeans(5, init_max_iter=3, random_state=0).fit(Xd)
    assert passes() <= (3 + 2) + km.n_iter_ + 1


def test_random_init_is_one_pass_and_kmeanspp_k_passes(counted_X):
    _, Xd, passes = counted_X
    _init(Xd, "random")
    assert passes() == 1
    _init(Xd, "k-means++")
    assert passes() == 1 + 5
