"""Fused steps of any network and optimizer (kernels.train, fastnn.fused.Fused) against the
book's MultiLayerNet step in NumPy (tests/train_reference.py), across threads and kernels."""
import numba
import numpy as np
import pytest

import kernels.fused as KF
import kernels.graph as KG
import kernels.optimizers as KO
import kernels.train as KT
from fastnn.fused import Fused
from fastnn.threads import num_threads
from kernels.sparse import to_csr

from . import train_reference as TR

THREADS = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})
# Measured agreement (FASTNN_SHOW_AGREEMENT=1, normwise relative, after 3-4 steps, against the
# float64 NumPy reference and against the layer path): float64 at most 3.4e-15 (parameters) and
# 4.1e-16 (losses); float32 at most 5.5e-6 and 2.8e-7.  Tolerances: about 5-30x those.
TOL = {np.float64: (1e-13, 1e-14), np.float32: (3e-5, 3e-6)}


class FlatNet:
    """The smallest network the fused path accepts: the kernels.graph tables, theta and
    named views (the description's attributes), with He-like random weights."""

    def __init__(self, sizes, activation="relu", dtype=np.float64, seed=0, lam=0.0, scale=0.3):
        self.sizes = tuple(sizes)
        self.activation = activation
        self.dtype = np.dtype(dtype)
        self.weight_decay_lambda = lam
        self.ops, self.fops, P, _ = KG.mlp(sizes, activation)
        rng = np.random.default_rng(seed)
        self.theta = (scale * rng.standard_normal(P)).astype(dtype)
        self.params = {name: self.theta[o:o + int(np.prod(s))].reshape(s) for name, o, s in KG.param_layout(self.ops)}

    def check_params(self):
        pass

    def check_input(self, x, t):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        t = np.asarray(t)
        return x, (t.astype(self.dtype) if t.ndim == 2 else t.astype(np.intp))


class Opt:
    """An optimizer as the fused path sees one (fastnn.optimizers offers the same attributes)."""

    def __init__(self, name):
        self.kind = KO.NAMES[name]
        self.name = name
        self.t = 0
        self._flat = None

    def hyper(self):
        return np.array(TR.HYPER[self.name], dtype=np.float64)

    def flat_state(self, P, dtype):
        if self._flat is None:
            n = KO.STATES[self.kind]
            self._flat = tuple(np.zeros(P if i < n else 0, dtype) for i in range(2))
        return self._flat


def batches(rng, n_steps, N, D, C, zeros=0.6, dtype=np.float64):
    x = rng.random((n_steps * N, D))
    x[x < zeros] = 0.0
    return x.astype(dtype), rng.integers(0, C, n_steps * N)


