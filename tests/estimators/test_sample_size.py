"""KMeans(sample_size=...): init and Lloyd on a uniform sample, labels_/inertia_ on X."""

import dask.array as da
import numpy as np
import pytest
from sklearn.datasets import make_blobs

import chunkml
from chunkml.dask_glue.sample_fit import sample_for_fit

RTOL = {np.float64: 1e-7, np.float32: 1e-4}
CHUNKINGS = {
    "numpy": None,
    "even": (1000,) * 4,
    "uneven": (333,) * 12 + (4,),
    "tiny-blocks": (0, 1700, 1, 0, 1, 2298),
}
INT32_MAX = np.iinfo(np.int32).max


def _data(dtype=np.float64):
    X, _ = make_blobs(n_samples=4000, n_features=6, centers=8, cluster_std=2.0,
                      random_state=0)
    weight = np.random.RandomState(1).uniform(0.1, 3.0, size=len(X))
    return X.astype(dtype), weight


def _as_input(X, chunking):
    rows = CHUNKINGS[chunking]
    return X if rows is None else da.from_array(X, chunks=(rows, X.shape[1]))


def _sampled_rows(X, weight, n_rows, random_state, n_init=1):
    """The rows KMeans(random_state=random_state, sample_size=n_rows) draws: its seed is
    the one drawn from random_state after the runs' seeds."""
    rs = np.random.RandomState(random_state)
    rs.randint(INT32_MAX, size=n_init)
    return sample_for_fit(X, weight, n_rows, int(rs.randint(INT32_MAX)))[2]


@pytest.mark.parametrize("weighted", [False, True])
def test_sample_is_the_same_over_chunkings(weighted):
    X, weight = _data()
    w = weight if weighted else None
    samples = [sample_for_fit(_as_input(X, c), None if w is None else
                              (w if c == "numpy" else da.from_array(w, chunks=7 * 111)),
                              500, 42) for c in CHUNKINGS]
    index = samples[0][2]
    assert index.shape == (500,) and np.all(np.diff(index) > 0)
    for rows, w_rows, idx in samples:
        np.testing.assert_array_equal(idx, index)
        np.testing.assert_array_equal(rows, X[index])
        assert rows.dtype == X.dtype
        if weighted:
            np.testing.assert_array_equal(w_rows, weight[index])
        else:
            assert w_rows is None
    # Uniform: the weights do not bias which rows are drawn.
    np.testing.assert_array_equal(sample_for_fit(X, weight, 500, 42)[2], index)
    assert not np.array_equal(sample_for_fit(X, None, 500, 43)[2], index)


def test_sample_is_uniform():
    X = np.zeros((50_000, 1)) + 1.0
    index = sample_for_fit(X, None, 5_000, 7)[2]
    counts = np.bincount(index // 5_000, minlength=10)
    # 500 expected per tenth of X; binomial sd ~21: 5 sd either way.
    assert np.all(np.abs(counts - 500) < 110), counts


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("init", ["k-means||", "array"])
def test_fit_equals_a_fit_on_the_sampled_rows(dtype, chunking, init):
    X, weight = _data(dtype)
    init_arg = X[:8] if init == "array" else init
    km = chunkml.KMeans(8, init=init_arg, random_state=0, sample_size=600).fit(
        _as_input(X, chunking), sample_weight=weight)
    index = _sampled_rows(X, weight, 600, 0)
    ref = chunkml.KMeans(8, init=init_arg, random_state=0).fit(X[index],
                                                               sample_weight=weight[index])
    rtol = RTOL[dtype]
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=rtol)
    assert km.n_iter_ == ref.n_iter_
    # labels_ and inertia_ are of all of X.
    labels = np.asarray(km.labels_)
    assert labels.shape == (len(X),)
    assert isinstance(km.labels_, np.ndarray if chunking == "numpy" else da.Array)
    np.testing.assert_array_equal(labels, km.predict(X))
    np.testing.assert_allclose(km.inertia_, -km.score(X, sample_weight=weight), rtol=rtol)
    assert km.inertia_ > ref.inertia_  # the sample's inertia is of 600 rows only


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_a_sample_of_all_rows_is_the_full_fit(metric):
    X, weight = _data()
    full = chunkml.KMeans(8, random_state=0, metric=metric).fit(X, sample_weight=weight)
    for size in (len(X), 1.0):
        km = chunkml.KMeans(8, random_state=0, metric=metric, sample_size=size).fit(
            X, sample_weight=weight)
        np.testing.assert_array_equal(km.cluster_centers_, full.cluster_centers_)
        assert km.inertia_ == full.inertia_


