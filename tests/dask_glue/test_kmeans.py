"""dask_glue/kmeans.py: KMeans's n_init runs (fit_kmeans_runs), and one preparation of
the input per fit."""

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import make_blobs

import chunkml
from chunkml.dask_glue import _input, kmeans
from chunkml.dask_glue.kmeans import KMeansResult, fit_kmeans_runs

RUN_PARAMS = dict(oversampling_factor=2, init_max_iter=None, max_iter=50, tol=1e-4)


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=600, n_features=3, centers=4, random_state=0)
    return X


def _fake_runs(monkeypatch, inertias):
    """fit_kmeans replaced by runs of the given inertias, recording what each got."""
    calls = []

    def fit_kmeans(X, sample_weight, n_clusters, **kwargs):
        calls.append(kwargs)
        run = len(calls) - 1
        return KMeansResult(centers=np.full((n_clusters, X.shape[1]), float(run)),
                            inertia=inertias[run], n_iter=run, labels=f"run {run}",
                            n_distinct=n_clusters)

    monkeypatch.setattr(kmeans, "fit_kmeans", fit_kmeans)
    return calls


@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_best_run_wins_and_ties_go_to_the_earlier(blobs, monkeypatch, container):
    X = blobs if container == "numpy" else da.from_array(blobs, chunks=200)
    calls = _fake_runs(monkeypatch, [3.0, 1.0, 2.0, 1.0])
    with dask.config.set({"chunkml.persist": False}):
        best = fit_kmeans_runs(X, None, 2, init="random", n_init=4,
                               random_state=np.random.RandomState(0), **RUN_PARAMS)
    assert len(calls) == 4
    assert best.n_iter == 1 and best.labels == "run 1"


def test_seeds_are_drawn_up_front_and_a_callable_is_called_before_any_run(blobs,
                                                                         monkeypatch):
    calls = _fake_runs(monkeypatch, [1.0, 1.0, 1.0])
    seen = []

    def init(X, n_clusters, random_state):
        assert not calls, "a run started before every init was made"
        seen.append(random_state.randint(1 << 30))
        return X[:n_clusters]

    fit_kmeans_runs(blobs, None, 3, init=init, n_init=3,
                    random_state=np.random.RandomState(5), **RUN_PARAMS)
    seeds = np.random.RandomState(5).randint(np.iinfo(np.int32).max, size=3)
    # Each run's callable and its own RandomState come from that run's seed.
    assert seen == [np.random.RandomState(s).randint(1 << 30) for s in seeds]
    for call, seed in zip(calls, seeds):
        assert call["random_state"].randint(1 << 30) == \
            np.random.RandomState(seed).randint(1 << 30)
        np.testing.assert_array_equal(call["init"], blobs[:3])


def _count_prepare(monkeypatch):
    counted = {"calls": 0}
    real = _input.prepare_dask

    def prepare_dask(*args, **kwargs):
        counted["calls"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(_input, "prepare_dask", prepare_dask)
    return counted


@pytest.mark.parametrize("persist", [True, False], ids=["persisted", "streamed"])
def test_kmeans_fit_prepares_X_once(blobs, monkeypatch, persist):
    # Two column blocks and numpy weights: preparing rechunks X and splits the weights.
    # A lazy X (not from_array alone), so that persisting it persists something.
    X = da.from_array(blobs, chunks=(200, 2)) * 1.0
    weight = np.random.RandomState(0).uniform(0.5, 2.0, blobs.shape[0])
    counted = _count_prepare(monkeypatch)
    with dask.config.set({"chunkml.persist": persist}):
        km = chunkml.KMeans(4, n_init=2, random_state=0).fit(X, sample_weight=weight)
    assert counted["calls"] == 1
    ref = chunkml.KMeans(4, n_init=2, random_state=0).fit(blobs, sample_weight=weight)
    np.testing.assert_array_equal(km.labels_.compute(), ref.labels_)


def test_minibatch_fit_prepares_X_once(blobs, monkeypatch):
    X = da.from_array(blobs, chunks=(200, 2))
    weight = np.random.RandomState(0).uniform(0.5, 2.0, blobs.shape[0])
    counted = _count_prepare(monkeypatch)
    km = chunkml.MiniBatchKMeans(4, batch_size=100, random_state=0).fit(
        X, sample_weight=weight)
    assert counted["calls"] == 1
    assert km.labels_.compute().shape == (blobs.shape[0],)
    np.testing.assert_allclose(km.inertia_, -km.score(blobs, sample_weight=weight),
                               rtol=1e-10)
