"""KMeans(metric="cosine"): spherical k-means against a plain-numpy reference."""

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

import chunkml

RTOL = {np.float64: 1e-7, np.float32: 1e-4}

# Row chunkings of a 1500-row X: one block, even, uneven last block, 0-row and 1-row blocks.
CHUNKINGS = {
    "numpy": None,
    "one-block": (1500,),
    "even": (500,) * 3,
    "uneven": (333,) * 4 + (168,),
    "tiny-blocks": (0, 700, 1, 0, 1, 798),
}


def reference_spherical_kmeans(X, init, sample_weight=None, max_iter=300, tol=1e-4):
    """Spherical k-means (Dhillon and Modha 2001), written from the documented rules.

    Rows read as x / ||x|| (in X's dtype, as chunkml reads them), unit initial centers;
    each iteration: label = argmax cosine similarity, center = weighted mean of its
    rows scaled to unit length; stop when the summed squared center shift is <= tol *
    mean per-feature variance of the unit rows. Then labels and inertia (weighted sum of
    1 - cos) of the final centers. Returns (centers, labels, n_iter, inertia).
    """
    X64 = np.asarray(X, dtype=np.float64)
    unit = (X64 / np.linalg.norm(X64, axis=1)[:, None]).astype(X.dtype).astype(np.float64)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    centers = np.asarray(init, dtype=np.float64)
    centers = centers / np.linalg.norm(centers, axis=1)[:, None]
    tol_abs = tol * np.var(unit, axis=0).mean()
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        labels = np.argmax(unit @ centers.T, axis=1)
        new = centers.copy()
        for j in range(len(centers)):
            rows = labels == j
            assert rows.any(), "the reference does not relocate empty clusters"
            mean = (w[rows, None] * unit[rows]).sum(axis=0)
            new[j] = mean / np.linalg.norm(mean)
        shift = ((new - centers) ** 2).sum()
        centers = new
        if shift <= tol_abs:
            break
    similarity = unit @ centers.T
    labels = np.argmax(similarity, axis=1)
    inertia = float(np.dot(w, 1.0 - similarity[np.arange(len(X)), labels]))
    return centers, labels, n_iter, inertia


def _data(dtype, n_clusters=4, n_features=5, seed=0):
    """Directions around n_clusters random axes, at random lengths (the lengths must
    not matter), with a few far-off rows."""
    rng = np.random.RandomState(seed)
    axes = rng.normal(size=(n_clusters, n_features))
    labels = rng.randint(n_clusters, size=1500)
    X = axes[labels] + 0.6 * rng.normal(size=(1500, n_features))
    X *= rng.uniform(0.1, 50.0, size=(1500, 1))
    X = X.astype(dtype)
    init = X[rng.choice(len(X), n_clusters, replace=False)] * 3.0  # not unit: normalised
    weight = rng.uniform(0.1, 3.0, size=len(X))
    return X, init, weight


