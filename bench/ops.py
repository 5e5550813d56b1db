"""`python -m bench ops`: conv2d and max pooling, naive vs fast vs scipy vs PyTorch CPU.

Prints milliseconds (median of repeats), GFLOP/s and the ratio to PyTorch's time measured in the
same run (the fast path and PyTorch are timed alternately, so machine load hits both alike),
in float32 and float64, plus numpy's matrix-product peak for scale. PyTorch is optional (it is
not a dependency); without it the PyTorch rows say "torch not installed". Slow implementations
(naive loops, scipy) are timed on a reduced batch and scaled linearly to the full N; the note
column says so.
"""
import os
import platform
import time
from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

import cnnlib
from bench import KEEPS_FREED_MEMORY

try:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
except ImportError:      # optional peer
    torch = None

WORKLOADS = {   # name: (N, C, H, W), (K, C, F, F), stride, padding
    "W1": ((64, 1, 28, 28), (8, 1, 3, 3), 1, 1),
    "W2": ((32, 16, 32, 32), (32, 16, 3, 3), 1, 1),
    "W3": ((32, 3, 64, 64), (16, 3, 5, 5), 2, 2),
}
POOL_SHAPE = (32, 32, 32, 32)
TARGETS = {("W2", "forward"): 1.5, ("W3", "forward"): 3.0,
           ("W2", "backward"): 2.0, ("W3", "backward"): 3.0}
SLOW_BUDGET = 0.5          # seconds: slow implementations run on a batch reduced to about this
MIN_SPEEDUP = 500          # target: fast >= 500x naive


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class Timing(NamedTuple):
    median: float   # seconds
    best: float     # seconds: the fastest repeat, least disturbed by other processes


def median_times(fns, budget=0.6, min_rounds=3, max_rounds=20, block=5):
    """A Timing for each function in ``fns``.

    After one warm-up call each, the functions take turns in blocks of ``block`` calls (so each
    sees the same machine load, while no peer's worker threads are still spinning from the
    previous call), for at least ``min_rounds`` rounds and about ``budget`` seconds.
    """
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    start, rounds = time.perf_counter(), 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - start < budget):
        for t, fn in zip(times, fns):
            t.extend(timed(fn) for _ in range(block))
        rounds += 1
    return [Timing(float(np.median(t)), float(np.min(t))) for t in times]


