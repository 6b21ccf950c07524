"""The boundary of the book API, value by value: scalars and 1-D inputs, the book's
default hyperparameters, dout scalings, and the checks a loose comparison would let
through.  Each test here was written for a mutant that the value tests left alive
(see tests/MUTANTS.md)."""
import numpy as np
import pytest

from fastnn import SGD, Adam, Affine, Momentum, ShapeError, SoftmaxWithLoss, TwoLayerNet
from fastnn import functions as F

from . import reference as R
from .reference import agree


def test_optimizer_defaults_are_the_books():
    assert SGD().lr == 0.01
    m = Momentum()
    assert (m.lr, m.momentum) == (0.01, 0.9)
    a = Adam()
    assert (a.lr, a.beta1, a.beta2, a.eps) == (0.001, 0.9, 0.999, 1e-8)
    net = TwoLayerNet(3, 2, 2, seed=0)
    std = TwoLayerNet(3, 2, 2, seed=0, weight_init_std=1.0)
    agree(net.params["W1"], 0.01 * std.params["W1"], 1e-15, "weight_init_std 0.01")


def test_functions_of_scalars_return_scalars():
    for fn, x, want in ((F.sigmoid, 0.0, 0.5), (F.relu, -2.0, 0.0), (F.relu, 1.5, 1.5),
                        (F.step_function, 3.0, 1)):
        y = fn(x)
        assert not isinstance(y, np.ndarray) and np.ndim(y) == 0 and y == want, fn.__name__
    for shape in ((1,), (2, 3)):
        y = F.sigmoid(np.zeros(shape))
        assert isinstance(y, np.ndarray) and y.shape == shape


def test_mean_squared_error_shapes_must_match():
    with pytest.raises(ShapeError, match=r"t: expected the shape of y \(3,\)"):
        F.mean_squared_error(np.zeros(3), np.zeros(4))
    with pytest.raises(ShapeError):
        F.mean_squared_error(np.zeros(4), np.zeros(3))


def test_integer_one_hot_of_the_wrong_width_is_named_as_given():
    y = R.softmax(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"got \(2, 4\) int64"):
        F.cross_entropy_error(y, np.zeros((2, 4), dtype=np.int64))


def test_affine_edges():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer = Affine(W, b)
    x = rng.standard_normal(4)
    out = layer.forward(x)                                   # one sample as a 1-D array
    assert out.shape == (3,)
    agree(out, x @ W + b, 1e-15, "1-D affine")
    dout = rng.standard_normal(3)                            # its gradient, 1-D like the output
    dx = layer.backward(dout)
    assert dx.shape == (4,)
    agree(dx, W @ dout, 1e-15, "1-D affine dx")
    agree(layer.dW, np.outer(x, dout), 1e-15, "1-D affine dW")
    with pytest.raises(TypeError, match="float32 like W"):
        Affine(W.astype(np.float32), b.astype(np.float32)).forward(np.ones((2, 4)))
    with pytest.raises(TypeError, match="float64 like W"):
        layer.forward(np.ones((2, 4), dtype=np.float32))
    layer.forward(rng.standard_normal((2, 4)))
    for bad in ((3, 2), (1, 6), (2, 4), (2, 2), (7,), (4,)):   # wrong 2-D shape or wrong size
        with pytest.raises(ShapeError, match=r"dout: expected \(2, 3\)"):
            layer.backward(np.ones(bad))



