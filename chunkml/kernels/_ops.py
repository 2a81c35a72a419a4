"""The public kernels: one function per operation, each with ``parallel=False``.

Each asks `_dispatch.variant` which compiled loop runs for the block (by its shape and
dtype; ``parallel=True`` for in-memory numpy input only, never inside dask tasks) and
runs it. Every dense one reads X in the frame (shift, scale), see _rowwise.py.
"""

import numpy as np

from . import minibatch as _minibatch
from . import sampling as _sampling
from ._dispatch import gemm_rows, read_only, squared_norms, variant
from .sampling import key_rows, start_round


def lloyd_partial_sums(X, shift, scale, centers, sample_weight, out_sums, out_weight,
                       out_moments, out_far_dist, out_far_idx, out_far_label, parallel=False):
    """Fused assign + accumulate for one block; returns the block's weighted inertia.

    Every row x is read as x' = (x - shift) * scale, and every output is in those units.

    Parameters
    ----------
    X : (n, d) float32|float64, IN, C-contiguous. May have 0 rows.
    shift : (d,) float64, IN; scale : float, a power of two. The frame.
    centers : (k, d) float64, IN, in the frame.
    sample_weight : (n,) float64, IN; or (0,) meaning unit weights.
    out_sums : (k, d) float64, INOUT (added to): weighted sum of the rows x' of each
        cluster.
    out_weight : (k,) float64, INOUT (added to): total weight of each cluster.
    out_moments : (2, d) float64, OUT (overwritten): per-feature unweighted mean and sum of
        squared deviations (M2) of the block, for scikit-learn's variance-scaled tol; or
        (0, d) to skip them.
    out_far_dist, out_far_idx, out_far_label : (m,) float64 / int64 / int64, OUT
        (overwritten): the m rows farthest from their nearest center (squared distance,
        row index in the block, the label the row was summed under), largest first not
        guaranteed; unused slots hold -1. Empty clusters are relocated to these rows
        without another pass.
    parallel : bool
        The in-memory variant: parallel over fixed row chunks, each writing its own
        partial buffers, then merged serially, so no two threads ever add into the same
        cluster sum.

    Returns
    -------
    inertia : float
        Sum over rows of weight * squared distance to the nearest center (clamped at 0).
        NaN or inf in X makes it non-finite, which is how callers detect such input.
    """
    v = variant("lloyd_partial_sums", X.shape[1], centers.shape[0], parallel, X.dtype)
    return v(X, shift, scale, centers, sample_weight, out_sums, out_weight, out_moments,
             out_far_dist, out_far_idx, out_far_label, *v.method_args(shift, centers))


def bounded_lloyd_partial_sums(X, shift, scale, centers, sample_weight, movers,
                               mover_drift, rest_drift, candidates, lower, out_sums, out_weight,
                               out_moments, out_far_dist, out_far_idx, out_far_label,
                               parallel=False):
    """`lloyd_partial_sums` that skips the rows whose nearest center per-row bounds
    prove (bounds.py); returns (inertia, rows compared with every center).

    The outputs from `out_sums` on, and the labels they come from, are
    `lloyd_partial_sums`'s for the same block and centers (bit for bit, serial or
    parallel alike), whatever the state, as long as the state is one these passes left
    and movers / rest_drift describe how far the centers moved since.

    Parameters
    ----------
    X, shift, scale, centers, sample_weight : as `lloyd_partial_sums`; X has at least
        `_dispatch.GEMM_MIN_FEATURES` features.
    movers : (b,) int64, IN: ids of the centers that moved most, by decreasing drift
        (measured exactly where their drift leaves a row's bound too low).
    mover_drift : (b,) float64, IN: upper bounds on their drifts, non-increasing.
    rest_drift : float
        An upper bound, in the frame's units, on the distance by which every other
        center moved since the pass that left the state (0 for the first pass).
    candidates : (n, m) int32, INOUT: per row, the m centers nearest to it when it was
        last compared with every center (m from `_dispatch.bounds_shape`, at most k).
    lower : (n,) float64, INOUT: per row, a lower bound on its distance to every center
        not among its candidates, before the move; -inf for a row without state (every
        row, on the first pass), which is then compared with every center.
    out_sums, out_weight, out_moments, out_far_dist, out_far_idx, out_far_label :
        as `lloyd_partial_sums`.
    parallel : bool
        The in-memory variant (fixed row chunks on threads, as `lloyd_partial_sums`).
    """
    v = variant("bounded_lloyd_partial_sums", X.shape[1], centers.shape[0], parallel,
                X.dtype)
    inertia, n_compared = v(X, shift, scale, centers, sample_weight, movers, mover_drift,
                            float(rest_drift), candidates, lower, out_sums, out_weight,
                            out_moments, out_far_dist, out_far_idx, out_far_label,
                            gemm_rows(centers.shape[0]))
    return float(inertia), int(n_compared)


