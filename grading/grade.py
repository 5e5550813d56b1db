"""`make grade`: autograde every submission under submitted/<student>/<assignment>/.

    python -m grading.grade [--assignment A ...] [--student S ...] [--workers N] [--force] [--seed N]

Run from the course root (the folder with nbgrader_config.py). What happens:

1. The gradebook (nbgrader's, `CourseDirectory.db_url`; sqlite at the root by default) gets
   every assignment of solutions/ (from the source notebooks, released into a temporary
   folder so exercises/ is not touched) and every student of submitted/.
2. Pre-flight (`grading.preflight`) looks at each submission: a missing or unreadable notebook
   is not handed to nbgrader but flagged; the rest (extra files, copied cells, renamed cells,
   imports of the reference) is flagged and graded.
3. Worker processes (default: one per core) autograde one submission at a time with nbgrader's
   Autograde and the course's preprocessors (student code runs in `grading.sandbox`, never in
   a worker). Each job works in a temporary course with its own copy of the gradebook; only
   this process writes the real gradebook: it copies the job's grades in, then moves the
   autograded notebook and its feedback HTML into autograded/ and feedback/. A job that fails,
   hangs or kills its worker resets that submission's grades to "needs manual grade" and is
   flagged; the batch goes on.
4. Re-running skips submissions graded before whose files did not change (state in
   autograded/.grading/); `--force` regrades everything. An interrupted run loses only the
   submissions being graded at that moment.
5. grades.csv and grades-lms.csv (`grading.export`: a status, never a plain 0 for what was
   not graded), class_report.html (`grading.report`) and a per-student summary with the FLAGS.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

STATE = ".grading"          # autograded/.grading/<student>/<assignment>.json
JOB_MARGIN_S = 120.0        # wall-clock allowance of a job beyond the sandbox's own bound
SEED_ENV = "GRADING_SEED"   # set by --seed; read wherever the configuration is loaded


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


def coursedir(cfg, **overrides):
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import Config
    cfg = Config(cfg)
    for key, value in overrides.items():
        setattr(cfg.CourseDirectory, key, value)
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
    seconds: float = 0.0

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
    found = []
    for sdir in sorted(base.iterdir()) if base.is_dir() else []:
        if not sdir.is_dir() or sdir.name.startswith(".") or (students and sdir.name not in students):
            continue
        for assignment in assignments:
            if (sdir / assignment).is_dir():
                found.append(Submission(sdir.name, assignment, sdir / assignment))
    return found


def folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        if path.is_symlink():   # never follow a student's link (to /dev/zero, say)
            digest.update(b"link:" + os.readlink(path).encode())
        elif stat.S_ISREG(path.lstat().st_mode):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def state_path(root: Path, sub: Submission) -> Path:
    return root / "autograded" / STATE / sub.student / f"{sub.assignment}.json"


def read_state(root: Path, sub: Submission) -> dict:
    try:
        return json.loads(state_path(root, sub).read_text())
    except (OSError, ValueError):
        return {}


def write_state(root: Path, sub: Submission, digest: str) -> None:
    path = state_path(root, sub)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"hash": digest, "status": sub.status, "flags": sub.flags,
                               "seconds": round(sub.seconds, 2)}, indent=1))
    tmp.replace(path)


# ----------------------------------------------------------------------------- gradebook
def ensure_gradebook(root: Path, cfg, assignments, students) -> None:
    """Every assignment (with its notebooks and cells) and every student in the gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment
    url = db_url_of(cfg)
    for assignment in assignments:
        names = sorted(p.stem for p in (root / "solutions" / assignment).glob("*.ipynb"))
        with Gradebook(url) as gb:
            known = {nb.name for nb in gb.find_assignment(assignment).notebooks} \
                if assignment in {a.name for a in gb.assignments} else set()
        if set(names) <= known:
            continue
        with tempfile.TemporaryDirectory(prefix="release-") as tmp:
            result = run_converter(GenerateAssignment, cfg, assignment,
                                   release_directory=tmp, db_url=url)
        if not result["success"]:
            raise SystemExit(f"grading.grade: cannot add {assignment} to the gradebook:\n"
                             f"{result.get('error', '')}")
    with Gradebook(url) as gb:
        for student in students:
            gb.update_or_create_student(student)


