"""The documentation: the Sphinx site builds without a warning, the reference-workflow
notebook runs (at a small size), and the estimators' HTML repr links to their API page."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

import chunkml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOK = DOCS / "notebooks" / "reference_workflow.ipynb"
DOCS_URL = "https://chunkml.readthedocs.io/en/stable/"
ESTIMATORS = ("KMeans", "MiniBatchKMeans")


def _require(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the docs extra is not installed (no {', '.join(missing)}): "
                    'pip install -e ".[test,docs]"')


def _env():
    # Subprocesses import this checkout's chunkml, as the tests do.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("name", ESTIMATORS)
def test_html_repr_links_to_the_api_page(name):
    est = getattr(chunkml, name)()
    url = f"{DOCS_URL}api/chunkml.{name}.html"
    assert est._get_doc_link() == url
    assert f'href="{url}"' in est._repr_html_()


def test_docs_build_without_warnings(tmp_path):
    _require("sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr

    # The pages the estimators' HTML repr links to exist, and document the estimator.
    for name in ESTIMATORS:
        link = getattr(chunkml, name)()._get_doc_link()
        page = out / urlparse(link).path.removeprefix(urlparse(DOCS_URL).path)
        html = page.read_text(encoding="utf-8")
        assert f'id="chunkml.{name}"' in html
        assert f'id="chunkml.{name}.fit"' in html
        # numpydoc rendered the Parameters section, with a parameter of each estimator.
        assert "n_clusters" in html and "Parameters" in html
    for page, anchor in [("api/chunkml.datasets.html", "chunkml.datasets.make_blobs"),
                         ("api/chunkml.kernels.warm_up.html", "chunkml.kernels.warm_up")]:
        assert f'id="{anchor}"' in (out / page).read_text(encoding="utf-8")
    # The README's sections, the notebook (rendered, not executed) and the changelog.
    guide = (out / "user-guide.html").read_text(encoding="utf-8")
    assert "Coming from dask-ml" in guide and 'href="out-of-core.html"' in guide
    assert "GridSearchCV" in (out / "notebooks" / "reference_workflow.html").read_text(
        encoding="utf-8")
    assert chunkml.__version__ in (out / "changelog.html").read_text(encoding="utf-8")


def test_notebook_has_no_outputs():
    # Committed clean: a small diff, and nothing that was not produced by this code.
    _require("nbformat")
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source


# Run in the notebook's kernel before its last cell (which closes the cluster): its
# results against references computed there from the same data (numpy for the
# clustering, the true blob labels, scikit-learn's default joblib backend for the grid
# search).
_CHECK = """
import numpy as np
from sklearn.metrics import adjusted_rand_score

Xn, yn = dask.compute(X, y)
labels = np.asarray(km.labels_.compute())
d2 = ((Xn[:, None, :] - km.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
np.testing.assert_array_equal(labels, d2.argmin(axis=1))
np.testing.assert_allclose(km.inertia_, d2.min(axis=1).sum(), rtol=1e-7)
assert Xn.shape == (N_SAMPLES, 2) and km.n_iter_ >= 1
assert adjusted_rand_score(yn, labels) > 0.95, adjusted_rand_score(yn, labels)
assert len(X_sample) == len(labels_sample) >= min(N_SAMPLES, 10_000)
np.testing.assert_array_equal(labels_sample, labels[::step])

reference = GridSearchCV(SVC(gamma="auto", random_state=0, probability=True),
                         param_grid=param_grid, cv=3).fit(X_small, y_small)
assert grid_search.best_params_ == reference.best_params_
np.testing.assert_array_equal(grid_search.cv_results_["mean_test_score"],
                              reference.cv_results_["mean_test_score"])
assert len(grid_search.cv_results_["params"]) == 48
"""


def test_notebook_runs_at_a_small_size(tmp_path, monkeypatch):
    _require("nbclient", "nbformat", "ipykernel", "matplotlib")
    import nbformat
    from nbclient import NotebookClient

    # The kernel inherits these: the notebook's first cell reads them.
    monkeypatch.setenv("CHUNKML_NOTEBOOK_N_SAMPLES", "20000")
    monkeypatch.setenv("CHUNKML_NOTEBOOK_N_CLASSIFICATION", "150")
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    close = [c for c in nb.cells if c.cell_type == "code" and "client.close()" in c.source]
    assert close, "the notebook closes its cluster in a cell of its own"
    # The checks need the cluster: they run before the notebook's last cell closes it.
    index = nb.cells.index(close[-1])
    nb.cells.insert(index, nbformat.v4.new_code_cell(_CHECK))

    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    # Every cell ran, and the scatter plot was drawn.
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    plot = [c for c in nb.cells if c.cell_type == "code" and "ax.scatter" in c.source]
    assert any("image/png" in o.get("data", {}) for o in plot[0].outputs)
    fit = [c for c in nb.cells if c.cell_type == "code" and "km.fit(X)" in c.source]
    # The fitted estimator's HTML repr, with its link to the API page.
    html = "".join(o.get("data", {}).get("text/html", "") for o in fit[0].outputs)
    assert "api/chunkml.KMeans.html" in html
