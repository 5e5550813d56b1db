"""NumPy, cnnlib and the builtins as they were, while the checks compute in the student's process.

The pre-hand-in check runs the checks in the student's own kernel, after the notebook's cells.
A cell can replace a function in a module that the checks use too (``np.allclose = lambda *a,
**k: True``): every comparison would then pass. At marking that does nothing (the jail's results
are judged in the grader's process), so here :func:`pristine` puts the modules' own functions
back while the checks draw their cases and judge a result, and the notebook's replacements
after it: the student's function still runs with them, as at marking.

The modules' own functions are those seen when ``grading.checks`` was imported; a function
the notebook had already replaced by then (the notebook imports the check in its last cell) is
found again where the package defines it (``numpy._core.numeric.allclose``). Not protected: a
notebook that replaces functions there too, or changes NumPy's compiled code; the pre-hand-in
check runs in the student's own process and cannot be a sandbox.
"""
from __future__ import annotations

import sys
import types
from contextlib import contextmanager

#: package -> the modules under it where its top-level functions are defined
PACKAGES = {"numpy": ("numpy._core", "numpy.lib", "numpy.linalg"), "cnnlib": ("cnnlib.",)}
#: modules whose namespace is kept too (for the checks' own `abs`, `isinstance`, `math.isclose`)
OTHERS = ("builtins", "math", "numpy.linalg", "numpy.lib.stride_tricks")
_GONE = object()


def _own(package: str, name: str, value):
    """`value` of `package`'s top-level `name`, or the package's own function of that name when
    `value` is a Python function from elsewhere (a notebook's) and exactly one is found."""
    if not isinstance(value, types.FunctionType) or str(getattr(value, "__module__", "")).startswith(package):
        return value
    found = {id(v): v for m, mod in list(sys.modules.items()) if mod is not None and m.startswith(PACKAGES[package])
             for v in [getattr(mod, name, None)] if callable(v) and v is not value
             and str(getattr(v, "__module__", "")).startswith(package)}
    return next(iter(found.values())) if len(found) == 1 else value


def _snapshot() -> list:
    saved = []
    for name in (*PACKAGES, *OTHERS):
        module = sys.modules.get(name)
        if module is not None:
            top = name in PACKAGES
            saved.append((vars(module), {k: _own(name, k, v) if top else v for k, v in vars(module).items()}))
    return saved


_SAVED = _snapshot()


@contextmanager
def pristine():
    """Within: the saved functions of the modules above; after: the notebook's again."""
    undo = []
    for namespace, saved in _SAVED:
        for key, value in saved.items():
            now = namespace.get(key, _GONE)
            if now is not value:
                undo.append((namespace, key, now))
                namespace[key] = value
    try:
        yield
    finally:
        for namespace, key, now in reversed(undo):
            if now is _GONE:
                namespace.pop(key, None)
            else:
                namespace[key] = now
