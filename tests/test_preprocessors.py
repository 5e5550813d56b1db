"""The autograde preprocessor (grading/preprocessors.py): verdicts alone decide test cells.

run_checks is replaced by a recording stand-in here; the real sandbox is exercised end to end
in test_grading_e2e.py and test_grading_adversarial.py.
"""
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.utils import determine_grade

import grading.checks
import grading.sandbox
from grading.preflight import reference_import_flags
from grading.preprocessors import MANUAL, SandboxedTests
from grading.sandbox import Verdict

GID_A, GID_B = sorted(grading.checks.ASSIGNMENTS["02_convolution"], key=lambda c: c.grade_id)[:2]


def graded(gid, points=5, outputs=()):
    cell = new_code_cell("assert True\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS",
                         metadata={"nbgrader": {"grade": True, "grade_id": gid, "locked": True,
                                                "points": points, "solution": False}})
    cell.outputs = list(outputs)
    return cell


def notebook(*extra):
    return new_notebook(cells=[
        new_markdown_cell("# title"),
        new_code_cell("import numpy as np"),
        new_code_cell("def f(x):\n    return x", metadata={"nbgrader": {
            "grade": False, "grade_id": "f_sol", "solution": True, "locked": False}}),
        graded(GID_A.grade_id),
        new_code_cell("print('scratch')"),
        graded(GID_B.grade_id),
        *extra,
    ])


def run(nb, monkeypatch, verdicts=None, error=None, tmp_path=None):
    calls = []

    def fake_run_checks(cells, workdir, checks, seed, cell_names):
        calls.append((cells, workdir, [c.grade_id for c in checks], seed, cell_names))
        if error:
            raise error
        return verdicts

    monkeypatch.setattr(grading.sandbox, "run_checks", fake_run_checks)
    resources = {"metadata": {"path": str(tmp_path)}}
    nb, resources = SandboxedTests(seed=7).preprocess(nb, resources)
    return nb, resources, calls


def graded_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def test_student_cells_in_order_and_checks_passed(monkeypatch, tmp_path):
    verdicts = {GID_A.grade_id: Verdict(True, "fine"), GID_B.grade_id: Verdict(True, "")}
    _, _, calls = run(notebook(), monkeypatch, verdicts, tmp_path=tmp_path)
    cells, workdir, ids, seed, names = calls[0]
    assert cells == ["import numpy as np", "def f(x):\n    return x", "print('scratch')"]
    assert ids == [GID_A.grade_id, GID_B.grade_id] and seed == 7 and workdir == tmp_path
    # messages name a cell as the learner finds it: its place among all cells, its first line
    assert names == ["cell 2 ('import numpy as np')", "cell 3 ('def f(x):')", "cell 5 (\"print('scratch')\")"]


def test_verdicts_decide_the_score_and_nothing_else(monkeypatch, tmp_path):
    nb = notebook()
    sneaky = [new_output("execute_result", data={"text/plain": "5"}, execution_count=1),
              new_output("stream", name="stderr", text="warning")]
    graded_cells(nb)[0].outputs = list(sneaky)
    graded_cells(nb)[1].outputs = list(sneaky)
    verdicts = {GID_A.grade_id: Verdict(False, "conv: 1 of 3 checks failed\n- non-square: shape",
                                        ["timeout"]),
                GID_B.grade_id: Verdict(True, "all passed")}
    nb, resources, _ = run(nb, monkeypatch, verdicts, tmp_path=tmp_path)
    failed, passed = graded_cells(nb)
    assert [o.output_type for o in failed.outputs] == ["error"]
    assert failed.outputs[0].traceback == ["TestFailed: conv: 1 of 3 checks failed", "- non-square: shape"]
    assert [(o.output_type, o.name) for o in passed.outputs] == [("stream", "stdout")]
    assert determine_grade(failed) == (0, 5.0) and determine_grade(passed) == (5.0, 5.0)
    assert f"{GID_A.grade_id}: timeout" in nb.metadata["grading"]["flags"]
    assert resources[MANUAL] == []
    assert not any("secret" in str(o) for c in graded_cells(nb) for o in c.outputs)


