"""The settings that define a run of ``fastnn train``: their defaults, the names the library
uses for them, and the argparse types of the run's own options. On --resume they come from
the checkpoint (see fastnn.cli.resume)."""
import argparse

from .netopts import NETWORK_DEFAULTS, OPTIMIZER_DEFAULTS
from .netopts import OPTION_NAMES as NETWORK_OPTION_NAMES

#: Settings that define a run, with their defaults. On --resume they come from the
#: checkpoint; giving one with another value is an error (--epochs and --iterations
#: then say how much longer to train).
RUN_DEFAULTS = {
    "dataset": "mnist", "data_dir": None, "grad": "backprop", "numerical_method": None,
    **NETWORK_DEFAULTS, **OPTIMIZER_DEFAULTS,
    "epochs": None, "iterations": None, "batch_size": 100, "dtype": "float32", "seed": None,
    "sampling": "shuffle",
    "validation": None, "early_stopping": None, "lr_schedule": None, "eval_test_each_epoch": False,
}
#: The options the first checkpoints recorded.
FIRST_OPTIONS = ("dataset", "data_dir", "grad", "numerical_method", "activation", "hidden",
                 "epochs", "iterations", "batch_size", "lr", "dtype", "seed", "sampling")
#: Options added since (any new one in RUN_DEFAULTS, e.g. of fastnn.cli.netopts): a
#: checkpoint without them recorded a run that did not use them, i.e. their defaults.
LATER_OPTIONS = tuple(k for k in RUN_DEFAULTS if k not in FIRST_OPTIONS)
#: Iterations when neither --epochs nor --iterations is given: about 5 s on two cores,
#: 0.90-0.91 test accuracy on the bundled sample. The book's run is --iterations 10000.
DEFAULT_ITERATIONS = 3000
#: Python argument names in the library's messages, and the options that set them.
OPTION_NAMES = {**NETWORK_OPTION_NAMES, "batch_size": "--batch-size", "threads": "--threads",
                "data_dir": "--data-dir", "iterations": "--iterations", "epochs": "--epochs",
                "seed": "--seed", "validation_split": "--validation",
                "early_stopping": "--early-stopping", "lr_schedule": "--lr-schedule"}
MAX_SEED = 2**64 - 1
#: fastnn.numerical.METHODS, named here so that building the parser imports no kernels.
NUMERICAL_METHODS = ("incremental", "cached", "full")


def trainer_seed(seed):
    """The Trainer's seed for a run of --seed ``seed`` (the network's is ``seed`` itself):
    it draws the validation split, then the batches."""
    return [seed, 1]


def parse_seed(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**64-1, got {text}")
    return v


def parse_fraction(text):
    from ..splits import check_fraction
    try:
        return check_fraction("fraction", float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 0.5] of the training set, "
                                         f"got {text!r}") from None


def parse_schedule_option(text):
    from ..schedules import parse_schedule
    try:
        return str(parse_schedule(text, "schedule"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("schedule: ")) from None
