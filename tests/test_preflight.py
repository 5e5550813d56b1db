"""Pre-flight (grading/preflight.py): what is repaired, what is flagged, nothing raises."""
import os
from collections import namedtuple

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grading import preflight
from grading.preflight import CellSpec

FakeCheck = namedtuple("FakeCheck", "grade_id target allow_cnnlib")
CHECKS = {"test_f": FakeCheck("test_f", "f", False), "test_g": FakeCheck("test_g", "g", True)}


def solution(gid, source):
    return new_code_cell(source, metadata={"nbgrader": {
        "grade": False, "grade_id": gid, "locked": False, "solution": True, "schema_version": 3}})


def graded_test(gid, source="assert True", points=2):
    return new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "grade_id": gid, "locked": True, "points": points, "solution": False,
        "schema_version": 3}})


def source_notebook():
    return new_notebook(cells=[
        new_markdown_cell("# Task"),
        new_code_cell("import numpy as np"),
        solution("f_sol", "def f(x):\n    return x"),
        graded_test("test_f"),
        solution("g_sol", "def g(x):\n    return x"),
        graded_test("test_g", points=3),
    ])


EXPECTED = preflight.expected_cells(source_notebook())


def ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def test_expected_cells_kinds_and_points():
    assert EXPECTED["test_f"] == CellSpec("test_f", "test", "code", 2.0)
    assert EXPECTED["g_sol"].kind == "solution"
    assert set(EXPECTED) == {"f_sol", "test_f", "g_sol", "test_g"}


def test_clean_notebook_has_no_flags():
    report = preflight.check_notebook(source_notebook(), EXPECTED, CHECKS, "nb")
    assert report.flags == [] and report.missing_tests == [] and report.dropped == 0


def test_pasted_solution_copy_is_graded_as_the_notebook_runs():
    """A stub left above a pasted working copy: the last definition wins, as when run."""
    nb = source_notebook()
    nb.cells[2].source = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    nb.cells.insert(3, solution("f_sol", "def f(x):\n    return 2 * x"))
    report = preflight.check_notebook(nb, EXPECTED, CHECKS, "nb")
    assert ids(report.nb).count("f_sol") == 1
    graded = next(c for c in report.nb.cells if preflight.cell_kind(c) == "solution"
                  and c.metadata.nbgrader["grade_id"] == "f_sol")
    assert "return 2 * x" in graded.source                      # the last copy is graded
    stub = report.nb.cells[2]
    assert "NotImplementedError" in stub.source and preflight.cell_kind(stub) is None
    code = [c.source for c in preflight.student_code_cells(report.nb)]
    assert code.index(stub.source) < code.index(graded.source)  # both run, in the same order
    assert report.dropped == 0
    flag = next(f for f in report.flags if "'f_sol' appears more than once" in f)
    assert "the last copy (cell 4) was graded" in flag
    assert "cell 3: 'def f(x):'" in flag                        # the other copy is shown
    assert len(nb.cells) == 7, "the input notebook must not be modified"


def test_three_copies_flag_names_every_earlier_copy():
    nb = source_notebook()
    nb.cells.insert(3, solution("f_sol", "def f(x):\n    return 3 * x"))
    nb.cells.insert(4, solution("f_sol", "def f(x):  # final\n    return 2 * x"))
    report = preflight.check_notebook(nb, EXPECTED, CHECKS, "nb")
    assert [c.source.splitlines()[0] for c in report.nb.cells
            if preflight.cell_kind(c) == "solution"] == ["def f(x):  # final", "def g(x):"]
    flag = next(f for f in report.flags if "'f_sol'" in f)
    assert "3 copies" in flag and "cell 3:" in flag and "cell 4:" in flag and "(cell 5)" in flag


def test_duplicated_test_cell_is_dropped():
    nb = source_notebook()
    nb.cells.append(graded_test("test_g", points=3))
    report = preflight.check_notebook(nb, EXPECTED, CHECKS, "nb")
    assert ids(report.nb).count("test_g") == 1


def test_renamed_test_cell_dropped_and_missing_one_reported():
    nb = source_notebook()
    nb.cells[3].metadata.nbgrader["grade_id"] = "my_test"
    report = preflight.check_notebook(nb, EXPECTED, CHECKS, "nb")
    assert "my_test" not in ids(report.nb)
    assert report.missing_tests == ["test_f"]
    assert any("unknown test cell 'my_test'" in f for f in report.flags)
    assert any("test cell 'test_f' is missing" in f for f in report.flags)


