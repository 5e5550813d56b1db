"""Serve MathJax from the book itself, so formulas render without a network.

Sphinx loads MathJax 3 from a CDN by default: offline (CI, a lab machine, a downloaded copy
of the site) the formulas would stay raw text. The PyPI package ``django-static-mathjax``
(no Django needed; in requirements.txt) ships MathJax 3.2's files under
``mathjax/static/mathjax/es5``. This extension adds the package's ``static`` folder to
``html_static_path`` (Sphinx copies it to ``_build/html/_static/mathjax/...``) and points
``mathjax_path`` at the combined TeX + MathML component there. Nothing is copied by hand and
no root ``_static/`` folder is used (Jupyter Book would add a <script> tag to every page for
every .js file in it).

It also removes duplicate <script> tags. With Jupyter Book 1.0.4, sphinx-thebe's inline
script ``const THEBE_JS_URL = ...`` (and sphinx-togglebutton's) reach every page twice, and
the second ``const`` is a JavaScript error ("Identifier 'THEBE_JS_URL' has already been
declared") in the reader's console.
"""
from importlib.util import find_spec
from pathlib import Path

from sphinx.errors import ConfigError

MATHJAX_FILE = "mathjax/es5/tex-mml-chtml.js"   # relative to the package's static folder


def mathjax_static_dir():
    """The ``static`` folder of the installed django-static-mathjax package."""
    spec = find_spec("mathjax")
    static = Path(spec.origin).parent / "static" if spec and spec.origin else None
    if static is None or not (static / MATHJAX_FILE).is_file():
        raise ConfigError("offline_assets: MathJax files not found; install the package "
                          "django-static-mathjax (pip install -r requirements.txt)")
    return static


def _configure(app, config):
    static = str(mathjax_static_dir())
    if static not in config.html_static_path:
        config.html_static_path = [*config.html_static_path, static]
    config.mathjax_path = MATHJAX_FILE


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    """Keep the first of several identical <script> tags (same file or body, same attributes)."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        # an inline script's filename is None in one copy and "" in the other
        key = (str(getattr(js, "filename", js) or ""),
               tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
