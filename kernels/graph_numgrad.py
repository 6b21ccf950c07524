"""Numerical gradient of any network described by a :mod:`kernels.graph` table.

The loss is the book's, ``L = -sum_n log(softmax(s[n])[t_n] + delta) / N``
(``s``: the input of the last operation, SOFTMAX_LOSS), plus
``0.5 * lam * sum W^2`` over the Affine weights (the book's weight decay).
Every parameter gets the central difference ``(L(p + h) - L(p - h)) / (2 h)``.
Supported kinds: AFFINE, SIGMOID, RELU, SOFTMAX_LOSS; operations follow one
another (op k's input is op k-1's output, op 0's is x).  Arrays are float64,
C-contiguous; ``labels`` intp; ``acts`` is the activation buffer filled by
:func:`forward_rows` (its layout is :mod:`kernels.graph`'s).

Full (:func:`numgrad_full`): the book's algorithm.  Each parameter is moved
by +h and by -h and the loss of the whole batch is recomputed, the weight
decay included.  Parallel over parameters; each thread has its own copies of
theta and of the activations.  Work that would give the same bits is not
repeated: operations before the moved parameter's keep their cached outputs,
and of its own operation only the output column the parameter feeds is
recomputed.  Without weight decay, a weight whose input is 0 for every sample
of the batch gets 0 without evaluation (its loss would be bit-identical on
both sides).

Cached (:func:`numgrad_cached`): the same central differences from cached
activations, recomputing only what a perturbation changes.  Moving an Affine
operation's ``W[i, j]`` by h moves column j of its output ``a`` by
``d = h x[n, i]`` (x: the operation's input), only for the samples with
``x[n, i] != 0``; moving ``b[j]`` moves it by h for every sample.  A sample's
log-probability changes through one unit: the activation after the Affine
(the head) gives ``dz = act(a + d) - act(a)`` (0 for a ReLU unit that stays
off: the sample is skipped), the next Affine's output changes by the rank-1
term ``dz W'[j, :]``, and so on to the logits.  Then
``L(p + h) - L(p - h) = -sum_n (l_n(+d) - l_n(-d)) / N``, a sum over the
changed samples only.  Three ways to get ``l_n(+d) - l_n(-d)``, the first
that applies:

1. Straight line: no head or an active ReLU head, only Affine and ReLU
   after it, and no ReLU there within reach of its kink (checked per sample
   and unit with a factor KINK_MARGIN to spare): the logits move along
   ``s + d g``, g (C,) the unit's tangent.  For shifts ``|d g|`` up to
   SERIES_MAX = 1e-3 the log-probability is a Taylor series in d whose
   coefficients need only the moments ``sum_c y_c g_c^p`` (y: the
   probabilities), and the central difference keeps its odd terms,
   ``2 (c1 d + c3 d^3 + c5 d^5)``, exact to float64 rounding as in
   :mod:`kernels.twolayer_numgrad`: a few multiplications per W entry.
2. Sigmoids on the way (:func:`_jets`): the same odd coefficients from
   truncated power series (degree 5) carried through the layers: an Affine
   combines its inputs' series, a sigmoid composes its own series at the
   cached point with its input's, a ReLU out of reach of its kink passes or
   stops it.
3. Otherwise (a ReLU kink within reach, shifts above SERIES_MAX): each shift
   is carried through the layers exactly, ``act(a + change) - act(a)`` at
   every activation, and the log-probability recomputed.

Parallel over output units (each owns its column of W and its b entry).  The
decay term's central difference ``0.5 lam ((w + h)^2 - (w - h)^2) / (2 h)``
is added by the caller.

Both kernels give the same bits for any thread count: each gradient entry is
computed by the same instructions on whichever thread it lands.
"""
import numpy as np
from numba import prange

from ._config import kernel
from .exponential import exp
from .graph import AFFINE, AOFF, IN, KIND, OUT, PLEN, POFF, RELU, SIGMOID
from .twolayer_numgrad import SERIES_MAX, _log_odd

