"""A notebook's helpers for its visible tests (Check.hide) earn nothing when a graded function calls them.

03b's locked helpers cell gives `im2col_loops` and `conv2d_loops`, complete loop versions of the
graded functions; a mutation trial (session 30) returned their results and got 10 of 13 points.
While a check's calls run, those helpers raise NameError (in the jail's check process, and around
each call of the pre-hand-in check, which puts them back afterwards); the grader names the helper.
A function of the student's own that has a helper's name is not the helper, and runs.
"""
from __future__ import annotations

import textwrap

import nbformat
import numpy as np
import pytest

from grading import jail_runner
from grading.checks import ASSIGNMENTS, CHECKS, outcome_verdict
from grading.checks._core import HELPER_MARK, given_helpers, helper_called, refused_helpers
from grading.checks.prehandin import check, verdict
from grading_catalogue import reference_sources
from grading_catalogue.build import ROOT

HIDDEN = ("im2col_loops", "conv2d_loops")

CELLS = f'''
import numpy as np


def im2col_loops(x):
    """The helper ({HELPER_MARK})."""
    return x + 1


loops = im2col_loops          # the helper under another name
keep = {{"f": im2col_loops}}    # and inside a container: the same function


def conv2d_loops(x):
    """The student's own, with the helper's name."""
    return x * 10


def uses_alias(x):
    return loops(x)


def uses_default(x, f=im2col_loops):
    return f(x)
'''


def _namespace() -> dict:
    ns: dict = {"__name__": "__main__"}
    exec(textwrap.dedent(CELLS), ns)
    return ns


def test_the_helpers_refuse_inside_and_are_back_afterwards():
    ns = _namespace()
    helper, own = ns["im2col_loops"], ns["conv2d_loops"]
    found = given_helpers([ns], HIDDEN)
    assert found == [helper], found   # once, though bound under three names; not the student's own
    with refused_helpers(found):
        for call in (lambda: ns["im2col_loops"](1), lambda: ns["uses_alias"](1), lambda: ns["uses_default"](1),
                     lambda: ns["keep"]["f"](1)):
            with pytest.raises(NameError, match="^name 'im2col_loops' is not defined$"):
                call()
        assert ns["conv2d_loops"](2) == 20   # a student's function whose own name collides runs
    assert ns["im2col_loops"] is helper and ns["conv2d_loops"] is own
    assert ns["im2col_loops"](1) == 2 and ns["uses_alias"](1) == 2 and ns["uses_default"](1) == 2
    assert helper.__doc__ == f"The helper ({HELPER_MARK})."


def test_the_helpers_are_back_after_an_exception():
    ns = _namespace()
    with pytest.raises(KeyError):
        with refused_helpers(given_helpers([ns], HIDDEN)):
            raise KeyError("the check stopped")
    assert ns["im2col_loops"](1) == 2


def test_odd_objects_in_the_namespace_are_passed_over():
    class Raising:
        def __getattr__(self, name):
            raise RuntimeError(name)

    class Named:
        __name__ = "im2col_loops"
        __doc__ = HELPER_MARK

    ns = dict(_namespace(), odd=Raising(), named=Named(), number=3)
    assert given_helpers([ns], HIDDEN) == [ns["im2col_loops"]]
    jail_runner.refuse_helpers(ns, list(HIDDEN), HELPER_MARK)   # nothing raises
    with pytest.raises(NameError):
        ns["uses_alias"](1)


def test_the_jails_twin_refuses_the_same_functions():
    """grading/jail_runner.py cannot import grading.checks: its refuse_helpers is a twin."""
    ns = _namespace()
    jail_runner.refuse_helpers(ns, list(HIDDEN), HELPER_MARK)
    for name in ("im2col_loops", "uses_alias", "uses_default"):
        with pytest.raises(NameError, match="^name 'im2col_loops' is not defined$"):
            ns[name](1)
    assert ns["conv2d_loops"](2) == 20
    untouched = _namespace()
    jail_runner.refuse_helpers(untouched, [], HELPER_MARK)   # a check without `hide`
    assert untouched["uses_alias"](1) == 2


def test_the_name_error_of_a_hidden_helper_is_the_graders_message():
    chk = CHECKS["test_im2col"]
    case = chk.make_cases(np.random.default_rng(0))[0]
    raised = {"status": "raised", "type": "NameError", "error": "name 'conv2d_loops' is not defined"}
    message, flag = outcome_verdict(chk, case, raised)
    assert message == ("`im2col` calls the notebook's helper `conv2d_loops`, which is there for the visible "
                       "tests: write your own") and flag is None
    other = dict(raised, error="name 'x_pad' is not defined")   # the student's own NameError
    assert outcome_verdict(chk, case, other)[0] == "`im2col` raised NameError: name 'x_pad' is not defined"
    assert helper_called(CHECKS["test_conv2d"], raised) is None   # a check without `hide`


