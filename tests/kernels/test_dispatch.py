"""The one dispatch (chunkml/kernels/_dispatch.py): the variant chosen per block shape,
dtype and parallel, and every variant of the registry against the plain-numpy reference,
its parallel driver equal to its serial kernel (bit for bit but for the Lloyd sums,
merged chunk by chunk)."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from chunkml import kernels
from chunkml.kernels._config import CHUNK_ROWS
from chunkml.kernels._dispatch import (
    GEMM_MIN_CLUSTERS,
    GEMM_MIN_FEATURES,
    MAX_TILE_FEATURES,
    Variant,
    gemm_rows,
)
from tests import _reference as ref
from tests.kernels._util import RTOL, assert_close, assert_nearest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DENSE = ("lloyd_partial_sums", "assign_labels", "update_mindist_sample")
# The centers moved nowhere: the drift of a bounded Lloyd pass without state.
NO_DRIFT = (np.empty(0, np.int64), np.empty(0), 0.0)


@pytest.mark.parametrize("n_features, n_clusters, method, width", [
    (1, 1, "tiles", 1), (2, 3, "tiles", 2), (3, 40, "tiles", 3), (4, 500, "tiles", 4),
    (5, 1, "rows", 0), (5, 11, "rows", 0), (64, 11, "rows", 0), (5, 12, "gemm", 0),
    (4 + 1, GEMM_MIN_CLUSTERS, "gemm", 0), (128, 1024, "gemm", 0)])
@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_variant_chosen_per_shape_dtype_and_parallel(n_features, n_clusters, method,
                                                          width, parallel, dtype):
    for op in DENSE:
        v = kernels.variant(op, n_features, n_clusters, parallel, dtype)
        assert (v.op, v.method, v.width, v.parallel, v.dtype) == (
            op, method, width, parallel, np.dtype(dtype))
        assert v in kernels.variants()
    # One method only: euclidean_distances row by row, the sparse kernels on CSR.
    v = kernels.variant("euclidean_distances", n_features, n_clusters, parallel, dtype)
    assert (v.method, v.width) == ("rows", 0)
    for op in ("sparse_lloyd_partial_sums", "sparse_assign_labels",
               "sparse_euclidean_distances"):
        assert kernels.variant(op, n_features, n_clusters, parallel).method == "csr"


def test_registry_lists_every_method_width_and_its_own_shape():
    found = kernels.variants()
    assert len(found) == len(set(found))
    for op in DENSE:
        methods = {(v.method, v.width) for v in found if v.op == op}
        assert methods == {("rows", 0), ("gemm", 0)} | {
            ("tiles", w) for w in range(1, MAX_TILE_FEATURES + 1)}
    for v in found:
        # The shape a variant names is one the dispatch gives it.
        assert kernels.variant(v.op, *v.shape(), v.parallel, v.dtype) == v
        assert v.kernel is (kernels.variant(v.op, 1, 1, v.parallel).kernel)
    assert kernels.variant("lloyd_partial_sums", GEMM_MIN_FEATURES - 1,
                           GEMM_MIN_CLUSTERS).method == "tiles"
    assert isinstance(found[0], Variant)


def _data(v, n_samples):
    d, k = v.shape()
    rng = np.random.default_rng(d * 100 + k)
    centers = rng.normal(scale=3.0, size=(k, d))
    X = centers[rng.integers(0, k, n_samples)] + rng.normal(size=(n_samples, d))
    return np.ascontiguousarray(X, dtype=v.dtype), centers


def _run(v, X, centers, w, frame):
    """Run variant v directly; its outputs as a tuple of arrays."""
    n, d = X.shape
    k = centers.shape[0]
    shift, scale = frame
    if v.op in ("lloyd_partial_sums", "bounded_lloyd_partial_sums"):
        out = (np.zeros((k, d)), np.zeros(k), np.zeros((2, d)), np.empty(5),
               np.empty(5, np.int64), np.empty(5, np.int64))
        if v.op == "lloyd_partial_sums":
            inertia = v(X, shift, scale, centers, w, *out, *v.method_args(shift, centers))
        else:  # the first pass: no state, every row compared with every center
            m, _ = kernels.bounds_shape(k)
            inertia, n_compared = v(X, shift, scale, centers, w, *NO_DRIFT,
                                    np.zeros((n, m), np.int32), np.full(n, -np.inf), *out,
                                    gemm_rows(k))
            assert n_compared == n
        order = np.argsort(out[4])  # the far rows, in no guaranteed order
        return (np.array(inertia), *out[:3], *(a[order] for a in out[3:]))
    if v.op == "assign_labels":
        out = (np.empty(n, np.int32), np.empty(n))
    elif v.op == "euclidean_distances":
        out = (np.empty((n, k), X.dtype),)
    else:
        out = (np.full(n, np.inf), np.full(n, -1, np.int64))
        v(X, shift, scale, centers, 3, *out, *v.method_args(shift, centers))
        return out
    v(X, shift, scale, centers, *out, *v.method_args(shift, centers))
    return out


def _check(v, X, centers, w, got):
    """got against the reference on the rows in the frame (shift 1, scale 0.5)."""
    rtol = RTOL[v.dtype.type]
    X_frame = (X.astype(np.float64) - 1.0) * 0.5
    if v.op in ("lloyd_partial_sums", "bounded_lloyd_partial_sums"):
        want = ref.lloyd_partial(X_frame, centers, w, 5)
        assert_close(got[0], want.inertia, v.dtype.type)
        assert_close(got[1], want.sums, v.dtype.type)
        assert_close(got[2], want.weight, v.dtype.type)
        assert_close(got[3][0], ref.moments(X_frame)[0], v.dtype.type)
    elif v.op == "assign_labels":
        assert_nearest(X_frame, centers, got[0], rtol)
        assert_close(got[1], ref.nearest_centers(X_frame, centers)[1], v.dtype.type)
    elif v.op == "euclidean_distances":
        assert_close(got[0], ref.euclidean_distances(X_frame, centers) / 0.5, v.dtype.type)
    else:
        want = ref.kmeans_parallel_round(X_frame, centers, None, None, 0, 0, 0, False, 0)
        assert_close(got[0], want.mindist, v.dtype.type)
        assert_nearest(X_frame, centers, got[1] - 3, rtol)


@pytest.mark.parametrize("v", [v for v in kernels.variants(parallel=(False,))
                               if not v.op.startswith("sparse_")], ids=str)
def test_every_dense_variant_matches_reference_and_its_parallel_driver(v):
    n_samples = 2 * CHUNK_ROWS + 77  # three row chunks in the parallel drivers
    X, centers = _data(v, n_samples)
    w = np.random.default_rng(1).uniform(0.0, 2.0, n_samples)
    frame = (np.ones(X.shape[1]), 0.5)
    serial = _run(v, X, centers, w, frame)
    _check(v, X, centers, w, serial)
    parallel = kernels.variant(v.op, *v.shape(), True, v.dtype)
    for got, want in zip(_run(parallel, X, centers, w, frame), serial, strict=True):
        if v.op.endswith("lloyd_partial_sums") and want.dtype == np.float64:
            # Sums merged chunk by chunk: the same up to the order of the additions.
            np.testing.assert_allclose(got, want, rtol=1e-12)
        else:
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_variants_match_reference_and_parallel_equals_serial(dtype):
    n = 2 * CHUNK_ROWS + 5
    X = sp.random(n, 7, density=0.4, random_state=0, format="csr", dtype=dtype)
    centers = np.random.default_rng(0).uniform(size=(3, 7))
    dense = X.toarray().astype(np.float64) * 0.5
    outs = {}
    for parallel in (False, True):
        sums, weight = np.zeros((3, 7)), np.zeros(3)
        far = (np.empty(2), np.empty(2, np.int64), np.empty(2, np.int64))
        inertia = kernels.sparse_lloyd_partial_sums(
            X.data, X.indices, X.indptr, 0.5, centers, np.empty(0), sums, weight,
            np.zeros((2, 7)), *far, parallel=parallel)
        labels, mindist = np.empty(n, np.int64), np.empty(n)
        kernels.sparse_assign_labels(X.data, X.indices, X.indptr, 0.5, centers, labels,
                                     mindist, parallel=parallel)
        dist = np.empty((n, 3), dtype)
        kernels.sparse_euclidean_distances(X.data, X.indices, X.indptr, 0.5, centers, dist,
                                           parallel=parallel)
        outs[parallel] = (np.array(inertia), sums, weight, labels, mindist, dist)
    for got, want in zip(outs[True], outs[False], strict=True):
        np.testing.assert_array_equal(got, want)
    want = ref.lloyd_partial(dense, centers)
    assert_close(outs[False][0], want.inertia, np.float64)
    assert_close(outs[False][1], want.sums, np.float64)
    assert_nearest(dense, centers, outs[False][3], RTOL[dtype])
    assert_close(outs[False][5], ref.euclidean_distances(dense, centers) / 0.5, dtype)


def test_record_notes_each_call_with_its_argument_types():
    X = np.zeros((3, 2))
    with kernels._dispatch.record() as seen:
        kernels.assign_labels(X, np.zeros(2), 1.0, np.zeros((1, 2)),
                              np.empty(3, np.int32), np.empty(3))
    ((v, types),) = seen
    assert (v.op, v.method, v.width, v.parallel) == ("assign_labels", "tiles", 2, False)
    assert str(types[0]) == "readonly array(float64, 2d, C)" and types[-2].count == 2


def test_read_only_and_writeable_inputs_run_one_compiled_signature():
    """X, the weights and the centers reach the kernel as read-only views whatever their
    flag (numba would compile every variant once more for a read-only memory map); the
    outputs as they are."""
    rng = np.random.default_rng(0)
    X, w, centers = rng.normal(size=(30, 3)), rng.uniform(size=30), rng.normal(size=(2, 3))
    frozen = [a.copy() for a in (X, w, centers)]
    for a in frozen:
        a.flags.writeable = False
    types = []
    for X_, w_, c_ in [(X, w, centers), frozen]:
        out = (np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)), np.empty(2),
               np.empty(2, np.int64), np.empty(2, np.int64))
        with kernels._dispatch.record() as seen:
            kernels.lloyd_partial_sums(X_, np.zeros(3), 1.0, c_, w_, *out)
        ((_, sig),) = seen
        types.append(sig)
        assert all(a.flags.writeable for a in out)
    assert types[0] == types[1]
    sig = types[0]
    assert [sig[i].mutable for i in (0, 1, 3, 4)] == [False] * 4  # X, shift, centers, w
    assert all(sig[i].mutable for i in range(5, 11))  # the outputs
    assert X.flags.writeable and w.flags.writeable  # the caller's arrays untouched


_COMPILED = """
import numpy as np
from numba.core import event
compiled = []
class Seen(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__module__ + "."
                        + ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Seen())