def test_softmax_with_loss_of_one_sample_and_dout_scaling():
    a = np.array([0.3, -1.2, 2.0, 0.5])
    layer = SoftmaxWithLoss()
    loss = layer.forward(a, 2)
    ref_loss, _, ref_dx = R.softmax_with_loss(a.reshape(1, -1), np.array([2]))
    agree(loss, ref_loss, 1e-15, "1-D loss")
    dx = layer.backward()
    assert dx.shape == (4,)
    agree(dx, ref_dx[0], 1e-15, "1-D dx")
    for dout in (0.5, 1.0, 3.0, -1.0, 0.0):
        agree(layer.backward(dout), dout * ref_dx[0], 1e-15, f"dout {dout}")
    a2 = np.array([[0.3, -1.2, 2.0], [1.0, 0.0, -np.inf]])       # -inf scores are allowed
    t2 = np.array([2, 0])
    loss, _, ref_dx2 = R.softmax_with_loss(a2, t2)
    agree(layer.forward(a2, t2), loss, 1e-15, "loss with a -inf score")
    agree(layer.backward(), ref_dx2, 1e-15, "dx with a -inf score")


@pytest.mark.parametrize("shape", [(0, 4), (3, 8), (4, 2), (2, 3, 2), ()])
def test_affine_refuses_inputs_that_do_not_flatten_to_its_width(shape):
    layer = Affine(np.ones((4, 3)), np.zeros(3))
    with pytest.raises(ShapeError, match=r"x: expected \(N, 4\) float64"):
        layer.forward(np.ones(shape))


def test_affine_of_width_one():
    layer = Affine(np.array([[1.0, -2.0, 0.5]]), np.array([0.0, 1.0, 2.0]))
    agree(layer.forward(np.ones((1, 1))), [[1.0, -1.0, 2.5]], 0, "(1, 1) input")
    agree(layer.forward(np.array([2.0])), [2.0, -3.0, 3.0], 0, "(1,) input")
    with pytest.raises(ShapeError):
        layer.forward(np.float64(2.0))                      # a 0-d array is not a sample


def test_add_layer_passes_dout_through_unchanged():
    from fastnn import AddLayer
    dx, dy = AddLayer().backward(3)
    assert (dx, dy) == (3, 3) and type(dx) is int and type(dy) is int   # dout * 1, as in the book


def test_network_defaults_are_the_books():
    net = TwoLayerNet(4, 3, 2, seed=0)
    assert (net.activation, net.dtype, net.sizes) == ("sigmoid", np.float64, (4, 3, 2))
    assert not net.params["b1"].any() and not net.params["b2"].any()
    rng = np.random.default_rng(1)
    x, t = R.dense_inputs(rng, 5, 4), rng.integers(0, 2, 5)
    # numerical_gradient: incremental, h = 1e-4 and the book's delta = 1e-7 by default
    default = net.numerical_gradient(x, t)
    explicit = net.numerical_gradient(x, t, "incremental", h=1e-4, delta=1e-7)
    for k in default:
        assert np.array_equal(default[k], explicit[k]), k
    # train_step: lr = 0.01 by default; a new lr, larger or smaller, is used at once
    ref = {k: v.copy() for k, v in net.params.items()}
    for lr in (None, 0.5, 0.5, 0.1):
        if lr is None:
            net.train_step(x, t)
        else:
            net.train_step(x, t, lr=lr)
        R.train_sgd(ref, x, t, [np.arange(5)], 0.01 if lr is None else lr)
        for k in ref:
            agree(net.params[k], ref[k], 5e-15, f"{k} after lr {lr}")


@pytest.mark.parametrize("key", ["W1", "b1", "W2", "b2"])
def test_network_follows_each_replaced_parameter(key):
    rng = np.random.default_rng(2)
    net = TwoLayerNet(4, 3, 2, seed=0)
    x, t = R.dense_inputs(rng, 5, 4), rng.integers(0, 2, 5)
    net.loss(x, t)                                          # layers built for the old arrays
    net.params[key] = rng.standard_normal(net.params[key].shape)
    p = {k: v.copy() for k, v in net.params.items()}
    agree(net.loss(x, t), R.two_layer_loss(p, x, t), 1e-15, f"loss after replacing {key}")
    agree(net.predict(x), R.two_layer_predict(p, x), 1e-15, f"predict after replacing {key}")


