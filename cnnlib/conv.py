"""2-D convolution (cross-correlation) on NCHW arrays, the way the book explains it.

Shapes: x (N, C, H, W), w (K, C, Fh, Fw), b (K,), output (N, K, Ho, Wo) with
Ho = floor((H + 2 Ph - Fh) / Sh) + 1 and Wo likewise. ``stride`` and ``padding`` are an int
or an (h, w) pair. Float32 inputs compute in float32, float64 in float64, integers in float64.
Every function returns a new C-contiguous array.

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

from ._validate import as_pair, check_array, check_conv, check_int, check_same_shape, float_dtype
from ._validate import window_geometry
from .conv_plans import forward, weight_grad
from .window_matrix import Geometry, im2col as _phase_im2col, scratch

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
    (sh, sw), (ph, pw), _ = check_conv("conv2d_backward_naive", x, w, None, stride, padding, dout)
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
    dx : ndarray, shape (N, C, H, W), dtype of cols
        Each pixel gets the sum over every window that contains it (0 if none does).

    Notes
    -----
    One loop over the Fh*Fw kernel offsets (m, l): the values at offset (m, l) of all windows
    land on a strided grid of the padded input, ``dx_pad[:, :, m::Sh, l::Sw]``, in one ``+=``.
    """
    func = "col2im"
    N, C, H, W = x_shape = tuple(x_shape)
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
    check_conv("conv2d_backward_im2col", x, w, None, stride, padding, dout)
    dtype = float_dtype(dout, x, w)
    N, (K, C, Fh, Fw), (Ho, Wo) = x.shape[0], w.shape, dout.shape[2:]
    cols = im2col(x.astype(dtype, copy=False), Fh, Fw, stride, padding)   # (N, C*Fh*Fw, Ho*Wo)
    D = dout.reshape(N, K, Ho * Wo).astype(dtype, copy=False)
    Wm = w.reshape(K, C * Fh * Fw).astype(dtype, copy=False)
    dw = (D @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)      # sum_n D_n X_n^T
    dx = col2im(Wm.T @ D, x.shape, Fh, Fw, stride, padding)               # W^T D_n, back to pixels
    return dx, dw, D.sum(axis=(0, 2))


def conv2d(x, w, b=None, stride=1, padding=0):
    """2-D cross-correlation of a batch of images with K filters (fast path: one matrix product).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (K, C, Fh, Fw)
    b : ndarray, shape (K,), optional
    stride : int or (sh, sw), each >= 1
    padding : int or (ph, pw), each >= 0

    Returns
    -------
    ndarray, shape (N, K, H_out, W_out)
        Fresh memory, never shared with a later call. It is a (cropped) transposed view of the
        product's result, so it is not C-contiguous (call ``np.ascontiguousarray`` if that
        matters).

    Notes
    -----
    y[n, k, i, j] = sum_c sum_m sum_l x_pad[n, c, Sh i + m, Sw j + l] w[k, c, m, l] + b[k],
    H_out = floor((H + 2 Ph - Fh) / Sh) + 1. The windows are copied into a matrix X (one window
    per row or per column) with an extra row/column of ones, and ONE product with the filters
    [w | b] gives every output; see ``cnnlib.conv_plans``.
    """
    stride, padding, out_hw = check_conv("conv2d", x, w, b, stride, padding)
    g = Geometry(x.shape, w.shape[2:], stride, padding, out_hw)
    return forward(x, w, b, g, float_dtype(x, w, b))