from chunkml import kernels
X = np.random.default_rng(0).normal(size=(300, 2))
centers = X[:5].copy()
shift = np.zeros(2)
kernels.lloyd_partial_sums(X, shift, 1.0, centers, np.empty(0), np.zeros((5, 2)),
                           np.zeros(5), np.zeros((2, 2)), np.zeros(5),
                           np.zeros(5, np.int64), np.zeros(5, np.int64))
kernels.assign_labels(X, shift, 1.0, centers, np.zeros(300, np.int32), np.zeros(300))
kernels.update_mindist_sample(X, shift, 1.0, centers, 0, np.empty(0),
                              np.empty(0, np.int64), np.empty(0), 0, 1, 0, False,
                              np.zeros(300),
                              np.zeros(300, np.int64), np.zeros(3), np.zeros(3, np.int64))
print("\\n".join(sorted(set(compiled))))
"""


def test_a_tiled_block_compiles_no_other_method(tmp_path):
    """numba prunes a branch at compile time only on an argument that is None: the tiled
    variants get gemm_rows=None, so a 2-feature block compiles no matrix-product or
    row-by-row code (half of a seed fit's cold start, before), nor the block kernels
    that branch between the methods."""
    env = dict(os.environ, CHUNKML_NUMBA_CACHE="0", NUMBA_OPT="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", _COMPILED], capture_output=True,
                          text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    compiled = proc.stdout.split()
    for tiled in ("lloyd._lloyd_tiled", "distances._assign_tiled",
                  "sampling._nearest_new_tiled"):
        assert f"chunkml.kernels.{tiled}" in compiled
    others = [name for name in compiled
              if name.startswith("chunkml.kernels._gemm_tile.")
              or name.endswith(("._lloyd_gemm", "._lloyd_rows", "._assign_gemm",
                                "assign_rows", "._nearest_new_gemm", "nearest_new_rows"))]
    assert others == []
    # Nor a numba kernel that branches to the tiled code: the block kernels (Python)
    # enter it directly; a numba one above it compiled it again.
    wrappers = ("lloyd._lloyd_block", "lloyd.lloyd_rows_block", "lloyd._lloyd_rows_block")
    assert [name for name in wrappers if f"chunkml.kernels.{name}" in compiled] == []
