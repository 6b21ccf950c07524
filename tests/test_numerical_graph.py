"""numerical_gradient of networks of any depth: cached and full against the book's loop,
against backprop and against the two-layer incremental method; threads; bad input."""
import os

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import MultiLayerNet, TwoLayerNet
from fastnn.model import Network
from fastnn.numerical import default_method, numerical_gradient
from fastnn.threads import num_threads
from kernels import graph as G

from . import reference as R
from .test_numgrad_kernels import mnist


def make_net(sizes, activation="relu", lam=0.0, *, seed=0, scale="relu", dtype=np.float64):
    """MultiLayerNet of widths sizes, biases drawn as 0.1 * N(0, 1) so that a dropped bias shows."""
    rng = np.random.default_rng(seed + 1)
    if len(sizes) == 2:                       # no hidden layer: the base class, weights drawn here
        net = Network(sizes, activation, dtype=dtype, weight_decay_lambda=lam)
        net.params["W1"][...] = rng.standard_normal(net.params["W1"].shape)
    else:
        net = MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], activation, weight_init_std=scale,
                            weight_decay_lambda=lam, dtype=dtype, seed=seed)
    for k, p in net.params.items():
        if k[0] == "b":
            p[...] = 0.1 * rng.standard_normal(p.shape)
    return net


def sparse_inputs(rng, n, d):
    """Pixels in [0, 1), about half of them 0 (MNIST's are about 80 % 0)."""
    return rng.uniform(size=(n, d)) * (rng.uniform(size=(n, d)) < 0.5)


def book_loop(net, x, t):
    """The book's numerical_gradient(lambda W: net.loss(x, t), W) over every parameter
    (tests/reference.py's loop; the views perturbed in place, restored after)."""
    return {k: R.numerical_gradient(lambda: net.loss(x, t), p) for k, p in net.params.items()}


def max_diff(a, b):
    """max |a - b| over every parameter (printed with FASTNN_SHOW_AGREEMENT=1 and -s)."""
    d = max(float(np.max(np.abs(np.asarray(a[k], np.float64) - b[k]))) for k in b)
    if os.environ.get("FASTNN_SHOW_AGREEMENT"):
        print(f"\n  max |diff| {d:.2e}")
    return d


#: widths by the number of hidden layers
SIZES = {0: [14, 5], 1: [14, 8, 5], 2: [14, 8, 7, 5], 3: [14, 7, 6, 6, 4], 4: [14, 7, 6, 5, 6, 4]}


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_cached_and_full_match_the_book_loop(depth, activation, lam):
    rng = np.random.default_rng(depth)
    net = make_net(SIZES[depth], activation, lam, seed=depth, scale=0.8)
    x = sparse_inputs(rng, 9, SIZES[depth][0])
    t = rng.integers(0, SIZES[depth][-1], size=9)
    ref = book_loop(net, x, t)
    assert list(ref) == list(net.params)
    for method in ("cached", "full"):
        ours = numerical_gradient(net, x, t, method)
        assert list(ours) == list(net.params)
        # central differences of float64 losses 2h apart: measured <= 1.8e-11 (the book loop's
        # rounding of the whole-batch loss, about 1e-16 * L / 2e-4)
        assert max_diff(ours, ref) < 5e-11, method
    assert min(np.abs(v).max() for v in ref.values()) > 1e-3   # every parameter has a gradient


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4])
def test_cached_matches_backprop(activation, depth):
    rng = np.random.default_rng(10 + depth)
    net = make_net(SIZES[depth], activation, 0.05, seed=depth)
    x = sparse_inputs(rng, 12, SIZES[depth][0])
    t = rng.integers(0, SIZES[depth][-1], size=12)
    num = numerical_gradient(net, x, t, "cached", delta=0.0)
    bp = net.gradient(x, t)
    # without the book's delta only the central difference's error remains: measured
    # 1.1e-10 - 2.6e-10, and 1.7e-9 for the 3-hidden-layer ReLU net
    assert max_diff(num, bp) < 5e-9
    book = numerical_gradient(net, x, t, "cached")          # with delta = 1e-7: measured 1.4e-7 - 6.8e-7
    assert 3e-8 < max_diff(book, bp) < 1e-6


