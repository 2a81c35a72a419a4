"""make_classification: an n-class problem of Gaussian clusters, and the functions
that generate one row block from the model drawn on the driver."""

import numbers

import numpy as np

from ._blocks import _lazy_pair, _row_chunks
from ._classification_model import _check_class_weights, _classification_model
from ._random import _STREAM_FEATURES, _STREAM_FLIP, _STREAM_LABELS, _block_rng, _entropy
from ._validation import _check_bool, _check_int, _check_real, _check_vector


def _classification_clusters(entropy, model, rows, block_id):
    """Cluster index of every row of one block, drawn with the cluster weights."""
    block_index = block_id[0]
    rng = _block_rng(entropy, block_index, _STREAM_LABELS)
    uniform = rng.random(int(rows[block_index]))
    return np.searchsorted(model["cumulative"], uniform, side="right")


def _classification_X_block(entropy, model, flip_y, rows, n_features, block_id=None):
    """One row block of make_classification's X: float64 (rows[i], n_features)."""
    clusters = _classification_clusters(entropy, model, rows, block_id)
    n_rows = clusters.shape[0]
    centroids = model["centroids"]
    covariances = model["covariances"]
    rng = _block_rng(entropy, block_id[0], _STREAM_FEATURES)

    informative = rng.standard_normal((n_rows, centroids.shape[1]))
    # Group rows by cluster so each cluster costs one matrix product.
    by_cluster = np.argsort(clusters, kind="stable")
    bounds = np.searchsorted(clusters[by_cluster], np.arange(centroids.shape[0] + 1))
    for k in range(centroids.shape[0]):
        members = by_cluster[bounds[k] : bounds[k + 1]]
        if members.shape[0]:
            informative[members] = informative[members] @ covariances[k] + centroids[k]

    X = np.empty((n_rows, n_features), dtype=np.float64)
    X[:, model["informative_cols"]] = informative
    if model["redundant_cols"].shape[0]:
        X[:, model["redundant_cols"]] = informative @ model["redundant"]
    if model["repeated_cols"].shape[0]:
        X[:, model["repeated_cols"]] = X[:, model["repeated_from_cols"]]
    n_useless = model["useless_cols"].shape[0]
    if n_useless:
        X[:, model["useless_cols"]] = rng.standard_normal((n_rows, n_useless))
    X += model["shift"]
    X *= model["scale"]
    return X


def _classification_y_block(entropy, model, flip_y, rows, block_id=None):
    """One row block of make_classification's y: int64 of shape (rows[i],)."""
    clusters = _classification_clusters(entropy, model, rows, block_id)
    n_classes = model["n_classes"]
    y = (clusters % n_classes).astype(np.int64)
    if flip_y > 0:
        rng = _block_rng(entropy, block_id[0], _STREAM_FLIP)
        flipped = rng.random(y.shape[0]) < flip_y
        y[flipped] = rng.integers(n_classes, size=int(flipped.sum()))
    return y


