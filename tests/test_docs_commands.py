"""Every command the README, the Instructor guide and the Teaching page show a person is run here, as written.

The commands are read from the documents themselves (fenced shell blocks, and inline code that
starts with `make `, `.venv/bin/`, `python -m `, `nbgrader `, `pip install ` or
`python3 -m pip install `), so a changed command changes
what runs. Each one must match an entry of RUNNERS, which says how it runs: in a fresh copy of
the course (the repository's tracked files, with this checkout's .venv), each at its place in
the document, in the order an instructor would type them. A command that no entry knows fails
`test_every_documented_command_is_known`: add a runner.

The shell is a person's: no venv activated, so no venv's bin/ on PATH (the instructor's
commands name `.venv/bin/...` or go through make); the documents never tell an instructor to
activate the venv. A student's set-up (README, "For students") activates the kit's venv; those
lines run in the kit, by tests/test_student_kit.py.

Commands that start a server (`jupyter lab`) run until the server answers on its port, then
stop; long ones run on a bounded class (the demo class cut to two students). A command that
grades needs a class: where the documents took the demo out before (the guide does so in section
1), its runner writes the demo class (cut to two) again first. The text of the command is never
changed, except a placeholder (`<id>`, `HOST`) given a value, and a place on the instructor's
machine (`/path/to/the/course`, the guide's example exchange `/srv/cnn-exchange`) given this
run's (PLACES). The `pip install` lines of nbgrader and the student kit run in a fresh venv, or
with a throwaway HOME for `--user`, and pip downloads what they install. Inline code that only names an
nbgrader command (`nbgrader collect --update`, no assignment) is checked to name a command and
options that exist (`--help`).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import pytest

import grading_helpers as gh

pytestmark = [pytest.mark.slow, pytest.mark.docs]

REPO = gh.REPO
DOCS = ("README.md", "book/instructor_guide.md", "book/teaching.md")
SHELL_LANGS = ("", "bash", "sh", "shell", "console")
FIRST_WORDS = ("make", "python", "python3", "python3.11", "pip", "git", "source", "jupyter",
               "nbgrader", "dask", "sudo", "bash", "export", ".venv/bin/python",
               ".venv/bin/nbgrader", ".venv/bin/jupyter", ".venv/bin/dask")
#: inline code that starts so is a command (or names one: see run_named_nbgrader)
INLINE = r"`((?:make|\.venv/bin/[\w.-]+|python -m|nbgrader|pip install|python3 -m pip install) [^`]+)`"
#: `HOST` is the guide's placeholder for the scheduler's machine: this one (where nothing listens
#: on 8786, so the run must say that it cannot reach the scheduler); `<notebook>` the kit's line
PLACEHOLDERS = {"<id>": "ada", "<student>": "ada", "<assignment>": "02_convolution",
                "<notebook>": "exercises/02_convolution/02_convolution.ipynb",
                "tcp://HOST:": "tcp://127.0.0.1:"}
#: places on the instructor's machine that the documents name by example, given this run's
#: (course, tmp): the course folder, and the exchange folder made "without an administrator"
#: (this run's exchange: the administrator's `sudo mkdir` runs on tmp/exchange)
PLACES = {"/path/to/the/course/": lambda course, tmp: f"{course}/",
          "/srv/cnn-exchange/": lambda course, tmp: f"{tmp / 'exchange'}/"}


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every command line of the documents, in document order: each
    fenced line and each inline command at its own place in its document."""
    out = []
    for doc in DOCS:
        text = (REPO / doc).read_text()
        found, fenced = [], []
        for m in re.finditer(r"^( *)```([A-Za-z]*)([^\n]*)\n(.*?)^\1```", text, re.S | re.M):
            fenced.append(m.span())
            if m.group(2).lower() not in SHELL_LANGS or m.group(3).strip().startswith("{"):
                continue                 # another language, or a MyST directive (a code cell)
            for k, line in enumerate(m.group(4).splitlines()):
                cmd = re.sub(r"\s+#\s.*$", "", line).strip()
                if cmd and not cmd.startswith("#") and cmd.split()[0] in FIRST_WORDS:
                    found.append(((m.start(4), k), cmd))
        for m in re.finditer(INLINE, text):
            if not any(a <= m.start() < b for a, b in fenced):
                found.append(((m.start(), 0), m.group(1).strip()))
        out += [(doc, cmd) for _, cmd in sorted(found, key=lambda f: f[0])]
    seen, unique = set(), []
    for doc, cmd in out:
        if cmd not in seen:
            seen.add(cmd)
            unique.append((doc, cmd))
    return unique


