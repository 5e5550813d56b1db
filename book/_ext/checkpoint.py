"""The ``checkpoint`` directive: the end of a chapter, tied to its graded exercise.

In a chapter::

    ```{checkpoint} 02_convolution
    ```

renders a box that names the exercise (the title of its notebook), links to the student's
notebook in ``exercises/`` and to the Exercises page, lists the functions to write with their
points, and shows the visible test cells under them: their docstring (what each checks) and,
folded, their code. Everything is read from ``exercises/<id>/<id>.ipynb`` when the book is
built, so the box cannot disagree with the notebook; a changed notebook rebuilds the page.

An exercise that is not released yet (no notebook) gets a box that says so and links to the
Exercises page; it is never an error, so a chapter can name its exercise before it lands.
"""
import ast
import json
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def exercise_summary(notebook):
    """Title, graded functions and visible tests of a released exercise notebook.

    Returns a dict: ``title`` (str) and ``functions``, a list of (signature, points,
    test id, test docstring, test source) in notebook order. Each graded test cell's
    docstring starts with the name it checks ("conv2d: the worked example ..."); the
    signature is that name's ``def`` line in the notebook, or the bare name.
    """
    cells = json.loads(Path(notebook).read_text())["cells"]
    title = next((line.lstrip("# ").strip() for c in cells if c["cell_type"] == "markdown"
                  for line in _source(c).splitlines() if line.startswith("# ")), notebook.stem)
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    signatures = {name: sig for sig, name in re.findall(r"^def ((\w+)\(.*?\)):", code,
                                                           flags=re.M)}
    functions = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or not (meta.get("grade") and meta.get("points")):
            continue
        src = _source(cell)
        try:
            doc = " ".join((ast.get_docstring(ast.parse(src)) or "").split())
        except SyntaxError:
            doc = ""
        name = doc.split(":")[0] if re.fullmatch(r"\w+", doc.split(":")[0]) else ""
        functions.append((signatures.get(name, name), meta["points"],
                          meta.get("grade_id", ""), doc, src))
    return {"title": title, "functions": functions}


def checkpoint_markdown(exercise_id, notebook):
    """The MyST text of the checkpoint box for one exercise (released or not)."""
    if not notebook.is_file():
        return [f"```{{admonition}} Checkpoint: exercise {exercise_id}",
                ":class: tip",
                f"This chapter's graded exercise, `{exercise_id}`, is not released yet. "
                "The {doc}`/book/exercises` page lists the exercises you can do now.",
                "```"]
    info = exercise_summary(notebook)
    points = sum(p for _, p, *_ in info["functions"])
    by_function = {}    # a function with two test cells (03b's speed test) is named once: (5 + 3 points)
    for sig, p, *_ in info["functions"]:
        if sig:
            by_function.setdefault(sig, []).append(str(p))
    names = ", ".join(f"`{sig}` ({' + '.join(ps)} points)" for sig, ps in by_function.items())
    lines = [f"`````{{admonition}} Checkpoint: {info['title']}",
             ":class: tip",
             f"Now write it yourself. Download the graded notebook "
             f"{{download}}`{notebook.name} </exercises/{exercise_id}/{notebook.name}>` "
             f"({points} points; the {{doc}}`/book/exercises` page says how to run it and "
             f"hand it in). You write {names}.",
             "",
             "Under each function a **visible test** cell tells you at once whether it "
             "works. When your work is marked, more tests run on other inputs. "
             "The visible tests:",
             ""]
    for sig, p, test_id, doc, _ in info["functions"]:
        lines.append(f"- `{test_id}` ({p} points): {doc or 'checks ' + str(sig)}")
    lines += ["", "````{admonition} The visible tests' code",
              ":class: dropdown", ""]
    for _, _, test_id, _, src in info["functions"]:
        lines += [f"`{test_id}`:", "", "```python", *src.splitlines(), "```", ""]
    lines += ["````", "`````"]   # fences: 5 (box) > 4 (dropdown) > 3 (code)
    return lines


class Checkpoint(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self):
        exercise_id = self.arguments[0]
        root = Path(self.env.srcdir)
        notebook = root / "exercises" / exercise_id / f"{exercise_id}.ipynb"
        if notebook.is_file():
            self.env.note_dependency(str(notebook))
        container = nodes.container(classes=["checkpoint"])
        text = checkpoint_markdown(exercise_id, notebook)
        self.state.nested_parse(StringList(text, source=self.get_source_info()[0]),
                                self.content_offset, container)
        return [container]


def setup(app):
    app.add_directive("checkpoint", Checkpoint)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
