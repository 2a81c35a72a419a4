"""Larger than memory: KMeans on an on-disk zarr array several times a worker's memory.

X is read from disk by every Lloyd iteration and never persisted. A LocalCluster of one
worker process whose memory_limit is half of X must finish the fit without killing,
restarting, pausing or spilling its worker, with the centers of an in-memory fit; labels_
go straight back to disk.

Run as a script for the numbers in docs/out-of-core.md (peak resident memory of every
process, seconds per pass against the disk read rate):

    python -m tests.dask_glue.test_out_of_core --gib 1.5 --memory-limit 512MiB
"""

import argparse
import contextlib
import logging
import os
import pathlib
import sys
import tempfile
import threading
import time

import cloudpickle
import dask
import dask.array as da
import numpy as np
import psutil
import pytest
from distributed import Client, LocalCluster

import chunkml

# The functions run on the workers travel by value: workers need not import tests/.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

N_FEATURES = 8
N_CLUSTERS = 5
CHUNK_ROWS = 131_072  # 8 MiB blocks of float64
MiB = 2**20

# A worker process holds ~200 MiB before any data (python, numpy, numba, dask,
# distributed; chunkml's block functions import no scikit-learn): its memory_limit must
# leave room above that for the blocks in flight, and pause (at 80% of the limit) must
# not be hit.
MEMORY_LIMIT = "384MiB"
# X is RATIO times the memory_limit: 768 MiB, the worker's limit half of X, enough to
# make the point (no block kept, no spilling, peak memory a small fraction of X) while
# the test stays within tens of seconds on two cores: each MiniBatch pass on the
# cluster takes ~25 ms per MiB of X there.
RATIO = 2
MAX_ITER = 2


def _blob_centers():
    return np.random.default_rng(0).normal(scale=10.0, size=(N_CLUSTERS, N_FEATURES))


def write_blobs(path, n_rows, chunk_rows=CHUNK_ROWS, seed=0):
    """A zarr array of Gaussian blobs written chunk by chunk (never whole in memory)."""
    import zarr

    centers = _blob_centers()
    z = zarr.create_array(store=str(path), shape=(n_rows, N_FEATURES),
                          chunks=(chunk_rows, N_FEATURES), dtype="float64",
                          compressors=None, overwrite=True)
    # One block of noise, shifted differently in each chunk: normal draws for all of X
    # would take most of the test's time.
    noise = np.random.default_rng(seed).normal(scale=2.0, size=(chunk_rows, N_FEATURES))
    for i, start in enumerate(range(0, n_rows, chunk_rows)):
        stop = min(start + chunk_rows, n_rows)
        rng = np.random.default_rng([seed, i])
        labels = rng.integers(0, N_CLUSTERS, size=stop - start)
        shift = int(rng.integers(chunk_rows))
        z[start:stop] = centers[labels] + np.roll(noise, shift, axis=0)[:stop - start]
    return z


def initial_centers(path):
    """Explicit initial centers: rows of the first block (the same for both fits)."""
    import zarr

    return np.asarray(zarr.open_array(str(path), mode="r")[:N_CLUSTERS * 50:50])


class PeakRSS:
    """Samples the resident memory of this process and all its descendants."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.peak = {}
        self.names = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            for proc in [me] + me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss = proc.memory_info().rss
                    self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), rss)
                    self.names.setdefault(proc.pid, " ".join(proc.cmdline())[:200])
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _worker_state(dask_worker):
    """(pid, resident bytes, bytes spilled to disk so far, status) of a worker."""
    spilled = getattr(dask_worker.data, "spilled_total", None)
    return (os.getpid(), psutil.Process().memory_info().rss,
            0 if spilled is None else spilled.disk, str(dask_worker.status))


def _warm_numba_cache():
    # The worker loads the compiled kernels from numba's on-disk cache instead of
    # compiling them (which would cost it ~100 MiB on top of its memory), and imports no
    # estimator (scikit-learn would cost ~110 MiB more). Only the fits' kernels: dense
    # float64 X of N_FEATURES features.
    chunkml.kernels.warm_up(dtypes=(np.float64,), widths=(N_FEATURES,), sparse=False)


@contextlib.contextmanager
def local_cluster(memory_limit=MEMORY_LIMIT, n_workers=1, threads_per_worker=2):
    """A LocalCluster of worker processes with the kernels loaded; yields its Client."""
    _warm_numba_cache()
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                      processes=True, memory_limit=memory_limit, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(_warm_numba_cache)
        yield client


def measured(client, work):
    """Run work() on the client's cluster; returns a report of time and memory."""
    idle = client.run(_worker_state)
    logs_before = client.get_worker_logs()
    with PeakRSS() as rss, dask.config.set(scheduler="dask.distributed"):
        start = time.perf_counter()
        result = work()
        end = time.perf_counter()
    logs = client.get_worker_logs()
    new_logs = {a: lines[len(logs_before.get(a, [])):] for a, lines in logs.items()}
    return {"result": result, "seconds": end - start, "end": end, "idle": idle,
            "after": client.run(_worker_state), "logs": new_logs,
            "n_workers": len(client.scheduler_info()["workers"]), "peak": rss.peak,
            "names": rss.names}


