"""fastnn.model: networks built from the description (MultiLayerNet, the base class)."""
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import fastnn
from fastnn import MultiLayerNet, ShapeError, TwoLayerNet
from fastnn.model import Network, from_architecture

from . import reference as ref

DTYPES = [np.float32, np.float64]
#: normwise relative agreement with the reference over depths 1-5, both activations
#: (FASTNN_SHOW_AGREEMENT=1): float64 measured <= 9e-16, float32 <= 7e-7 (gradients)
TOL = {np.float32: 1e-5, np.float64: 1e-13}


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
    with pytest.raises(ValueError, match=r"^hidden_size_list: expected at least one hidden width"):
        from_architecture(dict(arch, sizes=[4, 2], ops=None))
    two = TwoLayerNet(4, 3, 2).architecture()
    with pytest.raises(ValueError, match=r"^architecture: a TwoLayerNet has sizes \(input, hidden, output\), "
                                         r"got \[4, 3, 3, 2\]$"):
        from_architecture(dict(two, sizes=[4, 3, 3, 2], ops=None))
    with pytest.raises(ValueError, match=r"^architecture: a TwoLayerNet has sizes \(input, hidden, output\), "
                                         r"got \[4, 2\]$"):
        from_architecture(dict(two, sizes=[4, 2], ops=None))


def test_exported():
    assert fastnn.MultiLayerNet is MultiLayerNet and issubclass(TwoLayerNet, Network)


# -- gradient against the numerical gradient ---------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=3, max_size=6), classes=st.integers(2, 4),
       N=st.integers(1, 4), activation=st.sampled_from(["relu", "sigmoid"]),
       lam=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 2**32 - 1))
def test_gradient_matches_numerical_gradient(sizes, classes, N, activation, lam, seed):
    """Backprop of the net against the book's central differences (h = 1e-4) of the
    reference loss without the 1e-7 inside the log, float64.  Measured agreement <= 3e-9;
    the truncation error is O(h**2)."""
    rng = np.random.default_rng(seed)
    D, hidden = sizes[0], sizes[1:]
    net = MultiLayerNet(D, hidden, classes, activation, weight_decay_lambda=lam, seed=seed)
    p = with_params(net, rng)
    x, t = batch(rng, D, classes, N)
    if activation == "relu":       # no pre-activation within reach of the kink at 0
        assume(min(np.abs(a).min() for a in ref.multi_layer_forward(p, x, "relu")[1][:-1]) > 1e-3)
    g = net.gradient(x, t)
    for k in p:
        num = ref.numerical_gradient(lambda: ref.multi_layer_loss(p, x, t, activation, lam, delta=0.0), p[k])
        ref.agree(g[k], num, 1e-6, k, scale=max(1.0, float(np.abs(num).max())))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("hidden", [[6], [6, 5, 4]])
def test_numerical_gradient_method_with_weight_decay(rng, activation, hidden):
    """net.numerical_gradient (fastnn.numerical, every method that applies) equals backprop,
    weight decay included (float64).  Measured agreement <= 4e-10."""
    net = MultiLayerNet(8, hidden, 3, activation, weight_decay_lambda=0.2, seed=0)
    with_params(net, rng)
    x, t = batch(rng, 8, 3)
    g = net.gradient(x, t)
    for method in (None, "cached", "full") + (("incremental",) if len(hidden) == 1 else ()):
        num = net.numerical_gradient(x, t, method, delta=0.0)
        assert list(num) == list(g)
        for k in g:
            ref.agree(num[k], g[k], 1e-8, f"{method} {k}", scale=max(1.0, float(np.abs(g[k]).max())))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_numerical_gradient_of_deeper_nets_with_weight_decay(rng, activation):
    """Any depth: the cached method (the default past one hidden layer) and the full one
    equal backprop (float64).  Measured agreement <= 2e-10."""
    net = MultiLayerNet(8, [6, 5, 4], 3, activation, weight_decay_lambda=0.2, seed=0)
    with_params(net, rng)
    x, t = batch(rng, 8, 3)
    g = net.gradient(x, t)
    for method in (None, "full"):
        num = net.numerical_gradient(x, t, method, delta=0.0)
        for k in g:
            ref.agree(num[k], g[k], 1e-8, f"{method} {k}", scale=max(1.0, float(np.abs(g[k]).max())))


