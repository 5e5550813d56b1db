"""The instructor's view of a class (issue 15): `make demo-class`, then `make grade`.

One temporary course, the demo class of grading/demo_class.py (correct, buggy, blank,
renamed, broken, pasted, late, reference-importing students and a no-show on the roster),
graded once with a fixed seed. Checked: grades mean what they say in grades.csv and
grades-lms.csv (never a plain 0 for what was not graded, no rows for work never handed in),
the stub left above a pasted working copy keeps its points, the class report, and a blank
notebook's feedback saying "not attempted" once per test cell.
"""
from __future__ import annotations

import csv
import json
from datetime import timedelta
import subprocess
import sys

import pytest

import grading_helpers as gh
from grading import demo_class

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
A1, A2 = demo_class.ASSIGNMENTS


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = gh.make_course(tmp_path_factory.mktemp("class"), list(demo_class.ASSIGNMENTS))
    made = subprocess.run([sys.executable, "-m", "grading.demo_class"], cwd=root, env=gh.env(),
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    run = gh.grade(root, "--workers", "2", "--seed", "11")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open(root / "grades.csv") as fh:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}
    return root, run, rows


def full(root, assignment):
    return sum(gh.test_points(root, assignment).values())


def test_demo_class_refuses_to_mix_into_a_real_class(tmp_path):
    (tmp_path / "submitted" / "real_student").mkdir(parents=True)
    with pytest.raises(SystemExit, match="already holds other students"):
        demo_class.write(tmp_path)


def test_rows_only_for_handed_in_work(graded):
    root, _, rows = graded
    handed = {(s, a) for (s, a) in demo_class.students(root)}
    assert set(rows) == handed                       # nia and hugo's second: no row, not a 0
    assert ("nia", A1) not in rows and ("hugo", A2) not in rows


def test_correct_blank_and_buggy_scores(graded):
    root, _, rows = graded
    for a in demo_class.ASSIGNMENTS:
        assert rows[("ada", a)]["status"] == "graded"
        assert float(rows[("ada", a)]["score"]) == full(root, a)
        assert float(rows[("jon", a)]["score"]) == full(root, a)      # another correct answer
        assert rows[("chloe", a)]["status"] == "graded"
        assert float(rows[("chloe", a)]["score"]) == 0.0              # blank: a real zero
        assert 0 <= float(rows[("ben", a)]["score"]) < full(root, a)


def test_not_graded_is_empty_with_a_status_never_zero(graded):
    root, _, rows = graded
    for student in ("dev", "ines"):                                   # renamed, broken file
        for a in demo_class.ASSIGNMENTS:
            row = rows[(student, a)]
            assert row["status"] == "not graded" and row["score"] == "", row
            assert row["needs_person"], row


def test_stub_above_pasted_copy_keeps_the_points(graded):
    root, run, rows = graded
    for a in demo_class.ASSIGNMENTS:
        assert float(rows[("emma", a)]["score"]) == full(root, a)
        flags = gh.flags_of(run.stdout, "emma", a)
        assert any("appears more than once" in f and "the last copy" in f and "was graded" in f
                   for f in flags), flags


def test_roster_names_and_lms_export(graded):
    root, _, rows = graded
    assert rows[("chloe", A1)]["first_name"] == "Chloé"
    assert rows[("chloe", A1)]["email"] == "chloe@example.edu"
    with open(root / "grades-lms.csv") as fh:
        wide = list(csv.reader(fh))
    header, body = wide[0], {r[1]: r for r in wide[1:]}
    assert header[:3] == ["Student", "ID", "Email address"]
    col = {a: header.index(next(h for h in header if h.startswith(a + " ("))) for a in demo_class.ASSIGNMENTS}
    assert body["ada"][col[A1]] == f"{full(root, A1):g}"
    assert body["dev"][col[A1]] == ""                                  # not graded: empty
    assert body["hugo"][col[A2]] == ""                                 # not handed in: empty
    assert body["nia"][col[A1]] == "" and body["nia"][0] == "Mensah, Nia"


