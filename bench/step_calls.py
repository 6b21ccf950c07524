"""One fused step per call, every optimizer against the two-layer SGD kernel, on a busy machine.

    python -m bench.step_calls [--threads 2] [--calls 2000] [--serial]

784-50-10 ReLU float32 batch 100 (He weights of bench.deep, the bundled MNIST sample): the
two-layer SGD kernels of ``kernels.fused`` and the kernels of ``kernels.train`` with every
optimizer, the parallel twins (``--serial``: the serial ones), each call one step on the next
batch of a shuffled epoch, BLAS at one thread.  Cases alternate in blocks of 10 calls; prints
the minimum, 10th percentile and median of the wall time per call in microseconds and the
10th percentile's ratio to the two-layer kernel's.  A parallel region ends when its last
thread does, so on a shared machine the median of a two-thread step follows the other
processes; the low percentiles approach a quiet machine's figure.  The parameter phase's
pieces are made once per case, as fastnn.fused does (``work_items``; for checkouts before
its groups, ``ITEMS_PER_THREAD`` per thread), so the same file times an older checkout.
"""
import argparse
import sys
import time

import numba
import numpy as np

import kernels.fused as KF
import kernels.graph as KG
import kernels.optimizers as KO
import kernels.train as KT
from kernels.sparse import to_csr

from . import cases
from .deep import BATCH, OPTIMIZERS, SMALL, he_weights


def _items(ops, parallel):
    n = numba.get_num_threads() if parallel else 1
    per_thread = getattr(KT, "ITEMS_PER_THREAD", None)      # the split before groups of items
    return KT.work_items(ops, per_thread * n if per_thread and parallel else n)


def make_cases(parallel, dtype="float32"):
    """({label: step(s)}, steps per epoch): ``step(s)`` runs step s of the epoch (rows
    ``order[s*BATCH:][:BATCH]``) and returns its loss."""
    dt = np.dtype(dtype)
    x, t = cases.mnist(dt)
    csr = to_csr(np.ascontiguousarray(x))
    order = np.random.default_rng(1).permutation(x.shape[0]).astype(np.int64)
    layers = he_weights(SMALL, dt)
    losses = np.empty(1)
    params = [p.copy() for wb in layers for p in wb]
    buf2 = KF.make_buffers(BATCH, *SMALL, dt)

    def two(s):
        KF.train_steps(csr, t, order, s * BATCH, 1, BATCH, *params, 0.1, buf2, losses, activation="relu",
                       parallel=parallel)
        return losses[0]
    out = {"two-layer SGD kernel": two}
    ops, _, P, width = KG.mlp(SMALL, "relu")
    items = _items(ops, parallel)
    for name, hp in OPTIMIZERS.items():
        theta = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in layers])
        s1, s2 = np.zeros(P, dt), np.zeros(P, dt)
        h = np.array([hp["lr"], hp.get("momentum", hp.get("beta1", 0.99 if name == "rmsprop" else 0.0)),
                      hp.get("beta2", 0.0), hp.get("eps", 1e-7)])
        buf = KT.make_buffers(ops, width, P, BATCH, dt)
        count = [0]

        def gen(s, theta=theta, s1=s1, s2=s2, h=h, buf=buf, count=count, kind=KO.NAMES[name]):
            KT.train_steps(ops, csr, t, order, s * BATCH, 1, BATCH, theta, kind, h, count[0], s1, s2, 0.0, buf,
                           items, losses, parallel=parallel)
            count[0] += 1
            return losses[0]
        out[f"kernels.train, {name}"] = gen
    return out, x.shape[0] // BATCH


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--serial", action="store_true", help="the serial kernels instead of the parallel twins")
    args = p.parse_args(argv)
    import os
    parallel = not args.serial
    with cases.threads(args.threads, "fused"):
        made, steps = make_cases(parallel)
        for step in made.values():
            step(0)
            step(1)
        res = {k: [] for k in made}
        for rep in range(args.calls // 10):
            for k, step in made.items():
                for i in range(10):
                    s = (rep * 10 + i) % steps
                    t0 = time.perf_counter()
                    step(s)
                    res[k].append((time.perf_counter() - t0) * 1e6)
    print(f"{'parallel' if parallel else 'serial'} kernels, {args.threads} threads, {args.calls} calls each; "
          f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    base = np.percentile(next(iter(res.values())), 10)
    print("| case | min us | p10 us | median us | p10 vs two-layer |\n|---|---|---|---|---|")
    for k, v in res.items():
        q = np.percentile(v, 10)
        print(f"| {k} | {np.min(v):.1f} | {q:.1f} | {np.median(v):.1f} | {base / q:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