def _as_input(X, chunking):
    rows = CHUNKINGS[chunking]
    return X if rows is None else da.from_array(X, chunks=(rows, X.shape[1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_numpy_reference(dtype, chunking, weighted):
    X, init, weight = _data(dtype)
    sample_weight = weight if weighted else None
    centers, labels, n_iter, inertia = reference_spherical_kmeans(X, init, sample_weight)
    assert n_iter > 2  # the comparison covers several updates
    km = chunkml.KMeans(4, metric="cosine", init=init).fit(
        _as_input(X, chunking), sample_weight=sample_weight)
    rtol = RTOL[dtype]
    assert km.cluster_centers_.dtype == dtype
    np.testing.assert_allclose(km.cluster_centers_, centers, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_array_equal(np.asarray(km.labels_), labels)
    assert km.n_iter_ == n_iter
    np.testing.assert_allclose(km.inertia_, inertia, rtol=rtol)
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_.astype(float), axis=1),
                               1.0, rtol=rtol)
    assert isinstance(km.labels_, np.ndarray if chunking == "numpy" else da.Array)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", ["numpy", "uneven"])
def test_predict_transform_score(dtype, chunking):
    X, init, weight = _data(dtype)
    km = chunkml.KMeans(4, metric="cosine", init=init).fit(X)
    X_in = _as_input(X, chunking)
    X64 = X.astype(np.float64)
    unit = X64 / np.linalg.norm(X64, axis=1)[:, None]
    cos = unit @ km.cluster_centers_.astype(np.float64).T
    rtol = RTOL[dtype]

    distances = km.transform(X_in)
    assert isinstance(distances, np.ndarray if chunking == "numpy" else da.Array)
    distances = np.asarray(distances)
    assert distances.dtype == dtype
    np.testing.assert_allclose(distances, 1.0 - cos, rtol=rtol, atol=rtol * 1e-2)
    labels = np.asarray(km.predict(X_in))
    np.testing.assert_array_equal(labels, km.labels_)
    np.testing.assert_array_equal(labels, np.argmax(cos, axis=1))
    best = 1.0 - cos[np.arange(len(X)), labels]
    np.testing.assert_allclose(km.score(X_in), -best.sum(), rtol=rtol)
    np.testing.assert_allclose(km.score(X_in, sample_weight=weight), -np.dot(weight, best),
                               rtol=rtol)
    np.testing.assert_allclose(km.score(X), -km.inertia_, rtol=rtol)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
@pytest.mark.parametrize("chunking", ["numpy", "uneven"])
def test_init_runs_on_the_unit_rows(init, chunking):
    """Scaling rows by powers of two leaves their unit rows bit for bit as they are:
    every init (and the fit) must then be the same; a Euclidean fit is not."""
    X, _, _ = _data(np.float64, seed=1)
    scale = 2.0 ** np.random.RandomState(2).randint(-3, 6, size=(len(X), 1))
    fits = [chunkml.KMeans(4, metric="cosine", init=init, random_state=0).fit(
        _as_input(data, chunking)) for data in (X, X * scale)]
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    np.testing.assert_array_equal(np.asarray(fits[0].labels_), np.asarray(fits[1].labels_))
    assert fits[0].inertia_ == fits[1].inertia_
    np.testing.assert_allclose(np.linalg.norm(fits[0].cluster_centers_, axis=1), 1.0,
                               rtol=1e-12)
    euclidean = chunkml.KMeans(4, init=init, random_state=0).fit(_as_input(X * scale,
                                                                            chunking))
    assert not np.allclose(euclidean.cluster_centers_, fits[0].cluster_centers_)


def test_callable_init_result_is_normalised():
    X, _, _ = _data(np.float64)
    unit = X[:4] / np.linalg.norm(X[:4], axis=1)[:, None]
    calls = []

    def init(X_, n_clusters, random_state):
        calls.append(X_.shape)
        return np.asarray(X_[:n_clusters]) * 7.0

    fitted = chunkml.KMeans(4, metric="cosine", init=init, n_init=1).fit(X)
    centers, labels, n_iter, inertia = reference_spherical_kmeans(X, unit)
    assert calls == [X.shape]
    np.testing.assert_allclose(fitted.cluster_centers_, centers, rtol=1e-7)
    np.testing.assert_array_equal(fitted.labels_, labels)
    assert fitted.n_iter_ == n_iter


def _with_zero_row(row):
    X, _, _ = _data(np.float64)
    X = X.copy()
    X[row] = 0.0
    return X


@pytest.mark.parametrize("chunking", ["numpy", "uneven"])
@pytest.mark.parametrize("init", ["k-means||", "array"])
def test_zero_row_is_an_error_naming_it(chunking, init):
    X = _with_zero_row(700)
    km = chunkml.KMeans(4, metric="cosine", random_state=0,
                        init=X[:4] if init == "array" else init)
    with pytest.raises(ValueError, match=r"zero row \(row 700\)"):
        km.fit(_as_input(X, chunking))
    assert not hasattr(km, "cluster_centers_")
    with pytest.raises(NotFittedError):
        km.predict(X)


def test_zero_row_in_unknown_chunks_names_its_block():
    X = _with_zero_row(700)
    X_dask = da.from_array(X, chunks=(500, 5))
    unknown = X_dask[X_dask[:, 0] == X_dask[:, 0]]  # the same rows, chunk sizes unknown
    assert np.isnan(unknown.shape[0])
    km = chunkml.KMeans(4, metric="cosine", random_state=0)
    with pytest.raises(ValueError, match=r"zero row \(row 200 of block 1\)"):
        km.fit(unknown)
    assert not hasattr(km, "cluster_centers_")


def test_zero_init_row_is_an_error():
    X, init, _ = _data(np.float64)
    init[2] = 0.0
    with pytest.raises(ValueError, match="init has a zero row"):
        chunkml.KMeans(4, metric="cosine", init=init).fit(X)


def test_a_fitted_model_survives_a_failed_refit():
    X, init, _ = _data(np.float64)
    km = chunkml.KMeans(4, metric="cosine", init=init).fit(X)
    centers = km.cluster_centers_.copy()
    with pytest.raises(ValueError, match="zero row"):
        km.fit(_with_zero_row(3))
    np.testing.assert_array_equal(km.cluster_centers_, centers)


def _sparse_data(dtype, seed=0):
    """_data with about 40% of its values zeroed (none of its rows), as CSR."""
    X, init, weight = _data(dtype, seed=seed)
    keep = np.random.RandomState(seed + 1).uniform(size=X.shape) > 0.4
    keep[np.arange(len(X)), np.abs(X).argmax(axis=1)] = True
    return sp.csr_matrix(X * keep), init, weight


def _sparse_input(X, kind):
    if kind == "csr":
        return X
    return da.from_array(X, chunks=((333,) * 4 + (168,), X.shape[1]), asarray=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["csr", "dask-csr"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_matches_numpy_reference(dtype, kind, weighted):
    """Sparse X is read as its unit rows: the reference's fit of the same rows, dense,
    and predict / transform / score as on the dense rows."""
    X, init, weight = _sparse_data(dtype)
    sample_weight = weight if weighted else None
    dense = X.toarray()
    centers, labels, n_iter, inertia = reference_spherical_kmeans(dense, init,
                                                                  sample_weight)
    assert n_iter > 2
    X_in = _sparse_input(X, kind)
    km = chunkml.KMeans(4, metric="cosine", init=init).fit(X_in, sample_weight=sample_weight)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(km.cluster_centers_, centers, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_array_equal(np.asarray(km.labels_), labels)
    assert km.n_iter_ == n_iter
    np.testing.assert_allclose(km.inertia_, inertia, rtol=rtol)
    np.testing.assert_array_equal(np.asarray(km.predict(X_in)), labels)
    unit = dense.astype(np.float64) / np.linalg.norm(dense.astype(np.float64), axis=1)[:, None]
    cos = unit @ km.cluster_centers_.astype(np.float64).T
    np.testing.assert_allclose(np.asarray(km.transform(X_in)), 1.0 - cos, rtol=rtol,
                               atol=rtol)
    w = np.ones(len(dense)) if sample_weight is None else sample_weight
    best = 1.0 - cos[np.arange(len(dense)), labels]
    np.testing.assert_allclose(km.score(X_in, sample_weight=sample_weight),
                               -np.dot(w, best), rtol=rtol)


@pytest.mark.parametrize("kind", ["csr", "dask-csr"])
def test_sparse_zero_row_is_named(kind):
    X, init, _ = _sparse_data(np.float64)
    X = X.tolil()
    X[7] = 0
    X = _sparse_input(X.tocsr(), kind)
    km = chunkml.KMeans(4, metric="cosine", init=init)
    with pytest.raises(ValueError, match="zero row.*row 7"):
        km.fit(X)
    assert not hasattr(km, "cluster_centers_")


def test_bad_metric():
    X, _, _ = _data(np.float64)
    with pytest.raises(ValueError, match="metric"):
        chunkml.KMeans(4, metric="manhattan").fit(X)


def test_overflow_safe_norms():
    """float64 rows whose sum of squares overflows are still normalised."""
    X, init, _ = _data(np.float64)
    big = chunkml.KMeans(4, metric="cosine", init=init).fit(X * 1e300)
    small = chunkml.KMeans(4, metric="cosine", init=init).fit(X)
    np.testing.assert_allclose(big.cluster_centers_, small.cluster_centers_, rtol=1e-7)
    np.testing.assert_array_equal(big.labels_, small.labels_)


def reference_spherical_minibatch(blocks, init, n_passes):
    """Spherical mini-batch k-means, one batch per block in order, no reassignment and
    no early stop: each step assigns the batch by cosine similarity, moves each center
    to the weighted mean of its old position (weighted by all it absorbed before) and its
    new rows (scikit-learn's update), then scales it to unit length."""
    centers = init / np.linalg.norm(init, axis=1)[:, None]
    weight_sums = np.zeros(len(centers))
    for _ in range(n_passes):
        for block in blocks:
            X64 = np.asarray(block, dtype=np.float64)
            unit = (X64 / np.linalg.norm(X64, axis=1)[:, None]).astype(block.dtype)
            unit = unit.astype(np.float64)
            labels = np.argmax(unit @ centers.T, axis=1)
            for j in range(len(centers)):
                rows = labels == j
                if not rows.any():
                    continue
                total = weight_sums[j] + rows.sum()
                mean = (centers[j] * weight_sums[j] + unit[rows].sum(axis=0)) / total
                centers[j] = mean / np.linalg.norm(mean)
                weight_sums[j] = total
    return centers


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["dask", "partial_fit"])
@pytest.mark.parametrize("sparse", [False, True])
def test_minibatch_matches_numpy_reference(dtype, kind, sparse):
    X_sparse, init, _ = _sparse_data(dtype) if sparse else (None, *_data(dtype)[1:])
    X = X_sparse.toarray() if sparse else _data(dtype)[0]
    chunks = (300,) * 5
    blocks = np.split(X, np.cumsum(chunks)[:-1])
    params = dict(metric="cosine", init=init, batch_size=300, reassignment_ratio=0.0,
                  max_no_improvement=None, tol=0.0)
    data = X_sparse if sparse else X
    if kind == "dask":
        km = chunkml.MiniBatchKMeans(4, max_iter=3, **params).fit(
            da.from_array(data, chunks=(chunks, 5), asarray=False))
        assert km.n_iter_ == 3 and km.n_steps_ == 15
        n_passes = 3
    else:
        km = chunkml.MiniBatchKMeans(4, **params)
        for start in np.cumsum((0,) + chunks[:-1]):
            km.partial_fit(data[start:start + 300])
        n_passes = 1
    centers = reference_spherical_minibatch(blocks, init, n_passes)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(km.cluster_centers_, centers, rtol=rtol, atol=rtol * 1e-3)
    unit = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1)[:, None]
    cos = unit @ km.cluster_centers_.astype(np.float64).T
    if kind == "dask":
        np.testing.assert_array_equal(np.asarray(km.labels_), np.argmax(cos, axis=1))
        np.testing.assert_allclose(km.inertia_, (1.0 - cos.max(axis=1)).sum(), rtol=rtol)
    np.testing.assert_allclose(km.transform(X), 1.0 - cos, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("chunking", ["numpy", "uneven"])
def test_minibatch_fit_on_unit_rows(chunking):
    """Rows scaled by powers of two give the same fit (init draws and batches alike)."""
    X, _, _ = _data(np.float64, seed=1)
    scale = 2.0 ** np.random.RandomState(2).randint(-3, 6, size=(len(X), 1))
    fits = [chunkml.MiniBatchKMeans(4, metric="cosine", batch_size=200, random_state=0,
                                    n_init=2).fit(_as_input(data, chunking))
            for data in (X, X * scale)]
    np.testing.assert_array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    np.testing.assert_allclose(np.linalg.norm(fits[0].cluster_centers_, axis=1), 1.0,
                               rtol=1e-12)
    assert fits[0].n_steps_ > 10


def test_minibatch_zero_row():
    X = _with_zero_row(700)
    km = chunkml.MiniBatchKMeans(4, metric="cosine", random_state=0)
    with pytest.raises(ValueError, match=r"zero row \(row 700\)"):
        km.fit(_as_input(X, "uneven"))
    assert not hasattr(km, "cluster_centers_")
    km.partial_fit(X[:500])
    centers = km.cluster_centers_.copy()
    with pytest.raises(ValueError, match=r"zero row \(row 200 of the block\)"):
        km.partial_fit(X[500:])
    np.testing.assert_array_equal(km.cluster_centers_, centers)


def test_verbose_prints_the_cosine_inertia(capsys):
    X, init, _ = _data(np.float64)
    km = chunkml.KMeans(4, metric="cosine", init=init, verbose=1, max_iter=1).fit(X)
    line = [s for s in capsys.readouterr().out.splitlines() if s.startswith("Iteration 0")]
    printed = float(line[0].split("inertia ")[1].rstrip("."))
    # Iteration 0's inertia is that of the initial centers.
    unit = X / np.linalg.norm(X, axis=1)[:, None]
    start = init / np.linalg.norm(init, axis=1)[:, None]
    np.testing.assert_allclose(printed, (1 - (unit @ start.T).max(axis=1)).sum(), rtol=1e-7)
    assert km.n_iter_ == 1
