"""The ``chunkml`` command line (also ``python -m chunkml``).

::

    chunkml demo [--n-samples N] [--n-features D] [--n-clusters K] [--chunks C]
                 [--random-state SEED] [--scheduler ADDRESS] [--out DIR] [--no-plot]
    chunkml cluster INPUT --n-clusters K [--out DIR] [--columns A,B,...]
                 [--sample-weight-column NAME] [--chunks C] [--init INIT] [--max-iter N]
                 [--tol TOL] [--random-state SEED] [--persist] [--scheduler ADDRESS]
                 [--no-progress]
    chunkml bench [--n-samples N] [--chunks C] [--threads T] [--repeat R]

``demo`` runs the reference workflow end to end: generate blobs lazily, persist them
on a dask cluster, fit :class:`chunkml.KMeans`, print a summary table, and write
``summary.json`` and ``clusters.png`` into ``--out``.

``cluster`` fits :class:`chunkml.KMeans` to data on disk (.npy, .zarr, .parquet, .csv),
read lazily block by block, and writes ``centers.npy``, the labels in the input's row
order (``labels.zarr``, or ``labels.parquet`` without zarr) and ``summary.json``.

``bench`` times the reference workload for chunkml and, when installed, dask-ml and
scikit-learn in the same run, next to one plain read of X.

distributed and matplotlib are imported only when a command runs, matplotlib only
for the plot: it is an optional extra (``pip install chunkml[plot]``), as are zarr
(``chunkml[zarr]``), and pyarrow with dask.dataframe (``chunkml[parquet]``,
``chunkml[csv]``) for those formats.
"""

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import secrets
import shutil
import sys
import time
import warnings

from .. import __version__

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


class _CommandError(Exception):
    """A failure outside chunkml itself (scheduler unreachable, --out not writable, an
    optional extra missing): exit status 1."""


class _UsageError(Exception):
    """Bad input found after parsing (a missing file, a non-numeric column, k > rows):
    exit status 2, as argparse's own usage errors."""


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


