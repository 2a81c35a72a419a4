"""The sample fit (KMeans's `sample_size`): a uniform, chunk-invariant sample of rows."""

import math

import dask.array as da
import numpy as np
import scipy.sparse as sp

from ._input import is_dask_collection, make_rows
from ._partials import SamplePartial
from ._dask_rows import SPLIT_EVERY
from ._sparse import is_sparse, is_sparse_dask
from .lloyd import check_first_pass


def resolve_sample_size(sample_size, n_samples, n_clusters):
    """Rows of the sample a fit runs on (an int) from KMeans's `sample_size`: an int as
    is, a float in (0, 1] as that fraction of n_samples (rounded up). ValueError,
    naming the parameter, for more rows than X has or fewer than n_clusters."""
    if isinstance(sample_size, float):
        rows = math.ceil(sample_size * n_samples)
        given = f"sample_size={sample_size!r} ({rows} of the {n_samples} rows of X)"
    else:
        rows = int(sample_size)
        given = f"sample_size={sample_size!r}"
    if rows > n_samples:
        raise ValueError(f"{given} is larger than n_samples={n_samples}; give at most "
                         f"n_samples rows, or a fraction in (0, 1].")
    if rows < n_clusters:
        raise ValueError(f"{given} is smaller than n_clusters={n_clusters}: the sample "
                         f"must have at least n_clusters rows.")
    return rows


# Bytes of sampled rows merged per task of the sample pass's reduction tree.
_SAMPLE_MERGE_BYTES = 16 * 2**20


def sample_for_fit(X, sample_weight, n_rows, seed):
    """A uniform sample of n_rows rows of X, without replacement, in X's row order:
    (X_sample, weight_sample, index).

    One pass over X (that also checks it for NaN/inf). Each row's draw depends only on
    (seed, its global row index), so the rows are the same whatever the chunking (dask X
    with known chunk sizes). The rows keep X's dtype and kind (CSR for sparse X) and
    their weights; the sample is in memory (numpy).
    """
    # Each partial of the reduction holds up to n_rows rows: merge two at a time once
    # that is large (as minibatch.py's sample pass), not SPLIT_EVERY.
    n_bytes = SamplePartial.nbytes(X.shape[1], n_rows)
    split_every = int(np.clip(_SAMPLE_MERGE_BYTES // n_bytes, 2, SPLIT_EVERY))
    part = make_rows(X, None).sample(seed, 0, n_rows, split_every=split_every)
    order = np.argsort(part.index, kind="stable")
    index = part.index[order]
    min_weight, total_weight = part.min_weight, part.total
    if sample_weight is None:
        weight = None
    elif isinstance(sample_weight, da.Array):
        # The sample is drawn without the weights, so the pass above did not read them:
        # one pass over the weights alone checks all of them, not only the sampled rows'
        # (a negative weight elsewhere would make inertia_ silently wrong).
        min_weight, total_weight, weight = da.compute(
            sample_weight.min(), sample_weight.sum(), sample_weight[index])
        weight = np.asarray(weight, dtype=np.float64)
    else:
        weight = np.asarray(sample_weight, dtype=np.float64)[index]
    check_first_pass(1, part.n_samples, part.stats.moments, float(min_weight),
                     float(total_weight))
    rows = part.X[order].astype(X.dtype)
    if is_sparse(X) or is_sparse_dask(X):
        rows = sp.csr_matrix(rows)
    return rows, weight, index



def known_rows(X, sample_weight):
    """X and weights with known row chunk sizes (one pass over X when they are not)."""
    if not is_dask_collection(X) or not np.isnan(X.shape[0]):
        return X, sample_weight
    X = X.compute_chunk_sizes()
    if isinstance(sample_weight, da.Array):
        sample_weight = sample_weight.compute_chunk_sizes().rechunk((X.chunks[0],))
    return X, sample_weight

