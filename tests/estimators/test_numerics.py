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


# Property: chunkml against scikit-learn from the same initial centers, over shapes,
# magnitudes, offsets, dtypes, weights and chunkings.

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.cluster import KMeans as SKKMeans  # noqa: E402
from sklearn.cluster import MiniBatchKMeans as SKMiniBatchKMeans  # noqa: E402

# Few examples: each fits twice, and CI runs with a cold numba cache.
PROPERTY = settings(max_examples=30, deadline=None)


@st.composite
def _problems(draw):
    """(Z, a, b, X, init, weight, chunks, tol): Z = a * X + b, X well separated blobs in
    unit-sized numbers, init rows of X."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n_features = draw(st.integers(1, 6))
    n_clusters = draw(st.integers(1, 4))
    n_samples = draw(st.integers(4 * n_clusters + 8, 120))
    seed = draw(st.integers(0, 2**31 - 1))
    # The spread a and the offset b / a: float64 from 1e-200 (squared distances
    # underflow) to 1e150 with offsets up to 1e9 times the spread (||c||^2 - 2 x.c
    # cancels; 1e154: squared norms overflow); float32 within its 1e-38..3e38.
    if dtype == np.float64:
        a = 10.0 ** draw(st.integers(-200, 150))
        b = a * draw(st.sampled_from([0.0, 1.0, -1e3, 1e4, 1e9]))
    else:
        a = 10.0 ** draw(st.integers(-10, 10))
        b = a * draw(st.sampled_from([0.0, 1.0, -1e3, 1e4]))
    rng = np.random.default_rng(seed)
    # Centers on a grid of spacing 12, rows within a few units: no near-ties.
    grid = rng.permutation(np.arange(4 ** n_features))[:n_clusters]
    unit_centers = 12.0 * np.stack(np.unravel_index(grid, (4,) * n_features), axis=1)
    X = unit_centers[rng.integers(0, n_clusters, n_samples)] + rng.normal(
        size=(n_samples, n_features))
    Z = (a * X + b).astype(dtype)
    # The data as chunkml sees it, back in unit-sized numbers, for scikit-learn.
    X = (Z.astype(np.float64) - b) / a
    init_rows = rng.choice(n_samples, n_clusters, replace=False)
    weight = (rng.uniform(0.5, 2.0, n_samples) if draw(st.booleans()) else None)
    n_blocks = draw(st.integers(0, 4))  # 0: numpy
    cuts = np.sort(rng.integers(0, n_samples + 1, max(n_blocks - 1, 0)))
    chunks = None if n_blocks == 0 else tuple(np.diff(np.r_[0, cuts, n_samples]).tolist())
    tol = draw(st.sampled_from([0.0, 1e-4]))
    return Z, a, b, X, init_rows, weight, chunks, tol


def _maybe_dask(A, chunks):
    if chunks is None:
        return A
    return da.from_array(A, chunks=(chunks,) + A.shape[1:])


@PROPERTY
@given(_problems())
def test_kmeans_matches_sklearn_in_any_units(problem):
    Z, a, b, X, init_rows, weight, chunks, tol = problem
    rtol = 1e-6 if Z.dtype == np.float64 else 1e-3
    ref = SKKMeans(init_rows.size, init=X[init_rows], n_init=1, tol=tol).fit(
        X, sample_weight=weight)
    w = None if weight is None else _maybe_dask(weight, chunks)
    km = chunkml.KMeans(init_rows.size, init=Z[init_rows], tol=tol).fit(
        _maybe_dask(Z, chunks), sample_weight=w)
    np.testing.assert_array_equal(np.asarray(km.labels_), ref.labels_)
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_allclose((km.cluster_centers_.astype(np.float64) - b) / a,
                               ref.cluster_centers_, rtol=rtol, atol=rtol * 10)
    # In X's units: below 1e-300 float64 itself holds few digits (subnormal, or 0).
    np.testing.assert_allclose(km.inertia_, ref.inertia_ * a * a, rtol=rtol,
                               atol=rtol * X.shape[0] * a * a + 1e-300)
    np.testing.assert_array_equal(np.asarray(km.predict(_maybe_dask(Z, chunks))),
                                  ref.labels_)


@PROPERTY
@given(_problems())
def test_minibatch_steps_match_sklearn_in_any_units(problem):
    """partial_fit on batches of at most batch_size rows without reassignment makes
    scikit-learn's steps exactly; the final labels and inertia given the centers too."""
    Z, a, b, X, init_rows, weight, chunks, _ = problem
    rtol = 1e-6 if Z.dtype == np.float64 else 1e-3
    params = dict(n_clusters=init_rows.size, batch_size=Z.shape[0], reassignment_ratio=0.0)
    ours = chunkml.MiniBatchKMeans(**params, init=Z[init_rows], random_state=0)
    ref = SKMiniBatchKMeans(**params, init=X[init_rows], random_state=0)
    bounds = [0] + np.cumsum(chunks or (Z.shape[0],)).tolist()
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop - start < init_rows.size:
            continue  # a first batch needs n_clusters rows; later ones are the same
        w = None if weight is None else weight[start:stop]
        ours.partial_fit(Z[start:stop], sample_weight=w)
        ref.partial_fit(X[start:stop], sample_weight=w)
        np.testing.assert_allclose((ours.cluster_centers_.astype(np.float64) - b) / a,
                                   ref.cluster_centers_, rtol=rtol, atol=rtol * 10)
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
        np.testing.assert_allclose(ours.inertia_, ref.inertia_ * a * a, rtol=rtol,
                                   atol=rtol * (stop - start) * a * a + 1e-300)


def test_one_cluster_from_an_init_array_of_tiny_values():
    # One initial center has no width: its magnitude scales the frame (found by the
    # property above: the squared shift of 1e-162 data underflowed to 0, n_iter 1).
    X, _ = _blobs(40)
    a = 1e-162
    ref = SKKMeans(1, init=X[:1], n_init=1, tol=0.0).fit(X)
    km = chunkml.KMeans(1, init=a * X[:1], tol=0.0).fit(a * X)
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(km.cluster_centers_ / a, ref.cluster_centers_, rtol=1e-7)
