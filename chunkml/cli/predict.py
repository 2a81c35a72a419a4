"""``chunkml predict MODEL INPUT``: label new data with a model ``chunkml cluster`` wrote.

Reads ``model.json`` (``_model.py``: JSON, nothing executed), streams INPUT block by
block through :meth:`chunkml.KMeans.predict` (and ``transform`` with ``--distances``)
and writes the labels (``labels.zarr``, or ``labels.parquet``; always parquet for
.parquet/.csv input, whose row count is learnt while writing; a parquet output's first
column, ``row``, is each row's number in INPUT), the distances when asked
and ``summary.json`` into ``--out``, published atomically by :class:`._files.Outputs`.
"""

import os
import time

from .. import __version__
from . import _args, _files, _input, _model, _readers, _report, _session, _urls
from ._errors import UsageError

DISTANCES_ZARR = "distances.zarr"
DISTANCES_PARQUET = "distances.parquet"


def add_parser(commands):
    parser = commands.add_parser(
        "predict", help="label new data with a model written by chunkml cluster",
        parents=[_args.output_options("chunkml-predict",
                                      "the labels (and distances) and summary.json"),
                 _args.scheduler_options(" and INPUT and --out at the same paths"),
                 _args.chunks_options(), _args.report_options()],
        description=(
            "Label each row of INPUT with its nearest center of MODEL (the model.json "
            "that chunkml cluster writes), reading INPUT block by block, and write the "
            "labels in INPUT's row order, the distances to every center with "
            "--distances, and summary.json into --out, published as chunkml cluster's "
            "outputs are."))
    parser.add_argument("model", metavar="MODEL", help="a model.json of chunkml cluster")
    parser.add_argument("input", metavar="INPUT",
                        help="a .npy file, a .zarr array, a .parquet file or directory, "
                             "or a .csv file (or glob): with the model's columns for "
                             ".parquet/.csv, else its number of features; a path or "
                             "an fsspec URL")
    parser.add_argument("--distances", action="store_true",
                        help="also write the euclidean distance of each row to every "
                             "center (distances.zarr or distances.parquet)")
    parser.set_defaults(run=run, parser=parser)
    return parser


def _outputs_names(fmt, distances):
    # .parquet/.csv in: parquet out (the rows need not be counted before writing); the
    # pyarrow that needs is checked with the reading of INPUT.
    zarr = fmt in _input.ARRAY_FORMATS and _readers.labels_format() == "zarr"
    names = [_readers.LABELS_ZARR if zarr else _readers.LABELS_PARQUET]
    if distances:
        names.append(DISTANCES_ZARR if zarr else DISTANCES_PARQUET)
    return names + [_files.SUMMARY], "zarr" if zarr else "parquet"


def run(args):
    t_start = time.perf_counter()
    say, _, fmt = _input.start(args)
    path = args.input
    args.model = _urls.local(args.model)
    centers, feature_names = _model.read(args.model)
    names, out_fmt = _outputs_names(fmt, args.distances)
    outputs = _files.Outputs(
        args.out, names, overwrite=args.overwrite,
        inputs=[*_readers.input_paths(path), *_readers.input_paths(args.model)],
        earlier=[_readers.LABELS_ZARR, _readers.LABELS_PARQUET, DISTANCES_ZARR,
                 DISTANCES_PARQUET])
    outputs.check()
    args.scheduler = _session.scheduler_address(args.scheduler)
    X, _, columns, described = _input.open_input(
        path, fmt, args.chunks, columns=feature_names,
        columns_from=f"MODEL {args.model!r}", blocksize=args.blocksize,
        scheduler=args.scheduler)
    if X.shape[1] != centers.shape[1]:
        raise UsageError(f"{path!r} has {X.shape[1]} features; the model "
                         f"{args.model!r} has {centers.shape[1]}")
    with _input.read_errors(path), outputs:
        with _session.quiet_task_failures(), _session.dask_client(args.scheduler, say), \
                _session.warnings_as_lines():
            summary = _predict_and_write(args, centers, X, columns, fmt, out_fmt,
                                         outputs, described, say, t_start)
        outputs.publish()
    for name in outputs.names:
        say(f"wrote {os.path.join(args.out, name)}")
    say()
    rows = [("format", fmt)] + [(label, f"{summary[key]:,}") for label, key in (
        ("rows", "n_samples"), ("features", "n_features"), ("chunks", "n_chunks"),
        ("clusters", "n_clusters"))]
    rows += [(f"{step} [s]", f"{value:.2f}") for step, value in summary["seconds"].items()]
    _report.emit(args, summary, _report.table(rows))
    return 0


def _parquet_rows(path):
    """Rows of a parquet folder, from its files' footers: INPUT's rows (.parquet/.csv
    have unknown chunk sizes) are counted while the labels are written, not again."""
    import glob

    import pyarrow.parquet as pq

    return sum(pq.read_metadata(name).num_rows
               for name in glob.glob(os.path.join(path, "*.parquet")))


def _predict_and_write(args, centers, X, columns, fmt, out_fmt, outputs, described, say,
                       t_start):
    """Label X (and measure its distances) into ``outputs``' folder; the summary."""
    import dask

    km = _model.fitted(centers)
    say(f"reading {args.input}: {described}")
    say(f"labelling with the {centers.shape[0]} centers of {args.model} ...")
    t_write = time.perf_counter()
    labels = km.predict(X)
    writes = [_files.write_rows(labels, outputs.path(outputs.names[0]), out_fmt,
                                ["label"], compute=False)]
    if args.distances:
        distances = km.transform(X)
        writes.append(_files.write_rows(
            distances, outputs.path(outputs.names[1]), out_fmt,
            [f"distance_{j}" for j in range(centers.shape[0])], compute=False))
    # One pass over INPUT: the writes share its blocks.
    dask.compute(*writes)
    n_samples = X.shape[0] if out_fmt == "zarr" else _parquet_rows(
        outputs.path(outputs.names[0]))
    seconds = {"write": time.perf_counter() - t_write}
    _files.stage("labels")
    say(f"  {int(n_samples):,} rows in {seconds['write']:.2f} s")
    seconds["total"] = time.perf_counter() - t_start
    summary = {
        "chunkml_version": __version__,
        "command": "predict",
        "model": _readers.shown(args.model),
        "input": _readers.shown(args.input),
        "format": fmt,
        "columns": columns,
        "n_samples": int(n_samples),
        "n_features": int(centers.shape[1]),
        "n_chunks": int(X.numblocks[0]),
        "n_clusters": int(centers.shape[0]),
        "scheduler": _session.scheduler_name(args.scheduler),
        "seconds": seconds,
        "outputs": dict(zip(["labels", "distances"][:len(outputs.names) - 1],
                            outputs.names[:-1], strict=True)),
    }
    _report.write_summary(outputs.path(_files.SUMMARY), summary)
    _files.stage("summary")
    return summary
