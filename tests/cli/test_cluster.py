"""``chunkml cluster`` and ``chunkml bench``, run as users run them.

Each new interpreter pays for importing dask and numba and loading the kernels (seconds
on 2 cores), so one run is ``python -m chunkml`` itself and the others call ``cli.main``
in this process with its output captured, on the cli tests' cluster; the runs happen in
one fixture and the tests read its results.
"""

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest

import chunkml
from chunkml import cli

from ._run import TIMEOUT, _command, _env, _interrupt_fits, _main_captured

# .parquet and .csv input (and the labels without zarr) need dask.dataframe and pyarrow.
pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

# dask's own parquet reader, in the direct fits (pandas 3.1 deprecates inplace=True).
pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated")

HAS_ZARR = importlib.util.find_spec("zarr") is not None
N_SAMPLES, N_FEATURES = 1_203, 3
NPY_CHUNKS, ZARR_CHUNKS = 400, 500
PARQUET_PARTS = [(0, 300), (300, 1_000), (1_000, N_SAMPLES)]

# What each successful run is given, and the direct chunkml.KMeans fit it must equal.
RUNS = {
    "npy": dict(
        argv=["x.npy", "--n-clusters", "3", "--chunks", NPY_CHUNKS, "--init", "k-means++",
              "--max-iter", "50", "--tol", "1e-6", "--random-state", "7", "--overwrite"],
        params=dict(n_clusters=3, init="k-means++", max_iter=50, tol=1e-6,
                    random_state=7)),
    "zarr": dict(
        argv=["x.zarr", "--n-clusters", "4", "--persist"],
        params=dict(n_clusters=4, random_state=0)),
    "parquet": dict(
        argv=["x.parquet", "--n-clusters", "3", "--random-state", "1", "--no-progress"],
        params=dict(n_clusters=3, random_state=1)),
    "csv": dict(
        argv=["x.csv", "--n-clusters", "3", "--columns", "a,c", "--sample-weight-column",
              "w", "--init-max-iter", "3", "--oversampling-factor", "5", "--persist"],
        params=dict(n_clusters=3, init_max_iter=3, oversampling_factor=5, random_state=0)),
}
ERRORS = {
    "missing file": (["cluster", "nope.npy", "--n-clusters", "3"],
                     "INPUT 'nope.npy' does not exist"),
    "unknown extension": (["cluster", "x.txt", "--n-clusters", "3"],
                          "cannot tell the format of 'x.txt'"),
    "non-numeric column": (["cluster", "x.csv", "--n-clusters", "3", "--columns", "a,name"],
                           "--columns: column 'name' of 'x.csv' is not numeric"),
    # Every column is a feature by default: a text column is named, never dropped.
    "text column by default": (["cluster", "x.csv", "--n-clusters", "3"],
                               "column 'name' of 'x.csv' is not numeric (dtype "),
    "k > rows, known": (["cluster", "x.npy", "--n-clusters", N_SAMPLES + 1],
                        f"--n-clusters ({N_SAMPLES + 1:,}) must not exceed the rows of "
                        f"'x.npy' ({N_SAMPLES:,})"),
    "negative chunks": (["cluster", "x.npy", "--n-clusters", "3", "--chunks", "-5"],
                        "argument --chunks: must be a positive integer, got '-5'"),
}
BENCH = ["bench", "--n-samples", "20000", "--chunks", "5000"]
# The feature columns of x.csv, except "name" (text) and "w" (the weights).
EXCLUDED = ["name", "w"]


def _frame():
    """Three blobs in columns a, b, c, a string column and a positive weight column."""
    rng = np.random.default_rng(0)
    centers = np.array([[-6.0, 0.0, 6.0], [0.0, 6.0, -6.0], [6.0, -6.0, 0.0]])
    X = centers[rng.integers(3, size=N_SAMPLES)] + rng.normal(size=(N_SAMPLES, N_FEATURES))
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame.insert(1, "name", [f"row{i}" for i in range(N_SAMPLES)])
    frame["w"] = rng.uniform(0.5, 2.0, size=N_SAMPLES)
    return frame


