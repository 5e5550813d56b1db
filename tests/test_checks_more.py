"""The checks of the assignments added with issue 14: what their references rest on, and
messages that name the mistake (the catalogue itself runs in tests/test_checks.py and
tests/test_grading_e2e.py with every other assignment)."""
from __future__ import annotations

import numpy as np
import pytest

import cnnlib
from grading.checks import CHECKS, a05b_learning
from grading_catalogue import WRONG

from test_checks import evaluate


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
        dW = cnnlib.numeric_gradient(lambda v: cnnlib.cross_entropy(x @ v + b, y), W)
        db = cnnlib.numeric_gradient(lambda v: cnnlib.cross_entropy(x @ W + v, y), b)
        assert np.allclose(W_new, W - lr * dW, atol=1e-6), case.label
        assert np.allclose(b_new, b - lr * db, atol=1e-6), case.label


def test_huge_scores_have_a_finite_reference():
    for case in CHECKS["test_softmax_cross_entropy"].make_cases(np.random.default_rng(1)):
        loss, dscores = case.expected
        assert np.isfinite(loss) and np.all(np.isfinite(dscores)), case.label
    assert a05b_learning.reference(np.array([[0.0, 900.0]]), np.array([0]))[0] == pytest.approx(900.0)


MESSAGES = {
    "sce: loss summed over the batch, not averaged": "MEAN over the batch",
    "sce: unstable softmax (no maximum subtracted)": "NaN",
    "sce: 1 not subtracted at the true class": "not subtracted at the true class",
    "sce: float64 gradient for float32 scores (np.zeros)": "float32 in, float32 out",
    "sgd: the step goes up the gradient": "UP the gradient",
    "sgd: W and b mutated in place (W -= ...)": "in place",
    "sgd: db not summed over the batch": "summed over the batch",
    "sgd: returns the loss after the step": "BEFORE the step",
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_messages_name_the_mistake(name):
    entry = next(e for e in WRONG if e.name == name)
    results = evaluate(entry.assignment, entry.replacements)
    messages = " ".join(m for m in results.values() if m)
    assert MESSAGES[name] in messages, messages
