"""Worker set-up: chunkml's kernels loaded once per process, thread limits on every task.

`setup_workers` registers a `WorkerSetup` plugin: the scheduler runs its ``setup`` on every
current worker before `setup_workers` returns, and on every worker that joins later before
it runs a task (a worker sets up its plugins before it reads its first task).
"""

import asyncio
import numbers
import threading
import time

from distributed import WorkerPlugin, get_client

from chunkml.kernels import warm_up

from .._limits import limit_this_thread

SETUP_PLUGIN = "chunkml-setup"
WARM_UP_PLUGIN = "chunkml-warm-up"

_WARM_LOCK = threading.Lock()
# This process's warm-up: how many times it ran, and when the last one ended (time.time()).
_WARM = {"count": 0, "finished": None}


def warm_up_once():
    """Load (or compile) chunkml's serial dense kernels in this process, the first time
    only. Not the CSR kernels: a search that needs them compiles them in its first task,
    instead of every fresh worker of every search compiling them (about 30 s cold).

    Returns
    -------
    dict
        ``{"count": ..., "finished": ...}``: how many times this process warmed up (1 after
        the first call) and when it finished (seconds since the epoch).
    """
    with _WARM_LOCK:
        if not _WARM["count"]:
            warm_up(sparse=False)
            _WARM["count"] += 1
            _WARM["finished"] = time.time()
        return dict(_WARM)


def warm_up_state():
    """This process's warm-up record, as `warm_up_once` returns it (count 0: not yet)."""
    with _WARM_LOCK:
        return dict(_WARM)


async def _warm_up_off_the_loop():
    # Loading the kernels takes about half a second (minutes when numba compiles them):
    # off the worker's event loop, which must keep answering the scheduler meanwhile.
    await asyncio.get_running_loop().run_in_executor(None, warm_up_once)


class _LimitedSubmit:
    """``executor.submit`` that sets the thread limits in the pool's thread before each
    task (dask runs every task through ``loop.run_in_executor(executor, ...)``)."""

    def __init__(self, submit, n_threads):
        self.submit = submit
        self.n_threads = n_threads

    def __call__(self, fn, /, *args, **kwargs):
        return self.submit(_limited_call, self.n_threads, fn, args, kwargs)


def _limited_call(n_threads, fn, args, kwargs):
    limit_this_thread(n_threads)
    return fn(*args, **kwargs)


class _WarmUp(WorkerPlugin):
    """Loads chunkml's kernels on each worker process once (the "chunkml" backend's)."""

    async def setup(self, worker):
        await _warm_up_off_the_loop()


class WorkerSetup(WorkerPlugin):
    """Thread limits and kernel warm-up on a dask worker (see `setup_workers`).

    Parameters
    ----------
    threads : int or None, default=1
        BLAS, OpenMP and numba threads each task of the worker may use; None leaves them
        as they are.
    warm_up : bool, default=True
        Load chunkml's kernels in the worker process (once) before its first task.
    """

    def __init__(self, threads=1, warm_up=True):
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
                raise TypeError(f"threads must be None or an int, got {threads!r}")
            if threads < 1:
                raise ValueError(f"threads must be at least 1, got {threads}")
            threads = int(threads)
        self.threads = threads
        self.warm_up = bool(warm_up)

    async def setup(self, worker):
        if self.warm_up:
            await _warm_up_off_the_loop()
        if self.threads is not None:
            executor = worker.executors["default"]
            executor.submit = _LimitedSubmit(type(executor).submit.__get__(executor),
                                             self.threads)

    def teardown(self, worker):
        executor = worker.executors.get("default")
        if isinstance(getattr(executor, "__dict__", {}).get("submit"), _LimitedSubmit):
            del executor.submit


def setup_workers(client=None, *, threads=1, warm_up=True):
    """Set up every current and future worker of `client` for chunkml.

    Registers a `WorkerSetup` plugin named ``"chunkml-setup"`` (registering again
    replaces it; ``client.unregister_worker_plugin("chunkml-setup")`` removes it): each
    task then runs with `threads` BLAS, OpenMP and numba threads, and each worker
    process loads chunkml's kernels (from numba's on-disk cache) once, before its first
    task. For the plain ``"dask"`` joblib backend, chunkml's own dask work, and in-process
    clients, where a nanny's ``OMP_NUM_THREADS=1`` does not apply. The ``"chunkml"``
    joblib backend budgets threads per task by itself.

    Parameters
    ----------
    client : distributed.Client or None, default=None
        None: the current client (``distributed.get_client()``).
    threads : int or None, default=1
        Inner threads per task. With the worker's `nthreads` tasks running at once, 1
        keeps the worker at one thread per core; None leaves the limits as they are.
    warm_up : bool, default=True
        Load the kernels on each worker (about half a second per process with the cache).

    Returns
    -------
    str
        The plugin's name, ``"chunkml-setup"``.
    """
    plugin = WorkerSetup(threads=threads, warm_up=warm_up)
    client = get_client() if client is None else client
    client.register_plugin(plugin, name=SETUP_PLUGIN)
    return SETUP_PLUGIN


def register_warm_up(client):
    """Load the kernels on every current and future worker of `client`, once per process."""
    client.register_plugin(_WarmUp(), name=WARM_UP_PLUGIN)
