""".npy input read lazily, a block of rows at a time: a local file memory-mapped
(`NpyFile`), or a file at an fsspec URL read by byte ranges (`NpyURL`). Both pickle as
their path or URL, so that a dask worker opens the file itself."""

import os

from ._urls import url_filesystem


class NpyURL:
    """A C-ordered .npy file at an fsspec URL, read a block of rows at a time (its byte
    range); pickles as its URL, so a worker opens the file itself."""

    def __init__(self, url):
        import numpy as np

        self.url = url
        fs, name = url_filesystem(url)
        with fs.open(name, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self._offset = f.tell()
        if dtype.hasobject:
            raise ValueError("it holds Python objects")
        if fortran and len(shape) > 1:
            raise ValueError("it is Fortran-ordered; save it C-ordered to read it "
                             "from a URL")
        self.shape, self.dtype, self.ndim = shape, dtype, len(shape)
        info = fs.info(name)
        self._version = tuple(str(info.get(key)) for key in (
            "size", "mtime", "created", "LastModified", "ETag"))

    def __getitem__(self, key):
        import fsspec
        import numpy as np

        # dask.array.from_array asks for a block as a tuple of slices.
        key = key if isinstance(key, tuple) else (key,)
        rows = key[0] if key else slice(None)
        if not isinstance(rows, slice):
            raise TypeError(f"rows of a .npy URL are read by slice, not {rows!r}")
        start, stop, step = rows.indices(self.shape[0])
        stop = max(stop, start)
        row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        with fsspec.open(self.url, "rb") as f:
            f.seek(self._offset + start * row_bytes)
            data = f.read((stop - start) * row_bytes)
        # Read-only (the bytes read), not copied: every kernel reads its blocks through
        # read-only views (one compiled signature either way, kernels/_ops.py).
        block = np.frombuffer(data, dtype=self.dtype).reshape(
            (stop - start, *self.shape[1:]))
        return block[(slice(None, None, step), *key[1:])]

    def __dask_tokenize__(self):
        return ("chunkml-npy-url", self.url, self._version, self.shape, str(self.dtype))


class NpyFile:
    """A .npy file, memory-mapped where a block is read; pickles as its path.

    ``da.from_array`` slices it once per block. Pickling a numpy memmap would copy the
    whole array into the graph; this sends the path, and a worker opens the file itself.

    The whole file is mapped read-only (shared pages, no commit charge), because Linux
    refuses a private writable mapping larger than RAM + swap (ENOMEM: a file larger
    than memory could not be read at all). A block of rows is a copy-on-write mapping of
    just its rows: no copy (nothing writes to it), and writable as any numpy block dask
    hands out. (The kernels read every block through a read-only view, so a read-only
    block would compile nothing more: kernels/_dispatch.py, kernels/_ops.py.)
    """

    def __init__(self, path):
        self.path = path
        self._array = self._map()
        self.shape, self.dtype, self.ndim = (self._array.shape, self._array.dtype,
                                             self._array.ndim)
        stat = os.stat(path)
        self._version = (stat.st_size, stat.st_mtime_ns)

    def _map(self):
        import numpy as np

        return np.load(self.path, mmap_mode="r", allow_pickle=False)

    def __getitem__(self, key):
        import numpy as np

        if self._array is None:
            self._array = self._map()
        array = self._array
        rows = key[0] if isinstance(key, tuple) else key
        rest = key[1:] if isinstance(key, tuple) else ()
        if (isinstance(rows, slice) and rows.step in (None, 1) and array.ndim == 2
                and array.flags.c_contiguous
                and all(k == slice(None) or k == slice(0, array.shape[1]) for k in rest)):
            start, stop, _ = rows.indices(array.shape[0])
            stop = max(start, stop)
            if stop == start:
                return np.empty((0, array.shape[1]), dtype=array.dtype)
            # The C-ordered rows start:stop of the file np.save wrote, mapped privately.
            return np.ascontiguousarray(np.memmap(
                self.path, dtype=array.dtype, mode="c",
                offset=array.offset + start * array.strides[0],
                shape=(stop - start, array.shape[1])))
        # Any other selection: a writable copy of it.
        return np.array(array[key], order="C")

    def __getstate__(self):
        return {**self.__dict__, "_array": None}

    def __dask_tokenize__(self):
        return ("chunkml-npy", os.path.abspath(self.path), self._version, self.shape,
                str(self.dtype))
