"""Fully connected (dense) layer as pure functions: out = x @ W + b."""
from ._validate import as_float, check_ndim


def _check(fn, x, W):
    """Validate x (N, D) and W (D, M)."""
    x = check_ndim(as_float(x, fn, "x"), fn, "x", 2, "(N, D)", "; flatten images first")
    W = check_ndim(as_float(W, fn, "W"), fn, "W", 2, "(D, M)")
    if x.size == 0:                             # as check_array says it for conv2d and the layers
        raise ValueError(f"{fn}: x must not be empty, got shape {x.shape}")
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"{fn}: x has D={x.shape[1]} features but W expects D={W.shape[0]} (W.shape={W.shape})")
    return x, W


def dense_forward(x, W, b):
    """Affine map of a batch of vectors.

    Parameters
    ----------
    x : ndarray (N, D)
    W : ndarray (D, M)
    b : ndarray (M,)

    Returns
    -------
    out : ndarray (N, M)

    Notes
    -----
    out[n, m] = sum_d x[n, d] W[d, m] + b[m].
    """
    x, W = _check("dense_forward", x, W)
    b = as_float(b, "dense_forward", "b")
    if b.shape != (W.shape[1],):
        raise ValueError(f"dense_forward: b must have shape (M,) = ({W.shape[1]},), got {b.shape}")
    return x @ W + b


def dense_backward(dout, x, W):
    """Gradients of dense_forward.

    Parameters
    ----------
    dout : ndarray (N, M)
        Upstream gradient dL/dout.
    x : ndarray (N, D)
    W : ndarray (D, M)

    Returns
    -------
    dx : ndarray (N, D)
        dout @ W.T
    dW : ndarray (D, M)
        x.T @ dout
    db : ndarray (M,)
        dout summed over the batch.
    """
    x, W = _check("dense_backward", x, W)
    dout = as_float(dout, "dense_backward", "dout")
    if dout.shape != (x.shape[0], W.shape[1]):
        raise ValueError(f"dense_backward: dout must have shape (N, M) = {(x.shape[0], W.shape[1])}, got {dout.shape}")
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)
