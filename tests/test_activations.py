"""Tests for cnnlib.activations: relu, relu_backward, softmax."""
import numpy as np
import pytest

from cnnlib import relu, relu_backward, softmax
from cnnlib.gradcheck import numeric_gradient, relative_error


def test_relu_values_and_dtype():
    x = np.array([[-2.0, 0.0, 3.5]], dtype=np.float32)
    out = relu(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 3.5]])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(x, [[-2.0, 0.0, 3.5]])


def test_relu_backward_matches_numeric_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    dout = rng.standard_normal(x.shape)
    assert relative_error(relu_backward(dout, x), numeric_gradient(relu, x, dout)) < 1e-8


def test_relu_backward_is_zero_at_zero():
    np.testing.assert_array_equal(relu_backward(np.ones(3), np.array([-1.0, 0.0, 1.0])), [0.0, 0.0, 1.0])


def test_relu_backward_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"relu_backward: dout has shape \(2, 3\) but x has shape \(3, 2\)"):
        relu_backward(np.zeros((2, 3)), np.zeros((3, 2)))


def test_relu_rejects_non_numeric():
    with pytest.raises(TypeError, match="relu: x must be a numeric array"):
        relu(np.array(["a", "b"]))


def test_softmax_rows_sum_to_one_and_match_definition():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 6))
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))


def test_softmax_axis_zero():
    z = np.random.default_rng(1).standard_normal((3, 5))
    np.testing.assert_allclose(softmax(z, axis=0), softmax(z.T).T)


def test_softmax_is_stable_for_huge_logits():
    p = softmax(np.array([[1e4, 0.0, -1e4], [1000.0, 1000.0, 1000.0]]))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])


def test_softmax_rejects_bad_axis_and_scalar():
    with pytest.raises(ValueError, match="softmax: axis=2 is out of range"):
        softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="softmax: z must have at least one dimension"):
        softmax(1.0)


@pytest.mark.parametrize("axis", [None, 1.0, (0, 1)])
def test_softmax_axis_must_be_one_int(axis):
    with pytest.raises(TypeError, match=r"^softmax: axis must be an int from -2 to 1 for z with 2 dimension\(s\), got "):
        softmax(np.zeros((2, 3)), axis=axis)


def test_softmax_refuses_an_empty_axis():
    with pytest.raises(ValueError, match=r"^softmax: z has no values along axis 0 to normalise \(shape \(0, 3\)\)$"):
        softmax(np.zeros((0, 3)), axis=0)
    assert softmax(np.zeros((0, 3)), axis=1).shape == (0, 3)


def test_relu_keeps_a_0d_array_and_gives_floats_for_integers():
    out = relu(np.array(-2))
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float64 and out == 0
    assert relu(np.array([True, False])).dtype == np.float64


@pytest.mark.parametrize("bad, what", [(np.inf, "inf"), (-np.inf, "inf"), (np.nan, "NaN")])
def test_softmax_refuses_non_finite_input_as_cross_entropy_does(bad, what):
    with pytest.raises(ValueError, match=rf"^softmax: z must be finite, got {what} \(in 1 of 2 values\)$"):
        softmax(np.array([bad, 1.0]))


@pytest.mark.parametrize("fn", [relu, softmax, lambda z: softmax(z, axis=0), lambda z: relu_backward(z, z)])
def test_activations_return_c_contiguous_arrays_for_fortran_input(fn):
    z = np.asfortranarray(np.random.default_rng(0).standard_normal((5, 4)))
    out = fn(z)
    assert out.flags.c_contiguous and out.shape == (5, 4)
