"""05_pooling: max_pool2d, avg_pool2d and max_pool2d_backward (ties: first maximum, row-major)."""
import numpy as np

import cnnlib

from ._core import Case, Check, Variant, array_check
from ._extra import call_args, swapped
from ._layout import misread, misread_variants, step_label, step_view

ASSIGNMENT = "05_pooling"

EXAMPLE_X = np.array([[[[1.0, 3.0, 2.0, 0.0],
                        [4.0, 2.0, 1.0, 1.0],
                        [0.0, 5.0, 3.0, 3.0],
                        [1.0, 2.0, 3.0, 2.0]]]])


def _size(n, size, stride, ceil=False):
    return (-(-(n - size) // stride) if ceil else (n - size) // stride) + 1


def pool_loops(x, size, stride, op, window=None, start=None):
    """A loop pooling used to build known-wrong answers: `window` elements per window side,
    windows starting every `start` pixels (defaults: size and stride)."""
    window = window or size
    start = start or stride
    N, C, H, W = x.shape
    Ho, Wo = _size(H, size, stride), _size(W, size, stride)
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * start:i * start + window, j * start:j * start + window]
            out[:, :, i, j] = op(win, axis=(2, 3)) if win.size else np.nan
    return out


def _label(x, size, stride):
    N, C, H, W = x.shape
    s = size if stride is None else stride
    bits = [f"N={N}, C={C}, {'non-square ' if H != W else ''}H×W={H}x{W} input",
            f"window F={size}"]
    bits.append("default stride (S=F)" if stride is None else f"stride S={stride}")
    if s < size:
        bits.append("overlapping windows")
    if (H - size) % s or (W - size) % s:
        bits.append("windows that do not divide the input (floor)")
    if x.dtype == np.float32:
        bits.append("float32")
    if np.all(x < 0):
        bits.append("every value negative")
    return ", ".join(bits)


def _named(label, x, size, stride):
    """A hand-written label, with the case's N, C, H, W, F and S after it."""
    if label is None:
        return _label(x, size, stride)
    N, C, H, W = x.shape
    return f"{label} (N={N}, C={C}, H×W={H}x{W}, F={size}, S={size if stride is None else stride})"


def _kw(size, stride):
    kw = {"size": size}
    if stride is not None:
        kw["stride"] = stride
    return kw


#: a signature (x, stride=None, size=2) passes every call that names its arguments
SWAPPED = swapped("size", "stride", "(x, size=2, stride=None)")
NO_DEFAULT_SIZE = ("the default window is size=2: a call with x alone must pool 2x2 windows "
                   "(keep the signature's defaults, size=2, stride=None)")


#: a maximum that starts at 0 (`best = 0`, np.maximum on np.zeros) is right wherever a window holds a
#: positive value: only a window of negative values tells it
FROM_ZERO = ("the maximum started at 0 (e.g. `best = 0`, or np.maximum with an array of zeros): a window of "
             "negative values has a negative maximum; start from the window's first value (or -np.inf)")


def _forward_case(fn_name, x, size, stride, label=None, call="keywords"):
    ref = cnnlib.max_pool2d if fn_name == "max_pool2d" else cnnlib.avg_pool2d
    op, other = (np.max, np.mean) if fn_name == "max_pool2d" else (np.mean, np.max)
    s = size if stride is None else stride
    N, C, H, W = x.shape
    expected = ref(x, size=size, stride=stride)
    variants = [
        Variant("ceil instead of floor: a window that does not fit inside the input is dropped",
                shape=(N, C, _size(H, size, s, True), _size(W, size, s, True))),
        Variant(f"{'the average' if op is np.max else 'the maximum'} was computed instead",
                pool_loops(x, size, s, other)),
    ]
    if stride is None and size > 1:
        variants.append(Variant("stride=None must mean stride = size (non-overlapping windows)",
                                shape=(N, C, _size(H, size, 1), _size(W, size, 1))))
    if stride is None and size not in (1, 2):
        variants.insert(0, Variant(f"stride=None must mean stride = size (here {size}), not 2",
                                   pool_loops(x, size, 2, op)))
    if s > 1:
        variants.append(Variant("the output size is right but each window starts at i (and j) "
                                "instead of i*stride (and j*stride)", pool_loops(x, size, s, op, start=1)))
    if H != W:
        variants.append(Variant("H and W swapped: x is (N, C, H, W), rows (H) before columns (W)",
                                shape=(N, C, _size(W, size, s), _size(H, size, s))))
    if stride is not None and stride != size:
        variants.append(Variant("the stride argument is ignored (windows moved by `size`)",
                                ref(x, size=size, stride=size)))
        variants.append(Variant("the output size is right but the windows move by `size`, not `stride`",
                                pool_loops(x, size, s, op, start=size)))
    if op is np.max and np.any(x < 0):
        variants.append(Variant(FROM_ZERO, pool_loops(np.maximum(x, 0), size, s, np.max)))
    if size > 1:
        variants.append(Variant("off-by-one window: each window covers `size` rows and columns "
                                "(x[i*S : i*S + size]), one was left out", pool_loops(x, size, s, op, window=size - 1)))
    variants.append(Variant("one row and one column short: H_out = (H - size) // stride + 1",
                            shape=(N, C, expected.shape[2] - 1, expected.shape[3] - 1)))
    if call == "position" and stride is not None and stride != size:
        variants.insert(0, Variant(SWAPPED, ref(x, size=stride, stride=size)))
    if call == "defaults":
        variants.insert(0, Variant(NO_DEFAULT_SIZE, shape=(N, C, _size(H, 3, 3), _size(W, 3, 3))))
    variants = [v for v in variants if v.value is not None or v.shape is not None]
    variants = misread_variants("x", x, lambda: ref(misread(x), size=size, stride=stride)) + variants
    check = array_check(expected, what=f"{fn_name} output", variants=variants,
                        shape_hint="(N, C, H_out, W_out) with H_out = (H - size) // stride + 1",
                        dtype=x.dtype, magnitude=ref(np.abs(x), size=size, stride=stride))
    args, kwargs = call_args((x,), _kw(size, stride), call)
    return Case(_named(label, x, size, stride), args, kwargs, expected, check)


def _shapes(rng):
    """(x, size, stride) for the hidden cases: ties, overlap, non-square, strides that do not divide,
    and one input whose every value is negative (a maximum that starts at 0 is wrong only there)."""
    out = []
    for shape, size, stride in [((2, 3, 7, 5), 2, None), ((1, 2, 7, 7), 3, 2), ((2, 1, 6, 9), 3, 1),
                                ((1, 3, 8, 6), 2, 3), ((2, 2, 5, 8), 2, 1), ((1, 1, 9, 7), 4, 3),
                                ((2, 2, 7, 8), 3, None)]:
        x = rng.integers(0, 4, size=shape).astype(np.float64)   # many ties
        if shape[0] == 2:
            x = x + 0.1 * rng.normal(size=shape)
        out.append((x, size, stride))
    out.append((rng.normal(size=(2, 3, 6, 7)).astype(np.float32), 3, 2))
    out.append((-rng.integers(1, 5, size=(2, 3, 5, 6)).astype(np.float64), 2, 1))   # negative, with ties
    return out


def _tiling(rng):
    """(x, size, stride, label): windows that tile a NON-SQUARE input exactly (stride = size, size
    divides H and W), with N or C above 1. A fast path `x.reshape(N, C, n, size, n, size)` with
    n = H // size for both axes is right on a square input only (found by a mutation trial, session 30:
    the only tiling case was the square 4x4 worked example). Drawn after every other case."""
    x1 = rng.normal(size=(2, 3, 6, 4))
    x2 = rng.integers(0, 4, size=(1, 2, 6, 9)).astype(np.float64)   # ties
    return [(x1, 2, None, "windows that tile a non-square input (H != W), default size and stride"),
            (x2, 3, None, "windows that tile a non-square input (H != W), size 3, default stride")]


def max_cases(rng):
    cases = [_forward_case("max_pool2d", EXAMPLE_X, 2, None, "the worked example: 4x4 input, window 2"),
             _forward_case("max_pool2d", EXAMPLE_X, 3, 1, "the worked example, window 3, stride 1 (overlapping)")]
    cases += [_forward_case("max_pool2d", x, size, stride) for x, size, stride in _shapes(rng)]
    cases += _call_cases("max_pool2d", rng)
    return cases + [_forward_case("max_pool2d", x, size, stride, label) for x, size, stride, label in _tiling(rng)]


def _call_cases(fn_name, rng):
    """Two calls that do not name size and stride: both by position, and x alone (the defaults)."""
    x = rng.normal(size=(2, 2, 9, 8))
    return [_forward_case(fn_name, x, 3, 2, f"size 3 and stride 2 given by position: {fn_name}(x, 3, 2)",
                          call="position"),
            _forward_case(fn_name, x, 2, None, f"x alone: {fn_name}(x), the defaults size=2, stride=None",
                          call="defaults"),
            _forward_case(fn_name, step_view(rng, rng.normal(size=(2, 3, 6, 7))), 3, 2, step_label("x", 4))]


def avg_cases(rng):
    cases = [_forward_case("avg_pool2d", EXAMPLE_X, 2, None, "the worked example: 4x4 input, window 2"),
             _forward_case("avg_pool2d", EXAMPLE_X, 3, 1, "the worked example, window 3, stride 1 (overlapping)")]
    cases += [_forward_case("avg_pool2d", x, size, stride) for x, size, stride in _shapes(rng)]
    cases += _call_cases("avg_pool2d", rng)
    return cases + [_forward_case("avg_pool2d", x, size, stride, label) for x, size, stride, label in _tiling(rng)]


# --------------------------------------------------------------------------- backward
def backward_loops(dout, x, size, stride, rule="first", assign=False):
    """Known-wrong (or right) max-pool backward by loops: `rule` picks which maximum gets the
    gradient ("first", "last", "all", "avg", "column": the first in column-major order); `assign`
    writes with `=` instead of `+=`."""
    N, C, H, W = x.shape
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    r, q = i * stride, j * stride
                    win = x[n, c, r:r + size, q:q + size]
                    g = dout[n, c, i, j]
                    if rule == "avg":
                        mask = np.full(win.shape, 1.0 / win.size)
                    elif rule == "all":
                        mask = (win == win.max()).astype(float)
                    elif rule == "column":   # np.argmax of the window read column by column (win.T)
                        mask = np.zeros(win.T.size)
                        mask[int(np.argmax(win.T.ravel()))] = 1.0
                        mask = mask.reshape(win.T.shape).T
                    else:
                        flat = win.ravel()
                        k = int(np.argmax(flat)) if rule == "first" else flat.size - 1 - int(np.argmax(flat[::-1]))
                        mask = np.zeros(win.size)
                        mask[k] = 1.0
                        mask = mask.reshape(win.shape)
                    region = dx[n, c, r:r + size, q:q + size]
                    if assign:
                        region[mask > 0] = g * mask[mask > 0]
                    else:
                        region += g * mask
    return dx


def _backward_case(x, size, stride, dout, label=None, call="keywords"):
    s = size if stride is None else stride
    expected = cnnlib.max_pool2d_backward(dout, x, size=size, stride=stride)
    variants = [
        Variant("`=` instead of `+=`: where windows overlap, a pixel that is the maximum of several "
                "windows collects the gradient of EACH of them (with index arrays, dx[rows, cols] += g keeps "
                "only one value per repeated pixel: use np.add.at(dx, (rows, cols), g))",
                backward_loops(dout, x, size, s, assign=True)),
        Variant("every tied maximum got the gradient; the rule is: only the FIRST maximum of the "
                "window in row-major order (as np.argmax on the flattened window)",
                backward_loops(dout, x, size, s, rule="all")),
        Variant("the LAST tied maximum got the gradient; the rule is: the FIRST maximum in row-major "
                "order (np.argmax on the flattened window)", backward_loops(dout, x, size, s, rule="last")),
        Variant("the first tied maximum in COLUMN order (down each column first) got the gradient; the rule "
                "is: the FIRST maximum in row-major order, row by row (np.argmax on the flattened window)",
                backward_loops(dout, x, size, s, rule="column")),
        Variant("the gradient was spread over the window as for average pooling; max pooling sends "
                "it to the maximum only", backward_loops(dout, x, size, s, rule="avg")),
        Variant("the maximum got 1 instead of dout: multiply by the upstream gradient",
                backward_loops(np.ones_like(dout), x, size, s)),
        Variant("dx must have the shape of x, not of dout", shape=dout.shape),
    ]
    if np.any(x < 0):
        variants.append(Variant(FROM_ZERO, cnnlib.max_pool2d_backward(dout, np.maximum(x, 0), size=size,
                                                                      stride=stride)))
    variants = misread_variants("x", x, lambda: cnnlib.max_pool2d_backward(dout, misread(x), size=size,
                                                                           stride=stride)) + variants
    check = array_check(expected, what="max_pool2d_backward dx", variants=variants,
                        shape_hint="dx has the shape of x", dtype=x.dtype)
    args, kwargs = call_args((dout, x), _kw(size, stride), call)
    return Case(_named(label, x, size, stride), args, kwargs, expected, check)


def _dout_for(rng, x, size, stride):
    out = cnnlib.max_pool2d(x, size=size, stride=stride)
    return rng.normal(size=out.shape).astype(x.dtype)


def backward_example():
    x = EXAMPLE_X
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    return dout, x


def backward_cases(rng):
    dout, x = backward_example()
    cases = [_backward_case(x, 2, None, dout, "the worked example: 4x4 input, window 2"),
             _backward_case(x, 3, 1, np.arange(1.0, 5.0).reshape(1, 1, 2, 2),
                            "the worked example, window 3, stride 1 (overlapping windows)")]
    tie = np.zeros((1, 1, 4, 4))
    tie[0, 0, 0:2, 0:2] = 2.0   # every window is a tie
    cases.append(_backward_case(tie, 2, None, _dout_for(rng, tie, 2, None) + 3.0, "a window full of tied maxima"))
    for x, size, stride in _shapes(rng):
        cases.append(_backward_case(x, size, stride, _dout_for(rng, x, size, stride)))
    x = rng.normal(size=(2, 2, 9, 8))
    cases.append(_backward_case(x, 3, 2, _dout_for(rng, x, 3, 2), "size 3 and stride 2 given by position: "
                                "max_pool2d_backward(dout, x, 3, 2)", call="position"))
    cases.append(_backward_case(x, 2, None, _dout_for(rng, x, 2, None), "dout and x alone: "
                                "max_pool2d_backward(dout, x), the defaults size=2, stride=None", call="defaults"))
    x = step_view(rng, rng.normal(size=(2, 3, 6, 7)))
    cases.append(_backward_case(x, 3, 2, _dout_for(rng, x, 3, 2), step_label("x", 4)))
    for x, size, stride, label in _tiling(rng):
        cases.append(_backward_case(x, size, stride, _dout_for(rng, x, size, stride), label))
    return cases


CHECKS = [
    Check("test_max_pool2d", ASSIGNMENT, "max_pool2d", "function", max_cases,
          cell="max_pool2d", params=("x", "size", "stride"), points=4),
    Check("test_avg_pool2d", ASSIGNMENT, "avg_pool2d", "function", avg_cases,
          cell="avg_pool2d", params=("x", "size", "stride"), points=3),
    Check("test_max_pool2d_backward", ASSIGNMENT, "max_pool2d_backward", "function", backward_cases,
          cell="max_pool2d_backward", params=("dout", "x", "size", "stride"), points=6),
]
