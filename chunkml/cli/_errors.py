"""Exit statuses, the errors that map to them, and the signals that stop a run.

Exit 0 ok, 1 runtime error (a failure outside chunkml, an optional extra missing),
2 usage or bad input, 130 interrupted (SIGINT or SIGTERM); each error is one
``chunkml: error: ...`` line on stderr, never a traceback.
"""

import contextlib
import signal
import threading

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

# The signals a run turns into KeyboardInterrupt, so that it cleans up on its way out.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CommandError(Exception):
    """A failure outside chunkml itself (scheduler unreachable, --out not writable, an
    optional extra missing): exit status 1."""


class UsageError(Exception):
    """Bad input found after parsing (a missing file, a non-numeric column, k > rows,
    an output that would replace a file the run did not write): exit status 2, as
    argparse's own usage errors."""


def one_line(exc):
    """The first line of an exception's message: errors are one line each."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals_interrupt():
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread while the block runs.

    Without this SIGTERM kills the process on the spot, leaving its temporary folder
    behind. A SIGINT that the parent process ignores stays ignored. Outside the main
    thread (a caller's thread running ``main``) signals cannot be handled: no change.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is signal.SIG_IGN:
            continue
        previous[signum] = handler
        signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class DeferredSignals:
    """Record SIGINT/SIGTERM instead of raising, for a section that must not be cut.

    ``with DeferredSignals() as deferred:`` ... ``deferred.received`` is the first
    signal that arrived (or None); the caller checks it between steps and undoes its
    work when it is set. Leaving the block restores the handlers and raises
    KeyboardInterrupt if a signal arrived, unless an exception is already on its way.
    """

    def __init__(self):
        self.received = None
        self._previous = {}

    def _record(self, signum, frame):
        if self.received is None:
            self.received = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                handler = signal.getsignal(signum)
                if handler is signal.SIG_IGN:
                    continue
                self._previous[signum] = handler
                signal.signal(signum, self._record)
        return self

    def __exit__(self, exc_type, exc, tb):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        if self.received is not None and exc_type is None:
            raise KeyboardInterrupt
        return False
