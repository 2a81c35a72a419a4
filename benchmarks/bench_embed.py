"""Embedding-scale k-means (issue 14): float32, high dimension, many clusters.

Workloads (``Sizes.embed`` in _workloads.py, per ``--bench-size``; at full issue 14's:
200_000 x 128 with k=256 and k=1024, 100_000 x 768 with k=1024): make_blobs with 64
blobs (``chunkml.datasets.make_blobs(random_state=0)``) cast to float32, persisted as a
dask array in blocks and copied to numpy once. Every implementation starts from the same
k random rows of X (numpy's default_rng(0)), with the same threads (see _impls.py).

Groups:

- ``embed-iter NxD k=K``: one Lloyd iteration from those rows: chunkml on the dask array
  (``chunkml``) and on numpy (``chunkml_numpy``), scikit-learn's chunked Lloyd,
  scikit-learn-intelex (oneDAL), faiss (all rows), and the float32 GEMM-rate floor
  ``floor_gemm``: the sgemm of X by the centers, the fastest of numpy's and scipy's
  BLAS, a few row tilings (GEMM_FLOOR_TILES) and both orientations, into preallocated
  outputs, in the same run. Each result records
  ``flops`` = 2 n d k (the distance product) and how far its centers are from an exact
  float64 pass; report.py prints GFLOP/s and the share of the GEMM rate.
- ``embed-fit NxD k=K``: a default fit (chunkml: k-means||; scikit-learn and -intelex:
  greedy k-means++, n_init=1; faiss: FAISS_NITER iterations from random rows, all rows),
  plus ``chunkml_sample``: chunkml with ``sample_size=256 * k`` (faiss's default
  max_points_per_centroid) where that is fewer rows than X has; inertia recomputed on
  all of X for every result. Each fit is timed once (``rounds=1``) after an untimed
  small fit that compiles (or loads) the kernels it uses: full-size default fits at
  k=1024 take minutes each.

Run: ``python -m pytest benchmarks/bench_embed.py --benchmark-only --bench-size=full
--benchmark-json=embed.json`` then ``python benchmarks/report.py embed.json``.
"""

import time

import numpy as np
import pytest
from sklearn.base import clone
from _impls import FAISS_NITER, FaissKMeans, lloyd_pass, make_estimator
from _workloads import (
    Spec,
    Workload,
    reference_inertia,
    reference_pass,
    relative_difference,
)

import chunkml

ITER_IMPLS = ["chunkml", "chunkml_numpy", "sklearn", "sklearnex", "faiss", "floor_gemm"]
FIT_IMPLS = ["chunkml", "chunkml_numpy", "chunkml_sample", "sklearn", "sklearnex", "faiss"]
# Rows of X per sgemm of the GEMM floor, tried in turn (the fastest is timed): chunkml's
# and scikit-learn's tile (256), and outputs of up to 64 MiB (16,384 rows at k=1024).
GEMM_FLOOR_TILES = (256, 2048, 16_384)
# faiss's default max_points_per_centroid: the sample_size of chunkml_sample, per center.
SAMPLE_ROWS_PER_CENTER = 256
N_BLOBS = 64
# Indices into Sizes.embed (a size with fewer workloads skips the rest).
CASES = [0, 1, 2]


def _name(n_samples, n_features, n_clusters):
    return f"{n_samples}x{n_features} k={n_clusters}"


@pytest.fixture(scope="module")
def embed_workloads(bench, scheduler):
    """``get(i)``: the i-th embed workload of this size, as a `Workload` (generated once;
    workloads of the same data share it)."""
    data, made = {}, {}

    def get(i):
        if i in made:
            return made[i]
        n_samples, n_features, n_clusters, chunks = bench.sizes.embed[i]
        if (n_samples, n_features) not in data:
            X, _ = chunkml.datasets.make_blobs(n_samples=n_samples, n_features=n_features,
                                               centers=N_BLOBS, chunks=chunks,
                                               random_state=0)
            X = X.astype(np.float32).persist()
            data[n_samples, n_features] = (X, X.compute())
        X, Xnp = data[n_samples, n_features]
        rows = np.sort(np.random.default_rng(0).choice(n_samples, n_clusters,
                                                       replace=False))
        centers = np.ascontiguousarray(Xnp[rows], dtype=np.float64)
        made[i] = Workload(_name(n_samples, n_features, n_clusters),
                           Spec(n_clusters, n_features), X, Xnp, centers,
                           reference_pass(Xnp, centers))
        return made[i]

    return get


