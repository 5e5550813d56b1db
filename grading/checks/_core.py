"""The Check/Case contract and the comparison helpers every check is built from.

A check never trusts what it is given: whatever the student's function returned (None, a
list, a string, an ndarray subclass with a strange ``__eq__``, NaN, a wrong shape) is first
converted into a plain float64 ``numpy.ndarray`` inside ``try``; anything that cannot be
converted is a failure with a message, never an exception. Comparisons use
``np.allclose`` on those plain arrays only. When in doubt a check fails: a grader that
gives credit to a wrong answer is a bug.

Known mistakes are recognised by computing the known-wrong answer in the trusted process
(a :class:`Variant`) and comparing the student's answer with it too.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Case:
    """One call of the student's function (or one look at a variable) and its verdict."""

    label: str  # learner-facing, no array values
    args: tuple
    kwargs: dict
    expected: object  # computed by the trusted reference (cnnlib)
    check: Callable[[object], "str | None"]  # None if right, else a teaching message


#: Tries of a check whose verdict is its time (``timeout_is_verdict``) before it fails for time.
#: A busy machine only ever adds CPU time (a neighbour's cache misses, page faults, a virtual
#: machine's stolen time counted as ours), so the quickest try is the truest: a right answer
#: needs one try of normal speed, while a loop over positions is over the limit on every try
#: (a continuous-integration run once counted 2 s for a right answer measured at 0.3 to 0.8 s).
TIME_TRIES = 3


@dataclass(frozen=True)
class Check:
    """What one autograded test cell (by its nbgrader ``grade_id``) checks."""

    grade_id: str
    assignment: str
    target: str
    kind: str  # "function" or "value"
    make_cases: Callable[[np.random.Generator], "list[Case]"]
    allow_cnnlib: bool = False
    timeout: float = 10.0
    # Additions (defaults keep the contract): the solution cell that defines `target`,
    # the target's parameter names (for messages about mutated inputs) and the points.
    cell: str = ""
    params: tuple = ()
    points: int = 0
    # For a target that calls the student's functions (01c's locked wrapper): (case, args after,
    # kwargs after) -> a message naming the function that changed an input, or None.
    changed: "Callable | None" = None
    # The name in every message a student or instructor reads (default: the target). 01c's target
    # is a locked wrapper the student never wrote; its messages name their `equivariance_error`.
    shown: str = ""
    # The task asks for a NEW array: a result that shares memory with an array input (the input
    # itself, or a view of it) fails, even when its values are right.
    fresh: bool = False
    # Running out of time is this check's verdict (03b's one-product check exists to time the
    # function): its timeout is a failure the message explains, not a flag for a person. Such a
    # check gets up to TIME_TRIES tries, in process and in the sandbox alike.
    timeout_is_verdict: bool = False
    # What such a timeout's message asks instead of "(an endless loop?)": the likely cause.
    timeout_cause: str = ""
    # The pre-hand-in summary's name for this check (default: `shown`); a target with two checks
    # needs it for the second ("conv2d_im2col: one matrix product").
    label: str = ""
    # The notebook's own helpers for its visible tests (03b's loop references `im2col_loops`,
    # `conv2d_loops`): while the check's calls run, each refuses to run (it raises NameError,
    # as if it were not defined), in the jail and in the pre-hand-in check alike, so that a
    # function that calls one (itself or through another function) earns nothing; the helper
    # is recognised as the notebook's by its docstring (HELPER_MARK): a function of the
    # student's own under that name runs. See given_helpers and helper_called.
    hide: tuple = ()

    def __post_init__(self):
        if not self.shown:
            object.__setattr__(self, "shown", self.target)
        if not self.label:
            object.__setattr__(self, "label", self.shown)
        if self.timeout_is_verdict and not self.timeout_cause:
            raise ValueError(f"Check {self.grade_id}: a timeout that is the verdict needs its timeout_cause")


def missing(check: Check) -> str:
    """How a message names a target that is not defined: the target, and for a wrapper (`shown`
    differs) the student's function that it calls."""
    if check.shown == check.target:
        return f"`{check.target}`"
    return f"`{check.target}` (the given function that calls your `{check.shown}`)"


