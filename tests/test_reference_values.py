"""Every formula and public method of the book API against tests/reference.py.

The reference is plain NumPy written from the book's equations, independent of
fastnn's kernels.  Each comparison is a normwise relative difference
(``reference.agree``) with a tolerance a few times above the agreement measured
on this machine (run with FASTNN_SHOW_AGREEMENT=1 and -s to print it), small
enough that a sign error, a missing factor or a wrong constant fails.  Data are
dense (no zero input), biases non-zero.
"""
import numba
import numpy as np
import pytest

import fastnn
from fastnn import Affine, AddLayer, MulLayer, Relu, Sigmoid, SoftmaxWithLoss, TwoLayerNet
from fastnn import functions as F
from fastnn import numerical as NUM
from fastnn.threads import num_threads

from . import reference as R
from .reference import agree

#: Two threads where numba allows them (NUMBA_NUM_THREADS=1 leaves one).
MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)
needs_two_threads = pytest.mark.skipif(MAX_THREADS < 2, reason="NUMBA_NUM_THREADS=1")

#: Normwise relative agreement of a float32 kernel with the float64 reference: the
#: inputs are rounded to float32 first, so the float32 rounding of the arithmetic
#: (6e-8 per operation) is all that separates them.  Measured <= 2.0e-7 (sigmoid's
#: backward pass and the network's gradient), <= 1.4e-7 elsewhere.
TOL32 = 1e-6
#: float64 kernels against the float64 reference: measured <= 4.6e-16 (0 for most: the
#: same operations in the same order).
TOL64 = 4e-15
TOL = {np.float32: TOL32, np.float64: TOL64}


def net_like(params, activation="sigmoid", dtype=np.float64):
    D, H = params["W1"].shape
    net = TwoLayerNet(D, H, params["W2"].shape[1], activation=activation, dtype=dtype)
    for k, v in params.items():
        net.params[k][...] = v
    return net


def as64(params):
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


# ---------------------------------------------------------------------------
# functions (chapter 3): every public function, serial and parallel twins
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [7, (1 << 16) + 3])         # below and above both twin thresholds
def test_elementwise_functions(dtype, n):
    rng = np.random.default_rng(n)
    x = (4 * rng.standard_normal(n)).astype(dtype)
    x[:3] = 0                                             # the step and ReLU boundary
    x64 = x.astype(np.float64)
    for threads in sorted({1, MAX_THREADS}):
        with num_threads(threads):
            agree(F.sigmoid(x), R.sigmoid(x64), TOL[dtype], f"sigmoid {threads}")
            agree(F.relu(x), R.relu(x64), 0, f"relu {threads}")                 # exact
        assert np.array_equal(F.step_function(x), R.step_function(x))
        assert F.step_function(x).dtype == np.int64
        assert F.sigmoid(x).dtype == dtype and F.relu(x).dtype == dtype
    assert np.array_equal(F.identity_function(x), x)


def test_sigmoid_and_relu_known_values():
    # exact values of the formulas, not compared with another implementation
    assert F.sigmoid(np.array([0.0]))[0] == 0.5
    agree(F.sigmoid(np.array([np.log(3.0)])), [0.75], 1e-15, "sigmoid(log 3) = 3/4")
    assert list(F.relu(np.array([-2.0, 0.0, 3.5]))) == [0.0, 0.0, 3.5]
    assert list(F.step_function(np.array([-1.0, 0.0, 2.0]))) == [0, 0, 1]


@pytest.mark.parametrize("shape", [(5,), (4, 3), (3, 10)])
def test_softmax(dtype, shape):
    a = (3 * np.random.default_rng(1).standard_normal(shape)).astype(dtype)
    agree(F.softmax(a), R.softmax(a.astype(np.float64)), TOL[dtype], "softmax")
    # known value: softmax([0, log 2, log 5]) = [1, 2, 5] / 8
    agree(F.softmax(np.log([1.0, 2.0, 5.0])), [1 / 8, 2 / 8, 5 / 8], 1e-15, "softmax known")


