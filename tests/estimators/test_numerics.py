"""Numeric edge cases at the estimator level: never a silent wrong result (issue 11)."""

import re

import dask.array as da
import numpy as np
import pytest

import chunkml


def _blobs(n_samples=300, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = rng.integers(0, 3, n_samples)
    return centers[labels] + rng.normal(size=(n_samples, 2)), labels


# Lazy predict / transform / score on non-finite dask input


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("method", ["predict", "transform", "score"])
def test_lazy_outputs_raise_on_non_finite_input_as_numpy(method, bad, dtype):
    X, _ = _blobs()
    X = X.astype(dtype)
    km = chunkml.KMeans(3, random_state=0).fit(X)
    Y = X.copy()
    Y[123, 1] = bad
    with pytest.raises(ValueError) as numpy_error:
        getattr(km, method)(Y)
    with pytest.raises(ValueError, match=re.escape(str(numpy_error.value))):
        # predict and transform stay lazy until computed; score computes.
        np.asarray(getattr(km, method)(da.from_array(Y, chunks=70)))
