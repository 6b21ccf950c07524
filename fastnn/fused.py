"""Fused SGD training steps for :class:`~fastnn.network.TwoLayerNet`.

``FusedSGD(net, lr).step(x, t)`` does what ``net.gradient(x, t)`` followed
by ``SGD(lr).update(net.params, grads)`` does, in one compiled call with
buffers reused from step to step, and returns the loss of the batch before
the update.  For training, ``prepare(x, t)`` compresses a whole data set
once and ``run(data, order, start, nsteps, batch)`` takes many steps over
row numbers in one call, with no batch copied.  See :mod:`kernels.fused`.
"""
import time
from collections import namedtuple

import numba
import numpy as np

import kernels.fused as KF
from kernels import checks
from kernels.sparse import to_csr

from ._checks import ShapeError, describe, nonnegative_int, positive_float, positive_int
from .threads import Adaptive

PARAM_NAMES = ("W1", "b1", "W2", "b2")


class FusedData(namedtuple("FusedData", ["csr", "labels", "targets"])):
    """A data set ready for :meth:`FusedSGD.run`: ``csr`` of the inputs, integer
    ``labels`` (N,) or None, dense ``targets`` (N, C) or None.

    Made by :meth:`FusedSGD.prepare` only, which records the network it fits
    (input size, classes, dtype).  The arrays shown are read-only views; the
    kernels read private originals that no caller can change.
    """

    def __repr__(self):
        N, D = self.csr.shape
        kind = "labels" if self.labels is not None else "targets"
        classes = self.__dict__.get("_classes", "?")
        return f"FusedData({N} rows of {D} inputs, {self.csr.values.dtype}, {classes} classes, {kind})"


def _read_only(a):
    if a is None:
        return None
    v = a.view()
    v.flags.writeable = False
    return v


