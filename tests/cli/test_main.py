"""``chunkml`` itself: what ``chunkml --help`` loads and says."""

import re
import subprocess
import sys

import pytest

from chunkml import cli

from ._run import TIMEOUT, _command, _env


def test_help_imports_no_heavy_library():
    # What `chunkml --help` loads decides how long it takes: dask, numba and
    # scikit-learn load only inside the command that runs.
    code = ("import sys, runpy; sys.argv = ['chunkml', '--help']\n"
            "try:\n    runpy.run_module('chunkml', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = ('dask', 'numba', 'sklearn', 'distributed', 'pandas', 'matplotlib')\n"
            "print('loaded:', sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert "usage: chunkml" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "loaded: []"
    # The exit statuses are documented there.
    epilog = proc.stdout[proc.stdout.index("exit status:"):]
    for status in ("0", "1", "2", "130"):
        assert re.search(rf"^  {status} +\w", epilog, re.M), status


@pytest.mark.parametrize("argv, message", [
    (["demo", "--chunks", "0"], "argument --chunks: must be a positive integer"),
    (["demo", "--n-features", "-1"], "argument --n-features: must be a positive"),
    (["demo", "--n-samples", "1.5"], "argument --n-samples: expected an integer"),
    (["demo", "--n-samples", "many"], "argument --n-samples: expected an integer"),
    (["demo", "--random-state", "-1"], "argument --random-state: must be an integer in"),
    (["demo", "--n-samples", "1e3", "--n-clusters", "1_001"],
     "--n-clusters (1,001) must not exceed --n-samples (1,000)"),
    ([], "the following arguments are required: COMMAND"),
    (["cluster", "x.npy"], "the following arguments are required: --n-clusters"),
    (["cluster", "x.npy", "--n-clusters", "-3"],
     "argument --n-clusters: must be a positive"),
    (["cluster", "x.npy", "--n-clusters", "3", "--tol", "-1"],
     "argument --tol: must be >= 0"),
    (["cluster", "x.npy", "--n-clusters", "3", "--tol", "nan"],
     "argument --tol: expected a finite number"),
    (["cluster", "x.npy", "--n-clusters", "3", "--max-iter", "0"],
     "argument --max-iter: must be a positive integer"),
    (["cluster", "x.csv", "--n-clusters", "3", "--columns", "a,,b"],
     "argument --columns: expected comma-separated column names"),
    (["cluster", "x.csv", "--n-clusters", "3", "--columns", "a,b,a"],
     "argument --columns: column 'a' named twice"),
    (["cluster", "x.csv", "--n-clusters", "3", "--columns", "a", "--exclude-columns", "b"],
     "argument --exclude-columns: not allowed with argument --columns"),
    (["cluster", "x.csv", "--n-clusters", "3", "--blocksize", "lots"],
     "argument --blocksize: expected a size such as 64MB or 1000000, got 'lots'"),
    (["cluster", "x.npy", "--n-clusters", "3", "--init", "kmeans"],
     "argument --init: expected one of k-means||, k-means++, random or a .npy file"),
    (["bench", "--n-samples", "2"], "--n-samples (2) must be at least the workload's 3"),
    (["bench", "--chunks", "-1"], "argument --chunks: must be a positive integer"),
    (["warm-up", "--dtype", "int8"],
     "argument --dtype: expected float64, float32 or both, comma-separated, got 'int8'"),
    (["warm-up", "--dtype", "float32,"], "argument --dtype: expected float64, float32"),
    (["warm-up", "--n-features", "0"], "argument --n-features: must be a positive integer"),
    (["warm-up", "--n-features", "2,x"], "argument --n-features: expected an integer"),
])
def test_usage_errors_are_one_line_and_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc_info:
        cli.main(argv)
    assert exc_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"chunkml: error: {message}")
    assert captured.err.count("\n") == 1


def test_numbers_accept_underscores_and_exponents():
    args = cli.build_parser().parse_args(
        ["demo", "--n-samples", "2_000_000", "--chunks", "5e5"])
    assert (args.n_samples, args.chunks) == (2_000_000, 500_000)
    assert (args.n_features, args.n_clusters, args.random_state) == (2, 3, 0)
    assert args.scheduler is None and not args.no_plot


def test_a_closed_stdout_stops_the_run_without_a_traceback(tmp_path):
    # `chunkml demo | head -1` once head has exited: the first progress line fails.
    proc = subprocess.Popen(_command("demo", "--n-samples", "1000", "--out", "out"),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=TIMEOUT) == 1
    assert "Traceback" not in stderr, stderr
    # Stopped like any failed run: nothing left behind.
    assert list(tmp_path.iterdir()) == []


def test_every_command_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    usage = readme[readme.index("## The command line"):readme.index("### What `chunkml")]
    # The commands `chunkml --help` lists.
    commands = re.findall(r"^    (\S+) {2,}\S", cli.build_parser().format_help(), re.M)
    assert commands == ["demo", "cluster", "predict", "bench", "warm-up"]
    for name in commands:
        assert re.search(rf"^    chunkml {name} ", usage, re.M), name
        # ... and described in its prose.
        assert re.search(rf"(^|\s)`{name}`\s", usage, re.M), name
