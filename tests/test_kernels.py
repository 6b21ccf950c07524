"""Every kernel against the plain NumPy reference, on random shapes, in both dtypes."""
import numpy as np
import pytest

import kernels as K

from . import reference as ref
from .reference import TOL

SHAPES = [(1, 1), (1, 10), (3, 7), (100, 50), (37, 13)]


def rand(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("n", [1, 2, 17, 1000])
def test_elementwise_activations(rng, dtype, n):
    x = rand(rng, n, dtype, 3.0)
    x[0] = 0.0                                  # the kink / threshold itself
    out = np.empty_like(x)
    np.testing.assert_array_equal(K.step(x, np.empty(n, np.int64)), ref.step_function(x))
    np.testing.assert_allclose(K.sigmoid(x, out), ref.sigmoid(x), **TOL[dtype])
    np.testing.assert_allclose(K.sigmoid_parallel(x, out), ref.sigmoid(x), **TOL[dtype])
    np.testing.assert_array_equal(K.relu(x, out), ref.relu(x))
    np.testing.assert_array_equal(K.relu_parallel(x, out), ref.relu(x))
    np.testing.assert_array_equal(K.identity(x, out), x)


@pytest.mark.parametrize("n", [1, 5, 333])
def test_activation_backward(rng, dtype, n):
    x = rand(rng, n, dtype)
    x[0] = 0.0
    dout = rand(rng, n, dtype)
    y = ref.sigmoid(x)
    np.testing.assert_allclose(K.sigmoid_backward(dout, y, np.empty_like(x)),
                               ref.sigmoid_grad(dout, y), **TOL[dtype])
    expect = ref.relu_grad(dout, x)
    np.testing.assert_array_equal(K.relu_backward(dout, x, np.empty_like(x)), expect)
    np.testing.assert_array_equal(K.relu_backward_from_output(dout, ref.relu(x), np.empty_like(x)), expect)
    assert K.relu_backward(dout, x, np.empty_like(x))[0] == 0     # gradient at exactly 0


def test_sigmoid_extremes(dtype):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype)
    with np.errstate(over="ignore"):
        expect = ref.sigmoid(x)
    np.testing.assert_allclose(K.sigmoid(x, np.empty_like(x)), expect, **TOL[dtype])


@pytest.mark.parametrize("shape", SHAPES)
def test_softmax(rng, dtype, shape):
    a = rand(rng, shape, dtype, 5.0)
    np.testing.assert_allclose(K.softmax(a, np.empty_like(a)), ref.softmax(a), **TOL[dtype])


@pytest.mark.parametrize("big", [1000.0, 1e30])
def test_softmax_large_inputs_do_not_overflow(dtype, big):
    a = np.array([[big, big - 1.0, big - 2.0], [0.3, 2.9, 4.0]], dtype=dtype)
    y = K.softmax(a, np.empty_like(a))
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("n", [1, 10, 999])
def test_mean_squared_error(rng, dtype, n):
    y, t = rand(rng, n, dtype), rand(rng, n, dtype)
    assert K.mean_squared_error(y, t) == pytest.approx(ref.mean_squared_error(y.astype(np.float64), t), rel=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy(rng, dtype, shape):
    y = ref.softmax(rand(rng, shape, dtype, 3.0)).astype(dtype)
    labels = rng.integers(0, shape[1], shape[0])
    onehot = np.eye(shape[1], dtype=dtype)[labels]
    expect = ref.cross_entropy_error(y, labels)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert K.cross_entropy_labels(y, labels) == pytest.approx(expect, rel=rel)
    assert K.cross_entropy_dense(y, onehot) == pytest.approx(expect, rel=rel)
    soft = ref.softmax(rand(rng, shape, dtype)).astype(dtype)       # soft targets
    assert K.cross_entropy_dense(y, soft) == pytest.approx(ref.cross_entropy_error(y, soft), rel=rel)


@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_with_loss(rng, dtype, shape):
    a = rand(rng, shape, dtype, 3.0)
    labels = rng.integers(0, shape[1], shape[0])
    onehot = np.eye(shape[1], dtype=dtype)[labels]
    loss, y_ref, dx_ref = ref.softmax_with_loss(a, labels)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    for fused, t in ((K.softmax_loss_fused_labels, labels), (K.softmax_loss_fused_dense, onehot)):
        y, dx = np.empty_like(a), np.empty_like(a)
        assert fused(a, t, y, dx) == pytest.approx(loss, rel=rel)
        np.testing.assert_allclose(y, y_ref, **TOL[dtype])
        np.testing.assert_allclose(dx, dx_ref, **TOL[dtype])
    y = np.empty_like(a)
    assert K.softmax_loss_labels(a, labels, y) == pytest.approx(loss, rel=rel)
    np.testing.assert_allclose(K.softmax_loss_backward_labels(y, labels, np.empty_like(y)), dx_ref, **TOL[dtype])
    np.testing.assert_allclose(K.softmax_loss_backward_dense(y, onehot, np.empty_like(y)), dx_ref, **TOL[dtype])


@pytest.mark.parametrize("N,D,M", [(1, 1, 1), (1, 784, 50), (100, 784, 50), (100, 50, 10), (7, 3, 5)])
def test_affine(rng, dtype, N, D, M):
    x, W, b, dout = rand(rng, (N, D), dtype), rand(rng, (D, M), dtype), rand(rng, M, dtype), rand(rng, (N, M), dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(K.affine_forward(x, W, b, np.empty((N, M), dtype)), ref.affine_forward(x, W, b), **tol)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.full_like(b, np.nan)
    K.affine_backward(x, W, dout, dx, dW, db)
    rdx, rdW, rdb = ref.affine_backward(x, W, dout)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dW, rdW, **tol)
    np.testing.assert_allclose(db, rdb, **tol)


def test_twin_choice_follows_size_and_threads():
    import numba

    from fastnn.functions import PARALLEL_MIN_SIZE, elementwise_kernel
    from fastnn.threads import num_threads

    big = PARALLEL_MIN_SIZE["relu"]
    with num_threads(1):
        assert elementwise_kernel("relu", big) is K.relu            # one thread: never parallel
    if numba.config.NUMBA_NUM_THREADS > 1:
        with num_threads(2):
            assert elementwise_kernel("relu", big) is K.relu_parallel
            assert elementwise_kernel("relu", big - 1) is K.relu
            assert elementwise_kernel("sigmoid", PARALLEL_MIN_SIZE["sigmoid"]) is K.sigmoid_parallel
