"""Regenerate the student release ``exercises/`` from the source notebooks in ``solutions/``.

``make exercises`` runs ``python -m grading.release``: for every assignment
``solutions/<name>/<name>.ipynb`` it runs ``nbgrader generate_assignment <name> --force`` from the
repository root (``nbgrader_config.py`` maps source -> solutions, release -> exercises), which
removes the solutions and hidden tests and records the assignment in the gradebook. Every release
notebook is then normalised (no outputs, no execution counts, no run-time metadata, stable
JSON), so regenerating unchanged sources gives byte-identical files.

nbgrader writes into a temporary folder; ``exercises/<name>`` is replaced only when every
assignment asked for was generated and passed the consistency checks of ``grading.consistency``
(the source notebook agrees with its checks and headings, and the release ships no answer). A
failed run prints what went wrong and what to do, exits with 1 and leaves ``exercises/`` as it
was: nbgrader's "Removing failed assignment" never deletes the committed release.

``python -m grading.release --check <name>`` writes nothing: it also runs the notebook (the
untouched release fails every check and its visible tests say what to implement; the source's
solutions pass them all), seconds per assignment.

``generate(release_dir=..., db=False)`` writes into another folder without touching the
gradebook; ``tests/test_release.py`` uses it to check that ``exercises/`` is up to date.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions"
RELEASE = ROOT / "exercises"


#: at most this many problems are listed (one screen); the count of the rest is given
MAX_LISTED = 12


class ReleaseError(Exception):
    """The release was not written (exercises/ is unchanged); the message says why and what to do."""


def assignments(source: Path = SOURCE) -> list[str]:
    """Names of the assignments: folders of `source` that hold a notebook of the same name."""
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())


def normalise(path: Path) -> None:
    """Strip outputs, execution counts and run-time metadata; write stable JSON."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
        cell.pop("id", None)
    nb.metadata.pop("widgets", None)
    nb.nbformat, nb.nbformat_minor = 4, 4   # nbformat 4.4: no cell ids, nothing random
    nbformat.write(nb, path)


