"""Entry points used by the estimators: fit (the n_init runs), predict, transform, inertia.

Each entry point prepares its input once (`prepare_input`); what it calls then takes
the prepared input as it is.
"""

import logging
from dataclasses import dataclass, replace

import dask.array as da
import joblib
import numpy as np

from . import progress
from ._frame import Frame
from ._input import is_dask_collection, make_rows, prepare_fit_input, prepare_input
from ._limits import OneBlasThreadOffCaller
from ._unit import check_metric, unit_centers_in, unit_vectors
from .init import (
    DEFAULT_INIT_ROUNDS,
    first_draws,
    first_pass,
    init_passes,
    kmeans_parallel_init,
    kmeanspp_init,
    random_init,
)
from .lloyd import FrameMismatch, lloyd
from .predict import COST_FACTOR, labels_and_inertia, prepared_labels
from .sample_fit import known_rows, resolve_sample_size, sample_for_fit

logger = logging.getLogger("chunkml")


@dataclass
class KMeansResult:
    centers: np.ndarray
    inertia: float
    n_iter: int
    labels: object
    n_distinct: int


def initial_centers(rows, init, n_clusters, *, seed, rng, oversampling_factor,
                    init_max_iter, tol):
    """Centers from an init name, after the first pass over X, which sets the rows'
    frame; returns (centers in the frame, tol in the frame's units)."""
    if init not in ("k-means||", "k-means++", "random"):
        raise ValueError(f"Unknown init {init!r}.")
    part = first_pass(rows, seed, first_draws(rows, init, n_clusters), n_clusters)
    n_rounds = DEFAULT_INIT_ROUNDS if init_max_iter is None else init_max_iter
    progress.report("step", "KMeans", "init", 1,
                    init_passes(rows, init, n_clusters, n_rounds), init=init,
                    detail="sample and measure X")
    tol_abs = float(tol * part.stats.mean_variance(rows.frame))
    if init == "k-means||":
        centers = kmeans_parallel_init(rows, part, n_clusters, seed, rng,
                                       oversampling_factor=oversampling_factor,
                                       n_rounds=n_rounds)
    elif init == "k-means++":
        centers = kmeanspp_init(rows, part, n_clusters, seed, rng)
    else:
        centers = random_init(rows, part, n_clusters, seed, rng)
    return centers, tol_abs


def _projection(rows, metric):
    """Lloyd's `project` for the metric, in the rows' frame (as it is now)."""
    return unit_centers_in(rows.frame) if metric == "cosine" else None



