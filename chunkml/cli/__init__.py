"""The ``chunkml`` command line (also ``python -m chunkml``).

::

    chunkml demo [--n-samples N] [--n-features D] [--n-clusters K] [--chunks C]
                 [--random-state SEED] [--scheduler ADDRESS] [--out DIR] [--no-plot]
    chunkml cluster INPUT --n-clusters K [--out DIR] [--columns A,B,...]
                 [--sample-weight-column NAME] [--chunks C] [--init INIT] [--max-iter N]
                 [--tol TOL] [--random-state SEED] [--persist] [--scheduler ADDRESS]
                 [--no-progress] [--overwrite]
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
import sys
import time
import warnings

from .. import __version__
from . import _files, _readers
from ._errors import EXIT_ERROR as _EXIT_ERROR
from ._errors import EXIT_INTERRUPTED as _EXIT_INTERRUPTED
from ._errors import EXIT_USAGE as _EXIT_USAGE
from ._errors import CommandError as _CommandError
from ._errors import UsageError as _UsageError
from ._errors import one_line as _one_line
from ._errors import stop_signals_interrupt
from ._readers import INIT_NAMES as _INIT_NAMES

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

_logger = logging.getLogger("chunkml")


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, ``chunkml: error: ...``."""

    def error(self, message):
        self.exit(_EXIT_USAGE, f"chunkml: error: {message} (see '{self.prog} --help')\n")


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
            "They are written into a fresh folder beside --out and moved into it only "
            "when complete: an interrupted or failed run leaves --out as it was. A run "
            "replaces no existing file unless --overwrite is given, and never INPUT."))
    cluster.add_argument("input", metavar="INPUT",
                         help="a .npy file (memory-mapped), a .zarr array, a .parquet file "
                              "or directory, or a .csv file (or glob) with a header row")
    cluster.add_argument("--n-clusters", type=_positive_int, required=True, metavar="K",
                         help="number of clusters")
    cluster.add_argument("--out", default="chunkml-cluster", metavar="DIR",
                         help="where to write centers.npy, the labels and summary.json "
                              "(default: ./chunkml-cluster/)")
    cluster.add_argument("--overwrite", action="store_true",
                         help="replace outputs already in --out (an earlier run's); "
                              "without it a run refuses to replace any file. INPUT is "
                              "never replaced")
    cluster.add_argument("--columns", type=_column_list, metavar="A,B,...",
                         help=".parquet/.csv: the feature columns (default: every column "
                              "but the sample-weight column; each must be numeric)")
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
    file, a non-numeric column, k > rows, an output that would replace a file), runtime
    failures outside chunkml (and a missing optional extra) return 1, Ctrl-C and
    SIGTERM return 130 once the cluster is closed and the temporary files removed.
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
    _files.arm_stage_hook()
    try:
        with stop_signals_interrupt():
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
    except BaseException:
        # Closing mid-compute cancels futures, and distributed and asyncio log a
        # traceback or warning for each; the user asked to stop, or the error that
        # stopped the run is reported in one line: neither needs them.
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


_write_atomic = _files.write_atomic


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

_CENTERS = "centers.npy"

def _labels_part_name(i):
    # Zero-padded, so that readers listing the files in name order keep the row order.
    return f"part.{i:06d}.parquet"


def _write_labels(labels, path, fmt):
    """Write the lazy labels block by block: they never sit in memory all at once."""
    if _files.stage_hook_active():
        labels = labels.map_blocks(_files.stage_block, dtype=labels.dtype)
    if fmt == "zarr":
        import dask.array as da

        chunks = labels.chunks[0]
        # zarr stores equal chunks (the last one may be shorter); parquet partitions
        # and 0-row blocks give uneven ones.
        if len(chunks) > 1 and (len(set(chunks[:-1])) > 1 or chunks[-1] > chunks[0]):
            labels = labels.rechunk(max(chunks))
        da.to_zarr(labels, path)
        return
    import dask.dataframe as dd

    frame = dd.from_dask_array(labels, columns=["label"])
    frame.to_parquet(path, write_index=False, name_function=_labels_part_name)


class _DropTaskFailures(logging.Filter):
    """Drops a worker's "Compute Failed" record: the run reports the error itself."""

    def filter(self, record):
        return not str(record.msg).startswith("Compute Failed")


@contextlib.contextmanager
def _quiet_task_failures():
    log = logging.getLogger("distributed.worker")
    drop = _DropTaskFailures()
    log.addFilter(drop)
    try:
        yield
    finally:
        log.removeFilter(drop)


