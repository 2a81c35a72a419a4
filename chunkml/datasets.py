"""Lazy, chunked versions of scikit-learn's sample generators.

Each generator returns ``(X, y)`` as dask arrays whose graph holds one task per
row block (two layers: one for ``X``, one for ``y``), so a dataset larger than
the driver's memory is only ever materialised block by block on the workers.

Reproducibility works as follows. ``random_state`` is turned into 128 bits of
entropy once, at graph-build time. The small "model" of the dataset (centers,
covariance transforms, feature permutation, ...) is drawn on the driver from
that entropy, and block ``i`` draws its rows from its own
:class:`numpy.random.SeedSequence` spawned from the same entropy with key
``i``. The data therefore depend only on the parameters, ``random_state`` and
the row ``chunks``; not on the scheduler, the number of workers or the order
in which blocks run.
"""

import numbers

import numpy as np
import dask.array as da

__all__ = ["make_blobs", "make_classification"]

# Default block: at most a million rows and about 128 MiB of float64 X. A fixed
# number rather than dask's "array.chunk-size" setting, so that the default
# data do not change with the user's dask configuration.
_DEFAULT_MAX_ROWS = 1_000_000
_DEFAULT_BLOCK_BYTES = 128 * 2**20

# spawn_key prefixes of the SeedSequences: one for the model drawn on the
# driver, one per (block, stream) for the rows. y-only streams are separate
# from the feature stream so that computing y never draws the features.
_MODEL_KEY = 0
_BLOCK_KEY = 1
_STREAM_LABELS = 0
_STREAM_FEATURES = 1
_STREAM_FLIP = 2


def _check_int(value, name, min_value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}.")
    return int(value)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}.")
    return bool(value)


def _check_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    return value


def _check_vector(value, name, length, length_name):
    """Float64 1-D array of ``length`` finite values (a scalar is broadcast)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.full(length, _check_real(value, name))
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1 or array.shape[0] != length:
        raise ValueError(
            f"{name} must be a scalar or have length {length_name}={length}, "
            f"got shape {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite.")
    return array


def _entropy(random_state):
    """128 bits of entropy drawn from ``random_state``, as a tuple of ints.

    ``None``, an int and a :class:`numpy.random.RandomState` mean what they
    mean in :func:`sklearn.utils.check_random_state` (so ``None`` follows
    ``np.random.seed`` and ``7`` gives the same data as ``RandomState(7)``); a
    :class:`numpy.random.Generator` is used directly. A ``RandomState`` or
    ``Generator`` is advanced, as in scikit-learn.
    """
    # Imported here, on the client: the block functions that workers run need no
    # scikit-learn, and importing it would cost every worker process ~110 MiB.
    from sklearn.utils import check_random_state

    if isinstance(random_state, np.random.Generator):
        words = random_state.integers(2**32, size=4, dtype=np.uint64)
    else:
        if isinstance(random_state, numbers.Integral) and random_state < 0:
            raise ValueError(
                f"random_state must be None, a non-negative int, a RandomState "
                f"or a Generator, got {random_state!r}."
            )
        words = check_random_state(random_state).randint(
            2**32, size=4, dtype=np.uint64
        )
    return tuple(int(word) for word in words)


def _model_rng(entropy):
    return np.random.default_rng(
        np.random.SeedSequence(entropy, spawn_key=(_MODEL_KEY,))
    )


def _block_rng(entropy, block_index, stream):
    return np.random.default_rng(
        np.random.SeedSequence(entropy, spawn_key=(_BLOCK_KEY, block_index, stream))
    )


def _row_chunks(chunks, n_samples, n_features):
    """Normalise ``chunks`` to a tuple of row counts that sums to ``n_samples``."""
    if chunks is None:
        rows = _DEFAULT_BLOCK_BYTES // (8 * n_features)
        chunks = max(1, min(n_samples, _DEFAULT_MAX_ROWS, rows))
    if isinstance(chunks, numbers.Integral) and not isinstance(chunks, bool):
        if chunks < 1:
            raise ValueError(f"chunks must be a positive int, got {chunks}.")
        chunks = int(chunks)
        n_full, remainder = divmod(n_samples, chunks)
        return (chunks,) * n_full + ((remainder,) if remainder else ())
    try:
        row_chunks = tuple(chunks)
    except TypeError:
        raise TypeError(
            f"chunks must be None, an int or a tuple of ints, got {chunks!r}."
        ) from None
    for size in row_chunks:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(
                f"chunks must be None, an int or a tuple of ints, got {chunks!r}."
            )
        if size < 0:
            raise ValueError(f"chunks must not contain negative sizes, got {chunks}.")
    if sum(row_chunks) != n_samples:
        raise ValueError(
            f"chunks must sum to n_samples={n_samples}, got {sum(row_chunks)}."
        )
    return tuple(int(size) for size in row_chunks)


def _lazy_pair(x_block, y_block, args, row_chunks, n_features):
    """(X, y) dask arrays with one ``x_block`` / ``y_block`` task per row block.

    Both block functions take the same leading ``args``, so that X and y of a
    block draw the same labels; each ignores the ones it does not need.

    The row counts travel as one shared int64 array (the blocks index it with
    their ``block_id``) rather than through ``block_info``, which dask builds
    per block at graph-build time.
    """
    rows = np.asarray(row_chunks, dtype=np.int64)
    X = da.map_blocks(
        x_block,
        *args,
        rows,
        n_features,
        chunks=(row_chunks, (n_features,)),
        dtype=np.float64,
        meta=np.empty((0, 0), dtype=np.float64),
    )
    y = da.map_blocks(
        y_block,
        *args,
        rows,
        chunks=(row_chunks,),
        dtype=np.int64,
        meta=np.empty((0,), dtype=np.int64),
    )
    return X, y


def _blobs_labels(entropy, n_centers, rows, block_id):
    block_index = block_id[0]
    rng = _block_rng(entropy, block_index, _STREAM_LABELS)
    return rng.integers(n_centers, size=int(rows[block_index]), dtype=np.int64)


def _blobs_X_block(entropy, centers, cluster_std, rows, n_features, block_id=None):
    """One row block of make_blobs' X: float64 of shape (rows[i], n_features)."""
    labels = _blobs_labels(entropy, centers.shape[0], rows, block_id)
    rng = _block_rng(entropy, block_id[0], _STREAM_FEATURES)
    X = rng.standard_normal((labels.shape[0], n_features))
    X *= cluster_std[labels, np.newaxis]
    X += centers[labels]
    return X


