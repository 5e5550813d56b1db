"""The tuned engine behind ``cnnlib.conv2d`` and ``cnnlib.conv2d_backward``.

You do not need this package to understand convolution: ``cnnlib.conv`` holds the loops and
the textbook im2col, and the engine computes the same numbers (the tests hold them equal).
It is faster because it avoids copies and page faults rather than by different mathematics:

* ``plans``: four layouts of the sliding windows (strips, rows, columns, images), products cut
  into pieces, the batch cut into chunks and parts;
* ``window_matrix``: a polyphase window matrix (one contiguous run per kernel offset, also
  for strides > 1), the index bookkeeping (``Geometry``) and a per-thread scratch cache;
* ``parallel``: a few worker threads (NumPy releases the GIL while it copies and multiplies).

The plans were tuned on CPUs with AVX-512; elsewhere other paths can be faster, so the first
call for a geometry times every path side by side and the process keeps the fastest.

What was measured on which CPU, and why each choice was made, is in ``NOTES.md`` beside this
file. Shapes: x (N, C, H, W), w (K, C, Fh, Fw), dout (N, K, Ho, Wo). The functions here take
validated arguments (stride and padding as int pairs) and return fresh C-contiguous arrays.
"""
import ctypes
import os
import time

import numpy as np

from .parallel import blas_threads, machine_busy, num_threads, run_parts, settle
from .plans import ColsPlan, ImagesPlan, InlineImagesPlan, forward, shape_layout, weight_grad
from .window_matrix import Geometry, phase_im2col, scratch

__all__ = ["conv2d", "conv2d_backward", "path_choice", "scatter_images"]

PATHS = ("plans", "textbook")
LAYOUTS = dict(plans=None, columns=ColsPlan, images=ImagesPlan, images_inline=InlineImagesPlan)


def _forced_path():
    """The path that ``CNNLIB_CONV_PATH`` forces (None: unset, measure per geometry)."""
    value = os.environ.get("CNNLIB_CONV_PATH", "").strip().lower() or None
    if value not in (None, *PATHS):
        raise ValueError(f"cnnlib: environment variable CNNLIB_CONV_PATH must be one of "
                         f"{', '.join(PATHS)} (or unset), got {value!r}")
    return value


# None: measured per geometry; "plans" or "textbook" forces one (for conv2d and
# conv2d_backward). The book build forces "plans" so that every build trains the same
# networks to the same numbers (the measured choice can differ between processes).
FORCE_PATH = _forced_path()
_choices = {}                   # (shapes, stride, padding, dtype, threads) -> the faster path

TRANSPOSED_MIN_FLOPS = 10**8   # dx by a convolution only from this much work on ...
TRANSPOSED_MIN_C = 8            # ... and this many input channels (NOTES.md: backward)
SETTLE_AFTER = 1e-3             # seconds: a call this long may leave BLAS's workers spinning
WARM_UP = 0.05                  # seconds of untimed calls before a long path is timed (NOTES.md)
SCATTER_PART = 2**17            # values per thread, at least, in scatter_images (NOTES.md: pooling)


def conv2d(x, w, b, stride, padding, out_hw, dtype, textbook):
    """conv2d's output (N, K, Ho, Wo) in ``dtype`` by the path that measured fastest: the plans
    (layout by shape), the columns plan, ``ImagesPlan`` (threads or inline) or ``textbook``."""
    g = Geometry(x.shape, w.shape[2:], stride, padding, out_hw)
    paths = {name: (lambda layout=layout: forward(x, w, b, g, dtype, layout)) for name, layout in LAYOUTS.items()
             if name != "columns" or shape_layout(g) is not ColsPlan}   # long kernel rows: may still win
    return _faster(("forward", x.shape, w.shape, stride, padding, dtype), **paths,
                   textbook=lambda: textbook(x, w, b, stride, padding))


def conv2d_backward(dout, x, w, stride, padding, dtype, textbook):
    """(dx, dw, db) by the plans or by ``textbook(dout, x, w, stride, padding)``, as conv2d."""
    return _faster(("backward", x.shape, w.shape, stride, padding, dtype),
                   plans=lambda: _backward_plans(dout, x, w, stride, padding, dtype),
                   textbook=lambda: textbook(dout, x, w, stride, padding))


def _faster(geometry, **paths):
    """The result of the path chosen for ``geometry`` (``FORCE_PATH``, else measured once)."""
    key = _choice_key(*geometry)
    choice = FORCE_PATH or _choices.get(key)
    if choice is None:
        choice, result = _calibrate(paths)
        _choices[key] = choice
        return result
    return paths[choice]()


def _choice_key(direction, x_shape, w_shape, stride, padding, dtype):
    return (direction, tuple(x_shape), tuple(w_shape), stride, padding, np.dtype(dtype).str,
            num_threads())


