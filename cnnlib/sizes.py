"""Sizes and parameter counts of convolutional and dense layers."""
from ._validate import as_pair, check_int

__all__ = ["conv_output_size", "conv_param_count", "dense_param_count", "mlp_param_count",
           "receptive_field"]


def conv_output_size(n, f, padding=0, stride=1):
    """Output side length of a convolution (or pooling) along one axis.

    Parameters
    ----------
    n : int >= 1, input side length
    f : int >= 1, kernel side length
    padding : int >= 0, zeros added on each side
    stride : int >= 1

    Returns
    -------
    int

    Notes
    -----
    n_out = floor((n + 2P - F) / S) + 1. Raises ValueError when F > n + 2P (the kernel does not fit).
    """
    func = "conv_output_size"
    n, f = check_int(n, func, "n", 1), check_int(f, func, "f", 1)
    padding, stride = check_int(padding, func, "padding", 0), check_int(stride, func, "stride", 1)
    if f > n + 2 * padding:
        raise ValueError(f"{func}: kernel f={f} is larger than the padded input "
                         f"n + 2*padding = {n + 2 * padding}")
    return (n + 2 * padding - f) // stride + 1


def conv_param_count(c, k, f):
    """Number of learnable parameters of a conv layer: K filters of size Fh x Fw over C channels.

    The arguments come in, out, size, as in ``Conv2D(in_channels, out_channels, kernel_size)``
    and PyTorch's ``Conv2d``: ``conv_param_count(3, 64, 3)`` is a 3x3 layer of 64 filters on RGB.

    Parameters
    ----------
    c : int >= 1, input channels
    k : int >= 1, number of filters (output channels)
    f : int >= 1 or (fh, fw), kernel size

    Returns
    -------
    int
        K (Fh Fw C + 1): weights plus one bias per filter. For a square kernel, K (F^2 C + 1).
    """
    func = "conv_param_count"
    c, k = check_int(c, func, "c", 1), check_int(k, func, "k", 1)
    fh, fw = as_pair(f, func, "f", minimum=1)
    return k * (fh * fw * c + 1)


def dense_param_count(n_in, n_out):
    """Parameters of a dense layer with ``n_in`` inputs and ``n_out`` outputs: n_in n_out + n_out."""
    n_in = check_int(n_in, "dense_param_count", "n_in", 1)
    n_out = check_int(n_out, "dense_param_count", "n_out", 1)
    return n_in * n_out + n_out


def mlp_param_count(layer_sizes):
    """Parameters of a multilayer perceptron given its layer widths, input first.

    Parameters
    ----------
    layer_sizes : sequence of int >= 1, length >= 2, e.g. [784, 128, 10]

    Returns
    -------
    int
        sum over consecutive pairs of dense_param_count(a, b); [784, 128, 10] -> 101,770.
    """
    func = "mlp_param_count"
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(f"{func}: layer_sizes must be a list of ints such as [784, 128, 10], "
                        f"got {type(layer_sizes).__name__}")
    if len(layer_sizes) < 2:
        raise ValueError(f"{func}: layer_sizes needs at least 2 sizes (input and output), "
                         f"got {list(layer_sizes)}")
    sizes = [check_int(s, func, f"layer_sizes[{i}]", 1) for i, s in enumerate(layer_sizes)]
    return sum(dense_param_count(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


def receptive_field(kernel_sizes, strides=None):
    """Receptive field, in input pixels along one axis, of one unit of the last layer.

    Parameters
    ----------
    kernel_sizes : sequence of int >= 1
        Kernel size F_l of each layer (conv or pooling), first layer first.
    strides : sequence of int >= 1, optional
        Stride S_l of each layer, same length; default all 1.

    Returns
    -------
    int

    Notes
    -----
    r = 1 + sum_l (F_l - 1) prod_{j < l} S_j. Padding does not change the size.
    Example: two 3x3 convs give 5; conv 3, pool 2 (stride 2), conv 3 give 1 + 2 + 1 + 2*2 = 8.
    """
    func = "receptive_field"
    for name, seq in (("kernel_sizes", kernel_sizes), ("strides", [] if strides is None else strides)):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise TypeError(f"{func}: {name} must be a list of ints, got {type(seq).__name__}")
    if len(kernel_sizes) == 0:
        raise ValueError(f"{func}: kernel_sizes must list at least one layer, got []")
    if strides is None:
        strides = [1] * len(kernel_sizes)
    if len(strides) != len(kernel_sizes):
        raise ValueError(f"{func}: strides must have one entry per layer ({len(kernel_sizes)}), "
                         f"got {len(strides)}")
    r, jump = 1, 1
    for i, (f, s) in enumerate(zip(kernel_sizes, strides)):
        f = check_int(f, func, f"kernel_sizes[{i}]", 1)
        s = check_int(s, func, f"strides[{i}]", 1)
        r += (f - 1) * jump
        jump *= s
    return r
