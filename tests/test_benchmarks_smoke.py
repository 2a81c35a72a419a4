"""The benchmark suite stays runnable: a smoke run at tiny sizes (one timed round, no
cold compile), and benchmarks/report.py on its JSON."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_at_tiny_size(tmp_path):
    pytest.importorskip("pytest_benchmark")
    run_json = tmp_path / "tiny.json"
    # Not as an xdist worker: pytest-benchmark turns itself off where it sees one.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/", "--bench-size=tiny", "--benchmark-only",
         f"--benchmark-json={run_json}", "-q", "-p", "no:cacheprovider"],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout

    report = subprocess.run([sys.executable, "benchmarks/report.py", str(run_json)],
                            check=False, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert report.returncode == 0, report.stderr[-3000:]
    for section in ("#### targets (issue 7)", "#### fit-seed n_samples=20000",
                    "#### lloyd-iter n_samples=20000", "#### scaling", "#### first-fit",
                    "#### targets (issue 13)", "#### cold-start"):
        assert section in report.stdout
