"""Seconds per full numerical gradient, batch 100, float64, real MNIST: TwoLayerNet 784-50-10
and MultiLayerNet 784-100-100-10 ReLU.

Run side by side in one process:
    .venv/bin/python -m pytest bench/bench_numgrad.py --benchmark-only \
        --benchmark-columns=min,median,max,rounds --benchmark-sort=name

The book's NumPy loop takes 10-16 s per gradient of the two-layer net, so it
runs 2 rounds; every case is called once before timing so that JIT
compilation never counts.  On the deeper net the book's loop takes minutes:
its per-parameter time is in ``python -m bench.grad``, which extrapolates it.
"""
import numba
import numpy as np
import pytest

from fastnn import MultiLayerNet, TwoLayerNet
from fastnn.datasets import load_mnist

from . import book_numerical as book

BATCH = 100


@pytest.fixture(scope="module")
def setup():
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
    net = TwoLayerNet(784, 50, 10, seed=0)
    rng = np.random.default_rng(1)
    idx = rng.choice(x.shape[0], BATCH, replace=False)
    return net, x[idx], t[idx]


def _info(benchmark, method):
    benchmark.extra_info.update(method=method, threads=numba.get_num_threads(), dtype="float64",
                                batch=BATCH, net="784-50-10 sigmoid", numba=numba.__version__)


def test_book_numpy_loop(benchmark, setup):
    net, x, t = setup
    ref = book.TwoLayerNet(784, 50, 10)
    ref.params = {k: v.copy() for k, v in net.params.items()}
    tt = np.eye(10)[t]
    benchmark.group = "numerical gradient 784-50-10 batch 100"
    _info(benchmark, "book")
    benchmark.pedantic(ref.numerical_gradient, args=(x, tt), rounds=2, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("method, rounds", [("full", 3), ("incremental", 50)])
def test_fastnn(benchmark, setup, method, rounds):
    net, x, t = setup
    benchmark.group = "numerical gradient 784-50-10 batch 100"
    _info(benchmark, method)
    benchmark.pedantic(net.numerical_gradient, args=(x, t, method), rounds=rounds, iterations=1,
                       warmup_rounds=1)


def test_backprop(benchmark, setup):
    net, x, t = setup
    benchmark.group = "numerical gradient 784-50-10 batch 100"
    _info(benchmark, "backprop")
    benchmark.pedantic(net.gradient, args=(x, t), rounds=200, iterations=1, warmup_rounds=5)


@pytest.fixture(scope="module")
def deep():
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
    net = MultiLayerNet(784, [100, 100], 10, "relu", weight_init_std="relu", seed=0)
    rng = np.random.default_rng(1)
    idx = rng.choice(x.shape[0], BATCH, replace=False)
    return net, x[idx], t[idx]


@pytest.mark.parametrize("method, rounds", [("cached", 10)])
def test_fastnn_deep(benchmark, deep, method, rounds):
    net, x, t = deep
    benchmark.group = "numerical gradient 784-100-100-10 relu batch 100"
    benchmark.extra_info.update(method=method, threads=numba.get_num_threads(), dtype="float64",
                                batch=BATCH, net="784-100-100-10 relu", numba=numba.__version__)
    benchmark.pedantic(net.numerical_gradient, args=(x, t, method), rounds=rounds, iterations=1,
                       warmup_rounds=1)
