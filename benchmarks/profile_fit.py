"""Where a chunkml.KMeans fit on a dask array spends its time, phase by phase.

    python benchmarks/profile_fit.py [--n-samples N] [--threads T] [--repeat R] [--cprofile]

Runs the seed workload (make_blobs, chunks = N // 10, KMeans(n_clusters=3,
init_max_iter=2, oversampling_factor=10, random_state=0)) on dask's threaded scheduler and
times every pass over X by wrapping the `DaskRows` / `NumpyRows` methods of this process
(chunkml itself is not changed): k-means|| sampling passes, the pass that weights the
candidates, Lloyd passes, and the in-memory reclustering of the candidates. Prints one
table per fit next to the time of one dask pass that only reads X (`X.sum().compute()`):
what any dask pass costs at least, dask's per-pass overhead included. It is not the
physical floor (one read of X's bytes by a numba prange flat sum, which bench_kmeans.py
measures as `floor_flat`).
"""

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _impls import threaded_scheduler  # noqa: E402

import chunkml  # noqa: E402
from chunkml.dask_glue import _dask_rows, _rows, init  # noqa: E402

TIMES = defaultdict(list)  # phase -> [(wall seconds, CPU seconds of all threads)]
_stage = ["fit"]


def _clocks():
    return time.perf_counter(), time.process_time()


def _since(start):
    now = _clocks()
    return now[0] - start[0], now[1] - start[1]


def _timed(name, fn):
    def wrapper(self, *args, **kwargs):
        start = _clocks()
        try:
            return fn(self, *args, **kwargs)
        finally:
            TIMES[f"{_stage[0]}: {name}"].append(_since(start))
    return wrapper


def _instrument():
    for cls in (_dask_rows.DaskRows, _rows.NumpyRows):
        prefix = "dask" if cls is _dask_rows.DaskRows else "numpy (candidates)"
        # Each pass once: compute runs inside the passes, kmeanspp is made of them.
        methods = [name for name, value in vars(cls).items() if callable(value)
                   and not name.startswith("_") and not name.endswith("_graph")
                   and name not in ("compute", "kmeanspp")]
        for method in methods:
            # final() may call lloyd() itself: that pass is timed in both rows.
            label = f"{prefix} {method}" + (" (incl. any lloyd it runs)" if method == "final"
                                            else "")
            setattr(cls, method, _timed(label, getattr(cls, method)))
    real_init = init.kmeans_parallel_init

    def kmeans_parallel_init(*args, **kwargs):
        _stage[0] = "init"
        start = _clocks()
        try:
            return real_init(*args, **kwargs)
        finally:
            TIMES["init: total k-means||"].append(_since(start))
            _stage[0] = "lloyd"

    # kmeans.py imported the name, so patch it where it is looked up.
    from chunkml.dask_glue import kmeans
    kmeans.kmeans_parallel_init = kmeans_parallel_init


def _table(total, floor):
    """Wall time, and CPU time of all threads, which a busy machine inflates less."""
    print(f"{'phase':52s} {'calls':>5s} {'wall s':>7s} {'/ X.sum':>7s} {'% wall':>6s} "
          f"{'CPU s':>7s}")
    for name, values in sorted(TIMES.items()):
        wall = sum(v[0] for v in values)
        cpu = sum(v[1] for v in values)
        print(f"{name:52s} {len(values):5d} {wall:7.3f} {wall / len(values) / floor:7.2f} "
              f"{100 * wall / total[0]:6.1f} {cpu:7.3f}")
    passes = sum(len(v) for k, v in TIMES.items() if k.split(": ")[1].startswith("dask ")
                 and "final" not in k)
    print(f"passes over X (dask calls other than final): {passes}; fit {total[0]:.3f} s wall "
          f"= {total[0] / floor:.1f} X.sum passes, {total[1]:.3f} s CPU")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--cprofile", action="store_true",
                        help="also print cProfile's top functions of the last fit")
    args = parser.parse_args()

    _instrument()
    # The benchmarks' threaded scheduler: each pool thread limits its per-thread pools
    # only (a pool thread that set OpenBLAS's process-wide pool would become its
    # controlling thread, see _impls.py).
    with threaded_scheduler(args.threads):
        X, _ = chunkml.datasets.make_blobs(n_samples=args.n_samples,
                                           chunks=args.n_samples // 10, centers=3,
                                           n_features=2, random_state=0)
        X = X.persist()
        X.sum().compute()
        floors = []
        for _ in range(5):
            t0 = time.perf_counter()
            X.sum().compute()
            floors.append(time.perf_counter() - t0)
        floor = sorted(floors)[len(floors) // 2]
        print(f"X: {X.shape} {X.dtype}, {X.nbytes / 1e6:.0f} MB in {X.numblocks[0]} blocks; "
              f"one read (X.sum) median {floor:.3f} s = {X.nbytes / floor / 1e9:.2f} GB/s")
        for i in range(args.repeat + 1):
            TIMES.clear()
            _stage[0] = "fit"
            profiler = cProfile.Profile() if args.cprofile and i == args.repeat else None
            start = _clocks()
            if profiler:
                profiler.enable()
            km = chunkml.KMeans(n_clusters=3, init_max_iter=2, oversampling_factor=10,
                                random_state=0).fit(X)
            if profiler:
                profiler.disable()
            total = _since(start)
            label = "first fit in this process (numba loads/compiles)" if i == 0 else f"fit {i}"
            print(f"\n== {label}: {total[0]:.3f} s, n_iter_={km.n_iter_}, "
                  f"inertia_={km.inertia_:.9g}")
            _table(total, floor)
        if args.cprofile:
            stream = io.StringIO()
            pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(25)
            print(stream.getvalue())


if __name__ == "__main__":
    main()
