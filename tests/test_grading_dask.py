"""`make grade` on a real Dask cluster (issue 10), on loopback.

A `dask scheduler` and two `dask worker` processes (127.0.0.1, ports chosen by the OS,
`--nthreads 1`, `--no-dashboard`) grade the same small class as the default local cluster;
every score and flag must agree. Then: a submission whose grading kills its worker every time
is flagged after Dask's allowed-failures, never dropped, and a submission queued behind it
is graded (a second round, alone); a worker killed (with its nanny) in the
middle of a batch loses nothing, and the sandbox it was running dies with it (no orphans).
Every process started here is stopped by the fixtures' finalizers (process groups killed).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import grading_helpers as gh
from grading_catalogue import CORRECT, WRONG, build_submission

pytestmark = [pytest.mark.dask, pytest.mark.slow]

A = "02_convolution"
BIN = Path(sys.executable).parent
SLEEPY = "import time\ntime.sleep(25)   # a slow student: the sandbox runs long enough to be caught\n"


def _class(root: Path) -> None:
    gh.submit(root, "reference", A, gh.reference_submission(root, A))
    gh.submit(root, "release", A, gh.release_notebook(root, A))
    entries = [e for e in WRONG if e.assignment == A][:2] + [e for e in CORRECT if e.assignment == A][:1]
    for i, entry in enumerate(entries):
        gh.submit(root, f"student{i}", A, build_submission(A, entry.replacements))
    gh.submit(root, "broken", A, "{ this is not a notebook")


def _outcome(root: Path, stdout: str) -> dict:
    """(student, assignment) -> (scores by grade id, needs-a-person by grade id, flags)."""
    scores = gh.gradebook_scores(root)
    return {key: ({g: s for g, (s, _) in grades.items()}, {g: p for g, (_, p) in grades.items()},
                  sorted(gh.flags_of(stdout, *key)))
            for key, grades in scores.items()}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = gh.make_course(tmp_path_factory.mktemp("dask"), [A])
    _class(root)
    return root


def _copy(course: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "course"
    shutil.copytree(course, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def local_run(course, tmp_path_factory):
    root = _copy(course, tmp_path_factory.mktemp("local"))
    run = gh.grade(root, "--workers", "2", timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return root, run


# ----------------------------------------------------------------------------- the cluster
def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started with its own session, and everything in its group."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


class Cluster:
    """A `dask scheduler` and `dask worker`s on 127.0.0.1, each in its own process group."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs, self.workers = tmp, [], {}
        self.env = gh.env()
        self.env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "1"   # killed twice: flagged

    def _start(self, args, name: str, env=None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")
        proc = subprocess.Popen([str(BIN / "dask"), *args], cwd=self.tmp, env=env or self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self, n_workers: int = 2) -> str:
        info = self.tmp / "scheduler.json"
        self._start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(info)], "scheduler")
        deadline = time.monotonic() + 120
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, (self.tmp / "scheduler.log").read_text()
            time.sleep(0.2)
        self.address = json.loads(info.read_text())["address"]
        for i in range(n_workers):
            self.add_worker(i)
        if n_workers:
            self.wait_for_workers(n_workers)
        return self.address

    def add_worker(self, i: int) -> None:
        """Start `worker<i>`: one thread, the grader's preload and the fault preload."""
        tmpdir = self.tmp / f"worker{i}-tmp"   # the worker's sandboxes live under it
        tmpdir.mkdir()
        env = dict(self.env, TMPDIR=str(tmpdir))
        self.workers[i] = self._start(
            ["worker", self.address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
             "--name", f"worker{i}", "--preload", "grading.task",
             "--preload", str(Path(__file__).with_name("dask_fault_preload.py"))],
            f"worker{i}", env)

    def add_stale_worker(self, env=None) -> subprocess.Popen:
        """Start `stale`: a worker that passes the check at connect, then runs "other grader
        code" in every task (tests/dask_stale_preload.py)."""
        return self._start(
            ["worker", self.address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
             "--name", "stale", "--preload", "grading.task",
             "--preload", str(Path(__file__).with_name("dask_stale_preload.py"))], "stale", env)

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client
        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n, timeout=240)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


