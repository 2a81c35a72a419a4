"""chunkml: fast k-means on dask arrays.

numba-compiled per-chunk kernels, mapped over dask array blocks, wrapped in
scikit-learn-compatible estimators.
"""

import importlib

import joblib

__version__ = "0.1.0"
__all__ = ["KMeans", "MiniBatchKMeans", "ProgressEvent", "datasets", "on_progress",
           "progress", "setup_workers", "__version__"]

_ESTIMATORS = ("KMeans", "MiniBatchKMeans")
# datasets too: it imports dask.array (0.4 s), which `chunkml --help` does not need.
_SUBMODULES = ("datasets", "kernels", "dask_glue", "estimators")
# Fit-level progress: chunkml.progress() shows a bar, chunkml.on_progress(callback)
# subscribes to the events (see dask_glue/progress.py).
_PROGRESS = ("ProgressEvent", "on_progress", "progress")


def _chunkml_backend(**kwargs):
    # distributed (~0.3 s to import) loads when the backend is first used, not here.
    from .dask_glue.joblib_backend import ChunkmlBackend

    return ChunkmlBackend(**kwargs)


joblib.register_parallel_backend("chunkml", _chunkml_backend)


def __getattr__(name):
    # The estimators (and with them scikit-learn, ~110 MiB) load on first use only: a dask
    # worker that runs chunkml's block functions imports this package without needing them.
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    if name in _PROGRESS:
        from .dask_glue import progress

        return getattr(progress, name)
    if name == "setup_workers":
        from .dask_glue.joblib_backend import setup_workers

        return setup_workers
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chunkml' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_ESTIMATORS) + list(_SUBMODULES) + list(_PROGRESS)
                  + ["setup_workers"])
