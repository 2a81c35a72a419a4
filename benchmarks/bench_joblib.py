"""joblib-*: scikit-learn searches on a dask cluster through joblib: loky, dask, chunkml.

Three searches (``GridSearchCV(..., cv=3)``), each timed with the joblib backends
``loky`` (local processes, joblib's own per-process thread limits), ``dask`` (joblib's
dask backend) and ``chunkml`` (chunkml's backend: n_jobs cap, per-task thread budget),
under two clusters of 4 task slots:

- inprocess: the seed's ``Client(processes=False, n_workers=1, threads_per_worker=4)``,
  where no nanny sets OMP_NUM_THREADS=1: under ``dask`` every task runs its BLAS, OpenMP
  and numba threads at full width inside dask's 4 threads;
- processes: a ``LocalCluster`` of 2 worker processes x 2 threads (the nanny limits
  BLAS/OpenMP to 1 thread per process, not numba).

loky gets ``n_jobs=4``, the same 4 slots, in both groups (it does not use the cluster).
The searches:

- svc: the seed's ``GridSearchCV(SVC(gamma="auto", random_state=0, probability=True))``
  over its 48 candidates (C x kernel x shrinking) on
  ``make_classification(n_samples=1000, random_state=0)``; libsvm is single-threaded.
- kmeans: ``chunkml.KMeans(init="k-means++", n_init=4)`` over n_clusters on numpy blobs:
  each fit runs chunkml's in-memory numba-parallel kernels.
- hgb: ``HistGradientBoostingClassifier`` over learning_rate x max_leaf_nodes: OpenMP.

The search's estimator n_jobs is None and the backend gets ``n_jobs=4``; X and y are
scattered once per backend block (``scatter=[X, y]``), outside the timed calls, as a
user who runs several searches on the same data would. Every backend must find the same
``cv_results_`` mean test scores as the first one timed on the same data (checked), which
are recorded with the best score. Sizes: tiny (smoke: small grids and data), small and
full (the issue's workloads; full has larger kmeans and hgb data).
"""

import warnings
from dataclasses import dataclass

import dask
import joblib
import numpy as np
import pytest
import sklearn.datasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

import chunkml

SLOTS = 4  # the seed's threads_per_worker=4
IMPLS = ("loky", "dask", "chunkml")
CLUSTERS = ("inprocess", "processes")
SEED_GRID = {"C": [0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0],
             "kernel": ["rbf", "poly", "sigmoid"], "shrinking": [True, False]}


@dataclass(frozen=True)
class Search:
    """One search: its estimator, grid and data (numpy)."""

    name: str
    estimator: object
    grid: dict
    X: np.ndarray
    y: np.ndarray = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    def make(self):
        return GridSearchCV(self.estimator, self.grid, cv=3, n_jobs=None)


def _svc(size):
    n_samples = 300 if size == "tiny" else 1000
    grid = {"C": [0.1, 1.0], "kernel": ["rbf", "sigmoid"]} if size == "tiny" else SEED_GRID
    X, y = sklearn.datasets.make_classification(n_samples=n_samples, random_state=0)
    return Search("svc", SVC(gamma="auto", random_state=0, probability=True), grid, X, y)


def _kmeans(size):
    n_samples = {"tiny": 4_000, "small": 100_000, "full": 400_000}[size]
    X, _ = sklearn.datasets.make_blobs(n_samples=n_samples, n_features=8, centers=8,
                                       random_state=0)
    grid = {"n_clusters": [4, 8] if size == "tiny" else [4, 8, 12, 16]}
    km = chunkml.KMeans(init="k-means++", n_init=4, random_state=0)
    return Search("kmeans", km, grid, X)


def _hgb(size):
    n_samples = {"tiny": 1_000, "small": 20_000, "full": 100_000}[size]
    X, y = sklearn.datasets.make_classification(n_samples=n_samples, n_features=20,
                                                n_informative=10, random_state=0)
    if size == "tiny":
        grid = {"learning_rate": [0.1], "max_iter": [10]}
    else:
        grid = {"learning_rate": [0.05, 0.1, 0.3], "max_leaf_nodes": [15, 31]}
    hgb = HistGradientBoostingClassifier(early_stopping=False, random_state=0)
    return Search("hgb", hgb, grid, X, y)


SEARCHES = {"svc": _svc, "kmeans": _kmeans, "hgb": _hgb}


@pytest.fixture(scope="module")
def searches(bench):
    made = {}

    def get(name):
        if name not in made:
            made[name] = SEARCHES[name](bench.size)
        return made[name]

    return get


@pytest.fixture(scope="module", params=CLUSTERS)
def cluster(request):
    """(name, distributed.Client) of one of the two clusters, for this module only."""
    distributed = pytest.importorskip("distributed")
    name = request.param
    common = {"dashboard_address": None, "memory_limit": "2GB"}
    if name == "inprocess":
        with distributed.Client(processes=False, n_workers=1, threads_per_worker=SLOTS,
                                set_as_default=False, **common) as client:
            yield name, client
    else:
        # A nanny sends dask's config to its worker process: not the session's thread pool
        # (conftest's threaded scheduler), which cannot be pickled.
        with dask.config.set(pool=None):
            lc = distributed.LocalCluster(n_workers=2, threads_per_worker=SLOTS // 2,
                                          processes=True, host="127.0.0.1", **common)
        with lc, distributed.Client(lc, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
            yield name, client


def _backend(impl, client, search):
    data = [search.X] if search.y is None else [search.X, search.y]
    if impl == "loky":
        return joblib.parallel_backend("loky", n_jobs=SLOTS)
    return joblib.parallel_backend(impl, n_jobs=SLOTS, client=client, scatter=data)


WHAT = {"loky": f"{SLOTS} local loky processes, not the cluster",
        "dask": "joblib's dask backend on the cluster",
        "chunkml": "chunkml's backend on the cluster"}

# The first mean test scores of each search in this session: every backend must match.
_SCORES = {}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(SEARCHES))
def test_joblib_search(benchmark, bench, searches, cluster, name, impl):
    cluster_name, client = cluster
    search = searches(name)
    benchmark.group = f"joblib-{name} {cluster_name} n_samples={search.n_samples}"
    fitted = []

    def fit():
        with warnings.catch_warnings():
            # scikit-learn 1.9 deprecates SVC(probability=True); the seed uses it.
            warnings.filterwarnings("ignore", "The `probability` parameter",
                                    FutureWarning)
            fitted.append(search.make().fit(search.X, search.y))

    with _backend(impl, client, search):
        benchmark.pedantic(fit, rounds=bench.rounds, iterations=1,
                           warmup_rounds=bench.warmup_rounds)
    result = fitted[-1]
    scores = result.cv_results_["mean_test_score"]
    first = _SCORES.setdefault(name, (impl, cluster_name, scores))
    np.testing.assert_allclose(scores, first[2], rtol=1e-12,
                               err_msg=f"{impl} {cluster_name} vs {first[:2]}")
    benchmark.extra_info.update({
        "best_score": float(result.best_score_),
        "candidates": len(scores),
        "fits": len(scores) * result.n_splits_,
        "what": WHAT[impl],
    })
