"""chunkml.MiniBatchKMeans: scikit-learn's MiniBatchKMeans on numpy arrays, dask arrays and
streams of blocks."""

import warnings
from numbers import Integral, Real

import numpy as np

from .. import dask_glue
from ._compat import (
    BaseEstimator,
    ClusterMixin,
    NumberInterval,
    StrOptions,
    TransformerMixin,
    _fit_context,
    check_random_state,
)
from ._validation import (
    CheckedInitCallable,
    check_n_clusters,
    check_weight,
    check_X,
    is_dask,
    resolve_n_init,
)
from ._base import CentersMixin

# scikit-learn's n_init="auto": one initialisation for k-means++ and arrays, three else.
_AUTO_N_INIT = 3


# This class's docstring and fit's repeat KMeans's where the two agree
# (parameters, Examples, Returns) on purpose: each public docstring stands alone, for
# numpydoc and help(), as scikit-learn's KMeans and MiniBatchKMeans do.
class MiniBatchKMeans(CentersMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Mini-batch K-Means on numpy arrays, dask arrays larger than memory, and streams.

    scikit-learn's MiniBatchKMeans (Sculley 2010): every center moves towards the rows of
    each mini-batch with a per-center learning rate, the batch's share of all the weight
    the center has absorbed. ``fit`` reads X in passes over its blocks (numpy X is one
    block), each block cut into mini-batches of at most ``batch_size`` interleaved rows;
    on a dask array only a few blocks are in memory at a time and X is never persisted.
    ``partial_fit`` runs the same steps on one block of a stream, so ``partial_fit`` over
    X's blocks in order makes the same steps as a pass of ``fit``.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form.
    metric : {"euclidean", "cosine"}, default="euclidean"
        "cosine": spherical mini-batch k-means, for embeddings. The rows of X (the
        sample the init runs on, and every mini-batch) are read as x / ||x||, the
        centers are renormalised to unit length after every step (an init array, or a
        callable's result, is normalised), each row goes to the center of largest
        cosine similarity, ``tol`` is relative to the variance of the unit rows,
        ``transform`` returns 1 - cos(x, c), ``inertia_`` and ``score`` use the weighted
        sum of those, and ``cluster_centers_`` are unit vectors. A zero row is a
        ValueError naming it; sparse X is read as its unit rows, a batch at a time. See
        ``KMeans``.
    init : {"k-means++", "random"}, callable or array-like of shape \
            (n_clusters, n_features), default="k-means++"
        "k-means++": greedy k-means++ on ``init_size`` rows drawn from X in proportion to
        sample_weight. "random": n_clusters of those rows. A callable is called as
        ``init(X_sample, n_clusters, random_state=rng)`` and must return finite centers
        of shape (n_clusters, n_features). An array: the initial centers, finite.
    max_iter : int, default=100
        Maximum number of passes over X in ``fit``.
    batch_size : int, default=1024
        Largest number of rows of a mini-batch. A block of n rows makes
        ``ceil(n / batch_size)`` mini-batches of nearly equal size.
    verbose : int, default=0
        When > 0, print scikit-learn's progress lines: each initialisation and its
        inertia, "Minibatch step i/n: mean batch inertia: ..., ewa inertia: ...",
        reassignments and the convergence line (in ``fit``; on a distributed
        cluster, the step lines are printed by the workers that run the steps).
    compute_labels : bool, default=True
        Compute ``labels_`` and ``inertia_`` of the training data with the final centers
        (one more pass over X in ``fit``; of the block in ``partial_fit``).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the random reassignments. The rows drawn depend
        only on (seed, row index) and the reassignments on (seed, step), not on where
        the steps run.
    tol : float, default=0.0
        Early stopping when the squared change of the centers in one step is at most
        ``tol`` times the mean variance of the features of X (scikit-learn's rule);
        0 disables it.
    max_no_improvement : int or None, default=10
        Early stopping after this many consecutive mini-batches without improvement of
        the smoothed (exponentially weighted average) batch inertia; None disables it.
    init_size : int or None, default=None
        Rows drawn for the initialisation; None means ``3 * batch_size`` (at least
        ``3 * n_clusters``), at most n_samples, as scikit-learn.
    n_init : "auto" or int, default="auto"
        Initialisations tried; the one of least inertia on the drawn rows is optimised.
        "auto": 1 for "k-means++" and arrays, 3 for "random" and callables.
    reassignment_ratio : float, default=0.01
        Centers that absorbed less than this fraction of the largest center's weight
        are moved onto rows of the batch (checked every ``10 * n_clusters`` rows, and
        at every step while a center is empty).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        In X's float dtype (the steps keep float64 centers internally).
    labels_ : ndarray or dask array of shape (n_samples,)
        int32; lazy when X is a dask array. Only with ``compute_labels=True``.
    inertia_ : float
        Weighted sum of squared distances of the training rows to their nearest center;
        with ``compute_labels=False`` the ewa of the mean batch inertia times the total
        weight, as scikit-learn.
    n_iter_ : int
        Passes over X in ``fit`` (the last one possibly stopped early).
    n_steps_ : int
        Mini-batches processed.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Only when X has string column names.

    Notes
    -----
    Differences from scikit-learn, all of them because X is read block by block instead
    of sampled row by row: scikit-learn draws every mini-batch at random from all of X,
    with replacement and in proportion to sample_weight; here the batches are the rows
    of the blocks in order, each row weighted by its sample_weight. Data whose blocks
    are sorted (by time, by class) should have its blocks shuffled first, e.g.
    ``X.blocks[np.random.permutation(X.numblocks[0])]`` (a graph operation only). A
    batch's inertia is normalised by its weight, not by batch_size. ``partial_fit``
    on a block larger than batch_size makes several steps (scikit-learn: one step on
    the whole block); on blocks of at most batch_size rows it is scikit-learn's.

    Examples
    --------
    >>> import chunkml
    >>> X, _ = chunkml.datasets.make_blobs(n_samples=10_000, chunks=2_500, random_state=0)
    >>> km = chunkml.MiniBatchKMeans(n_clusters=3, random_state=0).fit(X)
    >>> km.cluster_centers_.shape
    (3, 2)
    """

    # n_clusters, metric, max_iter, tol, random_state, n_init and verbose: CentersMixin's.
    _parameter_constraints: dict = {
        **CentersMixin._parameter_constraints,
        "init": [StrOptions({"k-means++", "random"}), callable, "array-like"],
        "batch_size": [NumberInterval(Integral, 1, None, closed="left")],
        "compute_labels": ["boolean"],
        "max_no_improvement": [NumberInterval(Integral, 0, None, closed="left"), None],
        "init_size": [NumberInterval(Integral, 1, None, closed="left"), None],
        "reassignment_ratio": [NumberInterval(Real, 0, None, closed="left")],
    }

    def __init__(self, n_clusters=8, *, metric="euclidean", init="k-means++", max_iter=100,
                 batch_size=1024, verbose=0, compute_labels=True, random_state=None,
                 tol=0.0, max_no_improvement=10, init_size=None, n_init="auto",
                 reassignment_ratio=0.01):
        self.n_clusters = n_clusters
        self.metric = metric
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio

    def _init_params(self, X):
        """(init, n_init, init_size) as scikit-learn resolves them for this X."""
        init = self.init
        n_init = resolve_n_init(self.n_init, init, default=_AUTO_N_INIT)
        if callable(init):
            init = CheckedInitCallable(init)
        elif not isinstance(init, str):
            init, n_init = self._check_init_array(init, n_init, X.shape[1], stacklevel=3)
        # Unknown row counts (a dask DataFrame) count as larger than any batch.
        n_samples = X.shape[0] if not np.isnan(X.shape[0]) else np.inf
        batch_size = min(self.batch_size, n_samples)
        init_size = self.init_size
        if init_size is None:
            init_size = 3 * batch_size
            if init_size < self.n_clusters:
                init_size = 3 * self.n_clusters
        elif init_size < self.n_clusters:
            warnings.warn(
                f"init_size={init_size} should be larger than n_clusters="
                f"{self.n_clusters}. Setting it to min(3*n_clusters, n_samples)",
                RuntimeWarning, stacklevel=3)
            init_size = 3 * self.n_clusters
        return init, int(n_init), int(min(init_size, n_samples))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the centers in passes over X, mini-batch by mini-batch.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            int input becomes float64; float32 stays float32. A dask array is read
            block by block, max_iter times at most, and never persisted.
        y : Ignored
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : MiniBatchKMeans
            Fitted estimator. On error no fitted attribute is set or changed.
        """
        X_in = X
        X, sample_weight = self._check_fit_data(X, sample_weight)
        init, n_init, init_size = self._init_params(X)
        result = dask_glue.fit_minibatch(
            X, sample_weight, self.n_clusters, init=init, n_init=n_init,
            init_size=init_size, batch_size=self.batch_size, max_iter=self.max_iter,
            tol=self.tol, max_no_improvement=self.max_no_improvement,
            reassignment_ratio=self.reassignment_ratio,
            compute_labels=self.compute_labels,
            random_state=check_random_state(self.random_state), verbose=bool(self.verbose),
            metric=self.metric)
        # Only now, with the fit complete, does the estimator change.
        self._check_features(X_in, reset=True)
        if not self.compute_labels and hasattr(self, "labels_"):
            del self.labels_
        self._state = result.state
        self.cluster_centers_ = result.state.centers.astype(X.dtype)
        if self.compute_labels:
            self.labels_ = result.labels
        self.inertia_ = result.inertia
        self.n_iter_ = int(result.n_iter)
        self.n_steps_ = int(result.state.n_steps)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the centers with one block of a stream.

        The first call initialises the centers from this block. A block of more than
        batch_size rows makes several steps, exactly as a pass of ``fit`` over it.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            One block; a dask array is computed first, so it should be small.
        y : Ignored
        sample_weight : array-like or dask array of shape (n_samples,), default=None

        Returns
        -------
        self : MiniBatchKMeans
        """
        X_in = X
        has_state = hasattr(self, "_state")
        X = check_X(X)
        if is_dask(X):
            X = check_X(X.compute())
        if is_dask(sample_weight):
            sample_weight = sample_weight.compute()
        if has_state:
            self._check_features(X_in, reset=False)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {type(self).__name__} is "
                    f"expecting {self.n_features_in_} features as input.")
        else:
            check_n_clusters(self.n_clusters, X)
        sample_weight = check_weight(sample_weight, X)
        if has_state:
            state = self._state
        else:
            init, n_init, init_size = self._init_params(X)
            state = dask_glue.start_minibatch(
                X, sample_weight, self.n_clusters, init=init, n_init=n_init,
                init_size=init_size, random_state=check_random_state(self.random_state),
                metric=self.metric)
        state = dask_glue.partial_fit_minibatch(
            X, sample_weight, state, batch_size=self.batch_size,
            reassignment_ratio=self.reassignment_ratio, metric=self.metric)
        if not has_state:
            self._check_features(X_in, reset=True)
        self._state = state
        self.cluster_centers_ = state.centers.astype(X.dtype)
        if self.compute_labels:
            self.labels_ = dask_glue.predict_labels(X, state.centers, self.metric)
            self.inertia_ = dask_glue.inertia(X, state.centers, sample_weight, self.metric)
        self.n_steps_ = int(state.n_steps)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        fitted = self.fit(X, sample_weight=sample_weight)
        if self.compute_labels:
            return fitted.labels_
        return fitted.predict(X)
