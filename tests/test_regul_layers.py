"""Dropout and BatchNormalization layers: the book's protocol, its formulas, numerical
gradients and one clear message per bad input."""
import numpy as np
import pytest

from fastnn import BatchNormalization, Dropout, ShapeError
from fastnn import layers

from . import reference as ref
from .reference import TOL, agree


def rand(rng, shape, dtype=np.float64, scale=1.0, shift=0.0):
    return (shift + scale * rng.standard_normal(shape)).astype(dtype)


def test_reexported_from_layers():
    assert layers.Dropout is Dropout and layers.BatchNormalization is BatchNormalization


# -- Dropout ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (2, 3, 4)])
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5])
def test_dropout_layer(rng, dtype, shape, ratio):
    x, dout = rand(rng, shape, dtype), rand(rng, shape, dtype)
    layer = Dropout(ratio, rng=np.random.default_rng(7))
    out = layer.forward(x)
    mask = np.random.default_rng(7).random(shape) > ratio        # the book's draw, same stream
    np.testing.assert_array_equal(layer.mask, mask)
    np.testing.assert_array_equal(out, ref.dropout_forward(x, mask))
    np.testing.assert_array_equal(layer.backward(dout), ref.dropout_backward(dout, mask))
    y = layer.forward(x, train_flg=False)
    np.testing.assert_allclose(y, ref.dropout_forward(x, mask, False, ratio), **TOL[dtype])
    assert out.dtype == y.dtype == dtype and out.shape == shape


def test_dropout_same_seed_same_masks_and_ratio_respected(rng):
    x = np.ones((200, 100))
    a, b = Dropout(0.3, rng=5), Dropout(0.3, rng=5)
    for _ in range(3):
        np.testing.assert_array_equal(a.forward(x), b.forward(x))
    kept = a.mask.mean()
    assert abs(kept - 0.7) < 0.01        # 20,000 draws: the standard error is 0.003
    assert not np.array_equal(a.forward(x), Dropout(0.3, rng=6).forward(x))


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, float("nan")])
def test_dropout_ratio_out_of_range(ratio):
    with pytest.raises(ValueError, match=r"dropout_ratio: expected a number in \[0, 1\)"):
        Dropout(ratio)


def test_dropout_bad_input():
    with pytest.raises(TypeError, match="dropout_ratio: expected a number, got str"):
        Dropout("0.5")
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator"):
        Dropout(0.5, rng="seed")
    d = Dropout(0.5, rng=0)
    with pytest.raises(ValueError, match=r"Dropout.backward: call forward\(x, train_flg=True\) first"):
        d.backward(np.ones((2, 3)))
    with pytest.raises(TypeError, match="train_flg: expected True or False"):
        d.forward(np.ones((2, 3)), train_flg="yes")
    d.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"dout: expected \(2, 3\) float64 like the forward output, got \(3, 2\)"):
        d.backward(np.ones((3, 2)))
    with pytest.raises(TypeError, match="dout: expected"):
        d.backward(np.ones((2, 3), np.float32))


# -- BatchNormalization -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 3), (10, 4), (100, 50)])
def test_batchnorm_layer_against_book(rng, dtype, shape):
    N, D = shape
    gamma, beta = rand(rng, D, dtype, 0.5, 1.0), rand(rng, D, dtype)
    layer = BatchNormalization(gamma, beta, momentum=0.9)
    rm, rv = np.zeros(D), np.zeros(D)
    tol = 1e-5 if dtype == np.float32 else 3e-15      # as in test_regul_kernels.BN_TOL
    f = lambda a: a.astype(np.float64)
    for step in range(3):
        x, dout = rand(rng, shape, dtype, 2.0, step), rand(rng, shape, dtype)
        out = layer.forward(x)
        expect, cache, rm, rv = ref.batchnorm_forward(f(x), f(gamma), f(beta), rm, rv, 0.9)
        agree(out, expect, tol, "out")
        agree(layer.running_mean, rm, tol, "running_mean", scale=max(1.0, np.abs(rm).max()))
        agree(layer.running_var, rv, tol, "running_var", scale=max(1.0, np.abs(rv).max()))
        dx = layer.backward(dout)
        edx, edg, edb = ref.batchnorm_backward(f(dout), f(gamma), cache)
        agree(dx, edx, tol, "dx", scale=float(np.abs(f(gamma) / cache[2]).max() * np.abs(f(dout)).max()))
        agree(layer.dgamma, edg, tol, "dgamma", scale=max(1e-12, float(np.abs(cache[1] * f(dout)).sum(0).max())))
        agree(layer.dbeta, edb, tol, "dbeta", scale=float(np.abs(f(dout)).sum(0).max()))
    x = rand(rng, shape, dtype)
    expect = ref.batchnorm_forward(f(x), f(gamma), f(beta), rm, rv, train_flg=False)[0]
    agree(layer.forward(x, train_flg=False), expect, tol, "inference out")
    assert layer.running_mean.dtype == dtype


