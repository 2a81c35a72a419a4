"""What ``chunkml cluster`` does to files: nothing lost, nothing mixed (issue 11).

The signal tests run the real entry point, ``python -m chunkml cluster``, and stop it at
each stage of writing with ``CHUNKML_TEST_SIGNAL_AT=<stage>:<SIGNAL>`` (the process sends
itself the signal there, see chunkml/cli/_files.py), each stage once, a few at a time
from one fixture; the checks that need no new interpreter call ``cli.main``
in-process, on the cli tests' cluster.
"""

import concurrent.futures
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess

import dask.array as da
import numpy as np
import pytest

from chunkml import cli

from ._run import TIMEOUT, _command, _env, _main_captured

pd = pytest.importorskip("pandas")
pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

HAS_ZARR = importlib.util.find_spec("zarr") is not None
needs_zarr = pytest.mark.skipif(not HAS_ZARR, reason="needs zarr")
LABELS = "labels.zarr" if HAS_ZARR else "labels.parquet"
N_SAMPLES, CHUNKS = 300, 100
# Every stage at which the writer can be stopped, in the order a run reaches them.
STAGES = ["labels-block", "labels", "centers", "summary", "publish",
          "aside:summary.json", f"aside:{LABELS}", "aside:centers.npy",
          f"in:{LABELS}", "in:centers.npy", "published"]
SIGNALS = ["SIGINT", "SIGTERM"]
# The signal each stage is stopped with. Both go to one handler (chunkml/cli/_errors.py:
# stop_signals_interrupt raises KeyboardInterrupt, DeferredSignals records the signal),
# so each stage runs once, the two alternating: each signal stops a run before the
# deferred publishing (labels-block ... summary), inside it (publish, aside:*, in:*), and
# after the last rename (published, with both: the run finishes, then exits).
STAGE_SIGNALS = [(stage, SIGNALS[i % 2]) for i, stage in enumerate(STAGES)]
STAGE_SIGNALS.append(("published", SIGNALS[len(STAGES) % 2]))
# A few interpreters at a time: each holds about 300 MB.
PARALLEL = 6


def _blobs(n_samples=N_SAMPLES, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 6.0], [0.0, -6.0]])
    return centers[rng.integers(4, size=n_samples)] + rng.normal(size=(n_samples, 2))


def _hashes(root):
    """{relative path: sha256 of the file, or "dir"} of everything under ``root``."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[os.path.relpath(os.path.join(directory, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return found


def _leftovers(parent):
    """Temporary folders of a run (``.<out>.chunkml-<random>.tmp``) in ``parent``."""
    return sorted(name for name in os.listdir(parent) if ".chunkml-" in name)


def _argv(out, *more, n_clusters=4, path="x.npy"):
    return ["cluster", path, "--n-clusters", n_clusters, "--chunks", CHUNKS,
            "--init", "k-means++", "--out", out, "--no-progress", *more]


@pytest.fixture(scope="module")
def root(tmp_path_factory, cluster):
    """x.npy, and ``previous``: a complete earlier result (k=3) written by the CLI."""
    root = tmp_path_factory.mktemp("files")
    np.save(root / "x.npy", _blobs())
    code = cli.main([*map(str, _argv(root / "previous", n_clusters=3, path=root / "x.npy")),
                     "--scheduler", cluster.scheduler_address])
    assert code == 0
    assert sorted(os.listdir(root / "previous")) == sorted(
        ["centers.npy", LABELS, "model.json", "summary.json"])
    return root


def _corrupt_a_chunk(path):
    """Overwrite the compressor's header of the second stored chunk of ``path``."""
    chunks = sorted(
        os.path.join(directory, name) for directory, _, names in os.walk(path)
        for name in names if not name.startswith(".") and name != "zarr.json")
    with open(chunks[1], "r+b") as f:
        f.seek(4)
        f.write(b"\xa5" * 12)


def _csv_with_text_after_the_sample(path):
    # dask infers the dtypes from the first 256 kB: the bad cell lies well past them.
    frame = pd.DataFrame(_blobs(12_000), columns=["a", "b"]).astype(object)
    frame.loc[11_000, "b"] = "oops"
    frame.to_csv(path, index=False)


