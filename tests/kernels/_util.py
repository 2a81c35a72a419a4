"""Data, tolerances and assertions shared by the kernel tests."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import njit

from chunkml import kernels
from chunkml.kernels import _topk
from tests import _reference as ref

DTYPES = [np.float32, np.float64]
# As scikit-learn's tests: float32 input is compared at 1e-4, float64 at 1e-7.
RTOL = {np.float32: 1e-4, np.float64: 1e-7}

# name: (n_samples, n_features, n_clusters, how the rows are drawn)
CASES = {
    "empty": (0, 3, 2, "normal"),
    "one_row": (1, 3, 2, "normal"),
    "n_lt_k": (3, 2, 5, "normal"),
    "k1": (40, 3, 1, "normal"),
    "d1": (40, 1, 3, "normal"),
    "duplicates": (40, 3, 4, "duplicates"),
    "all_equal": (25, 3, 3, "equal"),
    "generic": (300, 6, 5, "normal"),
}


# The heap's functions are helpers, compiled into the kernels that call them
# (`_config.helper`): the tests call them through these kernels.
@njit
def topk_push(heap_key, heap_idx, size, key, idx):
    return _topk.topk_push(heap_key, heap_idx, size, key, idx)


@njit
def topk_finish(heap_key, heap_idx, size):
    _topk.topk_finish(heap_key, heap_idx, size)


def blocks(n_samples):
    """(start, stop) row ranges covering [0, n_samples) in order: 0-row and 1-row blocks
    included, uneven sizes."""
    cuts = sorted({0, min(1, n_samples), min(8, n_samples),
                   min(n_samples, (n_samples + 8) // 2), n_samples})
    bounds = [(0, 0)] + list(zip(cuts[:-1], cuts[1:])) + [(n_samples, n_samples)]
    assert [i for a, b in bounds for i in range(a, b)] == list(range(n_samples))
    return bounds


def make_data(case, dtype, seed=0):
    """(X, centers): X of the given dtype, centers float64 as the kernels require."""
    n_samples, n_features, n_clusters, kind = CASES[case]
    rng = np.random.default_rng(seed)
    if kind == "normal":
        X = rng.normal(scale=3.0, size=(n_samples, n_features))
    elif kind == "duplicates":
        base = rng.normal(scale=3.0, size=(n_samples // 4, n_features))
        X = base[rng.integers(0, base.shape[0], size=n_samples)]
    else:
        X = np.tile(rng.normal(scale=3.0, size=n_features), (n_samples, 1))
    centers = rng.normal(scale=3.0, size=(n_clusters, n_features))
    return np.ascontiguousarray(X, dtype=dtype), centers


def make_weight(n_samples, seed=1):
    """Positive weights with every fifth row exactly zero."""
    w = np.random.default_rng(seed).uniform(0.1, 2.0, size=n_samples)
    w[::5] = 0.0
    return w


def identity(n_features):
    """The identity frame (shift, scale) of the kernels (see kernels/_rowwise.py)."""
    return np.zeros(n_features), 1.0


def sqnorm(centers):
    return np.einsum("ij,ij->i", centers, centers)


def read_only(*arrays):
    """Read-only copies, as dask may hand a kernel."""
    out = []
    for a in arrays:
        a = np.array(a)
        a.setflags(write=False)
        out.append(a)
    return out


def assert_close(actual, desired, dtype):
    """allclose at the dtype's rtol, with atol scaled by the largest magnitude involved."""
    desired = np.asarray(desired, dtype=np.float64)
    rtol = RTOL[dtype]
    scale = max(1.0, float(np.abs(desired).max())) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def assert_moments_close(actual, desired, dtype):
    """(mean, M2) rows compared separately: their magnitudes differ by orders."""
    actual = np.asarray(actual)
    assert actual.shape == np.shape(desired)
    for row in range(actual.shape[0]):
        assert_close(actual[row], desired[row], dtype)


def label_tolerance(X, centers, rtol):
    """Absolute slack in comparing squared distances computed as ||c||^2 - 2 x.c."""
    X = np.asarray(X, dtype=np.float64)
    x2 = np.einsum("ij,ij->i", X, X) if X.size else np.zeros(X.shape[0])
    return rtol * (1.0 + x2 + sqnorm(centers).max())


