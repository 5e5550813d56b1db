"""Tests for cnnlib.layers: every backward against numeric gradients (float64), shapes, errors."""
import numpy as np
import pytest

import cnnlib
from cnnlib import (AvgPool2D, Conv2D, Dense, Flatten, Layer, MaxPool2D, Parameter, ReLU,
                    Sequential, conv_param_count, grad_check)

RNG = np.random.default_rng


@pytest.mark.parametrize("layer, xshape", [
    (Conv2D(2, 3, 3, rng=RNG(0)), (2, 2, 5, 6)),
    (Conv2D(3, 2, 3, stride=2, padding=1, rng=RNG(1)), (2, 3, 7, 5)),
    (Conv2D(1, 2, (2, 3), stride=(1, 2), padding=(0, 1), rng=RNG(2)), (1, 1, 5, 6)),
    (ReLU(), (2, 3, 4, 4)),
    (MaxPool2D(2), (2, 2, 6, 5)),
    (MaxPool2D(3, stride=2), (1, 2, 7, 7)),
    (AvgPool2D(2), (2, 2, 4, 6)),
    (AvgPool2D(3, stride=1), (1, 2, 5, 4)),
    (Flatten(), (2, 3, 2, 2)),
    (Dense(6, 4, rng=RNG(3)), (3, 6)),
])
def test_layer_backward_matches_numeric_gradient(layer, xshape):
    errors = grad_check(layer, RNG(10).standard_normal(xshape), rng=RNG(11))
    expected = {"x"} | {name for name, _ in layer.named_parameters()}
    assert set(errors) == expected
    assert max(errors.values()) < 1e-6, errors