#: Margin on the distance to a ReLU kink below which a unit's logits are not
#: taken as linear in the shift (the shift times the tangent must stay below
#: half the pre-activation's magnitude).
KINK_MARGIN = 2.0


# ---------------------------------------------------------------------------
# one sample, one operation: the formulas the forward pass and both methods share
# ---------------------------------------------------------------------------
@kernel
def act(kind, a):
    """The book's sigmoid 1 / (1 + exp(-a)) or ReLU max(0, a), of one number."""
    if kind == SIGMOID:
        return 1.0 / (1.0 + exp(-a))
    return a if a > 0.0 else 0.0


@kernel
def log_prob(s, t, delta):
    """log(softmax(s)[t] + delta), the book's max subtracted first.  s: (C,).

    delta == 0: the plain log-softmax, s[t] - max - log(sum exp(s - max))."""
    C = s.shape[0]
    c = s[0]
    for k in range(1, C):
        if s[k] > c:
            c = s[k]
    e = 0.0
    for k in range(C):
        e += exp(s[k] - c)
    if delta == 0.0:
        return (s[t] - c) - np.log(e)
    return np.log(exp(s[t] - c) / e + delta)


@kernel
def row_in(ops, x, acts, k, N, n):
    """Sample n's input of operation k: x[n] for k == 0, else op k-1's output row."""
    if k == 0:
        return x[n]
    a = ops[k - 1, AOFF]
    w = ops[k - 1, OUT]
    return acts[N * a + n * w:N * a + (n + 1) * w]


@kernel
def row_out(ops, acts, k, N, n):
    """Sample n's output row (OUT,) of operation k in the activation buffer."""
    a = ops[k, AOFF]
    w = ops[k, OUT]
    return acts[N * a + n * w:N * a + (n + 1) * w]


@kernel
def affine_row(theta, p, n_in, n_out, xin, out):
    """out = xin @ W + b for one sample, W (n_in, n_out) row-major at theta[p], b after it.

    Rows of W whose input is 0 add exact zeros and are skipped."""
    for j in range(n_out):
        out[j] = theta[p + n_in * n_out + j]
    for i in range(n_in):
        v = xin[i]
        if v != 0.0:
            q = p + i * n_out
            for j in range(n_out):
                out[j] += v * theta[q + j]


@kernel
def affine_column(theta, p, n_in, n_out, j, xin):
    """(xin @ W + b)[j] for one sample: the same additions as :func:`affine_row` makes for j."""
    s = theta[p + n_in * n_out + j]
    for i in range(n_in):
        v = xin[i]
        if v != 0.0:
            s += v * theta[p + i * n_out + j]
    return s


@kernel
def op_row(ops, theta, k, xin, out):
    """Operation k (not the last) on one sample: xin (IN,) -> out (OUT,)."""
    kind = ops[k, KIND]
    if kind == AFFINE:
        affine_row(theta, ops[k, POFF], ops[k, IN], ops[k, OUT], xin, out)
    elif kind == SIGMOID or kind == RELU:
        for u in range(out.shape[0]):
            out[u] = act(kind, xin[u])
    else:
        raise ValueError("numerical gradient: unsupported operation kind")


@kernel
def softmax_row(s, out):
    """out = softmax(s), the book's max subtracted first.  s, out: (C,)."""
    C = s.shape[0]
    c = s[0]
    for k in range(1, C):
        if s[k] > c:
            c = s[k]
    e = 0.0
    for k in range(C):
        out[k] = exp(s[k] - c)
        e += out[k]
    for k in range(C):
        out[k] /= e


@kernel(parallel=True)
def forward_rows(ops, theta, x, acts):
    """Every operation's output for every sample into acts (N * acts_width,): sample by
    sample, parallel over samples, with the row formulas both methods recompute with.
    The last block holds the probabilities."""
    N = x.shape[0]
    last = ops.shape[0] - 1
    for n in prange(N):
        for k in range(last):
            op_row(ops, theta, k, row_in(ops, x, acts, k, N, n), row_out(ops, acts, k, N, n))
        softmax_row(row_in(ops, x, acts, last, N, n), row_out(ops, acts, last, N, n))