def assert_nearest(X, centers, labels, rtol):
    """Each label's distance is the minimum (within tolerance); clear winners match exactly."""
    labels = np.asarray(labels)
    n_samples, n_clusters = X.shape[0], centers.shape[0]
    assert labels.shape == (n_samples,)
    assert ((labels >= 0) & (labels < n_clusters)).all()
    if n_samples == 0:
        return
    d2 = ref.squared_distances(X, centers)
    rows = np.arange(n_samples)
    tol = label_tolerance(X, centers, rtol)
    chosen = d2[rows, labels]
    best = d2.min(axis=1)
    assert (chosen <= best + tol).all()
    ref_labels = np.argmin(d2, axis=1)
    if n_clusters > 1:
        second = np.partition(d2, 1, axis=1)[:, 1]
        clear = second - best > tol
    else:
        clear = np.ones(n_samples, dtype=bool)
    np.testing.assert_array_equal(labels[clear], ref_labels[clear])


def assert_top(out_key, out_idx, keys, m, rtol, eligible=None, out_label=None,
               ref_labels=None):
    """A kernel's top-m heap output against the reference keys of every row.

    Rows outside `eligible` (default: key > 0) are never kept; unused slots hold -1; kept
    rows are distinct and carry their own key; the kept keys are the m largest eligible
    reference keys; unless the m-th and (m+1)-th largest tie, the kept rows are exactly
    the reference's. With `out_label`, kept rows carry their reference label.
    """
    keys = np.asarray(keys, dtype=np.float64)
    out_key, out_idx = np.asarray(out_key), np.asarray(out_idx)
    assert out_key.shape == out_idx.shape == (m,)
    if eligible is None:
        eligible = keys > 0
    candidates = np.flatnonzero(eligible)
    top = candidates[ref.top_m(keys[candidates], m)]
    used = out_idx >= 0
    assert used.sum() == top.size
    np.testing.assert_array_equal(out_key[~used], -1.0)
    np.testing.assert_array_equal(out_idx[~used], -1)
    idx = out_idx[used]
    assert idx.max(initial=-1) < keys.size
    assert np.unique(idx).size == idx.size
    assert eligible[idx].all()
    np.testing.assert_allclose(out_key[used], keys[idx], rtol=rtol)
    np.testing.assert_allclose(np.sort(out_key[used])[::-1], keys[top], rtol=rtol)
    ordered = np.sort(keys[candidates])[::-1]
    tied = (0 < top.size < candidates.size
            and ordered[top.size - 1] - ordered[top.size] <= 1e-9 * ordered[top.size - 1])
    if not tied:
        assert set(idx.tolist()) == set(top.tolist())
    if out_label is not None:
        out_label = np.asarray(out_label)
        np.testing.assert_array_equal(out_label[~used], -1)
        np.testing.assert_array_equal(out_label[used], np.asarray(ref_labels)[idx])


def finite_arrays(n_samples, n_features, dtype=np.float64):
    """hypothesis strategy: (n, d) arrays of finite floats in [-100, 100]."""
    width = 32 if dtype == np.float32 else 64
    return hnp.arrays(dtype, (n_samples, n_features),
                      elements=st.floats(-100, 100, allow_nan=False, allow_infinity=False,
                                         width=width))


@st.composite
def blocks_and_centers(draw, max_rows=30, max_features=4, max_clusters=5, dtypes=DTYPES):
    """hypothesis strategy: (X, centers) with matching n_features; centers float64."""
    dtype = draw(st.sampled_from(dtypes))
    n_samples = draw(st.integers(0, max_rows))
    n_features = draw(st.integers(1, max_features))
    n_clusters = draw(st.integers(1, max_clusters))
    X = draw(finite_arrays(n_samples, n_features, dtype))
    centers = draw(finite_arrays(n_clusters, n_features, np.float64))
    return X, centers


def forced(op, method, parallel=False):
    """The registry's `op` by `method` ("tiles", "rows", "gemm"), run on blocks of any
    shape, with the public function's arguments (no `parallel`): so a test can hold a
    method to shapes the dispatch gives another one."""
    (v,) = [v for v in kernels.variants(parallel=(parallel,), dtypes=(np.float64,))
            if v.op == op and v.method == method and v.width in (0, 1)]

    def run(X, shift, scale, centers, *args):
        return v(X, shift, scale, centers, *args, *v.method_args(shift, centers))

    return run


def public(function, parallel=False):
    """`function` (a public kernel) with ``parallel`` bound."""
    def run(*args):
        return function(*args, parallel=parallel)

    return run
