"""fastnn.model: networks built from the description (MultiLayerNet, the base class)."""
import json

import numpy as np
import pytest

import fastnn
from fastnn import MultiLayerNet, ShapeError, TwoLayerNet
from fastnn.model import Network, from_architecture

from . import reference as ref

DTYPES = [np.float32, np.float64]
#: normwise relative agreement with the reference: float64 measured <= 1e-14 (depth 5);
#: float32 measured <= 3e-6 for the forward pass and <= 2e-5 for gradients
TOL = {np.float32: 1e-4, np.float64: 1e-11}


def batch(rng, D, C, N=7, dtype=np.float64):
    return ref.dense_inputs(rng, N, D, dtype), rng.integers(0, C, N)


def with_params(net, rng):
    """Random parameters (non-zero biases) copied into the net; returns them in float64."""
    p = ref.multi_layer_params(rng, net.sizes, net.dtype)
    for k, v in p.items():
        net.params[k][...] = v
    return {k: v.astype(np.float64) for k, v in p.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_methods_match_the_reference(rng, dtype, activation, depth):
    hidden = [int(h) for h in rng.integers(2, 9, depth)]
    D, C = 11, 4
    lam = 0.05
    net = MultiLayerNet(D, hidden, C, activation, weight_decay_lambda=lam, dtype=dtype, seed=1)
    p = with_params(net, rng)
    x, t = batch(rng, D, C, dtype=dtype)
    x64 = x.astype(np.float64)
    tol = TOL[dtype]
    ref.agree(net.predict(x), ref.multi_layer_forward(p, x64, activation)[2], tol, "predict")
    ref.agree(net.scores(x), ref.multi_layer_scores(p, x64, activation), tol, "scores")
    ref.agree(net.loss(x, t), ref.multi_layer_loss(p, x64, t, activation, lam), tol, "loss")
    g = net.gradient(x, t)
    rg = ref.multi_layer_gradient(p, x64, t, activation, lam)
    assert list(g) == list(net.params) and sorted(g) == sorted(rg)
    for k in rg:
        assert g[k].dtype == dtype and g[k].shape == rg[k].shape
        ref.agree(g[k], rg[k], tol, f"gradient {k}")
    y = ref.multi_layer_forward(p, x64, activation)[2]
    assert net.accuracy(x, t) == np.mean(np.argmax(y, axis=1) == t)
    acc, loss = net.evaluate(x, t, batch_size=3)
    assert acc == net.accuracy(x, t)
    ref.agree(loss, ref.multi_layer_loss(p, x64, t, activation, lam), tol, "evaluate loss")


@pytest.mark.parametrize("init,num", [("relu", 2.0), ("He", 2.0), ("sigmoid", 1.0), ("xavier", 1.0)])
def test_init_stds_and_draw_order(init, num):
    sizes = (30, 20, 10, 5)
    net = MultiLayerNet(30, [20, 10], 5, weight_init_std=init, seed=4)
    rng = np.random.default_rng(4)
    for i, std in enumerate(ref.multi_layer_init_stds(init, sizes), start=1):
        assert std == np.sqrt(num / sizes[i - 1])
        np.testing.assert_array_equal(net.params[f"W{i}"], std * rng.standard_normal((sizes[i - 1], sizes[i])))
        np.testing.assert_array_equal(net.params[f"b{i}"], 0)


def test_params_are_views_into_theta():
    net = MultiLayerNet(6, [5, 4], 3, seed=0)
    assert net.theta.shape == (6 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3,)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k, v in net.params.items():
        assert np.shares_memory(v, net.theta), k
    net.theta[:] = 1.5
    assert all((v == 1.5).all() for v in net.params.values())


def test_replaced_entry_is_copied_into_theta(rng):
    net = MultiLayerNet(6, [5], 3, seed=0)
    view = net.params["W2"]
    new = rng.standard_normal((5, 3))
    net.params["W2"] = new
    x, t = batch(rng, 6, 3)
    net.loss(x, t)
    assert net.params["W2"] is view and np.array_equal(view, new)
    new[...] = 0                      # the net keeps its copy
    assert not np.array_equal(view, new)


def test_wrong_params_name_the_entry_and_change_nothing(rng):
    net = MultiLayerNet(6, [5, 4], 3, seed=0)
    before = net.theta.copy()
    net.params["W1"] = np.zeros((6, 5))
    net.params["W3"] = np.zeros((4, 2))
    x, t = batch(rng, 6, 3)
    with pytest.raises(ShapeError, match=r"^params\['W3'\]: expected \(4, 3\) float64 \(the net is 6-5-4-3\), "
                                         r"got \(4, 2\) float64$"):
        net.loss(x, t)
    np.testing.assert_array_equal(net.theta, before)
    net.params["W3"] = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match=r"^params\['W3'\]: expected \(4, 3\) float64 like the net"):
        net.predict(x)
    del net.params["b2"]
    with pytest.raises(ValueError, match=r"^params: missing 'b2'; expected \(4,\) float64$"):
        net.gradient(x, t)


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(activation="tanh"), ValueError, r"^activation: expected one of 'sigmoid', 'relu', got 'tanh'$"),
    (dict(weight_init_std="glorot"), ValueError,
     r"^weight_init_std: expected one of 'relu', 'he', 'sigmoid', 'xavier' or a number >= 0, got 'glorot'$"),
    (dict(weight_init_std=-1.0), ValueError, r"^weight_init_std: expected a finite number >= 0, got -1.0$"),
    (dict(weight_decay_lambda=-0.1), ValueError, r"^weight_decay_lambda: expected a finite number >= 0, got -0.1$"),
    (dict(hidden_size_list=[]), ValueError, r"^hidden_size_list: expected at least one hidden width"),
    (dict(hidden_size_list=[10, 0]), ValueError, r"^hidden_size_list: expected positive integer widths, got \[10, 0\]$"),
    (dict(hidden_size_list=[10, -3]), ValueError, r"^hidden_size_list: expected positive integer widths"),
    (dict(hidden_size_list=[10, 2.5]), ValueError, r"^hidden_size_list: expected positive integer widths"),
    (dict(hidden_size_list=10), TypeError, r"^hidden_size_list: expected a list of positive integers, got 10$"),
    (dict(dtype=np.int32), TypeError, r"^dtype: expected float32 or float64, got int32$"),
])
def test_bad_arguments(kwargs, exc, msg):
    args = dict(input_size=4, hidden_size_list=[3], output_size=2)
    args.update(kwargs)
    with pytest.raises(exc, match=msg):
        MultiLayerNet(**args)


