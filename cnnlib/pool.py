"""Max and average pooling on NCHW arrays, and their backward passes.

A window of ``size`` (int or (h, w)) moves by ``stride`` (defaults to ``size``); windows may
overlap (stride < size), and then gradients from every window that contains a pixel add up.
Output sizes floor: H_out = floor((H - Fh) / Sh) + 1 (no padding). Each function loops over the
Fh*Fw offsets inside a window and works on whole strided slices, never over output positions.
"""
import numpy as np

from ._validate import as_pair, check_array, check_same_shape, float_dtype

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward"]


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
    out = _slices(x, 0, 0, stride, out_hw).astype(float_dtype(x))
    for m in range(fh):
        for n in range(fw):
            if m or n:
                out += _slices(x, m, n, stride, out_hw)
    out /= fh * fw
    return out


def max_pool2d_backward(dout, x, size=2, stride=None):
    """Gradient of :func:`max_pool2d` with respect to ``x``.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    x : ndarray, shape (N, C, H, W), the forward input
    size, stride : as in :func:`max_pool2d`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Notes
    -----
    Tie rule (as PyTorch): each window sends its whole gradient to the FIRST position holding
    its maximum in row-major order within the window; tied maxima further on get nothing from
    that window (the gradient is neither split nor duplicated). With overlapping windows a pixel
    receives the sum over all windows that picked it. A NaN counts as the maximum.
    """
    func = "max_pool2d_backward"
    (fh, fw), stride, out_hw = _check_pool_args(func, x, size, stride)
    _check_dout(func, dout, x, out_hw)
    out = max_pool2d(x, (fh, fw), stride)
    has_nan = np.issubdtype(out.dtype, np.floating) and np.isnan(out).any()
    finite = np.isfinite(dout).all()   # then dout * mask is exact (no inf * 0 = nan)
    tiled = stride == (fh, fw)         # windows side by side: each pixel in one window at most
    dx = _pool_grad_buffer(x.shape, float_dtype(dout, x), (fh, fw), out_hw, tiled and finite)
    offsets = [(m, n) for m in range(fh) for n in range(fw)]
    todo = None                        # windows whose maximum is not found yet (None: all)
    for k, (m, n) in enumerate(offsets):
        xs = _slices(x, m, n, stride, out_hw)
        hit = np.equal(xs, out)
        if has_nan:
            np.logical_or(hit, np.isnan(xs), out=hit)
        if todo is not None:
            np.logical_and(hit, todo, out=hit)
        if k + 1 < len(offsets):       # hit is within todo, so "todo and not hit" is todo xor hit
            todo = ~hit if todo is None else np.logical_xor(todo, hit, out=todo)
        view = _slices(dx, m, n, stride, out_hw)
        if finite and stride[0] >= fh and stride[1] >= fw:    # no overlap: write
            np.multiply(dout, hit, out=view)
        else:
            view += dout * hit if finite else np.where(hit, dout, 0)
    return dx


def _pool_grad_buffer(shape, dtype, size, out_hw, written):
    """dx for pooling: zeros, or (when the windows tile it and every window pixel is written)
    an empty array whose pixels outside all windows (bottom rows, right columns) are zeroed."""
    if not written:
        return np.zeros(shape, dtype)
    dx = np.empty(shape, dtype)
    (fh, fw), (Ho, Wo) = size, out_hw
    dx[:, :, Ho * fh:] = 0
    dx[:, :, :Ho * fh, Wo * fw:] = 0
    return dx


def avg_pool2d_backward(dout, x, size=2, stride=None):
    """Gradient of :func:`avg_pool2d` with respect to ``x``.

    Parameters and returns as in :func:`max_pool2d_backward`.

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
