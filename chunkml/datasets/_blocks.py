"""The row blocks of a generated dataset: their sizes, and the dask graph of one
``X`` task and one ``y`` task per block."""

import numbers

import numpy as np
import dask.array as da
from dask.array.core import normalize_chunks

# Default block: at most a million rows and about 128 MiB of float64 X. A fixed
# number rather than dask's "array.chunk-size" setting, so that the default
# data do not change with the user's dask configuration.
_DEFAULT_MAX_ROWS = 1_000_000
_DEFAULT_BLOCK_BYTES = 128 * 2**20


def _row_chunks(chunks, n_samples, n_features):
    """Normalise ``chunks`` to a tuple of row counts that sums to ``n_samples``.

    Only None, a positive int or a sequence of non-negative ints: dask's other forms
    ("auto", -1, byte sizes) are not accepted, as the data depend on the chunks. These
    checks give the messages; dask's ``normalize_chunks`` then lays out the blocks.
    """
    if chunks is None:
        rows = _DEFAULT_BLOCK_BYTES // (8 * n_features)
        chunks = max(1, min(n_samples, _DEFAULT_MAX_ROWS, rows))
    if isinstance(chunks, numbers.Integral) and not isinstance(chunks, bool):
        if chunks < 1:
            raise ValueError(f"chunks must be a positive int, got {chunks}.")
        chunks = int(chunks)
    else:
        try:
            sizes = tuple(chunks)
        except TypeError:
            raise TypeError(
                f"chunks must be None, an int or a tuple of ints, got {chunks!r}."
            ) from None
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, numbers.Integral):
                raise TypeError(
                    f"chunks must be None, an int or a tuple of ints, got {chunks!r}."
                )
            if size < 0:
                raise ValueError(
                    f"chunks must not contain negative sizes, got {chunks}."
                )
        if sum(sizes) != n_samples:
            raise ValueError(
                f"chunks must sum to n_samples={n_samples}, got {sum(sizes)}."
            )
        chunks = tuple(int(size) for size in sizes)
    # An int: full blocks of that many rows, then the remainder (as dask.array does).
    (row_chunks,) = normalize_chunks((chunks,), shape=(n_samples,))
    return row_chunks


def _lazy_pair(x_block, y_block, args, row_chunks, n_features):
    """(X, y) dask arrays with one ``x_block`` / ``y_block`` task per row block.

    Both block functions take the same leading ``args``, so that X and y of a
    block draw the same labels; each ignores the ones it does not need.

    The row counts travel as one shared int64 array (the blocks index it with
    their ``block_id``) rather than through ``block_info``, which dask builds
    per block at graph-build time.
    """
    rows = np.asarray(row_chunks, dtype=np.int64)
    X = da.map_blocks(
        x_block,
        *args,
        rows,
        n_features,
        chunks=(row_chunks, (n_features,)),
        dtype=np.float64,
        meta=np.empty((0, 0), dtype=np.float64),
    )
    y = da.map_blocks(
        y_block,
        *args,
        rows,
        chunks=(row_chunks,),
        dtype=np.int64,
        meta=np.empty((0,), dtype=np.int64),
    )
    return X, y
