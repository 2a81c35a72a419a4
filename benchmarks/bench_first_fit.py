"""first-fit: what a fresh process pays for numba before its first chunkml fit.

Each round runs first_fit.py in a fresh Python process (``-X importtime``) on the tiny
seed workload (20_000 rows) and records, from the child's own clock (medians over the
rounds): import_s (``import chunkml`` and its estimators, dependencies included),
import_own_s (the part spent in chunkml's own modules: their self times in -X
importtime's report), first_fit_s and second_fit_s (the same fit twice), and
overhead_s = first_fit_s - second_fit_s + import_own_s, the compile/load overhead that
issue 7 wants under 1 s with a warm cache (reported, not asserted). The benchmark's own
time is the whole child process, interpreter start included.

- cache=warm: the numba cache as this session left it (a warm-up round fills it at
  --bench-size small and full; the smoke run at tiny, like bench_cold.py's, has none: the
  test suite or the session's earlier seed fits have filled it).
- cache=cold: ``NUMBA_CACHE_DIR`` set to a new empty directory, so every kernel compiles;
  one round, at --bench-size small and full, or with --bench-cold.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from _workloads import SIZES
from first_fit import IMPORTED_MARK

CHILD = Path(__file__).with_name("first_fit.py")
KEYS = ("import_s", "import_own_s", "first_fit_s", "second_fit_s")


def own_import_seconds(importtime_report):
    """Self time of chunkml's modules in -X importtime's report, up to IMPORTED_MARK."""
    total_us = 0
    for line in importtime_report.splitlines():
        if line.startswith(IMPORTED_MARK):
            break
        if line.startswith("import time:"):
            self_us, _, name = line.removeprefix("import time:").split("|")
            if name.strip().split(".")[0] == "chunkml":
                total_us += int(self_us)
    return total_us / 1e6


def run_child(threads, env):
    """One fresh process's times (KEYS), from first_fit.py."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(CHILD),
         "--n-samples", str(SIZES["tiny"].seed[0]), "--threads", str(threads)],
        check=False, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    times = json.loads(result.stdout.splitlines()[-1])
    times["import_own_s"] = own_import_seconds(result.stderr)
    return times


@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_first_fit(benchmark, bench, cache):
    if cache == "cold" and not bench.cold:
        pytest.skip("the cold compile runs at --bench-size small/full or with --bench-cold")
    benchmark.group = "first-fit"
    env = dict(os.environ)
    runs = []
    rounds, warm = (bench.rounds, bench.warmup_rounds) if cache == "warm" else (1, 0)
    with tempfile.TemporaryDirectory(prefix="chunkml-numba-") as root:

        def empty_cache():
            env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(dir=root)

        benchmark.pedantic(lambda: runs.append(run_child(bench.threads, env)),
                           setup=empty_cache if cache == "cold" else None, rounds=rounds,
                           warmup_rounds=warm)
    medians = {key: statistics.median(run[key] for run in runs[-rounds:]) for key in KEYS}
    medians["overhead_s"] = (medians["first_fit_s"] - medians["second_fit_s"]
                             + medians["import_own_s"])
    benchmark.extra_info.update(medians, cache=cache)
