"""The numerical-gradient loop of the book, compiled, for loss functions that are ``@njit``.

``f`` is passed as a first-class function together with a tuple ``args`` of
extra arguments and is called as ``f(x, *args)``; it must return a float and
must not be a parallel kernel itself.  For every element ``x[i]`` the kernels
compute the central difference ``(f(x + h e_i) - f(x - h e_i)) / (2 h)``.

The parallel kernel splits the elements into one contiguous range per thread;
each thread copies ``x`` once into a private array, perturbs one element at a
time in its copy and restores it, so no thread sees another's perturbation.
Each gradient entry is computed by the same instructions as in the serial
twin, so the two agree bit for bit.  ``x`` itself is never written.

Numba cannot cache a compilation that is specialised on a function argument:
the first call with a new ``f`` compiles (a few seconds); later calls in the
same process reuse it.
"""
from numba import prange

from ._config import kernel


@kernel
def _numgrad_range(f, xc, args, h, g, lo, hi):
    """g[i] = (f(xc + h e_i) - f(xc - h e_i)) / (2h) for flat i in [lo, hi); xc restored."""
    xf = xc.reshape(-1)
    hh = xf.dtype.type(h)
    for i in range(lo, hi):
        tmp = xf[i]
        xf[i] = tmp + hh
        fxh1 = f(xc, *args)
        xf[i] = tmp - hh
        fxh2 = f(xc, *args)
        xf[i] = tmp
        g[i] = (fxh1 - fxh2) / (2 * h)


@kernel
def numerical_gradient_serial(f, x, args, h, grad):
    """Serial twin of :func:`numerical_gradient_parallel`.  x, grad: same shape, C-contiguous."""
    xc = x.copy()
    _numgrad_range(f, xc, args, h, grad.reshape(-1), 0, x.size)
    return grad


@kernel(parallel=True)
def numerical_gradient_parallel(f, x, args, h, grad, nt):
    """Central differences of ``f(x, *args)`` at every element of x, into grad.

    The elements are split into ``nt`` contiguous ranges (pass
    ``numba.get_num_threads()``), each worked on with its own copy of x.
    """
    n = x.size
    chunk = (n + nt - 1) // nt
    g = grad.reshape(-1)
    for t in prange(nt):
        lo = t * chunk
        hi = min(n, lo + chunk)
        if lo < hi:
            xc = x.copy()
            _numgrad_range(f, xc, args, h, g, lo, hi)
    return grad