def _float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _non_negative_float(text):
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _positive_float(text):
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _column_list(text):
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column names, got {text!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise argparse.ArgumentTypeError(f"column {duplicates[0]!r} named twice")
    return names


_INIT_NAMES = ("k-means||", "k-means++", "random")


def _init(text):
    if text in _INIT_NAMES or text.lower().endswith(".npy"):
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(_INIT_NAMES)} or a .npy file of initial centers, "
        f"got {text!r}")


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

    cluster = commands.add_parser(
        "cluster", help="cluster data on disk (.npy, .zarr, .parquet, .csv)",
        description=(
            "Fit chunkml.KMeans to data on disk, read lazily block by block, and write "
            "centers.npy, the labels in the input's row order (labels.zarr, or "
            "labels.parquet when zarr is not installed) and summary.json into --out. "
            "summary.json is written last: its presence means the run completed."))
    cluster.add_argument("input", metavar="INPUT",
                         help="a .npy file (memory-mapped), a .zarr array, a .parquet file "
                              "or directory, or a .csv file (or glob) with a header row")
    cluster.add_argument("--n-clusters", type=_positive_int, required=True, metavar="K",
                         help="number of clusters")
    cluster.add_argument("--out", default="chunkml-cluster", metavar="DIR",
                         help="where to write centers.npy, the labels and summary.json "
                              "(default: ./chunkml-cluster/)")
    cluster.add_argument("--columns", type=_column_list, metavar="A,B,...",
                         help=".parquet/.csv: the feature columns (default: every numeric "
                              "column but the sample-weight column)")
    cluster.add_argument("--sample-weight-column", metavar="NAME",
                         help=".parquet/.csv: the column holding each row's weight; it is "
                              "not a feature")
    cluster.add_argument("--chunks", type=_positive_int, metavar="C",
                         help=".npy/.zarr: rows per dask chunk (default: about 128 MiB "
                              "per chunk for .npy, the stored chunks for .zarr); "
                              ".parquet/.csv are read one partition per chunk")
    cluster.add_argument("--init", type=_init, default="k-means||", metavar="INIT",
                         help="k-means||, k-means++, random, or a .npy file of shape "
                              "(K, n_features) with the initial centers (default: "
                              "k-means||)")
    cluster.add_argument("--max-iter", type=_positive_int, default=300, metavar="N",
                         help="maximum number of Lloyd iterations (default: 300)")
    cluster.add_argument("--tol", type=_non_negative_float, default=1e-4, metavar="TOL",
                         help="relative tolerance, as scikit-learn (default: 1e-4)")
    cluster.add_argument("--random-state", type=_seed, default=0, metavar="SEED",
                         help="seed of the initialisation (default: 0)")
    cluster.add_argument("--init-max-iter", type=_positive_int, default=None, metavar="R",
                         help="k-means|| rounds (default: chunkml.KMeans's, 5)")
    cluster.add_argument("--oversampling-factor", type=_positive_float, default=2.0,
                         metavar="L", help="k-means|| candidates per round, as a multiple "
                                           "of K (default: 2)")
    cluster.add_argument("--persist", action="store_true",
                         help="keep X in cluster memory after the first read instead of "
                              "reading the file on every pass (faster when it fits)")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="dask scheduler to use; its workers need chunkml installed "
                              "and INPUT and --out at the same paths (default: an "
                              "in-process cluster, one worker with a thread per core)")
    cluster.add_argument("--no-progress", action="store_true",
                         help="print only the final table (and errors)")
    cluster.set_defaults(run=_cluster, parser=cluster)

    bench = commands.add_parser(
        "bench", help="time the reference workload: chunkml, dask-ml, scikit-learn",
        description=(
            "Time KMeans(n_clusters=3, init_max_iter=2, oversampling_factor=10) on "
            "make_blobs data (2 float64 features) for chunkml and, when installed, "
            "dask_ml.cluster.KMeans (same parameters, same persisted dask array) and "
            "sklearn.cluster.KMeans(n_init=1) (on the numpy copy), with the same number "
            "of threads, next to one plain read of X. A quick look: benchmarks/ is the "
            "thorough suite."))
    bench.add_argument("--n-samples", type=_positive_int, default=10_000_000, metavar="N",
                       help="rows to generate (default: 10,000,000)")
    bench.add_argument("--chunks", type=_positive_int, default=1_000_000, metavar="C",
                       help="rows per dask chunk (default: 1,000,000)")
    bench.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                       help="threads for every implementation (default: one per core)")
    bench.add_argument("--repeat", type=_positive_int, default=1, metavar="R",
                       help="timed fits per implementation, after one warm-up on a "
                            "chunk; the fastest counts (default: 1)")
    bench.set_defaults(run=_bench, parser=bench)
    return parser


def main(argv=None):
    """Entry point of the ``chunkml`` script; returns the exit status.

    Usage errors exit with status 2 (from argparse, or bad input found later: a missing
    file, a non-numeric column, k > rows), runtime failures outside chunkml (and a
    missing optional extra) return 1, Ctrl-C returns 130 once the cluster is closed.
    """
    args = build_parser().parse_args(argv)
    if args.command == "demo" and args.n_clusters > args.n_samples:
        args.parser.error(
            f"--n-clusters ({args.n_clusters:,}) must not exceed --n-samples "
            f"({args.n_samples:,})")
    if args.command == "bench" and args.n_samples < _BENCH_CLUSTERS:
        args.parser.error(
            f"--n-samples ({args.n_samples:,}) must be at least the workload's "
            f"{_BENCH_CLUSTERS} clusters")
    try:
        return args.run(args)
    except _UsageError as exc:
        print(f"chunkml: error: {_one_line(exc)}", file=sys.stderr)
        return _EXIT_USAGE
    except _CommandError as exc:
        print(f"chunkml: error: {_one_line(exc)}", file=sys.stderr)
        return _EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED


