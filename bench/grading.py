"""Grading speed: `make grade` (sandboxed checks) against plain nbgrader, on the same class.

A class of N submissions (default 100; BENCH_GRADING_N) of one assignment (BENCH_GRADING_A,
default 05_pooling): copies of the reference solution and of the catalogue's right and wrong
implementations, in turn. Timed, each from a clean start of the command:

- `python -m grading.grade --workers 1` and `--workers <cores>` (this course's grader:
  pre-flight, student code in the bubblewrap jail, verdicts, feedback HTML, grades.csv), on
  Dask's local cluster;
- the same command from the grader before the jail moved to bubblewrap (commit BEFORE, its
  hand-written ctypes namespace sandbox and its worker pool, root only), extracted with
  `git archive` into a temporary folder, one worker: the before/after rows of issue 9;
- the same with the hand-written worker pool that Dask replaced (grading/grade.py of commit
  OLD_POOL, taken from git into a temporary copy of grading/: same sandbox, same checks);
  the two old graders run with today's grading/__init__.py, so every row starts its Python
  processes the same way;
- `nbgrader autograde` with nbgrader's stock preprocessors (tests run in the student's kernel,
  no feedback, no export), which is what the course's grader replaces;
- executing the reference notebook with nbclient (no grading at all), for scale.

Each row gives the wall-clock time and the CPU seconds of the command's whole process tree;
the CPU figure is the steadier one on a shared machine. Not a test: it takes a few minutes.
Run with `make bench` or `python -m bench grading`.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
OLD_POOL = "a15c9b3"   # the last commit whose make grade ran its own worker-process pool

PLAIN_CONFIG = """
c = get_config()
import os
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "cnn-from-scratch"
"""


#: the last commit with the ctypes sandbox (grading/sandbox_child.py), for the "before" row
BEFORE = "a15c9b3"


def _env(code: Path = REPO) -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), env.get("PYTHONPATH")) if p)
    return env


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd, cwd, code: Path = REPO) -> float:
    """Wall-clock seconds of the command; its process tree's CPU seconds go to CPU_SECONDS."""
    print(f"  running {' '.join(str(c) for c in cmd[1:])} in {Path(cwd).name}/ ...", file=sys.stderr, flush=True)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=cwd, env=_env(code), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    CPU_SECONDS.append(_children_cpu() - cpu0)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


#: CPU seconds of each `_run`, in order: steadier than wall time on a shared machine
CPU_SECONDS: list[float] = []


def class_of(assignment: str, n: int) -> list:
    """n submission notebooks: the reference and the catalogue's entries, in turn."""
    from grading_catalogue import CORRECT, WRONG, build_submission, reference_sources
    entries = [reference_sources(assignment)]
    entries += [e.replacements for e in CORRECT + WRONG if e.assignment == assignment]
    return [build_submission(assignment, entries[i % len(entries)]) for i in range(n)]


def old_grader(dest: Path) -> Path | None:
    """grading/ and nbgrader_config.py of commit BEFORE in `dest` (None without git or it)."""
    dest.mkdir(parents=True)
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE, "grading",
                                  "nbgrader_config.py"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    # Today's package header, so its processes start like today's (see grading/__init__.py):
    # the rows then differ by the sandbox only.
    shutil.copy(REPO / "grading" / "__init__.py", dest / "grading" / "__init__.py")
    return dest


def make_course(root: Path, assignment: str, notebooks, config: str | None, code: Path = REPO) -> None:
    root.mkdir(parents=True)
    shutil.copytree(REPO / "solutions" / assignment, root / "solutions" / assignment)
    if config is None:
        shutil.copy(code / "nbgrader_config.py", root)
    else:
        (root / "nbgrader_config.py").write_text(config)
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"], root, code)
    for i, nb in enumerate(notebooks):
        folder = root / "submitted" / f"s{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


def old_pool_code(dest: Path) -> Path:
    """A copy of today's grading/ whose grade.py is the worker-pool version of OLD_POOL."""
    shutil.copytree(REPO / "grading", dest / "grading")
    old = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD_POOL}:grading/grade.py"],
                         capture_output=True, text=True, check=True).stdout
    # Names today's nbgrader_config.py imports from grading.grade (no-ops for make grade).
    old += "\n\ndef sync_gradebook_on_first_use(root, argv=None):\n    pass\n"
    (dest / "grading" / "grade.py").write_text(old)
    return dest


def full_marks(root: Path, assignment: str) -> int:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return sum(1 for s in gb.find_assignment(assignment).submissions if s.score == s.max_score)


