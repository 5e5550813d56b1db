"""03_hyperparameters: zero_pad, conv_output_size, conv2d (stride, padding) and conv_param_count."""
import itertools
import math

import numpy as np

import cnnlib

from ._conv import conv_magnitude, conv_variants, layout_cases, out_size, random_conv_cases, shape_label
from ._core import Case, Check, Variant, array_check, never_raises, scalar_check
from ._extra import call_args, int_type_check, keeps_dtype, swapped

ASSIGNMENT = "03_hyperparameters"


# --------------------------------------------------------------------------- zero_pad
def _pad_case(label, x, p):
    expected = cnnlib.zero_pad(x, p)
    N, C, H, W = x.shape
    variants = [
        Variant("padding applied to the channel axis (C) and H but not W, as for (N, H, W, C) "
                "images: for (N, C, H, W) pad axes 2 and 3 only",
                np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))),
        Variant("every axis was padded (N and C too): pad only H and W",
                np.pad(x, p)),
        Variant("zeros added on one side only: add P zeros on EACH side", shape=(N, C, H + p, W + p)),
        Variant("only H was padded: pad W as well", shape=(N, C, H + 2 * p, W)),
        Variant("only W was padded: pad H as well", shape=(N, C, H, W + 2 * p)),
        Variant("2P zeros on each side: P on each side makes the side grow by 2P",
                shape=(N, C, H + 4 * p, W + 4 * p)),
    ]
    values = array_check(expected, what="zero_pad output", variants=variants,
                         shape_hint=f"x {x.shape} padded by {p} is (N, C, H + 2P, W + 2P)",
                         value_hint="the middle is x and the border zeros", dtype=x.dtype)
    return Case(label, (x, p), {}, expected, keeps_dtype(values, x.dtype, "zero_pad output"))


def pad_cases(rng):
    cases = [_pad_case("the worked example: a 1x1x2x3 input, padding 1",
                       np.arange(1.0, 7.0).reshape(1, 1, 2, 3), 1)]
    for shape, p in [((2, 3, 4, 5), 2), ((1, 2, 3, 3), 1), ((2, 1, 5, 2), 3), ((3, 2, 4, 4), 0)]:
        cases.append(_pad_case(f"x of shape {shape}, padding {p}", rng.normal(size=shape), p))
    cases.append(_pad_case("float32 x of shape (2, 3, 3, 4), padding 1",
                           rng.normal(size=(2, 3, 3, 4)).astype(np.float32), 1))
    return cases


# --------------------------------------------------------------------------- conv_output_size
#: a size is used by conv2d (np.zeros, range): the right value as a float (np.floor, /) breaks it
FLOOR_ADVICE = "use // (floor division), not np.floor or /"
#: a count is a whole number too (the task says so); floats come from /, math.pow, ** 2.0
COUNT_ADVICE = "multiply ints (no /, math.pow or float())"


