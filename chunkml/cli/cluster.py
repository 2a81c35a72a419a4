"""``chunkml cluster``: fit chunkml.KMeans to data on disk, read lazily block by block.

Writes ``centers.npy``, the labels in the input's row order and family
(``labels.parquet``, with each row's number, for .parquet/.csv input; ``labels.zarr``,
or ``labels.parquet`` without zarr, for .npy/.zarr), the model for ``chunkml predict`` (``model.json``,
see ``_model.py``) and ``summary.json`` into ``--out``, published atomically by
:class:`._files.Outputs`.
"""

import os
import time

from .. import __version__
from . import _args, _files, _input, _model, _readers, _report, _session, _urls
from ._errors import UsageError

CENTERS = "centers.npy"


def add_parser(commands):
    parser = commands.add_parser(
        "cluster", help="cluster data on disk (.npy, .zarr, .parquet, .csv)",
        parents=[_args.output_options("chunkml-cluster", "centers.npy, the labels, "
                                      "model.json and summary.json"),
                 _args.seed_options("the initialisation"),
                 _args.scheduler_options(" and INPUT and --out at the same paths"),
                 _args.chunks_options(), _args.report_options("--no-progress")],
        description=(
            "Fit chunkml.KMeans to data on disk, read lazily block by block, and write "
            "centers.npy, the labels in the input's row order (labels.parquet, with "
            "columns row and label, for .parquet/.csv input; labels.zarr for .npy/.zarr, "
            "or labels.parquet when zarr is not installed), model.json (for chunkml "
            "predict) and summary.json into --out. "
            "They are written into a fresh folder beside --out and moved into it only "
            "when complete: an interrupted or failed run leaves --out as it was. A run "
            "replaces no existing file unless --overwrite is given, and never INPUT."))
    parser.add_argument("input", metavar="INPUT",
                        help="a .npy file (memory-mapped), a .zarr array, a .parquet file "
                             "or directory, or a .csv file (or glob) with a header row; "
                             "a path or an fsspec URL (memory://, s3://, ...)")
    parser.add_argument("--n-clusters", type=_args.positive_int, required=True,
                        metavar="K", help="number of clusters")
    columns = parser.add_mutually_exclusive_group()
    columns.add_argument("--columns", type=_args.column_list, metavar="A,B,...",
                         help=".parquet/.csv: the feature columns (default: every column "
                              "but the sample-weight column; each must be numeric)")
    columns.add_argument("--exclude-columns", type=_args.column_list, metavar="A,B,...",
                         help=".parquet/.csv: columns that are not features (a target, "
                              "an id); every other column but the sample-weight column "
                              "is one")
    parser.add_argument("--sample-weight-column", metavar="NAME",
                        help=".parquet/.csv: the column holding each row's weight; it is "
                             "not a feature")
    parser.add_argument("--init", type=_args.init, default="k-means||", metavar="INIT",
                        help="k-means||, k-means++, random, or a .npy file of shape "
                             "(K, n_features) with the initial centers (default: "
                             "k-means||)")
    parser.add_argument("--max-iter", type=_args.positive_int, default=300, metavar="N",
                        help="maximum number of Lloyd iterations (default: 300)")
    parser.add_argument("--tol", type=_args.non_negative_float, default=1e-4,
                        metavar="TOL", help="relative tolerance, as scikit-learn "
                                            "(default: 1e-4)")
    parser.add_argument("--init-max-iter", type=_args.positive_int, default=None,
                        metavar="R", help="k-means|| rounds (default: chunkml.KMeans's, 2)")
    parser.add_argument("--oversampling-factor", type=_args.positive_float, default=2.0,
                        metavar="L", help="k-means|| candidates per round, as a multiple "
                                          "of K (default: 2)")
    parser.add_argument("--persist", action="store_true",
                        help="keep X in cluster memory after the first read instead of "
                             "reading the file on every pass, even when it may not fit "
                             "(by default X is kept when it fits)")
    parser.set_defaults(run=run, parser=parser)
    return parser


