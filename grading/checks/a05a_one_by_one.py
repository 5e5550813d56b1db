"""05a_one_by_one: a 1x1 convolution as one matrix product, the cost of a bottleneck, the memory of
activations and the receptive field of dilated layers (the chapter *1x1 convolutions and common
stacks*).

References: ``cnnlib.conv2d_im2col`` for the 1x1 layer; parameters counted in the arrays of
``cnnlib.Conv2D`` layers and multiply-adds by the chapter's formula H_out W_out K F F C ('same'
padding, stride 1); bytes from ``np.dtype(...).itemsize``; the receptive field from
``cnnlib.receptive_field`` with each layer's span D(F - 1) + 1, which tests/test_checks_more.py
holds equal to the chapter's measurement (a gradient of 1 sent back from one output unit).
"""
import numpy as np

import cnnlib

from ._core import (Case, Check, Variant, array_check, describe, fmt_num, never_raises, scalar_check, to_array,
                    tuple_check)
from ._extra import count_check, given_as, given_text, keeps_dtype
from ._layout import misread, misread_variants, step_label, step_view

ASSIGNMENT = "05a_one_by_one"


# --------------------------------------------------------------------------- conv1x1
def conv1x1_ref(x, w, b):
    """(N, K, H, W) in float64, from cnnlib.conv2d_im2col."""
    f64 = lambda a: np.asarray(a, dtype=np.float64)
    return cnnlib.conv2d_im2col(f64(x), f64(w), f64(b))


def _conv1x1_variants(x, w, b):
    N, C, H, W = x.shape
    K = w.shape[0]
    x64, m, b64 = x.astype(np.float64), w[:, :, 0, 0].astype(np.float64), b.astype(np.float64)
    pixels = x64.transpose(0, 2, 3, 1).reshape(N * H * W, C)
    out = [
        Variant("the bias is missing: add b[k] to every pixel of output channel k", conv1x1_ref(x, w, 0 * b)),
        Variant("the rows of the product were reshaped straight to (N, K, H, W): they are pixels, so "
                "reshape to (N, H, W, K) and move the channels back with transpose(0, 3, 1, 2)",
                (pixels @ m.T + b64).reshape(N, K, H, W)),
        Variant("x was reshaped straight to (N*H*W, C): move the channels last first, "
                "x.transpose(0, 2, 3, 1), so that each row is one pixel's C values",
                (x64.reshape(N * H * W, C) @ m.T + b64).reshape(N, H, W, K).transpose(0, 3, 1, 2)),
    ]
    if C == K:
        out.append(Variant("the weight matrix is not transposed: w[:, :, 0, 0] is (K, C), "
                           "so the pixels (rows of C values) multiply its transpose",
                           (pixels @ m + b64).reshape(N, H, W, K).transpose(0, 3, 1, 2)))
    if H * W > 1:
        out.append(Variant("the output has one map per input channel: it needs one per FILTER, shape (N, K, H, W)",
                           shape=(N, C, H, W) if C != K else None))
    return [v for v in out if v.value is not None or v.shape is not None]


def _conv1x1_case(label, x, w, b):
    expected = conv1x1_ref(x, w, b)
    variants = misread_variants("x", x, lambda: conv1x1_ref(misread(x), w, b)) + _conv1x1_variants(x, w, b)
    check = keeps_dtype(array_check(expected, what="conv1x1 output", variants=variants,
                                    shape_hint="the output has shape (N, K, H, W)",
                                    value_hint="y[n, k, i, j] = sum over c of w[k, c, 0, 0] * x[n, c, i, j] + b[k]",
                                    dtype=x.dtype, magnitude=conv1x1_ref(np.abs(x), np.abs(w), np.abs(b))),
                        x.dtype, "conv1x1 output")
    return Case(label, (x, w, b), {}, expected, check)


def _random_conv1x1(rng, N, C, K, H, W, dtype=np.float64):
    x = rng.normal(size=(N, C, H, W)).astype(dtype)
    w = rng.normal(size=(K, C, 1, 1)).astype(dtype)
    b = rng.normal(size=K).astype(dtype)
    return x, w, b


def worked_example():
    """The chapter's example: C = 3 channels of 4 x 4, K = 2 filters of 1 x 1."""
    x = np.array([[[1, 2, 0, 1], [0, 1, 3, 2], [2, 0, 1, 1], [1, 1, 0, 2]],
                  [[0, 1, 1, 0], [2, 2, 0, 1], [1, 0, 2, 0], [0, 3, 1, 1]],
                  [[3, 0, 1, 2], [1, 0, 0, 1], [0, 2, 2, 1], [1, 0, 1, 0]]], dtype=float)[None]
    w = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]])[:, :, None, None]
    b = np.array([0.0, -1.0])
    return x, w, b


