"""Two accessibility fixes to the HTML that Sphinx and Jupyter Book write.

1. Row headers. A table's stub column (``:stub-columns: 1`` of a list-table) comes out of
   docutils as ``<th class="stub">`` with no scope; ``scope="row"`` says for certain that the
   cell names its row, and the stub cell of the header row (the corner) gets ``scope="col"``.

2. The site's front door. ``_build/html/index.html`` was sphinx-external-toc's one-line meta
   refresh to the root page: no language, no title, and nothing to follow where a browser does
   not refresh. This writes it first (sphinx-external-toc leaves an index.html that exists
   alone): a page with ``lang``, a ``<title>``, the refresh and a link to the first page.

tests/test_book_browser.py checks both in the built book.
"""
import html
import re

_STUB = re.compile(r'<th class="(head )?stub"')


def _scope(match):
    return f'<th class="{match[1] or ""}stub" scope="{"col" if match[1] else "row"}"'


def _table_headers(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body and "stub" in body:
        context["body"] = _STUB.sub(_scope, body)


def index_page(title, target, language="en"):
    """The HTML of a page that sends the reader on to `target` (a relative URL)."""
    t, u = html.escape(title), html.escape(target, quote=True)
    return ("<!DOCTYPE html>\n"
            f'<html lang="{html.escape(language or "en", quote=True)}">\n<head>\n'
            '<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{t}</title>\n"
            f'<meta http-equiv="Refresh" content="0; url={u}">\n'
            f'<link rel="canonical" href="{u}">\n'
            "</head>\n<body>\n"
            f'<p><a href="{u}">{t}: start reading</a></p>\n'
            "</body>\n</html>\n")


def _write_index(app, exception):
    if exception is not None or app.builder.name != "html" or app.config.root_doc == "index":
        return
    page = app.builder.get_target_uri(app.config.root_doc)
    title = app.config.html_title or app.config.project
    (app.builder.outdir / "index.html").write_text(
        index_page(title, page, app.config.language), encoding="utf8")


def setup(app):
    app.connect("html-page-context", _table_headers)
    # before sphinx-external-toc's ensure_index_file (priority 500), which then keeps this one
    app.connect("build-finished", _write_index, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
