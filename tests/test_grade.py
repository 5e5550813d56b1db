"""grading/grade.py without a cluster: the terminal summary of a batch."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from grading.grade import Submission, alembic_on_path, summary


@pytest.mark.filterwarnings("ignore:.*not in session")   # nbgrader's own, as grade.main ignores it
def test_summary_has_a_column_only_for_assignments_handed_in(tmp_path):
    """Two of eleven assignments collected: the table must not be nine columns of dashes."""
    from nbgrader.api import Gradebook
    alembic_on_path()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    names = ["01_mlp", "02_convolution", "05_pooling", "06_backprop"]
    with Gradebook(url) as gb:
        for name in names:
            gb.add_assignment(name)
        for student in ("ada", "ben"):
            gb.add_student(student)
        gb.add_submission("02_convolution", "ada")
        gb.add_submission("05_pooling", "ben")
    subs = [Submission("ada", "02_convolution", tmp_path), Submission("ben", "05_pooling", tmp_path)]
    for sub in subs:
        sub.status = "graded"
    lines = summary(url, ["ada", "ben"], names, subs).splitlines()
    assert lines[0].split() == ["student", "02_convolution", "05_pooling"]
    assert lines[1].split() == ["ada", "0/0", "-"] and lines[2].split() == ["ben", "-", "0/0"]


def test_a_large_class_is_summed_up_per_assignment(tmp_path):
    """A MOOC's run must not print a line per student: past TABLE_ROWS students the summary
    counts per assignment, and past FLAG_LINES flags it points to grades.csv for the rest."""
    import grading_helpers as gh
    from grading.grade import FLAG_LINES, TABLE_ROWS
    n = TABLE_ROWS + 5
    students = [f"s{i:03d}" for i in range(n)]
    url = gh.small_gradebook(tmp_path, {"t1": 5, "t2": 5},
                             {s: {"t1": 5.0, "t2": float(i % 2) * 5} for i, s in enumerate(students[:-1])})
    subs = [Submission(s, "a", tmp_path) for s in students[:-1]]
    for i, sub in enumerate(subs):
        sub.status = "graded"
        sub.flags = ["a flag", "another"]
    stray = [f"submitted/x{i}.ipynb: not in a student's folder" for i in range(3)]
    lines = summary(url, students, ["a"], subs, stray).splitlines()
    assert all(f"  not graded: {line}" in lines for line in stray)   # not in grades.csv: never cut
    assert lines[0].split()[:3] == ["assignment", "handed", "in"]
    graded = n - 1
    mean = (5 * graded + 5 * (graded // 2)) / graded
    assert lines[1].split() == ["a", f"{graded}/{n}", str(graded), f"{mean:.1f}/10", "0", "0", "0"]
    assert not any(line.startswith("s0") for line in lines)
    assert f"FLAGS for a person ({graded} submission(s)):" in lines and 2 * graded > FLAG_LINES
    assert sum(line.startswith("  s0") for line in lines) == FLAG_LINES
    assert lines[-1] == (f"  ... and {2 * graded - FLAG_LINES} more: grades.csv's needs_person column and "
                         f"class_report.html list every one")
    small = summary(url, students[:3], ["a"], subs[:3]).splitlines()
    assert small[0].split() == ["student", "a"] and small[1].split() == ["s000", "5/10"]


def test_the_guide_states_the_summary_limits_in_force():
    from grading.grade import FLAG_LINES, TABLE_ROWS
    guide = " ".join((Path(__file__).resolve().parent.parent / "book" / "instructor_guide.md").read_text().split())
    assert f"for a class of more than {TABLE_ROWS}, one row per assignment" in guide
    assert f"then the first {FLAG_LINES} submissions' flags;" in guide


def planned(root, students) -> list:
    """Submissions of assignment "a" by `students` under `root` (and their autograded/
    folders), passed through `plan` once: each has its digest, nothing is recorded yet."""
    from grading.grade import plan
    from grading.progress import Progress
    subs = []
    for student in students:
        folder = root / "submitted" / student / "a"
        folder.mkdir(parents=True)
        (folder / "a.ipynb").write_text("{}")
        (root / "autograded" / student / "a").mkdir(parents=True)
        subs.append(Submission(student, "a", folder))
    plan(root, subs, False, Progress(len(subs)))
    return subs


def graded_before(root, students) -> list:
    """Submissions of assignment "a" by `students` under `root`, recorded as graded (their state
    and autograded/ folder written, as a run leaves them)."""
    from grading.grade import write_state
    subs = planned(root, students)
    for sub in subs:
        sub.status = "graded"
        write_state(root, sub, sub.digest)
    return subs


def test_an_unknown_student_stops_with_the_names_close_to_it(tmp_path):
    """`make grade ARGS="--student adaa"` graded nothing, printed an empty table, exit 0."""
    from grading.grade import find_submissions
    assert find_submissions(tmp_path, ["02_convolution"], ["ada"]) == []   # no class yet: no error
    for student in ("ada", "ben"):
        (tmp_path / "submitted" / student / "02_convolution").mkdir(parents=True)
    assert [s.key for s in find_submissions(tmp_path, ["02_convolution"], ["ada"])] == \
        ["ada/02_convolution"]
    with pytest.raises(SystemExit, match=r"\['adaa'\] \(2 students there; did you mean ada\?\)"):
        find_submissions(tmp_path, ["02_convolution"], ["adaa"])
    with pytest.raises(SystemExit, match=r"\['zed'\] \(2 students there\)"):
        find_submissions(tmp_path, ["02_convolution"], ["ada", "zed"])


def test_work_outside_the_layout_is_named_never_skipped_silently(tmp_path):
    """An instructor's day-one slips (assignment folder first, a notebook loose in the student's
    folder, a misspelt assignment, a file at the top) graded nothing and said "FLAGS: none"."""
    from grading.grade import alembic_on_path, misplaced, summary
    names = ["02_convolution", "05_pooling"]
    sub = tmp_path / "submitted"
    (sub / "05_pooling" / "zoe").mkdir(parents=True)                   # assignment first
    (sub / "yan").mkdir()
    (sub / "yan" / "05_pooling.ipynb").write_text("{}")               # loose in the student's folder
    (sub / "zoe" / "05-pooling").mkdir(parents=True)                   # misspelt
    (sub / "notes.txt").write_text("x")
    (sub / "ada" / "02_convolution").mkdir(parents=True)               # right
    lines = misplaced(tmp_path, names, None)
    assert len(lines) == 4, lines
    assert any(line.startswith("submitted/05_pooling/: named like an assignment") for line in lines)
    assert any(line.startswith("submitted/yan/05_pooling.ipynb: a file outside any assignment's folder")
               and "did you mean yan/05_pooling/?" in line for line in lines)
    assert any(line.startswith("submitted/zoe/05-pooling: a folder that is not an assignment")
               and "did you mean zoe/05_pooling/?" in line for line in lines)
    assert any(line.startswith("submitted/notes.txt: a file outside any student's folder") for line in lines)
    assert misplaced(tmp_path, names, ["ada"]) == []                   # --student: only that folder
    alembic_on_path()
    flags = summary(f"sqlite:///{tmp_path / 'gb.db'}", [], [], [], lines).splitlines()
    assert flags[-5] == "FLAGS for a person:" and flags[-1].startswith("  not graded: submitted/"), flags


@pytest.mark.slow
def test_make_grade_names_misplaced_work_and_an_empty_class(tmp_path):
    """make grade on a class whose only submission sits in submitted/<assignment>/<student>/:
    it says so on stderr and under FLAGS, and that no submission was found (the exports are
    written, empty, as for a course before its first hand-in)."""
    import grading_helpers as gh
    root = gh.make_course(tmp_path, ["05_pooling"])
    (root / "submitted" / "05_pooling" / "zoe").mkdir(parents=True)
    run = gh.grade(root)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "not graded: submitted/05_pooling/: named like an assignment" in run.stderr
    assert "no submissions to grade under" in run.stderr
    assert "nothing changed since the last run" not in run.stdout
    assert "FLAGS for a person:\n  not graded: submitted/05_pooling/" in run.stdout, run.stdout
    (root / "submitted" / "zoe").mkdir()
    (root / "submitted" / "zoe" / "05_pooling.ipynb").write_text("{}")   # loose in zoe's folder
    run = gh.grade(root, "--student", "zoe")   # it names whose work it looked for
    assert "no submissions of zoe to grade under" in run.stderr, run.stderr


def test_a_course_other_accounts_can_read_is_named():
    """On a shared server (students with accounts on it) the umask 022 clone left solutions/
    and the gradebook readable by every account, and `nbgrader collect` leaves submitted/
    folders writable by all; the guide never said so. make grade names what is open."""
    import shutil
    import tempfile
    from pathlib import Path

    from grading.grade import open_to_others
    top = Path(tempfile.mkdtemp(dir="/tmp"))          # /tmp and / let others in; pytest's tmp does not
    try:
        top.chmod(0o755)
        root = top / "course"
        (root / "solutions").mkdir(parents=True, mode=0o755)
        (root / "gradebook.db").write_bytes(b"")
        (root / "gradebook.db").chmod(0o644)
        (root / "submitted" / "ada" / "05_pooling").mkdir(parents=True)
        root.chmod(0o755)
        (root / "submitted").chmod(0o755)
        assert open_to_others(root) == ["solutions", "gradebook.db"]
        (root / "submitted" / "ada" / "05_pooling").chmod(0o777)
        assert open_to_others(root)[-1] == "submitted/ (folders writable by all)"
        import subprocess
        guide = " ".join((Path(__file__).resolve().parents[1] / "book" / "instructor_guide.md").read_text().split())
        assert "`chmod -R go-rwx` on the course folder closes it" in guide
        subprocess.run(["chmod", "-R", "go-rwx", str(root)], check=True)   # as the guide says
        assert open_to_others(root) == []
        assert not (root / "gradebook.db").stat().st_mode & 0o077
    finally:
        shutil.rmtree(top)


def test_a_submission_graded_since_by_another_tool_is_graded_again(tmp_path):
    """A plain `nbgrader autograde` (say, where the jail could not start, so every test cell
    waits for a person) rewrites autograded/; `make grade` must not call that "unchanged"."""
    from grading.grade import Submission, plan, write_state
    from grading.progress import Progress
    folder = tmp_path / "submitted" / "ada" / "05_pooling"
    folder.mkdir(parents=True)
    (folder / "05_pooling.ipynb").write_text("{}")
    graded = tmp_path / "autograded" / "ada" / "05_pooling"
    graded.mkdir(parents=True)
    (graded / "05_pooling.ipynb").write_text('{"graded by": "make grade"}')
    sub = Submission("ada", "05_pooling", folder)
    assert plan(tmp_path, [sub], False, Progress(1)) == [sub]          # never graded
    sub.status = "graded"
    write_state(tmp_path, sub, sub.digest)
    again = Submission("ada", "05_pooling", folder)
    assert plan(tmp_path, [again], False, Progress(1)) == [] and again.status == "unchanged"
    (graded / "05_pooling.ipynb").write_text('{"graded by": "nbgrader autograde, no jail"}')
    third = Submission("ada", "05_pooling", folder)
    assert plan(tmp_path, [third], False, Progress(1)) == [third]


def test_the_same_files_regraded_keep_their_recorded_seed(tmp_path):
    """A regrade that the rules caused (an edited nbgrader_config.py) reuses the seed the last
    grading recorded, so a borderline score cannot flip on new random inputs; changed files
    get a fresh one (None: the task draws it)."""
    import json
    from grading.grade import Submission, plan, write_state
    from grading.progress import Progress
    folder = tmp_path / "submitted" / "ada" / "05_pooling"
    folder.mkdir(parents=True)
    (folder / "05_pooling.ipynb").write_text("{}")
    graded = tmp_path / "autograded" / "ada" / "05_pooling"
    graded.mkdir(parents=True)
    (graded / "05_pooling.ipynb").write_text(json.dumps({"metadata": {"grading": {"seed": 4242}}}))
    sub = Submission("ada", "05_pooling", folder)
    plan(tmp_path, [sub], False, Progress(1))
    sub.status = "graded"
    write_state(tmp_path, sub, sub.digest)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Exchange.root = '/srv/x'\n")
    again = Submission("ada", "05_pooling", folder)
    assert plan(tmp_path, [again], False, Progress(1)) == [again] and again.seed == 4242
    forced = Submission("ada", "05_pooling", folder)
    assert plan(tmp_path, [forced], True, Progress(1)) == [forced] and forced.seed == 4242
    (folder / "05_pooling.ipynb").write_text('{"changed": 1}')
    changed = Submission("ada", "05_pooling", folder)
    assert plan(tmp_path, [changed], False, Progress(1)) == [changed] and changed.seed is None


def test_a_rerun_counts_the_unchanged_in_one_line_and_shows_the_flagged(tmp_path, capsys):
    """`plan` printed "[k/N] key  unchanged  0.0 s" for every submission graded before (a
    MOOC's re-run: thousands of lines). One line counts those without flags; the flagged one
    and the one left "not graded" by its own files keep their lines; the new one is graded."""
    from grading.grade import Submission, plan, write_state
    from grading.progress import Progress
    before = {"ada": ("graded", []), "ben": ("graded", []), "cy": ("graded", ["extra files: x"]),
              "dee": ("not graded", ["a.ipynb is missing; not graded"])}
    subs = planned(tmp_path, [*before, "eve"])
    for sub in subs[:4]:
        sub.status, sub.flags = before[sub.student]
        sub.retry = sub.status == "graded"
        write_state(tmp_path, sub, sub.digest)
    capsys.readouterr()
    again = [Submission(s.student, "a", s.folder) for s in subs]
    progress = Progress(len(again))
    assert plan(tmp_path, again, False, progress) == [again[4]]
    assert capsys.readouterr().out.splitlines() == [
        "2 of 5 submission(s) unchanged since their last grading, without flags: not graded "
        "again (--force grades them again)",
        "[3/5] cy/a                                     unchanged    0.0 s  [1 flag(s)]",
        "[4/5] dee/a                                    unchanged    0.0 s  [1 flag(s)]  not graded"]
    assert progress.done == 4


@pytest.mark.filterwarnings("ignore:.*not in session")
def test_summary_star_only_for_cells_still_waiting_for_a_person(tmp_path):
    """A score typed in the formgrader, then a `--force` regrade (which marks the cell for a
    look again): grades.csv says "graded", so the summary must not say a cell needs a person."""
    from nbgrader.api import Gradebook

    import grading_helpers as gh
    from grading.export import class_rows
    url = gh.small_gradebook(tmp_path, {"t1": 5, "t2": 5}, {s: {"t1": 5.0, "t2": 0.0} for s in ("ada", "ben")})
    with Gradebook(url) as gb:
        hand = gb.find_grade("t2", "a", "a", "ada")
        hand.manual_score, hand.needs_manual_grade = 4.0, True     # merge_result after --force
        gb.find_grade("t2", "a", "a", "ben").needs_manual_grade = True   # a cell not graded
        gb.db.commit()
    subs = [Submission(s, "a", tmp_path) for s in ("ada", "ben")]
    for sub in subs:
        sub.status = "graded"
    text = summary(url, ["ada", "ben"], ["a"], subs)
    status = {r.student_id: r.status for r in class_rows(tmp_path, url)}
    assert status == {"ada": "graded", "ben": "needs a person"}
    assert text.splitlines()[1].split() == ["ada", "9/10"]
    assert text.splitlines()[2].split() == ["ben", "5/10", "*"]


def test_grading_rules_read_the_due_dates_in_any_course_folder(tmp_path):
    """A due date is part of what decides a grade, also where the folder's name has a '#'."""
    import sqlite3

    from grading.grade import grading_rules
    root = tmp_path / "course #2 (spring)"
    root.mkdir()
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    with sqlite3.connect(root / "gradebook.db") as con:
        con.execute("create table assignment (name text, duedate text)")
        con.executemany("insert into assignment values (?, ?)",
                        [("a", "2026-03-01 18:00:00.000000"), ("b", None)])
    rules = grading_rules(root)
    assert set(rules) == {"a", ""}
    assert rules["a"].endswith(":2026-03-01 18:00:00.000000")
    assert rules["a"].startswith(rules[""])


def test_flags_with_a_file_names_stray_bytes_are_written_as_utf8(tmp_path):
    """A file named with bytes that are not UTF-8 (b'\\xff\\xfe.txt') is shown as \\xff\\xfe in
    a flag; the text encodes as UTF-8 (grades.csv, the report)."""
    from grading.export import printable
    name = os.fsdecode(b"\xff\xfe.txt")
    assert printable(f"extra files: {name}") == "extra files: \\xff\\xfe.txt"
    assert printable("a\ud800b") == "a\\ud800b"
    assert printable("plain é") == "plain é"
    assert folder_hash_of(tmp_path, name) != folder_hash_of(tmp_path, "other.txt")


def folder_hash_of(tmp_path, name):
    from grading.grade import folder_hash
    folder = tmp_path / "f"
    folder.mkdir(exist_ok=True)
    for p in folder.iterdir():
        p.unlink()
    (folder / name).write_bytes(b"x")
    return folder_hash(folder)


def test_folder_hash_never_reads_a_huge_file(tmp_path):
    """A 64 GiB (sparse) file counts by its size and time: no MemoryError that would stop the
    class's run, and a change to it still shows."""
    from grading.grade import folder_hash
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "data.bin").touch()
    os.truncate(tmp_path / "data.bin", 64 << 30)
    first = folder_hash(tmp_path)
    assert folder_hash(tmp_path) == first
    os.truncate(tmp_path / "data.bin", (64 << 30) + 1)
    assert folder_hash(tmp_path) != first
    (tmp_path / "data.bin").unlink()
    (tmp_path / "data.bin").write_bytes(b"small")
    second = folder_hash(tmp_path)
    (tmp_path / "data.bin").write_bytes(b"smalL")
    assert folder_hash(tmp_path) != second


