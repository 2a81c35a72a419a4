"""`DaskRows`: the passes (passes.py) over a dask array with one column chunk.

It maps the serial kernels over row blocks (`per_row_block`, every block matched with its
row offset and state by block index), tree-reduces their partials with `split_every`
(`da.reduction(..., concatenate=False)` and the merge of the pass's kind), and computes
them with whatever scheduler is active (threads, a distributed Client, ...). A pass runs
a task per block and its reduction's tree; a task costs ~1 ms on a distributed Client
(BENCHMARKS.md, "On a cluster").
"""

import functools

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

from ._blocks import (
    block_rows,
    bounded_lloyd_block,
    candidate_weight_block,
    labels_only_block,
    lloyd_block,
    mindist_block,
    sample_block,
)
from ._partials import merge_lloyd, merge_sample
from ._rows import room_for_bounds, set_rows, unbounded_lloyd
from ._sparse import UnshiftedFrame
from .kmeanspp import sampled_kmeanspp
from .persist import in_memory

# Partials merged per reduction task: a tree of depth log_8(n_blocks) keeps the driver
# from receiving one message per block.
SPLIT_EVERY = 8


def _one_column_block(func, blocks, *args, **kwargs):
    """func on the one column block of a row block: `per_row_block` asks blockwise for
    the list of X's blocks along the columns (a single one) rather than their
    concatenation, which dask makes as a copy even of a single block."""
    (block,) = blocks
    return func(block, *args, **kwargs)


def per_row_block(func, X, *args, out_chunks=None, **kwargs):
    """A 1-d dask array of func(block, ...) per row block of X (one column chunk): func's
    (n_rows,) result per block, or with ``out_chunks=1`` one object per block.

    ``da.blockwise(func, "i", X, "ij", ..., concatenate=True)``, as ``map_blocks(...,
    drop_axis=1)`` builds it, copied every block of X before func saw it (one more read
    and write of X per pass: 9 ms a 200,000 x 32 float64 block, 2-core AMD EPYC). Here
    func gets the block itself. `args` are (array, index) pairs and constants, as
    blockwise takes them; `kwargs` go to blockwise (dtype, meta, token, ...) and the
    rest to func.
    """
    if X.numblocks[1] != 1:
        raise ValueError(f"X must have one column chunk, not {X.numblocks[1]}")
    adjust = {} if out_chunks is None else {"adjust_chunks": {"i": out_chunks}}
    return da.blockwise(functools.partial(_one_column_block, func), "i", X, "ij", *args,
                        concatenate=False, **adjust, **kwargs)


# Key prefixes of the tasks of each pass, as the dashboard shows them: dask's key_split
# keeps only the alphabetic words of a key ("kmeans||" would be cut to "chunkml").
LLOYD_NAME = "chunkml-lloyd"
SAMPLE_NAME = "chunkml-sample"
LABELS_NAME = "chunkml-labels"
WEIGHTS_NAME = "chunkml-kmeans-parallel-weights"
# mindist_round's, by `exponential`: k-means++'s D^2 draw, or k-means||'s rounds.
_ROUND_NAMES = {False: "chunkml-kmeans-parallel", True: "chunkml-kmeans-plusplus"}


def _identity(x, axis=None, keepdims=True):
    return x


def _last_item(result, axis=None, keepdims=True):
    """The partial of a block's (state..., partial) result: the chunk function of the
    reduction that reads the results of a pass that also makes a state."""
    return result[-1]


def _round_state(result):
    """A round's state, (distances, nearest ids), of a block's `mindist_block` result."""
    return result[:2]


def _bounds_state(result):
    """The bounds of a block's `bounded_lloyd_block` result."""
    return result[0]


def _state_part(results, pick, token):
    """The state part of each block's result, a task a block: the results themselves,
    persisted, would hold every block's partial (its drawn rows, or k x d sums) until
    the next pass."""
    return results.map_blocks(pick, dtype=object, meta=_OBJECTS, token=token)


def _state_of(state):
    """A block's (distances, nearest ids), or (None, None) before the first round."""
    return (None, None) if state is None else state


def _round_block(X, state, sample_weight, row_offset, **kwargs):
    """`mindist_block` on a block's state (see `DaskRows.mindist_round`)."""
    return mindist_block(X, *_state_of(state), sample_weight, row_offset, **kwargs)


def _weights_block(X, state, sample_weight, **kwargs):
    """`candidate_weight_block` on a block's state."""
    return candidate_weight_block(X, *_state_of(state), sample_weight, **kwargs)


# The meta of the arrays of partials: one Python object per block.
_OBJECTS = np.empty(0, dtype=object)


