"""Packaging: every imported package is declared, the wheel carries every module, the
license and py.typed with the SPDX license expression, and the installed metadata is this
version's."""

import ast
import functools
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import chunkml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "chunkml"

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")


def _normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement):
    return _normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group())


def _project():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _imports():
    """{top-level module: True if imported at module level somewhere} for chunkml."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                found[top] = found.get(top, False) or id(node) in module_level
    return {name: top_level for name, top_level in found.items()
            if name != "chunkml" and name not in sys.stdlib_module_names}


@functools.cache
def _packages_distributions():
    return importlib.metadata.packages_distributions()  # reads every installed package


def _distribution(module):
    dists = _packages_distributions().get(module)
    assert dists, f"{module!r} is imported by chunkml but not installed here"
    return _normalize(dists[0])


def test_every_imported_package_is_declared():
    project = _project()
    base = {_requirement_name(r) for r in project["dependencies"]}
    extras = {_requirement_name(r) for reqs in project["optional-dependencies"].values()
              for r in reqs}
    imports = _imports()
    assert {"numba", "llvmlite", "psutil", "threadpoolctl", "sklearn"} <= set(imports)
    for module, top_level in sorted(imports.items()):
        dist = _distribution(module)
        # A module-level import runs on `import chunkml...`: a dependency. One inside a
        # function may be optional (an extra), as matplotlib for the plot.
        assert dist in (base if top_level else base | extras), (module, dist)


def test_all_extra_holds_every_optional_feature():
    extras = _project()["optional-dependencies"]
    features = set(extras) - {"all", "test", "docs", "bench"}
    (all_req,) = extras["all"]
    assert _requirement_name(all_req) == "chunkml"
    assert set(re.search(r"\[(.*)\]", all_req).group(1).split(",")) == features
    # The benchmark peers are not features: dask-ml, faiss and scikit-learn-intelex.
    assert not {_requirement_name(r) for r in extras["bench"]} & {
        _requirement_name(r) for f in features for r in extras[f]}


def test_version_is_written_once():
    project = _project()
    assert "version" not in project and "version" in project["dynamic"]
    with open(ROOT / "pyproject.toml", "rb") as f:
        dynamic = tomllib.load(f)["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "chunkml.__version__"}


def test_wheel_has_license_and_py_typed(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 cannot build the SPDX "
                    'license metadata: pip install -e ".[test]"')
    # A copy of what the wheel is built from: the build leaves no files in the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "chunkml",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "-v", str(src), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    log = proc.stdout + proc.stderr
    assert "SetuptoolsDeprecationWarning" not in log, log[-5000:]

    (wheel,) = (tmp_path / "dist").glob("chunkml-*.whl")
    assert wheel.name.startswith(f"chunkml-{chunkml.__version__}-")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"chunkml-{chunkml.__version__}.dist-info"
        assert "chunkml/py.typed" in names
        # Package discovery finds every subpackage (chunkml.datasets, chunkml.cli, ...).
        modules = {path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py")}
        assert modules <= names, sorted(modules - names)
        assert zf.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = zf.read(f"{info}/METADATA").decode()
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "License-File: LICENSE" in metadata
    assert not any(n.endswith((".nbi", ".nbc", ".pyc")) for n in names)
    assert "Copyright (c) 2026, the chunkml developers" in (ROOT / "LICENSE").read_text()


def test_installed_metadata_is_this_version():
    # The metadata importlib finds first: the installed distribution's, or the egg-info
    # that `pip install -e .` leaves in the checkout.
    dist = importlib.metadata.distribution("chunkml")
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    source = (Path(unquote(urlparse(direct_url).path)) if direct_url.startswith("file:")
              else Path(dist.locate_file("")))
    if source.resolve() != ROOT:
        pytest.skip(f"chunkml is installed from {direct_url or source}, not from this "
                    "checkout: pip install -e . here")
    hint = "the installed metadata is stale: pip install -e . again"
    assert dist.version == chunkml.__version__, hint
    assert dist.metadata["License-Expression"] == "BSD-3-Clause", hint
    assert "LICENSE" in dist.metadata.get_all("License-File"), hint
    requires = {_requirement_name(r) for r in dist.requires if "extra ==" not in r}
    assert {"psutil", "threadpoolctl", "llvmlite"} <= requires, hint


def _extras(command):
    """The extras a `pip install ... ".[a,b]"` command installs, `all` expanded."""
    (spec,) = re.findall(r'"\.\[([^\]]*)\]"', command)
    extras = set(spec.split(","))
    if "all" in extras:
        (all_req,) = _project()["optional-dependencies"]["all"]
        extras |= set(re.search(r"\[(.*)\]", all_req).group(1).split(","))
    return extras


def test_readme_commands_install_what_they_run():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    first, tests = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    run_tests = tests.split("&&")[1].strip()
    assert first.endswith("&& chunkml demo") and run_tests.startswith("python -m pytest")
    # chunkml demo writes clusters.png; chunkml cluster writes labels.zarr or .parquet.
    assert {"plot", "zarr", "parquet", "csv"} <= _extras(first)
    # CI runs the README's test command, with the extras that the docs tests need.
    install = tests.split("&&")[0].strip()
    assert {"test", "docs"} <= _extras(install)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert install in ci and run_tests in ci
    # The suite's workers come from the test extra.
    if "-n" in run_tests.split():
        assert any(req.startswith("pytest-xdist")
                   for req in _project()["optional-dependencies"]["test"])
