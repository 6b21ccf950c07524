"""``fastnn bench``: the training-throughput matrix of bench/run.py.

The benchmarks live in the source tree's bench/ folder (next to the
``fastnn`` package), which an installed wheel does not carry.
"""
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _runner():
    if not BENCH.is_file():
        raise OSError(f"fastnn bench needs the source checkout's bench/ folder; {BENCH} not found "
                      "(clone the repository and install it with pip install -e .)")
    spec = importlib.util.spec_from_file_location("fastnn_bench_run", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def register(sub):
    p = sub.add_parser("bench", help="time a training step: NumPy reference, fastnn layers, fused, PyTorch")
    if BENCH.is_file():
        _runner().add_arguments(p)
    p.set_defaults(func=lambda args: _runner().run(args))
