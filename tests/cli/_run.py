"""Running ``python -m chunkml`` from the tests: its command line, environment, timeout."""

import os
import sys

import chunkml

TIMEOUT = 120


def _env():
    """The subprocess imports the same chunkml as this process, installed or not."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(chunkml.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _command(*args):
    return [sys.executable, "-m", "chunkml", *map(str, args)]


def _interrupt_fits(monkeypatch):
    """Make KMeans.fit raise KeyboardInterrupt; returns the LocalClusters made meanwhile."""
    import distributed

    made = []

    class RecordedCluster(distributed.LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    def interrupt(self, X, y=None, sample_weight=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(distributed, "LocalCluster", RecordedCluster)
    monkeypatch.setattr(chunkml.KMeans, "fit", interrupt)
    return made


def _main_captured(argv, cwd=None):
    """``cli.main(argv)`` in this process, as ``python -m chunkml`` would run it in ``cwd``:
    (exit status, stdout, stderr). stderr holds distributed's warnings too, as a
    subprocess's would: its loggers write to the stderr of the time they were configured,
    which capturing does not reach."""
    import contextlib
    import io
    import logging

    from chunkml import cli

    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    # What the cluster logs at INFO (a client connecting) a subprocess would not see.
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - "
                                           "%(message)s"))
    log = logging.getLogger("distributed")
    log.addHandler(handler)
    previous = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([*map(str, argv)])
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(previous)
        log.removeHandler(handler)
    return code, out.getvalue(), err.getvalue()
