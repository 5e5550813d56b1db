"""Grades out of the gradebook, in files that mean what they say.

``grades.csv`` (long: one row per student and handed-in assignment)
    student_id, last_name, first_name, email, assignment, timestamp, status, score (after
    the late penalty), max_score, seconds_late, late_submission_penalty, needs_person,
    extension_until (the student's own due date, in UTC, where extensions.csv gives one:
    ``seconds_late`` counts from it; `grading.extensions`). ``status`` is one of

    - ``graded``: every test cell has a score (automatic, or a person's);
    - ``needs a person``: a cell waits for a person (it could not be graded automatically,
      or it is graded by hand); ``score`` is empty until someone grades it in the formgrader;
    - ``not graded``: no grade could be given (an unreadable or renamed notebook); ``score``
      is empty;
    - ``needs regrade``: graded against other points than the gradebook's now (a test cell's
      points changed in solutions/ after this submission was graded, then a partial run, e.g.
      ``--student ada``, updated the gradebook); ``score`` is empty until ``make grade``
      grades it again (`stale_cells`).

    ``needs_person`` says why (the pre-flight flags and the cells that wait). An assignment
    that a student never handed in has no row: it is not a zero.
``grades-lms.csv`` (wide: one row per student, for a learning platform)
    ``Student``, ``ID``, ``Email address``, then one column per assignment headed
    ``<assignment> (<max points>)``. A cell is empty where there is no final score (not handed
    in, not graded, waiting for a person). Canvas imports it (Grades → Import; rows are matched
    on ``ID``) and so does Moodle (Grades → Import → CSV file; map ``Email address`` to the
    user's e-mail).

A roster (``roster.csv`` at the course root: ``id,first_name,last_name,email``, the format of
``nbgrader db student import``) is merged into the gradebook before export when it exists, so
the names and e-mails appear in both files and the class report can list who did not hand in.
A submission under an id that is not on it keeps its rows (names empty) and says
"not on roster.csv" in ``needs_person``.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

ROSTER = "roster.csv"
LONG = "grades.csv"
WIDE = "grades-lms.csv"
LONG_COLUMNS = ["student_id", "last_name", "first_name", "email", "assignment", "timestamp",
                "status", "score", "max_score", "seconds_late", "late_submission_penalty",
                "needs_person", "extension_until"]
STATE = ".grading"


@dataclass
class Row:
    """One handed-in assignment of one student, as the gradebook and the grader left it."""

    student_id: str
    last_name: str
    first_name: str
    email: str
    assignment: str
    timestamp: str
    status: str            # graded | needs a person | not graded | needs regrade
    score: float | None    # None unless status == "graded"
    max_score: float
    seconds_late: float
    late_submission_penalty: float
    needs_person: str
    extension_until: str = ""   # the student's own due date (UTC), "" without an extension

    def csv_row(self) -> dict:
        out = {k: ("" if v is None else v) for k, v in self.__dict__.items()}
        for key in ("score", "max_score", "seconds_late", "late_submission_penalty"):
            if out[key] != "":
                out[key] = f"{float(out[key]):.10g}"   # no 2.40327e+07 for 24,032,700 s late
        return out


def read_roster(root: Path) -> list[dict]:
    """The roster's rows ({id, first_name, last_name, email}); [] without a roster file."""
    path = root / ROSTER
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "id" not in rows[0]:
        raise SystemExit(f"grading.export: {path} needs a header with an 'id' column "
                         f"(id,first_name,last_name,email); its header is {list(rows[0])}")
    return [{k: (r.get(k) or "").strip() for k in ("id", "first_name", "last_name", "email")}
            for r in rows if (r.get("id") or "").strip()]


def merge_roster(url: str, roster: list[dict]) -> None:
    """Every roster student in the gradebook, with names and e-mail (others untouched)."""
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        for r in roster:
            gb.update_or_create_student(r["id"], first_name=r["first_name"] or None,
                                        last_name=r["last_name"] or None,
                                        email=r["email"] or None)


