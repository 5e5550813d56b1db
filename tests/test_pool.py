"""Tests for cnnlib.pool: max/avg pooling, max-pool indices and the backward passes (overlaps, ties, errors)."""
import numpy as np
import pytest

import cnnlib
from cnnlib import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from numeric_oracle import numeric_gradient


def loop_pool(x, size, stride, reduce):
    """Reference: one window at a time."""
    (fh, fw), (sh, sw) = size, stride
    N, C, H, W = x.shape
    Ho, Wo = (H - fh) // sh + 1, (W - fw) // sw + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = reduce(x[:, :, sh * i:sh * i + fh, sw * j:sw * j + fw], axis=(2, 3))
    return out


def loop_max_backward(dout, x, size, stride):
    """Reference with the documented tie rule: first maximum in row-major order (np.argmax)."""
    (fh, fw), (sh, sw) = size, stride
    dx = np.zeros(x.shape)
    for n, c, i, j in np.ndindex(dout.shape):
        window = x[n, c, sh * i:sh * i + fh, sw * j:sw * j + fw]
        m, l = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, sh * i + m, sw * j + l] += dout[n, c, i, j]
    return dx


def random_case(seed, ties=False):
    """Non-square input, window (fh, fw), stride that may overlap (< size) or skip (> size)."""
    rng = np.random.default_rng(seed)
    fh, fw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 5, 2))
    h, w = int(rng.integers(fh, 12)), int(rng.integers(fw, 12))
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w)
    x = rng.integers(0, 3, size=shape).astype(float) if ties else rng.normal(size=shape)
    return x, (fh, fw), (sh, sw)


@pytest.mark.parametrize("seed", range(30))
def test_forward_against_loops(seed):
    x, size, stride = random_case(seed)
    np.testing.assert_allclose(max_pool2d(x, size, stride), loop_pool(x, size, stride, np.max))
    np.testing.assert_allclose(avg_pool2d(x, size, stride), loop_pool(x, size, stride, np.mean),
                               rtol=1e-12, atol=1e-12)


def test_defaults_stride_equals_size_and_floor():
    x = np.arange(2 * 7 * 5, dtype=float).reshape(1, 2, 7, 5)
    y = max_pool2d(x)
    assert y.shape == (1, 2, 3, 2)
    np.testing.assert_array_equal(y, max_pool2d(x, 2, 2))
    np.testing.assert_array_equal(y[0, 0], [[6, 8], [16, 18], [26, 28]])
    assert avg_pool2d(x, 3).shape == (1, 2, 2, 1)
    assert max_pool2d(x, (3, 1), (1, 2)).shape == (1, 2, 5, 3)


def test_dtypes():
    x32 = np.ones((1, 1, 4, 4), np.float32)
    assert max_pool2d(x32).dtype == avg_pool2d(x32).dtype == np.float32
    assert max_pool2d_backward(np.ones((1, 1, 2, 2), np.float32), x32).dtype == np.float32
    assert avg_pool2d_backward(np.ones((1, 1, 2, 2), np.float32), x32).dtype == np.float32
    xi = np.arange(16).reshape(1, 1, 4, 4)
    assert max_pool2d(xi).dtype == xi.dtype
    assert avg_pool2d(xi).dtype == np.float64
    np.testing.assert_array_equal(avg_pool2d(xi), [[[[2.5, 4.5], [10.5, 12.5]]]])


@pytest.mark.parametrize("seed", range(30, 42))
def test_backward_matches_numeric_gradient(seed):
    x, size, stride = random_case(seed)          # continuous values: no ties
    rng = np.random.default_rng(seed)
    dout = rng.normal(size=max_pool2d(x, size, stride).shape)
    dmax = max_pool2d_backward(dout, x, size, stride)
    davg = avg_pool2d_backward(dout, x, size, stride)
    np.testing.assert_allclose(dmax, numeric_gradient(lambda: max_pool2d(x, size, stride), x, dout),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(davg, numeric_gradient(lambda: avg_pool2d(x, size, stride), x, dout),
                               rtol=1e-6, atol=1e-8)


def test_overlapping_windows_accumulate():
    x = np.array([[[[0.0, 1.0, 0.0],
                    [0.0, 9.0, 0.0],
                    [0.0, 0.0, 0.0]]]])
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = max_pool2d_backward(dout, x, size=2, stride=1)      # the 9 is every window's maximum
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)
    davg = avg_pool2d_backward(dout, x, size=2, stride=1)
    np.testing.assert_allclose(davg[0, 0], np.array([[1, 3, 2], [4, 10, 6], [3, 7, 4]]) / 4)


