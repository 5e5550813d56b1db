"""The student kit (grading/student_kit.py, `make student-kit`) holds no answers.

It has the released notebooks, the book's HTML, cnnlib, the requirements and the pre-hand-in
check, and none of: solutions/, hidden test cells, the gradebook, the sandbox, nbgrader's
configuration or the grading commands. The kit's own README command runs, as written, from the
kit with nothing of the repository on the path.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading_helpers as gh
from grading import student_kit

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_NAMES = {"solutions", "gradebook.db", "nbgrader_config.py", "sandbox.py", "sandbox_child.py",
                   "grade.py", "preprocessors.py", "preflight.py", "release.py", "student_kit.py",
                   "submitted", "autograded", "feedback", "tests", ".git"}
FORBIDDEN_TEXT = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                  "grading.sandbox", "gradebook")


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The kit, with the built book when there is one (make test builds it first)."""
    tmp = tmp_path_factory.mktemp("kit")
    html = ROOT / "_build" / "html"
    if not (html / "index.html").is_file():
        html = tmp / "html"
        html.mkdir()
        (html / "index.html").write_text("<html><body>the book</body></html>")
        (html / "_sources").mkdir()
        (html / "_sources" / "intro.md").write_text("source")
    folder, archive = student_kit.build(tmp / "student-kit", html=html)
    return folder, archive


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_the_kit_has_what_a_student_needs(kit):
    folder, _ = kit
    names = {str(p) for p in _files(folder)}
    for a in sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir()):
        assert f"exercises/{a}/{a}.ipynb" in names
    for needed in ("book/index.html", "cnnlib/__init__.py", "cnnlib/conv.py", "grading/checks/__init__.py",
                   "grading/checks/prehandin.py", "grading/checks/__main__.py", "requirements.txt",
                   "pyproject.toml", "README.md"):
        assert needed in names, needed
    assert "-e ." in (folder / "requirements.txt").read_text()


