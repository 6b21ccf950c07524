"""The training the chapter-6 experiments share: a network and one of fastnn.optimizers on a
seeded order of rows, by the fused step where the network's operations have one
(fastnn.fused.Fused), else by the layer path's gradient and the optimizer's formula over the
flat buffer (kernels.optimizers).  Networks compared in one experiment follow one order of
rows, so they see the same batches."""
import numpy as np

import kernels.graph as G
import kernels.optimizers as KO

from .. import optimizers as O
from ..extend import MultiLayerNetExtend
from ..fused import Fused

#: The book's optimizers (common/optimizer.py) with its settings; its AdaGrad, RMSprop and
#: Adam add 1e-7 to the root.
BOOK_OPTIMIZERS = {"sgd": lambda lr: O.SGD(lr or 0.01),
                   "momentum": lambda lr: O.Momentum(lr or 0.01, 0.9),
                   "adagrad": lambda lr: O.AdaGrad(lr or 0.01, eps=1e-7),
                   "adam": lambda lr: O.Adam(lr or 0.001, 0.9, 0.999, eps=1e-7)}
#: Operations the fused step computes (others train by the layer path): all of
#: MultiLayerNetExtend's, dropout and batch normalization included.
FUSED_KINDS = {G.AFFINE, G.SIGMOID, G.RELU, G.SOFTMAX_LOSS, G.DROPOUT, G.BATCHNORM}


def order_of(rng, n, batch, steps):
    """Row numbers for ``steps`` batches of ``batch``: consecutive permutations of range(n),
    so every epoch visits every row once (a batch may span two epochs).  The book draws each
    batch with replacement instead; the expected batches are the same."""
    reps = -(-steps * batch // n)
    return np.concatenate([rng.permutation(n) for _ in range(reps)]).astype(np.int64)


class Run:
    """``net`` trained by ``optimizer`` (a name of BOOK_OPTIMIZERS) on rows of (x, t) in batches of
    ``batch``; ``train(order, start, nsteps)`` -> the losses before each update;
    ``accuracy(name)`` on an evaluation set added by ``add_set(name, x, t)``."""

    def __init__(self, net, optimizer, x, t, batch, lr=None, prepared=None):
        self.net, self.x, self.t, self.batch = net, x, t, batch
        self.optimizer = BOOK_OPTIMIZERS[optimizer](lr)
        self.fused = None
        self.sets = {}
        self._prepared = {} if prepared is None else prepared      # shared by nets of one shape
        if {int(k) for k in net.ops[:, G.KIND]} <= FUSED_KINDS:
            self.fused = Fused(net, self.optimizer)
            self.data = self._prepare("train", x, t)
        else:
            self.s1, self.s2 = self.optimizer.flat_state(net.theta.size, net.dtype)

    def _prepare(self, name, x, t):
        key = (name, np.dtype(self.net.dtype).name, tuple(self.net.sizes))
        if key not in self._prepared:
            self._prepared[key] = self.fused.prepare(x, t)
        return self._prepared[key]

    def add_set(self, name, x, t):
        self.sets[name] = self._prepare(name, x, t) if self.fused else (x, t)

    def train(self, order, start, nsteps):
        if self.fused is not None:
            return self.fused.run(self.data, order, start, nsteps, self.batch).copy()
        net, opt, b = self.net, self.optimizer, self.batch
        losses = np.empty(nsteps)
        for s in range(nsteps):
            rows = order[start + s * b:start + (s + 1) * b]
            grad = net.gradient_flat(self.x[rows], self.t[rows])
            opt.t += 1
            KO.apply(opt.kind, opt.hyper(), opt.t, net.theta, grad, self.s1, self.s2)
            losses[s] = net.last_loss
        return losses

    def accuracy(self, name):
        if self.fused is not None:
            return self.fused.evaluate(self.sets[name], loss=False)[0]
        return self.net.evaluate(*self.sets[name])[0]


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
