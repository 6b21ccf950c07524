"""Kernel micro-benchmarks at the shapes training uses, against NumPy.

Shapes: x (100, 784) @ W1 (784, 50), hidden (100, 50), scores (100, 10).
Also the serial and parallel twins of the elementwise kernels on large
arrays (to place fastnn.functions.PARALLEL_MIN_SIZE) and of the fused step
(to place kernels.fused.PARALLEL_MIN_BATCH).
"""
import numpy as np
import pytest

import kernels as K

from . import cases

N, D, H, C = 100, cases.INPUT, cases.HIDDEN, cases.OUTPUT


def _arrays(dtype):
    rng = np.random.default_rng(0)
    x, t = cases.batches(dtype, N, 1)[0]
    return dict(
        x=x, t=t, W1=(0.01 * rng.standard_normal((D, H))).astype(dtype), b1=np.zeros(H, dtype),
        a1=rng.standard_normal((N, H)).astype(dtype), a2=rng.standard_normal((N, C)).astype(dtype),
        d1=rng.standard_normal((N, H)).astype(dtype))


def _np_softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cases(dtype):
    a = _arrays(dtype)
    o1, dx, dW, db = np.empty((N, H), dtype), np.empty((N, D), dtype), np.empty((D, H), dtype), np.empty(H, dtype)
    flat, fout = a["a1"].reshape(-1), np.empty(N * H, dtype)
    y = np.empty((N, C), dtype)
    p = _np_softmax(a["a2"])
    return {
        "affine_forward": (lambda: K.affine_forward(a["x"], a["W1"], a["b1"], o1),
                           lambda: np.dot(a["x"], a["W1"]) + a["b1"]),
        "affine_backward": (lambda: K.affine_backward(a["x"], a["W1"], a["d1"], dx, dW, db),
                            lambda: (np.dot(a["d1"], a["W1"].T), np.dot(a["x"].T, a["d1"]), a["d1"].sum(axis=0))),
        "sigmoid": (lambda: K.sigmoid(flat, fout), lambda: 1 / (1 + np.exp(-flat))),
        "relu": (lambda: K.relu(flat, fout), lambda: np.maximum(flat, 0)),
        "softmax": (lambda: K.softmax(a["a2"], y), lambda: _np_softmax(a["a2"])),
        "cross_entropy": (lambda: K.cross_entropy_labels(p, a["t"]),
                          lambda: -np.sum(np.log(p[np.arange(N), a["t"]] + 1e-7)) / N),
    }


@pytest.mark.parametrize("impl", ["fastnn", "numpy"])
@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("kernel", ["affine_forward", "affine_backward", "sigmoid", "relu", "softmax",
                                    "cross_entropy"])
def test_kernel(benchmark, kernel, dtype, impl):
    benchmark.group = f"kernel-{kernel}-{dtype}"
    with cases.threads(1):
        fn = _cases(dtype)[kernel][0 if impl == "fastnn" else 1]
        benchmark.extra_info.update(cases.environment())
        benchmark.extra_info.update(kernel=kernel, impl=impl, dtype=dtype, batch=N, threads=1)
        benchmark.pedantic(fn, rounds=300, iterations=10, warmup_rounds=5)


@pytest.mark.parametrize("variant", ["serial", "parallel"])
@pytest.mark.parametrize("size", [1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22])
@pytest.mark.parametrize("kernel", ["sigmoid", "relu"])
def test_elementwise_twins(benchmark, kernel, size, variant):
    """Serial vs prange twin, float32, all threads: where does the parallel one start to pay?"""
    benchmark.group = f"twins-{kernel}-{size}"
    fn = getattr(K, kernel if variant == "serial" else f"{kernel}_parallel")
    x = np.random.default_rng(0).standard_normal(size).astype(np.float32)
    out = np.empty_like(x)
    with cases.threads(2):
        fn(x, out)
        benchmark.extra_info.update(cases.environment())
        benchmark.extra_info.update(kernel=kernel, variant=variant, size=size, dtype="float32", threads=2)
        benchmark.pedantic(fn, args=(x, out), rounds=max(20, (1 << 24) // size), iterations=1, warmup_rounds=3)


@pytest.mark.parametrize("variant", ["serial", "parallel"])
@pytest.mark.parametrize("batch", [10, 32, 64, 100, 1000])
def test_fused_twins(benchmark, batch, variant):
    """Fused step, serial vs parallel kernel at 2 threads, float32: where does parallel pay?"""
    benchmark.group = f"fused-twins-b{batch}"
    with cases.threads(2):
        from fastnn import TwoLayerNet
        from fastnn.fused import FusedSGD
        opt = FusedSGD(TwoLayerNet(D, H, C, dtype=np.float32, seed=0), cases.LR, parallel=variant == "parallel")
        take = cases._cycle(cases.batches(np.float32, batch))

        def step():
            x, t = take()
            return opt.step(x, t)
        step()
        benchmark.extra_info.update(cases.environment())
        benchmark.extra_info.update(variant=variant, batch=batch, dtype="float32", threads=2)
        benchmark.pedantic(step, rounds=max(30, 6000 // batch), iterations=1, warmup_rounds=3)
    benchmark.extra_info["samples_per_s"] = batch / benchmark.stats.stats.median
