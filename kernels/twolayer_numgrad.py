"""Numerical gradient of the two-layer network's loss, two exact strategies.

The loss is the book's: ``L = -sum_n log(softmax(a2[n])[t_n] + delta) / N`` with
``a1 = x W1 + b1``, ``z1 = act(a1)`` (sigmoid or ReLU), ``a2 = z1 W2 + b2``.
Every parameter gets the central difference ``(L(p + h) - L(p - h)) / (2 h)``.
All arrays are float64, C-contiguous; ``labels`` are intp; ``act`` is
``SIGMOID`` or ``RELU``; ``delta`` is an argument (0 gives the plain log).

Full (:func:`numgrad_full`): the book's algorithm.  Each parameter is moved by
+h and by -h and the loss of the whole batch is recomputed from the moved
parameters.  Parallel over parameters; each thread works on its own copies
of the parameters, hidden activations and buffers.  Two savings leave the
result unchanged bit for bit: a moved ``W1[i, j]`` or ``b1[j]`` only changes
column j of the hidden layer, so only that column is recomputed (the other
columns would come out identical); and a pixel that is 0 in the whole batch
leaves the loss bit-identical, so its ``W1`` row is 0 without evaluation.

Incremental (:func:`jets_parallel`, :func:`accumulate_w1_parallel`,
:func:`finish_serial`): the same central differences from cached
activations.  Moving ``W1[i, j]`` by h moves only ``a1[n, j]``, by
``d = h x[n, i]``, and only for samples with ``x[n, i] != 0``; moving
``b1[j]`` moves ``a1[:, j]`` by h; moving ``W2[j, k]`` moves only
``a2[n, k]``, by ``h z1[n, j]``; moving ``b2[k]`` moves ``a2[:, k]`` by h.
For each sample n and hidden unit j, the sample's loss as a function of the
shift d of ``a1[n, j]`` is expanded as a Taylor series
``l(d) = l0 + c1 d + c2 d^2 + ... + c5 d^5`` (coefficients by truncated power
series arithmetic through sigmoid, exp, the softmax quotient and
``log(. + delta)``), and likewise for a shift of ``a2[n, k]``.  The central
difference keeps the odd terms only:

    (l(d) - l(-d)) / (2h) = c1 x + c3 h^2 x^3 + c5 h^4 x^5      (d = h x)

so the gradient of ``W1`` is a sum over samples of those three terms, the
differences being accumulated directly instead of as the difference of two
large sums.  The first omitted term is ``c7 h^6 x^7``: with shifts at most
``SERIES_MAX`` = 1e-3 and coefficients that shrink geometrically (the
nearest singularities of sigmoid, exp-sums and log(. + delta) are at
distance of order 1), it lies below 1e-17 relative, under float64 rounding.
Where a series would not be exact the kernel falls back to recomputing the
sample's loss at both shifts: ReLU units whose pre-activation lies within
reach of the kink at 0, and shifts larger than ``SERIES_MAX`` (inputs not
scaled to [0, 1], large ReLU activations).
"""
import numpy as np
from numba import prange

from ._config import kernel
from .exponential import exp

SIGMOID = 0
RELU = 1
DEG = 5                  # degree of the Taylor series
SERIES_MAX = 1e-3        # largest shift a series is used for


# ---------------------------------------------------------------------------
# scalar pieces shared by both strategies
# ---------------------------------------------------------------------------
@kernel
def _act(a, act):
    if act == SIGMOID:
        return 1.0 / (1.0 + exp(-a))
    return a if a > 0.0 else 0.0


@kernel
def _log_prob(arow, t, delta):
    """log(softmax(arow)[t] + delta), with the book's max subtraction."""
    C = arow.shape[0]
    c = arow[0]
    for k in range(1, C):
        if arow[k] > c:
            c = arow[k]
    s = 0.0
    for k in range(C):
        s += exp(arow[k] - c)
    return np.log(exp(arow[t] - c) / s + delta)


# ---------------------------------------------------------------------------
# full: the book's algorithm, parallel over parameters
# ---------------------------------------------------------------------------
@kernel
def _hidden_column(indptr, indices, values, w1t_j, b1j, act, z1, j):
    """z1[:, j] = act(x @ W1[:, j] + b1[j]) for one hidden unit, from x's nonzeros
    (the zero pixels add exact zeros); w1t_j = W1[:, j] contiguous."""
    N = indptr.shape[0] - 1
    for n in range(N):
        s = 0.0
        for p in range(indptr[n], indptr[n + 1]):
            s += values[p] * w1t_j[indices[p]]
        z1[n, j] = _act(s + b1j, act)