# -- the base class's contract ----------------------------------------------------------------
def test_check_input_converts_and_names_the_argument(rng):
    net = MultiLayerNet(5, [4, 3], 2, seed=0)
    x = ref.dense_inputs(rng, 3, 5, np.float32)
    xc, tc = net.check_input(x, np.eye(2)[[0, 1, 1]])
    assert xc.dtype == np.float64 and np.array_equal(xc, x) and tc.shape == (3, 2)
    with pytest.raises(ShapeError, match=r"^x: expected \(N, 5\) float64, got \(3, 4\) float64$"):
        net.check_input(np.zeros((3, 4)))
    with pytest.raises(ShapeError, match=r"^t: expected \(3,\) integer labels or \(3, 2\) one-hot, got \(3, 3\)"):
        net.check_input(x, np.zeros((3, 3)))
    with pytest.raises(TypeError, match=r"^t: expected \(N,\) integer labels or \(N, 2\) one-hot, got None$"):
        net.loss(x, None)


def test_views_made_read_only_or_a_new_dict_are_taken_back(rng):
    net = MultiLayerNet(5, [4], 2, seed=0)
    x, t = batch(rng, 5, 2)
    loss = net.loss(x, t)
    net.params["b1"].flags.writeable = False
    net.gradient(x, t)
    assert net.params["b1"].flags.writeable
    view = net.params["W1"]
    net.params = {k: v.copy() for k, v in net.params.items()}
    assert net.loss(x, t) == loss and net.params["W1"] is view


def test_gradient_flat_has_theta_layout_and_sets_last_loss(rng):
    net = MultiLayerNet(6, [5, 4], 3, "sigmoid", weight_decay_lambda=0.1, seed=0)
    x, t = batch(rng, 6, 3)
    flat = net.gradient_flat(x, t)
    assert flat.shape == net.theta.shape and net.last_loss == net.loss(x, t)
    g = net.gradient(x, t)
    np.testing.assert_array_equal(flat, np.concatenate([g[k].ravel() for k in net.param_names]))


def test_weight_decay(rng):
    """The loss's term and dW's term, also on TwoLayerNet; biases have none."""
    a = TwoLayerNet(6, 5, 3, weight_init_std=0.3, seed=0)
    b = TwoLayerNet(6, 5, 3, weight_init_std=0.3, seed=0, weight_decay_lambda=0.5)
    x, t = batch(rng, 6, 3)
    sq = sum(float(np.sum(a.params[k] ** 2)) for k in ("W1", "W2"))
    assert b.loss(x, t) == pytest.approx(a.loss(x, t) + 0.25 * sq, rel=1e-14)
    ga, gb = a.gradient(x, t), b.gradient(x, t)
    for k in ga:
        np.testing.assert_allclose(gb[k], ga[k] + (0.5 * a.params[k] if k[0] == "W" else 0), rtol=1e-14)
    b.weight_decay_lambda = 0
    assert b.loss(x, t) == a.loss(x, t)
    with pytest.raises(ValueError, match=r"^weight_decay_lambda: expected a finite number >= 0, got -1$"):
        b.weight_decay_lambda = -1


def test_hidden_sizes_as_tuples_and_numpy_integers():
    net = MultiLayerNet(4, (np.int64(3), 2), 2, seed=0)
    assert net.sizes == (4, 3, 2, 2) and net.hidden_size_list == [3, 2]
    assert all(type(s) is int for s in net.sizes)


def test_evaluate_one_hot_and_large_batches(rng):
    net = MultiLayerNet(7, [6, 5], 3, seed=0, dtype=np.float32)
    with_params(net, rng)
    x, t = batch(rng, 7, 3, N=9, dtype=np.float32)
    acc, loss = net.evaluate(x, t, batch_size=100)
    assert (acc, loss) == net.evaluate(x, np.eye(3)[t], batch_size=100)
    assert acc == net.accuracy(x, t)
    ref.agree(loss, net.loss(x, t), 1e-6, "evaluate vs loss")


