"""Numerical gradient of networks with batch normalization or dropout, in training mode.

The loss differentiated is the training forward's: batch normalization normalises with
the batch's own mean and variance (so every sample's loss depends on every other sample
of the batch), dropout multiplies by a mask held fixed for every evaluation, and the
loss is the book's ``-sum_n log(softmax(s[n])[t_n] + delta) / N`` plus ``0.5 * lam *
sum W^2`` over the Affine weights (not gamma or beta).  The running statistics are
neither read nor moved.

Each parameter is moved by +h and by -h and the loss of the whole batch recomputed from
its operation on (the book's algorithm, the "full" method): operations before it keep
their cached outputs.  Parallel over parameters (each worker has its own copies of theta
and of the activations); every entry is computed by the same instructions on whichever
thread it lands, so the result does not depend on the thread count.  Arrays are float64,
C-contiguous; the activation buffer has :mod:`kernels.graph`'s layout (batch
normalization's block holds its output, then xn); ``masks`` (N * acts_width,) bool in that
layout (empty without dropout).
"""
import numpy as np
from numba import prange

from ._config import kernel
from .batchnorm import EPS, batchnorm_forward_train
from .graph import AOFF, BATCHNORM, DROPOUT, KIND, OUT, POFF
from .graph_numgrad import _owner, data_loss, op_row, row_in, row_out, softmax_row, weight_decay


@kernel
def train_forward(ops, theta, x, masks, k0, acts, scratch):
    """Training outputs of operations k0..last (the probabilities last) for the whole batch,
    earlier outputs read from acts.  scratch: (3 * max width,) float64 (batch mean, var, std)."""
    N = x.shape[0]
    last = ops.shape[0] - 1
    for k in range(k0, last):
        kind = ops[k, KIND]
        n = ops[k, OUT]
        a = ops[k, AOFF]
        if kind == BATCHNORM:
            p = ops[k, POFF]
            if k == 0:
                xin = x
            else:
                b = ops[k - 1, AOFF]
                xin = acts[N * b:N * (b + n)].reshape((N, n))
            batchnorm_forward_train(xin, theta[p:p + n], theta[p + n:p + 2 * n], EPS, scratch[:n],
                                    scratch[n:2 * n], scratch[2 * n:3 * n],
                                    acts[N * (a + n):N * (a + 2 * n)].reshape((N, n)),
                                    acts[N * a:N * (a + n)].reshape((N, n)))
        elif kind == DROPOUT:
            for r in range(N):
                xin = row_in(ops, x, acts, k, N, r)
                out = row_out(ops, acts, k, N, r)
                for u in range(n):
                    out[u] = xin[u] if masks[N * a + r * n + u] else 0.0
        else:
            for r in range(N):
                op_row(ops, theta, k, row_in(ops, x, acts, k, N, r), row_out(ops, acts, k, N, r))
    for r in range(N):
        softmax_row(row_in(ops, x, acts, last, N, r), row_out(ops, acts, last, N, r))


@kernel
def train_loss(ops, theta, x, labels, masks, lam, delta, acts, scratch):
    """The training loss of the batch (every operation recomputed into acts)."""
    train_forward(ops, theta, x, masks, 0, acts, scratch)
    return data_loss(ops, x, labels, acts, delta) + weight_decay(ops, theta, lam)


@kernel(parallel=True)
def numgrad_full_train(ops, theta, x, labels, masks, lam, h, delta, nt, block, grad):
    """Central differences (L(p + h) - L(p - h)) / (2 h) of every parameter into grad (P,).

    Parameters are dealt to ``nt`` workers (pass ``numba.get_num_threads()``) in blocks
    of ``block``, round robin; each recomputes the loss from the moved parameter's
    operation on."""
    N = x.shape[0]
    P = theta.shape[0]
    width = 0
    big = 1
    for k in range(ops.shape[0]):
        width = max(width, ops[k, AOFF] + (2 if ops[k, KIND] == BATCHNORM else 1) * ops[k, OUT])
        big = max(big, ops[k, OUT])
    base = np.empty(N * width)
    s0 = np.empty(3 * big)
    train_forward(ops, theta, x, masks, 0, base, s0)
    nblocks = (P + block - 1) // block
    for t in prange(nt):
        th = theta.copy()
        ac = base.copy()
        sc = np.empty(3 * big)
        for bk in range(t, nblocks, nt):
            for p in range(bk * block, min(P, (bk + 1) * block)):
                k = _owner(ops, p)
                w = th[p]
                th[p] = w + h
                train_forward(ops, th, x, masks, k, ac, sc)
                fp = data_loss(ops, x, labels, ac, delta) + weight_decay(ops, th, lam)
                th[p] = w - h
                train_forward(ops, th, x, masks, k, ac, sc)
                fm = data_loss(ops, x, labels, ac, delta) + weight_decay(ops, th, lam)
                th[p] = w
                grad[p] = (fp - fm) / (2 * h)
                # outputs of operation k on back to the unmoved ones (the layout is in op order)
                for i in range(N * ops[k, AOFF], N * width):
                    ac[i] = base[i]
    return grad
