"""The benchmark suite stays runnable: a smoke run at tiny sizes, timing disabled."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_at_tiny_size():
    pytest.importorskip("pytest_benchmark")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/", "--bench-size=tiny",
         "--benchmark-disable", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
