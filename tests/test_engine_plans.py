"""Tests for cnnlib.engine.plans: the three layouts, chunks, pieces and parts of conv2d's engine."""
import threading

import numpy as np
import pytest

from cnnlib import conv2d, conv2d_backward, engine
from cnnlib.engine import plans as conv_plans, window_matrix
from cnnlib.engine.plans import ColsPlan, ImagesPlan, InlineImagesPlan, RowsPlan, StripsPlan, forward
from cnnlib.engine.window_matrix import Geometry, clear_cache
from numeric_oracle import numeric_gradient, scipy_conv

CASES = [  # x shape, w shape, stride, padding
    ((7, 3, 11, 9), (5, 3, 3, 4), (1, 1), (1, 1)),
    ((5, 2, 12, 10), (4, 2, 5, 3), (2, 3), (2, 0)),
    ((4, 6, 9, 13), (3, 6, 2, 2), (3, 1), (0, 2)),
    ((6, 1, 8, 8), (2, 1, 1, 1), (1, 2), (0, 0)),
    ((3, 4, 6, 7), (6, 4, 6, 7), (1, 1), (0, 0)),     # kernel as large as the input
]


@pytest.fixture
def settings(monkeypatch):
    """Set conv_plans's tuning constants for one test; plans are rebuilt before and after."""
    def apply(**values):
        for name, value in values.items():
            monkeypatch.setattr(conv_plans, name, value)
        clear_cache()
    monkeypatch.setattr(engine, "FORCE_PATH", "plans")   # conv2d(_backward) use the plans, even if slower
    yield apply
    clear_cache()


LAYOUT_CASES = [(case, layout) for case in CASES for layout in (RowsPlan, ColsPlan, StripsPlan, ImagesPlan)
                if layout is not StripsPlan or case[2][0] == 1]   # strips: stride 1 in height only


@pytest.mark.parametrize("case, layout", LAYOUT_CASES)
@pytest.mark.parametrize("split", ["whole", "small"])
def test_layouts_chunks_pieces_and_parts_agree_with_scipy(settings, monkeypatch, case, layout, split):
    """Every way of cutting the work gives the same result, in float64 and float32."""
    xshape, wshape, stride, padding = case
    if split == "whole":        # one chunk, one product, one thread
        monkeypatch.setenv("CNNLIB_NUM_THREADS", "1")
        settings(LAYOUT=layout, CHUNK_BYTES=10**9, MIN_PIECE=10**9)
    else:                       # a chunk per image, pieces of 3 rows with a remainder, 3 threads
        monkeypatch.setenv("CNNLIB_NUM_THREADS", "3")
        inner = wshape[2] * (wshape[1] * wshape[3] + 1) if layout is StripsPlan else np.prod(wshape[1:]) + 1
        settings(LAYOUT=layout, CHUNK_BYTES=1, MIN_PIECE=1, SMALL_GEMM=3 * wshape[0] * inner, PART_FLOPS=1)
    rng = np.random.default_rng(sum(xshape))
    x, w, b = rng.normal(size=xshape), rng.normal(size=wshape), rng.normal(size=wshape[0])
    expected = scipy_conv(x, w, b, stride, padding)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        got = conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), stride, padding)
        assert got.dtype == dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


VIEWS = {   # arrays equal to their argument, laid out as a caller's slices and transposes can be
    "negative strides": lambda a: np.flip(np.flip(a, -1).copy(), -1),
    "negative strides over the images": lambda a: np.flip(np.flip(a, 0).copy(), 0),
    "Fortran order": np.asfortranarray,
    "every other element": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
}


@pytest.mark.parametrize("path, layout", [("plans", layout) for layout in
                                          (RowsPlan, ColsPlan, StripsPlan, ImagesPlan, InlineImagesPlan)]
                         + [("textbook", None)])
