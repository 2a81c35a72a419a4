"""Which loop runs for a block: the one choice, and the registry of compiled variants.

A block's method depends on its shape only: transposed tiles (_tile.py) up to
MAX_TILE_FEATURES features, matrix products (_gemm_tile.py) from GEMM_MIN_FEATURES
features and GEMM_MIN_CLUSTERS clusters (`use_gemm`), else row by row (_rowwise.py). Each
operation has one serial block kernel and one parallel driver (Python: the serial kernel
on row ranges, on threads, _threads.py) taking the method as their last arguments
(`Variant.method_args`): the shift as a tuple for tiles, so each width is
a signature of its own, and None for the rows per tile; else None for the shift, and the
rows per matrix-product tile, 0 for row by row. numba prunes a branch at compile time
only on an argument that is None (`if x is None` on a tuple is kept, and every callee in
its branch compiled), so the numba kernels that branch between methods (the parallel Lloyd
driver's `lloyd._lloyd_block`) branch on whichever of the two is None: a tiled variant
compiles no matrix-product nor row-by-row code, and the others no tiles. The dense serial
block kernels (`lloyd.lloyd_block`, `distances.assign_block`, `sampling.nearest_new_block`)
are Python and enter their method's numba kernel directly: a numba kernel above it
compiled the code it inlined again for every signature (`Variant.dispatcher` names the
one that holds a variant's machine code). The public functions (_ops.py) ask `variant`
for the kernel; `kernels.warm_up`, the tests and the bounds check walk `variants`.
"""

import contextlib
from dataclasses import dataclass, field

import numpy as np
from numba import typeof

from . import bounds, distances, lloyd, sampling, sparse

# Widest row the tiled kernels specialise for: with a run-time row length the same loops
# are slower than the row-by-row kernels (measured at 5, 6 and 8 features).
MAX_TILE_FEATURES = 4

# The matrix-product kernels replace the row-by-row ones from this many features and
# clusters. Their BLAS product costs less per center and feature, but each center adds a
# fixed cost per row (transposing and scanning the scores), so the number of clusters,
# not n_features * n_clusters, decides. Lloyd pass time, row-by-row / gemm, on 100k-row
# blocks, one thread, 2-core AMD EPYC (AVX2), d=5..64, float64 (float32):
# k=3: 0.41-0.79 (0.62-0.74); k=8: 0.63-1.36 (0.92-1.17); k=12: 0.98-1.18 (1.11-1.39);
# k=16: 1.13-1.63 (1.09-1.44); k=64: 1.9-2.9 (1.9-2.3). Up to 4 features the tiled
# kernels are faster.
GEMM_MIN_FEATURES = 5
GEMM_MIN_CLUSTERS = 12

# Rows per tile of the matrix-product kernels, at most, and the scores per tile
# (n_clusters x rows float32) they aim at: the tile and its scores stay in L2 and BLAS
# runs near its rate. One Lloyd pass, 2 threads, float32, 2-core AMD EPYC, tiles of
# 64 / 128 / 256 / 512 rows: 200k x 128, k=256: - / 174 / 155 / 149 ms; k=1024:
# 713 / 584 / 549 / 651 ms; 100k x 128, k=4096: 1124 / 1182 / 1372 / - ms; 100k x 768,
# k=1024: - / 1562 / 1489 / - ms. (Products were capped at 262,144 multiply-adds
# before, 8 rows at d=128 and k=1024, so that OpenBLAS stayed on the calling thread: 2.2 s
# and 6.2 s for two of these passes. Every kernel call of the glue now runs under a
# one-thread BLAS limit, dask_glue/_limits.py.)
GEMM_TILE_ROWS = 256
GEMM_MIN_TILE_ROWS = 16
GEMM_TILE_SCORES = 1 << 18

