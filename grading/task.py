"""One grading task: autograde one submission on a Dask worker and return plain data.

`grading.grade` (the coordinator) sends each task two arguments, both plain data it made:

* ``course``, the same for every task of a batch: the nbgrader configuration, the bytes of a
  gradebook template (every assignment and student, no grades), the files of each graded
  assignment's ``solutions/<assignment>/`` folder, and the fingerprint of the grader's code;
* ``job``: the student, the assignment and the submitted folder's files (as bytes; links as
  links, never followed).

The task builds a private course in a temporary folder on the worker, runs nbgrader's
Autograde and GenerateFeedback there (student code runs only inside `grading.sandbox`, on this
worker), and returns a dict of str, bytes, numbers and lists: the grades, the flags, the
autograded folder and the feedback folder. Nothing the student's code made crosses the
network as an object; the real gradebook is written only by the coordinator.

This module holds no state: a worker imports it, and any worker (on this machine or another
with the same checkout and venv) can run any task.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import traceback
import warnings
from pathlib import Path

MAX_LOG_CHARS = 200_000   # of nbgrader's log, returned only when a submission fails
#: what every grading task uses, imported once per worker process (`dask_setup`)
WORKER_IMPORTS = ("nbgrader.api", "nbgrader.converters", "grading.grade", "grading.checks",
                  "grading.preprocessors", "grading.sandbox")


# ----------------------------------------------------------------------------- folders as data
def pack_folder(folder: Path, limit: int | None = None) -> dict:
    """A folder as plain data: {"files": {rel: bytes}, "links": {rel: target}, "dirs": [rel]}.

    Symbolic links are kept as links (their target text), never followed. ``limit`` bounds
    the total bytes of the files (ValueError beyond it).
    """
    folder = Path(folder)
    files, links, dirs, size = {}, {}, [], 0
    for top, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(top) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                links[rel] = os.readlink(path)
            elif path.is_dir():
                dirs.append(rel)
            elif path.is_file():
                with open(path, "rb") as fh:   # never more than the limit read (a huge file)
                    data = fh.read() if limit is None else fh.read(max(0, limit - size) + 1)
                size += len(data)
                if limit is not None and size > limit:
                    raise ValueError(f"pack_folder: {folder} holds more than {limit >> 20} MiB "
                                     f"of files, too much to send to a grading worker")
                files[rel] = data
    return {"files": files, "links": links, "dirs": dirs}


def unpack_folder(data: dict, dest: Path) -> None:
    """Write a folder packed by `pack_folder` into ``dest`` (created)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for rel in [*data["dirs"], *data["files"], *data["links"]]:
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ValueError(f"unpack_folder: entry {rel!r} leaves the folder")
    for rel in sorted(data["dirs"]):
        (dest / rel).mkdir(parents=True, exist_ok=True)
    for rel, content in data["files"].items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(content)
    made = []
    for rel, target in data["links"].items():
        if os.path.normpath(os.path.join(os.path.dirname(rel), target)).split(os.sep)[0] in ("", ".."):
            continue  # a link out of the folder is not made: nbgrader's copy would follow it
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, dest / rel)
        made.append(dest / rel)
    for link in made:   # nor a link to nothing: nbgrader's copy would fail on it
        if not link.exists():
            link.unlink()


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the grader's code (grading/ and cnnlib/ sources): coordinator and workers must agree."""
    base = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in ("grading", "cnnlib"):
        for path in sorted((base / package).rglob("*.py")):
            digest.update(path.relative_to(base).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- per worker, once
@functools.lru_cache(maxsize=1)
def feedback_exporter():
    """nbconvert's HTMLExporter, its templates compiled once per process (a worker's).

    nbconvert makes a new Jinja environment for every feedback page and compiles its nine
    templates again, about 0.2 CPU s a submission. Each environment of this exporter shares
    one in-memory Jinja bytecode cache: a template file whose source is unchanged (Jinja
    compares its checksum) gets the code compiled the first time, so the page is the same,
    byte for byte.
    """
    from jinja2 import BytecodeCache
    from nbconvert.exporters import HTMLExporter

    class CompiledTemplates(BytecodeCache):
        def __init__(self):
            self.code = {}   # bucket key (template name and file) -> (source checksum, code)

        def load_bytecode(self, bucket) -> None:
            checksum, code = self.code.get(bucket.key, (None, None))
            if checksum == bucket.checksum:
                bucket.code = code

        def dump_bytecode(self, bucket) -> None:
            self.code[bucket.key] = (bucket.checksum, bucket.code)

    templates = CompiledTemplates()

    class FeedbackHTMLExporter(HTMLExporter):
        def _create_environment(self):
            environment = super()._create_environment()
            environment.bytecode_cache = templates
            return environment

    return FeedbackHTMLExporter


def feedback_config(config):
    """A copy of the course's configuration whose feedback pages `feedback_exporter` makes."""
    from grading.grade import config_with
    return config_with(config, "GenerateFeedback", exporter_class=feedback_exporter())


# ----------------------------------------------------------------------------- the task
def dask_setup(worker=None) -> None:
    """Dask worker preload (``--preload grading.task``): import what a task needs, once.

    Also removes the job folders that killed workers of this host left behind, and makes a
    worker under a nanny take Ctrl-C quietly (`grading.quiet_workers`: the nanny stops it; a
    worker started with ``--no-nanny`` keeps Dask's own Ctrl-C, which stops it).
    """
    import importlib
    for name in WORKER_IMPORTS:
        importlib.import_module(name)
    if getattr(worker, "nanny", None):
        from grading.quiet_workers import take_ctrl_c_quietly
        take_ctrl_c_quietly()
    quiet_watch_calls()
    remove_orphan_jobs()


class _DropWatchCalls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith("Run out-of-band function")
                    and "'executing'" in record.getMessage())