def test_affine_backward_passes_inf():
    layer = Affine(np.ones((2, 1)), np.zeros(1))
    layer.forward(np.ones((1, 2)))
    assert np.array_equal(layer.backward(np.array([[np.inf]])), [[np.inf, np.inf]])
    assert np.array_equal(layer.dW, [[np.inf], [np.inf]])


def test_labels_beyond_the_last_class_are_refused():
    from kernels import checks
    for bad in (3, 4, 1000, -1):
        assert not checks.labels_in_range(np.array([0, 2, bad], dtype=np.intp), 3), bad
    assert checks.labels_in_range(np.array([0, 1, 2], dtype=np.intp), 3)
    net = TwoLayerNet(4, 3, 3, seed=0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[0, 7\]"):
        net.loss(np.ones((2, 4)), [0, 7])


@pytest.mark.parametrize("cls", ["Relu", "Sigmoid"])
def test_activation_layers_pass_inf_and_check_dout_shape(cls):
    import fastnn
    layer = getattr(fastnn, cls)()
    y = layer.forward(np.array([[np.inf, -np.inf, 0.5, -0.5]] * 3))   # inf allowed, as in NumPy
    want = R.relu(np.array([np.inf, -np.inf, 0.5, -0.5])) if cls == "Relu" else \
        np.array([1.0, 0.0, R.sigmoid(0.5), R.sigmoid(-0.5)])
    assert np.array_equal(y[0], want)
    with pytest.raises(ShapeError, match=r"dout: expected \(3, 4\) float64"):
        layer.backward(np.ones((2, 6)))                    # right size, wrong shape
    with pytest.raises(ShapeError):
        layer.backward(np.ones((4, 3)))


def test_csr_arrays_hold_exactly_the_non_zeros():
    from kernels.sparse import to_csr
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0], [0.0, 0.0, 0.0]])
    csr = to_csr(x)
    assert list(csr.indptr) == [0, 1, 3, 3]
    assert list(csr.indices) == [1, 0, 2] and list(csr.values) == [1.5, 2.0, -3.0]
    assert csr.shape == (3, 3)


def test_activation_backward_passes_inf():
    from fastnn import Relu
    layer = Relu()
    layer.forward(np.array([1.0, -1.0, 2.0]))
    assert np.array_equal(layer.backward(np.array([np.inf, np.inf, -np.inf])), [np.inf, 0.0, -np.inf])


def test_numerical_gradient_step_and_delta_are_keyword_only():
    from fastnn.numerical import numerical_gradient
    net = TwoLayerNet(3, 2, 2, seed=0)
    with pytest.raises(TypeError):
        numerical_gradient(net, np.ones((2, 3)), [0, 1], "full", 1e-4)


def test_network_converts_replaced_parameters_and_checks_targets():
    rng = np.random.default_rng(3)
    net = TwoLayerNet(4, 3, 2, seed=0)
    x, t = R.dense_inputs(rng, 5, 4), rng.integers(0, 2, 5)
    net.loss(x, t)
    net.params["W2"] = np.asfortranarray(net.params["W2"])   # made C-contiguous on use
    net.loss(x, t)
    assert net.params["W2"].flags.c_contiguous
    net.params["W1"] -= 0.5                                   # in-place updates are seen
    p = {k: v.copy() for k, v in net.params.items()}
    agree(net.loss(x, t), R.two_layer_loss(p, x, t), 1e-15, "loss after W1 -= 0.5")
    with pytest.raises(ShapeError, match=r"t: expected \(5,\) integer labels or \(5, 2\) one-hot, "
                                         r"got \(5, 3\) float64"):
        net.loss(x, np.zeros((5, 3)))
    with pytest.raises(TypeError, match=r"t: expected \(5,\) integer labels"):
        net.loss(x, np.zeros((5, 2, 1)))
    net.params["b1"] = net.params["b1"].astype(np.float32)   # another dtype: refused, named
    with pytest.raises(TypeError, match=r"params\['b1'\]"):
        net.loss(x, t)


