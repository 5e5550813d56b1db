"""What every autograded test cell checks: the Check/Case registry of the course.

``CHECKS`` maps each test cell's nbgrader ``grade_id`` to a :class:`Check`. A check draws its
cases with ``make_cases(rng)`` in the trusted process; every expected value is computed there
with ``cnnlib``. The visible examples of the notebook are among the cases.

Running a case (in process, :func:`run_case`; the sandbox does the same in a child process):

1. call ``target(*copy(case.args), **copy(case.kwargs))`` (kind "function"; a copy in which a
   view stays a view, as in the sandbox), or read the variable ``target`` (kind "value");
2. ``case.check(got)``: None if right, else a learner-facing message;
3. for functions, :func:`inputs_changed` ``(case, args_after, kwargs_after, check.params)``
   compares the copies after the call with the pristine inputs: a function that mutates its
   input fails, even when its return value is right.

Messages name the check's ``shown`` (default: the target): the name the student knows.

Source notebooks call :func:`run_check` in their hidden tests::

    from grading.checks import run_check
    run_check("test_conv2d_single", globals())
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager, nullcontext

import numpy as np

from ._core import (MAX_SHOWN, TIME_TRIES, Case, Check, Variant, array_check, describe, inputs_changed, judge,
                    missing, outcome_verdict, scalar_check, shared_inputs, verdict, to_array, tuple_check)
from ._layout import fresh_inputs
from . import (a01_mlp, a01b_pipeline_shapes, a01c_weight_sharing, a02_convolution, a03_hyperparameters,
               a03b_im2col, a04_features, a05_pooling, a05a_one_by_one, a05b_learning, a06_backprop)
from ._pristine import pristine   # after the checks' modules: it keeps what they use (cnnlib)

__all__ = ["Case", "Check", "Variant", "CHECKS", "ASSIGNMENTS", "run_check", "run_case",
           "inputs_changed", "array_check", "scalar_check", "tuple_check", "to_array", "describe"]

_MODULES = (a01_mlp, a01b_pipeline_shapes, a01c_weight_sharing, a02_convolution, a03_hyperparameters,
            a03b_im2col, a04_features, a05_pooling, a05a_one_by_one, a05b_learning, a06_backprop)

CHECKS: dict[str, Check] = {}
for _module in _MODULES:
    for _check in _module.CHECKS:
        if _check.grade_id in CHECKS:  # pragma: no cover - caught by the tests
            raise RuntimeError(f"duplicate grade_id {_check.grade_id}")
        CHECKS[_check.grade_id] = _check

#: assignment name -> its checks, in notebook order
ASSIGNMENTS: dict[str, list[Check]] = {}
for _check in CHECKS.values():
    ASSIGNMENTS.setdefault(_check.assignment, []).append(_check)


class CheckTimeout(Exception):
    """Raised inside the student's function when a check runs out of time (in process only)."""


#: In process, as in the sandbox, a check's time limit counts the CPU seconds of this process
#: (ITIMER_PROF), so a correct function passes on a loaded machine; the wall clock only backs it
#: up (WALL_FACTOR x the limit + WALL_SLACK seconds), for code that sleeps or blocks.
WALL_FACTOR = 5.0
WALL_SLACK = 2.0
_TIMERS = ((signal.ITIMER_PROF, signal.SIGPROF), (signal.ITIMER_REAL, signal.SIGALRM))


@contextmanager
def _time_limit(seconds):
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise CheckTimeout()

    old = [signal.signal(sig, _raise) for _, sig in _TIMERS]
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * WALL_FACTOR + WALL_SLACK)
    try:
        yield
    finally:
        for (timer, sig), handler in zip(_TIMERS, old):
            signal.setitimer(timer, 0)
            signal.signal(sig, handler)