def test_late_submission_is_recorded(graded):
    _, _, rows = graded
    assert float(rows[("farid", A1)]["seconds_late"]) > 3600
    assert float(rows[("ada", A1)]["seconds_late"]) == 0


def test_class_report(graded):
    root, run, rows = graded
    page = (root / "class_report.html").read_text()
    assert "Did not hand in" in page and "nia" in page
    missing_line = next(line for line in page.splitlines() if f"<b>{A2}</b>" in line)
    assert "hugo" in missing_line and "nia" in missing_line
    assert page.count("data:image/png;base64,") == len(demo_class.ASSIGNMENTS)
    for student in ("dev", "ines", "kai", "emma"):
        assert f"<td>{student}</td>" in page, student
    assert "white-space:pre-wrap" in page
    assert "most common failing case" in page
    assert f"did not hand in {A2}: hugo, nia" in run.stdout
    assert "most failed test cells:" in run.stdout


def test_blank_notebook_says_not_attempted_once_per_cell(graded):
    root, _, _ = graded
    nb = json.loads((root / "autograded" / "chloe" / A1 / f"{A1}.ipynb").read_text())
    texts = ["\n".join(o.get("traceback", [])) for c in nb["cells"] for o in c.get("outputs", [])
             if o.get("output_type") == "error"]
    assert texts and all("not attempted" in t for t in texts), texts
    assert all(t.count("NotImplementedError") == 1 for t in texts), texts


def test_fixed_seed_is_recorded(graded):
    root, _, _ = graded
    nb = json.loads((root / "autograded" / "ada" / A1 / f"{A1}.ipynb").read_text())
    assert nb["metadata"]["grading"]["seed"] == 11


def test_feedback_pages_wrap_long_lines(graded):
    root, _, _ = graded
    page = (root / "feedback" / "ben" / A1 / f"{A1}.html").read_text()
    assert "white-space: pre-wrap" in page and "TestFailed" in page


