"""03b_im2col: im2col (one row per window) and conv2d_im2col (one matrix product), plus a check
that conv2d_im2col has no Python loop over output positions.

Layout, as in the book's chapter *Convolution as one matrix product*: ``im2col(x, Fh, Fw,
stride, padding)`` of x (N, C, H, W) is the matrix (N*H_out*W_out, C*Fh*Fw) whose row
n*H_out*W_out + i*W_out + j is the window of output position (n, i, j), flattened in the order
of ``w.reshape(K, -1)`` (channel, then kernel row, then kernel column).

How "one matrix product, no loop over positions" is graded
----------------------------------------------------------
`test_conv2d_im2col_one_product` calls conv2d_im2col on two long, thin images shaped like the
notebook's visible test (N = K = 1, C = 2, a kernel of two pixels), in a random order: two
million output positions in one column (x (1, 2, 4,000,000, 1), a 2x1 kernel, stride 2) and
three million in three rows of a million (x (1, 2, 1, 999,999), a 1x2 kernel, padding 1). At
marking the sandbox gives the whole check ``ONE_PRODUCT_SECONDS`` of CPU time (RLIMIT_CPU,
enforced by the kernel, so nothing the student's code does can hide the time it takes; CPU
time, which a loaded machine changes far less than the wall clock). A try over the limit runs
again, up to ``TIME_TRIES`` tries (grading.checks._core): a busy machine only ever adds time, so
a right answer needs one try at normal speed, while a loop is over the limit every time.

Why these shapes: a fast path for the shapes of the marking is a loop that earns the points.
The cases had C = 1 and a 1x1 kernel, stride 1, no padding until an audit (session 24) passed a
loop over positions with ``if Fh == 1 and Fw == 1 and stride == 1 and padding == 0: return
np.einsum(...)`` in front. Now no case has a 1x1 kernel or C = 1, and neither big case has both
stride 1 and padding 0 (one has stride 2, the other padding 1). Sizes: the column's x is 64 MB, the most
an input may have that the jail sends back to be compared with what it was (stride 2 doubles
it); padding is on the other case, with stride 1, because padding a thin image triples it (its
one row gets a row of zeros on each side): with stride 2 as well, a right answer needed over
700 MB of the jail's 1 GiB.

What timing cannot see: a switch keyed on the size (``if H_out * W_out > 100_000:`` one product,
else a loop) runs the product on every case big enough to time, and a loop on the small ones,
where a loop costs too little to tell by CPU time. No case of this check can catch it: a
mid-size case would only move the threshold that escapes (a loop over a million positions takes
about 1.3 s here, inside the budget). Nor can it catch a loop over whichever of rows and
columns is fewer, vectorised along the other (a student trial, session 25): on the marking's thin
cases it runs once (the column) and three times (the three rows), as fast as one product. A
square case would not help: its loop runs sqrt(positions) times, and to cost more CPU time than
the budget allows over a right answer it would need about 1e10 positions (100,000 iterations),
far beyond the jail's memory. Only the notebook's visible test (lines run on 300 positions in a
column, 300 in a row, and 10,000 in a 100 x 100 square, where a loop over rows runs 100 times)
and a person reading the code see these.

Measured on an AMD EPYC (Python 3.11, NumPy 2.4, December 2026), CPU seconds for both cases:

* A vectorised answer: 0.2-0.35 s, and 0.4 s for the slowest right answer of the catalogue
  (CS231n's full int64 index arrays, about 220 MB above its inputs at its peak): 5x under the
  budget.
* A Python loop over positions runs two and three million times: about 1.3 us a position here,
  so 2.8 s and 3.3 s (the catalogue's loop over positions in im2col), each case over the
  budget on its own (a fast path for the shape of one case still loops on the other). The
  catalogue's loop over rows (one small product each) took 5.6 s in the column case, a 1x1
  fast path in front of a loop over positions 16 s. The sandbox stops a check at most 1.5 s
  past its budget (RLIMIT_CPU is set in whole seconds, and the grader allows half a second
  more). A loop over columns (vectorised down them) runs a million times, in the three-row
  case: about 2.7 s, over the budget by less. Loops over what stays small (channels, filters,
  images, the Fh*Fw kernel offsets, as in CS231n's fast im2col) cost nothing extra.
* A wrong or hard-coded output fails as in the other checks (the expected output is compared),
  and a third, small case has N = 2, C = 3, K = 2: the check's points are for a right answer in
  one product, not for one that is right only when N = K = 1.

The notebook's loop helpers
---------------------------
The notebook's locked helpers cell gives two complete loop implementations for its visible
tests: ``im2col_loops(x, Fh, Fw, stride, padding)`` (the graded im2col, same signature and
layout) and ``conv2d_loops(x, w, b, stride, padding)``. An answer that only returned their
results earned 10 of 13 points with no im2col written (a mutation trial, session 30). Every
check of this module names them in ``hide`` (see grading.checks._core.Check): while its calls
run, both raise NameError, in the jail and in the pre-hand-in check, and the message says
which helper was called. A function of the student's own that calls their own ``im2col`` keeps
working, and so does one of the student's own named ``im2col_loops`` (the helper is recognised
by its docstring). The visible tests refuse them too, while they call the student's function
(the notebook's ``call``). The refusal stops calls, not copies: the helpers' loops pasted into
the student's own function run, and earn what a loop answer earns (the loop im2col is a right
answer to part 1, and chapter 6, Convolution as one matrix product, builds the window
matrix with loops too).

The alternatives were weaker: counting calls of ``@`` with an instrumented array subclass is
blind to ``np.dot``/``einsum`` and undone by ``np.asarray``; tracing executed lines or reading
the source (AST) happens in code the student's code can patch, or cannot tell a loop over kernel
offsets from one over positions. The notebook's visible test does count executed lines (a clear,
instant message while working); marking relies on the CPU budget only.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import cnnlib

from ._conv import conv_magnitude, conv_variants, layout_cases, out_size, random_conv_cases, random_conv_shape, shape_label
from ._core import Case, Check, Variant, array_check
from ._extra import call_args, keeps_dtype, squeezed, swapped
from ._layout import fortran, fortran_label, misread_padded, misread_variants, step_label, step_view

ASSIGNMENT = "03b_im2col"

#: CPU seconds for both cases of the one-product check (see the module docstring)
ONE_PRODUCT_SECONDS = 2.0
#: the notebook's helpers for its visible tests, which the graded functions may not call
HELPERS = ("im2col_loops", "conv2d_loops")
#: output positions of the two big cases: one column (stride 2: x is 64 MB, the most an input the
#: jail sends back to be compared may have), three rows (padding 1)
ONE_PRODUCT_POSITIONS = {"column": 2_000_000, "rows": 3_000_000}


def im2col_ref(x, Fh, Fw, stride, padding):
    """(N*H_out*W_out, C*Fh*Fw) in float64: one row per window, columns as w.reshape(K, -1)."""
    p = padding
    xp = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (p, p), (p, p)))
    win = sliding_window_view(xp, (Fh, Fw), axis=(2, 3))[:, :, ::stride, ::stride]
    N, C, Ho, Wo = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * Fh * Fw)


# --------------------------------------------------------------------------- im2col
def _im2col_case(label, x, Fh, Fw, stride, padding):
    N, C, H, W = x.shape
    Ho, Wo = out_size(H, Fh, padding, stride), out_size(W, Fw, padding, stride)
    expected = im2col_ref(x, Fh, Fw, stride, padding)
    xp = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    win = sliding_window_view(xp, (Fh, Fw), axis=(2, 3))[:, :, ::stride, ::stride]
    variants = [
        Variant("the columns are in (Fh, Fw, C) order; they must follow w.reshape(K, -1): channel, "
                "then kernel row, then kernel column", win.transpose(0, 2, 3, 4, 5, 1).reshape(N * Ho * Wo, -1)
                if C > 1 else None),
        Variant("the rows go position by position across the images; they must go image by image "
                "(row n*H_out*W_out + i*W_out + j)", win.transpose(2, 3, 0, 1, 4, 5).reshape(N * Ho * Wo, -1)
                if N > 1 else None),
        Variant("the matrix is transposed: ONE ROW per window, (N*H_out*W_out, C*Fh*Fw)",
                expected.T if expected.shape[0] != expected.shape[1] else None),
        Variant("Fh and Fw are swapped: Fh is the kernel's height (rows), Fw its width",
                im2col_ref(x, Fw, Fh, stride, padding) if Fh != Fw and Fw <= H + 2 * padding
                and Fh <= W + 2 * padding else None),
    ]
    if stride > 1:
        variants.append(Variant("the stride is ignored: the windows start every `stride` pixels",
                                im2col_ref(x, Fh, Fw, 1, padding)))
        if (H + 2 * padding - Fh) % stride or (W + 2 * padding - Fw) % stride:
            variants.append(Variant("ceil instead of floor: a window that does not fit is dropped",
                                    shape=(N * out_size(H, Fh, padding, stride, True)
                                           * out_size(W, Fw, padding, stride, True), C * Fh * Fw)))
    if padding:
        variants.append(Variant("the padding is ignored: pad H and W with `padding` zeros on each side",
                                im2col_ref(x, Fh, Fw, stride, 0) if Fh <= H and Fw <= W else None))
    # one window in all, or C*Fh*Fw = 1
    variants += squeezed(expected, "im2col is always 2-D, (N*H_out*W_out, C*Fh*Fw), even when one of them is 1")
    variants = [v for v in variants if v.value is not None or v.shape is not None]
    variants = misread_variants("x", x, lambda: im2col_ref(misread_padded(x, padding), Fh, Fw, stride, 0)) + variants
    check = keeps_dtype(array_check(expected, what="im2col output", variants=variants,
                                    shape_hint=f"expected (N*H_out*W_out, C*Fh*Fw) = ({N}*{Ho}*{Wo}, {C}*{Fh}*{Fw})",
                                    value_hint="row n*H_out*W_out + i*W_out + j is x_pad[n, :, i*S:i*S+Fh, "
                                               "j*S:j*S+Fw].ravel()", dtype=x.dtype),
                        x.dtype, "im2col output")
    return Case(label, (x, Fh, Fw, stride, padding), {}, expected, check)


def im2col_example():
    return np.arange(1.0, 10.0).reshape(1, 1, 3, 3), 2, 2, 1, 0


def im2col_cases(rng):
    cases = [_im2col_case("the worked example: a 3x3 image, 2x2 kernel", *im2col_example())]
    fixed = [(2, 3, 5, 6, 2, 3, 2, 1), (1, 2, 7, 5, 3, 2, 3, 0), (3, 1, 4, 4, 2, 2, 1, 1),
             (2, 2, 6, 9, 1, 4, 2, 2), (1, 3, 5, 5, 3, 3, 1, 0),
             # C*Fh*Fw = 1, and a single window in all: a squeezed matrix loses an axis (session 31)
             (2, 1, 3, 4, 1, 1, 1, 0), (1, 2, 2, 3, 4, 5, 1, 1)]
    shapes = fixed + [tuple(v for i, v in enumerate(random_conv_shape(rng)) if i != 4) for _ in range(2)]
    for N, C, H, W, Fh, Fw, S, P in shapes:
        cases.append(_im2col_case(f"N={N}, C={C}, " + shape_label(H, W, Fh, Fw, S, P),
                                  rng.normal(size=(N, C, H, W)), Fh, Fw, S, P))
    cases.append(_im2col_case("float32, N=2, C=2, 5x6 input, 3x2 kernel, stride 2, padding 1",
                              rng.normal(size=(2, 2, 5, 6)).astype(np.float32), 3, 2, 2, 1))
    # inputs that are not C-contiguous: a view with a step (padding 0: code that pads only when
    # padding > 0 reads x itself), and Fortran order with padding (np.pad keeps the Fortran order)
    cases.append(_im2col_case(step_label("x", 4) + ", N=2, C=2, 5x6 input, 3x2 kernel, padding 0",
                              step_view(rng, rng.normal(size=(2, 2, 5, 6))), 3, 2, 1, 0))
    cases.append(_im2col_case(fortran_label("x") + ", N=2, C=3, 6x5 input, 2x3 kernel, stride 2, padding 1",
                              fortran(rng.normal(size=(2, 3, 6, 5))), 2, 3, 2, 1))
    return cases


# --------------------------------------------------------------------------- conv2d_im2col
#: a signature (x, w, b, padding=0, stride=1) passes every call that names its arguments
SWAPPED = swapped("stride", "padding", "conv2d_im2col(x, w, b, stride=1, padding=0)")


def _conv_case(label, x, w, b, by_position=False, **kw):
    """A call with stride and padding as keywords (those given), or by position (both)."""
    S, P = kw.get("stride", 1), kw.get("padding", 0)
    N, K = x.shape[0], w.shape[0]
    expected = cnnlib.conv2d_im2col(x, w, b, stride=S, padding=P)
    Ho, Wo = expected.shape[2:]
    rows = np.asarray(expected, dtype=np.float64).transpose(0, 2, 3, 1).reshape(-1, K)
    variants = conv_variants(x, w, b, S, P)
    if by_position:
        variants.insert(0, Variant(SWAPPED, cnnlib.conv2d_im2col(x, w, b, stride=P, padding=S)))
    if K > 1 or N > 1:
        variants.insert(0, Variant("Y (N*H_out*W_out, K) was reshaped straight to (N, K, H_out, W_out): "
                                   "reshape to (N, H_out, W_out, K) first, then transpose(0, 3, 1, 2)",
                                   rows.reshape(N, K, Ho, Wo)))
    if w.shape[1] > 1:
        w_perm = w.transpose(0, 2, 3, 1).reshape(w.shape).copy()
        variants.insert(0, Variant("the weight matrix does not match im2col's columns: use w.reshape(K, -1).T "
                                   "(channel, then kernel row, then kernel column)",
                                   cnnlib.conv2d_im2col(x, w_perm, b, stride=S, padding=P)))
    check = keeps_dtype(array_check(expected, what="conv2d_im2col output", variants=variants,
                                    shape_hint="(N, K, H_out, W_out) with H_out = (H + 2P - Fh) // S + 1",
                                    value_hint="Y = im2col(x, Fh, Fw, S, P) @ w.reshape(K, -1).T + b",
                                    dtype=x.dtype, magnitude=conv_magnitude(x, w, b, S, P)),
                        x.dtype, "conv2d_im2col output")
    args, kwargs = call_args((x, w, b), {"stride": S, "padding": P} if by_position else kw,
                             "position" if by_position else "keywords")
    return Case(label, args, kwargs, expected, check)


def conv_example():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]], [[[0.0, 1.0], [1.0, 0.0]]]])   # (2, 1, 2, 2)
    return x, w, np.array([0.0, 1.0])


def conv_cases(rng):
    cases = [_conv_case("the worked example: a 3x3 image, two 2x2 filters (defaults: stride 1, no padding)",
                        *conv_example())]
    fixed = [(2, 3, 5, 7, 4, 3, 2, 2, 1), (1, 2, 6, 9, 3, 2, 4, 3, 2), (2, 1, 8, 8, 2, 3, 3, 1, 1),
             (1, 3, 9, 7, 2, 5, 3, 2, 0), (3, 2, 5, 6, 2, 1, 1, 2, 0),
             (2, 1, 4, 5, 3, 1, 1, 1, 0)]   # a grey image and a 1x1 kernel: im2col has ONE column
    cases += random_conv_cases(rng, fixed, _conv_case)
    x = rng.normal(size=(2, 3, 7, 6)).astype(np.float32)
    w, b = rng.normal(size=(4, 3, 3, 2)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    cases.append(_conv_case("float32, N=2, C=3, K=4, 7x6 input, 3x2 kernel, stride 2, padding 1",
                            x, w, b, stride=2, padding=1))
    x, w, b = rng.normal(size=(2, 2, 7, 6)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    cases.append(_conv_case("stride 2 and padding 1 given by position: conv2d_im2col(x, w, b, 2, 1)", x, w, b,
                            by_position=True, stride=2, padding=1))
    return cases + layout_cases(rng, _conv_case)


# --------------------------------------------------------------------------- one product
def one_product_cases(rng):
    """Two long, thin images of ONE_PRODUCT_POSITIONS (see the module docstring), in a random
    order, then a small one with N, C and K > 1."""
    cases = []
    for where in rng.permutation(["column", "rows"]):
        n = ONE_PRODUCT_POSITIONS[where]
        w, b = rng.normal(size=(1, 2, 2, 1) if where == "column" else (1, 2, 1, 2)), rng.normal(size=1)
        if where == "column":   # stride 2 along H: 2n rows in, n out; one column
            x, S, P, text = rng.normal(size=(1, 2, 2 * n, 1)), 2, 0, "one column (stride 2)"
        else:                   # padding 1 around a single row: three rows of n // 3 positions
            x, S, P, text = rng.normal(size=(1, 2, 1, n // 3 - 1)), 1, 1, "three rows (padding 1)"
        expected = cnnlib.conv2d_im2col(x, w, b, stride=S, padding=P)
        label = (f"{n:,} output positions in {text}, C=2, {w.shape[2]}x{w.shape[3]} kernel: must take "
                 f"well under {ONE_PRODUCT_SECONDS:g} s, no Python loop over positions or rows")
        check = keeps_dtype(array_check(expected, what="conv2d_im2col output", magnitude=conv_magnitude(x, w, b, S, P),
                                        shape_hint="(N, K, H_out, W_out) with H_out = (H + 2P - Fh) // S + 1"),
                            x.dtype, "conv2d_im2col output")
        cases.append(Case(label, (x, w, b), {"stride": S, "padding": P}, expected, check))
    # the points of this check are for a RIGHT answer in one product: also right for several images,
    # channels and filters (the large cases have N = K = 1, where reshapes in the wrong order agree)
    x, w, b = rng.normal(size=(2, 3, 5, 6)), rng.normal(size=(2, 3, 3, 2)), rng.normal(size=2)
    cases.append(_conv_case("a small input with N=2, C=3, K=2 (5x6 input, 3x2 kernel, stride 2, padding 1): "
                            "the one-product version must be right here too", x, w, b, stride=2, padding=1))
    return cases


CHECKS = [
    Check("test_im2col", ASSIGNMENT, "im2col", "function", im2col_cases,
          cell="im2col", params=("x", "Fh", "Fw", "stride", "padding"), points=5, hide=HELPERS),
    Check("test_conv2d_im2col", ASSIGNMENT, "conv2d_im2col", "function", conv_cases,
          cell="conv2d_im2col", params=("x", "w", "b"), points=5, hide=HELPERS),
    Check("test_conv2d_im2col_one_product", ASSIGNMENT, "conv2d_im2col", "function", one_product_cases,
          timeout=ONE_PRODUCT_SECONDS, timeout_is_verdict=True, cell="conv2d_im2col", params=("x", "w", "b"), points=3,
          timeout_cause="a Python loop over positions or rows, in conv2d_im2col or im2col?",
          label="conv2d_im2col: one matrix product", hide=HELPERS),
]
