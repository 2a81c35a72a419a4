import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkml.kernels import lloyd_partial_sums, merge_moments
from chunkml.kernels._config import CHUNK_ROWS
from tests import _reference as ref
from tests.kernels._util import (
    CASES,
    DTYPES,
    RTOL,
    assert_close,
    assert_moments_close,
    assert_nearest,
    assert_top,
    blocks,
    blocks_and_centers,
    finite_arrays,
    identity,
    label_tolerance,
    make_data,
    make_weight,
    public,
    read_only,
)

KERNELS = {"serial": lloyd_partial_sums, "parallel": public(lloyd_partial_sums, True)}


class Out:
    """Output buffers of one kernel call, pre-filled to expose the documented semantics:
    sums and weights start from a non-zero base (they are added to), every other output
    from a sentinel (it is overwritten)."""

    def __init__(self, n_features, n_clusters, m, with_moments=True, zero_base=False):
        rng = np.random.default_rng(2)
        scale = 0.0 if zero_base else 1.0
        self.base_sums = scale * rng.normal(size=(n_clusters, n_features))
        self.base_weight = scale * rng.uniform(1.0, 2.0, size=n_clusters)
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

    @property
    def added_sums(self):
        return self.sums - self.base_sums

    @property
    def added_weight(self):
        return self.weight - self.base_weight


def _run(kernel, X, centers, sample_weight=None, m=4, with_moments=True):
    out = Out(X.shape[1], centers.shape[0], m, with_moments)
    w = np.empty(0) if sample_weight is None else sample_weight
    inertia = out.call(kernel, X, centers, w)
    return inertia, out


