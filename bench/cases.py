"""What the benchmarks time, shared by the pytest-benchmark files and bench/run.py.

Every implementation is a factory ``make(dtype, batch, activation) -> step``
where ``step()`` runs training steps (forward, backward, SGD update) on the
next real MNIST batches of the bundled sample and returns the last loss: one
step per call, except "fused", which runs ``step.steps`` steps per compiled
call as the trainer does (see ``steps_per_call``).
Threads: ``threads(n)`` sets numba's thread count, the BLAS pools seen by
threadpoolctl (NumPy's and SciPy's OpenBLAS, the latter used by numba's
np.dot) and PyTorch's intra-op pool, and restores all of them afterwards.
"""
import contextlib
import importlib.util
import os
import platform
from pathlib import Path

import numba
import numpy as np

from fastnn.datasets import load_mnist

from . import book_reference

ROOT = Path(__file__).resolve().parent.parent
LR = 0.1
INPUT, HIDDEN, OUTPUT = 784, 50, 10
BATCHES = (1, 10, 100, 1000)
DTYPES = ("float32", "float64")
THREADS = (1, 2)
IMPLS = ("numpy", "layers", "fused", "fused1", "torch")
LABELS = {"numpy": "NumPy (book)", "layers": "fastnn layers", "fused": "fastnn fused",
          "fused1": "fused, 1 step/call", "torch": "PyTorch eager"}
#: Steps per compiled call on the "fused" path, as the trainer runs them (100, never
#: across an epoch of the 8000-sample training set).
TRAINER_STEPS_PER_CALL = 100

_MNIST = {}


def mnist(dtype):
    """Bundled training sample: images (8000, 784) pixels/255 in dtype, labels (8000,) intp."""
    dtype = np.dtype(dtype)
    if dtype not in _MNIST:
        (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
        _MNIST[dtype] = (x.astype(dtype), t.astype(np.intp))
    return _MNIST[dtype]


def batches(dtype, n, count=8):
    """``count`` consecutive contiguous MNIST batches of n samples (fewer if the sample runs out)."""
    x, t = mnist(dtype)
    count = max(1, min(count, x.shape[0] // n))
    return [(np.ascontiguousarray(x[i * n:(i + 1) * n]), t[i * n:(i + 1) * n].copy()) for i in range(count)]


def _cycle(items):
    state = [0]

    def take():
        i = state[0]
        state[0] = (i + 1) % len(items)
        return items[i]
    return take


def has_torch():
    return importlib.util.find_spec("torch") is not None


def _threadpoolctl():
    try:
        import threadpoolctl
        return threadpoolctl
    except ImportError:
        return None


def blas_threads():
    """{library: threads} of the BLAS pools loaded in this process (needs threadpoolctl)."""
    tpc = _threadpoolctl()
    if tpc is None:
        return "unknown (threadpoolctl not installed)"
    return {f"{p['internal_api']}:{Path(p['filepath']).name}": p["num_threads"]
            for p in tpc.threadpool_info() if p.get("user_api") == "blas"}


#: Which thread pool each implementation computes with.
POOLS = {"numpy": "blas", "layers": "blas", "fused": "numba", "fused1": "numba", "torch": "torch"}


@contextlib.contextmanager
def threads(n, impl=None):
    """Thread counts inside the block, restored after.

    impl None: numba, BLAS and torch pools all get n threads.  With an
    implementation name, only the pool it computes with gets n and the
    others 1, so that idle pools of other libraries do not spin on the
    cores it needs (OpenBLAS, OpenMP and numba workers busy-wait a while
    after each call; with several pools of 2 threads on 2 cores every
    library slows down by orders of magnitude).
    """
    def count(pool):
        return n if impl is None or POOLS[impl] == pool else 1
    old = numba.get_num_threads()
    stack = contextlib.ExitStack()
    torch_old = None
    try:
        numba.set_num_threads(min(count("numba"), numba.config.NUMBA_NUM_THREADS))
        tpc = _threadpoolctl()
        if tpc is not None:
            stack.enter_context(tpc.threadpool_limits(limits=count("blas"), user_api="blas"))
        if has_torch():
            import torch
            torch_old = torch.get_num_threads()
            torch.set_num_threads(count("torch"))
        yield n
    finally:
        stack.close()
        if torch_old is not None:
            import torch
            torch.set_num_threads(torch_old)
        numba.set_num_threads(old)


def environment():
    """Versions and machine facts recorded with every result."""
    info = {"numba": numba.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "cpus": os.cpu_count(), "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
            "machine": platform.machine(), "blas_threads": blas_threads()}
    if has_torch():
        import torch
        info["torch"] = torch.__version__
    return info


# -- the implementations ----------------------------------------------------

def make_numpy(dtype, n, activation="sigmoid"):
    net = book_reference.TwoLayerNet(INPUT, HIDDEN, OUTPUT, activation=activation, dtype=dtype, seed=0)
    take = _cycle(batches(dtype, n))

    def step():
        x, t = take()
        loss, grads = net.gradient(x, t)
        book_reference.sgd_update(net.params, grads, LR)
        return loss
    return step


def make_layers(dtype, n, activation="sigmoid"):
    from fastnn import SGD, TwoLayerNet
    net = TwoLayerNet(INPUT, HIDDEN, OUTPUT, activation=activation, dtype=dtype, seed=0)
    opt = SGD(LR)
    take = _cycle(batches(dtype, n))

    def step():
        x, t = take()
        grads = net.gradient(x, t)
        opt.update(net.params, grads)
        return net._last.loss
    return step


def make_fused(dtype, n, activation="sigmoid"):
    """The trainer's path: the whole training set compressed once, a shuffled epoch
    order, and each call running a block of steps (``step.steps`` of them)."""
    from fastnn import TwoLayerNet
    from fastnn.fused import FusedSGD
    net = TwoLayerNet(INPUT, HIDDEN, OUTPUT, activation=activation, dtype=dtype, seed=0)
    opt = FusedSGD(net, LR)
    x, t = mnist(dtype)
    data = opt.prepare(x, t)
    per_epoch = x.shape[0] // n
    k = max(1, min(TRAINER_STEPS_PER_CALL, per_epoch))
    order = np.random.default_rng(0).permutation(x.shape[0]).astype(np.int64)
    take = _cycle(list(range(0, (per_epoch - k + 1) * n, k * n)))

    def step():
        return opt.run(data, order, take(), k, n)[-1]
    step.steps = k
    return step


def make_fused1(dtype, n, activation="sigmoid"):
    """One fused step per call (``FusedSGD.run`` with nsteps=1), over the batches the
    NumPy reference cycles through: what a caller pays per step outside the trainer."""
    from fastnn import TwoLayerNet
    from fastnn.fused import FusedSGD
    net = TwoLayerNet(INPUT, HIDDEN, OUTPUT, activation=activation, dtype=dtype, seed=0)
    opt = FusedSGD(net, LR)
    bs = batches(dtype, n)
    data = opt.prepare(np.concatenate([x for x, _ in bs]), np.concatenate([t for _, t in bs]))
    order = np.arange(len(bs) * n, dtype=np.int64)
    take = _cycle(list(range(0, order.size, n)))

    def step():
        return opt.run(data, order, take(), 1, n)[0]
    return step


def make_torch(dtype, n, activation="sigmoid"):
    import torch
    from torch import nn
    tdtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(INPUT, HIDDEN), nn.Sigmoid() if activation == "sigmoid" else nn.ReLU(),
                          nn.Linear(HIDDEN, OUTPUT)).to(tdtype)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    take = _cycle([(torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))) for x, t in batches(dtype, n)])

    def step():
        x, t = take()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss
    return step


