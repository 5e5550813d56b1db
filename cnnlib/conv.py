"""2-D convolution (cross-correlation) on NCHW arrays: naive loops, a fast path, and its backward.

Shapes: x (N, C, H, W), w (K, C, Fh, Fw), b (K,), output (N, K, H_out, W_out) with
H_out = floor((H + 2 Ph - Fh) / Sh) + 1 and W_out likewise. ``stride`` and ``padding`` are an int
or an (h, w) pair. Float32 inputs compute in float32, float64 in float64, integers in float64.

The fast forward pass copies the sliding windows into a matrix and multiplies it by the filters
(see ``cnnlib.conv_plans`` for the three layouts, the pieces and the threads). The backward pass
gets [dw | db] the same way, from one product of dout with the window matrix, and dx either as
a convolution of dout (stride 1) or by adding the window gradients back onto the input
positions they came from ("col2im"). No Python loop runs over output positions: the loops are
over parts, chunks, stride phases and kernel offsets. Scratch buffers are reused between calls
(per thread) to avoid page faults; every array returned is freshly allocated and never aliases
a scratch buffer.
"""
import numpy as np

from ._validate import as_pair, check_array, check_same_shape, float_dtype
from .conv_plans import forward, weight_grad
from .window_matrix import Geometry, im2col, scratch

__all__ = ["zero_pad", "conv2d", "conv2d_naive", "conv2d_backward"]


def _check_conv_args(func, x, w, b, stride, padding):
    """Validate conv arguments; return (stride, padding, (Ho, Wo)) as pairs/ints."""
    check_array(x, func, "x", ndim=4, layout="(N, C, H, W)")
    check_array(w, func, "w", ndim=4, layout="(K, C, Fh, Fw)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{func}: x has C={x.shape[1]} channels but w expects "
                         f"C={w.shape[1]} (w.shape={w.shape})")
    if b is not None:
        check_array(b, func, "b", ndim=1, layout="(K,)")
        check_same_shape(b, (w.shape[0],), func, "b", f"one bias per filter, w.shape={w.shape}")
    sh, sw = as_pair(stride, func, "stride", minimum=1)
    ph, pw = as_pair(padding, func, "padding", minimum=0)
    (H, W), (fh, fw) = x.shape[2:], w.shape[2:]
    if fh > H + 2 * ph or fw > W + 2 * pw:
        raise ValueError(f"{func}: kernel {fh}x{fw} (w.shape={w.shape}) is larger than the padded "
                         f"input {H + 2 * ph}x{W + 2 * pw} (x.shape={x.shape}, padding={(ph, pw)})")
    out_hw = ((H + 2 * ph - fh) // sh + 1, (W + 2 * pw - fw) // sw + 1)
    return (sh, sw), (ph, pw), out_hw


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
    stride, padding, out_hw = _check_conv_args("conv2d", x, w, b, stride, padding)
    g = Geometry(x.shape, w.shape[2:], stride, padding, out_hw)
    return forward(x, w, b, g, float_dtype(x, w, b))


def conv2d_naive(x, w, b=None, stride=1, padding=0):
    """2-D cross-correlation with plain loops, written like the formula (slow; for teaching/tests).

    Loops over images n, filters k and output positions (i, j); the inner triple sum over
    channels c and kernel offsets (m, l) is one vectorised ``np.sum`` of a product.
    Same parameters, returns and validation as :func:`conv2d`; the output is C-contiguous.

    Notes
    -----
    y[n, k, i, j] = sum_c sum_m sum_l x_pad[n, c, Sh i + m, Sw j + l] w[k, c, m, l] + b[k]
    """
    (sh, sw), padding, (Ho, Wo) = _check_conv_args("conv2d_naive", x, w, b, stride, padding)
    dtype = float_dtype(x, w, b)
    xp = zero_pad(x, padding).astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    N, K, (fh, fw) = x.shape[0], w.shape[0], w.shape[2:]
    y = np.zeros((N, K, Ho, Wo), dtype)
    for n in range(N):
        for k in range(K):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, sh * i:sh * i + fh, sw * j:sw * j + fw]
                    y[n, k, i, j] = np.sum(window * w[k])
            if b is not None:
                y[n, k] += b[k]
    return y


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
    stride, padding, (Ho, Wo) = _check_conv_args("conv2d_backward", x, w, None, stride, padding)
    N, K = x.shape[0], w.shape[0]
    check_array(dout, "conv2d_backward", "dout", ndim=4, layout="(N, K, H_out, W_out)")
    check_same_shape(dout, (N, K, Ho, Wo), "conv2d_backward", "dout", "the shape of conv2d's output")
    g = Geometry(x.shape, w.shape[2:], stride, padding, (Ho, Wo))
    dtype = float_dtype(dout, x, w)
    dout = np.ascontiguousarray(dout, dtype)
    grads = weight_grad(x, dout, g, dtype)
    if grads is None:
        cols, dmat = im2col(x, g, dtype), _dout_matrix(dout, g)
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