def sum_rows(per_block, name, axis=0):
    """Tree sum of per-block partials over `axis` (None: all), its keys named `name`
    (an array's `.sum()` takes no name)."""
    ndim = 0 if axis is None else per_block.ndim - 1
    return da.reduction(per_block, np.sum, np.sum, axis=axis, dtype=per_block.dtype,
                        split_every=SPLIT_EVERY, name=name,
                        meta=np.empty((0,) * ndim, dtype=per_block.dtype))


def _with_row_chunks(arr, rows):
    """The same graph, with its (previously unknown) row chunk sizes filled in."""
    return da.Array(arr.dask, arr.name, (rows,) + arr.chunks[1:], meta=arr._meta)


class DaskRows:
    """Passes over a dask array with one column chunk.

    Row chunk sizes may be unknown (a dask DataFrame's ``.to_dask_array()``): the first
    pass then also counts the rows of each block, in the same compute, so no pass is
    spent on learning them. Until then, draws are keyed by (block, row in block) instead
    of the global row index.
    """

    in_memory = False

    def __init__(self, X, sample_weight=None, frame=None):
        set_rows(self, X, sample_weight, frame)
        self._set_offsets()
        self._bounds_room = {}  # n_clusters -> `_room_for_bounds`

    @property
    def known_rows(self):
        return not any(np.isnan(c) for c in self.X.chunks[0])

    def _set_offsets(self):
        self._offsets = None  # made on first use, for X's row chunks as they are now

    @property
    def offsets(self):
        """Each block's first global row index (block number * 2**40 while the row chunk
        sizes are unknown), one (1,) block per block of X. Persisted with an X held in
        memory: the passes read them as data, with no task of their own (a task costs
        ~1 ms on a distributed Client). A streamed X keeps the workers' memory free of
        chunkml's keys (nothing a worker under pressure would spill): tasks a pass, next
        to reading X from its source."""
        if self._offsets is None:
            rows = self.X.chunks[0]
            if self.known_rows:
                starts = np.concatenate([[0], np.cumsum(rows[:-1])]).astype(np.int64)
            else:
                starts = np.arange(len(rows), dtype=np.int64) << 40
            offsets = da.from_array(starts, chunks=1,
                                    name=f"chunkml-offsets-{tokenize(starts)}")
            self._offsets = offsets.persist() if in_memory(self.X) else offsets
        return self._offsets

    def compute(self, *results):
        """dask.compute the results; while the row chunk sizes are unknown, counts each
        block's rows in the same compute and sets `X`, `sample_weight` and the row
        offsets of the later passes to those sizes (see passes.py)."""
        if self.known_rows:
            return dask.compute(*results)
        counts = per_row_block(block_rows, self.X, out_chunks=1, dtype=np.int64,
                               meta=np.empty(0, dtype=np.int64), token="chunkml-count-rows")
        *values, counts = dask.compute(*results, counts)
        rows = tuple(int(c) for c in counts)
        self.X = _with_row_chunks(self.X, rows)
        if self.sample_weight is not None:
            self.sample_weight = _with_row_chunks(self.sample_weight, rows)
        self._set_offsets()
        return tuple(values)

    @property
    def row_chunks(self):
        return self.X.chunks[0]

    def _weight(self):
        return (None, None) if self.sample_weight is None else (self.sample_weight, "i")

    def _per_block(self, func, *args, **kwargs):
        """(n_blocks,) lazy array of func's partial of each block (an object each)."""
        return per_row_block(func, self.X, *args, out_chunks=1, dtype=object, meta=_OBJECTS,
                             **{"align_arrays": False, **kwargs})

    def _reduce(self, partials, merge, name, split_every=SPLIT_EVERY, chunk=None):
        """Lazy (1,) array of the one partial that `merge` makes of all of them (of
        chunk(block) for each block, when given)."""
        return da.reduction(partials, chunk or _identity, merge, combine=merge, axis=0,
                            keepdims=True, dtype=object, split_every=split_every,
                            concatenate=False, meta=_OBJECTS, name=name)

    def lloyd_graph(self, centers, n_far, with_moments):
        """Lazy (1,) array of the LloydPartial of X; one read of every block of X."""
        shift, scale = self.frame.args
        partials = self._per_block(
            lloyd_block, *self._weight(), self.offsets, "i", shift=shift, scale=scale,
            centers=centers, n_far=n_far, with_moments=with_moments, token=LLOYD_NAME)
        return self._reduce(partials, merge_lloyd, LLOYD_NAME)

    def lloyd(self, centers, n_far, with_moments):
        (partial,) = self.compute(self.lloyd_graph(centers, n_far, with_moments))
        return partial

    def _room_for_bounds(self, n_clusters):
        """X held in memory and `room_for_bounds` on the cluster; asked once per rows
        object (a fit's run), not before every plain pass."""
        if n_clusters not in self._bounds_room:
            self._bounds_room[n_clusters] = in_memory(self.X) and room_for_bounds(
                self.X.shape[0], n_clusters, local=False)
        return self._bounds_room[n_clusters]

    def bounded_lloyd(self, state, centers, drift, n_far, with_moments):
        """`lloyd` carrying per-row bounds: the new state, one object per block, is
        persisted, not computed. Only for an X held in memory (a streamed X keeps memory
        to a few blocks per thread; its rows' bounds would not) with `room_for_bounds`;
        else a plain pass and no state."""
        if state is None and not self._room_for_bounds(centers.shape[0]):
            return unbounded_lloyd(self, state, centers, drift, n_far, with_moments)
        shift, scale = self.frame.args
        # The state has one chunk per block of X, as the offsets: matched by block
        # (`_per_block`), not unified with X's chunks (which would rechunk X).
        state_args = (None, None) if state is None else (state, "i")
        results = self._per_block(
            bounded_lloyd_block, *state_args, *self._weight(), self.offsets, "i",
            shift=shift, scale=scale, centers=centers, drift=drift, n_far=n_far,
            with_moments=with_moments, token=LLOYD_NAME)
        new_state, reduced = dask.persist(
            _state_part(results, _bounds_state, f"{LLOYD_NAME}-bounds"),
            self._reduce(results, merge_lloyd, LLOYD_NAME, chunk=_last_item))
        (partial,) = self.compute(reduced)
        return new_state, partial

    def sample(self, seed, stream, n_top, *, split_every=None):
        partials = self._per_block(sample_block, *self._weight(), self.offsets, "i",
                                   seed=seed, stream=stream, n_top=n_top, token=SAMPLE_NAME)
        (partial,) = self.compute(self._reduce(partials, merge_sample, SAMPLE_NAME,
                                               split_every or SPLIT_EVERY))
        return partial

    @staticmethod
    def _state_args(state):
        return (None, None) if state is None else (state, "i")

    def mindist_round(self, state, new_centers, first_id, seed, stream, n_top, exponential):
        """One round. The new state, each block's (distances, nearest ids), is persisted,
        not computed."""
        if not self.known_rows:
            self.compute()
        shift, scale = self.frame.args
        name = _ROUND_NAMES[exponential]
        results = self._per_block(
            _round_block, *self._state_args(state), *self._weight(), self.offsets, "i",
            shift=shift, scale=scale, new_centers=new_centers, first_id=first_id, seed=seed,
            stream=stream, n_top=n_top, exponential=exponential, token=f"{name}-round")
        new_state, reduced = dask.persist(
            _state_part(results, _round_state, f"{name}-state"),
            self._reduce(results, merge_sample, f"{name}-round", chunk=_last_item))
        (partial,) = dask.compute(reduced)
        return new_state, partial

    def candidate_weights(self, state, new_centers, first_id, n_candidates):
        """Total weight of the rows nearest to each candidate; one read of X."""
        shift, scale = self.frame.args
        per_block = da.blockwise(
            _weights_block, "ij", self.X, "ij", *self._state_args(state),
            *self._weight(), adjust_chunks={"i": 1, "j": n_candidates}, dtype=np.float64,
            meta=np.empty((0, 0)), shift=shift, scale=scale, new_centers=new_centers,
            first_id=first_id, n_candidates=n_candidates, align_arrays=False,
            token=WEIGHTS_NAME)
        (weights,) = self.compute(sum_rows(per_block, WEIGHTS_NAME))
        return weights

    def final(self, centers, last_partial=None):
        """Lazy labels, inertia (in the frame's units) and number of non-empty clusters for
        the final centers.

        `last_partial`, a Lloyd pass already made with exactly these centers, saves the
        pass that would otherwise compute the inertia.
        """
        if last_partial is None:
            last_partial = self.lloyd(centers, n_far=0, with_moments=False)
        shift, scale = self.frame.args
        labels = per_row_block(
            labels_only_block, self.X, shift=shift, scale=scale, centers=centers,
            dtype=np.int32, meta=np.empty(0, dtype=np.int32), token=LABELS_NAME)
        return labels, last_partial.inertia, int(np.count_nonzero(last_partial.weight))

    def kmeanspp(self, part, n_clusters, *, seed, rng):
        """k-means++ by D^2 sampling: part's row, then a round (pass) per center."""
        return sampled_kmeanspp(self, part, n_clusters, seed)


class SparseDaskRows(UnshiftedFrame, DaskRows):
    """DaskRows over a dask array of scipy.sparse blocks, in a frame without shift."""

    bounded_lloyd = unbounded_lloyd
