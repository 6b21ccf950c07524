"""Activation functions and their backward passes, elementwise on 1-D arrays.

All kernels take flat, contiguous arrays of one float dtype (reshape with
``a.reshape(-1)``) and write into ``out``, which may alias an input.
Serial kernels: at training sizes (a few thousand elements) a ``prange``
loop costs more in thread start-up than it saves; the ``*_parallel`` twins
are for large arrays (see bench/).
"""
from numba import prange

from ._config import kernel
from .exponential import exp


@kernel
def step(x, out):
    """Step function: out = 1 where x > 0 else 0.  x: (n,) float, out: (n,) any number type."""
    for i in range(x.size):
        out[i] = 1 if x[i] > 0 else 0
    return out


@kernel(error_model="numpy")
def sigmoid(x, out):
    """out = 1 / (1 + exp(-x)).  x, out: (n,) float.

    exp is :func:`kernels.exponential.exp`, and the division has no zero check (1 + exp(-x)
    is never 0): so the float32 loop is vectorised."""
    one = x.dtype.type(1.0)
    for i in range(x.size):
        out[i] = one / (one + exp(-x[i]))
    return out


@kernel(parallel=True, error_model="numpy")
def sigmoid_parallel(x, out):
    """Parallel twin of :func:`sigmoid` for large arrays."""
    one = x.dtype.type(1.0)
    for i in prange(x.size):
        out[i] = one / (one + exp(-x[i]))
    return out


@kernel
def sigmoid_backward(dout, y, out):
    """dx = dout * (1 - y) * y, from the forward output y.  All (n,)."""
    one = y.dtype.type(1.0)
    for i in range(y.size):
        out[i] = dout[i] * (one - y[i]) * y[i]
    return out


@kernel
def relu(x, out):
    """out = x where x > 0 else 0.  x, out: (n,) float."""
    zero = x.dtype.type(0.0)
    for i in range(x.size):
        out[i] = x[i] if x[i] > 0 else zero
    return out


@kernel(parallel=True)
def relu_parallel(x, out):
    """Parallel twin of :func:`relu` for large arrays."""
    zero = x.dtype.type(0.0)
    for i in prange(x.size):
        out[i] = x[i] if x[i] > 0 else zero
    return out


@kernel
def relu_backward(dout, x, out):
    """dx = dout where x > 0 else 0 (the mask is x <= 0, so the gradient at 0 is 0)."""
    zero = dout.dtype.type(0.0)
    for i in range(x.size):
        out[i] = dout[i] if x[i] > 0 else zero
    return out


@kernel
def relu_backward_from_output(dout, y, out):
    """Same as :func:`relu_backward` from the output y = relu(x): y > 0 iff x > 0."""
    zero = dout.dtype.type(0.0)
    for i in range(y.size):
        out[i] = dout[i] if y[i] > 0 else zero
    return out


@kernel
def identity(x, out):
    """out = x."""
    for i in range(x.size):
        out[i] = x[i]
    return out
