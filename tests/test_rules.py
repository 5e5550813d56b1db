"""Every rule a task states is drawn by its check, and every edge case a check draws is stated.

Each task of an exercise ends with a **Marking.** paragraph (grading/checks/rules.py reads its
fixed phrases); the check's cases are inspected for what they actually draw: several images,
channels and filters, non-square images and kernels, strides that do not divide, padding 0,
ties, overlapping windows, float32, tuples, the default arguments, inputs unchanged, inputs that
are not C-contiguous, the dtype kept, whole numbers given as floats, what may be imported, and
the seconds its checks may take.
"""
from __future__ import annotations

import inspect
import re

import nbformat
import numpy as np
import pytest

from grading.checks import CHECKS
from grading.checks.rules import PHRASES, drawn, stated, stated_seconds
from grading_catalogue.build import ROOT

SEEDS = range(3)


def task_text(check) -> str:
    """The markdown cell that states the task whose solution cell defines `check.target`."""
    nb = nbformat.read(ROOT / "solutions" / check.assignment / f"{check.assignment}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    i = ids.index(check.cell)
    return next(c.source for c in reversed(nb.cells[:i]) if c.cell_type == "markdown")


def drawn_rules(check) -> set[str]:
    out: set[str] = set()
    for seed in SEEDS:
        out |= drawn(check, np.random.default_rng(seed))
    return out


@pytest.mark.parametrize("grade_id", sorted(CHECKS))
def test_the_task_states_exactly_what_its_check_draws(grade_id):
    check = CHECKS[grade_id]
    text = task_text(check)
    assert "**Marking.**" in text, (
        f"{check.assignment}: the task of `{check.target}` needs a paragraph at its end, such as: "
        f"**Marking.** " + "; ".join(PHRASES[r] for r in sorted(drawn_rules(check)))
        + f". All its checks together must finish within {check.timeout:g} s of CPU time.")
    # checks of one task (conv2d_im2col: its values, and one matrix product) share its paragraph
    siblings = [c for c in CHECKS.values() if c.assignment == check.assignment and c.cell == check.cell]
    said, done = stated(text), set().union(*(drawn_rules(c) for c in siblings))
    assert said - done == set(), f"{check.target}: stated but drawn by no check: {sorted(said - done)}"
    assert done - said == set(), (f"{check.target}: drawn at marking but not stated: "
                                  + "; ".join(f"{r!r} (say: {PHRASES[r]!r})" for r in sorted(done - said)))
    assert stated_seconds(text) == siblings[0].timeout, (check.target, stated_seconds(text), check.timeout)
    for other in siblings[1:]:
        assert f"{other.timeout:g} s of CPU time" in " ".join(text.split()), (other.grade_id, other.timeout)


#: how a task promises an int; "(an int, or a float such as 9.0)" says what is marked
PROMISES_AN_INT = re.compile(r"\b(an int|of ints|one int|ints? (?:is|are) expected)\b(?!, or a float)", re.I)


@pytest.mark.parametrize("grade_id", sorted(CHECKS))
def test_a_task_that_promises_an_int_is_marked_so(grade_id):
    """Where the marking compares values (9.0 passes for 9), the task does not ask for "an int";
    where it asks for one (conv_output_size, conv_param_count), 9.0 fails."""
    check = CHECKS[grade_id]
    text = " ".join(task_text(check).replace("`", "").split())
    promised = PROMISES_AN_INT.findall(text)
    if "whole floats" in drawn_rules(check):
        assert not promised, f"{check.target}: the task promises {promised} but the marking accepts 9.0 for 9"
    elif any(isinstance(case.expected, int) for case in check.make_cases(np.random.default_rng(0))):
        assert promised, f"{check.target}: the marking refuses 9.0 for 9 and the task does not say an int is expected"


def test_the_cell_time_limit_stated_is_the_graders():
    from grading.sandbox import run_checks
    defaults = inspect.signature(run_checks).parameters
    cell, cells = defaults["cell_timeout"].default, defaults["cells_timeout"].default
    found = 0
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        text = " ".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        for seconds, total in re.findall(r"at most (\d+) s of CPU time \(all cells together (\d+) s\)",
                                         " ".join(text.split())):
            assert (float(seconds), float(total)) == (cell, cells), path.name
            found += 1
    assert found >= 1   # at least the training task of 06_backprop states it


def test_the_rules_of_every_task_are_listed():
    """The table of rules per task and the checks that draw them (printed with -s)."""
    lines = []
    for gid, check in sorted(CHECKS.items(), key=lambda kv: (kv[1].assignment, kv[0])):
        rules = sorted(drawn_rules(check))
        lines.append(f"{check.assignment:<20} {check.target:<22} {gid:<28} {', '.join(rules)}")
        assert rules, gid
    print("\n".join(lines))
    assert len(lines) == len(CHECKS)


def test_stated_reads_only_the_marking_paragraph():
    text = ("**Task.** padding 0 and ties.\n\n**Marking.** float32 inputs, N > 1. A whole number is expected (an int, "
            "or a float such as 9.0). NumPy only. within 10 s of CPU.\n\nLater: K > 1.")
    assert stated(text) == {"float32", "N > 1", "whole floats", "NumPy only"}
    assert stated_seconds(text) == 10.0
    assert stated("no paragraph") == set()


@pytest.mark.parametrize("grade_id", sorted(CHECKS))
def test_a_task_that_says_n_above_1_says_n_1_when_a_case_has_n_1(grade_id):
    """"Random batches with N > 1" read as "never N = 1", yet some cases had N=1 (which catches
    real bugs, so they stay): a task whose text says N > 1 says N = 1 is among the cases too."""
    check = CHECKS[grade_id]
    text = " ".join(task_text(check).replace("`", "").split())
    labels = [case.label for case in check.make_cases(np.random.default_rng(0))]
    if "N > 1" in text and any(re.search(r"\bN=1\b", label) for label in labels):
        assert "N = 1" in text, (grade_id, [lab for lab in labels if "N=1" in lab])
