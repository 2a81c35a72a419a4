"""Entry points used by the estimators: fit (the n_init runs), predict, transform, inertia.

Each entry point prepares its input once (`prepare_input`); what it calls then takes
the prepared input as it is.
"""

import logging
import math
from dataclasses import dataclass, replace

import dask.array as da
import joblib
import numpy as np
import scipy.sparse as sp

from ._blocks import inertia_block, labels_block, labels_only_block, transform_block
from . import progress
from ._frame import Frame
from ._limits import OneBlasThreadOffCaller
from ._partials import SamplePartial
from ._rows import (
    LABELS_NAME,
    SPLIT_EVERY,
    DaskRows,
    NumpyRows,
    SparseDaskRows,
    SparseNumpyRows,
    sum_rows,
    use_parallel,
)
from ._sparse import as_csr, is_sparse, is_sparse_dask
from .init import (
    DEFAULT_INIT_ROUNDS,
    first_draws,
    first_pass,
    init_passes,
    kmeans_parallel_init,
    kmeanspp_init,
    random_init,
)
from .lloyd import FrameMismatch, check_first_pass, lloyd
from ._unit import (
    UnitNumpyRows,
    check_metric,
    check_unit_input,
    cosine_distances,
    unit_centers_in,
    unit_vectors,
    unit_view,
)
from .persist import persist_for_fit

logger = logging.getLogger("chunkml")


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
        if is_sparse_dask(X):
            raise ValueError(
                f"A dask array of sparse blocks must have one block across its columns; "
                f"got {X.numblocks[1]} column blocks (chunks {X.chunks[1]}). Chunk it "
                f"by rows only, e.g. da.from_array(X, chunks=(rows, {X.shape[1]})).")
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


def prepare_input(X, sample_weight=None):
    """(X, sample_weight) as every pass reads them: `prepare_dask` for dask X; numpy and
    scipy.sparse X as they are."""
    if is_dask_collection(X):
        return prepare_dask(X, sample_weight)
    return X, sample_weight


def make_rows(X, sample_weight=None, metric="euclidean"):
    """The rows (passes.py) over X and weights as `prepare_input` returns them: the one
    place that chooses the implementation from X's type and the metric (cosine: X read
    as unit rows, see _unit.py)."""
    if metric == "cosine":
        check_unit_input(X)
        if is_dask_collection(X):
            return DaskRows(unit_view(X), sample_weight)
        return UnitNumpyRows(X, sample_weight)
    if is_dask_collection(X):
        rows = SparseDaskRows if is_sparse_dask(X) else DaskRows
    else:
        rows = SparseNumpyRows if is_sparse(X) else NumpyRows
    return rows(X, sample_weight)


def prepare_fit_input(X, sample_weight=None):
    """X and weights, as `prepare_input` returns them, as the runs of one fit should
    read them: a lazy dask X that fits in memory is persisted once for all of them (see
    persist.py), else streamed; scipy.sparse X is converted to CSR once for all runs."""
    if is_dask_collection(X):
        return persist_for_fit(X, sample_weight)
    return (as_csr(X) if is_sparse(X) else X), sample_weight


@dataclass
class KMeansResult:
    centers: np.ndarray
    inertia: float
    n_iter: int
    labels: object
    n_distinct: int


def initial_centers(rows, init, n_clusters, *, seed, rng, oversampling_factor,
                    init_max_iter, tol, metric="euclidean"):
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
                                       n_rounds=n_rounds, tol=tol,
                                       project=_projection(rows, metric))
    elif init == "k-means++":
        centers = kmeanspp_init(rows, part, n_clusters, seed, rng)
    else:
        centers = random_init(rows, part, n_clusters, seed, rng)
    return centers, tol_abs


def _projection(rows, metric):
    """Lloyd's `project` for the metric, in the rows' frame (as it is now)."""
    return unit_centers_in(rows.frame) if metric == "cosine" else None


def resolve_sample_size(sample_size, n_samples, n_clusters):
    """Rows of the sample a fit runs on (an int) from KMeans's `sample_size`: an int as
    is, a float in (0, 1] as that fraction of n_samples (rounded up). ValueError,
    naming the parameter, for more rows than X has or fewer than n_clusters."""
    if isinstance(sample_size, float):
        rows = math.ceil(sample_size * n_samples)
        given = f"sample_size={sample_size!r} ({rows} of the {n_samples} rows of X)"
    else:
        rows = int(sample_size)
        given = f"sample_size={sample_size!r}"
    if rows > n_samples:
        raise ValueError(f"{given} is larger than n_samples={n_samples}; give at most "
                         f"n_samples rows, or a fraction in (0, 1].")
    if rows < n_clusters:
        raise ValueError(f"{given} is smaller than n_clusters={n_clusters}: the sample "
                         f"must have at least n_clusters rows.")
    return rows