def _write_inputs(root):
    frame = _frame()
    X = frame[["a", "b", "c"]].to_numpy()
    np.save(root / "x.npy", X)
    if HAS_ZARR:
        da.to_zarr(da.from_array(X, chunks=(ZARR_CHUNKS, -1)), str(root / "x.zarr"))
    # Uneven partitions, the first shorter than the next: labels.zarr needs equal chunks,
    # and the labels must still come back in row order. Only numeric columns: the run
    # takes every column.
    (root / "x.parquet").mkdir()
    for i, (start, stop) in enumerate(PARQUET_PARTS):
        frame.drop(columns="name").iloc[start:stop].to_parquet(
            root / "x.parquet" / f"part.{i}.parquet", index=False)
    frame.to_csv(root / "x.csv", index=False)
    (root / "x.txt").write_text("1,2\n")
    # Two NaN cells (one empty) in b, an infinity in c and one in the weights.
    bad = frame.drop(columns="name")
    bad.loc[[5, 900], "b"] = np.nan
    bad.loc[7, "c"] = np.inf
    bad.loc[11, "w"] = -np.inf
    bad.to_csv(root / "nan.csv", index=False, na_rep="")
    return frame


def _stale_outputs(out):
    """An earlier run's files, with its labels in the other format, and a user's file:
    --overwrite replaces or removes the first, never the last."""
    labels, other = (("labels.zarr", "labels.parquet") if HAS_ZARR
                     else ("labels.parquet", "labels.zarr"))
    (out / labels).mkdir(parents=True)
    (out / labels / "stale").write_text("old")
    (out / other).mkdir()
    (out / "summary.json").write_text(json.dumps({
        "chunkml_version": "0.0", "outputs": {"centers": "centers.npy", "labels": other}}))
    (out / "centers.npy").write_text("old")
    (out / "notes.txt").write_text("mine")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cluster):
    """Every run of this module's first tests; {name: (code, out, err)}.

    One is ``python -m chunkml`` itself, connecting to the module's cluster through dask's
    config (DASK_SCHEDULER_ADDRESS): the entry point, its exit status and its output in
    a new interpreter. The rest run ``cli.main`` in this process, in the folder a user
    would run them in; the fits on the same cluster (its one task thread: CPython
    gh-106905, see conftest.py), bench on dask's threads as always, and the errors
    found before any work without a scheduler, as given.
    """
    root = tmp_path_factory.mktemp("cluster")
    frame = _write_inputs(root)
    _stale_outputs(root / "out-npy")
    scheduler = ["--scheduler", cluster.scheduler_address]
    # The workers of the module's cluster run in this process: absolute paths.
    config_argv = ["cluster", root / "x.npy", "--n-clusters", "3", "--chunks", NPY_CHUNKS,
                   "--out", root / "out-config", "--quiet"]
    commands = {f"cluster {fmt}": ["cluster", *run["argv"], "--out", f"out-{fmt}",
                                   *scheduler]
                for fmt, run in RUNS.items() if fmt != "zarr" or HAS_ZARR}
    commands.update({name: [*argv, "--out", "out-error"]
                     for name, (argv, _) in ERRORS.items()})
    commands["bench"] = BENCH
    commands["json"] = ["cluster", "x.csv", "--n-clusters", "3", "--exclude-columns",
                        ",".join(EXCLUDED), "--sample-weight-column", "w", "--json",
                        "--out", "out-json", *scheduler]
    commands["nan"] = ["cluster", "nan.csv", "--n-clusters", "3", "--sample-weight-column",
                       "w", "--out", "out-error", *scheduler]
    results = {name: _main_captured(argv, cwd=root) for name, argv in commands.items()}
    # After the in-process runs, not beside them: their stderr holds the cluster's
    # warnings, which another client's tasks on the same keys could add to.
    env = {**_env(), "DASK_SCHEDULER_ADDRESS": cluster.scheduler_address}
    proc = subprocess.run(_command(*config_argv), cwd=root, capture_output=True,
                          text=True, env=env, timeout=TIMEOUT)
    results["scheduler from config"] = (proc.returncode, proc.stdout, proc.stderr)
    return root, frame, results


def _direct_input(root, fmt, frame):
    """(X, sample_weight) as the CLI should read them, through public dask readers."""
    if fmt == "npy":
        return da.from_array(np.load(root / "x.npy"), chunks=(NPY_CHUNKS, -1)), None
    if fmt == "zarr":
        return da.from_zarr(str(root / "x.zarr")), None
    if fmt == "parquet":
        ddf = dd.read_parquet(root / "x.parquet")
        return ddf[["a", "b", "c", "w"]].to_dask_array(lengths=True), None
    # The CLI hands the fit X with its rows known (read once, persisted when it fits).
    ddf = dd.read_csv(root / "x.csv")
    return (ddf[["a", "c"]].to_dask_array(lengths=True),
            ddf["w"].to_dask_array(lengths=True))


