"""``chunkml warm-up``: numba compiles once, then loads from its cache; here and on the
workers of a cluster; its errors and Ctrl-C.

One pair of subprocesses compiles for float32 X of 1 feature into a cache of its own,
saying so once (chunkml/kernels/_notice.py), and then loads from it silently (the
container-image story). The rest runs ``cli.main`` in-process on the package's cluster,
with the real ``chunkml.kernels.warm_up`` for the same small case, or a stand-in for the
plumbing and the failures.
"""

import json
import os
import subprocess
import threading

import numpy as np
import pytest

import chunkml.kernels
from chunkml import cli

from ._run import TIMEOUT, _command, _env

SMALL = ["--dtype", "float32", "--n-features", "1"]
NOTICE = ("compiling chunkml kernels for float32 X; first use only: numba caches them on "
          "disk (`chunkml warm-up` compiles them ahead of time)")


def _run(tmp_path, *argv):
    env = _env()
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")
    proc = subprocess.run(_command("warm-up", *argv), capture_output=True, text=True,
                          env=env, timeout=TIMEOUT * 3)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_compiles_once_then_loads_from_numbas_cache(tmp_path):
    first = _run(tmp_path, *SMALL, "--json")
    summary = json.loads(first.stdout)
    (process,) = summary["processes"]
    assert summary["dtypes"] == ["float32"] and summary["n_features"] == [1]
    assert summary["scheduler"] is None
    assert process["process"] == "this process" and process["seconds"] > 0
    compiled = process["compiled"]
    assert compiled and all(name.startswith("chunkml.kernels.") for name in compiled)
    # The variants for float32 X of 1 feature, one string per signature (X read-only:
    # every kernel reads it through a read-only view, kernels/_dispatch.py).
    assert any(name.startswith("chunkml.kernels.lloyd.") and
               "(readonly array(float32, 2d, C)" in name for name in compiled)
    assert len(set(compiled)) == len(compiled)
    # chunkml's notice (chunkml/kernels/_notice.py), once, among the command's lines.
    assert (f"warming up chunkml's kernels in this process (float32 X, 1 feature) ...\n"
            f"{NOTICE}\n"
            f"  numba compiled {len(compiled):,} kernel variants in ") in first.stderr
    assert first.stderr.count("first use only") == 1
    assert os.listdir(tmp_path / "numba-cache")

    # A new process with the same cache (the image's next start) compiles nothing.
    second = _run(tmp_path, *SMALL)
    assert "  loaded in " in second.stdout
    assert "(nothing to compile: numba's cache, or already loaded)" in second.stdout
    rows = second.stdout[second.stdout.index("\nprocess ") + 1:].splitlines()
    assert rows[1].startswith("this process (") and rows[1].split()[-2] == "0"
    assert second.stderr == ""
    assert "first use only" not in second.stdout