def assign_labels(X, shift, scale, centers, out_labels, out_mindist, parallel=False):
    """Label every row with its nearest center and that center's squared distance.

    X (n, d) float32|float64 IN, C-contiguous; shift (d,) float64 and scale (float) IN,
    the frame; centers (k, d) float64 IN, in that frame; out_labels (n,) int32|int64 OUT
    (overwritten); out_mindist (n,) float64 OUT (overwritten), in the frame's units, exact
    squared distances, or (0,) to keep none (labels only: no row-sized write). A row
    holding NaN gets label 0 and a non-finite distance (NaN; inf on the tiled method,
    where no center compares closer than the starting inf). `parallel`: the in-memory
    variant, parallel over fixed row chunks.

    Returns
    -------
    total : float
        The sum of the squared distances (non-finite when one of them is).
    """
    v = variant("assign_labels", X.shape[1], centers.shape[0], parallel, X.dtype)
    return v(X, shift, scale, centers, out_labels, out_mindist,
             *v.method_args(shift, centers))


def euclidean_distances(X, shift, scale, centers, out, parallel=False):
    """Euclidean distance from every row to every center, in X's units.

    X (n, d) float32|float64 IN; shift (d,) float64, scale (float) IN: the frame;
    centers (k, d) float64 IN, in that frame; out (n, k) float32|float64 OUT
    (overwritten): the frame's distances divided by scale. `parallel`: the in-memory
    variant, parallel over fixed row chunks.
    """
    variant("euclidean_distances", X.shape[1], centers.shape[0], parallel, X.dtype)(
        X, shift, scale, centers, out)


def update_mindist_sample(X, shift, scale, new_centers, first_id, mindist, nearest,
                          sample_weight, seed, stream, row_offset, exponential, out_mindist,
                          out_nearest, out_top_key, out_top_idx, parallel=False):
    """One k-means|| (or k-means++) round for a block; returns its weighted cost phi.

    Updates each row's squared distance to the candidate set, and the id of its nearest
    candidate, against the NEW candidates only; then gives the row the sampling key
    p / u (k-means||: the row is drawn iff u < l * p / phi, i.e. iff its key exceeds
    phi / l) or p / -log(u) (k-means++: the largest key is a draw proportional to p),
    where p = weight * distance. The distances come from the method `_dispatch.py`
    chooses for X's width and the number of new candidates.

    Parameters
    ----------
    X : (n, d) float32|float64, IN, C-contiguous.
    shift : (d,) float64, scale : float, IN. The frame: distances, phi and keys are in
        its units.
    new_centers : (c, d) float64, IN, in the frame: candidates added since `mindist` was
        computed.
    first_id : int
        Id of new_centers[0]; the others follow in order.
    mindist : (n,) float64, IN: squared distance to the earlier candidates; or (0,) when
        there were none (infinite distance).
    nearest : (n,) int64, IN: id of the nearest earlier candidate; (0,) when none.
    sample_weight : (n,) float64, IN; or (0,) for unit weights.
    seed, stream, row_offset : int
        The draw of row i is counter_uniform(seed, stream, row_offset + i).
    exponential : bool
        Exponential keys (k-means++) instead of uniform ones (k-means||).
    out_mindist : (n,) float64, OUT (overwritten): updated squared distances.
    out_nearest : (n,) int64, OUT (overwritten): updated nearest candidate ids (-1 while
        there is no candidate). A row moves only to a strictly closer candidate; among
        equally close new ones, the first.
    out_top_key, out_top_idx : (m,) float64 / int64, OUT: the largest keys and their block
        row indices, -1 in unused slots; rows with p == 0 are never kept. m may be 0.
    parallel : bool
        Measure the distances in parallel over fixed row chunks (in-memory X only).

    Returns
    -------
    phi : float
        Sum over rows of weight * updated squared distance.
    """
    start_round(mindist, nearest, out_mindist, out_nearest)
    # A private copy of the candidates: no output store can alias it.
    candidates = np.array(new_centers, dtype=np.float64)
    v = variant("update_mindist_sample", X.shape[1], candidates.shape[0], parallel, X.dtype)
    v(X, shift, scale, candidates, first_id, out_mindist, out_nearest,
      *v.method_args(shift, candidates))
    return key_rows(out_mindist, sample_weight, seed, stream, row_offset, exponential,
                    out_top_key, out_top_idx)