def _say(message=""):
    print(message, flush=True)


def _quiet(message=""):
    pass


def _one_line(exc):
    """The first line of an exception's message: errors are one line each."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


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
        raise _CommandError(f"cannot create the --out directory {path!r}: {exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise _CommandError(f"the --out directory {path!r} is not writable")


@contextlib.contextmanager
def _dask_client(address, say=_say):
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
            say(f"starting an in-process dask cluster (1 worker, {n_threads} "
                 f"thread{'s' if n_threads != 1 else ''}) ...")
            # Threads, not processes: X lives next to the driver loop and the numba
            # kernels release the GIL, so one worker uses every core.
            cluster = LocalCluster(processes=False, n_workers=1,
                                   threads_per_worker=n_threads, dashboard_address=":0")
            client = Client(cluster)
        else:
            say(f"connecting to the dask scheduler at {address} ...")
            try:
                client = Client(address)
            except (OSError, ValueError) as exc:
                raise _CommandError(
                    f"cannot connect to the dask scheduler at {address!r}: {exc}") from None
        say(f"dask dashboard: {client.dashboard_link}{_dashboard_note()}")
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

    from .. import KMeans, datasets

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
        _write_summary(path, summary)
        _say(f"wrote {path}")
    _say()
    _say(_format_table(summary))
    return 0


def _write_summary(path, summary):
    _write_atomic(path, lambda f: f.write(
        json.dumps(summary, indent=2).encode("utf-8") + b"\n"))


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
    return _table(rows)


def _table(rows):
    """(label, value) pairs as two columns: labels left-aligned, values right-aligned."""
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


# -- chunkml cluster ---------------------------------------------------------------------

_FORMATS = {".npy": "npy", ".zarr": "zarr", ".parquet": "parquet", ".csv": "csv"}
# The extra that brings what reading (or writing) each format needs.
_EXTRAS = {"zarr": "zarr", "parquet": "parquet", "csv": "csv"}
_LABELS_ZARR = "labels.zarr"
_LABELS_PARQUET = "labels.parquet"


def _extra_hint(extra):
    return f'pip install "chunkml[{extra}]"'


class _NpyFile:
    """A .npy file, memory-mapped where a block is read; pickles as its path.

    ``da.from_array`` slices it once per block. Pickling a numpy memmap would copy the
    whole array into the graph; this sends the path, and a worker opens the file itself.
    """

    def __init__(self, path):
        import numpy as np

        self.path = path
        # Copy-on-write ("c"), not read-only ("r"): numba types a read-only array apart
        # and would compile every kernel again for it; nothing writes to the blocks.
        self._array = np.load(path, mmap_mode="c", allow_pickle=False)
        self.shape, self.dtype, self.ndim = (self._array.shape, self._array.dtype,
                                             self._array.ndim)
        stat = os.stat(path)
        self._version = (stat.st_size, stat.st_mtime_ns)

    def __getitem__(self, key):
        import numpy as np

        if self._array is None:
            self._array = np.load(self.path, mmap_mode="c", allow_pickle=False)
        # A view of the mapped file, no copy, for the C-ordered files np.save writes.
        return np.ascontiguousarray(self._array[key])

    def __getstate__(self):
        return {**self.__dict__, "_array": None}

    def __dask_tokenize__(self):
        return ("chunkml-npy", os.path.abspath(self.path), self._version, self.shape,
                str(self.dtype))


def _input_format(path):
    """INPUT's format from its name; a missing file or unknown suffix is a _UsageError."""
    import glob

    name = os.path.normpath(path)
    fmt = _FORMATS.get(os.path.splitext(name)[1].lower())
    # .csv and .parquet inputs may be globs of several files, as dask reads them.
    if not os.path.exists(name) and not (fmt in ("csv", "parquet") and glob.glob(name)):
        raise _UsageError(f"INPUT {path!r} does not exist")
    if fmt is None:
        raise _UsageError(
            f"cannot tell the format of {path!r}: expected a name ending in "
            f"{', '.join(_FORMATS)}")
    return fmt