def _check(X, centers, sample_weight, m, inertia, out, dtype):
    expected = ref.lloyd_partial(X, centers, sample_weight, m)
    assert_close(out.added_sums, expected.sums, dtype)
    assert_close(out.added_weight, expected.weight, dtype)
    assert_close(inertia, expected.inertia, dtype)
    if out.moments.shape[0]:
        assert_moments_close(out.moments, expected.moments, dtype)
    assert_top(out.far_dist, out.far_idx, expected.mindist, m, RTOL[dtype],
               eligible=np.ones(X.shape[0], dtype=bool), out_label=out.far_label,
               ref_labels=expected.labels)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("variant", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_lloyd_partial_sums_matches_reference(case, dtype, variant, weighted):
    X, centers = make_data(case, dtype)
    w = make_weight(X.shape[0]) if weighted else None
    inertia, out = _run(KERNELS[variant], X, centers, w)
    _check(X, centers, w, 4, inertia, out, dtype)


@pytest.mark.parametrize("variant", KERNELS)
@pytest.mark.parametrize("m", [0, 1, 12, 40])
def test_far_rows(variant, m):
    # 12 rows: m=12 keeps every row, m=40 pads 28 slots with -1.
    X, centers = make_data("generic", np.float64)
    X = X[:12]
    inertia, out = _run(KERNELS[variant], X, centers, m=m)
    _check(X, centers, None, m, inertia, out, np.float64)
    if m > X.shape[0]:
        np.testing.assert_array_equal(out.far_idx[X.shape[0]:], -1)
        np.testing.assert_array_equal(out.far_dist[X.shape[0]:], -1.0)
        np.testing.assert_array_equal(out.far_label[X.shape[0]:], -1)


@pytest.mark.parametrize("variant", KERNELS)
def test_far_rows_with_duplicate_distances(variant):
    # Two copies of the farthest row: the set is ambiguous but both copies tie for first.
    X, centers = make_data("generic", np.float64)
    far = np.argmax(ref.nearest_centers(X, centers)[1])
    X = np.concatenate([X, X[[far]]])
    inertia, out = _run(KERNELS[variant], X, centers, m=2)
    assert set(out.far_idx.tolist()) == {far, X.shape[0] - 1}


@pytest.mark.parametrize("variant", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_moments_can_be_skipped(dtype, variant):
    X, centers = make_data("generic", dtype)
    w = make_weight(X.shape[0])
    inertia, out = _run(KERNELS[variant], X, centers, w, with_moments=False)
    inertia_m, out_m = _run(KERNELS[variant], X, centers, w, with_moments=True)
    assert out.moments.shape == (0, X.shape[1])
    _check(X, centers, w, 4, inertia, out, dtype)
    assert inertia == inertia_m
    np.testing.assert_array_equal(out.sums, out_m.sums)
    np.testing.assert_array_equal(out.far_idx, out_m.far_idx)


@pytest.mark.parametrize("variant", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_read_only_inputs_are_not_mutated(dtype, variant):
    X, centers = make_data("duplicates", dtype)
    w = make_weight(X.shape[0])
    X_ro, centers_ro, w_ro = read_only(X, centers, w)
    out = Out(X.shape[1], centers.shape[0], 4)
    inertia = KERNELS[variant](X_ro, *identity(X.shape[1]), centers_ro, w_ro,
                               out.sums, out.weight,
                               out.moments, out.far_dist, out.far_idx, out.far_label)
    for got, want in [(X_ro, X), (centers_ro, centers), (w_ro, w)]:
        np.testing.assert_array_equal(got, want)
    _check(X, centers, w, 4, inertia, out, dtype)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["generic", "duplicates", "one_row", "empty"])
def test_blocks_merge_to_whole(case, dtype, weighted):
    """Sums accumulate across blocks into the same buffers, inertias add, moments merge
    (Chan) and the blocks' far rows merge into the whole's."""
    X, centers = make_data(case, dtype)
    w = make_weight(X.shape[0]) if weighted else np.empty(0)
    m = 5
    inertia, whole = _run(lloyd_partial_sums, X, centers, w, m=m)
    acc = Out(X.shape[1], centers.shape[0], m)
    total, n_seen = 0.0, 0
    merged_moments = np.zeros((2, X.shape[1]))
    far_dist, far_idx = [], []
    for a, b in blocks(X.shape[0]):
        total += acc.call(lloyd_partial_sums, X[a:b], centers, w[a:b] if weighted else w)
        n_seen = merge_moments(n_seen, merged_moments, b - a, acc.moments.copy())
        used = acc.far_idx >= 0
        far_dist.append(acc.far_dist[used])
        far_idx.append(acc.far_idx[used] + a)
    assert n_seen == X.shape[0]
    assert_close(acc.sums, whole.sums, dtype)
    assert_close(acc.weight, whole.weight, dtype)
    assert_close(total, inertia, dtype)
    assert_moments_close(merged_moments, whole.moments, dtype)
    far_dist, far_idx = np.concatenate(far_dist), np.concatenate(far_idx)
    top = ref.top_m(far_dist, m)
    whole_used = whole.far_idx >= 0
    np.testing.assert_allclose(np.sort(far_dist[top]), np.sort(whole.far_dist[whole_used]),
                               rtol=1e-12)
    if case != "duplicates":
        assert set(far_idx[top].tolist()) == set(whole.far_idx[whole_used].tolist())


@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_over_many_chunks(dtype):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(2 * CHUNK_ROWS + 37, 3)).astype(dtype)
    centers = rng.normal(size=(4, 3))
    w = make_weight(X.shape[0])
    inertia, out = _run(KERNELS["parallel"], X, centers, w, m=7)
    _check(X, centers, w, 7, inertia, out, dtype)
    inertia_s, out_s = _run(lloyd_partial_sums, X, centers, w, m=7)
    for got, want in [(inertia, inertia_s), (out.sums, out_s.sums),
                      (out.weight, out_s.weight)]:
        assert_close(got, want, np.float64)
    assert_moments_close(out.moments, out_s.moments, np.float64)
    assert set(out.far_idx.tolist()) == set(out_s.far_idx.tolist())


@pytest.mark.parametrize("variant", KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_gives_non_finite_inertia_and_moments(bad, dtype, variant):
    # Callers detect NaN/inf input from the first pass's inertia and moments.
    X, centers = make_data("generic", dtype)
    X[17, 1] = bad
    inertia, out = _run(KERNELS[variant], X, centers)
    assert not np.isfinite(inertia)
    assert not np.isfinite(out.moments[:, 1]).all()
    assert np.isfinite(out.moments[:, [0, 2]]).all()


@pytest.mark.parametrize("variant", KERNELS)
def test_moments_of_large_float32_values_accumulate_in_float64(variant):
    # Finite float32 input must give finite moments: the house style accumulates in
    # float64, and a non-finite M2 would be read as non-finite input.
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(50, 2)) * 1e19).astype(np.float32)
    centers = np.zeros((2, 2))
    inertia, out = _run(KERNELS[variant], X, centers)
    assert np.isfinite(inertia)
    assert_moments_close(out.moments, ref.moments(X), np.float32)


# merge_moments


def _moments(X):
    return np.ascontiguousarray(ref.moments(X))


