"""Bad input gets one clear error naming the argument, what was expected and what came."""
import numpy as np
import pytest

import fastnn
from fastnn import Affine, Relu, ShapeError, SoftmaxWithLoss, TwoLayerNet
from fastnn.optimizers import SGD


@pytest.fixture
def net():
    return TwoLayerNet(784, 50, 10, seed=0)


def test_images_not_flattened(net):
    with pytest.raises(TypeError, match=r"^x: expected \(N, 784\) float64, got \(100, 28, 28\) uint8$"):
        net.loss(np.zeros((100, 28, 28), np.uint8), np.zeros(100, int))


def test_wrong_feature_count(net):
    with pytest.raises(ShapeError, match=r"^x: expected \(N, 784\) float64, got \(5, 783\) float64$"):
        net.predict(np.zeros((5, 783)))


def test_dtype_mismatch_with_the_net(net):
    # float32 is converted at the boundary (tests/test_threads.py); integers are not floats
    with pytest.raises(TypeError, match=r"x: expected \(N, 784\) float64, got \(5, 784\) int32"):
        net.accuracy(np.zeros((5, 784), np.int32), np.zeros(5, int))


def test_nan_in_batch(net):
    x = np.zeros((4, 784))
    x[2, 100] = np.nan
    with pytest.raises(ValueError, match=r"x: expected finite values, got 1 non-finite \(first nan at flat index 1668\)"):
        net.gradient(x, np.zeros(4, int))