def conv1x1_cases(rng):
    cases = [_conv1x1_case("the chapter's example: N=1, C=3, 4x4, K=2", *worked_example())]
    plan = [(2, 3, 5, 6, 4, np.float64), (3, 4, 4, 5, 7, np.float64), (1, 6, 1, 3, 2, np.float64),
            (4, 16, 8, 9, 11, np.float64), (2, 5, 3, 7, 3, np.float32), (3, 8, 12, 6, 10, np.float32),
            (2, 1, 4, 5, 6, np.float64)]   # C = 1, a grey image: w.squeeze() drops the channel axis too
    for N, C, K, H, W, dtype in plan:
        x, w, b = _random_conv1x1(rng, N, C, K, H, W, dtype)
        kind = "float32" if dtype == np.float32 else "float64"
        note = ", C = K" if C == K else ", one input channel" if C == 1 else ""
        cases.append(_conv1x1_case(f"{kind}: N={N}, C={C}, K={K}, {H}x{W}{note}", x, w, b))
    N, C, H, W = (int(v) for v in rng.integers(2, 6, size=4))
    x, w, b = _random_conv1x1(rng, N, C, C, H, W + 1)
    cases.append(_conv1x1_case(f"random: N={N}, C=K={C}, {H}x{W + 1}", x, w, b))
    x, w, b = _random_conv1x1(rng, 2, 3, 4, 5, 6)
    cases.append(_conv1x1_case(step_label("x", 4) + ": N=2, C=3, K=4, 5x6", step_view(rng, x), w, b))
    return cases


# --------------------------------------------------------------------------- bottleneck_cost
def layer_params(c_in, k_out, f):
    """Parameters of one conv layer, counted in the arrays of a cnnlib.Conv2D."""
    return sum(p.value.size for p in cnnlib.Conv2D(c_in, k_out, f).parameters())


def layer_macs(c_in, k_out, f, H, W):
    """Multiply-adds of one F x F layer on one H x W image, 'same' padding, stride 1 (the chapter's
    H_out W_out K F F C; the output is H x W)."""
    return H * W * k_out * f * f * c_in


def bottleneck_ref(C, K_mid, K, F, H, W):
    """(parameters, multiply-adds per image) of 1x1 C -> K_mid, then F x F K_mid -> K."""
    return (layer_params(C, K_mid, 1) + layer_params(K_mid, K, F),
            layer_macs(C, K_mid, 1, H, W) + layer_macs(K_mid, K, F, H, W))


#: a count past 2**31 in NumPy's int32 (or past 2**32 in uint32) wraps round (session 31: int32
#: counts got full marks, every fixed case being smaller)
OVERFLOW = ("the count overflowed a 32-bit integer, which holds at most {top:,}: count with Python ints "
            "(e.g. int(np.prod(shape))), not NumPy's 32-bit integers")
#: int32 and uint32: how a count wraps round in each, and the largest count each holds
WRAPS = ((lambda n: (n + 2**31) % 2**32 - 2**31, 2**31 - 1), (lambda n: n % 2**32, 2**32 - 1))


def _overflowed(counts):
    """[(the counts as an int32 or uint32 would hold them, the message)] for each type that some
    count does not fit."""
    held = [([wrap(n) for n in counts], top) for wrap, top in WRAPS]
    return [(wrapped, OVERFLOW.format(top=top)) for wrapped, top in held if wrapped != list(counts)]


