"""Softmax over the last axis, with the max subtracted first (the book's overflow guard)."""
from ._config import kernel
from .exponential import exp


@kernel
def softmax(a, out):
    """out[n] = exp(a[n] - max(a[n])) / sum(exp(a[n] - max(a[n]))).  a, out: (N, K) float."""
    N, K = a.shape
    for n in range(N):
        c = a[n, 0]
        for k in range(1, K):
            if a[n, k] > c:
                c = a[n, k]
        s = a.dtype.type(0.0)
        for k in range(K):
            e = exp(a[n, k] - c)
            out[n, k] = e
            s += e
        inv = a.dtype.type(1.0) / s
        for k in range(K):
            out[n, k] *= inv
    return out
