"""Helpers for the grading tests: a temporary course, submissions, `make grade`, the gradebook.

A temporary course is a copy of the repository's solutions/, exercises/ and nbgrader_config.py
in which the release is generated again (nbgrader generate_assignment); the tests then run
`python -m grading.grade` from that course's root, as an instructor runs `make grade`.
"""
from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "run_check(", "import run_check")


def env() -> dict:
    out = dict(os.environ)
    out["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), out.get("PATH", "")])
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), out.get("PYTHONPATH")) if p)
    return out


_GENERATE = """
import sys
from pathlib import Path
from nbgrader.converters import GenerateAssignment
from grading.grade import load_config, run_converter
root = Path.cwd()
cfg = load_config(root)
for a in sys.argv[1:]:
    r = run_converter(GenerateAssignment, cfg, a)
    if not r["success"]:
        sys.exit(f"generate_assignment {a} failed: {r.get('error')}")
"""


def make_course(tmp: Path, assignments) -> Path:
    """A temporary course with these assignments, released and in its gradebook."""
    root = Path(tmp) / "course"
    root.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    for a in assignments:
        shutil.copytree(REPO / "solutions" / a, root / "solutions" / a)
        if (REPO / "exercises" / a).is_dir():
            shutil.copytree(REPO / "exercises" / a, root / "exercises" / a)
    subprocess.run([sys.executable, "-c", _GENERATE, *assignments], cwd=root, env=env(),
                   check=True, capture_output=True, text=True, timeout=300)
    return root


def grade(root: Path, *args, timeout: float = 900) -> subprocess.CompletedProcess:
    """`make grade` in the temporary course (python -m grading.grade ...)."""
    return subprocess.run([sys.executable, "-m", "grading.grade", *args], cwd=root, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def source_notebook(root: Path, assignment: str):
    return nbformat.read(str(root / "solutions" / assignment / f"{assignment}.ipynb"), 4)


def release_notebook(root: Path, assignment: str):
    return nbformat.read(str(root / "exercises" / assignment / f"{assignment}.ipynb"), 4)


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def test_points(root: Path, assignment: str) -> dict[str, float]:
    """grade id -> points of every autograded test cell of the source notebook."""
    out = {}
    for cell in source_notebook(root, assignment).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            out[meta["grade_id"]] = float(meta["points"])
    return out


test_points.__test__ = False  # a helper, not a test


def reference_submission(root: Path, assignment: str):
    """The release notebook with the reference solutions written into its solution cells."""
    solutions = {grade_id(c): c.source for c in source_notebook(root, assignment).cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    nb = release_notebook(root, assignment)
    for cell in nb.cells:
        if grade_id(cell) in solutions:
            cell.source = solutions[grade_id(cell)]
    return nb


def cell_defining(nb, target: str):
    """The solution cell that defines `target` (def target / target = ...)."""
    pattern = re.compile(rf"^(def\s+{re.escape(target)}\b|{re.escape(target)}\s*=)", re.M)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and pattern.search(cell.source):
            return cell
    raise KeyError(f"no solution cell defines {target}")


def with_code(nb, replacements: dict[str, str]):
    """A copy of nb in which the cell defining each target holds the given code."""
    nb = copy.deepcopy(nb)
    cells = {target: cell_defining(nb, target) for target in replacements}
    for target, code in replacements.items():
        cells[target].source = code
    return nb


def add_cell(nb, source: str, after: str | None = None):
    """A copy of nb with a new code cell after the cell defining `after` (or after the first code cell)."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(source)
    if after is None:
        index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code") + 1
    else:
        index = nb.cells.index(cell_defining(nb, after)) + 1
    nb.cells.insert(index, cell)
    return nb


def submit(root: Path, student: str, assignment: str, nb=None, files: dict | None = None,
           name: str | None = None) -> Path:
    """Write a submission into submitted/<student>/<assignment>/ (nb may be raw text)."""
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{assignment}.ipynb")
    if isinstance(nb, str):
        path.write_text(nb)
    elif nb is not None:
        nbformat.write(nb, str(path))
    for rel, text in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def gradebook_scores(root: Path) -> dict:
    """(student, assignment) -> {grade id: (auto_score, needs_manual_grade)} from the gradebook."""
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                out[(sub.student.id, assignment.name)] = {
                    g.name: (g.auto_score, g.needs_manual_grade)
                    for nb in sub.notebooks for g in nb.grades}
    return out


def flags_of(stdout: str, student: str, assignment: str) -> list[str]:
    """The FLAGS lines of the summary for one submission."""
    prefix = f"  {student}/{assignment}: "
    return [line[len(prefix):] for line in stdout.splitlines() if line.startswith(prefix)]


def summary_cell(stdout: str, student: str, column: int = 1) -> str:
    """The summary table's entry for a student (the first assignment column by default)."""
    for line in stdout.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if parts and parts[0] == student:
            return parts[column]
    raise KeyError(student)


def needs_sandbox():
    """Skip marker for tests that need the grading jail; the reason is the probe's own screen."""
    import pytest
    from grading.sandbox import SandboxUnavailable, probe
    try:
        probe()
        reason = ""
    except SandboxUnavailable as exc:
        reason = str(exc)
    return pytest.mark.skipif(bool(reason), reason=f"needs the grading jail, which cannot start here: {reason}")


# ----------------------------------------------------------------------------- a Jupyter server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_server_config(folder: Path, token: str) -> tuple[Path, int]:
    """A Jupyter configuration folder (for JUPYTER_CONFIG_DIR): a free local port, this token,
    no browser, root allowed (CI runs as root). Returns (folder, port)."""
    port = free_port()
    folder.mkdir(exist_ok=True)
    (folder / "jupyter_server_config.py").write_text(
        f"c.ServerApp.port = {port}\nc.ServerApp.ip = '127.0.0.1'\nc.ServerApp.open_browser = False\n"
        f"c.ServerApp.allow_root = True\nc.IdentityProvider.token = {token!r}\n")
    return folder, port


@contextlib.contextmanager
def serving(cmd: list[str], cwd: Path, env: dict, url: str, log_path: Path, timeout: float = 180):
    """Start a server (`cmd`, in its own session), wait until `url` answers 200, stop it after.

    Fails with the end of the server's log if it exits or does not answer within `timeout` s.
    """
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as page:
                    assert page.status == 200, f"{url} answered {page.status}"
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not answer {url}:\n"
                                         + log_path.read_text()[-3000:]) from None
                time.sleep(0.5)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def small_gradebook(root: Path, maxima: dict, scores: dict) -> str:
    """A sqlite gradebook at `root`/gradebook.db: one assignment "a" (one notebook "a") whose code
    test cells have the maxima `maxima` ({cell: max score}), and a submission of each student of
    `scores` ({student: {cell: automatic score or None}}), no cell waiting for a person. Its URL."""
    from nbgrader.api import Gradebook

    from grading.grade import alembic_on_path
    alembic_on_path()
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("a")
        gb.add_notebook("a", "a")
        for cell, top in maxima.items():
            gb.add_grade_cell(cell, "a", "a", max_score=top, cell_type="code")
        for student, cells in scores.items():
            gb.add_student(student)
            gb.add_submission("a", student)
            for cell, auto in cells.items():
                grade = gb.find_grade(cell, "a", "a", student)
                grade.auto_score, grade.needs_manual_grade = auto, False
        gb.db.commit()
    return url
