"""Softmax cross-entropy loss for classification, stable for huge logits."""
import numpy as np

from ._validate import as_float, check_finite, check_labels, check_ndim
from .activations import softmax


def _check(fn, logits, labels):
    """Validate finite (N, M) logits and (N,) integer labels in [0, M)."""
    logits = check_ndim(as_float(logits, fn, "logits"), fn, "logits", 2, "(N, M)")
    check_finite(logits, fn, "logits")
    labels = check_labels(labels, fn, "labels", logits.shape[0], logits.shape[1])
    if logits.shape[0] == 0:
        raise ValueError(f"{fn}: logits must hold at least one example, got shape {logits.shape}")
    return logits, labels


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of integer labels under the logits.

    Parameters
    ----------
    logits : ndarray (N, M)
        Unnormalised class scores.
    labels : ndarray of int (N,)
        True classes in [0, M).

    Returns
    -------
    float
        L = -(1/N) sum_n log softmax(logits_n)[labels_n].

    Notes
    -----
    log softmax(z)_i = (z_i - max z) - log sum_j exp(z_j - max z) (log-sum-exp), so logits
    of 1e4 give a finite loss.
    """
    logits, labels = _check("cross_entropy", logits, labels)
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(labels)), labels]))


def cross_entropy_backward(logits, labels):
    """Gradient of cross_entropy with respect to the logits.

    Parameters
    ----------
    logits : ndarray (N, M)
    labels : ndarray of int (N,)

    Returns
    -------
    dlogits : ndarray (N, M), dtype of logits

    Notes
    -----
    dL/dz_n = (softmax(z_n) - onehot(labels_n)) / N.
    """
    logits, labels = _check("cross_entropy_backward", logits, labels)
    dlogits = softmax(logits, axis=1)
    dlogits[np.arange(len(labels)), labels] -= 1
    return dlogits / len(labels)
