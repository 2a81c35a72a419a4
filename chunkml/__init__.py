"""chunkml: fast k-means on dask arrays.

numba-compiled per-chunk kernels, mapped over dask array blocks, wrapped in
scikit-learn-compatible estimators.
"""

import importlib

from . import datasets

__version__ = "0.1.0"
__all__ = ["KMeans", "MiniBatchKMeans", "datasets", "__version__"]

_ESTIMATORS = ("KMeans", "MiniBatchKMeans")
_SUBMODULES = ("kernels", "dask_glue", "estimators")


def __getattr__(name):
    # The estimators (and with them scikit-learn, ~110 MiB) load on first use only: a dask
    # worker that runs chunkml's block functions imports this package without needing them.
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chunkml' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_ESTIMATORS) + list(_SUBMODULES))
