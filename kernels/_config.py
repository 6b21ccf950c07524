"""Compilation settings shared by every kernel.

FASTMATH leaves out ``nnan`` and ``ninf`` so that NaN and inf keep their
meaning (softmax of -inf, log of 0); the remaining flags let LLVM reorder
and fuse floating-point operations for speed.
"""
from numba import njit

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})


def kernel(fn=None, *, parallel=False):
    """``@njit(cache=True, fastmath=FASTMATH)``, optionally ``parallel``."""
    deco = njit(cache=True, fastmath=set(FASTMATH), parallel=parallel, nogil=True)
    return deco if fn is None else deco(fn)