def reference_steps(theta, sizes, activation, x, t, N, name, lam):
    """Steps of the NumPy reference in float64: (theta after, losses)."""
    th = theta.astype(np.float64)
    s1, s2 = np.zeros_like(th), np.zeros_like(th)
    losses = []
    for s in range(x.shape[0] // N):
        xb = x[s * N:(s + 1) * N].astype(np.float64)
        tb = t[s * N:(s + 1) * N]
        loss, g = TR.loss_and_gradient(th, sizes, activation, xb, tb.astype(np.float64) if tb.ndim == 2 else tb, lam)
        losses.append(loss)
        TR.update(name, np.array(TR.HYPER[name]), s + 1, th, g, s1, s2)
    return th, np.array(losses)


SIZES = {1: (23, 7), 2: (23, 9, 5), 3: (23, 11, 6, 4), 4: (30, 8, 7, 6, 5), 5: (30, 9, 8, 7, 6, 3)}


@pytest.mark.parametrize("name", list(KO.NAMES))
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_step_matches_reference(name, depth, dtype):
    """Every optimizer, depth 1..5, both activations (alternating), labels and one-hot
    targets (alternating), with weight decay: three fused steps == three reference steps."""
    sizes = SIZES[depth]
    activation = ("relu", "sigmoid")[depth % 2]
    lam = 0.0 if (depth + len(name)) % 3 == 0 else 0.03
    rng = np.random.default_rng(depth * 10 + len(name))
    N = 37                                      # not a multiple of the 4-row tile or of the chunks
    x, t = batches(rng, 3, N, sizes[0], sizes[-1], dtype=dtype)
    if depth % 2:
        t = np.eye(sizes[-1])[t]
    net = FlatNet(sizes, activation, dtype, seed=depth, lam=lam)
    want, want_losses = reference_steps(net.theta, sizes, activation, x, t, N, name, lam)
    opt = Opt(name)
    fused = Fused(net, opt)
    losses = [fused.step(x[s * N:(s + 1) * N], t[s * N:(s + 1) * N]) for s in range(3)]
    assert opt.t == 3
    tol_p, tol_l = TOL[dtype]
    TR.R.agree(net.theta, want, tol_p, f"{name} depth {depth} theta")
    TR.R.agree(losses, want_losses, tol_l, f"{name} depth {depth} losses")


@pytest.mark.parametrize("name", ["sgd", "adam", "momentum"])
@pytest.mark.parametrize("lam", [0.0, 0.05])
@pytest.mark.parametrize("sizes", [(50, 12, 9, 6), (50, 64, 64, 6)])
def test_bits_equal_on_any_thread_count_and_kernel(name, lam, sizes):
    """Serial kernel, parallel kernel on 1 and on 2 threads: the same bits (losses and theta).
    The wide net's 64x64 Affine is large enough for the parallel kernel to run its dense
    forward in two parts of the rows and its backward's two products at once."""
    assert (100 * sizes[1] * sizes[2] >= KT.DENSE_PARALLEL_MIN) == (sizes[1] == 64)
    rng = np.random.default_rng(1)
    x, t = batches(rng, 4, 100, sizes[0], sizes[-1], zeros=0.5)
    results = []
    for threads in THREADS:
        for parallel in (False, True):
            net = FlatNet(sizes, "relu", np.float64, seed=5, lam=lam)
            f = Fused(net, Opt(name), parallel=parallel)
            with num_threads(threads):
                data = f.prepare(x, t)
                losses = f.run(data, np.arange(400), 0, 4, 100).copy()
            results.append((net.theta.copy(), losses))
    for theta, losses in results[1:]:
        np.testing.assert_array_equal(theta, results[0][0])
        np.testing.assert_array_equal(losses, results[0][1])


def test_run_equals_steps_and_optimizer_continues():
    """run over row numbers == step on the same batches; a second Fused on the same
    optimizer continues its state and step count (Adam's t)."""
    sizes = (40, 10, 6)
    rng = np.random.default_rng(2)
    x, t = batches(rng, 6, 50, 40, 6)
    order = rng.permutation(300)
    a, b = FlatNet(sizes, seed=1), FlatNet(sizes, seed=1)
    oa, ob = Opt("adam"), Opt("adam")
    fa = Fused(a, oa)
    la = list(fa.run(fa.prepare(x, t), order, 0, 3, 50))
    la += list(Fused(a, oa).run(fa.prepare(x, t), order, 150, 3, 50))
    fb = Fused(b, ob)
    lb = [fb.step(x[order[i * 50:(i + 1) * 50]], t[order[i * 50:(i + 1) * 50]]) for i in range(6)]
    assert oa.t == ob.t == 6
    np.testing.assert_allclose(la, lb, rtol=1e-13)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_generic_kernel_equals_two_layer_kernel(dtype):
    """784-50-10 ReLU, plain SGD: kernels.train gives the weights kernels.fused gives
    (measured 1e-15 in float64, 3e-7 in float32)."""
    from fastnn.datasets import load_mnist
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
    x, t = np.ascontiguousarray(x[:1000].astype(dtype)), t[:1000].astype(np.intp)
    csr = to_csr(x)
    ops, _, P, width = KG.mlp((784, 50, 10), "relu")
    rng = np.random.default_rng(0)
    theta = (0.05 * rng.standard_normal(P)).astype(dtype)
    theta[784 * 50:784 * 50 + 50] = 0.01
    old = [theta[o:o + int(np.prod(s))].reshape(s).copy() for _, o, s in KG.param_layout(ops)]
    order = np.arange(1000, dtype=np.int64)
    l_old = KF.train_steps(csr, t, order, 0, 10, 100, *old, 0.1, KF.make_buffers(100, 784, 50, 10, dtype),
                           np.empty(10), activation="relu")
    empty = np.zeros(0, dtype)
    l_new = KT.train_steps(ops, csr, t, order, 0, 10, 100, theta, KO.SGD, np.array([0.1, 0, 0, 0.0]), 0,
                           empty, empty, 0.0, KT.make_buffers(ops, width, P, 100, dtype),
                           None, np.empty(10))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(l_new, l_old, rtol=rtol)
    np.testing.assert_allclose(theta, np.concatenate([a.ravel() for a in old]), rtol=rtol,
                               atol=1e-14 if dtype == np.float64 else 1e-7)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_evaluate_matches_reference(activation):
    sizes = (30, 12, 8, 5)
    rng = np.random.default_rng(3)
    x, t = batches(rng, 1, 1003, 30, 5)
    net = FlatNet(sizes, activation, seed=4, scale=0.6)
    f = Fused(net, Opt("sgd"))
    data = f.prepare(x, t)
    h = x
    layers = TR.unflatten(net.theta, sizes)
    for i, (W, b) in enumerate(layers):
        h = TR.R.affine_forward(h, W, b)
        if i < len(layers) - 1:
            h = TR.R.relu(h) if activation == "relu" else TR.R.sigmoid(h)
    want_acc = float(np.mean(np.argmax(h, axis=1) == t))
    want_loss = TR.R.cross_entropy_error(TR.R.softmax(h), t)
    for parallel in (False, True):
        f.parallel = parallel
        acc, loss = f.evaluate(data)
        assert acc == want_acc
        assert loss == pytest.approx(want_loss, rel=1e-13)
        assert f.evaluate(data, loss=False) == (acc, None)


def test_bad_networks_and_optimizers():
    with pytest.raises(TypeError, match="net: expected a network described by kernels.graph"):
        Fused(object(), Opt("sgd"))
    with pytest.raises(TypeError, match="optimizer: expected one of fastnn.optimizers"):
        Fused(FlatNet((5, 3)), object())
    net = FlatNet((5, 3))
    net.ops = net.ops.copy()
    net.ops[0, KG.KIND] = KG.RELU
    with pytest.raises(ValueError, match="net: the fused step needs an Affine first"):
        Fused(net, Opt("sgd")).step(np.zeros((2, 5)), [0, 1])
    net = FlatNet((5, 3), lam=-1.0)
    with pytest.raises(ValueError, match="weight_decay_lambda"):
        Fused(net, Opt("sgd")).step(np.zeros((2, 5)), [0, 1])


# -- against the layer path of fastnn.model and fastnn.optimizers --------------------------
@pytest.mark.parametrize("name", list(KO.NAMES))
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_step_equals_layer_path(name, depth):
    """MultiLayerNet with 1..5 hidden layers (a single Affine is covered against the
    reference above): Fused(net, opt).step == net.gradient + opt.update (with weight decay,
    both activations, float64 and float32 alternating), and a layer-path update and fused
    steps continue each other on one optimizer (its flat state and t)."""
    from fastnn import MultiLayerNet, optimizers
    dtype = (np.float64, np.float32)[depth % 2]
    activation = ("relu", "sigmoid")[(depth + len(name)) % 2]
    hidden = [9, 8, 7, 6, 5][:depth]
    lam = 0.02 if depth != 3 else 0.0

    def make():
        net = MultiLayerNet(31, hidden, 6, activation=activation, weight_init_std=0.3, weight_decay_lambda=lam,
                            dtype=dtype, seed=depth)
        return net, optimizers.make(name, lr=0.03)
    rng = np.random.default_rng(depth)
    x, t = batches(rng, 4, 40, 31, 6, dtype=dtype)
    if depth % 2:
        t = np.eye(6, dtype=dtype)[t]
    a, oa = make()
    b, ob = make()
    la, lb = [], []
    for s in range(4):
        xb, tb = x[s * 40:(s + 1) * 40], t[s * 40:(s + 1) * 40]
        la.append(a.loss(xb, tb))
        oa.update(a.params, a.gradient(xb, tb))
        if s == depth % 2:  # the first or the second step on the layer path: fused steps continue it
            lb.append(b.loss(xb, tb))
            ob.update(b.params, b.gradient(xb, tb))
        else:
            lb.append(Fused(b, ob).step(xb, tb))
    assert oa.t == ob.t == 4
    tol_p, tol_l = TOL[dtype]
    TR.R.agree(b.theta, a.theta, tol_p, f"{name} depth {depth} theta")
    TR.R.agree(lb, la, tol_l, f"{name} depth {depth} losses")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bits_equal_on_one_and_two_blas_threads(dtype):
    """The dense products run by BLAS (np.dot): one and two BLAS threads give the same bits,
    so fastnn.fused's choice of BLAS threads changes no result (OpenBLAS splits a product's
    rows and columns among threads, never the summed dimension)."""
    from fastnn.threads import _blas_pools
    pools = [p for p in _blas_pools() if p.get_num_threads()]
    if not pools:
        pytest.skip("no BLAS library under threadpoolctl")
    sizes = (80, 128, 128, 10)
    rng = np.random.default_rng(2)
    x, t = batches(rng, 3, 128, sizes[0], sizes[-1], zeros=0.5, dtype=dtype)
    csr, t = to_csr(x), t.astype(np.intp)
    ops, _, P, width = KG.mlp(sizes, "relu")
    results = []
    old = [p.get_num_threads() for p in pools]
    try:
        for n in (1, 2):
            for p in pools:
                p.set_num_threads(n)
            theta = (0.1 * np.random.default_rng(3).standard_normal(P)).astype(dtype)
            s1, s2 = np.zeros(P, dtype), np.zeros(P, dtype)
            losses = np.empty(3)
            KT.train_steps(ops, csr, t, np.arange(384), 0, 3, 128, theta, KO.ADAM,
                           np.array(TR.HYPER["adam"], np.float64), 0, s1, s2, 0.0,
                           KT.make_buffers(ops, width, P, 128, dtype), None, losses, parallel=False)
            results.append((theta, losses))
    finally:
        for p, n in zip(pools, old):
            p.set_num_threads(n)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
