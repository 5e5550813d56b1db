"""`make grade`: autograde every submission under submitted/<student>/<assignment>/.

    python -m grading.grade [--assignment A ...] [--student S ...] [--workers N]
                            [--scheduler tcp://HOST:8786] [--force] [--seed N]

Run from the course root (the folder with nbgrader_config.py). What happens:

1. Submissions graded before whose files did not change are skipped (state in
   autograded/.grading/), unless what decides the grade changed since: nbgrader_config.py,
   the grading code or cnnlib, the assignment's notebook in solutions/ (a test fixed) or its
   due date (a late penalty chosen afterwards applies) or the student's own due date in
   extensions.csv (`grading.extensions`); `--force` regrades everything.
   One line counts them (`Progress.unchanged`). With nothing left to grade, no cluster is
   started.
2. A Dask cluster (`grading.cluster`): by default a LocalCluster of worker processes on this
   machine (one per core, `--workers N`), or the scheduler given by `--scheduler` or the
   environment variable CNN_GRADING_SCHEDULER. An unreachable scheduler, or workers that
   cannot confine student code, stop the run here, before anything is written.
3. The gradebook (nbgrader's, `CourseDirectory.db_url`; sqlite at the root by default) gets
   every assignment of solutions/ and every student of submitted/, and each assignment's
   record (its cells' points, the test code autograde puts back) as solutions/ has it now
   (`ensure_gradebook`). Before anything: points of a test cell that differ between its
   notebook and its check stop the run (`points_disagree`); a release older than solutions/
   is named (`release_differences`). A submission scored against other points than the
   gradebook's now (`stale_scores`) is graded again.
4. Pre-flight (`grading.preflight`) looks at each submission: a missing or unreadable notebook
   is not sent to the cluster but flagged; the rest (extra files, copied cells, renamed cells,
   imports of the reference) is flagged and graded.
5. One Dask task per submission (`grading.task.grade_task`) autogrades it on a worker with
   nbgrader's Autograde and the course's preprocessors, in a private course with its own copy
   of the gradebook; student code runs only in `grading.sandbox` on that worker. Tasks send
   and return plain data (files as bytes, scores, flags). Only this process writes the real
   gradebook, one result at a time as tasks complete, and installs the autograded notebook
   and its feedback HTML in autograded/ and feedback/. A task that fails or outlives its
   deadline leaves that submission "needs manual grade" and flagged; the batch goes on. A
   task whose worker died more than the allowed number of times (Dask's allowed-failures)
   may only have queued behind the one that kills it: once the batch is through, each such
   submission is graded again alone, and flagged if its worker dies again. An interrupted
   run (Ctrl-C, a reboot) loses only the submissions being graded.
6. grades.csv and grades-lms.csv (`grading.export`: a status, never a plain 0 for what was
   not graded), class_report.html (`grading.report`) and a summary with the FLAGS (per
   student; per assignment for a class of more than TABLE_ROWS).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import signal
import sqlite3
import stat
import sys
import tempfile
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from grading.cluster import quiet_cluster_logs
from grading.export import printable
from grading.progress import Progress
from grading.task import code_fingerprint, pack_folder, remove_tree as _rmtree, unpack_folder

STATE = ".grading"          # autograded/.grading/<student>/<assignment>.json
JOB_MARGIN_S = 120.0        # wall-clock allowance of a job beyond the sandbox's own bound
SEED_ENV = "GRADING_SEED"   # set by --seed; read wherever the configuration is loaded
MAX_SUBMISSION_BYTES = 256 << 20   # a submission folder larger than this is not sent


# ----------------------------------------------------------------------------- nbgrader glue
def load_config(root: Path):
    """The course's nbgrader configuration (nbgrader_config.py at the root)."""
    from traitlets.config.loader import Config, PyFileConfigLoader
    path = root / "nbgrader_config.py"
    cfg = PyFileConfigLoader(path.name, path=str(root)).load_config() if path.exists() else Config()
    cfg.CourseDirectory.root = str(root)
    if os.environ.get(SEED_ENV):   # `make grade --seed N`: the same hidden inputs for everybody
        cfg.SandboxedTests.seed = int(os.environ[SEED_ENV])
    return cfg


def config_with(cfg, section: str, **values):
    """A copy of `cfg` with `values` set in its `section`; `cfg` itself stays as it is.

    The changed section is copied too: `Config(cfg)` alone shares its sections, so a job's root
    and gradebook would leak into the caller's config (and, on a Dask worker, into the course
    data that its other threads are reading). The other sections stay shared, unchanged.
    """
    from traitlets.config.loader import Config
    cfg = Config(cfg)
    cfg[section] = Config(cfg[section])
    for key, value in values.items():
        setattr(cfg[section], key, value)
    return cfg


def coursedir(cfg, **overrides):
    """nbgrader's CourseDirectory for `cfg` with `overrides`, and the config it was made from."""
    from nbgrader.coursedir import CourseDirectory
    cfg = config_with(cfg, "CourseDirectory", **overrides)
    return CourseDirectory(config=cfg), cfg


def run_converter(cls, cfg, assignment: str, student: str = ".", **overrides) -> dict:
    """Run an nbgrader converter in this process: {'success', 'error'?, 'log'?}."""
    from nbgrader.utils import capture_log
    cd, cfg = coursedir(cfg, **overrides)
    cd.assignment_id, cd.student_id = assignment, student
    app = cls(coursedir=cd, config=cfg)
    app.force = True
    if hasattr(app, "create_student"):
        app.create_student = True
    return capture_log(app)


def db_url_of(cfg) -> str:
    cd, _ = coursedir(cfg)
    return cd.db_url


# ----------------------------------------------------------------------------- the course
@dataclass
class Submission:
    student: str
    assignment: str
    folder: Path
    flags: list = field(default_factory=list)
    status: str = "pending"      # pending | unchanged (graded before) | graded | not graded
    retry: bool = True           # False: not graded because of its files (pre-flight), not us
    seconds: float = 0.0
    seed: int | None = None      # the last grading's seed, reused while the files stay the same
    resubmitted: bool = False    # graded before from other files: hand grades given then go

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"


def find_assignments(root: Path, wanted) -> list[str]:
    names = sorted(p.name for p in (root / "solutions").iterdir()
                   if p.is_dir() and any(p.glob("*.ipynb"))) if (root / "solutions").is_dir() else []
    unknown = set(wanted or []) - set(names)
    if unknown:
        raise SystemExit(f"grading.grade: no assignment {sorted(unknown)} in solutions/ "
                         f"(there are {names})")
    return [a for a in names if not wanted or a in wanted]


def find_submissions(root: Path, assignments, students) -> list[Submission]:
    base = root / "submitted"
    known = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    unknown = sorted(set(students or []) - set(known))
    if unknown and known:   # a typo must not grade nothing and say all is well
        import difflib
        close = sorted({m for s in unknown for m in difflib.get_close_matches(s, known, n=3)})
        raise SystemExit(f"grading.grade: no folder submitted/<student>/ for {unknown} "
                         f"({len(known)} students there"
                         + (f"; did you mean {', '.join(close)}?)" if close else ")"))
    found = []
    for sdir in sorted(base.iterdir()) if base.is_dir() else []:
        if not sdir.is_dir() or sdir.name.startswith(".") or (students and sdir.name not in students):
            continue
        for assignment in assignments:
            if (sdir / assignment).is_dir():
                found.append(Submission(sdir.name, assignment, sdir / assignment))
    return found


def open_to_others(root: Path) -> list[str]:
    """What of the course other accounts on this machine can read or change: on a shared server
    (a lab server, The Littlest JupyterHub) students have accounts there, and umask 022 leaves
    solutions/ and the gradebook readable by all; `nbgrader collect` leaves submitted/ folders
    writable by all. [] when the course folder cannot be reached by others at all."""
    def mode(path: Path) -> int:
        try:
            return path.stat().st_mode
        except OSError:
            return 0
    if not all(mode(p) & 0o001 for p in (root, *root.parents)):   # others cannot get in
        return []
    found = [name for name in ("solutions", "gradebook.db") if mode(root / name) & 0o004]
    submitted = root / "submitted"
    if mode(submitted) & 0o001 and any(mode(d) & 0o002 for d in submitted.glob("*/*") if d.is_dir()):
        found.append("submitted/ (folders writable by all)")
    return found


