"""Numerical gradient of :class:`~fastnn.network.TwoLayerNet`'s loss, by two exact strategies.

``"full"``         the book's algorithm: each parameter moved by +h and -h and the
                   loss of the whole batch recomputed, parallel over parameters.
``"incremental"``  the same central differences from cached activations: only what a
                   perturbation changes is recomputed, through Taylor series exact
                   to float64 rounding (see :mod:`kernels.twolayer_numgrad`).

Both use the book's h = 1e-4 and the book's loss, with its ``delta`` = 1e-7
inside the log (``delta=0`` gives the gradient of the plain cross-entropy).
They agree to about 1e-11 on float64 nets.  Both compute in float64
internally, also for float32 nets, whose parameters and batch are converted
(exactly) to float64 first; the result is returned in the net's dtype.
Targets: integer labels or one-hot rows.
"""
import numba
import numpy as np

import kernels as K
from kernels import twolayer_numgrad as T
from kernels.sparse import to_csr

from ._checks import positive_float
from .threads import num_threads

METHODS = ("incremental", "full")
H = 1e-4
#: The incremental strategy's kernels use one thread below this many (sample, hidden unit)
#: pairs: at 784-50-10, batch 100 (5000 pairs) the work is about 2 ms, and waking a second
#: thread measured 1-5x slower than one on a 2-core machine shared with other jobs.
PARALLEL_MIN_PAIRS = 20000


def _labels(t):
    if t.ndim == 1:
        return t
    labels = np.argmax(t, axis=1)
    onehot = np.zeros_like(t)
    onehot[np.arange(t.shape[0]), labels] = 1
    if not np.array_equal(onehot, t):
        raise ValueError("t: the numerical gradient takes integer labels or one-hot rows; "
                         "got soft targets (rows that are not a single 1 among 0s)")
    return np.ascontiguousarray(labels, dtype=np.intp)


def _f64(a):
    return np.ascontiguousarray(a, dtype=np.float64)


def numerical_gradient(net, x, t, method="incremental", *, h=H, delta=K.DELTA):
    """Central-difference gradient of ``net.loss(x, t)`` for W1, b1, W2, b2.

    Returns a dict like ``net.params`` (new arrays of the net's dtype).
    method: "incremental" (fast, from cached activations) or "full" (every
    loss recomputed, the book's algorithm).  h: the step (the incremental
    strategy's series need h <= 1e-3).  delta: the constant inside the log.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    h = positive_float("h", h)
    delta = positive_float("delta", delta, allow_zero=True)
    if method == "incremental" and h > T.SERIES_MAX:
        raise ValueError(f"h: the incremental strategy needs h <= {T.SERIES_MAX}, got {h}; use method='full'")
    x, t = net.check_input(x, t)
    net._sync()
    labels = _labels(t)
    W1, b1, W2, b2 = (_f64(net.params[k]) for k in ("W1", "b1", "W2", "b2"))
    x = _f64(x)
    act = T.RELU if net.activation == "relu" else T.SIGMOID
    N, D = x.shape
    Hd, C = W2.shape
    sp = _compress(x)
    if method == "full":
        out = np.empty(D * Hd + Hd + Hd * C + C)
        T.numgrad_full(*sp, D, labels, np.ascontiguousarray(W1.T), b1, np.ascontiguousarray(W2.T), b2,
                       act, h, delta, numba.get_num_threads(), 16, out)
        o = D * Hd
        grads = {"W1": out[:o].reshape(Hd, D).T, "b1": out[o:o + Hd],
                 "W2": out[o + Hd:o + Hd + Hd * C].reshape(Hd, C), "b2": out[o + Hd + Hd * C:]}
    else:
        with num_threads(1 if N * Hd < PARALLEL_MIN_PAIRS else None):
            grads = _incremental(x, sp, labels, W1, b1, W2, b2, act, h, delta)
    return {k: np.ascontiguousarray(v, dtype=net.dtype) for k, v in grads.items()}


def _compress(x):
    """Nonzeros of x (N, D) float64, row by row: (indptr, indices, values)."""
    return to_csr(x)[:3]


def _incremental(x, sp, labels, W1, b1, W2, b2, act, h, delta):
    N, D = x.shape
    Hd, C = W2.shape
    a1 = np.empty((N, Hd))
    z1 = np.empty((N, Hd))
    a2 = np.empty((N, C))
    y = np.empty((N, C))
    T.forward_parallel(*sp, W1, b1, W2, b2, act, a1, z1, a2, y)
    xmax = np.abs(x).max(axis=1)
    C1, C3, C5 = (np.empty((N, Hd)) for _ in range(3))
    D1, D3, D5 = (np.empty((N, C)) for _ in range(3))
    flags = np.empty((N, Hd), dtype=np.int8)
    T.jets_parallel(a1, z1, y, W2, labels, act, h, delta, xmax, C1, C3, C5, D1, D3, D5, flags)
    gW1 = np.empty((D, Hd))
    gb1 = np.empty(Hd)
    gW2 = np.empty((Hd, C))
    gb2 = np.empty(C)
    T.accumulate_w1_parallel(*_compress(np.ascontiguousarray(x.T)), C1, C3, C5, h, gW1)
    T.finish_serial(x, labels, a1, z1, a2, W2, act, h, delta, C1, C3, C5, D1, D3, D5, flags,
                    gW1, gb1, gW2, gb2)
    return {"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}
