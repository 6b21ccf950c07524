"""Fused training steps: forward, backward and optimizer update in one compiled call.

``Fused(net, optimizer).step(x, t)`` does what ``net.gradient(x, t)``
followed by ``optimizer.update(net.params, grads)`` does (weight decay
included), in one compiled call with buffers reused from step to step, and
returns the loss of the batch before the update.  For training,
``prepare(x, t)`` compresses a whole data set once and
``run(data, order, start, nsteps, batch)`` takes many steps over row numbers
in one call, with no batch copied; ``evaluate(data)`` gives accuracy and loss
by compiled forward passes.  ``FusedSGD(net, lr)`` is ``Fused`` with plain SGD.

What a network must offer (the description of :mod:`kernels.graph`):
``ops`` (the table; its first operation an Affine), ``theta`` (the flat
parameters, updated in place, so ``net.params`` views see the new values),
``dtype``, ``weight_decay_lambda``, ``check_params()`` (called before every
call) and ``check_input(x, t)``; with dropout or batch normalization (the book's
MultiLayerNetExtend) also ``fops``, ``state`` (the running statistics, updated in
place) and ``rng`` (a numpy Generator: each step's dropout masks are drawn from it
before the step, in the order and shapes the layer path's training forward draws
them, so the same seed gives the same masks on either path and on any thread count).
The optimizer: ``kind``, ``hyper()``, ``t`` (steps taken; advanced by every fused step) and ``flat_state(P, dtype)``
(its state over the flat buffer), so a layer-path ``update`` and fused steps
continue each other.  See :mod:`kernels.train`.

A two-layer network trained by plain SGD without weight decay runs the
two-layer kernels of :mod:`kernels.fused`, which know the hidden width at
compile time and were measured faster for it (bench/deep.py); every other
network and optimizer runs the kernels of :mod:`kernels.train`.
"""
import time
from collections import namedtuple

import numba
import numpy as np

import kernels.fused as KF
import kernels.graph as KG
import kernels.optimizers as KO
import kernels.train as KT
from kernels import checks
from kernels.sparse import to_csr

from ._checks import ShapeError, describe, nonnegative_int, positive_float, positive_int
from .model import Network
from .optimizers import SGD
from .threads import DENSE_STEP_MIN_BATCH, Adaptive, blas_threads

PARAM_NAMES = ("W1", "b1", "W2", "b2")
#: Rows per block of the evaluation's forward passes (per chunk of the data set); a data
#: set of n rows is split into min(EVAL_CHUNKS, ceil(n / EVAL_BLOCK)) chunks.
EVAL_BLOCK = 64
#: Where :meth:`Fused._dense_args` holds the step kernel's count of rows with NaN or inf.
_BAD = 1 + KF.DenseBuffers._fields.index("bad")


