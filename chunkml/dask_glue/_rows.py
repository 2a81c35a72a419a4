"""One pass over the rows of X: the two implementations of the `Passes` interface
(passes.py, which documents every method), what they share, and the in-memory one.

`NumpyRows` runs the kernels on the whole array in the calling thread (their in-memory
parallel variants from PARALLEL_MIN_ROWS rows) and returns that one block's partial
(_partials.py) as it is. `DaskRows` (_dask_rows.py) maps the serial kernels over row
blocks of a dask array. The drivers in `lloyd.py`, `init.py` and `minibatch.py` see the
same methods on both.

Every pass but `sample` measures distances in the rows' `frame` (see _frame.py): centers
go in, and partials come out, in its units. `sample`, the first pass, is how a fit
chooses the frame; it returns rows in X's units.
"""

import numpy as np
import psutil

from ._blocks import (
    bounded_lloyd_block,
    candidate_weight_block,
    labels_block,
    labels_of,
    lloyd_block,
    mindist_block,
    sample_block,
)
from .. import kernels
from ._frame import Frame
from ._sparse import UnshiftedFrame, as_csr
from .kmeanspp import kmeans_plusplus
from .persist import MEMORY_SHARE, available_memory

# Below this many rows the in-memory passes run the serial kernels: threads would not pay
# for themselves, and a small numpy fit then never compiles what the parallel variants
# add (the Lloyd steps' chunk loop and merge, about 1.5 s per tile width and dtype with a
# cold numba cache).
PARALLEL_MIN_ROWS = 65_536


def use_parallel(X):
    return X.shape[0] >= PARALLEL_MIN_ROWS


def squared_norms(centers):
    return np.einsum("ij,ij->i", centers, centers)


def set_rows(rows, X, sample_weight, frame):
    """What every rows class (here and in _unit.py) holds from the start: X as the class
    reads it, sample_weight, n_features, and frame (X's own units when None)."""
    rows.X = X
    rows.sample_weight = sample_weight
    rows.n_features = X.shape[1]
    rows.frame = Frame.identity(rows.n_features) if frame is None else frame


def weights_or_ones(sample_weight, n_samples):
    """sample_weight, or a weight of 1 for each of n_samples rows when it is None."""
    return np.ones(n_samples) if sample_weight is None else sample_weight


def weighted_total(mindist, sample_weight):
    """The inertia of in-memory rows from their squared distances: their sum weighted by
    sample_weight (None: unweighted), as a float."""
    return float(mindist.sum() if sample_weight is None else np.dot(sample_weight, mindist))


def n_labelled(labels):
    """The number of clusters some row is labelled with (a count, not np.unique's sort:
    60 ms for 10M labels)."""
    return int(np.count_nonzero(np.bincount(labels))) if labels.size else 0


def final_of(labels, mindist, sample_weight):
    """`final`'s result from every row's label and squared distance (in-memory X):
    (labels, inertia, number of non-empty clusters)."""
    return labels, weighted_total(mindist, sample_weight), n_labelled(labels)


def room_for_bounds(n_samples, n_clusters, local=True):
    """Whether the per-row bounds of n_samples rows (`bounded_lloyd`: a float64 bound and
    the candidates' int32 ids) take at most persist.MEMORY_SHARE of the memory left:
    this machine's (`local`: in-memory rows), else the cluster's (persist.py)."""
    n_candidates, _ = kernels.bounds_shape(n_clusters)
    state_bytes = (8 + 4 * n_candidates) * n_samples
    memory = psutil.virtual_memory().available if local else available_memory()
    return not np.isnan(state_bytes) and state_bytes <= MEMORY_SHARE * memory


