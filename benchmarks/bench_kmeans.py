"""k-means: chunkml vs its peers on the same data, with the same threads.

Peers: scikit-learn, dask-ml, and, when installed, scikit-learn-intelex (``sklearnex``)
and faiss (``faiss-cpu``); see _impls.py for how each is called. Workloads (_workloads.py):
seed (make_blobs 3 blobs in 2 features, k=3) and highdim (16 blobs in 32 features, k=16).
Groups (each per workload size, see conftest.py):

- fit-seed, fit-highdim: a complete fit with each implementation's default init
  (chunkml and dask-ml: k-means||, with the seed's settings on seed; scikit-learn and
  -intelex: k-means++, n_init=1; faiss: random rows and FAISS_NITER iterations, since it
  has no convergence test).
- lloyd-iter, lloyd-iter-highdim: one Lloyd pass (assign + per-cluster sums) from the same
  k-means++ centers, next to the physical floor (``floor_flat``: one read of X's bytes by
  a numba prange flat sum over the persisted blocks) and dask's per-pass cost
  (``floor_dask``: ``X.sum()`` on the persisted dask array; ``floor_numpy``:
  ``np.add.reduce`` on numpy, one thread). Records how far each pass's centers are from
  an exact float64 pass.
- lloyd-iter float32, lloyd-iter-highdim float32: the same for chunkml and scikit-learn on
  float32 copies of the data (half the bytes per pass), with their floors.
- lloyd-fit1: a whole fit from the same explicit centers with ``max_iter=1``, i.e. one
  Lloyd iteration plus each estimator's fixed costs (checks, tolerance, final labels).
- predict: labels of X from an already fitted model, computed.
- kmeans||-init: a fit with ``max_iter=1``, so mostly the k-means|| initialisation.

Run: ``python -m pytest benchmarks/ --benchmark-only [--bench-size=full]
--benchmark-json=FILE`` then ``python benchmarks/report.py FILE``.
"""

import numpy as np
import pytest
from _impls import lloyd_pass, make_estimator, record_fit
from _workloads import relative_difference, runs_on_numpy

ESTIMATORS = ["chunkml", "sklearn", "sklearnex", "faiss", "dask_ml"]
FLOORS = ["floor_flat", "floor_dask", "floor_numpy"]
# Workload -> (full-fit group, Lloyd-pass group).
GROUPS = {"seed": ("fit-seed", "lloyd-iter"), "highdim": ("fit-highdim", "lloyd-iter-highdim")}
# Implementations timed per pass, by dtype of X.
PASS_IMPLS = {"float64": ESTIMATORS + FLOORS, "float32": ["chunkml", "sklearn"] + FLOORS}


@pytest.mark.parametrize("impl", ESTIMATORS)
@pytest.mark.parametrize("name", GROUPS)
def test_fit(benchmark, bench, workloads, name, impl):
    workload = workloads(name)
    X = bench.start(benchmark, GROUPS[name][0], impl, workload)
    km = bench.pedantic(benchmark, impl, lambda: make_estimator(impl, workload.spec).fit(X))
    record_fit(benchmark, km, workload)


# -- lloyd-iter: one pass -------------------------------------------------------------------

@pytest.mark.parametrize(("name", "dtype", "impl"), [
    (name, dtype, impl) for name in GROUPS for dtype, impls in PASS_IMPLS.items()
    for impl in impls])
def test_lloyd_iter(benchmark, bench, workloads, name, dtype, impl):
    workload = workloads(name, dtype)
    one_pass, what = lloyd_pass(impl, workload, bench.threads)
    op = GROUPS[name][1] + ("" if dtype == "float64" else f" {dtype}")
    benchmark.group = bench.group(op, workload)
    centers = bench.pedantic(benchmark, impl, one_pass)
    benchmark.extra_info.update(what=what, dtype=dtype,
                                bytes=int(workload.data_for(impl).nbytes))
    if not impl.startswith("floor_"):
        # Against an exact float64 pass on the float64 data: what float32 X (or faiss's
        # float32 copy) costs in accuracy shows here.
        benchmark.extra_info["centers_rel_diff"] = relative_difference(
            centers, workload.reference_centers)


@pytest.mark.parametrize("impl", ESTIMATORS)
def test_lloyd_fit1(benchmark, bench, workloads, impl):
    workload = workloads("seed")
    X = bench.start(benchmark, "lloyd-fit1", impl, workload)
    centers = workload.start_centers

    def fit():
        return make_estimator(impl, workload.spec, init=centers, max_iter=1).fit(X)

    record_fit(benchmark, bench.pedantic(benchmark, impl, fit), workload)


# -- predict --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(bench, workloads):
    """One seed-workload model per implementation, fitted once, outside any timing."""
    workload = workloads("seed")
    cache = {}

    def get(impl):
        if impl not in cache:
            with bench.limits(impl):
                cache[impl] = make_estimator(impl, workload.spec).fit(
                    workload.data_for(impl))
        return cache[impl]

    return get


@pytest.mark.parametrize("impl", ESTIMATORS)
def test_predict(benchmark, bench, workloads, fitted, impl):
    workload = workloads("seed")
    X = bench.start(benchmark, "predict", impl, workload)
    km = fitted(impl)

    def predict():
        labels = km.predict(X)
        return labels if runs_on_numpy(impl) else labels.compute()

    labels = bench.pedantic(benchmark, impl, predict)
    assert labels.shape == (workload.n_samples,)
    benchmark.extra_info["n_labels"] = int(np.unique(labels).size)


# -- kmeans||-init --------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["chunkml", "dask_ml"])
def test_kmeans_parallel_init(benchmark, bench, workloads, impl):
    workload = workloads("seed")
    X = bench.start(benchmark, "kmeans||-init", impl, workload)
    km = bench.pedantic(benchmark, impl,
                        lambda: make_estimator(impl, workload.spec, max_iter=1).fit(X))
    record_fit(benchmark, km, workload)
