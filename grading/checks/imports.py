"""Which reference modules a piece of student code imports: one rule for the grader's
preflight (grading/preflight.py) and the pre-hand-in check (prehandin.py).

Where a check forbids cnnlib, the grader runs the notebook with these imports refused: a cell
that imports one stops there, and what it would have defined after the import is missing.
"""
from __future__ import annotations

import ast
import re

REFERENCE_MODULES = ("cnnlib", "scipy.signal", "scipy.ndimage", "torch")


def parse_cell(source: str):
    # IPython magics and shell escapes are not Python; blank them so the rest still parses.
    lines = ["" if re.match(r"\s*[%!]", line) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _is_reference(module: str) -> bool:
    return any(module == ref or module.startswith(ref + ".") for ref in REFERENCE_MODULES)


def imported_reference_modules(source: str, before_line: "int | None" = None) -> set[str]:
    """Reference modules a piece of code imports (statements, __import__, import_module);
    with `before_line`, only its top-level statements that end before that line (1-based)."""
    tree = parse_cell(source)
    if tree is None:  # not Python: fall back to the names in the text
        if before_line is not None:
            source = "".join(source.splitlines(True)[:before_line - 1])
        pattern = r"\b(cnnlib|torch|scipy\s*\.\s*(?:signal|ndimage))\b"
        return {re.sub(r"\s", "", m) for m in re.findall(pattern, source)}
    found = set()
    statements = tree.body if before_line is None else [s for s in tree.body if s.end_lineno < before_line]
    for node in (n for statement in statements for n in ast.walk(statement)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if _is_reference(a.name)}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
            found |= {n for n in names if _is_reference(n)}
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            arg = node.args[0].value
            if fname in ("__import__", "import_module") and isinstance(arg, str) and _is_reference(arg):
                found.add(arg)
    return found
