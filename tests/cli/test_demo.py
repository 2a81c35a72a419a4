"""``chunkml demo``, run as users run it: ``python -m chunkml demo ...`` in a subprocess.

Each subprocess pays for importing dask and numba (a few seconds), so the demo runs once
per module and the usage errors run side by side; paths that need no new interpreter
(remote scheduler, Ctrl-C, missing matplotlib) run in-process through ``cli.main``.
"""

import json
import logging
import re
import subprocess
import sys

import numpy as np
import pytest

import chunkml
from chunkml import cli

from ._run import TIMEOUT, _command, _env, _interrupt_fits

N_SAMPLES, CHUNKS = 20_000, 5_000
# The reference workflow's estimator settings; the CLI must fit exactly this.
KMEANS_PARAMS = dict(init_max_iter=2, oversampling_factor=10)


def _reference_centers(n_samples, n_features, n_clusters, chunks, random_state):
    X, _ = chunkml.datasets.make_blobs(
        n_samples=n_samples, n_features=n_features, chunks=chunks, centers=n_clusters,
        random_state=random_state)
    km = chunkml.KMeans(n_clusters=n_clusters, random_state=random_state,
                        **KMEANS_PARAMS).fit(X)
    return km


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = subprocess.run(
        _command("demo", "--n-samples", N_SAMPLES, "--chunks", CHUNKS, "--out", out),
        capture_output=True, text=True, env=_env(), timeout=TIMEOUT)
    return proc, out


def test_demo_exits_0_and_prints_progress_and_table(demo):
    proc, _ = demo
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    stdout = proc.stdout
    assert "generating 20,000 x 2 rows in 4 chunks" in stdout
    assert "dask dashboard: http" in stdout
    summary = json.loads((demo[1] / "summary.json").read_text())
    # One progress bar for the fit, its last line naming the iterations.
    assert re.search(rf"^KMeans \[.*Lloyd: {summary['n_iter']} iterations?  inertia",
                     stdout, re.M)
    table = {
        "rows": "20,000", "features": "2", "chunks": "4", "clusters": "3",
        "iterations": str(summary["n_iter"]), "inertia": f"{summary['inertia']:.6g}",
    }
    for label, value in table.items():
        assert re.search(rf"^{label}\s+{re.escape(value)}$", stdout, re.M), label
    for label in ("data", "fit", "plot", "total"):
        assert re.search(rf"^{label} \[s\]\s+\d+\.\d\d$", stdout, re.M), label
    # The table comes last, after the files are written.
    assert stdout.rstrip().splitlines()[-1].startswith("total [s]")


def test_demo_summary_matches_a_direct_fit(demo):
    proc, out = demo
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_samples"] == N_SAMPLES
    assert summary["n_features"] == 2
    assert summary["n_clusters"] == 3
    assert summary["n_chunks"] == N_SAMPLES // CHUNKS
    assert summary["n_iter"] >= 1
    assert summary["inertia"] > 0
    seconds = summary["seconds"]
    assert 0 <= seconds["data"] <= seconds["total"]
    assert 0 <= seconds["fit"] <= seconds["total"]
    centers = np.array(summary["centers"])
    assert centers.shape == (3, 2)
    km = _reference_centers(N_SAMPLES, 2, 3, CHUNKS, 0)
    np.testing.assert_allclose(centers, km.cluster_centers_, rtol=1e-7)
    np.testing.assert_allclose(summary["inertia"], km.inertia_, rtol=1e-7)
    assert summary["n_iter"] == km.n_iter_
    assert summary["outputs"] == {"plot": "clusters.png"}
    # Nothing left behind by the staging folder beside --out.
    assert sorted(p.name for p in out.iterdir()) == ["clusters.png", "summary.json"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def test_demo_plot_is_640x480_with_one_colour_per_cluster(demo):
    mpl_image = pytest.importorskip("matplotlib.image")
    from matplotlib import colormaps

    proc, out = demo
    assert proc.returncode == 0, proc.stderr
    image = mpl_image.imread(out / "clusters.png")
    assert image.shape[:2] == (480, 640)
    # Center markers are opaque in their cluster's tab10 colour; points blend with white.
    rgb = np.round(image[..., :3] * 255).astype(int)
    for i in range(3):
        colour = np.round(np.array(colormaps["tab10"](i)[:3]) * 255).astype(int)
        assert (np.abs(rgb - colour).max(axis=-1) <= 2).sum() > 50, f"cluster {i}"


USAGE_ERRORS = {
    "negative n_samples": ["--n-samples", "-5"],
    "zero n_clusters": ["--n-clusters", "0"],
    "n_clusters > n_samples": ["--n-samples", "10", "--n-clusters", "11"],
    # --out holds an earlier result (or a file of the user's under an output's name).
    "existing output": ["--n-samples", "1000", "--out", "earlier"],
}


@pytest.fixture(scope="module")
def usage_errors(tmp_path_factory):
    """Every usage error's subprocess, started together: each pays the import alone."""
    root = tmp_path_factory.mktemp("errors")
    (root / "earlier").mkdir()
    (root / "earlier" / "summary.json").write_text("mine")
    procs = {
        name: subprocess.Popen(_command("demo", "--out", "out", *args), cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_env())
        for name, args in USAGE_ERRORS.items()
    }
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        results[name] = (proc.returncode, stdout, stderr)
    # A usage error stops before any work, even before creating --out, and leaves
    # what was there as it was.
    assert sorted(p.name for p in root.iterdir()) == ["earlier"]
    assert [p.name for p in (root / "earlier").iterdir()] == ["summary.json"]
    assert (root / "earlier" / "summary.json").read_text() == "mine"
    return results


@pytest.mark.parametrize("name", list(USAGE_ERRORS))
def test_usage_error_is_one_line_and_exit_2(usage_errors, name):
    returncode, stdout, stderr = usage_errors[name]
    assert returncode == 2
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("chunkml: error: ")


def test_demo_refuses_to_replace_a_file_without_overwrite(usage_errors):
    _, _, stderr = usage_errors["existing output"]
    assert stderr == ("chunkml: error: 'earlier/summary.json' exists and this run did "
                      "not write it; pass --overwrite to replace it, or pick another "
                      "--out\n")


def test_demo_on_a_remote_scheduler_leaves_it_running(cluster, tmp_path, capsys,
                                                      monkeypatch):
    from distributed.core import Status

    # Well separated blobs give the same centers from many starts: check the
    # estimator's parameters directly too.
    fitted = []
    fit = chunkml.KMeans.fit

    def spy(self, X, y=None, sample_weight=None):
        fitted.append(self.get_params())
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(chunkml.KMeans, "fit", spy)
    out = tmp_path / "out"
    # An earlier result with its plot, which --overwrite removes, and a file of the
    # user's, which it keeps.
    _earlier_demo(out)
    argv = ["demo", "--n-samples", "3_001", "--n-features", "3", "--n-clusters", "4",
            "--chunks", "1000", "--random-state", "7", "--scheduler",
            cluster.scheduler_address, "--out", str(out), "--no-plot", "--overwrite"]
    assert cli.main(argv) == 0
    assert len(fitted) == 1
    assert fitted[0] == chunkml.KMeans(n_clusters=4, random_state=7,
                                       **KMEANS_PARAMS).get_params()
    monkeypatch.undo()
    stdout = capsys.readouterr().out
    assert f"connecting to the dask scheduler at {cluster.scheduler_address}" in stdout
    assert re.search(r"^chunks\s+4$", stdout, re.M)
    assert cluster.status == Status.running
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "summary.json"]
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scheduler"] == cluster.scheduler_address
    assert summary["outputs"] == {}
    km = _reference_centers(3_001, 3, 4, 1000, 7)
    np.testing.assert_allclose(np.array(summary["centers"]), km.cluster_centers_,
                               rtol=1e-7)
    # The per-iteration handler is gone again.
    assert not logging.getLogger("chunkml").handlers


