"""Tests for cnnlib.sizes: output sizes, parameter counts, receptive fields."""
import numpy as np
import pytest

from cnnlib import (conv2d, conv_output_size, conv_param_count, dense_param_count,
                    mlp_param_count, receptive_field)


@pytest.mark.parametrize("n, f, p, s, expected", [
    (28, 3, 1, 1, 28), (32, 5, 0, 1, 28), (64, 5, 2, 2, 32), (7, 3, 0, 2, 3),
    (8, 3, 0, 2, 3), (5, 5, 0, 1, 1), (1, 3, 1, 1, 1), (10, 4, 3, 3, 5),
])
def test_conv_output_size_examples(n, f, p, s, expected):
    assert conv_output_size(n, f, padding=p, stride=s) == expected


def test_conv_output_size_counts_window_positions():
    # independent count: the start positions 0, S, 2S, ... of windows that fit in n + 2P
    for n in range(1, 12):
        for f in range(1, 6):
            for p in range(4):
                for s in range(1, 5):
                    if f <= n + 2 * p:
                        assert conv_output_size(n, f, p, s) == len(range(0, n + 2 * p - f + 1, s))


def test_conv_output_size_matches_conv2d():
    x = np.zeros((1, 1, 11, 9))
    w = np.zeros((1, 1, 4, 4))
    y = conv2d(x, w, stride=3, padding=2)
    assert y.shape[2:] == (conv_output_size(11, 4, 2, 3), conv_output_size(9, 4, 2, 3))


@pytest.mark.parametrize("args, exc, pattern", [
    ((3, 5), ValueError, r"^conv_output_size: kernel f=5 is larger than the padded input "
                         r"n \+ 2\*padding = 3$"),
    ((3, 2, 0, 0), ValueError, r"^conv_output_size: stride must be an int >= 1, got 0$"),
    ((3, 2, -1), ValueError, r"^conv_output_size: padding must be an int >= 0, got -1$"),
    ((0, 1), ValueError, r"^conv_output_size: n must be an int >= 1, got 0$"),
    ((28.0, 3), TypeError, r"^conv_output_size: n must be an int >= 1, got float 28\.0$"),
    ((28, 3, 1, 1.5), TypeError, r"stride must be an int >= 1, got float 1\.5"),
])
def test_conv_output_size_errors(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        conv_output_size(*args)


@pytest.mark.parametrize("c, k, f, expected", [(1, 8, 3, 80), (16, 32, 3, 4640), (3, 16, 5, 1216),
                                               (2, 4, (3, 5), 124)])
def test_conv_param_count(c, k, f, expected):
    assert conv_param_count(c, k, f) == expected
    fh, fw = (f, f) if isinstance(f, int) else f
    assert expected == np.zeros((k, c, fh, fw)).size + np.zeros(k).size


@pytest.mark.parametrize("args, exc, pattern", [
    ((1, 0, 3), ValueError, r"^conv_param_count: k must be an int >= 1, got 0$"),
    ((1, 8, 3.0), TypeError, r"^conv_param_count: f must be an int >= 1 or a pair"),
    ((1, 8, (3, 0)), ValueError, r"^conv_param_count: f must be .* got \(3, 0\)$"),
    ((-2, 8, 3), ValueError, r"^conv_param_count: c must be an int >= 1, got -2$"),
])
def test_conv_param_count_errors(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        conv_param_count(*args)


def test_dense_param_count():
    assert dense_param_count(784, 128) == 784 * 128 + 128
    assert dense_param_count(1, 1) == 2
    with pytest.raises(ValueError, match=r"^dense_param_count: n_out must be an int >= 1, got 0$"):
        dense_param_count(3, 0)
    with pytest.raises(TypeError, match=r"^dense_param_count: n_in must be an int >= 1, got float"):
        dense_param_count(3.5, 2)


@pytest.mark.parametrize("sizes, expected", [([784, 128, 10], 101_770), ((64, 10), 650),
                                             ([4, 3, 2, 1], 15 + 8 + 3)])
def test_mlp_param_count(sizes, expected):
    assert mlp_param_count(sizes) == expected


@pytest.mark.parametrize("sizes, exc, pattern", [
    ([784], ValueError, r"^mlp_param_count: layer_sizes needs at least 2 sizes .* got \[784\]$"),
    ([784, 0, 10], ValueError, r"^mlp_param_count: layer_sizes\[1\] must be an int >= 1, got 0$"),
    ([784, 12.5], TypeError, r"layer_sizes\[1\] must be an int >= 1, got float 12\.5"),
    (784, TypeError, r"^mlp_param_count: layer_sizes must be a list of ints .* got int$"),
    ("784", TypeError, r"got str$"),
])
def test_mlp_param_count_errors(sizes, exc, pattern):
    with pytest.raises(exc, match=pattern):
        mlp_param_count(sizes)


def _receptive_field_by_intervals(kernels, strides):
    """Independent check: walk one output unit's input interval back through the layers."""
    lo, hi = 0, 0
    for f, s in reversed(list(zip(kernels, strides))):
        lo, hi = s * lo, s * hi + f - 1
    return hi - lo + 1


@pytest.mark.parametrize("kernels, strides, expected", [
    ([3], None, 3), ([3, 3], None, 5), ([3, 3, 3], None, 7), ([3, 2, 3], [1, 2, 1], 8),
    ([5, 2, 5, 2], [1, 2, 1, 2], 16), ([7, 3], [2, 2], 11), ([1, 1], [4, 4], 1),
])
def test_receptive_field_examples(kernels, strides, expected):
    assert receptive_field(kernels, strides) == expected
    assert _receptive_field_by_intervals(kernels, strides or [1] * len(kernels)) == expected


def test_receptive_field_random_against_intervals():
    rng = np.random.default_rng(0)
    for _ in range(200):
        depth = int(rng.integers(1, 6))
        kernels = [int(v) for v in rng.integers(1, 8, depth)]
        strides = [int(v) for v in rng.integers(1, 4, depth)]
        assert receptive_field(kernels, strides) == _receptive_field_by_intervals(kernels, strides)


def test_receptive_field_matches_a_conv_chain():
    # an impulse response: which input pixels change one unit of the last layer
    kernels, strides = [3, 2, 3], [1, 2, 1]
    x = np.zeros((1, 1, 1, 40))
    touched = np.zeros(40, bool)
    for j in range(40):
        x[...] = 0
        x[0, 0, 0, j] = 1.0
        y = x
        for f, s in zip(kernels, strides):
            y = conv2d(y, np.ones((1, 1, 1, f)), stride=s)
        touched[j] = y[0, 0, 0, 2] != 0
    assert touched.sum() == receptive_field(kernels, strides)


@pytest.mark.parametrize("args, exc, pattern", [
    (([3, 3], [1]), ValueError, r"^receptive_field: strides must have one entry per layer \(2\), got 1$"),
    (([],), ValueError, r"^receptive_field: kernel_sizes must list at least one layer, got \[\]$"),
    (([3, 0],), ValueError, r"^receptive_field: kernel_sizes\[1\] must be an int >= 1, got 0$"),
    (([3, 3], [1, 0]), ValueError, r"^receptive_field: strides\[1\] must be an int >= 1, got 0$"),
    (([3, 2.5],), TypeError, r"kernel_sizes\[1\] must be an int >= 1, got float 2\.5"),
    ((3,), TypeError, r"^receptive_field: kernel_sizes must be a list of ints, got int$"),
    ((None,), TypeError, r"^receptive_field: kernel_sizes must be a list of ints, got NoneType$"),
])
def test_receptive_field_errors(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        receptive_field(*args)