def test_views_of_x_w_b_and_dout_give_the_results_of_contiguous_arrays(settings, monkeypatch, path, layout):
    """Each path reads its inputs through their strides (negative ones too), forward and backward."""
    monkeypatch.setattr(engine, "FORCE_PATH", path)
    settings(LAYOUT=layout)
    rng = np.random.default_rng(11)
    for (xshape, wshape, stride, padding), dtype, tol in [(CASES[0], np.float64, 1e-12),
                                                          (CASES[1], np.float32, 1e-5)]:
        if layout is StripsPlan and stride[0] != 1:
            continue
        x, w, b = (rng.normal(size=s).astype(dtype) for s in (xshape, wshape, wshape[:1]))
        expected = conv2d(x, w, b, stride, padding)
        dout = rng.normal(size=expected.shape).astype(dtype)
        grads = conv2d_backward(dout, x, w, stride, padding)
        for name, view in VIEWS.items():
            got = conv2d(view(x), view(w), view(b), stride, padding)
            np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=name)
            for g, e in zip(conv2d_backward(view(dout), view(x), view(w), stride, padding), grads):
                np.testing.assert_allclose(g, e, rtol=tol, atol=tol, err_msg=name)


def plan_for(xshape, wshape, stride, padding):
    """The plan conv2d builds for this geometry, and the geometry."""
    H = (xshape[2] + 2 * padding[0] - wshape[2]) // stride[0] + 1
    W = (xshape[3] + 2 * padding[1] - wshape[3]) // stride[1] + 1
    g = Geometry(xshape, wshape[2:], stride, padding, (H, W))
    x, w = np.zeros(xshape, np.float32), np.zeros(wshape, np.float32)
    forward(x, w, None, g, np.float32)
    return next(e for k, e in window_matrix._local.cache.items() if k[0] == "plan"), g


def test_layout_choice_follows_the_length_of_a_kernel_row_and_the_stride(settings):
    """Strips (stride 1 in height) or rows when a kernel row holds >= ROW_RUN values (W2: 3 x 16
    = 48), columns otherwise (W3: 5 x 3 = 15)."""
    settings()
    assert isinstance(plan_for((2, 16, 8, 8), (4, 16, 3, 3), (1, 1), (1, 1))[0], StripsPlan)
    settings()
    assert isinstance(plan_for((2, 16, 8, 8), (4, 16, 3, 3), (2, 1), (1, 1))[0], RowsPlan)
    settings()
    assert isinstance(plan_for((2, 3, 8, 8), (4, 3, 5, 5), (2, 2), (2, 2))[0], ColsPlan)


def test_pieces_respect_the_small_product_limit(settings, monkeypatch):
    """Each piece's product stays within SMALL_GEMM multiply-adds; small work stays on one thread."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    monkeypatch.setattr(conv_plans, "small_products_pay", lambda: True)   # as on AVX-512 OpenBLAS
    settings()
    plan, g = plan_for((32, 16, 32, 32), (32, 16, 3, 3), (1, 1), (1, 1))    # W2: 3 x (48 + 1)
    assert plan.r * 32 * 147 <= conv_plans.SMALL_GEMM < (plan.r + 1) * 32 * 147
    assert plan.parts == [(0, 16), (16, 32)]
    settings()
    plan, _ = plan_for((2, 1, 8, 8), (2, 1, 3, 3), (1, 1), (1, 1))           # 2.6 kflop
    assert plan.parts == [(0, 2)]
    settings()
    plan, _ = plan_for((4, 64, 8, 8), (256, 64, 3, 3), (1, 1), (1, 1))       # pieces too thin
    assert plan.r < conv_plans.MIN_PIECE and len(plan.parts) == 1


def test_concurrent_callers_with_the_same_geometry(settings, monkeypatch):
    """Calls from several threads at once (each with its own plan) never mix their buffers."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    settings(PART_FLOPS=1)
    rng = np.random.default_rng(3)
    w, b = rng.normal(size=(8, 16, 3, 3)), rng.normal(size=8)
    xs = [rng.normal(size=(8, 16, 12, 12)) for _ in range(4)]
    expected = [scipy_conv(x, w, b, (1, 1), (1, 1)) for x in xs]
    errors = []

    def work(i):
        for _ in range(10):
            if not np.allclose(conv2d(xs[i], w, b, padding=1), expected[i]):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("split", ["whole", "small"])
