"""One SGD training step of the two-layer network in a single kernel call.

Forward (affine, sigmoid or ReLU, affine, softmax-with-loss), backward and
the update ``W <- W - lr * dW`` for W1, b1, W2, b2, in place, with the same
formulas and the same order of operations per element as the layer-by-layer
path (``kernels.affine``, ``kernels.activations``, ``kernels.losses``), so
the result equals ``gradient()`` followed by ``SGD.update`` up to rounding.

Zero pixels are skipped.  Each sample's non-zero columns are listed while it
is read; the first-layer product ``x @ W1`` and its gradient ``x.T @ dA1``
then loop over those columns only.  On MNIST (about 80 % zeros) this does a
fifth of the dense arithmetic, on the same non-zero terms.  One difference
from dense BLAS remains: a zero pixel times a non-finite gradient gives NaN
there and nothing here.

Threads: no BLAS.  ``train_step_serial`` runs on the calling thread.
``train_step_parallel`` splits the batch into ``T`` equal chunks (``T`` =
the first dimension of the per-thread buffers, normally
``numba.get_num_threads()``); each chunk accumulates its gradients into its
own buffers, which are then merged, W1 row by row in parallel and the small
parameters serially.  Nothing is shared between chunks, so there are no
races.  Which of the two pays depends on the batch size: see
:data:`PARALLEL_MIN_BATCH` and bench/.

Buffers come from :func:`make_buffers` and can be reused for every step of
one batch size.  Rows of the W1 gradient that no sample touches are neither
cleared nor read: a per-row stamp says which rows hold this step's sums.
"""
from collections import namedtuple

import numpy as np
from numba import prange

from ._config import kernel
from .losses import DELTA

#: Batches from this size on use the parallel kernel when more than one thread is set.
PARALLEL_MIN_BATCH = 64

ACTIVATION_CODES = {"sigmoid": 0, "relu": 1}

FusedBuffers = namedtuple("FusedBuffers", [
    "idx",    # (N, D) int32: non-zero columns of each sample, first cnt[n] valid
    "cnt",    # (N,) int32
    "z1",     # (N, H): hidden activations
    "dy",     # (N, C): scores, then probabilities, then dL/dA2
    "da1",    # (N, H): dL/dA1
    "gW1",    # (T, D, H): per-chunk W1 gradient, valid where mark == stamp
    "mark",   # (T, D) int64: stamp of the step that last wrote each gW1 row
    "gW2",    # (T, C, H): per-chunk W2 gradient, transposed
    "w2t",    # (C, H): W2 transposed, so that inner loops run over the hidden size
    "gb1",    # (T, H)
    "gb2",    # (T, C)
    "gloss",  # (T,) float64: per-chunk sums of log-probabilities
    "row",    # (T, H): scratch row for merging gW1
    "state",  # (2,) int64: [step stamp, count of non-finite inputs seen]
])


def make_buffers(batch_size, input_size, hidden_size, output_size, dtype, threads=1):
    """Work buffers for batches of ``batch_size`` and ``threads`` chunks."""
    N, D, H, C, T = batch_size, input_size, hidden_size, output_size, max(1, threads)
    dt = np.dtype(dtype)
    return FusedBuffers(
        idx=np.empty((N, D), np.int32), cnt=np.empty(N, np.int32),
        z1=np.empty((N, H), dt), dy=np.empty((N, C), dt), da1=np.empty((N, H), dt),
        gW1=np.empty((T, D, H), dt), mark=np.zeros((T, D), np.int64),
        gW2=np.empty((T, C, H), dt), w2t=np.empty((C, H), dt), gb1=np.empty((T, H), dt), gb2=np.empty((T, C), dt),
        gloss=np.empty(T, np.float64), row=np.empty((T, H), dt), state=np.zeros(2, np.int64),
    )