# The docstring repeats make_blobs's text where the two agree (chunks,
# Returns) on purpose: each public docstring stands alone, for numpydoc and help(),
# as scikit-learn's generators' do.
def make_classification(
    n_samples=100,
    n_features=20,
    n_informative=2,
    n_redundant=2,
    n_repeated=0,
    n_classes=2,
    n_clusters_per_class=2,
    weights=None,
    flip_y=0.01,
    class_sep=1.0,
    hypercube=True,
    shift=0.0,
    scale=1.0,
    shuffle=True,
    random_state=None,
    chunks=None,
):
    """Generate a random n-class classification problem, lazily as dask arrays.

    A chunked counterpart of :func:`sklearn.datasets.make_classification`
    with the same meaning for every parameter. It creates clusters of points
    normally distributed (std=1) about vertices of an ``n_informative``-
    dimensional hypercube with sides of length ``2*class_sep`` and assigns an
    equal number of clusters to each class. It introduces interdependence
    between these features and adds various types of further noise to the
    data.

    Without shuffling, ``X`` horizontally stacks features in the following
    order: the primary ``n_informative`` features, followed by
    ``n_redundant`` linear combinations of the informative features, followed
    by ``n_repeated`` duplicates, drawn randomly with replacement from the
    informative and redundant features. The remaining features are filled
    with random noise.

    Parameters
    ----------
    n_samples : int, default=100
        The number of samples.

    n_features : int, default=20
        The total number of features. These comprise ``n_informative``
        informative features, ``n_redundant`` redundant features,
        ``n_repeated`` duplicated features and
        ``n_features-n_informative-n_redundant-n_repeated`` useless features
        drawn at random.

    n_informative : int, default=2
        The number of informative features. Each class is composed of a number
        of gaussian clusters each located around the vertices of a hypercube
        in a subspace of dimension ``n_informative``. For each cluster,
        informative features are drawn independently from N(0, 1) and then
        randomly linearly combined within each cluster in order to add
        covariance. The clusters are then placed on the vertices of the
        hypercube.

    n_redundant : int, default=2
        The number of redundant features. These features are generated as
        random linear combinations of the informative features.

    n_repeated : int, default=0
        The number of duplicated features, drawn randomly from the informative
        and the redundant features.

    n_classes : int, default=2
        The number of classes (or labels) of the classification problem.

    n_clusters_per_class : int, default=2
        The number of clusters per class.

    weights : array-like of shape (n_classes,) or (n_classes - 1,), default=None
        The proportions of samples assigned to each class. If None, then
        classes are balanced. If ``len(weights) == n_classes - 1``, then the
        last class weight is automatically inferred. Weights are normalised
        to sum to 1. Note that the actual class proportions will not exactly
        match ``weights`` when ``flip_y`` isn't 0.

    flip_y : float, default=0.01
        The fraction of samples whose class is assigned randomly. Larger
        values introduce noise in the labels and make the classification task
        harder. Note that the default setting flip_y > 0 might lead to less
        than ``n_classes`` in y in some cases.

    class_sep : float, default=1.0
        The factor multiplying the hypercube size. Larger values spread out
        the clusters/classes and make the classification task easier.

    hypercube : bool, default=True
        If True, the clusters are put on the vertices of a hypercube. If
        False, the clusters are put on the vertices of a random polytope.

    shift : float, ndarray of shape (n_features,) or None, default=0.0
        Shift features by the specified value. If None, then features are
        shifted by a random value drawn in [-class_sep, class_sep].

    scale : float, ndarray of shape (n_features,) or None, default=1.0
        Multiply features by the specified value. If None, then features are
        scaled by a random value drawn in [1, 100]. Note that scaling happens
        after shifting.

    shuffle : bool, default=True
        Shuffle the features. Rows are drawn independently, so they are in
        random order whatever its value (see Notes).

    random_state : int, RandomState instance, Generator or None, default=None
        Determines random number generation for dataset creation. Pass an int
        for reproducible output across multiple function calls.

    chunks : int or tuple of int, default=None
        Rows per block (the last block holds the remainder), or the row count
        of every block (summing to ``n_samples``). None picks blocks of at
        most 1,000,000 rows and about 128 MiB.

    Returns
    -------
    X : dask array of shape (n_samples, n_features), dtype float64
        The generated samples, with a single chunk along the features.

    y : dask array of shape (n_samples,), dtype int64
        The integer labels for class membership of each sample, with the same
        row chunks as ``X``.

    See Also
    --------
    sklearn.datasets.make_classification : The in-memory generator.
    make_blobs : Simplified variant.

    Notes
    -----
    The hypercube vertices, the per-cluster covariance transforms, the
    redundant-feature combinations, the repeated columns, the random shift
    and scale and the feature permutation are drawn once, on the driver.
    Every row then picks its cluster independently with probability
    ``weights[class] / n_clusters_per_class``, so class sizes are
    multinomial rather than the exact counts of scikit-learn, and rows come
    in random order even with ``shuffle=False``.

    The same parameters, ``random_state`` and ``chunks`` give bitwise
    identical data on any scheduler; a different ``chunks`` gives different
    (equally distributed) data.

    Examples
    --------
    >>> from chunkml.datasets import make_classification
    >>> X, y = make_classification(n_samples=1000, n_classes=3,
    ...                            n_informative=3, chunks=250, random_state=0)
    >>> X.shape, X.numblocks
    ((1000, 20), (4, 1))
    >>> sorted(set(y.compute().tolist()))
    [0, 1, 2]
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_features = _check_int(n_features, "n_features", 1)
    n_informative = _check_int(n_informative, "n_informative", 1)
    n_redundant = _check_int(n_redundant, "n_redundant", 0)
    n_repeated = _check_int(n_repeated, "n_repeated", 0)
    n_classes = _check_int(n_classes, "n_classes", 1)
    n_clusters_per_class = _check_int(n_clusters_per_class, "n_clusters_per_class", 1)
    hypercube = _check_bool(hypercube, "hypercube")
    shuffle = _check_bool(shuffle, "shuffle")
    flip_y = _check_real(flip_y, "flip_y")
    if not 0.0 <= flip_y <= 1.0:
        raise ValueError(f"flip_y must be in [0, 1], got {flip_y}.")
    class_sep = _check_real(class_sep, "class_sep")
    if class_sep <= 0:
        raise ValueError(f"class_sep must be > 0, got {class_sep}.")

    if n_informative + n_redundant + n_repeated > n_features:
        raise ValueError(
            "Number of informative, redundant and repeated features must sum "
            f"to at most n_features={n_features}, got n_informative="
            f"{n_informative} + n_redundant={n_redundant} + n_repeated="
            f"{n_repeated}."
        )
    # log2 rather than 2**n_informative, which overflows for large values.
    if n_informative < np.log2(n_classes * n_clusters_per_class):
        raise ValueError(
            f"n_classes({n_classes}) * n_clusters_per_class"
            f"({n_clusters_per_class}) must be smaller or equal "
            f"2**n_informative({n_informative})={2**n_informative}."
        )
    class_weights = _check_class_weights(weights, n_classes)
    if shift is not None:
        shift = _check_vector(shift, "shift", n_features, "n_features")
    if scale is not None:
        if isinstance(scale, numbers.Real) and not isinstance(scale, bool):
            if not scale > 0:
                raise ValueError(f"scale must be > 0, got {scale}.")
        scale = _check_vector(scale, "scale", n_features, "n_features")

    row_chunks = _row_chunks(chunks, n_samples, n_features)
    entropy = _entropy(random_state)
    model = _classification_model(
        entropy, n_features=n_features, n_informative=n_informative,
        n_redundant=n_redundant, n_repeated=n_repeated, n_classes=n_classes,
        n_clusters_per_class=n_clusters_per_class, class_weights=class_weights,
        class_sep=class_sep, hypercube=hypercube, shift=shift, scale=scale,
        shuffle=shuffle,
    )
    return _lazy_pair(
        _classification_X_block,
        _classification_y_block,
        (entropy, model, flip_y),
        row_chunks,
        n_features,
    )
