"""Sampling kernels for k-means|| (Bahmani et al. 2012), k-means++ and random init.

Every row's random draw is `counter_uniform(seed, stream, global row index)`, so the rows
drawn do not depend on how X is chunked. Each block keeps its rows with the largest
sampling keys in a fixed-size heap; merging the heaps of all blocks gives the sample.
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH, TILE_ROWS
from ._moments import N_STATS, block_stats
from ._random import stream_key, uniform_at
from ._tile import MAX_TILE_FEATURES, load_tile, nearest_in_tile, tile_case
from ._topk import topk_finish, topk_push
from .assign import load_rows
from .gemm import nearest_new_gemm, use_gemm


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

    Rows are read in the frame (shift, scale) (see assign.py), candidates are in it."""
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
def _nearest_new_tiled(X, shift, scale, candidates, first_id, inout_mindist, inout_nearest,
                       n_features):
    """As `nearest_new_rows`, a transposed tile of rows at a time (see _tile.py);
    n_features is a literal."""
    n_samples = X.shape[0]
    flat = X.ravel()
    tile = np.empty((n_features, TILE_ROWS))
    spare_best = np.empty(TILE_ROWS)
    spare_id = np.empty(TILE_ROWS, dtype=np.int64)
    no_offset = np.empty(0)
    for start in range(0, n_samples, TILE_ROWS):
        m = min(TILE_ROWS, n_samples - start)
        load_tile(flat, start, m, n_features, shift, scale, tile)
        nearest_in_tile(tile, m, n_features, candidates, no_offset, True, first_id,
                        inout_mindist[start:start + m], inout_nearest[start:start + m],
                        spare_best, spare_id)


def update_mindist_sample(X, shift, scale, new_centers, first_id, mindist, nearest,
                          sample_weight, seed, stream, row_offset, exponential, out_mindist,
                          out_nearest, out_top_key, out_top_idx):
    """One k-means|| (or k-means++) round for a block; returns its weighted cost phi.

    Updates each row's squared distance to the candidate set, and the id of its nearest
    candidate, against the NEW candidates only; then gives the row the sampling key
    p / u (k-means||: the row is drawn iff u < l * p / phi, i.e. iff its key exceeds
    phi / l) or p / -log(u) (k-means++: the largest key is a draw proportional to p),
    where p = weight * distance. The distances come from the tiled kernels up to 4
    features, from matrix products when `gemm.use_gemm` says so, else row by row.

    Parameters
    ----------
    X : (n, d) float32|float64, IN.
    shift : (d,) float64, scale : float, IN. The frame (see assign.py): distances, phi
        and keys are in its units.
    new_centers : (c, d) float64, IN, in the frame: candidates added since `mindist` was
        computed.
    first_id : int
        Id of new_centers[0]; the others follow in order.
    mindist : (n,) float64, IN: squared distance to the earlier candidates; or (0,) when
        there were none (infinite distance).
    nearest : (n,) int64, IN: id of the nearest earlier candidate; (0,) when none.
    sample_weight : (n,) float64, IN; or (0,) for unit weights.
    seed, stream, row_offset : int
        The draw of row i is counter_uniform(seed, stream, row_offset + i).
    exponential : bool
        Exponential keys (k-means++) instead of uniform ones (k-means||).
    out_mindist : (n,) float64, OUT (overwritten): updated squared distances.
    out_nearest : (n,) int64, OUT (overwritten): updated nearest candidate ids (-1 while
        there is no candidate).
    out_top_key, out_top_idx : (m,) float64 / int64, OUT: the largest keys and their block
        row indices, -1 in unused slots; rows with p == 0 are never kept. m may be 0.

    Returns
    -------
    phi : float
        Sum over rows of weight * updated squared distance.
    """
    _start_round(mindist, nearest, out_mindist, out_nearest)
    # A private copy of the candidates: no output store can alias it.
    step = (nearest_new_gemm if use_gemm(X.shape[1], new_centers.shape[0])
            else _NEAREST_NEW[tile_case(X.shape[1])])
    step(X, shift, scale, np.array(new_centers, dtype=np.float64), first_id, out_mindist,
         out_nearest)
    return _key_rows(out_mindist, sample_weight, seed, stream, row_offset, exponential,
                     out_top_key, out_top_idx)


@njit(nogil=True, cache=CACHE)
def _start_round(mindist, nearest, out_mindist, out_nearest):
    """out_* = the incoming (distance, id) state, or (inf, -1) when there is none."""
    have_mindist = mindist.shape[0] > 0
    for i in range(out_mindist.shape[0]):
        out_mindist[i] = mindist[i] if have_mindist else np.inf
        out_nearest[i] = nearest[i] if have_mindist else -1


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _key_rows(mindist, sample_weight, seed, stream, row_offset, exponential, out_top_key,
              out_top_idx):
    """phi and the heap of the largest sampling keys (see `update_mindist_sample`)."""
    unit_weight = sample_weight.shape[0] == 0
    key_seed = stream_key(seed, stream)
    n_top = out_top_key.shape[0]
    phi = 0.0
    size = 0
    for i in range(mindist.shape[0]):
        w = 1.0 if unit_weight else sample_weight[i]
        p = w * mindist[i]
        phi += p
        if p > 0 and n_top > 0:
            u = uniform_at(key_seed, row_offset + i)
            denom = -np.log(u) if exponential else u
            # key = p / denom beats the heap's worst key: tested without dividing.
            if size < n_top or p >= out_top_key[0] * denom:
                size = topk_push(out_top_key, out_top_idx, size, p / denom, i)
    topk_finish(out_top_key, out_top_idx, size)
    return phi


def _specialise(case):
    """The candidate-distance step for one tile case: row by row for 0, else tiled with
    that literal width (1.7x faster than row by row at 2 features and 35 candidates).
    numba compiles (or loads) it on its first call; the closure holds only the integer
    `case` (see lloyd._specialise)."""
    if case == 0:
        return nearest_new_rows

    @njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
    def nearest_new(X, shift, scale, candidates, first_id, inout_mindist, inout_nearest):
        _nearest_new_tiled(X, shift, scale, candidates, first_id, inout_mindist,
                           inout_nearest, case)

    return nearest_new


_NEAREST_NEW = {case: _specialise(case) for case in range(MAX_TILE_FEATURES + 1)}
