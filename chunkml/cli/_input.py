"""INPUT of a command (cluster, predict): the command's start (local paths, progress
lines, INPUT's format and its options checked), INPUT opened lazily, described, and the
errors met while its blocks are read worded as one line with an exit status."""

import contextlib

from . import _readers, _report, _session, _urls
from ._errors import CommandError, UsageError

ARRAY_FORMATS = ("npy", "zarr")
# A .csv block: at least this (smaller ones cost more in tasks than they give in
# threads), at most dask's own default.
_MIN_BLOCKSIZE, _MAX_BLOCKSIZE = 2**20, 64 * 2**20


def default_blocksize(n_bytes, n_threads):
    """Bytes per .csv block that give every thread a block, within the bounds above."""
    return min(max(-(-n_bytes // max(n_threads, 1)), _MIN_BLOCKSIZE), _MAX_BLOCKSIZE)


def start(args, **frame_options):
    """What a command that reads INPUT does first: INPUT and --out made local paths on
    ``args`` (file:// URLs are local paths, with every guarantee of one), its progress
    lines and fit bar (`_session.progress`), then INPUT's format, with the options that
    do not apply to it refused (`check_options`). Returns (say, fit_bar, format)."""
    args.input, args.out = _urls.local(args.input), _urls.local(args.out)
    say, fit_bar = _session.progress(args)
    fmt = _readers.input_format(args.input)
    check_options(fmt, args.chunks, args.blocksize, **frame_options)
    return say, fit_bar, fmt


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

        n_bytes = _readers.input_bytes(path)
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
        f"{_report.plural(X.numblocks[0], 'partition')}{weights}; rows are counted "
        "when first read")


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


def _with_row_chunks(a, sizes):
    """``a`` (1-D or 2-D, one column chunk) with its row chunk sizes set to ``sizes``."""
    import dask.array as da

    return da.Array(a.dask, a.name, (tuple(sizes), *a.chunks[1:]), dtype=a.dtype)


def _row_counts(X):
    """The rows of each block of X: one pass over INPUT (it parses the file)."""
    import numpy as np

    counts = X.map_blocks(lambda block: np.array([block.shape[0]]),
                          chunks=((1,) * X.numblocks[0],), drop_axis=1, dtype=np.int64)
    return [int(n) for n in counts.compute()]


def _bytes_bound(path, fmt, X, sample_weight):
    """At most the bytes X (and the weights) take in memory, known before reading
    INPUT; None when it cannot be told cheaply (a URL)."""
    itemsize = X.dtype.itemsize * X.shape[1] + (
        0 if sample_weight is None else sample_weight.dtype.itemsize)
    paths = _readers.input_paths(path)
    if fmt == "parquet":
        if not paths:
            return None
        import pyarrow.dataset as ds

        # The row counts of the files' footers: no data is read.
        try:
            rows = sum(ds.dataset(name, format="parquet").count_rows() for name in paths)
        except Exception:  # noqa: BLE001 - then the rows are counted in a pass
            return None
        return rows * itemsize
    # A .csv row holds at least one byte (a digit or a separator) per value, so at most
    # as many values as bytes: a bound, for floats often some times the real size.
    n_bytes = _readers.input_bytes(path)
    if not n_bytes:
        return None
    n_values = X.shape[1] + (sample_weight is not None)
    return n_bytes // n_values * itemsize


def fit_input(path, fmt, X, sample_weight, say, persist=False):
    """(X, sample_weight, seconds to persist or None) for the fit of .parquet/.csv
    INPUT, whose row chunk sizes are unknown: as chunkml.KMeans persists a known-size X
    that fits in memory (dask config ``chunkml.persist``, default "auto"), so here:
    persisted at once (always with ``persist``, --persist) when a bound of its size,
    known without reading it, fits; else its rows are counted in one pass, and the fit
    decides on its real size. Either way the fit gets X with its rows known."""
    import time

    import dask

    from ..dask_glue import persist as _persist

    mode = dask.config.get(_persist.CONFIG_KEY, "auto")
    if not persist and (fmt in ARRAY_FORMATS or mode != "auto"
                        or not any(map(_unknown, X.chunks[0]))):
        return X, sample_weight, None
    if not persist:
        bound = _bytes_bound(path, fmt, X, sample_weight)
        room = _persist.MEMORY_SHARE * _persist.available_memory()
    if persist or bound is not None and bound <= room:
        from . import _session

        t_read = time.perf_counter()
        X, sample_weight = _session.persist(X, sample_weight)
        # From the blocks in memory: no second read of INPUT.
        sizes = _row_counts(X) if any(map(_unknown, X.chunks[0])) else X.chunks[0]
        X = _with_row_chunks(X, sizes)
        if sample_weight is not None:
            sample_weight = _with_row_chunks(sample_weight, sizes)
        seconds = time.perf_counter() - t_read
        say(f"  {sum(sizes):,} rows ({X.nbytes / 2**20:,.1f} MiB) in cluster memory "
            f"after {seconds:.2f} s")
        return X, sample_weight, seconds
    say("  counting the rows (one pass) to tell whether X fits in memory ...")
    sizes = _row_counts(X)
    X = _with_row_chunks(X, sizes)
    if sample_weight is not None:
        sample_weight = _with_row_chunks(sample_weight, sizes)
    say(f"  {sum(sizes):,} rows ({X.nbytes / 2**20:,.1f} MiB)")
    return X, sample_weight, None


def _unknown(size):
    import math

    return math.isnan(size)
