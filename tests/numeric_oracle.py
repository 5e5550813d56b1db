"""Independent oracles for cnnlib's tests: numeric gradients and scipy's correlation.

Kept apart from `cnnlib.gradcheck` on purpose: the library is checked against code that is
not the library's.
"""
import numpy as np
from scipy.signal import correlate


def scipy_conv(x, w, b, stride, padding):
    """Reference conv2d: scipy.signal.correlate per (n, k) over the padded input, then subsample.

    x (N, C, H, W), w (K, C, Fh, Fw), b (K,); stride and padding are (h, w) pairs.
    """
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.array([[correlate(xp[n], w[k], mode="valid", method="direct")[0]
                   for k in range(w.shape[0])] for n in range(x.shape[0])])
    return y[:, :, ::sh, ::sw] + b[None, :, None, None]


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
