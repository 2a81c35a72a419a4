"""Mini-batch k-means: initial centers, the step driver, and passes over X's blocks.

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
import dask.array as da
from dask.base import tokenize
import numpy as np
import scipy.sparse as sp

from .. import kernels
from . import progress
from ._blocks import as_block, as_weight, labels_block, sample_block
from ._frame import Frame
from ._partials import SampleLayout
from ._rows import SAMPLE_NAME, SPLIT_EVERY, DaskRows, _identity, squared_norms
from ._sparse import csr_args, is_sparse, is_sparse_dask, take_rows
from .init import _pad
from .kmeans import inertia, is_dask_collection, make_rows, predict_labels
from .kmeanspp import kmeans_plusplus
from .lloyd import check_first_pass

logger = logging.getLogger("chunkml")

# Streams of the draws: rows a reassigned center moves to; the order of a block's rows.
_REASSIGN, _SHUFFLE = 0, 1

# Blocks chained per compute on dask input: the bound on the blocks in memory at once, and
# enough to read the next block while the current one is stepped through.
WINDOW_BLOCKS = 4
# Bytes of partials merged per task of the sampling pass's reduction tree.
MERGE_BYTES = 16 * 2**20


@dataclass
class MiniBatchState:
    """Everything a mini-batch step needs from the steps before it (small, picklable).

    The steps run in the frame (see _frame.py) chosen from the first pass over X: the
    centers, shifts, tol and batch inertias are in its units; `centers` gives the
    centers in X's units.
    """

    scaled_centers: np.ndarray  # (n_clusters, n_features) float64, in `frame`
    weight_sums: np.ndarray  # (n_clusters,) float64: weight each center has absorbed
    seed: int  # the draws at step t come from default_rng([seed, stream, t])
    frame: Frame
    n_steps: int = 0  # mini-batches since the centers were initialised
    n_since_reassign: int = 0  # rows since the last reassignment check
    # scikit-learn's convergence monitor (`_mini_batch_convergence`), for fit only.
    fit_steps: int = 0
    ewa_inertia: float | None = None
    ewa_inertia_min: float | None = None
    no_improvement: int = 0
    last_inertia: float | None = None  # mean inertia of the last batch
    converged: bool = False

    @property
    def centers(self):
        """(n_clusters, n_features) float64 centers in X's units."""
        return self.frame.restore(self.scaled_centers)

    def copy(self):
        return replace(self, scaled_centers=self.scaled_centers.copy(),
                       weight_sums=self.weight_sums.copy())


@dataclass(frozen=True)
class StepParams:
    """The constants of the steps; convergence is monitored only when `monitor`."""

    batch_size: int
    reassignment_ratio: float
    monitor: bool = False
    n_samples: int = 0  # rows of X, for the smoothing factor of the ewa inertia
    tol: float = 0.0  # absolute: scaled by the variance of X, in the state's frame
    max_no_improvement: int | None = None
    # Print scikit-learn's verbose lines; n_steps is the step count they show (its
    # max_iter * n_samples // batch_size).
    verbose: bool = False
    n_steps: int = 0


@dataclass
class MiniBatchResult:
    state: MiniBatchState
    n_iter: int
    n_samples: int
    total_weight: float
    labels: object
    inertia: float


