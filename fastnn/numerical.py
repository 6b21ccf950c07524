"""Numerical gradient of a network's loss, the book's central differences, three ways.

``"full"``         the book's algorithm: each parameter moved by +h and -h and the
                   loss of the whole batch recomputed, parallel over parameters
                   (:func:`kernels.graph_numgrad.numgrad_full`; for a two-layer net
                   without weight decay, :func:`kernels.twolayer_numgrad.numgrad_full`).
``"cached"``       any network: the same central differences from cached
                   activations, recomputing only the samples and the units a
                   perturbation changes (:func:`kernels.graph_numgrad.numgrad_cached`).
``"incremental"``  two-layer networks (Affine, sigmoid or ReLU, Affine): the same
                   central differences through Taylor series exact to float64
                   rounding (see :mod:`kernels.twolayer_numgrad`); the fastest.

The default (``method=None``) is the fastest that applies: "incremental" for a
two-layer net, "cached" otherwise.  All use the book's h = 1e-4 and the book's
loss, with its ``delta`` = 1e-7 inside the log (``delta=0`` gives the gradient
of the plain cross-entropy), plus the weight decay ``0.5 * lambda * sum W^2``
when the net has ``weight_decay_lambda`` > 0: "full" recomputes it with the
loss, the others add its central difference ``0.5 lambda ((w + h)^2 - (w - h)^2)
/ (2 h)`` to each weight's.  They agree to about 1e-11 on float64 nets.  All
compute in float64, also for float32 nets, whose parameters and batch are
converted (exactly) to float64 first; the result is returned in the net's
dtype.  Targets: integer labels or one-hot rows.

Networks with dropout or batch normalization take "full" only (the default for
them): the loss is the training forward's, batch normalization with the batch's
statistics (the running ones neither used nor moved), dropout with one set of masks
drawn from ``net.rng`` as the next training forward would draw it, held fixed for every
evaluation (:mod:`kernels.graph_numgrad_train`).  The book's gradient check of
MultiLayerNetExtend runs without dropout; its numerical_gradient draws fresh masks at
each evaluation, which makes the differences noise.

A network is read through the attributes every fastnn network has: ``ops``
(the :mod:`kernels.graph` table), ``theta`` (the flat parameters), ``params``,
``dtype``, ``weight_decay_lambda``, ``check_params()`` and ``check_input(x, t)``.
"""
import numba
import numpy as np

import kernels as K
from kernels import graph as G
from kernels import graph_numgrad as GN
from kernels import graph_numgrad_train as GT
from kernels import train as KT
from kernels import twolayer_numgrad as T
from kernels.sparse import to_csr

from ._checks import positive_float
from .threads import num_threads

METHODS = ("incremental", "cached", "full")
H = 1e-4
#: The incremental strategy's kernels use one thread below this many (sample, hidden unit)
#: pairs: at 784-50-10, batch 100 (5000 pairs) the work is about 2 ms, and waking a second
#: thread measured 1-5x slower than one on a 2-core machine shared with other jobs.
PARALLEL_MIN_PAIRS = 20000
#: The cached and full methods run on one thread below this many (sample, parameter) pairs
#: (N * P): 3 samples of 784-10-10 (24,000) take well under a millisecond.
PARALLEL_MIN_WORK = 200_000
#: Operation kinds the numerical gradient walks ("full" only for the last two).
KINDS = (G.AFFINE, G.SIGMOID, G.RELU, G.SOFTMAX_LOSS, G.DROPOUT, G.BATCHNORM)
#: Kinds whose loss is the training forward's: the "full" method only.
TRAIN_KINDS = (G.DROPOUT, G.BATCHNORM)


def _labels(t):
    if t.ndim == 1:
        return np.ascontiguousarray(t, dtype=np.intp)
    labels = np.argmax(t, axis=1)
    onehot = np.zeros_like(t)
    onehot[np.arange(t.shape[0]), labels] = 1
    if not np.array_equal(onehot, t):
        raise ValueError("t: the numerical gradient takes integer labels or one-hot rows; "
                         "got soft targets (rows that are not a single 1 among 0s)")
    return np.ascontiguousarray(labels, dtype=np.intp)