def _calibrate(paths, min_rounds=3, max_rounds=25, budget=0.05):
    """(name of the fastest path, its result), from rounds of calls after a first call each.

    Each round times every path once (the order rotates) and scores each by its time over the
    round's fastest; the lowest median score wins, so one disturbed round does not decide. A
    path is timed as it runs when called again and again (NOTES.md: calibration):

    * after a call of more than ``SETTLE_AFTER`` seconds, once the threads of that call are
      idle (``settle``: BLAS's workers spin for a while after a product on several threads);
    * after one untimed call (the first after another path finds its buffers out of the
      caches); if that call took more than ``SETTLE_AFTER`` and BLAS may use several threads,
      after untimed calls for ``WARM_UP`` seconds (after products on two BLAS threads, or
      any pause, a path's two threads run as slowly as one for tens of milliseconds).

    At least ``min_rounds`` rounds, up to ``max_rounds`` while they take under ``budget`` s.
    """
    names, warm_up = list(paths), WARM_UP if blas_threads() > 1 else 0.0
    results = {name: paths[name]() for name in names}     # first calls build plans
    scores, start, rounds, last = {name: [] for name in names}, time.perf_counter(), 0, 0.0
    while rounds < min_rounds or (rounds < max_rounds and time.perf_counter() - start < budget):
        times = {}
        for name in names[rounds % len(names):] + names[:rounds % len(names)]:
            if last > SETTLE_AFTER:
                settle()
            warm = _seconds(paths[name])
            while SETTLE_AFTER < warm < warm_up:
                warm += _seconds(paths[name])
            t, results[name] = time.perf_counter(), paths[name]()     # the clock is read first
            times[name] = last = time.perf_counter() - t
        for name in names:
            scores[name].append(times[name] / max(min(times.values()), 1e-9))
        rounds += 1
    choice = min(names, key=lambda name: np.median(scores[name]))
    return choice, results[choice]


def _seconds(call):
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def path_choice(direction, x_shape, w_shape, stride, padding, dtype):
    """The path chosen for "forward" or "backward" in this process (a name), or None."""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    return FORCE_PATH or _choices.get(_choice_key(direction, x_shape, w_shape, pair(stride), pair(padding), dtype))


def _backward_plans(dout, x, w, stride, padding, dtype):
    """(dx, dw, db): [dw | db] = D X from the window matrix X; dx by a convolution or col2im.

    With stride 1, dx is itself a convolution: dout zero-padded by F - 1 - P, correlated with
    the filters rotated by 180 degrees and with C and K swapped; otherwise dX = w^T D is added
    back onto the input positions the windows were read from.
    """
    g = Geometry(x.shape, w.shape[2:], stride, padding, dout.shape[2:])
    dout = np.ascontiguousarray(dout, dtype)
    grads = weight_grad(x, dout, g, dtype)
    if grads is None:
        cols, dmat = phase_im2col(x, g, dtype), _dout_matrix(dout, g)
        dwb = cols @ dmat.T                 # (C*Fh*Fw + 1, K); cropped-away positions have dout 0
        grads = np.ascontiguousarray(dwb[:-1].T).reshape(w.shape), dwb[-1].copy()
    return (_input_grad(dout, w, g, dtype),) + tuple(grads)


def _dout_matrix(dout, g):
    """dout (N, K, Ho, Wo) on the phase grid: a scratch (K, N*Hq*Wq) matrix, zero off the output."""
    dmat = scratch(("dout", g.key), (dout.shape[1], g.L), dout.dtype, init=lambda a: a.fill(0))
    np.copyto(dmat.reshape(-1, g.N, g.Hq, g.Wq)[:, :, :g.Ho, :g.Wo], dout.transpose(1, 0, 2, 3))
    return dmat


def _input_grad(dout, w, g, dtype):
    """dx (N, C, H, W): a convolution of dout (stride 1, P <= F - 1, big enough), else col2im."""
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


def scatter_images(values, index, shape, dtype):
    """A zero array of ``shape`` (N, ...) with ``values`` (N, ...) put at the flat positions
    ``index`` (N, ...), each image's into that image: so parts, one per thread, zero (by C's
    memset, twice NumPy's speed) and fill their own images (NOTES.md: pooling)."""
    out = np.empty(shape, dtype)
    flat, N = out.reshape(-1), shape[0]
    parts = 1 if machine_busy() else min(num_threads(), N, max(1, values.size // SCATTER_PART))
    bounds = [N * i // parts for i in range(parts + 1)]

    def part(i):
        lo, hi = bounds[i], bounds[i + 1]
        ctypes.memset(out[lo:hi].ctypes.data, 0, out[lo:hi].nbytes)   # releases the GIL
        flat[index[lo:hi].reshape(-1)] = values[lo:hi].reshape(-1)

    run_parts(part, parts)
    return out
