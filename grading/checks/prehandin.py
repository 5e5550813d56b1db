"""The pre-hand-in check: the grader's own checks, run by a student before handing in.

The checks are the ones the grader runs (``CHECKS``): properties over random inputs, drawn fresh
on every run, with the grader's messages. They hold no answers (expected values are computed by
``cnnlib`` at run time) and need neither the sandbox nor root: the student runs their own code
in their own kernel. Grading draws its own inputs from its own fresh seed.

From a notebook, one line under a function, or one cell at the end::

    from grading.checks import check, check_all
    check("conv2d", conv2d)
    check_all(globals(), "03_hyperparameters")

From a shell (runs the notebook's code cells in this process, then every check)::

    python -m grading.checks exercises/03_hyperparameters/03_hyperparameters.ipynb
"""
from __future__ import annotations

import argparse
import contextlib
import dis
import functools
import io
import linecache
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from cnnlib.engine.parallel import one_blas_thread

from . import ASSIGNMENTS, CHECKS, run_check
from ._core import given_helpers, missing, refused_helpers
from . import from_tests
from .cells import cell_name
from .imports import REFERENCE_MODULES, imported_reference_modules, reference_of as _blocked

__all__ = ["check", "check_all", "check_notebook", "verdict", "main", "CHECK_CELL_ID", "uses_reference"]

#: grade_id of the notebooks' last cell, which calls check_all (skipped when a notebook is run here)
CHECK_CELL_ID = "check_before_hand_in"
#: the visible tests' message for an exception (the notebooks' helpers): the pre-hand-in check
#: adds its line of the student's code and its hint to the grader's message
EXPLAIN = "raised_message"
#: CPU seconds that one code cell, and all code cells together, get at marking (the grader's
#: defaults, which the student kit does not ship; tests/test_prehandin.py holds them equal)
MARKING_CELL_SECONDS, MARKING_CELLS_SECONDS = 60.0, 180.0
#: what no marking jail has at all, whatever the check: the grader's own code
ABSENT_AT_MARKING = ("grading",)


def _find(name: str, assignment: str | None):
    """The Check for a function's name ("conv2d", a check's `shown`) or a test cell's grade_id
    ("test_conv2d")."""
    if name in CHECKS and (assignment is None or CHECKS[name].assignment == assignment):
        return CHECKS[name]
    found = [c for c in CHECKS.values() if name in (c.shown, c.target)
             and (assignment is None or c.assignment == assignment)]
    if len(found) == 1:
        return found[0]
    if not found:
        known = sorted({c.shown for c in CHECKS.values()
                        if assignment is None or c.assignment == assignment})
        raise ValueError(f"check: no graded function or variable called {name!r}"
                         f"{' in ' + assignment if assignment else ''}; known: {', '.join(known)}")
    raise ValueError(f"check: {name!r} is graded in several assignments "
                     f"({', '.join(c.assignment for c in found)}): pass assignment=...")


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            yield from _code_objects(const)


def refused_at_marking(chk) -> tuple:
    """The modules that check `chk`'s code cannot import at marking."""
    return ABSENT_AT_MARKING + (() if chk.allow_cnnlib else REFERENCE_MODULES)