def test_network_takes_lists_and_counts_every_sample():
    rng = np.random.default_rng(4)
    p = R.two_layer_params(rng, 4, 3, 3)
    net = TwoLayerNet(4, 3, 3)
    for k in p:
        net.params[k][...] = p[k]
    x, t = R.dense_inputs(rng, 9, 4), rng.integers(0, 3, 9)
    agree(net.loss(x, list(t)), R.two_layer_loss(p, x, t), 1e-15, "labels as a list")
    right = np.argmax(R.two_layer_predict(p, x), axis=1) == t
    assert right.any() and not right.all()
    for i in range(9):                                       # each sample on its own
        assert net.accuracy(x[i:i + 1], list(t[i:i + 1])) == float(right[i]), i
    with pytest.raises(TypeError):
        net.numerical_gradient(x, t, "full", 1e-4)          # h and delta are keyword-only


# the book's overflow guard: the row maximum, wherever it is, subtracted before exp
LARGE = np.array([[1000.0, 0.0, -1000.0, 3.0], [0.0, 1000.0, -5.0, 3.0],
                  [-7.0, 3.0, 1000.0, -1000.0], [-1000.0, 0.0, -500.0, 700.0]])


def test_softmax_subtracts_the_row_maximum(dtype):
    a = LARGE.astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-15     # measured 1.9e-8 and 0
    y = F.softmax(a)
    assert np.all(np.isfinite(y))
    agree(y, R.softmax(LARGE), tol, "softmax of large scores")
    layer = SoftmaxWithLoss()
    t = np.array([0, 3, 1, 2])
    agree(layer.forward(a, t), R.cross_entropy_error(R.softmax(LARGE), t), tol, "loss of large scores")
    agree(layer.backward(), R.softmax_with_loss(LARGE, t)[2], tol, "dx of large scores")


def test_cross_entropy_takes_any_target_weights():
    """-sum(t log(y + 1e-7)) / N for any t, negative entries included (only zeros skipped)."""
    y = R.softmax(np.array([[0.2, -0.3, 1.0], [0.0, 0.5, -1.0]]))
    t = np.array([[-1.0, 0.5, 1.5], [0.0, -0.25, 2.0]])
    agree(F.cross_entropy_error(y, t), R.cross_entropy_error(y, t), 1e-15, "signed soft targets")


def test_boundary_checks_value_by_value():
    from fastnn import Relu
    from fastnn.numerical import numerical_gradient
    with pytest.raises(ShapeError, match="expected a non-empty array"):
        F.sigmoid(np.array([]))
    net = TwoLayerNet(1, 1, 2, seed=0)                       # sizes of 1 are positive integers
    x = np.array([[0.5], [1.0]])
    u8 = np.array([0, 1], dtype=np.uint8)                    # unsigned labels, as MNIST stores them
    agree(net.loss(x, u8), net.loss(x, np.array([0, 1])), 0, "uint8 labels")
    # the module function defaults to the book's h = 1e-4 and delta = 1e-7, like the method
    a, b = numerical_gradient(net, x, u8), net.numerical_gradient(x, u8)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    y = R.softmax(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="integer labels"):
        F.cross_entropy_error(y, np.array([0.0, 1.0]))       # float labels are not one-hot rows
    with pytest.raises(ShapeError, match=r"got \(\) int64"):
        F.cross_entropy_error(y, np.int64(1))               # one label for two samples
    layer = SoftmaxWithLoss()
    with pytest.raises(TypeError, match="integer labels"):
        layer.forward(np.zeros(3), np.array([0.0, 1.0, 0.0, 0.0]))   # 4 floats for 3 classes
    with pytest.raises(ShapeError):
        layer.forward(np.zeros(3), np.array([0, 1]))        # two labels for one sample
    relu = Relu()
    relu.forward(np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="dout: expected float32"):
        relu.backward(np.ones(3))                            # float64 dout for a float32 layer