@kernel
def _batch_loss(z1, W2T, b2, labels, delta, a2row):
    """-sum_n log(softmax(z1[n] @ W2 + b2)[t_n] + delta) / N, every sample recomputed.
    W2T = W2.T, contiguous (C, H)."""
    N, H = z1.shape
    C = W2T.shape[0]
    s = 0.0
    for n in range(N):
        for k in range(C):
            acc = 0.0
            for j in range(H):
                acc += z1[n, j] * W2T[k, j]
            a2row[k] = acc + b2[k]
        s += _log_prob(a2row, labels[n], delta)
    return -s / N


@kernel
def hidden_layer(indptr, indices, values, W1T, b1, act, z1):
    """z1 = act(x @ W1 + b1), column by column with the loop the full strategy repeats."""
    for j in range(W1T.shape[0]):
        _hidden_column(indptr, indices, values, W1T[j], b1[j], act, z1, j)
    return z1


@kernel
def _full_one(p, sp, colnz, labels, act, h, delta, z1, W1T, b1, W2T, b2, z1c, a2row):
    """Central difference for flat parameter p, on one thread's copies (restored on return).
    sp = (indptr, indices, values) of x."""
    indptr, indices, values = sp
    H, D = W1T.shape
    C = W2T.shape[0]
    nW1 = H * D
    if p < nW1 + H:                               # W1[i, j] (p = j * D + i) or b1[j]
        if p < nW1:
            j = p // D
            i = p - j * D
            if not colnz[i]:
                return 0.0                        # the loss would be bit-identical on both sides
            w = W1T[j, i]
            W1T[j, i] = w + h
            _hidden_column(indptr, indices, values, W1T[j], b1[j], act, z1c, j)
            fp = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
            W1T[j, i] = w - h
            _hidden_column(indptr, indices, values, W1T[j], b1[j], act, z1c, j)
            fm = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
            W1T[j, i] = w
        else:
            j = p - nW1
            w = b1[j]
            _hidden_column(indptr, indices, values, W1T[j], w + h, act, z1c, j)
            fp = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
            _hidden_column(indptr, indices, values, W1T[j], w - h, act, z1c, j)
            fm = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
        for n in range(z1.shape[0]):              # restore the column
            z1c[n, j] = z1[n, j]
        return (fp - fm) / (2 * h)
    q = p - nW1 - H
    if q < H * C:                                 # W2[j, k] (q = j * C + k)
        j = q // C
        k = q - j * C
        w = W2T[k, j]
        W2T[k, j] = w + h
        fp = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
        W2T[k, j] = w - h
        fm = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
        W2T[k, j] = w
        return (fp - fm) / (2 * h)
    k = q - H * C                                 # b2[k]
    w = b2[k]
    b2[k] = w + h
    fp = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
    b2[k] = w - h
    fm = _batch_loss(z1c, W2T, b2, labels, delta, a2row)
    b2[k] = w
    return (fp - fm) / (2 * h)


@kernel(parallel=True)
def numgrad_full(indptr, indices, values, D, labels, W1T, b1, W2T, b2, act, h, delta, nt, block, out):
    """Central differences of every parameter, the whole batch loss recomputed each time.

    x is given by its row-compressed nonzeros (:func:`kernels.sparse.to_csr`) and D; W1T = W1.T
    (H, D) and W2T = W2.T (C, H), contiguous.  out: flat (D*H + H + H*C + C,)
    in the order W1 j-major (entry j*D + i is W1[i, j]), b1, W2 row-major, b2.
    Parameters are dealt to ``nt`` workers (pass ``numba.get_num_threads()``) in
    blocks of ``block``, round robin; each worker has private copies of W1^T,
    b1, W2^T, b2, z1 and a row buffer.
    """
    N = indptr.shape[0] - 1
    H = W1T.shape[0]
    C = W2T.shape[0]
    P = D * H + H + H * C + C
    z1 = np.empty((N, H))
    hidden_layer(indptr, indices, values, W1T, b1, act, z1)
    colnz = np.zeros(D, dtype=np.bool_)
    for p in range(indptr[N]):
        colnz[indices[p]] = True
    sp = (indptr, indices, values)
    nblocks = (P + block - 1) // block
    for t in prange(nt):
        tW1T = W1T.copy()
        tb1 = b1.copy()
        tW2T = W2T.copy()
        tb2 = b2.copy()
        tz1 = z1.copy()
        a2row = np.empty(C)
        for bk in range(t, nblocks, nt):
            for p in range(bk * block, min(P, (bk + 1) * block)):
                out[p] = _full_one(p, sp, colnz, labels, act, h, delta, z1, tW1T, tb1, tW2T, tb2, tz1, a2row)
    return out


