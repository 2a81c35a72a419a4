"""The generators' checks of scalar and vector parameters, with their messages.

Not scikit-learn's ``validate_params``: these messages are part of chunkml's API (and
its tests), which scikit-learn's would replace; its int constraint takes ``True`` for
1; ``sklearn.set_config(skip_parameter_validation=True)`` would switch the checks off;
and as a decorator it would import scikit-learn (~110 MiB) into every worker that
unpickles a block function of this package.
"""

import numbers

import numpy as np


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
