"""The engine's plans for conv2d: layouts of the sliding windows, pieces, chunks, parts.

Shapes: x (N, C, H, W), w (K, C, Fh, Fw), output (N, K, Ho, Wo); Kd = C*Fh*Fw window values.

Every output value is a dot product of one window with one filter, so putting the windows into
the rows (or columns) of a matrix turns the convolution into ONE matrix product. By shape:

* **strips** (stride 1 in height and a kernel row of Fw*C >= 32 values, as in W2): x is copied
  into channels-last strips in which Fh consecutive entries form a whole window, so the windows
  are read in place, without a window matrix (see ``StripsPlan``).
* **rows** (other strides, same condition): x is copied once into a zero-padded channels-last
  buffer (N, Hp, Wp, C), where a kernel row's Fw*C values are one contiguous run; the window
  matrix (n*Ho*Wo, Kd + 1) is filled by one strided copy, one row per output position; then
  X @ [w | b]^T. Also used for the weight gradient.
* **cols** (few channels, as in W1 and W3, where those runs would be short): x is copied into
  the channel-first phase buffer of ``window_matrix.Geometry``, where each (c, m, l) row
  of the window matrix (Kd + 1, n*Ho*Wq) is one long contiguous run per image; then
  [w | b] @ X. The product covers Ho rows of the Hq x Wq phase grid, cropped to Ho x Wo.

A slot of ones carries the bias. On AVX-512 OpenBLAS (``small_products_pay()``) products come
in pieces of at most ``SMALL_GEMM`` multiply-adds, which it multiplies without packing, and the
batch in parts, one per thread (``parallel``); elsewhere one product per chunk, BLAS's threads.
Each part copies a chunk's result (window matrix up to ``CHUNK_BYTES`` in ``ImagesPlan``,
``PIECE_CHUNKS`` times that where products come in pieces, ``BLAS_CHUNKS`` times that where
BLAS's own threads multiply each chunk whole) into the output while it is in cache.
``ImagesPlan`` is the textbook layout with kept buffers. A plan holds the buffers for one
geometry, reused by later calls from the same thread. Measurements: ``NOTES.md``.
"""
import functools

import numpy as np

from .parallel import machine_busy, num_threads, one_blas_thread, run_parts
from .window_matrix import cached, view as _view

__all__ = ["RowsPlan", "ColsPlan", "StripsPlan", "ImagesPlan", "InlineImagesPlan", "forward", "weight_grad"]

SMALL_GEMM = 10**6          # M*N*K up to which OpenBLAS's small-matrix kernels skip packing
MIN_PIECE = 64              # fewer rows per piece than this: one product per chunk instead
MAX_PIECE = 256             # more rows per piece measured slower (NOTES.md)
CHUNK_BYTES = 2**20         # window matrix of one chunk of images, at most (at least one image)
PIECE_CHUNKS = 3            # chunks this many times larger where products come in pieces
BLAS_CHUNKS = 4             # chunks this many times larger where BLAS's threads multiply them whole
PART_FLOPS = 2 * 10**7      # a thread gets a part only if it has at least this much to compute
BLAS_SOLO = 2**18           # M*N*K up to which OpenBLAS multiplies on one thread anyway
ROW_RUN = 32                # strips/rows layout when a kernel row holds at least this many values
LAYOUT = None               # None: chosen by shape; tests and benchmarks may set a plan class


