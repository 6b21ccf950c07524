"""The fused training step against the layer-by-layer path (gradient, then SGD)."""
import numba
import numpy as np
import pytest

import kernels.fused as KF
from fastnn import SGD, ShapeError, TwoLayerNet
from fastnn.fused import FusedSGD
from fastnn.threads import num_threads

from fastnn.datasets import load_mnist

TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-7)}
LR = 0.1
THREADS = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})


@pytest.fixture(scope="module")
def mnist():
    (x, t), _ = load_mnist(dataset="mnist-sample", dtype=np.float64)
    return x, t


def nets(dtype, activation, seed=3, hidden=50):
    a = TwoLayerNet(784, hidden, 10, 0.1, activation=activation, dtype=dtype, seed=seed)
    b = TwoLayerNet(784, hidden, 10, 0.1, activation=activation, dtype=dtype, seed=seed)
    return a, b


def layer_step(net, x, t):
    loss = net.loss(x, t)
    SGD(LR).update(net.params, net.gradient(x, t))
    return loss


def assert_same(ref, got, dtype, steps_loss):
    tol = TOL[dtype]
    for k in ref.params:
        np.testing.assert_allclose(got.params[k], ref.params[k], err_msg=k, **tol)
    for la, lb in steps_loss:
        assert lb == pytest.approx(la, rel=tol["rtol"] * 10)


def random_batch(rng, n, dtype, zeros=0.8):
    x = rng.random((n, 784))
    x[x < zeros] = 0.0
    return x.astype(dtype), rng.integers(0, 10, n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("parallel", [False, True])
def test_mnist_matches_layers(mnist, dtype, activation, threads, parallel):
    images, labels = mnist
    images = images.astype(dtype)
    ref, net = nets(dtype, activation)
    opt = FusedSGD(net, LR, parallel=parallel)
    losses = []
    start = 0
    with num_threads(threads):
        for n in (1, 7, 100, 33):  # 7 and 33: not divisible by the thread count
            x, t = images[start:start + n], labels[start:start + n]
            start += n
            losses.append((layer_step(ref, x, t), opt.step(x, t)))
    assert_same(ref, net, dtype, losses)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_random_dense_and_sparse(dtype, activation):
    rng = np.random.default_rng(7)
    ref, net = nets(dtype, activation, seed=11, hidden=13)
    opt = FusedSGD(net, LR)
    losses = []
    for n, zeros in ((5, 0.0), (64, 0.5), (1, 0.9), (130, 0.8)):
        x, t = random_batch(rng, n, dtype, zeros)
        losses.append((layer_step(ref, x, t), opt.step(x, t)))
    assert_same(ref, net, dtype, losses)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_hot_and_soft_targets(mnist, dtype):
    images, labels = mnist
    x = images[200:264].astype(dtype)
    ref, net = nets(dtype, "sigmoid")
    opt = FusedSGD(net, LR)
    onehot = np.eye(10)[labels[200:264]]
    soft = 0.9 * onehot + 0.01
    losses = [(layer_step(ref, x, onehot), opt.step(x, onehot)),
              (layer_step(ref, x, soft), opt.step(x, soft))]
    assert_same(ref, net, dtype, losses)


def test_train_step_hook_matches_fused(mnist):
    images, labels = mnist
    x, t = images[:50], labels[:50]
    a, b = nets(np.float64, "relu")
    la = a.train_step(x, t, LR)
    lb = FusedSGD(b, LR).step(x, t)
    assert la == lb
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_standalone_kernel_serial_equals_parallel(mnist):
    images, labels = mnist
    x, t = images[:97], labels[:97]
    rng = np.random.default_rng(0)
    p = [0.1 * rng.standard_normal((784, 20)), np.zeros(20), 0.1 * rng.standard_normal((20, 10)), np.zeros(10)]
    q = [a.copy() for a in p]
    l1 = KF.train_step(x, t, *p, LR, KF.make_buffers(97, 784, 20, 10, np.float64, 1), parallel=False)
    l2 = KF.train_step(x, t, *q, LR, KF.make_buffers(97, 784, 20, 10, np.float64, 3), parallel=True)
    assert l2 == pytest.approx(l1, rel=1e-13)
    for a, b in zip(p, q):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_buffers_reused_and_training_lowers_loss(mnist):
    images, labels = mnist
    net = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)
    opt = FusedSGD(net, 0.5)
    x, t = images[:100].astype(np.float32), labels[:100]
    first = opt.step(x, t)
    buf = opt.buffers(100)
    for _ in range(30):
        last = opt.step(x, t)
    assert opt.buffers(100) is buf
    assert last < first


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("batch", [1, 7, 100, 257])
def test_step_same_bits_serial_parallel_and_run(mnist, activation, batch):
    """step() compresses the batch inside the kernel: the serial kernel, the parallel one on
    every thread count, and run() over the rows compressed beforehand give the same bits."""
    images, labels = mnist
    x, t = images[:3 * batch].astype(np.float32), labels[:3 * batch]
    results = []
    for n, parallel, how in [(1, False, "step"), (1, False, "run")] + [
            (n, True, "step") for n in range(1, numba.config.NUMBA_NUM_THREADS + 1)]:
        net = TwoLayerNet(784, 20, 10, activation=activation, dtype=np.float32, seed=1)
        opt = FusedSGD(net, 0.1, parallel=parallel)
        with num_threads(n):
            if how == "run":
                losses = list(opt.run(opt.prepare(x, t), np.arange(x.shape[0]), 0, 3, batch))
            else:
                losses = [opt.step(x[s:s + batch], t[s:s + batch]) for s in range(0, 3 * batch, batch)]
        results.append((net.params, losses))
    for params, losses in results[1:]:
        for k in params:
            assert np.array_equal(params[k], results[0][0][k]), k
        assert losses == results[0][1]


