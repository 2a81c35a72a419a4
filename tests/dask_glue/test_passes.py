"""The passes over X: how many times a fit reads X (once per Lloyd iteration,
init_max_iter + 2 for k-means||), and the passes interface (passes.py) that every rows
class implements."""

import inspect
import threading

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from dask.callbacks import Callback
from sklearn.datasets import make_blobs

import chunkml
from chunkml.dask_glue._dask_rows import SAMPLE_NAME, DaskRows, SparseDaskRows, per_row_block
from chunkml.dask_glue._rows import PARALLEL_MIN_ROWS, NumpyRows, SparseNumpyRows
from chunkml.dask_glue.init import first_pass
from chunkml.dask_glue.kmeans import initial_centers
from chunkml.dask_glue.passes import Passes

N_BLOCKS = 6
_lock = threading.Lock()
_reads = {"blocks": 0}


def _count_read(block):
    with _lock:
        _reads["blocks"] += 1
    return block


@pytest.fixture
def counted_X():
    """A non-persisted dask X whose every block computation is counted."""
    X, _ = make_blobs(n_samples=3000, n_features=3, centers=5, cluster_std=2.0,
                      random_state=0)
    base = da.from_array(X, chunks=(500, 3))
    counted = base.map_blocks(_count_read, dtype=X.dtype)
    _reads["blocks"] = 0

    def passes():
        assert _reads["blocks"] % N_BLOCKS == 0, _reads["blocks"]
        return _reads["blocks"] // N_BLOCKS

    # These tests count the passes of a streamed X: a small lazy X would otherwise be
    # persisted once for the whole fit (see test_persist.py).
    with dask.config.set({"scheduler": "threads", "chunkml.persist": False}):
        yield X, counted, passes


@pytest.mark.parametrize("max_iter", [1, 2, 4])
def test_one_read_per_lloyd_iteration(counted_X, max_iter):
    X, Xd, passes = counted_X
    init = X[[0, 1, 2, 3, 4]]
    km = chunkml.KMeans(5, init=init, max_iter=max_iter, tol=0).fit(Xd)
    assert km.n_iter_ == max_iter
    # Centers still moving at max_iter: one more pass measures inertia_ at the final
    # centers (scikit-learn's final E-step). labels_ stays lazy: no read for it.
    assert passes() == max_iter + 1
    km.labels_.compute()
    assert passes() == max_iter + 2


def test_converged_fit_needs_no_extra_pass(counted_X):
    X, Xd, passes = counted_X
    km = chunkml.KMeans(5, init=X[:5], tol=0, max_iter=300).fit(Xd)
    assert km.n_iter_ < 300
    # With tol=0 the loop stops only when no center moved, so the last pass already
    # measured the final centers.
    assert passes() == km.n_iter_


@pytest.mark.parametrize("n_rounds", [1, 2, 5, None])
def test_kmeans_parallel_reads_x_at_most_rounds_plus_two(counted_X, n_rounds):
    _, Xd, passes = counted_X
    centers, tol_abs = _init(Xd, "k-means||", n_rounds)
    assert centers.shape == (5, 3)
    assert tol_abs > 0
    # init_max_iter=None: 2 rounds, Spark MLlib's default (init.DEFAULT_INIT_ROUNDS).
    assert passes() <= (2 if n_rounds is None else n_rounds) + 2


def test_kmeans_parallel_centers_are_candidates(counted_X):
    # The recluster is greedy k-means++ on the weighted candidates, with no Lloyd on
    # them: each center is one of the rows drawn (in the frame's units, bit for bit).
    X, Xd, _ = counted_X
    rows = DaskRows(Xd)
    centers, _ = initial_centers(rows, "k-means||", 5, seed=3,
                                 rng=np.random.RandomState(0), oversampling_factor=2,
                                 init_max_iter=2, tol=1e-4)
    framed = rows.frame.apply(X)
    for center in centers:
        assert (framed == center).all(axis=1).any(), center


