"""Extensions: a student's own due date for an assignment, in ``extensions.csv`` at the course root.

    student_id,assignment,due
    ben,02_convolution,2026-03-08 18:00:00+01:00

``due`` is an ISO date and time with its zone (``+01:00``, ``Z`` or `` UTC``). nbgrader keeps
one due date per assignment (in the gradebook) and, per submission, an *extension*: the time
added to it (`SubmittedAssignment.extension`), from which it counts ``seconds_late`` and so the
late penalty. `make grade` sets each graded submission's extension from this file (the
student's due minus the assignment's; none for a student not in it) before grading, and a
changed line grades that submission again (`rule`). The file is where extensions live: one
given another way is replaced at the submission's next grading.
"""
from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

EXTENSIONS = "extensions.csv"
COLUMNS = ("student_id", "assignment", "due")


def parse_due(text: str) -> datetime:
    """An ISO date-time with its zone as naive UTC (nbgrader's way); ValueError otherwise."""
    text = text.strip()
    for suffix in (" UTC", "UTC", "Z"):
        if text.endswith(suffix):
            text = text[: -len(suffix)].rstrip() + "+00:00"
            break
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("no time zone")
    return when.astimezone(timezone.utc).replace(tzinfo=None)


def read_extensions(root: Path) -> dict[tuple[str, str], datetime]:
    """(student, assignment) -> the student's due date (naive UTC); {} without the file.
    A file that cannot be read as meant stops the run (SystemExit naming the line)."""
    path = Path(root) / EXTENSIONS
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        if not set(COLUMNS) <= set(header):
            raise SystemExit(f"grading: {path} needs the header {','.join(COLUMNS)}; "
                             f"its header is {','.join(header)}")
        out = {}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not any(row.get(c) for c in COLUMNS):
                continue
            key = (row["student_id"], row["assignment"])
            try:
                due = parse_due(row["due"])
            except ValueError:
                raise SystemExit(f"grading: {path}, line {line}: due {row['due']!r} is not an ISO "
                                 f"date and time with its zone, such as 2026-03-08 18:00:00+01:00 "
                                 f"or 2026-03-08 17:00:00 UTC") from None
            if key in out:
                raise SystemExit(f"grading: {path}, line {line}: a second line for "
                                 f"{key[0]} / {key[1]}; keep one")
            out[key] = due
    return out


def rule(extensions: dict, student: str, assignment: str) -> str:
    """What an extension adds to a submission's grading rules ("" without one)."""
    due = extensions.get((student, assignment))
    return f":extension {due.isoformat()}" if due else ""


def without_due_date(url: str, extensions: dict) -> list[str]:
    """Assignments that extensions.csv names but that have no due date in the gradebook (their
    extensions change nothing), and those the gradebook does not know."""
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        due = {a.name: a.duedate for a in gb.assignments}
    names = sorted({a for _, a in extensions})
    return ([f"{a}: not an assignment of the gradebook" for a in names if a not in due]
            + [f"{a}: no due date in the gradebook, so nothing is late and an extension changes "
               f"nothing (give it one: nbgrader db assignment add {a} --duedate=\"...\")"
               for a in names if a in due and due[a] is None])


def apply_extensions(url: str, subs, extensions: dict) -> None:
    """Each submission of `subs` gets the extension extensions.csv gives it (or none)."""
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        for sub in subs:
            due = extensions.get((sub.student, sub.assignment))
            assignment = gb.find_assignment(sub.assignment)
            wanted = due - assignment.duedate if due and assignment.duedate else None
            try:
                submission = gb.find_submission(sub.assignment, sub.student)
            except Exception:   # MissingEntry: graded for the first time
                if wanted is None:
                    continue
                submission = gb.update_or_create_submission(sub.assignment, sub.student)
            if submission.extension != wanted:
                submission.extension = wanted
        gb.db.commit()


def extended_due(submission) -> str:
    """The due date of a gradebook submission with an extension ("" without one), in UTC."""
    if submission.extension is None or submission.assignment.duedate is None:
        return ""
    return f"{submission.duedate:%Y-%m-%d %H:%M:%S} UTC"
