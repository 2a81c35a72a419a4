"""warm_up loads every serial kernel for both float dtypes and every tile case."""

import numpy as np

from chunkml import kernels
from chunkml.kernels import assign, lloyd, sampling
from chunkml.kernels._tile import MAX_TILE_FEATURES


def _x_dtypes(dispatcher):
    return {np.dtype(str(sig[0].dtype)) for sig in dispatcher.signatures}


def test_warm_up_prepares_every_serial_kernel_for_both_dtypes():
    kernels.warm_up()
    cases = range(MAX_TILE_FEATURES + 1)
    dispatchers = [kernels.euclidean_distances, kernels.sample_rows, kernels.minibatch_step,
                   kernels.lloyd_partial_sums_gemm, kernels.assign_labels_gemm,
                   kernels.nearest_new_gemm]
    # lloyd_partial_sums, assign_labels and update_mindist_sample pick one of these by
    # X's width: each must be ready.
    dispatchers += [lloyd._KERNELS[case][0] for case in cases]
    dispatchers += [assign._KERNELS[case][0] for case in cases]
    dispatchers += [sampling._NEAREST_NEW[case] for case in cases]
    for dispatcher in dispatchers:
        assert {np.dtype(np.float32), np.dtype(np.float64)} <= _x_dtypes(dispatcher), \
            dispatcher
    assert sampling._key_rows.signatures and sampling._start_round.signatures
