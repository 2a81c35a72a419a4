import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkml.kernels import (
    N_STATS,
    STAT_EXP,
    STAT_M2,
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    merge_moments,
    sample_rows,
    update_mindist_sample,
)
from tests import _reference as ref
from tests.kernels._util import (
    CASES,
    DTYPES,
    RTOL,
    assert_close,
    assert_moments_close,
    assert_top,
    blocks,
    finite_arrays,
    identity,
    make_data,
    make_weight,
    read_only,
)

SEED, STREAM, OFFSET = 20240611, 3, 1000


def _sample(X, w, m, seed=SEED, stream=STREAM, row_offset=OFFSET, with_moments=True):
    """(total, (mean, M2) from the block's statistics, top keys, top rows)."""
    # Sentinels show that every output slot is overwritten.
    stats = np.full((N_STATS if with_moments else 0, X.shape[1]), np.nan)
    top_key = np.full(m, 99.0)
    top_idx = np.full(m, 99, dtype=np.int64)
    total = sample_rows(X, w, seed, stream, row_offset, stats, top_key, top_idx)
    if with_moments:
        check_bounds(X, stats)
        moments = np.stack([stats[STAT_MEAN],
                            np.ldexp(stats[STAT_M2], 2 * stats[STAT_EXP].astype(int))])
    else:
        moments = stats[:0]
    return total, moments, top_key, top_idx


