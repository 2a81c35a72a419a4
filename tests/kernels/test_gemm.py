"""The matrix-product kernels against the plain-numpy reference and the row-by-row kernels.

Their float32 product is certified row by row, so their labels must be the exact argmin's:
the near-tie, offset, tiny and huge inputs below defeat an uncertified float32 product.
"""

import numpy as np
import pytest
from hypothesis import given

from chunkml.kernels import assign_labels, lloyd_partial_sums
from chunkml.kernels._config import CHUNK_ROWS, GEMM_TRANSPOSED_MIN_CLUSTERS
from chunkml.kernels._dispatch import (
    GEMM_MIN_TILE_ROWS,
    GEMM_TILE_ROWS,
    GEMM_TILE_SCORES,
    gemm_rows,
)
from chunkml.kernels.sampling import nearest_new_rows
from tests import _reference as ref
from tests.kernels._util import (
    CASES,
    DTYPES,
    RTOL,
    assert_close,
    assert_moments_close,
    assert_nearest,
    assert_top,
    blocks_and_centers,
    forced,
    identity,
    make_data,
    make_weight,
    read_only,
)

# The matrix-product method held to every shape, also those the dispatch gives another.
LLOYD = {"serial": forced("lloyd_partial_sums", "gemm"),
         "parallel": forced("lloyd_partial_sums", "gemm", parallel=True)}
ASSIGN = {"serial": forced("assign_labels", "gemm"),
          "parallel": forced("assign_labels", "gemm", parallel=True)}
nearest_new_gemm = forced("update_mindist_sample", "gemm")

# name: (n_samples, n_features, n_clusters, offset of the data from the origin). "wide"
# spans three tiles, the last one ragged (not a multiple of 8 rows either); "many" has
# so many clusters that its tiles hold fewer rows (gemm_rows), the last one ragged.
WIDE = {
    "wide": (2 * GEMM_TILE_ROWS + 13, 40, 24, 0.0),
    "offset": (300, 32, 16, 1e4),
    "many": (301, 12, 2100, 0.0),
}
ALL_CASES = list(CASES) + list(WIDE)


def _data(case, dtype, seed=0):
    """(X, centers) of a kernel test case: `make_data`'s, or blobs around the centers."""
    if case in CASES:
        return make_data(case, dtype, seed)
    n_samples, n_features, n_clusters, offset = WIDE[case]
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_clusters, n_features)) + offset
    X = centers[rng.integers(0, n_clusters, n_samples)] + rng.normal(
        size=(n_samples, n_features))
    return np.ascontiguousarray(X, dtype=dtype), centers


class Out:
    """Output buffers of a Lloyd kernel: sums and weights start non-zero (they are added
    to), the rest from sentinels (they are overwritten)."""

    def __init__(self, n_features, n_clusters, m, with_moments=True):
        rng = np.random.default_rng(2)
        self.base_sums = rng.normal(size=(n_clusters, n_features))
        self.base_weight = rng.uniform(1.0, 2.0, size=n_clusters)
        self.sums = self.base_sums.copy()
        self.weight = self.base_weight.copy()
        self.moments = np.full((2 if with_moments else 0, n_features), np.nan)
        self.far_dist = np.full(m, 99.0)
        self.far_idx = np.full(m, 99, dtype=np.int64)
        self.far_label = np.full(m, 99, dtype=np.int64)

    def call(self, kernel, X, centers, sample_weight):
        return kernel(X, *identity(X.shape[1]), centers, sample_weight,
                      self.sums, self.weight,
                      self.moments, self.far_dist, self.far_idx, self.far_label)


def _lloyd(kernel, X, centers, sample_weight=None, m=4, with_moments=True):
    out = Out(X.shape[1], centers.shape[0], m, with_moments)
    w = np.empty(0) if sample_weight is None else sample_weight
    return out.call(kernel, X, centers, w), out


