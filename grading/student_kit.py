"""``make student-kit``: what a student should get, without the answers.

Writes ``_build/student-kit/`` and ``_build/student-kit.zip`` beside it:

* ``exercises/``  the released notebooks (no solutions, no hidden tests: nbgrader's release);
* ``book/``       the book's HTML (``_build/html``; open ``book/index.html``);
* ``cnnlib/``     the course's library (exercise 6 trains with it; the checks compute with it);
* ``grading/checks/``  the pre-hand-in check: the grader's checks, which hold no answers;
* ``requirements.txt`` and ``pyproject.toml``: ``pip install -r requirements.txt`` installs it all;
* ``README.md``   how to use the kit.

Nothing else: no ``solutions/``, no gradebook, no sandbox, no nbgrader configuration, none of
the grading commands (``tests/test_student_kit.py`` proves it).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "student-kit"

#: kit path -> what it holds (the README lists it)
CONTENTS = {
    "exercises/": "the notebooks to complete, one folder per assignment",
    "book/": "the book, to read offline: open book/index.html",
    "cnnlib/": "the course's small NumPy library (exercise 6 uses it)",
    "grading/checks/": "the pre-hand-in check: the grader's own checks, without any answers",
    "requirements.txt": "what to install: pip install -r requirements.txt",
}

REQUIREMENTS = """\
# The student kit: the notebooks' needs, cnnlib and the pre-hand-in check (pyproject.toml).
numpy>=1.26
matplotlib>=3.8
scikit-learn>=1.3
nbformat>=5
jupyterlab>=4
ipykernel>=6
-e .
"""

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "cnn-course-student-kit"
version = "0.1.0"
description = "The CNN course for students: cnnlib and the pre-hand-in check."
requires-python = ">=3.11"
dependencies = ["numpy>=1.26", "matplotlib>=3.8", "scikit-learn>=1.3", "nbformat>=5"]

[tool.setuptools.packages.find]
include = ["cnnlib*", "grading*"]
"""

GRADING_INIT = '''"""The pre-hand-in check of the CNN course (grading.checks): the grader's own checks."""
'''

README = """\
# Convolutional Neural Networks, from scratch: the student kit

{contents}

## Set up (once)

```bash
python3.11 -m venv .venv && source .venv/bin/activate
pip install -r requirements.txt
```

## Work on an exercise

```bash
jupyter lab exercises/02_convolution/02_convolution.ipynb
```

Write your code where it says `# YOUR CODE HERE`, run the test cell under it (the visible
tests), and before you hand in run the notebook's last cell: it runs the grader's own checks on
fresh random inputs and prints PASS or FAIL for every graded part. From a terminal:

```bash
python -m grading.checks exercises/02_convolution/02_convolution.ipynb
```

Hand in the notebook as your instructor tells you; keep its file name and its test cells.
"""


def _copy_tree(src: Path, dst: Path, suffixes=(".py",)) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file() and path.suffix in suffixes and "__pycache__" not in path.parts:
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


CHAPTER_POINTER = """\
# {title}

This chapter is in the book that came with the kit, to read in your web browser: open
`{shown}` in the kit's folder ([{name}]({link})). The book starts at `book/index.html`.
"""


def _chapter_pointers(out: Path) -> None:
    """``book/<chapter>.md`` beside the kit's HTML: the notebooks link the chapters' sources
    (``../../book/04_convolution.md``, right in the repository), which the kit does not hold;
    each such link opens a page that says where the chapter is."""
    for source in sorted((ROOT / "book").glob("*.md")):
        title = next((line[2:].strip() for line in source.read_text().splitlines()
                      if line.startswith("# ")), source.stem)
        page = Path("book") / f"{source.stem}.html"
        link = page if (out / "book" / page).is_file() else Path("index.html")
        (out / "book" / source.name).write_text(CHAPTER_POINTER.format(
            title=title, shown=f"book/{link.as_posix()}", name=link.name, link=link.as_posix()))


def build(out: Path | None = None, html: Path | None = None) -> tuple[Path, Path]:
    """Write the kit into `out` (default ``_build/student-kit``) and its zip beside it.

    `html` is the built book (default ``_build/html``); it must exist (``make book``).
    Returns (kit folder, archive).
    """
    out = Path(out or ROOT / "_build" / NAME)
    html = Path(html or ROOT / "_build" / "html")
    if not (html / "index.html").is_file():
        raise SystemExit(f"student-kit: the book's HTML is missing ({html}/index.html): run `make book`")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for nb in sorted((ROOT / "exercises").glob("*/*")):
        if nb.is_file() and ".ipynb_checkpoints" not in nb.parts:
            target = out / nb.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(nb, target)
    shutil.copytree(html, out / "book", ignore=shutil.ignore_patterns(".buildinfo", "_sources", ".doctrees"))
    _chapter_pointers(out)
    _copy_tree(ROOT / "cnnlib", out / "cnnlib")
    _copy_tree(ROOT / "grading" / "checks", out / "grading" / "checks")
    (out / "grading" / "__init__.py").write_text(GRADING_INIT)
    (out / "requirements.txt").write_text(REQUIREMENTS)
    (out / "pyproject.toml").write_text(PYPROJECT)
    contents = "\n".join(f"* `{k}` {v}" for k, v in CONTENTS.items())
    (out / "README.md").write_text(README.format(contents=contents))
    archive = out.parent / f"{out.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(out.rglob("*")):
            if path.is_file():
                zf.write(path, Path(out.name) / path.relative_to(out))
    return out, archive


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="the kit's folder (default: _build/student-kit)")
    parser.add_argument("--html", type=Path, help="the built book (default: _build/html)")
    args = parser.parse_args(argv)
    folder, archive = build(args.out, args.html)
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    print(f"wrote {folder} ({files} files) and {archive} ({archive.stat().st_size >> 10} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