#: what the docstring of each notebook helper named in a Check's `hide` says (it is the notebook's,
#: not a function of the student's own that happens to have its name)
HELPER_MARK = "for the visible tests"


def given_helpers(scopes, names) -> list:
    """The notebook's helpers named `names` (a Check's `hide`) in the namespaces `scopes`: the
    functions whose ``__name__`` is one of `names` and whose docstring says HELPER_MARK, under
    any name (an alias, ``loops = im2col_loops``, is the same function). The jail's runner has
    its twin."""
    found = {}
    for scope in scopes:
        for obj in list(scope.values()):
            try:   # any object of the notebook's: its attributes may raise
                name = getattr(obj, "__name__", None)
                if (type(name) is str and name in names and hasattr(obj, "__code__")
                        and HELPER_MARK in str(getattr(obj, "__doc__", "") or "")):
                    found[id(obj)] = obj
            except Exception:
                continue
    return list(found.values())


def refusing_code(name: str):
    """The code a helper runs while refused: it raises NameError, as if `name` were not
    defined (the jail's runner has its twin)."""
    if not name.isidentifier():
        raise ValueError(f"not a name: {name!r}")
    scope: dict = {}
    exec(f"def {name}(*args, **kwargs):\n    raise NameError(\"name '{name}' is not defined\", name='{name}')", scope)
    return scope[name].__code__


@contextlib.contextmanager
def refused_helpers(helpers):
    """While the student's function is called (in process: the pre-hand-in check): each helper
    of `helpers` (see given_helpers) runs refusing_code; its own code is back afterwards. A
    helper with a closure (none of the notebooks' has one) keeps its code."""
    saved = []
    try:
        for fn in helpers:
            code = fn.__code__
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                fn.__code__ = refusing_code(fn.__name__)
                saved.append((fn, code))
        yield
    finally:
        for fn, code in saved:
            fn.__code__ = code


def helper_called(check: "Check", outcome: dict) -> "str | None":
    """The message for a call that raised NameError for one of the check's `hide` (a helper of
    the notebook's, refused while the check's calls run), else None."""
    if not check.hide or outcome.get("status") != "raised" or outcome.get("type") != "NameError":
        return None
    text = str(outcome.get("error", ""))
    name = next((n for n in check.hide if text == f"name '{n}' is not defined"), None)
    if name is None:
        return None
    return (f"`{check.shown}` calls the notebook's helper `{name}`, which is there for the visible tests: "
            f"write your own")


@dataclass(frozen=True)
class Variant:
    """A known mistake: its answer (``value``) or only its shape, and what to tell the student."""

    message: str
    value: object = None
    shape: tuple | None = None

    @property
    def vshape(self):
        if self.value is not None:
            return np.shape(self.value)
        return self.shape


# --------------------------------------------------------------------------- conversion
def describe(obj) -> str:
    """A short, safe description of any object: its type and, for arrays, shape and dtype."""
    try:
        name = type(obj).__name__
    except Exception:  # pragma: no cover - paranoid
        return "an object"
    if obj is None:
        return "None"
    if name == "UnsupportedValue":   # what the jail sends for an object that is not a plain value
        return f"a {str(getattr(obj, 'type_name', 'object'))[:80]} object (not a plain array, number or tuple)"
    try:
        if isinstance(obj, np.ndarray):
            return f"an array of shape {tuple(int(n) for n in obj.shape)} and dtype {obj.dtype}"
        if isinstance(obj, (list, tuple)):
            return f"a {name} of length {len(obj)}"
        if isinstance(obj, (bool, int, float, np.number)):
            return f"the {name} {float(obj):.6g}"
    except Exception:
        pass
    return f"a {name}"


#: a complex answer, in the visible tests' words: an FFT's result keeps its imaginary part
COMPLEX = "returned complex numbers; real ones are expected (from an FFT? keep its `.real` part)"