class NumpyRows:
    """Passes over an in-memory (n_samples, n_features) float array."""

    in_memory = True

    def __init__(self, X, sample_weight=None, frame=None):
        set_rows(self, np.ascontiguousarray(X), sample_weight, frame)

    def lloyd(self, centers, n_far, with_moments):
        return lloyd_block(self.X, self.sample_weight, 0, *self.frame.args, centers, n_far,
                           with_moments, parallel=use_parallel(self.X))

    def bounded_lloyd(self, state, centers, drift, n_far, with_moments):
        """`lloyd` carrying per-row bounds; the state is updated in place. A plain pass
        and no state without `room_for_bounds`."""
        if state is None and not room_for_bounds(self.X.shape[0], centers.shape[0]):
            return unbounded_lloyd(self, state, centers, drift, n_far, with_moments)
        return bounded_lloyd_block(self.X, state, self.sample_weight, 0, *self.frame.args,
                                   centers, drift, n_far, with_moments,
                                   parallel=use_parallel(self.X), in_place=True)

    def sample(self, seed, stream, n_top, *, split_every=None):
        return sample_block(self.X, self.sample_weight, 0, seed, stream, n_top)

    def mindist_round(self, state, new_centers, first_id, seed, stream, n_top, exponential):
        """One k-means|| / k-means++ round; returns (new state, partial).

        The state, (squared distance to, id of) the nearest candidate of every row, is
        None before the first round.
        """
        mindist, nearest = (None, None) if state is None else state
        mindist, nearest, partial = mindist_block(
            self.X, mindist, nearest, self.sample_weight, 0, *self.frame.args, new_centers,
            first_id, seed, stream, n_top, exponential, parallel=use_parallel(self.X))
        return (mindist, nearest), partial

    def candidate_weights(self, state, new_centers, first_id, n_candidates):
        """Total weight of the rows nearest to each candidate (state + new_centers)."""
        mindist, nearest = state
        return candidate_weight_block(self.X, mindist, nearest, self.sample_weight,
                                      *self.frame.args, new_centers, first_id,
                                      n_candidates, parallel=use_parallel(self.X))[0]

    def final(self, centers, last_partial=None):
        """Labels, inertia (in the frame's units) and number of non-empty clusters for the
        final centers.

        `last_partial`, a Lloyd pass already made with exactly these centers, gives the
        inertia: the pass then labels the rows and keeps no distance (`DaskRows.final`).
        """
        parallel = use_parallel(self.X)
        if last_partial is None and self.sample_weight is None:
            # A Lloyd pass (inertia, rows per cluster) and a labels-only one take less
            # than one pass keeping the distances and counting the labels (10M rows:
            # 17 + 18 ms against 25 ms and 26-74 ms for np.bincount / np.unique).
            last_partial = self.lloyd(centers, n_far=0, with_moments=False)
        if last_partial is None:
            labels, mindist = labels_block(self.X, *self.frame.args, centers,
                                           parallel=parallel)
            return final_of(labels, mindist, self.sample_weight)
        labels, _ = labels_of(self.X, *self.frame.args, centers, parallel=parallel)
        # Unweighted, a cluster's weight is its count of rows; with weights, a cluster
        # whose rows all weigh 0 is still one that labels name (as scikit-learn counts).
        n_distinct = (int(np.count_nonzero(last_partial.weight))
                      if self.sample_weight is None else n_labelled(labels))
        return labels, last_partial.inertia, n_distinct

    def kmeanspp(self, part, n_clusters, *, seed, rng):
        """scikit-learn's greedy k-means++ on all of X, drawing from rng."""
        weight = weights_or_ones(self.sample_weight, self.X.shape[0])
        centers, _ = kmeans_plusplus(self.X, n_clusters, weight, rng, frame=self.frame)
        return centers

    def compute(self, *results):
        return results


def unbounded_lloyd(self, state, centers, drift, n_far, with_moments):
    """`bounded_lloyd` of rows whose passes carry no bounds (a method of theirs): a
    plain `lloyd` pass and no state."""
    return None, self.lloyd(centers, n_far, with_moments)


class SparseNumpyRows(UnshiftedFrame, NumpyRows):
    """NumpyRows over an in-memory scipy.sparse X, read as CSR (converted once), in a
    frame without shift (see _sparse.py)."""

    bounded_lloyd = unbounded_lloyd

    def __init__(self, X, sample_weight=None, frame=None):
        set_rows(self, as_csr(X), sample_weight, frame)