@kernel
def data_loss(ops, x, labels, acts, delta):
    """-sum_n log(softmax(s[n])[t_n] + delta) / N from the cached logits s."""
    N = x.shape[0]
    last = ops.shape[0] - 1
    s = 0.0
    for n in range(N):
        s += log_prob(row_in(ops, x, acts, last, N, n), labels[n], delta)
    return -s / N


@kernel
def weight_decay(ops, theta, lam):
    """0.5 * lam * sum W^2 over the Affine operations (biases excluded), as the book."""
    if lam == 0.0:
        return 0.0
    s = 0.0
    for k in range(ops.shape[0]):
        if ops[k, KIND] == AFFINE:
            p = ops[k, POFF]
            sk = 0.0
            for q in range(p, p + ops[k, IN] * ops[k, OUT]):
                sk += theta[q] * theta[q]
            s += 0.5 * lam * sk
    return s


# ---------------------------------------------------------------------------
# full: the book's algorithm, parallel over parameters
# ---------------------------------------------------------------------------
@kernel
def _loss_after(ops, theta, x, labels, acts, k, j, lam, delta):
    """The batch loss with op k's output column j and every later operation recomputed
    from theta (earlier outputs taken from acts, which holds them unchanged)."""
    N = x.shape[0]
    last = ops.shape[0] - 1
    p, n_in, n_out = ops[k, POFF], ops[k, IN], ops[k, OUT]
    for n in range(N):
        row_out(ops, acts, k, N, n)[j] = affine_column(theta, p, n_in, n_out, j,
                                                       row_in(ops, x, acts, k, N, n))
        for m in range(k + 1, last):
            op_row(ops, theta, m, row_in(ops, x, acts, m, N, n), row_out(ops, acts, m, N, n))
    return data_loss(ops, x, labels, acts, delta) + weight_decay(ops, theta, lam)


@kernel
def _owner(ops, p):
    """The operation holding flat parameter p."""
    for k in range(ops.shape[0]):
        if ops[k, PLEN] > 0 and ops[k, POFF] <= p < ops[k, POFF] + ops[k, PLEN]:
            return k
    return -1


@kernel
def _full_one(ops, theta, x, labels, cached, acts, lam, h, delta, colnz, p):
    """Central difference for flat parameter p on one thread's copies theta and acts
    (restored from the cached activations on return)."""
    N = x.shape[0]
    k = _owner(ops, p)
    q = p - ops[k, POFF]
    n_in, n_out = ops[k, IN], ops[k, OUT]
    j = q % n_out if q < n_in * n_out else q - n_in * n_out
    if lam == 0.0 and q < n_in * n_out and not colnz[p]:
        return 0.0                           # W[i, j] meets only zeros: the loss is bit-identical
    w = theta[p]
    theta[p] = w + h
    fp = _loss_after(ops, theta, x, labels, acts, k, j, lam, delta)
    theta[p] = w - h
    fm = _loss_after(ops, theta, x, labels, acts, k, j, lam, delta)
    theta[p] = w
    a = ops[k, AOFF]
    for n in range(N):
        acts[N * a + n * n_out + j] = cached[N * a + n * n_out + j]
    for i in range(N * (a + n_out), acts.shape[0]):
        acts[i] = cached[i]
    return (fp - fm) / (2 * h)


@kernel(parallel=True)
def numgrad_full(ops, theta, x, labels, acts, lam, h, delta, nt, block, grad):
    """Central differences of every parameter, the whole batch loss recomputed each time.

    acts: filled by :func:`forward_rows` (read only); grad: (P,) like theta.
    Parameters are dealt to ``nt`` workers (pass ``numba.get_num_threads()``)
    in blocks of ``block``, round robin; each worker copies theta and acts.
    """
    N = x.shape[0]
    P = theta.shape[0]
    colnz = np.zeros(P, dtype=np.bool_)      # W entries whose input is not 0 for the whole batch
    for k in range(ops.shape[0]):
        if ops[k, KIND] == AFFINE:
            n_in, n_out = ops[k, IN], ops[k, OUT]
            for n in range(N):
                xin = row_in(ops, x, acts, k, N, n)
                for i in range(n_in):
                    if xin[i] != 0.0:
                        for j in range(n_out):
                            colnz[ops[k, POFF] + i * n_out + j] = True
    nblocks = (P + block - 1) // block
    for t in prange(nt):
        th = theta.copy()
        ac = acts.copy()
        for bk in range(t, nblocks, nt):
            for p in range(bk * block, min(P, (bk + 1) * block)):
                grad[p] = _full_one(ops, th, x, labels, acts, ac, lam, h, delta, colnz, p)
    return grad


