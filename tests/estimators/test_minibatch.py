"""chunkml.MiniBatchKMeans: scikit-learn's checks, partial_fit against fit, quality."""

import pickle
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans as SKMiniBatchKMeans
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

import chunkml
from chunkml import MiniBatchKMeans

# Exactly the expected failures scikit-learn declares for its own MiniBatchKMeans, with
# its reason (sklearn/utils/_test_common/instance_generator.py,
# PER_ESTIMATOR_XFAIL_CHECKS).
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
}


# The parameters scikit-learn's checks use for its MiniBatchKMeans (INIT_PARAMS there).
@parametrize_with_checks(
    [chunkml.MiniBatchKMeans(n_init=2, n_clusters=2, max_iter=5, batch_size=10)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------
# partial_fit against fit, and against scikit-learn's step rule
# ---------------------------------------------------------------------------------------

RTOL = {np.float64: 1e-7, np.float32: 1e-4}

# Row chunkings of a 3000-row X: blocks smaller and larger than batch_size (200), an
# uneven last block, 0-row and 1-row blocks.
CHUNKINGS = {
    "one-block": (3000,),
    "even": (600,) * 5,
    "small": (150,) * 20,
    "uneven": (0, 701, 1, 199, 0, 2099),
}


def _blobs(dtype=np.float64, n_samples=3000, n_features=3, n_clusters=5, seed=0):
    X, _ = make_blobs(n_samples=n_samples, n_features=n_features, centers=n_clusters,
                      cluster_std=1.5, random_state=seed)
    X = X.astype(dtype)
    rng = np.random.RandomState(seed)
    init = X[rng.choice(n_samples, n_clusters, replace=False)].astype(np.float64)
    weight = rng.uniform(0.0, 3.0, size=n_samples)
    weight[::7] = 0.0
    return X, init, weight


def _partial_fits(est, X_dask, weight, n_passes):
    """partial_fit over the blocks of X_dask in order, n_passes times (0-row blocks
    skipped: partial_fit, as scikit-learn's, needs at least one row)."""
    offsets = np.cumsum((0,) + X_dask.chunks[0])
    for _ in range(n_passes):
        for i in range(X_dask.numblocks[0]):
            block = X_dask.blocks[i].compute()
            if block.shape[0] == 0:
                continue
            w = None if weight is None else weight[offsets[i]:offsets[i + 1]]
            est.partial_fit(block, sample_weight=w)
    return est


@pytest.mark.parametrize("n_passes", [1, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
def test_partial_fit_over_blocks_equals_fit(chunking, dtype, weighted, n_passes):
    X, init, weight = _blobs(dtype)
    weight = weight if weighted else None
    X_dask = da.from_array(X, chunks=(CHUNKINGS[chunking], 3))
    # A center far from every row is reassigned at the first step, so the draws that
    # pick its row are compared too; no early stopping, which partial_fit does not do.
    init[4] = 1000.0
    params = {"n_clusters": 5, "init": init, "batch_size": 200, "max_iter": n_passes,
              "max_no_improvement": None, "reassignment_ratio": 0.2, "random_state": 3}
    fitted = MiniBatchKMeans(**params).fit(X_dask, sample_weight=weight)
    streamed = _partial_fits(MiniBatchKMeans(**params), X_dask, weight, n_passes)
    assert fitted.n_iter_ == n_passes
    assert fitted.n_steps_ == streamed.n_steps_
    assert fitted.cluster_centers_.dtype == streamed.cluster_centers_.dtype == dtype
    np.testing.assert_allclose(fitted.cluster_centers_, streamed.cluster_centers_,
                               rtol=RTOL[dtype])
    # Another seed reassigns differently: the comparison above is not vacuous.
    other = MiniBatchKMeans(**{**params, "random_state": 4}).fit(X_dask,
                                                                 sample_weight=weight)
    assert not np.allclose(other.cluster_centers_, fitted.cluster_centers_)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_partial_fit_on_one_block_equals_fit_with_string_init(init):
    # The initialisation of fit draws from all of X, that of partial_fit from its first
    # block: they agree when X is that block.
    X, _, weight = _blobs()
    params = {"n_clusters": 5, "init": init, "n_init": 2, "batch_size": 256,
              "max_iter": 1, "max_no_improvement": None, "random_state": 0}
    fitted = MiniBatchKMeans(**params).fit(X, sample_weight=weight)
    streamed = MiniBatchKMeans(**params).partial_fit(X, sample_weight=weight)
    np.testing.assert_allclose(fitted.cluster_centers_, streamed.cluster_centers_,
                               rtol=1e-7)
    dask_fit = MiniBatchKMeans(**params).fit(da.from_array(X, chunks=(3000, 1)),
                                             sample_weight=weight)
    np.testing.assert_allclose(dask_fit.cluster_centers_, fitted.cluster_centers_,
                               rtol=1e-7)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_partial_fit_steps_are_sklearns(dtype, weighted):
    """Batches of at most batch_size rows, no reassignment: every step is exactly
    scikit-learn's (its partial_fit makes one step per call)."""
    X, init, weight = _blobs(dtype)
    params = {"n_clusters": 5, "init": init, "batch_size": 300, "reassignment_ratio": 0.0}
    ours = MiniBatchKMeans(**params, random_state=0)
    ref = SKMiniBatchKMeans(**params, random_state=0)
    for start in range(0, 3000, 250):
        batch = X[start:start + 250]
        w = weight[start:start + 250] if weighted else None
        ours.partial_fit(batch, sample_weight=w)
        ref.partial_fit(batch, sample_weight=w)
        np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_,
                                   rtol=RTOL[dtype], atol=RTOL[dtype])
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
        np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=RTOL[dtype])
    assert ours.n_steps_ == ref.n_steps_ == 12


# ---------------------------------------------------------------------------------------
# Quality against scikit-learn
# ---------------------------------------------------------------------------------------

def _quality_data():
    X, _ = make_blobs(n_samples=20_480, n_features=5, centers=10, cluster_std=2.0,
                      random_state=1)
    return X


@pytest.mark.parametrize("input_kind", ["numpy", "dask"])
def test_quality_matches_sklearn_at_same_samples_seen(input_kind):
    X = _quality_data()
    X_in = X if input_kind == "numpy" else da.from_array(X, chunks=4096)
    seeds = range(5)
    # Three passes of 20_480 rows = 60 batches of 1024 rows for both, no early stopping.
    common = {"n_clusters": 10, "batch_size": 1024, "max_iter": 3,
              "max_no_improvement": None}
    ours = np.median([MiniBatchKMeans(**common, random_state=s).fit(X_in).inertia_
                      for s in seeds])
    ref = np.median([SKMiniBatchKMeans(**common, random_state=s).fit(X).inertia_
                     for s in seeds])
    assert ours <= 1.03 * ref, (ours, ref)


def test_quality_with_early_stopping_matches_sklearn():
    X = _quality_data()
    seeds = range(5)
    fits = [MiniBatchKMeans(10, random_state=s).fit(da.from_array(X, chunks=5000))
            for s in seeds]
    refs = [SKMiniBatchKMeans(10, random_state=s).fit(X) for s in seeds]
    ours = np.median([f.inertia_ for f in fits])
    ref = np.median([f.inertia_ for f in refs])
    assert ours <= 1.03 * ref, (ours, ref)
    # Early stopping stops both long before max_iter=100 passes.
    assert max(f.n_iter_ for f in fits) < 20
    # Inertia of the labels is the inertia of the data.
    km = fits[0]
    np.testing.assert_allclose(km.inertia_, -km.score(X), rtol=1e-9)


# ---------------------------------------------------------------------------------------
# Inputs and outputs
# ---------------------------------------------------------------------------------------

def test_dask_input_gives_lazy_outputs_and_numpy_attributes():
    X, _, weight = _blobs()
    X_dask = da.from_array(X, chunks=700)
    km = MiniBatchKMeans(5, batch_size=256, random_state=0).fit(
        X_dask, sample_weight=da.from_array(weight, chunks=500))
    assert isinstance(km.cluster_centers_, np.ndarray)
    assert isinstance(km.labels_, da.Array) and km.labels_.dtype == np.int32
    assert isinstance(km.predict(X_dask), da.Array)
    assert isinstance(km.transform(X_dask), da.Array)
    labels = km.labels_.compute()
    np.testing.assert_array_equal(labels, km.predict(X))
    np.testing.assert_allclose(km.inertia_, -km.score(X, sample_weight=weight), rtol=1e-9)
    np.testing.assert_allclose(km.transform(X_dask).compute(), km.transform(X), rtol=1e-12)
    # The same fit with numpy weights.
    again = MiniBatchKMeans(5, batch_size=256, random_state=0).fit(X_dask,
                                                                   sample_weight=weight)
    np.testing.assert_allclose(again.cluster_centers_, km.cluster_centers_, rtol=1e-12)


def test_unknown_chunk_sizes_and_schedulers_give_the_same_fit():
    X, _, _ = _blobs()
    X_dask = da.from_array(X, chunks=700)
    unknown = da.Array(X_dask.dask, X_dask.name, ((np.nan,) * X_dask.numblocks[0], (3,)),
                       meta=X_dask._meta)
    fits = {}
    for name, X_in, scheduler in [("sync", X_dask, "sync"), ("threads", X_dask, "threads"),
                                  ("unknown", unknown, "threads")]:
        with dask.config.set(scheduler=scheduler):
            fits[name] = MiniBatchKMeans(5, batch_size=256, random_state=2).fit(X_in)
    np.testing.assert_array_equal(fits["threads"].cluster_centers_,
                                  fits["sync"].cluster_centers_)
    # Until the first pass has counted the rows of each block, draws are keyed by
    # (block, row in block): another initial sample, as for KMeans.
    assert fits["unknown"].labels_.shape == (3000,)
    assert fits["unknown"].n_iter_ >= 1
    assert fits["unknown"].inertia_ < 1.05 * fits["sync"].inertia_


def test_same_seed_same_fit_and_float32_kept():
    X, _, _ = _blobs(np.float32)
    a = MiniBatchKMeans(5, batch_size=100, random_state=7).fit(X)
    b = MiniBatchKMeans(5, batch_size=100, random_state=7).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.cluster_centers_.dtype == np.float32
    assert a.transform(X).dtype == np.float32
    c = MiniBatchKMeans(5, batch_size=100, random_state=8).fit(X)
    assert not np.array_equal(a.cluster_centers_, c.cluster_centers_)


def test_zero_weight_rows_are_ignored():
    # A far group of rows of weight 0 attracts no center.
    X, _ = make_blobs(n_samples=2000, centers=[[0, 0], [10, 0], [0, 10]], cluster_std=0.5,
                      random_state=0)
    far = np.full((500, 2), 1000.0) + np.random.RandomState(0).normal(size=(500, 2))
    X_all = np.concatenate([X, far])
    weight = np.concatenate([np.ones(len(X)), np.zeros(len(far))])
    for X_in in (X_all, da.from_array(X_all, chunks=600)):
        km = MiniBatchKMeans(3, batch_size=128, random_state=0).fit(X_in,
                                                                   sample_weight=weight)
        assert np.abs(km.cluster_centers_).max() < 20
        np.testing.assert_allclose(np.sort(np.round(km.cluster_centers_), axis=0),
                                   [[0, 0], [0, 0], [10, 10]], atol=1)


def test_compute_labels_false_estimates_inertia():
    X, _, _ = _blobs()
    km = MiniBatchKMeans(5, batch_size=256, compute_labels=False, random_state=0).fit(X)
    assert not hasattr(km, "labels_")
    true_inertia = -km.score(X)
    assert 0.5 * true_inertia < km.inertia_ < 2.0 * true_inertia
    np.testing.assert_array_equal(km.fit_predict(X), km.predict(X))


def test_tol_stops_early():
    X, _, _ = _blobs()
    km = MiniBatchKMeans(5, batch_size=256, max_no_improvement=None, tol=1e-2,
                         random_state=0, max_iter=50).fit(X)
    assert km.n_iter_ < 50
    never = MiniBatchKMeans(5, batch_size=256, max_no_improvement=None, max_iter=4,
                            random_state=0).fit(X)
    assert never.n_iter_ == 4 and never.n_steps_ == 4 * 12


def test_n_init_auto_and_explicit_init_warning():
    X, init, _ = _blobs()
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        MiniBatchKMeans(5, init=init, n_init=3, max_iter=1).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MiniBatchKMeans(5, init=init, max_iter=1).fit(X)
    with pytest.warns(RuntimeWarning, match="init_size=2 should be larger"):
        MiniBatchKMeans(5, init_size=2, max_iter=1).fit(X)
    # n_init tries inits and keeps the best on the sample: never worse than the first.
    one = MiniBatchKMeans(5, init="random", n_init=1, max_iter=1, random_state=0)
    many = MiniBatchKMeans(5, init="random", n_init=5, max_iter=1, random_state=0)
    assert many.fit(X).inertia_ <= one.fit(X).inertia_ * 1.2


def test_callable_init():
    X, init, _ = _blobs()
    calls = []

    def my_init(X_sample, n_clusters, random_state):
        calls.append(X_sample.shape)
        return init

    km = MiniBatchKMeans(5, init=my_init, max_iter=1, batch_size=100, n_init=1).fit(X)
    assert calls == [(300, 3)]
    assert km.cluster_centers_.shape == (5, 3)


def test_errors_leave_no_fitted_attributes():
    X, _, _ = _blobs()
    bad = X.copy()
    bad[1234, 1] = np.nan
    km = MiniBatchKMeans(5)
    with pytest.raises(ValueError, match="NaN"):
        km.fit(da.from_array(bad, chunks=500))
    assert not hasattr(km, "cluster_centers_")
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        km.partial_fit(X[:3])
    assert not hasattr(km, "cluster_centers_")
    km.partial_fit(X[:100])
    with pytest.raises(ValueError, match="X has 2 features, but MiniBatchKMeans is "
                                         "expecting 3 features"):
        km.partial_fit(X[:100, :2])
    with pytest.raises(ValueError, match="sample_weight"):
        MiniBatchKMeans(5).fit(X, sample_weight=-np.ones(len(X)))


def test_partial_fit_accepts_a_dask_block_and_pickles():
    X, _, _ = _blobs()
    X_dask = da.from_array(X, chunks=1000)
    km = MiniBatchKMeans(5, random_state=0)
    for block in X_dask.blocks:
        km.partial_fit(block)
    assert isinstance(km.labels_, np.ndarray) and km.labels_.shape == (1000,)
    fitted = MiniBatchKMeans(5, random_state=0, batch_size=256).fit(X_dask)
    for est in (km, fitted):
        loaded = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(loaded.cluster_centers_, est.cluster_centers_)
        np.testing.assert_array_equal(np.asarray(loaded.labels_),
                                      np.asarray(est.labels_))
    # A fitted model goes on learning from a stream.
    steps = fitted.n_steps_
    fitted.partial_fit(X[:300])
    assert fitted.n_steps_ == steps + 2


def test_dask_dataframe_input():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, _, _ = _blobs()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    ddf = dd.from_pandas(frame, npartitions=3)
    km = MiniBatchKMeans(5, batch_size=256, random_state=0).fit(ddf)
    np.testing.assert_array_equal(km.feature_names_in_, ["a", "b", "c"])
    ref = MiniBatchKMeans(5, batch_size=256, random_state=0).fit(X)
    assert km.inertia_ < 1.05 * ref.inertia_
    np.testing.assert_array_equal(km.labels_.compute(), km.predict(frame))
    np.testing.assert_allclose(km.inertia_, -km.score(ddf), rtol=1e-9)