@pytest.mark.parametrize("n_a, n_b", [(0, 0), (0, 5), (5, 0), (1, 1), (7, 30), (300, 2)])
def test_merge_moments_matches_variance_of_concatenation(n_a, n_b):
    rng = np.random.default_rng(n_a * 1000 + n_b)
    A = rng.normal(loc=3.0, size=(n_a, 3))
    B = rng.normal(loc=-1.0, scale=2.0, size=(n_b, 3))
    moments_a = _moments(A)
    moments_b = _moments(B)
    moments_b_copy = moments_b.copy()
    assert merge_moments(n_a, moments_a, n_b, moments_b) == n_a + n_b
    np.testing.assert_array_equal(moments_b, moments_b_copy)
    both = np.concatenate([A, B])
    if both.shape[0]:
        np.testing.assert_allclose(moments_a[0], both.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(moments_a[1], both.var(axis=0) * both.shape[0],
                                   rtol=1e-12)
    else:
        np.testing.assert_array_equal(moments_a, 0.0)


def test_merge_moments_read_only_b():
    A, B = np.arange(6.0).reshape(3, 2), np.arange(4.0).reshape(2, 2) ** 2
    moments_a = _moments(A)
    (moments_b,) = read_only(_moments(B))
    merge_moments(3, moments_a, 2, moments_b)
    np.testing.assert_allclose(moments_a, ref.moments(np.concatenate([A, B])), rtol=1e-12)


# properties


@st.composite
def _weighted_block(draw):
    X, centers = draw(blocks_and_centers())
    weighted = draw(st.booleans())
    w = (draw(finite_arrays(X.shape[0], 1)).ravel() ** 2 / 100.0 if weighted
         else np.empty(0))
    return X, centers, w, draw(st.integers(0, 6))


@given(_weighted_block())
def test_lloyd_properties(data):
    X, centers, w, m = data
    inertia, out = _run(lloyd_partial_sums, X, centers, w, m=m)
    weights = w if w.size else np.ones(X.shape[0])
    assert inertia >= 0
    np.testing.assert_allclose(out.added_weight.sum(), weights.sum(), rtol=1e-9, atol=1e-9)
    assert (out.added_weight >= -1e-12).all()

    expected = ref.lloyd_partial(X, centers, w, m)
    # The kernel may pick any center within `tol` of the nearest on near-ties.
    tol = label_tolerance(X, centers, RTOL[np.float64])
    np.testing.assert_allclose(inertia, expected.inertia, rtol=1e-7,
                               atol=(weights * tol).sum())
    assert_moments_close(out.moments, expected.moments, X.dtype.type)
    used = out.far_idx >= 0
    assert used.sum() == min(m, X.shape[0])
    assert_nearest(X[out.far_idx[used]], centers, out.far_label[used], RTOL[np.float64])
    np.testing.assert_allclose(np.sort(out.far_dist[used])[::-1],
                               expected.mindist[expected.far_idx],
                               rtol=1e-7, atol=tol.max(initial=0.0))


@given(_weighted_block())
def test_parallel_equals_serial(data):
    X, centers, w, m = data
    serial = Out(X.shape[1], centers.shape[0], m, zero_base=True)
    parallel = Out(X.shape[1], centers.shape[0], m, zero_base=True)
    assert (serial.call(lloyd_partial_sums, X, centers, w)
            == parallel.call(KERNELS["parallel"], X, centers, w))
    for name in ["sums", "weight", "moments"]:
        np.testing.assert_array_equal(getattr(parallel, name), getattr(serial, name))
    # The heap layout may differ, the kept rows may not.
    for out in (serial, parallel):
        out.far = sorted(zip(out.far_idx.tolist(), out.far_dist.tolist(),
                             out.far_label.tolist()))
    assert parallel.far == serial.far


@pytest.mark.parametrize("variant", KERNELS)
@pytest.mark.parametrize("n_features", [2, 3, 6])
def test_far_label_is_the_label_the_row_was_summed_under(n_features, variant):
    # Rows on the bisector of two centers, a rounding error off it: the far row's label
    # must be the cluster whose sums hold the row (an empty cluster relocated to it
    # subtracts the row from that cluster), not a label recomputed another way.
    rng = np.random.default_rng(11)
    for _ in range(200):
        centers = rng.normal(size=(2, n_features)) * 3
        normal = centers[1] - centers[0]
        v = rng.normal(size=n_features) * 50
        v -= normal * (v @ normal) / (normal @ normal)
        X = ((centers[0] + centers[1]) / 2 + v + rng.normal(size=n_features) * 1e-14)
        inertia, out = _run(KERNELS[variant], X[None, :], centers, m=1)
        assert out.far_idx[0] == 0
        assert out.far_label[0] == np.argmax(out.added_weight)
