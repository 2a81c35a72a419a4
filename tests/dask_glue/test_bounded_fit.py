"""Lloyd fits whose passes carry per-row bounds (kernels.use_bounds: many features and
clusters): the same fit as plain passes, bit for bit, on numpy, dask and cosine rows,
and scikit-learn's from the same initial centers."""

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.cluster import KMeans as SKKMeans

import chunkml
from chunkml import kernels

N, D, K = 3000, 64, 128


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    means = rng.normal(scale=3.0, size=(40, D))
    X = means[rng.integers(0, 40, N)] + rng.normal(size=(N, D))
    init = X[rng.choice(N, K, replace=False)]
    assert kernels.use_bounds(D, K)
    return X, init


def _fit(X, init, bounded, monkeypatch, **kwargs):
    with monkeypatch.context() as m:
        if not bounded:
            m.setattr(kernels, "use_bounds", lambda n_features, n_clusters: False)
        with dask.config.set(scheduler="threads"):
            km = chunkml.KMeans(K, init=init, n_init=1, **{"max_iter": 60, **kwargs}).fit(X)
            return km, np.asarray(km.labels_)


@pytest.mark.parametrize("kind", ["numpy", "numpy32", "dask", "cosine"])
def test_bounded_fit_equals_plain_fit(data, kind, monkeypatch):
    X, init = data
    kwargs = {}
    if kind == "numpy32":
        X = X.astype(np.float32)
    elif kind == "dask":
        X = da.from_array(X, chunks=(1000, D))
    elif kind == "cosine":
        kwargs = {"metric": "cosine"}
    bounded, labels = _fit(X, init, True, monkeypatch, **kwargs)
    plain, plain_labels = _fit(X, init, False, monkeypatch, **kwargs)
    assert bounded.n_iter_ == plain.n_iter_ > 5
    np.testing.assert_array_equal(labels, plain_labels)
    np.testing.assert_array_equal(bounded.cluster_centers_, plain.cluster_centers_)
    assert bounded.inertia_ == plain.inertia_


def test_bounded_fit_is_scikit_learns_from_the_same_centers(data, monkeypatch):
    X, init = data
    km, labels = _fit(X, init, True, monkeypatch, tol=1e-4)
    sk = SKKMeans(K, init=init, n_init=1, max_iter=60, tol=1e-4, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(labels, sk.labels_)
    assert km.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(km.cluster_centers_, sk.cluster_centers_, rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(km.inertia_, sk.inertia_, rtol=1e-9)


def test_the_passes_after_the_first_skip_rows(data, caplog):
    X, init = data
    with caplog.at_level("DEBUG", logger="chunkml"):
        chunkml.KMeans(K, init=init, n_init=1, max_iter=60).fit(X)
    compared = [int(r.getMessage().split(", ")[-1].split(" of ")[0])
                for r in caplog.records if "compared with every center" in r.getMessage()]
    assert compared[0] == N
    assert min(compared[1:]) < N // 10, compared


def _counting(monkeypatch, calls):
    from chunkml.dask_glue import _dask_rows, _rows

    def counted(*args, _block=_rows.bounded_lloyd_block, **kwargs):
        calls.append(1)
        return _block(*args, **kwargs)

    for rows in (_rows, _dask_rows):
        monkeypatch.setattr(rows, "bounded_lloyd_block", counted)


def test_one_read_of_each_block_per_bounded_iteration(data, monkeypatch):
    """The state and the partial of a pass come from one call per block."""
    X, init = data
    calls = []
    _counting(monkeypatch, calls)
    with dask.config.set(scheduler="threads"):
        km = chunkml.KMeans(K, init=init, n_init=1, max_iter=4, tol=0).fit(
            da.from_array(X, chunks=(500, D)))
    assert km.n_iter_ == 4
    assert len(calls) == 6 * 4


def test_a_streamed_x_keeps_no_bounds(data, monkeypatch):
    """X read from its source on every pass (not persisted): memory stays bounded by a
    few blocks, so no per-row state is kept; the same fit as with bounds."""
    X, init = data
    calls = []
    _counting(monkeypatch, calls)
    lazy = da.from_array(X, chunks=(500, D)).map_blocks(lambda b: b + 0.0, dtype=X.dtype,
                                                         meta=np.empty((0, 0)))
    with dask.config.set({"scheduler": "threads", "chunkml.persist": False}):
        streamed = chunkml.KMeans(K, init=init, n_init=1, max_iter=8).fit(lazy)
    assert not calls
    held, _ = _fit(da.from_array(X, chunks=(500, D)), init, True, monkeypatch, max_iter=8)
    assert calls
    np.testing.assert_array_equal(streamed.cluster_centers_, held.cluster_centers_)
    assert streamed.n_iter_ == held.n_iter_


def test_no_bounds_without_room_for_them(data, monkeypatch):
    """Where the per-row state would take more than half of the memory left, the passes
    stay plain: the same fit."""
    import psutil

    from chunkml.dask_glue import _rows

    X, init = data
    calls = []
    _counting(monkeypatch, calls)
    tight = psutil.virtual_memory()._replace(available=N * 40)
    with monkeypatch.context() as m:
        m.setattr(_rows.psutil, "virtual_memory", lambda: tight)
        plain, labels = _fit(X, init, True, monkeypatch, max_iter=8)
    assert not calls
    bounded, bounded_labels = _fit(X, init, True, monkeypatch, max_iter=8)
    assert calls
    np.testing.assert_array_equal(labels, bounded_labels)
    np.testing.assert_array_equal(plain.cluster_centers_, bounded.cluster_centers_)