def test_the_kit_holds_no_answers_no_hidden_tests_no_gradebook_no_sandbox(kit):
    folder, _ = kit
    for path in _files(folder):
        assert not FORBIDDEN_NAMES & set(path.parts), path
        if path.suffix in (".py", ".ipynb", ".md", ".txt", ".toml", ".html"):
            text = (folder / path).read_text()
            # the book's pages may name the gradebook (the Instructor guide does), never show answers
            markers = FORBIDDEN_TEXT[:4] if path.parts[0] == "book" else FORBIDDEN_TEXT
            for marker in markers:
                assert marker not in text, (path, marker)
    assert sorted(p.name for p in (folder / "grading").iterdir()) == ["__init__.py", "checks"]
    for nb_path in folder.glob("exercises/*/*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            assert "run_check(" not in cell.source, nb_path.name   # a hidden test
            if cell.metadata.get("nbgrader", {}).get("solution"):
                assert "raise NotImplementedError()" in cell.source, nb_path.name


def test_the_archive_holds_the_same_files(kit):
    folder, archive = kit
    assert archive.parent == folder.parent and archive.name == "student-kit.zip"
    with zipfile.ZipFile(archive) as zf:
        inside = sorted(Path(n).relative_to("student-kit") for n in zf.namelist())
    assert inside == _files(folder)


def test_the_kits_command_runs_from_the_kit_alone(kit):
    """The README's check command, from the kit folder, importing the kit's grading.checks."""
    folder, _ = kit
    readme = (folder / "README.md").read_text()
    command = "python -m grading.checks exercises/02_convolution/02_convolution.ipynb"
    assert command in readme
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, *command.split()[1:]], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and run.stdout.count("[FAIL]") == 2, run.stdout + run.stderr
    where = subprocess.run([sys.executable, "-c", "import grading.checks as g; print(g.__file__)"],
                           cwd=folder, env=env, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(folder)


def test_the_kit_installed_as_a_package_runs_the_check_anywhere(kit, tmp_path):
    """On a JupyterHub the administrator installs the kit (`pip install .../student-kit.zip`,
    as the Instructor guide says: from the folder, pip writes its build files into the
    instructor's folder, which another account may not write to) where the students' servers
    run, and a student runs the check in the folder that `nbgrader fetch_assignment` made:
    every package of the kit (cnnlib.engine too) must install."""
    folder, archive = kit
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(archive)],
                   check=True, capture_output=True, text=True, timeout=600)
    fetched = tmp_path / "home" / "02_convolution"
    fetched.mkdir(parents=True)
    (fetched / "02_convolution.ipynb").write_bytes(
        (folder / "exercises" / "02_convolution" / "02_convolution.ipynb").read_bytes())
    # -S: no .pth file of this venv runs, so the course's editable cnnlib is out of sight; the
    # venv's packages (numpy, nbformat) come after the kit's on the path
    path = os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": path}
    run = subprocess.run([sys.executable, "-S", "-m", "grading.checks", "02_convolution.ipynb"],
                         cwd=fetched, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and run.stdout.count("[FAIL]") == 2, run.stdout + run.stderr
    where = subprocess.run([sys.executable, "-S", "-c", "import grading.checks, cnnlib.engine as e; print(e.__file__)"],
                           cwd=fetched, env=env, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(site)


def test_the_book_is_required():
    with pytest.raises(SystemExit, match="make book"):
        student_kit.build(Path("/nonexistent/kit"), html=Path("/nonexistent/html"))


def test_make_student_kit_runs_the_module(tmp_path):
    """`make student-kit` (README, Instructor guide) builds the book, then runs this module."""
    dry = subprocess.run(["make", "-n", "student-kit"], cwd=ROOT, capture_output=True, text=True)
    assert "-m grading.student_kit" in dry.stdout, dry.stdout + dry.stderr
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text("<html></html>")
    run = subprocess.run([sys.executable, "-m", "grading.student_kit", "--out", str(tmp_path / "student-kit"),
                          "--html", str(html)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "student-kit.zip").is_file() and "wrote" in run.stdout


def test_every_link_of_a_kit_notebook_opens_a_file_of_the_kit(kit):
    """The notebooks link their chapter as ../../book/<chapter>.md; in the kit that opens a page
    that points to the chapter's HTML, which is there too."""
    import re
    folder, _ = kit
    for nb_path in sorted((folder / "exercises").glob("*/*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            for link in re.findall(r"\]\(([^)#]+)\)", cell.source if cell.cell_type == "markdown" else ""):
                if "://" in link:
                    continue
                target = (nb_path.parent / link).resolve()
                assert target.is_file(), f"{nb_path.name}: {link} is not in the kit"
                if target.suffix == ".md":
                    page = re.search(r"\]\(([^)]+)\)", target.read_text()).group(1)
                    assert (target.parent / page).is_file(), (link, page)


# ----------------------------------------------------------------------------- as a student types it
#: What book/exercises.md tells a student to type, in page order (its fenced set-up block, then
#: the commands in its steps); the kit's README repeats the set-up, the jupyter and the check line.
TYPED = ["cd student-kit",
         "python3.11 -m venv .venv && source .venv/bin/activate",
         "pip install -r requirements.txt",
         "pip install numpy jupyterlab",
         "jupyter lab exercises/02_convolution/02_convolution.ipynb",
         "python -m grading.checks exercises/02_convolution/02_convolution.ipynb"]
#: what the set-up test below runs, literally, in the unpacked kit (the README's student lines
#: are these; tests/test_docs_commands.py holds them to it)
RUN_AS_A_STUDENT = TYPED[:3] + TYPED[4:6]
#: the notebooks whose visible tests need cnnlib (the page says so): not in the one-notebook run
NEEDS_CNNLIB = {"04_features", "06_backprop"}


def typed_commands(text: str) -> list[str]:
    """Shell lines of fenced blocks and inline code that starts with a command, in page order."""
    found = re.finditer(r"^ *```(?:bash|sh)\n(.*?)^ *```|`((?:cd|python[0-9.]*|pip|jupyter) [^`]+)`",
                        text, re.S | re.M)
    return [line.strip() for m in found
            for line in (m.group(1).splitlines() if m.group(1) else [m.group(2)]) if line.strip()]


def student_shell(cwd: Path, script: str, timeout: float = 1200, check: bool = True):
    """`script` in bash, in a shell with nothing of the course: no venv active, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    run = subprocess.run(["bash", "-ec", script], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert not check or run.returncode == 0, f"{script}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run


def test_the_exercises_page_names_the_commands_run_here(kit):
    """A changed command on the page (or in the kit's README) must change the test below."""
    folder, _ = kit
    assert typed_commands((ROOT / "book" / "exercises.md").read_text()) == TYPED
    readme = typed_commands((folder / "README.md").read_text())
    assert readme == [TYPED[1], TYPED[2], TYPED[4], TYPED[5]], readme


@pytest.mark.slow
def test_a_student_sets_up_the_kit_and_works_as_the_page_says(kit, tmp_path):
    """The zip unpacked in an empty folder; the set-up block in a fresh venv (pip, no root);
    JupyterLab opens the notebook; the pre-hand-in check fails on the empty notebook and passes
    once the solutions are typed in, all with the kit's own venv."""
    _, archive = kit
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    setup, lab, check = RUN_AS_A_STUDENT[:3], RUN_AS_A_STUDENT[3], RUN_AS_A_STUDENT[4]
    student_shell(tmp_path, "\n".join(setup))
    kit_dir, activate = tmp_path / "student-kit", "source .venv/bin/activate && "
    assert (kit_dir / ".venv" / "bin" / "jupyter").is_file()
    config, port = gh.jupyter_server_config(tmp_path / "jupyter-config", "kit-test")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(JUPYTER_CONFIG_DIR=str(config), HOME=str(tmp_path))
    with gh.serving(["bash", "-c", activate + lab], kit_dir, env,
                    f"http://127.0.0.1:{port}/lab/tree/exercises/02_convolution/02_convolution.ipynb"
                    "?token=kit-test", tmp_path / "lab.log"):
        pass
    empty = student_shell(kit_dir, activate + check, check=False)
    assert empty.returncode == 1 and empty.stdout.count("[FAIL]") == 2, empty.stdout + empty.stderr
    nbformat.write(gh.reference_submission(ROOT, "02_convolution"), kit_dir / "exercises" / "02_convolution" / "02_convolution.ipynb")
    done = student_shell(kit_dir, activate + check)
    assert "2 of 2 passed" in done.stdout, done.stdout


@pytest.mark.slow
def test_one_downloaded_notebook_needs_only_numpy_and_jupyterlab(tmp_path):
    """'If you downloaded a single notebook, `pip install numpy jupyterlab` is enough for its
    visible tests': every notebook but those the page names, solved, runs without an error in
    a venv with just those two, and its last cell says the pre-hand-in check is not here."""
    student_shell(tmp_path, f"{TYPED[1]}\n{TYPED[3]}")
    names = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())
    assert NEEDS_CNNLIB < set(names)
    for name in sorted(set(names) - NEEDS_CNNLIB):
        nbformat.write(gh.reference_submission(ROOT, name), tmp_path / f"{name}.ipynb")
    notebooks = " ".join(f"{n}.ipynb" for n in sorted(set(names) - NEEDS_CNNLIB))
    student_shell(tmp_path, f"source .venv/bin/activate && jupyter nbconvert --to notebook "
                            f"--execute --output-dir done {notebooks}")
    for name in sorted(set(names) - NEEDS_CNNLIB):
        nb = nbformat.read(tmp_path / "done" / f"{name}.ipynb", 4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        assert "The pre-hand-in check is not installed here" in str(outputs[-1]), name


# ----------------------------------------------------------------------------- every notebook's own lines
ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())


def notebook_markdown(name: str) -> str:
    nb = nbformat.read(ROOT / "exercises" / name / f"{name}.ipynb", as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.fixture
def fresh_kit(kit, tmp_path):
    """A copy of the kit (without the book, which no check reads), for one test to change."""
    import shutil
    folder, _ = kit
    copy = tmp_path / "student-kit"
    shutil.copytree(folder, copy, ignore=lambda d, names: ["book"] if Path(d) == folder else [])
    return copy


def activated_env() -> dict:
    """A student's shell with their venv activated: its python first on PATH (this venv, which
    has what the kit's requirements install), no PYTHONPATH, so the kit's folder supplies
    grading and cnnlib."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    return env


def test_every_notebook_names_its_own_check_line():
    assert len(ASSIGNMENTS) == 11, ASSIGNMENTS
    for name in ASSIGNMENTS:
        line = f"python -m grading.checks exercises/{name}/{name}.ipynb"
        assert f"`{line}`" in notebook_markdown(name), name
        assert re.search(r'`check\("\w+", \w+\)`', notebook_markdown(name)), name


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_each_notebooks_check_line_runs_in_the_kit(name, fresh_kit):
    """The line the notebook itself tells the student to type, as written, in a fresh kit with
    the student's venv active: on the released stubs, every graded part FAILs and it exits 1."""
    line = re.search(r"`(python -m grading\.checks exercises/\S+\.ipynb)`", notebook_markdown(name)).group(1)
    assert line == f"python -m grading.checks exercises/{name}/{name}.ipynb"
    run = subprocess.run(["bash", "-c", line], cwd=fresh_kit, env=activated_env(),
                         capture_output=True, text=True, timeout=600)
    fails, passes = run.stdout.count("[FAIL]"), run.stdout.count("[PASS]")
    assert run.returncode == 1 and fails >= 1 and passes == 0, run.stdout[-3000:] + run.stderr[-2000:]


_CHECK_IN_NOTEBOOK = """
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
ns = {}
for cell in nb.cells:   # the released stubs: each solution cell defines its function
    if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
        try:
            exec(cell.source, ns)
        except NotImplementedError:   # a stub that assigns a value raises where it stands
            pass
exec("from grading.checks import check", ns)
result = eval(sys.argv[2], ns)
print("RESULT", result)
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_each_notebooks_check_call_works_on_the_stub(name, fresh_kit):
    """`from grading.checks import check` then the notebook's own `check("<fn>", <fn>)`, as its
    markdown shows, in the kit: on the released stub it says "not implemented yet" and returns False."""
    md = notebook_markdown(name)
    assert "from grading.checks import check" in md, name
    call = re.search(r'`(check\("\w+", \w+\))`', md).group(1)
    run = subprocess.run([sys.executable, "-c", _CHECK_IN_NOTEBOOK,
                          f"exercises/{name}/{name}.ipynb", call], cwd=fresh_kit,
                         env=activated_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "RESULT False" in run.stdout and \
        "not implemented yet" in run.stdout, (call, run.stdout[-2000:], run.stderr[-2000:])