def _init(Xd, init, n_rounds=None):
    """The centers of an init (its first pass included) and the tol it measured."""
    return initial_centers(DaskRows(Xd), init, 5, seed=3, rng=np.random.RandomState(0),
                           oversampling_factor=2, init_max_iter=n_rounds, tol=1e-4)


def test_fit_with_kmeans_parallel_total_reads(counted_X):
    _, Xd, passes = counted_X
    km = chunkml.KMeans(5, init_max_iter=3, random_state=0).fit(Xd)
    assert passes() <= (3 + 2) + km.n_iter_ + 1


def test_random_init_is_one_pass_and_kmeanspp_k_passes(counted_X):
    _, Xd, passes = counted_X
    _init(Xd, "random")
    assert passes() == 1
    _init(Xd, "k-means++")
    assert passes() == 1 + 5


# The passes interface (passes.py): every rows class implements it, and the in-memory
# and dask families give the same results on the same data.

ROWS_CLASSES = [NumpyRows, DaskRows, SparseNumpyRows, SparseDaskRows]
# Uneven row blocks, one of them empty.
CHUNKS = (70, 0, 100, 30)


def _protocol_methods():
    return [name for name, value in vars(Passes).items()
            if callable(value) and not name.startswith("_")]


def _rows(cls, X, weight):
    if cls in (DaskRows, SparseDaskRows):
        X = da.from_array(X, chunks=(CHUNKS, X.shape[1]))
        weight = da.from_array(weight, chunks=(CHUNKS,))
    return cls(X, weight)


def _data(sparse=False):
    X, _ = make_blobs(n_samples=sum(CHUNKS), n_features=3, centers=4, cluster_std=1.5,
                      random_state=1)
    X = X + 5.0  # nonnegative-ish, away from the origin: the frame matters
    weight = np.random.RandomState(0).uniform(0.5, 2.0, X.shape[0])
    return (sp.csr_matrix(X) if sparse else X), weight


def test_protocol_names_every_pass():
    assert set(_protocol_methods()) == {"sample", "mindist_round", "candidate_weights",
                                        "lloyd", "bounded_lloyd", "final", "kmeanspp",
                                        "compute"}
    assert set(Passes.__annotations__) == {"X", "sample_weight", "n_features", "frame",
                                           "in_memory"}


