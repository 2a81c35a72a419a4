"""predict-cli: the throughput of ``chunkml predict`` on a .npy / .zarr file on disk.

Writes, once per session, a float64 file of N_FEATURES columns (blobs around N_CLUSTERS
centers) and a model.json of those centers, then times the real entry point,
``python -m chunkml predict MODEL FILE --out DIR --overwrite``, in a fresh process on a
dask cluster of ``--bench-threads`` threads (an in-process LocalCluster of this session,
over TCP, given as ``--scheduler``). Recorded in extra_info: rows/s and MB/s of the
labelling pass (summary.json's ``write`` seconds: read every block, label it, write the
labels), and the same for one plain read of the file through the same block reader
(``X.sum()``), with their ratio: 1.0 is labelling at the speed of reading.

Sizes (``--bench-size``): tiny 200_000 rows (25.6 MB, a smoke run), small 4_000_000
(512 MB), full a file of 1.5 x this machine's RAM, so that it cannot stay in the page
cache (writing it takes a while; ``CHUNKML_BENCH_DIR`` picks the folder, default a
pytest temporary folder, which needs that much free disk).
"""

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

N_FEATURES, N_CLUSTERS = 16, 8
ROWS = {"tiny": 200_000, "small": 4_000_000}
# Rows generated at a time: 128 MiB of float64.
WRITE_ROWS = 2**27 // (8 * N_FEATURES)
ROOT = Path(__file__).resolve().parent.parent


def _rows(size):
    if size in ROWS:
        return ROWS[size]
    import psutil

    return int(1.5 * psutil.virtual_memory().total) // (8 * N_FEATURES)


def _blocks(n_rows, centers):
    rng = np.random.default_rng(0)
    for start in range(0, n_rows, WRITE_ROWS):
        n = min(WRITE_ROWS, n_rows - start)
        yield start, centers[rng.integers(len(centers), size=n)] + rng.normal(
            size=(n, N_FEATURES))


def _write(path, fmt, n_rows, centers):
    if fmt == "npy":
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                        shape=(n_rows, N_FEATURES))
        for start, block in _blocks(n_rows, centers):
            out[start:start + len(block)] = block
        out.flush()
        del out
        return
    import zarr

    out = zarr.open_array(str(path), mode="w", shape=(n_rows, N_FEATURES),
                          chunks=(WRITE_ROWS, N_FEATURES), dtype="float64")
    for start, block in _blocks(n_rows, centers):
        out[start:start + len(block)] = block


@pytest.fixture(scope="module")
def cluster(bench):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=False, n_workers=1,
                                  threads_per_worker=bench.threads, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def data(bench, tmp_path_factory):
    """{fmt: (file, model.json, rows)}, written on first use."""
    root = Path(os.environ.get("CHUNKML_BENCH_DIR") or tmp_path_factory.mktemp("predict"))
    centers = np.random.default_rng(1).uniform(-10, 10, size=(N_CLUSTERS, N_FEATURES))
    model = root / "model.json"
    model.write_text(json.dumps({
        "format": "chunkml-kmeans-model", "format_version": 1, "n_clusters": N_CLUSTERS,
        "n_features": N_FEATURES, "dtype": "float64", "feature_names": None,
        "centers": centers.tolist(), "params": {}, "inertia": 0.0, "n_iter": 0}))
    made = {}

    def get(fmt):
        if fmt not in made:
            path = root / f"x-{bench.size}.{fmt}"
            n_rows = _rows(bench.size)
            if not path.exists():
                _write(path, fmt, n_rows, centers)
            made[fmt] = (path, model, n_rows)
        return made[fmt]

    return get


def _read_seconds(path, fmt, cluster):
    """One plain read of the file, block by block, through the CLI's reader."""
    from distributed import Client

    from chunkml.cli import _readers

    X, _ = _readers.open_array(str(path), fmt, None)
    with Client(cluster.scheduler_address):
        t = time.perf_counter()
        X.sum().compute()
        return time.perf_counter() - t


@pytest.mark.parametrize("fmt", ["npy", "zarr"])
def test_predict_cli(benchmark, bench, cluster, data, tmp_path, fmt):
    if fmt == "zarr" and importlib.util.find_spec("zarr") is None:
        pytest.skip("needs zarr")
    path, model, n_rows = data(fmt)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "chunkml", "predict", str(model), str(path),
               "--out", str(out), "--overwrite", "--quiet", "--scheduler",
               cluster.scheduler_address]
    seconds = []

    def run():
        result = subprocess.run(command, env=env, capture_output=True, text=True,
                                check=False, timeout=24 * 3600)
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["n_samples"] == n_rows
        seconds.append(summary["seconds"]["write"])

    benchmark.group = f"predict-cli n_samples={n_rows}"
    benchmark.pedantic(run, rounds=bench.rounds, iterations=1,
                       warmup_rounds=bench.warmup_rounds)
    read_s = _read_seconds(path, fmt, cluster)
    label_s = float(np.median(seconds[bench.warmup_rounds:] or seconds))
    mb = n_rows * N_FEATURES * 8 / 1e6
    benchmark.extra_info.update({
        "format": fmt, "n_samples": n_rows, "n_features": N_FEATURES,
        "n_clusters": N_CLUSTERS, "file_mb": round(mb, 1), "threads": bench.threads,
        "label_s": label_s, "rows_per_s": n_rows / label_s, "mb_per_s": mb / label_s,
        "read_s": read_s, "read_mb_per_s": mb / read_s,
        "label_vs_read": read_s / label_s,
    })
