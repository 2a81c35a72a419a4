"""chunkml: fast k-means on dask arrays.

numba-compiled per-chunk kernels, mapped over dask array blocks, wrapped in
scikit-learn-compatible estimators.
"""

from . import datasets
from .estimators import KMeans, MiniBatchKMeans

__version__ = "0.1.0"
__all__ = ["KMeans", "MiniBatchKMeans", "datasets", "__version__"]
