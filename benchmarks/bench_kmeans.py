"""k-means: chunkml vs scikit-learn vs dask-ml on the same data, with the same threads.

Groups (each per size, see conftest.py):

- fit-seed: the reference workflow, a complete fit with k-means|| init (sklearn: k-means++).
- lloyd-iter: one Lloyd pass (assign + per-cluster sums) from the same centers, next to
  the floor, one plain read of X (``X.sum()`` on the persisted dask array,
  ``np.add.reduce`` on numpy).
- lloyd-fit1: a whole fit from the same explicit centers with ``max_iter=1``, i.e. one
  Lloyd iteration plus each estimator's fixed costs (checks, tolerance, final labels).
- predict: labels of X from an already fitted model, computed.
- kmeans||-init: a fit with ``max_iter=1``, so mostly the k-means|| initialisation.

Run: ``python -m pytest benchmarks/ --benchmark-only [--bench-size=full]
--benchmark-json=FILE`` then ``python benchmarks/report.py FILE``.
"""

import numpy as np
import pytest
import sklearn.cluster

import chunkml
from chunkml.dask_glue._rows import DaskRows

IMPLS = ["chunkml", "sklearn", "dask_ml"]
N_CLUSTERS = 3
# The seed workload's k-means|| settings, passed unchanged to chunkml and dask-ml (where
# oversampling_factor is an absolute count of expected draws per round, not a multiple of
# n_clusters, so dask-ml draws fewer candidates per round from the same number).
SEED_PARAMS = {"init_max_iter": 2, "oversampling_factor": 10, "random_state": 0}


def _dask_ml_cluster():
    return pytest.importorskip("dask_ml.cluster")


def make_estimator(impl, **params):
    """The seed workload's estimator for `impl`; `params` override it."""
    if impl == "chunkml":
        return chunkml.KMeans(n_clusters=N_CLUSTERS, **{**SEED_PARAMS, **params})
    if impl == "dask_ml":
        return _dask_ml_cluster().KMeans(n_clusters=N_CLUSTERS, **{**SEED_PARAMS, **params})
    if impl == "sklearn":
        return sklearn.cluster.KMeans(n_clusters=N_CLUSTERS, n_init=1, random_state=0,
                                      **params)
    raise ValueError(impl)


