"""Every input a dask or scikit-learn user has, and what comes back for each."""

import logging
import pickle

import dask.array as da
import dask.dataframe as dd
import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import chunkml


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=1200, n_features=3, centers=4, cluster_std=1.5,
                      random_state=0)
    init = X[[0, 300, 600, 900]].copy()
    ref = chunkml.KMeans(4, init=init).fit(X)
    return X, init, ref


def _unknown_chunks(arr):
    """The same dask array with its row chunk sizes forgotten (as from a DataFrame)."""
    return da.Array(arr.dask, arr.name, ((np.nan,) * arr.numblocks[0],) + arr.chunks[1:],
                    meta=arr._meta)


INPUT_KINDS = ["numpy", "pandas", "dask-1-block", "dask-uneven", "dask-0-row-block",
               "dask-column-chunks", "dask-unknown-chunks", "dask-dataframe",
               "dask-dataframe-values", "dask-dataframe-to-dask-array"]


def _inputs(X):
    cols = ["a", "b", "c"]
    pdf = pd.DataFrame(X, columns=cols)
    ddf = dd.from_pandas(pdf, npartitions=3)
    return {
        "numpy": X,
        "pandas": pdf,
        "dask-1-block": da.from_array(X, chunks=(1200, 3)),
        "dask-uneven": da.from_array(X, chunks=(500, 3)),
        "dask-0-row-block": da.from_array(X, chunks=((0, 600, 0, 600), (3,))),
        "dask-column-chunks": da.from_array(X, chunks=(400, 1)),
        "dask-unknown-chunks": _unknown_chunks(da.from_array(X, chunks=(350, 3))),
        "dask-dataframe": ddf,
        "dask-dataframe-values": ddf.values,
        "dask-dataframe-to-dask-array": ddf.to_dask_array(),
    }


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_every_input_type_gives_the_numpy_result(blobs, kind):
    X, init, ref = blobs
    Xin = _inputs(X)[kind]
    km = chunkml.KMeans(4, init=init).fit(Xin)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9)
    assert km.n_iter_ == ref.n_iter_
    assert km.n_features_in_ == 3
    lazy = kind.startswith("dask")
    for out in (km.labels_, km.predict(Xin), km.transform(Xin)):
        assert isinstance(out, da.Array) == lazy
        assert isinstance(out, np.ndarray) == (not lazy)
    np.testing.assert_array_equal(np.asarray(km.labels_), ref.labels_)
    np.testing.assert_array_equal(np.asarray(km.predict(Xin)), ref.labels_)
    np.testing.assert_allclose(km.score(Xin), -ref.inertia_, rtol=1e-9)
    if kind in ("pandas", "dask-dataframe"):
        np.testing.assert_array_equal(km.feature_names_in_, ["a", "b", "c"])
    else:
        assert not hasattr(km, "feature_names_in_")


def test_unknown_chunk_sizes_cost_no_extra_pass(blobs):
    X, init, _ = blobs
    reads = []

    def count(block):
        reads.append(block.shape[0])
        return block

    Xd = _unknown_chunks(da.from_array(X, chunks=(300, 3)).map_blocks(
        count, dtype=X.dtype, meta=np.empty((0, 0), dtype=X.dtype)))
    km = chunkml.KMeans(4, init=init, max_iter=3, tol=0).fit(Xd)
    assert km.n_iter_ == 3
    # 3 Lloyd passes + the final inertia pass; the chunk sizes came along with the first.
    assert len(reads) == 4 * 4
    assert km.labels_.chunks == ((300,) * 4,)


def test_int_and_bool_input_become_float64(blobs):
    X, _, _ = blobs
    X_int = np.round(X).astype(np.int32)
    for Xin in (X_int, da.from_array(X_int, chunks=400)):
        km = chunkml.KMeans(3, random_state=0).fit(Xin)
        assert km.cluster_centers_.dtype == np.float64


def test_float32_kept_everywhere(blobs):
    X, init, ref = blobs
    X32 = X.astype(np.float32)
    for Xin in (X32, da.from_array(X32, chunks=500)):
        km = chunkml.KMeans(4, init=init).fit(Xin)
        assert km.cluster_centers_.dtype == np.float32
        assert km.transform(Xin).dtype == np.float32
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-4)


@pytest.mark.parametrize("weight_kind", ["numpy", "dask", "dask-other-chunks"])
@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random", "array"])
def test_sample_weight_forms_agree(blobs, weight_kind, init):
    X, init_array, _ = blobs
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    weights = {"numpy": w, "dask": da.from_array(w, chunks=500),
               "dask-other-chunks": da.from_array(w, chunks=170)}
    init = init_array if init == "array" else init
    ref = chunkml.KMeans(4, init=init, random_state=0).fit(da.from_array(X, chunks=500),
                                                            sample_weight=w)
    km = chunkml.KMeans(4, init=init, random_state=0).fit(
        da.from_array(X, chunks=500), sample_weight=weights[weight_kind])
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(km.score(X, sample_weight=w), -km.inertia_, rtol=1e-9)