# ---------------------------------------------------------------------------
# incremental: truncated Taylor series of each sample's loss
# ---------------------------------------------------------------------------
@kernel(parallel=True)
def forward_parallel(indptr, indices, values, W1, b1, W2, b2, act, a1, z1, a2, y):
    """Cache a1 = x W1 + b1 (from x's nonzeros), z1 = act(a1), a2 = z1 W2 + b2 and
    y = softmax(a2).  Parallel over samples."""
    N, H = a1.shape
    C = a2.shape[1]
    for n in prange(N):
        for j in range(H):
            a1[n, j] = b1[j]
        for p in range(indptr[n], indptr[n + 1]):
            v = values[p]
            i = indices[p]
            for j in range(H):
                a1[n, j] += v * W1[i, j]
        for k in range(C):
            a2[n, k] = b2[k]
        for j in range(H):
            z = _act(a1[n, j], act)
            z1[n, j] = z
            for k in range(C):
                a2[n, k] += z * W2[j, k]
        c = a2[n, 0]
        for k in range(1, C):
            if a2[n, k] > c:
                c = a2[n, k]
        s = 0.0
        for k in range(C):
            y[n, k] = exp(a2[n, k] - c)
            s += y[n, k]
        for k in range(C):
            y[n, k] /= s


@kernel
def _log_odd(num, s, ts, delta):
    """Odd coefficients (L1, L3, L5) of the series of log(num / s + delta) (delta > 0)
    or of log(num) - log(s) = log(y_t) + ts - log(s) (delta == 0).
    num, s: 6-tuples of series coefficients; ts: 6-tuple, the series of t's logit shift."""
    if delta > 0.0:
        inv = 1.0 / s[0]
        q0 = num[0] * inv                        # q = num / s
        q1 = (num[1] - s[1] * q0) * inv
        q2 = (num[2] - s[1] * q1 - s[2] * q0) * inv
        q3 = (num[3] - s[1] * q2 - s[2] * q1 - s[3] * q0) * inv
        q4 = (num[4] - s[1] * q3 - s[2] * q2 - s[3] * q1 - s[4] * q0) * inv
        q5 = (num[5] - s[1] * q4 - s[2] * q3 - s[3] * q2 - s[4] * q1 - s[5] * q0) * inv
        A0, A1, A2, A3, A4, A5 = q0 + delta, q1, q2, q3, q4, q5
    else:
        A0, A1, A2, A3, A4, A5 = s
    ia = 1.0 / A0                                 # log series from A L' = A'
    L1 = A1 * ia
    L2 = (A2 - 0.5 * A1 * L1) * ia
    L3 = (A3 - (2.0 / 3.0) * A1 * L2 - (1.0 / 3.0) * A2 * L1) * ia
    L4 = (A4 - 0.75 * A1 * L3 - 0.5 * A2 * L2 - 0.25 * A3 * L1) * ia
    L5 = (A5 - 0.8 * A1 * L4 - 0.6 * A2 * L3 - 0.4 * A3 * L2 - 0.2 * A4 * L1) * ia
    if delta > 0.0:
        return L1, L3, L5
    return ts[1] - L1, ts[3] - L3, ts[5] - L5


@kernel
def _exp_coeffs(P, w):
    """Series of exp(w Z) - given P = coefficients of the powers of w (see jets_parallel)."""
    (p11, p21, p22, p31, p32, p33, p41, p42, p43, p44, p51, p52, p53, p54, p55) = P
    w2 = w * w
    w3 = w2 * w
    w4 = w3 * w
    w5 = w4 * w
    return (1.0, p11 * w, p21 * w + p22 * w2, p31 * w + p32 * w2 + p33 * w3,
            p41 * w + p42 * w2 + p43 * w3 + p44 * w4,
            p51 * w + p52 * w2 + p53 * w3 + p54 * w4 + p55 * w5)