def execute_seconds(assignment: str, repeats: int = 3) -> float:
    from nbclient import NotebookClient
    nb = nbformat.read(str(REPO / "solutions" / assignment / f"{assignment}.ipynb"), 4)
    best = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            NotebookClient(nbformat.from_dict(nb), timeout=120, resources={"metadata": {"path": tmp}}).execute()
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    n = int(os.environ.get("BENCH_GRADING_N", "100"))
    assignment = os.environ.get("BENCH_GRADING_A", "05_pooling")
    cores = os.cpu_count() or 1
    os.environ.update({k: _env()[k] for k in ("PATH", "PYTHONPATH")})  # alembic; kernels import grading
    notebooks = class_of(assignment, n)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        ours = Path(tmp) / "ours"
        plain = Path(tmp) / "plain"
        make_course(ours, assignment, notebooks, None)
        make_course(plain, assignment, notebooks, PLAIN_CONFIG)
        grade = [sys.executable, "-m", "grading.grade", "--assignment", assignment, "--force"]
        old_code = old_pool_code(Path(tmp) / "old-pool")
        before_code = old_grader(Path(tmp) / "before-code") if os.geteuid() == 0 else None
        if before_code is not None:  # the ctypes sandbox needs root
            before = Path(tmp) / "before"
            make_course(before, assignment, notebooks, None, before_code)
            seconds = _run(grade + ["--workers", "1"], before, before_code)
            rows.append((f"before: ctypes sandbox ({BEFORE})", 1, seconds, CPU_SECONDS[-1],
                         full_marks(before, assignment)))
        for workers in sorted({1, cores}):
            seconds = _run(grade + ["--workers", str(workers)], ours)
            rows.append(("make grade (bubblewrap jail), Dask", workers, seconds, CPU_SECONDS[-1],
                         full_marks(ours, assignment)))
        seconds = _run(grade + ["--workers", str(cores)], ours, code=old_code)
        rows.append((f"same, old worker pool ({OLD_POOL})", cores, seconds, CPU_SECONDS[-1],
                     full_marks(ours, assignment)))
        seconds = _run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"], plain)
        rows.append(("plain nbgrader autograde (in-kernel tests)", 1, seconds, CPU_SECONDS[-1],
                     full_marks(plain, assignment)))
    execute = execute_seconds(assignment)
    plain_per = rows[-1][2] / n
    print(f"Grading a class of {n} submissions of {assignment} ({cores} cores); "
          f"wall-clock seconds of each whole command, from a cold start, and the CPU seconds "
          f"of its whole process tree (workers and sandboxes included).\n")
    print(f"| {'grader':<44} | workers | total s | s / submission | vs plain |   CPU s | {'full marks':>12} |")
    print(f"|{'-' * 46}|---------|---------|----------------|----------|---------|{'-' * 14}|")
    for name, workers, seconds, cpu, full in rows:
        per = seconds / n
        print(f"| {name:<44} | {workers:>7} | {seconds:7.1f} | {per:14.2f} | {per / plain_per:7.2f}x | "
              f"{cpu:7.1f} | {f'{full} / {n}':>12} |")
    print(f"| {'nbclient: execute the reference notebook':<44} | {1:>7} | {execute:7.2f} | "
          f"{execute:14.2f} | {execute / plain_per:7.2f}x | {'-':>7} | {'-':>12} |")
    dask_row = next(r for r in rows if r[0].endswith("Dask") and r[1] == cores)
    old_row = next(r for r in rows if r[0].startswith("same, old worker pool"))
    print(f"\nDask's local cluster / the old worker pool, {cores} workers each, this run: "
          f"{dask_row[2] / old_row[2]:.2f}x the time, {dask_row[3] / old_row[3]:.2f}x the CPU "
          f"(target: <= 1.00x, no slower).")
    print("Target: <= 4 s per submission, within 1.5x of plain nbgrader. Plain nbgrader's "
          "'full marks' counts wrong code too if it fooled the in-kernel tests.")
    before = [r for r in rows if r[0].startswith("before")]
    after = next(r for r in rows if r[0].endswith("Dask") and r[1] == 1)
    if before:
        print(f"Issue 9 (no slower): bubblewrap jail / ctypes sandbox, one worker, this run: "
              f"{after[2] / before[0][2]:.2f}x the time ({after[2] / n:.2f} vs {before[0][2] / n:.2f} s "
              "per submission; target: <= 1.00x)")
    else:
        print("(no 'before' row: the ctypes sandbox of the old commit runs only as root, with git)")


if __name__ == "__main__":
    main()
