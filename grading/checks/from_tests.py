"""Names that only the visible test cells define, and what the student ran besides them.

In a notebook the visible test cells run between the student's cells, and what they assign
(``x``, ``dout``, ...) stays in the kernel. At marking the test cells do not run before the
student's code: a cell that reads such a name stops there with a NameError (what it defines
after that line is missing), and a function that reads one fails when called. The
pre-hand-in check runs in the kernel, so it must find these names to forecast marking: it
reads the assignment's test cells from the notebook file and takes away every name that a
cell the student ran assigns (IPython keeps every cell run in ``In``).

A session-28 student trial: ``print(max_pool2d(x))`` at the top of the cell of
``max_pool2d_backward``, with ``x`` from a test cell; the notebook's check said 13 of 13
points, marking gave 7.
"""
from __future__ import annotations

import ast
import contextlib
import json
import os
from pathlib import Path

from .imports import _stopping, parse_cell

#: the repository's (or the student kit's) root: its exercises/ holds the released notebooks
ROOT = Path(__file__).resolve().parents[2]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def assigned_names(source: str) -> set[str]:
    """The global names a cell binds when it runs: assignments, loops, imports, ``with ... as``,
    defs and classes at its top level (not the locals of its functions), and the names its
    functions declare ``global``."""
    tree = parse_cell(source)
    if tree is None:
        return set()
    names, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))
    names |= {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}
    return names


def notebook_paths(assignment: str) -> list[Path]:
    """Where the assignment's notebook may be, most likely first: the notebook this kernel
    serves (Jupyter Server sets JPY_SESSION_NAME), the working folder (a notebook's kernel starts
    in the notebook's folder), the kit's (or the course's) exercises/."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    places = [Path(session)] if session.endswith(".ipynb") else []
    places += [Path.cwd() / f"{assignment}.ipynb", ROOT / "exercises" / assignment / f"{assignment}.ipynb"]
    return [p for p in places if p.is_file()]


def sources_of_test_cells(assignment: str) -> "list[str] | None":
    """The sources of the assignment's visible test cells (nbgrader's graded code cells), or
    None when no copy of its notebook is found. The test cells are locked: the student's copy
    holds the released ones."""
    for path in notebook_paths(assignment):
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        sources = ["".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                   for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"
                   and c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        if sources:
            return sources
    return None


def cells_run(namespace: dict) -> "list[str] | None":
    """The code of every cell run in this IPython kernel (``In``), or None outside IPython."""
    history = namespace.get("In")
    if not isinstance(history, list) or not namespace.get("get_ipython"):
        return None
    return [cell for cell in history if isinstance(cell, str) and cell.strip()]


def student_cells(namespace: dict, assignment: str) -> "tuple[list[str], set[str]] | None":
    """(the cells run in this kernel that are not test cells, the names only test cells
    define), or None when this is not a notebook's kernel or its notebook is not found."""
    ran, tests = cells_run(namespace), sources_of_test_cells(assignment)
    if ran is None or tests is None:
        return None
    test_code = {t.strip() for t in tests}
    own = [cell for cell in ran if cell.strip() not in test_code]
    assigned = set().union(*map(assigned_names, own))
    return own, set().union(*map(assigned_names, tests)) - assigned


def first_read(source: str, names: set[str], before_line: int) -> "tuple[str, int] | None":
    """(name, line) of the first of `names` that a cell reads when it runs, in its statements
    that end before `before_line` (not in function bodies, which run when called), or None."""
    tree = parse_cell(source) if names else None
    for statement in tree.body if tree is not None else ():
        if statement.end_lineno >= before_line:
            break
        for node in _stopping(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names:
                return node.id, node.lineno
    return None


@contextlib.contextmanager
def hidden(namespace: dict, names: set[str]):
    """While the checks run: `names` are out of `namespace` (as at marking); put back after."""
    saved = {name: namespace.pop(name) for name in names if name in namespace}
    try:
        yield saved
    finally:
        namespace.update(saved)
