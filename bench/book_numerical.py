"""The book's chapter-4 network and numerical gradient in plain NumPy, as a reference.

Kept as close to the book's code as possible (``common/functions.py``,
``common/gradient.py``, ``ch04/two_layer_net.py``), with two changes: the
random generator is passed in instead of the global one, and the hidden
activation can be ReLU (for comparisons with the ReLU net).  It is the
baseline the benchmarks and tests compare the fast strategies with.
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


def softmax(x):
    if x.ndim == 2:
        x = x.T
        x = x - np.max(x, axis=0)
        y = np.exp(x) / np.sum(np.exp(x), axis=0)
        return y.T
    x = x - np.max(x)
    return np.exp(x) / np.sum(np.exp(x))


def cross_entropy_error(y, t, delta=1e-7):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:                       # one-hot to labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + delta)) / batch_size


def numerical_gradient(f, x):
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 rng=None, activation="sigmoid", delta=1e-7):
        rng = np.random.default_rng(0) if rng is None else rng
        self.params = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }
        self.act = sigmoid if activation == "sigmoid" else relu
        self.delta = delta

    def predict(self, x):
        W1, W2 = self.params["W1"], self.params["W2"]
        b1, b2 = self.params["b1"], self.params["b2"]
        a1 = np.dot(x, W1) + b1
        z1 = self.act(a1)
        a2 = np.dot(z1, W2) + b2
        return softmax(a2)

    def loss(self, x, t):
        return cross_entropy_error(self.predict(x), t, self.delta)

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731 (the book's form)
        grads = {}
        grads["W1"] = numerical_gradient(loss_W, self.params["W1"])
        grads["b1"] = numerical_gradient(loss_W, self.params["b1"])
        grads["W2"] = numerical_gradient(loss_W, self.params["W2"])
        grads["b2"] = numerical_gradient(loss_W, self.params["b2"])
        return grads


class MultiLayerNet:
    """The book's chapter-6 network (``common/multi_layer_net.py``) reduced to what the
    numerical gradient uses: Affine and sigmoid/ReLU layers, SoftmaxWithLoss and the
    weight decay 0.5 * lambda * sum W**2 in the loss; params W1 b1 ... Wn bn."""

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_decay_lambda=0.0, *, rng=None):
        rng = np.random.default_rng(0) if rng is None else rng
        sizes = [input_size] + list(hidden_size_list) + [output_size]
        self.n = len(sizes) - 1
        self.params = {}
        for i in range(1, self.n + 1):
            std = np.sqrt(2.0 / sizes[i - 1]) if activation == "relu" else np.sqrt(1.0 / sizes[i - 1])
            self.params[f"W{i}"] = std * rng.standard_normal((sizes[i - 1], sizes[i]))
            self.params[f"b{i}"] = np.zeros(sizes[i])
        self.act = sigmoid if activation == "sigmoid" else relu
        self.weight_decay_lambda = weight_decay_lambda

    def predict(self, x):
        for i in range(1, self.n + 1):
            x = np.dot(x, self.params[f"W{i}"]) + self.params[f"b{i}"]
            if i < self.n:
                x = self.act(x)
        return x

    def loss(self, x, t):
        weight_decay = 0
        for i in range(1, self.n + 1):
            W = self.params[f"W{i}"]
            weight_decay += 0.5 * self.weight_decay_lambda * np.sum(W ** 2)
        return cross_entropy_error(softmax(self.predict(x)), t) + weight_decay

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731 (the book's form)
        grads = {}
        for i in range(1, self.n + 1):
            grads[f"W{i}"] = numerical_gradient(loss_W, self.params[f"W{i}"])
            grads[f"b{i}"] = numerical_gradient(loss_W, self.params[f"b{i}"])
        return grads

    def numerical_gradient_of(self, x, t, entries):
        """The book's loop over some entries only: ``entries`` {name: flat indices, a
        contiguous range}; returns {name: gradient of those entries}.  Each entry costs
        what it costs in the full loop (two losses of the whole batch)."""
        loss_W = lambda W: self.loss(x, t)  # noqa: E731
        return {k: numerical_gradient(loss_W, self.params[k].reshape(-1)[idx]) for k, idx in entries.items()}
