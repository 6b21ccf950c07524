"""Mini-batch training of a network, as in the book's training loop, made repeatable.

    trainer = Trainer(net, x_train, t_train, x_test, t_test, lr=0.1, batch_size=100,
                      iterations=10000, seed=0)
    history = trainer.fit()

Each iteration draws a mini-batch, computes the gradient (backprop or
numerical) and updates the parameters; each epoch ends with the accuracy on
the whole training and test sets, as the book records it.

Sampling:

- "shuffle" (default): every epoch visits every training sample exactly once,
  in a fresh random order. The last batch of an epoch is smaller when
  batch_size does not divide the number of samples (it is kept, not dropped),
  so an epoch is ceil(N / batch_size) iterations.
- "random": the book's ``np.random.choice(train_size, batch_size)``: each
  batch drawn with replacement, and an epoch counted as max(N // batch_size, 1)
  iterations.

All randomness comes from one ``np.random.default_rng(seed)``: the same seed,
data and settings give the same parameters and history, bit for bit, on any
numba thread count (the fused kernels sum over a fixed partition of each batch;
see fastnn.threads).

Ctrl-C, SIGTERM or SIGHUP stops training after the batch (or fused block) in
progress: ``fit`` then raises TrainingInterrupted with a consistent trainer,
whose ``state_dict()`` can be saved (see fastnn.checkpoint) and restored with
``load_state_dict`` to continue exactly where the run stopped. A second signal
interrupts at once; a signal that was ignored (SIG_IGN) when ``fit`` started
stays ignored. A loss that is NaN or infinite stops training with
TrainingDiverged, naming the iteration.

Validation (``validation_split``): a seeded, stratified hold-out carved from the
training set before training (fastnn.splits); it is never trained on. Each
epoch then records ``val_acc`` and ``val_loss``, and the test set is evaluated
only after the last epoch (every epoch with ``eval_test_each_epoch``), so that
choices made from the epoch figures are not made on test data.
``early_stopping=PATIENCE`` stops when the validation loss has not improved for
PATIENCE epochs and puts back the weights of the best epoch. ``lr_schedule``
("step:EPOCHS:GAMMA" or "cosine", fastnn.schedules) sets the optimizer's lr at
the start of every epoch and records it as ``lr``.
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from . import _signals
from ._checks import one_of, positive_int
from .architecture import network_state
from .evaluation import check_data, check_network, eval_buffers, evaluate, forward_passes
from .history import EPOCH_KEYS, OPTIONAL_KEYS, epoch_keys, new_history
from .optimizer_state import load_optimizer_state, optimizer_state
from .optimizers import SGD
from .schedules import parse_schedule
from .splits import check_fraction, stratified_split
from .step_paths import fused_step, last_loss
from .stops import TrainingDiverged, TrainingInterrupted
from .threads import blas_limit, check_environment, check_threads, num_threads
from .trainer_state import load_trainer_state, run_config, trainer_state

# evaluate, the history keys and the optimizer state live in their own modules and are
# importable from here too, as before
__all__ = ["EPOCH_KEYS", "OPTIONAL_KEYS", "SAMPLING", "Trainer", "TrainingDiverged",
           "TrainingInterrupted", "epoch_keys", "evaluate", "load_optimizer_state", "new_history",
           "optimizer_state"]

SAMPLING = ("shuffle", "random")
GRADS = ("backprop", "numerical")
#: Iterations of the book's run (iters_num), used when neither epochs nor iterations is given.
BOOK_ITERATIONS = 10000


class Trainer:
    """Train ``net`` on (x_train, t_train) with mini-batch gradient descent.

    net: a TwoLayerNet or a network built from a description (MultiLayerNet); the data
        are converted once to its dtype.
    x_train: (N, input_size) numbers; t_train: (N,) integer labels or (N, C) one-hot.
    x_test, t_test: evaluated at the end of every epoch (optional, both or neither).
    optimizer: anything with ``update(params, grads)``; default SGD(lr). ``lr`` is
        used only to build the default.
    batch_size: samples per iteration, at most N.
    epochs, iterations: how long to train (at most one of them; if neither, the
        book's 10,000 iterations). With ``iterations`` the last epoch may be partial;
        it is evaluated like the others.
    sampling: "shuffle" or "random" (see the module docstring).
    grad: "backprop" or "numerical" (``net.numerical_gradient(x, t, method=
        numerical_method)``, far slower; for checking and teaching); numerical_method
        None: the fastest that applies (fastnn.numerical.default_method).
    fused: use fastnn.fused's training step for backprop when it applies: Fused(net,
        optimizer) for any description and any fastnn optimizer (versions without it:
        FusedSGD, the two-layer net with plain SGD). None: where it applies; True: required
        (ValueError saying why it does not apply); False: never. ``step_kind`` says which
        path runs and ``step_note`` why the fused one does not.
    seed: seed of the ``np.random.default_rng`` that draws the batches.
    threads: numba threads during ``fit``, in [1, cores] (None keeps the current count);
        on the layer and numerical paths 1 whenever blas_threads is None or above 1 (one
        level of parallelism at a time). Within that count the fused path runs each call
        serially or in parallel, whichever was measured faster lately (fastnn.threads);
        the results are the same bits either way.
    blas_threads: threads of the BLAS pools (OpenBLAS of NumPy and of SciPy, which
        numba's ``np.dot`` calls) during ``fit``, set with threadpoolctl; None leaves
        them alone. Default 1: the products of a training step are small, and a
        BLAS pool that competes with other work for the cores can make training
        ten times slower (measured on a busy two-core machine).
    eval_batch: samples per forward pass when evaluating.
    steps_per_call: on the fused path, iterations run by one compiled call (never
        across an epoch's end); "step" events then come once per call, with
        ``iteration`` advanced by the calls' steps. None: 1 when there are
        callbacks, else 100. The result is the same whatever the value.
    callbacks: callables ``cb(trainer, event)``, event "step" after each iteration
        (or call, see steps_per_call) or "epoch" after each epoch's evaluation;
        ``trainer.last_loss`` and ``trainer.history`` hold the latest values.
        Raising KeyboardInterrupt from a callback stops training like Ctrl-C.
    handle_signals: during ``fit``, SIGINT, SIGTERM and SIGHUP stop training after the
        current batch (see fastnn._signals); False leaves the handlers to the caller,
        who may call ``request_stop``.
    validation_split: None, or a fraction in (0, 0.5] of the training set held out,
        stratified by class and drawn with ``seed``; the trainer trains on the rest
        (``x_train`` is then the remaining rows) and evaluates it as ``x_val``.
    early_stopping: None, or the patience in epochs: stop when the validation loss
        has not improved for that many epochs and restore the best epoch's weights
        (``best_epoch``); needs validation_split.
    lr_schedule: None, "step:EPOCHS:GAMMA" or "cosine" (fastnn.schedules): the
        optimizer's ``lr`` at each epoch's start, from the lr it had when given.
    eval_test_each_epoch: with validation_split, evaluate the test set after every
        epoch too (by default only after the last).
    """

    def __init__(self, net, x_train, t_train, x_test=None, t_test=None, *, optimizer=None,
                 lr=0.1, batch_size=100, epochs=None, iterations=None, sampling="shuffle",
                 grad="backprop", numerical_method=None, fused=None, seed=None,
                 threads=None, blas_threads=1, eval_batch=10000, steps_per_call=None,
                 callbacks=(), handle_signals=True, validation_split=None,
                 early_stopping=None, lr_schedule=None, eval_test_each_epoch=False):
        self.net = check_network(net)
        self.x_train, self.t_train = check_data(net, "x_train", x_train, "t_train", t_train)
        if (x_test is None) != (t_test is None):
            raise ValueError("x_test, t_test: give both or neither")
        self.x_test = self.t_test = None
        if x_test is not None:
            self.x_test, self.t_test = check_data(net, "x_test", x_test, "t_test", t_test)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.validation_split = None
        self.x_val = self.t_val = None
        if validation_split is not None:
            self.validation_split = check_fraction("validation_split", validation_split)
            # drawn first from the run's generator: the same seed, the same split
            train_idx, val_idx = stratified_split(self.t_train, self.validation_split, self.rng)
            if train_idx.size == 0 or val_idx.size == 0:
                raise ValueError(f"validation_split: {validation_split} of "
                                 f"{self.x_train.shape[0]} samples leaves an empty set")
            self.x_val, self.t_val = self.x_train[val_idx], self.t_train[val_idx]
            self.x_train, self.t_train = self.x_train[train_idx], self.t_train[train_idx]
        self.eval_test_each_epoch = bool(eval_test_each_epoch)
        if early_stopping is not None:
            early_stopping = positive_int("early_stopping", early_stopping)
            if self.validation_split is None:
                raise ValueError("early_stopping: needs validation_split (it watches the "
                                 "validation loss)")
        self.early_stopping = early_stopping
        self.lr_schedule = None if lr_schedule is None else parse_schedule(lr_schedule)
        N = self.x_train.shape[0]

        self.batch_size = positive_int("batch_size", batch_size)
        if self.batch_size > N:
            raise ValueError(f"batch_size: expected at most the {N} training samples, got {batch_size}")
        if sampling not in SAMPLING:
            raise ValueError(f"sampling: expected one of {', '.join(SAMPLING)}, got {sampling!r}")
        self.sampling = sampling
        self.steps_per_epoch = (math.ceil(N / self.batch_size) if sampling == "shuffle"
                                else max(N // self.batch_size, 1))
        if epochs is not None and iterations is not None:
            raise ValueError("epochs, iterations: give one of them, not both")
        if epochs is not None:
            self.total_steps = positive_int("epochs", epochs) * self.steps_per_epoch
        else:
            self.total_steps = positive_int(
                "iterations", BOOK_ITERATIONS if iterations is None else iterations)
        self.epochs = math.ceil(self.total_steps / self.steps_per_epoch)

        if optimizer is None:
            optimizer = SGD(lr)
        elif not callable(getattr(optimizer, "update", None)):
            raise TypeError(f"optimizer: expected an object with update(params, grads), "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if self.lr_schedule is not None and not isinstance(getattr(optimizer, "lr", None), (int, float)):
            raise ValueError(f"lr_schedule: the optimizer {type(optimizer).__name__} has no "
                             "number lr to schedule")
        self.base_lr = getattr(optimizer, "lr", None)
        if grad not in GRADS:
            raise ValueError(f"grad: expected one of {', '.join(GRADS)}, got {grad!r}")
        self.grad = grad
        from .numerical import METHODS, default_method
        if numerical_method is not None:
            numerical_method = one_of("numerical_method", numerical_method, METHODS)
        elif grad == "numerical":
            numerical_method = default_method(net)
        self.numerical_method = numerical_method    # None with backprop: no method used
        if grad == "numerical" and not hasattr(net, "numerical_gradient"):
            raise ValueError("grad: 'numerical' needs TwoLayerNet.numerical_gradient, "
                             "which this version of fastnn does not have")
        if fused not in (None, True, False):
            raise ValueError(f"fused: expected None, True or False, got {fused!r}")
        #: Why the fused step is not used ("" when it is, or for numerical gradients).
        self.step_note = ""
        self._fused = None
        if grad == "backprop":
            self._fused, self.step_note = fused_step(net, optimizer, fused)
        if self._fused is not None:
            # the training set compressed once; batches are then row numbers. Fused checks
            # the network's operations here, at its first call: one it has no kernel for
            # (the data were checked already) leaves the layer path, saying why
            try:
                self._fused_data = self._fused.prepare(self.x_train, self.t_train)
            except (TypeError, ValueError) as e:
                self._fused = None
                self.step_note = f"the fused step does not take this network ({e})"
        if self._fused is not None:
            self._fused_test = (None if self.x_test is None
                                else self._fused.prepare(self.x_test, self.t_test))
            self._fused_val = (None if self.x_val is None
                               else self._fused.prepare(self.x_val, self.t_val))
        if fused is True and self._fused is None:
            raise ValueError(f"fused: the fused step does not apply: "
                             f"{self.step_note or 'it needs grad=backprop'}")
        #: "fused", "layers" or "numerical": how ``_step`` computes an iteration.
        self.step_kind = ("numerical" if grad == "numerical"
                          else "fused" if self._fused is not None else "layers")

        check_environment()
        self.threads = None if threads is None else check_threads("threads", threads)
        self.blas_threads = None if blas_threads is None else positive_int("blas_threads", blas_threads)
        self.eval_batch = positive_int("eval_batch", eval_batch)
        self.callbacks = list(callbacks)
        self.steps_per_call = (positive_int("steps_per_call", steps_per_call) if steps_per_call is not None
                               else 1 if self.callbacks else 100)
        for cb in self.callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks: expected callables, got {type(cb).__name__}")

        self.iteration = 0          # iterations done
        self.epoch = 0              # epochs completed (evaluated)
        self._pos = 0               # iterations done in the current epoch
        self._epoch_time = 0.0      # seconds spent in the current epoch so far
        #: Seconds of the latest ``fit``: "first_step" (its first step or fused block, which
        #: pays numba's compilation or cache loading), "steps" (the other steps, with the
        #: number of iterations they did in "steady_iterations"), "first_eval" and "eval"
        #: (the per-epoch evaluations, likewise).
        self.timing = {}
        self._order = None          # the current epoch's permutation (shuffle)
        self.last_loss = None
        self.history = new_history(
            (("val_acc", "val_loss") if self.x_val is not None else ()) +
            (("lr",) if self.lr_schedule is not None else ()))
        self.best_epoch = None      # early stopping: the epoch whose weights are kept
        self._best_loss = math.inf
        self._best_params = None
        self._best_state = None     # the network's state buffer (running statistics) then
        self._bad_epochs = 0
        self.stopped_early = False
        self.interrupted = False
        self.handle_signals = bool(handle_signals)
        self._stop = False
        self._stop_signal = None
        B = self.batch_size
        if self._fused is None:
            self._xb = np.empty((B, self.x_train.shape[1]), dtype=net.dtype)
            self._tb = np.empty(B, dtype=np.intp)
        self._eval_buffers = None

    # -- one iteration ---------------------------------------------------
    def _step(self, x, t):
        """One update on the batch (x, t); returns the batch loss before the update."""
        net = self.net
        if self.grad == "numerical":
            loss = net.loss(x, t)
            grads = net.numerical_gradient(x, t, method=self.numerical_method)
        else:
            grads = net.gradient(x, t)
            loss = last_loss(net, x, t)
        self.optimizer.update(net.params, grads)
        return float(loss)

    def _numba_threads(self):
        """numba's thread count during fit: ``threads``, except on the layer and numerical
        paths when BLAS may run more than one thread (blas_threads None or > 1). There the
        products are BLAS's to parallelise and numba's elementwise kernels stay on one
        thread: both pools at two threads on two cores made a Fashion-MNIST run 10x slower
        (8.9 s against 0.93 s for 1000 iterations)."""
        if self.step_kind != "fused" and (self.blas_threads is None or self.blas_threads > 1):
            return 1
        return self.threads

    # -- the loop --------------------------------------------------------
    def fit(self):
        """Train until ``total_steps`` iterations are done; returns ``history``.

        Continues from the current counters, so calling it after
        ``load_state_dict`` resumes a run. Raises TrainingInterrupted on a stop
        signal or ``request_stop`` (a request made before ``fit`` stops it before
        its first batch), TrainingDiverged on a NaN or infinite loss.
        """
        self.interrupted = False
        self.timing = {"first_step": 0.0, "steps": 0.0, "steady_iterations": 0,
                       "first_eval": 0.0, "eval": 0.0, "evaluations": 0}
        with num_threads(self._numba_threads()), blas_limit(self.blas_threads), self._signal_guard():
            while self.iteration < self.total_steps and not self._stop and not self.stopped_early:
                self._run_one()
        stopped, signum = self._stop, self._stop_signal
        self._stop, self._stop_signal = False, None
        if stopped and self.iteration < self.total_steps and not self.stopped_early:
            self.interrupted = True
            raise TrainingInterrupted(self, signum)
        return self.history

    def request_stop(self, signum=None):
        """Ask ``fit`` to stop after the current batch (callable from a signal handler)."""
        self._stop = True
        if self._stop_signal is None:
            self._stop_signal = signum

    def _signal_guard(self):
        if not self.handle_signals:
            return contextlib.nullcontext()
        return _signals.StopSignals(self.request_stop)

    def _block_indices(self, k):
        """Row numbers of the next k batches (the last one of an epoch may be short).

        shuffle: consecutive slices of the epoch's permutation, drawn when the
        epoch starts; random: the book's draw with replacement, one draw per batch.
        """
        if self.sampling == "random":
            # rng.choice(N, B) is rng.integers(0, N, B) (int64) after checks: the same numbers,
            # drawn in 84 us instead of 137 us for an epoch of the book's search (4 x 100)
            N, B = self.x_train.shape[0], self.batch_size
            out = np.empty(k * B, dtype=np.int64)
            for i in range(k):
                out[i * B:(i + 1) * B] = self.rng.integers(0, N, B, dtype=np.int64)
            return out
        if self._pos == 0:
            self._order = self.rng.permutation(self.x_train.shape[0])
        B = self.batch_size
        return self._order[self._pos * B:(self._pos + k) * B]

    def _run_one(self):
        """One iteration, or on the fused path up to steps_per_call of them in one call."""
        t0 = time.perf_counter()
        if self._pos == 0 and self.lr_schedule is not None:
            self._set_lr(self.lr_schedule.lr(self.base_lr, self.epoch, self.epochs))
        if self._fused is not None:
            # k iterations in one compiled call, never past the end of the epoch
            k = min(self.steps_per_call, self.steps_per_epoch - self._pos,
                    self.total_steps - self.iteration)
            losses = self._fused.run(self._fused_data, self._block_indices(k), 0, k, self.batch_size)
            if not np.isfinite(losses).all():
                bad = int(np.flatnonzero(~np.isfinite(losses))[0])
                raise TrainingDiverged(self, self.iteration + bad + 1, float(losses[bad]),
                                       [float(v) for v in losses[:bad]])
            self.history["loss"].extend(float(v) for v in losses)
        else:
            k = 1
            idx = self._block_indices(1)
            n = idx.shape[0]
            xb, tb = self._xb[:n], self._tb[:n]
            np.take(self.x_train, idx, axis=0, out=xb)
            np.take(self.t_train, idx, out=tb)
            loss = self._step(xb, tb)
            if not math.isfinite(loss):
                raise TrainingDiverged(self, self.iteration + 1, loss)
            self.history["loss"].append(loss)
        self.iteration += k
        self._pos += k
        self.last_loss = self.history["loss"][-1]
        dt = time.perf_counter() - t0
        self._epoch_time += dt
        tm = self.timing
        if tm:
            if tm["first_step"] == 0.0:
                tm["first_step"] = dt
            else:
                tm["steps"] += dt
                tm["steady_iterations"] += k
        self._notify("step")
        if self._pos == self.steps_per_epoch or self.iteration == self.total_steps:
            self._end_epoch()

    def _set_lr(self, lr):
        self.optimizer.lr = float(lr)
        if self._fused is not None and hasattr(self._fused, "lr"):     # FusedSGD keeps its own
            self._fused.lr = float(lr)

    def _eval_set(self, which, loss=True):
        """(accuracy, loss) of the net on "train", "val" or "test" (loss None if not asked)."""
        if self._fused is not None:     # compiled forward passes over the compressed sets
            data = {"train": self._fused_data, "val": self._fused_val, "test": self._fused_test}[which]
            return self._fused.evaluate(data, loss=loss) if loss else \
                (self._fused.evaluate(data, loss=False)[0], None)
        x, t = {"train": (self.x_train, self.t_train), "val": (self.x_val, self.t_val),
                "test": (self.x_test, self.t_test)}[which]
        acc, mean_loss = self._evaluate(x, t)
        return acc, mean_loss if loss else None

    def _end_epoch(self):
        t0 = time.perf_counter()
        h = self.history
        train_acc, _ = self._eval_set("train", loss=False)
        row = {}
        if self.x_val is not None:
            row["val_acc"], row["val_loss"] = self._eval_set("val")
            self._watch(row["val_loss"])
        if "lr" in h:
            row["lr"] = float(self.optimizer.lr)
        test_acc = test_loss = None
        last = self.iteration == self.total_steps or self.stopped_early
        if self.x_test is not None and (self.x_val is None or self.eval_test_each_epoch or last):
            test_acc, test_loss = self._eval_set("test")
        dt = time.perf_counter() - t0
        self._epoch_time += dt
        tm = self.timing
        if tm:
            tm["first_eval" if tm["evaluations"] == 0 else "eval"] += dt
            tm["evaluations"] += 1
        self.epoch += 1
        losses = h["loss"][self.iteration - self._pos:]
        for key, value in zip(EPOCH_KEYS, (self.epoch, self.iteration, train_acc, test_acc,
                                           float(np.mean(losses)), test_loss, self._epoch_time)):
            h[key].append(value)
        for key, value in row.items():
            h[key].append(value)
        self._pos = 0
        self._epoch_time = 0.0
        self._order = None
        self._notify("epoch")

    def _watch(self, val_loss):
        """Early stopping: keep the best epoch's weights; after ``early_stopping`` epochs
        without a lower validation loss, put them back and stop."""
        if self.early_stopping is None:
            return
        if val_loss < self._best_loss:
            self._best_loss, self.best_epoch, self._bad_epochs = val_loss, self.epoch + 1, 0
            self._best_params = {k: v.copy() for k, v in self.net.params.items()}
            state = network_state(self.net)
            self._best_state = None if state is None else state.copy()
            return
        self._bad_epochs += 1
        if self._bad_epochs >= self.early_stopping:
            self._restore_best()
            self.stopped_early = True

    def _restore_best(self):
        for k, v in self._best_params.items():
            self.net.params[k][...] = v
        if self._best_state is not None:
            network_state(self.net)[...] = self._best_state

    def _notify(self, event):
        for cb in self.callbacks:
            try:
                cb(self, event)
            except KeyboardInterrupt as e:
                if isinstance(e, _signals.SignalInterrupt):
                    raise
                self._stop = True

    # -- evaluation --------------------------------------------------------
    def evaluate(self, x, t):
        """(accuracy, mean loss) of the net on x (N, input_size) and labels or one-hot t,
        checked and converted like the training data, by forward passes only."""
        x, t = check_data(self.net, "x", x, "t", t)
        return self._evaluate(x, t)

    def _evaluate(self, x, t):
        """evaluate without checks: x and t as ``check_data`` returns them."""
        return forward_passes(self.net, x, t, self.eval_batch, self._buffers(x.shape[0]))

    def _buffers(self, rows=0):
        """Evaluation buffers for chunks of up to eval_batch rows of the trainer's own sets
        and of ``rows`` more (a set given to :meth:`evaluate`)."""
        B = min(self.eval_batch, max([rows] + [x.shape[0] for x in (self.x_train, self.x_test, self.x_val)
                                               if x is not None]))
        if self._eval_buffers is None or self._eval_buffers[0] < B:
            self._eval_buffers = (B, eval_buffers(self.net, B))
        return self._eval_buffers[1]

    # -- checkpoints (fastnn.trainer_state) ----------------------------------
    def config(self):
        """The settings that define this run (JSON-compatible)."""
        return run_config(self)

    def state_dict(self):
        """Everything needed to continue this run exactly: a dict of JSON-compatible
        values plus numpy arrays (params, optimizer state, the epoch's order)."""
        return trainer_state(self)

    def load_state_dict(self, state):
        """Continue the run saved by ``state_dict``; the trainer must have the same
        data sizes, batch size and sampling (the total length may differ)."""
        load_trainer_state(self, state)