def check_bounds(X, stats):
    """The statistics' min and max are X's, exactly (+-inf for 0 rows)."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] and np.isfinite(X).all():
        np.testing.assert_array_equal(stats[STAT_MIN], X.min(axis=0))
        np.testing.assert_array_equal(stats[STAT_MAX], X.max(axis=0))
    elif X.shape[0] == 0:
        np.testing.assert_array_equal(stats[STAT_MIN], np.inf)
        np.testing.assert_array_equal(stats[STAT_MAX], -np.inf)


FIRST_ID = 5


def _earlier_nearest(mindist):
    """Ids of the earlier candidates nearest to each row (any ids below FIRST_ID)."""
    return np.arange(mindist.shape[0], dtype=np.int64) % FIRST_ID


def _round(X, new_centers, mindist, w, m, exponential, seed=SEED, stream=STREAM,
           row_offset=OFFSET, with_nearest=False):
    out_mindist = np.full(X.shape[0], np.nan)
    out_nearest = np.full(X.shape[0], 99, dtype=np.int64)
    top_key = np.full(m, 99.0)
    top_idx = np.full(m, 99, dtype=np.int64)
    nearest = _earlier_nearest(mindist)
    phi = update_mindist_sample(X, *identity(X.shape[1]), new_centers, FIRST_ID, mindist,
                                nearest, w, seed, stream, row_offset, exponential,
                                out_mindist, out_nearest, top_key, top_idx)
    if with_nearest:
        return phi, out_mindist, out_nearest, top_key, top_idx
    return phi, out_mindist, top_key, top_idx


def _earlier_mindist(X, seed=7):
    """Squared distances to some earlier candidates, as the previous round left them."""
    old = np.random.default_rng(seed).normal(scale=3.0, size=(2, X.shape[1]))
    return ref.squared_distances(X, old).min(axis=1) if X.shape[0] else np.zeros(0)


# sample_rows


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_sample_rows_matches_reference(case, dtype, weighted):
    X, _ = make_data(case, dtype)
    w = make_weight(X.shape[0]) if weighted else np.empty(0)
    m = 4
    total, moments, top_key, top_idx = _sample(X, w, m)
    expected = ref.weighted_sample(X, w, SEED, STREAM, OFFSET, m)
    assert_close(total, expected.weight_sum, np.float64)
    assert_moments_close(moments, expected.moments, dtype)
    assert_top(top_key, top_idx, expected.keys, m, RTOL[np.float64])


def test_zero_weight_rows_are_never_kept():
    X, _ = make_data("generic", np.float64)
    w = np.zeros(X.shape[0])
    w[[5, 77, 201]] = [0.5, 2.0, 1e-300]
    total, _, top_key, top_idx = _sample(X, w, m=10)
    assert sorted(top_idx[top_idx >= 0].tolist()) == [5, 77, 201]
    np.testing.assert_array_equal(top_idx[3:], -1)
    np.testing.assert_array_equal(top_key[3:], -1.0)
    assert total == 2.5 + 1e-300
    total, _, top_key, top_idx = _sample(X, np.zeros(X.shape[0]), m=3)
    assert total == 0.0
    np.testing.assert_array_equal(top_idx, -1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_rows_moments_can_be_skipped(dtype):
    X, _ = make_data("generic", dtype)
    w = make_weight(X.shape[0])
    total, moments, top_key, top_idx = _sample(X, w, 6, with_moments=False)
    assert moments.shape == (0, X.shape[1])
    total_m, _, top_key_m, top_idx_m = _sample(X, w, 6)
    assert total == total_m
    np.testing.assert_array_equal(top_key, top_key_m)
    np.testing.assert_array_equal(top_idx, top_idx_m)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_rows_read_only_inputs_are_not_mutated(dtype):
    X, _ = make_data("duplicates", dtype)
    w = make_weight(X.shape[0])
    X_ro, w_ro = read_only(X, w)
    total, moments, top_key, top_idx = _sample(X_ro, w_ro, 5)
    np.testing.assert_array_equal(X_ro, X)
    np.testing.assert_array_equal(w_ro, w)
    expected = ref.weighted_sample(X, w, SEED, STREAM, OFFSET, 5)
    assert_top(top_key, top_idx, expected.keys, 5, RTOL[np.float64])
    assert_moments_close(moments, expected.moments, dtype)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_independent_of_chunking(dtype, weighted):
    X, _ = make_data("generic", dtype)
    w = make_weight(X.shape[0]) if weighted else np.empty(0)
    m = 6
    total, moments, top_key, top_idx = _sample(X, w, m, row_offset=0)
    merged_total, n_seen = 0.0, 0
    merged_moments = np.zeros((2, X.shape[1]))
    keys, idx = [], []
    for a, b in blocks(X.shape[0]):
        part = _sample(X[a:b], w[a:b] if weighted else w, m, row_offset=a)
        merged_total += part[0]
        n_seen = merge_moments(n_seen, merged_moments, b - a, part[1])
        keys.append(part[2][part[3] >= 0])
        idx.append(part[3][part[3] >= 0] + a)
    keys, idx = np.concatenate(keys), np.concatenate(idx)
    top = ref.top_m(keys, m)
    # The same counter-based draws, whatever the blocks: identical keys, not just close.
    assert sorted(zip(idx[top].tolist(), keys[top].tolist())) == sorted(
        zip(top_idx.tolist(), top_key.tolist()))
    assert_close(merged_total, total, np.float64)
    assert_moments_close(merged_moments, moments, dtype)


def test_sample_depends_on_seed_stream_and_offset():
    X, _ = make_data("generic", np.float64)
    w = np.empty(0)
    base = _sample(X, w, 8)[2]
    for kwargs in [dict(seed=SEED + 1), dict(stream=STREAM + 1), dict(row_offset=OFFSET + 1)]:
        assert not np.array_equal(_sample(X, w, 8, **kwargs)[2], base)
    np.testing.assert_array_equal(_sample(X, w, 8)[2], base)


def test_sample_inclusion_proportional_to_weight():
    # With m=1 the kept row is a draw with probability w_i / sum(w).
    X = np.zeros((4, 1))
    w = np.array([1.0, 2.0, 3.0, 4.0])
    n_draws = 4000
    counts = np.zeros(4)
    for seed in range(n_draws):
        counts[_sample(X, w, 1, seed=seed, with_moments=False)[3][0]] += 1
    expected = n_draws * w / w.sum()
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_rows_non_finite_input_gives_non_finite_moments(dtype, bad):
    X, _ = make_data("generic", dtype)
    X[40, 0] = bad
    _, moments, _, _ = _sample(X, np.empty(0), 3)
    assert not np.isfinite(moments[:, 0]).all()
    assert np.isfinite(moments[:, 1:]).all()


def test_sample_rows_moments_of_large_float32_values_accumulate_in_float64():
    # Finite float32 input must give finite moments (a non-finite M2 reads as bad input).
    X = (np.random.default_rng(5).normal(size=(50, 2)) * 1e19).astype(np.float32)
    _, moments, _, _ = _sample(X, np.empty(0), 3)
    assert_moments_close(moments, ref.moments(X), np.float32)


# update_mindist_sample


@pytest.mark.parametrize("exponential", [False, True], ids=["uniform", "exponential"])
@pytest.mark.parametrize("earlier", [False, True], ids=["first", "later"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_update_mindist_sample_matches_reference(case, dtype, earlier, exponential):
    X, new_centers = make_data(case, dtype)
    w = make_weight(X.shape[0])
    mindist = _earlier_mindist(X) if earlier else np.empty(0)
    m = 4
    phi, out_mindist, out_nearest, top_key, top_idx = _round(
        X, new_centers, mindist, w, m, exponential, with_nearest=True)
    expected = ref.kmeans_parallel_round(X, new_centers, mindist, w, SEED, STREAM, OFFSET,
                                         exponential, m, nearest=_earlier_nearest(mindist),
                                         first_id=FIRST_ID)
    assert_close(out_mindist, expected.mindist, dtype)
    if dtype == np.float64:
        np.testing.assert_array_equal(out_nearest, expected.nearest)
    assert_close(phi, expected.phi, dtype)
    assert_top(top_key, top_idx, expected.keys, m, RTOL[dtype])
    if earlier:
        assert (out_mindist <= mindist).all()


@pytest.mark.parametrize("exponential", [False, True], ids=["uniform", "exponential"])
def test_update_mindist_without_new_centers_keeps_mindist(exponential):
    X, centers = make_data("generic", np.float64)
    mindist = _earlier_mindist(X)
    phi, out_mindist, top_key, top_idx = _round(X, centers[:0], mindist, np.empty(0), 5,
                                                exponential)
    np.testing.assert_array_equal(out_mindist, mindist)
    assert_close(phi, mindist.sum(), np.float64)
    expected = ref.kmeans_parallel_round(X, centers[:0], mindist, None, SEED, STREAM, OFFSET,
                                         exponential, 5)
    assert_top(top_key, top_idx, expected.keys, 5, RTOL[np.float64])


@pytest.mark.parametrize("m", [0, 1, 7, 300])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("exponential", [False, True], ids=["uniform", "exponential"])
def test_keys_over_many_tiles_match_reference(exponential, weighted, m):
    # key_rows screens a tile of rows against the heap's smallest key as the tile starts:
    # 1000 rows are 8 tiles; m=300 fills the heap two tiles in. Zero distances never enter.
    rng = np.random.default_rng(m)
    X = rng.normal(size=(1000, 2))
    mindist = rng.exponential(size=1000)
    mindist[::7] = 0.0
    w = make_weight(1000) if weighted else np.empty(0)
    phi, out_mindist, top_key, top_idx = _round(X, X[:0], mindist, w, m, exponential)
    expected = ref.kmeans_parallel_round(X, X[:0], mindist, w if weighted else None, SEED,
                                         STREAM, OFFSET, exponential, m)
    assert_close(phi, expected.phi, np.float64)
    assert_top(top_key, top_idx, expected.keys, m, RTOL[np.float64])
    assert not np.isin(top_idx, np.flatnonzero(mindist == 0.0)).any()


def test_update_mindist_rows_at_zero_distance_are_never_kept():
    X, _ = make_data("generic", np.float64)
    new_centers = X[[3, 9]].copy()
    X = np.concatenate([X[[3, 9, 3]], X[[9] * 5]])
    phi, out_mindist, top_key, top_idx = _round(X, new_centers, np.empty(0), np.empty(0), 4,
                                                False)
    assert phi == 0.0
    np.testing.assert_array_equal(out_mindist, 0.0)
    np.testing.assert_array_equal(top_idx, -1)
    np.testing.assert_array_equal(top_key, -1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_mindist_read_only_inputs_are_not_mutated(dtype):
    X, new_centers = make_data("duplicates", dtype)
    w = make_weight(X.shape[0])
    mindist = _earlier_mindist(X)
    X_ro, c_ro, d_ro, w_ro = read_only(X, new_centers, mindist, w)
    phi, out_mindist, top_key, top_idx = _round(X_ro, c_ro, d_ro, w_ro, 4, True)
    for got, want in [(X_ro, X), (c_ro, new_centers), (d_ro, mindist), (w_ro, w)]:
        np.testing.assert_array_equal(got, want)
    expected = ref.kmeans_parallel_round(X, new_centers, mindist, w, SEED, STREAM, OFFSET,
                                         True, 4)
    assert_close(out_mindist, expected.mindist, dtype)
    assert_top(top_key, top_idx, expected.keys, 4, RTOL[dtype])


@pytest.mark.parametrize("exponential", [False, True], ids=["uniform", "exponential"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_update_mindist_independent_of_chunking(dtype, exponential):
    X, new_centers = make_data("generic", dtype)
    w = make_weight(X.shape[0])
    mindist = _earlier_mindist(X)
    m = 6
    phi, out_mindist, top_key, top_idx = _round(X, new_centers, mindist, w, m, exponential,
                                                row_offset=0)
    merged_phi = 0.0
    merged_mindist, keys, idx = [], [], []
    for a, b in blocks(X.shape[0]):
        part = _round(X[a:b], new_centers, mindist[a:b], w[a:b], m, exponential, row_offset=a)
        merged_phi += part[0]
        merged_mindist.append(part[1])
        keys.append(part[2][part[3] >= 0])
        idx.append(part[3][part[3] >= 0] + a)
    np.testing.assert_array_equal(np.concatenate(merged_mindist), out_mindist)
    assert_close(merged_phi, phi, np.float64)
    keys, idx = np.concatenate(keys), np.concatenate(idx)
    top = ref.top_m(keys, m)
    assert sorted(zip(idx[top].tolist(), keys[top].tolist())) == sorted(
        zip(top_idx.tolist(), top_key.tolist()))


def test_kmeans_plus_plus_key_draws_proportional_to_cost():
    # Exponential keys with m=1: row i is drawn with probability p_i / phi.
    X = np.array([[1.0], [2.0], [3.0], [0.0]])
    centers = np.zeros((1, 1))
    p = np.array([1.0, 4.0, 9.0, 0.0])
    n_draws = 4000
    counts = np.zeros(4)
    for seed in range(n_draws):
        counts[_round(X, centers, np.empty(0), np.empty(0), 1, True, seed=seed)[3][0]] += 1
    expected = n_draws * p / p.sum()
    assert counts[3] == 0
    assert np.all(np.abs(counts[:3] - expected[:3]) < 5 * np.sqrt(expected[:3]))


def test_kmeans_parallel_key_exceeds_threshold_with_probability_l_p_over_phi():
    # Uniform keys: key_i = p_i / u_i > phi / l  iff  u_i < l p_i / phi.
    X = np.array([[1.0], [2.0], [3.0]])
    centers = np.zeros((1, 1))
    p = np.array([1.0, 4.0, 9.0])
    threshold = 10.0
    n_draws = 4000
    counts = np.zeros(3)
    for seed in range(n_draws):
        _, _, key, idx = _round(X, centers, np.empty(0), np.empty(0), 3, False, seed=seed)
        counts[idx[key > threshold]] += 1
    expected = n_draws * np.minimum(1.0, p / threshold)
    spread = 5 * np.sqrt(expected * (1 - expected / n_draws)) + 1
    assert np.all(np.abs(counts - expected) <= spread)


# properties


@st.composite
def _rows_and_split(draw):
    n_samples = draw(st.integers(0, 40))
    X = draw(finite_arrays(n_samples, draw(st.integers(1, 3))))
    w = draw(st.one_of(st.just(np.empty(0)),
                       finite_arrays(n_samples, 1).map(lambda a: np.abs(a.ravel()))))
    split = draw(st.integers(0, n_samples))
    return X, w, split, draw(st.integers(0, 8)), draw(st.integers(0, 2**40))


@given(_rows_and_split())
def test_sample_keys_independent_of_chunking_property(data):
    X, w, split, m, seed = data
    whole = _sample(X, w, m, seed=seed, row_offset=0)
    parts = [_sample(X[a:b], w[a:b] if w.size else w, m, seed=seed, row_offset=a)
             for a, b in [(0, split), (split, X.shape[0])]]
    assert_close(parts[0][0] + parts[1][0], whole[0], np.float64)
    keys = np.concatenate([p[2][p[3] >= 0] for p in parts])
    idx = np.concatenate([p[3][p[3] >= 0] + a for p, a in zip(parts, [0, split])])
    top = ref.top_m(keys, m)
    assert sorted(keys[top].tolist()) == sorted(whole[2][whole[3] >= 0].tolist())
    assert sorted(idx[top].tolist()) == sorted(whole[3][whole[3] >= 0].tolist())
    weights = w if w.size else np.ones(X.shape[0])
    assert_close(whole[0], weights.sum(), np.float64)
    assert (weights[whole[3][whole[3] >= 0]] > 0).all()


@given(_rows_and_split(), st.booleans())
def test_update_mindist_properties(data, exponential):
    X, w, split, m, seed = data
    centers = X[:split][:3].astype(np.float64)
    mindist = np.abs(X[:, 0]).astype(np.float64)
    phi, out_mindist, top_key, top_idx = _round(X, centers, mindist, w, m, exponential,
                                                seed=seed)
    weights = w if w.size else np.ones(X.shape[0])
    assert phi >= 0
    assert (out_mindist <= mindist).all()
    assert (out_mindist >= 0).all()
    np.testing.assert_allclose(phi, (weights * out_mindist).sum(), rtol=1e-12, atol=1e-300)
    kept = top_idx[top_idx >= 0]
    assert (weights[kept] * out_mindist[kept] > 0).all()
    assert kept.size == min(m, int((weights * out_mindist > 0).sum()))
    expected = ref.kmeans_parallel_round(X, centers, mindist, w, seed, STREAM, OFFSET,
                                         exponential, m)
    np.testing.assert_allclose(out_mindist, expected.mindist, rtol=1e-7,
                               atol=1e-7 * (1 + expected.mindist.max(initial=0)))