MAKERS = {"numpy": make_numpy, "layers": make_layers, "fused": make_fused, "fused1": make_fused1,
          "torch": make_torch}


def steps_per_call(step):
    """Training steps one call of a maker's ``step`` runs."""
    return getattr(step, "steps", 1)


def calls_per_round(step, n):
    """Calls of ``step`` per timed round: at least inner_steps(n) steps, at least one call."""
    return max(1, -(-inner_steps(n) // steps_per_call(step)))


def available(impl):
    return impl != "torch" or has_torch()


def inner_steps(n):
    """Steps per timed round, so that a round lasts long enough to time (>~1 ms)."""
    return max(1, 200 // n)


# -- the dense roofline -----------------------------------------------------

def roofline(dtype, n, repeats=200):
    """Dense samples/s bound for one step: BLAS time of the step's five products plus exp/log.

    Products, as the layer path does them: x@W1 (n,784,50), z1@W2 (n,50,10),
    z1.T@dy (50,n,10), dy@W2.T (n,10,50), x.T@dA1 (784,n,50); exp of n*50 (sigmoid)
    and n*10 (softmax), log of n.  Each is timed alone (median); the roofline
    ignores everything else the step does.
    """
    import time
    rng = np.random.default_rng(0)
    dt = np.dtype(dtype)
    x = rng.random((n, INPUT)).astype(dt)
    W1 = rng.random((INPUT, HIDDEN)).astype(dt)
    W2 = rng.random((HIDDEN, OUTPUT)).astype(dt)
    z1 = rng.random((n, HIDDEN)).astype(dt)
    dy = rng.random((n, OUTPUT)).astype(dt)
    o1, o2 = np.empty((n, HIDDEN), dt), np.empty((n, OUTPUT), dt)
    g1, g2 = np.empty((INPUT, HIDDEN), dt), np.empty((HIDDEN, OUTPUT), dt)
    e1, e2, e3 = np.empty(n * HIDDEN, dt), np.empty(n * OUTPUT, dt), np.empty(n, dt)
    a1, a2, a3 = z1.reshape(-1).copy(), dy.reshape(-1).copy(), dy[:, 0].copy()
    xT = x.T
    z1T = z1.T
    W2T = W2.T
    parts = {
        "dot": lambda: (np.dot(x, W1, o1), np.dot(z1, W2, o2), np.dot(z1T, dy, g2),
                        np.dot(dy, W2T, o1), np.dot(xT, z1, g1)),
        "exp_log": lambda: (np.exp(a1, e1), np.exp(a2, e2), np.log(a3, e3)),
    }
    out = {}
    for name, fn in parts.items():
        fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[name] = float(np.median(ts))
    flops = 2 * n * (2 * INPUT * HIDDEN + 3 * HIDDEN * OUTPUT)
    out["gflops"] = flops / out["dot"] / 1e9
    out["samples_per_s"] = n / (out["dot"] + out["exp_log"])
    return out