@functools.lru_cache(maxsize=None)
def small_products_pay():
    """Whether NumPy's BLAS multiplies small matrices without packing them first: OpenBLAS's
    SkylakeX, Cooperlake and SapphireRapids kernels for M*N*K <= 10**6, on the calling thread."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:         # threadpoolctl comes with scikit-learn; without it, play safe
        return False
    kernels = {"skylakex", "cooperlake", "sapphirerapids"}
    return any(lib.get("internal_api") == "openblas"
               and str(lib.get("architecture", "")).lower() in kernels for lib in threadpool_info())


def _split(n, parts):
    """``parts`` contiguous, nearly equal (lo, hi) ranges covering range(n)."""
    return [(n * i // parts, n * (i + 1) // parts) for i in range(parts)]


def _pieces(rows, r):
    """How a product of ``rows`` rows is split: (q pieces of r rows, then the rest), or (0, rows)."""
    return rows // r if r >= MIN_PIECE and rows > r else 0


class _Plan:
    """What the three layouts share: parts, chunks and the pieces of each product."""

    own_parts = False           # True: one part per thread, one BLAS thread each (ImagesPlan)

    def __init__(self, g, K, dtype, per_image, window_bytes, inner=None):
        self.g, self.K, self.dtype = g, K, np.dtype(dtype)
        self.Kd = g.C * g.fh * g.fw
        inner = inner or self.Kd + 1                                  # the product's inner size
        self.r = min(SMALL_GEMM // (K * inner), MAX_PIECE) if small_products_pay() else 0   # rows per piece
        flops = 2 * g.N * per_image * K * inner
        parts = min(num_threads(), g.N, max(1, flops // PART_FLOPS))
        self.parts = _split(g.N, parts if self.r >= MIN_PIECE else 1)
        if self.own_parts:              # ImagesPlan: its own parts, chunks of CHUNK_BYTES
            scale = 1
        elif self.r < MIN_PIECE:        # one BLAS product per chunk, on BLAS's threads
            scale = BLAS_CHUNKS
        else:                           # products in pieces on cnnlib's threads
            scale = PIECE_CHUNKS
        self.nb = max(1, CHUNK_BYTES * scale // window_bytes)   # images per chunk
        self.per = per_image                            # product rows/columns per image

    def chunks(self, part):
        lo, hi = self.parts[part]
        for n0 in range(lo, hi, self.nb):
            yield n0, min(self.nb, hi - n0)

    def _channels_last(self):
        """The zero (N, Hp, Wp, C) buffer of the rows and strips layouts (its padding stays zero)
        and, in float32, an (N, H, C, W) one that x passes through on its way there."""
        g = self.g
        self.xp = np.zeros((g.N, g.H + 2 * g.ph, g.W + 2 * g.pw, g.C), self.dtype)
        self.hcw = np.empty((g.N, g.H, g.C, g.W) if self.dtype == np.float32 else 0, self.dtype)
        self.nbytes = self.xp.nbytes + self.hcw.nbytes
        return self.xp.shape[1:3]

    def _stage(self, x, i):
        """Copy part i's images of x into the interior of the channels-last buffer."""
        g, (lo, hi) = self.g, self.parts[i]
        if self.hcw.size:     # float32: through (n, H, C, W), runs of W then small transposes (NOTES.md)
            np.copyto(self.hcw[lo:hi], x[lo:hi].transpose(0, 2, 1, 3))
        src = self.hcw[lo:hi].transpose(0, 1, 3, 2) if self.hcw.size else x[lo:hi].transpose(0, 2, 3, 1)
        np.copyto(self.xp[lo:hi, g.ph:g.ph + g.H, g.pw:g.pw + g.W], src)


