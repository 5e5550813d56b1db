"""01_mlp: dense_forward, mlp_param_count and the dense-vs-conv parameter comparison."""
import numpy as np

import cnnlib

from ._core import Case, Check, Variant, array_check, fmt_num, never_raises, scalar_check, to_array
from ._extra import given_as, one_number

ASSIGNMENT = "01_mlp"

# The worked example of the notebook (also the first visible test).
EXAMPLE_X = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
EXAMPLE_W = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]])
EXAMPLE_B = np.array([0.5, -0.5])


def _dense_case(label, x, W, b):
    expected = cnnlib.dense_forward(x, W, b)
    variants = [Variant("the bias b is missing: add b to every row of x @ W", x @ W)]
    if W.shape[0] == W.shape[1]:
        variants.append(Variant("x @ W.T instead of x @ W: W has shape (D, M), one column per output unit",
                                x @ W.T + b))
    variants.append(Variant("W @ x-shaped result: the output has one row per example (N, M)",
                            shape=(W.shape[1], x.shape[0])))
    check = array_check(expected, what="dense_forward output", variants=variants,
                        shape_hint="x (N, D) @ W (D, M) + b (M,) gives (N, M)", dtype=x.dtype,
                        magnitude=np.abs(x) @ np.abs(W) + np.abs(b))
    return Case(label, (x, W, b), {}, expected, check)


def dense_cases(rng):
    cases = [_dense_case("the worked example (2 examples, 3 features, 2 units)",
                         EXAMPLE_X, EXAMPLE_W, EXAMPLE_B)]
    for n, d, m in [(5, 7, 3), (1, 4, 6), (3, 4, 4)]:
        x, W, b = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m)
        cases.append(_dense_case(f"random batch: N={n}, D={d}, M={m}", x, W, b))
    x, W, b = (rng.normal(size=s).astype(np.float32) for s in [(6, 5), (5, 2), (2,)])
    cases.append(_dense_case("float32 inputs, N=6, D=5, M=2", x, W, b))
    return cases


def _mlp_case(label, sizes, kind=tuple):
    """The sizes are given as `kind`, a list or a tuple (the task promises both)."""
    sizes = tuple(int(s) for s in sizes)
    expected = cnnlib.mlp_param_count(list(sizes))
    pairs = list(zip(sizes[:-1], sizes[1:]))
    variants = [
        Variant("the biases are missing: each layer has n_in * n_out weights PLUS n_out biases",
                sum(a * b for a, b in pairs)),
        Variant("one bias per INPUT unit counted; a layer has one bias per OUTPUT unit",
                sum(a * b + a for a, b in pairs)),
        Variant("biases counted for the input layer too; the input layer has no parameters",
                sum(a * b for a, b in pairs) + sum(sizes)),
        Variant("only the first layer counted: sum over every pair of consecutive sizes",
                pairs[0][0] * pairs[0][1] + pairs[0][1]),
    ]
    if len(set(sizes)) < len(sizes):
        by_size = dict(pairs)                       # a dict keyed by n_in keeps one layer per width
        found = [(a, sizes[sizes.index(a) + 1]) for a in sizes[:-1]]   # list.index finds the first
        same = ("layers were told apart by their size (a dict keyed by size, or list.index): two layers "
                "of the same width are different layers; pair each size with the next, "
                "zip(sizes[:-1], sizes[1:])")
        variants += [Variant(same, sum(a * b + b for a, b in by_size.items())),
                     Variant(same, sum(a * b + b for a, b in found)),
                     Variant("a set of sizes keeps one of two equal widths: every layer has its own n_out biases",
                             sum(a * b for a, b in pairs) + sum(set(sizes[1:])))]
    what = f"mlp_param_count({given_as(kind, sizes)})"
    check = one_number(scalar_check(expected, what=what, variants=variants,
                                    hint="sum over consecutive layers of n_in * n_out + n_out"), what)
    return Case(label, (given_as(kind, sizes),), {}, expected, check)


