"""chunkml/datasets/_blobs.py: make_blobs against its definition."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkml.datasets import make_blobs

from ._util import _compute


def test_blobs_match_centers_and_stds():
    centers = np.array([[0.0, 0.0, 0.0], [20.0, -20.0, 5.0], [-20.0, 10.0, 30.0]])
    cluster_std = np.array([0.5, 1.0, 2.0])
    X, y = make_blobs(
        n_samples=30_000, centers=centers, cluster_std=cluster_std,
        chunks=7000, random_state=0,
    )
    Xc, yc = _compute(X, y)
    counts = np.bincount(yc, minlength=3)
    assert counts.shape == (3,)
    np.testing.assert_allclose(counts / counts.sum(), 1 / 3, atol=0.02)
    for k in range(3):
        members = Xc[yc == k]
        se = cluster_std[k] / np.sqrt(members.shape[0])
        np.testing.assert_allclose(members.mean(axis=0), centers[k], atol=6 * se)
        np.testing.assert_allclose(members.std(axis=0), cluster_std[k], rtol=0.05)
    # Well separated: every row is nearest to its own center.
    nearest = np.argmin(((Xc[:, None, :] - centers) ** 2).sum(axis=2), axis=1)
    np.testing.assert_array_equal(nearest, yc)


@pytest.mark.parametrize("centers, n_centers", [(None, 3), (5, 5)])
def test_blobs_random_centers_in_box(centers, n_centers):
    X, y = make_blobs(
        n_samples=20_000, n_features=4, centers=centers, cluster_std=0.1,
        center_box=(2.0, 3.0), chunks=6000, random_state=1,
    )
    Xc, yc = _compute(X, y)
    assert set(np.unique(yc)) == set(range(n_centers))
    means = np.array([Xc[yc == k].mean(axis=0) for k in range(n_centers)])
    assert np.all((means > 2.0 - 0.01) & (means < 3.0 + 0.01))
    assert np.unique(means.round(6), axis=0).shape[0] == n_centers


def test_blobs_centers_array_sets_n_features():
    X, y = make_blobs(n_samples=50, centers=np.zeros((4, 7)), random_state=0)
    assert X.shape == (50, 7)
    assert X.chunks[1] == (7,)


def test_blobs_zero_std_gives_centers():
    centers = np.array([[1.0, 2.0], [3.0, 4.0]])
    Xc, yc = _compute(
        *make_blobs(n_samples=100, centers=centers, cluster_std=0.0, random_state=0)
    )
    np.testing.assert_array_equal(Xc, centers[yc])


def test_random_state_counts_with_fixed_centers():
    centers = [[0.0, 0.0], [5.0, 5.0]]
    X0, _ = _compute(*make_blobs(n_samples=200, centers=centers, random_state=0))
    X1, _ = _compute(*make_blobs(n_samples=200, centers=centers, random_state=1))
    X0b, _ = _compute(*make_blobs(n_samples=200, centers=centers, random_state=0))
    assert not np.array_equal(X0, X1)
    np.testing.assert_array_equal(X0, X0b)


# Properties


@settings(max_examples=25)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6).filter(sum),
    n_features=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_blobs_any_chunking(sizes, n_features, seed):
    X, y = make_blobs(
        n_samples=sum(sizes), n_features=n_features, centers=4,
        chunks=tuple(sizes), random_state=seed,
    )
    Xc, yc = _compute(X, y)
    assert Xc.shape == (sum(sizes), n_features)
    assert X.chunks == (tuple(sizes), (n_features,))
    assert np.all(np.isfinite(Xc))
    assert np.all((yc >= 0) & (yc < 4))


# Validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(centers=0), "centers must be >= 1"),
        (dict(centers=[1.0, 2.0]), r"centers must be an int or an array of shape"),
        (dict(centers=np.zeros((0, 2))), "n_centers >= 1"),
        (dict(centers=[[0.0, np.nan]]), "NaN"),
        (dict(centers=3, cluster_std=[1.0, 2.0]), "cluster_std` not consistent"),
        (dict(centers=[[0, 0], [1, 1]], cluster_std=[1.0]), "2 centers"),
        (dict(cluster_std=-1.0), "cluster_std must be finite and non-negative"),
        (dict(center_box=(1.0,)), r"center_box must be a tuple \(min, max\)"),
        (dict(center_box=(5.0, 1.0)), "min <= max"),
    ],
)
def test_blobs_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_blobs(**kwargs)
