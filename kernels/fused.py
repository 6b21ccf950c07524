"""SGD training steps of the two-layer network, fused into compiled loops.

One step is the forward pass (affine, sigmoid or ReLU, affine,
softmax-with-loss), the backward pass and the update ``W <- W - lr * dW``
of W1, b1, W2, b2 in place: the formulas of the layer-by-layer path
(``kernels.affine``, ``kernels.activations``, ``kernels.losses``), so the
result equals ``gradient()`` followed by ``SGD.update`` up to rounding.

Inputs are read as compressed sparse rows (:mod:`kernels.sparse`): a data
set is compressed once and a batch is a list of row numbers, so no batch is
copied and zero pixels cost nothing.  The first-layer product
``x @ W1`` loops over each sample's non-zero pixels (:mod:`kernels.sparse_product`);
the first-layer gradient ``x.T @ dA1`` is scattered sample by sample over the
same pixels into rows padded to 64 bytes, then ``W1 -= lr * dW1`` once (small
batches, :func:`kernels.sparse_product.few_nonzeros`: ``W1[d] -= lr * x[n, d] * dA1[n]`` in place).  On
MNIST (about 80 % zeros) that is a fifth of the dense arithmetic.  :func:`train_steps` runs many steps in
one call; :func:`step_dense_serial` / :func:`step_dense_parallel` take one
step on a dense batch, compressing each chunk of it as they reach it (same
arithmetic in the same order, so the same bits as compressing first).

Threads: no BLAS anywhere.  Both twins split a batch of N samples into the
same fixed chunks (:func:`chunks`: a function of N alone, never of the thread
count), sum each chunk's W2/b1/b2 gradients and log-probabilities privately
and merge the chunks in order, and update W1 by ranges of pixels (each W1
row still gets its samples' contributions in batch order).  So the
``*_serial`` kernel (calling thread) and its ``*_parallel`` twin (chunks in
``prange``) give the same bits on any number of threads.  Which is faster
depends on the batch size and on the machine's load: see fastnn.threads.
"""
from collections import namedtuple

import numba
import numpy as np
from numba import prange

from ._config import kernel
from .exponential import exp
from .losses import DELTA
from .sparse import compress_row, lower_bound
from .sparse_product import few_nonzeros, padded_rows, scatter_row, sparse_row

#: With more than one thread, batches from this size on use the parallel kernels.
PARALLEL_MIN_BATCH = 64
#: A batch is split into ``min(MAX_CHUNKS, max(1, N // CHUNK_ROWS))`` chunks of samples
#: (see :func:`chunks`).  16 chunks feed up to 16 threads; with at least 8 samples a chunk,
#: zeroing and merging the per-chunk sums costs under 1 % of a step at 50 hidden units.
MAX_CHUNKS = 16
CHUNK_ROWS = 8

ACTIVATION_CODES = {"sigmoid": 0, "relu": 1}

FusedBuffers = namedtuple("FusedBuffers", [
    "z1",     # (N, H): hidden activations
    "dy",     # (N, C): scores, then probabilities, then dL/dA2
    "da1",    # (N, H): dL/dA1
    "w2t",    # (C, H): W2 transposed, so that inner loops run over the hidden size
    "gW2",    # (P, C, H): per-chunk W2 gradient, transposed (P = chunks(batch_size))
    "gb1",    # (P, H)
    "gb2",    # (P, C)
    "gloss",  # (P,) float64: per-chunk sums of log-probabilities
    "gw1",    # (D, Hp): W1's gradient in rows padded to 64 bytes (sparse_product.padded_rows)
])