def run(args):
    t_start = time.perf_counter()
    say, iterations, fmt = _input.start(args, **{
        "--columns": args.columns, "--exclude-columns": args.exclude_columns,
        "--sample-weight-column": args.sample_weight_column})
    path = args.input
    # Labels in INPUT's family: .parquet/.csv in, parquet out (with each row's number);
    # .npy/.zarr in, zarr out (parquet without zarr).
    labels_name = (_readers.LABELS_ZARR if fmt in _input.ARRAY_FORMATS
                   and _readers.labels_format() == "zarr" else _readers.LABELS_PARQUET)
    # In publishing order: summary.json last, so that its presence means complete.
    outputs = _files.Outputs(
        args.out, [labels_name, CENTERS, _model.NAME, _files.SUMMARY],
        overwrite=args.overwrite,
        inputs=_readers.input_paths(path),
        earlier=[_readers.LABELS_ZARR, _readers.LABELS_PARQUET])
    outputs.check()
    args.scheduler = _session.scheduler_address(args.scheduler)
    init = _readers.read_init(_urls.local(args.init), args.n_clusters)

    from .. import KMeans

    X, sample_weight, columns, described = _input.open_input(
        path, fmt, args.chunks, args.columns, args.sample_weight_column,
        exclude=args.exclude_columns, blocksize=args.blocksize, scheduler=args.scheduler)
    if fmt in _input.ARRAY_FORMATS and X.shape[0] < args.n_clusters:
        raise UsageError(
            f"--n-clusters ({args.n_clusters:,}) must not exceed the rows of "
            f"{path!r} ({X.shape[0]:,})")
    if not isinstance(init, str) and init.shape[1] != X.shape[1]:
        raise UsageError(
            f"--init: {args.init!r} has {init.shape[1]} features, the input has "
            f"{X.shape[1]}")
    km = KMeans(n_clusters=args.n_clusters, init=init, max_iter=args.max_iter, tol=args.tol,
                random_state=args.random_state, init_max_iter=args.init_max_iter,
                oversampling_factor=args.oversampling_factor)

    # Everything is written into outputs' fresh folder; --out changes only in publish().
    with _input.read_errors(path), outputs:
        # Outermost: the other blocks' failures come in while the cluster closes.
        with _session.quiet_task_failures(), _session.dask_client(args.scheduler, say), \
                iterations, _session.warnings_as_lines():
            summary = _fit_and_write(args, km, X, sample_weight, columns, fmt,
                                     outputs, labels_name, described, say, t_start)
        outputs.publish()
    for name in outputs.names:
        say(f"wrote {os.path.join(args.out, name)}")
    say()
    table = _report.fit_table(summary, ("read", "fit", "labels", "total"),
                              first=[("format", summary["format"])])
    _report.emit(args, summary, table)
    return 0


def _fit_and_write(args, km, X, sample_weight, columns, fmt, outputs, labels_name,
                   described, say, t_start):
    """Fit ``km`` and write its labels, centers and summary into ``outputs``' folder."""
    import numpy as np

    say(f"reading {args.input}: {described}")
    seconds = {}
    # .parquet/.csv: persisted now when it fits, as the fit does for a known-size X.
    X, sample_weight, read = _input.fit_input(args.input, fmt, X, sample_weight, say,
                                              persist=args.persist)
    if read is not None:
        seconds["read"] = read

    try:
        seconds["fit"] = _session.fit(km, X, say, sample_weight=sample_weight)
    except ValueError as exc:
        # chunkml's words for NaN or infinity in X, or in the weights.
        if "NaN" not in str(exc) and "finite" not in str(exc):
            raise
        where = _input.non_finite(X, sample_weight, columns, args.sample_weight_column)
        if where is None:
            raise
        raise UsageError(f"{args.input}: {where}; drop or fill those rows first") from None

    labels = km.labels_
    say(f"writing {labels.shape[0]:,} labels ...")
    t_labels = time.perf_counter()
    _files.write_rows(labels, outputs.path(labels_name),
                      "zarr" if labels_name == _readers.LABELS_ZARR else "parquet",
                      ["label"])
    seconds["labels"] = time.perf_counter() - t_labels
    _files.stage("labels")

    centers = np.asarray(km.cluster_centers_)
    _files.write_atomic(outputs.path(CENTERS), lambda f: np.save(f, centers))
    _files.stage("centers")
    params = {"init": args.init, "max_iter": args.max_iter, "tol": args.tol,
              "random_state": args.random_state, "init_max_iter": args.init_max_iter,
              "oversampling_factor": args.oversampling_factor}
    _model.write(outputs.path(_model.NAME), km, columns, params)
    _files.stage("model")

    seconds["total"] = time.perf_counter() - t_start
    summary = {
        "chunkml_version": __version__,
        "input": _readers.shown(args.input),
        "format": fmt,
        "columns": columns,
        "sample_weight_column": args.sample_weight_column,
        "n_samples": int(labels.shape[0]),
        "n_features": int(centers.shape[1]),
        "n_chunks": int(X.numblocks[0]),
        "dtype": str(centers.dtype),
        "n_clusters": args.n_clusters,
        **params,
        "scheduler": _session.scheduler_name(args.scheduler),
        "n_iter": int(km.n_iter_),
        "inertia": float(km.inertia_),
        "seconds": seconds,
        "centers": np.asarray(centers, dtype=np.float64).tolist(),
        "outputs": {"centers": CENTERS, "labels": labels_name, "model": _model.NAME},
    }
    _report.write_summary(outputs.path(_files.SUMMARY), summary)
    _files.stage("summary")
    return summary
