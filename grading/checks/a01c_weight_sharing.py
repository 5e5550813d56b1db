"""01c_weight_sharing: a locally connected layer's parameters against a convolution's, a shift with
zeros moving in, and a numerical test of equivariance to shifts.

`equivariance_error(op, x, dy, dx)` takes a function `op`, which cannot travel to the sandbox (only
plain values do). The notebook therefore defines, in a locked cell, the operations by name
(``OPERATIONS``) and ``equivariance_error_of(name, x, dy, dx)``, which calls the student's
``equivariance_error(OPERATIONS[name], x, dy, dx)``; that wrapper is what the check calls, and
its messages name ``equivariance_error`` (``shown``), the function the student wrote. The
expected values are computed here with this module's own copies of the operations (the tests hold
the notebook's copies equal to them). A student who redefines the wrapper or the operations only
changes what their own code is given: the expected values do not move.

The inputs have a zero border wider than the shift plus the 3x3 window's reach, so the local
operations (convolution, ReLU, 3x3 maximum) commute with the shift EXACTLY (error 0), while the
others do not: ``x + 1`` (zeros move in, so the shifted output has 0 where the output of the
shifted input has 1: error 1), a mirror image, and a weight that depends on the column. A running
sum along each row commutes with a move right but not with a move left: the only operation whose
error depends on the direction of the move, so the only one that tells (dy, dx) from (-dy, -dx)
on both sides (a reversed `shift` moves both sides the other way). One more ReLU case has no zero
border: there ``np.roll`` on the input differs from `shift` (with the border they agree), while
ReLU still commutes exactly with a shift that moves zeros in.
"""
import numpy as np

import cnnlib

from ._core import Case, Check, Variant, array_check, same_value, tuple_check
from ._extra import call_args, close_scalar_check, count_check, keeps_dtype, one_number

ASSIGNMENT = "01c_weight_sharing"


# --------------------------------------------------------------------------- parameter counts
def counts(H, W, C, K, Fh, Fw, stride=1, padding=0):
    """(locally connected, convolution) parameters of a layer of K filters Fh x Fw over C channels."""
    Ho = cnnlib.conv_output_size(H, Fh, padding, stride)
    Wo = cnnlib.conv_output_size(W, Fw, padding, stride)
    conv = cnnlib.conv_param_count(C, K, (Fh, Fw))
    return Ho * Wo * conv, conv


def _count_case(label, H, W, C, K, Fh, Fw, stride=1, padding=0, defaults=False, positional=False):
    local, conv = counts(H, W, C, K, Fh, Fw, stride, padding)
    positions = local // conv          # H_out * W_out
    full = H * W * conv
    local_variants = [
        (positions * K * C * Fh * Fw, "the biases are missing: every position has its own K biases"),
        (positions * K * C * Fh * Fw + K, "a locally connected layer shares nothing, not even the biases: "
                                           "H_out * W_out * K * (C * Fh * Fw + 1)"),
        (full, "one filter per OUTPUT position: H_out * W_out positions, not H * W"),
        (conv, "that is the convolution's count: a locally connected layer has its own filters at every position"),
        (positions * K * (Fh * Fw + 1), "the input channels are missing: each filter is C x Fh x Fw"),
    ]
    conv_variants = [
        (K * C * Fh * Fw, "the convolution's biases are missing: K (C Fh Fw + 1)"),
        (K * (Fh * Fw + 1) * C, "one bias per filter, not per channel: K (C Fh Fw + 1)"),
        (K * (Fh * Fh * C + 1), "the kernel is taken as square (Fh x Fh): a filter is C x Fh x Fw"),
        (local, "that is the locally connected count: a convolution shares one set of filters"),
    ]
    # each part is ONE number: (np.array([local]), np.array([conv])) is refused as in 01_mlp (a 1-D
    # array of the two counts is still the pair, see tuple_check)
    local_what, conv_what = "the locally connected count", "the convolution's count"
    check = tuple_check([
        ("local", one_number(count_check(local, what=local_what, variants=local_variants), local_what)),
        ("conv", one_number(count_check(conv, what=conv_what, variants=conv_variants), conv_what)),
    ], what="local_and_conv_params", arrays=True)
    how = "defaults" if defaults else "position" if positional else "keywords"
    args, kw = call_args((H, W, C, K, Fh, Fw), {"stride": stride, "padding": padding}, how)
    return Case(label, args, kw, (local, conv), check)


