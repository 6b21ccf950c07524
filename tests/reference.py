"""The book's formulas in plain NumPy: the trusted reference for every kernel.

Written as plainly as the book writes them, with no attention to speed.
"""
import numpy as np

#: Tolerances per dtype for comparing kernels with these formulas.
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def step_function(x):
    return np.array(x > 0, dtype=np.int64)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(dout, y):
    return dout * (1.0 - y) * y


def relu(x):
    return np.maximum(0, x)


def relu_grad(dout, x):
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def identity_function(x):
    return x


def softmax(a):
    a = a - np.max(a, axis=-1, keepdims=True)
    e = np.exp(a)
    return e / np.sum(e, axis=-1, keepdims=True)


def mean_squared_error(y, t):
    return 0.5 * np.sum((y - t) ** 2)


def cross_entropy_error(y, t):
    """Batch version: t one-hot (same shape as y) or labels; mean over the batch."""
    if y.ndim == 1:
        t = t.reshape(1, -1) if np.ndim(t) else np.array([t])
        y = y.reshape(1, -1)
    if t.shape == y.shape:
        return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]
    return -np.sum(np.log(y[np.arange(y.shape[0]), t] + 1e-7)) / y.shape[0]


def affine_forward(x, W, b):
    return np.dot(x.reshape(x.shape[0], -1), W) + b


def affine_backward(x, W, dout):
    x2 = x.reshape(x.shape[0], -1)
    return np.dot(dout, W.T).reshape(x.shape), np.dot(x2.T, dout), np.sum(dout, axis=0)


def softmax_with_loss(a, t):
    """(loss, y, dx) with dx = (y - t) / N for one-hot or label t."""
    y = softmax(a)
    loss = cross_entropy_error(y, t)
    N = y.shape[0]
    dx = y.copy()
    if t.shape == y.shape:
        dx = (y - t) / N
    else:
        dx[np.arange(N), t] -= 1
        dx = dx / N
    return loss, y, dx


def numerical_gradient(f, x, h=1e-4):
    """Central differences, one element at a time (x is float64, restored afterwards)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        v = x[i]
        x[i] = v + h
        f1 = f()
        x[i] = v - h
        f2 = f()
        x[i] = v
        grad[i] = (f1 - f2) / (2 * h)
        it.iternext()
    return grad


def two_layer_loss(params, x, labels, activation="sigmoid"):
    act = sigmoid if activation == "sigmoid" else relu
    a1 = x @ params["W1"] + params["b1"]
    y = softmax(act(a1) @ params["W2"] + params["b2"])
    return cross_entropy_error(y, labels)
