"""numba kernels on numpy blocks. Imports numpy and numba only.

One public function per operation (`lloyd_partial_sums`, `assign_labels`,
`euclidean_distances`, `update_mindist_sample` and their ``sparse_*`` counterparts),
each with ``parallel=False``: ``parallel=True`` is for in-memory numpy input only, never
inside dask tasks. Which loop runs for a block is decided in one place, `_dispatch.py`,
from its shape and dtype: transposed tiles for up to 4 features (_tile.py), BLAS matrix
products for many features and clusters (_gemm_tile.py, each product small enough to run
on the calling thread), else row by row (_rowwise.py). `variants()` lists every compiled
variant and `variant(op, n_features, n_clusters, parallel, dtype)` names the one a block
runs; `warm_up` reads them. Every kernel is ``nogil=True`` (dask threads run blocks
concurrently) and cached on disk.

Every kernel that measures distances takes a frame, ``shift`` (d,) float64 and ``scale``
(a power of two), right after X: it reads each row x as ``(x - shift) * scale`` and
works in those units (see _rowwise.py). ``sample_rows``, the first pass, measures X's
per-feature min, max, mean and scaled M2 (``block_stats``) from which callers choose it.
The ``sparse_*`` kernels (sparse.py) take the (data, indices, indptr) arrays of a CSR
block and a frame without shift. `KmeansppState` (kmeanspp.py) runs greedy k-means++ on
in-memory rows, skipping the distances the triangle inequality rules out.
`bounded_lloyd_partial_sums` (bounds.py) is the Lloyd step that carries per-row bounds
from pass to pass, where `use_bounds` says so (many clusters), with the same results.
"""

from . import _notice  # noqa: F401  (says so, once, when a kernel compiles)
from ._dispatch import Variant, bounds_shape, read_only, use_bounds, variant, variants
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
from ._ops import (
    assign_labels,
    bounded_lloyd_partial_sums,
    euclidean_distances,
    lloyd_partial_sums,
    minibatch_step,
    sample_rows,
    sparse_assign_labels,
    sparse_euclidean_distances,
    sparse_lloyd_partial_sums,
    update_mindist_sample,
)
from ._random import counter_uniform, splitmix64
from ._warm import warm_up
from .kmeanspp import KmeansppState
from .minibatch import minibatch_update
from .sparse import (
    sparse_block_stats,
    sparse_gather_rows,
    sparse_has_duplicates,
    sparse_minibatch_step,
    sparse_nearest_new,
    sparse_update_mindist_sample,
)

__all__ = [
    "KmeansppState",
    "N_STATS",
    "STAT_EXP",
    "STAT_M2",
    "STAT_MAX",
    "STAT_MEAN",
    "STAT_MIN",
    "Variant",
    "assign_labels",
    "bounds_shape",
    "bounded_lloyd_partial_sums",
    "block_stats",
    "counter_uniform",
    "euclidean_distances",
    "lloyd_partial_sums",
    "merge_moments",
    "minibatch_step",
    "minibatch_update",
    "read_only",
    "sample_rows",
    "sparse_assign_labels",
    "sparse_block_stats",
    "sparse_euclidean_distances",
    "sparse_gather_rows",
    "sparse_has_duplicates",
    "sparse_lloyd_partial_sums",
    "sparse_minibatch_step",
    "sparse_nearest_new",
    "sparse_update_mindist_sample",
    "splitmix64",
    "update_mindist_sample",
    "use_bounds",
    "variant",
    "variants",
    "warm_up",
]
