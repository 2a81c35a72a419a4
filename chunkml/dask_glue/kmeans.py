"""Entry points used by the estimators: fit, predict, transform, inertia."""

from dataclasses import dataclass

import dask.array as da
import numpy as np

from ._blocks import inertia_block, labels_block, labels_only_block, transform_block
from ._rows import DaskRows, NumpyRows, squared_norms, use_parallel
from .init import (
    DEFAULT_INIT_ROUNDS,
    kmeans_parallel_init,
    kmeanspp_init,
    random_init,
)
from .lloyd import lloyd
from .persist import persist_for_fit


def is_dask_collection(X):
    return isinstance(X, da.Array)


def _unknown(chunks):
    return any(np.isnan(c) for c in chunks)


def prepare_dask(X, sample_weight=None):
    """One column chunk, and weights chunked like the rows of X.

    Unknown row chunk sizes stay unknown (the first pass learns them), except when numpy
    weights must be split like X's rows, or dask weights are chunked differently from X.
    """
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    if sample_weight is None:
        return X, None
    if not isinstance(sample_weight, da.Array):
        if _unknown(X.chunks[0]):
            X = X.compute_chunk_sizes()
        sample_weight = da.from_array(np.asarray(sample_weight, dtype=np.float64),
                                      chunks=(X.chunks[0],))
    elif sample_weight.chunks[0] != X.chunks[0]:
        if _unknown(X.chunks[0]):
            X = X.compute_chunk_sizes()
        if _unknown(sample_weight.chunks[0]):
            sample_weight = sample_weight.compute_chunk_sizes()
        sample_weight = sample_weight.rechunk((X.chunks[0],))
    return X, sample_weight


def make_rows(X, sample_weight=None):
    if is_dask_collection(X):
        return DaskRows(*prepare_dask(X, sample_weight))
    return NumpyRows(X, sample_weight)


def prepare_fit_input(X, sample_weight=None):
    """X and weights as the runs of one fit should read them: a lazy dask X that fits in
    memory is persisted once for all of them (see persist.py); numpy is returned as is."""
    if is_dask_collection(X):
        return persist_for_fit(*prepare_dask(X, sample_weight))
    return X, sample_weight


@dataclass
class KMeansResult:
    centers: np.ndarray
    inertia: float
    n_iter: int
    labels: object
    n_distinct: int


def initial_centers(rows, init, n_clusters, *, seed, rng, oversampling_factor,
                    init_max_iter, tol):
    """Centers from an init name; returns (centers, stats or None)."""
    if init == "k-means||":
        n_rounds = DEFAULT_INIT_ROUNDS if init_max_iter is None else init_max_iter
        return kmeans_parallel_init(rows, n_clusters, seed, rng,
                                    oversampling_factor=oversampling_factor,
                                    n_rounds=n_rounds, tol=tol)
    if init == "k-means++":
        return kmeanspp_init(rows, n_clusters, seed, rng)
    if init == "random":
        return random_init(rows, n_clusters, seed, rng)
    raise ValueError(f"Unknown init {init!r}.")


def fit_kmeans(X, sample_weight, n_clusters, *, init, oversampling_factor, init_max_iter,
               max_iter, tol, random_state):
    """One complete k-means run (init + Lloyd) on numpy or dask X.

    Parameters
    ----------
    X : ndarray or dask array of shape (n_samples, n_features), float32 or float64
    sample_weight : None, ndarray or dask array of shape (n_samples,)
    init : str or ndarray of shape (n_clusters, n_features)
    random_state : numpy.random.RandomState

    Returns
    -------
    KMeansResult
    """
    rows = make_rows(X, sample_weight)
    seed = int(random_state.randint(np.iinfo(np.int64).max))
    if isinstance(init, str):
        centers, stats = initial_centers(
            rows, init, n_clusters, seed=seed, rng=random_state,
            oversampling_factor=oversampling_factor, init_max_iter=init_max_iter, tol=tol)
    else:
        centers, stats = np.array(init, dtype=np.float64, order="C"), None
    centers, inertia, n_iter, labels, n_distinct = lloyd(
        rows, np.ascontiguousarray(centers, dtype=np.float64), max_iter=max_iter, tol=tol,
        stats=stats)
    return KMeansResult(centers, inertia, n_iter, labels, n_distinct)


def predict_labels(X, centers):
    """Nearest-center labels (int32): numpy for numpy X, lazy dask for dask X."""
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    sqnorm = squared_norms(centers)
    if is_dask_collection(X):
        X, _ = prepare_dask(X)
        return X.map_blocks(labels_only_block, centers=centers, centers_sqnorm=sqnorm,
                            drop_axis=1, dtype=np.int32, meta=np.empty(0, dtype=np.int32))
    return labels_block(X, centers, sqnorm, parallel=use_parallel(X))[0]


def transform_distances(X, centers):
    """Euclidean distances to every center, in X's dtype; lazy for dask X."""
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    if is_dask_collection(X):
        X, _ = prepare_dask(X)
        return X.map_blocks(transform_block, centers=centers,
                            chunks=(X.chunks[0], (centers.shape[0],)), dtype=X.dtype,
                            meta=np.empty((0, 0), dtype=X.dtype))
    return transform_block(X, centers, parallel=use_parallel(X))


def inertia(X, centers, sample_weight=None):
    """Weighted sum of squared distances to the nearest center (a float)."""
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    sqnorm = squared_norms(centers)
    if is_dask_collection(X):
        X, sample_weight = prepare_dask(X, sample_weight)
        weight = (None, None) if sample_weight is None else (sample_weight, "i")
        per_block = da.blockwise(inertia_block, "ij", X, "ij", *weight,
                                 adjust_chunks={"i": 1, "j": 1}, dtype=np.float64,
                                 meta=np.empty((0, 0)), centers=centers,
                                 centers_sqnorm=sqnorm)
        return float(per_block.sum(split_every=8).compute())
    _, mindist = labels_block(X, centers, sqnorm, parallel=use_parallel(X))
    return float(mindist.sum() if sample_weight is None else np.dot(sample_weight, mindist))
