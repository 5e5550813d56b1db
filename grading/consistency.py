"""Does an assignment's source notebook agree with its checks, and does its release give nothing away?

``python -m grading.release`` (``make exercises``) runs the fast, static part for every
assignment it writes and refuses to write when it finds a problem (a few milliseconds):

* before nbgrader runs, :func:`source_problems`: every autograded test cell has exactly one
  ``Check`` in ``grading/checks/`` with the same points, calls ``run_check`` with its grade id,
  and names a solution cell of the notebook; every check of the assignment has its test cell;
  every task heading's "(N points)" gives the points of the graded cells under it; solution and
  hidden-test regions sit in cells whose nbgrader metadata says so;
* after nbgrader, on the release, :func:`release_problems`: no graded function or variable
  is already implemented (each is defined only where ``raise NotImplementedError`` stands in
  for the solution).

``python -m grading.release --check <assignment>`` runs those and the slower part, which runs
the notebook's code in this process (seconds): :func:`untouched_problems` (the release as
downloaded fails every check, and each visible test says what to implement) and
:func:`reference_problems` (the source's solutions pass every check and every visible test).
The tests (tests/test_checks.py, tests/test_release.py, tests/test_assignment_list.py) call
these same functions for every assignment.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass

from .checks import ASSIGNMENTS, CHECKS
from .checks.cells import cell_name

#: the notebooks' last cell runs the pre-hand-in check (every check again): not run here
PREHANDIN_CELL = "check_before_hand_in"
_HEADING = re.compile(r"## .*\((\d+(?: \+ \d+)*) points?\)")
_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@dataclass(frozen=True)
class Problem:
    """One disagreement: where (notebook, cell number from 1, cell source) and what to do."""
    notebook: str
    text: str
    cell: int = 0
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.notebook}, {cell_name(self.cell, self.source)}" if self.cell else self.notebook
        return f"{where}: {self.text}"


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _module(name: str) -> str:
    return f"grading/checks/a{name}.py"


def _defines(source: str, name: str) -> "list[ast.AST]":
    """The top-level statements of a cell that define `name` (def, or an assignment to it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            out.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                out.append(node)
    return out


def _raises_not_implemented(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Raise) and n.exc is not None
               and "NotImplementedError" in ast.unparse(n.exc) for n in ast.walk(node))


def _cell_defining(nb, name: str):
    """(number from 1, cell) of the first code cell that defines `name`, or (0, None)."""
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code" and _defines(cell.source, name):
            return number, cell
    return 0, None


# ----------------------------------------------------------------------------- static
def heading_points(nb) -> "list[tuple[int, str, list[int] | None, list[int]]]":
    """Per "## " heading with graded cells under it (up to the next heading): (cell number,
    source, the points its "(N points)" or "(N + M points)" states or None, the graded cells'
    points in order)."""
    sections = []
    for number, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            m = _HEADING.match(cell.source)
            sections.append((number, cell.source,
                             [int(n) for n in m.group(1).split(" + ")] if m else None, []))
        if _meta(cell).get("grade"):
            if not sections:
                sections.append((0, "", None, []))
            sections[-1][3].append(_meta(cell).get("points"))
    return [s for s in sections if s[3]]


