"""One argument order everywhere: in, out, size (C, K, F), as PyTorch's
``Conv2d(in_channels, out_channels, kernel_size)``.

Reads the signatures of ``cnnlib``'s public functions and classes and the ``def`` lines of the
released exercise notebooks, and says, for each name, whether its arguments keep that order
and whether the exercise and ``cnnlib`` take their shared arguments in the same order. The
Notation page prints the table (and its build fails on a "no"); ``tests/test_argument_order.py``
asserts the same, so ``pytest`` catches a drift without a book build.
"""
import inspect
import re
from pathlib import Path

from checkpoint import exercise_summary

#: argument name (lower case) -> its place in the order: 0 in, 1 out, 2 size
ROLES = {
    "c": 0, "c_in": 0, "in_channels": 0, "n_in": 0,
    "k": 1, "k_mid": 1, "k_out": 1, "out_channels": 1, "n_out": 1,
    "f": 2, "fh": 2, "fw": 2, "kernel_size": 2,
}
RULE = "in, out, size: C, K, F, as PyTorch's Conv2d(in_channels, out_channels, kernel_size)"

#: cnnlib names the Notation page always lists; any other name of cnnlib or of an exercise
#: that takes two or more of in, out, size is added to them
LISTED = ["conv2d", "conv2d_backward", "zero_pad", "conv_output_size", "conv_param_count",
          "dense_forward", "dense_param_count", "mlp_param_count", "receptive_field",
          "max_pool2d", "avg_pool2d", "max_pool2d_backward",
          "Conv2D", "Dense", "MaxPool2D", "SGD", "Adam", "fit", "accuracy"]


def arguments(sig_text):
    """Argument names of a signature text ``name(a, b=1, *, c)``, in order, lower case."""
    inside = sig_text[sig_text.index("(") + 1:sig_text.rindex(")")]
    return [a.split("=")[0].strip().lower() for a in inside.split(",")
            if a.strip() and a.strip() not in ("*", "/")]


def keeps_rule(args):
    """True when the arguments that stand for C, K, F come in that order (in, out, size)."""
    places = [ROLES[a] for a in args if a in ROLES]
    return places == sorted(places)


def takes_two_roles(args):
    return len({ROLES[a] for a in args if a in ROLES}) >= 2


def exercise_signatures(exercises_dir):
    """name -> (``def`` signature text, exercise id) of every graded function of the exercises."""
    found = {}
    for nb in sorted(Path(exercises_dir).glob("*/*.ipynb")):
        for sig, *_ in exercise_summary(nb)["functions"]:
            if sig and "(" in sig:
                found[sig.split("(")[0]] = (sig, nb.stem)
    return found


def library_signature(module, name):
    """``name(args)`` of a public function or class of `module`, or None if it has none."""
    obj = getattr(module, name, None)
    if not callable(obj):
        return None
    sig = f"{name}{inspect.signature(obj)}"
    return re.sub(r"<class '(?:numpy\.)?(\w+)'>", r"np.\1", sig)


def order_rows(module, exercises_dir):
    """(name, cnnlib signature or None, exercise signature or None, exercise id, same order?)

    "Same order?" is True when every signature keeps in, out, size and, where the name is in
    both, the exercise takes the arguments it shares with ``cnnlib`` in ``cnnlib``'s order.
    """
    in_exercises = exercise_signatures(exercises_dir)
    names = list(LISTED)
    for name in list(getattr(module, "__all__", [])) + list(in_exercises):
        sig = library_signature(module, name) or in_exercises.get(name, (None,))[0]
        if name not in names and sig and takes_two_roles(arguments(sig)):
            names.append(name)
    rows = []
    for name in names:
        lib_sig = library_signature(module, name)
        ex_sig, ex_id = in_exercises.get(name, (None, None))
        sigs = [s for s in (lib_sig, ex_sig) if s]
        same = all(keeps_rule(arguments(s)) for s in sigs)
        if lib_sig and ex_sig:
            a, b = arguments(lib_sig), arguments(ex_sig)
            shared = [p for p in b if p in a]
            same = same and [p for p in a if p in shared] == shared
        rows.append((name, lib_sig, ex_sig, ex_id, same))
    return rows
