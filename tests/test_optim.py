"""Tests for cnnlib.optim: SGD and Adam steps against hand-computed updates."""
import numpy as np
import pytest

from cnnlib import SGD, Adam, Dense, Parameter


def param(value, grad):
    p = Parameter(np.array(value, dtype=np.float64), "p")
    p.grad = np.array(grad, dtype=np.float64)
    return p


def test_sgd_plain_step():
    p = param([1.0, -2.0], [0.5, 1.0])
    SGD([p], lr=0.1, momentum=0.0).step()
    np.testing.assert_allclose(p.value, [0.95, -2.1])


def test_sgd_momentum_two_steps():
    # v1 = g = [0.5, 1];                    p1 = p0 - 0.1 v1 = [0.95, -2.1]
    # v2 = 0.9 v1 + g = [0.95, 1.9];        p2 = p1 - 0.1 v2 = [0.855, -2.29]
    p = param([1.0, -2.0], [0.5, 1.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    np.testing.assert_allclose(p.value, [0.95, -2.1])
    opt.step()
    np.testing.assert_allclose(p.value, [0.855, -2.29])


def test_sgd_weight_decay():
    # g = grad + 0.1 p = [0.6, 0.8];  p = p - 0.1 g = [0.94, -2.08]
    p = param([1.0, -2.0], [0.5, 1.0])
    SGD([p], lr=0.1, momentum=0.0, weight_decay=0.1).step()
    np.testing.assert_allclose(p.value, [0.94, -2.08])


def test_adam_first_step_is_lr_times_sign():
    p = param([1.0, -2.0, 3.0], [0.5, -1.0, 1e-3])
    Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.value, [0.9, -1.9, 2.9], atol=1e-6)


def test_adam_second_step_by_hand():
    # m = 0.09 g1 + 0.1 g2 = [0.07, 0.01];  m_hat = m / 0.19
    # v = 0.000999 g1^2 + 0.001 g2^2 = [0.00031225, 0.001999];  v_hat = v / 0.001999
    p = param([1.0, -2.0], [0.5, -1.0])
    opt = Adam([p], lr=0.1)
    opt.step()
    p.grad = np.array([0.25, 1.0])
    opt.step()
    m_hat = np.array([0.07, 0.01]) / 0.19
    v_hat = np.array([0.00031225, 0.001999]) / 0.001999
    np.testing.assert_allclose(p.value, [0.9, -1.9] - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8))
    assert opt.t == 2


def test_optimisers_keep_float32_and_update_in_place():
    layer = Dense(3, 2)
    w = layer.w.value
    layer.w.grad = np.ones_like(w)
    for opt in (SGD(layer.parameters()), Adam(layer.parameters())):
        opt.step()
        assert layer.w.value is w and w.dtype == np.float32


def test_zero_grad():
    p = param([1.0], [3.0])
    opt = SGD([p])
    opt.zero_grad()
    np.testing.assert_array_equal(p.grad, [0.0])


def test_optimiser_errors():
    with pytest.raises(TypeError, match=r"^Adam: pass the model's parameters, Adam\(model\.parameters\(\), \.\.\.\), got the model Dense$"):
        Adam(Dense(3, 2))
    with pytest.raises(TypeError, match=r"^SGD: params must be a list of Parameters, "
                                        r"SGD\(model\.parameters\(\), \.\.\.\), got NoneType$"):
        SGD(None)
    with pytest.raises(ValueError, match="SGD: params is empty"):
        SGD([])
    with pytest.raises(TypeError, match=r"Adam: params\[0\] must be a Parameter, got ndarray"):
        Adam([np.zeros(3)])
    with pytest.raises(ValueError, match="SGD: lr must be a number > 0, got -0.1"):
        SGD([param([1.0], [1.0])], lr=-0.1)
    with pytest.raises(ValueError, match="SGD: momentum must be a number >= 0 and < 1, got 1.0"):
        SGD([param([1.0], [1.0])], momentum=1.0)
    with pytest.raises(ValueError, match="Adam: betas must be a pair"):
        Adam([param([1.0], [1.0])], betas=0.9)


@pytest.mark.parametrize("betas, which", [((1.0, 0.999), 0), ((0.9, 1.0), 1)])
def test_adam_names_the_beta_out_of_range(betas, which):
    with pytest.raises(ValueError, match=rf"^Adam: betas\[{which}\] must be a number >= 0 and < 1, got 1.0$"):
        Adam(Dense(2, 2).parameters(), betas=betas)


@pytest.mark.parametrize("lr, came", [("0.1", "str '0.1'"), (None, "NoneType None"), (True, "bool True")])
def test_a_learning_rate_of_the_wrong_type_is_a_type_error(lr, came):
    for opt in (SGD, Adam):
        with pytest.raises(TypeError, match=rf"^{opt.__name__}: lr must be a number > 0, got {came}$"):
            opt(Dense(2, 2).parameters(), lr=lr)


@pytest.mark.parametrize("opt", [SGD, Adam])
def test_a_parameter_listed_twice_is_refused(opt):
    p, q = param([1.0], [1.0]), param([2.0], [1.0])
    with pytest.raises(ValueError, match=rf"^{opt.__name__}: params\[2\] is params\[0\] \(listed twice\)$"):
        opt([p, q, p], lr=0.1)


@pytest.mark.parametrize("opt", [SGD, Adam])
@pytest.mark.parametrize("grad, exc, got", [
    (np.ones(3), ValueError, r"params\[1\] has grad of shape \(3,\), expected its value's shape \(4, 3\)"),
    (np.ones((3, 4)), ValueError, r"params\[1\] has grad of shape \(3, 4\), expected its value's shape \(4, 3\)"),
    (np.float64(1.0), TypeError, r"params\[1\].grad must be a numpy array of its value's shape \(4, 3\), got float64"),
    (None, TypeError, r"params\[1\].grad must be a numpy array of its value's shape \(4, 3\), got NoneType"),
])
def test_step_refuses_a_grad_of_another_shape(opt, grad, exc, got):
    p, q = param([1.0], [1.0]), param(np.zeros((4, 3)), np.zeros((4, 3)))
    q.grad = grad
    before = q.value.copy()
    with pytest.raises(exc, match=rf"^{opt.__name__}.step: {got}$"):
        opt([p, q], lr=0.1).step()
    np.testing.assert_array_equal(q.value, before)


@pytest.mark.parametrize("opt", [SGD, Adam])
def test_a_0d_parameter_takes_a_numpy_scalar_grad(opt):
    """p.grad * 2 on a 0-d value is a NumPy scalar, not an array: a grad of the value's shape."""
    p = Parameter(np.array(1.0))
    p.grad = p.grad + np.float64(0.5)
    assert not isinstance(p.grad, np.ndarray)
    opt([p], lr=0.1).step()
    assert p.value.shape == () and p.value < 1.0


@pytest.mark.parametrize("value, exc, pattern", [
    ([1, 2], TypeError, r"^Parameter: value's dtype must be np.float32 or np.float64, got int64$"),
    (np.float16([1.0]), TypeError, r"^Parameter: value's dtype must be np.float32 or np.float64, got float16$"),
    (None, TypeError, r"^Parameter: value must be an array of floats, got NoneType$"),
])
def test_parameter_wants_float_values(value, exc, pattern):
    with pytest.raises(exc, match=pattern):
        Parameter(value)
    assert Parameter([1.0, 2.0]).value.dtype == np.float64