@pytest.mark.parametrize("fraction", [0.125, np.float32(0.125), np.float64(0.125)])
def test_fraction_and_cosine(fraction):
    X, _ = _data()
    km = chunkml.KMeans(8, random_state=0, sample_size=fraction, metric="cosine").fit(
        _as_input(X, "uneven"))
    index = _sampled_rows(X, None, 500, 0)  # 0.125 * 4000
    ref = chunkml.KMeans(8, random_state=0, metric="cosine").fit(X[index])
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-7)
    np.testing.assert_array_equal(np.asarray(km.labels_), km.predict(X))
    np.testing.assert_allclose(km.inertia_, -km.score(X), rtol=1e-7)


@pytest.mark.parametrize("size, match", [
    (4001, "sample_size=4001 is larger than n_samples=4000"),
    (7, "sample_size=7 is smaller than n_clusters=8"),
    (0.001, r"sample_size=0.001 \(4 of the 4000 rows of X\) is smaller than n_clusters"),
    (0, "'sample_size' parameter"),
    (1.5, "'sample_size' parameter"),
    (-0.5, "'sample_size' parameter"),
    (True, "'sample_size' parameter"),
    ("all", "'sample_size' parameter"),
])
def test_bad_sample_size(size, match):
    X, _ = _data()
    km = chunkml.KMeans(8, sample_size=size)
    with pytest.raises(ValueError, match=match):
        km.fit(X)
    assert not hasattr(km, "cluster_centers_")


def test_unknown_chunk_sizes():
    X, _ = _data()
    X_dask = da.from_array(X, chunks=(1000, 6))
    unknown = X_dask[X_dask[:, 0] == X_dask[:, 0]]
    km = chunkml.KMeans(8, random_state=0, sample_size=600).fit(unknown)
    ref = chunkml.KMeans(8, random_state=0, sample_size=600).fit(X)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-7)


@pytest.mark.parametrize("kind", ["csr", "dask-csr"])
def test_sparse_sample_fit_equals_the_dense_one(kind):
    import scipy.sparse as sp

    X, weight = _data()
    X[X < 0] = 0.0  # some implicit zeros
    X_sparse = sp.csr_matrix(X)
    if kind == "dask-csr":
        X_sparse = da.from_array(X_sparse, chunks=(1000, 6), asarray=False)
    km = chunkml.KMeans(8, init=X[:8], sample_size=600, random_state=0).fit(
        X_sparse, sample_weight=weight)
    dense = chunkml.KMeans(8, init=X[:8], sample_size=600, random_state=0).fit(
        X, sample_weight=weight)
    np.testing.assert_allclose(km.cluster_centers_, dense.cluster_centers_, rtol=1e-7,
                               atol=1e-12)
    np.testing.assert_array_equal(np.asarray(km.labels_), dense.labels_)
    np.testing.assert_allclose(km.inertia_, dense.inertia_, rtol=1e-7)


@pytest.mark.parametrize("bad, match", [
    (-1.0, "sample_weight must be non-negative"),
    (np.nan, "sample_weight must be non-negative and finite; found nan"),
    (np.inf, "sample_weight contains infinity"),
])
def test_bad_dask_weight_outside_the_sample_is_found(bad, match):
    """Every weight is checked, not only those of the sampled rows."""
    X, _ = _data()
    index = _sampled_rows(X, None, 600, random_state=0)
    outside = np.setdiff1d(np.arange(X.shape[0]), index)[0]
    weight = np.ones(X.shape[0])
    weight[outside] = bad
    km = chunkml.KMeans(8, random_state=0, sample_size=600)
    with pytest.raises(ValueError, match=match):
        km.fit(da.from_array(X, chunks=(1000, -1)),
               sample_weight=da.from_array(weight, chunks=1000))
    assert not hasattr(km, "cluster_centers_")
