"""The visible tests (what a student runs) name the mistake of a catalogue entry, not only fail it."""
from __future__ import annotations

import pytest

from grading_catalogue import WRONG

from test_checks import visible_results

# entry name -> a phrase its visible test's message must contain
VISIBLE_MESSAGES = {
    "conv: kernel flipped (true convolution)": "the kernel is flipped",
}


@pytest.mark.parametrize("name", sorted(VISIBLE_MESSAGES))
def test_visible_messages_name_the_mistake(name):
    entry = next(e for e in WRONG if e.name == name)
    results = visible_results(entry.assignment, entry.replacements)
    messages = " ".join(results[g] or "" for g in entry.must_fail)
    assert VISIBLE_MESSAGES[name] in messages, messages
