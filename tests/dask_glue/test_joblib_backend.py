"""The "chunkml" joblib backend and chunkml.setup_workers on a LocalCluster of processes and
on an in-process Client: scores, thread budgets, the n_jobs cap, the kernel warm-up."""

import os
import sys
import threading
import time

import cloudpickle
import joblib
import numba
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC
from threadpoolctl import threadpool_info

import chunkml
from chunkml.dask_glue import joblib_backend
from chunkml.dask_glue.joblib_backend import task_budget, thread_budget

# Functions defined here travel to the worker processes by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

START_TIMEOUT = 60
WORKER_THREADS = 4


def _cluster(n_workers, threads, **kwargs):
    return LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                        host="127.0.0.1", dashboard_address=None, memory_limit="1GiB",
                        **kwargs)


@pytest.fixture(scope="module")
def client():
    """Two worker processes of 4 threads each: n_jobs=2 leaves 2 inner threads per task."""
    with _cluster(2, WORKER_THREADS) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield client


def _threads():
    """This thread's view: {library: threads} from threadpoolctl, plus numba's."""
    libs = {f"{lib['internal_api']} {lib['filepath']}": lib["num_threads"]
            for lib in threadpool_info()}
    return {**libs, "numba": numba.get_num_threads()}


def _probe(delay=0.2):
    """What a task sees: its limits (read at its end, after the other tasks' starts and
    ends), when it ran, where, and what its process had warmed up by then."""
    start = time.time()
    variant = chunkml.kernels.variant("update_mindist_sample", 8, 16)
    loaded = bool(variant.dispatcher.signatures)
    warm = joblib_backend.warm_up_state()
    time.sleep(delay)
    return {"start": start, "stop": time.time(), "pid": os.getpid(),
            "thread": threading.get_ident(), "threads": _threads(),
            "numba_max": numba.config.NUMBA_NUM_THREADS, "kernels_loaded": loaded,
            "warm": warm}


def _plain_probes(client, n):
    """_probe in `n` plain dask tasks (outside any budget): {(pid, thread): threads}."""
    futures = [client.submit(_probe, 0.1, pure=False) for _ in range(n)]
    return {(p["pid"], p["thread"]): p["threads"] for p in client.gather(futures)}


def _run_probes(n_tasks, **backend):
    with joblib.parallel_backend("chunkml", **backend):
        return joblib.Parallel(batch_size=1)(joblib.delayed(_probe)() for _ in range(n_tasks))


def _max_concurrency(probes):
    events = sorted([(p["start"], 1) for p in probes] + [(p["stop"], -1) for p in probes])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def _assert_budget(probes, budget):
    for p in probes:
        expected = {lib: budget for lib in p["threads"]}
        expected["numba"] = min(budget, p["numba_max"])
        assert p["threads"] == expected, p


def _assert_same_limits(now, before):
    assert {lib: now[lib] for lib in before} == before


def _assert_restored(before, after):
    """Every thread probed before and after the budgeted tasks shows the same limits."""
    common = before.keys() & after.keys()
    assert common, "no worker thread probed twice"
    for key in common:
        _assert_same_limits(after[key], before[key])


# The workload as given; scikit-learn 1.9 deprecates SVC(probability=True).
@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
def test_grid_search_same_scores_as_default_backend(client, monkeypatch):
    X, y = make_classification(n_samples=1000, random_state=0)

    def grid():
        return GridSearchCV(SVC(gamma="auto", random_state=0, probability=True),
                            {"C": [0.1, 1.0], "kernel": ["rbf", "sigmoid"]}, cv=3,
                            n_jobs=-1)

    ref = grid().fit(X, y)
    search = grid()
    with (client.as_current(), joblib.parallel_backend("chunkml", scatter=[X, y]),
          get_task_stream(client) as ts):
        backend, _ = joblib.parallel.get_active_backend()
        assert isinstance(backend, joblib_backend.ChunkmlBackend)
        assert backend.client is client
        # scatter: X and y are on the workers from the start of the block, and the fit's
        # tasks do not send them again. (Not "on both workers": the scheduler's active
        # memory manager drops the broadcast's extra copies within seconds.)
        scattered = [backend.data_futures[id(a)] for a in (X, y)]
        assert all(client.who_has(scattered).values())
        sent_again = []
        scatter = client.scatter

        def recording_scatter(data, *args, **kwargs):
            sent_again.extend(a for a in (X, y) if data is a)
            return scatter(data, *args, **kwargs)

        monkeypatch.setattr(client, "scatter", recording_scatter)
        search.fit(X, y)
        monkeypatch.undo()
    assert not sent_again
    workers = set(client.scheduler_info()["workers"])
    fits = [t for t in ts.data if "_fit_and_score_" in str(t["key"])]
    assert fits and {t["worker"] for t in fits} <= workers
    assert search.best_params_ == ref.best_params_
    assert search.cv_results_["params"] == ref.cv_results_["params"]
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], ref.cv_results_[key])