def _read_labels(out):
    if (out / "labels.zarr").exists():
        return da.from_zarr(str(out / "labels.zarr")).compute()
    frame = pd.read_parquet(out / "labels.parquet")
    # Each row's number in INPUT, to join the labels back to it.
    assert list(frame.columns) == ["row", "label"]
    np.testing.assert_array_equal(frame["row"].to_numpy(), np.arange(len(frame)))
    return frame["label"].to_numpy()


@pytest.mark.parametrize("fmt", [
    "npy",
    pytest.param("zarr", marks=pytest.mark.skipif(not HAS_ZARR, reason="needs zarr")),
    "parquet",
    "csv",
])
def test_cluster_matches_a_direct_fit(runs, fmt):
    root, frame, results = runs
    code, stdout, stderr = results[f"cluster {fmt}"]
    assert code == 0, stderr
    assert "Traceback" not in stderr
    # e.g. distributed's "different run_spec for key" when a frame's graph is lowered anew
    assert "WARNING" not in stderr, stderr
    out = root / f"out-{fmt}"
    # In the input's family: .parquet/.csv in, parquet out.
    labels_name = ("labels.zarr" if HAS_ZARR and fmt in ("npy", "zarr")
                   else "labels.parquet")
    # Written through a temporary folder: nothing else left behind, an earlier run's
    # files replaced (--overwrite), the user's file kept.
    expected = ["centers.npy", labels_name, "model.json", "summary.json"]
    if fmt == "npy":
        expected.append("notes.txt")
        assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    assert not (out / labels_name / "stale").exists()
    assert not [p for p in root.iterdir() if ".chunkml-" in p.name]

    X, sample_weight = _direct_input(root, fmt, frame)
    km = chunkml.KMeans(**RUNS[fmt]["params"]).fit(X, sample_weight=sample_weight)
    centers = np.load(out / "centers.npy")
    assert centers.dtype == km.cluster_centers_.dtype
    np.testing.assert_allclose(centers, km.cluster_centers_, rtol=1e-7)
    labels = _read_labels(out)
    assert labels.shape == (N_SAMPLES,)
    np.testing.assert_array_equal(labels, km.labels_.compute())

    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"] == str(root / f"x.{fmt}")
    assert summary["format"] == fmt
    assert summary["n_samples"] == N_SAMPLES
    assert summary["n_features"] == X.shape[1]
    assert summary["n_clusters"] == RUNS[fmt]["params"]["n_clusters"]
    assert summary["n_iter"] == km.n_iter_
    np.testing.assert_allclose(summary["inertia"], km.inertia_, rtol=1e-7)
    np.testing.assert_allclose(np.array(summary["centers"]), km.cluster_centers_,
                               rtol=1e-7)
    assert summary["outputs"] == {"centers": "centers.npy", "labels": labels_name,
                                  "model": "model.json"}
    # The model chunkml predict reads: the same centers, every digit, and the columns.
    model = json.loads((out / "model.json").read_text())
    assert (model["format"], model["format_version"]) == ("chunkml-kmeans-model", 1)
    assert model["dtype"] == str(centers.dtype)
    np.testing.assert_array_equal(np.array(model["centers"], dtype=centers.dtype), centers)
    assert model["feature_names"] == summary["columns"]
    expected_columns = {"npy": None, "zarr": None, "parquet": ["a", "b", "c", "w"],
                        "csv": ["a", "c"]}[fmt]
    assert summary["columns"] == expected_columns
    assert summary["sample_weight_column"] == ("w" if fmt == "csv" else None)
    seconds = summary["seconds"]
    # .parquet/.csv that fit in memory are persisted without --persist too.
    persisted = "--persist" in RUNS[fmt]["argv"] or fmt in ("parquet", "csv")
    assert sorted(seconds) == sorted(["fit", "labels", "total"]
                                     + (["read"] if persisted else []))
    assert all(0 <= value <= seconds["total"] for value in seconds.values())

    # The table comes last; without --no-progress, progress before it.
    assert stdout.rstrip().splitlines()[-1].startswith("total [s]")
    assert re.search(rf"^rows\s+{N_SAMPLES:,}$", stdout, re.M)
    assert re.search(rf"^iterations\s+{km.n_iter_}$", stdout, re.M)
    if "--no-progress" in RUNS[fmt]["argv"]:
        assert stdout.splitlines()[0].startswith("format")
    else:
        assert "dask dashboard: http" in stdout
        # One progress bar for the fit, its last line naming the iterations.
        assert re.search(rf"^KMeans \[.*Lloyd: {km.n_iter_} iterations?  inertia",
                         stdout, re.M)
        assert f"wrote out-{fmt}/summary.json" in stdout


