"""Layer objects on top of cnnlib's pure functions, in the spirit of micrograd's nn.py.

A layer keeps what its backward needs from the last forward call. ``forward(x)`` returns the
output; ``backward(dout)`` returns dx and ADDS the gradients of its parameters to each
``Parameter.grad`` (call ``zero_grad()`` before every step, as ``fit`` does).
Images are (N, C, H, W); Conv2D weights (K, C, F, F), biases (K,); Dense weights (n_in, n_out).
A layer made without ``rng`` draws its initial weights from cnnlib's own generator (seeded once,
at import): two such layers get different weights, and a fresh Python session rebuilds the
same network. Pass ``rng=np.random.default_rng(seed)`` to choose.
"""
import numpy as np

from ._validate import (as_generator, as_pair, check_array, check_float_dtype, check_int, check_same_shape,
                        nhwc_hint)
from .activations import relu, relu_backward
from .conv import conv2d, conv2d_backward
from .dense import dense_backward, dense_forward
from .pool import _dx_at, avg_pool2d, avg_pool2d_backward, max_pool2d_backward, max_pool2d_with_indices

__all__ = ["Parameter", "Layer", "Conv2D", "ReLU", "MaxPool2D", "AvgPool2D", "Flatten", "Dense",
           "Sequential"]


class Parameter:
    """A trainable array: ``value`` and its gradient ``grad`` (same shape and dtype).

    ``value`` is an array (or a nested list) of floats, float32 or float64: integer weights
    could not take fractional steps.
    """

    def __init__(self, value, name=""):
        if value is None or isinstance(value, (str, bytes, dict)):
            raise TypeError(f"Parameter: value must be an array of floats, got {type(value).__name__}")
        value = np.asarray(value)
        check_float_dtype(value.dtype, "Parameter", "value's dtype")
        self.value = value
        self.grad = np.zeros_like(self.value)
        self.name = name

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


_RNG = np.random.default_rng(0)     # for layers made without a generator; advances with each


def _generator(rng, where):
    """``rng``, or cnnlib's own generator when it is None."""
    return _RNG if rng is None else as_generator(rng, where)


