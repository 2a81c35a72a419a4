"""The implementations under comparison, with the same threads and starting centers.

- Estimators (`make_estimator`): chunkml, scikit-learn, dask-ml, and, when installed,
  scikit-learn-intelex (``sklearnex``) and faiss (``faiss-cpu``, through `FaissKMeans`);
  a peer that is not installed is skipped, not failed.
- One Lloyd pass from given centers (`lloyd_pass`): each implementation's own per-pass
  code where it has one, and the floors: one read of X's bytes by a numba prange flat sum
  over the persisted blocks (the physical floor), dask's ``X.sum()`` (dask's per-pass
  cost: one read plus dask's scheduling) and numpy's one-thread ``np.add.reduce``.
- Threads (`limits`, `threaded_scheduler`): every implementation gets `threads`.
  numpy-based peers run under ``threadpool_limits(threads)`` (OpenMP loops and BLAS), plus
  ``daal4py.daalinit(threads)`` for scikit-learn-intelex (oneDAL's TBB pool, which
  threadpoolctl does not reach) and ``faiss.omp_set_num_threads(threads)``. chunkml and
  dask-ml run on a dask pool of `threads` threads, each limited to one BLAS/OpenMP thread
  so that T dask threads do not each start T more (a limit set in the main thread does
  not reach non-OpenMP worker threads: the pool's initializer sets it in each one).
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import dask
import numba
import numpy as np
import pytest
import sklearn.cluster  # also loads its OpenMP runtime before any pool starts
from _workloads import reference_inertia, runs_on_numpy
from threadpoolctl import ThreadpoolController, threadpool_limits

import chunkml
from chunkml.dask_glue._dask_rows import DaskRows
from chunkml.dask_glue._rows import NumpyRows
from chunkml.dask_glue.lloyd import update_centers

# faiss has no convergence test: it runs every iteration it is given. Its full fits run
# this many (its own default is 25), from its default init (random rows, seed 0).
FAISS_NITER = 20


# -- threads ---------------------------------------------------------------------------------

def _one_inner_thread():
    # Per-thread pools only (OpenMP, and BLAS built on it). A process-wide pool (OpenBLAS
    # on pthreads) is not this thread's to set: threadpoolctl would make it that pool's
    # controlling thread for as long as it lives, and every later threadpool_limits of
    # the main thread would be silently ignored (the numpy-side peers, the GEMM floor,
    # then ran 1-thread BLAS). `limits` sets it around every timed call instead.
    threadpool_limits(limits=1, user_api="openmp")
    for lib in ThreadpoolController().select(user_api="blas").lib_controllers:
        if getattr(lib, "threading_layer", None) == "openmp":
            lib.set_num_threads(1)


def inner_limited_pool(threads):
    """A pool of `threads` threads, each limited to one OpenMP thread (the process-wide
    BLAS pools are set by `limits`, on the calling thread)."""
    return ThreadPoolExecutor(threads, initializer=_one_inner_thread)


@contextmanager
def threaded_scheduler(threads):
    """dask's threaded scheduler on an `inner_limited_pool`, and numba's `threads`."""
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    with (inner_limited_pool(threads) as pool,
          dask.config.set(scheduler="threads", pool=pool, num_workers=threads)):
        yield pool


@contextmanager
def limits(impl, threads):
    """BLAS/OpenMP (and oneDAL, faiss) threads for `impl` in the calling thread."""
    with threadpool_limits(limits=threads if runs_on_numpy(impl) else 1):
        if impl == "sklearnex":
            pytest.importorskip("daal4py").daalinit(threads)
        elif impl == "faiss":
            pytest.importorskip("faiss").omp_set_num_threads(threads)
        yield


# -- estimators ------------------------------------------------------------------------------

class FaissKMeans:
    """``faiss.Kmeans`` on all rows (no subsampling), with the estimator attributes the
    benchmarks read: cluster_centers_, n_iter_, inertia_ (faiss's objective at its last
    assignment) and predict. X must be a float32 numpy array.

    Parameters
    ----------
    n_clusters : int
    max_iter : int, default=FAISS_NITER
        Iterations, all of them run (faiss's ``niter``).
    init : ndarray of shape (n_clusters, n_features) or None, default=None
        Starting centers; None: faiss's own init (random rows).
    """

    def __init__(self, n_clusters, *, max_iter=FAISS_NITER, init=None):
        self.n_clusters = n_clusters
        self.max_iter = max_iter
        self.init = init

    def fit(self, X):
        faiss = pytest.importorskip("faiss")
        km = faiss.Kmeans(X.shape[1], self.n_clusters, niter=self.max_iter, seed=0,
                          max_points_per_centroid=10**9, spherical=False)
        init = None if self.init is None else np.asarray(self.init, dtype=np.float32)
        km.train(X, init_centroids=init)
        self.index_ = km.index
        self.cluster_centers_ = km.centroids
        self.n_iter_ = self.max_iter
        self.inertia_ = float(km.obj[-1])
        return self

    def predict(self, X):
        return self.index_.search(X, 1)[1].ravel()


def _estimator_class(impl):
    if impl == "chunkml":
        return chunkml.KMeans
    if impl == "sklearn":
        return sklearn.cluster.KMeans
    if impl == "sklearnex":
        return pytest.importorskip("sklearnex.cluster").KMeans
    if impl == "dask_ml":
        return pytest.importorskip("dask_ml.cluster").KMeans
    if impl == "faiss":
        pytest.importorskip("faiss")  # skip here, not inside a timed call
        return FaissKMeans
    raise ValueError(impl)


def make_estimator(impl, spec, **params):
    """`impl`'s k-means for a workload `spec`; `params` override the defaults.

    chunkml and dask-ml: ``KMeans(n_clusters, random_state=0, **spec.kmeans_parallel)``
    (k-means|| init); scikit-learn and -intelex: ``KMeans(n_clusters, n_init=1,
    random_state=0)`` (k-means++); faiss: `FaissKMeans(n_clusters)`.
    """
    cls = _estimator_class(impl)
    if impl in ("chunkml", "dask_ml"):
        params = {"random_state": 0, **spec.kmeans_parallel, **params}
    elif impl in ("sklearn", "sklearnex"):
        params = {"n_init": 1, "random_state": 0, **params}
    return cls(n_clusters=spec.n_clusters, **params)


def record_fit(benchmark, km, workload):
    """n_iter_ and inertia_ as reported, and the inertia recomputed the same way for all.

    dask-ml 2025.1 reports the sum of (unsquared) distances as inertia_ when its last
    iteration moved the centers, so `inertia_check` is the number to compare.
    """
    benchmark.extra_info["n_iter"] = int(km.n_iter_)
    benchmark.extra_info["inertia"] = float(km.inertia_)
    benchmark.extra_info["inertia_check"] = reference_inertia(workload.Xnp,
                                                              km.cluster_centers_)
    benchmark.extra_info["centers"] = np.asarray(km.cluster_centers_, dtype=float).tolist()


# -- one Lloyd pass --------------------------------------------------------------------------

def _chunkml_pass(workload, threads):
    rows = DaskRows(workload.X)
    centers = workload.start_centers

    def one_pass():
        partial = rows.lloyd(centers, n_far=workload.spec.n_clusters, with_moments=False)
        return update_centers(partial, centers)

    return one_pass, "DaskRows(X).lloyd (n_far=n_clusters, no moments), then update_centers"


def _chunkml_numpy_pass(workload, threads):
    rows = NumpyRows(workload.Xnp)
    centers = workload.start_centers

    def one_pass():
        partial = rows.lloyd(centers, n_far=workload.spec.n_clusters, with_moments=False)
        return update_centers(partial, centers)

    return one_pass, ("NumpyRows(Xnp).lloyd (n_far=n_clusters, no moments), then "
                      "update_centers")


def _sklearn_pass(workload, threads):
    """The pass that sklearn.cluster.KMeans's Lloyd loop runs once per iteration."""
    lloyd = pytest.importorskip("sklearn.cluster._k_means_lloyd")
    X = workload.Xnp
    n_samples, k = X.shape[0], workload.spec.n_clusters
    centers = workload.start_centers.astype(X.dtype)
    sample_weight = np.ones(n_samples, dtype=X.dtype)
    centers_new = np.zeros_like(centers)
    weight_in_clusters = np.zeros(k, dtype=X.dtype)
    labels = np.full(n_samples, -1, dtype=np.int32)
    center_shift = np.zeros(k, dtype=X.dtype)

    def one_pass():
        # With one BLAS thread per OpenMP thread, as KMeans.fit runs it
        # (`_kmeans_single_lloyd` is decorated so); more would oversubscribe.
        with threadpool_limits(limits=1, user_api="blas"):
            lloyd.lloyd_iter_chunked_dense(X, sample_weight, centers, centers_new,
                                           weight_in_clusters, labels, center_shift,
                                           threads)
        return centers_new

    return one_pass, ("sklearn.cluster._k_means_lloyd.lloyd_iter_chunked_dense, with one "
                      "BLAS thread as in KMeans.fit")


def _sklearnex_pass(workload, threads):
    """One oneDAL Lloyd iteration, what sklearnex's KMeans runs per iteration."""
    daal4py = pytest.importorskip("daal4py")
    X = workload.Xnp
    centers = workload.start_centers.astype(X.dtype)
    algorithm = daal4py.kmeans(nClusters=workload.spec.n_clusters, maxIterations=1,
                               accuracyThreshold=0.0,
                               fptype="float" if X.dtype == np.float32 else "double")
    what = ("daal4py.kmeans(maxIterations=1).compute(X, centers): one oneDAL Lloyd "
            "iteration (assign, sums, objective)")
    return lambda: algorithm.compute(X, centers).centroids, what


def _faiss_pass(workload, threads):
    pytest.importorskip("faiss")  # skip here, not inside a timed call
    km = FaissKMeans(workload.spec.n_clusters, max_iter=1, init=workload.start_centers)
    X = workload.Xnp32
    return (lambda: km.fit(X).cluster_centers_,
            "faiss.Kmeans(niter=1).train(X as float32, init_centroids=centers)")


def _dask_ml_pass(workload, threads):
    """The body of dask-ml 2025.1's Lloyd loop (``_kmeans_single_lloyd``), one iteration."""
    import dask.array as da

    k_means = pytest.importorskip("dask_ml.cluster.k_means")
    from dask_ml.metrics import pairwise_distances_argmin_min

    X = workload.X
    n_features, k = X.shape[1], workload.spec.n_clusters
    centers = workload.start_centers.astype(X.dtype)

    def one_pass():
        labels, _ = pairwise_distances_argmin_min(
            X, centers, metric="euclidean", metric_kwargs={"squared": True})
        labels = labels.astype(np.int32)
        r = da.blockwise(k_means._centers_dense, "ij", X, "ij", labels, "i", k, None, "i",
                         adjust_chunks={"i": k, "j": n_features}, dtype=X.dtype)
        sums = da.from_delayed(sum(r.to_delayed().flatten()), (k, n_features), X.dtype)
        counts = da.maximum(da.bincount(labels, minlength=k), 1)
        (new_centers,) = dask.compute(sums / counts[:, None])
        return new_centers

    return one_pass, "dask_ml _kmeans_single_lloyd loop body"


def _floor_dask(workload, threads):
    X = workload.X
    return lambda: X.sum().compute(), "X.sum().compute() on the persisted dask array"


# fastmath: the reduction vectorises (strict order keeps it one scalar add at a time, slower
# than numpy's one-thread np.add.reduce).
@numba.njit(parallel=True, nogil=True, cache=True, fastmath=True)
def _flat_sum(flat):
    total = 0.0
    for i in numba.prange(flat.shape[0]):
        total += flat[i]
    return total


def _floor_flat(workload, threads):
    """The physical floor: one read of X's bytes, a numba prange flat sum over each of
    the persisted blocks in turn (the same memory the dask passes read), on `threads`
    threads; no dask in the timed call."""
    (blocks,) = dask.compute(list(workload.X.to_delayed().ravel()))
    flats = [np.ascontiguousarray(b).reshape(-1) for b in blocks]
    n_threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))
    _flat_sum(flats[0][:8])

    def one_read():
        saved = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            return sum(_flat_sum(flat) for flat in flats)
        finally:
            numba.set_num_threads(saved)

    return one_read, (f"numba prange flat sum of each persisted block, {n_threads} "
                      "threads (the physical floor)")


def _floor_numpy(workload, threads):
    flat = workload.Xnp.reshape(-1)
    return lambda: np.add.reduce(flat), "np.add.reduce on the numpy copy (one thread)"


PASSES = {
    "chunkml": _chunkml_pass,
    "chunkml_numpy": _chunkml_numpy_pass,
    "sklearn": _sklearn_pass,
    "sklearnex": _sklearnex_pass,
    "faiss": _faiss_pass,
    "dask_ml": _dask_ml_pass,
    "floor_dask": _floor_dask,
    "floor_flat": _floor_flat,
    "floor_numpy": _floor_numpy,
}


def lloyd_pass(impl, workload, threads):
    """(fn, what): fn runs one Lloyd pass of `impl` from workload.start_centers and
    returns the new centers (a floor reads X once and returns its sum); `what` says
    what is timed."""
    return PASSES[impl](workload, threads)