def test_batchnorm_four_dimensional_input_and_in_place_state(rng):
    gamma, beta = np.ones(12), np.zeros(12)
    rm, rv = np.zeros(12), np.ones(12)
    layer = BatchNormalization(gamma, beta, running_mean=rm, running_var=rv)
    x = rand(rng, (5, 3, 2, 2))
    out = layer.forward(x)
    assert out.shape == x.shape and layer.backward(np.ones_like(x)).shape == x.shape
    assert layer.running_mean is rm and not np.all(rm == 0)       # updated in place
    gamma *= 2.0                                                   # an optimizer's in-place update
    np.testing.assert_allclose(layer.forward(x), 2.0 * out, rtol=1e-12, atol=1e-12)


def test_batchnorm_gradient_matches_numerical(rng):
    """The layer's dx, dgamma, dbeta against central differences of sum(w * forward(x)).
    Measured normwise <= 1.4e-10 (h = 1e-5); bound 2e-9."""
    x, w = rand(rng, (8, 5), scale=1.5, shift=0.3), rand(rng, (8, 5))
    gamma, beta = rand(rng, 5, shift=1.0), rand(rng, 5)
    layer = BatchNormalization(gamma, beta)
    loss = lambda: float(np.sum(w * BatchNormalization(gamma, beta).forward(x)))
    layer.forward(x)
    dx = layer.backward(w)
    agree(dx, ref.numerical_gradient(loss, x, 1e-5), 2e-9, "dx")
    agree(layer.dgamma, ref.numerical_gradient(loss, gamma, 1e-5), 2e-9, "dgamma")
    agree(layer.dbeta, ref.numerical_gradient(loss, beta, 1e-5), 2e-9, "dbeta")


@pytest.mark.parametrize("momentum", [0.0, 1.0, -0.5, 1.5])
def test_batchnorm_momentum_out_of_range(momentum):
    with pytest.raises(ValueError, match=r"momentum: expected a number in \(0, 1\)"):
        BatchNormalization(np.ones(3), np.zeros(3), momentum=momentum)


def test_batchnorm_bad_input():
    with pytest.raises(ShapeError, match="gamma: expected 1-D"):
        BatchNormalization(np.ones((3, 1)), np.zeros(3))
    with pytest.raises(ShapeError, match=r"beta: expected \(3,\) float64"):
        BatchNormalization(np.ones(3), np.zeros(4))
    with pytest.raises(TypeError, match=r"beta: expected \(3,\) float64"):
        BatchNormalization(np.ones(3), np.zeros(3, np.float32))
    with pytest.raises(ShapeError, match=r"running_var: expected \(3,\) float64 like gamma"):
        BatchNormalization(np.ones(3), np.zeros(3), running_var=np.ones(2))
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"BatchNormalization.backward: call forward\(x, train_flg=True\)"):
        bn.backward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"x: expected \(N, 3\) float64, got \(2, 4\) float64"):
        bn.forward(np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"x: expected \(N, 3\) float64, got \(3,\) float64"):
        bn.forward(np.ones(3))
    with pytest.raises(TypeError, match=r"x: expected \(N, 3\) float64 like gamma, got \(2, 3\) float32"):
        bn.forward(np.ones((2, 3), np.float32))
    bn.forward(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ShapeError, match=r"dout: expected \(2, 3\) float64 like the forward output"):
        bn.backward(np.ones((3, 3)))


def test_batchnorm_keeps_the_books_attributes(rng):
    """After a training forward, as the book's layer: batch_size (N), input_shape, and the
    normalised input xn and std that backward uses, of the flattened (N, D) view."""
    layer = BatchNormalization(np.ones(12), np.zeros(12))
    x = rand(rng, (5, 3, 2, 2))
    layer.forward(x)
    assert layer.batch_size == 5 and layer.input_shape == (5, 3, 2, 2)
    assert layer.xn.shape == (5, 12) and layer.std.shape == (12,)


def test_book_defaults_and_a_one_dimensional_x_refused():
    """Dropout's ratio defaults to the book's 0.5; batch normalization takes (N, D) or more
    dimensions, never a 1-D x, even for D = 1 where its size would fit."""
    assert Dropout().dropout_ratio == 0.5
    with pytest.raises(ShapeError, match=r"^x: expected \(N, 1\) float64, got \(4,\) float64$"):
        BatchNormalization(np.ones(1), np.zeros(1)).forward(np.ones(4))
