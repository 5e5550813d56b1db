"""A catalogue of submissions for testing the graders: typical wrong implementations and
alternative correct ones, per assignment.

Each entry is ``(name, assignment, replacements, must_fail)``: ``replacements`` maps EVERY solution
cell's nbgrader ``grade_id`` of the assignment to the source a student might submit (the reference
solution, except for the cell(s) the entry is about), and ``must_fail`` is the set of test-cell
``grade_id``s that must lose their points; all other test cells must keep them. CORRECT entries
have an empty ``must_fail``.

``build_submission(assignment, replacements)`` takes the RELEASE notebook
``exercises/<a>/<a>.ipynb`` and fills the named solution cells, as a student would.

Used in process by ``tests/test_checks.py`` and through real ``nbgrader autograde`` by the
grading tests. ``entries_more`` holds the assignments added with issue 14.
"""
from . import entries, entries_more
from .entries import Entry
from .build import ASSIGNMENT_NAMES, build_submission, code_cells, reference_sources

WRONG = entries.WRONG + entries_more.WRONG
CORRECT = entries.CORRECT + entries_more.CORRECT
#: the entries graded end to end through nbgrader and the sandbox (tests/test_grading_e2e.py)
END_TO_END = entries.END_TO_END + entries_more.END_TO_END

__all__ = ["CORRECT", "WRONG", "END_TO_END", "Entry", "build_submission", "reference_sources", "code_cells",
           "ASSIGNMENT_NAMES"]
