"""Argument types and the options several commands share (argparse ``parents=``).

Each ``*_options`` function returns a fresh parent parser: argparse copies a parent's
actions by reference, so a parent shared between commands would share their defaults.
"""

import argparse
import math

from ._errors import EXIT_USAGE
from ._readers import INIT_NAMES


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, ``chunkml: error: ...``."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"chunkml: error: {message} (see '{self.prog} --help')\n")


def integer(text):
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


def number(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _checked(convert, ok, requirement):
    """An argument type: ``convert(text)``, refused unless ``ok`` of it."""
    def parse(text):
        value = convert(text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {text!r}")
        return value

    return parse


positive_int = _checked(integer, lambda value: value >= 1, "must be a positive integer")
seed = _checked(integer, lambda value: 0 <= value < 2**32,
                "must be an integer in [0, 2**32)")
non_negative_float = _checked(number, lambda value: value >= 0, "must be >= 0")
positive_float = _checked(number, lambda value: value > 0, "must be > 0")


def column_list(text):
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column names, got {text!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise argparse.ArgumentTypeError(f"column {duplicates[0]!r} named twice")
    return names


def init(text):
    if text in INIT_NAMES or text.lower().endswith(".npy"):
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(INIT_NAMES)} or a .npy file of initial centers, "
        f"got {text!r}")


def _parent():
    return argparse.ArgumentParser(add_help=False)


def data_options(n_samples=10_000_000, chunks=1_000_000):
    """--n-samples and --chunks of the generated blobs (demo, bench)."""
    parser = _parent()
    parser.add_argument("--n-samples", type=positive_int, default=n_samples, metavar="N",
                        help=f"rows to generate (default: {n_samples:,})")
    parser.add_argument("--chunks", type=positive_int, default=chunks, metavar="C",
                        help=f"rows per dask chunk (default: {chunks:,})")
    return parser


def seed_options(what):
    parser = _parent()
    parser.add_argument("--random-state", type=seed, default=0, metavar="SEED",
                        help=f"seed of {what} (default: 0)")
    return parser


def scheduler_options(workers_need,
                      otherwise="an in-process cluster, one worker with a thread per core"):
    """--scheduler; ``workers_need`` says what its workers need besides chunkml,
    ``otherwise`` what runs without a scheduler."""
    parser = _parent()
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="dask scheduler to use, e.g. tcp://10.0.0.1:8786; its workers "
                             f"need chunkml installed{workers_need} (default: dask's "
                             "scheduler-address config, e.g. DASK_SCHEDULER_ADDRESS, "
                             f"else {otherwise})")
    return parser


def size(text):
    """Bytes: 1000000, 64MB, 1.5GiB (dask's parse_bytes)."""
    from dask.utils import parse_bytes

    try:
        value = parse_bytes(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"expected a size such as 64MB or 1000000, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive size, got {text!r}")
    return value


def chunks_options():
    """--chunks and --blocksize of a command that reads INPUT (cluster, predict)."""
    parser = _parent()
    parser.add_argument("--chunks", type=positive_int, metavar="C",
                        help=".npy/.zarr: rows per dask chunk (default: about 128 MiB "
                             "per chunk for .npy, the stored chunks for .zarr); "
                             ".parquet/.csv are read one partition per chunk")
    parser.add_argument("--blocksize", type=size, metavar="SIZE",
                        help=".csv: bytes per partition, e.g. 16MB (default on the "
                             "in-process cluster: a partition per thread, 1 to 64 MiB "
                             "each; on --scheduler, dask's default)")
    return parser


def report_options(*quiet_aliases):
    """--json and --quiet: what goes to stdout."""
    parser = _parent()
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object on stdout instead of "
                             "the table; progress goes to stderr")
    parser.add_argument("--quiet", *quiet_aliases, action="store_true",
                        help="print only the final table or JSON (and errors)")
    return parser


def output_options(default, names):
    """--out and --overwrite of a command that publishes ``names`` into a folder."""
    parser = _parent()
    parser.add_argument("--out", default=default, metavar="DIR",
                        help=f"where to write {names} (default: ./{default}/)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs already in --out (an earlier run's); "
                             "without it a run refuses to replace any file")
    return parser