@kernel(parallel=True)
def jets_parallel(a1, z1, y, W2, labels, act, h, delta, xmax, C1, C3, C5, D1, D3, D5, flags):
    """Odd Taylor coefficients of each sample's loss l = -log(y_t + delta) / N:

    C1, C3, C5 (N, H) in the shift of a1[n, j]; D1, D3, D5 (N, C) in the shift
    of a2[n, k].  flags[n, j] = 1 marks pairs left to the exact fallback (their
    C entries are 0): ReLU pre-activations within reach of the kink, or shifts
    h * max(1, xmax[n]) above SERIES_MAX.  Parallel over samples.

    A shift d of a1[n, j] changes z1[n, j] by Z(d) = z1 d + z2 d^2 + ... (the
    series of sigmoid, or d for an active ReLU), each logit k by W2[j, k] Z(d),
    and exp(logit k) by the factor exp(W2[j, k] Z(d)), whose coefficients are
    polynomials in W2[j, k] with coefficients P(Z); the softmax denominator's
    series is then sum_p P_p * (sum_k y_k W2[j, k]^p): moments of W2's row j
    under the sample's probabilities.
    """
    N, H = a1.shape
    C = y.shape[1]
    inv_n = 1.0 / N
    for n in prange(N):
        t = labels[n]
        yt = y[n, t]
        ysum = 0.0
        for k in range(C):
            ysum += y[n, k]
        reach = h * max(1.0, xmax[n])
        # -- a shift e of logit k: exp(e) = 1 + e + e^2/2 + ...
        for k in range(C):
            yk = y[n, k]
            s = (ysum, yk, yk * 0.5, yk / 6.0, yk / 24.0, yk / 120.0)
            if k == t:
                num = (yt, yt, yt * 0.5, yt / 6.0, yt / 24.0, yt / 120.0)
                ts = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
            else:
                num = (yt, 0.0, 0.0, 0.0, 0.0, 0.0)
                ts = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            L1, L3, L5 = _log_odd(num, s, ts, delta)
            D1[n, k] = -L1 * inv_n
            D3[n, k] = -L3 * inv_n
            D5[n, k] = -L5 * inv_n
        # -- a shift d of a1[n, j]
        for j in range(H):
            a = a1[n, j]
            C1[n, j] = 0.0
            C3[n, j] = 0.0
            C5[n, j] = 0.0
            if reach > SERIES_MAX or (act == RELU and abs(a) <= 2.0 * reach):
                flags[n, j] = 1
                continue
            flags[n, j] = 0
            if act == RELU:
                if a < 0.0:                       # the unit stays off for every shift in reach
                    continue
                s1, s2, s3, s4, s5 = 1.0, 0.0, 0.0, 0.0, 0.0
            else:                                 # sigma' = sigma - sigma^2, term by term
                s0 = z1[n, j]
                s1 = s0 - s0 * s0
                s2 = (s1 - 2.0 * s0 * s1) * 0.5
                s3 = (s2 - 2.0 * s0 * s2 - s1 * s1) * (1.0 / 3.0)
                s4 = (s3 - 2.0 * s0 * s3 - 2.0 * s1 * s2) * 0.25
                s5 = (s4 - 2.0 * s0 * s4 - 2.0 * s1 * s3 - s2 * s2) * 0.2
            # exp(w Z)'s coefficient of d^m = sum_p P[m, p] w^p
            P = (s1,
                 s2, 0.5 * s1 * s1,
                 s3, s1 * s2, s1 * s1 * s1 / 6.0,
                 s4, s1 * s3 + 0.5 * s2 * s2, 0.5 * s1 * s1 * s2, s1 * s1 * s1 * s1 / 24.0,
                 s5, s1 * s4 + s2 * s3, 0.5 * s1 * s1 * s3 + 0.5 * s1 * s2 * s2,
                 s1 * s1 * s1 * s2 / 6.0, s1 * s1 * s1 * s1 * s1 / 120.0)
            m1 = 0.0
            m2 = 0.0
            m3 = 0.0
            m4 = 0.0
            m5 = 0.0
            for k in range(C):
                w = W2[j, k]
                v = y[n, k] * w
                m1 += v
                v *= w
                m2 += v
                v *= w
                m3 += v
                v *= w
                m4 += v
                v *= w
                m5 += v
            s = (ysum, P[0] * m1, P[1] * m1 + P[2] * m2, P[3] * m1 + P[4] * m2 + P[5] * m3,
                 P[6] * m1 + P[7] * m2 + P[8] * m3 + P[9] * m4,
                 P[10] * m1 + P[11] * m2 + P[12] * m3 + P[13] * m4 + P[14] * m5)
            wt = W2[j, t]
            e = _exp_coeffs(P, wt)
            num = (yt, yt * e[1], yt * e[2], yt * e[3], yt * e[4], yt * e[5])
            ts = (0.0, wt * s1, wt * s2, wt * s3, wt * s4, wt * s5)
            L1, L3, L5 = _log_odd(num, s, ts, delta)
            C1[n, j] = -L1 * inv_n
            C3[n, j] = -L3 * inv_n
            C5[n, j] = -L5 * inv_n


