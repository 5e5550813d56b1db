"""06_backprop: conv2d_backward and a trained digit classifier graded on held-back digits.

The classifier task: the notebook trains a small cnnlib network on the TRAINING split of
``cnnlib.load_digits()`` and defines ``predict(x) -> labels``. At grading time the trusted
process takes the TEST split (which the notebook is told not to train on), moves every digit
by up to one pixel in each direction (zeros move in) and adds Gaussian noise, with a fresh
random generator, and shuffles them: the exact images graded on, and their order, exist nowhere
before grading. The network passes when it labels at least ``ACCURACY`` of them correctly.

The check calls ``graded_predictions(x)``, a function of the notebook's locked cell, which returns
``predict(x)`` and the weights of the notebook's ``model`` as plain arrays (objects do not travel
from the jail); its messages name ``predict`` (``shown``). In the trusted process the labels must
reach ``ACCURACY``, the weights must fit this module's copy of ``make_model`` (a test holds it
equal to the notebook's), and that network, run here by ``cnnlib.predict`` on the same images,
must reach ``ACCURACY`` too: a ``predict`` that is no network (a nearest-neighbour look-up over
moved digits scores above 0.9) fails. Below ``ACCURACY``, the message gives that network's
accuracy on the same digits and on the unmoved test digits, and what they suggest
(``accuracy_hint``). A student who redefines ``graded_predictions`` changes only what is sent; a
pass still needs weights that were trained.
"""
from functools import lru_cache

import numpy as np

import cnnlib

from ._conv import out_size, random_conv_shape, shape_label
from ._core import Case, Check, Variant, array_check, describe, fmt_num, never_raises, to_array, tuple_check
from ._extra import call_args, swapped
from ._layout import fortran, fortran_label, misread_padded, misread_variants, step_label, step_view

ASSIGNMENT = "06_backprop"

ACCURACY = 0.80      # required on the moved, noisy held-back digits
NOISE = 0.05         # standard deviation of the added noise (pixels are in [0, 1])
DRAWS = 3            # each held-back digit moved this many times: a steadier accuracy (the
                     # reference network's spread over seeds: sd 0.010 with one copy, 0.007 with 3)


# --------------------------------------------------------------------------- conv2d_backward
def backward_loops(dout, x, w, stride, padding, assign=False):
    """Loop backward used to build known-wrong answers: returns (dx, dw). `assign` writes dx with
    `=` instead of `+=`; the windows start every `stride` pixels (pass 1 for "stride ignored")."""
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    Ho, Wo = dout.shape[2:]
    p = padding
    xp = np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (p, p), (p, p)))
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                r, q = i * stride, j * stride
                contrib = np.tensordot(dout[n, :, i, j], w, axes=(0, 0))   # (C, Fh, Fw)
                dw += np.multiply.outer(dout[n, :, i, j], xp[n, :, r:r + Fh, q:q + Fw])
                if assign:
                    dxp[n, :, r:r + Fh, q:q + Fw] = contrib
                else:
                    dxp[n, :, r:r + Fh, q:q + Fw] += contrib
    return dxp[:, :, p:p + H, p:p + W], dw


#: db as a mean (the visible test's worked example names it too)
DB_MEAN = "db was taken as a mean over positions; it must be the sum of dout over (N, H_out, W_out)"
#: dw with its kernel axes swapped (session 25), in the visible test's words too
DW_SWAPPED = ("dw has the kernel's two axes swapped (each dw[k, c] is transposed): dw[k, c, p, q] "
              "belongs to w[k, c, p, q], kernel row p, kernel column q")


#: a signature (dout, x, w, padding=0, stride=1) passes every call that names its arguments (session 30)
SWAPPED = swapped("stride", "padding", "conv2d_backward(dout, x, w, stride=1, padding=0)")