@pytest.mark.parametrize("t,msg", [
    (np.zeros(5, int), r"t: expected \(4,\) integer labels or \(4, 10\) one-hot, got \(5,\) int64"),
    (np.zeros(4), r"t: expected \(4,\) integer labels, got \(4,\) float64"),
    (np.array([0, 1, 2, 10]), r"t: labels must lie in \[0, 10\), got values in \[0, 10\]"),
    (np.zeros((4, 9)), r"t: expected \(4,\) integer labels or \(4, 10\) one-hot, got \(4, 9\) float64"),
])
def test_bad_targets(net, t, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        net.loss(np.zeros((4, 784)), t)


def test_bad_net_arguments():
    with pytest.raises(ValueError, match="hidden_size: expected a positive integer, got 0"):
        TwoLayerNet(784, 0, 10)
    with pytest.raises(ValueError, match="activation: expected one of"):
        TwoLayerNet(784, 50, 10, activation="tanh")
    with pytest.raises(TypeError, match="dtype: expected float32 or float64, got int32"):
        TwoLayerNet(784, 50, 10, dtype=np.int32)


def test_function_errors():
    with pytest.raises(TypeError, match=r"x: expected \(N,\) float32 or float64, got \(3,\) int64"):
        fastnn.sigmoid(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="x: expected no NaN"):
        fastnn.relu(np.array([1.0, np.nan]))
    with pytest.raises(ShapeError, match=r"a: expected 1-D or 2-D float32 or float64, got \(2, 2, 2\) float64"):
        fastnn.softmax(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="a: expected finite values"):
        fastnn.softmax(np.array([1.0, np.inf]))
    with pytest.raises(ShapeError, match=r"t: expected the shape of y \(10,\), got \(9,\) int64"):
        fastnn.mean_squared_error(np.zeros(10), np.zeros(9, int))
    with pytest.raises(ValueError, match=r"t: labels must lie in \[0, 3\)"):
        fastnn.cross_entropy_error(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(TypeError, match="x: expected"):
        fastnn.sigmoid("abc")


def test_layer_errors(rng):
    layer = Affine(np.zeros((4, 3)), np.zeros(3))
    with pytest.raises(ShapeError, match=r"x: expected \(N, 4\) float64, got \(2, 5\) float64"):
        layer.forward(np.zeros((2, 5)))
    with pytest.raises(TypeError, match=r"x: expected \(N, 4\) float64 like W, got \(2, 4\) float32"):
        layer.forward(np.zeros((2, 4), np.float32))
    layer.forward(np.zeros((2, 4)))
    with pytest.raises(ShapeError, match=r"dout: expected \(2, 3\) float64 like the forward output, got \(3, 3\) float64"):
        layer.backward(np.zeros((3, 3)))
    with pytest.raises(ShapeError, match=r"b: expected \(3,\) float64, got \(4,\) float64"):
        Affine(np.zeros((4, 3)), np.zeros(4))
    relu = Relu()
    relu.forward(np.zeros((2, 2)))
    with pytest.raises(ShapeError, match=r"dout: expected \(2, 2\) float64 like the forward output, got \(2, 3\) float64"):
        relu.backward(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"t: expected \(2,\) integer labels or \(2, 3\) one-hot"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.zeros(3, int))


def test_optimizer_errors():
    with pytest.raises(ValueError, match="lr: expected a finite number > 0, got -0.1"):
        SGD(lr=-0.1)
    with pytest.raises(ValueError, match="lr: expected a finite number > 0, got nan"):
        SGD(lr=float("nan"))


def test_large_finite_values_are_not_mistaken_for_inf():
    x = np.full((2, 784), 3e38, np.float32)          # the sum overflows, the values are finite
    net = TwoLayerNet(784, 5, 10, dtype=np.float32, seed=0)
    assert net.check_input(x) is x
    x[1, 3] = np.inf
    with pytest.raises(ValueError, match=r"x: expected finite values, got 1 non-finite \(first inf at flat index 787\)"):
        net.check_input(x)


# -- what reaches the kernels: row numbers, prepared data, replaced parameters ------------
from fastnn.fused import FusedData, FusedSGD  # noqa: E402


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    x = rng.random((20, 784)) * (rng.random((20, 784)) < 0.3)
    return x, rng.integers(0, 10, 20)


@pytest.mark.parametrize("order,start,nsteps,batch,exc,msg", [
    (np.arange(20) + 10**6, 0, 2, 10, ValueError,
     r"^order: row numbers must lie in \[0, 20\) \(the prepared data's rows\), got values in \[1000000, 1000019\] in order\[0:20\]$"),
    (np.array([3, -1, 2, 5]), 0, 2, 2, ValueError, r"^order: row numbers must lie in \[0, 20\).*got values in \[-1, 5\]"),
    (np.arange(20) * 1.5, 0, 2, 10, TypeError, r"^order: expected a 1-D integer array of row numbers, got \(20,\) float64$"),
    (np.arange(20).reshape(2, 10), 0, 1, 10, ShapeError, r"^order: expected a 1-D integer array of row numbers, got \(2, 10\) int64$"),
    (np.arange(20), -1, 1, 10, ValueError, r"^start: expected an integer >= 0, got -1$"),
    (np.arange(20), 1.0, 1, 10, ValueError, r"^start: expected an integer >= 0, got 1.0$"),
    (np.arange(20), 0, 0, 10, ValueError, r"^nsteps: expected a positive integer, got 0$"),
    (np.arange(20), 0, 1, True, ValueError, r"^batch: expected a positive integer, got True$"),
    (np.arange(20), 15, 2, 10, ValueError, r"^start, nsteps, batch: steps 15 \+ 2 x 10 leave order of size 20$"),
])
def test_fused_run_checks_row_numbers(net, small, order, start, nsteps, batch, exc, msg):
    opt = FusedSGD(net, 0.1)
    data = opt.prepare(*small)
    W1 = net.params["W1"].copy()
    with pytest.raises(exc, match=msg) as e:
        opt.run(data, order, start, nsteps, batch)
    _one_line(e)
    np.testing.assert_array_equal(net.params["W1"], W1)          # nothing was updated


def test_fused_run_takes_any_integer_order(net, small):
    """int32, uint8 and lists of row numbers are fine: the same steps as int64."""
    a, b = TwoLayerNet(784, 50, 10, seed=0), TwoLayerNet(784, 50, 10, seed=0)
    la = FusedSGD(a, 0.1).run(FusedSGD(a, 0.1).prepare(*small), np.arange(20, dtype=np.uint8), 0, 2, 10).copy()
    lb = FusedSGD(b, 0.1).run(FusedSGD(b, 0.1).prepare(*small), list(range(20)), 0, 2, 10).copy()
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])