# ---------------------------------------------------------------------------
# cached: only what a perturbation changes, from the cached activations
# ---------------------------------------------------------------------------
@kernel
def _tail(ops, theta, acts, N, n, start, j, dz, va, vb, reach, ds):
    """Carry a change of one unit through operations start .. last-1 for sample n.

    The change is dz at unit j of op start's input; ds (C,) receives the change
    of the logits.  reach < 0: exactly, each activation recomputed as
    act(a + change) - act(a).  reach >= 0: linearly (ReLU slopes at the cached
    point), refusing (returning False) where a sigmoid follows or a ReLU's input
    might reach its kink for a change up to ``reach`` times the unit's.
    va, vb: (width,) scratch.
    """
    last = ops.shape[0] - 1
    cur = va
    nxt = vb
    w = ops[start, IN]
    for u in range(w):
        cur[u] = 0.0
    cur[j] = dz
    for m in range(start, last):
        kind = ops[m, KIND]
        n_in, n_out = ops[m, IN], ops[m, OUT]
        if kind == AFFINE:
            p = ops[m, POFF]
            for v in range(n_out):
                nxt[v] = 0.0
            for u in range(n_in):
                du = cur[u]
                if du != 0.0:
                    q = p + u * n_out
                    for v in range(n_out):
                        nxt[v] += du * theta[q + v]
        else:
            a_in = row_out(ops, acts, m - 1, N, n)
            if reach < 0.0:
                z = row_out(ops, acts, m, N, n)
                for u in range(n_out):
                    du = cur[u]
                    nxt[u] = act(kind, a_in[u] + du) - z[u] if du != 0.0 else 0.0
            elif kind == RELU:
                for u in range(n_out):
                    du = cur[u]
                    if du == 0.0:
                        nxt[u] = 0.0
                        continue
                    a = a_in[u]
                    if abs(a) <= KINK_MARGIN * reach * abs(du):
                        return False
                    nxt[u] = du if a > 0.0 else 0.0
            else:
                return False
        cur, nxt = nxt, cur
    for c in range(ds.shape[0]):
        ds[c] = cur[c]
    return True


@kernel
def _shifted(kind, a, z, d, l0, s0, g, linear, ops, theta, acts, N, n, start, j, t, delta,
             va, vb, row):
    """Sample n's log-probability with unit j of the perturbed op's output moved by d.

    kind: the head activation (SIGMOID, RELU) or -1 (none: the change passes as is);
    a, z: the unit's cached output and head output; l0: the unmoved log-probability;
    s0: the cached logits; g: the unit's tangent when ``linear``."""
    dz = act(kind, a + d) - z if kind >= 0 else d
    if dz == 0.0:
        return l0
    C = s0.shape[0]
    if linear:
        for c in range(C):
            row[c] = s0[c] + dz * g[c]
    else:
        _tail(ops, theta, acts, N, n, start, j, dz, va, vb, -1.0, row)
        for c in range(C):
            row[c] += s0[c]
    return log_prob(row, t, delta)


