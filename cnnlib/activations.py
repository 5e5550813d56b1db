"""Activation functions and their backward passes (any array shape)."""
import numbers

import numpy as np

from ._validate import as_float, check_finite


def relu(x):
    """Rectified linear unit max(x, 0), element-wise.

    Parameters
    ----------
    x : ndarray, any shape

    Returns
    -------
    out : ndarray, same shape as x (a 0-d array for a 0-d x); float dtype of x
        (float32 stays float32; integers and bools give float64)
    """
    x = as_float(x, "relu", "x")
    out = np.maximum(x, 0, dtype=x.dtype, order="C")
    return out if x.ndim else np.asarray(out)


def relu_backward(dout, x):
    """Gradient of relu: dout where x > 0, else 0.

    Parameters
    ----------
    dout : ndarray, shaped like x
        Upstream gradient dL/d relu(x).
    x : ndarray
        The input relu was applied to.

    Returns
    -------
    dx : ndarray, shaped like x

    Notes
    -----
    The derivative at exactly x = 0 is taken as 0, as in PyTorch.
    """
    dout = as_float(dout, "relu_backward", "dout")
    x = as_float(x, "relu_backward", "x")
    if dout.shape != x.shape:
        raise ValueError(f"relu_backward: dout has shape {dout.shape} but x has shape {x.shape}; they must match")
    return np.ascontiguousarray(np.where(x > 0, dout, np.zeros((), dtype=dout.dtype)))


def softmax(z, axis=-1):
    """Softmax along `axis`, computed stably by subtracting the maximum first.

    Parameters
    ----------
    z : ndarray, e.g. (N, M) logits; finite (ValueError for NaN or inf, as in cross_entropy)
    axis : int
        The axis that sums to one.

    Returns
    -------
    p : ndarray, same shape as z (C-contiguous), positive, summing to 1 along `axis`

    Notes
    -----
    p_i = exp(z_i - max z) / sum_j exp(z_j - max z); the shift changes nothing
    mathematically but keeps exp from overflowing for large logits.
    """
    z = as_float(z, "softmax", "z")
    if z.ndim == 0:
        raise ValueError("softmax: z must have at least one dimension, got a scalar")
    if not isinstance(axis, numbers.Integral) or isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"softmax: axis must be an int from {-z.ndim} to {z.ndim - 1} for z with {z.ndim} "
                        f"dimension(s), got {type(axis).__name__} {axis!r}")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"softmax: axis={axis} is out of range for z with {z.ndim} dimension(s)")
    if z.shape[axis] == 0:
        raise ValueError(f"softmax: z has no values along axis {axis} to normalise (shape {z.shape})")
    check_finite(z, "softmax", "z")             # as cross_entropy: inf - inf would give NaN
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return np.ascontiguousarray(e)
