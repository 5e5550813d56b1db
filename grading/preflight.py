"""Pre-flight: look at a submission before nbgrader does, and say what a person must check.

Nothing here runs student code. Two levels:

- `check_submission(folder, source_folder, release_folder, checks)` reads the folder
  (`submitted/<student>/<assignment>/`): a missing notebook, a notebook that is a link out of
  the folder or to nothing, a file that is not readable JSON, extra files (listed), links out
  of the folder and links to nothing (listed apart: grading leaves them out).
- `check_notebook(nb, expected, checks)` looks at one notebook: duplicated grade ids (an
  ordinary copy-paste: of a solution cell every copy runs in order and the last one is graded,
  as running the notebook top to bottom does; of a test or locked cell the first is kept and
  the copy dropped), missing or renamed graded cells, and code that imports the reference
  (`cnnlib`, any of `scipy`, `torch`, the bench's NumPy peers) where a check does not allow
  it. It returns a repaired copy of the notebook: the
  autograde preprocessor (`grading.preprocessors.SanitizeSubmission`) grades that copy, so
  `nbgrader autograde` gets the same repairs as `make grade`.

Every problem becomes a flag (one line for a person), never an exception that stops a batch.
"""
from __future__ import annotations

import ast
import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import nbformat

from grading.checks.cells import first_line
from grading.checks.from_tests import assigned_names
from grading.checks.imports import imported_reference_modules, parse_cell as _parse

# Files a student's tools leave beside a notebook; not worth a flag. nbgrader's exchange
# (`nbgrader submit`, then `nbgrader collect`) writes timestamp.txt and submission_secret.txt.
IGNORED_NAMES = {"timestamp.txt", "submission_secret.txt", ".ipynb_checkpoints", "__pycache__",
                 ".DS_Store"}
MAX_NOTEBOOK_BYTES = 256 << 20   # a larger notebook is not read (nor sent to a worker)


@dataclass(frozen=True)
class CellSpec:
    """What the source notebook says about one cell with a grade id."""

    grade_id: str
    kind: str          # "test" (autograded test cell), "solution", or "other" (locked/task cell)
    cell_type: str     # "code" or "markdown"
    points: float = 0.0


@dataclass
class NotebookReport:
    nb: object                      # the repaired notebook (a copy; the input is untouched)
    flags: list[str] = field(default_factory=list)
    missing_tests: list[str] = field(default_factory=list)   # test grade ids absent from the submission
    dropped: int = 0                # cells removed (duplicates, renamed test cells)


@dataclass
class SubmissionReport:
    flags: list[str] = field(default_factory=list)
    notebooks: dict[str, Path] = field(default_factory=dict)   # name -> readable submitted notebook
    unreadable: list[str] = field(default_factory=list)        # notebook names nbgrader cannot read
    missing: list[str] = field(default_factory=list)           # not submitted, or as a link
    extra_files: list[str] = field(default_factory=list)

    @property
    def gradable(self) -> bool:
        """True when every notebook of the assignment can be handed to nbgrader."""
        return not self.unreadable and not self.missing


def cell_kind(cell) -> str | None:
    """'test', 'solution', 'other', or None for a cell without a grade id."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if not isinstance(meta, dict) or not meta.get("grade_id"):
        return None
    if meta.get("solution"):
        return "solution"
    if meta.get("grade") and cell.get("cell_type") == "code":
        return "test"
    return "other"


def expected_cells(source_nb) -> dict[str, CellSpec]:
    """The cells with a grade id in an instructor's source notebook, by grade id."""
    specs = {}
    for cell in source_nb.cells:
        kind = cell_kind(cell)
        if kind is not None:
            meta = cell.metadata.nbgrader
            specs[meta["grade_id"]] = CellSpec(meta["grade_id"], kind, cell.cell_type,
                                               float(meta.get("points", 0) or 0))
    return specs