def test_seeded_nets_are_identical_and_rng_is_used():
    a, b = MultiLayerNet(5, [4], 3, seed=9), MultiLayerNet(5, [4], 3, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.theta, b.theta)
    with pytest.raises(TypeError, match=r"^rng: expected a numpy.random.Generator, got int$"):
        MultiLayerNet(5, [4], 3, rng=3)


def test_description_attributes():
    net = MultiLayerNet(5, [4, 3], 2, "sigmoid", dtype=np.float32, seed=0)
    assert net.ops.shape == (6, 8) and net.fops.shape == (6, 4)
    assert net.theta.dtype == np.float32 and net.dtype == np.float32
    assert net.activation == "sigmoid" and net.weight_decay_lambda == 0.0
    assert net.param_names == ("W1", "b1", "W2", "b2", "W3", "b3")
    assert repr(net) == "MultiLayerNet(5-4-3-2, sigmoid, float32, weight_decay_lambda=0.0)"
    with pytest.raises(AttributeError):
        net.theta = np.zeros(3)


def test_param_views_of_a_flat_buffer():
    net = MultiLayerNet(5, [4], 3, seed=0)
    buf = np.arange(net.theta.size, dtype=np.float64)
    v = net.param_views(buf)
    assert list(v) == list(net.params) and v["b2"][0] == net.theta.size - 3
    assert all(np.shares_memory(a, buf) for a in v.values())
    with pytest.raises(ShapeError, match=r"^buf: expected \(39,\) like theta, got \(38,\) float64$"):
        net.param_views(buf[:-1])


def test_every_layer_path_method_runs_under_the_blas_policy(rng, monkeypatch):
    """predict, loss, accuracy, gradient and evaluate ask fastnn.threads.blas_for, with the
    forward products' multiply-adds (N * sum of IN * OUT) as the work."""
    import contextlib
    import fastnn.model
    calls = []

    def record(work, adaptive=None, key=None):
        calls.append((key[0], work))
        return contextlib.nullcontext()

    monkeypatch.setattr(fastnn.model, "blas_for", record)
    net = MultiLayerNet(6, [5, 4], 3, seed=0)
    x, t = batch(rng, 6, 3, N=7)
    net.predict(x), net.loss(x, t), net.accuracy(x, t), net.gradient(x, t), net.evaluate(x, t)
    work = 7 * (6 * 5 + 5 * 4 + 4 * 3)
    assert calls == [("scores", work), ("loss", work), ("scores", work), ("gradient", work), ("evaluate", work)]


def test_a_number_as_weight_init_std_scales_every_weight():
    """weight_init_std=0.05: every W is 0.05 * N(0, 1) drawn in layer order from the seed's
    generator, every b zero (the book's MultiLayerNet with a number)."""
    net = MultiLayerNet(6, [5, 4], 3, weight_init_std=0.05, seed=7)
    g = np.random.default_rng(7)
    for i, (a, b) in enumerate([(6, 5), (5, 4), (4, 3)], start=1):
        np.testing.assert_array_equal(net.params[f"W{i}"], 0.05 * g.standard_normal((a, b)))
        np.testing.assert_array_equal(net.params[f"b{i}"], np.zeros(b))


def test_accuracy_takes_one_hot_targets_like_labels(rng):
    net = MultiLayerNet(4, [3], 3, seed=0)
    x = rng.standard_normal((12, 4))
    labels = rng.integers(0, 3, 12)
    assert net.accuracy(x, np.eye(3)[labels]) == net.accuracy(x, labels)


def test_from_architecture_refuses_non_positive_sizes():
    arch = MultiLayerNet(4, [3], 2, seed=0).architecture()
    for sizes in ([4, -3, 2], [4, 0, 2], [4, 3.0, 2], [4, True, 2]):
        with pytest.raises(ValueError, match=r"^architecture: sizes expected a list of at least two positive"):
            from_architecture(dict(arch, sizes=sizes, ops=None))
