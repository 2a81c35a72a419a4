"""The input readers of ``chunkml cluster``: .npy, .zarr, .parquet and .csv, lazily.

Every problem with the input is a :class:`UsageError` naming the file (and the column),
found before the fit where it can be; :func:`describe_error` words the ones that only
show when a later block is read.
"""

import glob
import os
import re

from ._errors import CommandError as _CommandError
from ._errors import UsageError as _UsageError
from ._errors import one_line as _one_line
from ._npy import NpyFile, NpyURL
from ._urls import url_filesystem, url_protocol

INIT_NAMES = ("k-means||", "k-means++", "random")
_FORMATS = {".npy": "npy", ".zarr": "zarr", ".parquet": "parquet", ".csv": "csv"}
# The extra that brings what reading (or writing) each format needs.
_EXTRAS = {"zarr": "zarr", "parquet": "parquet", "csv": "csv"}
LABELS_ZARR = "labels.zarr"
LABELS_PARQUET = "labels.parquet"


def extra_hint(extra):
    return f'pip install "chunkml[{extra}]"'


def _url_exists(path, fmt):
    fs, name = url_filesystem(path)
    try:
        return fs.exists(name) or (fmt in ("csv", "parquet") and bool(fs.glob(name)))
    except Exception as exc:  # noqa: BLE001 - fsspec backends share no error base
        raise _CommandError(f"cannot reach INPUT {path!r}: {_one_line(exc)}") from None


def input_format(path):
    """INPUT's format from its name (a path, or an fsspec URL); a missing file or
    unknown suffix is a _UsageError."""
    url = url_protocol(path) is not None
    name = path.split("?", 1)[0].rstrip("/") if url else os.path.normpath(path)
    fmt = _FORMATS.get(os.path.splitext(name)[1].lower())
    if url:
        if fmt is not None and not _url_exists(path, fmt):
            raise _UsageError(f"INPUT {path!r} does not exist")
    # .csv and .parquet inputs may be globs of several files, as dask reads them.
    elif not os.path.exists(name) and not (fmt in ("csv", "parquet") and glob.glob(name)):
        raise _UsageError(f"INPUT {path!r} does not exist")
    if fmt is None:
        raise _UsageError(
            f"cannot tell the format of {path!r}: expected a name ending in "
            f"{', '.join(_FORMATS)}")
    return fmt


def input_paths(path):
    """The local files and folders INPUT names (a .csv or .parquet glob names several);
    none for a URL."""
    if url_protocol(path) is not None:
        return []
    name = os.path.normpath(path)
    if os.path.lexists(name):
        return [name]
    return sorted(glob.glob(name))


def input_bytes(path):
    """The bytes of INPUT's files (a URL's through fsspec), 0 when unknown."""
    if url_protocol(path) is None:
        return sum(os.path.getsize(name) for name in input_paths(path)
                   if os.path.isfile(name))
    fs, name = url_filesystem(path)
    try:
        return sum(fs.size(found) or 0 for found in fs.glob(name)
                   if fs.isfile(found))
    except Exception:  # noqa: BLE001 - a size is only a hint for the blocksize
        return 0


def shown(path):
    """How summary.json names INPUT or MODEL: absolute, or the URL as given."""
    return path if url_protocol(path) is not None else os.path.abspath(path)


# dask's read_csv reports a block that does not parse as its dtype sample did with a
# table of "| column | found | expected |" rows, and each conversion error below it.
_MISMATCH_ROW = re.compile(r"^\|\s*(?P<column>.+?)\s*\|\s*(?P<found>\S+)\s*\|"
                           r"\s*(?P<expected>\S+)\s*\|\s*$", re.M)
_CONVERSION = re.compile(r"^- (?P<column>.+)\n\s+\w+\((?P<quote>[\"'])(?P<error>.*)"
                         r"(?P=quote)\)\s*$", re.M)


def describe_error(exc):
    """One line for an error raised while reading the input during the fit."""
    text = str(exc)
    if "Mismatched dtypes found" in text:
        rows = [row for row in _MISMATCH_ROW.finditer(text) if row["column"] != "Column"]
        if rows:
            row = rows[0]
            conversion = {match["column"]: match["error"]
                          for match in _CONVERSION.finditer(text)}
            error = conversion.get(row["column"])
            return (f"column {row['column']!r} is not numeric past the rows dask "
                    f"samples for its dtype (read as {row['found']}, expected "
                    f"{row['expected']}){f': {error}' if error else ''}")
    if isinstance(exc, MemoryError):
        return f"out of memory: {_one_line(exc)}"
    if type(exc).__module__ == "builtins" and not isinstance(
            exc, (ValueError, TypeError, OSError)):
        return f"{type(exc).__name__}: {_one_line(exc)}"
    return _one_line(exc)


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


