"""Accuracy and loss of a network by forward passes only, and the checks that turn data
into what the kernels take (x of the net's dtype, t as integer labels)."""
import numpy as np

import kernels as K

from ._checks import ShapeError, as_float_array, as_labels, describe, positive_int
from .network import TwoLayerNet

__all__ = ["evaluate", "forward_passes", "check_data"]


def evaluate(net, x, t, batch_size=10000):
    """(accuracy, mean cross-entropy) of the TwoLayerNet ``net`` on x (N, D) and integer
    labels (N,) or one-hot (N, C) t, both checked (x converted to the net's dtype).

    Forward passes only, straight to the kernels, in chunks of ``batch_size`` rows.
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net: expected a TwoLayerNet, got {type(net).__name__}")
    batch_size = positive_int("batch_size", batch_size)
    x, t = check_data(net, "x", x, "t", t)
    return forward_passes(net, x, t, batch_size)


def forward_passes(net, x, t, batch_size, buffers=None):
    """evaluate without checks: x (N, D) C-contiguous of the net's dtype, t (N,) intp labels
    in [0, C); buffers (h, a, y) of at least min(batch_size, N) rows, or None."""
    p = net.params
    N = x.shape[0]
    _, H, C = net.sizes
    B = min(batch_size, N)
    h, a, y = buffers if buffers is not None else (
        np.empty((B, H), net.dtype), np.empty((B, C), net.dtype), np.empty((B, C), net.dtype))
    act = K.relu if net.activation == "relu" else K.sigmoid
    correct = 0
    loss = 0.0
    for i in range(0, N, B):
        xc, tc = x[i:i + B], t[i:i + B]
        n = xc.shape[0]
        hc, ac, yc = h[:n], a[:n], y[:n]
        K.affine_forward(xc, p["W1"], p["b1"], hc)
        act(hc.reshape(-1), hc.reshape(-1))
        K.affine_forward(hc, p["W2"], p["b2"], ac)
        loss += K.softmax_loss_labels(ac, tc, yc) * n
        correct += int(np.count_nonzero(np.argmax(ac, axis=1) == tc))
    return correct / N, loss / N


def check_data(net, xname, x, tname, t):
    """x as a C-contiguous array of the net's dtype, t as intp labels; checked."""
    D, _, C = net.sizes
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{xname}: expected (N, {D}) numbers, got {describe(x)}")
    x = as_float_array(xname, np.ascontiguousarray(x, dtype=net.dtype), shape=(None, D),
                       dtype=net.dtype)
    N = x.shape[0]
    t = t if isinstance(t, np.ndarray) else np.asarray(t)
    if t.ndim == 2:
        if t.shape != (N, C):
            raise ShapeError(f"{tname}: expected ({N},) integer labels or ({N}, {C}) one-hot, "
                             f"got {describe(t)}")
        labels = np.argmax(t, axis=1)
        if not (np.all(np.sum(t, axis=1) == 1) and np.all(t[np.arange(N), labels] == 1)):
            raise ValueError(f"{tname}: expected one-hot rows (a single 1, zeros elsewhere)")
        t = labels
    labels = as_labels(tname, t, N, C)
    # a private copy: the kernels trust these labels, and the caller's array may change later
    return x, labels.copy() if np.shares_memory(labels, t) else labels
