"""Tests for cnnlib.losses: softmax cross-entropy and its gradient."""
import numpy as np
import pytest

from cnnlib import cross_entropy, cross_entropy_backward
from cnnlib.gradcheck import numeric_gradient, relative_error


def test_cross_entropy_uniform_logits_is_log_m():
    assert cross_entropy(np.zeros((5, 10)), np.arange(5)) == pytest.approx(np.log(10))


def test_cross_entropy_matches_definition():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, size=6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert cross_entropy(z, y) == pytest.approx(-np.mean(np.log(p[np.arange(6), y])))


def test_cross_entropy_is_stable_for_logits_of_1e4():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    assert cross_entropy(z, np.array([0, 1])) == pytest.approx(0.0, abs=1e-12)
    assert cross_entropy(z, np.array([1, 0])) == pytest.approx(1e4)
    assert np.all(np.isfinite(cross_entropy_backward(z, np.array([1, 0]))))


def test_cross_entropy_backward_matches_numeric_gradient():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, 7))
    y = rng.integers(0, 7, size=5)
    numeric = numeric_gradient(lambda v: cross_entropy(v, y), z)
    assert relative_error(cross_entropy_backward(z, y), numeric) < 1e-7


def test_cross_entropy_backward_keeps_float32():
    z = np.zeros((2, 3), dtype=np.float32)
    assert cross_entropy_backward(z, np.array([0, 2])).dtype == np.float32


@pytest.mark.parametrize("fn", [cross_entropy, cross_entropy_backward])
def test_cross_entropy_errors(fn):
    name = fn.__name__
    with pytest.raises(ValueError, match=rf"{name}: logits must be 2-D \(N, M\), got shape \(3,\)"):
        fn(np.zeros(3), np.array([0]))
    with pytest.raises(TypeError, match=rf"{name}: labels must hold integer class labels"):
        fn(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=rf"{name}: labels must have shape \(N,\) = \(2,\), got \(3,\)"):
        fn(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=rf"{name}: labels must lie in \[0, 3\)"):
        fn(np.zeros((2, 3)), np.array([0, 3]))


@pytest.mark.parametrize("fn", [cross_entropy, cross_entropy_backward])
@pytest.mark.parametrize("value, what", [(np.inf, "inf"), (np.nan, "NaN")])
def test_cross_entropy_refuses_non_finite_logits(fn, value, what):
    logits = np.zeros((2, 3))
    logits[1, 2] = value
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: logits must be finite, got {what} \(in 1 of 6 values\)$"):
        fn(logits, np.array([0, 1]))


def test_cross_entropy_backward_is_c_contiguous_for_fortran_logits():
    logits = np.asfortranarray(np.random.default_rng(0).standard_normal((5, 4)))
    d = cross_entropy_backward(logits, np.array([0, 1, 2, 3, 0]))
    assert d.flags.c_contiguous


@pytest.mark.parametrize("labels, got", [(None, "NoneType"), ([1.0, 2.0], "list of dtype float64"),
                                         (np.array([1.0, 2.0]), "dtype float64")])
def test_labels_of_the_wrong_type_name_it(labels, got):
    with pytest.raises(TypeError, match=rf"^cross_entropy: labels must hold integer class labels, got {got}$"):
        cross_entropy(np.ones((2, 3)), labels)