def test_non_finite_input_rejected_without_update():
    net = TwoLayerNet(784, 10, 10, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    x = np.zeros((4, 784))
    x[2, 5] = np.nan
    with pytest.raises(ValueError, match="x: expected finite"):
        FusedSGD(net, 0.1).step(x, [0, 1, 2, 3])
    x[2, 5] = np.inf
    with pytest.raises(ValueError, match="x: expected finite"):
        FusedSGD(net, 0.1, parallel=True).step(x, [0, 1, 2, 3])
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parallel", [False, True])
def test_non_finite_found_by_the_step_kernel(mnist, dtype, parallel):
    """The two-layer step looks for NaN and inf itself, among the non-zeros of each chunk: one
    bad pixel in any chunk of a batch of 100 (first, middle, last row) raises the check's error
    and leaves parameters, step count and the next step's result as they were."""
    images, labels = mnist
    x, t = images[:100].astype(dtype), labels[:100]
    ref = TwoLayerNet(784, 20, 10, dtype=dtype, seed=2)
    FusedSGD(ref, 0.1, parallel=parallel).step(x, t)
    for row, value in ((0, np.nan), (57, np.inf), (99, -np.inf)):
        net = TwoLayerNet(784, 20, 10, dtype=dtype, seed=2)
        opt = FusedSGD(net, 0.1, parallel=parallel)
        before = {k: v.copy() for k, v in net.params.items()}
        bad = x.copy()
        bad[row, 400] = value
        with num_threads(THREADS[-1]), pytest.raises(ValueError, match="x: expected finite"):
            opt.step(bad, t)
        for k in before:
            np.testing.assert_array_equal(net.params[k], before[k])
        assert opt.optimizer.t == 0
        opt.step(x, t)
        for k in before:
            np.testing.assert_array_equal(net.params[k], ref.params[k])


def test_bad_arguments():
    net = TwoLayerNet(784, 10, 10, dtype=np.float32, seed=0)
    opt = FusedSGD(net, 0.1)
    with pytest.raises(TypeError, match=r"x: expected \(N, 784\) float32, got \(2, 784\) int64"):
        opt.step(np.zeros((2, 784), np.int64), [0, 1])
    with pytest.raises(ShapeError, match="x: expected"):
        opt.step(np.zeros((2, 28, 28), np.float32), [0, 1])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        opt.step(np.zeros((2, 784), np.float32), [0, 10])
    with pytest.raises(ShapeError, match="t: expected"):
        opt.step(np.zeros((2, 784), np.float32), [0, 1, 2])
    with pytest.raises(ValueError, match="lr"):
        FusedSGD(net, -1.0)


# -- compressed data: to_csr, run over row numbers, evaluate -------------------

def test_to_csr_round_trip(rng, dtype):
    from kernels.sparse import to_csr

    x = rng.standard_normal((13, 29)).astype(dtype)
    x[rng.random(x.shape) < 0.7] = 0
    x[3] = 0                                            # an all-zero row
    c = to_csr(x)
    dense = np.zeros_like(x)
    for n in range(x.shape[0]):
        cols = c.indices[c.indptr[n]:c.indptr[n + 1]]
        assert np.all(np.diff(cols) > 0)
        dense[n, cols] = c.values[c.indptr[n]:c.indptr[n + 1]]
    np.testing.assert_array_equal(dense, x)
    assert c.indptr[-1] == np.count_nonzero(x) and c.values.dtype == dtype
    x[5, 2] = np.nan
    with pytest.raises(ValueError, match="x: expected finite values, got NaN or inf in 1 of 13 rows"):
        to_csr(x)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("threads", THREADS)
def test_run_over_row_numbers_matches_steps(mnist, activation, threads):
    x, t = mnist
    x, t = x[:700], t[:700]
    order = np.random.default_rng(4).permutation(700)
    a, b = nets(np.float64, activation)
    with num_threads(threads):
        fa, fb = FusedSGD(a, LR), FusedSGD(b, LR)
        losses = fa.run(fa.prepare(x, t), order, 0, 7, 100).copy()
        expect = [fb.step(x[order[i * 100:(i + 1) * 100]], t[order[i * 100:(i + 1) * 100]]) for i in range(7)]
    np.testing.assert_allclose(losses, expect, rtol=1e-12)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], **TOL[np.float64])


