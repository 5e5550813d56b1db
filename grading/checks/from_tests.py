"""The saved notebook in marking's order: what only the visible test cells define.

In a notebook the visible test cells run between the student's cells, and what they assign
(``x``, ``dout``, ...) stays in the kernel. At marking the test cells do not run before the
student's code, and the cells run top to bottom from the saved file: a cell that reads such a
name before any cell above it assigns it stops there with a NameError (what it defines after
that line is missing), and a function whose body reads one fails when called. The pre-hand-in
check runs in the kernel, so it reads the saved notebook to forecast that (a session-28 student
trial: ``print(max_pool2d(x))`` at the top of the cell of ``max_pool2d_backward``, with ``x``
from a test cell; the notebook's check said 13 of 13 points, marking gave 7).

Only the names the test cells assign are followed: a read of any other undefined name fails in
the kernel too. A read inside an ``if`` or ``try`` may not run, and is not counted.
"""
from __future__ import annotations

import ast
import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .imports import _stopping, parse_cell

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.If, ast.Try)


def _bound(node) -> set[str]:
    """The global names that statement (or module) `node` binds when it runs: assignments, loop
    targets, imports, ``with ... as``, ``except ... as``, defs and classes (not the locals of its
    functions), and the names its functions declare ``global``."""
    names, todo = set(), [node]
    while todo:
        part = todo.pop()
        if isinstance(part, ast.Name) and isinstance(part.ctx, (ast.Store, ast.Del)):
            names.add(part.id)
        elif isinstance(part, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in part.names if a.name != "*"}
        elif isinstance(part, ast.ExceptHandler) and part.name:
            names.add(part.name)
        if isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(part.name)
        if part is node or not isinstance(part, _SCOPES):
            todo.extend(ast.iter_child_nodes(part))
    return names | {n for part in ast.walk(node) if isinstance(part, ast.Global) for n in part.names}


def assigned_names(source: str) -> set[str]:
    """The global names a cell binds when it runs (see _bound); none when it is not Python."""
    tree = parse_cell(source)
    return set() if tree is None else _bound(tree)


def _read(statement, names: set[str]) -> "tuple[str, int] | None":
    """(name, line) of the first of `names` that `statement` surely reads when it runs (not in
    function bodies, nor in the bodies of an ``if`` or a ``try``, which may not run)."""
    guarded = {id(node) for part in _guarded(statement) for node in ast.walk(part)}
    for node in _stopping(statement):
        if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names
                and id(node) not in guarded):
            return node.id, node.lineno
    return None


def _guarded(statement):
    """The parts of `statement` that may not run: the branches of its ifs, the bodies of its trys."""
    for node in ast.walk(statement):
        if isinstance(node, ast.If):
            yield from node.body + node.orelse
        elif isinstance(node, ast.Try):
            yield from node.body + node.handlers + node.orelse


@dataclass
class Stop:
    """A cell that stops at marking: it reads `name` (line `line`) that only a test cell defines."""

    number: int          # the cell's place in the notebook (from 1)
    source: str
    name: str
    line: int


@dataclass
class MarkingView:
    """The saved notebook as marking runs it: its cells top to bottom, without the test cells."""

    path: Path
    cells: list          # [(place from 1, source)] of the student's code cells, in order
    test_names: set      # the names the test cells assign
    defined: set = field(default_factory=set)     # the names defined once every cell has run
    lost: dict = field(default_factory=dict)      # name -> Stop: the cell that would define it stops

    @property
    def test_only(self) -> set:
        """What only the test cells define: at marking it is never there."""
        return self.test_names - self.defined


def marking_view(path, cells, test_sources) -> MarkingView:
    """Run the cells (as (place, source)) in order, on paper: each statement of a cell first
    reads (a test cell's name that is not yet defined stops the cell), then binds."""
    test_names = set().union(*map(assigned_names, test_sources))
    view = MarkingView(Path(path), list(cells), test_names)
    for number, source in view.cells:
        tree = parse_cell(source)
        for i, statement in enumerate(tree.body if tree is not None else ()):
            bound = _bound(statement)
            # a loop, a with, an if or a try may bind a name before it reads it (inside)
            read = _read(statement, test_names - view.defined - (bound if isinstance(statement, _COMPOUND) else set()))
            if read:
                stop = Stop(number, source, *read)
                for lost in bound.union(*map(_bound, tree.body[i + 1:])):
                    view.lost.setdefault(lost, stop)
                break
            view.defined |= bound
    for name in view.defined:
        view.lost.pop(name, None)   # another cell defines it
    return view


def notebook_paths(assignment: str, served=None) -> list[Path]:
    """The student's notebook, most likely first: the one this kernel serves (`served`: VS Code
    puts it in the kernel's ``__vsc_ipynb_file__``; Jupyter Server sets JPY_SESSION_NAME), the
    assignment's name in the working folder (a notebook's kernel starts in its folder), then any
    other notebook there, the newest first."""
    served = [str(served or ""), os.environ.get("JPY_SESSION_NAME", "")]
    places = [Path(s) for s in served if s.endswith(".ipynb")]
    places.append(Path.cwd() / f"{assignment}.ipynb")
    others = [p for p in Path.cwd().glob("*.ipynb") if p.is_file()]   # not a link to nothing
    places += sorted(others, key=_modified, reverse=True)
    return list(dict.fromkeys(p for p in places if p.is_file()))


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:   # gone since
        return 0.0


def read_cells(path) -> "list[dict] | None":
    """A notebook file's cells as plain dicts (source as one string), or None if unreadable."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
        return [{**c, "source": "".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))}
                for c in cells if isinstance(c, dict)]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@contextlib.contextmanager
def hidden(namespace: dict, names: set):
    """While the checks run: `names` are out of `namespace` (as at marking); put back after."""
    saved = {name: namespace.pop(name) for name in names if name in namespace}
    try:
        yield saved
    finally:
        namespace.update(saved)