def count_cases(rng):
    cases = [_count_case("the worked example: 8x8 digit, 1 filter 3x3 (defaults: stride 1, no padding)",
                         8, 8, 1, 1, 3, 3, defaults=True),
             _count_case("224x224x3 image, 64 filters 3x3, padding 1", 224, 224, 3, 64, 3, 3, 1, 1),
             _count_case("non-square 28x20 input, 3 channels, 6 filters 5x3, stride 2 (does not divide)",
                         28, 20, 3, 6, 5, 3, 2, 0),
             _count_case("non-square 9x13 input, 4 channels, 5 filters 2x4, stride 3, padding 2",
                         9, 13, 4, 5, 2, 4, 3, 2),
             # found by a hunt (session 16): 2P smaller than the stride, where adding 2P // S after
             # the floor division falls short; stride and padding given by position, in the order
             # of the signature
             _count_case("non-square 14x11 input, 2 channels, 3 filters 3x2, stride 3, padding 1 (2P smaller "
                         "than the stride), stride and padding given by position", 14, 11, 2, 3, 3, 2, 3, 1,
                         positional=True)]
    for _ in range(3):
        H, W = (int(v) for v in rng.integers(6, 40, size=2))
        C, K = int(rng.integers(2, 9)), int(rng.integers(2, 33))
        Fh, Fw = (int(v) for v in rng.integers(1, 6, size=2))
        S, P = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        cases.append(_count_case(f"random: {H}x{W}x{C} input, {K} filters {Fh}x{Fw}, stride {S}, padding {P}",
                                 H, W, C, K, Fh, Fw, S, P))
    return cases


# --------------------------------------------------------------------------- shift
def shift_ref(x, dy, dx):
    """x (N, C, H, W) moved down by dy and right by dx (negative: up, left); zeros move in."""
    x = np.asarray(x)
    H, W = x.shape[-2:]
    dy, dx = max(-H, min(dy, H)), max(-W, min(dx, W))     # a move by the whole size or more leaves 0
    out = np.zeros_like(x)
    out[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        x[..., max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]
    return out


def _shift_case(label, x, dy, dx):
    expected = shift_ref(x, dy, dx)
    variants = [
        Variant("the content wrapped around (np.roll): the pixels that move in are 0",
                np.roll(x, (dy, dx), axis=(2, 3))),
        Variant("the direction is reversed: dy > 0 moves the content DOWN (out[i + dy] = x[i])",
                shift_ref(x, -dy, -dx)),
        Variant("dy and dx are swapped: dy moves along H (rows), dx along W (columns)",
                shift_ref(x, dx, dy) if dy != dx and abs(dx) < x.shape[2] and abs(dy) < x.shape[3] else None),
    ]
    variants = [v for v in variants if v.value is not None]
    check = keeps_dtype(array_check(expected, what="shift output", variants=variants,
                                    shape_hint="the shifted x has the shape of x",
                                    value_hint="out[..., i, j] = x[..., i - dy, j - dx] where that is inside x, else 0",
                                    dtype=x.dtype), x.dtype, "shift output")
    return Case(label, (x, dy, dx), {}, expected, check)


def shift_cases(rng):
    cases = [_shift_case("the worked example: a 3x4 image moved by (1, 2)",
                         np.arange(1.0, 13.0).reshape(1, 1, 3, 4), 1, 2)]
    for shape, dy, dx in [((2, 3, 5, 7), 2, -3), ((3, 2, 6, 4), -1, 0), ((1, 1, 4, 6), 0, 1),
                          ((2, 2, 7, 5), -3, -2), ((1, 3, 5, 5), 0, 0), ((2, 1, 6, 9), 4, 7)]:
        cases.append(_shift_case(f"N={shape[0]}, C={shape[1]}, {shape[2]}x{shape[3]} input, moved by ({dy}, {dx})",
                                 rng.normal(size=shape), dy, dx))
    cases.append(_shift_case("float32, N=2, C=2, 5x6 input, moved by (-2, 3)",
                             rng.normal(size=(2, 2, 5, 6)).astype(np.float32), -2, 3))
    # found by a hunt (session 16): slices such as out[..., dy:] = x[..., :H - dy] fail (or wrap) once
    # the move is longer than the image: everything leaves the frame, only zeros remain
    for shape, dy, dx, what in [((2, 2, 4, 6), 5, 1, "5 rows down, more than the 4 rows of the image"),
                                ((1, 3, 5, 3), -1, -5, "5 columns left, more than the 3 columns of the image"),
                                # found by a student trial (session 26): a shift that pads by max(H, W)
                                # and crops fails only for a move longer than both sides
                                ((2, 2, 4, 5), -1, -12, "12 columns left, more than the image is tall or wide"),
                                ((1, 2, 3, 4), 9, 2, "9 rows down, more than the image is tall or wide"),
                                # session 30: every long move above went down or left
                                ((2, 1, 3, 5), -4, 1, "4 rows up, more than the 3 rows of the image"),
                                ((1, 2, 4, 3), -1, 5, "5 columns right, more than the 3 columns of the image")]:
        cases.append(_shift_case(f"N={shape[0]}, C={shape[1]}, {shape[2]}x{shape[3]} input, moved by ({dy}, {dx}): "
                                 f"{what}: only zeros remain", rng.normal(size=shape), dy, dx))
    return cases


# --------------------------------------------------------------------------- equivariance
KERNEL = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 2.0], [0.0, 1.0, 0.0]])