def test_zero_weight_rows_are_ignored(blobs):
    X, init, _ = blobs
    w = np.ones(len(X))
    w[::2] = 0
    km = chunkml.KMeans(4, init=init).fit(da.from_array(X, chunks=500), sample_weight=w)
    ref = chunkml.KMeans(4, init=init).fit(X[1::2])
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9)


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_dask_fitted_model_pickles_and_predicts_the_same(blobs, tmp_path, dump):
    X, _, _ = blobs
    Xd = da.from_array(X, chunks=400).persist()
    km = chunkml.KMeans(4, random_state=0).fit(Xd)
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(km))
    else:
        joblib.dump(km, tmp_path / "km.joblib")
        loaded = joblib.load(tmp_path / "km.joblib")
    np.testing.assert_array_equal(loaded.cluster_centers_, km.cluster_centers_)
    assert isinstance(loaded.labels_, da.Array)
    np.testing.assert_array_equal(loaded.labels_.compute(), km.labels_.compute())
    np.testing.assert_array_equal(loaded.predict(Xd).compute(), km.predict(Xd).compute())
    np.testing.assert_array_equal(loaded.predict(X), km.predict(X))
    assert loaded.inertia_ == km.inertia_ and loaded.n_iter_ == km.n_iter_


def test_grid_search_pipeline_and_clone(blobs):
    X, _, _ = blobs
    grid = GridSearchCV(chunkml.KMeans(random_state=0), {"n_clusters": [2, 4, 6]}, cv=3)
    grid.fit(X)
    assert grid.best_params_["n_clusters"] == 6  # score = -inertia, lower with more k
    assert len(grid.cv_results_["mean_test_score"]) == 3
    pipe = make_pipeline(StandardScaler(), chunkml.KMeans(4, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (len(X),)
    km = chunkml.KMeans(5, init="random", tol=1e-3, random_state=1)
    assert clone(km).get_params() == km.get_params()
    assert km.set_params(n_clusters=3).n_clusters == 3


def test_debug_log_has_one_line_per_iteration(blobs, caplog):
    X, init, _ = blobs
    with caplog.at_level(logging.DEBUG, logger="chunkml"):
        km = chunkml.KMeans(4, init=init).fit(da.from_array(X, chunks=400))
    lines = [r.getMessage() for r in caplog.records if "Lloyd iteration" in r.getMessage()]
    assert len(lines) == km.n_iter_
    assert "inertia" in lines[0] and "center shift" in lines[0]


@pytest.mark.parametrize("estimator", [chunkml.KMeans, chunkml.MiniBatchKMeans])
@pytest.mark.parametrize("kind", ["numpy", "dask-uneven", "dask-unknown-chunks"])
def test_scalar_sample_weight_is_every_rows_weight(blobs, estimator, kind):
    """As scikit-learn: a scalar weight gives every row that weight (dask X too)."""
    X, init, _ = blobs
    params = dict(init=init, max_iter=20) if estimator is chunkml.KMeans else dict(
        init=init, batch_size=200, max_iter=5, random_state=0)
    Xin = _inputs(X)[kind]
    ref = estimator(4, **params).fit(Xin, sample_weight=np.full(len(X), 2.5))
    km = estimator(4, **params).fit(Xin, sample_weight=2.5)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-12)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-12)
    np.testing.assert_allclose(km.score(Xin, sample_weight=2.5), -km.inertia_, rtol=1e-9)


def test_pandas_nullable_columns_in_a_dask_dataframe(blobs):
    """Float64/Int64 columns work in a dask DataFrame as in a pandas frame."""
    X, init, _ = blobs
    X = X.copy()
    X[:, 2] = np.round(X[:, 2])
    pdf = pd.DataFrame(X, columns=["a", "b", "c"]).astype(
        {"a": "Float64", "b": "float64", "c": "Int64"})
    ref = chunkml.KMeans(4, init=init).fit(X)
    for frame in (pdf, dd.from_pandas(pdf, npartitions=3)):
        km = chunkml.KMeans(4, init=init).fit(frame)
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
        np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9)
        assert km.cluster_centers_.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(km.predict(frame)), ref.labels_)
        np.testing.assert_array_equal(km.feature_names_in_, ["a", "b", "c"])


@pytest.mark.parametrize("container", ["numpy", "dask"])
def test_callable_init_runs_from_what_it_returns(blobs, container):
    """KMeans takes a callable init, as scikit-learn: called once per run with that
    run's RandomState, its centers used as an init array would be."""
    X, init, _ = blobs
    Xin = X if container == "numpy" else da.from_array(X, chunks=500)
    calls = []

    def my_init(X_arg, n_clusters, random_state):
        calls.append((type(X_arg), X_arg.shape, n_clusters, random_state))
        return init if len(calls) == 1 else init[::-1]

    km = chunkml.KMeans(4, init=my_init, n_init=2, random_state=0).fit(Xin)
    assert [c[1:3] for c in calls] == [(X.shape, 4)] * 2
    assert all(c[0] is type(Xin) for c in calls)
    assert all(isinstance(c[3], np.random.RandomState) for c in calls)
    assert calls[0][3] is not calls[1][3]
    runs = [chunkml.KMeans(4, init=centers).fit(X) for centers in (init, init[::-1])]
    best = min(runs, key=lambda r: r.inertia_)  # ties: the first
    np.testing.assert_allclose(km.cluster_centers_, best.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(km.inertia_, best.inertia_, rtol=1e-9)
