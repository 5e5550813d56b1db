"""Which reference modules a piece of student code imports: one rule for the grader's
preflight (grading/preflight.py) and the pre-hand-in check (prehandin.py).

Where a check forbids cnnlib, the grader runs the notebook with these imports refused: a cell
that imports one stops there, and what it would have defined after the import is missing.
"""
from __future__ import annotations

import ast
import re

#: refused where a check forbids cnnlib: the course's library, all of SciPy (scipy.signal and
#: scipy.ndimage convolve, scipy.fft does it through a product of spectra), PyTorch and the
#: bench's NumPy peers (numpy-ml's conv2D, mygrad's conv_nd): `make bench` installs torch,
#: numpy_ml and mygrad into the course's venv, and a grade must not depend on whether it ran;
#: and scikit-learn, which imports SciPy (a student trial: `from sklearn... import` stopped the
#: cell at marking, 0 points, after a full-points forecast)
REFERENCE_MODULES = ("cnnlib", "scipy", "sklearn", "torch", "numpy_ml", "mygrad")


def parse_cell(source: str):
    # IPython magics and shell escapes are not Python; blank them so the rest still parses.
    lines = ["" if re.match(r"\s*[%!]", line) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def reference_of(module: str, modules=REFERENCE_MODULES) -> "str | None":
    """The one of `modules` that the dotted module name `module` is, or is inside, or None."""
    return next((ref for ref in modules if module == ref or module.startswith(ref + ".")), None)


def _is_reference(module: str, modules=REFERENCE_MODULES) -> bool:
    return reference_of(module, modules) is not None


#: what an ``except`` must name to catch the ImportError of a refused import
_CATCH_IMPORT = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _catches_import(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(k is None or getattr(k, "id", getattr(k, "attr", "")) in _CATCH_IMPORT for k in kinds)


def _stopping(node):
    """`node` and the nodes in it whose refused import stops the cell when it runs: not a
    function's body (it runs when called, not when defined), not the body of a ``try`` that
    catches ImportError (the cell goes on)."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        parts = getattr(node, "decorator_list", []) + node.args.defaults + [d for d in node.args.kw_defaults if d]
    elif isinstance(node, ast.Try) and any(_catches_import(h) for h in node.handlers):
        parts = node.handlers + node.orelse + node.finalbody
    else:
        parts = list(ast.iter_child_nodes(node))
    for part in parts:
        yield from _stopping(part)


def imported_reference_modules(source: str, before_line: "int | None" = None,
                               modules=REFERENCE_MODULES) -> set[str]:
    """Reference modules (`modules`, and the modules in them) a piece of code imports
    (statements, __import__, import_module); with `before_line`, only the imports that stop the
    cell before that line (1-based): those of its top-level statements that end before it,
    outside function bodies and outside a ``try`` that catches ImportError (in the jail such an
    import is refused and the cell goes on)."""
    tree = parse_cell(source)
    if tree is None:  # not Python: fall back to the names in the text
        if before_line is not None:
            source = "".join(source.splitlines(True)[:before_line - 1])
        pattern = r"\b((?:%s)(?:\s*\.\s*\w+)*)" % "|".join(map(re.escape, modules))
        return {re.sub(r"\s", "", m) for m in re.findall(pattern, source)}
    found = set()
    if before_line is None:
        nodes = (n for statement in tree.body for n in ast.walk(statement))
    else:
        nodes = (n for statement in tree.body if statement.end_lineno < before_line for n in _stopping(statement))
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if _is_reference(a.name, modules)}
        elif isinstance(node, ast.ImportFrom) and node.module:   # the module, else what comes from it
            names = [node.module] if _is_reference(node.module, modules) else [
                f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
            found |= {n for n in names if _is_reference(n, modules)}
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            arg = node.args[0].value
            if fname in ("__import__", "import_module") and isinstance(arg, str) and _is_reference(arg, modules):
                found.add(arg)
    return found