@pytest.mark.parametrize("other,exc,msg", [
    (dict(input_size=100), ShapeError, r"^data: prepared for input size 100, this net takes 784; prepare it with this net's FusedSGD$"),
    (dict(input_size=5000), ShapeError, r"^data: prepared for input size 5000, this net takes 784"),
    (dict(output_size=5), ShapeError, r"^data: prepared for 5 classes, this net has 10"),
    (dict(dtype=np.float32), TypeError, r"^data: prepared in float32, this net computes in float64"),
])
def test_data_prepared_for_another_net(net, other, exc, msg):
    kw = dict(input_size=784, hidden_size=50, output_size=10, dtype=np.float64) | other
    net2 = TwoLayerNet(**kw, seed=0)
    rng = np.random.default_rng(0)
    data = FusedSGD(net2, 0.1).prepare(rng.random((20, kw["input_size"])).astype(kw["dtype"]),
                                       rng.integers(0, kw["output_size"], 20))
    opt = FusedSGD(net, 0.1)
    for call in (lambda: opt.run(data, np.arange(20), 0, 2, 10), lambda: opt.evaluate(data)):
        with pytest.raises(exc, match=msg) as e:
            call()
        _one_line(e)


def test_data_not_from_prepare(net, small):
    opt = FusedSGD(net, 0.1)
    data = opt.prepare(*small)
    forged = FusedData(data.csr, np.full(20, 10**6), None)
    with pytest.raises(TypeError, match=r"^data: expected the FusedData returned by FusedSGD.prepare\(x, t\), got FusedData$"):
        opt.run(forged, np.arange(20), 0, 1, 10)
    with pytest.raises(TypeError, match=r"^data: expected the FusedData returned by FusedSGD.prepare\(x, t\), got tuple$"):
        opt.evaluate(tuple(data))
    with pytest.raises(ValueError, match="read-only"):        # what prepare returns cannot be changed
        data.labels[0] = 10**6
    with pytest.raises(ValueError, match="read-only"):
        data.csr.indices[0] = 10**6


@pytest.mark.parametrize("key,value,exc,msg", [
    ("W1", np.zeros((100, 50)), ShapeError, r"^params\['W1'\]: expected \(784, 50\) float64 \(the net is 784-50-10\), got \(100, 50\) float64$"),
    ("W1", np.zeros((50, 784)), ShapeError, r"^params\['W1'\]: expected \(784, 50\) float64 .*got \(50, 784\) float64$"),
    ("b1", np.zeros(5), ShapeError, r"^params\['b1'\]: expected \(50,\) float64 \(the net is 784-50-10\), got \(5,\) float64$"),
    ("W2", np.zeros((50, 10), np.float32), TypeError, r"^params\['W2'\]: expected \(50, 10\) float64 like the net, got \(50, 10\) float32$"),
    ("b2", [0.0] * 10, TypeError, r"^params\['b2'\]: expected \(10,\) float64 array, got list$"),
    ("b2", None, ValueError, r"^params: missing 'b2'; expected \(10,\) float64$"),
])
@pytest.mark.parametrize("method", ["predict", "loss", "accuracy", "gradient", "numerical_gradient", "train_step",
                                    "FusedSGD", "Trainer", "sizes"])
def test_replaced_params_are_checked_before_every_method(small, key, value, exc, msg, method):
    from fastnn.trainer import Trainer

    net = TwoLayerNet(784, 50, 10, seed=0)
    x, t = small
    if value is None:
        del net.params[key]
    else:
        net.params[key] = value
    calls = {
        "predict": lambda: net.predict(x), "loss": lambda: net.loss(x, t),
        "accuracy": lambda: net.accuracy(x, t), "gradient": lambda: net.gradient(x, t),
        "numerical_gradient": lambda: net.numerical_gradient(x[:2], t[:2]),
        "train_step": lambda: net.train_step(x, t, 0.1),
        "FusedSGD": lambda: FusedSGD(net, 0.1).prepare(x, t), "Trainer": lambda: Trainer(net, x, t),
        "sizes": lambda: net.sizes,
    }
    with pytest.raises(exc, match=msg) as e:
        calls[method]()
    _one_line(e)


def test_replaced_params_checked_again_after_prepare(net, small):
    opt = FusedSGD(net, 0.1)
    data = opt.prepare(*small)
    net.params["W1"] = np.zeros((100, 50))
    with pytest.raises(ShapeError, match=r"^params\['W1'\]"):
        opt.run(data, np.arange(20), 0, 2, 10)
    with pytest.raises(ShapeError, match=r"^params\['W1'\]"):
        opt.evaluate(data)