def _backward_case(label, dout, x, w, stride=1, padding=0, defaults=False, by_position=False):
    """A call with stride and padding as keywords, left to the defaults, or by position (both)."""
    dx, dw, db = cnnlib.conv2d_backward_im2col(dout, x, w, stride=stride, padding=padding)
    N, C, H, W = x.shape
    K = w.shape[0]
    dx_variants = [
        Variant("dx still has the padding: return dx_pad[:, :, P:P+H, P:P+W]",
                shape=(N, C, H + 2 * padding, W + 2 * padding)),
        Variant("the kernel was flipped for dx. In the scatter view (this task's), each window sends "
                "dout * w back as it is: dx_pad[window] += dout * w, no flip. The flip belongs to the "
                "other view, dx as one full convolution of dout with w (chapter 11, Putting it together)",
                cnnlib.conv2d_backward_im2col(dout, x, w[:, :, ::-1, ::-1].copy(), stride=stride, padding=padding)[0]),
        Variant("dx was divided by N: the gradient of the batch is a sum, not a mean", dx / N if N > 1 else None),
        Variant("with padding 0, a crop like dx_pad[:, :, P:-P, P:-P] is EMPTY (-0 is 0): "
                "return dx_pad[:, :, P:P+H, P:P+W]", shape=(N, C, 0, 0) if padding == 0 else None),
    ]
    if (stride < w.shape[2] or stride < w.shape[3]) and (dout.shape[2] > 1 or dout.shape[3] > 1):
        dx_variants.insert(0, Variant("`=` instead of `+=`: where windows overlap, every window adds its share",
                                      backward_loops(dout, x, w, stride, padding, assign=True)[0]))
    at_i = backward_loops(dout, x, w, 1, padding) if stride > 1 else (None, None)
    dx_variants.append(Variant("the stride is ignored: the window of output (i, j) starts at (i*stride, j*stride)",
                               at_i[0]))
    dw_variants = misread_variants("x", x, lambda: cnnlib.conv2d_backward_im2col(
        dout, misread_padded(x, padding), w, stride=stride)[1]) + [
        Variant("the stride is ignored: the window of output (i, j) starts at (i*stride, j*stride)", at_i[1]),
        Variant("dw was divided by N: the gradient of the batch is a sum, not a mean", dw / N if N > 1 else None),
        Variant("dw is flipped: dw[k] = sum over windows of dout * window, no flip",
                dw[:, :, ::-1, ::-1]),
        # session 25: the kernel axes swapped got only "dw is wrong"
        Variant(DW_SWAPPED, dw.transpose(0, 1, 3, 2) if w.shape[2] == w.shape[3] else None,
                shape=(K, C, w.shape[3], w.shape[2]) if w.shape[2] != w.shape[3] else None),
        Variant("dw ignores the padding: take the windows of the padded x",
                cnnlib.conv2d_backward_im2col(dout, x, w, stride=stride, padding=0)[1]
                if padding and out_size(H, w.shape[2], 0, stride) == dout.shape[2]
                and out_size(W, w.shape[3], 0, stride) == dout.shape[3] else None),
    ]
    db_variants = [
        Variant("db must be summed over the batch and both spatial axes: dout.sum(axis=(0, 2, 3))",
                shape=(N, K)),
        Variant("db must be summed over the batch too: dout.sum(axis=(0, 2, 3))", shape=(K, dout.shape[2], dout.shape[3])),
        Variant("db was divided by N: the gradient of the batch is a sum, not a mean", db / N if N > 1 else None),
        Variant(DB_MEAN, dout.mean(axis=(0, 2, 3))),
    ]

    if by_position and stride > padding:
        # read the other way round, the windows start every `padding` pixels of x padded by `stride`:
        # they fit, so a loop body gives these gradients (a stride larger than the padding)
        swapped_dx, swapped_dw = backward_loops(dout, x, w, padding, stride)
        dx_variants.insert(0, Variant(SWAPPED, swapped_dx))
        dw_variants.insert(0, Variant("stride and padding were swapped, as for dx", swapped_dw))

    def keep(vs):
        return [v for v in vs if v.value is not None or v.shape is not None]

    # each gradient's sum of |terms|: a float32 computation passes (see array_check)
    mag_dx, mag_dw, mag_db = cnnlib.conv2d_backward_im2col(np.abs(dout), np.abs(x), np.abs(w), stride=stride, padding=padding)
    check = tuple_check([
        ("dx", array_check(dx, what="dx", variants=keep(dx_variants), shape_hint="dx has the shape of x",
                           dtype=x.dtype, magnitude=mag_dx)),
        ("dw", array_check(dw, what="dw", variants=keep(dw_variants), shape_hint="dw has the shape of w",
                           dtype=x.dtype, magnitude=mag_dw)),
        ("db", array_check(db, what="db", variants=keep(db_variants), shape_hint="db has shape (K,)",
                           dtype=x.dtype, magnitude=mag_db)),
    ], what="conv2d_backward")
    how = "defaults" if defaults else "position" if by_position else "keywords"
    args, kwargs = call_args((dout, x, w), {"stride": stride, "padding": padding}, how)
    return Case(label, args, kwargs, (dx, dw, db), check)


def example():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 2.0], [0.0, -1.0]]]])
    dout = np.ones((1, 1, 3, 3))
    return dout, x, w