def _assign(kernel, X, centers, label_dtype=np.int32):
    labels = np.full(X.shape[0], -7, dtype=label_dtype)
    mindist = np.full(X.shape[0], -1.0)
    kernel(X, *identity(X.shape[1]), centers, labels, mindist)
    return labels, mindist


@pytest.mark.parametrize("n_clusters", [1, 12, 200, 1024, 1100, 2100, 4096, 10**6])
def test_tiles_hold_at_most_the_scores_budget(n_clusters):
    rows = gemm_rows(n_clusters)
    assert rows % 8 == 0 and GEMM_MIN_TILE_ROWS <= rows <= GEMM_TILE_ROWS
    assert rows * n_clusters <= GEMM_TILE_SCORES or rows == GEMM_MIN_TILE_ROWS
    # As many rows as fit (to a multiple of 8).
    assert rows == GEMM_TILE_ROWS or (rows + 8) * n_clusters > GEMM_TILE_SCORES


def test_the_many_case_spans_smaller_tiles_the_last_one_ragged():
    n_samples, _, n_clusters, _ = WIDE["many"]
    rows = gemm_rows(n_clusters)
    assert rows < GEMM_TILE_ROWS and rows < n_samples - rows and n_samples % rows


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("variant", LLOYD)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ALL_CASES)
def test_lloyd_gemm_matches_reference(case, dtype, variant, weighted):
    X, centers = _data(case, dtype)
    w = make_weight(X.shape[0]) if weighted else None
    m = 4
    inertia, out = _lloyd(LLOYD[variant], X, centers, w, m)
    expected = ref.lloyd_partial(X, centers, w, m)
    assert_close(out.sums - out.base_sums, expected.sums, dtype)
    assert_close(out.weight - out.base_weight, expected.weight, dtype)
    assert_close(inertia, expected.inertia, dtype)
    assert_moments_close(out.moments, expected.moments, dtype)
    # far_label is the label each far row was summed under.
    assert_top(out.far_dist, out.far_idx, expected.mindist, m, RTOL[dtype],
               eligible=np.ones(X.shape[0], dtype=bool), out_label=out.far_label,
               ref_labels=expected.labels)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["generic", "duplicates", "wide", "offset"])
def test_lloyd_gemm_equals_row_by_row_kernel(case, dtype, weighted):
    # Same labels and the same exact distances, summed in the same order.
    X, centers = _data(case, dtype)
    w = make_weight(X.shape[0]) if weighted else None
    m = 7
    inertia, out = _lloyd(LLOYD["serial"], X, centers, w, m)
    inertia_row, out_row = _lloyd(lloyd_partial_sums, X, centers, w, m)
    np.testing.assert_allclose(inertia, inertia_row, rtol=1e-12)
    np.testing.assert_allclose(out.sums, out_row.sums, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.weight, out_row.weight, rtol=1e-12)
    np.testing.assert_allclose(out.moments, out_row.moments, rtol=1e-12, atol=1e-12)
    far = sorted(zip(out.far_idx.tolist(), out.far_label.tolist()))
    assert far == sorted(zip(out_row.far_idx.tolist(), out_row.far_label.tolist()))


@pytest.mark.parametrize("variant", LLOYD)
@pytest.mark.parametrize("m", [0, 1, 40])
def test_lloyd_gemm_far_rows(variant, m):
    X, centers = _data("generic", np.float64)
    X = X[:12]
    inertia, out = _lloyd(LLOYD[variant], X, centers, m=m)
    expected = ref.lloyd_partial(X, centers, None, m)
    np.testing.assert_allclose(inertia, expected.inertia, rtol=1e-12)
    assert_top(out.far_dist, out.far_idx, expected.mindist, m, 1e-7,
               eligible=np.ones(X.shape[0], dtype=bool), out_label=out.far_label,
               ref_labels=expected.labels)


