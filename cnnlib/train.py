"""Training loop, prediction and accuracy for a classifier that outputs logits (N, M)."""
import contextlib
import time

import numpy as np

from ._validate import as_float, check_int, check_labels
from .losses import cross_entropy, cross_entropy_backward
from .optim import Adam

__all__ = ["fit", "predict", "accuracy"]


def _one_blas_thread():
    """Context manager: the matrix products inside use one BLAS thread.

    The course's networks multiply small matrices, many times: a second BLAS thread gains
    little there, and when the machine is busy it waits for a core and slows training down
    many times over. Where two threads pay (large convolutions), cnnlib's engine starts its own.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                 # comes with scikit-learn; without it, BLAS's default
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _model_dtype(model):
    """The dtype of the model's first parameter (float32 when it has none)."""
    params = model.parameters()
    return params[0].value.dtype if params else np.dtype(np.float32)


def _check_x(where, x):
    """x as a numeric array (N, ...) with N >= 1 (integers and bools become float64)."""
    x = as_float(x, where, "x")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{where}: x must be a non-empty array (N, ...), got shape {x.shape}")
    return x


def _check_xy(where, x, y):
    """x (N, ...) array and y (N,) integer labels."""
    x = _check_x(where, x)
    return x, check_labels(y, where, "y", x.shape[0])


def _train_epoch(model, optimizer, x, y, batch_size, rng):
    """One pass over shuffled minibatches; returns (mean loss, training accuracy)."""
    order = rng.permutation(len(x))
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad()
        logits = model.forward(xb)
        total_loss += cross_entropy(logits, yb) * len(idx)
        correct += int(np.sum(np.argmax(logits, axis=1) == yb))
        model.backward(cross_entropy_backward(logits, yb))
        optimizer.step()
    return total_loss / len(x), correct / len(x)


def fit(model, x, y, *, epochs=5, batch_size=32, optimizer=None, x_val=None, y_val=None, rng=None,
        progress=True):
    """Train a classifier with softmax cross-entropy on shuffled minibatches.

    Parameters
    ----------
    model : Layer (e.g. Sequential) mapping x (N, ...) to logits (N, M)
    x : ndarray (N, ...), e.g. (N, C, H, W); cast to the model's dtype
    y : ndarray of int (N,)
    epochs, batch_size : int >= 1
    optimizer : SGD, Adam or None (default: Adam(model.parameters()))
    x_val, y_val : ndarray or None
        Validation data, scored after every epoch.
    rng : np.random.Generator or None
        Shuffles the minibatches (default: np.random.default_rng(0)).
    progress : bool
        Print one plain-text line per epoch.

    Returns
    -------
    history : dict of lists, one entry per epoch
        "loss" (mean training loss), "train_acc" (accuracy on the minibatches as they were
        trained), "val_acc" (only when validation data is given), "seconds" (wall time of
        the epoch, validation included).
    """
    x, y = _check_xy("fit", x, y)
    check_int(epochs, "fit", "epochs", 1)
    check_int(batch_size, "fit", "batch_size", 1)
    if (x_val is None) != (y_val is None):
        raise ValueError("fit: give both x_val and y_val, or neither")
    x = x.astype(_model_dtype(model), copy=False)
    optimizer = Adam(model.parameters()) if optimizer is None else optimizer
    rng = np.random.default_rng(0) if rng is None else rng
    history = {"loss": [], "train_acc": []} | ({"val_acc": []} if x_val is not None else {})
    history["seconds"] = []
    with _one_blas_thread():
        for epoch in range(1, epochs + 1):
            _run_epoch(model, optimizer, (x, y, x_val, y_val), batch_size, rng, history)
            if progress:
                print(_progress_line(history, epoch, epochs), flush=True)
    return history


def _run_epoch(model, optimizer, data, batch_size, rng, history):
    """Train one epoch and append its loss, accuracies and seconds to history."""
    x, y, x_val, y_val = data
    start = time.perf_counter()
    loss, train_acc = _train_epoch(model, optimizer, x, y, batch_size, rng)
    history["loss"].append(loss)
    history["train_acc"].append(train_acc)
    if x_val is not None:
        history["val_acc"].append(accuracy(model, x_val, y_val))
    history["seconds"].append(time.perf_counter() - start)


def _progress_line(history, epoch, epochs):
    """One plain-text line: epoch, loss, accuracies, seconds."""
    line = f"epoch {epoch:>{len(str(epochs))}}/{epochs}  loss {history['loss'][-1]:.4f}"
    line += f"  train_acc {history['train_acc'][-1]:.3f}"
    if "val_acc" in history:
        line += f"  val_acc {history['val_acc'][-1]:.3f}"
    return line + f"  {history['seconds'][-1]:.1f} s"


def predict(model, x, batch_size=256):
    """Predicted class of every example: argmax of the logits, computed in batches.

    Parameters
    ----------
    model : Layer mapping (N, ...) to logits (N, M)
    x : ndarray (N, ...)
    batch_size : int >= 1

    Returns
    -------
    labels : ndarray int64 (N,)
    """
    x = _check_x("predict", x)
    check_int(batch_size, "predict", "batch_size", 1)
    x = x.astype(_model_dtype(model), copy=False)
    with _one_blas_thread():
        out = [np.argmax(model.forward(x[i:i + batch_size]), axis=1) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.int64)


def accuracy(model, x, y):
    """Fraction of examples whose predicted class equals y (a float in [0, 1]).

    Parameters
    ----------
    model : Layer mapping (N, ...) to logits (N, M)
    x : ndarray (N, ...)
    y : ndarray of int (N,)
    """
    x, y = _check_xy("accuracy", x, y)
    return float(np.mean(predict(model, x) == y))