def alembic_on_path() -> None:
    """nbgrader runs `alembic` (installed beside this Python) when it creates a gradebook."""
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


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


def has_manual_scores(url: str, sub: Submission) -> bool:
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        submission = gb.find_submission(sub.assignment, sub.student)
        return any(g.manual_score is not None for nb in submission.notebooks for g in nb.grades)


# ----------------------------------------------------------------------------- worker side
def grade_job(job: dict, cfg) -> dict:
    """Autograde one submission in a temporary course; return its grades (plain JSON)."""
    from nbgrader.converters import Autograde, GenerateFeedback
    student, assignment = job["student"], job["assignment"]
    jobdir = Path(job["jobdir"])
    course = jobdir / "course"
    (course / "submitted" / student).mkdir(parents=True)
    os.symlink(job["folder"], course / "submitted" / student / assignment)
    os.symlink(job["solutions"], course / "solutions")
    shutil.copy(job["template"], jobdir / "gradebook.db")
    overrides = {"root": str(course), "db_url": f"sqlite:///{jobdir / 'gradebook.db'}"}
    result = run_converter(Autograde, cfg, assignment, student, **overrides)
    (jobdir / "autograde.log").write_text(result.get("log", "") + result.get("error", ""))
    if not result["success"]:
        return {"ok": False, "error": _last_error(result)}
    feedback = run_converter(GenerateFeedback, cfg, assignment, student, **overrides)
    out = read_job_grades(overrides["db_url"], assignment, student)
    out["flags"] = autograded_flags(course / "autograded" / student / assignment)
    if not feedback["success"]:
        out["flags"].append(f"feedback HTML could not be written: {_last_error(feedback)}")
    out["ok"] = True
    return out


def _last_error(result: dict) -> str:
    text = (result.get("error") or "").strip().splitlines()
    log_errors = [line for line in (result.get("log") or "").splitlines() if "ERROR" in line]
    return (text[-1] if text else "") + (f" ({log_errors[0].strip()[:200]})" if log_errors else "")


def read_job_grades(url: str, assignment: str, student: str) -> dict:
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        sub = gb.find_submission(assignment, student)
        notebooks = {nb.name: {
            "grades": {g.name: [g.auto_score, bool(g.needs_manual_grade)] for g in nb.grades},
            "comments": {c.name: c.auto_comment for c in nb.comments},
            "penalty": nb.late_submission_penalty or 0.0,
        } for nb in sub.notebooks}
        stamp = sub.timestamp.isoformat() if sub.timestamp else None
    return {"notebooks": notebooks, "timestamp": stamp}


def autograded_flags(folder: Path) -> list[str]:
    import nbformat
    flags = []
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        flags += [str(f) for f in nb.metadata.get("grading", {}).get("flags", [])]
    return flags


