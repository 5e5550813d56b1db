"""An independent numeric-gradient oracle for the tests of cnnlib's backward passes.

Kept apart from `cnnlib.gradcheck` on purpose: the library's backward passes are checked
against code that is not the library's.
"""
import numpy as np


def numeric_gradient(f, a, dout, h=1e-6):
    """Centred differences of sum(f() * dout) with respect to every entry of ``a`` (in place)."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + h
        plus = np.sum(f() * dout)
        a[idx] = old - h
        minus = np.sum(f() * dout)
        a[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad
