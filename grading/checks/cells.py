"""How messages name a notebook cell for a person: its place among all cells and its first line.

The grader's feedback, the pre-hand-in check and the pre-flight flags all count every cell of
the notebook from 1 (markdown cells too), as a student counts them from the top.
"""


def first_line(source: str) -> str:
    """A cell's first non-blank line, at most 60 characters: how a person finds the cell."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    text = lines[0] if lines else "(empty)"
    return text if len(text) <= 60 else text[:57] + "..."


def cell_name(number: int, source: str) -> str:
    """"cell 4 ('def f(x):')": the cell at place `number` (from 1) with this source."""
    return f"cell {number} ({first_line(source)!r})"
