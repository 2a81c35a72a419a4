"""How ``chunkml cluster`` and ``chunkml demo`` write: staged in a fresh folder,
published when complete.

The guarantees (README.md, "Files"):

- Nothing is written into ``--out`` until the run is complete. The outputs are staged
  in a fresh hidden folder ``.<name>.chunkml-<random>.tmp`` beside ``--out`` (inside
  ``--out`` when its parent is not writable or on another filesystem), so that every
  move is a rename on one filesystem.
- An output that would replace an existing file or folder is refused (exit 2, naming
  the path) unless ``--overwrite`` is given; one that would replace the input, or a
  folder holding it, is refused even then, as is an ``--out`` inside the input.
  Other files in ``--out`` are never touched.
- Publishing: when ``--out`` does not exist the staged folder becomes ``--out`` in one
  rename. Otherwise the replaced outputs are first renamed into the staged folder
  (the summary first) and the new ones into ``--out`` (the summary last), each an
  atomic rename, with SIGINT and SIGTERM deferred: a signal that arrives before the
  last rename undoes the renames made so far, so the previous result is back exactly
  as it was, and the run exits 130; one that arrives after it lets the run finish
  removing the previous result first, then exits 130 with the new result in place.
  Only a hard kill (SIGKILL, power loss) between two renames can leave ``--out``
  without its ``summary.json``; the previous files are then in the hidden folder.
- A failed or interrupted run removes its staged folder, and the parent folders of
  ``--out`` it made, so a run that fails leaves no ``--out`` that was not there.

Tests stop a run at each stage with the environment variable
``CHUNKML_TEST_SIGNAL_AT=<stage>:<SIGNAL>`` (e.g. ``in:centers.npy:SIGTERM``): at that
stage the process sends itself the signal. Nothing else reads it; the stages are the
names passed to :func:`stage` below, and ``labels-block`` (a worker computing the second
block of labels).
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys

from ._errors import CommandError, DeferredSignals, UsageError, one_line

SUMMARY = "summary.json"
_SIGNAL_AT = "CHUNKML_TEST_SIGNAL_AT"
_PREVIOUS = ".previous"


def _signal_at():
    where, _, name = os.environ.get(_SIGNAL_AT, "").rpartition(":")
    return where, name


def stage_hook_active():
    return bool(_signal_at()[0])


def arm_stage_hook():
    """Under CHUNKML_TEST_SIGNAL_AT, handle SIGINT even when the parent ignores it (a
    test run from a background job would otherwise never stop)."""
    if (stage_hook_active()
            and signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def stage(name):
    """A named stage of writing; see CHUNKML_TEST_SIGNAL_AT in the module docstring."""
    where, signame = _signal_at()
    if where == name:
        os.kill(os.getpid(), getattr(signal, signame))


def stage_block(block, block_info=None):
    """Labels block pass-through that calls the ``labels-block`` stage on block 1."""
    if block_info is not None and block_info[None]["chunk-location"][0] == 1:
        stage("labels-block")
    return block


def _within(path, root):
    """Whether the (resolved) ``path`` is ``root`` or lies inside it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_removable(path, shown):
    """Refuse before any work when a replaced folder could not be removed afterwards."""
    if not os.path.isdir(path) or os.path.islink(path):
        return

    def fail(exc):
        raise CommandError(f"cannot replace {shown!r}: {exc.strerror or one_line(exc)}")

    for directory, _, _ in os.walk(path, onerror=fail):
        if not os.access(directory, os.R_OK | os.W_OK | os.X_OK):
            inner = os.path.join(shown, os.path.relpath(directory, path))
            raise CommandError(
                f"cannot replace {shown!r}: {os.path.normpath(inner)!r} is not "
                "writable, so its files could not be removed")


def _previous_outputs(out):
    """The output names an earlier run's summary.json in ``out`` lists, or []."""
    try:
        with open(os.path.join(out, SUMMARY), encoding="utf-8") as f:
            summary = json.load(f)
        names = list(summary["outputs"].values()) if "chunkml_version" in summary else []
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []
    return [name for name in names if isinstance(name, str)]


