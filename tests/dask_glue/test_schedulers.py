"""The same fit on dask's sync and threaded schedulers and on a distributed LocalCluster."""

import dask
import dask.array
import numpy as np
import pytest
from distributed import Client

import chunkml


@pytest.fixture(scope="module")
def client(process_cluster):
    with Client(process_cluster) as client:
        yield client


def _fit(X, init):
    return chunkml.KMeans(4, init=init, random_state=5, init_max_iter=3).fit(X)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_same_centers_on_every_scheduler(client, init):
    X, _ = chunkml.datasets.make_blobs(n_samples=20_000, n_features=3, centers=4,
                                       chunks=3_000, random_state=0)
    results = {}
    for scheduler in ("sync", "threads"):
        with dask.config.set(scheduler=scheduler):
            results[scheduler] = _fit(X, init)
    with dask.config.set(scheduler=client):
        results["distributed"] = _fit(X, init)
        labels = results["distributed"].labels_.compute()
    ref = results["sync"]
    for name, km in results.items():
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9,
                                   err_msg=name)
        np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9, err_msg=name)
        assert km.n_iter_ == ref.n_iter_
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(labels, ref.labels_.compute())


def test_distributed_client_as_default_scheduler(client):
    # A Client made default (the usual `client = Client(...)`) is picked up as is.
    X, _ = chunkml.datasets.make_blobs(n_samples=5_000, centers=3, chunks=1_000,
                                       random_state=1)
    with client.as_current():
        km = chunkml.KMeans(3, random_state=0).fit(X.persist())
        score = km.score(X)
    with dask.config.set(scheduler="sync"):
        ref = chunkml.KMeans(3, random_state=0).fit(X)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(-score, ref.inertia_, rtol=1e-9)


@pytest.mark.parametrize("params", [{"metric": "cosine"}, {"sample_size": 4_000},
                                    {"metric": "cosine", "sample_size": 0.3}])
def test_cosine_and_sample_fits_on_every_scheduler(client, params):
    X, _ = chunkml.datasets.make_blobs(n_samples=20_000, n_features=3, centers=4,
                                       chunks=3_000, random_state=0)
    results = {}
    for scheduler in ("sync", "threads", client):
        with dask.config.set(scheduler=scheduler):
            km = chunkml.KMeans(4, random_state=5, **params).fit(X)
            results[str(scheduler)] = (km, km.labels_.compute())
    ref, ref_labels = results["sync"]
    for name, (km, labels) in results.items():
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9,
                                   err_msg=name)
        np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9, err_msg=name)
        np.testing.assert_array_equal(labels, ref_labels)


def test_zero_row_error_from_a_worker(client):
    X, _ = chunkml.datasets.make_blobs(n_samples=6_000, n_features=3, centers=4,
                                       chunks=1_000, random_state=0)
    zero = np.ones((6_000, 1))
    zero[2_007] = 0.0
    X = X * dask.array.from_array(zero, chunks=(1_000, 1))  # row 2007 becomes zero
    km = chunkml.KMeans(4, metric="cosine", random_state=0)
    with dask.config.set(scheduler=client), pytest.raises(ValueError,
                                                          match=r"zero row \(row 2007\)"):
        km.fit(X)
    assert not hasattr(km, "cluster_centers_")
