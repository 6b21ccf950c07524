"""The chapter-4 experiment, end to end: SGD with the numerical gradient vs backprop.

10,000 iterations, batch 100 drawn at random (without replacement within a
batch), lr 0.1, TwoLayerNet 784-50-10 sigmoid, on the bundled 8000/2000
MNIST sample.  Both runs start from the same weights and see the same
batches.  Prints wall time of the training loop and the final accuracies.

    .venv/bin/python -m bench.chapter4 [--iters 10000] [--methods incremental,backprop]
"""
import argparse
import time

import numba
import numpy as np

from fastnn import TwoLayerNet
from fastnn.datasets import load_mnist


def run(method, iters=10000, batch_size=100, lr=0.1, seed=0):
    (x_train, t_train), (x_test, t_test) = load_mnist(dataset="mnist-sample", dtype=np.float64)
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(784, 50, 10, rng=rng)
    batches = np.random.default_rng(seed + 1)
    if method == "backprop":
        grad = net.gradient
    else:
        def grad(x, t):
            return net.numerical_gradient(x, t, method=method)
    grad(x_train[:batch_size], t_train[:batch_size])          # compile before the clock starts
    start = time.perf_counter()
    for _ in range(iters):
        idx = batches.choice(x_train.shape[0], batch_size, replace=False)
        g = grad(x_train[idx], t_train[idx])
        for k in ("W1", "b1", "W2", "b2"):
            net.params[k] -= lr * g[k]
    seconds = time.perf_counter() - start
    return {"method": method, "seconds": seconds, "train_acc": net.accuracy(x_train, t_train),
            "test_acc": net.accuracy(x_test, t_test), "loss": net.loss(x_train, t_train)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=10000)
    p.add_argument("--methods", default="incremental,backprop")
    args = p.parse_args(argv)
    print(f"threads={numba.get_num_threads()} numba={numba.__version__} iters={args.iters}")
    for m in args.methods.split(","):
        r = run(m, args.iters)
        print(f"{r['method']:12s} {r['seconds']:8.1f} s   train acc {r['train_acc']:.4f}   "
              f"test acc {r['test_acc']:.4f}   train loss {r['loss']:.4f}", flush=True)


if __name__ == "__main__":
    main()
