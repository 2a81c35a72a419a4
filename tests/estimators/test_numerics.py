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


# Magnitudes: k-means is scale and translation invariant, so a fit on a * X + b must make
# the same steps as on X (the kernels work in a frame, see dask_glue/_frame.py).

TRANSFORMS = {
    "offset": (1.5e151, 1.5e154),  # squared norms overflow; ||c||^2 - 2 x.c cancels
    "tiny": (1e-200, 0.0),  # squared distances underflow
    "near": (1.0, 1e9),  # offset 1e9 x the spread: ||c||^2 - 2 x.c cancels
}
INITS = ["k-means||", "k-means++", "random", "array"]


def _input(X, container):
    return X if container == "numpy" else da.from_array(X, chunks=(97, -1))


@pytest.mark.parametrize("container", ["numpy", "dask"])
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_kmeans_is_scale_and_offset_invariant(transform, init, container):
    a, b = TRANSFORMS[transform]
    X, y = _blobs()
    Z = a * X + b
    # The same initial centers in both units (X's first rows, one per blob).
    first = X[[np.flatnonzero(y == j)[0] for j in range(3)]]
    init_X, init_Z = (first, a * first + b) if init == "array" else (init, init)
    ref = chunkml.KMeans(3, init=init_X, random_state=0).fit(_input(X, container))
    km = chunkml.KMeans(3, init=init_Z, random_state=0).fit(_input(Z, container))
    labels = np.asarray(km.labels_)
    np.testing.assert_array_equal(labels, np.asarray(ref.labels_))
    assert np.unique(labels).size == 3
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_allclose((km.cluster_centers_ - b) / a, ref.cluster_centers_,
                               rtol=1e-7, atol=1e-6)
    # inertia scales by a**2 (1e-400 underflows to 0, as it must in float64).
    np.testing.assert_allclose(km.inertia_, ref.inertia_ * a * a, rtol=1e-6)
    # A fitted model predicts, transforms and scores in the same units.
    Zin = _input(Z, container)
    np.testing.assert_array_equal(np.asarray(km.predict(Zin)), labels)
    dist = np.asarray(km.transform(Zin))
    np.testing.assert_allclose(dist / a, np.asarray(ref.transform(_input(X, container))),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(km.score(Zin), ref.score(_input(X, container)) * a * a,
                               rtol=1e-6)


@pytest.mark.parametrize("container", ["numpy", "dask"])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_minibatch_is_scale_and_offset_invariant(transform, container):
    a, b = TRANSFORMS[transform]
    X, _ = _blobs()
    Z = a * X + b
    kwargs = dict(n_clusters=3, batch_size=50, random_state=0, tol=1e-3)
    ref = chunkml.MiniBatchKMeans(**kwargs).fit(_input(X, container))
    km = chunkml.MiniBatchKMeans(**kwargs).fit(_input(Z, container))
    labels = np.asarray(km.labels_)
    np.testing.assert_array_equal(labels, np.asarray(ref.labels_))
    assert np.unique(labels).size == 3
    assert km.n_steps_ == ref.n_steps_
    np.testing.assert_allclose((km.cluster_centers_ - b) / a, ref.cluster_centers_,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(km.inertia_, ref.inertia_ * a * a, rtol=1e-6)
    # partial_fit, from the first block's frame.
    pf = chunkml.MiniBatchKMeans(**kwargs).partial_fit(Z[:150]).partial_fit(Z[150:])
    pf_ref = chunkml.MiniBatchKMeans(**kwargs).partial_fit(X[:150]).partial_fit(X[150:])
    np.testing.assert_array_equal(pf.predict(Z), pf_ref.predict(X))


def test_tol_does_not_depend_on_the_chunking_for_huge_values():
    # |x| ~ 1e150: the unscaled sum behind the variance of one block overflowed (tol
    # became 0: 24 iterations), three blocks' did not (9, as scikit-learn).
    from sklearn.cluster import KMeans as SKKMeans
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(10000, 2, centers=3, random_state=0, cluster_std=3)
    Z = X * 1e150
    init = np.ascontiguousarray(Z[:3])
    expected = SKKMeans(3, init=init, n_init=1).fit(Z).n_iter_
    for inp in [Z, da.from_array(Z, chunks=10000), da.from_array(Z, chunks=3334)]:
        assert chunkml.KMeans(3, init=init).fit(inp).n_iter_ == expected
    n_iter = {chunkml.KMeans(3, random_state=0).fit(inp).n_iter_
              for inp in [Z, da.from_array(Z, chunks=10000), da.from_array(Z, chunks=3334)]}
    assert len(n_iter) == 1


# sample_weight: non-finite weights and weights whose sums overflow are rejected inside
# the first pass, naming sample_weight (not X), before any fitted attribute is set.

BAD_WEIGHTS = {"inf": np.inf, "huge": 1e308}


def _bad_weight(kind, n_samples, container):
    w = np.ones(n_samples)
    w[[5, 6]] = BAD_WEIGHTS[kind]  # 2 x 1e308 overflows the sum
    return w if container == "numpy" else da.from_array(w, chunks=97)


@pytest.mark.parametrize("container", ["dask", "numpy"])
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("kind", BAD_WEIGHTS)
def test_kmeans_rejects_bad_weights_naming_sample_weight(kind, init, container):
    X, y = _blobs()
    init = X[:3] if init == "array" else init
    km = chunkml.KMeans(3, init=init, random_state=0)
    with pytest.raises(ValueError, match="sample_weight"):
        km.fit(_input(X, container), sample_weight=_bad_weight(kind, X.shape[0], container))
    assert not hasattr(km, "cluster_centers_")


@pytest.mark.parametrize("container", ["dask", "numpy"])
@pytest.mark.parametrize("kind", BAD_WEIGHTS)
def test_minibatch_rejects_bad_weights_naming_sample_weight(kind, container):
    X, _ = _blobs()
    km = chunkml.MiniBatchKMeans(3, random_state=0)
    with pytest.raises(ValueError, match="sample_weight"):
        km.fit(_input(X, container), sample_weight=_bad_weight(kind, X.shape[0], container))
    assert not hasattr(km, "cluster_centers_")


def test_lazy_score_rejects_infinite_dask_weights():
    X, _ = _blobs()
    km = chunkml.KMeans(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="sample_weight"):
        km.score(da.from_array(X, chunks=97),
                 sample_weight=_bad_weight("inf", X.shape[0], "dask"))
