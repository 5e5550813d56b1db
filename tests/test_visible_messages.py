"""The visible tests (what a student runs) name the mistake of a catalogue entry, not only fail it."""
from __future__ import annotations

import re

import numpy as np
import pytest

from grading_catalogue import WRONG
from grading_catalogue.build import ASSIGNMENT_NAMES

from test_checks import evaluate, visible_results

#: what the 04 visible test and the grader say of two lists taken as two layers (no zip)
NO_ZIP = "takes the two lists as two layers: loop over `zip(kernel_sizes, strides)`"

#: what the 03b visible tests and the grader say of an im2col that calls the notebook's helper
HELPER_CALLED = "`im2col` calls the notebook's helper `im2col_loops`, which is there for the visible tests: write your own"

# entry name -> a phrase its visible test's message must contain
VISIBLE_MESSAGES = {
    "pad: a nested list (.tolist())": "zero_pad returned a list: return a NumPy array",
    # a float in a shape or a count, whole (32775.0) or not (14.5): the floor-division hint
    "shape: true division `/` (no floor)": "use floor division `//` (not `/`), e.g. H_out",
    "local params: H_out with true division `/`": "use floor division `//` (not `/`), e.g. H_out",
    "conv: kernel flipped (true convolution)": "the kernel is flipped",
    "sgd: dW = dscores.T @ x (the shapes do not match)": "dW = x.T @ dscores has the shape of W",
    "conv backward: dx cropped with [P:-P] (empty at padding 0)": "an axis has length 0, with padding 0, a slice "
                                                                  "like `x[P:-P]` is EMPTY",
    "max backward: dx written at [c, n] (image and channel swapped)": "are image/channel pairs mixed up?",
    "max backward: vectorised with (N, C) index arrays (dx[:, :, i*S+m, j*S+l])": "are image/channel pairs mixed up?",
    "single: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "multi: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "max pool: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "max pool: the maximum starts at 0 (best = 0)": "the maximum started at 0 (e.g. `best = 0`",
    "shift: returns x itself when nothing moves (not a new array)": "returned its input `x` itself (or a view of it)",
    "predict scales its input in place (x -= ...)": "your function changed its input `x` in place",
    "sce: dscores not divided by N (the loss is a mean)": "part 1 is wrong: fix softmax_cross_entropy first",
    "sgd: the learning rate is missing": "the learning rate is missing",
    "maximise unit: norm scaled once at the end, not after every step":
        "scale x back to max_norm after every step, not once at the end",
    "receptive field: `for f, s in kernel_sizes, strides` (no zip)": NO_ZIP,
    # code that takes its input for C-ordered memory: the test names the view it was given
    "max pool: as_strided windows with strides from the shape (a view misread)": "a view that is not C-contiguous",
    "conv2d: as_strided on np.pad(x), strides from the shape (Fortran order misread)": "Fortran order",
    # session 25: float64 in, float64 out, and an array (a list has no dtype), as the marking checks
    "im2col: float32 whatever the input (.astype(np.float32))": "has dtype float32, expected float64",
    "1x1: float32 whatever the input (.astype(np.float32))": "has dtype float32, expected float64",
    "sce: dscores float32 whatever the input (.astype(np.float32))": "has dtype float32, expected float64",
    "im2col: a float64 list (.tolist())": "im2col of a float64 x is a list of length 24, not a NumPy array: return a "
                                          "NumPy array with the dtype of the input (float64); a list has no dtype",
    "1x1: a list of the right values": "is a list of length 1, not a NumPy array: return a NumPy array",
    "sce: dscores as a list (.tolist())": "dscores for float64 scores is a list of length 2, not a NumPy array",
    "sce: -log(p_y + 1e-12), a small epsilon in the log":
        "adding a small ε (here 1e-12) caps each example's loss at -log ε ≈ 27.6: use log-softmax",
    "sce: -log(p_y + 1e-8), a small epsilon in the log":
        "adding a small ε (here 1e-8) caps each example's loss at -log ε ≈ 18.4: use log-softmax",
    "sce: each row's mean subtracted, not its maximum": "subtract each row's MAX before np.exp (its mean still "
                                                        "leaves exp(1000) = inf)",
    "maximise unit: the centre at ((H2 - 1) // 2, (W2 - 1) // 2)": "the centre unit is (H2 // 2, W2 // 2); for an "
                                                                  "even H2 that is not (H2 - 1) // 2",
    "conv backward: dw with the kernel axes swapped (square kernels)": "dw has the kernel's two axes swapped",
    "conv backward: db as a mean (dout.mean(axis=(0, 2, 3)))": "db was taken as a mean over positions",
    # session 27: an import in the cell of a function the tested one calls; cnnlib's functions wrapped
    "im2col: an unused `import scipy` in its cell (conv2d_im2col loses it too)":
        "conv2d_im2col calls im2col, whose cell imports scipy before it: at marking that import fails",
    "im2col: `import numpy as np, scipy` in its cell (a comma list)":
        "conv2d_im2col calls im2col, whose cell imports scipy before it: at marking that import fails",
    "sce: an unused `import scipy` above it (sgd_step loses it too)":
        "sgd_step calls softmax_cross_entropy, whose cell imports scipy before it",
    "conv: cnnlib.conv2d_im2col wrapped": "conv2d_im2col uses cnnlib (through `cnnlib`)",
    "sce: cnnlib's cross_entropy and cross_entropy_backward wrapped":
        "softmax_cross_entropy uses cnnlib (through `cross_entropy`)",
    "1x1: cnnlib.conv2d wrapped": "conv1x1 uses cnnlib (through `cnnlib`)",
    "sgd: its own softmax without the row's max (overflows on huge scores)": "its softmax overflowed",
    "sgd: its own softmax, max subtracted, but log of an underflowed p_y (inf loss)":
        "p_y underflowed to 0 before np.log",
    "dilated rf: r += 2 * D * (F // 2) (right for odd F only)": "also for even F",
    # session 28's student trial: told "is your output array an int array?" of a float array
    "avg pool: `//` instead of `/` (sum // (size * size))": "did you divide with `//` instead of `/`",
    "param count: K * C * F * F + C (one bias per input channel)": "one bias per input channel",
    # session 29: where the trial's pre-hand-in check named a mistake, the visible test names it too
    "mlp one bias per input unit": "is 102544, expected 101770: one bias per INPUT unit counted",
    "mlp: counts the input layer's biases": "biases counted for the input layer too",
    "param counts hard-coded with the dense biases missing": "dense_params is 150,528,000: the 1,000 biases are missing",
    "param counts: dense and conv biases both missing": "the 1,000 biases are missing; and conv_params is 1,728, 27 "
                                                         "per filter: the biases are missing",
    "local params: biases shared across positions": "a locally connected layer shares nothing, not even the biases",
    "equivariance: largest difference without abs (np.max(a - b))": "the absolute value is missing",
    "equivariance: each image's largest difference, averaged over the batch":
        "the largest difference of each image was averaged over the images",
    "multi: bias added once per channel": "the bias was added once per channel",
    "multi: built on a conv2d_single that flips the kernel": "it calls your conv2d_single, whose test above fails: "
                                                            "fix conv2d_single first",
    "multi: channels summed before the product (x.sum(0) with w[k].sum(0))":
        "the channels were summed before the product",
    "conv2d: windows start at i, not i*stride": "each window starts at i (and j) instead of i*stride",
    "max pool: stride ignored": "max_pool2d(x, size=3, stride=1) is wrong: the stride argument is ignored",
    "avg pool: stride ignored (windows moved by size)": "avg_pool2d(x, size=3, stride=1) is wrong: the stride "
                                                        "argument is ignored",
    "max pool: default stride 2 instead of stride = size": "stride=None must mean stride = size (here 3), not 2",
    "avg pool: default stride 2 (stride = stride or 2)": "stride=None must mean stride = size (here 3), not 2",
    "max backward: first tied maximum in column-major order (window transposed)":
        "the first tied maximum in COLUMN order (down each column first) got the gradient",
    "avg pool: stride None taken as 1": "avg_pool2d(x) has shape (1, 1, 3, 3), expected (1, 1, 2, 2): stride=None "
                                        "must mean stride = size",
    # session 30: the notebook's loop helpers, called by the graded functions, refuse (the grader's words)
    "im2col and conv return the notebook's loop helpers (im2col_loops, conv2d_loops)": HELPER_CALLED,
    "conv: the notebook's conv2d_loops (its own im2col unused)":
        "`conv2d_im2col` calls the notebook's helper `conv2d_loops`, which is there for the visible tests",
    "im2col: the notebook's im2col_loops under another name (loops = im2col_loops)": HELPER_CALLED,
}

# entry name -> what EVERY failing visible test says first: the student's mistake, not a crash of the
# test's own code (session 25: an input changed in place broke the expected answers computed after the call)
VISIBLE_FIRST = {
    "conv: w reshaped in place (w.shape = (K, -1))": "AssertionError: your function changed its input `w` in place",
    "1x1: b reshaped in place (b.shape = (-1, 1, 1))": "AssertionError: your function changed its input `b` in place",
    "1x1: a list of the right values": "AssertionError: conv1x1 of the chapter's example (float64 inputs) is a list",
    "equivariance: one largest difference per image (an array)": "AssertionError: equivariance_error returned a ndarray of shape (2,)",
    "equivariance: the difference as a str": "AssertionError: equivariance_error returned a str",
}

# entry name -> words its visible message must NOT contain (hints that belong to other notebooks)
VISIBLE_NOT = {
    "sgd: dW = dscores.T @ x (the shapes do not match)": ("kernel", "padd"),
    # the batch is compared with the student's own one-image answer: it is not "expected"
    "max backward: dx written at [c, n] (image and channel swapped)": ("expected",),
    # a correct sgd_step on a part 1 that forgets / N is not blamed for the learning rate
    "sce: dscores not divided by N (the loss is a mean)": ("learning rate",),
    # no slice ending at -P there: the "-0 slice" hint misled (session 26)
    "conv2d: out + b (the bias not put on the filter axis)": ("EMPTY", "-0"),
    "multi: x read as (H, W, C)": ("EMPTY", "-0"),
}


@pytest.mark.parametrize("name", sorted(VISIBLE_MESSAGES))
def test_visible_messages_name_the_mistake(name):
    entry = next(e for e in WRONG if e.name == name)
    results = visible_results(entry.assignment, entry.replacements)
    messages = " ".join(results[g] or "" for g in entry.must_fail)
    assert VISIBLE_MESSAGES[name] in messages, messages


@pytest.mark.parametrize("name", sorted(VISIBLE_FIRST))
def test_visible_tests_name_the_mistake_before_using_the_answer(name):
    entry = next(e for e in WRONG if e.name == name)
    results = visible_results(entry.assignment, entry.replacements)
    for gid in entry.must_fail:
        assert (results[gid] or "").startswith(VISIBLE_FIRST[name]), (gid, results[gid])


def test_a_loss_returned_as_a_list_is_named_not_a_crash():
    """05b: `return [loss], dscores / N` crashed inside numeric_gradient (list - list); the visible
    tests say that the loss must be one number."""
    from grading_catalogue import reference_sources
    sources = dict(reference_sources("05b_learning"))
    old = "return float(loss), dscores / N"
    assert old in sources["softmax_cross_entropy"]
    sources["softmax_cross_entropy"] = sources["softmax_cross_entropy"].replace(old, "return [loss], dscores / N")
    results = visible_results("05b_learning", sources)
    assert results["test_softmax_cross_entropy"].startswith(
        "AssertionError: softmax_cross_entropy returned the loss as a list: it must be one number (a float), "
        "not a list"), results
    assert results["test_sgd_step"].startswith("AssertionError: part 1 is wrong: fix softmax_cross_entropy first"), results
    sources = dict(reference_sources("05b_learning"))   # part 1 right, the step's loss in a list
    old = "return W - lr * dW, b - lr * db, loss"
    assert old in sources["sgd_step"]
    sources["sgd_step"] = sources["sgd_step"].replace(old, "return W - lr * dW, b - lr * db, [loss]")
    results = visible_results("05b_learning", sources)
    assert results["test_softmax_cross_entropy"] is None, results
    assert results["test_sgd_step"].startswith(
        "AssertionError: sgd_step returned the loss as a list: it must be one number (a float)"), results


#: a loop over whichever of H_out and W_out is fewer, vectorised along the other (session 25): it
#: runs 1 and 3 times on the marking's thin cases, where CPU time cannot tell it from one product
MIN_LOOP = """
from numpy.lib.stride_tricks import sliding_window_view


def im2col(x, Fh, Fw, stride, padding):
    N, C, H, W = x.shape
    p = padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho = (H + 2 * p - Fh) // stride + 1
    Wo = (W + 2 * p - Fw) // stride + 1
    cols = np.empty((N, Ho, Wo, C, Fh, Fw), dtype=x.dtype)
    if Ho <= Wo:
        for i in range(Ho):
            win = sliding_window_view(xp[:, :, i*stride:i*stride+Fh, :], Fw, axis=3)[:, :, :, ::stride]
            cols[:, i] = win.transpose(0, 3, 1, 2, 4)
    else:
        for j in range(Wo):
            win = sliding_window_view(xp[:, :, :, j*stride:j*stride+Fw], Fh, axis=2)[:, :, ::stride]
            cols[:, :, j] = win.transpose(0, 2, 1, 4, 3)
    return cols.reshape(N * Ho * Wo, C * Fh * Fw)
"""


def test_a_loop_over_the_fewer_of_rows_and_columns_fails_the_visible_line_count():
    """03b: the visible test's square case (100 x 100 positions) makes that loop run 100 times; the
    message names the positions of the case that failed."""
    from grading_catalogue import reference_sources
    sources = dict(reference_sources("03b_im2col"), im2col=MIN_LOOP)
    results = visible_results("03b_im2col", sources)
    assert results["test_im2col"] is None and results["test_conv2d_im2col"] is None, results
    message = results["test_conv2d_im2col_one_product"]
    assert message and "for x of shape (1, 2, 101, 101) (10,000 output positions)" in message, message
    assert "(or their rows, or their columns)" in message, message


@pytest.mark.parametrize("name", sorted(VISIBLE_NOT))
def test_visible_messages_fit_the_notebook(name):
    entry = next(e for e in WRONG if e.name == name)
    results = visible_results(entry.assignment, entry.replacements)
    messages = " ".join(results[g] or "" for g in entry.must_fail)
    assert messages and not any(word in messages for word in VISIBLE_NOT[name]), messages


# entry name -> a phrase the grader's (and the pre-hand-in check's) message must contain
GRADER_MESSAGES = {
    "conv backward: dx cropped with [P:-P] (empty at padding 0)": "dx_pad[:, :, P:-P, P:-P] is EMPTY",
    "single: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "multi: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "max pool: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "max pool: the maximum starts at 0 (best = 0)": "the maximum started at 0 (e.g. `best = 0`",
    "shift: returns x itself when nothing moves (not a new array)": "returned its input `x` itself (or a view of it)",
    "predict scales its input in place (x -= ...)": "your function changed its input `x` in place",
    "maximise unit: norm scaled once at the end, not after every step":
        "scale x back to max_norm after every step, not once at the end",
    "receptive field: `for f, s in kernel_sizes, strides` (no zip)": NO_ZIP,
    "im2col: as_strided on np.pad(x), strides from the shape (Fortran order misread)":
        "the values were read as if `x` were one C-ordered block of memory",
    "conv backward: dw from as_strided on np.pad(x), strides from the shape":
        "the values were read as if `x` were one C-ordered block of memory",
    # session 25: the epsilon inside the log
    "sce: -log(p_y + 1e-12), a small epsilon in the log":
        "adding a small ε (here 1e-12) caps each example's loss at -log ε ≈ 27.6: use log-softmax",
    "sce: -log(p_y + 1e-8), a small epsilon in the log":
        "adding a small ε (here 1e-8) caps each example's loss at -log ε ≈ 18.4: use log-softmax",
    "maximise unit: the centre at ((H2 - 1) // 2, (W2 - 1) // 2)": "the centre unit is (H2 // 2, W2 // 2); for an "
                                                                  "even H2 that is not (H2 - 1) // 2",
    "conv backward: dw with the kernel axes swapped (square kernels)": "dw has the kernel's two axes swapped",
    # an exception: the case's label says what x was
    "1x1: x.view() with .shape set (fails on a view with a step)":
        "x is a view with a step (x[:, :, ::2, ::2] of a larger array)",
    "im2col and conv return the notebook's loop helpers (im2col_loops, conv2d_loops)": HELPER_CALLED,
    "im2col: the notebook's im2col_loops under another name (loops = im2col_loops)": HELPER_CALLED,
}


@pytest.mark.parametrize("name", sorted(GRADER_MESSAGES))
def test_grader_messages_name_the_mistake(name):
    entry = next(e for e in WRONG if e.name == name)
    messages = " ".join(m for m in evaluate(entry.assignment, entry.replacements).values() if m)
    assert GRADER_MESSAGES[name] in messages, messages


# ----------------------------------------------------------------------------- the helpers' hints
def _helpers(assignment: str) -> dict:
    """The namespace of a solution notebook's locked helper cell, and its source under "__source__"."""
    import nbformat
    from grading_catalogue.build import ROOT
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "helpers")
    ns: dict = {"__source__": source}
    exec(source, ns)
    return ns


def _helpers_source(assignment: str) -> str:
    import nbformat
    from grading_catalogue.build import ROOT
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "helpers")


