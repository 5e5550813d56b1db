"""The two networks the book and the training benchmark compare on the 8x8 digits."""
import numbers

import numpy as np

from ._validate import as_generator, check_float_dtype, check_int
from .data import load_digits
from .layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential
from .optim import Adam
from .train import accuracy, fit

__all__ = ["lenet_digits", "mlp_digits", "train_digits"]


def _sizes(func, name, value, expected, length=None):
    """``value`` as a tuple of ints >= 1 (of ``length`` when given); TypeError/ValueError otherwise."""
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        raise TypeError(f"{func}: {name} must be {expected}, got {type(value).__name__} {value!r}")
    if (length is not None and len(value) != length) or any(v < 1 for v in value):
        raise ValueError(f"{func}: {name} must be {expected}, got {tuple(value)}")
    return tuple(int(v) for v in value)


def lenet_digits(rng=None, dtype=np.float32, channels=(32, 64), hidden=64):
    """A LeNet-style CNN for (N, 1, 8, 8) digits: 10 logits.

    conv 3x3 (padding 1) -> ReLU -> 2x2 max pool -> conv 3x3 (padding 1) -> ReLU -> 2x2 max pool
    -> flatten -> dense -> ReLU -> dense. Spatial sizes 8 -> 4 -> 2.

    Parameters
    ----------
    rng : np.random.Generator or None
        Initial weights (default: np.random.default_rng(0)).
    dtype : np.float32 (default) or np.float64
    channels : (K1, K2)
        Filters of the two convolution layers.
    hidden : int
        Units of the hidden dense layer.
    """
    rng, dtype = as_generator(rng, "lenet_digits"), check_float_dtype(dtype, "lenet_digits")
    k1, k2 = _sizes("lenet_digits", "channels", channels, "a pair (K1, K2) of ints >= 1, e.g. (32, 64)", 2)
    check_int(hidden, "lenet_digits", "hidden", 1)
    return Sequential(
        Conv2D(1, k1, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Conv2D(k1, k2, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2),
        Flatten(), Dense(k2 * 2 * 2, hidden, rng=rng, dtype=dtype), ReLU(),
        Dense(hidden, 10, rng=rng, dtype=dtype))


def mlp_digits(rng=None, dtype=np.float32, hidden=(128,)):
    """A multilayer perceptron for (N, 1, 8, 8) digits: flatten -> (dense -> ReLU)* -> dense(10).

    Parameters
    ----------
    rng : np.random.Generator or None
        Initial weights (default: np.random.default_rng(0), so two calls give the same weights).
    dtype : np.float32 (default) or np.float64
    hidden : tuple of int
        Units of each hidden layer.
    """
    rng, dtype = as_generator(rng, "mlp_digits"), check_float_dtype(dtype, "mlp_digits")
    hidden = _sizes("mlp_digits", "hidden", hidden, "a tuple of ints >= 1, one per hidden layer, e.g. (128,)")
    layers, n_in = [Flatten()], 64
    for n in hidden:
        layers += [Dense(n_in, n, rng=rng, dtype=dtype), ReLU()]
        n_in = n
    layers.append(Dense(n_in, 10, rng=rng, dtype=dtype))
    return Sequential(*layers)


def train_digits(model, *, epochs=30, batch_size=32, lr=2e-3, rng=None, progress=False):
    """Train a digits model with the course's recipe; return (history, test accuracy).

    Adam with learning rate `lr` on the fixed split of `load_digits()`, minibatches shuffled
    with `rng` (default: np.random.default_rng(0)); the test set is scored after every epoch
    (history["val_acc"]).

    Parameters
    ----------
    model : Layer mapping (N, 1, 8, 8) to 10 logits, e.g. lenet_digits() or mlp_digits()
    epochs, batch_size : int
    lr : float
    rng : np.random.Generator or None
    progress : bool
        Print one line per epoch.

    Returns
    -------
    history : dict, as returned by cnnlib.fit
    test_accuracy : float
    """
    x_train, y_train, x_test, y_test = load_digits()
    history = fit(model, x_train, y_train, epochs=epochs, batch_size=batch_size,
                  optimizer=Adam(model.parameters(), lr=lr), x_val=x_test, y_val=y_test,
                  rng=np.random.default_rng(0) if rng is None else rng, progress=progress)
    return history, accuracy(model, x_test, y_test)