def to_array(got):
    """Convert `got` to a plain float64 ndarray: (array, None), or (None, message) if it cannot."""
    if got is None:
        return None, "returned None: is the `return` statement missing?"
    if isinstance(got, (str, bytes, dict, set)):
        return None, f"returned {describe(got)}, expected numbers"
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            raw = np.asarray(got)
            if raw.dtype.kind == "c":
                return None, COMPLEX
            if raw.dtype.kind not in "biuf":
                return None, f"returned {describe(got)}, which is not an array of real numbers"
            arr = np.array(raw, dtype=np.float64, copy=True, subok=False)
        if type(arr) is not np.ndarray:  # pragma: no cover - np.array(subok=False) guarantees it
            return None, f"returned {describe(got)}, expected a plain array"
        return arr, None
    except Exception:
        return None, f"returned {describe(got)}, which cannot be read as an array of numbers"


def not_numbers(msg: str, expecting: str) -> str:
    """to_array's message and what was expected ("expected an array of shape (2, 2)"); the
    complex answer's message already says what is expected, and is not a shape error."""
    return msg if msg == COMPLEX else f"{msg}; {expecting}"


def fmt_shape(shape) -> str:
    return str(tuple(int(n) for n in shape))


def fmt_num(v) -> str:
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


def _close(a, b, rtol, atol) -> bool:
    try:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return False
        if np.shape(atol) not in ((), a.shape):   # a per-value atol, and a variant of another shape
            atol = float(np.max(atol))
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))
    except Exception:
        return False


#: what a sum computed in float32 may lose, as a fraction of the sum of its terms' magnitudes:
#: 168 units of float32's rounding (2**-24), the worst case of a sequential sum of ~160 terms;
#: the float32 sums of the catalogue lose 1-3 units. A known mistake changes a value by a whole
#: term (a missing bias, window or channel), orders of magnitude more.
FLOAT32_SUM = 1e-5


def _tolerances(expected, dtype=np.float64, magnitude=None):
    """(rtol, atol) for comparing with `expected`: float32 inputs get float32's precision; a
    `magnitude` (the sum of the absolute terms behind each value) makes atol an array that
    accepts the same function computed in float32 (FLOAT32_SUM * magnitude)."""
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 1.0
    scale = max(scale, 1.0)
    rtol, atol = (1e-4, 1e-4 * scale) if np.dtype(dtype) == np.float32 else (1e-6, 1e-7 * scale)
    if magnitude is not None:
        atol = np.maximum(atol, FLOAT32_SUM * np.abs(np.asarray(magnitude, dtype=np.float64)))
    return rtol, atol


# --------------------------------------------------------------------------- checks
def never_raises(verdict: Callable[[object], "str | None"], what: str,
                 expecting: str = "") -> Callable[[object], "str | None"]:
    """Wrap `verdict` so that the check never raises, whatever it is given.

    An exception while judging an answer is a failure (the safe side), reported as
    "<what> could not be checked (<exception type>)" followed by `expecting`.
    """
    def check(got):
        try:
            return verdict(got)
        except Exception as exc:
            return f"{what} could not be checked ({type(exc).__name__}){expecting}"

    return check


def array_check(expected, *, what="the output", variants=(), shape_hint="", value_hint="",
                dtype=np.float64, magnitude=None) -> Callable[[object], "str | None"]:
    """A check comparing an array answer with `expected` (computed by cnnlib).

    `variants` are known mistakes, tried in order when the answer is wrong; `shape_hint` and
    `value_hint` complete the generic messages. `dtype` is the dtype of the case's inputs
    (float32 cases get a float32 tolerance). `magnitude` (the shape of `expected`): the sum of
    the absolute values of the terms behind each value, e.g. the same convolution of |x|, |w|
    and |b|; with it an answer computed in float32 passes (the Marking texts allow float32
    arithmetic), even where the terms cancel and the value is small.
    """
    expected = np.array(expected, dtype=np.float64)
    rtol, atol = _tolerances(expected, dtype, magnitude)

    return never_raises(
        lambda got: _array_verdict(got, expected, what, variants, shape_hint, value_hint, rtol, atol),
        what, f"; expected shape {fmt_shape(expected.shape)}")


