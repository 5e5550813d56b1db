"""05b_learning: softmax_cross_entropy (loss and gradient) and one SGD step of a linear classifier.

Expected values come from cnnlib.cross_entropy / cross_entropy_backward (tested against
numerical gradients in tests/test_losses.py and tests/test_new_assignments.py).
"""
import numpy as np

import cnnlib

from ._core import Case, Check, Variant, array_check, tuple_check
from ._extra import close_scalar_check, keeps_dtype

ASSIGNMENT = "05b_learning"



def reference(scores, y):
    """(loss, dscores) in float64, from cnnlib."""
    s = np.asarray(scores, dtype=np.float64)
    return cnnlib.cross_entropy(s, y), cnnlib.cross_entropy_backward(s, y)


def _probs(scores):
    s = np.asarray(scores, dtype=np.float64)
    return cnnlib.softmax(s, axis=1)


def sce_magnitudes(scores, y, size=None):
    """What float32 arithmetic may lose, as array_check's magnitudes: (of the loss, of dscores).
    `size` (N, M): each score's own size, |x| @ |W| + |b| when the scores are computed (default |scores|).
    The scores' float32 rounding moves each log p by about their row's largest size."""
    s = np.abs(np.asarray(scores, dtype=np.float64)) if size is None else size
    N, M = s.shape
    row = 1.0 + 2.0 * s.max(axis=1) + np.log(M)
    p = _probs(scores)
    return float(np.mean(row)), (p + np.eye(M)[y]) * row[:, None] / N


def eps_variants(p_y, loss):
    """(loss, message) for -log(p_y + eps), eps = 1e-7 ... 1e-15, where it differs from the loss:
    the small number added inside the log caps each example's loss at -log eps (session 25)."""
    out = []
    for k in range(7, 16):
        eps = 10.0 ** -k
        capped = float(np.mean(-np.log(p_y + eps)))
        if abs(capped - loss) > 1e-6 * max(1.0, abs(loss)):
            out.append((capped, f"adding a small ε (here 1e-{k}) caps each example's loss at -log ε ≈ "
                                f"{-np.log(eps):.1f}: use log-softmax, scores minus their logsumexp"))
    return out


def _sce_check(scores, y, what="softmax_cross_entropy"):
    N, M = scores.shape
    loss, dscores = reference(scores, y)
    mag_loss, mag_d = sce_magnitudes(scores, y)
    p = _probs(scores)
    onehot = np.eye(M)[y]
    s = np.asarray(scores, dtype=np.float64)
    top = s.max(axis=1)
    log_p = s - (top + np.log(np.exp(s - top[:, None]).sum(axis=1)))[:, None]   # log-softmax: finite
    per_example = -log_p[np.arange(N), y]
    loss_variants = [(loss * N, "the loss is the MEAN over the batch, not the sum")] if N > 1 else []
    # session 24: -log(clip(p_y, 1e-300)) was told "only the first example counted"
    clipped = float(np.mean(-np.log(np.clip(p[np.arange(N), y], 1e-300, None))))
    if abs(clipped - loss) > 1e-7 * max(1.0, abs(loss)):
        loss_variants.append((clipped, "p_y underflowed to 0 and the clip (np.log(np.clip(p, 1e-300, None))) made "
                                       "its -log 690.8, whatever the true value: take log p_y from log-softmax, "
                                       "s_y - max - log(sum(exp(s - max)))"))
    loss_variants += eps_variants(p[np.arange(N), y], loss)
    if N > 1:
        loss_variants.append((float(per_example[0]), "only the first example counted: average over all N"))
    loss_variants.append((float(-np.mean(np.log(np.maximum(p.max(axis=1), 1e-300)))),
                          "the loss uses the largest probability; it is -log p of the TRUE class y"))
    d_variants = [
        Variant("dscores is not divided by N: the loss is a mean, so dscores = (p - onehot(y)) / N",
                (p - onehot) if N > 1 else None),
        Variant("1 is not subtracted at the true class: dscores = (p - onehot(y)) / N", p / N),
        Variant("the sign is reversed: dscores = (p - onehot(y)) / N", (onehot - p) / N),
        Variant("dscores is transposed: it has the shape of scores (N, M)", shape=(M, N) if M != N else None),
    ]
    d_variants = [v for v in d_variants if v.value is not None or v.shape is not None]
    return tuple_check([
        ("loss", close_scalar_check(loss, what="loss", variants=loss_variants, dtype=scores.dtype,
                                    hint="the mean over the batch of -log softmax(scores)[n, y[n]]",
                                    magnitude=mag_loss)),
        ("dscores", keeps_dtype(array_check(dscores, what="dscores", variants=d_variants,
                                            shape_hint="dscores has the shape of scores (N, M)",
                                            value_hint="dscores = (softmax(scores) - onehot(y)) / N",
                                            dtype=scores.dtype, magnitude=mag_d), scores.dtype, "dscores")),
    ], what=what)


def _examples(N: int) -> str:
    return "example" if N == 1 else "examples"


