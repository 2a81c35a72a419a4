"""Shared test configuration."""

import os

import pytest
from hypothesis import settings

# No deadline: the first example of a property compiles its numba kernels.  A modest
# number of examples keeps the suite fast; HYPOTHESIS_PROFILE=thorough runs more.
settings.register_profile("chunkml", deadline=None, max_examples=50)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chunkml"))


@pytest.fixture(autouse=True)
def dask_passes():
    """The tests of dask input test its dask passes: a small X would be fitted as one
    numpy array (dask_glue/persist.py, `fit_in_memory`), which tests/dask_glue/
    test_persist.py tests on its own."""
    import dask

    with dask.config.set({"chunkml.in_memory": False}):
        yield


@pytest.fixture(scope="session")
def compiled_kernels():
    """Compile, in this process, the serial float64 kernels of every width case and what a
    dask fit runs besides, into numba's on-disk cache (or load them from it).

    For tests that start several ``python -m chunkml`` processes at once: without it each
    process would compile the same kernels at the same time on a cold cache (14 of them
    on CI's 2 cores took longer than their timeout); with it they load the cache.
    """
    import dask.array as da
    import numpy as np

    import chunkml

    chunkml.kernels.warm_up(dtypes=(np.float64,))
    X = da.from_array(np.random.default_rng(0).normal(size=(60, 3)), chunks=20)
    for init in ("k-means||", "k-means++", "random"):
        chunkml.KMeans(3, init=init, random_state=0, max_iter=2).fit(X).labels_.compute()


@pytest.fixture
def numba_cache_dir(request, tmp_path_factory):
    """A numba cache of its own for bounds-checked subprocesses (kept across runs when
    pytest's cache is on), so that they neither load nor replace the normal cache."""
    name = f"numba_{request.node.name}"
    cache = getattr(request.config, "cache", None)
    return cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session")
def process_cluster():
    """A LocalCluster of two worker processes of one thread each, started once for the
    modules that need worker processes but no cluster of their own (each connects its
    own Client, so that none is the default outside its module).

    Starting one costs seconds on 2 cores: two interpreters import dask, numba and
    chunkml and load the kernels. A test that kills a worker waits for its nanny's
    replacement before it ends.
    """
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  memory_limit="2GiB") as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield cluster


@pytest.hookimpl(optionalhook=True)  # xdist's hook: no error where xdist is off
def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (the README's test command): one worker per CPU this process may run on,
    logical ones included, at most 8. xdist's own "auto" counts physical cores, which is 1
    on a VM whose 2 vCPUs are one core's hyperthreads; the suite is mostly numba compiles
    and subprocesses, which use both. Above 8 workers, each importing dask, numba and
    scikit-learn and compiling its share, memory grows faster than the suite shortens."""
    usable = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else os.cpu_count() or 1)  # macOS and Windows: no affinity to read
    return max(1, min(usable, 8))
