"""grading/checks/from_tests.py: the saved notebook in marking's order, on paper: which cells
stop on a name that only the visible test cells define, and what they then never define."""
from __future__ import annotations

import os

import nbformat
import pytest

from grading.checks.from_tests import assigned_names, hidden, marking_view, notebook_paths, read_cells

TESTS = ["x = np.ones((1, 1, 4, 4))\ndout = x[:, :, :2, :2]\nassert f(x) is not None"]


def test_assigned_names_are_the_globals_a_cell_binds():
    source = ("import numpy as np\nfrom numpy.random import default_rng\nimport os.path\n"
              "x, (y, z) = 1, (2, 3)\nfor i in range(2):\n    w = i\n"
              "with open(__file__) as handle:\n    pass\n"
              "def f(a):\n    local = a\n    global g\n    g = local\n    return [k for k in a]\n"
              "class C:\n    attribute = 1\n"
              "try:\n    pass\nexcept ValueError as err:\n    pass\n%timeit f(1)\n")
    assert assigned_names(source) == {"np", "default_rng", "os", "x", "y", "z", "i", "w", "handle",
                                      "f", "g", "C", "err"}


def test_a_cell_that_is_not_python_binds_nothing():
    assert assigned_names("def (:\n") == set()


def _view(*cells):
    return marking_view("nb.ipynb", list(enumerate(cells, 1)), TESTS)


def test_a_cell_that_reads_a_test_name_before_its_def_loses_what_follows():
    view = _view("import numpy as np", "print(f(x))\n\ndef g(dout, x):\n    return x\ny = 1")
    assert view.lost.keys() == {"g", "y"}
    stop = view.lost["g"]
    assert (stop.number, stop.name, stop.line) == (2, "x", 1)
    assert view.test_only == {"x", "dout"}


@pytest.mark.parametrize("cell, what", [
    ("def g(a, example=x):\n    return a", "a default value runs with the def"),
    ("@register(x)\ndef g(a):\n    return a", "a decorator runs with the def"),
    ("%%time\nprint(x)\ndef g(a):\n    return a", "a cell magic's body (the magic line is not Python)"),
    ("param = dout.shape\ng = 1", "a variable's own assignment"),
    ("for i in range(2):\n    print(x)\ndef g(a):\n    return a", "a loop's body runs"),
])
def test_reads_that_run_before_the_def_stop_the_cell(cell, what):
    assert "g" in _view(cell).lost, what


def test_a_name_defined_in_a_cell_below_comes_too_late():
    """Session 29's review: a scratch cell below that assigns `x` does not define it in time."""
    view = _view("print(f(x))\ndef g(a):\n    return a", "x = np.arange(16.0)")
    assert "g" in view.lost and view.test_only == {"dout"}


@pytest.mark.parametrize("cells", [
    ("x = 2", "print(x)\ndef g(a):\n    return a"),                        # defined above: fine
    ("x = 2\nprint(x)\ndef g(a):\n    return a",),                          # earlier in the same cell
    ("def g(a):\n    return x\nprint(x)",),                                 # in the body; after the def
    ("for i in range(2):\n    x = i\n    print(x)\ndef g(a):\n    return a",),  # bound in the loop first (06)
    ("if 'x' in globals():\n    print(x)\ndef g(a):\n    return a",),       # guarded: may not run
    ("try:\n    print(x)\nexcept NameError:\n    pass\ndef g(a):\n    return a",),
    ("print(f(x))\ndef g(a):\n    return a", "def g(a):\n    return a"),   # another cell defines g
])
def test_what_does_not_stop_the_def(cells):
    assert "g" not in _view(*cells).lost


def test_hidden_takes_names_out_and_puts_them_back_even_after_an_error():
    namespace = {"x": 1, "keep": 2}
    with hidden(namespace, {"x", "absent"}) as saved:
        assert namespace == {"keep": 2} and saved == {"x": 1}
    assert namespace == {"x": 1, "keep": 2}
    with pytest.raises(RuntimeError), hidden(namespace, {"x"}):
        raise RuntimeError
    assert namespace == {"x": 1, "keep": 2}


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade": True}})]
    nbformat.write(nb, path)


def test_the_notebook_of_the_kernel_comes_first_then_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    for name in ("elsewhere/mine.ipynb", "05_pooling.ipynb", "old.ipynb", "renamed.ipynb"):
        _notebook(tmp_path / name)
    os.utime(tmp_path / "old.ipynb", (1, 1))
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "elsewhere" / "mine.ipynb"))
    assert [p.relative_to(tmp_path).as_posix() for p in notebook_paths("05_pooling")] == [
        "elsewhere/mine.ipynb", "05_pooling.ipynb", "renamed.ipynb", "old.ipynb"]
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "gone.ipynb"))   # renamed, kernel not restarted
    assert notebook_paths("05_pooling")[0].name == "05_pooling.ipynb"
    vs_code = notebook_paths("05_pooling", served=str(tmp_path / "elsewhere" / "mine.ipynb"))   # VS Code's
    assert vs_code[0] == tmp_path / "elsewhere" / "mine.ipynb"
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "nothing.ipynb")      # a link to nothing is left out
    assert "link.ipynb" not in [p.name for p in notebook_paths("05_pooling")]


def test_read_cells_gives_plain_sources_or_none(tmp_path):
    _notebook(tmp_path / "a.ipynb")
    assert [c["source"] for c in read_cells(tmp_path / "a.ipynb")] == ["x = 1"]
    (tmp_path / "b.ipynb").write_text("not json")
    assert read_cells(tmp_path / "b.ipynb") is None