@pytest.fixture(scope="module")
def runs(root, cluster):
    """The runs of this module's first tests; {name: (code, stdout, stderr, before, out)}.

    The signal stages are ``python -m chunkml`` processes, a few at a time (the process
    signals itself); the runs that end in an error call ``cli.main`` in this process, on
    the cli tests' cluster.
    """
    commands = {}
    for stage, signal_name in STAGE_SIGNALS:
        out = f"out-{stage.replace(':', '-')}-{signal_name}"
        shutil.copytree(root / "previous", root / out)
        commands[(stage, signal_name)] = (
            _argv(out, "--overwrite"), f"{stage}:{signal_name}", out)
    # Into an --out (and parents) that did not exist: the run makes none of them, or
    # all of them complete.
    commands[("fresh", "summary")] = (_argv("new1/deeper/out"), "summary:SIGTERM",
                                      "new1/deeper/out")
    commands[("fresh", "published")] = (_argv("new2/out"), "published:SIGINT", "new2/out")
    _csv_with_text_after_the_sample(root / "late.csv")
    commands["text after the sample"] = (
        ["cluster", "late.csv", "--n-clusters", 4, "--out", "new3/out", "--no-progress"],
        None, "new3/out")
    commands["oversampling 1e9"] = (_argv("new4", "--init", "k-means||",
                                           "--oversampling-factor", "1e9"), None,
                                    "new4")
    if HAS_ZARR:
        da.to_zarr(da.from_array(_blobs(), chunks=(CHUNKS, -1)), str(root / "x.zarr"))
        _corrupt_a_chunk(root / "x.zarr")
        commands["corrupted zarr chunk"] = (
            ["cluster", "x.zarr", "--n-clusters", 4, "--out", "new5", "--no-progress"],
            None, "new5")
    before = {name: _hashes(root / out) if os.path.isdir(root / out) else None
              for name, (_, _, out) in commands.items()}

    def run(item):
        name, (argv, signal_at, _) = item
        env = _env()
        env["CHUNKML_TEST_SIGNAL_AT"] = signal_at
        proc = subprocess.run(_command(*argv), cwd=root, capture_output=True, text=True,
                              env=env, timeout=TIMEOUT)
        return name, (proc.returncode, proc.stdout, proc.stderr, before[name])

    assert "CHUNKML_TEST_SIGNAL_AT" not in os.environ
    results = {name: (*_main_captured([*argv, "--scheduler", cluster.scheduler_address],
                                      cwd=root), before[name])
               for name, (argv, signal_at, _) in commands.items() if signal_at is None}
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        results.update(pool.map(run, [(name, command) for name, command in commands.items()
                                      if command[1] is not None]))
    return root, {name: (*results[name], out) for name, (_, _, out) in commands.items()}


def _one_error_line(stderr, code, expected_code):
    assert "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("chunkml: error: "), stderr
    assert code == expected_code, stderr


@pytest.mark.parametrize("stage, signal_name", STAGE_SIGNALS)
def test_a_signal_at_any_stage_of_writing_keeps_the_previous_result(runs, stage,
                                                                   signal_name):
    root, results = runs
    code, stdout, stderr, before, out = results[(stage, signal_name)]
    # Exit 0 would mean the signal never came: the stage is not reached.
    assert code == 130, stderr
    assert stderr == "interrupted\n"
    assert not stdout.strip()
    assert _leftovers(root) == []
    after = _hashes(root / out)
    if stage != "published":
        # Byte for byte the k=3 result, and nothing else in --out.
        assert after == before
        return
    # Past the last rename the new result is complete; the signal stops the run after
    # the previous one is removed.
    assert sorted(after) == sorted(before)
    summary = json.loads((root / out / "summary.json").read_text())
    assert summary["n_clusters"] == 4
    centers = np.load(root / out / "centers.npy")
    np.testing.assert_array_equal(centers, np.array(summary["centers"]))
    assert centers.shape == (4, 2)
    labels = (da.from_zarr(str(root / out / LABELS)).compute() if HAS_ZARR else
              pd.read_parquet(root / out / LABELS)["label"].to_numpy())
    assert labels.shape == (N_SAMPLES,)
    assert set(np.unique(labels)) <= set(range(4))


