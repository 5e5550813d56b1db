"""Training loop, prediction and accuracy for a classifier that outputs logits (N, M)."""
import contextlib
import time

import numpy as np

from .losses import cross_entropy, cross_entropy_backward
from .optim import Adam

__all__ = ["fit", "predict", "accuracy"]


def _blas_threads(n, where):
    """Context manager: at most n BLAS threads inside (None: leave the BLAS default)."""
    if n is None:
        return contextlib.nullcontext()
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{where}: blas_threads must be None or an int >= 1, got {n!r}")
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=int(n), user_api="blas")


def _model_dtype(model):
    """The dtype of the model's first parameter (float32 when it has none)."""
    params = model.parameters()
    return params[0].value.dtype if params else np.dtype(np.float32)


def _check_xy(where, x, y):
    """x (N, ...) array and y (N,) integer labels."""
    x = np.asarray(x)
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{where}: y must hold integer class labels, got dtype {y.dtype}")
    if x.ndim < 2 or y.shape != (x.shape[0],):
        raise ValueError(f"{where}: x must be (N, ...) and y (N,) with the same N, "
                         f"got x.shape={x.shape} and y.shape={y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{where}: x must hold at least one example, got x.shape={x.shape}")
    return x, y


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
        progress=True, blas_threads=1):
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
    blas_threads : int or None
        Threads the matrix products may use while training (None: the BLAS default). One is
        the default because the course's networks multiply small matrices: on a busy 2-core
        machine a second OpenBLAS thread made training 5-10x slower, on an idle one it gains
        little.

    Returns
    -------
    history : dict of lists, one entry per epoch
        "loss" (mean training loss), "train_acc" (accuracy on the minibatches as they were
        trained), "val_acc" (only when validation data is given), "seconds" (wall time of
        the epoch, validation included).
    """
    x, y = _check_xy("fit", x, y)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"fit: {name} must be an int >= 1, got {value!r}")
    if (x_val is None) != (y_val is None):
        raise ValueError("fit: give both x_val and y_val, or neither")
    x = x.astype(_model_dtype(model), copy=False)
    optimizer = Adam(model.parameters()) if optimizer is None else optimizer
    rng = np.random.default_rng(0) if rng is None else rng
    history = {"loss": [], "train_acc": []} | ({"val_acc": []} if x_val is not None else {})
    history["seconds"] = []
    with _blas_threads(blas_threads, "fit"):
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


def predict(model, x, batch_size=256, *, blas_threads=1):
    """Predicted class of every example: argmax of the logits, computed in batches.

    Parameters
    ----------
    model : Layer mapping (N, ...) to logits (N, M)
    x : ndarray (N, ...)
    batch_size : int >= 1
    blas_threads : int or None
        As in fit.

    Returns
    -------
    labels : ndarray int64 (N,)
    """
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"predict: x must be a non-empty array (N, ...), got shape {x.shape}")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"predict: batch_size must be an int >= 1, got {batch_size!r}")
    x = x.astype(_model_dtype(model), copy=False)
    with _blas_threads(blas_threads, "predict"):
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
