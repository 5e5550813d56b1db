"""Inputs that are views: arrays whose memory is not one C-ordered block.

A function of the course must work on any array it is given, also on a slice with a step
(``big[:, :, ::2, ::2]``) or an array in Fortran order. Code that takes the memory for C-ordered
(``as_strided`` with strides computed from the shape and ``x.itemsize``, ``np.frombuffer(x)``,
``x.shape = ...`` on a view) is right on every fresh array and wrong on those; a few cases of a
check pass such views (:func:`step_view`, :func:`fortran`), and :func:`misread` gives the answer
that code computes, a known mistake.

The views reach the student's function as views: in the jail through the exchange
(``grading/exchange.py`` sends a view's memory span and its strides), in process through
:func:`fresh_inputs` (``copy.deepcopy`` would make a step view contiguous).
"""
from __future__ import annotations

import copy
import ctypes

import numpy as np
from numpy.lib.array_utils import byte_bounds
from numpy.lib.stride_tricks import as_strided

from ._core import Variant

#: the known mistake of code that takes its input for C-ordered memory
MISREAD = ("the values were read as if `{name}` were one C-ordered block of memory (as_strided with "
           "strides computed from the shape?): here `{name}` is a view that is not C-contiguous; use "
           "{name}.strides, or start from np.ascontiguousarray({name})")


def step_view(rng, x):
    """An array equal to `x` that is a view with a step on its last two axes: every second row
    and column of a larger array, whose other values are random."""
    big = rng.normal(size=x.shape[:-2] + (2 * x.shape[-2], 2 * x.shape[-1])).astype(x.dtype)
    view = big[..., ::2, ::2]
    view[...] = x
    return view


def fortran(x):
    """An array equal to `x` in Fortran order (the first axis varies fastest in memory)."""
    return np.asfortranarray(x)


def step_label(name, ndim):
    """How a case names a step view of argument `name`: "x is a view with a step (x[:, :, ::2, ::2]
    of a larger array)"."""
    return f"{name} is a view with a step ({name}[{':, ' * (ndim - 2)}::2, ::2] of a larger array)"


def fortran_label(name):
    return f"{name} in Fortran order (as np.asfortranarray makes it: not C-contiguous)"


def misread(a):
    """What code that takes `a` for C-ordered memory reads: a.size values from a's first byte on,
    in C order. Only for a view whose first element is its lowest address (a step view, a Fortran
    array), so that the values read stay inside its memory."""
    lo, hi = byte_bounds(a)
    if a.__array_interface__["data"][0] != lo or lo + a.nbytes > hi:  # pragma: no cover - caller's bug
        raise ValueError("misread: a view that starts at its lowest address is needed")
    strides = tuple(int(np.prod(a.shape[i + 1:])) * a.itemsize for i in range(a.ndim))
    return as_strided(a, shape=a.shape, strides=strides).copy()


def _same_layout(a):
    """A copy of view `a` with the same strides: its memory span copied, as the exchange sends it."""
    lo, hi = byte_bounds(a)
    out = np.ndarray(a.shape, a.dtype, bytearray(ctypes.string_at(lo, hi - lo)),
                     a.__array_interface__["data"][0] - lo, a.strides)
    out.flags.writeable = a.flags.writeable
    return out


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _arrays(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays(v)


def fresh_inputs(value):
    """A deep copy of a case's arguments in which every view keeps its layout (strides)."""
    memo = {id(a): _same_layout(a) for a in _arrays(value) if a.size and not a.flags.c_contiguous}
    return copy.deepcopy(value, memo)


def misread_padded(x, padding):
    """What code that pads x (N, C, H, W) with np.pad (which keeps Fortran order), or not at all
    for padding 0, and then takes the padded array for C-ordered memory reads (padded)."""
    p = padding
    return misread(np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x)


def misread_variants(name, a, answer):
    """The known mistake of reading argument `name` (array `a`) as C-ordered memory: a Variant
    whose value ``answer()`` computes (with :func:`misread`); none for a C-contiguous `a`."""
    return [] if a.flags.c_contiguous else [Variant(MISREAD.format(name=name), answer())]
