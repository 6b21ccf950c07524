"""``fastnn`` command line: one subcommand per module in this package.

Each subcommand module defines ``register(subparsers)``, which adds its
parser and sets ``func``; ``func(args)`` returns the exit status.
"""
import argparse
import importlib
import os
import sys

#: Subcommand modules, in the order ``fastnn --help`` lists them.
COMMANDS = ("train", "evaluate", "demo", "gradcheck", "bench")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Train and benchmark the network of Deep Learning from Scratch on CPU.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv=None):
    """Entry point of the ``fastnn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from ..threads import check_environment
        check_environment()      # thread variables above the cores: one clear message
        return args.func(args) or 0
    except (ValueError, TypeError, OSError) as exc:
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        return 130


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
