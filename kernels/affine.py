"""Affine (fully connected) layer: out = x @ W + b, and its backward pass.

The matrix products go to BLAS through ``np.dot``; these kernels are
serial in numba's sense so that BLAS's own threads are the only level of
parallelism.  Arrays are C-contiguous and of one float dtype.
"""
import numpy as np

from ._config import kernel


@kernel
def add_bias(out, b):
    """out[n, :] += b.  out: (N, M), b: (M,)."""
    N, M = out.shape
    for n in range(N):
        for j in range(M):
            out[n, j] += b[j]
    return out


@kernel
def affine_forward(x, W, b, out):
    """out = x @ W + b.  x: (N, D), W: (D, M), b: (M,), out: (N, M)."""
    np.dot(x, W, out)
    add_bias(out, b)
    return out


@kernel
def bias_grad(dout, db):
    """db = sum over the batch of dout.  dout: (N, M), db: (M,)."""
    N, M = dout.shape
    for j in range(M):
        db[j] = 0
    for n in range(N):
        for j in range(M):
            db[j] += dout[n, j]
    return db


@kernel
def affine_backward_params(x, dout, dW, db):
    """dW = x.T @ dout, db = sum_n dout[n].  For a first layer, whose dx is not needed."""
    np.dot(x.T, dout, dW)
    bias_grad(dout, db)


@kernel
def affine_backward(x, W, dout, dx, dW, db):
    """dx = dout @ W.T, dW = x.T @ dout, db = sum_n dout[n].

    x: (N, D), W: (D, M), dout: (N, M), dx: (N, D), dW: (D, M), db: (M,).
    """
    np.dot(dout, W.T, dx)
    affine_backward_params(x, dout, dW, db)