def _bottleneck_case(label, C, K_mid, K, F, H, W):
    params, macs = bottleneck_ref(C, K_mid, K, F, H, W)
    direct = (layer_params(C, K, F), layer_macs(C, K, F, H, W))
    valid = (H - F + 1) * (W - F + 1)
    p_variants = [
        (params - K_mid - K, "the biases are missing: a layer of K filters has K biases, K (F F C + 1)"),
        (layer_params(C, K_mid, F) + layer_params(K_mid, K, F),
         "the first layer is 1 x 1: its filters have C weights each, K_mid (C + 1)"),
        (layer_params(C, K_mid, 1) + layer_params(C, K, F),
         "the F x F layer's filters see the K_mid channels of the 1 x 1 layer, not C: K (F F K_mid + 1)"),
        (layer_params(K_mid, K, F), "the 1 x 1 layer's parameters are missing: add K_mid (C + 1)"),
        (direct[0], "that is the direct F x F layer C -> K; the bottleneck is 1 x 1 C -> K_mid, then F x F K_mid -> K"),
        (macs, "the pair is (parameters, multiply-adds): the multiply-adds came first"),
    ]
    m_variants = [
        (layer_macs(C, K_mid, F, H, W) + layer_macs(K_mid, K, F, H, W),
         "the first layer is 1 x 1: H W K_mid C multiply-adds"),
        (layer_macs(C, K_mid, 1, H, W) + layer_macs(C, K, F, H, W),
         "the F x F layer reads the K_mid channels of the 1 x 1 layer, not C"),
        (layer_macs(K_mid, K, F, H, W), "the 1 x 1 layer's multiply-adds are missing: add H W K_mid C"),
        (direct[1], "that is the direct F x F layer C -> K; the bottleneck is 1 x 1 C -> K_mid, then F x F K_mid -> K"),
        (macs + H * W * (K_mid + K), "the biases are additions, not multiply-adds: do not count them"),
        (H * W * K_mid * C + valid * K * F * F * K_mid if F > 1 else None,
         "'same' padding keeps the output H x W: the F x F layer has H W output positions, not (H - F + 1)(W - F + 1)"),
        (params, "the pair is (parameters, multiply-adds): the parameters came second"),
        *[(wrapped, message) for (wrapped,), message in _overflowed([macs])],
    ]
    check = tuple_check([
        ("parameters", count_check(params, what=f"the parameter count of bottleneck_cost({C}, {K_mid}, {K}, {F}, {H}, {W})",
                                   variants=[(v, m) for v, m in p_variants if v != params])),
        ("multiply-adds", count_check(macs, what=f"the multiply-add count of bottleneck_cost({C}, {K_mid}, {K}, {F}, {H}, {W})",
                                      variants=[(v, m) for v, m in m_variants if v is not None and v != macs])),
    ], what="bottleneck_cost", arrays=True)
    return Case(label, (C, K_mid, K, F, H, W), {}, (params, macs), check)


def bottleneck_cases(rng):
    cases = [_bottleneck_case("the chapter's example: 128 -> 32 -> 128 channels, 3x3, 16x16", 128, 32, 128, 3, 16, 16),
             _bottleneck_case("a ResNet block: 256 -> 64 -> 256 channels, 3x3, 14x14", 256, 64, 256, 3, 14, 14),
             _bottleneck_case("a 5x5 layer after the cut, 192 -> 16 -> 32 channels, 28x20 (H != W)",
                              192, 16, 32, 5, 28, 20),
             _bottleneck_case("F = 1: two 1x1 layers, 96 -> 24 -> 48 channels, 7x9", 96, 24, 48, 1, 7, 9),
             _bottleneck_case("a wide cut, 1024 -> 256 -> 1024 channels, 3x3, 56x56: over 2**32 multiply-adds",
                              1024, 256, 1024, 3, 56, 56)]
    for _ in range(3):
        C, K_mid, K = (int(v) for v in rng.integers(2, 300, size=3))
        F = int(rng.choice([1, 3, 5, 7]))
        H, W = (int(v) for v in rng.integers(F, 60, size=2))
        cases.append(_bottleneck_case(f"random: {C} -> {K_mid} -> {K} channels, {F}x{F}, {H}x{W}",
                                      C, K_mid, K, F, H, W))
    return cases


# --------------------------------------------------------------------------- activation_bytes
def bytes_ref(shapes, N, dtype):
    """Bytes of each layer's output for a batch of N: N * (numbers per image) * bytes per number."""
    size = np.dtype(dtype).itemsize
    return [N * int(np.prod(s, dtype=np.int64)) * size for s in shapes]


def _bytes_verdict(got, expected, what, variants):
    if isinstance(got, (str, bytes, dict, set)) or got is None or np.ndim(got) != 1:
        if np.ndim(got) == 0 and got is not None and not isinstance(got, (str, bytes)):
            arr, msg = to_array(got)
            if not msg and float(arr) == sum(expected):
                return f"{what} is the total {sum(expected)}: return one number per layer, a list of {len(expected)}"
        return f"{what}: returned {describe(got)}; expected a list of {len(expected)} whole numbers, one per layer"
    arr, msg = to_array(got)
    if msg:
        return f"{what}: {msg}; expected a list of {len(expected)} whole numbers"
    if arr.shape != (len(expected),):
        return f"{what} has {arr.size} numbers, expected {len(expected)}: one per layer (one per shape)"
    if np.array_equal(arr, np.array(expected, dtype=np.float64)):
        return None
    base = f"{what} is [{', '.join(fmt_num(v) for v in arr)}], expected {expected}"
    for wrong, message in variants:
        if np.allclose(arr, np.array(wrong, dtype=np.float64), rtol=1e-12, atol=0):
            return f"{base}: {message}"
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        return f"{base}: bytes are whole numbers"
    return base


