"""Compiled numerical-gradient loops and TwoLayerNet.numerical_gradient's two strategies."""
import numba
import numpy as np
import pytest

import kernels as K
from fastnn import TwoLayerNet
from fastnn.threads import num_threads

from fastnn.datasets import load_mnist

from . import reference as R


def mnist(n, kind="train"):
    """First n digits of the bundled sample: (n, 784) float64 pixels / 255 and labels."""
    (x, t), (xt, tt) = load_mnist(dataset="mnist-sample", dtype=np.float64)
    return (x[:n], t[:n]) if kind == "train" else (xt[:n], tt[:n])


@numba.njit
def quartic(x, w, c):
    xf = x.reshape(-1)
    s = c
    for i in range(xf.size):
        s += w[i % w.size] * xf[i] ** 4 + np.sin(xf[i])
    return s


def test_parallel_equals_serial_bit_for_bit():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((37, 5))
    w = rng.uniform(size=7)
    before = x.copy()
    serial = K.numerical_gradient_serial(quartic, x, (w, 0.5), 1e-4, np.empty_like(x))
    for nt in (1, 2, 3):
        par = K.numerical_gradient_parallel(quartic, x, (w, 0.5), 1e-4, np.empty_like(x), nt)
        assert np.array_equal(par, serial)
    assert np.array_equal(x, before)
    wf = np.resize(w, x.size).reshape(x.shape)
    np.testing.assert_allclose(serial, 4 * wf * x ** 3 + np.cos(x), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# TwoLayerNet: full against the book's NumPy loop, incremental against full
# ---------------------------------------------------------------------------
def train(net, x, t, steps, lr=0.1, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.choice(x.shape[0], 100, replace=False)
        for k, g in net.gradient(x[idx], t[idx]).items():
            net.params[k] -= lr * g
    return net


def book_numerical_gradient(net, x, t, delta=1e-7):
    """The book's loop (tests/reference.py) on a copy of net's parameters."""
    params = {k: v.astype(np.float64).copy() for k, v in net.params.items()}
    return R.two_layer_numerical_gradient(params, x, t, net.activation, delta=delta)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_full_matches_book_loop_small_net(activation):
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(12, 20)) * (rng.uniform(size=(12, 20)) < 0.5)   # sparse, like pixels
    t = rng.integers(0, 4, size=12)
    net = TwoLayerNet(20, 8, 4, weight_init_std=0.5, activation=activation, seed=3)
    ours = net.numerical_gradient(x, t, "full")
    ref = book_numerical_gradient(net, x, np.eye(4)[t])
    # both central differences of float64 losses 2h apart: measured <= 1e-11 apart
    for k in ref:
        np.testing.assert_allclose(ours[k], ref[k], rtol=0, atol=3e-11, err_msg=k)
        assert np.abs(ref[k]).max() > 1e-4
    inc = net.numerical_gradient(x, t, "incremental")
    for k in ref:
        np.testing.assert_allclose(inc[k], ref[k], rtol=0, atol=3e-11, err_msg=k)


@pytest.fixture(scope="module")
def digits():
    return mnist(2000)


@pytest.mark.parametrize("activation, steps, batch", [("sigmoid", 0, 30), ("sigmoid", 300, 100),
                                                      ("relu", 0, 30), ("relu", 300, 60)])
def test_incremental_matches_full_on_mnist(digits, activation, steps, batch):
    x, t = digits
    net = train(TwoLayerNet(784, 50, 10, activation=activation, seed=4), x, t, steps)
    xb, tb = x[1000:1000 + batch], t[1000:1000 + batch]
    full = net.numerical_gradient(xb, tb, "full")
    inc = net.numerical_gradient(xb, tb, "incremental")
    bp = net.gradient(xb, tb)
    for k in full:
        # measured <= 1.2e-11 (the full strategy's rounding; the incremental one is within
        # 1e-15 of a long-double loop, see test_reference_values.py)
        np.testing.assert_allclose(inc[k], full[k], rtol=0, atol=3e-11, err_msg=k)
        np.testing.assert_allclose(inc[k], bp[k], rtol=0, atol=1e-5, err_msg=k)   # sanity: a gradient
        assert np.abs(full[k]).max() > 1e-5


def test_delta_zero_and_onehot_targets(digits):
    x, t = digits
    net = train(TwoLayerNet(784, 20, 10, activation="relu", seed=5), x, t, 100)
    xb, tb = x[:20], t[:20]
    for method in ("full", "incremental"):
        plain = net.numerical_gradient(xb, tb, method, delta=0.0)
        onehot = net.numerical_gradient(xb, np.eye(10)[tb], method, delta=0.0)
        for k in plain:
            assert np.array_equal(plain[k], onehot[k])
    full = net.numerical_gradient(xb, tb, "full", delta=0.0)
    bp = net.gradient(xb, tb)
    for k in full:
        np.testing.assert_allclose(plain[k], full[k], rtol=0, atol=3e-11, err_msg=k)  # measured 5e-12
        np.testing.assert_allclose(plain[k], bp[k], rtol=0, atol=1e-8, err_msg=k)  # no delta: h^2 error only


def test_relu_kink_and_large_inputs_fall_back_exactly():
    rng = np.random.default_rng(6)
    x = rng.uniform(size=(10, 30)) * (rng.uniform(size=(10, 30)) < 0.6)
    t = rng.integers(0, 5, size=10)
    net = TwoLayerNet(30, 12, 5, weight_init_std=0.3, activation="relu", seed=7)
    a1 = x @ net.params["W1"]
    net.params["b1"][:4] = -a1[0, :4] + np.array([3e-5, -2e-5, 0.0, 1e-9])   # sample 0 at the kink
    for scale in (1.0, 255.0):                                              # 255: shifts beyond the series
        full = net.numerical_gradient(x * scale, t, "full")
        inc = net.numerical_gradient(x * scale, t, "incremental")
        for k in full:
            np.testing.assert_allclose(inc[k], full[k], rtol=0, atol=1e-9 * scale, err_msg=k)
    sig = TwoLayerNet(30, 12, 5, weight_init_std=0.3, seed=8)
    full = sig.numerical_gradient(x * 255, t, "full")
    inc = sig.numerical_gradient(x * 255, t, "incremental")
    for k in full:
        np.testing.assert_allclose(inc[k], full[k], rtol=0, atol=1e-8, err_msg=k)


def test_float32_net(digits):
    x, t = digits
    net = TwoLayerNet(784, 20, 10, dtype=np.float32, seed=9)
    xb, tb = x[:20].astype(np.float32), t[:20]
    inc = net.numerical_gradient(xb, tb)
    bp = net.gradient(xb, tb)
    for k in inc:
        assert inc[k].dtype == np.float32
        np.testing.assert_allclose(inc[k], bp[k], rtol=0, atol=1e-5, err_msg=k)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="NUMBA_NUM_THREADS=1")
def test_threads_do_not_change_results(digits):
    x, t = digits
    net = TwoLayerNet(784, 10, 10, activation="relu", seed=10)
    xb, tb = x[:10], t[:10]
    with num_threads(1):
        one = {m: net.numerical_gradient(xb, tb, m) for m in ("full", "incremental")}
    with num_threads(2):
        two = {m: net.numerical_gradient(xb, tb, m) for m in ("full", "incremental")}
    for m in one:
        for k in one[m]:
            assert np.array_equal(one[m][k], two[m][k]), (m, k)


def test_bad_arguments():
    net = TwoLayerNet(4, 3, 2, seed=0)
    x = np.ones((2, 4))
    with pytest.raises(ValueError, match="method"):
        net.numerical_gradient(x, [0, 1], "fast")
    with pytest.raises(ValueError, match="soft targets"):
        net.numerical_gradient(x, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="h: the incremental"):
        net.numerical_gradient(x, [0, 1], h=0.1)
    with pytest.raises(ValueError, match="t: labels"):
        net.numerical_gradient(x, [0, 2])
