import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import _reference as ref
from tests.kernels._util import topk_finish, topk_push


def _topk(keys, m):
    """Offer keys in order with indices 0, 1, ...; return (heap_key, heap_idx, size)."""
    heap_key = np.full(m, 99.0)
    heap_idx = np.full(m, 99, dtype=np.int64)
    size = 0
    for i, key in enumerate(keys):
        size = topk_push(heap_key, heap_idx, size, float(key), i)
        assert size == min(i + 1, m)
        if size:
            assert heap_key[0] == heap_key[:size].min()
    topk_finish(heap_key, heap_idx, size)
    return heap_key, heap_idx, size


@pytest.mark.parametrize("n", [0, 1, 7, 200])
@pytest.mark.parametrize("m", [0, 1, 5, 200, 250])
def test_topk_keeps_largest_keys(n, m):
    keys = np.random.default_rng(n + m).exponential(size=n)
    heap_key, heap_idx, size = _topk(keys, m)
    top = ref.top_m(keys, m)
    assert size == top.size
    order = np.argsort(-heap_key[:size], kind="stable")
    np.testing.assert_array_equal(heap_idx[:size][order], top)
    np.testing.assert_array_equal(heap_key[:size][order], keys[top])
    np.testing.assert_array_equal(heap_key[size:], -1.0)
    np.testing.assert_array_equal(heap_idx[size:], -1)


def test_topk_zero_keys_and_infinity():
    keys = [0.0, np.inf, 0.0, 3.0, np.inf]
    heap_key, heap_idx, size = _topk(keys, 3)
    assert sorted(zip(heap_key.tolist(), heap_idx.tolist())) == [
        (3.0, 3), (np.inf, 1), (np.inf, 4)]


def test_topk_equal_keys_keep_first_offered():
    # Documented in _topk.topk_push: "On equal keys the row offered first is kept".
    # With capacity 2, rows 0 and 1 tie at 1.0 and row 2 (key 2.0) evicts one of them:
    # the row offered first (0) must stay.
    heap_key, heap_idx, _ = _topk([1.0, 1.0, 2.0], 2)
    assert sorted(heap_idx.tolist()) == [0, 2]


@given(st.lists(st.floats(0, 1e6), max_size=60), st.integers(0, 10))
def test_topk_property(keys, m):
    keys = np.array(keys, dtype=np.float64)
    heap_key, heap_idx, size = _topk(keys, m)
    top = ref.top_m(keys, m)
    np.testing.assert_array_equal(np.sort(heap_key[:size]), np.sort(keys[top]))
    np.testing.assert_array_equal(keys[heap_idx[:size]], heap_key[:size])
    assert np.unique(heap_idx[:size]).size == size
