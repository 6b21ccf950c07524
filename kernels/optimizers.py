"""The chapter-6 optimizers as elementwise kernels over a flat parameter buffer.

``apply(kind, hp, t, theta, grad, s1, s2)`` updates theta (P,) in place from
grad (P,), with the optimizer's state s1, s2 (P,) (velocity, squared-gradient
sums, moments; unused ones may be empty arrays) and its hyper-parameters
``hp``: (NHP,) float64 = (lr, a, b, eps) where a and b are

    SGD       -           -
    MOMENTUM  momentum    -
    NESTEROV  momentum    -
    ADAGRAD   -           -
    RMSPROP   decay_rate  -
    ADAM      beta1       beta2

and t is the 1-based step number (Adam's bias correction).  The formulas are
the book's (ch. 6, ``common/optimizer.py``).
"""
import numpy as np

from ._config import kernel

SGD, MOMENTUM, NESTEROV, ADAGRAD, RMSPROP, ADAM = range(6)
NAMES = {"sgd": SGD, "momentum": MOMENTUM, "nesterov": NESTEROV, "adagrad": ADAGRAD,
         "rmsprop": RMSPROP, "adam": ADAM}
#: State arrays each kind needs (s1, s2).
STATES = {SGD: 0, MOMENTUM: 1, NESTEROV: 1, ADAGRAD: 1, RMSPROP: 1, ADAM: 2}
LR, A, B, EPS = range(4)
NHP = 4


@kernel
def apply(kind, hp, t, theta, grad, s1, s2):
    """One update of theta by optimizer ``kind``, elementwise over i in [0, P)."""
    apply_range(kind, hp, t, theta, grad, s1, s2, 0, theta.size)


@kernel
def apply_range(kind, hp, t, theta, grad, s1, s2, i0, i1):
    """The update of :func:`apply` restricted to theta[i0:i1] (for splitting across threads)."""
    one = theta.dtype.type(1.0)
    lr = theta.dtype.type(hp[LR])
    a = theta.dtype.type(hp[A])
    b = theta.dtype.type(hp[B])
    eps = theta.dtype.type(hp[EPS])
    if kind == SGD:
        for i in range(i0, i1):
            theta[i] -= lr * grad[i]
    elif kind == MOMENTUM:
        for i in range(i0, i1):
            s1[i] = a * s1[i] - lr * grad[i]
            theta[i] += s1[i]
    elif kind == NESTEROV:
        for i in range(i0, i1):
            s1[i] = a * s1[i] - lr * grad[i]
            theta[i] += a * a * s1[i] - (one + a) * lr * grad[i]
    elif kind == ADAGRAD:
        for i in range(i0, i1):
            s1[i] += grad[i] * grad[i]
            theta[i] -= lr * grad[i] / (np.sqrt(s1[i]) + eps)
    elif kind == RMSPROP:
        for i in range(i0, i1):
            s1[i] = a * s1[i] + (one - a) * grad[i] * grad[i]
            theta[i] -= lr * grad[i] / (np.sqrt(s1[i]) + eps)
    elif kind == ADAM:
        lr_t = theta.dtype.type(hp[LR] * np.sqrt(1.0 - hp[B] ** t) / (1.0 - hp[A] ** t))
        for i in range(i0, i1):
            g = grad[i]
            s1[i] += (one - a) * (g - s1[i])
            s2[i] += (one - b) * (g * g - s2[i])
            theta[i] -= lr_t * s1[i] / (np.sqrt(s2[i]) + eps)
    else:
        raise ValueError("unknown optimizer kind")
