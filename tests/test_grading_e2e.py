"""End to end (issue 4): a temporary course, every assignment, one `make grade` run.

Submitted: the reference solutions (full marks), the untouched release (nothing), every WRONG
entry of the catalogue (loses exactly the points of its must_fail test cells, keeps the
others) and every CORRECT entry (full marks). Scores are read from nbgrader's gradebook; the
feedback HTML must exist and must not show the hidden tests.
"""
from __future__ import annotations

import csv

import pytest

import grading_helpers as gh
from grading_catalogue import ASSIGNMENT_NAMES, CORRECT, END_TO_END, WRONG, build_submission

pytestmark = [pytest.mark.sandbox, gh.needs_sandbox()]

# Most realistic first attempts are judged in process only (tests/test_checks.py, same checks);
# END_TO_END keeps those whose verdict depends on the sandbox (grading_catalogue/entries.py).
ENTRIES = {f"wrong{i:02d}": e for i, e in enumerate(e for e in END_TO_END if e in WRONG)}
ENTRIES.update({f"right{i:02d}": e for i, e in enumerate(e for e in END_TO_END if e in CORRECT)})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = gh.make_course(tmp_path_factory.mktemp("e2e"), ASSIGNMENT_NAMES)
    for a in ASSIGNMENT_NAMES:
        gh.submit(root, "reference", a, gh.reference_submission(root, a))
        gh.submit(root, "release", a, gh.release_notebook(root, a))
    for student, entry in ENTRIES.items():
        gh.submit(root, student, entry.assignment, build_submission(entry.assignment, entry.replacements))
    run = gh.grade(root, "--workers", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return root, run, gh.gradebook_scores(root)


def test_every_submission_graded(graded):
    root, run, scores = graded
    expected = {("reference", a) for a in ASSIGNMENT_NAMES} | {("release", a) for a in ASSIGNMENT_NAMES}
    expected |= {(s, e.assignment) for s, e in ENTRIES.items()}
    assert set(scores) == expected
    for student, assignment in expected:
        assert all(auto is not None for auto, _ in scores[(student, assignment)].values())
        assert not any("not graded" in f for f in gh.flags_of(run.stdout, student, assignment))


@pytest.mark.parametrize("assignment", ASSIGNMENT_NAMES)
def test_reference_full_marks_release_nothing(graded, assignment):
    root, run, scores = graded
    points = gh.test_points(root, assignment)
    assert {g: s for g, (s, _) in scores[("reference", assignment)].items()} == points, \
        gh.flags_of(run.stdout, "reference", assignment)
    assert {g: s for g, (s, _) in scores[("release", assignment)].items()} == dict.fromkeys(points, 0.0)


@pytest.mark.parametrize("student", sorted(ENTRIES), ids=lambda s: f"{s}-{ENTRIES[s].name}")
def test_catalogue_entry(graded, student):
    root, run, scores = graded
    entry = ENTRIES[student]
    points = gh.test_points(root, entry.assignment)
    want = {g: (0.0 if g in entry.must_fail else p) for g, p in points.items()}
    got = {g: s for g, (s, _) in scores[(student, entry.assignment)].items()}
    assert got == want, (entry.name, gh.flags_of(run.stdout, student, entry.assignment))
    assert not any(person for _, person in scores[(student, entry.assignment)].values())


def test_feedback_written_without_hidden_tests(graded):
    root, _, scores = graded
    for student, assignment in scores:
        page = root / "feedback" / student / assignment / f"{assignment}.html"
        html = page.read_text()
        for marker in gh.HIDDEN_MARKERS:
            assert marker not in html, (page, marker)
    wrong = next(s for s, e in ENTRIES.items() if e in WRONG)
    html = (root / "feedback" / wrong / ENTRIES[wrong].assignment / f"{ENTRIES[wrong].assignment}.html").read_text()
    assert "TestFailed" in html


def test_grades_csv_exported(graded):
    root, _, scores = graded
    with open(root / "grades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["student_id"], r["assignment"]) for r in rows} >= set(scores)
    ref = [r for r in rows if r["student_id"] == "reference"]
    assert all(float(r["score"]) == float(r["max_score"]) > 0 for r in ref)
