"""A command's dask session: the client and cluster, progress lines, logging, warnings.

Everything here closes what it opened however the block ends (an error, Ctrl-C or
SIGTERM turned into KeyboardInterrupt by ``_errors.stop_signals_interrupt``).
"""

import contextlib
import gc
import logging
import sys
import warnings

from ._errors import CommandError, one_line

_logger = logging.getLogger("chunkml")


def say(message=""):
    print(message, flush=True)


def quiet(message=""):
    pass


def _say_on_stderr(message=""):
    print(message, file=sys.stderr, flush=True)


def lines(args):
    """How a command prints its progress lines: on stdout, on stderr under --json (so
    that stdout holds the JSON alone), nowhere under --quiet."""
    if args.quiet:
        return quiet
    return _say_on_stderr if args.json else say


class _RecordsAsLines(logging.Handler):
    """Shows each chunkml log record it gets as one of a command's lines (`lines`)."""

    def __init__(self, say):
        # WARNING, what a user of the library sees without configuring logging: the
        # compile notice (chunkml/kernels/_notice.py), not the INFO/DEBUG records.
        super().__init__(logging.WARNING)
        self._say = say

    def emit(self, record):
        try:
            self._say(self.format(record))
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def log_records_as_lines(args):
    """chunkml's log records of WARNING and above, e.g. "compiling chunkml kernels for
    ...; first use only", as the command's lines (`lines`) while the block runs.

    Under --quiet they are dropped, and not left to logging's last-resort handler,
    which would print them on stderr. They still propagate to the root logger, for an
    application that calls ``cli.main`` with its own logging set up.
    """
    handler = _RecordsAsLines(lines(args))
    _logger.addHandler(handler)
    try:
        yield
    finally:
        _logger.removeHandler(handler)


def progress(args):
    """(say, fit_bar) of a command: how it prints its progress lines (`lines`), and a
    context that shows each fit as one progress bar (chunkml.progress: the k-means||
    passes and the Lloyd iterations as its steps), on the same stream."""
    if args.quiet:
        return quiet, contextlib.nullcontext()
    from .. import progress as fit_bar

    return lines(args), fit_bar(file=sys.stderr if args.json else sys.stdout)


def scheduler_address(address):
    """--scheduler, else dask's ``scheduler-address`` config (DASK_SCHEDULER_ADDRESS);
    None: an in-process cluster."""
    if address is not None:
        return address
    import dask.config

    return dask.config.get("scheduler-address", None) or None


@contextlib.contextmanager
def warnings_as_lines(stream=None):
    """Python warnings (e.g. ConvergenceWarning), one ``chunkml: warning:`` line each."""
    stream = stream or sys.stderr

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"chunkml: warning: {one_line(message)}", file=stream, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


class _DropTaskFailures(logging.Filter):
    """Drops a worker's "Compute Failed" record: the run reports the error itself."""

    def filter(self, record):
        return not str(record.msg).startswith("Compute Failed")


@contextlib.contextmanager
def quiet_task_failures():
    log = logging.getLogger("distributed.worker")
    drop = _DropTaskFailures()
    log.addFilter(drop)
    try:
        yield
    finally:
        log.removeFilter(drop)


class _DropAbandonedGatherWaits(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" for distributed's AllExit.

    ``Client.gather`` waits on each future in a task of its own and stops at the first
    that ends badly; the other waits end later with ``AllExit``, which nothing reads, and
    asyncio logs each when the task is collected: whenever the garbage collector runs,
    possibly after the command has reported its own error or "interrupted".
    """

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "AllExit" or \
            not type(exc).__module__.startswith("distributed")


_drop_abandoned_gather_waits = _DropAbandonedGatherWaits()


def drop_abandoned_gather_waits():
    """Install the filter on asyncio's logger, once per process: such a task can be
    collected after the client has closed, so the filter outlives it."""
    logging.getLogger("asyncio").addFilter(_drop_abandoned_gather_waits)


@contextlib.contextmanager
def dask_client(address, say=say):
    """A distributed Client on ``address``, or on an in-process LocalCluster.

    Closes the client, and the cluster when it made one, however the block ends;
    a remote cluster is left running.
    """
    import dask.system
    from distributed import Client, LocalCluster

    drop_abandoned_gather_waits()
    cluster = client = None
    try:
        if address is None:
            n_threads = dask.system.CPU_COUNT
            say(f"starting an in-process dask cluster (1 worker, {n_threads} "
                f"thread{'s' if n_threads != 1 else ''}) ...")
            # Threads, not processes: X lives next to the driver loop and the numba
            # kernels release the GIL, so one worker uses every core.
            cluster = LocalCluster(processes=False, n_workers=1,
                                   threads_per_worker=n_threads, dashboard_address=":0")
            client = Client(cluster)
        else:
            say(f"connecting to the dask scheduler at {address} ...")
            try:
                client = Client(address)
            except (OSError, ValueError) as exc:
                raise CommandError(
                    f"cannot connect to the dask scheduler at {address!r}: {exc}") from None
        say(f"dask dashboard: {client.dashboard_link}{_dashboard_note()}")
        yield client
    except BaseException:
        # Closing mid-compute cancels futures, and distributed and asyncio log a
        # traceback or warning for each; the user asked to stop, or the error that
        # stopped the run is reported in one line: neither needs them.
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            _close(client, cluster)
            client = cluster = None
            # Abandoned asyncio tasks report their exception when collected: now.
            gc.collect()
        finally:
            logging.disable(previous)
        raise
    finally:
        _close(client, cluster)


def _close(client, cluster):
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


def _dashboard_note():
    import importlib.util

    # Without bokeh the link serves only a page that asks for it.
    return "" if importlib.util.find_spec("bokeh") else " (pip install bokeh to view it)"


def scheduler_name(address):
    """How summary.json names the scheduler a run used."""
    return address or "in-process LocalCluster"


def persist(*arrays):
    """``arrays`` persisted on the cluster (None passes through), once all are there."""
    import dask
    from distributed import futures_of, wait

    # Together: X and the weights of one .csv/.parquet share its parsing tasks.
    given = iter(dask.persist(*[a for a in arrays if a is not None]))
    persisted = [None if a is None else next(given) for a in arrays]
    wait([f for a in persisted if a is not None for f in futures_of(a)])
    return persisted


def fit(km, X, say, sample_weight=None):
    """Fit ``km``, saying so before and after; returns the seconds it took."""
    import time

    say(f"fitting {km!r} ...")
    t_fit = time.perf_counter()
    km.fit(X, sample_weight=sample_weight)
    seconds = time.perf_counter() - t_fit
    say(f"  {km.n_iter_} Lloyd iteration{'s' if km.n_iter_ != 1 else ''} "
        f"in {seconds:.2f} s")
    return seconds
