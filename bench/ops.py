"""`python -m bench ops`: conv2d and max pooling: cnnlib's engine, textbook im2col and loops,
against scipy, PyTorch CPU and two NumPy libraries a student might pick instead.

Prints milliseconds (median of repeats), GFLOP/s and the ratio to PyTorch's time measured in the
same run (the engine and the peers are timed alternately, so machine load hits all alike), in
float32 and float64, plus the CPU, the OpenBLAS kernel and numpy's matrix-product peak. The
peers are optional, installed only for the bench (`make bench` installs bench/requirements.txt;
they are not dependencies of the course): PyTorch, numpy-ml's `conv2D` (forward only; it is
loaded from its file, since the numpy_ml package itself no longer imports on Python 3.11) and
mygrad's `conv_nd` (forward, and backward through its autograd). A peer that is not installed
gets a row saying so. Slow implementations (loops, scipy) are timed on a reduced batch and
scaled linearly to the full N; the note column says so. The "product" rows time the columns
plan's products alone, on window matrices filled beforehand: what the engine's forward would
take if copying cost nothing.
"""
import importlib.util
import os
import platform
import sysconfig
import time
from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

import cnnlib
from cnnlib import engine
from cnnlib.engine.parallel import settle
from cnnlib.engine.plans import ColsPlan
from bench import KEEPS_FREED_MEMORY

try:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
except ImportError:      # optional peer
    torch = None

try:
    import mygrad
    from mygrad.nnet.layers import conv_nd as mygrad_conv_nd
except ImportError:      # optional peer
    mygrad = None


def _load_numpy_ml_conv2D():
    """numpy-ml's conv2D, from numpy_ml/neural_nets/utils/utils.py (None when not installed)."""
    path = os.path.join(sysconfig.get_paths()["purelib"], "numpy_ml", "neural_nets", "utils", "utils.py")
    if not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("numpy_ml_conv_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.conv2D


numpy_ml_conv2D = _load_numpy_ml_conv2D()

WORKLOADS = {   # name: (N, C, H, W), (K, C, F, F), stride, padding
    "W1": ((64, 1, 28, 28), (8, 1, 3, 3), 1, 1),
    "W2": ((32, 16, 32, 32), (32, 16, 3, 3), 1, 1),
    "W3": ((32, 3, 64, 64), (16, 3, 5, 5), 2, 2),
}
POOL_SHAPE = (32, 32, 32, 32)
TARGETS = {("W2", "forward"): 1.5, ("W2", "backward"): 2.0}   # engine / PyTorch, float32
BOOK_NOISE = 1.05          # engine / textbook im2col: timing noise when conv2d chose im2col itself
PEER_SPEEDUP = 2.0         # target: the engine at least 2x faster than each NumPy peer
SETTLE_LIMIT = 0.5         # seconds at most to wait for idle threads (OpenBLAS's spin ~0.1 s)
WARM_UP = 0.05             # seconds of untimed calls before each block of timed calls
SLOW_BUDGET = 0.5          # seconds: slow implementations run on a batch reduced to about this


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class Timing(NamedTuple):
    median: float   # seconds
    best: float     # seconds: the fastest repeat, least disturbed by other processes


def median_times(fns, budget=0.6, min_rounds=3, max_rounds=20, block=5):
    """A Timing for each function in ``fns``.

    The functions take turns in blocks of ``block`` timed calls, so each sees the same machine
    load, and each in its steady state, as in a loop that calls it again and again: before a
    block the process settles (``settle``: no worker thread of the function timed before still
    spins on a CPU), then untimed calls for ``WARM_UP`` seconds (at least one) wake the
    function's own threads and let the kernel spread them over the CPUs again (after products
    on two BLAS threads it runs cnnlib's two threads on one vCPU for a few calls; see
    cnnlib/engine/NOTES.md). At least ``min_rounds`` rounds, and more while the timed calls
    took under ``budget`` seconds in all.
    """
    times = [[] for _ in fns]
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or sum(map(sum, times)) < budget):
        for t, fn in zip(times, fns):
            settle(SETTLE_LIMIT)
            warm = 0.0
            while warm < WARM_UP:
                warm += timed(fn)
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


def split_times(prepare, run, rounds=15):
    """A Timing of ``run(state)`` alone, where each call needs a fresh ``state = prepare()``."""
    run(prepare())
    ts = []
    for _ in range(rounds):
        state = prepare()
        ts.append(timed(lambda: run(state)))
    return Timing(float(np.median(ts)), float(np.min(ts)))


