"""numba kernels on numpy blocks. Imports numpy and numba only.

Every kernel is ``nogil=True`` (dask threads run blocks concurrently) and cached on disk.
The ``*_parallel`` variants are for in-memory numpy input only, never inside dask tasks.
The ``*_gemm`` kernels (gemm.py) compute distances by BLAS matrix products, each small
enough to run on the calling thread.

Every kernel that measures distances takes a frame, ``shift`` (d,) float64 and ``scale``
(a power of two), right after X: it reads each row x as ``(x - shift) * scale`` and
works in those units (see assign.py). ``sample_rows``, the first pass, measures X's
per-feature min, max, mean and scaled M2 (``block_stats``) from which callers choose it.
The ``sparse_*`` kernels (sparse.py) take the (data, indices, indptr) arrays of a CSR
block and a frame without shift.
"""

from . import _notice  # noqa: F401  (says so, once, when a kernel compiles)
from ._random import counter_uniform, splitmix64
from ._warm import warm_up
from .assign import (
    assign_labels,
    assign_labels_parallel,
    euclidean_distances,
    euclidean_distances_parallel,
)
from ._moments import (
    N_STATS,
    STAT_EXP,
    STAT_M2,
    STAT_MAX,
    STAT_MEAN,
    STAT_MIN,
    block_stats,
    merge_moments,
)
from .gemm import (
    assign_labels_gemm,
    assign_labels_gemm_parallel,
    lloyd_partial_sums_gemm,
    lloyd_partial_sums_gemm_parallel,
    nearest_new_gemm,
)
from .lloyd import lloyd_partial_sums, lloyd_partial_sums_parallel
from .minibatch import minibatch_step, minibatch_update
from .sampling import sample_rows, update_mindist_sample
from .sparse import (
    sparse_assign_labels,
    sparse_assign_labels_parallel,
    sparse_block_stats,
    sparse_euclidean_distances,
    sparse_euclidean_distances_parallel,
    sparse_gather_rows,
    sparse_has_duplicates,
    sparse_lloyd_partial_sums,
    sparse_lloyd_partial_sums_parallel,
    sparse_minibatch_step,
    sparse_nearest_new,
    sparse_update_mindist_sample,
)

__all__ = [
    "N_STATS",
    "STAT_EXP",
    "STAT_M2",
    "STAT_MAX",
    "STAT_MEAN",
    "STAT_MIN",
    "assign_labels",
    "assign_labels_gemm",
    "assign_labels_gemm_parallel",
    "assign_labels_parallel",
    "block_stats",
    "counter_uniform",
    "euclidean_distances",
    "euclidean_distances_parallel",
    "lloyd_partial_sums",
    "lloyd_partial_sums_gemm",
    "lloyd_partial_sums_gemm_parallel",
    "lloyd_partial_sums_parallel",
    "merge_moments",
    "minibatch_step",
    "minibatch_update",
    "nearest_new_gemm",
    "sample_rows",
    "sparse_assign_labels",
    "sparse_assign_labels_parallel",
    "sparse_block_stats",
    "sparse_euclidean_distances",
    "sparse_euclidean_distances_parallel",
    "sparse_gather_rows",
    "sparse_has_duplicates",
    "sparse_lloyd_partial_sums",
    "sparse_lloyd_partial_sums_parallel",
    "sparse_minibatch_step",
    "sparse_nearest_new",
    "sparse_update_mindist_sample",
    "splitmix64",
    "update_mindist_sample",
    "warm_up",
]