# From this many clusters (on the matrix-product method) the Lloyd passes carry per-row
# bounds (bounds.py) and skip the products that cannot change a label;
# BOUNDS_CANDIDATES centers are kept per row and up to BOUNDS_MOVERS centers that moved
# most are measured where their move matters. Whole fits to convergence from the same
# random rows, 100k rows (make_blobs, 64 blobs, float32), 2 threads, 2-core AMD EPYC,
# plain / bounded time: k=64: d=16 0.39, d=128 0.64; k=128: d=16 1.05, d=32 1.22,
# d=128 1.41; k=256: d=5 1.16, d=8 1.22, d=16 1.38, d=32 1.58, d=128 1.75. Below it
# the candidates' exact distances cost more than the products they save.
BOUNDS_MIN_CLUSTERS = 128
BOUNDS_CANDIDATES = 8
BOUNDS_MOVERS = 32

_EMPTY = np.empty(0)


def use_gemm(n_features, n_clusters):
    """Whether distances to n_clusters centers go through the matrix-product kernels."""
    return n_features >= GEMM_MIN_FEATURES and n_clusters >= GEMM_MIN_CLUSTERS


def use_bounds(n_features, n_clusters):
    """Whether the Lloyd passes over blocks of this shape carry per-row bounds
    (`kernels.bounded_lloyd_partial_sums`) instead of comparing every row with every
    center."""
    return use_gemm(n_features, n_clusters) and n_clusters >= BOUNDS_MIN_CLUSTERS


def bounds_shape(n_clusters):
    """(candidates per row, movers measured per pass) of the bounded Lloyd passes."""
    return min(BOUNDS_CANDIDATES, n_clusters), min(BOUNDS_MOVERS, n_clusters)


def tile_case(n_features):
    """The width a tiled kernel is compiled for: n_features up to MAX_TILE_FEATURES, else
    0 (not tiled)."""
    return n_features if n_features <= MAX_TILE_FEATURES else 0


def squared_norms(centers):
    """(k,) float64 squared norms of the centers, for the kernels that rank them by
    ||c||^2 - 2 x.c (numpy's, as the glue computed them before: the same bits)."""
    return np.einsum("ij,ij->i", centers, centers)


def gemm_rows(n_clusters):
    """Rows per matrix-product tile: GEMM_TILE_ROWS, fewer (a multiple of 8, at least
    GEMM_MIN_TILE_ROWS) where the tile would hold more than GEMM_TILE_SCORES scores."""
    fit = GEMM_TILE_SCORES // max(n_clusters, 1) // 8 * 8
    return max(GEMM_MIN_TILE_ROWS, min(GEMM_TILE_ROWS, fit))


@dataclass(frozen=True)
class _Op:
    serial: object  # the block kernel: numba, or Python entering each method's numba kernel
    parallel: object  # its in-memory driver (a Python function, _threads.py)
    methods: tuple  # ("tiles", "rows", "gemm"), or one method taking no method arguments
    reads_sqnorm: bool  # whether the method arguments start with the centers' sq. norms
    outputs: range  # positions of the arrays the kernel writes; it only reads the others


_DENSE = ("tiles", "rows", "gemm")
_OPS = {
    "lloyd_partial_sums": _Op(lloyd.lloyd_block, lloyd.lloyd_parallel, _DENSE, True,
                              range(5, 11)),
    "assign_labels": _Op(distances.assign_block, distances.assign_parallel, _DENSE, True,
                         range(4, 6)),
    "euclidean_distances": _Op(distances.distances_block, distances.distances_parallel,
                               ("rows",), False, range(4, 5)),
    "update_mindist_sample": _Op(sampling.nearest_new_block, sampling.nearest_new_parallel,
                                 _DENSE, False, range(5, 7)),
    "bounded_lloyd_partial_sums": _Op(bounds.bounded_lloyd_block,
                                      bounds.bounded_lloyd_parallel, ("gemm",), False,
                                      range(8, 16)),
    "sparse_lloyd_partial_sums": _Op(sparse.sparse_lloyd_block, sparse.sparse_lloyd_parallel,
                                     ("csr",), False, range(7, 13)),
    "sparse_assign_labels": _Op(sparse.sparse_assign_block, sparse.sparse_assign_parallel,
                                ("csr",), False, range(6, 8)),
    "sparse_euclidean_distances": _Op(sparse.sparse_distances_block,
                                      sparse.sparse_distances_parallel, ("csr",), False,
                                      range(6, 7)),
}
DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

_recording = []  # sets of (variant, argument types), see `record`


