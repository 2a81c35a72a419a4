"""What one fresh process pays for numba, printed as one line of JSON (bench_cold.py).

    python benchmarks/cold_start.py fit CASE --n-samples N --chunks C [--threads T]
    python benchmarks/cold_start.py warm-up [--case CASE ...]

``fit``: ``import chunkml`` with its estimators, then the CASE's KMeans fit on its
persisted dask array (a numpy array for the ``*_numpy`` cases) twice: the first loads every kernel from numba's on-disk cache or,
with an empty ``NUMBA_CACHE_DIR``, compiles it; the second runs warm. ``warm-up``:
``import chunkml.kernels``, then ``chunkml.kernels.warm_up()`` (every serial kernel for
both dtypes and every width), or with ``--case`` only for those cases' dtype and width.

Either way the times come from ``time.perf_counter`` in this process, with numba's
compile time per kernel from its "numba:compile" events (`CompileTimes`) and the
chunkml records logged meanwhile that carry the compile notice ("first use only").
"""

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402

# numba comes with chunkml's estimators anyway: its import counts in import_s either way.
from numba.core import event  # noqa: E402

# The fits timed cold, each (dtype of X, n_features, n_clusters) with the seed's k-means||
# settings: the seed workload (the tiled kernels), and float32 X of 64 features with k=16
# (the matrix-product kernels, _gemm_tile.py: another dtype and another family of kernels);
# seed_numpy: the seed's X as one numpy array, the scikit-learn drop-in's fit (from
# 65,536 rows, the kernels' in-memory parallel variants).
CASES = {"seed": ("float64", 2, 3), "wide32": ("float32", 64, 16),
         "seed_numpy": ("float64", 2, 3)}


def describe(case):
    dtype, n_features, n_clusters = CASES[case]
    return f"{dtype} X, {n_features} features, k={n_clusters}"


def spec(case):
    """The case's `_workloads.Spec` (imported here: it imports chunkml, which the child
    times itself)."""
    from _workloads import SPECS, Spec

    _, n_features, n_clusters = CASES[case]
    return Spec(n_clusters, n_features, SPECS["seed"].kmeans_parallel)


class CompileTimes(event.Listener):
    """Seconds numba spends compiling each function, from its "numba:compile" events.

    A function's own time: the callees it compiles (each an event inside its event)
    count for themselves, so the seconds add up to the time spent compiling. numba sends
    the events while it holds its global compiler lock, so they never interleave across
    threads. Every function counts, numba's own overloads too (``numba.np...``: np.empty,
    the string formatting of error messages), as they are part of the wait. `variants`:
    chunkml's compiles that produced machine code (a first try that asks for a literal
    argument, ``numba.literally``, is retried and is not one).
    """

    def __init__(self):
        self._stack = []
        self.seconds = {}
        self.variants = 0

    def on_start(self, ev):
        self._stack.append([ev.data["dispatcher"], time.perf_counter(), 0.0])

    def on_end(self, ev):
        dispatcher, start, children = self._stack.pop()
        elapsed = time.perf_counter() - start
        name = kernel_name(dispatcher)
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - children
        if self._stack:
            self._stack[-1][2] += elapsed
        if (name.startswith("chunkml.")
                and tuple(ev.data["args"]) in dispatcher.overloads):
            self.variants += 1

    def __enter__(self):
        event.register("numba:compile", self)
        return self

    def __exit__(self, *exc):
        event.unregister("numba:compile", self)

    def summary(self):
        return {"compile_s": sum(self.seconds.values()), "compiled": self.variants,
                "compile_s_by_kernel": dict(sorted(self.seconds.items()))}


def kernel_name(dispatcher):
    """module.qualname, and the closure's values for a kernel made per case
    (``lloyd._specialise.<locals>.serial[case=2]``)."""
    func = dispatcher.py_func
    name = f"{func.__module__}.{func.__qualname__}"
    cells = zip(func.__code__.co_freevars, func.__closure__ or ())
    values = [f"{var}={cell.cell_contents}" for var, cell in cells
              if type(cell.cell_contents) is int]
    return f"{name}[{', '.join(values)}]" if values else name


class NoticeCount(logging.Handler):
    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += "first use only" in record.getMessage()


def _fit(args):
    import chunkml

    chunkml.KMeans  # noqa: B018  (the estimators load on first use)
    times = {"import_s": time.perf_counter() - START}

    from _impls import make_estimator, threaded_scheduler
    from _workloads import make_data

    workload = spec(args.case)
    # The dask cases stand for their full-size workloads (the seed's 160 MB), which run
    # the dask passes: at the few rows timed here chunkml would fit X in memory instead
    # (dask_glue/persist.py, `fit_in_memory`), compiling that path's kernels.
    import dask

    with threaded_scheduler(args.threads), dask.config.set({"chunkml.in_memory": False}):
        X = make_data(workload, args.n_samples, args.chunks)
        X = X.astype(CASES[args.case][0]).persist()
        if args.case.endswith("_numpy"):
            X = X.compute()
        with CompileTimes() as compiles:
            start = time.perf_counter()
            make_estimator("chunkml", workload).fit(X)
            times["first_fit_s"] = time.perf_counter() - start
        with CompileTimes() as warm:
            start = time.perf_counter()
            make_estimator("chunkml", workload).fit(X)
            times["warm_fit_s"] = time.perf_counter() - start
    times["first_minus_warm_s"] = times["first_fit_s"] - times["warm_fit_s"]
    # 0 unless the first fit left something to compile.
    times["warm_fit_compiled"] = warm.variants
    return {**times, **compiles.summary()}


def _warm_up(args):
    import chunkml.kernels

    times = {"import_s": time.perf_counter() - START}
    import numpy as np

    calls = [{"dtypes": (np.dtype(CASES[case][0]).type,), "widths": (CASES[case][1],)}
             for case in args.case or ()] or [{}]
    with CompileTimes() as compiles:
        start = time.perf_counter()
        for kwargs in calls:
            chunkml.kernels.warm_up(**kwargs)
        times["warm_up_s"] = time.perf_counter() - start
    return {**times, **compiles.summary()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit")
    fit.add_argument("case", choices=sorted(CASES))
    fit.add_argument("--n-samples", type=int, required=True)
    fit.add_argument("--chunks", type=int, required=True)
    warm = commands.add_parser("warm-up")
    warm.add_argument("--case", action="append", choices=sorted(CASES),
                      help="only this case's dtype and width (default: every kernel)")
    fit.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    notices = NoticeCount()
    logging.getLogger("chunkml").addHandler(notices)
    result = _fit(args) if args.command == "fit" else _warm_up(args)
    result["notices"] = notices.count
    print(json.dumps(result))


if __name__ == "__main__":
    main()
