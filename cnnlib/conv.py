"""2-D convolution (cross-correlation) on NCHW arrays: naive loops, a fast path, and its backward.

Shapes: x (N, C, H, W), w (K, C, Fh, Fw), b (K,), output (N, K, H_out, W_out) with
H_out = floor((H + 2 Ph - Fh) / Sh) + 1 and W_out likewise. ``stride`` and ``padding`` are an int
or an (h, w) pair. Float32 inputs compute in float32, float64 in float64, integers in float64.

The fast path (forward) writes the zero-padded input once into a channel-first buffer, split
by stride phase (see ``_Geometry``). With stride 1 it then works through the batch a chunk of
images at a time (at most ~2 MB of window matrix or 12000 columns, at least one image): it
copies the sliding windows of the chunk into a (C*Fh*Fw + 1, n*Hq*Wq) matrix ("im2col", one
column per position of the Hq x Wq output grid before cropping, last row ones for the bias),
one strided copy per stride phase, and does ONE matrix product per chunk, [w | b] cols, into
the chunk's columns of a fresh (K, N*Hq*Wq) array; the result is a cropped, transposed view of
it. Chunks keep the copies and the product in cache. With a stride > 1 the whole batch is one
chunk (chunks measured no faster there). Measured against the previous whole-batch path, same
process, float32, medians (2 OpenBLAS threads): W1 0.48 -> 0.32 ms, W2 4.4 -> 3.9 ms,
W3 2.02 -> 1.90 ms; single-threaded CPU time W1 0.50 -> 0.32, W2 7.4 -> 5.1, W3 2.65 -> 2.53 ms.
The other GEMM orientation (cols^T [w | b]^T into an (N*Hq*Wq, K) array) measured slower with
2 threads (W2 3.0 vs 1.8 ms of products). Caveat: when the machine is heavily oversubscribed,
each chunk's 2-thread product may wait for a time slice, so many chunks can cost more than one
big product. No Python loop runs over output positions: the loops are over chunks, stride
phases and (backward) kernel offsets. The backward pass builds the whole-batch window matrix.
Scratch buffers are reused between calls (per thread) to avoid page faults; every array
returned is freshly allocated and never aliases a scratch buffer. (Splitting the copies over
two threads was measured: no gain, since the copies are memory-bound and OpenBLAS's threads
hold the second core right after a product.)
"""
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._validate import as_pair, check_array, check_same_shape, float_dtype

__all__ = ["zero_pad", "conv2d", "conv2d_naive", "conv2d_backward"]

_CACHE_BYTES = 256 * 2**20   # at most this much scratch memory is kept between calls, per thread
_CHUNK_BYTES = 2 * 2**20    # forward, stride 1: window matrix of one chunk of images, at most ~2 MB
_CHUNK_COLS = 12000         # ... and at most this many output positions (both measured)
_local = threading.local()


def _scratch(tag, shape, dtype, init=None):
    """A reusable scratch array for ``(tag, shape, dtype)``; ``init(array)`` runs once on creation.

    Least recently used buffers are dropped once the cache holds more than ``_CACHE_BYTES``.
    """
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (tag, tuple(shape), np.dtype(dtype).str)
    buf = cache.pop(key, None)
    if buf is None:
        buf = np.empty(shape, dtype)
        if init is not None:
            init(buf)
    cache[key] = buf                      # re-insert: dict order is the LRU order
    total = sum(a.nbytes for a in cache.values())
    for old in list(cache):
        if total <= _CACHE_BYTES or old == key:
            break
        total -= cache.pop(old).nbytes
    return buf


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