def fit_kmeans_runs(X, sample_weight, n_clusters, *, init, n_init, oversampling_factor,
                    init_max_iter, max_iter, tol, random_state, verbose=False,
                    metric="euclidean", sample_size=None):
    """KMeans.fit: the best of n_init complete runs (init + Lloyd) on numpy or dask X.

    Every run's seed is drawn from `random_state` before any run starts, so the result
    does not depend on where or in which order the runs execute. X is prepared once
    (`prepare_input`), and a lazy dask X that fits in memory persisted once for all
    runs (`prepare_fit_input`). In-memory runs go through ``joblib.Parallel`` (one at a
    time unless an active ``joblib.parallel_backend`` spreads them, then each with one
    BLAS thread: see _limits.py); runs on dask X go one after the other, each spread over
    X's blocks by the active dask scheduler.

    Parameters
    ----------
    X : ndarray, scipy.sparse matrix or dask array of shape (n_samples, n_features)
        float32 or float64, validated.
    sample_weight : None, ndarray or dask array of shape (n_samples,)
    init : {"k-means||", "k-means++", "random"}, callable or ndarray of shape \
            (n_clusters, n_features)
        A callable is called once per run, every call before the first run starts, as
        ``init(X, n_clusters, random_state=RandomState(run seed))``, and must return
        valid centers (the estimator checks them); an array is every run's start.
    n_init : int
    oversampling_factor, init_max_iter, max_iter, tol, verbose : as `fit_kmeans`
    random_state : numpy.random.RandomState
    metric : {"euclidean", "cosine"}
        "cosine": spherical k-means (_unit.py): the rows of X read as unit vectors, every
        initial center (an init array, a callable's) and every updated one scaled to
        unit length; the inertia is the weighted sum of 1 - cos(x, center). Sparse X is
        read as its unit rows (_unit.unit_input); a zero row is a ValueError naming it.
    sample_size : None, int or float
        Fit on a sample, as faiss does: every run's init and Lloyd on a uniform sample
        of rows (`resolve_sample_size`, `sample_for_fit`: the same rows whatever the
        chunking, drawn from a seed taken from `random_state` after the runs' seeds),
        then labels and inertia of the best run's centers on all of X, in one pass.
        A sample of all the rows is X itself. For dask X of unknown chunk sizes a pass
        learns them first.

    Returns
    -------
    KMeansResult
        The run of least inertia (the earlier one on ties). Its labels are lazy on X
        itself for dask X, never on a copy persisted for the fit.
    """
    check_metric(metric)
    seeds = random_state.randint(np.iinfo(np.int32).max, size=n_init)
    if callable(init):
        inits = [init(X, n_clusters, random_state=np.random.RandomState(seed))
                 for seed in seeds]
    else:
        inits = [init] * n_init
    if metric == "cosine":
        inits = [run_init if isinstance(run_init, str) else unit_vectors(run_init)
                 for run_init in inits]
    X, sample_weight = prepare_input(X, sample_weight)
    sampled = False
    if sample_size is not None:
        X, sample_weight = known_rows(X, sample_weight)
        n_rows = resolve_sample_size(sample_size, X.shape[0], n_clusters)
        sample_seed = int(random_state.randint(np.iinfo(np.int32).max))
        sampled = n_rows < X.shape[0]
    if sampled:
        X_fit, weight_fit, _ = sample_for_fit(X, sample_weight, n_rows, sample_seed)
        logger.info("fitting on a sample of %d of the %d rows of X", n_rows, X.shape[0])
    else:
        X_fit, weight_fit = prepare_fit_input(X, sample_weight)
    # One BLAS thread per run wherever joblib runs it beside others (not on this
    # thread: its sequential backend, one run at a time).
    fit_one = joblib.delayed(OneBlasThreadOffCaller(fit_kmeans))
    runs = (fit_one(X_fit, weight_fit, n_clusters, init=run_init,
                    oversampling_factor=oversampling_factor, init_max_iter=init_max_iter,
                    max_iter=max_iter, tol=tol, random_state=np.random.RandomState(seed),
                    verbose=verbose, metric=metric)
            for seed, run_init in zip(seeds, inits))
    if is_dask_collection(X):
        # Each run on dask input already spreads its passes over the blocks through the
        # active dask scheduler; running runs concurrently would only multiply the
        # memory held by X's blocks, and shipping a graph into a joblib worker would
        # compute X again there (on a cluster: a task computing a graph).
        results = (func(*args, **kwargs) for func, args, kwargs in runs)
    else:
        # joblib, so that `joblib.parallel_backend("dask")` (or "threading", ...) spreads
        # the runs; n_jobs=None is one job unless such a context says otherwise. The
        # kernels release the GIL, hence threads when joblib may choose. A generator, in
        # order, holds one run's labels at a time.
        results = joblib.Parallel(n_jobs=None, prefer="threads",
                                  return_as="generator")(runs)
    best = None
    for result in results:
        # Ties go to the earlier run.
        if best is None or result.inertia < best.inertia:
            best = result
    if sampled:
        labels, inertia_, n_distinct = labels_and_inertia(X, best.centers, sample_weight,
                                                          metric)
        best = replace(best, labels=labels, inertia=inertia_,
                       n_distinct=best.n_distinct if n_distinct is None else n_distinct)
    elif X_fit is not X and not isinstance(best.labels, np.ndarray):
        # Lazy on X itself, not on the copy persisted for the fit.
        best = replace(best, labels=prepared_labels(X, best.centers, metric))
    elif X_fit is not X and is_dask_collection(X):
        # X fitted in memory (`fit_in_memory`): its labels, split as X's rows, not a
        # second labelling pass. (A CSR copy of in-memory X has its rows, and labels.)
        best = replace(best, labels=da.from_array(best.labels, chunks=(X.chunks[0],),
                                                  name=False))
    return best