def _markdown(assignment: str) -> str:
    import nbformat
    from grading_catalogue.build import ROOT
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return " ".join(c.source for c in nb.cells if c.cell_type == "markdown")


#: what Python says for a float used as a size or an index, and for a failed unpacking
CLASSIC_ERRORS = {"float size": TypeError("'float' object cannot be interpreted as an integer"),
                  "float index": IndexError("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis "
                                            "(`None`) and integer or boolean arrays are valid indices"),
                  # a float ARRAY as an index, e.g. np.arange(N) with N = scores.size / M
                  "float array index": IndexError("arrays used as indices must be of integer (or boolean) type"),
                  "unpacking": ValueError("not enough values to unpack (expected 4, got 2)"),
                  # e.g. x.reshape(N, C * F * F) on an array of another size
                  "reshape": ValueError("cannot reshape array of size 48 into shape (2,27)")}


def _axis_names(text: str) -> set[str]:
    """The axis and size names a text uses: N, C, H, W, K, Fh, H_out, K1 ..."""
    return set(re.findall(r"\b(?:[A-Z][a-z0-9]?|[A-Z]\w*_\w+)\b", text))


@pytest.mark.parametrize("assignment", ASSIGNMENT_NAMES)
def test_classic_hints_speak_of_the_notebooks_own_arrays(assignment):
    """The hints for a float size, a failed unpacking and a failed reshape name only the axes
    and sizes this notebook's tasks use: no (N, C, H, W) or H_out formula in a notebook of
    dense layers."""
    ns = _helpers(assignment)
    own = _axis_names(_markdown(assignment))
    for what, exc in CLASSIC_ERRORS.items():
        hint = ns["classic_cause"](exc, "", [])
        assert hint, (assignment, what)
        assert ("floor division `//`" in hint) == what.startswith("float"), (assignment, what, hint)
        assert ("reshape keeps every value" in hint) == (what == "reshape"), (assignment, what, hint)
        foreign = _axis_names(hint) - own
        assert not foreign, f"{assignment}: the {what} hint names {sorted(foreign)}, not used by its tasks: {hint}"