def test_grading_rules_change_with_a_test_or_the_grading_code(tmp_path, monkeypatch):
    """A fixed test in solutions/ regrades its assignment only; a change to the grading code
    or cnnlib (`code_fingerprint`) regrades every assignment."""
    import grading.grade as grade
    root = tmp_path
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    for a in ("a", "b"):
        (root / "solutions" / a).mkdir(parents=True)
        (root / "solutions" / a / f"{a}.ipynb").write_text('{"cells": []}')
    before = grade.grading_rules(root)
    assert set(before) == {"a", "b", ""}
    (root / "solutions" / "a" / "a.ipynb").write_text('{"cells": [1]}')
    after = grade.grading_rules(root)
    assert after["a"] != before["a"] and after["b"] == before["b"] and after[""] == before[""]
    monkeypatch.setattr(grade, "code_fingerprint", lambda: "0" * 64)
    changed = grade.grading_rules(root)
    assert all(changed[k] != after[k] for k in after)


def test_the_exchange_folder_and_comments_of_the_config_regrade_nothing(tmp_path):
    """The guide's `c.Exchange.root = ...` line, added after a first make grade, regraded all 48
    submissions of a class (an instructor's trial); a comment did too. A setting that can
    change a grade still changes the rules."""
    import grading.grade as grade
    config = tmp_path / "nbgrader_config.py"
    config.write_text("c = get_config()\nc.LateSubmissionPlugin.penalty_method = 'none'\n")
    (tmp_path / "solutions" / "a").mkdir(parents=True)
    (tmp_path / "solutions" / "a" / "a.ipynb").write_text('{"cells": []}')
    before = grade.grading_rules(tmp_path)
    config.write_text(config.read_text() + "# the exchange, for the students of room 2\n"
                      "c.Exchange.root = '/srv/cnn-exchange'   # mode 1777\n\n")
    assert grade.grading_rules(tmp_path) == before
    config.write_text(config.read_text().replace("'none'", "'zero'"))
    assert grade.grading_rules(tmp_path)[""] != before[""]
    config.write_text("c = get_config(\n")   # not Python: its bytes decide
    broken = grade.grading_rules(tmp_path)
    config.write_text("c = get_config(\n\n")
    assert grade.grading_rules(tmp_path)[""] != broken[""]