def conv2d_backward(dout, x, w, stride=1, padding=0):
    """Gradients of ``conv2d(x, w, b, stride, padding)`` given the upstream gradient ``dout``.

    Parameters
    ----------
    dout : ndarray, shape (N, K, H_out, W_out)
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (K, C, Fh, Fw)
    stride, padding : as in :func:`conv2d`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (K, C, Fh, Fw)
    db : ndarray, shape (K,)

    Notes
    -----
    With X the window matrix of :func:`conv2d` and D = dout as a (K, N H_out W_out) matrix,
    [dw | db] = D X: one product per piece of X, summed (``cnnlib.conv_plans.weight_grad``),
    or, for the columns layout, one product over the whole batch.
    With stride 1, dx is itself a convolution: dout zero-padded by F - 1 - P, correlated with
    the filters rotated by 180 degrees and with C and K swapped, so for large enough layers the
    fast forward path computes it (then dx may be a transposed view, like conv2d's output).
    Otherwise dX = w^T D is scattered back ("col2im"): for each kernel offset (m, l), the rows
    of dX for (m, l) are added onto the input positions they were read from.
    """
    stride, padding, (Ho, Wo) = check_conv("conv2d_backward", x, w, None, stride, padding, dout)
    g = Geometry(x.shape, w.shape[2:], stride, padding, (Ho, Wo))
    dtype = float_dtype(dout, x, w)
    dout = np.ascontiguousarray(dout, dtype)
    grads = weight_grad(x, dout, g, dtype)
    if grads is None:
        cols, dmat = _phase_im2col(x, g, dtype), _dout_matrix(dout, g)
        dwb = cols @ dmat.T                 # (C*Fh*Fw + 1, K); cropped-away positions have dout 0
        grads = dwb[:-1].T.reshape(w.shape), dwb[-1].copy()
    return (_input_grad(dout, w, g, dtype),) + tuple(grads)


def _dout_matrix(dout, g):
    """dout (N, K, Ho, Wo) on the phase grid: a scratch (K, N*Hq*Wq) matrix, zero off the output."""
    dmat = scratch(("dout", g.key), (dout.shape[1], g.L), dout.dtype, init=lambda a: a.fill(0))
    np.copyto(dmat.reshape(-1, g.N, g.Hq, g.Wq)[:, :, :g.Ho, :g.Wo], dout.transpose(1, 0, 2, 3))
    return dmat


TRANSPOSED_MIN_FLOPS = 10**8   # dx by a convolution only from this much work on ...
TRANSPOSED_MIN_C = 8            # ... and this many input channels (measured, see _input_grad)


def _input_grad(dout, w, g, dtype):
    """dx (N, C, H, W): a convolution of dout (stride 1, P <= F - 1, big enough), else col2im.

    Measured (float32, medians): W2 2.9 ms as a convolution against 4.3 ms by col2im, but
    N=32 C=16 16x16 K=32 1.34 against 1.11 ms and W1 (C=1) 0.9 against 0.5 ms.
    """
    flops = 2 * dout.size * g.C * g.fh * g.fw
    if ((g.sh, g.sw) == (1, 1) and g.ph < g.fh and g.pw < g.fw
            and g.C >= TRANSPOSED_MIN_C and flops >= TRANSPOSED_MIN_FLOPS):
        gt = Geometry(dout.shape, (g.fh, g.fw), (1, 1), (g.fh - 1 - g.ph, g.fw - 1 - g.pw), (g.H, g.W))
        return forward(dout, w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1], None, gt, dtype)
    dcols = scratch("dcols", (g.C * g.fh * g.fw, g.L), dtype)
    np.matmul(w.reshape(w.shape[0], -1).T.astype(dtype, copy=False), _dout_matrix(dout, g), out=dcols)
    return _col2im(dcols, g)


def _col2im(dcols, g):
    """Scatter-add a (C*Fh*Fw, N*Hq*Wq) window gradient back onto a fresh (N, C, H, W) array."""
    dxq = scratch("dphases", (g.sh, g.sw, g.C, g.L + g.tail), dcols.dtype)
    dxq.fill(0)
    dcols4 = dcols.reshape(g.C, g.fh, g.fw, g.L)
    for m, l, a, b, off in g.offsets():
        dxq[a, b, :, off:off + g.L] += dcols4[:, m, l]
    dx = np.zeros((g.N, g.C, g.H, g.W), dcols.dtype)   # pixels no window reads keep 0
    for xs, src in g.phase_views(dxq):
        dx[xs] = src.transpose(1, 0, 2, 3)
    return dx