def mlp_cases(rng):
    cases = [_mlp_case("the worked example [784, 128, 10]", (784, 128, 10), list),
             _mlp_case("a single layer (2, 3), a tuple", (2, 3), tuple),
             _mlp_case("two hidden layers of the same width [784, 256, 256, 10]", (784, 256, 256, 10), list)]
    for depth, kind in ((3, list), (4, tuple), (5, list)):
        sizes = rng.integers(1, 300, size=depth)
        cases.append(_mlp_case(f"random network with {depth} layer sizes, a {kind.__name__}", sizes, kind))
    return cases


IMAGE = (224, 224, 3)


def param_counts_expected():
    h, w, c = IMAGE
    return cnnlib.dense_param_count(h * w * c, 1000), cnnlib.conv_param_count(c, 64, 3)


def _param_counts_check(got):
    dense, conv = param_counts_expected()
    h, w, c = IMAGE
    if isinstance(got, (tuple, list)) and len(got) == 2:
        for name, item in zip(("dense_params", "conv_params"), got):
            if isinstance(item, np.ndarray) and item.ndim > 0:
                return (f"param_counts: {name} is an array of shape {tuple(item.shape)}, not one number: each count "
                        "must be one number (an int); does mlp_param_count return an array?")
            if isinstance(item, (str, bytes)):
                return f"param_counts: {name} is a str, not a number: store the count as a number (an int), not as text"
    arr, msg = to_array(got)
    if msg:
        return f"param_counts: {msg}; expected a tuple (dense_params, conv_params)"
    if arr.shape != (2,):
        return f"param_counts has shape {arr.shape}; expected a tuple of two numbers (dense_params, conv_params)"
    msgs = []
    dense_wrong = {h * w * c * 1000: "the 1,000 biases are missing",
                   h * w * 1000 + 1000: "the 3 colour channels are missing: the input has 224*224*3 numbers",
                   h * w * c + 1000: "inputs and units were added, not multiplied"}
    conv_wrong = {64 * 3 * 3 * c: "the 64 biases are missing: each filter has F*F*C weights plus ONE bias",
                  64 * (3 * 3 + 1): "the 3 input channels are missing: each filter is 3x3x3",
                  64 * (3 * 3 + 1) * c: "one bias per channel counted: each filter has ONE bias"}
    shared = "a conv layer shares its weights across positions: the image size does not enter the count"
    hints = {"dense_params": "ONE dense layer from the 224*224*3 inputs to 1,000 units: its weights and biases",
             "conv_params": "each of the 64 filters has 3x3x3 weights (F*F*C) and ONE bias"}
    # A value is not a function of random inputs: its expected value IS the answer, and the
    # pre-hand-in check (the same messages) reveals no answers. So: what is wrong, never the number.
    for name, got_v, want, wrong in (("dense_params", arr[0], dense, dense_wrong),
                                      ("conv_params", arr[1], conv, conv_wrong)):
        if got_v != want:
            hint = wrong.get(got_v, hints[name])
            if name == "conv_params" and got_v >= h * w:
                hint = shared
            msgs.append(f"{name} is {fmt_num(got_v)}, not the right count: {hint}")
    return "; ".join(msgs) if msgs else None


param_counts_check = never_raises(_param_counts_check, "param_counts")


def param_cases(rng):
    return [Case("parameters of a dense layer vs a conv layer on a 224x224x3 image", (), {},
                 param_counts_expected(), param_counts_check)]


CHECKS = [
    Check("test_dense_forward", ASSIGNMENT, "dense_forward", "function", dense_cases,
          cell="dense_forward", params=("x", "W", "b"), points=4),
    Check("test_mlp_param_count", ASSIGNMENT, "mlp_param_count", "function", mlp_cases,
          cell="mlp_param_count", params=("layer_sizes",), points=4),
    Check("test_param_counts", ASSIGNMENT, "param_counts", "value", param_cases,
          cell="param_counts", points=2),
]
