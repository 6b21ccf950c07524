"""The chapter-6 layers that regularise and condition training: Dropout and BatchNormalization.

Both keep the book's protocol, ``forward(x, train_flg=True)`` /
``backward(dout)``, and compute through :mod:`kernels.dropout` and
:mod:`kernels.batchnorm`.  Randomness stays in Python: Dropout draws its
masks from a numpy Generator (the run's, when a network builds the layer),
so the same seed gives the same masks on any thread count.
"""
import math

import numpy as np

import kernels as K
from kernels.batchnorm import EPS

from ._checks import ShapeError, _real, as_float_array, describe, unit_interval


def _before_training_forward(layer):
    return ValueError(f"{type(layer).__name__}.backward: call forward(x, train_flg=True) first; "
                      f"backward uses what a training forward kept")


def as_generator(rng):
    """A numpy Generator from None (fresh entropy), a seed, or a Generator."""
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng: expected a numpy.random.Generator, a seed or None, got {type(rng).__name__}")


def check_dropout_ratio(v, name="dropout_ratio"):
    """float(v) for 0 <= v < 1 (a ratio of 1 would drop every unit)."""
    return unit_interval(name, v)


def check_momentum(v, name="momentum"):
    """float(v) for 0 < v < 1 (0 would forget the running statistics at every step, 1 never
    learn them)."""
    f = _real(name, v)
    if not 0 < f < 1:
        raise ValueError(f"{name}: expected a number in (0, 1), got {v!r}")
    return f


def _check_train_flg(train_flg):
    if not isinstance(train_flg, (bool, np.bool_)):
        raise TypeError(f"train_flg: expected True or False, got {type(train_flg).__name__}")
    return bool(train_flg)


def _check_dout(dout, shape, dtype):
    dout = as_float_array("dout", dout, dtype=dtype, finite=False)
    if dout.shape != shape:
        raise ShapeError(f"dout: expected {describe(np.empty(shape, dtype))} like the forward output, "
                         f"got {describe(dout)}")
    return dout


class Dropout:
    """Training: out = x * mask with mask = rand(x.shape) > dropout_ratio, drawn from ``rng``;
    inference: out = x * (1 - dropout_ratio).  backward: dx = dout * mask.

    dropout_ratio: in [0, 1); rng: a numpy Generator, a seed, or None (fresh entropy).
    """

    def __init__(self, dropout_ratio=0.5, rng=None):
        self.dropout_ratio = check_dropout_ratio(dropout_ratio)
        self.rng = as_generator(rng)
        self.mask = None

    def forward(self, x, train_flg=True):
        """x: any shape, float32 or float64; returns an array of its shape and dtype."""
        train = _check_train_flg(train_flg)
        x = as_float_array("x", x, finite=False)
        self.dropout_ratio = check_dropout_ratio(self.dropout_ratio)
        return self._forward(x, train)

    def backward(self, dout):
        """dx = dout * mask, of the training forward's shape and dtype."""
        if self.mask is None:
            raise _before_training_forward(self)
        return self._backward(_check_dout(dout, self.mask.shape, self._dtype))

    def _forward(self, x, train):
        """forward without checks: x C-contiguous float."""
        out = np.empty_like(x)
        if train:
            self.mask = self.rng.random(x.shape) > self.dropout_ratio
            self._dtype = x.dtype
            K.dropout_forward(x.reshape(-1), self.mask.reshape(-1), out.reshape(-1))
        else:
            K.dropout_inference(x.reshape(-1), self.dropout_ratio, out.reshape(-1))
        return out

    def _backward(self, dout):
        """backward without checks: dout C-contiguous, the training forward's shape and dtype."""
        dx = np.empty_like(dout)
        K.dropout_backward(dout.reshape(-1), self.mask.reshape(-1), dx.reshape(-1))
        return dx