def small_cnn(rng):
    return Sequential(
        Conv2D(1, 3, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(3, 4, 3, padding=1, rng=rng), ReLU(), AvgPool2D(2),
        Flatten(), Dense(4 * 2 * 2, 5, rng=rng), ReLU(), Dense(5, 3, rng=rng))


def test_sequential_backward_matches_numeric_gradient():
    model = small_cnn(RNG(0))
    errors = grad_check(model, RNG(1).standard_normal((2, 1, 8, 8)), rng=RNG(2))
    assert set(errors) == {"x", "0.w", "0.b", "3.w", "3.b", "7.w", "7.b", "9.w", "9.b"}
    assert max(errors.values()) < 1e-6, errors


def test_sequential_loss_gradient_through_the_layer_api():
    model = small_cnn(RNG(3))
    for p in model.parameters():
        p.value = p.value.astype(np.float64)
    model.zero_grad()
    x, y = RNG(4).standard_normal((3, 1, 8, 8)), np.array([0, 2, 1])
    logits = model.forward(x)
    model.backward(cnnlib.cross_entropy_backward(logits, y))
    w = model[3].w
    numeric = cnnlib.gradcheck._numeric_gradient_inplace(
        lambda: cnnlib.cross_entropy(model.forward(x), y), w.value, np.float64(1.0), 1e-5)
    assert cnnlib.relative_error(w.grad, numeric) < 1e-6


def test_conv2d_parameters_count_shapes_and_he_init():
    layer = Conv2D(3, 16, 5, rng=RNG(0))
    assert layer.w.value.shape == (16, 3, 5, 5) and layer.b.value.shape == (16,)
    assert layer.w.value.dtype == np.float32
    assert sum(p.value.size for p in layer.parameters()) == conv_param_count(3, 16, 5)  # Conv2D's own order
    assert layer.w.value.std() == pytest.approx(np.sqrt(2 / 75), rel=0.1)
    np.testing.assert_array_equal(layer.b.value, 0)
    assert repr(layer) == "Conv2D(3, 16, kernel_size=5, stride=1, padding=0)"


def test_conv2d_forward_matches_function_and_keeps_float32():
    layer = Conv2D(2, 4, 3, stride=2, padding=1, rng=RNG(0))
    x = RNG(1).standard_normal((3, 2, 9, 7)).astype(np.float32)
    out = layer.forward(x)
    assert out.shape == (3, 4, 5, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, cnnlib.conv2d_naive(x, layer.w.value, layer.b.value, 2, 1), atol=1e-5)


def test_conv2d_rejects_wrong_channels_and_ndim():
    layer = Conv2D(1, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2D.forward: x has C=3 channels but the layer expects C=1"):
        layer.forward(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D.forward: x must be a 4-D array \(N, C, H, W\), got a 2-D array of shape \(8, 8\)"):
        layer.forward(np.zeros((8, 8), np.float32))
    with pytest.raises(TypeError, match="Conv2D.forward: x must be a numpy array"):
        layer.forward([[1.0]])


def test_constructor_errors():
    with pytest.raises(ValueError, match="Conv2D: out_channels must be an int >= 1, got 0"):
        Conv2D(1, 0, 3)
    with pytest.raises(TypeError, match="Conv2D: kernel_size must be an int >= 1, got float 2.5"):
        Conv2D(1, 2, 2.5)
    with pytest.raises(ValueError, match="Conv2D: kernel_size must be an int or a pair"):
        Conv2D(1, 2, (1, 2, 3))
    with pytest.raises(TypeError, match="Dense: n_in must be an int >= 1"):
        Dense("64", 10)
    with pytest.raises(TypeError, match="Sequential: argument 1 must be a Layer, got ufunc"):
        Sequential(ReLU(), np.tanh)
    with pytest.raises(ValueError, match="Conv2D: stride must be an int >= 1 or a pair"):
        Conv2D(1, 2, 3, stride=0)
    with pytest.raises(ValueError, match="Conv2D: padding must be an int >= 0 or a pair"):
        Conv2D(1, 2, 3, padding=-1)
    with pytest.raises(TypeError, match="MaxPool2D: size must be an int >= 1 or a pair"):
        MaxPool2D(2.0)
    with pytest.raises(ValueError, match="AvgPool2D: stride must be an int >= 1 or a pair"):
        AvgPool2D(2, stride=0)


def test_dense_rejects_wrong_features():
    with pytest.raises(ValueError, match=r"Dense.forward: x has D=10 features but the layer expects n_in=6"):
        Dense(6, 2).forward(np.zeros((4, 10), np.float32))
    with pytest.raises(ValueError, match=r"Dense.forward: x must be a 2-D array \(N, n_in\)"):
        Dense(6, 2).forward(np.zeros((4, 1, 2, 3), np.float32))


@pytest.mark.parametrize("x_dtype, dout_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                                  (np.float32, np.float64), (np.int64, np.float32)])
def test_max_pool_layer_backward_equals_max_pool2d_backward(x_dtype, dout_dtype):
    """The layer's shortcut (dx straight from the kept argmax, by pool's own scatter-or-sum, when
    dout is what the checks expect) gives max_pool2d_backward's values and dtype, overlapping
    windows included; a wrong dout still gets its error."""
    rng = RNG(5)
    x = rng.integers(-3, 3, size=(3, 2, 8, 6)).astype(x_dtype)      # ties: the first maximum wins
    for size, stride in ((2, None), ((2, 3), (2, 3)), (3, 2), (2, (3, 2))):
        layer = MaxPool2D(size, stride)
        dout = rng.standard_normal(layer.forward(x).shape).astype(dout_dtype)
        got, expected = layer.backward(dout), cnnlib.max_pool2d_backward(dout, x, size, stride)
        assert got.dtype == expected.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: dout must have shape \(3, 2, 3, 3\)"):
        layer.backward(dout[:, :, :, :2])


def test_pool_layers_errors_come_from_the_functions():
    with pytest.raises(ValueError, match="max_pool2d_with_indices: pooling window 3x3 is larger than the input 2x2"):
        MaxPool2D(3).forward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"AvgPool2D.forward: x must be a 4-D array"):
        AvgPool2D().forward(np.zeros((4, 4)))


@pytest.mark.parametrize("x, exc, pattern", [
    (np.zeros((0, 3, 2, 2)), ValueError, r"x must not be empty, got shape \(0, 3, 2, 2\)"),
    (np.zeros(4), ValueError, r"x must be an array \(N, ...\) with at least 2 dimensions, got shape \(4,\)"),
    (np.zeros((2, 3), complex), TypeError, r"x must have an integer or float dtype, got dtype complex128"),
    ([[1.0, 2.0]], TypeError, r"x must be a numpy array, got list"),
])
def test_flatten_errors(x, exc, pattern):
    with pytest.raises(exc, match=rf"^Flatten.forward: {pattern}$"):
        Flatten().forward(x)


def test_backward_before_forward_is_a_clear_error():
    for layer in (Conv2D(1, 1, 1), ReLU(), MaxPool2D(), Flatten(), Dense(2, 2)):
        with pytest.raises(RuntimeError, match=f"{type(layer).__name__}.backward: call forward before backward"):
            layer.backward(np.zeros((1, 1, 1, 1)))


def test_gradients_accumulate_until_zero_grad():
    layer = Dense(3, 2, rng=RNG(0))
    x, dout = RNG(1).standard_normal((4, 3)), RNG(2).standard_normal((4, 2))
    layer.forward(x)
    layer.backward(dout)
    once = layer.w.grad.copy()
    layer.backward(dout)
    np.testing.assert_allclose(layer.w.grad, 2 * once, rtol=1e-6)
    layer.zero_grad()
    assert not np.any(layer.w.grad) and not np.any(layer.b.grad)


def test_layer_call_and_parameterless_layers():
    x = np.array([[-1.0, 2.0]])
    np.testing.assert_array_equal(ReLU()(x), [[0.0, 2.0]])
    assert ReLU().parameters() == [] and Flatten().parameters() == []
    assert repr(MaxPool2D(3, stride=2)) == "MaxPool2D(size=3, stride=2)"
    with pytest.raises(NotImplementedError, match="Layer.forward"):
        Layer().forward(x)
    assert "shape=(2, 3)" in repr(Parameter(np.zeros((2, 3)), "w"))


def test_sequential_container_behaviour():
    model = small_cnn(RNG(0))
    assert len(model) == 10 and isinstance(model[0], Conv2D) and isinstance(model[-1], Dense)
    assert [type(l).__name__ for l in model][:3] == ["Conv2D", "ReLU", "MaxPool2D"]
    assert len(model.parameters()) == 8
    assert "(9): Dense(5, 3)" in repr(model)
    listed = Sequential([ReLU(), Flatten()])
    assert len(listed) == 2 and isinstance(listed[1], Flatten)


def test_sequential_intermediates():
    model = small_cnn(RNG(0))
    x = RNG(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    steps = model.intermediates(x)
    assert [name for name, _ in steps][:3] == ["0 Conv2D", "1 ReLU", "2 MaxPool2D"]
    assert [a.shape for _, a in steps][:6] == [(2, 3, 8, 8), (2, 3, 8, 8), (2, 3, 4, 4),
                                                (2, 4, 4, 4), (2, 4, 4, 4), (2, 4, 2, 2)]
    np.testing.assert_allclose(steps[-1][1], model.forward(x), rtol=1e-6)


def test_sequential_summary_table():
    model = cnnlib.models.lenet_digits(RNG(0))
    text = model.summary((1, 8, 8))
    lines = text.splitlines()
    assert lines[0].split() == ["Layer", "Output", "shape", "Params"]
    assert "(32, 8, 8)" in lines[2] and lines[2].rstrip().endswith("320")
    total = sum(p.value.size for p in model.parameters())
    assert lines[-1].split() == ["Total", f"{total:,}"]
    assert "Flatten()" in text and "(256,)" in text


def test_layers_without_rng_get_independent_weights_and_a_generator_decides():
    a, b = Conv2D(3, 4, 3), Conv2D(3, 4, 3)
    assert not np.array_equal(a.w.value, b.w.value)
    d1, d2 = Dense(5, 6), Dense(5, 6)
    assert not np.array_equal(d1.w.value, d2.w.value)
    same = [Conv2D(3, 4, 3, rng=np.random.default_rng(7)).w.value for _ in range(2)]
    np.testing.assert_array_equal(*same)
    with pytest.raises(TypeError, match=r"^Dense: rng must be a numpy Generator"):
        Dense(2, 2, rng=0)


@pytest.mark.parametrize("make", [Conv2D, Dense])
@pytest.mark.parametrize("dtype, came", [(np.int32, "int32"), (np.float16, "float16"), ("bogus", "'bogus'"),
                                         (None, "None")])
def test_layers_accept_only_float32_or_float64_weights(make, dtype, came):
    args = (3, 4, 3) if make is Conv2D else (3, 4)
    with pytest.raises(TypeError, match=rf"^{make.__name__}: dtype must be np.float32 or np.float64, got {came}$"):
        make(*args, dtype=dtype)
    assert make(*args, dtype="float64").w.value.dtype == np.float64


def test_dense_hints_a_flatten_only_when_x_is_not_2d_and_sequential_names_the_layer():
    x = np.ones((2, 3, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"^Dense.forward: x must be a 2-D array \(N, n_in\), got a 4-D array "
                                         r".*; add a Flatten before it\? \[in Sequential layer 1 \(Dense\)\]$"):
        Sequential(Conv2D(3, 4, 3), Dense(100, 10)).forward(x)
    with pytest.raises(ValueError, match=r"^Dense.forward: x has D=144 features but the layer expects n_in=100 "
                                         r"\(x.shape=\(2, 144\)\) \[in Sequential layer 2 \(Dense\)\]$"):
        Sequential(Conv2D(3, 4, 3), Flatten(), Dense(100, 10)).forward(x)


def test_flatten_backward_checks_the_shape_of_dout():
    layer = Flatten()
    layer.forward(np.ones((4, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"^Flatten.backward: dout must have shape \(4, 192\) .*got \(4, 191\)$"):
        layer.backward(np.ones((4, 191)))
    assert layer.backward(np.ones((4, 192))).shape == (4, 3, 8, 8)


@pytest.mark.parametrize("shape, exc", [(8, TypeError), ((2, 3, 8, 8), ValueError), ((3, 8.0, 8), TypeError)])
def test_summary_wants_the_shape_of_one_example(shape, exc):
    with pytest.raises(exc, match=r"^Sequential.summary: input_shape is one example \(C, H, W\), without N"):
        Sequential(Conv2D(3, 4, 3)).summary(shape)


def test_sequential_refuses_one_layer_object_used_twice():
    d1, d2, relu = Dense(4, 4), Dense(4, 4), ReLU()
    with pytest.raises(ValueError, match=r"^Sequential: layers 1 and 3 are the same ReLU object; a layer keeps "
                                         r"its input for backward, so make one per use$"):
        Sequential(d1, relu, d2, relu, Dense(4, 3))
    with pytest.raises(ValueError, match=r"^Sequential: layers 0 and 2 are the same Dense object"):
        Sequential(d1, ReLU(), d1)
    with pytest.raises(ValueError, match=r"^Sequential: layers 0.0 and 1 are the same Dense object"):
        Sequential(Sequential(d1, ReLU()), d1)
    model = Sequential(d1, ReLU(), d2)                     # one object per use is fine
    assert len(model.parameters()) == len({id(p) for p in model.parameters()}) == 4


def test_sequential_backward_names_the_layer_that_raised():
    model = Sequential(Dense(4, 4), ReLU(), Dense(4, 3))
    model.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"^dense_backward: dout must have shape \(N, M\) = \(2, 3\), got \(2, 4\) "
                                         r"\[in Sequential layer 2 \(Dense\)\]$"):
        model.backward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[in Sequential layer 0 \(Dense\)\]$"):
        Sequential(Flatten(), model).forward(np.ones((2, 5), np.float32))


def test_layers_want_numpy_arrays_in_forward_and_backward_alike():
    with pytest.raises(TypeError, match=r"^ReLU.forward: x must be a numpy array, got list$"):
        ReLU().forward([1.0, -1.0])
    relu, dense = ReLU(), Dense(3, 2)
    relu.forward(np.ones((2, 3)))
    dense.forward(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"^ReLU.backward: dout must be a numpy array, got list$"):
        relu.backward(np.ones((2, 3)).tolist())
    with pytest.raises(TypeError, match=r"^Dense.backward: dout must be a numpy array, got list$"):
        dense.backward(np.ones((2, 2)).tolist())