def test_nbgrader_autograde_on_a_fresh_clone(tmp_path):
    """`nbgrader autograde <a>` as the guide shows it, with no gradebook yet (a fresh clone)."""
    from pathlib import Path
    root = gh.make_course(tmp_path, ["05_pooling"])
    (root / "gradebook.db").unlink()
    gh.submit(root, "ada", "05_pooling", gh.reference_submission(root, "05_pooling"))
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    env = gh.env()
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"          # the venv is not activated
    run = subprocess.run([nbgrader, "autograde", "05_pooling"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "No assignment with ID" not in run.stderr
    scores = gh.gradebook_scores(root)[("ada", "05_pooling")]
    assert {g: s for g, (s, _) in scores.items()} == gh.test_points(root, "05_pooling")


def test_first_use_sync_only_for_the_commands_that_need_it(tmp_path):
    from grading.grade import sync_gradebook_on_first_use
    root = gh.make_course(tmp_path, ["05_pooling"])
    (root / "gradebook.db").unlink()
    sync_gradebook_on_first_use(root, ["nbgrader", "generate_assignment", "05_pooling"])
    sync_gradebook_on_first_use(root, ["pytest"])
    assert not (root / "gradebook.db").exists()
    sync_gradebook_on_first_use(root, ["/x/bin/nbgrader", "autograde", "05_pooling"])
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert [a.name for a in gb.assignments] == ["05_pooling"]


def test_rerun_with_nothing_to_do_replays_the_report(graded):
    """No nbgrader, no cluster, no export when nothing changed; a hand grade changes that."""
    import os
    root, first, _ = graded
    csv_before = (root / "grades.csv").stat().st_mtime_ns
    again = gh.grade(root)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.rstrip().endswith("nothing graded, nothing exported)")
    assert "grading " not in again.stdout                       # no batch, no cluster
    assert gh.summary_cell(again.stdout, "ada") == gh.summary_cell(first.stdout, "ada")
    assert (root / "grades.csv").stat().st_mtime_ns == csv_before
    os.utime(root / "gradebook.db")                             # e.g. a score typed in the formgrader
    third = gh.grade(root)
    assert third.returncode == 0 and "nothing exported" not in third.stdout
    assert (root / "grades.csv").stat().st_mtime_ns != csv_before


def test_penalty_and_due_date_chosen_after_grading_apply(tmp_path):
    """The guide's order: grade, then give a due date and choose a late penalty; a plain
    `make grade` applies them (no --force), and the summary shows the score grades.csv has."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc
    root = gh.make_course(tmp_path, [A1])
    gh.submit(root, "farid", A1, gh.reference_submission(root, A1),
              files={"timestamp.txt": demo_class.LATE + "\n"})
    first = gh.grade(root, "--workers", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    assert gh.summary_cell(first.stdout, "farid") == "10/10"
    graded_nb = root / "autograded" / "farid" / A1 / f"{A1}.ipynb"
    seed = json.loads(graded_nb.read_text())["metadata"]["grading"]["seed"]

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:     # nbgrader db assignment add
        gb.update_or_create_assignment(A1, duedate=parse_utc(demo_class.DUE))
    config = root / "nbgrader_config.py"
    plain = config.read_text()
    config.write_text(plain + '\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    late = gh.grade(root, "--workers", "1")
    assert late.returncode == 0, late.stderr[-2000:]
    assert "grading 1 of 1" in late.stdout, late.stdout[-2000:]
    # the same files, regraded by a rule: the same hidden inputs as before (no new random draw)
    assert json.loads(graded_nb.read_text())["metadata"]["grading"]["seed"] == seed
    assert gh.summary_cell(late.stdout, "farid") == "0/10 (late -10)"
    with open(root / "grades.csv") as fh:
        row = next(csv.DictReader(fh))
    assert (row["score"], row["late_submission_penalty"]) == ("0", "10"), row

    config.write_text(plain)                                       # the penalty taken back
    back = gh.grade(root, "--workers", "1")
    assert back.returncode == 0 and "grading 1 of 1" in back.stdout, back.stdout[-2000:]
    assert gh.summary_cell(back.stdout, "farid") == "10/10"


@pytest.mark.parametrize("gradebook", ["sqlite", "server"])
def test_an_extension_lifts_the_late_penalty_of_one_student(tmp_path, gradebook):
    """Tad's trial: penalty "zero", a due date, and a student given an extension still scored 0.
    A line in extensions.csv, then a plain `make grade`: that student alone is graded again,
    on time against their own due date; grades.csv says until when. The same with a server
    gradebook (a db_url in nbgrader_config.py; here sqlite under a URL that is not the root's),
    whose tasks once graded without the due date: no late penalty at all."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    from grading.grade import alembic_on_path
    alembic_on_path()   # nbgrader runs `alembic` when it makes a gradebook
    root = gh.make_course(tmp_path, [A1])
    for student in ("farid", "gita"):
        gh.submit(root, student, A1, gh.reference_submission(root, A1),
                  files={"timestamp.txt": demo_class.LATE + "\n"})
    config = root / "nbgrader_config.py"
    url = f"sqlite:///{root / 'gradebook.db'}"
    if gradebook == "server":
        url = f"sqlite+pysqlite:///{tmp_path / 'server.db'}"
        config.write_text(config.read_text() + f"\nc.CourseDirectory.db_url = {url!r}\n")
    with Gradebook(url) as gb:
        gb.update_or_create_assignment(A1, duedate=parse_utc(demo_class.DUE))
    config.write_text(config.read_text() + '\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    late = gh.grade(root, "--workers", "1")
    assert late.returncode == 0, late.stderr[-2000:]
    assert gh.summary_cell(late.stdout, "farid") == "0/10 (late -10)"
    (root / "extensions.csv").write_text(f"student_id,assignment,due\nfarid,{A1},2026-12-24 12:00:00Z\n")
    extended = gh.grade(root, "--workers", "1")
    assert extended.returncode == 0, extended.stderr[-2000:]
    assert "grading 1 of 2" in extended.stdout, extended.stdout[-2000:]
    assert gh.summary_cell(extended.stdout, "farid") == "10/10"
    assert gh.summary_cell(extended.stdout, "gita") == "0/10 (late -10)"
    with open(root / "grades.csv") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert (rows["farid"]["score"], rows["farid"]["seconds_late"], rows["farid"]["extension_until"]) \
        == ("10", "0", "2026-12-24 12:00:00 UTC"), rows["farid"]
    assert rows["gita"]["extension_until"] == ""
    with Gradebook(url) as gb:   # the due date moves for everybody: both are graded again
        gb.update_or_create_assignment(A1, duedate=parse_utc(demo_class.LATE) + timedelta(hours=1))
    moved = gh.grade(root, "--workers", "1")
    assert moved.returncode == 0, moved.stderr[-2000:]
    assert "grading 2 of 2" in moved.stdout, moved.stdout[-2000:]
    assert gh.summary_cell(moved.stdout, "gita") == "10/10"


def test_demo_class_removed_before_a_real_class(tmp_path):
    """After trying the demo, `make demo-class ARGS="--remove"` leaves no made-up student, grade
    or due date behind (the demo's due date would make every real submission late)."""
    from nbgrader.api import Gradebook

    from grading.grade import alembic_on_path
    alembic_on_path()
    root = gh.make_course(tmp_path, list(demo_class.ASSIGNMENTS))
    demo_class.write(root)
    for step in ("autograded", "feedback", "autograded/.grading"):   # as make grade leaves them
        (root / step / "ada" / A1).mkdir(parents=True)
    (root / "grades.csv").write_text("student_id\nada\n")
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.update_or_create_student("ada")
        gb.add_submission(A1, "ada")
    # real students handed in meanwhile, one of them with a name from the demo's roster
    (root / "submitted" / "real_student" / A1).mkdir(parents=True)
    (root / "submitted" / "real_student" / A1 / f"{A1}.ipynb").write_text("{}")
    ben = root / "submitted" / "ben" / A1 / f"{A1}.ipynb"
    ben.write_text(ben.read_text().replace("def ", "def  ", 1))      # the real Ben's own work

    gone, kept = demo_class.remove(root)
    assert "ada" in gone and kept == ["ben"]
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["ben", "real_student"]
    assert (root / "submitted" / "real_student" / A1 / f"{A1}.ipynb").is_file()
    assert not (root / "autograded" / "ada").exists() and not (root / "feedback" / "ada").exists()
    assert not (root / "autograded" / ".grading" / "ada").exists()
    assert not (root / "roster.csv").exists() and not (root / "grades.csv").exists()
    with Gradebook(url) as gb:
        assert gb.students == []
        assert [gb.find_assignment(a).duedate for a in demo_class.ASSIGNMENTS] == [None, None]
    (root / "roster.csv").write_text("id,first_name,last_name,email\nzoe,Zoe,Li,z@x\n")
    assert demo_class.remove(root) == ([], ["ben"]) and (root / "roster.csv").is_file()   # a real roster stays


def test_demo_class_on_a_fresh_course_without_the_venv_on_path(tmp_path):
    """`make demo-class` does not put .venv/bin on PATH: creating the gradebook must still find
    nbgrader's `alembic` (it crashed there, and left a gradebook `nbgrader db upgrade` refused)."""
    import os
    import sqlite3
    from pathlib import Path
    root = gh.make_course(tmp_path, list(demo_class.ASSIGNMENTS))
    (root / "gradebook.db").unlink()                  # a fresh clone has none
    env = gh.env()
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    made = subprocess.run([sys.executable, "-m", "grading.demo_class"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    with sqlite3.connect(root / "gradebook.db") as db:
        tables = {name for (name,) in db.execute("select name from sqlite_master where type='table'")}
    assert "alembic_version" in tables, sorted(tables)