def scaled_time(make_fn, n_full, repeats=3):
    """Time ``make_fn(n)()`` on a batch small enough for ~SLOW_BUDGET s; scale linearly to n_full."""
    t1 = timed(make_fn(1))
    n = int(min(n_full, max(1, SLOW_BUDGET // max(t1, 1e-9))))
    ts = [timed(make_fn(n)) * n_full / n for _ in range(repeats)]
    note = "" if n == n_full else f"N={n} of {n_full}, scaled x{n_full / n:.3g}"
    return Timing(float(np.median(ts)), float(np.min(ts))), note


def scipy_conv(x, w, b, stride, padding):
    """The scipy peer: scipy.signal.correlate per (image, filter) over all channels, then subsample."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.empty((x.shape[0], w.shape[0]) + tuple(
        (xp.shape[i] - w.shape[i]) // stride + 1 for i in (2, 3)), x.dtype)
    for n in range(x.shape[0]):
        for k in range(w.shape[0]):
            full = signal.correlate(xp[n], w[k], mode="valid")[0]
            out[n, k] = full[::stride, ::stride] + b[k]
    return out


def naive_max_pool(x, size=2):
    """Loops over images, channels and output positions; max of each window."""
    N, C, H, W = x.shape
    out = np.empty((N, C, H // size, W // size), x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H // size):
                for j in range(W // size):
                    out[n, c, i, j] = x[n, c, size * i:size * i + size, size * j:size * j + size].max()
    return out


def matmul_peak(dtype):
    a = np.random.default_rng(0).normal(size=(2048, 2048)).astype(dtype)
    (t,) = median_times([lambda: a @ a], budget=1.0, min_rounds=1, max_rounds=2)
    return 2 * 2048**3 / t.best / 1e9


def row(workload, dtype, direction, impl, t, flops, peer, note=""):
    """One table row; ``t`` and ``peer`` are Timings (or None)."""
    if t is None:
        cells = f"{'-':>10} {'-':>9} {'-':>8} {'-':>9}"
    else:
        gf = f"{flops / t.median / 1e9:8.1f}" if flops else f"{'-':>8}"
        ratio = f"{t.median / peer.median:8.2f}x" if peer else f"{'-':>9}"
        cells = f"{t.median * 1e3:10.2f} {t.best * 1e3:9.2f} {gf} {ratio}"
    print(f"{workload:<9} {dtype:<8} {direction:<9} {impl:<7} {cells}  {note}")


def bench_conv(name, dtype, rng, results):
    xshape, wshape, s, p = WORKLOADS[name]
    x = rng.normal(size=xshape).astype(dtype)
    w = rng.normal(size=wshape).astype(dtype)
    b = rng.normal(size=wshape[0]).astype(dtype)
    y = cnnlib.conv2d(x, w, b, stride=s, padding=p)
    dout = rng.normal(size=y.shape).astype(dtype)
    N, K, Ho, Wo = y.shape
    flops = 2 * N * K * Ho * Wo * wshape[1] * wshape[2] * wshape[3]
    dname = np.dtype(dtype).name
    fast_f = lambda: cnnlib.conv2d(x, w, b, stride=s, padding=p)
    fast_b = lambda: cnnlib.conv2d_backward(dout, x, w, stride=s, padding=p)
    if torch is not None:
        xt, wt, bt, dt = (torch.from_numpy(a) for a in (x, w, b, dout))
        torch_f = lambda: F.conv2d(xt, wt, bt, stride=s, padding=p)
        torch_b = lambda: torch.ops.aten.convolution_backward(
            dt, xt, wt, [K], [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, True])
        with torch.no_grad():
            np.testing.assert_allclose(torch_f().numpy(), y, rtol=1e-3, atol=1e-3)
            t_fast_f, t_torch_f = median_times([fast_f, torch_f])
            t_fast_b, t_torch_b = median_times([fast_b, torch_b])
    else:
        (t_fast_f,), (t_fast_b,) = median_times([fast_f]), median_times([fast_b])
        t_torch_f = t_torch_b = None
    t_naive, note_naive = scaled_time(
        lambda n: lambda: cnnlib.conv2d_naive(x[:n], w, b, stride=s, padding=p), N)
    t_scipy, note_scipy = scaled_time(lambda n: lambda: scipy_conv(x[:n], w, b, s, p), N)
    for impl, t, note in (("naive", t_naive, note_naive), ("fast", t_fast_f, ""),
                          ("scipy", t_scipy, note_scipy)):
        row(name, dname, "forward", impl, t, flops, t_torch_f, note)
    row(name, dname, "forward", "torch", t_torch_f, flops, t_torch_f,
        "" if torch else "torch not installed")
    row(name, dname, "backward", "fast", t_fast_b, 2 * flops, t_torch_b, "dx, dw, db")
    row(name, dname, "backward", "torch", t_torch_b, 2 * flops, t_torch_b,
        "convolution_backward" if torch else "torch not installed")
    results[(name, dname)] = dict(naive=t_naive, fast_f=t_fast_f, torch_f=t_torch_f,
                                  fast_b=t_fast_b, torch_b=t_torch_b)


def bench_pool(dtype, rng):
    x = rng.normal(size=POOL_SHAPE).astype(dtype)
    dout = rng.normal(size=cnnlib.max_pool2d(x).shape).astype(dtype)
    dname, label = np.dtype(dtype).name, "maxpool2"
    fast_f = lambda: cnnlib.max_pool2d(x)
    fast_b = lambda: cnnlib.max_pool2d_backward(dout, x)
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_(True)
        yt = F.max_pool2d(xt, 2)
        dt = torch.from_numpy(dout)

        def torch_b():
            xt.grad = None
            yt.backward(dt, retain_graph=True)
        with torch.no_grad():
            t_fast_f, t_torch_f = median_times([fast_f, lambda: F.max_pool2d(xt, 2)])
        t_fast_b, t_torch_b = median_times([fast_b, torch_b])
    else:
        (t_fast_f,), (t_fast_b,) = median_times([fast_f]), median_times([fast_b])
        t_torch_f = t_torch_b = None
    t_naive, note_naive = scaled_time(lambda n: lambda: naive_max_pool(x[:n]), x.shape[0])
    t_scipy, note_scipy = scaled_time(
        lambda n: lambda: ndimage.maximum_filter(x[:n], size=(1, 1, 2, 2), origin=(0, 0, -1, -1))[:, :, ::2, ::2],
        x.shape[0])
    for impl, t, note in (("naive", t_naive, note_naive), ("fast", t_fast_f, ""),
                          ("scipy", t_scipy, "ndimage.maximum_filter " + note_scipy),
                          ("torch", t_torch_f, "" if torch else "torch not installed")):
        row(label, dname, "forward", impl, t, None, t_torch_f, note)
    row(label, dname, "backward", "fast", t_fast_b, None, t_torch_b, "first-max tie rule")
    row(label, dname, "backward", "torch", t_torch_b, None, t_torch_b,
        "autograd" if torch else "torch not installed")


def verdict(ok_median, ok_best):
    """'met' / 'NOT met' when medians and best repeats agree, else say that the run was unclear."""
    if ok_median == ok_best:
        return "met" if ok_median else "NOT met"
    return f"unclear: met on {'medians' if ok_median else 'best repeats'} only"


def print_targets(results):
    print("\nTargets (float32; ratio = our time / PyTorch's time in this run, medians [best repeats])")
    for (name, direction), limit in TARGETS.items():
        r = results[(name, "float32")]
        ours, peer = (r["fast_f"], r["torch_f"]) if direction == "forward" else (r["fast_b"], r["torch_b"])
        if peer is None:
            print(f"  {name} {direction:<8}: torch not installed, target <= {limit}x not checked")
            continue
        ratio, best = ours.median / peer.median, ours.best / peer.best
        print(f"  {name} {direction:<8}: {ratio:5.2f}x PyTorch [{best:5.2f}x] (target <= {limit}x) "
              f"{verdict(ratio <= limit, best <= limit)}")
    for (name, dname), r in results.items():
        speedup, best = r["naive"].median / r["fast_f"].median, r["naive"].best / r["fast_f"].best
        print(f"  {name} {dname:<7} fast vs naive: {speedup:7.0f}x faster [{best:7.0f}x] "
              f"(target >= {MIN_SPEEDUP}x) {verdict(speedup >= MIN_SPEEDUP, best >= MIN_SPEEDUP)}")


def main():
    rng = np.random.default_rng(0)
    print(f"cnnlib ops benchmark: numpy {np.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__ + ' (2 threads)' if torch else 'not installed'}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at start: {load:.1f} on {os.cpu_count()} CPUs"
          + ("  -- the machine is busy: expect noisy times" if load > 0.5 * (os.cpu_count() or 1) else ""))
    print(f"numpy matmul peak (2048^3): {matmul_peak(np.float32):.0f} GFLOP/s float32, "
          f"{matmul_peak(np.float64):.0f} GFLOP/s float64")
    print("W1: N=64 C=1 28x28 K=8 F=3 S=1 P=1 | W2: N=32 C=16 32x32 K=32 F=3 S=1 P=1 | "
          "W3: N=32 C=3 64x64 K=16 F=5 S=2 P=2 | maxpool2: 2x2 stride 2 on (32, 32, 32, 32)")
    print(f"process settings for side-by-side timing (see bench/__init__.py): "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}, glibc keeps freed memory: "
          f"{'yes' if KEEPS_FREED_MEMORY else 'no'}; cnnlib threads: {cnnlib.engine.parallel.num_threads()}")
    print("GFLOP/s counts 2*N*K*Ho*Wo*C*F*F per forward, twice that per backward.")
    print("ms = median of the repeats, best = fastest repeat; GFLOP/s and 'vs torch' use medians.\n")
    print(f"{'workload':<9} {'dtype':<8} {'pass':<9} {'impl':<7} {'ms':>10} {'best ms':>9} {'GFLOP/s':>8} "
          f"{'vs torch':>9}  note")
    results = {}
    for dtype in (np.float32, np.float64):
        for name in WORKLOADS:
            bench_conv(name, dtype, rng, results)
        bench_pool(dtype, rng)
    print_targets(results)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
