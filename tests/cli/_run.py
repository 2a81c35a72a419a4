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


