"""Sphinx configuration of tapegrad's documentation (built by .ci/run with -W)."""

import tapegrad

project = "tapegrad"
author = "the tapegrad authors"
release = version = tapegrad.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "README.md"]
# The API pages document the installed package as users import it (the op functions are built
# from the C++ op table at import time, so only importing shows them).
autodoc_default_options = {"members": True, "undoc-members": False}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
html_theme = "alabaster"
html_title = f"tapegrad {release}"
suppress_warnings = ["myst.header"]


def _drop_alias_signature(app, what, name, obj, options, lines):
    """An alias (``tapegrad.subtract`` is ``sub``) carries pybind11's signature line of the
    original name, which autodoc strips only under that name; drop it here so the line
    (``sub(input, other, *, alpha=1)``) is not read as reStructuredText."""
    if lines and "(" in lines[0] and lines[0].split("(")[0].isidentifier() and "->" in lines[0]:
        del lines[0]
        while lines and not lines[0].strip():
            del lines[0]


def setup(app):
    app.connect("autodoc-process-docstring", _drop_alias_signature)
