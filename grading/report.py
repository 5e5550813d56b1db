"""The class at a glance: `class_report.html` at the course root, written by `make grade`.

It answers what a teacher asks after a batch:

- who did not hand in (per collected assignment: students of the roster, or of any
  submission, without a folder for it);
- who needs a person, and why (the pre-flight flags, the cells waiting for a hand grade);
- late work, and the extensions of extensions.csv;
- the score distribution of each assignment (a histogram, embedded as a PNG);
- per graded function, the share of the class that failed it and the failing case that came
  up most often (read from the verdicts in the autograded notebooks).

`text_summary(report)` gives the same in a few lines for the terminal.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grading.export import Row

PAGE = "class_report.html"


@dataclass
class FunctionStats:
    assignment: str
    grade_id: str
    attempted: int = 0
    failed: int = 0
    cases: Counter = field(default_factory=Counter)

    @property
    def share(self) -> float:
        return self.failed / self.attempted if self.attempted else 0.0


@dataclass
class ClassReport:
    rows: list[Row]
    missing: dict[str, list[str]]          # assignment -> students who did not hand in
    functions: list[FunctionStats]

    @property
    def needs_person(self) -> list[Row]:
        return [r for r in self.rows if r.status != "graded" or r.needs_person]


def failing_case(message: str) -> str:
    """The first failing case named in a verdict ('- <case>: <why>'), or its first line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("- ") and not line.startswith("- ..."):
            return line[2:].split(": ", 1)[0]
    if not lines:
        return "failed"
    # "TestFailed: avg_pool2d: not attempted (it still raises ...)" -> "not attempted"
    head = re.sub(r"^(\w+: )?([A-Za-z_]\w*: )?", "", lines[0])
    head = re.split(r" \(|: ", head, maxsplit=1)[0].strip() or lines[0]
    return head if len(head) <= 80 else head[:79].rsplit(" ", 1)[0] + "…"