def test_ties_gradient_goes_to_first_maximum_row_major():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0],
                    [2.0, 3.0, 1.0, 1.0],
                    [0.0, 0.0, 5.0, 5.0],
                    [1.0, 1.0, 5.0, 5.0]]]])
    dx = max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), x)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 1.0     # window (0, 0): 3 at (0, 1) and (1, 1) -> the first
    expected[0, 0, 0, 2] = 2.0     # window (0, 1): 3 at (0, 2) only
    expected[0, 0, 3, 0] = 3.0     # window (1, 0): 1 at (3, 0) and (3, 1) -> the first
    expected[0, 0, 2, 2] = 4.0     # window (1, 1): four 5s -> (2, 2)
    np.testing.assert_array_equal(dx, expected)


def test_ties_with_overlapping_windows_match_reference_and_conserve_gradient():
    for seed in range(42, 62):
        x, size, stride = random_case(seed, ties=True)
        rng = np.random.default_rng(seed)
        dout = rng.normal(size=max_pool2d(x, size, stride).shape)
        dx = max_pool2d_backward(dout, x, size, stride)
        np.testing.assert_allclose(dx, loop_max_backward(dout, x, size, stride), atol=1e-12)
        # neither split nor duplicated: the total gradient is conserved
        assert np.isclose(dx.sum(), dout.sum())


def test_all_equal_window_sends_everything_to_its_top_left():
    x = np.zeros((1, 1, 3, 3))
    dx = max_pool2d_backward(np.ones((1, 1, 2, 2)), x, size=2, stride=1)
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_nan_counts_as_the_maximum():
    x = np.array([[[[1.0, np.nan], [2.0, 0.0]]]])
    assert np.isnan(max_pool2d(x)).all()
    np.testing.assert_array_equal(max_pool2d_backward(np.ones((1, 1, 1, 1)), x)[0, 0], [[0, 1], [0, 0]])


@pytest.mark.parametrize("stride", [2, 1])
def test_infinite_upstream_gradient_stays_at_the_maximum(stride):
    x = np.array([[[[1.0, 4.0, 0.0], [2.0, 3.0, 0.0], [0.0, 0.0, 0.0]]]])
    dout = np.full(max_pool2d(x, 2, stride).shape, np.inf)
    dx = max_pool2d_backward(dout, x, 2, stride)
    assert np.isinf(dx[0, 0, 0, 1]) and not np.isnan(dx).any()
    assert np.count_nonzero(dx) == (1 if stride == 2 else 2)   # 4 at (0, 1), 3 at (1, 1)


def test_pixels_outside_every_window_get_zero_gradient():
    """7x9 input, 2x2 windows: row 6 and column 8 are in no window and must get exactly 0, even
    when the memory the gradient lands in held NaNs just before."""
    rng = np.random.default_rng(3)
    x, dout = rng.normal(size=(2, 3, 7, 9)), rng.normal(size=(2, 3, 3, 4))
    for _ in range(3):
        poison = np.full(x.shape, np.nan)
        del poison
    dx = max_pool2d_backward(dout, x)
    assert (dx[:, :, 6:] == 0).all() and (dx[:, :, :, 8:] == 0).all()
    np.testing.assert_array_equal(dx, loop_max_backward(dout, x, (2, 2), (2, 2)))


def test_inputs_are_not_modified():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 2, 6, 6))
    dout = rng.normal(size=(2, 2, 3, 3))
    x_copy, dout_copy = x.copy(), dout.copy()
    for f in (max_pool2d_backward, avg_pool2d_backward):
        f(dout, x)
    max_pool2d(x)
    avg_pool2d(x)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, dout_copy)


X = np.zeros((2, 3, 5, 4))


