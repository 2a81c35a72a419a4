"""Bad input: a ValueError/TypeError naming the problem, and the estimator left as it was."""

import warnings

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans as SKKMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

import chunkml

FITTED = ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_",
          "feature_names_in_", "n_steps_", "_state")


@pytest.fixture(scope="module")
def X():
    return make_blobs(n_samples=300, n_features=3, centers=3, random_state=0)[0]


def _snapshot(km):
    return {name: getattr(km, name) for name in FITTED if hasattr(km, name)}


def _assert_fails_and_unchanged(km, exc, match, *args, **kwargs):
    before = _snapshot(km)
    params = km.get_params()
    with pytest.raises(exc, match=match):
        km.fit(*args, **kwargs)
    after = _snapshot(km)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] is before[name], name
    assert km.get_params() == params


def _with_nonfinite(X, value):
    bad = X.copy()
    bad[123, 1] = value
    return bad


@pytest.fixture(params=["fresh", "fitted"])
def km_state(request, X):
    """A fresh estimator, and one already fitted: neither may change on a failed fit."""
    def make(estimator=chunkml.KMeans, **params):
        km = estimator(n_clusters=3, random_state=0)
        if request.param == "fitted":
            km.fit(X)
        return km.set_params(**params)
    return make


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random", "array"])
@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_nan_and_inf(km_state, X, value, init, container):
    bad = _with_nonfinite(X, value)
    if container == "dask":
        bad = da.from_array(bad, chunks=100)
    init = X[:3].copy() if init == "array" else init
    _assert_fails_and_unchanged(km_state(init=init), ValueError, "NaN|infinity", bad)


def test_nan_found_in_the_first_pass_not_a_separate_one(X):
    reads = []

    def count(block):
        reads.append(1)
        return block

    bad = da.from_array(_with_nonfinite(X, np.nan), chunks=100).map_blocks(
        count, dtype=X.dtype, meta=np.empty((0, 0)))
    with pytest.raises(ValueError, match="NaN"):
        chunkml.KMeans(3, random_state=0).fit(bad)
    assert len(reads) == 3  # one pass over the 3 blocks, then the error


@pytest.mark.parametrize("shape_kind", ["1-D", "3-D"])
@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_wrong_number_of_dimensions(km_state, X, shape_kind, container):
    bad = X[:, 0] if shape_kind == "1-D" else X.reshape(100, 3, 3)
    if container == "dask":
        bad = da.from_array(bad)
    match = "Reshape your data|reshape" if shape_kind == "1-D" else "2-D|dim"
    _assert_fails_and_unchanged(km_state(), ValueError, match, bad)


@pytest.mark.parametrize("container", ["numpy", "dask", "dask-unknown"])
def test_zero_samples(km_state, container):
    bad = np.empty((0, 3))
    if container == "dask":
        bad = da.from_array(bad)
    elif container == "dask-unknown":
        bad = dd.from_pandas(pd.DataFrame(bad, columns=list("abc")), npartitions=1).values
    _assert_fails_and_unchanged(km_state(), ValueError, "0 sample", bad)


@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_zero_features(km_state, container):
    bad = np.empty((10, 0))
    if container == "dask":
        bad = da.from_array(bad)
    _assert_fails_and_unchanged(km_state(), ValueError, "0 feature", bad)


@pytest.mark.parametrize("container", ["pandas", "dask"])
def test_non_numeric_columns(km_state, X, container):
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(name="x")
    if container == "dask":
        frame = dd.from_pandas(frame, npartitions=2)
    # ValueError, as scikit-learn raises for a frame with a text column.
    _assert_fails_and_unchanged(km_state(), ValueError, "non-numeric columns.*name", frame)


@pytest.mark.parametrize("data, match", [
    (np.array([["a", "b"], ["c", "d"]] * 5), "convert|number"),
    (np.ones((10, 2)) + 1j, "Complex data not supported"),
])
@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_data_that_is_not_real_numbers(km_state, data, match, container):
    """The same data gives the same ValueError (as scikit-learn) whatever its container."""
    Xin = data if container == "numpy" else da.from_array(data, chunks=4)
    _assert_fails_and_unchanged(km_state(), ValueError, match, Xin)