def _blobs_y_block(entropy, centers, cluster_std, rows, block_id=None):
    """One row block of make_blobs' y: int64 of shape (rows[i],)."""
    return _blobs_labels(entropy, centers.shape[0], rows, block_id)


def make_blobs(
    n_samples=100,
    n_features=2,
    centers=None,
    cluster_std=1.0,
    center_box=(-10.0, 10.0),
    shuffle=True,
    random_state=None,
    chunks=None,
):
    """Generate isotropic Gaussian blobs for clustering, lazily as dask arrays.

    A chunked counterpart of :func:`sklearn.datasets.make_blobs`: nothing is
    computed when the function returns; each row block is generated by its own
    task from its own seed.

    Parameters
    ----------
    n_samples : int, default=100
        The total number of points, equally likely to come from each center.

    n_features : int, default=2
        The number of features for each sample. Ignored when ``centers`` is an
        array, whose number of columns is used instead (as in scikit-learn).

    centers : int or array-like of shape (n_centers, n_features), default=None
        The number of centers to generate, or the fixed center locations. If
        None, 3 centers are generated.

    cluster_std : float or array-like of shape (n_centers,), default=1.0
        The standard deviation of the clusters.

    center_box : tuple of float (min, max), default=(-10.0, 10.0)
        The bounding box for each cluster center when centers are generated
        at random.

    shuffle : bool, default=True
        Accepted for compatibility with scikit-learn. Rows are drawn
        independently, so they are in random order whatever its value (see
        Notes).

    random_state : int, RandomState instance, Generator or None, default=None
        Determines random number generation for dataset creation, including
        the random centers. Pass an int for reproducible output across
        multiple function calls. It is honoured also when ``centers`` is an
        array.

    chunks : int or tuple of int, default=None
        Rows per block (the last block holds the remainder), or the row count
        of every block (summing to ``n_samples``). None picks blocks of at
        most 1,000,000 rows and about 128 MiB.

    Returns
    -------
    X : dask array of shape (n_samples, n_features), dtype float64
        The generated samples, with a single chunk along the features.

    y : dask array of shape (n_samples,), dtype int64
        The integer labels for cluster membership of each sample, with the
        same row chunks as ``X``.

    See Also
    --------
    sklearn.datasets.make_blobs : The in-memory generator.
    make_classification : A more intricate variant.

    Notes
    -----
    Each row picks its center uniformly at random and independently of the
    other rows, so cluster sizes are multinomial rather than the exact
    ``n_samples // n_centers`` of scikit-learn, and the rows come in random
    order even with ``shuffle=False``.

    The same parameters, ``random_state`` and ``chunks`` give bitwise
    identical data on any scheduler; a different ``chunks`` gives different
    (equally distributed) data.

    Examples
    --------
    >>> from chunkml.datasets import make_blobs
    >>> X, y = make_blobs(n_samples=10, centers=3, n_features=2, chunks=4,
    ...                   random_state=0)
    >>> X.shape, X.chunks[0]
    ((10, 2), (4, 4, 2))
    >>> X.compute().shape
    (10, 2)
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_features = _check_int(n_features, "n_features", 1)
    _check_bool(shuffle, "shuffle")

    if centers is None:
        centers = 3
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        n_centers = _check_int(centers, "centers", 1)
        if not isinstance(center_box, tuple) or len(center_box) != 2:
            raise ValueError(
                f"center_box must be a tuple (min, max), got {center_box!r}."
            )
        low = _check_real(center_box[0], "center_box[0]")
        high = _check_real(center_box[1], "center_box[1]")
        if low > high:
            raise ValueError(
                f"center_box must satisfy min <= max, got {center_box!r}."
            )
        fixed_centers = None
    else:
        fixed_centers = np.array(centers, dtype=np.float64)
        if fixed_centers.ndim != 2 or 0 in fixed_centers.shape:
            raise ValueError(
                "centers must be an int or an array of shape (n_centers, "
                f"n_features) with n_centers >= 1 and n_features >= 1, got "
                f"shape {fixed_centers.shape}."
            )
        if not np.all(np.isfinite(fixed_centers)):
            raise ValueError("centers must not contain NaN or infinity.")
        n_centers, n_features = fixed_centers.shape

    if isinstance(cluster_std, numbers.Real) and not isinstance(cluster_std, bool):
        cluster_std = np.full(n_centers, float(cluster_std))
    else:
        cluster_std = np.asarray(cluster_std, dtype=np.float64)
        if cluster_std.ndim != 1 or cluster_std.shape[0] != n_centers:
            raise ValueError(
                "Length of `cluster_std` not consistent with number of centers: "
                f"got {n_centers} centers and cluster_std of shape "
                f"{cluster_std.shape}."
            )
    if not np.all(np.isfinite(cluster_std)) or np.any(cluster_std < 0):
        raise ValueError("cluster_std must be finite and non-negative.")

    row_chunks = _row_chunks(chunks, n_samples, n_features)
    entropy = _entropy(random_state)
    if fixed_centers is None:
        centers = _model_rng(entropy).uniform(low, high, size=(n_centers, n_features))
    else:
        centers = fixed_centers

    return _lazy_pair(
        _blobs_X_block,
        _blobs_y_block,
        (entropy, centers, cluster_std),
        row_chunks,
        n_features,
    )


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
    entropy,
    n_features,
    n_informative,
    n_redundant,
    n_repeated,
    n_classes,
    n_clusters_per_class,
    class_weights,
    class_sep,
    hypercube,
    shift,
    scale,
    shuffle,
):
    """Draw the small arrays that every block of make_classification shares.

    Follows the order of scikit-learn's construction; returns a dict of numpy
    arrays whose column indices already point into the (permuted) output.
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
        entropy,
        n_features,
        n_informative,
        n_redundant,
        n_repeated,
        n_classes,
        n_clusters_per_class,
        class_weights,
        class_sep,
        hypercube,
        shift,
        scale,
        shuffle,
    )
    return _lazy_pair(
        _classification_X_block,
        _classification_y_block,
        (entropy, model, flip_y),
        row_chunks,
        n_features,
    )