@kernel
def _odd_coefficients(y, g, t, delta):
    """Odd Taylor coefficients (L1, L3, L5) of l(d) = log(softmax(s + d g)[t] + delta) at d = 0,
    from the probabilities y = softmax(s) (C,) and the direction g (C,).

    exp(s_c + d g_c) = exp(s_c) sum_p (d g_c)^p / p!, so the softmax denominator's
    series has the coefficients m_p / p!, m_p = sum_c y_c g_c^p, and the numerator's
    y_t g_t^p / p!; :func:`kernels.twolayer_numgrad._log_odd` takes it from there."""
    ysum = 0.0
    m1 = 0.0
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    m5 = 0.0
    for c in range(y.shape[0]):
        w = g[c]
        v = y[c]
        ysum += v
        v *= w
        m1 += v
        v *= w
        m2 += v
        v *= w
        m3 += v
        v *= w
        m4 += v
        v *= w
        m5 += v
    yt = y[t]
    gt = g[t]
    gt2 = gt * gt
    num = (yt, yt * gt, yt * gt2 * 0.5, yt * gt2 * gt / 6.0, yt * gt2 * gt2 / 24.0,
           yt * gt2 * gt2 * gt / 120.0)
    s = (ysum, m1, m2 * 0.5, m3 / 6.0, m4 / 24.0, m5 / 120.0)
    ts = (0.0, gt, 0.0, 0.0, 0.0, 0.0)
    return _log_odd(num, s, ts, delta)


@kernel
def _sigmoid_coefficients(z):
    """Taylor coefficients s1..s5 of sigmoid(a + u) in u, from z = sigmoid(a) (s' = s - s^2)."""
    s1 = z - z * z
    s2 = (s1 - 2.0 * z * s1) * 0.5
    s3 = (s2 - 2.0 * z * s2 - s1 * s1) * (1.0 / 3.0)
    s4 = (s3 - 2.0 * z * s3 - 2.0 * s1 * s2) * 0.25
    s5 = (s4 - 2.0 * z * s4 - 2.0 * s1 * s3 - s2 * s2) * 0.2
    return s1, s2, s3, s4, s5


@kernel
def _reach_of(J, u, reach):
    """Largest |change| of a jet J[u] (coefficients of d, ..., d^5) for |d| <= reach."""
    m = 0.0
    r = reach
    for q in range(5):
        m += abs(J[u, q]) * r
        r *= reach
    return m


