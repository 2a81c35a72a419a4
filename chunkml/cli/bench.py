"""``chunkml bench``: the reference workload timed for chunkml and its peers.

chunkml, and when installed dask-ml and scikit-learn, fit the same data with the same
threads in one run, next to one plain read of X. Only public API is used: chunkml's
estimator and datasets, the peers' estimators, threadpoolctl and dask's config.
"""

import math
import time

from . import _args, _readers, _report, _session
from ._errors import one_line
from .demo import INIT_MAX_ITER, OVERSAMPLING_FACTOR

# The reference workload: 3 blobs in 2 features, KMeans(3, init_max_iter=2,
# oversampling_factor=10, random_state=0), for every implementation.
N_CLUSTERS = 3
_N_FEATURES = 2
_SEED = 0
# Floor and per-iteration times are best of this many (after a warm-up): they are short
# and noisy, and the minimum is what the machine can do.
_SHORT_REPEAT = 3


def add_parser(commands):
    parser = commands.add_parser(
        "bench", help="time the reference workload: chunkml, dask-ml, scikit-learn",
        parents=[_args.data_options(), _args.report_options()],
        description=(
            f"Time KMeans(n_clusters={N_CLUSTERS}, init_max_iter={INIT_MAX_ITER}, "
            f"oversampling_factor={OVERSAMPLING_FACTOR}) on make_blobs data "
            f"({_N_FEATURES} float64 features) for chunkml and, when installed, "
            "dask_ml.cluster.KMeans (same parameters, same persisted dask array) and "
            "sklearn.cluster.KMeans(n_init=1) (on the numpy copy), with the same number "
            "of threads, next to one plain read of X. A quick look: benchmarks/ is the "
            "thorough suite."))
    parser.add_argument("--threads", type=_args.positive_int, default=None, metavar="T",
                        help="threads for every implementation (default: one per core)")
    parser.add_argument("--repeat", type=_args.positive_int, default=1, metavar="R",
                        help="timed fits per implementation, after one warm-up on a "
                             "chunk; the fastest counts (default: 1)")
    parser.set_defaults(run=run, check=check, parser=parser)
    return parser


def check(args):
    if args.n_samples < N_CLUSTERS:
        args.parser.error(
            f"--n-samples ({args.n_samples:,}) must be at least the workload's "
            f"{N_CLUSTERS} clusters")


def _one_inner_thread():
    from threadpoolctl import threadpool_limits

    # A dask worker thread runs one block at a time; BLAS/OpenMP threads inside it
    # would oversubscribe the machine T-fold.
    threadpool_limits(limits=1)


def _best_time(fn, repeat):
    """(fastest wall time of ``repeat`` calls, result of the last call)."""
    best, result = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def _inertia(Xnp, centers, chunk):
    """Sum of squared distances to the nearest center, in plain numpy for every model.

    dask-ml 2025.1 reports unsquared distances as inertia_ when its last iteration
    moved the centers, so its own inertia_ cannot be compared.
    """
    import numpy as np

    centers = np.asarray(centers, dtype=np.float64)
    total = 0.0
    for start in range(0, Xnp.shape[0], chunk):
        diff = Xnp[start:start + chunk, None, :] - centers[None, :, :]
        total += float(np.einsum("ijk,ijk->ij", diff, diff).min(axis=1).sum())
    return total


def _estimators():
    """(name, make estimator or None, data key, note) for each implementation."""
    import importlib

    import sklearn.cluster

    from .. import KMeans

    params = {"n_clusters": N_CLUSTERS, "init_max_iter": INIT_MAX_ITER,
              "oversampling_factor": OVERSAMPLING_FACTOR, "random_state": _SEED}
    impls = [("chunkml", lambda: KMeans(**params), "dask", None)]
    try:
        dask_ml_cluster = importlib.import_module("dask_ml.cluster")
        impls.append(("dask_ml", lambda: dask_ml_cluster.KMeans(**params), "dask", None))
    except ImportError:
        impls.append(("dask_ml", None, "dask",
                      f"not installed ({_readers.extra_hint('bench')})"))
    impls.append(("sklearn", lambda: sklearn.cluster.KMeans(
        n_clusters=N_CLUSTERS, n_init=1, random_state=_SEED), "numpy", None))
    return impls


def _time_fits(data, warm, repeat, threads, chunk, say):
    """One row per implementation: (name, (seconds, n_iter, inertia, centers) or None,
    note)."""
    from threadpoolctl import threadpool_limits

    rows = []
    for name, make, key, note in _estimators():
        if make is None:
            rows.append((name, None, note))
            continue
        say(f"timing {name} ...")
        try:
            with threadpool_limits(limits=threads if key == "numpy" else 1):
                # Untimed: numba compiles, libraries import, thread pools start.
                make().fit(warm[key])
                seconds, km = _best_time(
                    lambda make=make, X=data[key]: make().fit(X), repeat)
        except Exception as exc:
            if name == "chunkml":
                raise
            # A peer's failure (a version clash, say) must not hide the others.
            rows.append((name, None, f"failed: {one_line(exc)}"))
            continue
        rows.append((name, (seconds, int(km.n_iter_),
                            _inertia(data["numpy"], km.cluster_centers_, chunk),
                            km.cluster_centers_), None))
    return rows


