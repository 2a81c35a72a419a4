import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_kernels_stay_in_bounds_on_edge_shapes(numba_cache_dir):
    """Every kernel on 0-row, 1-row, n < k, k=1, d=1 blocks and m=0 heaps, compiled with
    bounds checking (numba reads past a buffer silently otherwise)."""
    cache = numba_cache_dir
    # LLVM's optimisation level 0: numba inserts the bounds checks when it lowers its
    # own IR, before LLVM, so they are the same checks; compiling takes 29 s instead of
    # 43 s (2-core AMD EPYC). The machine code checked is not the shipped one in any
    # case (the checks are compiled in), and the cache is this test's own.
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_OPT="0",
               NUMBA_CACHE_DIR=str(cache), CHUNKML_NUMBA_CACHE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "tests.kernels._boundscheck_calls"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1:] == ["done"], proc.stdout + proc.stderr
    assert lines[:-1] == []
