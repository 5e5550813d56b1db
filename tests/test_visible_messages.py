"""The visible tests (what a student runs) name the mistake of a catalogue entry, not only fail it."""
from __future__ import annotations

import pytest

from grading_catalogue import WRONG

from test_checks import evaluate, visible_results

# entry name -> a phrase its visible test's message must contain
VISIBLE_MESSAGES = {
    "conv: kernel flipped (true convolution)": "the kernel is flipped",
    "sgd: dW = dscores.T @ x (the shapes do not match)": "dW = x.T @ dscores has the shape of W",
    "conv backward: dx cropped with [P:-P] (empty at padding 0)": "an axis has length 0, with padding 0, a slice "
                                                                  "like `x[P:-P]` is EMPTY",
    "max backward: dx written at [c, n] (image and channel swapped)": "are image/channel pairs mixed up?",
    "max backward: vectorised with (N, C) index arrays (dx[:, :, i*S+m, j*S+l])": "are image/channel pairs mixed up?",
    "single: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "multi: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "max pool: output array of ints (np.zeros(..., dtype=int))": "is your output array an int array?",
    "sce: dscores not divided by N (the loss is a mean)": "part 1 is wrong: fix softmax_cross_entropy first",
    "sgd: the learning rate is missing": "the learning rate is missing",
    "maximise unit: norm scaled once at the end, not after every step":
        "scale x back to max_norm after every step, not once at the end",
}

# entry name -> words its visible message must NOT contain (hints that belong to other notebooks)
VISIBLE_NOT = {
    "sgd: dW = dscores.T @ x (the shapes do not match)": ("kernel", "padd"),
    # the batch is compared with the student's own one-image answer: it is not "expected"
    "max backward: dx written at [c, n] (image and channel swapped)": ("expected",),
    # a correct sgd_step on a part 1 that forgets / N is not blamed for the learning rate
    "sce: dscores not divided by N (the loss is a mean)": ("learning rate",),
}


@pytest.mark.parametrize("name", sorted(VISIBLE_MESSAGES))
def test_visible_messages_name_the_mistake(name):
    entry = next(e for e in WRONG if e.name == name)
    results = visible_results(entry.assignment, entry.replacements)
    messages = " ".join(results[g] or "" for g in entry.must_fail)
    assert VISIBLE_MESSAGES[name] in messages, messages


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
    "maximise unit: norm scaled once at the end, not after every step":
        "scale x back to max_norm after every step, not once at the end",
}


@pytest.mark.parametrize("name", sorted(GRADER_MESSAGES))
def test_grader_messages_name_the_mistake(name):
    entry = next(e for e in WRONG if e.name == name)
    messages = " ".join(m for m in evaluate(entry.assignment, entry.replacements).values() if m)
    assert GRADER_MESSAGES[name] in messages, messages
