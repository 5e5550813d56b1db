"""The pages that list the assignments agree with the notebooks.

The Instructor guide's table of assignments (test cells, points, total) is written by hand: it
must equal what the source notebooks hold. The exercises page must offer every assignment.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from grading import consistency, release

ROOT = Path(__file__).resolve().parent.parent


def notebook_points(name: str) -> list[tuple[str, int]]:
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    return [(c.metadata["nbgrader"]["grade_id"].removeprefix("test_"), c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def guide_rows() -> dict[str, tuple[str, int]]:
    text = (ROOT / "book" / "instructor_guide.md").read_text()
    # the chapter's link, bare ({doc}`04_convolution`) or titled ({doc}`Chapter 4 <04_convolution>`)
    rows = re.findall(r"^\| `(\w+)` \| \{doc\}`(?:[^`<]*<)?(\w+)>?` \| ([^|]+) \| (\d+) \|$", text, flags=re.M)
    for _, chapter, _, _ in rows:
        assert (ROOT / "book" / f"{chapter}.md").is_file(), chapter
    return {name: (cells.strip(), int(points)) for name, _, cells, points in rows}


def test_instructor_guide_lists_every_assignment_with_its_points():
    rows = guide_rows()
    assert sorted(rows) == release.assignments()
    for name in release.assignments():
        cells = ", ".join(f"{gid} ({p})" for gid, p in notebook_points(name))
        assert rows[name] == (cells, sum(p for _, p in notebook_points(name))), name
    total = re.search(r"^\| all \| \| \| (\d+) \|$", (ROOT / "book" / "instructor_guide.md").read_text(), re.M)
    assert total and int(total.group(1)) == sum(p for _, p in rows.values())


def test_exercises_page_offers_every_assignment():
    text = (ROOT / "book" / "exercises.md").read_text()
    for name in release.assignments():
        assert f"<../exercises/{name}/{name}.ipynb>" in text, name
        assert f"{{glue:text}}`points_{name}`" in text, name


def test_every_task_heading_states_the_points_of_its_test_cells():
    """A task's heading ("## 2. `conv2d_im2col(...)` (5 + 3 points)") gives the points of the
    graded cells under it, up to the next heading, in order: a fourth place that holds points
    (with the notebook's metadata, the grader's Check and the Instructor guide's table).
    grading.consistency.heading_points reads them; `make exercises` refuses a disagreement."""
    for name in release.assignments():
        nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
        graded = consistency.heading_points(nb)
        assert graded, name
        for number, _, stated, cells in graded:
            assert number, f"{name}: a graded cell before any heading"
            assert stated == cells, f"{name}: a heading states {stated} points, its test cells have {cells}"