def test_kmeans_n_init_runs_on_the_workers(client):
    # Each run is a task; inside it chunkml's numba-parallel kernels use the task's budget.
    X, _ = make_classification(n_samples=3000, n_features=5, random_state=0)
    ref = chunkml.KMeans(4, n_init=4, init="k-means++", random_state=0).fit(X)
    with joblib.parallel_backend("chunkml", client=client), get_task_stream(client) as ts:
        km = chunkml.KMeans(4, n_init=4, init="k-means++", random_state=0).fit(X)
    assert any("_fit_kmeans_" in str(t["key"]) for t in ts.data)
    np.testing.assert_array_equal(km.cluster_centers_, ref.cluster_centers_)
    assert km.inertia_ == ref.inertia_ and km.n_iter_ == ref.n_iter_


def test_effective_n_jobs_is_capped_by_the_cluster(client):
    backend = joblib_backend.ChunkmlBackend(client=client)
    total = 2 * WORKER_THREADS
    assert [backend.effective_n_jobs(n) for n in (None, -1, -2, 1, 3, 100)] == [
        total, total, total - 1, 1, 3, total]
    with pytest.raises(ValueError, match="n_jobs == 0"):
        backend.effective_n_jobs(0)


@pytest.mark.parametrize("n_jobs", [2, 3])
def test_n_jobs_caps_running_tasks(client, n_jobs):
    # 3 * n_jobs tasks; joblib keeps 2 * n_jobs in flight, dask's backend runs them all.
    probes = _run_probes(3 * n_jobs, client=client, n_jobs=n_jobs)
    assert 2 <= _max_concurrency(probes) <= n_jobs


@pytest.mark.parametrize(("n_jobs", "inner", "budget"),
                         [(-1, None, 1), (2, None, 2), (2, 3, 3)])
def test_thread_budget_in_tasks_and_restored(client, n_jobs, inner, budget):
    before = _plain_probes(client, 16)
    probes = _run_probes(2 * WORKER_THREADS, client=client, n_jobs=n_jobs,
                         inner_max_num_threads=inner)
    _assert_budget(probes, budget)
    _assert_restored(before, _plain_probes(client, 16))


def _probe_or_fail(i):
    if i == 5:
        raise ZeroDivisionError("task 5")
    return _probe(0.1)


def test_task_error_reaches_the_caller_and_limits_are_restored(client):
    before = _plain_probes(client, 16)
    with (pytest.raises(ZeroDivisionError, match="task 5"),
          joblib.parallel_backend("chunkml", client=client, n_jobs=2)):
        joblib.Parallel(batch_size=1)(joblib.delayed(_probe_or_fail)(i) for i in range(12))
    _assert_restored(before, _plain_probes(client, 16))
    # The backend is usable again after the failed call.
    probes = _run_probes(4, client=client, n_jobs=2)
    _assert_budget(probes, 2)


def test_kernels_warmed_once_before_the_first_task(client):
    for _ in range(2):  # a second backend does not warm up again
        probes = _run_probes(4, client=client)
    for p in probes:
        assert p["kernels_loaded"] and p["warm"]["count"] == 1, p
        assert p["warm"]["finished"] <= p["start"]
    assert [w["count"] for w in client.run(joblib_backend.warm_up_state).values()] == [1, 1]


