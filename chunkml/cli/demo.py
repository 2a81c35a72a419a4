"""``chunkml demo``: the reference workflow end to end.

Generate blobs lazily, persist them on a dask cluster, fit :class:`chunkml.KMeans`,
print a summary table, and write ``summary.json`` and ``clusters.png`` into ``--out``.
"""

import os
import time

from .. import __version__
from . import _args, _plot, _report, _session
from ._errors import CommandError

# The reference workflow's k-means|| settings: 2 rounds of 10 * k candidates each
# give a k-means++-quality start in 4 passes over X.
INIT_MAX_ITER = 2
OVERSAMPLING_FACTOR = 10


def add_parser(commands):
    parser = commands.add_parser(
        "demo", help="run the reference workflow end to end",
        parents=[_args.data_options(), _args.seed_options(
                     "the data and of the initialisation"),
                 _args.scheduler_options("")],
        description=(
            "Generate blobs lazily, persist them on a dask cluster, fit "
            f"chunkml.KMeans(init_max_iter={INIT_MAX_ITER}, "
            f"oversampling_factor={OVERSAMPLING_FACTOR}), print a summary table and "
            "write summary.json and clusters.png into --out."))
    parser.add_argument("--n-features", type=_args.positive_int, default=2, metavar="D",
                        help="features per row (default: 2)")
    parser.add_argument("--n-clusters", type=_args.positive_int, default=3, metavar="K",
                        help="blobs to generate and clusters to fit (default: 3)")
    parser.add_argument("--out", default="chunkml-demo", metavar="DIR",
                        help="where to write summary.json and clusters.png "
                             "(default: ./chunkml-demo/)")
    parser.add_argument("--no-plot", action="store_true",
                        help="do not write clusters.png")
    parser.set_defaults(run=run, check=check, parser=parser)
    return parser


def check(args):
    if args.n_clusters > args.n_samples:
        args.parser.error(
            f"--n-clusters ({args.n_clusters:,}) must not exceed --n-samples "
            f"({args.n_samples:,})")


def _check_out_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the --out directory {path!r}: {exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CommandError(f"the --out directory {path!r} is not writable")


def run(args):
    t_start = time.perf_counter()
    say = _session.say
    n_samples, n_features, n_clusters = args.n_samples, args.n_features, args.n_clusters
    _check_out_dir(args.out)
    plot = not args.no_plot and _plot.available(say)

    import numpy as np

    from .. import KMeans, datasets

    with _session.dask_client(args.scheduler, say), _session.log_iterations():
        X, _ = datasets.make_blobs(
            n_samples=n_samples, n_features=n_features, chunks=args.chunks,
            centers=n_clusters, random_state=args.random_state)
        n_chunks = X.numblocks[0]
        say(f"generating {n_samples:,} x {n_features} rows in "
            f"{_report.plural(n_chunks, 'chunk')} ...")
        t_data = time.perf_counter()
        (X,) = _session.persist(X)
        seconds = {"data": time.perf_counter() - t_data}
        say(f"  {X.nbytes / 2**20:,.1f} MiB in cluster memory after "
            f"{seconds['data']:.2f} s")

        km = KMeans(n_clusters=n_clusters, init_max_iter=INIT_MAX_ITER,
                    oversampling_factor=OVERSAMPLING_FACTOR,
                    random_state=args.random_state)
        seconds["fit"] = _session.fit(km, X, say)

        if plot:
            t_plot = time.perf_counter()
            png = _plot.plot_clusters(os.path.join(args.out, "clusters.png"), X,
                                      km.labels_, km.cluster_centers_, n_samples)
            seconds["plot"] = time.perf_counter() - t_plot
            say(f"wrote {png}")

        seconds["total"] = time.perf_counter() - t_start
        summary = {
            "chunkml_version": __version__,
            "n_samples": n_samples,
            "n_features": n_features,
            "n_chunks": n_chunks,
            "chunk_size": min(args.chunks, n_samples),
            "n_clusters": n_clusters,
            "random_state": args.random_state,
            "init_max_iter": INIT_MAX_ITER,
            "oversampling_factor": OVERSAMPLING_FACTOR,
            "scheduler": _session.scheduler_name(args.scheduler),
            "n_iter": int(km.n_iter_),
            "inertia": float(km.inertia_),
            "seconds": seconds,
            "centers": np.asarray(km.cluster_centers_, dtype=np.float64).tolist(),
        }
        path = os.path.join(args.out, "summary.json")
        _report.write_summary(path, summary)
        say(f"wrote {path}")
    say()
    say(_report.fit_table(summary, ("data", "fit", "plot", "total")))
    return 0
