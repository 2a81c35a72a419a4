"""The partials of a pass (_partials.py) and their merges: however a tree of merges is cut
(and in whatever order the parts come), the same result up to float summation order,
and exactly the same counts, minima, far rows and sampled rows."""

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback
from dask.core import get_dependencies
from hypothesis import given
from hypothesis import strategies as st

from chunkml.dask_glue._blocks import lloyd_block, mindist_block, sample_block
from chunkml.dask_glue._partials import (
    LloydPartial,
    SamplePartial,
    merge_lloyd,
    merge_sample,
)
from chunkml.dask_glue._dask_rows import SPLIT_EVERY, DaskRows
from chunkml.dask_glue._rows import NumpyRows
from chunkml.kernels import STAT_EXP, STAT_M2, STAT_MAX, STAT_MEAN, STAT_MIN
from tests import _reference as ref

# Summation order changes the last bits only.
RTOL = 1e-9


def _frame_args(n_features):
    """(shift, scale) of the identity frame."""
    return np.zeros(n_features), 1.0


def _data(seed, n_samples, n_features, ties):
    """Rows in [-1, 1); with `ties`, on a coarse grid, so that many distances are equal."""
    rng = np.random.RandomState(seed)
    if ties:
        return rng.randint(-2, 2, size=(n_samples, n_features)).astype(np.float64) / 2
    return rng.uniform(-1, 1, size=(n_samples, n_features))


def _bounds(sizes):
    stops = np.cumsum(sizes)
    return list(zip(stops - np.asarray(sizes), stops))


def _lloyd_parts(X, w, centers, n_far, sizes):
    shift, scale = _frame_args(X.shape[1])
    return [lloyd_block(X[a:b], None if w is None else w[a:b], a, shift, scale, centers,
                        n_far, True) for a, b in _bounds(sizes)]


def _sample_parts(X, w, n_top, sizes, seed=7):
    return [sample_block(X[a:b], None if w is None else w[a:b], a, seed, 0, n_top)
            for a, b in _bounds(sizes)]


def _round_parts(X, centers, n_top, sizes, seed=7):
    shift, scale = _frame_args(X.shape[1])
    return [mindist_block(X[a:b], None, None, None, a, shift, scale, centers, 0, seed, 1,
                          n_top, False) for a, b in _bounds(sizes)]


def _tree(merge, parts, draw):
    """Merge `parts` by a tree drawn with `draw` (a hypothesis data.draw): each node
    merges consecutive groups, as dask's reduction does, or a single part alone."""
    if len(parts) == 1:
        return merge(parts) if draw(st.booleans()) else parts[0]
    n_groups = draw(st.integers(2, len(parts)))
    cuts = sorted(draw(st.lists(st.integers(1, len(parts) - 1), min_size=n_groups - 1,
                                max_size=n_groups - 1, unique=True)))
    groups = [parts[a:b] for a, b in zip([0] + cuts, cuts + [len(parts)])]
    return merge([_tree(merge, group, draw) for group in groups])


def _unscaled_m2(stats):
    return np.ldexp(stats[STAT_M2], 2 * stats[STAT_EXP].astype(np.int64))


