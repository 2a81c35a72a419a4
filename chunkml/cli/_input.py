"""INPUT of a command (cluster, predict): its options checked, opened lazily, described,
and the errors met while its blocks are read worded as one line with an exit status."""

import contextlib
import os

from . import _readers, _report
from ._errors import CommandError, UsageError

ARRAY_FORMATS = ("npy", "zarr")
# A .csv block: at least this (smaller ones cost more in tasks than they give in
# threads), at most dask's own default.
_MIN_BLOCKSIZE, _MAX_BLOCKSIZE = 2**20, 64 * 2**20


def default_blocksize(n_bytes, n_threads):
    """Bytes per .csv block that give every thread a block, within the bounds above."""
    return min(max(-(-n_bytes // max(n_threads, 1)), _MIN_BLOCKSIZE), _MAX_BLOCKSIZE)


def check_options(fmt, chunks, blocksize, **frame_options):
    """Refuse options that do not apply to INPUT's format; ``frame_options`` maps an
    option's name to its value (None: not given)."""
    if fmt in ARRAY_FORMATS:
        for option, value in frame_options.items():
            if value is not None:
                raise UsageError(f"{option} applies to .parquet and .csv input only")
    elif chunks is not None:
        raise UsageError(
            "--chunks applies to .npy and .zarr input only (.parquet and .csv are read "
            "one partition per chunk; --blocksize sets a .csv's)")
    if blocksize is not None and fmt != "csv":
        raise UsageError("--blocksize applies to .csv input only")


def open_input(path, fmt, chunks, columns=None, weight_column=None, exclude=None,
               columns_from="--columns", blocksize=None, scheduler=None):
    """(X, sample_weight or None, feature names or None, a description of X), lazily;
    ``columns_from`` is what names ``columns`` in errors. A .csv is read in blocks of
    ``blocksize`` bytes, by default (on the in-process cluster, whose threads are this
    machine's cores) enough for every thread."""
    if fmt == "csv" and blocksize is None and scheduler is None:
        import dask.system

        n_bytes = sum(os.path.getsize(name) for name in _readers.input_paths(path)
                      if os.path.isfile(name))
        blocksize = default_blocksize(n_bytes, dask.system.CPU_COUNT)
    if fmt in ARRAY_FORMATS:
        X, how = _readers.open_array(path, fmt, chunks)
        return X, None, None, (f"{X.shape[0]:,} x {X.shape[1]} {X.dtype} rows in "
                               f"{_report.plural(X.numblocks[0], 'chunk')} ({how})")
    X, sample_weight, columns = _readers.open_frame(path, fmt, columns, weight_column,
                                                     exclude=exclude,
                                                     columns_from=columns_from,
                                                     blocksize=blocksize)
    weights = "" if sample_weight is None else f", weights from {weight_column}"
    return X, sample_weight, columns, (
        f"column{'s' if len(columns) != 1 else ''} {', '.join(columns)} in "
        f"{_report.plural(X.numblocks[0], 'partition')}{weights}; rows are counted in "
        "the first pass")


@contextlib.contextmanager
def read_errors(path):
    """Errors from reading INPUT, fitting or writing, as one line with its exit status.

    A block of INPUT is read for the first time inside the fit, or while the labels are
    written: what pandas, pyarrow, zarr or numpy raise then is bad input (exit 2) when
    it is a ValueError, TypeError or EOFError, and a runtime error (exit 1) otherwise.
    """
    try:
        yield
    except (UsageError, CommandError, KeyboardInterrupt):
        raise
    except (ValueError, TypeError, EOFError) as exc:
        raise UsageError(f"{path}: {_readers.describe_error(exc)}") from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise CommandError(
            f"{path}: {exc.strerror or _readers.describe_error(exc)}{where}") from None
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        raise CommandError(f"{path}: {_readers.describe_error(exc)}") from None


def non_finite(X, sample_weight, columns, weight_column):
    """Which columns of X (and the weights) hold NaN or infinity, and how many: one more
    pass, made only when the fit has found some. None when none does."""
    import dask
    import dask.array as da

    arrays = [X] if sample_weight is None else [X, sample_weight[:, None]]
    names = [repr(name) for name in columns] if columns else [
        str(j) for j in range(X.shape[1])]
    if sample_weight is not None:
        names.append(f"{weight_column!r} (the sample weights)")
    counted = dask.compute(*[(da.isnan(a).sum(axis=0), da.isinf(a).sum(axis=0))
                             for a in arrays])
    nan = [int(n) for pair in counted for n in pair[0]]
    inf = [int(n) for pair in counted for n in pair[1]]
    found = [f"column {name} holds " + ", ".join(
                 f"{count:,} {what}" for count, what in ((n, "NaN"), (i, "inf")) if count)
             for name, n, i in zip(names, nan, inf, strict=True) if n or i]
    return "; ".join(found) if found else None
