"""Every command the README, the Instructor guide and the Teaching page show a person is run here, as written.

The commands are read from the documents themselves (fenced shell blocks, and inline code that
starts with `make `), so a changed command changes what runs. Each one must match exactly one
entry of RUNNERS, which says how it runs: in a fresh copy of the course (the repository's
tracked files, with this checkout's .venv), in the order an instructor would type them. A
command that no entry knows fails `test_every_documented_command_is_known`: add a runner.

Commands that start a server (`jupyter lab`) run until the server answers on its port, then
stop; long ones run on a bounded class (the demo class cut to two students). The text of the
command is never changed, except a placeholder (`<id>`, the example clone URL) given a value.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
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
               "nbgrader", "dask", "sudo", "bash", ".venv/bin/python", ".venv/bin/nbgrader",
               ".venv/bin/jupyter", ".venv/bin/dask")
PLACEHOLDERS = {"<id>": "ada", "<student>": "ada", "<assignment>": "02_convolution"}


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every command line of the documents, in document order."""
    out = []
    for doc in DOCS:
        text = (REPO / doc).read_text()
        for m in re.finditer(r"^( *)```([A-Za-z]*)[^\n]*\n(.*?)^\1```", text, re.S | re.M):
            if m.group(2).lower() not in SHELL_LANGS:
                continue
            for line in m.group(3).splitlines():
                cmd = re.sub(r"\s+#\s.*$", "", line).strip()
                if cmd and not cmd.startswith("#") and cmd.split()[0] in FIRST_WORDS:
                    out.append((doc, cmd))
        for m in re.finditer(r"`(make [^`]+)`", text):
            out.append((doc, m.group(1).strip()))
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


def env_for(root: Path) -> dict:
    """The environment a person's shell has: conftest.py's MPLBACKEND=Agg is for the tests'
    own processes; in a book build it would turn the chapters' inline figures off."""
    env = gh.env()
    env["PYTHONPATH"] = str(root)
    env.pop("MPLBACKEND", None)
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
    for folder in (course / "submitted").iterdir():   # bounded: keep two students
        if folder.name not in ("ada", "chloe"):
            shutil.rmtree(folder)


def run_demo_remove(course, cmd):
    sh(course, cmd)
    assert not (course / "roster.csv").exists()
    assert not {"ada", "chloe"} & {p.name for p in (course / "submitted").iterdir()}


def run_grade(course, cmd):
    out = sh(course, cmd).stdout
    assert "grades:" in out and (course / "grades.csv").is_file() and \
        (course / "class_report.html").is_file(), out[-2000:]


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
    env["PATH"] = os.pathsep.join([str(course / ".venv" / "bin"), env["PATH"]])
    with gh.serving(["bash", "-c", cmd], course, env,
                    f"http://127.0.0.1:{port}/formgrader?token=docs-test", tmp / f"server-{port}.log"):
        pass


def run_student_kit(course, cmd):
    """Builds the book first (from this checkout's execution cache), then the kit."""
    built = REPO / "_build"
    if built.is_dir() and not (course / "_build").exists():
        shutil.copytree(built, course / "_build", symlinks=True,
                        ignore=shutil.ignore_patterns("student-kit*"))
    sh(course, cmd, timeout=2400)
    assert (course / "_build" / "student-kit").is_dir()


def run_dry(course, cmd):
    """`make bench` takes tens of minutes (naive loops, training, grading a class twice): it is
    checked to resolve to the bench runner, not timed here (speed is never a test)."""
    out = sh(course, cmd.replace("make ", "make -n ", 1)).stdout
    assert "-m bench" in out, out


def run_by_dask_test(course, cmd):
    """Section 7's cluster recipe (scheduler, worker, make grade on it) needs a scheduler and
    workers running side by side: tests/test_grading_dask.py runs those lines as written,
    read from the guide."""
    text = (REPO / "tests" / "test_grading_dask.py").read_text()
    assert "def test_guide_recipe_runs_as_written" in text and "instructor_guide.md" in text


def run_by_ci(course, cmd):
    """`make test` is what CI runs (.ci/run) and it builds the book first: it runs this test."""
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert re.search(r"^test:.*\bbook\b", (REPO / "Makefile").read_text(), re.M)


def run_student_setup(course, cmd, tmp):
    """A student's set-up in an empty folder with the course's requirements (pip, no root)."""
    home = tmp / "student"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "requirements.txt", home)
    shutil.copy(REPO / "pyproject.toml", home)
    shutil.copytree(REPO / "cnnlib", home / "cnnlib")
    shutil.copy(REPO / "README.md", home)
    sh(home, cmd, timeout=1500)


