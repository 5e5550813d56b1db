"""Tests for cnnlib.gradcheck: numeric gradients, relative error, grad_check."""
import numpy as np
import pytest

import cnnlib
from cnnlib.gradcheck import grad_check, numeric_gradient, relative_error


def test_numeric_gradient_of_square_is_2x():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]])
    np.testing.assert_allclose(numeric_gradient(lambda v: v ** 2, x), 2 * x, atol=1e-8)


def test_numeric_gradient_uses_dout_and_leaves_x_alone():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4))
    A = rng.standard_normal((4, 2))
    dout = rng.standard_normal((3, 2))
    x_before = x.copy()
    grad = numeric_gradient(lambda v: v @ A, x, dout)
    np.testing.assert_allclose(grad, dout @ A.T, atol=1e-8)
    np.testing.assert_array_equal(x, x_before)


def test_numeric_gradient_of_scalar_function():
    x = np.array([0.3, -0.7])
    np.testing.assert_allclose(numeric_gradient(lambda v: float(np.sum(np.sin(v))), x), np.cos(x), atol=1e-8)


def test_numeric_gradient_rejects_wrong_dout_shape():
    with pytest.raises(ValueError, match=r"numeric_gradient: dout has shape \(2,\) but f\(x\) has shape \(3,\)"):
        numeric_gradient(lambda v: v, np.zeros(3), np.zeros(2))


def test_numeric_gradient_rejects_non_callable():
    with pytest.raises(TypeError, match="numeric_gradient: f must be callable"):
        numeric_gradient(3, np.zeros(3))


def test_numeric_gradient_and_relative_error_name_a_non_numeric_argument():
    with pytest.raises(TypeError, match=r"^numeric_gradient: x must be a numeric array, got dtype <U3$"):
        numeric_gradient(lambda v: v, "abc")
    with pytest.raises(TypeError, match=r"^relative_error: b must be a numeric array, got dtype object$"):
        relative_error([1.0], [None])


def test_relative_error_values():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0], [3.0]) == pytest.approx(0.5)
    assert relative_error([0.0], [0.0]) == 0.0
    with pytest.raises(ValueError, match="relative_error: a has shape"):
        relative_error(np.zeros(2), np.zeros(3))


def test_grad_check_function_catches_a_wrong_backward():
    x = np.random.default_rng(0).standard_normal((4, 5))
    good = grad_check(cnnlib.relu, x, backward=cnnlib.relu_backward)
    bad = grad_check(cnnlib.relu, x, backward=lambda dout, x: dout)
    assert good["x"] < 1e-8
    assert bad["x"] > 0.1


def test_grad_check_needs_backward_for_a_function():
    with pytest.raises(TypeError, match="grad_check: give a layer"):
        grad_check(cnnlib.relu, np.zeros(3))


def test_grad_check_layer_reports_every_parameter_and_keeps_the_layer():
    layer = cnnlib.Dense(5, 3, rng=np.random.default_rng(0))
    w_before = layer.w.value.copy()
    errors = grad_check(layer, np.random.default_rng(1).standard_normal((4, 5)))
    assert set(errors) == {"x", "w", "b"}
    assert max(errors.values()) < 1e-7
    assert layer.w.value.dtype == np.float32
    np.testing.assert_array_equal(layer.w.value, w_before)
