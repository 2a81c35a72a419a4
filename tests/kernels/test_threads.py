"""The in-memory parallel variants' threads (kernels/_threads.py): every range run once,
errors raised after every range is done, results independent of the number of threads,
a forked child's own pool."""

import multiprocessing
import threading
import time

import numba
import numpy as np
import pytest

from chunkml import kernels
from chunkml.kernels import _threads
from chunkml.kernels._config import CHUNK_ROWS, TILE_ROWS


@pytest.fixture
def threads(monkeypatch):
    """Set the number of threads `run_parts` uses (numba's, per calling thread)."""
    def use(n):
        monkeypatch.setattr(numba, "get_num_threads", lambda: n)
    return use


def _ranges(n_parts):
    seen = []
    lock = threading.Lock()

    def record(first, stop):
        with lock:
            seen.append((first, stop, threading.get_ident()))
    _threads.run_parts(record, n_parts)
    return sorted(seen)


@pytest.mark.parametrize("n_threads", [1, 2, 5])
@pytest.mark.parametrize("n_parts", [0, 1, 2, 7, 300])
def test_run_parts_covers_every_part_once_one_range_per_thread(threads, n_threads, n_parts):
    threads(n_threads)
    seen = _ranges(n_parts)
    assert len(seen) == max(min(n_threads, n_parts), 1)
    assert [s[0] for s in seen] == [0] + [s[1] for s in seen[:-1]]
    assert seen[-1][1] == n_parts
    assert all(first < stop for first, stop, _ in seen) or n_parts == 0
    # The first range runs on the calling thread.
    assert seen[0][2] == threading.get_ident()


def test_run_parts_raises_only_once_every_range_is_done(threads):
    threads(2)
    done = []

    def part(first, stop):
        if first == 0:
            raise ValueError("the calling thread's range failed")
        time.sleep(0.2)
        done.append(first)

    with pytest.raises(ValueError, match="calling thread's range"):
        _threads.run_parts(part, 2)
    assert done == [1]

    def late(first, stop):
        if first == 1:
            raise KeyError("a pool thread's range failed")

    with pytest.raises(KeyError, match="pool thread's range"):
        _threads.run_parts(late, 2)


@pytest.mark.parametrize("align", [1, 16, TILE_ROWS, 131])
@pytest.mark.parametrize("n_rows", [0, 1, CHUNK_ROWS, 3 * CHUNK_ROWS + 5])
def test_over_rows_ranges_start_on_tiles_and_cover_the_rows(threads, align, n_rows):
    threads(3)
    seen = []
    _threads.over_rows(lambda start, stop: seen.append((start, stop)), n_rows, align)
    seen.sort()
    assert seen[0][0] == 0 and seen[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in zip(seen, seen[1:]))
    assert all(start % align == 0 for start, _ in seen)


def _lloyd(X, centers, parallel):
    k, d = centers.shape
    out = (np.zeros((k, d)), np.zeros(k), np.zeros((2, d)), np.empty(5),
           np.empty(5, np.int64), np.empty(5, np.int64))
    inertia = kernels.lloyd_partial_sums(X, np.zeros(d), 1.0, centers, np.empty(0), *out,
                                         parallel=parallel)
    return (np.array(inertia), *out)


@pytest.mark.parametrize("n_features", [2, 7])
def test_parallel_lloyd_same_bits_whatever_the_number_of_threads(threads, n_features):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5 * CHUNK_ROWS + 3, n_features))
    centers = X[:4].copy()
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(_lloyd(X, centers, True))
    for got in results[1:]:
        for a, b in zip(got, results[0], strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(results[0][1], _lloyd(X, centers, False)[1], rtol=1e-12)


def test_concurrent_callers_share_the_pool_and_get_their_own_results(threads):
    threads(2)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3 * CHUNK_ROWS, 3))
    centers = [X[i:i + 3].copy() for i in range(4)]
    alone = [_lloyd(X, c, True) for c in centers]
    together = [None] * len(centers)

    def fit(i):
        together[i] = _lloyd(X, centers[i], True)
    callers = [threading.Thread(target=fit, args=(i,)) for i in range(len(centers))]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    for got, want in zip(together, alone, strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def _in_child(queue):
    queue.put(len(_ranges(4)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork here")
def test_a_forked_child_runs_its_own_pool(threads):
    threads(2)
    assert len(_ranges(4)) == 2  # the parent's pool exists before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == 2


@pytest.mark.parametrize("ring", [1, 2, 4])
@pytest.mark.parametrize("n_threads", [1, 2, 5])
@pytest.mark.parametrize("n_parts", [0, 1, 7, 60])
def test_run_in_order_folds_every_part_once_in_order_within_the_ring(threads, ring,
                                                                     n_threads, n_parts):
    threads(n_threads)
    lock = threading.Lock()
    events = []
    rng = np.random.default_rng(n_parts + 10 * n_threads + 100 * ring)
    delays = rng.uniform(0, 2e-3, n_parts)

    def work(p):
        with lock:
            events.append(("start", p))
        time.sleep(delays[p])  # parts finish out of order
        with lock:
            events.append(("done", p))

    def fold(p):
        with lock:
            events.append(("fold", p))

    _threads.run_in_order(work, fold, n_parts, ring)
    folds = [p for kind, p in events if kind == "fold"]
    assert folds == list(range(n_parts))
    starts = sorted(p for kind, p in events if kind == "start")
    assert starts == list(range(n_parts))
    position = {event: i for i, event in enumerate(events)}
    for p in range(n_parts):
        assert position[("done", p)] < position[("fold", p)]
        if p >= ring:  # its buffer is free only once part p - ring is folded
            assert position[("fold", p - ring)] < position[("start", p)]


@pytest.mark.parametrize("where", ["work", "fold"])
def test_run_in_order_raises_once_every_thread_stopped_and_starts_no_more(threads,
                                                                          where):
    threads(3)
    lock = threading.Lock()
    started, running = [], []

    def work(p):
        with lock:
            started.append(p)
            running.append(p)
        time.sleep(0.05)
        with lock:
            running.remove(p)
        if where == "work" and p == 2:
            raise ValueError("part 2 failed")

    def fold(p):
        if where == "fold" and p == 2:
            raise KeyError("folding part 2 failed")

    with pytest.raises(ValueError if where == "work" else KeyError, match="part 2"):
        _threads.run_in_order(work, fold, 100, 4)
    assert running == []
    # Parts start in order: the three threads had at most the next few under way.
    assert sorted(started) == list(range(len(started))) and len(started) < 10