def _sce_case(label, scores, y):
    return Case(label, (scores, y), {}, reference(scores, y), _sce_check(scores, y))


def sce_cases(rng):
    cases = [_sce_case("the worked example (N=2, M=3)",
                       np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), np.array([0, 2]))]
    for N, M, scale in [(5, 4, 1.0), (1, 3, 2.0), (8, 10, 4.0), (3, 2, 0.5), (6, 6, 3.0)]:
        cases.append(_sce_case(f"random scores, N={N} {_examples(N)}, M={M} classes",
                               rng.normal(size=(N, M)) * scale, rng.integers(0, M, size=N)))
    big = rng.normal(size=(4, 5)) * 3 + np.array([[1000.0], [-1000.0], [0.0], [500.0]])
    cases.append(_sce_case("huge scores: rows near +1000, -1000, 0 and 500 (subtract each row's max)",
                           big, rng.integers(0, 5, size=4)))
    far = rng.normal(size=(3, 4))
    far[:, 1] += 900.0
    cases.append(_sce_case("the true class 900 below the best score (log p_y must stay finite)",
                           far, np.array([0, 2, 3])))
    cases.append(_sce_case("float32 scores, N=4, M=3", rng.normal(size=(4, 3)).astype(np.float32),
                           rng.integers(0, 3, size=4)))
    wide = rng.normal(size=(3, 4)) * 3
    wide[:, 0] += 1000.0
    wide[:, 2] -= 1000.0
    cases.append(_sce_case("rows from -1000 to +1000: subtract each row's MAX (its mean still leaves "
                           "exp(1000) = inf)", wide, np.array([0, 2, 1])))
    return cases


# --------------------------------------------------------------------------- sgd_step
def sgd_reference(W, b, x, y, lr):
    W64, b64, x64 = (np.asarray(a, dtype=np.float64) for a in (W, b, x))
    loss, dscores = reference(x64 @ W64 + b64, y)
    dW, db = x64.T @ dscores, dscores.sum(axis=0)
    return W64 - lr * dW, b64 - lr * db, loss, dW, db


def _sgd_case(label, W, b, x, y, lr, huge=False):
    W_new, b_new, loss, dW, db = sgd_reference(W, b, x, y, lr)
    W64, b64 = W.astype(np.float64), b.astype(np.float64)
    N = x.shape[0]
    w_variants = [
        Variant("the step goes UP the gradient: W_new = W - lr * dW", W64 + lr * dW),
        Variant("the learning rate is missing: W_new = W - lr * dW", W64 - dW if lr != 1 else None),
        Variant("dW was not divided by N (use the dscores of part 1, already divided by N)",
                W64 - lr * dW * N if N > 1 else None),
        Variant("the gradient was clipped (or normalised) to norm 1: the step is lr * dW, whatever its size",
                W64 - lr * dW / np.linalg.norm(dW) if np.linalg.norm(dW) > 1 else None),
        Variant("dW = x.T @ dscores has the shape of W (D, M)", shape=W.shape[::-1] if W.shape[0] != W.shape[1] else None),
    ]
    b_variants = [
        Variant("the step goes UP the gradient: b_new = b - lr * db", b64 + lr * db),
        Variant("the learning rate is missing: b_new = b - lr * db", b64 - db if lr != 1 else None),
        Variant("db must be summed over the batch: db = dscores.sum(axis=0), shape (M,)",
                shape=(N, b.shape[0])),
        Variant("db was taken as a mean over the batch; it must be the SUM of dscores over the batch (dscores is already divided by N)",
                b64 - lr * db / N if N > 1 else None),
    ]
    keep = lambda vs: [v for v in vs if v.value is not None or v.shape is not None]
    loss_after = reference(x.astype(np.float64) @ W_new + b_new, y)[0]
    p_y = _probs(x.astype(np.float64) @ W64 + b64)[np.arange(N), y]
    x_abs = np.abs(x.astype(np.float64))
    mag_loss, mag_d = sce_magnitudes(x.astype(np.float64) @ W64 + b64, y, x_abs @ np.abs(W64) + np.abs(b64))
    check = tuple_check([
        ("W_new", keeps_dtype(array_check(W_new, what="W_new", variants=keep(w_variants),
                                          shape_hint="W_new has the shape of W (D, M)",
                                          value_hint="W_new = W - lr * x.T @ dscores", dtype=W.dtype,
                                          magnitude=np.abs(W64) + lr * x_abs.T @ mag_d),
                              W.dtype, "W_new")),
        ("b_new", keeps_dtype(array_check(b_new, what="b_new", variants=keep(b_variants),
                                          shape_hint="b_new has the shape of b (M,)",
                                          value_hint="b_new = b - lr * dscores.sum(axis=0)", dtype=W.dtype,
                                          magnitude=np.abs(b64) + lr * mag_d.sum(axis=0)),
                              W.dtype, "b_new")),
        ("loss", close_scalar_check(loss, what="loss", dtype=W.dtype, magnitude=mag_loss,
                                    variants=[(loss_after, "return the loss BEFORE the step")]
                                    + eps_variants(p_y, loss))),
    ], what="sgd_step")
    return Case(label, (W, b, x, y, lr), {}, (W_new, b_new, loss), _finite_first(check) if huge else check)