def peer_rows(x, w, b, s, p, dout):
    """Timings of numpy-ml (forward) and mygrad (forward, backward); None where not installed.

    Each peer gets its inputs in its own layout, prepared outside the timed calls: numpy-ml
    takes NHWC images and (F, F, C, K) filters; mygrad takes NCHW and has no bias argument.
    """
    out = {}
    if numpy_ml_conv2D is not None:
        xh, wh = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(2, 3, 1, 0))
        f = lambda: numpy_ml_conv2D(xh, wh, s, p) + b
        np.testing.assert_allclose(f().transpose(0, 3, 1, 2), cnnlib.conv2d(x, w, b, s, p), rtol=1e-3, atol=1e-3)
        (out["numpy-ml forward"],) = median_times([f], budget=0.3, min_rounds=2, block=2)
    if mygrad is not None:
        f = lambda: mygrad_conv_nd(x, w, stride=s, padding=p, constant=True)
        try:
            np.testing.assert_allclose(np.asarray(f()), cnnlib.conv2d(x, w, None, s, p), rtol=1e-3, atol=1e-3)
        except ValueError:      # mygrad refuses a stride that does not divide (H + 2P - F)
            return out
        (out["mygrad forward"],) = median_times([f], budget=0.3, min_rounds=2, block=2)

        def prepare():
            xt, wt = mygrad.Tensor(x), mygrad.Tensor(w)
            return xt, wt, mygrad_conv_nd(xt, wt, stride=s, padding=p)
        out["mygrad backward"] = split_times(prepare, lambda st: st[2].backward(dout), rounds=6)
    return out


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
    book_f = lambda: cnnlib.conv2d_im2col(x, w, b, stride=s, padding=p)
    book_b = lambda: cnnlib.conv2d_backward_im2col(dout, x, w, stride=s, padding=p)
    geometry = engine.Geometry(x.shape, wshape[2:], (s, s), (p, p), (Ho, Wo))
    plans = lambda: engine.forward(x, w, b, geometry, dtype)
    cols = ColsPlan(geometry, K, dtype)       # its window matrices filled once, then only multiplied
    wb = cols.weights(w, b)
    np.testing.assert_allclose(cols.run(x, wb), y, rtol=1e-4, atol=1e-4)
    products = lambda: cols.products(wb)
    if torch is not None:
        xt, wt, bt, dt = (torch.from_numpy(a) for a in (x, w, b, dout))
        torch_f = lambda: F.conv2d(xt, wt, bt, stride=s, padding=p)
        torch_b = lambda: torch.ops.aten.convolution_backward(
            dt, xt, wt, [K], [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, True])
        with torch.no_grad():
            np.testing.assert_allclose(torch_f().numpy(), y, rtol=1e-3, atol=1e-3)
            t_fast_f, t_torch_f, t_book_f, t_plans, t_prod = median_times([fast_f, torch_f, book_f, plans, products])
            t_fast_b, t_torch_b, t_book_b = median_times([fast_b, torch_b, book_b])
    else:
        t_fast_f, t_book_f, t_plans, t_prod = median_times([fast_f, book_f, plans, products])
        t_fast_b, t_book_b = median_times([fast_b, book_b])
        t_torch_f = t_torch_b = None
    peers = peer_rows(x, w, b, s, p, dout)
    t_naive, note_naive = scaled_time(
        lambda n: lambda: cnnlib.conv2d_naive(x[:n], w, b, stride=s, padding=p), N)
    t_naive_b, note_naive_b = scaled_time(
        lambda n: lambda: cnnlib.conv2d_backward_naive(dout[:n], x[:n], w, stride=s, padding=p), N)
    t_scipy, note_scipy = scaled_time(lambda n: lambda: scipy_conv(x[:n], w, b, s, p), N)
    missing = "not installed (make bench installs bench/requirements.txt)"
    mygrad_ok = "mygrad forward" in peers
    mygrad_note = ("mygrad conv_nd" if mygrad_ok else missing if mygrad is None
                   else "mygrad refuses this geometry: the stride does not divide H + 2P - F")
    chose = {d: engine.path_choice(d, xshape, wshape, s, p, dtype) for d in ("forward", "backward")}
    for impl, t, note in (("loops", t_naive, note_naive), ("engine", t_fast_f, f"cnnlib.conv2d: chose {chose['forward']}"),
                          ("im2col", t_book_f, "cnnlib.conv2d_im2col"),
                          ("scipy", t_scipy, note_scipy),
                          ("np-ml", peers.get("numpy-ml forward"), "numpy-ml conv2D" if numpy_ml_conv2D else missing),
                          ("mygrad", peers.get("mygrad forward"), mygrad_note),
                          ("torch", t_torch_f, "" if torch else missing)):
        row(name, dname, "forward", impl, t, flops, t_torch_f, note)
    row(name, dname, "forward", "plans", t_plans, flops, t_torch_f,
        "the plans alone (layout by shape); conv2d times them against the other paths once per geometry")
    row(name, dname, "forward", "product", t_prod, flops, t_torch_f,
        "the columns plan's products alone, on window matrices filled before: no copy, a floor")
    for impl, t, note in (("loops", t_naive_b, note_naive_b), ("engine", t_fast_b, f"cnnlib.conv2d_backward: chose {chose['backward']}"),
                          ("im2col", t_book_b, "conv2d_backward_im2col"),
                          ("mygrad", peers.get("mygrad backward"), "autograd, dx and dw" if mygrad_ok else mygrad_note),
                          ("torch", t_torch_b, "convolution_backward" if torch else missing)):
        row(name, dname, "backward", impl, t, 2 * flops, t_torch_b, note)
    results[(name, dname)] = dict(naive=t_naive, fast_f=t_fast_f, torch_f=t_torch_f, fast_b=t_fast_b, prod_f=t_prod,
                                  torch_b=t_torch_b, book_f=t_book_f, book_b=t_book_b, **peers)


