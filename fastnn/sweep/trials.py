"""A sweep's trials: the grid, the random draws and the seeds, numbered deterministically.

Configurations are the grid's points (axes in the spec's order, the last one
varying fastest), each repeated for ``trials`` random draws when there are
random axes. Each configuration runs ``seeds`` times. Trial ``i`` is
configuration ``i // seeds``, repeat ``i % seeds``; its training seed and the
values drawn for configuration ``c`` come from the sweep's seed and these
numbers alone, so a trial is the same whichever worker runs it, in any order,
and a re-run of the sweep gives the same table.
"""
import itertools
import math
from dataclasses import dataclass

import numpy as np

from .options import OptionError, parse_options, to_argv

__all__ = ["Trial", "expand", "trial_seed", "draw_values"]


@dataclass(frozen=True)
class Trial:
    """index: position in the sweep; config, repeat: see the module docstring;
    seed: the run's --seed; values: {axis: value}; argv: fastnn train's arguments."""
    index: int
    config: int
    repeat: int
    seed: int
    values: dict
    argv: tuple


def trial_seed(sweep_seed, index):
    """The --seed of trial ``index``: 32 bits from SeedSequence([sweep_seed, 1, index])."""
    return int(np.random.SeedSequence([sweep_seed, 1, index]).generate_state(1)[0])


def draw_values(axes, sweep_seed, config):
    """{name: value} of the random ``axes`` for configuration ``config``, from
    default_rng([sweep_seed, 0, config]) in the axes' order."""
    rng = np.random.default_rng([sweep_seed, 0, config])
    out = {}
    for a in axes:
        if a.kind == "log_uniform":      # the book: 10 ** np.random.uniform(-6, -2)
            out[a.name] = float(10 ** rng.uniform(math.log10(a.values[0]), math.log10(a.values[1])))
        elif a.kind == "uniform":
            out[a.name] = float(rng.uniform(a.values[0], a.values[1]))
        else:
            out[a.name] = a.values[int(rng.integers(len(a.values)))]
    return out


def expand(spec):
    """Every Trial of ``spec``, in index order; each one's arguments checked by fastnn
    train's parser (OptionError naming the axis, its value and what was expected)."""
    grid = spec.grid_axes
    points = list(itertools.product(*(a.values for a in grid)))
    draws = spec.trials or 1
    trials = []
    config = 0
    for point in points:
        for _ in range(draws):
            values = dict(zip((a.name for a in grid), point))
            values.update(draw_values(spec.random_axes, spec.seed, config))
            values = {a.name: values[a.name] for a in spec.axes}    # the spec's order
            for repeat in range(spec.seeds):
                index = len(trials)
                seed = trial_seed(spec.seed, index)
                argv = to_argv({**spec.train, **values}) + ["--seed", str(seed)]
                trials.append(Trial(index, config, repeat, seed, values, tuple(argv)))
            config += 1
    _check(spec, trials)
    return trials


def _check(spec, trials):
    """Parse each distinct set of arguments once, as fastnn train would, and check what
    fastnn train checks before it reads data."""
    from ..cli.netopts import check_optimizer_args, optimizer_class
    from .trial import check_buildable
    seen = set()
    for t in trials:
        key = t.argv[:-2]
        if key in seen:
            continue
        seen.add(key)
        try:
            args = parse_options(t.argv)
            check_buildable(args)
            check_optimizer_args(args)
            optimizer_class(args.optimizer)
        except (OptionError, ValueError) as e:
            where = ", ".join(f"{k} = {list(v) if isinstance(v, tuple) else v!r}"
                              for k, v in t.values.items())
            raise OptionError(f"{spec.path}: trial {t.index} ({where or 'the [train] options'}): "
                              f"{e}") from None