def test_renamed_solution_cell_kept_as_plain_code():
    nb = source_notebook()
    nb.cells[2].metadata.nbgrader["grade_id"] = "mine"
    report = preflight.check_notebook(nb, EXPECTED, CHECKS, "nb")
    kept = [c for c in report.nb.cells if "def f" in c.source]
    assert len(kept) == 1 and "nbgrader" not in kept[0].metadata
    assert any("unknown grade id 'mine'" in f for f in report.flags)
    assert any("solution cell 'f_sol' is missing" in f for f in report.flags)
    assert report.missing_tests == []


@pytest.mark.parametrize("source", [
    "import cnnlib\ndef f(x):\n    return cnnlib.relu(x)",
    "from scipy import signal\ndef f(x):\n    return x",
    "from scipy.signal import correlate2d\ndef f(x):\n    return x",
    "import scipy.ndimage as nd\ndef f(x):\n    return x",
    "def f(x):\n    t = __import__('torch')\n    return x",
    "import importlib\ndef f(x):\n    return importlib.import_module('cnnlib.conv')",
    "%matplotlib inline\nimport torch\ndef f(x):\n    return x",
    "import numpy as np\nimport scipy\ndef f(x):\n    return np.asarray(x)",   # all of SciPy is refused
    "from scipy import linalg\ndef f(x):\n    return x",
    "from scipy.fft import rfft2\ndef f(x):\n    return x",
])
def test_reference_import_in_forbidden_cell_is_flagged(source):
    nb = source_notebook()
    nb.cells[2].source = source
    flags = preflight.check_notebook(nb, EXPECTED, CHECKS, "nb").flags
    assert len(flags) == 1 and "test_f" in flags[0] and "test_g" not in flags[0]


@pytest.mark.parametrize("source", [
    "import numpy as np\ndef f(x):\n    return np.fft.irfft2(np.fft.rfft2(x))",
    "def f(x):\n    return 'cnnlib is the reference'",
])
def test_harmless_imports_are_not_flagged(source):
    nb = source_notebook()
    nb.cells[2].source = source
    assert preflight.check_notebook(nb, EXPECTED, CHECKS, "nb").flags == []


def test_reference_import_allowed_by_its_check():
    nb = source_notebook()
    nb.cells[4].source = "import cnnlib\ndef g(x):\n    return cnnlib.relu(x)"
    assert preflight.check_notebook(nb, EXPECTED, CHECKS, "nb").flags == []


def test_reference_import_in_a_cell_without_target_concerns_every_check():
    nb = source_notebook()
    nb.cells.insert(1, new_code_cell("import cnnlib as helper"))
    flags = preflight.check_notebook(nb, EXPECTED, CHECKS, "nb").flags
    assert len(flags) == 1 and "test_f" in flags[0]


@pytest.mark.parametrize("source", [
    "from cnnlib.activations import relu as f",                      # an import binds f
    "import cnnlib\ntry:\n    def f(x):\n        return cnnlib.relu(x)\nexcept Exception:\n    pass",
    "import cnnlib\nfor f in [cnnlib.relu]:\n    pass",
])
def test_reference_import_concerns_the_checks_of_what_the_cell_binds(source):
    """The flag names the checks whose target the cell binds, however it binds it (an import,
    a def inside ``try``, a loop target), not every check of the notebook: the grader leaves out
    the flags that this one explains (checks_with_reference_import), so naming every check hid
    an unrelated check's own flags from the instructor."""
    checks = dict(CHECKS, test_h=FakeCheck("test_h", "h", False))
    nb = source_notebook()
    nb.cells[2].source = source
    flags = preflight.check_notebook(nb, EXPECTED, checks, "nb").flags
    assert len(flags) == 1 and "test_f" in flags[0] and "test_h" not in flags[0], flags
    assert preflight.checks_with_reference_import(flags) == {"test_f"}


def test_instructors_locked_cells_may_import_the_reference():
    nb = source_notebook()
    nb.cells[1].source = "import cnnlib"
    nb.cells[1].metadata["nbgrader"] = {"grade": False, "grade_id": "setup", "locked": True,
                                        "solution": False, "schema_version": 3}
    expected = dict(EXPECTED, setup=CellSpec("setup", "other", "code"))
    assert preflight.check_notebook(nb, expected, CHECKS, "nb").flags == []


def test_star_import_names_the_module_once():
    """`from cnnlib import *` was reported as "imports cnnlib, cnnlib.*"."""
    assert preflight.imported_reference_modules("from cnnlib import *") == {"cnnlib"}
    assert preflight.imported_reference_modules("from scipy import signal") == {"scipy"}
    assert preflight.imported_reference_modules("from scipy.signal import correlate2d") == {"scipy.signal"}


