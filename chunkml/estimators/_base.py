"""What every chunkml clustering estimator shares once it has cluster_centers_.

The parameters both k-means estimators take, their tags and the link of their HTML repr,
the check of an explicit init array, feature bookkeeping that also knows dask
DataFrames, input checks at predict time, the center-based outputs (predict, transform,
score) for numpy and dask input, and pickling of a lazy labels_.
"""

import warnings
from numbers import Integral, Real

import dask.array as da
import numpy as np

from .. import dask_glue
from ._compat import (
    RANDOM_STATE,
    ClassNamePrefixFeaturesOutMixin,
    NumberInterval,
    StrOptions,
    TransformerMixin,
    check_is_fitted,
    validate_data,
)
from ._validation import (
    check_init,
    check_n_clusters,
    check_weight,
    check_X,
    dask_frame_feature_names,
)


class _PickledLabels:
    """labels_ of a dask-fitted model, computed for pickling; a dask array again on load."""

    def __init__(self, values, chunks):
        self.values = values
        self.chunks = chunks


class CentersMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """predict/transform/score from cluster_centers_, for numpy and dask input.

    Output feature names are scikit-learn's for its KMeans: the lowercased class name
    and the center's index (``kmeans0``, ``kmeans1``, ...), so ``set_output`` and
    ``get_feature_names_out`` work in a Pipeline or a ColumnTransformer (a
    TransformerMixin here, so that scikit-learn wraps this class's transform and
    fit_transform for ``set_output``).
    """

    # The HTML repr links to the class's page in the API reference.
    _doc_link_module = "chunkml"
    _doc_link_template = ("https://chunkml.readthedocs.io/en/stable/api/"
                          "chunkml.{estimator_name}.html")

    # The constraints of the parameters every estimator here has, as scikit-learn's
    # _BaseKMeans._parameter_constraints: each estimator's dict starts with these.
    # NumberInterval: a bool is not a number of clusters, iterations, ...
    _parameter_constraints: dict = {
        "n_clusters": [NumberInterval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "max_iter": [NumberInterval(Integral, 1, None, closed="left")],
        "tol": [NumberInterval(Real, 0, None, closed="left")],
        "random_state": RANDOM_STATE,
        "n_init": [StrOptions({"auto"}), NumberInterval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags

    def _check_init_array(self, init, n_init, n_features, stacklevel):
        """(init, n_init) for an explicit init array: the array checked (`check_init`)
        and one run, with scikit-learn's RuntimeWarning when n_init asks for more.
        stacklevel counts from the caller, as warnings.warn's does."""
        init = check_init(init, self.n_clusters, n_features, np.float64)
        if n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={n_init}.", RuntimeWarning,
                stacklevel=stacklevel + 1)
            n_init = 1
        return init, n_init

    @property
    def _n_features_out(self):
        # What ClassNamePrefixFeaturesOutMixin names; derived, so that fit sets nothing
        # more. AttributeError (unfitted) makes get_feature_names_out's fitted check fail.
        return self.cluster_centers_.shape[0]

    def __getstate__(self):
        # A lazy labels_ holds a graph that may reference X's persisted blocks or a
        # cluster's futures (dask-ml#460): pickle the labels themselves instead.
        state = dict(super().__getstate__())  # may be self.__dict__ itself
        labels = state.get("labels_")
        if isinstance(labels, da.Array):
            state["labels_"] = _PickledLabels(labels.compute(), labels.chunks[0])
        return state

    def __setstate__(self, state):
        labels = state.get("labels_")
        if isinstance(labels, _PickledLabels):
            state["labels_"] = da.from_array(labels.values, chunks=(labels.chunks,))
        super().__setstate__(state)

    def _check_features(self, X_in, reset):
        """Set (reset=True) or check n_features_in_ and feature_names_in_ from raw X.

        scikit-learn recognises the column names of pandas frames only; those of a dask
        DataFrame are handled here.
        """
        frame_names = dask_frame_feature_names(X_in)
        if frame_names is None or reset:
            validate_data(self, X_in, reset=reset, skip_check_array=True)
        if frame_names is None:
            return
        if reset:
            self.feature_names_in_ = frame_names
        elif not np.array_equal(frame_names,
                                getattr(self, "feature_names_in_", frame_names)):
            raise ValueError(
                "The feature names should match those that were passed during fit: "
                f"got {list(frame_names)}, fitted with {list(self.feature_names_in_)}.")

    def _check_fit_data(self, X, sample_weight):
        """Validated (X, sample_weight) for fit; sets nothing on the estimator."""
        X = check_X(X)
        check_n_clusters(self.n_clusters, X)
        return X, check_weight(sample_weight, X)

    def _check_test_data(self, X):
        check_is_fitted(self)
        X_checked = check_X(X)
        self._check_features(X, reset=False)
        if X_checked.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X_checked.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input.")
        return X_checked

    def predict(self, X, sample_weight=None):
        """Index of the nearest center for each row (labels do not depend on weights).

        Parameters
        ----------
        X : {array-like, dask array} of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Accepted for dask-ml compatibility and validated; labels do not depend on it.

        Returns
        -------
        labels : ndarray or dask array of shape (n_samples,), int32
            Lazy when X is a dask array.
        """
        X = self._check_test_data(X)
        check_weight(sample_weight, X)
        return dask_glue.predict_labels(X, self.cluster_centers_, self._metric)

    @property
    def _metric(self):
        # Models pickled before metric existed are Euclidean.
        return getattr(self, "metric", "euclidean")

    def transform(self, X):
        """Distance from every row to every center: Euclidean, or with
        ``metric="cosine"`` the cosine distance ``1 - cos(x, c)``.

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, n_clusters)
            Lazy when X is a dask array. Its dtype is scikit-learn's: float32 only when
            both X and ``cluster_centers_`` are float32, else float64 (float32 X on a model
            fitted on float64 is measured in float64).
        """
        X = self._check_test_data(X)
        dtype = np.result_type(X.dtype, self.cluster_centers_.dtype)
        if X.dtype != dtype:
            X = X.astype(dtype)
        return dask_glue.transform_distances(X, self.cluster_centers_, self._metric)

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the weighted sum of squared distances of X to its nearest center
        (with ``metric="cosine"``: of the cosine distances to its most similar one)."""
        X = self._check_test_data(X)
        sample_weight = check_weight(sample_weight, X)
        return -dask_glue.inertia(X, self.cluster_centers_, sample_weight, self._metric)
