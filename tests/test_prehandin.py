"""The pre-hand-in check (grading/checks/prehandin.py): the grader's checks, run by a student.

It runs the same checks with the same messages on fresh inputs, needs neither the sandbox nor
root, and is reachable from a notebook cell and from one shell command.
"""
from __future__ import annotations

import inspect
import re
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from grading.checks import CHECKS, check, check_all, run_check
from grading.checks.prehandin import CHECK_CELL_ID, uses_reference
from grading_catalogue import WRONG, build_submission, code_cells, reference_sources
from grading_catalogue.build import ROOT
from grading_helpers import env


def _namespace(assignment, replacements):
    ns: dict = {"__name__": "__main__"}
    for src in code_cells(build_submission(assignment, replacements))[0]:
        exec(compile(src, "<cell>", "exec"), ns)
    return ns


def test_check_all_passes_the_reference_and_names_each_function(capsys):
    ns = _namespace("03_hyperparameters", reference_sources("03_hyperparameters"))
    results = check_all(ns, "03_hyperparameters")
    out = capsys.readouterr().out
    assert results == {"zero_pad": True, "conv_output_size": True, "conv2d": True, "conv_param_count": True}
    assert out.count("[PASS]") == 4 and "14 of 14 points" in out


def test_a_failure_carries_the_graders_message(capsys):
    entry = next(e for e in WRONG if e.name == "conv2d: stride ignored")
    ns = _namespace(entry.assignment, entry.replacements)
    assert check("conv2d", ns["conv2d"], seed=5) is False
    out = capsys.readouterr().out
    with pytest.raises(AssertionError) as grader:
        run_check("test_conv2d", ns, seed=5)
    assert "[FAIL] conv2d" in out
    for line in str(grader.value).splitlines()[1:]:   # the same case lines as the grader's
        assert line in out


def test_only_the_failing_cases_shown_carry_an_expected_value(capsys):
    check("conv2d", lambda x, w, b, stride=1, padding=0: np.zeros(3))
    out = capsys.readouterr().out
    from grading.checks import MAX_SHOWN
    assert 0 < out.count("expected") <= MAX_SHOWN


def test_a_complex_answer_is_told_as_the_visible_tests_tell_it(capsys):
    """An FFT's result without `.real` (Sam's trial, session 24): the visible tests' words, not
    "an array of shape (2, 2) and dtype complex128 ..., expected an array of shape (2, 2)"."""
    from grading.checks._core import COMPLEX
    right = _namespace("02_convolution", reference_sources("02_convolution"))["conv2d_single"]
    check("conv2d_single", lambda x, w: right(x, w) + 0j, seed=0)
    out = capsys.readouterr().out
    assert f"conv2d_single output: {COMPLEX}\n" in out and "dtype complex" not in out, out
    assert "keep its `.real` part" in COMPLEX and "expected an array of shape" not in out


def test_the_one_product_check_has_its_own_name_and_timeout_cause(capsys):
    """03b's second check of conv2d_im2col is named for what it checks in the summary, and its
    timeout (its verdict) names the likely cause, not "an endless loop?"."""
    from grading.checks import TIME_TRIES, outcome_verdict
    ns = _namespace("03b_im2col", reference_sources("03b_im2col"))
    check_all(ns, "03b_im2col", seed=0)
    out = capsys.readouterr().out
    assert "[PASS] conv2d_im2col (5 points)" in out
    assert "[PASS] conv2d_im2col: one matrix product (3 points)" in out, out
    one = CHECKS["test_conv2d_im2col_one_product"]
    case = one.make_cases(np.random.default_rng(0))[0]
    message, flag = outcome_verdict(one, case, {"status": "timeout", "limit": 2.0, "n": 3})
    assert message == ("`conv2d_im2col` took longer than 2 s of computing time for its 3 cases (a Python "
                       "loop over positions or rows, in conv2d_im2col or im2col? The quickest of up to "
                       f"{TIME_TRIES} tries counts)") and flag is None
    other = CHECKS["test_conv2d_im2col"]
    message, flag = outcome_verdict(other, case, {"status": "timeout", "limit": 10.0, "n": 13})
    assert message.endswith("(an endless loop?)") and flag == "timeout"


def test_inputs_are_fresh_on_every_run(capsys):
    seen = []

    def conv2d(x, w, b, stride=1, padding=0):
        seen.append(float(np.sum(x)))
        raise ValueError("no")
    check("conv2d", conv2d)
    first = list(seen)
    seen.clear()
    check("conv2d", conv2d)
    assert first != seen


def test_the_name_or_the_test_cell_id_and_clear_errors(capsys):
    assert check("test_conv_param_count", lambda C, K, F: K * (F * F * C + 1)) is True
    assert check("test_conv_param_count", lambda K, F, C: K * (F * F * C + 1)) is False
    assert "read in the order (K, F, C)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no graded function or variable called 'conv3d'"):
        check("conv3d", lambda: 0)


def test_a_renamed_function_is_reported_once_with_the_graders_reasons(capsys):
    ns = _namespace("02_convolution", reference_sources("02_convolution"))
    ns["conv_single"] = ns.pop("conv2d_single")          # the learner renamed the function
    results = check_all(ns, "02_convolution")
    out = capsys.readouterr().out
    assert results == {"conv2d_single": False, "conv2d_multi": True}
    assert out.count("is not defined") == 1, out
    assert "[FAIL] conv2d_single (5 points): `conv2d_single` is not defined: did you run its cell, " \
           "rename the function" in out, out


