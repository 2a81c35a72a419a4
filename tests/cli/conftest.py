"""The cli tests' one dask cluster."""

import pytest


@pytest.fixture(scope="package", autouse=True)
def _compiled(compiled_kernels):
    """Every cli test may start ``python -m chunkml``: the kernels compile once, here."""


@pytest.fixture(scope="package")
def cluster():
    """An in-process LocalCluster for runs of ``cli.main``, over TCP rather than
    in-process transport, so that a test's subprocess can connect to it too.

    One worker thread: on CPython 3.11 the AST constructor's recursion depth is shared
    by all threads (CPython gh-106905), so numba compiling in two task threads of this
    process at once (its lowering calls ast.parse, as does 3.11's traceback formatting)
    can fail a task with "SystemError: AST constructor recursion depth mismatch"; seen
    once in a cold-cache run of test_cluster."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        yield cluster
