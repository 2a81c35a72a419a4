"""chunkml/datasets/_classification.py: make_classification's blocks against its
definition: informative, redundant, repeated and useless columns, labels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from chunkml.datasets import make_classification

from ._util import _compute, _unshuffled


def test_classification_redundant_and_useless_features():
    n_inf, n_red, n_rep, n_features = 4, 3, 0, 12
    Xc, _ = _unshuffled(
        n_features=n_features, n_informative=n_inf, n_redundant=n_red,
        n_repeated=n_rep, n_classes=3,
    )
    assert np.linalg.matrix_rank(Xc[:, :n_inf]) == n_inf
    assert np.linalg.matrix_rank(Xc[:, : n_inf + n_red]) == n_inf
    assert np.linalg.matrix_rank(Xc) == n_features - n_red
    coef, *_ = np.linalg.lstsq(Xc[:, :n_inf], Xc[:, n_inf : n_inf + n_red], rcond=None)
    np.testing.assert_allclose(
        Xc[:, :n_inf] @ coef, Xc[:, n_inf : n_inf + n_red], atol=1e-9
    )
    # Useless features are standard normal noise.
    useless = Xc[:, n_inf + n_red :]
    np.testing.assert_allclose(useless.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(useless.std(axis=0), 1.0, atol=0.05)


def test_classification_repeated_features_copy_earlier_columns():
    n_inf, n_red, n_rep = 3, 2, 4
    Xc, _ = _unshuffled(
        n_features=10, n_informative=n_inf, n_redundant=n_red, n_repeated=n_rep
    )
    source = Xc[:, : n_inf + n_red]
    for j in range(n_inf + n_red, n_inf + n_red + n_rep):
        equal = np.all(source == Xc[:, [j]], axis=0)
        assert equal.sum() >= 1, j
    # The useless column is not a copy of anything.
    last = Xc[:, -1]
    assert not np.any(np.all(Xc[:, :-1] == last[:, None], axis=0))


def test_classification_shuffle_permutes_columns_only():
    kwargs = dict(n_features=9, n_informative=3, n_redundant=2, n_repeated=1)
    X_plain, y_plain = _unshuffled(**kwargs)
    X_shuf, y_shuf = _unshuffled(shuffle=True, **kwargs)
    np.testing.assert_array_equal(y_plain, y_shuf)

    def by_column_values(X):
        return X[:, np.lexsort(X[:3])]

    np.testing.assert_array_equal(by_column_values(X_shuf), by_column_values(X_plain))
    assert not np.array_equal(X_shuf, X_plain)


def test_classification_learnable_with_large_class_sep():
    Xc, yc = _unshuffled(
        n_samples=6000, n_features=10, n_informative=4, n_redundant=2,
        n_clusters_per_class=1, class_sep=2.0, shuffle=True,
    )
    clf = LogisticRegression(max_iter=1000).fit(Xc[:3000], yc[:3000])
    assert clf.score(Xc[3000:], yc[3000:]) > 0.9


def test_classification_three_classes():
    _, yc = _unshuffled(n_samples=3000, n_informative=3, n_classes=3, flip_y=0.01)
    np.testing.assert_array_equal(np.unique(yc), [0, 1, 2])


def test_classification_flip_y():
    kwargs = dict(n_samples=20_000, n_classes=2)
    X0, y0 = _unshuffled(flip_y=0.0, **kwargs)
    X5, y5 = _unshuffled(flip_y=0.5, **kwargs)
    np.testing.assert_array_equal(X0, X5)
    # Half the labels are redrawn uniformly; half of those land on a new class.
    changed = np.mean(y0 != y5)
    assert abs(changed - 0.25) < 0.02

    X1, y1 = _unshuffled(flip_y=1.0, **kwargs)
    assert abs(np.mean(y0 != y1) - 0.5) < 0.02


# Properties


@settings(max_examples=25)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=6).filter(sum),
    n_classes=st.integers(1, 4),
    n_clusters_per_class=st.integers(1, 2),
    extra=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_classification_any_chunking(
    sizes, n_classes, n_clusters_per_class, extra, seed
):
    n_informative = 3
    X, y = make_classification(
        n_samples=sum(sizes), n_features=n_informative + 2 + extra,
        n_informative=n_informative, n_redundant=1, n_repeated=1,
        n_classes=n_classes, n_clusters_per_class=n_clusters_per_class,
        chunks=tuple(sizes), random_state=seed,
    )
    Xc, yc = _compute(X, y)
    assert Xc.shape == (sum(sizes), n_informative + 2 + extra)
    assert y.chunks == (tuple(sizes),)
    assert np.all(np.isfinite(Xc))
    assert np.all((yc >= 0) & (yc < n_classes))


# Validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_features=4, n_informative=2, n_redundant=2, n_repeated=1),
         "must sum to at most n_features=4"),
        (dict(n_informative=2, n_classes=3, n_clusters_per_class=2),
         r"n_classes\(3\) \* n_clusters_per_class\(2\) must be smaller or equal "
         r"2\*\*n_informative\(2\)=4"),
        (dict(n_informative=0), "n_informative must be >= 1"),
        (dict(n_redundant=-1), "n_redundant must be >= 0"),
        (dict(n_classes=0), "n_classes must be >= 1"),
        (dict(flip_y=1.5), r"flip_y must be in \[0, 1\]"),
        (dict(class_sep=0.0), "class_sep must be > 0"),
        (dict(shift=np.zeros(3)),
         "shift must be a scalar or have length n_features=20"),
        (dict(scale=np.ones((20, 1))), "scale must be a scalar"),
        (dict(scale=0.0), "scale must be > 0"),
        (dict(shift=np.inf), "shift must be finite"),
    ],
)
def test_classification_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_classification(**kwargs)