def _workload_or_skip(bench, embed_workloads, i):
    if i >= len(bench.sizes.embed):
        pytest.skip(f"--bench-size={bench.size} has {len(bench.sizes.embed)} embed "
                    "workloads")
    return embed_workloads(i)


def _gemm_products(X, centers, tile_rows, transposed, lib):
    """A run of float32 products of X, `tile_rows` rows at a time, with the centers: tile @
    centers.T, or centers @ tile.T when `transposed`; by numpy's matmul or by scipy's
    sgemm (`lib`: the BLAS that numba's np.dot and scikit-learn call), into preallocated
    outputs."""
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    rows = min(tile_rows, X.shape[0])
    if lib == "scipy":
        from scipy.linalg.blas import sgemm

        # Fortran-ordered operands and outputs: f2py passes them without a copy.
        shape = (centers.shape[0], rows) if transposed else (rows, centers.shape[0])
        out = np.empty(shape, dtype=np.float32, order="F")
        ragged = np.empty(shape[:1] + (X.shape[0] % tile_rows,) if transposed
                          else (X.shape[0] % tile_rows,) + shape[1:], np.float32, order="F")

        def product(tile):
            c = out if tile.shape[0] == rows else ragged
            if transposed:  # (centers.T).T @ tile.T
                return sgemm(1.0, centers.T, tile.T, c=c, trans_a=True, overwrite_c=True)
            return sgemm(1.0, tile.T, centers.T, c=c, trans_a=True, overwrite_c=True)
    elif transposed:
        out = np.empty((centers.shape[0], rows), dtype=np.float32)

        def product(tile):
            return np.matmul(centers, tile.T, out=out[:, :tile.shape[0]])
    else:
        out = np.empty((rows, centers.shape[0]), dtype=np.float32)
        centers_t = np.ascontiguousarray(centers.T)

        def product(tile):
            return np.matmul(tile, centers_t, out=out[:tile.shape[0]])

    def run():
        for start in range(0, X.shape[0], tile_rows):
            product(X[start:start + tile_rows])
        return out

    return run


def _gemm_floor(workload, limits):
    """The fastest of a few ways BLAS computes every row's product with every center
    (numpy's or scipy's sgemm, tiles of GEMM_FLOOR_TILES rows, either orientation), each
    tried once under ``limits()`` (the threads the timed run gets)."""
    X = workload.Xnp32
    timed = []
    for lib in ("numpy", "scipy"):
        for tile_rows in GEMM_FLOOR_TILES:
            for transposed in (False, True):
                run = _gemm_products(X, workload.start_centers, tile_rows, transposed, lib)
                with limits():
                    run()  # first touch of the outputs
                    start = time.perf_counter()
                    run()
                    elapsed = time.perf_counter() - start
                timed.append((elapsed, lib, tile_rows, transposed, run))
    _, lib, tile_rows, transposed, run = min(timed, key=lambda t: t[0])
    product = "centers (k x d) @ X.T (d x n)" if transposed else "X (n x d) @ centers.T"
    return run, (f"{lib} sgemm {product}, float32, in tiles of {tile_rows} rows (the "
                 f"fastest of {len(timed)} ways)")


@pytest.mark.parametrize("impl", ITER_IMPLS)
@pytest.mark.parametrize("case", CASES)
def test_embed_iter(benchmark, bench, embed_workloads, case, impl):
    workload = _workload_or_skip(bench, embed_workloads, case)
    if impl == "floor_gemm":
        one_pass, what = _gemm_floor(workload, lambda: bench.limits(impl))
    else:
        make_estimator(impl.removesuffix("_numpy"), workload.spec)  # skip if missing
        one_pass, what = lloyd_pass(impl, workload, bench.threads)
    benchmark.group = f"embed-iter {workload.name}"
    n_samples, n_features = workload.Xnp.shape
    result = bench.pedantic(benchmark, impl, one_pass)
    benchmark.extra_info.update(
        what=what, dtype="float32", n_clusters=workload.spec.n_clusters,
        flops=2 * n_samples * n_features * workload.spec.n_clusters)
    if impl != "floor_gemm":
        benchmark.extra_info["centers_rel_diff"] = relative_difference(
            result, workload.reference_centers)