@pytest.mark.parametrize("name", list(ERRORS))
def test_cluster_error_is_one_line_and_exit_2(runs, name):
    root, _, results = runs
    code, _, stderr = results[name]
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"chunkml: error: {ERRORS[name][1]}")
    # Each stops before any work, even before creating --out.
    assert not (root / "out-error").exists()


def test_json_is_the_summary_and_excluded_columns_are_not_features(runs):
    root, frame, results = runs
    code, stdout, stderr = results["json"]
    assert code == 0, stderr
    # stdout holds one JSON object, the summary; the progress went to stderr.
    assert stdout.count("\n") == 1
    summary = json.loads(stdout)
    assert summary == json.loads((root / "out-json" / "summary.json").read_text())
    assert "dask dashboard: http" in stderr
    assert re.search(r"^KMeans \[.*Lloyd: \d+ iterations?  inertia", stderr, re.M)
    assert summary["columns"] == ["a", "b", "c"]
    ddf = dd.read_csv(root / "x.csv")
    km = chunkml.KMeans(n_clusters=3, random_state=0).fit(
        ddf[["a", "b", "c"]].to_dask_array(lengths=True),
        sample_weight=ddf["w"].to_dask_array(lengths=True))
    np.testing.assert_allclose(np.array(summary["centers"]), km.cluster_centers_,
                               rtol=1e-7)
    assert summary["n_iter"] == km.n_iter_


def test_nan_and_inf_are_one_line_naming_each_column_and_count(runs):
    root, _, results = runs
    code, stdout, stderr = results["nan"]
    assert code == 2, stderr
    assert stderr == ("chunkml: error: nan.csv: column 'b' holds 2 NaN; column 'c' holds "
                      "1 inf; column 'w' (the sample weights) holds 1 inf; drop or fill "
                      "those rows first\n")
    assert not (root / "out-error").exists()


def test_the_scheduler_comes_from_dask_config(runs, cluster):
    root, _, results = runs
    code, stdout, stderr = results["scheduler from config"]
    assert code == 0, stderr
    summary = json.loads((root / "out-config" / "summary.json").read_text())
    assert summary["scheduler"] == cluster.scheduler_address
    # --quiet: the table only.
    assert stdout.splitlines()[0].startswith("format")
    X = da.from_array(np.load(root / "x.npy"), chunks=(NPY_CHUNKS, -1))
    km = chunkml.KMeans(n_clusters=3, random_state=0).fit(X)
    np.testing.assert_allclose(np.load(root / "out-config" / "centers.npy"),
                               km.cluster_centers_, rtol=1e-7)