def test_non_contiguous_params_are_copied_not_refused(small):
    x, t = small
    a, b = TwoLayerNet(784, 50, 10, seed=0), TwoLayerNet(784, 50, 10, seed=0)
    b.params["W1"] = np.asfortranarray(b.params["W1"])
    wide = np.zeros((50, 20))
    wide[:, ::2] = b.params["W2"]
    b.params["W2"] = wide[:, ::2]                       # strided view, same values
    b.params["b1"].flags.writeable = False
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    assert a.train_step(x, t, 0.1) == b.train_step(x, t, 0.1)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert b.params[k].flags.c_contiguous and b.params[k].flags.writeable


# -- keyword arguments out of range ---------------------------------------------------------
@pytest.mark.parametrize("call,exc,msg", [
    (lambda n, x, t: n.accuracy(x, t, batch_size=0), ValueError, r"^batch_size: expected a positive integer, got 0$"),
    (lambda n, x, t: n.accuracy(x, t, batch_size=2.5), ValueError, r"^batch_size: expected a positive integer, got 2.5$"),
    (lambda n, x, t: n.numerical_gradient(x, t, method="book"), ValueError,
     r"^method: expected one of \('incremental', 'cached', 'full'\) or None, got 'book'$"),
    (lambda n, x, t: n.numerical_gradient(x, t, h=0), ValueError, r"^h: expected a finite number > 0, got 0$"),
    (lambda n, x, t: n.numerical_gradient(x, t, h=float("nan")), ValueError, r"^h: expected a finite number > 0, got nan$"),
    (lambda n, x, t: n.numerical_gradient(x, t, h="1e-4"), TypeError, r"^h: expected a number, got str '1e-4'$"),
    (lambda n, x, t: n.numerical_gradient(x, t, delta=-1), ValueError, r"^delta: expected a finite number >= 0, got -1$"),
    (lambda n, x, t: n.train_step(x, t, lr=0), ValueError, r"^lr: expected a finite number > 0, got 0$"),
    (lambda n, x, t: n.train_step(x, t, lr=None), TypeError, r"^lr: expected a number, got NoneType None$"),
    (lambda n, x, t: FusedSGD(n, 0.1, parallel="yes"), ValueError, r"^parallel: expected None, True or False, got 'yes'$"),
    (lambda n, x, t: FusedSGD("net", 0.1), TypeError,
     r"^net: expected a network described by kernels.graph \(with ops, theta, params, check_params, "
     r"check_input\), got str$"),
    (lambda n, x, t: TwoLayerNet(784, 50, 10, weight_init_std=float("inf")), ValueError,
     r"^weight_init_std: expected a finite number >= 0, got inf$"),
    (lambda n, x, t: TwoLayerNet(784, 50, 10, rng=0), TypeError, r"^rng: expected a numpy.random.Generator, got int$"),
    (lambda n, x, t: TwoLayerNet(784, 50, 10, dtype="x"), TypeError, r"^dtype: expected float32 or float64, got 'x'$"),
    (lambda n, x, t: TwoLayerNet(784, 2.0, 10), ValueError, r"^hidden_size: expected a positive integer, got 2.0$"),
])
def test_keyword_arguments_out_of_range(net, small, call, exc, msg):
    x, t = small
    with pytest.raises(exc, match=msg) as e:
        call(net, x[:3], t[:3])
    _one_line(e)


@pytest.mark.parametrize("make,msg", [
    (lambda: fastnn.Adam(beta2=1), r"^beta2: expected a number in \[0, 1\), got 1$"),
    (lambda: fastnn.Adam(beta1=1.0), r"^beta1: expected a number in \[0, 1\), got 1.0$"),
    (lambda: fastnn.Adam(beta1=-0.1), r"^beta1: expected a number in \[0, 1\), got -0.1$"),
    (lambda: fastnn.Adam(eps=0), r"^eps: expected a finite number > 0, got 0$"),
    (lambda: fastnn.Adam(lr=float("inf")), r"^lr: expected a finite number > 0, got inf$"),
    (lambda: fastnn.Momentum(momentum=1), r"^momentum: expected a number in \[0, 1\), got 1$"),
    (lambda: fastnn.Momentum(momentum=-0.5), r"^momentum: expected a number in \[0, 1\), got -0.5$"),
    (lambda: fastnn.SGD(lr=0), r"^lr: expected a finite number > 0, got 0$"),
])
def test_optimizer_hyper_parameters(make, msg):
    with pytest.raises(ValueError, match=msg):
        make()


