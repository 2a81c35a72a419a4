"""Input checks for numpy and dask input; none of them sets an attribute.

numpy input is validated by scikit-learn's `check_array`. dask input gets only the cheap,
lazy checks (shape, dtype); NaN and inf are found inside the first kernel pass over X.
Data that is not numbers (strings, objects, complex) is a ValueError whatever its
container, as scikit-learn raises for numpy input.
"""

import numbers

import dask.array as da
import numpy as np

from ._compat import _check_sample_weight, check_array

FLOAT_DTYPES = (np.float64, np.float32)


def is_dask(X):
    return isinstance(X, da.Array)


def is_dask_frame(X):
    return hasattr(X, "to_dask_array") and hasattr(X, "columns")


def dask_frame_feature_names(X):
    """Column names of a dask DataFrame as scikit-learn stores them (all str), else None.

    scikit-learn's own check recognises pandas frames only.
    """
    if not is_dask_frame(X):
        return None
    names = np.asarray(list(X.columns), dtype=object)
    return names if all(isinstance(n, str) for n in names) else None


def _check_numeric_columns(X):
    # Only frames get here, so pandas is installed.
    from pandas.api.types import is_bool_dtype, is_complex_dtype, is_numeric_dtype

    bad = [str(c) for c, t in zip(X.columns, X.dtypes)
           if not (is_numeric_dtype(t) or is_bool_dtype(t)) or is_complex_dtype(t)]
    if bad:
        raise ValueError(f"X has non-numeric columns {bad}; k-means needs real numbers. "
                         "Drop or encode them first.")


def _nullable_as_float(X):
    """A dask DataFrame whose pandas nullable columns (Float64, Int64, boolean) are numpy
    floats, pd.NA becoming NaN (found as NaN in the first pass), as scikit-learn's
    check_array converts a pandas frame; other columns are left as they are."""
    from pandas.api.types import is_extension_array_dtype

    cast = {c: (np.float32 if t.numpy_dtype == np.float32 else np.float64)
            for c, t in zip(X.columns, X.dtypes)
            if is_extension_array_dtype(t) and hasattr(t, "numpy_dtype")}
    return X.astype(cast) if cast else X


def check_X(X):
    """Validated X: a C-ordered float32/float64 numpy array, or a float dask array.

    Parameters
    ----------
    X : array-like, pandas or dask DataFrame, or dask array of shape \
            (n_samples, n_features)
        A dask DataFrame becomes a dask array with unknown chunk sizes, which the first
        pass over it learns.
    """
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        _check_numeric_columns(X)
    if is_dask_frame(X):
        X = _nullable_as_float(X).to_dask_array()
    if is_dask(X):
        X = _check_dask_X(X)
    else:
        # scipy.sparse X becomes CSR (CSC converted once), as in scikit-learn.
        X = check_array(X, dtype=list(FLOAT_DTYPES), order="C", accept_sparse="csr",
                        input_name="X")
    return X


def _complex_error(name, dtype):
    # A dask array's astype(float64) would silently drop the imaginary part.
    return ValueError(f"Complex data not supported: {name} has dtype {dtype}; k-means "
                      "needs real numbers.")


def _reject_complex(x, name):
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    # .kind also exists on pandas extension dtypes.
    if getattr(dtype, "kind", None) == "c":
        raise _complex_error(name, dtype)


def _check_real_dtype(dtype, name):
    """ValueError unless `dtype` holds real numbers (bools count as numbers)."""
    if np.issubdtype(dtype, np.complexfloating):
        raise _complex_error(name, dtype)
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise ValueError(f"{name} must hold numbers, got a dask array of dtype {dtype}; "
                         f"convert it to a numeric dtype first.")


def _check_dask_X(X):
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array, got a {X.ndim}-D dask array of shape {X.shape}; "
            "reshape your data (X.reshape(-1, 1) for a single feature).")
    _check_real_dtype(X.dtype, "X")
    if not np.isnan(X.shape[0]) and X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
            "required.")
    if X.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is "
            "required.")
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    return X


def _full_rows(block, value):
    return np.full(block.shape[0], value, dtype=np.float64)


def check_weight(sample_weight, X):
    """Validated sample_weight (None, numpy float64, or dask float64), aligned with X.

    A scalar gives every row that weight, as in scikit-learn. A dask weight gets only
    lazy checks (shape, dtype); its values are checked in the first pass over X.
    """
    if sample_weight is None:
        return None
    if is_dask(sample_weight) and not is_dask(X):
        # In-memory X is fitted in memory: its weights must be there too.
        sample_weight = sample_weight.compute()
    if is_dask(sample_weight):
        return _check_dask_weight(sample_weight, X)
    _reject_complex(sample_weight, "sample_weight")
    if isinstance(sample_weight, numbers.Number):
        return _check_scalar_weight(float(sample_weight), X)
    if is_dask(X):
        w = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                        input_name="sample_weight")
        _check_weight_shape(w, X)
    else:
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
    _check_weight_values(w)
    return w


def _check_scalar_weight(value, X):
    _check_weight_values(np.array([value]))
    if not is_dask(X):
        return np.full(X.shape[0], value)
    # Lazy, with X's row chunks (also unknown ones): a constant needs no pass over X.
    return X[:, :1].map_blocks(_full_rows, value, drop_axis=1, dtype=np.float64,
                               meta=np.empty(0))


