"""Persist or stream: a lazy X that fits in memory is read from its source once per fit."""

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import make_blobs

import chunkml
from chunkml.dask_glue.persist import in_memory, should_persist

_lock = threading.Lock()
_reads = []


def _count(block):
    with _lock:
        _reads.append(block.shape[0])
    return block


@pytest.fixture
def lazy_X():
    X, _ = make_blobs(n_samples=2000, n_features=3, centers=4, random_state=0)
    _reads.clear()
    lazy = da.from_array(X, chunks=(500, 3)).map_blocks(
        _count, dtype=X.dtype, meta=np.empty((0, 0)))
    with dask.config.set(scheduler="threads"):
        yield X, lazy


def _fit(X, **params):
    return chunkml.KMeans(4, random_state=0, max_iter=5, tol=0, **params).fit(X)


@pytest.mark.parametrize("mode, passes", [("auto", 1), (True, 1), (False, None)])
def test_persist_modes(lazy_X, mode, passes):
    X, lazy = lazy_X
    with dask.config.set({"chunkml.persist": mode}):
        km = _fit(lazy)
    ref = _fit(X)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    n_blocks = 4
    if passes is None:  # streamed: k-means|| (<= 5 + 2) + 5 Lloyd + final, each a read
        assert len(_reads) > 5 * n_blocks
    else:
        assert len(_reads) == passes * n_blocks
    # labels_ stays lazy on the caller's X: computing it reads the source again.
    before = len(_reads)
    np.testing.assert_array_equal(km.labels_.compute(), ref.labels_)
    assert len(_reads) == before + n_blocks


def test_auto_streams_what_does_not_fit(lazy_X, monkeypatch):
    _, lazy = lazy_X
    monkeypatch.setattr("chunkml.dask_glue.persist.available_memory",
                        lambda: lazy.nbytes)  # X would take all of it
    assert not should_persist(lazy)
    monkeypatch.setattr("chunkml.dask_glue.persist.available_memory",
                        lambda: 4 * lazy.nbytes)
    assert should_persist(lazy)


def test_in_memory_arrays_are_not_persisted_again(lazy_X):
    X, lazy = lazy_X
    assert in_memory(da.from_array(X, chunks=500))
    assert not in_memory(lazy)
    assert in_memory(lazy.persist())
    assert not should_persist(da.from_array(X, chunks=500))


def test_unknown_size_is_streamed(lazy_X):
    _, lazy = lazy_X
    unknown = da.Array(lazy.dask, lazy.name, ((np.nan,) * 4, (3,)), meta=lazy._meta)
    assert not should_persist(unknown)


def test_bad_config_value(lazy_X):
    _, lazy = lazy_X
    with dask.config.set({"chunkml.persist": "sometimes"}):
        with pytest.raises(ValueError, match="chunkml.persist"):
            chunkml.KMeans(4).fit(lazy)


@pytest.fixture
def in_memory_auto():
    with dask.config.set({"chunkml.in_memory": "auto"}):
        yield


def _small_blobs():
    X, _ = make_blobs(n_samples=3000, centers=4, n_features=3, random_state=1)
    return X, np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
def test_a_small_dask_x_is_fitted_in_memory(in_memory_auto, weighted, monkeypatch):
    # Fitted as the numpy array it holds (no pass runs a dask graph), with the numpy
    # fit's results, and labels_ a dask array on X's own row chunks.
    X, weight = _small_blobs()
    w = weight if weighted else None
    Xd = da.from_array(X, chunks=(700, 3))
    wd = None if w is None else da.from_array(w, chunks=700)
    params = dict(n_clusters=4, random_state=0, n_init=2)
    want = chunkml.KMeans(**params).fit(X, sample_weight=w)
    from chunkml.dask_glue import _dask_rows

    def no_dask_rows(*args, **kwargs):
        raise AssertionError("a dask pass ran")

    monkeypatch.setattr(_dask_rows.DaskRows, "lloyd", no_dask_rows)
    got = chunkml.KMeans(**params).fit(Xd, sample_weight=wd)
    np.testing.assert_array_equal(got.cluster_centers_, want.cluster_centers_)
    assert got.inertia_ == want.inertia_ and got.n_iter_ == want.n_iter_
    assert isinstance(got.labels_, da.Array) and got.labels_.chunks == Xd.chunks[:1]
    np.testing.assert_array_equal(got.labels_.compute(), want.labels_)


def test_dask_passes_above_the_limit_or_when_set_off(in_memory_auto, monkeypatch):
    from chunkml.dask_glue import persist

    X, _ = _small_blobs()
    Xd = da.from_array(X, chunks=(700, 3))
    assert persist.fit_in_memory(Xd)
    monkeypatch.setattr(persist, "IN_MEMORY_MAX_BYTES", X.nbytes - 1)
    assert not persist.fit_in_memory(Xd)
    monkeypatch.undo()
    with dask.config.set({"chunkml.in_memory": False}):
        assert not persist.fit_in_memory(Xd)
    with dask.config.set({"chunkml.in_memory": "yes"}):
        with pytest.raises(ValueError, match="chunkml.in_memory"):
            persist.fit_in_memory(Xd)


def test_a_distributed_client_keeps_the_dask_passes(in_memory_auto):
    # Its workers hold X: not pulled into the client.
    from distributed import Client

    from chunkml.dask_glue import persist

    Xd = da.from_array(_small_blobs()[0], chunks=(700, 3))
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=None) as client:
        with dask.config.set(scheduler=client):
            assert not persist.fit_in_memory(Xd)
        with dask.config.set(scheduler="dask.distributed"), client.as_current():
            assert not persist.fit_in_memory(Xd)
    assert persist.fit_in_memory(Xd)