def test_optimizer_update_checks_gradients():
    with pytest.raises(ShapeError, match=r"^grads\['W'\]: expected \(3,\) float64 like params\['W'\], got \(4,\) float64$"):
        fastnn.SGD(0.1).update({"W": np.zeros(3)}, {"W": np.zeros(4)})
    with pytest.raises(ValueError, match=r"^grads: missing 'W', which params has$"):
        fastnn.Adam().update({"W": np.zeros(3)}, {})


@pytest.mark.parametrize("params, grads, exc, msg", [
    ([np.zeros(3)], {"W": np.zeros(3)}, TypeError, r"^params: expected a dict of arrays, got list$"),
    ({"W": np.zeros(3)}, [np.zeros(3)], TypeError, r"^grads: expected a dict of arrays, got list$"),
    ({"W": np.zeros(3)}, 3.0, TypeError, r"^grads: expected a dict of arrays, got float$"),
    ({"W": [0.0, 0.0]}, {"W": np.zeros(2)}, TypeError,
     r"^params\['W'\]: expected a float array updated in place, got list$"),
    ({"W": np.zeros(2, int)}, {"W": np.zeros(2)}, TypeError,
     r"^params\['W'\]: expected a float array updated in place, got \(2,\) int64$"),
    ({"W": np.zeros(2, complex)}, {"W": np.zeros(2)}, TypeError,
     r"^params\['W'\]: expected a float array updated in place, got \(2,\) complex128$"),
    ({"W": np.zeros(3)}, {"W": np.zeros(2)}, ShapeError,
     r"^grads\['W'\]: expected \(3,\) float64 like params\['W'\], got \(2,\) float64$"),
    ({"W": np.zeros(3)}, {"W": [0.0, 0.0, 0.0, 0.0]}, ShapeError,
     r"^grads\['W'\]: expected \(3,\) float64 like params\['W'\], got \(4,\) float64$"),
])
def test_optimizer_update_checks_both_dicts(params, grads, exc, msg):
    """Every optimizer checks params and grads before it changes anything."""
    for opt in (SGD(0.1), fastnn.Momentum(0.1), fastnn.Adam()):
        with pytest.raises(exc, match=msg):
            opt.update(params, grads)


def test_edge_rates_still_train():
    """momentum 0, beta1 0 and beta2 0 are in range and update."""
    for opt in (fastnn.Momentum(0.1, momentum=0), fastnn.Adam(beta1=0, beta2=0)):
        p = {"W": np.array([1.0])}
        opt.update(p, {"W": np.array([1.0])})
        assert p["W"][0] < 1.0


# -- shapes that were accepted or cut silently ---------------------------------------------
def test_affine_refuses_a_1d_input_of_another_size():
    layer = Affine(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(ShapeError, match=r"^x: expected \(N, 3\) float64, got \(6,\) float64$"):
        layer.forward(np.ones(6))                     # was cut to its first 3 values
    np.testing.assert_array_equal(layer.forward(np.ones(3)), [3.0, 3.0])


def test_affine_backward_takes_the_forward_output_shape():
    layer = Affine(np.ones((3, 2)), np.zeros(2))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"^dout: expected \(2, 2\) float64 like the forward output, got \(4,\) float64$"):
        layer.backward(np.ones(4))


def test_affine_checks_replaced_weights():
    layer = Affine(np.ones((3, 2)), np.zeros(2))
    layer.b = np.zeros(1)                                  # the bias kernel would read past its end
    with pytest.raises(ShapeError, match=r"^b: expected \(2,\) float64, got \(1,\) float64$"):
        layer.forward(np.ones((2, 3)))


def test_transposed_one_hot_is_refused():
    with pytest.raises(ShapeError, match=r"^t: expected \(2,\) integer labels or \(2, 3\) one-hot, got \(3, 2\) float64$"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.eye(3)[:2].T.copy())