def _is_json(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            json.load(fh)
    except Exception:
        return False
    return True


def read_notebook(path: Path):
    """(notebook, None) or (None, the reason it cannot be read)."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None, f"larger than {MAX_NOTEBOOK_BYTES >> 20} MiB"
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # broken JSON, not a notebook, unreadable file, bad encoding
        if _is_json(path):   # `[1, 2, 3]`: nbformat fails on it with an AttributeError
            return None, "valid JSON, but not a notebook (no cells)"
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        return None, f"{type(exc).__name__}: {reason}"
    if not isinstance(nb.get("cells"), list):
        return None, "not a notebook (no list of cells)"
    return nb, None


def check_notebook(nb, expected: Mapping[str, CellSpec], checks: Mapping[str, object],
                   name: str = "notebook") -> NotebookReport:
    """Repair what can be repaired in a copy of `nb` and flag everything for a person."""
    nb = copy.deepcopy(nb)
    report = NotebookReport(nb)
    report.flags += _demote_earlier_solution_copies(nb, expected, name)
    seen: set[str] = set()
    kept = []
    for cell in nb.cells:
        if not _keep_cell(cell, seen, expected, report, name):
            report.dropped += 1
            continue
        kept.append(cell)
    nb.cells = kept
    for grade_id, spec in expected.items():
        if grade_id not in seen and spec.kind in ("test", "solution"):
            what = "test cell" if spec.kind == "test" else "solution cell"
            if spec.kind == "test":
                report.missing_tests.append(grade_id)
            report.flags.append(f"{name}: {what} '{grade_id}' is missing (deleted, or its "
                                f"grade id changed); "
                                + ("restored from the source and graded" if spec.kind == "test"
                                   else "the student's code may be elsewhere: check by hand"))
    report.flags += reference_import_flags(nb, checks, name)
    return report


def _demote_earlier_solution_copies(nb, expected: Mapping[str, CellSpec], name) -> list[str]:
    """A solution cell pasted more than once: the last copy keeps the grade id.

    Running the notebook top to bottom leaves the last definition in place (an untouched stub
    above a pasted working copy is overwritten by it), so that is what gets graded. The earlier
    copies stay where they were as ordinary code cells (they still run, in order). One flag
    per grade id says which copy was graded and shows the first line of the others.
    """
    places: dict[str, list[int]] = {}
    for index, cell in enumerate(nb.cells):
        if cell_kind(cell) == "solution":
            gid = cell.metadata.nbgrader["grade_id"]
            if gid in expected and expected[gid].kind == "solution":
                places.setdefault(gid, []).append(index)
    flags = []
    for gid, indices in places.items():
        if len(indices) < 2:
            continue
        *earlier, last = indices
        shown = "; ".join(f"cell {i + 1}: {first_line(nb.cells[i].source)!r}" for i in earlier)
        flags.append(f"{name}: grade id '{gid}' appears more than once ({len(indices)} copies, "
                     f"pasted?); the last copy (cell {last + 1}) was graded, as running the "
                     f"notebook top to bottom does; the earlier ones ran before it as ordinary "
                     f"code: {shown}")
        for i in earlier:
            nb.cells[i].metadata.pop("nbgrader")
    return flags


def _keep_cell(cell, seen: set, expected: Mapping[str, CellSpec], report, name) -> bool:
    kind = cell_kind(cell)
    if kind is None:
        return True
    grade_id = cell.metadata.nbgrader["grade_id"]
    if grade_id in seen:
        report.flags.append(f"{name}: grade id '{grade_id}' appears more than once (a copied "
                            f"cell?); the first was graded, the copy ignored")
        return False
    if grade_id not in expected:
        if kind == "test":
            report.flags.append(f"{name}: unknown test cell '{grade_id}' (renamed?) ignored")
            return False
        report.flags.append(f"{name}: unknown grade id '{grade_id}' (renamed?); its code is "
                            f"kept as ordinary student code")
        cell.metadata.pop("nbgrader")
        return True
    seen.add(grade_id)
    return True


def student_code_cells(nb) -> list:
    """The code cells that are not test cells, in notebook order."""
    return [c for c in nb.cells if c.cell_type == "code" and cell_kind(c) != "test"]


NOT_ALLOWED = " (the reference), not allowed for "   # in each reference_import_flags flag


def reference_import_flags(nb, checks: Mapping[str, object], name: str = "notebook") -> list[str]:
    """Flag student code that imports a reference module where a check forbids it."""
    all_checks = list(checks.values())
    flags = []
    for cell in student_code_cells(nb):
        if cell_kind(cell) == "other":   # the instructor's locked cells: restored before grading
            continue
        modules = imported_reference_modules(cell.source)
        if not modules:
            continue
        defined = defined_names(cell.source)
        concerned = [c for c in all_checks if c.target in defined] or all_checks
        forbidden = sorted({c.grade_id for c in concerned if not c.allow_cnnlib})
        if forbidden:
            where = cell.metadata.get("nbgrader", {}).get("grade_id", "a code cell")
            flags.append(f"{name}: {where} imports {', '.join(sorted(modules))}{NOT_ALLOWED}"
                         f"{', '.join(forbidden)} (at marking the import fails)")
    return flags


def checks_with_reference_import(flags: list[str]) -> set[str]:
    """The grade ids that reference_import_flags named in `flags`: their failed import, and what
    it left undefined, is said once, by that flag."""
    return {gid for f in flags if NOT_ALLOWED in f
            for gid in f.rpartition(NOT_ALLOWED)[2].partition(" (")[0].split(", ")}


def defined_names(source: str) -> set[str]:
    """The names a cell binds when it runs (defs, classes, assignments, imports, loop and
    ``with`` targets: from_tests.assigned_names, the rule the pre-hand-in check follows too);
    for a cell that is not Python, the names after ``def``."""
    if _parse(source) is None:
        return set(re.findall(r"^\s*def\s+(\w+)", source, flags=re.M))
    return assigned_names(source)


def check_submission(folder: Path, source_folder: Path, release_folder: Path | None = None,
                     checks: Mapping[str, object] | None = None) -> SubmissionReport:
    """Look at `submitted/<student>/<assignment>/` before nbgrader does."""
    folder, source_folder = Path(folder), Path(source_folder)
    report = SubmissionReport()
    if not folder.is_dir():
        report.flags.append("no submission folder")
        report.missing = sorted(p.stem for p in source_folder.glob("*.ipynb"))
        return report
    names = sorted(p.stem for p in source_folder.glob("*.ipynb"))
    links, broken = links_out_of(folder), broken_links(folder)
    hinted = set()   # notebooks named in a "renamed?" flag: not listed again as extra files
    for name in names:
        path = folder / f"{name}.ipynb"
        if path.name in links or path.name in broken:   # never followed, so not read here either
            report.missing.append(name)
            why = ("outside the submission folder; it is not followed" if path.name in links
                   else "which does not exist")
            target = links.pop(path.name, None) or broken.pop(path.name)
            report.flags.append(f"{path.name} is a link to {target}, {why}: not graded")
            continue
        if not path.exists():
            report.missing.append(name)
            others = sorted(p.name for p in folder.glob("*.ipynb")   # not the others of the assignment
                            if p.stem not in names)
            hinted.update(others)
            hint = f" (found {', '.join(others)}: renamed?)" if others else ""
            report.flags.append(f"{name}.ipynb is missing{hint}; not graded")
            continue
        nb, problem = read_notebook(path)
        if nb is None:
            report.unreadable.append(name)
            report.flags.append(f"{name}.ipynb cannot be read ({problem}); not graded")
            continue
        report.notebooks[name] = path
        if checks is not None:
            source_nb, _ = read_notebook(source_folder / f"{name}.ipynb")
            if source_nb is not None:
                report.flags += check_notebook(nb, expected_cells(source_nb), checks, name).flags
    report.extra_files = [f for f in extra_files(folder, source_folder, release_folder)
                          if f not in links and f not in broken and f not in hinted]
    if report.extra_files:
        report.flags.append(f"extra files: {', '.join(report.extra_files)}")
    if links:
        report.flags.append(f"link{'s' if len(links) > 1 else ''} out of the folder (not graded): "
                            + _listed(links))
    if broken:
        report.flags.append(f"broken link{'s' if len(broken) > 1 else ''} (to a file that does "
                            f"not exist; not graded): " + _listed(broken))
    return report


def _listed(links: dict[str, str]) -> str:
    return ", ".join(f"{rel} -> {target}" for rel, target in links.items())


def links_out_of(folder: Path) -> dict[str, str]:
    """Symbolic links in `folder` that lead out of it: relative path -> the link's text.

    Grading never follows them: `make grade` does not send them to a worker
    (`grading.task.unpack_folder`), and under `nbgrader autograde` the submission goes to a
    person (`grading.preprocessors.SanitizeSubmission`), since nbgrader's copy would follow them.
    """
    return {rel.as_posix(): os.readlink(path) for rel, path, out in _symlinks(folder) if out}


def _symlinks(folder: Path):
    """(relative path, path, whether it leads out of `folder`) of every symbolic link in it,
    sorted. Links to folders are not entered; a loop of links (Path.resolve raises on it)
    leads nowhere, so not out."""
    folder = Path(folder)
    inside = folder.resolve()
    found = []
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(top, name)
            if path.is_symlink():
                out = not Path(os.path.realpath(path)).is_relative_to(inside)
                found.append((path.relative_to(folder), path, out))
    return sorted(found, key=lambda link: link[0].as_posix())


def broken_links(folder: Path) -> dict[str, str]:
    """Symbolic links in `folder` that lead to nothing inside it: relative path -> the link's
    text. Links out of the folder are `links_out_of`'s, whether their target exists or not.

    Grading leaves them out: nbgrader's copy would fail on them, so `make grade` does not
    make them on a worker (`grading.task.unpack_folder`). A link to such a link is one too.
    """
    return {rel.as_posix(): os.readlink(path) for rel, path, out in _symlinks(folder)
            if not out and not path.exists() and not any(part in IGNORED_NAMES for part in rel.parts)}


def extra_files(folder: Path, source_folder: Path, release_folder: Path | None) -> list[str]:
    """Files in the submission that the release did not contain (relative paths)."""
    known = {p.relative_to(source_folder).as_posix() for p in source_folder.rglob("*") if p.is_file()}
    if release_folder is not None and Path(release_folder).is_dir():
        release_folder = Path(release_folder)
        known |= {p.relative_to(release_folder).as_posix()
                  for p in release_folder.rglob("*") if p.is_file()}
    extra = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_dir() or any(part in IGNORED_NAMES for part in rel.parts):
            continue
        if rel.as_posix() not in known:
            extra.append(rel.as_posix())
    return extra
