"""cold-start: a fresh process with an empty numba cache, against one with a warm cache.

Issue 13's group. Each round runs cold_start.py in a fresh Python process and records
its own clock (medians over the rounds) in extra_info:

- case=seed, case=wide32 (``fit``): the seed workload (``make_blobs``, k=3,
  init_max_iter=2, oversampling_factor=10, persisted; --bench-size's seed rows and
  chunks) and float32 X of 64 features with k=16 (the highdim rows and chunks), and
  case=seed_numpy, the seed's X as one numpy array (the in-memory parallel kernels), each
  import_s (``import chunkml`` and its estimators), first_fit_s, warm_fit_s (the same
  fit again in the same process) and first_minus_warm_s;
- case=warm_up (``warm-up``): import_s and warm_up_s, ``chunkml.kernels.warm_up()``
  (every kernel; at --bench-size tiny only for the seed's dtype and width);

each with compile_s, compiled (variants) and compile_s_by_kernel: numba's compile time
per kernel from its "numba:compile" events (a kernel's own time, callees apart), and
notices, the compile notices logged ("compiling chunkml kernels ...; first use only").

- cache=cold: ``NUMBA_CACHE_DIR`` a new empty directory, one round; at --bench-size
  small and full, or with --bench-cold.
- cache=warm: the cache that the cold round filled (a fresh process loading the kernels),
  or, where no cold round ran, the session's own cache.

At tiny without --bench-cold (the smoke run of tests/test_benchmarks_smoke.py) that
leaves two fresh processes, seed and warm_up with the session's cache, and no compile
once the test suite or an earlier run has filled it.

The benchmark's own time is the whole child process, interpreter start included.
"""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from cold_start import CASES, describe

import chunkml

CHILD = Path(__file__).with_name("cold_start.py")
# chunkml's checkout or installation: the child imports the same chunkml as this process.
CHUNKML_ROOT = Path(chunkml.__file__).resolve().parent.parent
NUMBERS = ("import_s", "first_fit_s", "warm_fit_s", "first_minus_warm_s", "warm_up_s",
           "compile_s", "compiled", "warm_fit_compiled", "notices")


def run_child(argv, cache_dir):
    """One fresh process's result (cold_start.py's JSON line)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHUNKML_ROOT),
                                                      env.get("PYTHONPATH")]))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    result = subprocess.run([sys.executable, str(CHILD), *argv], check=False, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def caches():
    """{case: the numba cache its cold round filled}."""
    return {}


def _argv(case, bench):
    """(cold_start.py's arguments, what they time in words) for `case`."""
    if case == "warm_up":
        if bench.size != "tiny":
            return ["warm-up"], "warm_up(): every kernel, both dtypes, every width"
        dtype, n_features, _ = CASES["seed"]
        return (["warm-up", "--case", "seed"],
                f"warm_up(dtypes=({dtype},), widths=({n_features},)), the seed's")
    rows, chunks = bench.sizes.seed if case in ("seed", "seed_numpy") else bench.sizes.highdim
    return (["fit", case, "--n-samples", str(rows), "--chunks", str(chunks),
             "--threads", str(bench.threads)],
            f"fit of {rows:,} rows in chunks of {chunks:,}, {describe(case)}")


@pytest.mark.parametrize("cache", ["cold", "warm"])
@pytest.mark.parametrize("case", [*CASES, "warm_up"])
def test_cold_start(benchmark, bench, caches, tmp_path_factory, case, cache):
    if cache == "cold" and not bench.cold:
        pytest.skip("the cold compile runs at --bench-size small/full or with --bench-cold")
    if case in ("wide32", "seed_numpy") and not bench.cold:
        pytest.skip(f"the smoke run (tiny) times the seed and warm_up; {case} runs with "
                    "the cold rounds")
    benchmark.group = "cold-start"
    argv, what = _argv(case, bench)
    runs = []
    if cache == "cold":
        cache_dir = caches[case] = tmp_path_factory.mktemp(f"numba-{case}")
        rounds, warmup = 1, 0
    else:
        cache_dir = caches.get(case)
        rounds, warmup = bench.rounds, bench.warmup_rounds
    benchmark.pedantic(lambda: runs.append(run_child(argv, cache_dir)), rounds=rounds,
                       warmup_rounds=warmup)
    runs = runs[-rounds:]
    extra = {key: statistics.median(run[key] for run in runs)
             for key in NUMBERS if key in runs[0]}
    # Per kernel: the (first) timed round's.
    extra["compile_s_by_kernel"] = runs[0]["compile_s_by_kernel"]
    benchmark.extra_info.update(extra, cache=cache, what=what,
                                numba_cache="session's own" if cache_dir is None
                                else "empty" if cache == "cold" else "the cold round's")
