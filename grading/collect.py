"""`nbgrader zip_collect <assignment>` for a learning platform's zip: the course's collector.

nbgrader's own collector (`FileNameCollectorPlugin`) stops the whole class at the first
student with two files for the same notebook when the names carry no time ("Duplicate
submission file. No timestamps for comparison": nothing collected, nobody named). Canvas gives
exactly that for a re-submission: ``ben_LATE_13_346_02_convolution.ipynb`` and
``ben_LATE_13_347_02_convolution-1.ipynb`` (login, ``_LATE`` when late, user id, submission
id, file name, ``-<n>`` for a file name handed in before).

`LatestSubmission` (``c.ZipCollectApp.collector_plugin`` in nbgrader_config.py) looks at every
extracted file first and keeps, per student and notebook, the file with the highest
submission id (the pattern's ``submission_id`` group; then the highest ``-<n>``); the others are
skipped, named in one warning. A file whose name has ``_LATE`` (the pattern's ``late``
group) is recorded in ``submitted/.zip_collect/<assignment>.json`` with what was dropped;
`lms_late_flag` turns that record into a flag of `make grade` (Canvas says late but gives no
time, so nbgrader counts it as on time).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin

RECORD = ".zip_collect"    # submitted/.zip_collect/<assignment>.json


def _order(info: dict) -> tuple:
    """How recent a file is within one student's notebook: (submission id, -<n>)."""
    def number(key):
        try:
            return int(info.get(key) or 0)
        except ValueError:
            return 0
    return number("submission_id"), number("resubmission")


class LatestSubmission(FileNameCollectorPlugin):
    """nbgrader's file-name collector that keeps only a student's latest file per notebook."""

    _plan: dict | None = None   # file -> None (keep) or why it is skipped

    def collect(self, submitted_file: str):
        if self._plan is None:
            self._plan = self._make_plan(submitted_file)
        if self._plan.get(submitted_file):
            return None
        return super().collect(submitted_file)

    def _extracted_files(self, first: str) -> list[str]:
        app = self.parent
        try:
            folder = app._format_collect_path(app.extracted_directory)
        except Exception:   # another caller than ZipCollectApp: the file's own folder
            folder = os.path.dirname(first)
        return sorted(os.path.join(top, name) for top, _, names in os.walk(folder) for name in names)

    def _make_plan(self, first: str) -> dict:
        """Group every extracted file by (student, notebook); mark all but the latest."""
        groups: dict[tuple, list] = {}
        late: dict[str, str] = {}
        for path in self._extracted_files(first):
            if os.path.splitext(path)[1] not in self.valid_ext or not self.named_regexp:
                continue
            m = re.match(self.named_regexp, path)
            if not m:
                continue
            info = m.groupdict()
            if "student_id" not in info or "file_id" not in info:
                continue
            groups.setdefault((info["student_id"], info["file_id"]), []).append((path, info))
        plan, dropped = {}, []
        for (student, file_id), files in sorted(groups.items()):
            files.sort(key=lambda f: _order(f[1]))
            (kept, kept_info), older = files[-1], files[:-1]
            plan[kept] = None
            if kept_info.get("late"):
                late[student] = os.path.basename(kept)
            for path, info in older:
                plan[path] = f"an earlier submission than {os.path.basename(kept)}"
                dropped.append({"student": student, "file": os.path.basename(path),
                                "kept": os.path.basename(kept)})
        if dropped:   # nbgrader then says "Skipped submission with no match ..." for each
            self.log.warning("Skipped %d earlier submission file(s), keeping the highest "
                             "submission id per student and notebook: %s", len(dropped),
                             "; ".join(f"{d['file']} (kept {d['kept']})" for d in dropped))
        self._record(late, dropped)
        return plan

    def _record(self, late: dict, dropped: list) -> None:
        """submitted/.zip_collect/<assignment>.json: who Canvas marked late, what was skipped."""
        app = self.parent
        try:
            submitted = app.coursedir.format_path(app.coursedir.submitted_directory, ".", ".")
            assignment = app.coursedir.assignment_id
        except Exception:
            return
        if not assignment:
            return
        path = Path(submitted).resolve() / RECORD / f"{assignment}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"late": late, "dropped": dropped}, indent=1))


LMS_LATE = ("late in the learning platform ({file} has _LATE), no time known: nbgrader counts "
            "it as on time; check the time there and, to count it, write it into "
            "submitted/{student}/{assignment}/timestamp.txt")


def lms_late_flag(root: Path, student: str, assignment: str, folder: Path) -> str:
    """The flag of a submission that `zip_collect` found marked late (Canvas's ``_LATE``) and
    that has no ``timestamp.txt`` (so no lateness is counted); "" otherwise."""
    if (folder / "timestamp.txt").exists():
        return ""
    try:
        record = json.loads((root / "submitted" / RECORD / f"{assignment}.json").read_text())
        name = record.get("late", {}).get(student)
    except (OSError, ValueError, AttributeError):
        return ""
    return LMS_LATE.format(file=name, student=student, assignment=assignment) if name else ""
