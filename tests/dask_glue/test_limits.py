"""One BLAS thread inside every dask or joblib task that chunkml runs (_limits.py), and the
caller's limits back afterwards."""

import sys
import threading
import types

import dask
import dask.array as da
import joblib
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import chunkml
from chunkml.dask_glue import _limits, _rows
from chunkml.dask_glue._blocks import kernels as block_kernels
from chunkml.dask_glue._rows import NumpyRows

# What the caller allows: more than one thread, so that a task's 1 is the limit's doing.
CALLER_THREADS = 2


def _blas_threads():
    """{library: threads} of the loaded BLAS libraries, as this thread sees them."""
    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas"}


@pytest.fixture
def caller_limit():
    """The caller's BLAS limit set to CALLER_THREADS; checked to be back afterwards."""
    assert _blas_threads(), "no BLAS library loaded"
    with threadpool_limits(limits=CALLER_THREADS, user_api="blas"):
        before = _blas_threads()
        assert set(before.values()) == {CALLER_THREADS}
        yield before
        assert _blas_threads() == before


@pytest.fixture
def seen(monkeypatch):
    """Records (thread, BLAS threads) wherever the sampling kernel or k-means++ runs."""
    records = []
    lock = threading.Lock()

    def recording(func):
        def run(*args, **kwargs):
            with lock:
                records.append((threading.get_ident(), _blas_threads()))
            return func(*args, **kwargs)
        return run

    monkeypatch.setattr(block_kernels, "sample_rows", recording(block_kernels.sample_rows))
    monkeypatch.setattr(_rows, "kmeans_plusplus", recording(_rows.kmeans_plusplus))
    return records


def _X():
    rng = np.random.RandomState(0)
    return rng.normal(size=(2000, 3)) + 5 * rng.randint(0, 4, size=(2000, 1))


def _assert_one_thread_each(records):
    assert records
    for _, threads in records:
        assert set(threads.values()) == {1}, threads


def test_dask_tasks_of_a_fit_have_one_blas_thread(caller_limit, seen):
    Xd = da.from_array(_X(), chunks=(250, 3))
    with dask.config.set(scheduler="threads", num_workers=4):
        chunkml.KMeans(4, init="random", random_state=0, max_iter=3).fit(Xd)
    _assert_one_thread_each(seen)
    assert {thread for thread, _ in seen} != {threading.get_ident()}


def test_joblib_runs_of_a_numpy_fit_have_one_blas_thread(caller_limit, seen):
    with joblib.parallel_backend("threading", n_jobs=2):
        chunkml.KMeans(4, init="k-means++", n_init=3, random_state=0, max_iter=3).fit(_X())
    # Each run's k-means++ (numpy products, outside any block function) and its pass.
    assert sum(1 for thread, _ in seen if thread != threading.get_ident()) >= 6
    _assert_one_thread_each(seen)


def test_a_fit_on_the_callers_thread_keeps_its_blas_threads_outside_blocks(caller_limit,
                                                                           seen):
    chunkml.KMeans(4, init="k-means++", n_init=1, random_state=0, max_iter=3).fit(_X())
    me = threading.get_ident()
    assert {thread for thread, _ in seen} == {me}
    # k-means++ is called once with the rows, its sampling pass was a block function.
    plusplus = [threads for _, threads in seen if set(threads.values()) != {1}]
    assert plusplus == [caller_limit]
    _assert_one_thread_each([r for r in seen if r[1] != caller_limit])


def test_in_memory_block_functions_have_one_blas_thread_on_the_callers_thread(
        caller_limit, seen):
    NumpyRows(_X()).sample(0, 0, 3)
    assert [thread for thread, _ in seen] == [threading.get_ident()]
    _assert_one_thread_each(seen)


def test_limit_restored_after_an_exception(caller_limit):
    @_limits.one_blas_thread
    def fail():
        assert set(_blas_threads().values()) == {1}
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail()
    assert _blas_threads() == caller_limit


def test_nothing_is_set_where_the_limit_holds(monkeypatch):
    calls = []
    set_process_wide = _limits._set_process_wide
    monkeypatch.setattr(_limits, "_set_process_wide",
                        lambda lib, n: calls.append(n) or set_process_wide(lib, n))
    inside = _limits.one_blas_thread(_blas_threads)
    with threadpool_limits(limits=1, user_api="blas"):
        assert set(inside().values()) == {1}
        assert calls == []
    with threadpool_limits(limits=CALLER_THREADS, user_api="blas"):
        assert set(inside().values()) == {1}
        # Each process-wide pool to 1, then back.
        n_libs = len(_blas_threads())
        assert calls == [1] * n_libs + [CALLER_THREADS] * n_libs


def test_the_controller_is_listed_again_only_after_an_import(monkeypatch):
    first = _limits._controller()
    assert _limits._controller() is first
    monkeypatch.setitem(sys.modules, "chunkml_test_imported_module",
                        types.ModuleType("chunkml_test_imported_module"))
    assert _limits._controller() is not first


def test_off_caller_wrapper_limits_only_away_from_the_caller(caller_limit):
    run = _limits.OneBlasThreadOffCaller(_blas_threads)
    assert run() == caller_limit
    out = {}
    worker = threading.Thread(target=lambda: out.update(threads=run()))
    worker.start()
    worker.join()
    assert set(out["threads"].values()) == {1}
    assert run.__name__ == "_blas_threads"