def assert_same_lloyd(got, want):
    assert isinstance(got, LloydPartial)
    assert got.n_samples == want.n_samples and isinstance(got.n_samples, int)
    assert got.n_far == want.n_far
    assert got.min_weight == want.min_weight
    # The kept far rows: exactly the same, in the same order.
    assert got.far_row.dtype == np.int64 and got.far_label.dtype == np.int64
    np.testing.assert_array_equal(got.far_row, want.far_row)
    np.testing.assert_array_equal(got.far_label, want.far_label)
    np.testing.assert_array_equal(got.far_dist, want.far_dist)
    np.testing.assert_array_equal(got.far_weight, want.far_weight)
    np.testing.assert_array_equal(got.far_X, want.far_X)
    scale = max(1.0, float(np.abs(want.sums).max(initial=0.0)))
    np.testing.assert_allclose(got.sums, want.sums, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_allclose(got.weight, want.weight, rtol=RTOL)
    np.testing.assert_allclose(got.inertia, want.inertia, rtol=RTOL, atol=RTOL)
    if want.moments is None:
        assert got.moments is None
    else:
        np.testing.assert_allclose(got.moments, want.moments, rtol=RTOL, atol=RTOL * 10)


def assert_same_sample(got, want):
    assert isinstance(got, SamplePartial)
    assert got.n_samples == want.n_samples and isinstance(got.n_samples, int)
    assert got.n_top == want.n_top
    assert got.min_weight == want.min_weight
    assert got.index.dtype == np.int64
    np.testing.assert_array_equal(got.index, want.index)
    np.testing.assert_array_equal(got.key, want.key)
    np.testing.assert_array_equal(got.X, want.X)
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL, atol=RTOL)
    if want.stats is None:
        assert got.stats is None
        return
    assert got.stats.n_samples == want.stats.n_samples
    for row in (STAT_MIN, STAT_MAX):
        np.testing.assert_array_equal(got.stats.stats[row], want.stats.stats[row])
    np.testing.assert_allclose(got.stats.stats[STAT_MEAN], want.stats.stats[STAT_MEAN],
                               rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(_unscaled_m2(got.stats.stats),
                               _unscaled_m2(want.stats.stats), rtol=RTOL, atol=RTOL * 10)


blocks = st.lists(st.integers(0, 9), min_size=1, max_size=9)


@given(sizes=blocks, seed=st.integers(0, 2**16), n_clusters=st.integers(1, 4),
       n_features=st.integers(1, 3), n_far=st.sampled_from([0, 1, 3, 8]),
       ties=st.booleans(), weighted=st.booleans(), shuffle=st.booleans(), data=st.data())
def test_lloyd_merge_does_not_depend_on_the_tree(sizes, seed, n_clusters, n_features,
                                                 n_far, ties, weighted, shuffle, data):
    X = _data(seed, sum(sizes), n_features, ties)
    w = np.random.RandomState(seed).uniform(0, 2, X.shape[0]) if weighted else None
    centers = _data(seed + 1, n_clusters, n_features, ties)
    parts = _lloyd_parts(X, w, centers, n_far, sizes)
    if shuffle:
        parts = data.draw(st.permutations(parts))
    # The whole of X as one block: the partial an in-memory pass makes.
    (whole,) = _lloyd_parts(X, w, centers, n_far, [X.shape[0]])
    assert_same_lloyd(_tree(merge_lloyd, parts, data.draw), whole)


@given(sizes=blocks, seed=st.integers(0, 2**16), n_features=st.integers(1, 3),
       n_top=st.sampled_from([0, 1, 3, 8]), ties=st.booleans(), weighted=st.booleans(),
       shuffle=st.booleans(), data=st.data())
def test_sample_merge_does_not_depend_on_the_tree(sizes, seed, n_features, n_top, ties,
                                                  weighted, shuffle, data):
    X = _data(seed, sum(sizes), n_features, ties)
    # Some zero weights: those rows are never drawn.
    w = (np.random.RandomState(seed).choice([0.0, 0.5, 1.0, 3.0], X.shape[0])
         if weighted else None)
    parts = _sample_parts(X, w, n_top, sizes)
    if shuffle:
        parts = data.draw(st.permutations(parts))
    (whole,) = _sample_parts(X, w, n_top, [X.shape[0]])
    assert_same_sample(_tree(merge_sample, parts, data.draw), whole)


@given(sizes=blocks, seed=st.integers(0, 2**16), n_top=st.sampled_from([1, 4]),
       ties=st.booleans(), data=st.data())
def test_round_merge_does_not_depend_on_the_tree(sizes, seed, n_top, ties, data):
    X = _data(seed, sum(sizes), 2, ties)
    centers = _data(seed + 1, 2, 2, ties)
    rounds = _round_parts(X, centers, n_top, sizes)
    (whole,) = _round_parts(X, centers, n_top, [X.shape[0]])
    np.testing.assert_array_equal(np.concatenate([r[0] for r in rounds]), whole[0])
    np.testing.assert_array_equal(np.concatenate([r[1] for r in rounds]), whole[1])
    assert whole[1].dtype == np.int64
    assert_same_sample(_tree(merge_sample, [r[2] for r in rounds], data.draw), whole[2])


@given(sizes=blocks, n_top=st.integers(0, 6), seed=st.integers(0, 2**16), data=st.data())
def test_sampled_rows_with_equal_keys_go_by_row_id(sizes, n_top, seed, data):
    """Equal keys (which the kernels' draws almost never make) rank by global row id,
    whatever the order of the parts: partials made up to have many."""
    rng = np.random.RandomState(seed)
    ids = rng.permutation(10 * sum(sizes) + 1)[:sum(sizes)].astype(np.int64)
    keys = rng.randint(0, 3, size=ids.size).astype(np.float64)
    parts = []
    for a, b in _bounds(sizes):
        keep = ref.top_m(keys[a:b] - 1e-9 * ids[a:b], n_top)  # the part's own best rows
        parts.append(SamplePartial(
            n_samples=b - a, n_top=n_top, total=float(b - a), stats=None,
            key=keys[a:b][keep], index=ids[a:b][keep],
            X=ids[a:b][keep, None].astype(np.float64), min_weight=1.0))
    got = _tree(merge_sample, data.draw(st.permutations(parts)), data.draw)
    best = np.lexsort((ids, -keys))[:n_top]
    np.testing.assert_array_equal(got.index, ids[best])
    np.testing.assert_array_equal(got.key, keys[best])
    np.testing.assert_array_equal(got.X[:, 0], ids[best])


def _cut_dependent_merge(parts, axis=None, keepdims=True):
    """A merge that keeps the first far rows it meets instead of ranking them again."""
    parts = [parts] if isinstance(parts, LloydPartial) else list(parts)
    merged = merge_lloyd(parts)
    rows = np.concatenate([p.far_row for p in parts])[:merged.n_far]
    merged.far_row = rows
    return merged


def test_the_tree_check_fails_for_a_merge_that_depends_on_the_cut():
    X = _data(0, 40, 2, False)
    centers = _data(1, 3, 2, False)
    parts = _lloyd_parts(X, None, centers, 3, [10, 10, 10, 10])
    (whole,) = _lloyd_parts(X, None, centers, 3, [40])
    assert_same_lloyd(merge_lloyd(parts), whole)
    with pytest.raises(AssertionError):
        assert_same_lloyd(_cut_dependent_merge(parts), whole)


def test_lloyd_partial_matches_the_reference():
    X = _data(3, 50, 3, False)
    w = np.random.RandomState(3).uniform(0.5, 2, 50)
    centers = _data(4, 4, 3, False)
    merged = merge_lloyd(_lloyd_parts(X, w, centers, 4, [7, 0, 1, 30, 12]))
    want = ref.lloyd_partial(X, centers, w, m=4)
    np.testing.assert_allclose(merged.sums, want.sums, rtol=1e-7)
    np.testing.assert_allclose(merged.weight, want.weight, rtol=1e-7)
    np.testing.assert_allclose(merged.inertia, want.inertia, rtol=1e-7)
    np.testing.assert_allclose(merged.moments, want.moments, rtol=1e-7)
    np.testing.assert_array_equal(merged.far_row, want.far_idx)
    np.testing.assert_array_equal(merged.far_label, want.labels[want.far_idx])
    np.testing.assert_allclose(merged.far_dist, want.mindist[want.far_idx], rtol=1e-7)
    np.testing.assert_array_equal(merged.far_X, X[want.far_idx])
    np.testing.assert_array_equal(merged.far_weight, w[want.far_idx])
    assert merged.min_weight == w.min()


@pytest.mark.parametrize("sizes", [[0], [1], [0, 0, 1], [1, 1, 1], [0, 5, 0]])
def test_empty_and_one_row_blocks(sizes):
    X = _data(5, sum(sizes), 2, False)
    centers = _data(6, 2, 2, False)
    merged = merge_lloyd(_lloyd_parts(X, None, centers, 2, sizes))
    assert merged.n_samples == X.shape[0]
    assert merged.far_row.shape == (min(2, X.shape[0]),)
    np.testing.assert_allclose(merged.weight.sum(), X.shape[0])
    assert merged.min_weight == (np.inf if X.shape[0] == 0 else 1.0)
    sample = merge_sample(_sample_parts(X, None, 3, sizes))
    assert sample.n_samples == X.shape[0]
    assert sample.index.shape == (min(3, X.shape[0]),)
    assert sample.stats.n_samples == X.shape[0]
    if X.shape[0]:
        np.testing.assert_array_equal(sample.stats.stats[STAT_MIN], X.min(axis=0))
        np.testing.assert_array_equal(sample.stats.stats[STAT_MAX], X.max(axis=0))


def _chunked(X, sizes):
    return da.from_array(X, chunks=(tuple(sizes), X.shape[1]))


@pytest.mark.parametrize("sizes", [[40], [7, 0, 1, 12, 0, 20], [1] * 40])
def test_dask_passes_equal_the_in_memory_ones(sizes):
    X = _data(8, sum(sizes), 3, True)
    centers = _data(9, 4, 3, True)
    numpy_rows, dask_rows = NumpyRows(X), DaskRows(_chunked(X, sizes))
    with dask.config.set(scheduler="sync"):
        assert_same_lloyd(dask_rows.lloyd(centers, 4, True), numpy_rows.lloyd(centers, 4, True))
        for split_every in (2, SPLIT_EVERY):
            assert_same_sample(dask_rows.sample(1, 0, 5, split_every=split_every),
                               numpy_rows.sample(1, 0, 5))
        state, part = dask_rows.mindist_round(None, centers, 0, 1, 1, 5, False)
        (want_mindist, want_nearest), want = numpy_rows.mindist_round(None, centers, 0, 1, 1,
                                                                      5, False)
        # The dask state: each block's (distances, nearest ids, partial), in block order.
        blocks = dask.compute(*state.to_delayed().ravel())
        np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), want_mindist)
        np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), want_nearest)
    assert_same_sample(part, want)