# ----------------------------------------------------------------------------- the exchange
EXCHANGE = "/usr/local/share/nbgrader/exchange"   # nbgrader 0.9's default Exchange.root
ASSIGNMENT = "02_convolution"


def exchange_env(course: Path, tmp: Path, student: bool = False) -> dict:
    """The shell of an exchange command. The exchange is `tmp/exchange` (the administrator's
    step made it there), named by an nbgrader_config.py in the Jupyter configuration folder,
    where a hub's administrator names another place for everyone. A student works in a home
    folder of their own, with nbgrader on the PATH and nothing of the course."""
    config = tmp / "exchange-config"
    config.mkdir(exist_ok=True)
    (config / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(tmp / 'exchange')!r}\n")
    env = env_for(course)
    env["JUPYTER_CONFIG_DIR"] = str(config)
    env["PATH"] = os.pathsep.join([str(course / ".venv" / "bin"), env["PATH"]])
    if student:
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
    sh(course, cmd, env=exchange_env(course, tmp))
    course_dir = tmp / "exchange" / "cnn-from-scratch"
    if "release_assignment" in cmd:
        assert (course_dir / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    elif "collect" in cmd:
        folder = course / "submitted" / exchange_student() / ASSIGNMENT
        assert {p.name for p in folder.iterdir()} == {
            f"{ASSIGNMENT}.ipynb", "timestamp.txt", "submission_secret.txt"}, list(folder.iterdir())
    else:
        assert list((course_dir / "feedback").glob("*.html")), "release_feedback released nothing"


def run_exchange_student(course, cmd, tmp):
    """fetch_assignment, submit and fetch_feedback, in the student's home folder. After the
    fetch the student does the work: the reference solutions go into the fetched notebook."""
    home = student_home(tmp)
    sh(home, cmd, env=exchange_env(course, tmp, student=True))
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
    (r"make bench", run_dry),
    (r"(\.venv/bin/)?python -m grading\.grade( --\S+( \S+)?)*", run_grade),
    (r"make demo-class", run_demo_class),
    (r'make demo-class ARGS="--remove"', run_demo_remove),
    (r'make grade ARGS="--assignment 02_convolution"', run_grade_exchange),
    (r"make grade( ARGS=\"[^\"]*\")?", run_grade),
    (r"\.venv/bin/nbgrader zip_collect \S+", run_zip_collect),
    (r"\.venv/bin/nbgrader db assignment add \S+ --duedate=\"[^\"]+\"", run_due_date),
    (r"\.venv/bin/nbgrader autograde \S+( --student \S+)?( --force)?", run_autograde_fresh),
    (r"\.venv/bin/nbgrader generate_feedback \S+( --force)?", run_plain),
    (r"sudo mkdir -p -m 1777 /usr/local/share/nbgrader/exchange", run_exchange_admin),
    (r"\.venv/bin/nbgrader (release_assignment|collect --update|release_feedback) 02_convolution",
     run_exchange_instructor),
    (r"nbgrader (fetch_assignment|submit|fetch_feedback) 02_convolution --course cnn-from-scratch",
     run_exchange_student),
    (r"(\.venv/bin/)?jupyter lab( \S+)?", run_server),
    (r"python3\.11 -m venv \.venv && source \.venv/bin/activate", None),   # with the next line
    (r"pip install -r requirements\.txt", run_student_setup),
]


def runner_for(cmd: str):
    hits = [(p, r) for p, r in RUNNERS if re.fullmatch(p, cmd)]
    return hits[0] if hits else (None, None)


def test_every_documented_command_is_known():
    unknown = [f"{doc}: {cmd}" for doc, cmd in documented_commands() if runner_for(cmd)[0] is None]
    assert not unknown, ("commands in the documents that no test runs (add a runner to "
                         "tests/test_docs_commands.py):\n" + "\n".join(unknown))


def substitute(cmd: str) -> str:
    for key, value in PLACEHOLDERS.items():
        cmd = cmd.replace(key, value)
    return cmd


def test_documented_commands_run_in_order(tmp_path):
    course = fresh_course(tmp_path / "course")
    pending_setup = None
    ran = []
    for doc, cmd in documented_commands():
        pattern, runner = runner_for(cmd)
        if pattern is None:
            continue                     # reported by the test above
        if runner is None:               # a line that runs with the next one (venv + pip)
            pending_setup = cmd
            continue
        real = substitute(cmd)
        if runner is run_student_setup and pending_setup:
            real = f"{pending_setup} && {real}"
            pending_setup = None
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