def quiet_watch_calls() -> None:
    """The coordinator asks every worker every 5 s what it runs (`grading.cluster.executing`);
    Dask logs each call ("Run out-of-band function 'executing'"): 50 lines in 4 minutes on
    every grading machine's log, over hours of grading. Only those lines are dropped."""
    log = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _DropWatchCalls) for f in log.filters):
        log.addFilter(_DropWatchCalls())


def _host_jobs() -> str:
    """The name start of every job folder made on this host."""
    return f"grading-job-{socket.gethostname()}-"


def job_prefix(pid: int | None = None) -> str:
    """The name start of a job folder: this host and the worker process that made it."""
    return f"{_host_jobs()}{os.getpid() if pid is None else pid}-"


def remove_orphan_jobs(tmp: str | None = None) -> int:
    """Remove this user's job folders on this host whose worker process is gone; return how many.

    A task removes its folder when it ends; a worker killed mid-task (memory, a deadline) cannot.
    A folder whose process still runs, or of another host sharing the folder, is kept.
    """
    # mkdtemp's suffix has no "-": a host named "vm-2" cannot pass for host "vm" with pid 2
    made_here, removed = re.compile(re.escape(_host_jobs()) + r"(\d+)-[a-z0-9_]+"), 0
    for path in Path(tmp or tempfile.gettempdir()).iterdir():
        found = made_here.fullmatch(path.name)
        if not found or path.is_symlink() or path.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(found[1]), 0)
        except ProcessLookupError:
            remove_tree(path)
            removed += 1
        except PermissionError:   # alive, another user's
            pass
    return removed


def grade_task(course: dict, job: dict) -> dict:
    """Autograde one submission in a private course on this worker; return plain data.

    Returns {"ok": True, "notebooks", "timestamp", "flags", "autograded", "feedback",
    "seconds", "host"} or {"ok": False, "error", "log", "seconds", "host"}.
    """
    t0 = time.monotonic()
    host = socket.gethostname()
    unfit = worker_unfit(course, host)
    if unfit:   # a worker that joined the batch late: grade elsewhere, record nothing
        return {"ok": False, "unfit": unfit, "worker": _worker_address(), "seconds": 0.0,
                "host": host, "log": "", "error": unfit}
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SAWarning
    from grading.grade import alembic_on_path
    alembic_on_path()   # nbgrader runs `alembic` from the venv
    jobdir = Path(tempfile.mkdtemp(prefix=job_prefix()))
    try:
        out = _grade_in(jobdir, course, job)
    except Exception as exc:   # a grader bug: this submission needs a person, the batch goes on
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
               "log": traceback.format_exc()[-MAX_LOG_CHARS:]}
    finally:
        remove_tree(jobdir)
    out.update(seconds=time.monotonic() - t0, host=host)
    return out


def worker_unfit(course: dict, host: str) -> str:
    """Why this worker must not grade (other grader code, no sandbox), or "": what the
    coordinator checks of every worker when it connects, for a worker that joins later."""
    from grading.cluster import unfit_reason, worker_facts
    reason = unfit_reason(worker_facts(), course["code"])
    return f"the grading worker on {host}: {reason}" if reason else ""


def _worker_address() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):   # not on a Dask worker (a test calls grade_task itself)
        return ""


def _grade_in(jobdir: Path, course: dict, job: dict) -> dict:
    from nbgrader.converters import Autograde, GenerateFeedback

    from grading.grade import config_with, run_converter
    student, assignment = job["student"], job["assignment"]
    root = jobdir / "course"
    unpack_folder(course["solutions"][assignment], root / "solutions" / assignment)
    unpack_folder(job["submission"], root / "submitted" / student / assignment)
    (jobdir / "gradebook.db").write_bytes(course["template"])
    overrides = {"root": str(root), "db_url": f"sqlite:///{jobdir / 'gradebook.db'}"}
    config = course["config"]
    if job.get("seed") is not None and config.get("SandboxedTests", {}).get("seed") is None:
        config = config_with(config, "SandboxedTests", seed=job["seed"])   # --seed wins
    result = run_converter(Autograde, config, assignment, student, **overrides)
    if not result["success"]:
        log = result.get("log", "") + result.get("error", "")
        return {"ok": False, "error": last_error(result), "log": log[-MAX_LOG_CHARS:]}
    feedback = run_converter(GenerateFeedback, feedback_config(course["config"]), assignment,
                             student, **overrides)
    out = read_job_grades(overrides["db_url"], assignment, student)
    out["flags"] = autograded_flags(root / "autograded" / student / assignment)
    if not feedback["success"]:
        out["flags"].append(f"feedback HTML could not be written: {last_error(feedback)}")
    for step in ("autograded", "feedback"):
        folder = root / step / student / assignment
        out[step] = pack_folder(folder) if folder.is_dir() else None
    out["ok"] = True
    return out


def last_error(result: dict) -> str:
    text = (result.get("error") or "").strip().splitlines()
    log_errors = [line for line in (result.get("log") or "").splitlines() if "ERROR" in line]
    return (text[-1] if text else "") + (f" ({log_errors[0].strip()[:200]})" if log_errors else "")


def read_job_grades(url: str, assignment: str, student: str) -> dict:
    """{"notebooks": {name: {"grades", "comments", "penalty"}}, "timestamp"} from a job's gradebook."""
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
    """The flags the preprocessors stored in the autograded notebooks' metadata."""
    import nbformat
    flags = []
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        flags += [str(f) for f in nb.metadata.get("grading", {}).get("flags", [])]
    return flags


def remove_tree(path: Path) -> None:
    """Remove a file or folder, read-only parts included; never follows a link."""
    path = Path(path)
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
