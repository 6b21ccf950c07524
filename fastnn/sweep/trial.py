"""One trial, run in-process wherever it is called (a Dask worker, or this process).

    record = run_trial(trial_task, data_spec)

The trial is the run ``fastnn train ARGV`` describes, built through the
library (network + Trainer) without a process, a run folder or plots. Every
trial of a sweep trains on the same training images and is scored on the same
validation split (``data_spec``: carved once, stratified, with the sweep's
seed), as the book's search does; the test set is evaluated once, after
training, and reported only once trials have been selected.

The data are loaded once per process (``worker_data`` keeps the last few data
sets it loaded) and trials train with one numba and one BLAS thread: a sweep
runs one worker per core.
"""
import functools
import os
import socket
import time
import traceback

import numpy as np

from .options import parse_options

__all__ = ["run_trial", "worker_data", "check_buildable", "build_run"]

#: train options this module passes to a trial's network and Trainer. Another option that
#: fastnn train accepts is refused by check_buildable rather than silently left out.
BUILT = {"grad", "numerical_method", "epochs", "iterations", "batch_size", "dtype", "seed",
         "sampling", "lr_schedule", "early_stopping",
         # fastnn.cli.netopts: network_from_args and optimizer_from_args
         "hidden", "activation", "weight_init", "weight_decay", "dropout", "batchnorm",
         "optimizer", "lr", "momentum", "beta1", "beta2"}


def data_spec(spec):
    """The hashable description of a sweep's data: (dataset, data_dir, train_size,
    validation, split seed)."""
    d = spec.data
    data_dir = None if d["data_dir"] is None else os.path.abspath(d["data_dir"])
    return (d["dataset"], data_dir, d["train_size"], d["validation"], spec.seed)


@functools.lru_cache(maxsize=4)
def worker_data(data_spec, dtype):
    """{"train", "val", "test": (x, t), "name", "describe"} for ``data_spec`` in ``dtype``,
    loaded once per process. The training images are the first ``train_size`` ones; the
    validation split is stratified and drawn with default_rng([split seed, 2])."""
    from ..datasets import load
    from ..splits import stratified_split
    dataset, data_dir, train_size, validation, seed = data_spec
    data = load(dataset, data_dir=data_dir, dtype=dtype, verbose=False)
    x, t = data.train
    if train_size is not None:
        if train_size > len(x):
            raise ValueError(f"train_size: expected at most the {len(x)} training images of "
                             f"{data.name}, got {train_size}")
        x, t = x[:train_size], t[:train_size]
    train_idx, val_idx = stratified_split(t, validation, np.random.default_rng([seed, 2]))
    return {"train": (x[train_idx], t[train_idx]), "val": (x[val_idx], t[val_idx]),
            "test": data.test, "classes": len(data.classes), "name": data.name,
            "describe": f"{data.describe()}; {len(train_idx)} train / {len(val_idx)} validation"
                        + (f" of the first {train_size}" if train_size is not None else "")}


def check_buildable(args):
    """ValueError for a train option this version passes to no trial (left at its default
    it is fine), so that no axis is silently ignored."""
    from .options import RESERVED, _train_parser
    for action in _train_parser()._actions:
        dest = action.dest
        if not action.option_strings or dest in BUILT or dest in RESERVED or dest == "help":
            continue
        value = getattr(args, dest, None)
        if not (value is None or value is False or value == action.default):
            raise ValueError(f"{action.option_strings[-1]}: fastnn train takes it, but this "
                             "version of fastnn sweep does not pass it to trials yet")
    if args.early_stopping is not None:
        raise ValueError("--early-stopping: not available in a sweep yet (trials are scored on "
                         "the sweep's validation split, which fastnn's Trainer does not watch)")


def build_run(args, data):
    """(net, trainer) for the options ``args`` (parse_options) on ``data`` (worker_data):
    the network and Trainer fastnn train builds, with the sweep's validation split as the
    set evaluated each epoch, one thread and no signal handling.

    The network and optimizer come from fastnn train's own builder (build_model)."""
    from ..cli.train import DEFAULT_ITERATIONS, build_model, trainer_seed
    from ..trainer import Trainer
    check_buildable(args)
    if args.epochs is None and args.iterations is None:
        args.iterations = DEFAULT_ITERATIONS
    x, t = data["train"]
    net, optimizer = build_model(args, x.shape[1], data["classes"])
    trainer = Trainer(net, x, t, *data["val"], optimizer=optimizer, batch_size=args.batch_size,
                      epochs=args.epochs, iterations=args.iterations, sampling=args.sampling,
                      grad=args.grad, numerical_method=args.numerical_method,
                      seed=trainer_seed(args.seed), threads=1, blas_threads=1,
                      lr_schedule=args.lr_schedule, handle_signals=False)
    return net, trainer


def run_trial(task, data_spec):
    """Train trial ``task`` ({"index", "seed", "values", "argv", ...}) and return its record:
    the task's fields, "status" ("ok", "diverged" or "error"), the per-epoch "history"
    (train_acc, train_loss, val_acc, val_loss, time), the last epoch's figures, test_acc and
    test_loss, timings ("wall"; "cpu": the process's CPU seconds meanwhile) and where it ran.
    An exception becomes an "error" record."""
    from ..threads import blas_limit, num_threads
    from ..trainer import TrainingDiverged, evaluate
    t0, c0 = time.perf_counter(), time.process_time()
    rec = {k: task[k] for k in ("index", "config", "repeat", "seed", "values")}
    rec["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    trainer = None
    try:
        args = parse_options(task["argv"])
        data = worker_data(data_spec, args.dtype)
        net, trainer = build_run(args, data)
        trainer.fit()
        h = trainer.history
        rec["status"] = "ok"
        rec["history"] = _history(h)
        rec.update(train_acc=h["train_acc"][-1], train_loss=h["train_loss"][-1],
                   val_acc=h["test_acc"][-1], val_loss=h["test_loss"][-1])
        with num_threads(1), blas_limit(1):      # one thread, as in training
            rec["test_acc"], rec["test_loss"] = evaluate(net, *data["test"])
    except TrainingDiverged as e:
        rec.update(status="diverged", error=str(e), history=_history(trainer.history))
    except Exception as e:      # recorded; the sweep goes on
        rec.update(status="error", error=f"{type(e).__name__}: {e}",
                   traceback=traceback.format_exc(limit=-3))
    if trainer is not None:
        rec["iterations"] = trainer.iteration
        tm = trainer.timing or {}
        steady = tm.get("steady_iterations", 0)
        rec["train_time"] = tm.get("first_step", 0.0) + tm.get("steps", 0.0)
        rec["samples_per_s"] = (steady * trainer.batch_size / tm["steps"]
                                if steady and tm.get("steps") else None)
    rec["wall"] = time.perf_counter() - t0
    rec["cpu"] = time.process_time() - c0       # the whole worker process, all its threads
    return rec


def _history(h):
    """The per-epoch figures under the sweep's names (the Trainer's test set is the
    validation split here)."""
    return {"epoch": list(h["epoch"]), "train_acc": list(h["train_acc"]),
            "train_loss": list(h["train_loss"]), "val_acc": list(h["test_acc"]),
            "val_loss": list(h["test_loss"]), "time": list(h["time"])}