def worker_main(root: Path) -> None:
    """Serve jobs: one JSON line in on stdin, one JSON line out on the original stdout."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to the worker's log, not into the protocol
    cfg = load_config(root)
    for line in sys.stdin:
        job = json.loads(line)
        try:
            result = grade_job(job, cfg)
        except Exception as exc:
            traceback.print_exc()
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(result) + "\n")


# ----------------------------------------------------------------------------- parent side
class Worker:
    """One `python -m grading.grade --worker` process, fed one job at a time."""

    def __init__(self, root: Path, log: Path):
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        package_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.log = open(log, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grading.grade", "--worker", "--root", str(root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            cwd=root, env=env, start_new_session=True)
        self.sub = None
        self.deadline = None
        self.started = 0.0

    def send(self, sub: Submission, job: dict, seconds: float) -> None:
        self.sub, self.started = sub, time.monotonic()
        self.deadline = self.started + seconds
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
            self.kill()
        self.log.close()


class Batch:
    """Grade a list of submissions with `workers` processes; this process alone writes."""

    def __init__(self, root: Path, cfg, subs: list[Submission], workers: int, force: bool):
        self.root, self.cfg, self.subs, self.force = root, cfg, subs, force
        self.url = db_url_of(cfg)
        self.n_workers = max(1, workers)
        self.run_dir = root / "autograded" / STATE / f"run-{os.getpid()}"
        self.done = 0
        self.manual_feedback: list[Submission] = []
        from grading.preprocessors import assignment_checks
        self.checks = {a: assignment_checks(a) for a in {s.assignment for s in subs}}

    # -- per submission
    def prepare(self, sub: Submission) -> bool:
        """Pre-flight and the skip rule; True when the submission goes to a worker."""
        try:
            return self._prepare(sub)
        except Exception as exc:  # an unreadable folder, say: flag it, go on with the others
            self.finish(sub, None, f"pre-flight failed ({type(exc).__name__}: {exc})")
            return False

    def _prepare(self, sub: Submission) -> bool:
        from grading.preflight import check_submission
        sub.digest = folder_hash(sub.folder)
        state = read_state(self.root, sub)
        if (not self.force and state.get("status") == "graded" and state.get("hash") == sub.digest
                and (self.root / "autograded" / sub.student / sub.assignment).is_dir()):
            sub.status, sub.flags = "unchanged", list(state.get("flags", []))
            self.done += 1
            self.progress(sub)
            return False
        report = check_submission(sub.folder, self.root / "solutions" / sub.assignment,
                                  self.root / "exercises" / sub.assignment,
                                  self.checks[sub.assignment])
        sub.flags = list(report.flags)
        if not report.gradable:
            self.finish(sub, None)
            return False
        return True

    def job(self, sub: Submission) -> tuple[dict, float]:
        jobdir = self.run_dir / f"{sub.student}__{sub.assignment}"
        if jobdir.exists():
            shutil.rmtree(jobdir)
        jobdir.mkdir(parents=True)
        # The sandbox bounds itself (CPU limits, wall-clock backstops); the job must outlast
        # that bound, or a slow but correct submission on a loaded machine is cut off whole.
        from grading.sandbox import max_seconds
        checks = list(self.checks[sub.assignment].values())
        seconds = max_seconds(checks, n_cells=10**6) + JOB_MARGIN_S
        return {"student": sub.student, "assignment": sub.assignment,
                "folder": str(sub.folder.resolve()), "solutions": str(self.root / "solutions"),
                "template": str(self.run_dir / "template.db"), "jobdir": str(jobdir)}, seconds

    def finish(self, sub: Submission, result: dict | None, error: str = "") -> None:
        """Record one submission: its grades, or 'not graded' and why; never a stale grade."""
        jobdir = self.run_dir / f"{sub.student}__{sub.assignment}"
        if result is not None and result.get("ok"):
            try:
                sub.flags = _unique(sub.flags + result["flags"])
                merge_result(self.url, sub, result)
                for step in ("autograded", "feedback"):
                    self.install(jobdir / "course" / step, step, sub)
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
                self.keep_log(jobdir, sub)
            mark_not_graded(self.url, sub)
            for step in ("autograded", "feedback"):
                _rmtree(self.root / step / sub.student / sub.assignment)
            sub.status = "not graded"
        write_state(self.root, sub, getattr(sub, "digest", ""))
        _rmtree(jobdir)
        self.done += 1
        self.progress(sub)

    def install(self, src_root: Path, step: str, sub: Submission) -> None:
        src = src_root / sub.student / sub.assignment
        dest = self.root / step / sub.student / sub.assignment
        _rmtree(dest)
        if src.is_dir():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), str(dest))

    def keep_log(self, jobdir: Path, sub: Submission) -> None:
        log = jobdir / "autograde.log"
        if log.exists():
            dest = state_path(self.root, sub).with_suffix(".log")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, dest)

    def progress(self, sub: Submission) -> None:
        total = len(self.subs)
        flag = f"  [{len(sub.flags)} flag(s)]" if sub.flags else ""
        print(f"[{self.done:>{len(str(total))}}/{total}] {sub.key:<40} {sub.status:<10} "
              f"{sub.seconds:5.1f} s{flag}", flush=True)

    # -- the loop
    def run(self) -> None:
        import selectors
        _rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        copy_database(self.url, self.run_dir / "template.db") if self.url.startswith("sqlite:///") \
            else self._template_from_generate()
        workers: list[Worker] = []
        sel = selectors.DefaultSelector()
        try:
            # Workers start (and import nbgrader) while the pre-flight runs here.
            for i in range(min(self.n_workers, len(self.subs))):
                workers.append(Worker(self.root, self.run_dir / f"worker-{i}.log"))
            pending = [s for s in self.subs if self.prepare(s)]
            # The longest jobs first (by their checks' time limits), so no worker idles at the end.
            pending.sort(key=lambda s: -sum(c.timeout for c in self.checks[s.assignment].values()))
            while pending or any(w.sub for w in workers):
                for w in workers:
                    if w.sub is None and pending:
                        sub = pending.pop(0)
                        job, seconds = self.job(sub)
                        try:
                            w.send(sub, job, seconds)
                        except OSError:  # the worker died while idle
                            w.sub = sub
                            self.replace(w, None, workers, "the grading worker died")
                            continue
                        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
                for key, _ in sel.select(timeout=1.0):
                    self.collect(key.data, sel, workers)
                for w in [w for w in workers if w.sub and time.monotonic() > w.deadline]:
                    self.replace(w, sel, workers, "timed out (the whole job took too long)")
        finally:
            for w in workers:
                w.kill() if w.sub else w.stop()
        for sub in self.manual_feedback:   # feedback that shows a person's scores too
            from nbgrader.converters import GenerateFeedback
            run_converter(GenerateFeedback, self.cfg, sub.assignment, sub.student)
        _rmtree(self.run_dir)

    def collect(self, w: Worker, sel, workers) -> None:
        line = w.proc.stdout.readline()
        if not line:
            self.replace(w, sel, workers, "the grading worker died")
            return
        sel.unregister(w.proc.stdout)
        sub, w.sub = w.sub, None
        sub.seconds = time.monotonic() - w.started
        try:
            result = json.loads(line)
        except ValueError:
            result = {"ok": False, "error": "garbled answer from the grading worker"}
        self.finish(sub, result)

    def replace(self, w: Worker, sel, workers, reason: str) -> None:
        if sel is not None:
            sel.unregister(w.proc.stdout)
        sub = w.sub
        sub.seconds = time.monotonic() - w.started
        w.kill()
        workers[workers.index(w)] = Worker(self.root, self.run_dir / f"worker-{len(workers)}.log")
        self.finish(sub, None, reason)

    def _template_from_generate(self) -> None:
        """A server gradebook (db_url) is not copied: jobs start from a fresh sqlite one."""
        from nbgrader.converters import GenerateAssignment
        url = f"sqlite:///{self.run_dir / 'template.db'}"
        for assignment in sorted({s.assignment for s in self.subs}):
            with tempfile.TemporaryDirectory(prefix="release-") as tmp:
                result = run_converter(GenerateAssignment, self.cfg, assignment,
                                       release_directory=tmp, db_url=url)
            if not result["success"]:
                raise SystemExit(f"grading.grade: cannot build the job gradebook for "
                                 f"{assignment}:\n{result.get('error', '')}")


def _unique(items):
    return list(dict.fromkeys(items))


def _rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        for p in [path, *path.rglob("*")]:
            if not p.is_symlink():
                try:
                    p.chmod(0o755 if p.is_dir() else 0o644)
                except OSError:
                    pass
        shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------- the report
def export_and_report(root: Path, url: str) -> tuple[list[Path], str]:
    """grades.csv, grades-lms.csv and class_report.html; the report's terminal lines."""
    from grading import export, report
    long_csv, wide_csv, rows = export.export(root, url)
    ids = [r["id"] for r in export.read_roster(root)]
    class_report = report.build(root, rows, ids)
    page = report.write(root, class_report)
    return [long_csv, wide_csv, page], report.text_summary(class_report)