# ----------------------------------------------------------------------------- processes
def _procs() -> dict[int, tuple[int, int, str, str]]:
    """pid -> (ppid, start time, state, command line) of every process on the machine."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        out[int(name)] = (int(fields[1]), int(fields[19]), fields[0], cmd)
    return out


def _descendants(pid: int, procs) -> list[int]:
    children: dict[int, list[int]] = {}
    for p, (ppid, *_rest) in procs.items():
        children.setdefault(ppid, []).append(p)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _sandbox_processes(worker: subprocess.Popen, procs) -> list[tuple[int, int]]:
    """(pid, start) of processes a task started on this `dask worker` (below its worker process)."""
    found = []
    for child in _descendants(worker.pid, procs):   # the nanny's worker process(es)
        if procs[child][0] != worker.pid or "multiprocessing.resource_tracker" in procs[child][3]:
            continue
        found += [(p, procs[p][1]) for p in _descendants(child, procs)]
    return found


def _alive(pids: list[tuple[int, int]]) -> list[tuple[int, str]]:
    procs = _procs()
    return [(p, procs[p][3]) for p, start in pids
            if p in procs and procs[p][1] == start and procs[p][2] != "Z"]


# ----------------------------------------------------------------------------- tests
def test_unreachable_scheduler_is_a_clear_error_before_anything_is_touched(course, tmp_path):
    root = _copy(course, tmp_path)
    with socket.socket() as sock:   # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gradebook = (root / "gradebook.db").read_bytes()   # the release put the assignment in it
    t0 = time.monotonic()
    run = gh.grade(root, "--scheduler", f"tcp://127.0.0.1:{port}", timeout=300)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in run.stderr
    # the line before said where grading would run, not that it had started there (a trial)
    assert f"on the Dask scheduler at tcp://127.0.0.1:{port}, once connected" in run.stdout, run.stdout
    assert time.monotonic() - t0 < 120
    assert (root / "gradebook.db").read_bytes() == gradebook and not (root / "autograded").exists()


def test_rerun_with_nothing_to_do_starts_no_cluster(local_run):
    root, _ = local_run
    (root / "submitted" / "broken").rename(root / "broken-aside")   # never gradable: always retried
    try:
        code = ("import sys; from grading.grade import main; rc = main(['--workers', '2']); "
                "print('DASK IMPORTED:', 'distributed' in sys.modules); sys.exit(rc)")
        run = subprocess.run([sys.executable, "-c", code], cwd=root, env=gh.env(),
                             capture_output=True, text=True, timeout=300)
    finally:
        (root / "broken-aside").rename(root / "submitted" / "broken")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "nothing changed since the last run" in run.stdout
    assert "DASK IMPORTED: False" in run.stdout
    lines = run.stdout.splitlines()   # one line counts those without flags, the others their own
    counted = [int(line.split()[0]) for line in lines if "unchanged since their last grading" in line]
    assert sum(counted) + sum(" unchanged " in line for line in lines if line.startswith("[")) == 5


def test_cluster_grades_every_submission_like_the_local_cluster(course, local_run, cluster, tmp_path):
    local_root, local = local_run
    root = _copy(course, tmp_path)
    env = dict(gh.env(), CNN_GRADING_SCHEDULER=cluster.address)   # the environment variable
    run = subprocess.run([sys.executable, "-m", "grading.grade"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"on the Dask scheduler at {cluster.address}" in run.stdout
    want = _outcome(local_root, local.stdout)
    got = _outcome(root, run.stdout)
    assert set(got) == set(want) == {(s, A) for s in
                                     ("reference", "release", "student0", "student1", "student2", "broken")}
    for key in want:
        assert got[key] == want[key], key
    assert want[("reference", A)][0] == gh.test_points(root, A)
    for student in ("reference", "student0"):
        assert (root / "feedback" / student / A / f"{A}.html").read_bytes().startswith(b"<!DOCTYPE html>")
        assert (root / "autograded" / student / A / f"{A}.ipynb").is_file()


def test_submission_that_keeps_killing_its_worker_is_flagged(course, cluster, tmp_path):
    root = _copy(course, tmp_path)
    gh.submit(root, "victim", A, gh.reference_submission(root, A))
    run = gh.grade(root, "--scheduler", cluster.address, "--student", "victim",
                   "--student", "reference", timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert gh.summary_cell(run.stdout, "victim") == "NOT GRADED"
    assert any("killed the grading worker" in f for f in gh.flags_of(run.stdout, "victim", A)), run.stdout
    scores = gh.gradebook_scores(root)
    assert all(auto is None and person for auto, person in scores[("victim", A)].values())
    assert {g: s for g, (s, _) in scores[("reference", A)].items()} == gh.test_points(root, A), run.stdout[-3000:]
    cluster.wait_for_workers(2)   # the nannies restarted both worker processes


def test_killed_worker_loses_nothing_and_leaves_no_sandbox_behind(course, local_run, cluster, tmp_path):
    local_root, local = local_run
    root = _copy(course, tmp_path)
    for student in ("sleepy0", "sleepy1"):
        nb = gh.add_cell(gh.reference_submission(root, A), SLEEPY)
        gh.submit(root, student, A, nb)
    proc = subprocess.Popen([sys.executable, "-m", "grading.grade", "--scheduler", cluster.address],
                            cwd=root, env=gh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        victim, sandbox = None, []
        deadline = time.monotonic() + 600
        seen: dict = {}
        while not sandbox:   # wait until some worker runs a sandbox for 2 s (not a start-up probe)
            assert time.monotonic() < deadline and proc.poll() is None, "no sandbox seen"
            procs = _procs()
            for i, worker in cluster.workers.items():
                for p in _sandbox_processes(worker, procs):
                    if time.monotonic() - seen.setdefault(p, time.monotonic()) > 2.0:
                        sandbox, victim = [p], i
            time.sleep(0.1)
        before = [(p, procs[p][1]) for p in _descendants(cluster.workers[victim].pid, procs)]
        os.killpg(cluster.workers[victim].pid, signal.SIGKILL)   # the worker and its nanny
        cluster.workers[victim].wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(before) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(before), f"left running after its worker died: {_alive(before)}"
        stdout, stderr = proc.communicate(timeout=1200)
    finally:
        _stop(proc)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    got = _outcome(root, stdout)
    want = _outcome(local_root, local.stdout)
    for key in want:
        assert got[key] == want[key], key
    points = gh.test_points(root, A)
    for student in ("sleepy0", "sleepy1"):
        assert got[(student, A)][0] == points, got[(student, A)]
    statuses = [line.split()[2] for line in stdout.splitlines() if line.startswith("[")]
    assert statuses.count("graded") == 7 and statuses.count("not") == 1, stdout
    # the killed worker's job folder outlives it; the next worker's preload removes it
    from grading.task import job_prefix
    tmp = cluster.tmp / f"worker{victim}-tmp"
    left = [p for pid, _ in before for p in tmp.glob(job_prefix(pid) + "*")]
    assert left, "the killed worker left no job folder: nothing to remove"
    subprocess.run([sys.executable, "-c", "import grading.task as t; t.dask_setup()"],
                   env=dict(gh.env(), TMPDIR=str(tmp)), check=True, timeout=120)
    assert not [p for p in left if p.exists()]


def test_a_lost_scheduler_ends_the_run_with_a_message_and_keeps_the_grades(course, tmp_path):
    """The scheduler killed mid-batch: the coordinator printed Dask's tracebacks
    (FuturesCancelledError: scheduler-connection-lost) and nothing of what to do. Now one
    message: how many were recorded, that they are kept, to restart scheduler and workers.
    (Dask's own client still logs the broken connection.)"""
    root = _copy(course, tmp_path)
    for student in ("sleepy0", "sleepy1"):
        gh.submit(root, student, A, gh.add_cell(gh.reference_submission(root, A), SLEEPY))
    c = Cluster(tmp_path / "lost-cluster")
    c.tmp.mkdir()
    proc = None
    try:
        c.start(n_workers=1)
        proc = subprocess.Popen([sys.executable, "-m", "grading.grade", "--scheduler", c.address],
                                cwd=root, env=gh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        deadline, seen = time.monotonic() + 600, {}
        while not any(time.monotonic() - seen.setdefault(p, time.monotonic()) > 2.0   # a task's
                      for p in _sandbox_processes(c.workers[0], _procs())):         # (not a probe)
            assert time.monotonic() < deadline and proc.poll() is None, "no task started"
            time.sleep(0.1)
        os.killpg(c.procs[0].pid, signal.SIGKILL)                   # the scheduler
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        _stop_all(proc, c)
    assert proc.returncode == 3, stdout[-3000:] + stderr[-3000:]
    assert "the connection to the Dask scheduler" in stderr and "was lost" in stderr, stderr
    assert "grading/grade.py" not in stderr and "run it again to grade the rest" in stderr, stderr
    recorded = int(re.search(r"was lost: (\d+) of \d+ recorded", stderr).group(1))
    assert recorded == sum(1 for line in stdout.splitlines() if line.startswith("[")), stdout


# A test hook, not a setting: the coordinator with one submission's deadline cut to seconds.
DEADLINE_HOOK = """
import sys
import grading.grade as grade
normal = grade.Batch.deadline
grade.Batch.deadline = lambda self, sub: {seconds} if sub.student == "slow" else normal(self, sub)
sys.exit(grade.main(sys.argv[1:]))
"""


def test_worker_that_cannot_grade_mid_batch_is_retired_and_loses_no_grade(course, local_run, tmp_path):
    """A worker that passed the check at the start and then runs other grader code (a grading
    machine whose checkout differs, joining mid-batch) sends every task back at once. Nothing
    may be recorded from it: with --force it once erased good grades ("not graded", 0.0 s).
    It is retired, its submissions are graded on the others, the grades match the local run.

    The stale worker is alone when the batch starts, so it surely gets a task (with two, the
    good one could grade all six first); it holds that task until a good worker has joined."""
    root = _copy(course, tmp_path)
    c = Cluster(tmp_path / "stale-cluster")
    c.tmp.mkdir()
    flags = tmp_path / "stale-flags"
    flags.mkdir()
    proc = None
    try:
        c.start(n_workers=0)
        c.add_stale_worker(dict(c.env, CNN_TEST_STALE_DIR=str(flags)))
        c.wait_for_workers(1)
        proc = subprocess.Popen([sys.executable, "-m", "grading.grade", "--scheduler", c.address,
                                 "--force"], cwd=root, env=gh.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 300
        while not (flags / "got").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the stale worker got no task"
            time.sleep(0.2)
        c.add_worker(0)
        c.wait_for_workers(2)
        (flags / "go").touch()
        stdout, stderr = proc.communicate(timeout=1200)
    finally:
        _stop_all(proc, c)
    _graded_as_locally(proc, stdout, stderr, root, local_run)
    assert "runs other grading/ or cnnlib/ code" in stdout and "It leaves the cluster" in stdout, stdout
    assert "other grading/ or cnnlib/ code" not in "".join(
        f for key in _outcome(root, stdout) for f in gh.flags_of(stdout, *key))


def _stop_all(proc, c: Cluster) -> None:
    """Stop `make grade` (when it was started) and the cluster."""
    if proc is not None:
        _stop(proc)
    c.stop()


def _graded_as_locally(proc, stdout: str, stderr: str, root: Path, local_run) -> None:
    """The run ended well and every submission has the grade and flags of the local run."""
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    local_root, local = local_run
    assert _outcome(root, stdout) == _outcome(local_root, local.stdout), stdout[-3000:]


def test_a_lone_worker_that_cannot_grade_is_closed_and_the_batch_waits(course, local_run, tmp_path):
    """The only worker left runs other grader code. The scheduler refused to retire it ("unique
    data could not be moved": it held the batch's shared data), so it stayed and sent every
    submission back MAX_BOUNCES times at once: they were flagged "an earlier grade stands"
    though none existed, shown as not handed in and left out of grades.csv, and the run ended
    with exit status 0. Now it is closed (with its nanny), the batch waits for a worker, and a
    good one that joins later grades everything as the local run did."""
    root = _copy(course, tmp_path)
    c = Cluster(tmp_path / "lone-cluster")
    c.tmp.mkdir()
    proc = None
    try:
        c.start(n_workers=0)
        stale = c.add_stale_worker()
        c.wait_for_workers(1)
        proc = subprocess.Popen([sys.executable, "-m", "grading.grade", "--scheduler", c.address],
                                cwd=root, env=gh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        stale.wait(timeout=300)              # closed by make grade: its nanny did not restart it
        c.add_worker(0)
        stdout, stderr = proc.communicate(timeout=1200)
    finally:
        _stop_all(proc, c)
    _graded_as_locally(proc, stdout, stderr, root, local_run)
    assert "It leaves the cluster" in stdout, stdout
    assert "earlier grade" not in stdout and "no worker that could grade" not in stdout, stdout


def test_task_past_its_deadline_is_flagged_and_the_batch_goes_on(course, tmp_path):
    """Batch.watch: a task running past its deadline is cancelled, its worker restarted (the
    sandbox dies with it), the submission flagged for a person; the others get their grades."""
    root = _copy(course, tmp_path)
    gh.submit(root, "slow", A, gh.add_cell(gh.reference_submission(root, A), SLEEPY.replace("25", "600")))
    args = ["--workers", "2", "--student", "slow", "--student", "reference", "--student", "student0"]
    proc = subprocess.Popen([sys.executable, "-c", DEADLINE_HOOK.format(seconds=4.0), *args],
                            cwd=root, env=gh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    seen: dict[tuple[int, int], str] = {}   # (pid, start) -> command, below the coordinator
    t0 = time.monotonic()
    try:
        while proc.poll() is None:
            assert time.monotonic() - t0 < 500, "the batch did not end"
            procs = _procs()
            seen.update({(p, procs[p][1]): procs[p][3] for p in _descendants(proc.pid, procs)})
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        _stop(proc)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert time.monotonic() - t0 < 500   # long before the student's 600 s sleep would end
    flags = gh.flags_of(stdout, "slow", A)
    assert any(f.startswith("could not be graded: timed out") and "4 s" in f
               and "a person must look" in f for f in flags), stdout
    assert gh.summary_cell(stdout, "slow") == "NOT GRADED"
    scores = gh.gradebook_scores(root)
    assert all(auto is None and person for auto, person in scores[("slow", A)].values())
    points = gh.test_points(root, A)
    assert {g: s for g, (s, _) in scores[("reference", A)].items()} == points
    assert all(auto is not None for auto, _ in scores[("student0", A)].values())
    statuses = [line.split()[2] for line in stdout.splitlines() if line.startswith("[")]
    assert sorted(statuses) == ["graded", "graded", "not"], stdout
    assert any("bwrap" in cmd for cmd in seen.values()), "no sandbox was seen running"
    deadline = time.monotonic() + 30
    while _alive(sorted(seen)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(sorted(seen)), f"left running after the batch: {_alive(sorted(seen))}"


def _guide_section_7() -> tuple[str, list[str]]:
    """The shell blocks of the Instructor guide's section 7: the export line, the commands."""
    text = (gh.REPO / "book" / "instructor_guide.md").read_text()
    section = text.split("## 7. A class that outgrows one machine", 1)[1].split("\n## ", 1)[0]
    lines, fence = [], None   # fence: the language of the open block (None: outside)
    for line in section.splitlines():
        if line.strip().startswith("```"):
            fence = line.strip()[3:] if fence is None else None
        elif fence == "" and line.strip():
            lines.append(line.strip())
    export = next(line for line in lines if line.startswith("export CNN_GRADING_SCHEDULER="))
    return export, [line for line in lines if line != export]


def test_guide_recipe_runs_as_written(course, tmp_path):
    """Section 7's commands, on loopback: scheduler, workers, then `make grade` of a course."""
    export, commands = _guide_section_7()
    assert commands == [".venv/bin/python -m grading.cluster scheduler",
                        ".venv/bin/python -m grading.cluster worker", "make grade"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"   # the export line, with this machine as grader1
    assert export.split("=", 1)[1].endswith(":8786")
    env = dict(gh.env(), CNN_GRADING_SCHEDULER=address)
    root = tmp_path / "course"
    root.mkdir()
    shutil.copytree(course / "solutions", root / "solutions")
    shutil.copytree(course / "exercises", root / "exercises")
    shutil.copy(course / "nbgrader_config.py", root / "nbgrader_config.py")
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):   # make grade, as in a checkout
        shutil.copy(gh.REPO / name, root / name)
    (root / ".venv").mkdir()   # the repository's venv, installed after these files were copied
    for entry in (gh.REPO / ".venv").iterdir():
        if entry.name != ".installed":
            (root / ".venv" / entry.name).symlink_to(entry)
    (root / ".venv" / ".installed").touch()
    gh.submit(root, "reference", A, gh.reference_submission(root, A))
    as_root = commands
    started = []
    try:
        for cmd in as_root[:2]:   # in the course checkout (the repository), as the guide says
            log = open(tmp_path / f"{len(started)}.log", "w")
            started.append(subprocess.Popen(cmd.split(), cwd=gh.REPO, env=env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True))
            if len(started) == 1:
                deadline = time.monotonic() + 120
                while True:
                    with socket.socket() as sock:
                        if sock.connect_ex(("127.0.0.1", port)) == 0:
                            break
                    assert time.monotonic() < deadline, (tmp_path / "0.log").read_text()
                    time.sleep(0.2)
        from distributed import Client
        with Client(address, timeout=60) as client:   # the workers are up before grading
            client.wait_for_workers(1, timeout=300)
        run = subprocess.run(as_root[2].split(), cwd=root, env=env, capture_output=True, text=True,
                             timeout=1200)
    finally:
        for proc in reversed(started):
            _stop(proc)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"on the Dask scheduler at {address}" in run.stdout
    full = sum(gh.test_points(root, A).values())
    assert gh.summary_cell(run.stdout, "reference") == f"{full:g}/{full:g}", run.stdout
    assert "dask worker tcp://127.0.0.1" in (tmp_path / "1.log").read_text()


def test_local_workers_are_forked_from_one_import_and_stopped_with_it(course):
    """The local cluster's workers come from a forkserver that imported the grader once;
    closing the cluster stops that server too and waits for it (no process is left, and its
    CPU time counts among this process's children, as `python -m bench grading` reads it).
    Their scratch folder goes with them (it was /tmp/dask-scratch-space-<uid>, left behind)."""
    from multiprocessing import forkserver

    from grading.cluster import grading_client
    with grading_client(None, 2) as client:
        facts = client.run(lambda: (os.getppid(), "nbgrader.converters" in sys.modules))
        scratch = {next((p for p in Path(d).parents if p.name.startswith("grading-dask-")), d)
                   for d in client.run(lambda dask_worker: dask_worker.local_directory).values()}
    assert len(scratch) == 1 and isinstance(next(iter(scratch)), Path), scratch   # ours, shared
    scratch_dir = scratch.pop()
    parents = {parent for parent, _ in facts.values()}
    assert len(facts) == 2 and all(imported for _, imported in facts.values())
    assert len(parents) == 1 and os.getpid() not in parents   # one forkserver, not this process
    assert forkserver._forkserver._forkserver_pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(parents.pop(), 0)
    assert not Path(scratch_dir).exists()