def fit_kmeans(X, sample_weight, n_clusters, *, init, oversampling_factor, init_max_iter,
               max_iter, tol, random_state, verbose=False, metric="euclidean"):
    """One complete k-means run (init + Lloyd) on numpy or dask X.

    Parameters
    ----------
    X : ndarray, scipy.sparse matrix or dask array of shape (n_samples, n_features)
        float32 or float64, as `prepare_input` returns it.
    sample_weight : None, ndarray or dask array of shape (n_samples,)
    init : str or ndarray of shape (n_clusters, n_features)
    random_state : numpy.random.RandomState
    verbose : bool
        Print scikit-learn's verbose lines ("Initialization complete", then each
        Lloyd iteration's).
    metric : {"euclidean", "cosine"}
        For "cosine", an init array must hold unit rows already (`fit_kmeans_runs`).

    Returns
    -------
    KMeansResult
    """
    rows = make_rows(X, sample_weight, metric)
    seed = int(random_state.randint(np.iinfo(np.int64).max))
    progress.report("start", "KMeans", "init" if isinstance(init, str) else "lloyd",
                    init=init if isinstance(init, str) else "array")
    if isinstance(init, str):
        centers, tol_abs = initial_centers(
            rows, init, n_clusters, seed=seed, rng=random_state,
            oversampling_factor=oversampling_factor, init_max_iter=init_max_iter, tol=tol)
        if verbose:
            print("Initialization complete")
        return _run_lloyd(rows, centers, metric, max_iter=max_iter, tol=tol,
                          tol_abs=tol_abs, verbose=verbose)
    # No pass before Lloyd's first: the frame comes from the initial centers, and that
    # pass measures X for tol. Centers far from X (or much narrower or wider than it)
    # would lose X's detail in their frame: then a pass measures X for a frame of its
    # own and Lloyd starts again (one extra pass, for such an init only).
    init = np.array(init, dtype=np.float64, order="C")
    rows.frame = Frame.from_points(init)
    if verbose:
        print("Initialization complete")
    try:
        return _run_lloyd(rows, rows.frame.apply(init), metric, max_iter=max_iter, tol=tol,
                          tol_abs=None, check_frame=True, verbose=verbose)
    except FrameMismatch:
        logger.debug("initial centers far from X: Lloyd restarts in X's own frame")
        part = first_pass(rows, seed, 0, n_clusters)
        progress.report("step", "KMeans", "init", 1, 1, init="array",
                        detail="measure X: initial centers far from it")
    return _run_lloyd(rows, rows.frame.apply(init), metric, max_iter=max_iter, tol=tol,
                      tol_abs=float(tol * part.stats.mean_variance(rows.frame)),
                      verbose=verbose)



def _run_lloyd(rows, centers, metric, **kwargs):
    """Lloyd from `centers` (in the rows' frame); the result in X's units."""
    frame = rows.frame
    centers, inertia_, n_iter, labels, n_distinct = lloyd(
        rows, np.ascontiguousarray(centers, dtype=np.float64), report=True,
        project=_projection(rows, metric), cost_factor=COST_FACTOR[metric], **kwargs)
    result = KMeansResult(frame.restore(centers),
                          frame.restore_squared(inertia_) * COST_FACTOR[metric], n_iter,
                          labels, n_distinct)
    progress.report("end", "KMeans", "lloyd", n_iter, kwargs["max_iter"],
                    inertia=result.inertia)
    return result