def test_backward_in_rows_layout_matches_numeric_gradients(settings, monkeypatch, case, split):
    """[dw | db] from pieces of the rows layout (and dx, by the transposed convolution when the
    stride is 1) equal centred differences of sum(conv2d(x, w, b) * dout)."""
    xshape, wshape, stride, padding = case
    monkeypatch.setattr(engine, "TRANSPOSED_MIN_FLOPS", 0)     # dx by a convolution even when small
    monkeypatch.setattr(engine, "TRANSPOSED_MIN_C", 1)
    threads, extra = ("1", dict(MIN_PIECE=10**9)) if split == "whole" else \
        ("3", dict(CHUNK_BYTES=1, MIN_PIECE=1, SMALL_GEMM=3 * wshape[0] * (np.prod(wshape[1:]) + 1),
                   PART_FLOPS=1))
    monkeypatch.setenv("CNNLIB_NUM_THREADS", threads)
    settings(ROW_RUN=0, **extra)
    rng = np.random.default_rng(sum(wshape))
    x, w, b = rng.normal(size=xshape), rng.normal(size=wshape), rng.normal(size=wshape[0])
    dout = rng.normal(size=conv2d(x, w, b, stride, padding).shape)
    dx, dw, db = conv2d_backward(dout, x, w, stride, padding)
    f = lambda: conv2d(x, w, b, stride, padding)
    for got, arr in ((dx, x), (dw, w), (db, b)):
        np.testing.assert_allclose(got, numeric_gradient(f, arr, dout), rtol=1e-6, atol=1e-6)
    dx32, dw32, db32 = conv2d_backward(*(a.astype(np.float32) for a in (dout, x, w)), stride, padding)
    assert dx32.dtype == dw32.dtype == db32.dtype == np.float32
    for got, want in ((dx32, dx), (dw32, dw), (db32, db)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_weight_grad_in_pieces_that_divide_each_image(settings):
    """Pieces never straddle two images (r divides Ho*Wo: 7 x 9 = 63 -> 21 under a limit of 30);
    all ones in, so db counts the outputs and dw the outputs each weight touches."""
    settings(SMALL_GEMM=30 * 4 * 145, MIN_PIECE=1)
    g = Geometry((2, 16, 7, 9), (3, 3), (1, 1), (1, 1), (7, 9))
    dw, db = conv_plans.weight_grad(np.ones((2, 16, 7, 9)), np.ones((2, 4, 7, 9)), g, np.float64)
    np.testing.assert_array_equal(db, np.full(4, 2 * 63.0))
    assert dw[0, 0, 1, 1] == 2 * 63 and dw[0, 0, 0, 0] == 2 * 6 * 8   # corner: a row and a column less


def test_without_small_in_place_products_one_product_per_chunk_on_one_thread(settings, monkeypatch):
    """Where BLAS packs even small matrices, pieces and Python threads would not pay: the plans
    fall back to one product per chunk (BLAS's own threads), with the same results."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    monkeypatch.setattr(conv_plans, "small_products_pay", lambda: False)
    settings()
    plan, _ = plan_for((32, 16, 32, 32), (32, 16, 3, 3), (1, 1), (1, 1))
    assert plan.r == 0 and len(plan.parts) == 1
    images_per_chunk = {}   # whole chunks for BLAS's threads are BLAS_CHUNKS times larger (W3)
    for blas_chunks, layout in ((1, None), (4, None), (1, ImagesPlan), (4, ImagesPlan)):
        settings(BLAS_CHUNKS=blas_chunks, LAYOUT=layout)
        images_per_chunk[blas_chunks, layout] = plan_for((32, 3, 64, 64), (16, 3, 5, 5), (2, 2), (2, 2))[0].nb
    assert images_per_chunk[4, None] == 4 * images_per_chunk[1, None] == 12
    assert images_per_chunk[4, ImagesPlan] == images_per_chunk[1, ImagesPlan]   # its own parts: chunks in L2
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(3, 16, 9, 7)), rng.normal(size=(4, 16, 3, 3)), rng.normal(size=4)
    np.testing.assert_allclose(conv2d(x, w, b, 1, 1), scipy_conv(x, w, b, (1, 1), (1, 1)), atol=1e-10)
    dout = rng.normal(size=(3, 4, 9, 7))
    dw, db = conv_plans.weight_grad(x, dout, Geometry(x.shape, (3, 3), (1, 1), (1, 1), (9, 7)), np.float64)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)))
    np.testing.assert_allclose(dw, conv2d_backward(dout, x, w, 1, 1)[1])


def test_chunks_are_piece_chunks_times_larger_where_products_come_in_pieces(settings, monkeypatch):
    """Where products come in pieces on cnnlib's threads, a chunk's window matrix may hold
    PIECE_CHUNKS times CHUNK_BYTES (fewer NumPy calls per image; NOTES.md: chunks);
    ``ImagesPlan``, with its own parts, keeps chunks of CHUNK_BYTES."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    monkeypatch.setattr(conv_plans, "small_products_pay", lambda: True)
    for piece_chunks in (1, 3):
        for layout, limit in ((ColsPlan, piece_chunks * conv_plans.CHUNK_BYTES), (ImagesPlan, conv_plans.CHUNK_BYTES)):
            settings(PIECE_CHUNKS=piece_chunks, LAYOUT=layout)
            plan = plan_for((32, 16, 32, 32), (32, 16, 3, 3), (1, 1), (1, 1))[0]
            image = plan.per * (plan.Kd + 1) * 4               # one image's window matrix, float32
            assert plan.r >= conv_plans.MIN_PIECE and plan.nb == max(1, limit // image), (layout, piece_chunks)


@pytest.mark.parametrize("split", ["whole", "small"])
def test_columns_products_alone_redo_the_products_of_a_run(settings, monkeypatch, split):
    """``ColsPlan.products`` (the bench's floor) does the products of a ``run`` again, one per
    chunk, on what the run left in each part's window matrix: the same results, bit for bit."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    if split == "small":
        settings(CHUNK_BYTES=1, MIN_PIECE=1, SMALL_GEMM=3 * 4 * 28, PART_FLOPS=1)
    rng = np.random.default_rng(5)
    x, w, b = rng.normal(size=(5, 3, 7, 8)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    plan = ColsPlan(Geometry(x.shape, (3, 3), (1, 1), (1, 1), (7, 8)), 4, np.float64)
    wb = plan.weights(w, b)
    calls = []
    multiply = plan._multiply
    monkeypatch.setattr(plan, "_multiply", lambda *a: calls.append(a[3]) or multiply(*a))
    np.testing.assert_allclose(plan.run(x, wb), scipy_conv(x, w, b, (1, 1), (1, 1)), atol=1e-10)
    outs = list({id(work[2]): work[2] for part in plan.work for work in part}.values())
    kept = [out.copy() for out in outs]
    for out in outs:
        out[...] = np.nan
    ran, calls[:] = list(calls), []
    plan.products(wb)
    assert sorted(calls) == sorted(ran) and len(ran) == (5 if split == "small" else 1)
    for out, k in zip(outs, kept):
        np.testing.assert_array_equal(out, k)


def test_small_products_pay_reads_the_blas_core():
    """True exactly when threadpoolctl reports an OpenBLAS with AVX-512 (SkylakeX-family) kernels."""
    from threadpoolctl import threadpool_info
    archs = {str(lib.get("architecture", "")).lower() for lib in threadpool_info()
             if lib.get("internal_api") == "openblas"}
    expected = bool(archs & {"skylakex", "cooperlake", "sapphirerapids"})
    assert conv_plans.small_products_pay() is expected


def random_geometry(rng, layout):
    """A random, often awkward case for ``layout``: tiny or wide images, 1x1 to 5x4 kernels,
    strides that do not divide, more channels than the other tests use (so runs get long)."""
    n, c, k = int(rng.integers(1, 5)), int(rng.integers(1, 20)), int(rng.integers(1, 6))
    fh, fw = (int(v) for v in rng.integers(1, 6, 2))
    ph, pw = (int(v) for v in rng.integers(0, 3, 2))
    sh = 1 if layout is StripsPlan else int(rng.integers(1, 4))
    sw = int(rng.integers(1, 4))
    h = int(rng.integers(max(1, fh - 2 * ph), 12))
    w = int(rng.integers(max(1, fw - 2 * pw), 12))
    return (n, c, h, w), (k, c, fh, fw), (sh, sw), (ph, pw)


@pytest.mark.parametrize("layout", [RowsPlan, ColsPlan, StripsPlan, ImagesPlan])
def test_random_geometries_in_every_layout(settings, monkeypatch, layout):
    """Thirty random geometries per layout, each cut into parts, chunks and pieces, equal scipy."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "2")
    rng = np.random.default_rng([RowsPlan, ColsPlan, StripsPlan, ImagesPlan].index(layout))
    for _ in range(30):
        xshape, wshape, stride, padding = random_geometry(rng, layout)
        settings(LAYOUT=layout, CHUNK_BYTES=int(rng.integers(1, 5000)), MIN_PIECE=1,
                 SMALL_GEMM=int(rng.integers(1, 4)) * 300 * wshape[0], PART_FLOPS=1)
        x, w, b = rng.normal(size=xshape), rng.normal(size=wshape), rng.normal(size=wshape[0])
        np.testing.assert_allclose(conv2d(x, w, b, stride, padding),
                                   scipy_conv(x, w, b, stride, padding), atol=1e-10,
                                   err_msg=f"{layout.__name__} {xshape} {wshape} {stride} {padding}")


@pytest.mark.parametrize("direction, fast", [("forward", "plans"), ("forward", "images"),
                                             ("forward", "images_inline"), ("forward", "textbook"),
                                             ("backward", "plans"), ("backward", "textbook")])
def test_first_call_times_every_path_and_keeps_the_fastest(monkeypatch, direction, fast):
    """conv2d's (conv2d_backward's) first call for a geometry runs every path (forward: plans,
    images on the threads and inline, textbook; backward: plans, textbook), later calls only
    the fastest; the choice is kept per direction and dtype."""
    import time
    from cnnlib import conv2d_backward_im2col, conv2d_im2col
    calls, clock = {}, [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])   # a clock only the paths move

    def counted(name_of, func):
        def run(*args):
            name = name_of(args)
            calls[name] = calls.get(name, 0) + 1
            clock[0] += 0.0001 if name == fast else 0.0005   # short calls: no warm-up, no settle
            return func(*args)
        return run

    monkeypatch.setattr(engine, "_choices", {})
    monkeypatch.setattr(engine._calibrate, "__defaults__", (3, 3, 0.0))   # three timed rounds
    x, w, b = np.ones((2, 3, 6, 5)), np.ones((4, 3, 3, 3)), np.arange(4.0)
    dout = np.random.default_rng(0).normal(size=(2, 4, 6, 5))
    if direction == "forward":
        kinds = {(ImagesPlan,): "images", (InlineImagesPlan,): "images_inline"}
        monkeypatch.setattr(engine, "forward", counted(lambda args: kinds.get(args[5:], "plans"), forward))
        run = lambda: engine.conv2d(x, w, b, (1, 1), (1, 1), (6, 5), np.float64,
                                    counted(lambda args: "textbook", conv2d_im2col))
        expected = [scipy_conv(x, w, b, (1, 1), (1, 1))]
        names = {"plans", "images", "images_inline", "textbook"}
    else:
        monkeypatch.setattr(engine, "_backward_plans",
                            counted(lambda args: "plans", engine._backward_plans))
        run = lambda: engine.conv2d_backward(dout, x, w, (1, 1), (1, 1), np.float64,
                                             counted(lambda args: "textbook", conv2d_backward_im2col))
        expected = conv2d_backward_im2col(dout, x, w, 1, 1)
        names = {"plans", "textbook"}
    got = run()
    for a, want in zip([got] if direction == "forward" else got, expected):
        np.testing.assert_allclose(a, want)
    assert calls == dict.fromkeys(names, 7)   # a first call, then a pair in each of 3 rounds
    assert engine.path_choice(direction, x.shape, w.shape, 1, 1, np.float64) == fast
    run()
    assert calls == {name: 8 if name == fast else 7 for name in names}
    assert engine.path_choice(direction, x.shape, w.shape, 1, 1, np.float32) is None   # per dtype
    other = "backward" if direction == "forward" else "forward"
    assert engine.path_choice(other, x.shape, w.shape, 1, 1, np.float64) is None


def test_calibration_scores_by_median_so_one_lucky_call_does_not_win(monkeypatch):
    """A path that is slow in most rounds but once very fast loses to a steady one (a best
    time would pick it), and a single disturbed round does not cost the steady path its win."""
    import time
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])   # a clock only the paths move

    def path(durations):
        calls = iter(durations)
        return lambda: clock.__setitem__(0, clock[0] + next(calls))
    pairs = lambda timed: [timed[0]] + [t for x in timed[1:] for t in (x, x)]   # each round: 2 calls
    lucky = path(pairs([0.0006, 0.0006, 0.00001, 0.0006, 0.0006, 0.0006]))   # first call, 5 rounds
    steady = path(pairs([0.0002, 0.0002, 0.0002, 0.0009, 0.0002, 0.0002]))
    choice, _ = engine._calibrate({"lucky": lucky, "steady": steady}, 5, 5, 0.0)
    assert choice == "steady"


