"""Numerical gradient of networks with batch normalization and dropout (method "full", the
training loss) against backprop (MultiLayerNetExtend.gradient): batch normalization's backward
checked against central differences, the masks rule, and what the numerical gradient leaves."""
import copy

import numba
import numpy as np
import pytest

from fastnn.extend import MultiLayerNetExtend
from fastnn.numerical import default_method, numerical_gradient
from fastnn.threads import num_threads

from . import reference as R

# Measured (FASTNN_SHOW_AGREEMENT=1, normwise relative over all parameters, float64, h = 1e-4,
# the 18 cases below): at most 7.6e-7 with sigmoid (the h^2 term of the central difference),
# 5.9e-6 with ReLU (a unit within reach of its kink).  Tolerances about 4-5x those.
TOL = {"relu": 3e-5, "sigmoid": 3e-6}


def make(act, bn=True, drop=False, lam=0.1, seed=1, dtype=np.float64, hidden=(6, 5, 4)):
    """The net with random b, gamma and beta too (b = 0 puts a sample whose units all
    dropped exactly on the next ReLU's kink, where central differences give half the slope)."""
    net = MultiLayerNetExtend(7, list(hidden), 3, act, use_batchnorm=bn, use_dropout=drop, dropout_ratio=0.3,
                              weight_decay_lambda=lam, seed=seed, weight_init_std=0.5, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for k, v in net.params.items():
        if k[0] != "W":
            v += rng.normal(0, 0.3, v.shape).astype(dtype)
    return net


def flat(g, net):
    return np.concatenate([np.ravel(g[k]) for k in net.params])


@pytest.mark.parametrize("act", ["relu", "sigmoid"])
@pytest.mark.parametrize("bn,drop", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_backprop_matches_full_numerical_gradient(act, bn, drop, depth):
    """gradient() (batch norm's backward by the book's formula, dropout's mask) == the
    numerical gradient of the training loss, with the masks drawn from the same rng state."""
    net = make(act, bn, drop, lam=0.1 if depth != 2 else 0.0, seed=depth, hidden=(6, 5, 4)[:depth])
    rng = np.random.default_rng(depth)
    x, t = rng.standard_normal((9, 7)), rng.integers(0, 3, 9)
    before = copy.deepcopy(net.rng.bit_generator.state)
    assert default_method(net) == "full"
    num = net.numerical_gradient(x, t)
    after = copy.deepcopy(net.rng.bit_generator.state)
    net.rng.bit_generator.state = before
    g = net.gradient(x, t)
    # the numerical gradient drew exactly what one training forward draws
    assert net.rng.bit_generator.state == after
    R.agree(flat(num, net), flat(g, net), TOL[act], f"{act} bn={bn} drop={drop} depth {depth}")


def test_the_check_can_fail():
    """Masks other than the gradient's, or a batch-norm backward without its mean terms, are
    told apart by the same tolerance."""
    net = make("sigmoid", True, True)
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((9, 7)), rng.integers(0, 3, 9)
    num = flat(net.numerical_gradient(x, t), net)
    g = flat(net.gradient(x, t), net)              # the next masks, not the numerical gradient's
    with pytest.raises(AssertionError):
        R.agree(num, g, TOL["sigmoid"])
    net = make("sigmoid", True, False)
    num = flat(net.numerical_gradient(x, t), net)
    import kernels.batchnorm as KB
    real = KB.batchnorm_backward

    def no_mean_terms(dout, xn, std, gamma, dx, dgamma, dbeta):
        real(dout, xn, std, gamma, dx, dgamma, dbeta)
        dx[...] = dout * (gamma / std)
        return dx
    import fastnn.regularization as FR
    old = FR.K.batchnorm_backward
    FR.K.batchnorm_backward = no_mean_terms
    try:
        wrong = flat(net.gradient(x, t), net)
    finally:
        FR.K.batchnorm_backward = old
    with pytest.raises(AssertionError):
        R.agree(num, wrong, TOL["sigmoid"])


def test_leaves_running_statistics_and_is_the_same_on_any_thread_count():
    net = make("relu", True, True)
    net.state[:] = np.random.default_rng(0).random(net.state.size)
    state = net.state.copy()
    theta = net.theta.copy()
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((40, 7)), rng.integers(0, 3, 40)
    results = []
    for n in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        s = copy.deepcopy(net.rng.bit_generator.state)
        with num_threads(n):
            results.append(flat(net.numerical_gradient(x, t), net))
        net.rng.bit_generator.state = s
    np.testing.assert_array_equal(net.state, state)
    np.testing.assert_array_equal(net.theta, theta)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_float32_net_is_differentiated_in_float64():
    """A float32 net's numerical gradient == that of its float64 twin (the parameters and the
    batch converted exactly), returned in float32."""
    a = make("sigmoid", True, False, dtype=np.float32)
    b = make("sigmoid", True, False, dtype=np.float64)
    b.theta[...] = a.theta
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((8, 7)).astype(np.float32), rng.integers(0, 3, 8)
    ga, gb = a.numerical_gradient(x, t), b.numerical_gradient(x.astype(np.float64), t)
    for k in ga:
        assert ga[k].dtype == np.float32
        np.testing.assert_array_equal(ga[k], gb[k].astype(np.float32))


@pytest.mark.parametrize("method", ["cached", "incremental"])
def test_other_methods_refused_by_name(method):
    net = make("relu", True, False, hidden=(4,))
    with pytest.raises(ValueError, match=f"method: '{method}' does not take dropout or batch normalization.*"
                                         "use 'full'"):
        numerical_gradient(net, np.zeros((3, 7)), np.array([0, 1, 2]), method)
