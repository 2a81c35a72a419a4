"""chunkml.KMeans on scipy.sparse input, in memory and as dask arrays of sparse blocks,
against scikit-learn's sparse Lloyd from the same initial centers."""

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans as SKKMeans

import chunkml
from chunkml.dask_glue._rows import PARALLEL_MIN_ROWS

RTOL = {np.float64: 1e-7, np.float32: 1e-4}
N_SAMPLES, N_FEATURES, N_CLUSTERS = 600, 40, 4

# How X is given: in memory as CSR or CSC, or dask row chunkings of CSR blocks (one
# block, even, uneven last block, 0-row and 1-row blocks).
CHUNKINGS = {
    "csr": None,
    "csc": None,
    "one-block": (600,),
    "uneven": (250, 250, 100),
    "tiny-blocks": (0, 300, 1, 0, 299),
}


def _data(dtype, seed=0, n_samples=N_SAMPLES):
    """TF-IDF-like rows: each cluster favours its own 10 features, a few stray nonzeros
    elsewhere, rows normalised; init near each cluster."""
    rng = np.random.RandomState(seed)
    truth = rng.randint(N_CLUSTERS, size=n_samples)
    topic = np.zeros((n_samples, N_FEATURES), dtype=bool)
    for i, c in enumerate(truth):
        topic[i, c * 10 + rng.choice(10, 4, replace=False)] = True
    stray = rng.uniform(size=(n_samples, N_FEATURES)) < 0.05
    values = np.where(topic | stray, rng.uniform(0.2, 1.0, size=topic.shape), 0.0)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    X = sp.csr_matrix(values.astype(dtype))
    # Means of 3 rows each: distances to them do not tie (as rows with disjoint supports
    # would, all at sqrt(2) from each other).
    init = np.stack([np.asarray(X[np.flatnonzero(truth == c)[:3]].mean(axis=0)).ravel()
                     for c in range(N_CLUSTERS)])
    # Nonzero everywhere: rows with no feature in common with a center do not tie either.
    init += rng.uniform(0.0, 0.01, size=init.shape)
    weight = rng.uniform(0.1, 3.0, size=n_samples)
    return X, init, weight


def _as_input(X, chunking):
    if chunking == "csr":
        return X
    if chunking == "csc":
        return X.tocsc()
    return da.from_array(X, chunks=(CHUNKINGS[chunking], N_FEATURES))


def _assert_same(km, ref, dtype):
    rtol = RTOL[dtype]
    assert km.cluster_centers_.dtype == dtype
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=rtol,
                               atol=rtol * 1e-3)
    np.testing.assert_array_equal(np.asarray(km.labels_), ref.labels_)
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("weighted", [False, True])
def test_same_result_as_sklearn_from_same_centers(dtype, chunking, weighted):
    X, init, weight = _data(dtype)
    w = weight if weighted else None
    ref = SKKMeans(N_CLUSTERS, init=init, n_init=1, tol=1e-6).fit(X, sample_weight=w)
    assert ref.n_iter_ > 1
    Xin = _as_input(X, chunking)
    km = chunkml.KMeans(N_CLUSTERS, init=init, n_init=1, tol=1e-6).fit(
        Xin, sample_weight=w)
    _assert_same(km, ref, dtype)
    assert isinstance(km.labels_, np.ndarray if chunking in ("csr", "csc") else da.Array)
    rtol = RTOL[dtype]
    np.testing.assert_array_equal(np.asarray(km.predict(Xin)), ref.predict(X))
    np.testing.assert_allclose(np.asarray(km.transform(Xin)), ref.transform(X), rtol=rtol,
                               atol=rtol)
    np.testing.assert_allclose(km.score(Xin, sample_weight=w),
                               ref.score(X, sample_weight=w), rtol=rtol)


