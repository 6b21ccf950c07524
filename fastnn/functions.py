"""The book's functions: activations, softmax and losses, checked at the boundary.

Each accepts a float32 or float64 array (lists and scalars become float64)
and returns a new array of the same dtype; the work is done by :mod:`kernels`.
"""
import numba
import numpy as np

import kernels as K

from ._checks import as_float_array, as_targets, describe, ShapeError

#: Elementwise kernels switch to their parallel twin from this many elements, when
#: more than one numba thread is set.  Measured with 2 threads on 2 cores (float32):
#: sigmoid, bound by exp, gains from 2**12 elements (30 -> 20 us); relu, bound by
#: memory, loses below 2**16 (2.4 -> 5.4 us at 2**14) and gains above (10 -> 6.7 us).
PARALLEL_MIN_SIZE = {"sigmoid": 1 << 12, "relu": 1 << 16}

_TWINS = {"sigmoid": (K.sigmoid, K.sigmoid_parallel), "relu": (K.relu, K.relu_parallel)}


def elementwise_kernel(kind, size, parallel=True):
    """The serial or parallel kernel of ``kind`` ("sigmoid", "relu") for ``size`` elements;
    parallel=False: always the serial one (a caller whose other work runs in BLAS)."""
    serial, twin = _TWINS[kind]
    return twin if parallel and size >= PARALLEL_MIN_SIZE[kind] and numba.get_num_threads() > 1 else serial


def _elementwise(name, x, kind=None, serial=None, out_dtype=None):
    x = as_float_array(name, x, finite="nan")
    out = np.empty(x.shape, dtype=out_dtype or x.dtype)
    fn = serial if kind is None else elementwise_kernel(kind, x.size)
    fn(x.reshape(-1), out.reshape(-1))
    return out[()] if out.ndim == 0 else out


def step_function(x):
    """1 where x > 0 else 0, as int64 (the book's ``np.array(x > 0, dtype=int)``)."""
    return _elementwise("x", x, serial=K.step, out_dtype=np.int64)


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise.  x: any shape, float."""
    return _elementwise("x", x, "sigmoid")


def relu(x):
    """max(0, x), elementwise.  x: any shape, float."""
    return _elementwise("x", x, "relu")


def identity_function(x):
    """x itself (the output activation for regression)."""
    return as_float_array("x", x, finite="nan")


def softmax(a):
    """Softmax over the last axis, max subtracted first.  a: (K,) or (N, K) float, finite."""
    a = as_float_array("a", a, ndim=(1, 2))
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    out = np.empty_like(a2)
    K.softmax(a2, out)
    return out.reshape(a.shape)


def mean_squared_error(y, t):
    """E = 0.5 * sum((y - t)**2) over all elements, as in the book.  y, t: same shape."""
    y = as_float_array("y", y)
    t = np.asarray(t)
    if t.shape != y.shape:
        raise ShapeError(f"t: expected the shape of y {y.shape}, got {describe(t)}")
    t = as_float_array("t", t.astype(y.dtype) if t.dtype.kind in "iub" else t, dtype=y.dtype)
    return K.mean_squared_error(y.reshape(-1), t.reshape(-1))


def cross_entropy_error(y, t):
    """E = -sum(t * log(y + 1e-7)) / N.

    y: (K,) or (N, K) probabilities; t: one-hot of y's shape, or integer
    labels (N,) (a single label for 1-D y).  Mean over the batch.
    """
    y = as_float_array("y", y, ndim=(1, 2))
    y2 = y.reshape(1, -1) if y.ndim == 1 else y
    t = np.asarray(t)
    if t.shape == y.shape and t.dtype.kind in "iub":
        t = t.astype(y.dtype)          # one-hot given as integers
    kind, t2 = as_targets("t", t, y2)
    if kind == "labels":
        return K.cross_entropy_labels(y2, t2)
    return K.cross_entropy_dense(y2, t2)