def test_a_function_that_uses_cnnlib_fails_where_the_grader_blocks_it(capsys):
    import cnnlib
    from cnnlib import receptive_field as rf

    def receptive_field(kernel_sizes, strides):
        return rf(kernel_sizes, strides)
    assert uses_reference(receptive_field) == ("cnnlib", "rf")
    assert check("receptive_field", receptive_field) is False
    assert "cnnlib cannot be imported" in capsys.readouterr().out
    assert uses_reference(lambda x: cnnlib.predict(None, x)) == ("cnnlib", "cnnlib")
    assert uses_reference(lambda x: np.sum(x)) is None


#: NumPy-only functions that reach a module blocked at marking from their body (student trials,
#: session 22: each got PASS and a full-points forecast here, and 0 at marking)
REACHES = {
    "from cnnlib.conv import": ("from cnnlib.conv import conv2d_naive\n    return conv2d_naive(x, w)",
                                ("cnnlib", "cnnlib.conv")),
    "import cnnlib.conv as cc": ("import cnnlib.conv as cc\n    return cc.conv2d_naive(x, w)", ("cnnlib", "cnnlib.conv")),
    "__import__": ("return __import__('cnnlib').conv2d(x, w)", ("cnnlib", "cnnlib")),
    "import_module": ("import importlib\n    return importlib.import_module('cnnlib').conv2d(x, w)",
                      ("cnnlib", "cnnlib")),
    "import scipy.signal in the body": ("import scipy.signal\n    return scipy.signal.correlate(x, w)",
                                        ("scipy", "scipy.signal")),
    "scipy.ndimage imported by another cell": ("return scipy.ndimage.correlate(x, w)", ("scipy", "scipy")),
    "scipy.fft (a product of spectra)": ("from scipy.fft import rfft2, irfft2\n    return irfft2(rfft2(x) * rfft2(w))",
                                         ("scipy", "scipy.fft")),
    "a helper of the notebook that uses it": ("return helper(x, w)", ("cnnlib", "helper, which uses cnnlib.conv")),
}
NUMPY_ONLY = {
    "strings that name cnnlib": "note = 'like cnnlib.conv2d, with loops'\n    assert x.ndim == 4, 'cnnlib'\n    return x",
    "a variable called signal": "signal = np.asarray(x)\n    return signal * 2",
    "numpy.fft, which is NumPy": "return np.fft.irfft2(np.fft.rfft2(x) * np.fft.rfft2(w, x.shape), x.shape)",
    # a review (session 28): a gradient helper named `mygrad` was taken for the mygrad package
    "the notebook's own mygrad and torch": "return mygrad(x) * torch",
}


def _defined(body):
    ns = {}
    exec("import numpy as np\nimport scipy.ndimage\n"
         "def helper(x, w):\n    from cnnlib.conv import conv2d_naive\n    return conv2d_naive(x, w)\n"
         "def mygrad(g):\n    return 2 * g\ntorch = 0.5\n"
         f"def f(x, w=None):\n    {body}\n", ns)
    return ns["f"]


@pytest.mark.parametrize("way", sorted(REACHES))
def test_a_blocked_module_reached_from_the_body_is_found(way):
    body, expected = REACHES[way]
    assert uses_reference(_defined(body)) == expected


@pytest.mark.parametrize("way", sorted(NUMPY_ONLY))
def test_numpy_only_code_is_not_taken_for_a_blocked_module(way):
    assert uses_reference(_defined(NUMPY_ONLY[way])) is None


def test_an_import_in_the_body_gets_no_full_points_forecast(tmp_path, capsys):
    """The student trial's case, through the command's path: FAIL with the reason, not PASS."""
    sources = dict(reference_sources("02_convolution"))
    sources["conv2d_single"] = ("def conv2d_single(x, w):\n    from cnnlib.conv import conv2d_naive\n"
                                "    return conv2d_naive(x[None, None], w[None, None])[0, 0]\n")
    path = tmp_path / "02_convolution.ipynb"
    nbformat.write(build_submission("02_convolution", sources), path)
    from grading.checks import check_notebook
    assert check_notebook(path)["conv2d_single"] is False
    assert "it uses cnnlib (through `cnnlib.conv`); at marking cnnlib cannot be imported" in capsys.readouterr().out


def test_the_graders_own_code_fails_as_at_marking_even_where_cnnlib_is_allowed(capsys):
    """`from grading.checks.a02_convolution import conv_single_ref` (a student trial, session 24):
    no jail has `grading`, so marking gives 0; here FAIL with that reason, in any part."""
    def conv2d_single(x, w):
        from grading.checks.a02_convolution import conv_single_ref
        return conv_single_ref(x, w)

    def maximise_unit(x0, w1, b1, w2, b2, k, steps=30, lr=0.1, max_norm=2.0):
        from grading.checks import a04_features
        return a04_features.__name__

    assert check("conv2d_single", conv2d_single) is False
    assert check("maximise_unit", maximise_unit) is False
    out = capsys.readouterr().out
    assert out.count("it uses grading (through `grading.checks") == 2, out
    assert "(the grader's own code) is not there to import" in out


def test_a_module_named_at_run_time_is_refused_while_the_check_calls(capsys):
    """`__import__("".join(["sci", "py"]))` names no module in the code; it is refused while the
    function runs, as the jail refuses it, and the modules loaded before are back afterwards."""
    import scipy.signal
    loaded = sys.modules["scipy.signal"]

    def conv2d_single(x, w):
        return getattr(__import__("".join(["sci", "py"]), fromlist=["signal"]), "signal").correlate(x, w, "valid")

    assert uses_reference(conv2d_single) is None
    assert check("conv2d_single", conv2d_single) is False
    out = capsys.readouterr().out
    assert "raised ImportError: import of scipy is not allowed" in out and "it was refused here too" in out
    assert sys.modules["scipy.signal"] is loaded and scipy.signal.correlate


