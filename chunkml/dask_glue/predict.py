"""Outputs of fitted centers: labels, distances, inertia, for numpy, sparse or dask X.

The frame is the centers' (`framed`), so that predictions do not depend on the data
they are asked about.
"""

import dask.array as da
import numpy as np

from ._blocks import (
    inertia_block,
    labels_block,
    labels_of,
    labels_only_block,
    transform_block,
)
from ._frame import Frame
from ._input import is_dask_collection, make_rows, prepare_dask, prepare_input
from ._dask_rows import LABELS_NAME, per_row_block, sum_rows
from ._rows import use_parallel, weighted_total
from ._sparse import is_sparse, is_sparse_dask
from ._unit import UnitNumpyRows, check_metric, cosine_distances, unit_input

# What a Lloyd inertia (sum of w ||x - c||^2) is in the metric's cost: for unit x and c,
# ||x - c||^2 = 2 (1 - cos(x, c)).
COST_FACTOR = {"euclidean": 1.0, "cosine": 0.5}


def framed(centers, X):
    """(frame, centers in it) for the outputs of a fitted model: the frame of its
    centers, so that predictions do not depend on the data they are asked about
    (without shift for sparse X, see _sparse.py)."""
    centers = np.asarray(centers, dtype=np.float64)
    frame = Frame.from_points(centers)
    if is_sparse(X) or is_sparse_dask(X):
        frame = frame.unshifted()
    return frame, frame.apply(centers)


def checked_metric(X, metric):
    check_metric(metric)


def predict_labels(X, centers, metric="euclidean"):
    """Nearest-center labels (int32): numpy for numpy X, lazy dask for dask X. For
    "cosine" (unit centers): the center of largest cosine similarity."""
    checked_metric(X, metric)
    X, _ = prepare_input(X)
    return prepared_labels(X, centers, metric)


def prepared_labels(X, centers, metric="euclidean"):
    """`predict_labels` of X as `prepare_input` returns it."""
    frame, centers = framed(centers, X)
    shift, scale = frame.args
    if metric == "cosine":
        if not (is_dask_collection(X) or is_sparse(X)):
            return UnitNumpyRows(X, frame=frame).labels_mindist(centers)[0]
        X = unit_input(X)
    if is_dask_collection(X):
        return per_row_block(labels_only_block, X, shift=shift, scale=scale,
                             centers=centers, dtype=np.int32,
                             meta=np.empty(0, dtype=np.int32), token=LABELS_NAME)
    return labels_of(X, shift, scale, centers, parallel=use_parallel(X))[0]


def transform_distances(X, centers, metric="euclidean"):
    """Distances to every center, in X's dtype; lazy for dask X: Euclidean, or for
    "cosine" (unit centers) 1 - cos(x, c)."""
    checked_metric(X, metric)
    if metric == "cosine":
        if is_dask_collection(X):
            X, _ = prepare_dask(X)
        return cosine_distances(X, centers)
    frame, centers = framed(centers, X)
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
    checked_metric(X, metric)
    X, sample_weight = prepare_input(X, sample_weight)
    return prepared_inertia(X, centers, sample_weight, metric)


def prepared_inertia(X, centers, sample_weight=None, metric="euclidean"):
    """`inertia` of X and weights as `prepare_input` returns them."""
    frame, centers = framed(centers, X)
    shift, scale = frame.args
    factor = COST_FACTOR[metric]
    if metric == "cosine":
        if not (is_dask_collection(X) or is_sparse(X)):
            rows = UnitNumpyRows(X, sample_weight, frame=frame)
            _, total, _ = rows.final(centers)
            return frame.restore_squared(total) * factor
        X = unit_input(X)
    if is_dask_collection(X):
        weight = (None, None) if sample_weight is None else (sample_weight, "i")
        per_block = da.blockwise(inertia_block, "ij", X, "ij", *weight,
                                 adjust_chunks={"i": 1, "j": 1}, dtype=np.float64,
                                 meta=np.empty((0, 0)), shift=shift, scale=scale,
                                 centers=centers, token="chunkml-inertia")
        total = sum_rows(per_block, "chunkml-inertia", axis=None)
        return frame.restore_squared(float(total.compute())) * factor
    _, mindist = labels_block(X, shift, scale, centers, parallel=use_parallel(X))
    return frame.restore_squared(weighted_total(mindist, sample_weight)) * factor


def labels_and_inertia(X, centers, sample_weight, metric="euclidean"):
    """(labels, inertia, n_distinct) of final centers on X as `prepare_input` returns it:
    one pass for numpy X; lazy labels and a computed inertia for dask X (whose
    n_distinct is None: it would need the labels)."""
    if is_dask_collection(X):
        return (prepared_labels(X, centers, metric),
                prepared_inertia(X, centers, sample_weight, metric), None)
    frame, centers = framed(centers, X)
    if metric == "cosine" and not is_sparse(X):
        labels, total, n_distinct = UnitNumpyRows(X, sample_weight, frame=frame).final(
            centers)
    else:
        rows = make_rows(X, sample_weight, metric)
        rows.frame = frame
        labels, total, n_distinct = rows.final(centers)
    return labels, frame.restore_squared(total) * COST_FACTOR[metric], n_distinct

