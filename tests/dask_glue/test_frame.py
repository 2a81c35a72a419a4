"""The frame of a fit (dask_glue/_frame.py): chosen from the first pass's statistics the
same way whatever the chunking, and measuring tol without overflow."""

import numpy as np
import pytest

from chunkml.dask_glue._frame import Frame, Stats, merge_stat_rows
from chunkml.kernels import N_STATS, block_stats
from tests import _reference as ref
from tests.kernels._util import blocks


def _stats(X):
    out = np.empty((N_STATS, X.shape[1]))
    block_stats(X, out)
    return out


def _merged(X, bounds):
    counts = np.array([b - a for a, b in bounds])
    parts = np.stack([_stats(X[a:b]) for a, b in bounds])
    return merge_stat_rows(counts, parts)


@pytest.mark.parametrize("magnitude", [1.0, 1e150, 1e-200])
def test_merged_statistics_choose_the_same_frame_and_tol_whatever_the_chunking(magnitude):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(3000, 3)) * [1.0, 5.0, 0.5] + 30.0) * magnitude
    n_whole, whole = _merged(X, [(0, X.shape[0])])
    frame = Stats(n_whole, whole).frame()
    expected_var = ref.moments((X - frame.shift) * frame.scale)[1].mean() / X.shape[0]
    for bounds in [blocks(X.shape[0]), [(0, 1000), (1000, 2000), (2000, 3000)]]:
        n, merged = _merged(X, bounds)
        assert n == X.shape[0]
        stats = Stats(n, merged)
        # min and max merge exactly: the frame is the same, bit for bit.
        assert stats.frame().exponent == frame.exponent
        np.testing.assert_array_equal(stats.frame().shift, frame.shift)
        np.testing.assert_allclose(stats.mean_variance(frame), expected_var, rtol=1e-9)
        assert np.isfinite(stats.moments).all()


def test_frame_from_bounds_is_centred_and_a_power_of_two():
    frame = Frame.from_bounds(np.array([1e154, -3.0]), np.array([3e154, 5.0]))
    np.testing.assert_array_equal(frame.shift, [2e154, 1.0])
    assert np.frexp(frame.scale)[0] == 0.5
    half = 1e154 * frame.scale
    assert 0.5 <= half < 1.0
    x = np.array([[1.5e154, 4.0]])
    np.testing.assert_allclose(frame.restore(frame.apply(x)), x, rtol=1e-15)
    # One point (or equal ones): its magnitude sets the scale.
    single = Frame.from_points(np.array([[3e-160, 0.0]]))
    assert 0.5 <= 3e-160 * single.scale < 1.0
    assert Frame.from_points(np.zeros((2, 2))).scale == 1.0


def _lloyd_moments(frame, X):
    """(mean, M2) rows of X in `frame`, as a Lloyd pass measures them (numpy reference)."""
    x = frame.apply(X)
    return np.stack([x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).sum(axis=0)])


@pytest.mark.parametrize("centers, suits", [
    (lambda X: X[:3], True),                       # an init near X
    (lambda X: X[:1], True),                       # one center: its magnitude scales
    (lambda X: X[:3] + 1e12, False),               # far: x' would lose X's detail
    (lambda X: np.eye(3) * 1e200, False),          # far and wide
    (lambda X: X[:3] * 1e-30, False),              # much narrower than X
])
def test_frame_suits_X_only_when_it_keeps_its_detail(centers, suits):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 3)) * 4.0 + 10.0
    frame = Frame.from_points(centers(X))
    assert frame.suits(X.shape[0], _lloyd_moments(frame, X)) is suits
    # The frame chosen from X's own bounds always suits it; nothing non-finite does.
    own = Stats(*_merged(X, [(0, 500)])).frame()
    assert own.suits(X.shape[0], _lloyd_moments(own, X))
    assert not own.suits(X.shape[0], np.full((2, 3), np.nan))
