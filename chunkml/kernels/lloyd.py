"""The fused Lloyd step: assign and accumulate in one read of a block.

One block kernel, `lloyd_block`, runs the method `_dispatch.py` chose: transposed tiles
for few features, row by row, or matrix products (the nearest centers of a tile by
`_gemm_tile.nearest_tile`); the row-by-row and matrix-product methods share one
accumulate loop. It is Python, entering each method's numba kernel; `_lloyd_block`
branches between them in numba, for the parallel driver's chunks. One parallel driver,
`lloyd_parallel`, runs them over fixed row chunks on threads (_threads.py). The public
entry point is `kernels.lloyd_partial_sums` (_ops.py), which documents the arguments and
outputs.
"""

import numpy as np
from numba import njit

from ._chunks import (chunk_bounds, chunk_partials, merge_chunk_partials, run_chunks,
                      sum_ring)
from ._config import CACHE, FASTMATH, MASKED_MAX_CLUSTERS, TILE_ROWS, helper
from ._gemm_tile import nearest_tile, shifted_centers, tile_work
from ._moments import accumulate_moments, finish_moments
from ._rowwise import load_rows, nearest_center
from ._tile import load_tile, nearest_in_tile
from ._topk import decode_far, topk_finish, topk_push


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _finish(X, shift, scale, n_clusters, out_moments, out_far_dist, out_far_idx,
            out_far_label):
    """Complete a block's far-row heap (codes to rows and labels) and moments."""
    # Every row is offered while the heap has room, so it holds min(m, n) rows.
    topk_finish(out_far_dist, out_far_idx, min(out_far_dist.shape[0], X.shape[0]))
    decode_far(out_far_idx, out_far_label, n_clusters)
    if out_moments.shape[0] == 2:
        finish_moments(X, shift, scale, out_moments)


