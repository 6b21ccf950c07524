"""``fastnn bench``: the training-throughput matrix of bench/run.py (``--grad``: bench/grad.py,
``--deep``: bench/deep.py).

The benchmarks live in the source tree's bench/ folder (next to the
``fastnn`` package), which an installed wheel does not carry.
"""
import importlib
import importlib.util
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
BENCH = BENCH_DIR / "run.py"


def _runner():
    """bench.run from the source checkout (imported as the package ``bench``)."""
    if not BENCH.is_file():
        raise OSError(f"fastnn bench needs the source checkout's bench/ folder; {BENCH} not found "
                      "(clone the repository and install it with pip install -e .)")
    if "bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "bench", BENCH_DIR / "__init__.py", submodule_search_locations=[str(BENCH_DIR)])
        pkg = importlib.util.module_from_spec(spec)
        sys.modules["bench"] = pkg
        spec.loader.exec_module(pkg)
    return importlib.import_module("bench.run")


def register(sub):
    p = sub.add_parser("bench", help="time a training step: NumPy reference, fastnn layers, fused, PyTorch",
                       description="Time one training step of each implementation over a matrix "
                                   "of batch sizes, dtypes and thread counts; print medians and "
                                   "ratios to the NumPy reference and write JSON and a chart "
                                   "(needs the source checkout's bench/ folder).")
    if BENCH.is_file():
        _runner().add_arguments(p)
    p.add_argument("--grad", action="store_true",
                   help="instead: time one gradient numerically (the book's loop, fastnn full and "
                        "incremental) and by backprop (NumPy, fastnn), with each one's agreement "
                        "with backprop (bench/grad.py)")
    p.add_argument("--deep", action="store_true",
                   help="instead: 784-100x4-10 Adam against lean NumPy and PyTorch, every optimizer "
                        "against SGD on 784-50-10, fused kernels (bench/deep.py), each case in a "
                        "process of its own, on the largest of --threads; 9 rounds (--quick: 3); "
                        "with --under-load: one core kept busy by a spinning process meanwhile "
                        "(python -m bench.deep --threads best: each case at 1 and 2 threads)")
    p.set_defaults(func=_dispatch)


def _dispatch(args):
    if args.grad:
        return _grad(args)
    if args.deep:
        return _deep(args)
    return _runner().run(args)


def _deep(args):
    _runner()      # imports the source checkout's bench package
    threads = max(args.threads) if getattr(args, "threads", None) else 1
    rounds = 3 if getattr(args, "quick", False) else 9
    argv = ["--threads", str(threads), "--rounds", str(rounds)]
    if getattr(args, "under_load", False):
        argv.append("--load")
    return importlib.import_module("bench.deep").main(argv)


def _grad(args):
    _runner()      # imports the source checkout's bench package
    return importlib.import_module("bench.grad").run(args)