# -- messages that did not help ---------------------------------------------------------------
def test_gradient_without_targets(net, small):
    x, _ = small
    for method in (net.gradient, net.loss, net.accuracy, net.numerical_gradient):
        with pytest.raises(TypeError, match=r"^t: expected \(N,\) integer labels or \(N, 10\) one-hot, got None$"):
            method(x[:2], None)


@pytest.mark.parametrize("make,call", [
    (fastnn.Relu, lambda layer: layer.backward(np.zeros(3))),
    (fastnn.Sigmoid, lambda layer: layer.backward(np.zeros(3))),
    (lambda: Affine(np.zeros((3, 2)), np.zeros(2)), lambda layer: layer.backward(np.zeros((1, 2)))),
    (SoftmaxWithLoss, lambda layer: layer.backward()),
    (fastnn.MulLayer, lambda layer: layer.backward(1.0)),
])
def test_backward_before_forward(make, call):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"^{name}.backward: call forward first; backward uses what forward kept$"):
        call(layer)


def test_softmax_with_loss_dout_must_be_a_number():
    layer = SoftmaxWithLoss()
    layer.forward(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(TypeError, match=r"^dout: expected a number \(the loss is a scalar\), got \(2,\) float64$"):
        layer.backward(np.ones(2))
    with pytest.raises(ValueError, match=r"^dout: expected a finite number, got nan$"):
        layer.backward(float("nan"))


def test_empty_idx_file(tmp_path):
    from fastnn.datasets import DataError, load_mnist, write_idx

    for name, n in (("train-images-idx3-ubyte", 0), ("t10k-images-idx3-ubyte", 2)):
        write_idx(tmp_path / name, np.zeros((n, 28, 28), np.uint8))
        write_idx(tmp_path / name.replace("images-idx3", "labels-idx1"), np.zeros(n, np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: holds no images \(its header says 0x28x28\); "
                                        r"expected at least one$"):
        load_mnist(data_dir=tmp_path)


def test_load_mnist_arguments():
    from fastnn.datasets import load_mnist

    with pytest.raises(TypeError, match=r"^dtype: expected a floating type such as np.float32, got 'x'$"):
        load_mnist(dtype="x")
    with pytest.raises(TypeError, match=r"^flatten: expected True or False, got 'no'$"):
        load_mnist(flatten="no")


def test_pickled_npz_is_named_as_such(tmp_path):
    import pickle

    from fastnn.checkpoint import CheckpointError, load_checkpoint, load_net

    npz, npy, pkl = tmp_path / "w.npz", tmp_path / "w.npy", tmp_path / "w.pkl"
    np.savez(npz, W1=np.array([{"a": 1}], dtype=object), meta=np.array("{}"))
    np.save(npy, np.array([{"a": 1}], dtype=object))
    pkl.write_bytes(pickle.dumps({"W1": 1}))
    refuse = "; fastnn refuses to load pickles \\(unpickling can run code\\)$"
    with pytest.raises(CheckpointError, match=rf"w.npz: a .npz archive whose entry 'W1' holds pickled Python objects{refuse}"):
        load_net(npz)
    with pytest.raises(CheckpointError, match=rf"w.npz: a .npz archive whose entry 'W1' holds pickled Python objects{refuse}"):
        load_checkpoint(npz)
    with pytest.raises(CheckpointError, match=rf"w.npy: a .npy array of pickled Python objects, not a fastnn .npz file{refuse}"):
        load_net(npy)
    with pytest.raises(CheckpointError, match=rf"w.pkl: a Python pickle, not a fastnn .npz file{refuse}"):
        load_net(pkl)
    (tmp_path / "junk").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"junk: not a readable .npz file, truncated or corrupt \(not a zip archive, "):
        load_net(tmp_path / "junk")


def test_gradient_check_compare_shapes():
    from fastnn.gradcheck import compare

    with pytest.raises(ShapeError, match=r"^backprop: expected the shape of numerical \(3,\) \(non-empty\), got \(2,\)$"):
        compare(np.zeros(3), np.zeros(2))


# -- the command line: gradcheck and demo ------------------------------------------------------
@pytest.mark.parametrize("args,msg", [
    (["--tol", "nan"], "argument --tol: expected a finite number >= 0, got 'nan'"),
    (["--tol", "-1"], "argument --tol: expected a finite number >= 0, got '-1'"),
    (["--steps", "-3"], "argument --steps: expected an integer >= 0, got '-3'"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    (["--hidden", "0"], "argument --hidden: expected widths > 0, got 0 in '0'"),
])
def test_gradcheck_options(capsys, args, msg):
    from fastnn.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", *args])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"fastnn gradcheck: error: {msg}"


def test_gradcheck_on_a_data_set_smaller_than_the_batch(tmp_path, capsys):
    from fastnn.cli import main
    from fastnn.datasets import write_idx

    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("t10k", 2)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28)).astype(np.uint8))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", np.arange(n).astype(np.uint8))
    assert main(["gradcheck", "--data-dir", str(tmp_path), "--batch", "10"]) == 2
    assert capsys.readouterr().err == f"fastnn gradcheck: error: --batch 10: the training set of {tmp_path} has only 5 images\n"
    # training steps before the check use the whole set when it is smaller than 100
    assert main(["gradcheck", "--data-dir", str(tmp_path), "--batch", "3", "--steps", "2"]) == 0