# ----------------------------------------------------------------------------- a fresh course
def fresh_course(dest: Path) -> Path:
    """The repository's tracked files (as in this working tree) and this checkout's venv."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(REPO / ".venv")
    for name in ("requirements.txt", "pyproject.toml"):   # make: the venv is up to date
        os.utime(dest / name, (0, 0))
    return dest


def is_venv_bin(folder: str) -> bool:
    return (Path(folder) / "activate").is_file()


def env_for(root: Path) -> dict:
    """The environment a person's shell has: no venv activated (no venv's bin/ on PATH, as
    gh.env() and a pytest started from an activated venv would have it; no VIRTUAL_ENV), so a
    command that needs the course's programs must name them (`.venv/bin/nbgrader`) or go
    through make. conftest.py's MPLBACKEND=Agg is for the tests' own processes; in a book build
    it would turn the chapters' inline figures off."""
    env = gh.env()
    env["PYTHONPATH"] = str(root)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p and not is_venv_bin(p))
    env.pop("MPLBACKEND", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def sh(root: Path, command: str, timeout: float = 900, env=None) -> subprocess.CompletedProcess:
    run = subprocess.run(["bash", "-c", command], cwd=root, env=env or env_for(root),
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"`{command}` failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run


# ----------------------------------------------------------------------------- runners
def run_plain(course, cmd):
    sh(course, cmd)


def run_demo_class(course, cmd):
    sh(course, cmd)
    assert (course / "roster.csv").is_file()
    keep_two_demo_students(course)


def run_demo_remove(course, cmd):
    sh(course, cmd)
    assert not (course / "roster.csv").exists()
    assert not {"ada", "chloe"} & {p.name for p in (course / "submitted").iterdir()}


DEMO_KEPT = ("ada", "chloe")


def keep_two_demo_students(course):
    for folder in (course / "submitted").iterdir():   # bounded: keep two students
        if folder.name not in DEMO_KEPT:
            shutil.rmtree(folder)


def ensure_class(course):
    """A command that grades needs submissions: when the documents took the demo class out
    before this command (the guide does, in section 1), it is written again, cut to two."""
    folder = course / "submitted"
    if not (folder.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir())):
        sh(course, ".venv/bin/python -m grading.demo_class")
        keep_two_demo_students(course)


def graded_rows(course) -> list[dict]:
    import csv
    with open(course / "grades.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["status"] == "graded"]


def run_grade(course, cmd):
    """Grades a class: at least one submission (the named student's, with --student) in this
    run's scope, and its grade exported."""
    ensure_class(course)
    run = sh(course, cmd)
    out = run.stdout
    assert "grades:" in out and (course / "grades.csv").is_file() and \
        (course / "class_report.html").is_file(), out[-2000:]
    assert "no submissions" not in run.stderr and re.search(r"grading \d+ of [1-9]\d* submission|"
                                                           r"nothing changed since the last run", out), out[-2000:]
    student = re.search(r"--student (\S+?)\"?(\s|$)", cmd)
    rows = graded_rows(course)
    assert rows and (not student or student.group(1) in {r["student_id"] for r in rows}), rows


def run_grade_unreachable(course, cmd):
    """`--scheduler tcp://HOST:8786` with HOST this machine, where no scheduler listens: with a
    submission to grade, the run must name the address it could not reach and grade nothing
    (with nothing to grade it would never contact the scheduler: hence the new submission)."""
    import socket
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 8786)) != 0, "something listens on 127.0.0.1:8786"
    ensure_class(course)
    gh.submit(course, "sam", "02_convolution", gh.reference_submission(course, "02_convolution"))
    try:
        run = subprocess.run(["bash", "-c", cmd], cwd=course, env=env_for(course),
                             capture_output=True, text=True, timeout=300)
        assert run.returncode != 0 and "cannot reach the Dask scheduler at tcp://127.0.0.1:8786" \
            in run.stderr and "nothing was graded" in run.stderr, run.stdout[-2000:] + run.stderr[-2000:]
        assert "sam" not in {r["student_id"] for r in graded_rows(course)}
    finally:
        shutil.rmtree(course / "submitted" / "sam")


