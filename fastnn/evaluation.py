"""Accuracy and loss of a network by forward passes only, and the checks that turn data
into what the kernels take (x of the net's dtype, t as integer labels)."""
import numpy as np

import kernels as K
import kernels.graph as KG

from ._checks import ShapeError, as_float_array, as_labels, describe, positive_int
from .network import TwoLayerNet

__all__ = ["check_data", "check_network", "eval_buffers", "evaluate", "forward_passes"]

#: What the evaluator, the trainer and the files need of a network built from a description.
DESCRIPTION_ATTRIBUTES = ("ops", "theta", "params", "sizes", "dtype", "check_params")


def check_network(net, name="net"):
    """``net`` if it is a TwoLayerNet or a network built from a description (``ops``,
    ``theta``, ``params``, ``sizes``, ``dtype``: MultiLayerNet and the like), else TypeError."""
    if isinstance(net, TwoLayerNet) or all(hasattr(net, a) for a in DESCRIPTION_ATTRIBUTES):
        return net
    raise TypeError(f"{name}: expected a TwoLayerNet or a network built from a description "
                    f"(such as MultiLayerNet), got {type(net).__name__}")


def evaluate(net, x, t, batch_size=10000):
    """(accuracy, mean cross-entropy) of ``net`` (TwoLayerNet or MultiLayerNet) on x (N, D) and
    integer labels (N,) or one-hot (N, C) t, both checked (x converted to the net's dtype).

    Forward passes only, straight to the kernels, in chunks of ``batch_size`` rows. The loss
    is the mean cross-entropy alone, without a weight-decay term: it measures the fit to the
    data, comparable between runs of different lambdas (``net.loss`` adds the term; the
    trainer's per-iteration batch losses include it, its per-epoch figures do not).
    """
    check_network(net)
    batch_size = positive_int("batch_size", batch_size)
    x, t = check_data(net, "x", x, "t", t)
    return forward_passes(net, x, t, batch_size)


def forward_passes(net, x, t, batch_size, buffers=None):
    """evaluate without checks: x (N, D) C-contiguous of the net's dtype, t (N,) intp labels
    in [0, C); buffers from eval_buffers(net, rows) with rows >= min(batch_size, N), or None."""
    N = x.shape[0]
    B = min(batch_size, N)
    if buffers is None:
        buffers = eval_buffers(net, B)
    if not isinstance(net, TwoLayerNet):
        return _description_passes(net, x, t, B, buffers)
    p = net.params
    h, a, y = buffers
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


def _description_passes(net, x, t, B, acts):
    """forward_passes of a network built from a description: kernels.graph.forward over
    chunks of B rows, then accuracy and the book's cross-entropy of the probabilities."""
    net.check_params()
    N = x.shape[0]
    width = int(net.ops[:, KG.OUT].sum())
    correct = 0
    loss = 0.0
    for i in range(0, N, B):
        xc, tc = x[i:i + B], t[i:i + B]
        n = xc.shape[0]
        y = KG.forward(net.ops, net.theta, xc, acts[:n * width])
        loss += K.cross_entropy_labels(y, tc) * n
        correct += int(np.count_nonzero(np.argmax(y, axis=1) == tc))
    return correct / N, loss / N


def eval_buffers(net, rows):
    """Work buffers of forward_passes for chunks of up to ``rows`` samples: (h, a, y) for a
    TwoLayerNet, the activation buffer (rows * width,) for a description."""
    if isinstance(net, TwoLayerNet):
        _, H, C = net.sizes
        return (np.empty((rows, H), net.dtype), np.empty((rows, C), net.dtype),
                np.empty((rows, C), net.dtype))
    width = int(net.ops[:, KG.OUT].sum())
    return np.empty(rows * width, net.dtype)


def check_data(net, xname, x, tname, t):
    """x as a C-contiguous array of the net's dtype, t as intp labels; checked."""
    D, C = net.sizes[0], net.sizes[-1]
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