@helper()
def _add_sums(sums, weight, out_sums, out_weight):
    """out_sums += sums and out_weight += weight, in loops: numba compiles the array
    expressions' broadcasting checks and ufunc loops (0.1-0.2 s a kernel, cold)."""
    for j in range(weight.shape[0]):
        for f in range(sums.shape[1]):
            out_sums[j, f] += sums[j, f]
        out_weight[j] += weight[j]


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_tiled(X, scale, centers, sample_weight, out_sums, out_weight, out_moments,
                 out_far_dist, out_far_idx, tile_shift):
    """For few features, a transposed tile of rows at a time (see _tile.py); the frame's
    shift as the tuple tile_shift, whose length is a compile-time constant. Leaves the
    far-row heap unfinished and the moments as shifted sums."""
    n_samples = X.shape[0]
    n_features = len(tile_shift)
    n_clusters = centers.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    flat = X.ravel()
    local_centers = centers.copy()
    # The tile and its running minimum here, as in distances._assign_tiled, not from a
    # shared load-and-label helper: through one (4e5060f) this pass took 9.4-9.6 ms
    # against 6.9-7.6 ms (2M x 2, k=3, one thread, min of 40; main 6.8-8.1 ms).
    tile = np.empty((n_features, TILE_ROWS))
    best = np.empty(TILE_ROWS)
    labels = np.empty(TILE_ROWS, dtype=np.int64)
    spare_best = np.empty(TILE_ROWS)
    spare_labels = np.empty(TILE_ROWS, dtype=np.int64)
    w = np.ones(TILE_ROWS)
    sums = np.zeros((n_clusters, n_features))
    weight = np.zeros(n_clusters)
    # The moments' origin, the block's first row in the frame (see accumulate_moments).
    origin = np.zeros(n_features)
    if with_moments and n_samples > 0:
        for f in range(n_features):
            origin[f] = (X[0, f] - tile_shift[f]) * scale
    # Few clusters: per-cluster masked sums over the tile vectorise; many: scatter rows.
    masked = n_clusters <= MASKED_MAX_CLUSTERS
    inertia = 0.0
    far_size = 0
    n_far = out_far_dist.shape[0]
    for start in range(0, n_samples, TILE_ROWS):
        m = min(TILE_ROWS, n_samples - start)
        load_tile(flat, start, m, n_features, tile_shift, scale, tile)
        if not unit_weight:
            for i in range(m):
                w[i] = sample_weight[start + i]
        for i in range(m):
            best[i] = np.inf
            labels[i] = 0
        # Exact squared distances: best[i] is the row's own, with no second loop
        # gathering its center's coordinates.
        nearest_in_tile(tile, m, tile_shift, local_centers, 0, best, labels, spare_best,
                        spare_labels)
        # The heap's bound as a count, not a running max: a max keeps the compiler
        # from vectorising the loop (0.7 ns a row, scalar; a count and sum 0.15).
        bound = out_far_dist[0] if 0 < n_far <= far_size else -np.inf
        tile_inertia = 0.0
        n_over = 0
        for i in range(m):
            tile_inertia += w[i] * best[i]
            n_over += 1 if best[i] >= bound else 0
        inertia += tile_inertia
        if masked:
            # Loads outside the selects: a conditional load becomes a slower masked one.
            # One loop per cluster, its weight and every feature's sum together, in
            # scalars (tiles have at most 4 features, a compile-time constant).
            for j in range(n_clusters):
                t_w = 0.0
                t_0 = 0.0
                t_1 = 0.0
                t_2 = 0.0
                t_3 = 0.0
                for i in range(m):
                    mine = labels[i] == j
                    wi = w[i]
                    t_w += wi if mine else 0.0
                    x = wi * tile[0, i]
                    t_0 += x if mine else 0.0
                    if n_features > 1:
                        x = wi * tile[1, i]
                        t_1 += x if mine else 0.0
                    if n_features > 2:
                        x = wi * tile[2, i]
                        t_2 += x if mine else 0.0
                    if n_features > 3:
                        x = wi * tile[3, i]
                        t_3 += x if mine else 0.0
                weight[j] += t_w
                sums[j, 0] += t_0
                if n_features > 1:
                    sums[j, 1] += t_1
                if n_features > 2:
                    sums[j, 2] += t_2
                if n_features > 3:
                    sums[j, 3] += t_3
        else:
            for i in range(m):
                j = labels[i]
                weight[j] += w[i]
                for f in range(n_features):
                    sums[j, f] += w[i] * tile[f, i]
        if n_far > 0 and n_over > 0:
            for i in range(m):
                if far_size < n_far or best[i] >= out_far_dist[0]:
                    far_size = topk_push(out_far_dist, out_far_idx, far_size, best[i],
                                         (start + i) * n_clusters + labels[i])
        if with_moments:
            # From the tile (in the frame already), feature by feature: sums into
            # registers, where accumulate_moments adds into memory row by row.
            for f in range(n_features):
                s1 = 0.0
                s2 = 0.0
                for i in range(m):
                    t = tile[f, i] - origin[f]
                    s1 += t
                    s2 += t * t
                out_moments[0, f] += s1
                out_moments[1, f] += s2
    _add_sums(sums, weight, out_sums, out_weight)
    return inertia


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH, inline="always")
def _accumulate(src, start, stop, frame, centers, labels, sample_weight, sums, weight,
                out_far_dist, out_far_idx, inertia, far_size):
    """Add block rows start:stop into the sums and weights of their clusters
    (labels[i - start] for row i) and offer them to the far-row heap; returns (inertia
    plus their weighted inertia, added row by row, the heap's new size). The one
    accumulate loop of the row-by-row and matrix-product methods.

    frame None: src holds the rows already in the frame, row i at src[i - start] (the
    row-by-row method loaded them); else frame is (shift, scale) and src is X, row i read
    as (X[i] - shift) * scale. numba compiles each case on its own (the None test is
    pruned at compile time), so neither pays for the other's reads.
    """
    n_features = src.shape[1]
    n_clusters = centers.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    n_far = out_far_dist.shape[0]
    for i in range(start, stop):
        j = labels[i - start]
        w = 1.0 if unit_weight else sample_weight[i]
        dist = 0.0
        for f in range(n_features):
            if frame is None:
                x = src[i - start, f]
            else:
                x = (src[i, f] - frame[0][f]) * frame[1]
            diff = x - centers[j, f]
            dist += diff * diff
            sums[j, f] += w * x
        weight[j] += w
        inertia += w * dist
        if n_far > 0 and (far_size < n_far or dist >= out_far_dist[0]):
            far_size = topk_push(out_far_dist, out_far_idx, far_size, dist,
                                 i * n_clusters + j)
    return inertia, far_size


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_rows(X, shift, scale, centers, centers_sqnorm, sample_weight, out_sums,
                out_weight, out_moments, out_far_dist, out_far_idx):
    """Row by row, for many features (the feature loop vectorises). Leaves the far-row
    heap unfinished and the moments as shifted sums."""
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    # Private copies: the compiler may keep them in registers and cache, because no store
    # into an output buffer can alias them (3x faster at small n_features).
    local_centers = centers.copy()
    local_sqnorm = centers_sqnorm.copy()
    sums = np.zeros((n_clusters, n_features))
    weight = np.zeros(n_clusters)
    labels = np.empty(TILE_ROWS, dtype=np.int64)
    # The tile's rows in the frame, read from X once (in L1 while both loops use them).
    rows = np.empty((TILE_ROWS, n_features))
    inertia = 0.0
    far_size = 0
    # _lloyd_gemm repeats this loop's tail on purpose (see its comment).
    for start in range(0, n_samples, TILE_ROWS):
        stop = min(start + TILE_ROWS, n_samples)
        load_rows(X, start, stop, shift, scale, rows)
        # Assign a tile first, then accumulate it: two short loops with no dependency
        # through memory schedule better than one long one.
        for i in range(start, stop):
            labels[i - start] = nearest_center(rows, i - start, local_centers, local_sqnorm)
        inertia, far_size = _accumulate(rows, start, stop, None, local_centers, labels,
                                        sample_weight, sums, weight, out_far_dist,
                                        out_far_idx, inertia, far_size)
        if with_moments:
            accumulate_moments(X, start, stop, shift, scale, out_moments)
    _add_sums(sums, weight, out_sums, out_weight)
    return inertia


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_gemm(X, shift, scale, centers, sample_weight, out_sums, out_weight, out_moments,
                out_far_dist, out_far_idx, gemm_rows):
    """By matrix products on tiles of gemm_rows rows (see _gemm_tile.py). Leaves the
    far-row heap unfinished and the moments as shifted sums."""
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    with_moments = out_moments.shape[0] == 2
    if with_moments:
        out_moments[:] = 0.0
    # Into the outputs, from the caller's centers: at many clusters, private copies (as
    # _lloyd_rows makes) are megabytes of fresh pages per call, ~20 ms per call at
    # k x d = 1024 x 768, for each of the parallel variant's row chunks.
    gemm_centers = shifted_centers(centers)
    work = tile_work(n_features, n_clusters, gemm_rows)
    inertia = 0.0
    far_size = 0
    # The tail of the loop below repeats _lloyd_rows's: in one driver, the row-by-row
    # pass was slower (its tile size a run-time value).
    for start in range(0, n_samples, gemm_rows):
        stop = min(start + gemm_rows, n_samples)
        labels = nearest_tile(X, start, stop, shift, scale, centers, gemm_centers, work)
        inertia, far_size = _accumulate(X, start, stop, (shift, scale), centers, labels,
                                        sample_weight, out_sums, out_weight, out_far_dist,
                                        out_far_idx, inertia, far_size)
        if with_moments:
            accumulate_moments(X, start, stop, shift, scale, out_moments)
    return inertia


