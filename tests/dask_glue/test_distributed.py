"""chunkml on dask.distributed: four schedulers, what travels, numba's cache, a killed worker.

Every test starts and stops its own processes on 127.0.0.1: an in-process Client, a
LocalCluster of worker processes, and a cluster of separate `dask scheduler` and
`dask worker` processes started with subprocess.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys

import cloudpickle
import dask
import numpy as np
import pytest
from dask.sizeof import sizeof
from distributed import Client, WorkerPlugin

import chunkml
from chunkml.kernels import _config as kernels_config

# The workers of the subprocess cluster cannot import this module: functions and plugins
# defined here travel to them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

START_TIMEOUT = 60


def _blobs(n_samples=30_000, chunks=4_000):
    # 4_000 does not divide 30_000: the last block is shorter.
    return chunkml.datasets.make_blobs(n_samples=n_samples, n_features=3, centers=4,
                                       cluster_std=1.5, chunks=chunks, random_state=7)


@contextlib.contextmanager
def _using(scheduler):
    """Compute with `scheduler`: a name of dask's local schedulers, or a Client."""
    if isinstance(scheduler, Client):
        # Not dask.config.set(scheduler=client): a nanny restarting a worker sends dask's
        # config to the new process, and a Client in it cannot be pickled.
        with dask.config.set(scheduler="dask.distributed"), scheduler.as_current():
            yield
    else:
        with dask.config.set(scheduler=scheduler):
            yield


def _fit(X, scheduler, **params):
    params = {"n_clusters": 4, "random_state": 3, "init_max_iter": 3, **params}
    with _using(scheduler):
        km = chunkml.KMeans(**params).fit(X)
        labels = km.labels_.compute()
    return km, labels


def _assert_same_fit(km, ref, name=""):
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-9,
                               err_msg=name)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-9, err_msg=name)
    assert km.n_iter_ == ref.n_iter_, name


