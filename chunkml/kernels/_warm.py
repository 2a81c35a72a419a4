"""Load (or compile) the serial kernels in this process before the first real pass."""

import numpy as np

from .assign import assign_labels, euclidean_distances
from .lloyd import lloyd_partial_sums
from .minibatch import minibatch_step
from .sampling import sample_rows, update_mindist_sample


def warm_up(dtypes=(np.float64, np.float32)):
    """Call every serial kernel once on a 1-row block of each dtype.

    With numba's on-disk cache this loads the machine code (about half a second per
    process); without it, it compiles. ``client.run(chunkml.kernels.warm_up)`` does it on
    every worker of a cluster, so that the first iteration of a fit does not.
    """
    centers = np.zeros((1, 1))
    sqnorm = np.zeros(1)
    empty = np.empty(0)
    for dtype in dtypes:
        X = np.zeros((1, 1), dtype=dtype)
        assign_labels(X, centers, sqnorm, np.empty(1, dtype=np.int32), np.empty(1))
        euclidean_distances(X, centers, np.empty((1, 1), dtype=dtype))
        lloyd_partial_sums(X, centers, sqnorm, empty, np.zeros((1, 1)), np.zeros(1),
                           np.zeros((2, 1)), np.empty(1), np.empty(1, dtype=np.int64),
                           np.empty(1, dtype=np.int64))
        sample_rows(X, empty, 0, 0, 0, np.zeros((2, 1)), np.empty(1),
                    np.empty(1, dtype=np.int64))
        update_mindist_sample(X, centers, 0, empty, np.empty(0, dtype=np.int64), empty, 0, 0,
                              0, False, np.empty(1), np.empty(1, dtype=np.int64), np.empty(1),
                              np.empty(1, dtype=np.int64))
        minibatch_step(X, empty, centers, sqnorm, np.zeros(1), np.empty((1, 1)),
                       np.empty(1, dtype=np.int32), np.empty(1))
