"""The Lloyd driver loop: one pass over X per iteration, scikit-learn's semantics."""

import logging

import numpy as np

from .. import kernels
from . import progress

logger = logging.getLogger("chunkml")


class NonFiniteInputError(ValueError):
    """X holds NaN or infinity (found inside the first pass over it)."""


def check_first_pass(n_clusters, n_samples, moments, min_weight, total_weight,
                     inertia=0.0):
    """The checks a lazy input gets in the first pass over it, instead of a pass of its own."""
    if n_samples == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if n_samples < n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
    # X first (the moments do not involve the weights), then the weights, then what
    # involves both: so each error names the input at fault.
    too_large_X = NonFiniteInputError(
        "Input X contains NaN or infinity (or values too large for float64 squared "
        "distances).")
    if not np.all(np.isfinite(moments)):
        raise too_large_X
    if not min_weight >= 0:
        raise ValueError("sample_weight must be non-negative and finite; found "
                         f"{min_weight}.")
    if not np.isfinite(total_weight):
        raise ValueError(
            "Input sample_weight contains infinity, or weights so large that their sum "
            "overflows float64.")
    if not total_weight > 0:
        raise ValueError("sample_weight sums to zero; at least one weight must be positive.")
    if not np.isfinite(inertia):
        # X is finite and measured in a frame of about unit size (see _frame.py): with
        # weights above 1 on average, they make the weighted squared distances overflow.
        if total_weight > n_samples:
            raise ValueError(
                "sample_weight too large: the weighted sum of squared distances "
                f"overflows float64 (the weights sum to {total_weight:.3g}).")
        raise too_large_X


def scaled_tol(tol, n_samples, moments):
    """scikit-learn's tolerance: tol times the mean over features of the variance of X,
    from (mean, M2) rows (in the units they were measured in: a Lloyd pass's frame)."""
    if tol == 0 or n_samples == 0:
        return 0.0
    return float(tol * np.mean(moments[1] / n_samples))


def update_centers(partial, centers_old):
    """New centers from a Lloyd partial, relocating empty clusters first.

    As scikit-learn: when some row is away from its center, each empty cluster, in
    increasing order, takes the next of the rows farthest from their center (the
    partial's far rows: largest distance first, equal distances by row id), which leaves
    the cluster it was summed into. A cluster that stays empty keeps its old center
    (scikit-learn moves it to the largest cluster's), and one that gets a row of zero
    weight takes that row (scikit-learn: the origin).

    Parameters
    ----------
    partial : LloydPartial
        Of a pass with `centers_old`, in the same frame.
    centers_old : ndarray of shape (n_clusters, n_features), float64

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    """
    sums = partial.sums.copy()
    weight = partial.weight.copy()
    empty = np.flatnonzero(weight == 0)
    moved = {}
    if empty.size and partial.far_dist.size and partial.far_dist[0] > 0:
        for far, new_id in enumerate(empty[:partial.far_dist.shape[0]]):
            x, w, old_id = partial.far_X[far], partial.far_weight[far], partial.far_label[far]
            sums[old_id] -= w * x
            weight[old_id] -= w
            sums[new_id] = w * x
            weight[new_id] = w
            moved[new_id] = x
    centers = centers_old.copy()
    filled = weight > 0
    centers[filled] = sums[filled] / weight[filled, None]
    for new_id, x in moved.items():
        if weight[new_id] <= 0:
            centers[new_id] = x
    return centers


# How far the centers moved before the first pass of a fit: nowhere (the rows have no
# bounds yet; each is compared with every center).
NO_DRIFT = (np.empty(0, dtype=np.int64), np.empty(0), 0.0)

# Relative slack on the drifts handed to the bounded passes: more than float64 rounding
# of a distance (a bound too small only costs a comparison; one too large, a label).
_DRIFT_SLACK = 1e-9


def center_drift(old, new):
    """(movers, mover_drift, rest_drift) of centers moving from `old` to `new`, for
    `kernels.bounded_lloyd_partial_sums`: the ids of the centers that moved most,
    farthest first, upper bounds on their distances moved, and one on every other
    center's (inf where a move is not finite)."""
    with np.errstate(over="ignore", invalid="ignore"):
        drift = np.sqrt(((new - old) ** 2).sum(axis=1)) * (1.0 + _DRIFT_SLACK)
    drift = np.where(np.isnan(drift), np.inf, drift)
    _, n_movers = kernels.bounds_shape(drift.shape[0])
    order = np.argsort(-drift, kind="stable")
    movers = order[:n_movers]
    rest = float(drift[order[n_movers]]) if drift.shape[0] > n_movers else 0.0
    return movers.astype(np.int64), np.ascontiguousarray(drift[movers]), rest


class FrameMismatch(Exception):
    """The first Lloyd pass found that X is not represented well in the rows' frame
    (`Frame.suits`): the frame must come from X itself, by a pass that measures it."""