@pytest.mark.parametrize(("n_jobs", "budget"), [(-1, 1), (2, 2)])
def test_thread_budget_on_an_inprocess_client(n_jobs, budget):
    # No nanny, so no OMP_NUM_THREADS=1: every library starts at full width in each thread.
    outside = _threads()
    with Client(processes=False, n_workers=1, threads_per_worker=WORKER_THREADS,
                dashboard_address=None, set_as_default=False) as client:
        probes = _run_probes(2 * WORKER_THREADS, client=client, n_jobs=n_jobs)
    _assert_budget(probes, budget)
    # This thread's limits, and the process-wide pools shared with the tasks, are back
    # (the tasks may have loaded more libraries: numba's OpenMP runtime).
    _assert_same_limits(_threads(), outside)


def _process_wide_blas():
    return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas" and lib.get("threading_layer") != "openmp"}


def test_thread_budget_restores_after_an_exception():
    outside = _threads()
    with pytest.raises(ZeroDivisionError), thread_budget(1):
        assert set(_threads().values()) == {1}
        1 / 0
    _assert_same_limits(_threads(), outside)


def test_overlapping_budgets_share_the_process_wide_pools():
    original = _process_wide_blas()
    if not original:
        pytest.skip("no process-wide BLAS pool loaded (OpenBLAS on OpenMP, or none)")
    entered, release = threading.Event(), threading.Event()

    def other():
        with thread_budget(3):
            entered.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=other)
    with thread_budget(1):
        thread.start()
        assert entered.wait(timeout=30)
        assert set(_process_wide_blas().values()) == {1}  # the smaller budget
    # This budget ended, the other runs on: its limit, not the original.
    assert set(_process_wide_blas().values()) == {3}
    release.set()
    thread.join(timeout=30)
    assert _process_wide_blas() == original


def _assert_warm_before_tasks(client, task_stream):
    """Every _probe task of `task_stream` started (as dask records it, before anything
    in the task ran) after its worker process had loaded the kernels."""
    warm = client.run(joblib_backend.warm_up_state)
    tasks = [t for t in task_stream.data if "_probe" in str(t["key"])]
    assert tasks
    for task in tasks:
        start = min(s["start"] for s in task["startstops"] if s["action"] == "compute")
        state = warm[task["worker"]]
        assert state["count"] == 1 and state["finished"] <= start, (task["worker"], state)


def test_fresh_workers_warm_up_before_their_first_task():
    # The nanny's limits start at 2 here, so that setup_workers(threads=1) changes every
    # library.
    env = {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    with _cluster(1, 2, env=env) as cluster, Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=START_TIMEOUT)
        (first,) = client.scheduler_info()["workers"]
        # The backend: on the first use of a fresh worker.
        with get_task_stream(client) as ts:
            _run_probes(2, client=client)
        _assert_warm_before_tasks(client, ts)
        client.unregister_worker_plugin(joblib_backend.WARM_UP_PLUGIN)

        # setup_workers: on a worker added after it.
        assert chunkml.setup_workers(client, threads=1) == joblib_backend.SETUP_PLUGIN
        cluster.scale(2)
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        (added,) = set(client.scheduler_info()["workers"]) - {first}
        for address in (added, first):
            with get_task_stream(client) as ts:
                futures = [client.submit(_probe, 0.05, pure=False, workers=[address])
                           for _ in range(4)]
                probes = client.gather(futures)
            _assert_warm_before_tasks(client, ts)
            for p in probes:
                assert p["threads"] == {lib: 1 for lib in p["threads"]}, (address, p)
                assert p["kernels_loaded"], (address, p)


@pytest.mark.parametrize(("threads", "error"), [(0, ValueError), (1.5, TypeError),
                                                ("2", TypeError), (True, TypeError)])
def test_bad_thread_counts_are_rejected(threads, error):
    with pytest.raises(error, match="threads"):
        chunkml.setup_workers(client=object(), threads=threads)
    with pytest.raises(error, match="n_threads"), thread_budget(threads):
        pass


def test_task_budget():
    # worker threads // the tasks that can run there at once (min(threads, n_jobs)), >= 1
    assert [task_budget(4, n) for n in (1, 2, 3, 4, 8)] == [4, 2, 1, 1, 1]
    assert task_budget(1, 8) == 1