# ----------------------------------------------------------------------------- the pre-hand-in check
DELEGATING = '''
def im2col(x, Fh, Fw, stride, padding):
    return im2col_loops(x, Fh, Fw, stride, padding)
'''


def _notebook_namespace(im2col_source: str) -> dict:
    """The 03b notebook's helpers cell, an im2col, and the reference conv2d_im2col."""
    nb = nbformat.read(ROOT / "exercises" / "03b_im2col" / "03b_im2col.ipynb", as_version=4)
    helpers = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "helpers")
    ns: dict = {"__name__": "__main__"}
    for source in (helpers, im2col_source, reference_sources("03b_im2col")["conv2d_im2col"]):
        exec(source, ns)
    return ns


def test_the_pre_hand_in_check_refuses_the_helpers_and_puts_them_back(capsys):
    ns = _notebook_namespace(DELEGATING)
    helper = ns["im2col_loops"]
    message = verdict("test_im2col", ns, seed=0)
    assert "`im2col` calls the notebook's helper `im2col_loops`, which is there for the visible tests: " \
           "write your own" in message, message
    message = verdict("test_conv2d_im2col", ns, seed=0)   # through the student's im2col
    assert "`conv2d_im2col` calls the notebook's helper `im2col_loops`" in message, message
    assert ns["im2col_loops"] is helper
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    assert np.array_equal(ns["im2col_loops"](x, 2, 2, 1, 0), ns["im2col"](x, 2, 2, 1, 0))   # works again
    assert check("im2col", ns["im2col"], seed=0) is False   # one function: the helpers of its notebook
    assert "calls the notebook's helper `im2col_loops`" in capsys.readouterr().out
    assert np.array_equal(ns["im2col_loops"](x, 2, 2, 1, 0), ns["im2col"](x, 2, 2, 1, 0))


def test_a_helper_kept_from_an_earlier_run_of_its_cell_is_refused_too():
    """The helpers cell run again makes new helpers; a function that kept the old one as a
    default argument still calls it. Marking runs the notebook once, so there it is the helper
    and refuses (0 points); the kernel's check said PASS (a review)."""
    ns = _notebook_namespace("""
def im2col(x, Fh, Fw, stride, padding, reference=im2col_loops):
    return reference(x, Fh, Fw, stride, padding)
""")
    exec(_helpers_cell("03b_im2col"), ns)      # the helpers cell, run again
    kept = ns["im2col"].__defaults__[0]
    assert kept is not ns["im2col_loops"]
    message = verdict("test_im2col", ns, seed=0)
    assert "`im2col` calls the notebook's helper `im2col_loops`" in (message or ""), message
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    assert kept(x, 2, 2, 1, 0).shape == ns["im2col_loops"](x, 2, 2, 1, 0).shape   # works again


def test_a_right_answer_with_the_helpers_present_passes():
    ns = _notebook_namespace(reference_sources("03b_im2col")["im2col"])
    for chk in ASSIGNMENTS["03b_im2col"]:
        assert verdict(chk.grade_id, ns, seed=0) is None, chk.grade_id


# ----------------------------------------------------------------------------- the notebooks
def _helpers_cell(assignment: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "helpers")


@pytest.mark.parametrize("grade_id", sorted(g for g, c in CHECKS.items() if c.hide))
def test_each_hidden_name_is_a_helper_of_the_notebook_and_its_task_says_so(grade_id):
    """The names of a check's `hide` are functions of its notebook's helpers cell whose docstring
    says HELPER_MARK (else they would never be refused), without a closure (their code can be
    swapped); the task's Marking paragraph names them and says that a call earns no points."""
    chk = CHECKS[grade_id]
    ns: dict = {}
    exec(_helpers_cell(chk.assignment), ns)
    for name in chk.hide:
        fn = ns.get(name)
        assert callable(fn) and HELPER_MARK in (fn.__doc__ or ""), (grade_id, name)
        assert not fn.__code__.co_freevars, name
        assert given_helpers([ns], (name,)) == [fn]
    from test_rules import task_text
    marking = " ".join(task_text(chk).split("**Marking.**")[1].split())
    assert all(f"`{name}`" in marking for name in chk.hide) and "earns no points" in marking, marking


def test_the_visible_tests_refuse_the_helpers_only_while_the_students_function_runs():
    """03b's `call` refuses the loop helpers inside the student's function, with the grader's words;
    the tests' own calls of them (the expected answers) work before and after."""
    ns = _notebook_namespace(DELEGATING)
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    with pytest.raises(AssertionError, match="^`im2col` calls the notebook's helper `im2col_loops`, which is there "
                                             "for the visible tests: write your own$"):
        ns["call"](ns["im2col"], x, 2, 2, 1, 0)
    assert ns["YOURS_RUNNING"] == []
    assert ns["im2col_loops"](x, 2, 2, 1, 0).shape == (4, 4)
    ns = _notebook_namespace(reference_sources("03b_im2col")["im2col"])
    assert ns["call"](ns["im2col"], x, 2, 2, 1, 0).shape == (4, 4) and ns["YOURS_RUNNING"] == []