@pytest.mark.parametrize("cls", ROWS_CLASSES, ids=lambda c: c.__name__)
def test_rows_implement_the_protocol(cls):
    sparse = cls in (SparseNumpyRows, SparseDaskRows)
    rows = _rows(cls, *_data(sparse))
    assert isinstance(rows, Passes)
    for name in Passes.__annotations__:
        assert hasattr(rows, name), name
    assert rows.in_memory is (cls in (NumpyRows, SparseNumpyRows))
    for name in _protocol_methods():
        expected = inspect.signature(getattr(Passes, name)).parameters.values()
        found = inspect.signature(getattr(cls, name)).parameters.values()
        assert ([(p.name, p.kind, p.default) for p in found]
                == [(p.name, p.kind, p.default) for p in expected]), (cls, name)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_numpy_and_dask_rows_give_the_same_passes(sparse):
    X, weight = _data(sparse)
    in_memory = _rows(SparseNumpyRows if sparse else NumpyRows, X, weight)
    on_dask = _rows(SparseDaskRows if sparse else DaskRows, X, weight)
    seed = 11
    parts = [rows.sample(seed, 0, 6) for rows in (in_memory, on_dask)]
    for part in parts[1:]:
        np.testing.assert_array_equal(part.index, parts[0].index)
        np.testing.assert_array_equal(part.X, parts[0].X)
        assert part.n_samples == parts[0].n_samples == X.shape[0]
        np.testing.assert_allclose(part.total, weight.sum(), rtol=1e-12)
        np.testing.assert_allclose(part.total, parts[0].total, rtol=1e-12)
    frame = parts[0].stats.frame()
    np.testing.assert_array_equal(parts[1].stats.frame().shift, frame.shift)
    assert parts[1].stats.frame().exponent == frame.exponent
    dense = X.toarray() if sparse else X
    np.testing.assert_array_equal(parts[0].X, dense[parts[0].index])
    for rows in (in_memory, on_dask):
        rows.frame = frame
    centers = rows.frame.apply(dense[[0, 50, 120, 190]])

    lloyd = [rows.lloyd(centers, n_far=2, with_moments=True)
             for rows in (in_memory, on_dask)]
    np.testing.assert_allclose(lloyd[1].sums, lloyd[0].sums, rtol=1e-10)
    np.testing.assert_allclose(lloyd[1].weight, lloyd[0].weight, rtol=1e-12)
    np.testing.assert_allclose(lloyd[1].inertia, lloyd[0].inertia, rtol=1e-10)
    np.testing.assert_allclose(lloyd[1].moments, lloyd[0].moments, rtol=1e-8, atol=1e-12)
    # The same farthest rows, in the same order (largest distance first, then row id).
    np.testing.assert_array_equal(lloyd[1].far_row, lloyd[0].far_row)
    np.testing.assert_array_equal(lloyd[1].far_dist, lloyd[0].far_dist)

    rounds = [rows.mindist_round(None, centers[:2], 0, seed, 1, 8, False)
              for rows in (in_memory, on_dask)]
    np.testing.assert_array_equal(rounds[1][1].index, rounds[0][1].index)
    np.testing.assert_allclose(rounds[1][1].total, rounds[0][1].total, rtol=1e-10)
    weights = [rows.candidate_weights(state, centers[2:], 2, 4)
               for rows, (state, _) in zip((in_memory, on_dask), rounds)]
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-12)
    np.testing.assert_allclose(weights[0].sum(), weight.sum(), rtol=1e-12)

    finals = [rows.final(centers) for rows in (in_memory, on_dask)]
    (labels,) = on_dask.compute(finals[1][0])
    assert isinstance(finals[1][0], da.Array) and isinstance(labels, np.ndarray)
    (same,) = in_memory.compute(finals[0][0])
    assert same is finals[0][0]
    np.testing.assert_array_equal(labels, finals[0][0])
    np.testing.assert_allclose(finals[1][1], finals[0][1], rtol=1e-10)
    assert finals[1][2] == finals[0][2] == 4


