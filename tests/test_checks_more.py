"""The checks of the assignments added with issue 14: what their references rest on, and
messages that name the mistake (the catalogue itself runs in tests/test_checks.py and
tests/test_grading_e2e.py with every other assignment)."""
from __future__ import annotations

import re

import nbformat
import numpy as np
import pytest

import cnnlib
from grading.checks import CHECKS, Variant, a02_convolution, a03b_im2col, a05a_one_by_one, a05b_learning, array_check, run_case
from grading_catalogue import WRONG
from grading_catalogue.build import ROOT

from test_checks import _text, evaluate

_B = "01b_pipeline_shapes"


def test_learning_references_match_numerical_gradients():
    rng = np.random.default_rng(0)
    for case in CHECKS["test_softmax_cross_entropy"].make_cases(rng):
        scores, y = case.args
        if np.abs(scores).max() > 50:
            continue   # centred differences lose their digits on huge scores
        s = np.array(scores, dtype=np.float64)
        num = cnnlib.numeric_gradient(lambda z: cnnlib.cross_entropy(z, y), s)
        assert np.allclose(case.expected[1], num, atol=1e-7), case.label
    for case in CHECKS["test_sgd_step"].make_cases(rng):
        W, b, x, y, lr = (np.array(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                          else a for a in case.args)
        W_new, b_new, _ = case.expected
        if np.abs(x @ W + b).max() > 50:
            continue   # centred differences lose their digits on huge scores
        dW = cnnlib.numeric_gradient(lambda v: cnnlib.cross_entropy(x @ v + b, y), W)
        db = cnnlib.numeric_gradient(lambda v: cnnlib.cross_entropy(x @ W + v, y), b)
        assert np.allclose(W_new, W - lr * dW, atol=1e-6), case.label
        assert np.allclose(b_new, b - lr * db, atol=1e-6), case.label


def test_huge_scores_have_a_finite_reference():
    for case in CHECKS["test_softmax_cross_entropy"].make_cases(np.random.default_rng(1)):
        loss, dscores = case.expected
        assert np.isfinite(loss) and np.all(np.isfinite(dscores)), case.label
    assert a05b_learning.reference(np.array([[0.0, 900.0]]), np.array([0]))[0] == pytest.approx(900.0)


def test_im2col_reference_is_the_loop_over_windows():
    rng = np.random.default_rng(2)
    for N, C, H, W, Fh, Fw, S, P in [(2, 3, 5, 7, 3, 2, 2, 1), (1, 2, 6, 4, 1, 3, 3, 0), (3, 1, 4, 4, 4, 4, 1, 2)]:
        x = rng.normal(size=(N, C, H, W))
        xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
        Ho, Wo = (H + 2 * P - Fh) // S + 1, (W + 2 * P - Fw) // S + 1
        rows = [xp[n, :, i * S:i * S + Fh, j * S:j * S + Fw].ravel()
                for n in range(N) for i in range(Ho) for j in range(Wo)]
        assert np.array_equal(a03b_im2col.im2col_ref(x, Fh, Fw, S, P), np.array(rows))
        w, b = rng.normal(size=(4, C, Fh, Fw)), rng.normal(size=4)
        y = a03b_im2col.im2col_ref(x, Fh, Fw, S, P) @ w.reshape(4, -1).T + b
        assert np.allclose(y.reshape(N, Ho, Wo, 4).transpose(0, 3, 1, 2), cnnlib.conv2d(x, w, b, stride=S, padding=P))


def test_one_product_cases_are_large_in_one_direction_each():
    cases = CHECKS["test_conv2d_im2col_one_product"].make_cases(np.random.default_rng(0))
    assert CHECKS["test_conv2d_im2col_one_product"].timeout == a03b_im2col.ONE_PRODUCT_SECONDS
    shapes = sorted(case.expected.shape[2:] for case in cases)
    n = a03b_im2col.ONE_PRODUCT_POSITIONS
    assert shapes == [(3, 4), (3, n["rows"] // 3), (n["column"], 1)]
    small = next(case for case in cases if case.expected.shape[2:] == (3, 4))
    assert small.expected.shape[:2] == (2, 2) and small.args[0].shape[1] == 3   # N = K = 2, C = 3


def test_no_big_one_product_case_looks_like_a_special_case():
    """A loop with a fast path for 1x1 kernels, C = 1, or stride 1 with no padding (session 24's
    audit) loops on both big cases: each has C = 2, a kernel of two pixels and a stride or padding;
    x is at most 64 MB, the most the jail sends back to compare with the input."""
    for seed in range(5):
        big = [c for c in CHECKS["test_conv2d_im2col_one_product"].make_cases(np.random.default_rng(seed))
               if c.expected.size >= min(a03b_im2col.ONE_PRODUCT_POSITIONS.values())]
        assert len(big) == 2
        for case in big:
            x, w, _ = case.args
            assert x.shape[1] == w.shape[1] == 2 and w.shape[2] * w.shape[3] == 2, (seed, w.shape)
            assert (case.kwargs["stride"], case.kwargs["padding"]) != (1, 0), (seed, case.kwargs)
            assert x.nbytes <= 64 * 2**20   # exchange.MAX_ARRAY_BYTES: x comes back to be compared


def test_one_product_texts_name_the_grader_constants():
    """03b's Task, Marking text and visible test say how many positions and seconds the marking
    gives: the grader's constants, in words ("six million", "2 s"), wherever they appear."""
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 8: "eight", 10: "ten"}
    nb = nbformat.read(ROOT / "solutions" / "03b_im2col" / "03b_im2col.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    seconds = f"{a03b_im2col.ONE_PRODUCT_SECONDS:g}"
    counts = a03b_im2col.ONE_PRODUCT_POSITIONS
    assert all(n % 10**6 == 0 for n in counts.values())
    said = " ".join(text.split())
    column, rows = (f"{words[counts[k] // 10**6]} million" for k in ("column", "rows"))
    assert said.count(f"{column} output positions in one column") == 1
    assert said.count(f"{rows} in three rows") == 2
    assert said.count(f"{column.split()[0]} to {rows} positions") == 1
    rest = said.replace(column, "").replace(rows, "").replace(f"{column.split()[0]} to ", "")
    assert not re.search(r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten) million", rest)
    assert {m for m in re.findall(r"(\d+) s(?:econds)? of (?:CPU|computing) time for both|"
                                   r"million positions(?: get)? (\d+) s", text) for m in m if m} == {seconds}


#: a kernel size called F, where 03b's kernels have two sides, Fh and Fw
BARE_F = re.compile(r"(?<![\w'])F(?![\w'])")


def _im2col_texts():
    """03b's texts for the student: the markdown cells, the helpers' hints, and the marking's
    messages for wrong shapes and for the known mistakes of a convolution."""
    nb = nbformat.read(ROOT / "solutions" / "03b_im2col" / "03b_im2col.ipynb", as_version=4)
    texts = [c.source for c in nb.cells if c.cell_type == "markdown"
             or c.metadata.get("nbgrader", {}).get("grade_id") == "helpers"]
    rng = np.random.default_rng(0)
    for gid in ("test_im2col", "test_conv2d_im2col"):
        for case in CHECKS[gid].make_cases(rng):
            rows = np.shape(case.expected)[0]
            texts += [case.check(np.zeros((rows + 1, 1))), case.check(np.zeros((rows, 1, 1, 1)))]
    x, w, b = rng.normal(size=(1, 2, 6, 7)), rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3)
    texts += [v.message for v in a03b_im2col.conv_variants(x, w, b, 2, 1)]
    return texts


def test_im2col_texts_name_the_kernel_sides_fh_and_fw():
    """03b's kernels are not square: its texts, hints and messages say Fh and Fw, never F."""
    texts = _im2col_texts()
    assert any("Fh" in t for t in texts) and any("ceil instead of floor" in t for t in texts)
    with_f = [t[max(m.start() - 60, 0):m.end() + 20] for t in texts for m in BARE_F.finditer(t)]
    assert not with_f, with_f


def test_weight_sharing_operations_in_the_notebook_equal_the_checks():
    import nbformat
    from grading.checks import a01c_weight_sharing as a01c
    from grading_catalogue.build import ROOT
    nb = nbformat.read(ROOT / "solutions" / "01c_weight_sharing" / "01c_weight_sharing.ipynb", as_version=4)
    ns = {}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in ("helpers", "operations"):
            exec(cell.source, ns)
    x = a01c.bordered(np.random.default_rng(0), 2, 3, 5, 6, 3)
    assert sorted(ns["OPERATIONS"]) == sorted(a01c.OPERATIONS)
    for name, op in a01c.OPERATIONS.items():
        assert np.array_equal(ns["OPERATIONS"][name](x), op(x)), name


def test_the_network_of_the_predict_check_is_the_notebooks_make_model():
    """06's check runs the weights of the student's `model` in its own copy of make_model: the
    notebook's given make_model builds the same layers (from one seed, the same outputs)."""
    from grading.checks import a06_backprop
    nb = nbformat.read(ROOT / "solutions" / "06_backprop" / "06_backprop.ipynb", as_version=4)
    ns = {"np": np}
    exec(next(c.source for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") == "digits_and_network"), ns)
    theirs, ours = ns["make_model"](np.random.default_rng(3)), a06_backprop.make_model(np.random.default_rng(3))
    assert [repr(layer) for layer in theirs] == [repr(layer) for layer in ours]
    x = np.random.default_rng(4).random((5, 1, 8, 8)).astype(np.float32)
    assert np.array_equal(theirs.forward(x), ours.forward(x))


def test_the_predict_check_runs_the_network_it_is_sent():
    """predict's labels alone do not pass: the weights sent with them must be make_model's, and
    that network, run by the grader, must reach the accuracy too."""
    from grading.checks import a06_backprop
    (case,) = a06_backprop.predict_cases(np.random.default_rng(0))
    labels = case.expected
    untrained = [p.value for p in a06_backprop.make_model(np.random.default_rng(1)).parameters()]
    assert "variable named `model`" in case.check((labels, None))
    assert "not the network of make_model" in case.check((labels, untrained[:2]))
    assert "not the network of make_model" in case.check((labels, [w.T for w in untrained]))
    assert "not the network of make_model" in case.check((labels, "weights"))
    msg = case.check((labels, untrained))
    assert msg.startswith("`model` holds an untrained network (0."), msg
    assert "needed" not in msg and "0.80" not in msg, "the case's label states the target, once"
    assert "graded_predictions returned" in case.check(labels)
    assert "accuracy 0." in case.check((np.zeros_like(labels), untrained))


def test_the_visible_predict_test_gives_the_checks_accuracy_hints():
    """Below the accuracy, 06's visible test and its check give the same hint for the same numbers:
    the notebook holds the three hints of accuracy_hint, word for word, and its rule."""
    from grading.checks import a06_backprop
    nb = nbformat.read(ROOT / "solutions" / "06_backprop" / "06_backprop.ipynb", as_version=4)
    test = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_predict")
    hints = {a06_backprop.accuracy_hint(*numbers) for numbers in
             [(0.736, 0.821, 0.976), (0.428, 0.428, 0.862), (0.604, 0.604, 0.94), (0.719, 0.719, 0.964)]}
    assert len(hints) == 3
    for hint in hints:
        assert f'hint = "{hint}"' in test, hint
    assert "if acc < own - 0.05:" in test and "elif own < 0.55 and unmoved >= 0.85:" in test


def test_local_operations_commute_exactly_and_the_others_do_not():
    from grading.checks import a01c_weight_sharing as a01c
    x = a01c.bordered(np.random.default_rng(1), 2, 2, 6, 7, 5)
    errors = {name: a01c.error_ref(op, x, 2, -3) for name, op in a01c.OPERATIONS.items()}
    assert errors["conv3x3"] == errors["relu"] == errors["max3x3"] == 0.0
    assert errors["plus_one"] == 1.0
    assert errors["mirror"] > 0.1 and errors["times_column"] > 0.1
    # the running sum: the largest row total moved left, exactly 0 moved right; the only
    # operation whose error changes when the move is reversed
    assert errors["running_sum"] == pytest.approx(np.max(np.abs(x.sum(axis=3))))
    assert a01c.error_ref(a01c.OPERATIONS["running_sum"], x, -2, 3) == 0.0
    same = [name for name, op in a01c.OPERATIONS.items() if a01c.error_ref(op, x, -2, 3) == errors[name]]
    assert same == [name for name in a01c.OPERATIONS if name != "running_sum"]


def test_the_mirror_and_column_weight_errors_are_large_and_x_plus_one_differs_in_few_pixels():
    """01c says the mirror image and the column weight "give large values" (the Exercises page:
    they commute "not at all"): each error is at least half the image's largest value. Its visible
    test's hint for x + 1 says "most differences here are 0, only the pixels that moved in differ
    by 1": counted on that test's image and move."""
    from grading.checks import a01c_weight_sharing as a01c
    for seed in range(3):
        x = a01c.bordered(np.random.default_rng(seed), 2, 2, 6, 7, 5)
        for name in ("mirror", "times_column"):
            assert a01c.error_ref(a01c.OPERATIONS[name], x, 2, -3) >= 0.5 * np.abs(x).max(), (seed, name)
    x = np.zeros((2, 3, 11, 12))
    x[:, :, 4:7, 4:8] = np.random.default_rng(1).normal(size=(2, 3, 3, 4))
    plus_one = a01c.OPERATIONS["plus_one"]
    diff = np.abs(plus_one(a01c.shift_ref(x, 1, 2)) - a01c.shift_ref(plus_one(x), 1, 2))
    assert set(np.unique(diff)) == {0.0, 1.0} and np.mean(diff == 0) > 0.5, np.mean(diff == 0)
    text = _text("01c_weight_sharing")
    assert "The mirror image and the column weight give large values" in text
    assert "most differences here are 0, only the pixels that moved in differ by 1" in text
    assert "not at all for a mirror image" in " ".join((ROOT / "book" / "exercises.md").read_text().split())


def test_the_one_product_text_says_only_what_the_catalogue_shows():
    """03b and the Exercises page say one matrix product meets the time of the one-product test and
    a Python loop over the positions (or their rows) does not: the catalogue holds such loops, in
    im2col and in conv2d_im2col, that must fail exactly that test (test_wrong_entry_...)."""
    loops = {e.name for e in WRONG if e.assignment == "03b_im2col" and e.must_fail == {"test_conv2d_im2col_one_product"}}
    assert {"im2col: a Python loop over the output positions",
            "conv: a Python loop over the output rows, one product per row"} <= loops, loops
    assert ("one matrix product fits in that time; a Python loop over the positions, or over the rows of "
            "positions, does not") in _text("03b_im2col")
    page = " ".join((ROOT / "book" / "exercises.md").read_text().split())
    assert "which one matrix product meets and a Python loop over the positions does not" in page


def test_one_by_one_worked_examples_are_the_chapters():
    """05a's worked examples name the chapter's bottleneck (C = K = 128 through K_mid = 32, 16x16,
    F = 3), "3.6 times as many" multiply-adds for a single 3x3 layer, and the chapter's digits CNN
    whose first layer "outputs 32 maps of 8x8" on "a batch of 32 digits"."""
    import sys
    sys.path.insert(0, str(ROOT / "book"))
    import figures
    chapter = (ROOT / "book" / "07b_one_by_one.md").read_text()
    assert "C_in, K_out, K_mid, side = 128, 128, 32, 16" in chapter
    text = _text("05a_one_by_one")
    single = cnnlib.conv_param_count(128, 128, 3), 16 * 16 * 128 * 9 * 128
    bottleneck = (cnnlib.conv_param_count(128, 32, 1) + cnnlib.conv_param_count(32, 128, 3),
                  16 * 16 * 32 * 128 + 16 * 16 * 128 * 9 * 32)
    assert f"`({bottleneck[0]}, {bottleneck[1]})`" in text
    assert (f"would have {single[0]:,} parameters and do {single[1]:,} multiply-adds: "
            f"{single[1] / bottleneck[1]:.1f} times as many") in text
    model = cnnlib.lenet_digits(rng=np.random.default_rng(0))
    outputs = model.intermediates(np.zeros((figures.DIGITS_BATCH, 1, 8, 8), np.float32))
    first, last = outputs[0][1].shape, outputs[-1][1].shape
    assert f"on a batch of {figures.DIGITS_BATCH} digits in float32" in text
    assert f"Its first layer outputs {first[1]} maps of {first[2]}×{first[3]}" in text
    assert f"Its last layer outputs {last[1]} scores" in text


def test_one_by_one_references_rest_on_the_book():
    """conv1x1 is a dense layer per pixel; the costs are those of cnnlib layers; the bytes are what
    the digits CNN's activations take; the receptive field is the one measured by backpropagation."""
    from grading.checks import a05a_one_by_one as a05a
    rng = np.random.default_rng(5)
    for case in CHECKS["test_conv1x1"].make_cases(rng):
        x, w, b = (np.asarray(a, dtype=np.float64) for a in case.args)
        N, C, H, W = x.shape
        dense = cnnlib.dense_forward(x.transpose(0, 2, 3, 1).reshape(-1, C), w[:, :, 0, 0].T, b)
        assert np.allclose(dense.reshape(N, H, W, -1).transpose(0, 3, 1, 2), case.expected), case.label
    for case in CHECKS["test_bottleneck_cost"].make_cases(rng):
        C, K_mid, K, F, H, W = case.args
        if H * W * max(C, K_mid, K) > 200_000:
            continue
        model = cnnlib.Sequential(cnnlib.Conv2D(C, K_mid, 1), cnnlib.ReLU(),
                                  cnnlib.Conv2D(K_mid, K, F, padding=(F - 1) // 2))
        out = model(np.zeros((1, C, H, W), np.float32))
        assert out.shape == (1, K, H, W), case.label
        assert case.expected[0] == sum(p.value.size for p in model.parameters()), case.label
    assert a05a.bottleneck_ref(128, 32, 128, 3, 16, 16) == (41120, 10485760)   # the chapter's table
    digits = cnnlib.lenet_digits(rng=np.random.default_rng(0))
    outputs = digits.intermediates(np.zeros((32, 1, 8, 8), np.float32))
    assert tuple(out.shape[1:] for _, out in outputs) == a05a.LENET_SHAPES
    assert a05a.bytes_ref(a05a.LENET_SHAPES, 32, "float32") == [out.nbytes for _, out in outputs]
    for case in CHECKS["test_dilated_receptive_field"].make_cases(rng):
        assert case.expected == _measured_receptive_field(*case.args), case.label


def _measured_receptive_field(sizes, dilations):
    """Width of the input region that a gradient of 1 from the last layer's single unit reaches (the
    chapter's measurement: cnnlib.conv2d_backward through kernels of ones with zeros between taps)."""
    kernels = []
    for F, D in zip(sizes, dilations):
        k = np.zeros((1, 1, D * (F - 1) + 1, D * (F - 1) + 1))
        k[..., ::D, ::D] = 1.0
        kernels.append(k)
    side = sum(k.shape[-1] - 1 for k in kernels) + 1
    shapes = [(1, 1, side, 1)]
    for k in kernels:
        shapes.append((1, 1, shapes[-1][2] - k.shape[2] + 1, 1))
    dout = np.ones(shapes[-1])
    for k, shape in zip(kernels[::-1], shapes[-2::-1]):
        dout, _, _ = cnnlib.conv2d_backward(dout, np.zeros(shape), k[..., :, :1])
    reached = np.flatnonzero(dout[0, 0, :, 0])      # with holes inside when every dilation is 2
    return int(reached[-1] - reached[0] + 1)


MESSAGES = {
    # a float in a shape or a count, whole (32775.0) or not (14.5): the floor-division hint
    "shape: true division `/` (no floor)": "(floor division `//`?)",
    "local params: H_out with true division `/`": "(floor division `//`?)",
    "1x1: product rows reshaped straight to (N, K, H, W)": "reshaped straight",
    "1x1: x reshaped to (N*H*W, C) without moving the channels": "x.transpose(0, 2, 3, 1)",
    "1x1: float64 output for float32 inputs (np.zeros)": "float32 in, float32 out",
    "bottleneck: the F x F layer over C channels": "K_mid channels",
    "bottleneck: valid padding ((H - F + 1)(W - F + 1) positions)": "'same' padding",
    "bytes: batch size N forgotten": "ONE image",
    "bytes: the total instead of a list": "one number per layer",
    "dilated rf: dilations multiplied like strides": "like strides",
    "dilated rf: a dilated kernel spans D * F": "not D F",
    "shift: np.roll wraps around": "np.roll",
    "multi: b added without its filter axis (out + b)": "out + b[:, None, None]",
    "shift: returns x itself when nothing moves (not a new array)": "returned its input `x` itself",
    "maximise unit: scaled to max_norm after every step, also when smaller": "only when its norm is LARGER",
    "maximise unit: momentum 0.5 (v = 0.5 * v + lr * g)": "WITH MOMENTUM (v = 0.5 * v + lr * g",
    "1x1: a list of the right values": "return a NumPy array with the dtype of the input (float64)",
    "sce: log of p_y clipped at 1e-300 (not log-softmax)": "the clip (np.log(np.clip(p, 1e-300, None)))",
    "pad: x itself when the padding is 0 (not a new array)": "returned its input `x` itself",
    "maximise unit: two steps too many (range(steps + 2))": "the image of too many steps",
    "equivariance: compared with the unshifted output (invariance)": "invariance",
    "equivariance: both sides moved the other way, (-dy, -dx)": "the error of the move the other way",
    "shift: direction reversed": "the error of the move the other way",
    "local params: one filter per input pixel (H * W)": "one filter per OUTPUT position",
    "shape: a conv layer keeps the input's channels": "one map per FILTER",
    "shape: flatten drops the batch axis": "batch axis N is missing",
    "shape: ceil instead of floor": "ceil instead of floor",
    "shape: square kernels assumed (Fh for both sides)": "taken as square",
    "params: conv biases forgotten": "biases are missing",
    "params: counted per image (times N)": "do not depend on the batch size",
    "im2col: columns in (Fh, Fw, C) order": "(Fh, Fw, C) order",
    "im2col: transposed (one column per window, as in CS231n)": "transposed",
    "conv: Y reshaped straight to (N, K, H_out, W_out)": "reshaped straight",
    "conv: a Python loop over the output rows, one product per row": "no Python loop over positions",
    "conv: float64 output for float32 inputs (np.empty)": "float32 in, float32 out",
    "sce: loss summed over the batch, not averaged": "MEAN over the batch",
    "sce: unstable softmax (no maximum subtracted)": "NaN",
    "sce: 1 not subtracted at the true class": "not subtracted at the true class",
    "sce: float64 gradient for float32 scores (np.zeros)": "float32 in, float32 out",
    "sgd: the step goes up the gradient": "UP the gradient",
    "sgd: W and b mutated in place (W -= ...)": "in place",
    "sgd: db not summed over the batch": "summed over the batch",
    "sgd: returns the loss after the step": "BEFORE the step",
    "sce: each row's mean subtracted, not its maximum": "subtract each row's MAX",
    "predict: nearest of the moved test digits, no network": "in a variable named `model`",
    "predict: nearest of the moved training digits; `model` untrained": "`model` holds an untrained network",
    "predict: raw scores averaged over the nine moves, 8 epochs": "the extra step in predict loses accuracy",
    "`model` = a fresh make_model after training `net`": "do not call make_model again after training",
    "plain SGD, one epoch, no moved copies": "train with moved copies of the training digits",
    "fit in a loop without optimizer=, 5 epochs with moved copies": "fit without optimizer= starts a new Adam each call",
    "predict: nearest of the moved training digits; `model` of other layers": "is not the network of make_model",
    # session 30: wrong answers that got full marks
    "maximise unit: the centre found as (H - 4) // 2 (3x3 kernels only)": "the centre for two 3x3 convolutions only",
    "conv backward: signature (dout, x, w, padding=0, stride=1)": "stride and padding were swapped",
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_messages_name_the_mistake(name):
    entry = next(e for e in WRONG if e.name == name)
    results = evaluate(entry.assignment, entry.replacements)
    messages = " ".join(m for m in results.values() if m)
    assert MESSAGES[name] in messages, messages


def test_a_shift_that_changes_x_is_named_in_the_equivariance_check():
    """01c's check calls the student's equivariance_error (and so their shift) through a locked
    wrapper: a shift that writes into x is named, not taken for an invariance mistake."""
    entry = next(e for e in WRONG if e.name.startswith("shift: moves the image inside x"))
    message = evaluate(entry.assignment, entry.replacements)["test_equivariance_error"]
    cases = [line for line in message.splitlines()[1:] if not line.startswith("- ... and")]
    assert cases and all("`x` holds the moved image" in c and "or by your shift (then its own test fails too)" in c
                         for c in cases), message
    assert "invariance" not in message and "equivariance_error_of" not in message, message
    assert message.startswith("equivariance_error: "), message


def test_the_untouched_equivariance_error_is_named_not_its_wrapper():
    """The check's target is the locked wrapper equivariance_error_of; its messages name the
    function the student writes (Check.shown)."""
    message = evaluate("01c_weight_sharing", {})["test_equivariance_error"]
    assert message.startswith("equivariance_error: 11 of 11 checks failed"), message
    assert "`equivariance_error` is not implemented yet" in message and "equivariance_error_of" not in message


def test_a_change_of_x_that_is_not_a_shift_names_both_functions():
    from grading.checks import a01c_weight_sharing as a01c
    case = CHECKS["test_equivariance_error"].make_cases(np.random.default_rng(0))[0]
    name, x, dy, dx = case.args
    assert a01c.changed_x(case, [name, x.copy(), dy, dx], {}) is None
    assert "by your shift" in a01c.changed_x(case, [name, a01c.shift_ref(x, -dy, -dx), dy, dx], {})
    other = a01c.changed_x(case, [name, 2 * x, dy, dx], {})
    assert "your equivariance_error and your shift must not write into x" in other, other


def test_an_object_the_jail_could_not_send_is_named_by_its_type():
    """The jail sends a stand-in for an object that is not a plain value; the learner reads its
    type (a generator, their own class), not the stand-in's."""
    from grading.checks._core import to_array
    from grading.exchange import UnsupportedValue
    _, message = to_array(UnsupportedValue("generator"))
    assert "returned a generator object" in message and "UnsupportedValue" not in message


def test_a_stopped_function_says_the_later_checks_never_ran():
    """'1 of 10 checks failed' for a function that looped at the first read as 9 passed."""
    from types import SimpleNamespace
    from grading.checks._core import verdict
    cases = [SimpleNamespace(label=f"case {i}") for i in range(10)]
    passed, message = verdict("max_pool2d", cases, ["timed out after 10 s"])
    assert not passed and message.splitlines()[0] == (
        "max_pool2d: 1 of 10 checks failed; the other 9 were not run (the function was stopped)")
    assert verdict("max_pool2d", cases, [None] * 9 + ["wrong"])[1].splitlines()[0] == \
        "max_pool2d: 1 of 10 checks failed"


def _layers_given(case):
    """(kind, container) of every layer a 01b case sends."""
    layers = case.args[1] if isinstance(case.args[1][0], (list, tuple)) else [case.args[1]]
    return {(layer[0], type(layer)) for layer in layers}


@pytest.mark.parametrize("grade_id", ["test_layer_output_shape", "test_layer_param_count", "test_pipeline_summary"])
def test_every_layer_kind_comes_as_a_tuple_and_as_a_list_in_every_draw(grade_id):
    """A `layer == ("relu",)` that fails on lists is caught whatever the seed (it was 81 in 200)."""
    kinds = {"conv", "relu", "maxpool", "flatten", "dense"}
    for seed in range(30):
        given = set().union(*(_layers_given(c) for c in CHECKS[grade_id].make_cases(np.random.default_rng(seed))))
        assert {(k, t) for k in kinds for t in (tuple, list)} <= given, (seed, sorted(given, key=str))


# entry -> the kinds of layer whose shape or count its pipeline_summary gets wrong on the right input:
# the grader's messages name no other layer (session 28's student trial: a right pooling after a
# conv layer with ceil was told "ceil instead of floor", a right flatten after a pooling with `/`
# "floor division", a right conv count on the wrong channels of a conv before it "the input
# channels are missing")
SUMMARY_BLAMES = {
    "shape: ceil instead of floor": {"conv"},
    "shape: padding counted once": {"conv"},
    "shape: a conv layer keeps the input's channels": {"conv"},
    "shape: true division `/` (no floor)": {"conv"},
    "shape: square kernels assumed (Fh for both sides)": {"conv"},
    "shape: pooling stride ignored (H // size)": {"maxpool"},
    "shape: pooling as (H - size + 1) // stride": {"maxpool"},
    "shape: pooling with true division `/` (the flatten after it is right)": {"maxpool"},
    "shape: conv with ceil, -(-n // S), and pooling stride ignored (two layers wrong)": {"conv", "maxpool"},
    "summary: counted on the output shape, with pooling stride ignored too": {"conv", "maxpool", "dense"},
    "summary: ReLU and pooling assumed to keep the shape": {"maxpool"},
}


@pytest.mark.parametrize("name", sorted(SUMMARY_BLAMES))
def test_the_summary_check_names_only_the_layers_that_are_wrong(name):
    """A layer whose rule is right on the shape it was given is not blamed for the wrong shape an
    earlier layer gave it; a hint the grader gives is about a layer that is wrong."""
    entry = next(e for e in WRONG if e.name == name)
    for seed in (0, 1, 2):
        message = evaluate(entry.assignment, entry.replacements, seed=seed)["test_pipeline_summary"]
        named = set(re.findall(r"layer \d+ \((\w+)", message))
        assert named and named <= SUMMARY_BLAMES[name], (seed, message)


def test_a_right_layer_after_a_wrong_one_gets_no_hint():
    """The trial's cases, message by message: the first wrong layer is named with its mistake; the
    right pooling after it is not called "ceil instead of floor", the right flatten after a pooling
    with `/` gets no floor division hint, and a second wrong layer is named on the shape it got."""
    by_name = {e.name: e for e in WRONG}
    ceil = evaluate(_B, by_name["shape: ceil instead of floor"].replacements)["test_pipeline_summary"]
    assert ("the shape after layer 3 (conv 12 filters 3x3, stride 2, padding 1) is (3, 12, 7, 5), expected "
            "(3, 12, 6, 5): ceil instead of floor") in ceil, ceil
    assert not re.search(r"layer \d+ \((maxpool|relu)", ceil), ceil
    pool = evaluate(_B, by_name["shape: pooling with true division `/` (the flatten after it is right)"].replacements)
    assert ("the shape after layer 5 (maxpool 3x3, stride 2) is (3, 12, 2.5, 2), expected (3, 12, 2, 2): sizes and "
            "counts are whole numbers") in pool["test_pipeline_summary"], pool
    assert not re.search(r"layer \d+ \((flatten|dense)", pool["test_pipeline_summary"]), pool
    both = evaluate(_B, by_name["shape: conv with ceil, -(-n // S), and pooling stride ignored (two layers wrong)"]
                    .replacements)["test_pipeline_summary"]
    assert ("the shape after layer 5 (maxpool 3x3, stride 2), given the shape (3, 12, 7, 5) your list has after "
            "layer 4, is (3, 12, 2, 1), expected (3, 12, 3, 2)") in both, both
    assert all(re.search(r"layer \d+ \(conv", part) for part in re.split(r"; |\n", both) if "ceil" in part), both


def test_the_summary_check_never_passes_a_wrong_list_and_passes_the_right_one_in_any_container():
    from grading.checks.a01b_pipeline_shapes import BOOK_NET, summary, summary_check
    expected = summary((2, 1, 8, 8), BOOK_NET)
    check = summary_check((2, 1, 8, 8), BOOK_NET, expected)
    assert check(expected) is None
    assert check(tuple([list(s), float(n)] for s, n in expected)) is None
    assert check([(np.array(s), np.int64(n)) for s, n in expected]) is None
    wrong = [list(pair) for pair in expected]
    wrong[4] = [(2, 1000), 0]                       # a wrong flatten, then a dense layer right on it
    wrong[5] = [(2, 10), 1000 * 10 + 10]
    message = check(wrong)
    assert message.startswith("the shape after layer 4 (flatten) is (2, 1000), expected (2, 1024)"), message
    assert "layer 5" not in message, message
    wrong[5] = [(2, 10), 123]                       # wrong on its own input too: named, on that input
    assert "the parameters of layer 5 (dense to 10), given the shape (2, 1000) your list has after layer 4, is " \
           "123, expected 10010" in check(wrong)
    for garbage in (None, "x", [None] * 6, [((2, 8, 8, 8), 80)] * 6, [[(), ()]] * 6, [((2, 8, 8, 8), 80, 1)] * 6):
        assert check(garbage), garbage


def test_a_wrong_count_or_shape_given_as_floats_gets_the_floor_division_hint():
    """12.5 * 9.5 * 276 is the whole 32775.0: the float, not its fraction, tells of a `/`."""
    from grading.checks._extra import count_check, int_tuple_check
    assert "floor division" in count_check(29808)(32775.0)
    assert "floor division" in int_tuple_check((4, 16, 14, 11))((4.0, 16.0, 15.0, 12.0))
    assert "floor division" in int_tuple_check((4, 16, 14, 11))((4, 16, 14.5, 11.5))
    assert "floor division" not in count_check(29808)(32775)
    assert count_check(29808)(29808.0) is None


def test_a_shape_of_bools_is_refused_where_1_is_expected():
    """True == 1 in Python: (True, 3, 4, 4) passed for (1, 3, 4, 4); a count refused a bool already."""
    from grading.checks._extra import int_tuple_check
    check = int_tuple_check((1, 3, 4, 4))
    for got in ((True, 3, 4, 4), [np.True_, 3, 4, 4], np.array([True, True, True, True])):
        assert "True or False" in check(got), got
    assert check((1, 3, 4, 4)) is None and check(np.array([1, 3, 4, 4])) is None


def test_one_hidden_check_is_singular():
    from grading.checks._core import summary
    assert summary("f", [], 1) == "f: the grader's check passed"
    assert summary("f", [], 3) == "f: all 3 of the grader's checks passed"
    assert summary("f", ["- a: wrong"], 1).startswith("f: 1 of 1 check failed\n")
    assert "the other one was not run" in summary("f", ["- a: wrong"], 2, not_run=1)


@pytest.mark.parametrize("grade_id, target", [("test_receptive_field", "receptive_field"),
                                              ("test_dilated_receptive_field", "dilated_receptive_field")])
def test_a_call_in_a_message_shows_its_arguments_as_given(grade_id, target):
    """An array is shown as np.array([...]), a tuple as (...): shown as a list, a call of the
    04 student's code gave the right answer (the bug was `[1] + array`, adding elementwise)."""
    opening = {np.ndarray: f"{target}(np.array([", tuple: f"{target}((", list: f"{target}(["}
    seen = set()
    for case in CHECKS[grade_id].make_cases(np.random.default_rng(0)):
        kind = type(case.args[0])
        seen.add(kind)
        assert opening[kind] in case.check(-1), (kind, case.check(-1))
    assert seen >= {tuple, list}


def _in_float32(fn):
    """`fn` computed in float32: float inputs cast down, the result cast back to the inputs' dtype."""
    def wrapped(*args, **kwargs):
        dtype = next(a.dtype for a in args if isinstance(a, np.ndarray))
        down = lambda a: a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
        out = fn(*map(down, args), **{k: down(v) for k, v in kwargs.items()})
        back = lambda o: np.asarray(o).astype(dtype) if np.ndim(o) else float(o)   # a loss stays a number
        return tuple(map(back, out)) if isinstance(out, tuple) else back(out)
    return wrapped


#: the checks whose values are sums, and a reference for each
SUMS = {"test_dense_forward": cnnlib.dense_forward, "test_conv2d_multi": a02_convolution.conv_multi_ref,
        "test_conv2d": cnnlib.conv2d, "test_conv2d_im2col": cnnlib.conv2d, "test_conv1x1": a05a_one_by_one.conv1x1_ref,
        "test_avg_pool2d": cnnlib.avg_pool2d, "test_conv2d_backward": cnnlib.conv2d_backward,
        "test_softmax_cross_entropy": a05b_learning.reference,
        "test_sgd_step": lambda W, b, x, y, lr: a05b_learning.sgd_reference(W, b, x, y, lr)[:3]}


@pytest.mark.parametrize("grade_id", sorted(SUMS))
def test_float32_arithmetic_passes_whatever_the_seed(grade_id):
    """The Marking texts allow float32 arithmetic; before session 24 the reference computed in float32
    failed conv2d_backward on 12 seeds in 100 (a cancelling dw off by 2e-6). The tolerance now grows
    with each value's sum of |terms| (array_check's magnitude): 20 seeds pass (200 did when measured)."""
    check = CHECKS[grade_id]
    fn = _in_float32(SUMS[grade_id])
    for seed in range(20):
        for case in check.make_cases(np.random.default_rng(seed)):
            assert run_case(check, case, {check.target: fn}) is None, (seed, case.label)


def test_a_value_off_by_one_term_fails_despite_the_float32_tolerance():
    """The float32 allowance is a hundred-thousandth of the terms' magnitudes: one term of a
    hundred (a window left out of a sum) is a thousand times more."""
    x, W, b = np.random.default_rng(0).normal(size=(4, 100)), np.ones((100, 3)), np.zeros(3)
    check = array_check(x @ W + b, magnitude=np.abs(x) @ np.abs(W) + np.abs(b))
    assert check((x @ W + b).astype(np.float32)) is None
    assert check(x[:, 1:] @ W[1:] + b) is not None


def test_a_known_mistake_of_another_shape_is_named_with_a_per_value_tolerance():
    """With `magnitude` the tolerance is an array of the expected shape; a variant of another shape
    (a transposed answer) is still recognised by its values."""
    expected = np.arange(6.0).reshape(2, 3)
    check = array_check(expected, magnitude=np.ones((2, 3)), variants=[Variant("transposed", expected.T)])
    assert "transposed" in check(expected.T)


# ----------------------------------------------------------------------------- session 26
def test_an_equivariance_error_that_stores_the_moved_image_in_x_is_not_blamed_on_shift():
    """Found by a student trial (session 26): a correct shift, and an equivariance_error that computes
    the right value, then does `x[...] = shift(x, dy, dx)`. The grader sees only x before and after
    (it cannot call shift alone): it names both functions, not `shift` alone; the visible test calls
    the student's shift alone on a copy, and names equivariance_error."""
    from grading_catalogue import reference_sources
    from test_checks import visible_results
    sources = dict(reference_sources("01c_weight_sharing"))
    sources["equivariance_error"] = """
def equivariance_error(op, x, dy, dx):
    r = float(np.max(np.abs(op(shift(x, dy, dx)) - shift(op(x), dy, dx))))
    x[...] = shift(x, dy, dx)
    return r
"""
    graded = evaluate("01c_weight_sharing", sources)
    assert graded["test_shift"] is None, graded
    message = graded["test_equivariance_error"]
    assert message and "by your equivariance_error (e.g. `x[...] = shift(x, dy, dx)`)" in message, message
    assert "your function `shift` changed" not in message, message
    visible = visible_results("01c_weight_sharing", sources)
    assert visible["test_shift"] is None, visible
    assert "your equivariance_error wrote into x" in (visible["test_equivariance_error"] or ""), visible
    # a shift that writes into x is the one the visible test names
    entry = next(e for e in WRONG if e.name.startswith("shift: moves the image inside x"))
    visible = visible_results(entry.assignment, entry.replacements)
    assert "your shift changes its input x in place" in (visible["test_equivariance_error"] or ""), visible



def test_a_step_on_huge_scores_that_overflows_is_told_so():
    """05b (session 27's trial): an sgd_step with its own softmax, no row max subtracted, passed
    every case; on the huge-scores case it gives NaN, and the message names the overflow."""
    entry = next(e for e in WRONG if e.name.startswith("sgd: its own softmax without the row's max"))
    message = evaluate(entry.assignment, entry.replacements)["test_sgd_step"]
    assert message and "1 of" in message and "its softmax overflowed (np.exp(1000) is inf)" in message, message
    case = next(c for c in CHECKS["test_sgd_step"].make_cases(np.random.default_rng(3)) if "huge" in c.label)
    W, b, x, y, lr = case.args
    assert np.abs(x @ W + b).max() > 710 and case.check(case.expected) is None   # exp overflows; the reference passes


def test_a_step_whose_loss_alone_is_infinite_is_not_told_to_subtract_the_max():
    """The reviewer's student subtracts each row's max but takes -np.log(p[y]): on huge scores
    p_y underflows to 0, the loss is inf, the step finite. "Subtract the max" (which they do)
    was the message for 232 of 300 seeds, and the other 68 gave full credit; every seed must
    now fail it, naming the log of an underflowed p_y."""
    def sgd_step(W, b, x, y, lr):
        s = x @ W + b
        e = np.exp(s - s.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        N = len(y)
        with np.errstate(divide="ignore"):
            loss = -np.mean(np.log(p[np.arange(N), y]))
        d = p.copy()
        d[np.arange(N), y] -= 1
        d /= N
        return W - lr * (x.T @ d), b - lr * d.sum(0), loss

    for seed in range(20):   # every seed: the case puts one true class at least 800 below its row's best
        case = next(c for c in CHECKS["test_sgd_step"].make_cases(np.random.default_rng(seed)) if "huge" in c.label)
        got = sgd_step(*case.args)
        assert not np.isfinite(got[2]) and np.all(np.isfinite(got[0])) and np.all(np.isfinite(got[1])), seed
        message = case.check(got)
        assert "p_y underflowed to 0 before np.log" in message and "softmax overflowed" not in message, message


@pytest.mark.sandbox
def test_a_callers_name_error_names_the_cell_stopped_at_an_import(tmp_path):
    """At marking, an unused `import scipy` stops im2col's cell: conv2d_im2col then raises
    NameError on every case. Its message says which cell stopped and why, and its check gets the
    blocked import's flag too (session 27: only the stopped cell's own check had it)."""
    from grading.checks import ASSIGNMENTS
    from grading.preflight import student_code_cells
    from grading.sandbox import SandboxUnavailable, probe, run_checks
    from grading_catalogue import build_submission
    try:
        probe()
    except SandboxUnavailable as exc:
        pytest.skip(f"needs the grading jail: {exc}")
    entry = next(e for e in WRONG if e.name.startswith("im2col: an unused `import scipy`"))
    nb = build_submission(entry.assignment, entry.replacements)
    verdicts = run_checks([c.source for c in student_code_cells(nb)], tmp_path, ASSIGNMENTS[entry.assignment], 0)
    assert not any(v.passed for v in verdicts.values()), verdicts
    for gid in ("test_conv2d_im2col", "test_conv2d_im2col_one_product"):
        v = verdicts[gid]
        assert ("raised NameError: name 'im2col' is not defined (the cell defining `im2col` stopped: import of "
                "scipy is not allowed)") in v.message, v.message
        assert "import of reference blocked: scipy" in v.flags, v.flags


def test_only_a_name_that_a_stopped_cell_defines_is_blamed_on_its_import():
    """The rule behind the message above, without the jail: the name must be one the cell binds
    (def, class, assignment, and since session 30 an import's own name too: a function that reads
    `correlate2d`, which a refused `from scipy.signal import correlate2d` was to bind, fails
    because of that import, and its message says so), and the cell must have stopped with a
    refused import."""
    from grading.sandbox import _stopped_definer
    code = ["import scipy\ndef im2col(x):\n    return x\n", "from scipy.signal import correlate2d\n",
            "def other(x):\n    return x\n"]
    cells = [{"status": "error", "blocked": ["scipy"]}, {"status": "error", "blocked": ["scipy.signal"]},
             {"status": "ok", "blocked": []}]
    raised = lambda name: {"status": "raised", "type": "NameError", "error": f"name '{name}' is not defined"}
    assert _stopped_definer(raised("im2col"), code, cells) == ("im2col", {"scipy"})
    assert _stopped_definer(raised("correlate2d"), code, cells) == ("correlate2d", {"scipy.signal"})
    assert _stopped_definer(raised("other"), code, cells) is None
    assert _stopped_definer({"status": "raised", "type": "TypeError", "error": "name 'im2col' is not defined"},
                            code, cells) is None
    assert _stopped_definer(raised("im2col"), code, [dict(cells[0], blocked=[]), *cells[1:]]) is None


def _fixed_cases(grade_id, seeds=(0, 1, 2)):
    """The cases of a check that do not depend on the rng: the same shapes and the same other
    arguments for every seed (their values may be drawn), as dicts of named arguments."""
    check = CHECKS[grade_id]
    draws = [check.make_cases(np.random.default_rng(s)) for s in seeds]

    def key(case):
        named = dict(zip(check.params, case.args))
        named.update(case.kwargs)
        return {k: (np.shape(v) if isinstance(v, np.ndarray) else v) for k, v in named.items()}

    return [key(cases[0]) for cases in zip(*draws) if all(key(c) == key(cases[0]) for c in cases)]


def test_the_fixed_conv2d_cases_cover_strides_paddings_and_kernel_shapes():
    """Session 30's mutation trial: a stride-1 shortcut with F = Fh for both sides passed whenever the
    random shapes drew square kernels, as every fixed stride-1 case had; the fixed cases alone must
    hold each kind of case."""
    seen = set()
    for a in _fixed_cases("test_conv2d"):
        (_, _, H, W), (_, _, Fh, Fw) = a["x"], a["w"]
        S, P = a.get("stride", 1), a.get("padding", 0)
        seen |= {("stride", S == 1), ("padding", P == 0), ("image square", H == W),
                 ("kernel square at stride 1" if S == 1 else "kernel square at stride > 1", Fh == Fw)}
    for what in ("stride", "padding", "image square", "kernel square at stride 1", "kernel square at stride > 1"):
        assert {(what, True), (what, False)} <= seen, what


@pytest.mark.parametrize("grade_id", ["test_max_pool2d", "test_avg_pool2d", "test_max_pool2d_backward"])
def test_the_fixed_pooling_cases_cover_tiling_windows_on_non_square_batches(grade_id):
    """Session 30's mutation trial: a fast path for windows that tile the input, with n = H // size for
    both axes, got full marks: the only tiling case was the square 4x4 worked example (N = C = 1)."""
    seen = set()
    for a in _fixed_cases(grade_id):
        N, C, H, W = a["x"]
        size = a.get("size", 2)
        stride = size if a.get("stride") is None else a["stride"]
        tiles = stride == size and H % size == 0 and W % size == 0
        seen |= {("tiling", tiles), ("square", H == W), ("N = 1", N == 1), ("C = 1", C == 1)}
        if tiles and H != W:
            seen |= {("tiling non-square, N or C > 1", N > 1 or C > 1), ("tiling non-square, N > 1 and C > 1", N > 1 and C > 1)}
    for what in ("tiling", "square", "N = 1", "C = 1"):
        assert {(what, True), (what, False)} <= seen, what
    assert ("tiling non-square, N > 1 and C > 1", True) in seen


def test_the_long_shifts_go_in_all_four_directions():
    """Before session 30 every move longer than the image went down or left."""
    cases = [c for c in CHECKS["test_shift"].make_cases(np.random.default_rng(0))]
    long = {(int(np.sign(dy)), 0) if abs(dy) > x.shape[2] else (0, int(np.sign(dx)))
            for x, dy, dx in (c.args for c in cases) if abs(dy) > x.shape[2] or abs(dx) > x.shape[3]}
    assert {(1, 0), (-1, 0), (0, 1), (0, -1)} <= long, long


def _reference_signatures() -> dict:
    """(assignment, function name) -> (parameter names, those with a default), from the reference
    solutions' source."""
    import ast
    from grading_catalogue.build import ASSIGNMENT_NAMES, reference_sources
    found = {}
    for assignment in ASSIGNMENT_NAMES:
        for source in reference_sources(assignment).values():
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef):
                    names = [a.arg for a in node.args.args]
                    found[assignment, node.name] = (names, names[len(names) - len(node.args.defaults):])
    return found


def test_every_default_of_a_graded_signature_is_left_to_it_once_and_given_by_position_once():
    """Session 31's machine-made mutants: every case gave maximise_unit all nine arguments, so a
    default of lr=1.1, of 31 steps, or no defaults at all got full marks. For every graded
    function, some case leaves each default argument to the signature, and some case gives it
    by position (session 30: stride and padding swapped in a signature passed every call that
    named them)."""
    signatures = _reference_signatures()
    by_function: dict = {}
    for check in CHECKS.values():
        for name in {check.target, check.shown}:
            if (check.assignment, name) in signatures:
                by_function.setdefault((check.assignment, name), []).extend(
                    check.make_cases(np.random.default_rng(0)))
    assert {name for _, name in by_function} >= {"conv2d", "maximise_unit", "max_pool2d", "conv2d_backward"}
    gaps = []
    for key, cases in by_function.items():
        names, with_default = signatures[key]
        for p in with_default:
            i = names.index(p)
            if not any(p not in case.kwargs and len(case.args) <= i for case in cases):
                gaps.append(f"{key}: no case leaves {p} to its default")
            if not any(len(case.args) > i for case in cases):
                gaps.append(f"{key}: no case gives {p} by position")
    assert not gaps, gaps
