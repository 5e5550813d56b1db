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


def _digits(n=20):
    x, y, _, _ = load_digits()
    return x[:n], y[:n]


def _mlp(seed=0):
    return Sequential(Flatten(), Dense(64, 10, rng=np.random.default_rng(seed)))


@pytest.mark.parametrize("model, pattern", [
    (None, r"^fit: model must be a Layer such as a Sequential .*got NoneType$"),
    (lambda z: z, r"^fit: model must be a Layer such as a Sequential .*got function$"),
])
def test_fit_names_a_model_that_is_not_a_layer(model, pattern):
    x, y = _digits()
    with pytest.raises(TypeError, match=pattern):
        fit(model, x, y, progress=False)


def test_fit_says_when_the_model_has_no_parameters():
    x, y = _digits()
    with pytest.raises(ValueError, match=r"^fit: model has no parameters to train"):
        fit(Sequential(Flatten()), x, y, progress=False)


@pytest.mark.parametrize("optimizer, exc, pattern", [
    (SGD, TypeError, r"^fit: optimizer must be an optimizer object, e.g. SGD\(model.parameters\(\)\), got the class SGD$"),
    ("adam", TypeError, r"^fit: optimizer must be an optimizer such as Adam\(model.parameters\(\)\) or None, got str$"),
    (Adam(_mlp(1).parameters()), ValueError, r"^fit: optimizer updates parameters that are not the model's"),
])
def test_fit_checks_the_optimizer(optimizer, exc, pattern):
    x, y = _digits()
    with pytest.raises(exc, match=pattern):
        fit(_mlp(), x, y, optimizer=optimizer, progress=False)


def test_fit_accepts_an_optimizer_on_part_of_the_model():
    x, y = _digits()
    model = _mlp()
    before = model[1].w.value.copy()
    fit(model, x, y, optimizer=SGD([model[1].b], lr=0.1), epochs=1, progress=False)
    np.testing.assert_array_equal(model[1].w.value, before)


def test_fit_checks_labels_and_validation_data_before_training():
    x, y = _digits()
    with pytest.raises(ValueError, match=r"^fit: y must lie in \[0, 10\) for M=10 classes, got values from 5 to 14$"):
        fit(_mlp(), x, y + 5, progress=False)
    with pytest.raises(ValueError, match=r"^fit: y must hold class labels >= 0, got -1$"):
        fit(Sequential(Flatten(), Dense(64, 10), ReLU()), x, y - 1, progress=False)
    with pytest.raises(ValueError, match=r"^fit: y_val must have shape \(N,\) = \(20,\), got \(5,\)$"):
        fit(_mlp(), x, y, x_val=x, y_val=y[:5], progress=False)
    with pytest.raises(TypeError, match=r"^fit: rng must be a numpy Generator"):
        fit(_mlp(), x, y, rng=0, progress=False)


@pytest.mark.parametrize("where", ["x", "x_val"])
def test_fit_refuses_nan_in_x(where):
    x, y = _digits()
    bad = x.copy()
    bad[3, 0, 2, 2] = np.nan
    data = {"x": bad, "x_val": x} if where == "x" else {"x": x, "x_val": bad}
    with pytest.raises(ValueError, match=rf"^fit: {where} must be finite, got NaN \(in 1 of 1280 values\)$"):
        fit(_mlp(), data["x"], y, x_val=data["x_val"], y_val=y, progress=False)


def test_fit_stops_when_the_logits_blow_up():
    x, y = _digits(64)
    model = Sequential(Flatten(), Dense(64, 32, rng=np.random.default_rng(0)), ReLU(), Dense(32, 10))
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match=r"^fit: the model's logits became NaN or inf in epoch 1 \(batch \d+\).*"
                                      r"learning rate too large\?$"):
        fit(model, x, y, optimizer=SGD(model.parameters(), lr=1e20), batch_size=8, progress=False)


def test_accuracy_refuses_labels_out_of_range():
    x, y = _digits()
    with pytest.raises(ValueError, match=r"^accuracy: y must lie in \[0, 10\) for M=10 classes, got values from 100"):
        accuracy(_mlp(), x, y + 100)


@pytest.mark.parametrize("layers, shape", [
    ((Conv2D(1, 10, 8),), r"\(\d+, 10, 1, 1\); add Flatten\(\)\?"),      # argmax would broadcast
    ((Conv2D(1, 10, 7),), r"\(\d+, 10, 2, 2\); add Flatten\(\)\?"),
])
@pytest.mark.parametrize("call", ["predict", "accuracy", "fit"])
def test_a_model_without_2d_logits_is_refused_not_scored(layers, shape, call):
    x, y = _digits()
    model = Sequential(*layers)
    run = {"predict": lambda: predict(model, x), "accuracy": lambda: accuracy(model, x, y),
           "fit": lambda: fit(model, x, y, epochs=1, progress=False)}[call]
    with pytest.raises(ValueError, match=rf"^{call}: the model must output logits \(N, M\), got shape {shape}$"):
        run()


def test_a_model_with_1d_output_is_refused():
    class Scores(Flatten):
        def forward(self, x):
            return super().forward(x)[:, 0]
    x, y = _digits()
    with pytest.raises(ValueError, match=r"^predict: the model must output logits \(N, M\), got shape \(20,\)$"):
        predict(Scores(), x)
    assert predict(_mlp(), x).shape == (20,)


@pytest.mark.parametrize("call", ["fit", "predict", "accuracy"])
def test_a_layer_class_instead_of_an_object_is_named(call):
    x, y = _digits()
    run = {"fit": lambda m: fit(m, x, y, progress=False), "predict": lambda m: predict(m, x),
           "accuracy": lambda m: accuracy(m, x, y)}[call]
    with pytest.raises(TypeError, match=rf"^{call}: model must be a Layer object, got the class Sequential; "
                                        r"build one: Sequential\(\.\.\.\)$"):
        run(Sequential)
    with pytest.raises(TypeError, match=rf"^{call}: model must be a Layer such as a Sequential .*got str$"):
        run("m")