@kernel
def _chunk(n0, n1, t, x, labels, tdense, W1, b1, W2T, b2, relu,
           idx, cnt, z1, dy, da1, gW1, mark, gW2, gb1, gb2, gloss, stamp):
    """Forward and backward of samples n0..n1-1 into chunk t's gradient buffers.

    Returns the number of samples in the chunk whose x holds NaN or inf.
    """
    D, H = W1.shape
    C = W2T.shape[0]
    N = x.shape[0]
    dense = tdense.shape[0] > 0
    zero = W1.dtype.type(0.0)
    one = W1.dtype.type(1.0)
    inv_n = W1.dtype.type(1.0 / N)
    delta = W1.dtype.type(DELTA)
    gw2 = gW2[t]
    gbias1 = gb1[t]
    gbias2 = gb2[t]
    gw1 = gW1[t]
    mk = mark[t]
    for h in range(H):
        gbias1[h] = zero
    for c in range(C):
        gbias2[c] = zero
        for h in range(H):
            gw2[c, h] = zero
    logsum = 0.0
    bad = 0
    for n in range(n0, n1):
        xr = x[n]
        ir = idx[n]
        # non-zero columns of this sample
        m = 0
        for d in range(D):
            ir[m] = d
            m += xr[d] != zero
        cnt[n] = m
        # a1 = x @ W1 + b1 over the non-zero columns, four at a time
        zr = z1[n]
        for h in range(H):
            zr[h] = zero
        chk = zero  # stays 0 unless a value is NaN or inf (x * 0 is NaN then)
        k = 0
        while k + 4 <= m:
            v0 = xr[ir[k]]
            v1 = xr[ir[k + 1]]
            v2 = xr[ir[k + 2]]
            v3 = xr[ir[k + 3]]
            w0 = W1[ir[k]]
            w1 = W1[ir[k + 1]]
            w2 = W1[ir[k + 2]]
            w3 = W1[ir[k + 3]]
            chk += v0 * zero + v1 * zero + v2 * zero + v3 * zero
            for h in range(H):
                zr[h] += v0 * w0[h] + v1 * w1[h] + v2 * w2[h] + v3 * w3[h]
            k += 4
        while k < m:
            v0 = xr[ir[k]]
            w0 = W1[ir[k]]
            chk += v0 * zero
            for h in range(H):
                zr[h] += v0 * w0[h]
            k += 1
        if chk != zero:
            bad += 1
        # z1 = activation(a1)
        if relu:
            for h in range(H):
                a = zr[h] + b1[h]
                zr[h] = a if a > 0 else zero
        else:
            for h in range(H):
                a = zr[h] + b1[h]
                zr[h] = one / (one + np.exp(-a))
        # a2 = z1 @ W2 + b2
        yr = dy[n]
        for c in range(C):
            wc = W2T[c]
            a = zero
            for h in range(H):
                a += zr[h] * wc[h]
            yr[c] = a + b2[c]
        # softmax, max subtracted first
        mx = yr[0]
        for c in range(1, C):
            if yr[c] > mx:
                mx = yr[c]
        s = zero
        for c in range(C):
            e = np.exp(yr[c] - mx)
            yr[c] = e
            s += e
        inv = one / s
        for c in range(C):
            yr[c] *= inv
        # cross-entropy and dL/dA2 = (y - t) / N
        if dense:
            tr = tdense[n]
            for c in range(C):
                if tr[c] != 0:
                    logsum += tr[c] * np.log(yr[c] + delta)
            for c in range(C):
                yr[c] = (yr[c] - tr[c]) * inv_n
        else:
            lab = labels[n]
            ylab = yr[lab]
            logsum += np.log(ylab + delta)
            for c in range(C):
                yr[c] = yr[c] * inv_n
            yr[lab] = (ylab - 1) * inv_n
        # dW2 += z1^T dy, db2 += dy
        for c in range(C):
            gbias2[c] += yr[c]
        for c in range(C):
            yc = yr[c]
            gc = gw2[c]
            for h in range(H):
                gc[h] += zr[h] * yc
        # dA1 = (dy @ W2^T) * activation'
        gr = da1[n]
        for h in range(H):
            gr[h] = zero
        for c in range(C):
            yc = yr[c]
            wc = W2T[c]
            for h in range(H):
                gr[h] += yc * wc[h]
        for h in range(H):
            g = gr[h]
            if relu:
                gr[h] = g if zr[h] > 0 else zero
            else:
                gr[h] = g * (one - zr[h]) * zr[h]
            gbias1[h] += gr[h]
        # dW1 += x^T dA1 over the non-zero columns
        for k in range(m):
            d = ir[k]
            v = xr[d]
            wr = gw1[d]
            if mk[d] != stamp:
                mk[d] = stamp
                for h in range(H):
                    wr[h] = v * gr[h]
            else:
                for h in range(H):
                    wr[h] += v * gr[h]
    gloss[t] = logsum
    return bad


@kernel
def _transpose(a, out):
    """out = a.T.  a: (R, K), out: (K, R)."""
    R, K = a.shape
    for r in range(R):
        for k in range(K):
            out[k, r] = a[r, k]


@kernel
def _update_w1_rows(d0, d1, T, W1, gW1, mark, stamp, lr, row):
    """W1[d] -= lr * sum over chunks t < T of gW1[t, d], for rows d0..d1-1 some chunk touched."""
    H = W1.shape[1]
    for d in range(d0, d1):
        first = -1
        many = False
        for t in range(T):
            if mark[t, d] == stamp:
                if first < 0:
                    first = t
                else:
                    many = True
        if first < 0:
            continue
        wr = W1[d]
        if not many:
            g = gW1[first, d]
            for h in range(H):
                wr[h] -= lr * g[h]
        else:
            for h in range(H):
                row[h] = gW1[first, d, h]
            for t in range(first + 1, T):
                if mark[t, d] == stamp:
                    for h in range(H):
                        row[h] += gW1[t, d, h]
            for h in range(H):
                wr[h] -= lr * row[h]


