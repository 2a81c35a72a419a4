"""numba kernels on numpy blocks. Imports numpy and numba only.

Every kernel is ``nogil=True`` (dask threads run blocks concurrently) and cached on disk.
The ``*_parallel`` variants are for in-memory numpy input only, never inside dask tasks.
"""

from ._random import counter_uniform, splitmix64
from ._warm import warm_up
from .assign import (
    assign_labels,
    assign_labels_parallel,
    euclidean_distances,
    euclidean_distances_parallel,
)
from ._moments import merge_moments
from .lloyd import lloyd_partial_sums, lloyd_partial_sums_parallel
from .minibatch import minibatch_step, minibatch_update
from .sampling import sample_rows, update_mindist_sample

__all__ = [
    "assign_labels",
    "assign_labels_parallel",
    "counter_uniform",
    "euclidean_distances",
    "euclidean_distances_parallel",
    "lloyd_partial_sums",
    "lloyd_partial_sums_parallel",
    "merge_moments",
    "minibatch_step",
    "minibatch_update",
    "sample_rows",
    "splitmix64",
    "update_mindist_sample",
    "warm_up",
]
