"""chunkml.KMeans against scikit-learn's KMeans on the same data and initial centers."""

import dask.array as da
import numpy as np
import pytest
from sklearn.cluster import KMeans as SKKMeans
from sklearn.datasets import load_digits, make_blobs

import chunkml
from chunkml.kernels import variant
from chunkml.dask_glue._rows import PARALLEL_MIN_ROWS

RTOL = {np.float64: 1e-7, np.float32: 1e-4}

# Row chunkings of a 2000-row X: one block, even, uneven last block, 0-row and 1-row blocks.
CHUNKINGS = {
    "numpy": None,
    "one-block": (2000,),
    "even": (500,) * 4,
    "uneven": (333,) * 6 + (2,),
    "tiny-blocks": (0, 700, 1, 0, 1, 1298),
}


def _data(dtype, n_features=3, n_clusters=4, seed=0):
    X, _ = make_blobs(n_samples=2000, n_features=n_features, centers=n_clusters,
                      cluster_std=2.0, random_state=seed)
    X = X.astype(dtype)
    rng = np.random.RandomState(seed)
    init = X[rng.choice(len(X), n_clusters, replace=False)].copy()
    weight = rng.uniform(0.1, 3.0, size=len(X))
    return X, init, weight


def _as_input(X, chunking):
    rows = CHUNKINGS[chunking]
    return X if rows is None else da.from_array(X, chunks=(rows, X.shape[1]))


def _assert_same_as_sklearn(X, init, sample_weight, chunking):
    n_clusters = init.shape[0]
    ref = SKKMeans(n_clusters=n_clusters, init=init, n_init=1).fit(
        X, sample_weight=sample_weight)
    km = chunkml.KMeans(n_clusters=n_clusters, init=init).fit(_as_input(X, chunking),
                                                              sample_weight=sample_weight)
    dtype = X.dtype.type
    rtol = RTOL[dtype]
    assert km.cluster_centers_.dtype == dtype
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=rtol)
    np.testing.assert_array_equal(np.asarray(km.labels_), ref.labels_)
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=rtol)
    if chunking == "numpy":
        assert isinstance(km.labels_, np.ndarray)
    else:
        assert isinstance(km.labels_, da.Array)
    return km, ref


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("weighted", [False, True])
def test_same_result_as_sklearn_from_same_centers(dtype, chunking, weighted):
    X, init, weight = _data(dtype)
    _assert_same_as_sklearn(X, init, weight if weighted else None, chunking)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", ["numpy", "uneven", "tiny-blocks"])
@pytest.mark.parametrize("weighted", [False, True])
def test_matrix_product_path_same_result_as_sklearn(dtype, chunking, weighted):
    # Enough features and clusters for the matrix-product kernels (kernels/_gemm_tile.py).
    assert variant("lloyd_partial_sums", 24, 16).method == "gemm"
    X, init, weight = _data(dtype, n_features=24, n_clusters=16)
    km, ref = _assert_same_as_sklearn(X, init, weight if weighted else None, chunking)
    Xin = _as_input(X, chunking)
    np.testing.assert_array_equal(np.asarray(km.predict(Xin)), ref.predict(X))
    np.testing.assert_allclose(km.score(Xin), ref.score(X), rtol=RTOL[dtype])


def test_matrix_product_path_in_memory_parallel_same_result_as_sklearn():
    # Enough rows for the in-memory parallel variants of the matrix-product kernels.
    X, _ = make_blobs(n_samples=PARALLEL_MIN_ROWS + 1000, n_features=24, centers=16,
                      cluster_std=2.0, random_state=1)
    init = X[np.random.RandomState(1).choice(len(X), 16, replace=False)].copy()
    km, ref = _assert_same_as_sklearn(X, init, None, "numpy")
    np.testing.assert_array_equal(km.predict(X), ref.predict(X))


@pytest.mark.parametrize("chunking", ["numpy", "uneven"])
def test_dask_sample_weight_matches_numpy_weight(chunking):
    X, init, weight = _data(np.float64)
    ref = SKKMeans(n_clusters=4, init=init, n_init=1).fit(X, sample_weight=weight)
    km = chunkml.KMeans(n_clusters=4, init=init).fit(
        _as_input(X, chunking), sample_weight=da.from_array(weight, chunks=700))
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-7)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-7)


@pytest.mark.parametrize("max_iter", [1, 2, 5])
@pytest.mark.parametrize("chunking", ["numpy", "uneven"])
def test_max_iter_and_tol_zero_as_sklearn(max_iter, chunking):
    X, init, _ = _data(np.float64, n_clusters=6, seed=3)
    ref = SKKMeans(n_clusters=6, init=init, n_init=1, max_iter=max_iter, tol=0).fit(X)
    km = chunkml.KMeans(n_clusters=6, init=init, max_iter=max_iter, tol=0).fit(
        _as_input(X, chunking))
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-7)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-7)
    np.testing.assert_array_equal(np.asarray(km.labels_), ref.labels_)


def test_empty_cluster_is_relocated_like_sklearn():
    # Two far-apart groups and an init center far from everything: that cluster is empty
    # after the first assignment and must move to the row farthest from its center.
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(20, 1, (300, 2))])
    init = np.array([[0.0, 0.0], [20.0, 20.0], [1000.0, 1000.0]])
    ref = SKKMeans(n_clusters=3, init=init, n_init=1).fit(X)
    for Xin in (X, da.from_array(X, chunks=128)):
        km = chunkml.KMeans(n_clusters=3, init=init).fit(Xin)
        assert np.all(np.abs(km.cluster_centers_) < 100)
        np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-7)
        np.testing.assert_allclose(np.sort(km.cluster_centers_, axis=0),
                                   np.sort(ref.cluster_centers_, axis=0), rtol=1e-7)