def _makedirs(path):
    """``os.makedirs(path)``; returns the folders it made, outermost first."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    made = []
    for directory in reversed(missing):
        os.mkdir(directory)
        made.append(directory)
    return made


class Outputs:
    """A run's outputs, staged in a fresh folder and published into ``--out`` at the end.

    ``with Outputs(out, names, overwrite=..., inputs=...) as outputs:`` checks and
    stages; write each output to ``outputs.path(name)``, then ``outputs.publish()``.
    Leaving the block unpublished removes everything the run made. ``names`` are in
    publishing order, the summary last. With ``overwrite``, those of ``earlier`` (the
    names other runs may write) that the summary.json in ``out`` lists go too.
    """

    def __init__(self, out, names, *, overwrite=False, inputs=(), earlier=()):
        from . import _urls

        out = _urls.local(out)
        if _urls.url_protocol(out) is not None:
            raise UsageError(
                f"--out {out!r}: chunkml writes only into a local folder (or a file:// "
                "URL): it publishes its outputs by renaming them, which object stores "
                "cannot do atomically; write them locally, then copy them")
        # abspath collapses "sub/.." without making "sub".
        self.out = os.path.abspath(out)
        self._shown = os.path.normpath(out)
        self.names = list(names)
        self.overwrite = overwrite
        self._earlier = set(earlier)
        self._inputs = [(path, os.path.realpath(path)) for path in inputs]
        self.tmp = None
        self._made = []
        self._replace = []
        self._keep_tmp = False

    def path(self, name):
        return os.path.join(self.tmp, name)

    def check(self):
        """Refuse to write where an output would replace the input, or (without
        --overwrite) anything that exists; run before the work and before publishing."""
        out = self.out
        if os.path.lexists(out) and not os.path.isdir(out):
            raise UsageError(f"--out {self._shown!r} exists and is not a directory")
        real_out = os.path.realpath(out)
        for shown, real in self._inputs:
            if _within(real_out, real):
                raise UsageError(
                    f"--out {self._shown!r} is inside the input {shown!r}; chunkml never "
                    "writes into its input")
        if not os.path.isdir(out):
            self._replace = []
            return
        names = list(self.names)
        if self.overwrite:
            # An earlier result's labels in the other format would outlive its summary.
            names += [name for name in _previous_outputs(out)
                      if name in self._earlier and name not in names]
        replace = []
        for name in names:
            target = os.path.join(out, name)
            if not os.path.lexists(target):
                continue
            real = os.path.realpath(target)
            shown_target = os.path.join(self._shown, name)
            for shown, real_input in self._inputs:
                if _within(real_input, real) or _same_file(target, shown):
                    raise UsageError(
                        f"{shown_target!r} would replace the input {shown!r} (even with "
                        "--overwrite); pick another --out")
            if not self.overwrite:
                raise UsageError(
                    f"{shown_target!r} exists and this run did not write it; pass "
                    "--overwrite to replace it, or pick another --out")
            _check_removable(target, shown_target)
            replace.append(name)
        # The summary leaves first: --out never holds a summary beside other files.
        self._replace = sorted(replace, key=lambda name: name != SUMMARY)

    def __enter__(self):
        self.check()
        parent = os.path.dirname(self.out)
        try:
            self._made = _makedirs(parent)
        except OSError as exc:
            raise CommandError(
                f"cannot create the parent folder of --out {self._shown!r}: "
                f"{exc.strerror or one_line(exc)}") from None
        try:
            where = parent
            if os.path.isdir(self.out):
                if not os.access(self.out, os.W_OK | os.X_OK):
                    raise CommandError(
                        f"the --out directory {self._shown!r} is not writable")
                if (not os.access(parent, os.W_OK | os.X_OK)
                        or os.stat(parent).st_dev != os.stat(self.out).st_dev):
                    where = self.out
            self.tmp = self._mkdir_tmp(where)
        except BaseException:
            self._remove_made()
            raise
        return self

    def _mkdir_tmp(self, where):
        name = os.path.basename(self.out)
        for _ in range(100):
            tmp = os.path.join(where, f".{name}.chunkml-{secrets.token_hex(4)}.tmp")
            try:
                # os.mkdir lets the umask set the mode: the folder may become --out.
                os.mkdir(tmp)
                return tmp
            except FileExistsError:
                continue
            except OSError as exc:
                raise CommandError(
                    f"cannot write beside --out {self._shown!r}: "
                    f"{exc.strerror or one_line(exc)}") from None
        raise CommandError(f"cannot make a temporary folder in {where!r}")

    def __exit__(self, exc_type, exc, tb):
        # Not cut short by a second Ctrl-C: that would leave half the folder behind.
        with DeferredSignals():
            if self.tmp is not None and not self._keep_tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None
            self._remove_made()
        return False

    def _remove_made(self):
        if os.path.lexists(self.out):
            return
        for directory in reversed(self._made):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        self._made = []

    def publish(self):
        """Move the staged outputs into --out (see the module docstring)."""
        self.check()
        stage("publish")
        with DeferredSignals() as deferred:
            if not os.path.lexists(self.out):
                try:
                    os.rename(self.tmp, self.out)
                except OSError as exc:
                    raise CommandError(
                        f"cannot publish --out {self._shown!r}: "
                        f"{exc.strerror or one_line(exc)}") from None
                self.tmp, self._made = None, []
                stage("published")
                _fsync_dir(os.path.dirname(self.out))
                return
            previous = os.path.join(self.tmp, _PREVIOUS)
            moves = ([(os.path.join(self.out, name), os.path.join(previous, name), "aside:")
                      for name in self._replace]
                     + [(os.path.join(self.tmp, name), os.path.join(self.out, name), "in:")
                        for name in self.names])
            done = []
            try:
                os.mkdir(previous)
                for i, (source, target, what) in enumerate(moves):
                    os.rename(source, target)
                    done.append((source, target))
                    if i == len(moves) - 1:
                        break  # the last rename publishes: no way back from here
                    stage(what + os.path.basename(source))
                    if deferred.received is not None:
                        self._undo(done)
                        return  # DeferredSignals raises KeyboardInterrupt
            except OSError as exc:
                self._undo(done)
                raise CommandError(
                    f"cannot publish into --out {self._shown!r}: "
                    f"{exc.strerror or one_line(exc)}"
                    f"{f' ({exc.filename})' if exc.filename else ''}") from None
            stage("published")
            _fsync_dir(self.out)
            self._remove_tmp()

    def _undo(self, done):
        try:
            for source, target in reversed(done):
                os.rename(target, source)
        except OSError as exc:
            self._keep_tmp = True
            raise CommandError(
                f"could not put the previous result back into --out {self._shown!r} "
                f"({exc.strerror}); its files are in "
                f"{os.path.join(self.tmp, _PREVIOUS)!r}") from None

    def _remove_tmp(self):
        errors = _rmtree(self.tmp)
        if errors:
            print(f"chunkml: warning: could not remove the previous result in "
                  f"{self.tmp!r}: {one_line(errors[0])}", file=sys.stderr, flush=True)
        self.tmp = None


def _rmtree(path):
    """Remove the folder ``path``; returns the errors met on the way (empty: removed)."""
    errors = []
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=lambda function, name, exc: errors.append(exc))
    else:
        shutil.rmtree(path, onerror=lambda function, name, info: errors.append(info[1]))
    return errors


def _fsync_dir(path):
    # The renames reach the disk with the folder's entry, not with the files.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path, write):
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


def _labels_part_name(i):
    # Zero-padded, so that readers listing the files in name order keep the row order.
    return f"part.{i:06d}.parquet"


ROW = "row"


def zarr_codecs():
    """zarr's array options for the outputs (labels, distances): Blosc LZ4 with bit
    shuffle. zarr 3's default, Zstandard, took 2.3x the time to write 62.5M labels of 8
    clusters on 2 threads (0.58 s against 0.25 s) into a larger store (42 against 24
    MB), 3.8x at 1,024 clusters (1.07 s, 103 MB against 0.28 s, 76 MB); zarr 2's
    default is Blosc LZ4 already (byte shuffle), left as it is."""
    import zarr

    if int(zarr.__version__.split(".")[0]) < 3:
        return {}
    from zarr.codecs import BloscCodec

    return {"compressors": [BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle")]}


def write_rows(rows, path, fmt, columns, compute=True):
    """Write a lazy per-row output (labels, distances) block by block: it never sits in
    memory all at once. ``columns`` names the parquet columns, after a first column
    ``row``: each row's number in INPUT (0-based), so that the rows can be joined back
    to INPUT. With ``compute=False`` returns what computes the write."""
    if stage_hook_active():
        rows = rows.map_blocks(stage_block, dtype=rows.dtype)
    if fmt == "zarr":
        import dask.array as da

        chunks = rows.chunks[0]
        # zarr stores equal chunks (the last one may be shorter); parquet partitions
        # and 0-row blocks give uneven ones.
        if len(chunks) > 1 and (len(set(chunks[:-1])) > 1 or chunks[-1] > chunks[0]):
            rows = rows.rechunk({0: max(chunks)})
        return da.to_zarr(rows, path, compute=compute, **zarr_codecs())
    import dask.dataframe as dd

    frame = dd.from_dask_array(rows, columns=columns)
    # A running count, not arange: the row chunk sizes of .parquet/.csv INPUT are
    # unknown until the write has read it.
    frame = frame.assign(**{ROW: 1})
    frame = frame.assign(**{ROW: frame[ROW].cumsum() - 1})[[ROW, *columns]]
    return frame.to_parquet(path, write_index=False, name_function=_labels_part_name,
                            compute=compute)
