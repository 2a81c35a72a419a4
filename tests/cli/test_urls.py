"""fsspec URLs for INPUT, MODEL and --out: ``memory://`` (fsspec's in-memory filesystem,
shared by this process and the package's in-process cluster, so ``cli.main`` runs
in-process) and ``file://``; against direct fits and numpy."""

import importlib.util
import json
import secrets

import dask.array as da
import numpy as np
import pytest

import chunkml
from chunkml import cli

fsspec = pytest.importorskip("fsspec")
pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

HAS_ZARR = importlib.util.find_spec("zarr") is not None
N_SAMPLES = 900
CENTERS = np.array([[-6.0, 0.0, 6.0], [0.0, 6.0, -6.0], [6.0, -6.0, 0.0]])


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return CENTERS[rng.integers(3, size=N_SAMPLES)] + rng.normal(size=(N_SAMPLES, 3))


@pytest.fixture
def memory():
    """A fresh folder of fsspec's memory filesystem: (its URL, the filesystem)."""
    fs = fsspec.filesystem("memory")
    root = f"/chunkml-test-{secrets.token_hex(4)}"
    fs.mkdir(root)
    yield f"memory://{root}", fs
    fs.rm(root, recursive=True)


def _main(cluster, *argv):
    return cli.main([*map(str, argv), "--scheduler", cluster.scheduler_address,
                     "--quiet"])


def _labels(out):
    if (out / "labels.zarr").exists():
        return da.from_zarr(str(out / "labels.zarr")).compute()
    return pd.read_parquet(out / "labels.parquet")["label"].to_numpy()


def test_cluster_reads_a_npy_url_block_by_block(memory, tmp_path, cluster):
    url, fs = memory
    X = _data()
    with fs.open(f"{url}/x.npy", "wb") as f:
        np.save(f, X)
    out = tmp_path / "out"
    assert _main(cluster, "cluster", f"{url}/x.npy", "--n-clusters", 3, "--chunks", 200,
                 "--out", out) == 0
    km = chunkml.KMeans(n_clusters=3, random_state=0).fit(
        da.from_array(X, chunks=(200, -1)))
    np.testing.assert_allclose(np.load(out / "centers.npy"), km.cluster_centers_,
                               rtol=1e-7)
    np.testing.assert_array_equal(_labels(out), km.labels_.compute())
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["input"], summary["n_chunks"]) == (f"{url}/x.npy", 5)


def test_cluster_reads_a_csv_url(memory, tmp_path, cluster):
    url, fs = memory
    X = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame.to_csv(tmp_path / "x.csv", index=False)
    fs.put(str(tmp_path / "x.csv"), f"{url}/x.csv")
    out = tmp_path / "out"
    assert _main(cluster, "cluster", f"{url}/x.csv", "--n-clusters", 3, "--blocksize",
                 "10kB", "--out", out) == 0
    ddf = dd.read_csv(tmp_path / "x.csv", blocksize=10_000)
    km = chunkml.KMeans(n_clusters=3, random_state=0).fit(ddf.to_dask_array(lengths=True))
    np.testing.assert_allclose(np.load(out / "centers.npy"), km.cluster_centers_,
                               rtol=1e-7)
    np.testing.assert_array_equal(_labels(out), km.labels_.compute())
    assert json.loads((out / "summary.json").read_text())["n_chunks"] == ddf.npartitions


@pytest.mark.parametrize("fmt", [
    "parquet", pytest.param("zarr", marks=pytest.mark.skipif(not HAS_ZARR,
                                                             reason="needs zarr"))])
def test_predict_with_a_model_url_on_an_input_url(memory, tmp_path, cluster, fmt):
    url, fs = memory
    X = _data(seed=1)
    if fmt == "parquet":
        pd.DataFrame(X, columns=["a", "b", "c"]).to_parquet(tmp_path / "x.parquet")
        fs.put(str(tmp_path / "x.parquet"), f"{url}/x.parquet")
    else:
        da.to_zarr(da.from_array(X, chunks=(300, -1)), f"{url}/x.zarr")
    model = {"format": "chunkml-kmeans-model", "format_version": 1, "n_clusters": 3,
             "n_features": 3, "dtype": "float64",
             "feature_names": ["a", "b", "c"] if fmt == "parquet" else None,
             "centers": CENTERS.tolist(), "params": {}, "inertia": 1.0, "n_iter": 1}
    with fs.open(f"{url}/model.json", "w") as f:
        f.write(json.dumps(model))
    out = tmp_path / "out"
    assert _main(cluster, "predict", f"{url}/model.json", f"{url}/x.{fmt}", "--out",
                 out) == 0
    expected = ((X[:, None, :] - CENTERS[None]) ** 2).sum(axis=-1).argmin(axis=1)
    np.testing.assert_array_equal(_labels(out), expected)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["model"], summary["input"]) == (f"{url}/model.json",
                                                    f"{url}/x.{fmt}")


def test_file_urls_are_local_paths_with_their_guarantees(tmp_path, cluster, capsys):
    X = _data()
    np.save(tmp_path / "x.npy", X)
    argv = ["cluster", f"file://{tmp_path}/x.npy", "--n-clusters", 3, "--out",
            f"file://{tmp_path}/out"]
    assert _main(cluster, *argv) == 0
    labels = "labels.zarr" if HAS_ZARR else "labels.parquet"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "centers.npy", labels, "model.json", "summary.json"]
    before = (tmp_path / "out" / "centers.npy").read_bytes()
    capsys.readouterr()
    # Nothing replaced without --overwrite, as for a path.
    assert _main(cluster, *argv) == 2
    assert capsys.readouterr().err == (
        f"chunkml: error: {str(tmp_path / 'out' / labels)!r} exists and this run "
        "did not write it; pass --overwrite to replace it, or pick another --out\n")
    assert (tmp_path / "out" / "centers.npy").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".chunkml-" in p.name]


def test_an_out_url_but_file_is_refused(memory, tmp_path, cluster, capsys):
    url, fs = memory
    np.save(tmp_path / "x.npy", _data())
    assert _main(cluster, "cluster", tmp_path / "x.npy", "--n-clusters", 3, "--out",
                 f"{url}/out") == 2
    assert capsys.readouterr().err == (
        f"chunkml: error: --out '{url}/out': chunkml writes only into a local folder "
        "(or a file:// URL): it publishes its outputs by renaming them, which object "
        "stores cannot do atomically; write them locally, then copy them\n")
    assert not fs.exists(f"{url}/out")


def test_a_missing_url_does_not_exist(memory, tmp_path, capsys):
    url, _ = memory
    assert cli.main(["cluster", f"{url}/nope.npy", "--n-clusters", "3", "--out",
                     str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"chunkml: error: INPUT '{url}/nope.npy' does not exist\n")


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None,
                    reason="with s3fs the run would try the network")
def test_an_s3_url_needs_s3fs_and_is_not_called_missing(tmp_path, capsys):
    assert cli.main(["cluster", "s3://bucket/x.npy", "--n-clusters", "3", "--out",
                     str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chunkml: error: reading INPUT 's3://bucket/x.npy' needs "
                          "another package: ")
    assert "s3fs" in err
    assert not (tmp_path / "out").exists()
