"""Argument checks: the one module that validates the arguments of every public function.

Every check takes the public function's name (``func``) and the argument's name (``name``)
so that the message reads ``conv2d: stride must be an int >= 1 or a pair of them, got 0``.
Wrong types raise ``TypeError``; right type but wrong value (shape, range) ``ValueError``.
"""
import numbers

import numpy as np

__all__ = [
    "check_int",
    "as_pair",
    "check_array",
    "check_same_shape",
    "float_dtype",
    "window_geometry",
    "check_conv",
    "check_conv_backward",
    "as_float",
    "as_float_array",
    "check_ndim",
    "check_labels",
    "check_number",
    "check_parameters",
    "check_grad",
    "check_float_dtype",
    "check_finite",
    "as_generator",
    "check_shape",
    "nhwc_hint",
]


def _is_int(value):
    """True for Python and NumPy integers, False for bool (a bool is not a size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value, func, name, minimum=0):
    """Return ``value`` as an int, checking it is an integer >= ``minimum``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (floats such as 2.0 and bools are refused).
    ValueError
        If ``value < minimum``.
    """
    if not _is_int(value):
        raise TypeError(
            f"{func}: {name} must be an int >= {minimum}, got {type(value).__name__} {value!r}"
        )
    if value < minimum:
        raise ValueError(f"{func}: {name} must be an int >= {minimum}, got {value}")
    return int(value)


def as_pair(value, func, name, minimum=0):
    """Return ``(h, w)`` from an int or a pair of ints, each checked to be >= ``minimum``.

    Raises
    ------
    TypeError
        If ``value`` is neither an integer nor a length-2 tuple/list of integers.
    ValueError
        If a component is below ``minimum`` or a sequence does not have length 2.
    """
    expected = f"an int >= {minimum} or a pair (h, w) of them"
    if _is_int(value):
        if value < minimum:
            raise ValueError(f"{func}: {name} must be {expected}, got {value}")
        return int(value), int(value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{func}: {name} must be {expected}, got {value!r} (length {len(value)})")
        if not all(_is_int(v) for v in value):
            kinds = ", ".join(type(v).__name__ for v in value)
            raise TypeError(f"{func}: {name} must be {expected}, got {value!r} ({kinds})")
        if min(value) < minimum:
            raise ValueError(f"{func}: {name} must be {expected}, got {tuple(value)}")
        return int(value[0]), int(value[1])
    raise TypeError(f"{func}: {name} must be {expected}, got {type(value).__name__} {value!r}")


def check_array(x, func, name, ndim=None, layout=None):
    """Check that ``x`` is a real numeric ``np.ndarray`` with ``ndim`` dimensions; return it.

    ``layout`` (e.g. ``"(N, C, H, W)"``) only enriches the message.

    Raises
    ------
    TypeError
        If ``x`` is not a NumPy array or its dtype is not integer/float (bool, complex, object).
    ValueError
        If ``x.ndim != ndim`` or ``x`` is empty.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{func}: {name} must be a numpy array, got {type(x).__name__}")
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise TypeError(f"{func}: {name} must have an integer or float dtype, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        what = f"{ndim}-D array {layout}" if layout else f"{ndim}-D array"
        raise ValueError(f"{func}: {name} must be a {what}, got a {x.ndim}-D array of shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{func}: {name} must not be empty, got shape {x.shape}")
    return x


def check_same_shape(a, expected_shape, func, name, why=""):
    """Raise ValueError unless ``a.shape == expected_shape``."""
    if a.shape != tuple(expected_shape):
        extra = f" ({why})" if why else ""
        raise ValueError(f"{func}: {name} must have shape {tuple(expected_shape)}{extra}, got {a.shape}")


def float_dtype(*arrays):
    """The floating dtype of a computation on ``arrays``: float32 stays float32, integers -> float64."""
    dtype = np.result_type(*[a.dtype for a in arrays if a is not None])
    if not np.issubdtype(dtype, np.floating):
        return np.dtype(np.float64)
    return np.dtype(dtype)


def window_geometry(func, x_shape, kernel, stride, padding, what=""):
    """Check that a ``kernel`` (Fh, Fw) fits the padded input; return (stride, padding, (Ho, Wo)).

    Ho = floor((H + 2 Ph - Fh) / Sh) + 1 and Wo likewise: the one place this formula lives.
    ``what`` is added after the kernel's size in the message, e.g. "(w.shape=(8, 3, 7, 3))".
    """
    sh, sw = as_pair(stride, func, "stride", minimum=1)
    ph, pw = as_pair(padding, func, "padding", minimum=0)
    (H, W), (fh, fw) = x_shape[2:], kernel
    if fh > H + 2 * ph or fw > W + 2 * pw:
        raise ValueError(f"{func}: kernel {fh}x{fw}{' ' + what if what else ''} is larger than the padded input "
                         f"{H + 2 * ph}x{W + 2 * pw} (x.shape={tuple(x_shape)}, padding={(ph, pw)})")
    return (sh, sw), (ph, pw), ((H + 2 * ph - fh) // sh + 1, (W + 2 * pw - fw) // sw + 1)


def nhwc_hint(x_shape, channels):
    """A hint when x looks channels-last (N, H, W, C): its last axis has the C the weights
    expect and its two middle axes are alike (square images, as everywhere in the course), so
    that an NCHW x whose width happens to equal C is not told so."""
    looks_nhwc = len(x_shape) == 4 and x_shape[-1] == channels and x_shape[1] == x_shape[2]
    return " ((N, H, W, C) given? use x.transpose(0, 3, 1, 2))" if looks_nhwc else ""


def check_conv(func, x, w, b, stride, padding):
    """Validate the arguments of a convolution: x (N, C, H, W), w (K, C, Fh, Fw), b (K,) or None.

    Returns (stride, padding, (Ho, Wo)) as int pairs.
    """
    check_array(x, func, "x", ndim=4, layout="(N, C, H, W)")
    check_array(w, func, "w", ndim=4, layout="(K, C, Fh, Fw)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{func}: x has C={x.shape[1]} channels but w expects "
                         f"C={w.shape[1]} (w.shape={w.shape}){nhwc_hint(x.shape, w.shape[1])}")
    if isinstance(b, numbers.Number):
        raise TypeError(f"{func}: b must be a numpy array (K,) or None, got {type(b).__name__} {b!r} "
                        f"(the 3rd argument is b; pass stride=... by name)")
    if b is not None:
        check_array(b, func, "b", ndim=1, layout="(K,)")
        check_same_shape(b, (w.shape[0],), func, "b", f"one bias per filter, w.shape={w.shape}")
    geometry = window_geometry(func, x.shape, w.shape[2:], stride, padding, what=f"(w.shape={w.shape})")
    _check_fits_in_memory(func, x, w, geometry)
    return geometry


_MEMORY = []        # [bytes of RAM, or None where unknown], filled on first use


def _machine_memory():
    """This machine's physical memory in bytes (None where the OS does not say)."""
    if not _MEMORY:
        import os
        try:
            _MEMORY.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, ValueError, OSError):
            _MEMORY.append(None)
    return _MEMORY[0]


def _check_fits_in_memory(func, x, w, geometry):
    """MemoryError naming the argument when the padded input or the output exceeds the RAM.

    A few multiplications: numpy would fail anyway (or the OS kill the process), but with a
    message about an internal buffer that names neither the function nor the padding.
    """
    (_, _), (ph, pw), (Ho, Wo) = geometry
    N, C, H, W = x.shape
    padded, out = N * C * (H + 2 * ph) * (W + 2 * pw), N * w.shape[0] * Ho * Wo
    ram = _MEMORY[0] if _MEMORY else _machine_memory()
    if ram is None or max(padded, out) * 8 <= ram:        # 8 bytes: float64, the widest
        return
    itemsize = float_dtype(x, w).itemsize
    if max(padded, out) * itemsize <= ram:
        return
    P = (ph, pw) if ph != pw else ph
    cause = f"padding={P} makes" if ph or pw else f"x.shape={x.shape} and w.shape={w.shape} make"
    thing = (f"a padded input of {padded:,} values" if padded >= out else
             f"an output (N, K, H_out, W_out) = {(N, w.shape[0], Ho, Wo)} of {out:,} values")
    hint = "; padding P is usually at most F - 1" if ph >= w.shape[2] or pw >= w.shape[3] else ""
    raise MemoryError(f"{func}: {cause} {thing} ({_gb(max(padded, out) * itemsize)}), more than "
                      f"this machine's memory ({_gb(ram)}){hint}")


def _gb(nbytes):
    """A byte count in GB for a message: 160 GB, 2,560 GB, 0.0001 GB."""
    gb = nbytes / 1e9
    return f"{gb:,.0f} GB" if gb >= 10 else f"{gb:.2g} GB"


def check_conv_backward(func, dout, x, w, stride, padding):
    """:func:`check_conv`, and dout (N, K, Ho, Wo) of conv2d's output shape; the same return."""
    if isinstance(stride, np.ndarray) and isinstance(w, np.ndarray) and stride.shape == w.shape[:1]:
        raise TypeError(f"{func}: stride must be an int >= 1 or a pair (h, w) of them, got an array of "
                        f"shape {stride.shape} ({func} takes no b)")
    stride, padding, out_hw = check_conv(func, x, w, None, stride, padding)
    check_array(dout, func, "dout", ndim=4, layout="(N, K, H_out, W_out)")
    check_same_shape(dout, (x.shape[0], w.shape[0]) + out_hw, func, "dout", "the shape of conv2d's output")
    return stride, padding, out_hw


def as_float(x, func, name):
    """``x`` as an ndarray of floats (integers and bools -> float64); TypeError if not numeric."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        got = (f"dtype {arr.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
               if arr.ndim == 0 else f"{type(x).__name__} of dtype {arr.dtype}")
        raise TypeError(f"{func}: {name} must be a numeric array, got {got}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def check_ndim(x, func, name, ndim, layout, hint=""):
    """Raise ValueError unless ``x.ndim == ndim``; ``layout`` such as "(N, D)" names the axes."""
    if x.ndim != ndim:
        raise ValueError(f"{func}: {name} must be {ndim}-D {layout}, got shape {x.shape}{hint}")
    return x


def as_float_array(value, func, name, ndims, finite=True):
    """``value`` as a non-empty float64 array with one of ``ndims`` dimensions (for figures)."""
    if value is None or isinstance(value, (str, bytes, dict)):
        raise TypeError(f"{func}: {name} must be a numeric array, got {type(value).__name__}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{func}: {name} must be a numeric array, "
                        f"got {type(value).__name__}") from None
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{func}: {name} must be {want}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{func}: {name} must not be empty, got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{func}: {name} must contain only finite numbers")
    return arr


def check_labels(labels, func, name, n, num_classes=None):
    """``labels`` as an integer array of shape (n,), each in [0, num_classes) when given."""
    given, labels = labels, np.asarray(labels)
    if labels.dtype.kind not in "iu":
        got = (f"dtype {labels.dtype}" if isinstance(given, np.ndarray) else type(given).__name__
               if labels.ndim == 0 or labels.dtype.kind == "O" else f"{type(given).__name__} of dtype {labels.dtype}")
        raise TypeError(f"{func}: {name} must hold integer class labels, got {got}")
    if labels.shape != (n,):
        raise ValueError(f"{func}: {name} must have shape (N,) = ({n},), got {labels.shape}")
    if num_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{func}: {name} must lie in [0, {num_classes}) for M={num_classes} classes, "
                         f"got values from {labels.min()} to {labels.max()}")
    return labels


def check_number(value, func, name, low, high=np.inf, low_ok=False):
    """``value`` as a float with low < value < high (low <= value when ``low_ok``).

    Raises
    ------
    TypeError
        If ``value`` is not a real number (strings, None and bools are refused).
    ValueError
        If it is out of range (NaN is out of every range).
    """
    bounds = f"{'>=' if low_ok else '>'} {low}" + (f" and < {high}" if high != np.inf else "")
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name} must be a number {bounds}, got {type(value).__name__} {value!r}")
    if not ((low <= value if low_ok else low < value) and value < high):
        raise ValueError(f"{func}: {name} must be a number {bounds}, got {value!r}")
    return float(value)


def check_parameters(params, func, parameter_class):
    """A non-empty list of ``parameter_class`` objects from a list or generator of them."""
    if hasattr(params, "parameters") and hasattr(params, "forward"):
        raise TypeError(f"{func}: pass the model's parameters, {func}(model.parameters(), ...), "
                        f"got the model {type(params).__name__}")
    if not hasattr(params, "__iter__") or isinstance(params, (str, bytes)):
        raise TypeError(f"{func}: params must be a list of Parameters, {func}(model.parameters(), ...), "
                        f"got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError(f"{func}: params is empty; pass model.parameters()")
    first = {}                                  # id -> index where the parameter came first
    for i, p in enumerate(params):
        if not isinstance(p, parameter_class):
            raise TypeError(f"{func}: params[{i}] must be a Parameter, got {type(p).__name__}")
        if id(p) in first:                      # it would be updated twice per step
            raise ValueError(f"{func}: params[{i}] is params[{first[id(p)]}] (listed twice)")
        first[id(p)] = i
    return params


def check_grad(p, func, i):
    """Raise unless the Parameter ``p`` has a grad array of its value's shape (a shape comparison).

    A grad of shape (3,) for a (4, 3) value would broadcast and update every row alike.
    """
    grad = p.grad
    if p.value.ndim == 0 and isinstance(grad, np.generic):   # a 0-d value's grad after p.grad * 2
        grad = np.asarray(grad)
    if not isinstance(grad, np.ndarray):
        raise TypeError(f"{func}: params[{i}].grad must be a numpy array of its value's shape "
                        f"{p.value.shape}, got {type(grad).__name__}")
    if grad.shape != p.value.shape:
        raise ValueError(f"{func}: params[{i}] has grad of shape {grad.shape}, expected its value's "
                         f"shape {p.value.shape}")


def check_float_dtype(dtype, func, name="dtype"):
    """``dtype`` as np.float32 or np.float64, the two dtypes the layers train in.

    Integer weights round to zero and float16 makes Adam's eps 0, so both are refused.
    """
    try:
        if dtype is None:                       # np.dtype(None) would be float64, silently
            raise TypeError
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{func}: {name} must be np.float32 or np.float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{func}: {name} must be np.float32 or np.float64, got {dt}")
    return dt


def check_finite(x, func, name, hint=""):
    """Raise ValueError if the float array ``x`` holds a NaN or an infinity; return ``x``."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        what = "NaN" if np.isnan(x).any() else "inf"
        raise ValueError(f"{func}: {name} must be finite, got {what} "
                         f"(in {x.size - int(np.isfinite(x).sum())} of {x.size} values){hint}")
    return x


def as_generator(rng, func, seed=0):
    """``rng`` if it is a numpy Generator, ``np.random.default_rng(seed)`` if it is None."""
    if rng is None:
        return np.random.default_rng(seed)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{func}: rng must be a numpy Generator (np.random.default_rng(seed)) "
                        f"or None, got {type(rng).__name__}")
    return rng


def check_shape(value, func, name, layout):
    """``value`` as a tuple of ints >= 1, one per axis of ``layout`` such as "(N, C, H, W)"."""
    n = layout.count(",") + 1
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
        raise TypeError(f"{func}: {name} must be a tuple of {n} ints {layout}, got {value!r}")
    if len(value) != n or min(value) < 1:
        raise ValueError(f"{func}: {name} must be a tuple of {n} ints >= 1 {layout}, got {tuple(value)}")
    return tuple(int(v) for v in value)