def run_remove_student(course, cmd):
    """teaching.md: a student with grades taken out of the gradebook (--force: with them)."""
    from nbgrader.api import Gradebook
    student = cmd.split()[-2]
    db = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db) as gb:
        graded = [s.id for s in gb.students if s.submissions]
    if student not in graded:
        run_grade(course, f'make grade ARGS="--student {student}"')
    with Gradebook(db) as gb:
        assert gb.find_student(student).submissions
    sh(course, cmd)
    with Gradebook(db) as gb:
        assert student not in {s.id for s in gb.students}


def run_named_nbgrader(course, cmd):
    """Inline code that names an nbgrader command without its assignment ("`nbgrader collect
    --update`", "`nbgrader autograde`") is a name, not a line to type: the command and each of its
    options must exist (its --help, with the course's nbgrader)."""
    words = cmd.split()[1:]
    sub = [w for w in words if not w.startswith("--")]
    out = sh(course, " ".join([".venv/bin/nbgrader", *sub, "--help"])).stdout
    for option in (w for w in words if w.startswith("--")):
        assert option in out, f"`nbgrader {' '.join(sub)}` has no {option}"


def run_bench_suite(course, cmd):
    """`.venv/bin/python -m bench <suite>` runs for minutes (grading: 100 submissions with every
    grader): not timed here (speed is never a test). Its entry point runs with the course's
    venv (an unknown suite is refused by name) and the suite's module imports, with its main."""
    suite = cmd.split()[-1]
    bad = subprocess.run(["bash", "-c", cmd.rsplit(" ", 1)[0] + " no-such-suite"], cwd=course,
                         env=env_for(course), capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and f"'{suite}'" in bad.stderr and "unknown suite" in bad.stderr, bad.stderr
    sh(course, f".venv/bin/python -c 'import bench.{suite} as b; assert callable(b.main)'")


def run_by_kit_test(course, cmd):
    """The README's student set-up ("in the kit's folder") and check line are the lines that
    tests/test_student_kit.py's set-up test runs, literally, in an unpacked kit, with the kit's
    venv activated as the README says."""
    import test_student_kit as kit
    assert cmd in kit.RUN_AS_A_STUDENT, (cmd, kit.RUN_AS_A_STUDENT)
    assert "RUN_AS_A_STUDENT" in (REPO / "tests" / "test_student_kit.py").read_text().split(
        "def test_a_student_sets_up_the_kit_and_works_as_the_page_says", 1)[1].split("\ndef ", 1)[0]


def run_zip_collect(course, cmd):
    nb = (course / "exercises" / "02_convolution" / "02_convolution.ipynb").read_bytes()
    archive = course / "downloaded" / "02_convolution" / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as z:
        z.writestr("byronada_4242_118181_02_convolution.ipynb", nb)
        z.writestr("okaforben_LATE_4343_118182_02_convolution-1.ipynb", nb)
        z.writestr("okaforben_LATE_4343_118180_02_convolution.ipynb", b"{}")  # re-submitted since
    out = sh(course, cmd)
    assert "okaforben_LATE_4343_118180_02_convolution.ipynb (kept okaforben_LATE_4343_118182" \
        in out.stdout + out.stderr
    assert (course / "submitted" / "okaforben" / "02_convolution" / "02_convolution.ipynb").read_bytes() == nb
    for student in ("byronada", "okaforben"):
        assert (course / "submitted" / student / "02_convolution" / "02_convolution.ipynb").is_file()
        shutil.rmtree(course / "submitted" / student)
    shutil.rmtree(course / "submitted" / ".zip_collect")


def run_due_date(course, cmd):
    sh(course, cmd)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_assignment("02_convolution").duedate is not None


def run_autograde_fresh(course, cmd, tmp):
    """On a fresh clone (no gradebook yet), as the guide says it works."""
    other = fresh_course(Path(tempfile.mkdtemp(prefix="fresh-autograde-", dir=tmp)))
    gh.submit(other, "ada", "02_convolution", gh.reference_submission(other, "02_convolution"))
    assert not (other / "gradebook.db").exists()
    run = sh(other, cmd)
    assert "Skipping existing" not in run.stdout + run.stderr
    scores = gh.gradebook_scores(other)[("ada", "02_convolution")]
    assert all(auto and auto > 0 for auto, _ in scores.values()), scores


def run_server(course, cmd, tmp):
    """A Jupyter server command: it must answer on its port; then it is stopped."""
    config, port = gh.jupyter_server_config(tmp / "jupyter-config", "docs-test")
    env = env_for(course)
    env["JUPYTER_CONFIG_DIR"] = str(config)
    with gh.serving(["bash", "-c", cmd], course, env,
                    f"http://127.0.0.1:{port}/formgrader?token=docs-test", tmp / f"server-{port}.log"):
        pass


def run_student_kit(course, cmd, tmp):
    """Builds the book first (from this checkout's execution cache), then the kit; its zip is
    kept aside for the guide's `pip install` lines, which come after the README's `make clean`."""
    built = REPO / "_build"
    if built.is_dir() and not (course / "_build").exists():
        shutil.copytree(built, course / "_build", symlinks=True,
                        ignore=shutil.ignore_patterns("student-kit*"))
    sh(course, cmd, timeout=2400)
    assert (course / "_build" / "student-kit").is_dir()
    shutil.copy2(course / "_build" / "student-kit.zip", tmp / "student-kit.zip")


def ensure_kit(course, tmp) -> Path:
    """The kit's zip as `make student-kit` wrote it: put back where the README's `make clean`
    (which comes after `make student-kit` in the documents) took it out."""
    kit = course / "_build" / "student-kit.zip"
    if not kit.is_file():
        kit.parent.mkdir(exist_ok=True)
        shutil.copy2(tmp / "student-kit.zip", kit)
    return kit


def pip_settings_kept(env: dict) -> dict:
    """pip's cache and configuration live in the tester's HOME: a command run with another
    HOME keeps them (they change where pip finds its downloads, not what the command does)."""
    home = Path.home()
    env.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "pip"))
    configs = [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf",
               home / ".pip" / "pip.conf"]
    for config in configs:
        if config.is_file():
            env.setdefault("PIP_CONFIG_FILE", str(config))
            break
    return env


