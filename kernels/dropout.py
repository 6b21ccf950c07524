"""Dropout (Srivastava et al.; the book's ch. 6): masks drawn outside, applied here.

The mask is drawn in Python from the run's seeded generator
(``rng.random(x.shape) > ratio``) and passed in, so kernels stay
deterministic and a seed gives the same masks on any thread count.
Arrays are flat and contiguous (reshape with ``a.reshape(-1)``); ``out`` may
alias ``x``.
"""
from ._config import kernel


@kernel
def dropout_forward(x, mask, out):
    """Training: out = x * mask.  x, out: (n,) float; mask: (n,) bool (True keeps)."""
    zero = x.dtype.type(0.0)
    for i in range(x.size):
        out[i] = x[i] if mask[i] else zero
    return out


@kernel
def dropout_inference(x, ratio, out):
    """Inference: out = x * (1 - ratio), the expected value of the training output."""
    keep = x.dtype.type(1.0 - ratio)
    for i in range(x.size):
        out[i] = x[i] * keep
    return out


@kernel
def dropout_backward(dout, mask, dx):
    """dx = dout * mask.  dout, dx: (n,) float; mask: (n,) bool."""
    zero = dout.dtype.type(0.0)
    for i in range(dout.size):
        dx[i] = dout[i] if mask[i] else zero
    return dx
