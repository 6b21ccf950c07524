"""A Trainer's run as data: its settings (``config``), the state that continues it exactly
(``state_dict``: parameters, optimizer state, counters, the generator's state, the epoch's
order, the history, early stopping's best weights) and restoring that state."""
import numpy as np

from .architecture import load_network_state, network_record, network_state, same_architecture
from .optimizer_state import load_optimizer_state, optimizer_state

__all__ = ["load_trainer_state", "run_config", "trainer_state"]


def run_config(trainer):
    """The settings that define this run (JSON-compatible)."""
    return {
        "n_train": int(trainer.x_train.shape[0]),
        "n_test": 0 if trainer.x_test is None else int(trainer.x_test.shape[0]),
        "batch_size": trainer.batch_size, "sampling": trainer.sampling,
        "steps_per_epoch": trainer.steps_per_epoch, "total_steps": trainer.total_steps,
        "epochs": trainer.epochs, "grad": trainer.grad, "numerical_method": trainer.numerical_method,
        "seed": trainer.seed, "optimizer": type(trainer.optimizer).__name__,
        "validation_split": trainer.validation_split,
        "n_val": 0 if trainer.x_val is None else int(trainer.x_val.shape[0]),
        "early_stopping": trainer.early_stopping,
        "lr_schedule": None if trainer.lr_schedule is None else str(trainer.lr_schedule),
        "eval_test_each_epoch": trainer.eval_test_each_epoch,
    }


def trainer_state(trainer):
    """Everything needed to continue this run exactly: a dict of JSON-compatible
    values plus numpy arrays (params, optimizer state, the epoch's order)."""
    net = trainer.net
    return {
        "net": network_record(net),
        "params": {k: v.copy() for k, v in net.params.items()},
        "optimizer": optimizer_state(trainer.optimizer),
        "counters": {"iteration": trainer.iteration, "epoch": trainer.epoch, "pos": trainer._pos,
                     "epoch_time": trainer._epoch_time},
        "rng": trainer.rng.bit_generator.state,
        # a network's own state and generator, where it has them (batch normalization's
        # running statistics, dropout's masks)
        "net_state": None if network_state(net) is None else network_state(net).copy(),
        "net_rng": (net.rng.bit_generator.state
                    if isinstance(getattr(net, "rng", None), np.random.Generator) else None),
        "order": None if trainer._order is None else trainer._order.copy(),
        "config": run_config(trainer),
        "history": {k: list(v) for k, v in trainer.history.items()},
        "best": None if trainer.early_stopping is None else {
            "epoch": trainer.best_epoch, "loss": trainer._best_loss, "bad_epochs": trainer._bad_epochs,
            "stopped": trainer.stopped_early,
            "params": None if trainer._best_params is None else
            {k: v.copy() for k, v in trainer._best_params.items()},
            "net_state": None if trainer._best_state is None else trainer._best_state.copy()},
    }


def load_trainer_state(trainer, state):
    """Continue the run saved by ``state_dict``; the trainer must have the same
    data sizes, batch size and sampling (the total length may differ)."""
    mine, saved = run_config(trainer), state["config"]
    for key in ("n_train", "batch_size", "sampling", "steps_per_epoch", "validation_split"):
        if key not in saved and key == "validation_split":
            saved = dict(saved, validation_split=None)   # saved before validation existed
        if mine[key] != saved[key]:
            raise ValueError(f"state: saved with {key}={saved[key]!r}, this trainer has {mine[key]!r}")
    net = trainer.net
    if not same_architecture(state["net"], net):
        raise ValueError(f"state: saved for the network {state['net']}, not "
                         f"{network_record(net)}")
    c = state["counters"]
    if not 0 <= c["pos"] < trainer.steps_per_epoch or c["iteration"] > trainer.total_steps:
        raise ValueError(f"state: counters {c} do not fit a run of {trainer.total_steps} iterations")
    saved = state["params"]
    if set(saved) != set(net.params):
        raise ValueError(f"state: parameters {', '.join(saved)} saved, the network has "
                         f"{', '.join(net.params)}")
    for k, v in net.params.items():
        if np.shape(saved[k]) != v.shape:
            raise ValueError(f"state: {k} saved as {np.shape(saved[k])}, the network's is {v.shape}")
        v[...] = saved[k]
    load_network_state(net, state.get("net_state"), "state")
    if state.get("net_rng") is not None and isinstance(getattr(net, "rng", None), np.random.Generator):
        net.rng.bit_generator.state = state["net_rng"]
    load_optimizer_state(trainer.optimizer, state["optimizer"])
    if trainer._fused is not None and hasattr(trainer._fused, "lr") and \
            isinstance(getattr(trainer.optimizer, "lr", None), float):
        trainer._fused.lr = trainer.optimizer.lr      # a scheduled lr, saved mid-epoch
    trainer.iteration, trainer.epoch, trainer._pos = int(c["iteration"]), int(c["epoch"]), int(c["pos"])
    trainer._epoch_time = float(c["epoch_time"])
    trainer.rng.bit_generator.state = state["rng"]
    order = state.get("order")
    trainer._order = None if order is None else np.asarray(order, dtype=np.intp)
    if trainer.sampling == "shuffle" and trainer._pos and (
            trainer._order is None or trainer._order.shape != (trainer.x_train.shape[0],)):
        raise ValueError("state: the current epoch's order is missing or of the wrong size")
    trainer.history = {k: list(v) for k, v in state["history"].items()}
    if len(trainer.history.get("loss", ())) != trainer.iteration:
        raise ValueError("state: history does not match the iteration counter")
    trainer.last_loss = trainer.history["loss"][-1] if trainer.iteration else None
    best = state.get("best")
    if best is not None and trainer.early_stopping is not None:
        trainer.best_epoch, trainer._best_loss = best["epoch"], float(best["loss"])
        trainer._bad_epochs, trainer.stopped_early = int(best["bad_epochs"]), bool(best["stopped"])
        trainer._best_params = None if best["params"] is None else \
            {k: np.array(best["params"][k], dtype=net.dtype) for k in net.params}
        saved = best.get("net_state")
        trainer._best_state = None if saved is None or network_state(net) is None else \
            np.array(saved, dtype=net.dtype).reshape(network_state(net).shape)
