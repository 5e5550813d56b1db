"""Max and average pooling on NCHW arrays, and their backward passes.

A window of ``size`` (int or (h, w)) moves by ``stride`` (defaults to ``size``); windows may
overlap (stride < size), and then gradients from every window that contains a pixel add up.
Output sizes floor: H_out = floor((H - Fh) / Sh) + 1 (no padding). Each function loops over the
Fh*Fw offsets inside a window and works on whole strided slices, never over output positions.
"""
import numpy as np

from ._validate import as_pair, check_array, check_same_shape, float_dtype
from . import engine

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "max_pool2d_backward",
           "avg_pool2d_backward"]


def _check_pool_args(func, x, size, stride):
    """Validate pooling arguments; return ((fh, fw), (sh, sw), (Ho, Wo))."""
    check_array(x, func, "x", ndim=4, layout="(N, C, H, W)")
    fh, fw = as_pair(size, func, "size", minimum=1)
    sh, sw = (fh, fw) if stride is None else as_pair(stride, func, "stride", minimum=1)
    H, W = x.shape[2:]
    if fh > H or fw > W:
        raise ValueError(f"{func}: pooling window {fh}x{fw} is larger than the input "
                         f"{H}x{W} (x.shape={x.shape})")
    return (fh, fw), (sh, sw), ((H - fh) // sh + 1, (W - fw) // sw + 1)


def _check_dout(func, dout, x, out_hw):
    check_array(dout, func, "dout", ndim=4, layout="(N, C, H_out, W_out)")
    check_same_shape(dout, x.shape[:2] + tuple(out_hw), func, "dout", "the shape of the pooled output")


def _slices(x, m, n, stride, out_hw):
    """The strided slice of x holding, for every window, its element at offset (m, n)."""
    (sh, sw), (Ho, Wo) = stride, out_hw
    return x[:, :, m:m + sh * (Ho - 1) + 1:sh, n:n + sw * (Wo - 1) + 1:sw]


def max_pool2d(x, size=2, stride=None):
    """Maximum over each window.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    size : int or (fh, fw)
    stride : int or (sh, sw), optional; defaults to ``size``

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out), dtype of x
        H_out = floor((H - fh) / sh) + 1, W_out likewise. A NaN in a window gives NaN.
    """
    (fh, fw), stride, out_hw = _check_pool_args("max_pool2d", x, size, stride)
    out = _slices(x, 0, 0, stride, out_hw).copy()
    for m in range(fh):
        for n in range(fw):
            if m or n:
                np.maximum(out, _slices(x, m, n, stride, out_hw), out=out)
    return out


def avg_pool2d(x, size=2, stride=None):
    """Mean over each window.

    Parameters and shapes as in :func:`max_pool2d`. Float32 stays float32; integers give float64.
    """
    (fh, fw), stride, out_hw = _check_pool_args("avg_pool2d", x, size, stride)
    out = _slices(x, 0, 0, stride, out_hw).astype(float_dtype(x), order="C")   # C even for F-ordered x
    for m in range(fh):
        for n in range(fw):
            if m or n:
                out += _slices(x, m, n, stride, out_hw)
    out /= fh * fw
    return out


def max_pool2d_with_indices(x, size=2, stride=None):
    """:func:`max_pool2d`, and where in ``x`` each window's maximum was found.

    Parameters and ``out`` as in :func:`max_pool2d`.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
    argmax : ndarray of intp, shape (N, C, H_out, W_out)
        Flat indices into ``x``: ``x.ravel()[argmax] == out``. Each is the FIRST position holding
        the window's maximum in row-major order within the window (a NaN counts as the maximum).

    Notes
    -----
    One pass per offset (m, l) in row-major order marks the windows whose element there equals
    their maximum and that have no earlier mark; the offset's number t = m fw + l is recorded
    for them (one byte per window), and t becomes the flat index m W + l plus the window's
    corner. The :class:`MaxPool2D` layer keeps ``argmax`` from its forward pass, so that its
    backward pass is a single scatter.
    """
    (fh, fw), stride, out_hw = _check_pool_args("max_pool2d_with_indices", x, size, stride)
    out = max_pool2d(x, (fh, fw), stride)
    (N, C, H, W), (sh, sw), (Ho, Wo) = x.shape, stride, out_hw
    has_nan = np.issubdtype(out.dtype, np.floating) and np.isnan(out).any()
    offsets = [(m, n) for m in range(fh) for n in range(fw)]
    first = np.zeros(out.shape, np.uint8 if len(offsets) <= 256 else np.intp)   # offset number t
    found = np.zeros(out.shape, bool)
    for t, (m, n) in enumerate(offsets[:-1]):
        xs = _slices(x, m, n, stride, out_hw)
        hit = np.equal(xs, out)
        if has_nan:
            hit |= np.isnan(xs)
        hit &= ~found                                   # an earlier offset holds it already
        found |= hit
        if t:
            first += hit.view(np.uint8) * first.dtype.type(t)
    first += (~found).view(np.uint8) * first.dtype.type(len(offsets) - 1)   # the last offset
    flat = np.array([m * W + n for m, n in offsets], np.intp)
    argmax = np.take(flat, first)
    argmax += (np.arange(N * C) * (H * W)).reshape(N, C, 1, 1)      # image and channel
    argmax += (np.arange(Ho) * (sh * W)).reshape(Ho, 1) + np.arange(Wo) * sw   # window corner
    return out, argmax


def max_pool2d_backward(dout, x, size=2, stride=None, argmax=None):
    """Gradient of :func:`max_pool2d` with respect to ``x``.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    x : ndarray, shape (N, C, H, W), the forward input
    size, stride : as in :func:`max_pool2d`
    argmax : ndarray of intp, shape (N, C, H_out, W_out), optional
        The indices :func:`max_pool2d_with_indices` returned in the forward pass; without
        them the maxima are found again.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Notes
    -----
    Tie rule (as PyTorch): each window sends its whole gradient to the FIRST position holding
    its maximum in row-major order within the window; tied maxima further on get nothing from
    that window (the gradient is neither split nor duplicated). With overlapping windows a pixel
    receives the sum over all windows that picked it. A NaN counts as the maximum. Pixels that
    no window picked get 0.
    """
    func = "max_pool2d_backward"
    (fh, fw), stride, out_hw = _check_pool_args(func, x, size, stride)
    _check_dout(func, dout, x, out_hw)
    if argmax is None:
        argmax = max_pool2d_with_indices(x, (fh, fw), stride)[1]
    else:
        _check_argmax(func, argmax, dout, x.shape)
    return _dx_at(argmax, dout, x.shape, float_dtype(dout, x), overlap=stride[0] < fh or stride[1] < fw)


def _check_argmax(func, argmax, dout, shape):
    """argmax: integer flat indices into x, the one of window (n, c, i, j) inside the plane x[n, c]."""
    check_array(argmax, func, "argmax", ndim=4, layout="(N, C, H_out, W_out)")
    check_same_shape(argmax, dout.shape, func, "argmax", "the shape of the pooled output")
    if argmax.dtype.kind not in "iu":
        raise TypeError(f"{func}: argmax must hold integer indices (as max_pool2d_with_indices returns), "
                        f"got dtype {argmax.dtype}")
    N, C, H, W = shape
    plane = np.arange(N * C).reshape(N, C, 1, 1) * (H * W)       # flat index of x[n, c, 0, 0]
    if np.any((argmax < plane) | (argmax >= plane + H * W)):
        raise ValueError(f"{func}: argmax must hold flat indices into x (x.ravel()[argmax]), each "
                         f"argmax[n, c] in [(n*C + c)*H*W, (n*C + c + 1)*H*W), got values from "
                         f"{argmax.min()} to {argmax.max()} for x.shape={shape}")


def _dx_at(argmax, dout, shape, dtype, overlap):
    """dx (N, C, H, W) = ``shape``: each window's dout at its argmax, added up where windows overlap."""
    if not overlap:                                   # each pixel is picked once at most
        return engine.scatter_images(dout, argmax, shape, dtype)   # zeros, then dx.flat[argmax] = dout
    dx = np.bincount(argmax.ravel(), weights=dout.ravel(), minlength=int(np.prod(shape)))   # sums
    return dx.astype(dtype).reshape(shape)


def avg_pool2d_backward(dout, x, size=2, stride=None):
    """Gradient of :func:`avg_pool2d` with respect to ``x``.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    x : ndarray, shape (N, C, H, W), the forward input (only its shape is used)
    size, stride : as in :func:`avg_pool2d`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Notes
    -----
    Every pixel of a window receives dout / (fh * fw) from it; overlapping windows add up.
    """
    func = "avg_pool2d_backward"
    (fh, fw), stride, out_hw = _check_pool_args(func, x, size, stride)
    _check_dout(func, dout, x, out_hw)
    dx = np.zeros(x.shape, float_dtype(dout, x))
    share = (dout / (fh * fw)).astype(dx.dtype, copy=False)
    for m in range(fh):
        for n in range(fw):
            _slices(dx, m, n, stride, out_hw)[...] += share
    return dx
