"""``chunkml demo``: the reference workflow end to end.

Generate blobs lazily, persist them on a dask cluster, fit :class:`chunkml.KMeans`,
print a summary table, and write ``clusters.png`` and ``summary.json`` into ``--out``,
published atomically by :class:`._files.Outputs` as ``chunkml cluster``'s outputs are.
"""

import os
import time

from .. import __version__
from . import _args, _files, _plot, _report, _session

# The reference workflow's k-means|| settings: 2 rounds of 10 * k candidates each
# give a k-means++-quality start in 4 passes over X.
INIT_MAX_ITER = 2
OVERSAMPLING_FACTOR = 10
PLOT = "clusters.png"


def add_parser(commands):
    parser = commands.add_parser(
        "demo", help="run the reference workflow end to end",
        parents=[_args.data_options(), _args.seed_options(
                     "the data and of the initialisation"),
                 _args.scheduler_options(""),
                 _args.output_options("chunkml-demo", "clusters.png and summary.json"),
                 _args.report_options()],
        description=(
            "Generate blobs lazily, persist them on a dask cluster, fit "
            f"chunkml.KMeans(init_max_iter={INIT_MAX_ITER}, "
            f"oversampling_factor={OVERSAMPLING_FACTOR}), print a summary table and "
            "write clusters.png and summary.json into --out. They are written into a "
            "fresh folder beside --out and moved into it only when complete; a run "
            "replaces no existing file unless --overwrite is given."))
    parser.add_argument("--n-features", type=_args.positive_int, default=2, metavar="D",
                        help="features per row (default: 2)")
    parser.add_argument("--n-clusters", type=_args.positive_int, default=3, metavar="K",
                        help="blobs to generate and clusters to fit (default: 3)")
    parser.add_argument("--no-plot", action="store_true",
                        help="do not write clusters.png")
    parser.set_defaults(run=run, check=check, parser=parser)
    return parser


def check(args):
    if args.n_clusters > args.n_samples:
        args.parser.error(
            f"--n-clusters ({args.n_clusters:,}) must not exceed --n-samples "
            f"({args.n_samples:,})")


def run(args):
    t_start = time.perf_counter()
    say, iterations = _session.progress(args)
    plot = not args.no_plot and _plot.available(say)
    # In publishing order: summary.json last, so that its presence means complete.
    outputs = _files.Outputs(args.out, [PLOT] * plot + [_files.SUMMARY],
                             overwrite=args.overwrite, earlier=[PLOT])
    outputs.check()
    args.scheduler = _session.scheduler_address(args.scheduler)
    # Everything is written into outputs' fresh folder; --out changes only in publish().
    with outputs:
        with _session.dask_client(args.scheduler, say), iterations:
            summary = _fit_and_write(args, outputs, plot, say, t_start)
        outputs.publish()
    for name in outputs.names:
        say(f"wrote {os.path.join(args.out, name)}")
    say()
    _report.emit(args, summary,
                 _report.fit_table(summary, ("data", "fit", "plot", "total")))
    return 0


def _fit_and_write(args, outputs, plot, say, t_start):
    """Generate and persist X, fit, write the plot and the summary into ``outputs``."""
    import numpy as np

    from .. import KMeans, datasets

    n_samples, n_features, n_clusters = args.n_samples, args.n_features, args.n_clusters
    X, _ = datasets.make_blobs(
        n_samples=n_samples, n_features=n_features, chunks=args.chunks,
        centers=n_clusters, random_state=args.random_state)
    n_chunks = X.numblocks[0]
    say(f"generating {n_samples:,} x {n_features} rows in "
        f"{_report.plural(n_chunks, 'chunk')} ...")
    t_data = time.perf_counter()
    (X,) = _session.persist(X)
    seconds = {"data": time.perf_counter() - t_data}
    say(f"  {X.nbytes / 2**20:,.1f} MiB in cluster memory after {seconds['data']:.2f} s")

    km = KMeans(n_clusters=n_clusters, init_max_iter=INIT_MAX_ITER,
                oversampling_factor=OVERSAMPLING_FACTOR, random_state=args.random_state)
    seconds["fit"] = _session.fit(km, X, say)

    if plot:
        t_plot = time.perf_counter()
        _plot.plot_clusters(outputs.path(PLOT), X, km.labels_, km.cluster_centers_,
                            n_samples)
        seconds["plot"] = time.perf_counter() - t_plot
        _files.stage("plot")

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
        "outputs": {"plot": PLOT} if plot else {},
    }
    _report.write_summary(outputs.path(_files.SUMMARY), summary)
    _files.stage("summary")
    return summary