def test_gradcheck_fails_on_nan_differences(monkeypatch, capsys):
    import fastnn.gradcheck
    from fastnn.cli import main

    nan = {k: {"mean_abs": np.nan, "max_abs": np.nan, "max_rel": np.nan} for k in ("W1", "b1", "W2", "b2")}
    monkeypatch.setattr(fastnn.gradcheck, "gradient_check", lambda *a, **k: nan)
    assert main(["gradcheck", "--dataset", "mnist-sample"]) == 1
    assert "FAIL: max abs difference nan exceeds --tol 1e-06" in capsys.readouterr().out


def test_demo_plots_errors_name_the_directory_or_figure(tmp_path, monkeypatch, capsys):
    import fastnn._atomic
    from fastnn.cli import main

    not_dir = tmp_path / "file"
    not_dir.write_text("")
    assert main(["demo", "--plots", str(not_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"fastnn demo: error: --plots {not_dir}: exists and is not a directory\n"
    assert captured.out == ""                                   # checked before anything is printed

    def refuse(dir=None, prefix="", suffix=""):
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}x7k2{suffix}")
    monkeypatch.setattr(fastnn._atomic.tempfile, "mkstemp", refuse)
    out_dir = tmp_path / "plots"
    assert main(["demo", "--plots", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert err == f"fastnn demo: error: {out_dir / 'gradient_field.png'}: cannot write the figure (Permission denied)\n"
    assert ".part" not in err


def test_prepared_data_do_not_follow_the_callers_labels(net, small):
    """prepare keeps its own copy of the checked labels: changing t afterwards cannot reach the kernels."""
    x, t = small
    t = np.ascontiguousarray(t, dtype=np.intp)
    opt = FusedSGD(net, 0.1)
    data = opt.prepare(x, t)
    t[:] = 10**6
    assert 0 <= opt.evaluate(data)[0] <= 1
    assert np.isfinite(opt.run(data, np.arange(20), 0, 2, 10)).all()


def test_trainer_evaluate_checks_what_reaches_the_kernels():
    """Labels past the classes used to reach the evaluation kernels unchecked (a segfault)."""
    from fastnn.trainer import Trainer, evaluate
    net = TwoLayerNet(784, 20, 10, seed=0)
    x = np.random.default_rng(0).random((50, 784))
    t = np.arange(50) % 10
    tr = Trainer(net, x, t, iterations=2, batch_size=10)
    with pytest.raises(ValueError, match=r"^t: labels must lie in \[0, 10\), got values in \[1000000, 1000009\]$"):
        tr.evaluate(x, t + 10**6)
    with pytest.raises(ValueError, match=r"^t: labels must lie in \[0, 10\)"):
        evaluate(net, x, t - 20)
    with pytest.raises(ShapeError, match=r"^x: expected \(N, 784\) float64, got \(50, 5\) float64$"):
        evaluate(net, x[:, :5], t)
    with pytest.raises(ValueError, match="^batch_size: expected a positive integer, got 0$"):
        evaluate(net, x, t, batch_size=0)
    with pytest.raises(TypeError, match="^net: expected a TwoLayerNet or a network built from a description \\(such as MultiLayerNet\\), got str$"):
        evaluate("net", x, t)
    t[:] = 10**6        # the trainer kept its own copy of the labels
    assert tr._evaluate(tr.x_train, tr.t_train)[0] == evaluate(net, x, np.arange(50) % 10)[0]


def test_trainer_names_an_unknown_numerical_method():
    from fastnn.trainer import Trainer
    net = TwoLayerNet(784, 5, 10, seed=0)
    with pytest.raises(ValueError, match="^numerical_method: expected one of 'incremental', 'cached', 'full', got 'book'$"):
        Trainer(net, np.zeros((20, 784)), np.zeros(20, int), batch_size=10, numerical_method="book")


@pytest.mark.parametrize("net_dtype, key, value, exc, msg", [
    (np.float32, "W1", np.zeros((784, 5)), TypeError,
     r"^params\['W1'\]: expected \(784, 5\) float32 like the net, got \(784, 5\) float64$"),
    (np.float64, "W1", np.zeros((785, 5)), ShapeError,
     r"^params\['W1'\]: expected \(784, 5\) float64 \(the net is 784-5-10\), got \(785, 5\) float64$"),
    (np.float64, "b2", np.zeros(11), ShapeError,
     r"^params\['b2'\]: expected \(10,\) float64 \(the net is 784-5-10\), got \(11,\) float64$"),
])
def test_replaced_parameter_of_a_wider_dtype_or_larger_shape_is_refused(net_dtype, key, value, exc, msg):
    net = TwoLayerNet(784, 5, 10, dtype=net_dtype, seed=0)
    net.params[key] = value.astype(net_dtype) if exc is ShapeError else value
    with pytest.raises(exc, match=msg):
        net.predict(np.zeros((2, 784), net_dtype))


@pytest.mark.parametrize("net_dtype, x_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_input_of_the_other_float_width_is_converted(net_dtype, x_dtype):
    net = TwoLayerNet(784, 5, 10, dtype=net_dtype, seed=0)
    x = np.random.default_rng(1).random((4, 784)).astype(x_dtype)
    got = net.predict(x)
    assert got.dtype == net_dtype
    np.testing.assert_array_equal(got, net.predict(x.astype(net_dtype)))


def test_a_float_row_is_one_hot_only_for_a_single_sample():
    """A 1-D float t of K values is a one-hot row when the batch has one sample; for a batch
    of several it is labels of the wrong dtype, refused as such."""
    loss = SoftmaxWithLoss()
    assert loss.forward(np.zeros((1, 3)), np.array([0.0, 1.0, 0.0])) == pytest.approx(np.log(3), rel=1e-6)
    with pytest.raises(TypeError, match=r"^t: expected \(3,\) integer labels, got \(3,\) float64$"):
        SoftmaxWithLoss().forward(np.zeros((3, 3)), np.array([0.0, 1.0, 0.0]))


@pytest.mark.parametrize("lr", [-0.5, 0.0])
def test_fused_sgd_lr_set_after_construction_is_checked_at_the_step(lr):
    """FusedSGD.lr may be changed between steps (as the book's SGD.lr); a value that is not
    > 0 is refused at the next step, naming lr, and nothing is updated."""
    net = TwoLayerNet(6, 4, 3, seed=0)
    opt = FusedSGD(net, 0.1)
    opt.lr = lr
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(ValueError, match=rf"^lr: expected a finite number > 0, got {lr}$"):
        opt.step(np.random.default_rng(0).random((5, 6)), np.array([0, 1, 2, 0, 1]))
    assert all(np.array_equal(before[k], net.params[k]) for k in before)


@pytest.mark.parametrize("forward_dtype,dout_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_dout_of_the_other_float_width_is_refused_either_way(forward_dtype, dout_dtype):
    layer = Relu()
    layer.forward(np.ones((2, 3), forward_dtype))
    with pytest.raises(TypeError, match=rf"^dout: expected {np.dtype(forward_dtype)} to match the forward output, "
                                        rf"got \(2, 3\) {np.dtype(dout_dtype)}$"):
        layer.backward(np.ones((2, 3), dout_dtype))
