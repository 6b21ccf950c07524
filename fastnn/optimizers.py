"""Optimizers with the book's protocol: ``update(params, grads)`` changes params in place.

Hyper-parameters are checked when the optimizer is made: lr > 0 and finite,
0 <= momentum, beta1, beta2 < 1 (a rate of 1 would never forget, and Adam's
bias correction divides by 1 - beta**t), eps > 0 and finite.  ``update``
checks that every parameter has a gradient of its shape.
"""
import numpy as np

from ._checks import ShapeError, describe, positive_float, unit_interval


def _check_pair(params, grads):
    """Raise unless params and grads are dicts and each params[key] has a grads[key] of its shape."""
    for name, d in (("params", params), ("grads", grads)):
        if not hasattr(d, "keys") or not hasattr(d, "__getitem__"):
            raise TypeError(f"{name}: expected a dict of arrays, got {type(d).__name__}")
    for key in params:
        p = params[key]
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise TypeError(f"params[{key!r}]: expected a float array updated in place, got {describe(p)}")
        if key not in grads:
            raise ValueError(f"grads: missing {key!r}, which params has")
        g = grads[key]
        if np.shape(g) != p.shape:
            raise ShapeError(f"grads[{key!r}]: expected {describe(p)} like params[{key!r}], "
                             f"got {describe(np.asarray(g)) if not isinstance(g, np.ndarray) else describe(g)}")


class SGD:
    """W <- W - lr * dW."""

    def __init__(self, lr=0.01):
        self.lr = positive_float("lr", lr)

    def update(self, params, grads):
        _check_pair(params, grads)
        for key in params:
            params[key] -= params[key].dtype.type(self.lr) * grads[key]


class Momentum:
    """v <- momentum * v - lr * dW;  W <- W + v."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = positive_float("lr", lr)
        self.momentum = unit_interval("momentum", momentum)
        self.v = None

    def update(self, params, grads):
        _check_pair(params, grads)
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
        self.beta1 = unit_interval("beta1", beta1)
        self.beta2 = unit_interval("beta2", beta2)
        self.eps = positive_float("eps", eps)
        self.iter = 0
        self.m = self.v = None

    def update(self, params, grads):
        _check_pair(params, grads)
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