def _check_array_input(X, path):
    import numpy as np

    if X.ndim != 2:
        raise _UsageError(
            f"{path!r} holds a {X.ndim}-D array of shape {X.shape}; expected 2-D "
            "(n_samples, n_features)")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)
            or X.dtype == np.bool_):
        raise _UsageError(f"{path!r} holds {X.dtype} values, not real numbers")
    if X.shape[1] == 0:
        raise _UsageError(f"{path!r} has 0 features")


def _open_array(path, fmt, chunks):
    """(X, description) for .npy / .zarr input: a lazy dask array, one column chunk."""
    import dask.array as da

    if fmt == "npy":
        try:
            source = _NpyFile(path)
        except (OSError, ValueError) as exc:
            raise _UsageError(f"cannot read {path!r} as .npy: {_one_line(exc)}") from None
        _check_array_input(source, path)
        # "auto" rows per chunk: about dask's array.chunk-size (128 MiB) per block.
        X = da.from_array(source, chunks={0: chunks or "auto", 1: -1})
        return X, "memory-mapped"
    try:
        import zarr  # noqa: F401
    except ImportError:
        raise _CommandError(
            f"reading .zarr needs zarr: {_extra_hint(_EXTRAS['zarr'])}") from None
    try:
        X = da.from_zarr(path)
    except Exception as exc:  # zarr's errors share no base class across versions
        raise _UsageError(
            f"cannot read {path!r} as a zarr array: {_one_line(exc)}") from None
    _check_array_input(X, path)
    if chunks is not None:
        X = X.rechunk({0: chunks, 1: -1})
    return X, "zarr"


def _import_dataframe(fmt):
    try:
        import dask.dataframe as dd
        if fmt == "parquet":
            import pyarrow  # noqa: F401
    except ImportError as exc:
        raise _CommandError(
            f"reading .{fmt} needs dask.dataframe"
            f"{' and pyarrow' if fmt == 'parquet' else ''} ({_one_line(exc)}): "
            f"{_extra_hint(_EXTRAS[fmt])}") from None
    return dd


def _open_frame(path, fmt, columns, weight_column):
    """(X, sample_weight or None, feature names) for .parquet / .csv input.

    The arrays' row chunk sizes stay unknown: chunkml.KMeans learns them in its first
    pass, so the file is not read an extra time just to count rows.
    """
    import numpy as np
    from pandas.api.types import is_numeric_dtype

    dd = _import_dataframe(fmt)
    try:
        frame = dd.read_parquet(path) if fmt == "parquet" else dd.read_csv(path)
    except Exception as exc:  # pandas, pyarrow and fsspec errors share no base class
        raise _UsageError(f"cannot read {path!r} as .{fmt}: {_one_line(exc)}") from None
    by_name = {str(column): column for column in frame.columns}
    dtypes = {str(column): dtype for column, dtype in frame.dtypes.items()}

    def check_column(name, option):
        if name not in by_name:
            raise _UsageError(
                f"{option}: no column {name!r} in {path!r} (columns: "
                f"{', '.join(by_name) or 'none'})")
        if not is_numeric_dtype(dtypes[name]):
            raise _UsageError(
                f"{option}: column {name!r} of {path!r} is not numeric "
                f"(dtype {dtypes[name]})")

    if weight_column is not None:
        check_column(weight_column, "--sample-weight-column")
    if columns is None:
        columns = [name for name in by_name
                   if name != weight_column and is_numeric_dtype(dtypes[name])]
        if not columns:
            raise _UsageError(f"{path!r} has no numeric columns to cluster")
    else:
        for name in columns:
            check_column(name, "--columns")
        if weight_column in columns:
            raise _UsageError(
                f"--sample-weight-column {weight_column!r} is also named in --columns")
    features = frame[[by_name[name] for name in columns]]
    # Nullable (extension) dtypes become object arrays; float64 turns their NA into NaN,
    # which the fit then reports.
    if not all(isinstance(dtypes[name], np.dtype) for name in columns):
        features = features.astype(np.float64)
    X = features.to_dask_array()
    sample_weight = None
    if weight_column is not None:
        weight = frame[by_name[weight_column]]
        if not isinstance(dtypes[weight_column], np.dtype):
            weight = weight.astype(np.float64)
        sample_weight = weight.to_dask_array()
    # Lowered once: otherwise every compute lowers the frame's expression anew, the same
    # key can come out as a different task, and distributed warns of it (dask#9888).
    import dask

    if sample_weight is None:
        (X,) = dask.optimize(X)
    else:
        X, sample_weight = dask.optimize(X, sample_weight)
    return X, sample_weight, columns


