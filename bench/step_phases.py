"""Where ``FusedSGD.step`` on a dense batch spends its time: each phase of the two-layer kernel.

    python -m bench.step_phases [--calls 2000] [--dtype float32] [--batch 100]

784-50-10 (ReLU, then sigmoid), a batch of the bundled MNIST sample, numba at its thread
count: the phases of ``kernels.fused.step_dense_serial`` called alone (compressing the
batch, with and without the W1 ranges' cuts of the parallel twin; forward and backward of
every sample; the W1 update; the merge and update of W2, b1, b2), the whole serial and
parallel kernels, ``FusedSGD.step`` forced serial and parallel (the difference to the
kernel is the Python side: checks, buffers, dispatch), and the Python-side pieces alone.
Each phase is one compiled call repeated on the same batch with a learning rate of 1e-9
(the weights barely move).  Prints the minimum and the median in microseconds: on a shared
machine the minimum is the steadier figure.
"""
import argparse
import os
import sys
import time

import numba
import numpy as np
from numba import njit

import kernels.fused as KF


@njit
def _compress(x, P, lo, hi, cuts, indices, values):
    N = x.shape[0]
    T = KF.chunks(N)
    for t in range(T):
        KF._compress_rows(x, t * N // T, (t + 1) * N // T, P, lo, hi, cuts, indices, values)


@njit
def _samples(rows, N, lo, hi, indices, values, labels, tdense, W1, b1, w2t, b2, relu, z1, dy, da1, gW2, gb1,
             gb2, gloss, hint):
    T = KF.chunks(N)
    for t in range(T):
        KF._samples(rows, t * N // T, (t + 1) * N // T, t, N, lo, hi, indices, values, labels, tdense, W1, b1,
                    w2t, b2, relu, z1, dy, da1, gW2, gb1, gb2, gloss, hint)


def phases(activation, dtype, batch):
    """{phase: callable} for FusedSGD on a 784-50-10 net of this activation."""
    from fastnn import TwoLayerNet
    from fastnn.datasets import load_mnist
    from fastnn.fused import FusedSGD

    (x, t), _ = load_mnist(dataset="mnist-sample", verbose=False)
    x = np.ascontiguousarray(x[:batch], dtype=dtype)
    t = t[:batch].astype(np.intp)

    def make(parallel):
        return FusedSGD(TwoLayerNet(784, 50, 10, activation=activation, dtype=dtype, seed=0), 1e-9,
                        parallel=parallel)
    serial, par = make(False), make(True)
    serial.step(x, t)
    par.step(x, t)
    args = serial._dense_args(batch, 784, activation)
    (relu, rows, lo, hi, cuts, indices, values, bad, z1, dy, da1, w2t, gW2, gb1, gb2, gloss, gw1, hint,
     tdense, _) = args
    W1, b1, W2, b2 = (a.copy() for a in serial._two_params())
    lr = np.dtype(dtype).type(1e-9)
    threads = numba.get_num_threads()
    plan = serial._model()
    s = (rows, batch, lo, hi, indices, values, t, tdense, W1, b1, w2t, b2, relu, z1, dy, da1, gW2, gb1, gb2,
         gloss, hint)
    return {
        "compress (serial kernel's)": lambda: _compress(x, 0, lo, hi, cuts, indices, values),
        f"compress with {threads} W1 ranges (parallel kernel's)":
            lambda: _compress(x, threads, lo, hi, cuts, indices, values),
        "forward + backward, every sample": lambda: _samples(*s),
        "W1 update": lambda: KF._update_w1(rows, batch, 0, 784, lo, hi, indices, values, da1, W1, gw1, lr, hint),
        "W2, b1, b2 merge and update":
            lambda: KF._update_small(KF.chunks(batch), W2, b1, b2, gW2, gb1, gb2, gloss, lr, batch),
        "step_dense_serial (whole kernel)":
            lambda: KF.step_dense_serial(x, t, tdense, W1, b1, W2, b2, 1e-9, 1, *args[:-2]),
        f"step_dense_parallel, {threads} threads":
            lambda: KF.step_dense_parallel(x, t, tdense, W1, b1, W2, b2, 1e-9, threads, *args[:-2]),
        "FusedSGD.step, serial": lambda: serial.step(x, t),
        f"FusedSGD.step, parallel ({threads} threads)": lambda: par.step(x, t),
        "  Python: checks of x and t": lambda: serial._checked(x, t, finite=False),
        "  Python: net and optimizer": lambda: (serial._model(), serial._optimizer(plan)),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args(argv)
    print(f"{numba.get_num_threads()} numba threads, {args.calls} calls per phase, {args.dtype}, "
          f"batch {args.batch}; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for activation in ("relu", "sigmoid"):
        print(f"\n784-50-10 {activation}\n| phase | min us | median us |\n|---|---|---|")
        for name, f in phases(activation, np.dtype(args.dtype), args.batch).items():
            f()
            ts = np.empty(args.calls)
            for i in range(args.calls):
                t0 = time.perf_counter()
                f()
                ts[i] = time.perf_counter() - t0
            print(f"| {name} | {1e6 * ts.min():.1f} | {1e6 * np.median(ts):.1f} |")


if __name__ == "__main__":
    sys.exit(main())