def _fit_estimator(impl, workload):
    k = workload.spec.n_clusters
    if impl == "chunkml_numpy":
        return make_estimator("chunkml", workload.spec), workload.Xnp
    if impl == "chunkml_sample":
        size = SAMPLE_ROWS_PER_CENTER * k
        if size >= workload.n_samples:
            pytest.skip(f"sample_size={size} is not fewer rows than X's "
                        f"{workload.n_samples}")
        return make_estimator("chunkml", workload.spec, sample_size=size), workload.X
    return make_estimator(impl, workload.spec), workload.data_for(impl)


@pytest.mark.parametrize("impl", FIT_IMPLS)
@pytest.mark.parametrize("case", CASES)
def test_embed_fit(benchmark, bench, embed_workloads, case, impl):
    workload = _workload_or_skip(bench, embed_workloads, case)
    km, X = _fit_estimator(impl, workload)
    benchmark.group = f"embed-fit {workload.name}"
    _warm_up(bench, impl, km, X[:4 * workload.spec.n_clusters])
    events = []
    fitted = benchmark.pedantic(lambda: _timed_fit(bench, impl, km, X, events), rounds=1,
                                iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(
        n_iter=int(fitted.n_iter_), inertia=float(fitted.inertia_),
        inertia_check=reference_inertia(workload.Xnp, fitted.cluster_centers_),
        n_clusters=workload.spec.n_clusters, dtype="float32")
    if impl in ("chunkml", "chunkml_numpy"):
        benchmark.extra_info.update(_init_and_iteration_seconds(events))
    if impl == "chunkml_sample":
        benchmark.extra_info["sample_size"] = int(km.sample_size)
    if impl == "faiss":
        benchmark.extra_info["what"] = f"faiss.Kmeans(niter={FAISS_NITER}), all rows"


def _warm_up(bench, impl, km, X):
    """Untimed: a 2-iteration fit on a few rows compiles (or loads) the kernels the
    timed fit uses; for chunkml on numpy X (and its in-memory sample), the parallel
    variants too, which a fit of so few rows does not run."""
    with bench.limits(impl):
        if impl == "faiss":
            FaissKMeans(km.n_clusters, max_iter=2).fit(X)
            return
        params = {"max_iter": 2}
        if impl == "chunkml_sample":
            params["sample_size"] = None
        clone(km).set_params(**params).fit(X)
        if impl in ("chunkml_numpy", "chunkml_sample"):
            chunkml.kernels.warm_up(dtypes=(X.dtype,), widths=(X.shape[1],),
                                    sparse=False, parallel=True)


def _timed_fit(bench, impl, km, X, events):
    """The fit; for chunkml, (seconds since the fit began, event) of its progress events
    are appended to `events`."""
    with bench.limits(impl):
        if not impl.startswith("chunkml"):
            return km.fit(X)
        start = time.perf_counter()
        with chunkml.on_progress(lambda e: events.append((time.perf_counter() - start, e))):
            return km.fit(X)


def _init_and_iteration_seconds(events):
    """The init's seconds and one Lloyd iteration's, from a fit's progress events.

    A Lloyd step is reported when its pass is done: the iterations after the first give
    the seconds per iteration, and the init ends one iteration before the first step.
    """
    steps = {}
    for seconds, event in events:
        if event.kind == "step" and event.phase == "lloyd":
            steps.setdefault(event.step, seconds)
    if len(steps) < 2:
        return {}
    last = max(steps)
    iteration = (steps[last] - steps[1]) / (last - 1)
    init = steps[1] - iteration
    return {"init_s": init, "iteration_s": iteration, "init_iterations": init / iteration}
