"""chunkml.KMeans: scikit-learn's KMeans semantics on numpy and dask arrays."""

import warnings
from numbers import Integral, Real

from .. import dask_glue
from ._base import CentersMixin
from ._compat import (
    BaseEstimator,
    ClusterMixin,
    ConvergenceWarning,
    NumberInterval,
    StrOptions,
    TransformerMixin,
    _fit_context,
    check_random_state,
)
from ._validation import (
    CheckedInitCallable,
    check_oversampling,
    resolve_n_init,
)

# scikit-learn's KMeans n_init="auto": 10 runs for "random" and a callable init.
_AUTO_N_INIT = 10


# This class's docstring and fit's repeat MiniBatchKMeans's where the two agree
# (parameters, Examples, Returns) on purpose: each public docstring stands alone, for
# numpydoc and help(), as scikit-learn's KMeans and MiniBatchKMeans do.
class KMeans(CentersMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """K-Means clustering on numpy or dask arrays (Lloyd's algorithm, k-means|| init).

    A drop-in for ``dask_ml.cluster.KMeans`` with scikit-learn's semantics: the same
    labels, centers, ``n_iter_`` and ``inertia_`` as ``sklearn.cluster.KMeans`` started
    from the same centers. Every Lloyd iteration reads X once; on a dask array only the
    small per-cluster partial sums travel to the client.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form.
    metric : {"euclidean", "cosine"}, default="euclidean"
        "cosine": spherical k-means (Dhillon and Modha 2001; faiss's
        ``spherical=True``, Spark's ``distanceMeasure="cosine"``), for embeddings. Every
        row of X is read as x / ||x|| (block by block: X is not copied), the centers
        are renormalised to unit length after every update, and each row goes to the
        center of largest cosine similarity. The init runs on the normalised rows (an
        init array, or a callable's result, is normalised), ``tol`` is relative to
        their variance, ``transform`` returns the cosine distances 1 - cos(x, c),
        ``inertia_`` and ``score`` use their weighted sum, and ``cluster_centers_`` are
        unit vectors. A zero row of X is a ValueError naming it (found in the first
        pass for dask X). Sparse X is read as its unit rows (in memory, a scaled copy of
        its stored values; on dask, block by block).
    init : {"k-means||", "k-means++", "random"}, callable or array-like of shape \
            (n_clusters, n_features), default="k-means||"
        "k-means||": scalable k-means++ (Bahmani et al. 2012), in ``init_max_iter + 2``
        passes over X. "k-means++": greedy k-means++ for numpy input (as scikit-learn);
        plain D^2 sampling in n_clusters passes for dask input. "random": n_clusters rows
        drawn with probability proportional to sample_weight. A callable is called once
        per run as ``init(X, n_clusters, random_state=rng)`` (X as validated: a float
        numpy or dask array) and must return an array as below. An array: the initial
        centers, finite.
    oversampling_factor : float, default=2
        k-means|| draws about ``oversampling_factor * n_clusters`` candidates per round
        (as the paper and Spark MLlib; dask-ml's is an absolute count). A value for which
        the candidates would take more than 1 GiB is a ValueError.
    max_iter : int, default=300
        Maximum number of Lloyd iterations of a single run.
    tol : float, default=1e-4
        Convergence when the summed squared center shift is <= tol * mean(per-feature
        variance of X), as in scikit-learn.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation. The rows drawn depend on (seed, row index) only, so
        the same seed gives the same centers whatever the chunking of X.
    init_max_iter : int or None, default=None
        Number of k-means|| rounds; None means 2 (Spark MLlib's default), whatever the
        scale of the data.
    n_init : "auto" or int, default=1
        Number of complete runs with different seeds; the lowest inertia wins (the
        first run on ties). "auto" is scikit-learn's rule: 1 run for "k-means++" and
        an init array, 10 for "random" and a callable; for "k-means||" (which
        scikit-learn lacks) 1, as for "k-means++", the greedy init it scales out.
        Every run's seed is drawn from ``random_state`` up front,
        so the result does not depend on how the runs are executed. On numpy input
        the runs go through ``joblib.Parallel``: one at a time by default, spread by
        an active ``joblib.parallel_backend`` (e.g. ``"dask"`` sends them to a
        cluster's workers). On dask input they run one after the other, each spread
        over X's blocks by the active dask scheduler.
    algorithm : {"lloyd", "elkan"}, default="lloyd"
        Lloyd's algorithm runs for both. Elkan's algorithm is an exact acceleration of
        Lloyd's (it skips distance computations that the triangle inequality proves
        useless, and gives the same iterations), so asking for it changes nothing in
        the result: chunkml always runs Lloyd, whose iteration is one streaming pass
        over X with per-cluster partial sums, whereas Elkan's needs per-row bounds
        (n_samples x n_clusters values) carried from one pass to the next. With
        ``n_clusters=1``, "elkan" warns as scikit-learn does. dask-ml's "full" is
        accepted too, with a FutureWarning (scikit-learn's deprecated name of
        "lloyd").
    verbose : int, default=0
        When > 0, print scikit-learn's progress lines: "Initialization complete"
        after each initialisation, "Iteration i, inertia x." for every Lloyd
        iteration (i from 0, the inertia of the rows' new labels to the centers they
        were assigned from), and "Converged at iteration i: strict convergence." or
        "... center shift s within tolerance t." The ``chunkml`` logger keeps its own
        DEBUG lines.
    copy_x : bool, default=True
        Accepted for scikit-learn compatibility; chunkml never modifies X (it centres
        the data inside the kernels, block by block), so there is nothing to copy,
        whatever the value.
    sample_size : None, int or float, default=None
        Fit on a sample of X, for very many rows (as faiss, which trains on at most
        256 rows per centroid by default): the init and every Lloyd iteration run on
        a uniform sample of ``sample_size`` rows (an int) or of that fraction of the
        rows (a float in (0, 1], rounded up), with their weights; then ``labels_``
        and ``inertia_`` are those of the fitted centers on all of X (one more pass
        over it). The sample is drawn in one pass over X, each row's draw depending
        only on (``random_state``, its row index): the same rows whatever the
        chunking (dask X of unknown chunk sizes costs a pass to learn them). The
        fitted centers are those of a fit on exactly those rows; the quality cost is
        measured in the user guide ("Embeddings"). None: fit on all of X. More rows
        than X has, or fewer than n_clusters, is a ValueError.
    n_jobs : None, default=None
        dask-ml's parameter, without effect: a value other than None gives a
        FutureWarning at fit. Parallelism comes from the dask scheduler (dask input)
        or an active ``joblib.parallel_backend`` (numpy input).
    precompute_distances : None, default=None
        dask-ml's (and old scikit-learn's) parameter, without effect: a value other
        than None gives a FutureWarning at fit.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        In X's float dtype.
    labels_ : ndarray or dask array of shape (n_samples,)
        int32; a lazy dask array when X is a dask array.
    inertia_ : float
        Weighted sum of squared distances of the rows to their nearest center; with
        ``metric="cosine"``, of their cosine distances 1 - cos(x, c) to it.
    n_iter_ : int
        Lloyd iterations of the winning run.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Only when X has string column names.

    Examples
    --------
    >>> import chunkml
    >>> X, _ = chunkml.datasets.make_blobs(n_samples=10_000, chunks=2_500, random_state=0)
    >>> km = chunkml.KMeans(n_clusters=3, random_state=0).fit(X)
    >>> km.cluster_centers_.shape
    (3, 2)
    """

    # n_clusters, metric, max_iter, tol, random_state, n_init and verbose: CentersMixin's.
    _parameter_constraints: dict = {
        **CentersMixin._parameter_constraints,
        "init": [StrOptions({"k-means||", "k-means++", "random"}), callable, "array-like"],
        "oversampling_factor": [NumberInterval(Real, 0, None, closed="neither")],
        "init_max_iter": [None, NumberInterval(Integral, 1, None, closed="left")],
        "algorithm": [StrOptions({"lloyd", "elkan", "full"})],
        "copy_x": ["boolean"],
        "sample_size": [None, NumberInterval(Integral, 1, None, closed="left"),
                        NumberInterval(Real, 0, 1, closed="right")],
        # dask-ml's, without effect (a FutureWarning at fit unless None).
        "n_jobs": [None, NumberInterval(Integral, None, None, closed="neither")],
        "precompute_distances": [None, "boolean", StrOptions({"auto"})],
    }

    def __init__(self, n_clusters=8, *, metric="euclidean", init="k-means||",
                 oversampling_factor=2, max_iter=300, tol=1e-4, random_state=None,
                 init_max_iter=None, n_init=1, algorithm="lloyd", verbose=0, copy_x=True,
                 sample_size=None, n_jobs=None, precompute_distances=None):
        self.n_clusters = n_clusters
        self.metric = metric
        self.init = init
        self.oversampling_factor = oversampling_factor
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init_max_iter = init_max_iter
        self.n_init = n_init
        self.algorithm = algorithm
        self.verbose = verbose
        self.copy_x = copy_x
        self.sample_size = sample_size
        self.n_jobs = n_jobs
        self.precompute_distances = precompute_distances

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
            int input becomes float64; float32 stays float32.
        y : Ignored
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : KMeans
            Fitted estimator. On error no fitted attribute is set or changed.
        """
        X_in = X
        X, sample_weight = self._check_fit_data(X, sample_weight)
        self._warn_ignored_params()
        init = self.init
        n_init = resolve_n_init(self.n_init, init, default=_AUTO_N_INIT)
        if isinstance(init, str):
            if init == "k-means||":
                n_rounds = (dask_glue.DEFAULT_INIT_ROUNDS if self.init_max_iter is None
                            else self.init_max_iter)
                check_oversampling(self.oversampling_factor, self.n_clusters, n_rounds,
                                   X.shape[0], X.shape[1])
        elif callable(init):
            # Called once per run, every call before the first run starts, and each
            # result checked (scikit-learn also calls a callable init once per run).
            init = CheckedInitCallable(init)
        else:
            init, n_init = self._check_init_array(init, n_init, X.shape[1], stacklevel=2)
        best = dask_glue.fit_kmeans_runs(
            X, sample_weight, self.n_clusters, init=init, n_init=n_init,
            oversampling_factor=self.oversampling_factor, init_max_iter=self.init_max_iter,
            max_iter=self.max_iter, tol=self.tol,
            random_state=check_random_state(self.random_state), verbose=bool(self.verbose),
            metric=self.metric,
            sample_size=(None if self.sample_size is None
                         else int(self.sample_size) if isinstance(self.sample_size, Integral)
                         else float(self.sample_size)))
        if best.n_distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({best.n_distinct}) found smaller than "
                f"n_clusters ({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning, stacklevel=2)
        # Only now, with the fit complete, does the estimator change.
        self._check_features(X_in, reset=True)
        self.cluster_centers_ = best.centers.astype(X.dtype)
        self.labels_ = best.labels
        self.inertia_ = float(best.inertia)
        self.n_iter_ = int(best.n_iter)
        return self

    def _warn_ignored_params(self):
        """The FutureWarnings of the parameters accepted only for compatibility."""
        if self.algorithm == "full":
            warnings.warn(
                'algorithm="full" is dask-ml\'s (and scikit-learn\'s deprecated) name of '
                '"lloyd": use algorithm="lloyd"; "full" will be removed.', FutureWarning,
                stacklevel=3)
        elif self.algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using "
                "'lloyd' instead.", RuntimeWarning, stacklevel=3)
        for name in ("n_jobs", "precompute_distances"):
            if getattr(self, name) is not None:
                warnings.warn(
                    f"{name}={getattr(self, name)!r} has no effect (a dask-ml parameter, "
                    "accepted for compatibility) and will be removed; leave it None.",
                    FutureWarning, stacklevel=3)

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_