def _windows(x, fill):
    """The 9 shifted copies of x under a 3x3 window ('same' size, `fill` around)."""
    H, W = x.shape[-2:]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill)
    return [(m, l, xp[:, :, m:m + H, l:l + W]) for m in range(3) for l in range(3)]


def conv3x3(x):
    out = np.zeros(x.shape)
    for m, l, win in _windows(x, 0.0):
        out += KERNEL[m, l] * win
    return out


def max3x3(x):
    out = np.full(x.shape, -np.inf)
    for _, _, win in _windows(x, 0.0):
        out = np.maximum(out, win)
    return out


OPERATIONS = {
    "conv3x3": conv3x3,
    "relu": lambda x: np.maximum(x, 0.0),
    "max3x3": max3x3,
    "plus_one": lambda x: x + 1.0,
    "mirror": lambda x: x[:, :, :, ::-1],
    "times_column": lambda x: x * np.arange(x.shape[3]),
    "running_sum": lambda x: np.cumsum(x, axis=3),
}


def differences(op, x, dy, dx):
    """op(shift(x, dy, dx)) - shift(op(x), dy, dx): what equivariance_error takes the maximum of."""
    return op(shift_ref(x, dy, dx)) - shift_ref(op(x), dy, dx)


def error_ref(op, x, dy, dx):
    return float(np.max(np.abs(differences(op, x, dy, dx))))


def bordered(rng, N, C, H, W, border):
    """Random images with `border` zero rows and columns on every side."""
    x = np.zeros((N, C, H + 2 * border, W + 2 * border))
    x[:, :, border:border + H, border:border + W] = rng.normal(size=(N, C, H, W))
    return x