def test_a_patched_numpy_comparison_passes_nothing(capsys):
    """A cell `np.allclose = lambda *a, **k: True` (and np.isclose): the checks compare with
    NumPy's own functions, the student's function still runs with the notebook's."""
    seen = []

    def conv2d_single(x, w):   # flipped kernel: wrong
        seen.append(np.allclose(0.0, 1.0))
        H, W = x.shape
        Fh, Fw = w.shape
        return np.array([[np.sum(x[i:i + Fh, j:j + Fw] * w[::-1, ::-1]) for j in range(W - Fw + 1)]
                         for i in range(H - Fh + 1)])

    own = np.allclose, np.isclose
    np.allclose, np.isclose = (lambda *a, **k: True), (lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool))
    try:
        assert check("conv2d_single", conv2d_single) is False
        assert seen and all(seen), "the student's function saw NumPy's allclose, not the notebook's"
        assert np.allclose(0.0, 1.0), "the notebook's function was not put back"
    finally:
        np.allclose, np.isclose = own
    assert "kernel flipped" in capsys.readouterr().out


def test_numpy_patched_before_the_check_is_imported_is_seen_through():
    """In a notebook the check is imported in the last cell, after a cell that patched NumPy."""
    code = ("import numpy as np\nnp.allclose = lambda *a, **k: True\n"
            "np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)\n"
            "def conv2d_single(x, w):\n    return np.zeros((x.shape[0] - w.shape[0] + 1, x.shape[1] - w.shape[1] + 1))\n"
            "from grading.checks import check\nprint(check('conv2d_single', conv2d_single), np.allclose(0, 1))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False True", run.stdout


def test_the_modules_blocked_at_marking_are_the_one_list():
    """The pre-hand-in check forecasts what the marking jail refuses: the grader sends the jail
    REFERENCE_MODULES (tests/test_sandbox.py shows the jail refusing what the list names)."""
    from grading.checks import imports, prehandin
    assert prehandin.REFERENCE_MODULES is imports.REFERENCE_MODULES   # imported, not a copy
    assert set(imports.REFERENCE_MODULES) == {"cnnlib", "scipy", "sklearn", "torch", "numpy_ml", "mygrad"}


ALL_NOTEBOOKS = sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb"))
#: the notebooks whose helpers cell (the second cell) has expect_numpy_only
#: the import names of the kit's dependencies (grading/student_kit.py's pyproject)
KIT_IMPORTS = {"numpy": "numpy", "matplotlib": "matplotlib", "scikit-learn": "sklearn", "nbformat": "nbformat"}


def _import_refusing(module: str, refused: tuple) -> subprocess.CompletedProcess:
    """`import module` in a fresh Python whose imports of `refused` (and their modules) fail."""
    code = ("import sys\nclass Refuse:\n    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {tuple(refused)!r}:\n"
            "            raise ImportError('refused: ' + name)\n"
            f"sys.meta_path.insert(0, Refuse())\nimport {module}\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_every_package_of_the_kit_imports_without_the_refused_ones_or_is_refused():
    """A package the student has that imports a refused module (scikit-learn imports SciPy)
    stops the student's cell at marking: a student trial's correct `extract_patches_2d`
    answer scored 0 after a full-points forecast. Such a package must be on the list itself,
    so that every check says so before hand-in."""
    from grading import student_kit
    from grading.checks.imports import REFERENCE_MODULES
    deps = re.search(r"dependencies = \[(.*?)\]", inspect.getsource(student_kit)).group(1)
    names = [re.match(r'"([\w-]+)', d.strip()).group(1) for d in deps.split(",")]
    assert sorted(names) == sorted(KIT_IMPORTS), names
    for module in (KIT_IMPORTS[n] for n in names):
        if module in REFERENCE_MODULES:
            continue
        run = _import_refusing(module, REFERENCE_MODULES)
        assert run.returncode == 0, f"{module} needs a refused module: {run.stderr[-500:]}"
    run = _import_refusing("sklearn.feature_extraction.image", [m for m in REFERENCE_MODULES if m != "sklearn"])
    assert run.returncode != 0 and "refused: scipy" in run.stderr, "sklearn no longer needs scipy: drop it from the list"


NUMPY_ONLY_NOTEBOOKS = [n for n in ALL_NOTEBOOKS if "def expect_numpy_only" in
                        nbformat.read(ROOT / "solutions" / n / f"{n}.ipynb", as_version=4).cells[1].source]


@pytest.mark.parametrize("name", NUMPY_ONLY_NOTEBOOKS)
def test_the_notebooks_visible_tests_refuse_what_marking_refuses(name):
    """The students' notebooks cannot import the grader, so their helpers cell holds a copy of
    the list (REFERENCE): held equal here, and `expect_numpy_only` refuses each of its modules
    (torch was missing from the notebooks and from the jail until session 28)."""
    from grading.checks.imports import REFERENCE_MODULES
    assert len(NUMPY_ONLY_NOTEBOOKS) >= 9, NUMPY_ONLY_NOTEBOOKS
    nb = nbformat.read(ROOT / "exercises" / name / f"{name}.ipynb", as_version=4)
    ns = {"__name__": "notebook"}
    exec(compile(nb.cells[1].source, f"<{name} helpers>", "exec"), ns)
    assert ns["REFERENCE"] == REFERENCE_MODULES
    for module in REFERENCE_MODULES:
        fn = eval(compile(f"lambda x: __import__({module!r}).f(x)", "<student>", "eval"), ns)
        fn.__name__ = "my_conv"
        with pytest.raises(AssertionError, match=f"my_conv uses {module} "):
            ns["expect_numpy_only"](fn)
    ok = eval(compile("lambda x: __import__('numpy').asarray(x)", "<student>", "eval"), ns)
    ns["expect_numpy_only"](ok)
    # the student's own names are not the modules (a review: a helper named `mygrad` failed)
    exec(compile("def mygrad(g):\n    return 2 * g\n\ntorch = 0.5\n\n"
                 "def backward(g):\n    return mygrad(g) * torch\n", "<student>", "exec"), ns)
    ns["expect_numpy_only"](ns["backward"])


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_the_notebooks_name_every_refused_module(name):
    """Where a notebook tells the student "NumPy only", it names the whole list (it named only
    cnnlib and scipy until session 28)."""
    from grading.checks.imports import REFERENCE_MODULES
    nb = nbformat.read(ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
    said = [" ".join(p.split()) for c in nb.cells if c.cell_type == "markdown"
            for p in re.split(r"\n\s*\n", c.source) if "NumPy only" in p and "`scipy`" in p]
    assert said, f"{name}: no paragraph says NumPy only"
    for paragraph in said:
        missing = [m for m in REFERENCE_MODULES if f"`{m}`" not in paragraph]
        assert not missing, f"{name}: a NumPy-only paragraph does not name {missing}: {paragraph[:200]}"


def test_a_cell_that_imports_cnnlib_fails_as_at_marking(tmp_path, capsys):
    """A left-over `import cnnlib` in the cell of a NumPy-only function: the function never uses
    it, but at marking the import fails and the cell stops before the def (0 points)."""
    sources = dict(reference_sources("02_convolution"))
    sources["conv2d_single"] = "import cnnlib  # tried cnnlib.conv2d first\n" + sources["conv2d_single"]
    path = tmp_path / "02_convolution.ipynb"
    nbformat.write(build_submission("02_convolution", sources), path)
    from grading.checks import check_notebook
    assert check_notebook(path) == {"conv2d_single": False, "conv2d_multi": True}
    assert "its cell imports cnnlib; at marking that import fails" in capsys.readouterr().out



#: session 27's trial: an unused import in the cell of a function that another graded function
#: calls; at marking the cell stops, the called function is never defined, and the caller fails
#: with NameError too (the forecast had the caller's points: "8 of 13", "6 of 12"; marking gave 0)
CALLED_CELL_IMPORTS = {
    "03b_im2col": ("im2col", "from numpy.lib.stride_tricks import sliding_window_view\n",
                   {"im2col": False, "conv2d_im2col": False}, "conv2d_im2col", "13"),
    "05b_learning": ("softmax_cross_entropy", "", {"softmax_cross_entropy": False, "sgd_step": False},
                     "sgd_step", "12"),
}


@pytest.mark.parametrize("assignment", sorted(CALLED_CELL_IMPORTS))
def test_an_import_in_the_cell_of_a_called_function_fails_its_callers_too(tmp_path, capsys, assignment):
    cell, after, expected, caller, total = CALLED_CELL_IMPORTS[assignment]
    sources = dict(reference_sources(assignment))
    head = sources[cell][:len(after)]
    assert head == after
    sources[cell] = after + "import scipy\n" + sources[cell][len(after):]
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(build_submission(assignment, sources), path)
    from grading.checks import check_notebook
    assert check_notebook(path) == expected
    out = capsys.readouterr().out
    assert (f"`{caller}` calls `{cell}`, whose cell imports scipy; at marking that import fails in this part, the "
            f"cell stops there and `{cell}` is never defined, so `{caller}` would score 0 too") in out, out
    assert f"0 of {total} points if the same code is marked" in out, out


def test_an_import_below_the_called_function_does_not_fail_its_caller(tmp_path, capsys):
    """An import after the def does not stop the cell before it: the caller keeps its points."""
    sources = dict(reference_sources("05b_learning"))
    sources["softmax_cross_entropy"] += "\n\ntry:\n    import scipy\nexcept ImportError:\n    pass\n"
    path = tmp_path / "05b_learning.ipynb"
    nbformat.write(build_submission("05b_learning", sources), path)
    from grading.checks import check_notebook
    assert check_notebook(path) == {"softmax_cross_entropy": True, "sgd_step": True}, capsys.readouterr().out


def test_the_references_own_function_is_named_as_such(capsys):
    """`from cnnlib import im2col` as the whole cell: the function IS cnnlib's, not one that uses
    cnnlib through one of cnnlib's own internals (session 27: "through `check_array`")."""
    from cnnlib import im2col
    assert check("im2col", im2col) is False
    out = capsys.readouterr().out
    assert "`im2col` is cnnlib's own function (imported from cnnlib" in out and "check_array" not in out, out


#: imports in the cell of a NumPy-only function that do NOT stop the cell at marking (the jail
#: refuses the import with ImportError): one in a helper's body, one inside try/except ImportError
NOT_STOPPING = {
    "a helper above it imports cnnlib in its body": (
        "def compare(x, w):\n    import cnnlib\n    return cnnlib.conv2d(x[None, None], w[None, None])[0, 0]\n\n\n"),
    "a guarded import": "try:\n    import cnnlib\nexcept ImportError:\n    cnnlib = None\n\n\n",
}


@pytest.mark.parametrize("above", sorted(NOT_STOPPING))
def test_an_import_that_does_not_stop_the_cell_is_not_failed(tmp_path, capsys, above):
    """The jail refuses `import cnnlib` with ImportError: inside a function's body (not run by the
    cell) or inside try/except ImportError it does not stop the cell, the def runs, and the
    grader gives the points; the pre-hand-in check must not say "would score 0"."""
    sources = dict(reference_sources("02_convolution"))
    sources["conv2d_single"] = NOT_STOPPING[above] + sources["conv2d_single"]
    path = tmp_path / "02_convolution.ipynb"
    nbformat.write(build_submission("02_convolution", sources), path)
    from grading.checks import check_notebook
    assert check_notebook(path) == {"conv2d_single": True, "conv2d_multi": True}, capsys.readouterr().out


def test_an_import_in_a_try_that_does_not_catch_it_still_fails(tmp_path, capsys):
    sources = dict(reference_sources("02_convolution"))
    sources["conv2d_single"] = ("try:\n    import cnnlib\nexcept ValueError:\n    pass\n\n\n"
                                + sources["conv2d_single"])
    path = tmp_path / "02_convolution.ipynb"
    nbformat.write(build_submission("02_convolution", sources), path)
    from grading.checks import check_notebook
    assert check_notebook(path) == {"conv2d_single": False, "conv2d_multi": True}
    assert "its cell imports cnnlib; at marking that import fails" in capsys.readouterr().out


def test_a_cell_that_raises_is_named_as_the_student_finds_it(tmp_path, capsys):
    """The note names the cell by its place among ALL cells (markdown too) and its first line."""
    sources = dict(reference_sources("02_convolution"))
    sources["conv2d_single"] = "scale = undefined_name\n" + sources["conv2d_single"]
    nb = build_submission("02_convolution", sources)
    place = next(i for i, c in enumerate(nb.cells, 1)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "conv2d_single")
    path = tmp_path / "02_convolution.ipynb"
    nbformat.write(nb, path)
    from grading.checks import check_notebook
    check_notebook(path)
    assert f"note: cell {place} ('scale = undefined_name') raised NameError" in capsys.readouterr().out


def test_a_question_marked_by_a_person_is_listed_with_its_points(tmp_path, capsys):
    """A course may add a written question (a graded markdown cell, as the Teaching page shows):
    no check marks it, so the forecast lists it apart instead of leaving its points out."""
    nb = build_submission("02_convolution", dict(reference_sources("02_convolution")))
    answer = nbformat.v4.new_markdown_cell("Each output pixel is a weighted sum of a window.")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "why_windows",
                                   "points": 2, "locked": False, "schema_version": 3}
    nb.cells.insert(len(nb.cells) - 1, answer)
    path = tmp_path / "02_convolution.ipynb"
    nbformat.write(nb, path)
    from grading.checks import check_notebook
    assert check_notebook(path) == {"conv2d_single": True, "conv2d_multi": True}
    out = capsys.readouterr().out
    assert "[BY HAND] why_windows (2 points): marked by a person, not checked here" in out, out
    assert "10 of 10 points if the same code is marked" in out, out


BUSY = "import time as _t\n_s = _t.process_time()\nwhile _t.process_time() - _s < 0.3:\n    pass\n\n\n"


def _busy_notebook(tmp_path, prefix):
    """02_convolution's reference with `prefix` above conv2d_single (in its cell); its cell's place."""
    sources = dict(reference_sources("02_convolution"))
    sources["conv2d_single"] = prefix + sources["conv2d_single"]
    nb = build_submission("02_convolution", sources)
    path = tmp_path / "02_convolution.ipynb"
    nbformat.write(nb, path)
    return path, next(i for i, c in enumerate(nb.cells, 1)
                      if c.metadata.get("nbgrader", {}).get("grade_id") == "conv2d_single")


def test_a_cell_over_the_marking_cpu_limit_is_reported(tmp_path, capsys, monkeypatch):
    """At marking a cell gets MARKING_CELL_SECONDS of CPU time and is stopped after it (what it
    defines is then missing): the check says so, and the result is not a pass."""
    from grading.checks import check_notebook, prehandin
    path, place = _busy_notebook(tmp_path, BUSY)
    monkeypatch.setattr(prehandin, "MARKING_CELL_SECONDS", 0.2)
    assert prehandin._over_time([(f"cell {place}", 0.3)]) == [
        f"WARNING: cell {place} took 0.3 s of CPU time here; at marking a cell is stopped after 0.2 s, and "
        "what it defines is then missing: make it faster (fewer epochs or steps?)"]
    results = check_notebook(path)      # the cell is stopped here too, as at marking
    out = capsys.readouterr().out
    assert results == {"conv2d_single": False, "conv2d_multi": True, "time limits at marking": False}, out
    assert f"note: cell {place} ('import time as _t') was stopped after 0.2 s" in out, out
    assert "all cells together" not in out, out
    monkeypatch.setattr(prehandin, "MARKING_CELL_SECONDS", 60.0)
    assert check_notebook(path) == {"conv2d_single": True, "conv2d_multi": True}
    assert "WARNING" not in capsys.readouterr().out


def test_an_endless_cell_is_stopped_as_at_marking(tmp_path, capsys, monkeypatch):
    """A cell that never ends (`while True: pass` above a function) made the terminal check hang
    with no output; at marking the cell is stopped after its CPU limit and what it defines is
    missing. The check stops it too, says so, and goes on with the next cells and the checks."""
    from grading.checks import check_notebook, prehandin
    path, place = _busy_notebook(tmp_path, "while True:\n    try:\n        pass\n    except Exception:\n        pass\n\n\n")
    monkeypatch.setattr(prehandin, "MARKING_CELL_SECONDS", 0.3)
    results = check_notebook(path)
    out = capsys.readouterr().out
    assert f"note: cell {place} ('while True:') was stopped after 0.3 s of CPU time" in out, out
    assert results["conv2d_single"] is False and results["conv2d_multi"] is True, out
    assert results["time limits at marking"] is False, out


def test_cells_over_the_marking_cpu_limit_together_are_reported(tmp_path, capsys, monkeypatch):
    from grading.checks import check_notebook, prehandin
    path, _ = _busy_notebook(tmp_path, BUSY)
    monkeypatch.setattr(prehandin, "MARKING_CELLS_SECONDS", 0.25)
    assert check_notebook(path)["time limits at marking"] is False
    out = capsys.readouterr().out
    assert "WARNING: all cells together took" in out and "they get 0.25 s" in out, out


def test_the_marking_cpu_limits_are_the_graders(tmp_path, capsys):
    """The kit has no grading.sandbox: its limits are written twice, and held equal here. The
    cells' prints are not shown among the check's lines."""
    import inspect
    from grading.checks import check_notebook, prehandin
    from grading.sandbox import run_checks
    defaults = inspect.signature(run_checks).parameters
    assert prehandin.MARKING_CELL_SECONDS == defaults["cell_timeout"].default
    assert prehandin.MARKING_CELLS_SECONDS == defaults["cells_timeout"].default
    # the Exercises page says them, glued from these constants when the book is built
    page = " ".join((ROOT / "book" / "exercises.md").read_text().split())
    assert ("from grading.checks.prehandin import MARKING_CELL_SECONDS, MARKING_CELLS_SECONDS" in page
            and 'glue("cell_seconds", f"{MARKING_CELL_SECONDS:g}"' in page
            and 'glue("cells_seconds", f"{MARKING_CELLS_SECONDS:g}"' in page)
    assert ("more than the {glue:text}`cell_seconds` s of computing time a cell gets at marking, as "
            "marking does, and warns when all of them take more than the {glue:text}`cells_seconds` "
            "s they get together") in page
    path, _ = _busy_notebook(tmp_path, "print('PRINTED-BY-A-CELL')\n\n\n")
    check_notebook(path)
    assert "PRINTED-BY-A-CELL" not in capsys.readouterr().out


def test_it_needs_neither_the_sandbox_nor_nbgrader():
    code = ("import sys, grading.checks; "
            "print(sorted(m for m in sys.modules if m.startswith(('grading.sandbox', 'grading.grade', "
            "'grading.preprocessors', 'nbgrader'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env(), capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_notebook_ends_with_the_check_cell():
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        last = nb.cells[-1]
        assert last.metadata["nbgrader"]["grade_id"] == CHECK_CELL_ID, path.name
        assert f'check_all(globals(), "{path.stem}")' in last.source
        assert 'os.environ.get("NBGRADER_EXECUTION")' in last.source   # not run at marking


def test_the_check_cell_runs_the_checks_in_a_notebook(capsys):
    nb = nbformat.read(ROOT / "solutions" / "04_features" / "04_features.ipynb", as_version=4)
    ns = _namespace("04_features", reference_sources("04_features"))
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == CHECK_CELL_ID)
    exec(compile(cell.source, "<check cell>", "exec"), ns)
    out = capsys.readouterr().out
    assert out.count("[PASS]") == len([c for c in CHECKS.values() if c.assignment == "04_features"])


def _command_in(path) -> str:
    """The terminal command that a notebook's "Before you hand in" cell gives."""
    text = "".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    commands = re.findall(r"`(python -m grading\.checks [^`]+)`", text)
    assert len(commands) == 1 and "in the kit's folder" in text, (path, commands)
    return commands[0]


def test_every_notebook_gives_the_command_for_its_own_path():
    """Run in the kit's folder (the root of the kit, as of this repository), as the text says."""
    for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        assert _command_in(path) == f"python -m grading.checks exercises/{path.stem}/{path.name}", path


@pytest.mark.parametrize("notebook, code", [("exercises", 1), ("solutions", 0)])
def test_the_command_checks_a_notebook(notebook, code):
    """The command the notebooks and the exercises page give, as written (from the kit's folder;
    for the solutions, the same command with their path)."""
    command = _command_in(ROOT / "exercises" / "03_hyperparameters" / "03_hyperparameters.ipynb")
    args = command.replace("exercises/", f"{notebook}/").split()
    run = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, env=env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == code, run.stdout + run.stderr
    marks = ["[FAIL]"] if code else ["[PASS]"]
    assert all(run.stdout.count(m) == 4 for m in marks), run.stdout
    if code:
        assert "not implemented yet" in run.stdout


def test_a_raised_exception_carries_the_line_and_hint_of_the_visible_tests(tmp_path, capsys):
    """A function that raises: the pre-hand-in check names the line of the student's code and gives
    the notebook's hint, with the visible tests' own words (their raised_message), once per check."""
    from grading.checks import check_notebook
    from test_checks import visible_results
    entry = next(e for e in WRONG if e.name == "output size: true division (/ instead of //)")
    path = tmp_path / "03_hyperparameters.ipynb"
    nbformat.write(build_submission(entry.assignment, entry.replacements), path)
    check_notebook(path, seed=0)
    out = capsys.readouterr().out
    conv2d = out[out.index("[FAIL] conv2d"):out.index("[PASS] conv_param_count")]
    visible = visible_results(entry.assignment, entry.replacements)["test_conv2d"]
    detail = [line.strip() for line in visible.splitlines()[1:]]     # "in conv2d, line ...", "hint: ..."
    assert detail[0].startswith("in conv2d, line ") and detail[1].startswith("hint: a size or an index is a float")
    assert "`conv2d` raised TypeError: 'float' object cannot be interpreted as an integer" in conv2d, conv2d
    for line in detail:
        assert conv2d.count(line) == 1, (line, conv2d)


def test_check_finds_the_hints_of_the_notebook_the_function_comes_from(capsys):
    """check("name", fn) under a function's cell: the hint comes from that notebook's helpers."""
    ns = _namespace("05_pooling", reference_sources("05_pooling"))
    exec(compile("def max_pool2d(x, size=2, stride=None):\n"
                 "    return x[:, :, ::stride, ::stride][..., :(x.shape[2] - size) // stride + 1, :]\n",
                 "<cell>", "exec"), ns)
    assert check("max_pool2d", ns["max_pool2d"], seed=0) is False
    out = capsys.readouterr().out
    assert "`max_pool2d` raised TypeError" in out and "hint: an argument is None: `stride=None` means" in out, out


def test_a_check_through_a_given_wrapper_names_the_students_function(capsys):
    """01c's check calls the locked wrapper equivariance_error_of: every line names the
    student's equivariance_error, and check() takes that name and that function."""
    ns = _namespace("01c_weight_sharing", {})       # the release: equivariance_error still raises
    results = check_all(ns, "01c_weight_sharing")
    out = capsys.readouterr().out
    assert results["equivariance_error"] is False and "equivariance_error_of" not in out, out
    assert "[FAIL] equivariance_error (4 points): 11 of 11 checks failed" in out, out
    assert "`equivariance_error` is not implemented yet (it raised NotImplementedError)" in out, out
    ref = _namespace("01c_weight_sharing", reference_sources("01c_weight_sharing"))
    assert check("equivariance_error", ref["equivariance_error"]) is True
    assert "[PASS] equivariance_error (4 points)" in capsys.readouterr().out
    renamed = {k: v for k, v in ref.items() if k != "equivariance_error"}
    assert check_all(renamed, "01c_weight_sharing")["equivariance_error"] is False
    assert ("[FAIL] equivariance_error (4 points): `equivariance_error` is not defined: did you run its cell, "
            "rename the function") in capsys.readouterr().out
    del ref["equivariance_error_of"]                 # the given cell was not run
    assert check_all(ref, "01c_weight_sharing")["equivariance_error"] is False
    assert ("[FAIL] equivariance_error (4 points): `equivariance_error_of` (the given function that "
            "calls your `equivariance_error`) is not defined") in capsys.readouterr().out


#: session 28's trial: a line trying max_pool2d on the test cells' `x`, at the top of the cell of
#: max_pool2d_backward. In the kernel `x` exists (a test cell ran before); at marking the cell
#: stops there with a NameError: the notebook's check said 13 of 13, marking gave 7
TRY_ON_TEST_X = "print(max_pool2d(x))   # try it on the 4x4 example of the tests above first\n"


def _run_in_a_kernel(nb, folder, monkeypatch) -> list[str]:
    """Run every cell of `nb` in a Python kernel started in `folder`, as a student does; return
    the text each cell printed."""
    from nbclient import NotebookClient
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    client = NotebookClient(nb, timeout=600, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    return ["".join(o.get("text", "") for o in cell.get("outputs", [])) for cell in client.execute().cells]


def _verdicts(text: str) -> dict:
    return {name: mark == "PASS" for mark, name in re.findall(r"\[(PASS|FAIL)\] (\w+) \(", text)}


def _with(assignment, name, change):
    sources = dict(reference_sources(assignment))
    sources[name] = change(sources[name])
    return build_submission(assignment, sources)


def _cell_after(nb, grade_id, source):
    """`nb` with a new code cell `source` right after the cell `grade_id`."""
    place = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(place + 1, nbformat.v4.new_code_cell(source))
    return nb


#: name -> (assignment, the notebook as the student has it, what fails at marking, what the
#: kernel's check must say). The kernel's check must give marking's verdicts, which the command
#: (`python -m grading.checks`, cells in order, no test cells) gives on the saved file.
SESSION_28 = "a line reading a test cell's x above the def (session 28's trial)"
KERNEL_CASES = {
    SESSION_28: (
        "05_pooling", lambda: _with("05_pooling", "max_pool2d_backward", lambda s: TRY_ON_TEST_X + s),
        {"max_pool2d_backward"}, "reads `x` (its line 1) before it defines `max_pool2d_backward`"),
    "the same, with x assigned in a scratch cell below (session 29's review)": (
        "05_pooling", lambda: _cell_after(_with("05_pooling", "max_pool2d_backward", lambda s: TRY_ON_TEST_X + s),
                                          "test_max_pool2d_backward", "x = np.arange(16.0).reshape(1, 1, 4, 4)"),
        {"max_pool2d_backward"}, "no cell above it defines `x`"),
    "the same in a %%time cell": (
        "05_pooling", lambda: _with("05_pooling", "max_pool2d_backward", lambda s: "%%time\n" + TRY_ON_TEST_X + s),
        {"max_pool2d_backward"}, "reads `x` (its line 2)"),
    "a default value read from a test cell's x": (
        "05_pooling", lambda: _with("05_pooling", "avg_pool2d", lambda s: s.replace(
            "stride=None):", "stride=None, example=x[0, 0]):", 1)),
        {"avg_pool2d"}, "before it defines `avg_pool2d`"),
    "a graded variable's cell reading the test cells' x, W, b": (
        "01_mlp", lambda: _with("01_mlp", "param_counts", lambda s: "print(dense_forward(x, W, b))\n" + s),
        {"param_counts"}, "before it defines `param_counts`"),
    "a guarded read: marking runs it with no error": (
        "05_pooling", lambda: _with("05_pooling", "max_pool2d_backward",
                                    lambda s: "if 'x' in globals():\n    print(max_pool2d(x))\n" + s),
        set(), None),
    "the one-line check imported above a def (the notebook's own advice, session 29's trial)": (
        "05_pooling", lambda: _with("05_pooling", "max_pool2d", lambda s: "from grading.checks import check\n" + s
                                    + '\ncheck("max_pool2d", max_pool2d)\n'),
        {"max_pool2d"},
        "its cell imports grading.checks before the def; at marking grading.checks (the grader's own code) is not there"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_the_check_cell_in_a_kernel_gives_the_verdicts_of_marking(case, tmp_path, capsys, monkeypatch):
    assignment, make, failing, said = KERNEL_CASES[case]
    nb = make()
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    in_kernel = _run_in_a_kernel(nb, tmp_path, monkeypatch)[-1]
    from grading.checks import check_notebook   # the command, on the saved file: as marking
    on_file = check_notebook(path)
    on_file.pop("time limits at marking", None)
    assert {name for name, passed in on_file.items() if not passed} == failing, capsys.readouterr().out
    assert _verdicts(in_kernel) == on_file, in_kernel
    assert said is None or said in in_kernel, in_kernel
    assert "note:" not in in_kernel, in_kernel   # found and saved


@pytest.mark.slow
def test_a_renamed_notebook_is_found_without_a_restart(tmp_path, monkeypatch):
    """Renamed in JupyterLab, the kernel not restarted: JPY_SESSION_NAME names a file that is gone."""
    nb = KERNEL_CASES[SESSION_28][1]()
    nbformat.write(nb, tmp_path / "05_pooling-v2.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "05_pooling.ipynb"))
    in_kernel = _run_in_a_kernel(nb, tmp_path, monkeypatch)[-1]
    assert "[FAIL] max_pool2d_backward" in in_kernel and "reads `x` (its line 1)" in in_kernel


@pytest.mark.slow
def test_unsaved_or_missing_notebooks_are_said(tmp_path, monkeypatch):
    nb = KERNEL_CASES[SESSION_28][1]()
    in_kernel = _run_in_a_kernel(nb, tmp_path, monkeypatch)[-1]   # never saved
    assert "note: your saved notebook of 05_pooling is not in this folder" in in_kernel
    nbformat.write(build_submission("05_pooling", reference_sources("05_pooling")), tmp_path / "05_pooling.ipynb")
    in_kernel = _run_in_a_kernel(nb, tmp_path, monkeypatch)[-1]   # saved before the change
    assert ("WARNING: your notebook is not saved: the cell of `max_pool2d_backward` differs from the saved "
            "file (05_pooling.ipynb)") in in_kernel


@pytest.mark.slow
def test_a_function_reading_a_test_cells_name_fails_in_the_kernel_as_at_marking(tmp_path, monkeypatch):
    """avg_pool2d's parameter renamed, its body still reads `x`: in the kernel that is the test
    cells' `x`; the checks run with it out of reach, as at marking, and put it back after."""
    nb = _with("05_pooling", "avg_pool2d", lambda s: s.replace("def avg_pool2d(x,", "def avg_pool2d(images,", 1))
    nbformat.write(nb, tmp_path / "05_pooling.ipynb")
    nb.cells.insert(-1, nbformat.v4.new_code_cell('from grading.checks import check\ncheck("avg_pool2d")'))
    nb.cells.append(nbformat.v4.new_code_cell("print('x is back:', x.shape)"))
    *_, check_one, check_cell, after = _run_in_a_kernel(nb, tmp_path, monkeypatch)
    assert "[FAIL] avg_pool2d" in check_one and "`x` exists in your notebook only" in check_one, check_one
    assert "[FAIL] avg_pool2d" in check_cell and "'x' is not defined" in check_cell, check_cell
    assert "`x` exists in your notebook only because a visible test cell defines it" in check_cell
    assert "x is back: (1, 1, 4, 4)" in after


@pytest.mark.slow
def test_a_scratch_cell_importing_a_refused_module_is_warned_of(tmp_path, capsys, monkeypatch):
    """It costs no points (it defines nothing graded), but pre-flight flags the notebook for a
    person: the student hears of it in both checks, from the saved notebook."""
    nb = build_submission("05_pooling", dict(reference_sources("05_pooling")))
    nb.cells.insert(-2, nbformat.v4.new_code_cell("from scipy.ndimage import maximum_filter\n"
                                                  "print(maximum_filter(x[0, 0], size=2))"))
    path = tmp_path / "05_pooling.ipynb"
    nbformat.write(nb, path)
    in_kernel = _run_in_a_kernel(nb, tmp_path, monkeypatch)[-1]
    assert "[FAIL]" not in in_kernel
    warning = r"WARNING: cell \d+ \('from scipy.ndimage import maximum_filter'\) imports scipy.ndimage, which marking refuses"
    assert re.search(warning, in_kernel), in_kernel
    from grading.checks import check_notebook
    assert all(check_notebook(path).values())
    out = capsys.readouterr().out
    assert re.search(warning, out), out
    assert "name 'x' is not defined (`x` exists in your notebook only because a visible test cell" in out


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_each_solution_run_in_a_kernel_gets_full_points_from_its_check_cell(name, monkeypatch):
    """Run top to bottom, test cells included, as a student runs it: the names only the test cells
    define are left out of the checks, and no correct answer needs them."""
    path = ROOT / "solutions" / name / f"{name}.ipynb"
    text = _run_in_a_kernel(nbformat.read(path, as_version=4), path.parent, monkeypatch)[-1]
    n_passed, n_checks, earned, total = re.search(r"(\d+) of (\d+) passed: (\d+) of (\d+) points", text).groups()
    assert (n_passed, earned) == (n_checks, total) and "[FAIL]" not in text and "WARNING" not in text, text


def test_a_hand_edited_notebook_file_is_passed_over_not_a_crash(tmp_path, monkeypatch, capsys):
    """The kernel's check reads the saved file: cells whose nbgrader metadata is not a mapping are
    not the assignment's notebook, and the check says it found none."""
    from grading.checks import prehandin
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    (tmp_path / "05_pooling.ipynb").write_text(
        '{"cells": [{"cell_type": "code", "metadata": {"nbgrader": "oops"}, "source": "x = 1"}]}')
    assert prehandin._saved_notebook({"In": [], "get_ipython": print}, "05_pooling") is None
    assert "note: your saved notebook of 05_pooling is not in this folder" in capsys.readouterr().out
