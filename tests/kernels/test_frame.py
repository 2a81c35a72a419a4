"""Every distance kernel in a frame (shift, scale) against the reference on the rows
x' = (x - shift) * scale, for data whose distances the identity frame cannot measure:
a common offset 1e4 times the spread (||c||^2 - 2 x.c cancels), 1.5e154 (squared norms
overflow) and 1e-200 (squared distances underflow). And the first pass's statistics
(`block_stats`), whose min and max choose the frame and whose M2 must not overflow."""

import numpy as np
import pytest

from chunkml.kernels import (
    N_STATS,
    STAT_EXP,
    STAT_M2,
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    assign_labels,
    block_stats,
    euclidean_distances,
    lloyd_partial_sums,
    minibatch_step,
    update_mindist_sample,
    variant,
)
from chunkml.kernels._config import STATS_CHUNK_VALUES
from tests import _reference as ref
from tests.kernels._util import assert_close, assert_moments_close, public, sqnorm

# (offset, spread) of the data
MAGNITUDES = {"offset": (1e4, 1.0), "huge": (1.5e154, 1.5e151), "tiny": (0.0, 1e-200)}
# name: (n_features, n_clusters): tiled (d <= 4), row by row, matrix products
SHAPES = {"tiles": (2, 3), "rows": (6, 3), "gemm": (8, 16)}
# (serial, parallel): the dispatch picks the method from the shape.
LLOYD = (lloyd_partial_sums, public(lloyd_partial_sums, True))
ASSIGN = (assign_labels, public(assign_labels, True))


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_run_the_method_they_are_named_after(shape):
    for op in ("lloyd_partial_sums", "assign_labels", "update_mindist_sample"):
        assert variant(op, *SHAPES[shape]).method == shape


def _data(magnitude, shape, dtype=np.float64, n_samples=200, seed=0):
    """(X, frame, X in the frame, centers in the frame): well separated blobs."""
    offset, spread = MAGNITUDES[magnitude]
    n_features, n_clusters = SHAPES[shape]
    rng = np.random.default_rng(seed)
    unit_centers = rng.uniform(-10, 10, size=(n_clusters, n_features))
    unit = unit_centers[rng.integers(0, n_clusters, n_samples)] + rng.normal(
        size=(n_samples, n_features))
    X = np.ascontiguousarray(offset + unit * spread, dtype=dtype)
    lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    shift = 0.5 * lo + 0.5 * hi
    scale = np.ldexp(1.0, -np.frexp(np.max(0.5 * hi - 0.5 * lo))[1])
    X_frame = (X.astype(np.float64) - shift) * scale
    centers = (unit_centers * spread + offset - shift) * scale
    return X, (shift, float(scale)), X_frame, centers


def _lloyd(kernel, X, frame, centers, w, m):
    k, d = centers.shape
    sums, weight = np.zeros((k, d)), np.zeros(k)
    moments = np.full((2, d), np.nan)
    far = (np.empty(m), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64))
    inertia = kernel(X, *frame, centers, w, sums, weight, moments, *far)
    return inertia, sums, weight, moments, far


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("magnitude", MAGNITUDES)
def test_lloyd_in_a_frame_matches_reference(magnitude, shape, parallel):
    X, frame, X_frame, centers = _data(magnitude, shape)
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    inertia, sums, weight, moments, (far_dist, far_idx, far_label) = _lloyd(
        LLOYD[parallel], X, frame, centers, w, 4)
    expected = ref.lloyd_partial(X_frame, centers, w, 4)
    # Well separated: every label is the reference's, so the sums are too.
    assert_close(sums, expected.sums, np.float64)
    assert_close(weight, expected.weight, np.float64)
    assert_close(inertia, expected.inertia, np.float64)
    assert_moments_close(moments, expected.moments, np.float64)
    assert set(far_idx.tolist()) == set(expected.far_idx.tolist())
    np.testing.assert_array_equal(far_label, expected.labels[far_idx])
    np.testing.assert_allclose(far_dist, expected.mindist[far_idx], rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("magnitude", ["offset", "tiny"])
def test_assign_and_distances_in_a_frame_match_reference(magnitude, shape, dtype):
    if dtype == np.float32 and magnitude == "tiny":
        pytest.skip("1e-200 is not a float32")
    X, frame, X_frame, centers = _data(magnitude, shape, dtype)
    expected_labels, expected_mindist = ref.nearest_centers(X_frame, centers)
    for kernel in ASSIGN:
        labels = np.empty(X.shape[0], dtype=np.int32)
        mindist = np.empty(X.shape[0])
        kernel(X, *frame, centers, labels, mindist)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_allclose(mindist, expected_mindist, rtol=1e-9)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=dtype)
    euclidean_distances(X, *frame, centers, out)
    # In X's units again: the frame's distances divided by the scale.
    assert_close(out * frame[1], ref.euclidean_distances(X_frame, centers), dtype)