@kernel
def _jets(ops, theta, acts, N, n, start, j, head, reach, Ja, Jb, y, t, delta):
    """Odd Taylor coefficients (ok, L1, L3, L5) of sample n's log-probability in the shift d
    of the perturbed unit, by truncated power series (degree 5) through the operations
    start .. last-1; head: the series (5,) of the unit's change after its activation.

    Each unit's change is a series in d without constant term, Ja/Jb (width, 5) hold a
    layer's; Affine combines them linearly, a sigmoid composes its own series at the
    cached point with its input's, a ReLU passes or stops it.  ok is False (the caller
    recomputes each shift exactly) where a ReLU input might reach its kink or a shift,
    at a sigmoid input or a logit, might exceed SERIES_MAX for |d| <= reach."""
    last = ops.shape[0] - 1
    cur = Ja
    nxt = Jb
    for u in range(ops[start, IN]):
        for q in range(5):
            cur[u, q] = 0.0
    for q in range(5):
        cur[j, q] = head[q]
    for m in range(start, last):
        kind = ops[m, KIND]
        n_in, n_out = ops[m, IN], ops[m, OUT]
        if kind == AFFINE:
            p = ops[m, POFF]
            for v in range(n_out):
                for q in range(5):
                    nxt[v, q] = 0.0
            for u in range(n_in):
                if cur[u, 0] == 0.0 and cur[u, 1] == 0.0 and cur[u, 2] == 0.0 and cur[u, 3] == 0.0 \
                        and cur[u, 4] == 0.0:
                    continue
                q0 = p + u * n_out
                for v in range(n_out):
                    w = theta[q0 + v]
                    for q in range(5):
                        nxt[v, q] += cur[u, q] * w
        else:
            a_in = row_out(ops, acts, m - 1, N, n)
            z = row_out(ops, acts, m, N, n)
            for u in range(n_out):
                shift = _reach_of(cur, u, reach)
                if shift == 0.0:
                    for q in range(5):
                        nxt[u, q] = 0.0
                elif kind == RELU:
                    if abs(a_in[u]) <= KINK_MARGIN * shift:
                        return False, 0.0, 0.0, 0.0
                    on = 1.0 if a_in[u] > 0.0 else 0.0
                    for q in range(5):
                        nxt[u, q] = on * cur[u, q]
                else:
                    if shift > SERIES_MAX:
                        return False, 0.0, 0.0, 0.0
                    s1, s2, s3, s4, s5 = _sigmoid_coefficients(z[u])
                    u1, u2, u3, u4, u5 = cur[u, 0], cur[u, 1], cur[u, 2], cur[u, 3], cur[u, 4]
                    nxt[u, 0] = s1 * u1
                    nxt[u, 1] = s1 * u2 + s2 * u1 * u1
                    nxt[u, 2] = s1 * u3 + s2 * 2.0 * u1 * u2 + s3 * u1 * u1 * u1
                    nxt[u, 3] = (s1 * u4 + s2 * (2.0 * u1 * u3 + u2 * u2) + s3 * 3.0 * u1 * u1 * u2
                                 + s4 * u1 * u1 * u1 * u1)
                    nxt[u, 4] = (s1 * u5 + s2 * (2.0 * u1 * u4 + 2.0 * u2 * u3)
                                 + s3 * (3.0 * u1 * u1 * u3 + 3.0 * u1 * u2 * u2)
                                 + s4 * 4.0 * u1 * u1 * u1 * u2 + s5 * u1 * u1 * u1 * u1 * u1)
        cur, nxt = nxt, cur
    # the logits move by S_c(d) = cur[c]; exp(S_c) = sum_k E_k d^k with E_0 = 1 and
    # E_k = (1/k) sum_{i=1..k} i S_i E_{k-i} (from E' = S' E); y = softmax of the cached logits
    C = y.shape[0]
    n0 = y[t]
    num = np.zeros(6)
    den = np.zeros(6)
    e = np.zeros(6)
    for c in range(C):
        if _reach_of(cur, c, reach) > SERIES_MAX:
            return False, 0.0, 0.0, 0.0
        e[0] = 1.0
        for k in range(1, 6):
            acc = 0.0
            for i in range(1, k + 1):
                acc += i * cur[c, i - 1] * e[k - i]
            e[k] = acc / k
        for k in range(6):
            den[k] += y[c] * e[k]
        if c == t:
            for k in range(6):
                num[k] = n0 * e[k]
    ts = (0.0, cur[t, 0], cur[t, 1], cur[t, 2], cur[t, 3], cur[t, 4])
    L1, L3, L5 = _log_odd((num[0], num[1], num[2], num[3], num[4], num[5]),
                          (den[0], den[1], den[2], den[3], den[4], den[5]), ts, delta)
    return True, L1, L3, L5


