"""The dask and chunkml joblib backends timed in interleaved pairs (issue 17).

    python benchmarks/joblib_paired.py [--pairs N] [--searches svc,hgb] [--clusters ...]
                                       [--size small] [--json FILE]

bench_joblib.py times each backend's rounds one after the other, so a machine that
drifts during a group (a shared VM does) moves one backend's time and not the other's.
Here the two backends take turns on the same cluster, in the order dask, chunkml,
chunkml, dask, ... (each pair's first half alternates), with the searches, data and
clusters of bench_joblib.py. Prints, per search and cluster, every pair's times, the
median of the per-pair ratios dask / chunkml (above 1: chunkml is faster) and its
spread (min, max), and the sign count: in how many pairs chunkml was the faster.
Same cv_results_ mean test scores for both backends (checked).

Also prints, per search, its time on one thread (joblib's sequential backend, BLAS,
OpenMP and numba limited to 1 thread; median of 3): the CPU time the search needs, so
on the cluster's 2 cores it cannot take less than about half of it. That bounds what
any backend can gain over the dask backend.
"""

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import dask
import distributed
import joblib
import numba
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_joblib import CLUSTERS, SEARCHES, SLOTS, _backend  # noqa: E402


def _cluster(name):
    common = {"dashboard_address": None, "memory_limit": "2GB"}
    if name == "inprocess":
        client = distributed.Client(processes=False, n_workers=1,
                                    threads_per_worker=SLOTS, set_as_default=False,
                                    **common)
        return client, client
    with dask.config.set(pool=None):
        lc = distributed.LocalCluster(n_workers=2, threads_per_worker=SLOTS // 2,
                                      processes=True, host="127.0.0.1", **common)
    client = distributed.Client(lc, set_as_default=False)
    client.wait_for_workers(2, timeout=60)
    return lc, client


def _timed(impl, client, search):
    with warnings.catch_warnings(), _backend(impl, client, search):
        warnings.filterwarnings("ignore", "The `probability` parameter", FutureWarning)
        start = time.perf_counter()
        fitted = search.make().fit(search.X, search.y)
        return time.perf_counter() - start, fitted.cv_results_["mean_test_score"]


def one_thread(search, rounds=3):
    """Median seconds of `search` on one thread, after one warm-up fit."""
    saved = numba.get_num_threads()
    times = []
    try:
        numba.set_num_threads(1)
        with threadpool_limits(1), joblib.parallel_backend("sequential"), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The `probability` parameter", FutureWarning)
            for _ in range(rounds + 1):
                start = time.perf_counter()
                search.make().fit(search.X, search.y)
                times.append(time.perf_counter() - start)
    finally:
        numba.set_num_threads(saved)
    return statistics.median(times[1:])


def paired(search, client, pairs):
    """[(dask seconds, chunkml seconds)] of `pairs` interleaved pairs, after one
    warm-up fit each."""
    _, reference = _timed("dask", client, search)
    _, scores = _timed("chunkml", client, search)
    np.testing.assert_allclose(scores, reference, rtol=1e-12)
    times = []
    for i in range(pairs):
        order = ("dask", "chunkml") if i % 2 == 0 else ("chunkml", "dask")
        got = {}
        for impl in order:
            got[impl], scores = _timed(impl, client, search)
            np.testing.assert_allclose(scores, reference, rtol=1e-12)
        times.append((got["dask"], got["chunkml"]))
    return times


def summary(times):
    ratios = [d / c for d, c in times]
    return {"pairs": [[round(d, 4), round(c, 4)] for d, c in times],
            "dask_median_s": statistics.median(d for d, _ in times),
            "chunkml_median_s": statistics.median(c for _, c in times),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios),
            "chunkml_faster_in": sum(r > 1 for r in ratios)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--searches", default="svc,hgb")
    parser.add_argument("--clusters", default=",".join(CLUSTERS))
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = {"machine": platform.processor() or platform.machine(),
              "size": args.size, "one_thread_s": {}, "groups": {}}
    for name in args.searches.split(","):
        seconds = one_thread(SEARCHES[name](args.size))
        result["one_thread_s"][name] = seconds
        print(f"{name} on one thread: {seconds:.3f} s", flush=True)
    for cluster_name in args.clusters.split(","):
        owner, client = _cluster(cluster_name)
        try:
            for name in args.searches.split(","):
                search = SEARCHES[name](args.size)
                got = summary(paired(search, client, args.pairs))
                result["groups"][f"{name} {cluster_name}"] = got
                print(f"{name} {cluster_name}: dask/chunkml median"
                      f" {got['ratio_median']:.3f}x"
                      f" (pairs {got['ratio_min']:.3f}-{got['ratio_max']:.3f}), chunkml"
                      f" faster in {got['chunkml_faster_in']}/{args.pairs}; medians"
                      f" {got['dask_median_s']:.3f} / {got['chunkml_median_s']:.3f} s",
                      flush=True)
        finally:
            client.close()
            if owner is not client:
                owner.close()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