def test_demo_quiet_json_on_the_configured_scheduler(cluster, tmp_path, capsys):
    import dask

    out = tmp_path / "out"
    # --scheduler not given: dask's scheduler-address config (DASK_SCHEDULER_ADDRESS).
    with dask.config.set({"scheduler-address": cluster.scheduler_address}):
        assert cli.main(["demo", "--n-samples", "2000", "--chunks", "500", "--json",
                         "--quiet", "--out", str(out), "--no-plot"]) == 0
    captured = capsys.readouterr()
    # --quiet: nothing but the JSON, one object on one line.
    assert captured.err == ""
    assert captured.out.count("\n") == 1
    summary = json.loads(captured.out)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["scheduler"] == cluster.scheduler_address
    km = _reference_centers(2000, 2, 3, 500, 0)
    np.testing.assert_allclose(np.array(summary["centers"]), km.cluster_centers_,
                               rtol=1e-7)


def _earlier_demo(out):
    out.mkdir()
    (out / "summary.json").write_text(json.dumps(
        {"chunkml_version": "0.0", "outputs": {"plot": "clusters.png"}}))
    (out / "clusters.png").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")


def _contents(root):
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*")}


@pytest.mark.parametrize("stage, signal", [
    ("plot", "SIGTERM"), ("aside:clusters.png", "SIGINT"), ("in:clusters.png", "SIGTERM"),
    ("published", "SIGINT"),
])
def test_demo_stopped_while_writing_keeps_the_earlier_result(cluster, tmp_path, capsys,
                                                             monkeypatch, stage, signal):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    _earlier_demo(out)
    before = _contents(out)
    # The run sends itself the signal at that stage (chunkml/cli/_files.py).
    monkeypatch.setenv("CHUNKML_TEST_SIGNAL_AT", f"{stage}:{signal}")
    code = cli.main(["demo", "--n-samples", "1000", "--chunks", "500", "--scheduler",
                     cluster.scheduler_address, "--out", str(out), "--overwrite"])
    assert code == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    if stage != "published":
        assert _contents(out) == before
        return
    # Past the last rename the new result is whole, and the earlier one gone.
    assert sorted(p.name for p in out.iterdir()) == ["clusters.png", "notes.txt",
                                                     "summary.json"]
    assert json.loads((out / "summary.json").read_text())["n_samples"] == 1000
    assert (out / "clusters.png").read_bytes().startswith(b"\x89PNG")


def test_ctrl_c_closes_the_cluster_and_exits_130(monkeypatch, tmp_path, capsys):
    import distributed

    made = _interrupt_fits(monkeypatch)
    out = tmp_path / "out"
    code = cli.main(["demo", "--n-samples", "1000", "--chunks", "500", "--out", str(out)])
    assert code == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert len(made) == 1
    assert made[0].status == distributed.core.Status.closed
    # A failed run leaves no --out that was not there.
    assert list(tmp_path.iterdir()) == []
    assert not logging.getLogger("chunkml").handlers


def test_plot_without_matplotlib_names_the_extra(monkeypatch, capsys):
    from chunkml.cli import _plot

    assert _plot.available(print)
    # None in sys.modules makes every import of matplotlib raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not _plot.available(print)
    assert "pip install chunkml[plot]" in capsys.readouterr().out
