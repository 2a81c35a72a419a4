"""chunkml/cli/_readers.py: the .npy reader's blocks."""

import pickle

import dask.array as da
import numpy as np
import pytest

from chunkml.cli._npy import NpyFile
from chunkml.cli._readers import open_array


@pytest.fixture
def npy(tmp_path):
    X = np.random.default_rng(0).normal(size=(1000, 3))
    path = tmp_path / "x.npy"
    np.save(path, X)
    return str(path), X


def test_the_file_is_mapped_read_only(npy):
    """A private (copy-on-write) mapping of the whole file is refused by Linux when the
    file is larger than RAM + swap (ENOMEM): chunkml could not read such a file at all.
    The whole-file mapping is shared and read-only; only a block's rows are private."""
    path, _ = npy
    source = NpyFile(path)
    assert source._array.mode == "r"
    assert not source._array.flags.writeable


@pytest.mark.parametrize("rows", [slice(0, 1000), slice(100, 350), slice(990, 2000),
                                  slice(5, 5), slice(None)])
def test_a_block_is_its_rows_writable_and_contiguous(npy, rows):
    """Writable, as any numpy block dask hands out, and no copy of the file: writing to
    a block never reaches the file."""
    path, X = npy
    block = NpyFile(path)[rows, slice(0, 3)]
    np.testing.assert_array_equal(block, X[rows])
    assert type(block) is np.ndarray
    assert block.flags.writeable and block.flags.c_contiguous
    if block.size:
        block[...] = -1.0
        np.testing.assert_array_equal(np.load(path), X)


def test_other_selections_and_pickling(npy):
    path, X = npy
    source = pickle.loads(pickle.dumps(NpyFile(path)))
    np.testing.assert_array_equal(source[[3, 1]], X[[3, 1]])
    np.testing.assert_array_equal(source[10:20, 1:], X[10:20, 1:])
    assert source[10:20, 1:].flags.writeable


def test_open_array_reads_the_file_block_by_block(npy):
    path, X = npy
    Xd, _ = open_array(path, "npy", 300)
    assert isinstance(Xd, da.Array) and Xd.chunks[0] == (300, 300, 300, 100)
    np.testing.assert_array_equal(Xd.compute(), X)
