"""Maps the kernels over dask blocks, reduces their partials and runs the driver loops.

Imports dask, numpy, threadpoolctl and chunkml.kernels; never the estimators. The drivers
read X only through the passes interface (passes.py); kmeans.py runs KMeans's n_init
runs, sample_fit.py its fit on a sample, predict.py the outputs of fitted centers.
"""

from .init import DEFAULT_INIT_ROUNDS
from ._input import is_dask_collection
from .kmeans import KMeansResult, fit_kmeans_runs
from .lloyd import NonFiniteInputError
from .predict import inertia, predict_labels, transform_distances
from .minibatch import fit_minibatch, partial_fit_minibatch, start_minibatch

__all__ = [
    "DEFAULT_INIT_ROUNDS",
    "KMeansResult",
    "NonFiniteInputError",
    "fit_kmeans_runs",
    "fit_minibatch",
    "inertia",
    "is_dask_collection",
    "partial_fit_minibatch",
    "predict_labels",
    "start_minibatch",
    "transform_distances",
]