def lloyd_block(X, shift, scale, centers, sample_weight, out_sums, out_weight, out_moments,
                out_far_dist, out_far_idx, out_far_label, centers_sqnorm, tile_shift,
                gemm_rows):
    """`kernels.lloyd_partial_sums` on one block by the method `_dispatch.py` chose:
    tiled when tile_shift (the shift as a tuple) is given and gemm_rows is None, numba
    compiling one signature per width; else by matrix products on tiles of gemm_rows
    rows when gemm_rows > 0, else row by row (`lloyd_rows_block`). centers_sqnorm (k,)
    float64: the squared norms of the centers, read by the row-by-row method only.

    Python: it enters each method's numba kernel directly. A numba kernel branching
    between them (`_lloyd_block`, which the parallel driver's chunks run) compiled, for
    every width and dtype, the code it inlined again (12 of the 68 s that compiling
    every variant took), for the same machine code."""
    if tile_shift is not None:
        inertia = _lloyd_tiled(X, scale, centers, sample_weight, out_sums, out_weight,
                               out_moments, out_far_dist, out_far_idx, tile_shift)
    elif gemm_rows:
        inertia = _lloyd_gemm(X, shift, scale, centers, sample_weight, out_sums,
                              out_weight, out_moments, out_far_dist, out_far_idx,
                              gemm_rows)
    else:
        return lloyd_rows_block(X, shift, scale, centers, sample_weight, out_sums,
                                out_weight, out_moments, out_far_dist, out_far_idx,
                                out_far_label, centers_sqnorm, tile_shift, gemm_rows)
    _finish(X, shift, scale, centers.shape[0], out_moments, out_far_dist, out_far_idx,
            out_far_label)
    return inertia


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def lloyd_rows_block(X, shift, scale, centers, sample_weight, out_sums, out_weight,
                     out_moments, out_far_dist, out_far_idx, out_far_label,
                     centers_sqnorm, tile_shift, gemm_rows):
    """The row-by-row method's block kernel: `_lloyd_rows_block`, one call deeper. Not
    for nothing: the on-disk cache keeps, for each entry point, the copies of its callees
    that LLVM optimised again when it linked them into that entry's module, and only the
    third pass over the row-by-row kernel vectorises its nearest-center dot products. A
    process loading this entry from the cache runs that copy: 500k x 8, k=5, one thread:
    7.1 ms with the kernel itself as the entry, 5.5 ms with this one (AMD EPYC; Intel
    Xeon, float32: 8.1 vs 6.8 ms). Its middle level holds the row-by-row method only
    (`_lloyd_block` would compile the matrix products too: both take gemm_rows as an
    int)."""
    return _lloyd_rows_block(X, shift, scale, centers, sample_weight, out_sums, out_weight,
                             out_moments, out_far_dist, out_far_idx, out_far_label,
                             centers_sqnorm, tile_shift, gemm_rows)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_rows_block(X, shift, scale, centers, sample_weight, out_sums, out_weight,
                      out_moments, out_far_dist, out_far_idx, out_far_label,
                      centers_sqnorm, tile_shift, gemm_rows):
    """`_lloyd_block` of the row-by-row method (see `lloyd_rows_block`)."""
    inertia = _lloyd_rows(X, shift, scale, centers, centers_sqnorm, sample_weight,
                          out_sums, out_weight, out_moments, out_far_dist, out_far_idx)
    _finish(X, shift, scale, centers.shape[0], out_moments, out_far_dist, out_far_idx,
            out_far_label)
    return inertia


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _lloyd_block(X, shift, scale, centers, sample_weight, out_sums, out_weight, out_moments,
                 out_far_dist, out_far_idx, out_far_label, centers_sqnorm, tile_shift,
                 gemm_rows):
    """`kernels.lloyd_partial_sums` on one block by the method `_dispatch.py` chose:
    tiled when tile_shift (the shift as a tuple) is given and gemm_rows is None, numba
    compiling one signature per width; else by matrix products on tiles of gemm_rows
    rows when gemm_rows > 0, else row by row. numba prunes the branch on whichever is
    None at compile time (`_dispatch.py`), so each variant compiles its method only.
    centers_sqnorm (k,) float64: the squared norms of the centers, read by the
    row-by-row method only."""
    inertia = 0.0
    if tile_shift is not None:
        inertia = _lloyd_tiled(X, scale, centers, sample_weight, out_sums, out_weight,
                               out_moments, out_far_dist, out_far_idx, tile_shift)
    if gemm_rows is not None:
        # (never both: a misuse that passes both runs the tiles only)
        if tile_shift is None:
            if gemm_rows > 0:
                inertia = _lloyd_gemm(X, shift, scale, centers, sample_weight, out_sums,
                                      out_weight, out_moments, out_far_dist, out_far_idx,
                                      gemm_rows)
            else:
                inertia = _lloyd_rows(X, shift, scale, centers, centers_sqnorm,
                                      sample_weight, out_sums, out_weight, out_moments,
                                      out_far_dist, out_far_idx)
    _finish(X, shift, scale, centers.shape[0], out_moments, out_far_dist, out_far_idx,
            out_far_label)
    return inertia


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def lloyd_chunks(X, shift, scale, centers, sample_weight, sums, weight, moments, inertia,
                 far_dist, far_idx, far_label, centers_sqnorm, tile_shift, gemm_rows, rows,
                 first, stop):
    """`_lloyd_block` on chunks first..stop of `rows` rows each, chunk c into row c of
    the partial buffers (`chunk_partials`; of sums, row c % their rows): a part of
    `lloyd_parallel`."""
    n_samples = X.shape[0]
    unit_weight = sample_weight.shape[0] == 0
    for c in range(first, stop):
        start = c * rows
        end = min(start + rows, n_samples)
        w = sample_weight if unit_weight else sample_weight[start:end]
        inertia[c] = _lloyd_block(
            X[start:end], shift, scale, centers, w, sums[c % sums.shape[0]], weight[c],
            moments[c],
            far_dist[c], far_idx[c], far_label[c], centers_sqnorm, tile_shift, gemm_rows)


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def lloyd_merge(sums, weight, moments, inertia, far_dist, far_idx, far_label, rows,
                n_samples, out_sums, out_weight, out_moments, out_far_dist, out_far_idx,
                out_far_label):
    """Add the chunks' partials into the outputs and finish the far-row heap, as
    `lloyd_block` leaves them; returns the total inertia."""
    n_clusters = out_sums.shape[0]
    out_moments[:] = 0.0
    total, far_size = merge_chunk_partials(
        sums, weight, moments, inertia, far_dist, far_idx, far_label, rows, n_samples,
        n_clusters, out_sums, out_weight, out_moments, out_far_dist, out_far_idx)
    topk_finish(out_far_dist, out_far_idx, far_size)
    decode_far(out_far_idx, out_far_label, n_clusters)
    return total


