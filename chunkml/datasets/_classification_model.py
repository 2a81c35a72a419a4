"""make_classification's model: the small arrays drawn once on the driver (hypercube
vertices, covariance transforms, redundant combinations, column positions, class
weights) that every row block reads."""

import numpy as np

from ._random import _model_rng


def _hypercube_vertices(n_vertices, n_dims, rng):
    """``n_vertices`` distinct vertices of the unit hypercube {0, 1}**n_dims.

    As scikit-learn's ``_generate_hypercube``: beyond 30 dimensions the extra
    coordinates are free coin flips, distinctness coming from the last 30.
    """
    if n_dims > 30:
        extra = rng.integers(2, size=(n_vertices, n_dims - 30))
        return np.hstack([extra, _hypercube_vertices(n_vertices, 30, rng)])
    codes = rng.choice(2**n_dims, size=n_vertices, replace=False)
    shifts = np.arange(n_dims - 1, -1, -1, dtype=np.int64)
    return (codes[:, np.newaxis] >> shifts) & 1


def _classification_model(
    entropy, *, n_features, n_informative, n_redundant, n_repeated, n_classes,
    n_clusters_per_class, class_weights, class_sep, hypercube, shift, scale, shuffle,
):
    """Draw the small arrays that every block of make_classification shares.

    Follows the order of scikit-learn's construction; returns a dict of numpy
    arrays whose column indices already point into the (permuted) output. The
    parameters after ``entropy`` are make_classification's, validated, passed by
    name (class_weights: ``_check_class_weights``'s).
    """
    rng = _model_rng(entropy)
    n_clusters = n_classes * n_clusters_per_class

    centroids = _hypercube_vertices(n_clusters, n_informative, rng).astype(np.float64)
    centroids *= 2 * class_sep
    centroids -= class_sep
    if not hypercube:
        centroids *= rng.uniform(size=(n_clusters, 1))
        centroids *= rng.uniform(size=(1, n_informative))

    # One random covariance transform per cluster, uniform in [-1, 1).
    covariances = 2 * rng.uniform(size=(n_clusters, n_informative, n_informative)) - 1
    redundant = 2 * rng.uniform(size=(n_informative, n_redundant)) - 1
    n_copied = n_informative + n_redundant
    repeated_from = ((n_copied - 1) * rng.uniform(size=n_repeated) + 0.5).astype(
        np.int64
    )

    if shift is None:
        shift = (2 * rng.uniform(size=n_features) - 1) * class_sep
    if scale is None:
        scale = 1 + 100 * rng.uniform(size=n_features)

    # As scikit-learn: output column j holds constructed column order[j].
    order = np.arange(n_features)
    if shuffle:
        rng.shuffle(order)
    position = np.argsort(order)

    # Cluster k belongs to class k % n_classes and shares its class's weight.
    cluster_weights = class_weights[np.arange(n_clusters) % n_classes]
    cumulative = np.cumsum(cluster_weights)
    cumulative /= cumulative[-1]
    cumulative[-1] = 1.0

    return {
        "cumulative": cumulative,
        "n_classes": n_classes,
        "centroids": centroids,
        "covariances": covariances,
        "redundant": redundant,
        "informative_cols": position[:n_informative],
        "redundant_cols": position[n_informative:n_copied],
        "repeated_cols": position[n_copied : n_copied + n_repeated],
        "repeated_from_cols": position[repeated_from],
        "useless_cols": position[n_copied + n_repeated :],
        "shift": np.asarray(shift, dtype=np.float64)[order],
        "scale": np.asarray(scale, dtype=np.float64)[order],
    }


def _check_class_weights(weights, n_classes):
    """Class probabilities from scikit-learn's ``weights`` convention."""
    if weights is None:
        return np.full(n_classes, 1.0 / n_classes)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or weights.shape[0] not in (n_classes, n_classes - 1):
        raise ValueError(
            "Weights specified but incompatible with number of classes: "
            f"expected length {n_classes} or {n_classes - 1} for "
            f"n_classes={n_classes}, got shape {weights.shape}."
        )
    if weights.shape[0] == n_classes - 1:
        weights = np.append(weights, 1.0 - weights.sum())
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            f"weights must be finite and non-negative (the last class gets "
            f"1 - sum(weights) when n_classes - 1 are given), got {weights}."
        )
    if weights.sum() <= 0:
        raise ValueError("weights must not all be zero.")
    return weights / weights.sum()