def test_predict_transform_score_match_sklearn():
    X, init, weight = _data(np.float64)
    ref = SKKMeans(n_clusters=4, init=init, n_init=1).fit(X)
    km = chunkml.KMeans(n_clusters=4, init=init).fit(X)
    Xd = da.from_array(X, chunks=300)
    for Xin in (X, Xd):
        labels = km.predict(Xin)
        dist = km.transform(Xin)
        assert isinstance(labels, type(Xin)) and isinstance(dist, type(Xin))
        np.testing.assert_array_equal(np.asarray(labels), ref.predict(X))
        np.testing.assert_allclose(np.asarray(dist), ref.transform(X), rtol=1e-7)
        np.testing.assert_allclose(km.score(Xin, sample_weight=weight),
                                   ref.score(X, sample_weight=weight), rtol=1e-7)
    np.testing.assert_array_equal(np.asarray(chunkml.KMeans(4, init=init).fit_predict(Xd)),
                                  ref.labels_)
    np.testing.assert_allclose(np.asarray(chunkml.KMeans(4, init=init).fit_transform(Xd)),
                               ref.transform(X), rtol=1e-7)


def _median_inertia(make, seeds):
    return np.median([make(seed) for seed in seeds])


@pytest.mark.parametrize("dataset", ["blobs", "digits"])
def test_kmeans_parallel_quality_matches_sklearn_kmeanspp(dataset):
    if dataset == "blobs":
        X, _ = make_blobs(n_samples=5000, n_features=5, centers=8, cluster_std=1.5,
                          random_state=1)
        n_clusters = 8
    else:
        X = load_digits().data
        n_clusters = 10
    # Medians over 25 seeds: single k-means runs on digits vary by a few percent.
    seeds = range(25)
    Xd = da.from_array(X, chunks=len(X) // 4)
    ours = _median_inertia(
        lambda s: chunkml.KMeans(n_clusters, random_state=s).fit(Xd).inertia_, seeds)
    ref = _median_inertia(
        lambda s: SKKMeans(n_clusters, n_init=1, random_state=s).fit(X).inertia_, seeds)
    assert ours <= 1.01 * ref, (ours, ref)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
def test_same_seed_same_centers_whatever_the_chunking(init):
    X, _, weight = _data(np.float64, n_clusters=5, seed=7)
    fits = [chunkml.KMeans(5, init=init, random_state=11).fit(
        _as_input(X, chunking), sample_weight=weight) for chunking in
        ("one-block", "even", "uneven", "tiny-blocks")]
    for km in fits[1:]:
        np.testing.assert_allclose(km.cluster_centers_, fits[0].cluster_centers_,
                                   rtol=1e-9)
        assert km.n_iter_ == fits[0].n_iter_
    # A different seed draws different initial rows.
    other = chunkml.KMeans(5, init=init, random_state=12, max_iter=1).fit(
        _as_input(X, "even"), sample_weight=weight)
    first = chunkml.KMeans(5, init=init, random_state=11, max_iter=1).fit(
        _as_input(X, "even"), sample_weight=weight)
    assert not np.allclose(other.cluster_centers_, first.cluster_centers_)


# (3, 5): row-by-row kernels; (24, 16): matrix-product kernels, also for the k-means||
# candidates (32 new ones per round).
@pytest.mark.parametrize("n_features, n_clusters", [(3, 5), (24, 16)])
def test_numpy_and_dask_input_agree_for_kmeans_parallel(n_features, n_clusters):
    X, _, _ = _data(np.float64, n_features=n_features, n_clusters=n_clusters, seed=2)
    a = chunkml.KMeans(n_clusters, random_state=0).fit(X)
    b = chunkml.KMeans(n_clusters, random_state=0).fit(da.from_array(X, chunks=333))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(a.inertia_, b.inertia_, rtol=1e-9)


def test_n_init_keeps_lowest_inertia():
    X, _ = make_blobs(n_samples=1500, centers=6, cluster_std=3.0, random_state=4)
    single = [chunkml.KMeans(6, init="random", n_init=1, random_state=np.random.RandomState(
        0)).fit(X)]
    best = chunkml.KMeans(6, init="random", n_init=4, random_state=0).fit(X)
    assert best.inertia_ <= single[0].inertia_ + 1e-9
    # reproducible
    again = chunkml.KMeans(6, init="random", n_init=4, random_state=0).fit(X)
    np.testing.assert_array_equal(best.cluster_centers_, again.cluster_centers_)


def test_int_input_becomes_float64_and_float32_is_kept():
    X, _ = make_blobs(n_samples=300, centers=3, random_state=0)
    X_int = np.round(X * 10).astype(np.int64)
    km = chunkml.KMeans(3, random_state=0).fit(da.from_array(X_int, chunks=100))
    assert km.cluster_centers_.dtype == np.float64
    ref = chunkml.KMeans(3, random_state=0).fit(X_int.astype(np.float64))
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    km32 = chunkml.KMeans(3, random_state=0).fit(X.astype(np.float32))
    assert km32.cluster_centers_.dtype == np.float32
    assert km32.transform(X.astype(np.float32)).dtype == np.float32
