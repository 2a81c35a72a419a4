"""Row chunks of the parallel Lloyd steps, their per-chunk partial buffers, and their
merge (a numba kernel, called by `lloyd.lloyd_merge`)."""

import numpy as np
from numba import njit

from ._config import CACHE, CHUNK_ROWS, FASTMATH, MAX_CHUNKS
from ._moments import merge_moments
from ._topk import topk_push


def chunk_bounds(n_samples):
    """(number of chunks, rows per chunk) of the parallel Lloyd steps; depends on
    n_samples only. Plain Python, as `chunk_partials`: both run once per call, on the
    calling thread (_threads.py), where a numba kernel would only add a compile."""
    n_chunks = min(max((n_samples + CHUNK_ROWS - 1) // CHUNK_ROWS, 1), MAX_CHUNKS)
    return n_chunks, (n_samples + n_chunks - 1) // n_chunks


def chunk_partials(n_chunks, n_clusters, n_features, n_moment_rows, n_far):
    """Zeroed (sums, weight, moments, inertia) and empty (far_dist, far_idx, far_label)
    buffers, one row per chunk, so that no two threads add into the same cluster sum."""
    return (np.zeros((n_chunks, n_clusters, n_features)), np.zeros((n_chunks, n_clusters)),
            np.zeros((n_chunks, n_moment_rows, n_features)), np.zeros(n_chunks),
            np.empty((n_chunks, n_far)), np.empty((n_chunks, n_far), dtype=np.int64),
            np.empty((n_chunks, n_far), dtype=np.int64))


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def merge_chunk_partials(sums, weight, moments, inertia, far_dist, far_idx, far_label, rows,
                         n_samples, far_key_clusters, out_sums, out_weight, out_moments,
                         out_far_dist, out_far_idx):
    """Add the chunks' partials (`chunk_partials`, chunk c holding rows c*rows...) into the
    outputs, in chunk order; returns (total inertia, rows in the far heap).

    Far rows are offered by global row index, or by ``index * far_key_clusters + label``
    when far_key_clusters > 0 (the encoding of every Lloyd kernel's heap, see
    `_topk.decode_far`). out_moments must be
    zeroed beforehand when it has 2 rows.
    """
    far_size = 0
    n_seen = 0
    total = 0.0
    for c in range(inertia.shape[0]):
        start = c * rows
        out_sums += sums[c]
        out_weight += weight[c]
        total += inertia[c]
        if out_moments.shape[0] == 2:
            n_rows = max(min(rows, n_samples - start), 0)
            n_seen = merge_moments(n_seen, out_moments, n_rows, moments[c])
        for s in range(far_idx.shape[1]):
            if far_idx[c, s] >= 0:
                key = far_idx[c, s] + start
                if far_key_clusters > 0:
                    key = key * far_key_clusters + far_label[c, s]
                far_size = topk_push(out_far_dist, out_far_idx, far_size, far_dist[c, s], key)
    return total, far_size