def summary(url: str, students, assignments, subs: list[Submission]) -> str:
    """One row per student (score per assignment), then the FLAGS for a person."""
    from nbgrader.api import Gradebook, MissingEntry
    by_key = {s.key: s for s in subs}
    rows = [["student", *assignments]]
    with Gradebook(url) as gb:
        for student in students:
            row = [student]
            for a in assignments:
                sub = by_key.get(f"{student}/{a}")
                try:
                    entry = gb.find_submission(a, student)
                except MissingEntry:
                    entry = None
                if sub is None or entry is None:
                    row.append("-")
                elif sub.status == "not graded":
                    row.append("NOT GRADED")
                else:
                    person = any(g.needs_manual_grade for nb in entry.notebooks for g in nb.grades)
                    row.append(f"{entry.score:g}/{entry.max_score:g}" + (" *" if person else ""))
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.append("(- = no submission; * = a test cell needs a person; NOT GRADED = see FLAGS)")
    flagged = [s for s in subs if s.flags]
    lines.append(f"\nFLAGS for a person ({len(flagged)} submission(s)):" if flagged else "\nFLAGS: none")
    for s in flagged:
        lines += [f"  {s.key}: {flag}" for flag in s.flags]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m grading.grade", description=__doc__.split("\n")[0])
    p.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel worker processes (default: number of cores)")
    p.add_argument("--force", action="store_true", help="regrade submissions graded before")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the hidden inputs, for a reproducible regrade (default: a "
                        "fresh seed per notebook, recorded in the graded notebook)")
    p.add_argument("--root", default=".", help="course root (default: the current folder)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    root = Path(args.root).resolve()
    alembic_on_path()
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SAWarning
    if args.worker:
        worker_main(root)
        return 0
    t0 = time.monotonic()
    # Ctrl-C stops the batch cleanly even when we were started with SIGINT ignored (a
    # background job of a script, as in CI): finished submissions are kept.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from grading.sandbox import SandboxUnavailable, require_sandbox
    try:
        require_sandbox()
    except SandboxUnavailable as exc:   # say it once, before touching any grade
        print(f"grading.grade: nothing was graded: {exc}", file=sys.stderr)
        return 2
    if args.seed is not None:
        os.environ[SEED_ENV] = str(args.seed)
    cfg = load_config(root)
    assignments = find_assignments(root, args.assignment)
    subs = find_submissions(root, assignments, args.student)
    students = sorted({s.student for s in subs})
    print(f"grading {len(subs)} submission(s) of {len(students)} student(s), "
          f"{args.workers} worker(s)", flush=True)
    ensure_gradebook(root, cfg, assignments, students)
    batch = Batch(root, cfg, subs, args.workers, args.force)
    try:
        batch.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted: {batch.done} of {len(subs)} recorded; run it again to grade "
              f"the rest (finished ones are kept)", file=sys.stderr)
        return 130
    url = db_url_of(cfg)
    files, class_lines = export_and_report(root, url)
    print()
    print(summary(url, students, assignments, subs))
    if class_lines:
        print("\n" + class_lines)
    print(f"\ngrades: {files[0]} (and {files[1].name})   report: {files[2]}   "
          f"feedback: {root / 'feedback'}   ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