def test_grades_csv_writes_whole_numbers_without_an_exponent():
    """An instructor's review found seconds_late = 2.40327e+07 in grades.csv: rounded to six
    digits and in a notation a spreadsheet or an LMS may not read as seconds."""
    from grading.export import Row
    row = Row("ada", "L", "A", "a@x", "02_convolution", "2026-03-01", "graded", 12.5, 13.0,
              24032700.0, 0.0, "").csv_row()
    assert (row["score"], row["max_score"], row["seconds_late"]) == ("12.5", "13", "24032700")


@pytest.mark.slow
@pytest.mark.sandbox
def test_ctrl_c_stops_the_batch_with_one_line_and_no_worker_tracebacks(tmp_path):
    """Ctrl-C reaches every process of the terminal's group. The coordinator keeps what is
    finished and says so in one line; the local workers (forks of a forkserver that imported
    grading.quiet_workers) ignore it, where each printed a KeyboardInterrupt traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import grading_helpers as gh
    a = "06_backprop"   # its submissions train a network in the jail: seconds each
    root = gh.make_course(tmp_path, [a])
    for i in range(6):
        gh.submit(root, f"s{i}", a, gh.reference_submission(root, a))
    run = subprocess.Popen([sys.executable, "-m", "grading.grade", "--workers", "2"], cwd=root,
                           env=gh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        lines = []
        for line in run.stdout:            # the workers are up and grading: a first result
            lines.append(line)
            if line.startswith("[1/"):
                break
        os.killpg(run.pid, signal.SIGINT)
        time.sleep(0.3)                    # an impatient second Ctrl-C, while the workers stop
        try:
            os.killpg(run.pid, signal.SIGINT)
            second = True
        except ProcessLookupError:         # it had stopped already
            second = False
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130, "".join(lines) + out + err
    assert "interrupted: " in err and "recorded; run it again" in err, err
    assert ("stopping already" in err) == second, err
    # the workers' tracebacks each ended in KeyboardInterrupt; the coordinator's, once in CI,
    # was distributed's cancel race (the test below makes it happen every time)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_ctrl_c_in_a_finalizer_is_raised_by_the_batch_loop_not_lost(monkeypatch):
    """Once in a loaded run, the first Ctrl-C landed in a Dask future's ``__del__``: Python
    printed "Exception ignored ... KeyboardInterrupt" and dropped it, and the batch went on
    until a second Ctrl-C. There it raises nothing; the batch's loop raises it instead."""
    import signal
    import sys

    import grading.grade as grade

    class Future:
        def __del__(self):
            grade.stop_on_ctrl_c(signal.SIGINT, sys._getframe())

    # quieting the cluster's logs is for a real run: in this process it would silence Dask's
    # loggers for the tests that come after (test_task reads them)
    monkeypatch.setattr(grade, "quiet_cluster_logs", lambda: None)
    grade.INTERRUPTED.clear()
    try:
        grade.raise_if_interrupted()            # no Ctrl-C yet: nothing
        unraisable = []
        hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
        try:
            Future()                            # collected at once: its __del__ runs here
        finally:
            sys.unraisablehook = hook
        assert unraisable == [] and grade.INTERRUPTED
        with pytest.raises(KeyboardInterrupt):
            grade.raise_if_interrupted()
        with pytest.raises(KeyboardInterrupt):  # anywhere else it raises at once
            grade.stop_on_ctrl_c(signal.SIGINT, sys._getframe())
    finally:
        grade.INTERRUPTED.clear()