def misplaced(root: Path, assignments, students) -> list[str]:
    """What under submitted/ is not in the layout submitted/<student>/<assignment>/ and so is
    not graded: one line each, with what to do (an assignment folder first, a notebook loose in
    a student's folder, a misspelt assignment name)."""
    import difflib
    base, out = root / "submitted", []
    layout = "submitted/<student>/<assignment>/<assignment>.ipynb"
    for top in sorted(base.iterdir()) if base.is_dir() else []:
        if top.name.startswith(".") or (students and top.name not in students):
            continue
        if not top.is_dir():
            out.append(f"submitted/{top.name}: a file outside any student's folder; expected {layout}")
        elif top.name in assignments:
            out.append(f"submitted/{top.name}/: named like an assignment; the layout is {layout} "
                       "(the student's folder first)")
        else:
            for item in sorted(top.iterdir()):
                if item.name.startswith(".") or (item.is_dir() and item.name in assignments):
                    continue
                what = "a folder that is not an assignment of the course" if item.is_dir() else \
                    "a file outside any assignment's folder"
                close = difflib.get_close_matches(item.name.removesuffix(".ipynb"), assignments, n=1)
                out.append(f"submitted/{top.name}/{item.name}: {what}; expected {layout}"
                           + (f" (did you mean {top.name}/{close[0]}/?)" if close else ""))
    return out


def folder_hash(folder: Path) -> str:
    """sha256 of a submission folder: names, links' targets (never followed) and the files'
    bytes, read in pieces; a file too large to send (it is never graded) counts by its size
    and time, unread."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(os.fsencode(path.relative_to(folder)) + b"\0")
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):   # never follow a student's link (to /dev/zero, say)
            digest.update(b"link:" + os.fsencode(os.readlink(path)))
        elif stat.S_ISREG(st.st_mode) and st.st_size > MAX_SUBMISSION_BYTES:
            digest.update(b"large:%d:%d" % (st.st_size, st.st_mtime_ns))
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def oversize_flag(sub: Submission) -> str:
    """The flag of a submission folder holding more than MAX_SUBMISSION_BYTES (a task carries
    the whole folder to a worker), naming its largest file; "" when it fits. Links are not
    followed (a link's size is its target's text)."""
    total, largest = 0, (0, "")
    for path in sub.folder.rglob("*"):
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            total += st.st_size
            largest = max(largest, (st.st_size, str(path.relative_to(sub.folder))))
    if total <= MAX_SUBMISSION_BYTES:
        return ""
    return (f"{total / 2**20:,.0f} MiB handed in, more than the {MAX_SUBMISSION_BYTES >> 20} MiB a "
            f"submission may hold (largest file: {largest[1]}, {largest[0] / 2**20:,.0f} MiB); not "
            f"graded: move the extra files out of submitted/{sub.student}/{sub.assignment}/ and run "
            f"`make grade ARGS=\"--student {sub.student}\"`")


#: nbgrader_config.py's settings that cannot change a grade: where the exchange is (an
#: instructor's trial: adding the guide's `c.Exchange.root = ...` line regraded a whole class)
NOT_RULES = ("Exchange",)


def config_rules(config: Path) -> bytes:
    """What of nbgrader_config.py can decide a grade: its code as Python reads it (comments
    and layout aside) without the statements that only set `NOT_RULES` sections
    (``c.Exchange.root = ...``); the bytes themselves when it does not parse."""
    import ast
    if not config.exists():
        return b""
    text = config.read_bytes()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text

    def setting(target) -> bool:   # c.<Section>.<name>
        return (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)
                and isinstance(target.value.value, ast.Name) and target.value.value.id == "c"
                and target.value.attr in NOT_RULES)

    def only_sets_others(statement) -> bool:
        targets = (statement.targets if isinstance(statement, ast.Assign) else
                   [statement.target] if isinstance(statement, ast.AnnAssign) else [None])
        return all(map(setting, targets))

    tree.body = [statement for statement in tree.body if not only_sets_others(statement)]
    return ast.dump(tree).encode()


def grading_rules(root: Path) -> dict[str, str]:
    """assignment -> what decides its grades besides the files: nbgrader_config.py (the late
    penalty, the preprocessors), the grading code and the reference (`code_fingerprint`: the
    checks, their limits, the expected values), the assignment's notebooks in solutions/ (its
    tests) and its due date (in the gradebook at the root, or the server gradebook that
    nbgrader_config.py names). A change to any of them regrades the assignment's
    submissions (without --force); "" holds what all share."""
    config = root / "nbgrader_config.py"
    base = hashlib.sha256(config_rules(config) + code_fingerprint().encode()).hexdigest()
    due = {}
    db = root / "gradebook.db"
    if config.exists() and "db_url" in config.read_text():
        due = _server_due_dates(root)
    elif db.exists():
        try:
            with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as con:
                due = dict(con.execute("select name, duedate from assignment "
                                       "where duedate is not null"))
        except sqlite3.Error:
            pass
    source = root / "solutions"
    tests = {a.name: hashlib.sha256(b"".join(hashlib.sha256(nb.read_bytes()).digest()
                                             for nb in sorted(a.glob("*.ipynb")))).hexdigest()
             for a in (source.iterdir() if source.is_dir() else []) if a.is_dir()}
    return {a: f"{base}:{tests.get(a, '')}:{due.get(a, '')}" for a in set(due) | set(tests)} | {"": base}


def _server_due_dates(root: Path) -> dict[str, str]:
    """assignment -> due date, from the gradebook that nbgrader_config.py's db_url names."""
    from nbgrader.api import Gradebook
    try:
        with Gradebook(db_url_of(load_config(root))) as gb:
            return {a.name: str(a.duedate) for a in gb.assignments if a.duedate is not None}
    except Exception as exc:   # unreachable: grading stops later, saying why
        print(f"grading.grade: note: cannot read the due dates of the gradebook "
              f"({type(exc).__name__}: {exc})", file=sys.stderr)
        return {}


def state_path(root: Path, sub: Submission) -> Path:
    return root / "autograded" / STATE / sub.student / f"{sub.assignment}.json"


def read_state(root: Path, sub: Submission) -> dict:
    try:
        return json.loads(state_path(root, sub).read_text())
    except (OSError, ValueError):
        return {}


def same_files(state: dict, sub: Submission) -> bool:
    """The recorded state is of `sub`'s files as they are now (the digest's part before "|";
    the rules' part after it may differ)."""
    return state.get("hash", "").split("|")[0] == getattr(sub, "digest", "").split("|")[0]


def write_state(root: Path, sub: Submission, digest: str) -> None:
    path = state_path(root, sub)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"hash": digest, "status": sub.status, "flags": sub.flags,
                               "retry": sub.retry, "seconds": round(sub.seconds, 2),
                               "autograded": graded_hash(root, sub)}, indent=1))
    tmp.replace(path)


def graded_folder(root: Path, sub: Submission) -> Path:
    """autograded/<student>/<assignment>/: the graded notebooks that nbgrader wrote."""
    return root / "autograded" / sub.student / sub.assignment


def graded_hash(root: Path, sub: Submission) -> str:
    """sha256 of `graded_folder` ("" if absent): another tool that grades the submission (a
    plain `nbgrader autograde`) rewrites it, and then this run's result is no longer what the
    gradebook holds."""
    folder = graded_folder(root, sub)
    return folder_hash(folder) if folder.is_dir() else ""


