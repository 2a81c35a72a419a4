"""Every scikit-learn name chunkml uses, private ones included, imported in one place.

dask-ml breaks whenever scikit-learn moves a private helper; here a move is a one-line fix.
"""

from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)


class NumberInterval(Interval):
    """scikit-learn's Interval, except that a bool is not a number.

    ``isinstance(True, numbers.Integral)`` holds, so scikit-learn's own Interval takes
    ``n_clusters=True`` for 1 (and its KMeans then fails with a TypeError that names no
    parameter); here a bool fails parameter validation, whose error names the parameter.
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, bool) and super().is_satisfied_by(val)


# scikit-learn's "random_state" constraint without bools (check_random_state(True) would
# silently seed with 1).
RANDOM_STATE = [NumberInterval(Integral, 0, 2**32 - 1, closed="both"),
                np.random.RandomState, None]

__all__ = [
    "RANDOM_STATE",
    "BaseEstimator",
    "ClassNamePrefixFeaturesOutMixin",
    "ClusterMixin",
    "ConvergenceWarning",
    "Interval",
    "NumberInterval",
    "StrOptions",
    "TransformerMixin",
    "_check_sample_weight",
    "_fit_context",
    "check_array",
    "check_is_fitted",
    "check_random_state",
    "validate_data",
]