# The interrupt lands while a Dask call waits in distributed.utils.sync, and the event loop
# runs sync's cancel callback before it started the call (the loop is held busy until then):
# distributed logs "NameError: cannot access free variable 'future'" with a traceback.
CANCEL_RACE = """
import asyncio, os, signal, sys, threading
from distributed import utils
import grading.grade

handler = {"python": signal.default_int_handler, "grade": grading.grade.stop_on_ctrl_c}
signal.signal(signal.SIGINT, handler[sys.argv[1]])
runner = utils.LoopRunner(asynchronous=False)
runner.start()
loop, busy, main = runner.loop, threading.Event(), threading.main_thread().ident
loop.add_callback(busy.wait)

def waiting_in_sync():
    frame = sys._current_frames()[main]
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename == utils.__file__:
            return True
        frame = frame.f_back
    return False

def ctrl_c():
    while not waiting_in_sync():
        threading.Event().wait(0.01)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=ctrl_c, daemon=True).start()
try:
    utils.sync(loop, asyncio.sleep, 60)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
after_cancel = threading.Event()
busy.set()
loop.add_callback(after_cancel.set)
after_cancel.wait(30)
runner.stop()
"""


def test_ctrl_c_during_a_dask_call_logs_no_traceback_of_distributed():
    """`stop_on_ctrl_c` quiets the cluster's logs before the KeyboardInterrupt exists, so the
    cancel that distributed's sync() schedules on the way out logs nothing."""
    import subprocess
    import sys
    import grading_helpers as gh
    runs = {how: subprocess.run([sys.executable, "-c", CANCEL_RACE, how], env=gh.env(),
                                capture_output=True, text=True, timeout=120)
            for how in ("python", "grade")}
    for run in runs.values():
        assert run.returncode == 0 and "interrupted" in run.stderr, run.stderr
    if "NameError" not in runs["python"].stderr:
        pytest.skip("this distributed no longer logs its cancel race: nothing to quiet")
    assert "Traceback" not in runs["grade"].stderr, runs["grade"].stderr


