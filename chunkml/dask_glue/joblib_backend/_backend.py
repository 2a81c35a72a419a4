"""The "chunkml" joblib backend: joblib's dask backend with thread budgets and n_jobs.

What it adds to ``joblib._dask.DaskDistributedBackend`` (whose scatter, auto-batching,
result collection and error handling it keeps):

- n_jobs caps the batches running at once. joblib's dispatch keeps up to ``pre_dispatch``
  (``2 * n_jobs`` by default) batches in flight, and the dask backend submits each at once,
  so dask runs as many as it has threads (joblib issue 1013); here a batch is submitted to
  the cluster only when fewer than n_jobs are.
- Each batch runs under a thread budget (`thread_budget`): its worker's nthreads divided
  by the number of batches that can run there at once, min(nthreads, n_jobs), at least 1;
  or ``inner_max_num_threads``. Parallel calls nested in a task run
  sequentially inside that budget.
- The kernels are loaded on every worker process once, before its first task.
"""

import asyncio
import concurrent.futures
from uuid import uuid4

import joblib
from distributed import get_worker
from joblib._dask import DaskDistributedBackend
from joblib._utils import _TracebackCapturingWrapper
from joblib.parallel import SequentialBackend

from .._limits import thread_budget
from ._workers import register_warm_up


def task_budget(worker_threads, n_jobs):
    """Inner threads for each of the tasks that share a worker of `worker_threads` threads
    when at most `n_jobs` run at once in the cluster."""
    return max(1, worker_threads // max(1, min(worker_threads, n_jobs)))


class _BudgetedBatch:
    """Runs one joblib batch under its worker's thread budget (dask calls it)."""

    def __init__(self, batch, n_jobs, inner_threads=None):
        self._batch = batch  # joblib's Batch: its repr names the task
        self.n_jobs = n_jobs
        self.inner_threads = inner_threads

    def __repr__(self):
        return repr(self._batch)

    def __call__(self, tasks=None):
        threads = self.inner_threads
        if threads is None:
            threads = task_budget(get_worker().state.nthreads, self.n_jobs)
        with thread_budget(threads), joblib.parallel_config(backend="sequential"):
            return [func(*args, **kwargs) for func, args, kwargs in tasks]


class ChunkmlBackend(DaskDistributedBackend):
    """joblib backend on the active distributed Client, as ``"dask"``, without
    oversubscription: use ``with joblib.parallel_backend("chunkml"):``.

    Parameters are the dask backend's: ``scatter`` (a list of large arguments sent to every
    worker once, up front), ``client`` (default: the current one), ``scheduler_host``,
    ``wait_for_workers_timeout`` and keyword arguments for ``client.submit``. Also
    ``joblib.parallel_backend("chunkml", inner_max_num_threads=k)`` gives every task k
    inner threads instead of the computed budget.
    """

    supports_inner_max_num_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        register_warm_up(self.client)
        self._n_jobs = None

    def __reduce__(self):
        return (ChunkmlBackend, ())

    def get_nested_backend(self):
        return SequentialBackend(nesting_level=(self.nesting_level or 0) + 1), None

    def effective_n_jobs(self, n_jobs):
        """min(n_jobs, the cluster's threads); -1 all of them, -2 all but one, etc."""
        total = super().effective_n_jobs(n_jobs)
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return total
        if n_jobs < 0:
            return max(1, total + 1 + n_jobs)
        return max(1, min(n_jobs, total))

    def configure(self, n_jobs=1, parallel=None, **backend_args):
        self._n_jobs = super().configure(n_jobs, parallel, **backend_args)
        return self._n_jobs

    def start_call(self):
        super().start_call()
        # Per call, and read through submit's closure: a late completion from an aborted
        # call releases that call's slots, not the next one's. When n_jobs covers every
        # thread of the cluster, dask itself runs at most that many batches at once:
        # then batches go out as the dask backend sends them (queued on the workers, with
        # no round trip between one finishing and the next starting).
        total = sum(self.client.ncores().values())
        slots = asyncio.Semaphore(self._n_jobs) if self._n_jobs < total else None
        self._call = _Call(slots, self._n_jobs)

    def abort_everything(self, ensure_ready=True):
        # joblib reads no more results: batches still waiting for a slot are not sent.
        call = getattr(self, "_call", None)
        if call is not None:
            call.aborted = True
        super().abort_everything(ensure_ready)

    def submit(self, func, callback=None):
        cf_future = concurrent.futures.Future()
        cf_future.get = cf_future.result  # the AsyncResult API that joblib reads
        call, loop = self._call, self.client.loop

        async def f(func, callback):
            batch, tasks = await self._to_func_args(func)
            batch = _BudgetedBatch(batch, call.n_jobs, self.inner_max_num_threads)
            if call.slots is not None:
                await call.slots.acquire()
            if call.aborted:
                call.release()
                return
            dask_future = self.client.submit(
                _TracebackCapturingWrapper(batch), tasks=tasks,
                key=f"{batch!r}-{uuid4().hex}", **self.submit_kwargs)
            # distributed calls this from a thread of its own, also on error or cancel.
            dask_future.add_done_callback(lambda _: loop.add_callback(call.release))
            self.waiting_futures.add(dask_future)
            self._callbacks[dask_future] = callback
            self._results[dask_future] = cf_future

        loop.add_callback(f, func, callback)
        return cf_future


class _Call:
    """One Parallel call's slots (n_jobs of them; None: no gate needed) and whether
    joblib aborted it."""

    def __init__(self, slots, n_jobs):
        self.slots = slots
        self.n_jobs = n_jobs
        self.aborted = False

    def release(self):
        if self.slots is not None:
            self.slots.release()
