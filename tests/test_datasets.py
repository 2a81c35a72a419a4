import time

import dask
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from chunkml.datasets import _blobs, _classification, make_blobs, make_classification


GENERATORS = [make_blobs, make_classification]


def _compute(X, y):
    return dask.compute(X, y, scheduler="sync")


# Shapes, dtypes and chunks


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "chunks, expected",
    [
        (300, (300, 300, 300, 100)),
        (1000, (1000,)),
        (1, (1,) * 1000),
        ((400, 0, 599, 1), (400, 0, 599, 1)),
        ([500, 500], (500, 500)),
    ],
)
def test_shapes_dtypes_chunks(make, chunks, expected):
    X, y = make(n_samples=1000, n_features=5, chunks=chunks, random_state=0)
    assert X.shape == (1000, 5) and y.shape == (1000,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.chunks == (expected, (5,))
    assert y.chunks == (expected,)
    Xc, yc = _compute(X, y)
    assert Xc.shape == (1000, 5) and Xc.dtype == np.float64
    assert yc.shape == (1000,) and yc.dtype == np.int64
    assert np.all(np.isfinite(Xc))


@pytest.mark.parametrize("make", GENERATORS)
def test_default_chunks(make):
    X, y = make(n_samples=100, random_state=0)
    assert X.numblocks == (1, 1) and y.numblocks == (1,)

    X, y = make(n_samples=3_000_000, n_features=300, random_state=0)
    assert max(X.chunks[0]) <= 1_000_000
    assert max(X.chunks[0]) * 300 * 8 <= 128 * 2**20
    assert sum(X.chunks[0]) == 3_000_000 and y.chunks == X.chunks[:1]

    X, y = make(n_samples=2_500_000, n_features=5, random_state=0)
    assert X.chunks[0] == (1_000_000, 1_000_000, 500_000)


@pytest.mark.parametrize("make", GENERATORS)
def test_slices_agree_with_full_compute(make):
    X, y = make(n_samples=1000, n_features=6, chunks=137, random_state=3)
    Xc, yc = _compute(X, y)
    Xs, ys = _compute(X[123:456], y[123:456])
    np.testing.assert_array_equal(Xs, Xc[123:456])
    np.testing.assert_array_equal(ys, yc[123:456])


# Laziness


@pytest.mark.parametrize(
    "make, module, x_block",
    [
        (make_blobs, _blobs, "_blobs_X_block"),
        (make_classification, _classification, "_classification_X_block"),
    ],
)
def test_lazy_graph_one_task_per_block(monkeypatch, make, module, x_block):
    calls = []
    original = getattr(module, x_block)

    def counting(*args, block_id=None):
        calls.append(block_id)
        return original(*args, block_id=block_id)

    monkeypatch.setattr(module, x_block, counting)

    start = time.perf_counter()
    X, y = make(n_samples=10_000_000, chunks=100_000, random_state=0)
    assert time.perf_counter() - start < 2.0
    assert calls == []
    assert X.numblocks == (100, 1) and y.numblocks == (100,)
    assert len(X.__dask_graph__()) == 100
    assert len(y.__dask_graph__()) == 100

    X10, y10 = make(n_samples=10_000_000, chunks=1_000_000, random_state=0)
    assert len(X10.__dask_graph__()) == 10 and len(y10.__dask_graph__()) == 10

    head = X[:5].compute(scheduler="sync")
    assert head.shape == (5, X.shape[1])
    assert calls == [(0, 0)]
    assert y[-5:].compute(scheduler="sync").shape == (5,)
    assert calls == [(0, 0)]


# Determinism


@pytest.mark.parametrize("make", GENERATORS)
def test_same_random_state_same_data(make):
    Xa, ya = _compute(*make(n_samples=500, chunks=128, random_state=42))
    Xb, yb = _compute(*make(n_samples=500, chunks=128, random_state=42))
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)

    Xc, _ = _compute(*make(n_samples=500, chunks=128, random_state=43))
    assert not np.array_equal(Xa, Xc)


@pytest.mark.parametrize("make", GENERATORS)
def test_blocks_are_not_copies_of_each_other(make):
    Xc, _ = _compute(*make(n_samples=400, chunks=100, random_state=0))
    for i in range(1, 4):
        assert not np.allclose(Xc[:100], Xc[100 * i : 100 * (i + 1)])


