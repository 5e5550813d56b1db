"""`make demo-class`: a made-up class in submitted/, to try the grader on in a couple of minutes.

    python -m grading.demo_class [--root .] [--force]

Twelve students hand in 02_convolution and 05_pooling the way real classes do: correct work,
an alternative correct answer, typical bugs (from the grading catalogue in
tests/grading_catalogue/), a blank notebook, a renamed notebook, a broken file, an untouched
stub left above a pasted working copy, a late submission, an import of the reference library
and a student who handed in only one assignment. A roster (roster.csv) names them, plus one
student who handed in nothing. Then `make grade` grades them and writes the class report.

It refuses to write into a submitted/ folder that already holds other students (use --force
to add the demo students anyway), so it never mixes made-up work into a real class.
`--remove` takes the demo out again before a real class (its folders, grades, due dates and
roster), also once real students have handed in: it removes a folder only if it holds exactly
what the demo wrote, and the roster only if it is the demo's.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat

ASSIGNMENTS = ("02_convolution", "05_pooling")
DUE = "2026-03-01 18:00:00 UTC"
ON_TIME = "2026-03-01 17:30:00 UTC"
LATE = "2026-03-02 09:15:00 UTC"
ROSTER = [  # id, first name, last name, e-mail; "nia" hands in nothing
    ("ada", "Ada", "Byron", "ada@example.edu"), ("ben", "Ben", "Okafor", "ben@example.edu"),
    ("chloe", "Chloé", "Martin", "chloe@example.edu"), ("dev", "Dev", "Patel", "dev@example.edu"),
    ("emma", "Emma", "Schulz", "emma@example.edu"), ("farid", "Farid", "Haddad", "farid@example.edu"),
    ("gia", "Gia", "Nguyen", "gia@example.edu"), ("hugo", "Hugo", "Silva", "hugo@example.edu"),
    ("ines", "Inès", "Dubois", "ines@example.edu"), ("jon", "Jon", "Berg", "jon@example.edu"),
    ("kai", "Kai", "Tanaka", "kai@example.edu"), ("lea", "Lea", "Rossi", "lea@example.edu"),
    ("nia", "Nia", "Mensah", "nia@example.edu"),
]


def _catalogue():
    """The grading catalogue of this checkout (tests/grading_catalogue/), for the bugs."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import grading_catalogue as cat
    return cat


