"""chunkml/datasets/_classification_model.py: make_classification's centroids, class
weights, shift and scale, drawn on the driver."""

import numpy as np
import pytest

from chunkml.datasets import make_classification
from chunkml.datasets._classification_model import _hypercube_vertices

from ._util import _unshuffled


@pytest.mark.parametrize(
    "n_classes, weights, expected",
    [
        (3, [0.7, 0.2, 0.1], [0.7, 0.2, 0.1]),
        (2, [0.2], [0.2, 0.8]),
        (3, None, [1 / 3] * 3),
        (4, [2.0, 1.0, 1.0, 0.0], [0.5, 0.25, 0.25, 0.0]),
    ],
)
def test_classification_class_frequencies_follow_weights(n_classes, weights, expected):
    _, yc = _unshuffled(n_informative=3, n_classes=n_classes, weights=weights)
    frequencies = np.bincount(yc, minlength=n_classes) / yc.shape[0]
    assert frequencies.shape == (n_classes,)
    np.testing.assert_allclose(frequencies, expected, atol=0.015)
    if expected[-1] == 0.0:
        assert not np.any(yc == n_classes - 1)


def test_classification_centroids_on_hypercube():
    class_sep = 3.0
    Xc, yc = _unshuffled(
        n_features=2, n_informative=2, n_redundant=0, n_clusters_per_class=1,
        class_sep=class_sep,
    )
    means = np.array([Xc[yc == c].mean(axis=0) for c in range(2)])
    np.testing.assert_allclose(np.abs(means), class_sep, atol=0.1)
    assert not np.allclose(means[0], means[1])


def test_classification_hypercube_false_shrinks_centroids():
    Xc, yc = _unshuffled(
        n_features=2, n_informative=2, n_redundant=0, n_clusters_per_class=1,
        class_sep=3.0, hypercube=False,
    )
    means = np.array([Xc[yc == c].mean(axis=0) for c in range(2)])
    assert np.all(np.abs(means) < 3.0 + 0.1)
    assert not np.allclose(np.abs(means), 3.0, atol=0.1)


def test_classification_shift_and_scale():
    kwargs = dict(n_samples=500, n_features=6, n_informative=2, n_redundant=1)
    X0, y0 = _unshuffled(**kwargs)
    X1, y1 = _unshuffled(shift=5.0, scale=2.0, **kwargs)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_allclose(X1, (X0 + 5.0) * 2.0, rtol=1e-12)

    shift = np.arange(6.0)
    scale = np.linspace(1.0, 3.0, 6)
    X2, _ = _unshuffled(shift=shift, scale=scale, **kwargs)
    np.testing.assert_allclose(X2, (X0 + shift) * scale, rtol=1e-12)

    # Random shift in [-class_sep, class_sep] and scale in [1, 101], per feature.
    Xr, _ = _unshuffled(shift=None, scale=None, class_sep=1.5, **kwargs)
    a = (Xr[1] - Xr[0]) / (X0[1] - X0[0])
    b = Xr[0] / a - X0[0]
    assert np.all((a >= 1.0) & (a <= 101.0))
    assert np.all(np.abs(b) <= 1.5 + 1e-6)
    assert np.unique(a.round(6)).shape[0] == 6


def test_classification_many_informative_features():
    Xc, yc = _unshuffled(
        n_samples=200, n_features=40, n_informative=35, n_redundant=0,
        n_classes=4, n_clusters_per_class=3,
    )
    assert Xc.shape == (200, 40)
    assert np.all(np.isfinite(Xc))


@pytest.mark.parametrize("n_vertices, n_dims", [(1, 1), (2, 1), (8, 3), (5, 30), (12, 35)])
def test_hypercube_vertices_are_distinct_corners(n_vertices, n_dims):
    rng = np.random.default_rng(0)
    vertices = _hypercube_vertices(n_vertices, n_dims, rng)
    assert vertices.shape == (n_vertices, n_dims)
    assert set(np.unique(vertices)) <= {0, 1}
    # Distinct in the last 30 coordinates, which the codes draw without replacement.
    tail = vertices[:, -min(n_dims, 30):]
    assert np.unique(tail, axis=0).shape[0] == n_vertices


# Validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=[0.2, 0.3, 0.5]), "incompatible with number of classes"),
        (dict(weights=[[0.5, 0.5]]), "incompatible with number of classes"),
        (dict(n_informative=3, n_classes=3, weights=[0.7, 0.5]),
         "non-negative"),
        (dict(weights=[0.0, 0.0]), "must not all be zero"),
    ],
)
def test_class_weights_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_classification(**kwargs)