def test_default_is_the_fastest_that_applies():
    assert default_method(TwoLayerNet(4, 3, 2, seed=0)) == "incremental"
    assert default_method(make_net([4, 3, 2])) == "incremental"
    assert default_method(make_net([4, 3, 3, 2])) == "cached"
    assert default_method(make_net([4, 2])) == "cached"
    rng = np.random.default_rng(0)
    x = sparse_inputs(rng, 5, 4)
    t = rng.integers(0, 2, size=5)
    for sizes, method in (([4, 3, 2], "incremental"), ([4, 3, 3, 2], "cached")):
        net = make_net(sizes, "sigmoid", 0.1)
        picked = net.numerical_gradient(x, t)
        named = numerical_gradient(net, x, t, method)
        assert all(np.array_equal(picked[k], named[k]) for k in named)


@pytest.fixture(scope="module")
def digits():
    return mnist(400)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_cached_matches_incremental_on_two_layer_nets(digits, activation):
    x, t = digits
    xb, tb = x[:40], t[:40]
    net = TwoLayerNet(784, 30, 10, weight_init_std=0.1, activation=activation, seed=3)
    inc = numerical_gradient(net, xb, tb, "incremental")
    cached = numerical_gradient(net, xb, tb, "cached")
    full = numerical_gradient(net, xb, tb, "full")
    # measured: cached - incremental <= 5.5e-13, full (the two-layer kernel) - incremental <= 1.2e-11
    assert max_diff(cached, inc) < 3e-12
    assert max_diff(full, inc) < 3e-11
    # a stand-in with the same parameters and weight decay: incremental + decay == cached
    s = make_net([784, 30, 10], activation, 0.2)
    for k in net.params:
        s.params[k][...] = net.params[k]
    inc = numerical_gradient(s, xb, tb, "incremental")
    cached = numerical_gradient(s, xb, tb, "cached")
    full = numerical_gradient(s, xb, tb, "full")               # the generic kernel, decay inside
    assert max_diff(cached, inc) < 3e-12
    # the decay sum (about 24 here) rounded in each of the full method's losses: 4e-11 measured
    assert max_diff(full, inc) < 1e-10
    assert max_diff(cached, numerical_gradient(net, xb, tb, "cached")) > 1e-3   # decay shows


def test_deep_relu_net_on_digits_against_full(digits):
    x, t = digits
    net = make_net([784, 24, 16, 12, 10], "relu", 0.01, seed=5)
    xb, tb = x[100:130], t[100:130]
    cached = numerical_gradient(net, xb, tb)
    full = numerical_gradient(net, xb, tb, "full")
    assert max_diff(cached, full) < 3e-11                    # measured 1.1e-11
    assert max_diff(cached, net.gradient(xb, tb)) < 1e-5     # the book's delta: measured 1.3e-6


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_kinks_and_large_inputs(activation):
    """ReLU inputs at or next to 0 in a later layer (the perturbation crosses the kink there,
    so the logits are not linear in it), and inputs of 255 (shifts of 0.0255)."""
    rng = np.random.default_rng(7)
    net = make_net([20, 9, 8, 5], activation, 0.0, seed=7, scale=0.6)
    x = sparse_inputs(rng, 8, 20)
    t = rng.integers(0, 5, size=8)
    p = net.params
    a1 = R.affine_forward(x, p["W1"], p["b1"])
    p["b1"][:3] += np.array([3e-5, -2e-5, 0.0]) - a1[0, :3]                   # first layer at the kink
    z1 = (R.relu if activation == "relu" else R.sigmoid)(R.affine_forward(x, p["W1"], p["b1"]))
    a2 = R.affine_forward(z1, p["W2"], p["b2"])
    p["b2"][:4] += np.array([1e-6, -4e-6, 0.0, 2e-5]) - a2[1, :4]             # second layer too
    assert np.abs(R.affine_forward(z1, p["W2"], p["b2"])[1, :4]).max() < 3e-5
    for scale in (1.0, 255.0):
        with np.errstate(over="ignore"):                  # exp(-a) of large a in the book's sigmoid
            ref = book_loop(net, x * scale, t)
        for method in ("cached", "full"):
            # measured <= 2e-11; taking the logits as linear across the second layer's kinks
            # (KINK_MARGIN = 0) was 6e-2 off
            assert max_diff(numerical_gradient(net, x * scale, t, method), ref) < 5e-11, method


