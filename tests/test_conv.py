"""Tests for cnnlib.conv: zero_pad, the loops, im2col / col2im, and the fast conv2d and backward.

Every path (loops, im2col, the engine behind conv2d) is held equal to scipy and to the others.
"""
import numpy as np
import pytest

from cnnlib import (col2im, conv2d, conv2d_backward, conv2d_backward_im2col, conv2d_backward_naive,
                    conv2d_im2col, conv2d_naive, im2col, zero_pad)
from numeric_oracle import numeric_gradient, scipy_conv


def as_pair(v):
    return (v, v) if isinstance(v, int) else v


def random_case(seed):
    """A random, often awkward configuration: non-square, strides that do not divide, padding 0-3."""
    rng = np.random.default_rng(seed)
    n, c, k = rng.integers(1, 4), rng.integers(1, 5), rng.integers(1, 5)
    fh, fw = rng.integers(1, 6, 2)
    ph, pw = rng.integers(0, 4, 2)
    sh, sw = rng.integers(1, 4, 2)
    h = rng.integers(max(1, fh - 2 * ph), 14)
    wd = rng.integers(max(1, fw - 2 * pw), 14)
    x = rng.normal(size=(n, c, h, wd))
    w = rng.normal(size=(k, c, fh, fw))
    b = rng.normal(size=k)
    return x, w, b, (int(sh), int(sw)), (int(ph), int(pw))


# ---------------------------------------------------------------- zero_pad

def test_zero_pad_values_and_shape():
    x = np.arange(2 * 3 * 2 * 4, dtype=np.float32).reshape(2, 3, 2, 4)
    out = zero_pad(x, (1, 2))
    assert out.shape == (2, 3, 4, 8) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :, 1:3, 2:6], x)
    out[:, :, 1:3, 2:6] = 0
    assert not out.any()


def test_zero_pad_int_padding_and_zero_padding_copies():
    x = np.ones((1, 1, 2, 3))
    assert zero_pad(x, 2).shape == (1, 1, 6, 7)
    same = zero_pad(x, 0)
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)


@pytest.mark.parametrize("x, padding, exc, pattern", [
    (np.ones((2, 3, 4)), 1, ValueError, r"^zero_pad: x must be a 4-D array \(N, C, H, W\), got a 3-D"),
    (np.ones((1, 1, 2, 2)), -1, ValueError, r"^zero_pad: padding must be an int >= 0 .* got -1$"),
    (np.ones((1, 1, 2, 2)), 1.0, TypeError, r"^zero_pad: padding must be .* got float 1\.0$"),
    ([[[[1.0]]]], 1, TypeError, r"^zero_pad: x must be a numpy array, got list$"),
])
def test_zero_pad_errors(x, padding, exc, pattern):
    with pytest.raises(exc, match=pattern):
        zero_pad(x, padding)


# ---------------------------------------------------------------- forward

@pytest.mark.parametrize("seed", range(40))
def test_fast_naive_scipy_agree_float64(seed):
    x, w, b, stride, padding = random_case(seed)
    expected = scipy_conv(x, w, b, stride, padding)
    fast = conv2d(x, w, b, stride=stride, padding=padding)
    naive = conv2d_naive(x, w, b, stride=stride, padding=padding)
    assert fast.shape == naive.shape == expected.shape
    assert fast.dtype == naive.dtype == np.float64
    np.testing.assert_allclose(fast, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(naive, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(40, 60))
def test_fast_naive_scipy_agree_float32(seed):
    x, w, b, stride, padding = random_case(seed)
    x, w, b = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    expected = scipy_conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                          stride, padding)
    fast = conv2d(x, w, b, stride=stride, padding=padding)
    naive = conv2d_naive(x, w, b, stride=stride, padding=padding)
    assert fast.dtype == naive.dtype == np.float32
    np.testing.assert_allclose(fast, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(naive, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(200, 230))
def test_im2col_path_equals_loops_engine_and_scipy(seed, dtype, tol):
    x, w, b, stride, padding = random_case(seed)
    if seed % 3 == 0:
        padding = (0, 0)                       # padding 0 with strides that do not divide
        if w.shape[2] > x.shape[2] or w.shape[3] > x.shape[3]:
            x = np.random.default_rng(seed).normal(size=x.shape[:2] + (13, 12))
    x, w, b = x.astype(dtype), w.astype(dtype), b.astype(dtype)
    expected = scipy_conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                          stride, padding)
    outs = {f.__name__: f(x, w, b, stride=stride, padding=padding)
            for f in (conv2d_im2col, conv2d_naive, conv2d)}
    for name, y in outs.items():
        assert y.dtype == dtype and y.shape == expected.shape, name
        assert y.flags.c_contiguous, name
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(outs["conv2d_im2col"], outs["conv2d"], rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(230, 254))
def test_backward_paths_agree(seed, dtype, tol):
    """conv2d_backward (engine), conv2d_backward_im2col and conv2d_backward_naive agree."""
    x, w, _, stride, padding = random_case(seed)
    if seed % 3 == 0 and w.shape[2] <= x.shape[2] and w.shape[3] <= x.shape[3]:
        padding = (0, 0)
    x, w = x.astype(dtype), w.astype(dtype)
    out_shape = conv2d_naive(x, w, stride=stride, padding=padding).shape
    dout = np.random.default_rng(seed).normal(size=out_shape).astype(dtype)
    naive = conv2d_backward_naive(dout, x, w, stride=stride, padding=padding)
    for f in (conv2d_backward_im2col, conv2d_backward):
        got = f(dout, x, w, stride=stride, padding=padding)
        for name, a, e in zip(("dx", "dw", "db"), got, naive):
            assert a.dtype == dtype and a.shape == e.shape, (f.__name__, name)
            np.testing.assert_allclose(a, e, rtol=tol, atol=tol, err_msg=f"{f.__name__} {name}")
    for a in naive + got + conv2d_backward_im2col(dout, x, w, stride=stride, padding=padding):
        assert a.flags.c_contiguous