@kernel(parallel=True)
def accumulate_w1_parallel(cindptr, cindices, cvalues, C1, C3, C5, h, gW1):
    """gW1[i, j] = sum over samples with x[n, i] != 0 of c1 x + c3 h^2 x^3 + c5 h^4 x^5.

    x is given column-compressed (:func:`kernels.sparse.to_csr` of x.T).  Parallel over rows i
    of W1 (each thread owns its rows)."""
    D, H = gW1.shape
    h2 = h * h
    h4 = h2 * h2
    for i in prange(D):
        row = gW1[i]
        for j in range(H):
            row[j] = 0.0
        for p in range(cindptr[i], cindptr[i + 1]):
            n = cindices[p]
            v = cvalues[p]
            v3 = h2 * v * v * v
            v5 = h4 * v * v * v * v * v
            c1 = C1[n]
            c3 = C3[n]
            c5 = C5[n]
            for j in range(H):
                row[j] += v * c1[j] + v3 * c3[j] + v5 * c5[j]


@kernel
def _shifted_log_prob(a2row, j, dz, W2, t, delta, buf):
    for k in range(a2row.shape[0]):
        buf[k] = a2row[k] + dz * W2[j, k]
    return _log_prob(buf, t, delta)


@kernel
def _dz(a, z, d, act):
    """act(a + d) - act(a), exactly for ReLU."""
    if act == SIGMOID:
        return 1.0 / (1.0 + exp(-(a + d))) - z
    if a > 0.0 and a + d > 0.0:
        return d
    if a <= 0.0 and a + d <= 0.0:
        return 0.0
    return max(a + d, 0.0) - max(a, 0.0)


@kernel
def finish_serial(x, labels, a1, z1, a2, W2, act, h, delta, C1, C3, C5, D1, D3, D5, flags,
                  gW1, gb1, gW2, gb2):
    """b1, W2 and b2 from the series, then the exact fallbacks (W1, b1 pairs in flags;
    W2 shifts above SERIES_MAX), each sample's loss recomputed at both shifts."""
    N, D = x.shape
    H = a1.shape[1]
    C = a2.shape[1]
    h2 = h * h
    h4 = h2 * h2
    inv = 1.0 / (2.0 * h * N)
    buf = np.empty(C)
    for j in range(H):
        acc = 0.0
        for n in range(N):
            acc += C1[n, j] + h2 * C3[n, j] + h4 * C5[n, j]
        gb1[j] = acc
    for k in range(C):
        acc = 0.0
        for n in range(N):
            acc += D1[n, k] + h2 * D3[n, k] + h4 * D5[n, k]
        gb2[k] = acc
    for j in range(H):
        for k in range(C):
            acc = 0.0
            for n in range(N):
                v = z1[n, j]
                if v == 0.0:
                    continue
                if h * abs(v) <= SERIES_MAX:
                    acc += v * D1[n, k] + h2 * v * v * v * D3[n, k] + h4 * v * v * v * v * v * D5[n, k]
                else:
                    for kk in range(C):
                        buf[kk] = a2[n, kk]
                    buf[k] = a2[n, k] + h * v
                    lp = _log_prob(buf, labels[n], delta)
                    buf[k] = a2[n, k] - h * v
                    lm = _log_prob(buf, labels[n], delta)
                    acc -= (lp - lm) * inv
            gW2[j, k] = acc
    for n in range(N):
        for j in range(H):
            if flags[n, j] == 0:
                continue
            a = a1[n, j]
            z = z1[n, j]
            t = labels[n]
            # b1[j]: shift h
            lp = _shifted_log_prob(a2[n], j, _dz(a, z, h, act), W2, t, delta, buf)
            lm = _shifted_log_prob(a2[n], j, _dz(a, z, -h, act), W2, t, delta, buf)
            gb1[j] -= (lp - lm) * inv
            for i in range(D):
                v = x[n, i]
                if v != 0.0:
                    d = h * v
                    lp = _shifted_log_prob(a2[n], j, _dz(a, z, d, act), W2, t, delta, buf)
                    lm = _shifted_log_prob(a2[n], j, _dz(a, z, -d, act), W2, t, delta, buf)
                    gW1[i, j] -= (lp - lm) * inv