def test_losses(dtype):
    rng = np.random.default_rng(2)
    y = R.softmax(rng.standard_normal((6, 4))).astype(dtype)
    t = rng.integers(0, 4, 6)
    T = np.eye(4, dtype=dtype)[t]
    y64 = y.astype(np.float64)
    agree(F.cross_entropy_error(y, t), R.cross_entropy_error(y64, t), TOL[dtype], "CE labels")
    agree(F.cross_entropy_error(y, T), R.cross_entropy_error(y64, T), TOL[dtype], "CE one-hot")
    agree(F.cross_entropy_error(y[0], t[0]), R.cross_entropy_error(y64[0], t[0]), TOL[dtype], "CE 1-D")
    soft = R.softmax(rng.standard_normal((6, 4)))
    agree(F.cross_entropy_error(y, soft.astype(dtype)), R.cross_entropy_error(y64, soft.astype(dtype)),
          TOL[dtype], "CE soft")
    agree(F.mean_squared_error(y, T), R.mean_squared_error(y64, T), TOL[dtype], "MSE")
    # the book's printed values (chapter 4): 0.0975 and 0.5975 for MSE, 0.5108 and 2.3026 for CE
    t2 = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    good = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    agree(F.mean_squared_error(good, t2), 0.5 * np.sum((good - t2) ** 2), 1e-15, "MSE book")
    agree(F.cross_entropy_error(good, t2), -np.log(0.6 + 1e-7), 1e-15, "CE book")


