"""The passes interface: what the drivers (init.py, lloyd.py, minibatch.py) ask of X.

A fit never reads X itself. It makes one rows object for its X (`make_rows` in
_input.py, the one place that chooses a rows class from X's type) and calls the methods
of `Passes` on it; each method that reads X reads it once, a "pass". Two families implement it (in
_rows.py and _dask_rows.py), with the same arguments and the same results up to
floating-point summation order:

- `NumpyRows` (and `SparseNumpyRows` for scipy.sparse X): X in this process's memory;
  every pass runs the kernels on all of X in the calling thread (their parallel
  variants for large X) and returns numpy results.
- `DaskRows` (and `SparseDaskRows` for a dask array of sparse blocks): every pass maps
  the serial kernels over X's row blocks, tree-reduces the small per-block partials and
  computes them in one ``dask.compute`` with the active scheduler; only the reduced
  partials reach the caller. Per-row state (the k-means|| distances) and the labels
  stay lazy or persisted on the cluster.

Units: `sample`, the first pass of a fit, returns rows in X's units; the fit chooses its
`frame` from that pass's statistics (see _frame.py) and sets it on the rows. Every
other pass takes centers in the frame's units and returns partials in them.

Learned chunk sizes: a dask X may come with unknown row chunk sizes (a dask DataFrame's
``.to_dask_array()``). The first `compute` (which every pass calls) then also counts the
rows of each block, in the same compute, and from then on `X` and `sample_weight` are
the same graphs with those chunk sizes known: `known_rows` tells which. A caller that
needs X with known chunks after the first pass (minibatch.py) reads `rows.X`.

The classes do not inherit from `Passes`: it is a structural type
(``typing.Protocol``), checked by ``isinstance(rows, Passes)`` and, with every
signature, by tests/dask_glue/test_passes.py.
"""

from typing import Protocol, runtime_checkable

import numpy as np

from ._frame import Frame
from ._partials import LloydPartial, SamplePartial


@runtime_checkable
class Passes(Protocol):
    """The passes over the rows of X that a k-means fit is made of.

    Attributes
    ----------
    X : ndarray, scipy.sparse CSR matrix or dask array of shape (n_samples, n_features)
        X as the passes read it (for dask X with unknown row chunk sizes, with the
        sizes the first pass learnt, once it has run: see `compute`).
    sample_weight : None, ndarray or dask array of shape (n_samples,)
        The weights of X's rows, chunked like X's rows; None means unit weights.
    n_features : int
    frame : Frame
        The units of every pass but `sample` (see _frame.py); the identity until the
        fit sets the frame it chose. Sparse rows keep its unshifted version.
    in_memory : bool
        True when X is in this process's memory (numpy, scipy.sparse): `kmeanspp` is
        then scikit-learn's greedy k-means++, which draws its own first center and
        makes no pass after pass 0. False for dask X: `kmeanspp` samples by D^2, one
        pass per center after the first, which pass 0 (`sample` with n_top=1) drew.
    """

    X: object
    sample_weight: object
    n_features: int
    frame: Frame
    in_memory: bool

    def sample(self, seed: int, stream: int, n_top: int, *,
               split_every: int | None = None) -> SamplePartial:
        """Pass 0: a weighted sample of n_top rows, X's statistics and its checks.

        Each row's key is drawn from (seed, stream, global row index), so the rows kept
        (the n_top largest keys, each row drawn with probability proportional to its
        weight) do not depend on the chunking. The partial holds the kept rows in X's
        units, largest key first, the row count, the total weight, the smallest weight
        and X's statistics (the frame's bounds, the moments behind tol).

        split_every : int or None
            Partials merged per task of the reduction tree (dask rows; None: 8). A
            partial holds n_top rows: a large n_top wants a narrow tree, so that no
            task holds many blocks' worth of rows. Ignored in memory.
        """

    def mindist_round(self, state: object, new_centers: np.ndarray, first_id: int,
                      seed: int, stream: int, n_top: int,
                      exponential: bool) -> tuple[object, SamplePartial]:
        """One k-means|| round (uniform keys) or k-means++ D^2 draw (exponential keys).

        Updates every row's (squared distance to, id of) its nearest candidate against
        `new_centers` (in the frame; their ids start at `first_id`) and keeps the n_top
        rows of largest key weight * distance / draw. `state` is None before the first
        round, then what the previous round returned: opaque to the caller (numpy
        arrays in memory, persisted dask arrays on dask). Returns (new state, partial):
        the partial's `total` is phi, the weighted cost to the candidates so far.
        """

    def candidate_weights(self, state: object, new_centers: np.ndarray, first_id: int,
                          n_candidates: int) -> np.ndarray:
        """(n_candidates,) float64: the total weight of the rows nearest to each
        candidate (those in `state`, and `new_centers`, not yet in it)."""

    def lloyd(self, centers: np.ndarray, n_far: int, with_moments: bool) -> LloydPartial:
        """One Lloyd pass: every row assigned to its nearest center (in the frame).

        Returns the per-cluster weighted sums and weights, the weighted inertia, the
        n_far rows farthest from their center (for empty clusters; largest distance
        first, equal distances by row id), the row count, the smallest weight and, when
        `with_moments`, X's (mean, M2) rows in the frame.
        """

    def bounded_lloyd(self, state: object, centers: np.ndarray, drift: tuple, n_far: int,
                      with_moments: bool) -> tuple[object, LloydPartial]:
        """`lloyd`, carrying per-row bounds from pass to pass
        (`kernels.bounded_lloyd_partial_sums`): the same partial as `lloyd`'s, bit for
        bit, for fewer operations.

        `state` is None for the first pass, then what the previous one returned (opaque:
        numpy arrays in memory, persisted dask objects on dask); `drift` is how far the
        centers moved since (lloyd.center_drift; lloyd.NO_DRIFT for the first). Returns
        (new state, partial); the partial's `n_compared` counts the rows compared with
        every center. Rows that carry no bounds (CSR X; a streamed dask X; state that
        would not fit in the memory left) make a plain pass and return no state.
        """

    def final(self, centers: np.ndarray,
              last_partial: LloydPartial | None = None) -> tuple[object, float, int]:
        """(labels, inertia, number of non-empty clusters) for the final centers.

        labels: int32, numpy in memory, a lazy dask array on dask. inertia in the
        frame's units. `last_partial`, a Lloyd pass already made with exactly these
        centers, may save the pass that would measure the inertia.
        """

    def kmeanspp(self, part: SamplePartial, n_clusters: int, *, seed: int,
                 rng: np.random.RandomState) -> np.ndarray:
        """(n_clusters, n_features) float64 k-means++ initial centers, in the frame.

        `part` is pass 0's (`sample`), its rows in the frame (as init.first_pass returns
        it); see `in_memory` for which k-means++ runs and which of `part`, `seed` (the
        fit's draws) and `rng` it uses.
        """

    def compute(self, *results: object) -> tuple:
        """The values of lazy results of these rows, in one compute (in memory: the
        results themselves).

        On dask, ``dask.compute``; while X's row chunk sizes are unknown it also counts
        the rows of every block in the same compute, and from then on `X`,
        `sample_weight` (and every later pass) use those sizes.
        """
