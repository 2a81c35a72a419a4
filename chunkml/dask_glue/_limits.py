"""Inner thread limits: BLAS / OpenMP through threadpoolctl, and numba's thread count.

`one_blas_thread` is chunkml's own rule, for the work it hands to dask and joblib: one
BLAS thread inside every task (see its docstring). `thread_budget` and
`limit_this_thread` are the joblib backend's and `setup_workers`' per-task budgets.

Two kinds of limit, set differently:

- per thread: OpenMP's ``omp_set_num_threads`` (also OpenBLAS built on OpenMP) and
  ``numba.set_num_threads`` change the calling thread only, so each task sets and restores
  its own;
- per process: OpenBLAS (pthreads), MKL and BLIS keep one pool for the whole process, shared
  by every dask thread of a worker (and by every worker of an in-process Client). A task
  that restored the value it found on entry would undo the limit of a task still running,
  so `_ProcessPools` counts the budgets in force, applies the smallest and restores the
  original values when the last one ends.

threadpoolctl lists the libraries loaded when it is called; the limits are set again,
and the libraries listed again, whenever modules were imported since (a task's first
import of scikit-learn loads its OpenMP runtime). Listing them scans every loaded shared
library, too slow to repeat for every task: one controller is kept until then.
"""

import functools
import numbers
import os
import sys
import threading
from collections import Counter
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController


def _is_per_thread(lib):
    return lib.user_api == "openmp" or getattr(lib, "threading_layer", None) == "openmp"


