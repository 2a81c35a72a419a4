"""Compilation flags shared by every kernel (one place, as stumpy's ``config.py``)."""

import os

# Cache compiled machine code on disk so that a fresh process (a dask worker, the CLI)
# loads the kernels instead of compiling them again.
CACHE = os.environ.get("CHUNKML_NUMBA_CACHE", "1") != "0"

# fastmath as a set *without* "nnan"/"ninf": NaN and inf must survive the arithmetic,
# because a NaN inertia is how the first pass detects non-finite input (umap#1228).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Rows per task in the in-memory parallel variants: small enough to balance the load,
# large enough that the per-chunk partial buffers stay cheap.  The number of chunks
# depends only on n_samples, so results do not depend on the number of threads.
CHUNK_ROWS = 4096
MAX_CHUNKS = 256

# Rows assigned before they are accumulated, in the fused Lloyd kernel: a tile's labels
# stay in L1.
TILE_ROWS = 128

# Up to this many features, distances to a set of candidates are computed a tile of rows
# at a time (rows innermost, vectorised); above it, row by row.
SMALL_FEATURES = 8