def _read_init(init, n_clusters):
    """The --init value as chunkml.KMeans takes it: a name, or the centers from a .npy."""
    if init in _INIT_NAMES:
        return init
    import numpy as np

    try:
        centers = np.load(init, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _UsageError(f"--init: cannot read {init!r}: {_one_line(exc)}") from None
    if centers.ndim != 2 or centers.shape[0] != n_clusters:
        raise _UsageError(
            f"--init: {init!r} holds an array of shape {centers.shape}; expected "
            f"(--n-clusters, n_features) = ({n_clusters}, n_features)")
    return centers


def _labels_format():
    """"zarr" when zarr is installed, else "parquet"; checked before the fit starts."""
    try:
        import zarr  # noqa: F401
        return "zarr"
    except ImportError:
        pass
    try:
        import dask.dataframe  # noqa: F401
        import pyarrow  # noqa: F401
        return "parquet"
    except ImportError:
        raise _CommandError(
            f"writing the labels needs zarr (labels.zarr) or pyarrow (labels.parquet): "
            f"{_extra_hint(_EXTRAS['zarr'])} or {_extra_hint(_EXTRAS['parquet'])}"
        ) from None


def _temp_path(path, what="tmp"):
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.{what}")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _write_dir_atomic(path, write):
    """Write the directory ``path`` through a hidden temporary directory next to it.

    ``write(tmp)`` creates ``tmp``; ``os.replace`` then gives it its name. os.replace
    cannot replace a non-empty directory, so an earlier ``path`` is first moved aside
    and removed once the new one is in place.
    """
    tmp = _temp_path(path)
    try:
        write(tmp)
        old = None
        if os.path.lexists(path):
            old = _temp_path(path, "old")
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    if old is not None:
        _remove(old)
    return path


def _labels_part_name(i):
    # Zero-padded, so that readers listing the files in name order keep the row order.
    return f"part.{i:06d}.parquet"


def _write_labels(labels, out, fmt):
    """Write the lazy labels block by block: they never sit in memory all at once."""
    if fmt == "zarr":
        import dask.array as da

        chunks = labels.chunks[0]
        # zarr stores equal chunks (the last one may be shorter); parquet partitions
        # and 0-row blocks give uneven ones.
        if len(chunks) > 1 and (len(set(chunks[:-1])) > 1 or chunks[-1] > chunks[0]):
            labels = labels.rechunk(max(chunks))
        return _write_dir_atomic(os.path.join(out, _LABELS_ZARR),
                                 lambda tmp: da.to_zarr(labels, tmp))
    import dask.dataframe as dd

    frame = dd.from_dask_array(labels, columns=["label"])
    return _write_dir_atomic(
        os.path.join(out, _LABELS_PARQUET),
        lambda tmp: frame.to_parquet(tmp, write_index=False,
                                     name_function=_labels_part_name))


@contextlib.contextmanager
def _warnings_as_lines(stream):
    """Python warnings (e.g. ConvergenceWarning), one ``chunkml: warning:`` line each."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"chunkml: warning: {_one_line(message)}", file=stream, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _cluster(args):
    t_start = time.perf_counter()
    say = _quiet if args.no_progress else _say
    path = args.input
    fmt = _input_format(path)
    if fmt in ("npy", "zarr"):
        for option, value in (("--columns", args.columns),
                              ("--sample-weight-column", args.sample_weight_column)):
            if value is not None:
                raise _UsageError(f"{option} applies to .parquet and .csv input only")
    elif args.chunks is not None:
        raise _UsageError(
            "--chunks applies to .npy and .zarr input only (.parquet and .csv are read "
            "one partition per chunk)")
    labels_fmt = _labels_format()
    init = _read_init(args.init, args.n_clusters)

    import numpy as np

    from .. import KMeans

    sample_weight, columns = None, None
    if fmt in ("npy", "zarr"):
        X, how = _open_array(path, fmt, args.chunks)
        if X.shape[0] < args.n_clusters:
            raise _UsageError(
                f"--n-clusters ({args.n_clusters:,}) must not exceed the rows of "
                f"{path!r} ({X.shape[0]:,})")
        described = (f"{X.shape[0]:,} x {X.shape[1]} {X.dtype} rows in "
                     f"{X.numblocks[0]:,} chunk{'s' if X.numblocks[0] != 1 else ''} "
                     f"({how})")
    else:
        X, sample_weight, columns = _open_frame(path, fmt, args.columns,
                                                args.sample_weight_column)
        weights = ("" if sample_weight is None
                   else f", weights from {args.sample_weight_column}")
        described = (f"column{'s' if len(columns) != 1 else ''} {', '.join(columns)} in "
                     f"{X.numblocks[0]:,} partition{'s' if X.numblocks[0] != 1 else ''}"
                     f"{weights}; rows are counted in the first pass")
    if not isinstance(init, str) and init.shape[1] != X.shape[1]:
        raise _UsageError(
            f"--init: {args.init!r} has {init.shape[1]} features, the input has "
            f"{X.shape[1]}")
    _check_out_dir(args.out)
    km = KMeans(n_clusters=args.n_clusters, init=init, max_iter=args.max_iter, tol=args.tol,
                random_state=args.random_state, init_max_iter=args.init_max_iter,
                oversampling_factor=args.oversampling_factor)

    progress = (contextlib.nullcontext() if args.no_progress
                else _log_iterations(sys.stdout))
    with _dask_client(args.scheduler, say), progress, _warnings_as_lines(sys.stderr):
        say(f"reading {path}: {described}")
        seconds = {}
        if args.persist:
            from distributed import futures_of, wait

            t_read = time.perf_counter()
            X = X.persist()
            if sample_weight is not None:
                sample_weight = sample_weight.persist()
            wait(futures_of(X) + futures_of(sample_weight))
            seconds["read"] = time.perf_counter() - t_read
            say(f"  in cluster memory after {seconds['read']:.2f} s")

        say(f"fitting {km!r} ...")
        t_fit = time.perf_counter()
        try:
            km.fit(X, sample_weight=sample_weight)
        except (ValueError, TypeError) as exc:
            # chunkml names the problem (NaN, k > rows, bad weights); so do pandas and
            # pyarrow when a later block of the file does not parse.
            raise _UsageError(f"{path}: {_one_line(exc)}") from None
        seconds["fit"] = time.perf_counter() - t_fit
        say(f"  {km.n_iter_} Lloyd iteration{'s' if km.n_iter_ != 1 else ''} "
            f"in {seconds['fit']:.2f} s")

        # From here on --out changes; the summary of an earlier run goes first, so that
        # a run stopped midway never leaves a summary next to files it does not describe.
        summary_path = os.path.join(args.out, "summary.json")
        _remove(summary_path)
        labels = km.labels_
        say(f"writing {labels.shape[0]:,} labels ...")
        t_labels = time.perf_counter()
        labels_path = _write_labels(labels, args.out, labels_fmt)
        seconds["labels"] = time.perf_counter() - t_labels
        # Labels of an earlier run in the other format would not match these.
        _remove(os.path.join(args.out, _LABELS_PARQUET if labels_fmt == "zarr"
                             else _LABELS_ZARR))
        say(f"wrote {labels_path}")

        centers = np.asarray(km.cluster_centers_)
        centers_path = _write_atomic(os.path.join(args.out, "centers.npy"),
                                     lambda f: np.save(f, centers))
        say(f"wrote {centers_path}")

        n_samples, n_features = int(labels.shape[0]), int(centers.shape[1])
        seconds["total"] = time.perf_counter() - t_start
        summary = {
            "chunkml_version": __version__,
            "input": os.path.abspath(path),
            "format": fmt,
            "columns": columns,
            "sample_weight_column": args.sample_weight_column,
            "n_samples": n_samples,
            "n_features": n_features,
            "n_chunks": int(X.numblocks[0]),
            "dtype": str(centers.dtype),
            "n_clusters": args.n_clusters,
            "init": args.init,
            "max_iter": args.max_iter,
            "tol": args.tol,
            "random_state": args.random_state,
            "init_max_iter": args.init_max_iter,
            "oversampling_factor": args.oversampling_factor,
            "scheduler": args.scheduler or "in-process LocalCluster",
            "n_iter": int(km.n_iter_),
            "inertia": float(km.inertia_),
            "seconds": seconds,
            "centers": np.asarray(centers, dtype=np.float64).tolist(),
            "outputs": {"centers": "centers.npy",
                        "labels": os.path.basename(labels_path)},
        }
        _write_summary(summary_path, summary)
        say(f"wrote {summary_path}")
    say()
    _say(_format_cluster_table(summary))
    return 0


def _format_cluster_table(summary):
    seconds = summary["seconds"]
    rows = [
        ("format", summary["format"]),
        ("rows", f"{summary['n_samples']:,}"),
        ("features", f"{summary['n_features']:,}"),
        ("chunks", f"{summary['n_chunks']:,}"),
        ("clusters", f"{summary['n_clusters']:,}"),
        ("iterations", f"{summary['n_iter']:,}"),
        ("inertia", f"{summary['inertia']:.6g}"),
    ]
    rows += [(f"{step} [s]", f"{seconds[step]:.2f}")
             for step in ("read", "fit", "labels", "total") if step in seconds]
    return _table(rows)


# -- chunkml bench -----------------------------------------------------------------------

# The reference workload: 3 blobs in 2 features, KMeans(3, init_max_iter=2,
# oversampling_factor=10, random_state=0), for every implementation.
_BENCH_CLUSTERS = 3
_BENCH_FEATURES = 2
_BENCH_SEED = 0
# Floor and per-iteration times are best of this many (after a warm-up): they are short
# and noisy, and the minimum is what the machine can do.
_BENCH_SHORT_REPEAT = 3


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


def _numpy_inertia(Xnp, centers):
    """Sum of squared distances to the nearest center, computed the same way for all.

    dask-ml 2025.1 reports unsquared distances as inertia_ when its last iteration
    moved the centers, so its own inertia_ cannot be compared.
    """
    from .. import dask_glue

    return dask_glue.inertia(Xnp, centers)


def _bench_estimators():
    """(name, make estimator or None, data key, note) for each implementation."""
    import importlib

    import sklearn.cluster

    from .. import KMeans

    params = {"n_clusters": _BENCH_CLUSTERS, "init_max_iter": _INIT_MAX_ITER,
              "oversampling_factor": _OVERSAMPLING_FACTOR, "random_state": _BENCH_SEED}
    impls = [("chunkml", lambda: KMeans(**params), "dask", None)]
    try:
        dask_ml_cluster = importlib.import_module("dask_ml.cluster")
        impls.append(("dask_ml", lambda: dask_ml_cluster.KMeans(**params), "dask", None))
    except ImportError:
        impls.append(("dask_ml", None, "dask",
                      f"not installed ({_extra_hint('bench')})"))
    impls.append(("sklearn", lambda: sklearn.cluster.KMeans(
        n_clusters=_BENCH_CLUSTERS, n_init=1, random_state=_BENCH_SEED), "numpy", None))
    return impls


def _bench(args):
    import concurrent.futures

    import dask
    import numba
    from threadpoolctl import threadpool_limits

    from .. import KMeans, datasets

    threads = args.threads or dask.system.CPU_COUNT
    n_samples, chunks = args.n_samples, min(args.chunks, args.n_samples)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    pool = concurrent.futures.ThreadPoolExecutor(threads, initializer=_one_inner_thread)
    try:
        with dask.config.set(scheduler="threads", pool=pool, num_workers=threads), \
                _warnings_as_lines(sys.stderr):
            X, _ = datasets.make_blobs(
                n_samples=n_samples, n_features=_BENCH_FEATURES, centers=_BENCH_CLUSTERS,
                chunks=chunks, random_state=_BENCH_SEED)
            _say(f"generating {n_samples:,} x {_BENCH_FEATURES} float64 rows in "
                 f"{X.numblocks[0]:,} chunk{'s' if X.numblocks[0] != 1 else ''} "
                 f"({X.nbytes / 2**20:,.1f} MiB), {threads} "
                 f"thread{'s' if threads != 1 else ''} for every implementation ...")
            X = X.persist()
            Xnp = X.compute()
            data = {"dask": X, "numpy": Xnp}
            warm = {"dask": X[:chunks], "numpy": Xnp[:chunks]}

            rows = []
            for name, make, key, note in _bench_estimators():
                if make is None:
                    rows.append((name, None, note))
                    continue
                _say(f"timing {name} ...")
                inner = threads if key == "numpy" else 1
                try:
                    with threadpool_limits(limits=inner):
                        # Untimed: numba compiles, libraries import, thread pools start.
                        make().fit(warm[key])
                        seconds, km = _best_time(
                            lambda make=make, X=data[key]: make().fit(X), args.repeat)
                except Exception as exc:
                    if name == "chunkml":
                        raise
                    # A peer's failure (a version clash, say) must not hide the others.
                    rows.append((name, None, f"failed: {_one_line(exc)}"))
                    continue
                rows.append((name, (seconds, int(km.n_iter_),
                                    _numpy_inertia(Xnp, km.cluster_centers_),
                                    km.cluster_centers_), None))

            _say("timing one read of X and one chunkml Lloyd iteration ...")
            with threadpool_limits(limits=1):
                X.sum().compute()
                floor, _ = _best_time(lambda: X.sum().compute(), _BENCH_SHORT_REPEAT)
                chunkml_fit = rows[0][1]
                lloyd = None
                if chunkml_fit is not None:
                    # From the fitted centers, max_iter=1: one Lloyd pass, plus the
                    # estimator's small fixed costs.
                    one_pass = KMeans(n_clusters=_BENCH_CLUSTERS, init=chunkml_fit[3],
                                      max_iter=1)
                    one_pass.fit(X)
                    lloyd, _ = _best_time(lambda: one_pass.fit(X), _BENCH_SHORT_REPEAT)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    _say()
    _say(_format_bench_table(rows, floor, lloyd, X.nbytes))
    return 0


def _format_bench_table(rows, floor, lloyd, nbytes):
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
    out.append("inertia: recomputed the same way (chunkml's exact squared distances) "
               "from each model's centers")
    out.append(f"one read of X (X.sum() on the persisted array): {floor:.4f} s, "
               f"{nbytes / floor / 1e9:.2f} GB/s")
    if lloyd is not None:
        out.append(f"chunkml, one Lloyd iteration: {lloyd:.4f} s, "
                   f"{lloyd / floor:.2f} x that floor")
    return "\n".join(out)