def test_unparsable_cell_falls_back_to_text():
    assert preflight.imported_reference_modules("import torch\nthis is not python(") == {"torch"}
    assert preflight.defined_names("def f(x):\n  return (") == {"f"}


def write(path, nb):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def course(tmp_path):
    write(tmp_path / "solutions" / "a1" / "a1.ipynb", source_notebook())
    write(tmp_path / "exercises" / "a1" / "a1.ipynb", source_notebook())
    (tmp_path / "exercises" / "a1" / "data.csv").write_text("1,2\n")
    return tmp_path / "solutions" / "a1", tmp_path / "exercises" / "a1"


def test_submission_ok_and_extra_files_listed(tmp_path):
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "ann" / "a1"
    write(sub / "a1.ipynb", source_notebook())
    (sub / "data.csv").write_text("1,2\n")
    (sub / "timestamp.txt").write_text("2026-01-01 10:00:00")
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / ".ipynb_checkpoints" / "a1-checkpoint.ipynb").write_text("{}")
    (sub / "numpy.py").write_text("x = 1")
    (sub / "notes" / "n.txt").parent.mkdir()
    (sub / "notes" / "n.txt").write_text("hi")
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert report.gradable and set(report.notebooks) == {"a1"}
    assert report.extra_files == ["notes/n.txt", "numpy.py"]
    assert report.flags == ["extra files: notes/n.txt, numpy.py"]


def test_links_out_of_the_folder_are_named_apart_from_extra_files(tmp_path):
    """A link to the solutions was listed as "extra files: solution.txt": grading drops it
    (it is never followed), and a person should read that, not a file to look at."""
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "ann" / "a1"
    write(sub / "a1.ipynb", source_notebook())
    (sub / "numpy.py").write_text("x = 1")
    (sub / "solution.txt").symlink_to("../../../solutions/a1/a1.ipynb")
    (sub / "etc").symlink_to("/etc")                  # a folder out of it: not entered
    (sub / "notes.md").write_text("mine")
    (sub / "mine.txt").symlink_to("notes.md")         # a link inside the folder: an extra file
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert report.gradable and report.extra_files == ["mine.txt", "notes.md", "numpy.py"]
    assert report.flags == ["extra files: mine.txt, notes.md, numpy.py",
                            "links out of the folder (not graded): etc -> /etc, "
                            "solution.txt -> ../../../solutions/a1/a1.ipynb"]
    (sub / "etc").unlink()
    assert preflight.check_submission(sub, src, rel, CHECKS).flags[1] == \
        "link out of the folder (not graded): solution.txt -> ../../../solutions/a1/a1.ipynb"


def test_a_notebook_that_is_a_link_out_of_the_folder_is_not_graded_and_says_so(tmp_path):
    """A notebook linked to the solution: pre-flight read the solution through the link and
    sent the submission on, and the worker (where the link is not made) failed with "No
    notebooks were matched". The link is neither followed nor read: not graded, one flag."""
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "ann" / "a1"
    sub.mkdir(parents=True)
    (sub / "a1.ipynb").symlink_to("../../../solutions/a1/a1.ipynb")
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert not report.gradable and report.missing == ["a1"] and report.notebooks == {}
    assert report.flags == ["a1.ipynb is a link to ../../../solutions/a1/a1.ipynb, outside the "
                            "submission folder; it is not followed: not graded"]


def test_a_notebook_that_is_a_link_to_nothing_is_named_so(tmp_path):
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "ann" / "a1"
    sub.mkdir(parents=True)
    (sub / "a1.ipynb").symlink_to("a1-old.ipynb")
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert not report.gradable and report.missing == ["a1"]
    assert report.flags == ["a1.ipynb is a link to a1-old.ipynb, which does not exist: not graded"]


def test_links_to_nothing_are_broken_links_not_extra_files(tmp_path):
    """A link to a file that does not exist was listed as an extra file to look at; grading
    leaves it out (a worker never makes it), so it is flagged as what it is, with its target.
    A loop of links is one too (Path.resolve raised on it: "pre-flight failed")."""
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "ann" / "a1"
    write(sub / "a1.ipynb", source_notebook())
    (sub / "numpy.py").write_text("x = 1")
    (sub / "data").mkdir()
    (sub / "data" / "weights.npy").symlink_to("/nonexistent/weights.npy")   # out: not "broken"
    (sub / "data" / "x.npy").symlink_to("missing.npy")
    (sub / "via.npy").symlink_to("data/x.npy")                          # a link to a broken link
    (sub / "loop").symlink_to("loop")
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / ".ipynb_checkpoints" / "gone").symlink_to("nothing")       # a tool's folder: ignored
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert report.gradable and report.extra_files == ["numpy.py"]
    assert report.flags == [
        "extra files: numpy.py",
        "link out of the folder (not graded): data/weights.npy -> /nonexistent/weights.npy",
        "broken links (to a file that does not exist; not graded): data/x.npy -> missing.npy, "
        "loop -> loop, via.npy -> data/x.npy"]
    assert preflight.broken_links(sub) == {"data/x.npy": "missing.npy", "loop": "loop",
                                           "via.npy": "data/x.npy"}


