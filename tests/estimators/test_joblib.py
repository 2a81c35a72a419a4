"""scikit-learn's and chunkml's in-memory parallel work on a cluster through joblib's dask backend."""

import joblib
import numpy as np
import pytest
from distributed import Client, get_task_stream
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

import chunkml


@pytest.fixture(scope="module")
def client(process_cluster):
    with Client(process_cluster) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def _calls_on_workers(task_stream, client, func_name):
    """How many calls of `func_name` the joblib batches in `task_stream` ran.

    joblib's dask backend names each task "batch_of_<func>_<n>_calls-<uuid>"; every such
    task must have run on one of the cluster's workers.
    """
    workers = set(client.scheduler_info()["workers"])
    tasks = [t for t in task_stream.data if f"_{func_name}_" in str(t["key"])]
    assert tasks, [t["key"] for t in task_stream.data]
    assert {t["worker"] for t in tasks} <= workers
    return sum(int(t["key"].split("_calls")[0].rsplit("_", 1)[1]) for t in tasks)


def _grid():
    return GridSearchCV(SVC(gamma="auto", random_state=0, probability=True),
                        {"C": [0.1, 1.0], "kernel": ["rbf", "sigmoid"],
                         "shrinking": [True, False]},
                        cv=3, n_jobs=-1)


# The workload as given; scikit-learn 1.9 deprecates SVC(probability=True).
@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
def test_grid_search_runs_on_the_workers(client, monkeypatch):
    X, y = make_classification(n_samples=1000, random_state=0)
    ref = _grid().fit(X, y)

    grid = _grid()
    # scatter: X and y go to every worker once, before any task; the tasks then refer to
    # them instead of carrying (or scattering) a copy each.
    with joblib.parallel_backend("dask", scatter=[X, y]):
        backend, _ = joblib.parallel.get_active_backend()
        assert backend.client is client
        scattered = [backend.data_futures[id(a)] for a in (X, y)]
        assert all(len(w) == 2 for w in client.who_has(scattered).values())
        sent_again = []
        scatter = client.scatter

        def recording_scatter(data, *args, **kwargs):
            sent_again.extend(a for a in (X, y) if data is a)
            return scatter(data, *args, **kwargs)

        monkeypatch.setattr(client, "scatter", recording_scatter)
        with get_task_stream(client) as ts:
            grid.fit(X, y)
        monkeypatch.undo()
    assert not sent_again

    # Every (candidate, fold) fit ran on a worker.
    assert _calls_on_workers(ts, client, "_fit_and_score") == 8 * 3

    assert grid.best_params_ == ref.best_params_
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(grid.cv_results_[key], ref.cv_results_[key])
    assert grid.cv_results_["params"] == ref.cv_results_["params"]


def test_kmeans_n_init_runs_on_the_workers(client):
    X, _ = make_classification(n_samples=3000, n_features=5, random_state=0)
    ref = chunkml.KMeans(4, n_init=4, random_state=0).fit(X)

    with joblib.parallel_backend("dask"), get_task_stream(client) as ts:
        km = chunkml.KMeans(4, n_init=4, random_state=0).fit(X)

    assert _calls_on_workers(ts, client, "fit_kmeans") == 4
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9)
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(km.labels_, ref.labels_)


def test_kmeans_n_init_does_not_depend_on_the_backend():
    # The runs' seeds are drawn up front: threads, in any order, give the same model.
    X, _ = make_classification(n_samples=2000, n_features=4, random_state=1)
    ref = chunkml.KMeans(3, n_init=5, init="random", random_state=2).fit(X)
    with joblib.parallel_backend("threading", n_jobs=2):
        km = chunkml.KMeans(3, n_init=5, init="random", random_state=2).fit(X)
    np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)
    assert km.inertia_ == ref.inertia_ and km.n_iter_ == ref.n_iter_
    # n_init picks the best of the runs: never worse than the first run alone.
    first = chunkml.KMeans(3, n_init=1, init="random", random_state=2).fit(X)
    assert ref.inertia_ <= first.inertia_ * (1 + 1e-12)
