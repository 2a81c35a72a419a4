"""Sparse k-means: chunkml vs scikit-learn on a TF-IDF-like CSR matrix, the same threads.

Data: a random CSR matrix (seed 0, float64, uniform values, density * n_features columns
drawn per row) with every row L2-normalised, as TF-IDF rows are; SPARSE_SIZES gives (n_samples, n_features, density,
rows per dask block) at each ``--bench-size`` (full: 1_000_000 x 100_000 at 0.1%, 1e8
stored values). Every implementation starts from the same centers, the first
SPARSE_CLUSTERS rows of X, and runs Lloyd (scikit-learn: algorithm="lloyd", n_init=1).

- sparse-fit1: a fit with ``max_iter=1``: one Lloyd iteration plus each estimator's fixed
  costs (checks, tolerance, final labels and inertia).
- sparse-fit: a fit to convergence (default tol, max_iter=300).

Implementations: chunkml on the in-memory CSR matrix (its parallel kernels from 65,536
rows),
chunkml_dask on a dask array of CSR blocks (``da.from_array(X, chunks=(rows,
n_features))``, `threads` dask workers), sklearn (OpenMP, `threads` threads).

Run: ``python -m pytest benchmarks/bench_sparse.py --benchmark-only [--bench-size=full]
--benchmark-json=FILE`` then ``python benchmarks/report.py FILE``.
"""

from functools import cache

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.cluster

import chunkml

SPARSE_CLUSTERS = 16
# --bench-size -> (n_samples, n_features, density, rows per dask block)
SPARSE_SIZES = {
    "tiny": (20_000, 10_000, 0.001, 5_000),
    "small": (200_000, 50_000, 0.001, 50_000),
    "full": (1_000_000, 100_000, 0.001, 100_000),
}
IMPLS = ["chunkml", "chunkml_dask", "sklearn"]


@cache
def _data(size):
    n_samples, n_features, density, _ = SPARSE_SIZES[size]
    # scipy.sparse.random draws its positions from all n_samples * n_features cells (75
    # GiB of indices at small): each row draws its columns instead, as many as the
    # density gives (a repeated column is summed: a few per row, as TF-IDF has none).
    rng = np.random.default_rng(0)
    per_row = max(1, round(density * n_features))
    indptr = np.arange(0, per_row * (n_samples + 1), per_row)
    indices = rng.integers(0, n_features, size=per_row * n_samples)
    X = sp.csr_matrix((rng.random(indices.size), indices, indptr),
                      shape=(n_samples, n_features))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X = sp.csr_matrix(sp.diags(1.0 / norms) @ X)
    init = np.asarray(X[:SPARSE_CLUSTERS].todense())
    return X, init


def _input(impl, size):
    X, _ = _data(size)
    if impl == "chunkml_dask":
        return da.from_array(X, chunks=(SPARSE_SIZES[size][3], X.shape[1]))
    return X


def _estimator(impl, init, **kwargs):
    if impl == "sklearn":
        return sklearn.cluster.KMeans(SPARSE_CLUSTERS, init=init, n_init=1,
                                      algorithm="lloyd", **kwargs)
    return chunkml.KMeans(SPARSE_CLUSTERS, init=init, n_init=1, **kwargs)


def _record(benchmark, km, X):
    benchmark.extra_info["n_iter"] = int(km.n_iter_)
    benchmark.extra_info["inertia"] = float(km.inertia_)
    benchmark.extra_info["nnz"] = int(X.nnz)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", ["sparse-fit1", "sparse-fit"])
def test_sparse_fit(benchmark, bench, op, impl):
    X, init = _data(bench.size)
    Xin = _input(impl, bench.size)
    benchmark.group = f"{op} n_samples={X.shape[0]}"
    kwargs = {"max_iter": 1} if op == "sparse-fit1" else {}
    km = bench.pedantic(benchmark, impl, lambda: _estimator(impl, init, **kwargs).fit(Xin))
    _record(benchmark, km, X)