# ----------------------------------------------------------------------------- gradebook
def notebook_cells(path: Path) -> dict:
    """What nbgrader's SaveCells stores of the notebook at `path` and `gradebook_differences`
    compares: {"points": {grade id: points}, "solution": {ids}, "source": {id: source of each
    test or locked cell that is not a solution cell}}."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    points, solution, source = {}, set(), {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            continue
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else text
        if meta.get("grade") or meta.get("task"):
            points[gid] = float(meta.get("points", 0) or 0)
        if meta.get("solution"):
            solution.add(gid)
        elif meta.get("grade") or meta.get("locked") or meta.get("task"):
            source[gid] = text
    return {"points": points, "solution": solution, "source": source}


def source_cells(root: Path, assignment: str) -> dict[str, dict]:
    """notebook name -> `notebook_cells` of solutions/<assignment>/<notebook>.ipynb."""
    return {path.stem: notebook_cells(path)
            for path in sorted((root / "solutions" / assignment).glob("*.ipynb"))}


def gradebook_differences(gb, root: Path, assignment: str) -> list[str]:
    """How the gradebook's record of `assignment` (its notebooks, its cells' points and the
    test cells' code, which autograde puts back into every submission) differs from
    solutions/: one short line each; [] when it is up to date."""
    from nbgrader.api import MissingEntry
    try:
        stored = {nb.name: nb for nb in gb.find_assignment(assignment).notebooks}
    except MissingEntry:
        return [f"{assignment} is not in the gradebook"]
    out = []
    for name, cells in source_cells(root, assignment).items():
        if name not in stored:
            out.append(f"{name}.ipynb is not in the gradebook")
            continue
        nb = stored[name]
        maxima = {c.name: c.max_score for c in [*nb.grade_cells, *nb.task_cells]}
        for gid in sorted(set(maxima) | set(cells["points"])):
            old, new = maxima.get(gid), cells["points"].get(gid)
            if old is None or new is None:
                out.append(f"{gid}: {'new in' if old is None else 'no longer in'} solutions/")
            elif old != new:
                out.append(f"{gid}: {old:g} points in the gradebook, {new:g} in solutions/")
        if {c.name for c in nb.solution_cells} != cells["solution"]:
            out.append(f"{name}: the solution cells differ")
        sources = {c.name: c.source for c in nb.source_cells}
        changed = sorted(gid for gid, text in cells["source"].items() if sources.get(gid) != text)
        if changed:
            out.append(f"code of {', '.join(changed)} changed in solutions/")
    return out


def points_disagree(root: Path, assignments) -> list[str]:
    """Test cells whose points in the notebook (nbgrader's metadata, which decides the score)
    differ from their check's ``points=`` in grading/checks/: one line each, naming both."""
    from grading.preprocessors import assignment_checks
    out = []
    for assignment in assignments:
        checks = assignment_checks(assignment)
        for name, cells in source_cells(root, assignment).items():
            for gid, points in cells["points"].items():
                check = checks.get(gid)
                if check is None or float(check.points) == points:
                    continue
                module = getattr(check.make_cases, "__module__", "") or "grading.checks"
                out.append(f"{gid}: {points:g} points in solutions/{assignment}/{name}.ipynb "
                           f"(nbgrader metadata), points={check.points} in "
                           f"{module.replace('.', '/')}.py")
    return out


def release_differences(root: Path, assignments) -> list[str]:
    """Assignments whose release (exercises/) gives other test cells or points than solutions/,
    which decides the grades: `make exercises` was not run since solutions/ changed."""
    out = []
    for assignment in assignments:
        for name, cells in source_cells(root, assignment).items():
            try:
                released = notebook_cells(root / "exercises" / assignment / f"{name}.ipynb")["points"]
            except (OSError, ValueError):
                out.append(f"exercises/{assignment}/{name}.ipynb is missing or unreadable")
                continue
            for gid in sorted(set(released) | set(cells["points"])):
                old, new = released.get(gid), cells["points"].get(gid)
                if old != new:
                    out.append(f"{assignment}/{gid}: " + (f"{old:g} points in exercises/, {new:g} in solutions/"
                               if old is not None and new is not None else
                               "not in exercises/" if old is None else "not in solutions/"))
    return out


def stale_scores(root: Path) -> set[str]:
    """Submissions ("student/assignment") of the sqlite gradebook at the root with a test
    cell's automatic score neither 0 nor its maximum: graded against other points than the
    gradebook's now (solutions/ edited, then `make exercises` after a grading). A test cell
    of this course scores all or nothing (its output is the check's verdict), so such a score
    is stale; these submissions are graded again."""
    db = root / "gradebook.db"
    if not db.exists():
        return set()
    query = """select s.student_id, a.name from grade g
               join grade_cells gc on gc.id = g.cell_id
               join submitted_notebook sn on sn.id = g.notebook_id
               join submitted_assignment s on s.id = sn.assignment_id
               join assignment a on a.id = s.assignment_id
               where gc.cell_type = 'code' and g.auto_score is not null
                 and g.auto_score != 0 and g.auto_score != gc.max_score"""
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as con:
            return {f"{student}/{assignment}" for student, assignment in con.execute(query)}
    except sqlite3.Error:
        return set()


def ensure_gradebook(root: Path, cfg, assignments, students) -> None:
    """Every assignment (with its notebooks and cells) and every student in the gradebook, and
    each assignment's record as solutions/ has it now: a cell's points (the maxima of every
    score) and its test code, which autograde puts back into each submission. An assignment
    whose record differs (solutions/ edited, `make exercises` not run since) is recorded again
    with nbgrader's GenerateAssignment (its SaveCells updates the cells in place); that also
    changes the assignment's `grading_rules`, so its submissions are graded again."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment
    alembic_on_path()   # a new gradebook: without alembic nbgrader leaves it half made
    url = db_url_of(cfg)
    for assignment in assignments:
        with Gradebook(url) as gb:
            known = assignment in {a.name for a in gb.assignments}
            changes = gradebook_differences(gb, root, assignment)
        if not changes:
            continue
        with tempfile.TemporaryDirectory(prefix="release-") as tmp:
            result = run_converter(GenerateAssignment, cfg, assignment,
                                   release_directory=tmp, db_url=url)
        if not result["success"]:
            raise SystemExit(f"grading.grade: cannot {'update' if known else 'add'} {assignment} "
                             f"in the gradebook ({'; '.join(changes)}):\n"
                             f"{result.get('error', '')}")
        if known:
            print(f"gradebook: {assignment} updated from solutions/ ({'; '.join(changes)})",
                  flush=True)
    with Gradebook(url) as gb:
        for student in students:
            gb.update_or_create_student(student)


def prepare_gradebook(root: Path, cfg, assignments, students, todo) -> None:
    """The gradebook before the first grade: `ensure_gradebook`, then the extensions of
    extensions.csv on the submissions to grade (`grading.extensions`), so that the tasks'
    copy counts their lateness against the student's own due date."""
    from grading.extensions import apply_extensions, read_extensions
    ensure_gradebook(root, cfg, assignments, students)
    apply_extensions(db_url_of(cfg), todo, read_extensions(root))


def alembic_on_path() -> None:
    """nbgrader runs `alembic` (installed beside this Python) when it creates a gradebook;
    `make` does not put the venv's bin/ on PATH."""
    bin_dir, path = str(Path(sys.executable).parent), os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, path])


SYNC_ENV = "GRADING_GRADEBOOK_SYNC"   # set while the sync runs (its own nbgrader calls skip it)
SYNCED_COMMANDS = {"nbgrader": {"autograde", "generate_feedback", "export"},
                   "jupyter-lab": None, "jupyter-server": None, "jupyter-notebook": None}


def sync_gradebook_on_first_use(root: Path, argv=None) -> None:
    """Called from nbgrader_config.py: the course's assignments in a missing sqlite gradebook.

    On a fresh clone `nbgrader autograde 05_pooling` (and the formgrader) would stop with "No
    assignment with ID 05_pooling exists" until something put the assignment into the
    gradebook. When nbgrader's autograde, generate_feedback or export, or a Jupyter server
    (the formgrader), loads the course's configuration, the assignments of solutions/ that
    the sqlite gradebook at the root lacks are added first (a few seconds, once).
    """
    root, argv = Path(root), (sys.argv if argv is None else argv)
    program = Path(argv[0]).name if argv else ""
    wanted = SYNCED_COMMANDS.get(program, ())
    if os.environ.get(SYNC_ENV) or wanted == () or (
            wanted is not None and (len(argv) < 2 or argv[1] not in wanted)):
        return
    names = {p.name for p in (root / "solutions").glob("*") if any(p.glob("*.ipynb"))}
    db = root / "gradebook.db"
    known = set()
    if db.exists():
        try:
            with sqlite3.connect(db) as con:
                known = {row[0] for row in con.execute("select name from assignment")}
        except sqlite3.Error:
            return                      # not nbgrader's gradebook: leave it alone
    if names <= known:
        return
    os.environ[SYNC_ENV] = "1"
    alembic_on_path()
    try:
        ensure_gradebook(root, load_config(root), sorted(names - known), [])
    finally:
        os.environ.pop(SYNC_ENV, None)


