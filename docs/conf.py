"""Sphinx configuration: ``sphinx-build -W --keep-going -b html docs build/docs``."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Document this checkout, not whatever websockets_fast is installed.
sys.path.insert(0, ROOT)
# autodoc reads signatures and docstrings from the Python source. The
# compiled classes are built from that same source, but Cython's
# introspection of them is poorer, so the docs import the pure-Python backend.
os.environ["WEBSOCKETS_FAST_PURE"] = "1"

import warnings  # noqa: E402

# websockets_fast.legacy warns on import, as websockets.legacy does.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"websockets_fast\.")

from websockets_fast.version import __version__  # noqa: E402

project = "websockets_fast"
author = "websockets_fast developers"
copyright = "websockets_fast developers"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_heading_anchors = 3

# The asyncio and sync implementations both define Server, Connection,
# ServerConnection... (as websockets does), so a bare name in an annotation
# matches two classes; Sphinx links to one of them and warns, which -W
# would make fatal.
suppress_warnings = ["ref.python"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Signatures stay as written; annotations would repeat websockets' aliases.
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
# The comparison tables need more than alabaster's 940 px.
html_theme_options = {"page_width": "1180px", "sidebar_width": "240px"}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_title = f"websockets_fast {version}"
