"""Sampling kernels for k-means|| (Bahmani et al. 2012), k-means++ and random init.

The k-means|| round (`kernels.update_mindist_sample`, _ops.py) measures each row against
the new candidates with `nearest_new_block` (tiles, row by row, or matrix products, as
`_dispatch.py` chose) or `nearest_new_parallel` (on threads), then keys the rows
(`key_rows`). Every row's random draw is `counter_uniform(seed, stream, global row
index)`, so the rows drawn do not depend on how X is chunked. Each block keeps its rows
with the largest sampling keys in a fixed-size heap; merging the heaps of all blocks
gives the sample.
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH, TILE_ROWS
from ._gemm_tile import nearest_tile, shifted_centers, tile_work
from ._moments import N_STATS, block_stats
from ._random import stream_key, uniform_at
from ._rowwise import load_rows, squared_distance
from ._threads import over_rows
from ._tile import load_tile, nearest_in_tile
from ._topk import topk_finish, topk_push


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def sample_rows(X, sample_weight, seed, stream, row_offset, out_stats, out_top_key,
                out_top_idx):
    """Weighted sampling without replacement of rows, plus the block's statistics.

    Row i gets the key w_i / E_i with E_i = -log(u_i) exponential; the m rows with the
    largest keys over all of X are a sample of m rows drawn with probability proportional
    to their weight, without replacement (Efraimidis and Spirakis 2006).

    Parameters
    ----------
    X : (n, d) float32|float64, IN.
    sample_weight : (n,) float64, IN; or (0,) for unit weights.
    seed, stream, row_offset : int
        The draw of row i is counter_uniform(seed, stream, row_offset + i).
    out_stats : (N_STATS, d) float64, OUT: the block's per-feature min, max, mean and
        scaled M2 (`_moments.block_stats`; non-finite mean and M2 for non-finite input);
        or (0, d) to skip. This pass comes before any frame: it is how callers choose
        one.
    out_top_key, out_top_idx : (m,) float64 / int64, OUT: the kept keys and block row
        indices, -1 in unused slots. Rows of zero weight are never kept.

    Returns
    -------
    weight_sum : float
    """
    n_samples = X.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    with_moments = out_stats.shape[0] == N_STATS
    key_seed = stream_key(seed, stream)
    n_top = out_top_key.shape[0]
    size = 0
    weight_sum = 0.0
    # With unit weights a row's key 1 / -log(u) beats the heap's worst key only when
    # u > exp(-1 / worst): one comparison per row instead of a logarithm.
    u_floor = 0.0
    for i in range(n_samples):
        w = 1.0 if unit_weight else sample_weight[i]
        weight_sum += w
        if w > 0 and n_top > 0:
            u = uniform_at(key_seed, row_offset + i)
            if not unit_weight or u > u_floor:
                size = topk_push(out_top_key, out_top_idx, size, w / -np.log(u), i)
                if unit_weight and size == n_top > 0:
                    u_floor = np.exp(-1.0 / out_top_key[0])
    if with_moments:
        block_stats(X, out_stats)
    topk_finish(out_top_key, out_top_idx, size)
    return weight_sum


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def nearest_new_rows(X, shift, scale, candidates, first_id, inout_mindist, inout_nearest):
    """Lower each row's distance/id to the nearest of `candidates` where closer; by row.

    Rows are read in the frame (shift, scale) (see _rowwise.py), candidates are in it."""
    row = np.empty((1, X.shape[1]))
    for i in range(X.shape[0]):
        load_rows(X, i, i + 1, shift, scale, row)
        best = inout_mindist[i]
        best_id = inout_nearest[i]
        for j in range(candidates.shape[0]):
            dist = 0.0
            for f in range(X.shape[1]):
                diff = row[0, f] - candidates[j, f]
                dist += diff * diff
            closer = dist < best
            best = dist if closer else best
            best_id = first_id + j if closer else best_id
        inout_mindist[i] = best
        inout_nearest[i] = best_id


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _nearest_new_tiled(X, scale, candidates, first_id, inout_mindist, inout_nearest,
                       tile_shift):
    """As `nearest_new_rows`, a transposed tile of rows at a time (see _tile.py; 1.7x
    faster than row by row at 2 features and 35 candidates); the frame's shift as a
    tuple, whose length is a compile-time constant."""
    n_samples = X.shape[0]
    n_features = len(tile_shift)
    flat = X.ravel()
    tile = np.empty((n_features, TILE_ROWS))
    spare_best = np.empty(TILE_ROWS)
    spare_id = np.empty(TILE_ROWS, dtype=np.int64)
    for start in range(0, n_samples, TILE_ROWS):
        m = min(TILE_ROWS, n_samples - start)
        load_tile(flat, start, m, n_features, tile_shift, scale, tile)
        nearest_in_tile(tile, m, tile_shift, candidates, first_id,
                        inout_mindist[start:start + m], inout_nearest[start:start + m],
                        spare_best, spare_id)


@njit(nogil=True, cache=CACHE)
def start_round(mindist, nearest, out_mindist, out_nearest):
    """out_* = the incoming (distance, id) state, or (inf, -1) when there is none."""
    if mindist.shape[0] > 0:  # two loops: a load under a branch keeps one scalar
        for i in range(out_mindist.shape[0]):
            out_mindist[i] = mindist[i]
            out_nearest[i] = nearest[i]
    else:
        for i in range(out_mindist.shape[0]):
            out_mindist[i] = np.inf
            out_nearest[i] = -1


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def key_rows(mindist, sample_weight, seed, stream, row_offset, exponential, out_top_key,
              out_top_idx):
    """phi and the heap of the largest sampling keys (see `kernels.update_mindist_sample`).

    TILE_ROWS rows at a time: first, with no branch (so the compiler vectorises it), each
    row's p, its key's denominator and whether it may enter the heap, against the heap's
    smallest key when the chunk starts (it only grows, so no row that enters is missed);
    then the few such rows are offered one by one, in row order, with the exact test.
    """
    unit_weight = sample_weight.shape[0] == 0
    key_seed = stream_key(seed, stream)
    n_top = out_top_key.shape[0]
    n_samples = mindist.shape[0]
    p = np.empty(TILE_ROWS)
    denom = np.empty(TILE_ROWS)
    maybe = np.empty(TILE_ROWS, dtype=np.bool_)
    phi = 0.0
    size = 0
    for start in range(0, n_samples, TILE_ROWS):
        m = min(TILE_ROWS, n_samples - start)
        full = n_top > 0 and size == n_top
        worst = out_top_key[0] if full else 0.0
        # Loops of one kind each: a branch or a call in one keeps it scalar.
        if unit_weight:
            for r in range(m):
                p[r] = mindist[start + r]
        else:
            for r in range(m):
                p[r] = sample_weight[start + r] * mindist[start + r]
        if n_top == 0:  # phi only (the candidates' weights)
            for r in range(m):
                phi += p[r]
            continue
        for r in range(m):
            denom[r] = uniform_at(key_seed, row_offset + start + r)
        if exponential:
            for r in range(m):
                denom[r] = -np.log(denom[r])
        for r in range(m):
            phi += p[r]
            maybe[r] = p[r] > 0 and p[r] >= worst * denom[r]
        for r in range(m):
            # key = p / denom beats the heap's worst key: tested without dividing.
            if maybe[r] and (size < n_top or p[r] >= out_top_key[0] * denom[r]):
                size = topk_push(out_top_key, out_top_idx, size, p[r] / denom[r], start + r)
    topk_finish(out_top_key, out_top_idx, size)
    return phi


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _nearest_new_gemm(X, shift, scale, candidates, first_id, inout_mindist, inout_nearest,
                      gemm_rows):
    """As `nearest_new_rows`, by matrix products on tiles of gemm_rows rows (see
    _gemm_tile.py): the same exact squared distances; a row moves only to a strictly
    closer candidate, among equally close new ones the first."""
    n_samples, n_features = X.shape
    n_candidates = candidates.shape[0]
    if n_candidates == 0:
        return
    local = candidates.copy()
    gemm_centers = shifted_centers(local)
    work = tile_work(n_features, n_candidates, gemm_rows)
    for start in range(0, n_samples, gemm_rows):
        stop = min(start + gemm_rows, n_samples)
        labels = nearest_tile(X, start, stop, shift, scale, local, gemm_centers, work)
        for i in range(start, stop):
            j = labels[i - start]
            dist = squared_distance(X, i, shift, scale, local, j)
            closer = dist < inout_mindist[i]
            inout_mindist[i] = dist if closer else inout_mindist[i]
            inout_nearest[i] = first_id + j if closer else inout_nearest[i]


def nearest_new_block(X, shift, scale, candidates, first_id, inout_mindist, inout_nearest,
                      tile_shift, gemm_rows):
    """Lower each row's squared distance / id to the nearest of `candidates` (in the
    frame, ids first_id, first_id + 1, ...) where closer, by the method `_dispatch.py`
    chose: tiled when tile_shift is given and gemm_rows is None (one signature per
    width), by matrix products when gemm_rows > 0, else row by row. Python, entering
    each method's numba kernel directly (see `lloyd.lloyd_block`).

    inout_mindist (n,) float64 INOUT, exact squared distances (inf where there is no
    candidate yet); inout_nearest (n,) int64 INOUT."""
    if tile_shift is not None:
        _nearest_new_tiled(X, scale, candidates, first_id, inout_mindist, inout_nearest,
                           tile_shift)
    elif gemm_rows:
        _nearest_new_gemm(X, shift, scale, candidates, first_id, inout_mindist,
                          inout_nearest, gemm_rows)
    else:
        nearest_new_rows(X, shift, scale, candidates, first_id, inout_mindist,
                         inout_nearest)


# The numba kernel that holds each method's machine code (`_dispatch.Variant.dispatcher`).
nearest_new_block.dispatchers = {"tiles": _nearest_new_tiled, "gemm": _nearest_new_gemm,
                                 "rows": nearest_new_rows}


def nearest_new_parallel(X, shift, scale, candidates, first_id, inout_mindist,
                         inout_nearest, tile_shift, gemm_rows):
    """In-memory variant of `nearest_new_block` (the same results, bit for bit),
    parallel over row ranges that start on its tiles (`_threads.over_rows`)."""
    over_rows(lambda start, stop: nearest_new_block(
        X[start:stop], shift, scale, candidates, first_id, inout_mindist[start:stop],
        inout_nearest[start:stop], tile_shift, gemm_rows), X.shape[0],
        gemm_rows or TILE_ROWS)
