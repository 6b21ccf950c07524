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
    with pytest.raises(ShapeError, match=r"dout: expected \(2, 3\) float64, got \(3, 3\) float64"):
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
