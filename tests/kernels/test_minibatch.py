"""The mini-batch kernels against a plain-numpy reference of scikit-learn's update rule."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chunkml.kernels import minibatch_step, minibatch_update
from tests import _reference as ref
from tests.kernels._util import (
    CASES,
    DTYPES,
    RTOL,
    assert_close,
    assert_nearest,
    blocks_and_centers,
    identity,
    make_data,
    make_weight,
    read_only,
    sqnorm,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def minibatch_update_reference(X, sample_weight, labels, centers, weight_sums):
    """(new centers, new weight sums) by the definition, in float64.

    Each center becomes the weighted mean of its old position, weighted by the weight it
    had absorbed, and of its rows in the batch; a center whose batch rows weigh nothing
    stays where it is.
    """
    X = np.asarray(X, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    new_centers = centers.copy()
    new_sums = np.asarray(weight_sums, dtype=np.float64).copy()
    for j in range(centers.shape[0]):
        mask = np.asarray(labels) == j
        batch_weight = w[mask].sum()
        if batch_weight > 0:
            total = new_sums[j] + batch_weight
            new_centers[j] = (centers[j] * new_sums[j]
                              + (w[mask, None] * X[mask]).sum(axis=0)) / total
            new_sums[j] = total
    return new_centers, new_sums


def _weight_sums(n_clusters, kind):
    if kind == "zero":
        return np.zeros(n_clusters)
    # Some centers fresh, the others with history: both branches of the rule.
    sums = np.random.default_rng(3).uniform(1.0, 50.0, size=n_clusters)
    sums[::2] = 0.0
    return sums


def _unit_or(sample_weight):
    return np.empty(0) if sample_weight is None else sample_weight


@pytest.mark.parametrize("history", ["zero", "some"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_update_matches_reference(case, dtype, weighted, history):
    X, centers = make_data(case, dtype)
    n_samples, n_clusters = X.shape[0], centers.shape[0]
    sample_weight = make_weight(n_samples) if weighted else None
    # Arbitrary labels, not nearest ones: the update must follow the labels it is given.
    labels = np.random.default_rng(4).integers(0, n_clusters, size=n_samples)
    weight_sums = _weight_sums(n_clusters, history)
    expected_centers, expected_sums = minibatch_update_reference(
        X, sample_weight, labels, centers, weight_sums)
    X_ro, centers_ro, labels_ro = read_only(X, centers, labels)
    out = np.full_like(centers, np.nan)
    inout = weight_sums.copy()
    minibatch_update(X_ro, *identity(X.shape[1]), _unit_or(sample_weight), labels_ro,
                     centers_ro, inout, out)
    assert_close(out, expected_centers, dtype)
    assert_close(inout, expected_sums, dtype)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_step_matches_reference(case, dtype, weighted):
    X, centers = make_data(case, dtype)
    n_samples, n_clusters = X.shape[0], centers.shape[0]
    sample_weight = make_weight(n_samples) if weighted else None
    weight_sums = _weight_sums(n_clusters, "some")
    out = np.full_like(centers, np.nan)
    labels = np.full(n_samples, -7, dtype=np.int32)
    mindist = np.full(n_samples, np.nan)
    inout = weight_sums.copy()
    X_ro, centers_ro = read_only(X, centers)
    inertia = minibatch_step(X_ro, *identity(X.shape[1]), _unit_or(sample_weight),
                             centers_ro, sqnorm(centers), inout, out, labels, mindist)
    assert_nearest(X, centers, labels, RTOL[dtype])
    _, ref_mindist = ref.nearest_centers(X, centers)
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    # The update follows the kernel's own labels (ties may pick either center).
    expected_centers, expected_sums = minibatch_update_reference(
        X, sample_weight, labels, centers, weight_sums)
    assert_close(mindist, ref.squared_distances(X, centers)[np.arange(n_samples), labels],
                 dtype)
    assert_close(inertia, float(w @ ref_mindist), dtype)
    assert_close(out, expected_centers, dtype)
    assert_close(inout, expected_sums, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_row_batch_changes_nothing(dtype):
    centers = np.random.default_rng(0).normal(size=(3, 2))
    X = np.empty((0, 2), dtype=dtype)
    weight_sums = np.array([0.0, 2.0, 5.0])
    out = np.full_like(centers, np.nan)
    inertia = minibatch_step(X, *identity(2), np.empty(0), centers, sqnorm(centers),
                             weight_sums, out, np.empty(0, dtype=np.int32), np.empty(0))
    assert inertia == 0.0
    np.testing.assert_array_equal(out, centers)
    np.testing.assert_array_equal(weight_sums, [0.0, 2.0, 5.0])


def test_zero_weight_rows_do_not_move_their_center():
    X = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 12.0]])
    centers = np.array([[0.0, 1.0], [10.0, 11.0]])
    weight_sums = np.array([4.0, 0.0])
    out = np.empty_like(centers)
    minibatch_update(X, *identity(2), np.array([0.0, 1.0, 3.0]), np.array([0, 1, 1]),
                     centers, weight_sums, out)
    np.testing.assert_array_equal(out[0], centers[0])
    np.testing.assert_allclose(out[1], [10.0, 11.5])
    np.testing.assert_array_equal(weight_sums, [4.0, 4.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_matches_scikit_learn(dtype):
    """Against scikit-learn's own Cython `_minibatch_update_dense` (a private function,
    so skipped if it moves)."""
    sk = pytest.importorskip("sklearn.cluster._k_means_minibatch")
    X, centers = make_data("generic", dtype)
    sample_weight = make_weight(X.shape[0])
    labels = np.random.default_rng(5).integers(0, centers.shape[0], size=X.shape[0])
    weight_sums = _weight_sums(centers.shape[0], "some")
    sk_centers = np.empty_like(centers, dtype=dtype)
    sk_sums = weight_sums.astype(dtype)
    sk._minibatch_update_dense(X, sample_weight.astype(dtype), centers.astype(dtype),
                               sk_centers, sk_sums, labels.astype(np.int32), 1)
    out = np.empty_like(centers)
    inout = weight_sums.copy()
    minibatch_update(X, *identity(X.shape[1]), sample_weight, labels, centers, inout, out)
    assert_close(out, sk_centers, dtype)
    assert_close(inout, sk_sums, dtype)


@given(blocks_and_centers(), st.booleans(), st.integers(0, 2**31 - 1))
def test_step_property(data, weighted, seed):
    """Weights sums grow by the batch's weight per cluster; centers are convex
    combinations of their old position and their rows."""
    X, centers = data
    dtype = X.dtype.type
    rng = np.random.default_rng(seed)
    n_samples, n_clusters = X.shape[0], centers.shape[0]
    w = rng.uniform(0.0, 3.0, size=n_samples) if weighted else np.empty(0)
    weight_sums = rng.uniform(0.0, 10.0, size=n_clusters)
    out = np.empty_like(centers)
    labels = np.empty(n_samples, dtype=np.int64)
    inout = weight_sums.copy()
    minibatch_step(X, *identity(X.shape[1]), w, centers, sqnorm(centers), inout, out, labels,
                   np.empty(n_samples))
    expected_centers, expected_sums = minibatch_update_reference(
        X, w if weighted else None, labels, centers, weight_sums)
    assert_close(inout, expected_sums, dtype)
    # Tolerance scaled by the data's magnitude: the reference divides a different sum.
    np.testing.assert_allclose(out, expected_centers, rtol=RTOL[dtype],
                               atol=RTOL[dtype] * 100)


def test_kernels_stay_in_bounds(numba_cache_dir):
    """Both kernels on 0-row, 1-row, k=1 and d=1 batches, compiled with bounds checking."""
    cache = numba_cache_dir
    code = (
        "import numpy as np\n"
        "from chunkml.kernels import minibatch_step, minibatch_update\n"
        "for n, d, k in [(0, 3, 2), (1, 1, 1), (3, 2, 5), (6, 2, 1)]:\n"
        "    X = np.arange(n * d, dtype=np.float64).reshape(n, d) % 5\n"
        "    C = np.linspace(0.0, 4.0, k * d).reshape(k, d)\n"
        "    for w in (np.empty(0), np.ones(n)):\n"
        "        ws = np.zeros(k)\n"
        "        f = (np.zeros(d), 1.0)\n"
        "        minibatch_step(X, *f, w, C, (C * C).sum(1), ws, np.empty((k, d)),\n"
        "                       np.empty(n, np.int64), np.empty(n))\n"
        "        minibatch_update(X, *f, w, np.arange(n) % k, C, ws, np.empty((k, d)))\n"
        "print('done')\n")
    # NUMBA_OPT=0: the bounds checks are numba's, inserted before LLVM (test_bounds.py).
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_OPT="0", NUMBA_CACHE_DIR=str(cache),
               CHUNKML_NUMBA_CACHE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["done"], proc.stdout + proc.stderr
