"""grading/checks/from_tests.py: the names only the visible test cells define, which the
pre-hand-in check takes out of a notebook's kernel while it forecasts marking."""
from __future__ import annotations

import nbformat
import pytest

from grading.checks import from_tests
from grading.checks.from_tests import assigned_names, first_read, hidden, student_cells, sources_of_test_cells


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


def test_first_read_finds_a_read_that_runs_before_the_def():
    source = "print(max_pool2d(x))\n\ndef max_pool2d_backward(dout, x):\n    return x + dout\n"
    assert first_read(source, {"x", "dout"}, before_line=3) == ("x", 1)


@pytest.mark.parametrize("source, before_line", [
    ("def f(x):\n    return x\n\ndef g():\n    return dout\n", 4),   # reads in bodies run when called
    ("def g():\n    return dout\nprint(dout)\n", 1),                  # after the def: g is defined
    ("y = 1\n\ndef g():\n    return 1\n", 3),                         # no such name read
])
def test_first_read_skips_what_does_not_stop_the_def(source, before_line):
    assert first_read(source, {"x", "dout"}, before_line) is None


def test_hidden_takes_names_out_and_puts_them_back():
    namespace = {"x": 1, "keep": 2}
    with hidden(namespace, {"x", "absent"}) as saved:
        assert namespace == {"keep": 2} and saved == {"x": 1}
    assert namespace == {"x": 1, "keep": 2}


def test_hidden_puts_names_back_after_an_error():
    namespace = {"x": 1}
    with pytest.raises(RuntimeError), hidden(namespace, {"x"}):
        raise RuntimeError
    assert namespace == {"x": 1}


def _notebook(folder, name="05_pooling"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def max_pool2d(x):\n    return x", metadata={"nbgrader": {"solution": True}}),
                nbformat.v4.new_code_cell("x = 1\nexpected = 2", metadata={"nbgrader": {"grade": True}}),
                nbformat.v4.new_code_cell("expected = 3")]
    nbformat.write(nb, folder / f"{name}.ipynb")
    return nb


def test_the_test_cells_come_from_the_notebook_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(from_tests, "ROOT", tmp_path / "no-kit")
    assert sources_of_test_cells("05_pooling") is None
    _notebook(tmp_path)
    assert sources_of_test_cells("05_pooling") == ["x = 1\nexpected = 2"]


def test_the_notebook_of_the_kernel_comes_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    _notebook(tmp_path / "mine", "05_pooling-Copy1")
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "mine" / "05_pooling-Copy1.ipynb"))
    assert sources_of_test_cells("05_pooling") == ["x = 1\nexpected = 2"]


def test_student_cells_in_a_kernel(tmp_path, monkeypatch):
    """What only test cells assign, less what any other cell run assigns (`expected`)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    nb = _notebook(tmp_path)
    ran = ["", *(cell.source + "\n" for cell in nb.cells)]   # IPython's In: "" first, then each cell
    kernel = {"In": ran, "get_ipython": lambda: None}
    own, test_only = student_cells(kernel, "05_pooling")
    assert test_only == {"x"}
    assert [s.strip() for s in own] == ["def max_pool2d(x):\n    return x", "expected = 3"]


def test_outside_a_kernel_nothing_is_hidden(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _notebook(tmp_path)
    assert student_cells({"x": 1}, "05_pooling") is None