def source_problems(name: str, nb, notebook: str = "") -> list[Problem]:
    """What disagrees in the source notebook `nb` of assignment `name` (nothing runs)."""
    notebook = notebook or f"solutions/{name}/{name}.ipynb"
    out: list[Problem] = []

    def problem(text, number=0, cell=None):
        source = cell if isinstance(cell, str) else (cell.source if cell is not None else "")
        out.append(Problem(notebook, text, number, source))

    solution_ids = {_meta(c).get("grade_id") for c in nb.cells if _meta(c).get("solution")}
    tested = set()
    for number, cell in enumerate(nb.cells, 1):
        meta = _meta(cell)
        if any(m in cell.source for m in _MARKERS) and not meta.get("solution"):
            problem("a ### BEGIN SOLUTION region in a cell that is not a solution cell (nbgrader "
                    "would stop, or ship the answer): make the cell an 'Autograded answer' in "
                    "nbgrader's Create Assignment tool (metadata solution: true, a grade id)",
                    number, cell)
        if "BEGIN HIDDEN TESTS" in cell.source and not meta.get("grade"):
            problem("a BEGIN HIDDEN TESTS region in a cell that is not a test cell: make it "
                    "'Autograder tests' (metadata grade: true, points) or move the region",
                    number, cell)
        if not meta.get("grade") or cell.cell_type != "code":
            continue   # a Markdown answer with points is marked by a person: no check
        gid = meta.get("grade_id", "")
        tested.add(gid)
        check = CHECKS.get(gid)
        if check is None or check.assignment != name:
            problem(f"test cell {gid!r} has no check in {_module(name)}: add a Check with "
                    f"grade id {gid!r} and points={meta.get('points')} (see the Teaching page, "
                    f"'Changing an exercise')", number, cell)
            continue
        if meta.get("points") != check.points or not check.points:
            problem(f"test cell {gid!r} has points {meta.get('points')} in its metadata, its "
                    f"check in {_module(name)} has points={check.points}: make them equal",
                    number, cell)
        if f'run_check("{gid}", globals())' not in cell.source:
            problem(f'test cell {gid!r} does not call run_check("{gid}", globals()) in its '
                    f"hidden tests: the grader would not run its check", number, cell)
        if check.cell not in solution_ids:
            where, defining = _cell_defining(nb, check.target if check.kind == "value" else check.shown)
            problem(f"the check {gid!r} grades {check.shown} in solution cell {check.cell!r}, but "
                    f"no cell with nbgrader's solution metadata has that grade id"
                    + (" (this cell defines it, without solution metadata: the release would "
                       "ship the answer)" if defining is not None else "")
                    + f": make the cell that defines {check.shown} an 'Autograded answer' with "
                    f"grade id {check.cell!r} (or set cell= in {_module(name)}) and put its "
                    f"answer between ### BEGIN SOLUTION and ### END SOLUTION",
                    where, defining)
    for check in ASSIGNMENTS.get(name, []):
        if check.grade_id not in tested:
            problem(f"{_module(name)} has a check {check.grade_id!r} ({check.points} points) "
                    f"but the notebook has no test cell with that grade id: add the test cell "
                    f"(metadata grade: true, points {check.points}) or remove the check")
    for number, source, stated, points in heading_points(nb):
        if stated != points:
            shown = " + ".join(map(str, points))
            problem(f"the heading states {' + '.join(map(str, stated)) if stated else 'no'} "
                    f"points, the graded cells under it have {shown}: write "
                    f"'({shown} point{'s' if points != [1] else ''})' at the end of the heading",
                    number, source)
    return sorted(out, key=lambda p: (p.cell == 0, p.cell))   # in the notebook's order


def _graded_names(check) -> set[str]:
    """What the student writes for a check: its `shown` name, and a variable's name."""
    return {check.shown} | ({check.target} if check.kind == "value" else set())


def release_problems(name: str, release, notebook: str = "") -> list[Problem]:
    """What the release notebook of `name` gives away: a graded function or variable defined
    with its answer (outside a solution cell, or in one without ``raise NotImplementedError``).
    Cells are numbered as in the source, which the release keeps cell for cell."""
    notebook = notebook or f"solutions/{name}/{name}.ipynb"
    out: list[Problem] = []
    checks = ASSIGNMENTS.get(name, [])
    cells = {_meta(c).get("grade_id"): (n, c) for n, c in enumerate(release.cells, 1) if _meta(c)}
    for check in checks:
        number, cell = cells.get(check.cell, (0, None))
        if cell is not None and _meta(cell).get("solution") and cell.cell_type == "code" \
                and "raise NotImplementedError" not in cell.source:
            out.append(Problem(notebook, f"the release of solution cell {check.cell!r} holds no "
                               f"`raise NotImplementedError()`: put the answer to {check.shown} "
                               f"between ### BEGIN SOLUTION and ### END SOLUTION", number, cell.source))
    names = set().union(*(_graded_names(c) for c in checks)) if checks else set()
    for number, cell in enumerate(release.cells, 1):
        meta = _meta(cell)
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        for graded in sorted(names):
            for node in _defines(cell.source, graded):
                is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                if meta.get("solution") and (not is_def or _raises_not_implemented(node)):
                    continue
                if is_def and _raises_not_implemented(node):
                    continue
                out.append(Problem(
                    notebook, f"the release ships an answer: {graded} is graded and this cell "
                    f"defines it{'' if meta.get('solution') else ' outside a solution cell'}: make "
                    f"the cell an 'Autograded answer' and put the answer between ### BEGIN "
                    f"SOLUTION and ### END SOLUTION", number, cell.source))
    return out


# ----------------------------------------------------------------------------- running the notebook
def run_cells(nb) -> "tuple[dict, list[str]]":
    """Run the code cells of `nb` that are not test cells in one namespace, in order, like a
    kernel (a failing cell does not stop the rest; the pre-hand-in cell is left out). Returns
    (the namespace, the test cells' grade ids in order)."""
    ns: dict = {"__name__": "__main__"}
    tests = []
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or meta.get("grade_id") == PREHANDIN_CELL:
            continue
        if meta.get("grade"):
            tests.append(meta["grade_id"])
            continue
        try:
            exec(compile(cell.source, "<cell>", "exec"), ns)
        except Exception:
            continue
    return ns, tests


