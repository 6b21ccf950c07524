"""``fastnn train --resume``: the options recorded in a checkpoint, applied to the command line."""
import os

from .runopts import LATER_OPTIONS, RUN_DEFAULTS


def saved_args_of(args):
    return {key: getattr(args, key) for key in RUN_DEFAULTS}


def apply_saved(args, saved, ckpt, state):
    """Take the run's options from the checkpoint; --iterations/--epochs say how much more."""
    if isinstance(saved, dict):
        saved = {**{k: RUN_DEFAULTS[k] for k in LATER_OPTIONS}, **saved}
    if not isinstance(saved, dict) or set(saved) != set(RUN_DEFAULTS):
        raise ValueError(f"--resume {ckpt}: the checkpoint does not record the training options")
    more_iterations, more_epochs = args.iterations, args.epochs
    if isinstance(saved.get("hidden"), int):
        saved["hidden"] = [saved["hidden"]]         # one width, as recorded before --hidden H,H
    for key, value in saved.items():
        given = getattr(args, key)
        if key in ("epochs", "iterations"):
            setattr(args, key, value)
            continue
        same = given == value
        if key == "data_dir" and given is not None and value is not None:
            same = os.path.abspath(given) == os.path.abspath(value)
        if given is not None and not same:
            opt = "--" + key.replace("_", "-")
            raise ValueError(f"{opt}: the checkpoint's run used {value!r}, not {given!r}; "
                             "--resume continues the same run (leave the option out)")
        setattr(args, key, value)
    done = int(state["counters"]["iteration"])
    total = int(state["config"]["total_steps"])
    if more_iterations is not None or more_epochs is not None:
        per_epoch = int(state["config"]["steps_per_epoch"])
        args.iterations = done + (more_iterations or more_epochs * per_epoch)
        args.epochs = None
    # a finished state without its results beside it (kept when the disk was full) is
    # resumed to write them; one with its results needs MORE to do anything
    elif (done >= total or (state.get("best") or {}).get("stopped")) and \
            (ckpt.parent / "weights.npz").exists():
        raise ValueError(f"--resume {ckpt}: the run is finished ({done} iterations); to extend "
                         "it, add --iterations MORE or --epochs MORE")
