"""MultiLayerNetExtend: the book's network with dropout and batch normalization, against the
reference layers (tests/reference.py) and numerical gradients."""
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels.graph as G
from fastnn import MultiLayerNetExtend
from fastnn.model import from_architecture

from . import reference as ref
from .reference import agree


def masks_of(net, N):
    """The dropout masks the next training forward of ``net`` draws, from a copy of its rng."""
    if not net.use_dropout:
        return None
    rng = copy.deepcopy(net.rng)
    return [rng.random((N, h)) > net.dropout_ratio for h in net.hidden_size_list]


def test_params_named_as_the_book_and_initialised_as_it_does():
    net = MultiLayerNetExtend(784, [100, 50], 10, use_batchnorm=True, use_dropout=True, seed=3)
    assert sorted(net.params) == sorted(["W1", "b1", "W2", "b2", "W3", "b3", "gamma1", "beta1", "gamma2", "beta2"])
    assert (net.params["gamma1"] == 1).all() and (net.params["beta2"] == 0).all()
    assert sorted(net.running) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    assert (net.state == 0).all() and net.state.size == 3 * 150
    rng = np.random.default_rng(3)       # W drawn in order from the seed, He std, as MultiLayerNet
    np.testing.assert_array_equal(net.params["W1"], np.sqrt(2 / 784) * rng.standard_normal((784, 100)))
    assert net.dropout_ration == net.dropout_ratio == 0.5


@pytest.mark.parametrize("use_dropout,use_batchnorm", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_gradient_is_the_books(rng, dtype, use_dropout, use_batchnorm, activation):
    net = MultiLayerNetExtend(12, [9, 7, 5], 4, activation, use_dropout=use_dropout, dropout_ration=0.3,
                              use_batchnorm=use_batchnorm, weight_decay_lambda=0.1, dtype=dtype, seed=1)
    for k in net.params:                                   # non-trivial gamma, beta, b
        if not k.startswith("W"):
            net.params[k][...] = rng.uniform(0.5, 1.5, net.params[k].shape)
    x = rng.standard_normal((16, 12)).astype(dtype)
    t = rng.integers(0, 4, 16)
    p64 = {k: v.astype(np.float64) for k, v in net.params.items()}
    for _ in range(2):                                     # the second step draws new masks
        masks = masks_of(net, 16)
        eloss, eg = ref.extend_loss_gradient(p64, x.astype(np.float64), t, 4, activation, masks, use_batchnorm, 0.1)
        g = net.gradient(x, t)
        # Each parameter's gradient relative to its own size; a bias before a batch norm has a
        # zero gradient (the norm removes it), left as rounding: relative to the largest
        # gradient.  Measured <= 1.1e-6 (float32), <= 5e-14 (float64).
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert net.last_loss == pytest.approx(eloss, rel=tol)
        top = max(float(np.abs(v).max()) for v in eg.values())
        for k in eg:
            zero = use_batchnorm and k[0] == "b" and k != "b4"
            agree(g[k], eg[k], tol, k, scale=top if zero else float(np.abs(eg[k]).max()))


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), use_dropout=st.booleans(), N=st.integers(4, 10))
def test_gradient_matches_numerical_gradient(seed, use_dropout, N):
    """The net's backprop against central differences (h = 1e-5) of the training loss over
    every parameter, with the dropout masks the net drew held fixed.  The loss differentiated
    is the book's written out in tests/reference.py (whose value the net's equals, above)
    without the 1e-7 inside the log, which backprop leaves out as the book does.
    Measured <= 8.5e-8 (truncation: batch statistics of 4 samples curve sharply); bound 1e-6."""
    rng = np.random.default_rng(seed)
    net = MultiLayerNetExtend(5, [4, 3], 3, "sigmoid", use_dropout=use_dropout, dropout_ratio=0.25,
                              use_batchnorm=True, weight_decay_lambda=0.05, seed=seed)
    x, t = rng.standard_normal((N, 5)), rng.integers(0, 3, N)
    masks = masks_of(net, N)
    g = net.gradient(x, t)
    p = {k: v.copy() for k, v in net.params.items()}

    def loss():
        return ref.extend_loss_gradient(p, x, t, 3, "sigmoid", masks, True, 0.05, delta=0.0)[0]

    for k in p:
        num = ref.numerical_gradient(loss, p[k], 1e-5)
        agree(g[k], num, 1e-6, k, scale=max(1e-2, float(np.abs(num).max())))


