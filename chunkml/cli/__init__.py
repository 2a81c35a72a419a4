"""The ``chunkml`` command line (also ``python -m chunkml``).

::

    chunkml demo      the reference workflow end to end (chunkml/cli/demo.py)
    chunkml cluster   fit data on disk, write centers, labels, model, summary (cluster.py)
    chunkml predict   label new data with a model that cluster wrote (predict.py)
    chunkml bench     the reference workload for chunkml and its peers (bench.py)
    chunkml warm-up   compile the kernels here and on a cluster's workers (warm_up.py)

Shared pieces: ``_args`` (argument types, the options several commands share),
``_session`` (the dask client, progress, logging), ``_readers`` (the input formats),
``_files`` (atomic publishing into --out), ``_report`` (tables, summary.json),
``_input`` (INPUT's options, opening, read errors), ``_model`` (model.json),
``_plot`` (clusters.png), ``_errors`` (exit statuses, signals).

Parsing imports nothing heavy: dask, numba, scikit-learn, distributed and matplotlib
load inside the command that needs them, so ``chunkml --help`` is quick. matplotlib is
an optional extra (``pip install chunkml[plot]``), as are zarr (``chunkml[zarr]``), and
pyarrow with dask.dataframe (``chunkml[parquet]``, ``chunkml[csv]``) for those formats.
"""

import argparse
import os
import sys

from .. import __version__
from . import _args, _files, _session, bench, cluster, demo, predict, warm_up
from ._errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CommandError
from ._errors import UsageError
from ._errors import one_line, stop_signals_interrupt

__all__ = ["build_parser", "main"]

EPILOG = f"""\
exit status:
  {EXIT_OK}    done
  {EXIT_ERROR}    a runtime error: out of memory, a file that cannot be written, a
       scheduler that cannot be reached, a missing extra
  {EXIT_USAGE}    a usage error or bad input: a missing or unreadable file, a column
       that is not numeric, NaN or infinity, an output that would replace a file
       (without --overwrite)
  {EXIT_INTERRUPTED}  interrupted by SIGINT or SIGTERM, once the cluster is closed and the
       temporary files removed
Errors are one line, 'chunkml: error: ...', on stderr.

Run 'chunkml COMMAND --help' for a command's options."""


def build_parser():
    """The ``chunkml`` argument parser, with one subparser per command."""
    parser = _args.ArgumentParser(
        prog="chunkml", description="chunkml: fast k-means on dask arrays.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"chunkml {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (demo, cluster, predict, bench, warm_up):
        command.add_parser(commands)
    return parser


def main(argv=None):
    """Entry point of the ``chunkml`` script; returns the exit status.

    Usage errors exit with status 2 (from argparse, or bad input found later: a missing
    file, a non-numeric column, k > rows, an output that would replace a file), runtime
    failures outside chunkml (and a missing optional extra) return 1, Ctrl-C and
    SIGTERM return 130 once the cluster is closed and the temporary files removed.
    """
    args = build_parser().parse_args(argv)
    if getattr(args, "check", None) is not None:
        args.check(args)
    _files.arm_stage_hook()
    try:
        with stop_signals_interrupt(), _session.log_records_as_lines(args):
            return args.run(args)
    except UsageError as exc:
        print(f"chunkml: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"chunkml: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout was closed early (`| head`): no traceback, and none at exit either
        # when Python flushes it (the recipe of Python's signal module docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