class Layer:
    """Base class: no parameters; subclasses define forward and backward."""

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, x):
        return self.forward(x)

    def named_parameters(self):
        """List of (name, Parameter) pairs, e.g. [("w", ...), ("b", ...)]."""
        return []

    def parameters(self):
        """List of this layer's Parameters."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        """Set every parameter's gradient to zero."""
        for p in self.parameters():
            p.grad = np.zeros_like(p.value)

    def _cached(self, attr):
        """What forward stored for backward, or a clear error if forward was not called."""
        value = getattr(self, attr, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call forward before backward")
        return value

    def __repr__(self):
        return f"{type(self).__name__}()"


class Conv2D(Layer):
    """Convolution layer: K filters of size F over C input channels, He-initialised.

    Parameters
    ----------
    in_channels, out_channels : int
        C and K.
    kernel_size : int or (Fh, Fw)
    stride, padding : int or (h, w) pair, as in cnnlib.conv2d
    rng : np.random.Generator or None
        For the initial weights (default: cnnlib's own generator, see the module docstring).
    dtype : np.float32 (default) or np.float64

    Notes
    -----
    w ~ Normal(0, 2 / (C Fh Fw)) (He initialisation, suited to ReLU), b = 0.
    Parameters: K (C Fh Fw + 1) = cnnlib.conv_param_count(C, K, F), in the same order.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None,
                 dtype=np.float32):
        self.in_channels = check_int(in_channels, "Conv2D", "in_channels", 1)
        self.out_channels = check_int(out_channels, "Conv2D", "out_channels", 1)
        ks = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
        if len(ks) != 2:
            raise ValueError(f"Conv2D: kernel_size must be an int or a pair (Fh, Fw), got {kernel_size!r}")
        self.kernel_size = tuple(check_int(f, "Conv2D", "kernel_size", 1) for f in ks)
        as_pair(stride, "Conv2D", "stride", minimum=1)
        as_pair(padding, "Conv2D", "padding", minimum=0)
        self.stride, self.padding = stride, padding
        dtype = check_float_dtype(dtype, "Conv2D")
        rng = _generator(rng, "Conv2D")
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.w = Parameter((rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(dtype), "w")
        self.b = Parameter(np.zeros(self.out_channels, dtype), "b")
        self._x = None

    def named_parameters(self):
        return [("w", self.w), ("b", self.b)]

    def forward(self, x):
        """x (N, C, H, W) -> (N, K, H_out, W_out)."""
        check_array(x, "Conv2D.forward", "x", ndim=4, layout="(N, C, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2D.forward: x has C={x.shape[1]} channels but the layer expects "
                             f"C={self.in_channels} (x.shape={x.shape}){nhwc_hint(x.shape, self.in_channels)}")
        self._x = x
        return conv2d(x, self.w.value, self.b.value, stride=self.stride, padding=self.padding)

    def backward(self, dout):
        """dout (N, K, H_out, W_out) -> dx (N, C, H, W); adds to w.grad and b.grad."""
        x = self._cached("_x")
        dx, dw, db = conv2d_backward(dout, x, self.w.value, stride=self.stride, padding=self.padding)
        self.w.grad += dw
        self.b.grad += db
        return dx

    def __repr__(self):
        f = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return (f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={f}, "
                f"stride={self.stride}, padding={self.padding})")


class ReLU(Layer):
    """Element-wise max(x, 0), for inputs of any shape."""

    def __init__(self):
        self._x = None

    def forward(self, x):
        self._x = check_array(x, "ReLU.forward", "x")
        return relu(x)

    def backward(self, dout):
        x = self._cached("_x")
        return relu_backward(check_array(dout, "ReLU.backward", "dout"), x)


class _Pool2D(Layer):
    """Shared code of MaxPool2D and AvgPool2D."""

    _forward = _backward = None

    def __init__(self, size=2, stride=None):
        fh, fw = as_pair(size, type(self).__name__, "size", minimum=1)
        sh, sw = (fh, fw) if stride is None else as_pair(stride, type(self).__name__, "stride", minimum=1)
        self.size, self.stride, self._overlap, self._x = size, stride, sh < fh or sw < fw, None

    def forward(self, x):
        """x (N, C, H, W) -> (N, C, H_out, W_out)."""
        self._x = check_array(x, f"{type(self).__name__}.forward", "x", ndim=4, layout="(N, C, H, W)")
        return type(self)._forward(x, self.size, self.stride)

    def backward(self, dout):
        return type(self)._backward(dout, self._cached("_x"), self.size, self.stride)

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
    """Max pooling over size x size windows moved by stride (default: size); see max_pool2d.

    The forward pass keeps where each maximum was (as PyTorch does), so the backward pass only
    puts each window's gradient there.
    """

    def forward(self, x):
        """x (N, C, H, W) -> (N, C, H_out, W_out)."""
        self._x = check_array(x, "MaxPool2D.forward", "x", ndim=4, layout="(N, C, H, W)")
        out, self._argmax = max_pool2d_with_indices(x, self.size, self.stride)
        return out

    def backward(self, dout):
        x = self._cached("_x")
        if type(dout) is np.ndarray and x.dtype.kind == "f" and (dout.dtype, dout.shape) == (x.dtype, self._argmax.shape):
            return _dx_at(self._argmax, dout, x.shape, x.dtype, self._overlap)   # what the checks lead to
        return max_pool2d_backward(dout, x, self.size, self.stride, argmax=self._argmax)


class AvgPool2D(_Pool2D):
    """Average pooling over size x size windows moved by stride (default: size); see avg_pool2d."""

    _forward, _backward = staticmethod(avg_pool2d), staticmethod(avg_pool2d_backward)


class Flatten(Layer):
    """(N, C, H, W) (or any (N, ...)) -> (N, C*H*W), row-major as numpy's reshape."""

    def __init__(self):
        self._shape = None

    def forward(self, x):
        check_array(x, "Flatten.forward", "x")
        if x.ndim < 2:
            raise ValueError(f"Flatten.forward: x must be an array (N, ...) with at least 2 dimensions, "
                             f"got shape {x.shape}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        shape = self._cached("_shape")
        check_array(dout, "Flatten.backward", "dout")
        check_same_shape(dout, (shape[0], int(np.prod(shape[1:]))), "Flatten.backward", "dout",
                         f"the shape of forward's output for x.shape={shape}")
        return np.reshape(dout, shape)


class Dense(Layer):
    """Fully connected layer out = x @ w + b, He-initialised.

    Parameters
    ----------
    n_in, n_out : int
    rng : np.random.Generator or None
        For the initial weights (default: cnnlib's own generator, see the module docstring).
    dtype : np.float32 (default) or np.float64

    Notes
    -----
    w (n_in, n_out) ~ Normal(0, 2 / n_in), b (n_out,) = 0; n_out (n_in + 1) parameters.
    """

    def __init__(self, n_in, n_out, rng=None, dtype=np.float32):
        self.n_in = check_int(n_in, "Dense", "n_in", 1)
        self.n_out = check_int(n_out, "Dense", "n_out", 1)
        dtype = check_float_dtype(dtype, "Dense")
        rng = _generator(rng, "Dense")
        w = rng.standard_normal((self.n_in, self.n_out)) * np.sqrt(2 / self.n_in)
        self.w = Parameter(w.astype(dtype), "w")
        self.b = Parameter(np.zeros(self.n_out, dtype), "b")
        self._x = None

    def named_parameters(self):
        return [("w", self.w), ("b", self.b)]

    def forward(self, x):
        """x (N, n_in) -> (N, n_out)."""
        check_array(x, "Dense.forward", "x")
        if x.ndim != 2:
            raise ValueError(f"Dense.forward: x must be a 2-D array (N, n_in), got a {x.ndim}-D array "
                             f"of shape {x.shape}; add a Flatten before it?")
        if x.shape[1] != self.n_in:
            raise ValueError(f"Dense.forward: x has D={x.shape[1]} features but the layer expects "
                             f"n_in={self.n_in} (x.shape={x.shape})")
        self._x = x
        return dense_forward(x, self.w.value, self.b.value)

    def backward(self, dout):
        """dout (N, n_out) -> dx (N, n_in); adds to w.grad and b.grad."""
        x = self._cached("_x")
        dx, dw, db = dense_backward(check_array(dout, "Dense.backward", "dout"), x, self.w.value)
        self.w.grad += dw
        self.b.grad += db
        return dx

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


def _in_layer(error, i, layer):
    """``error`` again, its message ending with which layer of a Sequential raised it."""
    if type(error) not in (ValueError, TypeError) or "[in Sequential layer" in str(error):
        return error
    return type(error)(f"{error} [in Sequential layer {i} ({type(layer).__name__})]")


def _numbered(layers, prefix=""):
    """(index, layer) for every layer, and inside nested Sequentials ("2.0" is layer 0 of layer 2)."""
    for i, layer in enumerate(layers):
        yield f"{prefix}{i}", layer
        if isinstance(layer, Sequential):
            yield from _numbered(layer.layers, f"{prefix}{i}.")


def _check_each_layer_once(layers):
    """Raise ValueError when one layer object appears twice: its second forward would replace
    the input its first one kept for backward (wrong gradients), and its parameters would be
    listed twice."""
    seen = {}
    for index, layer in _numbered(layers):
        if id(layer) in seen:
            raise ValueError(f"Sequential: layers {seen[id(layer)]} and {index} are the same "
                             f"{type(layer).__name__} object; a layer keeps its input for backward, "
                             f"so make one per use")
        seen[id(layer)] = index


class Sequential(Layer):
    """Layers applied one after the other; backward runs them in reverse order.

    ``Sequential(a, b, c)`` and ``Sequential([a, b, c])`` build the same model.
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: argument {i} must be a Layer, got {type(layer).__name__}")
        _check_each_layer_once(layers)
        self.layers = list(layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            try:
                x = layer.forward(x)
            except (ValueError, TypeError) as e:
                raise _in_layer(e, i, layer) from None
        return x

    def backward(self, dout):
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            try:
                dout = layer.backward(dout)
            except (ValueError, TypeError) as e:
                raise _in_layer(e, i, layer) from None
        return dout

    def named_parameters(self):
        """(name, Parameter) pairs named "<layer index>.<name>", e.g. "0.w"."""
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def intermediates(self, x):
        """Each layer's output on x, as [("0 Conv2D", out0), ("1 ReLU", out1), ...]."""
        result = []
        for i, layer in enumerate(self.layers):
            x = layer.forward(x)
            result.append((f"{i} {type(layer).__name__}", x))
        return result

    def summary(self, input_shape):
        """A text table of every layer, its output shape (without N) and its parameter count.

        input_shape is the shape of ONE example, e.g. (1, 8, 8) for the digits. The shapes
        come from one forward pass on zeros (which replaces what the layers cached).
        """
        if (not isinstance(input_shape, (tuple, list)) or not input_shape
                or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in input_shape)):
            raise TypeError(f"Sequential.summary: input_shape is one example (C, H, W), without N, "
                            f"e.g. (1, 8, 8); got {input_shape!r}")
        if len(input_shape) > 3:
            raise ValueError(f"Sequential.summary: input_shape is one example (C, H, W), without N, "
                             f"e.g. (1, 8, 8); got {tuple(input_shape)}")
        params = self.parameters()
        dtype = params[0].value.dtype if params else np.float32
        x = np.zeros((1,) + tuple(input_shape), dtype)
        rows = [("Layer", "Output shape", "Params")]
        for layer in self.layers:
            x = layer.forward(x)
            n = sum(p.value.size for p in layer.parameters())
            rows.append((repr(layer), str(x.shape[1:]), f"{n:,}"))
        rows.append(("Total", "", f"{sum(p.value.size for p in params):,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(-1, "-" * len(lines[0]))
        return "\n".join(lines)

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