def test_on_every_worker_of_the_cluster(cluster, capsys):
    from distributed.core import Status

    address = cluster.scheduler_address
    assert cli.main(["warm-up", *SMALL, "--scheduler", address, "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["scheduler"] == address
    here, worker = summary["processes"]
    assert here["process"] == "this process"
    assert worker["process"] in cluster.scheduler_info["workers"]
    # The in-process worker shares this process: the kernels are loaded already.
    assert worker["pid"] == here["pid"] == os.getpid()
    assert worker["compiled"] == []
    assert all(name.startswith("chunkml.kernels.") for name in here["compiled"])
    assert f"connecting to the dask scheduler at {address} ..." in captured.err
    assert ("warming up chunkml's kernels on every worker (float32 X, 1 feature) ...\n"
            f"  {worker['process']}: loaded in ") in captured.err
    assert cluster.status == Status.running


@pytest.fixture
def calls(monkeypatch):
    """chunkml.kernels.warm_up replaced: each call's thread and keyword arguments."""
    made = []

    def warm_up(**kwargs):
        made.append((threading.current_thread() is threading.main_thread(), kwargs))

    monkeypatch.setattr(chunkml.kernels, "warm_up", warm_up)
    return made


def test_dtypes_and_n_features_reach_warm_up(calls, capsys):
    assert cli.main(["warm-up", "--quiet"]) == 0
    assert calls.pop() == (True, {"dtypes": (np.float64, np.float32)})
    assert cli.main(["warm-up", "--dtype", "float32,float32", "--n-features", "50,2,50",
                     "--quiet"]) == 0
    # --n-features: dense X of those widths only (the CSR kernels have no width).
    assert calls.pop() == (True, {"dtypes": (np.float32,), "widths": (2, 50),
                                  "sparse": False})
    out = capsys.readouterr().out
    # --quiet: the table alone.
    assert out.startswith("process ") and "\nthis process (" in out
    assert cli.main(["warm-up", "--n-features", "2,50"]) == 0
    assert ("warming up chunkml's kernels in this process (float64 and float32 X, 2 and "
            "50 features) ...") in capsys.readouterr().out


def test_quiet_json_on_the_configured_scheduler(cluster, calls, capsys):
    import dask

    # --scheduler not given: dask's scheduler-address config (DASK_SCHEDULER_ADDRESS).
    with dask.config.set({"scheduler-address": cluster.scheduler_address}):
        assert cli.main(["warm-up", "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.count("\n") == 1
    summary = json.loads(captured.out)
    assert summary["scheduler"] == cluster.scheduler_address
    assert [p["process"] for p in summary["processes"]] == [
        "this process", *cluster.scheduler_info["workers"]]
    # Here in the main thread, on the worker off its event loop.
    assert [main for main, _ in calls] == [True, False]


@pytest.mark.parametrize("argv, stream", [([], "out"), (["--json"], "err"),
                                          (["--quiet"], None)])
def test_chunkml_log_records_are_lines_of_the_command(monkeypatch, capsys, argv, stream):
    import logging

    def warm_up(**kwargs):
        logging.getLogger("chunkml").warning(NOTICE)

    monkeypatch.setattr(chunkml.kernels, "warm_up", warm_up)
    assert cli.main(["warm-up", *argv]) == 0
    captured = capsys.readouterr()
    if stream is None:
        assert NOTICE not in captured.out + captured.err
    else:
        assert getattr(captured, stream).count(f"\n{NOTICE}\n  loaded in ") == 1
        assert NOTICE not in getattr(captured, {"out": "err", "err": "out"}[stream])
    assert not logging.getLogger("chunkml").handlers


def _fail_off_the_main_thread(monkeypatch, exc):
    def warm_up(**kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise exc

    monkeypatch.setattr(chunkml.kernels, "warm_up", warm_up)


def test_a_failing_worker_is_one_line_and_exit_1(cluster, monkeypatch, capsys):
    _fail_off_the_main_thread(monkeypatch, RuntimeError("no memory left\nat all"))
    address = cluster.scheduler_address
    assert cli.main(["warm-up", "--scheduler", address, "--quiet"]) == 1
    captured = capsys.readouterr()
    (worker,) = cluster.scheduler_info["workers"]
    assert captured.err == ("chunkml: error: cannot warm up chunkml's kernels on 1 worker "
                            f"of 1: {worker}: no memory left\n")
    assert captured.out == ""


def test_a_failure_here_is_one_line_and_exit_1(monkeypatch, capsys):
    def warm_up(**kwargs):
        raise OSError("cannot write the cache")

    monkeypatch.setattr(chunkml.kernels, "warm_up", warm_up)
    assert cli.main(["warm-up"]) == 1
    assert capsys.readouterr().err == (
        "chunkml: error: cannot warm up chunkml's kernels in this process: cannot write "
        "the cache\n")


def test_an_unreachable_scheduler_is_one_line_and_exit_1(calls, capsys):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert cli.main(["warm-up", "--scheduler", "tcp://127.0.0.1:9", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chunkml: error: cannot connect to the dask scheduler at "
                          "'tcp://127.0.0.1:9'") and err.count("\n") == 1
    assert calls == []


def test_ctrl_c_exits_130(monkeypatch, capsys):
    def warm_up(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(chunkml.kernels, "warm_up", warm_up)
    assert cli.main(["warm-up"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_ctrl_c_on_the_workers_exits_130_and_leaves_the_cluster(cluster, calls,
                                                                monkeypatch, capsys):
    import distributed
    from distributed.core import Status

    made = []

    def interrupt(self, *args, **kwargs):
        made.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(distributed.Client, "run", interrupt)
    assert cli.main(["warm-up", "--scheduler", cluster.scheduler_address]) == 130
    assert capsys.readouterr().err == "interrupted\n"
    (client,) = made
    assert client.status == "closed"
    assert cluster.status == Status.running
