"""What catches each WRONG entry: the visible tests, the pre-hand-in check, the grader.

``tests/test_checks.py`` records one row per entry (``record``); the root ``conftest.py``
prints ``table()`` at the end of the pytest run (``make test``), one line per assignment, so
an assignment added later is reported without a change here.
"""
from __future__ import annotations

from typing import NamedTuple

#: the visible tests alone must catch at least this share of the entries the grader catches
VISIBLE_TARGET = 0.90


class Row(NamedTuple):
    assignment: str
    grader: bool       # the grader's checks fail the entry (exactly its must_fail cells)
    prehandin: bool    # the pre-hand-in check, on fresh random inputs, fails it
    visible: bool      # one of the visible tests of its must_fail cells fails


RESULTS: dict[str, Row] = {}


def record(name: str, row: Row) -> None:
    RESULTS[name] = row


def counts() -> dict[str, tuple[int, int, int, int]]:
    """assignment -> (entries, caught by the grader, by the pre-hand-in check, by the visible tests)."""
    out: dict[str, list[int]] = {}
    for row in RESULTS.values():
        c = out.setdefault(row.assignment, [0, 0, 0, 0])
        c[0] += 1
        c[1] += row.grader
        c[2] += row.prehandin
        c[3] += row.visible
    return {a: tuple(c) for a, c in sorted(out.items())}


def table() -> str:
    """The printed table ("" when no entry was run)."""
    rows = counts()
    if not rows:
        return ""
    head = f"{'assignment':<22} {'entries':>7} {'grader':>7} {'pre-hand-in':>12} {'visible tests':>14}"
    lines = [head, "-" * len(head)]
    total = [0, 0, 0, 0]
    for a, c in rows.items():
        total = [t + v for t, v in zip(total, c)]
        lines.append(_line(a, c))
    lines.append("-" * len(head))
    lines.append(_line("all", total))
    lines.append(f"targets: the pre-hand-in check catches every entry the grader catches; "
                 f"the visible tests alone at least {VISIBLE_TARGET:.0%}")
    return "\n".join(lines)


def _line(name, c) -> str:
    n, grader, pre, vis = c
    share = f"{vis / grader:.0%}" if grader else "-"
    return f"{name:<22} {n:>7} {grader:>7} {pre:>12} {vis:>8} ({share:>4})"
