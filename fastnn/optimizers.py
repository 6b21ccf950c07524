"""Optimizers with the book's protocol: ``update(params, grads)`` changes params in place."""
import numpy as np

from ._checks import positive_float


class SGD:
    """W <- W - lr * dW."""

    def __init__(self, lr=0.01):
        self.lr = positive_float("lr", lr)

    def update(self, params, grads):
        for key in params:
            params[key] -= params[key].dtype.type(self.lr) * grads[key]


class Momentum:
    """v <- momentum * v - lr * dW;  W <- W + v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = positive_float("lr", lr)
        self.momentum = positive_float("momentum", momentum, allow_zero=True)
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        for key in params:
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.v[key]


class Adam:
    """Adam (Kingma & Ba) with bias correction folded into the step size."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr = positive_float("lr", lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.iter = 0
        self.m = self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params:
            g = grads[key]
            self.m[key] += (1 - self.beta1) * (g - self.m[key])
            self.v[key] += (1 - self.beta2) * (g * g - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + self.eps)
