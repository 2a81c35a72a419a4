"""Load (or compile) the serial kernels in this process before the first real pass."""

import itertools

import numpy as np

from ._moments import N_STATS
from ._tile import MAX_TILE_FEATURES
from .assign import assign_labels, euclidean_distances
from .gemm import assign_labels_gemm, lloyd_partial_sums_gemm, nearest_new_gemm
from .lloyd import lloyd_partial_sums
from .minibatch import minibatch_step
from .sampling import sample_rows, update_mindist_sample


def warm_up(dtypes=(np.float64, np.float32), widths=range(1, MAX_TILE_FEATURES + 2)):
    """Call every serial kernel once on a 1-row block of each dtype and width.

    The tiled kernels are compiled per number of features up to MAX_TILE_FEATURES (see
    `_tile.tile_case`), so the default widths cover each of them and the row-by-row case.

    With numba's on-disk cache this loads the machine code (about half a second per
    process); without it, it compiles. ``client.run(chunkml.kernels.warm_up)`` does it on
    every worker of a cluster, so that the first iteration of a fit does not.
    """
    sqnorm = np.zeros(1)
    empty = np.empty(0)
    for dtype, d in itertools.product(dtypes, widths):
        X = np.zeros((1, d), dtype=dtype)
        centers = np.zeros((1, d))
        frame = (np.zeros(d), 1.0)
        assign_labels(X, *frame, centers, sqnorm, np.empty(1, dtype=np.int32), np.empty(1))
        euclidean_distances(X, *frame, centers, np.empty((1, 1), dtype=dtype))
        for lloyd in (lloyd_partial_sums, lloyd_partial_sums_gemm):
            lloyd(X, *frame, centers, sqnorm, empty, np.zeros((1, d)), np.zeros(1),
                  np.zeros((2, d)), np.empty(1), np.empty(1, dtype=np.int64),
                  np.empty(1, dtype=np.int64))
        assign_labels_gemm(X, *frame, centers, sqnorm, np.empty(1, dtype=np.int32),
                           np.empty(1))
        nearest_new_gemm(X, *frame, centers, 0, np.full(1, np.inf),
                         np.full(1, -1, dtype=np.int64))
        sample_rows(X, empty, 0, 0, 0, np.zeros((N_STATS, d)), np.empty(1),
                    np.empty(1, dtype=np.int64))
        update_mindist_sample(X, *frame, centers, 0, empty, np.empty(0, dtype=np.int64),
                              empty, 0, 0, 0, False, np.empty(1), np.empty(1, dtype=np.int64),
                              np.empty(1), np.empty(1, dtype=np.int64))
        minibatch_step(X, *frame, empty, centers, sqnorm, np.zeros(1), np.empty((1, d)),
                       np.empty(1, dtype=np.int32), np.empty(1))
