import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkml.kernels import counter_uniform, splitmix64
from tests import _reference as ref

UINT64_MAX = 2**64 - 1
# Callers draw seeds below 2**63 (an int64); a uint64 seed after an int64 one would be
# dispatched to the int64 compilation and overflow.
SEED_MAX = 2**63 - 1


def _uniforms(seed, stream, indices):
    return np.array([counter_uniform(seed, stream, int(i)) for i in indices])


def test_splitmix64_known_answers():
    # The first outputs of Vigna's splitmix64.c from state 0: the state advances by the
    # golden gamma before each finalisation, which `splitmix64(x)` does to its argument.
    golden = 0x9E3779B97F4A7C15
    expected = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    for step, want in enumerate(expected):
        state = np.uint64(step * golden % 2**64)
        assert int(splitmix64(state)) == want
        assert int(ref.splitmix64(state)) == want


@pytest.mark.parametrize("x", [0, 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, UINT64_MAX])
def test_splitmix64_matches_reference(x):
    assert int(splitmix64(np.uint64(x))) == int(ref.splitmix64(np.uint64(x)))


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 + 7, SEED_MAX])
@pytest.mark.parametrize("stream", [0, 1, 41])
def test_counter_uniform_matches_reference(seed, stream):
    indices = np.r_[np.arange(50), [2**31, 2**40 + 3, 2**62]]
    got = _uniforms(seed, stream, indices)
    # Both sides scale an integer below 2**53 by a power of two: exact equality.
    np.testing.assert_array_equal(got, ref.counter_uniform(seed, stream, indices))


def test_counter_uniform_is_roughly_uniform_on_0_1():
    n_draws, n_bins = 20000, 20
    u = _uniforms(20240611, 2, np.arange(n_draws))
    assert u.dtype == np.float64
    assert (u > 0).all() and (u <= 1).all()
    assert np.unique(u).size == n_draws
    counts = np.histogram(u, bins=n_bins, range=(0.0, 1.0))[0]
    expected = n_draws / n_bins
    chi2 = ((counts - expected) ** 2 / expected).sum()
    # 19 degrees of freedom: P(chi2 > 60) < 1e-5.
    assert chi2 < 60
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n_draws)
    # Neighbouring rows and neighbouring streams are uncorrelated.
    other_stream = _uniforms(20240611, 3, np.arange(n_draws))
    limit = 5 / np.sqrt(n_draws)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < limit
    assert abs(np.corrcoef(u, other_stream)[0, 1]) < limit


def test_counter_uniform_depends_on_every_coordinate():
    base = counter_uniform(5, 6, 7)
    assert counter_uniform(5, 6, 7) == base
    for args in [(6, 6, 7), (5, 7, 7), (5, 6, 8), (6, 5, 7), (5, 7, 6)]:
        assert counter_uniform(*args) != base


@given(st.integers(0, SEED_MAX), st.integers(0, 2**32), st.integers(0, 2**62))
def test_counter_uniform_property(seed, stream, index):
    u = counter_uniform(seed, stream, index)
    assert 0.0 < u <= 1.0
    assert u == ref.counter_uniform(seed, stream, index)[0]
