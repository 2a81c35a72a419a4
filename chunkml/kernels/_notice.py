"""Say once per process, on the ``chunkml`` logger, that numba is compiling the kernels.

A cold first fit spends tens of seconds in numba before its first pass; without a word
it looks like a hang. A listener on numba's event API (``numba.core.event``, the
``"numba:compile"`` kind) logs one record the first time a kernel of this package
compiles in this process: numba sends that event only when it compiles, never when it
loads machine code from its on-disk cache (``Dispatcher.compile`` returns a cache hit
before the event), so a process with a warm cache says nothing.

Level WARNING, not INFO: most scikit-learn and dask users never configure logging, and
then Python's last-resort handler prints WARNING and above on stderr while INFO goes
nowhere, i.e. INFO would stay silent for exactly the users who wonder why their first
fit takes half a minute. The record comes once per process and only on a cold cache,
and the user can act on it (``chunkml warm-up``, or a cache baked into the image);
``logging.getLogger("chunkml").setLevel(logging.ERROR)`` silences it. It is not a
``warnings.warn``: nothing in the caller's code is wrong. The command line shows it as
one of a command's lines (``chunkml/cli/_session.py``).
"""

import logging
import os

from numba.core import event, types

from ._config import CACHE

logger = logging.getLogger("chunkml")

# The kernels: functions defined in this package.
_PACKAGE = __name__.rpartition(".")[0]


def _is_kernel(dispatcher):
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def message(dispatcher, args):
    """The notice for the first compile of `dispatcher` for argument types `args`."""
    first = args[0] if args else None
    if isinstance(first, types.Array) and isinstance(first.dtype, types.Float):
        # X comes first (the data of a CSR block for the sparse kernels).
        what = f"for {first.dtype} X"
    else:
        what = f"({dispatcher.py_func.__name__})"
    if CACHE:
        when = ("first use only: numba caches them on disk (`chunkml warm-up` "
                "compiles them ahead of time)")
    else:
        when = ("first use in each process: numba's on-disk cache of chunkml's "
                "kernels is off")
    return f"compiling chunkml kernels {what}; {when}"


class CompileNotice(event.Listener):
    """Logs `message` at the first compile of a chunkml kernel in each process."""

    def __init__(self):
        # The process that has been told; a forked child is told again.
        self.noticed_in = None

    def on_start(self, ev):
        # numba sends compile events while it holds its global compiler lock: one thread
        # at a time gets here, so the check and the update need no lock of their own.
        if self.noticed_in == os.getpid() or not _is_kernel(ev.data["dispatcher"]):
            return
        self.noticed_in = os.getpid()
        logger.warning(message(ev.data["dispatcher"], ev.data["args"]))

    def on_end(self, ev):
        pass


LISTENER = CompileNotice()
event.register("numba:compile", LISTENER)
