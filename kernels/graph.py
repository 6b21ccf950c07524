"""One description of a network, read at run time by every compiled path.

A network is a sequence of operations.  Its compiled description is a table
``ops``: (n_ops, NCOLS) int64, one row per operation, with the columns

    KIND  what the operation computes (AFFINE, SIGMOID, RELU, SOFTMAX_LOSS,
          and the codes reserved below for operations still to come)
    IN    width of its input, features per sample
    OUT   width of its output
    POFF  offset of its parameters in the flat buffer ``theta`` (-1: none)
    PLEN  number of parameters (0: none)
    AOFF  offset of its output in the activation buffer, in widths: for a
          batch of N samples the output is ``acts[N*AOFF : N*(AOFF+OUT)]``
          seen as (N, OUT), so every operation's output is one C-contiguous
          block and the last operation's output is the probabilities
    SOFF  offset of its state in a state buffer (-1: none; batch
          normalization's running mean and variance)
    AUX   one integer an operation may need (unused so far)

and a float table ``fops``: (n_ops, NFCOLS) float64 for constants an
operation may need (a dropout ratio, a momentum), zeros when unused.

Dropout and batch normalization (chapter 6):

    DROPOUT    IN == OUT, no parameters; ``fops[k, RATIO]`` the dropout
               ratio.  Its training mask (bool, drawn outside the kernels
               from the run's generator) uses the activation layout: for N
               samples ``masks[N*AOFF : N*(AOFF+OUT)]``.
    BATCHNORM  IN == OUT; parameters gamma (OUT,) at POFF and beta (OUT,)
               right after (PLEN = 2*OUT); ``fops[k, MOMENTUM]`` the running
               statistics' momentum.  Its activation block is 2*OUT wide:
               the output (N, OUT) at AOFF as for every operation, then the
               normalised input xn (N, OUT) that backward needs.  State at
               SOFF: running mean (OUT,), running variance (OUT,), then the
               last training batch's std (OUT,) for backward (3*OUT; see
               :func:`state_size`).

Parameters of all operations live in one flat buffer ``theta`` (P,) of the
network's dtype; an Affine operation's ``W`` (IN, OUT) is stored row-major
at POFF and its ``b`` (OUT,) right after it.  Gradients use the same layout
in a buffer of the same size, so an optimizer is one elementwise kernel
over the whole buffer.  The last operation is SOFTMAX_LOSS.

Kernels that walk the table compile once for every network (the table is
data, not a type), and a new operation is a new KIND code, its formula
kernels and a branch in each walker.
"""
import numpy as np

from ._config import kernel
from .activations import relu, sigmoid
from .affine import affine_forward
from .batchnorm import EPS, batchnorm_forward_infer
from .dropout import dropout_inference
from .softmax import softmax

# operation kinds
AFFINE = 0
SIGMOID = 1
RELU = 2
SOFTMAX_LOSS = 3
DROPOUT = 4       # reserved
BATCHNORM = 5     # reserved
CONVOLUTION = 6   # reserved
POOLING = 7       # reserved

KIND_NAMES = {AFFINE: "Affine", SIGMOID: "Sigmoid", RELU: "Relu", SOFTMAX_LOSS: "SoftmaxWithLoss",
              DROPOUT: "Dropout", BATCHNORM: "BatchNormalization", CONVOLUTION: "Convolution",
              POOLING: "Pooling"}

# columns of ops
KIND, IN, OUT, POFF, PLEN, AOFF, SOFF, AUX = range(8)
NCOLS = 8
NFCOLS = 4
# columns of fops
RATIO = 0         # DROPOUT: the dropout ratio
MOMENTUM = 0      # BATCHNORM: the running statistics' momentum

#: Activation names accepted by :func:`mlp` and their operation kinds.
ACTIVATION_KINDS = {"sigmoid": SIGMOID, "relu": RELU}


