"""The engine's polyphase window matrix, its index bookkeeping, and a per-thread scratch cache.

Shapes: x (N, C, H, W), w (K, C, Fh, Fw), output (N, K, Ho, Wo); Kd = C*Fh*Fw window values.

This is not the textbook im2col (that one is ``cnnlib.conv.im2col``): the padded input is split
into stride phases so that every kernel offset reads ONE contiguous run, for any stride.
``Geometry`` keeps the indices of that channel-first phase layout, which ``phase_im2col`` (used
by the backward pass) and the columns plan of ``cnnlib.engine.plans`` read from. ``cached`` keeps scratch
buffers and plans between calls, per thread, so that big arrays are not page-faulted in anew.
"""
import threading

import numpy as np

__all__ = ["Geometry", "cached", "clear_cache", "scratch", "phases", "phase_im2col", "view"]

CACHE_BYTES = 256 * 2**20   # scratch memory kept between calls, per calling thread
_local = threading.local()


def cached(key, make):
    """``make()``'s result for ``key``, kept per thread; least recently used ones are dropped.

    Entries need an ``nbytes`` attribute; the cache keeps at most ``CACHE_BYTES`` of them.
    """
    cache = _local.__dict__.setdefault("cache", {})
    entry = cache.pop(key, None)
    if entry is None:                     # a new entry: drop the least recently used ones
        entry, total = make(), sum(e.nbytes for e in cache.values())
        for old in list(cache):
            if total + entry.nbytes <= CACHE_BYTES:
                break
            total -= cache.pop(old).nbytes
    cache[key] = entry                    # re-insert: dict order is the LRU order
    return entry


def clear_cache():
    """Drop this thread's plans and scratch buffers (they are rebuilt on the next call)."""
    _local.cache = {}


def scratch(tag, shape, dtype, init=None):
    """A reusable scratch array for ``(tag, shape, dtype)``; ``init(array)`` runs once on creation."""
    def make():
        buf = np.empty(shape, dtype)
        if init is not None:
            init(buf)
        return buf
    return cached(("array", tag, tuple(shape), np.dtype(dtype).str), make)


def view(base, offset, shape, strides):
    """A view of the contiguous array ``base``: offset and strides in elements, not bytes."""
    item = base.itemsize
    return np.ndarray(shape, base.dtype, buffer=base, offset=offset * item,
                      strides=tuple(s * item for s in strides))


class Geometry:
    """Index bookkeeping for one (x.shape, kernel, stride, padding).

    The zero-padded input is split into Sh*Sw phase images ``xq[a, b] = x_pad[:, :, a::Sh, b::Sw]``
    (just the padded input when the stride is 1), each stored channel-major and flattened to
    (C, N*Hq*Wq). Kernel offset (m, l) = (Sh m' + a, Sw l' + b) then reads, for every output
    position at once, ONE contiguous run ``xq[a, b, c, off : off + L]`` with off = m' Wq + l':
    the output is computed on the whole Hq x Wq phase grid and cropped to (Ho, Wo).
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

    def phase_views(self, xq, images=slice(None)):
        """Yield (x-index, xq-view) pairs: where each input pixel of ``images`` sits in xq."""
        for a in range(self.sh):
            for b in range(self.sw):
                i0, j0 = (a - self.ph) % self.sh, (b - self.pw) % self.sw
                if i0 >= self.H or j0 >= self.W:
                    continue
                nr, nc = len(range(i0, self.H, self.sh)), len(range(j0, self.W, self.sw))
                r0, q0 = (i0 + self.ph - a) // self.sh, (j0 + self.pw - b) // self.sw
                grid = xq[a, b, :, :self.L].reshape(self.C, self.N, self.Hq, self.Wq)
                yield ((images, slice(None), slice(i0, None, self.sh), slice(j0, None, self.sw)),
                       grid[:, images, r0:r0 + nr, q0:q0 + nc])


def phases(x, g, dtype):
    """The scratch phase buffer (Sh, Sw, C, N*Hq*Wq + tail) holding the zero-padded x."""
    xq = scratch(("phases", g.key), (g.sh, g.sw, g.C, g.L + g.tail), dtype,
                 init=lambda a: a.fill(0))   # the padding is written once and stays zero
    for xs, dest in g.phase_views(xq):
        np.copyto(dest, x[xs].transpose(1, 0, 2, 3))
    return xq


def phase_im2col(x, g, dtype):
    """Windows of x as a scratch (C*Fh*Fw + 1, N*Hq*Wq) matrix; its last row is all ones."""
    xq = phases(x, g, dtype)
    rows = g.C * g.fh * g.fw
    cols = scratch("cols", (rows + 1, g.L), dtype, init=lambda a: a[rows].fill(1))
    cols4 = cols[:rows].reshape(g.C, g.fh, g.fw, g.L)
    for m, l, a, b, off in g.offsets():
        np.copyto(cols4[:, m, l], xq[a, b, :, off:off + g.L])
    return cols