def test_workers_that_leave_or_join_a_cluster_of_machines_are_named(capsys):
    """On a cluster of grading machines a lost machine is not silent: one line when a worker
    leaves or joins, and one when none is left (the batch then waits); the local cluster,
    whose workers this process restarts itself, prints none."""
    from grading.grade import Batch
    for remote in (True, False):
        batch = Batch.__new__(Batch)
        batch.remote, batch.workers, batch.retired = remote, None, set()
        for seen in ({"tcp://a:1", "tcp://b:2"}, {"tcp://a:1", "tcp://b:2"}, {"tcp://b:2", "tcp://c:3"}, set()):
            batch.notice_workers(seen)
        out = capsys.readouterr().out
        if not remote:
            assert out == ""
            continue
        assert out.splitlines() == [
            "worker tcp://a:1 left the cluster; its submissions go to the others",
            "worker tcp://c:3 joined the cluster",
            "worker tcp://b:2 left the cluster; its submissions go to the others",
            "worker tcp://c:3 left the cluster; its submissions go to the others",
            "no workers left: waiting for one (start one with `python -m grading.cluster worker`; "
            "Ctrl-C stops, finished grades are kept)"]


def test_a_retired_worker_is_announced_once(capsys):
    """A worker of another commit, retired by `send_elsewhere` ("It leaves the cluster; its
    submissions go to the others"), was announced a second time when it left (MOOC trial)."""
    from grading.grade import Batch
    batch = Batch.__new__(Batch)
    batch.remote, batch.workers, batch.retired = True, None, {"tcp://a:1"}
    batch.notice_workers({"tcp://a:1", "tcp://b:2"})
    batch.notice_workers({"tcp://b:2"})
    assert capsys.readouterr().out == ""