@pytest.mark.parametrize("variant", LLOYD)
@pytest.mark.parametrize("dtype", DTYPES)
def test_lloyd_gemm_moments_can_be_skipped(dtype, variant):
    X, centers = _data("wide", dtype)
    inertia, out = _lloyd(LLOYD[variant], X, centers, with_moments=False)
    inertia_m, out_m = _lloyd(LLOYD[variant], X, centers, with_moments=True)
    assert out.moments.shape == (0, X.shape[1])
    assert inertia == inertia_m
    np.testing.assert_array_equal(out.sums, out_m.sums)
    np.testing.assert_array_equal(out.far_idx, out_m.far_idx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lloyd_gemm_parallel_over_many_chunks(dtype):
    rng = np.random.default_rng(4)
    centers = rng.normal(scale=3.0, size=(16, 20))
    X = (centers[rng.integers(0, 16, 2 * CHUNK_ROWS + 37)]
         + rng.normal(size=(2 * CHUNK_ROWS + 37, 20))).astype(dtype)
    w = make_weight(X.shape[0])
    inertia, out = _lloyd(LLOYD["parallel"], X, centers, w, m=7)
    inertia_s, out_s = _lloyd(LLOYD["serial"], X, centers, w, m=7)
    for got, want in [(inertia, inertia_s), (out.sums, out_s.sums),
                      (out.weight, out_s.weight)]:
        assert_close(got, want, np.float64)
    assert_moments_close(out.moments, out_s.moments, np.float64)
    assert sorted(zip(out.far_idx, out.far_label)) == sorted(zip(out_s.far_idx,
                                                                 out_s.far_label))
    expected = ref.lloyd_partial(X, centers, w, 7)
    assert_close(out.sums - out.base_sums, expected.sums, dtype)
    assert_close(inertia, expected.inertia, dtype)


@pytest.mark.parametrize("variant", LLOYD)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_lloyd_gemm_non_finite_input(bad, dtype, variant):
    X, centers = _data("wide", dtype)
    X[17, 1] = bad
    inertia, out = _lloyd(LLOYD[variant], X, centers)
    assert not np.isfinite(inertia)
    assert not np.isfinite(out.moments[:, 1]).all()
    assert np.isfinite(out.moments[:, [0, 2]]).all()


@pytest.mark.parametrize("variant", LLOYD)
@pytest.mark.parametrize("dtype", DTYPES)
def test_lloyd_gemm_read_only_inputs_are_not_mutated(dtype, variant):
    X, centers = _data("wide", dtype)
    w = make_weight(X.shape[0])
    X_ro, centers_ro, w_ro = read_only(X, centers, w)
    out = Out(X.shape[1], centers.shape[0], 4)
    LLOYD[variant](X_ro, *identity(X.shape[1]), centers_ro, w_ro, out.sums,
                   out.weight, out.moments,
                   out.far_dist, out.far_idx, out.far_label)
    for got, want in [(X_ro, X), (centers_ro, centers), (w_ro, w)]:
        np.testing.assert_array_equal(got, want)
    assert_close(out.sums - out.base_sums, ref.lloyd_partial(X, centers, w).sums, dtype)


# int32 labels, as the glue passes them; int64 on float64 only (each is a signature of
# its own, compiled serial and parallel: the one test_distances.py compiles too).
@pytest.mark.parametrize("dtype, label_dtype", [(np.float32, np.int32),
                                                (np.float64, np.int32),
                                                (np.float64, np.int64)])
@pytest.mark.parametrize("variant", ASSIGN)
@pytest.mark.parametrize("case", ALL_CASES)
def test_assign_gemm_matches_reference_and_row_kernel(case, dtype, variant, label_dtype):
    X, centers = _data(case, dtype)
    labels, mindist = _assign(ASSIGN[variant], X, centers, label_dtype)
    assert_nearest(X, centers, labels, RTOL[dtype])
    exact = ref.squared_distances(X, centers)[np.arange(X.shape[0]), labels]
    np.testing.assert_allclose(mindist, exact, rtol=1e-12, atol=1e-12)
    row_labels, row_mindist = _assign(assign_labels, X, centers, label_dtype)
    if case not in ("duplicates", "all_equal"):  # exact ties may go either way
        np.testing.assert_array_equal(labels, row_labels)
        np.testing.assert_allclose(mindist, row_mindist, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", ASSIGN)
@pytest.mark.parametrize("dtype", DTYPES)
def test_assign_gemm_nan_row_gets_label_0_and_nan_distance(dtype, variant):
    X, centers = _data("wide", dtype)
    X[5, 3] = np.nan
    labels, mindist = _assign(ASSIGN[variant], X, centers)
    assert labels[5] == 0 and np.isnan(mindist[5])
    assert np.isfinite(np.delete(mindist, 5)).all()


def _near_ties(offset, n_features=32, n_clusters=16, gap=1e-8, seed=3):
    """float64 rows just off the midpoints of pairs of centers, `gap` closer to one of the
    two: float64 resolves the nearest center, a float32 product cannot."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_clusters, n_features)) + offset
    a = rng.integers(0, n_clusters, 600)
    b = (a + 1 + rng.integers(0, n_clusters - 1, 600)) % n_clusters
    direction = centers[b] - centers[a]
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    side = rng.choice([-1.0, 1.0], size=(600, 1))
    X = (centers[a] + centers[b]) / 2 + side * gap * direction
    return np.ascontiguousarray(X), centers


@pytest.mark.parametrize("n_clusters", [16, 64], ids=["product-transposed", "product"])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_near_ties_get_the_exact_argmin(offset, n_clusters):
    # Both ways the scores come out.
    assert (n_clusters >= GEMM_TRANSPOSED_MIN_CLUSTERS) == (n_clusters == 64)
    X, centers = _near_ties(offset, n_clusters=n_clusters)
    expected, expected_dist = ref.nearest_centers(X, centers)
    # The ties are real: many rows change sides in an uncertified float32 product.
    X32, centers32 = X.astype(np.float32), centers.astype(np.float32)
    scores32 = (centers32 * centers32).sum(axis=1) - 2 * X32 @ centers32.T
    assert (np.argmin(scores32, axis=1) != expected).mean() > 0.25
    for kernel in ASSIGN.values():
        labels, mindist = _assign(kernel, X, centers)
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_allclose(mindist, expected_dist, rtol=1e-12)
    inertia, out = _lloyd(LLOYD["serial"], X, centers, m=0)
    partial = ref.lloyd_partial(X, centers)
    np.testing.assert_allclose(out.weight - out.base_weight, partial.weight)
    np.testing.assert_allclose(out.sums - out.base_sums, partial.sums, rtol=1e-9)
    np.testing.assert_allclose(inertia, partial.inertia, rtol=1e-12)


@pytest.mark.parametrize("n_far", [0, 40], ids=["24-clusters", "64-clusters"])
@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_exact_ties_go_to_the_first_center(offset, n_far):
    # Rows e_a + e_b are at squared distance 2 from the centers 2 e_a and 2 e_b and farther
    # from the others: a float32 score cannot tell the two apart, nor can float64, so the
    # exact comparison must keep the first of them, as the row-by-row kernels do. n_far
    # centers far from every row come first (both ways the scores come out).
    n_features = 8
    eye = np.eye(n_features)
    far = 50.0 + np.arange(n_far * n_features, dtype=float).reshape(n_far, n_features)
    centers = np.concatenate([far, 2 * eye, -2 * eye, eye + eye[::-1]]) + offset
    assert (len(centers) >= GEMM_TRANSPOSED_MIN_CLUSTERS) == (n_far > 0)
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, n_features, (2, 400))
    X = np.ascontiguousarray(eye[a] + eye[b] + offset)
    expected, expected_dist = ref.nearest_centers(X, centers)
    d2 = ref.squared_distances(X, centers)
    assert ((d2 == expected_dist[:, None]).sum(axis=1) > 1).mean() > 0.5  # real ties
    for kernel in ASSIGN.values():
        labels, mindist = _assign(kernel, X, centers)
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_array_equal(mindist, expected_dist)
    row_labels, _ = _assign(assign_labels, X, centers)
    np.testing.assert_array_equal(row_labels, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e20, 1e25])
def test_tiny_and_huge_values_get_the_exact_argmin(scale, dtype):
    # Underflow or overflow in float32 products or squares: the certificate rejects them.
    if dtype == np.float32 and scale > 1e20:
        pytest.skip("not representable in float32")
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(16, 24)) * scale
    X = (centers[rng.integers(0, 16, 500)] + 0.1 * scale * rng.normal(size=(500, 24)))
    X = X.astype(dtype)
    expected, expected_dist = ref.nearest_centers(X, centers)
    labels, mindist = _assign(ASSIGN["serial"], X, centers)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(mindist, expected_dist, rtol=1e-12)


@given(blocks_and_centers(max_rows=40, max_features=12, max_clusters=20))
def test_assign_gemm_properties(data):
    X, centers = data
    labels, mindist = _assign(ASSIGN["serial"], X, centers)
    assert_nearest(X, centers, labels, RTOL[np.float64])
    d2 = ref.squared_distances(X, centers)
    np.testing.assert_allclose(mindist, d2[np.arange(X.shape[0]), labels], rtol=1e-12,
                               atol=1e-12)


# nearest_new_gemm


def _earlier_state(X, n_earlier=5, seed=6):
    """(mindist, nearest) of X to a few earlier candidates with ids 0..n_earlier-1."""
    earlier = np.random.default_rng(seed).normal(scale=3.0, size=(n_earlier, X.shape[1]))
    d2 = ref.squared_distances(X, earlier)
    return d2.min(axis=1), d2.argmin(axis=1).astype(np.int64)


@pytest.mark.parametrize("earlier", [False, True], ids=["first", "earlier"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["generic", "one_row", "empty", "wide", "offset"])
def test_nearest_new_gemm_matches_reference_and_row_kernel(case, dtype, earlier):
    X, candidates = _data(case, dtype)
    n = X.shape[0]
    if earlier:
        mindist, nearest = _earlier_state(X)
        first_id = 5
    else:
        mindist, nearest = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        first_id = 0
    got = (mindist.copy(), nearest.copy())
    nearest_new_gemm(X, *identity(X.shape[1]), candidates, first_id, *got)
    row = (mindist.copy(), nearest.copy())
    nearest_new_rows(X, *identity(X.shape[1]), candidates, first_id, *row)
    expected = ref.kmeans_parallel_round(X, candidates, mindist, None, 0, 0, 0, False, 0,
                                         nearest=nearest, first_id=first_id)
    np.testing.assert_allclose(got[0], expected.mindist, rtol=1e-12)
    np.testing.assert_array_equal(got[1], expected.nearest)
    np.testing.assert_allclose(got[0], row[0], rtol=1e-12)
    np.testing.assert_array_equal(got[1], row[1])


def test_nearest_new_gemm_keeps_rows_on_ties_nan_and_without_candidates():
    X, candidates = _data("wide", np.float64)
    X[3, 0] = np.nan
    mindist, nearest = _earlier_state(X)
    # Row 7 sits on its earlier candidate and on a new one: the earlier one stays.
    X[7] = candidates[2]
    mindist[7], nearest[7] = 0.0, 4
    state = (mindist.copy(), nearest.copy())
    nearest_new_gemm(X, *identity(X.shape[1]), candidates, 5, *state)
    assert state[1][7] == 4
    assert np.isnan(state[0][3]) and state[1][3] == nearest[3]
    unchanged = (mindist.copy(), nearest.copy())
    nearest_new_gemm(X, *identity(X.shape[1]), candidates[:0], 5, *unchanged)
    np.testing.assert_array_equal(unchanged[0], mindist)
    np.testing.assert_array_equal(unchanged[1], nearest)