def test_bench_prints_the_table_with_ratios_and_the_floor(runs):
    _, _, results = runs
    code, stdout, stderr = results["bench"]
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "generating 20,000 x 2 float64 rows in 4 chunks" in stdout
    assert re.search(r"^implementation\s+fit \[s\]\s+iterations\s+inertia\s+ratio$",
                     stdout, re.M)
    number = r"\d+\.\d+"
    chunkml_row = re.search(rf"^chunkml\s+({number})\s+(\d+)\s+(\S+)\s+1\.00$", stdout,
                            re.M)
    assert chunkml_row, stdout
    sklearn_row = re.search(rf"^sklearn\s+({number})\s+\d+\s+(\S+)\s+({number})$", stdout,
                            re.M)
    assert sklearn_row, stdout
    # Ratio = peer's fit time / chunkml's, of the times before they were rounded to 3
    # decimals as printed: within the ratios of the rounded times' bounds.
    peer, own = float(sklearn_row[1]), float(chunkml_row[1])
    low = (peer - 0.0005) / (own + 0.0005)
    high = (peer + 0.0005) / max(own - 0.0005, 1e-9)
    assert low * 0.99 - 0.01 <= float(sklearn_row[3]) <= high * 1.01 + 0.01
    # Both find the same three well separated blobs.
    assert float(sklearn_row[2]) == pytest.approx(float(chunkml_row[3]), rel=1e-3)
    if importlib.util.find_spec("dask_ml") is not None:
        assert re.search(rf"^dask_ml\s+{number}\s+\d+\s+\S+\s+{number}$", stdout, re.M)
    else:
        assert re.search(r"^dask_ml\s+not installed \(pip install", stdout, re.M)
    assert re.search(rf"^one read of X \(X.sum\(\) on the persisted array\): {number} s, "
                     rf"{number} GB/s$", stdout, re.M)
    assert re.search(rf"^chunkml, one Lloyd iteration: {number} s, {number} x that floor$",
                     stdout, re.M)


