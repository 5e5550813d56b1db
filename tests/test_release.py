"""The student release exercises/ is complete, up to date, and leaks nothing.

exercises/ is generated from solutions/ by `make exercises` (grading/release.py, nbgrader
generate_assignment). These tests fail when it is stale, when a release notebook is missing, when a
solution or a hidden test leaks into it, or when a committed notebook holds outputs.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from grading import release

ROOT = Path(__file__).resolve().parent.parent
NAMES = release.assignments()
# The release may import the pre-hand-in check (grading.checks.check_all), never a hidden test
# (run_check) nor the gradebook or the sandbox.
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN", "END HIDDEN", "run_check",
                "grading.sandbox", "gradebook")


def _release_path(name):
    return ROOT / "exercises" / name / f"{name}.ipynb"


def _source_path(name):
    return ROOT / "solutions" / name / f"{name}.ipynb"


def test_the_assignments_sort_in_chapter_order():
    assert NAMES == ["01_mlp", "01b_pipeline_shapes", "01c_weight_sharing", "02_convolution",
                     "03_hyperparameters", "03b_im2col", "04_features", "05_pooling", "05a_one_by_one",
                     "05b_learning", "06_backprop"]


@pytest.mark.parametrize("name", NAMES)
def test_release_notebook_exists(name):
    assert _release_path(name).is_file(), f"exercises/{name}/{name}.ipynb is missing: run `make exercises`"


def test_no_release_without_source():
    released = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())
    assert released == NAMES


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    release.generate(release_dir=out, db=False)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_release_is_up_to_date(name, regenerated):
    fresh = (regenerated / name / f"{name}.ipynb").read_bytes()
    assert _release_path(name).read_bytes() == fresh, (
        f"exercises/{name} is stale: run `make exercises` and commit the result")
    committed_files = sorted(p.relative_to(_release_path(name).parent)
                             for p in _release_path(name).parent.rglob("*") if p.is_file())
    fresh_files = sorted(p.relative_to(regenerated / name) for p in (regenerated / name).rglob("*") if p.is_file())
    assert committed_files == fresh_files


def test_regenerating_is_deterministic(regenerated, tmp_path):
    release.generate(["01_mlp"], release_dir=tmp_path, db=False)
    assert (tmp_path / "01_mlp" / "01_mlp.ipynb").read_bytes() == \
        (regenerated / "01_mlp" / "01_mlp.ipynb").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_nothing_leaks_into_the_release(name):
    text = _release_path(name).read_text()
    for marker in LEAK_MARKERS:
        assert marker.lower() not in text.lower(), f"{marker!r} leaked into exercises/{name}"
    source = nbformat.read(_source_path(name), as_version=4)
    released = nbformat.read(_release_path(name), as_version=4)
    released_code = "\n".join(c.source for c in released.cells)
    outside = "\n".join(re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION", "", c.source, flags=re.S)
                        for c in source.cells)   # lines the release may legitimately share
    for cell in source.cells:
        body = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, flags=re.S)
        for block in body:
            for line in block.splitlines():
                line = line.strip()
                if len(line) > 20 and not line.startswith(("#", '"""')) and line not in outside:
                    assert line not in released_code, f"solution line leaked into exercises/{name}: {line}"


@pytest.mark.parametrize("name", NAMES)
def test_release_cells_are_stubs_and_tests(name):
    nb = nbformat.read(_release_path(name), as_version=4)
    solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert solutions and tests
    for cell in solutions:
        assert "raise NotImplementedError()" in cell.source
        assert not cell.metadata["nbgrader"]["locked"]
    for cell in tests:
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and meta["points"] > 0 and cell.source.lstrip().startswith('"""')


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*/*.ipynb"))
                         + sorted((ROOT / "exercises").glob("*/*.ipynb")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebooks_hold_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} holds outputs"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_links_its_book_chapter(name):
    nb = nbformat.read(_source_path(name), as_version=4)
    intro = nb.cells[0].source
    links = re.findall(r"\]\(\.\./\.\./(book/[0-9a-z_]+\.md)\)", intro)
    assert links, f"{name}: the first cell should link a book chapter"
    for link in links:
        assert (ROOT / link).is_file(), link


@pytest.mark.parametrize("name", NAMES)
def test_the_helpers_cell_is_folded_and_the_intro_says_so(name):
    """About 150 lines of test plumbing opened every notebook before the first task (a teacher
    evaluating the course counted 7-9 k characters): the cell is folded in the release
    (JupyterLab's `jupyter.source_hidden`), and the intro says what it is and to run it."""
    nb = nbformat.read(ROOT / "exercises" / name / f"{name}.ipynb", as_version=4)
    helpers = nb.cells[1]
    assert helpers.metadata["nbgrader"]["grade_id"] == "helpers" and helpers.cell_type == "code"
    assert helpers.metadata["jupyter"] == {"source_hidden": True}
    intro = " ".join(nb.cells[0].source.split())
    assert ("The code cell under this one holds the helpers that the test cells use. It is folded "
            "(click its bar to unfold it): run it, there is nothing in it to change.") in intro
    assert not any(c.metadata.get("jupyter", {}).get("source_hidden") for c in nb.cells[2:])