def test_the_time_left_follows_the_workers_of_the_cluster():
    """`Batch.watch` sees the workers every few seconds: when one leaves, the progress's rate
    is told the threads there are now (it used to keep the count of the batch's start)."""
    import io

    from grading.grade import Batch
    from grading.progress import Progress

    class Client:
        threads = {"tcp://a:1": 1, "tcp://b:2": 1}

        def run(self, function, on_error):
            return {worker: [] for worker in self.threads}

        def nthreads(self):
            return dict(self.threads)

    batch = Batch.__new__(Batch)
    batch.remote, batch.workers, batch.alone = False, None, False
    batch.client, batch.futures, batch.started = Client(), {}, {}
    batch.progress = Progress(10, io.StringIO())
    batch.window = 2
    batch.progress.sending(2)                                  # as the batch starts
    del batch.client.threads["tcp://b:2"]
    batch.watch(every=0)
    assert (batch.window, batch.progress.workers) == (1, 1)
    batch.client.threads.clear()
    batch.watch(every=0)
    assert (batch.window, batch.progress.workers) == (1, 0)   # one task waits for a worker


# ----------------------------------------------------------------------------- points changed
def _set_points(root, assignment, grade_id, points):
    import nbformat
    path = root / "solutions" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == grade_id:
            meta["points"] = points
    nbformat.write(nb, str(path))


@pytest.mark.filterwarnings("ignore:.*not in session")
def test_the_gradebook_follows_the_points_and_tests_of_solutions(tmp_path, capsys):
    """Ivy's trial: test_conv2d_single 5 -> 6 points in solutions/, `make grade` without
    `make exercises`: the gradebook (whose maxima and test code autograde uses) kept 5, so a
    correct student got 10 of 10, then 10 of 11 once `make exercises` updated the gradebook.
    `ensure_gradebook` records the assignment again from solutions/, with its submissions."""
    from nbgrader.api import Gradebook

    from grading.grade import ensure_gradebook, gradebook_differences, load_config
    from grading_helpers import make_course
    root = make_course(tmp_path, ["02_convolution"])
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gb:
        assert gradebook_differences(gb, root, "02_convolution") == []   # as generated
        gb.add_student("ada")
        gb.add_submission("02_convolution", "ada")
        grade = gb.find_grade("test_conv2d_single", "02_convolution", "02_convolution", "ada")
        grade.auto_score, grade.needs_manual_grade = 5.0, False
        gb.db.commit()
    _set_points(root, "02_convolution", "test_conv2d_single", 6)
    with Gradebook(url) as gb:
        assert gradebook_differences(gb, root, "02_convolution") == [
            "test_conv2d_single: 5 points in the gradebook, 6 in solutions/"]
    ensure_gradebook(root, load_config(root), ["02_convolution"], ["ada"])
    assert "02_convolution updated from solutions/ (test_conv2d_single: 5 points" in capsys.readouterr().out
    with Gradebook(url) as gb:
        assert gb.find_grade_cell("test_conv2d_single", "02_convolution", "02_convolution").max_score == 6
        assert gb.find_submission("02_convolution", "ada").max_score == 11
        assert gradebook_differences(gb, root, "02_convolution") == []
    # a test fixed in solutions/: the code autograde puts back into every submission follows
    import nbformat
    path = root / "solutions" / "02_convolution" / "02_convolution.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_conv2d_single")
    cell.source += "\n# fixed"
    nbformat.write(nb, str(path))
    ensure_gradebook(root, load_config(root), ["02_convolution"], [])
    with Gradebook(url) as gb:
        assert gb.find_source_cell("test_conv2d_single", "02_convolution", "02_convolution").source == cell.source


@pytest.mark.filterwarnings("ignore:.*not in session")
def test_a_score_graded_against_other_points_is_graded_again(tmp_path):
    """The gradebook's maximum changed after the grading (`make exercises` after `make grade`):
    5 of a cell now worth 6 is neither 0 nor full marks, which a test cell of this course never
    gives; `plan` grades that submission again though its files and solutions/ are the same."""
    import grading_helpers as gh
    from grading.grade import Submission, plan, stale_scores
    from grading.progress import Progress
    gh.small_gradebook(tmp_path, {"t1": 6, "t2": 5}, {
        "ada": {"t1": 5.0, "t2": 5.0}, "ben": {"t1": 6.0, "t2": 0.0}, "cy": {"t1": None, "t2": 5.0}})
    assert stale_scores(tmp_path) == {"ada/a"}
    subs = graded_before(tmp_path, ("ada", "ben", "cy"))
    again = [Submission(s.student, "a", s.folder) for s in subs]
    assert [s.key for s in plan(tmp_path, again, False, Progress(3))] == ["ada/a"]


def test_points_of_a_check_and_its_notebook_that_differ_stop_make_grade(tmp_path):
    """Only `make test` noticed a check's points= that differs from the notebook's; `make grade`
    stops (nothing graded) with a message naming both."""
    import shutil

    from grading.grade import points_disagree
    from grading_helpers import REPO
    shutil.copytree(REPO / "solutions" / "02_convolution", tmp_path / "solutions" / "02_convolution")
    assert points_disagree(tmp_path, ["02_convolution"]) == []
    _set_points(tmp_path, "02_convolution", "test_conv2d_single", 6)
    assert points_disagree(tmp_path, ["02_convolution"]) == [
        "test_conv2d_single: 6 points in solutions/02_convolution/02_convolution.ipynb (nbgrader "
        "metadata), points=5 in grading/checks/a02_convolution.py"]
    (tmp_path / "submitted" / "ada" / "02_convolution").mkdir(parents=True)
    from grading.grade import main
    assert main(["--root", str(tmp_path)]) == 2
    assert not (tmp_path / "gradebook.db").exists() and not (tmp_path / "grades.csv").exists()