def _test_cells(path: Path):
    """(grade_id, failed, verdict text) for every autograded test cell of a graded notebook."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        text = "\n".join(errors[0].get("traceback", [])) if errors else ""
        yield meta.get("grade_id", "?"), bool(errors), text


def function_stats(root: Path, rows: list[Row]) -> list[FunctionStats]:
    stats: dict[tuple, FunctionStats] = {}
    for row in rows:
        if row.status == "not graded":
            continue
        folder = root / "autograded" / row.student_id / row.assignment
        for path in sorted(folder.glob("*.ipynb")):
            for gid, failed, text in _test_cells(path):
                s = stats.setdefault((row.assignment, gid), FunctionStats(row.assignment, gid))
                s.attempted += 1
                if failed:
                    s.failed += 1
                    s.cases[failing_case(text)] += 1
    return sorted(stats.values(), key=lambda s: (s.assignment, -s.share, s.grade_id))


def missing_students(rows: list[Row], roster_ids: list[str]) -> dict[str, list[str]]:
    everyone = sorted(set(roster_ids) | {r.student_id for r in rows})
    handed = {(r.student_id, r.assignment) for r in rows}
    collected = sorted({r.assignment for r in rows})
    return {a: [s for s in everyone if (s, a) not in handed] for a in collected}


def build(root: Path, rows: list[Row], roster_ids: list[str]) -> ClassReport:
    return ClassReport(rows, missing_students(rows, roster_ids), function_stats(root, rows))


def _histogram(rows: list[Row], assignment: str) -> str:
    """A PNG (base64) of the final scores of one assignment."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    scores = [r.score for r in rows if r.assignment == assignment and r.score is not None]
    top = max([r.max_score for r in rows if r.assignment == assignment] or [1.0])
    fig = Figure(figsize=(4.2, 2.4), dpi=90)
    ax = fig.add_subplot()
    ax.hist(scores, bins=min(10, max(1, int(top))), range=(0, top), color="#3b6ea5",
            edgecolor="white")
    ax.set_xlabel(f"score (of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment}: {len(scores)} graded")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def to_html(report: ClassReport) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Class report</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
             "text-align:left;vertical-align:top;white-space:pre-wrap;overflow-wrap:anywhere}"
             "</style></head><body><h1>Class report</h1>"]
    parts.append("<h2>Did not hand in</h2>")
    if any(report.missing.values()):
        parts.append("<ul>" + "".join(f"<li><b>{e(a)}</b>: {e(', '.join(s))}</li>"
                                      for a, s in report.missing.items() if s) + "</ul>")
    else:
        parts.append("<p>Everybody handed in every collected assignment.</p>")
    parts.append("<h2>Needs a person</h2>")
    if report.needs_person:
        parts.append("<table><tr><th>student</th><th>assignment</th><th>status</th>"
                     "<th>why</th></tr>")
        parts += [f"<tr><td>{e(r.student_id)}</td><td>{e(r.assignment)}</td><td>{e(r.status)}"
                  f"</td><td>{e(r.needs_person.replace(' | ', chr(10)))}</td></tr>"
                  for r in report.needs_person]
        parts.append("</table>")
    else:
        parts.append("<p>Nothing: every submission was graded automatically.</p>")
    late = [r for r in report.rows if r.seconds_late > 0]
    if late:
        parts.append("<h2>Late</h2><ul>" + "".join(
            f"<li>{e(r.student_id)} / {e(r.assignment)}: {r.seconds_late / 3600:.1f} h late"
            f" (penalty {r.late_submission_penalty:g})"
            + (f", after an extension until {e(r.extension_until)}" if r.extension_until else "")
            + "</li>" for r in late) + "</ul>")
    extended = [r for r in report.rows if r.extension_until]
    if extended:   # extensions.csv
        parts.append("<h2>Extensions</h2><ul>" + "".join(
            f"<li>{e(r.student_id)} / {e(r.assignment)}: extension until {e(r.extension_until)}"
            f" ({f'{r.seconds_late / 3600:.1f} h late' if r.seconds_late > 0 else 'on time'})</li>"
            for r in extended) + "</ul>")
    parts.append("<h2>Scores</h2>")
    for a in sorted({r.assignment for r in report.rows}):
        parts.append(f"<img alt='histogram of the scores of {e(a)}' "
                     f"src='data:image/png;base64,{_histogram(report.rows, a)}'>")
    parts.append("<h2>What the class got wrong</h2><table><tr><th>assignment</th>"
                 "<th>test cell</th><th>failed</th><th>most common failing case</th></tr>")
    for s in report.functions:
        case = f"{s.cases.most_common(1)[0][0]} ({s.cases.most_common(1)[0][1]}×)" if s.cases else ""
        parts.append(f"<tr><td>{e(s.assignment)}</td><td>{e(s.grade_id)}</td>"
                     f"<td>{s.failed} of {s.attempted} ({s.share:.0%})</td><td>{e(case)}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


NAMES = 20   # students named per line of the terminal summary (the page names all)


def text_summary(report: ClassReport, limit: int = 5) -> str:
    lines = []
    for a, students in report.missing.items():
        if students:
            more = f" and {len(students) - NAMES} more (class_report.html)" if len(students) > NAMES else ""
            lines.append(f"did not hand in {a}: {', '.join(students[:NAMES])}{more}")
    worst = [s for s in report.functions if s.failed][:limit]
    if worst:
        lines.append("most failed test cells:")
        lines += [f"  {s.assignment}/{s.grade_id}: {s.failed} of {s.attempted} failed"
                  + (f" (most often: {s.cases.most_common(1)[0][0]})" if s.cases else "")
                  for s in sorted(worst, key=lambda s: -s.share)]
    return "\n".join(lines)


def write(root: Path, report: ClassReport) -> Path:
    path = root / PAGE
    path.write_text(to_html(report), encoding="utf-8")
    return path
