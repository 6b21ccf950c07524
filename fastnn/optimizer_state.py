"""Optimizer state for checkpoints: JSON scalars and arrays, saved and restored.

An optimizer with ``state_dict()`` / ``load_state_dict(d)`` (fastnn.optimizers) is saved as
its state dict, split into a JSON tree (``scalars["state_dict"]``, each array replaced by
``{"array": KEY}``) and the arrays by KEY. Optimizers without them (and checkpoints written
before) keep the older layout: hyper-parameters and step count as scalars, the per-parameter
dicts as arrays "v.W1", "m.W1", ...
"""
import numpy as np

from .optimizers import SGD, Adam, Momentum

__all__ = ["load_optimizer_state", "optimizer_state"]


def optimizer_state(opt):
    """{"name", "scalars", "arrays"}: JSON-able scalars and numpy arrays of ``opt``'s state."""
    name = type(opt).__name__
    if callable(getattr(opt, "state_dict", None)):
        arrays = {}
        tree = _split(opt.state_dict(), "", arrays)
        return {"name": name, "scalars": {"state_dict": tree}, "arrays": arrays}
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
    scalars = state["scalars"]
    if scalars is None:
        return
    if "state_dict" in scalars:
        if not callable(getattr(opt, "load_state_dict", None)):
            raise ValueError(f"state: the optimizer {type(opt).__name__} of this version of "
                             "fastnn cannot load a saved state dict")
        opt.load_state_dict(_join(scalars["state_dict"], state["arrays"]))
        return
    for key, value in scalars.items():
        setattr(opt, key, value)
    groups = {}
    for key, arr in state["arrays"].items():
        group, name = key.split(".", 1)
        groups.setdefault(group, {})[name] = np.array(arr)
    for group, values in groups.items():
        setattr(opt, group, values)


def _split(value, key, arrays):
    """``value`` with its arrays moved into ``arrays`` under dotted keys (JSON-able tree)."""
    if isinstance(value, np.ndarray):
        arrays[key] = value.copy()
        return {"array": key}
    if isinstance(value, dict):
        return {"dict": {str(k): _split(v, f"{key}.{k}" if key else str(k), arrays)
                         for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"list": [_split(v, f"{key}.{i}" if key else str(i), arrays)
                         for i, v in enumerate(value)]}
    if isinstance(value, np.generic):
        return {"value": value.item()}
    return {"value": value}


def _join(tree, arrays):
    """The value _split took apart, with its arrays back from ``arrays``."""
    if "array" in tree:
        return np.array(arrays[tree["array"]])
    if "dict" in tree:
        return {k: _join(v, arrays) for k, v in tree["dict"].items()}
    if "list" in tree:
        return [_join(v, arrays) for v in tree["list"]]
    return tree["value"]
