"""fit-client: chunkml vs dask-ml fitting the seed workload under a distributed Client.

``distributed.Client(processes=False, n_workers=1, threads_per_worker=threads)``, the
in-process cluster of the seed (one worker, its tasks on a pool whose threads are limited
to one BLAS/OpenMP thread each, as on the threaded scheduler). The seed's data is
generated and persisted on that client, and the fit is the one of fit-seed. The client
is the default scheduler for this module's tests only: closing it at the end of the
module gives the other groups back dask's threaded scheduler (checked).
"""

import dask
import pytest
from _impls import inner_limited_pool, make_estimator, record_fit
from _workloads import Workload


@pytest.fixture(scope="module")
def client_workload(bench, scheduler):
    """The seed workload persisted on an in-process Client, for this module's tests."""
    distributed = pytest.importorskip("distributed")
    with (inner_limited_pool(bench.threads) as pool,
          distributed.Client(processes=False, n_workers=1, threads_per_worker=bench.threads,
                             executor=pool, dashboard_address=None)):
        yield Workload.generate("seed", *bench.sizes.seed)
    assert dask.config.get("scheduler") == "threads", "the Client outlived its module"


@pytest.mark.parametrize("impl", ["chunkml", "dask_ml"])
def test_fit_client(benchmark, bench, client_workload, impl):
    workload = client_workload
    X = bench.start(benchmark, "fit-client", impl, workload)
    km = bench.pedantic(benchmark, impl, lambda: make_estimator(impl, workload.spec).fit(X))
    record_fit(benchmark, km, workload)