@kernel
def _unit(ops, theta, x, labels, acts, l0, reach, k, j, h, delta, col, g, va, vb, row, hd, Ja, Jb,
          grad):
    """Central differences of W[:, j] and b[j] of Affine op k, into grad."""
    N = x.shape[0]
    last = ops.shape[0] - 1
    p, n_in, n_out = ops[k, POFF], ops[k, IN], ops[k, OUT]
    head = ops[k + 1, KIND]
    kind = head if head == SIGMOID or head == RELU else -1
    start = k + 2 if kind >= 0 else k + 1
    for i in range(n_in):
        col[i] = 0.0
    bsum = 0.0
    for n in range(N):
        r = reach[k, n]
        a = row_out(ops, acts, k, N, n)[j]
        if kind == RELU and a <= -r:
            continue                         # the unit stays off: the sample's loss is unchanged
        z = row_out(ops, acts, k + 1, N, n)[j] if kind >= 0 else a
        s0 = row_in(ops, x, acts, last, N, n)
        linear = _tail(ops, theta, acts, N, n, start, j, 1.0, va, vb, r, g)
        t = labels[n]
        ln = l0[n]
        xin = row_in(ops, x, acts, k, N, n)
        series = False
        L1 = L3 = L5 = 0.0
        if kind == RELU and a <= KINK_MARGIN * r:
            pass                             # the head's kink within reach: every shift exactly
        elif linear and kind != SIGMOID:
            gmax = 0.0
            for c in range(g.shape[0]):
                gmax = max(gmax, abs(g[c]))
            if r * gmax <= SERIES_MAX:       # every shift moves the logits by d g, d within reach
                L1, L3, L5 = _odd_coefficients(row_out(ops, acts, last, N, n), g, t, delta)
                series = True
        elif r <= SERIES_MAX:                # a sigmoid on the way: the series through the layers
            if kind == SIGMOID:
                hd[0], hd[1], hd[2], hd[3], hd[4] = _sigmoid_coefficients(z)
            else:
                hd[0], hd[1], hd[2], hd[3], hd[4] = 1.0, 0.0, 0.0, 0.0, 0.0
            series, L1, L3, L5 = _jets(ops, theta, acts, N, n, start, j, hd, r, Ja, Jb,
                                       row_out(ops, acts, last, N, n), t, delta)
        if series:
            for i in range(n_in):
                v = xin[i]
                if v != 0.0:
                    d = h * v
                    d2 = d * d
                    col[i] += 2.0 * d * (L1 + d2 * (L3 + d2 * L5))
            d2 = h * h
            bsum += 2.0 * h * (L1 + d2 * (L3 + d2 * L5))
            continue
        for i in range(n_in):
            v = xin[i]
            if v != 0.0:
                d = h * v
                lp = _shifted(kind, a, z, d, ln, s0, g, linear, ops, theta, acts, N, n, start, j, t,
                              delta, va, vb, row)
                lm = _shifted(kind, a, z, -d, ln, s0, g, linear, ops, theta, acts, N, n, start, j, t,
                              delta, va, vb, row)
                col[i] += lp - lm
        lp = _shifted(kind, a, z, h, ln, s0, g, linear, ops, theta, acts, N, n, start, j, t,
                      delta, va, vb, row)
        lm = _shifted(kind, a, z, -h, ln, s0, g, linear, ops, theta, acts, N, n, start, j, t,
                      delta, va, vb, row)
        bsum += lp - lm
    scale = -1.0 / (N * 2 * h)
    for i in range(n_in):
        grad[p + i * n_out + j] = col[i] * scale
    grad[p + n_in * n_out + j] = bsum * scale


@kernel(parallel=True)
def numgrad_cached(ops, theta, x, labels, acts, h, delta, nt, grad):
    """Central differences of every parameter's data loss from the cached activations.

    acts: filled by :func:`forward_rows` (read only); grad: (P,) like theta
    (the weight decay's part is not included).  Output units of all Affine
    operations are dealt to ``nt`` workers round robin; each worker has its
    own buffers.
    """
    N = x.shape[0]
    n_ops = ops.shape[0]
    last = n_ops - 1
    units = 0
    width = 1
    for k in range(n_ops):
        width = max(width, ops[k, IN], ops[k, OUT])
        if ops[k, KIND] == AFFINE:
            units += ops[k, OUT]
    uk = np.empty(units, dtype=np.int64)
    uj = np.empty(units, dtype=np.int64)
    reach = np.zeros((n_ops, N))            # the largest shift of op k's output, per sample
    u = 0
    for k in range(n_ops):
        if ops[k, KIND] == AFFINE:
            for j in range(ops[k, OUT]):
                uk[u] = k
                uj[u] = j
                u += 1
            for n in range(N):
                xin = row_in(ops, x, acts, k, N, n)
                m = 1.0
                for i in range(ops[k, IN]):
                    m = max(m, abs(xin[i]))
                reach[k, n] = h * m
    l0 = np.empty(N)
    for n in range(N):
        l0[n] = log_prob(row_in(ops, x, acts, last, N, n), labels[n], delta)
    C = ops[last, IN]
    for t in prange(nt):
        col = np.empty(width)
        g = np.empty(C)
        va = np.empty(width)
        vb = np.empty(width)
        row = np.empty(C)
        hd = np.empty(5)
        Ja = np.empty((width, 5))
        Jb = np.empty((width, 5))
        for q in range(t, units, nt):
            _unit(ops, theta, x, labels, acts, l0, reach, uk[q], uj[q], h, delta, col, g, va, vb,
                  row, hd, Ja, Jb, grad)
    return grad