#: what a step on huge scores that gives NaN or inf says (an sgd_step with its own softmax
#: without the row's maximum subtracted: session 27's trial, 6 of 6 before this case)
OVERFLOW = ("sgd_step gave NaN or infinite values for scores near ±1000: its softmax overflowed "
            "(np.exp(1000) is inf): subtract each row's max before np.exp (in softmax_cross_entropy too, "
            "if sgd_step uses it)")


#: what it says when only the loss is infinite (the step is finite): the max was subtracted,
#: but p_y underflowed to 0 before its log (the reviewer's case: OVERFLOW misled it)
LOSS_UNDERFLOW = ("sgd_step's loss is infinite for scores near ±1000 although W_new and b_new are "
                  "finite: p_y underflowed to 0 before np.log: take log p_y from log-softmax, "
                  "s_y - max - log(sum(exp(s - max))) (in softmax_cross_entropy too, if sgd_step uses it)")


def _finite_first(check):
    """`check`, but a result (W_new, b_new, loss) holding NaN or inf is told why first:
    OVERFLOW when the step itself is not finite, LOSS_UNDERFLOW when only the loss is."""
    def verdict(got):
        try:
            finite = ([bool(np.all(np.isfinite(np.asarray(part, dtype=np.float64)))) for part in got]
                      if isinstance(got, (tuple, list)) and len(got) == 3 else [True] * 3)
        except Exception:   # not numbers: the check says what it is
            finite = [True] * 3
        return (OVERFLOW if not all(finite[:2]) else LOSS_UNDERFLOW if not finite[2] else check(got))
    return verdict


def sgd_cases(rng):
    cases = [_sgd_case("the worked example (N=2, D=2, M=3, W = 0, lr = 0.1)",
                       np.zeros((2, 3)), np.zeros(3), np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([0, 2]), 0.1)]
    # D=1 (session 31, machine-made mutants: W_new.squeeze() passed while every case had D >= 2)
    for N, D, M, lr in [(5, 3, 4, 0.1), (1, 4, 2, 1.0), (7, 6, 3, 0.01), (4, 2, 5, 2.0), (4, 1, 3, 0.5)]:
        cases.append(_sgd_case(f"random: N={N} {_examples(N)}, D={D} feature{'s' if D > 1 else ''}, M={M} classes, lr={lr}",
                               rng.normal(size=(D, M)), rng.normal(size=M), rng.normal(size=(N, D)),
                               rng.integers(0, M, size=N), lr))
    # features on a large scale, each label the class with the LOWEST score: the gradient is large
    # (a step that clips or normalises the gradient is right only while its norm stays below 1)
    W, b, x = rng.normal(size=(3, 4)), rng.normal(size=4), 10.0 * rng.normal(size=(6, 3))
    cases.append(_sgd_case("large features (x ~ 10) and every label the least likely class: a large "
                           "gradient, N=6, D=3, M=4, lr=0.01", W, b, x, np.argmin(x @ W + b, axis=1), 0.01))
    # huge scores (x ~ 300, the largest score 1000): a softmax without each row's max overflows
    W, b, x = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=(4, 3))
    x = x if (x @ W).max() >= -(x @ W).min() else -x
    x *= 1000.0 / (x @ W).max()
    y = rng.integers(0, 5, size=4)
    scores = x @ W + b
    top = int(np.argmax(scores.max(axis=1)))   # the row up to 1000: every other class of it at most
    best = int(np.argmax(scores[top]))         # 0 (b lowered), its true class the lowest: p_y is
    b = b - np.where(np.arange(5) == best, 0.0, np.maximum(scores[top], 0.0))   # exp(-1000) = 0,
    y[top] = int(np.argmin((x @ W + b)[top]))  # and its row's max minus mean over 800 (exp overflows)
    cases.append(_sgd_case("huge scores, up to 1000, a true class 1000 below its row's best (subtract "
                           "each row's max; log-softmax): N=4, D=3, M=5, lr=0.01",
                           W, b, x, y, 0.01, huge=True))
    f32 = lambda a: a.astype(np.float32)
    cases.append(_sgd_case("float32: N=3, D=4, M=3, lr=0.05", f32(rng.normal(size=(4, 3))),
                           f32(rng.normal(size=3)), f32(rng.normal(size=(3, 4))),
                           rng.integers(0, 3, size=3), 0.05))
    return cases


CHECKS = [
    Check("test_softmax_cross_entropy", ASSIGNMENT, "softmax_cross_entropy", "function", sce_cases,
          cell="softmax_cross_entropy", params=("scores", "y"), points=6),
    Check("test_sgd_step", ASSIGNMENT, "sgd_step", "function", sgd_cases,
          cell="sgd_step", params=("W", "b", "x", "y", "lr"), points=6),
]
