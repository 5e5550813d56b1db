"""One argument order everywhere (in, out, size: C, K, F), read as the Notation page reads it:
cnnlib's signatures against the exercise notebooks' `def` lines (book/_ext/argument_order.py).
The book build fails on the same rule; this catches a drift with `pytest` alone."""
import importlib.util
import sys
from pathlib import Path

import pytest

import cnnlib

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "book" / "_ext"


@pytest.fixture(scope="module")
def order():
    sys.path.insert(0, str(EXT))   # argument_order imports checkpoint, its neighbour
    try:
        spec = importlib.util.spec_from_file_location("argument_order", EXT / "argument_order.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXT))
    return module


def test_every_row_of_the_notation_table_keeps_the_order(order):
    rows = order.order_rows(cnnlib, ROOT / "exercises")
    wrong = [(name, lib, ex) for name, lib, ex, _, same in rows if not same]
    assert not wrong, f"not in the order {order.RULE}: {wrong}"
    names = {name for name, *_ in rows}
    # the names that take two or more of C, K, F, in cnnlib and in the exercises, are all there
    assert {"conv_param_count", "Conv2D", "Dense", "dense_param_count",
            "local_and_conv_params", "bottleneck_cost"} <= names


def test_conv_param_count_and_conv2d_take_c_k_f(order):
    rows = {name: (lib, ex) for name, lib, ex, _, _ in order.order_rows(cnnlib, ROOT / "exercises")}
    assert order.arguments(rows["conv_param_count"][0]) == ["c", "k", "f"]
    assert order.arguments(rows["conv_param_count"][1]) == ["c", "k", "f"]
    assert order.arguments(rows["Conv2D"][0])[:3] == ["in_channels", "out_channels", "kernel_size"]


@pytest.mark.parametrize("sig, keeps", [
    ("conv_param_count(c, k, f)", True),
    ("conv_param_count(K, F, C)", False),            # the order the course had before
    ("Conv2D(in_channels, out_channels, kernel_size, stride=1)", True),
    ("Conv2D(out_channels, in_channels, kernel_size)", False),
    ("local_and_conv_params(H, W, C, K, Fh, Fw, stride=1, padding=0)", True),
    ("local_and_conv_params(H, W, K, C, Fh, Fw)", False),
    ("bottleneck_cost(C, K_mid, K, F, H, W)", True),   # in, the middle, out, size
    ("bottleneck_cost(K_mid, C, K, F, H, W)", False),
    ("im2col(x, Fh, Fw, stride, padding)", True),
    ("Dense(n_out, n_in)", False),
])
def test_the_rule_tells_a_wrong_order(order, sig, keeps):
    assert order.keeps_rule(order.arguments(sig)) is keeps


def test_an_exercise_that_disagrees_with_cnnlib_is_a_no(order, tmp_path, monkeypatch):
    """A drift in one place only (here the exercise's def line) turns its row to no."""
    real = order.exercise_signatures
    monkeypatch.setattr(order, "exercise_signatures", lambda d: {
        **real(d), "conv_param_count": ("conv_param_count(K, F, C)", "03_hyperparameters"),
        "conv2d": ("conv2d(x, b, w, stride=1, padding=0)", "03_hyperparameters")})
    rows = {name: same for name, *_, same in order.order_rows(cnnlib, ROOT / "exercises")}
    assert rows["conv_param_count"] is False and rows["conv2d"] is False
    assert rows["Conv2D"] is True


def test_the_exercises_write_the_softmax_with_the_notation_pages_letters():
    """The Notation page writes a class k (and k′ in the sum) and M classes: 05b's recap wrote
    p_j = e^{z_j} / Σ_i e^{z_i}, with i and j, the page's letters for an output row and column."""
    import re

    import nbformat
    found = []
    for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "markdown":
                found += [(path.name, m) for m in re.findall(r"(?<![A-Za-z_])[pz]_\{?(?:n,\s*)?[a-z]'?", cell.source)]
    letters = {m[-1] if not m.endswith("'") else m[-2:] for _, m in found}
    assert found and letters <= {"k", "k'", "y"}, found
