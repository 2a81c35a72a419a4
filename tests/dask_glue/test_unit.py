"""_unit.py: the unit-row view and UnitNumpyRows against NumpyRows on normalised X."""

import dask.array as da
import numpy as np
import pytest

from chunkml.dask_glue import _unit
from chunkml.dask_glue._frame import Frame
from chunkml.dask_glue._rows import NumpyRows
from chunkml.dask_glue.passes import Passes
from chunkml.dask_glue._unit import UnitNumpyRows, ZeroRowError, unit_rows, unit_view


def _X(n=900, d=4, dtype=np.float64, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.normal(size=(n, d)) * rng.uniform(0.5, 9.0, size=(n, 1))).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unit_rows(dtype):
    X = _X(dtype=dtype)
    out = unit_rows(X)
    assert out.dtype == dtype and out is not X
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(out, X64 / np.linalg.norm(X64, axis=1)[:, None],
                               rtol=1e-15 if dtype == np.float64 else 1e-7)
    assert unit_rows(X[:0]).shape == (0, 4)


def test_unit_rows_extremes_and_nan():
    X = np.array([[3e300, 4e300], [3e-310, 4e-310], [np.nan, 1.0], [np.inf, 1.0]])
    out = unit_rows(X)
    np.testing.assert_allclose(out[:2], [[0.6, 0.8], [0.6, 0.8]], rtol=1e-9)
    assert np.isnan(out[2:]).all(axis=1).all()  # left for the first pass's NaN check


def test_zero_row_names_the_global_row():
    X = _X()
    X[5] = 0.0
    with pytest.raises(ZeroRowError, match=r"row 105\b"):
        unit_rows(X, first_row=100)
    X_dask = da.from_array(np.concatenate([_X(n=300), X]), chunks=(200, 4))
    with pytest.raises(ZeroRowError, match=r"row 305\b"):
        unit_view(X_dask).compute()


def _rows(X, w, monkeypatch):
    # Slabs of 64 rows: several slabs, an uneven last one.
    monkeypatch.setattr(_unit, "SLAB_BYTES", 64 * X.shape[1] * X.dtype.itemsize)
    monkeypatch.setattr(_unit, "MIN_SLAB_ROWS", 1)
    rows = UnitNumpyRows(X, w)
    assert len(rows._slabs) == -(-X.shape[0] // 64)
    return rows, NumpyRows(unit_rows(X), w)


@pytest.mark.parametrize("weighted", [False, True])
def test_passes_equal_numpy_rows_on_unit_x(weighted, monkeypatch):
    X = _X()
    w = np.random.RandomState(1).uniform(0.5, 2.0, size=len(X)) if weighted else None
    rows, ref = _rows(X, w, monkeypatch)
    assert isinstance(rows, Passes)
    a, b = rows.sample(7, 0, 10), ref.sample(7, 0, 10)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_allclose(a.stats.moments, b.stats.moments, rtol=1e-12)
    frame = a.stats.frame()
    rows.frame = ref.frame = frame
    centers = frame.apply(unit_rows(X[:3]))
    pa, pb = (r.lloyd(centers, n_far=3, with_moments=True) for r in (rows, ref))
    np.testing.assert_allclose(pa.sums, pb.sums, rtol=1e-12)
    np.testing.assert_allclose(pa.weight, pb.weight, rtol=1e-12)
    np.testing.assert_allclose(pa.inertia, pb.inertia, rtol=1e-12)
    np.testing.assert_array_equal(pa.far_row, pb.far_row)
    sa, ra = rows.mindist_round(None, centers[:1], 0, 7, 1, 20, False)
    sb, rb = ref.mindist_round(None, centers[:1], 0, 7, 1, 20, False)
    np.testing.assert_allclose(sa[0], sb[0], rtol=1e-12)
    np.testing.assert_array_equal(ra.index, rb.index)
    np.testing.assert_allclose(rows.candidate_weights(sa, centers[1:], 1, 3),
                               ref.candidate_weights(sb, centers[1:], 1, 3), rtol=1e-12)
    la, ia, na = rows.final(centers)
    lb, ib, nb = ref.final(centers)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_allclose(ia, ib, rtol=1e-12)
    assert na == nb
    rng_a, rng_b = np.random.RandomState(3), np.random.RandomState(3)
    np.testing.assert_allclose(rows.kmeanspp(a, 5, seed=0, rng=rng_a),
                               ref.kmeanspp(b, 5, seed=0, rng=rng_b), rtol=1e-12)


def test_unit_centers_keep_unit_length_in_x_units():
    frame = Frame(np.array([0.25, -0.5, 0.0, 1.0]), 3)
    old = frame.apply(unit_rows(_X(n=3)))
    new = frame.apply(_X(n=3, seed=4))
    new[1] = frame.apply(np.zeros((1, 4)))[0]  # a cluster whose rows sum to zero
    out = _unit.unit_centers_in(frame)(new, old)
    np.testing.assert_allclose(np.linalg.norm(frame.restore(out)[[0, 2]], axis=1), 1.0)
    np.testing.assert_array_equal(out[1], old[1])