def test_inference_uses_running_statistics_and_evaluate_agrees(rng):
    net = MultiLayerNetExtend(20, [16, 8], 5, use_dropout=True, dropout_ratio=0.2, use_batchnorm=True, seed=0)
    x, t = rng.standard_normal((64, 20)), rng.integers(0, 5, 64)
    for _ in range(5):
        net.gradient(x, t)
    assert not np.all(net.state == 0)
    np.testing.assert_array_equal(net.predict(x), net.predict(x))     # inference: deterministic
    acc, loss = net.evaluate(x, t)
    assert acc == pytest.approx(net.accuracy(x, t), abs=0)
    assert loss == pytest.approx(net.loss(x, t), rel=1e-12)
    p = net.predict(x)
    scores = x.copy()             # the book's inference through the reference layers
    P = {k: v for k, v in net.params.items()}
    for i in (1, 2):
        scores = ref.affine_forward(scores, P[f"W{i}"], P[f"b{i}"])
        scores = ref.batchnorm_forward(scores, P[f"gamma{i}"], P[f"beta{i}"], net.running[f"running_mean{i}"],
                                       net.running[f"running_var{i}"], train_flg=False)[0]
        scores = ref.dropout_forward(ref.relu(scores), None, False, 0.2)
    agree(p, ref.softmax(ref.affine_forward(scores, P["W3"], P["b3"])), 1e-13, "predict")


def test_same_seed_same_training():
    def train(seed):
        net = MultiLayerNetExtend(10, [8], 3, use_dropout=True, use_batchnorm=True, seed=seed)
        rng = np.random.default_rng(0)
        x, t = rng.standard_normal((32, 10)), rng.integers(0, 3, 32)
        for _ in range(3):
            g = net.gradient(x, t)
            net.theta[...] -= 0.1 * np.concatenate([g[k].ravel() for k in net.param_names])
        return net.theta.copy(), net.state.copy()
    a, b, c = train(4), train(4), train(5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_architecture_round_trip():
    net = MultiLayerNetExtend(6, [5, 4], 3, "sigmoid", use_dropout=True, dropout_ration=0.3, use_batchnorm=True,
                              momentum=0.8, weight_decay_lambda=0.01, dtype=np.float32, seed=0)
    again = from_architecture(net.architecture())
    assert type(again) is MultiLayerNetExtend and again.architecture() == net.architecture()
    np.testing.assert_array_equal(again.ops, net.ops)
    np.testing.assert_array_equal(again.fops, net.fops)
    assert again.state.shape == net.state.shape and again.theta.dtype == np.float32
    assert list(again.fops[again.ops[:, G.KIND] == G.DROPOUT, G.RATIO]) == [0.3, 0.3]


def test_plain_options_equal_multilayernet(rng):
    from fastnn import MultiLayerNet
    a = MultiLayerNetExtend(8, [6, 5], 3, seed=2, weight_decay_lambda=0.1)
    b = MultiLayerNet(8, [6, 5], 3, seed=2, weight_decay_lambda=0.1)
    np.testing.assert_array_equal(a.ops, b.ops)
    np.testing.assert_array_equal(a.theta, b.theta)
    x, t = rng.standard_normal((10, 8)), rng.integers(0, 3, 10)
    assert a.loss(x, t) == b.loss(x, t)
    np.testing.assert_array_equal(a.gradient_flat(x, t), b.gradient_flat(x, t))


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(dropout_ration=1.0), ValueError, r"dropout_ration: expected a number in \[0, 1\)"),
    (dict(dropout_ratio=-0.1), ValueError, r"dropout_ratio: expected a number in \[0, 1\)"),
    (dict(dropout_ratio=0.2, dropout_ration=0.3), ValueError, "dropout_ratio: given as 0.2 and as dropout_ration=0.3"),
    (dict(momentum=1.0), ValueError, r"momentum: expected a number in \(0, 1\)"),
    (dict(momentum=0), ValueError, r"momentum: expected a number in \(0, 1\)"),
    (dict(use_dropout="yes"), TypeError, "use_dropout: expected True or False"),
    (dict(hidden_size_list=[]), ValueError, "hidden_size_list: expected at least one hidden width"),
])
def test_bad_arguments(kw, exc, msg):
    args = dict(input_size=4, hidden_size_list=[3], output_size=2)
    args.update(kw)
    with pytest.raises(exc, match=msg):
        MultiLayerNetExtend(**args)