def open_array(path, fmt, chunks):
    """(X, description) for .npy / .zarr input: a lazy dask array, one column chunk."""
    import dask.array as da

    if fmt == "npy":
        try:
            source = NpyFile(path) if url_protocol(path) is None else NpyURL(path)
        # np.load raises EOFError for an empty file.
        except (OSError, ValueError, EOFError) as exc:
            raise _UsageError(f"cannot read {path!r} as .npy: {_one_line(exc)}") from None
        _check_array_input(source, path)
        # "auto" rows per chunk: about dask's array.chunk-size (128 MiB) per block.
        X = da.from_array(source, chunks={0: chunks or "auto", 1: -1})
        return X, "memory-mapped"
    try:
        import zarr  # noqa: F401
    except ImportError:
        raise _CommandError(
            f"reading .zarr needs zarr: {extra_hint(_EXTRAS['zarr'])}") from None
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
            f"{extra_hint(_EXTRAS[fmt])}") from None
    return dd


def open_frame(path, fmt, columns, weight_column, exclude=None, columns_from="--columns",
               blocksize=None):
    """(X, sample_weight or None, feature names) for .parquet / .csv input; a .csv is
    read in blocks of ``blocksize`` bytes (None: dask's default).

    The features are ``columns`` (which ``columns_from`` names in errors), or else every
    column but the weight column and those in ``exclude``.

    The arrays' row chunk sizes stay unknown: chunkml.KMeans learns them in its first
    pass, so the file is not read an extra time just to count rows.
    """
    import numpy as np
    from pandas.api.types import is_numeric_dtype

    dd = _import_dataframe(fmt)
    try:
        frame = (dd.read_parquet(path) if fmt == "parquet"
                 else dd.read_csv(path, blocksize=blocksize or "default"))
    except Exception as exc:  # pandas, pyarrow and fsspec errors share no base class
        raise _UsageError(f"cannot read {path!r} as .{fmt}: {_one_line(exc)}") from None
    by_name = {str(column): column for column in frame.columns}
    dtypes = {str(column): dtype for column, dtype in frame.dtypes.items()}

    def check_present(name, option):
        if name not in by_name:
            raise _UsageError(
                f"{option}: no column {name!r} in {path!r} (columns: "
                f"{', '.join(by_name) or 'none'})")

    def check_column(name, option):
        check_present(name, option)
        if not is_numeric_dtype(dtypes[name]):
            raise _UsageError(
                f"{option}: column {name!r} of {path!r} is not numeric "
                f"(dtype {dtypes[name]})")

    if weight_column is not None:
        check_column(weight_column, "--sample-weight-column")
    for name in exclude or ():
        check_present(name, "--exclude-columns")
    if columns is None:
        # Every column, never only the numeric ones: a column that the dtype sample
        # reads as text (one bad cell) must not vanish from the features unnoticed.
        columns = [name for name in by_name
                   if name != weight_column and name not in (exclude or ())]
        if not columns:
            raise _UsageError(f"{path!r} has no columns to cluster")
        for name in columns:
            if not is_numeric_dtype(dtypes[name]):
                raise _UsageError(
                    f"column {name!r} of {path!r} is not numeric (dtype {dtypes[name]}); "
                    "name the feature columns with --columns, or leave it out with "
                    "--exclude-columns")
    else:
        for name in columns:
            check_column(name, columns_from)
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


def read_init(init, n_clusters):
    """The --init value as chunkml.KMeans takes it: a name, or the centers from a .npy."""
    if init in INIT_NAMES:
        return init
    import numpy as np

    try:
        if url_protocol(init) is None:
            centers = np.load(init, allow_pickle=False)
        else:
            fs, name = url_filesystem(init, "--init")
            with fs.open(name, "rb") as f:
                centers = np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _UsageError(f"--init: cannot read {init!r}: {_one_line(exc)}") from None
    if centers.ndim != 2 or centers.shape[0] != n_clusters:
        raise _UsageError(
            f"--init: {init!r} holds an array of shape {centers.shape}; expected "
            f"(--n-clusters, n_features) = ({n_clusters}, n_features)")
    return centers


def labels_format():
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
            f"{extra_hint(_EXTRAS['zarr'])} or {extra_hint(_EXTRAS['parquet'])}"
        ) from None