def backward_cases(rng):
    cases = [_backward_case("the worked example: 4x4 input, 2x2 kernel, dout of ones", *example(), defaults=True)]
    fixed = [(2, 3, 6, 5, 4, 3, 3, 1, 1), (1, 2, 7, 7, 3, 3, 3, 2, 1), (2, 1, 8, 6, 2, 2, 3, 3, 0),
             (1, 2, 5, 9, 2, 4, 2, 1, 2), (3, 2, 6, 6, 2, 3, 3, 2, 0)]
    for N, C, H, W, K, Fh, Fw, S, P in fixed + [random_conv_shape(rng, max_stride=2) for _ in range(2)]:
        x, w = rng.normal(size=(N, C, H, W)), rng.normal(size=(K, C, Fh, Fw))
        dout = rng.normal(size=(N, K, out_size(H, Fh, P, S), out_size(W, Fw, P, S)))
        cases.append(_backward_case(f"N={N}, C={C}, K={K}, " + shape_label(H, W, Fh, Fw, S, P),
                                    dout, x, w, S, P))
    x = rng.normal(size=(2, 2, 6, 7)).astype(np.float32)
    w = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    dout = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    cases.append(_backward_case("float32, 6x7 input, 3x3 kernel, stride 2, padding 1", dout, x, w, 2, 1))
    # inputs that are not C-contiguous: a view with a step (padding 0: code that pads only when
    # padding > 0 reads x itself), and Fortran order with padding (np.pad keeps the Fortran order)
    x, w = step_view(rng, rng.normal(size=(2, 3, 6, 7))), rng.normal(size=(2, 3, 3, 3))
    cases.append(_backward_case(step_label("x", 4) + ", N=2, C=3, K=2, 6x7 input, 3x3 kernel, padding 0",
                                rng.normal(size=(2, 2, 4, 5)), x, w, 1, 0))
    x, w = fortran(rng.normal(size=(2, 2, 7, 6))), rng.normal(size=(3, 2, 3, 2))
    cases.append(_backward_case(fortran_label("x") + ", N=2, C=2, K=3, 7x6 input, 3x2 kernel, stride 2, padding 1",
                                rng.normal(size=(2, 3, 4, 4)), x, w, 2, 1))
    # by position, in the signature's order: a signature (dout, x, w, padding=0, stride=1) passes
    # every call above (session 30); stride 2 > padding 1, so the swapped reading runs too
    x, w = rng.normal(size=(2, 2, 7, 6)), rng.normal(size=(3, 2, 3, 2))
    cases.append(_backward_case("stride 2 and padding 1 given by position: conv2d_backward(dout, x, w, 2, 1)",
                                rng.normal(size=(2, 3, 4, 4)), x, w, 2, 1, by_position=True))
    return cases


