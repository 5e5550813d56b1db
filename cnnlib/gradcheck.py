"""Numeric gradients by centred differences, to check every backward pass.

The checks run in float64: with h = 1e-5 the centred difference has an error of order
h**2 ~ 1e-10 plus rounding of order eps / h ~ 1e-11, so a correct backward agrees to
about 1e-7 in relative error, and a wrong one is off by far more.
"""
import copy
import numbers

import numpy as np

from ._validate import as_float, as_generator, check_finite, check_number


def _numeric_gradient_inplace(f, x, dout, h):
    """Centred differences of sum(f() * dout) w.r.t. the array x, which f reads in place."""
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(np.asarray(f(), dtype=np.float64) * dout)
        x[idx] = old - h
        minus = np.sum(np.asarray(f(), dtype=np.float64) * dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def _checked_point(func, x, h):
    """x as a finite float64 copy, and h as a float > 0."""
    x = check_finite(as_float(x, func, "x").astype(np.float64), func, "x")     # a copy, never x itself
    return x, check_number(h, func, "h", 0)


def _value(func, f, x, what="f"):
    """f(x) as a finite float array; a clear error when f returns None or NaN or changes x.

    f gets a copy of x, compared with x afterwards: a function that modifies its argument in
    place (x[x < 0] = 0) would make every centred difference measure something else.
    """
    arg = x.copy()
    out = f(arg)
    _check_unchanged(func, what, arg, x)
    out = as_float(out, func, "f(x)")
    return check_finite(out, func, "f(x)", "; f must return finite numbers at x")


def _check_unchanged(func, what, arg, x):
    """Raise ValueError unless ``arg`` still equals ``x`` (f did not modify its argument)."""
    if arg.shape != x.shape or not np.array_equal(arg, x, equal_nan=True):
        raise ValueError(f"{func}: {what} changed its argument x in place; the numeric gradient needs "
                         f"x unchanged, so {what} must compute into a new array")


def _check_dx(where, dx, x):
    """Raise unless the analytic gradient dx is an array of x's shape."""
    if isinstance(dx, tuple):
        raise TypeError(f"grad_check: {where} returned a tuple of {len(dx)}, expected the array dx of "
                        f"x's shape {x.shape}")
    scalar = x.ndim == 0 and isinstance(dx, (np.generic, numbers.Number)) and not isinstance(dx, bool)
    shape = np.shape(dx) if isinstance(dx, (np.ndarray, list)) or scalar else None
    if shape is None:
        raise TypeError(f"grad_check: {where} returned {type(dx).__name__}, expected an array of "
                        f"x's shape {x.shape}")
    if shape != x.shape:
        raise ValueError(f"grad_check: {where} returned shape {shape}, expected x's shape {x.shape}")


def numeric_gradient(f, x, dout=None, h=1e-5):
    """Gradient of sum(f(x) * dout) with respect to x, by centred differences.

    Parameters
    ----------
    f : callable
        Takes an array shaped like `x`, returns an array (any shape) or a scalar. It must not
        modify its argument (ValueError if it does).
    x : array_like
        The point where the gradient is taken; copied to float64, never modified.
    dout : array_like or None
        Upstream gradient, shaped like f(x); None means all ones (the gradient of sum(f(x))).
    h : float
        Step of the centred difference.

    Returns
    -------
    grad : ndarray, float64, shaped like x

    Notes
    -----
    grad[i] = (L(x + h e_i) - L(x - h e_i)) / (2h) with L(x) = sum(f(x) * dout).
    """
    if not callable(f):
        raise TypeError(f"numeric_gradient: f must be callable, got {type(f).__name__}")
    x, h = _checked_point("numeric_gradient", x, h)
    out = _value("numeric_gradient", f, x)
    if dout is None:
        dout = np.ones_like(out, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != out.shape:
        raise ValueError(f"numeric_gradient: dout has shape {dout.shape} but f(x) has shape {out.shape}")
    start = x.copy()
    grad = _numeric_gradient_inplace(lambda: f(x), x, dout, h)
    _check_unchanged("numeric_gradient", "f", x, start)      # a change only at some points
    return grad


def relative_error(a, b):
    """Largest element-wise relative error max |a - b| / max(|a| + |b|, 1e-8).

    Parameters
    ----------
    a, b : array_like, same shape

    Returns
    -------
    float
        About 1e-7 or less for a correct float64 backward against numeric_gradient.
    """
    a = as_float(a, "relative_error", "a").astype(np.float64, copy=False)
    b = as_float(b, "relative_error", "b").astype(np.float64, copy=False)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: a has shape {a.shape} but b has shape {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def grad_check(layer_or_fn, x, rng=None, *, backward=None, h=1e-5):
    """Compare analytic and numeric gradients; return the max relative error of each.

    Parameters
    ----------
    layer_or_fn : Layer or callable
        A layer (anything with forward, backward and named_parameters, e.g. a Sequential),
        checked on a float64 copy, so the layer itself is untouched; or a function f(x).
    x : array_like
        Input, e.g. (N, C, H, W) for a convolution layer; used in float64.
    rng : np.random.Generator or None
        Draws the random upstream gradient dout (default: np.random.default_rng(0)).
    backward : callable or None
        For a function only: backward(dout, x) -> dx, e.g. relu_backward for relu.
    h : float
        Step of the centred difference.

    Returns
    -------
    dict[str, float]
        "x" and every parameter name (e.g. "0.w", "0.b" in a Sequential) -> max relative error.
    """
    rng = as_generator(rng, "grad_check")
    x, h = _checked_point("grad_check", x, h)
    if isinstance(layer_or_fn, type):
        name = layer_or_fn.__name__
        raise TypeError(f"grad_check: layer_or_fn must be a layer object or a function, got the class "
                        f"{name}; build one: {name}(...)")
    if hasattr(layer_or_fn, "named_parameters"):
        return _grad_check_layer(layer_or_fn, x, rng, h)
    if not callable(layer_or_fn) or not callable(backward):
        raise TypeError("grad_check: give a layer, or a function f together with backward=(dout, x) -> dx")
    dout = rng.standard_normal(_value("grad_check", layer_or_fn, x).shape)
    dx = backward(dout, x.copy())
    _check_dx("backward(dout, x)", dx, x)
    return {"x": relative_error(dx, numeric_gradient(layer_or_fn, x, dout, h))}


def _grad_check_layer(layer, x, rng, h):
    """grad_check for a layer: a float64 deep copy, then x and every parameter."""
    layer = copy.deepcopy(layer)
    named = layer.named_parameters()
    for _, p in named:
        p.value = p.value.astype(np.float64)
        p.grad = np.zeros_like(p.value)
    dout = rng.standard_normal(_value("grad_check", layer.forward, x, "layer.forward").shape)
    dx = layer.backward(dout)
    _check_dx("layer.backward(dout)", dx, x)
    errors = {"x": relative_error(dx, numeric_gradient(layer.forward, x, dout, h))}
    for name, p in named:
        numeric = _numeric_gradient_inplace(lambda: layer.forward(x), p.value, dout, h)
        errors[name] = relative_error(p.grad, numeric)
    return errors
