"""Property tests (hypothesis) for softmax, the losses and the layers' backward passes."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import fastnn
from fastnn import Affine, Relu, Sigmoid, SoftmaxWithLoss

from . import reference as ref

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
rows = st.tuples(st.integers(1, 8), st.integers(1, 12))


@settings(max_examples=60, deadline=None)
@given(rows.flatmap(lambda s: arrays(np.float64, s, elements=finite)), st.floats(-1e6, 1e6))
def test_softmax_rows_sum_to_one_and_ignore_a_shift(a, c):
    y = fastnn.softmax(a)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    assert (y >= 0).all()
    np.testing.assert_allclose(fastnn.softmax(a + c), y, atol=1e-9 + 1e-9 * abs(c))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 10), elements=st.floats(-1e30, 1e30)))
def test_softmax_never_overflows(a):
    y = fastnn.softmax(a)
    assert np.isfinite(y).all()
    assert abs(y.sum() - 1.0) < 1e-12


@settings(max_examples=60, deadline=None)
@given(rows.flatmap(lambda s: arrays(np.float64, s, elements=finite)), st.data())
def test_cross_entropy_of_softmax(a, data):
    y = ref.softmax(a)
    labels = np.array(data.draw(st.lists(st.integers(0, a.shape[1] - 1), min_size=a.shape[0], max_size=a.shape[0])))
    e = fastnn.cross_entropy_error(y, labels)
    assert -1e-7 <= e <= -np.log(1e-7) + 1e-9      # y = 1 gives -log(1 + 1e-7) < 0
    assert abs(e - ref.cross_entropy_error(y, labels)) < 1e-12
    assert abs(fastnn.cross_entropy_error(y, np.eye(a.shape[1])[labels]) - e) < 1e-12


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(arrays(np.float64, n, elements=finite),
                                                      arrays(np.float64, n, elements=finite))))
def test_mean_squared_error(pair):
    y, t = pair
    e = fastnn.mean_squared_error(y, t)
    assert e >= 0
    assert fastnn.mean_squared_error(y, y) == 0
    assert abs(e - ref.mean_squared_error(y, t)) <= 1e-12 * max(1.0, abs(e))


def _check_backward(layer_factory, x, dout):
    layer = layer_factory()
    layer.forward(x)
    dx = layer.backward(dout)
    num = ref.numerical_gradient(lambda: np.sum(layer_factory().forward(x) * dout), x)
    np.testing.assert_allclose(dx, num, rtol=1e-5, atol=1e-7)


small = st.floats(-3, 3, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4)).flatmap(
    lambda s: st.tuples(arrays(np.float64, (s[0], s[1]), elements=small), arrays(np.float64, (s[1], s[2]), elements=small),
                        arrays(np.float64, s[2], elements=small), arrays(np.float64, (s[0], s[2]), elements=small))))
def test_affine_backward_numerically(arrs):
    x, W, b, dout = arrs
    layer = Affine(W, b)
    layer.forward(x)
    layer.backward(dout)
    f = lambda: np.sum(Affine(W, b).forward(x) * dout)  # noqa: E731
    np.testing.assert_allclose(layer.dW, ref.numerical_gradient(f, W), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(layer.db, ref.numerical_gradient(f, b), rtol=1e-5, atol=1e-7)
    _check_backward(lambda: Affine(W, b), x, dout)


@settings(max_examples=25, deadline=None)
@given(rows.flatmap(lambda s: st.tuples(arrays(np.float64, s, elements=small), arrays(np.float64, s, elements=small))))
def test_sigmoid_backward_numerically(pair):
    _check_backward(Sigmoid, *pair)


@settings(max_examples=25, deadline=None)
@given(rows.flatmap(lambda s: st.tuples(arrays(np.float64, s, elements=small.filter(lambda v: abs(v) > 1e-3)),
                                        arrays(np.float64, s, elements=small))))
def test_relu_backward_numerically(pair):
    _check_backward(Relu, *pair)


@settings(max_examples=25, deadline=None)
@given(rows.flatmap(lambda s: st.tuples(arrays(np.float64, s, elements=small), st.lists(
    st.integers(0, s[1] - 1), min_size=s[0], max_size=s[0]))))
def test_softmax_with_loss_backward_numerically(pair):
    a, labels = pair
    labels = np.array(labels)
    layer = SoftmaxWithLoss()
    layer.forward(a, labels)
    num = ref.numerical_gradient(lambda: SoftmaxWithLoss().forward(a, labels), a)
    np.testing.assert_allclose(layer.backward(), num, rtol=1e-4, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(rows.flatmap(lambda s: st.tuples(*[arrays(np.float64, s, elements=small)] * 3)))
def test_mul_and_add_backward_numerically(arrs):
    from fastnn import AddLayer, MulLayer

    x, y, dout = arrs
    for cls in (MulLayer, AddLayer):
        layer = cls()
        layer.forward(x, y)
        dx, dy = layer.backward(dout)
        f = lambda: np.sum(cls().forward(x, y) * dout)  # noqa: E731
        np.testing.assert_allclose(dx, ref.numerical_gradient(f, x), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(dy, ref.numerical_gradient(f, y), rtol=1e-5, atol=1e-7)
