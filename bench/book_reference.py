"""The book's two-layer network in plain NumPy, with backprop layers (the baseline).

Written as in *Deep Learning from Scratch* (common/layers.py, ch05/two_layer_net.py):
Affine -> Sigmoid (or Relu) -> Affine -> SoftmaxWithLoss, gradients by backprop,
plain SGD.  Only changes: one dtype throughout (the book mixes float32 images
with float64 weights), integer labels, and a seeded generator.  Also the
chapter-6 optimizers as lean NumPy updates in place (common/optimizer.py), the
baseline of bench/bench_optimizers.py.
"""
from collections import OrderedDict

import numpy as np


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.dW = self.db = None

    def forward(self, x):
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = self.y = self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 activation="sigmoid", dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": (weight_init_std * rng.standard_normal((input_size, hidden_size))).astype(dtype),
            "b1": np.zeros(hidden_size, dtype),
            "W2": (weight_init_std * rng.standard_normal((hidden_size, output_size))).astype(dtype),
            "b2": np.zeros(output_size, dtype),
        }
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Act1"] = Sigmoid() if activation == "sigmoid" else Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)

    def gradient(self, x, t):
        loss = self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {
            "W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
            "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db,
        }
        return loss, grads


def sgd_update(params, grads, lr):
    """The book's SGD: params[key] -= lr * grads[key] (in place, so the layers see it)."""
    for key in params:
        params[key] -= params[key].dtype.type(lr) * grads[key]


# -- the chapter-6 optimizers as the book writes them: NumPy, in place, per key ----------
class Optimizer:
    """State dicts made at the first update; ``step(params, grads)`` per subclass."""

    def __init__(self, lr, a=0.0, b=0.0, eps=1e-7):
        self.lr, self.a, self.b, self.eps = lr, a, b, eps
        self.s1 = self.s2 = None
        self.iter = 0

    def update(self, params, grads):
        if self.s1 is None:
            self.s1 = {k: np.zeros_like(v) for k, v in params.items()}
            self.s2 = {k: np.zeros_like(v) for k, v in params.items()}
        self.iter += 1
        self.step(params, grads)


class SGD(Optimizer):
    def step(self, params, grads):
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum(Optimizer):
    def step(self, params, grads):
        for key in params:
            v = self.s1[key]
            v *= self.a
            v -= self.lr * grads[key]
            params[key] += v


class Nesterov(Optimizer):
    def step(self, params, grads):
        for key in params:
            v = self.s1[key]
            v *= self.a
            v -= self.lr * grads[key]
            params[key] += self.a * self.a * v
            params[key] -= (1 + self.a) * self.lr * grads[key]


class AdaGrad(Optimizer):
    def step(self, params, grads):
        for key in params:
            h = self.s1[key]
            h += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    def step(self, params, grads):
        for key in params:
            h = self.s1[key]
            h *= self.a
            h += (1 - self.a) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h) + self.eps)


class Adam(Optimizer):
    def step(self, params, grads):
        lr_t = self.lr * np.sqrt(1.0 - self.b ** self.iter) / (1.0 - self.a ** self.iter)
        for key in params:
            m, v = self.s1[key], self.s2[key]
            m += (1 - self.a) * (grads[key] - m)
            v += (1 - self.b) * (grads[key] ** 2 - v)
            params[key] -= lr_t * m / (np.sqrt(v) + self.eps)


#: name -> (class, settings (lr, a, b, eps)) with fastnn's defaults.
OPTIMIZERS = {"sgd": (SGD, (0.01,)), "momentum": (Momentum, (0.01, 0.9)),
              "nesterov": (Nesterov, (0.01, 0.9)), "adagrad": (AdaGrad, (0.01, 0, 0, 1e-7)),
              "rmsprop": (RMSprop, (0.01, 0.99, 0, 1e-7)), "adam": (Adam, (0.001, 0.9, 0.999, 1e-8))}