def bench_pool(dtype, rng, results):
    x = rng.normal(size=POOL_SHAPE).astype(dtype)
    dout = rng.normal(size=cnnlib.max_pool2d(x).shape).astype(dtype)
    dname, label = np.dtype(dtype).name, "maxpool2"
    fast_f = lambda: cnnlib.max_pool2d(x)
    fast_b = lambda: cnnlib.max_pool2d_backward(dout, x)
    layer = cnnlib.MaxPool2D(2)
    layer_b = lambda: layer.backward(dout)
    layer.forward(x)
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_(True)
        yt = F.max_pool2d(xt, 2)
        dt = torch.from_numpy(dout)

        def torch_b():
            xt.grad = None
            yt.backward(dt, retain_graph=True)
        with torch.no_grad():
            t_fast_f, t_torch_f = median_times([fast_f, lambda: F.max_pool2d(xt, 2)])
        t_fast_b, t_layer_b, t_torch_b = median_times([fast_b, layer_b, torch_b])
    else:
        (t_fast_f,), (t_fast_b, t_layer_b) = median_times([fast_f]), median_times([fast_b, layer_b])
        t_torch_f = t_torch_b = None
    t_naive, note_naive = scaled_time(lambda n: lambda: naive_max_pool(x[:n]), x.shape[0])
    t_scipy, note_scipy = scaled_time(
        lambda n: lambda: ndimage.maximum_filter(x[:n], size=(1, 1, 2, 2), origin=(0, 0, -1, -1))[:, :, ::2, ::2],
        x.shape[0])
    for impl, t, note in (("loops", t_naive, note_naive), ("cnnlib", t_fast_f, "max_pool2d"),
                          ("scipy", t_scipy, "ndimage.maximum_filter " + note_scipy),
                          ("torch", t_torch_f, "" if torch else "torch not installed")):
        row(label, dname, "forward", impl, t, None, t_torch_f, note)
    row(label, dname, "backward", "cnnlib", t_fast_b, None, t_torch_b,
        "max_pool2d_backward(dout, x): finds the maxima again")
    row(label, dname, "backward", "layer", t_layer_b, None, t_torch_b,
        "MaxPool2D.backward: where the forward found them (as PyTorch)")
    row(label, dname, "backward", "torch", t_torch_b, None, t_torch_b,
        "autograd" if torch else "torch not installed")
    results[(label, dname)] = dict(fast_b=t_fast_b, layer_b=t_layer_b, torch_b=t_torch_b)


def verdict(ok_median, ok_best):
    """'met' / 'NOT met' when medians and best repeats agree, else say that the run was unclear."""
    if ok_median == ok_best:
        return "met" if ok_median else "NOT met"
    return f"unclear: met on {'medians' if ok_median else 'best repeats'} only"