@pytest.mark.parametrize("make", GENERATORS)
def test_random_state_kinds(make):
    X_int, y_int = _compute(*make(n_samples=300, random_state=7))
    X_rs, y_rs = _compute(*make(n_samples=300, random_state=np.random.RandomState(7)))
    # As in scikit-learn, an int seeds a RandomState.
    np.testing.assert_array_equal(X_int, X_rs)
    np.testing.assert_array_equal(y_int, y_rs)

    X_g1, _ = _compute(*make(n_samples=300, random_state=np.random.default_rng(7)))
    X_g2, _ = _compute(*make(n_samples=300, random_state=np.random.default_rng(7)))
    np.testing.assert_array_equal(X_g1, X_g2)

    # A RandomState is advanced: two calls with the same instance differ.
    rs = np.random.RandomState(7)
    X_1, _ = _compute(*make(n_samples=300, random_state=rs))
    X_2, _ = _compute(*make(n_samples=300, random_state=rs))
    assert not np.array_equal(X_1, X_2)

    # None uses numpy's global RandomState, as in scikit-learn.
    np.random.seed(11)
    X_n1, _ = _compute(*make(n_samples=300))
    np.random.seed(11)
    X_n2, _ = _compute(*make(n_samples=300))
    np.testing.assert_array_equal(X_n1, X_n2)
    assert not np.array_equal(X_n1, _compute(*make(n_samples=300))[0])


def test_random_state_counts_with_fixed_centers():
    centers = [[0.0, 0.0], [5.0, 5.0]]
    X0, _ = _compute(*make_blobs(n_samples=200, centers=centers, random_state=0))
    X1, _ = _compute(*make_blobs(n_samples=200, centers=centers, random_state=1))
    X0b, _ = _compute(*make_blobs(n_samples=200, centers=centers, random_state=0))
    assert not np.array_equal(X0, X1)
    np.testing.assert_array_equal(X0, X0b)


@pytest.mark.parametrize("make", GENERATORS)
def test_sync_and_threads_identical(make):
    kwargs = dict(n_samples=5000, n_features=8, chunks=700, random_state=5)
    with dask.config.set(scheduler="sync"):
        Xs, ys = dask.compute(*make(**kwargs))
    with dask.config.set(scheduler="threads"):
        Xt, yt = dask.compute(*make(**kwargs))
    np.testing.assert_array_equal(Xs, Xt)
    np.testing.assert_array_equal(ys, yt)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.parametrize("make", GENERATORS)
def test_distributed_identical(client, make):
    kwargs = dict(n_samples=2000, n_features=8, chunks=300, random_state=5)
    Xs, ys = _compute(*make(**kwargs))
    Xd, yd = client.compute(list(make(**kwargs)), sync=True)
    np.testing.assert_array_equal(Xs, Xd)
    np.testing.assert_array_equal(ys, yd)


# make_blobs against its definition


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


# make_classification against its definition


def _unshuffled(**kwargs):
    defaults = dict(n_samples=20_000, chunks=6000, flip_y=0.0, shuffle=False,
                    random_state=0)
    defaults.update(kwargs)
    return _compute(*make_classification(**defaults))


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


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_samples=0), ValueError, "n_samples must be >= 1"),
        (dict(n_samples=10.0), TypeError, "n_samples must be an int"),
        (dict(n_features=0), ValueError, "n_features must be >= 1"),
        (dict(chunks=0), ValueError, "chunks must be a positive int"),
        (dict(chunks=(50, 40)), ValueError, "chunks must sum to n_samples=100"),
        (dict(chunks=(120, -20)), ValueError, "negative"),
        (dict(chunks=2.5), TypeError, "chunks must be None, an int"),
        (dict(random_state=-1), ValueError, "random_state"),
        (dict(random_state="seed"), ValueError, "cannot be used to seed"),
        (dict(shuffle="yes"), TypeError, "shuffle must be a bool"),
    ],
)
def test_common_validation(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)


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
        (dict(weights=[0.2, 0.3, 0.5]), "incompatible with number of classes"),
        (dict(weights=[[0.5, 0.5]]), "incompatible with number of classes"),
        (dict(n_informative=3, n_classes=3, weights=[0.7, 0.5]),
         "non-negative"),
        (dict(weights=[0.0, 0.0]), "must not all be zero"),
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
