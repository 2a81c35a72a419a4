"""chunkml's joblib backend and worker set-up for scikit-learn's parallel work on a cluster.

``import chunkml`` registers the backend with joblib as ``"chunkml"`` (this package, and
with it distributed, loads when the backend is first used)::

    with joblib.parallel_backend("chunkml"):     # on the active distributed Client
        GridSearchCV(...).fit(X, y)

`setup_workers` (also ``chunkml.setup_workers``) gives the same thread limits and kernel
warm-up to the plain ``"dask"`` backend and to chunkml's own dask work. See docs/joblib.md.

Imports distributed, joblib, threadpoolctl, numba and chunkml.kernels; never the estimators.
"""

from ._backend import ChunkmlBackend, task_budget
from .._limits import thread_budget
from ._workers import (
    SETUP_PLUGIN,
    WARM_UP_PLUGIN,
    WorkerSetup,
    setup_workers,
    warm_up_once,
    warm_up_state,
)

__all__ = [
    "SETUP_PLUGIN",
    "WARM_UP_PLUGIN",
    "ChunkmlBackend",
    "WorkerSetup",
    "setup_workers",
    "task_budget",
    "thread_budget",
    "warm_up_once",
    "warm_up_state",
]
