"""chunkml/datasets/_random.py: the same random_state and chunks give the same data,
whatever the scheduler; random_state means what it means in scikit-learn."""

import dask
import numpy as np
import pytest

from ._util import GENERATORS, _compute


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
def client(process_cluster):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(process_cluster) as client:
        yield client


@pytest.mark.parametrize("make", GENERATORS)
def test_distributed_identical(client, make):
    kwargs = dict(n_samples=2000, n_features=8, chunks=300, random_state=5)
    Xs, ys = _compute(*make(**kwargs))
    Xd, yd = client.compute(list(make(**kwargs)), sync=True)
    np.testing.assert_array_equal(Xs, Xd)
    np.testing.assert_array_equal(ys, yd)


# Validation


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(random_state=-1), ValueError, "random_state"),
        (dict(random_state="seed"), ValueError, "cannot be used to seed"),
    ],
)
def test_random_state_validation(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)
