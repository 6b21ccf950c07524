"""Numerical differentiation and gradient descent, as in chapter 4 of the book.

``numerical_diff(f, x)``      central difference (f(x+h) - f(x-h)) / 2h, h = 1e-4
``numerical_gradient(f, x)``  the same for every element of a float array x
``gradient_descent(f, init_x, lr, step_num)``  x -= lr * numerical_gradient(f, x), repeated

``numerical_gradient`` runs the compiled loop of :mod:`kernels.numgrad`
(parallel over elements, one private copy of x per thread) when ``f`` is an
``@njit`` function, and a plain Python loop for any other callable.  Either
way ``f`` is called as ``f(x, *args)`` and x is left exactly as it was.
"""
import numba
import numpy as np
from numba.core.dispatcher import Dispatcher

import kernels as K

from ._checks import describe, positive_float, positive_int

H = 1e-4
#: The compiled loop runs serially below this many elements (or on one numba thread).
#: Measured with f = sum(x**2), 2 threads, medians of 200 (a 2-core machine with others'
#: jobs running): parallel / serial time 1.23 at 2 elements, 1.15 at 16, 0.98 at 64,
#: 0.63 at 256, 0.49 at 1024.
PARALLEL_MIN_SIZE = 64


def numerical_diff(f, x):
    """Derivative of the one-variable function f at x by central difference, h = 1e-4."""
    h = H
    return (f(x + h) - f(x - h)) / (2 * h)


def _check_x(x):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a float32 or float64 ndarray (it is perturbed in place), got {describe(x)}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x: expected a float32 or float64 array, got {describe(x)}; an integer x cannot "
                        f"hold x + h (h = 1e-4 would be truncated away), convert it with x.astype(float)")
    if x.size == 0:
        raise ValueError(f"x: expected a non-empty array, got {describe(x)}")
    return x


def _index_text(x, flat):
    return str(np.unravel_index(flat, x.shape)) if x.ndim > 1 else f"[{flat}]"


def _where(x, flat, sign):
    return f"f(x) with x{_index_text(x, flat)} {sign} h"


def _scalar(value, where):
    """float(value), or an error naming where (which perturbed parameter) it came from."""
    if np.ndim(value) != 0:
        raise ValueError(f"f: expected a scalar loss, got {describe(np.asarray(value))} from {where}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"f: expected a real scalar loss, got {type(value).__name__} from {where}") from None
    if not np.isfinite(v):
        raise ValueError(f"f: expected a finite loss, got {v} from {where}")
    return v


def _python_loop(f, x, args, h, grad):
    flat_grad = grad.reshape(-1)
    for flat in range(x.size):
        idx = np.unravel_index(flat, x.shape)
        tmp = x[idx]
        try:
            x[idx] = tmp + h
            fxh1 = _scalar(f(x, *args), _where(x, flat, "+"))
            x[idx] = tmp - h
            fxh2 = _scalar(f(x, *args), _where(x, flat, "-"))
        finally:
            x[idx] = tmp
        flat_grad[flat] = (fxh1 - fxh2) / (2 * h)
    return grad


def _compiled(f, x, args, h, parallel):
    """Run the kernel; f is an @njit dispatcher.  Errors found afterwards name the element."""
    xc = np.ascontiguousarray(x)
    grad = np.empty_like(xc)
    _scalar(f(xc, *args), "f(x) at the unperturbed x")        # return type checked once, before compiling the loop
    if parallel and xc.size >= PARALLEL_MIN_SIZE and numba.get_num_threads() > 1:
        K.numerical_gradient_parallel(f, xc, tuple(args), h, grad, numba.get_num_threads())
    else:
        K.numerical_gradient_serial(f, xc, tuple(args), h, grad)
    bad = np.flatnonzero(~np.isfinite(grad.reshape(-1)))
    if bad.size:                                 # re-evaluate the first bad element to say which side failed
        flat = int(bad[0])
        probe = xc.copy()
        pf = probe.reshape(-1)
        for sign, step in (("+", h), ("-", -h)):
            pf[flat] = xc.reshape(-1)[flat] + pf.dtype.type(step)
            _scalar(f(probe, *args), _where(x, flat, sign))
            pf[flat] = xc.reshape(-1)[flat]
        raise ValueError(f"f: the central difference at x{_index_text(x, flat)} is {grad.reshape(-1)[flat]}")
    return grad.reshape(x.shape)


def numerical_gradient(f, x, *, args=(), h=H, parallel=True):
    """Gradient of ``f(x, *args)`` with respect to every element of x, by central differences.

    x: float32 or float64 array of any shape (not an integer array, which would
    truncate x + h).  It is perturbed one element at a time and restored
    exactly afterwards, also when f raises.  f must return a finite scalar; an
    error names the element whose perturbation broke that.
    If f is an ``@njit`` function, the compiled loop runs (``parallel`` allows
    the parallel kernel, used from PARALLEL_MIN_SIZE elements; False: its
    serial twin); otherwise a Python loop calls f.
    Returns a new array like x.
    """
    x = _check_x(x)
    h = positive_float("h", h)
    if not callable(f):
        raise TypeError(f"f: expected a callable, got {type(f).__name__}")
    if not isinstance(args, tuple):
        raise TypeError(f"args: expected a tuple of extra arguments for f, got {type(args).__name__}")
    if isinstance(f, Dispatcher):
        return _compiled(f, x, args, h, parallel)
    return _python_loop(f, x, args, h, np.zeros_like(x))


def gradient_descent(f, init_x, lr=0.01, step_num=100, *, inplace=False, return_path=False):
    """Repeat x -= lr * numerical_gradient(f, x) step_num times from init_x.

    init_x is left untouched unless ``inplace=True`` (the book's version
    updates the caller's array).  Returns the final x, or ``(x, path)`` with
    ``return_path=True``, where path is a (step_num + 1, *x.shape) array of
    the starting point and every step (for plotting).
    """
    x = _check_x(init_x)
    lr = positive_float("lr", lr)
    step_num = positive_int("step_num", step_num) if step_num != 0 else 0
    if not inplace:
        x = x.copy()
    path = [x.copy()] if return_path else None
    for _ in range(step_num):
        grad = numerical_gradient(f, x)
        x -= lr * grad
        if return_path:
            path.append(x.copy())
    return (x, np.array(path)) if return_path else x