@contextmanager
def _paused():
    """Stop the clocks of :func:`_time_limit` while the trusted side copies and judges, with the
    modules' own functions (:func:`pristine`: not those a notebook put in their place).

    The time limit is the student's function's (as in the sandbox, where judging happens in the
    parent): on large cases, copying the inputs and comparing a million values must neither
    count against it nor be interrupted halfway (which would turn a right answer into an
    unreadable failure).
    """
    if threading.current_thread() is not threading.main_thread():
        with pristine():
            yield
        return
    remaining = [signal.setitimer(timer, 0)[0] for timer, _ in _TIMERS]
    try:
        with pristine():
            yield
    finally:
        for (timer, _), left in zip(_TIMERS, remaining):
            if left > 0:
                signal.setitimer(timer, left)


def run_case(check: Check, case: Case, namespace: dict, explain=None, guard=None) -> "str | None":
    """Run one case in this process; None if it passes, else the message.

    `explain(fn, exc, args, kwargs)`: what the notebook's visible tests say about an exception
    (its ``raised_message``); the lines after its first (where in the student's code, the hint)
    follow the grader's own message. `guard()`: a context manager around the call alone (the
    pre-hand-in check refuses there the imports that marking refuses).
    """
    fn = namespace.get(check.target)
    if check.target not in namespace or (fn is None and check.kind != "value"):
        return f"{missing(check)} is not defined: did you run its cell?"
    if check.kind == "value":
        return outcome_verdict(check, case, {"status": "ok", "value": fn})[0]
    if not callable(fn):
        return f"{missing(check)} is {describe(fn)}, not a function"
    with _paused():
        args, kwargs = fresh_inputs(case.args), fresh_inputs(case.kwargs)   # views stay views
    try:
        with guard() if guard is not None else nullcontext():
            value = fn(*args, **kwargs)
        outcome = {"status": "ok", "value": value, "inputs_after": (args, kwargs)}
        with _paused():
            outcome["shares"] = _shares(outcome["value"], args, kwargs) if check.fresh else []
    except CheckTimeout:
        raise
    except Exception as exc:
        outcome = {"status": "raised", "type": type(exc).__name__, "error": str(exc)}
        if explain is not None:
            with _paused():
                outcome["detail"] = _detail(explain, fn, exc, args, kwargs)
    with _paused():
        return outcome_verdict(check, case, outcome)[0]


def _shares(value, args, kwargs) -> list:
    """shared_inputs, or [] for a value it cannot look into."""
    try:
        return shared_inputs(value, args, kwargs)
    except Exception:
        return []


def _detail(explain, fn, exc, args, kwargs) -> str:
    """The lines of `explain`'s message after its first ("" if it raises or gives none)."""
    try:
        return "\n".join(str(explain(fn, exc, args, kwargs)).splitlines()[1:])
    except Exception:
        return ""


def run_check(grade_id: str, namespace: dict, seed=None, timeout=None, explain=None, guard=None) -> None:
    """Run every case of check `grade_id` against `namespace` (e.g. ``globals()``).

    `seed` seeds the cases' random generator (default: fresh entropy); `timeout` overrides the
    check's time limit in seconds; `explain`, `guard`: see :func:`run_case` (the same explanation
    is given once, at the first case that gets it). Raises AssertionError listing the failed cases'
    messages (the first MAX_SHOWN of them); prints one line when all pass.
    """
    check = CHECKS[grade_id]
    limit = check.timeout if timeout is None else timeout
    with pristine():
        cases = check.make_cases(np.random.default_rng(seed))
    given: set = set()   # the explanations given so far (in this try)

    def once(*call):
        head, _, detail = str(explain(*call)).partition("\n")
        if detail in given:
            return head
        given.add(detail)
        return f"{head}\n{detail}"

    for _ in range(TIME_TRIES if check.timeout_is_verdict else 1):  # see TIME_TRIES
        messages = []
        given.clear()
        try:
            with _time_limit(limit):
                for case in cases:
                    messages.append(run_case(check, case, namespace, explain and once, guard))
            break
        except CheckTimeout:
            messages.append(outcome_verdict(check, case, {"status": "timeout", "limit": limit, "n": len(cases)})[0])
    passed, message = verdict(check.shown, cases, messages)
    if not passed:
        raise AssertionError(message)
    print(message)


# The pre-hand-in check (students run the grader's checks themselves; see prehandin.py).
from .prehandin import check, check_all, check_notebook  # noqa: E402

__all__ += ["check", "check_all", "check_notebook"]