def _array_verdict(got, expected, what, variants, shape_hint, value_hint, rtol, atol):
    arr, msg = to_array(got)
    if msg:
        return f"{what}: {not_numbers(msg, f'expected an array of shape {fmt_shape(expected.shape)}')}"
    if arr.shape != expected.shape:
        base = f"{what} has shape {fmt_shape(arr.shape)}, expected {fmt_shape(expected.shape)}"
        same_shape = [v for v in variants if v.vshape is not None and tuple(v.vshape) == arr.shape]
        exact = [v.message for v in same_shape if v.value is not None and _close(arr, v.value, rtol, atol)]
        hits = exact or [v.message for v in same_shape if v.value is None]   # values say more than shapes
        if hits:
            return f"{base}: {_either(hits)}"
        return f"{base}{': ' + shape_hint if shape_hint else ''}"
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        return f"{what} has {bad} NaN or infinite value(s); expected finite numbers"
    if _close(arr, expected, rtol, atol):
        return None
    hits = [v.message for v in variants if v.value is not None and _close(arr, v.value, rtol, atol)]
    if hits:
        return f"{what} is wrong: {_either(hits)}" + _first_diff(arr, expected)
    e = np.asarray(expected, dtype=np.float64)   # cut toward zero (an int array) or down (`//`)
    if any(_close(arr, cut, rtol, atol) and not _close(cut, expected, rtol, atol) for cut in (np.trunc(e), np.floor(e))):
        return (f"{what} is wrong: {WHOLE_NUMBERS}" + _first_diff(arr, expected))
    hint = f" {value_hint}" if value_hint else ""
    return f"{what} has the right shape but wrong values.{hint}" + _first_diff(arr, expected)


#: the message for values cut to whole numbers (the visible tests of 02 and 05 say the same)
WHOLE_NUMBERS = ("the values are cut to whole numbers: did you divide with `//` instead of `/`, "
                 "or is your output array an int array?")