class FusedData(namedtuple("FusedData", ["csr", "labels", "targets"])):
    """A data set ready for :meth:`Fused.run`: ``csr`` of the inputs, integer
    ``labels`` (N,) or None, dense ``targets`` (N, C) or None.

    Made by :meth:`Fused.prepare` only, which records the network it fits
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


def _two_layer(ops):
    """The activation name if ops is Affine -> sigmoid/ReLU -> Affine -> softmax-with-loss, else None."""
    kinds = tuple(int(k) for k in ops[:, KG.KIND])
    if len(kinds) == 4 and kinds[0] == kinds[2] == KG.AFFINE and kinds[3] == KG.SOFTMAX_LOSS:
        return {KG.SIGMOID: "sigmoid", KG.RELU: "relu"}.get(kinds[1])
    return None


class Fused:
    """Fused training steps of ``net`` by ``optimizer``.

    net: a network described by :mod:`kernels.graph` (``ops``, ``theta``,
    ``params``, ``dtype``, ``weight_decay_lambda``, ``check_params()``,
    ``check_input(x, t)``); its parameters are updated in place.
    optimizer: one of :mod:`fastnn.optimizers` (``kind``, ``hyper()``, ``t``,
    ``flat_state(P, dtype)``); its state and step count advance with every step.
    parallel: True/False forces the parallel or the serial kernel; None
    (default) chooses per call (see fastnn.threads): serial on one numba thread
    or below the kernels' PARALLEL_MIN_BATCH (the two-layer ``step``:
    fastnn.threads.DENSE_STEP_MIN_BATCH), otherwise whichever of the two
    was measured faster lately.  Both kernels give the same bits, on any
    number of threads.

    Methods: ``step(x, t)`` (one step on a dense batch), ``prepare(x, t)``
    (compress a data set once), ``run(data, order, start, nsteps, batch)``
    (many steps over row numbers), ``evaluate(data, loss=True)``.
    """

    #: Chunks of the data set the evaluation is split into (fixed, so that its loss sums
    #: do not depend on the thread count); enough for 16 threads.
    EVAL_CHUNKS = 16
    #: With dropout, steps whose masks are drawn at a time (a bool per activation each).
    MASK_STEPS = 32

    def __init__(self, net, optimizer, *, parallel=None):
        if parallel not in (None, True, False):
            raise ValueError(f"parallel: expected None, True or False, got {parallel!r}")
        if not all(hasattr(net, a) for a in ("ops", "theta", "params", "check_params", "check_input")):
            raise TypeError(f"net: expected a network described by kernels.graph (with ops, theta, params, "
                                f"check_params, check_input), got {type(net).__name__}")
        for name in ("kind", "hyper", "t"):
            if not hasattr(optimizer, name):
                raise TypeError(f"optimizer: expected one of fastnn.optimizers (SGD, Momentum, Nesterov, "
                                f"AdaGrad, RMSprop, Adam), got {type(optimizer).__name__}")
        self.net = net
        self.optimizer = optimizer
        self.parallel = parallel
        self._buffers = {}
        self._losses = np.empty(0)
        self._built_for = None
        self._adaptive = Adaptive(probe_units=8)
        # evaluations: few calls, each long enough to time; the training steps have started
        # numba's threads already, so no untimed first call
        self._adaptive_eval = Adaptive(probe_units=2, probe_every=16, warmup=False)
        self._steps_parallel = None     # the steps' current choice, once they have one
        self._bound = None              # the optimizer whose per-key state flat_state has taken in

    # -- what every call starts with ------------------------------------------------------
    def _use_parallel(self, key, batch, adaptive, min_batch=KT.PARALLEL_MIN_BATCH):
        """(parallel, measuring, timed): the forced choice, serial where parallel cannot
        pay (one thread, or batch < min_batch), or the adaptive choice (timed: report the
        call to ``adaptive``)."""
        if self.parallel is not None:
            return bool(self.parallel), False, False
        if batch < min_batch or numba.get_num_threads() == 1:
            return False, False, False
        return (*adaptive.choose(key), True)

    def _model(self):
        """Check the net's parameters and the optimizer; (ops, plan) where plan holds the
        tables derived from ops (rebuilt, and the buffers dropped, when ops or dtype change)."""
        net = self.net
        net.check_params()
        ops = np.ascontiguousarray(net.ops, dtype=np.int64)
        key = (ops.tobytes(), ops.shape, np.dtype(net.dtype))
        if key != self._built_for:
            if ops.shape[0] < 2 or ops[0, KG.KIND] != KG.AFFINE or ops[-1, KG.KIND] != KG.SOFTMAX_LOSS:
                raise ValueError("net: the fused step needs an Affine first and SoftmaxWithLoss last, got "
                                 + " -> ".join(KG.KIND_NAMES.get(int(k), str(k)) for k in ops[:, KG.KIND]))
            unknown = [KG.KIND_NAMES.get(int(k), str(k)) for k in ops[:, KG.KIND]
                       if k not in (KG.AFFINE, KG.SIGMOID, KG.RELU, KG.SOFTMAX_LOSS, KG.DROPOUT, KG.BATCHNORM)]
            if unknown:
                raise ValueError(f"net: the fused step has no kernel for {', '.join(unknown)} yet")
            inner = ops[1:-1, KG.KIND]
            self._buffers.clear()
            self._built_for = key
            width = int(KT.ops_width(ops))
            P = int(max((r[KG.POFF] + r[KG.PLEN] for r in ops if r[KG.PLEN] > 0), default=0))
            fops = getattr(net, "fops", None)
            fops = np.zeros((ops.shape[0], KG.NFCOLS)) if fops is None else \
                np.ascontiguousarray(fops, dtype=np.float64)
            self._plan = {"ops": ops, "fops": fops, "width": width, "P": P, "two_layer": _two_layer(ops),
                          "items": {}, "dropout": bool(np.any(inner == KG.DROPOUT)),
                          "state_size": KG.state_size(ops), "masks": None}
        return self._plan

    def _state(self, plan):
        """The net's state buffer (batch normalization's running statistics, updated in
        place), or an empty array for a net without one."""
        S = plan["state_size"]
        if S == 0:
            return np.empty(0, self.net.dtype)
        state = getattr(self.net, "state", None)
        if not (isinstance(state, np.ndarray) and state.ndim == 1 and state.size == S
                and state.dtype == self.net.dtype and state.flags.c_contiguous and state.flags.writeable):
            raise TypeError(f"net.state: expected ({S},) {np.dtype(self.net.dtype)} C-contiguous and writeable "
                            f"(batch normalization's running statistics), got {describe(state)}")
        return state

    def _masks(self, plan, order, start, nsteps, batch):
        """Dropout masks of the steps (kernels.train.draw_masks) from the net's generator
        ``rng``, drawn as the layer path's training forward draws them; None without dropout."""
        if not plan["dropout"]:
            return None
        rng = getattr(self.net, "rng", None)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"net.rng: expected a numpy.random.Generator for the dropout masks, "
                            f"got {type(rng).__name__}")
        sizes = [min(batch, order.size - (start + s * batch)) for s in range(nsteps)]
        plan["masks"] = KT.draw_masks(plan["ops"], plan["fops"], rng, sizes, plan["width"], plan["masks"])
        return plan["masks"]

    def _optimizer(self, plan):
        """(kind, hp, s1, s2, lam, special) for this call; special: run kernels.fused's
        two-layer SGD kernels."""
        opt = self.optimizer
        kind = int(opt.kind)
        if kind not in KO.STATES:
            raise ValueError(f"optimizer: unknown kind {kind!r}")
        hp = np.ascontiguousarray(opt.hyper(), dtype=np.float64)
        lam = float(getattr(self.net, "weight_decay_lambda", 0.0) or 0.0)
        if not (0.0 <= lam < np.inf):
            raise ValueError(f"net.weight_decay_lambda: expected a finite number >= 0, got {lam!r}")
        special = kind == KO.SGD and lam == 0.0 and plan["two_layer"] is not None
        if special:
            return kind, hp, None, None, lam, True
        if self._bound is not opt:
            # the first call: per-key state the optimizer holds (an update on the layer path, a
            # loaded checkpoint) moves into its flat state over theta
            try:
                s1, s2 = opt.flat_state(plan["P"], self.net.dtype, params=self.net.params)
            except TypeError:
                s1, s2 = opt.flat_state(plan["P"], self.net.dtype)
            self._bound = opt
        else:
            s1, s2 = opt.flat_state(plan["P"], self.net.dtype)
        return kind, hp, s1, s2, lam, False

    def _theta(self, plan):
        theta = self.net.theta
        if not (isinstance(theta, np.ndarray) and theta.ndim == 1 and theta.size == plan["P"]
                and theta.dtype == self.net.dtype and theta.flags.c_contiguous and theta.flags.writeable):
            raise TypeError(f"net.theta: expected ({plan['P']},) {np.dtype(self.net.dtype)} C-contiguous and "
                            f"writeable, got {describe(theta)}")
        return theta

    def _two_params(self):
        p = self.net.params
        return p["W1"], p["b1"], p["W2"], p["b2"]

    def buffers(self, n, special=None):
        """Work buffers for batches of up to n samples (cached)."""
        plan = self._model()
        if special is None:
            special = self._optimizer(plan)[5]
        buf = self._buffers.get((n, special))
        if buf is None:
            ops, dt = plan["ops"], self.net.dtype
            if special:
                buf = KF.make_buffers(n, int(ops[0, KG.IN]), int(ops[0, KG.OUT]), int(ops[-1, KG.OUT]), dt)
            else:
                buf = KT.make_buffers(ops, plan["width"], plan["P"], n, dt)
            self._buffers[(n, special)] = buf
        return buf

    # -- data ---------------------------------------------------------------------------
    def _checked(self, x, t, finite=True):
        """x (N, input_size) of the net's dtype; t as (labels or None, dense targets or None).
        finite=False: NaN and inf in x are left to the caller to find (when the net's
        check_input can skip that test: fastnn's networks)."""
        if t is None:
            C = int(self._model()["ops"][-1, KG.OUT])
            raise TypeError(f"t: expected (N,) integer labels or (N, {C}) one-hot, got None")
        if finite or not isinstance(self.net, Network):
            x, t = self.net.check_input(x, t)
        else:
            x, t = self.net.check_input(x, t, finite=False)
        return x, (t, None) if t.ndim == 1 else (None, t)

    def _data(self, data, plan):
        """The kernels' arrays of prepared data, after checking it fits this net."""
        if not isinstance(data, FusedData) or "_arrays" not in data.__dict__:
            raise TypeError(f"data: expected the FusedData returned by {type(self).__name__}.prepare(x, t), "
                            f"got {type(data).__name__}")
        ops = plan["ops"]
        D, C = int(ops[0, KG.IN]), int(ops[-1, KG.OUT])
        name = type(self).__name__
        if data._dtype != self.net.dtype:
            raise TypeError(f"data: prepared in {data._dtype}, this net computes in {self.net.dtype}; "
                            f"prepare it with this net's {name}")
        if data.csr.shape[1] != D:
            raise ShapeError(f"data: prepared for input size {data.csr.shape[1]}, this net takes {D}; "
                             f"prepare it with this net's {name}")
        if data._classes != C:
            raise ShapeError(f"data: prepared for {data._classes} classes, this net has {C}; "
                             f"prepare it with this net's {name}")
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

    def prepare(self, x, t):
        """Check and compress a data set once: x (N, input_size), t labels (N,) or (N, C)."""
        plan = self._model()
        x, (labels, dense) = self._checked(x, t)
        # private copies: the checked labels may be the caller's own array, which could change later
        labels = None if labels is None else labels.copy()
        dense = None if dense is None else dense.copy()
        csr = to_csr(x)
        shown = csr._replace(indptr=_read_only(csr.indptr), indices=_read_only(csr.indices),
                             values=_read_only(csr.values))
        data = FusedData(shown, _read_only(labels), _read_only(dense))
        data._arrays = (csr, labels, dense)
        data._dtype = np.dtype(self.net.dtype)
        data._classes = int(plan["ops"][-1, KG.OUT])
        return data

    # -- training -----------------------------------------------------------------------
    def _steps(self, plan, csr, labels, targets, order, start, nsteps, batch, losses, parallel):
        """nsteps steps by the kernels this net and optimizer take; advances optimizer.t."""
        kind, hp, s1, s2, lam, special = self._optimizer(plan)
        buf = self.buffers(batch, special)
        if special:
            KF.train_steps(csr, labels, order, start, nsteps, batch, *self._two_params(), float(hp[KO.LR]),
                           buf, losses, activation=plan["two_layer"], targets=targets, parallel=parallel)
        else:
            if parallel is None:
                parallel = KT.pick_parallel(batch)
            # the parameter phase's pieces: one group for the serial kernel, one per thread for the
            # parallel one; made once per plan (90 us a call otherwise)
            key = numba.get_num_threads() if parallel else 1
            items = plan["items"].get(key)
            if items is None:
                items = plan["items"][key] = KT.work_items(plan["ops"], key)
            # the dense products run on one BLAS thread, whatever numba's count: one pool computes
            # at a time, and two BLAS threads ran the 784-100x4-10 Adam step 8.5x slower on a busy
            # machine (bench: 79,500 vs 9,300 samples/s, load 7 on 2 cores)
            theta, state = self._theta(plan), self._state(plan)
            t = int(self.optimizer.t)
            with blas_threads(1):
                # with dropout, in pieces of MASK_STEPS steps: each piece's masks drawn first
                piece = self.MASK_STEPS if plan["dropout"] else nsteps
                for d in range(0, nsteps, piece):
                    k = min(piece, nsteps - d)
                    masks = self._masks(plan, order, start + d * batch, k, batch)
                    KT.train_steps(plan["ops"], csr, labels, order, start + d * batch, k, batch, theta, kind,
                                   hp, t + d, s1, s2, lam, buf, items, losses[d:], targets=targets,
                                   parallel=parallel, fops=plan["fops"], state=state, masks=masks)
        self.optimizer.t += nsteps

    def run(self, data, order, start, nsteps, batch):
        """``nsteps`` steps; step s on rows ``order[start + s*batch:][:batch]`` of ``data``.

        data: from :meth:`prepare` with a net of this one's sizes and dtype;
        order: 1-D integer row numbers of data (those the steps read must lie in
        [0, N)).  Returns the (nsteps,) float64 losses, each before its update
        (a view, valid until the next call).
        """
        plan = self._model()
        self._optimizer(plan)
        csr, labels, targets = self._data(data, plan)
        start = nonnegative_int("start", start)
        nsteps = positive_int("nsteps", nsteps)
        batch = positive_int("batch", batch)
        order = self._order(order, start, nsteps, batch, csr.shape[0])
        if self._losses.size < nsteps:
            self._losses = np.empty(nsteps)
        labels = labels if labels is not None else np.zeros(0, np.intp)
        done = 0
        while done < nsteps:     # in pieces while the parallel and serial kernels are timed
            parallel, measuring, timed = self._use_parallel(batch, batch, self._adaptive)
            k = 1 if measuring else nsteps - done
            t0 = time.perf_counter()
            self._steps(plan, csr, labels, targets, order, start + done * batch, k, batch, self._losses[done:],
                        parallel)
            if timed:
                self._adaptive.record(batch, parallel, time.perf_counter() - t0, k)
                self._steps_parallel = self._adaptive.current(batch)
            done += k
        return self._losses[:nsteps]

    def step(self, x, t):
        """One step on the batch (x, t); returns the loss before the update.

        x: (N, input_size) float, finite (converted to the net's dtype); t:
        integer labels (N,) or one-hot / soft targets (N, output_size).
        """
        plan = self._model()
        kind, hp, _, _, _, special = self._optimizer(plan)
        # the two-layer kernel finds NaN and inf in x itself (among the non-zeros it reads
        # anyway) and then changes nothing: a separate pass over x cost 3 us of a 150 us step
        x, (labels, dense) = self._checked(x, t, finite=not special)
        N = x.shape[0]
        parallel, _, timed = self._use_parallel(N, N, self._adaptive,
                                                DENSE_STEP_MIN_BATCH if special else KT.PARALLEL_MIN_BATCH)
        t0 = time.perf_counter()
        if special:
            # two-layer plain SGD: the batch is compressed inside the kernel, chunk by chunk
            args = self._dense_args(N, x.shape[1], plan["two_layer"])
            fn = KF.step_dense_parallel if parallel else KF.step_dense_serial
            W1, b1, W2, b2 = self._two_params()
            if labels is None:
                labels = args[-1]
            else:
                dense = args[-2]
            threads = numba.get_num_threads() if parallel else 1
            loss = fn(x, labels, dense, W1, b1, W2, b2, float(hp[KO.LR]), threads, *args[:-2])
            if args[_BAD][0]:
                self._checked(x, t)         # raises the error that names x's NaN or inf
                raise ValueError(f"x: expected finite values, got NaN or inf in {args[_BAD][0]} rows")
            self.optimizer.t += 1
        else:
            csr = to_csr(x)
            if labels is None:
                labels = np.zeros(0, np.intp)
            losses = np.empty(1)
            self._steps(plan, csr, labels, dense, np.arange(N, dtype=np.int64), 0, 1, N, losses, parallel)
            loss = losses[0]
        if timed:
            self._adaptive.record(N, parallel, time.perf_counter() - t0)
            self._steps_parallel = self._adaptive.current(N)
        return float(loss)

    def _dense_args(self, n, D, activation):
        """The two-layer step kernel's arguments after lr, for dense batches of n rows (cached):
        (relu, dense buffers..., buffers..., hint, empty targets, empty labels)."""
        key = ("dense", n)
        args = self._buffers.get(key)
        if args is None:
            dt = self.net.dtype
            buf = self.buffers(n, True)
            H, C = buf.z1.shape[1], buf.dy.shape[1]
            args = self._buffers[key] = (KF.ACTIVATION_CODES[activation], *KF.make_dense_buffers(n, D, dt),
                                         *buf, KF.hidden_hint(H), np.empty((0, C), dt), np.zeros(0, np.intp))
        return args

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, data, loss=True):
        """(accuracy, mean cross-entropy with the book's 1e-7) of the net on data from
        :meth:`prepare` with integer labels, by compiled forward passes over its non-zeros.
        loss=False skips the softmax and returns (accuracy, None).  The weight-decay term
        is not included (as in the trainer's reports)."""
        plan = self._model()
        csr, labels, _ = self._data(data, plan)
        if labels is None:
            raise ValueError("data: evaluate needs integer labels, got one-hot or soft targets")
        n = csr.shape[0]
        # a function of n alone, so that the sums do not depend on the thread count; chunks
        # of about EVAL_BLOCK rows or more, so that each BLAS product has rows enough
        T = min(self.EVAL_CHUNKS, max(1, -(-n // EVAL_BLOCK)))
        parallel, _, timed = self._use_parallel(n, n, self._adaptive_eval)
        if timed and self._steps_parallel is not None:
            # after training steps, follow their choice: timed over many more calls than
            # evaluations get, it tells a busy machine (serial) from a quiet one better
            parallel, timed = self._steps_parallel, False
        t0 = time.perf_counter()
        buf = self._buffers.get("eval")
        if buf is None:
            C = self.EVAL_CHUNKS
            buf = self._buffers["eval"] = (np.empty((C, EVAL_BLOCK * plan["width"]), self.net.dtype),
                                           np.empty(C, np.int64), np.empty(C, np.float64))
        scratch, hits, logs = buf[0], buf[1][:T], buf[2][:T]
        rows = self._buffers.get(("rows", n))
        if rows is None:
            rows = self._buffers[("rows", n)] = np.arange(n, dtype=np.int64)
        # the Affines are BLAS products inside the chunks: one BLAS thread, one pool at a time
        with blas_threads(1):
            (KT.evaluate if parallel else KT.evaluate_serial)(
                plan["ops"], plan["fops"], self._state(plan), rows, csr.indptr, csr.indices, csr.values,
                labels, self._theta(plan), bool(loss), scratch, hits, logs)
        if timed:
            self._adaptive_eval.record(n, parallel, time.perf_counter() - t0)
        return int(hits.sum()) / n, (-float(logs.sum()) / n if loss else None)


class FusedSGD(Fused):
    """Plain SGD, fused: ``Fused(net, SGD(lr))`` with ``lr`` an attribute one may change
    between calls (a schedule).  net: as for :class:`Fused`, or a TwoLayerNet; parallel:
    as there."""

    def __init__(self, net, lr=0.01, *, parallel=None):
        super().__init__(net, SGD(lr), parallel=parallel)

    @property
    def lr(self):
        """Learning rate (checked at the next call)."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value):
        self.optimizer.lr = value

    def _optimizer(self, plan):
        lr = self.optimizer.lr
        if not (type(lr) is float and 0 < lr < np.inf):      # also when lr was set after __init__
            self.optimizer.lr = positive_float("lr", lr)
        return super()._optimizer(plan)
