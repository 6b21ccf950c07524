"""Where a fused step's time goes: each phase of ``kernels.train`` timed alone, one thread.

    python -m bench.phases [--calls 600] [--dtype float32]

For 784-100-100-100-100-10 and 784-50-10 ReLU (He weights of bench.deep), Adam, batch 100 of
the bundled MNIST sample: the first Affine's forward over the non-zeros, the dense forward,
softmax-with-loss, the dense backward, the parameter phase (and its first-Affine item alone)
and a whole step.  Each phase is one compiled call (the per-chunk loops inside a small
@njit wrapper, so Python's call overhead is paid once), repeated on the same batch; numba
and BLAS (NumPy's and SciPy's, which numba's np.dot calls) at one thread.  Then the sum of
the phases, the step as the trainer runs it (blocks of 80 steps over the shuffled sample, per
step) and, for the deep net, bench.deep's lean NumPy step over the same batches, each with the
same statistics.  Prints the minimum and the median in microseconds: on a shared machine the
minimum is the steadier figure.

bench.deep reports the mean over half-second windows (median of the rounds), which on a
quiet machine lies about 20 % above these minima for the fused step and NumPy's alike, so
the ratio between them is the same under either statistic.
"""
import argparse
import sys
import time

import numpy as np
from numba import njit

import kernels.graph as KG
import kernels.optimizers as KO
import kernels.train as KT
from kernels.sparse import to_csr

from . import cases
from .deep import ADAM, DEEP, SMALL, he_weights, make_numpy

#: Steps per block of the whole-step rows (an epoch of the sample, as bench.deep runs them).
BLOCK = 80


@njit
def _first(ops, rows, N, indptr, indices, values, theta, acts):
    T = KT.chunks(N)
    for c in range(T):
        KT.first_rows(ops, rows, KT.chunk_rows(c, T, N), KT.chunk_rows(c + 1, T, N), N, indptr, indices, values,
                      theta, acts)


@njit
def _loss(ops, rows, N, labels, tdense, theta, acts, dacts):
    T = KT.chunks(N)
    s = 0.0
    for c in range(T):
        s += KT.loss_rows(ops, rows, KT.chunk_rows(c, T, N), KT.chunk_rows(c + 1, T, N), N, labels, tdense, theta,
                          acts, dacts)
    return s


@njit
def _params(ops, items, n_items, rows, N, indptr, indices, values, theta, grad, wt, s1, s2, kind, hp, acts,
            dacts, xt, wdrow):
    for i in range(n_items):
        KT.params_item(ops, items[i, 0], items[i, 1], items[i, 2], items[i, 3], rows, N, indptr, indices, values,
                       theta, grad, wt, s1, s2, kind, hp, 1, 0.0, acts, dacts, xt, wdrow, False)


def phases(sizes, dtype, batch=100):
    """({phase: callable}, {whole step: (callable, steps per call)}) for one net trained by
    Adam (bench.deep's settings)."""
    dt = np.dtype(dtype)
    x, t = cases.mnist(dt)
    csr = to_csr(np.ascontiguousarray(x))
    ops, fops, P, width = KG.mlp(sizes, "relu")
    theta = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in he_weights(sizes, dt)])
    buf = KT.make_buffers(ops, width, P, batch, dt)
    order = np.random.default_rng(1).permutation(x.shape[0]).astype(np.int64)
    rows = order[:batch]
    s1, s2 = np.zeros(P, dt), np.zeros(P, dt)
    hp = np.array([ADAM["lr"], ADAM["beta1"], ADAM["beta2"], ADAM["eps"]])
    items = KT.work_items(ops, 1)
    tdense = np.empty((0, sizes[-1]), dt)
    state, mask = np.empty(0, dt), np.empty(0, np.bool_)
    losses = np.empty(BLOCK)
    a = (csr.indptr, csr.indices, csr.values)
    p = (rows, batch, *a, theta, buf.grad, buf.wt, s1, s2, KO.ADAM, hp, buf.acts, buf.dacts, buf.xt, buf.wdrow)
    step = (ops, csr, t, order, 0, 1, batch, theta, KO.ADAM, hp, 0, s1, s2, 0.0, buf, None, losses)
    block = (ops, csr, t, order, 0, min(BLOCK, x.shape[0] // batch), batch, theta, KO.ADAM, hp, 0, s1, s2, 0.0, buf,
             None, losses)
    KT.train_steps(*step, parallel=False)          # every buffer filled once
    parts = {
        "first Affine forward (non-zeros)": lambda: _first(ops, rows, batch, *a, theta, buf.acts),
        "dense forward (BLAS)": lambda: KT.dense_forward(ops, fops, batch, theta, state, mask, buf.acts),
        "softmax-with-loss": lambda: _loss(ops, rows, batch, t, tdense, theta, buf.acts, buf.dacts),
        "dense backward (BLAS)": lambda: KT.dense_backward(ops, batch, theta, buf.grad, state, mask, buf.acts,
                                                           buf.dacts),
        "parameters, every Affine": lambda: _params(ops, items, items.shape[0], *p),
        "  of which the first Affine": lambda: _params(ops, items, 1, *p),
        "whole step (serial kernel)": lambda: KT.train_steps(*step, parallel=False),
    }
    whole = {f"step in blocks of {block[5]} (serial kernel)": (lambda: KT.train_steps(*block, parallel=False), block[5])}
    if tuple(sizes) == DEEP:
        numpy_step = make_numpy(sizes, dtype, batch)
        whole["NumPy lean step (bench.deep)"] = (numpy_step, 1)
    return parts, whole


def timed(f, calls, per=1):
    """(min, median) microseconds per unit of ``calls`` calls of f (``per`` units a call)."""
    f()
    ts = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        f()
        ts[i] = time.perf_counter() - t0
    ts *= 1e6 / per
    return ts.min(), np.median(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=600)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args(argv)
    import os
    print(f"one thread, {args.calls} calls per phase, {args.dtype}, batch 100; load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    from fastnn.threads import blas_threads
    # blas_threads also reaches SciPy's OpenBLAS (numba's np.dot), which threadpoolctl misses
    # when it is loaded later
    with cases.threads(1), blas_threads(1):
        for sizes in (DEEP, SMALL):
            parts, whole = phases(sizes, args.dtype)
            print(f"\n{'-'.join(map(str, sizes))} ReLU, Adam\n| phase | min us | median us |\n|---|---|---|")
            total = np.zeros(2)
            for name, f in parts.items():
                lo, med = timed(f, args.calls)
                if not name.startswith(("  ", "whole")):
                    total += (lo, med)
                print(f"| {name} | {lo:.1f} | {med:.1f} |")
            print(f"| sum of the phases | {total[0]:.1f} | {total[1]:.1f} |")
            for name, (f, per) in whole.items():
                lo, med = timed(f, max(20, args.calls // per), per)
                print(f"| {name}, per step | {lo:.1f} | {med:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
