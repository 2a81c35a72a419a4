"""scikit-learn's and dask-ml's KMeans parameters, output names and dtypes, checked
against scikit-learn itself (issue 15)."""

import re
import warnings

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import sklearn.cluster
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import chunkml

# dask-ml's KMeans().get_params() (dask_ml/cluster/k_means.py; dask-ml is not a dependency).
DASK_ML_PARAMS = dict(n_clusters=8, init="k-means||", oversampling_factor=2, max_iter=300,
                      tol=0.0001, precompute_distances="auto", random_state=None,
                      copy_x=True, n_jobs=1, algorithm="full", init_max_iter=None)


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    centers = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]])
    return centers[rng.randint(3, size=300)] + rng.normal(size=(300, 3))


@pytest.mark.parametrize("sk_class, ck_class", [
    (sklearn.cluster.KMeans, chunkml.KMeans),
    (sklearn.cluster.MiniBatchKMeans, chunkml.MiniBatchKMeans),
])
def test_sklearn_params_construct_and_fit(X, sk_class, ck_class):
    params = sk_class(n_clusters=3, random_state=0).get_params()
    assert set(params) <= set(ck_class().get_params())
    km = ck_class(**params).fit(X)
    assert km.cluster_centers_.shape == (3, 3)
    assert km.get_params()["n_init"] == "auto"


def test_dask_ml_params_construct_and_fit_with_future_warnings(X):
    params = dict(DASK_ML_PARAMS, n_clusters=3, random_state=0)
    with pytest.warns(FutureWarning) as record:
        km = chunkml.KMeans(**params).fit(X)
    messages = " ".join(str(w.message) for w in record)
    for name in ("algorithm=\"full\"", "n_jobs=1", "precompute_distances='auto'"):
        assert name in messages
    # "full" is Lloyd: the same fit as algorithm="lloyd" without the ignored parameters.
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # none with the defaults
        ref = chunkml.KMeans(n_clusters=3, random_state=0).fit(X)
    np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_elkan_is_lloyd(X, init):
    fits = [chunkml.KMeans(3, init=init, algorithm=a, random_state=1, copy_x=c).fit(X)
            for a, c in (("lloyd", True), ("elkan", False))]
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
    assert fits[0].inertia_ == fits[1].inertia_ and fits[0].n_iter_ == fits[1].n_iter_


def test_elkan_with_one_cluster_warns_as_sklearn(X):
    with pytest.warns(RuntimeWarning, match="elkan.*single cluster"):
        chunkml.KMeans(1, algorithm="elkan").fit(X)


def test_copy_x_false_leaves_X_unchanged(X):
    X_c = X.copy()
    chunkml.KMeans(3, copy_x=False, random_state=0).fit(X_c)
    np.testing.assert_array_equal(X_c, X)