@contextlib.contextmanager
def _run_errors(path):
    """Errors from reading INPUT, fitting or writing, as one line with its exit status.

    A block of INPUT is read for the first time inside the fit, or while the labels are
    written: what pandas, pyarrow, zarr or numpy raise then is bad input (exit 2) when
    it is a ValueError, TypeError or EOFError, and a runtime error (exit 1) otherwise.
    """
    try:
        yield
    except (_UsageError, _CommandError, KeyboardInterrupt):
        raise
    except (ValueError, TypeError, EOFError) as exc:
        raise _UsageError(f"{path}: {_readers.describe_error(exc)}") from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise _CommandError(
            f"{path}: {exc.strerror or _readers.describe_error(exc)}{where}") from None
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        raise _CommandError(f"{path}: {_readers.describe_error(exc)}") from None


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
    fmt = _readers.input_format(path)
    if fmt in ("npy", "zarr"):
        for option, value in (("--columns", args.columns),
                              ("--sample-weight-column", args.sample_weight_column)):
            if value is not None:
                raise _UsageError(f"{option} applies to .parquet and .csv input only")
    elif args.chunks is not None:
        raise _UsageError(
            "--chunks applies to .npy and .zarr input only (.parquet and .csv are read "
            "one partition per chunk)")
    labels_fmt = _readers.labels_format()
    labels_name = (_readers.LABELS_ZARR if labels_fmt == "zarr"
                   else _readers.LABELS_PARQUET)
    # In publishing order: summary.json last, so that its presence means complete.
    outputs = _files.Outputs(
        args.out, [labels_name, _CENTERS, _files.SUMMARY], overwrite=args.overwrite,
        inputs=_readers.input_paths(path),
        earlier=[_readers.LABELS_ZARR, _readers.LABELS_PARQUET])
    outputs.check()
    init = _readers.read_init(args.init, args.n_clusters)

    import numpy as np

    from .. import KMeans

    sample_weight, columns = None, None
    if fmt in ("npy", "zarr"):
        X, how = _readers.open_array(path, fmt, args.chunks)
        if X.shape[0] < args.n_clusters:
            raise _UsageError(
                f"--n-clusters ({args.n_clusters:,}) must not exceed the rows of "
                f"{path!r} ({X.shape[0]:,})")
        described = (f"{X.shape[0]:,} x {X.shape[1]} {X.dtype} rows in "
                     f"{X.numblocks[0]:,} chunk{'s' if X.numblocks[0] != 1 else ''} "
                     f"({how})")
    else:
        X, sample_weight, columns = _readers.open_frame(path, fmt, args.columns,
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
    km = KMeans(n_clusters=args.n_clusters, init=init, max_iter=args.max_iter, tol=args.tol,
                random_state=args.random_state, init_max_iter=args.init_max_iter,
                oversampling_factor=args.oversampling_factor)

    progress = (contextlib.nullcontext() if args.no_progress
                else _log_iterations(sys.stdout))
    # Everything is written into outputs' fresh folder; --out changes only in publish().
    with _run_errors(path), outputs:
        # Outermost: the other blocks' failures come in while the cluster closes.
        with _quiet_task_failures(), _dask_client(args.scheduler, say), progress, \
                _warnings_as_lines(sys.stderr):
            summary = _fit_and_write(args, km, X, sample_weight, columns, fmt,
                                     outputs, labels_name, described, say, t_start)
        outputs.publish()
    for name in outputs.names:
        say(f"wrote {os.path.join(args.out, name)}")
    say()
    _say(_format_cluster_table(summary))
    return 0


def _fit_and_write(args, km, X, sample_weight, columns, fmt, outputs, labels_name,
                   described, say, t_start):
    """Fit ``km`` and write its labels, centers and summary into ``outputs``' folder."""
    import numpy as np

    say(f"reading {args.input}: {described}")
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
    km.fit(X, sample_weight=sample_weight)
    seconds["fit"] = time.perf_counter() - t_fit
    say(f"  {km.n_iter_} Lloyd iteration{'s' if km.n_iter_ != 1 else ''} "
        f"in {seconds['fit']:.2f} s")

    labels = km.labels_
    say(f"writing {labels.shape[0]:,} labels ...")
    t_labels = time.perf_counter()
    _write_labels(labels, outputs.path(labels_name), "zarr" if labels_name ==
                  _readers.LABELS_ZARR else "parquet")
    seconds["labels"] = time.perf_counter() - t_labels
    _files.stage("labels")

    centers = np.asarray(km.cluster_centers_)
    _write_atomic(outputs.path(_CENTERS), lambda f: np.save(f, centers))
    _files.stage("centers")

    n_samples, n_features = int(labels.shape[0]), int(centers.shape[1])
    seconds["total"] = time.perf_counter() - t_start
    summary = {
        "chunkml_version": __version__,
        "input": os.path.abspath(args.input),
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
        "outputs": {"centers": _CENTERS, "labels": labels_name},
    }
    _write_summary(outputs.path(_files.SUMMARY), summary)
    _files.stage("summary")
    return summary


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
                      f"not installed ({_readers.extra_hint('bench')})"))
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
