"""warm_up calls every serial variant a dask fit calls (dense or CSR), with the same argument
types.

Both sides are recorded at the registry (`kernels._dispatch.record`), not read from the
dispatchers' compiled signatures: so the test fails when warm_up misses a variant even
if earlier tests compiled it.
"""

import dask
import dask.array as da
import numpy as np
import pytest

import chunkml
from chunkml import kernels
from chunkml.kernels._dispatch import record
from chunkml.kernels.minibatch import minibatch_step
from chunkml.kernels.sampling import key_rows, sample_rows, start_round

# (n_features, n_clusters): every tile width, row by row, matrix products
SHAPES = [(1, 3), (2, 3), (3, 4), (4, 2), (6, 3), (8, 16)]


@pytest.fixture(scope="module")
def warmed():
    with record() as seen:
        kernels.warm_up()
    return seen


def test_warm_up_calls_every_serial_variant_for_both_dtypes(warmed):
    assert {v for v, _ in warmed} == set(kernels.variants(parallel=(False,)))
    for dispatcher in (sample_rows, minibatch_step):
        assert {np.dtype(str(sig[0].dtype)) for sig in dispatcher.signatures} >= {
            np.dtype(np.float32), np.dtype(np.float64)}, dispatcher
    assert key_rows.signatures and start_round.signatures


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_warm_up_covers_every_variant_a_dask_fit_calls(warmed, dtype):
    rng = np.random.default_rng(0)
    with record() as fitted, dask.config.set(scheduler="sync"):
        for n_features, n_clusters in SHAPES:
            X = da.from_array(rng.normal(size=(300, n_features)).astype(dtype), chunks=110)
            km = chunkml.KMeans(n_clusters, max_iter=3, random_state=0).fit(X)
            km.predict(X).compute()
            km.transform(X).compute()
            km.score(X)
    assert fitted
    assert all(not v.parallel for v, _ in fitted)
    missing = fitted - warmed
    assert not missing, sorted(map(str, missing))


# The CSR kernels and the moments' merge that a fit calls as plain numba functions (the
# other CSR operations are registry variants, recorded as the dense ones are).
DIRECT = ("sparse_has_duplicates", "sparse_block_stats", "sparse_gather_rows",
          "sparse_update_mindist_sample", "sparse_minibatch_step", "merge_moments")


def _record_direct(monkeypatch, module, calls, names=DIRECT):
    """Replace module's kernels `names` by recorders of (name, numba argument types)."""
    from numba import typeof

    for name in names:
        if hasattr(module, name):
            def recorder(*args, _kernel=getattr(module, name), _name=name):
                calls.add((_name, tuple(typeof(a) for a in args)))
                return _kernel(*args)
            monkeypatch.setattr(module, name, recorder)


def _unsorted(block):
    """The CSR block with each row's columns in reverse order (not canonical: the fit
    checks it for duplicates)."""
    block = block.copy()
    for i in range(block.shape[0]):
        row = slice(block.indptr[i], block.indptr[i + 1])
        block.indices[row], block.data[row] = block.indices[row][::-1], block.data[row][::-1]
    block.has_sorted_indices = False
    return block


def test_warm_up_covers_every_kernel_a_sparse_dask_fit_calls(monkeypatch):
    import scipy.sparse as sp

    from chunkml.dask_glue import _partials
    from chunkml.kernels import _warm

    warmed_direct, fitted_direct = set(), set()
    for module in (_warm, kernels.sparse):  # warm_up calls csr.sparse_*, merge_moments
        _record_direct(monkeypatch, module, warmed_direct)
    with record() as warmed:
        kernels.warm_up(widths=(2,))
    for module in (kernels, _partials):
        _record_direct(monkeypatch, module, fitted_direct)
    rng = np.random.default_rng(0)
    with record() as fitted, dask.config.set(scheduler="sync"):
        for dtype in (np.float32, np.float64):
            dense = rng.uniform(size=(300, 6)) * (rng.uniform(size=(300, 6)) < 0.4)
            X = da.from_array(sp.csr_matrix(dense.astype(dtype)), chunks=110,
                              asarray=False).map_blocks(
                _unsorted, dtype=dtype, meta=sp.csr_matrix((0, 0), dtype=dtype))
            for init in ("k-means||", "k-means++", "random", dense[:3]):
                km = chunkml.KMeans(3, init=init, n_init=1, max_iter=3,
                                    random_state=0).fit(X)
            km.predict(X).compute()
            km.transform(X).compute()
            km.score(X)
            chunkml.MiniBatchKMeans(3, batch_size=50, max_iter=2, random_state=0).fit(X)
    sparse_fitted = {(v, t) for v, t in fitted if v.op.startswith("sparse_")}
    assert sparse_fitted and {n for n, _ in fitted_direct} == set(DIRECT)
    missing = (sparse_fitted - warmed) | (fitted_direct - warmed_direct)
    assert not missing, sorted(map(str, missing))