def uses_reference(fn, _seen=None, modules=REFERENCE_MODULES) -> "tuple[str, str] | None":
    """(module of `modules`, the name through which) function `fn` uses it, or None.

    At marking, the modules of REFERENCE_MODULES cannot be imported by the code of a check without
    ``allow_cnnlib`` (the import block), nor the grader's own ``grading`` by any, so such a
    function fails there; here it is reported the same way. Found: names of the notebook bound
    to those modules or their functions; imports in the body (``from cnnlib.conv import ...``,
    ``import scipy.signal``), ``__import__("cnnlib")`` and ``import_module(...)``; and the same
    in the notebook's own functions that `fn` calls. (Names built at run time, as in
    ``__import__("sci" + "py")``, are refused while the checks call `fn`: :func:`_refusing`.)
    """
    code = getattr(fn, "__code__", None)
    seen = set() if _seen is None else _seen
    if code is None or code in seen:
        return None
    seen.add(code)
    scope = _scope(fn, code)
    for c in _code_objects(code):
        # a body's imports name their module (IMPORT_NAME); __import__ and import_module get a
        # string. Other names are looked up below: a notebook's own `mygrad` is not the module
        dynamic = {"__import__", "import_module"} & set(c.co_names)
        strings = [k for k in c.co_consts if dynamic and isinstance(k, str) and re.fullmatch(r"[\w.]+", k)]
        imported = [i.argval for i in dis.get_instructions(c) if i.opname == "IMPORT_NAME"]
        for text in [*imported, *strings]:
            if blocked := _blocked(text, modules):
                return blocked, text
        for name in c.co_names + c.co_freevars:
            obj = scope.get(name)
            module = str(getattr(obj, "__name__", "") if isinstance(obj, type(sys)) else
                         getattr(obj, "__module__", "") or "")
            if blocked := _blocked(module, modules):
                return blocked, name
            ours = getattr(obj, "__globals__", None) is getattr(fn, "__globals__", 0)   # the notebook's function
            found = uses_reference(obj, seen, modules) if ours and getattr(obj, "__code__", None) else None
            if found:
                return found[0], f"{name}, which uses {found[1]}"
    return None


