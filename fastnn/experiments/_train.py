"""The training loop the chapter-6 experiments share: a network, an optimizer formula of
kernels.optimizers over its flat parameters, seeded batches, evaluations on a schedule."""
import numpy as np

import kernels.optimizers as KO

from ..extend import MultiLayerNetExtend

#: The book's optimizer defaults (common/optimizer.py): (lr, a, b, eps) as kernels.optimizers
#: reads them; its AdaGrad, RMSprop and Adam add 1e-7 to the root.
BOOK_OPTIMIZERS = {"sgd": (0.01, 0.0, 0.0, 0.0), "momentum": (0.01, 0.9, 0.0, 0.0),
                   "nesterov": (0.01, 0.9, 0.0, 0.0), "adagrad": (0.01, 0.0, 0.0, 1e-7),
                   "rmsprop": (0.01, 0.99, 0.0, 1e-7), "adam": (0.001, 0.9, 0.999, 1e-7)}


class Stepper:
    """One network trained by one optimizer formula: ``step(x, t)`` -> the batch's loss
    (before the update).  The gradient comes from the network's layer path (``gradient_flat``),
    the update is one kernels.optimizers call over the flat buffer."""

    def __init__(self, net, optimizer="sgd", lr=None):
        self.net = net
        hp = list(BOOK_OPTIMIZERS[optimizer])
        if lr is not None:
            hp[0] = lr
        self.kind = KO.NAMES[optimizer]
        self.hp = np.array(hp, dtype=np.float64)
        P = net.theta.size
        self.s1 = np.zeros(P if KO.STATES[self.kind] >= 1 else 0, dtype=net.dtype)
        self.s2 = np.zeros(P if KO.STATES[self.kind] >= 2 else 0, dtype=net.dtype)
        self.t = 0

    def step(self, x, t):
        grad = self.net.gradient_flat(x, t)
        self.t += 1
        KO.apply(self.kind, self.hp, self.t, self.net.theta, grad, self.s1, self.s2)
        return self.net.last_loss


def network(hidden, init, init_seed, dtype, **options):
    """MultiLayerNetExtend 784-hidden-10 (ReLU), weights drawn from ``init_seed``: nets made
    with the same seed and init start from the same standard-normal draws."""
    return MultiLayerNetExtend(784, list(hidden), 10, "relu", init, dtype=dtype,
                               rng=np.random.default_rng(init_seed), **options)


def subset(data, n_train):
    """(x_train, t_train, x_test, t_test), the first n_train training rows (None: all)."""
    (x, t), (xt, tt) = data.train, data.test
    if n_train is not None:
        x, t = x[:n_train], t[:n_train]
    return np.ascontiguousarray(x), t, np.ascontiguousarray(xt), tt
