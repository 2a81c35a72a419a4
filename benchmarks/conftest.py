"""Shared set-up for the pytest-benchmark suites: sizes, data, threads, provenance.

Every implementation runs on the same data with the same number of threads (see
_impls.py): numpy-based peers under ``threadpool_limits(threads)`` (and oneDAL's and
faiss's own thread settings), chunkml and dask-ml on dask's threaded scheduler with
`threads` workers, set here for the whole session, each worker limited to one
BLAS/OpenMP thread; ``numba.set_num_threads(threads)`` for chunkml's in-memory steps.

Sizes (``--bench-size``, rows in _workloads.SIZES): tiny (a smoke test: one round, no
warm-up), small (the default, a few minutes on 2 cores) and full (the reference
workloads: 10_000_000 x 2 in chunks of 1_000_000, 2_000_000 x 32 in chunks of 200_000, and
the scaling series up to 100_000_000 rows). ``--bench-cold`` also times the cold-cache
first fit at tiny size (it always runs at small and full).
"""

import importlib.metadata
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

try:
    import chunkml  # noqa: F401
except ImportError:
    # benchmarks/ is not a package and not under testpaths: make the checkout importable
    # when chunkml is not installed (pytest puts only benchmarks/ itself on sys.path).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _impls import limits, make_estimator, threaded_scheduler  # noqa: E402
from _workloads import SIZES, Workload  # noqa: E402

# Timed rounds per benchmark when --bench-rounds is not given, and untimed warm-up rounds
# before them (numba compiles or loads its cache on the first call); tiny is a smoke run,
# whose times are not meant to be read.
DEFAULT_ROUNDS = {"tiny": 1, "small": 5, "full": 3}
WARMUP_ROUNDS = {"tiny": 0, "small": 1, "full": 1}


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
    group.addoption("--bench-cold", action="store_true",
                    help="time the cold-cache first fit also at --bench-size=tiny")


@dataclass(frozen=True)
class BenchConfig:
    size: str
    threads: int
    rounds: int
    cold: bool  # time the first fit with an empty numba cache

    @property
    def sizes(self):
        return SIZES[self.size]

    @staticmethod
    def group(op, workload):
        """One pytest-benchmark group per operation and workload size."""
        return f"{op} n_samples={workload.n_samples}"

    def start(self, benchmark, op, impl, workload):
        """Put `benchmark` in `op`'s group and return the data estimator `impl` runs on;
        an `impl` that is not installed is skipped here, before anything runs."""
        make_estimator(impl, workload.spec)
        benchmark.group = self.group(op, workload)
        return workload.data_for(impl)

    def limits(self, impl):
        """BLAS/OpenMP threads for `impl` in the calling thread (see _impls.limits)."""
        return limits(impl, self.threads)

    @property
    def warmup_rounds(self):
        return WARMUP_ROUNDS[self.size]

    def pedantic(self, benchmark, impl, fn):
        """Time `fn` under `impl`'s thread limits after `warmup_rounds` untimed calls."""
        def run():
            with self.limits(impl):
                return fn()

        return benchmark.pedantic(run, rounds=self.rounds, iterations=1,
                                  warmup_rounds=self.warmup_rounds)


def _config(config):
    size = config.getoption("--bench-size")
    rounds = config.getoption("--bench-rounds") or DEFAULT_ROUNDS[size]
    cold = config.getoption("--bench-cold") or size != "tiny"
    return BenchConfig(size, config.getoption("--bench-threads"), rounds, cold)


@pytest.fixture(scope="session")
def bench(pytestconfig):
    return _config(pytestconfig)


@pytest.fixture(scope="session", autouse=True)
def scheduler(bench):
    """dask's threaded scheduler with `threads` workers, for the whole session."""
    with threaded_scheduler(bench.threads) as pool:
        yield pool


@pytest.fixture(scope="session")
def workloads(bench, scheduler):
    """``workloads(name, dtype="float64")``: a `Workload`, generated once per session."""
    made = {}

    def get(name, dtype="float64"):
        if (name, dtype) not in made:
            if dtype == "float64":
                made[name, dtype] = Workload.generate(name, *getattr(bench.sizes, name))
            else:
                made[name, dtype] = get(name).astype(dtype)
        return made[name, dtype]

    return get


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


# Library versions in the JSON: import name -> distribution name, where the module's
# __version__ is not the release (sklearnex's is a build placeholder).
VERSIONS = {"numpy": None, "numba": None, "dask": None, "sklearn": None, "dask_ml": None,
            "sklearnex": "scikit-learn-intelex", "faiss": None, "chunkml": None,
            "threadpoolctl": None}


def _version(name, distribution=None):
    try:
        module = __import__(name)
    except ImportError:
        return None
    if distribution is not None:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pass
    return getattr(module, "__version__", "?")


def environment(config=None):
    """Machine and library versions, stored in the benchmark JSON for benchmarks/report.py."""
    info = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name, dist) for name, dist in VERSIONS.items()},
        },
    }
    if config is not None:
        bench = _config(config)
        sizes = bench.sizes
        info["bench"] = {"size": bench.size, "n_samples": sizes.seed[0],
                         "chunks": sizes.seed[1], "highdim": list(sizes.highdim),
                         "scaling": list(sizes.scaling), "threads": bench.threads,
                         "rounds": bench.rounds, "warmup_rounds": bench.warmup_rounds}
    return info


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["chunkml_bench"] = environment(config)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["command"] = shlex.join(["python", "-m", "pytest",
                                         *config.invocation_params.args])