def print_targets(results):
    print("\nTargets (float32 unless noted; ratio = our time / the peer's time in this run, "
          "medians [best repeats])")
    for (name, direction), limit in TARGETS.items():
        r = results[(name, "float32")]
        ours, peer = (r["fast_f"], r["torch_f"]) if direction == "forward" else (r["fast_b"], r["torch_b"])
        if peer is None:
            print(f"  {name} {direction:<8}: torch not installed, target <= {limit}x not checked")
            continue
        ratio, best = ours.median / peer.median, ours.best / peer.best
        print(f"  {name} {direction:<8}: {ratio:5.2f}x PyTorch [{best:5.2f}x] (target <= {limit}x) "
              f"{verdict(ratio <= limit, best <= limit)}")
        if direction == "forward":
            floor = r["prod_f"].median / peer.median
            print(f"  {'':<{len(name)}} {'':<8}  of which the products alone (no copy): {floor:5.2f}x PyTorch's "
                  f"whole convolution, so every copy must fit in {max(0.0, limit - floor):.2f}x")
    for dname in ("float32", "float64"):
        r = results[("maxpool2", dname)]
        if r["torch_b"] is not None:
            ratio, best = r["layer_b"].median / r["torch_b"].median, r["layer_b"].best / r["torch_b"].best
            print(f"  max-pool backward {dname} (MaxPool2D layer): {ratio:5.2f}x PyTorch [{best:5.2f}x] "
                  f"(target <= 1x) {verdict(ratio <= 1, best <= 1)}")
    for (name, dname), r in results.items():
        for direction, ours, book in (("forward", "fast_f", "book_f"), ("backward", "fast_b", "book_b")):
            if ours not in r or r.get(book) is None:
                continue
            ratio, best = r[ours].median / r[book].median, r[ours].best / r[book].best
            print(f"  {name} {dname:<7} engine vs im2col {direction:<8}: {ratio:5.2f}x [{best:5.2f}x] "
                  f"(target <= 1x; up to {BOOK_NOISE:g}x counts, the same code may run) "
                  f"{verdict(ratio <= BOOK_NOISE, best <= BOOK_NOISE)}")
    for (name, dname), r in results.items():
        for key in ("numpy-ml forward", "mygrad forward", "mygrad backward"):
            if key not in r:
                continue
            ours = r["fast_f"] if key.endswith("forward") else r["fast_b"]
            speedup, best = r[key].median / ours.median, r[key].best / ours.best
            print(f"  {name} {dname:<7} engine vs {key:<16}: {speedup:6.1f}x faster [{best:6.1f}x] "
                  f"(target >= {PEER_SPEEDUP:g}x) {verdict(speedup >= PEER_SPEEDUP, best >= PEER_SPEEDUP)}")


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas_line():
    """The BLAS that numpy's matrix products run on, as threadpoolctl reports it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: unknown (threadpoolctl not installed)"
    libs = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return "; ".join(f"BLAS: {lib.get('internal_api')} {lib.get('version')}, kernel "
                     f"{lib.get('architecture')}, {lib.get('num_threads')} threads" for lib in libs) or "BLAS: none found"


def main():
    rng = np.random.default_rng(0)
    versions = [f"torch {torch.__version__} (2 threads)" if torch else "torch not installed",
                f"mygrad {mygrad.__version__}" if mygrad else "mygrad not installed",
                "numpy-ml conv2D" if numpy_ml_conv2D else "numpy-ml not installed"]
    print(f"cnnlib ops benchmark: numpy {np.__version__}, python {platform.python_version()}, "
          + ", ".join(versions))
    print(f"CPU: {cpu_model()}, {os.cpu_count()} CPUs; {blas_line()}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at start: {load:.1f} on {os.cpu_count()} CPUs"
          + ("  -- the machine is busy: expect noisy times" if load > 0.5 * (os.cpu_count() or 1) else ""))
    print(f"numpy matmul peak (2048^3): {matmul_peak(np.float32):.0f} GFLOP/s float32, "
          f"{matmul_peak(np.float64):.0f} GFLOP/s float64")
    print("W1: N=64 C=1 28x28 K=8 F=3 S=1 P=1 | W2: N=32 C=16 32x32 K=32 F=3 S=1 P=1 | "
          "W3: N=32 C=3 64x64 K=16 F=5 S=2 P=2 | maxpool2: 2x2 stride 2 on (32, 32, 32, 32)")
    print(f"process settings for side-by-side timing (see bench/__init__.py): "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}, glibc keeps freed memory: "
          f"{'yes' if KEEPS_FREED_MEMORY else 'no'}; cnnlib threads: {cnnlib.engine.parallel.num_threads()}, "
          f"small in-place products: {cnnlib.engine.plans.small_products_pay()}")
    print("GFLOP/s counts 2*N*K*Ho*Wo*C*F*F per forward, twice that per backward.")
    print("ms = median of the repeats, best = fastest repeat; GFLOP/s and 'vs torch' use medians.\n")
    print(f"{'workload':<9} {'dtype':<8} {'pass':<9} {'impl':<7} {'ms':>10} {'best ms':>9} {'GFLOP/s':>8} "
          f"{'vs torch':>9}  note")
    results = {}
    for dtype in (np.float32, np.float64):
        for name in WORKLOADS:
            bench_conv(name, dtype, rng, results)
        bench_pool(dtype, rng, results)
    print_targets(results)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