def _error_case(label, name, x, dy, dx):
    op = OPERATIONS[name]
    diff = differences(op, x, dy, dx)   # what the maximum is taken over
    expected = float(np.max(np.abs(diff)))
    variants = [
        (float(np.max(np.abs(op(shift_ref(x, dy, dx)) - op(x)))),
         "the output of the shifted input was compared with the output itself, not with the SHIFTED output: "
         "that tests invariance, not equivariance"),
        (float(np.max(np.abs(op(shift_ref(x, dy, dx)) - shift_ref(op(x), -dy, -dx)))),
         "the output was shifted the other way: compare op(shift(x, dy, dx)) with shift(op(x), dy, dx)"),
        (error_ref(op, x, -dy, -dx),
         "that is the error of the move the other way, (-dy, -dx): shift both sides by (dy, dx), and check "
         "that your shift moves dy > 0 down and dx > 0 right"),
        (float(np.max(np.abs(op(np.roll(x, (dy, dx), axis=(2, 3))) - np.roll(op(x), (dy, dx), axis=(2, 3))))),
         "np.roll wraps around; use your shift, where zeros move in"),
        (float(np.max(np.abs(op(np.roll(x, (dy, dx), axis=(2, 3))) - shift_ref(op(x), dy, dx)))),
         "the input was moved with np.roll, which wraps around: shift both sides with your shift"),
        (float(np.mean(np.abs(diff))), "that is the mean difference; return the LARGEST absolute difference"),
        (float(np.sum(np.abs(diff))),
         "that is the sum of the differences; return the LARGEST absolute difference"),
        (float(np.mean(diff)),
         "that is the mean of the differences, without abs; return the LARGEST absolute difference"),
        (float(np.max(diff)), "the absolute value is missing: take np.abs of the differences, then the maximum"),
        (float(np.max(-diff)), "the absolute value is missing: take np.abs of the differences, then the maximum"),
    ]
    variants = [(v, m) for v, m in variants if abs(v - expected) > 1e-9]
    check = close_scalar_check(expected, what=f"equivariance_error({name}, x, {dy}, {dx})", variants=variants,
                               hint="np.max(np.abs(op(shift(x, dy, dx)) - shift(op(x), dy, dx)))")
    return Case(label, (name, x, dy, dx), {}, expected, check)


#: The operations whose error is not 0 or 1 everywhere, and the sign of their largest difference.
#: Their cases have N >= 3 and C >= 3 with image 0 and channel 0 blank, so a maximum over one image
#: (a `return` inside the loop over the batch) or one channel is 0, not the largest difference; the
#: last image is half the second, and so is the last channel (these operations are linear), so a
#: loop that keeps the last image's or channel's error falls short too; and
#: x is negated where needed so that the largest difference is positive for one and negative for
#: the other: a maximum without abs (either way round, or its abs) falls short in one of them.
VARIES = {"mirror": 1.0, "times_column": -1.0}


def _signed(name, x, dy, dx):
    """x, or -x, so that the largest difference of `name`'s case has the sign VARIES gives."""
    diff = differences(OPERATIONS[name], x, dy, dx)
    largest = diff.flat[int(np.argmax(np.abs(diff)))]
    return x if np.sign(largest) == VARIES[name] else -x


def error_cases(rng):
    cases = []
    plan = [("conv3x3", 2, -3, "a 3x3 convolution commutes with shifts"),
            ("relu", -1, 2, "ReLU commutes with shifts"),
            ("max3x3", 3, 1, "a 3x3 maximum commutes with shifts"),
            ("plus_one", 1, -2, "x + 1: zeros move in, so the shifted output differs by 1"),
            # the other non-zero errors stay the same for any vertical move: only this case
            # tells a shift by (dy, dx) from one that ignores dy
            ("plus_one", -2, 0, "x + 1 moved up only: zeros move in at the bottom, a difference of 1"),
            ("mirror", 0, 2, "a mirror image does not commute"),
            ("times_column", -2, -1, "a column weight does not commute"),
            # the only operation whose error changes with the direction: it tells a move by
            # (-dy, -dx) on both sides (or a reversed shift) from the move asked for
            ("running_sum", 1, -1, "a running sum moved left by 1: zeros move in where it holds the row's total"),
            ("running_sum", -1, 3, "a running sum moved right commutes: zeros move in where it is 0")]
    for name, dy, dx, what in plan:
        low, high = (3, 5) if name in VARIES else (1, 4)
        N, C = int(rng.integers(low, high)), int(rng.integers(low, high))
        H, W = (int(v) for v in rng.integers(4, 9, size=2))
        x = bordered(rng, N, C, H, W, max(abs(dy), abs(dx)) + 2)
        blank = ""
        if name in VARIES:
            x[0], x[:, 0] = 0.0, 0.0
            x[:, -1] = 0.5 * x[:, 1]
            x[-1] = 0.5 * x[1]
            x = _signed(name, x, dy, dx)
            blank = ", image and channel 0 blank, the last ones half the 2nd"   # labels stay under 140
        cases.append(_error_case(f"{name}, N={N}, C={C}{blank}, moved by ({dy}, {dx}): {what}", name, x, dy, dx))
    # without a zero border, np.roll on one side only wraps content around where shift moves zeros
    # in (with the border, rolling and shifting the input agree): ReLU still commutes exactly. The
    # rows and the column that wrap around hold small values, so the error of a roll is not also
    # the largest value of x (what comparing without a shift, or shifting the other way, gives).
    N, C = (int(v) for v in rng.integers(2, 4, size=2))
    H, W = (int(v) for v in rng.integers(4, 9, size=2))
    x = rng.normal(size=(N, C, H, W))
    x[:, :, -2:] *= 0.1
    x[:, :, :, 0] *= 0.1
    cases.append(_error_case(f"relu, N={N}, C={C}, images WITHOUT a zero border, moved by (2, -1): ReLU commutes "
                             "with a shift where zeros move in (ReLU of 0 is 0)", "relu", x, 2, -1))
    # found by a hunt (session 17): every error above is the same for a move up as for a move
    # down, so a shift (or an equivariance_error) that moves dy > 0 UP got credit. Content down to
    # the bottom edge (a zero border on the other three sides), moved down by 2: the row that
    # leaves the frame is missing from the last output row of the convolution (a difference in
    # the last row only). Moved up, the difference is the bottom row of x, made small.
    N, C = (int(v) for v in rng.integers(2, 4, size=2))
    H, W = (int(v) for v in rng.integers(4, 9, size=2))
    x = np.zeros((N, C, H + 3, W + 6))
    x[:, :, 3:, 3:3 + W] = rng.normal(size=(N, C, H, W))
    x[:, :, -1] *= 0.1
    cases.append(_error_case(f"conv3x3, N={N}, C={C}, content down to the bottom edge, moved DOWN by (2, 0): the "
                             "rows that leave the frame count", "conv3x3", x, 2, 0))
    return cases