@pytest.mark.parametrize("shape", SHAPES)
def test_kmeans_parallel_round_and_minibatch_step_in_a_frame(shape):
    X, frame, X_frame, centers = _data("huge", shape)
    n = X.shape[0]
    out = (np.empty(n), np.empty(n, dtype=np.int64), np.empty(3),
           np.empty(3, dtype=np.int64))
    phi = update_mindist_sample(X, *frame, centers, 0, np.empty(0),
                                np.empty(0, dtype=np.int64), np.empty(0), 1, 2, 0, False,
                                *out)
    expected = ref.kmeans_parallel_round(X_frame, centers, None, None, 1, 2, 0, False, 3)
    np.testing.assert_allclose(out[0], expected.mindist, rtol=1e-9)
    np.testing.assert_array_equal(out[1], expected.nearest)
    assert_close(phi, expected.phi, np.float64)
    new_centers = np.empty_like(centers)
    labels = np.empty(n, dtype=np.int64)
    weight_sums = np.zeros(centers.shape[0])
    inertia = minibatch_step(X, *frame, np.empty(0), centers, sqnorm(centers), weight_sums,
                             new_centers, labels, np.empty(n))
    partial = ref.lloyd_partial(X_frame, centers)
    np.testing.assert_array_equal(labels, partial.labels)
    assert_close(inertia, partial.inertia, np.float64)
    filled = partial.weight > 0
    assert_close(new_centers[filled], partial.sums[filled] / partial.weight[filled, None],
                 np.float64)


@pytest.mark.parametrize("magnitude", MAGNITUDES)
def test_block_stats_do_not_overflow(magnitude):
    # 1.5e154 rows: their squares, and the unscaled M2, overflow float64.
    X, _, _, _ = _data(magnitude, "tiles", n_samples=5000)
    stats = np.full((N_STATS, 2), np.nan)
    block_stats(X, stats)
    np.testing.assert_array_equal(stats[STAT_MIN], X.min(axis=0))
    np.testing.assert_array_equal(stats[STAT_MAX], X.max(axis=0))
    offset, spread = MAGNITUDES[magnitude]
    unit = (X - offset) / spread  # exact enough: the reference in unit-sized numbers
    np.testing.assert_allclose(stats[STAT_MEAN], offset + unit.mean(axis=0) * spread,
                               rtol=1e-12)
    m2_unit = ((unit - unit.mean(axis=0)) ** 2).sum(axis=0)
    # M2 = stats[M2] * 4**e, compared in the units of the spread.
    e = stats[STAT_EXP].astype(int)
    spread_exp = np.frexp(spread)[1]
    scaled = np.ldexp(stats[STAT_M2], 2 * (e - spread_exp)) / np.ldexp(spread, -spread_exp)**2
    np.testing.assert_allclose(scaled, m2_unit, rtol=1e-7)


def test_block_stats_of_zero_rows():
    stats = np.full((N_STATS, 3), np.nan)
    block_stats(np.empty((0, 3)), stats)
    np.testing.assert_array_equal(stats[STAT_MIN], np.inf)
    np.testing.assert_array_equal(stats[STAT_MAX], -np.inf)
    np.testing.assert_array_equal(stats[[STAT_MEAN, STAT_M2, STAT_EXP]], 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [1, 3, 8, 9, 20])
def test_block_stats_by_feature_and_by_row_match_numpy(n_features, dtype):
    # Up to STATS_BY_FEATURE_MAX_FEATURES (8) features the block is read a feature at a
    # time over chunks of rows; wider, row by row. Row counts that end a chunk and the
    # four-row unroll early; a NaN in one feature touches that feature only.
    rows_per_chunk = STATS_CHUNK_VALUES // n_features
    rng = np.random.default_rng(n_features)
    for n_samples in (1, 3, rows_per_chunk, 2 * rows_per_chunk + 5):
        X = (rng.normal(size=(n_samples, n_features)) * 3 + 40).astype(dtype)
        stats = np.full((N_STATS, n_features), np.nan)
        block_stats(X, stats)
        np.testing.assert_array_equal(stats[STAT_MIN], X.min(axis=0))
        np.testing.assert_array_equal(stats[STAT_MAX], X.max(axis=0))
        want = ref.moments(X)
        np.testing.assert_allclose(stats[STAT_MEAN], want[0], rtol=1e-12)
        m2 = np.ldexp(stats[STAT_M2], 2 * stats[STAT_EXP].astype(int))
        np.testing.assert_allclose(m2, want[1], rtol=1e-9, atol=1e-9 * n_samples)
    X[n_samples // 2, n_features - 1] = np.nan
    block_stats(X, stats)
    assert not np.isfinite(stats[[STAT_MEAN, STAT_M2], n_features - 1]).any()
    assert np.isfinite(stats[:, : n_features - 1]).all()
