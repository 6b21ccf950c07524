"""Optimizer state for checkpoints: JSON scalars and arrays, saved and restored."""
import numpy as np

from .optimizers import SGD, Adam, Momentum

__all__ = ["load_optimizer_state", "optimizer_state"]


def optimizer_state(opt):
    """{"name", "scalars", "arrays"} of an SGD, Momentum or Adam (JSON scalars + arrays)."""
    name = type(opt).__name__
    scalars, arrays = {}, {}
    if isinstance(opt, SGD):
        scalars = {"lr": opt.lr}
    elif isinstance(opt, Momentum):
        scalars = {"lr": opt.lr, "momentum": opt.momentum}
        if opt.v is not None:
            arrays = {f"v.{k}": v.copy() for k, v in opt.v.items()}
    elif isinstance(opt, Adam):
        scalars = {"lr": opt.lr, "beta1": opt.beta1, "beta2": opt.beta2, "eps": opt.eps,
                   "iter": opt.iter}
        if opt.m is not None:
            arrays = {f"m.{k}": v.copy() for k, v in opt.m.items()}
            arrays.update({f"v.{k}": v.copy() for k, v in opt.v.items()})
    else:
        scalars = None  # unknown optimizer: its state is not saved
    return {"name": name, "scalars": scalars, "arrays": arrays}


def load_optimizer_state(opt, state):
    """Restore what optimizer_state saved into an optimizer of the same kind."""
    if state["name"] != type(opt).__name__:
        raise ValueError(f"state: optimizer {state['name']} saved, the trainer has {type(opt).__name__}")
    if state["scalars"] is None:
        return
    for key, value in state["scalars"].items():
        setattr(opt, key, value)
    groups = {}
    for key, arr in state["arrays"].items():
        group, name = key.split(".", 1)
        groups.setdefault(group, {})[name] = np.array(arr)
    for group, values in groups.items():
        setattr(opt, group, values)
