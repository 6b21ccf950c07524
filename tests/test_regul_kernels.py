"""Dropout and batch-normalization kernels against the book's formulas (tests/reference.py),
in both dtypes on random shapes, and their backward passes against numerical gradients."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels as K
from kernels.batchnorm import EPS

from . import reference as ref
from .reference import TOL, agree

SHAPES = [(1, 1), (1, 7), (2, 3), (100, 50), (37, 13), (128, 100)]


def rand(rng, shape, dtype, scale=1.0, shift=0.0):
    return (shift + scale * rng.standard_normal(shape)).astype(dtype)


def test_book_epsilon():
    assert EPS == 10e-7


# -- dropout ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 0.9])
def test_dropout(rng, dtype, shape, ratio):
    x, dout = rand(rng, shape, dtype), rand(rng, shape, dtype)
    mask = rng.random(shape) > ratio
    out = K.dropout_forward(x.ravel(), mask.ravel(), np.empty(x.size, dtype))
    np.testing.assert_array_equal(out.reshape(shape), ref.dropout_forward(x, mask))
    dx = K.dropout_backward(dout.ravel(), mask.ravel(), np.empty(x.size, dtype))
    np.testing.assert_array_equal(dx.reshape(shape), ref.dropout_backward(dout, mask))
    y = K.dropout_inference(x.ravel(), ratio, np.empty(x.size, dtype))
    assert y.dtype == dtype
    np.testing.assert_allclose(y.reshape(shape), ref.dropout_forward(x, mask, False, ratio), **TOL[dtype])


def test_dropout_drops_exactly_the_masked_entries(rng):
    x = rng.uniform(1.0, 2.0, 1000)              # no zeros of its own
    mask = rng.random(1000) > 0.3
    out = K.dropout_forward(x, mask, np.empty_like(x))
    np.testing.assert_array_equal(out != 0, mask)
    np.testing.assert_array_equal(out[mask], x[mask])


# -- batch normalization --------------------------------------------------------------------
def bn_train(x, gamma, beta):
    D = x.shape[1]
    mu, var, std = np.empty(D, x.dtype), np.empty(D, x.dtype), np.empty(D, x.dtype)
    xn, out = np.empty_like(x), np.empty_like(x)
    K.batchnorm_forward_train(x, gamma, beta, EPS, mu, var, std, xn, out)
    return out, mu, var, std, xn


#: Measured normwise differences from the float64 reference (FASTNN_SHOW_AGREEMENT=1):
#: float64 <= 2.5e-16 everywhere; float32 <= 1.2e-7 forward, <= 8.6e-7 backward (dgamma);
#: bounds about 10x above.
BN_TOL = {np.float32: 1e-5, np.float64: 3e-15}


@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_train_forward_and_running_update(rng, dtype, shape):
    N, D = shape
    x = rand(rng, shape, dtype, 3.0, 1.5)
    gamma, beta = rand(rng, D, dtype, 1.0, 1.0), rand(rng, D, dtype)
    rm, rv = rand(rng, D, dtype), rng.uniform(0.5, 2.0, D).astype(dtype)
    x64 = x.astype(np.float64)
    expect, cache, erm, erv = ref.batchnorm_forward(x64, gamma.astype(np.float64), beta.astype(np.float64),
                                                    rm.astype(np.float64), rv.astype(np.float64), 0.8)
    out, mu, var, std, xn = bn_train(x, gamma, beta)
    tol = BN_TOL[dtype]
    agree(out, expect, tol, "out")
    agree(xn, cache[1], tol, "xn", scale=max(1.0, np.abs(cache[1]).max()))
    agree(std, cache[2], tol, "std")
    K.batchnorm_running_update(0.8, mu, var, rm, rv)
    agree(rm, erm, tol, "running_mean", scale=max(1.0, np.abs(erm).max()))
    agree(rv, erv, tol, "running_var")
    assert out.dtype == xn.dtype == rm.dtype == dtype


@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_inference_forward(rng, dtype, shape):
    N, D = shape
    x = rand(rng, shape, dtype, 2.0)
    gamma, beta = rand(rng, D, dtype, 1.0, 1.0), rand(rng, D, dtype)
    rm, rv = rand(rng, D, dtype), rng.uniform(0.0, 2.0, D).astype(dtype)
    f = lambda a: a.astype(np.float64)
    expect = ref.batchnorm_forward(f(x), f(gamma), f(beta), f(rm), f(rv), train_flg=False)[0]
    out = K.batchnorm_forward_infer(x, gamma, beta, rm, rv, EPS, np.empty_like(x))
    agree(out, expect, BN_TOL[dtype], "out")


@pytest.mark.parametrize("shape", SHAPES)
def test_batchnorm_backward(rng, dtype, shape):
    N, D = shape
    x = rand(rng, shape, dtype, 2.0, -0.5)
    gamma, beta, dout = rand(rng, D, dtype, 1.0, 1.0), rand(rng, D, dtype), rand(rng, shape, dtype)
    f = lambda a: a.astype(np.float64)
    _, cache, _, _ = ref.batchnorm_forward(f(x), f(gamma), f(beta), np.zeros(D), np.zeros(D))
    edx, edgamma, edbeta = ref.batchnorm_backward(f(dout), f(gamma), cache)
    _, _, _, std, xn = bn_train(x, gamma, beta)
    dx, dgamma, dbeta = np.empty_like(x), np.empty(D, dtype), np.empty(D, dtype)
    K.batchnorm_backward(dout, xn, std, gamma, dx, dgamma, dbeta)
    tol = BN_TOL[dtype]
    # dx is a difference of terms of the size of gamma / std * dout: that is its scale
    agree(dx, edx, tol, "dx", scale=float(np.abs(f(gamma) / cache[2]).max() * np.abs(f(dout)).max()))
    agree(dgamma, edgamma, tol, "dgamma", scale=max(1e-12, float(np.abs(cache[1] * f(dout)).sum(axis=0).max())))
    agree(dbeta, edbeta, tol, "dbeta", scale=float(np.abs(f(dout)).sum(axis=0).max()))


def test_batchnorm_backward_may_overwrite_dout(rng):
    x, dout = rand(rng, (9, 4), np.float64), rand(rng, (9, 4), np.float64)
    gamma = rand(rng, 4, np.float64, 1.0, 1.0)
    _, _, _, std, xn = bn_train(x, gamma, np.zeros(4))
    want = K.batchnorm_backward(dout, xn, std, gamma, np.empty_like(x), np.empty(4), np.empty(4)).copy()
    got = K.batchnorm_backward(dout, xn, std, gamma, dout, np.empty(4), np.empty(4))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15)


# -- backward against numerical gradients (float64) --------------------------------------------
@settings(max_examples=40)
@given(N=st.integers(2, 12), D=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       xscale=st.floats(0.1, 10.0), shift=st.floats(-5.0, 5.0))
def test_batchnorm_backward_matches_numerical_gradient(N, D, seed, xscale, shift):
    """L = sum(w * bn(x; gamma, beta)); dL/dx, dL/dgamma, dL/dbeta by central differences.
    Measured normwise: dx <= 1.6e-7, dgamma and dbeta <= 1e-10, with h = 1e-5 * xscale
    (xscale >= 0.1 keeps the batch variance well above what h probes); bound 2e-6."""
    rng = np.random.default_rng(seed)
    x = shift + xscale * rng.standard_normal((N, D))
    gamma, beta, w = 1.0 + rng.standard_normal(D), rng.standard_normal(D), rng.standard_normal((N, D))
    loss = lambda: float(np.sum(w * bn_train(x, gamma, beta)[0]))
    _, _, _, std, xn = bn_train(x, gamma, beta)
    dx, dgamma, dbeta = np.empty_like(x), np.empty(D), np.empty(D)
    K.batchnorm_backward(w, xn, std, gamma, dx, dgamma, dbeta)
    h = 1e-5 * xscale
    agree(dx, ref.numerical_gradient(loss, x, h), 2e-6, "dx",
          scale=max(1e-3, float(np.abs(dx).max())))
    agree(dgamma, ref.numerical_gradient(loss, gamma, 1e-5), 1e-6, "dgamma")
    agree(dbeta, ref.numerical_gradient(loss, beta, 1e-5), 1e-6, "dbeta")


@settings(max_examples=20)
@given(n=st.integers(1, 50), ratio=st.floats(0.0, 0.95), seed=st.integers(0, 2**32 - 1))
def test_dropout_backward_matches_numerical_gradient(n, ratio, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(n), rng.standard_normal(n)
    mask = rng.random(n) > ratio
    loss = lambda: float(np.sum(w * K.dropout_forward(x, mask, np.empty_like(x))))
    dx = K.dropout_backward(w, mask, np.empty_like(x))
    agree(dx, ref.numerical_gradient(loss, x, 1e-5), 1e-9, "dx", scale=max(1.0, np.abs(w).max()))