def _reassign(state, centers, X, w, ratio):
    """Move low-weight centers onto rows of the batch, as scikit-learn's `_mini_batch_step`.

    Centers whose absorbed weight is below `ratio` times the largest are moved, at most
    half the batch's rows of them, onto distinct rows of the batch drawn uniformly among
    those of positive weight; their weight sums become the smallest kept one, so that
    they are not reassigned again at once.
    """
    weight_sums = state.weight_sums
    to_reassign = weight_sums < ratio * weight_sums.max()
    n_rows = X.shape[0]
    if to_reassign.sum() > 0.5 * n_rows:
        to_reassign[np.argsort(weight_sums, kind="stable")[int(0.5 * n_rows):]] = False
    candidates = np.arange(n_rows) if w.shape[0] == 0 else np.flatnonzero(w > 0)
    ids = np.flatnonzero(to_reassign)
    if ids.size > candidates.size:
        ids = np.sort(ids[np.argsort(weight_sums[ids], kind="stable")][:candidates.size])
    if ids.size == 0:
        return 0
    rng = np.random.default_rng([state.seed, _REASSIGN, state.n_steps])
    rows = candidates[rng.choice(candidates.size, size=ids.size, replace=False)]
    centers[ids] = (take_rows(X, rows, state.frame.scale) if is_sparse(X)
                    else state.frame.apply(X[rows]))
    kept = np.ones(weight_sums.shape[0], dtype=bool)
    kept[ids] = False
    weight_sums[ids] = weight_sums[kept].min() if kept.any() else weight_sums.max()
    logger.debug("MiniBatchKMeans step %d: reassigning %d cluster centers", state.n_steps,
                 ids.size)
    return ids.size


def _monitor(state, inertia, batch_weight, n_rows, shift, params):
    """scikit-learn's `_mini_batch_convergence`: ewa of the mean batch inertia.

    The batch inertia is normalised by the batch's weight (scikit-learn: by batch_size,
    its batches being drawn proportionally to weight with unit weights).
    """
    state.fit_steps += 1
    if not batch_weight > 0:
        return
    batch_inertia = inertia / batch_weight
    state.last_inertia = batch_inertia
    step = f"{state.fit_steps}/{params.n_steps}"
    # The first batch measures the initial centers, not the optimisation.
    if state.fit_steps == 1:
        if params.verbose:
            print(f"Minibatch step {step}: mean batch inertia: "
                  f"{state.frame.restore_squared(batch_inertia)}")
        return
    if state.ewa_inertia is None:
        state.ewa_inertia = batch_inertia
    else:
        alpha = min(n_rows * 2.0 / (params.n_samples + 1), 1.0)
        state.ewa_inertia = state.ewa_inertia * (1 - alpha) + batch_inertia * alpha
    if params.verbose:
        print(f"Minibatch step {step}: mean batch inertia: "
              f"{state.frame.restore_squared(batch_inertia)}, ewa inertia: "
              f"{state.frame.restore_squared(state.ewa_inertia)}")
    if params.tol > 0.0 and shift <= params.tol:
        if params.verbose:
            print(f"Converged (small centers change) at step {step}")
        logger.debug("MiniBatchKMeans converged (small centers change) at step %d",
                     state.n_steps)
        state.converged = True
        return
    if state.ewa_inertia_min is None or state.ewa_inertia < state.ewa_inertia_min:
        state.no_improvement = 0
        state.ewa_inertia_min = state.ewa_inertia
    else:
        state.no_improvement += 1
    if (params.max_no_improvement is not None
            and state.no_improvement >= params.max_no_improvement):
        if params.verbose:
            print(f"Converged (lack of improvement in inertia) at step {step}")
        logger.debug("MiniBatchKMeans converged (no improvement of the ewa inertia) at "
                     "step %d", state.n_steps)
        state.converged = True


def _step(state, X, w, params, labels, mindist):
    """One mini-batch step on C-contiguous X and weights w (or (0,) for unit weights)."""
    n_clusters = state.scaled_centers.shape[0]
    n_rows = X.shape[0]
    # As scikit-learn, whether to reassign is decided before the step, from the weight
    # sums before it: always while a center has absorbed nothing, else every
    # 10 * n_clusters rows.
    state.n_since_reassign += n_rows
    reassign = bool((state.weight_sums == 0).any()
                    or state.n_since_reassign >= 10 * n_clusters)
    if reassign:
        state.n_since_reassign = 0
    centers = np.empty_like(state.scaled_centers)
    # Sparse batches: the CSR kernel, in the frame's scale (its shift is 0, see _sparse.py).
    if is_sparse(X):
        step, frame_args = kernels.sparse_minibatch_step, (*csr_args(X), state.frame.scale)
    else:
        step, frame_args = kernels.minibatch_step, (X, *state.frame.args)
    batch_inertia = step(
        *frame_args, w, state.scaled_centers, squared_norms(state.scaled_centers),
        state.weight_sums, centers, labels[:n_rows], mindist[:n_rows])
    if reassign and params.reassignment_ratio > 0:
        n_reassigned = _reassign(state, centers, X, w, params.reassignment_ratio)
        if params.verbose and n_reassigned:
            print(f"[MiniBatchKMeans] Reassigning {n_reassigned} cluster centers.")
    shift = (float(((centers - state.scaled_centers) ** 2).sum()) if params.tol > 0
             else 0.0)
    state.scaled_centers = centers
    state.n_steps += 1
    if params.monitor:
        batch_weight = float(n_rows if w.shape[0] == 0 else w.sum())
        _monitor(state, batch_inertia, batch_weight, n_rows, shift, params)