def test_a_release_older_than_solutions_is_named(tmp_path):
    """`make grade` after an edit of the points in solutions/ without `make exercises`: the
    grades follow solutions/, but the students' notebooks say otherwise; a note says so."""
    import shutil

    from grading.grade import release_differences
    from grading_helpers import REPO
    for top in ("solutions", "exercises"):
        shutil.copytree(REPO / top / "02_convolution", tmp_path / top / "02_convolution")
    assert release_differences(tmp_path, ["02_convolution"]) == []
    _set_points(tmp_path, "02_convolution", "test_conv2d_single", 6)
    assert release_differences(tmp_path, ["02_convolution"]) == [
        "02_convolution/test_conv2d_single: 5 points in exercises/, 6 in solutions/"]


# ----------------------------------------------------------------------------- hand grades
@pytest.mark.filterwarnings("ignore:.*not in session")
def test_a_hand_grade_does_not_outlive_a_resubmission(tmp_path):
    """Ivy's trial: a broken cell (5/10), a hand grade of 2 on it, then the student hands in a
    fixed notebook: `make grade` said 7/10 (the old hand grade decided), "FLAGS: none". The
    hand grade judged code that is gone: it is dropped, and a flag keeps it for the
    instructor. The same files graded again (--force, new rules) keep it."""
    from nbgrader.api import Gradebook

    import grading_helpers as gh
    from grading.export import class_rows
    from grading.grade import Batch, Submission, load_config, plan, write_state
    from grading.progress import Progress
    url = gh.small_gradebook(tmp_path, {"t1": 5, "t2": 5}, {"ada": {"t1": 5.0, "t2": 0.0}})
    with Gradebook(url) as gb:
        gb.find_grade("t2", "a", "a", "ada").manual_score = 2.0     # the formgrader
        gb.db.commit()
    folder = tmp_path / "submitted" / "ada" / "a"
    folder.mkdir(parents=True)
    (folder / "a.ipynb").write_text('{"broken": 1}')
    (tmp_path / "autograded" / "ada" / "a").mkdir(parents=True)
    sub = Submission("ada", "a", folder)
    plan(tmp_path, [sub], False, Progress(1))
    sub.status = "graded"
    write_state(tmp_path, sub, sub.digest)
    result = {"ok": True, "flags": [], "autograded": None, "feedback": None,
              "notebooks": {"a": {"grades": {"t1": (5.0, False), "t2": (5.0, False)},
                                  "comments": {}, "penalty": 0.0}}}

    hand = {}

    def regrade(force=False):
        again = Submission("ada", "a", folder)
        (todo,) = plan(tmp_path, [again], force, Progress(1))
        batch = Batch(tmp_path, load_config(tmp_path), [again], Progress(1))
        template = tmp_path / "template.db"   # what the job grades with
        template.write_bytes(batch.course()["template"])
        with Gradebook(f"sqlite:///{template}") as gb:
            hand["job"] = gb.find_grade("t2", "a", "a", "ada").manual_score
        batch.finish(todo, dict(result), on_cluster=True)
        (tmp_path / "autograded" / "ada" / "a").mkdir(parents=True, exist_ok=True)
        with Gradebook(url) as gb:
            return again, gb.find_submission("a", "ada").score

    again, score = regrade(force=True)                    # the same files: the hand grade stays
    assert score == 7 and not again.flags and hand["job"] == 2
    (folder / "a.ipynb").write_text('{"fixed": 1}')       # handed in again
    again, score = regrade()
    assert score == 10 and hand["job"] is None   # nor in the job: no "needs a person" there
    assert again.flags == ["hand grade(s) of an earlier version dropped (t2 2 of 5): handed in "
                           "again since; check the new version in the formgrader"]
    (row,) = class_rows(tmp_path, url)
    assert row.status == "graded" and row.score == 10 and "hand grade(s) of an earlier" in row.needs_person


