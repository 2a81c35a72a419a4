"""Compilation flags shared by every kernel (one place, as stumpy's ``config.py``)."""

import functools
import os

from numba.extending import overload

from ._cache import SALTED

# Cache compiled machine code on disk so that a fresh process (a dask worker, the CLI)
# loads the kernels instead of compiling them again; only with the salt that keys the
# cache on every kernel file (_cache.py), which numba's own cache does not.
CACHE = os.environ.get("CHUNKML_NUMBA_CACHE", "1") != "0" and SALTED

# fastmath as a set *without* "nnan"/"ninf": NaN and inf must survive the arithmetic,
# because a NaN inertia is how the first pass detects non-finite input (umap#1228).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Rows per task in the in-memory parallel variants: small enough to balance the load,
# large enough that the per-chunk partial buffers stay cheap.  The number of chunks
# depends only on n_samples, so results do not depend on the number of threads.
CHUNK_ROWS = 4096
MAX_CHUNKS = 256

# The parallel Lloyd steps keep each chunk's cluster sums apart (k x d float64 a chunk)
# while they take at most this much in all; beyond it (many clusters and features: 1M
# rows, k=1024, d=768 would take 1.6 GB), a ring of two buffers per thread, each folded
# into the output as its chunk finishes, in chunk order (_threads.run_in_order).
MAX_CHUNK_SUMS_BYTES = 32 << 20

# Rows per tile in the tiled kernels (_tile.py) and in the row-by-row Lloyd kernel, which
# assigns a tile before it accumulates it: a tile and its labels stay in L1 (256 measured
# no faster).
TILE_ROWS = 128

# Up to this many features, the first pass's statistics (`_moments.block_stats`) read a
# block a feature at a time, a chunk of rows in cache at once, with the sums and ranges
# in registers; wider blocks row by row, each row's features as one vector. 10 blocks of
# 2M values, float64, one thread, Intel Xeon, by feature / by row, ms: d=1 39 / 126,
# d=2 29 / 95, d=4 31 / 80, d=8 32 / 52, d=12 42 / 34, d=32 48 / 24, d=128 55 / 22.
STATS_BY_FEATURE_MAX_FEATURES = 8
STATS_CHUNK_VALUES = 2048

# Up to this many clusters, the tiled Lloyd kernel sums each cluster's rows of a tile with
# a masked, vectorised loop per cluster; above it, it adds each row to its cluster's sums.
# 100k x 2 rows, one thread, Intel Xeon, masked / scattered, ns a row: k=5 4.2 / 4.7,
# k=8 4.9 / 4.7, k=12 6.7-7.5 / 5.8, k=16 8.5-8.7 / 6.6.
MASKED_MAX_CLUSTERS = 6

# From this many clusters the matrix-product kernels (_gemm_tile.py) have BLAS write the
# scores centers x rows (centers @ tile.T); below it, tile @ centers.T and a transpose.
# Microseconds per tile of 256 rows, one thread, 2-core AMD EPYC, transposed product vs
# product + transpose: d=32: k=16 11.0 vs 9.6, k=32 14.0 vs 12.1, k=48 17.9 vs 20.8;
# d=16: k=32 8.0 vs 8.6, k=48 10.7 vs 12.8, k=64 13.4 vs 20.6; d=128: k=256 241 vs 279,
# k=1024 792 vs 1052; d=768, k=1024: 5960 vs 6781.
GEMM_TRANSPOSED_MIN_CLUSTERS = 48


def helper(fastmath=FASTMATH):
    """Decorate a function that only chunkml's kernels call (the kernels Python calls
    are ``numba.njit(nogil=True, cache=CACHE, ...)``).

    numba compiles it into each kernel that calls it, as ``numba.extending``'s
    `register_jitable` does, without the Python and C entry points that an ``njit``
    function compiles for its every signature (and every caller links in again): the
    seed workload's cold first fit 5.6 -> 4.8 s on a 2-core Intel Xeon (BENCHMARKS.md,
    "numba compile and load"). Its machine code is cached with the kernels it is
    compiled into. Called from Python it raises TypeError, where register_jitable would
    run it as plain Python, a thousand times slower: tests call it through a kernel of
    their own.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def python_call(*args, **kwargs):
            raise TypeError(f"{fn.__module__}.{fn.__qualname__} runs only inside chunkml's "
                            "numba kernels")

        def implementation(*args, **kwargs):
            return fn

        overload(python_call, jit_options={"fastmath": fastmath}, strict=False)(
            implementation)
        return python_call

    return decorate