def _f64(a):
    return np.ascontiguousarray(a, dtype=np.float64)


def describe_net(net):
    """(ops, theta float64, weight_decay_lambda, layout) of a network, its params checked.

    layout: [(name, offset, shape)] of :func:`kernels.graph.param_layout`.
    """
    net.check_params()
    ops = net.ops
    for k, kind in enumerate(ops[:, G.KIND]):
        if kind not in KINDS:
            names = ", ".join(G.KIND_NAMES[c] for c in KINDS)
            raise ValueError(f"net: operation {k} is {G.KIND_NAMES.get(int(kind), kind)}; "
                             f"the numerical gradient supports {names}")
    lam = float(net.weight_decay_lambda)
    return np.ascontiguousarray(ops, dtype=np.int64), _f64(net.theta), lam, G.param_layout(ops)


def is_two_layer(ops):
    """True for Affine, sigmoid or ReLU, Affine, SoftmaxWithLoss: the incremental method's net."""
    kinds = tuple(int(k) for k in ops[:, G.KIND])
    return len(kinds) == 4 and kinds[0] == kinds[2] == G.AFFINE and kinds[1] in (G.SIGMOID, G.RELU) \
        and kinds[3] == G.SOFTMAX_LOSS


def has_train_ops(ops):
    """True if ops has dropout or batch normalization (the "full" method's only)."""
    return bool(np.isin(ops[:, G.KIND], TRAIN_KINDS).any())


def default_method(net):
    """The fastest method that applies: "incremental" for a two-layer net, "full" for a net
    with dropout or batch normalization, else "cached"."""
    ops = describe_net(net)[0]
    return "incremental" if is_two_layer(ops) else "full" if has_train_ops(ops) else "cached"


def numerical_gradient(net, x, t, method=None, *, h=H, delta=K.DELTA):
    """Central-difference gradient of ``net.loss(x, t)`` for every parameter.

    Returns a dict like ``net.params`` (new arrays of the net's dtype).
    method: None (the fastest that applies), "incremental" (two-layer nets),
    "cached" (any net, from cached activations) or "full" (every loss
    recomputed, the book's algorithm).  h: the step (the incremental
    strategy's series need h <= 1e-3).  delta: the constant inside the log.
    """
    if method is not None and method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS} or None, got {method!r}")
    h = positive_float("h", h)
    delta = positive_float("delta", delta, allow_zero=True)
    ops, theta, lam, layout = describe_net(net)
    two = is_two_layer(ops)
    train = has_train_ops(ops)
    if method is None:
        method = "incremental" if two else "full" if train else "cached"
    if train and method != "full":
        raise ValueError(f"method: {method!r} does not take dropout or batch normalization (their "
                         f"loss couples the samples of the batch); use 'full'")
    if method == "incremental":
        if not two:
            n_aff = int(np.sum(ops[:, G.KIND] == G.AFFINE))
            raise ValueError(f"method: 'incremental' is for two-layer nets (Affine, activation, Affine); "
                             f"this net has {n_aff} Affine layers: use 'cached' or 'full'")
        if h > T.SERIES_MAX:
            raise ValueError(f"h: the incremental strategy needs h <= {T.SERIES_MAX}, got {h}; "
                             "use method='cached' or 'full'")
    x, t = net.check_input(x, t)
    labels = _labels(t)
    x = _f64(x)
    params = {name: theta[o:o + int(np.prod(s))].reshape(s) for name, o, s in layout}
    if method == "incremental":
        grad = _incremental(x, labels, params, ops, h, delta)
        grad += _decay_difference(theta, layout, lam, h)
    elif train:
        grad = _train_full(net, x, labels, ops, theta, lam, h, delta)
    elif method == "full" and two and lam == 0.0:
        grad = _twolayer_full(x, labels, params, ops, h, delta)
    else:
        grad = _graph(method, x, labels, ops, theta, layout, lam, h, delta)
    return {name: np.array(grad[o:o + int(np.prod(s))].reshape(s), dtype=net.dtype)
            for name, o, s in layout}