def minibatch_block(X, sample_weight, state, params):
    """All mini-batch steps over one block; returns the new state (`state` is unchanged).

    Stops early once the state has converged. Blocks of 0 rows leave the state as is.
    """
    X = as_block(X)
    w = as_weight(sample_weight)
    state = state.copy()
    n_rows = X.shape[0]
    n_batches = -(-n_rows // params.batch_size)
    if n_batches == 0 or state.converged:
        return state
    batch_rows = -(-n_rows // n_batches)
    labels = np.empty(batch_rows, dtype=np.int32)
    mindist = np.empty(batch_rows)
    order = None
    if n_batches > 1:
        rng = np.random.default_rng([state.seed, _SHUFFLE, state.n_steps])
        order = rng.permutation(n_rows)
    for j in range(n_batches):
        if state.converged:
            break
        if order is None:
            X_batch, w_batch = X, w
        else:
            # Sorted, so that the gather reads the block forwards.
            rows = np.sort(order[j::n_batches])
            X_batch = X[rows] if is_sparse(X) else X.take(rows, axis=0)
            w_batch = w if w.shape[0] == 0 else w.take(rows)
        _step(state, X_batch, w_batch, params, labels, mindist)
    return state


def _one_init(train, raw, init, n_clusters, rng, frame):
    """Initial centers in the frame from the sampled rows, `train` in the frame and `raw`
    in X's units."""
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise ValueError(f"Unknown init {init!r}.")
        # Fewer drawn rows than clusters only when fewer rows have positive weight.
        if train.shape[0] <= n_clusters:
            return _pad(train, n_clusters, rng)
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
        return frame.apply(centers)
    return frame.apply(init)


def initial_state(rows, n_clusters, *, init, init_size, seed, seeds, verbose=False):
    """First pass over X, then the best of len(seeds) initialisations; (state, sample).

    The pass draws init_size rows proportionally to sample_weight, without replacement
    (the draw of a row depends only on (seed, row index)), measures X for
    scikit-learn's variance-scaled tol, and checks it (NaN/inf, weights, n_samples).
    Every initialisation runs on the sample, with unit weights since the draw already
    followed the weights, and the one of least inertia on the sample wins (ties: the
    first). scikit-learn draws init_size rows uniformly for each initialisation, runs
    it with their weights, and compares them on another init_size rows. An explicit
    init array is used as is.
    """
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
                _one_init(train, raw, init, n_clusters, rng, frame), dtype=np.float64)
            _, mindist = labels_block(sample, *identity, candidate,
                                      squared_norms(candidate))
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
    large as an 8 MiB block); merging 8 of them at once, as `DaskRows` does, would hold
    many blocks' worth of memory in one task.
    """
    if not isinstance(rows, DaskRows):
        return rows.sample(seed, 0, n_top)
    layout = SampleLayout(rows.n_features, n_top)
    partials = da.blockwise(
        sample_block, "ij", rows.X, "ij", *rows._weight(), rows.offsets, "i",
        adjust_chunks={"i": 1, "j": layout.size}, dtype=np.float64,
        meta=np.empty((0, 0)), seed=seed, stream=0, n_top=n_top, token=SAMPLE_NAME)
    split_every = int(np.clip(MERGE_BYTES // (8 * layout.size), 2, SPLIT_EVERY))
    reduced = da.reduction(partials, _identity, layout.merge, combine=layout.merge,
                           axis=0, keepdims=True, dtype=np.float64,
                           split_every=split_every, concatenate=True,
                           meta=np.empty((0, 0)), name=SAMPLE_NAME)
    (vec,) = rows._compute(reduced)
    return layout.unpack(vec[0])


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


def _estimated_inertia(state, total_weight):
    """The inertia of X, in its units, estimated from the smoothed batch inertia."""
    mean = state.ewa_inertia if state.ewa_inertia is not None else state.last_inertia
    return state.frame.restore_squared((math.nan if mean is None else mean) * total_weight)


def _seeds(random_state, n_init):
    """(seed of the sampling and reassignment draws, one seed per initialisation)."""
    seed = int(random_state.randint(np.iinfo(np.int32).max))
    return seed, random_state.randint(np.iinfo(np.int32).max, size=n_init)


def fit_minibatch(X, sample_weight, n_clusters, *, init, n_init, init_size, batch_size,
                  max_iter, tol, max_no_improvement, reassignment_ratio, compute_labels,
                  random_state, verbose=False):
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

    Returns
    -------
    MiniBatchResult
    """
    rows = make_rows(X, sample_weight)
    seed, seeds = _seeds(random_state, n_init)
    init_name = (init if isinstance(init, str)
                 else "callable" if callable(init) else "array")
    progress.report("start", "MiniBatchKMeans", "init", init=init_name)
    state, part = initial_state(rows, n_clusters, init=init, init_size=init_size,
                                seed=seed, seeds=seeds, verbose=verbose)
    progress.report("step", "MiniBatchKMeans", "init", 1, 1, init=init_name,
                    detail="sample and measure X")
    # The first pass learnt unknown chunk sizes: use X with them.
    X, sample_weight = rows.X, rows.sample_weight
    params = StepParams(batch_size=batch_size, reassignment_ratio=reassignment_ratio,
                        monitor=True, n_samples=part.n_samples,
                        tol=float(tol * part.stats.mean_variance(state.frame)),
                        max_no_improvement=max_no_improvement, verbose=verbose,
                        n_steps=max_iter * part.n_samples // batch_size)
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
                inertia=_estimated_inertia(state, part.total),
                shift=state.frame.restore_squared(
                    float(((state.scaled_centers - before) ** 2).sum())),
                detail=f"{state.n_steps} mini-batch steps")
        if state.converged:
            break
    if compute_labels:
        labels = predict_labels(X, state.centers)
        inertia_ = inertia(X, state.centers, sample_weight)
    else:
        labels = None
        inertia_ = _estimated_inertia(state, part.total)
    progress.report("end", "MiniBatchKMeans", "minibatch", n_iter, max_iter,
                    inertia=inertia_, detail=f"{state.n_steps} mini-batch steps")
    return MiniBatchResult(state=state, n_iter=n_iter, n_samples=part.n_samples,
                           total_weight=part.total, labels=labels, inertia=float(inertia_))


def start_minibatch(X, sample_weight, n_clusters, *, init, n_init, init_size,
                    random_state):
    """Initial state from one in-memory block: the first call of partial_fit.

    The same initialisation as `fit_minibatch` would make on that block alone.
    """
    rows = make_rows(X, sample_weight)
    seed, seeds = _seeds(random_state, n_init)
    state, _ = initial_state(rows, n_clusters, init=init, init_size=init_size, seed=seed,
                             seeds=seeds)
    return state


def partial_fit_minibatch(X, sample_weight, state, *, batch_size, reassignment_ratio):
    """The steps of one in-memory block from `state`; returns the new state.

    A stream has no end to converge at: a state that a fit stopped goes on learning.
    """
    params = StepParams(batch_size=batch_size, reassignment_ratio=reassignment_ratio)
    return minibatch_block(X, sample_weight, replace(state, converged=False), params)
