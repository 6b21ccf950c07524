"""Compilation settings shared by every kernel.

FASTMATH leaves out ``nnan`` and ``ninf`` so that NaN and inf keep their
meaning (softmax of -inf, log of 0); the remaining flags let LLVM reorder
and fuse floating-point operations for speed.
"""
from numba import njit

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})


def kernel(fn=None, *, parallel=False, fastmath=True, error_model="python"):
    """``@njit(cache=True, fastmath=FASTMATH)``, optionally ``parallel``; ``fastmath=False``
    for kernels whose rounding must not depend on how LLVM vectorises them;
    ``error_model="numpy"`` for loops whose divisors cannot be 0 (a float division then
    has no zero check, so LLVM can vectorise the loop); a set of flags for a kernel that
    allows only those (kernels/exponential.py: ``{"contract"}``)."""
    if isinstance(fastmath, (set, frozenset)):
        flags = set(fastmath)
    else:
        flags = set(FASTMATH) if fastmath else False
    deco = njit(cache=True, fastmath=flags, parallel=parallel,
                nogil=True, error_model=error_model)
    return deco if fn is None else deco(fn)
