"""Grading that cannot be fooled and never loses a grade (issue 5), end to end.

One temporary course, one assignment (02_convolution: conv2d_single and conv2d_multi, one
test cell each), one `make grade` run over a class of crafted submissions; then a failed
`--force` re-run and an interrupted run. Scores are read from nbgrader's gradebook.
"""
from __future__ import annotations

import copy
import hashlib
import os
import signal
import subprocess
import sys
import uuid

import pytest

import grading_helpers as gh

pytestmark = [pytest.mark.sandbox, gh.needs_sandbox()]

A = "02_convolution"
S, M = "conv2d_single", "conv2d_multi"
TS, TM = "test_conv2d_single", "test_conv2d_multi"
MARK = uuid.uuid4().hex[:12]   # names of files an attack tries to write outside its folder

# A plausible wrong conv2d_single: a true convolution (kernel flipped), right shape.
FLIPPED = f"""
def {S}(x, w):
    w = w[::-1, ::-1]
    H, W = x.shape
    Fh, Fw = w.shape
    out = np.zeros((H - Fh + 1, W - Fw + 1))
    for i in range(H - Fh + 1):
        for j in range(W - Fw + 1):
            out[i, j] = np.sum(x[i:i + Fh, j:j + Fw] * w)
    return out
"""

PATCH_NUMPY = """
import numpy
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), dtype=bool)
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
"""

EQ_ANYTHING = f"""
class Anything:
    shape = property(lambda self: None)
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__

class AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)
    def __ne__(self, other):
        return np.zeros(self.shape, dtype=bool)

def {S}(x, w):
    return Anything()

def {M}(x, w, b):
    K, _, Fh, Fw = w.shape
    return np.zeros((K, x.shape[1] - Fh + 1, x.shape[2] - Fw + 1)).view(AlwaysEqual)
"""

TRANSFORMER = """
ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"])
ip.input_transformers_post.append(lambda lines: ["pass\\n"])
"""

FAKE_NUMPY = """# numpy.py handed in beside the notebook: comparisons that always agree, nothing else
def allclose(*a, **k):
    return True
def array_equal(*a, **k):
    return True
"""

STEAL = f"""
import json, os, pathlib
here = pathlib.Path.cwd()
candidates = [here / "../../../solutions/{A}/{A}.ipynb"]
candidates += [p / "solutions" / "{A}" / "{A}.ipynb" for p in here.parents]
for path in candidates:
    try:
        cells = json.loads(pathlib.Path(path).read_text())["cells"]
    except Exception:
        continue
    for cell in cells:
        src = "".join(cell["source"])
        if "def {S}" in src:
            exec(src, globals())
"""

STUB_S = f"""
def {S}(x, w):
    raise NotImplementedError()
"""

TAMPER = """
import os, pathlib, sqlite3
here = pathlib.Path.cwd()
for folder in [here, *here.parents]:
    for db in [folder / "gradebook.db", *folder.glob("*.db")]:
        try:
            con = sqlite3.connect(db, timeout=1)
            con.execute("UPDATE grade SET manual_score = 0, extra_credit = 0")
            con.execute("UPDATE grade SET manual_score = 100, extra_credit = 100 WHERE notebook_id IN "
                        "(SELECT n.id FROM submitted_notebook n JOIN submitted_assignment s "
                        "ON n.assignment_id = s.id WHERE s.student_id = 'tamper')")
            con.commit()
        except Exception:
            pass
"""

WARNS = f"""
import sys, warnings
print("conv2d_single: starting")
print("a line on stderr", file=sys.stderr)
warnings.warn("this is only a warning")

def {S}(x, w):
    warnings.warn("conv2d_single is slow")
    print("computing...", file=sys.stderr)
    H, W = x.shape
    Fh, Fw = w.shape
    out = np.zeros((H - Fh + 1, W - Fw + 1))
    for i in range(H - Fh + 1):
        for j in range(W - Fw + 1):
            out[i, j] = np.sum(x[i:i + Fh, j:j + Fw] * w)
    return out
"""

SWALLOW = f"""
import signal
def {S}(x, w):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except Exception:
            pass
    while True:
        try:
            pass
        except KeyboardInterrupt:
            pass
"""

OS_EXIT = f"""
import os
def {S}(x, w):
    os._exit(0)
"""

KILL_CELL = """
import os, signal
os.kill(os.getpid(), signal.SIGKILL)
"""

KILL_M = f"""
import os, signal
def {M}(x, w, b):
    os.kill(os.getpid(), signal.SIGKILL)
"""