def _memory_events(logs):
    words = ("pausing", "spill", "exceeded", "restart", "killed", "terminat")
    return [msg for lines in logs.values() for _, msg in lines
            if any(w in msg.lower() for w in words)]


def assert_memory_bounded(report, x_bytes, limit):
    """No worker killed, restarted, paused or spilling; each worker's peak resident memory
    within its limit and less than a sixth of X above its idle footprint."""
    assert [s[0] for s in report["after"].values()] == [
        s[0] for s in report["idle"].values()], "a worker was restarted"
    assert report["n_workers"] == len(report["idle"])
    assert all(s[2] == 0 for s in report["after"].values()), report["after"]
    assert all("running" in s[3].lower() for s in report["after"].values())
    assert _memory_events(report["logs"]) == []
    for address, (pid, idle_rss, _, _) in report["idle"].items():
        assert report["peak"][pid] < limit, (address, report["peak"][pid])
        assert report["peak"][pid] - idle_rss < x_bytes / 6, (address, report["peak"][pid])


@pytest.fixture(scope="module")
def zarr_blobs(tmp_path_factory):
    """(path, initial centers) of an on-disk X, RATIO times the workers' memory_limit."""
    pytest.importorskip("zarr")
    path = tmp_path_factory.mktemp("out_of_core") / "X.zarr"
    n_rows = RATIO * dask.utils.parse_bytes(MEMORY_LIMIT) // (8 * N_FEATURES)
    write_blobs(path, n_rows)
    return path, initial_centers(path)


@pytest.fixture(scope="module")
def small_cluster():
    with local_cluster() as client:
        yield client


def test_kmeans_on_zarr_larger_than_the_worker_memory_limit(zarr_blobs, small_cluster,
                                                           tmp_path):
    import zarr

    path, init = zarr_blobs
    limit = dask.utils.parse_bytes(MEMORY_LIMIT)
    X = da.from_zarr(str(path))
    assert X.nbytes >= RATIO * limit

    def fit_and_write_labels():
        km = chunkml.KMeans(N_CLUSTERS, init=init, max_iter=MAX_ITER, tol=0).fit(X)
        km.labels_.to_zarr(str(tmp_path / "labels.zarr"))
        return km

    report = measured(small_cluster, fit_and_write_labels)
    assert_memory_bounded(report, X.nbytes, limit)
    km = report["result"]
    assert km.n_iter_ == MAX_ITER
    # The same centers, inertia and labels as an in-memory fit of the same data.
    X_memory = np.asarray(zarr.open_array(str(path), mode="r")[:])
    ref = chunkml.KMeans(N_CLUSTERS, init=init, max_iter=MAX_ITER, tol=0).fit(X_memory)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-7)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-7)
    labels = np.asarray(zarr.open_array(str(tmp_path / "labels.zarr"), mode="r")[:])
    np.testing.assert_array_equal(labels, ref.labels_)


def test_minibatch_kmeans_on_zarr_larger_than_the_worker_memory_limit(zarr_blobs,
                                                                     small_cluster):
    path, _ = zarr_blobs
    limit = dask.utils.parse_bytes(MEMORY_LIMIT)
    X = da.from_zarr(str(path))
    # One whole pass: no early stopping.
    params = {"n_clusters": N_CLUSTERS, "batch_size": 4096, "max_iter": 1,
              "max_no_improvement": None, "random_state": 0}
    report = measured(small_cluster, lambda: chunkml.MiniBatchKMeans(**params).fit(X))
    assert_memory_bounded(report, X.nbytes, limit)
    km = report["result"]
    assert isinstance(km.labels_, da.Array)
    # The same steps over the same blocks in this process, on dask's threads.
    with dask.config.set(scheduler="threads"):
        ref = chunkml.MiniBatchKMeans(**params).fit(X)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-12)
    assert km.n_steps_ == ref.n_steps_
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9)


def _evict(path):
    """Drop the files of a zarr array from the page cache (those files only)."""
    for file in pathlib.Path(path).rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _read_rate(path, cold):
    """Bytes per second of reading every chunk of the zarr array once, in one thread;
    `cold`: from disk (the files evicted from the page cache first)."""
    import zarr

    if cold:
        _evict(path)
    z = zarr.open_array(str(path), mode="r")
    start = time.perf_counter()
    total = 0
    for first in range(0, z.shape[0], z.chunks[0]):
        total += z[first:first + z.chunks[0]].nbytes
    return total / (time.perf_counter() - start)


