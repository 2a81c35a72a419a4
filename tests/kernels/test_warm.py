"""warm_up loads every serial kernel for both float dtypes."""

import numpy as np

from chunkml import kernels


def test_warm_up_prepares_every_serial_kernel_for_both_dtypes():
    kernels.warm_up()
    for kernel in (kernels.assign_labels, kernels.euclidean_distances,
                   kernels.lloyd_partial_sums, kernels.sample_rows,
                   kernels.update_mindist_sample, kernels.minibatch_step):
        first_args = {sig[0].dtype for sig in kernel.signatures}
        assert {np.dtype(np.float32), np.dtype(np.float64)} <= {
            np.dtype(str(t)) for t in first_args}, kernel