def _api(root: Path, release_dir: Path, db: bool):
    """nbgrader's API configured by the course's nbgrader_config.py (plus the overrides)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.release_directory = str(Path(release_dir).resolve())
    if not db:
        config.SaveCells.enabled = False
        config.GenerateAssignment.no_database = True
    return NbGraderAPI(config=config)


def _refusal(problems: list, head: str, again: str = "`make exercises`") -> str:
    """One screen: the head, at most MAX_LISTED problems, what to do."""
    n = len(problems)
    listed = [f"  {p}" for p in problems[:MAX_LISTED]]
    if n > MAX_LISTED:
        listed.append(f"  ... and {n - MAX_LISTED} more")
    return "\n".join([f"{head}: {n} problem{'s' if n > 1 else ''}", *listed,
                      f"Fix the source notebook (or its check in grading/checks/), then run {again} again."])


SUBMISSIONS = "because there are submissions associated with it"


def _with_submissions(api, name: str) -> list[str]:
    """The students the gradebook holds a submission of `name` for (empty if unknown)."""
    try:
        from nbgrader.api import Gradebook
        with Gradebook(api.coursedir.db_url) as gb:
            return sorted(s.student.id for s in gb.find_assignment(name).submissions)
    except Exception:
        return []


def _failure(api, name: str, result: dict, what: str) -> str:
    """One line for a failed generate_assignment: what happened and what to do (no traceback)."""
    error = (result.get("error") or "").strip()
    # nbgrader's own reason is in its log (the error says "Please see the above traceback")
    text = f"{result.get('log') or ''}\n{error}"
    if SUBMISSIONS in text:
        students = _with_submissions(api, name)
        who = (f" ({', '.join(students[:6])}{', ...' if len(students) > 6 else ''})"
               if students else "")
        return (f"grading.release: {name} not written ({what} is unchanged): the gradebook holds "
                f"submissions of {name}{who}, and nbgrader does not add or remove cells of a "
                f"notebook once it has submissions. The demo class: `make demo-class "
                f'ARGS="--remove"`, then `make exercises`. Real submissions: export the grades '
                f"first, then `nbgrader db student remove <id> --force` for each (their grades "
                f"and hand marks go; `make grade` grades submitted/ again), or put the new "
                f"question into a new assignment (see the Teaching page, 'Changing an exercise').")
    reasons = [m.group(1) for m in re.finditer(r"^\s*[\w.]*(?:Error|Exception): (.+)$", text, re.M)
               if "see the the above traceback" not in m.group(1)]
    return (f"grading.release: nbgrader could not generate {name} ({what} is unchanged): "
            f"{reasons[0].strip() if reasons else '(no message)'}")


def _replace(fresh: Path, dest: Path) -> None:
    """Put the folder `fresh` in the place of `dest` (moved aside first, removed last)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    new, old = dest.with_name(f".{dest.name}.new"), dest.with_name(f".{dest.name}.old")
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(fresh, new)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def generate(names: list[str] | None = None, release_dir: Path | None = None,
             db: bool = True, root: Path = ROOT, check: bool = True) -> list[Path]:
    """Run nbgrader's generate_assignment (force) for each assignment; return the release notebooks.

    This is ``nbgrader generate_assignment <name> --force`` run from the course's root, through
    nbgrader's Python API so that nbgrader is imported once for all assignments, into a
    temporary folder. With `check`, the static checks of ``grading.consistency`` run first on
    the sources and then on the releases. Only when all succeed is each ``<release>/<name>``
    replaced; otherwise ReleaseError says why, and nothing in `release_dir` has changed.
    """
    from . import consistency

    root = Path(root).resolve()
    names = assignments(root / "solutions") if names is None else names
    target = Path(release_dir or root / "exercises").resolve()
    what = f"{target.name}/" if target.parent == root else str(target)
    for name in names:
        if not (root / "solutions" / name / f"{name}.ipynb").is_file():
            raise ReleaseError(f"grading.release: no solutions/{name}/{name}.ipynb ({what} is unchanged)")
    if check:
        problems = [p for n in names
                    for p in consistency.source_problems(n, _read(root / "solutions" / n / f"{n}.ipynb"))]
        if problems:
            raise ReleaseError(_refusal(problems, f"grading.release: not written ({what} is unchanged)"))
    # nbgrader runs `alembic` (installed next to the interpreter) to open the gradebook
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    with tempfile.TemporaryDirectory(prefix="cnn-release-") as tmp:
        staging = Path(tmp) / "release"
        api = _api(root, staging, db)
        for name in names:
            result = api.generate_assignment(name, force=True, create=db)
            if not result.get("success"):
                raise ReleaseError(_failure(api, name, result, what))
            nb_path = staging / name / f"{name}.ipynb"
            if not nb_path.is_file():
                raise ReleaseError(f"grading.release: nbgrader did not write {name}/{name}.ipynb "
                                   f"({what} is unchanged)")
            normalise(nb_path)
        if check:
            problems = [p for n in names
                        for p in consistency.release_problems(n, _read(staging / n / f"{n}.ipynb"))]
            if problems:
                raise ReleaseError(_refusal(problems, f"grading.release: not written ({what} is unchanged)"))
        for name in names:
            _replace(staging / name, target / name)
    return [target / name / f"{name}.ipynb" for name in names]


def check_assignments(names: list[str] | None = None, root: Path = ROOT) -> list:
    """Every consistency check, the notebook-running ones too, on a release generated into a
    temporary folder (nothing is written, the gradebook is not touched). Returns the problems;
    raises ReleaseError when the static checks or nbgrader fail."""
    from . import consistency

    root = Path(root).resolve()
    names = assignments(root / "solutions") if names is None else names
    os.environ.setdefault("MPLBACKEND", "Agg")
    problems = []
    with tempfile.TemporaryDirectory(prefix="cnn-check-") as tmp:
        generate(names, release_dir=Path(tmp), db=False, root=root)
        for name in names:
            source = _read(root / "solutions" / name / f"{name}.ipynb")
            release = _read(Path(tmp) / name / f"{name}.ipynb")
            with contextlib.redirect_stdout(io.StringIO()):   # what the notebook's cells print
                problems += consistency.untouched_problems(name, release)
                problems += consistency.reference_problems(name, source, release)
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.release",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments (default: all in solutions/)")
    parser.add_argument("--no-db", action="store_true", help="do not record in the gradebook")
    parser.add_argument("--check", action="store_true",
                        help="write nothing: check the assignments, running their notebooks too")
    parser.add_argument("--root", default=str(ROOT), help="course root (default: this checkout)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    try:
        if args.check:
            problems = check_assignments(args.names or None, root)
            if problems:
                print(_refusal(problems, "grading.release --check (nothing was written)",
                               "the check"), file=sys.stderr)
                return 1
            names = args.names or assignments(root / "solutions")
            print(f"grading.release --check: {', '.join(names)} consistent (nothing was written)")
            return 0
        paths = generate(args.names or None, db=not args.no_db, root=root)
    except ReleaseError as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path.relative_to(root) if path.is_relative_to(root) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
