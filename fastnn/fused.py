"""Fused SGD training step for :class:`~fastnn.network.TwoLayerNet`.

``FusedSGD(net, lr).step(x, t)`` does what ``net.gradient(x, t)`` followed
by ``SGD(lr).update(net.params, grads)`` does, in one compiled call with
buffers reused from step to step, and returns the loss of the batch before
the update.  See :mod:`kernels.fused` for how.
"""
import numba
import numpy as np

import kernels.fused as KF

from ._checks import ShapeError, as_float_array, describe, positive_float

PARAM_NAMES = ("W1", "b1", "W2", "b2")


class FusedSGD:
    """Plain SGD on a TwoLayerNet, one fused kernel call per step.

    net: the network (its ``params`` are updated in place, so its layers see
    the new values); lr: learning rate; parallel: None chooses by batch size
    and ``numba.get_num_threads()``, True/False forces the kernel.
    """

    def __init__(self, net, lr=0.01, *, parallel=None):
        self.net = net
        self.lr = positive_float("lr", lr)
        self.parallel = parallel
        self._buffers = {}
        self._no_targets = {}

    def _params(self):
        p = self.net.params
        dt = self.net.dtype
        for k in PARAM_NAMES:
            a = p[k]
            if not (isinstance(a, np.ndarray) and a.dtype == dt and a.flags.c_contiguous):
                p[k] = as_float_array(f"params['{k}']", a, dtype=dt)
        return p["W1"], p["b1"], p["W2"], p["b2"]

    def buffers(self, n):
        """Work buffers for batches of n samples and the current thread count (cached)."""
        threads = numba.get_num_threads()
        key = (n, threads)
        buf = self._buffers.get(key)
        if buf is None:
            D, H, C = self.net.sizes
            buf = KF.make_buffers(n, D, H, C, self.net.dtype, threads)
            self._buffers[key] = buf
        return buf

    def _targets(self, t, n, C):
        if not isinstance(t, np.ndarray):
            t = np.asarray(t)
        if t.ndim == 1 and t.dtype.kind in "iu":
            if t.shape[0] != n:
                raise ShapeError(f"t: expected ({n},) integer labels or ({n}, {C}) one-hot, got {describe(t)}")
            lo, hi = (t.min(), t.max()) if n else (0, 0)
            if lo < 0 or hi >= C:
                raise ValueError(f"t: labels must lie in [0, {C}), got values in [{lo}, {hi}]")
            return np.ascontiguousarray(t, dtype=np.intp), None
        if t.ndim == 2:
            if t.shape != (n, C):
                raise ShapeError(f"t: expected ({n},) integer labels or ({n}, {C}) one-hot, got {describe(t)}")
            return None, as_float_array("t", t.astype(self.net.dtype, copy=False), shape=(n, C))
        raise ShapeError(f"t: expected ({n},) integer labels or ({n}, {C}) one-hot, got {describe(t)}")

    def step(self, x, t):
        """One SGD step on the batch (x, t); returns the loss before the update.

        x: (N, input_size) of the net's dtype, finite; t: integer labels (N,)
        or one-hot / soft targets (N, output_size).
        """
        D, _, C = self.net.sizes
        dt = self.net.dtype
        if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == D and x.shape[0] > 0):
            raise ShapeError(f"x: expected (N, {D}) {dt}, got {describe(x)}")
        if x.dtype != dt:
            raise TypeError(f"x: expected (N, {D}) {dt}, got {describe(x)}")
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        n = x.shape[0]
        labels, dense = self._targets(t, n, C)
        W1, b1, W2, b2 = self._params()
        buf = self.buffers(n)
        loss = KF.train_step(x, labels, W1, b1, W2, b2, self.lr, buf,
                             activation=self.net.activation, targets=dense, parallel=self.parallel)
        if buf.state[1]:
            bad = np.flatnonzero(~np.isfinite(x.reshape(-1)))
            raise ValueError(f"x: expected finite values, got {bad.size} non-finite "
                             f"(first {x.reshape(-1)[bad[0]]} at flat index {bad[0]}) in {describe(x)}")
        return loss