class RowsPlan(_Plan):
    """Windows as rows: X (n*Ho*Wo, Kd + 1) from a padded channels-last copy of x; X @ wt."""

    def __init__(self, g, K, dtype):
        per, it = g.Ho * g.Wo, np.dtype(dtype).itemsize
        super().__init__(g, K, dtype, per, per * (g.C * g.fh * g.fw + 1) * it)
        Hp, Wp = self._channels_last()
        sn, si = Hp * Wp * g.C, Wp * g.C
        self.windows = _view(self.xp, 0, (g.N, g.Ho, g.Wo, g.fh, g.fw * g.C),
                             (sn, g.sh * si, g.sw * g.C, si, 1))
        self.bufs = []
        for part in range(len(self.parts)):
            X = np.ones((min(self.nb, g.N) * per, self.Kd + 1), dtype)     # last column: the bias's
            self.bufs.append((X, X[:, :-1].reshape(-1, g.Ho, g.Wo, g.fh, g.fw * g.C)))
        self.outs = [np.empty((len(X), K), dtype) for X, _ in self.bufs]
        self.nbytes += sum(X.nbytes + o.nbytes for (X, _), o in zip(self.bufs, self.outs))

    def weights(self, w, b):
        wt = np.empty((self.Kd + 1, self.K), self.dtype)
        wt[:-1] = w.transpose(2, 3, 1, 0).reshape(self.Kd, self.K)   # row order (m, l, c)
        wt[-1] = 0 if b is None else b
        return wt

    def _windows(self, x, i):
        """Stage part i's images of x; yield (n0, n, X) with X holding images n0 .. n0 + n - 1."""
        self._stage(x, i)
        X, Xv = self.bufs[i]
        for n0, n in self.chunks(i):
            np.copyto(Xv[:n], self.windows[n0:n0 + n])
            yield n0, n, X

    def run(self, x, wt):
        g, K, r = self.g, self.K, self.r
        y = np.empty((g.N, K, g.Ho, g.Wo), self.dtype)

        def part(i):
            o = self.outs[i]
            for n0, n, X in self._windows(x, i):
                rows = n * self.per
                q = _pieces(rows, r)
                if q:
                    np.matmul(X[:q * r].reshape(q, r, -1), wt, out=o[:q * r].reshape(q, r, K))
                if q * r < rows:
                    np.matmul(X[q * r:rows], wt, out=o[q * r:rows])
                np.copyto(y[n0:n0 + n], o[:rows].reshape(n, g.Ho, g.Wo, K).transpose(0, 3, 1, 2))

        run_parts(part, len(self.parts))
        return y

    def weight_grad(self, x, dout):
        """[dw | db] as a (K, Kd + 1) matrix, columns (m, l, c) then the bias: sum of dout X.

        Each image's (K, Ho*Wo) block of the C-contiguous dout is cut into pieces of r columns
        (r divides Ho*Wo); each piece times its r rows of X is a partial sum; they are added up.
        """
        K, per = self.K, self.per
        r = max((d for d in range(1, min(self.r, per) + 1) if per % d == 0), default=per)
        r, q = (r, per // r) if r >= MIN_PIECE else (per, 1)
        sums = [None] * len(self.parts)

        def part(i):
            total = np.zeros((K, self.Kd + 1), self.dtype)
            for n0, n, X in self._windows(x, i):
                D = dout[n0:n0 + n].reshape(n, K, q, r).transpose(0, 2, 1, 3)    # (n, q, K, r)
                total += np.matmul(D, X[:n * per].reshape(n, q, r, -1)).sum(axis=(0, 1))
            sums[i] = total

        run_parts(part, len(self.parts))
        return sum(sums[1:], sums[0])


class ColsPlan(_Plan):
    """Windows as columns: X (Kd + 1, n*Ho*Wq) from the phase buffer of ``Geometry``; wb @ X.

    Of each image's Hq x Wq phase grid only the first Ho rows are computed (then cropped to Wo).
    """

    def __init__(self, g, K, dtype):
        per, it = g.Ho * g.Wq, np.dtype(dtype).itemsize
        super().__init__(g, K, dtype, per, per * (g.C * g.fh * g.fw + 1) * it)
        self.xq = np.zeros((g.sh, g.sw, g.C, g.L + g.tail), dtype)   # the padding stays zero
        self.stage = [list(g.phase_views(self.xq, slice(lo, hi))) for lo, hi in self.parts]
        self.work, self.nbytes = [], self.xq.nbytes
        for part in range(len(self.parts)):
            cols = np.ones((self.Kd + 1, min(self.nb, g.N) * per), dtype)    # last row: the bias's
            out = np.empty((K, cols.shape[1]), dtype)
            self.nbytes += cols.nbytes + out.nbytes
            self.work.append([self._chunk(cols, out, n0, n) for n0, n in self.chunks(part)])

    def _chunk(self, cols, out, n0, n):
        """(copies that fill cols with the windows of images n0 .. n0 + n - 1, cols, out, pieces)."""
        g, width, length = self.g, cols.shape[1], n * self.per
        cols4 = cols[:-1].reshape(g.C, g.fh, g.fw, width)
        fills = []
        for a in range(g.sh):
            for b in range(g.sw):
                shape = (g.C, len(range(a, g.fh, g.sh)), len(range(b, g.fw, g.sw)), n, self.per)
                offset = (a * g.sw + b) * g.C * (g.L + g.tail) + n0 * g.Hq * g.Wq
                src = _view(self.xq, offset, shape, (g.L + g.tail, g.Wq, 1, g.Hq * g.Wq, 1))
                fills.append((cols4[:, a::g.sh, b::g.sw, :length].reshape(shape), src))
        q = _pieces(length, self.r)
        pieces = _view(cols, 0, (q, self.Kd + 1, self.r), (self.r, width, 1)) if q else None
        return fills, cols, out, n0, n, q, pieces

    def weights(self, w, b):
        wb = np.empty((self.K, self.Kd + 1), self.dtype)
        wb[:, :-1] = w.reshape(self.K, self.Kd)                      # column order (c, m, l)
        wb[:, -1] = 0 if b is None else b
        return wb

    def run(self, x, wb):
        g, K = self.g, self.K
        y = np.empty((g.N, K, g.Ho, g.Wo), self.dtype)

        def part(i):
            for xs, dest in self.stage[i]:
                np.copyto(dest, x[xs].transpose(1, 0, 2, 3))
            for fills, cols, out, n0, n, q, pieces in self.work[i]:
                for dest, src in fills:
                    np.copyto(dest, src)
                length = self._multiply(wb, cols, out, n, q, pieces)
                np.copyto(y[n0:n0 + n], out[:, :length].reshape(K, n, g.Ho, g.Wq)[..., :g.Wo]
                          .transpose(1, 0, 2, 3))

        run_parts(part, len(self.parts))
        return y

    def _multiply(self, wb, cols, out, n, q, pieces):
        """out = wb @ cols for a chunk of n images (in q pieces, then the rest); its length."""
        K, r, length = self.K, self.r, n * self.per
        if q:
            np.matmul(wb, pieces, out=_view(out, 0, (q, K, r), (r, out.shape[1], 1)))
        if q * r < length:
            np.matmul(wb, cols[:, q * r:length], out=out[:, q * r:length])
        return length

    def products(self, wb):
        """The products of ``run`` alone, one per chunk, on what each part's window matrix holds
        (no copy): the bench's floor for this plan."""
        def part(i):
            for _, cols, out, _, n, q, pieces in self.work[i]:
                self._multiply(wb, cols, out, n, q, pieces)

        run_parts(part, len(self.parts))


class StripsPlan(_Plan):
    """Stride 1 in height: no window matrix at all, the product reads the strips directly.

    For every output column j, the strip S[n, j] (Hp, Fw*C + 1) holds, for each padded input row
    i, the Fw*C values x_pad[n, :, i, j*Sw : j*Sw + Fw] (channels last) and a 1. Fh consecutive
    strip entries are then one whole window (plus Fh ones, whose weights are b, 0, ..., 0), and
    since the strips of a chunk's columns and images are stored one after another, the windows
    that start Fh entries apart form an ordinary matrix: rows of Fh*(Fw*C + 1) values, no overlap.
    So Fh products, one per residue of the window's start modulo Fh, cover every window; the
    Fh - 1 windows at the foot of each strip (start >= Ho) are computed and dropped. The strips
    take Fw times the (padded) input's memory per chunk, against Fh*Fw times for im2col.
    """

    def __init__(self, g, K, dtype):
        if g.sh != 1:       # the strips hold every input row: windows Fh entries apart need Sh = 1
            raise ValueError(f"StripsPlan: needs stride 1 in height, got stride {(g.sh, g.sw)}")
        Hp, Wp, E = g.H + 2 * g.ph, g.W + 2 * g.pw, g.fw * g.C + 1
        per, it = g.Wo * Hp, np.dtype(dtype).itemsize
        super().__init__(g, K, dtype, per, per * E * it, inner=g.fh * E)
        self.Hp, self.E, self.inner = Hp, E, g.fh * E
        self._channels_last()
        self.src = _view(self.xp, 0, (g.N, g.Wo, Hp, g.fw * g.C), (Hp * Wp * g.C, g.sw * g.C, Wp * g.C, 1))
        self.bufs = []
        for part in range(len(self.parts)):
            strips = np.ones((min(self.nb, g.N) * per + g.fh, E), dtype)   # + a tail the foot reads
            self.bufs.append(strips)
        self.outs = [np.empty((len(b), K), dtype) for b in self.bufs]
        self.nbytes += sum(b.nbytes + o.nbytes for b, o in zip(self.bufs, self.outs))

    def weights(self, w, b):
        wt = np.zeros((self.g.fh, self.E, self.K), self.dtype)
        wt[:, :-1] = w.transpose(2, 3, 1, 0).reshape(self.g.fh, -1, self.K)   # (m, (l, c))
        wt[0, -1] = 0 if b is None else b
        return wt.reshape(self.inner, self.K)

    def _products(self, strips, wt, out, count):
        """out[s] = window(s) @ wt for the window starts s in [0, count) of this chunk's strips."""
        fh, E, K, r, inner = self.g.fh, self.E, self.K, self.r, self.inner
        for res in range(min(fh, count)):
            rows = len(range(res, count, fh))
            q = _pieces(rows, r)
            if q:
                np.matmul(_view(strips, res * E, (q, r, inner), (fh * r * E, fh * E, 1)), wt,
                          out=_view(out, res * K, (q, r, K), (fh * r * K, fh * K, 1)))
            s0 = res + fh * q * r
            if s0 < count:
                np.matmul(_view(strips, s0 * E, (rows - q * r, inner), (fh * E, 1)), wt,
                          out=_view(out, s0 * K, (rows - q * r, K), (fh * K, 1)))

    def run(self, x, wt):
        g, K = self.g, self.K
        y = np.empty((g.N, K, g.Ho, g.Wo), self.dtype)

        def part(i):
            self._stage(x, i)
            strips, out = self.bufs[i], self.outs[i]
            for n0, n in self.chunks(i):
                count = n * self.per
                np.copyto(strips[:count, :-1].reshape(n, g.Wo, self.Hp, -1), self.src[n0:n0 + n])
                self._products(strips, wt, out, count)
                np.copyto(y[n0:n0 + n], out[:count].reshape(n, g.Wo, self.Hp, K)[:, :, :g.Ho]
                          .transpose(0, 3, 2, 1))

        run_parts(part, len(self.parts))
        return y


class ImagesPlan(_Plan):
    """The textbook im2col with kept buffers: per image, windows as columns (Kd + 1, Ho*Wo), one
    strided copy per chunk from Fw shifted copies xs[n, c, l, r, j] = x_pad[n, c, r, Sw*j + l] (for
    stride 1 in height a window row is ONE run of Ho*Wo values); a batched product writes the
    output in place. One part per thread, one BLAS thread each (in turn on a busy machine)."""

    inline, own_parts = False, True

    def __init__(self, g, K, dtype):
        per, it, Hp = g.Ho * g.Wo, np.dtype(dtype).itemsize, g.H + 2 * g.ph
        super().__init__(g, K, dtype, per, per * (g.C * g.fh * g.fw + 1) * it)
        self.parts = _split(g.N, min(num_threads(), g.N))
        self.xs = np.zeros((g.N, g.C, g.fw, Hp, g.Wo), dtype)
        self.windows = _view(self.xs, 0, (g.N, g.C, g.fh, g.fw, g.Ho, g.Wo),
                             (g.C * g.fw * Hp * g.Wo, g.fw * Hp * g.Wo, g.Wo, Hp * g.Wo, g.sh * g.Wo, 1))
        spans = [(l, max(0, -(-(g.pw - l) // g.sw)), min(g.Wo, (g.W - 1 + g.pw - l) // g.sw + 1)) for l in range(g.fw)]
        self.shifts = [(l, slice(j0, j1), slice(j0 * g.sw + l - g.pw, (j1 - 1) * g.sw + l - g.pw + 1, g.sw))
                       for l, j0, j1 in spans if j0 < j1]   # xs[..., l, :, j0:j1] = x[..., that slice]
        self.cols = [np.ones((min(self.nb, g.N), self.Kd + 1, per), dtype) for _ in self.parts]
        self.nbytes = self.xs.nbytes + sum(cols.nbytes for cols in self.cols)

    weights = ColsPlan.weights

    def run(self, x, wb):
        g = self.g
        y = np.empty((g.N, self.K, g.Ho, g.Wo), self.dtype)

        def part(i):
            lo, hi = self.parts[i]
            for l, js, xcols in self.shifts:
                np.copyto(self.xs[lo:hi, :, l, g.ph:g.ph + g.H, js], x[lo:hi, :, :, xcols])
            cols, dest = self.cols[i], self.cols[i][:, :-1].reshape((-1, g.C, g.fh, g.fw, g.Ho, g.Wo))
            for n0, n in self.chunks(i):
                np.copyto(dest[:n], self.windows[n0:n0 + n])
                np.matmul(wb, cols[:n], out=y[n0:n0 + n].reshape(n, self.K, -1))

        with one_blas_thread(self.K * (self.Kd + 1) * g.Ho * g.Wo > BLAS_SOLO):   # else BLAS's own
            run_parts(part, len(self.parts), inline=self.inline or machine_busy())
        return y


class InlineImagesPlan(ImagesPlan):
    """``ImagesPlan`` on the calling thread alone: a candidate where a second thread waits."""
    inline = True


def shape_layout(g):
    """The layout that the length of a kernel row and the stride suggest (see the docstring)."""
    if g.fw * g.C >= ROW_RUN:
        return StripsPlan if g.sh == 1 else RowsPlan
    return ColsPlan


def _plan(g, K, dtype, layout=None):
    """The cached plan of this thread for geometry g, K filters and dtype (layout: chosen here)."""
    layout = layout or LAYOUT or shape_layout(g)
    return cached(("plan", layout.__name__, g.key, K, np.dtype(dtype).str, num_threads()),
                  lambda: layout(g, K, dtype))


def forward(x, w, b, g, dtype, layout=None):
    """conv2d's output (N, K, Ho, Wo), a fresh array (layout: a plan class, else chosen by shape)."""
    plan = _plan(g, w.shape[0], dtype, layout)
    return plan.run(x, plan.weights(w, b))


def weight_grad(x, dout, g, dtype):
    """(dw (K, C, Fh, Fw), db (K,)) in the rows layout, or None where the columns layout applies;
    dout (N, K, Ho, Wo) must be C-contiguous with the given dtype."""
    if g.fw * g.C < ROW_RUN:
        return None
    plan = _plan(g, dout.shape[1], dtype, RowsPlan)
    dwb = plan.weight_grad(x, dout)
    dw = dwb[:, :-1].reshape(plan.K, g.fh, g.fw, g.C).transpose(0, 3, 1, 2).copy()
    return dw, dwb[:, -1].copy()
