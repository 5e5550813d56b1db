"""The student release exercises/ is complete, up to date, and leaks nothing.

exercises/ is generated from solutions/ by `make exercises` (grading/release.py, nbgrader
generate_assignment). These tests fail when it is stale, when a release notebook is missing, when a
solution or a hidden test leaks into it, or when a committed notebook holds outputs.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from grading import consistency, release

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
    problems = consistency.release_problems(name, nb)   # what `make exercises` refuses
    assert not problems, "\n".join(map(str, problems))


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


# --------------------------------------------------------------------------- what the release refuses
def _source(name):
    return nbformat.read(_source_path(name), as_version=4)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _unmark(nb, grade_id):
    """A teacher's slip (session 26): the answer's cell without nbgrader's solution metadata and
    without the BEGIN/END SOLUTION lines."""
    cell = _cell(nb, grade_id)
    cell.metadata = {}
    cell.source = "\n".join(line for line in cell.source.splitlines() if "SOLUTION" not in line)
    return nb


def _texts(problems):
    return "\n".join(map(str, problems))


def test_a_graded_function_without_solution_metadata_is_refused():
    nb = _unmark(_source("02_convolution"), "conv2d_multi")
    text = _texts(consistency.source_problems("02_convolution", nb))
    number = next(i for i, c in enumerate(nb.cells, 1) if c.source.startswith("def conv2d_multi"))
    assert f"solutions/02_convolution/02_convolution.ipynb, cell {number} ('def conv2d_multi(" in text
    assert "'Autograded answer'" in text and "would ship the answer" in text


def test_a_release_that_ships_an_answer_is_refused():
    """The release's side: the graded function defined with its answer, outside a solution cell
    or in one whose stub lost its `raise NotImplementedError()`."""
    for unlock in (True, False):
        nb = nbformat.read(_release_path("02_convolution"), as_version=4)
        answer = _cell(_source("02_convolution"), "conv2d_multi").source
        cell = _cell(nb, "conv2d_multi")
        cell.source = "\n".join(line for line in answer.splitlines() if "SOLUTION" not in line)
        if unlock:
            cell.metadata = {}
        text = _texts(consistency.release_problems("02_convolution", nb))
        assert "ships an answer: conv2d_multi is graded" in text, text
        assert ("outside a solution cell" in text) == unlock


def test_points_that_disagree_are_refused():
    nb = _source("02_convolution")
    _cell(nb, "test_conv2d_multi").metadata["nbgrader"]["points"] = 6
    text = _texts(consistency.source_problems("02_convolution", nb))
    assert "has points 6 in its metadata, its check in grading/checks/a02_convolution.py has points=5" in text
    assert "the heading states 5 points, the graded cells under it have 6" in text


def test_a_test_cell_without_its_check_and_a_check_without_its_cell_are_refused():
    nb = _source("02_convolution")
    _cell(nb, "test_conv2d_multi").metadata["nbgrader"]["grade_id"] = "test_conv2d_many"
    text = _texts(consistency.source_problems("02_convolution", nb))
    assert "test cell 'test_conv2d_many' has no check in grading/checks/a02_convolution.py" in text
    assert "has a check 'test_conv2d_multi' (5 points) but the notebook has no test cell" in text


def test_a_solution_region_outside_a_solution_cell_is_refused():
    nb = _source("02_convolution")
    _cell(nb, "conv2d_multi").metadata["nbgrader"]["solution"] = False
    text = _texts(consistency.source_problems("02_convolution", nb))
    assert "a ### BEGIN SOLUTION region in a cell that is not a solution cell" in text


def _course(tmp_path, names=("02_convolution",)):
    """A course folder with these assignments' sources and committed releases (no gradebook)."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for name in names:
        shutil.copytree(ROOT / "solutions" / name, root / "solutions" / name)
        shutil.copytree(ROOT / "exercises" / name, root / "exercises" / name)
    return root


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_release_refuses_a_shipped_answer_and_keeps_exercises(tmp_path, capsys):
    """Session 26: `make exercises` shipped the answer of a graded function whose cell had no
    solution metadata. It stops, names the cell, and writes nothing."""
    root = _course(tmp_path, ("01_mlp", "02_convolution"))
    before = _files(root / "exercises")
    path = root / "solutions" / "02_convolution" / "02_convolution.ipynb"
    nbformat.write(_unmark(nbformat.read(path, as_version=4), "conv2d_multi"), path)
    assert release.main(["--root", str(root), "--no-db"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("grading.release: not written (exercises/ is unchanged)"), err
    assert "Traceback" not in err and "def conv2d_multi(" in err and len(err.splitlines()) <= 15, err
    assert _files(root / "exercises") == before


def test_a_failing_nbgrader_leaves_exercises_as_it_was(tmp_path):
    """Session 26: nbgrader's "Removing failed assignment" deleted the committed
    exercises/02_convolution (a solution region in a non-solution cell). The release is made in a
    temporary folder: here nbgrader itself fails (the static checks are off)."""
    root = _course(tmp_path, ("01_mlp", "02_convolution"))
    before = _files(root / "exercises")
    path = root / "solutions" / "02_convolution" / "02_convolution.ipynb"
    nb = nbformat.read(path, as_version=4)
    _cell(nb, "conv2d_multi").metadata["nbgrader"]["solution"] = False
    nbformat.write(nb, path)
    with pytest.raises(release.ReleaseError, match=r"nbgrader could not generate 02_convolution "
                       r"\(exercises/ is unchanged\): .*non-solution cell"):
        release.generate(db=False, root=root, check=False)
    assert _files(root / "exercises") == before


def test_a_release_with_nothing_wrong_replaces_exercises(tmp_path):
    root = _course(tmp_path)
    (root / "exercises" / "02_convolution" / "stale.txt").write_text("gone after the release")
    assert release.main(["--root", str(root), "--no-db"]) == 0
    assert _files(root / "exercises" / "02_convolution") == _files(ROOT / "exercises" / "02_convolution")
    assert not (root / "exercises" / "02_convolution" / "stale.txt").exists()
    assert sorted(p.name for p in (root / "exercises").iterdir()) == ["02_convolution"]


def test_release_check_runs_the_notebook(tmp_path, capsys):
    """`python -m grading.release --check <assignment>`: the untouched release fails every check
    and its visible tests say what to implement; the solutions pass. It writes nothing."""
    root = _course(tmp_path)
    before = _files(root)
    assert release.main(["--root", str(root), "--check", "02_convolution"]) == 0
    assert "02_convolution consistent" in capsys.readouterr().out
    assert _files(root) == before
    path = root / "solutions" / "02_convolution" / "02_convolution.ipynb"
    nb = nbformat.read(path, as_version=4)
    test = _cell(nb, "test_conv2d_single")   # a visible test that calls the stub outside call()
    assert "call(conv2d_single, x, w)" in test.source
    test.source = test.source.replace("call(conv2d_single, x, w)", "conv2d_single(x, w)")
    nbformat.write(nb, path)
    before = _files(root)
    assert release.main(["--root", str(root), "--check", "02_convolution"]) == 1
    err = capsys.readouterr().err
    assert "the visible test 'test_conv2d_single' of the untouched release should fail saying what " \
        "to implement" in err and "NotImplementedError" in err, err
    assert _files(root) == before


def test_a_release_refused_for_submissions_says_what_to_do(tmp_path):
    """Session 26: once the gradebook holds a submission, nbgrader refuses to add a cell, in a
    ~40-line traceback. The release says it in one line, with what to do, and writes nothing."""
    import subprocess
    import sys
    import warnings

    import grading_helpers as gh
    from nbgrader.api import Gradebook
    root = gh.make_course(tmp_path, ["02_convolution"])
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SQLAlchemy's autoflush notes inside nbgrader
        gb.add_student("ada")
        gb.add_submission("02_convolution", "ada")
    path = root / "solutions" / "02_convolution" / "02_convolution.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("A new note.", metadata={"nbgrader": {
        "grade": False, "grade_id": "a_new_note", "locked": True, "schema_version": 3, "solution": False}}))
    nbformat.write(nb, path)
    before = _files(root / "exercises")
    run = subprocess.run([sys.executable, "-m", "grading.release", "--root", str(root)], cwd=root,
                         env=gh.env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    err = run.stderr
    assert "Traceback" not in run.stdout + err and len(err.strip().splitlines()) == 1, err
    assert "the gradebook holds submissions of 02_convolution (ada)" in err
    assert 'make demo-class ARGS="--remove"' in err and "nbgrader db student remove <id> --force" in err
    assert _files(root / "exercises") == before


def _numbered_chapters() -> dict[int, tuple[str, str]]:
    """number -> (file stem, title) of the book's numbered chapters, in _toc.yml's order."""
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]
    out = {}
    for n, file in enumerate(files, 1):
        text = (ROOT / f"{file}.md").read_text()
        out[n] = (Path(file).name, re.search(r"^# (.+)$", text, flags=re.M)[1])
    return out


def test_a_chapter_named_by_number_in_an_exercise_or_a_message_is_that_chapter():
    """06's hint sent learners to "chapter 8" for dx as a full convolution: the file is
    08_putting_it_together, chapter 11 (a teacher's review). A number in the exercises and the
    graders' messages comes with the chapter's title or file, and they agree with _toc.yml."""
    chapters = _numbered_chapters()
    texts = [(p.name, p.read_text()) for p in (ROOT / "grading" / "checks").glob("a*.py")]
    texts += [(p.name, "\n".join(c.source for c in nbformat.read(p, 4).cells))
              for p in sorted((ROOT / "exercises").glob("*/*.ipynb"))]
    found = []
    for name, text in texts:
        for m in re.finditer(r"\bchapter (\d+)\b", text):
            around = text[max(0, m.start() - 80):m.end() + 80]
            n = int(m[1])
            stem, title = chapters[n]
            found.append((name, n))
            assert stem in around or title.split(":")[0] in around, (name, around, chapters[n])
    assert ("06_backprop.ipynb", 11) in found and ("a06_backprop.py", 11) in found, found