def test_pandas_na_in_a_dask_dataframe_is_nan(km_state, X):
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).astype({"a": "Float64"})
    frame.loc[123, "a"] = pd.NA
    _assert_fails_and_unchanged(km_state(), ValueError, "NaN",
                                dd.from_pandas(frame, npartitions=2))


@pytest.mark.parametrize("params, match", [
    ({"n_clusters": 0}, "n_clusters"),
    ({"n_clusters": -2}, "n_clusters"),
    ({"init": "kmeans++"}, "init"),
    ({"oversampling_factor": 0}, "oversampling_factor"),
    ({"oversampling_factor": -1.5}, "oversampling_factor"),
    ({"max_iter": 0}, "max_iter"),
    ({"tol": -1e-3}, "tol"),
    ({"init_max_iter": 0}, "init_max_iter"),
    ({"n_init": 0}, "n_init"),
    ({"algorithm": "auto"}, "algorithm"),
])
def test_bad_parameters(km_state, X, params, match):
    _assert_fails_and_unchanged(km_state(**params), ValueError, match, X)


@pytest.mark.parametrize("estimator, name", [
    (chunkml.KMeans, "n_clusters"),
    (chunkml.KMeans, "max_iter"),
    (chunkml.KMeans, "n_init"),
    (chunkml.KMeans, "init_max_iter"),
    (chunkml.KMeans, "random_state"),
    (chunkml.KMeans, "oversampling_factor"),
    (chunkml.KMeans, "tol"),
    (chunkml.MiniBatchKMeans, "n_clusters"),
    (chunkml.MiniBatchKMeans, "batch_size"),
    (chunkml.MiniBatchKMeans, "init_size"),
    (chunkml.MiniBatchKMeans, "max_no_improvement"),
    (chunkml.MiniBatchKMeans, "n_init"),
    (chunkml.MiniBatchKMeans, "random_state"),
])
def test_bool_is_not_a_number(km_state, X, estimator, name):
    # isinstance(True, numbers.Integral) holds: True must not pass for 1.
    _assert_fails_and_unchanged(km_state(estimator, **{name: True}), ValueError,
                                f"'{name}' parameter.*Got True", X)


@pytest.mark.parametrize("init_max_iter", [None, 4])
@pytest.mark.parametrize("container", ["numpy", "dask-unknown"])
def test_oversampling_factor_too_large(km_state, X, init_max_iter, container):
    Xin = X if container == "numpy" else dd.from_pandas(
        pd.DataFrame(X, columns=list("abc")), npartitions=2).values
    # 1e9 * 3 candidates per round asked for a 224 GiB buffer (MemoryError).
    km = km_state(init_max_iter=init_max_iter, oversampling_factor=1e9)
    _assert_fails_and_unchanged(km, ValueError,
                                r"oversampling_factor=1000000000\.0 is too large.*GiB.*"
                                r"use oversampling_factor <= \d", Xin)


@pytest.mark.parametrize("container", ["numpy", "dask", "dask-unknown"])
def test_more_clusters_than_samples(km_state, X, container):
    small = X[:5]
    if container == "dask":
        small = da.from_array(small, chunks=2)
    elif container == "dask-unknown":
        small = dd.from_pandas(pd.DataFrame(small, columns=list("abc")), npartitions=2).values
    _assert_fails_and_unchanged(km_state(n_clusters=6), ValueError,
                                "n_samples=5 should be >= n_clusters=6", small)


@pytest.mark.parametrize("init, match", [
    (np.zeros((2, 3)), r"initial centers \(2, 3\) does not match the number of clusters.*\(3, 3\)"),
    (np.zeros((3, 2)), r"initial centers \(3, 2\) does not match the number of features.*\(3, 3\)"),
    (np.array([[0.0, 0, 0], [1, 1, 1], [np.nan, 0, 0]]), "init contains NaN"),
    (np.eye(3) + 1j, "Complex data not supported: init"),
])
@pytest.mark.parametrize("estimator", [chunkml.KMeans, chunkml.MiniBatchKMeans])
def test_bad_init_array(km_state, X, init, match, estimator):
    _assert_fails_and_unchanged(km_state(estimator, init=init), ValueError, match, X)


