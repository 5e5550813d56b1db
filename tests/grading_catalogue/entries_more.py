"""Catalogue entries of the assignments added with issue 14 (one section per assignment)."""
from __future__ import annotations

from .entries import _e

# =========================================================================== 05b_learning
SCE = "test_softmax_cross_entropy"
SGD = "test_sgd_step"

W05B = [
    _e("sce: loss summed over the batch, not averaged", "05b_learning", {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).sum()
    dscores = p.copy()
    dscores[np.arange(N), y] -= 1
    return loss, dscores
'''}, {SCE, SGD}),
    _e("sce: unstable softmax (no maximum subtracted)", "05b_learning", {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N = scores.shape[0]
    e = np.exp(scores)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(N), y]))
    dscores = p.copy()
    dscores[np.arange(N), y] -= 1
    return loss, dscores / N
'''}, {SCE}),
    _e("sce: global maximum subtracted instead of each row's", "05b_learning", {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N = scores.shape[0]
    e = np.exp(scores - scores.max())
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(N), y]))
    dscores = p.copy()
    dscores[np.arange(N), y] -= 1
    return loss, dscores / N
'''}, {SCE}),
    _e("sce: log of a probability that underflows to 0", "05b_learning", {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N = scores.shape[0]
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(N), y]))
    dscores = p.copy()
    dscores[np.arange(N), y] -= 1
    return loss, dscores / N
'''}, {SCE}),
    _e("sce: 1 not subtracted at the true class", "05b_learning", {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(N), y].mean(), np.exp(log_p) / N
'''}, {SCE, SGD}),
    _e("sce: float64 gradient for float32 scores (np.zeros)", "05b_learning", {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N, M = scores.shape
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    dscores = np.zeros((N, M))
    for n in range(N):
        dscores[n] = np.exp(log_p[n])
        dscores[n, y[n]] -= 1
    return -log_p[np.arange(N), y].mean(), dscores / N
'''}, {SCE, SGD}),
    _e("sgd: the step goes up the gradient", "05b_learning", {"sgd_step": '''
def sgd_step(W, b, x, y, lr):
    loss, dscores = softmax_cross_entropy(x @ W + b, y)
    return W + lr * (x.T @ dscores), b + lr * dscores.sum(axis=0), loss
'''}, {SGD}),
    _e("sgd: W and b mutated in place (W -= ...)", "05b_learning", {"sgd_step": '''
def sgd_step(W, b, x, y, lr):
    loss, dscores = softmax_cross_entropy(x @ W + b, y)
    W -= lr * (x.T @ dscores)
    b -= lr * dscores.sum(axis=0)
    return W, b, loss
'''}, {SGD}),
    _e("sgd: db not summed over the batch", "05b_learning", {"sgd_step": '''
def sgd_step(W, b, x, y, lr):
    loss, dscores = softmax_cross_entropy(x @ W + b, y)
    return W - lr * (x.T @ dscores), b - lr * dscores, loss
'''}, {SGD}),
    _e("sgd: db averaged over the batch (divided by N twice)", "05b_learning", {"sgd_step": '''
def sgd_step(W, b, x, y, lr):
    loss, dscores = softmax_cross_entropy(x @ W + b, y)
    return W - lr * (x.T @ dscores), b - lr * dscores.mean(axis=0), loss
'''}, {SGD}),
    _e("sgd: returns the loss after the step", "05b_learning", {"sgd_step": '''
def sgd_step(W, b, x, y, lr):
    _, dscores = softmax_cross_entropy(x @ W + b, y)
    W_new, b_new = W - lr * (x.T @ dscores), b - lr * dscores.sum(axis=0)
    return W_new, b_new, softmax_cross_entropy(x @ W_new + b_new, y)[0]
'''}, {SGD}),
]

C05B = [
    _e("sce: one example at a time with a one-hot row, loss as a 0-d array", "05b_learning",
       {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N, M = scores.shape
    loss = np.zeros((), dtype=np.float64)
    dscores = np.empty_like(scores)
    for n in range(N):
        z = scores[n] - np.max(scores[n])
        log_sum = np.log(np.sum(np.exp(z)))
        loss = loss + (log_sum - z[y[n]]) / N
        onehot = np.zeros(M, dtype=scores.dtype)
        onehot[y[n]] = 1
        dscores[n] = (np.exp(z - log_sum) - onehot) / N
    return loss, dscores
'''}),
    _e("sce: logaddexp.reduce and an eye matrix of the scores' dtype", "05b_learning",
       {"softmax_cross_entropy": '''
def softmax_cross_entropy(scores, y):
    N, M = scores.shape
    lse = np.logaddexp.reduce(scores, axis=1, keepdims=True)
    loss = np.mean(lse[:, 0] - scores[np.arange(N), y])
    return float(loss), (np.exp(scores - lse) - np.eye(M, dtype=scores.dtype)[y]) / N
'''}),
    _e("sgd: einsum, gradients accumulated per example, a list back", "05b_learning", {"sgd_step": '''
def sgd_step(W, b, x, y, lr):
    loss, dscores = softmax_cross_entropy(np.einsum("nd,dm->nm", x, W) + b, y)
    dW = np.zeros_like(W)
    db = np.zeros_like(b)
    for n in range(x.shape[0]):
        dW += np.outer(x[n], dscores[n])
        db += dscores[n]
    return [W - lr * dW, b - lr * db, loss]
'''}),
]

WRONG = W05B
CORRECT = C05B
