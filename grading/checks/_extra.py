"""Checks shared by the newer assignments: numbers with a tolerance, exact shapes, the dtype rule."""
import numpy as np

from ._core import FLOAT32_SUM, WHOLE_HINT, Variant, _either, describe, fmt_num, never_raises, scalar_check, to_array


def close_scalar_check(expected, *, what="the result", variants=(), dtype=np.float64, hint="", magnitude=0.0):
    """A check for one real number (a loss) with a tolerance fit for `dtype`'s inputs; `magnitude`:
    the size of the terms behind it, as in array_check (float32 arithmetic passes).

    `variants` are (value, message) pairs of known mistakes.
    """
    return scalar_check(expected, what=what, variants=[Variant(m, v) for v, m in variants], hint=hint,
                        rtol=1e-5 if np.dtype(dtype) == np.float32 else 1e-7, fmt="{:.6g}".format, whole=False,
                        atol=FLOAT32_SUM * abs(float(magnitude)))


def call_args(args, kw, how="keywords"):
    """(args, kwargs) of one call of the student's function: the arguments `kw` by keyword
    ("keywords"), their values after `args` in their order ("position"), or left to the
    signature's defaults ("defaults"). A signature that lists them in another order passes
    every call that names them: the "position" calls tell it (see ``swapped``)."""
    if how == "position":
        return tuple(args) + tuple(kw.values()), {}
    return tuple(args), ({} if how == "defaults" else dict(kw))


def swapped(first, second, signature):
    """The message for a signature that lists `first` and `second` the other way round."""
    return (f"{first} and {second} were swapped: the signature is {signature}, {first} first, "
            f"and a call may give both by position")


def keeps_dtype(inner, dtype, what):
    """`inner`, plus the dtype rule: the answer is an ndarray with the dtype of the inputs.

    A list (or any other container) with the right values fails too: it has no dtype, and
    np.asarray makes float64 of it, also for float32 inputs (session 24: float64 lists passed
    im2col, zero_pad, shift and conv1x1 on float32 inputs).
    """
    dtype = np.dtype(dtype)

    def verdict(got):
        msg = inner(got)
        if msg:
            return msg
        if type(got) is not np.ndarray:
            return (f"{what}: the values are right, but it returned {describe(got)}: return a NumPy array "
                    f"with the dtype of the input ({dtype}); a list has no dtype, and np.asarray makes float64 of it")
        if got.dtype != dtype:
            return (f"{what} has dtype {got.dtype}, expected {dtype}: keep the dtype of the input "
                    f"(float32 in, float32 out; e.g. np.zeros(shape, dtype=x.dtype))")
        return None

    return never_raises(verdict, what)


def _shape_text(values) -> str:
    return "(" + ", ".join(fmt_num(v) for v in values) + ("," if len(values) == 1 else "") + ")"


def int_tuple_check(expected, *, what="the shape", variants=()):
    """A check for a shape: a tuple (or list) of whole numbers equal to `expected`.

    `variants` are (wrong shape, message) pairs of known mistakes.
    """
    expected = tuple(int(v) for v in expected)

    def verdict(got):
        if isinstance(got, (str, bytes, dict, set)) or got is None or np.ndim(got) != 1:
            return f"{what}: returned {describe(got)}; expected a tuple of whole numbers {_shape_text(expected)}"
        if np.asarray(got).dtype.kind == "b" or any(isinstance(v, (bool, np.bool_)) for v in got):
            return (f"{what}: returned {describe(got)}, which holds True or False; expected a tuple "
                    f"of whole numbers {_shape_text(expected)} (a comparison is not a size)")
        arr, msg = to_array(got)
        if msg:
            return f"{what}: {msg}; expected a tuple {_shape_text(expected)}"
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            return f"{what} is {_shape_text(arr)}, expected {_shape_text(expected)}: {WHOLE_HINT}"
        values = tuple(int(v) for v in arr)
        if values == expected:
            return None
        base = f"{what} is {_shape_text(values)}, expected {_shape_text(expected)}"
        hits = [m for shape, m in variants if tuple(int(v) for v in shape) == values]
        floats = np.asarray(got).dtype.kind == "f"    # whole floats made by `/` (14.0 for 14)
        return f"{base}: {_either(hits)}" if hits else f"{base}: {WHOLE_HINT}" if floats else base

    return never_raises(verdict, what, f"; expected {_shape_text(expected)}")


def given_as(kind, value):
    """`value`, a tuple (of tuples), given as `kind`: a list or a tuple at every level, or a NumPy array.

    The tasks that promise "tuples as well as lists" (and arrays) get their cases through this."""
    if kind is np.ndarray:
        return np.array(value)
    return kind(given_as(kind, v) if isinstance(v, (tuple, list)) else v for v in value)


def given_text(value) -> str:
    """`value` as a call that passes it is written: [3, 2], (3, 2) or np.array([3, 2]) (a message
    that shows an array as a list would point at code that works on lists)."""
    if isinstance(value, np.ndarray):
        return f"np.array({value.tolist()})"
    return repr(value)


def count_check(expected, *, what="the count", variants=()):
    """A check for a whole number (a parameter count); `variants` are (wrong count, message) pairs."""
    return scalar_check(expected, what=what, variants=[Variant(m, n) for n, m in variants])


def one_number(check, what):
    """A count is ONE number: `check`, after refusing an array that has an axis (np.array([101770])
    has one value, but code that uses the count gets an array: param_counts calls mlp_param_count,
    and pipeline_summary listed layer_param_count's array([148]) as a layer's count). A 0-d array,
    an np.int64, an int or a whole float go on to `check`; lists and tuples are refused there."""
    def verdict(got):
        if isinstance(got, np.ndarray) and got.ndim > 0:
            return (f"{what}: returned an array of shape {tuple(got.shape)}; return one number (an int), not an "
                    f"array" + (" of 1 value" if got.size == 1 else ""))
        return check(got)
    return never_raises(verdict, what)


def squeezed(expected, shape: str) -> list:
    """[a shape Variant for `expected` with its axes of length 1 dropped] when it has one, else []:
    a squeeze passed where no case had such an axis (session 31: conv2d_single, im2col)."""
    if 1 not in np.shape(expected):
        return []
    return [Variant(f"an axis of length 1 was dropped (a squeeze?): {shape}", shape=np.squeeze(expected).shape)]


def int_type_check(inner, *, what, advice):
    """`inner`, plus the rule that the answer is an int (a Python or NumPy integer, not a bool):
    a right value as a float (3.0) fails with `advice`, e.g. where later code uses it as a size."""
    def verdict(got):
        msg = inner(got)
        if msg:
            return msg
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            shown = (f"{float(got)!r} (a {type(got).__name__})" if isinstance(got, (float, np.floating))
                     else describe(got))
            return f"{what} returned {shown}: return a whole number (int): {advice}"
        return None

    return never_raises(verdict, what)

