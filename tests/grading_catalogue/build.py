"""Build student submissions from the release notebooks."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT_NAMES = sorted(p.name for p in (ROOT / "solutions").iterdir()
                          if (p / f"{p.name}.ipynb").is_file())


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _strip_markers(source: str) -> str:
    """The solution as a student would write it: without nbgrader's BEGIN/END SOLUTION lines."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


@lru_cache(maxsize=None)
def _reference(assignment: str) -> tuple:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return tuple((_grade_id(c), _strip_markers(c.source)) for c in nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution"))


def given_code(assignment: str, cell_id: str) -> str:
    """The code a solution cell gives the student above its ``### BEGIN SOLUTION`` line."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if _grade_id(c) == cell_id)
    return source.split("### BEGIN SOLUTION")[0] if "### BEGIN SOLUTION" in source else ""


def reference_sources(assignment: str) -> dict[str, str]:
    """Solution cell grade_id -> the reference solution's source (markers removed)."""
    return dict(_reference(assignment))


@lru_cache(maxsize=None)
def _release(assignment: str):
    return nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)


def build_submission(assignment: str, replacements: dict[str, str]):
    """The release notebook of `assignment` with the named solution cells filled in."""
    nb = copy.deepcopy(_release(assignment))
    solution_ids = {_grade_id(c) for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    unknown = set(replacements) - solution_ids
    if unknown:
        raise KeyError(f"{assignment} has no solution cell(s) {sorted(unknown)}; it has {sorted(solution_ids)}")
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in replacements and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = replacements[gid]
    return nb


#: the notebooks' last cell runs the pre-hand-in check itself; submissions are checked without it
PREHANDIN_CELL = "check_before_hand_in"


def code_cells(nb) -> tuple[list[str], list[str]]:
    """(sources of the code cells that are not test cells, in order; test-cell grade_ids in order).

    The pre-hand-in cell is left out (it would run every check again)."""
    cells, tests = [], []
    for cell in nb.cells:
        if cell.cell_type != "code" or _grade_id(cell) == PREHANDIN_CELL:
            continue
        if cell.metadata.get("nbgrader", {}).get("grade"):
            tests.append(_grade_id(cell))
        else:
            cells.append(cell.source)
    return cells, tests