MEMORY = f"""
def {S}(x, w):
    hog = [bytearray(64 << 20) for _ in range(1000)]   # 64 GB
    return hog
"""

FORK_BOMB = f"""
import os
def {M}(x, w, b):
    while True:
        os.fork()
"""

# Right for C-contiguous float64 input only: strides computed for 8-byte items in rows of x.
LAYOUT = f"""
from numpy.lib.stride_tricks import as_strided
def {S}(x, w):
    H, W = x.shape
    Fh, Fw = w.shape
    win = as_strided(x, shape=(H - Fh + 1, W - Fw + 1, Fh, Fw), strides=(8 * W, 8, 8 * W, 8))
    return np.einsum("ijkl,kl->ij", win, w)
"""

RANDOM_ORDER = f"""
import random
def {S}(x, w):
    H, W = x.shape
    Fh, Fw = w.shape
    out = np.zeros((H - Fh + 1, W - Fw + 1))
    cells = [(i, j) for i in range(H - Fh + 1) for j in range(W - Fw + 1)]
    random.shuffle(cells)
    np.random.seed()
    for k in np.random.permutation(len(cells)):
        i, j = cells[k]
        out[i, j] = np.sum(x[i:i + Fh, j:j + Fw] * w)
    return out
"""

WRITE_OUTSIDE = f"""
import os, pathlib
for target in ["/tmp/pwned-{MARK}", "../../../pwned-{MARK}", os.path.expanduser("~/pwned-{MARK}"),
               "../pwned-{MARK}", "../../pwned-{MARK}"]:
    try:
        pathlib.Path(target).write_text("pwned")
    except Exception:
        pass
for target in ["../../../nbgrader_config.py", "../../../solutions/{A}/{A}.ipynb"]:
    try:
        with open(target, "a") as fh:
            fh.write("pwned")
    except Exception:
        pass
"""

HUGE_OUTPUT = """
print("x" * 20_000_000)
for i in range(100_000):
    print(i)
from IPython.display import HTML, display
display(HTML("<p>" + "y" * 5_000_000 + "</p>"))
"""

USES_REFERENCE = f"""
from scipy.signal import correlate2d
def {S}(x, w):
    return correlate2d(x, w, mode="valid")
"""

# Right (FLIPPED without the flip), but 2 s of computing per call: 6 cases take more than 10 s.
SLOW_S = "import time\n" + FLIPPED.replace("    w = w[::-1, ::-1]\n", """
    t = time.process_time()
    while time.process_time() - t < 2.0:
        pass
""")

# A later cell looks for the hidden inputs anywhere in its process's memory and computes the
# answers there, outside the check's time limit; the check then only looks them up.
PRECOMPUTE = f"""
import gc, sys
_memo, _slow = {{}}, {S}
_found = [o for o in gc.get_objects() if isinstance(o, (list, tuple)) and len(o) == 2
          and isinstance(o[1], dict) and isinstance(o[0], tuple) and len(o[0]) == 2
          and all(isinstance(a, np.ndarray) and a.ndim == 2 for a in o[0])]
_f = sys._getframe()
while _f is not None:   # and in every frame's variables (the runner's, below this cell)
    _found += [c for v in _f.f_locals.values() if isinstance(v, dict) for cs in v.values()
               if isinstance(cs, list) for c in cs if isinstance(c, list) and len(c) == 2]
    _f = _f.f_back
for _args, _kwargs in _found:
    try:
        _key = tuple(a.tobytes() for a in _args)
        _memo[_key] = _memo[_key] if _key in _memo else _slow(*_args, **_kwargs)
    except Exception:
        pass

def {S}(x, w):
    key = (x.tobytes(), w.tobytes())
    return _memo[key] if key in _memo else _slow(x, w)
"""

# Links handed in beside the notebook, to the solution notebook (relative: in the course where
# the grader works; absolute: filled in below); a cell reads them and runs the solution.
LINKS = {"solution.txt": f"../../../solutions/{A}/{A}.ipynb", "solution2.txt": None}
READ_LINKS = f"""
import json
for name in {sorted(LINKS)!r}:
    try:
        for cell in json.load(open(name))["cells"]:
            if "def {S}" in "".join(cell["source"]):
                exec("".join(cell["source"]), globals())
    except Exception:
        pass
"""

USES_CNNLIB = f"""
import cnnlib
def {M}(x, w, b):
    return cnnlib.conv2d(x[None], w, b)[0]
"""