@pytest.mark.parametrize("func", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("args, exc, pattern", [
    ((X, 6), ValueError, r"pooling window 6x6 is larger than the input 5x4 \(x\.shape=\(2, 3, 5, 4\)\)$"),
    ((X, (2, 5)), ValueError, r"pooling window 2x5 is larger than the input 5x4"),
    ((X, 0), ValueError, r"size must be an int >= 1 or a pair \(h, w\) of them, got 0$"),
    ((X, 2, 0), ValueError, r"stride must be an int >= 1 or a pair \(h, w\) of them, got 0$"),
    ((X, 2.0), TypeError, r"size must be .* got float 2\.0$"),
    ((X, 2, (1, 1.5)), TypeError, r"stride must be .* got \(1, 1\.5\) \(int, float\)$"),
    ((X[0], 2), ValueError, r"x must be a 4-D array \(N, C, H, W\), got a 3-D array of shape \(3, 5, 4\)$"),
    ((X.tolist(), 2), TypeError, r"x must be a numpy array, got list$"),
])
def test_forward_errors(func, args, exc, pattern):
    with pytest.raises(exc, match=rf"^{func.__name__}: {pattern}"):
        func(*args)


@pytest.mark.parametrize("func", [max_pool2d_backward, avg_pool2d_backward])
@pytest.mark.parametrize("args, exc, pattern", [
    ((np.zeros((2, 3, 3, 2)), X, 2), ValueError,
     r"dout must have shape \(2, 3, 2, 2\) \(the shape of the pooled output\), got \(2, 3, 3, 2\)$"),
    ((np.zeros((2, 3, 2)), X, 2), ValueError, r"dout must be a 4-D array \(N, C, H_out, W_out\)"),
    ((np.zeros((2, 3, 1, 1)), X, 6), ValueError, r"pooling window 6x6 is larger than the input 5x4"),
    ((None, X, 2), TypeError, r"dout must be a numpy array, got NoneType$"),
    ((np.zeros((2, 3, 2, 2)), X, 2, -1), ValueError, r"stride must be .* got -1$"),
])
def test_backward_errors(func, args, exc, pattern):
    with pytest.raises(exc, match=rf"^{func.__name__}: {pattern}"):
        func(*args)


@pytest.mark.parametrize("seed", range(8))
def test_indices_point_at_the_first_maximum_and_drive_the_backward(seed):
    """x.ravel()[argmax] == out, the first maximum of each window (ties made on purpose), and
    the backward from the kept indices equals the loops, with or without overlap."""
    rng = np.random.default_rng(seed)
    size = tuple(int(v) for v in rng.integers(1, 4, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    x = rng.integers(0, 3, size=(2, 3, 9, 8)).astype(np.float32)      # many ties
    out, argmax = cnnlib.max_pool2d_with_indices(x, size, stride)
    assert argmax.shape == out.shape and argmax.dtype == np.intp
    np.testing.assert_array_equal(x.ravel()[argmax], out)
    dout = rng.normal(size=out.shape).astype(np.float32)
    expected = loop_max_backward(dout, x, size, stride)
    np.testing.assert_allclose(max_pool2d_backward(dout, x, size, stride, argmax=argmax), expected, rtol=1e-6)
    np.testing.assert_allclose(max_pool2d_backward(dout, x, size, stride), expected, rtol=1e-6)
    layer = cnnlib.MaxPool2D(size, stride)
    np.testing.assert_array_equal(layer.forward(x), out)
    np.testing.assert_allclose(layer.backward(dout), expected, rtol=1e-6)


def test_backward_refuses_indices_of_the_wrong_shape():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: argmax must have shape \(1, 1, 2, 2\)"):
        max_pool2d_backward(np.ones((1, 1, 2, 2)), x, argmax=np.zeros((1, 1, 3, 3), np.intp))


def test_max_pool2d_backward_checks_argmax_dtype_and_range():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    dout = np.ones((2, 3, 2, 2))
    _, argmax = cnnlib.max_pool2d_with_indices(x)
    with pytest.raises(TypeError, match=r"^max_pool2d_backward: argmax must hold integer indices .*got dtype float64$"):
        max_pool2d_backward(dout, x, argmax=argmax.astype(float))
    for bad in (argmax - 1000, argmax + 1000, argmax + 16):      # wraps, falls off, lands in the next plane
        with pytest.raises(ValueError, match=r"^max_pool2d_backward: argmax must hold flat indices into x "
                                             r".*for x.shape=\(2, 3, 4, 4\)$"):
            max_pool2d_backward(dout, x, argmax=bad)
    bad = argmax.copy()
    bad[0, 0, 0, 0] = -1                                         # one index wrapping to the last pixel
    with pytest.raises(ValueError, match=r"got values from -1 to"):
        max_pool2d_backward(dout, x, argmax=bad)


@pytest.mark.parametrize("make", [np.asfortranarray,
                                  lambda a: np.broadcast_to(a[:1, :1], a.shape)])     # a read-only view
def test_pooling_returns_c_contiguous_arrays(make):
    x = make(np.random.default_rng(0).standard_normal((2, 3, 4, 6)))
    for out in (avg_pool2d(x), max_pool2d(x), avg_pool2d_backward(make(np.ones((2, 3, 2, 3))), x),
                max_pool2d_backward(make(np.ones((2, 3, 2, 3))), x)):
        assert out.flags.c_contiguous
