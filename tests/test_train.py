"""Tests for cnnlib.train: fit, predict, accuracy, and a training smoke test on the digits."""
import numpy as np
import pytest

from cnnlib import SGD, Adam, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, accuracy, fit, load_digits, predict
from cnnlib.models import lenet_digits, mlp_digits


def tiny_cnn(rng):
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
                      Flatten(), Dense(4 * 4 * 4, 10, rng=rng))


def test_small_cnn_learns_the_digits_well_above_chance():
    x_train, y_train, x_test, y_test = load_digits()
    model = tiny_cnn(np.random.default_rng(0))
    before = accuracy(model, x_test, y_test)
    history = fit(model, x_train, y_train, epochs=3, batch_size=32, rng=np.random.default_rng(0),
                  optimizer=Adam(model.parameters(), lr=1e-2), progress=False)
    after = accuracy(model, x_test, y_test)
    assert before < 0.3
    assert after > 0.6
    assert history["loss"][-1] < history["loss"][0]


def test_fit_history_and_progress_lines(capsys):
    x, y, xv, yv = load_digits()
    model = tiny_cnn(np.random.default_rng(1))
    history = fit(model, x[:200], y[:200], epochs=2, batch_size=64, x_val=xv[:100], y_val=yv[:100],
                  rng=np.random.default_rng(1))
    assert set(history) == {"loss", "train_acc", "val_acc", "seconds"}
    assert all(len(v) == 2 for v in history.values())
    assert history["val_acc"][-1] == accuracy(model, xv[:100], yv[:100])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2  loss ") and "val_acc" in lines[0] and lines[0].endswith(" s")
    assert "\r" not in lines[0]


def test_fit_without_validation_and_quiet(capsys):
    x, y, _, _ = load_digits()
    history = fit(mlp_digits(), x[:64], y[:64], epochs=1, progress=False)
    assert set(history) == {"loss", "train_acc", "seconds"}
    assert capsys.readouterr().out == ""


def test_fit_is_deterministic_for_a_seed():
    x, y, _, _ = load_digits()
    runs = []
    for _ in range(2):
        model = tiny_cnn(np.random.default_rng(2))
        runs.append(fit(model, x[:128], y[:128], epochs=2, rng=np.random.default_rng(3), progress=False))
    assert runs[0]["loss"] == runs[1]["loss"]


def test_fit_with_sgd_and_an_mlp():
    x, y, xt, yt = load_digits()
    model = mlp_digits(np.random.default_rng(0))
    fit(model, x, y, epochs=3, optimizer=SGD(model.parameters(), lr=0.05), progress=False)
    assert accuracy(model, xt, yt) > 0.8


def test_predict_shapes_batches_and_accuracy():
    x, y, _, _ = load_digits()
    model = lenet_digits(np.random.default_rng(0))
    labels = predict(model, x[:300], batch_size=128)
    assert labels.shape == (300,) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.argmax(model.forward(x[:300]), axis=1))
    assert accuracy(model, x[:300], y[:300]) == pytest.approx(np.mean(labels == y[:300]))


def test_fit_casts_float64_input_to_the_model_dtype():
    x, y, _, _ = load_digits()
    model = tiny_cnn(np.random.default_rng(0))
    fit(model, x[:32].astype(np.float64), y[:32], epochs=1, progress=False)
    assert model[0].w.value.dtype == np.float32


def test_train_errors():
    x, y, _, _ = load_digits()
    model = tiny_cnn(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^fit: y must have shape \(N,\) = \(10,\), got \(9,\)$"):
        fit(model, x[:10], y[:9])
    with pytest.raises(ValueError, match=r"^fit: x must be a non-empty array \(N, ...\), got shape \(64,\)$"):
        fit(model, x[0].ravel(), y[:10])
    with pytest.raises(TypeError, match=r"^fit: x must be a numeric array, got dtype complex128$"):
        fit(model, x[:10].astype(complex), y[:10])
    with pytest.raises(TypeError, match=r"^fit: epochs must be an int >= 1, got float 2\.0$"):
        fit(model, x[:10], y[:10], epochs=2.0)
    with pytest.raises(TypeError, match="fit: y must hold integer class labels, got dtype float64"):
        fit(model, x[:10], y[:10].astype(float))
    with pytest.raises(ValueError, match="fit: epochs must be an int >= 1, got 0"):
        fit(model, x[:10], y[:10], epochs=0)
    with pytest.raises(ValueError, match="fit: give both x_val and y_val, or neither"):
        fit(model, x[:10], y[:10], x_val=x[:5])
    with pytest.raises(ValueError, match="predict: batch_size must be an int >= 1"):
        predict(model, x[:10], batch_size=0)
    with pytest.raises(ValueError, match="Conv2D.forward: x has C=3 channels but the layer expects C=1"):
        predict(model, np.zeros((2, 3, 8, 8), np.float32))


class _RecordThreads(ReLU):
    """A ReLU that records how many BLAS threads are allowed while it runs."""

    seen = []

    def forward(self, x):
        from threadpoolctl import threadpool_info
        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        self.seen.append(max(blas) if blas else None)
        return super().forward(x)


def test_fit_and_predict_choose_one_blas_thread_and_restore_the_default():
    from threadpoolctl import threadpool_info
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    x, y, _, _ = load_digits()
    rec = _RecordThreads()
    model = Sequential(Flatten(), Dense(64, 10), rec)
    fit(model, x[:64], y[:64], epochs=1, progress=False)
    predict(model, x[:10])
    assert rec.seen and set(rec.seen) == {1}
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before
    with pytest.raises(TypeError, match="blas_threads"):
        fit(model, x[:10], y[:10], blas_threads=1)      # no thread settings in the teaching API
