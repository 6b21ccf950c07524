"""Loss functions: mean squared error, cross-entropy, and softmax-with-loss.

Losses are accumulated in float64 whatever the input dtype and returned as
a float.  ``DELTA`` is the book's 1e-7 inside the log; the backward pass of
softmax-with-loss, ``(y - t) / N``, ignores it, as the book does.
"""
import numpy as np

from ._config import kernel
from .softmax import softmax

DELTA = 1e-7


@kernel
def mean_squared_error(y, t):
    """E = 0.5 * sum((y - t)**2).  y, t: (n,) float, flat."""
    s = 0.0
    for i in range(y.size):
        d = np.float64(y[i] - t[i])
        s += d * d
    return 0.5 * s


@kernel
def cross_entropy_labels(y, labels):
    """E = -sum_n log(y[n, t_n] + 1e-7) / N.  y: (N, K) float, labels: (N,) int."""
    N = y.shape[0]
    delta = y.dtype.type(DELTA)
    s = 0.0
    for n in range(N):
        s += np.log(y[n, labels[n]] + delta)
    return -s / N


@kernel
def cross_entropy_dense(y, t):
    """E = -sum(t * log(y + 1e-7)) / N.  y, t: (N, K) float (t one-hot or soft)."""
    N, K = y.shape
    delta = y.dtype.type(DELTA)
    s = 0.0
    for n in range(N):
        for k in range(K):
            if t[n, k] != 0:
                s += t[n, k] * np.log(y[n, k] + delta)
    return -s / N


@kernel
def softmax_loss_labels(a, labels, y):
    """Softmax of a into y, then cross-entropy against integer labels.  a, y: (N, K)."""
    softmax(a, y)
    return cross_entropy_labels(y, labels)


@kernel
def softmax_loss_dense(a, t, y):
    """Softmax of a into y, then cross-entropy against dense targets t: (N, K)."""
    softmax(a, y)
    return cross_entropy_dense(y, t)


@kernel
def softmax_loss_backward_labels(y, labels, dx):
    """dx = (y - onehot(labels)) / N.  y, dx: (N, K); dx may alias y."""
    N, K = y.shape
    inv = y.dtype.type(1.0 / N)
    for n in range(N):
        for k in range(K):
            dx[n, k] = y[n, k] * inv
        dx[n, labels[n]] = (y[n, labels[n]] - 1) * inv
    return dx


@kernel
def softmax_loss_backward_dense(y, t, dx):
    """dx = (y - t) / N.  y, t, dx: (N, K)."""
    N, K = y.shape
    inv = y.dtype.type(1.0 / N)
    for n in range(N):
        for k in range(K):
            dx[n, k] = (y[n, k] - t[n, k]) * inv
    return dx


@kernel
def softmax_loss_fused_labels(a, labels, y, dx):
    """Forward and backward of softmax-with-loss in one pass; returns the loss."""
    loss = softmax_loss_labels(a, labels, y)
    softmax_loss_backward_labels(y, labels, dx)
    return loss


@kernel
def softmax_loss_fused_dense(a, t, y, dx):
    """Dense-target twin of :func:`softmax_loss_fused_labels`."""
    loss = softmax_loss_dense(a, t, y)
    softmax_loss_backward_dense(y, t, dx)
    return loss
