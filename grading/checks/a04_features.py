"""04_features: receptive_field and a vertical-edge kernel graded by its responses."""
import numpy as np

import cnnlib

from ._core import Case, Check, Variant, fmt_num, never_raises, scalar_check, to_array

ASSIGNMENT = "04_features"


# --------------------------------------------------------------------------- receptive_field
def _rf_wrong(ks, ss):
    """Known-wrong receptive fields: (value, message) pairs."""
    no_stride = 1 + sum(k - 1 for k in ks)
    own, jump = 1, 1
    for k, s in zip(ks, ss):
        jump *= s
        own += (k - 1) * jump
    rev_r, rev_j = 1, 1
    for k, s in zip(ks[::-1], ss[::-1]):
        rev_r += (k - 1) * rev_j
        rev_j *= s
    prod_all = 1 + sum((k - 1) for k in ks) * int(np.prod(ss))
    return [
        (no_stride, "the strides are ignored: a layer after a stride-2 layer sees twice as far"),
        (own, "each layer's own stride was applied to its kernel; only the strides of the layers "
              "BEFORE it count (jump = product of earlier strides)"),
        (rev_r, "the layers were taken last-first; kernel_sizes[0] is the first layer"),
        (cnnlib.receptive_field(list(ks), list(ss)) - 1, "off by one: a single 1x1 layer sees 1 pixel, start from r = 1"),
        (sum(ks), "the kernel sizes were added; layer l adds (F_l - 1) * jump_l"),
        (prod_all, "every layer was multiplied by the product of ALL strides"),
    ]


def _rf_case(label, ks, ss):
    ks, ss = tuple(int(k) for k in ks), tuple(int(s) for s in ss)
    expected = cnnlib.receptive_field(list(ks), list(ss))
    variants = [Variant(msg, v) for v, msg in _rf_wrong(ks, ss) if v != expected]
    check = scalar_check(expected, what=f"receptive_field({list(ks)}, {list(ss)})", variants=variants,
                         hint="r = 1 + sum over layers of (F_l - 1) * (product of the strides before l)")
    return Case(label, (ks, ss), {}, expected, check)


def rf_cases(rng):
    cases = [_rf_case("the worked example: two 3x3 convolutions", (3, 3), (1, 1)),
             _rf_case("conv 3, pool 2 with stride 2, conv 3", (3, 2, 3), (1, 2, 1)),
             _rf_case("a single 5x5 layer", (5,), (1,)),
             _rf_case("conv 7 stride 2, pool 3 stride 2, conv 3, conv 3", (7, 3, 3, 3), (2, 2, 1, 1))]
    for depth in (3, 4, 6):
        ks = rng.integers(1, 8, size=depth)
        ss = rng.integers(1, 4, size=depth)
        ss[0] = max(int(ss[0]), 2)
        cases.append(_rf_case(f"random stack of {depth} layers with strides", ks, ss))
    return cases


# --------------------------------------------------------------------------- vertical_edge_kernel
# The Sobel x kernel in the cross-correlation convention that CNNs use (positive on dark -> bright).
# The textbook Sobel, [[1, 0, -1], [2, 0, -2], [1, 0, -1]], is defined for true convolution (which
# flips the kernel): under cross-correlation it responds with the opposite sign.
REFERENCE_KERNEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _edge_image(dark, bright, reverse=False, rows=6, cols=8, at=4):
    img = np.full((rows, cols), float(dark))
    img[:, at:] = bright
    return img[:, ::-1].copy() if reverse else img


def _responses(k, img):
    return cnnlib.conv2d(img[None, None], k[None, None])[0, 0]


def _edge_verdict(got):
    arr, msg = to_array(got)
    if msg:
        return f"vertical_edge_kernel(): {msg}; expected a 3x3 array"
    if arr.shape != (3, 3):
        return f"the kernel has shape {arr.shape}, expected (3, 3)"
    if not np.all(np.isfinite(arr)):
        return "the kernel holds NaN or infinite values"
    scale = float(np.max(np.abs(arr)))
    if scale == 0:
        return "the kernel is all zeros: it responds to nothing"
    tol = 1e-6 * scale
    flat = [_responses(arr, np.full((5, 5), v)) for v in (0.0, 0.3, 1.0)]
    if max(float(np.max(np.abs(r))) for r in flat) > 1e-4 * scale:
        return (f"on a flat region (constant brightness 1.0) the response is {fmt_num(flat[2][0, 0])}, "
                f"expected 0: the weights must sum to 0 (they sum to {fmt_num(arr.sum())})")
    rise = _responses(arr, _edge_image(0.1, 0.9))   # dark on the left, bright on the right
    fall = _responses(arr, _edge_image(0.1, 0.9, reverse=True))
    horiz = _responses(arr, _edge_image(0.1, 0.9).T.copy())
    edge_cols = slice(2, 4)   # output columns whose 3-wide window straddles the edge at column 4
    rise_e, fall_e = rise[:, edge_cols], fall[:, ::-1][:, edge_cols]
    if np.max(np.abs(rise_e)) <= tol and np.max(np.abs(horiz)) > tol:
        return "the kernel responds to horizontal edges, not to vertical ones: its columns should differ"
    if np.max(rise_e) <= tol and np.min(rise_e) < -tol:
        return (f"on a dark-to-bright edge (dark left, bright right) the response is "
                f"{fmt_num(np.min(rise_e))}, expected > 0: the sign is reversed "
                f"(cross-correlation does not flip the kernel: bright on the right needs positive "
                f"weights on the right. A textbook Sobel kernel is written for true convolution, "
                f"which flips it: under cross-correlation its sign is reversed)")
    if np.max(rise_e) <= tol:
        return "on a dark-to-bright vertical edge the response is 0, expected > 0"
    if np.min(rise_e) < -tol:
        return "on a dark-to-bright vertical edge part of the response is negative; expected >= 0 everywhere along it"
    if np.min(fall_e) >= -tol or np.max(fall_e) > tol:
        return ("on a bright-to-dark vertical edge (bright left, dark right) the response should be "
                f"negative, got values from {fmt_num(np.min(fall_e))} to {fmt_num(np.max(fall_e))}")
    return None


edge_check = never_raises(_edge_verdict, "the kernel")


def edge_cases(rng):
    return [Case("responses to a dark-to-bright edge, its mirror image and flat regions",
                 (), {}, REFERENCE_KERNEL, edge_check)]


CHECKS = [
    Check("test_receptive_field", ASSIGNMENT, "receptive_field", "function", rf_cases,
          cell="receptive_field", params=("kernel_sizes", "strides"), points=5),
    Check("test_vertical_edge_kernel", ASSIGNMENT, "vertical_edge_kernel", "function", edge_cases,
          cell="vertical_edge_kernel", points=5),
]