@pytest.mark.filterwarnings("ignore:.*not in session")
def test_a_score_graded_against_other_points_is_exported_as_needs_regrade(tmp_path):
    """Tad's trial: test_conv2d_multi 5 -> 6 points, `make exercises`, then
    `python -m grading.grade --student ada`: grades.csv said `emma,...,graded,10,11` for the
    whole class (the new maximum, the old score). A score given against other points is
    "needs regrade" with no score in both exports, and the run says how many and what to do."""
    import csv

    import grading_helpers as gh
    from grading.export import export
    from grading.grade import export_and_report
    url = gh.small_gradebook(tmp_path, {"t1": 6, "t2": 5}, {
        "ada": {"t1": 6.0, "t2": 5.0}, "emma": {"t1": 5.0, "t2": 5.0}, "cy": {"t1": 0.0, "t2": 5.0}})
    _, _, rows = export(tmp_path, url)
    by = {r.student_id: r for r in rows}
    assert (by["ada"].status, by["ada"].score) == ("graded", 11)
    assert (by["cy"].status, by["cy"].score) == ("graded", 5)      # 0 of 6 is 0 of 5 too
    assert (by["emma"].status, by["emma"].score) == ("needs regrade", None)
    assert "t1 scored 5, now worth 6" in by["emma"].needs_person
    long = {r["student_id"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    assert long["emma"]["status"] == "needs regrade" and long["emma"]["score"] == ""
    wide = {r["ID"]: r for r in csv.DictReader((tmp_path / "grades-lms.csv").open())}
    assert wide["emma"]["a (11)"] == "" and wide["ada"]["a (11)"] == "11"
    subs = [Submission(s, "a", tmp_path) for s in ("ada", "emma")]
    for sub in subs:
        sub.status = "unchanged"
    table = summary(url, ["ada", "emma"], ["a"], subs).splitlines()
    assert table[2].split() == ["emma", "NEEDS", "REGRADE"]
    _, lines = export_and_report(tmp_path, url)
    assert ('1 submission(s) graded before their points changed are exported as "needs regrade", '
            'without a score (emma/a): grade them again with `make grade` (or '
            '`python -m grading.grade --assignment a`)') in lines


@pytest.mark.filterwarnings("ignore:.*not in session")
def test_an_extension_in_extensions_csv_moves_one_students_due_date(tmp_path):
    """Tad's trial: with a due date and penalty "zero", a student given an extension still
    scored 0 (nbgrader has one due date per assignment; the only way was editing the
    student's timestamp.txt). extensions.csv gives a student's own due date: it is a rule of
    the grade (a new line grades that submission again), the gradebook's extension is set from
    it before grading, grades.csv says until when, and a file without a zone stops the run."""
    from datetime import datetime

    from nbgrader.api import Gradebook

    import grading_helpers as gh
    from grading.export import class_rows
    from grading.extensions import apply_extensions, read_extensions, without_due_date
    from grading.grade import plan
    from grading.progress import Progress
    url = gh.small_gradebook(tmp_path, {"t1": 5}, {"ada": {"t1": 5.0}, "ben": {"t1": 5.0}})
    handed = datetime(2026, 3, 2, 9, 0)                       # 15 h after the due date
    with Gradebook(url) as gb:
        assert without_due_date(url, {("ben", "a"): handed}) == [
            'a: no due date in the gradebook, so nothing is late and an extension changes '
            'nothing (give it one: nbgrader db assignment add a --duedate="...")']
        gb.update_or_create_assignment("a", duedate=datetime(2026, 3, 1, 18, 0))
        for student in ("ada", "ben"):
            gb.update_or_create_submission("a", student, timestamp=handed)
    assert without_due_date(url, {("ben", "a"): handed}) == []
    subs = graded_before(tmp_path, ("ada", "ben"))
    (tmp_path / "extensions.csv").write_text(
        "student_id,assignment,due\nben,a,2026-03-08 18:00:00+01:00\n")
    ext = read_extensions(tmp_path)
    assert ext == {("ben", "a"): datetime(2026, 3, 8, 17, 0)}
    again = [Submission(s.student, "a", s.folder) for s in subs]
    todo = plan(tmp_path, again, False, Progress(2))
    assert [s.key for s in todo] == ["ben/a"]                  # only ben's grade changes
    apply_extensions(url, todo, ext)
    rows = {r.student_id: r for r in class_rows(tmp_path, url)}
    assert rows["ada"].seconds_late == 15 * 3600 and rows["ada"].extension_until == ""
    assert rows["ben"].seconds_late == 0 and rows["ben"].extension_until == "2026-03-08 17:00:00 UTC"
    from grading import report
    page = report.to_html(report.build(tmp_path, list(rows.values()), []))
    assert "ben / a: extension until 2026-03-08 17:00:00 UTC (on time)" in page
    (tmp_path / "extensions.csv").write_text("student_id,assignment,due\nben,a,2026-03-08 18:00\n")
    with pytest.raises(SystemExit, match=r"line 2: due '2026-03-08 18:00' is not an ISO date and "
                                         r"time with its zone"):
        read_extensions(tmp_path)


def test_a_second_grading_run_of_a_course_stops_and_names_the_first(tmp_path, capsys):
    """Two runs at once would grade every submission twice and both write the gradebook."""
    from grading.grade import main, take_lock
    first = take_lock(tmp_path)
    assert first is not None
    try:
        assert take_lock(tmp_path) is None
        assert f"another grading run (pid {os.getpid()}) is grading" in capsys.readouterr().err
        assert main(["--root", str(tmp_path)]) == 2          # nothing graded, nothing exported
        assert "is grading this course" in capsys.readouterr().err
        assert not (tmp_path / "grades.csv").exists() and not (tmp_path / "autograded").exists()
    finally:
        os.close(first)
    again = take_lock(tmp_path)                               # the first run ended: free again
    assert again is not None
    os.close(again)


def test_a_submission_too_large_to_send_is_flagged_with_its_largest_file(tmp_path):
    from grading.grade import MAX_SUBMISSION_BYTES, oversize_flag
    folder = tmp_path / "ada" / "05_pooling"
    folder.mkdir(parents=True)
    (folder / "05_pooling.ipynb").write_text("{}")
    sub = Submission("ada", "05_pooling", folder)
    assert oversize_flag(sub) == ""
    with open(folder / "weights.bin", "wb") as fh:                # sparse: no disk used
        fh.truncate(MAX_SUBMISSION_BYTES + (44 << 20))
    flag = oversize_flag(sub)
    assert flag.startswith(f"300 MiB handed in, more than the {MAX_SUBMISSION_BYTES >> 20} MiB"), flag
    assert "(largest file: weights.bin, 300 MiB)" in flag
    assert 'make grade ARGS="--student ada"' in flag and "submitted/ada/05_pooling/" in flag