class BatchNormalization:
    """out = gamma * (x - mu) / sqrt(var + 1e-6) + beta per feature, with the batch's mu and var
    in training and the running ones at inference; running = momentum * running + (1 -
    momentum) * batch statistic after each training forward.

    gamma, beta: (D,) float32 or float64, kept by reference (an optimizer updating them in
    place is seen); momentum: in (0, 1); running_mean, running_var: (D,) or None (zeros at
    the first forward, as in the book), updated in place when they are C-contiguous arrays of
    gamma's dtype (else copied).  x: (N, D) or (N, ...) with D features after the first axis.
    After backward: ``dgamma``, ``dbeta``.
    """

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma, self.beta = gamma, beta
        self._check_params()
        self.momentum = check_momentum(momentum)
        D = self.gamma.shape[0]
        self.running_mean = self._running("running_mean", running_mean, D)
        self.running_var = self._running("running_var", running_var, D)
        self.input_shape = None       # the training forward's input shape
        self.batch_size = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def _check_params(self):
        """Check gamma and beta (again when either was replaced since the last check)."""
        if getattr(self, "_checked", None) != (id(self.gamma), id(self.beta)):
            self.gamma = as_float_array("gamma", self.gamma, ndim=1)
            self.beta = as_float_array("beta", self.beta, shape=self.gamma.shape, dtype=self.gamma.dtype)
            self._checked = (id(self.gamma), id(self.beta))

    def _running(self, name, a, D):
        if a is None:
            return None
        a = np.asarray(a) if not isinstance(a, np.ndarray) else a
        if a.dtype.kind not in "iuf" or a.shape != (D,):
            raise ShapeError(f"{name}: expected ({D},) {self.gamma.dtype} like gamma, got {describe(a)}")
        if a.dtype != self.gamma.dtype or not (a.flags.c_contiguous and a.flags.writeable):
            a = np.array(a, dtype=self.gamma.dtype, order="C")
        return a

    def forward(self, x, train_flg=True):
        """x: (N, D) or (N, ...) of gamma's dtype; returns an array of x's shape."""
        train = _check_train_flg(train_flg)
        self._check_params()
        self.momentum = check_momentum(self.momentum)
        D, dt = self.gamma.shape[0], self.gamma.dtype
        x = np.asarray(x)
        if x.ndim < 2 or x.size == 0 or math.prod(x.shape[1:]) != D:
            raise ShapeError(f"x: expected (N, {D}) {dt}, got {describe(x)}")
        if x.dtype != dt:
            raise TypeError(f"x: expected (N, {D}) {dt} like gamma, got {describe(x)}")
        x2 = np.ascontiguousarray(x.reshape(x.shape[0], D))
        if self.running_mean is None:
            self.running_mean = np.zeros(D, dt)
        if self.running_var is None:
            self.running_var = np.zeros(D, dt)
        self.running_mean = self._running("running_mean", self.running_mean, D)
        self.running_var = self._running("running_var", self.running_var, D)
        out = self._forward(x2, train)
        if train:
            self.input_shape = x.shape
        return out.reshape(x.shape)

    def _forward(self, x2, train):
        """forward without checks: x2 (N, D) C-contiguous of gamma's dtype, running statistics
        set; returns (N, D)."""
        D, dt = x2.shape[1], x2.dtype
        out = np.empty_like(x2)
        if train:
            mu, var, std = np.empty(D, dt), np.empty(D, dt), np.empty(D, dt)
            xn = np.empty_like(x2)
            K.batchnorm_forward_train(x2, self.gamma, self.beta, EPS, mu, var, std, xn, out)
            K.batchnorm_running_update(self.momentum, mu, var, self.running_mean, self.running_var)
            self.xn, self.std, self.batch_size = xn, std, x2.shape[0]
            self.input_shape = x2.shape
        else:
            K.batchnorm_forward_infer(x2, self.gamma, self.beta, self.running_mean, self.running_var,
                                      EPS, out)
        return out

    def backward(self, dout):
        """dx of the training forward's input shape; sets dgamma and dbeta (D,)."""
        if self.xn is None:
            raise _before_training_forward(self)
        self._check_params()
        if self.gamma.shape[0] != self.xn.shape[1] or self.gamma.dtype != self.xn.dtype:
            raise ShapeError(f"gamma: expected ({self.xn.shape[1]},) {self.xn.dtype} as in forward, "
                             f"got {describe(self.gamma)}; gamma was replaced between forward and backward")
        dout = _check_dout(dout, self.input_shape, self.xn.dtype).reshape(self.xn.shape)
        return self._backward(dout).reshape(self.input_shape)

    def _backward(self, dout2, need_dx=True, dgamma=None, dbeta=None):
        """backward without checks: dout2 (N, D) C-contiguous of the forward's dtype.  dgamma
        and dbeta (D,) receive the gradients when given (a network's flat gradient buffer);
        dx is always computed (need_dx is the protocol of layers with parameters)."""
        D = self.xn.shape[1]
        dx = np.empty_like(dout2)
        self.dgamma = np.empty(D, dout2.dtype) if dgamma is None else dgamma
        self.dbeta = np.empty(D, dout2.dtype) if dbeta is None else dbeta
        K.batchnorm_backward(dout2, self.xn, self.std, self.gamma, dx, self.dgamma, self.dbeta)
        return dx
