"""Tests for cnnlib.dense: dense_forward and dense_backward."""
import numpy as np
import pytest

from cnnlib import dense_backward, dense_forward
from cnnlib.gradcheck import numeric_gradient, relative_error


def test_dense_forward_small_example():
    x = np.array([[1.0, 2.0]])
    W = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])
    b = np.array([0.0, 1.0, -1.0])
    np.testing.assert_allclose(dense_forward(x, W, b), [[2.0, 5.0, 0.0]])


def test_dense_backward_matches_numeric_gradients():
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    dx, dW, db = dense_backward(dout, x, W)
    assert relative_error(dx, numeric_gradient(lambda v: dense_forward(v, W, b), x, dout)) < 1e-7
    assert relative_error(dW, numeric_gradient(lambda v: dense_forward(x, v, b), W, dout)) < 1e-7
    assert relative_error(db, numeric_gradient(lambda v: dense_forward(x, W, v), b, dout)) < 1e-7


def test_dense_errors_name_function_and_argument():
    x, W, b = np.zeros((2, 4)), np.zeros((3, 5)), np.zeros(5)
    with pytest.raises(ValueError, match=r"dense_forward: x has D=4 features but W expects D=3 \(W.shape=\(3, 5\)\)"):
        dense_forward(x, W, b)
    with pytest.raises(ValueError, match=r"dense_forward: x must be 2-D \(N, D\), got shape \(2, 1, 2, 2\)"):
        dense_forward(np.zeros((2, 1, 2, 2)), np.zeros((4, 5)), b)
    with pytest.raises(ValueError, match=r"dense_forward: b must have shape \(M,\) = \(5,\), got \(4,\)"):
        dense_forward(np.zeros((2, 3)), W, np.zeros(4))
    with pytest.raises(ValueError, match=r"dense_backward: dout must have shape \(N, M\) = \(2, 5\), got \(2, 4\)"):
        dense_backward(np.zeros((2, 4)), np.zeros((2, 3)), W)
    with pytest.raises(TypeError, match="dense_forward: W must be a numeric array"):
        dense_forward(np.zeros((2, 3)), np.array([["a"]]), b)


@pytest.mark.parametrize("fn", ["dense_forward", "dense_backward"])
@pytest.mark.parametrize("shape", [(0, 3), (2, 0)])
def test_dense_refuses_an_empty_x_as_conv2d_does(fn, shape):
    import cnnlib
    x, W = np.ones(shape), np.ones((shape[1], 2))
    args = (x, W, np.ones(2)) if fn == "dense_forward" else (np.ones((shape[0], 2)), x, W)
    with pytest.raises(ValueError, match=rf"^{fn}: x must not be empty, got shape \({shape[0]}, {shape[1]}\)$"):
        getattr(cnnlib, fn)(*args)