def build(root):
    """student -> (notebook or raw text or None, extra files, notebook file name)."""
    ref = gh.reference_submission(root, A)
    dup = copy.deepcopy(ref)   # copy-paste in Jupyter: same metadata, a new cell id
    for gid in (S, TM):
        i = next(k for k, c in enumerate(dup.cells) if gh.grade_id(c) == gid)
        pasted = copy.deepcopy(dup.cells[i])
        pasted["id"] = uuid.uuid4().hex[:8]
        dup.cells.insert(i + 1, pasted)
    renamed = copy.deepcopy(ref)
    gh.cell_defining(renamed, S).metadata.nbgrader["grade_id"] = "my_conv"
    next(c for c in renamed.cells if gh.grade_id(c) == TM).metadata.nbgrader["grade_id"] = "test_mine"
    return {
        "victim": (ref, {}, None),
        "rerun": (ref, {}, None),
        "patch_numpy": (gh.add_cell(gh.with_code(ref, {S: FLIPPED}), PATCH_NUMPY), {}, None),
        "eq_anything": (gh.with_code(ref, {S: EQ_ANYTHING, M: "pass"}), {}, None),
        "transformer": (gh.add_cell(gh.with_code(ref, {S: FLIPPED}), TRANSFORMER), {}, None),
        "numpy_shadow": (gh.with_code(ref, {S: FLIPPED}), {"numpy.py": FAKE_NUMPY}, None),
        "steal": (gh.add_cell(gh.with_code(ref, {S: STUB_S}), STEAL, after=S), {}, None),
        "tamper": (gh.add_cell(gh.with_code(ref, {S: FLIPPED}), TAMPER), {}, None),
        "duplicate": (dup, {}, None),
        "warns": (gh.with_code(ref, {S: WARNS}), {}, None),
        "swallow": (gh.with_code(ref, {S: SWALLOW}), {}, None),
        "os_exit": (gh.with_code(ref, {S: OS_EXIT}), {}, None),
        "killed": (gh.add_cell(gh.with_code(ref, {M: KILL_M}), KILL_CELL, after=S), {}, None),
        "memory": (gh.with_code(ref, {S: MEMORY}), {}, None),
        "fork_bomb": (gh.with_code(ref, {M: FORK_BOMB}), {}, None),
        "layout": (gh.with_code(ref, {S: LAYOUT}), {}, None),
        "random_order": (gh.with_code(ref, {S: RANDOM_ORDER}), {}, None),
        "write_outside": (gh.add_cell(ref, WRITE_OUTSIDE), {}, None),
        "huge_output": (gh.add_cell(ref, HUGE_OUTPUT), {}, None),
        "uses_reference": (gh.with_code(ref, {S: USES_REFERENCE, M: USES_CNNLIB}), {}, None),
        "precompute": (gh.add_cell(gh.with_code(ref, {S: SLOW_S}), PRECOMPUTE, after=S), {}, None),
        "links": (gh.add_cell(gh.with_code(ref, {S: STUB_S}), READ_LINKS, after=S), {}, None),
        "broken_json": ('{"cells": [{"cell_type": "code", "source": "def conv2d_single(', {}, None),
        "missing_notebook": (ref, {}, f"{A} (1).ipynb"),
        "renamed_cells": (renamed, {}, None),
        "deep_folders": (ref, {}, None),
        "huge_file": (ref, {}, None),
        "odd_names": (ref, {}, None),
        "linked_notebook": (None, {}, None),
    }


# student -> (points kept for conv2d_single, for conv2d_multi) as fractions: 1 full, 0 none
EXPECTED = {
    "victim": (1, 1), "rerun": (1, 1),
    "patch_numpy": (0, 1), "eq_anything": (0, 0), "transformer": (0, 1), "numpy_shadow": (0, 1),
    "steal": (0, 1), "tamper": (0, 1), "duplicate": (1, 1), "warns": (1, 1),
    "swallow": (0, 1), "os_exit": (0, 1), "killed": (1, 0), "memory": (0, 1),
    "fork_bomb": (1, 0), "layout": (0, 1), "random_order": (1, 1), "write_outside": (1, 1),
    "huge_output": (1, 1), "uses_reference": (0, 0), "renamed_cells": (1, 1), "precompute": (0, 1),
    "links": (0, 1), "odd_names": (1, 1),
}
NOT_GRADED = ("broken_json", "missing_notebook", "deep_folders", "huge_file", "linked_notebook")
DEPTH = 1200   # nested folders handed in: more than Python's recursion limit