def _scope(fn, code) -> dict:
    """The names `fn`'s code can reach: its globals and its closure's free variables."""
    scope = dict(getattr(fn, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            scope[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    return scope


def called_functions(fn, _seen=None) -> "list[tuple[str, object]]":
    """(name, function) of the notebook's own functions that function `fn` calls, directly or
    through each other, found as :func:`uses_reference` finds them (names in the code, free
    variables of closures); `fn` itself is not listed."""
    code, seen = getattr(fn, "__code__", None), set() if _seen is None else _seen
    if code is None or code in seen:
        return []
    seen.add(code)
    scope = _scope(fn, code)
    found = []
    for c in _code_objects(code):
        for name in c.co_names + c.co_freevars:
            obj = scope.get(name)
            if (getattr(obj, "__globals__", None) is getattr(fn, "__globals__", 0) and getattr(obj, "__code__", None)
                    and obj.__code__ not in seen):
                found.append((name, obj))
                found += called_functions(obj, seen)
    return found


def cell_imports(fn, modules=REFERENCE_MODULES) -> "str | None":
    """A module of `modules` (the reference: cnnlib, ...) that the cell defining function `fn`
    imports before it, or None.

    Where a check forbids cnnlib, the grader runs the notebook with that import refused: the
    cell stops at it and never reaches the def (grading/checks/imports.py). The cell's source is
    where Python keeps it for tracebacks (IPython's cells, and the cells :func:`check_notebook`
    runs).
    """
    code = getattr(fn, "__code__", None)
    source = "".join(linecache.getlines(code.co_filename)) if code is not None else ""
    found = imported_reference_modules(source, before_line=code.co_firstlineno, modules=modules) if source else set()
    return min(found) if found else None


def visible_explainer(namespace: dict, fn=None):
    """The visible tests' ``raised_message`` (each notebook's locked helpers cell defines it): in
    `namespace`, or where function `fn` was defined; None when neither has it."""
    for scope in (namespace, getattr(fn, "__globals__", None) or {}):
        helper = scope.get(EXPLAIN)
        if callable(helper):
            return helper
    return None


def _run(chk, namespace: dict, seed, view=None) -> tuple[bool, str]:
    """(passed, the grader's message) for one check against `namespace`; `view`: the saved
    notebook in marking's order (from_tests.marking_view), when the check runs in its kernel."""
    for name in dict.fromkeys((chk.shown, chk.target)):   # the student's, then a given wrapper
        if name not in namespace:   # once, not once per case; the grader's reasons
            what = "variable" if chk.kind == "value" else "function"
            named = missing(chk) if name != chk.shown else f"`{name}`"
            return False, (f"{chk.shown}: {named} is not defined: did you run its cell, rename the "
                           f"{what}, delete its cell, or does its cell raise an error?")
    fn = namespace[chk.shown]   # the student's (both names are defined by now)
    refused = refused_at_marking(chk)
    if chk.kind == "function":
        origin = _blocked(str(getattr(fn, "__module__", "") or ""), refused)
        if origin:   # the reference's own function, imported whole (`from cnnlib import im2col`)
            return False, (f"{chk.shown}: `{chk.shown}` is {origin}'s own function (imported from {fn.__module__}); "
                           f"at marking {_cannot(origin)}, so it would score 0{_instead(chk)}")
        used = uses_reference(fn, modules=refused)
        if used:
            return False, (f"{chk.shown}: it uses {used[0]} (through `{used[1]}`); at marking {_cannot(used[0])}, "
                           f"so it would score 0{_instead(chk)}")
        module = cell_imports(fn, _in_cells(fn, refused))
        if module and _blocked(module, ABSENT_AT_MARKING):   # `from grading.checks import check` above a def
            return False, (f"{chk.shown}: its cell imports {module} before the def; at marking {_cannot(module)}, "
                           f"so the cell stops there and `{chk.shown}` is never defined: it would score 0. "
                           f"Run the check in a cell of its own")
        if module:
            return False, (f"{chk.shown}: its cell imports {module}; at marking that import fails in "
                           f"this part, the cell stops there and `{chk.shown}` is never defined, so it "
                           f"would score 0: delete the import and use NumPy only")
        for name, called in called_functions(fn) if not chk.allow_cnnlib else ():
            module = cell_imports(called, _in_cells(called, refused))
            if module:   # at marking that cell stops: `name` is missing and the call a NameError
                return False, (f"{chk.shown}: `{chk.shown}` calls `{name}`, whose cell imports {module}; at "
                               f"marking that import fails in this part, the cell stops there and `{name}` is "
                               f"never defined, so `{chk.shown}` would score 0 too: delete the import and use "
                               f"NumPy only")
    if view is not None and (message := _stopped_at_marking(chk, fn, view)):
        return False, message
    quiet, refuser = io.StringIO(), _Refuser(refused)
    # the notebook's helpers for its visible tests refuse while the function runs, as at marking
    helpers = given_helpers((namespace, getattr(fn, "__globals__", None) or {}, _live_functions()),
                            chk.hide) if chk.hide else []
    try:
        with contextlib.redirect_stdout(quiet):
            run_check(chk.grade_id, namespace, seed=seed, explain=visible_explainer(namespace, fn),
                      guard=functools.partial(_guarded, refuser, helpers))
    except AssertionError as exc:
        tried, message = refuser.tried, str(exc)
        if tried:
            message += f"\n(at marking {_cannot(tried[0])}: it was refused here too)"
        unknown = sorted(n for n in (view.test_only if view else ()) if f"name '{n}' is not defined" in message)
        if unknown:
            message += "\n" + _only_in_tests(unknown[0], "your code cannot use it: it was left out here too")
        return False, message
    return True, quiet.getvalue().strip()


def _in_cells(fn, refused) -> tuple:
    """What of `refused` stops the cell of `fn` when imported above its def: the grader's own code
    only in a notebook's cell (a module's file, such as a test's, may well import it)."""
    return refused if getattr(fn, "__module__", None) == "__main__" else tuple(
        m for m in refused if m not in ABSENT_AT_MARKING)


def _only_in_tests(name: str, so: str) -> str:
    return (f"(`{name}` exists in your notebook only because a visible test cell defines it; at marking "
            f"the test cells do not run first, so {so})")


def _stopped_at_marking(chk, fn, view) -> "str | None":
    """Why `chk` scores 0 at marking when the cell that defines its function or variable (or a
    function it calls) stops first, reading a name that only a test cell defines; else None."""
    called = called_functions(fn) if chk.kind == "function" else []
    for name in [chk.shown, *(name for name, _ in called)]:
        stop = view.lost.get(name)
        if stop:
            lost = (f"`{name}` is never defined, so it would score 0" if name == chk.shown else
                    f"`{name}` is never defined, so `{chk.shown}`, which calls it, would score 0 too")
            return (f"{chk.shown}: {cell_name(stop.number, stop.source)} reads `{stop.name}` (its line "
                    f"{stop.line}) before it defines `{name}`, and no cell above it defines `{stop.name}`: only "
                    f"a visible test cell does. At marking the test cells do not run first, so that line stops "
                    f"the cell with a NameError; {lost}. Delete the line, or define `{stop.name}` above it "
                    f"in your own code")
    return None


def _cannot(module: str) -> str:
    """Why `module` cannot be imported at marking, as the end of "at marking ..."."""
    if _blocked(module, ABSENT_AT_MARKING):
        return f"{module} (the grader's own code) is not there to import"
    return f"{module} cannot be imported in this part"


def _instead(chk) -> str:
    return "" if chk.allow_cnnlib else ": use NumPy only"


class _Refuser:
    """A meta-path finder that refuses `modules` as the marking jail's import block does."""

    def __init__(self, modules):
        self.modules, self.tried = modules, []

    def find_spec(self, name, path=None, target=None):
        if _blocked(name, self.modules):
            self.tried += [] if name in self.tried else [name]
            if _blocked(name, ABSENT_AT_MARKING):   # as in the jail, where it is not there
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            raise ImportError(f"import of {name} is not allowed in this exercise (write it with NumPy)", name=name)


@contextlib.contextmanager
def _refusing(refuser: _Refuser):
    """While a check calls the student's function: the refuser's modules cannot be imported,
    even under a name built at run time (``__import__("sci" + "py")``), as at marking; those
    already loaded are out of reach (out of ``sys.modules``) until the call returns."""
    loaded = {name: m for name, m in list(sys.modules.items()) if _blocked(name, refuser.modules)}
    for name in loaded:
        del sys.modules[name]
    sys.meta_path.insert(0, refuser)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(refuser)
        sys.modules.update(loaded)


def _live_functions() -> dict:
    """Every function alive in the kernel, as a namespace for given_helpers: a helper that the
    namespace no longer names still runs where the student's function kept it (a default
    argument, a closure, a list) after its cell was run again, which made a new one; marking
    runs the notebook once, so there it is the helper and refuses (a review found the kernel's
    check said PASS and marking 0)."""
    import gc
    import types
    return {i: obj for i, obj in enumerate(gc.get_objects()) if type(obj) is types.FunctionType}


@contextlib.contextmanager
def _guarded(refuser: _Refuser, helpers):
    """Around each call of the student's function: what marking refuses is refused (imports,
    the notebook's helpers of the check's `hide`)."""
    with _refusing(refuser), refused_helpers(helpers):
        yield


def verdict(grade_id: str, namespace: dict, seed=None) -> "str | None":
    """None if check `grade_id` passes against `namespace`, else the grader's message."""
    passed, message = _run(CHECKS[grade_id], namespace, seed)
    return None if passed else message


def _show(chk, passed: bool, message: str) -> None:
    head = "PASS" if passed else "FAIL"
    body = message.split("\n", 1)
    print(f"[{head}] {chk.label} ({chk.points} points): {body[0].split(': ', 1)[-1]}")
    if len(body) > 1:
        print("       " + body[1].replace("\n", "\n       "))


def check(name: str, value=None, *, assignment: str | None = None, seed=None) -> bool:
    """Run the grader's checks of one graded function (or variable) and print PASS or FAIL.

    Parameters
    ----------
    name : the function's name (``"conv2d"``) or its test cell's id (``"test_conv2d"``)
    value : the function (or the variable's value) to check; omitted: looked up in the caller's
        globals. A check that calls it through a given wrapper (01c's `equivariance_error`) runs
        the wrapper of the notebook `value` comes from (else the caller's), which calls the
        function of that name there.
    assignment : needed only when `name` is graded in more than one assignment
    seed : fixes the random inputs (default: fresh ones on every run, as at marking)

    Returns True when every case passes.
    """
    chk = _find(name, assignment)
    caller = sys._getframe(1).f_globals
    if value is None:
        value = caller.get(chk.shown)
    namespace = {chk.shown: value}
    if chk.target != chk.shown:   # the given wrapper, from the function's notebook or the caller's
        scopes = (getattr(value, "__globals__", None) or {}, caller)
        wrapper = next((scope[chk.target] for scope in scopes if chk.target in scope), None)
        if wrapper is not None:
            namespace[chk.target] = wrapper
    kernel = getattr(value, "__globals__", None) or caller   # the notebook's names, as in check_all
    view = _saved_notebook(kernel, chk.assignment)
    with from_tests.hidden(kernel, view.test_only if view else ()):
        passed, message = _run(chk, namespace, seed, view)
    _show(chk, passed, message)
    return passed


def _in_a_kernel(namespace: dict) -> bool:
    return isinstance(namespace.get("In"), list) and callable(namespace.get("get_ipython"))


def _saved_notebook(namespace: dict, assignment: str) -> "from_tests.MarkingView | None":
    """In a notebook's kernel: its saved file in marking's order (from_tests), found as the
    assignment's notebook (its test cells' ids); None elsewhere, or (said) when not found."""
    if not _in_a_kernel(namespace):
        return None
    ids = {c.grade_id for c in ASSIGNMENTS[assignment]}
    for path in from_tests.notebook_paths(assignment, namespace.get("__vsc_ipynb_file__")):
        try:
            mine, tests = _notebook_code(from_tests.read_cells(path) or [])
        except (AttributeError, TypeError):   # a hand-edited file: not nbformat's cells
            continue
        if ids & set(tests):
            return from_tests.marking_view(path, mine, tests.values())
    print(f"note: your saved notebook of {assignment} is not in this folder, so this check cannot run your cells "
          f"in the order marking does (nor without the test cells' names): run `python -m grading.checks "
          f"<your notebook>` from a terminal for that")
    return None


def _unsaved(namespace: dict, assignment: str, view) -> list[str]:
    """The graded functions whose cell, as it ran, is not a cell of the saved notebook."""
    def lines(source):
        return [line.strip() for line in source.splitlines()
                if line.strip() and not line.lstrip().startswith(("%", "!")) and "get_ipython()" not in line]
    saved = {tuple(lines(source)) for _, source in view.cells}
    names = []
    for chk in ASSIGNMENTS[assignment]:
        fn = namespace.get(chk.shown)
        code = getattr(fn, "__code__", None) if getattr(fn, "__module__", None) == "__main__" else None
        ran = linecache.getlines(code.co_filename) if code is not None else []
        if ran and tuple(lines("".join(ran))) not in saved and chk.shown not in names:
            names.append(chk.shown)
    return names


def check_all(namespace: dict, assignment: str | None = None, *, seed=None) -> dict[str, bool]:
    """Run every check of `assignment` against `namespace` (e.g. ``globals()``); print a summary.

    Without `assignment`, it is the assignment whose graded names `namespace` defines most of.
    Returns {function (or variable) name: passed}.
    """
    if assignment is None:
        assignment = max(ASSIGNMENTS, key=lambda a: sum(c.target in namespace for c in ASSIGNMENTS[a]))
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"check_all: no assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}")
    results, earned, total, n_passed = {}, 0, 0, 0
    print(f"Pre-hand-in check of {assignment}: the grader's checks on fresh random inputs")
    # in a notebook's kernel: what the test cells assigned is there, but not at marking
    view = _saved_notebook(namespace, assignment)
    with from_tests.hidden(namespace, view.test_only if view else ()):
        for chk in ASSIGNMENTS[assignment]:
            passed, message = _run(chk, namespace, seed, view)
            _show(chk, passed, message)
            results[chk.shown] = results.get(chk.shown, True) and passed  # a target may have 2 checks
            n_passed += passed
            earned += chk.points if passed else 0
            total += chk.points
    print(f"{n_passed} of {len(ASSIGNMENTS[assignment])} passed: {earned} of {total} points "
          f"if the same code is marked (other random inputs are drawn at marking)")
    if view is not None:
        for line in scratch_imports([(cell_name(n, source), source) for n, source in view.cells], assignment):
            print(line)
        changed = _unsaved(namespace, assignment, view)
        if changed:
            print(f"WARNING: your notebook is not saved: the cell of {', '.join(f'`{n}`' for n in changed)} "
                  f"differs from the saved file ({view.path.name}). Marking grades the saved file, and this "
                  f"check reads the order of your cells from it: save (Ctrl+S), then run this cell again")
    return results


def scratch_imports(cells, assignment: str) -> list[str]:
    """Warnings for the cells (as (how the student finds it, source)) that define no graded name
    but import a module that marking refuses: the import fails there, costing no points, but
    the grader's pre-flight flags the notebook for a person (grading/preflight.py)."""
    checks = ASSIGNMENTS[assignment]
    if all(c.allow_cnnlib for c in checks):
        return []
    graded = {c.target for c in checks} | {c.shown for c in checks}
    lines = []
    for where, source in cells:
        modules = imported_reference_modules(source)
        if modules and not from_tests.assigned_names(source) & graded:
            lines.append(f"WARNING: {where} imports {', '.join(sorted(modules))}, which marking refuses in this "
                         f"exercise (NumPy only): that import fails there, and a person is asked to look at "
                         f"your notebook. Delete the import before you hand in")
    return lines


# --------------------------------------------------------------------------- notebooks
def _code(source: str) -> str:
    """A cell's Python: IPython magics and shell escapes (lines starting % or !) left out."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _notebook_code(cells) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """(the student's code cells in order as (place among all cells, from 1; source), the
    notebook's test cells as {grade_id: source}) of a notebook's cells."""
    mine, tests = [], {}
    for number, cell in enumerate(cells, 1):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code":
            continue
        if meta.get("grade"):
            tests[meta.get("grade_id")] = cell["source"]
        elif meta.get("grade_id") != CHECK_CELL_ID and "check_all(" not in cell["source"]:
            mine.append((number, cell["source"]))
    return mine, tests


def check_notebook(path, assignment: str | None = None, *, seed=None) -> dict[str, bool]:
    """Run a notebook's code cells in this process (from its folder), then check_all.

    Test cells are not run (the checks replace them). A cell that raises is reported and the
    next cells still run, as at marking; the cells' prints are not shown. A cell that uses more
    CPU time than marking allows is reported after the checks, and the result gets the entry
    "time limits at marking": False.
    """
    import nbformat

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    cells, tests = _notebook_code(nb.cells)
    test_names = set().union(*map(from_tests.assigned_names, tests.values()))
    if assignment is None:
        named = {CHECKS[g].assignment for g in tests if g in CHECKS}
        assignment = named.pop() if len(named) == 1 else path.stem
    if assignment not in ASSIGNMENTS:
        raise SystemExit(f"{path.name}: cannot tell which assignment this is; "
                         f"pass --assignment (one of {', '.join(ASSIGNMENTS)})")
    namespace: dict = {"__name__": "__main__"}
    old_cwd = os.getcwd()
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(path.parent))
    seconds = []    # CPU seconds of each cell, as (cell, seconds)
    stopped = []    # cells stopped at the limit (said when stopped; their time counts in the total)
    try:
        os.chdir(path.parent)
        for number, source in cells:
            name = f"<{path.name}, cell {number}>"
            code = _code(source)
            linecache.cache[name] = (len(code), None, code.splitlines(True), name)
            start = time.process_time()
            try:
                with contextlib.redirect_stdout(io.StringIO()), one_blas_thread(), \
                        _cpu_limit(MARKING_CELL_SECONDS):   # as at marking
                    exec(compile(code, name, "exec"), namespace)
            except CellStopped:
                print(f"note: {cell_name(number, source)} was stopped after {MARKING_CELL_SECONDS:g} s "
                      f"of CPU time, as at marking (an endless loop?); the next cells still run")
                stopped.append(cell_name(number, source))
            except Exception as exc:
                only_tests = isinstance(exc, NameError) and exc.name in test_names
                print(f"note: {cell_name(number, source)} raised {type(exc).__name__}: {exc}" + (
                    " " + _only_in_tests(exc.name, "the cell stops there") if only_tests else ""))
            seconds.append((cell_name(number, source), time.process_time() - start))
    finally:
        os.chdir(old_cwd)
        sys.path.remove(str(path.parent))
    results = check_all(namespace, assignment, seed=seed)
    for line in scratch_imports([(cell_name(n, source), source) for n, source in cells], assignment):
        print(line)
    for grade_id, points in _by_hand(nb):
        print(f"[BY HAND] {grade_id} ({points:g} points): marked by a person, not checked here")
    warnings = _over_time([(cell, used) for cell, used in seconds if cell not in stopped])
    for line in warnings:
        print(line)
    if warnings or stopped:
        results["time limits at marking"] = False
    return results


def _by_hand(nb) -> list[tuple[str, float]]:
    """(grade_id, points) of the notebook's graded cells that no check marks: a written answer
    (a markdown cell) or a test cell the course added without a check; a person marks them."""
    cells = [cell.get("metadata", {}).get("nbgrader", {}) for cell in nb.cells]
    return [(meta.get("grade_id", "?"), float(meta.get("points", 0))) for meta in cells
            if meta.get("grade") and meta.get("grade_id") not in CHECKS]


class CellStopped(BaseException):
    """A cell ran past marking's CPU limit (a BaseException: `except Exception` in the cell's
    own loop does not swallow it)."""


@contextlib.contextmanager
def _cpu_limit(seconds: float):
    """Raise CellStopped in this thread after `seconds` of the process's CPU time (user and
    system, all threads: as the jail's limit counts). Only in the main thread (signals)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum, frame):
        raise CellStopped()

    old = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def _over_time(seconds) -> list[str]:
    """Warnings for cells that would be stopped at marking: over MARKING_CELL_SECONDS of CPU
    time each, or past MARKING_CELLS_SECONDS all together (`seconds`: [(cell, CPU seconds)])."""
    lines = [f"WARNING: {cell} took {used:.1f} s of CPU time here; at marking a cell is stopped after "
             f"{MARKING_CELL_SECONDS:g} s, and what it defines is then missing: make it faster "
             f"(fewer epochs or steps?)" for cell, used in seconds if used > MARKING_CELL_SECONDS]
    total = sum(used for _, used in seconds)
    if total > MARKING_CELLS_SECONDS:
        lines.append(f"WARNING: all cells together took {total:.1f} s of CPU time here; at marking they get "
                     f"{MARKING_CELLS_SECONDS:g} s, and the cells after that are not run")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grading.checks",
        description="Run the grader's checks on your notebook before you hand it in.")
    parser.add_argument("notebooks", nargs="+", type=Path, help="your .ipynb file(s)")
    parser.add_argument("--assignment", help="the assignment id (default: read from the notebook)")
    parser.add_argument("--seed", type=int, help="fix the random inputs (default: fresh ones)")
    args = parser.parse_args(argv)
    ok = True
    for path in args.notebooks:
        results = check_notebook(path, args.assignment, seed=args.seed)
        ok = ok and all(results.values())
    return 0 if ok else 1