def lloyd_parallel(X, shift, scale, centers, sample_weight, out_sums, out_weight,
                   out_moments, out_far_dist, out_far_idx, out_far_label, centers_sqnorm,
                   tile_shift, gemm_rows):
    """In-memory variant of `lloyd_block` (same arguments and meaning), for every method.

    Fixed row chunks (`chunk_bounds`: by n_samples only), each into partial buffers of
    its own, run in parallel (`_chunks.run_chunks`), then merged in chunk order: no two
    threads ever add into the same cluster sum, and the result does not depend on the
    number of threads. Past MAX_CHUNK_SUMS_BYTES of sums, the chunks share a ring of
    sums, added into out_sums in chunk order as they finish: the same result.
    """
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    n_chunks, rows = chunk_bounds(n_samples)
    partials = chunk_partials(n_chunks, n_clusters, n_features, out_moments.shape[0],
                              out_far_dist.shape[0],
                              sum_ring(n_chunks, n_clusters, n_features))
    sums = run_chunks(lambda first, stop: lloyd_chunks(
        X, shift, scale, centers, sample_weight, *partials, centers_sqnorm, tile_shift,
        gemm_rows, rows, first, stop), partials[0], n_chunks, out_sums)
    return lloyd_merge(sums, *partials[1:], rows, n_samples, out_sums, out_weight,
                       out_moments, out_far_dist, out_far_idx, out_far_label)


# The numba kernel that holds each method's machine code (`_dispatch.Variant.dispatcher`).
lloyd_block.dispatchers = {"tiles": _lloyd_tiled, "gemm": _lloyd_gemm,
                           "rows": lloyd_rows_block}
