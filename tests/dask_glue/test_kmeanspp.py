"""chunkml's in-memory k-means++ (dask_glue/kmeanspp.py) against scikit-learn's.

Both draw from a RandomState in the same order (the first center by weight, then
n_local_trials uniforms per center, the best candidate by potential), so from the same
state they choose the same rows, up to rounding at a boundary of the cumulative D^2
weights (a measure-zero event on continuous data).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import chisquare
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import make_blobs

from chunkml.dask_glue import kmeanspp as kmeanspp_module
from chunkml.dask_glue._frame import Frame
from chunkml.dask_glue.kmeanspp import kmeans_plusplus

N_CLUSTERS = 6
SEEDS = range(5)


@pytest.fixture(params=["numpy", "kernels"])
def path(request, monkeypatch):
    """Dense X up to NUMPY_MAX_WORK rows x features x clusters goes through numpy, above it
    through the kernels (kernels/kmeanspp.py): each test runs both."""
    limit = np.iinfo(np.int64).max if request.param == "numpy" else 0
    monkeypatch.setattr(kmeanspp_module, "NUMPY_MAX_WORK", limit)
    return request.param


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=400, n_features=3, centers=N_CLUSTERS, cluster_std=2.0,
                      random_state=0)
    weight = np.random.RandomState(1).uniform(0.1, 3.0, X.shape[0])
    return X, weight


def _potential(X, centers, weight):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).min(axis=1)
    return float(d2 @ weight)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("n_local_trials", [None, 1, 5])
def test_same_rows_as_scikit_learn(path, blobs, weighted, n_local_trials):
    X, weight = blobs
    w = weight if weighted else np.ones(X.shape[0])
    for seed in SEEDS:
        centers, indices = kmeans_plusplus(X, N_CLUSTERS, w, np.random.RandomState(seed),
                                           n_local_trials=n_local_trials)
        ref_centers, ref_indices = sk_kmeans_plusplus(
            X, N_CLUSTERS, sample_weight=w, random_state=np.random.RandomState(seed),
            n_local_trials=n_local_trials)
        np.testing.assert_array_equal(indices, ref_indices)
        # The centers are the chosen rows themselves.
        np.testing.assert_array_equal(centers, X[indices])
        np.testing.assert_array_equal(centers, ref_centers)


def test_same_rows_as_scikit_learn_on_sparse_X(blobs):
    X, weight = blobs
    X = np.where(np.abs(X) < 3.0, 0.0, X)  # about half the entries stored
    X_csr = sp.csr_matrix(X)
    for seed in SEEDS:
        centers, indices = kmeans_plusplus(X_csr, N_CLUSTERS, weight,
                                           np.random.RandomState(seed))
        _, ref_indices = sk_kmeans_plusplus(X_csr, N_CLUSTERS, sample_weight=weight,
                                            random_state=np.random.RandomState(seed))
        np.testing.assert_array_equal(indices, ref_indices)
        np.testing.assert_array_equal(centers, X[indices])


def test_same_rows_as_scikit_learn_measured_in_a_frame(path, blobs):
    # Far from the origin: chunkml measures in the frame of X (as KMeans does, see
    # _frame.py), scikit-learn in X's units; at this offset both keep enough digits.
    X, weight = blobs
    X = X + 1e4
    frame = Frame.from_bounds(X.min(axis=0), X.max(axis=0))
    assert frame.exponent != 0 and np.all(frame.shift)
    for seed in SEEDS:
        centers, indices = kmeans_plusplus(X, N_CLUSTERS, weight,
                                           np.random.RandomState(seed), frame=frame)
        _, ref_indices = sk_kmeans_plusplus(X, N_CLUSTERS, sample_weight=weight,
                                            random_state=np.random.RandomState(seed))
        np.testing.assert_array_equal(indices, ref_indices)
        # Returned in the frame's units.
        np.testing.assert_allclose(frame.restore(centers), X[indices], rtol=1e-15)


def test_greedy_trials_lower_the_potential(path, blobs):
    # The greedy choice (best of 2 + log(k) candidates) beats plain D^2 sampling (one
    # candidate) on average, and is no worse than scikit-learn's own.
    X, weight = blobs
    greedy, plain, reference = [], [], []
    for seed in range(20):
        centers, _ = kmeans_plusplus(X, N_CLUSTERS, weight, np.random.RandomState(seed))
        greedy.append(_potential(X, centers, weight))
        centers, _ = kmeans_plusplus(X, N_CLUSTERS, weight, np.random.RandomState(seed),
                                     n_local_trials=1)
        plain.append(_potential(X, centers, weight))
        centers, _ = sk_kmeans_plusplus(X, N_CLUSTERS, sample_weight=weight,
                                        random_state=np.random.RandomState(seed))
        reference.append(_potential(X, centers, weight))
    # (0.84 here; a greedy step that kept the worst candidate would make it above 1.)
    assert np.mean(greedy) < 0.95 * np.mean(plain)
    np.testing.assert_allclose(np.mean(greedy), np.mean(reference), rtol=1e-12)


def test_one_trial_follows_the_d2_law(path):
    # With one trial per center, k-means++ is D^2 sampling: the first center drawn with
    # probability proportional to weight, each next one proportional to weight times
    # the squared distance to the nearest center so far. A row of weight 0 is never
    # drawn.
    X = np.array([[0.0], [1.0], [3.0], [7.0], [4.0]])
    weight = np.array([1.0, 2.0, 1.0, 0.5, 0.0])
    n_draws = 6000
    counts = {}
    for seed in range(n_draws):
        _, indices = kmeans_plusplus(X, 3, weight, np.random.RandomState(seed),
                                     n_local_trials=1)
        counts[tuple(indices)] = counts.get(tuple(indices), 0) + 1
    expected = {}
    p_first = weight / weight.sum()
    for i in range(4):
        d_i = (X[:, 0] - X[i, 0]) ** 2
        p_second = weight * d_i / (weight @ d_i)
        for j in range(4):
            if j == i:
                continue
            d_ij = np.minimum(d_i, (X[:, 0] - X[j, 0]) ** 2)
            p_third = weight * d_ij / (weight @ d_ij)
            for m in range(4):
                if m not in (i, j):
                    expected[i, j, m] = p_first[i] * p_second[j] * p_third[m]
    assert set(counts) <= set(expected)
    keys = sorted(expected)
    observed = np.array([counts.get(key, 0) for key in keys])
    probabilities = np.array([expected[key] for key in keys])
    np.testing.assert_allclose(probabilities.sum(), 1.0)
    assert chisquare(observed, n_draws * probabilities).pvalue > 1e-3


def test_the_path_is_chosen_by_the_work(blobs, monkeypatch):
    # The seed workload's recluster (about 60 candidates x 2 features, k=3) compiles no
    # kernel; above NUMPY_MAX_WORK the kernels run, with the same rows.
    X, weight = blobs
    states = []

    class Recording(kmeanspp_module.KmeansppState):
        def __init__(self, *args):
            states.append(args[0].shape)
            super().__init__(*args)

    monkeypatch.setattr(kmeanspp_module, "KmeansppState", Recording)
    small = kmeans_plusplus(X[:60, :2], 3, weight[:60], np.random.RandomState(0))
    assert states == []
    monkeypatch.setattr(kmeanspp_module, "NUMPY_MAX_WORK", 60 * 2 * 3 - 1)
    large = kmeans_plusplus(X[:60, :2], 3, weight[:60], np.random.RandomState(0))
    assert states == [(60, 2)]
    np.testing.assert_array_equal(large[1], small[1])
    np.testing.assert_array_equal(large[0], small[0])
