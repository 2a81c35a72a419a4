"""The benchmark suite stays runnable: a smoke run at tiny sizes (one timed round, no
cold compile), and benchmarks/report.py on its JSON."""

import json
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


def test_joblib_paired_runs_at_tiny_size(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "paired.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/joblib_paired.py", "--pairs", "2", "--size", "tiny",
         "--searches", "svc", "--clusters", "inprocess", "--json", str(out)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["one_thread_s"]["svc"] > 0
    group = got["groups"]["svc inprocess"]
    assert len(group["pairs"]) == 2
    ratios = [d / c for d, c in group["pairs"]]
    assert group["ratio_min"] == pytest.approx(min(ratios), rel=1e-3)
