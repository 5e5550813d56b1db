"""Optimisers that update a list of Parameters in place from their .grad."""
import numpy as np

from ._validate import check_grad, check_number, check_parameters
from .layers import Parameter

__all__ = ["SGD", "Adam"]


class _Optimizer:
    """Shared zero_grad and repr."""

    def zero_grad(self):
        """Set the gradient of every parameter to zero."""
        for p in self.params:
            p.grad = np.zeros_like(p.value)


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum and L2 weight decay (PyTorch's convention).

    Parameters
    ----------
    params : list of Parameter, e.g. model.parameters()
    lr : float > 0
    momentum : float in [0, 1)
    weight_decay : float >= 0

    Notes
    -----
    g = grad + weight_decay * value;  v = momentum * v + g;  value -= lr * v.
    With momentum=0 this is plain gradient descent: value -= lr * g.
    """

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0):
        self.params = check_parameters(params, "SGD", Parameter)
        self.lr = check_number(lr, "SGD", "lr", 0)
        self.momentum = check_number(momentum, "SGD", "momentum", 0, 1, low_ok=True)
        self.weight_decay = check_number(weight_decay, "SGD", "weight_decay", 0, low_ok=True)
        self.velocity = [np.zeros_like(p.value) for p in self.params]

    def step(self):
        """Update every parameter once from its current grad."""
        for i, (p, v) in enumerate(zip(self.params, self.velocity)):
            check_grad(p, "SGD.step", i)
            g = p.grad + self.weight_decay * p.value if self.weight_decay else p.grad
            v *= self.momentum
            v += g
            p.value -= (self.lr * v).astype(p.value.dtype, copy=False)

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"


class Adam(_Optimizer):
    """Adam: momentum on the gradient and a per-weight step size from its running square.

    Parameters
    ----------
    params : list of Parameter, e.g. model.parameters()
    lr : float > 0
    betas : (beta1, beta2), each in [0, 1)
    eps : float > 0

    Notes
    -----
    t += 1;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2;
    value -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = check_parameters(params, "Adam", Parameter)
        self.lr = check_number(lr, "Adam", "lr", 0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = tuple(check_number(b, "Adam", f"betas[{i}]", 0, 1, low_ok=True)
                           for i, b in enumerate(betas))
        self.eps = check_number(eps, "Adam", "eps", 0)
        self.t = 0
        self.m = [np.zeros_like(p.value) for p in self.params]
        self.v = [np.zeros_like(p.value) for p in self.params]

    def step(self):
        """Update every parameter once from its current grad."""
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for i, (p, m, v) in enumerate(zip(self.params, self.m, self.v)):
            check_grad(p, "Adam.step", i)
            m *= b1
            m += (1 - b1) * p.grad
            v *= b2
            v += (1 - b2) * np.square(p.grad)
            denom = np.sqrt(v)
            denom /= np.sqrt(c2)
            denom += self.eps                    # sqrt(v_hat) + eps
            p.value -= ((self.lr / c1) * m / denom).astype(p.value.dtype, copy=False)

    def __repr__(self):
        return f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps})"