# --------------------------------------------------------------------------- the trained network
def move_and_noise(x, rng, noise=NOISE):
    """Move every image by (dy, dx) in {-1, 0, 1}^2 (zeros move in) and add Gaussian noise."""
    N, C, H, W = x.shape
    padded = np.zeros((N, C, H + 2, W + 2), dtype=np.float64)
    padded[:, :, 1:H + 1, 1:W + 1] = x
    shifts = rng.integers(0, 3, size=(N, 2))
    out = np.empty((N, C, H, W))
    for n, (dy, dx) in enumerate(shifts):
        out[n] = padded[n, :, dy:dy + H, dx:dx + W]
    out += noise * rng.normal(size=out.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def make_model(rng=None):
    """The network of the exercise, as the notebook's given ``make_model`` builds it."""
    return cnnlib.Sequential(cnnlib.Conv2D(1, 16, 3, padding=1, rng=rng), cnnlib.ReLU(), cnnlib.MaxPool2D(2),
                             cnnlib.Flatten(), cnnlib.Dense(16 * 4 * 4, 10, rng=rng))


def _labels_verdict(got, labels):
    """(accuracy, None) for predict's labels, or (None, the message)."""
    n = len(labels)
    arr, msg = to_array(got)
    if msg:
        return None, f"predict(x): {msg}; expected {n} labels, shape ({n},)"
    if arr.shape == (n, 10):
        return None, (f"predict returned scores of shape {arr.shape}; return one label per image: "
                      f"the index of the largest score (np.argmax(scores, axis=1))")
    if arr.shape != (n,):
        return None, f"predict returned shape {arr.shape}; expected one label per image, shape ({n},)"
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        return None, "predict must return whole-number labels 0-9"
    return float(np.mean(arr == labels)), None


def trusted_network(weights):
    """(make_model's network holding `weights`, None), or (None, the message) when they do not fit:
    `weights` are the arrays of ``model.parameters()`` in order, as the notebook sends them."""
    if weights is None:
        return None, ("keep the network you trained in a variable named `model` (a network made by "
                      "make_model): the marking runs it itself")
    model = make_model(np.random.default_rng(0))
    params = model.parameters()
    shapes = [tuple(p.value.shape) for p in params]
    arrays = [to_array(w) for w in weights] if isinstance(weights, (list, tuple)) else []
    got = [describe(w) if msg else tuple(int(n) for n in a.shape) for w, (a, msg) in
           zip(weights, arrays)] if arrays else describe(weights)
    if got != shapes:
        return None, (f"`model` is not the network of make_model: its weights are {got}, expected arrays of "
                      f"shapes {shapes} (make_model's layers, in order)")
    for p, (a, _) in zip(params, arrays):
        p.value = a.astype(p.value.dtype)
    return model, None


def accuracy_hint(acc, own, unmoved, threshold=ACCURACY):
    """What to change when predict's accuracy `acc` on the moved digits is below `threshold`, from
    the network in `model` on its own: `own` on the same digits, `unmoved` on the test digits as
    they are. The notebook's visible test gives the same hints (a test holds them equal)."""
    if acc < own - 0.05:
        return ("the extra step in predict loses accuracy: drop it, or, to average, average the softmax "
                "probabilities (cnnlib.softmax) over the image and its four one-pixel moves")
    if own < 0.55 and unmoved >= 0.85:   # as a network trained on unmoved digits: about half
        return "train with moved copies of the training digits (move_and_noise), next to the originals"
    return ("train longer, and pass one optimizer (e.g. Adam(model.parameters(), lr=3e-3)) to every "
            "fit call: fit without optimizer= starts a new Adam each call")


def _predict_check(x, labels, threshold):
    """predict's labels reach `threshold`, and so does the network of the weights sent with them."""

    def verdict(got):
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return (f"graded_predictions returned {describe(got)}, expected (predict(x), the weights of "
                    f"`model`): keep the given cell as it is")
        acc, labels_msg = _labels_verdict(got[0], labels)
        model, model_msg = trusted_network(got[1])
        if model_msg:
            low = f"predict's accuracy {acc:.3f}; " if acc is not None and acc < threshold else ""
            return "; ".join(m for m in (labels_msg, low + model_msg) if m)
        if labels_msg:
            return labels_msg
        with np.errstate(all="ignore"):
            own = float(np.mean(cnnlib.predict(model, x) == labels))
        if acc < threshold:   # only a failing answer needs the unmoved digits, for its hint
            x_test, y_test = _test_split()
            with np.errstate(all="ignore"):
                unmoved = float(np.mean(cnnlib.predict(model, x_test) == y_test))
            return (f"predict's accuracy {acc:.3f}; the network in `model` on its own: {own:.3f}, and "
                    f"{unmoved:.3f} on the test digits unmoved: {accuracy_hint(acc, own, unmoved, threshold)}")
        if own >= threshold:
            return None
        if own < 0.2:
            return (f"`model` holds an untrained network ({own:.3f}) while predict reaches {acc:.3f}: put the "
                    f"network predict uses in `model` (e.g. `model = net`) and do not call make_model again "
                    f"after training")
        return (f"the network in `model` reaches only {own:.3f} on its own while predict reaches {acc:.3f}: "
                f"the network itself must reach the accuracy too: train it longer")

    return never_raises(verdict, "the predictions")


@lru_cache(maxsize=1)
def _test_split():
    _, _, x_test, y_test = cnnlib.load_digits()
    x_test.setflags(write=False)
    y_test.setflags(write=False)
    return x_test, y_test


def predict_cases(rng):
    x_test, y_test = _test_split()
    x = np.concatenate([move_and_noise(x_test, rng) for _ in range(DRAWS)])
    order = rng.permutation(len(x))   # in a fresh order: labels stored in the test split's order score ~10%
    x, labels = x[order], np.tile(y_test, DRAWS)[order]
    return [Case(f"{len(y_test)} held-back digits, each moved {DRAWS} times by up to one pixel, "
                 f"with noise, in a random order (need accuracy >= {fmt_num(ACCURACY)})", (x,), {}, labels,
                 _predict_check(x, labels, ACCURACY))]


CHECKS = [
    Check("test_conv2d_backward", ASSIGNMENT, "conv2d_backward", "function", backward_cases,
          cell="conv2d_backward", params=("dout", "x", "w", "stride", "padding"), points=10),
    Check("test_predict", ASSIGNMENT, "graded_predictions", "function", predict_cases, allow_cnnlib=True,
          timeout=30.0, cell="train_network", params=("x",), points=5, shown="predict"),
]