@pytest.mark.parametrize("init", [np.full((3, 3), 1e300), np.eye(3) * 1e200,
                                  np.eye(3) * 1e20], ids=["1e300", "1e200", "1e20"])
@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_init_array_far_from_X_still_clusters_X(X, init, container):
    """Finite X and a finite init whose squared distances to X overflow float64 (or
    whose frame would lose X's detail): no error, and the clustering scikit-learn finds
    from an init near X (the far centers take the farthest rows, then Lloyd converges),
    and no RuntimeWarning from numpy's overflow in the center shift.
    """
    Xin = X if container == "numpy" else da.from_array(X, chunks=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        km = chunkml.KMeans(3, init=init).fit(Xin)
    ref = SKKMeans(3, init=X[:3], n_init=1).fit(X)
    order = np.argsort(km.cluster_centers_[:, 0])
    ref_order = np.argsort(ref.cluster_centers_[:, 0])
    np.testing.assert_allclose(km.cluster_centers_[order], ref.cluster_centers_[ref_order],
                               rtol=1e-7)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-7)


def test_infinite_dask_weights_are_not_blamed_on_init(X):
    # The first pass over X is Lloyd's; its inertia is infinite because of the weights.
    w = da.from_array(np.r_[np.inf, np.ones(299)], chunks=100)
    with pytest.raises(ValueError) as error:
        chunkml.KMeans(3, init=X[:3].copy()).fit(da.from_array(X, chunks=100),
                                                 sample_weight=w)
    assert "initial centers" not in str(error.value)


def _init_returning(centers):
    def init(X, n_clusters, random_state=None):
        return centers
    return init


@pytest.mark.parametrize("centers, match", [
    (np.full((3, 3), np.nan), "init callable.*init contains NaN"),
    (np.r_[np.zeros((2, 3)), [[np.inf, 0, 0]]], "init callable.*init contains infinity"),
    (np.zeros((2, 3)), r"init callable.*centers \(2, 3\).*\(3, 3\)"),
    (np.zeros((3, 3)) + 1j, "init callable.*Complex data not supported"),
    (np.full((3, 3), "a"), "init callable.*convert"),
])
@pytest.mark.parametrize("estimator", [chunkml.KMeans, chunkml.MiniBatchKMeans])
def test_bad_init_callable_result(km_state, X, centers, match, estimator):
    # MiniBatchKMeans fitted NaN centers from a NaN init; KMeans takes callables too now.
    _assert_fails_and_unchanged(km_state(estimator, init=_init_returning(centers)),
                                ValueError, match, X)


@pytest.mark.parametrize("weights, match", [
    (np.ones(299), "299|300|length|samples"),
    (np.r_[-1.0, np.ones(299)], "non-negative"),
    (np.zeros(300), "sums to zero|at least one non-zero"),
])
@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_bad_sample_weight(km_state, X, weights, match, container):
    Xin = X if container == "numpy" else da.from_array(X, chunks=100)
    if container == "dask" and len(weights) == 300:
        weights = da.from_array(weights, chunks=100)
    _assert_fails_and_unchanged(km_state(), ValueError, match, Xin, sample_weight=weights)


@pytest.mark.parametrize("weights, match", [
    (np.r_[np.nan, np.ones(299)], "Input sample_weight contains NaN"),
    (np.r_[np.ones(299), np.inf], "Input sample_weight contains infinity"),
    (np.nan, "Input sample_weight contains NaN"),
    (np.inf, "Input sample_weight contains infinity"),
    (-1.0, "sample_weight must be non-negative"),
    (0.0, "sample_weight sums to zero"),
    (np.full(300, 1e307), "sample_weight sums to infinity"),
    (np.ones(300) + 1j, "Complex data not supported: sample_weight"),
    (1 + 1j, "Complex data not supported: sample_weight"),
])
@pytest.mark.parametrize("container", ["numpy", "dask"])
@pytest.mark.parametrize("estimator", [chunkml.KMeans, chunkml.MiniBatchKMeans])
def test_bad_in_memory_sample_weight_is_named(km_state, X, weights, match, container,
                                             estimator):
    """numpy or scalar weights are checked eagerly, whatever X is."""
    Xin = X if container == "numpy" else da.from_array(X, chunks=100)
    _assert_fails_and_unchanged(km_state(estimator), ValueError, match, Xin,
                                sample_weight=weights)


