"""01b_pipeline_shapes: the output shape and the parameter count of every layer of a small CNN.

A network is described as a sequence of layers, each a tuple:
``("conv", K, Fh, Fw, stride, padding)``, ``("relu",)``, ``("maxpool", size, stride)``,
``("flatten",)``, ``("dense", M)``. Shapes are tuples: (N, C, H, W) for maps, (N, D) for vectors.
Expected values come from cnnlib's size functions; the cases give shapes and layers as tuples or
as lists (the task promises both).
"""
import math

import numpy as np

import cnnlib

from ._core import Case, Check, describe, never_raises
from ._extra import _shape_text, count_check, given_as, int_tuple_check, one_number

ASSIGNMENT = "01b_pipeline_shapes"

#: the network of the book's chapter "What a CNN is" (8x8 digits)
BOOK_NET = (("conv", 8, 3, 3, 1, 1), ("relu",), ("conv", 16, 3, 3, 1, 1), ("relu",), ("flatten",),
            ("dense", 10))


def out_shape(shape, layer):
    """The output shape of `layer` for an input of `shape` (the trusted reference)."""
    kind = layer[0]
    if kind == "conv":
        N, C, H, W = shape
        _, K, Fh, Fw, S, P = layer
        return (N, K, cnnlib.conv_output_size(H, Fh, P, S), cnnlib.conv_output_size(W, Fw, P, S))
    if kind == "maxpool":
        N, C, H, W = shape
        _, size, S = layer
        return (N, C, cnnlib.conv_output_size(H, size, 0, S), cnnlib.conv_output_size(W, size, 0, S))
    if kind == "relu":
        return tuple(shape)
    if kind == "flatten":
        return (shape[0], math.prod(shape[1:]))
    if kind == "dense":
        return (shape[0], layer[1])
    raise ValueError(f"unknown layer {layer!r}")


def params(shape, layer):
    if layer[0] == "conv":
        return cnnlib.conv_param_count(shape[1], layer[1], (layer[2], layer[3]))
    if layer[0] == "dense":
        return cnnlib.dense_param_count(shape[1], layer[1])
    return 0