def verdicts(nb, seed: "int | None" = 0) -> "dict[str, str | None]":
    """Test cell grade id -> None (passed) or the grader's message, checked in this process as
    the pre-hand-in check does."""
    from .checks.prehandin import verdict
    ns, tests = run_cells(nb)
    return {gid: verdict(gid, ns, seed=seed) for gid in tests if gid in CHECKS}


def visible_results(nb) -> "dict[str, str | None]":
    """Run the code cells, then each visible test cell as it stands in `nb` (the release's hold
    no hidden tests): grade id -> None, or the error it raised ("AssertionError: ...")."""
    return run_visible_tests(nb, run_cells(nb)[0])


def run_visible_tests(nb, ns: dict) -> "dict[str, str | None]":
    """Each test cell of `nb` run in the namespace `ns` of its code cells, in order: grade id ->
    None, or the error it raised ("AssertionError: ...")."""
    out = {}
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "code" and meta.get("grade") and meta.get("grade_id") != PREHANDIN_CELL:
            try:
                exec(compile(cell.source, "<visible test>", "exec"), ns)
                out[meta["grade_id"]] = None
            except Exception as exc:
                out[meta["grade_id"]] = f"{type(exc).__name__}: {exc}"
    return out


def strip_markers(source: str) -> str:
    """A solution as a student would write it: without the BEGIN/END SOLUTION lines."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in _MARKERS)


def with_references(source, release):
    """The release with the source's solutions (markers removed) in its solution cells."""
    answers = {_meta(c).get("grade_id"): strip_markers(c.source) for c in source.cells
               if _meta(c).get("solution")}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if _meta(cell).get("solution") and _meta(cell).get("grade_id") in answers:
            cell.source = answers[_meta(cell)["grade_id"]]
    return nb


def _number(nb, gid: str) -> "tuple[int, str]":
    for number, cell in enumerate(nb.cells, 1):
        if _meta(cell).get("grade_id") == gid:
            return number, cell.source
    return 0, ""


def shipped_answers(name: str, release, notebook: str = "") -> list[Problem]:
    """The release as downloaded must fail every check: a check it passes means an answer is
    shipped (or the check passes anything)."""
    notebook = notebook or f"exercises/{name}/{name}.ipynb"
    return [Problem(notebook, f"the untouched release passes the check {gid!r}: an answer is "
                    f"shipped (or the check passes anything)", *_number(release, gid))
            for gid, message in verdicts(release).items() if message is None]


def visible_test_problems(name: str, release, notebook: str = "") -> list[Problem]:
    """Each visible test of the release as downloaded must fail with a message that says what
    to implement: an AssertionError that names the NotImplementedError (the function is called
    through the helpers' `call(...)`), or "... is not defined: write ..."."""
    notebook = notebook or f"exercises/{name}/{name}.ipynb"
    out = []
    for gid, message in visible_results(release).items():
        first = (message or "").split("\n")[0]
        if not message or not message.startswith("AssertionError: ") or not (
                "NotImplementedError" in message and "not defined" not in first
                or "is not defined: write" in message):
            out.append(Problem(notebook, f"the visible test {gid!r} of the untouched release "
                               f"should fail saying what to implement (call the function through "
                               f"call(...), compare with expect_equal(...)); it gave: "
                               f"{first[:120] or 'no error'}", *_number(release, gid)))
    return out


def untouched_problems(name: str, release, notebook: str = "") -> list[Problem]:
    """shipped_answers and visible_test_problems."""
    return shipped_answers(name, release, notebook) + visible_test_problems(name, release, notebook)


def reference_problems(name: str, source, release, notebook: str = "") -> list[Problem]:
    """The source's solutions, written into the release, pass every check and visible test."""
    notebook = notebook or f"solutions/{name}/{name}.ipynb"
    nb = with_references(source, release)
    out = []
    for gid, message in verdicts(nb).items():
        if message is not None:
            out.append(Problem(notebook, f"the solution fails the check {gid!r}: "
                               f"{message.splitlines()[0][:160]}", *_number(source, gid)))
    for gid, message in visible_results(nb).items():
        if message is not None:
            out.append(Problem(notebook, f"the solution fails the visible test {gid!r}: "
                               f"{message.splitlines()[0][:160]}", *_number(source, gid)))
    return out