def test_calibration_times_a_path_called_again_not_after_another(monkeypatch):
    """A path whose buffers another path pushed out of the caches is slow on its first call
    and fast when called again, as it runs in a loop: it is timed on its second call in a row,
    so it wins against a steady path that is faster than its cold calls only."""
    import time
    clock, before = [0.0], [None]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])

    def path(name, again, cold):
        def run():
            clock[0] += again if before[0] == name else cold
            before[0] = name
        return run
    paths = {"kept": path("kept", 0.0001, 0.0006), "steady": path("steady", 0.0003, 0.0003)}
    assert engine._calibrate(paths, 3, 3, 0.0)[0] == "kept"


def test_calibration_waits_for_idle_threads_after_a_long_call(monkeypatch):
    """After a call of more than SETTLE_AFTER seconds (BLAS's workers may still spin on the
    CPUs), the next path waits for idle threads before it is called; after a short one, not."""
    import time
    clock, events = [0.0], []
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(engine, "settle", lambda: events.append("settle"))
    monkeypatch.setattr(engine, "WARM_UP", 0.0)   # one untimed call each (the warm-up: next test)

    def path(name, seconds):
        def run():
            clock[0] += seconds
            events.append(name)
        return run
    long_call = 2 * engine.SETTLE_AFTER
    engine._calibrate({"long": path("long", long_call), "short": path("short", long_call / 10)}, 2, 2, 0.0)
    # first calls; round 1: long, long, short, short; round 2 (rotated): short, short, long, long
    assert events == ["long", "short", "long", "long", "settle", "short", "short",
                      "short", "short", "long", "long"]


