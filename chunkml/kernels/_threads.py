"""How the in-memory parallel variants run: serial nogil kernels on Python threads.

Each ``*_parallel`` variant splits X's rows into fixed parts and runs a serial kernel on
contiguous ranges of them, one range per thread, the first on the calling thread, the
others on a pool kept for the process. The kernels release the GIL, so the ranges run
side by side; the number of threads is numba's (`numba.get_num_threads`, which
``NUMBA_NUM_THREADS`` and `numba.set_num_threads` set), and no result depends on it:
the row-wise operations start every range on a tile boundary of the serial kernel (their
results equal the serial kernel's bit for bit), and the Lloyd steps keep one partial per
fixed chunk, merged in chunk order (`run_parts`), or, where a partial per chunk would
take too much memory, a ring of them folded in chunk order as the chunks finish
(`run_in_order`): the same sums, bit for bit.

Not numba's ``prange``: a prange driver is compiled as a function of its own (its own
time, callees apart, in a fresh process with an empty cache: the Lloyd step's 4.5 s, the
assignment's 1.4 s; the chunk loop and merge that replace them here 1.1 s each), and
runs on numba's threading layer, whose workqueue layer is not safe for concurrent
callers and whose GNU OpenMP layer is not safe after a fork (numba's docs). Pass
times measured the same (2-core AMD EPYC, min of 15, prange vs threads: 1M x 2 k=3
9.1 vs 9.6 ms, 1M x 8 k=5 11.1 vs 11.4 ms, 2M x 32 k=16 62-83 vs 62-81 ms; 0.2 ms more
at 65,536 rows).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba

from ._config import CHUNK_ROWS

_lock = threading.Lock()
_pool = {}  # pid -> executor: a forked child starts a pool of its own


def _executor():
    with _lock:
        pool = _pool.get(os.getpid())
        if pool is None:
            _pool.clear()
            pool = _pool[os.getpid()] = ThreadPoolExecutor(
                max(numba.config.NUMBA_NUM_THREADS - 1, 1),
                thread_name_prefix="chunkml-kernels")
        return pool


def run_parts(func, n_parts):
    """Call ``func(first, stop)`` on contiguous ranges covering parts 0..n_parts, at most
    one range per thread (`numba.get_num_threads`), the first on the calling thread;
    return when every range is done, raising the first error."""
    n_threads = max(min(numba.get_num_threads(), n_parts), 1)
    bounds = [n_parts * t // n_threads for t in range(n_threads + 1)]
    if n_threads == 1:
        func(0, n_parts)
        return
    pool = _executor()
    futures = [pool.submit(func, bounds[t], bounds[t + 1]) for t in range(1, n_threads)]
    try:
        func(bounds[0], bounds[1])
    finally:
        wait(futures)  # the other ranges write into the caller's buffers: never leave early
    for future in futures:
        future.result()


def over_rows(func, n_rows, align):
    """Call ``func(start, stop)`` on row ranges covering n_rows rows, in parallel, each
    range starting at a multiple of `align` rows (the serial kernel's tile) and holding
    about CHUNK_ROWS rows or more; once, with (0, 0), when there are no rows."""
    rows = -(-CHUNK_ROWS // align) * align
    n_parts = max(-(-n_rows // rows), 1)
    run_parts(lambda first, stop: func(first * rows, min(stop * rows, n_rows)), n_parts)


def run_in_order(work, fold, n_parts, ring):
    """Call ``work(p)`` for every part p on the threads (the next part to whichever thread
    is free), and ``fold(p)`` once work(p) is done, in part order, one fold at a time.
    work(p) starts only after fold(p - ring), so that parts may share `ring` buffers,
    part p the buffer p % ring. Returns when every thread has stopped, raising the first
    error (no part starts after it).

    No thread waits but for a buffer: the lowest part not yet done never waits, and
    whoever finishes the lowest part folds it and every finished part after it.
    """
    n_threads = max(min(numba.get_num_threads(), n_parts), 1)
    cond = threading.Condition()
    state = {"next": 0, "folded": 0, "ready": set(), "folding": False, "error": None}

    def fail(exc):
        with cond:
            if state["error"] is None:
                state["error"] = exc
            cond.notify_all()

    def fold_ready():
        # With cond held: fold the finished parts from the lowest on, unless a thread
        # is folding already (it folds these too before it stops).
        if state["folding"]:
            return
        state["folding"] = True
        try:
            while state["folded"] in state["ready"] and state["error"] is None:
                part = state["folded"]
                cond.release()
                try:
                    fold(part)
                finally:
                    cond.acquire()
                state["ready"].discard(part)
                state["folded"] += 1
                cond.notify_all()
        finally:
            state["folding"] = False

    def loop():
        while True:
            with cond:
                part = state["next"]
                if part >= n_parts or state["error"] is not None:
                    return
                state["next"] += 1
                while state["folded"] <= part - ring and state["error"] is None:
                    cond.wait()
                if state["error"] is not None:
                    return
            try:
                work(part)
                with cond:
                    state["ready"].add(part)
                    fold_ready()
            except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
                fail(exc)
                return

    if n_threads == 1:
        loop()
    else:
        futures = [_executor().submit(loop) for _ in range(n_threads - 1)]
        try:
            loop()
        finally:
            wait(futures)  # every thread writes into the caller's buffers
    if state["error"] is not None:
        raise state["error"]