@pytest.mark.parametrize("make", [
    lambda: MultiLayerNet(9, [7, 5, 3], 4, "sigmoid", weight_decay_lambda=0.25, dtype=np.float32, seed=0),
    lambda: TwoLayerNet(9, 6, 4, activation="relu", seed=0),
])
def test_architecture_round_trip(make, rng):
    net = make()
    arch = json.loads(json.dumps(net.architecture()))
    new = from_architecture(arch)
    assert type(new) is type(net) and new.architecture() == net.architecture()
    assert new.sizes == net.sizes and new.dtype == net.dtype and new.activation == net.activation
    assert new.weight_decay_lambda == net.weight_decay_lambda
    np.testing.assert_array_equal(new.ops, net.ops)
    assert not new.theta.any()
    new.theta[...] = net.theta
    x, t = batch(rng, 9, 4, dtype=net.dtype)
    assert new.loss(x, t) == net.loss(x, t)


def test_from_architecture_refuses_unknown_classes_and_altered_operations():
    arch = MultiLayerNet(4, [3], 2, seed=0).architecture()
    with pytest.raises(ValueError, match=r"^architecture: class expected one of .*'MultiLayerNet'.*got 'Net'$"):
        from_architecture(dict(arch, **{"class": "Net"}))
    with pytest.raises(ValueError, match=r"^architecture: operations .* differ"):
        from_architecture(dict(arch, ops=arch["ops"][:-1]))
    with pytest.raises(ValueError, match=r"^architecture: sizes expected"):
        from_architecture(dict(arch, sizes=[4]))


def test_exported():
    assert fastnn.MultiLayerNet is MultiLayerNet and issubclass(TwoLayerNet, Network)
