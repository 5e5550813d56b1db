"""Checks shared by the newer assignments: numbers with a tolerance, exact shapes, the dtype rule."""
import math

import numpy as np

from ._core import _either, describe, fmt_num, never_raises, to_array


def close_scalar_check(expected, *, what="the result", variants=(), dtype=np.float64, hint=""):
    """A check for one real number (a loss) with a tolerance fit for `dtype`'s inputs.

    `variants` are (value, message) pairs of known mistakes.
    """
    expected = float(expected)
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-7
    tol = rtol * max(1.0, abs(expected))

    def verdict(got):
        if isinstance(got, (bool, np.bool_)):
            return f"{what}: returned {got!s}, a bool; expected the number {fmt_num(expected)}"
        arr, msg = to_array(got)
        if msg:
            return f"{what}: {msg}; expected one number ({expected:.6g})"
        if arr.size != 1:
            return f"{what}: returned {describe(got)}; expected one number ({expected:.6g})"
        v = float(arr.reshape(()))
        if not math.isfinite(v):
            return f"{what} is {v}; expected the finite number {expected:.6g}"
        if abs(v - expected) <= tol:
            return None
        base = f"{what} is {v:.6g}, expected {expected:.6g}"
        hits = [m for value, m in variants
                if value is not None and abs(v - float(value)) <= rtol * max(1.0, abs(float(value)))]
        if hits:
            return f"{base}: {_either(hits)}"
        return f"{base}{': ' + hint if hint else ''}"

    return never_raises(verdict, what, f"; expected one number ({expected:.6g})")


def keeps_dtype(inner, dtype, what):
    """`inner`, plus the dtype rule: an ndarray answer has the dtype of the inputs.

    Lists and other containers are judged by value only (the rule is about arrays the
    function makes, e.g. ``np.zeros(shape)`` that turns float32 into float64).
    """
    dtype = np.dtype(dtype)

    def verdict(got):
        msg = inner(got)
        if msg:
            return msg
        if type(got) is np.ndarray and got.dtype != dtype:
            return (f"{what} has dtype {got.dtype}, expected {dtype}: keep the dtype of the input "
                    f"(float32 in, float32 out; e.g. np.zeros(shape, dtype=x.dtype))")
        return None

    return never_raises(verdict, what)