def mlp(sizes, activation="relu"):
    """Description of a fully connected network.

    sizes: (input, hidden..., output) widths, at least two; activation:
    "relu" or "sigmoid" after every Affine but the last.  Returns
    ``(ops, fops, n_params, acts_width)``: the tables, the length of theta and
    the activation buffer's width per sample (its length is N * acts_width).
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes: expected at least two positive widths, got {sizes}")
    act = ACTIVATION_KINDS[activation]
    rows = []
    for i in range(len(sizes) - 1):
        rows.append((AFFINE, sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            rows.append((act, sizes[i + 1], sizes[i + 1]))
    rows.append((SOFTMAX_LOSS, sizes[-1], sizes[-1]))
    return build(rows)


def build(rows):
    """Tables from rows ``(kind, in, out)`` or ``(kind, in, out, consts)``: offsets of
    parameters, outputs and state laid out in order; ``consts`` (a sequence of at most
    NFCOLS floats) fills the row of ``fops``.

    Returns ``(ops, fops, n_params, acts_width)`` as :func:`mlp` does; the state
    buffer's length is :func:`state_size` (ops).
    """
    ops = np.full((len(rows), NCOLS), -1, dtype=np.int64)
    fops = np.zeros((len(rows), NFCOLS), dtype=np.float64)
    p = a = s = 0
    for k, row in enumerate(rows):
        kind, n_in, n_out = row[:3]
        if len(row) > 3:
            consts = list(row[3])
            fops[k, :len(consts)] = consts
        ops[k, KIND], ops[k, IN], ops[k, OUT] = kind, n_in, n_out
        plen = n_in * n_out + n_out if kind == AFFINE else 2 * n_out if kind == BATCHNORM else 0
        ops[k, POFF] = p if plen else -1
        ops[k, PLEN] = plen
        ops[k, AOFF] = a
        ops[k, AUX] = 0
        if kind == BATCHNORM:
            ops[k, SOFF] = s
            s += 3 * n_out
        p += plen
        a += 2 * n_out if kind == BATCHNORM else n_out
    return ops, fops, p, a


def state_size(ops):
    """Length of the state buffer: 3*OUT per batch normalization (running mean and variance,
    the last training batch's std)."""
    return int(sum(3 * int(r[OUT]) for r in ops if r[KIND] == BATCHNORM))


def mlp_extend(sizes, activation="relu", use_dropout=False, dropout_ratio=0.5, use_batchnorm=False,
               momentum=0.9):
    """Description of the book's MultiLayerNetExtend: every hidden layer is
    Affine -> [BatchNorm] -> activation -> [Dropout]; then Affine -> SoftmaxWithLoss.

    Returns ``(ops, fops, n_params, acts_width)`` as :func:`mlp` does.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes: expected at least two positive widths, got {sizes}")
    act = ACTIVATION_KINDS[activation]
    rows = []
    for i in range(len(sizes) - 1):
        rows.append((AFFINE, sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            h = sizes[i + 1]
            if use_batchnorm:
                rows.append((BATCHNORM, h, h, (momentum,)))
            rows.append((act, h, h))
            if use_dropout:
                rows.append((DROPOUT, h, h, (dropout_ratio,)))
    rows.append((SOFTMAX_LOSS, sizes[-1], sizes[-1]))
    return build(rows)


def param_layout(ops):
    """Names, offsets and shapes of the parameters: [(name, offset, shape), ...].

    Affine operations are numbered from 1 in order: ``W1``, ``b1``, ``W2``, ...;
    a batch normalization takes the number of the Affine before it: ``gamma1``,
    ``beta1`` (the book's names).
    """
    out = []
    i = 0
    for row in ops:
        n_in, n_out, p = int(row[IN]), int(row[OUT]), int(row[POFF])
        if row[KIND] == AFFINE:
            i += 1
            out.append((f"W{i}", p, (n_in, n_out)))
            out.append((f"b{i}", p + n_in * n_out, (n_out,)))
        elif row[KIND] == BATCHNORM:
            out.append((f"gamma{i}", p, (n_out,)))
            out.append((f"beta{i}", p + n_out, (n_out,)))
    return out


@kernel
def affine_params(ops, theta, k):
    """Views (W, b) of operation k's parameters in theta: W (IN, OUT), b (OUT,)."""
    n_in = ops[k, IN]
    n_out = ops[k, OUT]
    p = ops[k, POFF]
    W = theta[p:p + n_in * n_out].reshape((n_in, n_out))
    b = theta[p + n_in * n_out:p + n_in * n_out + n_out]
    return W, b


@kernel
def output(ops, acts, k, N):
    """View (N, OUT) of operation k's output in the activation buffer."""
    a = ops[k, AOFF]
    return acts[N * a:N * (a + ops[k, OUT])].reshape((N, ops[k, OUT]))


@kernel
def forward_state(ops, fops, theta, state, x, acts):
    """Inference forward pass of any description, dropout and batch normalization included
    (dropout scales by 1 - ratio; batch normalization uses the running statistics in
    ``state``).  Otherwise as :func:`forward`; state: (state_size(ops),) theta's dtype."""
    N = x.shape[0]
    inp = x
    for k in range(ops.shape[0]):
        kind = ops[k, KIND]
        out = output(ops, acts, k, N)
        if kind == AFFINE:
            W, b = affine_params(ops, theta, k)
            affine_forward(inp, W, b, out)
        elif kind == SIGMOID:
            sigmoid(inp.ravel(), out.ravel())
        elif kind == RELU:
            relu(inp.ravel(), out.ravel())
        elif kind == DROPOUT:
            dropout_inference(inp.ravel(), fops[k, RATIO], out.ravel())
        elif kind == BATCHNORM:
            n = ops[k, OUT]
            p = ops[k, POFF]
            s = ops[k, SOFF]
            batchnorm_forward_infer(inp, theta[p:p + n], theta[p + n:p + 2 * n], state[s:s + n],
                                    state[s + n:s + 2 * n], EPS, out)
        elif kind == SOFTMAX_LOSS:
            softmax(inp, out)
        else:
            raise ValueError("unknown operation kind")
        inp = out
    return output(ops, acts, ops.shape[0] - 1, N)


@kernel
def forward(ops, theta, x, acts):
    """Inference forward pass of a description without dropout or batch normalization
    (those need :func:`forward_state`), serial (matrix products through BLAS).

    x: (N, IN of op 0) float, C-contiguous, theta's dtype; acts: (N * acts_width,)
    filled with every operation's output; the last block holds the probabilities.
    """
    for k in range(ops.shape[0]):
        if ops[k, KIND] == DROPOUT or ops[k, KIND] == BATCHNORM:
            raise ValueError("forward: dropout and batch normalization need forward_state")
    return forward_state(ops, np.zeros((ops.shape[0], NFCOLS)), theta, np.empty(0, theta.dtype), x, acts)


@kernel
def weight_sq_sum(ops, theta):
    """sum of W**2 over every Affine's W (not the biases), accumulated in float64.

    The weight-decay term of the loss is ``0.5 * lambda * weight_sq_sum``.
    """
    s = 0.0
    for k in range(ops.shape[0]):
        if ops[k, KIND] == AFFINE:
            p = ops[k, POFF]
            for i in range(p, p + ops[k, IN] * ops[k, OUT]):
                w = np.float64(theta[i])
                s += w * w
    return s


@kernel
def add_weight_decay(ops, theta, grad, lam):
    """grad[W] += lambda * W for every Affine's W (the biases untouched), in theta's dtype.

    lam: float64, converted to theta's dtype first, as NumPy does with
    ``dW + lam * W`` for a Python float lam.
    """
    lt = theta.dtype.type(lam)
    for k in range(ops.shape[0]):
        if ops[k, KIND] == AFFINE:
            p = ops[k, POFF]
            for i in range(p, p + ops[k, IN] * ops[k, OUT]):
                grad[i] += lt * theta[i]