def reference_inertia(Xnp, centers, block=1_000_000):
    """Sum of squared distances to the nearest center, in plain numpy (float64)."""
    centers = np.asarray(centers, dtype=np.float64)
    total = 0.0
    for start in range(0, Xnp.shape[0], block):
        part = Xnp[start:start + block]
        d2 = ((part[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        total += float(d2.min(axis=1).sum())
    return total


def record_fit(benchmark, km, blobs):
    """n_iter_ and inertia_ as reported, and the inertia recomputed the same way for all.

    dask-ml 2025.1 reports the sum of (unsquared) distances as inertia_ when its last
    iteration moved the centers, so `inertia_check` is the number to compare.
    """
    benchmark.extra_info["n_iter"] = int(km.n_iter_)
    benchmark.extra_info["inertia"] = float(km.inertia_)
    benchmark.extra_info["inertia_check"] = reference_inertia(blobs.Xnp,
                                                              km.cluster_centers_)
    benchmark.extra_info["centers"] = np.asarray(km.cluster_centers_, dtype=float).tolist()


def start_centers(blobs):
    """The same starting centers for every implementation: the first n_clusters rows."""
    return np.ascontiguousarray(blobs.Xnp[:N_CLUSTERS], dtype=np.float64)


@pytest.mark.parametrize("impl", IMPLS)
def test_fit_seed(benchmark, bench, blobs, impl):
    make_estimator(impl)
    benchmark.group = bench.group("fit-seed")
    X = blobs.data_for(impl)

    def fit():
        with bench.limits(impl):
            return make_estimator(impl).fit(X)

    record_fit(benchmark, bench.pedantic(benchmark, fit), blobs)


# -- lloyd-iter: one pass -------------------------------------------------------------------

def _chunkml_pass(blobs, centers):
    rows = DaskRows(blobs.X)
    return lambda: rows.lloyd(centers, n_far=N_CLUSTERS, with_moments=False)


def _sklearn_pass(blobs, centers, threads):
    """The pass that sklearn.cluster.KMeans's Lloyd loop runs once per iteration."""
    lloyd = pytest.importorskip("sklearn.cluster._k_means_lloyd")
    Xnp = blobs.Xnp
    n_samples = Xnp.shape[0]
    sample_weight = np.ones(n_samples, dtype=Xnp.dtype)
    centers_new = np.zeros_like(centers)
    weight_in_clusters = np.zeros(N_CLUSTERS, dtype=Xnp.dtype)
    labels = np.full(n_samples, -1, dtype=np.int32)
    center_shift = np.zeros(N_CLUSTERS, dtype=Xnp.dtype)

    def one_pass():
        lloyd.lloyd_iter_chunked_dense(Xnp, sample_weight, centers, centers_new,
                                       weight_in_clusters, labels, center_shift, threads)
        return centers_new

    return one_pass


def _dask_ml_pass(blobs, centers):
    """The body of dask-ml 2025.1's Lloyd loop (``_kmeans_single_lloyd``), one iteration."""
    import dask
    import dask.array as da

    k_means = pytest.importorskip("dask_ml.cluster.k_means")
    from dask_ml.metrics import pairwise_distances_argmin_min

    X = blobs.X
    n_features = X.shape[1]

    def one_pass():
        labels, _ = pairwise_distances_argmin_min(
            X, centers, metric="euclidean", metric_kwargs={"squared": True})
        labels = labels.astype(np.int32)
        r = da.blockwise(k_means._centers_dense, "ij", X, "ij", labels, "i", N_CLUSTERS,
                         None, "i", adjust_chunks={"i": N_CLUSTERS, "j": n_features},
                         dtype=X.dtype)
        sums = da.from_delayed(sum(r.to_delayed().flatten()), (N_CLUSTERS, n_features),
                               X.dtype)
        counts = da.maximum(da.bincount(labels, minlength=N_CLUSTERS), 1)
        (new_centers,) = dask.compute(sums / counts[:, None])
        return new_centers

    return one_pass


@pytest.mark.parametrize("impl", IMPLS)
def test_lloyd_iter(benchmark, bench, blobs, impl):
    benchmark.group = bench.group("lloyd-iter")
    centers = start_centers(blobs)
    if impl == "chunkml":
        one_pass = _chunkml_pass(blobs, centers)
        what = "chunkml.dask_glue._rows.DaskRows.lloyd (n_far=3, no moments)"
    elif impl == "sklearn":
        one_pass = _sklearn_pass(blobs, centers, bench.threads)
        what = "sklearn.cluster._k_means_lloyd.lloyd_iter_chunked_dense"
    else:
        one_pass = _dask_ml_pass(blobs, centers)
        what = "dask_ml _kmeans_single_lloyd loop body"

    def run():
        with bench.limits(impl):
            return one_pass()

    bench.pedantic(benchmark, run)
    benchmark.extra_info["what"] = what
    benchmark.extra_info["bytes"] = int(blobs.Xnp.nbytes)


@pytest.mark.parametrize("impl", ["floor_dask", "floor_numpy"])
def test_read_floor(benchmark, bench, blobs, impl):
    """One read of X and nothing else: the least any pass over X can cost."""
    benchmark.group = bench.group("lloyd-iter")
    if impl == "floor_dask":
        X = blobs.X
        read = lambda: X.sum().compute()  # noqa: E731
        what = "X.sum().compute() on the persisted dask array"
    else:
        flat = blobs.Xnp.reshape(-1)
        read = lambda: np.add.reduce(flat)  # noqa: E731
        what = "np.add.reduce on the numpy copy (one thread)"

    def run():
        with bench.limits(impl):
            return read()

    bench.pedantic(benchmark, run)
    benchmark.extra_info["what"] = what
    benchmark.extra_info["bytes"] = int(blobs.Xnp.nbytes)


@pytest.mark.parametrize("impl", IMPLS)
def test_lloyd_fit1(benchmark, bench, blobs, impl):
    make_estimator(impl)
    benchmark.group = bench.group("lloyd-fit1")
    X = blobs.data_for(impl)
    centers = start_centers(blobs)

    def fit():
        with bench.limits(impl):
            return make_estimator(impl, init=centers, max_iter=1).fit(X)

    record_fit(benchmark, bench.pedantic(benchmark, fit), blobs)


# -- predict --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(bench, blobs):
    """One seed-workload model per implementation, fitted once, outside any timing."""
    cache = {}

    def get(impl):
        if impl not in cache:
            with bench.limits(impl):
                cache[impl] = make_estimator(impl).fit(blobs.data_for(impl))
        return cache[impl]

    return get


@pytest.mark.parametrize("impl", IMPLS)
def test_predict(benchmark, bench, blobs, fitted, impl):
    make_estimator(impl)
    benchmark.group = bench.group("predict")
    km = fitted(impl)
    X = blobs.data_for(impl)

    def predict():
        with bench.limits(impl):
            labels = km.predict(X)
            return labels if impl == "sklearn" else labels.compute()

    labels = bench.pedantic(benchmark, predict)
    assert labels.shape == (blobs.Xnp.shape[0],)
    benchmark.extra_info["n_labels"] = int(np.unique(labels).size)


# -- kmeans||-init --------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["chunkml", "dask_ml"])
def test_kmeans_parallel_init(benchmark, bench, blobs, impl):
    make_estimator(impl)
    benchmark.group = bench.group("kmeans||-init")
    X = blobs.X

    def fit():
        with bench.limits(impl):
            return make_estimator(impl, max_iter=1).fit(X)

    record_fit(benchmark, bench.pedantic(benchmark, fit), blobs)
