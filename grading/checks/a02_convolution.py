"""02_convolution: conv2d_single (one channel, one filter) and conv2d_multi (C channels, K filters)."""
import numpy as np

import cnnlib

from ._conv import BIAS, FLIPPED, shape_label
from ._core import Case, Check, Variant, array_check
from ._extra import squeezed
from ._layout import misread, misread_variants, step_label, step_view

ASSIGNMENT = "02_convolution"

EXAMPLE_X = np.array([[1.0, 2.0, 0.0, 1.0],
                      [0.0, 1.0, 3.0, 1.0],
                      [2.0, 1.0, 0.0, 0.0],
                      [1.0, 0.0, 1.0, 2.0]])
EXAMPLE_W = np.array([[1.0, 0.0, -1.0],
                      [1.0, 0.0, -1.0],
                      [2.0, 0.0, 0.0]])


def conv_single_ref(x, w):
    return cnnlib.conv2d_im2col(x[None, None], w[None, None])[0, 0]


def _single_case(label, x, w):
    H, W = x.shape
    Fh, Fw = w.shape
    expected = conv_single_ref(x, w)
    variants = misread_variants("x", x, lambda: conv_single_ref(misread(x), w)) + [
        Variant(FLIPPED, conv_single_ref(x, w[::-1, ::-1].copy())),
        Variant("one row and one column short: a valid output has H - F + 1 rows (the +1?)",
                shape=(H - Fh, W - Fw)),
        Variant("one row and one column too many: the window must stay inside x",
                shape=(H - Fh + 2, W - Fw + 2)),
        Variant("rows and columns swapped: the output is (H - Fh + 1, W - Fw + 1)",
                shape=(W - Fw + 1, H - Fh + 1)),
        Variant("the output has the input's size: a valid cross-correlation does not pad",
                shape=(H, W)),
    ] + squeezed(expected, "the output is 2-D, (H - Fh + 1, W - Fw + 1), also when the kernel is as tall "
                           "or as wide as x")
    check = array_check(expected, what="conv2d_single output", variants=variants,
                        magnitude=conv_single_ref(np.abs(x), np.abs(w)),
                        shape_hint=f"for x {x.shape} and w {w.shape} the output is (H - Fh + 1, W - Fw + 1)",
                        value_hint="out[i, j] = sum(x[i:i+Fh, j:j+Fw] * w)", dtype=x.dtype)
    return Case(label, (x, w), {}, expected, check)


def single_cases(rng):
    cases = [_single_case("the worked example (4x4 input, 3x3 kernel)", EXAMPLE_X, EXAMPLE_W)]
    # a kernel as tall as x, then as wide: one output row, one column (session 31: a squeeze passed)
    for H, W, Fh, Fw in [(6, 9, 3, 3), (8, 5, 2, 4), (5, 5, 1, 1), (7, 6, 5, 2), (3, 7, 3, 2), (6, 2, 2, 2)]:
        x, w = rng.normal(size=(H, W)), rng.normal(size=(Fh, Fw))
        cases.append(_single_case(shape_label(H, W, Fh, Fw), x, w))
    x, w = rng.normal(size=(6, 7)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    cases.append(_single_case("float32 6x7 input, 3x3 kernel", x, w))
    x, w = step_view(rng, rng.normal(size=(6, 7))), rng.normal(size=(3, 3))
    cases.append(_single_case(step_label("x", 2) + ", 6x7 input, 3x3 kernel", x, w))
    return cases


def conv_multi_ref(x, w, b):
    return cnnlib.conv2d_im2col(x[None], w, b)[0]


def _multi_case(label, x, w, b):
    C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    expected = conv_multi_ref(x, w, b)
    variants = misread_variants("x", x, lambda: conv_multi_ref(misread(x), w, b)) + [
        Variant(FLIPPED, conv_multi_ref(x, w[:, :, ::-1, ::-1].copy(), b)),
        Variant(BIAS, conv_multi_ref(x, w, None)),
        Variant("only channel 0 is used: each filter sums over ALL C channels of the window",
                conv_multi_ref(x[:1], w[:, :1].copy(), b)),
        Variant("the channels were not summed: filter k gives ONE map, the sum over channels",
                shape=(K, C, H - Fh + 1, W - Fw + 1)),
        Variant("one row and one column short: a valid output has H - F + 1 rows (the +1?)",
                shape=(K, H - Fh, W - Fw)),
        Variant("the output has one map per channel, not per filter: it is (K, H_out, W_out)",
                shape=(C, H - Fh + 1, W - Fw + 1)),
    ]
    if C > 1:
        variants.append(Variant("the bias was added once per channel: add b[k] once per output value",
                                conv_multi_ref(x, w, b * C)))
    if K > 1 and W - Fw + 1 == K:   # `out + b` runs only where W_out = K (as in the worked example)
        variants.append(Variant("b was added along the last axis (W_out), not one value per filter: give b (K,) "
                                "its filter axis, out + b[:, None, None]", conv_multi_ref(x, w, None) + b))
    check = array_check(expected, what="conv2d_multi output", variants=variants,
                        shape_hint="x (C, H, W) with w (K, C, Fh, Fw) gives (K, H - Fh + 1, W - Fw + 1)",
                        value_hint="out[k, i, j] = sum(x[:, i:i+Fh, j:j+Fw] * w[k]) + b[k]",
                        dtype=x.dtype, magnitude=conv_multi_ref(np.abs(x), np.abs(w), np.abs(b)))
    return Case(label, (x, w, b), {}, expected, check)


def multi_example():
    x = np.stack([EXAMPLE_X, EXAMPLE_X[::-1]])            # (2, 4, 4)
    w = np.stack([np.stack([EXAMPLE_W, np.ones((3, 3))]),
                  np.stack([np.zeros((3, 3)), EXAMPLE_W.T])])  # (2, 2, 3, 3)
    b = np.array([1.0, -2.0])
    return x, w, b


def multi_cases(rng):
    cases = [_multi_case("the worked example (2 channels, 2 filters, 4x4 input)", *multi_example())]
    for C, H, W, K, Fh, Fw in [(3, 6, 8, 4, 3, 3), (1, 7, 5, 2, 2, 3), (2, 5, 5, 1, 4, 4), (3, 9, 6, 3, 1, 2)]:
        x, w, b = rng.normal(size=(C, H, W)), rng.normal(size=(K, C, Fh, Fw)), rng.normal(size=K)
        counts = f"{C} channel{'s' * (C > 1)}, {K} filter{'s' * (K > 1)}, "
        cases.append(_multi_case(counts + shape_label(H, W, Fh, Fw), x, w, b))
    x = rng.normal(size=(2, 6, 7)).astype(np.float32)
    w = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32)
    cases.append(_multi_case("float32, 2 channels, 3 filters, 6x7 input", x, w, b))
    x = step_view(rng, rng.normal(size=(3, 6, 7)))
    w, b = rng.normal(size=(2, 3, 3, 2)), rng.normal(size=2)
    cases.append(_multi_case(step_label("x", 3) + ", 3 channels, 2 filters, 6x7 input, 3x2 kernel", x, w, b))
    return cases


CHECKS = [
    Check("test_conv2d_single", ASSIGNMENT, "conv2d_single", "function", single_cases,
          cell="conv2d_single", params=("x", "w"), points=5),
    Check("test_conv2d_multi", ASSIGNMENT, "conv2d_multi", "function", multi_cases,
          cell="conv2d_multi", params=("x", "w", "b"), points=5),
]