def copy_database(url: str, dest: Path) -> None:
    """A consistent copy of an sqlite gradebook (sqlite's backup API)."""
    src = sqlite3.connect(url[len("sqlite:///"):])
    try:
        with sqlite3.connect(dest) as out:
            src.backup(out)
    finally:
        src.close()


def merge_result(url: str, sub: Submission, result: dict) -> None:
    """Copy one job's grades into the real gradebook (only this process writes it)."""
    from datetime import datetime

    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        gb.update_or_create_student(sub.student)
        stamp = result.get("timestamp")
        kwargs = {"timestamp": datetime.fromisoformat(stamp)} if stamp else {}
        gb.update_or_create_submission(sub.assignment, sub.student, **kwargs)
        for nb_name, nb in result["notebooks"].items():
            for gid, (auto, needs_person) in nb["grades"].items():
                grade = gb.find_grade(gid, nb_name, sub.assignment, sub.student)
                grade.auto_score = auto
                grade.needs_manual_grade = bool(needs_person or grade.manual_score is not None)
            for gid, text in nb["comments"].items():
                gb.find_comment(gid, nb_name, sub.assignment, sub.student).auto_comment = text
            submitted = gb.find_submission_notebook(nb_name, sub.assignment, sub.student)
            submitted.late_submission_penalty = nb["penalty"]
            submitted.flagged = bool(sub.flags)
        gb.db.commit()