def test_classic_hints_are_one_function_in_every_notebook():
    """classic_cause is the same code in every notebook; only the constants above it differ."""
    sources = {}
    for assignment in ASSIGNMENT_NAMES:
        source = _helpers(assignment)["__source__"]
        sources[assignment] = source[source.index("def classic_cause"):]
        for name in ("SHAPE_CAUSES", "EMPTY_SLICE", "WHOLE_SIZES", "UNPACKING"):
            assert re.search(rf"^{name} = ", source, re.M), (assignment, name)
    assert len(set(sources.values())) == 1, sorted(sources)


@pytest.mark.parametrize("assignment", ASSIGNMENT_NAMES)
def test_complex_numbers_fail_the_visible_tests_as_they_fail_the_marking(assignment):
    """An FFT convolution returns complex numbers: the marking refuses them (a float dtype is
    expected), so expect_equal must too, not drop the imaginary part and pass."""
    expect_equal = _helpers(assignment)["expect_equal"]
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    expect_equal(expected.copy(), expected, "f(x)")
    for got in (expected + 0j, [1 + 0j, 2.0], np.complex64(3)):
        with pytest.raises(AssertionError, match=r"f\(x\) returned complex numbers"):
            expect_equal(got, expected, "f(x)")


def test_a_failed_unpacking_of_a_layer_names_the_layers_lengths():
    """01b: unpacking every layer as a conv layer fails on ("dense", 10); the visible test says why,
    in the notebook's terms (no `x.shape`: 01b has no arrays)."""
    from grading_catalogue import reference_sources
    sources = dict(reference_sources("01b_pipeline_shapes"))
    old = '    kind = layer[0]\n    if kind == "conv":\n        _, K, Fh, Fw, _, _ = layer\n'
    assert old in sources["layer_param_count"]
    sources["layer_param_count"] = sources["layer_param_count"].replace(
        old, '    kind, K, Fh, Fw, _, _ = layer\n    if kind == "conv":\n')
    message = visible_results("01b_pipeline_shapes", sources)["test_layer_param_count"]
    assert "values to unpack" in message and "look at `layer[0]` before unpacking" in message, message
    assert "x.shape" not in message and "H_out" not in message, message


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENT_NAMES if "def expect_dtype" in _helpers_source(a)])
def test_expect_dtype_refuses_what_is_not_an_array(assignment):
    """expect_dtype fails a list, a tuple, None or an array subclass, as the marking does (a list has
    no dtype), and passes an ndarray of the dtype."""
    expect_dtype = _helpers(assignment)["expect_dtype"]
    expect_dtype(np.zeros(3, dtype=np.float32), np.float32, "f(x)")
    for got, kind in [([1.0, 2.0], "a list of length 2"), ((1.0,), "a tuple of length 1"), (None, "None"),
                      (np.float64(1.0), "a float64"), (np.asmatrix(np.zeros((2, 2))), "a matrix")]:
        with pytest.raises(AssertionError, match=re.escape(f"f(x) is {kind}, not a NumPy array: return a NumPy array "
                                                           "with the dtype of the input (float64); a list has no dtype")):
            expect_dtype(got, np.float64, "f(x)")
    with pytest.raises(AssertionError, match=r"f\(x\) has dtype float32, expected float64"):
        expect_dtype(np.zeros(3, dtype=np.float32), np.float64, "f(x)")
