"""Computational-graph layers with the book's ``forward`` / ``backward`` protocol.

Every ``backward`` returns new arrays and never writes into the caller's
``dout``.  Arrays are float32 or float64; a layer's inputs share one dtype.
"""
import math

import numpy as np

import kernels as K

from ._checks import ShapeError, _shape_str, as_float_array, as_targets, describe, same_dtype
from .functions import elementwise_kernel
from .threads import blas_for


def _before_forward(layer, method="backward"):
    return ValueError(f"{type(layer).__name__}.{method}: call forward first; "
                      f"backward uses what forward kept")


class MulLayer:
    """z = x * y; backward swaps the inputs: dx = dout * y, dy = dout * x."""

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        if self.x is None:
            raise _before_forward(self)
        return dout * self.y, dout * self.x


class AddLayer:
    """z = x + y; backward passes dout through to both inputs."""

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1


def _check_dout(dout, ref):
    dout = as_float_array("dout", dout, finite=False)
    if dout.shape != ref.shape:
        raise ShapeError(f"dout: expected {describe(ref)} like the forward output, got {describe(dout)}")
    same_dtype("dout", dout, "the forward output", ref)
    return dout


class _Activation:
    """An elementwise activation layer: ``forward`` through the serial kernel named
    ``kernel`` (see ``elementwise_kernel``), ``backward`` from the output
    through ``grad(dout, out, dx)``."""

    kernel = None
    grad = None

    def __init__(self):
        self.out = None

    def forward(self, x):
        return self._forward(as_float_array("x", x, finite=False))

    def backward(self, dout):
        if self.out is None:
            raise _before_forward(self)
        return self._backward(_check_dout(dout, self.out))

    def _forward(self, x):
        """forward without checks: x C-contiguous float.  Serial: the layer path computes
        with BLAS, one pool at a time (fastnn.threads)."""
        self.out = np.empty_like(x)
        elementwise_kernel(self.kernel, x.size, parallel=False)(x.reshape(-1), self.out.reshape(-1))
        return self.out

    def _backward(self, dout):
        """backward without checks: dout C-contiguous, the forward output's shape and dtype."""
        dx = np.empty_like(dout)
        self.grad(dout.reshape(-1), self.out.reshape(-1), dx.reshape(-1))
        return dx


