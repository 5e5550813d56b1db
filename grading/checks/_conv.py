"""Shared pieces of the convolution checks: random shapes and the known-wrong answers.

Every check computes its expected values with cnnlib's textbook im2col (``conv2d_im2col``,
``conv2d_backward_im2col``), not with ``cnnlib.conv2d``: each case draws a new geometry, and
conv2d times its paths on the first call of every geometry, which cost more than it saved
(03b's cases took 7.7 s that way, 0.65 s by the textbook; tests/test_checks.py holds that no
check's cases start that timing).
"""
import numpy as np

import cnnlib

from ._core import Variant
from ._layout import fortran, fortran_label, misread_padded, misread_variants, step_label, step_view

FLIPPED = ("you computed a true convolution (kernel flipped); CNNs use cross-correlation: "
           "multiply the window by w as it is, without flipping it")
BIAS = "the bias is missing: add b[k] to every output of filter k"


def conv_magnitude(x, w, b=None, stride=1, padding=0):
    """Each output's sum of |terms|: the same convolution of |x|, |w| and |b| (see array_check)."""
    return cnnlib.conv2d_im2col(np.abs(x), np.abs(w), None if b is None else np.abs(b), stride=stride, padding=padding)


def out_size(n, f, p, s, ceil=False):
    num = n + 2 * p - f
    return (-(-num // s) if ceil else num // s) + 1


def random_conv_shape(rng, *, square=False, max_stride=3, max_pad=2):
    """(N, C, H, W, K, Fh, Fw, S, P) with a kernel that fits the padded input."""
    N, C, K = (int(v) for v in rng.integers(1, 4, size=3))
    H, W = (int(v) for v in rng.integers(4, 10, size=2))
    Fh = int(rng.integers(1, 5))
    Fw = Fh if square else int(rng.integers(1, 5))
    S = int(rng.integers(1, max_stride + 1))
    P = int(rng.integers(0, max_pad + 1))
    Fh, Fw = min(Fh, H + 2 * P), min(Fw, W + 2 * P)
    return N, C, H, W, K, Fh, Fw, S, P


def shape_label(H, W, Fh, Fw, S=1, P=0):
    parts = [f"{'square' if H == W else 'non-square'} {H}x{W} input", f"{Fh}x{Fw} kernel"]
    if S != 1:
        divides = (H + 2 * P - Fh) % S == 0 and (W + 2 * P - Fw) % S == 0
        parts.append(f"stride {S}" + ("" if divides else " (does not divide)"))
    if P:
        parts.append(f"padding {P}")
    return ", ".join(parts)


def random_conv_cases(rng, fixed, make_case, n_random=3):
    """make_case(label, x, w, b, stride=S, padding=P) for each (N, C, H, W, K, Fh, Fw, S, P) of
    ``fixed`` and ``n_random`` random shapes (drawn first), with normal float64 x, w and b."""
    cases = []
    for N, C, H, W, K, Fh, Fw, S, P in fixed + [random_conv_shape(rng) for _ in range(n_random)]:
        x = rng.normal(size=(N, C, H, W))
        w, b = rng.normal(size=(K, C, Fh, Fw)), rng.normal(size=K)
        cases.append(make_case(f"N={N}, C={C}, K={K}, " + shape_label(H, W, Fh, Fw, S, P),
                               x, w, b, stride=S, padding=P))
    return cases


def conv_variants(x, w, b, stride, padding):
    """Known mistakes of a (N, C, H, W) conv2d, as answers or output shapes, most specific first."""
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    S, P = stride, padding
    Ho, Wo = out_size(H, Fh, P, S), out_size(W, Fw, P, S)
    v = misread_variants("x", x, lambda: cnnlib.conv2d_im2col(misread_padded(x, P), w, b, stride=S))   # a view
    v.append(Variant(FLIPPED, cnnlib.conv2d_im2col(x, w[:, :, ::-1, ::-1].copy(), b, stride=S, padding=P)))
    if b is not None and np.any(b != 0):
        v.append(Variant(BIAS, cnnlib.conv2d_im2col(x, w, None, stride=S, padding=P)))
        if K > 1 and Wo == K:   # `out + b` runs only where W_out = K
            v.append(Variant("b was added along the last axis (W_out), not one value per filter: give b (K,) "
                             "its filter axis, out + b[None, :, None, None]",
                             cnnlib.conv2d_im2col(x, w, None, stride=S, padding=P) + b))
    if S > 1:
        full = cnnlib.conv2d_im2col(x, w, b, stride=1, padding=P)
        v.append(Variant("the stride is ignored: the window must move by `stride` pixels", full))
        v.append(Variant("the output size is right but each window starts at i (and j) instead of "
                         "i*stride (and j*stride)", full[:, :, :Ho, :Wo]))
        if (H + 2 * P - Fh) % S or (W + 2 * P - Fw) % S:
            v.append(Variant("ceil instead of floor: H_out = (H + 2P - Fh) // S + 1 drops windows "
                             "that do not fit", shape=(N, K, out_size(H, Fh, P, S, True),
                                                        out_size(W, Fw, P, S, True))))
    if P > 0:
        v.append(Variant("is the padding applied? Pad H and W with P zeros on each side",
                         shape=(N, K, out_size(H, Fh, 0, S), out_size(W, Fw, 0, S))))
        v.append(Variant("padding P counted once; the input grows by 2P (P zeros on each side)",
                         shape=(N, K, (H + P - Fh) // S + 1, (W + P - Fw) // S + 1)))
    v.append(Variant("one row and one column short: H_out = (H + 2P - Fh) // S + 1 (the +1?)",
                     shape=(N, K, Ho - 1, Wo - 1)))
    v.append(Variant("one row and one column too many: the last window must fit inside the input",
                     shape=(N, K, Ho + 1, Wo + 1)))
    v.append(Variant("the axes are mixed up: the output is (N, K, H_out, W_out)",
                     shape=(K, N, Ho, Wo)))
    return v


def layout_cases(rng, make_case):
    """Two inputs that are not C-contiguous (see _layout.py): a view with a step, padding 0 (code
    that pads only when padding > 0 reads x itself), and an x in Fortran order with padding 1
    (np.pad keeps the Fortran order)."""
    x = step_view(rng, rng.normal(size=(2, 3, 6, 7)))
    w, b = rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2)
    cases = [make_case(step_label("x", 4) + ", N=2, C=3, K=2, 6x7 input, 3x3 kernel, padding 0",
                       x, w, b, stride=1, padding=0)]
    x = fortran(rng.normal(size=(2, 2, 7, 6)))
    w, b = rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    cases.append(make_case(fortran_label("x") + ", N=2, C=2, K=3, 7x6 input, 3x2 kernel, stride 2, padding 1",
                           x, w, b, stride=2, padding=1))
    return cases