def printable(text: str) -> str:
    """`text` writable as UTF-8: the bytes of a file name that are not UTF-8 (Python keeps them
    as lone surrogates) as ``\\xNN``, any other lone surrogate as ``\\udNNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()


def _state_flags(root: Path, student: str, assignment: str) -> tuple[str | None, list[str]]:
    path = root / "autograded" / STATE / student / f"{assignment}.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, []
    return state.get("status"), [printable(str(f)) for f in state.get("flags", [])]


def waiting_for_a_person(submission) -> list[str]:
    """The cells of a gradebook submission that wait for a hand grade (one typed in the
    formgrader ends the wait, also when a regrade marks the cell for a look again)."""
    return [g.name for nb in submission.notebooks for g in nb.grades
            if g.needs_manual_grade and g.manual_score is None]


NEEDS_REGRADE = "needs regrade"


def stale_cells(submission) -> list[str]:
    """The test cells of a gradebook submission scored against other points than their maximum
    now ("t1 scored 5, now worth 6"): a test cell of this course scores all or nothing (its output is the
    check's verdict), so an automatic score that is neither 0 nor the cell's maximum was given
    when the cell was worth something else. A person's score (the formgrader) is never stale.
    The same rule as `grading.grade.stale_scores`, which grades such submissions again."""
    return [f"{g.name} scored {g.auto_score:g}, now worth {g.max_score:g}"
            for nb in submission.notebooks for g in nb.grades
            if g.cell_type == "code" and g.manual_score is None and g.auto_score is not None
            and g.auto_score not in (0, g.max_score)]


def _status(submission, run_status: str | None) -> tuple[str, list[str]]:
    grades = [g for nb in submission.notebooks for g in nb.grades]
    waiting = waiting_for_a_person(submission)
    if run_status == "not graded" or (grades and all(g.auto_score is None and g.manual_score is None
                                                     for g in grades)):
        return "not graded", waiting
    stale = stale_cells(submission)
    if stale:
        return NEEDS_REGRADE, stale
    if waiting:
        return "needs a person", waiting
    return "graded", []


NOT_ON_ROSTER = "not on roster.csv (a misspelt id, or a student to add to it?)"


def class_rows(root: Path, url: str, roster_ids=None) -> list[Row]:
    """One Row per student and handed-in assignment, sorted by student then assignment.
    With `roster_ids` (a roster exists), a student not on it is said in `needs_person`."""
    from nbgrader.api import Gradebook

    from grading.extensions import extended_due
    rows = []
    with Gradebook(url) as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            for sub in assignment.submissions:
                run_status, flags = _state_flags(root, sub.student.id, assignment.name)
                status, waiting = _status(sub, run_status)
                penalty = sub.late_submission_penalty or 0.0
                why = list(flags)
                if roster_ids is not None and sub.student.id not in roster_ids:
                    why.append(NOT_ON_ROSTER)
                if waiting and status == "needs a person":
                    why.append("waiting for a person: " + ", ".join(waiting))
                if status == NEEDS_REGRADE:
                    why.append(f"graded before its points changed ({'; '.join(waiting)}): "
                               f"`make grade` grades it again")
                rows.append(Row(
                    student_id=sub.student.id, last_name=sub.student.last_name or "",
                    first_name=sub.student.first_name or "", email=sub.student.email or "",
                    assignment=assignment.name,
                    timestamp=sub.timestamp.isoformat(sep=" ") if sub.timestamp else "",
                    status=status,
                    score=max(0.0, sub.score - penalty) if status == "graded" else None,
                    max_score=sub.max_score, seconds_late=sub.total_seconds_late or 0.0,
                    late_submission_penalty=penalty,
                    needs_person=" | ".join(why), extension_until=extended_due(sub)))
    rows.sort(key=lambda r: (r.student_id, r.assignment))
    return rows


def write_long(rows: list[Row], path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, LONG_COLUMNS)
        writer.writeheader()
        writer.writerows(r.csv_row() for r in rows)
    return path


def write_wide(rows: list[Row], students: list[dict], assignments: dict[str, float],
               path: Path) -> Path:
    """One row per student; an empty cell wherever there is no final score."""
    by_key = {(r.student_id, r.assignment): r for r in rows}
    header = ["Student", "ID", "Email address"]
    header += [f"{a} ({points:g})" for a, points in assignments.items()]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for s in students:
            name = ", ".join(p for p in (s["last_name"], s["first_name"]) if p) or s["id"]
            cells = []
            for a in assignments:
                row = by_key.get((s["id"], a))
                cells.append("" if row is None or row.score is None else f"{row.score:g}")
            writer.writerow([name, s["id"], s["email"], *cells])
    return path


def export(root: Path, url: str) -> tuple[Path, Path, list[Row]]:
    """Merge the roster, then write grades.csv and grades-lms.csv; return both and the rows."""
    from nbgrader.api import Gradebook
    roster = read_roster(root)
    if roster:
        merge_roster(url, roster)
    rows = class_rows(root, url, {r["id"] for r in roster} if roster else None)
    with Gradebook(url) as gb:
        assignments = {a.name: a.max_score for a in sorted(gb.assignments, key=lambda a: a.name)}
        students = [{"id": s.id, "first_name": s.first_name or "", "last_name": s.last_name or "",
                     "email": s.email or ""} for s in gb.students]
    handed_in = {r.student_id for r in rows}
    listed = {r["id"] for r in roster}
    students = sorted((s for s in students if s["id"] in handed_in | listed), key=lambda s: s["id"])
    return (write_long(rows, root / LONG), write_wide(rows, students, assignments, root / WIDE),
            rows)