def test_run_checks_its_range(mnist):
    x, t = mnist
    opt = FusedSGD(TwoLayerNet(784, 5, 10, seed=0), LR)
    data = opt.prepare(x[:50], t[:50])
    with pytest.raises(ValueError, match="leave order of size 50"):
        opt.run(data, np.arange(50), 0, 3, 30)          # the third batch would start at row 60
    assert opt.run(data, np.arange(50), 0, 2, 30).shape == (2,)     # 30 + a last batch of 20


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_evaluate_matches_dense_forward(mnist, dtype, activation):
    from fastnn.trainer import evaluate

    x, t = mnist
    x = x[:1500].astype(dtype)
    t = t[:1500]
    net = TwoLayerNet(784, 50, 10, 0.1, activation=activation, dtype=dtype, seed=2)
    opt = FusedSGD(net, LR)
    data = opt.prepare(x, t)
    for _ in range(2):                                  # at init and after some training
        acc, loss = opt.evaluate(data)
        ref_acc, ref_loss = evaluate(net, x, t)
        assert acc == ref_acc
        assert loss == pytest.approx(ref_loss, rel=1e-5 if dtype == np.float32 else 1e-12)
        assert opt.evaluate(data, loss=False) == (acc, None)
        opt.run(data, np.arange(1500), 0, 15, 100)


def test_dense_step_parallel_from_its_measured_batch():
    """FusedSGD.step on a two-layer net consults the adaptive choice from
    fastnn.threads.DENSE_STEP_MIN_BATCH on (serial below it, where a parallel region was
    measured not to pay); with one numba thread it is always serial."""
    from fastnn.threads import DENSE_STEP_MIN_BATCH

    opt = FusedSGD(TwoLayerNet(784, 10, 10, dtype=np.float32, seed=0), 0.1)
    with num_threads(THREADS[-1]):
        below = opt._use_parallel(1, DENSE_STEP_MIN_BATCH - 1, opt._adaptive, DENSE_STEP_MIN_BATCH)
        at = opt._use_parallel(2, DENSE_STEP_MIN_BATCH, opt._adaptive, DENSE_STEP_MIN_BATCH)
    assert below == (False, False, False)
    assert at[2] == (THREADS[-1] > 1)
    with num_threads(1):
        assert opt._use_parallel(3, 100, opt._adaptive, DENSE_STEP_MIN_BATCH) == (False, False, False)