class FusedSGD:
    """Plain SGD on a TwoLayerNet, fused kernels.

    net: the network (its ``params`` are updated in place, so its layers see
    the new values); lr: learning rate; parallel: True/False forces the
    parallel or the serial kernel; None (default) chooses per call (see
    fastnn.threads): serial on one numba thread or below PARALLEL_MIN_BATCH,
    otherwise whichever of the two was measured faster lately (a busy machine
    makes parallel steps slower).  Both kernels give the same bits.
    """

    #: Chunks of the data set the evaluation is split into (fixed, so that its loss sums
    #: do not depend on the thread count); enough for 16 threads.
    EVAL_CHUNKS = 16

    def __init__(self, net, lr=0.01, *, parallel=None):
        from .network import TwoLayerNet
        if not isinstance(net, TwoLayerNet):
            raise TypeError(f"net: expected a TwoLayerNet, got {type(net).__name__}")
        if parallel not in (None, True, False):
            raise ValueError(f"parallel: expected None, True or False, got {parallel!r}")
        self.net = net
        self.lr = positive_float("lr", lr)
        self.parallel = parallel
        self._buffers = {}
        self._losses = np.empty(0)
        self._built_for = None
        self._adaptive = Adaptive(probe_units=8)
        # evaluations: few calls, each long enough to time; the training steps have started
        # numba's threads already, so no untimed first call
        self._adaptive_eval = Adaptive(probe_units=2, probe_every=16, warmup=False)
        self._steps_parallel = None     # the steps' current choice, once they have one

    def _use_parallel(self, key, batch, adaptive):
        """(parallel, measuring, timed): the forced choice, serial where parallel cannot
        pay, or the adaptive choice (timed: report the call to ``adaptive``)."""
        if self.parallel is not None:
            return bool(self.parallel), False, False
        if numba.get_num_threads() == 1 or batch < KF.PARALLEL_MIN_BATCH:
            return False, False, False
        return (*adaptive.choose(key), True)

    def _params(self):
        """W1, b1, W2, b2 of the net, checked (see ``TwoLayerNet.check_params``); the work
        buffers are dropped when the net's sizes or dtype differ from those they were made for."""
        net = self.net
        net.check_params()
        key = (net._sizes, net.dtype)
        if key != self._built_for:
            self._buffers.clear()
            self._built_for = key
        lr = self.lr
        if not (type(lr) is float and 0 < lr < np.inf):      # also when lr was set after __init__
            self.lr = positive_float("lr", lr)
        p = net.params
        return p["W1"], p["b1"], p["W2"], p["b2"]

    def _data(self, data):
        """The kernels' arrays of prepared data, after checking it fits this net (call after _params)."""
        if not isinstance(data, FusedData) or "_arrays" not in data.__dict__:
            raise TypeError(f"data: expected the FusedData returned by FusedSGD.prepare(x, t), "
                            f"got {type(data).__name__}")
        D, _, C = self.net._sizes
        if data._dtype != self.net.dtype:
            raise TypeError(f"data: prepared in {data._dtype}, this net computes in {self.net.dtype}; "
                            f"prepare it with this net's FusedSGD")
        if data.csr.shape[1] != D:
            raise ShapeError(f"data: prepared for input size {data.csr.shape[1]}, this net takes {D}; "
                             f"prepare it with this net's FusedSGD")
        if data._classes != C:
            raise ShapeError(f"data: prepared for {data._classes} classes, this net has {C}; "
                             f"prepare it with this net's FusedSGD")
        return data._arrays

    @staticmethod
    def _order(order, start, nsteps, batch, n_rows):
        """order as int64 after checking that the rows the steps read lie in [0, n_rows)."""
        if not isinstance(order, np.ndarray):
            order = np.asarray(order)
        if order.dtype.kind not in "iu":
            raise TypeError(f"order: expected a 1-D integer array of row numbers, got {describe(order)}")
        if order.ndim != 1:
            raise ShapeError(f"order: expected a 1-D integer array of row numbers, got {describe(order)}")
        if start >= order.size or start + (nsteps - 1) * batch >= order.size:
            raise ValueError(f"start, nsteps, batch: steps {start} + {nsteps} x {batch} "
                             f"leave order of size {order.size}")
        used = order[start:start + nsteps * batch]
        rows = np.ascontiguousarray(order, dtype=np.int64)
        if order.dtype.kind == "u" and used.max() > np.iinfo(np.int64).max \
                or not checks.labels_in_range(rows[start:start + nsteps * batch], n_rows):
            raise ValueError(f"order: row numbers must lie in [0, {n_rows}) (the prepared data's rows), "
                             f"got values in [{used.min()}, {used.max()}] in order[{start}:{start + used.size}]")
        return rows

    def buffers(self, n):
        """Work buffers for batches of up to n samples (cached)."""
        buf = self._buffers.get(n)
        if buf is None:
            D, H, C = self.net.sizes
            buf = self._buffers[n] = KF.make_buffers(n, D, H, C, self.net.dtype)
        return buf

    def _checked(self, x, t):
        """x (N, input_size) of the net's dtype, finite; t as (labels or None, dense targets or None)."""
        x, t = self.net._check_batch(x, t)
        return x, (t, None) if t.ndim == 1 else (None, t)

    def prepare(self, x, t):
        """Check and compress a data set once: x (N, input_size), t labels (N,) or (N, C)."""
        x, (labels, dense) = self._checked(x, t)
        # private copies: the checked labels may be the caller's own array, which could change later
        labels = None if labels is None else labels.copy()
        dense = None if dense is None else dense.copy()
        csr = to_csr(x)
        shown = csr._replace(indptr=_read_only(csr.indptr), indices=_read_only(csr.indices),
                             values=_read_only(csr.values))
        data = FusedData(shown, _read_only(labels), _read_only(dense))
        data._arrays = (csr, labels, dense)
        data._dtype = self.net.dtype
        data._classes = self.net._sizes[2]
        return data

    def run(self, data, order, start, nsteps, batch):
        """``nsteps`` SGD steps; step s on rows ``order[start + s*batch:][:batch]`` of ``data``.

        data: from :meth:`prepare` with a net of this one's sizes and dtype;
        order: 1-D integer row numbers of data (those the steps read must lie in
        [0, N)).  Returns the (nsteps,) float64 losses, each before its update
        (a view, valid until the next call).
        """
        params = self._params()
        csr, labels, targets = self._data(data)
        start = nonnegative_int("start", start)
        nsteps = positive_int("nsteps", nsteps)
        batch = positive_int("batch", batch)
        order = self._order(order, start, nsteps, batch, csr.shape[0])
        if self._losses.size < nsteps:
            self._losses = np.empty(nsteps)
        labels = labels if labels is not None else np.zeros(0, np.intp)
        buf = self.buffers(batch)
        done = 0
        while done < nsteps:     # in pieces while the parallel and serial kernels are timed
            parallel, measuring, timed = self._use_parallel(batch, batch, self._adaptive)
            k = 1 if measuring else nsteps - done
            t0 = time.perf_counter()
            KF.train_steps(csr, labels, order, start + done * batch, k, batch, *params, self.lr,
                           buf, self._losses[done:], activation=self.net.activation,
                           targets=targets, parallel=parallel)
            if timed:
                self._adaptive.record(batch, parallel, time.perf_counter() - t0, k)
                self._steps_parallel = self._adaptive.current(batch)
            done += k
        return self._losses[:nsteps]

    def evaluate(self, data, loss=True):
        """(accuracy, mean cross-entropy with the book's 1e-7) of the net on data from
        :meth:`prepare` with integer labels, by compiled forward passes over its non-zeros.
        loss=False skips the softmax and returns (accuracy, None)."""
        params = self._params()
        csr, labels, _ = self._data(data)
        if labels is None:
            raise ValueError("data: evaluate needs integer labels, got one-hot or soft targets")
        _, H, C = self.net._sizes
        T = self.EVAL_CHUNKS
        buf = self._buffers.get("eval")
        if buf is None:
            dt = self.net.dtype
            buf = self._buffers["eval"] = (KF.per_thread(T, H, dt), KF.per_thread(T, C, dt),
                                           np.empty((C, H), dt), np.empty(T, np.int64), np.empty(T, np.float64))
        n = csr.shape[0]
        parallel, _, timed = self._use_parallel(n, n, self._adaptive_eval)
        if timed and self._steps_parallel is not None:
            # after training steps, follow their choice: timed over many more calls than
            # evaluations get, it tells a busy machine (serial) from a quiet one better
            parallel, timed = self._steps_parallel, False
        t0 = time.perf_counter()
        (KF.evaluate if parallel else KF.evaluate_serial)(
            csr.indptr, csr.indices, csr.values, labels, *params,
            KF.ACTIVATION_CODES[self.net.activation], bool(loss), *buf, KF.hidden_hint(H))
        if timed:
            self._adaptive_eval.record(n, parallel, time.perf_counter() - t0)
        return int(buf[3].sum()) / n, (-float(buf[4].sum()) / n if loss else None)

    def step(self, x, t):
        """One SGD step on the batch (x, t); returns the loss before the update.

        x: (N, input_size) of the net's dtype, finite; t: integer labels (N,)
        or one-hot / soft targets (N, output_size).
        """
        x, (labels, dense) = self._checked(x, t)
        params = self._params()
        N = x.shape[0]
        parallel, _, timed = self._use_parallel(N, N, self._adaptive)
        t0 = time.perf_counter()
        loss = KF.train_step(x, labels, *params, self.lr, self.buffers(N),
                             activation=self.net.activation, targets=dense, parallel=parallel)
        if timed:
            self._adaptive.record(N, parallel, time.perf_counter() - t0)
            self._steps_parallel = self._adaptive.current(N)
        return loss
