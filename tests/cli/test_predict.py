"""``chunkml predict MODEL INPUT``: labels (and distances) of new data, against numpy.

One subprocess runs the real entry point on a .csv; the rest calls ``cli.main`` on the
package's cluster.
"""

import importlib.util
import json
import subprocess

import dask.array as da
import numpy as np
import pytest

from chunkml import cli

from ._run import TIMEOUT, _command, _env

pd = pytest.importorskip("pandas")
pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

HAS_ZARR = importlib.util.find_spec("zarr") is not None
CENTERS = np.array([[-6.0, 0.0, 1.0], [6.0, 0.0, -1.0], [0.0, 6.0, 0.5]])
N_SAMPLES = 700


def _data(n_samples=N_SAMPLES, seed=3):
    rng = np.random.default_rng(seed)
    return CENTERS[rng.integers(3, size=n_samples)] + 2.0 * rng.normal(size=(n_samples, 3))


def _model(feature_names=None, **changes):
    """A model.json as documented in chunkml/cli/_model.py, written by hand."""
    model = {"format": "chunkml-kmeans-model", "format_version": 1,
             "chunkml_version": "0.1.0", "n_clusters": 3, "n_features": 3,
             "dtype": "float64", "feature_names": feature_names,
             "centers": CENTERS.tolist(), "params": {}, "inertia": 1.0, "n_iter": 1}
    model.update(changes)
    return model


def _write_model(path, model):
    path.write_text(json.dumps(model))
    return path


def _reference(X, centers=CENTERS):
    distances = np.sqrt(((X[:, None, :] - centers[None]) ** 2).sum(axis=-1))
    return distances.argmin(axis=1), distances


def _read_rows(path):
    if path.suffix == ".zarr":
        return da.from_zarr(str(path)).compute()
    frame = pd.read_parquet(path)
    # First each row's number in INPUT, to join the rows back to it.
    assert frame.columns[0] == "row"
    np.testing.assert_array_equal(frame["row"].to_numpy(), np.arange(len(frame)))
    frame = frame.drop(columns="row")
    return frame.to_numpy()[:, 0] if list(frame.columns) == ["label"] else frame.to_numpy()


