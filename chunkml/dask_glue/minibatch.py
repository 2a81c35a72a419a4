"""Mini-batch k-means: initial centers and the passes over X's blocks (the step rules
are in minibatch_step.py).

A pass visits the blocks of X in order (numpy X is one block) and deals the rows of each
block, in a random order, into ``m = ceil(n_rows / batch_size)`` mini-batches: every batch
has at most batch_size rows, the batches of a block differ in size by at most one row,
and each is a random sample of the block, as scikit-learn's are of X (its stopping rule,
a smoothed batch inertia that stops improving, assumes random batches: the same batches
in every pass would improve it a little every m steps, for ever). The order is drawn from
(seed, step number), so it does not depend on where the block is processed.
`partial_fit` runs the same block function on the block it is given, so a partial_fit
over X's blocks in order makes the same steps as a pass of `fit`.

On a dask array the blocks stay where they are computed: a window of `WINDOW_BLOCKS`
blocks is chained into tasks that each carry the small state (centers, weight sums,
counters) from one block to the next, one ``dask.compute`` per window. Only the state
travels; memory holds at most a window of blocks, whatever the size of X.
"""

import logging
import math
from dataclasses import dataclass, replace

import dask
from dask.base import tokenize
import numpy as np
import scipy.sparse as sp

from . import progress
from ._blocks import labels_block
from ._frame import Frame
from ._partials import SamplePartial
from ._dask_rows import SPLIT_EVERY, _with_row_chunks
from ._unit import check_metric, unit_vectors
from ._sparse import is_sparse, is_sparse_dask
from .init import pad_centers
from ._input import is_dask_collection, make_rows, prepare_input
from .kmeanspp import kmeans_plusplus
from .lloyd import check_first_pass
from .predict import COST_FACTOR, prepared_inertia, prepared_labels
from .minibatch_step import MiniBatchState, StepParams, minibatch_block

logger = logging.getLogger("chunkml")


# Blocks chained per compute on dask input: the bound on the blocks in memory at once, and
# enough to read the next block while the current one is stepped through.
WINDOW_BLOCKS = 4
# Bytes of partials merged per task of the sampling pass's reduction tree.
MERGE_BYTES = 16 * 2**20


@dataclass
class MiniBatchResult:
    state: MiniBatchState
    n_iter: int
    n_samples: int
    total_weight: float
    labels: object
    inertia: float


def _one_init(train, raw, init, n_clusters, rng, frame, metric="euclidean"):
    """Initial centers in the frame from the sampled rows, `train` in the frame and `raw`
    in X's units."""
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise ValueError(f"Unknown init {init!r}.")
        # Fewer drawn rows than clusters only when fewer rows have positive weight.
        if train.shape[0] <= n_clusters:
            return pad_centers(train, n_clusters, rng)
        if init == "random":
            return train[rng.choice(train.shape[0], size=n_clusters, replace=False)]
        centers, _ = kmeans_plusplus(train, n_clusters, np.ones(train.shape[0]), rng)
        return centers
    if callable(init):
        # The user's callable sees and returns X's units.
        centers = np.asarray(init(raw, n_clusters, random_state=rng), dtype=np.float64)
        if centers.shape != (n_clusters, train.shape[1]):
            raise ValueError(
                f"The init callable returned centers of shape {centers.shape}; expected "
                f"(n_clusters, n_features) = ({n_clusters}, {train.shape[1]}).")
        if metric == "cosine":
            centers = unit_vectors(centers, "The init callable's result")
        return frame.apply(centers)
    return frame.apply(init)