def _moved(after, x, dy, dx) -> bool:
    """`after` holds x's content moved by (dy, dx) (whatever fills the rows and columns moved in)."""
    H, W = x.shape[-2:]
    try:
        after = np.asarray(after, dtype=np.float64)
        return after.shape == x.shape and bool(np.array_equal(
            after[..., max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)],
            x[..., max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]))
    except (TypeError, ValueError):
        return False


def changed_x(case, args_after, kwargs_after):
    """The functions that may have changed `x` during equivariance_error_of (the student's, not the
    wrapper). None when x is unchanged.

    When x holds the moved image afterwards, the student's shift wrote into its input, or their
    equivariance_error stored a shift's result in x (`x[...] = shift(x, dy, dx)`): the values
    cannot tell which (the grader only sees x before and after the call, and cannot call shift
    alone), so the message names both; test_shift fails a shift that writes into x on its own
    (found by a student trial, session 26: `shift` alone was named, though it passed its test).
    The visible test calls the student's shift alone and names the one that did it."""
    _, x, dy, dx = case.args
    after = args_after[1]
    if same_value(x, after):
        return None
    if _moved(after, x, dy, dx) or _moved(after, x, -dy, -dx):
        return ("`x` holds the moved image after equivariance_error(op, x, dy, dx): a shift's result was written "
                "into x, by your equivariance_error (e.g. `x[...] = shift(x, dy, dx)`) or by your shift (then "
                "its own test fails too): compute into new arrays instead")
    return ("`x` changed in place during equivariance_error(op, x, dy, dx): your equivariance_error and "
            "your shift must not write into x: compute into new arrays instead")


CHECKS = [
    Check("test_local_and_conv_params", ASSIGNMENT, "local_and_conv_params", "function", count_cases,
          cell="local_and_conv_params", params=("H", "W", "C", "K", "Fh", "Fw"), points=4),
    Check("test_shift", ASSIGNMENT, "shift", "function", shift_cases,   # the task: "Return a new array"
          cell="shift", params=("x", "dy", "dx"), points=4, fresh=True),
    Check("test_equivariance_error", ASSIGNMENT, "equivariance_error_of", "function", error_cases,
          cell="equivariance_error", params=("name", "x", "dy", "dx"), points=4, changed=changed_x,
          shown="equivariance_error"),
]
