"""Tests for cnnlib.models: the digits CNN and MLP and the shared training recipe."""
import numpy as np
import pytest

from cnnlib import conv_param_count, dense_param_count, models
from cnnlib.models import lenet_digits, mlp_digits


def test_lenet_digits_shapes_and_parameter_count():
    model = models.lenet_digits(np.random.default_rng(0))
    x = np.zeros((5, 1, 8, 8), np.float32)
    out = model.forward(x)
    assert out.shape == (5, 10) and out.dtype == np.float32
    expected = (conv_param_count(1, 32, 3) + conv_param_count(32, 64, 3)
                + dense_param_count(64 * 2 * 2, 64) + dense_param_count(64, 10))
    assert sum(p.value.size for p in model.parameters()) == expected
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D", "Flatten",
                     "Dense", "ReLU", "Dense"]


def test_model_builders_are_seeded():
    a = models.lenet_digits(np.random.default_rng(3))
    b = models.lenet_digits(np.random.default_rng(3))
    c = models.lenet_digits(np.random.default_rng(4))
    np.testing.assert_array_equal(a[0].w.value, b[0].w.value)
    assert not np.array_equal(a[0].w.value, c[0].w.value)


def test_mlp_digits_layers():
    model = models.mlp_digits(hidden=(32, 16))
    assert sum(p.value.size for p in model.parameters()) == (
        dense_param_count(64, 32) + dense_param_count(32, 16) + dense_param_count(16, 10))
    assert model.forward(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)


def test_train_digits_returns_history_and_accuracy():
    model = models.mlp_digits(np.random.default_rng(0))
    history, acc = models.train_digits(model, epochs=2, rng=np.random.default_rng(0))
    assert len(history["loss"]) == 2 and len(history["val_acc"]) == 2
    assert acc == history["val_acc"][-1]
    assert acc > 0.7


@pytest.mark.parametrize("make", [models.lenet_digits, models.mlp_digits])
def test_models_refuse_other_dtypes_and_rngs(make):
    name = make.__name__
    with pytest.raises(TypeError, match=rf"^{name}: dtype must be np.float32 or np.float64, got int64$"):
        make(dtype=np.int64)
    with pytest.raises(TypeError, match=rf"^{name}: rng must be a numpy Generator"):
        make(rng=0)


def test_mlp_digits_without_rng_gives_the_same_weights_each_call():
    a, b = models.mlp_digits(), models.mlp_digits()
    assert all(np.array_equal(p.value, q.value) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("make, kwargs, exc, pattern", [
    (mlp_digits, {"hidden": 128}, TypeError, r"^mlp_digits: hidden must be a tuple of ints >= 1, one per hidden "
                                              r"layer, e.g. \(128,\), got int 128$"),
    (mlp_digits, {"hidden": (64, 0)}, ValueError, r"^mlp_digits: hidden must be .*got \(64, 0\)$"),
    (lenet_digits, {"channels": 16}, TypeError, r"^lenet_digits: channels must be a pair \(K1, K2\) of ints >= 1, "
                                                r"e.g. \(32, 64\), got int 16$"),
    (lenet_digits, {"channels": (8, 16, 32)}, ValueError, r"^lenet_digits: channels must be .*got \(8, 16, 32\)$"),
    (lenet_digits, {"hidden": (64,)}, TypeError, r"^lenet_digits: hidden must be an int >= 1, got tuple"),
])
def test_model_builders_name_a_wrong_size_argument(make, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make(**kwargs)
    assert len(mlp_digits(hidden=()).parameters()) == 2         # no hidden layer: a linear model