def _set_process_wide(lib, n_threads):
    # threadpoolctl lets one thread at a time set a process-wide OpenBLAS limit (calls from
    # any other thread are dropped); _ProcessPools serialises every change, so it takes
    # control for the call and hands it back.
    clear = getattr(type(lib), "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)
    lib.set_num_threads(n_threads)
    if clear is not None:
        clear()


class _ProcessPools:
    """The process-wide thread pools, shared by concurrent budgets (one per process)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._budgets = Counter()
        # filepath -> (controller, the limit to go back to when no budget is in force)
        self._saved = {}
        self._baseline = None

    def _apply(self, libs, n_threads):
        for lib in libs:
            if lib.filepath not in self._saved:
                original = lib.num_threads if self._baseline is None else self._baseline
                self._saved[lib.filepath] = (lib, original)
            if lib.num_threads != n_threads:
                _set_process_wide(lib, n_threads)

    def enter(self, libs, n_threads):
        with self._lock:
            self._budgets[n_threads] += 1
            self._apply(libs, min(self._budgets))

    def exit(self, n_threads):
        with self._lock:
            self._budgets[n_threads] -= 1
            if not self._budgets[n_threads]:
                del self._budgets[n_threads]
            if self._budgets:
                self._apply([lib for lib, _ in self._saved.values()], min(self._budgets))
                return
            for lib, original in self._saved.values():
                if lib.num_threads != original:
                    _set_process_wide(lib, original)
            self._saved.clear()

    def set_baseline(self, libs, n_threads):
        """Make `n_threads` the value outside budgets, now or when the budgets end."""
        with self._lock:
            self._baseline = n_threads
            for lib in libs:
                if self._budgets:
                    self._saved[lib.filepath] = (lib, n_threads)
                elif lib.num_threads != n_threads:
                    _set_process_wide(lib, n_threads)


_POOLS = _ProcessPools()


# (len(sys.modules) when it was made, the controller of the libraries loaded then).
_CONTROLLER = (-1, None)


def _controller():
    """A ThreadpoolController of the loaded libraries, made again only when modules were
    imported since the last one (threads racing here at worst make one each)."""
    global _CONTROLLER
    n_modules, controller = _CONTROLLER
    if n_modules != len(sys.modules):
        n_modules = len(sys.modules)  # before the scan: an import during it is seen next time
        controller = ThreadpoolController()
        _CONTROLLER = (n_modules, controller)
    return controller


def _libraries(user_api=None):
    """(per-thread, process-wide) threadpoolctl controllers of the loaded libraries (of
    one user_api, "blas" or "openmp", or all)."""
    libs = [lib for lib in _controller().lib_controllers
            if user_api is None or lib.user_api == user_api]
    per_thread = [lib for lib in libs if _is_per_thread(lib)]
    return per_thread, [lib for lib in libs if not _is_per_thread(lib)]


def _numba_threads(n_threads):
    return max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS))


@contextmanager
def thread_budget(n_threads):
    """Limit the calling thread's BLAS, OpenMP and numba threads to `n_threads`.

    Restores what it found on exit, also on an exception. Process-wide pools (OpenBLAS
    without OpenMP, MKL, BLIS) get the smallest budget in force in the process and their
    original limit back when the last budget ends. numba's count is capped at
    ``numba.config.NUMBA_NUM_THREADS``, the most it can use.

    Parameters
    ----------
    n_threads : int
        Threads each library may use, at least 1.
    """
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int, got {n_threads!r}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    n_threads = int(n_threads)
    # First: it starts numba's threading layer, which may load an OpenMP runtime that the
    # scan must see.
    saved_numba = numba.get_num_threads()
    per_thread, process_wide = _libraries()
    saved = [(lib, lib.num_threads) for lib in per_thread]
    _POOLS.enter(process_wide, n_threads)
    try:
        for lib, _ in saved:
            lib.set_num_threads(n_threads)
        numba.set_num_threads(_numba_threads(n_threads))
        yield
    finally:
        numba.set_num_threads(saved_numba)
        for lib, original in saved:
            lib.set_num_threads(original)
        _POOLS.exit(n_threads)


_THREAD = threading.local()


def limit_this_thread(n_threads):
    """Set this thread's limits to `n_threads` (and the process-wide pools' value outside
    budgets), unless already done with no module imported since; for worker threads,
    cheap enough to call before every task."""
    if getattr(_THREAD, "seen", None) == (n_threads, len(sys.modules)):
        return
    numba.set_num_threads(_numba_threads(n_threads))  # first, as in thread_budget
    per_thread, process_wide = _libraries()
    for lib in per_thread:
        lib.set_num_threads(n_threads)
    _POOLS.set_baseline(process_wide, n_threads)
    _THREAD.seen = (n_threads, len(sys.modules))


@contextmanager
def _one_blas_thread():
    per_thread, process_wide = _libraries("blas")
    changed = [(lib, lib.num_threads) for lib in per_thread if lib.num_threads != 1]
    for lib, _ in changed:
        lib.set_num_threads(1)
    # Entered even when the pools hold 1 already: a budget ending meanwhile elsewhere must
    # not raise them under this task (entering sets nothing that holds already).
    if process_wide:
        _POOLS.enter(process_wide, 1)
    try:
        yield
    finally:
        if process_wide:
            _POOLS.exit(1)
        for lib, original in changed:
            lib.set_num_threads(original)


def one_blas_thread(func):
    """Run `func` with one BLAS thread, whatever the vendor (OpenBLAS, MKL, BLIS).

    chunkml's rule: inside every dask or joblib task that chunkml runs, BLAS uses one
    thread. The task already runs beside others (dask's threads, joblib's workers), and
    its BLAS calls are either the gemm kernels' small products (OpenBLAS keeps them on
    the calling thread, MKL and BLIS need not) or in-memory k-means++'s products. Block
    functions (_blocks.py) always run under it, also when an in-memory pass calls them on
    the caller's thread: they then run the kernels' parallel variants, whose threads
    must not each start a BLAS pool, or small serial passes. Only in-memory work that runs
    on the caller's thread outside any parallel kernel (k-means++ and the driver of a
    numpy fit made there: n_init=1 or joblib's sequential backend) keeps the caller's
    BLAS threads: see `OneBlasThreadOffCaller`.

    The limit is set only where it does not hold already; the caller's limits come back
    when the call returns or raises (process-wide pools, shared with concurrent tasks:
    when the last budget in force in the process ends, see `_ProcessPools`). Per-thread
    pools (OpenBLAS built on OpenMP) are set in the calling thread only.
    """
    @functools.wraps(func)
    def limited(*args, **kwargs):
        with _one_blas_thread():
            return func(*args, **kwargs)
    return limited


class OneBlasThreadOffCaller:
    """`func` with one BLAS thread wherever it runs but on the thread that wrapped it.

    For the runs that joblib executes: its sequential backend calls them on the caller's
    thread, one at a time, where all BLAS threads are the caller's to use; any other
    backend runs them in its worker threads or processes, side by side, where each gets
    one (`one_blas_thread`). Picklable when `func` is (for process and dask backends).
    """

    def __init__(self, func):
        self.func = func
        self.caller = (os.getpid(), threading.get_ident())
        functools.update_wrapper(self, func)

    def __call__(self, *args, **kwargs):
        if (os.getpid(), threading.get_ident()) == self.caller:
            return self.func(*args, **kwargs)
        with _one_blas_thread():
            return self.func(*args, **kwargs)
