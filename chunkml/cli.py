"""The ``chunkml`` command line (also ``python -m chunkml``).

::

    chunkml demo [--n-samples N] [--n-features D] [--n-clusters K] [--chunks C]
                 [--random-state SEED] [--scheduler ADDRESS] [--out DIR] [--no-plot]

``demo`` runs the reference workflow end to end: generate blobs lazily, persist them
on a dask cluster, fit :class:`chunkml.KMeans`, print a summary table, and write
``summary.json`` and ``clusters.png`` into ``--out``.

distributed and matplotlib are imported only when a command runs, matplotlib only
for the plot: it is an optional extra (``pip install chunkml[plot]``).
"""

import argparse
import contextlib
import gc
import json
import logging
import os
import secrets
import sys
import time

from . import __version__

__all__ = ["build_parser", "main"]

# The reference workflow's k-means|| settings: 2 rounds of 10 * k candidates each
# give a k-means++-quality start in 4 passes over X.
_INIT_MAX_ITER = 2
_OVERSAMPLING_FACTOR = 10
# About 20k points shows each cluster's shape and plots in well under a second;
# the sample travels from the workers to the client in one small compute.
_PLOT_POINTS = 20_000
# Fixed here rather than taken from the user's matplotlibrc: always 640 x 480 px.
_FIG_SIZE = (6.4, 4.8)
_FIG_DPI = 100

_EXIT_ERROR = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

_logger = logging.getLogger("chunkml")


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, ``chunkml: error: ...``."""

    def error(self, message):
        self.exit(_EXIT_USAGE, f"chunkml: error: {message} (see '{self.prog} --help')\n")


class _DemoError(Exception):
    """A failure outside chunkml itself (scheduler unreachable, --out not writable)."""


def _int(text):
    # int() already accepts "10_000_000"; float() adds "1e7".
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def _positive_int(text):
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _seed(text):
    value = _int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"must be an integer in [0, 2**32), got {text!r}")
    return value


def build_parser():
    """The ``chunkml`` argument parser, with one subparser per command."""
    parser = _ArgumentParser(
        prog="chunkml", description="chunkml: fast k-means on dask arrays.")
    parser.add_argument("--version", action="version", version=f"chunkml {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", help="run the reference workflow end to end",
        description=(
            "Generate blobs lazily, persist them on a dask cluster, fit "
            "chunkml.KMeans(init_max_iter=2, oversampling_factor=10), print a summary "
            "table and write summary.json and clusters.png into --out."))
    demo.add_argument("--n-samples", type=_positive_int, default=10_000_000,
                      metavar="N", help="rows to generate (default: 10,000,000)")
    demo.add_argument("--n-features", type=_positive_int, default=2, metavar="D",
                      help="features per row (default: 2)")
    demo.add_argument("--n-clusters", type=_positive_int, default=3, metavar="K",
                      help="blobs to generate and clusters to fit (default: 3)")
    demo.add_argument("--chunks", type=_positive_int, default=1_000_000, metavar="C",
                      help="rows per dask chunk (default: 1,000,000)")
    demo.add_argument("--random-state", type=_seed, default=0, metavar="SEED",
                      help="seed of the data and of the initialisation (default: 0)")
    demo.add_argument("--scheduler", metavar="ADDRESS",
                      help="dask scheduler to use, e.g. tcp://10.0.0.1:8786; its workers "
                           "need chunkml installed (default: an in-process cluster, one "
                           "worker with a thread per core)")
    demo.add_argument("--out", default="chunkml-demo", metavar="DIR",
                      help="where to write summary.json and clusters.png "
                           "(default: ./chunkml-demo/)")
    demo.add_argument("--no-plot", action="store_true",
                      help="do not write clusters.png")
    demo.set_defaults(run=_demo, parser=demo)
    return parser


def main(argv=None):
    """Entry point of the ``chunkml`` script; returns the exit status.

    Usage errors exit with status 2 (from argparse), runtime failures outside
    chunkml return 1, Ctrl-C returns 130 once the cluster is closed.
    """
    args = build_parser().parse_args(argv)
    if args.command == "demo" and args.n_clusters > args.n_samples:
        args.parser.error(
            f"--n-clusters ({args.n_clusters:,}) must not exceed --n-samples "
            f"({args.n_samples:,})")
    try:
        return args.run(args)
    except _DemoError as exc:
        print(f"chunkml: error: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED


def _say(message=""):
    print(message, flush=True)


@contextlib.contextmanager
def _log_iterations(stream):
    """Show chunkml's DEBUG records (one per k-means|| round and Lloyd iteration)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    handler.setLevel(logging.DEBUG)
    level, propagate = _logger.level, _logger.propagate
    _logger.setLevel(logging.DEBUG)
    # Not also through the root logger: a caller's handlers would repeat each line.
    _logger.propagate = False
    _logger.addHandler(handler)
    try:
        yield
    finally:
        _logger.removeHandler(handler)
        _logger.setLevel(level)
        _logger.propagate = propagate