def initial_state(rows, n_clusters, *, init, init_size, seed, seeds, verbose=False,
                  metric="euclidean"):
    """First pass over X, then the best of len(seeds) initialisations; (state, sample).

    The pass draws init_size rows proportionally to sample_weight, without replacement
    (the draw of a row depends only on (seed, row index)), measures X for
    scikit-learn's variance-scaled tol, and checks it (NaN/inf, weights, n_samples).
    Every initialisation runs on the sample, with unit weights since the draw already
    followed the weights, and the one of least inertia on the sample wins (ties: the
    first). scikit-learn draws init_size rows uniformly for each initialisation, runs
    it with their weights, and compares them on another init_size rows. An explicit
    init array is used as is (for metric="cosine", scaled to unit length; the rows
    are then the unit rows of X, see _unit.py).
    """
    if metric == "cosine" and _is_array(init):
        init = unit_vectors(init)
    part = _sample(rows, seed, 0 if _is_array(init) else init_size)
    check_first_pass(n_clusters, part.n_samples, part.stats.moments, part.min_weight,
                     part.total)
    # The frame of the steps: from the pass's exact min and max, whatever the chunking
    # (set on the rows, which drop its shift for sparse X).
    rows.frame = part.stats.frame()
    frame = rows.frame
    if _is_array(init):
        centers = frame.apply(init)
    else:
        sample = train = frame.apply(part.X)
        # A callable init sees the sample in X's units and kind (CSR for sparse X).
        raw = (sp.csr_matrix(part.X) if is_sparse(rows.X) or is_sparse_dask(rows.X)
               else part.X)
        identity = Frame.identity(train.shape[1]).args
        best_inertia = np.inf
        centers = None
        for i, init_seed in enumerate(seeds):
            if verbose:
                print(f"Init {i + 1}/{len(seeds)} with method {init}")
            rng = np.random.RandomState(init_seed)
            candidate = np.ascontiguousarray(
                _one_init(train, raw, init, n_clusters, rng, frame, metric),
                dtype=np.float64)
            _, mindist = labels_block(sample, *identity, candidate)
            inertia_ = float(mindist.sum())
            logger.debug("MiniBatchKMeans init %d/%d: inertia %.9g on %d sampled rows",
                         i + 1, len(seeds), inertia_, sample.shape[0])
            if verbose:
                print(f"Inertia for init {i + 1}/{len(seeds)}: "
                      f"{frame.restore_squared(inertia_)}")
            if centers is None or inertia_ < best_inertia:
                centers, best_inertia = candidate, inertia_
    state = MiniBatchState(scaled_centers=np.ascontiguousarray(centers, dtype=np.float64),
                           weight_sums=np.zeros(n_clusters), seed=int(seed), frame=frame)
    return state, part