@kernel
def _update_small(T, W2, b1, b2, gW2, gb1, gb2, gloss, lr, n):
    """Merge chunks t < T of the W2, b1, b2 gradients and loss sums; update; return the loss."""
    H, C = W2.shape
    for h in range(H):
        for c in range(C):
            g = gW2[0, c, h]
            for t in range(1, T):
                g += gW2[t, c, h]
            W2[h, c] -= lr * g
    for h in range(H):
        g = gb1[0, h]
        for t in range(1, T):
            g += gb1[t, h]
        b1[h] -= lr * g
    for c in range(C):
        g = gb2[0, c]
        for t in range(1, T):
            g += gb2[t, c]
        b2[c] -= lr * g
    s = 0.0
    for t in range(T):
        s += gloss[t]
    return -s / n


@kernel
def train_step_serial(x, labels, tdense, W1, b1, W2, b2, lr, relu,
                      idx, cnt, z1, dy, da1, gW1, mark, gW2, w2t, gb1, gb2, gloss, row, state):
    """One SGD step on the calling thread; returns the mean loss before the update.

    x: (N, D); labels: (N,) int (ignored when tdense has N rows); tdense:
    (N, C) one-hot/soft targets or (0, C); W1 (D, H), b1 (H,), W2 (H, C),
    b2 (C,) of x's dtype, updated in place; lr: float; relu: 1 for ReLU,
    0 for sigmoid; the rest from :func:`make_buffers` (any T >= 1, only
    chunk 0 is used).  If x holds NaN or inf, nothing is updated,
    ``state[1]`` counts the samples that do and NaN is returned.
    """
    state[0] += 1
    stamp = state[0]
    N = x.shape[0]
    _transpose(W2, w2t)
    bad = _chunk(0, N, 0, x, labels, tdense, W1, b1, w2t, b2, relu,
                 idx, cnt, z1, dy, da1, gW1, mark, gW2, gb1, gb2, gloss, stamp)
    state[1] = bad
    if bad:
        return np.nan
    lr_t = W1.dtype.type(lr)
    _update_w1_rows(0, W1.shape[0], 1, W1, gW1, mark, stamp, lr_t, row[0])
    return _update_small(1, W2, b1, b2, gW2, gb1, gb2, gloss, lr_t, N)


@kernel(parallel=True)
def train_step_parallel(x, labels, tdense, W1, b1, W2, b2, lr, relu,
                        idx, cnt, z1, dy, da1, gW1, mark, gW2, w2t, gb1, gb2, gloss, row, state):
    """Twin of :func:`train_step_serial` over T = gW1.shape[0] chunks of the batch in parallel."""
    state[0] += 1
    stamp = state[0]
    N = x.shape[0]
    _transpose(W2, w2t)
    D = W1.shape[0]
    T = gW1.shape[0]
    bad = np.zeros(T, np.int64)
    for t in prange(T):
        bad[t] = _chunk(t * N // T, (t + 1) * N // T, t, x, labels, tdense, W1, b1, w2t, b2, relu,
                        idx, cnt, z1, dy, da1, gW1, mark, gW2, gb1, gb2, gloss, stamp)
    nbad = 0
    for t in range(T):
        nbad += bad[t]
    state[1] = nbad
    if nbad:
        return np.nan
    lr_t = W1.dtype.type(lr)
    for t in prange(T):
        _update_w1_rows(t * D // T, (t + 1) * D // T, T, W1, gW1, mark, stamp, lr_t, row[t])
    return _update_small(T, W2, b1, b2, gW2, gb1, gb2, gloss, lr_t, N)


def train_step(x, labels, W1, b1, W2, b2, lr, buffers, *, activation="sigmoid", targets=None,
               parallel=None):
    """One fused SGD step; returns the loss (NaN, and no update, if x is not finite).

    Unchecked: x (N, D) C-contiguous float32/float64; labels (N,) intp in
    [0, C) or None with ``targets`` (N, C) of x's dtype; parameters
    C-contiguous of x's dtype; ``buffers`` from :func:`make_buffers` for
    this N.  ``parallel`` None picks the parallel kernel when the buffers
    have more than one chunk and N >= PARALLEL_MIN_BATCH.
    """
    N, C = x.shape[0], W2.shape[1]
    if targets is None:
        targets = np.empty((0, C), x.dtype)
    if labels is None:
        labels = np.zeros(N, np.intp)
    if parallel is None:
        parallel = buffers.gW1.shape[0] > 1 and N >= PARALLEL_MIN_BATCH
    fn = train_step_parallel if parallel else train_step_serial
    return fn(x, labels, targets, W1, b1, W2, b2, float(lr), ACTIVATION_CODES[activation], *buffers)
