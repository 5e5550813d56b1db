"""Tests for cnnlib.gradcheck: numeric gradients, relative error, grad_check."""
import numpy as np
import pytest

import cnnlib
from cnnlib import relu, relu_backward
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
    with pytest.raises(TypeError, match=r"^numeric_gradient: x must be a numeric array, got str$"):
        numeric_gradient(lambda v: v, "abc")
    with pytest.raises(TypeError, match=r"^relative_error: b must be a numeric array, got list of dtype object$"):
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


@pytest.mark.parametrize("h, exc, came", [("a", TypeError, "str 'a'"), (None, TypeError, "NoneType None"),
                                          (0, ValueError, "0")])
def test_numeric_gradient_checks_h(h, exc, came):
    with pytest.raises(exc, match=rf"^numeric_gradient: h must be a number > 0, got {came}$"):
        numeric_gradient(np.sin, np.ones(2), h=h)


@pytest.mark.parametrize("f, came", [(lambda v: None, "must be a numeric array, got NoneType"),
                                     (lambda v: v / 0, "must be finite, got")])
def test_numeric_gradient_and_grad_check_need_a_finite_f_of_x(f, came):
    with np.errstate(all="ignore"):
        with pytest.raises((TypeError, ValueError), match=rf"^numeric_gradient: f\(x\) {came}"):
            numeric_gradient(f, np.ones(2))
        with pytest.raises((TypeError, ValueError), match=rf"^grad_check: f\(x\) {came}"):
            grad_check(f, np.ones(2), backward=lambda dout, x: dout)


def test_grad_check_checks_x_and_rng():
    with pytest.raises(TypeError, match=r"^grad_check: x must be a numeric array, got NoneType$"):
        grad_check(cnnlib.ReLU(), None)
    with pytest.raises(ValueError, match=r"^grad_check: x must be finite, got NaN"):
        grad_check(cnnlib.ReLU(), np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match=r"^grad_check: rng must be a numpy Generator"):
        grad_check(cnnlib.ReLU(), np.ones(2), rng=0)


def _relu_in_place(x):
    x[x < 0] = 0
    return x


def test_a_function_that_changes_its_argument_is_refused_not_blamed_on_backward():
    x = np.array([-1.0, 0.5, 1.0, -0.5])
    with pytest.raises(ValueError, match=r"^numeric_gradient: f changed its argument x in place; "):
        numeric_gradient(_relu_in_place, x)
    with pytest.raises(ValueError, match=r"^grad_check: f changed its argument x in place; "):
        grad_check(_relu_in_place, x, backward=relu_backward)
    np.testing.assert_array_equal(x, [-1.0, 0.5, 1.0, -0.5])
    np.testing.assert_allclose(numeric_gradient(relu, x), [0, 1, 1, 0])


def test_a_function_that_changes_x_only_at_some_points_is_refused():
    calls = []

    def sneaky(x):                      # leaves its first argument alone, then shifts x[1]
        calls.append(1)
        if len(calls) == 3:
            x[1] += 1.0
        return x * 2
    with pytest.raises(ValueError, match=r"^numeric_gradient: f changed its argument x in place"):
        numeric_gradient(sneaky, np.array([1.0, 2.0]))


def test_a_layer_forward_that_changes_x_is_refused():
    class InPlace(cnnlib.ReLU):
        def forward(self, x):
            return super().forward(_relu_in_place(x))
    with pytest.raises(ValueError, match=r"^grad_check: layer.forward changed its argument x in place; "):
        grad_check(InPlace(), np.array([[-1.0, 2.0]]))


@pytest.mark.parametrize("backward, exc, got", [
    (lambda dout, x: dout[:2], ValueError, r"returned shape \(2,\), expected x's shape \(4,\)$"),
    (lambda dout, x: (dout, dout), TypeError, r"returned a tuple of 2, expected the array dx of x's shape \(4,\)$"),
    (lambda dout, x: None, TypeError, r"returned NoneType, expected an array of x's shape \(4,\)$"),
])
def test_grad_check_names_a_backward_of_the_wrong_shape(backward, exc, got):
    with pytest.raises(exc, match=rf"^grad_check: backward\(dout, x\) {got}"):
        grad_check(relu, np.array([-1.0, 0.5, 1.0, -0.5]), backward=backward)


def test_grad_check_of_a_scalar_x_takes_a_scalar_dx():
    """x = 3.0: backward's 2 * x * dout is a NumPy scalar, the gradient of a 0-d x."""
    errors = grad_check(lambda x: x ** 2, 3.0, backward=lambda dout, x: 2 * x * dout)
    assert errors["x"] < 1e-7
    with pytest.raises(TypeError, match=r"returned NoneType, expected an array of x's shape \(\)$"):
        grad_check(lambda x: x ** 2, 3.0, backward=lambda dout, x: None)


def test_grad_check_wants_a_layer_object_not_its_class():
    with pytest.raises(TypeError, match=r"^grad_check: layer_or_fn must be a layer object or a function, "
                                        r"got the class Dense; build one: Dense\(\.\.\.\)$"):
        grad_check(cnnlib.Dense, np.ones((2, 3)))