@pytest.mark.parametrize("cls", [NumpyRows, DaskRows], ids=lambda c: c.__name__)
def test_kmeanspp_returns_rows_of_X_in_the_frame(cls):
    X, weight = _data()
    rows = _rows(cls, X, weight)
    part = first_pass(rows, 5, 0 if rows.in_memory else 1, 4)
    centers = rows.kmeanspp(part, 4, seed=5, rng=np.random.RandomState(0))
    assert centers.shape == (4, 3)
    chosen = rows.frame.restore(centers)
    distances = ((chosen[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(distances.min(axis=1), 0.0, atol=1e-20)
    assert len(set(distances.argmin(axis=1))) == 4


class _TaskKeys(Callback):
    def __init__(self):
        super().__init__()
        self.keys = []

    def _pretask(self, key, dsk, state):
        self.keys.append(key)


def _sample_tasks(rows, **kwargs):
    with _TaskKeys() as seen:
        part = rows.sample(3, 0, 4, **kwargs)
    return part, sum(str(key).count(SAMPLE_NAME) for key in seen.keys)


def test_sample_reduces_with_the_split_every_it_is_given():
    X, weight = _data()
    rows = DaskRows(da.from_array(X, chunks=(25, 3)), da.from_array(weight, chunks=25))
    default, n_default = _sample_tasks(rows)
    wide, n_wide = _sample_tasks(rows, split_every=8)
    narrow, n_narrow = _sample_tasks(rows, split_every=2)
    # 8 blocks: 8 partials merged in one task at 8, in a tree of 4 + 2 + 1 tasks at 2.
    assert n_default == n_wide
    assert n_narrow == n_wide + 6
    for part in (wide, narrow):
        np.testing.assert_array_equal(part.index, default.index)
        np.testing.assert_allclose(part.total, default.total, rtol=1e-12)


def test_first_pass_learns_unknown_chunk_sizes():
    X, weight = _data()
    known = da.from_array(X, chunks=(CHUNKS, 3))
    unknown = da.Array(known.dask, known.name, ((np.nan,) * len(CHUNKS), (3,)),
                       meta=known._meta)
    w = da.from_array(weight, chunks=(CHUNKS,))
    w_unknown = da.Array(w.dask, w.name, ((np.nan,) * len(CHUNKS),), meta=w._meta)
    rows = DaskRows(unknown, w_unknown)
    assert not rows.known_rows
    part = rows.sample(3, 0, 4)
    assert part.n_samples == X.shape[0]
    # The documented result of the first compute: X and the weights with their sizes.
    assert rows.known_rows
    assert rows.X.chunks == ((70, 0, 100, 30), (3,))
    assert rows.sample_weight.chunks == ((70, 0, 100, 30),)
    np.testing.assert_array_equal(rows.X.compute(), X)
    # The draws are keyed by global row index from then on, as with known sizes.
    np.testing.assert_array_equal(rows.sample(3, 0, 4).index,
                                  DaskRows(known, w).sample(3, 0, 4).index)


def _address(block):
    return np.array([block.__array_interface__["data"][0]])


def test_every_pass_and_the_labels_read_each_block_itself_not_a_copy():
    """Block functions get X's blocks as dask holds them: blockwise's concatenation of
    the one column block (what map_blocks(drop_axis=1) does) copied each one, a read
    and write of X per pass more than the kernels' own read."""
    with dask.config.set(scheduler="sync"):
        X = da.from_array(np.random.default_rng(0).normal(size=(120, 3)),
                          chunks=(50, 3)).persist()
        meta = {"dtype": np.int64, "meta": np.empty(0, dtype=np.int64)}
        # Where each block lies (map_blocks keeping both axes hands it over as it is).
        held = X.map_blocks(lambda b: _address(b)[:, None], chunks=(1, 1), **meta)
        seen = per_row_block(_address, X, out_chunks=1, **meta)
        held, seen = dask.compute(held, seen)
    np.testing.assert_array_equal(seen, held.ravel())
    labels = per_row_block(lambda b: np.full(b.shape[0], b.shape[1]), X, **meta)
    assert labels.chunks == ((50, 50, 20),)
    np.testing.assert_array_equal(labels.compute(scheduler="sync"), np.full(120, 3))
    with pytest.raises(ValueError, match="one column chunk"):
        per_row_block(_address, X.rechunk((50, 2)), out_chunks=1, **meta)


@pytest.mark.parametrize("n_samples", [500, PARALLEL_MIN_ROWS + 1000],
                         ids=["serial", "parallel"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
def test_in_memory_final_labels_inertia_and_distinct_clusters(n_samples, weighted):
    # NumpyRows.final, with the last Lloyd pass of these centers or without one, against
    # numpy: every row's nearest center, the weighted inertia, and the clusters some
    # row is labelled with (a cluster whose rows all weigh 0 counts, as in
    # scikit-learn).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n_samples, 2))
    centers = np.array([[0.0, 0.0], [6.0, 6.0], [50.0, 50.0], [-2.0, 1.0]])
    X[:7] = centers[1] + rng.normal(size=(7, 2)) * 0.1  # cluster 1's only rows
    weight = None
    if weighted:
        weight = rng.uniform(0.5, 2.0, n_samples)
        weight[:7] = 0.0
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2)
    want_labels = d2.argmin(axis=1)
    want_inertia = (d2.min(axis=1) * (1.0 if weight is None else weight)).sum()
    rows = NumpyRows(X, weight)
    last = rows.lloyd(centers, n_far=0, with_moments=False)
    for last_partial in (None, last):
        labels, inertia, n_distinct = rows.final(centers, last_partial=last_partial)
        np.testing.assert_array_equal(labels, want_labels)
        np.testing.assert_allclose(inertia, want_inertia, rtol=1e-12)
        assert n_distinct == 3  # no row near centers[2]