def test_calibration_times_a_long_path_after_calling_it_for_warm_up_seconds(monkeypatch):
    """A long path whose first calls after another path are slow (the kernel runs its two
    threads on one CPU for a while) is called untimed for WARM_UP seconds before its timed
    call, so it wins against a steady path that is faster than its slow calls only. A short
    path (under SETTLE_AFTER) gets one untimed call, as before; with BLAS on one thread (as in
    ``fit``), where the threads were not seen to share a CPU, so does a long one."""
    import time
    clock, before, streak, calls = [0.0], [None], [0], {}
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(engine, "settle", lambda: None)
    monkeypatch.setattr(engine, "blas_threads", lambda: 2)
    slow, fast = 6 * engine.SETTLE_AFTER, 2 * engine.SETTLE_AFTER
    slow_calls = round(0.5 * engine.WARM_UP / slow) + 1     # slow for a third of the warm-up or so

    def stacked():
        streak[0] = streak[0] + 1 if before[0] == "stacked" else 1
        clock[0] += slow if streak[0] <= slow_calls else fast
        before[0] = "stacked"

    def path(name, seconds):
        def run():
            calls[name] = calls.get(name, 0) + 1
            clock[0] += seconds
            before[0] = name
        return run
    paths = {"stacked": stacked, "steady": path("steady", 3 * engine.SETTLE_AFTER)}
    assert engine._calibrate(paths, 3, 3, 0.0)[0] == "stacked"
    monkeypatch.setattr(engine, "blas_threads", lambda: 1)
    assert engine._calibrate(paths, 3, 3, 0.0)[0] == "steady"     # timed on its second call
    monkeypatch.setattr(engine, "blas_threads", lambda: 2)

    calls.clear()
    short = {"a": path("a", engine.SETTLE_AFTER / 2), "b": path("b", engine.SETTLE_AFTER / 4)}
    engine._calibrate(short, 3, 3, 0.0)
    assert calls == {"a": 7, "b": 7}    # a first call, then two in each of three rounds