@pytest.fixture(scope="module")
def inprocess_client():
    with Client(processes=False, n_workers=1, threads_per_worker=2,
                dashboard_address=None, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def process_client(process_cluster):
    with Client(process_cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield client


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc):
    """Stop a `dask` process started here, with the processes it started (its session)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def subprocess_client(tmp_path_factory):
    """A `dask scheduler` and two `dask worker` processes, as on a real cluster."""
    logs = tmp_path_factory.mktemp("dask-cluster")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    commands = [
        ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        *[["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
           "--no-dashboard", "--memory-limit", "1GiB"]] * 2,
    ]
    procs = []
    try:
        for i, args in enumerate(commands):
            with open(logs / f"{i}-{args[0]}.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "dask", *args], stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
        with Client(address, timeout=START_TIMEOUT, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
            yield client
    finally:
        for proc in reversed(procs):  # workers first, then the scheduler
            _stop(proc)


@pytest.mark.parametrize("init", ["k-means||", "random"])
def test_same_fit_on_four_schedulers(init, inprocess_client, process_client,
                                     subprocess_client):
    X, _ = _blobs()
    ref, ref_labels = _fit(X, "threads", init=init)
    assert ref.n_iter_ >= 2
    for name, client in [("Client(processes=False)", inprocess_client),
                         ("LocalCluster(processes=True)", process_client),
                         ("dask scheduler + dask worker", subprocess_client)]:
        km, labels = _fit(X, client, init=init)
        _assert_same_fit(km, ref, name)
        np.testing.assert_array_equal(labels, ref_labels, err_msg=name)


def test_bounded_passes_on_worker_processes(process_client, caplog):
    """Passes carrying per-row bounds (many features and clusters): the state persisted
    on the workers between passes gives the threaded scheduler's fit."""
    X, _ = chunkml.datasets.make_blobs(n_samples=6_000, n_features=64, centers=40,
                                       chunks=1_500, random_state=1)
    assert chunkml.kernels.use_bounds(64, 128)
    ref, ref_labels = _fit(X, "threads", n_clusters=128, init="random", max_iter=30)
    with caplog.at_level(logging.DEBUG, logger="chunkml"):
        km, labels = _fit(X, process_client, n_clusters=128, init="random", max_iter=30)
    assert any("rows compared with every center" in r.getMessage() for r in caplog.records)
    assert ref.n_iter_ > 5
    _assert_same_fit(km, ref)
    np.testing.assert_array_equal(labels, ref_labels)


def test_only_small_partials_reach_the_client(process_client, monkeypatch):
    X, _ = _blobs(n_samples=400_000, chunks=50_000)
    n_clusters, n_features = 4, X.shape[1]
    X = process_client.persist(X)

    received = []
    gather = process_client.gather

    def recording_gather(futures, *args, **kwargs):
        result = gather(futures, *args, **kwargs)
        received.append(sizeof(result))
        return result

    monkeypatch.setattr(process_client, "gather", recording_gather)
    with _using(process_client):
        km = chunkml.KMeans(n_clusters, random_state=0, init_max_iter=3).fit(X)
    monkeypatch.undo()

    # One compute per k-means|| round and per Lloyd iteration, each a few small arrays:
    # k x d sums, k weights, the inertia, n_clusters far rows, a few candidate rows.
    assert len(received) >= km.n_iter_
    small = 64 * n_clusters * (n_features + 8) * 8 + 4096
    assert max(received) < small, received
    assert sum(received) < X.nbytes / 100, (sum(received), X.nbytes)


def _kernel_cache_stats():
    """{kernel name: (cache hits, cache misses)} of this process's numba dispatchers.

    The registry's kernels (`kernels.variants`) compile one signature per tile width:
    they are listed per width too, as op[tiles<width>]. The parallel variants are Python
    drivers: the chunk loop that only the parallel Lloyd step runs is listed as
    lloyd_chunks.
    """
    from chunkml import kernels
    from chunkml.kernels.lloyd import lloyd_chunks

    out = {}
    for name in kernels.__all__:
        stats = getattr(getattr(kernels, name), "stats", None)
        if stats is not None:
            out[name] = (sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    for v in kernels.variants(parallel=(False,), dtypes=(np.float64,)):
        stats = v.dispatcher.stats
        name = f"{v.op}[{v.method}]"
        out[name] = (sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
        if v.method == "tiles":
            # The tile width is the length of the tuple shift, the tiled kernel's last
            # argument.
            hits = sum(n for sig, n in stats.cache_hits.items()
                       if getattr(sig[-1], "count", None) == v.width)
            misses = sum(n for sig, n in stats.cache_misses.items()
                         if getattr(sig[-1], "count", None) == v.width)
            out[f"{v.op}[tiles{v.width}]"] = (hits, misses)
    stats = lloyd_chunks.stats
    out["lloyd_chunks"] = (sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    return out


@pytest.mark.skipif(not kernels_config.CACHE, reason="CHUNKML_NUMBA_CACHE=0")
def test_fresh_workers_load_kernels_from_numba_cache(subprocess_client):
    X, _ = _blobs()
    # This process writes the on-disk cache (if the kernels changed since it was last
    # written); the worker processes, started apart from it, must only read it.
    _fit(X, "threads")
    _fit(X, subprocess_client)
    per_worker = subprocess_client.run(_kernel_cache_stats)
    assert len(per_worker) == 2
    for address, stats in per_worker.items():
        assert sum(misses for _, misses in stats.values()) == 0, (address, stats)
        # 3 features: the tiled kernels compiled for that width
        assert stats["lloyd_partial_sums[tiles3]"][0] >= 1, (address, stats)
        assert stats["update_mindist_sample[tiles3]"][0] >= 1, (address, stats)
        assert stats["lloyd_chunks"] == (0, 0), (address, stats)


class _DieOnFlag(WorkerPlugin):
    """SIGKILLs its worker when it starts a task once `flag` exists (one worker, once).

    The flag appears between two Lloyd iterations, so the worker dies on the first task
    of the next pass (whatever dask's fusion names it): the failure lands on an
    iteration in flight every time. The nanny then starts a new worker process.
    """

    def __init__(self, flag):
        self.flag = flag

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing":
            return
        try:
            # Atomic: exactly one worker process claims the flag.
            os.rename(self.flag, f"{self.flag}.{os.getpid()}")
        except FileNotFoundError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


class _FlagAfterIteration(logging.Handler):
    """Creates `flag` when the driver logs the end of Lloyd iteration `n_iter`."""

    def __init__(self, flag, n_iter):
        super().__init__(logging.DEBUG)
        self.flag, self.n_iter = flag, n_iter

    def emit(self, record):
        if record.getMessage().startswith(f"Lloyd iteration {self.n_iter}:"):
            open(self.flag, "w").close()


@pytest.mark.parametrize("persist", [False, True], ids=["lazy", "persisted"])
def test_fit_survives_a_killed_worker(persist, process_client, tmp_path):
    client = process_client
    X, _ = _blobs(n_samples=60_000, chunks=5_000)
    # Far from the optimum, so that Lloyd needs several iterations after the kill.
    init = np.array([[-30.0, -30.0, -30.0], [-29.0, -30.0, -30.0],
                     [-30.0, -29.0, -30.0], [-30.0, -30.0, -29.0]])
    params = {"init": init, "tol": 0, "max_iter": 30}
    ref, ref_labels = _fit(X, "threads", **params)
    assert ref.n_iter_ >= 4

    flag = str(tmp_path / "kill")
    logger = logging.getLogger("chunkml")
    handler = _FlagAfterIteration(flag, n_iter=1)
    old_level = logger.level
    client.wait_for_workers(2, timeout=START_TIMEOUT)
    pids_before = set(client.run(os.getpid).values())
    client.register_plugin(_DieOnFlag(flag), name="die-on-flag")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        X_fit = client.persist(X) if persist else X
        km, labels = _fit(X_fit, client, **params)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        client.unregister_worker_plugin("die-on-flag")
    killed = [int(p.name.rsplit(".", 1)[1]) for p in tmp_path.glob("kill.*")]
    assert len(killed) == 1 and killed[0] in pids_before, killed
    assert not os.path.exists(flag)
    _assert_same_fit(km, ref)
    np.testing.assert_array_equal(labels, ref_labels)
    # The nanny replaced the killed process.
    client.wait_for_workers(2, timeout=START_TIMEOUT)
    assert killed[0] not in client.run(os.getpid).values()