@pytest.mark.parametrize("estimator, init, runs", [
    (chunkml.KMeans, "callable", 10),
    (chunkml.KMeans, "array", 1),
])
def test_n_init_auto_runs_as_sklearn(X, estimator, init, runs):
    calls = []

    def first_rows(X_, k, random_state):
        calls.append(1)
        return X_[random_state.choice(X_.shape[0], k, replace=False)]

    init_arg = first_rows if init == "callable" else X[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no n_init warning for "auto"
        estimator(3, init=init_arg, n_init="auto", random_state=0).fit(X)
    assert len(calls) == (runs if init == "callable" else 0)


@pytest.mark.parametrize("init", ["k-means||", "k-means++"])
def test_n_init_auto_is_one_run_for_kmeans_parallel_and_plusplus(X, init):
    auto = chunkml.KMeans(3, init=init, n_init="auto", random_state=2).fit(X)
    one = chunkml.KMeans(3, init=init, n_init=1, random_state=2).fit(X)
    np.testing.assert_array_equal(auto.cluster_centers_, one.cluster_centers_)


def test_n_init_auto_random_is_ten_runs(X):
    auto = chunkml.KMeans(3, init="random", n_init="auto", random_state=2).fit(X)
    ten = chunkml.KMeans(3, init="random", n_init=10, random_state=2).fit(X)
    np.testing.assert_array_equal(auto.cluster_centers_, ten.cluster_centers_)


def _numbers_apart(line):
    """(text with the numbers cut out, the numbers) of a verbose line."""
    number = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
    return re.sub(number, "#", line), [float(v) for v in re.findall(number, line)]


@pytest.mark.parametrize("tol", [1e-2, 0])
@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_kmeans_verbose_lines_are_sklearns(X, capsys, tol, container):
    """From the same initial centers, the same lines as scikit-learn prints."""
    init = X[:3]
    Xin = X if container == "numpy" else da.from_array(X, chunks=100)
    chunkml.KMeans(3, init=init, n_init=1, tol=tol, verbose=1).fit(Xin)
    out = capsys.readouterr().out.splitlines()
    sklearn.cluster.KMeans(3, init=init, n_init=1, tol=tol, verbose=1).fit(X)
    expected = capsys.readouterr().out.splitlines()
    assert out[0] == "Initialization complete"
    assert len(out) == len(expected) > 3
    for line, ref in zip(out, expected):
        (text, values), (ref_text, ref_values) = _numbers_apart(line), _numbers_apart(ref)
        assert text == ref_text
        np.testing.assert_allclose(values, ref_values, rtol=1e-6, atol=1e-12)
    assert ("strict convergence" if tol == 0 else "within tolerance") in out[-1]


@pytest.mark.parametrize("tol, max_no_improvement, converged", [
    (1e-4, None, "Converged (small centers change)"),
    (0, 10, "Converged (lack of improvement in inertia)"),
])
def test_minibatch_verbose_lines_as_sklearn(X, capsys, tol, max_no_improvement, converged):
    params = dict(batch_size=20, tol=tol, random_state=0, max_iter=10,
                  max_no_improvement=max_no_improvement)
    chunkml.MiniBatchKMeans(3, **params).fit(X)
    chunkml.KMeans(3, random_state=0).fit(X)
    assert capsys.readouterr().out == ""  # verbose=0: nothing
    km = chunkml.MiniBatchKMeans(3, verbose=1, **params).fit(X)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Init 1/1 with method k-means++"
    assert out[1].startswith("Inertia for init 1/1: ")
    n_steps = 10 * X.shape[0] // 20
    steps = [line for line in out if line.startswith("Minibatch step ")]
    assert steps[0].startswith(f"Minibatch step 1/{n_steps}: mean batch inertia: ")
    assert len(steps) == km.n_steps_
    assert out[-1] == f"{converged} at step {km.n_steps_}/{n_steps}"


@pytest.mark.parametrize("estimator, prefix", [(chunkml.KMeans, "kmeans"),
                                               (chunkml.MiniBatchKMeans, "minibatchkmeans")])
def test_feature_names_out_and_pandas_output(X, estimator, prefix):
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    km = estimator(3, random_state=0)
    sk = getattr(sklearn.cluster, estimator.__name__)(3, random_state=0, n_init=1)
    expected = [f"{prefix}{i}" for i in range(3)]
    pipe = make_pipeline(StandardScaler(), km).set_output(transform="pandas")
    out = pipe.fit_transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == expected
    assert list(pipe.get_feature_names_out()) == expected
    assert list(sk.fit(frame).get_feature_names_out()) == expected
    ct = ColumnTransformer([("km", km, ["a", "b"]), ("keep", "passthrough", ["c"])])
    assert list(ct.fit(frame).get_feature_names_out()) == [f"km__{n}" for n in expected] + [
        "keep__c"]


def test_feature_names_out_needs_a_fit():
    with pytest.raises(sklearn.exceptions.NotFittedError):
        chunkml.KMeans(3).get_feature_names_out()


@pytest.mark.parametrize("name", ["KMeans", "MiniBatchKMeans"])
def test_output_dtypes_as_sklearn(X, name):
    """Every (fit dtype, input dtype) pair; scikit-learn's predict and score fail on
    mismatched float dtypes, chunkml's give int32 labels and a float."""
    dtypes = (np.float32, np.float64, np.int64)
    for fit_dtype in dtypes:
        ck = getattr(chunkml, name)(3, random_state=0).fit(X.astype(fit_dtype))
        sk = getattr(sklearn.cluster, name)(3, random_state=0, n_init=1).fit(
            X.astype(fit_dtype))
        assert ck.cluster_centers_.dtype == sk.cluster_centers_.dtype
        assert ck.labels_.dtype == sk.labels_.dtype
        assert ck.fit_transform(X.astype(fit_dtype)).dtype == sk.fit_transform(
            X.astype(fit_dtype)).dtype
        for dtype in dtypes:
            Xt = X.astype(dtype)
            expected = sk.transform(Xt).dtype
            assert ck.transform(Xt).dtype == expected, (fit_dtype, dtype)
            # The same dtype for dask input, lazily.
            assert ck.transform(da.from_array(Xt, chunks=100)).dtype == expected
            assert ck.predict(Xt).dtype == np.int32 and isinstance(ck.score(Xt), float)
