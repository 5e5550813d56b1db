"""Training loop, prediction and accuracy for a classifier that outputs logits (N, M)."""
import contextlib
import time

import numpy as np

from ._validate import as_float, as_generator, check_finite, check_int, check_labels
from .losses import cross_entropy, cross_entropy_backward
from .optim import Adam, _Optimizer

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


def _check_x(where, x, name="x"):
    """x as a finite numeric array (N, ...) with N >= 1 (integers and bools become float64)."""
    x = as_float(x, where, name)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{where}: {name} must be a non-empty array (N, ...), got shape {x.shape}")
    return check_finite(x, where, name)


def _check_xy(where, x, y, num_classes=None, names=("x", "y")):
    """x (N, ...) array and y (N,) integer labels in [0, num_classes) (>= 0 if None)."""
    x = _check_x(where, x, names[0])
    y = check_labels(y, where, names[1], x.shape[0], num_classes)
    if num_classes is None and y.min() < 0:
        raise ValueError(f"{where}: {names[1]} must hold class labels >= 0, got {y.min()}")
    return x, y


def _num_classes(model):
    """M, the number of logits, when the model ends with a Dense layer; else None."""
    last = model.layers[-1] if getattr(model, "layers", None) else model
    return getattr(last, "n_out", None)


def _check_layer(where, model, methods=("forward", "backward", "parameters")):
    """Raise TypeError unless ``model`` is a layer object with ``methods`` (not a layer class)."""
    if isinstance(model, type):
        raise TypeError(f"{where}: model must be a Layer object, got the class {model.__name__}; "
                        f"build one: {model.__name__}(...)")
    if not all(callable(getattr(model, a, None)) for a in methods):
        raise TypeError(f"{where}: model must be a Layer such as a Sequential (with "
                        f"{', '.join(methods[:-1])} and {methods[-1]}), got {type(model).__name__}")


def _check_logits(where, logits, n):
    """Raise ValueError unless the model's output is logits (N, M) for a batch of n examples.

    A model that ends without Flatten (e.g. a convolution giving (N, M, 1, 1)) would otherwise
    make argmax(axis=1) give (N, 1, 1), and comparing that with the labels (N,) broadcasts.
    """
    if not isinstance(logits, np.ndarray):
        raise ValueError(f"{where}: the model must output logits (N, M), got {type(logits).__name__}")
    if logits.ndim != 2 or len(logits) != n:
        hint = ("; add Flatten()?" if logits.ndim > 2 else
                f" for a batch of N={n} examples" if logits.ndim == 2 else "")
        raise ValueError(f"{where}: the model must output logits (N, M), got shape {logits.shape}{hint}")
    return logits


def _check_model(model, optimizer):
    """The model's parameters and the optimizer (default Adam) that updates them."""
    _check_layer("fit", model)
    params = list(model.parameters())
    if not params:
        raise ValueError(f"fit: model has no parameters to train ({model!r})")
    if optimizer is None:
        return Adam(params)
    if isinstance(optimizer, type) and issubclass(optimizer, _Optimizer):
        raise TypeError(f"fit: optimizer must be an optimizer object, e.g. "
                        f"{optimizer.__name__}(model.parameters()), got the class {optimizer.__name__}")
    if not isinstance(optimizer, _Optimizer):
        raise TypeError(f"fit: optimizer must be an optimizer such as Adam(model.parameters()) or None, "
                        f"got {type(optimizer).__name__}")
    ours = {id(p) for p in params}
    if not all(id(p) in ours for p in optimizer.params):
        raise ValueError("fit: optimizer updates parameters that are not the model's (made for another "
                         "model?); pass optimizer=Adam(model.parameters()) for this model")
    return optimizer


def _train_epoch(model, optimizer, x, y, batch_size, rng, epoch=1):
    """One pass over shuffled minibatches; returns (mean loss, training accuracy)."""
    order = rng.permutation(len(x))
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad()
        logits = _check_logits("fit", model.forward(xb), len(idx))
        if not np.isfinite(logits).all():
            raise FloatingPointError(f"fit: the model's logits became NaN or inf in epoch {epoch} "
                                     f"(batch {start // batch_size + 1}), so the loss is not finite; "
                                     f"learning rate too large?")
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

    Raises
    ------
    TypeError, ValueError
        For a bad argument, NaN or inf in x, labels outside [0, M), or an optimizer made for
        the parameters of another model.
    FloatingPointError
        When the model's logits become NaN or inf during training (learning rate too large?).

    Returns
    -------
    history : dict of lists, one entry per epoch
        "loss" (mean training loss), "train_acc" (accuracy on the minibatches as they were
        trained), "val_acc" (only when validation data is given), "seconds" (wall time of
        the epoch, validation included).
    """
    optimizer = _check_model(model, optimizer)
    x, y = _check_xy("fit", x, y, _num_classes(model))
    check_int(epochs, "fit", "epochs", 1)
    check_int(batch_size, "fit", "batch_size", 1)
    if (x_val is None) != (y_val is None):
        raise ValueError("fit: give both x_val and y_val, or neither")
    if x_val is not None:
        x_val, y_val = _check_xy("fit", x_val, y_val, _num_classes(model), names=("x_val", "y_val"))
    x = x.astype(_model_dtype(model), copy=False)
    rng = as_generator(rng, "fit")
    history = {"loss": [], "train_acc": []} | ({"val_acc": []} if x_val is not None else {})
    history["seconds"] = []
    with _one_blas_thread():
        for epoch in range(1, epochs + 1):
            _run_epoch(model, optimizer, (x, y, x_val, y_val), batch_size, rng, history, epoch)
            if progress:
                print(_progress_line(history, epoch, epochs), flush=True)
    return history


def _run_epoch(model, optimizer, data, batch_size, rng, history, epoch):
    """Train one epoch and append its loss, accuracies and seconds to history."""
    x, y, x_val, y_val = data
    start = time.perf_counter()
    loss, train_acc = _train_epoch(model, optimizer, x, y, batch_size, rng, epoch)
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
        One label per example. The model must output 2-D logits (N, M): a model whose output
        is (N, M, 1, 1) needs a Flatten() at its end.
    """
    _check_layer("predict", model, ("forward", "parameters"))
    x = _check_x("predict", x)
    check_int(batch_size, "predict", "batch_size", 1)
    return _predict("predict", model, x, batch_size)[0]


def _predict(where, model, x, batch_size):
    """(predicted labels (N,) int64, M the number of logits) for a checked x."""
    x = x.astype(_model_dtype(model), copy=False)
    with _one_blas_thread():
        batches = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
        logits = [_check_logits(where, model.forward(xb), len(xb)) for xb in batches]
    labels = np.concatenate([np.argmax(z, axis=1) for z in logits]).astype(np.int64)
    return labels, logits[0].shape[1]


def accuracy(model, x, y):
    """Fraction of examples whose predicted class equals y (a float in [0, 1]).

    Parameters
    ----------
    model : Layer mapping (N, ...) to logits (N, M)
    x : ndarray (N, ...)
    y : ndarray of int (N,)
    """
    _check_layer("accuracy", model, ("forward", "parameters"))
    x = _check_x("accuracy", x)
    labels, num_classes = _predict("accuracy", model, x, 256)
    y = check_labels(y, "accuracy", "y", x.shape[0], num_classes)
    return float(np.mean(labels == y))
