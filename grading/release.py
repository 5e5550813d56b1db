"""Regenerate the student release ``exercises/`` from the source notebooks in ``solutions/``.

``make exercises`` runs ``python -m grading.release``: for every assignment
``solutions/<name>/<name>.ipynb`` it runs ``nbgrader generate_assignment <name> --force`` from the
repository root (``nbgrader_config.py`` maps source -> solutions, release -> exercises), which
removes the solutions and hidden tests and records the assignment in the gradebook. Every release
notebook is then normalised (no outputs, no execution counts, no run-time metadata, stable
JSON), so regenerating unchanged sources gives byte-identical files.

``generate(release_dir=..., db=False)`` writes into another folder without touching the
gradebook; ``tests/test_release.py`` uses it to check that ``exercises/`` is up to date.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions"
RELEASE = ROOT / "exercises"


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


def _api(release_dir: Path | None, db: bool):
    """nbgrader's API configured by the course's nbgrader_config.py (plus the overrides)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    if release_dir is not None:
        config.CourseDirectory.release_directory = str(Path(release_dir).resolve())
    if not db:
        config.SaveCells.enabled = False
        config.GenerateAssignment.no_database = True
    return NbGraderAPI(config=config)


def generate(names: list[str] | None = None, release_dir: Path | None = None,
             db: bool = True) -> list[Path]:
    """Run nbgrader's generate_assignment (force) for each assignment; return the release notebooks.

    This is ``nbgrader generate_assignment <name> --force`` run from the repository root, through
    nbgrader's Python API so that nbgrader is imported once for all assignments.
    """
    names = assignments() if names is None else names
    # nbgrader runs `alembic` (installed next to the interpreter) to open the gradebook
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
    api = _api(release_dir, db)
    out = []
    for name in names:
        result = api.generate_assignment(name, force=True, create=db)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n"
                               f"{result.get('error', '')}\n{result.get('log', '')}")
        nb_path = Path(release_dir or RELEASE).resolve() / name / f"{name}.ipynb"
        if not nb_path.is_file():
            raise RuntimeError(f"nbgrader did not write {nb_path}")
        normalise(nb_path)
        out.append(nb_path)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments (default: all in solutions/)")
    parser.add_argument("--no-db", action="store_true", help="do not record in the gradebook")
    args = parser.parse_args(argv)
    for path in generate(args.names or None, db=not args.no_db):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
