"""Layers against the reference formulas, and backward passes against numerical gradients."""
import numpy as np
import pytest

from fastnn import Affine, Relu, Sigmoid, SoftmaxWithLoss, TwoLayerNet

from . import reference as ref
from .reference import TOL


def rand(rng, shape, dtype=np.float64, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("shape", [(1, 1), (4, 9), (100, 50)])
def test_relu_and_sigmoid_layers(rng, dtype, shape):
    x, dout = rand(rng, shape, dtype), rand(rng, shape, dtype)
    x[0, 0] = 0.0
    dout_copy = dout.copy()
    relu = Relu()
    np.testing.assert_array_equal(relu.forward(x), ref.relu(x))
    np.testing.assert_array_equal(relu.backward(dout), ref.relu_grad(dout, x))
    sig = Sigmoid()
    y = sig.forward(x)
    np.testing.assert_allclose(y, ref.sigmoid(x), **TOL[dtype])
    np.testing.assert_allclose(sig.backward(dout), ref.sigmoid_grad(dout, ref.sigmoid(x)), **TOL[dtype])
    np.testing.assert_array_equal(dout, dout_copy)        # backward never writes into dout


@pytest.mark.parametrize("xshape,D,M", [((5, 4), 4, 3), ((2, 3, 4), 12, 6), ((1, 784), 784, 50)])
def test_affine_layer(rng, dtype, xshape, D, M):
    x, W, b = rand(rng, xshape, dtype), rand(rng, (D, M), dtype), rand(rng, M, dtype)
    dout = rand(rng, (xshape[0], M), dtype)
    layer = Affine(W, b)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(layer.forward(x), ref.affine_forward(x, W, b), **tol)
    dx = layer.backward(dout)
    rdx, rdW, rdb = ref.affine_backward(x, W, dout)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(layer.dW, rdW, **tol)
    np.testing.assert_allclose(layer.db, rdb, **tol)


@pytest.mark.parametrize("labels_as", ["int", "onehot"])
def test_softmax_with_loss_layer(rng, dtype, labels_as):
    a = rand(rng, (8, 10), dtype, 2.0)
    labels = rng.integers(0, 10, 8)
    t = labels if labels_as == "int" else np.eye(10, dtype=dtype)[labels]
    layer = SoftmaxWithLoss()
    loss, y, dx = ref.softmax_with_loss(a, labels)
    assert layer.forward(a, t) == pytest.approx(loss, rel=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(layer.backward(), dx, **TOL[dtype])
    np.testing.assert_allclose(layer.backward(2.0), 2 * dx, **TOL[dtype])


# -- backward passes against numerical gradients (float64) --------------------

def test_affine_backward_matches_numerical_gradient(rng):
    x, W, b, dout = rand(rng, (3, 4)), rand(rng, (4, 5)), rand(rng, 5), rand(rng, (3, 5))
    layer = Affine(W, b)
    layer.forward(x)
    dx = layer.backward(dout)

    def f():
        return np.sum(Affine(W, b).forward(x) * dout)
    np.testing.assert_allclose(dx, ref.numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.dW, ref.numerical_gradient(f, W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.db, ref.numerical_gradient(f, b), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cls", [Sigmoid, Relu])
def test_activation_backward_matches_numerical_gradient(rng, cls):
    x = rand(rng, (4, 6))
    x[np.abs(x) < 1e-2] = 0.5                 # keep away from ReLU's kink
    dout = rand(rng, (4, 6))
    layer = cls()
    layer.forward(x)
    dx = layer.backward(dout)
    num = ref.numerical_gradient(lambda: np.sum(cls().forward(x) * dout), x)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-9)


def test_softmax_with_loss_backward_matches_numerical_gradient(rng):
    a = rand(rng, (5, 4))
    labels = rng.integers(0, 4, 5)
    layer = SoftmaxWithLoss()
    layer.forward(a, labels)
    dx = layer.backward()
    num = ref.numerical_gradient(lambda: SoftmaxWithLoss().forward(a, labels), a)
    # (y - t) / N ignores the 1e-7 inside the log: relative error about 1e-7 / y
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_two_layer_net_gradient_matches_numerical(rng, activation):
    net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, activation=activation, seed=1)
    x, labels = rand(rng, (4, 6)), rng.integers(0, 3, 4)
    grads = net.gradient(x, labels)
    for key in ("W1", "b1", "W2", "b2"):
        num = ref.numerical_gradient(lambda: ref.two_layer_loss(net.params, x, labels, activation), net.params[key])
        np.testing.assert_allclose(grads[key], num, rtol=1e-4, atol=1e-7, err_msg=key)


def test_two_layer_net_matches_reference(rng, dtype):
    net = TwoLayerNet(20, 8, 4, weight_init_std=0.3, dtype=dtype, seed=3)
    x = rand(rng, (6, 20), dtype)
    labels = rng.integers(0, 4, 6)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert net.loss(x, labels) == pytest.approx(ref.two_layer_loss(net.params, x, labels), rel=rel)
    assert net.loss(x, np.eye(4)[labels]) == pytest.approx(net.loss(x, labels), rel=rel)
    probs = net.predict(x)
    assert probs.dtype == dtype and probs.shape == (6, 4)
    expect_acc = np.mean(np.argmax(probs, axis=1) == labels)
    assert net.accuracy(x, labels) == expect_acc == net.accuracy(x, np.eye(4)[labels])
    assert all(g.dtype == dtype for g in net.gradient(x, labels).values())


def test_two_layer_net_is_seedable():
    a = TwoLayerNet(10, 4, 3, seed=7).params["W1"]
    b = TwoLayerNet(10, 4, 3, seed=7).params["W1"]
    c = TwoLayerNet(10, 4, 3, seed=8).params["W1"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_two_layer_net_follows_replaced_params(rng):
    net = TwoLayerNet(5, 3, 2, seed=0)
    x, t = rand(rng, (2, 5)), np.array([0, 1])
    before = net.loss(x, t)
    net.params["W2"] = net.params["W2"] * 10 + 1
    assert net.loss(x, t) != before
    net.params["W1"] -= 0.5                  # in-place updates are seen as well
    assert net.loss(x, t) == pytest.approx(ref.two_layer_loss(net.params, x, t))


def test_affine_backward_without_dx(rng):
    x, W, b, dout = rand(rng, (6, 4)), rand(rng, (4, 3)), rand(rng, 3), rand(rng, (6, 3))
    full, params_only = Affine(W, b), Affine(W, b)
    full.forward(x)
    params_only.forward(x)
    full.backward(dout)
    assert params_only.backward(dout, need_dx=False) is None
    np.testing.assert_array_equal(params_only.dW, full.dW)
    np.testing.assert_array_equal(params_only.db, full.db)
