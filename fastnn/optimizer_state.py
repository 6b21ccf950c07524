"""Optimizer state for checkpoints: the optimizer's ``state_dict()``, saved and restored.

A state is ``{"name", "scalars", "arrays"}``: the class name, JSON numbers (the settings and
the step count ``t``) and numpy arrays (the flat state "v", "m", ... over the network's
``theta``, or per parameter "v.W1", ... as written before the flat buffer). An optimizer
without ``state_dict`` (a user's own) is recorded by name only and not restored.
"""
__all__ = ["load_optimizer_state", "optimizer_state"]


def optimizer_state(opt):
    """{"name", "scalars", "arrays"}: JSON-able scalars and numpy arrays of ``opt``'s state."""
    if callable(getattr(opt, "state_dict", None)):
        d = opt.state_dict()
        return {"name": d["name"], "scalars": d["scalars"], "arrays": d["arrays"]}
    return {"name": type(opt).__name__, "scalars": None, "arrays": {}}


def load_optimizer_state(opt, state):
    """Restore what optimizer_state saved into an optimizer of the same class."""
    if state["name"] != type(opt).__name__:
        raise ValueError(f"state: optimizer {state['name']} saved, the trainer has {type(opt).__name__}")
    if state["scalars"] is None or not callable(getattr(opt, "load_state_dict", None)):
        return
    opt.load_state_dict(state)