# ---------------------------------------------------------------------------
# layers (chapter 5)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Relu, Sigmoid])
@pytest.mark.parametrize("n", [12, (1 << 16) + 5])
def test_activation_layers(dtype, cls, n):
    rng = np.random.default_rng(3)
    x = (3 * rng.standard_normal((n // 4, 4))).astype(dtype)
    x[0, 0] = 0.0
    dout = rng.standard_normal(x.shape).astype(dtype)
    x64, d64 = x.astype(np.float64), dout.astype(np.float64)
    for threads in sorted({1, MAX_THREADS}):
        with num_threads(threads):
            layer = cls()
            y = layer.forward(x)
            dx = layer.backward(dout)
        if cls is Relu:
            agree(y, R.relu(x64), 0, "relu forward")                       # exact
            agree(dx, R.relu_grad(d64, x64), 0, "relu backward")           # exact
        else:
            ref = R.sigmoid(x64)
            agree(y, ref, TOL[dtype], "sigmoid forward")
            # dout (1 - y) y from the layer's own y: the float32 rounding of y carries through
            agree(dx, R.sigmoid_grad(d64, ref), TOL[dtype], "sigmoid backward")
        assert y.dtype == dtype and dx.dtype == dtype


@pytest.mark.parametrize("xshape", [(5, 6), (5, 2, 3)])
def test_affine_layer(dtype, xshape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(xshape).astype(dtype)
    W = rng.standard_normal((6, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    dout = rng.standard_normal((5, 3)).astype(dtype)
    layer = Affine(W, b)
    out = layer.forward(x)
    dx = layer.backward(dout)
    x64, W64, b64, d64 = (a.astype(np.float64) for a in (x, W, b, dout))
    rdx, rdW, rdb = R.affine_backward(x64, W64, d64)
    agree(out, R.affine_forward(x64, W64, b64), TOL[dtype], "affine forward")
    agree(dx, rdx, TOL[dtype], "affine dx")
    agree(layer.dW, rdW, TOL[dtype], "affine dW")
    agree(layer.db, rdb, TOL[dtype], "affine db")
    assert dx.shape == xshape


@pytest.mark.parametrize("targets", ["labels", "one-hot", "soft"])
def test_softmax_with_loss_layer(dtype, targets):
    rng = np.random.default_rng(5)
    a = (2 * rng.standard_normal((6, 4))).astype(dtype)
    labels = rng.integers(0, 4, 6)
    t = {"labels": labels, "one-hot": np.eye(4)[labels],
         "soft": R.softmax(rng.standard_normal((6, 4)))}[targets]
    if targets != "labels":
        t = t.astype(dtype)
    loss, y, dx = R.softmax_with_loss(a.astype(np.float64), t)
    layer = SoftmaxWithLoss()
    agree(layer.forward(a, t), loss, TOL[dtype], "softmax-with-loss forward")
    agree(layer.y, y, TOL[dtype], "softmax-with-loss y")
    agree(layer.backward(), dx, TOL[dtype], "softmax-with-loss backward")
    agree(layer.backward(2.5), 2.5 * dx, TOL[dtype], "softmax-with-loss backward, dout 2.5")


def test_mul_and_add_layers():
    # the book's apple example (chapter 5): price 220, dapple 2.2, dnum 110, dtax 200
    mul_apple, mul_tax = MulLayer(), MulLayer()
    price = mul_tax.forward(mul_apple.forward(100.0, 2.0), 1.1)
    agree(price, 220.0, 1e-15, "price")
    dapple_price, dtax = mul_tax.backward(1.0)
    dapple, dnum = mul_apple.backward(dapple_price)
    agree([dapple, dnum, dtax], [2.2, 110.0, 200.0], 1e-15, "apple backward")
    add = AddLayer()
    assert add.forward(3.0, 4.5) == 7.5
    assert add.backward(2.0) == (2.0, 2.0)


# ---------------------------------------------------------------------------
# TwoLayerNet: predict, loss, accuracy, gradient
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_network_methods(dtype, activation):
    rng = np.random.default_rng(6)
    p = R.two_layer_params(rng, 9, 5, 4, dtype)
    x = R.dense_inputs(rng, 10, 9, dtype)
    t = rng.integers(0, 4, 10)
    T = np.eye(4, dtype=dtype)[t]
    net = net_like(p, activation, dtype)
    p64, x64 = as64(p), x.astype(np.float64)
    y = net.predict(x)
    agree(y, R.two_layer_predict(p64, x64, activation), TOL[dtype], "predict = probabilities")
    agree(y.sum(axis=1), np.ones(10), TOL[dtype], "predict rows sum to 1")
    agree(net.scores(x), R.two_layer_forward(p64, x64, activation)[2], TOL[dtype], "scores")
    for tt in (t, T):
        agree(net.loss(x, tt), R.two_layer_loss(p64, x64, tt, activation), TOL[dtype], "loss")
        ref_acc = R.two_layer_accuracy(p64, x64, tt, activation)
        assert 0 < ref_acc < 1                                  # the data separate right from wrong
        for bs in (3, 10, 10000):                               # chunks with a short last one
            assert net.accuracy(x, tt, batch_size=bs) == ref_acc
        g = net.gradient(x, tt)
        rg = R.two_layer_gradient(p64, x64, tt, activation)
        for k in rg:
            agree(g[k], rg[k], TOL[dtype], f"gradient {k}")
            assert g[k].dtype == dtype


# ---------------------------------------------------------------------------
# numerical gradient: full and incremental against the book's loop in long double
# ---------------------------------------------------------------------------
def _small_case(activation, seed=7, n=8, d=12, hidden=6, c=4):
    rng = np.random.default_rng(seed)
    p = R.two_layer_params(rng, d, hidden, c)
    x = R.dense_inputs(rng, n, d)
    t = rng.integers(0, c, n)
    return p, x, t


def inc_tol(activation, key):
    """Incremental strategy against the long-double loop, over the largest gradient entry:
    measured <= 5e-15 from the series, <= 2.4e-13 where ReLU's W2 falls back."""
    return 1e-12 if (activation, key) == ("relu", "W2") else 3e-14


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("h", [1e-4, 1e-3])
def test_numerical_gradient_against_the_books_loop(activation, h):
    """The reference is the book's loop (every loss recomputed) in long double, whose
    rounding (1e-19) is far below float64's.  Measured: incremental 1e-16..8e-15 from it
    (its series are exact to float64 rounding; dropping its last term c5 h^4 x^5 leaves
    differences of 1e-12 at h = 1e-3), full 1e-13..6e-12 (two float64 losses 2h apart).
    ReLU's W2 entries whose activation exceeds SERIES_MAX / h fall back to two float64
    losses as well (measured 2.4e-13 at h = 1e-3)."""
    p, x, t = _small_case(activation)
    net = net_like(p, activation)
    ref = R.two_layer_numerical_gradient(p, x, t, activation, h=h, dtype=np.longdouble)
    inc = net.numerical_gradient(x, t, "incremental", h=h)
    full = net.numerical_gradient(x, t, "full", h=h)
    scale = max(float(np.abs(v).max()) for v in ref.values())      # 0.4
    for k in ref:
        agree(inc[k], ref[k], inc_tol(activation, k), f"incremental {k}", scale)
        agree(full[k], ref[k], 2e-11, f"full {k}", scale)


@pytest.mark.parametrize("activation, n", [("sigmoid", 1), ("relu", 2)])
def test_incremental_keeps_every_series_term(activation, n):
    """Large second-layer weights (scale 8) make the series' last term c5 h^4 x^5 large
    enough to see at h = 1e-3: measured 1e-13 (sigmoid) and 3e-12 (ReLU) of the largest
    gradient entry, against 1.5e-15 and 3.4e-16 for the difference of the complete
    series from the long-double loop.  The tolerance 3e-14 lies between."""
    rng = np.random.default_rng(0)
    p = R.two_layer_params(rng, 6, 4, 3)
    p["W2"] *= 16
    x = R.dense_inputs(rng, n, 6)
    t = rng.integers(0, 3, n)
    got = net_like(p, activation).numerical_gradient(x, t, "incremental", h=1e-3)
    ref = R.two_layer_numerical_gradient(p, x, t, activation, h=1e-3, dtype=np.longdouble)
    scale = max(float(np.abs(v).max()) for v in ref.values())
    for k in ref:
        agree(got[k], ref[k], 3e-14, f"incremental, large W2 {k}", scale)


@pytest.mark.parametrize("method", ["incremental", "full"])
@pytest.mark.parametrize("b2", [[800.0, -800.0, 0.0, 60.0], [-800.0, 0.0, 800.0, 795.0]],
                         ids=["max-first", "max-third"])
def test_numerical_gradient_of_large_scores(method, b2):
    """Scores of +-800 with the maximum first (740 above the others) or third: every
    softmax in the two strategies must subtract the row's maximum, wherever it is
    (exp(740) overflows).  Differences over the largest entry, or over 1 where the
    gradient vanishes (max-first: saturated probabilities); with the maximum third the
    gradient is small (the classes of 800 and 795 share the probability), so the
    differences are larger relative to it: measured 2.4e-14 (incremental) and 5.8e-11
    (full)."""
    rng = np.random.default_rng(3)
    p = R.two_layer_params(rng, 5, 3, 4)
    p["b2"] = np.array(b2)
    x, t = R.dense_inputs(rng, 4, 5), np.array([2, 3, 0, 3])
    got = net_like(p).numerical_gradient(x, t, method, h=1e-3)
    ref = R.two_layer_numerical_gradient(p, x, t, h=1e-3, dtype=np.longdouble)
    scale = max(max(float(np.abs(v).max()) for v in ref.values()), 1e-300 if b2[1] == 0 else 1.0)
    for k in ref:
        assert np.all(np.isfinite(got[k])), k
        agree(got[k], ref[k], 1e-13 if method == "incremental" else 3e-10, f"{method}, large scores {k}",
              scale)


def test_incremental_falls_back_for_the_samples_with_large_inputs():
    """One sample with pixels of 200 (shifts 0.02 > SERIES_MAX), the others in [0, 1]:
    that sample's units fall back to exact differences, the others use the series.
    Measured 1.6e-15 of the largest entry; the series used for the large sample too
    (its reach taken from another row) gives 1.3e-12."""
    rng = np.random.default_rng(0)
    p = R.two_layer_params(rng, 6, 4, 3)
    x = R.dense_inputs(rng, 3, 6)
    x[0, 2:] *= 200
    t = rng.integers(0, 3, 3)
    got = net_like(p).numerical_gradient(x, t)
    ref = R.two_layer_numerical_gradient(p, x, t, dtype=np.longdouble)
    scale = max(float(np.abs(v).max()) for v in ref.values())
    for k in ref:
        agree(got[k], ref[k], 3e-14, f"incremental, one large sample {k}", scale)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_numerical_gradient_delta_zero_and_one_hot(activation):
    p, x, t = _small_case(activation, seed=8)
    net = net_like(p, activation)
    ref = R.two_layer_numerical_gradient(p, x, t, activation, h=1e-3, delta=0.0, dtype=np.longdouble)
    scale = max(float(np.abs(v).max()) for v in ref.values())
    for method in ("incremental", "full"):
        got = net.numerical_gradient(x, np.eye(4)[t], method, h=1e-3, delta=0.0)
        for k in ref:
            tol = inc_tol(activation, k) if method == "incremental" else 2e-11   # as above
            agree(got[k], ref[k], tol, f"{method} delta=0 {k}", scale)


def test_numerical_gradient_float32_net_rejects_a_forward_difference():
    """A float32 net's numerical gradient is the float64 central difference rounded to
    float32: it agrees with the reference to float32 rounding (measured 6e-8 relative).
    A forward difference (L(p + h) - L(p)) / h differs from it by about h L''/2, measured
    1e-4 relative here: the tolerance 1e-6 rejects it."""
    p, x, t = _small_case("sigmoid", seed=9)
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    net = net_like(p32, "sigmoid", np.float32)
    x32 = x.astype(np.float32)
    got = net.numerical_gradient(x32, t)
    ref = R.two_layer_numerical_gradient(as64(p32), x32.astype(np.float64), t, "sigmoid",
                                         dtype=np.longdouble)
    forward = {}
    base = R.two_layer_loss(as64(p32), x32.astype(np.float64), t)
    for k in ("W1", "b1"):
        q = as64(p32)
        g = np.zeros_like(q[k])
        for i in np.ndindex(q[k].shape):
            q[k][i] += 1e-4
            g[i] = (R.two_layer_loss(q, x32.astype(np.float64), t) - base) / 1e-4
            q[k][i] -= 1e-4
        forward[k] = g
    for k in ref:
        assert got[k].dtype == np.float32
        agree(got[k], ref[k], 1e-6, f"float32 {k}")
    for k in forward:
        with pytest.raises(AssertionError):
            agree(forward[k], ref[k], 1e-6, f"forward difference {k}")


@needs_two_threads
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_incremental_on_two_threads(monkeypatch, activation):
    """Past PARALLEL_MIN_PAIRS the incremental kernels run on every thread (each thread
    its own samples and W1 rows, so the result is the same to the bit)."""
    p, x, t = _small_case(activation, seed=10, n=9, d=13, hidden=5, c=3)
    net = net_like(p, activation)
    with num_threads(1):
        one = net.numerical_gradient(x, t, "incremental")
    monkeypatch.setattr(NUM, "PARALLEL_MIN_PAIRS", 1)
    seen = []
    real = NUM._incremental

    def spy(*args):
        seen.append(numba.get_num_threads())
        return real(*args)

    monkeypatch.setattr(NUM, "_incremental", spy)
    with num_threads(2):
        two = net.numerical_gradient(x, t, "incremental")
    assert seen == [2]
    ref = R.two_layer_numerical_gradient(p, x, t, activation, dtype=np.longdouble)
    scale = max(float(np.abs(v).max()) for v in ref.values())
    for k in ref:
        assert np.array_equal(one[k], two[k]), k
        agree(two[k], ref[k], inc_tol(activation, k), f"incremental, 2 threads {k}", scale)


@needs_two_threads
def test_full_on_two_threads_equals_one():
    p, x, t = _small_case("relu", seed=11)
    net = net_like(p, "relu")
    with num_threads(1):
        one = net.numerical_gradient(x, t, "full")
    with num_threads(2):
        two = net.numerical_gradient(x, t, "full")
    for k in one:
        assert np.array_equal(one[k], two[k]), k


def test_gradient_agrees_with_the_numerical_reference():
    """Backprop (delta ignored) against the book's numerical gradient with delta = 0:
    they differ by the central difference's h^2 term only (measured 3e-9 relative)."""
    for activation in ("sigmoid", "relu"):
        p, x, t = _small_case(activation, seed=12)
        g = net_like(p, activation).gradient(x, t)
        num = R.two_layer_numerical_gradient(p, x, t, activation, delta=0.0)
        for k in g:
            agree(g[k], num[k], 1e-7, f"backprop vs numerical {k}")


def test_public_names():
    # the book's names are exported where the README says
    for name in ("sigmoid", "relu", "softmax", "cross_entropy_error", "mean_squared_error",
                 "step_function", "identity_function", "TwoLayerNet", "SGD", "Momentum", "Adam"):
        assert hasattr(fastnn, name), name
