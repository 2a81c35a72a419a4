"""Row chunks of the parallel Lloyd steps, their per-chunk partial buffers (or a ring of
cluster sums, `sum_ring`), the run of the chunks on threads (`run_chunks`), and their
merge (a numba kernel, called by `lloyd.lloyd_merge`)."""

import numba
import numpy as np
from numba import njit

from . import _config
from ._config import CACHE, CHUNK_ROWS, FASTMATH, MAX_CHUNKS
from ._moments import merge_moments
from ._threads import run_in_order, run_parts
from ._topk import topk_push


def chunk_bounds(n_samples):
    """(number of chunks, rows per chunk) of the parallel Lloyd steps; depends on
    n_samples only. Plain Python, as `chunk_partials`: both run once per call, on the
    calling thread (_threads.py), where a numba kernel would only add a compile."""
    n_chunks = min(max((n_samples + CHUNK_ROWS - 1) // CHUNK_ROWS, 1), MAX_CHUNKS)
    return n_chunks, (n_samples + n_chunks - 1) // n_chunks


def chunk_partials(n_chunks, n_clusters, n_features, n_moment_rows, n_far, n_sums=None):
    """Zeroed (sums, weight, moments, inertia) and empty (far_dist, far_idx, far_label)
    buffers, one row per chunk, so that no two threads add into the same cluster sum;
    `n_sums` rows of sums instead (a ring: chunk c adds into row c % n_sums)."""
    n_sums = n_chunks if n_sums is None else n_sums
    return (np.zeros((n_sums, n_clusters, n_features)), np.zeros((n_chunks, n_clusters)),
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
    zeroed beforehand when it has 2 rows. sums with no rows: the caller has added the
    chunks' sums into out_sums already (a ring of them, `sum_ring`).
    """
    far_size = 0
    n_seen = 0
    total = 0.0
    for c in range(inertia.shape[0]):
        start = c * rows
        # Loops, not array expressions: those compile numba's broadcasting checks and
        # their formatted error messages (0.5-1 s of a cold in-memory fit).
        for j in range(out_weight.shape[0]):
            if sums.shape[0] > 0:
                for f in range(out_sums.shape[1]):
                    out_sums[j, f] += sums[c, j, f]
            out_weight[j] += weight[c, j]
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


def sum_ring(n_chunks, n_clusters, n_features):
    """Rows of cluster sums the parallel Lloyd steps keep: one per chunk, or where those
    would take more than MAX_CHUNK_SUMS_BYTES, two per thread (fewer than n_chunks)."""
    ring = 2 * max(numba.get_num_threads(), 1)
    too_many = n_chunks * n_clusters * n_features * 8 > _config.MAX_CHUNK_SUMS_BYTES
    if not too_many or ring >= n_chunks:
        return n_chunks
    return ring


def run_chunks(work, sums, n_chunks, out_sums):
    """Run ``work(first, stop)`` over the chunks on threads: with one row of `sums` per
    chunk, contiguous ranges of chunks (`run_parts`); with a ring of them, one chunk at a
    time, each chunk's sums added into out_sums (and its row zeroed for the next) in
    chunk order (`run_in_order`). Either way out_sums ends with the same additions in the
    same order, once `merge_chunk_partials` has run (given ``sums[:0]`` after a ring)."""
    ring = sums.shape[0]
    if ring == n_chunks:
        run_parts(work, n_chunks)
        return sums

    def fold(c):
        row = sums[c % ring]
        np.add(out_sums, row, out=out_sums)
        row[...] = 0.0

    run_in_order(lambda c: work(c, c + 1), fold, n_chunks, ring)
    return sums[:0]