class _IterationClock(logging.Handler):
    """Times of chunkml's DEBUG line at the end of each Lloyd iteration."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.times = []

    def emit(self, record):
        if record.getMessage().startswith("Lloyd iteration"):
            self.times.append(time.perf_counter())


def _print_memory(report):
    workers = {s[0]: (s, report["idle"][a]) for a, s in report["after"].items()}
    for pid, peak in sorted(report["peak"].items()):
        if pid in workers:
            after, idle = workers[pid]
            role = (f"worker (idle {idle[1] / MiB:.0f} MiB, spilled {after[2]} B, "
                    f"{after[3]})")
        elif pid == os.getpid():
            role = "client + scheduler + nanny"
        elif "resource_tracker" in report["names"][pid]:
            role = "multiprocessing resource tracker"
        else:
            role = report["names"][pid]
        print(f"  pid {pid}: peak RSS {peak / MiB:.0f} MiB  {role}")
    print("  memory events in worker logs:", _memory_events(report["logs"]) or "none")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=RATIO / 2, help="size of X in GiB")
    parser.add_argument("--memory-limit", default=MEMORY_LIMIT)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=MAX_ITER)
    parser.add_argument("--dir", default=None, help="where to write X (default: tmp)")
    parser.add_argument("--cold", action="store_true",
                        help="evict X from the page cache before each fit")
    parser.add_argument("--minibatch", action="store_true",
                        help="also one pass of MiniBatchKMeans(batch_size=4096)")
    args = parser.parse_args()
    clock = _IterationClock()
    logger = logging.getLogger("chunkml")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(clock)
    limit = dask.utils.parse_bytes(args.memory_limit)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = pathlib.Path(tmp) / "X.zarr"
        n_rows = int(args.gib * 2**30) // (8 * N_FEATURES)
        start = time.perf_counter()
        write_blobs(path, n_rows)
        write_seconds = time.perf_counter() - start
        cold_rate = _read_rate(path, cold=True)
        warm_rate = _read_rate(path, cold=False)
        init = initial_centers(path)
        X = da.from_zarr(str(path))
        print(f"X: {X.nbytes / 2**30:.2f} GiB float64 ({n_rows} x {N_FEATURES}), "
              f"{X.numblocks[0]} blocks of {CHUNK_ROWS * N_FEATURES * 8 / MiB:.0f} MiB; "
              f"{args.workers} worker(s) x {args.threads} threads, memory_limit "
              f"{args.memory_limit} (X is {X.nbytes / limit:.1f}x that); cache "
              f"{'cold' if args.cold else 'warm'} at the start of each fit")
        print(f"write {write_seconds:.1f} s; read, one thread: from disk "
              f"{cold_rate / MiB:.0f} MiB/s, from the page cache {warm_rate / MiB:.0f} "
              "MiB/s")
        with local_cluster(args.memory_limit, args.workers, args.threads) as client:
            if args.cold:
                _evict(path)

            def fit_and_write_labels():
                km = chunkml.KMeans(N_CLUSTERS, init=init, max_iter=args.max_iter,
                                    tol=0).fit(X)
                fitted = time.perf_counter()
                km.labels_.to_zarr(str(pathlib.Path(tmp) / "labels.zarr"))
                return km, fitted

            report = measured(client, fit_and_write_labels)
            km, fitted = report["result"]
            fit_start = report["end"] - report["seconds"]
            fit_seconds = fitted - fit_start
            iterations = np.diff([fit_start] + [t for t in clock.times
                                                if fit_start < t <= fitted])
            print(f"KMeans fit: {fit_seconds:.1f} s, {km.n_iter_} Lloyd iterations of "
                  + ", ".join(f"{t:.2f}" for t in iterations) + " s ("
                  + ", ".join(f"{X.nbytes / t / MiB:.0f}" for t in iterations)
                  + f" MiB/s), {fit_seconds - iterations.sum():.2f} s for the final "
                  f"inertia pass; labels_.to_zarr {report['end'] - fitted:.1f} s")
            _print_memory(report)
            if args.minibatch:
                if args.cold:
                    _evict(path)
                params = {"n_clusters": N_CLUSTERS, "batch_size": 4096, "max_iter": 1,
                          "max_no_improvement": None, "random_state": 0}
                report = measured(client,
                                  lambda: chunkml.MiniBatchKMeans(**params).fit(X))
                mbk = report["result"]
                print(f"MiniBatchKMeans fit (sampling pass, {mbk.n_iter_} pass of "
                      f"{mbk.n_steps_} steps of 4096 rows, inertia pass): "
                      f"{report['seconds']:.1f} s")
                _print_memory(report)


if __name__ == "__main__":
    main()