def _bytes_case(label, shapes, N, dtype, kind=tuple, spelled=str):
    """The shapes (each shape too) are given as `kind`, a list or a tuple, and the dtype as its
    name (`spelled` str), a scalar type (np.dtype(...).type, as np.float64) or a np.dtype: the
    task promises each."""
    expected = bytes_ref(shapes, N, dtype)
    size = np.dtype(dtype).itemsize
    numbers = [N * int(np.prod(s)) for s in shapes]
    variants = [
        (bytes_ref(shapes, 1, dtype), "that is for ONE image: multiply by the batch size N"),
        (numbers, "those are numbers, not bytes: multiply by the bytes of one number, np.dtype(dtype).itemsize"),
        ([8 * v for v in expected], "those are bits: one byte is 8 bits, np.dtype(dtype).itemsize is already in bytes"),
        ([v * 4 // size for v in expected], f"every number was taken as 4 bytes (float32); a {np.dtype(dtype).name} "
                                            f"takes {size}: use np.dtype(dtype).itemsize"),
        ([N * s[0] * size for s in shapes], "only the first axis of each shape was used: an image's output has "
                                            "C * H * W numbers (the product of its shape)"),
        ([v / 1024 for v in expected], "those are KiB: return bytes"),
        ([N * (int(np.prod(s)) if len(s) == 3 else s[0]) * size for s in shapes],
         "a shape of 2 axes (or 4) counts all its axes too: the numbers of any shape are np.prod(shape)"),
        *_overflowed(expected),
    ]
    what = f"activation_bytes(..., N={N}, {np.dtype(dtype).name!r})"
    variants = [(v, m) for v, m in variants if list(v) != expected]
    check = never_raises(lambda got: _bytes_verdict(got, expected, what, variants), what,
                         f"; expected a list of {len(expected)} whole numbers")
    shapes = given_as(kind, tuple(tuple(int(n) for n in s) for s in shapes))
    given = {str: np.dtype(dtype).name, type: np.dtype(dtype).type, np.dtype: np.dtype(dtype)}[spelled]
    return Case(label, (shapes, N, given), {}, expected, check)


#: the per-image output shapes of the chapter's digits CNN (cnnlib.lenet_digits), layer by layer
LENET_SHAPES = ((32, 8, 8), (32, 8, 8), (32, 4, 4), (64, 4, 4), (64, 4, 4), (64, 2, 2), (256,), (64,), (64,), (10,))


def bytes_cases(rng):
    cases = [_bytes_case("the chapter's digits CNN: 10 layers, a batch of 32, float32, shapes as lists",
                         LENET_SHAPES, 32, "float32",
                         list),
             _bytes_case("VGG's first layer: 64 maps of 224x224, one image, float32", ((64, 224, 224),), 1, "float32"),
             _bytes_case("VGG's first two layers for a batch of 512, float32: over 2**32 bytes each",
                         ((64, 224, 224), (64, 224, 224)), 512, "float32"),
             _bytes_case("a batch of 8 in float64, the dtype given as np.float64",
                         ((16, 30, 20), (16, 15, 10), (2400,), (10,)), 8, "float64", spelled=type),
             # any dtype and any shape, not only the four dtypes the task names and shapes of 3 or 1 axes
             _bytes_case("int32, and shapes of 2 axes: a grey 28x28 image kept as (28, 28)",
                         ((28, 28), (6, 24, 24), (6, 12, 12), (864,), (10,)), 16, "int32")]
    for dtype, kind, spelled in (("float16", list, np.dtype), ("float64", tuple, str), ("float32", list, str),
                                 ("int8", tuple, type), (str(rng.choice(["int16", "uint8", "uint16", "int64"])), list, str)):
        depth = int(rng.integers(2, 6))
        shapes = []
        for _ in range(depth):
            axes = int(rng.choice([3, 3, 3, 2, 1]))
            top = 1000 if axes == 1 else 65
            shapes.append(tuple(int(v) for v in rng.integers(1, top, size=axes)))
        N = int(rng.integers(2, 129))
        given = {str: "", type: f" (as np.{dtype})", np.dtype: f" (as np.dtype('{dtype}'))"}[spelled]
        cases.append(_bytes_case(f"random: {depth} layers, a batch of {N}, {dtype}{given}, shapes as "
                                 f"{kind.__name__}s", tuple(shapes), N, dtype, kind, spelled))
    return cases


# --------------------------------------------------------------------------- dilated_receptive_field
def span(F, D):
    """Pixels one layer's F x F kernel with dilation D spans along each axis: D (F - 1) + 1."""
    return D * (F - 1) + 1


def dilated_rf_ref(sizes, dilations):
    """Receptive field of a stack of stride-1 layers: the formula of chapter 7
    (06_hierarchical_features) with each F replaced by its span."""
    return cnnlib.receptive_field([span(F, D) for F, D in zip(sizes, dilations)])


def _rf_wrong(sizes, dilations):
    grown, jump = 1, 1
    for F, D in zip(sizes, dilations):
        jump *= D
        grown += (F - 1) * jump
    spans = [span(F, D) for F, D in zip(sizes, dilations)]
    return [
        (1 + sum(F - 1 for F in sizes), "the dilations are ignored: layer l spans D_l (F_l - 1) + 1 pixels"),
        (sum(spans), "the spans were added: neighbouring layers overlap by one pixel, so each layer adds "
                     "D_l (F_l - 1), and the sum starts from 1"),
        (1 + sum(D * F - 1 for F, D in zip(sizes, dilations)),
         "a dilated kernel spans D (F - 1) + 1 pixels, not D F: there are F - 1 gaps of D pixels between its taps"),
        (grown, "the dilations were multiplied like strides: with stride 1 each layer only adds its own D_l (F_l - 1)"),
        (sum(D * (F - 1) for F, D in zip(sizes, dilations)), "off by one: a stack of 1 x 1 layers sees 1 pixel, start from 1"),
        (max(spans), "that is the span of the widest layer alone: the layers' reaches add up"),
    ]


def _rf_case(label, sizes, dilations, kind=tuple):
    """The two sequences are given as `kind`, a list or a tuple (the task promises both)."""
    sizes, dilations = tuple(int(v) for v in sizes), tuple(int(v) for v in dilations)
    expected = dilated_rf_ref(sizes, dilations)
    variants = [Variant(m, v) for v, m in _rf_wrong(sizes, dilations) if v != expected]
    args = (given_as(kind, sizes), given_as(kind, dilations))
    check = scalar_check(expected, what=f"dilated_receptive_field({given_text(args[0])}, {given_text(args[1])})",
                         variants=variants, hint="r = 1 + sum over the layers of D_l (F_l - 1)")
    return Case(label, args, {}, expected, check)


def rf_cases(rng):
    cases = [_rf_case("the chapter: three 3x3 layers, no dilation", (3, 3, 3), (1, 1, 1), list),
             _rf_case("the chapter: three 3x3 layers, dilations 1, 2, 4", (3, 3, 3), (1, 2, 4), list),
             _rf_case("the chapter: three 3x3 layers, dilation 2 in each", (3, 3, 3), (2, 2, 2)),
             _rf_case("one 3x3 layer with dilation 3", (3,), (3,)),
             _rf_case("a 1x1 layer between two dilated 5x5 layers", (5, 1, 5), (2, 3, 4))]
    for depth, kind in ((2, list), (4, tuple), (6, list)):
        sizes = rng.integers(2, 8, size=depth)
        if depth > 2:
            sizes[rng.integers(1, depth)] = 1          # a 1x1 layer: it adds nothing, whatever its dilation
        dilations = rng.integers(1, 6, size=depth)
        dilations[-1] = max(int(dilations[-1]), 2)
        cases.append(_rf_case(f"random stack of {depth} layers with dilations, as {kind.__name__}s", sizes, dilations,
                              kind))
    return cases


CHECKS = [
    Check("test_conv1x1", ASSIGNMENT, "conv1x1", "function", conv1x1_cases,
          cell="conv1x1", params=("x", "w", "b"), points=4),
    Check("test_bottleneck_cost", ASSIGNMENT, "bottleneck_cost", "function", bottleneck_cases,
          cell="bottleneck_cost", params=("C", "K_mid", "K", "F", "H", "W"), points=3),
    Check("test_activation_bytes", ASSIGNMENT, "activation_bytes", "function", bytes_cases,
          cell="activation_bytes", params=("shapes", "N", "dtype"), points=2),
    Check("test_dilated_receptive_field", ASSIGNMENT, "dilated_receptive_field", "function", rf_cases,
          cell="dilated_receptive_field", params=("sizes", "dilations"), points=3),
]
