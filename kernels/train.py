"""Training steps of any network of :mod:`kernels.graph`, fused into compiled loops.

One step is the forward pass of every operation in the table, the loss
(softmax-with-loss, plus ``0.5 * lam * sum(W ** 2)`` over every Affine W),
the backward pass, ``dW += lam * W`` and the update of the whole flat
parameter buffer by one optimizer of :mod:`kernels.optimizers`.  The
formulas are the layer path's (``kernels.activations``, ``kernels.softmax``,
``kernels.losses``, ``kernels.optimizers``), so a step equals ``gradient()``
followed by the optimizer's ``update`` up to rounding.  The table is data,
so one compilation serves every network.

Inputs are compressed sparse rows (:mod:`kernels.sparse`): a data set is
compressed once and a batch is a list of row numbers.  The first operation
must be an Affine: its product ``x @ W`` loops over each sample's non-zero
inputs only (:mod:`kernels.sparse_product`), and so does its weight gradient
``x.T @ dout`` (on MNIST about a fifth of the dense arithmetic), which is
summed into rows padded to 64 bytes and then copied into the gradient buffer
(plain SGD without weight decay on a small batch, :func:`in_place`, updates
that W in place instead).
The other Affines are dense products by BLAS (``np.dot``: ``a = z @ W``,
``dz = dout @ W.T``, ``dW = z.T @ dout``) on one BLAS thread; the prange twin
runs two of them at once (two parts of the rows forward, dW and dz backward),
each on its own numba thread.

A step has these phases:

1. **first Affine**: the batch of N samples is split into :func:`chunks` of
   rows (a function of N alone); each chunk computes operation 0 for its own
   rows (in parallel in the prange twin).
2. **dense forward**: the other operations, in DENSE_PARTS parts of the batch's
   rows (between batch normalizations, which need the whole batch; the parts at
   once in the prange twin); then the loss per chunk (the chunks' sums added in
   order) and dL/da.
3. **dense backward**: for each Affine k > 0, ``dW`` into the gradient buffer
   and ``dz`` for the operation below (the two products at once in the prange
   twin), down to operation 0's output.
4. **parameters**: the rows of every Affine's ``[W; b]`` (b as row IN) are
   split into fixed :func:`work_items` (one group of them per thread); an item computes the first Affine's
   rows of the gradient (``x.T @ dout`` over the non-zeros, in sample order),
   db (summed in sample order), adds ``lam * W``, and updates its slice of
   theta with ``kernels.optimizers.apply_range``.

Dropout and batch normalization (after the first Affine) are whole-batch
operations of phases 2 and 3, by the layer path's kernels (:mod:`kernels.dropout`,
:mod:`kernels.batchnorm`): dropout multiplies by masks drawn outside the kernels
(:func:`draw_masks`, the layer path's draws from the run's generator); batch
normalization normalises with the batch's statistics, moves the running mean and
variance in the state buffer by the op's momentum, and keeps the batch's std there for
backward; its gamma and beta get dgamma and dbeta in the gradient buffer and are updated
after phase 4 (:func:`batchnorm_params_update`, no weight decay on them, as in the book).

No per-thread gradient buffers are merged and every sum runs in an order fixed
by the batch size and the table, so the serial kernel and its parallel twin
give the same bits on any number of numba threads.  BLAS products do not
depend on the number of BLAS threads either (OpenBLAS splits a product's rows
and columns among its threads, never the summed dimension; checked by the
tests), but fastnn.fused runs them on one BLAS thread: one pool computes at a
time (the prange twin calls np.dot from two numba threads at once, which with
BLAS threads of its own would put two pools on the same cores).
"""
from collections import namedtuple

import numba
import numpy as np
from numba import prange

from ._config import kernel
from .activations import relu, relu_backward_from_output, sigmoid, sigmoid_backward
from .batchnorm import EPS, batchnorm_backward, batchnorm_forward_infer, batchnorm_forward_train, \
    batchnorm_running_update
from .dropout import dropout_backward, dropout_forward, dropout_inference
from .graph import (
    AFFINE, AOFF, BATCHNORM, DROPOUT, IN, KIND, MOMENTUM, OUT, POFF, RATIO, RELU, SIGMOID, SOFF, SOFTMAX_LOSS,
)
from .losses import DELTA
from .optimizers import LR, SGD, apply_range
from .sparse import lower_bound
from .sparse_product import few_nonzeros, padded_rows, padded_width, scatter_row, sparse_row
from .softmax import softmax

#: A batch is split into ``min(MAX_CHUNKS, max(1, N // CHUNK_ROWS))`` chunks of samples.
MAX_CHUNKS = 16
CHUNK_ROWS = 8
#: Estimated cost of a parameter of the first Affine in the parameter phase, against 1 for
#: any other Affine's (its gradient is scattered there from the batch's non-zeros as well):
#: measured per parameter at 784-50-10 float32, batch 100, 1.9x (SGD) and 1.7x (Adam).
FIRST_COST = 2
#: With more than one thread, batches from this size on may use the parallel kernels.
PARALLEL_MIN_BATCH = 64
#: The forward of the dense operations (after the first Affine) works on this many parts of
#: the batch's rows (split as :func:`chunk_rows` splits) where its products are large
#: (DENSE_PARALLEL_MIN), in turn in the serial kernel, at once in the parallel one: the same
#: BLAS products either way, so the same bits.
DENSE_PARTS = 2
#: Dense products run two at a time in the parallel kernel from this many multiply-adds: per
#: product backward, summed over the Affines between batch normalizations forward
#: (784-100x4-10, batch 100: 1,000,000 for a 100x100 Affine, 100,000 for the last one).
DENSE_PARALLEL_MIN = 200_000