def test_options_are_fixed_at_construction():
    net = MultiLayerNetExtend(4, [3], 2, use_dropout=True)
    with pytest.raises(AttributeError):
        net.use_batchnorm = True
    with pytest.raises(AttributeError):
        net.dropout_ratio = 0.9


@pytest.mark.parametrize("use_dropout", [False, True])
@pytest.mark.parametrize("use_batchnorm", [False, True])
def test_repr_names_the_options_in_use(use_dropout, use_batchnorm):
    net = MultiLayerNetExtend(5, [4], 3, use_dropout=use_dropout, dropout_ration=0.3, use_batchnorm=use_batchnorm,
                              seed=0)
    opts = (", dropout 0.3" if use_dropout else "") + (", batchnorm" if use_batchnorm else "")
    assert repr(net) == f"MultiLayerNetExtend(5-4-3, relu, float64, weight_decay_lambda=0.0{opts})"


def test_architecture_without_the_options_gets_the_books_defaults():
    """An architecture dict that leaves the chapter-6 options out (written before they
    existed) gets the book's defaults: no dropout (ratio 0.5), no batch normalization
    (momentum 0.9)."""
    arch = MultiLayerNetExtend(5, [4], 3, seed=0).architecture()
    for k in ("use_dropout", "dropout_ratio", "use_batchnorm", "momentum"):
        del arch[k]
    net = from_architecture(arch)
    assert (net.use_dropout, net.dropout_ratio, net.use_batchnorm, net.momentum) == (False, 0.5, False, 0.9)


def test_both_spellings_of_the_ratio_agree_or_are_refused():
    """dropout_ration (the book's spelling) and dropout_ratio may both be given when they are
    equal; two different values are refused whichever is larger."""
    net = MultiLayerNetExtend(5, [4], 3, use_dropout=True, dropout_ratio=0.3, dropout_ration=0.3, seed=0)
    assert net.dropout_ratio == net.dropout_ration == 0.3
    with pytest.raises(ValueError, match="dropout_ratio: given as 0.3 and as dropout_ration=0.2"):
        MultiLayerNetExtend(5, [4], 3, use_dropout=True, dropout_ratio=0.3, dropout_ration=0.2, seed=0)



def test_net_from_architecture_starts_in_inference_like_a_new_one(rng):
    """A net rebuilt by from_architecture, given the same parameters and running statistics,
    predicts as the original: accuracy (which runs the layers outside gradient) uses the
    running statistics, so even batches of one sample get the original's classes."""
    net = MultiLayerNetExtend(6, [5, 4], 3, use_dropout=True, use_batchnorm=True, seed=0)
    net.theta[...] = rng.standard_normal(net.theta.shape)
    for k in ("beta1", "beta2"):       # a one-sample batch normalised in training gives beta: 0
        net.params[k][...] = 0.0
    net.state[...] = rng.uniform(0.5, 1.5, net.state.shape)
    again = from_architecture(net.architecture())
    again.theta[...] = net.theta
    again.state[...] = net.state
    x = rng.standard_normal((40, 6))
    t = np.argmax(net.scores(x), axis=1)
    assert len(set(t.tolist())) >= 2
    assert again.accuracy(x, t, batch_size=1) == net.accuracy(x, t, batch_size=1) == 1.0
