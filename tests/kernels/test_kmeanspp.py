"""kernels/kmeanspp.py: greedy k-means++'s state and steps against plain numpy (every
row against every chosen center and trial, no triangle inequality)."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from chunkml.kernels import KmeansppState


def _framed(X, shift, scale):
    return (X.astype(np.float64) - shift) * scale


def _reference_closest(Xf, centers):
    """Each row's squared distance to its nearest center, and that center (the first on
    ties)."""
    d2 = ((Xf[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.min(axis=1), d2.argmin(axis=1)


def _reference_gains(Xf, weight, centers, trials):
    closest, _ = _reference_closest(Xf, centers)
    d2 = ((Xf[:, None, :] - Xf[trials][None, :, :]) ** 2).sum(axis=2)
    return (weight[:, None] * np.maximum(closest[:, None] - d2, 0.0)).sum(axis=0)


def _check_lists(state, n):
    """Every row is in exactly one list, within that list's radius; returns each row's
    list (its nearest center, by the state)."""
    nearest = np.full(n, -1)
    for j in range(state.n_centers):
        i, previous = state.head[j], -1
        while i >= 0:
            assert nearest[i] == -1 and state.prv[i] == previous
            assert state.closest[i] <= state.radius[j]
            nearest[i] = j
            i, previous = state.nxt[i], i
    assert (nearest >= 0).all()
    return nearest


def _data(kind, dtype):
    if kind == "blobs":  # tight clusters: most distances are ruled out
        X, _ = make_blobs(n_samples=600, n_features=5, centers=12, cluster_std=0.3,
                          random_state=0)
    else:  # one cloud: few are
        X = np.random.default_rng(1).normal(size=(300, 3))
    X = (X + 50.0).astype(dtype)
    shift, scale = np.full(X.shape[1], 50.0), 0.5
    return X, shift, scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["blobs", "cloud"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gains_and_state_match_the_full_comparison(kind, dtype, weighted):
    X, shift, scale = _data(kind, dtype)
    n = X.shape[0]
    rng = np.random.default_rng(2)
    weight = rng.uniform(0.0, 3.0, n) if weighted else np.ones(n)
    Xf = _framed(X, shift, scale)
    n_clusters = 20
    state = KmeansppState(X, shift, scale, weight, n_clusters)
    chosen = [int(rng.integers(n))]
    state.start(chosen[0])
    for c in range(1, n_clusters):
        centers = Xf[chosen]
        np.testing.assert_array_equal(state.centers[:c], centers)
        closest, nearest = _reference_closest(Xf, centers)
        np.testing.assert_allclose(state.closest, closest, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(_check_lists(state, n), nearest)
        trials = rng.integers(n, size=5)
        gains = state.gains(trials)
        np.testing.assert_allclose(gains, _reference_gains(Xf, weight, centers, trials),
                                   rtol=1e-10, atol=1e-12)
        chosen.append(int(trials[np.argmax(gains)]))
        state.add(chosen[-1])
    assert state.n_centers == n_clusters


def test_a_trial_on_a_center_or_its_duplicate_gains_nothing():
    X = np.array([[0.0], [0.0], [1.0], [4.0]])
    state = KmeansppState(X, np.zeros(1), 1.0, np.ones(4), 3)
    state.start(0)
    np.testing.assert_array_equal(state.gains(np.array([0, 1, 2, 3])),
                                  [0.0, 0.0, 1.0 + 7.0, 16.0])
    state.add(3)
    np.testing.assert_array_equal(state.closest, [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(_check_lists(state, 4), [0, 0, 0, 1])
    np.testing.assert_array_equal(state.gains(np.array([1, 2])), [0.0, 1.0])


def test_one_row_one_center():
    state = KmeansppState(np.array([[3.0, -1.0]], dtype=np.float32), np.zeros(2), 1.0,
                          np.ones(1), 1)
    state.start(0)
    np.testing.assert_array_equal(state.closest, [0.0])
    np.testing.assert_array_equal(state.gains(np.array([0, 0])), [0.0, 0.0])
    np.testing.assert_array_equal(state.centers, [[3.0, -1.0]])


def test_inputs_are_read_through_read_only_views():
    # One compiled signature whatever the caller's writeable flags (kernels/_dispatch.py).
    X = np.random.default_rng(0).normal(size=(10, 2))
    states = []
    for writeable in (True, False):
        Xc, w = X.copy(), np.ones(10)
        Xc.flags.writeable = w.flags.writeable = writeable
        state = KmeansppState(Xc, np.zeros(2), 1.0, w, 3)
        state.start(4)
        state.add(7)
        states.append(state)
    assert not states[0].args[0].flags.writeable
    np.testing.assert_array_equal(states[0].closest, states[1].closest)
