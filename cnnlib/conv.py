"""2-D convolution (cross-correlation) on NCHW arrays, the way the book explains it.

Shapes: x (N, C, H, W), w (K, C, Fh, Fw), b (K,), output (N, K, Ho, Wo) with
Ho = floor((H + 2 Ph - Fh) / Sh) + 1 and Wo likewise. ``stride`` and ``padding`` are an int
or an (h, w) pair. The result's dtype is NumPy's result type of the inputs (float32 stays
float32, float16 stays float16, float32 with float64 gives float64); integer-only inputs
compute in float64. Every function returns a new C-contiguous array.

Read in this order:

* :func:`conv2d_naive`: loops over images, filters and output positions, like the formula.
* :func:`im2col` and :func:`conv2d_im2col`: every window becomes a column of a matrix, and
  the convolution becomes ONE matrix product of the filters with those columns.
* :func:`conv2d_backward_naive`: the gradients with loops; :func:`col2im` and
  :func:`conv2d_backward_im2col`: the same with matrices.
* :func:`conv2d` and :func:`conv2d_backward` give the same results, computed by a tuned engine
  that you never need to read; the layers call them.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validate import as_pair, check_array, check_conv, check_conv_backward, check_int, check_same_shape
from ._validate import check_shape, float_dtype, window_geometry
from . import engine

__all__ = ["zero_pad", "conv2d_naive", "im2col", "conv2d_im2col", "conv2d_backward_naive",
           "col2im", "conv2d_backward_im2col", "conv2d", "conv2d_backward"]


def zero_pad(x, padding):
    """Pad the two spatial axes of ``x`` with zeros.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    padding : int or (ph, pw)
        Zeros added above and below (ph) and left and right (pw).

    Returns
    -------
    ndarray, shape (N, C, H + 2 ph, W + 2 pw)
        A new array with the dtype of ``x``.
    """
    check_array(x, "zero_pad", "x", ndim=4, layout="(N, C, H, W)")
    ph, pw = as_pair(padding, "zero_pad", "padding", minimum=0)
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    out[:, :, ph:ph + H, pw:pw + W] = x
    return out


def conv2d_naive(x, w, b=None, stride=1, padding=0):
    """2-D cross-correlation with plain loops, written like the formula (slow; for teaching).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (K, C, Fh, Fw)
    b : ndarray, shape (K,), optional
    stride : int or (sh, sw), each >= 1
    padding : int or (ph, pw), each >= 0

    Returns
    -------
    y : ndarray, shape (N, K, Ho, Wo)

    Notes
    -----
    y[n, k, i, j] = sum_c sum_m sum_l x_pad[n, c, Sh i + m, Sw j + l] w[k, c, m, l] + b[k].
    The loops run over n, k, i and j; the triple sum over (c, m, l) is one ``np.sum``.
    """
    (sh, sw), padding, (Ho, Wo) = check_conv("conv2d_naive", x, w, b, stride, padding)
    dtype = float_dtype(x, w, b)
    xp = zero_pad(x, padding).astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    N, K, (Fh, Fw) = x.shape[0], w.shape[0], w.shape[2:]
    y = np.zeros((N, K, Ho, Wo), dtype)
    for n in range(N):
        for k in range(K):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, sh * i:sh * i + Fh, sw * j:sw * j + Fw]   # (C, Fh, Fw)
                    y[n, k, i, j] = np.sum(window * w[k])
            if b is not None:
                y[n, k] += b[k]
    return y


def _window_args(func, x_shape, Fh, Fw, stride, padding):
    """Validate the window size of im2col / col2im; return (stride, padding, (Ho, Wo))."""
    Fh, Fw = check_int(Fh, func, "Fh", 1), check_int(Fw, func, "Fw", 1)
    return window_geometry(func, x_shape, (Fh, Fw), stride, padding)


def im2col(x, Fh, Fw, stride=1, padding=0):
    """Every Fh x Fw window of every image, as the columns of one matrix per image.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    Fh, Fw : int
        Height and width of the windows (the kernel size).
    stride : int or (sh, sw)
    padding : int or (ph, pw)

    Returns
    -------
    cols : ndarray, shape (N, C*Fh*Fw, Ho*Wo), dtype of x
        Column ``i*Wo + j`` of ``cols[n]`` is the window under output position (i, j) of
        image n, flattened in the order (c, m, l), the order of ``w[k].ravel()``.

    Notes
    -----
    ``sliding_window_view`` gives every window as a view (no copy); a stride keeps every
    S-th; the final reshape is the one copy.
    """
    check_array(x, "im2col", "x", ndim=4, layout="(N, C, H, W)")
    (sh, sw), padding, (Ho, Wo) = _window_args("im2col", x.shape, Fh, Fw, stride, padding)
    N, C = x.shape[:2]
    xp = zero_pad(x, padding)                                       # (N, C, Hp, Wp)
    windows = sliding_window_view(xp, (Fh, Fw), axis=(2, 3))        # (N, C, Hp-Fh+1, Wp-Fw+1, Fh, Fw)
    windows = windows[:, :, ::sh, ::sw]                             # (N, C, Ho, Wo, Fh, Fw)
    windows = windows.transpose(0, 1, 4, 5, 2, 3)                   # (N, C, Fh, Fw, Ho, Wo)
    return windows.reshape(N, C * Fh * Fw, Ho * Wo)                 # copies: one column per window


def conv2d_im2col(x, w, b=None, stride=1, padding=0):
    """2-D cross-correlation as one matrix product: filters (K, C*Fh*Fw) times im2col's columns.

    Parameters and returns as in :func:`conv2d_naive`.

    Notes
    -----
    Row k of ``w.reshape(K, -1)`` is filter k, column p of ``im2col(x)[n]`` is window p of
    image n, so their product is every y[n, k, i, j] at once: (K, C*Fh*Fw) @ (N, C*Fh*Fw, Ho*Wo)
    -> (N, K, Ho*Wo), one product per image (``@`` broadcasts over n).
    """
    _, _, (Ho, Wo) = check_conv("conv2d_im2col", x, w, b, stride, padding)
    dtype = float_dtype(x, w, b)
    N, (K, C, Fh, Fw) = x.shape[0], w.shape
    cols = im2col(x.astype(dtype, copy=False), Fh, Fw, stride, padding)   # (N, C*Fh*Fw, Ho*Wo)
    y = w.reshape(K, C * Fh * Fw).astype(dtype, copy=False) @ cols       # (N, K, Ho*Wo)
    if b is not None:
        y += b.reshape(K, 1)
    return y.reshape(N, K, Ho, Wo)


def conv2d_backward_naive(dout, x, w, stride=1, padding=0):
    """Gradients of ``conv2d(x, w, b, stride, padding)`` with plain loops (slow; for teaching).

    Parameters
    ----------
    dout : ndarray, shape (N, K, Ho, Wo)
        Upstream gradient dL/dy.
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (K, C, Fh, Fw)
    stride, padding : as in :func:`conv2d_naive`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (K, C, Fh, Fw)
    db : ndarray, shape (K,)

    Notes
    -----
    Output y[n, k, i, j] read the window x_pad[n, :, Sh i : Sh i + Fh, Sw j : Sw j + Fw] and
    filter w[k], so it sends dout[n, k, i, j] * w[k] back to that window (windows that overlap
    add up), dout[n, k, i, j] * window to dw[k], and dout[n, k, i, j] to db[k].
    """
    (sh, sw), (ph, pw), _ = check_conv_backward("conv2d_backward_naive", dout, x, w, stride, padding)
    dtype = float_dtype(dout, x, w)
    xp = zero_pad(x, (ph, pw)).astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    N, K, Ho, Wo = dout.shape
    Fh, Fw = w.shape[2:]
    dxp, dw = np.zeros(xp.shape, dtype), np.zeros(w.shape, dtype)
    for n in range(N):
        for k in range(K):
            for i in range(Ho):
                for j in range(Wo):
                    rows, cols = slice(sh * i, sh * i + Fh), slice(sw * j, sw * j + Fw)
                    dxp[n, :, rows, cols] += dout[n, k, i, j] * w[k]
                    dw[k] += dout[n, k, i, j] * xp[n, :, rows, cols]
    db = dout.sum(axis=(0, 2, 3)).astype(dtype)
    H, W = x.shape[2:]
    return dxp[:, :, ph:ph + H, pw:pw + W].copy(), dw, db


def col2im(cols, x_shape, Fh, Fw, stride=1, padding=0):
    """The reverse of :func:`im2col`: add every window's values back onto the input positions.

    Parameters
    ----------
    cols : ndarray, shape (N, C*Fh*Fw, Ho*Wo)
        One column per window, as im2col returns (in the backward pass: the window gradients).
    x_shape : tuple (N, C, H, W)
        The shape of the input im2col read.
    Fh, Fw, stride, padding : as in :func:`im2col`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), float dtype of cols (integer cols give float64)
        Each pixel gets the sum over every window that contains it (0 if none does).

    Notes
    -----
    One loop over the Fh*Fw kernel offsets (m, l): the values at offset (m, l) of all windows
    land on a strided grid of the padded input, ``dx_pad[:, :, m::Sh, l::Sw]``, in one ``+=``.
    """
    func = "col2im"
    N, C, H, W = x_shape = check_shape(x_shape, func, "x_shape", "(N, C, H, W)")
    (sh, sw), (ph, pw), (Ho, Wo) = _window_args(func, x_shape, Fh, Fw, stride, padding)
    check_array(cols, func, "cols", ndim=3, layout="(N, C*Fh*Fw, Ho*Wo)")
    check_same_shape(cols, (N, C * Fh * Fw, Ho * Wo), func, "cols", f"im2col's output for x_shape={x_shape}")
    cols = cols.reshape(N, C, Fh, Fw, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), float_dtype(cols))
    for m in range(Fh):
        for l in range(Fw):
            dxp[:, :, m:m + sh * Ho:sh, l:l + sw * Wo:sw] += cols[:, :, m, l]
    return dxp[:, :, ph:ph + H, pw:pw + W].copy()


def conv2d_backward_im2col(dout, x, w, stride=1, padding=0):
    """Gradients of a convolution with matrix products: im2col, two products, col2im.

    Parameters and returns as in :func:`conv2d_backward_naive`.

    Notes
    -----
    With X_n = im2col(x)[n] (C*Fh*Fw, Ho*Wo), W = w.reshape(K, -1) and D_n = dout[n] as a
    (K, Ho*Wo) matrix, the forward pass was Y_n = W X_n, so
    dW = sum_n D_n X_n^T,  dX_n = W^T D_n (then col2im adds the windows back),  db = sum of D.
    """
    check_conv_backward("conv2d_backward_im2col", dout, x, w, stride, padding)
    dtype = float_dtype(dout, x, w)
    N, (K, C, Fh, Fw), (Ho, Wo) = x.shape[0], w.shape, dout.shape[2:]
    cols = im2col(x.astype(dtype, copy=False), Fh, Fw, stride, padding)   # (N, C*Fh*Fw, Ho*Wo)
    D = dout.reshape(N, K, Ho * Wo).astype(dtype, copy=False)
    Wm = w.reshape(K, C * Fh * Fw).astype(dtype, copy=False)
    dw = (D @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)      # sum_n D_n X_n^T
    dx = col2im(Wm.T @ D, x.shape, Fh, Fw, stride, padding)               # W^T D_n, back to pixels
    return dx, dw, D.sum(axis=(0, 2))


def conv2d(x, w, b=None, stride=1, padding=0):
    """2-D cross-correlation, fast: the result of :func:`conv2d_im2col`, from ``cnnlib.engine``.

    Parameters and returns as in :func:`conv2d_naive`. This is the function the layers call;
    the engine behind it is tuned for speed (on the first call for a geometry it times its
    plans against :func:`conv2d_im2col` and keeps the faster) and never needed to understand
    the result. That first call on a new geometry (shapes, stride, padding, dtype) can take a
    second or more; later calls take milliseconds. For timing experiments, set the environment
    variable ``CNNLIB_CONV_PATH`` to ``plans`` or ``textbook`` (before importing cnnlib) to force
    one path and skip the measurement.
    """
    stride, padding, out_hw = check_conv("conv2d", x, w, b, stride, padding)
    return engine.conv2d(x, w, b, stride, padding, out_hw, float_dtype(x, w, b), conv2d_im2col)


def conv2d_backward(dout, x, w, stride=1, padding=0):
    """Gradients of a convolution, fast: the results of :func:`conv2d_backward_naive`.

    Parameters and returns as in :func:`conv2d_backward_naive`; computed by ``cnnlib.engine``
    (or by :func:`conv2d_backward_im2col`, where that measured faster, as in :func:`conv2d`).
    """
    stride, padding, _ = check_conv_backward("conv2d_backward", dout, x, w, stride, padding)
    return engine.conv2d_backward(dout, x, w, stride, padding, float_dtype(dout, x, w),
                                  conv2d_backward_im2col)