def test_warm_up_parallel_compiles_what_an_in_memory_fit_adds():
    """With parallel=True, warm_up runs the parallel variants (Python drivers over the
    serial kernels), which compiles the Lloyd steps' chunk loop and merge too; an
    in-memory fit of as many rows as the parallel variants take then records no variant
    that warm_up did not."""
    from chunkml.dask_glue._rows import PARALLEL_MIN_ROWS
    from chunkml.kernels.lloyd import lloyd_chunks, lloyd_merge
    from chunkml.kernels.sparse import _accumulate

    with record() as warmed:
        kernels.warm_up(dtypes=(np.float64,), widths=(2,), parallel=True)
    # Tiles of 2 features, the one method of euclidean_distances, the CSR kernels.
    assert {(v.op, v.method, v.width) for v, _ in warmed if v.parallel} == {
        (v.op, v.method, v.width) for v in kernels.variants(parallel=(True,))
        if v.width == 2 or v.op.startswith("sparse_") or v.op == "euclidean_distances"}
    for dispatcher in (lloyd_chunks, lloyd_merge, _accumulate):
        assert dispatcher.signatures, dispatcher
    X = np.random.default_rng(0).normal(size=(PARALLEL_MIN_ROWS, 2))
    with record() as fitted:
        km = chunkml.KMeans(3, n_init=1, max_iter=2, random_state=0).fit(X)
        km.predict(X)
        km.transform(X)
    assert any(v.parallel for v, _ in fitted)
    missing = fitted - warmed
    assert not missing, sorted(map(str, missing))


def _read_only(block):
    block = block.view()
    block.flags.writeable = False
    return block


def test_warm_up_covers_the_first_pass_and_minibatch_on_read_only_blocks(monkeypatch):
    """The kernels a fit calls outside the registry (the first pass, the mini-batch
    step) read their inputs through read-only views too: a fit on read-only blocks (a
    memory-mapped file's) runs the signatures warm_up compiled, not new ones."""
    from numba import typeof

    from chunkml.kernels import minibatch, sampling

    calls = {"warm_up": set(), "fit": set()}
    phase = ["warm_up"]
    for module, name in ((sampling, "sample_rows"), (minibatch, "minibatch_step")):
        def recorder(*args, _kernel=getattr(module, name), _name=name):
            calls[phase[0]].add((_name, tuple(typeof(a) for a in args)))
            return _kernel(*args)
        monkeypatch.setattr(module, name, recorder)
    kernels.warm_up(dtypes=(np.float64,), widths=(3,), sparse=False)
    phase[0] = "fit"
    X = da.from_array(np.random.default_rng(0).normal(size=(300, 3)),
                      chunks=110).map_blocks(_read_only, dtype=np.float64)
    with dask.config.set(scheduler="sync"):
        chunkml.KMeans(3, n_init=1, max_iter=2, random_state=0).fit(X)
        chunkml.MiniBatchKMeans(3, batch_size=50, max_iter=2, random_state=0).fit(X)
    assert {name for name, _ in calls["fit"]} == {"sample_rows", "minibatch_step"}
    missing = calls["fit"] - calls["warm_up"]
    assert not missing, sorted(map(str, missing))


def test_warm_up_compiles_greedy_kmeanspp_as_fits_call_it(monkeypatch):
    # The k-means|| recluster runs it on float64 candidates whatever X's dtype; k-means++
    # on numpy X on X itself. (Small ones run in numpy: not here.)
    from chunkml.dask_glue import kmeanspp

    monkeypatch.setattr(kmeanspp, "NUMPY_MAX_WORK", 0)
    calls = set()
    _record_direct(monkeypatch, kernels.kmeanspp, calls, names=("_start", "_gains", "_add"))
    kernels.warm_up(dtypes=(np.float32,), widths=(2,), sparse=False)
    warmed = set(calls)
    assert {name for name, _ in warmed} == {"_start", "_gains", "_add"}
    calls.clear()
    X = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
    with dask.config.set(scheduler="sync"):
        chunkml.KMeans(3, max_iter=2, random_state=0).fit(da.from_array(X, chunks=110))
    chunkml.KMeans(3, init="k-means++", max_iter=2, random_state=0).fit(X)
    assert calls and not calls - warmed, sorted(map(str, calls - warmed))