def test_in_memory_parallel_kernels_same_result_as_sklearn():
    # Enough rows for the in-memory parallel variants (kernels/sparse.py).
    X, init, weight = _data(np.float64, n_samples=PARALLEL_MIN_ROWS + 1000)
    ref = SKKMeans(N_CLUSTERS, init=init, n_init=1).fit(X, sample_weight=weight)
    km = chunkml.KMeans(N_CLUSTERS, init=init, n_init=1).fit(X, sample_weight=weight)
    _assert_same(km, ref, np.float64)
    np.testing.assert_array_equal(km.predict(X), ref.predict(X))
    np.testing.assert_allclose(km.transform(X), ref.transform(X), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("chunking", ["csr", "uneven"])
def test_empty_cluster_relocated_as_sklearn(chunking):
    # Two equal initial centers: the second gets no row (ties go to the first) and is
    # moved to the row farthest from its center, as scikit-learn does.
    X, init, _ = _data(np.float64)
    init[3] = init[2]
    ref = SKKMeans(N_CLUSTERS, init=init, n_init=1).fit(X)
    km = chunkml.KMeans(N_CLUSTERS, init=init, n_init=1).fit(_as_input(X, chunking))
    _assert_same(km, ref, np.float64)


def _map_blocks_input(X):
    """A dask array whose blocks are scipy.sparse *arrays* (csr_array), via map_blocks."""
    dense_shape = da.zeros((N_SAMPLES, N_FEATURES), chunks=(200, N_FEATURES))

    def block(b, block_info=None):
        start, stop = block_info[0]["array-location"][0]
        return sp.csr_array(X[start:stop])

    return dense_shape.map_blocks(block, dtype=X.dtype, meta=sp.csr_array((0, 0)))


def test_map_blocks_of_sparse_arrays():
    X, init, weight = _data(np.float64)
    ref = SKKMeans(N_CLUSTERS, init=init, n_init=1).fit(X, sample_weight=weight)
    km = chunkml.KMeans(N_CLUSTERS, init=init, n_init=1).fit(_map_blocks_input(X),
                                                            sample_weight=weight)
    _assert_same(km, ref, np.float64)


@pytest.mark.parametrize("init", ["k-means||", "k-means++", "random"])
@pytest.mark.parametrize("chunking", ["csr", "uneven"])
def test_every_init_gives_a_sensible_fit(init, chunking):
    X, _, _ = _data(np.float64)
    best = SKKMeans(N_CLUSTERS, n_init=10, random_state=0).fit(X).inertia_
    Xin = _as_input(X, chunking)
    km = chunkml.KMeans(N_CLUSTERS, init=init, n_init=3, random_state=0).fit(Xin)
    assert km.inertia_ <= 1.05 * best
    np.testing.assert_array_equal(np.asarray(km.labels_), np.asarray(km.predict(Xin)))
    np.testing.assert_allclose(-km.score(Xin), km.inertia_, rtol=1e-7)


def test_default_init_large_values_and_float32():
    # Values far from unit size: the frame's power-of-two scale keeps ||c||^2 finite.
    X, _, _ = _data(np.float32)
    X = X * np.float32(1e30)
    km = chunkml.KMeans(N_CLUSTERS, n_init=2, random_state=0).fit(X)
    ref = SKKMeans(N_CLUSTERS, init=km.cluster_centers_, n_init=1).fit(
        X.astype(np.float64) * 1e-30)
    np.testing.assert_allclose(km.inertia_ * 1e-60, ref.inertia_, rtol=1e-3)
    assert km.cluster_centers_.dtype == np.float32


def test_sparse_blocks_split_across_columns_are_rejected():
    X, init, _ = _data(np.float64)
    Xd = da.from_array(X, chunks=(200, 20))
    with pytest.raises(ValueError, match="one block across its columns"):
        chunkml.KMeans(N_CLUSTERS, init=init, n_init=1).fit(Xd)
    assert not hasattr(chunkml.KMeans(N_CLUSTERS), "cluster_centers_")


def test_nan_in_sparse_input_is_rejected():
    X, init, _ = _data(np.float64)
    X = X.copy()
    X.data[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        chunkml.KMeans(N_CLUSTERS, init=init, n_init=1).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        chunkml.KMeans(N_CLUSTERS, init=init, n_init=1).fit(
            da.from_array(X, chunks=(200, N_FEATURES)))


def _dense_like(Xin, X):
    dense = X.toarray()
    return dense if Xin is X or not isinstance(Xin, da.Array) else da.from_array(
        dense, chunks=(Xin.chunks[0], N_FEATURES))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunking", ["csr", "csc", "uneven"])
def test_minibatch_fit_equals_the_dense_fit(dtype, chunking):
    # The same batches (drawn from the seed, whatever the container) and the same steps
    # as on the densified X, which tests/estimators/test_minibatch.py checks against
    # scikit-learn; only the rounding differs.
    X, init, weight = _data(dtype)
    kw = dict(n_clusters=N_CLUSTERS, init=init, n_init=1, batch_size=64, max_iter=3,
              random_state=0)
    Xin = _as_input(X, chunking)
    sparse_fit = chunkml.MiniBatchKMeans(**kw).fit(Xin, sample_weight=weight)
    dense_fit = chunkml.MiniBatchKMeans(**kw).fit(_dense_like(Xin, X), sample_weight=weight)
    rtol = RTOL[dtype]
    np.testing.assert_allclose(sparse_fit.cluster_centers_, dense_fit.cluster_centers_,
                               rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_array_equal(np.asarray(sparse_fit.labels_),
                                  np.asarray(dense_fit.labels_))
    assert sparse_fit.n_steps_ == dense_fit.n_steps_
    np.testing.assert_allclose(sparse_fit.inertia_, dense_fit.inertia_, rtol=rtol)


def test_minibatch_partial_fit_and_default_init():
    X, _, _ = _data(np.float64)
    sparse_fit = chunkml.MiniBatchKMeans(N_CLUSTERS, batch_size=100, random_state=0)
    dense_fit = chunkml.MiniBatchKMeans(N_CLUSTERS, batch_size=100, random_state=0)
    for start in range(0, N_SAMPLES, 200):
        sparse_fit.partial_fit(X[start:start + 200])
        dense_fit.partial_fit(X[start:start + 200].toarray())
    np.testing.assert_allclose(sparse_fit.cluster_centers_, dense_fit.cluster_centers_,
                               rtol=1e-7, atol=1e-10)
    best = SKKMeans(N_CLUSTERS, n_init=10, random_state=0).fit(X).inertia_
    km = chunkml.MiniBatchKMeans(N_CLUSTERS, n_init=3, random_state=0).fit(
        da.from_array(X, chunks=(250, N_FEATURES)))
    assert km.inertia_ <= 1.05 * best


@pytest.mark.parametrize("estimator", [chunkml.KMeans, chunkml.MiniBatchKMeans])
def test_callable_init_sees_sparse_rows(estimator):
    X, _, _ = _data(np.float64)
    seen = []

    def init(X_init, n_clusters, random_state=None):
        seen.append(sp.issparse(X_init))
        return X_init[:n_clusters].toarray()

    km = estimator(N_CLUSTERS, init=init, n_init=1, random_state=0).fit(
        da.from_array(X, chunks=(250, N_FEATURES)) if estimator is chunkml.MiniBatchKMeans
        else X)
    assert seen and all(seen)
    assert km.cluster_centers_.shape == (N_CLUSTERS, N_FEATURES)


def test_unsorted_and_duplicate_entries():
    # Rows with unsorted columns and a column stored twice (its values add up, as in
    # scipy): the fit is that of the canonical matrix.
    X, init, _ = _data(np.float64)
    rng = np.random.RandomState(1)
    rows = []
    for i in range(N_SAMPLES):
        row = X[i]
        half = row.data / 2
        cols = np.concatenate([row.indices, row.indices])
        vals = np.concatenate([half, row.data - half])
        order = rng.permutation(cols.size)
        rows.append((cols[order], vals[order]))
    indptr = np.cumsum([0] + [c.size for c, _ in rows])
    messy = sp.csr_matrix((np.concatenate([v for _, v in rows]),
                           np.concatenate([c for c, _ in rows]), indptr),
                          shape=X.shape)
    assert not messy.has_canonical_format
    ref = SKKMeans(N_CLUSTERS, init=init, n_init=1).fit(X)
    for Xin in (messy, da.from_array(messy, chunks=(250, N_FEATURES))):
        _assert_same(chunkml.KMeans(N_CLUSTERS, init=init, n_init=1).fit(Xin), ref,
                     np.float64)


def test_read_only_csr_arrays_compile_no_second_signature():
    # A memory-mapped or joblib-shared CSR block is read-only: every kernel reads the
    # (data, indices, indptr) arrays through read-only views (dask_glue/_sparse.py).
    from chunkml import kernels

    X = sp.random(400, 6, density=0.4, format="csr", random_state=0, dtype=np.float64)
    X.data += 1.0
    X.has_sorted_indices = False  # checked for duplicates (as_csr)
    direct = [kernels.sparse.sparse_block_stats, kernels.sparse.sparse_gather_rows,
              kernels.sparse.sparse_nearest_new, kernels.sparse.sparse_minibatch_step,
              kernels.sparse.sparse_has_duplicates]

    def fit(X):
        Xd = da.from_array(X, chunks=100, asarray=False)
        km = chunkml.KMeans(3, n_init=1, max_iter=3, random_state=0).fit(Xd)
        chunkml.MiniBatchKMeans(3, batch_size=50, max_iter=2, random_state=0).fit(X)
        return km

    writeable = fit(X)
    before = [len(kernel.signatures) for kernel in direct]
    frozen = X.copy()
    for a in (frozen.data, frozen.indices, frozen.indptr):
        a.flags.writeable = False
    read_only = fit(frozen)
    assert [len(kernel.signatures) for kernel in direct] == before
    np.testing.assert_array_equal(read_only.cluster_centers_, writeable.cluster_centers_)
