"""Mini-batch k-means, the step rules: the state a step carries, scikit-learn's update,
reassignment and convergence monitor, and all the steps over one block.

Pure functions of (state, block): `minibatch_block` returns a new state and never
changes the one it is given, so dask may run it anywhere, and rerun it. The passes that
deal X's blocks to it, and the initial state, are in minibatch.py.
"""

import logging
from dataclasses import dataclass, replace

import numpy as np

from .. import kernels
from ._blocks import as_block, as_weight
from ._frame import Frame
from ._limits import one_blas_thread
from ._rows import squared_norms
from ._sparse import csr_args, is_sparse, take_rows
from ._unit import check_nonzero_rows, unit_centers_in, unit_rows

logger = logging.getLogger("chunkml")

# Streams of the draws: rows a reassigned center moves to; the order of a block's rows.
_REASSIGN, _SHUFFLE = 0, 1


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
    # "cosine": the rows of each batch read as unit vectors, the centers renormalised to
    # unit length after every step (spherical mini-batch k-means, see _unit.py).
    metric: str = "euclidean"


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
    # What the printed inertias are in the metric's cost (cosine: ||x - c||^2 / 2).
    cost = 0.5 if params.metric == "cosine" else 1.0
    # The first batch measures the initial centers, not the optimisation.
    if state.fit_steps == 1:
        if params.verbose:
            print(f"Minibatch step {step}: mean batch inertia: "
                  f"{state.frame.restore_squared(batch_inertia) * cost}")
        return
    if state.ewa_inertia is None:
        state.ewa_inertia = batch_inertia
    else:
        alpha = min(n_rows * 2.0 / (params.n_samples + 1), 1.0)
        state.ewa_inertia = state.ewa_inertia * (1 - alpha) + batch_inertia * alpha
    if params.verbose:
        print(f"Minibatch step {step}: mean batch inertia: "
              f"{state.frame.restore_squared(batch_inertia) * cost}, ewa inertia: "
              f"{state.frame.restore_squared(state.ewa_inertia) * cost}")
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
    if params.metric == "cosine":
        centers = unit_centers_in(state.frame)(centers, state.scaled_centers)
    shift = (float(((centers - state.scaled_centers) ** 2).sum()) if params.tol > 0
             else 0.0)
    state.scaled_centers = centers
    state.n_steps += 1
    if params.monitor:
        batch_weight = float(n_rows if w.shape[0] == 0 else w.sum())
        _monitor(state, batch_inertia, batch_weight, n_rows, shift, params)


@one_blas_thread
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
    cosine = params.metric == "cosine"
    if cosine:
        check_nonzero_rows(X)
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
        if cosine:
            # A batch at a time: X itself is never copied whole.
            X_batch = unit_rows(X_batch)
        _step(state, X_batch, w_batch, params, labels, mindist)
    return state