def print_iteration(frame, n_iter, inertia, shift, tol_abs, converged, cost_factor=1.0):
    """scikit-learn's verbose lines of one Lloyd iteration (its _kmeans_single_lloyd),
    in X's units: iterations count from 0, as scikit-learn's do."""
    inertia = frame.restore_squared(inertia) * cost_factor
    print(f"Iteration {n_iter - 1}, inertia {inertia}.")
    if not converged:
        return
    if shift == 0:
        print(f"Converged at iteration {n_iter - 1}: strict convergence.")
    else:
        print(f"Converged at iteration {n_iter - 1}: center shift "
              f"{frame.restore_squared(shift)} within tolerance "
              f"{frame.restore_squared(tol_abs)}.")


def lloyd(rows, centers, *, max_iter, tol, tol_abs=None, check_frame=False,
          name="Lloyd", report=False, verbose=False, project=None, cost_factor=1.0):
    """Run Lloyd iterations from `centers` until convergence or `max_iter`.

    Everything happens in the rows' frame (see _frame.py): centers, shifts, tol and the
    results are in its units.

    Parameters
    ----------
    rows : Passes (passes.py), e.g. NumpyRows or DaskRows
    centers : ndarray of shape (n_clusters, n_features), float64, in the rows' frame
    max_iter : int
    tol : float
        Relative tolerance; convergence when the summed squared center shift is
        <= tol * mean(variance of each feature of X).
    tol_abs : float or None
        That bound in the frame's units, from an earlier pass over X; when None the
        first Lloyd pass measures X for it (and checks X for NaN/inf).
    check_frame : bool
        Raise FrameMismatch, before any other check, when the first pass (which then
        measures X) finds that X does not suit the rows' frame (one chosen from the
        initial centers, without having seen X).
    name : str
        How the DEBUG log line of each iteration names this loop.
    report : bool
        Report each iteration as a "lloyd" step of a KMeans fit (see progress.py).
    verbose : bool
        Also print scikit-learn's verbose lines (`print_iteration`).
    project : callable or None
        ``project(new_centers, old_centers)`` -> the centers the next pass uses, applied
        after every update, before the shift is measured: spherical k-means's
        renormalisation (_unit.unit_centers_in). None: the updated centers as they are.
    cost_factor : float
        The metric's cost per unit of squared distance, for the inertia that progress
        reports and verbose lines show (0.5 for cosine: ||x - c||^2 = 2 (1 - cos)); the
        returned inertia is the squared distances' own.

    Returns
    -------
    centers, inertia, n_iter, labels, n_distinct
        labels are a numpy array in memory and a lazy dask array on dask (`rows.final`).
    """
    n_clusters = centers.shape[0]
    partial = None
    shift = np.inf
    n_iter = 0
    # Where the kernels choose it, every pass carries per-row bounds to the next one
    # (same labels and results as plain passes; the passes after the first skip the
    # rows whose label the bounds settle).
    bounded = kernels.use_bounds(rows.n_features, n_clusters)
    bounds, drift = None, NO_DRIFT
    for n_iter in range(1, max_iter + 1):
        first = tol_abs is None
        if bounded:
            bounds, partial = rows.bounded_lloyd(bounds, centers, drift, n_far=n_clusters,
                                                 with_moments=first)
        else:
            partial = rows.lloyd(centers, n_far=n_clusters, with_moments=first)
        if first:
            if check_frame and not rows.frame.suits(partial.n_samples, partial.moments):
                raise FrameMismatch
            check_first_pass(n_clusters, partial.n_samples, partial.moments,
                             partial.min_weight, partial.weight.sum(), partial.inertia)
            tol_abs = scaled_tol(tol, partial.n_samples, partial.moments)
        new_centers = update_centers(partial, centers)
        if project is not None:
            new_centers = project(new_centers, centers)
        # An init far from X (1e300) moves by more than float64 squares: the shift is
        # inf (not converged), which is right, and no RuntimeWarning for the user.
        with np.errstate(over="ignore"):
            shift = float(((new_centers - centers) ** 2).sum())
        logger.debug("%s iteration %d: inertia %.9g, center shift %.9g%s", name, n_iter,
                     partial.inertia, shift,
                     "" if partial.n_compared < 0 else
                     f", {partial.n_compared} of {partial.n_samples} rows compared with "
                     "every center")
        if report and progress.active():
            progress.report("step", "KMeans", "lloyd", n_iter, max_iter,
                            inertia=rows.frame.restore_squared(partial.inertia)
                            * cost_factor,
                            shift=rows.frame.restore_squared(shift),
                            tol=rows.frame.restore_squared(tol_abs))
        if verbose:
            print_iteration(rows.frame, n_iter, partial.inertia, shift, tol_abs,
                            shift <= tol_abs, cost_factor)
        if bounded:
            drift = center_drift(centers, new_centers)
        centers = new_centers
        if shift <= tol_abs:
            break
    # When no center moved, the last pass already measured the final centers.
    last = partial if shift == 0 else None
    labels, inertia, n_distinct = rows.final(centers, last_partial=last)
    return centers, inertia, n_iter, labels, n_distinct
