"""chunkml/kernels/_notice.py: one record on the chunkml logger when a kernel compiles.

In this process, fresh dispatchers (``cache=False``) compile on every test, so the
listener sees real "numba:compile" events; the once-per-process state is reset for each
test and restored afterwards. Two subprocesses show what a user who never configured
logging sees: the notice on stderr when the cache is empty, nothing once it is warm.
"""

import logging
import os
import subprocess
import sys
import types

import numba
import numpy as np
import pytest

import chunkml
from chunkml.kernels import _notice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(chunkml.__file__)))
NOTICE_END = ("; first use only: numba caches them on disk (`chunkml warm-up` compiles "
              "them ahead of time)")


@pytest.fixture
def notices(monkeypatch, caplog):
    """``notices()``: the chunkml records logged in the test, with this process not
    told yet when it starts."""
    monkeypatch.setattr(_notice.LISTENER, "noticed_in", None)
    with caplog.at_level(logging.WARNING, logger="chunkml"):
        yield lambda: [r for r in caplog.records if r.name == "chunkml"]


def _fresh(func, module):
    """A new dispatcher of a copy of `func` defined, so it says, in `module`; it
    compiles (not loads) on its first call for each signature."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__)
    copy.__module__ = module
    return numba.njit(cache=False)(copy)


def _row_count(X):
    return X.shape[0]


def _double(x):
    return 2 * x


@pytest.mark.skipif(not chunkml.kernels._config.CACHE, reason="CHUNKML_NUMBA_CACHE=0")
def test_the_first_compile_of_a_kernel_is_said_once(notices):
    kernel = _fresh(_row_count, "chunkml.kernels.rows")
    assert kernel(np.zeros((3, 2), dtype=np.float32)) == 3
    (record,) = notices()
    assert (record.name, record.levelno) == ("chunkml", logging.WARNING)
    assert record.getMessage() == "compiling chunkml kernels for float32 X" + NOTICE_END
    # Other signatures, other kernels: compiled, not said again.
    kernel(np.zeros((3, 5)))
    _fresh(_double, "chunkml.kernels")(1.5)
    assert len(notices()) == 1


def test_a_kernel_without_x_is_named(notices):
    assert _fresh(_double, "chunkml.kernels._random")(np.uint64(2)) == 4
    (record,) = notices()
    assert record.getMessage().startswith("compiling chunkml kernels (_double); first use ")


@pytest.mark.parametrize("module", [__name__, "chunkml.kernelsx", "chunkml.dask_glue"])
def test_functions_outside_the_kernels_are_not_chunkmls_compiles(notices, module):
    assert _fresh(_row_count, module)(np.zeros((2, 1))) == 2
    assert notices() == []


def test_a_forked_child_is_told_again(notices, monkeypatch):
    _fresh(_double, "chunkml.kernels")(1)
    # The state that a fork copies: told, but in the parent.
    monkeypatch.setattr(_notice.LISTENER, "noticed_in", os.getpid() + 1)
    _fresh(_double, "chunkml.kernels")(2)
    assert len(notices()) == 2


def test_without_the_disk_cache_it_says_each_process(monkeypatch):
    monkeypatch.setattr(_notice, "CACHE", False)
    kernel = _fresh(_row_count, "chunkml.kernels")
    text = _notice.message(kernel, (numba.typeof(np.zeros((1, 1))),))
    assert text == ("compiling chunkml kernels for float64 X; first use in each process: "
                    "numba's on-disk cache of chunkml's kernels is off")


SPLITMIX = ("import numpy as np, chunkml.kernels\n"
            "assert chunkml.kernels.splitmix64(np.uint64(0)) == 16294208416658607535\n")


def _python(code, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), CHUNKML_NUMBA_CACHE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.skipif(not chunkml.kernels._config.CACHE, reason="CHUNKML_NUMBA_CACHE=0")
def test_a_user_without_logging_set_up_sees_it_on_a_cold_cache_only(tmp_path):
    # One small kernel, compiled into an empty cache, then loaded from it.
    cold = _python(SPLITMIX, tmp_path)
    assert cold.stdout == ""
    assert cold.stderr == "compiling chunkml kernels (splitmix64)" + NOTICE_END + "\n"
    warm = _python(SPLITMIX, tmp_path)
    assert (warm.stdout, warm.stderr) == ("", "")