@pytest.mark.parametrize("layout, busy", [(ImagesPlan, False), (ImagesPlan, True), (InlineImagesPlan, False)])
def test_images_plan_in_parts_or_on_one_thread_gives_the_same_bits(settings, monkeypatch, layout, busy):
    """Small image products run in parts (one per thread), or in turn on a busy machine or in
    ``InlineImagesPlan``: the same products either way, so the same bits, and equal to scipy."""
    monkeypatch.setenv("CNNLIB_NUM_THREADS", "3")
    settings(LAYOUT=layout, CHUNK_BYTES=1)
    rng = np.random.default_rng(11)
    x, w, b = rng.normal(size=(7, 2, 9, 8)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    monkeypatch.setattr(conv_plans, "machine_busy", lambda: busy)
    got = conv2d(x, w, b, (2, 1), (1, 0))
    assert conv_plans._plan(Geometry(x.shape, (3, 2), (2, 1), (1, 0), got.shape[2:]), 3,
                            np.float64).parts == [(0, 2), (2, 4), (4, 7)]
    np.testing.assert_array_equal(got, images_plan_reference(x, w, b, (2, 1), (1, 0)))
    np.testing.assert_allclose(got, scipy_conv(x, w, b, (2, 1), (1, 0)), atol=1e-10)


def images_plan_reference(x, w, b, stride, padding):
    """The images plan on one thread, in one chunk: the reference bits."""
    from cnnlib.engine.window_matrix import clear_cache
    old = conv_plans.CHUNK_BYTES, conv_plans.machine_busy
    conv_plans.CHUNK_BYTES, conv_plans.machine_busy = 10**9, lambda: True
    try:
        clear_cache()
        return conv2d(x, w, b, stride, padding)
    finally:
        conv_plans.CHUNK_BYTES, conv_plans.machine_busy = old
        clear_cache()


def test_first_call_also_times_the_columns_where_the_shape_chose_strips(monkeypatch):
    """Long kernel rows make the plans pick strips (or rows); the calibration then times the
    columns plan as well, and whichever path wins computes the same result."""
    layouts = []

    def recorded(x, w, b, g, dtype, layout=None):
        layouts.append(layout.__name__ if layout else conv_plans.shape_layout(g).__name__)
        return forward(x, w, b, g, dtype, layout)
    monkeypatch.setattr(engine, "_choices", {})
    monkeypatch.setattr(engine, "forward", recorded)
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 16, 6, 5)), rng.normal(size=(4, 16, 3, 3)), rng.normal(size=4)
    from cnnlib import conv2d_im2col
    got = engine.conv2d(x, w, b, (1, 1), (1, 1), (6, 5), np.float64, conv2d_im2col)
    assert {"StripsPlan", "ColsPlan", "ImagesPlan"} <= set(layouts)
    np.testing.assert_allclose(got, scipy_conv(x, w, b, (1, 1), (1, 1)), atol=1e-10)


@pytest.mark.parametrize("value, forced", [("", None), ("plans", "plans"), (" Textbook ", "textbook")])
def test_environment_variable_forces_a_path(monkeypatch, value, forced):
    monkeypatch.setenv("CNNLIB_CONV_PATH", value)
    assert engine._forced_path() == forced


def test_environment_variable_with_an_unknown_path_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CNNLIB_CONV_PATH", "fastest")
    with pytest.raises(ValueError, match=r"CNNLIB_CONV_PATH must be one of plans, textbook.*'fastest'"):
        engine._forced_path()


def test_strips_plan_refuses_a_stride_other_than_1_in_height():
    g = Geometry((2, 3, 9, 9), (3, 3), (2, 1), (0, 0), (4, 7))
    with pytest.raises(ValueError, match=r"^StripsPlan: needs stride 1 in height, got stride \(2, 1\)$"):
        StripsPlan(g, 4, np.float32)
