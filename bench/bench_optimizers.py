"""The chapter-6 optimizers: one update of every parameter of a network.

Parameter sets of 784-50-10 (P = 39,760) and 784-100x4-10 (P = 109,810), float32 and
float64, one group per (optimizer, network, dtype):

- ``numpy``: the book's update, NumPy in place, per key (bench/book_reference.py);
- ``per-key``: ``fastnn.optimizers`` ``update(params, grads)`` on views of one buffer
  (one kernel call per parameter array), 1 thread;
- ``flat``: ``kernels.optimizers.apply`` over the whole buffer (the fused path's update),
  1 thread;
- ``flat-parallel``: a parallel twin of ``flat`` at 2 numba threads, one contiguous range
  of the buffer per thread through ``kernels.optimizers.apply_range``.  It is defined here,
  not in kernels/: measured slower than ``flat`` at these sizes on a shared 2-core machine
  (README, "Optimizers").
"""
import numba
import numpy as np
import pytest

from fastnn import optimizers as O
from kernels import optimizers as K

from . import book_reference as B
from . import cases

@numba.njit(parallel=True, cache=True)
def apply_parallel(kind, hp, t, theta, grad, s1, s2):
    """kernels.optimizers.apply split into one range per numba thread (multiples of 16
    elements, so that each range's vectorised loop keeps whole vectors)."""
    n = theta.size
    nt = numba.get_num_threads()
    chunk = ((n + nt - 1) // nt + 15) // 16 * 16
    for c in numba.prange(nt):
        i0 = min(n, c * chunk)
        i1 = min(n, i0 + chunk)
        if i0 < i1:
            K.apply_range(kind, hp, t, theta, grad, s1, s2, i0, i1)


NETS = {"784-50-10": (784, 50, 10), "784-100x4-10": (784, 100, 100, 100, 100, 10)}


def buffers(sizes, dtype, seed=0):
    """(theta, grad) (P,) and their named views W1 b1 ... laid out as a network's."""
    shapes = {}
    for i in range(len(sizes) - 1):
        shapes[f"W{i + 1}"] = (sizes[i], sizes[i + 1])
        shapes[f"b{i + 1}"] = (sizes[i + 1],)
    P = sum(int(np.prod(s)) for s in shapes.values())
    rng = np.random.default_rng(seed)
    theta = (0.1 * rng.standard_normal(P)).astype(dtype)
    grad = (0.01 * rng.standard_normal(P)).astype(dtype)

    def views(buf):
        out, off = {}, 0
        for k, s in shapes.items():
            n = int(np.prod(s))
            out[k] = buf[off:off + n].reshape(s)
            off += n
        return out
    return theta, grad, views(theta), views(grad)


def updater(impl, name, sizes, dtype):
    theta, grad, params, grads = buffers(sizes, dtype)
    if impl == "numpy":
        cls, settings = B.OPTIMIZERS[name]
        opt = cls(*settings)
        return lambda: opt.update(params, grads)
    opt = O.make(name)
    if impl == "per-key":
        return lambda: opt.update(params, grads)
    s1, s2 = opt.flat_state(theta.size, dtype)
    fn = K.apply if impl == "flat" else apply_parallel

    def step():
        opt.t += 1
        fn(opt.kind, opt.hyper(), opt.t, theta, grad, s1, s2)
    return step


@pytest.mark.parametrize("impl", ["numpy", "per-key", "flat", "flat-parallel"])
@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("net", list(NETS))
@pytest.mark.parametrize("name", list(K.NAMES))
def test_optimizer_update(benchmark, name, net, dtype, impl):
    benchmark.group = f"optimizer-{name}-{net}-{dtype}"
    n = 2 if impl == "flat-parallel" else 1
    with cases.threads(n):
        step = updater(impl, name, NETS[net], np.dtype(dtype))
        step()
        benchmark.extra_info.update(cases.environment())
        benchmark.extra_info.update(optimizer=name, net=net, impl=impl, dtype=dtype, threads=n)
        benchmark.pedantic(step, rounds=200, iterations=5, warmup_rounds=5)