def test_files_of_nbgrader_exchange_are_not_extra(tmp_path):
    """`nbgrader collect` leaves the exchange's timestamp.txt and submission_secret.txt beside
    every notebook: neither may flag every submission of a class for a person."""
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "ann" / "a1"
    write(sub / "a1.ipynb", source_notebook())
    (sub / "timestamp.txt").write_text("2026-12-04 10:12:43.485529 UTC")
    (sub / "submission_secret.txt").write_text("f" * 128)
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert report.gradable and report.extra_files == [] and report.flags == []


def test_broken_json_is_not_gradable_and_flagged(tmp_path):
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "bo" / "a1"
    sub.mkdir(parents=True)
    (sub / "a1.ipynb").write_text('{"cells": [')
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert not report.gradable and report.unreadable == ["a1"]
    assert "a1.ipynb cannot be read" in report.flags[0] and "not graded" in report.flags[0]


def test_missing_notebook_names_the_renamed_file(tmp_path):
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "cy" / "a1"
    write(sub / "a1 (1).ipynb", source_notebook())
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert not report.gradable and report.missing == ["a1"]
    assert "a1.ipynb is missing (found a1 (1).ipynb: renamed?)" in report.flags[0]
    assert report.extra_files == [] and len(report.flags) == 1, report.flags   # named once


def test_renamed_notebook_is_not_an_extra_file_but_others_are(tmp_path):
    src, rel = course(tmp_path)
    sub = tmp_path / "submitted" / "cy" / "a1"
    write(sub / "a1 (1).ipynb", source_notebook())
    (sub / "notes.txt").write_text("mine")
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert report.extra_files == ["notes.txt"]
    assert report.flags[1:] == ["extra files: notes.txt"], report.flags


def test_missing_folder(tmp_path):
    src, rel = course(tmp_path)
    report = preflight.check_submission(tmp_path / "nope", src, rel, CHECKS)
    assert not report.gradable and report.flags == ["no submission folder"]


def test_notebook_problems_reach_the_submission_report(tmp_path):
    src, rel = course(tmp_path)
    nb = source_notebook()
    nb.cells.append(solution("g_sol", "def g(x):\n    return 0"))
    write(tmp_path / "submitted" / "di" / "a1" / "a1.ipynb", nb)
    report = preflight.check_submission(tmp_path / "submitted" / "di" / "a1", src, rel, CHECKS)
    assert report.gradable
    assert any("'g_sol' appears more than once" in f for f in report.flags)


def test_a_huge_notebook_is_not_read(tmp_path):
    """A 64 GiB notebook (sparse) is flagged by its size, never read into memory."""
    path = tmp_path / "x.ipynb"
    path.touch()
    os.truncate(path, 64 << 30)
    nb, problem = preflight.read_notebook(path)
    assert nb is None and problem == "larger than 256 MiB"


def test_not_a_notebook(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text('{"hello": 1}')
    nb, problem = preflight.read_notebook(path)
    assert nb is None and problem


def test_renamed_hint_names_only_notebooks_that_are_not_expected(tmp_path):
    """An assignment of two notebooks, one handed in under its name and one renamed: the
    "renamed?" hint names the renamed one only."""
    src, rel = course(tmp_path)
    write(tmp_path / "solutions" / "a1" / "b2.ipynb", source_notebook())
    sub = tmp_path / "submitted" / "cy" / "a1"
    write(sub / "a1 (1).ipynb", source_notebook())
    write(sub / "b2.ipynb", source_notebook())
    report = preflight.check_submission(sub, src, rel, CHECKS)
    assert report.missing == ["a1"]
    assert "a1.ipynb is missing (found a1 (1).ipynb: renamed?); not graded" in report.flags, report.flags


def test_json_that_is_not_a_notebook_is_named_so(tmp_path):
    """`[1, 2, 3]` made nbformat fail with an AttributeError, which read like a crash."""
    path = tmp_path / "x.ipynb"
    path.write_text("[1, 2, 3]")
    nb, problem = preflight.read_notebook(path)
    assert nb is None and problem == "valid JSON, but not a notebook (no cells)"
    path.write_text("[1, 2, ")                                  # not JSON: nbformat's reason
    assert "NotJSONError" in preflight.read_notebook(path)[1]