def _either(messages) -> str:
    """One known mistake, or the first two that give the same answer."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else f"{unique[0]}; or: {unique[1]}"


def _first_diff(arr, expected) -> str:
    diff = ~np.isclose(arr, expected, rtol=1e-6, atol=1e-7 * max(1.0, float(np.max(np.abs(expected)))))
    n_bad = int(np.sum(diff))
    if n_bad == 0:
        return ""
    idx = tuple(int(i) for i in np.argwhere(diff)[0])
    where = f" at index {idx}" if idx else ""
    want, got = fmt_num(expected[idx]), fmt_num(arr[idx])
    if want == got:   # they differ beyond 4 digits (e.g. a float16 result)
        want, got = f"{float(expected[idx]):.9g}", f"{float(arr[idx]):.9g}"
    return f" ({n_bad} of {arr.size} values differ; e.g.{where} expected {want}, got {got})"


#: a wrong size or count that holds a float (a whole one too: 12.5 * 9.5 * 276 is 32775.0)
WHOLE_HINT = "sizes and counts are whole numbers (floor division `//`?)"


def scalar_check(expected, *, what="the result", variants=(), hint="", rtol=1e-9, fmt=fmt_num,
                 whole=True, atol=0.0) -> Callable:
    """A check for a single number: a size or a count (`whole`: a fraction gets the floor
    division hint), or a loss with a tolerance `rtol` (plus `atol`). Variants carry the wrong numbers."""
    expected = float(expected)

    return never_raises(lambda got: _scalar_verdict(got, expected, what, variants, hint, rtol, fmt, whole, atol),
                        what, f"; expected {fmt(expected)}")


def _scalar_verdict(got, expected, what, variants, hint, rtol, fmt, whole, atol=0.0):
    if isinstance(got, (bool, np.bool_)):
        return f"{what}: returned {got!s}, a bool; expected the number {fmt(expected)}"
    if isinstance(got, (list, tuple)):   # `return [r]`: the visible tests refuse it too
        return (f"{what}: returned {describe(got)}; expected one number ({fmt(expected)}), not a "
                f"{type(got).__name__} holding numbers: return the number itself")
    arr, msg = to_array(got)
    if msg:
        return f"{what}: {not_numbers(msg, f'expected the number {fmt(expected)}')}"
    if arr.size != 1:
        return f"{what}: returned {describe(got)}; expected one number ({fmt(expected)})"
    v = float(arr.reshape(()))
    if not math.isfinite(v):
        return f"{what} is {v}; expected {fmt(expected)}"
    if abs(v - expected) <= rtol * max(1.0, abs(expected)) + atol:
        return None
    base = f"{what} is {fmt(v)}, expected {fmt(expected)}"
    hits = [var.message for var in variants if var.value is not None
            and abs(v - float(var.value)) <= rtol * max(1.0, abs(float(var.value))) + atol]
    if hits:
        return f"{base}: {_either(hits)}"
    if whole and (v != int(v) or isinstance(got, (float, np.floating))):   # a float made by `/`
        return f"{base}: {WHOLE_HINT}"
    return f"{base}{': ' + hint if hint else ''}"


def tuple_check(parts, *, what="the result", arrays=False) -> Callable:
    """A check for a tuple of arrays, e.g. (dx, dw, db). `parts` are (name, check) pairs.

    `arrays`: the parts are numbers, and a 1-D array of them is judged like a tuple (values are
    compared, not containers: ``np.array([local, conv])`` is the pair ``(local, conv)``)."""
    names = ", ".join(name for name, _ in parts)

    def verdict(got):
        if arrays and type(got) is np.ndarray and got.ndim == 1:
            got = list(got)
        if isinstance(got, np.ndarray) or not isinstance(got, (tuple, list)):
            return f"{what}: returned {describe(got)}; expected a tuple ({names})"
        if len(got) != len(parts):
            return f"{what}: returned {describe(got)}; expected a tuple of {len(parts)} ({names})"
        msgs = []
        for (name, part_check), item in zip(parts, got):
            m = part_check(item)
            if m:
                msgs.append(m)
        return "; ".join(msgs) if msgs else None

    return never_raises(verdict, what, f"; expected a tuple ({names})")


# --------------------------------------------------------------------------- inputs
def same_value(before, after) -> bool:
    """`after` holds what `before` held: arrays equal in shape, dtype and values (NaN equal to NaN);
    lists, tuples and dicts item by item, recursively; numbers and strings by value. Any other
    object is not compared (the call cannot have changed it in a way a check can see)."""
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and after.shape == before.shape and after.dtype == before.dtype
                and bool(np.array_equal(np.asarray(after), before, equal_nan=before.dtype.kind in "fc")))
    if isinstance(before, (list, tuple)):
        return (type(after) is type(before) and len(after) == len(before)
                and all(same_value(b, a) for b, a in zip(before, after)))
    if isinstance(before, dict):
        return (isinstance(after, dict) and after.keys() == before.keys()
                and all(same_value(before[k], after[k]) for k in before))
    if isinstance(before, (bool, int, float, complex, str, bytes, np.number, np.bool_)) or before is None:
        if isinstance(after, np.ndarray) or type(after) in (list, tuple, dict):
            return False
        return bool(after == before) or bool(after != after and before != before)   # NaN stays NaN
    return True


def inputs_changed(case: Case, args_after, kwargs_after, params=()) -> "str | None":
    """Compare the arguments after the call with the case's pristine ones (:func:`same_value`).

    The runner passes copies of ``case.args``/``case.kwargs`` to the student's function and
    gives them here afterwards; a function that wrote into its input (an array, or a list it
    appended to, popped from or sorted) fails.
    """
    try:
        pairs = [(f"`{params[i]}`" if i < len(params) else f"argument {i + 1}", a, b)
                 for i, (a, b) in enumerate(zip(case.args, args_after))]
        pairs += [(f"`{k}`", case.kwargs[k], kwargs_after.get(k)) for k in case.kwargs]
        for name, before, after in pairs:
            if same_value(before, after):
                continue
            if type(after).__name__ == "UnsupportedValue":  # the jail could not send it back
                return (f"the input {name} could not be compared after the call (too large to come "
                        f"back from the grader's sandbox): ask your instructor")
            if isinstance(before, np.ndarray):
                return (f"your function changed its input {name} in place (e.g. `x += ...`, "
                        f"`x[...] = ...` or `x.resize`): compute into a new array instead")
            return (f"your function changed its input {name} in place (e.g. `.append`, `.pop`, `.sort` "
                    f"or `{name.strip('`')}[i] = ...`): work on a copy, e.g. `list({name.strip('`')})`")
        return None
    except Exception:
        return "the inputs could not be compared after the call"


# --------------------------------------------------------------------------- the verdict
#: failed cases listed in one message (the rest are counted)
MAX_SHOWN = 4


def shared_inputs(value, args, kwargs) -> list:
    """The array inputs (positions in `args`, names in `kwargs`) whose memory the returned
    `value` (an array, or a tuple or list of them) shares. The jail's runner has its twin."""
    outs = [value] if isinstance(value, np.ndarray) else [
        v for v in value if isinstance(v, np.ndarray)] if isinstance(value, (tuple, list)) else []
    return [k for k, a in [*enumerate(args), *kwargs.items()]
            if isinstance(a, np.ndarray) and any(np.may_share_memory(a, o) for o in outs)]


