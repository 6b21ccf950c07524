"""The options of ``fastnn train`` as sweep settings: names, values, parsing.

The ``fastnn train`` argument parser is the one source of truth: a sweep may
set (in ``[train]``) or vary (in ``[axes]``) every option it accepts, except
the few that belong to a run folder or to the sweep itself (RESERVED). An
option added to ``fastnn train`` becomes a valid axis without a change here.

    names = option_names()                       # {"lr": "--lr", "batch_size": ...}
    argv = to_argv({"lr": 0.01, "hidden": 100})  # ["--lr", "0.01", "--hidden", "100"]
    args = parse_options(argv)                   # train's Namespace, defaults filled in
"""
import argparse
import functools

__all__ = ["RESERVED", "option_names", "to_argv", "parse_options", "OptionError"]

#: train options a sweep does not take from [train] or [axes], and why.
RESERVED = {
    "out": "each trial's results go to the sweep's results.jsonl (fastnn sweep --out)",
    "force": "the sweep's output folder is chosen with fastnn sweep --out",
    "resume": "a sweep is resumed with fastnn sweep --resume",
    "checkpoint_every": "trials write no checkpoints; a finished trial is the unit of progress",
    "quiet": "trials print nothing",
    "threads": "each worker trains with one thread (one worker per core)",
    "seed": "trial seeds derive from [sweep] seed and the trial's index (seeds = K repeats)",
    "dataset": "the data are set once per sweep, in [data]",
    "data_dir": "the data are set once per sweep, in [data]",
    "no_download": "the data are set once per sweep, in [data]",
    "validation": "every trial is scored on one validation split, set in [data] validation",
    "eval_test_each_epoch": "trials are scored on validation; the test set is evaluated once, "
                            "at the end",
}


class OptionError(ValueError):
    """An option value that ``fastnn train`` refuses; the message is argparse's."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise OptionError(message)


@functools.lru_cache(maxsize=1)
def _train_parser():
    """fastnn train's parser, built by its own ``register``, raising instead of exiting."""
    from ..cli import train
    holder = _Parser(prog="fastnn")
    sub = holder.add_subparsers(parser_class=_Parser)
    train.register(sub)
    return sub.choices["train"]


def _actions():
    return [a for a in _train_parser()._actions
            if a.option_strings and a.dest not in ("help",) and a.dest != argparse.SUPPRESS]


def option_names():
    """{dest: "--option"} of every train option a sweep may set, in the parser's order."""
    return {a.dest: a.option_strings[-1] for a in _actions() if a.dest not in RESERVED}


def _flags():
    return {a.dest for a in _actions() if a.nargs == 0}


def to_argv(options):
    """``fastnn train`` arguments for {dest: value}: a list as comma-separated text
    (``hidden = [100, 100]`` -> ``--hidden 100,100``), a flag as present (true) or absent."""
    names, flags = option_names(), _flags()
    argv = []
    for key, value in options.items():
        opt = names[key]
        if key in flags:
            if value is True:
                argv.append(opt)
            elif value is not False:
                raise OptionError(f"{opt}: expected true or false, got {value!r}")
            continue
        if isinstance(value, (list, tuple)):
            text = ",".join(_text(v) for v in value)
        else:
            text = _text(value)
        argv += [opt, text]
    return argv


def _text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def parse_options(argv):
    """train's argparse Namespace for ``argv``, with fastnn train's defaults for what
    it leaves out (RUN_DEFAULTS). OptionError with argparse's message on a bad value."""
    from ..cli.train import RUN_DEFAULTS
    args = _train_parser().parse_args(list(argv))
    for key, value in RUN_DEFAULTS.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args