def _check_out_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise _DemoError(f"cannot create the --out directory {path!r}: {exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise _DemoError(f"the --out directory {path!r} is not writable")


@contextlib.contextmanager
def _dask_client(address):
    """A distributed Client on ``address``, or on an in-process LocalCluster.

    Closes the client, and the cluster when it made one, however the block ends;
    a remote cluster is left running.
    """
    import dask.system
    from distributed import Client, LocalCluster

    cluster = client = None
    try:
        if address is None:
            n_threads = dask.system.CPU_COUNT
            _say(f"starting an in-process dask cluster (1 worker, {n_threads} "
                 f"thread{'s' if n_threads != 1 else ''}) ...")
            # Threads, not processes: X lives next to the driver loop and the numba
            # kernels release the GIL, so one worker uses every core.
            cluster = LocalCluster(processes=False, n_workers=1,
                                   threads_per_worker=n_threads, dashboard_address=":0")
            client = Client(cluster)
        else:
            _say(f"connecting to the dask scheduler at {address} ...")
            try:
                client = Client(address)
            except (OSError, ValueError) as exc:
                raise _DemoError(
                    f"cannot connect to the dask scheduler at {address!r}: {exc}") from None
        _say(f"dask dashboard: {client.dashboard_link}{_dashboard_note()}")
        yield client
    except KeyboardInterrupt:
        # Closing mid-compute cancels futures, and distributed and asyncio log a
        # traceback or warning for each; the user asked to stop and needs none of them.
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            _close(client, cluster)
            client = cluster = None
            # Abandoned asyncio tasks report their exception when collected: now.
            gc.collect()
        finally:
            logging.disable(previous)
        raise
    finally:
        _close(client, cluster)


def _close(client, cluster):
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


def _dashboard_note():
    import importlib.util

    # Without bokeh the link serves only a page that asks for it.
    return "" if importlib.util.find_spec("bokeh") else " (pip install bokeh to view it)"


def _demo(args):
    t_start = time.perf_counter()
    n_samples, n_features, n_clusters = args.n_samples, args.n_features, args.n_clusters
    _check_out_dir(args.out)

    import numpy as np
    from distributed import futures_of, wait

    from . import KMeans, datasets

    with _dask_client(args.scheduler), _log_iterations(sys.stdout):
        X, _ = datasets.make_blobs(
            n_samples=n_samples, n_features=n_features, chunks=args.chunks,
            centers=n_clusters, random_state=args.random_state)
        n_chunks = X.numblocks[0]
        _say(f"generating {n_samples:,} x {n_features} rows in {n_chunks:,} "
             f"chunk{'s' if n_chunks != 1 else ''} ...")
        t_data = time.perf_counter()
        X = X.persist()
        wait(futures_of(X))
        seconds_data = time.perf_counter() - t_data
        _say(f"  {X.nbytes / 2**20:,.1f} MiB in cluster memory after {seconds_data:.2f} s")

        km = KMeans(n_clusters=n_clusters, init_max_iter=_INIT_MAX_ITER,
                    oversampling_factor=_OVERSAMPLING_FACTOR,
                    random_state=args.random_state)
        _say(f"fitting {km!r} ...")
        t_fit = time.perf_counter()
        km.fit(X)
        seconds_fit = time.perf_counter() - t_fit
        _say(f"  {km.n_iter_} Lloyd iteration{'s' if km.n_iter_ != 1 else ''} "
             f"in {seconds_fit:.2f} s")

        seconds_plot = None
        if not args.no_plot:
            t_plot = time.perf_counter()
            png = _plot_clusters(os.path.join(args.out, "clusters.png"), X, km.labels_,
                                 km.cluster_centers_, n_samples)
            if png is not None:
                seconds_plot = time.perf_counter() - t_plot
                _say(f"wrote {png}")

        centers = np.asarray(km.cluster_centers_, dtype=np.float64)
        seconds = {"data": seconds_data, "fit": seconds_fit}
        if seconds_plot is not None:
            seconds["plot"] = seconds_plot
        seconds["total"] = time.perf_counter() - t_start
        summary = {
            "chunkml_version": __version__,
            "n_samples": n_samples,
            "n_features": n_features,
            "n_chunks": n_chunks,
            "chunk_size": min(args.chunks, n_samples),
            "n_clusters": n_clusters,
            "random_state": args.random_state,
            "init_max_iter": _INIT_MAX_ITER,
            "oversampling_factor": _OVERSAMPLING_FACTOR,
            "scheduler": args.scheduler or "in-process LocalCluster",
            "n_iter": int(km.n_iter_),
            "inertia": float(km.inertia_),
            "seconds": seconds,
            # float64 -> JSON keeps every digit: repr round-trips.
            "centers": centers.tolist(),
        }
        path = os.path.join(args.out, "summary.json")
        _write_atomic(path, lambda f: f.write(
            json.dumps(summary, indent=2).encode("utf-8") + b"\n"))
        _say(f"wrote {path}")
    _say()
    _say(_format_table(summary))
    return 0


def _format_table(summary):
    seconds = summary["seconds"]
    rows = [
        ("rows", f"{summary['n_samples']:,}"),
        ("features", f"{summary['n_features']:,}"),
        ("chunks", f"{summary['n_chunks']:,}"),
        ("clusters", f"{summary['n_clusters']:,}"),
        ("iterations", f"{summary['n_iter']:,}"),
        ("inertia", f"{summary['inertia']:.6g}"),
        ("data [s]", f"{seconds['data']:.2f}"),
        ("fit [s]", f"{seconds['fit']:.2f}"),
    ]
    if "plot" in seconds:
        rows.append(("plot [s]", f"{seconds['plot']:.2f}"))
    rows.append(("total [s]", f"{seconds['total']:.2f}"))
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    return "\n".join(f"{label:<{label_width}}  {value:>{value_width}}"
                     for label, value in rows)


def _write_atomic(path, write):
    """Write ``path`` through a hidden temporary file in the same directory.

    ``write(f)`` gets a binary file; ``os.replace`` then gives the file its name,
    so a reader sees either the old file or the complete new one.
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask set the mode, as open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _plot_clusters(path, X, labels, centers, n_samples):
    """Scatter about 20k rows of X coloured by label, centers as big X markers.

    Returns ``path``, or None when matplotlib is missing (the plot is skipped).
    """
    try:
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        _say("matplotlib is not installed: skipping clusters.png "
             "(pip install chunkml[plot])")
        return None
    import dask
    import numpy as np

    step = -(-n_samples // _PLOT_POINTS)
    # One compute: the labels' graph reads the same persisted blocks as the sample.
    labels_sample, X_sample = dask.compute(labels[::step], X[::step])
    labels_sample = np.asarray(labels_sample)
    n_clusters, n_features = centers.shape
    if n_clusters <= 10:
        cmap = colormaps["tab10"]
    elif n_clusters <= 20:
        cmap = colormaps["tab20"]
    else:
        cmap = colormaps["turbo"].resampled(n_clusters)

    # A bare Figure on an Agg canvas: no pyplot, no global backend switch.
    fig = Figure(figsize=_FIG_SIZE, dpi=_FIG_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if n_features >= 2:
        ax.scatter(X_sample[:, 0], X_sample[:, 1], c=cmap(labels_sample), s=3,
                   linewidths=0, alpha=0.6, rasterized=True)
        ax.scatter(centers[:, 0], centers[:, 1], c=cmap(np.arange(n_clusters)),
                   marker="X", s=300, edgecolors="black", linewidths=1.5, zorder=3,
                   label="centers")
        ax.set_xlabel("feature 0")
        ax.set_ylabel("feature 1")
    else:
        rows = np.arange(len(labels_sample)) * step
        ax.scatter(X_sample[:, 0], rows, c=cmap(labels_sample), s=3, linewidths=0,
                   alpha=0.6, rasterized=True)
        for i, center in enumerate(centers[:, 0]):
            ax.axvline(center, color=cmap(i), linewidth=2)
        ax.scatter(centers[:, 0], np.full(n_clusters, rows.mean() if len(rows) else 0),
                   c=cmap(np.arange(n_clusters)), marker="X", s=300,
                   edgecolors="black", linewidths=1.5, zorder=3, label="centers")
        ax.set_xlabel("feature 0")
        ax.set_ylabel("row")
    legend = ax.legend(loc="upper right", fontsize="small")
    # The handle would take the first cluster's colour; it stands for every center.
    legend.legend_handles[0].set_facecolor("lightgray")
    ax.set_title(f"chunkml.KMeans: n = {n_samples:,} rows, k = {n_clusters} clusters\n"
                 f"{len(labels_sample):,} sampled rows coloured by cluster",
                 fontsize="medium")
    return _write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=_FIG_DPI))