def course_requirement(name: str):
    from packaging.requirements import Requirement
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if re.match(rf"{name}\b", line.strip()):
            return Requirement(line.strip())
    raise AssertionError(f"{name} is not in requirements.txt")


def assert_kit_installed(python: str, site: Path, env: dict, folder: Path) -> None:
    """What the guide promises of the installed kit: nbgrader (of the course's version range)
    runs, and the pre-hand-in check runs in any folder (here one with nothing but the released
    notebook, as `nbgrader fetch_assignment` makes it), from the installed packages: on the
    released stub both graded parts FAIL and it exits 1."""
    folder.mkdir(parents=True, exist_ok=True)
    version = sh(folder, "nbgrader --version", env=env).stdout
    found = re.search(r"nbgrader version (\S+)", version)
    assert found and course_requirement("nbgrader").specifier.contains(found.group(1)), version
    shutil.copy2(REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
    check = subprocess.run(["bash", "-c", f"{python} -m grading.checks {ASSIGNMENT}.ipynb"], cwd=folder,
                           env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and check.stdout.count("[FAIL]") == 2, check.stdout + check.stderr
    where = sh(folder, f"{python} -c 'import nbgrader, grading.checks, cnnlib.engine as e; "
                       f"print(nbgrader.__file__); print(e.__file__)'", env=env).stdout.split()
    assert all(Path(w).is_relative_to(site) for w in where), (where, site)


def run_pip_admin(course, cmd, tmp):
    """The guide: an administrator runs `pip install "nbgrader==0.9.*" .../student-kit.zip` in the
    environment where the students' servers run. Here: a fresh venv, activated, in a folder
    other than the course's; then, as a student of that environment, the check in a folder of
    their own."""
    ensure_kit(course, tmp)
    students_env = tmp / "students-env"
    subprocess.run([sys.executable, "-m", "venv", str(students_env)], check=True, timeout=300)
    env = env_for(course)
    env.pop("PYTHONPATH")
    env.update(VIRTUAL_ENV=str(students_env),
               PATH=os.pathsep.join([str(students_env / "bin"), env["PATH"]]))
    admin = tmp / "admin"
    admin.mkdir()
    sh(admin, cmd, env=env, timeout=1800)
    purelib = sh(admin, "python -c 'import sysconfig; print(sysconfig.get_path(\"purelib\"))'",
                 env=env).stdout.strip()
    assert Path(purelib).is_relative_to(students_env), purelib
    assert_kit_installed("python", Path(purelib), env, tmp / "hub-student-of-the-env" / ASSIGNMENT)


def python_refuses_user_installs() -> bool:
    """The machine's Python (the one the course's venv was made from) is marked as managed by
    the system (PEP 668, as Debian's is): pip refuses `--user` installs into it."""
    return (Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").is_file()


def run_pip_user(course, cmd, tmp):
    """The guide, without an administrator: the instructor copies the kit's zip into the exchange
    folder; a student runs `python3 -m pip install --user "nbgrader==0.9.*" .../student-kit.zip` in their
    own account. Here: the student's HOME (thrown away with tmp), the machine's Python 3 (the
    one the course's venv was made from) first on the PATH, nothing of the course. nbgrader and
    the kit go into the student's ~/.local (whose bin/, as a login shell's ~/.profile does, is
    on the PATH of their later commands). Where that Python refuses installs into an account
    (PEP 668), the command must say so: the guide's next sentence."""
    exchange = tmp / "exchange"
    exchange.mkdir(mode=0o1777, exist_ok=True)
    shutil.copy2(ensure_kit(course, tmp), exchange / "student-kit.zip")
    home = student_home(tmp)
    env = pip_settings_kept(env_for(course))
    env.pop("PYTHONPATH")
    user_bin = home / ".local" / "bin"
    env.update(HOME=str(home), PATH=os.pathsep.join([str(user_bin), str(Path(sys.base_prefix) / "bin"),
                                                      env["PATH"]]))
    for name in ("PYTHONUSERBASE", "PYTHONNOUSERSITE"):
        env.pop(name, None)
    if python_refuses_user_installs():
        refused = subprocess.run(["bash", "-c", cmd], cwd=home, env=env, capture_output=True,
                                 text=True, timeout=600)
        assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, refused.stderr
        return
    sh(home, cmd, env=env, timeout=1800)
    assert (user_bin / "nbgrader").is_file(), sorted(p.name for p in user_bin.iterdir())
    usersite = sh(home, "python3 -m site --user-site", env=env).stdout.strip()
    assert Path(usersite).is_relative_to(home), usersite
    scratch = home / "anywhere"
    try:
        assert_kit_installed("python3", Path(usersite), env, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_dry(course, cmd):
    """`make bench` takes tens of minutes (naive loops, training, grading a class twice): it is
    checked to resolve to the bench runner, not timed here (speed is never a test)."""
    out = sh(course, cmd.replace("make ", "make -n ", 1)).stdout
    assert "-m bench" in out, out


def run_by_dask_test(course, cmd):
    """Section 7's cluster recipe (scheduler, worker, make grade on it) needs a scheduler and
    workers running side by side: tests/test_grading_dask.py runs those lines as written,
    read from the guide. Its `export CNN_GRADING_SCHEDULER=tcp://grader1.example.org:8786` line
    runs there with this machine as grader1: the address becomes tcp://127.0.0.1:<a free port>
    (the guide's port, 8786, may be taken by another run on the machine)."""
    text = (REPO / "tests" / "test_grading_dask.py").read_text()
    assert "def test_guide_recipe_runs_as_written" in text and "instructor_guide.md" in text


def run_by_ci(course, cmd):
    """`make test` is what CI runs (.ci/run) and it builds the book first: it runs this test."""
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert re.search(r"^test:.*\bbook\b", (REPO / "Makefile").read_text(), re.M)


# ----------------------------------------------------------------------------- the exchange
EXCHANGE = "/usr/local/share/nbgrader/exchange"   # nbgrader 0.9's default Exchange.root
ASSIGNMENT = "02_convolution"


def exchange_env(course: Path, tmp: Path, student: bool = False) -> dict:
    """The shell of an exchange command. The exchange is `tmp/exchange` (the administrator's
    step made it there), named by an nbgrader_config.py in the Jupyter configuration folder,
    where a hub's administrator names another place for everyone. A student works in a home
    folder of their own, with nothing of the course and nbgrader on the PATH: the one that the
    guide's `python3 -m pip install --user` put in their ~/.local/bin (run before, in document
    order), or, where the machine's Python refused that install (PEP 668), the course venv's."""
    config = tmp / "exchange-config"
    config.mkdir(exist_ok=True)
    (config / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(tmp / 'exchange')!r}\n")
    env = env_for(course)
    env["JUPYTER_CONFIG_DIR"] = str(config)
    if student:   # nbgrader installed into the student's account: on their PATH
        env["PATH"] = os.pathsep.join([str(student_home(tmp) / ".local" / "bin"),
                                       str(course / ".venv" / "bin"), env["PATH"]])
        env["HOME"] = str(student_home(tmp))
        env.pop("PYTHONPATH", None)
    return env


def student_home(tmp: Path) -> Path:
    home = tmp / "hub-student"
    home.mkdir(exist_ok=True)
    return home


def exchange_student() -> str:
    """The student id that nbgrader submit gives this account (the login name)."""
    from nbgrader.utils import get_username
    return get_username()


def run_exchange_admin(course, cmd, tmp):
    """The administrator's step, without root: the same command without `sudo`, on tmp/exchange."""
    sh(course, cmd.removeprefix("sudo ").replace(EXCHANGE, str(tmp / "exchange")))
    assert (tmp / "exchange").stat().st_mode & 0o7777 == 0o1777


def run_exchange_instructor(course, cmd, tmp):
    """release_assignment, collect and release_feedback, from the course folder."""
    course_dir = tmp / "exchange" / "cnn-from-scratch"
    released = set((course_dir / "feedback").glob("*.html"))
    sh(course, cmd, env=exchange_env(course, tmp))
    if "release_assignment" in cmd:
        assert (course_dir / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    elif "collect" in cmd:
        folder = course / "submitted" / exchange_student() / ASSIGNMENT
        assert {p.name for p in folder.iterdir()} == {
            f"{ASSIGNMENT}.ipynb", "timestamp.txt", "submission_secret.txt"}, list(folder.iterdir())
    else:
        assert set((course_dir / "feedback").glob("*.html")) - released, "release_feedback released nothing"


def run_exchange_student(course, cmd, tmp):
    """fetch_assignment, submit and fetch_feedback, in the student's home folder. After the
    fetch the student does the work: the reference solutions go into the fetched notebook.
    The nbgrader that runs is the one the guide's `pip install --user` gave the student."""
    home = student_home(tmp)
    env = exchange_env(course, tmp, student=True)
    if not python_refuses_user_installs():
        assert shutil.which("nbgrader", path=env["PATH"]) == str(home / ".local" / "bin" / "nbgrader")
    sh(home, cmd, env=env)
    fetched = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    if "fetch_assignment" in cmd:
        import nbformat
        solutions = {gh.grade_id(c): c.source for c in gh.source_notebook(course, ASSIGNMENT).cells
                     if c.metadata.get("nbgrader", {}).get("solution")}
        nb = nbformat.read(str(fetched), as_version=4)
        for cell in nb.cells:
            cell.source = solutions.get(gh.grade_id(cell), cell.source)
        nbformat.write(nb, str(fetched))
    elif "fetch_feedback" in cmd:
        pages = list((home / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        graded = course / "feedback" / exchange_student() / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert len(pages) == 1 and pages[0].read_bytes() == graded.read_bytes(), pages
        forget_exchange_student(course)


def forget_exchange_student(course: Path) -> None:
    """The scenario's student out of the course again (as the zip_collect runner does), so that
    the guide's later `make demo-class ARGS="--remove"` finds the demo's students only."""
    from nbgrader.api import Gradebook
    student = exchange_student()
    for step in ("submitted", "autograded", "feedback", "autograded/.grading"):
        shutil.rmtree(course / step / student, ignore_errors=True)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.remove_student(student)


def run_grade_exchange(course, cmd):
    """The collected submission (the reference solutions) earns every point, flagged for
    nothing but, when the demo's roster.csv is there, its account's absence from it."""
    run_grade(course, cmd)
    import csv
    with open(course / "grades.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh)
                if (r["student_id"], r["assignment"]) == (exchange_student(), ASSIGNMENT)]
    from grading.export import NOT_ON_ROSTER, read_roster
    roster = read_roster(course)
    flags = "" if not roster or exchange_student() in {r["id"] for r in roster} else NOT_ON_ROSTER
    assert len(rows) == 1 and rows[0]["status"] == "graded" and rows[0]["needs_person"] == flags \
        and float(rows[0]["score"]) == float(rows[0]["max_score"]), rows


# (pattern, runner): the first full match decides; the scenario runs them in document order.
RUNNERS = [
    (r"make test", run_by_ci),
    (r"make book", run_by_ci),
    (r"make exercises", run_plain),
    (r"\.venv/bin/python -m grading\.release --check \S+", run_plain),
    (r"make clean", run_plain),
    (r"make venv", run_plain),
    (r"\.venv/bin/python -m grading\.cluster (scheduler|worker)", run_by_dask_test),
    (r"make student-kit", run_student_kit),
    (r"pip install \"nbgrader==0\.9\.\*\" \S+/_build/student-kit\.zip", run_pip_admin),
    (r"python3 -m pip install --user \"nbgrader==0\.9\.\*\" \S+/student-kit\.zip", run_pip_user),
    (r"make bench", run_dry),
    (r"(\.venv/bin/)?python -m grading\.grade( --\S+( \S+)?)*", run_grade),
    (r"make demo-class", run_demo_class),
    (r'make demo-class ARGS="--remove"', run_demo_remove),
    (r'make grade ARGS="--assignment 02_convolution"', run_grade_exchange),
    (r'make grade ARGS="--scheduler tcp://127\.0\.0\.1:8786"', run_grade_unreachable),
    (r"make grade( ARGS=\"[^\"]*\")?", run_grade),
    (r"\.venv/bin/nbgrader zip_collect \S+", run_zip_collect),
    (r"\.venv/bin/nbgrader db assignment add \S+ --duedate=\"[^\"]+\"", run_due_date),
    (r"\.venv/bin/nbgrader autograde \S+( --student \S+)?( --force)?", run_autograde_fresh),
    (r"\.venv/bin/nbgrader generate_feedback \S+( --force)?", run_plain),
    (r"\.venv/bin/nbgrader db student remove \S+ --force", run_remove_student),
    (r"nbgrader [a-z_]+( [a-z_]+)*( --[a-z-]+)*", run_named_nbgrader),
    (r"\.venv/bin/python -m bench (ops|training|grading)", run_bench_suite),
    (r"export CNN_GRADING_SCHEDULER=tcp://\S+:8786", run_by_dask_test),
    (r"sudo mkdir -p -m 1777 /usr/local/share/nbgrader/exchange", run_exchange_admin),
    (r"\.venv/bin/nbgrader (release_assignment|collect --update|release_feedback) 02_convolution",
     run_exchange_instructor),
    (r"nbgrader (fetch_assignment|submit|fetch_feedback) 02_convolution --course cnn-from-scratch",
     run_exchange_student),
    (r"\.venv/bin/jupyter lab", run_server),
    (r"python3\.11 -m venv \.venv && source \.venv/bin/activate", run_by_kit_test),
    (r"pip install -r requirements\.txt", run_by_kit_test),
    (r"jupyter lab exercises/\S+\.ipynb", run_by_kit_test),
    (r"python -m grading\.checks exercises/\S+\.ipynb", run_by_kit_test),
]


def runner_for(cmd: str):
    """The first entry whose pattern matches the command with its placeholders filled in."""
    cmd = substitute(cmd)
    hits = [(p, r) for p, r in RUNNERS if re.fullmatch(p, cmd)]
    return hits[0] if hits else (None, None)


def test_every_documented_command_is_known():
    unknown = [f"{doc}: {cmd}" for doc, cmd in documented_commands() if runner_for(cmd)[0] is None]
    assert not unknown, ("commands in the documents that no test runs (add a runner to "
                         "tests/test_docs_commands.py):\n" + "\n".join(unknown))


def test_the_guides_pip_installs_are_run():
    """The two inline `pip install` lines of the guide (an administrator's, a student's with
    `--user`) are found and run by the pip runners, their example places given this run's."""
    found = {cmd: runner_for(cmd)[1] for doc, cmd in documented_commands()
             if doc == "book/instructor_guide.md" and "pip install" in cmd}
    assert sorted(r.__name__ for r in found.values()) == ["run_pip_admin", "run_pip_user"], found
    course, tmp = Path("/c/course"), Path("/t")
    placed = sorted(substitute(cmd, course, tmp).split()[-1] for cmd in found)
    assert placed == ["/c/course/_build/student-kit.zip", "/t/exchange/student-kit.zip"], placed


def substitute(cmd: str, course: Path | None = None, tmp: Path | None = None) -> str:
    """The placeholders given their values; with a run's course and tmp, the PLACES too."""
    for key, value in PLACEHOLDERS.items():
        cmd = cmd.replace(key, value)
    for key, place in PLACES.items() if course else ():
        cmd = cmd.replace(key, place(course, tmp))
    return cmd


def test_documented_commands_run_in_order(tmp_path):
    course = fresh_course(tmp_path / "course")
    ran = []
    for doc, cmd in documented_commands():
        pattern, runner = runner_for(cmd)
        if pattern is None:
            continue                     # reported by the test above
        real = substitute(cmd, course, tmp_path)
        args = (course, real, tmp_path) if runner.__code__.co_argcount == 3 else (course, real)
        runner(*args)
        ran.append(cmd)
    assert ran, "no documented command was found"


def test_make_clean_keeps_a_class_grades(tmp_path):
    """`make clean` (README) removes the book's build; with a class in submitted/ it must not
    delete the gradebook, which holds the hand grades and due dates that nothing regenerates."""
    for course, has_class in ((tmp_path / "class", True), (tmp_path / "no_class", False)):
        (course / "_build" / "html").mkdir(parents=True)
        shutil.copy(REPO / "Makefile", course)
        for name in ("gradebook.db", "grades.csv"):
            (course / name).write_text("kept?")
        (course / "autograded" / "ada").mkdir(parents=True)
        if has_class:
            (course / "submitted" / "ada").mkdir(parents=True)
        sh(course, "make clean")
        assert not (course / "_build").exists()
        kept = [(course / n).exists() for n in ("gradebook.db", "grades.csv", "autograded")]
        assert kept == [has_class] * 3, (course.name, kept)


def test_the_demo_class_is_the_dozen_the_guide_says():
    """The Instructor guide: `make demo-class` "writes a dozen made-up students into `submitted/`"."""
    from grading import demo_class
    written = {student for student, _ in demo_class.students(gh.REPO)}
    assert len(written) == 12, sorted(written)
    guide = " ".join((gh.REPO / "book" / "instructor_guide.md").read_text().split())
    assert "writes a dozen made-up students into `submitted/`" in guide


def test_make_refuses_a_venv_outside_the_checkout(tmp_path):
    """`make grade VENV=<another clone's .venv>` would reinstall cnnlib there as an editable
    install of this checkout (a venv that teaching assistants share): make stops first."""
    run = subprocess.run(["make", "-n", "grade", f"VENV={tmp_path}/.venv"], cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "lies outside this checkout" in run.stderr, run.stderr
    inside = subprocess.run(["make", "-n", "grade"], cwd=REPO, capture_output=True, text=True)
    assert inside.returncode == 0, inside.stderr


def test_nbgrader_makes_the_gradebook_with_no_venv_on_path(tmp_path):
    """A fresh clone, no gradebook, no venv activated: `.venv/bin/nbgrader db assignment add`
    creates the gradebook, which needs `alembic` (nbgrader runs it from PATH); without the
    venv's bin/ on PATH it used to stop with FileNotFoundError and leave a half-made gradebook
    (no alembic_version table). nbgrader_config.py puts the venv's bin/ on PATH."""
    import sqlite3
    course = fresh_course(tmp_path / "course")
    env = env_for(course)
    assert not any(is_venv_bin(p) for p in env["PATH"].split(os.pathsep)), env["PATH"]
    assert not (course / "gradebook.db").exists()
    sh(course, '.venv/bin/nbgrader db assignment add 02_convolution --duedate="2026-03-01 18:00:00 UTC"',
       env=env)
    with sqlite3.connect(course / "gradebook.db") as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        assert "alembic_version" in tables and con.execute(
            "select count(*) from alembic_version").fetchone()[0] == 1, tables
        assert con.execute("select duedate from assignment where name='02_convolution'").fetchone()[0]