def _returned_input(shares, params) -> "str | None":
    """The message for a result that shares memory with inputs `shares` (see shared_inputs)."""
    names = [f"`{params[k]}`" if isinstance(k, int) and 0 <= k < len(params) else
             f"argument {k + 1}" if isinstance(k, int) else f"`{str(k)[:40]}`" for k in shares[:3]]
    if not names:
        return None
    return (f"your function returned its input {' and '.join(names)} itself (or a view of it), not a new "
            f"array: a caller who changes the result would change the input too; return a copy, "
            f"e.g. `{names[0].strip('`')}.copy()`")


def judge(case: Case, got, params=(), inputs_after=None, changed=None, shares=()) -> "str | None":
    """The one rule that turns a returned value into a verdict on a case.

    Used by the visible tests (in process) and by the grader (on the values the jail sent
    back): the case's check, then, for a function, its array inputs must be unchanged
    (`inputs_after` is ``(args, kwargs)`` after the call). None if right, else the message.
    `changed` (a Check's): when it names the function that changed an input, that is the
    message, alone: the value was computed from an input that changed under it. `shares`: the
    inputs the result shares memory with, where the check asks for a new array (``fresh``).
    """
    if inputs_after is not None and changed is not None:
        try:
            named = changed(case, inputs_after[0], inputs_after[1])
        except Exception:
            named = None   # the generic rule below still fails the change
        if named:
            return str(named)
    try:
        msg = case.check(got)
    except Exception as exc:  # a bug in the check, not the student's fault: fail, say so
        msg = f"this case could not be checked ({type(exc).__name__}); ask your instructor"
    messages = [str(msg)] if msg else []
    if inputs_after is not None:
        changed = inputs_changed(case, inputs_after[0], inputs_after[1], params)
        messages += [changed] if changed else []
    returned = _returned_input(list(shares or ()), params)
    messages += [returned] if returned else []
    return "; ".join(messages) or None


def raised(name: str, type_name: str, text: str, detail: str = "") -> str:
    """The message for function `name` (a Check's `shown`) that raised `type_name` (in process
    and in the jail).

    `detail`: more lines, in process only (where in the student's code, and the notebook's hint)."""
    if type_name == "NotImplementedError":
        head = f"`{name}` is not implemented yet (it raised NotImplementedError)"
    elif type_name in ("EOFError", "StdinNotImplementedError"):   # input(): nobody types when marking
        head = (f"`{name}` raised {type_name}: it asked for typed input (input()?), which nobody can "
                f"give when the notebook is marked; take the values as arguments instead")
    else:
        text = text.splitlines()[0][:200] if text else ""
        head = f"`{name}` raised {type_name}{': ' + text if text else ''}"
    return f"{head}\n{detail}" if detail else head


