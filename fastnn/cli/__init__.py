"""``fastnn`` command line: one subcommand per module named in COMMANDS; the other modules
of this package hold what the subcommands share (options, run folders, progress output).

Each subcommand module defines ``register(subparsers)``, which adds its
parser and sets ``func``; ``func(args)`` returns the exit status: 0, 2 for
bad input (one line on stderr), 128 + N when signal N ended the command;
``fastnn train`` adds 3 (diverged) and 4 (results not written).
"""
import argparse
import importlib
import math
import os
import re
import signal
import sys

from .._signals import exit_status, signal_name

#: Subcommand modules, in the order ``fastnn --help`` lists them.
COMMANDS = ("train", "evaluate", "predict", "experiment", "sweep", "demo", "gradcheck", "bench")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Train and benchmark the network of Deep Learning from Scratch on CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def positive(kind):
    """An argparse ``type`` for numbers of ``kind`` (int or float) that must be finite and > 0."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            name = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
        return v
    parse.__name__ = kind.__name__          # argparse names the type in its messages
    return parse


def option_error(exc, names):
    """``exc`` (ValueError/TypeError) as a ValueError naming the command-line option when its
    message starts with a Python argument name in ``names`` ({"batch_size": "--batch-size"});
    else ``exc`` itself. The library names its arguments, the command line its options."""
    text = str(exc)
    name = re.match(r"[a-z_]*", text).group()
    if name in names and text[len(name):len(name) + 1] in (":", " "):
        return ValueError(names[name] + text[len(name):])
    return exc


def main(argv=None):
    """Entry point of the ``fastnn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from ..threads import check_environment
        check_environment()      # thread variables above the cores: one clear message
        return args.func(args) or 0
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        print(f"fastnn {args.command}: error: not enough memory{f' ({exc})' if str(exc) else ''}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"fastnn {args.command}: interrupted by {signal_name(signum)}", file=sys.stderr)
        return exit_status(signum)


def entry():
    """The console script: ``main()``, then a prompt exit.

    Once a command has returned, every file it wrote is complete and closed
    (written atomically); what remains is the interpreter tearing down
    numba's and LLVM's objects, measured at about 0.4 s after a training run.
    The standard streams are flushed and the process ends with the command's
    status without that teardown.  Exceptions propagate as usual.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