def _floor(n, f, p, s, ceil=False):
    num = n + 2 * p - f
    return (-(-num // s) if ceil else num // s) + 1


def shape_variants(shape, layer):
    """(shape, message) pairs of known mistakes."""
    kind, v = layer[0], []
    if kind == "conv":
        N, C, H, W = shape
        _, K, Fh, Fw, S, P = layer
        Ho, Wo = _floor(H, Fh, P, S), _floor(W, Fw, P, S)
        v += [((N, C, Ho, Wo), "a conv layer gives one map per FILTER: the channels become K"),
              ((K, Ho, Wo), "the batch axis N is missing: keep N first, (N, K, H_out, W_out)"),
              ((N, K, _floor(H, Fh, 0, S), _floor(W, Fw, 0, S)), "the padding is ignored: H_out = (H + 2P - Fh) // S + 1"),
              ((N, K, (H + P - Fh) // S + 1, (W + P - Fw) // S + 1), "padding counted once: P zeros on EACH side add 2P"),
              ((N, K, H + 2 * P - Fh + 1, W + 2 * P - Fw + 1), "the stride is ignored: H_out = (H + 2P - Fh) // S + 1"),
              ((N, K, _floor(H, Fh, P, S, True), _floor(W, Fw, P, S, True)), "ceil instead of floor: a window that does not fit is dropped"),
              ((N, K, Ho - 1, Wo - 1), "the +1 is missing: H_out = (H + 2P - Fh) // S + 1"),
              ((N, K, _floor(H, Fw, P, S), _floor(W, Fh, P, S)), "Fh and Fw swapped: Fh runs along H (rows), Fw along W"),
              ((N, K, _floor(H, Fh, P, S), _floor(W, Fh, P, S)), "the kernel is taken as square (Fh x Fh): use Fw for W"),
              ((N, K, (H - Fh) // S + 1 + 2 * P // S, (W - Fw) // S + 1 + 2 * P // S),
               "the padding was added after the floor division: H_out = (H + 2P - Fh) // S + 1"),
              ((N, K, (H + 2 * P - Fh + 1) // S, (W + 2 * P - Fw + 1) // S),
               "the +1 belongs after the floor division: H_out = (H + 2P - Fh) // S + 1")]
    elif kind == "maxpool":
        N, C, H, W = shape
        _, size, S = layer
        v += [((N, C, _floor(H, size, 0, S, True), _floor(W, size, 0, S, True)), "ceil instead of floor: a window that does not fit is dropped"),
              ((N, C, H // size, W // size), "the stride is ignored: H_out = (H - size) // stride + 1"),
              ((N, C, H - size + 1, W - size + 1), "the stride is ignored: H_out = (H - size) // stride + 1"),
              ((N, C, (H - S) // size + 1, (W - S) // size + 1),
               "size and stride are swapped: a layer is (\"maxpool\", size, stride), H_out = (H - size) // stride + 1"),
              ((N, C, (H - size + 1) // S, (W - size + 1) // S),
               "the +1 belongs after the floor division: H_out = (H - size) // stride + 1")]
    elif kind == "flatten":
        v += [((math.prod(shape[1:]),), "the batch axis N is missing: flatten gives (N, C*H*W)"),
              ((math.prod(shape),), "the batch axis was flattened too: flatten gives (N, C*H*W)")]
    elif kind == "dense":
        v += [((layer[1],), "the batch axis N is missing: a dense layer gives (N, M)"),
              ((shape[1], layer[1]), "the output is (N, M): one row of M outputs per example")]
    return [(s, m) for s, m in v if s != out_shape(shape, layer)]


def param_variants(shape, layer):
    kind, v = layer[0], []
    if kind == "conv":
        C = shape[1]
        _, K, Fh, Fw, S, P = layer
        v += [(K * Fh * Fw * C, "the biases are missing: one bias per filter, K (C Fh Fw + 1)"),
              (K * (Fh * Fw + 1), "the input channels are missing: each filter is C x Fh x Fw"),
              (K * (Fh * Fw + 1) * C, "one bias per filter, not per channel: K (C Fh Fw + 1)"),
              (K * (Fh * Fh * C + 1), "the kernel is taken as square (Fh x Fh): a filter is C x Fh x Fw"),
              (K * (Fh * Fw * C + 1) * shape[0], "the parameters do not depend on the batch size N")]
    elif kind == "dense":
        D, M = shape[1], layer[1]
        v += [(D * M, "the biases are missing: D * M weights plus M biases"),
              (D * M + D, "one bias per OUTPUT unit: D * M + M"),
              ((D * M + M) * shape[0], "the parameters do not depend on the batch size N")]
    else:
        v += [(1, "this layer has no parameters")]
    return [(n, m) for n, m in v if n != params(shape, layer)]


def _layer_text(layer):
    kind = layer[0]
    if kind == "conv":
        return f"conv {layer[1]} filters {layer[2]}x{layer[3]}, stride {layer[4]}, padding {layer[5]}"
    if kind == "maxpool":
        return f"maxpool {layer[1]}x{layer[1]}, stride {layer[2]}"
    if kind == "dense":
        return f"dense to {layer[1]}"
    return kind


def _random_layers(rng):
    """A random valid network for an input of (N, C, H, W): conv/relu/maxpool blocks, flatten, dense."""
    N, C = int(rng.integers(2, 5)), int(rng.integers(1, 4))
    H, W = int(rng.integers(12, 30)), int(rng.integers(12, 30))
    shape, layers = (N, C, H, W), []
    for _ in range(int(rng.integers(1, 3))):
        K, Fh, Fw = int(rng.integers(2, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        S, P = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        if Fh > shape[2] + 2 * P or Fw > shape[3] + 2 * P:
            break
        for layer in (("conv", K, Fh, Fw, S, P), ("relu",)):
            layers.append(layer)
            shape = out_shape(shape, layer)
        size, S = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        if size <= min(shape[2:]):
            layers.append(("maxpool", size, S))
            shape = out_shape(shape, layers[-1])
    layers += [("flatten",), ("dense", int(rng.integers(2, 11)))]
    return (N, C, H, W), tuple(layers)


# --------------------------------------------------------------------------- cases
def _shape_case(label, shape, layer, kind=tuple):
    expected = out_shape(shape, layer)
    shape_in, layer_in = given_as(kind, shape), given_as(kind, layer)
    check = int_tuple_check(expected, what=f"layer_output_shape({shape_in}, {layer_in})",
                            variants=shape_variants(shape, layer))
    return Case(label, (shape_in, layer_in), {}, expected, check)


LAYER_EXAMPLES = [
    ((2, 1, 8, 8), ("conv", 8, 3, 3, 1, 1), "the worked example: 8 filters 3x3, padding 1, on 2 digits"),
    ((4, 3, 32, 24), ("conv", 16, 5, 3, 2, 0), "non-square 32x24 input, 5x3 kernel, stride 2 (does not divide), padding 0"),
    ((3, 6, 9, 7), ("conv", 4, 2, 4, 3, 2), "non-square 9x7 input, 2x4 kernel, stride 3 (does not divide), padding 2"),
    ((2, 16, 7, 9), ("maxpool", 2, 2), "max pooling 2x2, stride 2, on a non-square 7x9 map (does not divide)"),
    ((5, 4, 10, 6), ("maxpool", 3, 1), "max pooling 3x3, stride 1 (overlapping windows)"),
    ((3, 8, 6, 5), ("relu",), "ReLU keeps the shape"),
    ((6, 40), ("relu",), "ReLU on vectors keeps the shape (N, D), as between two dense layers"),
    ((2, 16, 8, 8), ("flatten",), "flatten 16 maps of 8x8, N=2"),
    ((4, 3, 5, 7), ("flatten",), "flatten, N=4, non-square 5x7 maps"),
    ((2, 1024), ("dense", 10), "dense 1024 -> 10, N=2"),
    ((7, 30), ("dense", 4), "dense 30 -> 4, N=7"),
    # found by a hunt (session 16): stride 3 with padding 1, where adding 2P // S after the floor
    # division falls short; and a pooling whose stride is not its size, where (H - size + 1) // S
    # and a swapped size and stride fall short (the pooling above has a stride of 1 or its size)
    ((2, 3, 10, 13), ("conv", 5, 3, 2, 3, 1), "non-square 10x13 input, 3x2 kernel, stride 3, padding 1 "
                                                "(2P smaller than the stride)"),
    ((3, 5, 11, 8), ("maxpool", 3, 2), "max pooling 3x3, stride 2 (not the size), on a non-square 11x8 map"),
]


#: one fixed example of each layer kind, given again as lists (a relu or a flatten compared with a
#: tuple, `layer == ("relu",)`, fails on a list: every kind must meet both, in every draw)
AS_LISTS = [LAYER_EXAMPLES[i] for i in (1, 3, 5, 7, 10)]


def _layer_cases(rng, make_case):
    """make_case(label, shape, layer, kind) for the fixed examples as tuples (as in the task), one
    example of each layer kind again as lists, then each layer of a random network, its shape and
    layer given as lists and tuples in turn."""
    cases = [make_case(label, shape, layer) for shape, layer, label in LAYER_EXAMPLES]
    cases += [make_case(f"{label}, given as lists", shape, layer, list) for shape, layer, label in AS_LISTS]
    shape, layers = _random_layers(rng)
    for i, layer in enumerate(layers):
        kind = (list, tuple)[i % 2]
        cases.append(make_case(f"random network: {_layer_text(layer)} on {shape}, given as {kind.__name__}s",
                               shape, layer, kind))
        shape = out_shape(shape, layer)
    return cases


def shape_cases(rng):
    return _layer_cases(rng, _shape_case)


def _param_case(label, shape, layer, kind=tuple):
    expected = params(shape, layer)
    shape_in, layer_in = given_as(kind, shape), given_as(kind, layer)
    what = f"layer_param_count({shape_in}, {layer_in})"
    check = one_number(count_check(expected, what=what, variants=param_variants(shape, layer)), what)
    return Case(label, (shape_in, layer_in), {}, expected, check)


def param_cases(rng):
    return _layer_cases(rng, _param_case)


def summary(input_shape, layers):
    out, shape = [], tuple(input_shape)
    for layer in layers:
        out.append((out_shape(shape, layer), params(shape, layer)))
        shape = out[-1][0]
    return out


def _numbers(value, rank):
    """`value` as a tuple of `rank` finite floats, or None (not a shape of that rank)."""
    try:
        arr = np.asarray(value, dtype=float)
    except Exception:
        return None
    if arr.ndim != 1 or arr.size != rank or not np.all(np.isfinite(arr)):
        return None
    return tuple(float(v) for v in arr)


def _whole(values):
    """A shape of whole numbers >= 1 (floats such as 6.0 too)."""
    return values is not None and all(v == int(v) and v >= 1 for v in values)


ENTERS = "that is the shape that ENTERS the layer; give the shape it outputs"
NET_INPUT = "that is the network's input shape: each layer's output is the NEXT layer's input"
ON_NET_INPUT = "that is this layer on the network's input shape: each layer's input is the previous layer's output"
ON_OUTPUT = "counted with the shape the layer outputs: count with the shape that ENTERS it"
COUNT_ON_NET_INPUT = "counted with the network's input shape: count with the shape that ENTERS the layer"


def _entering(right_in, ins=None):
    """The shape that enters the layer given as its output: the right one, or `ins`, the one the
    student's list gives it."""
    return [(tuple(right_in), ENTERS)] + ([(ins, ENTERS)] if ins is not None else [])


def _from_net_input(i, layer, net_input):
    """The network's input shape given as layer i's output, or the layer applied to it (every layer
    given the network's input). Tried after the layer's own mistakes, and only for answers they do
    not give: on the book's C = 1 digits the count on the network's input is the count with the
    channels forgotten."""
    if not i:
        return []
    pairs = [(tuple(net_input), NET_INPUT)]
    try:
        pairs.append((out_shape(net_input, layer), ON_NET_INPUT))
    except (ValueError, TypeError, IndexError):
        pass
    return pairs


def _counts(shapes, layer, message):
    """(count, message) for `layer` counted with each shape of `shapes` (those of whole numbers)."""
    pairs = []
    for shape in shapes:
        if _whole(shape):
            try:
                pairs.append((params(tuple(int(v) for v in shape), layer), message))
            except (ValueError, TypeError, IndexError):
                pass
    return pairs


def _only(pairs, right, then=()):
    """`pairs` without the right answer, then those of `then` whose wrong answer no pair gives yet
    (each answer of `_from_net_input` is the last guess for it, and said once)."""
    out = [(value, message) for value, message in pairs if value != right]
    seen = {value for value, _ in out} | {right}
    for value, message in then:
        if value not in seen:
            seen.add(value)
            out.append((value, message))
    return out


def _layer_verdicts(i, layer, right_in, right_out, right_n, item, previous, net_input):
    """The messages for layer i of a student's summary: its (shape, count) `item`, given `previous`,
    the shape the student's list has after layer i - 1 (None for the first layer, or when that item
    was not a pair); `net_input` is the network's input shape.

    A layer is judged on the input it was given. Where an earlier layer's shape is already wrong, a
    shape or a count that the right rule gives on that wrong input is not this layer's mistake (the
    earlier layer is named). Where this layer is wrong on it too, only the mistakes of the chaining are
    named: a rule's mistake "found" on a shape the layer may never have been given blamed right layers
    (a ceil in a conv layer made a right pooling after it look like "ceil instead of floor"; the
    layers' own cases, in test_layer_output_shape and test_layer_param_count, name those mistakes)."""
    text = _layer_text(layer)
    shape_what, count_what = f"the shape after layer {i} ({text})", f"the parameters of layer {i} ({text})"
    got_shape, got_n = item
    mine = _numbers(got_shape, len(right_out))
    theirs = None if previous is None else _numbers(previous, len(right_in))
    if previous is None or theirs == _numbers(right_in, len(right_in)):
        net = (net_input,) if i else ()
        msgs = [int_tuple_check(right_out, what=shape_what, variants=_only(
                    _entering(right_in) + shape_variants(right_in, layer), right_out,
                    _from_net_input(i, layer, net_input)))(got_shape),
                one_number(count_check(right_n, what=count_what, variants=_only(
                    _counts((mine, right_out), layer, ON_OUTPUT) + param_variants(right_in, layer), right_n,
                    _counts(net, layer, COUNT_ON_NET_INPUT))), count_what)(got_n)]
        return [m for m in msgs if m]
    # the shape this layer got from the student's list is wrong: an earlier layer is to blame (nothing
    # to judge on a shape of another rank, or of fractions: the earlier layer's message says so)
    if not _whole(theirs):
        return []
    ins = tuple(int(v) for v in theirs)
    try:
        follow_shape, follow_n = out_shape(ins, layer), params(ins, layer)
    except (ValueError, TypeError, IndexError):
        return []
    given = f", given the shape {_shape_text(ins)} your list has after layer {i - 1},"
    msgs = []
    if mine not in (_numbers(right_out, len(right_out)), _numbers(follow_shape, len(right_out))):
        msgs.append(int_tuple_check(follow_shape, what=shape_what + given, variants=_only(
            _entering(right_in, ins), follow_shape, _from_net_input(i, layer, net_input)))(got_shape))
    if not (_close(got_n, right_n) or _close(got_n, follow_n)):
        msgs.append(one_number(count_check(follow_n, what=count_what + given, variants=_only(
            _counts((mine,), layer, ON_OUTPUT), follow_n, _counts((net_input,), layer, COUNT_ON_NET_INPUT))),
            count_what)(got_n))                     # an array is refused whatever shape it was given
    return [m for m in msgs if m]


def _close(got, n):
    """`got` is the number n (a whole float such as 80.0 counts; a bool does not, nor an array with
    an axis: one_number refuses np.array([n]))."""
    if isinstance(got, (bool, np.bool_)) or (isinstance(got, np.ndarray) and got.ndim > 0):
        return False
    try:
        return float(got) == float(n)
    except (TypeError, ValueError):
        return False


def summary_check(input_shape, layers, expected):
    """A check for pipeline_summary's list: one (shape, parameters) pair per layer, each layer judged
    on the shape the student's own list gives it (see _layer_verdicts); it stops after three messages."""
    what, n = "pipeline_summary", len(layers)

    def verdict(got):
        if isinstance(got, np.ndarray) or not isinstance(got, (list, tuple)):
            return f"{what}: returned {describe(got)}; expected a list of {n} (shape, parameters) pairs"
        if len(got) != n:
            return f"{what}: returned {len(got)} items; expected one (shape, parameters) pair per layer, {n}"
        msgs, previous, right_in = [], None, tuple(input_shape)
        for i, (layer, (right_out, right_n), item) in enumerate(zip(layers, expected, got)):
            if isinstance(item, np.ndarray) or not isinstance(item, (list, tuple)) or len(item) != 2:
                msgs.append(f"layer {i} ({layer[0]}): got {describe(item)}; expected a pair (shape, parameters)")
                previous = None
            else:
                msgs += _layer_verdicts(i, layer, right_in, right_out, right_n, item, None if i == 0 else previous,
                                        tuple(input_shape))
                previous = item[0]
            right_in = right_out
            if len(msgs) >= 3:
                break
        if not msgs and [(tuple(s), c) for s, c in got] != expected:    # never a pass for a wrong list
            return f"{what}: returned {describe(got)}; expected other (shape, parameters) pairs"
        return "; ".join(msgs) if msgs else None

    return never_raises(verdict, what, f"; expected a list of {n} (shape, parameters) pairs")


def _summary_case(label, input_shape, layers, kind=tuple):
    """The input shape and the layers (each layer too) are given as `kind`, a list or a tuple."""
    expected = summary(input_shape, layers)
    return Case(label, (given_as(kind, input_shape), given_as(kind, layers)), {}, expected,
                summary_check(input_shape, layers, expected))


#: conv-relu-pool twice on non-square images: every layer kind
SECOND_NET = (("conv", 6, 5, 3, 1, 0), ("relu",), ("maxpool", 2, 2), ("conv", 12, 3, 3, 2, 1), ("relu",),
              ("maxpool", 3, 2), ("flatten",), ("dense", 5))


#: a stride of 3 with padding 1, then a pooling whose stride is not its size (see LAYER_EXAMPLES):
#: every layer's shape is checked again in the summary, so its slips must show there too
THIRD_NET = (("conv", 4, 3, 2, 3, 1), ("relu",), ("maxpool", 3, 2), ("flatten",), ("dense", 7))


def summary_cases(rng):
    cases = [_summary_case("the worked example: the book's network on 2 digits (1x8x8)", (2, 1, 8, 8), BOOK_NET),
             _summary_case("conv-relu-pool twice on 3 non-square 3x28x20 images", (3, 3, 28, 20), SECOND_NET),
             # every layer kind, pooling too, as a list in every draw
             _summary_case("conv-relu-pool twice on 3 non-square 3x28x20 images, given as lists", (3, 3, 28, 20),
                           SECOND_NET, list),
             _summary_case("conv with stride 3 and padding 1, max pooling 3x3 with stride 2, on 2 non-square "
                           "2x12x19 images", (2, 2, 12, 19), THIRD_NET)]
    for kind in (list, tuple, list):
        shape, layers = _random_layers(rng)
        cases.append(_summary_case(f"random network of {len(layers)} layers on {shape}, given as {kind.__name__}s",
                                   shape, layers, kind))
    return cases


CHECKS = [
    Check("test_layer_output_shape", ASSIGNMENT, "layer_output_shape", "function", shape_cases,
          cell="layer_output_shape", params=("in_shape", "layer"), points=5),
    Check("test_layer_param_count", ASSIGNMENT, "layer_param_count", "function", param_cases,
          cell="layer_param_count", params=("in_shape", "layer"), points=4),
    Check("test_pipeline_summary", ASSIGNMENT, "pipeline_summary", "function", summary_cases,
          cell="pipeline_summary", params=("input_shape", "layers"), points=3),
]