#: a call that gave no value to judge: what happened -> (flag for a person, message)
NO_VALUE = {
    "timeout": ("timeout", "`{t}` took longer than {limit:g} s of computing time for its {n} cases "
                "({cause})"),
    "idle": ("idle", "`{t}` was stopped: it waited {idle:g} s without computing anything (time.sleep, "
             "waiting for a process, a pipe or a lock?)"),
    "lost": ("crashed", "`{t}` gave no result (the notebook's code broke the grader's process?)"),
    "crashed": ("crashed", "`{t}` {how} (os._exit, sys.exit in a child, a crash or a memory blow-up?)"),
    "memory": ("memory", "`{t}` ran out of memory (limit {mib} MiB)"),
    "unsendable": ("result too large", "`{t}` returned a value too large or too deeply nested to be checked"),
    "undecodable": ("malformed result", "`{t}` returned a value that cannot be graded ({error})"),
    "malformed": ("malformed result", "the result of `{t}` could not be read")}


def outcome_verdict(check: Check, case: Case, outcome: dict) -> "tuple[str | None, str | None]":
    """The one rule from what a call of the target gave to the case's (message, flag), in process
    and in the jail alike. `outcome`: {"status": "ok", "value", "inputs_after" (args, kwargs) or
    None, "shares" (optional, see shared_inputs)}, {"status": "raised", "type", "error", "detail"
    (optional)}, or a NO_VALUE status and what its message names."""
    status = outcome.get("status")
    if status == "ok":
        shares = outcome.get("shares") if check.fresh else ()
        return judge(case, outcome["value"], check.params, outcome.get("inputs_after"), check.changed,
                     shares if isinstance(shares, list) else ()), None
    if status == "raised" and (called := helper_called(check, outcome)):
        return called, None
    if status == "raised":
        return (raised(check.shown, outcome["type"], outcome["error"], outcome.get("detail", "")),
                "memory" if outcome["type"] == "MemoryError" else None)
    flag, text = NO_VALUE[status if status in NO_VALUE else "malformed"]
    verdict_only = flag == "timeout" and check.timeout_is_verdict
    return (text.format(t=check.shown, cause=timeout_cause(check), **outcome),
            None if verdict_only else flag)


def timeout_cause(check: Check) -> str:
    """The question a timeout's message asks: the likely cause when the timeout is the verdict
    (and how many tries such a check gets), else an endless loop."""
    if check.timeout_is_verdict:
        return f"{check.timeout_cause} The quickest of up to {TIME_TRIES} tries counts"
    return "an endless loop?"


def verdict(name: str, cases, messages) -> "tuple[bool, str]":
    """(passed, message) of one check on function `name` (a Check's `shown`): `messages` gives
    each case's message (None: right) in order; it may end early, after the case where the
    function was stopped."""
    messages = list(messages)
    failures = [f"- {case.label}: {msg}" for case, msg in zip(cases, messages) if msg]
    return not failures, summary(name, failures, len(cases), not_run=len(cases) - len(messages))


def summary(target: str, failures: "list[str]", n_cases: int, not_run: int = 0) -> str:
    """One check's message: all passed, or the first MAX_SHOWN failures and a count (and how
    many checks never ran because the function was stopped before them)."""
    if not failures:
        # "the grader's": the student who runs the pre-hand-in check has just run them too
        return (f"{target}: the grader's check passed" if n_cases == 1
                else f"{target}: all {n_cases} of the grader's checks passed")
    shown = failures[:MAX_SHOWN]
    if len(failures) > MAX_SHOWN:
        shown.append(f"- ... and {len(failures) - MAX_SHOWN} more")
    stopped = ("" if not not_run else "; the other one was not run (the function was stopped)" if not_run == 1
               else f"; the other {not_run} were not run (the function was stopped)")
    checks = "check" if n_cases == 1 else "checks"
    return f"{target}: {len(failures)} of {n_cases} {checks} failed{stopped}\n" + "\n".join(shown)