def test_a_signal_before_publishing_a_new_out_leaves_no_out_nor_its_parents(runs):
    root, results = runs
    code, _, stderr, before, _ = results[("fresh", "summary")]
    assert (code, stderr, before) == (130, "interrupted\n", None)
    assert not (root / "new1").exists()
    assert _leftovers(root) == []


def test_a_new_out_is_published_whole(runs):
    root, results = runs
    code, _, stderr, _, out = results[("fresh", "published")]
    assert (code, stderr) == (130, "interrupted\n")
    assert sorted(os.listdir(root / out)) == sorted(["centers.npy", LABELS,
                                                     "model.json", "summary.json"])
    assert json.loads((root / out / "summary.json").read_text())["n_clusters"] == 4
    assert _leftovers(root) == _leftovers(root / "new2") == []


def test_text_after_the_dtype_sample_is_one_line_naming_the_column(runs):
    root, results = runs
    code, _, stderr, _, _ = results["text after the sample"]
    _one_error_line(stderr, code, 2)
    assert stderr.startswith("chunkml: error: late.csv: column 'b' is not numeric")
    assert "could not convert string to float: 'oops'" in stderr
    # A failed run leaves no --out, nor the parent it would have made.
    assert not (root / "new3").exists()
    assert _leftovers(root) == []


def test_a_huge_oversampling_factor_is_one_line(runs):
    root, results = runs
    code, _, stderr, _, _ = results["oversampling 1e9"]
    # 1 while the estimator runs out of memory, 2 once it rejects the factor itself.
    _one_error_line(stderr, code, 2 if "oversampling" in stderr else 1)
    assert not (root / "new4").exists()


@needs_zarr
def test_a_corrupted_zarr_chunk_is_one_line(runs):
    root, results = runs
    code, _, stderr, _, _ = results["corrupted zarr chunk"]
    _one_error_line(stderr, code, 1)
    assert stderr.startswith("chunkml: error: x.zarr: ")
    assert not (root / "new5").exists()


# -- in-process: refused before any work, or a run on the module's cluster -------------

def _main(cluster, *argv):
    return cli.main([*map(str, argv), "--scheduler", cluster.scheduler_address])