def test_predict_a_csv_by_the_model_columns_through_the_entry_point(tmp_path):
    X = _data()
    # The model's columns in another order, and a column it does not know.
    frame = pd.DataFrame({"id": np.arange(N_SAMPLES), "c": X[:, 2], "a": X[:, 0],
                          "b": X[:, 1]})
    frame.to_csv(tmp_path / "x.csv", index=False)
    _write_model(tmp_path / "model.json", _model(["a", "b", "c"]))
    proc = subprocess.run(
        # Several blocks: the row numbers run on across them.
        _command("predict", "model.json", "x.csv", "--out", "out", "--distances",
                 "--json", "--blocksize", "10kB"),
        cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_samples"] == N_SAMPLES
    assert summary["columns"] == ["a", "b", "c"]
    assert summary["n_chunks"] > 1
    # .csv in: parquet out, whatever is installed.
    assert summary["outputs"] == {"labels": "labels.parquet",
                                  "distances": "distances.parquet"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "distances.parquet", "labels.parquet", "summary.json"]
    labels, distances = _reference(X)
    np.testing.assert_array_equal(_read_rows(tmp_path / "out" / "labels.parquet"), labels)
    np.testing.assert_allclose(_read_rows(tmp_path / "out" / "distances.parquet"),
                               distances, rtol=1e-7)


def _predict(cluster, *argv):
    return cli.main(["predict", *map(str, argv), "--scheduler", cluster.scheduler_address,
                     "--quiet"])


def test_predict_a_npy_in_row_order(tmp_path, cluster):
    X = _data()
    np.save(tmp_path / "x.npy", X)
    model = _write_model(tmp_path / "model.json", _model())
    out = tmp_path / "out"
    assert _predict(cluster, model, tmp_path / "x.npy", "--chunks", 200, "--out", out) == 0
    name = "labels.zarr" if HAS_ZARR else "labels.parquet"
    assert sorted(p.name for p in out.iterdir()) == [name, "summary.json"]
    np.testing.assert_array_equal(_read_rows(out / name), _reference(X)[0])
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n_samples"], summary["n_chunks"]) == (N_SAMPLES, 4)


@pytest.mark.skipif(not HAS_ZARR, reason="needs zarr")
def test_zarr_outputs_are_blosc_lz4_bit_shuffled(tmp_path, cluster):
    zarr = pytest.importorskip("zarr")
    if int(zarr.__version__.split(".")[0]) < 3:
        pytest.skip("zarr 2 keeps its default compressor (Blosc LZ4)")
    X = _data()
    np.save(tmp_path / "x.npy", X)
    model = _write_model(tmp_path / "model.json", _model())
    out = tmp_path / "out"
    assert _predict(cluster, model, tmp_path / "x.npy", "--chunks", 200, "--distances",
                    "--out", out) == 0
    labels, distances = _reference(X)
    for name, expected in [("labels.zarr", labels), ("distances.zarr", distances)]:
        stored = zarr.open_array(str(out / name), mode="r")
        (codec,) = stored.compressors
        assert (type(codec).__name__, codec.cname.value, codec.shuffle.value) == (
            "BloscCodec", "lz4", "bitshuffle"), name
        np.testing.assert_allclose(stored[:], expected, rtol=1e-7)


def test_cluster_then_predict_gives_the_fit_labels(tmp_path, cluster):
    np.save(tmp_path / "x.npy", _data())
    fit = tmp_path / "fit"
    assert cli.main(["cluster", str(tmp_path / "x.npy"), "--n-clusters", "3", "--out",
                     str(fit), "--scheduler", cluster.scheduler_address, "--quiet"]) == 0
    model = json.loads((fit / "model.json").read_text())
    assert (model["format"], model["format_version"]) == ("chunkml-kmeans-model", 1)
    np.testing.assert_array_equal(np.array(model["centers"]), np.load(fit / "centers.npy"))
    # New data: labels by the fitted centers.
    new = _data(300, seed=4)
    np.save(tmp_path / "new.npy", new)
    assert _predict(cluster, fit / "model.json", tmp_path / "new.npy", "--out",
                    tmp_path / "out") == 0
    name = "labels.zarr" if HAS_ZARR else "labels.parquet"
    np.testing.assert_array_equal(_read_rows(tmp_path / "out" / name),
                                  _reference(new, np.load(fit / "centers.npy"))[0])


@pytest.mark.parametrize("model, message", [
    ("not json", "MODEL {model!r} is not JSON"),
    (_model(format="sklearn"), "MODEL {model!r} is not a chunkml model"),
    (_model(format_version=2), "MODEL {model!r} has format_version 2; this chunkml "
                               "reads 1 to 1: upgrade chunkml"),
    (_model(centers=[[0.0, 1.0, 2.0]]), "MODEL {model!r} holds no 3 x 3 centers"),
    (_model(centers=[[0.0, 1.0, "nan"]] * 3), "MODEL {model!r} holds no 3 x 3 centers"),
    (_model(n_features=2, centers=[[0.0, 1.0]] * 3),
     "{input!r} has 3 features; the model {model!r} has 2"),
    (_model(["a", "b", "zz"]), "MODEL {model!r}: no column 'zz' in {csv!r}"),
])
def test_a_bad_model_is_one_line_and_exit_2(tmp_path, capsys, model, message):
    X = _data(20)
    np.save(tmp_path / "x.npy", X)
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(tmp_path / "x.csv", index=False)
    path = tmp_path / "model.json"
    path.write_text(model if isinstance(model, str) else json.dumps(model))
    is_frame = isinstance(model, dict) and model["feature_names"]
    data = tmp_path / ("x.csv" if is_frame else "x.npy")
    out = tmp_path / "out"
    assert cli.main(["predict", str(path), str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chunkml: error: " + message.format(
        model=str(path), input=str(data), csv=str(data))), err
    assert err.count("\n") == 1
    assert not out.exists()


def test_predict_replaces_nothing_without_overwrite(tmp_path, capsys):
    np.save(tmp_path / "x.npy", _data(20))
    model = _write_model(tmp_path / "model.json", _model())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("mine")
    assert cli.main(["predict", str(model), str(tmp_path / "x.npy"), "--out",
                     str(tmp_path / "out")]) == 2
    assert "exists and this run did not write it" in capsys.readouterr().err
    assert (tmp_path / "out" / "summary.json").read_text() == "mine"
