"""Sphinx configuration of the scvi-interpret documentation."""

import shutil
from importlib.metadata import version as _version
from pathlib import Path

# The executed notebooks live in tutorials/ at the top of the repository; Sphinx only reads
# files under docs/, so they are copied next to docs/tutorials/index.md on every build.
_HERE = Path(__file__).parent
for _notebook in sorted((_HERE.parent / "tutorials").glob("*.ipynb")):
    shutil.copy2(_notebook, _HERE / "tutorials" / _notebook.name)

project = "scvi-interpret"
author = "scvi-interpret developers"
copyright = "2026, scvi-interpret developers"
release = _version("scvi-interpret")

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_autodoc_typehints",
    "sphinxcontrib.bibtex",
    "sphinx_copybutton",
]

templates_path = ["_templates"]
autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = True
typehints_defaults = "comma"
always_document_param_types = False
bibtex_bibfiles = ["references.bib"]
bibtex_reference_style = "author_year"
myst_enable_extensions = ["colon_fence", "dollarmath"]
nb_execution_mode = "off"
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_merge_streams = True
# docstrings of scvi-tools base classes use roles and references outside our docs
suppress_warnings = ["myst.header"]
nitpicky = False

html_theme = "furo"
html_title = "scvi-interpret"
