"""Every scikit-learn name chunkml uses, private ones included, imported in one place.

dask-ml breaks whenever scikit-learn moves a private helper; here a move is a one-line fix.
"""

from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "BaseEstimator",
    "ClusterMixin",
    "ConvergenceWarning",
    "Interval",
    "StrOptions",
    "TransformerMixin",
    "_check_sample_weight",
    "_fit_context",
    "check_array",
    "check_is_fitted",
    "check_random_state",
    "validate_data",
]