def _make_input(path, kind):
    X = _blobs(seed=1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "npy":
        np.save(path, X)
    elif kind == "zarr":
        da.to_zarr(da.from_array(X, chunks=(CHUNKS, -1)), str(path))
    else:
        os.mkdir(path)
        pd.DataFrame(X, columns=["a", "b"]).to_parquet(os.path.join(path, "part.0.parquet"))


@pytest.mark.parametrize("name, kind, overwrite", [
    ("centers.npy", "npy", False),
    ("centers.npy", "npy", True),
    pytest.param(LABELS, "zarr", True, marks=needs_zarr),
    pytest.param(os.path.join(LABELS, "x.npy"), "npy", True, marks=needs_zarr),
])
def test_an_input_under_an_output_name_is_never_replaced(tmp_path, cluster, capsys,
                                                         name, kind, overwrite):
    out = tmp_path / "out"
    path = out / name
    _make_input(path, kind)
    before = _hashes(out)
    argv = ["cluster", path, "--n-clusters", 3, "--out", out, "--no-progress"]
    code = _main(cluster, *argv, *(["--overwrite"] if overwrite else []))
    err = capsys.readouterr().err
    target = str(out / name.split(os.sep)[0])
    # Said so with or without --overwrite: the input is never replaced.
    assert err.startswith(f"chunkml: error: {target!r} would replace the input "
                          f"{str(path)!r}"), err
    assert err.count("\n") == 1
    assert code == 2
    assert _hashes(out) == before
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", [pytest.param("zarr", marks=needs_zarr), "parquet"])
def test_out_inside_the_input_is_refused(tmp_path, cluster, capsys, kind):
    path = tmp_path / f"x.{kind}"
    _make_input(path, kind)
    before = _hashes(path)
    code = _main(cluster, "cluster", path, "--n-clusters", 3, "--out", path / "results",
                 "--overwrite")
    assert capsys.readouterr().err == (
        f"chunkml: error: --out {str(path / 'results')!r} is inside the input "
        f"{str(path)!r}; chunkml never writes into its input\n")
    assert code == 2
    assert _hashes(path) == before


def test_a_file_of_the_user_beside_the_outputs_is_kept(tmp_path, cluster, capsys):
    # The labels in the format this run does not write, a folder of the user's, and a
    # file. (A parquet INPUT named labels.parquet in --out is refused: its labels are
    # labels.parquet too.)
    out = tmp_path / "out"
    other = "labels.parquet" if HAS_ZARR else "labels.zarr"
    _make_input(out / other, "parquet")
    (out / "notes.txt").write_text("mine")
    np.save(tmp_path / "x.npy", _blobs())
    path = tmp_path / "x.npy"
    before = _hashes(out)
    code = _main(cluster, "cluster", path, "--n-clusters", 3, "--out", out,
                 "--no-progress")
    assert code == 0, capsys.readouterr().err
    after = _hashes(out)
    assert {path: after[path] for path in before} == before
    assert sorted(os.listdir(out)) == sorted(["centers.npy", LABELS, other, "model.json",
                                              "notes.txt", "summary.json"])
    assert _leftovers(tmp_path) == []


def test_out_with_dot_dot_makes_no_stray_folder(tmp_path, cluster, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", _blobs())
    assert _main(cluster, "cluster", "x.npy", "--n-clusters", 3, "--out", "sub/../res",
                 "--no-progress") == 0
    assert sorted(os.listdir(tmp_path)) == ["res", "x.npy"]
    assert sorted(os.listdir(tmp_path / "res")) == sorted(["centers.npy", LABELS,
                                                           "model.json", "summary.json"])


def test_text_in_the_dtype_sample_is_an_error_naming_the_column(tmp_path, cluster,
                                                                capsys):
    frame = pd.DataFrame(_blobs(), columns=["a", "b"]).astype(object)
    frame.loc[5, "b"] = "oops"
    frame.to_csv(tmp_path / "x.csv", index=False)
    out = tmp_path / "out"
    assert _main(cluster, "cluster", tmp_path / "x.csv", "--n-clusters", 3, "--out",
                 out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chunkml: error: column 'b' of {str(tmp_path / 'x.csv')!r} "
                          "is not numeric (dtype ")
    assert err.count("\n") == 1
    assert not out.exists()


def test_an_empty_npy_is_one_error_line(tmp_path, cluster, capsys):
    (tmp_path / "x.npy").write_bytes(b"")
    out = tmp_path / "out"
    assert _main(cluster, "cluster", tmp_path / "x.npy", "--n-clusters", 3, "--out",
                 out) == 2
    assert capsys.readouterr().err == (
        f"chunkml: error: cannot read {str(tmp_path / 'x.npy')!r} as .npy: No data left "
        "in file\n")
    assert not out.exists()


def test_an_old_output_that_cannot_be_removed_is_refused_before_any_work(
        root, tmp_path, cluster, capsys, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(root / "previous", out)
    inner = next(p for p in sorted((out / LABELS).rglob("*")) if p.is_dir())
    if os.geteuid() == 0:
        # root may remove files from a read-only folder: ask as anyone else would.
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: (
            False if os.fspath(path) == str(inner) and mode & os.W_OK
            else access(path, mode, **kwargs)))
    before = _hashes(out)
    inner.chmod(0o555)
    try:
        code = _main(cluster, "cluster", root / "x.npy", "--n-clusters", 4, "--out", out,
                     "--overwrite", "--no-progress")
    finally:
        inner.chmod(0o755)
    assert capsys.readouterr().err == (
        f"chunkml: error: cannot replace {str(out / LABELS)!r}: {str(inner)!r} is not "
        "writable, so its files could not be removed\n")
    assert code == 1
    assert _hashes(out) == before
    assert _leftovers(tmp_path) == []
