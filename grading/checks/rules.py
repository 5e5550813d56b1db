"""The rules a task states, and the rules its check actually draws.

Every task of an exercise ends with a **Marking.** paragraph that names, in fixed phrases, the
edge cases the grader tries and the rules it enforces. :func:`stated` reads those phrases from
the text; :func:`drawn` looks at the cases a check draws (the arrays, the arguments) and at
how it judges them. ``tests/test_rules.py`` holds the two equal for every check, so a task
cannot state a rule the grader does not check, nor the grader check an edge case the task
does not state.
"""
from __future__ import annotations

import re

import numpy as np

#: rule -> the phrase that states it in a task's **Marking.** paragraph
PHRASES = {
    "N > 1": "N > 1",
    "C > 1": "C > 1",
    "K > 1": "K > 1",
    "non-square images": "non-square images",
    "non-square kernels": "non-square kernels",
    "strides that do not divide": "strides that do not divide",
    "padding 0": "padding 0",
    "float32": "float32 inputs",
    "dtype kept": "the output keeps the dtype",
    "ties": "ties",
    "overlapping windows": "overlapping windows",
    "tuples": "tuples as well as lists",
    "arrays": "and NumPy arrays",
    "whole floats": "or a float such as",
    "defaults": "the default arguments",
    "inputs unchanged": "inputs must stay unchanged",
    "views": "not C-contiguous",
    "NumPy only": "NumPy only",
    "cnnlib allowed": "cnnlib may be used",
}

#: graded functions whose `x` is an image (rows H, columns W on the last two axes)
IMAGES = {"conv2d_single", "conv2d_multi", "zero_pad", "conv2d", "max_pool2d", "avg_pool2d",
          "max_pool2d_backward", "conv2d_backward", "im2col", "conv2d_im2col", "conv1x1"}
POOLS = {"max_pool2d", "avg_pool2d", "max_pool2d_backward"}
#: where windows may overlap and the task says what happens there
OVERLAPS = POOLS | {"conv2d_backward"}
DEFAULTS = {"conv2d": {"stride": 1, "padding": 0}, "conv2d_im2col": {"stride": 1, "padding": 0}, "conv2d_backward": {"stride": 1, "padding": 0},
            "max_pool2d": {"size": 2, "stride": None}, "avg_pool2d": {"size": 2, "stride": None},
            "max_pool2d_backward": {"size": 2, "stride": None}}


def stated(text: str) -> set[str]:
    """The rules stated in a task's **Marking.** paragraph (empty if it has none)."""
    m = re.search(r"\*\*Marking\.\*\*(.*?)(?:\n\s*\n|$)", text, flags=re.S)
    if not m:
        return set()
    para = " ".join(m.group(1).replace("`", "").split())
    return {rule for rule, phrase in PHRASES.items() if phrase in para}


def stated_seconds(text: str) -> "float | None":
    """The seconds a task's **Marking.** paragraph allows its checks ("within 10 s"), or None."""
    m = re.search(r"\*\*Marking\.\*\*.*?within (\d+(?:\.\d+)?) s\b", " ".join(text.split()))
    return float(m.group(1)) if m else None


def _arguments(check, case) -> dict:
    named = dict(zip(check.params, case.args))
    named.update(case.kwargs)
    for name, value in DEFAULTS.get(check.target, {}).items():
        named.setdefault(name, value)
    return named


def _windows_tie(x, size, stride) -> bool:
    from numpy.lib.stride_tricks import sliding_window_view
    win = sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    flat = win.reshape(*win.shape[:4], -1)
    return bool(np.any(np.sum(flat == flat.max(axis=-1, keepdims=True), axis=-1) > 1))