def _sample(rows, seed, n_top):
    """`rows.sample(seed, 0, n_top)`, with a reduction tree narrow enough for large n_top.

    Every block's partial holds n_top rows (batch_size 16384 makes init_size 49152: as
    large as an 8 MiB block); merging 8 of them at once, the default, would hold many
    blocks' worth of memory in one task.
    """
    nbytes = SamplePartial.nbytes(rows.n_features, n_top)
    split_every = int(np.clip(MERGE_BYTES // nbytes, 2, SPLIT_EVERY))
    return rows.sample(seed, 0, n_top, split_every=split_every)


def _is_array(init):
    return not isinstance(init, str) and not callable(init)


def _dask_blocks(X, sample_weight):
    blocks = list(X.to_delayed().ravel())
    if sample_weight is None:
        return blocks, [None] * len(blocks)
    return blocks, list(sample_weight.to_delayed().ravel())


def _dask_pass(blocks, weights, state, params):
    step = dask.delayed(minibatch_block, pure=True)
    for start in range(0, len(blocks), WINDOW_BLOCKS):
        if state.converged:
            break
        out = state
        for X_block, w_block in zip(blocks[start:start + WINDOW_BLOCKS],
                                    weights[start:start + WINDOW_BLOCKS]):
            # The key a pure call would get, under chunkml's prefix.
            token = tokenize(minibatch_block, X_block, w_block, out, params)
            key = f"chunkml-minibatch-{token}"
            out = step(X_block, w_block, out, params, dask_key_name=key)
        (state,) = dask.compute(out)
    return state


def _estimated_inertia(state, total_weight, metric="euclidean"):
    """The inertia of X, in its units (the metric's cost), estimated from the smoothed
    batch inertia."""
    mean = state.ewa_inertia if state.ewa_inertia is not None else state.last_inertia
    return state.frame.restore_squared(
        (math.nan if mean is None else mean) * total_weight) * COST_FACTOR[metric]


def _seeds(random_state, n_init):
    """(seed of the sampling and reassignment draws, one seed per initialisation)."""
    seed = int(random_state.randint(np.iinfo(np.int32).max))
    return seed, random_state.randint(np.iinfo(np.int32).max, size=n_init)


def fit_minibatch(X, sample_weight, n_clusters, *, init, n_init, init_size, batch_size,
                  max_iter, tol, max_no_improvement, reassignment_ratio, compute_labels,
                  random_state, verbose=False, metric="euclidean"):
    """A complete mini-batch k-means fit on numpy or dask X.

    Parameters
    ----------
    X : ndarray or dask array of shape (n_samples, n_features), float32 or float64
    sample_weight : None, ndarray or dask array of shape (n_samples,)
    init : {"k-means++", "random"}, callable or ndarray of shape (n_clusters, n_features)
    n_init : int
        Initialisations tried on the sample; only the best is optimised.
    init_size : int
        Rows each initialisation runs on.
    max_iter : int
        Passes over X at most.
    tol, max_no_improvement, reassignment_ratio : as scikit-learn's MiniBatchKMeans
    compute_labels : bool
        Labels (lazy for dask X) and inertia of X for the final centers, in one more
        pass; otherwise the inertia is estimated from the ewa of the batch inertias.
    random_state : numpy.random.RandomState
    verbose : bool
        Print scikit-learn's verbose lines (initialisations, steps, convergence). On a
        distributed cluster the step lines are printed by the workers.
    metric : {"euclidean", "cosine"}
        "cosine": spherical mini-batch k-means: the sample and every batch read as unit
        rows, the centers scaled to unit length after every step (see _unit.py).

    Returns
    -------
    MiniBatchResult
    """
    check_metric(metric)
    rows = make_rows(*prepare_input(X, sample_weight), metric)
    seed, seeds = _seeds(random_state, n_init)
    init_name = (init if isinstance(init, str)
                 else "callable" if callable(init) else "array")
    progress.report("start", "MiniBatchKMeans", "init", init=init_name)
    state, part = initial_state(rows, n_clusters, init=init, init_size=init_size,
                                seed=seed, seeds=seeds, verbose=verbose, metric=metric)
    progress.report("step", "MiniBatchKMeans", "init", 1, 1, init=init_name,
                    detail="sample and measure X")
    # X as the passes read it: with the row chunk sizes the first pass learnt, if they
    # were unknown (see passes.py); for cosine the steps read X itself (they normalise
    # each batch), not the rows' unit view.
    if metric == "cosine" and is_dask_collection(X):
        X, sample_weight = prepare_input(X, sample_weight)
        X = _with_row_chunks(X, rows.X.chunks[0])
        sample_weight = rows.sample_weight
    else:
        X, sample_weight = rows.X, rows.sample_weight
    params = StepParams(batch_size=batch_size, reassignment_ratio=reassignment_ratio,
                        monitor=True, n_samples=part.n_samples,
                        tol=float(tol * part.stats.mean_variance(state.frame)),
                        max_no_improvement=max_no_improvement, verbose=verbose,
                        n_steps=max_iter * part.n_samples // batch_size, metric=metric)
    if is_dask_collection(X):
        blocks, weights = _dask_blocks(X, sample_weight)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        before = state.scaled_centers
        if is_dask_collection(X):
            state = _dask_pass(blocks, weights, state, params)
        else:
            state = minibatch_block(X, sample_weight, state, params)
        logger.debug("MiniBatchKMeans pass %d: %d steps, ewa inertia %s", n_iter,
                     state.n_steps, state.ewa_inertia)
        if progress.active():
            progress.report(
                "step", "MiniBatchKMeans", "minibatch", n_iter, max_iter,
                inertia=_estimated_inertia(state, part.total, metric),
                shift=state.frame.restore_squared(
                    float(((state.scaled_centers - before) ** 2).sum())),
                detail=f"{state.n_steps} mini-batch steps")
        if state.converged:
            break
    if compute_labels:
        labels = prepared_labels(X, state.centers, metric)
        inertia_ = prepared_inertia(X, state.centers, sample_weight, metric)
    else:
        labels = None
        inertia_ = _estimated_inertia(state, part.total, metric)
    progress.report("end", "MiniBatchKMeans", "minibatch", n_iter, max_iter,
                    inertia=inertia_, detail=f"{state.n_steps} mini-batch steps")
    return MiniBatchResult(state=state, n_iter=n_iter, n_samples=part.n_samples,
                           total_weight=part.total, labels=labels, inertia=float(inertia_))


def start_minibatch(X, sample_weight, n_clusters, *, init, n_init, init_size,
                    random_state, metric="euclidean"):
    """Initial state from one in-memory block: the first call of partial_fit.

    The same initialisation as `fit_minibatch` would make on that block alone.
    """
    check_metric(metric)
    rows = make_rows(*prepare_input(X, sample_weight), metric)
    seed, seeds = _seeds(random_state, n_init)
    state, _ = initial_state(rows, n_clusters, init=init, init_size=init_size, seed=seed,
                             seeds=seeds, metric=metric)
    return state


def partial_fit_minibatch(X, sample_weight, state, *, batch_size, reassignment_ratio,
                          metric="euclidean"):
    """The steps of one in-memory block from `state`; returns the new state.

    A stream has no end to converge at: a state that a fit stopped goes on learning.
    """
    check_metric(metric)
    params = StepParams(batch_size=batch_size, reassignment_ratio=reassignment_ratio,
                        metric=metric)
    return minibatch_block(X, sample_weight, replace(state, converged=False), params)