def test_test_cell_without_check_needs_a_person(monkeypatch, tmp_path):
    nb = notebook(graded("test_made_up", points=3))
    verdicts = {GID_A.grade_id: Verdict(True, ""), GID_B.grade_id: Verdict(True, "")}
    nb, resources, calls = run(nb, monkeypatch, verdicts, tmp_path=tmp_path)
    cell = graded_cells(nb)[-1]
    assert determine_grade(cell) == (0, 3.0)
    assert resources[MANUAL] == ["test_made_up"]
    assert any("test_made_up" in f and "by hand" in f for f in nb.metadata["grading"]["flags"])
    assert "test_made_up" not in calls[0][2]


def test_sandbox_failure_gives_no_points_and_flags_every_cell(monkeypatch, tmp_path):
    nb, resources, _ = run(notebook(), monkeypatch, error=RuntimeError("boom"), tmp_path=tmp_path)
    assert all(determine_grade(c)[0] == 0 for c in graded_cells(nb))
    assert sorted(resources[MANUAL]) == sorted([GID_A.grade_id, GID_B.grade_id])
    assert any("sandbox failed" in f for f in nb.metadata["grading"]["flags"])


def test_missing_verdict_needs_a_person(monkeypatch, tmp_path):
    nb, resources, _ = run(notebook(), monkeypatch, {GID_A.grade_id: Verdict(True, "")},
                           tmp_path=tmp_path)
    assert resources[MANUAL] == [GID_B.grade_id]
    assert determine_grade(graded_cells(nb)[1])[0] == 0


def test_a_refused_import_is_flagged_once(monkeypatch, tmp_path):
    """A cell that imports cnnlib where test A forbids it: pre-flight's flag says so, and A's
    sandbox flags that follow from it (the import blocked, the function missing) are not
    repeated. Its other flags, and test B's, stay."""
    nb = notebook()
    nb.cells[2].source = "import cnnlib\n" + nb.cells[2].source
    said = reference_import_flags(nb, {GID_A.grade_id: GID_A})
    assert len(said) == 1 and GID_A.grade_id in said[0] and GID_B.grade_id not in said[0]
    nb.metadata["grading"] = {"flags": list(said)}
    blocked, missing = "import of reference blocked: cnnlib", f"missing function {GID_A.target}"
    verdicts = {GID_A.grade_id: Verdict(False, "missing", [missing, blocked, "timeout"]),
                GID_B.grade_id: Verdict(False, "blocked", [blocked])}
    nb, _, _ = run(nb, monkeypatch, verdicts, tmp_path=tmp_path)
    assert nb.metadata["grading"]["flags"] == [*said, f"{GID_A.grade_id}: timeout",
                                               f"{GID_B.grade_id}: {blocked}"]


def test_a_cell_the_jail_stopped_says_so_in_the_feedback_when_every_check_passed(monkeypatch, tmp_path):
    """A scratch cell that slept (or filled the memory) outside every graded function: all
    checks passed, and the feedback showed the cell with no output, so the student never
    learned it had been stopped (an instructor's trial). The cell now says so; no flag (no
    person needs to look), and the other cells keep no output."""
    from grading.preprocessors import STOPPED_NOTES
    from grading.sandbox import Verdicts
    verdicts = Verdicts({GID_A.grade_id: Verdict(True, ""), GID_B.grade_id: Verdict(True, "")})
    verdicts.stopped = {2: "idle"}          # the third code cell: print('scratch')
    nb, _, _ = run(notebook(), monkeypatch, verdicts, tmp_path=tmp_path)
    scratch = next(c for c in nb.cells if c.source == "print('scratch')")
    assert [(o.output_type, o.name, o.text) for o in scratch.outputs] == [
        ("stream", "stderr", STOPPED_NOTES["idle"] + "\n")]
    assert "waited without computing" in STOPPED_NOTES["idle"] and "memory" in STOPPED_NOTES["memory"]
    from grading.sandbox import CELL_STOPPED
    assert set(STOPPED_NOTES) == set(CELL_STOPPED) | {"memory"}   # every way a cell is stopped
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code" and c is not scratch
                   and not c.metadata.get("nbgrader", {}).get("grade"))
    assert determine_grade(graded_cells(nb)[0]) == (5.0, 5.0) and nb.metadata["grading"]["flags"] == []
