"""``fastnn gradcheck``: backprop against the numerical gradient on real MNIST digits."""
import argparse

import numpy as np

from .netopts import (add_network_options, add_optimizer_options, network_from_args,
                      optimizer_from_args)
from .runopts import NUMERICAL_METHODS


def _int_in(lo, hi=None):
    """An argparse type: an integer in [lo, hi] (no upper bound when hi is None)."""
    def parse(v):
        try:
            n = int(v)
        except ValueError:
            n = None
        if n is None or n < lo or (hi is not None and n > hi):
            want = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
            raise argparse.ArgumentTypeError(f"expected {want}, got {v!r}")
        return n
    return parse


_batch = _int_in(3, 100)


def _tolerance(v):
    try:
        f = float(v)
    except ValueError:
        f = None
    if f is None or not 0 <= f < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {v!r}")
    return f


def register(sub):
    p = sub.add_parser("gradcheck", help="compare backprop with the numerical gradient on MNIST digits",
                       description="Compute the gradient of a network's loss on a few digits by "
                                   "backpropagation and by central differences (the book's "
                                   "numerical_gradient), print the largest differences per "
                                   "parameter, and exit 1 if one exceeds --tol. The network "
                                   "options are those of `fastnn train` (default: the book's "
                                   "gradient check, TwoLayerNet(784, 50, 10) with ReLU).")
    p.add_argument("--batch", type=_batch, default=3, help="number of digits, 3..100 (default 3)")
    add_network_options(p, {"activation": "relu"})
    add_optimizer_options(p)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="arithmetic (default float64: central differences need its precision)")
    p.add_argument("--method", choices=NUMERICAL_METHODS,
                   help="numerical-gradient strategy (default: the fastest that applies, "
                        "incremental for the two-layer net, full with --dropout or --batchnorm "
                        "(their training loss: batch statistics, the dropout masks of the "
                        "checked gradient held fixed), else cached)")
    p.add_argument("--steps", type=_int_in(0), default=0,
                   help="backprop steps of the optimizer (default SGD lr 0.1; batch 100 or the "
                        "whole training set if smaller) before the check, to check trained weights")
    p.add_argument("--seed", type=_int_in(0), default=0, help="seed of the weights and of the batch draw")
    p.add_argument("--tol", type=_tolerance, default=None,
                   help="fail (exit 1) if a max abs difference to backprop exceeds this "
                        "(default 1e-6 for float64, 1e-3 for float32)")
    p.add_argument("--dataset", choices=("mnist", "mnist-sample", "fashion-mnist"), default="mnist",
                   help="data set (default mnist: cached or downloadable MNIST, else the bundled sample)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="directory holding the four IDX files")
    p.add_argument("--no-download", action="store_true", help="never use the network")
    p.set_defaults(func=run)


def run(args):
    from . import option_error
    from .netopts import OPTION_NAMES
    try:
        return _run(args)
    except (ValueError, TypeError) as e:
        err = option_error(e, OPTION_NAMES)
        if err is e:
            raise
        raise err from None


def _run(args):
    from ..datasets import load
    from ..gradcheck import format_report, gradient_check

    optimizer = optimizer_from_args(args)       # bad settings stop before the data are read
    dtype = np.dtype(args.dtype)
    data = load(args.dataset, data_dir=args.data_dir, dtype=dtype,
                download=False if args.no_download else None)
    (x_train, t_train) = data.train
    n = x_train.shape[0]
    if n < args.batch:
        raise ValueError(f"--batch {args.batch}: the training set of {data.source} has only {n} images")
    tol = args.tol if args.tol is not None else (1e-6 if dtype == np.float64 else 1e-3)
    rng = np.random.default_rng(args.seed)
    net = network_from_args(args, x_train.shape[1], len(data.classes), dtype=dtype, rng=rng)
    for _ in range(args.steps):
        idx = rng.choice(n, min(100, n), replace=False)
        optimizer.update(net.params, net.gradient(x_train[idx], t_train[idx]))
    idx = rng.choice(n, args.batch, replace=False)
    x, t = x_train[idx], t_train[idx]
    if args.method is None:
        from ..numerical import default_method
        args.method = default_method(net)
    steps = f"{args.steps} training steps" + (f" ({type(optimizer).__name__})" if args.steps else "")
    extra = "".join([", batch norm" if getattr(net, "use_batchnorm", False) else "",
                     f", dropout {net.dropout_ratio:g}" if getattr(net, "use_dropout", False) else ""])
    print(f"gradcheck: {args.activation} net {'-'.join(map(str, net.sizes))}{extra} {dtype}, {args.batch} "
          f"digits of {data.name}, {steps}, numerical gradient by '{args.method}'")
    book = gradient_check(net, x, t, method=args.method)
    plain = gradient_check(net, x, t, method=args.method, delta=0.0)
    print(format_report(book, "numerical (loss with the book's delta = 1e-7) vs backprop:"))
    print(format_report(plain, "numerical (loss with delta = 0) vs backprop:"))
    worst = max(r["max_abs"] for r in book.values())
    if not worst <= tol:                   # NaN fails too
        print(f"FAIL: max abs difference {worst:.3e} exceeds --tol {tol:g}")
        return 1
    print(f"OK: max abs difference {worst:.3e} <= --tol {tol:g}")
    return 0
