"""Shared set-up for the pytest-benchmark suites: sizes, data, threads, provenance.

Every implementation runs on the same data with the same number of threads:

- sklearn: ``threadpool_limits(threads)`` (its OpenMP loops and BLAS) on numpy X;
- chunkml and dask_ml: dask's threaded scheduler with ``threads`` workers on the persisted
  dask array, and one BLAS/OpenMP thread inside each worker, so that T dask threads do not
  each start T more (the worker threads are not OpenMP threads, so a limit set in the
  main thread would not reach them: the pool's initializer sets it in each one);
- numba: ``set_num_threads(threads)`` for chunkml's in-memory (parallel) steps.

Sizes (``--bench-size``): tiny (a smoke test, with ``--benchmark-disable``), small (the
default, a few minutes on 2 cores) and full (the reference workload: 10_000_000 rows in
chunks of 1_000_000).
"""

import os
import platform
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    import chunkml  # noqa: F401
except ImportError:
    # benchmarks/ is not a package and not under testpaths: make the checkout importable
    # when chunkml is not installed (pytest puts only benchmarks/ itself on sys.path).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dask
import numba
import numpy as np
import sklearn.cluster  # noqa: F401  (loads its OpenMP runtime before the pool starts)
from threadpoolctl import threadpool_limits

import chunkml

# n_samples and row chunk for each size; the chunk is n_samples // 10 as in the seed.
SIZES = {
    "tiny": (20_000, 2_000),
    "small": (1_000_000, 100_000),
    "full": (10_000_000, 1_000_000),
}
# Timed rounds per benchmark (after one warm-up round) when --bench-rounds is not given.
DEFAULT_ROUNDS = {"tiny": 1, "small": 5, "full": 3}


def pytest_collect_file(file_path, parent):
    """Collect bench_*.py (pytest's own pattern is test_*.py); files named on the command
    line are collected by pytest itself."""
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_addoption(parser):
    group = parser.getgroup("chunkml benchmarks")
    group.addoption("--bench-size", choices=sorted(SIZES), default="small",
                    help="data size: tiny (smoke), small (default) or full (N=10_000_000)")
    group.addoption("--bench-threads", type=int, default=2,
                    help="threads given to every implementation (default 2)")
    group.addoption("--bench-rounds", type=int, default=None,
                    help="timed rounds per benchmark (default: 1 tiny, 5 small, 3 full)")


@dataclass(frozen=True)
class BenchConfig:
    size: str
    n_samples: int
    chunks: int
    threads: int
    rounds: int

    def group(self, op):
        """One pytest-benchmark group per operation and size."""
        return f"{op} n_samples={self.n_samples}"

    @contextmanager
    def limits(self, impl):
        """BLAS/OpenMP threads for `impl` in the calling thread (see the module docstring)."""
        inner = self.threads if impl.startswith(("sklearn", "floor_numpy")) else 1
        with threadpool_limits(limits=inner):
            yield

    def pedantic(self, benchmark, fn):
        """Time `fn` after one untimed warm-up call (numba compiles on the first call)."""
        return benchmark.pedantic(fn, rounds=self.rounds, iterations=1, warmup_rounds=1)


def _config(config):
    size = config.getoption("--bench-size")
    n_samples, chunks = SIZES[size]
    rounds = config.getoption("--bench-rounds") or DEFAULT_ROUNDS[size]
    return BenchConfig(size, n_samples, chunks, config.getoption("--bench-threads"), rounds)


def _one_inner_thread():
    threadpool_limits(limits=1)


@pytest.fixture(scope="session")
def bench(pytestconfig):
    return _config(pytestconfig)


@pytest.fixture(scope="session", autouse=True)
def scheduler(bench):
    """dask's threaded scheduler with `threads` workers, for the whole session."""
    numba.set_num_threads(min(bench.threads, numba.config.NUMBA_NUM_THREADS))
    with ThreadPoolExecutor(bench.threads, initializer=_one_inner_thread) as pool:
        with dask.config.set(scheduler="threads", pool=pool, num_workers=bench.threads):
            yield pool


@dataclass
class Blobs:
    X: object  # persisted dask array
    Xnp: np.ndarray

    def data_for(self, impl):
        return self.Xnp if impl.startswith(("sklearn", "floor_numpy")) else self.X


@pytest.fixture(scope="session")
def blobs(bench, scheduler):
    """The seed workload's data: 3 blobs in 2 features, persisted once, and a numpy copy."""
    X, _ = chunkml.datasets.make_blobs(n_samples=bench.n_samples, chunks=bench.chunks,
                                       centers=3, n_features=2, random_state=0)
    X = X.persist()
    return Blobs(X, X.compute())


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(name):
    try:
        module = __import__(name)
    except ImportError:
        return None
    return getattr(module, "__version__", "?")


def environment(config=None):
    """Machine and library versions, stored in the benchmark JSON for benchmarks/report.py."""
    info = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name) for name in
               ("numpy", "numba", "dask", "sklearn", "dask_ml", "chunkml", "threadpoolctl")},
        },
    }
    if config is not None:
        bench = _config(config)
        info["bench"] = {"size": bench.size, "n_samples": bench.n_samples,
                         "chunks": bench.chunks, "threads": bench.threads,
                         "rounds": bench.rounds, "warmup_rounds": 1}
    return info


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["chunkml_bench"] = environment(config)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["command"] = shlex.join(["python", "-m", "pytest",
                                         *config.invocation_params.args])
