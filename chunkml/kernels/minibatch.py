"""The mini-batch k-means step (Sculley 2010), as scikit-learn's `_minibatch_update_dense`.

Each center keeps the total weight of the rows it has absorbed so far; a batch moves it to
the weighted mean of its old position (weighted by that total) and its new rows, so its
learning rate is the batch's share of everything the center has seen.
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH
from .distances import assign_rows


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def minibatch_update(X, shift, scale, sample_weight, labels, centers, weight_sums,
                     out_centers):
    """Move every center to the weighted mean of its old position and its new rows.

    Parameters
    ----------
    X : (n, d) float32|float64, IN. May have 0 rows.
    shift : (d,) float64, scale : float, IN. The frame (see _rowwise.py) of the centers:
        row x counts as x' = (x - shift) * scale.
    sample_weight : (n,) float64, IN; or (0,) meaning unit weights.
    labels : (n,) int32|int64, IN: the center of each row, in [0, k).
    centers : (k, d) float64, IN: centers before the batch.
    weight_sums : (k,) float64, INOUT (added to): total weight each center has absorbed.
    out_centers : (k, d) float64, OUT (overwritten): centers after the batch. A center
        whose rows in the batch weigh 0 in total keeps its position. Must not be
        `centers` itself.
    """
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    # float64 accumulators, whatever X's dtype, so float32 batches lose nothing here.
    sums = np.zeros((n_clusters, n_features))
    batch_weight = np.zeros(n_clusters)
    for i in range(n_samples):
        j = labels[i]
        w = 1.0 if unit_weight else sample_weight[i]
        for f in range(n_features):
            sums[j, f] += w * ((X[i, f] - shift[f]) * scale)
        batch_weight[j] += w
    for j in range(n_clusters):
        if batch_weight[j] > 0:
            total = weight_sums[j] + batch_weight[j]
            # As scikit-learn: undo the old mean, add the batch, rescale by the new total.
            alpha = 1.0 / total
            for f in range(n_features):
                out_centers[j, f] = (centers[j, f] * weight_sums[j] + sums[j, f]) * alpha
            weight_sums[j] = total
        else:
            for f in range(n_features):
                out_centers[j, f] = centers[j, f]


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def minibatch_step(X, shift, scale, sample_weight, centers, centers_sqnorm, weight_sums,
                   out_centers, out_labels, out_mindist):
    """Assign a batch to its nearest centers, then update them; returns the batch inertia.

    Parameters
    ----------
    X : (n, d) float32|float64, IN. May have 0 rows.
    shift : (d,) float64, scale : float, IN. The frame (see _rowwise.py) of the centers,
        the distances and the inertia.
    sample_weight : (n,) float64, IN; or (0,) meaning unit weights.
    centers : (k, d) float64, IN.
    centers_sqnorm : (k,) float64, IN. Squared norms of `centers`.
    weight_sums : (k,) float64, INOUT (added to), as in `minibatch_update`.
    out_centers : (k, d) float64, OUT (overwritten); not `centers` itself.
    out_labels : (n,) int32|int64, OUT (overwritten): nearest center of each row, before
        the update.
    out_mindist : (n,) float64, OUT (overwritten): squared distance to that center.

    Returns
    -------
    inertia : float
        Sum over rows of weight * squared distance to the nearest center before the
        update (scikit-learn's batch inertia). Non-finite for NaN or inf in X.
    """
    assign_rows(X, shift, scale, centers, centers_sqnorm, out_labels, out_mindist)
    unit_weight = sample_weight.shape[0] == 0
    inertia = 0.0
    for i in range(X.shape[0]):
        w = 1.0 if unit_weight else sample_weight[i]
        inertia += w * out_mindist[i]
    minibatch_update(X, shift, scale, sample_weight, out_labels, centers, weight_sums,
                     out_centers)
    return inertia
