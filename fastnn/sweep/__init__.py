"""Hyperparameter searches and benchmark grids of ``fastnn train`` runs, on Dask distributed.

    from fastnn.sweep import load_spec, expand, run_sweep, run_trial
    spec = load_spec("examples/sweeps/book_search.toml")
    summary = run_sweep(spec, "sweeps/book", workers=2)

Modules: ``spec`` (the TOML file), ``options`` (fastnn train's options as sweep
settings), ``trials`` (the grid, random draws and seeds), ``trial`` (one run,
in-process), ``runner`` (Dask), ``results`` (the output folder), ``report``
(table, CSV, figures). The command is ``fastnn sweep`` (fastnn.cli.sweep).
"""
from .results import FolderError, SweepFolder, read_results
from .runner import SchedulerUnreachable, SweepInterrupted, run_sweep
from .spec import Spec, SpecError, load_spec, parse_spec
from .trial import run_trial
from .trials import Trial, expand

__all__ = ["FolderError", "SchedulerUnreachable", "Spec", "SpecError", "SweepFolder",
           "SweepInterrupted", "Trial", "expand", "load_spec", "parse_spec", "read_results",
           "run_sweep", "run_trial"]