@pytest.mark.parametrize("weights, match", [
    (np.ones(300) + 1j, "Complex data not supported: sample_weight"),
    (np.full(300, "1"), "sample_weight must hold numbers"),
    (np.ones((300, 2)), "sample_weight must be 1-D"),
    (np.ones(200), "sample_weight has 200 entries but X has 300 rows"),
])
@pytest.mark.parametrize("estimator", [chunkml.KMeans, chunkml.MiniBatchKMeans])
def test_bad_dask_sample_weight_is_found_without_reading_it(km_state, X, weights, match,
                                                            estimator):
    """dtype and shape of a dask weight are checked lazily: neither X nor the weights
    are read before the error (complex weights were cast to real silently)."""
    reads = []

    def count(block):
        reads.append(1)
        return block

    Xd = da.from_array(X, chunks=100).map_blocks(count, dtype=X.dtype,
                                                 meta=np.empty((0, 0), dtype=X.dtype))
    w = da.from_array(weights, chunks=100).map_blocks(
        count, dtype=weights.dtype, meta=np.empty((0,) * weights.ndim, dtype=weights.dtype))
    _assert_fails_and_unchanged(km_state(estimator), ValueError, match, Xd,
                                sample_weight=w)
    assert reads == []


@pytest.mark.parametrize("method", ["predict", "transform", "score"])
@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_wrong_number_of_features_after_fit(X, method, container):
    km = chunkml.KMeans(3, random_state=0).fit(X)
    bad = X[:, :2] if container == "numpy" else da.from_array(X[:, :2])
    with pytest.raises(ValueError, match="2 features.*expecting 3"):
        getattr(km, method)(bad)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random", "array"])
@pytest.mark.parametrize("container", ["numpy", "dask"])
@pytest.mark.parametrize("data", ["all-equal", "two-distinct"])
def test_degenerate_data_fits_and_warns(init, container, data):
    X = np.ones((40, 2)) if data == "all-equal" else np.repeat([[0.0, 0], [5, 5]], 20, 0)
    Xin = X if container == "numpy" else da.from_array(X, chunks=15)
    init = X[:4].copy() if init == "array" else init
    with pytest.warns(ConvergenceWarning, match="Number of distinct clusters"):
        km = chunkml.KMeans(4, init=init, random_state=0, max_iter=50).fit(Xin)
    labels = np.asarray(km.labels_)
    # Every row sits on its own center, and every distinct row is a center.
    np.testing.assert_array_equal(km.cluster_centers_[labels], X)
    assert km.inertia_ == 0.0
    if isinstance(init, str):
        # Sampled centers are rows of X already: the first iteration moves none.
        assert km.n_iter_ == 1
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = SKKMeans(4, init=init, n_init=1, max_iter=50).fit(X)
        np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)
        np.testing.assert_array_equal(labels, ref.labels_)
        assert km.n_iter_ == ref.n_iter_


def test_no_warning_on_good_data(X):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chunkml.KMeans(3, random_state=0).fit(da.from_array(X, chunks=100))


def test_oversampling_bound_leaves_sensible_values_alone():
    from chunkml.estimators._validation import check_oversampling

    # The defaults for a large fit: 10_000 clusters of 1_000 features, a billion rows.
    check_oversampling(2, 10_000, 5, 10**9, 1_000)
    check_oversampling(2, 10_000, 5, np.nan, 1_000)  # unknown row count
    # As many clusters as rows, and a factor far above the default on small data.
    check_oversampling(2, 300, 5, 300, 3)
    check_oversampling(1e4, 3, 100, 300, 3)
    with pytest.raises(ValueError, match=r"over its 1000000 rounds.*fewer rounds "
                                         r"\(init_max_iter\)"):
        # Each round is fine; 10^6 rounds of 20_000 candidates are not.
        check_oversampling(2, 10_000, 10**6, np.nan, 1_000)