def _size_case(label, n, f, p, s):
    expected = cnnlib.conv_output_size(n, f, p, s)
    variants = [
        Variant("ceil instead of floor: a window that does not fit is dropped, use //",
                math.ceil((n + 2 * p - f) / s) + 1),
        Variant("the +1 is missing: the first window sits at position 0", (n + 2 * p - f) // s),
        Variant("the padding was divided by the stride on its own: (n - F) // S + 2P // S drops what the "
                "two remainders add up to; floor the whole (n + 2P - F) / S", (n - f) // s + 2 * p // s + 1),
        Variant("padding counted once: P zeros on EACH side add 2P", (n + p - f) // s + 1),
        Variant("the stride is ignored", n + 2 * p - f + 1),
        Variant("the padding is ignored", (n - f) // s + 1 if n >= f else None),
        Variant("(n + 2P - F) / S + 1 must be floored: use //", (n + 2 * p - f) / s + 1),
    ]
    what = f"conv_output_size(n={n}, f={f}, padding={p}, stride={s})"
    check = int_type_check(scalar_check(expected, what=what, variants=variants, hint="(n + 2P - F) // S + 1"),
                           what=what, advice=FLOOR_ADVICE)
    return Case(label, (n, f, p, s), {}, expected, check)


def size_cases(rng):
    cases = [_size_case("the worked example: n=5, f=3, no padding, stride 1", 5, 3, 0, 1),
             _size_case("'same' padding: n=5, f=3, padding 1, stride 1", 5, 3, 1, 1),
             _size_case("stride 2 that divides: n=7, f=3", 7, 3, 0, 2),
             _size_case("stride 2 that does not divide: n=6, f=3", 6, 3, 0, 2),
             _size_case("224x224 image, f=7, padding 3, stride 2", 224, 7, 3, 2),
             _size_case("padding 1 with stride 3: n=7, f=3", 7, 3, 1, 3),
             # an answer of 1 (the kernel as large as the padded input): the answer 1, not True
             _size_case("the kernel as large as the padded input: n=4, f=6, padding 1, stride 2", 4, 6, 1, 2)]
    while len(cases) < 11:
        n, f, p, s = int(rng.integers(3, 40)), int(rng.integers(1, 8)), int(rng.integers(0, 4)), int(rng.integers(2, 5))
        if f <= n + 2 * p and (n + 2 * p - f) % s:
            cases.append(_size_case(f"random: n={n}, f={f}, padding {p}, stride {s} (does not divide)", n, f, p, s))
    return cases


# --------------------------------------------------------------------------- conv2d
#: a signature (x, w, b, padding=0, stride=1) passes every call that names its arguments
SWAPPED = swapped("stride", "padding", "conv2d(x, w, b, stride=1, padding=0)")


def _conv_case(label, x, w, b, by_position=False, **kw):
    """A call with stride and padding as keywords (those given), or by position (both)."""
    S, P = kw.get("stride", 1), kw.get("padding", 0)
    expected = cnnlib.conv2d_im2col(x, w, b, stride=S, padding=P)
    variants = conv_variants(x, w, b, S, P)
    if by_position:
        variants.insert(0, Variant(SWAPPED, cnnlib.conv2d_im2col(x, w, b, stride=P, padding=S)))
    check = array_check(expected, what="conv2d output", variants=variants,
                        shape_hint="(N, K, H_out, W_out) with H_out = (H + 2P - Fh) // S + 1",
                        value_hint="out[n, k, i, j] = sum(x_pad[n, :, i*S:i*S+Fh, j*S:j*S+Fw] * w[k]) + b[k]",
                        dtype=x.dtype, magnitude=conv_magnitude(x, w, b, S, P))
    args, kwargs = call_args((x, w, b), {"stride": S, "padding": P} if by_position else kw,
                             "position" if by_position else "keywords")
    return Case(label, args, kwargs, expected, check)


def conv_example():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    w = np.array([[[[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]]]])
    return x, w, np.array([0.5])


def conv_cases(rng):
    x, w, b = conv_example()
    cases = [_conv_case("the worked example: 5x5, 3x3 kernel, stride 2, padding 1", x, w, b, stride=2, padding=1),
             _conv_case("the worked example with the defaults (stride 1, no padding)", x, w, b)]
    fixed = [(2, 3, 7, 5, 4, 3, 3, 2, 1), (1, 2, 6, 9, 3, 2, 4, 3, 2), (2, 1, 8, 8, 2, 3, 3, 1, 1),
             (1, 3, 9, 7, 2, 5, 3, 2, 0), (3, 2, 5, 6, 2, 1, 1, 2, 0)]
    cases += random_conv_cases(rng, fixed, _conv_case)
    x = rng.normal(size=(2, 3, 7, 6)).astype(np.float32)
    w, b = rng.normal(size=(4, 3, 3, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    cases.append(_conv_case("float32, 7x6 input, 3x3 kernel, stride 2, padding 1", x, w, b, stride=2, padding=1))
    x, w, b = rng.normal(size=(2, 2, 7, 6)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    cases.append(_conv_case("stride 2 and padding 1 given by position: conv2d(x, w, b, 2, 1)", x, w, b,
                            by_position=True, stride=2, padding=1))
    cases += layout_cases(rng, _conv_case)
    # a mutation trial (session 30): a stride-1 shortcut with F = Fh for both sides of the window
    # passed whenever the random shapes drew square kernels, as every fixed stride-1 case had; these
    # come last, so the draws above stay the same
    for N, C, H, W, K, Fh, Fw, P in [(2, 2, 6, 7, 3, 2, 3, 1), (1, 3, 7, 5, 2, 3, 2, 0)]:
        x, w, b = rng.normal(size=(N, C, H, W)), rng.normal(size=(K, C, Fh, Fw)), rng.normal(size=K)
        cases.append(_conv_case(f"stride 1 with a non-square kernel (Fh != Fw): N={N}, C={C}, K={K}, "
                                + shape_label(H, W, Fh, Fw, 1, P), x, w, b, stride=1, padding=P))
    return cases


# --------------------------------------------------------------------------- conv_param_count
ORDER = ("C", "K", "F")   # in, out, size: as Conv2D(in_channels, out_channels, kernel_size)


def _order_variants(C, K, F):
    """The counts of a function that reads (C, K, F) in another order, one Variant per count."""
    orders: dict[int, list[str]] = {}
    for read_as in itertools.permutations(ORDER):
        if read_as != ORDER:
            roles = dict(zip(read_as, (C, K, F)))   # what each position was taken for
            count = cnnlib.conv_param_count(*(roles[r] for r in ORDER))
            orders.setdefault(count, []).append(f"({', '.join(read_as)})")
    return [Variant(f"the arguments were read in the order {' or '.join(names)}; they come as "
                    "(C, K, F): in, out, size, as in Conv2D(in_channels, out_channels, kernel_size)",
                    value) for value, names in orders.items()]


def _param_case(label, C, K, F):
    expected = cnnlib.conv_param_count(C, K, F)
    variants = [
        Variant("the biases are missing: one bias per filter", K * F * F * C),
        Variant("one bias per channel counted; it is one bias per filter", K * (F * F + 1) * C),
        Variant("C biases counted, one per input channel; it is one bias per filter (K)", K * F * F * C + C),
        Variant("the channels are missing: each filter is F x F x C", K * (F * F + 1)),
        Variant("F is not squared: a filter is F x F", K * (F * C + 1)),
    ] + _order_variants(C, K, F)
    what = f"conv_param_count(C={C}, K={K}, F={F})"
    check = int_type_check(scalar_check(expected, what=what, variants=variants, hint="K * (F * F * C + 1)"),
                           what=what, advice=COUNT_ADVICE)
    return Case(label, (C, K, F), {}, expected, check)


def param_cases(rng):
    cases = [_param_case("the worked example: 64 filters 3x3 on an RGB image", 3, 64, 3),
             _param_case("16 filters 5x5 on 8 channels", 8, 16, 5),
             # grey images, the course's running example: `if C == 1: return K*F*F` passed (session 24)
             _param_case("6 filters 5x5 on a grey image (C = 1)", 1, 6, 5)]
    for _ in range(3):
        K, F, C = int(rng.integers(1, 129)), int(rng.integers(1, 8)), int(rng.integers(2, 65))
        cases.append(_param_case(f"random: {K} filters {F}x{F} on {C} channels", C, K, F))
    K, F = int(rng.integers(1, 129)), int(rng.integers(1, 8))
    cases.append(_param_case(f"random: {K} filters {F}x{F} on a grey image (C = 1)", 1, K, F))
    return cases


CHECKS = [
    Check("test_zero_pad", ASSIGNMENT, "zero_pad", "function", pad_cases,
          cell="zero_pad", params=("x", "padding"), points=3, fresh=True),
    Check("test_conv_output_size", ASSIGNMENT, "conv_output_size", "function", size_cases,
          cell="conv_output_size", params=("n", "f", "padding", "stride"), points=3),
    Check("test_conv2d", ASSIGNMENT, "conv2d", "function", conv_cases,
          cell="conv2d", params=("x", "w", "b", "stride", "padding"), points=6),
    Check("test_conv_param_count", ASSIGNMENT, "conv_param_count", "function", param_cases,
          cell="conv_param_count", params=ORDER, points=2),
]