class Relu(_Activation):
    """y = max(0, x); dx = dout where x > 0 else 0 (gradient 0 at x == 0)."""

    kernel = "relu"
    grad = staticmethod(K.relu_backward_from_output)


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x)); dx = dout * (1 - y) * y."""

    kernel = "sigmoid"
    grad = staticmethod(K.sigmoid_backward)


class Affine:
    """out = x @ W + b.  W: (D, M), b: (M,); x: (N, D) or (N, ...) flattened to (N, D).

    The layer keeps references to ``W`` and ``b`` (in-place updates are seen)
    and, after ``backward``, the gradients ``dW`` and ``db``.  The three
    products go to NumPy's BLAS (``np.dot``): at the book's shapes it ran
    them 1.2-2x faster than numba's ``np.dot`` in ``kernels.affine``, which
    calls SciPy's OpenBLAS build; the bias terms are kernels.
    """

    def __init__(self, W, b):
        self.W = as_float_array("W", W, ndim=2)
        self.b = as_float_array("b", b, shape=(self.W.shape[1],), dtype=self.W.dtype)
        self._checked = (self.W, self.b)
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def _check_params(self):
        """Check W and b again when either was replaced since the last check."""
        if self.W is not self._checked[0] or self.b is not self._checked[1]:
            self.W = as_float_array("W", self.W, ndim=2)
            self.b = as_float_array("b", self.b, shape=(self.W.shape[1],), dtype=self.W.dtype)
            self._checked = (self.W, self.b)

    def forward(self, x):
        self._check_params()
        D, M = self.W.shape
        x = np.asarray(x)
        if x.ndim < 1 or x.size == 0 or (x.ndim == 1 and x.size != D) or \
                (x.ndim > 1 and math.prod(x.shape[1:]) != D):
            raise ShapeError(f"x: expected (N, {D}) {self.W.dtype}, got {describe(x)}")
        if x.dtype != self.W.dtype:
            raise TypeError(f"x: expected (N, {D}) {self.W.dtype} like W, got {describe(x)}")
        x2 = np.ascontiguousarray(x.reshape(-1, D))
        with blas_for(x2.size * self.W.shape[1]):
            out = self._forward(x2)
        self.original_x_shape = x.shape
        return out if x.ndim > 1 else out[0]

    def backward(self, dout, need_dx=True):
        """dx (the input's shape); sets dW and db.  need_dx=False skips dx (a first layer)."""
        if self.x is None:
            raise _before_forward(self)
        self._check_params()
        N, D = self.x.shape
        M = self.W.shape[1]
        if self.W.shape[0] != D or self.x.dtype != self.W.dtype:
            raise ShapeError(f"W: expected ({D}, {M}) {self.x.dtype} as in forward, got {describe(self.W)}; "
                             f"W was replaced between forward and backward")
        dout = as_float_array("dout", dout, dtype=self.W.dtype, finite=False)
        out_shape = (M,) if len(self.original_x_shape) == 1 else (N, M)      # forward's output
        if dout.shape != out_shape:
            raise ShapeError(f"dout: expected {_shape_str(out_shape)} {self.W.dtype} like the forward output, "
                             f"got {describe(dout)}")
        with blas_for(self.x.size * M):
            return self._backward(dout.reshape(N, M), need_dx)

    def _forward(self, x2):
        """forward without checks: x2 (N, D) C-contiguous of W's dtype; returns (N, M)."""
        self.original_x_shape = x2.shape
        self.x = x2
        out = np.dot(x2, self.W)
        K.add_bias(out, self.b)
        return out

    def _backward(self, dout2, need_dx=True, dW=None, db=None):
        """backward without checks: dout2 (N, M) C-contiguous of W's dtype.  dW (D, M) and
        db (M,), C-contiguous of W's dtype, receive the gradients when given (a network's
        flat gradient buffer); new arrays otherwise."""
        self.dW = np.dot(self.x.T, dout2, out=dW)
        self.db = K.bias_grad(dout2, np.empty_like(self.b) if db is None else db)
        if not need_dx:
            return None
        return np.dot(dout2, self.W.T).reshape(self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax then cross-entropy; backward gives (y - t) / N (times dout).

    t: integer labels (N,) or one-hot / soft targets (N, K).
    """

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None
        self._kind = None

    def forward(self, x, t):
        x = as_float_array("x", x, ndim=(1, 2), finite=False)
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        t = np.asarray(t)
        if t.shape == x.shape and t.dtype.kind in "iub":
            t = t.astype(x.dtype)          # one-hot given as integers, as in cross_entropy_error
        kind, t = as_targets("t", t, x2)
        loss = self._forward(x2, kind, t)
        self._shape = x.shape
        return loss

    def _forward(self, x2, kind, t):
        """forward without checks: x2 (N, K) C-contiguous; kind "labels" with t (N,) intp
        in [0, K), or "dense" with t (N, K) of x2's dtype."""
        self._kind, self.t = kind, t
        self._shape = x2.shape
        self.y = np.empty_like(x2)
        if self._kind == "labels":
            self.loss = K.softmax_loss_labels(x2, self.t, self.y)
        else:
            self.loss = K.softmax_loss_dense(x2, self.t, self.y)
        return self.loss

    def backward(self, dout=1):
        """dL/dx = dout * (y - t) / N, of the forward input's shape.  dout: a finite number."""
        if self.y is None:
            raise _before_forward(self)
        if not (isinstance(dout, (int, float)) and dout == 1):
            dout = _dout_scalar(dout)
        dx = np.empty_like(self.y)
        if self._kind == "labels":
            K.softmax_loss_backward_labels(self.y, self.t, dx)
        else:
            K.softmax_loss_backward_dense(self.y, self.t, dx)
        if dout != 1:
            dx *= dx.dtype.type(dout)
        return dx.reshape(self._shape)


def _dout_scalar(dout):
    """dout of a loss layer: a finite real number (the loss is a scalar)."""
    d = np.asarray(dout)
    if d.ndim != 0 or d.dtype.kind not in "iuf":
        got = describe(d) if d.ndim else type(dout).__name__
        raise TypeError(f"dout: expected a number (the loss is a scalar), got {got}")
    d = float(d)
    if not np.isfinite(d):
        raise ValueError(f"dout: expected a finite number, got {dout!r}")
    return d
