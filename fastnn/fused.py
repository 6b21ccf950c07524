"""Fused SGD training steps for :class:`~fastnn.network.TwoLayerNet`.

``FusedSGD(net, lr).step(x, t)`` does what ``net.gradient(x, t)`` followed
by ``SGD(lr).update(net.params, grads)`` does, in one compiled call with
buffers reused from step to step, and returns the loss of the batch before
the update.  For training, ``prepare(x, t)`` compresses a whole data set
once and ``run(data, order, start, nsteps, batch)`` takes many steps over
row numbers in one call, with no batch copied.  See :mod:`kernels.fused`.
"""
from collections import namedtuple

import numba
import numpy as np

import kernels.fused as KF
from kernels.sparse import to_csr

from ._checks import as_float_array, positive_float, positive_int

PARAM_NAMES = ("W1", "b1", "W2", "b2")

#: A data set ready for :meth:`FusedSGD.run`: ``csr`` of the inputs, integer
#: ``labels`` (N,) or None, dense ``targets`` (N, C) or None.
FusedData = namedtuple("FusedData", ["csr", "labels", "targets"])


class FusedSGD:
    """Plain SGD on a TwoLayerNet, fused kernels.

    net: the network (its ``params`` are updated in place, so its layers see
    the new values); lr: learning rate; parallel: None chooses by batch size
    and ``numba.get_num_threads()``, True/False forces the kernel.
    """

    def __init__(self, net, lr=0.01, *, parallel=None):
        self.net = net
        self.lr = positive_float("lr", lr)
        self.parallel = parallel
        self._buffers = {}
        self._losses = np.empty(0)

    def _params(self):
        p = self.net.params
        dt = self.net.dtype
        for k in PARAM_NAMES:
            a = p[k]
            if not (isinstance(a, np.ndarray) and a.dtype == dt and a.flags.c_contiguous):
                p[k] = as_float_array(f"params['{k}']", a, dtype=dt)
        return p["W1"], p["b1"], p["W2"], p["b2"]

    def buffers(self, n):
        """Work buffers for batches of up to n samples and the current thread count (cached)."""
        threads = numba.get_num_threads()
        key = (n, threads)
        buf = self._buffers.get(key)
        if buf is None:
            D, H, C = self.net.sizes
            buf = KF.make_buffers(n, D, H, C, self.net.dtype, threads)
            self._buffers[key] = buf
        return buf

    def _checked(self, x, t):
        """x (N, input_size) of the net's dtype, finite; t as (labels or None, dense targets or None)."""
        x, t = self.net.check_input(x, t)
        return x, (t, None) if t.ndim == 1 else (None, t)

    def prepare(self, x, t):
        """Check and compress a data set once: x (N, input_size), t labels (N,) or (N, C)."""
        x, (labels, dense) = self._checked(x, t)
        return FusedData(to_csr(x), labels, dense)

    def run(self, data, order, start, nsteps, batch):
        """``nsteps`` SGD steps; step s on rows ``order[start + s*batch:][:batch]`` of ``data``.

        data: from :meth:`prepare`; order: int64 row numbers.  Returns the
        (nsteps,) float64 losses, each before its update (a view, valid until
        the next call).
        """
        nsteps = positive_int("nsteps", nsteps)
        batch = positive_int("batch", batch)
        if not 0 <= start < order.size or start + (nsteps - 1) * batch >= order.size:
            raise ValueError(f"start, nsteps, batch: steps {start} + {nsteps} x {batch} "
                             f"leave order of size {order.size}")
        if self._losses.size < nsteps:
            self._losses = np.empty(nsteps)
        labels = data.labels if data.labels is not None else np.zeros(0, np.intp)
        order = np.ascontiguousarray(order, dtype=np.int64)
        return KF.train_steps(data.csr, labels, order, start, nsteps, batch, *self._params(),
                              self.lr, self.buffers(batch), self._losses,
                              activation=self.net.activation, targets=data.targets,
                              parallel=self.parallel)

    def evaluate(self, data, loss=True):
        """(accuracy, mean cross-entropy with the book's 1e-7) of the net on data from
        :meth:`prepare` with integer labels, by compiled forward passes over its non-zeros.
        loss=False skips the softmax and returns (accuracy, None)."""
        if data.labels is None:
            raise ValueError("data: evaluate needs integer labels, got one-hot or soft targets")
        _, H, C = self.net.sizes
        T = numba.get_num_threads()
        key = ("eval", T)
        buf = self._buffers.get(key)
        if buf is None:
            dt = self.net.dtype
            buf = self._buffers[key] = (KF.per_thread(T, H, dt), KF.per_thread(T, C, dt), np.empty((C, H), dt),
                                        np.empty(T, np.int64), np.empty(T, np.float64))
        KF.evaluate(data.csr.indptr, data.csr.indices, data.csr.values, data.labels, *self._params(),
                    KF.ACTIVATION_CODES[self.net.activation], bool(loss), *buf, KF.hidden_hint(H))
        n = data.csr.shape[0]
        return int(buf[3].sum()) / n, (-float(buf[4].sum()) / n if loss else None)

    def step(self, x, t):
        """One SGD step on the batch (x, t); returns the loss before the update.

        x: (N, input_size) of the net's dtype, finite; t: integer labels (N,)
        or one-hot / soft targets (N, output_size).
        """
        x, (labels, dense) = self._checked(x, t)
        return KF.train_step(x, labels, *self._params(), self.lr, self.buffers(x.shape[0]),
                             activation=self.net.activation, targets=dense, parallel=self.parallel)
