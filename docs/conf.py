"""Sphinx configuration for chunkml's documentation.

Build: ``pip install -e ".[docs]" && sphinx-build -W --keep-going -b html docs docs/_build/html``
(``tests/test_docs.py`` runs the same build in the test suite).
"""

import chunkml

project = "chunkml"
author = "the chunkml developers"
copyright = "2026, the chunkml developers"
version = release = chunkml.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    # myst-nb brings myst-parser: the .md pages and the README's sections, and renders
    # notebooks (without executing them: the test suite does).
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]

# The notebook is committed without outputs and executed by tests/test_docs.py at a small
# size; rendering it here shows the code and the text.
nb_execution_mode = "off"
myst_heading_anchors = 3
# docs/cluster.md (also read on GitHub) starts at H2: a cosmetic heading-level warning.
suppress_warnings = ["myst.header"]

autodoc_default_options = {"member-order": "bysource"}
# One page per public object; the members are documented in full on the class's page
# (no per-method stub pages to generate).
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"chunkml {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