# Bytes of sampled rows merged per task of the sample pass's reduction tree.
_SAMPLE_MERGE_BYTES = 16 * 2**20


def sample_for_fit(X, sample_weight, n_rows, seed):
    """A uniform sample of n_rows rows of X, without replacement, in X's row order:
    (X_sample, weight_sample, index).

    One pass over X (that also checks it for NaN/inf). Each row's draw depends only on
    (seed, its global row index), so the rows are the same whatever the chunking (dask X
    with known chunk sizes). The rows keep X's dtype and kind (CSR for sparse X) and
    their weights; the sample is in memory (numpy).
    """
    # Each partial of the reduction holds up to n_rows rows: merge two at a time once
    # that is large (as minibatch.py's sample pass), not SPLIT_EVERY.
    n_bytes = SamplePartial.nbytes(X.shape[1], n_rows)
    split_every = int(np.clip(_SAMPLE_MERGE_BYTES // n_bytes, 2, SPLIT_EVERY))
    part = make_rows(X, None).sample(seed, 0, n_rows, split_every=split_every)
    order = np.argsort(part.index, kind="stable")
    index = part.index[order]
    min_weight, total_weight = part.min_weight, part.total
    if sample_weight is None:
        weight = None
    elif isinstance(sample_weight, da.Array):
        # The sample is drawn without the weights, so the pass above did not read them:
        # one pass over the weights alone checks all of them, not only the sampled rows'
        # (a negative weight elsewhere would make inertia_ silently wrong).
        min_weight, total_weight, weight = da.compute(
            sample_weight.min(), sample_weight.sum(), sample_weight[index])
        weight = np.asarray(weight, dtype=np.float64)
    else:
        weight = np.asarray(sample_weight, dtype=np.float64)[index]
    check_first_pass(1, part.n_samples, part.stats.moments, float(min_weight),
                     float(total_weight))
    rows = part.X[order].astype(X.dtype)
    if is_sparse(X) or is_sparse_dask(X):
        rows = sp.csr_matrix(rows)
    return rows, weight, index


def labels_and_inertia(X, centers, sample_weight, metric="euclidean"):
    """(labels, inertia, n_distinct) of final centers on X as `prepare_input` returns it:
    one pass for numpy X; lazy labels and a computed inertia for dask X (whose
    n_distinct is None: it would need the labels)."""
    if is_dask_collection(X):
        return (prepared_labels(X, centers, metric),
                prepared_inertia(X, centers, sample_weight, metric), None)
    frame, framed = _framed(centers, X)
    if metric == "cosine":
        labels, total, n_distinct = UnitNumpyRows(X, sample_weight, frame=frame).final(
            framed)
    else:
        rows = make_rows(X, sample_weight)
        rows.frame = frame
        labels, total, n_distinct = rows.final(framed)
    return labels, frame.restore_squared(total) * _COST_FACTOR[metric], n_distinct


def _known_rows(X, sample_weight):
    """X and weights with known row chunk sizes (one pass over X when they are not)."""
    if not is_dask_collection(X) or not np.isnan(X.shape[0]):
        return X, sample_weight
    X = X.compute_chunk_sizes()
    if isinstance(sample_weight, da.Array):
        sample_weight = sample_weight.compute_chunk_sizes().rechunk((X.chunks[0],))
    return X, sample_weight


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
        a NotImplementedError, a zero row a ValueError naming it.
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
    if metric == "cosine":
        check_unit_input(X)
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
        X, sample_weight = _known_rows(X, sample_weight)
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
    elif X_fit is not X:
        best = replace(best, labels=prepared_labels(X, best.centers, metric))
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
            oversampling_factor=oversampling_factor, init_max_iter=init_max_iter, tol=tol,
            metric=metric)
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


# What a Lloyd inertia (sum of w ||x - c||^2) is in the metric's cost: for unit x and c,
# ||x - c||^2 = 2 (1 - cos(x, c)).
_COST_FACTOR = {"euclidean": 1.0, "cosine": 0.5}


def _run_lloyd(rows, centers, metric, **kwargs):
    """Lloyd from `centers` (in the rows' frame); the result in X's units."""
    frame = rows.frame
    centers, inertia_, n_iter, labels, n_distinct = lloyd(
        rows, np.ascontiguousarray(centers, dtype=np.float64), report=True,
        project=_projection(rows, metric), cost_factor=_COST_FACTOR[metric], **kwargs)
    result = KMeansResult(frame.restore(centers),
                          frame.restore_squared(inertia_) * _COST_FACTOR[metric], n_iter,
                          labels, n_distinct)
    progress.report("end", "KMeans", "lloyd", n_iter, kwargs["max_iter"],
                    inertia=result.inertia)
    return result


def _framed(centers, X):
    """(frame, centers in it) for the outputs of a fitted model: the frame of its
    centers, so that predictions do not depend on the data they are asked about
    (without shift for sparse X, see _sparse.py)."""
    centers = np.asarray(centers, dtype=np.float64)
    frame = Frame.from_points(centers)
    if is_sparse(X) or is_sparse_dask(X):
        frame = frame.unshifted()
    return frame, frame.apply(centers)


def _checked_metric(X, metric):
    check_metric(metric)
    if metric == "cosine":
        check_unit_input(X)


def predict_labels(X, centers, metric="euclidean"):
    """Nearest-center labels (int32): numpy for numpy X, lazy dask for dask X. For
    "cosine" (unit centers): the center of largest cosine similarity."""
    _checked_metric(X, metric)
    X, _ = prepare_input(X)
    return prepared_labels(X, centers, metric)


def prepared_labels(X, centers, metric="euclidean"):
    """`predict_labels` of X as `prepare_input` returns it."""
    frame, centers = _framed(centers, X)
    shift, scale = frame.args
    if metric == "cosine":
        if not is_dask_collection(X):
            return UnitNumpyRows(X, frame=frame).labels_mindist(centers)[0]
        X = unit_view(X)
    if is_dask_collection(X):
        return X.map_blocks(labels_only_block, shift=shift, scale=scale, centers=centers,
                            drop_axis=1, dtype=np.int32, meta=np.empty(0, dtype=np.int32),
                            token=LABELS_NAME)
    return labels_block(X, shift, scale, centers, parallel=use_parallel(X))[0]


def transform_distances(X, centers, metric="euclidean"):
    """Distances to every center, in X's dtype; lazy for dask X: Euclidean, or for
    "cosine" (unit centers) 1 - cos(x, c)."""
    _checked_metric(X, metric)
    if metric == "cosine":
        if is_dask_collection(X):
            X, _ = prepare_dask(X)
        return cosine_distances(X, centers)
    frame, centers = _framed(centers, X)
    shift, scale = frame.args
    if is_dask_collection(X):
        X, _ = prepare_dask(X)
        return X.map_blocks(transform_block, shift=shift, scale=scale, centers=centers,
                            chunks=(X.chunks[0], (centers.shape[0],)), dtype=X.dtype,
                            meta=np.empty((0, 0), dtype=X.dtype), token="chunkml-transform")
    return transform_block(X, shift, scale, centers, parallel=use_parallel(X))


def inertia(X, centers, sample_weight=None, metric="euclidean"):
    """Weighted sum of squared distances to the nearest center (a float); for "cosine"
    (unit centers) of 1 - cos(x, c) to the most similar center."""
    _checked_metric(X, metric)
    X, sample_weight = prepare_input(X, sample_weight)
    return prepared_inertia(X, centers, sample_weight, metric)


def prepared_inertia(X, centers, sample_weight=None, metric="euclidean"):
    """`inertia` of X and weights as `prepare_input` returns them."""
    frame, centers = _framed(centers, X)
    shift, scale = frame.args
    factor = _COST_FACTOR[metric]
    if metric == "cosine":
        if not is_dask_collection(X):
            rows = UnitNumpyRows(X, sample_weight, frame=frame)
            _, total, _ = rows.final(centers)
            return frame.restore_squared(total) * factor
        X = unit_view(X)
    if is_dask_collection(X):
        weight = (None, None) if sample_weight is None else (sample_weight, "i")
        per_block = da.blockwise(inertia_block, "ij", X, "ij", *weight,
                                 adjust_chunks={"i": 1, "j": 1}, dtype=np.float64,
                                 meta=np.empty((0, 0)), shift=shift, scale=scale,
                                 centers=centers, token="chunkml-inertia")
        total = sum_rows(per_block, "chunkml-inertia", axis=None)
        return frame.restore_squared(float(total.compute())) * factor
    _, mindist = labels_block(X, shift, scale, centers, parallel=use_parallel(X))
    total = mindist.sum() if sample_weight is None else np.dot(sample_weight, mindist)
    return frame.restore_squared(float(total))
