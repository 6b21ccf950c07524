"""The book's chapter-6 experiments, one call (or ``fastnn experiment NAME``) each.

    from fastnn.experiments import run
    result = run("optimizers", seeds=3, out="results")   # results/optimizers.png, .csv
    print(result.table)

Each experiment module holds the book's setting (network sizes, data sizes,
iterations, learning rates of its ch06 script), ``run_once(data, rng,
dtype)`` -> named curves ``{name: (x, y)}`` for one seed, ``draw(fig, runs)``
(the book's figure layout, the spread across seeds shaded) and
``summarise(runs)`` -> the summary table's columns and rows.
"""
import importlib
import os
import time
from typing import NamedTuple

import numpy as np

from .._checks import positive_int

#: Experiment names (the command line's) and their modules.
EXPERIMENTS = {"optimizers": "optimizers", "init": "init", "batchnorm": "batchnorm",
               "weight-decay": "weight_decay", "dropout": "dropout", "activations": "activations"}
NAMES = tuple(EXPERIMENTS)


class Result(NamedTuple):
    """name; runs: [(seed, {curve: (x, y)})]; table: the summary text; png, csv: the files
    written (None when not written); seconds: wall time of the runs; dataset: the data used."""

    name: str
    runs: list
    table: str
    png: str
    csv: str
    seconds: float
    dataset: str


def experiment(name):
    """The module of experiment ``name``; an unknown name lists the valid ones."""
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ValueError(f"name: expected one of {', '.join(NAMES)}, got {name!r}")
    return importlib.import_module(f"{__name__}.{EXPERIMENTS[name]}")


def load_data(dataset="mnist-sample", dtype=np.float32, verbose=False):
    """(Dataset) the images normalised to [0, 1] as (N, 784) ``dtype``, integer labels."""
    from ..datasets import load
    return load(dataset, normalize=True, flatten=True, one_hot_label=False, dtype=dtype, verbose=verbose)


def run(name, *, seeds=1, seed=0, out=None, dataset="mnist-sample", dtype=np.float32, data=None,
        progress=None):
    """Run experiment ``name`` for ``seeds`` seeds (seed, seed + 1, ...); write
    ``out/NAME.png`` and ``out/NAME.csv`` when ``out`` is a directory (None: write nothing).

    data: a loaded Dataset to use instead of loading ``dataset``; progress: a function
    given one line of text per stage (None: silent).  Returns a :class:`Result`.
    """
    mod = experiment(name)
    seeds = positive_int("seeds", seeds)
    seed = _seed(seed)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
    if out is not None:
        _make_dir(out)
    if mod.NEEDS_DATA and data is None:
        data = load_data(dataset, dtype)
    used = data.name if (mod.NEEDS_DATA and data is not None) else "none (random inputs)"
    runs = []
    t0 = time.perf_counter()
    for s in range(seed, seed + seeds):
        if progress:
            progress(f"{name}: seed {s}")
        runs.append((s, mod.run_once(data, np.random.default_rng(s), dtype, progress=progress)))
    seconds = time.perf_counter() - t0
    from ._common import table, write_csv
    columns, rows = mod.summarise(runs)
    text = table(columns, rows)
    png = csv = None
    if out is not None:
        csv = write_csv(os.path.join(out, f"{name}.csv"), runs, mod.X_NAME)
        png = _plot(mod, runs, os.path.join(out, f"{name}.png"), name, used, seeds)
    return Result(name, runs, text, png, csv, seconds, used)


def _seed(seed):
    from .._checks import nonnegative_int
    return nonnegative_int("seed", seed)


def _plot(mod, runs, path, name, dataset, seeds):
    from matplotlib.figure import Figure

    from ..plots import _save
    fig = Figure(figsize=(8, 6), layout=getattr(mod, "LAYOUT", "constrained"))
    mod.draw(fig, runs)
    spread = f", {seeds} seeds (mean, min-max shaded)" if seeds > 1 else ""
    fig.suptitle(f"{mod.TITLE}\n{dataset}{spread}", fontsize=10)
    return _save(fig, path)


def _make_dir(directory):
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"out: {directory} exists and is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise OSError(f"out: cannot create {directory} ({e.strerror or e})") from None