def _decay_difference(theta, layout, lam, h):
    """Central difference of 0.5 * lam * w^2 for every weight entry, 0 for biases: (P,)."""
    out = np.zeros_like(theta)
    if lam == 0.0:
        return out
    for name, o, shape in layout:
        if name.startswith("W"):
            w = theta[o:o + int(np.prod(shape))]
            out[o:o + w.size] = 0.5 * lam * ((w + h) ** 2 - (w - h) ** 2) / (2 * h)
    return out


def _graph(method, x, labels, ops, theta, layout, lam, h, delta):
    """The generic kernels: cached (plus the decay's central difference) or full."""
    N = x.shape[0]
    P = theta.shape[0]
    width = int(ops[-1, G.AOFF] + ops[-1, G.OUT])
    acts = np.empty(N * width)
    grad = np.empty(P)
    with num_threads(1 if N * P < PARALLEL_MIN_WORK else None):
        nt = numba.get_num_threads()
        GN.forward_rows(ops, theta, x, acts)
        if method == "cached":
            GN.numgrad_cached(ops, theta, x, labels, acts, h, delta, nt, grad)
            grad += _decay_difference(theta, layout, lam, h)
        else:
            GN.numgrad_full(ops, theta, x, labels, acts, lam, h, delta, nt, 16, grad)
    return grad


def _train_full(net, x, labels, ops, theta, lam, h, delta):
    """The full method in training mode (kernels.graph_numgrad_train): batch normalization
    with the batch's statistics, dropout with masks drawn once from ``net.rng`` as one
    training forward draws them (kernels.train.draw_masks) and held for every evaluation."""
    N = x.shape[0]
    width = int(G.build([(int(r[G.KIND]), int(r[G.IN]), int(r[G.OUT])) for r in ops])[3])
    masks = np.empty(0, np.bool_)
    if np.any(ops[:, G.KIND] == G.DROPOUT):
        rng = getattr(net, "rng", None)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"net.rng: expected a numpy.random.Generator for the dropout masks, "
                            f"got {type(rng).__name__}")
        fops = np.ascontiguousarray(net.fops, dtype=np.float64)
        masks = np.ascontiguousarray(KT.draw_masks(ops, fops, rng, [N], width)[0])
    grad = np.empty(theta.shape[0])
    with num_threads(1 if N * theta.shape[0] < PARALLEL_MIN_WORK else None):
        GT.numgrad_full_train(ops, theta, x, labels, masks, lam, h, delta, numba.get_num_threads(), 16, grad)
    return grad


def _compress(x):
    """Nonzeros of x (N, D) float64, row by row: (indptr, indices, values)."""
    return to_csr(x)[:3]


def _act_code(ops):
    return T.RELU if ops[1, G.KIND] == G.RELU else T.SIGMOID


def _flat(grads, params):
    return np.concatenate([np.ravel(grads[k]) for k in params])


def _twolayer_full(x, labels, params, ops, h, delta):
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    N, D = x.shape
    Hd, C = W2.shape
    out = np.empty(D * Hd + Hd + Hd * C + C)
    T.numgrad_full(*_compress(x), D, labels, np.ascontiguousarray(W1.T), _f64(b1),
                   np.ascontiguousarray(W2.T), _f64(b2), _act_code(ops), h, delta,
                   numba.get_num_threads(), 16, out)
    o = D * Hd
    grads = {"W1": out[:o].reshape(Hd, D).T, "b1": out[o:o + Hd],
             "W2": out[o + Hd:o + Hd + Hd * C].reshape(Hd, C), "b2": out[o + Hd + Hd * C:]}
    return _flat(grads, params)


def _incremental(x, labels, params, ops, h, delta):
    W1, b1, W2, b2 = (_f64(params[k]) for k in ("W1", "b1", "W2", "b2"))
    act = _act_code(ops)
    N, D = x.shape
    Hd, C = W2.shape
    with num_threads(1 if N * Hd < PARALLEL_MIN_PAIRS else None):
        sp = _compress(x)
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
    return _flat({"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}, params)
