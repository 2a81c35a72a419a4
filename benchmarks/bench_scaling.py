"""Scaling series: chunkml's fit time per row from 1M to 100M rows (full size).

The seed's data (make_blobs, 3 blobs in 2 features) at each n_samples of
``_workloads.SIZES[size].scaling`` in chunks of ``min(1_000_000, n_samples // 10)``, as
float64 and as float32, generated and persisted by the test itself; only one size is held
at a time, so 100M x 2 float64 (1.6 GB) is freed before the next one is made. chunkml
only: it needs no numpy copy. Groups:

- scaling: the seed fit (``KMeans(n_clusters=3, init_max_iter=2, oversampling_factor=10,
  random_state=0)``, k-means|| init).
- scaling-lloyd: a fit from the shared k-means++ starting centers with ``max_iter=5,
  tol=0``, so that every size runs about the same passes.

Each records n_samples, n_iter, the passes over X one fit makes (counted: every
k-means|| sampling, round and weighting pass, every Lloyd pass, the final inertia pass),
and, when timed, ns per row and ns per row and pass. Flat ns per row and pass across sizes
means the time grows linearly with the rows.
"""

import functools

import numpy as np
import pytest
from _impls import make_estimator
from _workloads import SIZES, SPECS, make_data, scaling_chunks, start_centers

from chunkml.dask_glue._dask_rows import DaskRows
from chunkml.dask_glue._rows import NumpyRows

DTYPES = ["float64", "float32"]
SERIES = ["scaling", "scaling-lloyd"]
# Lloyd iterations of each scaling-lloyd fit (tol=0: it stops early only on no change).
LLOYD_MAX_ITER = 5
# The methods of the rows (dask, or numpy for an X fitted in memory: dask_glue/persist.py)
# that read X once per call.
PASS_METHODS = ("sample", "mindist_round", "candidate_weights", "lloyd")


def pytest_generate_tests(metafunc):
    """Sizes from --bench-size; both series run on one dtype and size before the next."""
    if "n_samples" in metafunc.fixturenames:
        sizes = SIZES[metafunc.config.getoption("--bench-size")].scaling
        metafunc.parametrize(("dtype", "n_samples", "series"), [
            (dtype, n, series) for dtype in DTYPES for n in sizes for series in SERIES])


@pytest.fixture(scope="module")
def scaling_data():
    """``get(n_samples, dtype)``: the seed's data persisted; only the latest is kept."""
    held = {}

    def get(n_samples, dtype):
        if (n_samples, dtype) not in held:
            held.clear()  # free the previous size before making this one
            X = make_data(SPECS["seed"], n_samples, scaling_chunks(n_samples))
            held[n_samples, dtype] = X.astype(dtype).persist()
        return held[n_samples, dtype]

    yield get
    held.clear()


def count_passes(monkeypatch):
    """Count the calls of every rows method that reads X (for this test only). A small X
    is fitted as one numpy array (`persist.fit_in_memory`): its NumpyRows passes count,
    the final one included (`NumpyRows.final` makes it a Lloyd pass)."""
    calls = {"passes": 0}

    def counted(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            calls["passes"] += 1
            return method(*args, **kwargs)

        return wrapper

    for rows in (DaskRows, NumpyRows):
        for name in PASS_METHODS:
            monkeypatch.setattr(rows, name, counted(getattr(rows, name)))
    return calls


def test_scaling(benchmark, bench, scaling_data, monkeypatch, n_samples, dtype, series):
    spec = SPECS["seed"]
    X = scaling_data(n_samples, dtype)
    if series == "scaling":
        params = {}
    else:
        params = {"init": start_centers(X, spec.n_clusters), "max_iter": LLOYD_MAX_ITER,
                  "tol": 0.0}
    benchmark.group = series
    calls = count_passes(monkeypatch)
    fits = []

    def fit():
        fits.append(make_estimator("chunkml", spec, **params).fit(X))
        return fits[-1]

    km = bench.pedantic(benchmark, "chunkml", fit)
    passes = calls["passes"] / len(fits)
    benchmark.extra_info.update(n_samples=n_samples, chunks=scaling_chunks(n_samples),
                                dtype=dtype, n_iter=int(km.n_iter_), passes=passes)
    if benchmark.stats is not None:
        ns_per_row = benchmark.stats.stats.median / n_samples * 1e9
        benchmark.extra_info.update(ns_per_row=ns_per_row,
                                    ns_per_row_per_pass=ns_per_row / passes)
    assert np.isfinite(km.inertia_)