@dataclass(frozen=True)
class Variant:
    """One compiled loop: an operation, its method, the tile width (tiles only, else 0),
    serial or parallel, and X's dtype (None: any)."""

    op: str
    method: str
    width: int
    parallel: bool
    dtype: object = None
    kernel: object = field(default=None, compare=False, repr=False)

    def shape(self):
        """(n_features, n_clusters) of the smallest block `variant` runs this on."""
        if self.method == "tiles":
            return self.width, 1
        if self.method == "gemm":
            return GEMM_MIN_FEATURES, GEMM_MIN_CLUSTERS
        return MAX_TILE_FEATURES + 1, 1

    def method_args(self, shift, centers):
        """The arguments the kernel takes after its own: (centers' squared norms, for
        the operations that read them,) the shift as a tuple for tiles, else None, and
        the rows per matrix-product tile, None for tiles, 0 for row by row."""
        if len(_OPS[self.op].methods) == 1:
            return ()
        tiles = tuple(float(s) for s in shift) if self.method == "tiles" else None
        rows = (gemm_rows(centers.shape[0]) if self.method == "gemm"
                else None if self.method == "tiles" else 0)
        if not _OPS[self.op].reads_sqnorm:
            return tiles, rows
        sqnorm = squared_norms(centers) if self.method == "rows" else _EMPTY
        return sqnorm, tiles, rows

    @property
    def dispatcher(self):
        """The numba dispatcher holding this variant's machine code: the kernel itself,
        or, for the dense block kernels (Python, entering each method's numba kernel:
        `lloyd.lloyd_block`), its method's; None for the parallel drivers."""
        if self.parallel:
            return None
        found = getattr(self.kernel, "dispatchers", None)
        return self.kernel if found is None else found[self.method]

    def __call__(self, *args):
        """Run the kernel on `args`, every array it only reads as a read-only view
        (noting their types while `record` is active).

        numba compiles a signature per writeable flag: without the views, a read-only X
        (a memory map, a broadcast array, zarr's or joblib's memmapped blocks) or weight
        vector compiled every variant a second time (3-10 s each, cold)."""
        outputs = _OPS[self.op].outputs
        args = tuple(a if i in outputs else read_only(a) for i, a in enumerate(args))
        for seen in _recording:
            seen.add((self, tuple(typeof(a) for a in args)))
        return self.kernel(*args)


def read_only(a):
    """`a` itself unless it is a writeable ndarray, then a read-only view of it."""
    if not isinstance(a, np.ndarray) or not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def _method(op, n_features, n_clusters):
    methods = _OPS[op].methods
    if len(methods) == 1:
        return methods[0], 0
    if tile_case(n_features):
        return "tiles", n_features
    return ("gemm" if use_gemm(n_features, n_clusters) else "rows"), 0


def variant(op, n_features, n_clusters, parallel=False, dtype=None):
    """The variant that runs `op` on a block of n_features columns against n_clusters
    centers (candidates, for update_mindist_sample); `parallel` for the in-memory
    driver. The kernel's dtype is that of X (`dtype`, float32 or float64)."""
    ops = _OPS[op]
    method, width = _method(op, n_features, n_clusters)
    return Variant(op, method, width, bool(parallel),
                   None if dtype is None else np.dtype(dtype),
                   ops.parallel if parallel else ops.serial)


def variants(parallel=(False, True), dtypes=DTYPES):
    """Every compiled variant: each operation, method, tile width, parallel or serial
    (among `parallel`) and X dtype (among `dtypes`)."""
    found = []
    for op, ops in _OPS.items():
        for method in ops.methods:
            widths = range(1, MAX_TILE_FEATURES + 1) if method == "tiles" else [0]
            for width in widths:
                for par in parallel:
                    for dtype in dtypes:
                        found.append(Variant(op, method, width, par, np.dtype(dtype),
                                             ops.parallel if par else ops.serial))
    return found


@contextlib.contextmanager
def record():
    """Collect the (variant, numba argument types) of every kernel call made meanwhile,
    in this thread or any other, into the set this yields."""
    seen = set()
    _recording.append(seen)
    try:
        yield seen
    finally:
        _recording.remove(seen)