def mark_not_graded(url: str, sub: Submission) -> None:
    """No grade could be given: nothing stale stays, a person must look (needs manual grade)."""
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        gb.update_or_create_student(sub.student)
        submission = gb.update_or_create_submission(sub.assignment, sub.student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                grade.auto_score = None
                grade.needs_manual_grade = True
            nb.flagged = True
        gb.db.commit()


def drop_hand_grades(url: str, sub: Submission) -> str:
    """Clear the hand grades (formgrader scores) of `sub`, given to an earlier version of its
    files: they judged code the student has since replaced. Returns a flag that keeps them
    for the instructor ("" when there were none)."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(url) as gb:
        try:
            submission = gb.find_submission(sub.assignment, sub.student)
        except MissingEntry:
            return ""
        dropped = []
        for nb in submission.notebooks:
            for grade in nb.grades:
                if grade.manual_score is not None:
                    dropped.append(f"{grade.name} {grade.manual_score:g} of {grade.max_score:g}")
                    grade.manual_score = None
        gb.db.commit()
    if not dropped:
        return ""
    return (f"hand grade(s) of an earlier version dropped ({', '.join(dropped)}): handed in "
            f"again since; check the new version in the formgrader")


def clear_hand_grades(db: Path, subs: list[Submission]) -> None:
    """No manual score for `subs` in the sqlite gradebook file `db` (a job's template)."""
    if not subs:
        return
    with sqlite3.connect(db) as con:
        con.executemany(
            """update grade set manual_score = null where notebook_id in (
                   select sn.id from submitted_notebook sn
                   join submitted_assignment s on s.id = sn.assignment_id
                   join assignment a on a.id = s.assignment_id
                   where s.student_id = ? and a.name = ?)""",
            [(sub.student, sub.assignment) for sub in subs])
    con.close()


def has_manual_scores(url: str, sub: Submission) -> bool:
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        submission = gb.find_submission(sub.assignment, sub.student)
        return any(g.manual_score is not None for nb in submission.notebooks for g in nb.grades)


# ----------------------------------------------------------------------------- the batch
def plan(root: Path, subs: list[Submission], force: bool, progress: Progress) -> list[Submission]:
    """The submissions to grade; the others (graded before, files unchanged, and the same
    grading rules: `grading_rules`) are counted (`Progress.unchanged`: one line for all but
    those with flags or not graded).

    Reads files only (no nbgrader, no cluster), so a run with nothing to do returns at once.
    """
    from grading.extensions import read_extensions, rule
    todo, kept = [], []
    rules = grading_rules(root)
    stale = stale_scores(root)
    extensions = read_extensions(root)   # a student's own due date is a rule of their grade
    for sub in subs:
        try:
            sub.digest = folder_hash(sub.folder)
        except (OSError, RecursionError) as exc:   # unreadable, or folders too deep: pre-flight flags it
            sub.digest = f"unreadable: {exc}"
        sub.digest += "|" + hashlib.sha256((rules.get(sub.assignment, rules[""]) + rule(
            extensions, sub.student, sub.assignment)).encode()).hexdigest()
        state = read_state(root, sub)
        same = not force and state.get("hash") == sub.digest and sub.key not in stale
        if (same and state.get("status") == "graded"
                and graded_folder(root, sub).is_dir()
                and state.get("autograded", "") in ("", graded_hash(root, sub))):
            sub.status, sub.flags = "unchanged", list(state.get("flags", []))
            kept.append((sub.key, True, len(sub.flags)))
        elif same and state.get("status") == "not graded" and state.get("retry") is False:
            # its own files made it ungradable (renamed, unreadable): the same files, the same
            # verdict, without a cluster; a grader failure (retry) is tried again
            sub.status, sub.retry = "not graded", False
            sub.flags = list(state.get("flags", []))
            kept.append((sub.key, False, len(sub.flags)))
        else:
            if same_files(state, sub):
                sub.seed = recorded_seed(root, sub)
            else:
                sub.resubmitted = bool(state.get("hash"))
            todo.append(sub)
    progress.unchanged(kept)
    return todo


def recorded_seed(root: Path, sub: Submission) -> int | None:
    """The seed of the hidden inputs that the last grading recorded in the notebook (None: none,
    or notebooks with different seeds). A regrade of the same files that the grading rules
    caused (nbgrader_config.py edited for the exchange, say) reuses it, so that a score moves
    only if the rules do, never because of new random inputs."""
    seeds = set()
    for nb in graded_folder(root, sub).glob("*.ipynb"):
        try:
            seeds.add(int(json.loads(nb.read_text())["metadata"]["grading"]["seed"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return seeds.pop() if len(seeds) == 1 else None


class Batch:
    """Grade submissions as Dask tasks (`grading.task.grade_task`); this process alone writes.

    `run` pre-flights each submission that `plan` kept, sends it to the cluster, and records
    the results one at a time as they complete.
    """

    def __init__(self, root: Path, cfg, subs: list[Submission], progress: Progress,
                 remote: bool = False):
        self.root, self.cfg, self.subs = root, cfg, subs
        self.remote = remote   # a cluster of grading machines: say when workers come and go
        self.workers: set[str] | None = None
        self.url = db_url_of(cfg)
        self.progress = progress
        self.manual_feedback: list[Submission] = []
        from grading.preprocessors import assignment_checks
        self.checks = {a: assignment_checks(a) for a in {s.assignment for s in subs}}

    @property
    def done(self) -> int:
        return self.progress.done

    def weight(self, sub: Submission) -> float:
        return sum(c.timeout for c in self.checks[sub.assignment].values())

    # -- per submission
    def preflight(self, sub: Submission) -> dict | str:
        """The task's data, or why the submission is not sent to the cluster ("" when its
        flags say it). Reads only: nothing is written before the cluster is there."""
        from grading.preflight import check_submission
        try:
            report = check_submission(sub.folder, self.root / "solutions" / sub.assignment,
                                      self.root / "exercises" / sub.assignment,
                                      self.checks[sub.assignment])
        except Exception as exc:  # an unreadable folder, say: flag it, go on with the others
            return f"pre-flight failed ({type(exc).__name__}: {exc})"
        sub.flags = list(report.flags)
        from grading.collect import lms_late_flag
        late = lms_late_flag(self.root, sub.student, sub.assignment, sub.folder)
        sub.flags += [late] if late else []
        if not report.gradable:
            sub.retry = False
            return ""
        too_large = oversize_flag(sub)
        if too_large:   # the same files, the same verdict: not tried again until they change
            sub.flags.append(too_large)
            sub.retry = False
            return ""
        try:
            return {"student": sub.student, "assignment": sub.assignment, "seed": sub.seed,
                    "submission": pack_folder(sub.folder, limit=MAX_SUBMISSION_BYTES)}
        except (OSError, ValueError) as exc:
            return str(exc)

    def deadline(self, sub: Submission) -> float:
        """Seconds a task may run: the sandbox bounds itself, the task must outlast that bound,
        or a slow but correct submission on a loaded machine is cut off whole."""
        from grading.sandbox import max_seconds
        return max_seconds(list(self.checks[sub.assignment].values()), n_cells=10**6) + JOB_MARGIN_S

    def finish(self, sub: Submission, result: dict | None, error: str = "",
               on_cluster: bool = True) -> None:
        """Record one submission: its grades, or 'not graded' and why; never a stale grade.
        ``on_cluster``: it was sent to a worker (not kept off by pre-flight)."""
        dropped = drop_hand_grades(self.url, sub) if sub.resubmitted else ""
        if result is not None and result.get("ok"):
            try:
                sub.flags = _unique(sub.flags + result["flags"] + ([dropped] if dropped else []))
                merge_result(self.url, sub, result)
                for step in ("autograded", "feedback"):
                    self.install(result[step], step, sub)
                sub.status = "graded"
                if has_manual_scores(self.url, sub):
                    self.manual_feedback.append(sub)
            except Exception as exc:  # e.g. the gradebook's cells differ from solutions/
                traceback.print_exc()
                result, error = None, f"its grades could not be recorded ({type(exc).__name__}: {exc})"
        if result is None or not result.get("ok"):
            reason = error or (result or {}).get("error", "")
            if reason:
                sub.flags.append(f"could not be graded: {reason}")
                self.keep_log((result or {}).get("log", ""), sub)
            if dropped and dropped not in sub.flags:
                sub.flags.append(dropped)
            mark_not_graded(self.url, sub)
            for step in ("autograded", "feedback"):
                _rmtree(self.root / step / sub.student / sub.assignment)
            sub.status = "not graded"
        sub.flags = [printable(f) for f in sub.flags]   # a file name's stray bytes as \xNN
        write_state(self.root, sub, getattr(sub, "digest", ""))
        self.progress.record(sub.key, sub.status, sub.seconds, len(sub.flags), on_cluster)

    def install(self, packed: dict | None, step: str, sub: Submission) -> None:
        """Replace autograded/ or feedback/<student>/<assignment> by the task's folder."""
        dest = self.root / step / sub.student / sub.assignment
        _rmtree(dest)
        if packed is not None:
            tmp = dest.with_name(f".{dest.name}.incoming")
            _rmtree(tmp)
            unpack_folder(packed, tmp)
            tmp.replace(dest)

    def keep_log(self, log: str, sub: Submission) -> None:
        if log:
            dest = state_path(self.root, sub).with_suffix(".log")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(log)

    # -- on the cluster
    def course(self) -> dict:
        """What every task needs besides its submission (sent once per batch)."""
        with tempfile.TemporaryDirectory(prefix="grading-template-") as tmp:
            template = Path(tmp) / "template.db"
            if self.url.startswith("sqlite:///"):
                copy_database(self.url, template)
                # a resubmission's job must not see the hand grades of its earlier files:
                # nbgrader would mark those cells for a person and show them in the feedback
                clear_hand_grades(template, [s for s in self.subs if s.resubmitted])
            else:   # a server gradebook is not copied: tasks start from a fresh sqlite one
                self._template_from_generate(template)
                self._copy_due_dates(template)
            data = template.read_bytes()
        return {"config": self.cfg, "template": data, "code": code_fingerprint(),
                "solutions": {a: pack_folder(self.root / "solutions" / a) for a in self.checks}}

    def run(self, todo: list[Submission], connect, prepare_gradebook) -> None:
        """Pre-flight each submission, send it to the cluster, record results as they complete.

        ``connect()`` returns a Dask client; it is called at the first submission that needs
        grading (never when none does), before anything is written. ``prepare_gradebook()``
        runs once, before the first grade is recorded.
        """
        todo = sorted(todo, key=lambda s: -self.weight(s))   # the longest first: no idle end
        self.progress.start()
        self.client, self.futures, self.started = None, {}, {}   # started: key -> first seen running
        self.window = 1   # tasks on the cluster at once: one per worker thread once connected
        self.jobs: dict = {}   # task key -> its data, to send a suspect again
        self.suspects: list = []   # (submission, data) whose worker died again and again
        self.alone = False   # the last round: suspects one at a time
        self.retired: set[str] = set()   # workers that could not grade (sent a task back)
        self.bounced: dict[str, int] = {}   # submission -> times an unfit worker sent it back
        self.pending = self.send_order(todo, connect, prepare_gradebook)
        try:
            self.drain()
            if self.suspects:   # a task queued behind a killer dies with it: alone, it may not
                print(f"{len(self.suspects)} submission(s) whose worker process died on every try "
                      f"(a grading machine lost, or code that kills its worker): graded once more, "
                      f"one at a time", flush=True)
                self.alone, self.window = True, 1
                self.progress.sending(1)   # one at a time: so is the time left
                self.pending, self.suspects = iter(self.suspects), []
                self.drain()
        finally:
            if self.futures:   # interrupted: nothing more runs for us on the cluster
                self.client.cancel(list(self.futures))
            self.progress.close()
        for sub in self.manual_feedback:   # feedback that shows a person's scores too
            from nbgrader.converters import GenerateFeedback
            run_converter(GenerateFeedback, self.cfg, sub.assignment, sub.student)

    def send_order(self, todo: list[Submission], connect, prepare_gradebook):
        """Yield (submission, task data) to send, pre-flighting lazily; record the others."""
        waiting = []   # not sent to the cluster; recorded once nothing can stop the run
        for sub in todo:
            raise_if_interrupted()
            job = self.preflight(sub)
            if isinstance(job, dict) and self.client is None:
                self.client = connect()
            if self.client is None:
                waiting.append((sub, job))
                continue
            if waiting is not None:
                prepare_gradebook()   # before the tasks' template is copied from it
                self.start_tasks()
                for waiting_sub, error in waiting:
                    self.finish(waiting_sub, None, error, on_cluster=False)
                waiting = None
            if isinstance(job, str):
                self.finish(sub, None, job, on_cluster=False)
            else:
                yield sub, job
        if waiting is not None:   # nothing needed the cluster
            prepare_gradebook()
            for waiting_sub, error in waiting:
                self.finish(waiting_sub, None, error, on_cluster=False)

    def start_tasks(self) -> None:
        self.follow_workers()
        self.shared = self.client.submit(_course_data, self.course(), pure=False,
                                         key=f"grading-course-{uuid.uuid4().hex}")

    def follow_workers(self) -> None:
        """Tasks on the cluster at once, and the progress's rate, for the workers there are
        now (they come and go on a cluster of machines).

        One task per worker thread: a task waits in this process, never behind a slow one
        on a worker (Dask places a task when it gets it; a free worker would idle meanwhile).
        The scheduler so holds a few tasks, not the whole class (a MOOC's notebooks). One in
        the last round, where each suspect runs alone: the time left counts one thread then.
        """
        threads = sum(self.client.nthreads().values())
        self.window = 1 if self.alone else max(1, threads)
        self.progress.sending(min(self.window, threads))

    def drain(self) -> None:
        """Send and record submissions until none is pending or on the cluster."""
        self.refill()
        while self.futures:
            self.collect(block=True)

    def refill(self) -> None:
        """Send submissions until every worker thread has one."""
        while len(self.futures) < self.window:
            nxt = next(self.pending, None)
            if nxt is None:
                return
            self.submit(*nxt)

    def submit(self, sub: Submission, job: dict) -> None:
        from grading.task import grade_task
        key = f"grade-{sub.student}-{sub.assignment}-{uuid.uuid4().hex[:8]}"
        fut = self.client.submit(grade_task, self.shared, job, key=key, pure=False,
                                 priority=int(self.weight(sub)))
        self.futures[fut] = sub
        self.jobs[key] = job

    def collect(self, block: bool) -> None:
        """Record every finished task (waiting up to a second for one when ``block``); the
        freed workers get their next submission first."""
        from distributed import wait
        raise_if_interrupted()
        futures = self.futures
        if block:
            try:
                wait(list(futures), timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            self.watch()
        done = [(fut, futures.pop(fut)) for fut in [f for f in futures if f.done()]]
        self.refill()
        for fut, sub in done:
            sub.seconds = time.monotonic() - self.started.pop(fut.key, time.monotonic())
            result, error = None, ""
            job = self.jobs.pop(fut.key, None)
            try:
                result = fut.result()
            except Exception as exc:
                from distributed import KilledWorker
                if isinstance(exc, KilledWorker) and not self.alone and job is not None:
                    self.suspects.append((sub, job))
                    fut.release()
                    continue
                error = task_error(exc)
            sub.seconds = (result or {}).get("seconds", sub.seconds)
            fut.release()
            if result is not None and result.get("unfit"):
                self.send_elsewhere(sub, job, result)
                continue
            self.finish(sub, result, error)
        self.refill()   # a deadline or a pre-flight may have freed a slot meanwhile
        self.progress.tick(running=len(self.started))

    def notice_workers(self, workers: set[str]) -> None:
        """On a cluster of grading machines, one line when a worker leaves or joins, and when
        none is left (the batch waits for one: a lost machine is not silent)."""
        before, self.workers = self.workers, workers
        if not self.remote or before is None or before == workers:
            return
        for worker in sorted(before - workers - self.retired):   # retired: `send_elsewhere` said it
            print(f"worker {worker} left the cluster; its submissions go to the others", flush=True)
        for worker in sorted(workers - before):
            print(f"worker {worker} joined the cluster", flush=True)
        if not workers:
            print("no workers left: waiting for one (start one with `python -m grading.cluster "
                  "worker`; Ctrl-C stops, finished grades are kept)", flush=True)

    def send_elsewhere(self, sub: Submission, job: dict | None, result: dict) -> None:
        """A worker that cannot grade (it joined after the check at the start) sent `sub` back:
        retire that worker and send `sub` again (the batch waits for a worker if none is left).
        Nothing is recorded for `sub` meanwhile. After MAX_BOUNCES: an earlier grade of the same
        files stands, flagged; without one, `sub` is recorded as not graded (tried again next run)."""
        worker, why = str(result.get("worker") or "?"), str(result["unfit"]).rstrip(".")
        if worker not in self.retired:
            self.retired.add(worker)
            print(f"worker {worker}: {why}.\nIt leaves the cluster; its submissions go to the "
                  f"others", flush=True)
            try:
                gone = self.client.retire_workers([worker], close_workers=True)
                if worker not in (gone or {}):   # refused: it holds data no other worker has
                    from grading.cluster import close_worker
                    self.client.run(close_worker, workers=[worker], on_error="ignore")
            except Exception:   # gone already: its submissions are sent back again
                pass
        self.bounced[sub.key] = self.bounced.get(sub.key, 0) + 1
        if job is not None and self.bounced[sub.key] <= MAX_BOUNCES:
            self.submit(sub, job)
        elif self.graded_before(sub):
            sub.flags.append(f"not graded again in this run (its earlier grade stands): {why}")
        else:
            self.finish(sub, None, f"no worker that could grade it took it ({why})")

    def graded_before(self, sub: Submission) -> bool:
        """`sub`'s files, unchanged, have a grade from an earlier run (--force, or new rules)."""
        state = read_state(self.root, sub)
        return (state.get("status") == "graded" and graded_folder(self.root, sub).is_dir()
                and same_files(state, sub))

    def watch(self, every: float = 5.0) -> None:
        """Stop a task that outlives its deadline: cancel it, restart its worker, flag it."""
        client, futures = self.client, self.futures
        now = time.monotonic()
        if now - getattr(self, "_watched", 0.0) < every:
            return
        self._watched = now
        from grading.cluster import executing
        try:
            running = client.run(executing, on_error="ignore")
            self.follow_workers()   # workers come and go
        except Exception:
            return
        self.notice_workers(set(running))
        by_key = {f.key: f for f in futures}
        seen = set()
        for worker, keys in running.items():
            for key in keys:
                if key not in by_key:
                    continue
                seen.add(key)
                start = self.started.setdefault(key, now)
                fut = by_key[key]
                sub = futures[fut]
                if now - start > self.deadline(sub):
                    client.cancel([fut])
                    futures.pop(fut)
                    self.jobs.pop(key, None)
                    self.started.pop(key, None)
                    try:   # frees the worker (the sandbox dies with it); needs a Nanny
                        client.restart_workers([worker], raise_for_error=False)
                    except Exception:
                        pass
                    sub.seconds = now - start
                    self.finish(sub, None, f"timed out: grading it took more than "
                                           f"{self.deadline(sub):.0f} s in all (the sandbox's "
                                           f"limits plus a margin); its worker was restarted "
                                           f"and a person must look")
        for key in set(self.started) - seen:
            if key not in by_key:
                self.started.pop(key, None)

    def _template_from_generate(self, dest: Path) -> None:
        from nbgrader.converters import GenerateAssignment
        url = f"sqlite:///{dest}"
        for assignment in sorted(self.checks):
            with tempfile.TemporaryDirectory(prefix="release-") as tmp:
                result = run_converter(GenerateAssignment, self.cfg, assignment,
                                       release_directory=tmp, db_url=url)
            if not result["success"]:
                raise SystemExit(f"grading.grade: cannot build the job gradebook for "
                                 f"{assignment}:\n{result.get('error', '')}")


    def _copy_due_dates(self, dest: Path) -> None:
        """The server gradebook's due dates of this batch's assignments, and the extensions
        of its submissions, into the tasks' template `dest`: nbgrader computes each
        submission's late penalty in its task, from the template alone."""
        from nbgrader.api import Gradebook, MissingEntry
        with Gradebook(self.url) as server, Gradebook(f"sqlite:///{dest}") as gb:
            for name in self.checks:
                try:
                    gb.update_or_create_assignment(name, duedate=server.find_assignment(name).duedate)
                except MissingEntry:
                    continue
            for sub in self.subs:
                try:
                    extension = server.find_submission(sub.assignment, sub.student).extension
                except MissingEntry:
                    continue
                if extension is not None:
                    gb.update_or_create_student(sub.student)
                    gb.update_or_create_submission(sub.assignment, sub.student).extension = extension
            gb.db.commit()


MAX_BOUNCES = 5   # times a submission is sent again after workers that cannot grade


def _course_data(course: dict) -> dict:
    """A task that holds the batch's shared data on a worker (recomputed if its worker dies)."""
    return course


def task_error(exc: BaseException) -> str:
    """Why a task gave no result, for the FLAGS."""
    from distributed import CancelledError, KilledWorker
    if isinstance(exc, KilledWorker):
        return (f"its grading killed the grading worker process again and again ({exc}); "
                f"a person must look")
    if isinstance(exc, CancelledError):
        return "the cluster lost this task (scheduler gone?); run make grade again"
    return f"the cluster failed ({type(exc).__name__}: {exc})"



def _unique(items):
    return list(dict.fromkeys(items))


# ----------------------------------------------------------------------------- the report
def export_and_report(root: Path, url: str) -> tuple[list[Path], str]:
    """grades.csv, grades-lms.csv and class_report.html; the report's terminal lines."""
    from grading import export, report
    long_csv, wide_csv, rows = export.export(root, url)
    ids = [r["id"] for r in export.read_roster(root)]
    class_report = report.build(root, rows, ids)
    page = report.write(root, class_report)
    lines = [report.text_summary(class_report), stale_note(rows)]
    return [long_csv, wide_csv, page], "\n".join(line for line in lines if line)


def stale_note(rows) -> str:
    """What the exports hold as "needs regrade" (graded before a test cell's points changed;
    a partial run such as `--student ada` updated the gradebook's points for everybody), and
    how to grade them again; "" when none."""
    from grading.export import NEEDS_REGRADE
    stale = [r for r in rows if r.status == NEEDS_REGRADE]
    if not stale:
        return ""
    names = sorted({r.assignment for r in stale})
    only = " ".join(f"--assignment {a}" for a in names)
    shown = ", ".join(f"{r.student_id}/{r.assignment}" for r in stale[:8])
    return (f"{len(stale)} submission(s) graded before their points changed are exported as "
            f"\"{NEEDS_REGRADE}\", without a score ({shown}{', ...' if len(stale) > 8 else ''}): "
            f"grade them again with `make grade` (or `python -m grading.grade {only}`)")


TABLE_ROWS = 40     # more students than this: the summary counts per assignment (grades.csv lists each)
FLAG_LINES = 60     # submissions' FLAGS lines printed at most (grades.csv's needs_person has every one)


def summary(url: str, students, assignments, subs: list[Submission], stray=(),
            unlisted=()) -> str:
    """One row per student (score per assignment handed in by somebody), or, for a class of
    more than TABLE_ROWS, one row per assignment (counts and mean score); then the FLAGS (and
    what `misplaced` found, which was not graded; the students of `unlisted`, whose ids a
    roster.csv lacks), at most FLAG_LINES of them."""
    from nbgrader.api import Gradebook, MissingEntry

    from grading.export import stale_cells, waiting_for_a_person
    by_key = {s.key: s for s in subs}
    handed = {s.assignment for s in subs}   # a column of dashes only would hide the others
    assignments = [a for a in assignments if a in handed]
    cells = {}   # (student, assignment) -> (shown, final score or None, max score)
    with Gradebook(url) as gb:
        for student in students:
            for a in assignments:
                sub = by_key.get(f"{student}/{a}")
                try:
                    entry = gb.find_submission(a, student)
                except MissingEntry:
                    entry = None
                if sub is None or entry is None:
                    cells[student, a] = ("-", None, None)
                elif sub.status == "not graded":
                    cells[student, a] = ("NOT GRADED", None, None)
                elif stale_cells(entry):   # as grades.csv says: no score
                    cells[student, a] = ("NEEDS REGRADE", None, None)
                else:
                    person = bool(waiting_for_a_person(entry))   # as grades.csv says
                    penalty = entry.late_submission_penalty or 0.0   # as grades.csv counts it
                    score = max(0.0, entry.score - penalty)
                    cells[student, a] = (f"{score:g}/{entry.max_score:g}"
                                         + (f" (late -{penalty:g})" if penalty else "")
                                         + (" *" if person else ""),
                                         None if person else score, entry.max_score)
    shown = [c for c, _, _ in cells.values()]
    if len(students) <= TABLE_ROWS:
        rows = [["student", *assignments]] + [[s, *(cells[s, a][0] for a in assignments)] for s in students]
        lines = _columns(rows)
        lines.append("(- = no submission; * = a test cell needs a person; NOT GRADED = see FLAGS"
                     + ("; NEEDS REGRADE = graded before its points changed)"
                        if "NEEDS REGRADE" in shown else ")"))
    else:
        rows = [["assignment", "handed in", "graded", "mean score", "needs a person", "NOT GRADED",
                 "NEEDS REGRADE"]]
        for a in assignments:
            mine = [cells[s, a] for s in students]
            scores = [(score, top) for _, score, top in mine if score is not None]
            mean = sum(x for x, _ in scores) / len(scores) if scores else None
            rows.append([a, f"{sum(c != '-' for c, _, _ in mine)}/{len(students)}", str(len(scores)),
                         f"{mean:.1f}/{scores[0][1]:g}" if scores else "-",
                         str(sum(c.endswith(" *") for c, _, _ in mine)),
                         str(sum(c == "NOT GRADED" for c, _, _ in mine)),
                         str(sum(c == "NEEDS REGRADE" for c, _, _ in mine))])
        lines = _columns(rows)
        lines.append(f"({len(students)} students: each one's scores are in grades.csv and "
                     f"grades-lms.csv; graded = a final score, without a cell waiting for a person)")
    from grading.export import NOT_ON_ROSTER
    unlisted = set(unlisted)
    flagged = [s for s in subs if s.flags or s.student in unlisted]
    lines.append(f"\nFLAGS for a person ({len(flagged)} submission(s)):" if flagged else
                 "\nFLAGS: none" if not stray else "\nFLAGS for a person:")
    flags = [f"  {s.key}: {flag}" for s in flagged
             for flag in [*s.flags, *([NOT_ON_ROSTER] if s.student in unlisted else [])]]
    lines += [f"  not graded: {line}" for line in stray]   # files, not submissions: all, always
    lines += flags[:FLAG_LINES]
    if len(flags) > FLAG_LINES:
        lines.append(f"  ... and {len(flags) - FLAG_LINES} more: grades.csv's needs_person column "
                     f"and class_report.html list every one")
    return "\n".join(lines)


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


# ----------------------------------------------------------------------------- main
def parse_args(argv):
    from grading.cluster import SCHEDULER_ENV
    p = argparse.ArgumentParser(prog="python -m grading.grade", description=__doc__.split("\n")[0])
    p.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes of the local cluster (default: number of cores)")
    p.add_argument("--scheduler", default=os.environ.get(SCHEDULER_ENV) or None,
                   help="address of a running Dask scheduler, e.g. tcp://HOST:8786 (default: "
                        f"${SCHEDULER_ENV}; unset: a local cluster on this machine)")
    p.add_argument("--force", action="store_true", help="regrade submissions graded before")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the hidden inputs for every notebook (default: the seed "
                        "recorded at the last grading if the files are the same, else a "
                        "fresh seed per notebook, recorded in the graded notebook)")
    p.add_argument("--root", default=".", help="course root (default: the current folder)")
    return p.parse_args(argv)


INTERRUPTED: list[bool] = []   # set by the first Ctrl-C (`stop_on_ctrl_c`)


def stop_on_ctrl_c(signum, frame):
    """SIGINT: quiet the cluster's logs, then KeyboardInterrupt as Python's own handler does.

    Here, not in ``except KeyboardInterrupt``: the event loop's thread may log (a cancelled
    Dask call) before the exception has reached `main` (`grading.cluster.quiet_cluster_logs`).
    A signal that lands in a finalizer (a Dask future's ``__del__``) raises nothing there,
    where Python would print "Exception ignored" and drop it: the batch's loop raises it
    within a second instead (`raise_if_interrupted`).
    """
    quiet_cluster_logs()
    INTERRUPTED.append(True)
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return
        frame = frame.f_back
    raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """KeyboardInterrupt if Ctrl-C came but was not raised where it landed (`stop_on_ctrl_c`)."""
    if INTERRUPTED:
        raise KeyboardInterrupt


def stopping_already(signum, frame):
    """SIGINT after the first: the workers are stopping (Dask's close has time limits), so say
    so instead of breaking off the shutdown with a traceback."""
    print("grading.grade: stopping already: the workers stop within seconds; finished "
          "submissions are kept", file=sys.stderr, flush=True)


def take_lock(root: Path) -> int | None:
    """An open descriptor of the course folder holding its grading lock (flock: released when
    the process ends, however it ends), or None when another run holds it (then it says which,
    on stderr). Two runs at once would grade every submission twice and both write the
    gradebook and the exports. The folder itself is locked: nothing is written for it."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        print(f"grading.grade: nothing was done: another grading run ({lock_holder(root)}) is "
              f"grading this course; wait for it to finish, or stop it (Ctrl-C in its terminal), "
              f"then run this again", file=sys.stderr)
        return None
    return fd


def lock_holder(root: Path) -> str:
    """"pid N" of the process whose flock holds `root`, from /proc/locks ("pid unknown")."""
    st = os.stat(root)
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == ident:
                    return f"pid {fields[4]}"
    except OSError:
        pass
    return "pid unknown"


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    root = Path(args.root).resolve()
    lock = take_lock(root)
    if lock is None:
        return 2
    try:
        return grade_course(args, root)
    finally:
        os.close(lock)   # (and the lock with it)


def grade_course(args, root: Path) -> int:
    """`main` with the course's lock held."""
    alembic_on_path()
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SAWarning
    # Dask's advice on a large notebook sent as a task's data is for Dask programmers: a
    # submission carries its folder (at most MAX_SUBMISSION_BYTES) by design
    warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
    t0 = time.monotonic()
    # Ctrl-C stops the batch cleanly even when we were started with SIGINT ignored (a
    # background job of a script, as in CI): finished submissions are kept.
    INTERRUPTED.clear()
    signal.signal(signal.SIGINT, stop_on_ctrl_c)
    if args.seed is not None:
        os.environ[SEED_ENV] = str(args.seed)
    assignments = find_assignments(root, args.assignment)
    subs = find_submissions(root, assignments, args.student)
    stray = misplaced(root, find_assignments(root, None), args.student)
    exposed = open_to_others(root)
    if exposed:   # students with accounts here could read the answers or swap a notebook
        print(f"grading.grade: note: other accounts on this machine can read {', '.join(exposed)}; "
              f"on a shared server: chmod -R go-rwx {root} (the Instructor guide, section 6)",
              file=sys.stderr)
    for line in stray:   # never graded, so never silently: here, and under FLAGS at the end
        print(f"grading.grade: not graded: {line}", file=sys.stderr)
    if not subs:   # (the exports are still written: empty, with the FLAGS above)
        whose = f" of {', '.join(args.student)}" if args.student else ""
        print(f"grading.grade: no submissions{whose} to grade under {root / 'submitted'}: each goes in "
              "submitted/<student>/<assignment>/<assignment>.ipynb", file=sys.stderr)
    students = sorted({s.student for s in subs})
    progress = Progress(len(subs))
    todo = plan(root, subs, args.force or args.seed is not None, progress)
    if not todo and replay_last_run(root, subs):
        return 0    # nothing changed, not even the gradebook: the last run's report stands
    disagree = points_disagree(root, assignments)
    if disagree:   # which one is meant? Only the instructor knows: nothing graded, nothing written
        print("grading.grade: nothing was graded: the points of a test cell differ between its "
              "notebook and its check; make them the same (then `make exercises`):\n  "
              + "\n  ".join(disagree), file=sys.stderr)
        return 2
    for line in release_differences(root, assignments):   # grades follow solutions/ all the same
        print(f"grading.grade: note: exercises/ is older than solutions/ ({line}): grades follow "
              f"solutions/; run `make exercises` so that students get the same", file=sys.stderr)
    if todo and not args.scheduler:   # local workers: this machine confines student code
        from grading.sandbox import SandboxUnavailable, require_sandbox
        try:
            require_sandbox()
        except SandboxUnavailable as exc:   # say it once, before touching any grade
            print(f"grading.grade: nothing was graded: {exc}", file=sys.stderr)
            return 2
    from grading.cluster import ClusterUnavailable, Connection
    n_workers = min(args.workers, len(todo))
    connection = Connection(args.scheduler, n_workers)
    if todo:   # the cluster starts while nbgrader is imported and the class pre-flighted
        connection.start()
    # the connection is made meanwhile: an unreachable scheduler is said next, nothing graded
    where = (f"the Dask scheduler at {args.scheduler}, once connected" if args.scheduler
             else f"{n_workers} local worker(s)")
    print(f"grading {len(todo)} of {len(subs)} submission(s) of {len(students)} student(s)"
          + (f" on {where}" if todo else " (nothing changed since the last run)" if subs else ""),
          flush=True)
    try:
        cfg = load_config(root)
        batch = Batch(root, cfg, subs, progress, remote=bool(args.scheduler))
        batch.run(todo, connection.client, lambda: prepare_gradebook(root, cfg, assignments,
                                                                      students, todo))
        raise_if_interrupted()   # a Ctrl-C that landed in a finalizer after the last result
    except ClusterUnavailable as exc:   # raised before anything was written
        connection.close()
        print(f"grading.grade: nothing was graded: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, stopping_already)   # a second Ctrl-C while the workers stop
        connection.close()
        again = ("run it again to grade the rest (finished ones are kept)" if not args.force else
                 "the others keep their earlier grades: `--force` again regrades all, "
                 "`--force --student <id>` one")
        print(f"\ninterrupted: {progress.done} of {len(subs)} recorded; {again}", file=sys.stderr)
        return 130
    except Exception as exc:
        connection.close()
        from grading.cluster import lost_scheduler
        if not lost_scheduler(exc):
            raise
        print(f"\ngrading.grade: the connection to the Dask scheduler {args.scheduler} was lost: "
              f"{progress.done} of {len(subs)} recorded (finished grades are kept). Start the "
              f"scheduler again, then the workers (a worker stops when its scheduler goes), and "
              f"run it again to grade the rest", file=sys.stderr)
        return 3
    except BaseException:
        connection.close()
        raise
    stopping = connection.close_in_background()   # every grade is in: workers stop meanwhile
    try:
        url = db_url_of(cfg)
        from grading.extensions import read_extensions, without_due_date
        for line in without_due_date(url, read_extensions(root)):
            print(f"grading.grade: note: extensions.csv names {line}", file=sys.stderr)
        files, class_lines = export_and_report(root, url)
        from grading.export import read_roster
        roster = {r["id"] for r in read_roster(root)}
        unlisted = [s for s in students if roster and s not in roster]
        report = "\n" + summary(url, students, assignments, subs, stray, unlisted)
    finally:
        stopping.join()
    if class_lines:
        report += "\n\n" + class_lines
    report += (f"\n\ngrades: {files[0]} (and {files[1].name})   report: {files[2]}   "
               f"feedback: {root / 'feedback'}")
    print(report + f"   ({time.monotonic() - t0:.1f} s)")
    remember_run(root, subs, report)
    return 0


# ----------------------------------------------------------------------------- a re-run
LAST_RUN = "last-run.json"     # autograded/.grading/last-run.json


def _run_key(root: Path, subs: list[Submission]) -> list:
    """What the last report depended on: the submissions (files and outcome), the roster and
    the gradebook file (a hand grade in the formgrader changes it)."""
    stamp = [[p.name, p.stat().st_mtime_ns, p.stat().st_size]
             for p in (root / "gradebook.db", root / "roster.csv") if p.exists()]
    return [[s.key, getattr(s, "digest", ""), s.status if s.status != "unchanged" else "graded"]
            for s in subs] + stamp


def remember_run(root: Path, subs: list[Submission], report: str) -> None:
    path = root / "autograded" / STATE / LAST_RUN
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": _run_key(root, subs), "report": report}))


def replay_last_run(root: Path, subs: list[Submission]) -> bool:
    """With nothing to grade and nothing changed since the last run, print its report again.

    Loads neither nbgrader nor the configuration, and starts no cluster: about a second. A
    server gradebook (a db_url in nbgrader_config.py) is never assumed unchanged.
    """
    config = root / "nbgrader_config.py"
    if config.exists() and "db_url" in config.read_text():
        return False
    try:
        last = json.loads((root / "autograded" / STATE / LAST_RUN).read_text())
    except (OSError, ValueError):
        return False
    outputs = [root / name for name in ("grades.csv", "grades-lms.csv", "class_report.html")]
    if last.get("key") != json.loads(json.dumps(_run_key(root, subs))) or \
            not all(p.exists() for p in outputs):
        return False
    print(last["report"] + "\n(nothing changed since the last run: nothing graded, nothing exported)")
    return True


if __name__ == "__main__":
    sys.exit(main())