def tree_hash(path):
    digest = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            digest.update(str(p).encode() + p.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = gh.make_course(tmp_path_factory.mktemp("adversarial"), [A])
    for student, (nb, files, name) in build(root).items():
        gh.submit(root, student, A, nb, files, name)
    for name, target in LINKS.items():
        (root / "submitted" / "links" / A / name).symlink_to(target or root / "solutions" / A / f"{A}.ipynb")
    (root / "submitted" / "linked_notebook" / A / f"{A}.ipynb").symlink_to(LINKS["solution.txt"])
    deep = root / "submitted" / "deep_folders" / A
    for _ in range(DEPTH):
        deep = deep / "d"
        deep.mkdir()
    odd = os.fsencode(root / "submitted" / "odd_names" / A) + b"/"   # names that are not UTF-8,
    open(odd + b"\xff\xfe.txt", "wb").close()                      # a link to one, a link to nothing
    os.symlink(b"\xff\xfe.txt", odd + b"link-\xff")
    os.symlink("missing.npy", odd + b"gone.npy")
    huge = root / "submitted" / "huge_file" / A / "data.npy"   # 64 GiB, sparse: never read whole
    huge.touch()
    os.truncate(huge, 64 << 30)
    before = {"solutions": tree_hash(root / "solutions"),
              "config": (root / "nbgrader_config.py").read_bytes()}
    run = gh.grade(root, "--workers", "2")
    yield root, run, before
    while deep.name == "d":   # (pytest's clean-up of old folders recurses)
        deep.rmdir()
        deep = deep.parent


def test_batch_finished(batch):
    root, run, _ = batch
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "FLAGS for a person" in run.stdout
    for student in [*EXPECTED, *NOT_GRADED]:
        gh.summary_cell(run.stdout, student)   # every student has a row


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_scores_from_gradebook(batch, student):
    root, run, _ = batch
    points = gh.test_points(root, A)
    grades = gh.gradebook_scores(root)[(student, A)]
    got = (grades[TS][0], grades[TM][0])
    want = (EXPECTED[student][0] * points[TS], EXPECTED[student][1] * points[TM])
    assert got == want, f"{student}: {got} != {want}\n" + "\n".join(gh.flags_of(run.stdout, student, A))


def test_no_grade_was_tampered_with(batch):
    root, _, _ = batch
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(A).submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    assert g.manual_score is None and not g.extra_credit, (sub.student.id, g.name)
                    assert g.auto_score is None or 0 <= g.auto_score <= g.max_score


def test_source_and_config_untouched_and_nothing_written_outside(batch):
    root, _, before = batch
    from pathlib import Path
    assert tree_hash(root / "solutions") == before["solutions"]
    assert (root / "nbgrader_config.py").read_bytes() == before["config"]
    for place in [Path("/tmp"), root, root / "autograded", Path.home(), root.parent]:
        assert not (place / f"pwned-{MARK}").exists(), place


@pytest.mark.parametrize("student,needle", [
    ("broken_json", "cannot be read"),
    ("missing_notebook", f"{A}.ipynb is missing (found {A} (1).ipynb: renamed?)"),
    ("numpy_shadow", "extra files: numpy.py"),
    ("duplicate", "appears more than once"),
    ("renamed_cells", "unknown grade id 'my_conv'"),
    ("renamed_cells", "unknown test cell 'test_mine'"),
    ("renamed_cells", f"test cell '{TM}' is missing"),
    ("uses_reference", "imports scipy.signal"),
    ("uses_reference", "imports cnnlib"),
    ("swallow", "timeout"),
    ("precompute", "timeout"),
    ("deep_folders", "RecursionError"),
    ("huge_file", "more than the 256 MiB a submission may hold (largest file: data.npy, 65,536 MiB); not graded"),
    ("odd_names", "extra files: link-\\xff, \\xff\\xfe.txt"),
    ("odd_names", "broken link (to a file that does not exist; not graded): gone.npy -> missing.npy"),
    ("links", f"links out of the folder (not graded): solution.txt -> ../../../solutions/{A}/"),
    ("linked_notebook", f"{A}.ipynb is a link to ../../../solutions/{A}/{A}.ipynb, outside the "
                        "submission folder; it is not followed: not graded"),
])
def test_flags_in_summary(batch, student, needle):
    _, run, _ = batch
    flags = gh.flags_of(run.stdout, student, A)
    assert any(needle in f for f in flags), flags


def test_a_refused_import_is_flagged_once(batch):
    """Pre-flight's "imports cnnlib (the reference), not allowed for <test>" says why; the
    sandbox's consequences of that import (blocked, a missing function) are not said again."""
    _, run, _ = batch
    flags = gh.flags_of(run.stdout, "uses_reference", A)
    assert len(flags) == 2 and all("(the reference), not allowed for" in f for f in flags), flags


def test_not_gradable_submissions_need_a_person(batch):
    root, run, _ = batch
    scores = gh.gradebook_scores(root)
    for student in NOT_GRADED:
        assert gh.summary_cell(run.stdout, student) == "NOT GRADED"
        assert all(auto is None and person for auto, person in scores[(student, A)].values())


def test_feedback_written_without_hidden_tests(batch):
    root, _, _ = batch
    pages = sorted((root / "feedback").glob(f"*/{A}/{A}.html"))
    assert {p.parts[-3] for p in pages} == set(EXPECTED)
    for page in pages:
        html = page.read_text()
        assert len(html) < 2_000_000, page
        for marker in gh.HIDDEN_MARKERS:
            assert marker not in html, (page, marker)
    failed = (root / "feedback" / "patch_numpy" / A / f"{A}.html").read_text()
    assert "TestFailed" in failed and "kernel" in failed.lower()


def test_failed_force_rerun_leaves_no_stale_grade(batch):
    root, _, _ = batch
    before = gh.gradebook_scores(root)
    assert before[("rerun", A)][TS][0] > 0
    gh.submit(root, "rerun", A, "{ this is not a notebook")
    run = gh.grade(root, "--force", "--student", "rerun")
    assert run.returncode == 0, run.stderr[-2000:]
    assert gh.summary_cell(run.stdout, "rerun") == "NOT GRADED"
    assert any("cannot be read" in f for f in gh.flags_of(run.stdout, "rerun", A))
    after = gh.gradebook_scores(root)
    assert all(auto is None and person for auto, person in after[("rerun", A)].values())
    assert not (root / "autograded" / "rerun" / A).exists()
    assert not (root / "feedback" / "rerun" / A).exists()
    for key, grades in before.items():
        if key[0] != "rerun":
            assert after[key] == grades, key


def test_interrupted_run_loses_nothing(batch):
    root, _, _ = batch
    students = ["late1", "late2", "late3"]
    for student in students:
        gh.submit(root, student, A, gh.reference_submission(root, A))
    args = [a for s in students for a in ("--student", s)]
    proc = subprocess.Popen([sys.executable, "-m", "grading.grade", "--workers", "1", *args],
                            cwd=root, env=gh.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = None
    for line in proc.stdout:
        if line.startswith("[1/"):
            first = line.split()[1].split("/")[0]
            proc.send_signal(signal.SIGINT)
            break
    proc.communicate(timeout=300)
    assert proc.returncode == 130
    recorded = gh.gradebook_scores(root)
    assert all(auto for auto, _ in recorded[(first, A)].values()), "the finished one is kept"
    run = gh.grade(root, *args)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("[")]
    assert "1 of 3 submission(s) unchanged since their last grading" in run.stdout, run.stdout
    assert {line.split()[1] for line in lines if " graded " in line} == \
        {f"{s}/{A}" for s in students if s != first} and len(lines) == 2, lines
    full = sum(gh.test_points(root, A).values())
    for student in students:
        assert sum(auto for auto, _ in gh.gradebook_scores(root)[(student, A)].values()) == full


@pytest.mark.parametrize("student", ["patch_numpy", "duplicate"])
def test_nbgrader_autograde_from_the_root_is_protected_too(batch, student):
    """What formgrader users run: nbgrader's own command, with the course's nbgrader_config.py."""
    root, _, _ = batch
    before = gh.gradebook_scores(root)
    run = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", A, "--force",
                          "--student", student], cwd=root, env=gh.env(), capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    after = gh.gradebook_scores(root)
    points = gh.test_points(root, A)
    want = {TS: EXPECTED[student][0] * points[TS], TM: EXPECTED[student][1] * points[TM]}
    assert {g: s for g, (s, _) in after[(student, A)].items()} == want
    assert {k: v for k, v in after.items() if k[0] != student} == \
        {k: v for k, v in before.items() if k[0] != student}


def test_links_out_of_the_folder_go_to_a_person_under_nbgrader_too(batch):
    """nbgrader's own autograde copies the file a link points to (here the solution notebook)
    before any of our code runs: such a submission is left to a person, with no points."""
    root, _, _ = batch
    run = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", A, "--force",
                          "--student", "links"], cwd=root, env=gh.env(), capture_output=True,
                         text=True, timeout=600)
    assert "links out of the submission folder (solution.txt, solution2.txt)" in run.stdout + run.stderr
    assert all(auto is None and person for auto, person in gh.gradebook_scores(root)[("links", A)].values())