def _solution_ids(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def release_notebook(root: Path, assignment: str):
    """The release notebook the demo is made from: exercises/<a>/<a>.ipynb, or when that file is
    missing (a failed `make exercises` of an older checkout deleted it) the committed one
    (git's HEAD); None when neither exists."""
    path = root / "exercises" / assignment / f"{assignment}.ipynb"
    if path.is_file():
        return nbformat.read(str(path), as_version=4)
    try:
        text = subprocess.run(["git", "show", f"HEAD:exercises/{assignment}/{assignment}.ipynb"],
                              cwd=root, capture_output=True, text=True, timeout=60, check=True).stdout
        return nbformat.reads(text, as_version=4)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def missing_releases(root: Path) -> list[str]:
    """The demo's assignments whose release notebook is neither in exercises/ nor in git."""
    return [a for a in ASSIGNMENTS if release_notebook(root, a) is None]


def _fill(release, replacements: dict):
    """The release with the named solution cells' sources replaced (the catalogue's
    build_submission, on this release)."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in replacements:
            cell.source = replacements[meta["grade_id"]]
    return nb


def students(root: Path, missing_ok: bool = False) -> dict[tuple[str, str], tuple]:
    """(student, assignment) -> (notebook or raw text, file name, timestamp). An assignment
    whose release notebook is missing (see release_notebook) is left out with `missing_ok`,
    else it stops with a message that says what to do."""
    cat = _catalogue()
    out = {}
    for a in ASSIGNMENTS:
        release = release_notebook(root, a)
        if release is None:
            if missing_ok:
                continue
            raise SystemExit(f"grading.demo_class: exercises/{a}/{a}.ipynb is missing: run "
                             f"`make exercises` (or `git checkout exercises/`) first")
        ref = cat.reference_sources(a)
        reference = _fill(release, ref)
        wrong = [e for e in cat.WRONG if e.assignment == a]
        right = [e for e in cat.CORRECT if e.assignment == a]
        name = f"{a}.ipynb"
        out[("ada", a)] = (reference, name, ON_TIME)
        out[("ben", a)] = (_fill(release, wrong[0].replacements), name, ON_TIME)
        out[("chloe", a)] = (release, name, ON_TIME)
        out[("dev", a)] = (reference, f"{a} (1).ipynb", ON_TIME)   # renamed by a download
        out[("emma", a)] = (_stub_above_paste(release, ref), name, ON_TIME)
        out[("farid", a)] = (reference, name, LATE)
        out[("gia", a)] = (_fill(release, wrong[len(wrong) // 2].replacements), name, ON_TIME)
        out[("ines", a)] = ('{"cells": [{"cell_type": "code", "source": "def ', name, ON_TIME)
        out[("jon", a)] = (_fill(release, right[0].replacements), name, ON_TIME)
        out[("kai", a)] = (_with_import(reference), name, ON_TIME)
        out[("lea", a)] = (_fill(release, wrong[-1].replacements), name, ON_TIME)
    if ("ada", ASSIGNMENTS[0]) in out:
        out[("hugo", ASSIGNMENTS[0])] = out[("ada", ASSIGNMENTS[0])]   # hands in only the first
    return out


def _stub_above_paste(release, reference: dict):
    """The release with each solution's working code pasted in a new cell under its stub."""
    nb = copy.deepcopy(release)
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in reference:
            pasted = copy.deepcopy(cell)
            pasted.source = reference[gid]
            if nb.nbformat_minor >= 5:   # cell ids exist from nbformat 4.5 on (the release is 4.4)
                pasted["id"] = f"{cell.get('id', 'x')[:20]}-paste"
            else:
                pasted.pop("id", None)
            cells.append(pasted)
    nb.cells = cells
    return nb


def _with_import(nb):
    nb = copy.deepcopy(nb)
    first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    first.source = "from cnnlib import *  # the reference library: not allowed here\n" + first.source
    return nb


def write(root: Path, force: bool = False) -> list[Path]:
    base = root / "submitted"
    ours = {s for s, *_ in ROSTER}
    others = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in ours) \
        if base.is_dir() else []
    if others and not force:
        raise SystemExit(f"grading.demo_class: submitted/ already holds other students "
                         f"({', '.join(others[:5])}{', ...' if len(others) > 5 else ''}); "
                         f"not mixing a made-up class into it (use --force to add it anyway)")
    written = []
    for (student, a), (nb, name, stamp) in students(root).items():
        folder = base / student / a
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.ipynb"):
            old.unlink()
        path = folder / name
        if isinstance(nb, str):
            path.write_text(nb)
        else:
            nbformat.write(nb, str(path))
        (folder / "timestamp.txt").write_text(stamp + "\n")
        written.append(path)
    with (root / "roster.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "first_name", "last_name", "email"])
        w.writerows(ROSTER)
    set_due_dates(root)
    return written


def set_due_dates(root: Path) -> None:
    """The demo's due date in the gradebook (created here if new), so late work shows."""
    from grading.grade import db_url_of, ensure_gradebook, load_config
    cfg = load_config(root)
    ensure_gradebook(root, cfg, list(ASSIGNMENTS), [])
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc
    with Gradebook(db_url_of(cfg)) as gb:
        for a in ASSIGNMENTS:
            gb.update_or_create_assignment(a, duedate=parse_utc(DUE))


def remove(root: Path) -> tuple[list[str], list[str]]:
    """Take the demo class out again, before a real class: its students' folders, their
    entries in the gradebook, the demo's due dates, roster and exports (made again by the next
    `make grade`). A student of the demo's roster is removed only if submitted/<student>/
    holds exactly what the demo wrote (a real student may share a name); the roster only if
    it is the demo's. Returns (students removed, demo names kept because their files differ, or
    because a release notebook the demo was made from is missing: see missing_releases)."""
    base = root / "submitted"
    demo = students(root, missing_ok=True)
    ours = [s for s, *_ in ROSTER]
    present = [s for s in ours if (base / s).is_dir()]
    kept = [s for s in present if not _holds_only_the_demo(base / s, {a: v for (t, a), v in demo.items() if t == s})]
    gone = [s for s in ours if s not in kept]
    from grading.task import remove_tree
    for student in gone:
        for step in ("submitted", "autograded", "feedback", "autograded/.grading"):
            remove_tree(root / step / student)
    for name in ("autograded/.grading/last-run.json", "grades.csv", "grades-lms.csv", "class_report.html"):
        (root / name).unlink(missing_ok=True)
    roster = root / "roster.csv"
    if roster.is_file() and _rows(roster) == [["id", "first_name", "last_name", "email"],
                                              *map(list, ROSTER)]:
        roster.unlink()
    _forget_in_gradebook(root, gone)
    return [s for s in gone if s in present], kept


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def _holds_only_the_demo(folder: Path, written: dict) -> bool:
    """Whether `folder` (submitted/<student>/) holds exactly the demo's files for that student:
    `written` maps assignment -> (notebook, file name, time stamp), as `students` makes them."""
    try:
        if sorted(p.name for p in folder.iterdir()) != sorted(written):
            return False
        for a, (nb, name, stamp) in written.items():
            files = sorted(p.name for p in (folder / a).iterdir())
            text = nb if isinstance(nb, str) else nbformat.writes(nb)
            if (files != sorted([name, "timestamp.txt"])
                    or not _same_text((folder / a / name).read_text(), text)
                    or (folder / a / "timestamp.txt").read_text() != stamp + "\n"):
                return False
    except (OSError, UnicodeDecodeError):
        return False
    return True


def _same_text(found: str, written: str) -> bool:
    """The demo's file: the same text, or the same notebook but for cell ids (which an earlier
    demo wrote into its nbformat 4.4 notebooks, where they are invalid)."""
    if found.rstrip("\n") == written.rstrip("\n"):
        return True
    try:
        a, b = json.loads(found), json.loads(written)
    except ValueError:
        return False
    for nb in (a, b):
        for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
            cell.pop("id", None)
    return a == b


def _forget_in_gradebook(root: Path, students: list[str]) -> None:
    """The demo's students and due dates out of the gradebook (when there is one)."""
    from grading.grade import db_url_of, load_config
    url = db_url_of(load_config(root))
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import parse_utc
    with Gradebook(url) as gb:
        for student in students:
            try:
                gb.remove_student(student)
            except MissingEntry:
                pass
        for a in ASSIGNMENTS:
            try:
                if gb.find_assignment(a).duedate == parse_utc(DUE).replace(tzinfo=None):
                    gb.update_or_create_assignment(a, duedate=None)
            except MissingEntry:
                pass


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading.demo_class", description=__doc__.split("\n")[0])
    p.add_argument("--root", default=".", help="course root (default: the current folder)")
    p.add_argument("--force", action="store_true", help="add the demo students to a non-empty submitted/")
    p.add_argument("--remove", action="store_true",
                   help="take the demo class out again (folders, gradebook, due dates, roster)")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    if args.remove:
        missing = missing_releases(root)
        gone, kept = remove(root)
        print(f"demo class removed ({len(gone)} students' folders, their grades, the demo's "
              f"due dates and roster); submitted/ is ready for a real class.")
        if kept:
            print(f"kept: submitted/{{{','.join(kept)}}}/ carry the demo's names but not its files "
                  f"(a real student's?); remove them by hand if they are the demo's")
        if missing and kept:
            print(f"exercises/{{{','.join(missing)}}} missing (and not in git): the demo's notebooks "
                  f"of {', '.join(missing)} cannot be recognised; restore them (`git checkout "
                  f"exercises/` or `make exercises`) and run --remove again")
        return 0
    written = write(root, args.force)
    print(f"demo class: {len(written)} notebooks of {len(ROSTER) - 1} students in "
          f"{root / 'submitted'}, roster in {root / 'roster.csv'}, due date {DUE}.\n"
          f"Now run: make grade   (then open class_report.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