def test_bench_json_is_one_object_with_every_implementation(capsys):
    assert cli.main(["bench", "--n-samples", "2000", "--chunks", "500", "--threads", "2",
                     "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    summary = json.loads(captured.out)
    assert (summary["n_samples"], summary["n_chunks"], summary["threads"]) == (2000, 4, 2)
    results = {r["implementation"]: r for r in summary["results"]}
    assert sorted(results) == ["chunkml", "dask_ml", "sklearn"]
    assert results["chunkml"]["ratio"] == 1.0
    # Both find the same three blobs: the same centers up to order, the same inertia.
    chunkml_centers = np.array(sorted(results["chunkml"]["centers"]))
    np.testing.assert_allclose(np.array(sorted(results["sklearn"]["centers"])),
                               chunkml_centers, rtol=1e-3)
    assert results["sklearn"]["inertia"] == pytest.approx(results["chunkml"]["inertia"],
                                                          rel=1e-3)
    assert summary["read_seconds"] > 0 and summary["lloyd_iteration_seconds"] > 0


# -- in-process: no new interpreter ------------------------------------------------------

@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    frame = _frame()
    np.save(root / "x.npy", frame[["a", "b", "c"]].to_numpy())
    return root / "x.npy"


def _cluster_argv(path, out, cluster, *more):
    return ["cluster", str(path), "--n-clusters", "3", "--chunks", str(NPY_CHUNKS),
            "--out", str(out), "--scheduler", cluster.scheduler_address, "--no-progress",
            *more]


def test_labels_fall_back_to_parquet_without_zarr(npy, tmp_path, cluster, monkeypatch):
    # None in sys.modules makes every import of zarr raise ImportError.
    monkeypatch.setitem(sys.modules, "zarr", None)
    out = tmp_path / "out"
    assert cli.main(_cluster_argv(npy, out, cluster)) == 0
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["centers.npy", "labels.parquet",
                                                     "model.json", "summary.json"]
    parts = sorted(p.name for p in (out / "labels.parquet").iterdir())
    assert parts == [f"part.{i:06d}.parquet" for i in range(len(parts))]
    X = da.from_array(np.load(npy), chunks=(NPY_CHUNKS, -1))
    km = chunkml.KMeans(n_clusters=3, random_state=0).fit(X)
    labels = pd.read_parquet(out / "labels.parquet")["label"].to_numpy()
    np.testing.assert_array_equal(labels, km.labels_.compute())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outputs"]["labels"] == "labels.parquet"


@pytest.mark.parametrize("missing, argv, message", [
    (["zarr", "pyarrow"], [], 'writing the labels needs zarr (labels.zarr) or pyarrow '
                              '(labels.parquet): pip install "chunkml[zarr]" or '
                              'pip install "chunkml[parquet]"'),
    (["zarr"], ["x.zarr"], 'reading .zarr needs zarr: pip install "chunkml[zarr]"'),
    # With zarr for the labels, only the reading of .parquet needs pyarrow.
    pytest.param(["pyarrow"], ["x.parquet"], "reading .parquet needs dask.dataframe and "
                 "pyarrow", marks=pytest.mark.skipif(not HAS_ZARR, reason="needs zarr")),
])
def test_a_missing_extra_is_named_before_any_work(npy, tmp_path, capsys, monkeypatch,
                                                  missing, argv, message):
    path = npy
    if argv:
        path = tmp_path / argv[0]
        os.mkdir(path)
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "out"
    code = cli.main(["cluster", str(path), "--n-clusters", "3", "--out", str(out)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"chunkml: error: {message}")
    assert captured.err.count("\n") == 1
    assert 'pip install "chunkml[' in captured.err
    assert not out.exists()


def test_ctrl_c_while_writing_labels_leaves_the_earlier_files(npy, tmp_path, cluster,
                                                               capsys, monkeypatch):
    import dask.dataframe

    def interrupted_write(*args, **kwargs):
        # Part of the output exists when Ctrl-C arrives.
        os.makedirs(os.path.join(args[1], "c"))
        raise KeyboardInterrupt

    monkeypatch.setattr(da, "to_zarr", interrupted_write)
    monkeypatch.setattr(dask.dataframe.DataFrame, "to_parquet",
                        lambda self, path, **kwargs: interrupted_write(self, path))
    out = tmp_path / "out"
    _stale_outputs(out)
    before = {p.relative_to(out): p.read_bytes() if p.is_file() else None
              for p in out.rglob("*")}
    assert cli.main(_cluster_argv(npy, out, cluster, "--overwrite")) == 130
    assert capsys.readouterr().err == "interrupted\n"
    # Every earlier file as it was, and no temporary file or folder left.
    assert {p.relative_to(out): p.read_bytes() if p.is_file() else None
            for p in out.rglob("*")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not logging.getLogger("chunkml").handlers


def test_ctrl_c_during_the_fit_closes_the_cluster_and_exits_130(npy, tmp_path, capsys,
                                                               monkeypatch):
    import distributed

    made = _interrupt_fits(monkeypatch)
    out = tmp_path / "out"
    code = cli.main(["cluster", str(npy), "--n-clusters", "3", "--out", str(out)])
    assert code == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert len(made) == 1
    assert made[0].status == distributed.core.Status.closed
    assert not out.exists()
    assert not logging.getLogger("chunkml").handlers


@pytest.mark.parametrize("argv, message", [
    (["--columns", "a"], "--columns applies to .parquet and .csv input only"),
    (["--sample-weight-column", "w"],
     "--sample-weight-column applies to .parquet and .csv input only"),
    (["--exclude-columns", "a"],
     "--exclude-columns applies to .parquet and .csv input only"),
    (["--blocksize", "16MB"], "--blocksize applies to .csv input only"),
    (["--init", "centers.npy"], "--init: cannot read 'centers.npy'"),
])
def test_option_not_for_this_input_is_exit_2(npy, tmp_path, capsys, monkeypatch, argv,
                                             message):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["cluster", str(npy), "--n-clusters", "3", "--out", str(out),
                     *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"chunkml: error: {message}")
    assert captured.err.count("\n") == 1
    assert not out.exists()


def test_k_greater_than_rows_counted_in_the_fit_is_exit_2(tmp_path, cluster, capsys):
    # The rows of a csv are counted as it is first read, on the cluster.
    _frame().to_csv(tmp_path / "x.csv", index=False)
    out = tmp_path / "out"
    argv = ["cluster", str(tmp_path / "x.csv"), "--n-clusters", str(N_SAMPLES + 1),
            "--columns", "a,b", "--out", str(out), "--scheduler", cluster.scheduler_address,
            "--no-progress"]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"chunkml: error: {tmp_path / 'x.csv'}: n_samples={N_SAMPLES} "
                            f"should be >= n_clusters={N_SAMPLES + 1}.\n")
    # A failed run leaves no --out behind.
    assert not out.exists()
    assert not logging.getLogger("chunkml").handlers


def test_excluding_a_column_that_is_not_there_is_exit_2(tmp_path, capsys):
    _frame().to_csv(tmp_path / "x.csv", index=False)
    out = tmp_path / "out"
    assert cli.main(["cluster", str(tmp_path / "x.csv"), "--n-clusters", "3",
                     "--exclude-columns", "name,zz", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"chunkml: error: --exclude-columns: no column 'zz' in "
        f"{str(tmp_path / 'x.csv')!r} (columns: a, name, b, c, w)\n")
    assert not out.exists()


def test_a_csv_is_read_in_blocks_of_blocksize(tmp_path, cluster):
    _frame().drop(columns="name").to_csv(tmp_path / "x.csv", index=False)
    out = tmp_path / "out"
    assert cli.main(["cluster", str(tmp_path / "x.csv"), "--n-clusters", "3",
                     "--blocksize", "20kB", "--out", str(out), "--scheduler",
                     cluster.scheduler_address, "--quiet"]) == 0
    ddf = dd.read_csv(tmp_path / "x.csv", blocksize=20_000)
    assert ddf.npartitions > 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_chunks"] == ddf.npartitions
    km = chunkml.KMeans(n_clusters=3, random_state=0).fit(ddf.to_dask_array(lengths=True))
    np.testing.assert_allclose(np.load(out / "centers.npy"), km.cluster_centers_,
                               rtol=1e-7)
    np.testing.assert_array_equal(_read_labels(out), km.labels_.compute())


def test_the_default_blocksize_gives_every_thread_a_block():
    from chunkml.cli import _input

    MiB = 2**20
    assert _input.default_blocksize(100 * MiB, 8) == 100 * MiB // 8
    # Small files are one block, large ones dask's 64 MiB blocks.
    assert _input.default_blocksize(1000, 8) == MiB
    assert _input.default_blocksize(10_000 * MiB, 2) == 64 * MiB


def test_init_from_a_npy_file(npy, tmp_path, cluster):
    X = np.load(npy)
    init = X[[0, 1, 2]]
    np.save(tmp_path / "init.npy", init)
    out = tmp_path / "out"
    assert cli.main(_cluster_argv(npy, out, cluster, "--init",
                                  str(tmp_path / "init.npy"))) == 0
    km = chunkml.KMeans(n_clusters=3, init=init).fit(
        da.from_array(X, chunks=(NPY_CHUNKS, -1)))
    np.testing.assert_allclose(np.load(out / "centers.npy"), km.cluster_centers_,
                               rtol=1e-7)


def _record_fit_input(monkeypatch):
    """Make KMeans.fit record how it gets X: in memory, with known chunk sizes."""
    from chunkml.dask_glue import persist

    seen = []
    fit = chunkml.KMeans.fit

    def recording(self, X, y=None, sample_weight=None):
        seen.append((persist.in_memory(X), X.chunks[0], sample_weight is not None
                     and sample_weight.chunks[0] == X.chunks[0]))
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(chunkml.KMeans, "fit", recording)
    return seen


@pytest.mark.parametrize("fits", [True, False])
def test_a_csv_that_fits_in_memory_is_persisted_once(tmp_path, cluster, monkeypatch,
                                                     fits, caplog):
    """.csv rows are unknown until read: persisted at once when a bound of their size
    fits, else counted in one pass so that the fit decides on the real size."""
    from chunkml.dask_glue import persist

    frame = _frame().drop(columns="name")
    frame.to_csv(tmp_path / "x.csv", index=False)
    if not fits:
        monkeypatch.setattr(persist, "available_memory", lambda: 1_000)
    seen = _record_fit_input(monkeypatch)
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="chunkml"):
        assert cli.main(["cluster", str(tmp_path / "x.csv"), "--n-clusters", "3",
                         "--columns", "a,b,c", "--sample-weight-column", "w",
                         "--blocksize", "20kB", "--out", str(out), "--scheduler",
                         cluster.scheduler_address, "--quiet"]) == 0
    ddf = dd.read_csv(tmp_path / "x.csv", blocksize=20_000)
    sizes = tuple(len(part) for part in ddf.partitions)
    # Every block's rows known (so the fit can tell X's bytes), in memory when it fits.
    assert seen == [(fits, sizes, True)]
    assert "nan bytes" not in caplog.text
    if not fits:
        assert f"streaming X ({N_SAMPLES * 3 * 8} bytes)" in caplog.text
    summary = json.loads((out / "summary.json").read_text())
    assert ("read" in summary["seconds"]) == fits
    km = chunkml.KMeans(n_clusters=3, random_state=0).fit(
        ddf[["a", "b", "c"]].to_dask_array(lengths=True),
        sample_weight=ddf["w"].to_dask_array(lengths=True))
    np.testing.assert_allclose(np.load(out / "centers.npy"), km.cluster_centers_,
                               rtol=1e-7)
    np.testing.assert_array_equal(_read_labels(out), km.labels_.compute())
