"""The values the seed notes print, reproduced through the public API."""
import numpy as np
import pytest

import fastnn
from fastnn import AND, NAND, OR, XOR, AddLayer, MulLayer
from fastnn.examples import forward, init_network

T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])


def test_softmax_seed_values():
    y = fastnn.softmax(np.array([0.3, 2.9, 4.0]))
    np.testing.assert_allclose(y, [0.01821127, 0.24519181, 0.73659691], atol=5e-9)
    assert y.sum() == pytest.approx(1.0, abs=1e-15)


def test_mean_squared_error_seed_values():
    assert fastnn.mean_squared_error(Y1, T) == pytest.approx(0.0975, abs=1e-15)
    assert fastnn.mean_squared_error(Y2, T) == pytest.approx(0.5975, abs=1e-15)


def test_cross_entropy_seed_values():
    assert fastnn.cross_entropy_error(Y1, T) == pytest.approx(0.510825457099338, abs=1e-14)
    assert fastnn.cross_entropy_error(Y2, T) == pytest.approx(2.302584092994546, abs=1e-14)
    assert fastnn.cross_entropy_error(Y1, 2) == pytest.approx(0.510825457099338, abs=1e-14)


def test_three_layer_forward():
    y = forward(init_network(), np.array([1.0, 0.5]))
    np.testing.assert_allclose(y, [0.31682708, 0.69627909], atol=5e-9)
    y32 = forward(init_network(np.float32), np.array([1.0, 0.5], np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, [0.31682708, 0.69627909], atol=1e-6)


def test_apple_example():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = MulLayer(), MulLayer()
    price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax)
    assert price == pytest.approx(220)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert (dapple, dapple_num, dtax) == (pytest.approx(2.2), pytest.approx(110), pytest.approx(200))


def test_apple_orange_example():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    ma, mo, add, mt = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    price = mt.forward(add.forward(ma.forward(apple, apple_num), mo.forward(orange, orange_num)), tax)
    assert price == pytest.approx(715)
    dall, dtax = mt.backward(1)
    da, do = add.backward(dall)
    assert ma.backward(da) == (pytest.approx(2.2), pytest.approx(110))
    assert mo.backward(do) == (pytest.approx(3.3), pytest.approx(165))
    assert dtax == pytest.approx(650)


@pytest.mark.parametrize("gate,table", [
    (AND, [0, 0, 0, 1]), (NAND, [1, 1, 1, 0]), (OR, [0, 1, 1, 1]), (XOR, [0, 1, 1, 0])])
def test_gates(gate, table):
    assert [gate(a, b) for a, b in [(0, 0), (1, 0), (0, 1), (1, 1)]] == table


def test_step_function():
    np.testing.assert_array_equal(fastnn.step_function(np.array([-1.0, 0.0, 1.0, 2.0])), [0, 0, 1, 1])
    assert fastnn.step_function(3.0) == 1


def test_packages_resolve_to_this_project():
    import pathlib

    import kernels

    root = pathlib.Path(__file__).resolve().parent.parent
    assert pathlib.Path(kernels.__file__).resolve().parent == root / "kernels"
    assert pathlib.Path(fastnn.__file__).resolve().parent == root / "fastnn"
    assert hasattr(kernels, "affine_forward")       # not the unrelated 'kernels' package on PyPI