def _check_weight_shape(w, X):
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D (or a scalar), got shape {w.shape}.")
    if not (np.isnan(w.shape[0]) or np.isnan(X.shape[0])) and w.shape[0] != X.shape[0]:
        raise ValueError(
            f"sample_weight has {w.shape[0]} entries but X has {X.shape[0]} rows.")


def _check_dask_weight(w, X):
    _check_real_dtype(w.dtype, "sample_weight")
    _check_weight_shape(w, X)
    return w.astype(np.float64)


def _check_weight_values(w):
    """Finite, non-negative, with a positive and finite sum (numpy weights)."""
    if np.isnan(w).any():
        raise ValueError("Input sample_weight contains NaN.")
    if np.isinf(w).any():
        raise ValueError("Input sample_weight contains infinity.")
    if np.any(w < 0):
        raise ValueError("sample_weight must be non-negative; negative weights found.")
    with np.errstate(over="ignore"):
        total = w.sum()
    if not total > 0:
        raise ValueError("sample_weight sums to zero; at least one weight must be positive.")
    if not np.isfinite(total):
        raise ValueError("sample_weight sums to infinity in float64; scale the weights "
                         "down (only their ratios matter to the centers).")


def resolve_n_init(n_init, init, default):
    """scikit-learn's n_init="auto": 1 for "k-means++", "k-means||" (chunkml's scalable
    k-means++) and an init array, `default` for "random" and a callable; an int as is."""
    if n_init != "auto":
        return n_init
    if isinstance(init, str):
        return default if init == "random" else 1
    return default if callable(init) else 1


def check_init(init, n_clusters, n_features, dtype):
    """An explicit init array: shape (n_clusters, n_features), finite real numbers."""
    _reject_complex(init, "init")
    init = check_array(init, dtype=list(FLOAT_DTYPES), order="C", copy=True,
                       input_name="init")
    # scikit-learn's messages, plus the shape expected.
    expected = f"init must have shape (n_clusters, n_features) = ({n_clusters}, {n_features})"
    if init.shape[0] != n_clusters:
        raise ValueError(f"The shape of the initial centers {init.shape} does not match "
                         f"the number of clusters {n_clusters}: {expected}.")
    if init.shape[1] != n_features:
        raise ValueError(f"The shape of the initial centers {init.shape} does not match "
                         f"the number of features of the data {n_features}: {expected}.")
    return init.astype(dtype, copy=False)


class CheckedInitCallable:
    """A callable init whose every result is checked as an init array, naming init.

    Called as ``init(X, n_clusters, random_state=rng)``, as scikit-learn calls it; a
    result of the wrong shape, not real numbers, or holding NaN/inf is a ValueError.
    """

    def __init__(self, init):
        self.init = init

    def __repr__(self):
        # What verbose output names as the init method.
        return repr(self.init)

    def __call__(self, X, n_clusters, random_state=None):
        centers = self.init(X, n_clusters, random_state=random_state)
        try:
            return check_init(centers, n_clusters, X.shape[1], np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The init callable {self.init!r} returned unusable "
                             f"centers: {exc}") from exc


# k-means|| keeps, per block and round, a buffer of about 2 * l candidate rows of
# n_features + 2 float64 values (l = oversampling_factor * n_clusters, the expected
# draws per round; dask_glue/init.py sizes it), and gathers up to min(l * rounds,
# n_samples) candidate rows on the client. Above this, k-means|| would need more memory
# than any sensible use of it (the default l = 2 * n_clusters stays far below it).
MAX_CANDIDATE_BYTES = 2**30


def check_oversampling(oversampling_factor, n_clusters, n_rounds, n_samples, n_features):
    """ValueError when k-means|| would hold more than MAX_CANDIDATE_BYTES of candidates.

    n_samples may be nan (an unknown row count).
    """
    per_round = float(oversampling_factor) * n_clusters
    row_bytes = 8.0 * (n_features + 2)
    max_rows = MAX_CANDIDATE_BYTES / row_bytes
    total = per_round * n_rounds
    if not np.isnan(n_samples):
        total = min(total, n_samples)
    round_too_large = 2 * per_round + 32 > max_rows
    if not (round_too_large or total > max_rows):
        return
    max_factor = (max_rows - 32) / (2 * n_clusters)
    if np.isnan(n_samples) or n_samples > max_rows:
        max_factor = min(max_factor, max_rows / (n_clusters * n_rounds))
    if round_too_large:
        held = f"{(2 * per_round + 32) * row_bytes / 2**30:.3g} GiB in each round"
    else:
        held = f"{total * row_bytes / 2**30:.3g} GiB over its {n_rounds} rounds"
    # k-means|| needs about n_clusters candidates over all its rounds.
    if max_factor * n_rounds >= 1:
        advice = f"use oversampling_factor <= {max_factor:.3g}"
        if not round_too_large:
            advice += " or fewer rounds (init_max_iter)"
    elif not round_too_large:
        advice = "use fewer rounds (init_max_iter)"
    else:
        advice = "use init='k-means++' or 'random'"
    raise ValueError(
        f"oversampling_factor={oversampling_factor!r} is too large: k-means|| would draw "
        f"about {per_round:.3g} candidate rows per round (oversampling_factor * "
        f"n_clusters, n_clusters={n_clusters}) and hold about {held}, more than the "
        f"{MAX_CANDIDATE_BYTES / 2**30:g} GiB it allows for n_features={n_features}; "
        f"{advice}.")


def check_n_clusters(n_clusters, X):
    n_samples = X.shape[0]
    if isinstance(n_samples, numbers.Integral) and n_samples < n_clusters:
        raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