def sparse_lloyd_partial_sums(data, indices, indptr, scale, centers, sample_weight,
                              out_sums, out_weight, out_moments, out_far_dist, out_far_idx,
                              out_far_label, parallel=False):
    """`lloyd_partial_sums` for a CSR block (see sparse.py): the same outputs, for rows
    read as x' = x * scale. out_moments counts the implicit zeros. With `parallel`, rows
    are assigned in parallel and accumulated serially: the serial kernel's results, bit
    for bit."""
    v = variant("sparse_lloyd_partial_sums", centers.shape[1], centers.shape[0], parallel,
                data.dtype)
    return v(data, indices, indptr, scale, centers, squared_norms(centers), sample_weight,
             out_sums, out_weight, out_moments, out_far_dist, out_far_idx, out_far_label)


def sparse_assign_labels(data, indices, indptr, scale, centers, out_labels, out_mindist,
                         parallel=False):
    """Nearest center of every CSR row and its squared distance (in the frame's units).

    out_labels (n,) int32|int64 OUT, out_mindist (n,) float64 OUT (overwritten)."""
    variant("sparse_assign_labels", centers.shape[1], centers.shape[0], parallel,
            data.dtype)(data, indices, indptr, scale, centers, squared_norms(centers), out_labels,
                        out_mindist)


def sparse_euclidean_distances(data, indices, indptr, scale, centers, out, parallel=False):
    """Euclidean distance from every CSR row to every center, in X's units.

    centers (k, d) float64 IN, in the frame; out (n, k) float32|float64 OUT
    (overwritten): sqrt(max(||x'||^2 - 2 x'.c + ||c||^2, 0)) / scale, as scikit-learn's
    euclidean_distances computes it for sparse X."""
    variant("sparse_euclidean_distances", centers.shape[1], centers.shape[0], parallel,
            data.dtype)(data, indices, indptr, scale, centers, squared_norms(centers), out)


def sample_rows(X, sample_weight, seed, stream, row_offset, out_stats, out_top_key,
                out_top_idx):
    """`sampling.sample_rows` (its arguments and outputs are documented there), with X
    and sample_weight read through read-only views: one compiled signature whether a
    block is writeable or not (a memory map, zarr's blocks), as `Variant.__call__`."""
    return _sampling.sample_rows(read_only(X), read_only(sample_weight), seed, stream,
                                 row_offset, out_stats, out_top_key, out_top_idx)


def minibatch_step(X, shift, scale, sample_weight, centers, centers_sqnorm, weight_sums,
                   out_centers, out_labels, out_mindist):
    """`minibatch.minibatch_step` (documented there), every input read through a
    read-only view (see `sample_rows`)."""
    return _minibatch.minibatch_step(
        read_only(X), read_only(shift), scale, read_only(sample_weight),
        read_only(centers), read_only(centers_sqnorm), weight_sums, out_centers,
        out_labels, out_mindist)
