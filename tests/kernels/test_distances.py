import numpy as np
import pytest
from hypothesis import given

from chunkml.kernels import assign_labels, euclidean_distances
from chunkml.kernels._config import CHUNK_ROWS
from tests import _reference as ref
from tests.kernels._util import (
    CASES,
    DTYPES,
    RTOL,
    assert_close,
    assert_nearest,
    blocks,
    blocks_and_centers,
    identity,
    make_data,
    read_only,
    public,
)

ASSIGN = {"serial": assign_labels, "parallel": public(assign_labels, True)}
DISTANCES = {"serial": euclidean_distances, "parallel": public(euclidean_distances, True)}


def _assign(kernel, X, centers, label_dtype=np.int32):
    # Sentinels show that every output slot is overwritten.
    labels = np.full(X.shape[0], -7, dtype=label_dtype)
    mindist = np.full(X.shape[0], np.nan)
    kernel(X, *identity(X.shape[1]), centers, labels, mindist)
    return labels, mindist


def _distances(kernel, X, centers):
    out = np.full((X.shape[0], centers.shape[0]), np.nan, dtype=X.dtype)
    kernel(X, *identity(X.shape[1]), centers, out)
    return out


@pytest.mark.parametrize("variant", ASSIGN)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_assign_labels_matches_reference(case, dtype, variant):
    X, centers = make_data(case, dtype)
    labels, mindist = _assign(ASSIGN[variant], X, centers)
    assert_nearest(X, centers, labels, RTOL[dtype])
    ref_labels, ref_mindist = ref.nearest_centers(X, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    assert_close(mindist, ref_mindist, dtype)
    assert (mindist >= 0).all()


@pytest.mark.parametrize("variant", ASSIGN)
def test_assign_labels_int64_labels(variant):
    # int32, what the glue passes, everywhere else; int64 compiles signatures of its own.
    X, centers = make_data("generic", np.float64)
    labels, mindist = _assign(ASSIGN[variant], X, centers, label_dtype=np.int64)
    np.testing.assert_array_equal(labels, ref.nearest_centers(X, centers)[0])


@pytest.mark.parametrize("variant", DISTANCES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_euclidean_distances_matches_reference(case, dtype, variant):
    X, centers = make_data(case, dtype)
    out = _distances(DISTANCES[variant], X, centers)
    assert_close(out, ref.euclidean_distances(X, centers), dtype)


def test_assign_labels_on_a_center_gives_zero_distance():
    X, centers = make_data("generic", np.float64)
    centers = X[[3, 50, 120]].copy()
    labels, mindist = _assign(assign_labels, X, centers)
    assert list(labels[[3, 50, 120]]) == [0, 1, 2]
    np.testing.assert_array_equal(mindist[[3, 50, 120]], 0.0)


def test_assign_labels_nan_row():
    # Documented: a row holding NaN gets label 0 and a NaN distance; other rows unaffected.
    X, centers = make_data("generic", np.float64)
    X[10, 2] = np.nan
    labels, mindist = _assign(assign_labels, X, centers)
    assert labels[10] == 0
    assert np.isnan(mindist[10])
    keep = np.arange(X.shape[0]) != 10
    assert_nearest(X[keep], centers, labels[keep], RTOL[np.float64])


@pytest.mark.parametrize("variant", ["serial", "parallel"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_read_only_inputs_are_not_mutated(dtype, variant):
    X, centers = make_data("duplicates", dtype)
    X_ro, centers_ro = read_only(X, centers)
    labels, mindist = _assign(ASSIGN[variant], X_ro, centers_ro)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=dtype)
    DISTANCES[variant](X_ro, *identity(X.shape[1]), centers_ro, out)
    np.testing.assert_array_equal(X_ro, X)
    np.testing.assert_array_equal(centers_ro, centers)
    np.testing.assert_array_equal(labels, ref.nearest_centers(X, centers)[0])
    assert_close(out, ref.euclidean_distances(X, centers), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocks_equal_whole(dtype):
    X, centers = make_data("generic", dtype)
    labels, mindist = _assign(assign_labels, X, centers)
    dist = _distances(euclidean_distances, X, centers)
    parts = [(_assign(assign_labels, X[a:b], centers), _distances(euclidean_distances,
                                                                   X[a:b], centers))
             for a, b in blocks(X.shape[0])]
    np.testing.assert_array_equal(np.concatenate([p[0][0] for p in parts]), labels)
    np.testing.assert_array_equal(np.concatenate([p[0][1] for p in parts]), mindist)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), dist)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_over_many_chunks_equals_serial(dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2 * CHUNK_ROWS + 37, 3)).astype(dtype)
    centers = rng.normal(size=(4, 3))
    labels, mindist = _assign(ASSIGN["parallel"], X, centers)
    serial_labels, serial_mindist = _assign(assign_labels, X, centers)
    np.testing.assert_array_equal(labels, serial_labels)
    np.testing.assert_array_equal(mindist, serial_mindist)
    np.testing.assert_array_equal(_distances(DISTANCES["parallel"], X, centers),
                                  _distances(euclidean_distances, X, centers))
    assert_nearest(X, centers, labels, RTOL[dtype])


@given(blocks_and_centers())
def test_labels_minimise_distance(data):
    X, centers = data
    labels, mindist = _assign(assign_labels, X, centers)
    assert_nearest(X, centers, labels, RTOL[np.float64])
    d2 = ref.squared_distances(X, centers)
    tol = RTOL[np.float64] * (1.0 + d2.max(initial=0.0))
    np.testing.assert_allclose(mindist, d2[np.arange(X.shape[0]), labels], rtol=0, atol=tol)
    assert (mindist >= 0).all()
    dist = _distances(euclidean_distances, X, centers)
    np.testing.assert_allclose(dist, np.sqrt(d2), rtol=RTOL[X.dtype.type], atol=1e-6)


@given(blocks_and_centers())
def test_parallel_equals_serial(data):
    X, centers = data
    for got, want in zip(_assign(ASSIGN["parallel"], X, centers),
                         _assign(assign_labels, X, centers)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_distances(DISTANCES["parallel"], X, centers),
                                  _distances(euclidean_distances, X, centers))


@pytest.mark.parametrize("variant", ASSIGN)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", [1, 2, 3, 4, 5])
def test_equal_centers_give_the_first_label(n_features, dtype, variant):
    """Copies of a center, inside and across the tiled kernels' groups of four
    candidates and in the single sweeps after them: a row takes the first copy's label,
    as numpy's argmin does."""
    rng = np.random.default_rng(n_features)
    points = rng.normal(scale=3.0, size=(3, n_features))
    order = np.array([0, 1, 1, 2, 0, 2, 1, 0, 2])
    centers = points[order]
    X = rng.normal(scale=3.0, size=(1000, n_features)).astype(dtype)
    labels, mindist = _assign(ASSIGN[variant], X, centers)
    nearest_point = ((X[:, None, :].astype(np.float64) - points[None]) ** 2).sum(-1).argmin(1)
    first_copy = np.array([np.flatnonzero(order == p)[0] for p in range(3)])
    np.testing.assert_array_equal(labels, first_copy[nearest_point])
    np.testing.assert_array_equal(labels, ref.nearest_centers(X, centers)[0])


@pytest.mark.parametrize("variant", ASSIGN)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3), (6, 3), (8, 16)], ids=["tiles", "rows", "gemm"])
def test_labels_without_distances_and_the_returned_sum(shape, dtype, variant):
    # out_mindist of size 0 keeps no distance (predict's labels): the same labels, and
    # the returned sum of the squared distances either way. Several parallel ranges.
    n_features, n_clusters = shape
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(3 * CHUNK_ROWS + 17, n_features)).astype(dtype)
    centers = rng.normal(size=(n_clusters, n_features))
    kernel = ASSIGN[variant]
    labels = np.full(X.shape[0], -7, dtype=np.int32)
    mindist = np.full(X.shape[0], np.nan)
    total = kernel(X, *identity(n_features), centers, labels, mindist)
    only = np.full(X.shape[0], -7, dtype=np.int32)
    total_only = kernel(X, *identity(n_features), centers, only, np.empty(0))
    np.testing.assert_array_equal(only, labels)
    np.testing.assert_array_equal(labels, ref.nearest_centers(X, centers)[0])
    np.testing.assert_allclose([total, total_only], mindist.sum(), rtol=1e-12)
    X[CHUNK_ROWS + 5, 0] = np.nan
    assert not np.isfinite(kernel(X, *identity(n_features), centers, only, np.empty(0)))