@pytest.mark.parametrize("seed", range(300, 306))
def test_naive_backward_matches_numeric_gradient(seed):
    x, w, b, stride, padding = random_case(seed)
    x, w = x[:2, :3, :8, :8], w[:, :3]
    if w.shape[2] > x.shape[2] + 2 * padding[0] or w.shape[3] > x.shape[3] + 2 * padding[1]:
        padding = (3, 3)
    f = lambda: scipy_conv(x, w, b, stride, padding)
    dout = np.random.default_rng(seed).normal(size=f().shape)
    dx, dw, db = conv2d_backward_naive(dout, x, w, stride=stride, padding=padding)
    np.testing.assert_allclose(dx, numeric_gradient(f, x, dout), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numeric_gradient(f, w, dout), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, numeric_gradient(f, b, dout), rtol=1e-6, atol=1e-7)


def test_im2col_columns_are_the_windows():
    """Column i*Wo + j of image n is the window of output (i, j), flattened (c, m, l)."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 7, 6))
    cols = im2col(x, 3, 2, stride=(2, 3), padding=(1, 0))
    Ho, Wo = (7 + 2 - 3) // 2 + 1, (6 - 2) // 3 + 1
    assert cols.shape == (2, 3 * 3 * 2, Ho * Wo) and cols.flags.c_contiguous
    xp = zero_pad(x, (1, 0))
    for n in range(2):
        for i in range(Ho):
            for j in range(Wo):
                np.testing.assert_array_equal(cols[n, :, i * Wo + j],
                                              xp[n, :, 2 * i:2 * i + 3, 3 * j:3 * j + 2].ravel())
    assert im2col(x.astype(np.float32), 2, 2).dtype == np.float32
    assert not np.shares_memory(im2col(x, 1, 1), x)


@pytest.mark.parametrize("seed", range(6))
def test_col2im_is_the_adjoint_of_im2col(seed):
    """<im2col(x), c> == <x, col2im(c)> for every x and c: col2im adds each window back."""
    x, w, _, stride, padding = random_case(seed)
    rng = np.random.default_rng(seed)
    Fh, Fw = w.shape[2:]
    cols = im2col(x, Fh, Fw, stride, padding)
    c = rng.normal(size=cols.shape)
    back = col2im(c, x.shape, Fh, Fw, stride, padding)
    assert back.shape == x.shape and back.flags.c_contiguous
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-10)


def test_col2im_counts_overlaps_and_skips_unread_pixels():
    ones = np.ones((1, 4, 3 * 3))          # C=1, 2x2 windows, 3x3 positions on a 4x4 input
    counts = col2im(ones, (1, 1, 4, 4), 2, 2)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    ones = np.ones((1, 9, 4))              # 3x3 windows, stride 2, 6x6 input: row 5 is never read
    counts = col2im(ones, (1, 1, 6, 6), 3, 3, stride=2)
    assert not counts[0, 0, 5].any() and not counts[0, 0, :, 5].any() and counts[0, 0, 2, 2] == 4


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: im2col(np.zeros((2, 3, 5)), 3, 3), ValueError, r"^im2col: x must be a 4-D array"),
    (lambda: im2col(np.zeros((1, 1, 5, 5)), 0, 3), ValueError, r"^im2col: Fh must be an int >= 1, got 0$"),
    (lambda: im2col(np.zeros((1, 1, 5, 5)), 3, 2.0), TypeError, r"^im2col: Fw must be an int"),
    (lambda: im2col(np.zeros((1, 1, 5, 5)), 7, 3), ValueError,
     r"^im2col: kernel 7x3 is larger than the padded input 5x5 \(x\.shape=\(1, 1, 5, 5\), padding=\(0, 0\)\)$"),
    (lambda: col2im(np.zeros((1, 9, 4)), (1, 1, 5, 5), 3, 3), ValueError,
     r"^col2im: cols must have shape \(1, 9, 9\) \(im2col's output for x_shape=\(1, 1, 5, 5\)\), got \(1, 9, 4\)$"),
    (lambda: col2im(np.zeros((1, 9, 9)), (1, 1, 5, 5), 3, 3, stride=0), ValueError, r"^col2im: stride must be"),
])
def test_im2col_col2im_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_hand_computed_example_is_cross_correlation():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])          # x(i, j) - x(i+1, j+1)
    y = conv2d(x, w, np.array([0.5]), stride=2, padding=0)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), -5.0 + 0.5))
    y = conv2d(x, w, padding=1)
    assert y.shape == (1, 1, 5, 5)
    assert y[0, 0, 0, 0] == -x[0, 0, 0, 0] and y[0, 0, 4, 4] == x[0, 0, 3, 3]


def test_rectangular_kernel_stride_and_padding_pairs():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(2, 3, 9, 7)), rng.normal(size=(4, 3, 2, 5))
    y = conv2d(x, w, stride=(2, 3), padding=(0, 2))
    assert y.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(y, conv2d_naive(x, w, stride=[2, 3], padding=[0, 2]), atol=1e-12)


def test_dtypes_integer_input_gives_float64_and_mixed_promotes():
    rng = np.random.default_rng(2)
    xi = rng.integers(-3, 4, size=(2, 2, 5, 5))
    wi = rng.integers(-2, 3, size=(3, 2, 3, 3))
    y = conv2d(xi, wi)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, conv2d_naive(xi, wi))
    np.testing.assert_array_equal(y, scipy_conv(xi, wi, np.zeros(3), (1, 1), (0, 0)))
    assert conv2d(xi.astype(np.float32), wi.astype(np.float64)).dtype == np.float64
    assert conv2d(xi.astype(np.float32), wi.astype(np.float32), np.zeros(3, np.float32)).dtype == np.float32


def test_no_bias_equals_zero_bias_and_bias_is_added_per_filter():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 2, 6, 5)), rng.normal(size=(3, 2, 3, 3))
    b = np.array([1.0, -2.0, 3.5])
    y0 = conv2d(x, w)
    np.testing.assert_array_equal(y0, conv2d(x, w, np.zeros(3)))
    np.testing.assert_allclose(conv2d(x, w, b) - y0, np.broadcast_to(b[None, :, None, None], y0.shape))


def test_outputs_are_fresh_and_inputs_untouched():
    """Scratch buffers are reused between calls: earlier results must not change."""
    rng = np.random.default_rng(4)
    x1, x2 = rng.normal(size=(2, 3, 8, 8)), rng.normal(size=(2, 3, 8, 8))
    w = rng.normal(size=(4, 3, 3, 3))
    x1_copy, w_copy = x1.copy(), w.copy()
    y1 = conv2d(x1, w, padding=1)
    y1_copy = y1.copy()
    dout = rng.normal(size=y1.shape)
    grads1 = conv2d_backward(dout, x1, w, padding=1)
    grads1_copy = [g.copy() for g in grads1]
    conv2d(x2, w, padding=1)
    conv2d_backward(-dout, x2, w, padding=1)
    np.testing.assert_array_equal(y1, y1_copy)
    for g, g_copy in zip(grads1, grads1_copy):
        np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(x1, x1_copy)
    np.testing.assert_array_equal(w, w_copy)
    assert not np.shares_memory(y1, conv2d(x1, w, padding=1))


def test_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 5, 3, 2)).transpose(3, 2, 1, 0)     # (2, 3, 5, 6), strided
    w = rng.normal(size=(3, 3, 2, 4))[:, :, ::-1, :]             # negative strides
    np.testing.assert_allclose(conv2d(x, w, stride=2, padding=1),
                               conv2d_naive(x, w, stride=2, padding=1), atol=1e-12)


def test_large_input_against_scipy():
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=(8, 8, 33, 30)), rng.normal(size=(6, 8, 3, 4)), rng.normal(size=6)
    np.testing.assert_allclose(conv2d(x, w, b, stride=(1, 2), padding=(1, 2)),
                               scipy_conv(x, w, b, (1, 2), (1, 2)), atol=1e-10)


# ---------------------------------------------------------------- backward

@pytest.mark.parametrize("seed", range(100, 112))
def test_backward_matches_numeric_gradient(seed):
    x, w, b, stride, padding = random_case(seed)
    x, w = x[:2, :3, :9, :9], w[:, :3]                  # keep the numeric gradient quick
    if w.shape[2] > x.shape[2] + 2 * padding[0] or w.shape[3] > x.shape[3] + 2 * padding[1]:
        padding = (3, 3)
    f = lambda: conv2d(x, w, b, stride=stride, padding=padding)
    dout = np.random.default_rng(seed).normal(size=f().shape)
    dx, dw, db = conv2d_backward(dout, x, w, stride=stride, padding=padding)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    np.testing.assert_allclose(dx, numeric_gradient(f, x, dout), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numeric_gradient(f, w, dout), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, numeric_gradient(f, b, dout), rtol=1e-6, atol=1e-7)


def test_backward_pixels_outside_every_window_get_zero():
    # H=6, F=3, S=2, P=0: rows 0..4 are read, row 5 never is
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(1, 2, 6, 6)), rng.normal(size=(2, 2, 3, 3))
    dx, _, _ = conv2d_backward(np.ones((1, 2, 2, 2)), x, w, stride=2)
    assert not dx[:, :, 5, :].any() and not dx[:, :, :, 5].any()
    assert dx[:, :, :5, :5].any()


def test_backward_float32_and_hand_example():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2), np.float32)
    dout = np.ones((1, 1, 2, 2), np.float32)
    dx, dw, db = conv2d_backward(dout, x, w)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(dw[0, 0], [[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]])
    np.testing.assert_array_equal(db, [4.0])


# ---------------------------------------------------------------- errors

X = np.zeros((2, 3, 5, 5))
W = np.zeros((8, 3, 3, 3))


@pytest.mark.parametrize("func", [conv2d, conv2d_naive, conv2d_im2col])
@pytest.mark.parametrize("args, kwargs, exc, pattern", [
    ((X, np.zeros((8, 1, 3, 3))), {}, ValueError,
     r"x has C=3 channels but w expects C=1 \(w\.shape=\(8, 1, 3, 3\)\)$"),
    ((X[0], W), {}, ValueError, r"x must be a 4-D array \(N, C, H, W\), got a 3-D array of shape \(3, 5, 5\)$"),
    ((X, W[0]), {}, ValueError, r"w must be a 4-D array \(K, C, Fh, Fw\), got a 3-D array"),
    ((X, W, np.zeros(3)), {}, ValueError,
     r"b must have shape \(8,\) \(one bias per filter, w\.shape=\(8, 3, 3, 3\)\), got \(3,\)$"),
    ((X, W, np.zeros((8, 1))), {}, ValueError, r"b must be a 1-D array \(K,\), got a 2-D array"),
    ((X, np.zeros((8, 3, 7, 3))), {"padding": 0}, ValueError,
     r"kernel 7x3 \(w\.shape=\(8, 3, 7, 3\)\) is larger than the padded input 5x5 "
     r"\(x\.shape=\(2, 3, 5, 5\), padding=\(0, 0\)\)$"),
    ((X, W), {"stride": 0}, ValueError, r"stride must be an int >= 1 or a pair \(h, w\) of them, got 0$"),
    ((X, W), {"stride": (1, 0)}, ValueError, r"stride must be .* got \(1, 0\)$"),
    ((X, W), {"padding": -1}, ValueError, r"padding must be an int >= 0 or a pair \(h, w\) of them, got -1$"),
    ((X, W), {"padding": 1.0}, TypeError, r"padding must be .* got float 1\.0$"),
    ((X, W), {"stride": "2"}, TypeError, r"stride must be .* got str '2'$"),
    ((X.tolist(), W), {}, TypeError, r"x must be a numpy array, got list$"),
    ((X, W.astype(complex)), {}, TypeError, r"w must have an integer or float dtype, got dtype complex128$"),
])
def test_forward_errors(func, args, kwargs, exc, pattern):
    with pytest.raises(exc, match=rf"^{func.__name__}: {pattern}"):
        func(*args, **kwargs)


@pytest.mark.parametrize("dout, x, w, kwargs, exc, pattern", [
    (np.zeros((2, 8, 3, 3)), X, W, {"padding": 1}, ValueError,
     r"dout must have shape \(2, 8, 5, 5\) \(the shape of conv2d's output\), got \(2, 8, 3, 3\)$"),
    (np.zeros((2, 8, 3)), X, W, {}, ValueError, r"dout must be a 4-D array \(N, K, H_out, W_out\)"),
    (np.zeros((2, 8, 3, 3)), X, np.zeros((8, 2, 3, 3)), {}, ValueError, r"x has C=3 channels but w expects C=2"),
    ("dout", X, W, {}, TypeError, r"dout must be a numpy array, got str$"),
    (None, X, W, {}, TypeError, r"dout must be a numpy array, got NoneType$"),
    (np.zeros((2, 8, 3, 3)), X, W, {"stride": -1}, ValueError, r"stride must be"),
])
@pytest.mark.parametrize("func", [conv2d_backward, conv2d_backward_naive, conv2d_backward_im2col])
def test_backward_errors(func, dout, x, w, kwargs, exc, pattern):
    with pytest.raises(exc, match=rf"^{func.__name__}: {pattern}"):
        func(dout, x, w, **kwargs)


@pytest.mark.parametrize("fn", [conv2d, conv2d_naive, conv2d_im2col])
def test_a_number_in_place_of_b_says_to_pass_stride_by_name(fn):
    x, w = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    with pytest.raises(TypeError, match=rf"^{fn.__name__}: b must be a numpy array \(K,\) or None, got int 2 "
                                        r"\(the 3rd argument is b; pass stride=... by name\)$"):
        fn(x, w, 2)


@pytest.mark.parametrize("fn", [conv2d_backward, conv2d_backward_naive, conv2d_backward_im2col])
def test_conv2d_backward_given_b_says_it_takes_none(fn):
    x, w = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    with pytest.raises(TypeError, match=rf"^{fn.__name__}: stride must be .*got an array of shape \(3,\) "
                                        rf"\({fn.__name__} takes no b\)$"):
        fn(np.ones((1, 3, 3, 3)), x, w, np.zeros(3))


@pytest.mark.parametrize("x_shape, exc", [(5, TypeError), (None, TypeError), ((2.0, 3, 5, 6), TypeError),
                                          ((2, 3, 4), ValueError), ((2, 3, -5, 6), ValueError)])
def test_col2im_checks_x_shape(x_shape, exc):
    with pytest.raises(exc, match=r"^col2im: x_shape must be a tuple of 4 ints .*\(N, C, H, W\), got"):
        col2im(np.ones((2, 27, 12)), x_shape, 3, 3)


def test_channels_last_input_gets_a_transpose_hint():
    import cnnlib
    x, w = np.ones((2, 5, 5, 3)), np.ones((4, 3, 3, 3))
    hint = r" \(\(N, H, W, C\) given\? use x.transpose\(0, 3, 1, 2\)\)$"
    with pytest.raises(ValueError, match=r"^conv2d: x has C=5 channels but w expects C=3 \(w.shape=\(4, 3, 3, 3\)\)" + hint):
        cnnlib.conv2d(x, w)
    with pytest.raises(ValueError, match=r"^Conv2D.forward: x has C=5 channels but the layer expects C=3 .*" + hint):
        cnnlib.Conv2D(3, 4, 3).forward(x.astype(np.float32))
    with pytest.raises(ValueError, match=r"expects C=3 \(w.shape=\(4, 3, 3, 3\)\)$"):     # not channels-last
        cnnlib.conv2d(np.ones((2, 5, 5, 4)), w)
    # an NCHW digit batch (N, 1, 8, 8) into filters for 8 channels: its width is 8, but the
    # images are not channels-last, so no transpose hint (the reviewer's false hint)
    with pytest.raises(ValueError, match=r"expects C=8 \(w.shape=\(16, 8, 3, 3\)\)$"):
        cnnlib.conv2d(np.ones((2, 1, 8, 8)), np.ones((16, 8, 3, 3)))