#: Per-call buffers (see :func:`make_buffers`).
Buffers = namedtuple("Buffers", [
    "acts",    # (N * width,) every operation's output (kernels.graph layout)
    "dacts",   # (N * width,) dL/d(output) of every operation, same layout
    "wt",      # (IN * Hp,) the first Affine's weight gradient in rows padded to 64 bytes
               # (kernels.sparse_product.padded_rows; empty if operation 0 is no Affine)
    "grad",    # (P,) gradient of theta
    "gloss",   # (MAX_CHUNKS,) float64: per-chunk sums of log-probabilities
    "wdrow",   # (rows of all W,) float64: per-row sums of W ** 2 (weight decay)
    "xt",      # empty: not used any more (the kernels keep the argument)
])


@kernel
def chunks(n):
    """Number of chunks a batch of n samples is split into: a function of n alone, so
    that per-chunk sums are added in the same order on any number of threads."""
    return min(MAX_CHUNKS, max(1, n // CHUNK_ROWS))


@kernel
def chunk_rows(t, T, n):
    """First row of chunk t of T over n rows; chunks start at multiples of 4 (the tile)."""
    q = (n + 3) // 4
    return min(n, 4 * (t * q // T))


def pick_parallel(batch):
    """The default choice of :func:`train_steps`: the prange twin with more than one numba
    thread and at least PARALLEL_MIN_BATCH samples."""
    return numba.get_num_threads() > 1 and batch >= PARALLEL_MIN_BATCH


def work_items(ops, groups):
    """Pieces of the parameter phase: (n_items, 5) int64 rows ``(k, r0, r1, w0, g)``,
    rows r0..r1-1 of operation k's ``[W; b]`` (row IN is b), whose sums of W ** 2 go to
    ``wdrow[w0:]``, done by group g of ``groups`` (one group per thread of the parallel
    kernel; the serial kernel takes ``groups=1``: one item per Affine).

    Each Affine is split into a share of ``groups`` ranges in proportion to its estimated
    cost (FIRST_COST per parameter of the first Affine, 1 of the others; at least one
    range, of whole tiles of 4 rows); the ranges go, largest first, to the group with the
    least cost so far.  Numba hands the iterations of a ``prange`` to the threads in
    equal contiguous blocks (set_parallel_chunksize had no effect with the OpenMP layer),
    so the kernel loops over the groups, not over the items: one group per thread, of
    about equal cost.  The partition changes no result (every sum runs over the batch in
    sample order, the weight-decay sums per row)."""
    ops = np.asarray(ops)
    aff = [k for k in range(ops.shape[0]) if ops[k, KIND] == AFFINE]
    cost = {k: int(ops[k, IN] + 1) * int(ops[k, OUT]) * (FIRST_COST if k == aff[0] else 1) for k in aff}
    total = sum(cost.values())
    pieces = []
    w0 = 0
    for k in aff:
        rows = int(ops[k, IN]) + 1
        n = max(1, min(-(-rows // 4), round(groups * cost[k] / total))) if groups > 1 else 1
        bounds = sorted({min(rows, 4 * ((i * -(-rows // 4)) // n)) for i in range(n)} | {rows})
        pieces += [(k, r0, r1, w0 + r0) for r0, r1 in zip(bounds[:-1], bounds[1:]) if r1 > r0]
        w0 += rows - 1
    unit = {k: cost[k] // int(ops[k, IN] + 1) for k in aff}
    pieces.sort(key=lambda it: -(it[2] - it[1]) * unit[it[0]])
    load = [0] * groups
    out = []
    for it in pieces:
        g = load.index(min(load))
        load[g] += (it[2] - it[1]) * unit[it[0]]
        out.append((*it, g))
    out.sort(key=lambda it: it[4])
    return np.array(out, dtype=np.int64).reshape(-1, 5)


def make_buffers(ops, width, n_params, batch, dtype):
    """Work buffers for batches of up to ``batch`` samples."""
    ops = np.asarray(ops)
    dt = np.dtype(dtype)
    rows = sum(int(ops[k, IN]) for k in range(ops.shape[0]) if ops[k, KIND] == AFFINE)
    first = ops.shape[0] > 0 and ops[0, KIND] == AFFINE
    wt = padded_rows(int(ops[0, IN]), int(ops[0, OUT]), dt).ravel() if first else np.empty(0, dt)
    return Buffers(acts=np.empty(batch * width, dt), dacts=np.empty(batch * width, dt),
                   wt=wt, grad=np.empty(n_params, dt),
                   gloss=np.empty(MAX_CHUNKS, np.float64), wdrow=np.zeros(rows, np.float64),
                   xt=np.empty(0, dt))


# -- formulas on rows ----------------------------------------------------------
@kernel
def block(ops, buf, k, N):
    """View (N, OUT) of operation k's block in an activation-shaped buffer."""
    a = ops[k, AOFF]
    return buf[N * a:N * (a + ops[k, OUT])].reshape((N, ops[k, OUT]))


@kernel
def mm_rows(A, B, C, m0, m1):
    """C[m] += A[m] @ B for m in [m0, m1).  A: (M, K) (any layout), B: (K, N), C: (M, N)
    C-contiguous.  Tiles of 4 rows x 4 inputs, so a row of B is read once per 4 rows of C."""
    K = A.shape[1]
    N = B.shape[1]
    m = m0
    while m + 4 <= m1:
        c0 = C[m]
        c1 = C[m + 1]
        c2 = C[m + 2]
        c3 = C[m + 3]
        k = 0
        while k + 4 <= K:
            b0 = B[k]
            b1 = B[k + 1]
            b2 = B[k + 2]
            b3 = B[k + 3]
            x00, x01, x02, x03 = A[m, k], A[m, k + 1], A[m, k + 2], A[m, k + 3]
            x10, x11, x12, x13 = A[m + 1, k], A[m + 1, k + 1], A[m + 1, k + 2], A[m + 1, k + 3]
            x20, x21, x22, x23 = A[m + 2, k], A[m + 2, k + 1], A[m + 2, k + 2], A[m + 2, k + 3]
            x30, x31, x32, x33 = A[m + 3, k], A[m + 3, k + 1], A[m + 3, k + 2], A[m + 3, k + 3]
            for n in range(N):
                v0 = b0[n]
                v1 = b1[n]
                v2 = b2[n]
                v3 = b3[n]
                c0[n] += x00 * v0 + x01 * v1 + x02 * v2 + x03 * v3
                c1[n] += x10 * v0 + x11 * v1 + x12 * v2 + x13 * v3
                c2[n] += x20 * v0 + x21 * v1 + x22 * v2 + x23 * v3
                c3[n] += x30 * v0 + x31 * v1 + x32 * v2 + x33 * v3
            k += 4
        while k < K:
            b0 = B[k]
            x00, x10, x20, x30 = A[m, k], A[m + 1, k], A[m + 2, k], A[m + 3, k]
            for n in range(N):
                v0 = b0[n]
                c0[n] += x00 * v0
                c1[n] += x10 * v0
                c2[n] += x20 * v0
                c3[n] += x30 * v0
            k += 1
        m += 4
    while m < m1:
        c0 = C[m]
        k = 0
        while k + 4 <= K:
            b0 = B[k]
            b1 = B[k + 1]
            b2 = B[k + 2]
            b3 = B[k + 3]
            x00, x01, x02, x03 = A[m, k], A[m, k + 1], A[m, k + 2], A[m, k + 3]
            for n in range(N):
                c0[n] += x00 * b0[n] + x01 * b1[n] + x02 * b2[n] + x03 * b3[n]
            k += 4
        while k < K:
            b0 = B[k]
            x00 = A[m, k]
            for n in range(N):
                c0[n] += x00 * b0[n]
            k += 1
        m += 1


@kernel
def forward_rows(ops, n_ops, rows, j0, j1, N, indptr, indices, values, theta, acts):
    """Outputs of operations 0..n_ops-1 for batch rows j in [j0, j1) (data row ``rows[j]``),
    into ``acts`` laid out for N rows.  Operation 0 is an Affine reading the CSR."""
    zero = theta.dtype.type(0.0)
    for k in range(n_ops):
        kind = ops[k, KIND]
        out = block(ops, acts, k, N)
        n_out = ops[k, OUT]
        if kind == AFFINE:
            n_in = ops[k, IN]
            p = ops[k, POFF]
            W = theta[p:p + n_in * n_out].reshape((n_in, n_out))
            b = theta[p + n_in * n_out:p + n_in * n_out + n_out]
            for j in range(j0, j1):
                o = out[j]
                for h in range(n_out):
                    o[h] = zero
            if k == 0:
                for j in range(j0, j1):
                    r = rows[j]
                    sparse_row(indptr[r], indptr[r + 1], indices, values, W, out[j])
            else:
                mm_rows(block(ops, acts, k - 1, N), W, out, j0, j1)
            for j in range(j0, j1):
                o = out[j]
                for h in range(n_out):
                    o[h] += b[h]
        elif kind == RELU or kind == SIGMOID:
            a = ops[k - 1, AOFF]
            src = acts[N * a + j0 * n_out:N * a + j1 * n_out]
            a = ops[k, AOFF]
            dst = acts[N * a + j0 * n_out:N * a + j1 * n_out]
            if kind == RELU:
                relu(src, dst)
            else:
                sigmoid(src, dst)
        elif kind == SOFTMAX_LOSS:
            softmax(block(ops, acts, k - 1, N)[j0:j1], out[j0:j1])
        else:
            raise ValueError("unknown operation kind")


@kernel
def first_rows(ops, rows, j0, j1, N, indptr, indices, values, theta, acts):
    """Operation 0 (the Affine reading the CSR) for batch rows [j0, j1)."""
    forward_rows(ops, 1, rows, j0, j1, N, indptr, indices, values, theta, acts)


@kernel
def dense_rows(ops, k0, k1, j0, j1, N, theta, mask, acts):
    """Operations k0..k1-1 (none of them a batch normalization) for batch rows [j0, j1):
    activations elementwise, Affines ``a = z @ W + b`` by one BLAS product (np.dot) of
    those rows, dropout ``z * mask``.  mask: this step's dropout masks in the activation
    layout for N samples (bool; empty without dropout)."""
    if j1 <= j0:
        return
    for k in range(k0, k1):
        kind = ops[k, KIND]
        n_out = ops[k, OUT]
        if kind == AFFINE:
            n_in = ops[k, IN]
            p = ops[k, POFF]
            W = theta[p:p + n_in * n_out].reshape((n_in, n_out))
            b = theta[p + n_in * n_out:p + n_in * n_out + n_out]
            out = block(ops, acts, k, N)[j0:j1]
            np.dot(block(ops, acts, k - 1, N)[j0:j1], W, out)
            for j in range(j1 - j0):
                o = out[j]
                for h in range(n_out):
                    o[h] += b[h]
        elif kind == RELU or kind == SIGMOID or kind == DROPOUT:
            a = ops[k - 1, AOFF]
            src = acts[N * a + j0 * n_out:N * a + j1 * n_out]
            a = ops[k, AOFF]
            dst = acts[N * a + j0 * n_out:N * a + j1 * n_out]
            if kind == RELU:
                relu(src, dst)
            elif kind == SIGMOID:
                sigmoid(src, dst)
            else:
                dropout_forward(src, mask[N * a + j0 * n_out:N * a + j1 * n_out], dst)
        else:
            raise ValueError("unknown operation kind")


@kernel
def batchnorm_after(ops, k0, last):
    """The first batch normalization among operations k0..last-1 (last if none): the end
    of a run of operations that work row by row."""
    k = k0
    while k < last and ops[k, KIND] != BATCHNORM:
        k += 1
    return k


@kernel
def dense_work(ops, k0, k1, N):
    """Multiply-adds of the Affines among operations k0..k1-1 for N rows."""
    w = 0
    for k in range(k0, k1):
        if ops[k, KIND] == AFFINE:
            w += N * ops[k, IN] * ops[k, OUT]
    return w


@kernel
def dense_forward(ops, fops, N, theta, state, mask, acts):
    """Operations 1..last-1 over the whole batch: between batch normalizations (which
    take the batch's statistics, :func:`batchnorm_train`), :func:`dense_rows` over all
    rows, or, where the Affines there hold DENSE_PARALLEL_MIN multiply-adds or more, over
    each of DENSE_PARTS parts of the rows in turn (the parts :func:`dense_forward_parallel`
    runs at once, so the same products are computed either way).

    fops: the constants table; state: the state buffer (running statistics, std);
    mask: this step's dropout masks in the activation layout for N samples (bool, at
    least N * width; empty without dropout)."""
    last = ops.shape[0] - 1
    k0 = 1
    while k0 < last:
        k1 = batchnorm_after(ops, k0, last)
        parts = DENSE_PARTS if dense_work(ops, k0, k1, N) >= DENSE_PARALLEL_MIN else 1
        for part in range(parts):
            dense_rows(ops, k0, k1, chunk_rows(part, parts, N), chunk_rows(part + 1, parts, N), N, theta, mask,
                       acts)
        if k1 < last:
            batchnorm_train(ops, fops, k1, N, theta, state, acts)
        k0 = k1 + 1


@kernel(parallel=True)
def dense_forward_parallel(ops, fops, N, theta, state, mask, acts):
    """:func:`dense_forward` with the parts of the rows on DENSE_PARTS threads (where the
    products hold at least DENSE_PARALLEL_MIN multiply-adds); the same bits."""
    last = ops.shape[0] - 1
    k0 = 1
    while k0 < last:
        k1 = batchnorm_after(ops, k0, last)
        if dense_work(ops, k0, k1, N) >= DENSE_PARALLEL_MIN:
            for part in prange(DENSE_PARTS):
                dense_rows(ops, k0, k1, chunk_rows(part, DENSE_PARTS, N), chunk_rows(part + 1, DENSE_PARTS, N), N,
                           theta, mask, acts)
        else:
            dense_rows(ops, k0, k1, 0, N, N, theta, mask, acts)
        if k1 < last:
            batchnorm_train(ops, fops, k1, N, theta, state, acts)
        k0 = k1 + 1


@kernel
def batchnorm_train(ops, fops, k, N, theta, state, acts):
    """Batch normalization k's training forward over the whole batch (the layer path's
    kernels): out and xn into its activation block (out at AOFF, xn right after), the
    batch's std into the state after the running mean and variance, which move by the
    op's momentum."""
    n = ops[k, OUT]
    p = ops[k, POFF]
    s = ops[k, SOFF]
    a = ops[k, AOFF]
    mu = np.empty(n, theta.dtype)
    var = np.empty(n, theta.dtype)
    out = acts[N * a:N * (a + n)].reshape((N, n))
    xn = acts[N * (a + n):N * (a + 2 * n)].reshape((N, n))
    batchnorm_forward_train(block(ops, acts, k - 1, N), theta[p:p + n], theta[p + n:p + 2 * n], EPS, mu, var,
                            state[s + 2 * n:s + 3 * n], xn, out)
    batchnorm_running_update(fops[k, MOMENTUM], mu, var, state[s:s + n], state[s + n:s + 2 * n])


@kernel
def loss_rows(ops, rows, j0, j1, N, labels, tdense, theta, acts, dacts):
    """Softmax-with-loss for batch rows [j0, j1): y, and dL/da = (y - t) / N.  Returns
    the sum of log(y[label] + 1e-7) (or of t * log(y + 1e-7))."""
    last = ops.shape[0] - 1
    softmax(block(ops, acts, last - 1, N)[j0:j1], block(ops, acts, last, N)[j0:j1])
    y = block(ops, acts, last, N)
    dy = block(ops, dacts, last - 1, N)
    C = ops[last, OUT]
    dense = tdense.shape[0] > 0
    inv_n = theta.dtype.type(1.0 / N)
    delta = theta.dtype.type(DELTA)
    logsum = 0.0
    # softmax-with-loss: cross-entropy (with the book's 1e-7) and dL/da = (y - t) / N
    for j in range(j0, j1):
        r = rows[j]
        yr = y[j]
        gr = dy[j]
        if dense:
            tr = tdense[r]
            for c in range(C):
                if tr[c] != 0:
                    logsum += tr[c] * np.log(yr[c] + delta)
            for c in range(C):
                gr[c] = (yr[c] - tr[c]) * inv_n
        else:
            lab = labels[r]
            logsum += np.log(yr[lab] + delta)
            for c in range(C):
                gr[c] = yr[c] * inv_n
            gr[lab] = (yr[lab] - 1) * inv_n
    return logsum


@kernel
def affine_backward(ops, k, part, N, theta, grad, acts, dacts):
    """One of the two products of Affine k's backward (k > 0), each one np.dot: part 0
    ``dW = z.T @ dout`` into grad, part 1 ``dz = dout @ W.T`` for the operation below.
    They read the same arrays and write different ones, so they may run at once."""
    n_out = ops[k, OUT]
    n_in = ops[k, IN]
    p = ops[k, POFF]
    dout = block(ops, dacts, k, N)
    if part == 0:
        G = grad[p:p + n_in * n_out].reshape((n_in, n_out))
        np.dot(block(ops, acts, k - 1, N).T, dout, G)
    else:
        W = theta[p:p + n_in * n_out].reshape((n_in, n_out))
        np.dot(dout, W.T, block(ops, dacts, k - 1, N))


@kernel
def other_backward(ops, k, N, theta, grad, state, mask, acts, dacts):
    """Backward of operation k (not an Affine) over the whole batch: activations and
    dropout (``dout * mask``) elementwise; batch normalization by the book's formula
    (kernels.batchnorm), dgamma and dbeta into grad."""
    kind = ops[k, KIND]
    n_out = ops[k, OUT]
    if kind == RELU or kind == SIGMOID or kind == DROPOUT:
        a = ops[k, AOFF]
        dout = dacts[N * a:N * (a + n_out)]
        yk = acts[N * a:N * (a + n_out)]
        mk = mask[N * a:N * (a + n_out)] if kind == DROPOUT else mask[:0]
        a = ops[k - 1, AOFF]
        dx = dacts[N * a:N * (a + n_out)]
        if kind == RELU:
            relu_backward_from_output(dout, yk, dx)
        elif kind == SIGMOID:
            sigmoid_backward(dout, yk, dx)
        else:
            dropout_backward(dout, mk, dx)
    elif kind == BATCHNORM:
        p = ops[k, POFF]
        s = ops[k, SOFF]
        a = ops[k, AOFF]
        xn = acts[N * (a + n_out):N * (a + 2 * n_out)].reshape((N, n_out))
        batchnorm_backward(block(ops, dacts, k, N), xn, state[s + 2 * n_out:s + 3 * n_out],
                           theta[p:p + n_out], block(ops, dacts, k - 1, N), grad[p:p + n_out],
                           grad[p + n_out:p + 2 * n_out])
    else:
        raise ValueError("unknown operation kind")


@kernel
def dense_backward(ops, N, theta, grad, state, mask, acts, dacts):
    """Backward over the whole batch from the loss down to the output of operation 0:
    for each Affine k > 0 first ``dW = z.T @ dout`` into grad, then ``dz = dout @ W.T``
    (:func:`affine_backward`), the other operations by :func:`other_backward`."""
    last = ops.shape[0] - 1
    for k in range(last - 1, 0, -1):
        if ops[k, KIND] == AFFINE:
            for part in range(2):
                affine_backward(ops, k, part, N, theta, grad, acts, dacts)
        else:
            other_backward(ops, k, N, theta, grad, state, mask, acts, dacts)


@kernel(parallel=True)
def dense_backward_parallel(ops, N, theta, grad, state, mask, acts, dacts):
    """:func:`dense_backward` with each Affine's two products on two threads (where a
    product holds at least DENSE_PARALLEL_MIN multiply-adds); the same products, the same bits."""
    last = ops.shape[0] - 1
    for k in range(last - 1, 0, -1):
        if ops[k, KIND] == AFFINE:
            if N * ops[k, IN] * ops[k, OUT] >= DENSE_PARALLEL_MIN:
                for part in prange(2):
                    affine_backward(ops, k, part, N, theta, grad, acts, dacts)
            else:
                for part in range(2):
                    affine_backward(ops, k, part, N, theta, grad, acts, dacts)
        else:
            other_backward(ops, k, N, theta, grad, state, mask, acts, dacts)


@kernel
def batchnorm_params_update(ops, theta, grad, s1, s2, kind, hp, t):
    """The optimizer's update of every batch normalization's gamma and beta (no weight
    decay on them, as in the book); the Affines' rows are :func:`params_item`'s."""
    for k in range(ops.shape[0]):
        if ops[k, KIND] == BATCHNORM:
            p = ops[k, POFF]
            apply_range(kind, hp, t, theta, grad, s1, s2, p, p + 2 * ops[k, OUT])


@kernel
def in_place(kind, lam, rows, N, indptr, n_in):
    """True: plain SGD without weight decay on a batch that kernels.sparse_product.few_nonzeros
    finds small for the first Affine's n_in rows updates that W in place, sample by sample."""
    if kind != SGD or lam != 0.0:
        return False
    nnz = 0
    for j in range(N):
        nnz += indptr[rows[j] + 1] - indptr[rows[j]]
    return few_nonzeros(nnz, n_in)


@kernel
def scatter_rows(q0, q1, indices, values, scale, g, M, r0):
    """M[d - r0] += (scale * x[d]) * g for the non-zeros x[d] of one sample at q0..q1-1 of
    the CSR (M: (rows, H), g: (H,)).  Four rows at a time, so that each g[h] is read once
    per four rows (784x100 float32 on MNIST: 0.76x the time of one row at a time; eight at
    a time was slower).  Each element of M gets the same operations as one row at a time,
    in the same order: the same bits."""
    H = g.size
    q = q0
    while q + 4 <= q1:
        c0 = scale * values[q]
        c1 = scale * values[q + 1]
        c2 = scale * values[q + 2]
        c3 = scale * values[q + 3]
        m0 = M[indices[q] - r0]
        m1 = M[indices[q + 1] - r0]
        m2 = M[indices[q + 2] - r0]
        m3 = M[indices[q + 3] - r0]
        for h in range(H):
            gh = g[h]
            m0[h] += c0 * gh
            m1[h] += c1 * gh
            m2[h] += c2 * gh
            m3[h] += c3 * gh
        q += 4
    while q < q1:
        c0 = scale * values[q]
        m0 = M[indices[q] - r0]
        for h in range(H):
            m0[h] += c0 * g[h]
        q += 1


@kernel
def params_item(ops, k, r0, r1, w0, rows, N, indptr, indices, values, theta, grad, wt, s1, s2,
                kind, hp, t, lam, acts, dacts, xtb, wdrow, direct):
    """Phase 4 for rows r0..r1-1 of operation k's [W; b]: the first Affine's gradient (the
    others' dW come from :func:`dense_backward`), db, weight decay, update.  Writes each
    row's sum of W ** 2 before the update into wdrow[w0 + row - r0] (w0: the item's first
    row there; only with weight decay).  wt: the first Affine's gradient in padded rows
    (:func:`make_buffers`); xtb: not used.  direct: update operation 0's W in place, sample
    by sample, with no gradient buffer (:func:`in_place`)."""
    n_in = ops[k, IN]
    n_out = ops[k, OUT]
    p = ops[k, POFF]
    rw = min(r1, n_in)                      # rows of W in the item; row n_in is b
    dout = block(ops, dacts, k, N)
    zero = theta.dtype.type(0.0)
    i0 = p + r0 * n_out
    i1 = p + r1 * n_out
    nr = rw - r0 if rw > r0 else 0
    W = theta[i0:i0 + nr * n_out].reshape((nr, n_out))
    G = grad[i0:i0 + nr * n_out].reshape((nr, n_out))
    if lam != 0.0:
        for i in range(nr):
            sq = 0.0
            wr = W[i]
            for h in range(n_out):
                sq += wr[h] * wr[h]
            wdrow[w0 + i] = sq
    if nr > 0:
        if k == 0:
            # x is the CSR input: rows d of dW get x[n, d] * dout[n] for the non-zeros only,
            # sample by sample in batch order, into rows padded to 64 bytes (a vector never
            # straddles two cache lines: 784x100 float32, 100 MNIST samples, 120 -> 77 us),
            # then copied into the gradient buffer.  Plain SGD goes this way too from
            # in_place's batch size on (784-50-10, batch 100: a step 152 us against 216 us for
            # updating W's unaligned rows in place); below it, W[d] -= lr * x[n, d] * dout[n]
            # in place
            whole = r0 == 0 and rw == n_in
            scale = -theta.dtype.type(hp[LR])
            Hp = padded_width(n_out, theta.itemsize)
            Gp = wt[r0 * Hp:rw * Hp].reshape((nr, Hp))
            if direct:
                i0 = p + n_in * n_out     # only b is left for the optimizer
            else:
                Gp.ravel()[:] = zero
            for j in range(N):
                r = rows[j]
                q0 = indptr[r]
                q1 = indptr[r + 1]
                if not whole:
                    q0 = lower_bound(indices, q0, q1, r0)
                    q1 = lower_bound(indices, q0, q1, rw)
                if direct:
                    scatter_rows(q0, q1, indices, values, scale, dout[j], W, r0)
                else:
                    scatter_row(q0, q1, indices, values, dout[j], Gp, r0)
            if not direct:
                for i in range(nr):
                    for h in range(n_out):
                        G[i, h] = Gp[i, h]
        if lam != 0.0 and not (k == 0 and direct):
            lam_t = theta.dtype.type(lam)
            gf = G.ravel()
            wf = W.ravel()
            for i in range(gf.size):
                gf[i] += lam_t * wf[i]
    if r1 > n_in:
        # db = sum over the batch of dout, in sample order
        gb = grad[p + n_in * n_out:p + n_in * n_out + n_out]
        for h in range(n_out):
            gb[h] = zero
        for j in range(N):
            g = dout[j]
            for h in range(n_out):
                gb[h] += g[h]
    if i1 > i0:
        apply_range(kind, hp, t, theta, grad, s1, s2, i0, i1)


@kernel
def train_steps_serial(ops, items, indptr, indices, values, labels, tdense, order, start, nsteps, batch,
                       theta, s1, s2, kind, hp, t0, lam, acts, dacts, xtb, wt, grad, gloss, wdrow, losses,
                       fops, state, masks):
    """``nsteps`` steps on the calling thread; step s uses the data rows
    ``order[start + s * batch:][:batch]`` (the last batch may be shorter), optimizer
    step number ``t0 + s + 1``, and writes its loss before the update into ``losses[s]``.

    ops: the table (first operation an Affine); items: :func:`work_items`; indptr,
    indices, values: CSR of the data (N_data, IN of op 0); labels (N_data,) int
    (ignored when tdense has rows); tdense (N_data, C) targets or (0, C); theta (P,)
    updated in place; s1, s2: the optimizer's state (P,) or empty; kind, hp: the
    optimizer (kernels.optimizers); lam: weight decay; the rest from
    :func:`make_buffers` (xtb and wt are not used).
    """
    for s in range(nsteps):
        j0 = start + s * batch
        rows = order[j0:min(j0 + batch, order.size)]
        N = rows.size
        T = chunks(N)
        direct = in_place(kind, lam, rows, N, indptr, ops[0, IN])
        for c in range(T):
            first_rows(ops, rows, chunk_rows(c, T, N), chunk_rows(c + 1, T, N), N, indptr, indices, values,
                       theta, acts)
        mask = masks[s] if masks.shape[0] > 0 else masks.ravel()
        dense_forward(ops, fops, N, theta, state, mask, acts)
        for c in range(T):
            gloss[c] = loss_rows(ops, rows, chunk_rows(c, T, N), chunk_rows(c + 1, T, N), N, labels, tdense,
                                 theta, acts, dacts)
        dense_backward(ops, N, theta, grad, state, mask, acts, dacts)
        for i in range(items.shape[0]):
            params_item(ops, items[i, 0], items[i, 1], items[i, 2], items[i, 3], rows, N, indptr, indices,
                        values, theta, grad, wt, s1, s2, kind, hp, t0 + s + 1, lam, acts, dacts, xtb, wdrow,
                        direct)
        batchnorm_params_update(ops, theta, grad, s1, s2, kind, hp, t0 + s + 1)
        losses[s] = _loss(gloss, T, wdrow, lam, N)


@kernel(parallel=True)
def train_steps_parallel(ops, items, indptr, indices, values, labels, tdense, order, start, nsteps, batch,
                         theta, s1, s2, kind, hp, t0, lam, acts, dacts, xtb, wt, grad, gloss, wdrow, losses,
                       fops, state, masks):
    """Twin of :func:`train_steps_serial`: the first Affine's chunks of each batch in
    parallel, the dense forward's parts of the rows and each Affine backward's two products
    on two threads (np.dot on each, outside any other parallel region: BLAS must run one
    thread, as fastnn.fused sets it), then the groups of items of :func:`work_items` in
    parallel.  Same bits as the serial twin on any number of numba threads (see
    :func:`train_steps`)."""
    for s in range(nsteps):
        j0 = start + s * batch
        rows = order[j0:min(j0 + batch, order.size)]
        N = rows.size
        T = chunks(N)
        direct = in_place(kind, lam, rows, N, indptr, ops[0, IN])
        for c in prange(T):
            first_rows(ops, rows, chunk_rows(c, T, N), chunk_rows(c + 1, T, N), N, indptr, indices, values,
                       theta, acts)
        mask = masks[s] if masks.shape[0] > 0 else masks.ravel()
        dense_forward_parallel(ops, fops, N, theta, state, mask, acts)
        for c in range(T):
            gloss[c] = loss_rows(ops, rows, chunk_rows(c, T, N), chunk_rows(c + 1, T, N), N, labels, tdense,
                                 theta, acts, dacts)
        dense_backward_parallel(ops, N, theta, grad, state, mask, acts, dacts)
        for g in prange(items[items.shape[0] - 1, 4] + 1):
            for i in range(items.shape[0]):
                if items[i, 4] != g:
                    continue
                params_item(ops, items[i, 0], items[i, 1], items[i, 2], items[i, 3], rows, N, indptr, indices,
                            values, theta, grad, wt, s1, s2, kind, hp, t0 + s + 1, lam, acts, dacts, xtb,
                            wdrow, direct)
        batchnorm_params_update(ops, theta, grad, s1, s2, kind, hp, t0 + s + 1)
        losses[s] = _loss(gloss, T, wdrow, lam, N)


@kernel
def _loss(gloss, T, wdrow, lam, N):
    """Mean cross-entropy from the chunks' sums, plus 0.5 * lam * sum(W ** 2)."""
    s = 0.0
    for c in range(T):
        s += gloss[c]
    loss = -s / N
    if lam != 0.0:
        w = 0.0
        for i in range(wdrow.size):
            w += wdrow[i]
        loss += 0.5 * lam * w
    return loss


# -- evaluation ------------------------------------------------------------------
@kernel
def infer_rows(ops, fops, state, k0, k1, N, theta, acts):
    """Inference outputs of operations k0..k1-1 for N rows laid out for N (the layout of
    :func:`forward_rows`): Affines ``z @ W + b`` by one BLAS product of the N rows
    (np.dot; a row's bits depend on the rows it is computed with, so the callers fix the
    blocks by the row count alone), dropout ``x * (1 - ratio)``, batch normalization with
    the running statistics in ``state``."""
    for k in range(k0, k1):
        kind = ops[k, KIND]
        n_out = ops[k, OUT]
        out = block(ops, acts, k, N)
        if kind == AFFINE:
            n_in = ops[k, IN]
            p = ops[k, POFF]
            W = theta[p:p + n_in * n_out].reshape((n_in, n_out))
            b = theta[p + n_in * n_out:p + n_in * n_out + n_out]
            np.dot(block(ops, acts, k - 1, N), W, out)
            for j in range(N):
                o = out[j]
                for h in range(n_out):
                    o[h] += b[h]
        elif kind == RELU or kind == SIGMOID or kind == DROPOUT:
            a = ops[k - 1, AOFF]
            src = acts[N * a:N * (a + n_out)]
            a = ops[k, AOFF]
            dst = acts[N * a:N * (a + n_out)]
            if kind == RELU:
                relu(src, dst)
            elif kind == SIGMOID:
                sigmoid(src, dst)
            else:
                dropout_inference(src, fops[k, RATIO], dst)
        elif kind == BATCHNORM:
            p = ops[k, POFF]
            s = ops[k, SOFF]
            batchnorm_forward_infer(block(ops, acts, k - 1, N), theta[p:p + n_out], theta[p + n_out:p + 2 * n_out],
                                    state[s:s + n_out], state[s + n_out:s + 2 * n_out], EPS, out)
        else:
            raise ValueError("unknown operation kind")


@kernel
def _evaluate_chunk(ops, fops, state, t, T, rows, indptr, indices, values, labels, theta, need_loss, scratch,
                    EB):
    """Chunk t of T of :func:`evaluate`: (hits, sum of log-probabilities)."""
    n = rows.size
    last = ops.shape[0] - 1
    acts = scratch[t]
    delta = theta.dtype.type(DELTA)
    hits = 0
    logsum = 0.0
    lo = t * n // T
    hi = (t + 1) * n // T
    for b0 in range(lo, hi, EB):
        b1 = min(b0 + EB, hi)
        sub = rows[b0:b1]
        m = b1 - b0
        forward_rows(ops, 1, sub, 0, m, m, indptr, indices, values, theta, acts)
        infer_rows(ops, fops, state, 1, last, m, theta, acts)
        a = block(ops, acts, last - 1, m)
        y = block(ops, acts, last, m)
        C = ops[last, OUT]
        if need_loss:
            softmax(a, y)
        for j in range(m):
            ar = a[j]
            best = 0
            for c in range(1, C):
                if ar[c] > ar[best]:
                    best = c
            lab = labels[sub[j]]
            hits += best == lab
            if need_loss:
                logsum += np.log(y[j, lab] + delta)
    return hits, logsum


@kernel(parallel=True)
def evaluate(ops, fops, state, rows, indptr, indices, values, labels, theta, need_loss, scratch, hits, logs):
    """Forward passes of the data rows ``rows``: per-chunk counts of correct arg-max
    predictions into ``hits`` (T,) and, if need_loss, sums of log(softmax[label] + 1e-7)
    into ``logs`` (T,) float64.  scratch: (T, EB * width) activation rows (EB samples
    a block); T chunks in parallel (T fixed by the caller, so the sums do not depend on
    the thread count).  fops, state: the constants and the running statistics (dropout
    scales by 1 - ratio, batch normalization uses the running mean and variance)."""
    T = hits.size
    EB = scratch.shape[1] // ops_width(ops)
    for t in prange(T):
        h, s = _evaluate_chunk(ops, fops, state, t, T, rows, indptr, indices, values, labels, theta, need_loss,
                               scratch, EB)
        hits[t] = h
        logs[t] = s


@kernel
def evaluate_serial(ops, fops, state, rows, indptr, indices, values, labels, theta, need_loss, scratch, hits,
                    logs):
    """Serial twin of :func:`evaluate`: the same chunks in turn, the same results."""
    T = hits.size
    EB = scratch.shape[1] // ops_width(ops)
    for t in range(T):
        h, s = _evaluate_chunk(ops, fops, state, t, T, rows, indptr, indices, values, labels, theta, need_loss,
                               scratch, EB)
        hits[t] = h
        logs[t] = s


@kernel
def ops_width(ops):
    """Activation width per sample: the end of the last operation's block."""
    w = 0
    for k in range(ops.shape[0]):
        w = max(w, ops[k, AOFF] + ops[k, OUT])
    return w


def draw_masks(ops, fops, rng, sizes, width, out=None):
    """Dropout masks for steps of ``sizes[s]`` samples each: (len(sizes), max(sizes) * width)
    bool, row s holding step s's masks in the activation layout for its N samples.

    Drawn as the layer path draws them (fastnn.regularization.Dropout): step by step,
    each dropout operation in order, ``rng.random((N, OUT)) > ratio``, so a generator
    in the same state gives the layer path's masks.  None when ops has no dropout."""
    drop = [k for k in range(ops.shape[0]) if ops[k, KIND] == DROPOUT]
    if not drop:
        return None
    L = max(sizes) * width
    if out is None or out.shape[0] < len(sizes) or out.shape[1] < L:
        out = np.empty((len(sizes), L), np.bool_)
    for s, N in enumerate(sizes):
        row = out[s]
        for k in drop:
            a, n = int(ops[k, AOFF]), int(ops[k, OUT])
            np.greater(rng.random((N, n)), fops[k, RATIO], out=row[N * a:N * (a + n)].reshape(N, n))
    return out


def train_steps(ops, data, labels, order, start, nsteps, batch, theta, opt_kind, hp, t0, s1, s2, lam,
                buffers, items, losses, *, targets=None, parallel=None, fops=None, state=None, masks=None):
    """Run ``nsteps`` fused steps over ``order[start:]`` in batches of ``batch`` rows of data.

    Unchecked: ops from kernels.graph with an Affine first; data a
    :class:`~kernels.sparse.CSR`; labels (N_data,) intp in [0, C) (or anything,
    with ``targets`` (N_data, C) of theta's dtype); order: int64 row numbers;
    theta (P,) C-contiguous; opt_kind, hp (float64 (NHP,)), t0 (steps taken
    before), s1, s2 the optimizer (kernels.optimizers); lam: weight decay;
    buffers from :func:`make_buffers` for at least ``batch`` samples; items:
    pieces from :func:`work_items` (None: one group per numba thread for the parallel
    kernel, one for the serial one; any partition gives the same bits); losses: (>= nsteps,) float64, receives each step's loss.
    ``parallel``: True runs the prange twin, False the serial one (same bits
    either way); None picks the parallel one with more than one numba thread and
    batch >= PARALLEL_MIN_BATCH.  Returns ``losses[:nsteps]``.

    Dropout and batch normalization (kernels.graph): ``fops`` the constants table;
    ``state`` (state_size(ops),) of theta's dtype, the running statistics (updated)
    and each batch's std; ``masks`` (>= nsteps, batch * width) bool, row s step s's
    dropout masks in the activation layout for that step's N samples (see
    :func:`draw_masks`).  None: no such operation.
    """
    C = int(ops[-1, OUT])
    if fops is None:
        fops = np.zeros((ops.shape[0], 4))
    if state is None:
        state = np.empty(0, theta.dtype)
    if masks is None:
        masks = np.empty((0, 0), np.bool_)
    if targets is None:
        targets = np.empty((0, C), theta.dtype)
    if labels is None:
        labels = np.zeros(0, np.intp)
    if parallel is None:
        parallel = pick_parallel(batch)
    fn = train_steps_parallel if parallel else train_steps_serial
    if items is None:
        items = work_items(ops, numba.get_num_threads() if parallel else 1)
    b = buffers
    fn(ops, items, data.indptr, data.indices, data.values, labels, targets, order, start, nsteps,
       batch, theta, s1, s2, opt_kind, hp, t0, float(lam), b.acts, b.dacts, b.xt, b.wt, b.grad, b.gloss,
       b.wdrow, losses, fops, state, masks)
    return losses[:nsteps]