def test_reduction_merges_at_most_split_every_partials_per_task():
    X = _data(10, 100, 2, False)
    reduced = DaskRows(_chunked(X, [1] * 100)).lloyd_graph(X[:3], n_far=3,
                                                           with_moments=False)
    graph = dict(reduced.__dask_graph__())
    merges = [key for key in graph if key[0].startswith(("chunkml-lloyd-partial",
                                                          "chunkml-lloyd-aggregate"))]
    # 100 blocks, 8 at a time: 13, then 2, then the aggregate of those.
    assert len(merges) == 13 + 2 + 1
    for key in merges:
        assert 1 <= len(get_dependencies(graph, key)) <= SPLIT_EVERY


class _ChunkmlTasks(Callback):
    """Counts the tasks of chunkml's passes that the local scheduler runs (persisted X
    and offsets are data, not tasks)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _pretask(self, key, dsk, state):
        self.count += (key[0] if isinstance(key, tuple) else key).startswith("chunkml-")


def test_a_pass_runs_one_task_a_block_and_its_reduction():
    # On a distributed Client a task costs ~1 ms (BENCHMARKS.md, "On a cluster"): a
    # pass runs a task per block of X and the reduction's tree, and a round two more a
    # block, the state it keeps and the partial the reduction reads (both taken from the
    # block's result, which is not kept: it holds the drawn rows); no task computes the
    # row offsets again.
    X = _data(10, 1000, 2, False)
    rows = DaskRows(_chunked(X, [100] * 10).persist())
    n_blocks, n_reduce = 10, 2 + 1  # 8 partials at a time: 2, then the aggregate
    counted = []
    state = None
    for step in range(4):
        with _ChunkmlTasks() as tasks:
            if step < 2:
                rows.lloyd(X[:3], n_far=3, with_moments=False)
            else:
                state, _ = rows.mindist_round(state, X[step:step + 1], step - 2, 1, step,
                                              5, False)
        counted.append(tasks.count)
    # (A round computes its persisted partial afterwards: one task more.)
    assert counted == [n_blocks + n_reduce] * 2 + [3 * n_blocks + n_reduce + 1] * 2
