"""Compilation flags shared by every kernel (one place, as stumpy's ``config.py``)."""

import os

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

# Rows per tile in the tiled kernels (_tile.py) and in the row-by-row Lloyd kernel, which
# assigns a tile before it accumulates it: a tile and its labels stay in L1 (256 measured
# no faster).
TILE_ROWS = 128

# Up to this many clusters, the tiled Lloyd kernel sums each cluster's rows of a tile with
# a masked, vectorised loop per cluster; above it, it adds each row to its cluster's sums.
MASKED_MAX_CLUSTERS = 4

# Rows per tile of the matrix-product kernels (gemm.py), at most: the float32 tile and its
# (rows, n_clusters) scores stay in L2.
GEMM_TILE_ROWS = 256

# Multiply-adds per matrix product (tile rows x n_features x n_clusters), at most: OpenBLAS
# runs a product of m n k <= 65536 * 4 on the calling thread whatever its thread count
# (interface/gemm.c: SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD), so the kernels never
# start BLAS threads inside dask tasks, which already run one per core. Above it, two
# threads each calling a 2-thread sgemm took 1.2x (quiet 2-core machine) to 10x (loaded
# machine) as long as with 1-thread BLAS.
GEMM_MAX_PRODUCT = 65536 * 4

# The matrix-product kernels (gemm.py) replace the row-by-row ones from this many features
# and clusters. Their BLAS product costs less per center and feature, but each center adds
# a fixed cost per row (transposing and scanning the scores), so the number of clusters,
# not n_features * n_clusters, decides. Lloyd pass time, row-by-row / gemm, on 100k-row
# blocks, one thread, 2-core AMD EPYC (AVX2), d=5..64, float64 (float32):
# k=3: 0.41-0.79 (0.62-0.74); k=8: 0.63-1.36 (0.92-1.17); k=12: 0.98-1.18 (1.11-1.39);
# k=16: 1.13-1.63 (1.09-1.44); k=64: 1.9-2.9 (1.9-2.3). Up to 4 features the tiled
# kernels (_tile.py) are faster.
GEMM_MIN_FEATURES = 5
GEMM_MIN_CLUSTERS = 12