def test_float32_net(digits):
    x, t = digits
    net = make_net([784, 20, 12, 10], "relu", 0.01, dtype=np.float32, seed=9)
    xb, tb = x[:20].astype(np.float32), t[:20]
    num = numerical_gradient(net, xb, tb)
    net64 = make_net([784, 20, 12, 10], "relu", 0.01, seed=9)
    net64.theta[...] = net.theta
    ref = numerical_gradient(net64, xb.astype(np.float64), tb)
    for k in num:
        assert num[k].dtype == np.float32
        # computed in float64 from the exactly converted parameters, then rounded
        np.testing.assert_array_equal(num[k], ref[k].astype(np.float32), err_msg=k)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="NUMBA_NUM_THREADS=1")
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_threads_do_not_change_results(digits, activation):
    x, t = digits
    net = make_net([784, 16, 12, 10], activation, 0.01, seed=10)
    xb, tb = x[:64], t[:64]                                  # N * P above PARALLEL_MIN_WORK
    runs = {}
    for nt in (1, 2):
        with num_threads(nt):
            runs[nt] = {m: numerical_gradient(net, xb, tb, m) for m in ("cached", "full")}
    for m in runs[1]:
        for k in runs[1][m]:
            assert np.array_equal(runs[1][m][k], runs[2][m][k]), (m, k)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.sampled_from(["relu", "sigmoid"]),
       st.integers(1, 6), st.integers(0, 2 ** 16))
def test_random_shapes(hidden, activation, n, seed):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 7))] + hidden + [int(rng.integers(2, 5))]
    net = make_net(sizes, activation, 0.1, seed=seed, scale=1.0)
    x = sparse_inputs(rng, n, sizes[0])
    t = rng.integers(0, sizes[-1], size=n)
    cached = numerical_gradient(net, x, t, "cached")
    full = numerical_gradient(net, x, t, "full")
    assert max_diff(cached, full) < 5e-11                   # measured <= 1e-11


def test_bad_arguments():
    net = make_net([4, 3, 3, 2])
    x = np.ones((2, 4))
    with pytest.raises(ValueError, match="method: expected one of"):
        numerical_gradient(net, x, np.array([0, 1]), "fast")
    with pytest.raises(ValueError, match="'incremental' is for two-layer nets.*3 Affine layers"):
        numerical_gradient(net, x, np.array([0, 1]), "incremental")
    with pytest.raises(ValueError, match="soft targets"):
        numerical_gradient(net, x, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="h: expected"):
        numerical_gradient(net, x, np.array([0, 1]), h=0.0)

    class WithConvolution:                                    # a kind the walkers do not know yet
        ops, _, P, _ = G.build([(G.AFFINE, 4, 3), (G.CONVOLUTION, 3, 3), (G.AFFINE, 3, 2),
                                (G.SOFTMAX_LOSS, 2, 2)])
        theta = np.zeros(P)
        weight_decay_lambda = 0.0

        def check_params(self):
            pass

    with pytest.raises(ValueError, match="operation 1 is Convolution; the numerical gradient supports Affine"):
        numerical_gradient(WithConvolution(), x, np.array([0, 1]))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_series_terms_at_the_largest_step(activation):
    """h = 1e-3, the largest shift the series take: their third- and fifth-order terms weigh
    h^2 and h^4 more than at 1e-4, so a wrong term shows against the full method."""
    rng = np.random.default_rng(12)
    net = make_net([16, 9, 8, 7, 5], activation, 0.0, seed=12, scale=0.9)
    x = sparse_inputs(rng, 10, 16)
    t = rng.integers(0, 5, size=10)
    cached = numerical_gradient(net, x, t, "cached", h=1e-3)
    full = numerical_gradient(net, x, t, "full", h=1e-3)
    # measured 1.3e-12 (relu), 5.9e-13 (sigmoid); dropping the sigmoid's third-order term
    # in the series through a layer was 7e-10 off
    assert max_diff(cached, full) < 5e-12