class _Geometry:
    """Index bookkeeping of the fast path for one (x.shape, kernel, stride, padding).

    The zero-padded input is split into Sh*Sw phase images ``xq[a, b] = x_pad[:, :, a::Sh, b::Sw]``
    (just the padded input when the stride is 1), each stored channel-major and flattened to
    (C, N*Hq*Wq). Kernel offset (m, l) = (Sh m' + a, Sw l' + b) then reads, for every output
    position at once, ONE contiguous run ``xq[a, b, c, off : off + L]`` with off = m' Wq + l':
    the output is computed on the whole Hq x Wq phase grid and cropped to (H_out, W_out).
    """

    def __init__(self, xshape, kshape, stride, padding, out_hw):
        (self.N, self.C, self.H, self.W), (self.fh, self.fw) = xshape, kshape
        (self.sh, self.sw), (self.ph, self.pw), (self.Ho, self.Wo) = stride, padding, out_hw
        self.Hq = -(-(self.H + 2 * self.ph) // self.sh)
        self.Wq = -(-(self.W + 2 * self.pw) // self.sw)
        self.L = self.N * self.Hq * self.Wq
        self.tail = ((self.fh - 1) // self.sh) * self.Wq + (self.fw - 1) // self.sw
        self.key = (xshape, kshape, stride, padding)

    def offsets(self):
        """Yield (m, l, a, b, off) for every kernel offset, row-major."""
        for m in range(self.fh):
            for l in range(self.fw):
                yield m, l, m % self.sh, l % self.sw, (m // self.sh) * self.Wq + l // self.sw

    def phase_views(self, xq):
        """Yield (x-slice, xq-slice) pairs: where each input pixel sits in the phase buffer."""
        for a in range(self.sh):
            for b in range(self.sw):
                i0, j0 = (a - self.ph) % self.sh, (b - self.pw) % self.sw
                if i0 >= self.H or j0 >= self.W:
                    continue
                nr, nc = len(range(i0, self.H, self.sh)), len(range(j0, self.W, self.sw))
                r0, q0 = (i0 + self.ph - a) // self.sh, (j0 + self.pw - b) // self.sw
                grid = xq[a, b, :, :self.L].reshape(self.C, self.N, self.Hq, self.Wq)
                yield ((slice(None), slice(None), slice(i0, None, self.sh), slice(j0, None, self.sw)),
                       grid[:, :, r0:r0 + nr, q0:q0 + nc])


def _phases(x, g, dtype):
    """The scratch phase buffer (Sh, Sw, C, N*Hq*Wq + tail) holding the zero-padded x (see _Geometry)."""
    xq = _scratch(("phases", g.key), (g.sh, g.sw, g.C, g.L + g.tail), dtype,
                  init=lambda a: a.fill(0))   # the padding is written once and stays zero
    for xs, dest in g.phase_views(xq):
        np.copyto(dest, x[xs].transpose(1, 0, 2, 3))
    return xq


def _fill_cols(cols, xq, g, start, length):
    """Copy the windows of output-grid columns [start, start + length) into cols[:-1, :length].

    One copy per stride phase (a, b): its kernel offsets (Sh m' + a, Sw l' + b) read the runs
    xq[a, b, c, start + m' Wq + l' : ... + length], a strided view of the phase buffer.
    """
    cols4 = cols[:-1].reshape(g.C, g.fh, g.fw, cols.shape[1])
    for a in range(g.sh):
        for b in range(g.sw):
            src = xq[a, b, :, start:]
            shape = (g.C, len(range(a, g.fh, g.sh)), len(range(b, g.fw, g.sw)), length)
            step = src.strides[1]
            np.copyto(cols4[:, a::g.sh, b::g.sw, :length],
                      as_strided(src, shape, (src.strides[0], g.Wq * step, step, step),
                                 writeable=False))


def _im2col(x, g, dtype):
    """Windows of x as a scratch (C*Fh*Fw + 1, N*Hq*Wq) matrix; its last row is all ones (bias)."""
    xq = _phases(x, g, dtype)
    rows = g.C * g.fh * g.fw
    cols = _scratch("cols", (rows + 1, g.L), dtype, init=lambda a: a[rows].fill(1))
    cols4 = cols[:rows].reshape(g.C, g.fh, g.fw, g.L)
    for m, l, a, b, off in g.offsets():   # (per offset: measured a bit faster here than _fill_cols)
        np.copyto(cols4[:, m, l], xq[a, b, :, off:off + g.L])
    return cols


def _conv_chunked(x, wb, g, dtype):
    """[w | b] applied to the windows, a chunk of images at a time: a fresh (K, N*Hq*Wq) array.

    Each chunk's window matrix (at most ``_CHUNK_BYTES`` and ``_CHUNK_COLS`` columns, at least
    one image) stays in cache between its copies and its product out[:, chunk] = [w | b] cols.
    With a stride > 1 the whole batch is one chunk.
    """
    xq = _phases(x, g, dtype)
    rows, per = wb.shape[1], g.Hq * g.Wq
    nb = max(1, min(g.N, _CHUNK_BYTES // (rows * per * np.dtype(dtype).itemsize),
                    _CHUNK_COLS // per))
    if g.sh * g.sw > 1:   # measured: strided convolutions (W3) gain nothing from chunks
        nb = g.N
    cols = _scratch("cols", (rows, nb * per), dtype, init=lambda a: a[rows - 1].fill(1))
    out = np.empty((wb.shape[0], g.L), dtype)
    for n0 in range(0, g.N, nb):
        start, length = n0 * per, min(nb, g.N - n0) * per
        _fill_cols(cols, xq, g, start, length)
        np.matmul(wb, cols[:, :length], out=out[:, start:start + length])
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
        Fresh memory, never shared with a later call. It is a cropped, transposed view of a
        (K, N, Hq, Wq) array (Hq = ceil((H + 2 Ph) / Sh)), so it is not C-contiguous
        (call ``np.ascontiguousarray`` if that matters).

    Notes
    -----
    y[n, k, i, j] = sum_c sum_m sum_l x_pad[n, c, Sh i + m, Sw j + l] w[k, c, m, l] + b[k],
    H_out = floor((H + 2 Ph - Fh) / Sh) + 1. For each chunk of images the windows are copied
    into a (C Fh Fw + 1, n Hq Wq) matrix X whose last row is ones, and ONE product [w | b] X
    with the (K, C Fh Fw + 1) weight matrix gives all its outputs; see ``_Geometry``.
    """
    stride, padding, out_hw = _check_conv_args("conv2d", x, w, b, stride, padding)
    g = _Geometry(x.shape, w.shape[2:], stride, padding, out_hw)
    dtype = float_dtype(x, w, b)
    K = w.shape[0]
    wb = np.empty((K, g.C * g.fh * g.fw + 1), dtype)
    wb[:, :-1] = w.reshape(K, -1)
    wb[:, -1] = 0 if b is None else b
    out = _conv_chunked(x, wb, g, dtype).reshape(K, g.N, g.Hq, g.Wq)   # fresh
    return out[:, :, :g.Ho, :g.Wo].transpose(1, 0, 2, 3)


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
    With X the window matrix of :func:`conv2d` and D = dout as a (K, N H_out W_out) matrix:
    [dw | db]^T = X D^T (one product), dX = w^T D, and dx is dX scattered back ("col2im"):
    for each kernel offset (m, l), the rows of dX for (m, l) are added onto the input
    positions they were read from (one contiguous run per channel in the phase layout).
    """
    stride, padding, (Ho, Wo) = _check_conv_args("conv2d_backward", x, w, None, stride, padding)
    N, K = x.shape[0], w.shape[0]
    check_array(dout, "conv2d_backward", "dout", ndim=4, layout="(N, K, H_out, W_out)")
    check_same_shape(dout, (N, K, Ho, Wo), "conv2d_backward", "dout", "the shape of conv2d's output")
    g = _Geometry(x.shape, w.shape[2:], stride, padding, (Ho, Wo))
    dtype = float_dtype(dout, x, w)
    cols = _im2col(x, g, dtype)
    dmat = _scratch(("dout", g.key), (K, g.L), dtype, init=lambda a: a.fill(0))
    np.copyto(dmat.reshape(K, N, g.Hq, g.Wq)[:, :, :Ho, :Wo], dout.transpose(1, 0, 2, 3))
    dwb = cols @ dmat.T                 # (C*Fh*Fw + 1, K); cropped-away positions have dout 0
    dw = dwb[:-1].T.reshape(w.shape)    # (this orientation is the faster one for OpenBLAS)
    db = dwb[-1].copy()
    dcols = _scratch("dcols", (cols.shape[0] - 1, g.L), dtype)
    np.matmul(w.reshape(K, -1).T.astype(dtype, copy=False), dmat, out=dcols)
    return _col2im(dcols, g), dw, db


def _col2im(dcols, g):
    """Scatter-add a (C*Fh*Fw, N*Hq*Wq) window gradient back onto a fresh (N, C, H, W) array."""
    dxq = _scratch("dphases", (g.sh, g.sw, g.C, g.L + g.tail), dcols.dtype)
    dxq.fill(0)
    dcols4 = dcols.reshape(g.C, g.fh, g.fw, g.L)
    for m, l, a, b, off in g.offsets():
        dxq[a, b, :, off:off + g.L] += dcols4[:, m, l]
    dx = np.zeros((g.N, g.C, g.H, g.W), dcols.dtype)   # pixels no window reads keep 0
    for xs, src in g.phase_views(dxq):
        dx[xs] = src.transpose(1, 0, 2, 3)
    return dx
