"""warm_up calls every serial variant a dask fit calls, with the same argument types.

Both sides are recorded at the registry (`kernels._dispatch.record`), not read from the
dispatchers' compiled signatures: so the test fails when warm_up misses a variant even
if earlier tests compiled it.
"""

import dask
import dask.array as da
import numpy as np
import pytest

import chunkml
from chunkml import kernels
from chunkml.kernels._dispatch import record
from chunkml.kernels.minibatch import minibatch_step
from chunkml.kernels.sampling import key_rows, sample_rows, start_round

# (n_features, n_clusters): every tile width, row by row, matrix products
SHAPES = [(1, 3), (2, 3), (3, 4), (4, 2), (6, 3), (8, 16)]


@pytest.fixture(scope="module")
def warmed():
    with record() as seen:
        kernels.warm_up()
    return seen


def test_warm_up_calls_every_serial_dense_variant_for_both_dtypes(warmed):
    want = {v for v in kernels.variants(parallel=(False,)) if not v.op.startswith("sparse_")}
    assert {v for v, _ in warmed} == want
    for dispatcher in (sample_rows, minibatch_step):
        assert {np.dtype(str(sig[0].dtype)) for sig in dispatcher.signatures} >= {
            np.dtype(np.float32), np.dtype(np.float64)}, dispatcher
    assert key_rows.signatures and start_round.signatures


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_warm_up_covers_every_variant_a_dask_fit_calls(warmed, dtype):
    rng = np.random.default_rng(0)
    with record() as fitted, dask.config.set(scheduler="sync"):
        for n_features, n_clusters in SHAPES:
            X = da.from_array(rng.normal(size=(300, n_features)).astype(dtype), chunks=110)
            km = chunkml.KMeans(n_clusters, max_iter=3, random_state=0).fit(X)
            km.predict(X).compute()
            km.transform(X).compute()
            km.score(X)
    assert fitted
    assert all(not v.parallel for v, _ in fitted)
    missing = fitted - warmed
    assert not missing, sorted(map(str, missing))
