"""kernels.bounded_lloyd_partial_sums (kernels/bounds.py): over whole Lloyd runs, every
pass equals the plain pass (`lloyd_partial_sums`) on the same centers bit for bit and
the plain-numpy reference, whatever the rows' state; the state it leaves is valid
(checked against brute-force distances); and the bounds do skip rows.

The drift handed to each pass is computed here from its documented meaning (how far
each center moved), independently of the glue's `lloyd.center_drift`.
"""

import numpy as np
import pytest

from chunkml import kernels
from tests import _reference as ref
from tests.kernels._util import assert_close

N_FAR = 7


def _blobs(n, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(max(k // 4, 1), d))
    X = means[rng.integers(0, means.shape[0], n)] + rng.normal(size=(n, d))
    return np.ascontiguousarray(X, dtype=dtype), X[rng.choice(n, k, replace=False)]


def _outputs(k, d, with_moments):
    return (np.zeros((k, d)), np.zeros(k), np.zeros((2 if with_moments else 0, d)),
            np.empty(N_FAR), np.empty(N_FAR, np.int64), np.empty(N_FAR, np.int64))


def _drift(old, new, n_movers):
    """(movers, their drifts, the rest's largest drift), by decreasing drift, with a
    relative slack above float64 rounding."""
    drift = np.sqrt(((new - old) ** 2).sum(axis=1)) * (1 + 1e-9)
    order = np.argsort(-drift, kind="stable")
    movers = order[:n_movers]
    rest = drift[order[n_movers]] if drift.shape[0] > n_movers else 0.0
    return movers.astype(np.int64), drift[movers].copy(), float(rest)


def _update(sums, weight, centers):
    new = centers.copy()
    filled = weight > 0
    new[filled] = sums[filled] / weight[filled, None]
    return new


def _check_state(X_frame, centers, candidates, lower):
    """Every row's lower bound is below its distance to every center not among its
    candidates (exactly, up to float64 rounding); candidates ascend."""
    dist = np.sqrt(ref.squared_distances(X_frame, centers))
    outside = np.ones(dist.shape, dtype=bool)
    np.put_along_axis(outside, candidates.astype(np.int64), False, axis=1)
    nearest_outside = np.where(outside, dist, np.inf).min(axis=1)
    assert np.all(lower <= nearest_outside * (1 + 1e-12))
    assert np.all(np.diff(candidates, axis=1) > 0)


def _run(X, centers, w, frame, n_iter, parallel, jump=None):
    """n_iter bounded passes, each checked against the plain pass; returns the rows
    compared with every center in each pass. `jump(it, centers)` moves centers
    between passes (as empty clusters' relocations do)."""
    n, d = X.shape
    k = centers.shape[0]
    shift, scale = frame
    m, n_movers = kernels.bounds_shape(k)
    candidates = np.zeros((n, m), np.int32)
    lower = np.full(n, -np.inf)
    drift = (np.empty(0, np.int64), np.empty(0), 0.0)
    X_frame = (X.astype(np.float64) - shift) * scale
    compared = []
    for it in range(n_iter):
        with_moments = it == 0
        plain = _outputs(k, d, with_moments)
        bounded = _outputs(k, d, with_moments)
        inertia = kernels.lloyd_partial_sums(X, shift, scale, centers, w, *plain,
                                             parallel=parallel)
        got, n_compared = kernels.bounded_lloyd_partial_sums(
            X, shift, scale, centers, w, *drift, candidates, lower, *bounded,
            parallel=parallel)
        assert got == inertia
        for a, b in zip(bounded, plain, strict=True):
            np.testing.assert_array_equal(a, b)
        compared.append(n_compared)
        _check_state(X_frame, centers, candidates, lower)
        new = _update(*plain[:2], centers)
        if jump is not None:
            new = jump(it, new)
        drift = _drift(centers, new, n_movers)
        centers = new
    want = ref.lloyd_partial(X_frame, centers, w, N_FAR)
    final = _outputs(k, d, False)
    kernels.bounded_lloyd_partial_sums(X, shift, scale, centers, w, *drift, candidates,
                                       lower, *final, parallel=parallel)
    assert_close(final[0], want.sums, X.dtype.type)
    assert_close(final[1], want.weight, X.dtype.type)
    return compared


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parallel", [False, True])
def test_bounded_passes_equal_plain_passes_and_skip_rows(dtype, parallel):
    X, centers = _blobs(9000, 12, 40, dtype)
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    compared = _run(X, centers, w, (np.full(12, 0.5), 0.25), 12, parallel)
    assert compared[0] == X.shape[0]
    # Once the centers settle, few rows need every center.
    assert compared[-1] < X.shape[0] // 10, compared


@pytest.mark.parametrize("n_movers", [0, None])
def test_a_center_that_jumps_is_caught(n_movers, monkeypatch):
    """Centers moved far between passes (onto a row, as a relocated empty cluster is),
    with and without movers measured: the labels stay exact."""
    if n_movers == 0:
        monkeypatch.setattr(kernels, "bounds_shape",
                            lambda k, _shape=kernels.bounds_shape: (_shape(k)[0], 0))
    X, centers = _blobs(3000, 6, 24, np.float64, seed=2)

    def jump(it, new):
        new = new.copy()
        new[it % new.shape[0]] = X[(37 * it) % X.shape[0]]
        return new

    _run(X, centers, np.empty(0), (np.zeros(6), 1.0), 8, False, jump)


def test_fewer_centers_than_candidates_and_empty_blocks():
    X, centers = _blobs(50, 5, 3, np.float64, seed=3)
    assert kernels.bounds_shape(3)[0] == 3
    _run(X, centers, np.empty(0), (np.zeros(5), 1.0), 4, False)
    _run(X[:0], centers, np.empty(0), (np.zeros(5), 1.0), 2, False)


def test_use_bounds_only_where_the_products_are_large():
    assert kernels.use_bounds(128, 1024) and kernels.use_bounds(5, 128)
    assert not kernels.use_bounds(128, 64)  # the candidates cost more than they save
    assert not kernels.use_bounds(4, 4096)  # tiles, not products
