"""The mini-batch step rules (dask_glue/minibatch_step.py) against scikit-learn's
MiniBatchKMeans step (``sklearn.cluster._kmeans._mini_batch_step``) on the same batch,
centers and weight sums.

A block of at most batch_size rows is one step, on its rows in order, as scikit-learn's
step on that batch: the same new centers, weight sums and batch inertia. The
reassignment rule moves the same centers and resets their weight sums the same way;
which rows they move to comes from each library's own random draws (chunkml's from
(seed, step), among the rows of positive weight), so only that they are distinct rows
of the batch is compared.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import MiniBatchKMeans as SKMiniBatchKMeans
from sklearn.cluster._kmeans import _mini_batch_step

from chunkml.dask_glue._frame import Frame
from chunkml.dask_glue.minibatch_step import MiniBatchState, StepParams, minibatch_block

RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def _batch(dtype=np.float64, n_rows=64, seed=0):
    rng = np.random.RandomState(seed)
    X = (rng.normal(size=(n_rows, 3)) * [1.0, 3.0, 0.5] + [2.0, -1.0, 10.0]).astype(dtype)
    centers = X[[0, 1, 2, 3]].astype(np.float64) + rng.normal(scale=0.1, size=(4, 3))
    weight_sums = np.array([12.0, 0.0, 3.5, 40.0])
    return X, centers, weight_sums


def _state(centers, weight_sums, frame, **kwargs):
    return MiniBatchState(scaled_centers=frame.apply(centers),
                          weight_sums=weight_sums.copy(), seed=7, frame=frame, **kwargs)


def _sklearn_step(X, w, centers, weight_sums, reassign=False, ratio=0.0):
    """scikit-learn's step in X's dtype: (new centers, weight sums, batch inertia)."""
    dtype = X.dtype
    centers = centers.astype(dtype)
    centers_new = np.empty_like(centers)
    sums = weight_sums.astype(dtype)
    inertia = _mini_batch_step(X, w.astype(dtype), centers, centers_new, sums,
                               np.random.RandomState(0), random_reassign=reassign,
                               reassignment_ratio=ratio)
    return centers_new, sums, inertia


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("framed", [False, True], ids=["identity", "frame"])
def test_one_step_is_scikit_learns(dtype, weighted, kind, framed):
    X, centers, weight_sums = _batch(dtype)
    n_rows = X.shape[0]
    w = (np.random.RandomState(1).uniform(0.0, 2.0, n_rows) if weighted
         else np.ones(n_rows))
    frame = (Frame.from_bounds(X.min(axis=0), X.max(axis=0)) if framed
             else Frame.identity(X.shape[1]))
    if kind == "sparse":
        X = sp.csr_matrix(np.where(np.abs(X) < 1.0, 0.0, X).astype(dtype))
        frame = frame.unshifted()
    state = _state(centers, weight_sums, frame)
    before = state.copy()
    params = StepParams(batch_size=n_rows, reassignment_ratio=0.0, monitor=True,
                        n_samples=n_rows)
    out = minibatch_block(X, w if weighted else None, state, params)
    ref_centers, ref_sums, ref_inertia = _sklearn_step(X, w, centers, weight_sums)

    assert out.n_steps == 1
    rtol = RTOL[dtype]
    np.testing.assert_allclose(out.centers, ref_centers, rtol=rtol)
    np.testing.assert_allclose(out.weight_sums, ref_sums, rtol=rtol)
    # The monitor keeps the batch inertia normalised by the batch's weight.
    batch_inertia = frame.restore_squared(out.last_inertia) * w.sum()
    np.testing.assert_allclose(batch_inertia, ref_inertia, rtol=10 * rtol)
    # A pure function of (state, block): the state it was given is unchanged.
    np.testing.assert_array_equal(state.scaled_centers, before.scaled_centers)
    np.testing.assert_array_equal(state.weight_sums, before.weight_sums)
    assert state.n_steps == 0


def _reassigned(X, centers, weight_sums, ratio):
    """chunkml's and scikit-learn's step with a reassignment check, from weight sums
    that leave some centers below ratio * the largest."""
    n_clusters = centers.shape[0]
    frame = Frame.identity(X.shape[1])
    # Enough rows since the last check: this step checks (as scikit-learn's
    # random_reassign=True).
    state = _state(centers, weight_sums, frame, n_since_reassign=10 * n_clusters)
    out = minibatch_block(X, None, state, StepParams(batch_size=X.shape[0],
                                                     reassignment_ratio=ratio))
    w = np.ones(X.shape[0])
    kept_centers, kept_sums, _ = _sklearn_step(X, w, centers, weight_sums)
    ref_centers, ref_sums, _ = _sklearn_step(X, w, centers, weight_sums, reassign=True,
                                             ratio=ratio)
    return out, (kept_centers, kept_sums), (ref_centers, ref_sums)


def _assert_same_reassignment(X, out, kept, ref):
    kept_centers, kept_sums = kept
    ref_centers, ref_sums = ref
    moved = np.flatnonzero(ref_sums != kept_sums)
    assert moved.size
    np.testing.assert_array_equal(np.flatnonzero(out.weight_sums != kept_sums), moved)
    np.testing.assert_allclose(out.weight_sums, ref_sums, rtol=1e-15)
    stay = np.setdiff1d(np.arange(out.weight_sums.size), moved)
    np.testing.assert_allclose(out.centers[stay], ref_centers[stay], rtol=1e-12)
    # Each moved center sits on its own row of the batch.
    d2 = ((out.centers[moved, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    rows = d2.argmin(axis=1)
    np.testing.assert_allclose(d2.min(axis=1), 0.0, atol=1e-24)
    assert len(set(rows)) == moved.size


def test_reassignment_moves_the_centers_scikit_learn_moves():
    X, centers, _ = _batch(n_rows=40)
    # Two centers far from every row keep their tiny weight sums: below 1% of the
    # largest, they are moved; the weights they get are the smallest kept one.
    centers = np.vstack([centers[:3], [[1e3, 1e3, 1e3], [-1e3, 0.0, 0.0]]])
    weight_sums = np.array([30.0, 45.0, 20.0, 0.25, 0.5])
    out, kept, ref = _reassigned(X, centers, weight_sums, ratio=0.01)
    _assert_same_reassignment(X, out, kept, ref)
    np.testing.assert_array_equal(np.flatnonzero(out.weight_sums != kept[1]), [3, 4])


def test_reassignment_moves_at_most_half_the_batch():
    # Five centers to move but a batch of 6 rows: only the 3 of least weight move.
    X, centers, _ = _batch(n_rows=6, seed=2)
    far = np.array([[1e3, 0.0, 0.0], [0.0, 1e3, 0.0], [0.0, 0.0, 1e3],
                    [-1e3, 0.0, 0.0], [0.0, -1e3, 0.0]])
    centers = np.vstack([centers[:2], far])
    weight_sums = np.array([50.0, 60.0, 0.4, 0.1, 0.3, 0.2, 0.5])
    out, kept, ref = _reassigned(X, centers, weight_sums, ratio=0.01)
    _assert_same_reassignment(X, out, kept, ref)
    np.testing.assert_array_equal(np.flatnonzero(out.weight_sums != kept[1]), [3, 4, 5])


def test_reassigned_centers_move_to_rows_of_positive_weight():
    # chunkml's own rule (scikit-learn draws among all rows): a row of weight 0 is not
    # data, so no center moves onto one.
    X, centers, _ = _batch(n_rows=10, seed=3)
    w = np.where(np.arange(10) % 2 == 0, 1.0, 0.0)
    centers = np.vstack([centers[:1], [[1e3, 1e3, 1e3], [-1e3, 0.0, 0.0]]])
    for seed in range(10):
        state = MiniBatchState(scaled_centers=centers.copy(),
                               weight_sums=np.array([20.0, 0.1, 0.2]), seed=seed,
                               frame=Frame.identity(3), n_since_reassign=30)
        out = minibatch_block(X, w, state, StepParams(batch_size=10,
                                                      reassignment_ratio=0.01))
        d2 = ((out.centers[1:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
        np.testing.assert_allclose(d2.min(axis=1), 0.0, atol=1e-24)
        assert np.all(w[d2.argmin(axis=1)] > 0)


def test_reassignment_is_checked_when_scikit_learn_checks():
    # scikit-learn checks before a step: whenever a center has absorbed nothing, else
    # once 10 * n_clusters rows have gone by since the last check.
    # 5 batches of 8 make exactly 10 * n_clusters rows.
    batch_size = 8
    X, centers, weight_sums = _batch(n_rows=batch_size * 18, seed=4)
    reference = SKMiniBatchKMeans(n_clusters=centers.shape[0])
    reference._batch_size = batch_size
    reference._n_since_last_reassign = 0
    state = _state(centers, weight_sums, Frame.identity(3))
    params = StepParams(batch_size=batch_size, reassignment_ratio=0.01)
    checks, ref_checks = [], []
    for start in range(0, X.shape[0], batch_size):
        reference._counts = state.weight_sums.copy()
        ref_checks.append(reference._random_reassign())
        state = minibatch_block(X[start:start + batch_size], None, state, params)
        checks.append(state.n_since_reassign == 0)
    assert checks == ref_checks
    # An empty center at the start, then each time 40 rows have gone by.
    assert np.flatnonzero(ref_checks).tolist() == [0, 5, 10, 15]