@kernel
def chunks(n):
    """Number of chunks a batch of n samples is split into: a function of n alone, so that
    sums over the batch are added in the same order on any number of threads.  Chunk t
    holds samples ``t * n // P`` to ``(t + 1) * n // P - 1``."""
    return min(MAX_CHUNKS, max(1, n // CHUNK_ROWS))


def make_buffers(batch_size, input_size, hidden_size, output_size, dtype, threads=None):
    """Work buffers for batches of up to ``batch_size`` samples (``threads`` is not needed:
    the chunks depend on the batch size only, see :func:`chunks`)."""
    N, H, C, T = batch_size, hidden_size, output_size, chunks(batch_size)
    dt = np.dtype(dtype)
    return FusedBuffers(
        z1=np.empty((N, H), dt), dy=np.empty((N, C), dt), da1=np.empty((N, H), dt),
        w2t=np.empty((C, H), dt), gW2=np.empty((T, C + 1, H), dt), gb1=per_thread(T, H, dt),
        gb2=per_thread(T, C, dt), gloss=np.empty(T, np.float64), gw1=padded_rows(input_size, H, dt),
    )


def per_thread(threads, width, dtype):
    """(threads, >= width) rows, one per thread, a cache line apart: threads that
    accumulate into neighbouring rows would otherwise keep stealing the line they share."""
    line = 64 // np.dtype(dtype).itemsize
    return np.empty((threads, -(-width // line) * line + line), dtype)


def hidden_hint(hidden_size):
    """A tuple whose length is the hidden size, passed to the kernels so that the loops
    over hidden units have a trip count known at compile time (one compilation per
    hidden size, cached): at 50 hidden units that made the first layer's loops 10-25 %
    faster than with the size read from an array at run time."""
    return (0,) * hidden_size


@kernel
def _transpose(a, out):
    """out = a.T.  a: (R, K), out: (K, R)."""
    R, K = a.shape
    for r in range(R):
        for k in range(K):
            out[k, r] = a[r, k]


@kernel(error_model="numpy")
def _hidden(p0, p1, indices, values, W1, b1, relu, zr, hint):
    """zr = activation(x @ W1 + b1) for one sample whose non-zeros are at p0..p1-1 of the CSR."""
    H = len(hint)
    zero = W1.dtype.type(0.0)
    one = W1.dtype.type(1.0)
    for h in range(H):
        zr[h] = zero
    sparse_row(p0, p1, indices, values, W1, zr[:H])
    if relu:
        for h in range(H):
            a = zr[h] + b1[h]
            zr[h] = a if a > 0 else zero
    else:
        for h in range(H):
            a = zr[h] + b1[h]
            zr[h] = one / (one + exp(-a))


@kernel
def _scores(zr, W2T, b2, yr):
    """yr = zr @ W2 + b2, with W2 given transposed (C, H).

    The hidden size is read from W2T, not passed as a hint: with a trip count
    known at compile time LLVM unrolls these dot products fully and then
    fails to vectorize them (measured 3x slower than this loop).
    """
    C, H = W2T.shape
    for c in range(C):
        wc = W2T[c]
        a = W2T.dtype.type(0.0)
        for h in range(H):
            a += zr[h] * wc[h]
        yr[c] = a + b2[c]


@kernel
def _softmax_row(yr, C):
    """yr[:C] = softmax(yr[:C]) in place, max subtracted first."""
    mx = yr[0]
    for c in range(1, C):
        if yr[c] > mx:
            mx = yr[c]
    s = yr.dtype.type(0.0)
    for c in range(C):
        e = exp(yr[c] - mx)
        yr[c] = e
        s += e
    inv = yr.dtype.type(1.0) / s
    for c in range(C):
        yr[c] *= inv


@kernel
def _samples(rows, j0, j1, t, N, lo, hi, indices, values, labels, tdense, W1, b1, W2T, b2, relu,
             z1, dy, da1, gW2, gb1, gb2, gloss, hint):
    """Forward and backward of batch samples j0..j1-1 (data rows ``rows[j]``), all but dW1.

    Row r's non-zeros are at positions lo[r]..hi[r]-1 of indices/values (a CSR's
    ``indptr[:-1]`` and ``indptr[1:]``).
    Writes z1, dy (= dL/dA2), da1 (= dL/dA1) rows j, and chunk t's sums of
    the W2, b1, b2 gradients and of the log-probabilities.
    """
    H = len(hint)
    C = W2T.shape[0]
    dense = tdense.shape[0] > 0
    zero = W1.dtype.type(0.0)
    one = W1.dtype.type(1.0)
    inv_n = W1.dtype.type(1.0 / N)
    delta = W1.dtype.type(DELTA)
    gw2 = gW2[t]
    gbias1 = gb1[t]
    gbias2 = gb2[t]
    for h in range(H):
        gbias1[h] = zero
    for c in range(C):
        gbias2[c] = zero
        for h in range(H):
            gw2[c, h] = zero
    logsum = 0.0
    for j in range(j0, j1):
        r = rows[j]
        p0 = lo[r]
        p1 = hi[r]
        zr = z1[j]
        _hidden(p0, p1, indices, values, W1, b1, relu, zr, hint)
        yr = dy[j]
        _scores(zr, W2T, b2, yr)
        _softmax_row(yr, C)
        # cross-entropy (with the book's 1e-7) and dL/dA2 = (y - t) / N
        if dense:
            tr = tdense[r]
            for c in range(C):
                if tr[c] != 0:
                    logsum += tr[c] * np.log(yr[c] + delta)
            for c in range(C):
                yr[c] = (yr[c] - tr[c]) * inv_n
        else:
            lab = labels[r]
            ylab = yr[lab]
            logsum += np.log(ylab + delta)
            for c in range(C):
                yr[c] = yr[c] * inv_n
            yr[lab] = (ylab - 1) * inv_n
        # dW2 += z1^T dy, db2 += dy
        for c in range(C):
            yc = yr[c]
            gbias2[c] += yc
            gc = gw2[c]
            for h in range(H):
                gc[h] += zr[h] * yc
        # dZ1 = dy @ W2^T, two classes a pass (half the passes over the row)
        gr = da1[j]
        c = 0
        if C % 2:
            y0 = yr[0]
            w0 = W2T[0]
            for h in range(H):
                gr[h] = y0 * w0[h]
            c = 1
        else:
            for h in range(H):
                gr[h] = zero
        while c < C:
            y0 = yr[c]
            y1 = yr[c + 1]
            w0 = W2T[c]
            w1 = W2T[c + 1]
            for h in range(H):
                gr[h] += y0 * w0[h] + y1 * w1[h]
            c += 2
        # dA1 = dZ1 * activation'(a1), db1 += dA1
        if relu:
            for h in range(H):
                g = gr[h] if zr[h] > 0 else zero
                gr[h] = g
                gbias1[h] += g
        else:
            for h in range(H):
                g = gr[h] * (one - zr[h]) * zr[h]
                gr[h] = g
                gbias1[h] += g
    gloss[t] = logsum


@kernel
def _gradient_rows(gw1, d0, d1):
    """Rows d0..d1-1 of the padded W1 gradient: (d1 - d0, Hp) C-contiguous.  They are all
    zero between steps: :func:`_apply_w1` zeroes each row it reads."""
    Hp = gw1.shape[1]
    return gw1.ravel()[d0 * Hp:d1 * Hp].reshape((d1 - d0, Hp))


@kernel
def _apply_w1(G, d0, W1, lr, H):
    """W1[d0 + i] -= lr * G[i] over the H columns of W1, every row; then G = 0."""
    zero = G.dtype.type(0.0)
    for i in range(G.shape[0]):
        wr = W1[d0 + i]
        gr = G[i]
        for h in range(H):
            wr[h] -= lr * gr[h]
        for h in range(gr.size):
            gr[h] = zero


@kernel
def _update_w1_sample(ix, vx, g, W1, lr, H):
    """W1[ix[k]] -= (lr * vx[k]) * g in place for one sample's non-zero pixels ix, values vx."""
    for k in range(ix.size):
        c = lr * vx[k]
        wr = W1[ix[k]]
        for h in range(H):
            wr[h] -= c * g[h]


@kernel
def _update_w1(rows, N, d0, d1, lo, hi, indices, values, da1, W1, gw1, lr, hint):
    """W1[d] -= lr * sum over the batch of x[n, d] * dA1[n] for the pixels d in [d0, d1)
    (non-zeros of row r at lo[r]..hi[r]-1): each sample's contributions scattered in batch
    order into gw1's padded rows (kernels.sparse_product.scatter_row: no vector straddles two
    cache lines; W1's own 50-wide rows start at 8 different places in a line), then W1
    updated once; small batches (kernels.sparse_product.few_nonzeros) update W1's rows in place
    instead."""
    H = len(hint)
    whole = d0 == 0 and d1 == W1.shape[0]
    nnz = 0
    for j in range(N):
        nnz += hi[rows[j]] - lo[rows[j]]
    direct = few_nonzeros(nnz, W1.shape[0])
    G = _gradient_rows(gw1, d0, d1)
    for j in range(N):
        r = rows[j]
        p0 = lo[r]
        p1 = hi[r]
        if not whole:
            p0 = lower_bound(indices, p0, p1, d0)
            p1 = lower_bound(indices, p0, p1, d1)
        if direct:
            _update_w1_sample(indices[p0:p1], values[p0:p1], da1[j], W1, lr, H)
        else:
            scatter_row(p0, p1, indices, values, da1[j], G, d0)
    if not direct:
        _apply_w1(G, d0, W1, lr, H)


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
def _evaluate_chunk(t, T, indptr, indices, values, labels, W1, b1, w2t, b2, relu, need_loss, z1, y,
                    hits, logs, hint):
    """Chunk t of T of :func:`evaluate`: rows ``t * N // T`` to ``(t + 1) * N // T - 1``."""
    N = indptr.size - 1
    C = w2t.shape[0]
    delta = W1.dtype.type(DELTA)
    zr = z1[t]
    yr = y[t]
    correct = 0
    logsum = 0.0
    for n in range(t * N // T, (t + 1) * N // T):
        _hidden(indptr[n], indptr[n + 1], indices, values, W1, b1, relu, zr, hint)
        _scores(zr, w2t, b2, yr)
        best = 0
        for c in range(1, C):
            if yr[c] > yr[best]:
                best = c
        correct += best == labels[n]
        if need_loss:
            _softmax_row(yr, C)
            logsum += np.log(yr[labels[n]] + delta)
    hits[t] = correct
    logs[t] = logsum


@kernel(parallel=True)
def evaluate(indptr, indices, values, labels, W1, b1, W2, b2, relu, need_loss, z1, y, w2t, hits, logs,
             hint):
    """Forward passes of every row of the CSR data: per-chunk counts of correct
    arg-max predictions into ``hits`` (T,) and, if need_loss, sums of
    log(softmax(y)[label] + 1e-7) into ``logs`` (T,) float64 (else 0; the
    arg-max needs no softmax).  z1: (T, >= H), y: (T, >= C) scratch rows from
    :func:`per_thread`, w2t: (C, H) scratch; T chunks in parallel (T chosen by
    the caller, not by the thread count, so that the sums do not depend on
    it).  hint: a tuple of length H (see :func:`hidden_hint`).
    """
    T = hits.size
    _transpose(W2, w2t)
    for t in prange(T):
        _evaluate_chunk(t, T, indptr, indices, values, labels, W1, b1, w2t, b2, relu, need_loss, z1, y,
                        hits, logs, hint)


@kernel
def evaluate_serial(indptr, indices, values, labels, W1, b1, W2, b2, relu, need_loss, z1, y, w2t, hits,
                    logs, hint):
    """Serial twin of :func:`evaluate`: the same chunks in turn, the same results."""
    T = hits.size
    _transpose(W2, w2t)
    for t in range(T):
        _evaluate_chunk(t, T, indptr, indices, values, labels, W1, b1, w2t, b2, relu, need_loss, z1, y,
                        hits, logs, hint)


@kernel
def train_steps_serial(indptr, indices, values, labels, tdense, order, start, nsteps, batch,
                       W1, b1, W2, b2, lr, relu, z1, dy, da1, w2t, gW2, gb1, gb2, gloss, gw1, losses, hint):
    """``nsteps`` SGD steps on the calling thread; step s uses the data rows
    ``order[start + s * batch : start + (s + 1) * batch]`` (the last batch may be
    shorter) and writes its loss before the update into ``losses[s]``.

    indptr, indices, values: CSR of the data (N_data, D); labels: (N_data,) int
    (ignored when tdense has rows); tdense: (N_data, C) one-hot/soft targets or
    (0, C); W1 (D, H), b1 (H,), W2 (H, C), b2 (C,) of the values' dtype,
    updated in place; lr: float; relu: 1 for ReLU, 0 for sigmoid; the rest
    from :func:`make_buffers`.
    """
    D = W1.shape[0]
    lr_t = W1.dtype.type(lr)
    lo = indptr[:-1]
    hi = indptr[1:]
    for s in range(nsteps):
        j0 = start + s * batch
        rows = order[j0:min(j0 + batch, order.size)]
        N = rows.size
        P = chunks(N)
        _transpose(W2, w2t)
        for t in range(P):
            _samples(rows, t * N // P, (t + 1) * N // P, t, N, lo, hi, indices, values, labels, tdense,
                     W1, b1, w2t, b2, relu, z1, dy, da1, gW2, gb1, gb2, gloss, hint)
        _update_w1(rows, N, 0, D, lo, hi, indices, values, da1, W1, gw1, lr_t, hint)
        losses[s] = _update_small(P, W2, b1, b2, gW2, gb1, gb2, gloss, lr_t, N)


@kernel(parallel=True)
def train_steps_parallel(indptr, indices, values, labels, tdense, order, start, nsteps, batch,
                         W1, b1, W2, b2, lr, relu, z1, dy, da1, w2t, gW2, gb1, gb2, gloss, gw1, losses, hint):
    """Twin of :func:`train_steps_serial`: the same chunks of each batch, in parallel; then
    W1 updated in P ranges of pixels in parallel.  Same bits as the serial twin."""
    D = W1.shape[0]
    lr_t = W1.dtype.type(lr)
    lo = indptr[:-1]
    hi = indptr[1:]
    for s in range(nsteps):
        j0 = start + s * batch
        rows = order[j0:min(j0 + batch, order.size)]
        N = rows.size
        P = chunks(N)
        _transpose(W2, w2t)
        for t in prange(P):
            _samples(rows, t * N // P, (t + 1) * N // P, t, N, lo, hi, indices, values, labels, tdense,
                     W1, b1, w2t, b2, relu, z1, dy, da1, gW2, gb1, gb2, gloss, hint)
        for t in prange(P):
            _update_w1(rows, N, t * D // P, (t + 1) * D // P, lo, hi, indices, values, da1, W1, gw1, lr_t, hint)
        losses[s] = _update_small(P, W2, b1, b2, gW2, gb1, gb2, gloss, lr_t, N)


#: Buffers of :func:`step_dense`: each sample j of a dense batch gets the positions
#: ``lo[j] = j * D`` to ``hi[j] - 1`` of indices/values for its non-zeros.
#: ``cuts[j, t]`` is the first of those positions whose pixel is at least ``t * D // U``
#: (U ranges, one per thread): where the W1 update's range t of pixels starts in sample j's list.
#: ``bad[t]``: rows of chunk t holding NaN or inf (``bad[0]``: of the batch, after the step).
DenseBuffers = namedtuple("DenseBuffers", ["rows", "lo", "hi", "cuts", "indices", "values", "bad"])


def make_dense_buffers(batch_size, input_size, dtype):
    """:class:`DenseBuffers` for dense batches of up to ``batch_size`` rows of ``input_size``."""
    N, D = batch_size, input_size
    return DenseBuffers(rows=np.arange(N, dtype=np.int64), lo=np.arange(N, dtype=np.int64) * D,
                        hi=np.empty(N, np.int64), cuts=np.empty((N, MAX_CHUNKS + 1), np.int64),
                        indices=np.empty(N * D, np.uint16 if D <= 1 << 16 else np.uint32),
                        values=np.empty(N * D, dtype), bad=np.zeros(MAX_CHUNKS, np.int64))


@kernel
def _compress_rows(x, j0, j1, P, lo, hi, cuts, indices, values):
    """Non-zeros of x[j] into indices/values from lo[j] on, for j in [j0, j1); hi[j]: their end;
    cuts[j, :P + 1]: where each of the P ranges of pixels starts (found once per row here:
    searching inside the parallel update cost as much as the update itself).
    Returns how many of the rows hold NaN or inf (zeros are finite, so the non-zeros tell:
    a pass over a fifth of the pixels of an MNIST row)."""
    D = x.shape[1]
    zero = values.dtype.type(0.0)
    bad = 0
    for j in range(j0, j1):
        p = lo[j]
        end = compress_row(x[j], indices, values, p)
        hi[j] = end
        chk = zero          # v * 0 is 0 for finite v, NaN otherwise
        vx = values[p:end]  # positions from 0: no test for negative ones, so the loop vectorizes
        for q in range(vx.size):
            chk += vx[q] * zero
        bad += chk != zero
        cj = cuts[j]
        for t in range(P):
            p = lower_bound(indices, p, end, t * D // P)
            cj[t] = p
        cj[P] = end
    return bad


@kernel
def _update_w1_range(N, t, U, cuts, indices, values, da1, W1, gw1, lr, hint):
    """:func:`_update_w1` for range t of U ranges of pixels (positions cuts[n, t] to
    cuts[n, t + 1] - 1 of each sample n), samples in batch order."""
    D = W1.shape[0]
    H = len(hint)
    d0 = t * D // U
    nnz = 0
    for j in range(N):
        nnz += cuts[j, U] - cuts[j, 0]
    direct = few_nonzeros(nnz, D)
    G = _gradient_rows(gw1, d0, (t + 1) * D // U)
    for j in range(N):
        q0 = cuts[j, t]
        q1 = cuts[j, t + 1]
        if direct:
            _update_w1_sample(indices[q0:q1], values[q0:q1], da1[j], W1, lr, H)
        else:
            scatter_row(q0, q1, indices, values, da1[j], G, d0)
    if not direct:
        _apply_w1(G, d0, W1, lr, H)


@kernel
def step_dense_serial(x, labels, tdense, W1, b1, W2, b2, lr, threads, relu, rows, lo, hi, cuts, indices, values,
                      bad, z1, dy, da1, w2t, gW2, gb1, gb2, gloss, gw1, hint):
    """One SGD step on the dense batch x (N, D), compressed chunk by chunk as the forward pass
    reaches it (no CSR of the batch made beforehand); returns the loss before the update.

    labels: (N,) int (ignored when tdense has rows); tdense: (N, C) or (0, C); threads:
    numba's thread count (the parallel twin updates W1 in that many ranges of pixels);
    rows .. bad from :func:`make_dense_buffers`, z1 .. gloss from
    :func:`make_buffers`, both for at least N samples.  Same arithmetic, in the
    same order, as :func:`train_steps_serial` on ``to_csr(x)``, so the same bits.
    x is not checked beforehand: when a row holds NaN or inf, ``bad[0]`` says how many
    and no parameter is changed (the loss returned is then meaningless).
    """
    N, D = x.shape
    lr_t = W1.dtype.type(lr)
    P = chunks(N)
    _transpose(W2, w2t)
    nbad = 0
    for t in range(P):
        j0 = t * N // P
        j1 = (t + 1) * N // P
        nbad += _compress_rows(x, j0, j1, 0, lo, hi, cuts, indices, values)   # no cuts needed
        _samples(rows, j0, j1, t, N, lo, hi, indices, values, labels, tdense,
                 W1, b1, w2t, b2, relu, z1, dy, da1, gW2, gb1, gb2, gloss, hint)
    bad[0] = nbad
    if nbad:
        return 0.0
    _update_w1(rows, N, 0, D, lo, hi, indices, values, da1, W1, gw1, lr_t, hint)
    return _update_small(P, W2, b1, b2, gW2, gb1, gb2, gloss, lr_t, N)


@kernel(parallel=True)
def step_dense_parallel(x, labels, tdense, W1, b1, W2, b2, lr, threads, relu, rows, lo, hi, cuts, indices, values,
                        bad, z1, dy, da1, w2t, gW2, gb1, gb2, gloss, gw1, hint):
    """Twin of :func:`step_dense_serial`: chunks in parallel, then W1 by ranges of pixels
    (as :func:`train_steps_parallel`).  Same bits as the serial twin.

    The W1 update runs in one range of pixels per thread: each row of W1 still gets its
    samples' contributions in batch order, so the bits do not depend on the ranges."""
    N, D = x.shape
    lr_t = W1.dtype.type(lr)
    P = chunks(N)
    U = max(1, min(threads, MAX_CHUNKS))
    _transpose(W2, w2t)
    for t in prange(P):
        j0 = t * N // P
        j1 = (t + 1) * N // P
        bad[t] = _compress_rows(x, j0, j1, U, lo, hi, cuts, indices, values)
        _samples(rows, j0, j1, t, N, lo, hi, indices, values, labels, tdense,
                 W1, b1, w2t, b2, relu, z1, dy, da1, gW2, gb1, gb2, gloss, hint)
    nbad = 0
    for t in range(P):
        nbad += bad[t]
    bad[0] = nbad
    if nbad:
        return 0.0
    for t in prange(U):
        _update_w1_range(N, t, U, cuts, indices, values, da1, W1, gw1, lr_t, hint)
    return _update_small(P, W2, b1, b2, gW2, gb1, gb2, gloss, lr_t, N)


def train_steps(data, labels, order, start, nsteps, batch, W1, b1, W2, b2, lr, buffers, losses, *,
                activation="sigmoid", targets=None, parallel=None):
    """Run ``nsteps`` fused SGD steps over ``order[start:]`` in batches of ``batch`` rows of data.

    Unchecked: data a :class:`~kernels.sparse.CSR`; labels (N_data,) intp
    in [0, C) (or anything, with ``targets`` (N_data, C) of the data's dtype);
    order: int64 row numbers; parameters C-contiguous of the data's dtype;
    buffers from :func:`make_buffers` for at least ``batch`` samples; losses:
    (>= nsteps,) float64, receives each step's loss.  ``parallel``: True runs
    the prange twin, False the serial one (same bits either way); None picks the
    parallel one with more than one numba thread and batch >= PARALLEL_MIN_BATCH.
    Returns ``losses[:nsteps]``.
    """
    if targets is None:
        targets = np.empty((0, W2.shape[1]), W1.dtype)
    if parallel is None:
        parallel = numba.get_num_threads() > 1 and batch >= PARALLEL_MIN_BATCH
    fn = train_steps_parallel if parallel else train_steps_serial
    fn(data.indptr, data.indices, data.values, labels, targets, order, start, nsteps, batch,
       W1, b1, W2, b2, float(lr), ACTIVATION_CODES[activation], *buffers, losses,
       hidden_hint(W1.shape[1]))
    return losses[:nsteps]


def train_step(x, labels, W1, b1, W2, b2, lr, buffers, *, activation="sigmoid", targets=None,
               parallel=None, dense_buffers=None):
    """One fused SGD step on a dense batch x (N, D) C-contiguous; returns the loss before the update.

    Unchecked, as :func:`train_steps` (x of the parameters' dtype; a row with NaN or
    inf leaves the parameters as they were, see :func:`step_dense_serial`);
    ``dense_buffers`` from :func:`make_dense_buffers` (made here if None).
    """
    N, D = x.shape
    if labels is None:
        labels = np.zeros(N, np.intp)
    if targets is None:
        targets = np.empty((0, W2.shape[1]), W1.dtype)
    if dense_buffers is None:
        dense_buffers = make_dense_buffers(N, D, W1.dtype)
    if parallel is None:
        parallel = numba.get_num_threads() > 1 and N >= PARALLEL_MIN_BATCH
    fn = step_dense_parallel if parallel else step_dense_serial
    return fn(x, labels, targets, W1, b1, W2, b2, float(lr), numba.get_num_threads(),
              ACTIVATION_CODES[activation], *dense_buffers,
              *buffers, hidden_hint(W1.shape[1]))