def _time_floor_and_lloyd(X, chunkml_fit):
    """(one read of X, one chunkml Lloyd iteration from its fitted centers) in seconds."""
    from threadpoolctl import threadpool_limits

    from .. import KMeans

    with threadpool_limits(limits=1):
        X.sum().compute()
        floor, _ = _best_time(lambda: X.sum().compute(), _SHORT_REPEAT)
        if chunkml_fit is None:
            return floor, None
        # From the fitted centers, max_iter=1: one Lloyd pass, plus the estimator's
        # small fixed costs.
        one_pass = KMeans(n_clusters=N_CLUSTERS, init=chunkml_fit[3], max_iter=1)
        one_pass.fit(X)
        lloyd, _ = _best_time(lambda: one_pass.fit(X), _SHORT_REPEAT)
    return floor, lloyd


def run(args):
    import concurrent.futures

    import dask
    import dask.system

    from .. import datasets

    say, _ = _session.progress(args)
    threads = args.threads or dask.system.CPU_COUNT
    n_samples, chunks = args.n_samples, min(args.chunks, args.n_samples)
    # chunkml fits dask input with serial kernels in each of these threads.
    pool = concurrent.futures.ThreadPoolExecutor(threads, initializer=_one_inner_thread)
    try:
        with dask.config.set(scheduler="threads", pool=pool, num_workers=threads), \
                _session.warnings_as_lines():
            X, _ = datasets.make_blobs(
                n_samples=n_samples, n_features=_N_FEATURES, centers=N_CLUSTERS,
                chunks=chunks, random_state=_SEED)
            say(f"generating {n_samples:,} x {_N_FEATURES} float64 rows in "
                f"{X.numblocks[0]:,} chunk{'s' if X.numblocks[0] != 1 else ''} "
                f"({X.nbytes / 2**20:,.1f} MiB), {threads} "
                f"thread{'s' if threads != 1 else ''} for every implementation ...")
            X = X.persist()
            Xnp = X.compute()
            rows = _time_fits({"dask": X, "numpy": Xnp},
                              {"dask": X[:chunks], "numpy": Xnp[:chunks]},
                              args.repeat, threads, chunks, say)
            say("timing one read of X and one chunkml Lloyd iteration ...")
            floor, lloyd = _time_floor_and_lloyd(X, rows[0][1])
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    say()
    summary = _summary(args, threads, X, rows, floor, lloyd)
    _report.emit(args, summary, _format_table(rows, floor, lloyd, X.nbytes))
    return 0


def _summary(args, threads, X, rows, floor, lloyd):
    from .. import __version__

    chunkml_seconds = rows[0][1][0] if rows[0][1] is not None else None
    results = []
    for name, result, note in rows:
        if result is None:
            results.append({"implementation": name, "note": note})
            continue
        seconds, n_iter, inertia, centers = result
        results.append({
            "implementation": name, "seconds": seconds, "n_iter": n_iter,
            "inertia": inertia, "ratio": seconds / chunkml_seconds,
            "centers": [[float(v) for v in row] for row in centers]})
    return {
        "chunkml_version": __version__,
        "n_samples": args.n_samples,
        "n_features": _N_FEATURES,
        "n_chunks": int(X.numblocks[0]),
        "n_clusters": N_CLUSTERS,
        "threads": threads,
        "repeat": args.repeat,
        "results": results,
        "read_seconds": floor,
        "read_bytes_per_second": X.nbytes / floor,
        "lloyd_iteration_seconds": lloyd,
    }


def _format_table(rows, floor, lloyd, nbytes):
    chunkml_seconds = rows[0][1][0] if rows[0][1] is not None else None
    header = ("implementation", "fit [s]", "iterations", "inertia", "ratio")
    lines = []
    for name, result, note in rows:
        if result is None:
            lines.append((name, note))
            continue
        seconds, n_iter, inertia, _ = result
        ratio = f"{seconds / chunkml_seconds:.2f}" if chunkml_seconds else "-"
        lines.append((name, f"{seconds:.3f}", f"{n_iter}", f"{inertia:.6g}", ratio))
    widths = [max(len(line[i]) for line in [header] + [r for r in lines if len(r) == 5])
              for i in range(5)]

    def fmt(line):
        if len(line) == 2:
            return f"{line[0]:<{widths[0]}}  {line[1]}"
        return "  ".join([f"{line[0]:<{widths[0]}}"]
                         + [f"{v:>{w}}" for v, w in zip(line[1:], widths[1:], strict=True)])

    out = [fmt(header)] + [fmt(line) for line in lines]
    out.append("")
    out.append("ratio: fit time / chunkml's fit time (above 1: chunkml is faster)")
    out.append("inertia: recomputed the same way (numpy squared distances) from each "
               "model's centers")
    out.append(f"one read of X (X.sum() on the persisted array): {floor:.4f} s, "
               f"{nbytes / floor / 1e9:.2f} GB/s")
    if lloyd is not None:
        out.append(f"chunkml, one Lloyd iteration: {lloyd:.4f} s, "
                   f"{lloyd / floor:.2f} x that floor")
    return "\n".join(out)