def case_rules(check, case) -> set[str]:
    """The rules one case draws."""
    out: set[str] = set()
    a = _arguments(check, case)
    values = list(case.args) + list(case.kwargs.values())
    arrays = [v for v in values if isinstance(v, np.ndarray)]
    if any(v.dtype == np.float32 for v in arrays):
        out.add("float32")
    if check.kind == "function" and any(isinstance(v, (np.ndarray, list, dict)) for v in values):
        out.add("inputs unchanged")   # arrays and lists: written into, appended to, popped from
    if any(not v.flags.c_contiguous for v in arrays):
        out.add("views")              # a slice with a step, Fortran order: see _layout.py
    if check.target in DEFAULTS and any(p not in case.kwargs and p not in check.params[:len(case.args)]
                                        for p in DEFAULTS[check.target]):
        out.add("defaults")
    x, w = a.get("x"), a.get("w")
    if check.target == "dense_forward" and x.shape[0] > 1:
        out.add("N > 1")
    if check.target not in IMAGES or not isinstance(x, np.ndarray):
        return out
    if x.ndim == 4 and x.shape[0] > 1:
        out.add("N > 1")
    if (x.ndim == 4 and x.shape[1] > 1) or (x.ndim == 3 and x.shape[0] > 1):
        out.add("C > 1")
    H, W = x.shape[-2:]
    if H != W:
        out.add("non-square images")
    if isinstance(w, np.ndarray):
        if w.ndim == 4 and w.shape[0] > 1:
            out.add("K > 1")
        Fh, Fw = w.shape[-2:]
        if Fh != Fw:
            out.add("non-square kernels")
    else:
        Fh, Fw = a.get("Fh", a.get("size")), a.get("Fw", a.get("size"))   # im2col: Fh, Fw given
        if Fh is not None and Fh != Fw:
            out.add("non-square kernels")
    P = a.get("padding", None)
    if P == 0 and "padding" in check.params + tuple(DEFAULTS.get(check.target, {})):
        out.add("padding 0")
    S = a.get("stride", 1)
    if check.target in POOLS and S is None:
        S = a["size"]
    if S is not None and Fh is not None and S > 1:
        p = P or 0
        if (H + 2 * p - Fh) % S or (W + 2 * p - Fw) % S:
            out.add("strides that do not divide")
    if check.target in OVERLAPS and S is not None and Fh is not None and (S < Fh or S < Fw):
        out.add("overlapping windows")
    if check.target in {"max_pool2d", "max_pool2d_backward"} and _windows_tie(x, a["size"], S):
        out.add("ties")
    return out


def drawn(check, rng) -> set[str]:
    """The rules the cases of `check` draw (one draw of its random cases)."""
    out = {"cnnlib allowed" if check.allow_cnnlib else "NumPy only"}
    kinds: dict = {}   # argument position -> the kinds of sequence it is given
    for case in check.make_cases(rng):
        rules = case_rules(check, case)
        out |= rules
        if "float32" in rules and _rejects_float64(case):
            out.add("dtype kept")
        if _accepts_whole_floats(case):
            out.add("whole floats")
        for i, v in enumerate(case.args):
            kinds.setdefault(i, set()).add(type(v) if type(v) in (tuple, list, np.ndarray) else None)
    for seen in kinds.values():
        if {tuple, list} <= seen:          # one argument, given as a tuple in a case and a list in another
            out.add("tuples")
        if np.ndarray in seen and seen & {tuple, list}:
            out.add("arrays")
    return out


def _whole(value) -> bool:
    """`value` is a whole number, or a (nested) tuple or list of them (not an array)."""
    if isinstance(value, (tuple, list)):
        return len(value) > 0 and all(_whole(v) for v in value)
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _as_floats(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_as_floats(v) for v in value)
    return float(value)


def _accepts_whole_floats(case) -> bool:
    """The check passes the right answer given as floats (9.0 for 9): it compares values, not types."""
    return _whole(case.expected) and case.check(_as_floats(case.expected)) is None


def _rejects_float64(case) -> bool:
    """The check takes the right answer in float32 and rejects it once its arrays are float64: it
    enforces the dtype. (06's predict check takes no answer made of `expected` alone: it needs the
    weights of a trained network too.)"""
    exp = case.expected
    if not isinstance(exp, (tuple, np.ndarray)):
        return False

    def cast(dtype):
        """The right answer with its float arrays in `dtype`."""
        def to(v):
            return np.asarray(v, dtype=dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        return tuple(map(to, exp)) if isinstance(exp, tuple) else to(exp)

    return case.check(cast(np.float32)) is None and case.check(cast(np.float64)) is not None
