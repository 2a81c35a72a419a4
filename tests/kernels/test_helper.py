"""_config.helper: functions compiled into the kernels that call them, never run from
Python."""

import numpy as np
import pytest
from numba import njit

from chunkml.kernels._config import helper
from chunkml.kernels._topk import topk_push


@helper()
def _scaled_sum(x, factor):
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i] * factor
    return total


@njit
def _caller(x):
    return _scaled_sum(x, 2.0)


def test_a_helper_runs_inside_a_kernel():
    x = np.arange(5.0)
    assert _caller(x) == 2.0 * x.sum()


@pytest.mark.parametrize("function, name", [
    (_scaled_sum, f"{__name__}._scaled_sum"),
    (topk_push, "chunkml.kernels._topk.topk_push"),
])
def test_a_helper_called_from_python_raises(function, name):
    # Not plain Python a thousand times slower, as numba's register_jitable would run it.
    with pytest.raises(TypeError, match=f"{name} runs only inside chunkml's numba kernels"):
        function(np.empty(1), np.empty(1, np.int64), 0, 1.0, 0)
